/**
 * Messages between the page (web/main.ts) and the machine's Worker (web/worker.ts).
 */

/** What the page asks the worker to boot: image names served under /guests/, and the board's settings. */
export interface BootRequest {
  type: 'boot';
  /** URL of core.wasm (compiled in the worker with WebAssembly.compile). */
  wasmUrl: string;
  /** 'builtin' (cyclevisor's SBI) or an image name (e.g. opensbi-fw_dynamic.bin). */
  bios: string;
  kernel: string;
  initrd: string;
  append: string;
  ramMiB: number;
  /** Harts (1 to 8), as `--smp`. */
  harts: number;
  mode: 'fast' | 'timing';
  /**
   * Execution tier (`--tier`, docs/JIT.md): 'jit' compiles hot guest code to WebAssembly in the
   * worker (in fast mode; timing mode runs interpreted either way), 'interp' turns it off.
   */
  tier: 'interp' | 'jit';
  /** The JIT's compile mode: async (WebAssembly.compile promises) or sync; absent: the Jit's default. */
  jitAsync?: boolean;
  /** The JIT's threshold (JitOptions.threshold: executions of a slot before it is compiled); absent: its default. */
  jitThreshold?: number;
  /** Base URL of the guest images. */
  guestsUrl: string;
}

/** Keystrokes for the guest's UART. */
export interface InputMessage {
  type: 'input';
  bytes: Uint8Array;
}

/** Switch the running machine's tier (Core.setTier: guest results do not change, host time does). */
export interface TierMessage {
  type: 'tier';
  tier: 'interp' | 'jit';
  jitAsync?: boolean;
}

export type ToWorker = BootRequest | InputMessage | TierMessage;

/** The live run statistics, a few times a second. */
export interface LiveStats {
  /** Retired instructions (all harts). */
  instret: number;
  cycles: number;
  /** Virtual time in seconds (cycles / cpuHz). */
  virtualSeconds: number;
  /** Guest MIPS over the last interval (instructions per wall microsecond). */
  mips: number;
  /** Wall seconds since the run started. */
  wallSeconds: number;
  traps: { exceptions: number; interrupts: number };
  /** Modeled TLB (timing mode); null in fast mode. */
  tlb: { accesses: number; misses: number; walks: number; walkRefs: number } | null;
  /** Whether the guest is idle (waiting in WFI) at the moment of the report. */
  mode: 'fast' | 'timing';
  /** The JIT's figures (tier jit), null with the interpreter. */
  jit: LiveJitStats | null;
}

/** The JIT tier's live figures (a subset of src/jit/jit.ts JitStats). */
export interface LiveJitStats {
  blocks: number;
  pages: number;
  modules: number;
  compileMs: number;
  /** Instructions retired in compiled code. */
  insns: number;
  invalidations: number;
  /** Async compile mode: modules in flight now and installed so far. */
  async: { inFlight: number; installed: number; dropped: number } | null;
}

export type FromWorker =
  | { type: 'status'; text: string }
  /** Guest console output; `summary`: the end-of-run statistics the worker prints (not the guest's). */
  | { type: 'output'; bytes: Uint8Array; summary?: true }
  | { type: 'stats'; stats: LiveStats }
  | { type: 'booted'; compileMs: number; fetchMs: number }
  | { type: 'exit'; reason: string; code: number; message?: string; instret: number; cycles: number }
  | { type: 'error'; message: string };
