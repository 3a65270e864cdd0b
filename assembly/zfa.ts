/**
 * Zfa: additional floating-point instructions (Unpriv 20240411 ch. 24 "Zfa", version 1.0) for
 * single, double and (with Zfh) half precision. fmvh.x.d / fmvp.d.x are RV32-only and absent.
 *
 * Every operand is widened exactly to binary64 (half: fpu16.ts widen16; single: below, NaNs keep
 * their quiet bit), the operation is exact in binary64 (constants, min/max, rounding to an
 * integer, comparisons), and a result is narrowed back exactly — so no rounding happens here
 * except the round-to-integer itself, which the wasm f64 instructions (nearest, trunc, floor,
 * ceil) do exactly.
 */
import { f64_min, f64_max, CANON32, CANON64, FLAG_NV, FLAG_NX, RM_RNE, RM_RTZ, RM_RDN, RM_RUP } from './fpu';
import { widen16, getF16, setF16 } from './fpu16';
import { H_FCSR } from './layout';
import { getF, setF, getF32, setF32, setX } from './hart';
import { extOn } from './isaext';
import * as G from './generated/ops';

const CANON16: u32 = 0x7e00;
const ABS64: u64 = 0x7fffffffffffffff;
const INF64: u64 = 0x7ff0000000000000;
const QUIET64: u64 = 0x0008000000000000;

/** The 32 constants of fli.fmt (Zfa table "Immediate values loaded by the FLI.S instruction"). */
const FLI_S = memory.data<u32>([
  0xbf800000, 0x00800000, 0x37800000, 0x38000000, 0x3b800000, 0x3c000000, 0x3d800000, 0x3e000000,
  0x3e800000, 0x3ea00000, 0x3ec00000, 0x3ee00000, 0x3f000000, 0x3f200000, 0x3f400000, 0x3f600000,
  0x3f800000, 0x3fa00000, 0x3fc00000, 0x3fe00000, 0x40000000, 0x40200000, 0x40400000, 0x40800000,
  0x41000000, 0x41800000, 0x43000000, 0x43800000, 0x47000000, 0x47800000, 0x7f800000, 0x7fc00000,
]);
const FLI_D = memory.data<u64>([
  0xbff0000000000000, 0x0010000000000000, 0x3ef0000000000000, 0x3f00000000000000,
  0x3f70000000000000, 0x3f80000000000000, 0x3fb0000000000000, 0x3fc0000000000000,
  0x3fd0000000000000, 0x3fd4000000000000, 0x3fd8000000000000, 0x3fdc000000000000,
  0x3fe0000000000000, 0x3fe4000000000000, 0x3fe8000000000000, 0x3fec000000000000,
  0x3ff0000000000000, 0x3ff4000000000000, 0x3ff8000000000000, 0x3ffc000000000000,
  0x4000000000000000, 0x4004000000000000, 0x4008000000000000, 0x4010000000000000,
  0x4020000000000000, 0x4030000000000000, 0x4060000000000000, 0x4070000000000000,
  0x40e0000000000000, 0x40f0000000000000, 0x7ff0000000000000, 0x7ff8000000000000,
]);
// Half: entry 1 is binary16's minimum normal; 2^-16 and 2^-15 are subnormal; 2^16 is not
// representable, so entry 29 is +infinity, like entry 30 (Zfa "FLI.H").
const FLI_H = memory.data<u16>([
  0xbc00, 0x0400, 0x0100, 0x0200, 0x1c00, 0x2000, 0x2c00, 0x3000, 0x3400, 0x3500, 0x3600, 0x3700,
  0x3800, 0x3900, 0x3a00, 0x3b00, 0x3c00, 0x3d00, 0x3e00, 0x3f00, 0x4000, 0x4100, 0x4200, 0x4400,
  0x4800, 0x4c00, 0x5800, 0x5c00, 0x7800, 0x7c00, 0x7c00, 0x7e00,
]);

/** Zfa op ran and wrote an f register / an x register; or it is illegal (an H row without Zfh). */
export const ZFA_WROTE_F: u32 = 0;
export const ZFA_WROTE_X: u32 = 1;
export const ZFA_ILLEGAL: u32 = 2;

@inline function flags(f: u32): void {
  store<u64>(H_FCSR, load<u64>(H_FCSR) | <u64>f);
}
@inline function isNaN(a: u64): bool { return (a & ABS64) > INF64; }
@inline function isSNaN(a: u64): bool { return isNaN(a) && (a & QUIET64) == 0; }

/** binary32 to binary64 bits, exactly (a NaN keeps its quiet bit and payload). */
function widen32(a: u32): u64 {
  if ((a & 0x7f800000) == 0x7f800000) return (<u64>(a & 0x80000000) << 32) | INF64 | (<u64>(a & 0x7fffff) << 29);
  return reinterpret<u64>(<f64>reinterpret<f32>(a)); // exact: every binary32 is a binary64
}

/** Operand `r` of format fmt (0 S, 1 D, 2 H) as exact binary64 bits (unboxed S/H = canonical NaN). */
function operand(fmt: u32, r: u32): u64 {
  if (fmt == 1) return getF(r);
  if (fmt == 0) return widen32(getF32(r));
  return widen16(getF16(r));
}

/** Write a value of format fmt that is exactly representable in it (or NaN: the canonical NaN). */
function result(fmt: u32, rd: u32, v: u64): void {
  const nan = isNaN(v);
  if (fmt == 1) { setF(rd, nan ? CANON64 : v); return; }
  if (fmt == 0) { setF32(rd, nan ? CANON32 : reinterpret<u32>(<f32>reinterpret<f64>(v))); return; }
  setF16(rd, nan ? CANON16 : narrow16(v));
}

/** binary64 bits of a binary16-representable value to binary16 bits (exact, no flags). */
function narrow16(v: u64): u32 {
  const sign = <u32>(v >> 48) & 0x8000;
  const a = v & ABS64;
  if (a == 0) return sign;
  if (a == INF64) return sign | 0x7c00;
  const e = <i32>(a >> 52) - 1023;
  if (e >= -14) return sign | (<u32>(e + 15) << 10) | <u32>((a >> 42) & 0x3ff);
  return sign | <u32>(reinterpret<f64>(a) * 16777216.0); // subnormal: value / 2^-24, exact
}

/**
 * fround / froundnx (IEEE 754-2019 roundToIntegral / roundToIntegralExact): x rounded to an
 * integer in mode rm. Zero and infinities are returned unchanged; NaN is handled by the caller.
 */
function roundInt(x: f64, rm: u32): f64 {
  if (rm == RM_RNE) return nearest(x);
  if (rm == RM_RTZ) return trunc(x);
  if (rm == RM_RDN) return floor(x);
  if (rm == RM_RUP) return ceil(x);
  // RMM: ties away from zero. x - trunc(x) is exact (|x| < 2^52 when it has a fraction).
  const t = trunc(x);
  return abs(x - t) >= 0.5 ? t + (x < 0 ? -1.0 : 1.0) : t;
}

/**
 * fcvtmod.w.d: rs1 truncated toward zero, bits 31:0 of the unbounded two's-complement integer,
 * sign-extended; ±∞ and NaN give 0. Flags as fcvt.w.d would raise them: NV for NaN, ∞ or a value
 * outside [-2^31, 2^31 - 1] after truncation, else NX when the truncation was inexact.
 */
function fcvtmod(a: u64): u64 {
  if ((a & ABS64) >= INF64) { flags(FLAG_NV); return 0; }
  const x = reinterpret<f64>(a);
  const t = trunc(x);
  if (t < -2147483648.0 || t > 2147483647.0) flags(FLAG_NV);
  else if (t != x) flags(FLAG_NX);
  // The low 32 bits of |t|: |t| = m × 2^(e - 52) with the 53-bit significand m.
  const ae = <i32>((a >> 52) & 0x7ff);
  if (ae < 1023) return 0; // |x| < 1
  const sh = ae - 1075; // e - 52
  const m = (a & 0xfffffffffffff) | 0x10000000000000;
  let low: u32 = sh >= 32 ? 0 : sh >= 0 ? <u32>(m << <u64>sh) : <u32>(m >> <u64>(-sh));
  if ((a >> 63) != 0) low = 0 - low;
  return <u64><i64><i32>low;
}

/** Execute Zfa op `op` (rm already checked: 0..4). */
export function zfaOp(op: u32, rd: u32, rs1: u32, rs2: u32, rm: u32): u32 {
  // fmt of the row: the op ids come in S, D, H order per mnemonic family.
  let fmt: u32 = 0;
  switch (op) {
    case G.OP_FLI_D: case G.OP_FMINM_D: case G.OP_FMAXM_D: case G.OP_FROUND_D: case G.OP_FROUNDNX_D:
    case G.OP_FLEQ_D: case G.OP_FLTQ_D: case G.OP_FCVTMOD_W_D:
      fmt = 1; break;
    case G.OP_FLI_H: case G.OP_FMINM_H: case G.OP_FMAXM_H: case G.OP_FROUND_H: case G.OP_FROUNDNX_H:
    case G.OP_FLEQ_H: case G.OP_FLTQ_H:
      // Zfa's H instructions exist only "if the Zfh extension is implemented".
      if ((extOn & G.EXT_ZFH) == 0) return ZFA_ILLEGAL;
      fmt = 2; break;
  }
  switch (op) {
    case G.OP_FLI_S: setF32(rd, load<u32>(FLI_S + ((rs1 & 31) << 2))); return ZFA_WROTE_F;
    case G.OP_FLI_D: setF(rd, load<u64>(FLI_D + ((rs1 & 31) << 3))); return ZFA_WROTE_F;
    case G.OP_FLI_H: setF16(rd, <u32>load<u16>(FLI_H + ((rs1 & 31) << 1))); return ZFA_WROTE_F;
    // fminm / fmaxm: fmin / fmax, except that a NaN operand makes the result the canonical NaN
    // (a signaling NaN still raises NV).
    case G.OP_FMINM_S: case G.OP_FMINM_D: case G.OP_FMINM_H:
    case G.OP_FMAXM_S: case G.OP_FMAXM_D: case G.OP_FMAXM_H: {
      const a = operand(fmt, rs1), b = operand(fmt, rs2);
      const isMin = op == G.OP_FMINM_S || op == G.OP_FMINM_D || op == G.OP_FMINM_H;
      if (isNaN(a) || isNaN(b)) {
        if (isSNaN(a) || isSNaN(b)) flags(FLAG_NV);
        result(fmt, rd, CANON64);
      } else result(fmt, rd, isMin ? f64_min(a, b) : f64_max(a, b));
      return ZFA_WROTE_F;
    }
    // fround / froundnx: NaN -> canonical NaN (NV if signaling); 0 and ±∞ unchanged; froundnx
    // also raises NX when the result differs from the input.
    case G.OP_FROUND_S: case G.OP_FROUND_D: case G.OP_FROUND_H:
    case G.OP_FROUNDNX_S: case G.OP_FROUNDNX_D: case G.OP_FROUNDNX_H: {
      const a = operand(fmt, rs1);
      if (isNaN(a)) {
        if (isSNaN(a)) flags(FLAG_NV);
        result(fmt, rd, CANON64);
        return ZFA_WROTE_F;
      }
      const x = reinterpret<f64>(a);
      const r = roundInt(x, rm);
      if (r != x && (op == G.OP_FROUNDNX_S || op == G.OP_FROUNDNX_D || op == G.OP_FROUNDNX_H)) flags(FLAG_NX);
      result(fmt, rd, reinterpret<u64>(r));
      return ZFA_WROTE_F;
    }
    case G.OP_FCVTMOD_W_D: setX(rd, fcvtmod(getF(rs1))); return ZFA_WROTE_X;
    // fleq / fltq: fle / flt, but quiet: NV only for a signaling NaN operand; a NaN gives 0.
    case G.OP_FLEQ_S: case G.OP_FLEQ_D: case G.OP_FLEQ_H:
    case G.OP_FLTQ_S: case G.OP_FLTQ_D: case G.OP_FLTQ_H: {
      const a = operand(fmt, rs1), b = operand(fmt, rs2);
      if (isNaN(a) || isNaN(b)) {
        if (isSNaN(a) || isSNaN(b)) flags(FLAG_NV);
        setX(rd, 0);
        return ZFA_WROTE_X;
      }
      const x = reinterpret<f64>(a), y = reinterpret<f64>(b); // not NaN: native compare, -0 == +0
      const le = op == G.OP_FLEQ_S || op == G.OP_FLEQ_D || op == G.OP_FLEQ_H;
      setX(rd, (le ? x <= y : x < y) ? 1 : 0);
      return ZFA_WROTE_X;
    }
  }
  return ZFA_ILLEGAL;
}
