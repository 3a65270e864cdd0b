/**
 * The TypeScript face of core.wasm: instantiation, the MMIO import bridge, and typed access to the
 * hart state through the generated layout (src/generated/layout.ts, from assembly/layout.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as L from './generated/layout.js';
import { TIMING_CLASSES, TIMING_CLASS_COUNT, type TimingClass } from './isa/classes.js';
import type { AccessSize } from './bus/types.js';

export const enum RunStatus {
  Deadline = 0,
  InsnLimit = 1,
  Wfi = 2,
  Stop = 3,
  /** S-mode ecall with a host SBI installed (see setHostSbi); pc is at the ecall. */
  Sbi = 4,
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
  setHarts(n: number): number;
  saveHart(): void;
  switchHart(h: number): void;
  flushHartTlb(h: number): void;
  setHypervisor(on: number): void;
  hfenceHart(h: number): void;
}

const here = dirname(fileURLToPath(import.meta.url));
/** build/core.wasm, found from src/ (tsx, vitest) or dist/src/ (compiled). */
export function defaultWasmPath(debug = false): string {
  const name = debug ? 'core.debug.wasm' : 'core.wasm';
  for (const p of [join(here, '..', 'build', name), join(here, '..', '..', 'build', name)]) {
    if (existsSync(p)) return p;
  }
  throw new Error(`core.wasm not found (looked in build/ next to the sources): run \`npm run build\``);
}

/**
 * V8 compiles wasm first with its baseline compiler (Liftoff) and tiers up to TurboFan in the
 * background, but a function already running never switches tier (no on-stack replacement for
 * wasm). The run loop is one long-running function, so ask for TurboFan from the start: 2-3x the
 * guest MIPS (bench/). Process-wide V8 flag; call before the first Core is created. The CLI and the
 * benchmarks call it; embedders may choose not to.
 */
export function useOptimizingCompiler(): void {
  if (moduleCache.size === 0) v8.setFlagsFromString('--no-liftoff');
}

const moduleCache = new Map<string, WebAssembly.Module>();
function compile(path: string): WebAssembly.Module {
  let m = moduleCache.get(path);
  if (!m) {
    m = new WebAssembly.Module(readFileSync(path));
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
      },
    };
    const inst = new WebAssembly.Instance(compile(opts.wasmPath ?? defaultWasmPath()), imports);
    this.ex = inst.exports as unknown as CoreExports;
    this.ramBytes = opts.ramBytes;
    const st = this.ex.init(opts.ramBytes);
    if (st !== 0) throw new Error(`core: cannot allocate ${opts.ramBytes} bytes of guest RAM`);
    this.views();
    u32 = this.u32;
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

  run(): RunStatus {
    return this.ex.run() as RunStatus;
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
    this.ram.fill(0, pa - RAM_BASE, pa - RAM_BASE + len);
    this.ex.invalidatePhys(BigInt(pa), BigInt(len));
  }
  u8view(): Uint8Array {
    return this.u8;
  }
}
