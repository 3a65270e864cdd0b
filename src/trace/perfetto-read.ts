/**
 * A small reader of the Perfetto traces tracer.ts writes (tests, tools): the track descriptors and
 * the track events, with their debug annotations. It reads only the fields the writer uses.
 */
import { readProto, type ProtoField } from './protobuf.js';

export interface PerfettoTrack {
  uuid: number;
  /** Thread name, counter track name, or process name. */
  name: string;
  kind: 'process' | 'thread' | 'counter';
  /** The process (group) a thread or counter track belongs to. */
  group: string;
}

export interface PerfettoEvent {
  ts: number;
  /** 1 slice begin, 2 slice end, 3 instant, 4 counter. */
  type: number;
  track: number;
  name: string;
  counter?: number;
  args: Record<string, string | number | bigint | boolean>;
}

const dec = new TextDecoder();
const str = (f: ProtoField | undefined): string => (f && f.value instanceof Uint8Array ? dec.decode(f.value) : '');
const num = (f: ProtoField | undefined): number => (f && typeof f.value === 'bigint' ? Number(f.value) : 0);
const get = (fs: ProtoField[], n: number) => fs.find((f) => f.field === n);
const sub = (fs: ProtoField[], n: number): ProtoField[] | null => {
  const f = get(fs, n);
  return f && f.value instanceof Uint8Array ? readProto(f.value) : null;
};

export function readPerfetto(bytes: Uint8Array): { tracks: Map<number, PerfettoTrack>; events: PerfettoEvent[] } {
  const tracks = new Map<number, PerfettoTrack>();
  const pids = new Map<number, string>();
  const pending: Array<{ uuid: number; tid: number; pid: number; name: string }> = [];
  const counters: Array<{ uuid: number; parent: number; name: string }> = [];
  const events: PerfettoEvent[] = [];
  for (const top of readProto(bytes)) {
    if (top.field !== 1 || !(top.value instanceof Uint8Array)) throw new Error('perfetto: not a Trace of TracePackets');
    const p = readProto(top.value);
    const td = sub(p, 60);
    if (td) {
      const uuid = num(get(td, 1));
      const proc = sub(td, 3);
      const thr = sub(td, 4);
      if (proc) {
        pids.set(num(get(proc, 1)), str(get(proc, 6)));
        tracks.set(uuid, { uuid, name: str(get(proc, 6)), kind: 'process', group: str(get(proc, 6)) });
      } else if (thr) pending.push({ uuid, pid: num(get(thr, 1)), tid: num(get(thr, 2)), name: str(get(thr, 5)) });
      else if (get(td, 8)) counters.push({ uuid, parent: num(get(td, 5)), name: str(get(td, 2)) });
      continue;
    }
    const te = sub(p, 11);
    if (!te) continue;
    const args: PerfettoEvent['args'] = {};
    for (const f of te.filter((x) => x.field === 4)) {
      const da = readProto(f.value as Uint8Array);
      const name = str(get(da, 10));
      const s = get(da, 6);
      if (s) args[name] = str(s);
      else if (get(da, 2)) args[name] = num(get(da, 2)) !== 0;
      else if (get(da, 3)) args[name] = get(da, 3)!.value as bigint;
      else if (get(da, 4)) args[name] = Number(BigInt.asIntN(64, get(da, 4)!.value as bigint));
      else if (get(da, 5)) args[name] = new DataView(new BigUint64Array([get(da, 5)!.value as bigint]).buffer).getFloat64(0, true);
    }
    const dbl = get(te, 44);
    events.push({
      ts: num(get(p, 8)),
      type: num(get(te, 9)),
      track: num(get(te, 11)),
      name: str(get(te, 23)),
      ...(dbl ? { counter: new DataView(new BigUint64Array([dbl.value as bigint]).buffer).getFloat64(0, true) } : {}),
      args,
    });
  }
  for (const t of pending) tracks.set(t.uuid, { uuid: t.uuid, name: t.name, kind: 'thread', group: pids.get(t.pid) ?? '' });
  for (const c of counters) tracks.set(c.uuid, { uuid: c.uuid, name: c.name, kind: 'counter', group: tracks.get(c.parent)?.name ?? '' });
  return { tracks, events };
}
