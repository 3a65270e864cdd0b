/**
 * The JIT tier's host half (issue 14; docs/JIT.md): attached to one Core, it answers the core's
 * compile requests (`env.jit_compile`, called from run() when a decoded slot gets hot), compiles
 * the block starting there (compiler.ts) into a small wasm module that imports the core's memory
 * and helpers, puts its function into the core's exported function table and records the table
 * index in the core's block map. The run loop then enters it with call_indirect: no JavaScript
 * frame per block.
 *
 * Code cache: `capacity` function-table slots. When they are used up the whole cache is flushed
 * (every block map entry dropped, the table slots cleared so V8 can collect the modules) and
 * compilation starts over, QEMU's tb_flush policy: simple, and bounded.
 *
 * On a browser's main thread modules should compile asynchronously (Chrome refuses synchronous
 * compiles of large ones there): with `JitOptions.async` (the default there) the module is
 * compiled by a promise and installed when it resolves (async.ts); elsewhere compilation is
 * synchronous.
 */
import * as L from '../generated/layout.js';
import { moduleBytes, I32, I64 } from './wasm.js';
import { scanBlock, compilePage, successors, takenExtraOf, mapAt, ENV, type Insn, type ClassVector, type FuncCode } from './compiler.js';

import { HELPERS, HELPER_SIGS } from './emitters.js';
import { AsyncCompiler, defaultAsyncCompile, declineStub, holdOnStub, ENTRY_TYPE, type AsyncJitStats } from './async.js';

export type Tier = 'interp' | 'jit';
export const TIERS: readonly Tier[] = ['interp', 'jit'];

/** The core exports the JIT uses (assembly/jit.ts). */
export interface JitCoreExports {
  memory: WebAssembly.Memory;
  table: WebAssembly.Table;
  jitConfigure(on: number, thresh: number): void;
  jitFlush(): void;
  jitDecode(slot: number): number;
  jitMarkFrame(idx: number): void;
  [helper: string]: unknown;
}

export interface JitOptions {
  /** Interpreted executions of a slot before it is compiled (default 20000; env JIT_THRESH). */
  threshold?: number;
  /** Code cache size in function-table slots (default 8192). */
  capacity?: number;
  /** Sync mode: blocks per batch module (default 64; env JIT_BATCH). 1 = compile at each request. */
  batch?: number;
  /** Sync mode: executions of waiting blocks after which a smaller batch is built (default 1000; env JIT_BATCH_WAIT). */
  batchWait?: number;
  /**
   * Compile with WebAssembly.compile (a promise) and install the blocks when it resolves; they are
   * interpreted meanwhile (async.ts). Default: on a browser's main thread only (defaultAsyncCompile).
   */
  async?: boolean;
}

export interface JitStats {
  /** Block starts compiled and installed now. */
  blocks: number;
  /** Distinct physical pages that got compiled code. */
  pages: number;
  /** Modules built (sync: one per batch; async: one per compile request). */
  modules: number;
  compileMs: number;
  codeBytes: number;
  invalidations: number;
  flushes: number;
  declined: number;
  /** Modules taken from the process-wide code cache (emitted before: another frame, VM or run). */
  reused: number;
  insns: number;
  /** Compiled-block calls from the run loop. */
  enters: number;
  /** Transfers out of a page that compiled code made into compiled code of the new page itself (no run-loop round trip). */
  chains: number;
  /** Async compile mode only (JitOptions.async). */
  async?: AsyncJitStats;
}

/** A module's types: the block functions' (0), then one per helper signature (emitters.ts HELPER_SIGS). */
const MODULE_TYPES = [
  ENTRY_TYPE,
  { params: [I64, I64], results: [I64] }, // alu
  { params: [I32, I64, I64, I64], results: [I64] }, // bit: jitBit(op, rs1, rs2, imm)
  { params: [I64, I64, I64], results: [I32] }, // chain: jitChain(pc, cycles, deadline) -> table index or -1
  { params: [I32, I32, I32, I64], results: [I64] }, // fp: jitFp(op, regs, rm, x) -> x result
  { params: [I64, I64, I64], results: [I64] }, // fma: jitFma / jitFma32(a, b, c) -> result, or 0 / 0xffffffff
];
const SIG_TYPE = { alu: 1, bit: 2, chain: 3, fp: 4, fma: 5 } as const;
const HELPER_IMPORTS = HELPERS.map((name) => ({ name, type: SIG_TYPE[HELPER_SIGS[name]] }));
/** Most block starts one page function holds; a page with more hot starts interprets the rest. */
export const MAX_HEADS = Number(ENV.JIT_MAX_HEADS ?? 256);
const WHOLE_ALWAYS = ENV.JIT_WHOLE === "1";
/** A successor block joins a compile request only when the interpreter ran it this many times. */
const MIN_HEAT = Number(ENV.JIT_MIN_HEAT ?? 1);
/** A page is rebuilt whole when its block starts reach this multiple of the last whole build. */
const REBUILD_FACTOR = Number(ENV.JIT_REBUILD ?? 2);

/** The compiled code of one frame (physical page): its block starts and their table slots. */
interface PageRec {
  tag: bigint;
  /** decoded slot address of a block start -> function-table index */
  heads: Map<number, number>;
  /** Block starts at the last whole-page build. */
  fullSize: number;
}

/**
 * A module's code, keyed by what it is emitted from (blocksKey): its bytes, and the compiled
 * module once one was made (sync: at the first use; async: when WebAssembly.compile resolves).
 */
export interface CodeEntry {
  bytes: Uint8Array<ArrayBuffer>;
  /** The class vector of each of the module's exit counters (compiler.ts PageCode). */
  counters: ClassVector[];
  module?: WebAssembly.Module;
}

/**
 * The exit counters of compiled code (layout.ts JCNT_BASE): each instance gets a range of u64s
 * (its global c.b is the range's address), bump-allocated; `fold` adds counter × class vector to
 * the core's class counters (CLS_BASE) and zeroes the counters. Folding happens whenever the class
 * counts are read (Core.classCounts) and before the ranges are reused (a code-cache flush), so the
 * counts are exact whenever anyone looks.
 */
class ExitCounters {
  private next = 0;
  private ranges: Array<{ base: number; counters: ClassVector[] }> = [];
  constructor(private memory: WebAssembly.Memory) {}

  /** A range for `counters`, or undefined when the area is full (the caller flushes). */
  alloc(counters: ClassVector[]): number | undefined {
    const size = counters.length * 8;
    if (this.next + size > L.JCNT_SIZE) return undefined;
    const base = L.JCNT_BASE + this.next;
    this.next += size;
    this.ranges.push({ base, counters });
    return base;
  }

  fold(): void {
    const dv = new DataView(this.memory.buffer);
    for (const r of this.ranges) {
      for (let i = 0; i < r.counters.length; i++) {
        const at = r.base + i * 8;
        const v = dv.getBigUint64(at, true);
        if (v === 0n) continue;
        dv.setBigUint64(at, 0n, true);
        for (const [cl, n] of r.counters[i]) {
          const c = L.CLS_BASE + cl * 8;
          dv.setBigUint64(c, BigInt.asUintN(64, dv.getBigUint64(c, true) + v * BigInt(n)), true);
        }
      }
    }
  }

  /** Fold, then forget every range (no compiled code uses them any more). */
  reset(): void {
    this.fold();
    this.ranges = [];
    this.next = 0;
  }
}

/**
 * Modules by the blocks they were emitted from, process-wide: a page compiled before — in another
 * frame, another VM, another run (the same kernel in several VMs) — is neither emitted nor compiled
 * again (a module names no frame, table slot or virtual address). Bounded by entries and by bytes
 * (keys and wasm together), the least recently used first.
 */
const codeCache = new Map<string, CodeEntry>();
const CODE_CACHE_MAX = 4096;
const CODE_CACHE_BYTES = 32 << 20;
let codeCacheBytes = 0;

/** The entry for `key`, made by `emit` on a miss; either way it becomes the most recently used. */
function codeEntry(key: string, emit: () => CodeEntry): CodeEntry {
  let e = codeCache.get(key);
  if (e) codeCache.delete(key);
  else {
    e = emit();
    codeCacheBytes += key.length + e.bytes.length;
  }
  codeCache.set(key, e);
  while (codeCache.size > CODE_CACHE_MAX || (codeCacheBytes > CODE_CACHE_BYTES && codeCache.size > 1)) {
    const [k, old] = codeCache.entries().next().value!;
    codeCache.delete(k);
    codeCacheBytes -= k.length + old.bytes.length;
  }
  return e;
}

/** Everything a page's module is emitted from: each block's instructions (decoded fields, page offsets). */
function blocksKey(blocks: Insn[][], takenExtra: bigint): string {
  let k = `${takenExtra}`;
  for (const b of blocks) {
    k += '|';
    for (const i of b) k += `${i.id},${i.rd},${i.rs1},${i.rs2},${i.imm},${i.len},${i.cls},${i.lat},${i.off};`;
  }
  return k;
}

/** A block waiting for the batch. */
interface Pending {
  frame: number;
  rec: PageRec;
  tag: bigint;
  idx: number;
  insns: Insn[];
}

/** One page's blocks in a module. */
interface BatchGroup {
  frame: number;
  rec: PageRec;
  tag: bigint;
  heads: Array<[number, number]>;
  blocks: Insn[][];
}

/** Blocks per batch module (V8's fixed cost per module and instance is ~0.2 ms). */
const BATCH = Math.max(1, Number(ENV.JIT_BATCH ?? 64));
/** Executions of waiting blocks after which the batch is built, however small. */
const BATCH_WAIT = Math.max(1, Number(ENV.JIT_BATCH_WAIT ?? 1000));

export const PROF = { scan: 0, emit: 0, module: 0, instance: 0 };

export class Jit {
  readonly capacity: number;
  readonly threshold: number;
  readonly batch: number;
  private base: number;
  private next: number;
  private free: number[] = [];
  private frames = new Map<number, PageRec>();
  private pagesSeen = new Set<bigint>();
  private helperImports: Record<string, unknown>;
  private counters: ExitCounters;
  /** Blocks waiting for the next batch, by decoded slot. */
  private pending = new Map<number, Pending>();
  /** The function waiting blocks' slots hold (declines, counts; see build()). */
  private waiting: Function;
  /** Modules built (sync: one per batch; async: one per compile request). */
  modules = 0;
  compileMs = 0;
  codeBytes = 0;
  flushes = 0;
  declined = 0;
  reused = 0;
  /** The async compiler (JitOptions.async), or undefined: compile synchronously. */
  readonly async: AsyncCompiler | undefined;

  constructor(private ex: JitCoreExports, opts: JitOptions = {}) {
    this.capacity = Math.max(1, Math.min(opts.capacity ?? 8192, L.JE_NEVER - 1 - ex.table.length));
    this.threshold = Math.max(1, Math.min(opts.threshold ?? Number(ENV.JIT_THRESH ?? 20000), L.JE_NEVER - 1));
    this.base = ex.table.length;
    ex.table.grow(this.capacity);
    this.next = this.base;
    this.helperImports = { memory: ex.memory, table: ex.table };
    this.counters = new ExitCounters(ex.memory);
    this.batch = Math.max(1, opts.batch ?? BATCH);
    this.waiting = declineStub(ex.memory, { wait: Math.max(1, opts.batchWait ?? BATCH_WAIT), fn: () => this.build() });
    for (const h of HELPERS) this.helperImports[h] = ex[h];
    ex.jitConfigure(1, this.threshold);
    if (ENV.JIT_EXIT_STATS) process.on('exit', () => console.error('JITSTATS', JSON.stringify({ ...this.stats(), prof: PROF })));
    if (opts.async ?? defaultAsyncCompile()) {
      this.async = new AsyncCompiler({
        memory: ex.memory, table: ex.table,
        jitMarkFrame: (f) => ex.jitMarkFrame(f),
        liveRec: (f, tag, dv) => this.liveRec(f, tag, dv),
        current: (f) => this.frames.get(f),
        release: (i) => this.free.push(i),
        installed: (tag, size) => { this.pagesSeen.add(tag); this.modules++; this.codeBytes += size; },
      });
    }
  }

  /** Detach: the core interprets everything again. */
  detach(): void {
    this.counters.reset();
    this.ex.jitConfigure(0, 0);
    this.clearTable();
  }

  private clearTable(): void {
    this.pending.clear();
    for (let i = this.base; i < this.next; i++) this.ex.table.set(i, null);
    this.next = this.base;
    this.free = [];
    this.frames.clear();
  }

  /** Drop every compiled block (bounded cache: called when the table slots or the exit counters are used up). */
  flush(): void {
    this.ex.jitFlush();
    this.clearTable();
    this.counters.reset();
    this.flushes++;
  }

  /** Add the exit counters of compiled code to the core's class counters (Core.classCounts calls it). */
  foldCounts(): void {
    this.counters.fold();
  }

  private available(): number {
    return this.free.length + this.base + this.capacity - this.next;
  }

  private alloc(): number | undefined {
    if (this.free.length > 0) return this.free.pop();
    if (this.next < this.base + this.capacity) return this.next++;
    return undefined;
  }

  /** The frame's record if its compiled code is still installed (not invalidated by the core). */
  private liveRec(frame: number, tag: bigint, dv: DataView): PageRec | undefined {
    const rec = this.frames.get(frame);
    if (!rec) return undefined;
    let live = rec.tag === tag;
    if (live) {
      for (const [s, idx] of rec.heads) {
        if (dv.getUint16(mapAt(s), true) !== (L.JE_COMPILED | idx)) live = false;
      }
    }
    if (live) return rec;
    // The core dropped this frame's blocks (code changed, or the frame holds another page now):
    // their table slots are free again.
    for (const idx of rec.heads.values()) {
      this.ex.table.set(idx, null);
      this.free.push(idx);
    }
    this.frames.delete(frame);
    return undefined;
  }

  /** env.jit_compile: compile the block starting at decoded slot `slot`, or mark it JE_NEVER. */
  compile(slot: number): void {
    const t0 = performance.now();
    let dv = new DataView(this.ex.memory.buffer);
    try {
      const frame = Math.floor((slot - L.FRAME_BASE) / L.FRAME_SIZE);
      const tag = dv.getBigUint64(L.FTAG_BASE + frame * 8, true);
      const insns = scanBlock(dv, slot, (s) => this.ex.jitDecode(s));
      let rec = this.liveRec(frame, tag, dv);
      if (insns.length === 0 || tag === 0n || (rec && rec.heads.size >= MAX_HEADS)) {
        dv.setUint16(mapAt(slot), L.JE_NEVER, true);
        this.declined++;
        return;
      }
      if (!rec) {
        rec = { tag, heads: new Map(), fullSize: 0 };
        this.frames.set(frame, rec);
      }
      // The new start, then the region reachable from it in the page (successors()).
      const frameBase = L.FRAME_BASE + frame * L.FRAME_SIZE;
      const scanned = new Map<number, Insn[]>([[slot, insns]]);
      const want: number[] = [slot];
      for (let q = 0; q < want.length && rec.heads.size + want.length <= MAX_HEADS; q++) {
        const b = scanned.get(want[q])!;
        for (const t of successors(b)) {
          const s = frameBase + (t << 3);
          if (rec.heads.has(s) || scanned.has(s)) continue;
          // Only code the interpreter has run (heat at least MIN_HEAT): a page's cold paths
          // would cost compile time and never run.
          const heat = dv.getUint16(mapAt(s), true);
          if (heat === L.JE_NEVER || heat < MIN_HEAT) continue;
          const more = scanBlock(dv, s, (x) => this.ex.jitDecode(x));
          if (more.length === 0) continue;
          scanned.set(s, more);
          want.push(s);
        }
      }
      const fresh = want.slice(0, Math.max(1, MAX_HEADS - rec.heads.size));
      if (this.available() < fresh.length) {
        // Code cache full: start over with this region alone.
        this.flush();
        rec = { tag, heads: new Map(), fullSize: 0 };
        this.frames.set(frame, rec);
      }
      // A page is rebuilt whole (one function, every block start: transfers between its blocks
      // stay in compiled code) when its starts have doubled since the last whole build; else the
      // new region becomes a module of its own (transfers to the page's other modules go through
      // the run loop). Compile work per page stays linear in its final size.
      const whole = WHOLE_ALWAYS || rec.heads.size + fresh.length >= REBUILD_FACTOR * rec.fullSize;
      for (const s of fresh) rec.heads.set(s, this.alloc()!);
      const heads = whole ? [...rec.heads] : fresh.map((s) => [s, rec!.heads.get(s)!] as [number, number]);
      if (whole) rec.fullSize = rec.heads.size;
      const blocks = heads.map(([s]) => scanned.get(s) ?? scanBlock(dv, s, (x) => this.ex.jitDecode(x)));
      if (ENV.JIT_DUMP) for (const b of blocks) console.error(`jit page ${tag.toString(16)} +${b[0].off.toString(16)}: ${b.map((i) => `${i.op} x${i.rd},x${i.rs1},x${i.rs2},${i.imm}`).join('; ')}`);
      PROF.scan += performance.now() - t0;
      if (this.async) {
        // Async mode: one module per request; its blocks stay interpreted until it arrives (async.ts).
        const built = this.emit([{ frame, rec, tag, heads, blocks }]);
        if (built) this.async.submit(frame, rec, tag, slot, heads, built.code, built.imports);
        return;
      }
      // Sync mode: the blocks join the batch; meanwhile their slots hold the waiting stub (the
      // interpreter runs them) and the frame is marked, so invalidation drops them as it drops
      // compiled code. The batch is built when it is BATCH blocks, or when its blocks have run
      // BATCH_WAIT times (the stub counts).
      heads.forEach(([s, i], k) => this.pending.set(s, { frame, rec: rec!, tag, idx: i, insns: blocks[k] }));
      holdOnStub(this.ex.memory, this.ex.table, heads, this.waiting);
      this.ex.jitMarkFrame(frame);
      if (this.pending.size >= this.batch) this.build();
    } catch (e) {
      // A block the compiler cannot build (a bug, or the engine refusing it): interpret it.
      dv = new DataView(this.ex.memory.buffer);
      dv.setUint16(mapAt(slot), L.JE_NEVER, true);
      this.declined++;
      if (ENV.CYCLEVISOR_JIT_DEBUG) throw e;
    } finally {
      this.compileMs += performance.now() - t0;
    }
  }

  /**
   * Emit one module for `groups` (each the new blocks of one page), allocate its exit counters
   * and its imports; undefined if the counter area is full (then everything was flushed).
   */
  private emit(groups: BatchGroup[]): { code: CodeEntry; imports: WebAssembly.Imports } | undefined {
    const tA = performance.now();
    // The latency table now (a change to it drops every frame, and with them the waiting blocks).
    const env = { takenExtra: takenExtraOf(new DataView(this.ex.memory.buffer)) };
    // The module depends on the blocks alone (no frame, no table slot, no virtual address), so
    // code compiled before — in another frame, another VM, another run — is not emitted again.
    const key = groups.map((g) => blocksKey(g.blocks, env.takenExtra)).join('#');
    if (codeCache.has(key)) this.reused++;
    const code = codeEntry(key, () => {
      // Every function has the table's type: one function per block start, exported (the table
      // gets them in build(), or async.ts once it knows the frame's code is still the same:
      // instantiation writes no table slot); blocks of one page tail-call each other.
      const counters: ClassVector[] = [];
      const funcs: FuncCode[] = [];
      for (const g of groups) funcs.push(...compilePage(g.blocks, env, HELPERS.length + funcs.length, counters).funcs);
      const bytes = moduleBytes({
        types: MODULE_TYPES,
        imports: HELPER_IMPORTS,
        counterBase: true,
        table: true,
        funcs: funcs.map((b, k) => ({ type: 0, locals: b.locals, body: b.body, export: `e${k}` })),
      });
      return { bytes, counters };
    });
    PROF.emit += performance.now() - tA;
    const cb = this.counters.alloc(code.counters);
    if (cb === undefined) {
      // Exit-counter area full: start over (every compiled block dropped, counts folded); the
      // blocks get hot again and ask again.
      this.flush();
      return undefined;
    }
    return { code, imports: { env: this.helperImports as WebAssembly.ModuleImports, c: { b: cb } } };
  }

  /** Build the batch: one module for every waiting block whose page is still the same. */
  build(): void {
    const dv = new DataView(this.ex.memory.buffer);
    dv.setUint32(L.J_PEND, 0, true);
    if (this.pending.size === 0) return;
    const t0 = performance.now();
    const groups = new Map<number, BatchGroup>();
    const live = new Map<PageRec, boolean>();
    for (const [s, p] of this.pending) {
      // A block whose page record was invalidated meanwhile (its slots were freed, maybe reused)
      // or that no longer owns its slot is dropped.
      let ok = live.get(p.rec);
      // (liveRec with the frame's current tag: a stale record's tag would condemn the live one.)
      if (ok === undefined) {
        ok = this.frames.get(p.frame) === p.rec && this.liveRec(p.frame, dv.getBigUint64(L.FTAG_BASE + p.frame * 8, true), dv) === p.rec;
        live.set(p.rec, ok);
      }
      if (!ok || p.rec.heads.get(s) !== p.idx) continue;
      let g = groups.get(p.frame);
      if (!g) groups.set(p.frame, (g = { frame: p.frame, rec: p.rec, tag: p.tag, heads: [], blocks: [] }));
      g.heads.push([s, p.idx]);
      g.blocks.push(p.insns);
    }
    this.pending.clear();
    const batch = [...groups.values()];
    try {
      if (batch.length === 0) return;
      const out = this.emit(batch);
      if (!out) return;
      const tB = performance.now();
      const mod = (out.code.module ??= new WebAssembly.Module(out.code.bytes));
      const tC = performance.now();
      const inst = new WebAssembly.Instance(mod, out.imports);
      const tD = performance.now();
      PROF.module += tC - tB;
      PROF.instance += tD - tC;
      if (ENV.JIT_LOG) console.error(`jit module ${out.code.bytes.length} B, ${batch.length} pages: module ${(tC - tB).toFixed(2)} ms, instance ${(tD - tC).toFixed(2)} ms`);
      let k = 0;
      for (const g of batch) {
        for (const [, i] of g.heads) this.ex.table.set(i, inst.exports[`e${k++}`] as never);
        this.pagesSeen.add(g.tag);
      }
      this.modules++;
      this.codeBytes += out.code.bytes.length;
    } catch (e) {
      // A module the engine refuses (a compiler bug): its blocks go back to the interpreter.
      for (const g of batch) {
        for (const [s, i] of g.heads) {
          g.rec.heads.delete(s);
          this.ex.table.set(i, null);
          this.free.push(i);
          dv.setUint16(mapAt(s), L.JE_NEVER, true);
          this.declined++;
        }
      }
      if (ENV.CYCLEVISOR_JIT_DEBUG) throw e;
    } finally {
      this.compileMs += performance.now() - t0;
    }
  }

  /** Block starts compiled now (over every live page). */
  get blocks(): number {
    let n = 0;
    for (const r of this.frames.values()) n += r.heads.size;
    return n;
  }

  stats(): JitStats {
    const dv = new DataView(this.ex.memory.buffer);
    return {
      blocks: this.blocks,
      pages: this.pagesSeen.size,
      modules: this.modules,
      compileMs: this.compileMs,
      codeBytes: this.codeBytes,
      invalidations: dv.getUint32(L.J_INVAL, true),
      flushes: this.flushes,
      declined: this.declined,
      reused: this.reused,
      insns: Number(dv.getBigUint64(L.J_INSNS, true)),
      enters: Number(dv.getBigUint64(L.J_ENTERS, true)),
      chains: Number(dv.getBigUint64(L.J_CHAINS, true)),
      ...(this.async ? { async: this.async.stats() } : {}),
    };
  }
}
