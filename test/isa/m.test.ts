/**
 * M extension (Unprivileged ISA 20191213 ch. 7): multiply high variants, division by zero and
 * signed overflow (table 7.1), and the 32-bit W forms with their sign-extended results.
 */
import { describe, expect, it } from 'vitest';
import { EDGE64, Rng, hex, li, run, runBatch, s32, s64, sext, u32, u64, WFI, type Insn } from '../helpers/isa.js';

const ALL1 = 0xffffffffffffffffn;
const MIN64 = 0x8000000000000000n;

type Bin = (a: bigint, b: bigint) => bigint;
/** Reference semantics from the spec text; BigInt division truncates toward zero like RISC-V. */
const MREF: Record<string, Bin> = {
  mul: (a, b) => u64(a * b),
  mulh: (a, b) => u64((s64(a) * s64(b)) >> 64n),
  mulhsu: (a, b) => u64((s64(a) * u64(b)) >> 64n),
  mulhu: (a, b) => u64((u64(a) * u64(b)) >> 64n),
  div: (a, b) => (b === 0n ? ALL1 : a === MIN64 && b === ALL1 ? MIN64 : u64(s64(a) / s64(b))),
  divu: (a, b) => (b === 0n ? ALL1 : a / b),
  rem: (a, b) => (b === 0n ? a : a === MIN64 && b === ALL1 ? 0n : u64(s64(a) % s64(b))),
  remu: (a, b) => (b === 0n ? a : a % b),
  mulw: (a, b) => sext(a * b, 32),
  divw: (a, b) => {
    const x = s32(a), y = s32(b);
    if (y === 0n) return ALL1;
    if (x === -(2n ** 31n) && y === -1n) return sext(x, 32);
    return sext(x / y, 32);
  },
  divuw: (a, b) => {
    const x = u32(a), y = u32(b);
    return y === 0n ? ALL1 : sext(x / y, 32);
  },
  remw: (a, b) => {
    const x = s32(a), y = s32(b);
    if (y === 0n) return sext(x, 32);
    if (x === -(2n ** 31n) && y === -1n) return 0n;
    return sext(x % y, 32);
  },
  remuw: (a, b) => {
    const x = u32(a), y = u32(b);
    return y === 0n ? sext(x, 32) : sext(x % y, 32);
  },
};

const VALUES = [...EDGE64, 3n, 7n, u64(-2n), u64(-3n), u64(-7n), 0xffffffff7fffffffn, 0x00000001_fffffffen];

function runOp(op: string, pairs: Array<[bigint, bigint]>): void {
  const got = runBatch(pairs.map(([a, b]) => [...li(5, a), ...li(6, b), [op, { rd: 7, rs1: 5, rs2: 6 }]]));
  const lines = (vals: bigint[]) => pairs.map(([a, b], i) => `${op} ${hex(a)}, ${hex(b)} = ${hex(vals[i])}`);
  expect(lines(got)).toEqual(lines(pairs.map(([a, b]) => MREF[op](a, b))));
}

describe('M: all operand pairs of the edge values', () => {
  it.each(Object.keys(MREF))('%s', (op) => {
    const pairs: Array<[bigint, bigint]> = [];
    for (const a of VALUES) for (const b of VALUES) pairs.push([a, b]);
    runOp(op, pairs);
  });
});

describe('M: table 7.1 (division by zero and overflow), spelled out', () => {
  // [op, dividend, divisor, expected]
  const T: Array<[string, bigint, bigint, bigint]> = [
    ['div', 42n, 0n, ALL1],
    ['divu', 42n, 0n, ALL1],
    ['rem', 42n, 0n, 42n],
    ['remu', 42n, 0n, 42n],
    ['div', u64(-42n), 0n, ALL1],
    ['rem', u64(-42n), 0n, u64(-42n)],
    ['div', MIN64, ALL1, MIN64],
    ['rem', MIN64, ALL1, 0n],
    ['divu', MIN64, ALL1, 0n],
    ['remu', MIN64, ALL1, MIN64],
    ['divw', 0x1234_0000_002an, 0xffff_ffff_0000_0000n, ALL1], // divisor's low word is 0
    ['divuw', 0x2an, 0x1_0000_0000n, ALL1],
    ['remw', 0xffff_0000_8000_0001n, 0n, 0xffffffff80000001n], // sext of the low word
    ['remuw', 0xffff_0000_8000_0001n, 0n, 0xffffffff80000001n],
    ['remuw', 0x7fff_fffen, 0n, 0x7fff_fffen],
    ['divw', 0x8000_0000n, ALL1, 0xffffffff80000000n],
    ['remw', 0x8000_0000n, ALL1, 0n],
    ['divw', 0x1_8000_0000n, 0xffff_ffffn, 0xffffffff80000000n], // upper bits ignored
    ['div', u64(-7n), 2n, u64(-3n)], // truncation toward zero
    ['rem', u64(-7n), 2n, u64(-1n)], // remainder has the dividend's sign
    ['rem', 7n, u64(-2n), 1n],
    ['divw', u64(-7n), 2n, u64(-3n)],
    ['remw', u64(-7n), 2n, u64(-1n)],
    ['divuw', 0xffff_fffen, 1n, 0xffff_ffff_ffff_fffen], // unsigned 32-bit quotient, sign-extended
    ['mulw', 0x10000n, 0x8000n, 0xffffffff80000000n],
    ['mulw', 0xffff_ffff_0000_0003n, 0x5555_5555n, 0xffffffff_ffffffffn],
    ['mulh', ALL1, ALL1, 0n],
    ['mulhu', ALL1, ALL1, 0xffff_ffff_ffff_fffen],
    ['mulhsu', ALL1, ALL1, ALL1], // -1 * (2^64-1) = -(2^64-1): high word all ones
    ['mulhsu', 2n, ALL1, 1n],
    ['mulh', MIN64, MIN64, 0x4000_0000_0000_0000n],
    ['mulh', MIN64, 2n, ALL1],
  ];
  it.each(T)('%s %s, %s', (op, a, b, want) => {
    expect(hex(MREF[op](a, b))).toBe(hex(want)); // the reference agrees with the spec table ...
    const got = runBatch([[...li(5, a), ...li(6, b), [op, { rd: 7, rs1: 5, rs2: 6 }]]]);
    expect(hex(got[0])).toBe(hex(want)); // ... and so does the core
  });
});

describe('M: operand aliasing and x0', () => {
  it('rd == rs1 == rs2, rd = x0, divisor x0', () => {
    const cases: Array<[string, Insn[], bigint]> = [
      ['mul x7,x7,x7', [...li(7, 0xffffffffn), ['mul', { rd: 7, rs1: 7, rs2: 7 }]], u64(0xffffffffn * 0xffffffffn)],
      ['div x7,x7,x7', [...li(7, u64(-5n)), ['div', { rd: 7, rs1: 7, rs2: 7 }]], 1n],
      ['rem x7,x7,x0', [...li(7, 99n), ['rem', { rd: 7, rs1: 7, rs2: 0 }]], 99n],
      ['divu x7,x5,x0', [...li(5, 99n), ['divu', { rd: 7, rs1: 5, rs2: 0 }]], ALL1],
      ['div x0 then or', [...li(5, 9n), ['div', { rd: 0, rs1: 5, rs2: 5 }], ['or', { rd: 7, rs1: 0, rs2: 0 }]], 0n],
      ['mulhu x7,x7,x5', [...li(7, ALL1), ...li(5, 2n), ['mulhu', { rd: 7, rs1: 7, rs2: 5 }]], 1n],
    ];
    const got = runBatch(cases.map((c) => c[1]));
    expect(got.map(hex)).toEqual(cases.map((c) => hex(c[2])));
  });

  it('M ops are counted in the mul / div / divw classes', () => {
    const core = run([
      ['mul', { rd: 5, rs1: 0, rs2: 0 }],
      ['mulh', { rd: 5, rs1: 0, rs2: 0 }],
      ['mulw', { rd: 5, rs1: 0, rs2: 0 }],
      ['div', { rd: 5, rs1: 0, rs2: 0 }],
      ['remu', { rd: 5, rs1: 0, rs2: 0 }],
      ['divw', { rd: 5, rs1: 0, rs2: 0 }],
      ['remuw', { rd: 5, rs1: 0, rs2: 0 }],
      ['remw', { rd: 5, rs1: 0, rs2: 0 }],
      WFI,
    ]);
    const c = core.classCounts();
    expect([c.mul, c.div, c.divw]).toEqual([3, 2, 3]);
  });
});

describe('M: random operands (property)', () => {
  it('300 random products and quotients', () => {
    const rng = new Rng(11);
    const ops = Object.keys(MREF);
    const pairs: Array<[string, bigint, bigint]> = [];
    for (let k = 0; k < 300; k++) {
      const a = rng.pick([rng.next64(), rng.next64() >> BigInt(rng.int(64)), rng.pick(VALUES)]);
      const b = rng.pick([rng.next64(), rng.next64() >> BigInt(rng.int(64)), rng.pick(VALUES), BigInt(rng.int(10))]);
      pairs.push([rng.pick(ops), a, b]);
    }
    const got = runBatch(pairs.map(([op, a, b]) => [...li(5, a), ...li(6, b), [op, { rd: 7, rs1: 5, rs2: 6 }]]));
    const lines = (vals: bigint[]) => pairs.map(([op, a, b], i) => `${op} ${hex(a)}, ${hex(b)} = ${hex(vals[i])}`);
    expect(lines(got)).toEqual(lines(pairs.map(([op, a, b]) => MREF[op](a, b))));
  });
});
