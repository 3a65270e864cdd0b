/** Arithmetic that WebAssembly lacks or defines differently (Unpriv 7.1, 7.2). Never traps. */

/** High 64 bits of the unsigned 128-bit product. */
export function mulhu(a: u64, b: u64): u64 {
  const aLo = a & 0xffffffff, aHi = a >> 32;
  const bLo = b & 0xffffffff, bHi = b >> 32;
  const ll = aLo * bLo;
  const lh = aLo * bHi;
  const hl = aHi * bLo;
  const hh = aHi * bHi;
  const mid = (ll >> 32) + (lh & 0xffffffff) + (hl & 0xffffffff);
  return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}
/** High 64 bits of the signed × signed product. */
export function mulh(a: u64, b: u64): u64 {
  let r = mulhu(a, b);
  if (<i64>a < 0) r -= b;
  if (<i64>b < 0) r -= a;
  return r;
}
/** High 64 bits of the signed × unsigned product. */
export function mulhsu(a: u64, b: u64): u64 {
  let r = mulhu(a, b);
  if (<i64>a < 0) r -= b;
  return r;
}
// Division by zero gives all ones (quotient) / the dividend (remainder); the one signed overflow
// (most negative / -1) gives the dividend / 0 (Unpriv table 7.1).
@inline export function div64(a: u64, b: u64): u64 {
  if (b == 0) return <u64>-1;
  if (a == 0x8000000000000000 && b == <u64>-1) return a;
  return <u64>(<i64>a / <i64>b);
}
@inline export function divu64(a: u64, b: u64): u64 {
  return b == 0 ? <u64>-1 : a / b;
}
@inline export function rem64(a: u64, b: u64): u64 {
  if (b == 0) return a;
  if (a == 0x8000000000000000 && b == <u64>-1) return 0;
  return <u64>(<i64>a % <i64>b);
}
@inline export function remu64(a: u64, b: u64): u64 {
  return b == 0 ? a : a % b;
}
@inline export function sext32(v: u32): u64 {
  return <u64><i64><i32>v;
}
@inline export function divw(a: u64, b: u64): u64 {
  const x = <i32>a, y = <i32>b;
  if (y == 0) return <u64>-1;
  if (x == i32.MIN_VALUE && y == -1) return sext32(<u32>x);
  return sext32(<u32>(x / y));
}
@inline export function divuw(a: u64, b: u64): u64 {
  const x = <u32>a, y = <u32>b;
  return y == 0 ? <u64>-1 : sext32(x / y);
}
@inline export function remw(a: u64, b: u64): u64 {
  const x = <i32>a, y = <i32>b;
  if (y == 0) return sext32(<u32>x);
  if (x == i32.MIN_VALUE && y == -1) return 0;
  return sext32(<u32>(x % y));
}
@inline export function remuw(a: u64, b: u64): u64 {
  const x = <u32>a, y = <u32>b;
  return y == 0 ? sext32(x) : sext32(x % y);
}
