/**
 * The oracle checked against independent evidence before anything is checked against it:
 *  - round-to-nearest results against the host's IEEE arithmetic (JS numbers are binary64 RNE;
 *    Math.fround of a binary64 +, -, *, / or sqrt of two binary32 values is the correctly rounded
 *    binary32 result);
 *  - hand-worked vectors for flags and the RISC-V rules (these are also run against the wasm).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  F32, F64, type Fmt, type Fpu, MODES, MODE_NAMES, NV, DZ, OF, UF, NX, RNE, RTZ, RDN, RUP, RMM, Rng,
  add, sub, mul, div, sqrt, fma, cvtFI, cvtIF, cvtFF, minmax, compare, classify,
  randomOperand, toNumber, fromNumber, loadFpu, arg, hex, type Result,
} from '../helpers/fp-oracle.js';

const isNaNBits = (x: bigint, f: Fmt) => Number.isNaN(toNumber(x, f));

describe('oracle vs host IEEE arithmetic (RNE)', () => {
  const N = Number(process.env.FPU_RANDOM ?? 3000);
  for (const f of [F32, F64]) {
    const native = (op: string, x: number, y: number): number => {
      const r = op === 'add' ? x + y : op === 'sub' ? x - y : op === 'mul' ? x * y : op === 'div' ? x / y : Math.sqrt(x);
      return f === F32 ? Math.fround(r) : r;
    };
    for (const op of ['add', 'sub', 'mul', 'div', 'sqrt']) {
      it(`${f.name} ${op}`, () => {
        const rng = new Rng(0x5eed + op.length * 17 + f.width);
        const bad: string[] = [];
        for (let i = 0; i < N; i++) {
          const a = randomOperand(rng, f), b = randomOperand(rng, f);
          const o =
            op === 'add' ? add(a, b, RNE, f) : op === 'sub' ? sub(a, b, RNE, f) : op === 'mul' ? mul(a, b, RNE, f)
            : op === 'div' ? div(a, b, RNE, f) : sqrt(a, RNE, f);
          const n = fromNumber(native(op, toNumber(a, f), toNumber(b, f)), f);
          const same = isNaNBits(n, f) ? isNaNBits(o.bits, f) : n === o.bits;
          if (!same) bad.push(`${op}(${hex(a, f)}, ${hex(b, f)}) oracle ${hex(o.bits, f)} host ${hex(n, f)}`);
        }
        expect(bad.slice(0, 5)).toEqual([]);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------------
// Hand-worked vectors: [description, oracle thunk, wasm thunk, expected bits, expected flags]

const f32 = (v: number) => fromNumber(v, F32);
const f64 = (v: number) => fromNumber(v, F64);
const SNAN32 = 0x7f800001n, QNAN32 = 0x7fc00000n, SNAN64 = 0x7ff0000000000001n, QNAN64 = 0x7ff8000000000000n;
const INF32 = 0x7f800000n, INF64 = 0x7ff0000000000000n;
const MINNORM64 = 0x0010000000000000n, MAX64 = 0x7fefffffffffffffn, MAX32 = 0x7f7fffffn;

interface Vec {
  what: string;
  oracle: () => Result;
  wasm: (w: Fpu) => Result;
  bits: bigint;
  flags: number;
}
const vecs: Vec[] = [];
function v2(name: string, f: Fmt, a: bigint, b: bigint, rm: number, bits: bigint, flags: number, what: string): void {
  const o = { add, sub, mul, div }[name]!;
  vecs.push({
    what: `${f.name}_${name} ${MODE_NAMES[rm]}: ${what}`,
    oracle: () => o(a, b, rm, f),
    wasm: (w) => w.call(`${f.name}_${name}`, f, arg(a, f), arg(b, f), rm),
    bits,
    flags,
  });
}

// Division by zero: DZ only for finite nonzero / 0.
v2('div', F64, f64(1), f64(0), RNE, INF64, DZ, '1/0 = inf, DZ');
v2('div', F64, f64(-1), f64(0), RTZ, INF64 | (1n << 63n), DZ, '-1/+0 = -inf, DZ');
v2('div', F64, f64(0), f64(0), RNE, QNAN64, NV, '0/0 = NaN, NV');
v2('div', F64, INF64, f64(0), RNE, INF64, 0, 'inf/0 = inf, no DZ');
v2('div', F32, f32(1), f32(3), RNE, 0x3eaaaaabn, NX, '1/3 RNE');
v2('div', F32, f32(1), f32(3), RTZ, 0x3eaaaaaan, NX, '1/3 RTZ');
v2('div', F32, f32(1), f32(3), RUP, 0x3eaaaaabn, NX, '1/3 RUP');
v2('div', F32, f32(-1), f32(3), RDN, 0xbeaaaaabn, NX, '-1/3 RDN');
// Invalid operations.
v2('add', F64, INF64, INF64 | (1n << 63n), RNE, QNAN64, NV, 'inf + -inf');
v2('sub', F32, INF32, INF32, RNE, QNAN32, NV, 'inf - inf');
v2('mul', F32, f32(0), INF32, RNE, QNAN32, NV, '0 * inf');
v2('add', F32, SNAN32, f32(1), RNE, QNAN32, NV, 'sNaN + 1: canonical NaN, NV');
v2('add', F32, QNAN32 | 0x1234n, f32(1), RNE, QNAN32, 0, 'qNaN payload not propagated, no flag');
v2('mul', F64, 0xfff8000000000123n, f64(2), RNE, QNAN64, 0, 'negative qNaN -> canonical');
// An intermediate of the binary64 TwoSum overflows (s - x ties to inf); NX must still be right.
v2('add', F64, 0xfca8000000000000n, MAX64, RNE, MAX64 - 1n, NX, '-3*2^970 + max: TwoSum intermediate overflow');
v2('add', F64, 0xfca8000000000000n, MAX64, RUP, MAX64 - 1n, NX, '-3*2^970 + max RUP');
v2('add', F64, 0xfcb0000000000000n, MAX64, RNE, MAX64 - 2n, 0, '-2^972 + max: exact');
// Exact zero signs (IEEE 754 §6.3).
v2('add', F64, f64(1), f64(-1), RNE, 0n, 0, '1 + -1 = +0');
v2('add', F64, f64(1), f64(-1), RDN, 1n << 63n, 0, '1 + -1 = -0 in RDN');
v2('add', F32, 0x80000000n, 0x80000000n, RNE, 0x80000000n, 0, '-0 + -0 = -0');
v2('sub', F32, 0n, 0n, RDN, 0x80000000n, 0, '+0 - +0 = -0 in RDN');
// Halfway cases.
v2('add', F64, f64(1), f64(2 ** -53), RNE, f64(1), NX, '1 + half ulp ties to even (down)');
v2('add', F64, f64(1 + 2 ** -52), f64(2 ** -53), RNE, f64(1 + 2 ** -51), NX, 'odd + half ulp ties to even (up)');
v2('add', F64, f64(1), f64(2 ** -53), RMM, f64(1 + 2 ** -52), NX, '1 + half ulp RMM ties away');
v2('add', F64, f64(-1), f64(-(2 ** -53)), RMM, f64(-1 - 2 ** -52), NX, '-1 - half ulp RMM ties away');
v2('add', F64, f64(1), f64(2 ** -53), RUP, f64(1 + 2 ** -52), NX, '1 + half ulp RUP');
v2('add', F64, f64(1), f64(2 ** -53), RTZ, f64(1), NX, '1 + half ulp RTZ');
// Overflow: OF implies NX; directed modes saturate toward zero side.
v2('mul', F64, MAX64, f64(2), RNE, INF64, OF | NX, 'max*2 RNE -> inf');
v2('mul', F64, MAX64, f64(2), RTZ, MAX64, OF | NX, 'max*2 RTZ -> max');
v2('mul', F64, MAX64, f64(-2), RUP, MAX64 | (1n << 63n), OF | NX, '-max*2 RUP -> -max');
v2('mul', F64, MAX64, f64(-2), RDN, INF64 | (1n << 63n), OF | NX, '-max*2 RDN -> -inf');
v2('add', F32, MAX32, 0x73000000n, RNE, INF32, OF | NX, 'max + half ulp(max) ties to inf (RNE)');
v2('add', F32, MAX32, 0x73000000n, RTZ, MAX32, NX, 'max + half ulp RTZ: no overflow');
v2('add', F32, MAX32, 0x72ffffffn, RNE, MAX32, NX, 'max + just under half ulp: no overflow');
// Underflow: tininess after rounding.
v2('mul', F64, MINNORM64, f64(0.5), RNE, MINNORM64 >> 1n, 0, 'exact subnormal: no UF');
v2('mul', F64, 0x0010000000000001n, f64(0.5), RNE, 0x0008000000000000n, UF | NX, 'inexact subnormal (tie to even): UF');
v2('mul', F64, 0x001fffffffffffffn, f64(1 + 2 ** -52), RNE, MINNORM64 << 1n, NX, 'rounds up across a binade');
// (2^-1022)(1+2^-52) * (1-2^-52) = 2^-1022 (1 - 2^-104) is tiny before rounding, but rounding it to 53
// bits with an unbounded exponent gives 2^-1022: NOT tiny after rounding, so NX only (RNE, RUP); RTZ
// keeps it below 2^-1022: tiny and inexact.
v2('mul', F64, MINNORM64 | 1n, f64(1 - 2 ** -52), RNE, MINNORM64, NX, '2^-1022 (1 - 2^-104) RNE: not tiny after rounding');
v2('mul', F64, MINNORM64 | 1n, f64(1 - 2 ** -52), RUP, MINNORM64, NX, '2^-1022 (1 - 2^-104) RUP: not tiny');
v2('mul', F64, MINNORM64 | 1n, f64(1 - 2 ** -52), RTZ, 0x000fffffffffffffn, UF | NX, '2^-1022 (1 - 2^-104) RTZ: tiny');
// 2^-1022 - 2^-1075 is representable with 53 bits (so tiny after rounding), yet the subnormal rounding
// (a tie) gives the smallest normal: UF is raised although the result is normal.
v2('mul', F64, MINNORM64, f64(1 - 2 ** -53), RNE, MINNORM64, UF | NX, '2^-1022 (1 - 2^-53): tiny, rounds to min normal');
v2('mul', F64, MINNORM64, f64(1 - 2 ** -52), RNE, 0x000fffffffffffffn, 0, 'exact max subnormal: no flags');
v2('mul', F32, 0x00800000n, 0x3f7fffffn, RNE, 0x00800000n, UF | NX, 'f32 2^-126 (1-2^-24): tiny after rounding');
v2('mul', F32, 0x00800001n, 0x3f7ffffen, RNE, 0x00800000n, NX, 'f32 2^-126 (1 - 2^-46): not tiny');
v2('mul', F64, 1n, f64(0.5), RNE, 0n, UF | NX, 'min subnormal / 2 -> +0 (tie to even)');
v2('mul', F64, 1n, f64(0.5), RUP, 1n, UF | NX, 'min subnormal / 2 RUP -> min subnormal');
v2('mul', F64, 1n | (1n << 63n), f64(0.5), RDN, 1n | (1n << 63n), UF | NX, '-min subnormal / 2 RDN');
v2('mul', F64, 1n, f64(0.5), RMM, 1n, UF | NX, 'min subnormal / 2 RMM ties away');

// sqrt, fma, conversions, min/max, compare
function vec(what: string, oracle: () => Result, wasm: (w: Fpu) => Result, bits: bigint, flags: number): void {
  vecs.push({ what, oracle, wasm, bits, flags });
}
vec('f64_sqrt(-1) NV', () => sqrt(f64(-1), RNE, F64), (w) => w.call('f64_sqrt', F64, f64(-1), RNE), QNAN64, NV);
vec('f64_sqrt(-0) = -0', () => sqrt(1n << 63n, RNE, F64), (w) => w.call('f64_sqrt', F64, 1n << 63n, RNE), 1n << 63n, 0);
vec('f32_sqrt(2) RNE', () => sqrt(f32(2), RNE, F32), (w) => w.call('f32_sqrt', F32, Number(f32(2)), RNE), 0x3fb504f3n, NX);
vec('f32_sqrt(2) RTZ', () => sqrt(f32(2), RTZ, F32), (w) => w.call('f32_sqrt', F32, Number(f32(2)), RTZ), 0x3fb504f3n, NX);
vec('f32_sqrt(2) RUP', () => sqrt(f32(2), RUP, F32), (w) => w.call('f32_sqrt', F32, Number(f32(2)), RUP), 0x3fb504f4n, NX);
vec('f64_sqrt(-inf) NV', () => sqrt(INF64 | (1n << 63n), RNE, F64), (w) => w.call('f64_sqrt', F64, INF64 | (1n << 63n), RNE), QNAN64, NV);
vec('f64_sqrt(sNaN) NV', () => sqrt(SNAN64, RNE, F64), (w) => w.call('f64_sqrt', F64, SNAN64, RNE), QNAN64, NV);
vec('f64_sqrt(4) exact', () => sqrt(f64(4), RDN, F64), (w) => w.call('f64_sqrt', F64, f64(4), RDN), f64(2), 0);
const fmaV = (what: string, f: Fmt, a: bigint, b: bigint, c: bigint, np: boolean, na: boolean, rm: number, bits: bigint, flags: number) =>
  vec(
    `${f.name}_fma ${MODE_NAMES[rm]}: ${what}`,
    () => fma(a, b, c, np, na, rm, f),
    (w) => w.call(`${f.name}_fma`, f, arg(a, f), arg(b, f), arg(c, f), np ? 1 : 0, na ? 1 : 0, rm),
    bits,
    flags,
  );
fmaV('0 * inf + qNaN raises NV (Unpriv §11.6)', F64, 0n, INF64, QNAN64, false, false, RNE, QNAN64, NV);
fmaV('inf * 0 + qNaN raises NV', F32, INF32, 0n, QNAN32, false, false, RNE, QNAN32, NV);
fmaV('1 * qNaN + 1: no flag', F32, f32(1), QNAN32, f32(1), false, false, RNE, QNAN32, 0);
fmaV('inf * 1 - inf (fmsub) NV', F64, INF64, f64(1), INF64, false, true, RNE, QNAN64, NV);
fmaV('one rounding: (1+2^-52)(1-2^-52) - 1 = -2^-104', F64, f64(1 + 2 ** -52), f64(1 - 2 ** -52), f64(1), false, true, RNE, f64(-(2 ** -104)), 0);
fmaV('fnmadd: -(2*3) - 1 = -7', F64, f64(2), f64(3), f64(1), true, true, RNE, f64(-7), 0);
fmaV('fnmsub: -(2*3) + 1 = -5', F32, f32(2), f32(3), f32(1), true, false, RNE, f32(-5), 0);
fmaV('exact zero 1*1 - 1 = +0', F64, f64(1), f64(1), f64(1), false, true, RNE, 0n, 0);
fmaV('exact zero 1*1 - 1 = -0 in RDN', F64, f64(1), f64(1), f64(1), false, true, RDN, 1n << 63n, 0);
fmaV('-0*1 + -0 = -0', F32, 0x80000000n, f32(1), 0x80000000n, false, false, RNE, 0x80000000n, 0);
fmaV('fnmadd 0*1 + 0 = -(0) - 0 = -0', F32, 0n, f32(1), 0n, true, true, RNE, 0x80000000n, 0);
fmaV('tiny product + 0 keeps the product sign', F64, 1n | (1n << 63n), f64(0.25), 0n, false, false, RNE, 1n << 63n, UF | NX);

const cvt = (what: string, f: Fmt, k: 'i32' | 'u32' | 'i64' | 'u64', a: bigint, rm: number, bits: bigint, flags: number) =>
  vec(`${f.name}_to_${k} ${MODE_NAMES[rm]}: ${what}`, () => cvtFI(a, f, k, rm), (w) => w.call(`${f.name}_to_${k}`, 'int', arg(a, f), rm), bits, flags);
cvt('NaN -> 2^31-1', F32, 'i32', QNAN32 | (1n << 31n), RNE, 0x7fffffffn, NV);
cvt('-inf -> -2^31', F32, 'i32', INF32 | (1n << 31n), RNE, 0xffffffff80000000n, NV);
cvt('3e9 -> 0xb2d05e00 sign-extended', F32, 'u32', f32(3e9), RNE, 0xffffffffb2d05e00n, 0);
cvt('NaN -> 2^32-1 sign-extended', F64, 'u32', QNAN64, RNE, 0xffffffffffffffffn, NV);
cvt('-1 -> 0, NV', F64, 'u32', f64(-1), RNE, 0n, NV);
cvt('-0.5 RNE -> 0, NX only', F64, 'u32', f64(-0.5), RNE, 0n, NX);
cvt('-0.5 RDN -> -1: out of range, NV', F64, 'u32', f64(-0.5), RDN, 0n, NV);
cvt('2.5 RNE -> 2', F64, 'i64', f64(2.5), RNE, 2n, NX);
cvt('2.5 RMM -> 3', F64, 'i64', f64(2.5), RMM, 3n, NX);
cvt('-2.5 RMM -> -3', F64, 'i64', f64(-2.5), RMM, BigInt.asUintN(64, -3n), NX);
cvt('-2.5 RUP -> -2', F64, 'i32', f64(-2.5), RUP, BigInt.asUintN(64, -2n), NX);
cvt('2^63 -> max, NV (no NX)', F64, 'i64', f64(2 ** 63), RNE, 0x7fffffffffffffffn, NV);
cvt('-2^63 exact', F64, 'i64', f64(-(2 ** 63)), RNE, 1n << 63n, 0);
cvt('2^31 - 0.5 RUP -> 2^31: NV', F64, 'i32', f64(2 ** 31 - 0.5), RUP, 0x7fffffffn, NV);
cvt('2^31 - 0.5 RTZ -> 2^31-1', F64, 'i32', f64(2 ** 31 - 0.5), RTZ, 0x7fffffffn, NX);
cvt('+inf -> 2^64-1', F64, 'u64', INF64, RNE, 0xffffffffffffffffn, NV);
vec('i64_to_f32(2^63-1) RNE', () => cvtIF(0x7fffffffffffffffn, 'i64', F32, RNE), (w) => w.call('i64_to_f32', F32, 0x7fffffffffffffffn, RNE), 0x5f000000n, NX);
vec('u64_to_f32(2^64-1) RTZ', () => cvtIF(0xffffffffffffffffn, 'u64', F32, RTZ), (w) => w.call('u64_to_f32', F32, 0xffffffffffffffffn, RTZ), 0x5f7fffffn, NX);
vec('i32_to_f32 uses the low 32 bits (-1)', () => cvtIF(0x12345678ffffffffn, 'i32', F32, RNE), (w) => w.call('i32_to_f32', F32, 0x12345678ffffffffn, RNE), 0xbf800000n, 0);
vec('f64_to_f32(1e300) RTZ -> max', () => cvtFF(f64(1e300), F64, F32, RTZ), (w) => w.call('f64_to_f32', F32, f64(1e300), RTZ), MAX32, OF | NX);
vec('f32_to_f64(sNaN) NV', () => cvtFF(SNAN32, F32, F64, RNE), (w) => w.call('f32_to_f64', F64, Number(SNAN32)), QNAN64, NV);
vec('fmin(-0, +0) = -0', () => minmax(0n, 1n << 63n, false, F64), (w) => w.call('f64_min', F64, 0n, 1n << 63n), 1n << 63n, 0);
vec('fmax(-0, +0) = +0', () => minmax(1n << 63n, 0n, true, F64), (w) => w.call('f64_max', F64, 1n << 63n, 0n), 0n, 0);
vec('fmin(sNaN, 1) = 1, NV', () => minmax(SNAN32, f32(1), false, F32), (w) => w.call('f32_min', F32, Number(SNAN32), Number(f32(1))), f32(1), NV);
vec('fmax(qNaN, qNaN) = canonical', () => minmax(QNAN32 | 7n, QNAN32 | 1n, true, F32), (w) => w.call('f32_max', F32, Number(QNAN32 | 7n), Number(QNAN32 | 1n)), QNAN32, 0);
vec('feq(qNaN, 1) = 0 quiet', () => compare(QNAN64, f64(1), 'eq', F64), (w) => w.call('f64_eq', F64, QNAN64, f64(1)), 0n, 0);
vec('feq(sNaN, 1) = 0, NV', () => compare(SNAN64, f64(1), 'eq', F64), (w) => w.call('f64_eq', F64, SNAN64, f64(1)), 0n, NV);
vec('flt(qNaN, 1) = 0, NV', () => compare(QNAN64, f64(1), 'lt', F64), (w) => w.call('f64_lt', F64, QNAN64, f64(1)), 0n, NV);
vec('fle(-0, +0) = 1', () => compare(1n << 63n, 0n, 'le', F64), (w) => w.call('f64_le', F64, 1n << 63n, 0n), 1n, 0);
vec('flt(-0, +0) = 0', () => compare(1n << 63n, 0n, 'lt', F64), (w) => w.call('f64_lt', F64, 1n << 63n, 0n), 0n, 0);
vec('feq(-0, +0) = 1', () => compare(0x80000000n, 0n, 'eq', F32), (w) => w.call('f32_eq', F32, 0x80000000, 0), 1n, 0);
vec('fclass(sNaN) = 1<<8', () => ({ bits: BigInt(classify(SNAN64, F64)), flags: 0 }), (w) => w.call('f64_classify', 'int', SNAN64), 256n, 0);
vec('fclass(-subnormal) = 1<<2', () => ({ bits: BigInt(classify(0x80000001n, F32)), flags: 0 }), (w) => w.call('f32_classify', 'int', 0x80000001), 4n, 0);

describe('hand-worked vectors', () => {
  let w: Fpu;
  beforeAll(() => {
    w = loadFpu();
  }, 180_000);
  it('oracle', () => {
    const bad = vecs.filter((v) => {
      const r = v.oracle();
      return r.bits !== v.bits || r.flags !== v.flags;
    }).map((v) => `${v.what}: got ${JSON.stringify({ bits: hex(v.oracle().bits, F64), flags: v.oracle().flags })}`);
    expect(bad).toEqual([]);
  });
  it('wasm', () => {
    const bad = vecs.filter((v) => {
      const r = v.wasm(w);
      return r.bits !== v.bits || r.flags !== v.flags;
    }).map((v) => `${v.what}: got ${JSON.stringify({ bits: hex(v.wasm(w).bits, F64), flags: v.wasm(w).flags })}`);
    expect(bad).toEqual([]);
  });
  it('covers every mode name', () => {
    expect(MODES.map((m) => MODE_NAMES[m])).toEqual(['RNE', 'RTZ', 'RDN', 'RUP', 'RMM']);
    void [OF, UF, NX, RTZ, RDN, RUP, RMM];
  });
});
