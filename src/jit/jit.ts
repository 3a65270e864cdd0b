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
 * In a browser, modules over 4 KB must be compiled asynchronously; here compilation is
 * synchronous (Node). An embedder that cannot compile synchronously leaves the tier off.
 */
import * as L from '../generated/layout.js';
import { moduleBytes, I32, I64 } from './wasm.js';
import { scanBlock, compileBlock, takenExtraOf, BLOCK_LOCALS, type CompileEnv } from './compiler.js';
import { HELPERS } from './emitters.js';

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
  /** Interpreted executions of a slot before it is compiled (default 64). */
  threshold?: number;
  /** Code cache size in function-table slots (default 8192). */
  capacity?: number;
}

export interface JitStats {
  blocks: number;
  pages: number;
  compileMs: number;
  codeBytes: number;
  invalidations: number;
  flushes: number;
  declined: number;
  insns: number;
  enters: number;
}

const BLOCK_TYPE = { params: [I64, I64, I64, I64, I32, I32], results: [I32] };
const HELPER_TYPE = { params: [I64, I64], results: [I64] };

export class Jit {
  readonly capacity: number;
  readonly threshold: number;
  private base: number;
  private next: number;
  private pages = new Set<number>();
  private helperImports: Record<string, unknown>;
  private env: CompileEnv;
  blocks = 0;
  compileMs = 0;
  codeBytes = 0;
  flushes = 0;
  declined = 0;

  constructor(private ex: JitCoreExports, opts: JitOptions = {}) {
    this.capacity = Math.max(1, Math.min(opts.capacity ?? 8192, L.JE_NEVER - 1 - ex.table.length));
    this.threshold = Math.max(1, Math.min(opts.threshold ?? 64, L.JE_NEVER - 1));
    this.base = ex.table.length;
    ex.table.grow(this.capacity);
    this.next = this.base;
    this.helperImports = { memory: ex.memory };
    for (const h of HELPERS) this.helperImports[h] = ex[h];
    this.env = {
      takenExtra: 0n,
      helper: (name) => HELPERS.indexOf(name),
    };
    ex.jitConfigure(1, this.threshold);
  }

  /** Detach: the core interprets everything again. */
  detach(): void {
    this.ex.jitConfigure(0, 0);
    this.clearTable();
  }

  private clearTable(): void {
    for (let i = this.base; i < this.next; i++) this.ex.table.set(i, null);
    this.next = this.base;
  }

  /** Drop every compiled block (bounded cache: called when the table slots are used up). */
  flush(): void {
    this.ex.jitFlush();
    this.clearTable();
    this.pages.clear();
    this.flushes++;
  }

  /** env.jit_compile: compile the block starting at decoded slot `slot`, or mark it JE_NEVER. */
  compile(slot: number): void {
    const t0 = performance.now();
    const dv = new DataView(this.ex.memory.buffer);
    const mapAt = L.JMAP_BASE + ((slot - L.FRAME_BASE) >>> 3);
    try {
      const insns = scanBlock(dv, slot, (s) => this.ex.jitDecode(s));
      if (insns.length === 0) {
        dv.setUint16(mapAt, L.JE_NEVER, true);
        this.declined++;
        return;
      }
      if (this.next >= this.base + this.capacity) this.flush();
      this.env.takenExtra = takenExtraOf(dv);
      const body = compileBlock(insns, this.env);
      const bytes = moduleBytes({
        types: [BLOCK_TYPE, HELPER_TYPE],
        imports: HELPERS.map((name) => ({ name, type: 1 })),
        funcs: [{ type: 0, locals: BLOCK_LOCALS, body, export: 'b' }],
      });
      const mod = new WebAssembly.Module(bytes);
      const inst = new WebAssembly.Instance(mod, { env: this.helperImports as WebAssembly.ModuleImports });
      const idx = this.next++;
      this.ex.table.set(idx, inst.exports.b as WebAssembly.ExportValue as never);
      const frame = Math.floor((slot - L.FRAME_BASE) / L.FRAME_SIZE);
      this.ex.jitMarkFrame(frame);
      new DataView(this.ex.memory.buffer).setUint16(mapAt, L.JE_COMPILED | idx, true);
      this.pages.add(Number(dv.getBigUint64(L.FTAG_BASE + frame * 8, true)));
      this.blocks++;
      this.codeBytes += bytes.length;
    } catch (e) {
      // A block the compiler cannot build (a bug, or the engine refusing it): interpret it.
      dv.setUint16(mapAt, L.JE_NEVER, true);
      this.declined++;
      if (process.env.CYCLEVISOR_JIT_DEBUG) throw e;
    } finally {
      this.compileMs += performance.now() - t0;
    }
  }

  stats(): JitStats {
    const dv = new DataView(this.ex.memory.buffer);
    return {
      blocks: this.blocks,
      pages: this.pages.size,
      compileMs: this.compileMs,
      codeBytes: this.codeBytes,
      invalidations: dv.getUint32(L.J_INVAL, true),
      flushes: this.flushes,
      declined: this.declined,
      insns: Number(dv.getBigUint64(L.J_INSNS, true)),
      enters: Number(dv.getBigUint64(L.J_ENTERS, true)),
    };
  }
}
