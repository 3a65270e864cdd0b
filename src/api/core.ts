/**
 * Public API (issue 16): `Core`, the bare RV64GC core (core.wasm) without a board: guest RAM at
 * 0x80000000, one hart, and one MMIO callback for every access outside RAM (GUIDE §1: the core never
 * names a device). A thin wrapper over src/core.ts; for a whole machine use `Machine`.
 */
import { Core as WasmCore, RunStatus, useOptimizingCompiler, type MmioPort } from '../core.js';
import * as L from '../generated/layout.js';
import type { AccessSize } from '../bus/types.js';
import { checkSegmentsFit, loadFile, parseElf } from '../elf.js';
import { UserError } from '../errors.js';
import { parseSize } from '../cli/args.js';
import { defaultTiming, latencyArray } from '../timing.js';
import { regIndex, fregIndex, toBigAddr, csrNumber, type RegName, type CsrName } from './regs.js';
import { CoreDebug, StopReason, WATCH_READ, WATCH_WRITE, type WatchKind } from '../debug/core-debug.js';
import type { CodeEvent, HookHandle, HookRange, HookResult, MemEvent, TrapEvent } from '../debug/hooks.js';

export type { AccessSize };

/**
 * The host's side of every guest access outside RAM (loads, stores, AMOs and fetches that reach
 * device space). Called synchronously from inside the run loop, at the access, with the machine
 * state current up to the accessing instruction.
 */
export interface MmioHandler {
  /** The value read (the low `size` bytes count), or null/undefined for an access fault. */
  read(addr: number, size: AccessSize): number | bigint | null | undefined;
  /** false for an access fault; anything else (or nothing) means done. */
  write(addr: number, size: AccessSize, value: bigint): boolean | void;
}

export interface CoreOptions {
  /** Guest RAM (bytes or "16M"), a multiple of 4 KiB up to 2 GiB. Default 16 MiB. */
  ram?: number | string;
  /** Device space; default: every access outside RAM is an access fault. */
  mmio?: MmioHandler;
  /** V8's optimizing compiler from the start (process-wide; see Machine). Default true. */
  optimize?: boolean;
}

/** Why Core.run() returned. */
export type CoreStopReason =
  /** maxCycles reached (at a block boundary at or after it). */
  | 'max-cycles'
  /** maxInsns reached (exact). */
  | 'max-insns'
  /** The hart executed WFI with no enabled interrupt pending (run again after raising one). */
  | 'wfi'
  /** stop() was called (e.g. from the MMIO handler: a "power off" register). */
  | 'stopped'
  /** The hart trapped `stuckLimit` times in a row without retiring an instruction. */
  | 'stuck'
  /** A hook returned true / 'stop'; run again to go on exactly where it paused. */
  | 'paused';

const STATUS: Record<number, CoreStopReason> = {
  [RunStatus.Deadline]: 'max-cycles',
  [RunStatus.InsnLimit]: 'max-insns',
  [RunStatus.Wfi]: 'wfi',
  [RunStatus.Stop]: 'stopped',
  [RunStatus.Stuck]: 'stuck',
};

export interface CoreRunOptions {
  /** Stop when this many instructions have retired since reset (absolute). Default: no limit. */
  maxInsns?: number;
  /** Stop at the first block boundary at or after this cycle since reset (absolute). Default: none. */
  maxCycles?: number;
}

/** One RV64GC hart (M/S/U, H, Sv39/48/57) with RAM and an MMIO callback. */
export class Core {
  readonly #c: WasmCore;
  #dbg: CoreDebug | null = null;
  readonly #code: Array<{ cb: (e: CodeEvent) => HookResult; lo: bigint; hi: bigint }> = [];
  readonly #mem: Array<{ cb: (e: MemEvent) => HookResult; begin: bigint; end: bigint; kinds: number }> = [];
  readonly #trap: Array<(e: TrapEvent) => HookResult> = [];
  /** Guest-physical address of RAM's first byte (0x80000000). */
  static readonly RAM_BASE: bigint = BigInt(L.RAM_GPA);

  constructor(opts: CoreOptions = {}) {
    if (opts.optimize ?? true) useOptimizingCompiler();
    const ramBytes = typeof opts.ram === 'string' ? parseSize(opts.ram, 'ram') : (opts.ram ?? 16 * 1024 * 1024);
    if (!(Number.isSafeInteger(ramBytes) && ramBytes > 0 && ramBytes % 4096 === 0 && ramBytes <= L.RAM_MAX)) {
      throw new UserError(`ram must be a multiple of 4 KiB between 4 KiB and 2 GiB, got ${ramBytes}`);
    }
    this.#c = new WasmCore({ ramBytes, mmio: port(opts.mmio) });
    // The per-class cycle costs the board uses by default (docs/TIMING.md); without them every
    // instruction would cost 0 cycles.
    this.#c.setLatencies(latencyArray(defaultTiming()));
  }

  /** Guest RAM as bytes (index 0 is guest-physical 0x80000000). Writing code here directly needs `invalidate()`. */
  get ram(): Uint8Array {
    return this.#c.ram;
  }
  get ramBytes(): number {
    return this.#c.ramBytes;
  }

  /** Architectural reset: M-mode, pc = 0x80000000, counters zero. RAM is kept. */
  reset(): void {
    this.#c.reset();
  }

  /** Load a bare-metal ELF (path or bytes) into RAM and set pc to its entry; returns entry and symbols. */
  loadElf(elf: string | Uint8Array, name = 'program.elf'): { entry: bigint; symbols: ReadonlyMap<string, bigint> } {
    const bytes = typeof elf === 'string' ? loadFile(elf) : elf;
    const img = parseElf(bytes, typeof elf === 'string' ? elf : name);
    checkSegmentsFit(img, Core.RAM_BASE, BigInt(this.#c.ramBytes));
    for (const s of img.segments) {
      const pa = Number(s.paddr);
      if (s.filesz > 0) this.#c.writePhys(pa, bytes.subarray(s.offset, s.offset + s.filesz));
      if (s.memsz > s.filesz) this.#c.zeroPhys(pa + s.filesz, s.memsz - s.filesz);
    }
    this.#c.pc = img.entry;
    return { entry: img.entry, symbols: img.symbols };
  }

  /**
   * Run until a limit, WFI, stop() or a stuck hart. Limits are absolute (since reset), so calling
   * run again with the same limit returns at once; step() is the relative form.
   */
  run(o: CoreRunOptions = {}): CoreStopReason {
    const c = this.#c;
    c.insnLimit = o.maxInsns ?? Infinity;
    c.deadline = o.maxCycles ?? Infinity;
    for (;;) {
      const st = c.run();
      if (st === RunStatus.Debug) {
        if (this.#onDebugStop()) return 'paused';
        continue; // the core skips the stop point once: going on executes the instruction
      }
      const r = STATUS[st];
      if (r !== undefined) return r;
      // Sbi / MTrap / VmExit need host modes this API does not turn on.
      throw new Error(`core: unexpected run status ${st}`);
    }
  }

  /** Execute n more instructions (default 1). */
  step(n = 1): CoreStopReason {
    return this.run({ maxInsns: this.#c.instret + n });
  }

  // ------------------------------------------------------------------------------ hooks
  // The same Unicorn-style hooks as Machine's (src/debug/hooks.ts semantics), on the core's debug
  // tables (assembly/debug.ts): nothing is written into guest memory, and hooks that never stop
  // leave every counter as it would be without them. (The MMIO handler is the MMIO hook.)

  /** Before each instruction whose pc is in [begin, end] (default: every instruction — slow). */
  addCodeHook(cb: (e: CodeEvent) => HookResult, range?: HookRange): HookHandle {
    const lo = range ? range.begin : 0n;
    const hi = range ? range.end + 1n : 1n << 64n;
    if (hi <= lo) throw new UserError('code hook: end must not be below begin');
    const h = { cb, lo, hi };
    const id = this.#debug().addExec(lo, hi);
    this.#code.push(h);
    return this.#handle(this.#code, h, () => this.#debug().removeExec(id));
  }
  /** After each load / store / both touching virtual addresses [begin, end], with the value. */
  addMemHook(kind: 'read' | 'write' | 'access', cb: (e: MemEvent) => HookResult, range: HookRange): HookHandle {
    if (range.end < range.begin) throw new UserError('memory hook: end must not be below begin');
    const kinds = (kind === 'read' ? WATCH_READ : kind === 'write' ? WATCH_WRITE : WATCH_READ | WATCH_WRITE) as WatchKind;
    const h = { cb, begin: range.begin, end: range.end, kinds };
    const id = this.#debug().addWatch(range.begin, range.end + 1n, kinds);
    this.#mem.push(h);
    return this.#handle(this.#mem, h, () => this.#debug().removeWatch(id));
  }
  /** After each trap taken (exception or interrupt), pc at the handler. */
  addTrapHook(cb: (e: TrapEvent) => HookResult): HookHandle {
    this.#debug().trapStop(true);
    this.#trap.push(cb);
    return this.#handle(this.#trap, cb, () => this.#debug().trapStop(false));
  }

  #debug(): CoreDebug {
    return (this.#dbg ??= new CoreDebug(this.#c));
  }
  #handle<T>(list: T[], item: T, off: () => void): HookHandle {
    return {
      remove: () => {
        const i = list.indexOf(item);
        if (i < 0) return;
        list.splice(i, 1);
        off();
      },
    };
  }
  /** RunStatus.Debug: call the hooks the stop is for; true = a hook asked to pause. */
  #onDebugStop(): boolean {
    const stop = this.#debug().takeStop();
    const want = (r: HookResult) => r === true || r === 'stop';
    let pause = false;
    if (stop.reason === StopReason.Exec) {
      const b = this.#debug().readVirt(stop.pc, 2, 0);
      const size = b ? ((b[0]! & 3) === 3 ? 4 : 2) : 0;
      for (const h of this.#code.slice()) if (stop.pc >= h.lo && stop.pc < h.hi && want(h.cb({ hart: 0, pc: stop.pc, size }))) pause = true;
    } else if (stop.reason === StopReason.Trap) {
      const cause = stop.cause ?? 0n;
      const ev: TrapEvent = { hart: 0, cause, interrupt: cause >> 63n === 1n, tval: stop.tval ?? 0n, epc: stop.epc ?? 0n, pc: stop.pc };
      for (const cb of this.#trap.slice()) if (want(cb(ev))) pause = true;
    }
    for (const hit of stop.hits ?? []) {
      for (const h of this.#mem.slice()) {
        if (hit.va > h.end || hit.va + BigInt(hit.size) - 1n < h.begin) continue;
        for (const k of [WATCH_READ, WATCH_WRITE]) {
          if ((hit.kind & k & h.kinds) === 0) continue;
          if (want(h.cb({ hart: 0, kind: k === WATCH_READ ? 'read' : 'write', address: hit.va, size: hit.size, value: hit.value, pc: stop.pc }))) pause = true;
        }
      }
    }
    return pause;
  }

  /** Make a running run() return 'stopped' at the next block boundary (safe inside the MMIO handler). */
  stop(): void {
    this.#c.requestStop();
  }

  get pc(): bigint {
    return this.#c.pc;
  }
  set pc(v: bigint) {
    this.#c.pc = BigInt.asUintN(64, v);
  }
  getReg(r: RegName): bigint {
    return this.#c.x(regIndex(r));
  }
  setReg(r: RegName, v: bigint): void {
    this.#c.setX(regIndex(r), BigInt.asUintN(64, v));
  }
  getFReg(r: RegName): bigint {
    return this.#c.f(fregIndex(r));
  }
  setFReg(r: RegName, v: bigint): void {
    this.#c.setF(fregIndex(r), BigInt.asUintN(64, v));
  }
  /**
   * A CSR by number or name, as an M-mode csrr would read it (no side effects on the guest); a CSR
   * the hart does not have is a UserError.
   */
  getCsr(csr: CsrName): bigint {
    const n = csrNumber(csr);
    const v = this.#c.ex.dbgCsrRead(n, 0);
    if (this.#c.ex.dbgCsrStatus() === 0) throw new UserError(`the hart has no CSR 0x${n.toString(16)} (${String(csr)})`);
    return BigInt.asUintN(64, v);
  }
  /** Write a CSR as an M-mode csrw would (WARL fields keep their legal values). */
  setCsr(csr: CsrName, v: bigint): void {
    const n = csrNumber(csr);
    if (this.#c.ex.dbgCsrWrite(n, 0, BigInt.asUintN(64, v)) !== 1) throw new UserError(`the hart has no CSR 0x${n.toString(16)} (${String(csr)})`);
  }
  /** 0 U, 1 S, 3 M. */
  get priv(): number {
    return this.#c.priv;
  }
  get instret(): number {
    return this.#c.instret;
  }
  get cycles(): number {
    return this.#c.cycles;
  }
  /** Drive interrupt-pending bit `bit` of mip (3 MSIP, 7 MTIP, 11 MEIP, 1/5/9 the S ones); taken at the next block boundary. */
  setInterrupt(bit: number, level: boolean): void {
    if (!(Number.isInteger(bit) && bit >= 0 && bit < 16)) throw new UserError(`interrupt bit ${bit} is not 0..15`);
    this.#c.setMip(bit, level);
  }
  /** Route guest-physical [base, end) inside RAM to the MMIO handler (e.g. an HTIF tohost word). */
  watch(base: bigint | number, end: bigint | number): void {
    this.#c.addWatch(Number(toBigAddr(base)), Number(toBigAddr(end)));
  }

  readMemory(paddr: bigint | number, len: number): Uint8Array {
    const pa = Number(toBigAddr(paddr));
    if (!this.#c.inRam(pa, len)) throw new UserError(`readMemory: ${len} bytes at 0x${pa.toString(16)} are not in RAM`);
    return this.#c.readPhys(pa, len);
  }
  /** Write guest RAM (decoded code there is forgotten). */
  writeMemory(paddr: bigint | number, data: Uint8Array): void {
    const pa = Number(toBigAddr(paddr));
    if (!this.#c.inRam(pa, data.length)) throw new UserError(`writeMemory: ${data.length} bytes at 0x${pa.toString(16)} are not in RAM`);
    this.#c.writePhys(pa, data);
  }
  /** After writing code through `ram` directly: forget decoded instructions in [paddr, paddr+len). */
  invalidate(paddr: bigint | number, len: number): void {
    this.#c.ex.invalidatePhys(toBigAddr(paddr), BigInt(len));
  }
}

/** Adapt the public MmioHandler (bigint values) to the core's MmioPort (32-bit halves). */
function port(h: MmioHandler | undefined): MmioPort {
  const p: MmioPort = {
    dataLo: 0,
    dataHi: 0,
    read(addr, size) {
      const v = h?.read(addr, size);
      if (v === null || v === undefined) return 1;
      const b = BigInt.asUintN(64, BigInt(v));
      p.dataLo = Number(b & 0xffffffffn);
      p.dataHi = Number(b >> 32n);
      return 0;
    },
    write(addr, size, lo, hi) {
      if (!h) return 1;
      return h.write(addr, size, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)) === false ? 1 : 0;
    },
  };
  return p;
}
