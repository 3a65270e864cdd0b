/**
 * Export shim for assembly/fpu.ts: thin wrappers the tests (test/fpu/) call through build/fpu-test.wasm,
 * plus two micro-benchmark loops. Not part of core.wasm's hot path.
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

// ---- micro-benchmarks (not tests) ------------------------------------------------------------------

/** Latency: n calls of f64_add(x, y, rm), each sum feeding the next call; returns the final x. */
export function bench_f64_add(n: i32, rm: u32): u64 {
  let x: u64 = reinterpret<u64>(1.0);
  let y: f64 = 1.0e-3;
  for (let i = 0; i < n; i++) {
    x = F.f64_add(x, reinterpret<u64>(y), rm);
    y = y * -1.0000001;
  }
  return x ^ <u64>flags();
}

/** The same dependent loop with the native wasm f64.add. */
export function bench_native_add(n: i32): u64 {
  let x: f64 = 1.0;
  let y: f64 = 1.0e-3;
  for (let i = 0; i < n; i++) {
    x = x + y;
    y = y * -1.0000001;
  }
  return reinterpret<u64>(x);
}

// Throughput: independent operations on fresh operands from a xorshift state (significands random,
// exponents in [-8, 7]); the generator costs the same in the native and the library loop. No static
// data here, so this shim can be re-exported from index.ts without touching the memory layout.

/** op: 0 add, 1 mul, 2 div, 3 sqrt, 4 fma, 5 f32 add, 6 f32 mul. native != 0: the wasm instruction. */
export function bench_stream(n: i32, op: u32, rm: u32, native: u32): u64 {
  let s: u64 = 0x9e3779b97f4a7c15;
  let acc: u64 = 0;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    const a = (s & 0x000fffffffffffff) | ((1015 + (s >> 60)) << 52);
    const b = ((s >> 9) & 0x000fffffffffffff) | ((1015 + ((s >> 56) & 15)) << 52);
    const c = ((s << 11) & 0x000fffffffffffff) | ((1015 + ((s >> 52) & 15)) << 52);
    let r: u64;
    if (native != 0) {
      const x = reinterpret<f64>(a), y = reinterpret<f64>(b);
      if (op == 0) r = reinterpret<u64>(x + y);
      else if (op == 1) r = reinterpret<u64>(x * y);
      else if (op == 2) r = reinterpret<u64>(x / y);
      else if (op == 3) r = reinterpret<u64>(sqrt<f64>(x));
      else if (op == 4) r = reinterpret<u64>(x * y + reinterpret<f64>(c)); // unfused: a reference only
      else if (op == 5) r = <u64>reinterpret<u32>(reinterpret<f32>(<u32>(a >> 32)) + reinterpret<f32>(<u32>(b >> 32)));
      else r = <u64>reinterpret<u32>(reinterpret<f32>(<u32>(a >> 32)) * reinterpret<f32>(<u32>(b >> 32)));
    } else {
      if (op == 0) r = F.f64_add(a, b, rm);
      else if (op == 1) r = F.f64_mul(a, b, rm);
      else if (op == 2) r = F.f64_div(a, b, rm);
      else if (op == 3) r = F.f64_sqrt(a, rm);
      else if (op == 4) r = F.f64_fma(a, b, c, false, false, rm);
      else if (op == 5) r = <u64>F.f32_add(<u32>(a >> 32), <u32>(b >> 32), rm);
      else r = <u64>F.f32_mul(<u32>(a >> 32), <u32>(b >> 32), rm);
    }
    acc += r;
  }
  return acc ^ <u64>flags();
}
