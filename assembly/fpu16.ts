/**
 * Half precision (Zfh, Zfhmin; Unpriv 20240411 ch. 22, 23): binary16 in every rounding mode with
 * exact flags, built on the binary64 soft-float of fpu.ts.
 *
 * Every binary16 value is exactly a binary64 value (widen16, NaN payloads and quietness kept, so
 * the binary64 operation still sees a signaling NaN). An operation is computed in binary64 with
 * rounding toward zero and then made *round-to-odd* (the last bit OR-ed with "inexact"); rounding
 * that to binary16 in the instruction's mode is then the correctly rounded result (53 >= 11 + 2:
 * Boldo & Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using
 * rounding to odd", 2008), with OF/UF/NX from that single final rounding and NV/DZ from the
 * binary64 operation. binary16 operands can neither overflow nor underflow in binary64. The sign
 * of an exact zero sum depends on the mode (IEEE 754 §6.3), so a zero sum is recomputed in RDN
 * when the instruction rounds down. Integer conversions round once (pack16); widenings are exact.
 */
import {
  f64_add, f64_sub, f64_mul, f64_div, f64_sqrt, f64_fma, f64_min, f64_max, f64_eq, f64_lt, f64_le,
  f64_to_f16, f64_to_f32, f32_to_f64, pack16, CANON16, CANON64, FLAG_NX, FLAG_NV, RM_RTZ, RM_RDN,
  f64_to_i32, f64_to_u32, f64_to_i64, f64_to_u64,
} from './fpu';
import { H_FCSR } from './layout';
import { getF, setF, getF32, setF32, setX, getX } from './hart';
import * as G from './generated/ops';

const BOX16: u64 = 0xffffffffffff0000;

/** A binary16 operand: NaN-boxed in the f register, else the canonical NaN (Unpriv 23.2). */
@inline export function getF16(r: u32): u32 {
  const v = getF(r);
  return (v & BOX16) == BOX16 ? <u32>(v & 0xffff) : CANON16;
}
@inline export function setF16(r: u32, v: u32): void {
  setF(r, BOX16 | <u64>v);
}

/** The binary64 bit pattern of binary16 h, exactly (NaNs keep quietness and payload). */
export function widen16(h: u32): u64 {
  const sign = <u64>(h & 0x8000) << 48;
  const ef = (h >> 10) & 0x1f;
  const f = <u64>(h & 0x3ff);
  if (ef == 0x1f) return sign | 0x7ff0000000000000 | (f << 42);
  if (ef != 0) return sign | (<u64>(ef + 1008) << 52) | (f << 42);
  if (f == 0) return sign;
  return sign | reinterpret<u64>(<f64>f * 5.9604644775390625e-8); // f * 2^-24, exact
}

// Round-to-odd wrappers: clear NX, run the binary64 operation in RTZ, fold its NX into the last bit.
let savedFcsr: u64 = 0;
@inline function oddBegin(): void {
  savedFcsr = load<u64>(H_FCSR);
  store<u64>(H_FCSR, savedFcsr & ~(<u64>FLAG_NX));
}
@inline function oddEnd(r: u64): u64 {
  const f = load<u64>(H_FCSR);
  store<u64>(H_FCSR, (f & ~(<u64>FLAG_NX)) | (savedFcsr & <u64>FLAG_NX));
  return (f & <u64>FLAG_NX) != 0 ? r | 1 : r;
}
@inline function isZero(r: u64): bool {
  return (r & 0x7fffffffffffffff) == 0;
}

export function f16_add(a: u32, b: u32, rm: u32, sub: bool): u32 {
  const A = widen16(a), B = widen16(b);
  oddBegin();
  let r = oddEnd(sub ? f64_sub(A, B, RM_RTZ) : f64_add(A, B, RM_RTZ));
  if (rm == RM_RDN && isZero(r)) r = sub ? f64_sub(A, B, RM_RDN) : f64_add(A, B, RM_RDN); // exact: no flags
  return f64_to_f16(r, rm);
}
export function f16_mul(a: u32, b: u32, rm: u32): u32 {
  oddBegin();
  return f64_to_f16(oddEnd(f64_mul(widen16(a), widen16(b), RM_RTZ)), rm);
}
export function f16_div(a: u32, b: u32, rm: u32): u32 {
  oddBegin();
  return f64_to_f16(oddEnd(f64_div(widen16(a), widen16(b), RM_RTZ)), rm);
}
export function f16_sqrt(a: u32, rm: u32): u32 {
  oddBegin();
  return f64_to_f16(oddEnd(f64_sqrt(widen16(a), RM_RTZ)), rm);
}
export function f16_fma(a: u32, b: u32, c: u32, negP: bool, negA: bool, rm: u32): u32 {
  const A = widen16(a), B = widen16(b), C = widen16(c);
  oddBegin();
  let r = oddEnd(f64_fma(A, B, C, negP, negA, RM_RTZ));
  if (rm == RM_RDN && isZero(r)) r = f64_fma(A, B, C, negP, negA, RM_RDN);
  return f64_to_f16(r, rm);
}
/** fmin/fmax: the binary64 rules (NaN handling, -0 < +0) on exact widenings; results are exact. */
@inline function narrowExact(r: u64): u32 {
  return f64_to_f16(r, 0);
}

/** fclass.h (Unpriv table 11.5 bits). */
export function f16_classify(h: u32): u32 {
  const neg = (h & 0x8000) != 0;
  const ef = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (ef == 0x1f) {
    if (f == 0) return neg ? 1 : 1 << 7;
    return (f & 0x200) != 0 ? 1 << 9 : 1 << 8;
  }
  if (ef == 0) {
    if (f == 0) return neg ? 1 << 3 : 1 << 4;
    return neg ? 1 << 2 : 1 << 5;
  }
  return neg ? 1 << 1 : 1 << 6;
}

/** Integer to binary16: one rounding (0 is +0). */
function int_to_f16(mag: u64, neg: bool, rm: u32): u32 {
  if (mag == 0) return 0;
  return pack16(neg ? 0x8000 : 0, 0, mag, rm);
}

/**
 * Execute the Zfh/Zfhmin op `op` (not flh/fsh) on registers rd, rs1, rs2, rs3 with rounding mode
 * rm (already checked). Returns true when it wrote an x register (the caller then marks FS Dirty
 * only if fflags changed), false when it wrote an f register.
 */
export function zfhOp(op: u32, rd: u32, rs1: u32, rs2: u32, rs3: u32, rm: u32): bool {
  switch (op) {
    case G.OP_FADD_H: setF16(rd, f16_add(getF16(rs1), getF16(rs2), rm, false)); return false;
    case G.OP_FSUB_H: setF16(rd, f16_add(getF16(rs1), getF16(rs2), rm, true)); return false;
    case G.OP_FMUL_H: setF16(rd, f16_mul(getF16(rs1), getF16(rs2), rm)); return false;
    case G.OP_FDIV_H: setF16(rd, f16_div(getF16(rs1), getF16(rs2), rm)); return false;
    case G.OP_FSQRT_H: setF16(rd, f16_sqrt(getF16(rs1), rm)); return false;
    // rs1×rs2 + rs3, rs1×rs2 − rs3, −(rs1×rs2) + rs3, −(rs1×rs2) − rs3
    case G.OP_FMADD_H: setF16(rd, f16_fma(getF16(rs1), getF16(rs2), getF16(rs3), false, false, rm)); return false;
    case G.OP_FMSUB_H: setF16(rd, f16_fma(getF16(rs1), getF16(rs2), getF16(rs3), false, true, rm)); return false;
    case G.OP_FNMSUB_H: setF16(rd, f16_fma(getF16(rs1), getF16(rs2), getF16(rs3), true, false, rm)); return false;
    case G.OP_FNMADD_H: setF16(rd, f16_fma(getF16(rs1), getF16(rs2), getF16(rs3), true, true, rm)); return false;
    // Sign injection: bits of the (unboxed) operands; no flags, NaNs kept as they are.
    case G.OP_FSGNJ_H: setF16(rd, (getF16(rs1) & 0x7fff) | (getF16(rs2) & 0x8000)); return false;
    case G.OP_FSGNJN_H: setF16(rd, (getF16(rs1) & 0x7fff) | (~getF16(rs2) & 0x8000)); return false;
    case G.OP_FSGNJX_H: setF16(rd, getF16(rs1) ^ (getF16(rs2) & 0x8000)); return false;
    case G.OP_FMIN_H: setF16(rd, narrowExact(f64_min(widen16(getF16(rs1)), widen16(getF16(rs2))))); return false;
    case G.OP_FMAX_H: setF16(rd, narrowExact(f64_max(widen16(getF16(rs1)), widen16(getF16(rs2))))); return false;
    case G.OP_FCVT_W_H: setX(rd, f64_to_i32(widen16(getF16(rs1)), rm)); return true;
    case G.OP_FCVT_WU_H: setX(rd, f64_to_u32(widen16(getF16(rs1)), rm)); return true;
    case G.OP_FCVT_L_H: setX(rd, f64_to_i64(widen16(getF16(rs1)), rm)); return true;
    case G.OP_FCVT_LU_H: setX(rd, f64_to_u64(widen16(getF16(rs1)), rm)); return true;
    // fmv.x.h: bits 15:0 of the f register, sign-extended (no NaN-box check).
    case G.OP_FMV_X_H: setX(rd, <u64><i64><i16>getF(rs1)); return true;
    case G.OP_FCLASS_H: setX(rd, <u64>f16_classify(getF16(rs1))); return true;
    case G.OP_FEQ_H: setX(rd, <u64>f64_eq(widen16(getF16(rs1)), widen16(getF16(rs2)))); return true;
    case G.OP_FLT_H: setX(rd, <u64>f64_lt(widen16(getF16(rs1)), widen16(getF16(rs2)))); return true;
    case G.OP_FLE_H: setX(rd, <u64>f64_le(widen16(getF16(rs1)), widen16(getF16(rs2)))); return true;
    case G.OP_FCVT_H_W: { const v = <i64><i32>getX(rs1); setF16(rd, int_to_f16(<u64>(v < 0 ? -v : v), v < 0, rm)); return false; }
    case G.OP_FCVT_H_WU: setF16(rd, int_to_f16(getX(rs1) & 0xffffffff, false, rm)); return false;
    case G.OP_FCVT_H_L: { const v = <i64>getX(rs1); setF16(rd, int_to_f16(v < 0 ? 0 - <u64>v : <u64>v, v < 0, rm)); return false; }
    case G.OP_FCVT_H_LU: setF16(rd, int_to_f16(getX(rs1), false, rm)); return false;
    case G.OP_FMV_H_X: setF16(rd, <u32>getX(rs1) & 0xffff); return false;
    // Between formats: widenings are exact (a signaling NaN raises NV and becomes canonical).
    case G.OP_FCVT_S_H: setF32(rd, f64_to_f32(widen16(getF16(rs1)), 0)); return false;
    case G.OP_FCVT_D_H: {
      const h = getF16(rs1);
      if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) {
        if ((h & 0x200) == 0) store<u64>(H_FCSR, load<u64>(H_FCSR) | <u64>FLAG_NV);
        setF(rd, CANON64);
      } else setF(rd, widen16(h));
      return false;
    }
    case G.OP_FCVT_H_S: setF16(rd, f64_to_f16(f32_to_f64(getF32(rs1)), rm)); return false;
    case G.OP_FCVT_H_D: setF16(rd, f64_to_f16(getF(rs1), rm)); return false;
  }
  return false;
}
