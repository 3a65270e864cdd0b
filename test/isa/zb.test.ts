/**
 * Bit manipulation (Unpriv 20240411 ch. 28: Zba, Zbb, Zbc, Zbs; ch. 32: Zbkb, Zbkc, Zbkx) and
 * Zicond (ch. 12): every instruction against a BigInt reference written from the spec's
 * pseudocode (not from assembly/bitmanip.ts), over all pairs of the edge values; the shift-
 * immediate forms at every shamt; and the `--cpu` switch: an extension that is off decodes as an
 * illegal instruction (mtval = the instruction bits, Sstvala), while a shared encoding (rol in
 * Zbb and Zbkb) stays legal while either is on.
 */
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/isa/encode.js';
import { GATED_EXTS, type GatedExt } from '../../src/isa/table.js';
import { disassemble } from '../../src/isa/disasm.js';
import { EDGE64, exec, expectTrap, hex, li, runBatch, s64, sext, u64, WFI, CODE, type Insn } from '../helpers/isa.js';

const M64 = (1n << 64n) - 1n;
const z32 = (v: bigint): bigint => v & 0xffffffffn;
const bit = (v: bigint, i: bigint): bigint => (v >> i) & 1n;

function clz(v: bigint, w: number): bigint {
  let n = 0n;
  for (let i = w - 1; i >= 0 && bit(v, BigInt(i)) === 0n; i--) n++;
  return n;
}
function ctz(v: bigint, w: number): bigint {
  let n = 0n;
  for (let i = 0; i < w && bit(v, BigInt(i)) === 0n; i++) n++;
  return n;
}
function cpop(v: bigint, w: number): bigint {
  let n = 0n;
  for (let i = 0; i < w; i++) n += bit(v, BigInt(i));
  return n;
}
const rol = (v: bigint, s: bigint, w: bigint): bigint => {
  const m = (1n << w) - 1n;
  v &= m;
  return ((v << s) | (v >> ((w - s) % w))) & m;
};
const ror = (v: bigint, s: bigint, w: bigint): bigint => rol(v, (w - s) % w, w);
/** The 128-bit carry-less product. */
function clmul128(a: bigint, b: bigint): bigint {
  let r = 0n;
  for (let i = 0n; i < 64n; i++) if (bit(b, i)) r ^= a << i;
  return r;
}
const bytes = (v: bigint): bigint[] => Array.from({ length: 8 }, (_, i) => (v >> BigInt(8 * i)) & 0xffn);
const fromBytes = (b: bigint[]): bigint => b.reduce((acc, x, i) => acc | (x << BigInt(8 * i)), 0n);

type Bin = (a: bigint, b: bigint) => bigint;
/** Register-register forms: x[rd] = f(x[rs1], x[rs2]). */
const RR: Record<string, Bin> = {
  'add.uw': (a, b) => u64(b + z32(a)),
  sh1add: (a, b) => u64(b + (a << 1n)),
  sh2add: (a, b) => u64(b + (a << 2n)),
  sh3add: (a, b) => u64(b + (a << 3n)),
  'sh1add.uw': (a, b) => u64(b + (z32(a) << 1n)),
  'sh2add.uw': (a, b) => u64(b + (z32(a) << 2n)),
  'sh3add.uw': (a, b) => u64(b + (z32(a) << 3n)),
  andn: (a, b) => a & (~b & M64),
  orn: (a, b) => u64(a | ~b),
  xnor: (a, b) => u64(~(a ^ b)),
  max: (a, b) => (s64(a) < s64(b) ? b : a),
  maxu: (a, b) => (a < b ? b : a),
  min: (a, b) => (s64(a) < s64(b) ? a : b),
  minu: (a, b) => (a < b ? a : b),
  rol: (a, b) => rol(a, b & 63n, 64n),
  ror: (a, b) => ror(a, b & 63n, 64n),
  rolw: (a, b) => sext(rol(a, b & 31n, 32n), 32),
  rorw: (a, b) => sext(ror(a, b & 31n, 32n), 32),
  clmul: (a, b) => clmul128(a, b) & M64,
  clmulh: (a, b) => clmul128(a, b) >> 64n,
  clmulr: (a, b) => (clmul128(a, b) >> 63n) & M64,
  bclr: (a, b) => a & ~(1n << (b & 63n)) & M64,
  bext: (a, b) => bit(a, b & 63n),
  binv: (a, b) => a ^ (1n << (b & 63n)),
  bset: (a, b) => a | (1n << (b & 63n)),
  pack: (a, b) => u64(z32(a) | (b << 32n)),
  packh: (a, b) => (a & 0xffn) | ((b & 0xffn) << 8n),
  packw: (a, b) => sext((a & 0xffffn) | ((b & 0xffffn) << 16n), 32),
  xperm4: (a, b) => {
    let r = 0n;
    for (let i = 0n; i < 64n; i += 4n) r |= ((a >> (((b >> i) & 15n) * 4n)) & 15n) << i;
    return r;
  },
  xperm8: (a, b) => fromBytes(bytes(b).map((ix) => (ix < 8n ? bytes(a)[Number(ix)]! : 0n))),
  'czero.eqz': (a, b) => (b === 0n ? 0n : a),
  'czero.nez': (a, b) => (b !== 0n ? 0n : a),
};
/** Unary forms: x[rd] = f(x[rs1]). */
const R1: Record<string, (a: bigint) => bigint> = {
  clz: (a) => clz(a, 64),
  ctz: (a) => ctz(a, 64),
  cpop: (a) => cpop(a, 64),
  clzw: (a) => clz(z32(a), 32),
  ctzw: (a) => ctz(z32(a), 32),
  cpopw: (a) => cpop(z32(a), 32),
  'sext.b': (a) => sext(a, 8),
  'sext.h': (a) => sext(a, 16),
  'zext.h': (a) => a & 0xffffn,
  'orc.b': (a) => fromBytes(bytes(a).map((x) => (x ? 0xffn : 0n))),
  rev8: (a) => fromBytes(bytes(a).reverse()),
  brev8: (a) => fromBytes(bytes(a).map((x) => BigInt(parseInt(x.toString(2).padStart(8, '0').split('').reverse().join(''), 2)))),
};
/** Shift-immediate forms: x[rd] = f(x[rs1], shamt), with the shamt range. */
const SH: Record<string, [Bin, number]> = {
  'slli.uw': [(a, s) => u64(z32(a) << s), 64],
  rori: [(a, s) => ror(a, s, 64n), 64],
  roriw: [(a, s) => sext(ror(a, s, 32n), 32), 32],
  bclri: [(a, s) => RR.bclr!(a, s), 64],
  bexti: [(a, s) => RR.bext!(a, s), 64],
  binvi: [(a, s) => RR.binv!(a, s), 64],
  bseti: [(a, s) => RR.bset!(a, s), 64],
};

const VALUES = [...EDGE64, 0x0123456789abcdefn, 0x8040201008040201n, 0x00ff00ff00ff0000n, 0x0706050403020100n, 0x1032547698badcfen];

describe('bit manipulation: register-register forms, all pairs of edge values', () => {
  it.each(Object.keys(RR))('%s', (op) => {
    const pairs: Array<[bigint, bigint]> = [];
    for (const a of VALUES) for (const b of VALUES) pairs.push([a, b]);
    const got = runBatch(pairs.map(([a, b]) => [...li(5, a), ...li(6, b), [op, { rd: 7, rs1: 5, rs2: 6 }] as Insn]));
    const line = (v: bigint, i: number) => `${op} ${hex(pairs[i]![0])}, ${hex(pairs[i]![1])} = ${hex(v)}`;
    expect(got.map(line)).toEqual(pairs.map(([a, b], i) => line(RR[op]!(a, b), i)));
  });
});

describe('bit manipulation: unary forms', () => {
  it.each(Object.keys(R1))('%s', (op) => {
    const got = runBatch(VALUES.map((a) => [...li(5, a), [op, { rd: 7, rs1: 5 }] as Insn]));
    expect(got.map((v, i) => `${op} ${hex(VALUES[i]!)} = ${hex(v)}`)).toEqual(VALUES.map((a) => `${op} ${hex(a)} = ${hex(R1[op]!(a))}`));
  });
});

describe('bit manipulation: shift-immediate forms at every shamt', () => {
  it.each(Object.keys(SH))('%s', (op) => {
    const [f, n] = SH[op]!;
    const cases: Array<[bigint, number]> = [];
    for (const a of [0x8123456789abcdefn, M64, 1n, 0xfedcba9876543210n]) for (let s = 0; s < n; s++) cases.push([a, s]);
    const got = runBatch(cases.map(([a, s]) => [...li(5, a), [op, { rd: 7, rs1: 5, imm: s }] as Insn]));
    expect(got.map((v, i) => `${op} ${hex(cases[i]![0])}, ${cases[i]![1]} = ${hex(v)}`)).toEqual(
      cases.map(([a, s]) => `${op} ${hex(a)}, ${s} = ${hex(f(a, BigInt(s)))}`),
    );
  });
});

describe('bit manipulation: x0 and register aliasing', () => {
  it('rd = x0 writes nothing; rd = rs1 = rs2 reads before writing', () => {
    const got = runBatch([
      [...li(7, 5n), ['sh3add', { rd: 0, rs1: 7, rs2: 7 }]],
      [...li(7, 5n), ['sh3add', { rd: 7, rs1: 7, rs2: 7 }]],
      [...li(7, 0xf0n), ['rev8', { rd: 7, rs1: 7 }]],
      [...li(7, 0n), ['ctz', { rd: 7, rs1: 0 }]],
    ]);
    expect(got.map(hex)).toEqual(['0x5', '0x2d', '0xf000000000000000', '0x40'].map((s) => s));
  });
});

/** Run one instruction with the enabled-extension mask set; returns the trap result. */
function withExts(exts: readonly GatedExt[], insn: Insn) {
  let mask = 0;
  for (const e of exts) mask |= 1 << GATED_EXTS.indexOf(e);
  return exec([insn, WFI], { setup: (c) => (c.ex as unknown as { setExtensions(m: number): void }).setExtensions(mask) });
}

describe('--cpu switches: an extension that is off is an illegal instruction', () => {
  const ALL = GATED_EXTS;
  const without = (...off: GatedExt[]) => ALL.filter((e) => !off.includes(e));
  it.each([
    ['sh1add', 'Zba', { rd: 5, rs1: 6, rs2: 7 }],
    ['cpop', 'Zbb', { rd: 5, rs1: 6 }],
    ['clmulr', 'Zbc', { rd: 5, rs1: 6, rs2: 7 }],
    ['bseti', 'Zbs', { rd: 5, rs1: 6, imm: 3 }],
    ['pack', 'Zbkb', { rd: 5, rs1: 6, rs2: 7 }],
    ['xperm8', 'Zbkx', { rd: 5, rs1: 6, rs2: 7 }],
    ['czero.eqz', 'Zicond', { rd: 5, rs1: 6, rs2: 7 }],
    ['cbo.zero', 'Zicboz', { rs1: 6 }],
    ['cbo.flush', 'Zicbom', { rs1: 6 }],
    ['sfence.w.inval', 'Svinval', {}],
    ['sinval.vma', 'Svinval', { rs1: 5, rs2: 0 }],
  ] as const)('%s without %s', (name, ext, ops) => {
    const w = encode(name, ops);
    expectTrap(withExts(without(ext as GatedExt), [name, ops]), { cause: 2, tval: BigInt(w >>> 0), epc: CODE });
  });
  it('a shared encoding decodes while either extension is on (rol: Zbb or Zbkb; clmul: Zbc or Zbkc)', () => {
    const r1 = withExts(without('Zbb'), ['rol', { rd: 5, rs1: 6, rs2: 7 }]);
    expect(r1.core.exceptions).toBe(0);
    const r2 = withExts(without('Zbb', 'Zbkb'), ['rol', { rd: 5, rs1: 6, rs2: 7 }]);
    expect(r2.core.exceptions).toBe(1);
    const r3 = withExts(without('Zbc'), ['clmul', { rd: 5, rs1: 6, rs2: 7 }]);
    expect(r3.core.exceptions).toBe(0);
    const r4 = withExts(without('Zbc'), ['clmulr', { rd: 5, rs1: 6, rs2: 7 }]);
    expect(r4.core.exceptions).toBe(1);
  });
  it('Zfh off, FS on: fadd.h is illegal but Zfhmin\'s fcvt.s.h is not; both off: fcvt.s.h is illegal too', () => {
    const fsOn: Insn[] = [...li(5, 1n << 13n), ['csrrs', { rd: 0, rs1: 5, imm: 0x300 }]];
    const go = (exts: readonly GatedExt[], insn: Insn) => {
      let mask = 0;
      for (const e of exts) mask |= 1 << GATED_EXTS.indexOf(e);
      return exec([...fsOn, insn, WFI], { setup: (c) => (c.ex as unknown as { setExtensions(m: number): void }).setExtensions(mask) });
    };
    const fadd: Insn = ['fadd.h', { rd: 1, rs1: 2, rs2: 3, rm: 0 }];
    const cvt: Insn = ['fcvt.s.h', { rd: 1, rs1: 2, rm: 0 }];
    expect(go(ALL, fadd).core.exceptions).toBe(0);
    expectTrap(go(without('Zfh'), fadd), { cause: 2, tval: BigInt(encode('fadd.h', { rd: 1, rs1: 2, rs2: 3, rm: 0 }) >>> 0) });
    expect(go(without('Zfh'), cvt).core.exceptions).toBe(0);
    expect(go(without('Zfh', 'Zfhmin'), cvt).core.exceptions).toBe(1);
  });
  it('zext.h is packw rd, rs1, x0: legal with Zbkb alone; packw with rs2 != 0 needs Zbkb', () => {
    expect(withExts(without('Zbb'), ['zext.h', { rd: 5, rs1: 6 }]).core.exceptions).toBe(0);
    expect(withExts(without('Zbkb'), ['packw', { rd: 5, rs1: 6, rs2: 7 }]).core.exceptions).toBe(1);
    expect(withExts(without('Zbkb'), ['zext.h', { rd: 5, rs1: 6 }]).core.exceptions).toBe(0);
  });
});

describe('disassembler', () => {
  it('prints the bit-manipulation rows as binutils does', () => {
    expect(disassemble(encode('sh2add.uw', { rd: 10, rs1: 11, rs2: 12 }))).toBe('sh2add.uw a0, a1, a2');
    expect(disassemble(encode('rori', { rd: 10, rs1: 11, imm: 63 }))).toBe('rori a0, a1, 63');
    expect(disassemble(encode('rev8', { rd: 5, rs1: 6 }))).toBe('rev8 t0, t1');
    expect(disassemble(0x0805c53b)).toBe('zext.h a0, a1');
    expect(disassemble(encode('cbo.zero', { rs1: 10 }))).toBe('cbo.zero (a0)');
    expect(disassemble(encode('czero.nez', { rd: 10, rs1: 11, rs2: 12 }))).toBe('czero.nez a0, a1, a2');
  });
});
