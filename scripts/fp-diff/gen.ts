/**
 * Operand generator of the FP differential tool.
 *
 * For each instruction the operands come from a stream seeded by (seed, instruction name), so a
 * record depends only on the seed, the instruction and its position in that instruction's stream —
 * not on which other instructions are generated or on how the driver splits the work into chunks.
 *
 * The draws are biased toward the cases where implementations go wrong (see `fpValue`, `intValue`
 * and the operand relations in `genRecord`): ±0, subnormals, the smallest and largest normals, ±inf,
 * quiet NaNs, signaling NaNs (with random payloads), values one ulp away from those, ties (exact
 * halfway cases for add, mul, fma, the format conversions and int->fp), cancellation, results near
 * the overflow and underflow thresholds, integer-conversion limits (±2^31, 2^32, ±2^63, 2^64, and
 * k ± 0.5), and plain random bit patterns. f32 operands are NaN-boxed (upper 32 bits all ones) in 7
 * of 16 operands and improperly boxed otherwise (an operand that must then read as the canonical NaN).
 * Integer operands of the .w/.wu conversions often carry garbage in bits 63:32 (which must be ignored).
 * The record's frm is one of the 5 valid modes, or with probability 1/32 an invalid one (5, 6, 7:
 * the dyn variant must then trap); 1 record in 32 also runs the reserved static encodings 5 and 6.
 *
 * CLI (writes a data file in the guest's record format, see records.ts):
 *   tsx scripts/fp-diff/gen.ts --insns fadd.s,fmul.d|all --count N --seed S -o FILE
 */
import { writeFileSync } from 'node:fs';
import { FLAG_RESERVED_RM, OPS, OP_BY_NAME, type FpOp, type Kind } from './ops.js';
import { encodeRecords, type FpRecord } from './records.js';

// ------------------------------------------------------------------------------------------------
// PRNG: xoshiro128** (32-bit state words), seeded from a string with splitmix32.

export class Rng {
  private s = new Uint32Array(4);
  constructor(seedText: string) {
    let h = 0x9e3779b9;
    for (let i = 0; i < seedText.length; i++) h = Math.imul(h ^ seedText.charCodeAt(i), 0x85ebca6b) >>> 0;
    for (let i = 0; i < 4; i++) {
      h = (h + 0x9e3779b9) >>> 0;
      let z = h;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[0] = 1;
  }
  u32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2] = s[2]! ^ s[0]!;
    s[3] = s[3]! ^ s[1]!;
    s[1] = s[1]! ^ s[2]!;
    s[0] = s[0]! ^ s[3]!;
    s[2] = s[2]! ^ t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }
  /** Uniform integer in [0, n), n <= 2^32. */
  below(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }
  chance(num: number, den: number): boolean {
    return this.below(den) < num;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  /** Random bits of a given width (<= 64). */
  bits(width: number): bigint {
    return width === 0 ? 0n : this.u64() & ((1n << BigInt(width)) - 1n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)]!;
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

// ------------------------------------------------------------------------------------------------
// Formats

export interface Fmt {
  width: 32 | 64;
  /** Precision, hidden bit included. */
  p: number;
  ebits: number;
  bias: number;
}
export const F32: Fmt = { width: 32, p: 24, ebits: 8, bias: 127 };
export const F64: Fmt = { width: 64, p: 53, ebits: 11, bias: 1023 };

const M64 = (1n << 64n) - 1n;
const fracMask = (f: Fmt): bigint => (1n << BigInt(f.p - 1)) - 1n;
const expMax = (f: Fmt): number => (1 << f.ebits) - 1;
const signBit = (f: Fmt): bigint => 1n << BigInt(f.width - 1);

/** Assemble a value of format f from sign, biased exponent and fraction field. */
export function pack(f: Fmt, neg: boolean, bexp: number, frac: bigint): bigint {
  return (neg ? signBit(f) : 0n) | (BigInt(bexp) << BigInt(f.p - 1)) | (frac & fracMask(f));
}
export const fields = (f: Fmt, v: bigint): { neg: boolean; bexp: number; frac: bigint } => ({
  neg: (v & signBit(f)) !== 0n,
  bexp: Number((v >> BigInt(f.p - 1)) & BigInt(expMax(f))),
  frac: v & fracMask(f),
});

const f64buf = new Float64Array(1);
const u64view = new BigUint64Array(f64buf.buffer);
const f32buf = new Float32Array(1);
const u32view = new Uint32Array(f32buf.buffer);
export const f64FromBits = (b: bigint): number => ((u64view[0] = b & M64), f64buf[0]!);
export const bitsFromF64 = (x: number): bigint => ((f64buf[0] = x), u64view[0]!);
export const f32FromBits = (b: bigint): number => ((u32view[0] = Number(b & 0xffffffffn)), f32buf[0]!);
export const bitsFromF32 = (x: number): bigint => ((f32buf[0] = x), BigInt(u32view[0]!));
/** A JS number rounded to the format (RNE), as bits. */
const toBits = (f: Fmt, x: number): bigint => (f.width === 64 ? bitsFromF64(x) : bitsFromF32(x));
const fromBits = (f: Fmt, b: bigint): number => (f.width === 64 ? f64FromBits(b) : f32FromBits(b));

// ------------------------------------------------------------------------------------------------
// FP values

/** A random significand fraction field with "interesting" structure. */
function fracOf(rng: Rng, f: Fmt): bigint {
  const fb = f.p - 1;
  switch (rng.below(8)) {
    case 0:
      return 0n;
    case 1:
      return fracMask(f); // all ones
    case 2: {
      // a few bits set
      let v = 0n;
      for (let i = rng.range(1, 3); i > 0; i--) v |= 1n << BigInt(rng.below(fb));
      return v;
    }
    case 3:
      return fracMask(f) ^ (1n << BigInt(rng.below(fb))); // all ones but one
    case 4:
      return rng.bits(fb) | 1n; // odd: a tie when shifted right by one
    case 5:
      return (rng.bits(fb) >> BigInt(rng.below(fb))) << BigInt(rng.below(4)); // leading/trailing zeros
    default:
      return rng.bits(fb);
  }
}

/** One FP operand of format f (the raw value, not boxed). */
export function fpValue(rng: Rng, f: Fmt): bigint {
  const neg = rng.chance(1, 2);
  const em = expMax(f);
  const fb = f.p - 1;
  switch (rng.below(16)) {
    case 0: // zeros and infinities
      return pack(f, neg, rng.chance(1, 2) ? 0 : em, 0n);
    case 1: {
      // NaNs: canonical, quiet with payload, signaling (payload != 0)
      const k = rng.below(4);
      if (k === 0) return pack(f, false, em, 1n << BigInt(fb - 1));
      if (k === 1) return pack(f, neg, em, (1n << BigInt(fb - 1)) | rng.bits(fb - 1));
      const payload = rng.chance(1, 2) ? 1n + rng.bits(rng.range(1, fb - 2)) : rng.bits(fb - 1) | 1n;
      return pack(f, neg, em, payload & ((1n << BigInt(fb - 1)) - 1n) || 1n);
    }
    case 2: {
      // the edges: min/max subnormal, min/max normal, 1, and their neighbours
      const edges: Array<[number, bigint]> = [
        [0, 1n],
        [0, 2n],
        [0, fracMask(f)],
        [0, fracMask(f) - 1n],
        [0, 1n << BigInt(fb - 1)],
        [1, 0n],
        [1, 1n],
        [em - 1, fracMask(f)],
        [em - 1, fracMask(f) - 1n],
        [em - 1, 0n],
        [f.bias, 0n],
        [f.bias - 1, fracMask(f)],
        [f.bias, 1n],
        [f.bias - 1, 0n],
        [f.bias + 1, 0n],
      ];
      const [e, fr] = rng.pick(edges);
      return pack(f, neg, e, fr);
    }
    case 3: // subnormals
      return pack(f, neg, 0, fracOf(rng, f) || 1n);
    case 4: // tiny normals (results near the underflow threshold)
      return pack(f, neg, rng.range(1, f.p + 2), fracOf(rng, f));
    case 5: // huge (results near the overflow threshold)
      return pack(f, neg, rng.range(em - f.p - 2, em - 1), fracOf(rng, f));
    case 6:
    case 7: // uniform random bit pattern
      return rng.bits(f.width);
    case 8:
    case 9: // integers and half-integers near the conversion limits
      return toBits(f, convBoundary(rng));
    default: // ordinary numbers: exponent near the bias, structured significand
      return pack(f, neg, f.bias + rng.range(-24, 24), fracOf(rng, f));
  }
}

/** A number near an integer-conversion boundary: k + {0, ±1/4, ±1/2, ±3/4, ±ulp}. */
function convBoundary(rng: Rng): number {
  const bases = [0, 1, -1, 2, 3, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 63, -(2 ** 63), 2 ** 64, 2 ** 24, 2 ** 53];
  const base = rng.chance(1, 4) ? (rng.chance(1, 2) ? -1 : 1) * rng.below(1000) : rng.pick(bases);
  const offs = [0, 0.25, -0.25, 0.5, -0.5, 0.75, -0.75, 1, -1, 1.5, -1.5, 2.5, -2.5];
  const o = rng.pick(offs);
  const x = base + o;
  // Beyond 2^53 the offset is lost in double; step to the neighbouring doubles instead.
  if (Math.abs(base) >= 2 ** 52 && o !== 0) {
    const b = bitsFromF64(base) + BigInt(Math.sign(o));
    return f64FromBits(b);
  }
  return x;
}

/** Box an f32 value in 64 bits: properly (upper bits all ones) in 15 of 16 cases. */
function box(rng: Rng, v32: bigint): bigint {
  if (!rng.chance(1, 16)) return (0xffffffffn << 32n) | v32;
  const uppers = [0n, 0xfffffffen, 0x7fffffffn, 0xffff7fffn, BigInt(rng.u32())];
  return (rng.pick(uppers) << 32n) | v32;
}

// ------------------------------------------------------------------------------------------------
// Integer values

function intValue(rng: Rng, k: Kind): bigint {
  const width = k === 'i32' || k === 'u32' ? 32 : 64;
  let v: bigint;
  switch (rng.below(8)) {
    case 0: {
      const specials = [
        0n, 1n, 2n, 3n, M64, M64 - 1n,
        0x7fffffffn, 0x80000000n, 0xffffffffn, 0xffffff80n, 0x7fffff80n,
        0x7fffffffffffffffn, 0x8000000000000000n, 0xfffffffffffffc00n, 0x7ffffffffffffc00n,
        0xffffffff80000000n, 0xffffffff7fffffffn,
        (1n << 24n) + 1n, (1n << 24n) - 1n, (1n << 53n) + 1n, (1n << 53n) - 1n,
      ];
      v = rng.pick(specials);
      break;
    }
    case 1:
    case 2: {
      // p+1 or p+2 significant bits ending in 1, shifted: halfway and just-above-halfway cases
      const p = rng.chance(1, 2) ? 24 : 53;
      const sig = (1n << BigInt(p)) | rng.bits(p - 1) << 1n | 1n;
      const extra = rng.below(3); // p+1, p+2 or p+3 bits
      const s = (sig << BigInt(extra)) | rng.bits(extra);
      const room = width - (p + 1 + extra);
      v = room > 0 ? s << BigInt(rng.below(room)) : s;
      break;
    }
    case 3: // a power of two, or one less / one more
      v = (1n << BigInt(rng.below(width))) + BigInt(rng.range(-1, 1));
      break;
    default: // random magnitude with a random bit length
      v = rng.bits(rng.range(1, width));
      break;
  }
  if (rng.chance(1, 2)) v = -v; // negative (two's complement)
  v &= M64;
  if (width === 32) {
    v &= 0xffffffffn;
    // The instruction reads bits 31:0: the upper half is sign-extension, zeros or garbage.
    const r = rng.below(4);
    if (r === 0) v |= (v & 0x80000000n ? 0xffffffffn : 0n) << 32n;
    else if (r === 1) v |= BigInt(rng.u32()) << 32n;
    else if (r === 2) v |= 0xffffffffn << 32n;
  }
  return v;
}

/** The 64-bit register value of an operand of kind k with the raw format value v. */
function asOperand(rng: Rng, k: Kind, v: bigint): bigint {
  return k === 'f32' ? box(rng, v & 0xffffffffn) : v & M64;
}

const fmtOf = (k: Kind): Fmt => (k === 'f32' ? F32 : F64);

// ------------------------------------------------------------------------------------------------
// Related operands: ties, cancellation, exact results, overflow/underflow

/** b with a chosen relation to a (same format), for the two-operand arithmetic. */
function relatedB(rng: Rng, f: Fmt, name: string, a: bigint): bigint {
  const { neg, bexp, frac } = fields(f, a);
  const em = expMax(f);
  const finite = bexp !== em;
  if (!finite) return fpValue(rng, f);
  switch (rng.below(8)) {
    case 0:
      return a; // equal
    case 1:
      return a ^ signBit(f); // negated: x - x, x + (-x)
    case 2: {
      // a few ulps away
      const d = BigInt(rng.range(-3, 3));
      const b = (a + d) & ((1n << BigInt(f.width)) - 1n);
      return b;
    }
    case 3: {
      // half an ulp of a (a tie for add/sub), or just above/below it
      const e = bexp - f.p; // biased exponent of half an ulp of a normal a
      const adj = rng.range(-1, 1);
      const sgn = rng.chance(1, 2) ? neg : !neg;
      if (adj < 0 && e >= 2) return pack(f, sgn, e - 1, fracMask(f)); // just below half an ulp
      if (e >= 1) return pack(f, sgn, e, adj > 0 ? 1n : 0n); // exactly half, or just above
      return pack(f, sgn, 0, bexp >= 2 ? 1n << BigInt(bexp - 2) : 1n); // subnormal half ulp
    }
    case 4: {
      // an exponent shifted by 0..p+3 (alignment), random significand
      const sh = rng.range(-(f.p + 3), f.p + 3);
      const e = Math.min(em - 1, Math.max(0, bexp + sh));
      return pack(f, rng.chance(1, 2), e, fracOf(rng, f));
    }
    case 5: {
      if (name.startsWith('fmul') || name.startsWith('fdiv')) {
        // product/quotient near the overflow or underflow threshold
        const target = rng.chance(1, 2) ? em - 1 + rng.range(-2, 1) : rng.range(-f.p - 2, 2);
        const e = name.startsWith('fmul') ? target - bexp + f.bias : bexp - target + f.bias;
        return pack(f, rng.chance(1, 2), Math.min(em - 1, Math.max(0, e)), fracOf(rng, f));
      }
      return fpValue(rng, f);
    }
    case 6: {
      if (name.startsWith('fmul')) {
        // significands 1+2^-i and 1+2^-j with i+j = p (or p±1): a tie, or just off one
        const i = rng.range(1, f.p - 2);
        const j = Math.min(f.p - 1, Math.max(1, f.p - i + rng.range(-1, 1)));
        return pack(f, rng.chance(1, 2), Math.min(em - 1, Math.max(1, f.bias + rng.range(-8, 8))), 1n << BigInt(f.p - 1 - j));
      }
      if (name.startsWith('fdiv')) {
        // a / b exact: b = a / q for a small q
        const q = rng.pick([1, 2, 3, 5, 7, 0.5, 0.25, 1.5, 9]);
        return toBits(f, fromBits(f, a) / q);
      }
      return fpValue(rng, f);
    }
    default:
      return fpValue(rng, f);
  }
}

/** c for the FMAs: cancels a*b (nearly) exactly, is tiny next to it, or is unrelated. */
function relatedC(rng: Rng, f: Fmt, name: string, a: bigint, b: bigint): bigint {
  const x = fromBits(f, a), y = fromBits(f, b);
  const prod = x * y; // exact for f32 (48-bit product); rounded for f64
  if (!Number.isFinite(prod)) return fpValue(rng, f);
  // fmadd/fnmadd compute ±(a*b + c), fmsub/fnmsub ±(a*b - c): cancel with the matching sign.
  const cancelSign = name.startsWith('fmadd') || name.startsWith('fnmadd') ? -1 : 1;
  switch (rng.below(4)) {
    case 0: {
      const c = toBits(f, cancelSign * prod);
      return (c + BigInt(rng.range(-2, 2))) & ((1n << BigInt(f.width)) - 1n);
    }
    case 1: {
      // half an ulp of the product (ties after the add)
      const pb = toBits(f, Math.abs(prod));
      const { bexp } = fields(f, pb);
      if (bexp === 0 || bexp >= expMax(f)) return fpValue(rng, f);
      const e = Math.max(0, bexp - f.p);
      return pack(f, rng.chance(1, 2), e, e === 0 ? 1n : BigInt(rng.range(0, 1)));
    }
    default:
      return fpValue(rng, f);
  }
}

// ------------------------------------------------------------------------------------------------
// Records

/** The next record of instruction `op` from its stream. */
export function genRecord(rng: Rng, opIndex: number): FpRecord {
  const op: FpOp = OPS[opIndex]!;
  const raw: bigint[] = [];
  const fmt = op.srcs[0] === 'f32' || op.srcs[0] === 'f64' ? fmtOf(op.srcs[0]) : null;
  for (let i = 0; i < op.srcs.length; i++) {
    const k = op.srcs[i]!;
    if (k === 'x') {
      // fmv.w.x / fmv.d.x: any 64-bit pattern; often an FP value in the low bits
      raw.push(rng.chance(1, 2) ? rng.u64() : fpValue(rng, op.name === 'fmv.w.x' ? F32 : F64) | (rng.chance(1, 2) ? 0n : BigInt(rng.u32()) << 32n));
    } else if (k !== 'f32' && k !== 'f64') {
      raw.push(intValue(rng, k));
    } else if (i === 1 && fmt && rng.chance(1, 2)) {
      raw.push(relatedB(rng, fmt, op.name, raw[0]!));
    } else if (i === 2 && fmt && rng.chance(1, 2)) {
      raw.push(relatedC(rng, fmt, op.name, raw[0]!, raw[1]!));
    } else if (op.name === 'fcvt.s.d' && rng.chance(1, 3)) {
      raw.push(demoteCase(rng));
    } else {
      raw.push(fpValue(rng, fmtOf(k)));
    }
  }
  if (fmt && (op.name.startsWith('fmul') || /^fn?m(add|sub)/.test(op.name)) && rng.chance(1, 8)) {
    // significands 1+2^-i and 1+2^-j with i+j = p (or p±1): the product is a tie, or just off one
    const i = rng.range(1, fmt.p - 2);
    const j = Math.min(fmt.p - 1, Math.max(1, fmt.p - i + rng.range(-1, 1)));
    const e1 = rng.range(1, expMax(fmt) - 1);
    const e2 = rng.chance(1, 2) ? rng.range(1, expMax(fmt) - 1) : Math.min(expMax(fmt) - 1, Math.max(1, 2 * fmt.bias - e1 + rng.range(-3, 3)));
    raw[0] = pack(fmt, rng.chance(1, 2), e1, 1n << BigInt(fmt.p - 1 - i));
    raw[1] = pack(fmt, rng.chance(1, 2), e2, 1n << BigInt(fmt.p - 1 - j));
    if (raw.length > 2 && rng.chance(1, 2)) raw[2] = relatedC(rng, fmt, op.name, raw[0], raw[1]);
  }
  if (fmt && /^f(mul|div|n?m(add|sub))\./.test(op.name) && rng.chance(1, 8)) {
    const t = targetedOperands(rng, fmt, op.name);
    if (t) t.forEach((v, i) => (raw[i] = v));
  }
  if (fmt && op.name.startsWith('fsqrt') && rng.chance(1, 8)) {
    // an exact square (short significand squared), or one ulp off it
    const x = fromBits(fmt, pack(fmt, false, fmt.bias + rng.range(-(fmt.bias >> 1), fmt.bias >> 1), rng.bits(rng.range(0, (fmt.p >> 1) - 1)) << BigInt(fmt.p - 1 - ((fmt.p >> 1) - 1))));
    raw[0] = toBits(fmt, x * x) + BigInt(rng.range(-1, 1));
  }
  if ((op.name.startsWith('fsqrt') && rng.chance(3, 4)) || (/^fcvt\.[wl]u\./.test(op.name) && rng.chance(1, 2))) {
    raw[0] = raw[0]! & ~signBit(fmt!); // mostly non-negative operands where negatives are all invalid
  }
  const ops = op.srcs.map((k, i) => (k === 'f32' || k === 'f64' ? asOperand(rng, k, raw[i]!) : raw[i]!));
  const frm = rng.chance(1, 32) ? rng.range(5, 7) : rng.below(5);
  const flags = op.rm && rng.chance(1, 32) ? FLAG_RESERVED_RM : 0;
  return { op: opIndex, flags, frm, a: ops[0] ?? 0n, b: ops[1] ?? 0n, c: ops[2] ?? 0n };
}

/**
 * Operands whose exact result lies at a rounding boundary: just around the smallest normal (tininess
 * after rounding: a result that rounds up to the smallest normal is not tiny), the largest normal
 * (overflow or not, per rounding mode), or a subnormal tie. The last operand is computed from the
 * target in binary64, so the exact result lands within an ulp or so of it, on either side.
 */
function targetedOperands(rng: Rng, f: Fmt, name: string): bigint[] | null {
  const minNormal = 2 ** (1 - f.bias);
  const maxNormal = fromBits(f, pack(f, false, expMax(f) - 1, fracMask(f)));
  const subLsb = 2 ** (2 - f.bias - f.p);
  const targets = [
    minNormal,
    minNormal - subLsb / 2,
    minNormal - subLsb / 4,
    minNormal * (1 - 2 ** -(f.p + 1)),
    maxNormal,
    (rng.below(1 << 20) + 0.5) * subLsb,
    (rng.below(64) + 0.5) * subLsb,
  ];
  const T = (rng.chance(1, 2) ? -1 : 1) * rng.pick(targets);
  // a: an ordinary number with a random significand, its exponent leaving room for the other operand
  const a = fromBits(f, pack(f, rng.chance(1, 2), f.bias + rng.range(-f.p, f.p), rng.bits(f.p - 1)));
  const r = (x: number): bigint => toBits(f, x);
  if (name.startsWith('fmul')) return [r(a), r(T / a)];
  if (name.startsWith('fdiv')) {
    const b = a; // a / b = T  =>  a' = T * b
    return [r(T * b), r(b)];
  }
  // FMA: sign1 * a*b + sign2 * c = T with c comparable to T, so a*b = (T - sign2 * c) / sign1
  const sign1 = name.startsWith('fn') ? -1 : 1;
  const sign2 = name.startsWith('fmadd') || name.startsWith('fnmsub') ? 1 : -1;
  const c = fromBits(f, r(T * rng.pick([0, 0.5, -0.5, 1.5, -1.5, 3, -3, 0.75])));
  const ab = (T - sign2 * c) / sign1;
  const b = ab / fromBits(f, r(a));
  return [r(a), r(b), r(c)];
}

/** A double whose demotion to single is a tie, near a tie, or lands in the f32 subnormal/overflow range. */
function demoteCase(rng: Rng): bigint {
  const neg = rng.chance(1, 2);
  // f32 exponents -150..128 in f64 biased form
  const e = rng.chance(1, 2) ? 1023 + rng.range(-150, -120) : rng.chance(1, 2) ? 1023 + rng.range(125, 128) : 1023 + rng.range(-10, 10);
  const hi = (rng.chance(1, 4) ? (1n << 23n) - 1n - BigInt(rng.below(2)) : rng.bits(23)) << 29n; // the bits single keeps
  const lows = [1n << 28n, (1n << 28n) + 1n, (1n << 28n) - 1n, 0n, 1n, (1n << 29n) - 1n];
  return pack(F64, neg, e, hi | rng.pick(lows));
}

/** `count` records for each of `insns` (indices into OPS), interleaved round-robin. */
export function* generate(insns: readonly number[], count: number, seed: number | string, start = 0): Generator<FpRecord> {
  const rngs = insns.map((i) => new Rng(`${seed}:${OPS[i]!.name}`));
  // skip to `start`
  for (let n = 0; n < start; n++) for (let j = 0; j < insns.length; j++) genRecord(rngs[j]!, insns[j]!);
  for (let n = start; n < count; n++) {
    for (let j = 0; j < insns.length; j++) yield genRecord(rngs[j]!, insns[j]!);
  }
}

/** Parse an --insns list: "all", or comma-separated names / globs ("fadd.*", "*.d", "fcvt.*"). */
export function parseInsns(spec: string): number[] {
  if (spec === 'all') return OPS.map((_, i) => i);
  const out: number[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part.includes('*')) {
      const re = new RegExp(`^${part.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
      const hits = OPS.map((o, i) => (re.test(o.name) ? i : -1)).filter((i) => i >= 0);
      if (hits.length === 0) throw new Error(`--insns: '${part}' matches no instruction`);
      out.push(...hits);
    } else {
      const i = OP_BY_NAME.get(part);
      if (i === undefined) throw new Error(`--insns: unknown instruction '${part}' (known: ${OPS.map((o) => o.name).join(' ')})`);
      out.push(i);
    }
  }
  return [...new Set(out)];
}

// ------------------------------------------------------------------------------------------------
// CLI

function main(argv: string[]): void {
  let insns = 'all', count = 1000, seed = '1', outFile = '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--insns') insns = val();
    else if (a === '--count') count = Number(val());
    else if (a === '--seed') seed = val();
    else if (a === '-o' || a === '--out') outFile = val();
    else if (a === '-h' || a === '--help') {
      console.log('usage: tsx scripts/fp-diff/gen.ts --insns LIST|all --count N --seed S -o FILE');
      return;
    } else throw new Error(`unknown option ${a}`);
  }
  if (!outFile) throw new Error('-o FILE is required');
  const recs = [...generate(parseInsns(insns), count, seed)];
  writeFileSync(outFile, encodeRecords(recs));
  console.log(`wrote ${recs.length} records to ${outFile}`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2));
}
