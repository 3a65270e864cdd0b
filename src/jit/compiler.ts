/**
 * The block compiler of the JIT tier (issue 14; docs/JIT.md). Input: a decoded slot of the core
 * (a frame = one physical page of code) where hot code starts. Output: the body of one wasm
 * function of type (pc i64, cycles i64, left i64, deadline i64, tlbRead i32, tlbWrite i32) -> i32
 * that executes, from that slot on, exactly what the interpreter's inner loop (assembly/run.ts)
 * would, and returns:
 *   status 0: go on in the inner loop at J_PC, an instruction the block leaves to the
 *             interpreter (the end of the block, or a host-TLB miss: every slow path is the
 *             interpreter's own); the run loop looks for compiled code again after it;
 *   status 2: go on in the inner loop at J_PC, which may start a compiled block of another module
 *             (a taken in-page transfer to a page offset this function has no block for);
 *   status 1: leave the inner loop (a jump out of the page, or the deadline reached at a taken
 *             branch): where the interpreter would break to the block boundary.
 * J_PC, J_CYCLES and J_LEFT (layout.ts) hold pc, cycles and the instruction budget afterwards;
 * per-class counts are added in memory. A block never bakes in the virtual pc: the pc comes in
 * as a parameter and every pc-relative value is the parameter plus a page-offset difference, so
 * one compiled physical page serves every virtual alias of it.
 *
 * Counting: the block's instructions are charged at each exit for the prefix that retired
 * (their slots' latencies and classes, the taken-branch extra), so counts are exact at any stop.
 * The block runs only with `left` >= its length (else it declines and the interpreter steps), so
 * the instruction limit is exact; the deadline is compared where the interpreter compares it
 * (taken in-page branches and jumps). A taken branch back to the block's own start loops inside
 * the function while the deadline and the budget allow.
 */
import * as L from '../generated/layout.js';
import { SEMANTIC_OPS } from '../isa/table.js';
import { Code, Op, FC, I32, I64, F64, VOID } from './wasm.js';
import { EMITTERS, helperIndex, type Emitter } from './emitters.js';

/** Type index of the block functions' type (= the function table's): jit.ts puts ENTRY_TYPE first. */
export const BLOCK_TYPE = 0;
/** Longest block, in instructions. */
export const MAX_BLOCK = 96;
const TLB_MASK = L.TLB_ENTRIES - 1;

export interface Insn {
  op: string;
  id: number; // the op id (S_OP)
  em: Emitter;
  rd: number;
  rs1: number;
  rs2: number;
  imm: number;
  len: number;
  cls: number; // S_CLS byte: class id + 1
  lat: number;
  off: number; // page offset
}

/** The block-map entry (layout.ts JMAP_BASE, a u16) of decoded slot `slot`. */
export function mapAt(slot: number): number {
  return L.JMAP_BASE + ((slot - L.FRAME_BASE) >>> 3);
}

/** Read the straight-line run of compilable instructions starting at `slot`. */
export function scanBlock(dv: DataView, slot: number, decode: (slot: number) => number): Insn[] {
  const out: Insn[] = [];
  const rel = slot - L.FRAME_BASE;
  let off = ((rel % L.FRAME_SIZE) >> 4) << 1;
  let s = slot;
  while (out.length < MAX_BLOCK && off < 4096) {
    const id = decode(s);
    if (id === 0) break;
    const op = SEMANTIC_OPS[id];
    const em = op === undefined ? undefined : EMITTERS[op];
    if (!em) break;
    const insn: Insn = {
      op, em, id,
      rd: dv.getUint8(s + L.S_RD),
      rs1: dv.getUint8(s + L.S_RS1),
      rs2: dv.getUint8(s + L.S_RS2),
      imm: dv.getInt32(s + L.S_IMM, true),
      len: dv.getUint8(s + L.S_LEN),
      cls: dv.getUint8(s + L.S_CLS),
      lat: dv.getUint8(s + L.S_LAT),
      off,
    };
    out.push(insn);
    if (em.k === 'jal' || em.k === 'jalr') break;
    off += insn.len;
    s += insn.len << 3;
  }
  return out;
}

/**
 * Page offsets where execution may enter next from this block without a block boundary: in-page
 * targets of its branches and jumps, the return site after a jal (a call's return lands there
 * through a jalr), and the fall-through of a block cut at MAX_BLOCK. The compiler builds these
 * too (the region of the page reachable from a hot start), so a page is rebuilt rarely.
 */
export function successors(insns: Insn[]): number[] {
  const out: number[] = [];
  for (const i of insns) {
    if (i.em.k === 'br' || i.em.k === 'jal') out.push(i.off + i.imm);
    if (i.em.k === 'jal' && i.rd !== 0 && i.rd !== 32) out.push(i.off + i.len);
  }
  const last = insns[insns.length - 1];
  if (insns.length === MAX_BLOCK && last.em.k !== 'jal' && last.em.k !== 'jalr') out.push(last.off + last.len);
  return out.filter((t) => t >= 0 && t < 4096);
}

/** Environment knobs (docs/JIT.md "Knobs"); none in a browser. */
export const ENV: Record<string, string | undefined> = typeof process !== 'undefined' ? process.env : {};

/** The counter of taken branches, as an S_CLS-style index (class id + 1). */
const TAKEN = L.TIMING_CLASS_BRANCH_TAKEN + 1;

export interface CompileEnv {
  /** Cycles a taken conditional branch costs beyond its class latency (run.ts takenExtra). */
  takenExtra: bigint;
}

export interface FuncCode {
  body: Code;
  locals: [number, number][];
}

/** Registers instruction `i` reads and writes (x0 and the rd sink x32 excluded). */
function regsOf(i: Insn, read: Set<number>, written: Set<number>): void {
  const k = i.em.k;
  if (i.em.k === 'fp') {
    // Only x operands: an address base, the source of a move or conversion from x, an x result.
    if ((i.em.mem || i.em.xr) && i.rs1 !== 0) read.add(i.rs1);
    if (i.em.xw && i.rd !== 32 && i.rd !== 0) written.add(i.rd);
    return;
  }
  if (k !== 'lui' && k !== 'auipc' && k !== 'jal' && k !== 'nop' && i.rs1 !== 0) read.add(i.rs1);
  if ((k === 'rr' || k === 'rr32' || k === 'call' || k === 'store' || k === 'br' || k === 'bit' || k === 'amo' || k === 'sc') && i.rs2 !== 0) read.add(i.rs2);
  if (k !== 'store' && k !== 'br' && k !== 'nop' && i.rd !== 32 && i.rd !== 0) written.add(i.rd);
}

// Every function of a module has the table's type: params 0..5 (pc, cycles, left, deadline,
// tlbRead, tlbWrite) -> status. Then locals: pv (i64: the page base), t0 (i64), epc (i64: the pc
// an exit leaves at), it (i64: iterations of a block's loop to itself), a (i32), est (i32: the
// exit's status), ex (i32: the exit's counter
// byte offset), then the block's register cache.
const PC = 0, P_CYC = 1, P_LEFT = 2, P_DL = 3, P_TR = 4, P_TW = 5, PV = 6, T0 = 7, EPC = 8, IT = 9, A = 10, EST = 11, EX = 12, FT = 13, R0 = 14;
const LOCALS: [number, number][] = [[4, I64], [3, I32], [1, F64]];
/** Global 0 of every module: the byte address of its instance's exit counters (jit.ts ExitCounters). */
const G_CB = 0;

/**
 * Class counts of one exit counter: [S_CLS-style class index, count] pairs. Compiled code counts
 * how often each exit of a block is taken (one u64 per exit, plus one per block that loops to
 * itself, incremented by its iterations); the host folds counter × vector into the core's class
 * counters when they are read (jit.ts foldCounts), so the per-class stores stay out of the code.
 */
export type ClassVector = Array<[number, number]>;

/** A compiled page: one function per block, and the class vector of each exit counter of its module (appended to `counters`). */
export interface PageCode {
  funcs: FuncCode[];
  counters: ClassVector[];
}

/**
 * Emit the module's functions for `blocks` (each non-empty, all in one page): one function per
 * block (small functions keep V8's register allocation good; one function for a whole page spilled
 * most values to the stack), chained by tail calls (a transfer within the page never returns to
 * the run loop when the target block is in this module).
 */
export function compilePage(blocks: Insn[][], env: CompileEnv, first: number, counters: ClassVector[] = []): PageCode {
  // Page offset of each block start -> its function index in the module (`first` is block 0's).
  const headIndex = new Map<number, number>();
  blocks.forEach((b, i) => headIndex.set(b[0].off, first + i));
  const funcs = blocks.map((insns, i) => compileBlock(insns, first + i, headIndex, env, counters));
  return { funcs, counters };
}

/** `i64.const (~0xfff | am)`: the host-TLB tag mask of an access of size am + 1 (encoded once). */
const TAG_MASKS = new Map<number, Uint8Array>();
function tagMask(am: number): Uint8Array {
  let b = TAG_MASKS.get(am);
  if (!b) TAG_MASKS.set(am, (b = new Code().i64(BigInt.asIntN(64, 0xfffffffffffff000n | BigInt(am))).toBytes()));
  return b;
}

/** mstatus.FS (Priv 1.12 §3.1.6.6): Off = 0, Dirty = both bits; SD is bit 63. */
const FS_MASK = 3 << 13;
const DIRTY_BITS = new Code().i64(BigInt.asIntN(64, (3n << 13n) | (1n << 63n))).toBytes();

const i64c = (v: bigint): Uint8Array => new Code().i64(BigInt.asIntN(64, v)).toBytes();
const ABS64 = i64c(0x7fffffffffffffffn);
const INF64 = i64c(0x7ff0000000000000n);
const SIGN64 = i64c(0x8000000000000000n);
const BOX = i64c(0xffffffff00000000n);
/** fpu.ts clearlyNormal64: (r & ABS) - (MINNORM + 1) < INF - (MINNORM + 1), unsigned. */
const MINNORM_P1 = i64c(0x0010000000000001n);
const INF_MINUS_MINNORM_P1 = i64c(0x7ff0000000000000n - 0x0010000000000001n);

/**
 * F/D instructions compiled code does without jitFp (case 'fp'). Each `emit` reads its operands
 * from memory (f registers) or through `R` (x registers):
 *   - 'exact': sign injection, fclass and the moves, the whole instruction (an x result left on
 *     the stack): jitFp does not have them;
 *   - 'arith': the native wasm operation, used when rounding is RNE and fflags.NX is already set:
 *     then, if the result is finite (add, sub) or clearly normal (mul, div, sqrt), it is the
 *     correctly rounded answer and NX the only flag the operation could raise (fpu.ts's own RNE
 *     fast paths argue the same), so no other state changes;
 *   - 'cvt': integer to double, native, in any legal rounding mode when exact (32-bit integers,
 *     64-bit ones below 2^53 in magnitude), else when RNE with NX set;
 *   - 'nonan': compares, min and max of two doubles that are not NaN (no flag then);
 *   - 'fma': the FMAs in RNE through the core's jitFma / jitFma32 (fpu.ts's exact fast paths,
 *     which raise NX themselves), when they can decide;
 *   - 'toint': double to integer in RNE, RTZ, RDN or RUP (the native rounding, then a saturating
 *     truncation of the integral value) when the rounded value is in the format's range (no NV;
 *     a NaN is in no range) and is the operand itself or NX is already set.
 * The other kinds push a condition (the result is usable) with the result in T0; when it is false
 * jitFp does the instruction.
 */
type FpEmit = (c: Code, i: Insn, R: (r: number) => void) => void;
type FpInline = { k: 'exact' | 'toint' | 'fma' | 'arith' | 'cvt' | 'nonan'; emit: FpEmit };
const fAt = (c: Code, r: number, as: number = Op.i64Load): Code => c.i32(L.H_F + r * 8).mem(as, 3);
/** Push fcsr & mask == value (an i32). */
const fcsrIs = (c: Code, mask: number, value: number): void => {
  c.i32(L.H_FCSR).mem(Op.i64Load, 3).i64(mask).op(Op.i64And).i64(value).op(Op.i64Eq);
};
/** Push "rounding is RNE and fflags.NX is set" for an instruction with rm field `rmf` (0 or 7). */
const rneNx = (c: Code, rmf: number): void => fcsrIs(c, rmf === 7 ? 0xe1 : 0x01, 1);
/** Push whether every f register of `rs` holds a NaN-boxed single (the AND of their upper halves is all ones). */
const boxed = (c: Code, ...rs: number[]): void => {
  rs.forEach((r, k) => {
    fAt(c, r);
    if (k > 0) c.op(Op.i64And);
  });
  c.i64(32).op(Op.i64ShrU).i64(0xffffffff).op(Op.i64Eq);
};
/** Push f register r as a binary32 value (its low 32 bits; the caller tests the boxing). */
const f32At = (c: Code, r: number): void => {
  fAt(c, r).op(Op.i32WrapI64).op(Op.f32ReinterpretI32);
};
/** A binary32 result on the stack: NaN-boxed into T0; push "usable": finite, or clearly normal (no OF/UF: NX alone). */
const box32Check = (c: Code, normal: boolean): void => {
  c.op(Op.i32ReinterpretF32).op(Op.i64ExtendI32U).bytes(BOX).op(Op.i64Or).tee(T0);
  c.i64(0x7fffffff).op(Op.i64And);
  if (normal) c.i64(0x00800001).op(Op.i64Sub).i64(0x7f800000 - 0x00800001);
  else c.i64(0x7f800000);
  c.op(Op.i64LtU);
};
/** T0 = the result's bits; push "usable": finite (add, sub) or clearly normal. */
const check64 = (c: Code, normal: boolean): void => {
  c.op(Op.i64ReinterpretF64).tee(T0).bytes(ABS64).op(Op.i64And);
  if (normal) c.bytes(MINNORM_P1).op(Op.i64Sub).bytes(INF_MINUS_MINNORM_P1);
  else c.bytes(INF64);
  c.op(Op.i64LtU);
};
const arith64 = (op: number, normal: boolean, unary = false): FpInline => ({
  k: 'arith',
  emit: (c, i) => {
    fAt(c, i.rs1, Op.f64Load);
    if (!unary) fAt(c, i.rs2, Op.f64Load);
    check64(c.op(op), normal);
  },
});
/**
 * Singles: both operands NaN-boxed (else they read as the canonical NaN: jitFp), the native binary32
 * operation, the result NaN-boxed into T0; usable when finite / clearly normal (binary32 bounds).
 */
const arith32 = (op: number, normal: boolean, unary = false): FpInline => ({
  k: 'arith',
  emit: (c, i) => {
    f32At(c, i.rs1);
    if (!unary) f32At(c, i.rs2);
    box32Check(c.op(op), normal);
    if (unary) boxed(c, i.rs1);
    else boxed(c, i.rs1, i.rs2);
    c.op(Op.i32And);
  },
});
const cvt = (op: number): FpInline => ({
  k: 'cvt',
  emit: (c, i, R) => {
    R(i.rs1);
    const w = op === Op.f64ConvertI32S || op === Op.f64ConvertI32U;
    if (w) c.op(Op.i32WrapI64);
    c.op(op).op(Op.i64ReinterpretF64).set(T0);
    if (w) {
      c.i32(1); // every 32-bit integer is a double
      return;
    }
    // Exact when the integer has at most 53 significant bits (|x| < 2^53; unsigned: x < 2^53), in
    // any rounding mode; else RNE with NX already set.
    R(i.rs1);
    if (op === Op.f64ConvertI64S) c.i64(2 ** 53).op(Op.i64Add).i64(2 ** 54);
    else c.i64(2 ** 53);
    c.op(Op.i64LtU);
    const rmf = (i.imm >> 8) & 0xff;
    if (rmf === 0 || rmf === 7) {
      rneNx(c, rmf);
      c.op(Op.i32Or);
    }
  },
});
/** Neither operand NaN (x == x), then the native comparison (an x result) or min/max. */
const nonan = (op: number, xResult: boolean): FpInline => ({
  k: 'nonan',
  emit: (c, i) => {
    fAt(c, i.rs1, Op.f64Load);
    fAt(c, i.rs2, Op.f64Load).op(op);
    if (xResult) c.op(Op.i64ExtendI32U);
    else c.op(Op.i64ReinterpretF64);
    c.set(T0);
    fAt(c, i.rs1, Op.f64Load);
    fAt(c, i.rs1, Op.f64Load).op(Op.f64Eq);
    fAt(c, i.rs2, Op.f64Load);
    fAt(c, i.rs2, Op.f64Load).op(Op.f64Eq).op(Op.i32And);
  },
});
/** fmadd/fmsub/fnmsub/fnmadd.d (fpu.ts f64_fma's RNE path): the product's negation moves to the result. */
const fma = (negProduct: boolean, negAddend: boolean): FpInline => ({
  k: 'fma',
  emit: (c, i) => {
    fAt(c, i.rs1);
    fAt(c, i.rs2);
    fAt(c, i.imm & 0xff); // rs3
    if (negProduct !== negAddend) c.bytes(SIGN64).op(Op.i64Xor);
    c.byte(Op.call).u32(helperIndex('jitFma')).set(T0).get(T0).i64(0).op(Op.i64Ne);
    if (negProduct) c.get(T0).bytes(SIGN64).op(Op.i64Xor).set(T0);
  },
});
/**
 * fmadd/fmsub/fnmsub/fnmadd.s (fpu.ts f32_fma's RNE path through jitFma32): the operands negated
 * as f32_fma negates them; usable when all three are NaN-boxed and the fast path decided.
 */
const fma32 = (negProduct: boolean, negAddend: boolean): FpInline => ({
  k: 'fma',
  emit: (c, i) => {
    const rs3 = i.imm & 0xff;
    const low = (r: number, neg: boolean): void => {
      fAt(c, r).i64(0xffffffff).op(Op.i64And);
      if (neg) c.i64(0x80000000).op(Op.i64Xor);
    };
    // All three NaN-boxed first: jitFma32 raises NX when it decides, so it must not run on
    // operands the instruction reads as NaN (jitdiff found that).
    boxed(c, i.rs1, i.rs2, rs3);
    c.byte(Op.if).byte(I32);
    low(i.rs1, negProduct);
    low(i.rs2, false);
    low(rs3, negAddend);
    c.byte(Op.call).u32(helperIndex('jitFma32')).tee(T0).i64(0xffffffff).op(Op.i64Ne);
    c.get(T0).bytes(BOX).op(Op.i64Or).set(T0);
    c.byte(Op.else).i32(0).op(Op.end);
  },
});
/** Push f register r read as a single (hart.ts getF32: an unboxed value reads as the canonical NaN), an i32. */
const getF32At = (c: Code, r: number): void => {
  fAt(c, r).op(Op.i32WrapI64).i32(0x7fc00000);
  boxed(c, r);
  c.op(Op.select);
};
/**
 * Sign injection: rs1's magnitude with rs2's sign (j), its inverse (n), or their XOR (x); singles
 * read as getF32 does and the result NaN-boxed.
 */
const sgnj = (mode: 'j' | 'n' | 'x', single: boolean): FpInline => ({
  k: 'exact',
  emit: (c, i) => {
    const [and, xor, or] = single ? [Op.i32And, Op.i32Xor, Op.i32Or] : [Op.i64And, Op.i64Xor, Op.i64Or];
    const val = (r: number): void => {
      if (single) getF32At(c, r);
      else fAt(c, r);
    };
    c.i32(L.H_F + i.rd * 8);
    val(i.rs1);
    if (mode !== 'x') (single ? c.i32(0x7fffffff) : c.bytes(ABS64)).op(and);
    val(i.rs2);
    if (mode === 'n') (single ? c.i32(-1) : c.i64(-1)).op(xor);
    (single ? c.i32(0x80000000 | 0) : c.bytes(SIGN64)).op(and).op(mode === 'x' ? xor : or);
    if (single) c.op(Op.i64ExtendI32U).bytes(BOX).op(Op.i64Or);
    c.mem(Op.i64Store, 3);
  },
});
/** Compares, min and max of two singles, both NaN-boxed and neither NaN (no flag then). */
const nonan32 = (op: number, xResult: boolean): FpInline => ({
  k: 'nonan',
  emit: (c, i) => {
    f32At(c, i.rs1);
    f32At(c, i.rs2);
    c.op(op);
    if (xResult) c.op(Op.i64ExtendI32U);
    else c.op(Op.i32ReinterpretF32).op(Op.i64ExtendI32U).bytes(BOX).op(Op.i64Or);
    c.set(T0);
    for (const r of [i.rs1, i.rs2]) {
      f32At(c, r);
      f32At(c, r);
      c.op(Op.f32Eq);
      boxed(c, r);
      c.op(Op.i32And);
    }
    c.op(Op.i32And);
  },
});
/** Rounding ops for the static rounding modes RNE, RTZ, RDN, RUP (RMM has none: jitFp). */
const ROUND_OPS = [Op.f64Nearest, Op.f64Trunc, Op.f64Floor, Op.f64Ceil];
/** fcvt.{w,wu,l,lu}.d: [lowest, highest] integral value in range, signed, 32-bit (sign-extend the result). */
const toint = (lo: number, hi: number, signed: boolean, w: boolean): FpInline => ({
  k: 'toint',
  emit: (c, i) => {
    const rmf = (i.imm >> 8) & 0xff;
    fAt(c, i.rs1, Op.f64Load).op(ROUND_OPS[rmf === 7 ? 0 : rmf]!).tee(FT);
    c.fc(signed ? FC.i64TruncSatF64S : FC.i64TruncSatF64U); // exact for an integral value in range
    if (w) c.op(Op.i64Extend32S);
    c.set(T0);
    c.get(FT).f64(lo).op(Op.f64Ge).get(FT).f64(hi).op(Op.f64Le).op(Op.i32And);
    c.get(FT);
    fAt(c, i.rs1, Op.f64Load).op(Op.f64Eq);
    fcsrIs(c, 0x01, 1); // NX set
    c.op(Op.i32Or).op(Op.i32And);
  },
});
/**
 * fclass (Unpriv 11.9): the one-hot class of the value in T0 (a double, or a single zero-extended:
 * `e`/`f` are the exponent and fraction widths), pushed as an x result. Every operand has a class,
 * so this is the whole instruction.
 */
const classify = (c: Code, e: number, f: number): void => {
  const sign = (): void => {
    c.get(T0).i64(e + f).op(Op.i64ShrU).op(Op.i32WrapI64);
  };
  const fracZero = (): void => {
    c.get(T0).i64(2 ** f - 1).op(Op.i64And).op(Op.i64Eqz);
  };
  const exp = (): void => {
    c.get(T0).i64(f).op(Op.i64ShrU).i64(2 ** e - 1).op(Op.i64And);
  };
  const pick = (a: number, b: number, cond: () => void): void => {
    c.i64(a).i64(b);
    cond();
    c.op(Op.select);
  };
  // exponent all ones: infinity (bit 0 / 7) or NaN (signaling bit 8, quiet bit 9)
  pick(1, 128, sign);
  pick(512, 256, () => c.get(T0).i64(f - 1).op(Op.i64ShrU).op(Op.i32WrapI64).i32(1).op(Op.i32And));
  fracZero();
  c.op(Op.select);
  // exponent zero: zero (bit 3 / 4) or subnormal (bit 2 / 5); else normal (bit 1 / 6)
  pick(8, 16, sign);
  pick(4, 32, sign);
  fracZero();
  c.op(Op.select);
  pick(2, 64, sign);
  exp();
  c.op(Op.i64Eqz).op(Op.select);
  exp();
  c.i64(2 ** e - 1).op(Op.i64Eq).op(Op.select);
};
export const FP_INLINE: Readonly<Record<string, FpInline>> = {
  'fclass.d': { k: 'exact', emit: (c, i) => { fAt(c, i.rs1).set(T0); classify(c, 11, 52); } },
  'fclass.s': { k: 'exact', emit: (c, i) => { getF32At(c, i.rs1); c.op(Op.i64ExtendI32U).set(T0); classify(c, 8, 23); } },
  'fcvt.w.d': toint(-(2 ** 31), 2 ** 31 - 1, true, true), 'fcvt.wu.d': toint(0, 2 ** 32 - 1, false, true),
  'fcvt.l.d': toint(-(2 ** 63), 2 ** 63 - 1024, true, false), 'fcvt.lu.d': toint(0, 2 ** 64 - 2048, false, false),
  'fsgnj.s': sgnj('j', true), 'fsgnjn.s': sgnj('n', true), 'fsgnjx.s': sgnj('x', true),
  'feq.s': nonan32(Op.f32Eq, true), 'flt.s': nonan32(Op.f32Lt, true), 'fle.s': nonan32(Op.f32Le, true),
  'fmin.s': nonan32(Op.f32Min, false), 'fmax.s': nonan32(Op.f32Max, false),
  'fmadd.s': fma32(false, false), 'fmsub.s': fma32(false, true), 'fnmsub.s': fma32(true, false), 'fnmadd.s': fma32(true, true),
  // fcvt.s.d: RNE with NX set, a clearly normal single; fcvt.d.s: exact for a boxed non-NaN single
  // (any legal rm: it carries one and checks it)
  'fcvt.s.d': { k: 'arith', emit: (c, i) => { fAt(c, i.rs1, Op.f64Load).op(Op.f32DemoteF64); box32Check(c, true); } },
  'fcvt.d.s': {
    k: 'cvt',
    emit: (c, i) => {
      f32At(c, i.rs1);
      c.op(Op.f64PromoteF32).op(Op.i64ReinterpretF64).set(T0);
      f32At(c, i.rs1);
      f32At(c, i.rs1);
      c.op(Op.f32Eq); // not NaN
      boxed(c, i.rs1);
      c.op(Op.i32And);
    },
  },
  'fmadd.d': fma(false, false), 'fmsub.d': fma(false, true), 'fnmsub.d': fma(true, false), 'fnmadd.d': fma(true, true),
  'fadd.d': arith64(Op.f64Add, false), 'fsub.d': arith64(Op.f64Sub, false), 'fmul.d': arith64(Op.f64Mul, true),
  'fdiv.d': arith64(Op.f64Div, true), 'fsqrt.d': arith64(Op.f64Sqrt, true, true),
  'fadd.s': arith32(Op.f32Add, false), 'fsub.s': arith32(Op.f32Sub, false), 'fmul.s': arith32(Op.f32Mul, true),
  'fdiv.s': arith32(Op.f32Div, true), 'fsqrt.s': arith32(Op.f32Sqrt, true, true),
  'fsgnj.d': sgnj('j', false), 'fsgnjn.d': sgnj('n', false), 'fsgnjx.d': sgnj('x', false),
  'fmv.x.d': { k: 'exact', emit: (c, i) => { fAt(c, i.rs1); } },
  'fmv.d.x': { k: 'exact', emit: (c, i, R) => { c.i32(L.H_F + i.rd * 8); R(i.rs1); c.mem(Op.i64Store, 3); } },
  'fmv.x.w': { k: 'exact', emit: (c, i) => { fAt(c, i.rs1).op(Op.i64Extend32S); } },
  'fmv.w.x': { k: 'exact', emit: (c, i, R) => { c.i32(L.H_F + i.rd * 8); R(i.rs1); c.i64(0xffffffff).op(Op.i64And).bytes(BOX).op(Op.i64Or).mem(Op.i64Store, 3); } },
  'fcvt.d.w': cvt(Op.f64ConvertI32S), 'fcvt.d.wu': cvt(Op.f64ConvertI32U),
  'fcvt.d.l': cvt(Op.f64ConvertI64S), 'fcvt.d.lu': cvt(Op.f64ConvertI64U),
  'feq.d': nonan(Op.f64Eq, true), 'flt.d': nonan(Op.f64Lt, true), 'fle.d': nonan(Op.f64Le, true),
  'fmin.d': nonan(Op.f64Min, false), 'fmax.d': nonan(Op.f64Max, false),
};

/** One block's function: blk(pc, cycles, left, deadline, tlbRead, tlbWrite) -> status. */
function compileBlock(insns: Insn[], fn: number, headIndex: Map<number, number>, env: CompileEnv, counters: ClassVector[]): FuncCode {
  const c = new Code();
  const n = insns.length;
  const off0 = insns[0].off;
  // Prefix sums of the block's cycles: instructions 0..k-1.
  const pcyc: number[] = [0];
  for (let k = 0; k < n; k++) pcyc.push(pcyc[k] + insns[k].lat);
  const takenExtra = Number(BigInt.asIntN(64, env.takenExtra));
  /** A new exit counter for instructions 0..k-1 retired (+ a taken branch's count); its byte offset. */
  const counter = (k: number, taken: boolean): number => {
    const v: ClassVector = [];
    for (let q = 0; q < k; q++) {
      const cl = insns[q].cls;
      let e = v.find((x) => x[0] === cl);
      if (!e) v.push((e = [cl, 0]));
      e[1]++;
    }
    if (taken) v.push([TAKEN, 1]);
    counters.push(v);
    return (counters.length - 1) * 8;
  };
  // The block's loop to itself (the first transfer back to its start): its iterations are
  // counted in `it` and added to the block's loop counter in the epilogue.
  const loopK = insns.findIndex((i) => (i.em.k === 'br' || i.em.k === 'jal') && i.off + i.imm === off0);
  const loopCounter = loopK >= 0 ? counter(loopK + 1, insns[loopK].em.k === 'br') : -1;

  // Register cache: each register the block uses has a local. The registers the block writes are
  // loaded at its entry (so every exit stores them all, in the one epilogue); the others at their
  // first read on the straight-line path.
  const read = new Set<number>(), written = new Set<number>();
  for (const i of insns) regsOf(i, read, written);
  const cache = new Map<number, number>();
  let nl = R0;
  for (const r of [...read, ...written]) if (!cache.has(r)) cache.set(r, nl++);
  const loaded = new Set<number>(written);

  /** Push x[r] from memory (its first read: the caller puts it into its local). */
  const loadX = (r: number): Code => {
    loaded.add(r);
    return c.i32(L.H_X + r * 8).mem(Op.i64Load, 3);
  };
  /** Load x[r] into its local unless it is already there (a first read must be on the straight-line path). */
  const preload = (r: number): void => {
    if (r !== 0 && !loaded.has(r)) loadX(r).set(cache.get(r)!);
  };
  /** Push x[r]; a first read loads it and keeps it in its local with a tee (set + get was 2 bytes more). */
  const R = (r: number): void => {
    if (r === 0) c.i64(0);
    else if (loaded.has(r)) c.get(cache.get(r)!);
    else loadX(r).tee(cache.get(r)!);
  };
  /** Pop the value on the stack into x[rd] (the sink x32 is never read: drop it). */
  const W = (rd: number): void => {
    if (rd === 32 || rd === 0) c.op(Op.drop);
    else c.set(cache.get(rd)!);
  };
  /** The virtual pc of page offset `off` (never a constant: pv comes from the pc parameter). */
  const pcAt = (off: number): void => {
    c.get(PV);
    if (off !== 0) c.i64(off).op(Op.i64Add);
  };
  // Structured control: `depth` = constructs open inside $L (the block's loop); $E, whose end is
  // the shared epilogue, is one further out.
  let depth = 0;
  const openIf = (): void => {
    c.byte(Op.if).byte(VOID);
    depth++;
  };
  const close = (): void => {
    c.op(Op.end);
    depth--;
  };
  /** Charge cycles and k instructions to the locals. */
  const charge = (cyc: number, k: number): void => {
    if (cyc !== 0) c.get(P_CYC).i64(cyc).op(Op.i64Add).set(P_CYC);
    if (k !== 0) c.get(P_LEFT).i64(k).op(Op.i64Sub).set(P_LEFT);
  };
  /** An exit with instructions 0..k-1 retired (+ a taken branch's extra and count) at the pc `pc` pushes. */
  const prep = (k: number, extra: number, taken: boolean, pc: () => void): void => {
    charge(pcyc[k] + extra, k);
    c.i32(counter(k, taken)).set(EX);
    pc();
    c.set(EPC);
  };
  /** To the epilogue with status st (0: interpret J_PC; 1: leave the inner loop; 2: J_PC may start a compiled block). */
  const go = (st: number): void => {
    c.i32(st).set(EST);
    c.byte(Op.br).u32(depth + 1); // $E
  };
  /** If the condition on the stack holds: leave before instruction k (at page offset off) with status 0, the interpreter executes it. */
  const leaveIf = (k: number, off: number): void => {
    openIf();
    prep(k, 0, false, () => pcAt(off));
    go(0);
    close();
  };
  /** The epilogue's work before leaving: store the written registers, count the exit (EX) and the loop's iterations. */
  const finish = (): void => {
    for (const r of written) c.i32(L.H_X + r * 8).get(cache.get(r)!).mem(Op.i64Store, 3);
    c.byte(Op.globalGet).u32(G_CB).get(EX).op(Op.i32Add).tee(A).get(A).mem(Op.i64Load, 3).i64(1).op(Op.i64Add).mem(Op.i64Store, 3);
    if (loopCounter >= 0) {
      c.byte(Op.globalGet).u32(G_CB).byte(Op.globalGet).u32(G_CB).mem(Op.i64Load, 3, loopCounter).get(IT).op(Op.i64Add)
        .mem(Op.i64Store, 3, loopCounter);
    }
  };
  /** A transfer to block function `fn` of this module: finish here and tail-call it (a direct jump, no dispatch). */
  const chainTo = (fn: number): void => {
    finish();
    c.get(EPC).get(P_CYC).get(P_LEFT).get(P_DL).get(P_TR).get(P_TW).byte(Op.returnCall).u32(fn);
  };
  const cycLtDl = (): void => {
    c.get(P_CYC).get(P_DL).op(Op.i64LtU);
  };
  /** Taken transfer at instruction k to page offset t (run.ts: charge, then go on in the page only if the target is in it and cycles < deadline). */
  const taken = (k: number, t: number, extra: number, isBranch: boolean): void => {
    const j = t >= 0 && t < 4096 ? headIndex.get(t) ?? -1 : -2;
    if (j === fn) {
      // Back to the block's start: charged now, then around $L while cycles < deadline, else
      // leave there (status 1; its retired instructions are charged already).
      charge(pcyc[k + 1] + extra, k + 1);
      if (k === loopK) {
        c.get(IT).i64(1).op(Op.i64Add).set(IT); // the block's loop: class counts in the epilogue (it)
      } else {
        // Another transfer back to the start: its own counter, counted here.
        const e = counter(k + 1, isBranch);
        c.byte(Op.globalGet).u32(G_CB).byte(Op.globalGet).u32(G_CB).mem(Op.i64Load, 3, e).i64(1).op(Op.i64Add).mem(Op.i64Store, 3, e);
      }
      cycLtDl();
      c.byte(Op.brIf).u32(depth); // $L
      prep(0, 0, false, () => pcAt(t));
      go(1);
      return;
    }
    prep(k + 1, extra, isBranch, () => pcAt(t));
    if (j !== -2) {
      // In the page: a block of this module (tail call), else the run loop looks there (status 2).
      cycLtDl();
      openIf();
      if (j >= 0) chainTo(j);
      else go(2);
      close();
    }
    go(1);
  };
  /** t0 = effective address; a = host-TLB entry; on a miss leave before instruction k. */
  const tlbLookup = (k: number, i: Insn, tlb: number, am: number): void => {
    R(i.rs1);
    if (i.imm !== 0) c.i64(i.imm).op(Op.i64Add);
    c.set(T0);
    c.get(tlb).get(T0).i64(12).op(Op.i64ShrU).op(Op.i32WrapI64).i32(TLB_MASK).op(Op.i32And).i32(4).op(Op.i32Shl)
      .op(Op.i32Add).set(A);
    c.get(A).mem(Op.i64Load, 3).get(T0).bytes(tagMask(am)).op(Op.i64And)
      .op(Op.i64Ne);
    leaveIf(k, i.off);
    c.get(T0).get(A).mem(Op.i64Load, 3, 8).op(Op.i64Add).op(Op.i32WrapI64);
  };

  // F/D state: FS tested at the block's first FP instruction, FS = Dirty marked at its first FP
  // register write (both hold for the rest of the block: see case 'fp').
  let fpChecked = false;
  let fpDirtied = false;
  /** Push mstatus.FS = Off, or V = 1 and vsstatus.FS = Off (hart.ts fpOff): FP instructions are illegal. */
  const fsOffTest = (): void => {
    c.i32(L.H_MSTATUS).mem(Op.i64Load, 3).i64(FS_MASK).op(Op.i64And).op(Op.i64Eqz);
    c.i32(L.H_VIRT).mem(Op.i64Load, 3).op(Op.i64Eqz).op(Op.i32Eqz);
    c.i32(L.H_VSSTATUS).mem(Op.i64Load, 3).i64(FS_MASK).op(Op.i64And).op(Op.i64Eqz).op(Op.i32And).op(Op.i32Or);
  };
  /** FS = Dirty and SD = 1 in mstatus, and in vsstatus when V = 1 (hart.ts fpDirty). */
  const fsDirty = (): void => {
    c.i32(L.H_MSTATUS).i32(L.H_MSTATUS).mem(Op.i64Load, 3).bytes(DIRTY_BITS).op(Op.i64Or).mem(Op.i64Store, 3);
    c.i32(L.H_VIRT).mem(Op.i64Load, 3).op(Op.i64Eqz).op(Op.i32Eqz);
    openIf();
    c.i32(L.H_VSSTATUS).i32(L.H_VSSTATUS).mem(Op.i64Load, 3).bytes(DIRTY_BITS).op(Op.i64Or).mem(Op.i64Store, 3);
    close();
  };
  /** At the block's first FP instruction (k, at page offset off): leave before it when FS is Off. */
  const fsCheck = (k: number, off: number): void => {
    if (fpChecked) return;
    fsOffTest();
    leaveIf(k, off);
    fpChecked = true;
  };
  /** At the block's first instruction that writes an f register: FS = Dirty. */
  const markDirty = (): void => {
    if (fpDirtied) return;
    fsDirty();
    fpDirtied = true;
  };

  c.get(PC);
  if (off0 !== 0) c.i64(off0).op(Op.i64Sub);
  c.set(PV);
  for (const r of written) c.i32(L.H_X + r * 8).mem(Op.i64Load, 3).set(cache.get(r)!);
  c.byte(Op.block).byte(VOID); // $E
  c.byte(Op.loop).byte(VOID); // $L
  // Entry: decline when the budget is below the block length (the interpreter steps).
  c.get(P_LEFT).i64(n).op(Op.i64LtU);
  leaveIf(0, off0);
  let ended = false;
  for (let k = 0; k < n && !ended; k++) {
    const i = insns[k];
    const em = i.em;
    switch (em.k) {
      case 'rr':
        R(i.rs1);
        R(i.rs2);
        c.bytes(em.ops);
        W(i.rd);
        break;
      case 'ri':
        R(i.rs1);
        c.i64(i.imm).bytes(em.ops);
        W(i.rd);
        break;
      case 'rr32':
        R(i.rs1);
        c.op(Op.i32WrapI64);
        R(i.rs2);
        c.op(Op.i32WrapI64).bytes(em.ops).op(Op.i64ExtendI32S);
        W(i.rd);
        break;
      case 'ri32':
        R(i.rs1);
        c.op(Op.i32WrapI64).i32(i.imm).bytes(em.ops).op(Op.i64ExtendI32S);
        W(i.rd);
        break;
      case 'call':
        R(i.rs1);
        R(i.rs2);
        c.byte(Op.call).u32(helperIndex(em.fn));
        W(i.rd);
        break;
      case 'bit':
        c.i32(i.id);
        R(i.rs1);
        R(i.rs2);
        c.i64(i.imm).byte(Op.call).u32(helperIndex('jitBit'));
        W(i.rd);
        break;
      case 'lui':
        c.i64(i.imm);
        W(i.rd);
        break;
      case 'auipc':
        pcAt(i.off);
        if (i.imm !== 0) c.i64(i.imm).op(Op.i64Add);
        W(i.rd);
        break;
      case 'load':
        tlbLookup(k, i, P_TR, em.am);
        c.mem(em.op, 0);
        W(i.rd);
        break;
      case 'store':
        tlbLookup(k, i, P_TW, em.am);
        R(i.rs2);
        c.mem(em.op, 0);
        break;
      case 'amo': {
        // Old value into t0 (tlbLookup is done with it), the new one stored, then rd = old.
        tlbLookup(k, i, P_TW, em.w ? 3 : 7);
        c.tee(A).mem(em.w ? Op.i64Load32S : Op.i64Load, em.w ? 2 : 3).set(T0);
        c.get(A);
        const b = (): void => {
          R(i.rs2);
          if (em.w && (em.f === 'min' || em.f === 'max')) c.op(Op.i64Extend32S);
          if (em.w && (em.f === 'minu' || em.f === 'maxu')) c.i64(0xffffffff).op(Op.i64And);
        };
        const a = (): void => {
          c.get(T0);
          if (em.w && (em.f === 'minu' || em.f === 'maxu')) c.i64(0xffffffff).op(Op.i64And);
        };
        switch (em.f) {
          case 'swap': R(i.rs2); break;
          case 'add': c.get(T0); R(i.rs2); c.op(Op.i64Add); break;
          case 'xor': c.get(T0); R(i.rs2); c.op(Op.i64Xor); break;
          case 'and': c.get(T0); R(i.rs2); c.op(Op.i64And); break;
          case 'or': c.get(T0); R(i.rs2); c.op(Op.i64Or); break;
          default: {
            // select(a, b, a OP b): min keeps a when a < b, max when a > b.
            const cmp = em.f === 'min' ? Op.i64LtS : em.f === 'max' ? Op.i64GtS : em.f === 'minu' ? Op.i64LtU : Op.i64GtU;
            a(); b(); a(); b(); c.op(cmp).op(Op.select);
          }
        }
        c.mem(em.w ? Op.i64Store32 : Op.i64Store, em.w ? 2 : 3);
        c.get(T0);
        W(i.rd);
        break;
      }
      case 'lr':
        // rd = the word, then the reservation = its host address (run.ts OP_LR_W/OP_LR_D).
        tlbLookup(k, i, P_TR, em.w ? 3 : 7);
        c.tee(A).mem(em.w ? Op.i64Load32S : Op.i64Load, em.w ? 2 : 3);
        W(i.rd);
        c.i32(L.H_RESV).get(A).op(Op.i64ExtendI32U).mem(Op.i64Store, 3);
        break;
      case 'sc':
        // ok = the reservation is this word; the reservation is gone either way; if ok the store;
        // rd = 0 (stored) or 1 (run.ts OP_SC_W/OP_SC_D). rs2 is read before the condition: a first
        // read must load it on the straight-line path.
        tlbLookup(k, i, P_TW, em.w ? 3 : 7);
        c.set(A);
        preload(i.rs2);
        c.i32(L.H_RESV).mem(Op.i64Load, 3).get(A).op(Op.i64ExtendI32U).op(Op.i64Eq);
        c.i32(L.H_RESV).i64(-1).mem(Op.i64Store, 3);
        c.byte(Op.if).byte(I64);
        c.get(A);
        R(i.rs2);
        c.mem(em.w ? Op.i64Store32 : Op.i64Store, em.w ? 2 : 3).i64(0);
        c.byte(Op.else).i64(1).op(Op.end);
        W(i.rd);
        break;
      case 'br':
        R(i.rs1);
        R(i.rs2);
        c.op(em.cmp);
        openIf();
        taken(k, i.off + i.imm, takenExtra, true);
        close();
        break;
      case 'jal':
        pcAt(i.off + i.len);
        W(i.rd);
        taken(k, i.off + i.imm, 0, false);
        ended = true;
        break;
      case 'jalr':
        // Target before rd is written (rd may be rs1); bit 0 cleared (Unpriv 2.5).
        R(i.rs1);
        if (i.imm !== 0) c.i64(i.imm).op(Op.i64Add);
        c.i64(-2).op(Op.i64And).set(T0);
        pcAt(i.off + i.len);
        W(i.rd);
        prep(k + 1, 0, false, () => c.get(T0));
        // In the page and cycles < deadline: go on there (run.ts OP_JALR), through the run loop.
        c.get(T0).get(PV).op(Op.i64Sub).i64(4096).op(Op.i64LtU);
        cycLtDl();
        c.op(Op.i32And);
        openIf();
        go(2);
        close();
        go(1);
        ended = true;
        break;
      case 'fp': {
        if (em.mem) {
          // FP loads and stores inline (Unpriv 11.5, 12.3): FS = Off makes them illegal (the
          // interpreter raises it: leave before this instruction), checked at the block's first FP
          // instruction only (FS cannot turn Off inside a block: CSR writes, traps and xRETs end
          // it). Then the host-TLB fast path (a miss leaves), flw NaN-boxes, and a load marks
          // FS = Dirty unless an earlier instruction of the block did.
          fsCheck(k, i.off);
          tlbLookup(k, i, em.mem === 'load' ? P_TR : P_TW, em.am);
          if (em.mem === 'load') {
            c.set(A).i32(L.H_F + i.rd * 8).get(A);
            if (em.am === 3) c.mem(Op.i64Load32U, 2).i64(-0x100000000).op(Op.i64Or);
            else c.mem(Op.i64Load, 3);
            c.mem(Op.i64Store, 3);
            markDirty();
          } else {
            c.i32(L.H_F + i.rs2 * 8).mem(Op.i64Load, 3).mem(em.am === 3 ? Op.i64Store32 : Op.i64Store, em.am === 3 ? 2 : 3);
          }
          break;
        }
        const rmf = em.rm ? (i.imm >> 8) & 0xff : 0;
        const inl = FP_INLINE[i.op];
        // An x source is read in a conditional path below: load it into its local here (R loads a
        // register at its first read, which must be on the block's straight-line path).
        if (em.xr) preload(i.rs1);
        // The inline paths do not test FS themselves (jitFp does).
        if (inl !== undefined) fsCheck(k, i.off);
        if (inl?.k === 'exact') {
          // Sign injection and moves: no flag, no rounding, no fallback.
          inl.emit(c, i, R);
          if (em.xw) W(i.rd);
          else markDirty();
          break;
        }
        // An inline attempt (see FpInline) sets A = 1 and leaves the result in T0 (an x result) or
        // in f[rd]; else jitFp does the instruction.
        const tryInline = inl !== undefined && (inl.k === 'nonan' || inl.k === 'cvt' || rmf === 0 || rmf === 7 || (inl.k === 'toint' && rmf <= 3));
        if (tryInline) {
          c.i32(0).set(A);
          // The condition before the attempt: 'arith' needs RNE and NX already set (the native
          // result then changes no other state); 'fma' RNE; 'toint' a mode with a native rounding
          // (static RNE/RTZ/RDN/RUP, or dyn with frm = RNE); 'cvt' a legal mode; 'nonan' nothing.
          if (inl.k === 'arith') rneNx(c, rmf);
          else if (rmf !== 7 || inl.k === 'nonan') c.i32(1); // (tryInline: a static mode the path handles)
          else if (inl.k === 'cvt') c.i32(L.H_FCSR).mem(Op.i64Load, 3).i64(0xe0).op(Op.i64And).i64(0xa0).op(Op.i64LtU); // frm <= 4
          else fcsrIs(c, 0xe0, 0); // 'toint', 'fma': frm = RNE
          openIf();
          inl.emit(c, i, R);
          openIf();
          if (em.xw) c.i32(1).set(A);
          else c.i32(L.H_F + i.rd * 8).get(T0).mem(Op.i64Store, 3).i32(1).set(A);
          close();
          close();
          c.get(A).op(Op.i32Eqz);
          openIf();
        }
        // jitFp(op, regs, rm, x): x = the x source (conversions from x), or 0.
        const rs3 = em.rm ? i.imm & 0xff : 0;
        c.i32(i.id).i32((i.rd & 0xff) | (i.rs1 << 8) | (i.rs2 << 16) | (rs3 << 24)).i32(rmf);
        if (em.xr) R(i.rs1);
        else c.i64(0);
        c.byte(Op.call).u32(helperIndex('jitFp')).set(T0);
        // Illegal now (FS = Off, an invalid dynamic rm): no effect; the interpreter raises it.
        c.i32(L.J_FPX).mem(Op.i32Load, 2);
        leaveIf(k, i.off);
        fpChecked = true; // it ran: FS is on for the rest of the block
        if (tryInline) {
          close();
          if (!em.xw) markDirty(); // the inline path wrote an f register (jitFp marks it itself)
        }
        if (em.xw) {
          c.get(T0);
          W(i.rd);
        } else fpDirtied = true; // an f register written: FS = Dirty now
        break;
      }
      case 'nop':
        break;
    }
  }
  if (!ended) {
    // Straight on into another block of this module (no check: run.ts checks nothing here), or leave.
    const last = insns[n - 1];
    const next = last.off + last.len;
    const j = next < 4096 ? headIndex.get(next) : undefined;
    prep(n, 0, false, () => pcAt(next));
    // Past the page's end the interpreter breaks to the block boundary (status 1: jitChain may go on).
    if (j !== undefined) chainTo(j);
    else go(next >= 4096 ? 1 : n === MAX_BLOCK ? 2 : 0);
  }
  c.op(Op.end); // $L
  c.op(Op.unreachable); // (every path above branches to $E)
  c.op(Op.end); // $E
  // The epilogue: store the written registers, count the exit (and the loop's iterations), then
  // tail-call the chain target or leave.
  finish();
  // Status 1 (out of the page, or the deadline reached): where the run loop would break to the
  // block boundary. jitChain does what that boundary would when it has nothing to do, and gives
  // the compiled block at the new pc (another page's, through its frame's block map), or -1.
  c.get(EST).i32(1).op(Op.i32Eq).byte(Op.if).byte(VOID);
  c.get(EPC).get(P_CYC).get(P_DL).byte(Op.call).u32(helperIndex('jitChain')).tee(A).i32(0).op(Op.i32GeS).byte(Op.if).byte(VOID);
  c.get(EPC).get(P_CYC).get(P_LEFT).get(P_DL).get(P_TR).get(P_TW).get(A);
  c.byte(Op.returnCallIndirect).u32(BLOCK_TYPE).u32(0); // table 0
  c.op(Op.end);
  c.op(Op.end);
  // Status 2 (a transfer to an offset of this page — every exit with status 2 checked that — that
  // no block of this function's module starts at): if the block map has compiled code there
  // (another module of the page), go on in it through the function table; else leave (the run
  // loop looks there).
  c.get(EST).i32(2).op(Op.i32Eq).byte(Op.if).byte(VOID);
  c.get(EPC).get(PV).op(Op.i64Sub).op(Op.i32WrapI64).i32(L.J_MAPBASE).mem(Op.i32Load, 2).op(Op.i32Add).mem(Op.i32Load16U, 1).tee(A);
  c.i32(L.JE_COMPILED).op(Op.i32GeU).byte(Op.if).byte(VOID);
  c.get(EPC).get(P_CYC).get(P_LEFT).get(P_DL).get(P_TR).get(P_TW).get(A).i32(L.JE_COMPILED - 1).op(Op.i32And);
  c.byte(Op.returnCallIndirect).u32(BLOCK_TYPE).u32(0); // table 0
  c.op(Op.end);
  c.op(Op.end);
  c.i32(L.J_PC).get(EPC).mem(Op.i64Store, 3);
  c.i32(L.J_CYCLES).get(P_CYC).mem(Op.i64Store, 3);
  c.i32(L.J_LEFT).get(P_LEFT).mem(Op.i64Store, 3);
  c.get(EST);
  return { body: c, locals: [...LOCALS, ...(nl > R0 ? [[nl - R0, I64] as [number, number]] : [])] };
}

/** run.ts takenExtra: LAT[branch taken] - LAT[branch] as the u64 the interpreter adds. */
export function takenExtraOf(dv: DataView): bigint {
  const taken = dv.getUint8(L.LAT_BASE + L.TIMING_CLASS_BRANCH_TAKEN);
  const branch = dv.getUint8(L.LAT_BASE + 1);
  return BigInt.asIntN(64, BigInt(taken - branch));
}
