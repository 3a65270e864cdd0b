/**
 * The TypeScript face of core.wasm: instantiation, the MMIO import bridge, and typed access to the
 * hart state through the generated layout (src/generated/layout.ts, from assembly/layout.ts).
 */
import { host } from './host/host.js';
import * as L from './generated/layout.js';
import { TIMING_CLASSES, TIMING_CLASS_COUNT, type TimingClass } from './isa/classes.js';
import type { AccessSize } from './bus/types.js';
import { VCPU_CSR_FIELDS, VS_INTS, type VcpuContext, type VmExit, type VmmCosts } from './vcpu.js';
import { Jit, type JitCoreExports, type JitOptions, type Tier } from './jit/jit.js';

export const enum RunStatus {
  Deadline = 0,
  InsnLimit = 1,
  Wfi = 2,
  Stop = 3,
  /** S-mode ecall with a host SBI installed (see setHostSbi); pc is at the ecall. */
  Sbi = 4,
  /**
   * A trap would have entered M-mode with host M-mode on (see setHostMTrap): pc is at the trapping
   * (or interrupted) instruction, nothing else changed; `mtrapCause`/`mtrapTval` say what it was.
   */
  MTrap = 5,
  /**
   * The hart took `stuckLimit` traps in a row without retiring an instruction (a runaway guest,
   * e.g. a trap handler address that itself faults); `stuckTrap()` describes the last trap.
   */
  Stuck = 6,
  /** Host-VMM mode (setVmmMode): a guest trap for the host; see vmExit(). V = 1, pc at the trap. */
  VmExit = 7,
  /** The host debugger's stop (assembly/debug.ts, src/debug/core-debug.ts): breakpoint, watchpoint, step, trap. */
  Debug = 8,
}

/** The last trap of a stuck hart (RunStatus.Stuck). */
export interface StuckTrap {
  /** xcause of the trap (bit 63 set for an interrupt). */
  cause: bigint;
  /** pc of the trapping instruction (the xepc the trap wrote). */
  pc: bigint;
  /** xtvec of the privilege mode the trap went to. */
  tvec: bigint;
}

/** What the core calls for every access outside plain RAM (the board's bus). */
export interface MmioPort {
  /** Returns 0 (ok) with the value in dataLo/dataHi, or 1 (access fault). */
  read(addr: number, size: AccessSize): number;
  write(addr: number, size: AccessSize, lo: number, hi: number): number;
  dataLo: number;
  dataHi: number;
}

interface CoreExports {
  memory: WebAssembly.Memory;
  init(ramBytes: number): number;
  reset(): void;
  run(): number;
  setLatency(cls: number, cycles: number): void;
  addWatch(base: bigint, end: bigint): number;
  invalidatePhys(pa: bigint, len: bigint): void;
  flushTlb(): void;
  timebaseChanged(): void;
  configureMmu(satpModes: number, adUpdate: number): void;
  setHartId(id: number): void;
  tlbModelReset(): void;
  tlbModelAccess(va: bigint, fetch: number, isStore: number): bigint;
  tlbModelHfence(gvma: number, hasAddr: number, addr: bigint, hasId: number, id: number): void;
  setHarts(n: number): number;
  saveHart(): void;
  switchHart(h: number): void;
  flushHartTlb(h: number): void;
  redirectTrap(cause: bigint, tval: bigint): void;
  setStuckLimit(traps: number): void;
  setHypervisor(on: number): void;
  hfenceHart(h: number): void;
  setVmm(on: number, exitCycles: number): void;
  injectVS(cause: bigint, tval: bigint): number;
  vcpuLoaded(): void;
  hostHfenceGvma(vmid: number, allVmids: number, hasRange: number, gpa: bigint, len: bigint): void;
  gpaToHpa(gpa: bigint): bigint;
  gvaToHpa(gva: bigint): bigint;
  dbgTranslate(va: bigint, hart: number): bigint;
  dbgWatchChanged(): void;
  dbgCsrRead(csr: number, hart: number): bigint;
  dbgCsrWrite(csr: number, hart: number, v: bigint): number;
  dbgCsrStatus(): number;
}

/** build/core.wasm (Node: found from src/ or dist/src/; the web: the name the worker compiled). */
export function defaultWasmPath(debug = false): string {
  return host().coreWasmPath(debug);
}

/**
 * V8 compiles wasm first with its baseline compiler (Liftoff) and tiers up to TurboFan in the
 * background, but a function already running never switches tier (no on-stack replacement for
 * wasm). The run loop is one long-running function, so ask for TurboFan from the start: 2-3x the
 * guest MIPS (bench/). Process-wide V8 flag; call before the first Core is created. The CLI and the
 * benchmarks call it; embedders may choose not to.
 */
export function useOptimizingCompiler(): void {
  // The JIT tier's page modules too (docs/JIT.md): with Liftoff first, the run loop itself ran
  // Liftoff code until V8 tiered it up (Linux boot 1.23 s instead of 1.06 s).
  if (moduleCache.size === 0) host().preferOptimizingCompiler();
}

/**
 * Whether bytes [off, off + len) of `a` are all zero: 32-bit words four at a time between the
 * unaligned ends, so a mostly-zero range costs a read of it, a dirty one stops at its first
 * non-zero word.
 */
export function allZero(a: Uint8Array, off: number, len: number): boolean {
  let i = off;
  const end = off + len;
  while (i < end && ((a.byteOffset + i) & 3) !== 0) if (a[i++] !== 0) return false;
  const words = Math.floor((end - i) / 4);
  if (words > 0) {
    const w = new Uint32Array(a.buffer, a.byteOffset + i, words);
    let k = 0;
    for (; k + 4 <= words; k += 4) if ((w[k]! | w[k + 1]! | w[k + 2]! | w[k + 3]!) !== 0) return false;
    for (; k < words; k++) if (w[k] !== 0) return false;
    i += words * 4;
  }
  while (i < end) if (a[i++] !== 0) return false;
  return true;
}

const moduleCache = new Map<string, WebAssembly.Module>();
function compile(path: string): WebAssembly.Module {
  let m = moduleCache.get(path);
  if (!m) {
    m = host().wasmModule(path);
    moduleCache.set(path, m);
  }
  return m;
}

/** Guest-physical address where RAM begins on the virt board. */
export const RAM_BASE = L.RAM_GPA;

export interface CoreOptions {
  ramBytes: number;
  mmio: MmioPort;
  wasmPath?: string;
  /** Execution tier (issue 14, docs/JIT.md); default: defaultTier(). */
  tier?: Tier;
  jit?: JitOptions;
}

/**
 * The JIT is the default under Node (docs/JIT.md "Status": never slower than the interpreter on
 * our benchmarks, every counter the same); env CYCLEVISOR_TIER=interp|jit overrides. In a browser
 * (no `process`) the default is the interpreter: the page chooses (web/, docs/WEB.md).
 */
let tierDefault: Tier =
  typeof process === 'undefined' ? 'interp' : process.env?.CYCLEVISOR_TIER === 'interp' ? 'interp' : 'jit';
/** The tier of Cores created without one (the CLI's --tier sets it; env CYCLEVISOR_TIER too). */
export function setDefaultTier(t: Tier): void {
  tierDefault = t;
}
export function defaultTier(): Tier {
  return tierDefault;
}

/** See Core.runHook. */
export interface RunHook {
  before(): void;
  after(status: RunStatus): void;
}

export class Core {
  readonly ex: CoreExports;
  readonly ramBytes: number;
  private u8!: Uint8Array;
  private u32!: Uint32Array;
  private dv!: DataView;
  /** Guest RAM as bytes; index 0 is guest-physical RAM_BASE. */
  ram!: Uint8Array;

  constructor(opts: CoreOptions) {
    const mmio = opts.mmio;
    let u32: Uint32Array;
    const imports = {
      env: {
        mmio_read: (lo: number, hi: number, size: number): number => {
          const st = mmio.read(hi * 0x1_0000_0000 + (lo >>> 0), size as AccessSize);
          if (st === 0) {
            u32[L.C_MMIO_LO >>> 2] = mmio.dataLo;
            u32[L.C_MMIO_HI >>> 2] = mmio.dataHi;
          }
          return st;
        },
        mmio_write: (lo: number, hi: number, size: number, vlo: number, vhi: number): number =>
          mmio.write(hi * 0x1_0000_0000 + (lo >>> 0), size as AccessSize, vlo >>> 0, vhi >>> 0),
        // The JIT tier's compile request (assembly/jit.ts); only called while a Jit is attached.
        jit_compile: (slot: number): void => this.jit!.compile(slot),
      },
    };
    const inst = new WebAssembly.Instance(compile(opts.wasmPath ?? defaultWasmPath()), imports);
    this.ex = inst.exports as unknown as CoreExports;
    this.ramBytes = opts.ramBytes;
    const st = this.ex.init(opts.ramBytes);
    if (st !== 0) throw new Error(`core: cannot allocate ${opts.ramBytes} bytes of guest RAM`);
    this.views();
    u32 = this.u32;
    if ((opts.tier ?? tierDefault) === 'jit') this.jit = new Jit(this.ex as unknown as JitCoreExports, opts.jit);
  }

  /** The JIT tier's compiler, when this core runs with tier jit. */
  jit: Jit | undefined;
  get tier(): Tier {
    return this.jit ? 'jit' : 'interp';
  }
  /** Switch tier (compiled blocks are dropped when leaving jit). */
  setTier(t: Tier, opts?: JitOptions): void {
    if (t === 'jit' && !this.jit) this.jit = new Jit(this.ex as unknown as JitCoreExports, opts);
    else if (t === 'interp' && this.jit) {
      this.jit.detach();
      this.jit = undefined;
    }
  }
  /** JIT_INHIBIT (layout.ts): a non-zero bit mask keeps the run loop out of compiled code. */
  get jitInhibit(): number {
    return this.dv.getUint32(L.JIT_INHIBIT, true);
  }
  set jitInhibit(mask: number) {
    this.dv.setUint32(L.JIT_INHIBIT, mask >>> 0, true);
  }

  private views(): void {
    const buf = this.ex.memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.u32 = new Uint32Array(buf);
    this.dv = new DataView(buf);
    this.ram = new Uint8Array(buf, L.RAM_OFFSET, this.ramBytes);
  }

  reset(): void {
    this.ex.reset();
  }

  /**
   * Observes every run() (--trace-out, --report: src/trace/): `before` as it starts, `after` as it
   * returns, before the host changes anything (the trap trace drains its ring there). null =
   * nothing; the cost when unused is this one test per run().
   */
  runHook: RunHook | null = null;

  run(): RunStatus {
    const hook = this.runHook;
    if (hook === null) return this.ex.run() as RunStatus;
    hook.before();
    const status = this.ex.run() as RunStatus;
    hook.after(status);
    return status;
  }

  // --- 64-bit fields
  get64(addr: number): bigint {
    return this.dv.getBigUint64(addr, true);
  }
  set64(addr: number, v: bigint): void {
    this.dv.setBigUint64(addr, BigInt.asUintN(64, v), true);
  }
  /** A 64-bit field as a number (exact below 2^53: cycle and instruction counts). */
  getNum(addr: number): number {
    return this.dv.getUint32(addr, true) + this.dv.getUint32(addr + 4, true) * 0x1_0000_0000;
  }
  setNum(addr: number, v: number): void {
    if (v >= 2 ** 64 || !Number.isFinite(v)) {
      this.dv.setUint32(addr, 0xffffffff, true);
      this.dv.setUint32(addr + 4, 0xffffffff, true);
      return;
    }
    this.dv.setUint32(addr, v % 0x1_0000_0000, true);
    this.dv.setUint32(addr + 4, Math.floor(v / 0x1_0000_0000), true);
  }

  x(r: number): bigint {
    return this.get64(L.H_X + r * 8);
  }
  setX(r: number, v: bigint): void {
    if (r !== 0) this.set64(L.H_X + r * 8, v);
  }
  /** Floating-point register f0..f31 as raw 64 bits (a single is NaN-boxed in the low half). */
  f(r: number): bigint {
    return this.get64(L.H_F + r * 8);
  }
  setF(r: number, v: bigint): void {
    this.set64(L.H_F + r * 8, v);
  }
  /** fcsr: fflags in bits 4:0, frm in bits 7:5. */
  get fcsr(): number {
    return Number(this.get64(L.H_FCSR));
  }
  set fcsr(v: number) {
    this.set64(L.H_FCSR, BigInt(v & 0xff));
  }
  get pc(): bigint {
    return this.get64(L.H_PC);
  }
  set pc(v: bigint) {
    this.set64(L.H_PC, v);
  }
  get priv(): number {
    return this.dv.getUint32(L.H_PRIV, true);
  }
  get cycles(): number {
    return this.getNum(L.H_CYCLES);
  }
  set cycles(v: number) {
    this.setNum(L.H_CYCLES, v);
  }
  get instret(): number {
    return this.getNum(L.H_INSTRET);
  }
  /** Run until at most this cycle (checked at block boundaries). Infinity = no deadline. */
  set deadline(c: number) {
    this.setNum(L.C_DEADLINE, c);
  }
  get deadline(): number {
    return this.getNum(L.C_DEADLINE);
  }
  /** Stop when instret reaches this absolute count. Infinity = no limit. */
  set insnLimit(n: number) {
    this.setNum(L.C_INSN_LIMIT, n);
  }
  /** Ask the running core to return at the next block boundary (safe from inside an MMIO callback). */
  requestStop(): void {
    this.u32[L.C_STOP >>> 2] = 1;
  }

  /**
   * Traps in a row without a retired instruction after which run() returns RunStatus.Stuck
   * (default 1000; 0 = never). Machine-wide; each hart keeps its own streak.
   */
  set stuckLimit(traps: number) {
    if (!(Number.isInteger(traps) && traps >= 0 && traps <= 0xffffffff)) throw new Error(`stuckLimit must be a whole number below 2^32, got ${traps}`);
    this.ex.setStuckLimit(traps);
  }
  get stuckLimit(): number {
    return this.u32[L.C_STUCK_LIMIT >>> 2];
  }
  /** The trap that made run() return RunStatus.Stuck. */
  stuckTrap(): StuckTrap {
    return { cause: this.get64(L.C_STUCK_CAUSE), pc: this.get64(L.C_STUCK_PC), tvec: this.get64(L.C_STUCK_TVEC) };
  }

  /**
   * The H extension (misa.H) on every hart, on by default. Off makes the hypervisor and VS CSRs and
   * the hypervisor instructions illegal. Survives reset.
   */
  setHypervisor(on: boolean): void {
    this.ex.setHypervisor(on ? 1 : 0);
  }
  /** hfence.gvma / hfence.vvma on hart h for the host SBI (any VMID, ASID or address). */
  hfenceHart(h: number): void {
    this.ex.hfenceHart(h);
  }
  /** Route HS-mode (V = 0) ecalls to the host (RunStatus.Sbi) instead of trapping to M-mode. */
  setHostSbi(on: boolean): void {
    this.u32[L.C_SBI_HOST >>> 2] = on ? 1 : 0;
  }
  /**
   * Host M-mode: a trap that would enter M-mode returns RunStatus.MTrap instead, and the host acts
   * as the M-mode firmware (--bios builtin: src/board/firmware.ts).
   */
  setHostMTrap(on: boolean): void {
    this.u32[L.C_MTRAP_HOST >>> 2] = on ? 1 : 0;
  }
  /** The cause (bit 63: interrupt) of the trap that returned RunStatus.MTrap. */
  get mtrapCause(): bigint {
    return this.get64(L.C_MTRAP_CAUSE);
  }
  /** Its tval (faulting address, instruction bits, or 0). */
  get mtrapTval(): bigint {
    return this.get64(L.C_MTRAP_TVAL);
  }
  /**
   * Deliver exception (cause, tval) of the running hart at pc to its S-mode trap handler, as
   * firmware's trap redirection does (OpenSBI sbi_trap_redirect). The hart must be in S- or U-mode.
   */
  redirectTrap(cause: bigint, tval: bigint): void {
    this.ex.redirectTrap(BigInt.asUintN(64, cause), BigInt.asUintN(64, tval));
  }
  set priv(p: number) {
    this.set64(L.H_PRIV, BigInt(p));
    this.ex.flushTlb();
  }
  /** Cycle at which the Sstc timer fires (time >= stimecmp: STIP), or Infinity when it is off. */
  get sstcDeadline(): number {
    return this.sstcDeadlineOf(this.activeHart);
  }
  sstcDeadlineOf(h: number): number {
    return this.deadlineField(h, L.H_STIMECMP_CYCLE);
  }
  /**
   * Cycle at which the VS timer fires (H extension, Sstc: time + htimedelta >= vstimecmp raises
   * VSTIP, hip bit 6), or Infinity. Kept apart from sstcDeadline: it must wake a sleeping hart's
   * run loop, but it raises VSTIP, not STIP, and a VS deadline that has passed (a stale vstimecmp
   * of a VM that is not running) must not hide the HS timer's deadline.
   */
  get vstimecmpDeadline(): number {
    return this.vstimecmpDeadlineOf(this.activeHart);
  }
  vstimecmpDeadlineOf(h: number): number {
    return this.deadlineField(h, L.H_VSTIMECMP_CYCLE);
  }
  /**
   * Cycle at which an armed Sscofpmf cycles counter of hart h wraps (assembly/hpm.ts), or
   * Infinity: a hart asleep in WFI must wake for it as for its Sstc timer.
   */
  hpmOverflowDeadlineOf(h: number): number {
    if (this.dv.getBigUint64(this.hartField(h, L.H_HPM_ARMED), true) === 0n) return Infinity;
    return this.deadlineField(h, L.H_HPM_OVF_CYCLE);
  }
  get hpmOverflowDeadline(): number {
    return this.hpmOverflowDeadlineOf(this.activeHart);
  }
  /** The running hart (not in run()) notes the wraps of its armed counters: OF, LCOFIP. */
  hpmOverflowCheck(): void {
    (this.ex as unknown as { hpmOverflowCheck(): void }).hpmOverflowCheck();
  }
  private deadlineField(h: number, field: number): number {
    const a = this.hartField(h, field);
    if (this.dv.getUint32(a + 4, true) === 0xffffffff) return Infinity;
    return this.getNum(a);
  }
  /** Raw CSR state by layout offset (hart block), for firmware set-up and tests. */
  getCsr(addr: number): bigint {
    return this.get64(addr);
  }
  setCsr(addr: number, v: bigint): void {
    this.set64(addr, v);
  }

  // --- harts. One hart runs at a time in the active block; the others wait in save slots.
  /** Set the number of harts (1..8): resets every hart. */
  setHarts(n: number): void {
    if (this.ex.setHarts(n) !== 0) throw new Error(`core: cannot run ${n} harts (1..${L.MAX_HARTS})`);
  }
  get hartCount(): number {
    return this.u32[L.C_HARTS >>> 2];
  }
  get activeHart(): number {
    return this.u32[L.C_HART >>> 2];
  }
  switchHart(h: number): void {
    this.ex.switchHart(h);
  }
  /** Address of a hart-state field (a layout H_* offset) for hart h, wherever it lives now. */
  hartField(h: number, addr: number): number {
    return h === this.activeHart ? addr : L.HART_SAVE_BASE + h * L.HART_SIZE + (addr - L.HART_BASE);
  }
  /** Drive mip bit `bit` of hart h (CLINT, PLIC, IPIs). Takes effect at its next block boundary. */
  setMipOf(h: number, bit: number, level: boolean): void {
    const i = this.hartField(h, L.H_MIP) >>> 2;
    if (bit === 9) {
      // SEIP = the PLIC's line OR the software-writable bit.
      this.u32[this.hartField(h, L.H_SEIP_LINE) >>> 2] = level ? 1 : 0;
      level = level || this.u32[this.hartField(h, L.H_SEIP_SW) >>> 2] !== 0;
    }
    if (level) this.u32[i] |= 1 << bit;
    else this.u32[i] &= ~(1 << bit);
  }
  /** mip & mie of hart h: interrupts that wake it from WFI. */
  wakeBits(h: number): number {
    return this.u32[this.hartField(h, L.H_MIP) >>> 2] & this.u32[this.hartField(h, L.H_MIE) >>> 2];
  }
  /** A 64-bit hart-state field of hart h as a number (cycles, instret). */
  hartNum(h: number, addr: number): number {
    return this.getNum(this.hartField(h, addr));
  }
  setHartNum(h: number, addr: number, v: number): void {
    this.setNum(this.hartField(h, addr), v);
  }
  hart64(h: number, addr: number): bigint {
    return this.get64(this.hartField(h, addr));
  }
  setHart64(h: number, addr: number, v: bigint): void {
    this.set64(this.hartField(h, addr), v);
  }

  /** Drive an mip bit (CLINT, PLIC). Takes effect at the next block boundary. */
  setMip(bit: number, level: boolean): void {
    this.setMipOf(this.activeHart, bit, level);
  }
  get mip(): number {
    return this.u32[L.H_MIP >>> 2];
  }
  get mie(): number {
    return this.u32[L.H_MIE >>> 2];
  }
  /** Cycles per mtime tick and the CLINT's mtime offset, mirrored for the `time` CSR. */
  setTimebase(cyclesPerTick: number, offsetTicks: bigint): void {
    // Time is machine-wide: every hart's copy of the time base changes together.
    for (let h = 0; h < Math.max(1, this.hartCount); h++) {
      this.setNum(this.hartField(h, L.H_TIME_DIV), cyclesPerTick);
      this.set64(this.hartField(h, L.H_TIME_OFS), offsetTicks);
    }
    this.ex.timebaseChanged();
  }
  setLatencies(lat: ArrayLike<number>): void {
    for (let i = 0; i < TIMING_CLASS_COUNT; i++) this.ex.setLatency(i, lat[i] ?? 0);
  }
  addWatch(base: number, end: number): void {
    if (this.ex.addWatch(BigInt(base), BigInt(end)) !== 0) throw new Error('core: too many watched ranges');
  }

  /** Retired instructions per timing class (branchTaken and trap count events, not instructions). */
  classCounts(): Record<TimingClass, number> {
    this.jit?.foldCounts(); // compiled code counts its exits; the host folds them in (jit.ts ExitCounters)
    const out = {} as Record<TimingClass, number>;
    TIMING_CLASSES.forEach((c, i) => (out[c] = this.getNum(L.CLS_BASE + (i + 1) * 8)));
    return out;
  }
  get exceptions(): number {
    return this.getNum(L.H_EXCEPTIONS);
  }
  get interrupts(): number {
    return this.getNum(L.H_INTERRUPTS);
  }
  get unmappedAccesses(): number {
    return this.getNum(L.C_UNMAPPED);
  }
  get frameFills(): number {
    return this.getNum(L.C_FRAME_FILLS);
  }
  get smcInvalidations(): number {
    return this.getNum(L.C_SMC_INVAL);
  }

  // --- guest memory
  inRam(pa: number, len: number): boolean {
    return pa >= RAM_BASE && pa + len <= RAM_BASE + this.ramBytes;
  }
  /** Copy bytes into guest RAM at physical `pa` (forgets decoded code there). */
  writePhys(pa: number, data: Uint8Array): void {
    if (!this.inRam(pa, data.length)) throw new Error(`write of ${data.length} bytes at 0x${pa.toString(16)} is outside RAM`);
    this.ram.set(data, pa - RAM_BASE);
    this.ex.invalidatePhys(BigInt(pa), BigInt(data.length));
  }
  readPhys(pa: number, len: number): Uint8Array {
    if (!this.inRam(pa, len)) throw new Error(`read of ${len} bytes at 0x${pa.toString(16)} is outside RAM`);
    return this.ram.slice(pa - RAM_BASE, pa - RAM_BASE + len);
  }
  /** Zero guest RAM [pa, pa+len). */
  zeroPhys(pa: number, len: number): void {
    if (!this.inRam(pa, len)) throw new Error(`zero of ${len} bytes at 0x${pa.toString(16)} is outside RAM`);
    // Memory already zero is not written: RAM the host never touched (a new VM's chunks) reads
    // as the OS's shared zero page, and writing it would commit every page of it (a 256 MiB VM's
    // wipe took ~0.5 s of CPU and 256 MiB of resident memory before any guest ran).
    if (!allZero(this.ram, pa - RAM_BASE, len)) this.ram.fill(0, pa - RAM_BASE, pa - RAM_BASE + len);
    this.ex.invalidatePhys(BigInt(pa), BigInt(len));
  }
  u8view(): Uint8Array {
    return this.u8;
  }

  // --- host-VMM mode (assembly/vmexit.ts, src/vcpu.ts; docs/ARCHITECTURE.md §7)
  private vmmEntryCycles = 0;
  /**
   * Host-VMM mode: from now on a trap from V = 1 that hedeleg/hideleg does not delegate to VS, and
   * every HS/M interrupt taken at V = 1, ends run() with RunStatus.VmExit (see vmExit()) instead of
   * entering HS/M (there is no firmware). Turning it on also sets up the delegation a hypervisor
   * has under OpenSBI: medeleg delegates everything delegatable to HS (so hedeleg alone decides what
   * the guest handles), hedeleg = KVM's (misaligned fetch, breakpoint, U-mode ecall, page faults),
   * hideleg = the VS interrupts, and PMP entry 0 opens all memory if no entry is set (those CSRs
   * on the running hart: with several harts, call it once per hart after switchHart). `costs` are charged per exit (by the core) and per entry
   * (loadVcpu / resumeVcpu). Survives reset.
   */
  setVmmMode(on: boolean, costs: VmmCosts = { exitCycles: 0, entryCycles: 0 }): void {
    this.ex.setVmm(on ? 1 : 0, costs.exitCycles);
    this.vmmEntryCycles = costs.entryCycles;
    if (!on) return;
    this.set64(L.H_MEDELEG, 0xf0b7ffn); // causes 0-10, 12, 13, 15, 20-23 (11: M ecall, never)
    // PMP as a firmware leaves it for S-mode when none is configured: one NAPOT entry over all
    // memory, RWX (without any entry, S/U/VS/VU accesses fail; Priv 1.12 §3.7.1).
    if (this.get64(L.H_PMP_ACTIVE) === 0n) {
      this.set64(L.H_PMPADDR, (1n << 54n) - 1n);
      this.u8[L.H_PMPCFG] = 0x1f;
      this.set64(L.H_PMP_ACTIVE, 1n);
      this.ex.flushTlb();
    }
    this.set64(L.H_HEDELEG, (1n << 0n) | (1n << 3n) | (1n << 8n) | (1n << 12n) | (1n << 13n) | (1n << 15n));
    this.set64(L.H_HIDELEG, VS_INTS);
  }
  get vmmMode(): boolean {
    return this.u32[L.C_VMM >>> 2] !== 0;
  }
  /** The record of the last VM exit (valid after run() returned RunStatus.VmExit). */
  vmExit(): VmExit {
    const cause = this.get64(L.C_VMX_CAUSE);
    const len = this.u32[L.C_VMX_LEN >>> 2]!;
    return {
      cause: Number(cause & ((1n << 63n) - 1n)),
      interrupt: (cause >> 63n) !== 0n,
      stval: this.get64(L.C_VMX_TVAL),
      htval: this.get64(L.C_VMX_HTVAL),
      htinst: this.get64(L.C_VMX_HTINST),
      gva: this.get64(L.C_VMX_GVA) !== 0n,
      pc: this.get64(L.C_VMX_PC),
      insn: Number(this.get64(L.C_VMX_INSN) & 0xffffffffn),
      length: len,
    };
  }
  /** VM exits taken since reset. */
  get vmExits(): number {
    return this.getNum(L.C_VMX_EXITS);
  }
  /**
   * Load a vCPU context into the running hart (V = 1, the guest's privilege and pc): the LR/SC
   * reservation is dropped, the guest host-TLB sets are flushed, vstimecmp's deadline and VSTIP
   * recomputed; charges the entry cost.
   */
  loadVcpu(c: VcpuContext): void {
    for (let r = 1; r < 32; r++) this.setX(r, c.x[r] ?? 0n);
    for (let r = 0; r < 32; r++) this.setF(r, c.f[r] ?? 0n);
    this.fcsr = c.fcsr;
    for (const [k, addr] of VCPU_CSR_FIELDS) this.set64(addr, c[k] as bigint);
    this.set64(L.H_MIE, (this.get64(L.H_MIE) & ~VS_INTS) | (c.hie & VS_INTS));
    this.set64(L.H_PRIV, BigInt(c.priv));
    this.set64(L.H_VIRT, 1n);
    this.pc = c.pc;
    this.ex.vcpuLoaded();
    this.cycles += this.vmmEntryCycles;
  }
  /** Copy the running guest's context out (after a VM exit, or any time V = 1). */
  saveVcpu(): VcpuContext {
    const c = {
      x: Array.from({ length: 32 }, (_, r) => (r === 0 ? 0n : this.x(r))),
      f: Array.from({ length: 32 }, (_, r) => this.f(r)),
      fcsr: this.fcsr,
      pc: this.pc,
      priv: (this.priv === 0 ? 0 : 1) as 0 | 1,
      hie: this.get64(L.H_MIE) & VS_INTS,
    } as VcpuContext;
    for (const [k, addr] of VCPU_CSR_FIELDS) (c as unknown as Record<string, bigint>)[k] = this.get64(addr);
    return c;
  }
  /** Re-enter the guest that exited (same context, state as the host left it): charges the entry cost. */
  resumeVcpu(): void {
    this.cycles += this.vmmEntryCycles;
  }
  /**
   * Deliver exception `cause` with `tval` to the running guest's vstvec, exactly as a VS-mode trap
   * entry does (vsepc = pc, vscause, vstval, vsstatus.SPP/SPIE/SIE, VS-mode); the next run()
   * starts the guest's handler.
   */
  injectVS(cause: number | bigint, tval: bigint): void {
    if (this.ex.injectVS(BigInt(cause), tval) !== 0) throw new Error('core: injectVS needs a running guest (V = 1)');
  }
  /** Host-physical address of a guest-physical one (hgatp of the running hart), or null. */
  gpaToHpa(gpa: bigint): bigint | null {
    const a = this.ex.gpaToHpa(gpa);
    return a === 0xffffffffffffffffn || a === -1n ? null : BigInt.asUintN(64, a);
  }
  /** Host-physical address of a guest-virtual one (vsatp, then hgatp), or null. */
  gvaToHpa(gva: bigint): bigint | null {
    const a = this.ex.gvaToHpa(gva);
    return a === 0xffffffffffffffffn || a === -1n ? null : BigInt.asUintN(64, a);
  }
  /**
   * Read `len` bytes of guest memory by guest-physical (`'gpa'`) or guest-virtual (`'gva'`) address,
   * page by page through the running guest's translation, without side effects (no A/D update, no
   * trap); null when any page does not translate to RAM.
   */
  readGuest(kind: 'gpa' | 'gva', addr: bigint, len: number): Uint8Array | null {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = addr + BigInt(done);
      const n = Math.min(len - done, 4096 - Number(a & 0xfffn));
      const hpa = kind === 'gpa' ? this.gpaToHpa(a) : this.gvaToHpa(a);
      if (hpa === null || !this.inRam(Number(hpa), n)) return null;
      out.set(this.ram.subarray(Number(hpa) - RAM_BASE, Number(hpa) - RAM_BASE + n), done);
      done += n;
    }
    return out;
  }
  /** Write guest memory like readGuest reads it (decoded code there is forgotten); false if unmapped. */
  writeGuest(kind: 'gpa' | 'gva', addr: bigint, data: Uint8Array): boolean {
    const pieces: Array<[number, number, number]> = [];
    let done = 0;
    while (done < data.length) {
      const a = addr + BigInt(done);
      const n = Math.min(data.length - done, 4096 - Number(a & 0xfffn));
      const hpa = kind === 'gpa' ? this.gpaToHpa(a) : this.gvaToHpa(a);
      if (hpa === null || !this.inRam(Number(hpa), n)) return false;
      pieces.push([Number(hpa), done, n]);
      done += n;
    }
    // Every page translated: only now write (all or nothing).
    for (const [hpa, off, n] of pieces) this.writePhys(hpa, data.subarray(off, off + n));
    return true;
  }
  /**
   * Host-side hfence.gvma on every hart: VMID `vmid` (undefined: all VMIDs), optionally only the
   * guest-physical range [gpa, gpa + len).
   */
  hfenceGvma(vmid?: number, range?: { gpa: bigint; len: bigint }): void {
    this.ex.hostHfenceGvma(vmid ?? 0, vmid === undefined ? 1 : 0, range ? 1 : 0, range?.gpa ?? 0n, range?.len ?? 0n);
  }
}
