/**
 * The JIT tier's F and D computation (issue 14; docs/JIT.md "FP in compiled code"). Compiled code
 * keeps guest x registers in wasm locals but never the f registers or fcsr. It does FP loads and
 * stores, and the common cases of the arithmetic, inline (src/jit/compiler.ts FP_INLINE); for the
 * rest it calls `jitFp`, which does exactly what the interpreter's case for the instruction does
 * (run.ts: the same fpu.ts operations, the same FS / rm legality test and FS = Dirty marking from
 * hart.ts), on the f registers and fcsr in memory. `jitFma` / `jitFma32` (below) give the inline
 * FMA paths fpu.ts's exact round-to-nearest-even fast paths.
 *
 *   jitFp(op, regs, rm, x) -> x result
 *     op    the semantic op id (generated/ops.ts)
 *     regs  rd | rs1 << 8 | rs2 << 16 | rs3 << 24 (the f registers the op names; an x operand
 *           comes in `x` and an x result goes out as the return value, so compiled code's register
 *           locals stay the truth for x registers)
 *     rm    the instruction's rm field (0 for rows without one)
 *     x     the x source of the conversions from x
 *
 * J_FPX says whether the instruction was illegal now (FS = Off, or rm = dyn with an invalid frm):
 * then it had no effect, and compiled code leaves to the interpreter before the instruction, which
 * raises the exception as it always does.
 *
 * This is a second dispatch over the F/D ops next to run()'s on purpose: run() keeps its inline
 * cases (a call per FP instruction there cost the interpreter 2-3 ns each, docs/JIT.md Stop 12),
 * and the bodies here are the same one-line calls into fpu.ts. test/jit (the differential tester
 * and the FP tests) compares the two on every F/D row.
 */
import { J_FPX, H_FCSR } from './layout';
import * as G from './generated/ops';
import { getF, setF, getF32, setF32, fpRmOf, fpDirty, fpAccrue } from './hart';
import {
  f32_add, f32_sub, f32_mul, f32_div, f32_sqrt, f32_fma, f32_min, f32_max, f32_eq, f32_lt, f32_le,
  f32_to_i32, f32_to_u32, f32_to_i64, f32_to_u64, i32_to_f32, u32_to_f32, i64_to_f32,
  u64_to_f32, f64_add, f64_sub, f64_mul, f64_div, f64_sqrt, f64_fma, f64_min, f64_max, f64_eq, f64_lt,
  f64_le, f64_to_i32, f64_to_u32, f64_to_i64, f64_to_u64, i32_to_f64, u32_to_f64,
  i64_to_f64, u64_to_f64, f64_to_f32, f32_to_f64, fmaFast64, fmaFast32,
} from './fpu';

export function jitFp(op: u32, regs: u32, rmField: u32, x: u64): u64 {
  const r = fpRmOf(rmField);
  store<u32>(J_FPX, r > 4 ? 1 : 0);
  if (r > 4) return 0;
  const rd = regs & 0xff, rs1 = (regs >> 8) & 0xff, rs2 = (regs >> 16) & 0xff, rs3 = regs >> 24;
  const f0 = load<u64>(H_FCSR);
  let v: u64 = 0;
  switch (op) {
    // single precision
    case G.OP_FADD_S: setF32(rd, f32_add(getF32(rs1), getF32(rs2), r)); break;
    case G.OP_FSUB_S: setF32(rd, f32_sub(getF32(rs1), getF32(rs2), r)); break;
    case G.OP_FMUL_S: setF32(rd, f32_mul(getF32(rs1), getF32(rs2), r)); break;
    case G.OP_FDIV_S: setF32(rd, f32_div(getF32(rs1), getF32(rs2), r)); break;
    case G.OP_FSQRT_S: setF32(rd, f32_sqrt(getF32(rs1), r)); break;
    case G.OP_FMADD_S: setF32(rd, f32_fma(getF32(rs1), getF32(rs2), getF32(rs3), false, false, r)); break;
    case G.OP_FMSUB_S: setF32(rd, f32_fma(getF32(rs1), getF32(rs2), getF32(rs3), false, true, r)); break;
    case G.OP_FNMSUB_S: setF32(rd, f32_fma(getF32(rs1), getF32(rs2), getF32(rs3), true, false, r)); break;
    case G.OP_FNMADD_S: setF32(rd, f32_fma(getF32(rs1), getF32(rs2), getF32(rs3), true, true, r)); break;
    case G.OP_FMIN_S: setF32(rd, f32_min(getF32(rs1), getF32(rs2))); break;
    case G.OP_FMAX_S: setF32(rd, f32_max(getF32(rs1), getF32(rs2))); break;
    case G.OP_FCVT_S_W: setF32(rd, i32_to_f32(x, r)); break;
    case G.OP_FCVT_S_WU: setF32(rd, u32_to_f32(x, r)); break;
    case G.OP_FCVT_S_L: setF32(rd, i64_to_f32(x, r)); break;
    case G.OP_FCVT_S_LU: setF32(rd, u64_to_f32(x, r)); break;
    // double precision
    case G.OP_FADD_D: setF(rd, f64_add(getF(rs1), getF(rs2), r)); break;
    case G.OP_FSUB_D: setF(rd, f64_sub(getF(rs1), getF(rs2), r)); break;
    case G.OP_FMUL_D: setF(rd, f64_mul(getF(rs1), getF(rs2), r)); break;
    case G.OP_FDIV_D: setF(rd, f64_div(getF(rs1), getF(rs2), r)); break;
    case G.OP_FSQRT_D: setF(rd, f64_sqrt(getF(rs1), r)); break;
    case G.OP_FMADD_D: setF(rd, f64_fma(getF(rs1), getF(rs2), getF(rs3), false, false, r)); break;
    case G.OP_FMSUB_D: setF(rd, f64_fma(getF(rs1), getF(rs2), getF(rs3), false, true, r)); break;
    case G.OP_FNMSUB_D: setF(rd, f64_fma(getF(rs1), getF(rs2), getF(rs3), true, false, r)); break;
    case G.OP_FNMADD_D: setF(rd, f64_fma(getF(rs1), getF(rs2), getF(rs3), true, true, r)); break;
    case G.OP_FMIN_D: setF(rd, f64_min(getF(rs1), getF(rs2))); break;
    case G.OP_FMAX_D: setF(rd, f64_max(getF(rs1), getF(rs2))); break;
    case G.OP_FCVT_D_W: setF(rd, i32_to_f64(x, r)); break;
    case G.OP_FCVT_D_WU: setF(rd, u32_to_f64(x, r)); break;
    case G.OP_FCVT_D_L: setF(rd, i64_to_f64(x, r)); break;
    case G.OP_FCVT_D_LU: setF(rd, u64_to_f64(x, r)); break;
    case G.OP_FCVT_S_D: setF32(rd, f64_to_f32(getF(rs1), r)); break;
    case G.OP_FCVT_D_S: setF(rd, f32_to_f64(getF32(rs1))); break;
    // x results: FS becomes Dirty only if fflags changed (fpAccrue)
    case G.OP_FCVT_W_S: v = f32_to_i32(getF32(rs1), r); fpAccrue(f0); return v;
    case G.OP_FCVT_WU_S: v = f32_to_u32(getF32(rs1), r); fpAccrue(f0); return v;
    case G.OP_FCVT_L_S: v = f32_to_i64(getF32(rs1), r); fpAccrue(f0); return v;
    case G.OP_FCVT_LU_S: v = f32_to_u64(getF32(rs1), r); fpAccrue(f0); return v;
    case G.OP_FEQ_S: v = <u64>f32_eq(getF32(rs1), getF32(rs2)); fpAccrue(f0); return v;
    case G.OP_FLT_S: v = <u64>f32_lt(getF32(rs1), getF32(rs2)); fpAccrue(f0); return v;
    case G.OP_FLE_S: v = <u64>f32_le(getF32(rs1), getF32(rs2)); fpAccrue(f0); return v;
    case G.OP_FCVT_W_D: v = f64_to_i32(getF(rs1), r); fpAccrue(f0); return v;
    case G.OP_FCVT_WU_D: v = f64_to_u32(getF(rs1), r); fpAccrue(f0); return v;
    case G.OP_FCVT_L_D: v = f64_to_i64(getF(rs1), r); fpAccrue(f0); return v;
    case G.OP_FCVT_LU_D: v = f64_to_u64(getF(rs1), r); fpAccrue(f0); return v;
    case G.OP_FEQ_D: v = <u64>f64_eq(getF(rs1), getF(rs2)); fpAccrue(f0); return v;
    case G.OP_FLT_D: v = <u64>f64_lt(getF(rs1), getF(rs2)); fpAccrue(f0); return v;
    case G.OP_FLE_D: v = <u64>f64_le(getF(rs1), getF(rs2)); fpAccrue(f0); return v;
    default:
      // Not an op compiled code sends here: sign injection, fclass and the moves it does in full
      // itself (src/jit/compiler.ts FP_INLINE, kind 'exact'). Leave it to the interpreter.
      store<u32>(J_FPX, 1);
      return 0;
  }
  // An f register was written: FS = Dirty.
  fpDirty();
  return 0;
}

/**
 * The double FMA's round-to-nearest-even fast path (fpu.ts fmaFast64: a*b + c with one rounding,
 * raising NX when inexact), for compiled code that has the operands (negated as f64_fma does) and
 * FS/rm checked already: the result, or 0 when the fast path cannot decide (nothing changed; then
 * compiled code calls jitFp).
 */
export function jitFma(a: u64, b: u64, c: u64): u64 {
  return fmaFast64(a, b, c);
}

/**
 * The single FMA's round-to-nearest-even fast path (fpu.ts fmaFast32), for compiled code that has
 * FS/rm checked and the binary32 operands (low 32 bits; negated as f32_fma does) NaN-boxed: the
 * result's bits, or 0xffffffff (never a result of that path) when it cannot decide and nothing
 * changed.
 */
export function jitFma32(a: u64, b: u64, c: u64): u64 {
  return <u64>fmaFast32(<u32>a, <u32>b, <u32>c, 0);
}
