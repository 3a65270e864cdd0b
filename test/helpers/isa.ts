/**
 * Helpers for the per-instruction ISA tests (test/isa/): 64-bit constant loading, a tiny two-pass
 * assembler with labels, and a runner that gives every program a trap handler (a `wfi`) so a test
 * can end with `wfi` or with a trap and then inspect registers, CSRs and counters.
 */
import { expect } from 'vitest';
import { Core, RAM_BASE, RunStatus } from '../../src/core.js';
import * as L from '../../src/generated/layout.js';
import { encode } from '../../src/isa/encode.js';
import { assemble, FakeMmio, makeCore, type Insn } from './core-harness.js';

export { RAM_BASE, RunStatus };
export type { Insn };

// ---------------------------------------------------------------------------------------------
// BigInt arithmetic helpers (all register values are unsigned 64-bit bigints, as Core.x returns).
export const MASK64 = (1n << 64n) - 1n;
export const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
export const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
export const u32 = (v: bigint): bigint => BigInt.asUintN(32, v);
export const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
/** Sign-extend the low `bits` bits of v to 64 bits, returned unsigned. */
export const sext = (v: bigint, bits: number): bigint => BigInt.asUintN(64, BigInt.asIntN(bits, v));
export const zext = (v: bigint, bits: number): bigint => BigInt.asUintN(bits, v);
export const hex = (v: bigint | number): string => '0x' + BigInt(v).toString(16);

// ---------------------------------------------------------------------------------------------
// li: load any 64-bit constant with lui/addi(w)/slli (the classic RISCVMatInt recursion).
/** Instruction sequence that sets register `rd` to `value` (taken modulo 2^64). */
export function li(rd: number, value: bigint): Insn[] {
  if (rd === 0) throw new Error('li x0');
  return liSigned(rd, BigInt.asIntN(64, value));
}

function liSigned(rd: number, v: bigint): Insn[] {
  if (v >= -(1n << 31n) && v < 1n << 31n) {
    const lo = BigInt.asIntN(12, v);
    const hi = (v - lo) >> 12n;
    if (hi === 0n) return [['addi', { rd, rs1: 0, imm: Number(lo) }]];
    // hi may be 0x80000 (v just below 2^31): lui then gives a negative value and addiw wraps it back.
    const out: Insn[] = [['lui', { rd, imm: Number(BigInt.asIntN(20, hi) << 12n) }]];
    if (lo !== 0n) out.push(['addiw', { rd, rs1: rd, imm: Number(lo) }]);
    return out;
  }
  const lo = BigInt.asIntN(12, v);
  let hi = (v - lo) >> 12n;
  let sh = 12;
  while ((hi & 1n) === 0n) {
    hi >>= 1n;
    sh++;
  }
  const out = [...liSigned(rd, hi), ['slli', { rd, rs1: rd, imm: sh }] as Insn];
  if (lo !== 0n) out.push(['addi', { rd, rs1: rd, imm: Number(lo) }]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// A two-pass assembler with labels. Items: an instruction, a list of instructions, a label, raw
// bytes, an alignment request, or a function of (its own address, label lookup) returning ONE
// instruction whose length does not depend on the label values (branches, jumps, auipc offsets).
export interface Label {
  label: string;
}
export interface Org {
  /** Pad with c.nop / nop up to this address (absolute). */
  org: number;
}
export type LabelFn = (at: number, lab: (name: string) => number) => Insn;
export type AsmItem = Insn | Insn[] | Label | Org | Uint8Array | LabelFn;

export const label = (name: string): Label => ({ label: name });
export const org = (addr: number): Org => ({ org: addr });

function insnBytes(i: Insn): Uint8Array {
  return assemble([i]);
}

function isInsn(x: unknown): x is Insn {
  return typeof x === 'number' || (Array.isArray(x) && typeof x[0] === 'string');
}

export interface Assembled {
  bytes: Uint8Array;
  base: number;
  labels: Record<string, number>;
  /** Address of a label (throws if unknown). */
  at(name: string): number;
}

export function asm(items: AsmItem[], base: number = RAM_BASE): Assembled {
  const pass = (labels: Record<string, number> | null): { bytes: number[]; labels: Record<string, number> } => {
    const out: number[] = [];
    const found: Record<string, number> = {};
    const lab = (n: string): number => {
      if (labels === null) return base + out.length; // first pass: offset 0 (same length)
      const v = labels[n];
      if (v === undefined) throw new Error(`asm: unknown label ${n}`);
      return v;
    };
    const push = (b: Uint8Array) => out.push(...b);
    const emit = (it: AsmItem): void => {
      if (it instanceof Uint8Array) push(it);
      else if (typeof it === 'function') push(insnBytes(it(base + out.length, lab)));
      else if (isInsn(it)) push(insnBytes(it));
      else if (Array.isArray(it)) for (const x of it) emit(x);
      else if ('label' in it) {
        if (it.label in found) throw new Error(`asm: duplicate label ${it.label}`);
        found[it.label] = base + out.length;
      } else if ('org' in it) {
        const target = it.org - base;
        if (target < out.length || (target - out.length) % 2) throw new Error(`asm: cannot org to ${hex(it.org)}`);
        while (out.length + 4 <= target) push(insnBytes(['addi', { rd: 0, rs1: 0, imm: 0 }]));
        while (out.length < target) push(insnBytes(['c.addi', { rd: 0, imm: 0 }]));
      }
    };
    for (const it of items) emit(it);
    return { bytes: out, labels: found };
  };
  const first = pass(null);
  const second = pass(first.labels);
  if (second.bytes.length !== first.bytes.length) throw new Error('asm: label-dependent item changed length');
  for (const k of Object.keys(first.labels))
    if (first.labels[k] !== second.labels[k]) throw new Error('asm: labels moved between passes');
  return {
    bytes: Uint8Array.from(second.bytes),
    base,
    labels: second.labels,
    at(name: string) {
      const v = second.labels[name];
      if (v === undefined) throw new Error(`asm: unknown label ${name}`);
      return v;
    },
  };
}

/** Branch/jump helpers for asm(): `br('beq', 5, 6, 'target')`. */
export const br =
  (name: string, rs1: number, rs2: number, target: string): LabelFn =>
  (at, lab) =>
    [name, { rs1, rs2, imm: lab(target) - at }];
export const cbr =
  (name: 'c.beqz' | 'c.bnez', rs1: number, target: string): LabelFn =>
  (at, lab) =>
    [name, { rs1, imm: lab(target) - at }];
export const jal =
  (rd: number, target: string): LabelFn =>
  (at, lab) =>
    ['jal', { rd, imm: lab(target) - at }];
export const cj =
  (target: string): LabelFn =>
  (at, lab) =>
    ['c.j', { imm: lab(target) - at }];
/** `auipc rd, 0` is label-free; this gives a pc-relative (12-bit) offset from `from` to `to`. */
export const pcrel =
  (name: string, ops: { rd?: number; rs1?: number; rs2?: number }, from: string, to: string): LabelFn =>
  (_at, lab) =>
    [name, { ...ops, imm: lab(to) - lab(from) }];

// ---------------------------------------------------------------------------------------------
// Running programs.
export const CODE = RAM_BASE;
/** The default trap handler: a single `wfi` (so a trap ends the run with status Wfi). */
export const HANDLER = RAM_BASE + 0xf0000;
/** A scratch data area, far from code (code may use the first 512 KiB). */
export const DATA = RAM_BASE + 0x80000;
/** An address outside RAM where tests install FakeMmio regions. */
export const MMIO = 0x1000_0000;

export const WFI: Insn = ['wfi'];
/** The instruction word of an Insn. */
export const enc = (i: Insn): number => (typeof i === 'number' ? i : encode(i[0], i[1] ?? {}));

export interface ExecOptions {
  ramBytes?: number;
  mmio?: FakeMmio;
  /** Instruction limit for this run (default 100k). */
  maxInsns?: number;
  /** Install the `wfi` handler at HANDLER and point mtvec at it (default true). */
  handler?: boolean;
  /** Load address of the program (default CODE). */
  at?: number;
  /** Called after the program and handler are loaded, before running (data, registers, latencies). */
  setup?: (core: Core) => void;
  /** Latency array (default: test/helpers/latency.ts). */
  latencies?: number[];
}

export interface ExecResult {
  core: Core;
  mmio: FakeMmio;
  status: RunStatus;
}

/** Create a core, load `prog` and run it; guards against runaway programs with a cycle deadline. */
export function exec(prog: Insn[] | Uint8Array | Assembled, opts: ExecOptions = {}): ExecResult {
  const { core, mmio } = prepare(prog, opts);
  const status = runFor(core, opts.maxInsns ?? 100_000);
  return { core, mmio, status };
}

/** Like exec() but does not run: returns the loaded core with pc at the program start. */
export function prepare(prog: Insn[] | Uint8Array | Assembled, opts: ExecOptions = {}): { core: Core; mmio: FakeMmio } {
  const { core, mmio } = makeCore(opts.ramBytes ?? 1 << 20, opts.mmio ?? new FakeMmio());
  if (opts.latencies) core.setLatencies(opts.latencies);
  load(core, prog, opts);
  return { core, mmio };
}

function load(core: Core, prog: Insn[] | Uint8Array | Assembled, opts: ExecOptions): void {
  const bytes = prog instanceof Uint8Array ? prog : Array.isArray(prog) ? assemble(prog) : prog.bytes;
  const at = opts.at ?? (Array.isArray(prog) || prog instanceof Uint8Array ? CODE : prog.base);
  if (opts.handler ?? true) {
    core.writePhys(HANDLER, assemble([WFI]));
    setCsrDirect(core, 'mtvec', BigInt(HANDLER));
  }
  core.writePhys(at, bytes);
  core.pc = BigInt(at);
  opts.setup?.(core);
}

/** Run the loaded core for at most `maxInsns` instructions (and a generous cycle deadline). */
export function runFor(core: Core, maxInsns: number): RunStatus {
  core.insnLimit = core.instret + maxInsns;
  core.deadline = core.cycles + 50_000_000;
  return core.run();
}

const CSR_FIELDS = {
  mstatus: L.H_MSTATUS,
  mtvec: L.H_MTVEC,
  mepc: L.H_MEPC,
  mcause: L.H_MCAUSE,
  mtval: L.H_MTVAL,
  mie: L.H_MIE,
  mip: L.H_MIP,
  mscratch: L.H_MSCRATCH,
  medeleg: L.H_MEDELEG,
  mideleg: L.H_MIDELEG,
  mcounteren: L.H_MCOUNTEREN,
  menvcfg: L.H_MENVCFG,
  stvec: L.H_STVEC,
  sscratch: L.H_SSCRATCH,
  sepc: L.H_SEPC,
  scause: L.H_SCAUSE,
  stval: L.H_STVAL,
  satp: L.H_SATP,
  scounteren: L.H_SCOUNTEREN,
  stimecmp: L.H_STIMECMP,
} as const;
export type DirectCsr = keyof typeof CSR_FIELDS;

/**
 * Read a CSR straight from the hart state block (no instruction executed). setCsrDirect bypasses
 * the CSR's WARL rules and side effects (TLB flushes, Sstc): use it only for plain registers
 * (trap vectors, scratch, epc/cause/tval) or before the first run.
 */
export function csrOf(core: Core, name: DirectCsr): bigint {
  return core.get64(CSR_FIELDS[name]);
}
export function setCsrDirect(core: Core, name: DirectCsr, v: bigint): void {
  core.set64(CSR_FIELDS[name], v);
}

/** Registers x0..x31 as bigints. */
export function regs(core: Core): bigint[] {
  return Array.from({ length: 32 }, (_, i) => core.x(i));
}

/** Read a little-endian unsigned integer of `n` bytes from guest RAM. */
export function readLE(core: Core, pa: number, n: number): bigint {
  const b = core.readPhys(pa, n);
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}
export function writeLE(core: Core, pa: number, n: number, v: bigint): void {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  core.writePhys(pa, b);
}

/** A deterministic PRNG (xorshift64*), so failures reproduce. */
export class Rng {
  private s: bigint;
  constructor(seed: number) {
    this.s = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
    this.s &= MASK64;
    if (this.s === 0n) this.s = 1n;
  }
  next64(): bigint {
    let x = this.s;
    x ^= x >> 12n;
    x ^= (x << 25n) & MASK64;
    x ^= x >> 27n;
    this.s = x;
    return (x * 0x2545f4914f6cdd1dn) & MASK64;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Number(this.next64() % BigInt(n));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

/** Interesting 64-bit operand values for ALU tables. */
export const EDGE64: readonly bigint[] = [
  0n,
  1n,
  2n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffn,
  0xffffn,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  0x123456789abcdef0n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xffffffff80000000n,
  0xfffffffffffffffen,
  0xffffffffffffffffn,
  0xdeadbeefcafef00dn,
];

// ---------------------------------------------------------------------------------------------
// Expectations

/** The run ended at the program's final `wfi` without taking any trap. Returns the core. */
export function expectClean(r: ExecResult): Core {
  const c = r.core;
  const got = { status: r.status, exceptions: c.exceptions, interrupts: c.interrupts };
  const want = { status: RunStatus.Wfi, exceptions: 0, interrupts: 0 };
  expect(got, `unexpected trap: mcause ${hex(csrOf(c, 'mcause'))} mtval ${hex(csrOf(c, 'mtval'))} mepc ${hex(csrOf(c, 'mepc'))}`).toEqual(want);
  return c;
}

/** exec() and expectClean(). */
export function run(prog: Insn[] | Uint8Array | Assembled, opts: ExecOptions = {}): Core {
  return expectClean(exec(prog, opts));
}

export interface TrapExpect {
  cause: bigint | number;
  tval?: bigint | number;
  epc?: bigint | number;
}

/** The run took exactly one trap, into the default handler, with these mcause/mtval/mepc. */
export function expectTrap(r: ExecResult, t: TrapExpect): Core {
  const c = r.core;
  const got: Record<string, unknown> = {
    status: r.status,
    exceptions: c.exceptions,
    pc: hex(c.pc),
    mcause: hex(csrOf(c, 'mcause')),
  };
  const want: Record<string, unknown> = {
    status: RunStatus.Wfi,
    exceptions: 1,
    pc: hex(HANDLER + 4),
    mcause: hex(BigInt(t.cause)),
  };
  if (t.tval !== undefined) {
    got.mtval = hex(csrOf(c, 'mtval'));
    want.mtval = hex(u64(BigInt(t.tval)));
  }
  if (t.epc !== undefined) {
    got.mepc = hex(csrOf(c, 'mepc'));
    want.mepc = hex(BigInt(t.epc));
  }
  expect(got).toEqual(want);
  return c;
}

/**
 * Run many independent snippets in ONE program: after snippet i, register `reg` is stored to
 * DATA + 8 i. x31 is the result pointer, so snippets must not touch it. Returns the results.
 */
export function runBatch(snippets: Insn[][], reg = 7, opts: ExecOptions = {}): bigint[] {
  const prog: Insn[] = [...li(31, BigInt(DATA))];
  for (const s of snippets) prog.push(...s, ['sd', { rs1: 31, rs2: reg, imm: 0 }], ['addi', { rd: 31, rs1: 31, imm: 8 }]);
  prog.push(WFI);
  const core = run(prog, { maxInsns: 1_000_000, ...opts });
  return snippets.map((_, i) => readLE(core, DATA + 8 * i, 8));
}

// ---------------------------------------------------------------------------------------------
// Privileged architecture (M/S/U hart, Priv 1.12): CSR numbers, CSR instruction shorthands,
// mode switches, PMP and page tables.

/** Privilege levels as the core encodes them (core.priv). */
export const PRV_U = 0, PRV_S = 1, PRV_M = 3;
export type Priv = typeof PRV_U | typeof PRV_S | typeof PRV_M;

/** CSR numbers (Priv 1.12 tables 2.2-2.5). */
export const CSR = {
  sstatus: 0x100, sie: 0x104, stvec: 0x105, scounteren: 0x106, senvcfg: 0x10a, sscratch: 0x140, sepc: 0x141,
  scause: 0x142, stval: 0x143, sip: 0x144, stimecmp: 0x14d, satp: 0x180,
  mstatus: 0x300, misa: 0x301, medeleg: 0x302, mideleg: 0x303, mie: 0x304, mtvec: 0x305, mcounteren: 0x306,
  menvcfg: 0x30a, mscratch: 0x340, mepc: 0x341, mcause: 0x342, mtval: 0x343, mip: 0x344,
  pmpcfg0: 0x3a0, pmpcfg2: 0x3a2, pmpaddr0: 0x3b0,
  mcycle: 0xb00, minstret: 0xb02, cycle: 0xc00, time: 0xc01, instret: 0xc02, hpmcounter3: 0xc03, mhartid: 0xf14,
} as const;

/** mstatus fields (Priv 1.12 §3.1.6). */
export const MS = {
  SIE: 1n << 1n, MIE: 1n << 3n, SPIE: 1n << 5n, MPIE: 1n << 7n, SPP: 1n << 8n, MPP: 3n << 11n,
  MPRV: 1n << 17n, SUM: 1n << 18n, MXR: 1n << 19n, TVM: 1n << 20n, TW: 1n << 21n, TSR: 1n << 22n,
  /** UXL = SXL = 2 (64-bit), read-only: always set. */
  XL: (2n << 32n) | (2n << 34n),
} as const;
/** mstatus.MPP = p as a field value. */
export const mpp = (p: Priv): bigint => BigInt(p) << 11n;

/** Interrupt numbers (mip/mie bit positions, cause codes). */
export const IRQ = { SSI: 1, MSI: 3, STI: 5, MTI: 7, SEI: 9, MEI: 11 } as const;
/** Bit 63 of mcause/scause: interrupt. */
export const INTERRUPT = 1n << 63n;

/** An M-mode trap handler that skips the trapping 4-byte instruction: mepc += 4 (via x28), mret. */
export const skipAndReturn = (): Insn[] => [
  ['csrrs', { rd: 28, rs1: 0, imm: 0x341 }],
  ['addi', { rd: 28, rs1: 28, imm: 4 }],
  ['csrrw', { rd: 0, rs1: 28, imm: 0x341 }],
  ['mret'],
];
export const csrr = (rd: number, csr: number): Insn => ['csrrs', { rd, rs1: 0, imm: csr }];
export const csrw = (csr: number, rs1: number): Insn => ['csrrw', { rd: 0, rs1, imm: csr }];
export const csrs = (csr: number, rs1: number): Insn => ['csrrs', { rd: 0, rs1, imm: csr }];
export const csrc = (csr: number, rs1: number): Insn => ['csrrc', { rd: 0, rs1, imm: csr }];
/** csr = value (any 64-bit constant) through register `tmp`. */
export const csrwi64 = (csr: number, value: bigint, tmp = 5): Insn[] => [...li(tmp, value), csrw(csr, tmp)];
/** csr |= value through `tmp`. */
export const csrsi64 = (csr: number, value: bigint, tmp = 5): Insn[] => [...li(tmp, value), csrs(csr, tmp)];
/** csr &= ~value through `tmp`. */
export const csrci64 = (csr: number, value: bigint, tmp = 5): Insn[] => [...li(tmp, value), csrc(csr, tmp)];

/** PMP configuration bits (Priv 1.12 §3.7.1). */
export const PMP = { R: 1, W: 2, X: 4, OFF: 0, TOR: 0x08, NA4: 0x10, NAPOT: 0x18, L: 0x80 } as const;
/** pmpaddr value of a NAPOT region [base, base + size) (size a power of two >= 8, base aligned). */
export const napot = (base: bigint, size: bigint): bigint => (base >> 2n) | ((size >> 3n) - 1n);
/** pmpaddr that makes a NAPOT entry cover the whole 56-bit physical address space. */
export const PMPADDR_ALL = (1n << 54n) - 1n;

/**
 * M-mode prologue: PMP entry 0 = NAPOT over all memory, RWX. S/U accesses that match no PMP entry
 * fail on this hart (16 entries implemented), so every program that runs S/U code needs it.
 */
export function pmpAllowAll(tmp = 5): Insn[] {
  return [...csrwi64(CSR.pmpaddr0, PMPADDR_ALL, tmp), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NAPOT | PMP.R | PMP.W | PMP.X), tmp)];
}

/**
 * M-mode sequence that continues at the next instruction in privilege `mode`: MPP = mode,
 * mepc = the address after the mret, mret. Clobbers `tmp`, mepc and (as mret does) MIE <- MPIE,
 * MPIE <- 1, and MPRV when `mode` is below M.
 */
export function enterMode(mode: Priv, tmp = 5): Insn[] {
  const out: Insn[] = [...csrci64(CSR.mstatus, MS.MPP, tmp)];
  if (mode !== PRV_U) out.push(...csrsi64(CSR.mstatus, mpp(mode), tmp));
  // auipc, addi, csrw, mret: the next instruction is 16 bytes after the auipc.
  out.push(['auipc', { rd: tmp, imm: 0 }], ['addi', { rd: tmp, rs1: tmp, imm: 16 }], csrw(CSR.mepc, tmp), ['mret']);
  return out;
}

/** Page-table entry bits (Priv 1.12 §4.3.1). */
export const PTE = { V: 1n, R: 2n, W: 4n, X: 8n, U: 16n, G: 32n, A: 64n, D: 128n } as const;
/** satp MODE values. */
export const SATP_MODE = { Bare: 0, Sv39: 8, Sv48: 9, Sv57: 10 } as const;

export interface PageMap {
  va: bigint;
  pa: bigint;
  flags: bigint;
  /** Leaf level: 0 = 4 KiB page, 1 = 2 MiB megapage, ... (default 0). */
  level?: number;
}

/**
 * Write Sv39/Sv48/Sv57 page tables for `maps` into guest RAM, allocating 4 KiB tables from
 * `tableBase` upward (the same scheme as test/core/mmu.test.ts). Returns the satp value (ASID 0).
 * Non-leaf PTEs are V only; leaves are written exactly with `flags`.
 */
export function buildPageTables(core: Core, mode: 8 | 9 | 10, maps: PageMap[], tableBase = RAM_BASE + 0xc0000): bigint {
  const levels = mode - 5;
  let next = BigInt(tableBase);
  const alloc = (): bigint => {
    const p = next;
    next += 4096n;
    core.zeroPhys(Number(p), 4096);
    return p;
  };
  const root = alloc();
  const rd = (pa: bigint): bigint => readLE(core, Number(pa), 8);
  const wr = (pa: bigint, v: bigint): void => writeLE(core, Number(pa), 8, v);
  for (const m of maps) {
    const leafLevel = m.level ?? 0;
    let table = root;
    for (let lvl = levels - 1; lvl >= leafLevel; lvl--) {
      const pteAddr = table + ((m.va >> BigInt(12 + 9 * lvl)) & 0x1ffn) * 8n;
      if (lvl === leafLevel) {
        wr(pteAddr, ((m.pa >> 12n) << 10n) | m.flags);
      } else {
        let pte = rd(pteAddr);
        if ((pte & PTE.V) === 0n) {
          pte = ((alloc() >> 12n) << 10n) | PTE.V;
          wr(pteAddr, pte);
        }
        table = (pte >> 10n) << 12n;
      }
    }
  }
  return (BigInt(mode) << 60n) | (root >> 12n);
}

/** Physical address of the PTE that maps `va` at `level` in the tables of `satp` (tables must exist). */
export function pteAddress(core: Core, satp: bigint, va: bigint, level = 0): bigint {
  const levels = Number(satp >> 60n) - 5;
  let table = (satp & 0xfff_ffff_ffffn) << 12n;
  for (let lvl = levels - 1; ; lvl--) {
    const addr = table + ((va >> BigInt(12 + 9 * lvl)) & 0x1ffn) * 8n;
    if (lvl === level) return addr;
    table = (readLE(core, Number(addr), 8) >> 10n) << 12n;
  }
}
