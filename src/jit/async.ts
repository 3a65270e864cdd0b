/**
 * The JIT tier's asynchronous compile mode (issue 14, scope 3; docs/JIT.md "Browser and async
 * compile"). A browser refuses `new WebAssembly.Module` / `new WebAssembly.Instance` for large
 * modules on its main thread (the issue's 4 KB; Chromium 156: 8 MiB), and a synchronous compile
 * would block the page: there a compile request should not finish inside the core's
 * `env.jit_compile` call. In async mode the request is planned and emitted synchronously (the
 * compiler reads the decoded slots as they are at the request), then:
 *
 * - the block starts of the request get their table slots at once, holding a shared **pending
 *   stub**, and their map entries become `JE_COMPILED | slot` (the frame is marked as holding
 *   compiled code). The stub declines every call (it returns with the instruction budget untouched),
 *   so the run loop interprets those blocks exactly as before: guest results never depend on when
 *   (or whether) the module arrives. Marking the frame matters: a store over its code (SMC), a
 *   refill for another page or a flush then clears the map entries, as for compiled code;
 * - `WebAssembly.compile` + `WebAssembly.instantiate` run as promises (off the main thread in
 *   browsers, on V8's background compile threads in Node). In this mode a module exports its block
 *   functions instead of placing them with element segments (jit.ts), so instantiation writes no
 *   table slot;
 * - when they resolve (the run yielded to the event loop), the functions go into the table slots,
 *   provided the frame still holds the same page record with every map entry intact (`liveRec`, the
 *   check the synchronous path makes on every request) and each slot still belongs to the block it
 *   was given to. Otherwise the module is dropped (`dropped`): the code it was built from changed
 *   or the frame holds another page now, and its slots were freed (and maybe given to other blocks).
 *
 * A newer module for the same slot (a page rebuilt whole while an older region module was still in
 * flight) wins whatever order the promises settle in.
 */
import * as L from '../generated/layout.js';
import { moduleBytes, Code, Op, I32, I64, VOID } from './wasm.js';
import { ENV, mapAt } from './compiler.js';
import type { CodeEntry } from './jit.js';

/** The compiled code of one frame as the Jit keeps it (jit.ts PageRec). */
export interface AsyncPageRec {
  tag: bigint;
  heads: Map<number, number>;
}

/** What the Jit gives its async compiler (jit.ts). */
export interface AsyncJitHost {
  memory: WebAssembly.Memory;
  table: WebAssembly.Table;
  jitMarkFrame(frame: number): void;
  /** The frame's record if its code is still installed (jit.ts liveRec; frees the slots if not). */
  liveRec(frame: number, tag: bigint, dv: DataView): AsyncPageRec | undefined;
  /** The frame's record now (without checking it). */
  current(frame: number): AsyncPageRec | undefined;
  /** Give table slot `idx` back to the code cache (its block went back to the interpreter). */
  release(idx: number): void;
  /** A module was installed (statistics: pages, modules, code size). */
  installed(tag: bigint, bytes: number): void;
}

/** Async compile statistics (JitStats.async). */
export interface AsyncJitStats {
  /** Modules sent to WebAssembly.compile (or found in the module cache). */
  submitted: number;
  /** Modules whose functions went into the table. */
  installed: number;
  /** Modules dropped on arrival: their frame's code was invalidated while they were in flight. */
  dropped: number;
  /** Modules the engine refused (their blocks are interpreted). */
  failed: number;
  /** In flight now. */
  inFlight: number;
  /** Wall time from request to install, summed (ms) and the longest (ms). */
  waitMs: number;
  maxWaitMs: number;
}

/** The block functions' type, (pc, cycles, left, deadline, tlbRead, tlbWrite) -> status (= the function table's). */
export const ENTRY_TYPE = { params: [I64, I64, I64, I64, I32, I32], results: [I32] };

/**
 * A stub that stands in a table slot for a block whose module is not there yet: a block function
 * that leaves at once with status 0 (J_PC = pc, J_CYCLES = cycles, J_LEFT = left: "the interpreter
 * executes J_PC"). Entered from the run loop, the budget is unchanged and run.ts reads that as "the
 * block declined: interpret this instruction"; tail-called by another module's block through the
 * block map (compiler.ts, the epilogue's status 2), the run loop goes on at pc with that block's
 * cycles and budget and interprets it. With `onWait`, the stub also counts its calls in J_PEND and
 * calls `onWait` when the count reaches `wait` (the sync batch: jit.ts build()). A few dozen bytes:
 * instantiated synchronously even on a browser's main thread.
 */
export function declineStub(memory: WebAssembly.Memory, onWait?: { wait: number; fn: () => void }): Function {
  const body = new Code()
    .i32(L.J_PC).get(0).mem(Op.i64Store, 3)
    .i32(L.J_CYCLES).get(1).mem(Op.i64Store, 3)
    .i32(L.J_LEFT).get(2).mem(Op.i64Store, 3);
  if (onWait) {
    body.i32(L.J_PEND).i32(L.J_PEND).mem(Op.i32Load, 2).i32(1).op(Op.i32Add).tee(6).mem(Op.i32Store, 2)
      .get(6).i32(onWait.wait).op(Op.i32GeU).byte(Op.if).byte(VOID).byte(Op.call).u32(0).op(Op.end);
  }
  body.i32(0);
  const bytes = moduleBytes({
    types: [ENTRY_TYPE, { params: [], results: [] }],
    imports: onWait ? [{ name: 'onWait', type: 1 }] : [],
    funcs: [{ type: 0, locals: onWait ? [[1, I32]] : [], body, export: 'stub' }],
  });
  const env: WebAssembly.ModuleImports = onWait ? { memory, onWait: onWait.fn } : { memory };
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), { env }).exports.stub as Function;
}

/**
 * Put `stub` into the table slots of `heads` ([decoded slot, table slot]) and point their block-map
 * entries at them, except where a slot holds compiled code already (a page rebuilt whole keeps its
 * old code meanwhile); the caller marks the frame, so invalidation drops them as compiled code.
 */
export function holdOnStub(memory: WebAssembly.Memory, table: WebAssembly.Table, heads: Array<[number, number]>, stub: Function): void {
  const dv = new DataView(memory.buffer);
  for (const [s, i] of heads) {
    const at = mapAt(s);
    if (dv.getUint16(at, true) === (L.JE_COMPILED | i)) continue;
    table.set(i, stub as never);
    dv.setUint16(at, L.JE_COMPILED | i, true);
  }
}

/**
 * The default compile mode: asynchronous on a browser's main thread (no `process`, a `document`),
 * where Chromium refuses synchronous compilation of large modules (over 4 KB in older Chrome, 114
 * at least; over 8 MiB in Chromium 156) and where it would block the page anyway; synchronous
 * elsewhere (Node, and the page's machine Worker: there a synchronous compile is allowed and
 * installs at once, while the async one waits for the run loop's next yield; bench:web measured
 * both, docs/JIT.md). Env JIT_ASYNC=1 / 0 overrides it in Node.
 */
export function defaultAsyncCompile(g: { process?: unknown; document?: unknown } = globalThis as never): boolean {
  if (ENV.JIT_ASYNC === '1') return true;
  if (ENV.JIT_ASYNC === '0') return false;
  return g.process === undefined && g.document !== undefined;
}

export class AsyncCompiler {
  private readonly stub: Function;
  private seq = 0;
  /** Table slot -> sequence number of the module whose function it holds. */
  private readonly installedSeq = new Map<number, number>();
  private readonly idleWaiters: Array<() => void> = [];
  submitted = 0;
  installed = 0;
  dropped = 0;
  failed = 0;
  inFlight = 0;
  waitMs = 0;
  maxWaitMs = 0;

  constructor(private readonly host: AsyncJitHost) {
    this.stub = declineStub(host.memory);
  }

  /** Is this table entry the pending stub (for tests: a block waiting for its module)? */
  isPending(fn: unknown): boolean {
    return fn === this.stub;
  }

  /**
   * A module built for `heads` ([decoded slot, table slot], in export order e0, e1, ...) of frame
   * `frame` (page record `rec`, page tag `tag`): mark its new blocks pending and compile it.
   * `requested` is the slot whose heat asked for it (declined for good if the engine refuses).
   */
  submit(frame: number, rec: AsyncPageRec, tag: bigint, requested: number, heads: Array<[number, number]>, code: CodeEntry, imports: WebAssembly.Imports): void {
    holdOnStub(this.host.memory, this.host.table, heads, this.stub);
    this.host.jitMarkFrame(frame);
    const seq = ++this.seq;
    this.submitted++;
    this.inFlight++;
    const t0 = performance.now();
    // The code cache (jit.ts) may hold the module already; else it gets it for the next request.
    (async (): Promise<WebAssembly.Instance> => {
      const mod: WebAssembly.Module = code.module ?? (code.module = await WebAssembly.compile(code.bytes));
      return WebAssembly.instantiate(mod, imports);
    })()
      .then(
        (inst) => this.install(frame, rec, seq, heads, inst, code.bytes.length),
        () => this.fail(frame, rec, requested, heads),
      )
      .finally(() => {
        const w = performance.now() - t0;
        this.waitMs += w;
        this.maxWaitMs = Math.max(this.maxWaitMs, w);
        if (--this.inFlight === 0) for (const f of this.idleWaiters.splice(0)) f();
      });
  }

  /** Is `rec` still frame `frame`'s live record (same page, map entries intact)? */
  private live(frame: number, rec: AsyncPageRec): DataView | undefined {
    if (this.host.current(frame) !== rec) return undefined;
    const dv = new DataView(this.host.memory.buffer);
    const tag = dv.getBigUint64(L.FTAG_BASE + frame * 8, true);
    return this.host.liveRec(frame, tag, dv) === rec ? dv : undefined;
  }

  private install(frame: number, rec: AsyncPageRec, seq: number, heads: Array<[number, number]>, inst: WebAssembly.Instance, size: number): void {
    if (!this.live(frame, rec)) {
      this.dropped++;
      return;
    }
    heads.forEach(([s, i], k) => {
      // The slot still belongs to this block, and no newer module filled it.
      if (rec.heads.get(s) !== i || (this.installedSeq.get(i) ?? 0) > seq) return;
      this.host.table.set(i, inst.exports[`e${k}`] as never);
      this.installedSeq.set(i, seq);
    });
    this.installed++;
    this.host.installed(rec.tag, size);
  }

  /** The engine refused the module: its new blocks go back to the interpreter (the requested one for good). */
  private fail(frame: number, rec: AsyncPageRec, requested: number, heads: Array<[number, number]>): void {
    this.failed++;
    const dv = this.live(frame, rec);
    if (!dv) return;
    for (const [s, i] of heads) {
      if (rec.heads.get(s) !== i || this.host.table.get(i) !== this.stub) continue;
      rec.heads.delete(s);
      this.host.table.set(i, null);
      this.host.release(i);
      dv.setUint16(mapAt(s), s === requested ? L.JE_NEVER : 0, true);
    }
    if (ENV.CYCLEVISOR_JIT_DEBUG) console.error(`jit: async compile of frame ${frame} failed`);
  }

  /** Resolves when no module is in flight (tests; an embedder that wants the code before timing). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stats(): AsyncJitStats {
    return {
      submitted: this.submitted,
      installed: this.installed,
      dropped: this.dropped,
      failed: this.failed,
      inFlight: this.inFlight,
      waitMs: this.waitMs,
      maxWaitMs: this.maxWaitMs,
    };
  }
}
