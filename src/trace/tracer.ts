/**
 * The trace being recorded (`--trace-out`): tracks, slices, instants and counters over virtual
 * time, encoded as they come into Chrome trace-event JSON (`.json`) or Perfetto's protobuf trace
 * format (`.perfetto-trace`), both of which ui.perfetto.dev opens. docs/TRACING.md describes the
 * tracks and the bounds.
 *
 * Time: every timestamp is given in cycles of the clock it belongs to and written as nanoseconds
 * of virtual time (cycles * 1e9 / cpuHz). Bounds: events outside the window [start, end] are not
 * recorded (slices are clipped to it); when the next event would take the encoded size past
 * maxBytes, recording stops (`truncated`), so the file never exceeds the bound.
 */
import { ProtoWriter } from './protobuf.js';

export type TraceFormat = 'json' | 'perfetto';
export type ArgValue = number | string | bigint | boolean;
export type Args = Record<string, ArgValue>;

export interface TraceBounds {
  /** Largest encoded size in bytes (the file's size, within the few bytes of the frame). */
  maxBytes: number;
  /** Virtual-time window in ns: [startNs, endNs]. */
  startNs: number;
  endNs: number;
}

/** Default --trace-max-size: 64 MiB. */
export const DEFAULT_TRACE_MAX_BYTES = 64 * 1024 * 1024;

export function traceFormatOf(path: string): TraceFormat | null {
  if (/\.json$/i.test(path)) return 'json';
  if (/\.(perfetto-trace|pftrace)$/i.test(path)) return 'perfetto';
  return null;
}

interface Track {
  id: number;
  group: number;
  name: string;
  counter: boolean;
  uuid: number;
}

// Perfetto proto field numbers (protos/perfetto/trace/trace_packet.proto, track_event/*.proto).
const TRACE_PACKET = 1;
const TP_TIMESTAMP = 8;
const TP_SEQ_ID = 10;
const TP_TRACK_EVENT = 11;
const TP_SEQ_FLAGS = 13;
const TP_TRACK_DESCRIPTOR = 60;
const TD_UUID = 1;
const TD_NAME = 2;
const TD_PROCESS = 3;
const TD_THREAD = 4;
const TD_PARENT = 5;
const TD_COUNTER = 8;
const PD_PID = 1;
const PD_NAME = 6;
const THD_PID = 1;
const THD_TID = 2;
const THD_NAME = 5;
const TE_DEBUG = 4;
const TE_TYPE = 9;
const TE_TRACK = 11;
const TE_NAME = 23;
const TE_DOUBLE_COUNTER = 44;
const DA_NAME = 10;
const DA_UINT = 3;
const DA_INT = 4;
const DA_DOUBLE = 5;
const DA_STRING = 6;
const DA_BOOL = 2;
const utf8 = new TextEncoder();
export const TE_SLICE_BEGIN = 1;
export const TE_SLICE_END = 2;
export const TE_INSTANT = 3;
export const TE_COUNTER = 4;
const SEQ_ID = 1;

export class Tracer {
  readonly format: TraceFormat;
  readonly cpuHz: number;
  readonly bounds: TraceBounds;
  /** Events recorded, and those left out because the size bound was reached. */
  events = 0;
  dropped = 0;
  /** The size bound was reached: nothing more is recorded. */
  truncated = false;
  private readonly groups: string[] = [];
  private readonly tracks: Track[] = [];
  private readonly byKey = new Map<string, Track>();
  /** JSON: the encoded events. Perfetto: `out`, the packets as they are written. */
  private json = new Uint8Array(1 << 16);
  private jsonLen = 0;
  private readonly out = new ProtoWriter();
  /** JSON: bytes reserved for the frame and the metadata object finish() writes. */
  private size = 0;
  private readonly nsPerCycle: number;
  private readonly endCycles: number;
  private readonly startCycles: number;

  constructor(format: TraceFormat, cpuHz: number, bounds: Partial<TraceBounds> = {}) {
    this.format = format;
    this.cpuHz = cpuHz;
    this.bounds = {
      maxBytes: bounds.maxBytes ?? DEFAULT_TRACE_MAX_BYTES,
      startNs: bounds.startNs ?? 0,
      endNs: bounds.endNs ?? Infinity,
    };
    this.nsPerCycle = 1e9 / cpuHz;
    this.startCycles = (this.bounds.startNs * cpuHz) / 1e9;
    this.endCycles = (this.bounds.endNs * cpuHz) / 1e9;
    // JSON: the frame and the metadata object finish() writes (its size is known to within a few
    // hundred bytes: counts and the guest's name) are reserved up front.
    if (format === 'json') this.size = '{"displayTimeUnit":"ns","metadata":,"traceEvents":[\n\n]}\n'.length + 1024;
    else {
      // The first packet clears the sequence's incremental state (nothing interned here).
      const p = new ProtoWriter().uint(TP_SEQ_ID, SEQ_ID).uint(TP_SEQ_FLAGS, 1);
      this.packet(p);
    }
  }

  /** No event at or after `cycles` can be recorded any more (past the window, or full). */
  done(cycles: number): boolean {
    return this.truncated || cycles > this.endCycles;
  }

  /** Virtual ns of a cycle count. */
  ns(cycles: number): number {
    return cycles * this.nsPerCycle;
  }

  /** A thread-like track (slices, instants) in a group (shown as a process). */
  track(group: string, name: string): number {
    return this.getTrack(group, name, false).id;
  }

  /** Whether a counter track of that name exists already. */
  hasCounter(group: string, name: string): boolean {
    return this.byKey.has(`${group}\u0000${name}\u0000true`);
  }

  /** A counter track in a group. */
  counterTrack(group: string, name: string): number {
    return this.getTrack(group, name, true).id;
  }

  private groupId(group: string): number {
    let g = this.groups.indexOf(group);
    if (g >= 0) return g;
    g = this.groups.length;
    this.groups.push(group);
    if (this.format === 'json') {
      this.emitJson(`{"ph":"M","name":"process_name","pid":${g + 1},"tid":0,"args":{"name":${JSON.stringify(group)}}}`, true);
      this.emitJson(`{"ph":"M","name":"process_sort_index","pid":${g + 1},"tid":0,"args":{"sort_index":${g}}}`, true);
    } else {
      const pd = new ProtoWriter().int(PD_PID, g + 1).string(PD_NAME, group);
      const td = new ProtoWriter().uint(TD_UUID, this.groupUuid(g)).message(TD_PROCESS, pd);
      this.packet(new ProtoWriter().uint(TP_SEQ_ID, SEQ_ID).message(TP_TRACK_DESCRIPTOR, td), true);
    }
    return g;
  }

  private groupUuid(g: number): number {
    return 1000 + g;
  }

  private getTrack(group: string, name: string, counter: boolean): Track {
    const key = `${group}\u0000${name}\u0000${counter}`;
    const old = this.byKey.get(key);
    if (old) return old;
    const g = this.groupId(group);
    const t: Track = { id: this.tracks.length, group: g, name, counter, uuid: 100000 + this.tracks.length };
    this.tracks.push(t);
    this.byKey.set(key, t);
    if (this.format === 'json') {
      if (!counter) {
        this.emitJson(`{"ph":"M","name":"thread_name","pid":${g + 1},"tid":${t.id + 1},"args":{"name":${JSON.stringify(name)}}}`, true);
        this.emitJson(`{"ph":"M","name":"thread_sort_index","pid":${g + 1},"tid":${t.id + 1},"args":{"sort_index":${t.id}}}`, true);
      }
    } else {
      const td = new ProtoWriter().uint(TD_UUID, t.uuid);
      if (counter) td.uint(TD_PARENT, this.groupUuid(g)).string(TD_NAME, name).message(TD_COUNTER, new ProtoWriter());
      else td.message(TD_THREAD, new ProtoWriter().int(THD_PID, g + 1).int(THD_TID, t.id + 1).string(THD_NAME, name));
      this.packet(new ProtoWriter().uint(TP_SEQ_ID, SEQ_ID).message(TP_TRACK_DESCRIPTOR, td), true);
    }
    return t;
  }

  /** A slice from `start` to `end` cycles (clipped to the window). */
  slice(track: number, start: number, end: number, name: string, args?: Args): void {
    if (end < this.startCycles || start > this.endCycles) return;
    start = Math.max(start, this.startCycles);
    end = Math.min(Math.max(end, start), this.endCycles);
    const t = this.tracks[track]!;
    if (this.format === 'json') {
      this.emitJson(
        `{"ph":"X","pid":${t.group + 1},"tid":${t.id + 1},"ts":${us(this.ns(start))},"dur":${us(this.ns(end) - this.ns(start))},"name":${q(name)}${jsonArgs(args)}}`,
      );
    } else {
      // Begin and end together, so the size bound never leaves a slice open.
      const mark = this.out.length;
      this.writeEvent(start, TE_SLICE_BEGIN, t, name, args);
      this.writeEvent(end, TE_SLICE_END, t);
      this.commit(mark);
    }
  }

  /** An instant event at `at` cycles. */
  instant(track: number, at: number, name: string, args?: Args): void {
    if (at < this.startCycles || at > this.endCycles) return;
    const t = this.tracks[track]!;
    if (this.format === 'json') {
      this.emitJson(
        `{"ph":"i","s":"t","pid":${t.group + 1},"tid":${t.id + 1},"ts":${us(this.ns(at))},"name":${q(name)}${jsonArgs(args)}}`,
      );
    } else {
      const mark = this.out.length;
      this.writeEvent(at, TE_INSTANT, t, name, args);
      this.commit(mark);
    }
  }

  /** A counter's value from `at` cycles on. */
  counter(track: number, at: number, value: number): void {
    if (at < this.startCycles || at > this.endCycles) return;
    const t = this.tracks[track]!;
    if (this.format === 'json') {
      this.emitJson(
        `{"ph":"C","pid":${t.group + 1},"tid":0,"ts":${us(this.ns(at))},"name":${q(t.name)},"args":{"value":${num(value)}}}`,
      );
    } else {
      const mark = this.out.length;
      this.writeEvent(at, TE_COUNTER, t, undefined, undefined, value);
      this.commit(mark);
    }
  }

  /**
   * One TracePacket with a TrackEvent, written in place into the output (no buffer per message:
   * nested lengths are patched by ProtoWriter.end).
   */
  private writeEvent(at: number, type: number, t: Track, name?: string, args?: Args, counter?: number): void {
    const o = this.out;
    const p = o.begin(TRACE_PACKET);
    o.uint(TP_TIMESTAMP, Math.round(this.ns(at))).uint(TP_SEQ_ID, SEQ_ID);
    const te = o.begin(TP_TRACK_EVENT);
    o.uint(TE_TYPE, type).uint(TE_TRACK, t.uuid);
    if (name !== undefined) o.string(TE_NAME, name);
    if (counter !== undefined) o.double(TE_DOUBLE_COUNTER, counter);
    if (args) {
      for (const k in args) {
        const v = args[k]!;
        const da = o.begin(TE_DEBUG);
        o.string(DA_NAME, k);
        if (typeof v === 'string') o.string(DA_STRING, v);
        else if (typeof v === 'boolean') o.uint(DA_BOOL, v ? 1 : 0);
        else if (typeof v === 'bigint') o.uint(DA_UINT, v);
        else if (Number.isInteger(v)) o.int(DA_INT, v);
        else o.double(DA_DOUBLE, v);
        o.end(da);
      }
    }
    o.end(te);
    o.end(p);
  }

  /** Keep what was written since `mark` if it fits the size bound; else drop it and stop. */
  private commit(mark: number): void {
    if (!this.truncated && this.out.length <= this.bounds.maxBytes) {
      this.events++;
      return;
    }
    this.out.truncate(mark);
    this.truncated = true;
    this.dropped++;
  }

  /**
   * Append one JSON event (UTF-8, straight into a byte buffer: keeping 100k's of small strings
   * alive until the end costs more in garbage collection than encoding them). Metadata (track
   * names) counts against the bound too, but is not an event.
   */
  private emitJson(s: string, meta = false): void {
    if (this.truncated) {
      if (!meta) this.dropped++;
      return;
    }
    const need = s.length * 3 + 2;
    if (this.jsonLen + need > this.json.length) {
      let size = this.json.length * 2;
      while (size < this.jsonLen + need) size *= 2;
      const b = new Uint8Array(size);
      b.set(this.json.subarray(0, this.jsonLen));
      this.json = b;
    }
    const start = this.jsonLen;
    if (start > 0) {
      this.json[this.jsonLen++] = 0x2c; // ,
      this.json[this.jsonLen++] = 0x0a; // \n
    }
    this.jsonLen += utf8.encodeInto(s, this.json.subarray(this.jsonLen)).written;
    if (this.size + this.jsonLen > this.bounds.maxBytes) {
      this.jsonLen = start;
      this.truncated = true;
      if (!meta) this.dropped++;
      return;
    }
    if (!meta) this.events++;
  }

  /** A descriptor packet (never an event). */
  private packet(p: ProtoWriter, _meta = false): void {
    const b = p.finish();
    if (this.out.length + b.length + 6 > this.bounds.maxBytes) {
      this.truncated = true;
      return;
    }
    this.out.bytes(TRACE_PACKET, b);
  }

  /** The encoded trace (JSON text or protobuf bytes); `meta` goes into the JSON's metadata. */
  finish(meta: Record<string, unknown> = {}): Uint8Array {
    const info = { ...meta, events: this.events, dropped: this.dropped, truncated: this.truncated };
    if (this.format === 'json') {
      const head = utf8.encode(`{"displayTimeUnit":"ns","metadata":${JSON.stringify(info)},"traceEvents":[\n`);
      const tail = utf8.encode('\n]}\n');
      const out = new Uint8Array(head.length + this.jsonLen + tail.length);
      out.set(head, 0);
      out.set(this.json.subarray(0, this.jsonLen), head.length);
      out.set(tail, head.length + this.jsonLen);
      return out;
    }
    // Perfetto: no metadata packet; the counts go to stderr when something was left out.
    return this.out.finish().slice();
  }
}

/** ns -> the JSON format's microseconds, exact to the ns. */
function us(ns: number): string {
  return (Math.round(ns) / 1000).toString();
}

function num(v: number): string {
  return Number.isFinite(v) ? String(Math.round(v * 1000) / 1000) : '0';
}

/** JSON string literals of the names that repeat (causes, modes, argument names), kept. */
const quoted = new Map<string, string>();
function q(s: string): string {
  let r = quoted.get(s);
  if (r === undefined) {
    r = JSON.stringify(s);
    if (s.length <= 64 && quoted.size < 4096) quoted.set(s, r);
  }
  return r;
}

function jsonArgs(args?: Args): string {
  if (!args) return '';
  let out = ',"args":{';
  let first = true;
  for (const k in args) {
    const v = args[k]!;
    const val = typeof v === 'bigint' ? `"0x${v.toString(16)}"` : typeof v === 'number' ? num(v) : typeof v === 'boolean' ? String(v) : q(v);
    out += `${first ? '' : ','}${q(k)}:${val}`;
    first = false;
  }
  return out + '}';
}
