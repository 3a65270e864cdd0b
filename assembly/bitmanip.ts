/**
 * Semantics of the bit-manipulation and conditional-zero instructions: Zba, Zbb, Zbc, Zbs
 * (Unpriv 20240411 ch. 28), Zbkb, Zbkc, Zbkx (scalar crypto, vol. I ch. 32) and Zicond (ch. 12).
 * Each case is headed by the spec's sentence. Pure functions of (a = x[rs1], b = x[rs2],
 * sh = the immediate's shift amount): the run loop reads the operands, calls bitOp and writes rd,
 * so these rows share one case there (run.ts "bit manipulation").
 */
import * as G from './generated/ops';

@inline function zext32(v: u64): u64 {
  return v & 0xffffffff;
}
@inline function sext32(v: u32): u64 {
  return <u64><i64><i32>v;
}

/** Carry-less product of a and b: the low 64 bits (hi = false) or the high 64 bits (hi = true). */
function clmulParts(a: u64, b: u64, hi: bool): u64 {
  let lo: u64 = 0, h: u64 = 0;
  for (let i: u64 = 0; i < 64; i++) {
    if (((b >> i) & 1) != 0) {
      lo ^= a << i;
      if (i != 0) h ^= a >> (64 - i);
    }
  }
  return hi ? h : lo;
}

/** Reverse the bits in each byte (brev8). */
function brev8(a: u64): u64 {
  let v = a;
  v = ((v >> 1) & 0x5555555555555555) | ((v & 0x5555555555555555) << 1);
  v = ((v >> 2) & 0x3333333333333333) | ((v & 0x3333333333333333) << 2);
  v = ((v >> 4) & 0x0f0f0f0f0f0f0f0f) | ((v & 0x0f0f0f0f0f0f0f0f) << 4);
  return v;
}

/** x[rd] for op (an op id of the rows above) given x[rs1] = a, x[rs2] = b, shamt/imm = sh. */
export function bitOp(op: u32, a: u64, b: u64, sh: u64): u64 {
  switch (op) {
    // ---- Zba
    // add.uw: "X(rd) = rs2 + zext32(rs1)"
    case G.OP_ADD_UW: return b + zext32(a);
    // shNadd: "X(rd) = X(rs2) + (X(rs1) << N)"
    case G.OP_SH1ADD: return b + (a << 1);
    case G.OP_SH2ADD: return b + (a << 2);
    case G.OP_SH3ADD: return b + (a << 3);
    // shNadd.uw: "X(rd) = X(rs2) + (zext32(X(rs1)) << N)"
    case G.OP_SH1ADD_UW: return b + (zext32(a) << 1);
    case G.OP_SH2ADD_UW: return b + (zext32(a) << 2);
    case G.OP_SH3ADD_UW: return b + (zext32(a) << 3);
    // slli.uw: "X(rd) = zext32(X(rs1)) << shamt" (6-bit shamt)
    case G.OP_SLLI_UW: return zext32(a) << (sh & 63);
    // ---- Zbb: logical with negate
    case G.OP_ANDN: return a & ~b;
    case G.OP_ORN: return a | ~b;
    case G.OP_XNOR: return ~(a ^ b);
    // clz/ctz: number of 0 bits before the first 1 from the top / bottom; 64 (32) for 0.
    case G.OP_CLZ: return clz<u64>(a);
    case G.OP_CTZ: return ctz<u64>(a);
    case G.OP_CPOP: return popcnt<u64>(a);
    // *w forms look at the low 32 bits only.
    case G.OP_CLZW: return <u64>clz<u32>(<u32>a);
    case G.OP_CTZW: return <u64>ctz<u32>(<u32>a);
    case G.OP_CPOPW: return <u64>popcnt<u32>(<u32>a);
    case G.OP_SEXT_B: return <u64><i64><i8>a;
    case G.OP_SEXT_H: return <u64><i64><i16>a;
    // zext.h: "X(rd) = zext(X(rs1)[15..0])"
    case G.OP_ZEXT_H: return a & 0xffff;
    case G.OP_MAX: return <i64>a < <i64>b ? b : a;
    case G.OP_MAXU: return a < b ? b : a;
    case G.OP_MIN: return <i64>a < <i64>b ? a : b;
    case G.OP_MINU: return a < b ? a : b;
    // Rotates: the shift amount is rs2[5:0] (rs2[4:0] for the *w forms, whose result is sign-extended).
    case G.OP_ROL: return rotl<u64>(a, b & 63);
    case G.OP_ROR: return rotr<u64>(a, b & 63);
    case G.OP_RORI: return rotr<u64>(a, sh & 63);
    case G.OP_ROLW: return sext32(rotl<u32>(<u32>a, <u32>b & 31));
    case G.OP_RORW: return sext32(rotr<u32>(<u32>a, <u32>b & 31));
    case G.OP_RORIW: return sext32(rotr<u32>(<u32>a, <u32>sh & 31));
    // orc.b: "each byte of rd is 0xff if that byte of rs1 is nonzero, else 0"
    case G.OP_ORC_B: {
      let v: u64 = 0;
      for (let i: u64 = 0; i < 64; i += 8) if (((a >> i) & 0xff) != 0) v |= (<u64>0xff) << i;
      return v;
    }
    // rev8: reverse the byte order
    case G.OP_REV8: return bswap<u64>(a);
    // ---- Zbc / Zbkc: carry-less multiply (clmulr: bits 2*XLEN-2..XLEN-1 of the product)
    case G.OP_CLMUL: return clmulParts(a, b, false);
    case G.OP_CLMULH: return clmulParts(a, b, true);
    case G.OP_CLMULR: return (clmulParts(a, b, true) << 1) | (clmulParts(a, b, false) >> 63);
    // ---- Zbs: the bit index is rs2[5:0] or shamt
    case G.OP_BCLR: return a & ~((<u64>1) << (b & 63));
    case G.OP_BCLRI: return a & ~((<u64>1) << (sh & 63));
    case G.OP_BEXT: return (a >> (b & 63)) & 1;
    case G.OP_BEXTI: return (a >> (sh & 63)) & 1;
    case G.OP_BINV: return a ^ ((<u64>1) << (b & 63));
    case G.OP_BINVI: return a ^ ((<u64>1) << (sh & 63));
    case G.OP_BSET: return a | ((<u64>1) << (b & 63));
    case G.OP_BSETI: return a | ((<u64>1) << (sh & 63));
    // ---- Zbkb: pack the low halves (pack), low bytes (packh), low 16-bit halves (packw, sign-extended)
    case G.OP_PACK: return zext32(a) | (b << 32);
    case G.OP_PACKH: return (a & 0xff) | ((b & 0xff) << 8);
    case G.OP_PACKW: return sext32(<u32>((a & 0xffff) | ((b & 0xffff) << 16)));
    case G.OP_BREV8: return brev8(a);
    // ---- Zbkx: crossbar permutation: each nibble (byte) of rs2 indexes a nibble (byte) of rs1;
    // an index out of range (>= 8 for bytes) gives 0.
    case G.OP_XPERM4: {
      let v: u64 = 0;
      for (let i: u64 = 0; i < 64; i += 4) {
        const idx = (b >> i) & 15;
        v |= ((a >> (idx << 2)) & 15) << i;
      }
      return v;
    }
    case G.OP_XPERM8: {
      let v: u64 = 0;
      for (let i: u64 = 0; i < 64; i += 8) {
        const idx = (b >> i) & 0xff;
        if (idx < 8) v |= ((a >> (idx << 3)) & 0xff) << i;
      }
      return v;
    }
    // ---- Zicond: "czero.eqz: rd = (rs2 == 0) ? 0 : rs1"; czero.nez: rd = (rs2 != 0) ? 0 : rs1
    case G.OP_CZERO_EQZ: return b == 0 ? 0 : a;
    case G.OP_CZERO_NEZ: return b != 0 ? 0 : a;
  }
  return 0;
}
