/**
 * Reference model for RISC-V F/D arithmetic (Unpriv ISA 20191213 ch. 11, 12; IEEE 754-2019), written
 * independently of assembly/fpu.ts: every operand is decoded to an exact rational (BigInt numerator and
 * denominator), the exact result is computed as a fraction, and one generic routine rounds a fraction to
 * a format in one of the five modes. Slow and plain on purpose.
 *
 * RISC-V specifics modelled here: NaN results are canonical; tininess is detected after rounding; UF only
 * when tiny and inexact; fma(0, inf, qNaN) raises NV; min/max are IEEE 754-2019 minimumNumber /
 * maximumNumber with -0 < +0; float->int saturates per Unpriv table 11.4 with NV only (no NX).
 *
 * The second half of the file is test support: loading build/fpu-test.wasm (built from
 * assembly/fpu-test.ts when missing or stale), operand sets and a seeded generator.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NV = 0x10, DZ = 0x08, OF = 0x04, UF = 0x02, NX = 0x01;
export const RNE = 0, RTZ = 1, RDN = 2, RUP = 3, RMM = 4;
export const MODES = [RNE, RTZ, RDN, RUP, RMM] as const;
export const MODE_NAMES = ['RNE', 'RTZ', 'RDN', 'RUP', 'RMM'];

export interface Fmt {
  name: 'f16' | 'f32' | 'f64';
  width: number; // bits in the encoding
  p: number; // precision, hidden bit included
  ebits: number;
  bias: number;
  emin: number;
  emax: number;
}
/** binary16 (Zfh): the same rational model at p = 11. */
export const F16: Fmt = { name: 'f16', width: 16, p: 11, ebits: 5, bias: 15, emin: -14, emax: 15 };
export const F32: Fmt = { name: 'f32', width: 32, p: 24, ebits: 8, bias: 127, emin: -126, emax: 127 };
export const F64: Fmt = { name: 'f64', width: 64, p: 53, ebits: 11, bias: 1023, emin: -1022, emax: 1023 };

export interface Result {
  bits: bigint;
  flags: number;
}

export const canonicalNaN = (f: Fmt): bigint => (f.width === 16 ? 0x7e00n : f.width === 32 ? 0x7fc00000n : 0x7ff8000000000000n);
const signBit = (f: Fmt): bigint => 1n << BigInt(f.width - 1);
const infBits = (f: Fmt): bigint => ((1n << BigInt(f.ebits)) - 1n) << BigInt(f.p - 1);

type Cls = 'zero' | 'finite' | 'inf' | 'qnan' | 'snan';
/** Decoded operand; for 'finite' the magnitude is sig * 2^exp with sig > 0. */
interface Dec {
  cls: Cls;
  neg: boolean;
  sig: bigint;
  exp: number;
}

export function decode(bits: bigint, f: Fmt): Dec {
  const neg = ((bits >> BigInt(f.width - 1)) & 1n) === 1n;
  const e = Number((bits >> BigInt(f.p - 1)) & ((1n << BigInt(f.ebits)) - 1n));
  const frac = bits & ((1n << BigInt(f.p - 1)) - 1n);
  if (e === (1 << f.ebits) - 1) {
    if (frac === 0n) return { cls: 'inf', neg, sig: 0n, exp: 0 };
    const quiet = ((frac >> BigInt(f.p - 2)) & 1n) === 1n;
    return { cls: quiet ? 'qnan' : 'snan', neg, sig: 0n, exp: 0 };
  }
  if (e === 0) {
    if (frac === 0n) return { cls: 'zero', neg, sig: 0n, exp: 0 };
    return { cls: 'finite', neg, sig: frac, exp: f.emin - (f.p - 1) };
  }
  return { cls: 'finite', neg, sig: frac | (1n << BigInt(f.p - 1)), exp: e - f.bias - (f.p - 1) };
}

const isNaNc = (d: Dec) => d.cls === 'qnan' || d.cls === 'snan';

/** An exact signed rational: (-1)^neg * num / den, den > 0, num >= 0. */
interface Q {
  neg: boolean;
  num: bigint;
  den: bigint;
}
function toQ(d: Dec): Q {
  if (d.cls === 'zero') return { neg: d.neg, num: 0n, den: 1n };
  return d.exp >= 0
    ? { neg: d.neg, num: d.sig << BigInt(d.exp), den: 1n }
    : { neg: d.neg, num: d.sig, den: 1n << BigInt(-d.exp) };
}
/** Signed numerator over a common denominator. */
function qAdd(a: Q, b: Q): Q {
  const an = a.neg ? -a.num : a.num, bn = b.neg ? -b.num : b.num;
  const n = an * b.den + bn * a.den;
  return { neg: n < 0n, num: n < 0n ? -n : n, den: a.den * b.den };
}
function qMul(a: Q, b: Q): Q {
  return { neg: a.neg !== b.neg, num: a.num * b.num, den: a.den * b.den };
}
/** -1, 0, 1 for a <=> b. */
function qCmp(a: Q, b: Q): number {
  const an = a.neg ? -a.num : a.num, bn = b.neg ? -b.num : b.num;
  const l = an * b.den, r = bn * a.den;
  return l < r ? -1 : l > r ? 1 : 0;
}

const bitlen = (x: bigint): number => x.toString(2).length;

/** floor(log2(num/den)) for num, den > 0. */
function ilog2(num: bigint, den: bigint): number {
  let e = bitlen(num) - bitlen(den);
  const below = e >= 0 ? num < den << BigInt(e) : num << BigInt(-e) < den;
  if (below) e--;
  return e;
}

type Rest = 'zero' | 'below' | 'half' | 'above';
/** floor(num / (den * 2^q)) and where the discarded fraction lies relative to one half. */
function scaleFloor(num: bigint, den: bigint, q: number): [bigint, Rest] {
  let n = num, d = den;
  if (q >= 0) d = den << BigInt(q);
  else n = num << BigInt(-q);
  const k = n / d;
  const r2 = (n - k * d) * 2n;
  return [k, r2 === 0n ? 'zero' : r2 < d ? 'below' : r2 === d ? 'half' : 'above'];
}

/** Round the magnitude k + rest to an integer for a value of the given sign. */
function roundInt(neg: boolean, k: bigint, rest: Rest, rm: number): bigint {
  const up = (() => {
    switch (rm) {
      case RNE: return rest === 'above' || (rest === 'half' && (k & 1n) === 1n);
      case RTZ: return false;
      case RDN: return neg && rest !== 'zero';
      case RUP: return !neg && rest !== 'zero';
      case RMM: return rest === 'above' || rest === 'half';
      default: throw new Error(`bad rm ${rm}`);
    }
  })();
  return up ? k + 1n : k;
}

/** Round (-1)^neg * num/den (num > 0) to format f in mode rm. */
export function roundQ(neg: boolean, num: bigint, den: bigint, rm: number, f: Fmt): Result {
  if (num <= 0n) throw new Error('roundQ: magnitude must be positive');
  const sign = neg ? signBit(f) : 0n;
  const E = ilog2(num, den);
  const qmin = f.emin - (f.p - 1);
  let q = Math.max(E - (f.p - 1), qmin);
  let [k, rest] = scaleFloor(num, den, q);
  k = roundInt(neg, k, rest, rm);
  if (k === 1n << BigInt(f.p)) {
    k >>= 1n;
    q++;
  }
  const inexact = rest !== 'zero';
  // Overflow: the result rounded with an unbounded exponent lies beyond the largest finite number.
  if (q > f.emax - (f.p - 1)) {
    const toInf = rm === RNE || rm === RMM || (rm === RUP && !neg) || (rm === RDN && neg);
    return { bits: sign | (toInf ? infBits(f) : infBits(f) - 1n), flags: OF | NX };
  }
  // Tininess after rounding: round to p bits with an unbounded exponent range, compare with 2^emin.
  let tiny = false;
  if (E < f.emin) {
    const [ku0, ru] = scaleFloor(num, den, E - (f.p - 1));
    const ku = roundInt(neg, ku0, ru, rm);
    const Eu = ku === 1n << BigInt(f.p) ? E + 1 : E;
    tiny = Eu < f.emin;
  }
  let flags = 0;
  if (inexact) flags |= NX;
  if (inexact && tiny) flags |= UF;
  let bits: bigint;
  if (k < 1n << BigInt(f.p - 1)) {
    if (q !== qmin) throw new Error('roundQ: unnormalized result outside the subnormal range');
    bits = k; // subnormal or zero
  } else {
    const biased = BigInt(q + (f.p - 1) + f.bias);
    bits = (biased << BigInt(f.p - 1)) | (k - (1n << BigInt(f.p - 1)));
  }
  return { bits: sign | bits, flags };
}

/** The exact value of a finite encoding as a signed fraction; null for inf/NaN. */
export function exactValue(bits: bigint, f: Fmt): Q | null {
  const d = decode(bits, f);
  return d.cls === 'zero' || d.cls === 'finite' ? toQ(d) : null;
}
export { type Q, qAdd, qMul };

/** Round an exact fraction (any sign, zero gives +0) to the format. */
export function roundValue(v: Q, rm: number, f: Fmt): Result {
  return v.num === 0n ? zero(false, f) : roundQ(v.neg, v.num, v.den, rm, f);
}

function roundQv(v: Q, rm: number, f: Fmt): Result {
  return roundQ(v.neg, v.num, v.den, rm, f);
}
const zero = (neg: boolean, f: Fmt): Result => ({ bits: neg ? signBit(f) : 0n, flags: 0 });
const nan = (f: Fmt, flags: number): Result => ({ bits: canonicalNaN(f), flags });
const inf = (neg: boolean, f: Fmt, flags = 0): Result => ({ bits: (neg ? signBit(f) : 0n) | infBits(f), flags });

// ---------------------------------------------------------------------------------------------------
// Arithmetic

/** a + b with a's and b's signs optionally flipped (sub = add with b negated). */
export function add(a: bigint, b: bigint, rm: number, f: Fmt, negateB = false): Result {
  const da = decode(a, f), db0 = decode(b, f);
  const db = { ...db0, neg: db0.neg !== negateB };
  if (isNaNc(da) || isNaNc(db)) return nan(f, da.cls === 'snan' || db.cls === 'snan' ? NV : 0);
  if (da.cls === 'inf' && db.cls === 'inf') return da.neg !== db.neg ? nan(f, NV) : inf(da.neg, f);
  if (da.cls === 'inf') return inf(da.neg, f);
  if (db.cls === 'inf') return inf(db.neg, f);
  const s = qAdd(toQ(da), toQ(db));
  if (s.num === 0n) {
    // IEEE 754 §6.3: x + x keeps the sign of zero x; otherwise an exact zero sum is +0, -0 in RDN.
    if (da.cls === 'zero' && db.cls === 'zero' && da.neg === db.neg) return zero(da.neg, f);
    return zero(rm === RDN, f);
  }
  return roundQv(s, rm, f);
}
export const sub = (a: bigint, b: bigint, rm: number, f: Fmt): Result => add(a, b, rm, f, true);

export function mul(a: bigint, b: bigint, rm: number, f: Fmt): Result {
  const da = decode(a, f), db = decode(b, f);
  const neg = da.neg !== db.neg;
  if (isNaNc(da) || isNaNc(db)) return nan(f, da.cls === 'snan' || db.cls === 'snan' ? NV : 0);
  if ((da.cls === 'inf' && db.cls === 'zero') || (da.cls === 'zero' && db.cls === 'inf')) return nan(f, NV);
  if (da.cls === 'inf' || db.cls === 'inf') return inf(neg, f);
  if (da.cls === 'zero' || db.cls === 'zero') return zero(neg, f);
  return roundQv(qMul(toQ(da), toQ(db)), rm, f);
}

export function div(a: bigint, b: bigint, rm: number, f: Fmt): Result {
  const da = decode(a, f), db = decode(b, f);
  const neg = da.neg !== db.neg;
  if (isNaNc(da) || isNaNc(db)) return nan(f, da.cls === 'snan' || db.cls === 'snan' ? NV : 0);
  if (da.cls === 'inf' && db.cls === 'inf') return nan(f, NV);
  if (da.cls === 'zero' && db.cls === 'zero') return nan(f, NV);
  if (da.cls === 'inf') return inf(neg, f);
  if (db.cls === 'inf') return zero(neg, f);
  if (db.cls === 'zero') return inf(neg, f, DZ);
  if (da.cls === 'zero') return zero(neg, f);
  const qa = toQ(da), qb = toQ(db);
  return roundQ(neg, qa.num * qb.den, qa.den * qb.num, rm, f);
}

/** floor(sqrt(n)) for n >= 0 (Newton). */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitlen(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

export function sqrt(a: bigint, rm: number, f: Fmt): Result {
  const d = decode(a, f);
  if (isNaNc(d)) return nan(f, d.cls === 'snan' ? NV : 0);
  if (d.cls === 'zero') return zero(d.neg, f);
  if (d.neg) return nan(f, NV);
  if (d.cls === 'inf') return inf(false, f);
  // sqrt(sig * 2^exp) = sqrt(sig * 2^(exp + 2t)) * 2^-t, with t chosen so that exp + 2t is even and
  // the integer under the root has >= 2p + 16 bits (so its root s has >= p + 8 bits).
  let t = Math.ceil((2 * f.p + 16 - bitlen(d.sig) - d.exp) / 2);
  if ((d.exp + 2 * t) % 2 !== 0) t++;
  const n = d.sig << BigInt(d.exp + 2 * t); // exp + 2t > 0 by the choice of t
  const s = isqrt(n);
  const scaled = (num: bigint, extra: number): Result => {
    const k = t + extra; // value = num * 2^-k
    return k >= 0 ? roundQ(false, num, 1n << BigInt(k), rm, f) : roundQ(false, num << BigInt(-k), 1n, rm, f);
  };
  if (s * s === n) return scaled(s, 0);
  // Irrational: the root lies strictly inside (s, s+1) * 2^-t, an interval far finer than any rounding
  // boundary (s has >= p + 8 bits), so its midpoint rounds the same way and is equally inexact.
  return scaled(2n * s + 1n, 1);
}

/** (-1)^negProduct * a * b + (-1)^negAddend * c, one rounding. */
export function fma(a: bigint, b: bigint, c: bigint, negProduct: boolean, negAddend: boolean, rm: number, f: Fmt): Result {
  const da = decode(a, f), db = decode(b, f), dc0 = decode(c, f);
  const dc = { ...dc0, neg: dc0.neg !== negAddend };
  const pNeg = (da.neg !== db.neg) !== negProduct;
  const zeroTimesInf = (da.cls === 'zero' && db.cls === 'inf') || (da.cls === 'inf' && db.cls === 'zero');
  if (isNaNc(da) || isNaNc(db) || isNaNc(dc)) {
    // Unpriv §11.6: NV for inf * 0 even when the addend is a quiet NaN.
    const snan = da.cls === 'snan' || db.cls === 'snan' || dc.cls === 'snan';
    return nan(f, snan || zeroTimesInf ? NV : 0);
  }
  if (zeroTimesInf) return nan(f, NV);
  const pInf = da.cls === 'inf' || db.cls === 'inf';
  if (pInf && dc.cls === 'inf' && pNeg !== dc.neg) return nan(f, NV);
  if (pInf) return inf(pNeg, f);
  if (dc.cls === 'inf') return inf(dc.neg, f);
  const prod = qMul(toQ(da), toQ(db));
  prod.neg = pNeg;
  const s = qAdd(prod, toQ(dc));
  if (s.num === 0n) {
    const pZero = prod.num === 0n;
    if (pZero && dc.cls === 'zero' && pNeg === dc.neg) return zero(pNeg, f);
    return zero(rm === RDN, f);
  }
  return roundQv(s, rm, f);
}

// ---------------------------------------------------------------------------------------------------
// Min/max, comparisons, classification

/** IEEE 754-2019 minimumNumber (isMax = false) / maximumNumber, -0 < +0, RISC-V NaN rules. */
export function minmax(a: bigint, b: bigint, isMax: boolean, f: Fmt): Result {
  const da = decode(a, f), db = decode(b, f);
  const flags = da.cls === 'snan' || db.cls === 'snan' ? NV : 0;
  if (isNaNc(da) && isNaNc(db)) return { bits: canonicalNaN(f), flags };
  if (isNaNc(da)) return { bits: b, flags };
  if (isNaNc(db)) return { bits: a, flags };
  // Order: compare values (infinities outrank finite values); at equal value -0 sorts below +0.
  const ord = (x: Dec, y: Dec): number => {
    const rank = (d: Dec) => (d.cls === 'inf' ? (d.neg ? -2 : 2) : 0);
    if (rank(x) !== rank(y)) return rank(x) - rank(y);
    if (x.cls === 'inf') return 0;
    const c = qCmp(toQ(x), toQ(y));
    if (c !== 0) return c;
    if (x.cls === 'zero' && y.cls === 'zero' && x.neg !== y.neg) return x.neg ? -1 : 1;
    return 0;
  };
  const c = ord(da, db);
  const pick = isMax ? (c >= 0 ? a : b) : c <= 0 ? a : b;
  return { bits: pick, flags };
}

/** feq (quiet), flt, fle (signaling): result 0/1 in bits. */
export function compare(a: bigint, b: bigint, op: 'eq' | 'lt' | 'le', f: Fmt): Result {
  const da = decode(a, f), db = decode(b, f);
  if (isNaNc(da) || isNaNc(db)) {
    const nv = op === 'eq' ? da.cls === 'snan' || db.cls === 'snan' : true;
    return { bits: 0n, flags: nv ? NV : 0 };
  }
  const num = (d: Dec): number => (d.cls === 'inf' ? (d.neg ? -2 : 2) : 0);
  let c: number;
  if (num(da) !== 0 || num(db) !== 0) c = Math.sign(num(da) - num(db));
  else c = qCmp(toQ(da), toQ(db)); // -0 == +0 here
  const r = op === 'eq' ? c === 0 : op === 'lt' ? c < 0 : c <= 0;
  return { bits: r ? 1n : 0n, flags: 0 };
}

/** fclass (Unpriv table 11.5). */
export function classify(a: bigint, f: Fmt): number {
  const d = decode(a, f);
  const minNormal = 1n << BigInt(f.p - 1);
  switch (d.cls) {
    case 'inf': return d.neg ? 1 << 0 : 1 << 7;
    case 'zero': return d.neg ? 1 << 3 : 1 << 4;
    case 'snan': return 1 << 8;
    case 'qnan': return 1 << 9;
    default: {
      const sub = d.sig < minNormal;
      if (d.neg) return sub ? 1 << 2 : 1 << 1;
      return sub ? 1 << 5 : 1 << 6;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Conversions

export function cvtFF(a: bigint, from: Fmt, to: Fmt, rm: number): Result {
  const d = decode(a, from);
  if (isNaNc(d)) return nan(to, d.cls === 'snan' ? NV : 0);
  if (d.cls === 'inf') return inf(d.neg, to);
  if (d.cls === 'zero') return zero(d.neg, to);
  return roundQv(toQ(d), rm, to);
}

export type IntKind = 'i32' | 'u32' | 'i64' | 'u64';
const intRange = (k: IntKind): [bigint, bigint] => {
  switch (k) {
    case 'i32': return [-(1n << 31n), (1n << 31n) - 1n];
    case 'u32': return [0n, (1n << 32n) - 1n];
    case 'i64': return [-(1n << 63n), (1n << 63n) - 1n];
    case 'u64': return [0n, (1n << 64n) - 1n];
  }
};
/** The 64-bit register value RV64 writes for an integer result of kind k (32-bit forms sign-extend). */
const regValue = (v: bigint, k: IntKind): bigint =>
  k === 'i32' || k === 'u32' ? BigInt.asUintN(64, BigInt.asIntN(32, v)) : BigInt.asUintN(64, v);

/** fcvt.{w,wu,l,lu}.{s,d} (Unpriv table 11.4). */
export function cvtFI(a: bigint, f: Fmt, k: IntKind, rm: number): Result {
  const d = decode(a, f);
  const [lo, hi] = intRange(k);
  if (isNaNc(d)) return { bits: regValue(hi, k), flags: NV };
  if (d.cls === 'inf') return { bits: regValue(d.neg ? lo : hi, k), flags: NV };
  let v = 0n;
  let inexact = false;
  if (d.cls === 'finite') {
    const q = toQ(d);
    const [k0, rest] = scaleFloor(q.num, q.den, 0);
    const m = roundInt(d.neg, k0, rest, rm);
    v = d.neg ? -m : m;
    inexact = rest !== 'zero';
  }
  if (v < lo) return { bits: regValue(lo, k), flags: NV };
  if (v > hi) return { bits: regValue(hi, k), flags: NV };
  return { bits: regValue(v, k), flags: inexact ? NX : 0 };
}

/** fcvt.{s,d}.{w,wu,l,lu}: the source register value x (64 bits); W forms use its low 32 bits. */
export function cvtIF(x: bigint, k: IntKind, f: Fmt, rm: number): Result {
  let v: bigint;
  switch (k) {
    case 'i32': v = BigInt.asIntN(32, x); break;
    case 'u32': v = BigInt.asUintN(32, x); break;
    case 'i64': v = BigInt.asIntN(64, x); break;
    case 'u64': v = BigInt.asUintN(64, x); break;
  }
  if (v === 0n) return { bits: 0n, flags: 0 };
  return roundQ(v < 0n, v < 0n ? -v : v, 1n, rm, f);
}

// ---------------------------------------------------------------------------------------------------
// Zfa (Unpriv 20240411 ch. 24)

/** fminm / fmaxm (IEEE 754-2019 minimum / maximum): a NaN operand gives the canonical NaN. */
export function minmaxM(a: bigint, b: bigint, isMax: boolean, f: Fmt): Result {
  const da = decode(a, f), db = decode(b, f);
  if (isNaNc(da) || isNaNc(db)) return nan(f, da.cls === 'snan' || db.cls === 'snan' ? NV : 0);
  return minmax(a, b, isMax, f);
}

/** fleq / fltq: fle / flt, but NV only for a signaling NaN. */
export function compareQuiet(a: bigint, b: bigint, op: 'lt' | 'le', f: Fmt): Result {
  const da = decode(a, f), db = decode(b, f);
  if (isNaNc(da) || isNaNc(db)) return { bits: 0n, flags: da.cls === 'snan' || db.cls === 'snan' ? NV : 0 };
  return compare(a, b, op, f);
}

/** fround (exact = false) / froundnx (IEEE 754-2019 roundToIntegral / roundToIntegralExact). */
export function roundToIntegral(a: bigint, f: Fmt, rm: number, exact: boolean): Result {
  const d = decode(a, f);
  if (isNaNc(d)) return nan(f, d.cls === 'snan' ? NV : 0);
  if (d.cls === 'inf' || d.cls === 'zero') return { bits: a, flags: 0 };
  const q = toQ(d);
  const [k, rest] = scaleFloor(q.num, q.den, 0);
  const m = roundInt(d.neg, k, rest, rm);
  const flags = exact && rest !== 'zero' ? NX : 0;
  // An integer of at most p bits (|m| <= 2^(p-1) when x has a fraction): exactly representable.
  return { bits: m === 0n ? zero(d.neg, f).bits : roundQ(d.neg, m, 1n, rm, f).bits, flags };
}

/** fcvtmod.w.d: truncate, bits 31:0 of the unbounded integer sign-extended; flags as fcvt.w.d (RTZ). */
export function fcvtmodWD(a: bigint): Result {
  const d = decode(a, F64);
  if (isNaNc(d) || d.cls === 'inf') return { bits: 0n, flags: NV };
  let v = 0n;
  let inexact = false;
  if (d.cls === 'finite') {
    const q = toQ(d);
    const [k, rest] = scaleFloor(q.num, q.den, 0);
    v = d.neg ? -k : k;
    inexact = rest !== 'zero';
  }
  const flags = v < -(1n << 31n) || v > (1n << 31n) - 1n ? NV : inexact ? NX : 0;
  return { bits: BigInt.asUintN(64, BigInt.asIntN(32, v)), flags };
}

/**
 * fli.fmt rs1 = i: the Zfa table's constant in format f (entry 1: the format's minimum normal;
 * 30: +inf; 31: the canonical NaN; a value beyond the format — 2^16 in binary16 — is +inf). No flags.
 */
export function fliValue(i: number, f: Fmt): bigint {
  if (i === 1) return make(f, false, 1, 0n);
  if (i === 30) return infBits(f);
  if (i === 31) return canonicalNaN(f);
  const v: Array<[bigint, bigint]> = [
    [-1n, 1n], [0n, 1n], [1n, 1n << 16n], [1n, 1n << 15n], [1n, 256n], [1n, 128n], [1n, 16n], [1n, 8n],
    [1n, 4n], [5n, 16n], [3n, 8n], [7n, 16n], [1n, 2n], [5n, 8n], [3n, 4n], [7n, 8n], [1n, 1n], [5n, 4n],
    [3n, 2n], [7n, 4n], [2n, 1n], [5n, 2n], [3n, 1n], [4n, 1n], [8n, 1n], [16n, 1n], [128n, 1n], [256n, 1n],
    [1n << 15n, 1n], [1n << 16n, 1n],
  ];
  const [n, dd] = v[i]!;
  return roundQ(n < 0n, n < 0n ? -n : n, dd, RNE, f).bits;
}

// ===================================================================================================
// Test support: the wasm under test, operand sets, seeded generator.

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WASM = join(root, 'build', 'fpu-test.wasm');
const SOURCES = ['fpu.ts', 'fpu-test.ts', 'layout.ts', 'alu.ts'].map((f) => join(root, 'assembly', f));

/** Build build/fpu-test.wasm from assembly/fpu-test.ts when it is missing or older than its sources. */
export function ensureFpuWasm(): string {
  const newest = Math.max(...SOURCES.map((s) => statSync(s).mtimeMs));
  if (existsSync(WASM) && statSync(WASM).mtimeMs >= newest) return WASM;
  const tmp = join(root, 'build', `.fpu-test-${process.pid}.wasm`);
  const asc = join(root, 'node_modules', '.bin', 'asc');
  const r = spawnSync(
    asc,
    // fpu.ts raises flags into the hart block's fcsr (assembly/layout.ts, below 64 KiB): the module's
    // own data starts above it, as in core.wasm.
    ['assembly/fpu-test.ts', '--outFile', tmp, '-O3', '--runtime', 'stub', '--noAssert', '--use', 'abort=',
      '--memoryBase', '65536', '--initialMemory', '2'],
    { cwd: root, encoding: 'utf8' },
  );
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`asc fpu-test.wasm failed:\n${r.stdout}${r.stderr}`);
  }
  renameSync(tmp, WASM); // atomic: parallel test files never read a half-written module
  return WASM;
}

export type WasmFn = (...args: (number | bigint)[]) => number | bigint;
export interface Fpu {
  fn: Record<string, WasmFn>;
  /** Call export `name` with flags cleared; returns result bits (unsigned) and flags. */
  call(name: string, f: Fmt | 'int', ...args: (number | bigint)[]): Result;
}

export function loadFpu(): Fpu {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(ensureFpuWasm())), {});
  const fn = inst.exports as unknown as Record<string, WasmFn>;
  return {
    fn,
    call(name, f, ...args) {
      fn.t_clear();
      const r = fn[`t_${name}`](...args);
      const flags = Number(fn.t_flags());
      const bits = typeof r === 'bigint' ? BigInt.asUintN(64, r) : BigInt(Number(r) >>> 0);
      void f;
      return { bits, flags };
    },
  };
}

/** Argument for a wasm parameter of the format's width (u32 -> number, u64 -> bigint). */
export const arg = (x: bigint, f: Fmt): number | bigint => (f.width === 32 ? Number(x) : x);

/** xorshift128+ on BigInt-free 32-bit halves: deterministic across runs. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(seed: number) {
    this.s0 = seed | 0 || 1;
    this.s1 = 0x9e3779b9;
    this.s2 = 0x243f6a88;
    this.s3 = 0xb7e15162;
    for (let i = 0; i < 16; i++) this.u32();
  }
  /** xoshiro128** */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}
const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

const mask = (n: number) => (1n << BigInt(n)) - 1n;

/** Encode sign, biased exponent field and fraction field. */
export function make(f: Fmt, neg: boolean, biased: number, frac: bigint): bigint {
  return (neg ? signBit(f) : 0n) | (BigInt(biased) << BigInt(f.p - 1)) | (frac & mask(f.p - 1));
}

/** ±0, ±min/max subnormal, ±min/max normal, ±1, ±inf, quiet and signaling NaNs (and NaN variants). */
export function specials(f: Fmt): bigint[] {
  const fb = f.p - 1;
  const emaxField = (1 << f.ebits) - 1;
  const pos = [
    0n, // +0
    1n, // min subnormal
    mask(fb), // max subnormal
    1n << BigInt(fb), // min normal
    make(f, false, emaxField - 1, mask(fb)), // max normal
    make(f, false, f.bias, 0n), // 1
    infBits(f), // inf
  ];
  const out: bigint[] = [];
  for (const x of pos) out.push(x, x | signBit(f));
  out.push(canonicalNaN(f)); // qNaN
  out.push(infBits(f) | 1n); // sNaN
  out.push(signBit(f) | canonicalNaN(f) | 5n); // negative qNaN with payload
  out.push(signBit(f) | infBits(f) | (1n << BigInt(fb - 2))); // negative sNaN with payload
  return out;
}

/** Specials plus values around rounding boundaries: halfway points, near overflow and underflow. */
export function interesting(f: Fmt): bigint[] {
  const fb = f.p - 1;
  const emaxField = (1 << f.ebits) - 1;
  const one = make(f, false, f.bias, 0n);
  const xs = new Set<bigint>(specials(f));
  const add = (x: bigint) => {
    xs.add(x);
    xs.add(x ^ signBit(f));
  };
  add(one + 1n); // 1 + ulp
  add(one - 1n); // 1 - ulp/2
  add(make(f, false, f.bias, 1n << BigInt(fb - 1))); // 1.5
  add(make(f, false, f.bias + 1, 0n)); // 2
  add(make(f, false, f.bias + 1, 1n << BigInt(fb - 1))); // 3
  add(make(f, false, f.bias - 1, 0n)); // 0.5
  add(make(f, false, f.bias - f.p, 0n)); // 2^-p: half an ulp of 1
  add(make(f, false, f.bias - f.p, 1n)); // just above half an ulp of 1
  add(make(f, false, f.bias - f.p - 1, mask(fb))); // just below half an ulp of 1
  add(make(f, false, f.bias + f.p, 1n)); // large odd value: 2^p + 2
  add(make(f, false, emaxField - 1, 0n)); // 2^emax
  add(make(f, false, emaxField - 2, mask(fb))); // just below 2^emax
  add(make(f, false, (emaxField >> 1) + (f.bias >> 1), 0n)); // ~ sqrt(max): products near overflow
  add(make(f, false, 1, 1n)); // min normal + ulp
  add(make(f, false, 2, 0n)); // 2 * min normal
  add(mask(fb) - 1n); // max subnormal - ulp
  add(1n << BigInt(fb - 1)); // half of min normal
  add(make(f, false, f.bias >> 1, 0n)); // ~ sqrt(min normal)
  add(make(f, false, (f.bias >> 1) + 1, mask(fb))); // just below 2 sqrt(min normal)
  add(make(f, false, f.bias - 1, mask(fb))); // 1 - ulp
  add(make(f, false, f.bias + 31, 0n)); // 2^31
  add(make(f, false, f.bias + 31, 1n)); // just above 2^31
  add(make(f, false, f.bias + 63, 0n)); // 2^63
  add(make(f, false, f.bias + 64, 0n)); // 2^64
  add(make(f, false, f.bias + 30, mask(fb))); // just below 2^31
  add(make(f, false, f.bias + 62, mask(fb))); // just below 2^63
  add(make(f, false, f.bias + 63, mask(fb))); // just below 2^64
  add(make(f, false, f.bias + 1, 1n << BigInt(fb - 2))); // 2.5: ties to even/away in cvt
  add(make(f, false, f.bias + 1, 3n << BigInt(fb - 2))); // 3.5
  add(make(f, false, f.bias - 1, 1n << BigInt(fb - 1))); // 0.75
  return [...xs];
}

/**
 * A random operand with a skewed distribution: exponents concentrated around 1, around the
 * subnormal boundary and around overflow; fractions random, all ones, or with few bits set.
 */
export function randomOperand(rng: Rng, f: Fmt): bigint {
  const fb = f.p - 1;
  const emaxField = (1 << f.ebits) - 1;
  const neg = rng.int(2) === 1;
  let biased: number;
  const r = rng.int(100);
  if (r < 35) biased = f.bias - 8 + rng.int(17);
  else if (r < 50) biased = rng.int(f.p + 3); // subnormal and low normals
  else if (r < 62) biased = emaxField - 1 - rng.int(f.p + 3);
  else if (r < 64) biased = emaxField; // inf / NaN
  else biased = rng.int(emaxField);
  let frac: bigint;
  const m = rng.int(10);
  const rnd = (rng.u64() << 64n | rng.u64()) & mask(fb);
  if (m < 6) frac = rnd;
  else if (m === 6) frac = mask(fb) ^ (1n << BigInt(rng.int(fb)));
  else if (m === 7) frac = (1n << BigInt(rng.int(fb))) | (1n << BigInt(rng.int(fb)));
  else if (m === 8) frac = rnd & ~mask(rng.int(fb)); // trailing zeros: exact results likelier
  else frac = rnd >> BigInt(fb - rng.int(4)); // few low bits
  if (biased === emaxField && rng.int(3) === 0) frac = 0n; // inf
  return make(f, neg, biased, frac);
}

/** Native value of f32/f64 bits, and back (rounding a JS number to the format with RNE). */
export function toNumber(x: bigint, f: Fmt): number {
  const dv = new DataView(new ArrayBuffer(8));
  if (f.width === 32) {
    dv.setUint32(0, Number(x));
    return dv.getFloat32(0);
  }
  dv.setBigUint64(0, x);
  return dv.getFloat64(0);
}
export function fromNumber(v: number, f: Fmt): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  if (f.width === 32) {
    dv.setFloat32(0, v);
    return BigInt(dv.getUint32(0));
  }
  dv.setFloat64(0, v);
  return dv.getBigUint64(0);
}

/** A value near target: target perturbed by a few ulps (bits +- k), same sign, never NaN. */
export function near(target: bigint, rng: Rng, f: Fmt, spread = 4): bigint {
  const d = BigInt(rng.int(2 * spread + 1) - spread);
  const mag = (target & mask(f.width - 1)) + d;
  const clamped = mag < 0n ? 0n : mag > infBits(f) - 1n ? infBits(f) - 1n : mag;
  return (target & signBit(f)) | clamped;
}

export const hex = (x: bigint, f: Fmt | 'int'): string =>
  '0x' + x.toString(16).padStart(f === 'int' ? 16 : f.width / 4, '0');
