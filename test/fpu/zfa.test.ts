/**
 * Zfa (Unpriv 20240411 ch. 24, assembly/zfa.ts): fli, fminm/fmaxm, fround/froundnx, fcvtmod.w.d,
 * fleq/fltq for single, double and half precision, executed by the core against the BigInt
 * oracle (test/helpers/fp-oracle.ts: minmaxM, compareQuiet, roundToIntegral, fcvtmodWD,
 * fliValue), result bits and fflags, in every rounding mode, over the specials, the boundary values
 * and random operands. QEMU 7.2 has no Zfa (it came with QEMU 8.0), so the oracle is the reference.
 */
import { describe, expect, it } from 'vitest';
import type { Core } from '../../src/core.js';
import { extMaskOf, resolveCpu } from '../../src/board/cpu.js';
import { disassemble } from '../../src/isa/disasm.js';
import { encode } from '../../src/isa/encode.js';
import {
  F16, F32, F64, MODES, Rng, compareQuiet, fcvtmodWD, fliValue, interesting, minmaxM, randomOperand, roundToIntegral,
  type Fmt,
} from '../helpers/fp-oracle.js';
import { box, checkFpCases, hx, type FpCase } from '../helpers/fp-cases.js';
import { CSR, WFI, csrwi64, exec, expectTrap, li, run, type Insn } from '../helpers/isa.js';

const sfx = (f: Fmt) => (f === F16 ? 'h' : f === F32 ? 's' : 'd');

type Case = FpCase;
const check = (cases: Case[]): void => checkFpCases(cases);

const rng = new Rng(0x2fa);
const operands = (f: Fmt, n: number): bigint[] => {
  const out = [...interesting(f)];
  while (out.length < n) out.push(randomOperand(rng, f));
  return out;
};
const FMTS = [F16, F32, F64] as const;

describe('Zfa vs the oracle (S, D, H)', () => {
  for (const f of FMTS) {
    const p = sfx(f);
    const V = operands(f, 150);
    const pairs: Array<[bigint, bigint]> = [];
    for (let i = 0; i < 800; i++) pairs.push([V[rng.int(V.length)]!, V[rng.int(V.length)]!]);
    for (const v of V) pairs.push([v, v]);

    it(`fli.${p}: the 32 constants, no flags`, () => {
      const cases: Case[] = [];
      for (let i = 0; i < 32; i++) cases.push({ insn: [`fli.${p}`, { rd: 4, rs1: i }], f: [0n, 0n], want: { bits: fliValue(i, f), flags: 0 }, outFmt: f });
      check(cases);
    });

    it(`fminm.${p} fmaxm.${p}: NaN in, canonical NaN out; -0 < +0`, () => {
      const cases: Case[] = [];
      for (const [a, b] of pairs) {
        const fa = [box(a, f), box(b, f)];
        cases.push({ insn: [`fminm.${p}`, { rd: 4, rs1: 1, rs2: 2 }], f: fa, want: minmaxM(a, b, false, f), outFmt: f });
        cases.push({ insn: [`fmaxm.${p}`, { rd: 4, rs1: 1, rs2: 2 }], f: fa, want: minmaxM(a, b, true, f), outFmt: f });
      }
      check(cases);
    });

    it(`fleq.${p} fltq.${p}: quiet (NV only for a signaling NaN)`, () => {
      const cases: Case[] = [];
      for (const [a, b] of pairs) {
        const fa = [box(a, f), box(b, f)];
        cases.push({ insn: [`fleq.${p}`, { rd: 6, rs1: 1, rs2: 2 }], f: fa, want: compareQuiet(a, b, 'le', f), toX: true, outFmt: f });
        cases.push({ insn: [`fltq.${p}`, { rd: 6, rs1: 1, rs2: 2 }], f: fa, want: compareQuiet(a, b, 'lt', f), toX: true, outFmt: f });
      }
      check(cases);
    });

    it(`fround.${p} froundnx.${p}: every rounding mode (ties, halves, large values, specials)`, () => {
      // Add the halfway and near-integer values every mode treats differently.
      const extra: bigint[] = [];
      for (const x of [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, -0.49, 3.75, -3.75, 1023.5, -1023.5, 1e-3]) {
        const b = f === F64 ? new BigUint64Array(new Float64Array([x]).buffer)[0]!
          : f === F32 ? BigInt(new Uint32Array(new Float32Array([x]).buffer)[0]!) : null;
        if (b !== null) extra.push(b);
      }
      if (f === F16) extra.push(0x3800n, 0x3e00n, 0x4100n, 0xb800n, 0xbe00n, 0x63ffn, 0x6400n, 0x7bffn, 0x37ffn);
      const cases: Case[] = [];
      for (const rm of MODES)
        for (const a of [...V, ...extra]) {
          cases.push({ insn: [`fround.${p}`, { rd: 4, rs1: 1, rm }], f: [box(a, f), 0n], want: roundToIntegral(a, f, rm, false), outFmt: f });
          cases.push({ insn: [`froundnx.${p}`, { rd: 4, rs1: 1, rm }], f: [box(a, f), 0n], want: roundToIntegral(a, f, rm, true), outFmt: f });
        }
      check(cases);
    });
  }

  it('fcvtmod.w.d: modular int32 of the truncation; NV out of range / NaN / inf (result 0 for those two), else NX if inexact', () => {
    const d = (x: number) => new BigUint64Array(new Float64Array([x]).buffer)[0]!;
    const V = [
      ...operands(F64, 300),
      ...[2 ** 31, -(2 ** 31), -(2 ** 31) - 0.5, -(2 ** 31) - 1, 2 ** 31 - 0.5, 2 ** 31 - 1, 2 ** 32 + 5, -(2 ** 32) - 5,
        4294967296.75, 1e20, -1e20, 2 ** 53 + 2, 2 ** 62 + 2 ** 40 + 7 * 2 ** 10, 2 ** 83 + 2 ** 31, 2 ** 84, 2 ** 85,
        -(2 ** 83) - 2 ** 32 - 2 ** 31, 0.5, -0.5, 1.5, -1.99, 123456789.9, -987654321.25].map(d),
    ];
    check(V.map((a) => ({ insn: ['fcvtmod.w.d', { rd: 6, rs1: 1 }], f: [a, 0n], want: fcvtmodWD(a), toX: true, outFmt: F64 })));
  });
});

describe('Zfa: encodings and the illegal cases', () => {
  it('the table rows: fli.s is fmv.w.x with rs2 = 1, fminm has bit 13, fleq bit 14, fround rs2 = 4, fcvtmod.w.d rs2 = 8 rm = RTZ', () => {
    expect(hx(BigInt(encode('fli.s', { rd: 1, rs1: 16 }) >>> 0))).toBe(hx(0xf01800d3n)); // fli.s ft1, 1.0
    expect(hx(BigInt(encode('fminm.d', { rd: 1, rs1: 2, rs2: 3 }) >>> 0))).toBe(hx(0x2a3120d3n));
    expect(hx(BigInt(encode('fleq.s', { rd: 10, rs1: 1, rs2: 2 }) >>> 0))).toBe(hx(0xa020c553n));
    expect(hx(BigInt(encode('fround.d', { rd: 1, rs1: 2, rm: 0 }) >>> 0))).toBe(hx(0x424100d3n));
    expect(hx(BigInt(encode('fcvtmod.w.d', { rd: 10, rs1: 1 }) >>> 0))).toBe(hx(0xc2809553n));
    expect(disassemble(0xf01800d3)).toMatch(/^fli\.s\s+ft1, 16$/);
  });

  it('with mstatus.FS = Off every Zfa instruction is illegal', () => {
    const insn: Insn = ['fli.d', { rd: 1, rs1: 16 }];
    expectTrap(exec([...csrwi64(CSR.mstatus, 0n), insn, WFI]), { cause: 2, tval: BigInt(encode('fli.d', { rd: 1, rs1: 16 }) >>> 0) });
  });

  it('fround with a dynamic rm and frm = 5 is illegal; fcvtmod.w.d with rm != RTZ is not an encoding', () => {
    const r = exec([...csrwi64(CSR.mstatus, 1n << 13n), ...li(5, 5n), ['csrrw', { rd: 0, rs1: 5, imm: 0x002 }], ['fround.s', { rd: 1, rs1: 2, rm: 7 }], WFI]);
    expectTrap(r, { cause: 2 });
    expect(disassemble(0xc2808553 /* rm = 0 */)).not.toMatch(/fcvtmod/);
  });

  it('--cpu rv64,zfa=off: illegal; with Zfh off the H rows are illegal but fli.s still works', () => {
    const set = (ext: Record<string, boolean>) => (c: Core) =>
      (c.ex as unknown as { setExtensions(m: number): void }).setExtensions(extMaskOf(resolveCpu({ ext }, true).ext));
    expectTrap(exec([...csrwi64(CSR.mstatus, 1n << 13n), ['fli.s', { rd: 1, rs1: 16 }], WFI], { setup: set({ Zfa: false }) }), { cause: 2 });
    expectTrap(exec([...csrwi64(CSR.mstatus, 1n << 13n), ['fli.h', { rd: 1, rs1: 16 }], WFI], { setup: set({ Zfh: false }) }), { cause: 2 });
    const ok = run([...csrwi64(CSR.mstatus, 1n << 13n), ['fli.s', { rd: 1, rs1: 16 }], WFI], { setup: set({ Zfh: false }) });
    expect(hx(ok.f(1))).toBe(hx(0xffffffff3f800000n));
  });
});
