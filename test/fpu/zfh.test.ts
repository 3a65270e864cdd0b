/**
 * Zfh / Zfhmin (Unpriv 20240411 ch. 22, 23): every binary16 instruction executed by the core
 * against the BigInt oracle (test/helpers/fp-oracle.ts, now with F16), in every rounding mode,
 * result bits and fflags, over the specials, the rounding-boundary values and random operands.
 * Also NaN-boxing (an improperly boxed operand reads as the canonical NaN), flh/fsh, fmv.
 */
import { describe, expect, it } from 'vitest';
import type { Core } from '../../src/core.js';
import {
  F16, F32, F64, MODES, Rng, add, mul, div, sqrt, fma, minmax, compare, classify, cvtFF, cvtFI, cvtIF,
  interesting, randomOperand, type IntKind,
} from '../helpers/fp-oracle.js';
import { box, checkFpCases, hx, type FpCase } from '../helpers/fp-cases.js';
import { CSR, DATA, WFI, csrwi64, li, readLE, run, writeLE, type Insn } from '../helpers/isa.js';

const BOX16 = 0xffffffffffff0000n;

type Case = FpCase;
const check = (cases: Case[]): void => checkFpCases(cases);

const rng = new Rng(0x16);
const ops16 = (n: number): bigint[] => {
  const out = [...interesting(F16)];
  while (out.length < n) out.push(randomOperand(rng, F16));
  return out;
};
const V = ops16(120);
const pairs = (): Array<[bigint, bigint]> => {
  const out: Array<[bigint, bigint]> = [];
  for (let i = 0; i < 900; i++) out.push([V[rng.int(V.length)]!, V[rng.int(V.length)]!]);
  return out;
};
const R = { rd: 4, rs1: 1, rs2: 2 };

describe('Zfh arithmetic vs the oracle, every rounding mode', () => {
  for (const [name, f] of [
    ['fadd.h', (a: bigint, b: bigint, rm: number) => add(a, b, rm, F16)],
    ['fsub.h', (a: bigint, b: bigint, rm: number) => add(a, b, rm, F16, true)],
    ['fmul.h', (a: bigint, b: bigint, rm: number) => mul(a, b, rm, F16)],
    ['fdiv.h', (a: bigint, b: bigint, rm: number) => div(a, b, rm, F16)],
  ] as const) {
    it(name, () => {
      const cases: Case[] = [];
      for (const rm of MODES) for (const [a, b] of pairs()) cases.push({ insn: [name, { ...R, rm }], f: [box(a, F16), box(b, F16), 0n], want: f(a, b, rm), outFmt: F16 });
      check(cases);
    });
  }
  it('fsqrt.h', () => {
    const cases: Case[] = [];
    for (const rm of MODES) for (const a of V) cases.push({ insn: ['fsqrt.h', { rd: 4, rs1: 1, rm }], f: [box(a, F16), 0n, 0n], want: sqrt(a, rm, F16), outFmt: F16 });
    check(cases);
  });
  for (const [name, nP, nA] of [['fmadd.h', false, false], ['fmsub.h', false, true], ['fnmsub.h', true, false], ['fnmadd.h', true, true]] as const) {
    it(name, () => {
      const cases: Case[] = [];
      for (const rm of MODES)
        for (let i = 0; i < 700; i++) {
          const a = V[rng.int(V.length)]!, b = V[rng.int(V.length)]!, c = V[rng.int(V.length)]!;
          cases.push({ insn: [name, { rd: 4, rs1: 1, rs2: 2, rs3: 3, rm }], f: [box(a, F16), box(b, F16), box(c, F16)], want: fma(a, b, c, nP, nA, rm, F16), outFmt: F16 });
        }
      // A product far below the addend (2^-48 next to 2^15: 63 bits apart, more than binary64
      // holds): the binary64 step is inexact, and only the sticky (round-to-odd) bit tells the
      // final rounding that the exact value is above 2^15 (RUP must round up, NX must be set).
      for (const rm of MODES)
        for (const [a, b, c] of [[0x0001n, 0x0001n, 0x7800n], [0x8001n, 0x0001n, 0x7800n], [0x0003n, 0x0001n, 0x3c00n], [0x0001n, 0x8001n, 0xfbffn], [0x0001n, 0x0001n, 0x0400n]])
          cases.push({ insn: [name, { rd: 4, rs1: 1, rs2: 2, rs3: 3, rm }], f: [box(a, F16), box(b, F16), box(c, F16)], want: fma(a, b, c, nP, nA, rm, F16), outFmt: F16 });
      check(cases);
    });
  }
});

describe('Zfh compare, min/max, classify, sign injection', () => {
  it('fmin.h fmax.h feq.h flt.h fle.h fclass.h', () => {
    const cases: Case[] = [];
    for (const [a, b] of pairs()) {
      const f = [box(a, F16), box(b, F16), 0n];
      cases.push({ insn: ['fmin.h', R], f, want: minmax(a, b, false, F16), outFmt: F16 });
      cases.push({ insn: ['fmax.h', R], f, want: minmax(a, b, true, F16), outFmt: F16 });
      for (const op of ['eq', 'lt', 'le'] as const) cases.push({ insn: [`f${op}.h`, { rd: 6, rs1: 1, rs2: 2 }], f, want: compare(a, b, op, F16), toX: true, outFmt: F16 });
      cases.push({ insn: ['fclass.h', { rd: 6, rs1: 1 }], f, want: { bits: BigInt(classify(a, F16)), flags: 0 }, toX: true, outFmt: F16 });
      cases.push({ insn: ['fsgnjx.h', R], f, want: { bits: a ^ (b & 0x8000n), flags: 0 }, outFmt: F16 });
    }
    check(cases);
  });
  it('an improperly NaN-boxed operand reads as the canonical NaN; fmv.x.h reads the raw low bits', () => {
    const bad = 0xffff0000_00003c00n; // upper bits not all ones
    check([
      { insn: ['fsgnj.h', R], f: [bad, BOX16 | 0x3c00n, 0n], want: { bits: 0x7e00n, flags: 0 }, outFmt: F16 },
      { insn: ['fadd.h', { ...R, rm: 0 }], f: [bad, BOX16 | 0x3c00n, 0n], want: { bits: 0x7e00n, flags: 0 }, outFmt: F16 },
      { insn: ['fmv.x.h', { rd: 6, rs1: 1 }], f: [0x1234_5678_9abc_8001n, 0n, 0n], want: { bits: 0xffffffffffff8001n, flags: 0 }, toX: true, outFmt: F16 },
      { insn: ['fmv.h.x', { rd: 4, rs1: 7 }], f: [0n, 0n, 0n], x: 0x1234_5678_9abc_7c01n, want: { bits: 0x7c01n, flags: 0 }, outFmt: F16 },
    ]);
  });
});

describe('Zfh/Zfhmin conversions vs the oracle', () => {
  const INTS: bigint[] = [0n, 1n, 2n, 3n, 65504n, 65519n, 65520n, 0xffffffffn, 0x80000000n, 0x7fffffffffffffffn, 0x8000000000000000n, (1n << 64n) - 1n, (1n << 64n) - 65520n, 2049n, 4097n, 12345n];
  it('fcvt.{w,wu,l,lu}.h and fcvt.h.{w,wu,l,lu}', () => {
    const cases: Case[] = [];
    const kinds: Array<[string, IntKind]> = [['w', 'i32'], ['wu', 'u32'], ['l', 'i64'], ['lu', 'u64']];
    for (const rm of MODES) {
      for (const a of V) for (const [n, k] of kinds) cases.push({ insn: [`fcvt.${n}.h`, { rd: 6, rs1: 1, rm }], f: [box(a, F16), 0n, 0n], want: cvtFI(a, F16, k, rm), toX: true, outFmt: F16 });
      for (const x0 of INTS) for (const x of [x0, BigInt.asUintN(64, -x0), x0 + 1n])
        for (const [n, k] of kinds) cases.push({ insn: [`fcvt.h.${n}`, { rd: 4, rs1: 7, rm }], f: [0n, 0n, 0n], x: BigInt.asUintN(64, x), want: cvtIF(BigInt.asUintN(64, x), k, F16, rm), outFmt: F16 });
    }
    check(cases);
  });
  it('fcvt.s.h fcvt.d.h (exact) and fcvt.h.s fcvt.h.d (one rounding)', () => {
    const cases: Case[] = [];
    for (const rm of MODES) {
      for (const a of V) {
        cases.push({ insn: ['fcvt.s.h', { rd: 4, rs1: 1, rm }], f: [box(a, F16), 0n, 0n], want: cvtFF(a, F16, F32, rm), outFmt: F32 });
        cases.push({ insn: ['fcvt.d.h', { rd: 4, rs1: 1, rm }], f: [box(a, F16), 0n, 0n], want: cvtFF(a, F16, F64, rm), outFmt: F64 });
      }
      for (let i = 0; i < 300; i++) {
        const s = randomOperand(rng, F32);
        const d = randomOperand(rng, F64);
        cases.push({ insn: ['fcvt.h.s', { rd: 4, rs1: 1, rm }], f: [box(s, F32), 0n, 0n], want: cvtFF(s, F32, F16, rm), outFmt: F16 });
        cases.push({ insn: ['fcvt.h.d', { rd: 4, rs1: 1, rm }], f: [d, 0n, 0n], want: cvtFF(d, F64, F16, rm), outFmt: F16 });
      }
      // binary32/64 values near the binary16 range and grid
      for (const v of [65504, 65519.99, 65520, 6.1e-5, 6.0e-8, 2.98e-8, 2.9802322387695312e-8, 1.0009765625, 1.00048828125, -0.5]) {
        const d = new DataView(new ArrayBuffer(8));
        d.setFloat64(0, v);
        const bits = d.getBigUint64(0);
        cases.push({ insn: ['fcvt.h.d', { rd: 4, rs1: 1, rm }], f: [bits, 0n, 0n], want: cvtFF(bits, F64, F16, rm), outFmt: F16 });
      }
    }
    check(cases);
  });
});

describe('flh / fsh', () => {
  it('flh NaN-boxes the halfword; fsh stores the low 16 bits unchanged', () => {
    const c = run([
      ...csrwi64(CSR.mstatus, 1n << 13n), ...li(10, BigInt(DATA)),
      ['flh', { rd: 1, rs1: 10, imm: 2 }], ['fsd', { rs1: 10, rs2: 1, imm: 16 }],
      ['fsh', { rs1: 10, rs2: 2, imm: 32 }], WFI,
    ], {
      setup: (k: Core) => {
        writeLE(k, DATA, 8, 0x1111_2222_3333_4444n);
        k.setF(2, 0x0000_0000_0000_abcdn); // improperly boxed: fsh still stores abcd
      },
    });
    expect(hx(readLE(c, DATA + 16, 8))).toBe(hx(BOX16 | 0x3333n));
    expect(hx(readLE(c, DATA + 32, 8))).toBe('0xabcd');
  });
});
