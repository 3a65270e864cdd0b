/**
 * What the JIT compiles, one row per semantic op of the instruction table (src/isa/table.ts:
 * compressed rows expand to these ops, so `c.addi` compiles as `addi`). The compiler reads the
 * core's decoded slots (operands, immediate, length, class, latency: the table's generated
 * decoder filled them), so there is no second decoder; these rows only say how each op's
 * semantics map to WebAssembly. An op without a row ends a compiled block and the interpreter
 * executes it. Every key must be an op of the table (test/jit/emitters.test.ts).
 *
 * Semantics are the interpreter's (assembly/run.ts), which follows the Unprivileged ISA
 * 20191213 ch. 2 (RV32I), 5 (RV64I) and 7 (M): shifts use the low 6 (W forms: 5) bits of the
 * amount, W forms sign-extend their 32-bit result, comparisons produce 0/1.
 */
import { Op } from './wasm.js';
import { INSN_TABLE, type RegSpec } from '../isa/table.js';

export type Emitter =
  /** rd = ops(rs1, rs2) on i64 values. */
  | { k: 'rr'; ops: number[] }
  /** rd = ops(rs1, imm) on i64 values (imm sign-extended from the slot's i32). */
  | { k: 'ri'; ops: number[] }
  /** rd = sext32(ops(low32(rs1), low32(rs2))). */
  | { k: 'rr32'; ops: number[] }
  /** rd = sext32(ops(low32(rs1), imm)). */
  | { k: 'ri32'; ops: number[] }
  /** rd = core helper(rs1, rs2) (assembly/jit.ts exports the interpreter's alu.ts functions). */
  | { k: 'call'; fn: HelperName }
  | { k: 'lui' }
  | { k: 'auipc' }
  /** rd = load (wasm opcode, log2 alignment) through the host TLB; `am` = size - 1. */
  | { k: 'load'; op: number; am: number }
  | { k: 'store'; op: number; am: number }
  /** Conditional branch: taken when cmp(rs1, rs2). */
  | { k: 'br'; cmp: number }
  | { k: 'jal' }
  | { k: 'jalr' }
  /** No architectural effect in this model (one in-order hart, coherent decode). */
  | { k: 'nop' }
  /**
   * Bit manipulation and Zicond: rd = the core's jitBit(op, rs1, rs2, imm), the interpreter's own
   * bitmanip.ts bitOp (a slot decodes to these ops only when their extension is enabled).
   */
  | { k: 'bit' }
  /**
   * AMO (A extension): through the host TLB's write array (a write mapping is readable: W without
   * R is reserved; misaligned addresses miss on the tag's alignment bits and the interpreter
   * raises), rd = the old value (W forms sign-extended), memory = f(old, rs2). aq/rl change nothing
   * on one in-order hart; AMOs leave the LR reservation alone, as in the interpreter.
   */
  | { k: 'amo'; w: boolean; f: AmoFn }
  /**
   * LR (A extension): a load through the host TLB's read array (an entry maps readable plain RAM;
   * misaligned addresses miss on the tag's alignment bits and the interpreter raises), rd = the
   * value (lr.w sign-extended), the reservation (H_RESV) = the word's host address, as run.ts
   * OP_LR_W/OP_LR_D and mmu.ts amoAddress do.
   */
  | { k: 'lr'; w: boolean }
  /**
   * SC: through the write array (SC needs store permission whether it succeeds or not: a miss
   * leaves it to the interpreter); it succeeds only when the reservation is this word's host
   * address, and the reservation is gone either way (Unpriv 8.2); rd = 0 on success, 1 on failure.
   */
  | { k: 'sc'; w: boolean }
  /**
   * F and D (every base row of those extensions): loads and stores inline, common cases inline (compiler.ts FP_INLINE), the
   * rest through the core's jitFp (assembly/jitfp.ts), the interpreter's own operations on the f
   * registers and fcsr in memory. `xr`: rs1 is an x register (its value is passed); `xw`: rd is an
   * x register (the result goes there); `mem`: a load or store of `am` + 1 bytes through the host
   * TLB; `rm`: the row has an rm field.
   */
  | { k: 'fp'; xr: boolean; xw: boolean; mem?: 'load' | 'store'; am: number; rm: boolean };

export type AmoFn = 'swap' | 'add' | 'xor' | 'and' | 'or' | 'min' | 'max' | 'minu' | 'maxu';

/**
 * The core's exports compiled code imports, with their signatures: 'alu' (i64, i64) → i64 (the
 * interpreter's alu.ts functions), 'bit' (i32, i64, i64, i64) → i64 (bitmanip.ts bitOp), 'chain'
 * (i64, i64, i64) → i32 (jit.ts jitChain), 'fp' (i32, i32, i32, i64) → i64 (jitfp.ts jitFp), 'fma'
 * (i64, i64, i64) → i64 (jitfp.ts jitFma, jitFma32). A module imports them in this order: a helper's function
 * index is its position (helperIndex).
 */
export const HELPER_SIGS = {
  jitMulh: 'alu', jitMulhu: 'alu', jitMulhsu: 'alu', jitDiv: 'alu', jitDivu: 'alu', jitRem: 'alu', jitRemu: 'alu',
  jitDivw: 'alu', jitDivuw: 'alu', jitRemw: 'alu', jitRemuw: 'alu', jitBit: 'bit', jitChain: 'chain', jitFp: 'fp', jitFma: 'fma', jitFma32: 'fma',
} as const;
export type HelperName = keyof typeof HELPER_SIGS;
export const HELPERS = Object.keys(HELPER_SIGS) as HelperName[];
/** The function index of helper `name` in every compiled module. */
export function helperIndex(name: HelperName): number {
  return HELPERS.indexOf(name);
}

const ltU = [Op.i64LtU, Op.i64ExtendI32U];
const ltS = [Op.i64LtS, Op.i64ExtendI32U];

export const EMITTERS: Readonly<Record<string, Emitter>> = {
  lui: { k: 'lui' },
  auipc: { k: 'auipc' },
  jal: { k: 'jal' },
  jalr: { k: 'jalr' },
  beq: { k: 'br', cmp: Op.i64Eq },
  bne: { k: 'br', cmp: Op.i64Ne },
  blt: { k: 'br', cmp: Op.i64LtS },
  bge: { k: 'br', cmp: Op.i64GeS },
  bltu: { k: 'br', cmp: Op.i64LtU },
  bgeu: { k: 'br', cmp: Op.i64GeU },
  lb: { k: 'load', op: Op.i64Load8S, am: 0 },
  lh: { k: 'load', op: Op.i64Load16S, am: 1 },
  lw: { k: 'load', op: Op.i64Load32S, am: 3 },
  ld: { k: 'load', op: Op.i64Load, am: 7 },
  lbu: { k: 'load', op: Op.i64Load8U, am: 0 },
  lhu: { k: 'load', op: Op.i64Load16U, am: 1 },
  lwu: { k: 'load', op: Op.i64Load32U, am: 3 },
  sb: { k: 'store', op: Op.i64Store8, am: 0 },
  sh: { k: 'store', op: Op.i64Store16, am: 1 },
  sw: { k: 'store', op: Op.i64Store32, am: 3 },
  sd: { k: 'store', op: Op.i64Store, am: 7 },
  addi: { k: 'ri', ops: [Op.i64Add] },
  slti: { k: 'ri', ops: ltS },
  sltiu: { k: 'ri', ops: ltU },
  xori: { k: 'ri', ops: [Op.i64Xor] },
  ori: { k: 'ri', ops: [Op.i64Or] },
  andi: { k: 'ri', ops: [Op.i64And] },
  slli: { k: 'ri', ops: [Op.i64Shl] },
  srli: { k: 'ri', ops: [Op.i64ShrU] },
  srai: { k: 'ri', ops: [Op.i64ShrS] },
  add: { k: 'rr', ops: [Op.i64Add] },
  sub: { k: 'rr', ops: [Op.i64Sub] },
  sll: { k: 'rr', ops: [Op.i64Shl] }, // wasm shifts take the amount mod 64, as RV64 does
  slt: { k: 'rr', ops: ltS },
  sltu: { k: 'rr', ops: ltU },
  xor: { k: 'rr', ops: [Op.i64Xor] },
  srl: { k: 'rr', ops: [Op.i64ShrU] },
  sra: { k: 'rr', ops: [Op.i64ShrS] },
  or: { k: 'rr', ops: [Op.i64Or] },
  and: { k: 'rr', ops: [Op.i64And] },
  addiw: { k: 'ri32', ops: [Op.i32Add] },
  slliw: { k: 'ri32', ops: [Op.i32Shl] },
  srliw: { k: 'ri32', ops: [Op.i32ShrU] },
  sraiw: { k: 'ri32', ops: [Op.i32ShrS] },
  addw: { k: 'rr32', ops: [Op.i32Add] },
  subw: { k: 'rr32', ops: [Op.i32Sub] },
  sllw: { k: 'rr32', ops: [Op.i32Shl] }, // mod 32, as the W forms
  srlw: { k: 'rr32', ops: [Op.i32ShrU] },
  sraw: { k: 'rr32', ops: [Op.i32ShrS] },
  fence: { k: 'nop' },
  'fence.i': { k: 'nop' },
  mul: { k: 'rr', ops: [Op.i64Mul] },
  mulw: { k: 'rr32', ops: [Op.i32Mul] },
  mulh: { k: 'call', fn: 'jitMulh' },
  mulhu: { k: 'call', fn: 'jitMulhu' },
  mulhsu: { k: 'call', fn: 'jitMulhsu' },
  div: { k: 'call', fn: 'jitDiv' },
  divu: { k: 'call', fn: 'jitDivu' },
  rem: { k: 'call', fn: 'jitRem' },
  remu: { k: 'call', fn: 'jitRemu' },
  divw: { k: 'call', fn: 'jitDivw' },
  divuw: { k: 'call', fn: 'jitDivuw' },
  remw: { k: 'call', fn: 'jitRemw' },
  remuw: { k: 'call', fn: 'jitRemuw' },
};
for (const w of ['w', 'd'] as const) {
  (EMITTERS as Record<string, Emitter>)[`lr.${w}`] = { k: 'lr', w: w === 'w' };
  (EMITTERS as Record<string, Emitter>)[`sc.${w}`] = { k: 'sc', w: w === 'w' };
  for (const f of ['swap', 'add', 'xor', 'and', 'or', 'min', 'max', 'minu', 'maxu'] as const) {
    (EMITTERS as Record<string, Emitter>)[`amo${f}.${w}`] = { k: 'amo', w: w === 'w', f };
  }
}
/** Zba, Zbb, Zbc, Zbs, Zbkb, Zbkx and Zicond rows (assembly/bitmanip.ts bitOp implements them all). */
export const BIT_OPS = [
  'add.uw', 'sh1add', 'sh2add', 'sh3add', 'sh1add.uw', 'sh2add.uw', 'sh3add.uw', 'slli.uw', 'andn', 'orn', 'xnor',
  'clz', 'ctz', 'cpop', 'sext.b', 'sext.h', 'clzw', 'ctzw', 'cpopw', 'max', 'maxu', 'min', 'minu', 'zext.h', 'rol',
  'ror', 'rori', 'rolw', 'rorw', 'roriw', 'orc.b', 'rev8', 'clmul', 'clmulh', 'clmulr', 'bclr', 'bclri', 'bext',
  'bexti', 'binv', 'binvi', 'bset', 'bseti', 'pack', 'packh', 'packw', 'brev8', 'xperm4', 'xperm8', 'czero.eqz',
  'czero.nez',
] as const;
for (const op of BIT_OPS) (EMITTERS as Record<string, Emitter>)[op] = { k: 'bit' };

/**
 * The F and D rows (Unpriv ch. 11, 12: every base row of the table's F and D extensions; the
 * compressed c.fld/c.fsd forms expand to fld/fsd). Zfh and Zfa stay with the interpreter: their
 * operations (fpu16.ts, zfa.ts) read and write x registers in memory, where compiled code keeps
 * them in locals.
 */
const isF = (s: RegSpec | undefined): boolean => !!s && !('fixed' in s) && s.f === true;
for (const row of INSN_TABLE) {
  if ((row.ext !== 'F' && row.ext !== 'D') || row.name !== row.op) continue;
  const f = row.format;
  const mem = row.cls === 'fload' ? 'load' : row.cls === 'fstore' ? 'store' : undefined;
  (EMITTERS as Record<string, Emitter>)[row.op] = {
    k: 'fp', mem, rm: !!f.rm,
    xr: mem === undefined && !!f.rs1 && !isF(f.rs1),
    xw: !!f.rd && !isF(f.rd),
    am: mem === undefined ? 0 : row.op === 'flw' || row.op === 'fsw' ? 3 : 7,
  };
}
