/**
 * Batches of single floating-point instructions checked against the oracle (test/helpers/
 * fp-oracle.ts), shared by the Zfh and Zfa tests: one program runs every case (load f1..f3 and x7,
 * clear fflags, the instruction, store the result from f4 or x6 and fflags).
 */
import { expect } from 'vitest';
import type { Core } from '../../src/core.js';
import { F16, F32, type Fmt, type Result } from './fp-oracle.js';
import { CSR, DATA, WFI, csrwi64, li, readLE, run, writeLE, type Insn } from './isa.js';

export interface FpCase {
  insn: Insn;
  /** f1, f2, f3 (already boxed) */
  f: bigint[];
  /** x7 */
  x?: bigint;
  want: Result;
  /** the result is in x6 (else f4) */
  toX?: boolean;
  outFmt: Fmt;
}

/** NaN-box a value of format f into 64 bits. */
export const box = (h: bigint, f: Fmt): bigint => (f === F16 ? 0xffffffffffff0000n | h : f === F32 ? 0xffffffff00000000n | h : h);
export const hx = (v: bigint) => '0x' + v.toString(16);

/** Run the cases in one program (after `setup`): each one's result bits and fflags. */
export function runFpCases(cases: FpCase[], setup?: (c: Core) => void): Array<{ bits: bigint; flags: number }> {
  const STRIDE = 48;
  const prog: Insn[] = [...csrwi64(CSR.mstatus, 1n << 13n), ...li(31, BigInt(DATA))];
  for (const c of cases) {
    prog.push(
      ['fld', { rd: 1, rs1: 31, imm: 0 }], ['fld', { rd: 2, rs1: 31, imm: 8 }], ['fld', { rd: 3, rs1: 31, imm: 16 }],
      ['ld', { rd: 7, rs1: 31, imm: 40 }],
      ['csrrwi', { rd: 0, rs1: 0, imm: 0x001 }],
      c.insn,
      c.toX ? ['sd', { rs1: 31, rs2: 6, imm: 24 }] : ['fsd', { rs1: 31, rs2: 4, imm: 24 }],
      ['csrrs', { rd: 5, rs1: 0, imm: 0x001 }],
      ['sd', { rs1: 31, rs2: 5, imm: 32 }],
      ['addi', { rd: 31, rs1: 31, imm: STRIDE }],
    );
  }
  prog.push(WFI);
  const core = run(prog, {
    maxInsns: 50 * cases.length + 100,
    setup: (c: Core) => {
      setup?.(c);
      cases.forEach((k, i) => {
        k.f.forEach((v, j) => writeLE(c, DATA + i * STRIDE + 8 * j, 8, v));
        writeLE(c, DATA + i * STRIDE + 40, 8, k.x ?? 0n);
      });
    },
  });
  return cases.map((_, i) => ({ bits: readLE(core, DATA + i * STRIDE + 24, 8), flags: Number(readLE(core, DATA + i * STRIDE + 32, 8)) }));
}

/** Run the cases in batches of 400 and expect each result (boxed unless in x) and fflags as the oracle's. */
export function checkFpCases(cases: FpCase[], setup?: (c: Core) => void): void {
  for (let i = 0; i < cases.length; i += 400) {
    const part = cases.slice(i, i + 400);
    const got = runFpCases(part, setup);
    const fmt = (c: FpCase, r: { bits: bigint; flags: number }) => `${JSON.stringify(c.insn)} ${c.f.slice(0, 3).map(hx).join(' ')} x=${hx(c.x ?? 0n)} -> ${hx(r.bits)} flags ${r.flags}`;
    const bad: string[] = [];
    part.forEach((c, j) => {
      const want = c.toX ? c.want : { bits: box(c.want.bits, c.outFmt), flags: c.want.flags };
      const g = got[j]!;
      if (g.bits !== want.bits || g.flags !== want.flags) bad.push(`got ${fmt(c, g)}  want ${fmt(c, want)}`);
    });
    expect(bad.slice(0, 8)).toEqual([]);
  }
}
