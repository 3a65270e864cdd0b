/**
 * Export shim for assembly/fpu.ts: thin wrappers the tests (test/fpu/) call through build/fpu-test.wasm.
 * Not part of core.wasm.
 *   npx asc assembly/fpu-test.ts --outFile build/fpu-test.wasm -O3 --runtime stub --noAssert --use abort= \
 *     --memoryBase 65536 --initialMemory 2
 */
import * as F from './fpu';
import { H_FCSR } from './layout';

/** The flags the last operations raised (fpu.ts ORs them into fcsr.fflags). */
@inline function flags(): u32 { return <u32>load<u64>(H_FCSR) & 0x1f; }

export function t_flags(): u32 { return flags(); }
export function t_clear(): void { store<u64>(H_FCSR, 0); }

export function t_f32_add(a: u32, b: u32, rm: u32): u32 { return F.f32_add(a, b, rm); }
export function t_f32_sub(a: u32, b: u32, rm: u32): u32 { return F.f32_sub(a, b, rm); }
export function t_f32_mul(a: u32, b: u32, rm: u32): u32 { return F.f32_mul(a, b, rm); }
export function t_f32_div(a: u32, b: u32, rm: u32): u32 { return F.f32_div(a, b, rm); }
export function t_f64_add(a: u64, b: u64, rm: u32): u64 { return F.f64_add(a, b, rm); }
export function t_f64_sub(a: u64, b: u64, rm: u32): u64 { return F.f64_sub(a, b, rm); }
export function t_f64_mul(a: u64, b: u64, rm: u32): u64 { return F.f64_mul(a, b, rm); }
export function t_f64_div(a: u64, b: u64, rm: u32): u64 { return F.f64_div(a, b, rm); }
export function t_f32_sqrt(a: u32, rm: u32): u32 { return F.f32_sqrt(a, rm); }
export function t_f64_sqrt(a: u64, rm: u32): u64 { return F.f64_sqrt(a, rm); }
export function t_f32_fma(a: u32, b: u32, c: u32, negProduct: u32, negAddend: u32, rm: u32): u32 {
  return F.f32_fma(a, b, c, negProduct != 0, negAddend != 0, rm);
}
export function t_f64_fma(a: u64, b: u64, c: u64, negProduct: u32, negAddend: u32, rm: u32): u64 {
  return F.f64_fma(a, b, c, negProduct != 0, negAddend != 0, rm);
}
export function t_f32_min(a: u32, b: u32): u32 { return F.f32_min(a, b); }
export function t_f32_max(a: u32, b: u32): u32 { return F.f32_max(a, b); }
export function t_f64_min(a: u64, b: u64): u64 { return F.f64_min(a, b); }
export function t_f64_max(a: u64, b: u64): u64 { return F.f64_max(a, b); }
export function t_f32_eq(a: u32, b: u32): u32 { return F.f32_eq(a, b); }
export function t_f32_lt(a: u32, b: u32): u32 { return F.f32_lt(a, b); }
export function t_f32_le(a: u32, b: u32): u32 { return F.f32_le(a, b); }
export function t_f64_eq(a: u64, b: u64): u32 { return F.f64_eq(a, b); }
export function t_f64_lt(a: u64, b: u64): u32 { return F.f64_lt(a, b); }
export function t_f64_le(a: u64, b: u64): u32 { return F.f64_le(a, b); }
export function t_f32_classify(a: u32): u32 { return F.f32_classify(a); }
export function t_f64_classify(a: u64): u32 { return F.f64_classify(a); }
export function t_f32_to_f64(a: u32): u64 { return F.f32_to_f64(a); }
export function t_f64_to_f32(a: u64, rm: u32): u32 { return F.f64_to_f32(a, rm); }
export function t_f32_to_i32(a: u32, rm: u32): u64 { return F.f32_to_i32(a, rm); }
export function t_f32_to_u32(a: u32, rm: u32): u64 { return F.f32_to_u32(a, rm); }
export function t_f32_to_i64(a: u32, rm: u32): u64 { return F.f32_to_i64(a, rm); }
export function t_f32_to_u64(a: u32, rm: u32): u64 { return F.f32_to_u64(a, rm); }
export function t_f64_to_i32(a: u64, rm: u32): u64 { return F.f64_to_i32(a, rm); }
export function t_f64_to_u32(a: u64, rm: u32): u64 { return F.f64_to_u32(a, rm); }
export function t_f64_to_i64(a: u64, rm: u32): u64 { return F.f64_to_i64(a, rm); }
export function t_f64_to_u64(a: u64, rm: u32): u64 { return F.f64_to_u64(a, rm); }
export function t_i32_to_f32(a: u64, rm: u32): u32 { return F.i32_to_f32(a, rm); }
export function t_u32_to_f32(a: u64, rm: u32): u32 { return F.u32_to_f32(a, rm); }
export function t_i64_to_f32(a: u64, rm: u32): u32 { return F.i64_to_f32(a, rm); }
export function t_u64_to_f32(a: u64, rm: u32): u32 { return F.u64_to_f32(a, rm); }
export function t_i32_to_f64(a: u64, rm: u32): u64 { return F.i32_to_f64(a, rm); }
export function t_u32_to_f64(a: u64, rm: u32): u64 { return F.u32_to_f64(a, rm); }
export function t_i64_to_f64(a: u64, rm: u32): u64 { return F.i64_to_f64(a, rm); }
export function t_u64_to_f64(a: u64, rm: u32): u64 { return F.u64_to_f64(a, rm); }
