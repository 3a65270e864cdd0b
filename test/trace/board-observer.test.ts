/**
 * The board observer's device tracks (src/trace/board.ts), driven through its hooks on a machine
 * that runs nothing: virtio requests in flight together go on separate lanes (slices on one track
 * must nest for the trace viewers), each with its own lengths; an interrupt line's raised..cleared
 * interval is one slice.
 */
import { describe, expect, it } from 'vitest';
import { VirtMachine } from '../../src/board/virt.js';
import { BoardObserver } from '../../src/trace/board.js';
import { Tracer } from '../../src/trace/tracer.js';

describe('BoardObserver device tracks', () => {
  it('overlapping virtio requests get lanes; IRQ lines become slices', () => {
    const m = new VirtMachine({ ramBytes: 1 << 20 });
    const t = new Tracer('json', m.timing.cpuHz);
    const obs = new BoardObserver(m, { tracer: t });
    const rng = m.virtio.find((v) => v.device !== undefined)!;
    const hook = rng.trace!;
    const at = (c: number) => (m.core.cycles = c);
    at(1000); hook('pop', 0, 1, 16);
    at(2000); hook('pop', 0, 2, 32); // in flight with head 1
    at(3000); hook('push', 0, 1, 8);
    at(4000); hook('push', 0, 2, 64);
    at(5000); hook('pop', 0, 3, 4); // lane 0 is free again
    at(6000); hook('push', 0, 3, 4);
    at(7000); m.plic.onLevel!(10, true);
    at(9000); m.plic.onLevel!(10, false);
    obs.finish();
    expect(rng.trace).toBeNull(); // hooks removed
    const doc = JSON.parse(new TextDecoder().decode(t.finish()));
    const names = new Map<number, string>();
    for (const e of doc.traceEvents) if (e.ph === 'M' && e.name === 'thread_name') names.set(e.tid, e.args.name);
    const slices = doc.traceEvents.filter((e: { ph: string }) => e.ph === 'X').map((e: { tid: number; ts: number; dur: number; name: string; args: Record<string, number> }) => [names.get(e.tid), e.ts, e.dur, e.name, e.args]);
    expect(slices).toEqual([
      ['virtio-rng@10008000 queue 0', 1, 2, 'request', { queue: 0, head: 1, readable: 16, written: 8 }],
      ['virtio-rng@10008000 queue 0 #2', 2, 2, 'request', { queue: 0, head: 2, readable: 32, written: 64 }],
      ['virtio-rng@10008000 queue 0', 5, 1, 'request', { queue: 0, head: 3, readable: 4, written: 4 }],
      ['IRQ 10 uart0', 7, 2, 'IRQ raised', { source: 10 }],
    ]);
    m.close();
  });
});
