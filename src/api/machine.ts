/**
 * Public API (issue 16): `Machine`, the virt board as an embeddable object. A thin wrapper over the
 * internal VirtMachine (src/board/virt.ts) and bootLinux (src/board/boot.ts): the same devices, run
 * loop and counters the CLI uses, behind a small set of names that stay stable across minor
 * versions (docs/API.md). Nothing here adds behaviour the CLI does not have; it only narrows it.
 */
import { VirtMachine, type RunResult as BoardRunResult } from '../board/virt.js';
import { bootLinux } from '../board/boot.js';
import { parseCpu } from '../board/cpu.js';
import { useOptimizingCompiler } from '../core.js';
import * as L from '../generated/layout.js';
import { loadTimingFile, defaultTiming } from '../timing.js';
import { UserError, fileReadError, isUserError } from '../errors.js';
import { ImageFormatError } from '../../devices/image-format.js';
import { GdbStub } from '../debug/gdbstub.js';

export interface GdbServerOptions {
  /** TCP port (0, the default: any free port — read it from the result). */
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** QEMU's -S: hold the machine before its first instruction until gdb continues it. */
  waitForGdb?: boolean;
  /** Connection diagnostics. */
  log?: (line: string) => void;
}

/** A listening gdb server (`target remote :PORT` in gdb-multiarch; docs/GDB.md). */
export interface GdbServer {
  port: number;
  close(): void;
}
import { parseSize } from '../cli/args.js';
import type { RunStats } from '../stats.js';
import { regIndex, fregIndex, toBigAddr, csrNumber, type RegName, type CsrName } from './regs.js';
import { MachineDebug, type CodeEvent, type HookHandle, type HookRange, type HookResult, type MemEvent, type MmioEvent, type TrapEvent } from '../debug/hooks.js';

export type { CodeEvent, HookHandle, HookRange, HookResult, MemEvent, MmioEvent, TrapEvent };

/** How a run ended, for exit hooks (a pause is not an end). */
export interface ExitEvent {
  reason: Exclude<StopReason, 'paused'>;
  code: number;
  message?: string;
}

/** Why a run ended. */
export type StopReason =
  /** The guest powered off or exited (test finisher, HTIF, SBI shutdown); `code` is its exit code. */
  | 'exit'
  /** `maxInsns` retired instructions reached (exact). */
  | 'max-insns'
  /** `maxCycles` reached (first instruction boundary at or after it). */
  | 'max-cycles'
  /** The `until` text appeared on the console (checked every `untilSlice` instructions; a run that ends otherwise in the same slice reports that end). */
  | 'until'
  /** A hart took too many traps in a row without retiring an instruction (`stuckTraps`). */
  | 'stuck'
  /** `interrupt()` was called. */
  | 'interrupted'
  /** A hook returned true / 'stop': run again to go on exactly where it paused. */
  | 'paused'
  /** The guest did something the machine cannot continue from (message says what). */
  | 'error';

export interface MachineRunResult {
  reason: StopReason;
  /** The CLI's exit code for this end: the guest's, 124 for a limit, 130 interrupted, 3 stuck, 1 error; 0 for 'until'. */
  code: number;
  /** One line when the run ended for a reason the guest did not choose. */
  message?: string;
  /** Retired instructions (all harts) and machine cycles since reset, at the end of the run. */
  instret: number;
  cycles: number;
}

export interface MachineOptions {
  /** Guest RAM: bytes, or a size string as `--ram` takes it ("256M"). Default 128 MiB. */
  ram?: number | string;
  /** Harts, 1..8 (`--smp`). Default 1. */
  harts?: number;
  /** 'fast' (default) or 'timing' (adds the modeled TLB; `--mode`). */
  mode?: 'fast' | 'timing';
  /** A timing file (`--timing`, YAML/JSON: per-class latencies, clock, TLB). Default: built-in. */
  timingFile?: string;
  /** CPU model and extensions as `--cpu` takes them ("rv64,h=off", "rva22s64"). */
  cpu?: string;
  /** virtio-blk disks (first = /dev/vda). */
  drives?: Array<{ path: string; readOnly?: boolean; format?: 'raw' | 'qcow2' }>;
  /** Console output (UART, HTIF, SBI console). Default: kept; read it with `consoleText()`. */
  onConsole?: (bytes: Uint8Array) => void;
  /** Traps in a row without a retired instruction before a run ends as 'stuck' (default 1000; 0 = never). */
  stuckTraps?: number;
  /** Guest-visible RTC start, ns since the epoch (default: a fixed date, for determinism). */
  rtcEpochNs?: bigint;
  /**
   * Ask V8 for its optimizing wasm compiler from the start (2-3x the guest speed; a process-wide
   * flag that only acts before the first machine or core exists). Default true.
   */
  optimize?: boolean;
  /**
   * Execution tier (`--tier`, docs/JIT.md): 'jit' compiles hot code to wasm (the default under
   * Node), 'interp' interprets everything. Results and counters are the same; only speed differs.
   */
  tier?: 'interp' | 'jit';
}

export interface BootOptions {
  /** Linux Image (RISC-V Image header), loaded at 0x80200000. */
  kernel: string;
  initrd?: string;
  /** Kernel command line (`--append`). */
  append?: string;
  /** 'builtin' (cyclevisor's SBI in the host, default), 'none', or a firmware image path (OpenSBI fw_jump/fw_dynamic). */
  bios?: string;
}

export interface RunOptions {
  /** Stop when this many instructions have retired since reset (absolute, all harts). */
  maxInsns?: number;
  /** Stop when machine time reaches this many cycles since reset (absolute). */
  maxCycles?: number;
  /**
   * Stop once the console output (of the whole life of the machine) contains this text or matches
   * this pattern. Checked every `untilSlice` retired instructions, so the stop point is
   * deterministic (it depends on the guest, not on host speed).
   */
  until?: string | RegExp;
  /** Instructions between `until` checks (default 1,000,000). */
  untilSlice?: number;
}

/** The CLI's `--stats json` object; `exit.reason` is the last run's StopReason. */
export type MachineStats = Omit<RunStats, 'exit'> & { exit: { reason: StopReason; code: number } };

export interface LoadedProgram {
  entry: bigint;
  /** The ELF's symbols (name → address). */
  symbols: ReadonlyMap<string, bigint>;
}

/** The virt board: QEMU's riscv virt map (CLINT, PLIC, ns16550a, virtio-mmio, test finisher, RTC). */
export class Machine {
  /** @internal */
  readonly #m: VirtMachine;
  #text = '';
  readonly #decoder = new TextDecoder();
  #last: MachineRunResult | null = null;
  #symbols: ReadonlyMap<string, bigint> = new Map();
  readonly #exitHooks: Array<{ cb: (e: ExitEvent) => void }> = [];
  /** Open gdb servers: `until` slices would look like ends of the program to gdb. */
  #gdb = 0;

  constructor(opts: MachineOptions = {}) {
    if (opts.optimize ?? true) useOptimizingCompiler();
    const ramBytes = typeof opts.ram === 'string' ? parseSize(opts.ram, 'ram') : opts.ram;
    const onConsole = opts.onConsole;
    if (opts.tier !== undefined && opts.tier !== 'interp' && opts.tier !== 'jit') throw new UserError(`tier must be 'interp' or 'jit', got '${String(opts.tier)}'`);
    this.#m = newBoard({
      ...(opts.tier ? { tier: opts.tier } : {}),
      ...(ramBytes !== undefined ? { ramBytes } : {}),
      ...(opts.harts !== undefined ? { harts: opts.harts } : {}),
      ...(opts.mode ? { mode: opts.mode } : {}),
      timing: opts.timingFile ? loadTimingFile(opts.timingFile) : defaultTiming(),
      ...(opts.cpu ? { cpu: parseCpu(opts.cpu) } : {}),
      ...(opts.drives ? { drives: opts.drives.map((d) => ({ path: d.path, readOnly: d.readOnly ?? false, ...(d.format ? { format: d.format } : {}) })) } : {}),
      ...(opts.stuckTraps !== undefined ? { stuckTraps: opts.stuckTraps } : {}),
      ...(opts.rtcEpochNs !== undefined ? { rtcEpochNs: opts.rtcEpochNs } : {}),
      onOutput: (chunk) => {
        this.#text += this.#decoder.decode(chunk, { stream: true });
        onConsole?.(chunk);
      },
    });
  }

  /** Guest RAM in bytes. */
  get ramBytes(): number {
    return this.#m.ramBytes;
  }
  /** Number of harts. */
  get harts(): number {
    return this.#m.harts;
  }
  /** Guest-physical address of the first byte of RAM (0x80000000). */
  static readonly RAM_BASE: bigint = BigInt(L.RAM_GPA);

  // ------------------------------------------------------------------------------ loading

  /**
   * Load a bare-metal RISC-V ELF (a path or its bytes): PT_LOAD segments into RAM, pc at the entry;
   * a `tohost` symbol attaches HTIF (riscv-tests / Spike convention).
   */
  loadElf(elf: string | Uint8Array, name = 'program.elf'): LoadedProgram {
    const img = typeof elf === 'string' ? this.#m.loadElfFile(elf) : this.#m.loadElf(elf, name);
    this.#symbols = img.symbols;
    return { entry: img.entry, symbols: img.symbols };
  }

  /** Place a Linux kernel (and initrd, device tree, firmware) as `cyclevisor boot` does. */
  boot(o: BootOptions): void {
    bootLinux(this.#m, {
      bios: o.bios ?? 'builtin',
      kernel: o.kernel,
      ...(o.initrd !== undefined ? { initrd: o.initrd } : {}),
      ...(o.append !== undefined ? { append: o.append } : {}),
    });
  }

  // ------------------------------------------------------------------------------ running

  /**
   * Run until the guest exits or a limit is reached; yields to the event loop about every 20 ms
   * (console input, timers). Can be called again after a limit to continue exactly where it stopped.
   */
  async run(o: RunOptions = {}): Promise<MachineRunResult> {
    const m = this.#m;
    const limit = o.maxInsns ?? Infinity;
    checkCount(limit, 'maxInsns');
    checkCount(o.maxCycles ?? Infinity, 'maxCycles');
    const until = o.until;
    const matched = (): boolean => (until === undefined ? false : typeof until === 'string' ? this.#text.includes(until) : until.test(this.#text));
    if (matched()) return this.#result({ reason: 'until', code: 0 });
    if (until !== undefined && this.#gdb > 0) throw new UserError('run({ until }) cannot be used while a gdb server is open');
    const slice = o.untilSlice ?? 1_000_000;
    if (until !== undefined && !(Number.isSafeInteger(slice) && slice > 0)) throw new UserError(`untilSlice must be a positive whole number, got ${slice}`);
    for (;;) {
      const stopAt = until === undefined ? limit : Math.min(limit, m.totalInstret() + slice);
      const r = await m.runAsync({ maxInsns: stopAt === Infinity ? null : stopAt, maxCycles: o.maxCycles ?? null });
      // Only a slice end (not the guest's exit or a user limit) becomes 'until'.
      if (r.reason === 'max-insns' && m.totalInstret() < limit) {
        if (matched()) return this.#result({ reason: 'until', code: 0 });
        continue;
      }
      return this.#result(r);
    }
  }

  /** As run() without yielding (no waiting for console input). */
  runSync(o: Omit<RunOptions, 'until' | 'untilSlice'> = {}): MachineRunResult {
    checkCount(o.maxInsns ?? Infinity, 'maxInsns');
    checkCount(o.maxCycles ?? Infinity, 'maxCycles');
    return this.#result(this.#m.runSync({ maxInsns: o.maxInsns ?? null, maxCycles: o.maxCycles ?? null }));
  }

  /** Execute `n` more instructions (default 1) and stop exactly after them (unless the guest ends first). */
  step(n = 1): MachineRunResult {
    checkCount(n, 'step count');
    return this.runSync({ maxInsns: this.#m.totalInstret() + n });
  }

  /** End a running run() at its next yield (reason 'interrupted', as Ctrl-C). Final: the machine does not run again. */
  interrupt(): void {
    this.#m.interrupt();
  }

  #result(r: BoardRunResult | { reason: 'until'; code: 0 }): MachineRunResult {
    const out: MachineRunResult = {
      reason: r.reason,
      code: r.code,
      ...('message' in r && r.message !== undefined ? { message: r.message } : {}),
      instret: this.#m.totalInstret(),
      cycles: this.#m.core.cycles,
    };
    this.#last = out;
    if (out.reason !== 'paused') {
      const ev: ExitEvent = { reason: out.reason, code: out.code, ...(out.message !== undefined ? { message: out.message } : {}) };
      for (const h of this.#exitHooks.slice()) h.cb(ev);
    }
    return out;
  }

  // ------------------------------------------------------------------------------ hooks
  // Unicorn-style hooks (src/debug/hooks.ts). Unused, they cost one compare per block boundary in
  // the core and one per device access in the bus; a run whose hooks never stop it ends with
  // exactly the counters of a run without them. A callback returning true or 'stop' pauses the
  // run (reason 'paused'); run() again goes on where it paused.

  /** Before each instruction whose pc is in [begin, end] (default: every instruction — slow). */
  addCodeHook(cb: (e: CodeEvent) => HookResult, range?: HookRange): HookHandle {
    return MachineDebug.of(this.#m).addCodeHook(cb, range);
  }
  /** After each load / store / both touching virtual addresses [begin, end], with the value. */
  addMemHook(kind: 'read' | 'write' | 'access', cb: (e: MemEvent) => HookResult, range: HookRange): HookHandle {
    return MachineDebug.of(this.#m).addMemHook(kind, cb, range);
  }
  /** After each device access in guest-physical [begin, end] (default all), with the device's name. */
  addMmioHook(kind: 'read' | 'write' | 'access', cb: (e: MmioEvent) => HookResult, range?: { begin: number; end: number }): HookHandle {
    return MachineDebug.of(this.#m).addMmioHook(kind, cb, range);
  }
  /** After each trap taken (exception or interrupt), pc at the handler. */
  addTrapHook(cb: (e: TrapEvent) => HookResult): HookHandle {
    return MachineDebug.of(this.#m).addTrapHook(cb);
  }
  /** Once when a run() / runSync() / step() ends (not a pause), with how it ended. */
  addExitHook(cb: (e: ExitEvent) => void): HookHandle {
    // Kept here, not in the board's hook table: only Machine knows where its runs end (an `until`
    // run is several board runs).
    const entry = { cb };
    this.#exitHooks.push(entry);
    return {
      remove: () => {
        const i = this.#exitHooks.indexOf(entry);
        if (i >= 0) this.#exitHooks.splice(i, 1);
      },
    };
  }

  /**
   * Serve gdb's remote protocol for this machine (docs/GDB.md: registers, memory, breakpoints and
   * watchpoints in the core, single-step, Ctrl-C; harts are threads). While gdb holds the machine,
   * a run() waits for it; counters are those of a run without gdb. Not with run({ until }).
   */
  async gdbServer(o: GdbServerOptions = {}): Promise<GdbServer> {
    const host = o.host ?? '127.0.0.1';
    const want = o.port ?? 0;
    if (!(Number.isInteger(want) && want >= 0 && want <= 65535)) throw new UserError(`gdb server: port ${want} is not 0..65535`);
    const stub = new GdbStub(this.#m, { ...(o.waitForGdb ? { waitForGdb: true } : {}), ...(o.log ? { log: o.log } : {}) });
    let port: number;
    try {
      port = await stub.listen(host, want);
    } catch (e) {
      stub.close();
      throw new UserError(`gdb server: cannot listen on tcp:${host}:${want}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.#gdb++;
    let open = true;
    return {
      port,
      close: () => {
        if (!open) return;
        open = false;
        this.#gdb--;
        stub.close();
      },
    };
  }

  // ------------------------------------------------------------------------------ console

  /** Everything the guest printed on its console so far (UTF-8 decoded). */
  consoleText(): string {
    return this.#text;
  }
  /**
   * Console input (UART receive). With `openInput()` first, a guest idle in WFI waits for input
   * instead of letting virtual time run on; `endInput()` says no more will come.
   */
  sendInput(data: string | Uint8Array): void {
    this.#m.pushInput(typeof data === 'string' ? new TextEncoder().encode(data) : data);
  }
  openInput(): void {
    this.#m.openInput();
  }
  endInput(): void {
    this.#m.endInput();
  }

  // ------------------------------------------------------------------------------ state

  /** Retired instructions (all harts) since reset. */
  get instret(): number {
    return this.#m.totalInstret();
  }
  /** Machine time in cycles since reset. */
  get cycles(): number {
    return this.#m.core.cycles;
  }
  /** pc of hart `hart` (default 0). */
  getPc(hart = 0): bigint {
    return this.#m.core.hart64(this.#hart(hart), L.H_PC);
  }
  setPc(v: bigint, hart = 0): void {
    this.#m.core.setHart64(this.#hart(hart), L.H_PC, v);
  }
  /** Integer register by number (0..31) or name ('a0', 'x10', 'sp'). */
  getReg(r: RegName, hart = 0): bigint {
    return this.#m.core.hart64(this.#hart(hart), L.H_X + regIndex(r) * 8);
  }
  setReg(r: RegName, v: bigint, hart = 0): void {
    const i = regIndex(r);
    if (i !== 0) this.#m.core.setHart64(this.#hart(hart), L.H_X + i * 8, BigInt.asUintN(64, v));
  }
  /** FP register by number or name ('fa0', 'f10') as raw 64 bits (a single is NaN-boxed). */
  getFReg(r: RegName, hart = 0): bigint {
    return this.#m.core.hart64(this.#hart(hart), L.H_F + fregIndex(r) * 8);
  }
  /**
   * A CSR by number or name, as an M-mode csrr would read it (no side effects on the guest); a CSR
   * the hart does not have is a UserError.
   */
  getCsr(csr: CsrName, hart = 0): bigint {
    const n = csrNumber(csr);
    const v = this.#m.core.ex.dbgCsrRead(n, this.#hart(hart));
    if (this.#m.core.ex.dbgCsrStatus() === 0) throw new UserError(`the hart has no CSR 0x${n.toString(16)} (${String(csr)})`);
    return BigInt.asUintN(64, v);
  }
  /** Write a CSR as an M-mode csrw would (WARL fields keep their legal values). */
  setCsr(csr: CsrName, v: bigint, hart = 0): void {
    const n = csrNumber(csr);
    if (this.#m.core.ex.dbgCsrWrite(n, this.#hart(hart), BigInt.asUintN(64, v)) !== 1) throw new UserError(`the hart has no CSR 0x${n.toString(16)} (${String(csr)})`);
  }
  /** Privilege mode of a hart: 0 U, 1 S, 3 M. */
  getPriv(hart = 0): number {
    return Number(this.#m.core.hart64(this.#hart(hart), L.H_PRIV));
  }
  /** Read guest RAM by physical address (RangeError-free: a UserError when outside RAM). */
  readMemory(paddr: bigint | number, len: number): Uint8Array {
    const pa = toBigAddr(paddr);
    if (!this.#m.core.inRam(Number(pa), len)) throw new UserError(`readMemory: ${len} bytes at 0x${pa.toString(16)} are not in RAM`);
    return this.#m.core.readPhys(Number(pa), len);
  }
  /** Write guest RAM by physical address (decoded code there is forgotten). */
  writeMemory(paddr: bigint | number, data: Uint8Array): void {
    const pa = toBigAddr(paddr);
    if (!this.#m.core.inRam(Number(pa), data.length)) throw new UserError(`writeMemory: ${data.length} bytes at 0x${pa.toString(16)} are not in RAM`);
    this.#m.core.writePhys(Number(pa), data);
  }
  /** Address of a symbol of the loaded ELF, or undefined. */
  symbol(name: string): bigint | undefined {
    return this.#symbols.get(name);
  }

  /** The end-of-run statistics (the CLI's `--stats json` object) after the last run. */
  stats(): MachineStats {
    const last = this.#last;
    if (last === null) throw new UserError('stats(): the machine has not run yet');
    const s = this.#m.stats({ reason: 'exit', code: last.code });
    return { ...s, exit: { reason: last.reason, code: last.code } };
  }

  /** Flush and close disk images and host sockets. */
  close(): void {
    this.#m.close();
  }

  #hart(h: number): number {
    if (!(Number.isInteger(h) && h >= 0 && h < this.#m.harts)) throw new UserError(`hart ${h} does not exist (the machine has ${this.#m.harts})`);
    return h;
  }
}

/** The board, with a disk image that cannot be opened reported as one line naming it (as the CLI does). */
function newBoard(opts: ConstructorParameters<typeof VirtMachine>[0]): VirtMachine {
  try {
    return new VirtMachine(opts);
  } catch (e) {
    if (e instanceof ImageFormatError) throw new UserError(`drive ${e.path}: ${e.message}`);
    const path = (e as NodeJS.ErrnoException).path;
    if (path !== undefined) {
      const err = fileReadError(path, e, 'a disk image');
      if (isUserError(err)) throw new UserError(`drive ${err.message}`);
    }
    throw e;
  }
}

function checkCount(n: number, what: string): void {
  if (n !== Infinity && !(Number.isSafeInteger(n) && n >= 0)) throw new UserError(`${what} must be a whole number >= 0, got ${n}`);
}
