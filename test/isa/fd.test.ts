/**
 * F and D extensions (Unprivileged ISA 20191213 ch. 11, 12; C.FLD/C.FSD/C.FLDSP/C.FSDSP from ch. 16)
 * and their privileged side (Priv 1.12 §3.1.6.6 mstatus.FS/SD): loads/stores (host-TLB fast path
 * and slow path), moves, NaN-boxing, sign injection, classify, the fflags/frm/fcsr CSRs, the
 * FS = Off and rounding-mode illegal-instruction rules, FS = Dirty tracking, compressed FP forms
 * against their expansions, and a handful of arithmetic results through the core (assembly/fpu.ts
 * has its own exhaustive tests).
 */
import { describe, expect, it } from 'vitest';
import type { Core } from '../../src/core.js';
import { encode, type Operands } from '../../src/isa/encode.js';
import { INSN_TABLE, lookup } from '../../src/isa/table.js';
import { FakeMmio, makeCore, runProgram } from '../helpers/core-harness.js';
import * as L from '../../src/generated/layout.js';
import {
  CSR,
  DATA,
  MMIO,
  PRV_U,
  RAM_BASE,
  enc,
  enterMode,
  exec,
  expectClean,
  expectTrap,
  hex,
  li,
  csrOf,
  csrr,
  csrw,
  csrwi64,
  csrsi64,
  pmpAllowAll,
  readLE,
  regs,
  run,
  runBatch,
  sext,
  writeLE,
  WFI,
  type Insn,
} from '../helpers/isa.js';

// ---------------------------------------------------------------------------------------------
// Values
const FFLAGS = 0x001, FRM = 0x002, FCSR = 0x003;
const FS_SHIFT = 13n;
const FS = { Off: 0n, Initial: 1n, Clean: 2n, Dirty: 3n } as const;
const SD = 1n << 63n;
const BOX = 0xffff_ffff_0000_0000n;
const NV = 0x10n, DZ = 0x08n, OF = 0x04n, NX = 0x01n;
const RNE = 0, RTZ = 1, RDN = 2, RUP = 3, RMM = 4, DYN = 7;

/** IEEE 754 bit patterns of JS numbers. */
function d(x: number): bigint {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, x, true);
  return v.getBigUint64(0, true);
}
function s(x: number): bigint {
  const v = new DataView(new ArrayBuffer(4));
  v.setFloat32(0, x, true);
  return BigInt(v.getUint32(0, true));
}
const boxed = (bits32: bigint): bigint => BOX | bits32;
const CANON_S = 0x7fc0_0000n;
const CANON_D = 0x7ff8_0000_0000_0000n;
const SNAN_S = 0x7f80_0001n;

/** A FakeMmio with one readable/writable region at [base, base + size) that reads `value`. */
function FakeMmioFor(base: number, size: number, value: bigint): FakeMmio {
  const m = new FakeMmio();
  m.regions.push({ base, size, read: (a, n) => (value >> BigInt(8 * (a & 7))) & ((1n << BigInt(8 * n)) - 1n), write: () => {} });
  return m;
}

const fsOf = (c: Core): bigint => (csrOf(c, 'mstatus') >> FS_SHIFT) & 3n;

// ---------------------------------------------------------------------------------------------
// Program pieces
/** mstatus.FS = `fs` (from M-mode), through x5. */
const setFs = (fs: bigint): Insn[] => [...li(5, 3n << FS_SHIFT), ['csrrc', { rd: 0, rs1: 5, imm: CSR.mstatus }], ...(fs ? csrsi64(CSR.mstatus, fs << FS_SHIFT) : [])];
const FS_ON = setFs(FS.Initial);
/** f[rd] = 64-bit pattern (through x5). */
const fld64 = (rd: number, bits: bigint): Insn[] => [...li(5, bits), ['fmv.d.x', { rd, rs1: 5 }]];
/** f[rd] = NaN-boxed single pattern (through x5). */
const fls = (rd: number, bits32: bigint): Insn[] => [...li(5, bits32), ['fmv.w.x', { rd, rs1: 5 }]];
/** x7 = f[rs] raw 64 bits. */
const toX7 = (rs: number): Insn => ['fmv.x.d', { rd: 7, rs1: rs }];

/** Run snippets with FS on; after each, x7 is collected (runBatch). */
function fbatch(snippets: Insn[][]): bigint[] {
  return runBatch([FS_ON, ...snippets]).slice(1);
}

/** One FP op on 64-bit patterns: f1 = a, f2 = b, f3 = c, then `op` into f4; returns [f4, fflags]. */
function fop(name: string, ops: Operands, a: bigint, b = 0n, c = 0n, frm = 0): [bigint, bigint] {
  const prog: Insn[] = [
    ...FS_ON,
    ...fld64(1, a),
    ...fld64(2, b),
    ...fld64(3, c),
    ...li(6, BigInt(frm)),
    csrw(FRM, 6),
    csrw(FFLAGS, 0),
    [name, ops],
    csrr(8, FFLAGS),
    WFI,
  ];
  const core = run(prog);
  return [core.f(4), core.x(8)];
}
/** Same, with the result in an integer register (x10). */
function fopx(name: string, ops: Operands, a: bigint, b = 0n, frm = 0): [bigint, bigint] {
  const core = run([...FS_ON, ...fld64(1, a), ...fld64(2, b), ...li(6, BigInt(frm)), csrw(FRM, 6), csrw(FFLAGS, 0), [name, ops], csrr(8, FFLAGS), WFI]);
  return [core.x(10), core.x(8)];
}

const FP_ROWS = INSN_TABLE.filter((r) => r.ext === 'F' || r.ext === 'D' || r.name.startsWith('c.f'));

// ---------------------------------------------------------------------------------------------
describe('misa, reset state, mstatus.FS/SD', () => {
  it('misa reports F (bit 5) and D (bit 3); FS resets to Off, fcsr and f0..f31 to 0', () => {
    const core = run([csrr(5, CSR.misa), csrr(6, CSR.mstatus), WFI]);
    expect((core.x(5) >> 5n) & 1n).toBe(1n);
    expect((core.x(5) >> 3n) & 1n).toBe(1n);
    expect((core.x(6) >> FS_SHIFT) & 3n).toBe(FS.Off);
    expect(core.x(6) & SD).toBe(0n);
    expect(core.fcsr).toBe(0);
    for (let r = 0; r < 32; r++) expect(core.f(r)).toBe(0n);
  });

  it.each([
    ['Off', FS.Off],
    ['Initial', FS.Initial],
    ['Clean', FS.Clean],
    ['Dirty', FS.Dirty],
  ] as const)('FS is writable (WARL, every value legal): %s; SD = (FS == Dirty) in mstatus and sstatus', (_n, fs) => {
    const core = run([...setFs(fs), csrr(10, CSR.mstatus), csrr(11, CSR.sstatus), WFI]);
    expect((core.x(10) >> FS_SHIFT) & 3n).toBe(fs);
    expect((core.x(11) >> FS_SHIFT) & 3n).toBe(fs);
    const sd = fs === FS.Dirty ? SD : 0n;
    expect(core.x(10) & SD).toBe(sd);
    expect(core.x(11) & SD).toBe(sd);
  });

  it('sstatus writes FS (S-mode owns the FP context switch); SD cannot be written', () => {
    const core = run([
      ...csrwi64(CSR.sstatus, FS.Clean << FS_SHIFT),
      csrr(10, CSR.mstatus),
      ...csrwi64(CSR.sstatus, SD), // SD alone: FS becomes Off, SD stays 0
      csrr(11, CSR.sstatus),
      WFI,
    ]);
    expect((core.x(10) >> FS_SHIFT) & 3n).toBe(FS.Clean);
    expect(core.x(11) & (SD | (3n << FS_SHIFT))).toBe(0n);
  });
});

describe('mstatus.FS = Off: FP instructions and FP CSRs are illegal (Priv 1.12 §3.1.6.6)', () => {
  it.each(FP_ROWS.map((r) => [r.name, r.match] as const))('%s (0x%s) raises illegal instruction, mtval = its bits', (_name, word) => {
    const pre = li(6, 0x1234n);
    const r = exec([...pre, word, ['addi', { rd: 6, rs1: 0, imm: 1 }], WFI]);
    expectTrap(r, { cause: 2, tval: word, epc: RAM_BASE + 4 * pre.length });
    expect(r.core.x(6)).toBe(0x1234n);
    expect(fsOf(r.core)).toBe(FS.Off); // nothing became dirty
    // The trapped instruction retired nothing and counted nothing.
    const k = r.core.classCounts();
    expect(k.fpu + k.fdiv + k.fload + k.fstore).toBe(0);
  });

  it.each([
    ['csrr fflags', csrr(10, FFLAGS)],
    ['csrr frm', csrr(10, FRM)],
    ['csrr fcsr', csrr(10, FCSR)],
    ['csrw fcsr', csrw(FCSR, 0)],
    ['csrrwi frm', ['csrrwi', { rd: 0, rs1: 1, imm: FRM }] as Insn],
    ['csrrsi fflags', ['csrrsi', { rd: 10, rs1: 1, imm: FFLAGS }] as Insn],
  ])('%s raises illegal instruction', (_n, insn) => {
    const r = exec([insn, WFI]);
    expectTrap(r, { cause: 2, tval: enc(insn), epc: RAM_BASE });
  });

  it('a load to f0 with FS = Off faults before touching memory (no MMIO access, no load fault)', () => {
    const r = exec([...li(6, BigInt(MMIO)), ['fld', { rd: 0, rs1: 6, imm: 0 }], WFI], { mmio: FakeMmioFor(MMIO, 0x1000, 0x1122334455667788n) });
    expect(hex(csrOf(r.core, 'mcause'))).toBe('0x2');
    expect(r.mmio.log).toEqual([]);
  });

  it('FP CSRs and instructions work from U-mode once FS is on, and are illegal there when it is off', () => {
    const on = exec([...pmpAllowAll(), ...FS_ON, ...enterMode(PRV_U), ...li(6, 0x7fn), csrw(FCSR, 6), csrr(10, FRM), ['fmv.d.x', { rd: 1, rs1: 6 }], ['ecall']]);
    expect(hex(csrOf(on.core, 'mcause'))).toBe('0x8'); // ended with the ecall
    expect(on.core.x(10)).toBe(3n);
    expect(on.core.f(1)).toBe(0x7fn);
    const off = exec([...pmpAllowAll(), ...enterMode(PRV_U), csrr(10, FFLAGS), ['ecall']]);
    expect(hex(csrOf(off.core, 'mcause'))).toBe('0x2');
    expect(off.core.priv).toBe(3);
  });
});

describe('FS becomes Dirty when FP state changes, and only then', () => {
  /** Run `body` with FS = `start`; returns FS afterwards. */
  const fsAfter = (body: Insn[], start: bigint = FS.Clean): bigint => {
    const core = run([...setFs(start), ...body, WFI], { setup: (c) => writeLE(c, DATA, 8, 0x3ff0000000000000n) });
    return fsOf(core);
  };
  const P: Insn[] = li(6, BigInt(DATA));

  it.each([
    ['fld', [...P, ['fld', { rd: 1, rs1: 6, imm: 0 }]]],
    ['flw', [...P, ['flw', { rd: 1, rs1: 6, imm: 0 }]]],
    ['c.fldsp', [...li(2, BigInt(DATA)), encode('c.fldsp', { rd: 3, imm: 0 })]],
    ['fmv.w.x', [['fmv.w.x', { rd: 0, rs1: 0 }]]],
    ['fmv.d.x', [['fmv.d.x', { rd: 31, rs1: 0 }]]],
    ['fsgnj.d', [['fsgnj.d', { rd: 2, rs1: 2, rs2: 2 }]]],
    ['fadd.d', [['fadd.d', { rd: 2, rs1: 0, rs2: 0 }]]],
    ['fcvt.d.w', [['fcvt.d.w', { rd: 2, rs1: 0 }]]],
    ['csrw fflags', [csrw(FFLAGS, 0)]],
    ['csrw frm', [csrw(FRM, 0)]],
    ['csrrsi fcsr 0-bits (still a write)', [['csrrsi', { rd: 0, rs1: 0, imm: FCSR }], csrw(FCSR, 0)]],
    ['feq.s with a signaling NaN (raises NV into fflags)', [...fls(1, SNAN_S), ...setFs(FS.Clean), ['feq.s', { rd: 10, rs1: 1, rs2: 1 }]]],
    ['fcvt.w.d of 1.5 (raises NX)', [...fld64(1, d(1.5)), ...setFs(FS.Clean), ['fcvt.w.d', { rd: 10, rs1: 1, rm: RNE }]]],
  ] as Array<[string, Insn[]]>)('%s -> Dirty', (_n, body) => {
    expect(fsAfter(body)).toBe(FS.Dirty);
  });

  it.each([
    ['fsd', [...P, ['fsd', { rs1: 6, rs2: 1, imm: 8 }]]],
    ['fsw', [...P, ['fsw', { rs1: 6, rs2: 1, imm: 8 }]]],
    ['fmv.x.d', [['fmv.x.d', { rd: 10, rs1: 1 }]]],
    ['fmv.x.w', [['fmv.x.w', { rd: 10, rs1: 1 }]]],
    ['fclass.d', [['fclass.d', { rd: 10, rs1: 1 }]]],
    ['feq.d of zeros (no flag)', [['feq.d', { rd: 10, rs1: 1, rs2: 2 }]]],
    ['fcvt.l.d of 0 (exact)', [['fcvt.l.d', { rd: 10, rs1: 1, rm: RTZ }]]],
    ['csrr fcsr (read only)', [csrr(10, FCSR), ['csrrs', { rd: 10, rs1: 0, imm: FFLAGS }]]],
  ] as Array<[string, Insn[]]>)('%s leaves FS alone', (_n, body) => {
    expect(fsAfter(body)).toBe(FS.Clean);
    expect(fsAfter(body, FS.Initial)).toBe(FS.Initial);
  });

  it('an x-writing FP op that raises only flags already set leaves FS Clean (fflags unchanged)', () => {
    // fflags.NX set first, then FS = Clean: fcvt.w.d of 1.5 raises NX again, so fflags does not change.
    const body: Insn[] = [...fld64(1, d(1.5)), ...li(7, 1n), csrw(FFLAGS, 7), ...setFs(FS.Clean), ['fcvt.w.d', { rd: 10, rs1: 1, rm: RNE }]];
    expect(fsAfter(body)).toBe(FS.Clean);
    // ... while one that raises a new flag (NV from a NaN, with NX set) makes it Dirty.
    const nan: Insn[] = [...fld64(1, 0x7ff8000000000000n), ...li(7, 1n), csrw(FFLAGS, 7), ...setFs(FS.Clean), ['fcvt.w.d', { rd: 10, rs1: 1, rm: RNE }]];
    expect(fsAfter(nan)).toBe(FS.Dirty);
  });

  it('mstatus.FS and frm written by the host between runs take effect at once (the F/D gate is resynced)', () => {
    const { core } = makeCore();
    const FS_MASK = 3n << FS_SHIFT;
    core.setCsr(L.H_MSTATUS, core.getCsr(L.H_MSTATUS) | FS_MASK); // FS = Dirty
    core.setF(1, d(1));
    core.setF(2, d(3));
    const prog: Insn[] = [['fdiv.d', { rd: 3, rs1: 1, rs2: 2, rm: DYN }], WFI];
    runProgram(core, prog);
    expect(hex(core.f(3))).toBe(hex(0x3fd5555555555555n)); // 1/3, frm = RNE
    core.fcsr = RUP << 5;
    runProgram(core, prog);
    expect(hex(core.f(3))).toBe(hex(0x3fd5555555555556n)); // 1/3 rounded up
    core.setCsr(L.H_MCAUSE, 0n);
    core.setCsr(L.H_MTVEC, BigInt(RAM_BASE + 4)); // the trap lands on the WFI
    core.setCsr(L.H_MSTATUS, core.getCsr(L.H_MSTATUS) & ~FS_MASK); // FS = Off
    core.setF(3, 0n);
    runProgram(core, prog);
    expect(core.getCsr(L.H_MCAUSE)).toBe(2n); // illegal instruction
    expect(core.f(3)).toBe(0n);
  });

  it('a faulting FP load changes neither the register nor FS', () => {
    const r = exec([...setFs(FS.Clean), ...fld64(1, 0x55n), ...setFs(FS.Clean), ...li(6, BigInt(MMIO)), ['fld', { rd: 1, rs1: 6, imm: 0 }], WFI]);
    expectTrap(r, { cause: 5, tval: MMIO });
    expect(r.core.f(1)).toBe(0x55n);
    expect(fsOf(r.core)).toBe(FS.Clean);
  });
});

describe('loads and stores (Unpriv 11.5, 12.3)', () => {
  it('flw NaN-boxes; fld loads 64 bits; fsw stores the low 32 bits; fsd 64 bits', () => {
    const core = run(
      [
        ...FS_ON,
        ...li(6, BigInt(DATA)),
        ['flw', { rd: 1, rs1: 6, imm: 0 }],
        ['fld', { rd: 2, rs1: 6, imm: 8 }],
        ['fsw', { rs1: 6, rs2: 2, imm: 16 }], // low half of a 64-bit value (not boxed): stored as is
        ['fsd', { rs1: 6, rs2: 1, imm: 24 }],
        ['flw', { rd: 0, rs1: 6, imm: -4 + 8 }], // f0 is a real register
        WFI,
      ],
      {
        setup: (c) => {
          writeLE(c, DATA, 8, 0xdead_beef_3f80_0000n);
          writeLE(c, DATA + 8, 8, 0x4009_21fb_5444_2d18n);
          writeLE(c, DATA + 16, 16, 0n);
        },
      },
    );
    expect(hex(core.f(1))).toBe(hex(boxed(0x3f80_0000n)));
    expect(hex(core.f(2))).toBe(hex(0x4009_21fb_5444_2d18n));
    expect(hex(readLE(core, DATA + 16, 8))).toBe(hex(0x5444_2d18n)); // 4 bytes written, 4 untouched
    expect(hex(readLE(core, DATA + 24, 8))).toBe(hex(boxed(0x3f80_0000n)));
    expect(hex(core.f(0))).toBe(hex(boxed(0xdead_beefn)));
    expect(core.x(0)).toBe(0n);
  });

  it.each([1, 2, 3, 4, 5, 6, 7])('misaligned fld/fsd/flw/fsw at +%i take the slow path and work', (off) => {
    const core = run(
      [
        ...FS_ON,
        ...li(6, BigInt(DATA + 0x1000 - 8 + off)), // crosses a page boundary for some offsets
        ['fld', { rd: 1, rs1: 6, imm: 0 }],
        ['flw', { rd: 2, rs1: 6, imm: 0 }],
        ...fld64(3, 0x0102_0304_0506_0708n),
        ['fsd', { rs1: 6, rs2: 3, imm: 16 }],
        ['fsw', { rs1: 6, rs2: 3, imm: 32 }],
        WFI,
      ],
      { setup: (c) => c.writePhys(DATA + 0x1000 - 8, Uint8Array.from({ length: 64 }, (_, i) => 0x80 + i)) },
    );
    const pa = DATA + 0x1000 - 8 + off;
    expect(hex(core.f(1))).toBe(hex(readLE(core, pa, 8)));
    expect(hex(core.f(2))).toBe(hex(boxed(readLE(core, pa, 4))));
    expect(hex(readLE(core, pa + 16, 8))).toBe(hex(0x0102_0304_0506_0708n));
    expect(hex(readLE(core, pa + 32, 4))).toBe(hex(0x0506_0708n));
    expect(hex(readLE(core, pa + 36, 1))).toBe(hex(BigInt((0x80 + off + 36) & 0xff))); // next byte untouched
  });

  it('FP loads and stores reach devices through the slow path (MMIO)', () => {
    const mmio = FakeMmioFor(MMIO, 0x100, 0xcafe_f00d_1234_5678n);
    const r = exec([...FS_ON, ...li(6, BigInt(MMIO)), ['fld', { rd: 1, rs1: 6, imm: 0 }], ['flw', { rd: 2, rs1: 6, imm: 8 }], ['fsd', { rs1: 6, rs2: 1, imm: 16 }], ['fsw', { rs1: 6, rs2: 1, imm: 24 }], WFI], { mmio });
    const core = expectClean(r);
    expect(hex(core.f(1))).toBe(hex(0xcafe_f00d_1234_5678n));
    expect(hex(core.f(2))).toBe(hex(boxed(0x1234_5678n)));
    // (a 4-byte write's data is the low word; what the upper word carries is not the device's business)
    expect(r.mmio.log.filter((e) => e.op === 'w').map((e) => [e.addr - MMIO, e.size, hex(e.lo!), e.size === 8 ? hex(e.hi!) : '-'])).toEqual([
      [16, 8, '0x12345678', '0xcafef00d'],
      [24, 4, '0x12345678', '-'],
    ]);
  });

  it('a store fault leaves memory unchanged and reports the address', () => {
    const r = exec([...FS_ON, ...li(6, BigInt(RAM_BASE + (1 << 20) - 4)), ['fsd', { rs1: 6, rs2: 0, imm: 0 }], WFI]);
    expectTrap(r, { cause: 7 });
  });

  it('counts FP loads/stores as fload/fstore and moves as fpu', () => {
    const core = run([...FS_ON, ...li(6, BigInt(DATA)), ['fld', { rd: 1, rs1: 6, imm: 0 }], ['flw', { rd: 1, rs1: 6, imm: 0 }], ['fsd', { rs1: 6, rs2: 1, imm: 0 }], ['fmv.x.d', { rd: 7, rs1: 1 }], ['fdiv.d', { rd: 2, rs1: 1, rs2: 1 }], ['fsqrt.s', { rd: 2, rs1: 1 }], WFI]);
    const k = core.classCounts();
    expect([k.fload, k.fstore, k.fpu, k.fdiv]).toEqual([2, 1, 1, 2]);
  });
});

describe('compressed FP loads/stores behave exactly like their expansions', () => {
  const SP = DATA + 0x100;
  const BASEP = DATA + 0x300;
  const pattern = Uint8Array.from({ length: 0x800 }, (_, i) => (i * 0x9d + 0x83) & 0xff);
  const init = (c: Core) => {
    c.writePhys(DATA, pattern);
    for (let r = 0; r < 32; r++) c.setF(r, BigInt.asUintN(64, 0x9e3779b97f4a7c15n * BigInt(r + 1)));
  };
  const prefix: Insn[] = [...FS_ON, ...li(2, BigInt(SP)), ...li(9, BigInt(BASEP)), ...li(15, BigInt(BASEP + 0x100))];
  const state = (c: Core, len: number) => ({
    x: regs(c).map(hex),
    f: Array.from({ length: 32 }, (_, i) => hex(c.f(i))),
    mem: Array.from(c.readPhys(DATA, 0x800)),
    pc: c.pc - BigInt(len),
    counts: c.classCounts(),
    fs: fsOf(c),
  });
  it.each([
    ['c.fld', { rd: 8, rs1: 9, imm: 0 }, 'fld', { rd: 8, rs1: 9, imm: 0 }],
    ['c.fld', { rd: 15, rs1: 15, imm: 248 }, 'fld', { rd: 15, rs1: 15, imm: 248 }],
    ['c.fsd', { rs1: 9, rs2: 12, imm: 8 }, 'fsd', { rs1: 9, rs2: 12, imm: 8 }],
    ['c.fsd', { rs1: 15, rs2: 8, imm: 248 }, 'fsd', { rs1: 15, rs2: 8, imm: 248 }],
    ['c.fldsp', { rd: 0, imm: 0 }, 'fld', { rd: 0, rs1: 2, imm: 0 }],
    ['c.fldsp', { rd: 31, imm: 504 }, 'fld', { rd: 31, rs1: 2, imm: 504 }],
    ['c.fsdsp', { rs2: 0, imm: 16 }, 'fsd', { rs1: 2, rs2: 0, imm: 16 }],
    ['c.fsdsp', { rs2: 31, imm: 504 }, 'fsd', { rs1: 2, rs2: 31, imm: 504 }],
  ] as const)('%s %j == %s %j', (cname, cops, bname, bops) => {
    const cw = encode(cname, cops);
    expect(lookup(cw)?.op).toBe(bname);
    const c = state(run([...prefix, cw, WFI], { setup: init }), 2);
    const b = state(run([...prefix, encode(bname, bops), WFI], { setup: init }), 4);
    expect(c).toEqual(b);
  });

  it('c.fld with FS = Off is illegal with mtval = its 16 bits', () => {
    const w = encode('c.fld', { rd: 8, rs1: 9, imm: 8 });
    const r = exec([w, WFI]);
    expectTrap(r, { cause: 2, tval: w, epc: RAM_BASE });
  });
});

describe('moves, NaN-boxing, sign injection, classify (Unpriv 11.6, 11.9, 12.2)', () => {
  it('fmv.w.x boxes; fmv.x.w sign-extends bit 31 and ignores the upper half; fmv.d.x / fmv.x.d move 64 bits', () => {
    const [a, b, c, e] = fbatch([
      [...li(6, 0x1234_5678_8765_4321n), ['fmv.w.x', { rd: 1, rs1: 6 }], toX7(1)],
      [...fld64(1, 0x0000_0000_8000_0001n), ['fmv.x.w', { rd: 7, rs1: 1 }]], // not boxed: moved anyway
      [...fld64(1, 0xffff_ffff_7fff_ffffn), ['fmv.x.w', { rd: 7, rs1: 1 }]],
      [...li(6, 0xfedc_ba98_7654_3210n), ['fmv.d.x', { rd: 1, rs1: 6 }], ['fmv.x.d', { rd: 7, rs1: 1 }]],
    ]);
    expect([a, b, c, e].map(hex)).toEqual([boxed(0x8765_4321n), sext(0x8000_0001n, 32), 0x7fff_ffffn, 0xfedc_ba98_7654_3210n].map(hex));
  });

  it('fsgnj/fsgnjn/fsgnjx.s on boxed singles (fneg, fabs, fmv idioms)', () => {
    const x = s(-1.5), y = s(2.0);
    const out = fbatch(
      (
        [
          ['fsgnj.s', x, y],
          ['fsgnj.s', y, x],
          ['fsgnjn.s', x, x], // fneg.s
          ['fsgnjn.s', y, y],
          ['fsgnjx.s', x, x], // fabs.s
          ['fsgnjx.s', x, y],
          ['fsgnjx.s', y, x],
        ] as const
      ).map(([op, a, b]) => [...fls(1, a), ...fls(2, b), [op, { rd: 3, rs1: 1, rs2: 2 }], toX7(3)]),
    );
    expect(out.map(hex)).toEqual([s(1.5), s(-2.0), s(1.5), s(-2.0), s(1.5), s(-1.5), s(-2.0)].map((v) => hex(boxed(v))));
  });

  it('single operands that are not NaN-boxed read as the canonical NaN (fsgnj.s, fclass.s, fadd.s, fcvt.d.s)', () => {
    const unboxed = 0x0000_0000_3f80_0000n; // 1.0f without the box
    const partly = 0xffff_fffe_3f80_0000n;
    const out = fbatch([
      [...fld64(1, unboxed), ...fls(2, s(-1)), ['fsgnj.s', { rd: 3, rs1: 1, rs2: 2 }], toX7(3)], // -canonical NaN
      [...fld64(1, partly), ...fls(2, s(1)), ['fsgnjx.s', { rd: 3, rs1: 2, rs2: 1 }], toX7(3)], // 1.0 ^ sign(+NaN)
      [...fld64(1, unboxed), ['fclass.s', { rd: 7, rs1: 1 }]],
      [...fld64(1, unboxed), ...fls(2, s(1)), ['fadd.s', { rd: 3, rs1: 1, rs2: 2 }], toX7(3)],
      [...fld64(1, unboxed), ['fcvt.d.s', { rd: 3, rs1: 1 }], toX7(3)],
      [...fld64(1, unboxed), ['fsw', { rs1: 31, rs2: 1, imm: 0 }], ['lwu', { rd: 7, rs1: 31, imm: 0 }]], // transfers do not check
    ]);
    expect(out.map(hex)).toEqual([boxed(CANON_S | 0x8000_0000n), boxed(s(1)), 1n << 9n, boxed(CANON_S), CANON_D, 0x3f80_0000n].map(hex));
  });

  it('fsgnj*.d work on all 64 bits (no boxing)', () => {
    const a = d(-3.25), b = d(0.5);
    const out = fbatch([
      [...fld64(1, a), ...fld64(2, b), ['fsgnj.d', { rd: 3, rs1: 1, rs2: 2 }], toX7(3)],
      [...fld64(1, a), ...fld64(2, b), ['fsgnjn.d', { rd: 3, rs1: 1, rs2: 2 }], toX7(3)],
      [...fld64(1, a), ...fld64(2, a), ['fsgnjx.d', { rd: 3, rs1: 1, rs2: 2 }], toX7(3)],
      [...fld64(1, 0x7ff0_0000_0000_0001n), ...fld64(2, d(-1)), ['fsgnj.d', { rd: 3, rs1: 1, rs2: 2 }], toX7(3)], // sNaN payload kept
    ]);
    expect(out.map(hex)).toEqual([d(3.25), d(-3.25), d(3.25), 0xfff0_0000_0000_0001n].map(hex));
  });

  it('sign injection never raises flags, even on signaling NaNs', () => {
    const [flags] = fbatch([[...fls(1, SNAN_S), ...fld64(2, 0x7ff0_0000_0000_0001n), ['fsgnj.s', { rd: 3, rs1: 1, rs2: 1 }], ['fsgnjx.d', { rd: 3, rs1: 2, rs2: 2 }], csrr(7, FFLAGS)]]);
    expect(flags).toBe(0n);
  });

  // Unpriv table 11.5: bit 0 -inf, 1 -normal, 2 -subnormal, 3 -0, 4 +0, 5 +subnormal, 6 +normal,
  // 7 +inf, 8 signaling NaN, 9 quiet NaN.
  it('fclass.s / fclass.d', () => {
    const S: Array<[bigint, number]> = [
      [s(-Infinity), 0], [s(-1), 1], [0x8000_0001n, 2], [0x8000_0000n, 3], [0n, 4], [1n, 5], [s(1e10), 6], [s(Infinity), 7], [SNAN_S, 8], [CANON_S, 9],
    ];
    const D: Array<[bigint, number]> = [
      [d(-Infinity), 0], [d(-1), 1], [0x8000_0000_0000_0001n, 2], [d(-0), 3], [0n, 4], [1n, 5], [d(1e300), 6], [d(Infinity), 7], [0x7ff0_0000_0000_0001n, 8], [CANON_D, 9],
    ];
    const out = fbatch([
      ...S.map(([v]) => [...fls(1, v), ['fclass.s', { rd: 7, rs1: 1 }]] as Insn[]),
      ...D.map(([v]) => [...fld64(1, v), ['fclass.d', { rd: 7, rs1: 1 }]] as Insn[]),
    ]);
    expect(out).toEqual([...S, ...D].map(([, bit]) => 1n << BigInt(bit)));
  });
});

describe('fflags / frm / fcsr (Unpriv 11.2)', () => {
  it('are views of one register; reserved fcsr bits read 0', () => {
    const core = run([
      ...FS_ON,
      ...li(6, -1n),
      ['csrrw', { rd: 10, rs1: 6, imm: FCSR }], // old 0
      csrr(11, FCSR),
      csrr(12, FFLAGS),
      csrr(13, FRM),
      ['csrrwi', { rd: 0, rs1: 0b00101, imm: FFLAGS }],
      csrr(14, FCSR), // frm kept
      ['csrrwi', { rd: 0, rs1: 0b11010, imm: FRM }], // frm = 2 (3 bits)
      csrr(15, FCSR),
      ['csrrci', { rd: 0, rs1: 0b00001, imm: FFLAGS }],
      csrr(16, FCSR),
      WFI,
    ]);
    expect([10, 11, 12, 13, 14, 15, 16].map((r) => hex(core.x(r)))).toEqual(['0x0', '0xff', '0x1f', '0x7', '0xe5', '0x45', '0x44'].map(String));
    expect(core.fcsr).toBe(0x44);
  });

  it('arithmetic accrues flags into fflags (sticky, OR-ed)', () => {
    const core = run([
      ...FS_ON,
      ...fld64(1, d(1)),
      ...fld64(2, d(3)),
      ...fld64(3, 0n),
      ['fdiv.d', { rd: 4, rs1: 1, rs2: 2 }], // inexact
      csrr(10, FFLAGS),
      ['fdiv.d', { rd: 4, rs1: 1, rs2: 3 }], // divide by zero
      csrr(11, FFLAGS),
      ['fsqrt.d', { rd: 4, rs1: 3 }], // exact: nothing new
      csrr(12, FFLAGS),
      WFI,
    ]);
    expect([core.x(10), core.x(11), core.x(12)]).toEqual([NX, NX | DZ, NX | DZ]);
  });
});

describe('rounding modes (Unpriv 11.2): reserved rm and frm values are illegal', () => {
  const RM_ROWS = FP_ROWS.filter((r) => r.format.rm);

  it.each(RM_ROWS.flatMap((r) => [5, 6].map((rm) => [r.name, rm, ((r.match & ~0x7000) | (rm << 12)) >>> 0] as const)))(
    '%s with static rm = %i is an illegal instruction (even with FS on)',
    (_n, _rm, word) => {
      expect(lookup(word)).toBeUndefined();
      const pre = FS_ON;
      const r = exec([...pre, word, WFI]);
      expectTrap(r, { cause: 2, tval: word, epc: RAM_BASE + 4 * pre.length });
    },
  );

  it.each(RM_ROWS.flatMap((r) => [5, 6, 7].map((frm) => [r.name, frm] as const)))('%s with rm = dyn and frm = %i is illegal', (name, frm) => {
    const insn = encode(name, { rm: DYN });
    const pre: Insn[] = [...FS_ON, ...li(6, BigInt(frm)), csrw(FRM, 6)];
    const r = exec([...pre, insn, WFI]);
    expect(hex(csrOf(r.core, 'mcause'))).toBe('0x2');
    expect(hex(csrOf(r.core, 'mtval'))).toBe(hex(insn));
    expect(r.core.exceptions).toBe(1);
  });

  it('a static rm works whatever frm holds; instructions without rm ignore frm', () => {
    const core = run([
      ...FS_ON,
      ...li(6, 7n),
      csrw(FRM, 6), // invalid dynamic mode
      ...fld64(1, d(2.5)),
      ['fcvt.w.d', { rd: 10, rs1: 1, rm: RUP }],
      ['fsgnj.d', { rd: 2, rs1: 1, rs2: 1 }],
      ['fmin.d', { rd: 3, rs1: 1, rs2: 2 }],
      ['feq.d', { rd: 11, rs1: 1, rs2: 3 }],
      WFI,
    ]);
    expect([core.x(10), core.x(11)]).toEqual([3n, 1n]);
  });

  it('dyn uses frm: fcvt.w.d of 2.5 / -2.5 under each rounding mode', () => {
    const want: Record<number, [bigint, bigint]> = { [RNE]: [2n, -2n], [RTZ]: [2n, -2n], [RDN]: [2n, -3n], [RUP]: [3n, -2n], [RMM]: [3n, -3n] };
    for (const rm of [RNE, RTZ, RDN, RUP, RMM]) {
      const [pos] = fopx('fcvt.w.d', { rd: 10, rs1: 1, rm: DYN }, d(2.5), 0n, rm);
      const [neg] = fopx('fcvt.w.d', { rd: 10, rs1: 1, rm: DYN }, d(-2.5), 0n, rm);
      const [stat] = fopx('fcvt.w.d', { rd: 10, rs1: 1, rm }, d(-2.5), 0n, RNE);
      expect([pos, neg, stat], `rm ${rm}`).toEqual([want[rm][0], sext(BigInt.asUintN(64, want[rm][1]), 64), sext(BigInt.asUintN(64, want[rm][1]), 64)]);
    }
  });
});

describe('arithmetic through the core (spot checks; fpu.ts is tested exhaustively)', () => {
  it('single: add, sub, mul, div, sqrt, fused multiply-adds (results NaN-boxed)', () => {
    const S3 = (name: string, a: number, b: number, c = 0): bigint => fop(name, { rd: 4, rs1: 1, rs2: 2, rs3: 3, rm: RNE }, boxed(s(a)), boxed(s(b)), boxed(s(c)))[0];
    const S2 = (name: string, a: number, b: number): bigint => fop(name, { rd: 4, rs1: 1, rs2: 2, rm: RNE }, boxed(s(a)), boxed(s(b)))[0];
    expect(hex(S2('fadd.s', 1.5, 2.25))).toBe(hex(boxed(s(3.75))));
    expect(hex(S2('fsub.s', 1.5, 2.25))).toBe(hex(boxed(s(-0.75))));
    expect(hex(S2('fmul.s', -1.5, 2.25))).toBe(hex(boxed(s(-3.375))));
    expect(hex(S2('fdiv.s', 1, 3))).toBe(hex(boxed(s(1 / 3))));
    expect(hex(fop('fsqrt.s', { rd: 4, rs1: 1, rm: RNE }, boxed(s(0.5)))[0])).toBe(hex(boxed(s(Math.SQRT1_2))));
    expect(hex(S3('fmadd.s', 2, 3, 1))).toBe(hex(boxed(s(7))));
    expect(hex(S3('fmsub.s', 2, 3, 1))).toBe(hex(boxed(s(5))));
    expect(hex(S3('fnmsub.s', 2, 3, 1))).toBe(hex(boxed(s(-5))));
    expect(hex(S3('fnmadd.s', 2, 3, 1))).toBe(hex(boxed(s(-7))));
  });

  it('double: add, sub, mul, div, sqrt, fma are correctly rounded', () => {
    const D2 = (name: string, a: number, b: number, rm = RNE) => fop(name, { rd: 4, rs1: 1, rs2: 2, rm }, d(a), d(b));
    expect(D2('fadd.d', 0.1, 0.2)).toEqual([d(0.1 + 0.2), NX]);
    expect(D2('fsub.d', 1, 2 ** -60)).toEqual([d(1 - 2 ** -60), NX]);
    expect(D2('fmul.d', 1e300, 1e10)).toEqual([d(Infinity), OF | NX]);
    expect(D2('fdiv.d', 1, 3)).toEqual([d(1 / 3), NX]);
    expect(D2('fdiv.d', 1, 3, RDN)[0]).toBe(d(1 / 3)); // 1/3 rounds down to the same double under RNE
    expect(D2('fdiv.d', 1, 3, RUP)[0]).toBe(d(1 / 3) + 1n);
    expect(D2('fdiv.d', -1, 0)).toEqual([d(-Infinity), DZ]);
    expect(D2('fdiv.d', 0, 0)).toEqual([CANON_D, NV]);
    expect(fop('fsqrt.d', { rd: 4, rs1: 1, rm: RNE }, d(2))).toEqual([d(Math.SQRT2), NX]);
    expect(fop('fsqrt.d', { rd: 4, rs1: 1, rm: RNE }, d(-1))).toEqual([CANON_D, NV]);
    // fma rounds once: (1 + 2^-30)^2 - 1 keeps the 2^-60 term that a separate multiply would lose.
    const a = 1 + 2 ** -30;
    expect(fop('fmsub.d', { rd: 4, rs1: 1, rs2: 2, rs3: 3, rm: RNE }, d(a), d(a), d(1))).toEqual([d(2 ** -29 + 2 ** -60), 0n]);
  });

  it('min/max (NaN and signed-zero rules) and compares', () => {
    expect(fop('fmin.d', { rd: 4, rs1: 1, rs2: 2 }, d(-0), d(0))).toEqual([d(-0), 0n]);
    expect(fop('fmax.d', { rd: 4, rs1: 1, rs2: 2 }, d(-0), d(0))).toEqual([d(0), 0n]);
    expect(fop('fmin.d', { rd: 4, rs1: 1, rs2: 2 }, CANON_D, d(3))).toEqual([d(3), 0n]);
    expect(fop('fmax.s', { rd: 4, rs1: 1, rs2: 2 }, boxed(SNAN_S), boxed(SNAN_S))).toEqual([boxed(CANON_S), NV]);
    expect(fopx('flt.d', { rd: 10, rs1: 1, rs2: 2 }, d(1), d(2))).toEqual([1n, 0n]);
    expect(fopx('fle.d', { rd: 10, rs1: 1, rs2: 2 }, d(2), d(2))).toEqual([1n, 0n]);
    expect(fopx('feq.s', { rd: 10, rs1: 1, rs2: 2 }, boxed(s(2)), boxed(s(3)))).toEqual([0n, 0n]);
    expect(fopx('feq.d', { rd: 10, rs1: 1, rs2: 2 }, CANON_D, CANON_D)).toEqual([0n, 0n]); // quiet: no flag
    expect(fopx('flt.d', { rd: 10, rs1: 1, rs2: 2 }, CANON_D, d(1))).toEqual([0n, NV]); // signaling compare
    expect(fopx('fle.s', { rd: 10, rs1: 1, rs2: 2 }, boxed(s(-1)), boxed(s(-0)))).toEqual([1n, 0n]);
  });

  it('conversions: integer <-> float, single <-> double, the invalid-input results', () => {
    const XF = (name: string, x: bigint, rm = RNE): bigint => {
      const core = run([...FS_ON, ...li(6, x), [name, { rd: 4, rs1: 6, rm }], WFI]);
      return core.f(4);
    };
    expect(hex(XF('fcvt.s.w', 0xffff_ffffn))).toBe(hex(boxed(s(-1)))); // uses the low 32 bits, signed
    expect(hex(XF('fcvt.s.wu', 0x1_ffff_ffffn))).toBe(hex(boxed(s(4294967295)))); // rounds to 2^32
    expect(hex(XF('fcvt.d.l', -(1n << 62n)))).toBe(hex(d(-(2 ** 62))));
    expect(hex(XF('fcvt.d.lu', 0xffff_ffff_ffff_ffffn))).toBe(hex(d(2 ** 64)));
    expect(hex(XF('fcvt.d.w', 0x8000_0000n))).toBe(hex(d(-(2 ** 31))));
    expect(hex(XF('fcvt.s.l', 3n))).toBe(hex(boxed(s(3))));
    const FX = (name: string, v: bigint, rm = RTZ) => fopx(name, { rd: 10, rs1: 1, rm }, v);
    expect(FX('fcvt.w.s', boxed(s(-7.9)))).toEqual([sext(BigInt.asUintN(32, -7n), 32), NX]);
    expect(FX('fcvt.wu.d', d(3e9))).toEqual([sext(3_000_000_000n, 32), 0n]); // W results are sign-extended
    expect(FX('fcvt.w.d', d(1e10))).toEqual([0x7fff_ffffn, NV]);
    expect(FX('fcvt.l.d', CANON_D)).toEqual([0x7fff_ffff_ffff_ffffn, NV]);
    expect(FX('fcvt.lu.d', d(-1))).toEqual([0n, NV]);
    expect(FX('fcvt.lu.s', boxed(s(2 ** 40)))).toEqual([1n << 40n, 0n]);
    expect(fop('fcvt.s.d', { rd: 4, rs1: 1, rm: RNE }, d(1 / 3))).toEqual([boxed(s(1 / 3)), NX]);
    expect(fop('fcvt.d.s', { rd: 4, rs1: 1, rm: RNE }, boxed(s(1 / 3)))).toEqual([d(Math.fround(1 / 3)), 0n]);
    expect(fop('fcvt.d.s', { rd: 4, rs1: 1, rm: RNE }, boxed(SNAN_S))).toEqual([CANON_D, NV]);
  });

  it('the busybox test value: (float)sqrt(0.5) printed as 0.707107', () => {
    const [r] = fop('fsqrt.s', { rd: 4, rs1: 1, rm: DYN }, boxed(s(0.5)));
    const v = new DataView(new ArrayBuffer(4));
    v.setUint32(0, Number(r & 0xffff_ffffn), true);
    expect(v.getFloat32(0, true).toFixed(6)).toBe('0.707107');
  });
});
