/**
 * The trace writer (src/trace/tracer.ts) on its own: Chrome trace-event JSON and Perfetto protobuf
 * (decoded back with src/trace/perfetto-read.ts), the size bound and the time window
 * (docs/TRACING.md), and the protobuf wire format pieces (protobuf encoding spec: varints, LEN,
 * fixed64).
 */
import { describe, expect, it } from 'vitest';
import { Tracer, traceFormatOf } from '../../src/trace/tracer.js';
import { ProtoWriter, readProto } from '../../src/trace/protobuf.js';
import { readPerfetto } from '../../src/trace/perfetto-read.js';
import { Sampler } from '../../src/trace/sampler.js';

const HZ = 1e9; // 1 cycle = 1 ns

function fill(t: Tracer): void {
  const hart = t.track('harts', 'hart 0');
  const mips = t.counterTrack('counters', 'MIPS');
  t.slice(hart, 1000, 3000, 'WFI');
  t.instant(hart, 5000, 'load page fault', { cause: 13, pc: 0x80001234n, from: 'U' });
  t.counter(mips, 0, 12.5);
  t.counter(mips, 10_000, 40);
}

describe('Tracer', () => {
  it('names formats by extension', () => {
    expect(traceFormatOf('a.json')).toBe('json');
    expect(traceFormatOf('a.perfetto-trace')).toBe('perfetto');
    expect(traceFormatOf('a.txt')).toBeNull();
  });

  it('writes Chrome trace events: process/thread names, X slices, instants, counters in µs', () => {
    const t = new Tracer('json', HZ);
    fill(t);
    const doc = JSON.parse(new TextDecoder().decode(t.finish({ guest: 'g' })));
    expect(doc.metadata).toMatchObject({ guest: 'g', events: 4, dropped: 0, truncated: false });
    const ev = doc.traceEvents as Array<Record<string, unknown>>;
    expect(ev.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => (e.args as { name: string }).name)).toEqual(['harts', 'counters']);
    expect(ev.find((e) => e.ph === 'M' && e.name === 'thread_name')!.args).toEqual({ name: 'hart 0' });
    expect(ev.find((e) => e.ph === 'X')).toMatchObject({ name: 'WFI', ts: 1, dur: 2 });
    expect(ev.find((e) => e.ph === 'i')).toMatchObject({ name: 'load page fault', ts: 5, args: { cause: 13, pc: '0x80001234', from: 'U' } });
    expect(ev.filter((e) => e.ph === 'C').map((e) => [e.ts, (e.args as { value: number }).value])).toEqual([[0, 12.5], [10, 40]]);
  });

  it('writes Perfetto packets that decode to the same tracks and events', () => {
    const t = new Tracer('perfetto', HZ);
    fill(t);
    const { tracks, events } = readPerfetto(t.finish());
    const byName = (n: string) => [...tracks.values()].find((x) => x.name === n)!;
    expect(byName('hart 0')).toMatchObject({ kind: 'thread', group: 'harts' });
    expect(byName('MIPS')).toMatchObject({ kind: 'counter', group: 'counters' });
    const hart = byName('hart 0').uuid;
    expect(events.filter((e) => e.track === hart).map((e) => [e.type, e.ts, e.name])).toEqual([
      [1, 1000, 'WFI'],
      [2, 3000, ''],
      [3, 5000, 'load page fault'],
    ]);
    expect(events.find((e) => e.type === 3)!.args).toEqual({ cause: 13, pc: 0x80001234n, from: 'U' });
    expect(events.filter((e) => e.type === 4).map((e) => e.counter)).toEqual([12.5, 40]);
  });

  it('never writes more than --trace-max-size, and says it stopped', () => {
    for (const format of ['json', 'perfetto'] as const) {
      const t = new Tracer(format, HZ, { maxBytes: 8192 });
      const tr = t.track('harts', 'hart 0');
      for (let i = 0; i < 10_000; i++) t.instant(tr, i * 10, 'S timer interrupt', { cause: 5 });
      const bytes = t.finish();
      expect(bytes.length).toBeLessThanOrEqual(8192);
      expect(t.truncated).toBe(true);
      expect(t.events).toBeGreaterThan(20);
      expect(t.events + t.dropped).toBe(10_000);
      expect(t.done(0)).toBe(true);
    }
  });

  it('records only the --trace-window, clipping slices to it', () => {
    const t = new Tracer('json', HZ, { startNs: 2000, endNs: 6000 });
    const tr = t.track('harts', 'hart 0');
    t.instant(tr, 1000, 'before');
    t.instant(tr, 4000, 'inside');
    t.instant(tr, 7000, 'after');
    t.slice(tr, 1000, 3000, 'WFI');
    expect(t.done(5000)).toBe(false);
    expect(t.done(6001)).toBe(true);
    const ev = JSON.parse(new TextDecoder().decode(t.finish())).traceEvents.filter((e: { ph: string }) => e.ph !== 'M');
    expect(ev.map((e: { name: string }) => e.name)).toEqual(['inside', 'WFI']);
    expect(ev[1]).toMatchObject({ ts: 2, dur: 1 });
  });
});

describe('protobuf wire format', () => {
  it('round-trips varints (including 64-bit and negative int64), strings, doubles, nested messages', () => {
    const inner = new ProtoWriter().string(1, 'héllo');
    const b = new ProtoWriter().uint(1, 300).uint(2, 2n ** 63n + 5n).int(3, -2).double(4, 1.5).message(5, inner).finish();
    const f = readProto(b);
    expect(f.map((x) => x.field)).toEqual([1, 2, 3, 4, 5]);
    expect(f[0]!.value).toBe(300n);
    expect(f[1]!.value).toBe(2n ** 63n + 5n);
    expect(BigInt.asIntN(64, f[2]!.value as bigint)).toBe(-2n);
    expect(new DataView(new BigUint64Array([f[3]!.value as bigint]).buffer).getFloat64(0, true)).toBe(1.5);
    expect(new TextDecoder().decode(readProto(f[4]!.value as Uint8Array)[0]!.value as Uint8Array)).toBe('héllo');
    // 300 = 0xAC 0x02 (the spec's example)
    expect([...new ProtoWriter().uint(1, 300).finish()]).toEqual([0x08, 0xac, 0x02]);
  });

  it('rejects truncated input', () => {
    expect(() => readProto(new Uint8Array([0x0a, 0x05, 1]))).toThrow(/truncated/);
  });
});

describe('Sampler', () => {
  it('samples at the first poll at or after each period boundary', () => {
    let n = 0;
    const s = new Sampler(100, () => ({ n: ++n }));
    expect(s.poll(0)).not.toBeNull();
    expect(s.poll(50)).toBeNull();
    const r = s.poll(130)!;
    expect(r.prev!.t).toBe(0);
    expect(r.cur).toEqual({ t: 130, v: { n: 2 } });
    expect(s.poll(199)).toBeNull();
    expect(s.poll(230)).not.toBeNull();
    expect(s.samples.map((x) => x.t)).toEqual([0, 130, 230]);
  });
});
