/**
 * IEEE 754-2008/2019 binary32 and binary64 arithmetic with RISC-V semantics: the F and D extensions
 * (Unpriv ISA 20191213 ch. 11 "F", ch. 12 "D"). Every result and every flag is exact: there is no
 * approximate operation in this file.
 *
 * Conventions
 *  - f32 values travel as u32 bit patterns, f64 values as u64 bit patterns.
 *  - rm is a static rounding mode 0..4 (RNE, RTZ, RDN, RUP, RMM); the caller resolves DYN from frm and
 *    rejects the reserved encodings before calling (Unpriv §11.2).
 *  - Exception flags are OR-ed straight into the current hart's fcsr.fflags (raiseFlags); the caller
 *    compares fcsr before and after when it needs to know whether fflags changed.
 *  - Unpriv §11.3: every NaN result is the canonical NaN (0x7fc00000 / 0x7ff8000000000000); payloads are
 *    never propagated. Only signaling-NaN inputs (and the invalid operations of IEEE 754 §7.2) set NV.
 *  - Unpriv §11.2 / IEEE 754 §7.5: tininess is detected AFTER rounding (as if the exponent range were
 *    unbounded); UF is raised only when the result is tiny AND inexact. OF always comes with NX.
 *
 * Structure (GUIDE §9: no allocation, no throw, no strings):
 *  - Fast paths, RNE only: wasm f32/f64 add, sub, mul, div, sqrt and f64->f32 demotion are correctly
 *    rounded IEEE round-to-nearest-even operations, so the result comes from the native instruction
 *    and only NX has to be found, by an exact test that is cheaper than the soft-float path:
 *      add/sub   TwoSum error term (Knuth): s + err == a + b exactly, NX iff err != 0
 *      mul       the odd parts of the two significands: the product is exact iff their product fits
 *                in 53 bits
 *      div       r * b == a, tested on the odd parts of the significands
 *      sqrt      exact iff the odd part of the root's significand squared is the odd part of a's
 *    The fast path is taken only when the native result is finite and clearly normal (|r| > smallest
 *    normal), where OF and UF cannot occur; anything else falls through to the soft path.
 *    binary32 add/sub computes natively in binary32 (TwoSum in binary32); the other binary32 fast
 *    paths compute in binary64 and round once more to binary32: for *, /, sqrt
 *    that double rounding is innocuous because 53 >= 2*24 + 2 (Figueroa, "When is double rounding
 *    innocuous?", SIGNUM 1995); a binary32 product is even exact in binary64 (24+24 <= 53 bits).
 *  - sqrt, every mode: the native RNE root plus the exact sign of a - r^2 (roots are never ties, never
 *    overflow or underflow), so the directed modes are one step away from the native result.
 *  - FMA: binary64 RNE splits a*b + c exactly into native floats (the product's error from one i64.mul,
 *    TwoSum) and rounds once, sending possible ties to the exact path (see fmaFast64); binary32
 *    computes in binary64: RNE with a midpoint test, the other modes with rounding to odd (fmaFast32).
 *  - float <-> integer conversions: native rounding to an integral value (nearest/trunc/floor/ceil)
 *    when the result fits; integers of at most 24/53 significant bits convert natively.
 *  - Soft paths (directed modes, and whatever a fast path declines: specials, tiny or overflowing
 *    results): exact integer arithmetic on (sign, exponent, significand) with sticky ("jam") bits and
 *    one rounding routine (`roundPack`) for both formats and all five modes. binary64 products and
 *    the FMA use 128-bit intermediates held in pairs of u64.
 */

import { H_FCSR } from './layout';
import { mulhu } from './alu';

// ---------------------------------------------------------------------------------------------------
// Flags, rounding modes, constants

export const FLAG_NV: u32 = 0x10; // invalid operation
export const FLAG_DZ: u32 = 0x08; // divide by zero
export const FLAG_OF: u32 = 0x04; // overflow
export const FLAG_UF: u32 = 0x02; // underflow
export const FLAG_NX: u32 = 0x01; // inexact (bit 0: fast paths OR a 0/1 condition straight in)

export const RM_RNE: u32 = 0;
export const RM_RTZ: u32 = 1;
export const RM_RDN: u32 = 2;
export const RM_RUP: u32 = 3;
export const RM_RMM: u32 = 4;

/**
 * Raise exception flags: OR-ed straight into the current hart's fcsr (fflags are its bits 0..4), which
 * is where the instruction would put them; a 64-bit read-modify-write, like every other fcsr access,
 * so a following 64-bit load of fcsr is store-forwarded.
 */
@inline function raiseFlags(f: u32): void {
  store<u64>(H_FCSR, load<u64>(H_FCSR) | <u64>f);
}

export const CANON32: u32 = 0x7fc00000;
export const CANON64: u64 = 0x7ff8000000000000;

const SIGN32: u32 = 0x80000000;
const ABS32: u32 = 0x7fffffff;
const INF32: u32 = 0x7f800000;
const QUIET32: u32 = 0x00400000;
const FRAC32: u32 = 0x007fffff;
const MINNORM32: u32 = 0x00800000;

const SIGN64: u64 = 0x8000000000000000;
const ABS64: u64 = 0x7fffffffffffffff;
const INF64: u64 = 0x7ff0000000000000;
const QUIET64: u64 = 0x0008000000000000;
const FRAC64: u64 = 0x000fffffffffffff;
const HIDDEN64: u64 = 0x0010000000000000;
const MINNORM64: u64 = 0x0010000000000000;

const HALF: u64 = 0x8000000000000000; // a left-aligned remainder equal to one half unit

// Format parameters for roundPack: precision P (with the hidden bit), QMIN = exponent of the least
// significant bit of a subnormal (emin - P + 1), EXPMAX = the all-ones biased exponent (inf/NaN).
const P64: i32 = 53;
const QMIN64: i32 = -1074;
const EXPMAX64: i32 = 2047;
const P32: i32 = 24;
const QMIN32: i32 = -149;
const EXPMAX32: i32 = 255;

// ---------------------------------------------------------------------------------------------------
// Classification helpers

@inline function isNaN32(a: u32): bool { return (a & ABS32) > INF32; }
@inline function isSNaN32(a: u32): bool { return (a & ABS32) > INF32 && (a & QUIET32) == 0; }
@inline function isInf32(a: u32): bool { return (a & ABS32) == INF32; }
@inline function isZero32(a: u32): bool { return (a & ABS32) == 0; }
@inline function isNaN64(a: u64): bool { return (a & ABS64) > INF64; }
@inline function isSNaN64(a: u64): bool { return (a & ABS64) > INF64 && (a & QUIET64) == 0; }
@inline function isInf64(a: u64): bool { return (a & ABS64) == INF64; }
@inline function isZero64(a: u64): bool { return (a & ABS64) == 0; }

/** Finite and strictly above the smallest normal in magnitude: no OF, no UF, no tininess possible. */
@inline function clearlyNormal64(r: u64): bool {
  return (r & ABS64) - (MINNORM64 + 1) < INF64 - (MINNORM64 + 1);
}
@inline function clearlyNormal32(r: u32): bool {
  return (r & ABS32) - (MINNORM32 + 1) < INF32 - (MINNORM32 + 1);
}

/** Significand as an integer including the hidden bit (raw for subnormals): value = sig * 2^k. */
@inline function rawSig64(a: u64): u64 {
  const f = a & FRAC64;
  return (a & INF64) != 0 ? f | HIDDEN64 : f;
}
@inline function rawSig32(a: u32): u32 {
  const f = a & FRAC32;
  return (a & INF32) != 0 ? f | MINNORM32 : f;
}
@inline function oddPart(x: u64): u64 { return x >> ctz(x); }

// Unpacked finite nonzero operand, normalized: value = uSig * 2^uExp with uSig in [2^(P-1), 2^P).
// (Module globals stand in for a second return value: no allocation.)
let uSig: u64 = 0;
let uExp: i32 = 0;

function unpack64(a: u64): void {
  const ef = <i32>((a >> 52) & 0x7ff);
  const f = a & FRAC64;
  if (ef == 0) {
    const s = <i32>clz(f) - 11;
    uSig = f << <u64>s;
    uExp = -1074 - s;
  } else {
    uSig = f | HIDDEN64;
    uExp = ef - 1075;
  }
}
function unpack32(a: u32): void {
  const ef = <i32>((a >> 23) & 0xff);
  const f = <u64>(a & FRAC32);
  if (ef == 0) {
    const s = <i32>clz(f) - 40;
    uSig = f << <u64>s;
    uExp = -149 - s;
  } else {
    uSig = f | <u64>MINNORM32;
    uExp = ef - 150;
  }
}

// ---------------------------------------------------------------------------------------------------
// 128-bit helpers (pairs of u64). The high half of a result is returned in `hi128`.

let hi128: u64 = 0;

/** Full 64x64 -> 128 product: returns the low half (wasm's i64.mul), sets hi128 (alu.ts mulhu). */
@inline function mul128(a: u64, b: u64): u64 {
  hi128 = mulhu(a, b);
  return a * b;
}

/** (hi:lo) >> d with every shifted-out 1 OR-ed into bit 0 ("jamming"): returns lo, sets hi128. */
function shiftRightJam128(hi: u64, lo: u64, d: i32): u64 {
  if (d <= 0) {
    hi128 = hi;
    return lo;
  }
  if (d < 64) {
    const j: u64 = (lo << <u64>(64 - d)) != 0 ? 1 : 0;
    hi128 = hi >> <u64>d;
    return (lo >> <u64>d) | (hi << <u64>(64 - d)) | j;
  }
  hi128 = 0;
  if (d == 64) return hi | (lo != 0 ? 1 : 0);
  if (d < 128) {
    const j: u64 = lo != 0 || (hi << <u64>(128 - d)) != 0 ? 1 : 0;
    return (hi >> <u64>(d - 64)) | j;
  }
  return (hi | lo) != 0 ? 1 : 0;
}

@inline function shiftRightJam64(x: u64, d: i32): u64 {
  if (d <= 0) return x;
  if (d < 64) return (x >> <u64>d) | ((x << <u64>(64 - d)) != 0 ? 1 : 0);
  return x != 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------
// Rounding

/**
 * Whether rounding adds one unit in the last kept place. `rem` holds the discarded bits left-aligned
 * (bit 63 is the first discarded bit), so HALF means exactly half a unit; `lsb` is the last kept bit.
 * IEEE 754 §4.3: RNE ties to even, RMM ties away from zero, RDN/RUP toward -inf/+inf, RTZ truncates.
 */
@inline function roundIncrement(rm: u32, negative: bool, lsb: u64, rem: u64): bool {
  // Bitwise rather than short-circuit operators: the outcome is data-dependent, a branch mispredicts.
  if (rm == RM_RNE) return (rem > HALF) | ((rem == HALF) & (lsb != 0));
  if (rm == RM_RTZ) return false;
  if (rm == RM_RDN) return negative & (rem != 0);
  if (rm == RM_RUP) return !negative & (rem != 0);
  return rem >= HALF; // RMM
}

/**
 * Round (-1)^sign * m * 2^e to the format (P, QMIN, EXPMAX), set the flags, return the bit pattern.
 * `signBit` is the format's sign bit (0 or 1 << (width-1)). m != 0.
 * m is either exact, or "jammed": bit 0 is OR-ed with a nonzero tail below it. A jammed m must have
 * its leading bit high enough that, once normalized, bit 0 lies below the guard bit, i.e. at or above
 * bit P+1 (binary64 callers keep it at >= 55, binary32 callers at >= 39).
 */
@inline function roundPack(signBit: u64, e: i32, m: u64, rm: u32, P: i32, QMIN: i32, EXPMAX: i32): u64 {
  const negative = signBit != 0;
  const lz = <i32>clz(m);
  m <<= <u64>lz;
  e -= lz;
  const E = e + 63; // exponent of the leading bit of the exact value
  const emin = QMIN + P - 1;
  let q = E - (P - 1); // exponent of the last kept bit
  let tiny = false;
  if (E < emin) {
    q = QMIN; // subnormal range: the grid is fixed at 2^QMIN
    tiny = true;
    // Tininess after rounding (Unpriv §11.2): a value just below 2^emin is not tiny when rounding it to
    // P bits with an unbounded exponent would give 2^emin (even if the subnormal rounding does too).
    if (E == emin - 1) {
      const kept1 = m >> <u64>(64 - P);
      if (kept1 == (<u64>1 << <u64>P) - 1 && roundIncrement(rm, negative, 1, m << <u64>P)) tiny = false;
    }
  }
  const sh = q - e; // >= 64 - P >= 11
  let kept: u64, rem: u64;
  if (sh < 64) {
    kept = m >> <u64>sh;
    rem = m << <u64>(64 - sh);
  } else {
    kept = 0;
    rem = sh == 64 ? m : 1; // beyond the guard position: a nonzero tail below one half
  }
  kept += <u64>roundIncrement(rm, negative, kept & 1, rem);
  if ((kept >> <u64>P) != 0) { // the increment carried into a new binade
    kept >>= 1;
    q++;
  }
  const field = q - QMIN + 1; // biased exponent when kept is normal
  if (field >= EXPMAX) {
    // IEEE 754 §7.4: overflow gives inf or the largest finite number, by mode and sign.
    raiseFlags(FLAG_OF | FLAG_NX);
    const toInf = rm == RM_RNE || rm == RM_RMM || (rm == RM_RUP && !negative) || (rm == RM_RDN && negative);
    const inf = <u64>EXPMAX << <u64>(P - 1);
    return signBit | (toInf ? inf : inf - 1);
  }
  raiseFlags(<u32>(rem != 0) * (tiny ? FLAG_NX | FLAG_UF : FLAG_NX));
  // kept < 2^(P-1) only when q == QMIN (subnormal or zero): the exponent field is then 0.
  return signBit | ((<u64>(q - QMIN) << <u64>(P - 1)) + kept);
}

// One out-of-line copy per format, so that the format constants fold.
function pack64(signBit: u64, e: i32, m: u64, rm: u32): u64 {
  return roundPack(signBit, e, m, rm, P64, QMIN64, EXPMAX64);
}
function pack32(signBit: u32, e: i32, m: u64, rm: u32): u32 {
  return <u32>roundPack(<u64>signBit, e, m, rm, P32, QMIN32, EXPMAX32);
}

/** IEEE 754 §6.3: an exact zero sum of operands of opposite sign is +0, or -0 when rounding down. */
@inline function exactZeroSign(rm: u32): bool { return rm == RM_RDN; }

// ---------------------------------------------------------------------------------------------------
// Addition and subtraction

/**
 * Exact sum of two finite nonzero unpacked operands with significands aligned at bit 62, rounded.
 * Returns the magnitude+sign via roundPack; the sign arguments are 0/1.
 */
function addCore(sa: u64, ea: i32, ma: u64, sb: u64, eb: i32, mb: u64, rm: u32, is64: bool): u64 {
  // Make operand a the larger in magnitude (so the result has a's sign).
  if (eb > ea || (eb == ea && mb > ma)) {
    let t = sa; sa = sb; sb = t;
    let te = ea; ea = eb; eb = te;
    t = ma; ma = mb; mb = t;
  }
  // b's significand has >= 10 zero low bits, so shifts up to 10 are exact; beyond that the jammed
  // bit lies far below the guard bit of any result (the result's leading bit is >= bit 61).
  mb = shiftRightJam64(mb, ea - eb);
  let m: u64;
  if (sa == sb) {
    m = ma + mb;
  } else {
    m = ma - mb;
    if (m == 0) return exactZeroSign(rm) ? (is64 ? SIGN64 : <u64>SIGN32) : 0;
  }
  if (is64) return pack64(sa << 63, ea, m, rm);
  return <u64>pack32(<u32>sa << 31, ea, m, rm);
}

function addSlow64(a: u64, b: u64, rm: u32): u64 {
  const infA = (a & INF64) == INF64, infB = (b & INF64) == INF64;
  if (infA || infB) {
    if (isNaN64(a) || isNaN64(b)) {
      if (isSNaN64(a) || isSNaN64(b)) raiseFlags(FLAG_NV);
      return CANON64;
    }
    if (infA && infB && ((a ^ b) & SIGN64) != 0) { // inf - inf (IEEE 754 §7.2 d)
      raiseFlags(FLAG_NV);
      return CANON64;
    }
    return infA ? a : b;
  }
  const zA = isZero64(a), zB = isZero64(b);
  if (zA || zB) {
    if (zA && zB) return a == b ? a : exactZeroSign(rm) ? SIGN64 : 0;
    return zA ? b : a; // x + 0 = x exactly
  }
  unpack64(a);
  const ea = uExp, ma = uSig << 10;
  unpack64(b);
  return addCore(a >> 63, ea - 10, ma, b >> 63, uExp - 10, uSig << 10, rm, true);
}

function addSlow32(a: u32, b: u32, rm: u32): u32 {
  const infA = (a & INF32) == INF32, infB = (b & INF32) == INF32;
  if (infA || infB) {
    if (isNaN32(a) || isNaN32(b)) {
      if (isSNaN32(a) || isSNaN32(b)) raiseFlags(FLAG_NV);
      return CANON32;
    }
    if (infA && infB && ((a ^ b) & SIGN32) != 0) {
      raiseFlags(FLAG_NV);
      return CANON32;
    }
    return infA ? a : b;
  }
  const zA = isZero32(a), zB = isZero32(b);
  if (zA || zB) {
    if (zA && zB) return a == b ? a : exactZeroSign(rm) ? SIGN32 : 0;
    return zA ? b : a;
  }
  unpack32(a);
  const ea = uExp, ma = uSig << 39;
  unpack32(b);
  return <u32>addCore(<u64>(a >> 31), ea - 39, ma, <u64>(b >> 31), uExp - 39, uSig << 39, rm, false);
}

export function f64_add(a: u64, b: u64, rm: u32): u64 {
  if (rm == RM_RNE) {
    const x = reinterpret<f64>(a), y = reinterpret<f64>(b);
    const s = x + y;
    const r = reinterpret<u64>(s);
    // A finite sum cannot have overflowed, and a sum below the normal range is exact (it is a
    // multiple of the subnormal quantum), so only NX remains. TwoSum gives the exact error, also with
    // subnormal intermediates. Next to the overflow threshold an intermediate of TwoSum can overflow
    // (x = -3*2^970, y = max: s - x ties to inf); the error is then NaN or inf, which also reads as
    // "inexact" -- correctly, because for an exact sum every intermediate equals an operand.
    if ((r & ABS64) < INF64) {
      const yv = s - x;
      const xv = s - yv;
      raiseFlags(<u32>((x - xv) + (y - yv) != 0)); // FLAG_NX, branch-free
      return r;
    }
  }
  return addSlow64(a, b, rm);
}

export function f64_sub(a: u64, b: u64, rm: u32): u64 {
  // a - b == a + (-b) in every mode, including the sign of an exact zero (IEEE 754 §5.4.1);
  // flipping a NaN's sign keeps it a NaN of the same kind.
  return f64_add(a, b ^ SIGN64, rm);
}

export function f32_add(a: u32, b: u32, rm: u32): u32 {
  if (rm == RM_RNE) {
    // The native binary32 sum and its TwoSum error, computed in binary32: the argument of f64_add
    // holds for any binary format (no conversions, no double rounding).
    const x = reinterpret<f32>(a), y = reinterpret<f32>(b);
    const s = x + y;
    const r = reinterpret<u32>(s);
    if ((r & ABS32) < INF32) {
      const yv = s - x;
      const xv = s - yv;
      raiseFlags(<u32>((x - xv) + (y - yv) != 0)); // FLAG_NX
      return r;
    }
  }
  return addSlow32(a, b, rm);
}

export function f32_sub(a: u32, b: u32, rm: u32): u32 {
  return f32_add(a, b ^ SIGN32, rm);
}

// ---------------------------------------------------------------------------------------------------
// Multiplication

/** NX for a product whose correctly rounded native value is clearly normal. */
@inline function mulInexact64(a: u64, b: u64): bool {
  const oa = oddPart(rawSig64(a)), ob = oddPart(rawSig64(b));
  // oa * ob is odd; it is exactly representable iff it has at most 53 bits.
  const n = 128 - <i32>clz(oa) - <i32>clz(ob); // oa * ob < 2^n, and >= 2^(n-2)
  // n <= 53: exact; n > 64: >= 2^63 bits, inexact; otherwise oa * ob < 2^64 decides.
  return n > 53 && (n > 64 || oa * ob >= HIDDEN64 << 1);
}

function mulSlow64(a: u64, b: u64, rm: u32): u64 {
  const sign = (a ^ b) & SIGN64;
  if (((a & INF64) == INF64) || ((b & INF64) == INF64)) {
    if (isNaN64(a) || isNaN64(b)) {
      if (isSNaN64(a) || isSNaN64(b)) raiseFlags(FLAG_NV);
      return CANON64;
    }
    if (isZero64(a) || isZero64(b)) { // 0 * inf (IEEE 754 §7.2 b)
      raiseFlags(FLAG_NV);
      return CANON64;
    }
    return sign | INF64;
  }
  if (isZero64(a) || isZero64(b)) return sign;
  unpack64(a);
  const ma = uSig, ea = uExp;
  unpack64(b);
  // 53 x 53 -> 106-bit product in [2^104, 2^106); keep the top 64 bits, jam the rest.
  const lo = mul128(ma, uSig);
  const hi = hi128;
  const lz = <i32>clz(hi); // 22 or 23
  const m = (hi << <u64>lz) | (lo >> <u64>(64 - lz)) | ((lo << <u64>lz) != 0 ? 1 : 0);
  return pack64(sign, ea + uExp + 64 - lz, m, rm);
}

function mulSlow32(a: u32, b: u32, rm: u32): u32 {
  const sign = (a ^ b) & SIGN32;
  if (((a & INF32) == INF32) || ((b & INF32) == INF32)) {
    if (isNaN32(a) || isNaN32(b)) {
      if (isSNaN32(a) || isSNaN32(b)) raiseFlags(FLAG_NV);
      return CANON32;
    }
    if (isZero32(a) || isZero32(b)) {
      raiseFlags(FLAG_NV);
      return CANON32;
    }
    return sign | INF32;
  }
  if (isZero32(a) || isZero32(b)) return sign;
  unpack32(a);
  const ma = uSig, ea = uExp;
  unpack32(b);
  return pack32(sign, ea + uExp, ma * uSig, rm); // 48-bit product: exact
}

export function f64_mul(a: u64, b: u64, rm: u32): u64 {
  if (rm == RM_RNE) {
    const r = reinterpret<u64>(reinterpret<f64>(a) * reinterpret<f64>(b));
    if (clearlyNormal64(r)) {
      raiseFlags(<u32>mulInexact64(a, b)); // FLAG_NX
      return r;
    }
  }
  return mulSlow64(a, b, rm);
}

export function f32_mul(a: u32, b: u32, rm: u32): u32 {
  if (rm == RM_RNE) {
    const p = <f64>reinterpret<f32>(a) * <f64>reinterpret<f32>(b); // exact: 48 bits, in range
    const r32 = <f32>p;
    const r = reinterpret<u32>(r32);
    if ((r & ABS32) < INF32) {
      const inexact = <f64>r32 != p;
      // A tiny inexact result needs the tininess-after-rounding test of the soft path.
      if (!inexact || clearlyNormal32(r)) {
        raiseFlags(<u32>inexact); // FLAG_NX
        return r;
      }
    }
  }
  return mulSlow32(a, b, rm);
}

// ---------------------------------------------------------------------------------------------------
// Division

/**
 * NX for a quotient r = RNE(a/b) that is clearly normal. r * b == a holds iff the odd parts of the
 * significands satisfy or * ob == oa: equal odd parts make r * b and a differ by a power of two, and
 * r * b is within a relative 2^-53 of a, so that power is 1. An exact product has at most
 * bitlen(oa) + 1 <= 54 bits, which also rules out u64 wrap-around in the comparison.
 */
@inline function divInexact64(a: u64, b: u64, r: u64): bool {
  const or = oddPart((r & FRAC64) | HIDDEN64), ob = oddPart(rawSig64(b));
  if (128 - <i32>clz(or) - <i32>clz(ob) > 55) return true;
  return or * ob != oddPart(rawSig64(a));
}

function divSlow64(a: u64, b: u64, rm: u32): u64 {
  const sign = (a ^ b) & SIGN64;
  const infA = (a & INF64) == INF64, infB = (b & INF64) == INF64;
  if (infA || infB) {
    if (isNaN64(a) || isNaN64(b)) {
      if (isSNaN64(a) || isSNaN64(b)) raiseFlags(FLAG_NV);
      return CANON64;
    }
    if (infA && infB) { // inf / inf
      raiseFlags(FLAG_NV);
      return CANON64;
    }
    return infA ? sign | INF64 : sign; // inf / x = inf (no DZ, even for x = 0); x / inf = 0
  }
  if (isZero64(b)) {
    if (isZero64(a)) { // 0 / 0
      raiseFlags(FLAG_NV);
      return CANON64;
    }
    raiseFlags(FLAG_DZ); // finite nonzero / 0 (IEEE 754 §7.3)
    return sign | INF64;
  }
  if (isZero64(a)) return sign;
  unpack64(a);
  let ma = uSig, ea = uExp;
  unpack64(b);
  const mb = uSig, eb = uExp;
  if (ma < mb) {
    ma <<= 1;
    ea--;
  }
  // Long division, 11 quotient bits per step (the remainder stays below mb < 2^53, so r << 11 fits).
  let q: u64 = 1;
  let r = ma - mb;
  for (let i = 0; i < 5; i++) {
    r <<= 11;
    const d = r / mb;
    r -= d * mb;
    q = (q << 11) | d;
  }
  // a/b = (q + r/mb) * 2^(ea - eb - 55), q in [2^55, 2^56).
  return pack64(sign, ea - eb - 55, q | (r != 0 ? 1 : 0), rm);
}

function divSlow32(a: u32, b: u32, rm: u32): u32 {
  const sign = (a ^ b) & SIGN32;
  const infA = (a & INF32) == INF32, infB = (b & INF32) == INF32;
  if (infA || infB) {
    if (isNaN32(a) || isNaN32(b)) {
      if (isSNaN32(a) || isSNaN32(b)) raiseFlags(FLAG_NV);
      return CANON32;
    }
    if (infA && infB) {
      raiseFlags(FLAG_NV);
      return CANON32;
    }
    return infA ? sign | INF32 : sign;
  }
  if (isZero32(b)) {
    if (isZero32(a)) {
      raiseFlags(FLAG_NV);
      return CANON32;
    }
    raiseFlags(FLAG_DZ);
    return sign | INF32;
  }
  if (isZero32(a)) return sign;
  unpack32(a);
  const ma = uSig, ea = uExp;
  unpack32(b);
  const n = ma << 40;
  const q = n / uSig;
  const r = n - q * uSig;
  return pack32(sign, ea - uExp - 40, q | (r != 0 ? 1 : 0), rm); // q in (2^39, 2^41)
}

export function f64_div(a: u64, b: u64, rm: u32): u64 {
  if (rm == RM_RNE) {
    const r = reinterpret<u64>(reinterpret<f64>(a) / reinterpret<f64>(b));
    if (clearlyNormal64(r)) {
      // Here a and b are finite and nonzero, and r is normal: exact iff r * b == a.
      raiseFlags(<u32>divInexact64(a, b, r)); // FLAG_NX
      return r;
    }
  }
  return divSlow64(a, b, rm);
}

export function f32_div(a: u32, b: u32, rm: u32): u32 {
  if (rm == RM_RNE) {
    const x = <f64>reinterpret<f32>(a), y = <f64>reinterpret<f32>(b);
    const r32 = <f32>(x / y); // double rounding innocuous (53 >= 2*24+2)
    const r = reinterpret<u32>(r32);
    if (clearlyNormal32(r)) {
      raiseFlags(<u32>(<f64>r32 * y != x)); // FLAG_NX; r32 * y has <= 48 bits: exact in binary64
      return r;
    }
  }
  return divSlow32(a, b, rm);
}

// ---------------------------------------------------------------------------------------------------
// Square root
//
// The square root of a positive finite number never overflows, never underflows and is never exactly
// halfway between two neighbours, so every mode follows from the correctly rounded (RNE) native root r
// and the sign of a - r^2: RDN/RTZ step one unit down when r is too big, RUP one up when it is too small,
// and RMM equals RNE.

/** sign(a - r^2) for a positive finite binary64 a and its positive normal root candidate r. */
function sqrtResidualSign64(a: u64, r: u64): i32 {
  const sr = (r & FRAC64) | HIDDEN64;
  const er = <i32>((r >> 52) & 0x7ff) - 1075;
  const ef = <i32>((a >> 52) & 0x7ff);
  const sa = rawSig64(a);
  const ea = (ef == 0 ? 1 : ef) - 1075;
  // Compare X = sr^2 with Y = sa * 2^(ea - 2er); since r ~ sqrt(a), the shift s lies in [51, 105].
  const xlo = mul128(sr, sr);
  const xhi = hi128;
  const s = ea - 2 * er;
  let ylo: u64, yhi: u64;
  if (s < 64) {
    ylo = sa << <u64>s;
    yhi = s == 0 ? 0 : sa >> <u64>(64 - s);
  } else {
    ylo = 0;
    yhi = sa << <u64>(s - 64);
  }
  if (yhi != xhi) return yhi > xhi ? 1 : -1;
  if (ylo != xlo) return ylo > xlo ? 1 : -1;
  return 0;
}

export function f64_sqrt(a: u64, rm: u32): u64 {
  if (a - 1 >= INF64 - 1) { // not positive finite nonzero
    if (isNaN64(a)) {
      if (isSNaN64(a)) raiseFlags(FLAG_NV);
      return CANON64;
    }
    if (isZero64(a) || a == INF64) return a; // sqrt(-0) = -0, sqrt(+inf) = +inf
    raiseFlags(FLAG_NV); // negative (IEEE 754 §7.2 g)
    return CANON64;
  }
  let r = reinterpret<u64>(sqrt<f64>(reinterpret<f64>(a)));
  if (rm == RM_RNE || rm == RM_RMM) {
    // Exact iff the odd part of r's significand squared is the odd part of a's significand.
    const orr = oddPart((r & FRAC64) | HIDDEN64);
    raiseFlags(<u32>!(orr < (<u64>1 << 27) && orr * orr == oddPart(rawSig64(a)))); // FLAG_NX
    return r;
  }
  const d = sqrtResidualSign64(a, r);
  if (d == 0) return r;
  raiseFlags(FLAG_NX);
  if (d < 0 && rm != RM_RUP) r--; // RTZ, RDN: the root is below r
  else if (d > 0 && rm == RM_RUP) r++;
  return r;
}

export function f32_sqrt(a: u32, rm: u32): u32 {
  if (a - 1 >= INF32 - 1) {
    if (isNaN32(a)) {
      if (isSNaN32(a)) raiseFlags(FLAG_NV);
      return CANON32;
    }
    if (isZero32(a) || a == INF32) return a;
    raiseFlags(FLAG_NV);
    return CANON32;
  }
  const x = <f64>reinterpret<f32>(a);
  const r32 = <f32>sqrt<f64>(x); // double rounding innocuous (53 >= 2*24+2)
  let r = reinterpret<u32>(r32);
  const rr = <f64>r32 * <f64>r32; // <= 48 bits: exact
  if (rr == x) return r;
  raiseFlags(FLAG_NX);
  if (rm == RM_RNE || rm == RM_RMM) return r;
  if (rr > x && rm != RM_RUP) r--;
  else if (rr < x && rm == RM_RUP) r++;
  return r;
}

// ---------------------------------------------------------------------------------------------------
// Fused multiply-add: (-1)^negProduct * a * b + (-1)^negAddend * c with a single rounding.
// fmadd = (false, false), fmsub = (false, true), fnmsub = (true, false), fnmadd = (true, true)
// (Unpriv §11.6; as in SoftFloat/Spike the negations apply to the operands, so an exact zero
// result follows the sum rule of IEEE 754 §6.3).

/**
 * Exact sum of the product P * 2^eP (P = pHi:pLo, nonzero, < 2^126) and cSig * 2^eC (cSig nonzero,
 * < 2^62), rounded once. Signs are 0/1.
 */
function fmaCore(sp: u64, pHi: u64, pLo: u64, eP: i32, sc: u64, cSig: u64, eC: i32, rm: u32, is64: bool): u64 {
  // Normalize both to a leading bit at position 125 of 128 (room for a carry, and low zero bits so
  // that an exact-cancellation difference is computed exactly).
  const lzp = pHi != 0 ? <i32>clz(pHi) : 64 + <i32>clz(pLo);
  let s = lzp - 2;
  if (s >= 64) {
    pHi = pLo << <u64>(s - 64);
    pLo = 0;
  } else if (s > 0) {
    pHi = (pHi << <u64>s) | (pLo >> <u64>(64 - s));
    pLo <<= <u64>s;
  }
  eP -= s;
  const lzc = <i32>clz(cSig);
  let cHi = cSig << <u64>(lzc - 2);
  let cLo: u64 = 0;
  eC -= 62 + lzc;

  // Align the smaller-exponent operand to the larger, jamming what falls off.
  let e: i32;
  if (eP >= eC) {
    cLo = shiftRightJam128(cHi, cLo, eP - eC);
    cHi = hi128;
    e = eP;
  } else {
    pLo = shiftRightJam128(pHi, pLo, eC - eP);
    pHi = hi128;
    e = eC;
  }
  let sign = sp;
  let rHi: u64, rLo: u64;
  if (sp == sc) {
    rLo = pLo + cLo;
    rHi = pHi + cHi + (rLo < pLo ? 1 : 0);
  } else {
    // Subtract the smaller magnitude from the larger (only equal exponents can leave it in doubt).
    if (cHi > pHi || (cHi == pHi && cLo > pLo)) {
      sign = sc;
      rLo = cLo - pLo;
      rHi = cHi - pHi - (cLo < pLo ? 1 : 0);
    } else {
      rLo = pLo - cLo;
      rHi = pHi - cHi - (pLo < cLo ? 1 : 0);
    }
    if ((rHi | rLo) == 0) return exactZeroSign(rm) ? (is64 ? SIGN64 : <u64>SIGN32) : 0;
  }
  // Top 64 bits of the normalized 128-bit sum, the rest jammed.
  let m: u64;
  if (rHi == 0) {
    const lz = <i32>clz(rLo);
    m = rLo << <u64>lz; // exact: value = rLo * 2^e = m * 2^(e - lz)
    return is64 ? pack64(sign << 63, e - lz, m, rm) : <u64>pack32(<u32>sign << 31, e - lz, m, rm);
  }
  const lz = <i32>clz(rHi);
  if (lz == 0) {
    m = rHi | (rLo != 0 ? 1 : 0);
  } else {
    m = (rHi << <u64>lz) | (rLo >> <u64>(64 - lz)) | ((rLo << <u64>lz) != 0 ? 1 : 0);
  }
  e += 64 - lz;
  return is64 ? pack64(sign << 63, e, m, rm) : <u64>pack32(<u32>sign << 31, e, m, rm);
}

/**
 * RNE fast path for binary64 FMA, without a native fused multiply-add. The exact value is split into
 * three floats and rounded once:
 *   uh + ul = a*b        exactly: uh = RN(a*b) natively; the error ul is an integer of at most 53 bits
 *                        times 2^(ea+eb-2150), taken from the low 64 bits of the significand product
 *                        (one i64.mul: the true difference is that small, so arithmetic mod 2^64 is exact)
 *   th + tl = c + uh     exactly (TwoSum)
 *   s = RN(tl + ul),  z = RN(th + s),  d = s - (z - th)   (Fast2Sum: d is the exact error of z)
 * Why z = RN(a*b + c): if s is exact, z is the single rounding of the exact sum. If s is inexact then
 * tl != 0, so c + uh was not a Sterbenz cancellation and |th| >= |uh|/2, giving |s| <= 1.5 ulp(th);
 * the exact value is z + d + e with e = tl + ul - s, |e| <= ulp(s)/2. Every rounding boundary next to
 * z is z +- h with h a power of two far above ulp(s), and d is a multiple of ulp(s), so |d| < h means
 * |d| <= h - ulp(s) and z + d + e stays on z's side: z is right unless the last addition was a tie
 * (|d| = h). Ties, and conservatively every d that is a power of two, go to the exact path. NX: d != 0
 * means inexact (if tl + ul were z - th, a float, s would equal it and d would be 0); d == 0 leaves only
 * the error of s, computed then with TwoSum (Boldo & Melquiond, IEEE TC 57(4) 2008, prove the related
 * round-to-odd form; this one trades that second TwoSum on the hot path for the tie test).
 * Conditions, checked here: a and b normal, exponent sum ea+eb-2046 in [-900, 1019] (the error scale
 * is a normal float, no product overflow); a*b not a midpoint of uh's neighbours (see D); the result
 * finite with |z| >= 2^-1017 (no OF/UF, all of th, s, d far from the subnormal range; an infinite or
 * NaN operand makes z infinite or NaN). Anything else returns 0 (never a valid fast-path result) and
 * the caller takes the exact integer path.
 */
@inline export function fmaFast64(a: u64, b: u64, c: u64): u64 {
  const ea = (a >> 52) & 0x7ff, eb = (b >> 52) & 0x7ff;
  const eab = ea + eb;
  // zero/subnormal factor, or exponent sum eab - 2046 outside [-900, 1019] (one sign test: each term
  // is negative when out of range; infinite/NaN factors pass here and are caught by the check of z)
  if (<i64>((ea - 1) | (eb - 1) | (eab - 1146) | (3065 - eab)) < 0) return 0;
  const x = reinterpret<f64>(a), y = reinterpret<f64>(b), w = reinterpret<f64>(c);
  const uh = x * y;
  const ub = reinterpret<u64>(uh);
  // a*b = ma*mb * 2^(eab-2150) and uh = mu << k at the same scale, k = 52 if uh's biased exponent is
  // eab - 1023 (ma*mb < 2^105 after rounding), else 53 (rounding never reaches 2^106: ma*mb <=
  // (2^53 - 1)^2 < 2^106 - 2^52). ul = diff * 2^(eab-2150) with diff = ma*mb - mu << k, |diff| <=
  // 2^(k-1): <= 2^51 for k = 52, <= 2^52 for k = 53.
  // The low 64 bits of the error, scaled by 2^11 so that only diff mod 2^53 is needed:
  //   diff * 2^11 = (ma*mb << 11) - (mu << (k + 11)) (mod 2^64), where
  //   ma*mb mod 2^53 = (a | HIDDEN) * (b | HIDDEN) mod 2^53 (the bits above 52 only add multiples
  //   of 2^53), and mu << 63 = ub << 63 for k = 52 (subtracting 2^63 mod 2^64 flips bit 63), while
  //   mu << 64 = 0 for k = 53.
  // diff in [-2^52, 2^52) is then exact as an i64 D; D = -2^63 is ambiguous (diff = +-2^52, a*b a
  // midpoint of uh's neighbours) and goes to the exact path.
  const c52 = (ub << 1) < ((eab - 1022) << 53);
  const D = ((a | HIDDEN64) * (b | HIDDEN64)) << 11 ^ (c52 ? ub << 63 : 0);
  if (D == SIGN64) return 0;
  const ul = <f64><i64>D * reinterpret<f64>(((eab - 1138) << 52) | (ub & SIGN64));
  const th = w + uh;
  const bv = th - w;
  const tl = (w - (th - bv)) + (uh - bv);
  const s = tl + ul;
  const z = th + s;
  const zb = reinterpret<u64>(z);
  if (((zb >> 52) & 0x7ff) - 6 >= 0x7ff - 6) return 0; // inf/NaN or |z| < 2^-1017
  const db = reinterpret<u64>(s - (z - th));
  if ((db << 12) != 0) { // d is neither 0 nor a power of two: inexact, and not a tie
    raiseFlags(FLAG_NX);
    return zb;
  }
  if ((db << 1) != 0) return 0; // d a power of two: maybe a tie after rounding s, exact path
  const sv = s - tl; // d == 0: z = th + s exactly; inexact iff s is
  raiseFlags(<u32>((tl - (s - sv)) + (ul - sv) != 0)); // FLAG_NX
  return zb;
}

@inline export function f64_fma(a: u64, b: u64, c: u64, negProduct: bool, negAddend: bool, rm: u32): u64 {
  if (rm == RM_RNE) {
    // -(a*b) + c = -(a*b - c) and -(a*b) - c = -(a*b + c): the product's negation moves to the result
    // (RNE is symmetric, flags are alike, and the fast path never returns a zero, whose sign would
    // differ), so each form negates at most one value.
    const r = fmaFast64(a, b, negProduct != negAddend ? c ^ SIGN64 : c);
    if (r != 0) return negProduct ? r ^ SIGN64 : r;
  }
  // The four forms negate operands (as SoftFloat/Spike do); NaN-ness and sNaN-ness are unaffected.
  return fmaSlow64(negProduct ? a ^ SIGN64 : a, b, negAddend ? c ^ SIGN64 : c, rm);
}

function fmaSlow64(a: u64, b: u64, c: u64, rm: u32): u64 {
  const sp = (a ^ b) & SIGN64;
  const sc = c & SIGN64;
  const infA = (a & INF64) == INF64, infB = (b & INF64) == INF64, infC = (c & INF64) == INF64;
  const zA = isZero64(a), zB = isZero64(b);
  if (infA || infB || infC) {
    // Unpriv §11.6: "The fused multiply-add instructions must set the invalid operation exception
    // flag when the multiplicands are inf and zero, even when the addend is a quiet NaN."
    const prodInvalid = (isInf64(a) && zB) || (zA && isInf64(b));
    if (isNaN64(a) || isNaN64(b) || isNaN64(c)) {
      if (prodInvalid || isSNaN64(a) || isSNaN64(b) || isSNaN64(c)) raiseFlags(FLAG_NV);
      return CANON64;
    }
    if (prodInvalid) {
      raiseFlags(FLAG_NV);
      return CANON64;
    }
    if (infA || infB) {
      if (infC && sc != sp) { // inf - inf
        raiseFlags(FLAG_NV);
        return CANON64;
      }
      return sp | INF64;
    }
    return sc | INF64;
  }
  const zC = isZero64(c);
  if (zA || zB) {
    if (zC) return sp == sc ? sp : exactZeroSign(rm) ? SIGN64 : 0;
    return sc | (c & ABS64); // 0 + c = c exactly
  }
  unpack64(a);
  const ma = uSig, ea = uExp;
  unpack64(b);
  const pLo = mul128(ma, uSig);
  const pHi = hi128;
  const eP = ea + uExp;
  if (zC) {
    // x*y + 0 = round(x*y); the result is nonzero, so c's sign cannot matter.
    const lz = <i32>clz(pHi);
    const m = (pHi << <u64>lz) | (pLo >> <u64>(64 - lz)) | ((pLo << <u64>lz) != 0 ? 1 : 0);
    return pack64(sp, eP + 64 - lz, m, rm);
  }
  unpack64(c);
  return fmaCore(sp >> 63, pHi, pLo, eP, sc >> 63, uSig, uExp, rm, true);
}

/**
 * binary32 FMA through binary64, every rounding mode: the product of two binary32 values is exact in
 * binary64 (48 bits, exponent in range), and p is a multiple of 2^-298, so a nonzero sum s = RN64(p +
 * c) is a normal binary64 whose TwoSum error is exact.
 *  - RNE: RN32(s) == RN32(p + c) unless s is exactly a binary32 midpoint: every midpoint m is a
 *    binary64 value, so by monotonicity p + c < m implies s <= m, and s != m then gives s < m (and
 *    likewise above). A midpoint s goes to the exact path. NX: r != s implies p + c != r; r == s
 *    leaves the TwoSum error of s.
 *  - other modes: s rounded to odd (TwoSum, then the odd neighbour toward the error) rounds to
 *    binary32 exactly as the exact sum would (Boldo & Melquiond 2008, "RO then round"; 53 >= 24 + 2
 *    bits, and for the directed modes the odd last bit acts as a sticky bit).
 * Operands must be finite except in RNE. Returns 0xffffffff (a NaN, never produced here) to request
 * the slow path: a midpoint, an infinite, NaN, tiny or overflowing inexact RNE result, or an exact zero
 * sum in a directed mode (its sign).
 */
@inline export function fmaFast32(a: u32, b: u32, c: u32, rm: u32): u32 {
  const p = <f64>reinterpret<f32>(a) * <f64>reinterpret<f32>(b);
  const w = <f64>reinterpret<f32>(c);
  const s = p + w;
  let sb = reinterpret<u64>(s);
  if (rm == RM_RNE) {
    // Infinite or NaN operands need no test of their own: s, and so r, is then infinite or NaN, which
    // is neither an exact match of s (the TwoSum error of an infinite s is NaN) nor clearly normal.
    if ((sb & 0x1fffffff) == 0x10000000) return 0xffffffff; // a binary32 midpoint
    const r32 = <f32>s;
    const r = reinterpret<u32>(r32);
    if (<f64>r32 == s) {
      const sv = s - p;
      if ((p - (s - sv)) + (w - sv) == 0) return r; // exact (zeros included: native RNE zero signs are IEEE's)
    }
    if (!clearlyNormal32(r)) return 0xffffffff;
    raiseFlags(FLAG_NX);
    return r;
  }
  const sv = s - p;
  const e = (p - (s - sv)) + (w - sv);
  if (e != 0 && (sb & 1) == 0) sb = ((reinterpret<u64>(e) ^ sb) & SIGN64) == 0 ? sb + 1 : sb - 1;
  if ((sb & ABS64) == 0) return 0xffffffff;
  unpack64(sb);
  return pack32(<u32>(sb >> 32) & SIGN32, uExp, uSig, rm);
}

@inline export function f32_fma(a: u32, b: u32, c: u32, negProduct: bool, negAddend: bool, rm: u32): u32 {
  if (negProduct) a ^= SIGN32;
  if (negAddend) c ^= SIGN32;
  // The RNE path copes with infinite and NaN operands itself (it declines them); rounding to odd
  // needs finite ones.
  if (rm == RM_RNE || ((a & INF32) != INF32 && (b & INF32) != INF32 && (c & INF32) != INF32)) {
    const r = fmaFast32(a, b, c, rm);
    if (r != 0xffffffff) return r;
  }
  return fmaSlow32(a, b, c, rm);
}

function fmaSlow32(a: u32, b: u32, c: u32, rm: u32): u32 {
  const sp = (a ^ b) & SIGN32;
  const sc = c & SIGN32;
  const infA = (a & INF32) == INF32, infB = (b & INF32) == INF32, infC = (c & INF32) == INF32;
  const zA = isZero32(a), zB = isZero32(b);
  if (infA || infB || infC) {
    const prodInvalid = (isInf32(a) && zB) || (zA && isInf32(b));
    if (isNaN32(a) || isNaN32(b) || isNaN32(c)) {
      if (prodInvalid || isSNaN32(a) || isSNaN32(b) || isSNaN32(c)) raiseFlags(FLAG_NV);
      return CANON32;
    }
    if (prodInvalid) {
      raiseFlags(FLAG_NV);
      return CANON32;
    }
    if (infA || infB) {
      if (infC && sc != sp) {
        raiseFlags(FLAG_NV);
        return CANON32;
      }
      return sp | INF32;
    }
    return sc | INF32;
  }
  const zC = isZero32(c);
  if (zA || zB) {
    if (zC) return sp == sc ? sp : exactZeroSign(rm) ? SIGN32 : 0;
    return sc | (c & ABS32);
  }
  unpack32(a);
  const ma = uSig, ea = uExp;
  unpack32(b);
  const p = ma * uSig; // 48 bits, exact
  const eP = ea + uExp;
  if (zC) return pack32(sp, eP, p, rm);
  unpack32(c);
  return <u32>fmaCore(<u64>(sp >> 31), 0, p, eP, <u64>(sc >> 31), uSig, uExp, rm, false);
}

// ---------------------------------------------------------------------------------------------------
// minimumNumber / maximumNumber (IEEE 754-2019 §9.6; Unpriv §11.6 as amended in version 2.2):
// -0 < +0; a single NaN operand yields the other operand; two NaNs yield the canonical NaN; a
// signaling NaN input sets NV even when the result is not NaN.

/** Total order key for non-NaN values: unsigned comparison of keys == numeric order with -0 < +0. */
@inline function key64(a: u64): u64 { return (a & SIGN64) != 0 ? ~a : a | SIGN64; }
@inline function key32(a: u32): u32 { return (a & SIGN32) != 0 ? ~a : a | SIGN32; }

export function f64_min(a: u64, b: u64): u64 {
  const nA = isNaN64(a), nB = isNaN64(b);
  if (nA || nB) {
    if (isSNaN64(a) || isSNaN64(b)) raiseFlags(FLAG_NV);
    return nA && nB ? CANON64 : nA ? b : a;
  }
  return key64(a) < key64(b) ? a : b;
}
export function f64_max(a: u64, b: u64): u64 {
  const nA = isNaN64(a), nB = isNaN64(b);
  if (nA || nB) {
    if (isSNaN64(a) || isSNaN64(b)) raiseFlags(FLAG_NV);
    return nA && nB ? CANON64 : nA ? b : a;
  }
  return key64(a) > key64(b) ? a : b;
}
export function f32_min(a: u32, b: u32): u32 {
  const nA = isNaN32(a), nB = isNaN32(b);
  if (nA || nB) {
    if (isSNaN32(a) || isSNaN32(b)) raiseFlags(FLAG_NV);
    return nA && nB ? CANON32 : nA ? b : a;
  }
  return key32(a) < key32(b) ? a : b;
}
export function f32_max(a: u32, b: u32): u32 {
  const nA = isNaN32(a), nB = isNaN32(b);
  if (nA || nB) {
    if (isSNaN32(a) || isSNaN32(b)) raiseFlags(FLAG_NV);
    return nA && nB ? CANON32 : nA ? b : a;
  }
  return key32(a) > key32(b) ? a : b;
}

// ---------------------------------------------------------------------------------------------------
// Comparisons (Unpriv §11.8): feq is a quiet comparison (NV only for a signaling NaN operand);
// flt and fle are signaling (NV for any NaN operand). Any NaN operand gives 0.

export function f64_eq(a: u64, b: u64): u32 {
  if (isNaN64(a) || isNaN64(b)) {
    if (isSNaN64(a) || isSNaN64(b)) raiseFlags(FLAG_NV);
    return 0;
  }
  return a == b || ((a | b) & ABS64) == 0 ? 1 : 0;
}
export function f64_lt(a: u64, b: u64): u32 {
  if (isNaN64(a) || isNaN64(b)) {
    raiseFlags(FLAG_NV);
    return 0;
  }
  return key64(a) < key64(b) && ((a | b) & ABS64) != 0 ? 1 : 0;
}
export function f64_le(a: u64, b: u64): u32 {
  if (isNaN64(a) || isNaN64(b)) {
    raiseFlags(FLAG_NV);
    return 0;
  }
  return key64(a) <= key64(b) || ((a | b) & ABS64) == 0 ? 1 : 0;
}
export function f32_eq(a: u32, b: u32): u32 {
  if (isNaN32(a) || isNaN32(b)) {
    if (isSNaN32(a) || isSNaN32(b)) raiseFlags(FLAG_NV);
    return 0;
  }
  return a == b || ((a | b) & ABS32) == 0 ? 1 : 0;
}
export function f32_lt(a: u32, b: u32): u32 {
  if (isNaN32(a) || isNaN32(b)) {
    raiseFlags(FLAG_NV);
    return 0;
  }
  return key32(a) < key32(b) && ((a | b) & ABS32) != 0 ? 1 : 0;
}
export function f32_le(a: u32, b: u32): u32 {
  if (isNaN32(a) || isNaN32(b)) {
    raiseFlags(FLAG_NV);
    return 0;
  }
  return key32(a) <= key32(b) || ((a | b) & ABS32) == 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------
// Classification (Unpriv table 11.5): bit 0 -inf, 1 negative normal, 2 negative subnormal, 3 -0,
// 4 +0, 5 positive subnormal, 6 positive normal, 7 +inf, 8 signaling NaN, 9 quiet NaN.

export function f64_classify(a: u64): u32 {
  const neg = (a & SIGN64) != 0;
  const ef = (a >> 52) & 0x7ff;
  const f = a & FRAC64;
  if (ef == 0x7ff) {
    if (f == 0) return neg ? 1 << 0 : 1 << 7;
    return (f & QUIET64) != 0 ? 1 << 9 : 1 << 8;
  }
  if (ef == 0) {
    if (f == 0) return neg ? 1 << 3 : 1 << 4;
    return neg ? 1 << 2 : 1 << 5;
  }
  return neg ? 1 << 1 : 1 << 6;
}
export function f32_classify(a: u32): u32 {
  const neg = (a & SIGN32) != 0;
  const ef = (a >> 23) & 0xff;
  const f = a & FRAC32;
  if (ef == 0xff) {
    if (f == 0) return neg ? 1 << 0 : 1 << 7;
    return (f & QUIET32) != 0 ? 1 << 9 : 1 << 8;
  }
  if (ef == 0) {
    if (f == 0) return neg ? 1 << 3 : 1 << 4;
    return neg ? 1 << 2 : 1 << 5;
  }
  return neg ? 1 << 1 : 1 << 6;
}

// ---------------------------------------------------------------------------------------------------
// Float <-> float conversions (Unpriv §12.5)

export function f32_to_f64(a: u32): u64 {
  if (isNaN32(a)) {
    if (isSNaN32(a)) raiseFlags(FLAG_NV);
    return CANON64;
  }
  return reinterpret<u64>(<f64>reinterpret<f32>(a)); // exact, subnormals included
}

export function f64_to_f32(a: u64, rm: u32): u32 {
  if (rm == RM_RNE) {
    const x = reinterpret<f64>(a);
    const r32 = <f32>x;
    const r = reinterpret<u32>(r32);
    if (clearlyNormal32(r)) {
      raiseFlags(<u32>(<f64>r32 != x)); // FLAG_NX
      return r;
    }
  }
  const sign = <u32>(a >> 32) & SIGN32;
  if ((a & INF64) == INF64) {
    if (isNaN64(a)) {
      if (isSNaN64(a)) raiseFlags(FLAG_NV);
      return CANON32;
    }
    return sign | INF32;
  }
  if (isZero64(a)) return sign;
  unpack64(a);
  return pack32(sign, uExp, uSig, rm);
}

// ---------------------------------------------------------------------------------------------------
// Float -> integer (Unpriv §11.7, table 11.4): round by rm; out of range, +-inf and NaN saturate and
// set NV only (no NX); NaN gives the largest positive value. In range and inexact sets NX. A negative
// value that rounds to 0 is in range for the unsigned forms. The 32-bit forms return the 32-bit
// result sign-extended to 64 bits, as RV64 writes rd (fcvt.wu.s of 3e9 gives 0xffffffffb2d05e00).

const KIND_I32: i32 = 0;
const KIND_U32: i32 = 1;
const KIND_I64: i32 = 2;
const KIND_U64: i32 = 3;

@inline function satPos(kind: i32): u64 {
  return kind == KIND_I32 ? 0x7fffffff : kind == KIND_I64 ? 0x7fffffffffffffff : <u64>-1;
}
@inline function satNeg(kind: i32): u64 {
  return kind == KIND_I32 ? 0xffffffff80000000 : kind == KIND_I64 ? SIGN64 : 0;
}

/** (-1)^neg * sig * 2^e (sig < 2^54, possibly 0) to an integer of the given kind. */
function toInt(neg: bool, sig: u64, e: i32, rm: u32, kind: i32): u64 {
  let mag: u64 = 0;
  let rem: u64 = 0;
  let big = false;
  if (e >= 0) {
    if (e >= 64 || (e > 0 && (sig >> <u64>(64 - e)) != 0)) big = true;
    else mag = sig << <u64>e;
  } else {
    const sh = -e;
    if (sh < 64) {
      mag = sig >> <u64>sh;
      rem = sig << <u64>(64 - sh);
    } else {
      rem = sig != 0 ? 1 : 0; // sig < 2^54: below one half
    }
    if (roundIncrement(rm, neg, mag & 1, rem)) mag++;
  }
  const maxPos: u64 = kind == KIND_I32 ? 0x7fffffff : kind == KIND_U32 ? 0xffffffff : kind == KIND_I64 ? 0x7fffffffffffffff : <u64>-1;
  const maxNeg: u64 = kind == KIND_I32 ? 0x80000000 : kind == KIND_I64 ? SIGN64 : 0;
  if (big || (neg ? mag > maxNeg : mag > maxPos)) {
    raiseFlags(FLAG_NV);
    return neg ? satNeg(kind) : satPos(kind);
  }
  if (rem != 0) raiseFlags(FLAG_NX);
  const v = neg ? 0 - mag : mag;
  return kind == KIND_U32 ? <u64><i64><i32><u32>v : v;
}

/** Finite x rounded to an integral value by rm (NaN stays NaN, +-inf stays inf). */
@inline function roundIntegral(x: f64, rm: u32): f64 {
  if (rm == RM_RNE) return nearest(x);
  if (rm == RM_RTZ) return trunc(x);
  if (rm == RM_RDN) return floor(x);
  if (rm == RM_RUP) return ceil(x);
  const t = trunc(x); // RMM: x - t is exact
  return abs(x - t) >= 0.5 ? t + copysign(1.0, x) : t;
}
/** r (integral or NaN/inf) fits the integer kind: NaN and inf fail every comparison or bound. */
@inline function fitsKind(r: f64, kind: i32): bool {
  if (kind == KIND_I64) return r >= -9223372036854775808.0 && r < 9223372036854775808.0;
  if (kind == KIND_U64) return r >= 0 && r < 18446744073709551616.0; // -0 (a negative value rounded to 0) fits
  if (kind == KIND_I32) return r >= -2147483648.0 && r <= 2147483647.0;
  return r >= 0 && r <= 4294967295.0;
}
@inline function intOfKind(r: f64, kind: i32): u64 {
  if (kind == KIND_U64) return <u64>r;
  if (kind == KIND_U32) return <u64><i64><i32><u32><i64>r;
  return <u64><i64>r;
}

/**
 * Float -> integer, x being the operand's exact binary64 value (`a` its bits, binary64 when `is64`).
 * Native path: x rounded to an integral f64 by rm (exact: nearest, trunc, floor, ceil), converted when
 * it fits the kind, NX when it differs from x. Out of range, inf and NaN take the soft path
 * (saturation, NV).
 */
@inline function floatToInt(x: f64, a: u64, is64: bool, rm: u32, kind: i32): u64 {
  const r = roundIntegral(x, rm);
  if (fitsKind(r, kind)) {
    raiseFlags(<u32>(r != x)); // FLAG_NX
    return intOfKind(r, kind);
  }
  return is64 ? f64ToIntSlow(a, rm, kind) : f32ToIntSlow(<u32>a, rm, kind);
}
@inline function f64ToInt(a: u64, rm: u32, kind: i32): u64 {
  return floatToInt(reinterpret<f64>(a), a, true, rm, kind);
}
@inline function f32ToInt(a: u32, rm: u32, kind: i32): u64 {
  return floatToInt(<f64>reinterpret<f32>(a), <u64>a, false, rm, kind);
}
function f64ToIntSlow(a: u64, rm: u32, kind: i32): u64 {
  const ef = <i32>((a >> 52) & 0x7ff);
  if (ef == 0x7ff) {
    raiseFlags(FLAG_NV);
    return (a & FRAC64) != 0 || (a & SIGN64) == 0 ? satPos(kind) : satNeg(kind);
  }
  return toInt((a & SIGN64) != 0, rawSig64(a), (ef == 0 ? 1 : ef) - 1075, rm, kind);
}
function f32ToIntSlow(a: u32, rm: u32, kind: i32): u64 {
  const ef = <i32>((a >> 23) & 0xff);
  if (ef == 0xff) {
    raiseFlags(FLAG_NV);
    return (a & FRAC32) != 0 || (a & SIGN32) == 0 ? satPos(kind) : satNeg(kind);
  }
  return toInt((a & SIGN32) != 0, <u64>rawSig32(a), (ef == 0 ? 1 : ef) - 150, rm, kind);
}

@inline export function f32_to_i32(a: u32, rm: u32): u64 { return f32ToInt(a, rm, KIND_I32); }
@inline export function f32_to_u32(a: u32, rm: u32): u64 { return f32ToInt(a, rm, KIND_U32); }
@inline export function f32_to_i64(a: u32, rm: u32): u64 { return f32ToInt(a, rm, KIND_I64); }
@inline export function f32_to_u64(a: u32, rm: u32): u64 { return f32ToInt(a, rm, KIND_U64); }
@inline export function f64_to_i32(a: u64, rm: u32): u64 { return f64ToInt(a, rm, KIND_I32); }
@inline export function f64_to_u32(a: u64, rm: u32): u64 { return f64ToInt(a, rm, KIND_U32); }
@inline export function f64_to_i64(a: u64, rm: u32): u64 { return f64ToInt(a, rm, KIND_I64); }
@inline export function f64_to_u64(a: u64, rm: u32): u64 { return f64ToInt(a, rm, KIND_U64); }

// ---------------------------------------------------------------------------------------------------
// Integer -> float (Unpriv §11.7): rounded by rm; only NX can be raised. 0 gives +0.
// The W forms use the low 32 bits of the source (signed or unsigned).

// Native fast paths: an integer of at most 24 (binary32) or 53 (binary64) significant bits converts
// exactly, so the native conversion is the result in every mode; larger ones round in pack32/pack64.
@inline export function i32_to_f32(a: u64, rm: u32): u32 {
  const v = <i32>a;
  if (<u32>(v + (1 << 24)) <= (1 << 25)) return reinterpret<u32>(<f32>v); // |v| <= 2^24
  const neg = v < 0;
  return pack32(neg ? SIGN32 : 0, 0, neg ? <u64>(0 - <i64>v) : <u64>v, rm);
}
@inline export function u32_to_f32(a: u64, rm: u32): u32 {
  const v = a & 0xffffffff;
  if (v <= (1 << 24)) return reinterpret<u32>(<f32>v);
  return pack32(0, 0, v, rm);
}
@inline export function i64_to_f32(a: u64, rm: u32): u32 {
  if (a + (1 << 24) <= (1 << 25)) return reinterpret<u32>(<f32><i64>a);
  const neg = <i64>a < 0;
  return pack32(neg ? SIGN32 : 0, 0, neg ? 0 - a : a, rm);
}
@inline export function u64_to_f32(a: u64, rm: u32): u32 {
  if (a <= (1 << 24)) return reinterpret<u32>(<f32>a);
  return pack32(0, 0, a, rm);
}
@inline export function i32_to_f64(a: u64, rm: u32): u64 {
  return reinterpret<u64>(<f64><i32>a); // always exact
}
@inline export function u32_to_f64(a: u64, rm: u32): u64 {
  return reinterpret<u64>(<f64><u32>a); // always exact
}
@inline export function i64_to_f64(a: u64, rm: u32): u64 {
  if (a + (<u64>1 << 53) <= (<u64>1 << 54)) return reinterpret<u64>(<f64><i64>a); // |a| <= 2^53
  const neg = <i64>a < 0;
  return pack64(neg ? SIGN64 : 0, 0, neg ? 0 - a : a, rm);
}
@inline export function u64_to_f64(a: u64, rm: u32): u64 {
  if (a <= (<u64>1 << 53)) return reinterpret<u64>(<f64>a);
  return pack64(0, 0, a, rm);
}

// ---------------------------------------------------------------------------------------------------
// binary16 (Zfh, Zfhmin): the same rounding at P = 11. fpu16.ts builds the operations on these two.
const P16: i32 = 11;
const QMIN16: i32 = -24;
const EXPMAX16: i32 = 31;
export const CANON16: u32 = 0x7e00;

/** Round (-1)^sign * m * 2^e to binary16 (m != 0, exact or jammed below bit 12), with flags. */
export function pack16(signBit: u32, e: i32, m: u64, rm: u32): u32 {
  return <u32>roundPack(<u64>signBit, e, m, rm, P16, QMIN16, EXPMAX16);
}

/** fcvt.h.d (Unpriv 23.?): one rounding of a binary64 value to binary16; NaN gives the canonical NaN. */
export function f64_to_f16(a: u64, rm: u32): u32 {
  const sign = <u32>(a >> 48) & 0x8000;
  if ((a & INF64) == INF64) {
    if (isNaN64(a)) {
      if (isSNaN64(a)) raiseFlags(FLAG_NV);
      return CANON16;
    }
    return sign | 0x7c00;
  }
  if (isZero64(a)) return sign;
  unpack64(a);
  return pack16(sign, uExp, uSig, rm);
}
