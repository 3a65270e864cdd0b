/**
 * The host debugger's tables in core.wasm (assembly/debug.ts, layout.ts DBG_BASE), typed: execute
 * points (breakpoints, code-hook ranges), watch ranges (watchpoints, memory hooks), single-step,
 * trap stops, and the stop record the core writes when run() returns RunStatus.Debug.
 *
 * Several users share one core (the gdb stub and any number of hooks): each `addExec`/`addWatch`
 * returns an id; the class owns the core's tables and rewrites them on every change.
 */
import type { Core } from '../core.js';
import * as L from '../generated/layout.js';

export const DBG_EXEC = 1;
export const DBG_WATCH = 2;
export const DBG_STEP = 4;
export const DBG_TRAP = 8;

export const enum StopReason {
  Exec = 1,
  Watch = 2,
  Step = 3,
  Trap = 4,
}

export const WATCH_READ = 1;
export const WATCH_WRITE = 2;
export type WatchKind = 1 | 2 | 3;

/** One load/store that touched a watch range (the access completed). */
export interface WatchHit {
  va: bigint;
  value: bigint;
  size: number;
  /** WATCH_READ, WATCH_WRITE, or both (an AMO). */
  kind: number;
  /** Id of the watch range (addWatch). */
  id: number;
}

/** What the core reported with RunStatus.Debug. */
export interface DebugStop {
  reason: StopReason;
  hart: number;
  pc: bigint;
  /** Exec: the id of the execute range that matched (addExec). */
  execId?: number;
  /** Watch: the accesses (at most 4 per instruction). */
  hits?: WatchHit[];
  /** Trap (and a step that ended in a trap): xcause, tval and the trapping pc. */
  cause?: bigint;
  tval?: bigint;
  epc?: bigint;
}

interface ExecEntry {
  lo: bigint;
  hi: bigint;
}
interface WatchEntry {
  lo: bigint;
  hi: bigint;
  kinds: number;
}

const MASK64 = (1n << 64n) - 1n;

export class CoreDebug {
  private nextId = 1;
  private readonly exec = new Map<number, ExecEntry>();
  private readonly watch = new Map<number, WatchEntry>();
  /** Core table index -> id, rebuilt with the tables. */
  private execIds: number[] = [];
  private watchIds: number[] = [];
  private trapStops = 0;
  private stepHart: number | null = null;

  constructor(readonly core: Core) {}

  private get dv(): DataView {
    return new DataView(this.core.ex.memory.buffer);
  }

  /** Stop before executing any instruction at pc in [lo, hi) (a breakpoint: hi = lo + 1). */
  addExec(lo: bigint, hi: bigint = lo + 1n): number {
    if (this.exec.size >= L.D_EXEC_MAX) throw new Error(`at most ${L.D_EXEC_MAX} breakpoints and code hooks`);
    const id = this.nextId++;
    this.exec.set(id, { lo: lo & MASK64, hi: hi > MASK64 ? MASK64 : hi });
    this.writeExec();
    return id;
  }
  removeExec(id: number): boolean {
    const had = this.exec.delete(id);
    if (had) this.writeExec();
    return had;
  }
  /** Stop after any load/store of `kinds` touching virtual addresses [lo, hi). */
  addWatch(lo: bigint, hi: bigint, kinds: WatchKind): number {
    if (this.watch.size >= L.D_WATCH_MAX) throw new Error(`at most ${L.D_WATCH_MAX} watchpoints and memory hooks`);
    const id = this.nextId++;
    this.watch.set(id, { lo: lo & MASK64, hi: hi > MASK64 ? MASK64 : hi, kinds });
    this.writeWatch();
    return id;
  }
  removeWatch(id: number): boolean {
    const had = this.watch.delete(id);
    if (had) this.writeWatch();
    return had;
  }
  /** Trap stops on (counted: several users may ask). */
  trapStop(on: boolean): void {
    this.trapStops = Math.max(0, this.trapStops + (on ? 1 : -1));
    this.writeFlags();
  }
  /** Single-step hart h on the next run (null: off). */
  setStep(h: number | null): void {
    this.stepHart = h;
    if (h !== null) this.dv.setUint32(L.D_STEP_HART, h, true);
    this.writeFlags();
  }
  get stepping(): number | null {
    return this.stepHart;
  }
  /** Anything armed? */
  get armed(): boolean {
    return this.dv.getUint32(L.D_FLAGS, true) !== 0;
  }
  /**
   * Forget the skip of the execute point at the stop pc: the next run stops there again at once
   * (a debugger that changed pc, or wants the breakpoint re-reported). Normally the core skips it
   * once, so resuming executes the instruction.
   */
  clearSkip(): void {
    this.dv.setUint32(L.D_SKIP, 0, true);
  }

  private writeFlags(): void {
    let f = 0;
    if (this.exec.size > 0) f |= DBG_EXEC;
    if (this.watch.size > 0) f |= DBG_WATCH;
    if (this.stepHart !== null) f |= DBG_STEP;
    if (this.trapStops > 0) f |= DBG_TRAP;
    const dv = this.dv;
    const had = (dv.getUint32(L.D_FLAGS, true) & DBG_WATCH) !== 0;
    dv.setUint32(L.D_FLAGS, f, true);
    if (had !== ((f & DBG_WATCH) !== 0)) this.core.ex.dbgWatchChanged();
  }
  private writeExec(): void {
    const dv = this.dv;
    this.execIds = [];
    let i = 0;
    for (const [id, e] of this.exec) {
      dv.setBigUint64(L.D_EXEC + i * 16, e.lo, true);
      dv.setBigUint64(L.D_EXEC + i * 16 + 8, e.hi, true);
      this.execIds.push(id);
      i++;
    }
    dv.setUint32(L.D_N_EXEC, i, true);
    this.writeFlags();
  }
  private writeWatch(): void {
    const dv = this.dv;
    this.watchIds = [];
    let i = 0;
    for (const [id, e] of this.watch) {
      dv.setBigUint64(L.D_WATCH + i * 24, e.lo, true);
      dv.setBigUint64(L.D_WATCH + i * 24 + 8, e.hi, true);
      dv.setBigUint64(L.D_WATCH + i * 24 + 16, BigInt(e.kinds), true);
      this.watchIds.push(id);
      i++;
    }
    dv.setUint32(L.D_N_WATCH, i, true);
    this.writeFlags();
    // The host TLB must forget data mappings of newly watched pages.
    this.core.ex.dbgWatchChanged();
  }

  /** The stop record of the last RunStatus.Debug (and clears its watch hits). */
  takeStop(): DebugStop {
    const dv = this.dv;
    const reason = dv.getUint32(L.D_REASON, true) as StopReason;
    const stop: DebugStop = { reason, hart: this.core.activeHart, pc: dv.getBigUint64(L.D_PC, true) };
    if (reason === StopReason.Exec) stop.execId = this.execIds[dv.getUint32(L.D_INDEX, true)];
    const n = dv.getUint32(L.D_N_HITS, true);
    if (n > 0) {
      stop.hits = [];
      for (let i = 0; i < n; i++) {
        const h = L.D_HITS + i * L.D_HIT_SIZE;
        stop.hits.push({
          va: dv.getBigUint64(h, true),
          value: dv.getBigUint64(h + 8, true),
          size: dv.getUint32(h + 16, true),
          kind: dv.getUint32(h + 20, true),
          id: this.watchIds[dv.getUint32(h + 24, true)] ?? 0,
        });
      }
      dv.setUint32(L.D_N_HITS, 0, true);
    }
    if (reason === StopReason.Trap || reason === StopReason.Step) {
      stop.cause = dv.getBigUint64(L.D_CAUSE, true);
      stop.tval = dv.getBigUint64(L.D_TVAL, true);
      stop.epc = dv.getBigUint64(L.D_EPC, true);
      if (reason === StopReason.Step && stop.epc === 0n && stop.cause === 0n) {
        delete stop.cause;
        delete stop.tval;
        delete stop.epc;
      }
    }
    // Consumed: a stale cause must not be reported with a later step.
    dv.setBigUint64(L.D_CAUSE, 0n, true);
    dv.setBigUint64(L.D_EPC, 0n, true);
    return stop;
  }

  /**
   * Physical address of virtual address va as hart h sees it now (its privilege and V), without
   * side effects (no A/D update, no TLB fill or count, no trap); null when it does not translate.
   */
  translate(va: bigint, h: number): bigint | null {
    const pa = this.core.ex.dbgTranslate(va & MASK64, h);
    return pa === MASK64 || pa === -1n ? null : BigInt.asUintN(64, pa);
  }

  /**
   * Read guest memory at virtual va as hart h sees it, RAM only (no MMIO side effects): null if any
   * byte does not translate to RAM (the gdb stub answers E14, as QEMU does for such reads).
   */
  readVirt(va: bigint, len: number, h: number): Uint8Array | null {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = (va + BigInt(done)) & MASK64;
      const pa = this.translate(a, h);
      const n = Math.min(len - done, 4096 - Number(a & 0xfffn));
      if (pa === null || pa > BigInt(Number.MAX_SAFE_INTEGER) || !this.core.inRam(Number(pa), n)) return null;
      out.set(this.core.readPhys(Number(pa), n), done);
      done += n;
    }
    return out;
  }
  /** Write guest memory at virtual va as hart h sees it (RAM only; decoded code is dropped). */
  writeVirt(va: bigint, data: Uint8Array, h: number): boolean {
    const pieces: Array<[number, number, number]> = [];
    let done = 0;
    while (done < data.length) {
      const a = (va + BigInt(done)) & MASK64;
      const pa = this.translate(a, h);
      const n = Math.min(data.length - done, 4096 - Number(a & 0xfffn));
      if (pa === null || pa > BigInt(Number.MAX_SAFE_INTEGER) || !this.core.inRam(Number(pa), n)) return false;
      pieces.push([Number(pa), done, n]);
      done += n;
    }
    for (const [pa, off, n] of pieces) this.core.writePhys(pa, data.subarray(off, off + n));
    return true;
  }
}
