/**
 * THE instruction table. One row per instruction encoding; it drives
 *   - the core's decoder (scripts/gen.ts generates assembly/generated/decode.ts from it),
 *   - the disassembler (src/isa/disasm.ts interprets the rows at run time),
 *   - the encoder the tests use to build instruction words (src/isa/encode.ts),
 *   - the overlap test (test/isa-table.test.ts), like Spike's check-opcode-overlap.
 *
 * A row says: the mnemonic, the fixed bits (match/mask), the operand format (which instruction bits
 * hold which register and immediate bits: the same description is used to decode and to encode),
 * the semantic op it executes (compressed rows expand to the base op: c.addi executes `addi`),
 * the extension and the timing class. Immediates are described as bit segments
 * [insnHi, insnLo, immLo]: instruction bits insnHi..insnLo land at immediate bit immLo upward.
 *
 * Spec references: RISC-V Unprivileged ISA 20191213 ch. 2 (RV32I), 5 (RV64I), 7 (M), 8 (A), 9
 * (Zicsr), 11 (F), 12 (D), 16 (C, tables 16.5-16.7); Privileged ISA 1.12 §3.3 (mret, wfi),
 * §4.2.1 (sfence.vma).
 */
import type { TimingClass } from './classes.js';

export type Ext =
  | 'I' | 'M' | 'A' | 'F' | 'D' | 'C' | 'Zicsr' | 'Zifencei' | 'Priv' | 'H'
  | GatedExt;

/**
 * Extensions a `--cpu` key can turn off (src/board/cpu.ts). The generated decoder tests a row of
 * these against the core's enabled-extension mask (assembly/isaext.ts), so an instruction of an
 * extension that is off decodes as illegal, exactly as on a hart without it. The order is the bit
 * number in that mask (the ABI between src/board/cpu.ts and the core).
 */
export const GATED_EXTS = [
  'Zba', 'Zbb', 'Zbc', 'Zbs', 'Zbkb', 'Zbkc', 'Zbkx', 'Zicond', 'Zicbom', 'Zicboz', 'Svinval',
  // No instructions of their own: the page-table walker (assembly/mmu.ts) reads these bits.
  'Svnapot', 'Svpbmt',
  // Half precision (binary16); Zfhmin is the load/store/move/convert subset of Zfh.
  'Zfh', 'Zfhmin',
  // No instructions: counter overflow, scountovf and LCOFI (assembly/hpm.ts, csr.ts) read this bit.
  'Sscofpmf',
  // Additional FP instructions (RVA23): fli, fminm/fmaxm, fround(nx), fcvtmod.w.d, fleq/fltq.
  'Zfa',
  // No instructions: hideleg bit 13 writable, LCOFI delegable to VS-mode (assembly/csr.ts). Off
  // unless asked for (src/board/cpu.ts DEFAULT_OFF, assembly/isaext.ts extOn).
  'Shlcofideleg',
] as const;
export type GatedExt = (typeof GATED_EXTS)[number];

/**
 * A register operand: bits [hi:lo] of the instruction, plus `add` (8 for the compressed x8..x15 forms).
 * `f` marks a floating-point register f0..f31: the decoder does not redirect an f rd = 0 to the
 * x0 sink (f0 is a real register), and the disassembler prints FP ABI names.
 */
export interface RegField {
  hi: number;
  lo: number;
  add?: number;
  f?: boolean;
}
/** A register operand fixed by the encoding (c.addi4spn's rs1 = sp). */
export interface FixedReg {
  fixed: number;
}
export type RegSpec = RegField | FixedReg;

export interface ImmSpec {
  segs: ReadonlyArray<readonly [number, number, number]>;
  signed: boolean;
}

/**
 * Operand format. `rs1` doubling as a 5-bit unsigned immediate (csrrwi) is just a register field
 * whose value the semantics read as a number.
 */
export interface Format {
  name: string;
  rd?: RegSpec;
  rs1?: RegSpec;
  rs2?: RegSpec;
  /** Third source register (R4 format of the fused multiply-adds, bits 31:27). */
  rs3?: RegField;
  /** Rounding-mode field (bits 14:12 of OP-FP / FMADD..., Unpriv 11.2). */
  rm?: RegField;
  imm?: ImmSpec;
  /**
   * How the disassembler prints operands; tokens: rd rs1 rs2 rs3 imm csr uimm off(rs1) target, and
   * `, rm` (the rounding-mode suffix, left out when rm = dyn).
   */
  asm: string;
}

export type FieldName = 'rd' | 'rs1' | 'rs2' | 'rs3' | 'rm' | 'imm';

/** A field value an encoding forbids (reserved or belonging to another row), e.g. c.jr with rs1 = 0. */
export interface Constraint {
  field: FieldName;
  not: readonly number[];
}

export interface InsnRow {
  name: string;
  /** 16 for compressed rows, 32 otherwise. */
  width: 16 | 32;
  match: number;
  mask: number;
  format: Format;
  /** Semantic op executed; base rows use their own name. */
  op: string;
  ext: Ext;
  cls: TimingClass;
  /** Only valid on RV64 (all rows are valid on our RV64 core; kept for the disassembler's sake). */
  rv64?: boolean;
  constraints?: readonly Constraint[];
  /**
   * Other extensions that also define this encoding (rol is in Zbb and Zbkb; clmul in Zbc and
   * Zbkc): the row decodes when any of `ext` and `also` is enabled.
   */
  also?: readonly GatedExt[];
}

// ---------------------------------------------------------------------------------------------
// Register and immediate fields
const RD: RegField = { hi: 11, lo: 7 };
const RS1: RegField = { hi: 19, lo: 15 };
const RS2: RegField = { hi: 24, lo: 20 };
// Compressed: full 5-bit fields and the 3-bit x8..x15 ("prime") fields (Unpriv 16.2).
const C_RD: RegField = { hi: 11, lo: 7 };
const C_RS2: RegField = { hi: 6, lo: 2 };
const C_RDP: RegField = { hi: 4, lo: 2, add: 8 };
const C_RS1P: RegField = { hi: 9, lo: 7, add: 8 };
const C_RS2P: RegField = { hi: 4, lo: 2, add: 8 };
// Floating-point register fields (Unpriv ch. 11) and the rounding mode.
const FRD: RegField = { hi: 11, lo: 7, f: true };
const FRS1: RegField = { hi: 19, lo: 15, f: true };
const FRS2: RegField = { hi: 24, lo: 20, f: true };
const FRS3: RegField = { hi: 31, lo: 27, f: true };
const RM: RegField = { hi: 14, lo: 12 };
const C_FRDP: RegField = { hi: 4, lo: 2, add: 8, f: true };
const C_FRS2P: RegField = { hi: 4, lo: 2, add: 8, f: true };
const C_FRD: RegField = { hi: 11, lo: 7, f: true };
const C_FRS2: RegField = { hi: 6, lo: 2, f: true };
const X0: FixedReg = { fixed: 0 };
const RA: FixedReg = { fixed: 1 };
const SP: FixedReg = { fixed: 2 };

const imm = (signed: boolean, ...segs: Array<[number, number, number]>): ImmSpec => ({ segs, signed });

// ---------------------------------------------------------------------------------------------
// Formats (Unpriv figure 2.3 / 2.4 for the base, table 16.1 for compressed)
export const FORMATS = {
  R: { name: 'R', rd: RD, rs1: RS1, rs2: RS2, asm: 'rd, rs1, rs2' },
  I: { name: 'I', rd: RD, rs1: RS1, imm: imm(true, [31, 20, 0]), asm: 'rd, rs1, imm' },
  I_LOAD: { name: 'I_LOAD', rd: RD, rs1: RS1, imm: imm(true, [31, 20, 0]), asm: 'rd, off(rs1)' },
  I_JALR: { name: 'I_JALR', rd: RD, rs1: RS1, imm: imm(true, [31, 20, 0]), asm: 'rd, off(rs1)' },
  I_SH64: { name: 'I_SH64', rd: RD, rs1: RS1, imm: imm(false, [25, 20, 0]), asm: 'rd, rs1, imm' },
  I_SH32: { name: 'I_SH32', rd: RD, rs1: RS1, imm: imm(false, [24, 20, 0]), asm: 'rd, rs1, imm' },
  S: { name: 'S', rs1: RS1, rs2: RS2, imm: imm(true, [31, 25, 5], [11, 7, 0]), asm: 'rs2, off(rs1)' },
  B: {
    name: 'B',
    rs1: RS1,
    rs2: RS2,
    imm: imm(true, [31, 31, 12], [7, 7, 11], [30, 25, 5], [11, 8, 1]),
    asm: 'rs1, rs2, target',
  },
  U: { name: 'U', rd: RD, imm: imm(true, [31, 12, 12]), asm: 'rd, uimm20' },
  J: {
    name: 'J',
    rd: RD,
    imm: imm(true, [31, 31, 20], [19, 12, 12], [20, 20, 11], [30, 21, 1]),
    asm: 'rd, target',
  },
  CSR: { name: 'CSR', rd: RD, rs1: RS1, imm: imm(false, [31, 20, 0]), asm: 'rd, csr, rs1' },
  CSRI: { name: 'CSRI', rd: RD, rs1: RS1, imm: imm(false, [31, 20, 0]), asm: 'rd, csr, uimm' },
  AMO: { name: 'AMO', rd: RD, rs1: RS1, rs2: RS2, asm: 'rd, rs2, (rs1)' },
  LR: { name: 'LR', rd: RD, rs1: RS1, asm: 'rd, (rs1)' },
  NONE: { name: 'NONE', asm: '' },
  SFENCE: { name: 'SFENCE', rs1: RS1, rs2: RS2, asm: 'rs1, rs2' },
  /** Bit-manipulation unary ops (clz, rev8, sext.b...): rd, rs1 only. */
  R1: { name: 'R1', rd: RD, rs1: RS1, asm: 'rd, rs1' },
  /** Cache-block operations (Zicbom/Zicboz): the block address in rs1, no offset. */
  CBO: { name: 'CBO', rs1: RS1, asm: '(rs1)' },
  // H extension: HSV.* stores rs2 at the guest virtual address in rs1.
  HSV: { name: 'HSV', rs1: RS1, rs2: RS2, asm: 'rs2, (rs1)' },
  // --- F/D (Unpriv ch. 11, 12). rd/rs are f registers unless the name says X.
  FLOAD: { name: 'FLOAD', rd: FRD, rs1: RS1, imm: imm(true, [31, 20, 0]), asm: 'rd, off(rs1)' },
  FSTORE: { name: 'FSTORE', rs1: RS1, rs2: FRS2, imm: imm(true, [31, 25, 5], [11, 7, 0]), asm: 'rs2, off(rs1)' },
  R4: { name: 'R4', rd: FRD, rs1: FRS1, rs2: FRS2, rs3: FRS3, rm: RM, asm: 'rd, rs1, rs2, rs3, rm' },
  FR_RM: { name: 'FR_RM', rd: FRD, rs1: FRS1, rs2: FRS2, rm: RM, asm: 'rd, rs1, rs2, rm' },
  FR: { name: 'FR', rd: FRD, rs1: FRS1, rs2: FRS2, asm: 'rd, rs1, rs2' },
  FR1_RM: { name: 'FR1_RM', rd: FRD, rs1: FRS1, rm: RM, asm: 'rd, rs1, rm' },
  FCMP: { name: 'FCMP', rd: RD, rs1: FRS1, rs2: FRS2, asm: 'rd, rs1, rs2' },
  F2X_RM: { name: 'F2X_RM', rd: RD, rs1: FRS1, rm: RM, asm: 'rd, rs1, rm' },
  F2X: { name: 'F2X', rd: RD, rs1: FRS1, asm: 'rd, rs1' },
  X2F_RM: { name: 'X2F_RM', rd: FRD, rs1: RS1, rm: RM, asm: 'rd, rs1, rm' },
  X2F: { name: 'X2F', rd: FRD, rs1: RS1, asm: 'rd, rs1' },
  /** Zfa fli: rs1 is the index of the constant (a number, like csrrwi's uimm). */
  FLI: { name: 'FLI', rd: FRD, rs1: RS1, asm: 'rd, uimm' },

  // --- compressed (quadrant 0)
  CIW_ADDI4SPN: {
    name: 'CIW_ADDI4SPN',
    rd: C_RDP,
    rs1: SP,
    imm: imm(false, [12, 11, 4], [10, 7, 6], [6, 6, 2], [5, 5, 3]),
    asm: 'rd, rs1, imm',
  },
  CL_W: { name: 'CL_W', rd: C_RDP, rs1: C_RS1P, imm: imm(false, [12, 10, 3], [6, 6, 2], [5, 5, 6]), asm: 'rd, off(rs1)' },
  CL_D: { name: 'CL_D', rd: C_RDP, rs1: C_RS1P, imm: imm(false, [12, 10, 3], [6, 5, 6]), asm: 'rd, off(rs1)' },
  CS_W: { name: 'CS_W', rs1: C_RS1P, rs2: C_RS2P, imm: imm(false, [12, 10, 3], [6, 6, 2], [5, 5, 6]), asm: 'rs2, off(rs1)' },
  CS_D: { name: 'CS_D', rs1: C_RS1P, rs2: C_RS2P, imm: imm(false, [12, 10, 3], [6, 5, 6]), asm: 'rs2, off(rs1)' },
  CL_FD: { name: 'CL_FD', rd: C_FRDP, rs1: C_RS1P, imm: imm(false, [12, 10, 3], [6, 5, 6]), asm: 'rd, off(rs1)' },
  CS_FD: { name: 'CS_FD', rs1: C_RS1P, rs2: C_FRS2P, imm: imm(false, [12, 10, 3], [6, 5, 6]), asm: 'rs2, off(rs1)' },
  // --- quadrant 1
  CI: { name: 'CI', rd: C_RD, rs1: C_RD, imm: imm(true, [12, 12, 5], [6, 2, 0]), asm: 'rd, imm' },
  CI_LI: { name: 'CI_LI', rd: C_RD, rs1: X0, imm: imm(true, [12, 12, 5], [6, 2, 0]), asm: 'rd, imm' },
  CI_LUI: { name: 'CI_LUI', rd: C_RD, imm: imm(true, [12, 12, 17], [6, 2, 12]), asm: 'rd, uimm20' },
  CI_ADDI16SP: {
    name: 'CI_ADDI16SP',
    rd: SP,
    rs1: SP,
    imm: imm(true, [12, 12, 9], [6, 6, 4], [5, 5, 6], [4, 3, 7], [2, 2, 5]),
    asm: 'rd, imm',
  },
  CB_SH: { name: 'CB_SH', rd: C_RS1P, rs1: C_RS1P, imm: imm(false, [12, 12, 5], [6, 2, 0]), asm: 'rd, imm' },
  CB_ANDI: { name: 'CB_ANDI', rd: C_RS1P, rs1: C_RS1P, imm: imm(true, [12, 12, 5], [6, 2, 0]), asm: 'rd, imm' },
  CA: { name: 'CA', rd: C_RS1P, rs1: C_RS1P, rs2: C_RS2P, asm: 'rd, rs2' },
  CJ: {
    name: 'CJ',
    rd: X0,
    imm: imm(true, [12, 12, 11], [11, 11, 4], [10, 9, 8], [8, 8, 10], [7, 7, 6], [6, 6, 7], [5, 3, 1], [2, 2, 5]),
    asm: 'target',
  },
  CB: {
    name: 'CB',
    rs1: C_RS1P,
    rs2: X0,
    imm: imm(true, [12, 12, 8], [11, 10, 3], [6, 5, 6], [4, 3, 1], [2, 2, 5]),
    asm: 'rs1, target',
  },
  // --- quadrant 2
  CI_SLLI: { name: 'CI_SLLI', rd: C_RD, rs1: C_RD, imm: imm(false, [12, 12, 5], [6, 2, 0]), asm: 'rd, imm' },
  CI_LWSP: { name: 'CI_LWSP', rd: C_RD, rs1: SP, imm: imm(false, [12, 12, 5], [6, 4, 2], [3, 2, 6]), asm: 'rd, off(rs1)' },
  CI_LDSP: { name: 'CI_LDSP', rd: C_RD, rs1: SP, imm: imm(false, [12, 12, 5], [6, 5, 3], [4, 2, 6]), asm: 'rd, off(rs1)' },
  CSS_SWSP: { name: 'CSS_SWSP', rs1: SP, rs2: C_RS2, imm: imm(false, [12, 9, 2], [8, 7, 6]), asm: 'rs2, off(rs1)' },
  CSS_SDSP: { name: 'CSS_SDSP', rs1: SP, rs2: C_RS2, imm: imm(false, [12, 10, 3], [9, 7, 6]), asm: 'rs2, off(rs1)' },
  CI_FLDSP: { name: 'CI_FLDSP', rd: C_FRD, rs1: SP, imm: imm(false, [12, 12, 5], [6, 5, 3], [4, 2, 6]), asm: 'rd, off(rs1)' },
  CSS_FSDSP: { name: 'CSS_FSDSP', rs1: SP, rs2: C_FRS2, imm: imm(false, [12, 10, 3], [9, 7, 6]), asm: 'rs2, off(rs1)' },
  CR_JR: { name: 'CR_JR', rd: X0, rs1: C_RD, asm: 'rs1' },
  CR_JALR: { name: 'CR_JALR', rd: RA, rs1: C_RD, asm: 'rs1' },
  CR_MV: { name: 'CR_MV', rd: C_RD, rs1: X0, rs2: C_RS2, asm: 'rd, rs2' },
  CR_ADD: { name: 'CR_ADD', rd: C_RD, rs1: C_RD, rs2: C_RS2, asm: 'rd, rs2' },
} as const satisfies Record<string, Format>;

// ---------------------------------------------------------------------------------------------
// Match/mask builders
/** Build match/mask from [hi, lo, value] bit fields. */
function bits(...fields: Array<[number, number, number]>): { match: number; mask: number } {
  let match = 0;
  let mask = 0;
  for (const [hi, lo, value] of fields) {
    const width = hi - lo + 1;
    const m = (width >= 32 ? 0xffffffff : (1 << width) - 1) >>> 0;
    if ((value >>> 0) > m) throw new Error(`field value ${value} does not fit bits ${hi}:${lo}`);
    mask = (mask | (m << lo)) >>> 0;
    match = (match | ((value & m) << lo)) >>> 0;
  }
  return { match, mask };
}

const rows: InsnRow[] = [];

function row(
  name: string,
  enc: { match: number; mask: number },
  format: Format,
  ext: Ext,
  cls: TimingClass,
  extra: Partial<Pick<InsnRow, 'op' | 'rv64' | 'constraints' | 'also'>> = {},
): void {
  const width = (enc.match & 3) === 3 && (enc.mask & 3) === 3 ? 32 : 16;
  rows.push({ name, width, match: enc.match, mask: enc.mask, format, op: extra.op ?? name, ext, cls, ...extra });
}

const F = FORMATS;
/** 32-bit major opcode + funct3 (+ funct7). */
const op3 = (opcode: number, f3: number) => bits([6, 0, opcode], [14, 12, f3]);
const op37 = (opcode: number, f3: number, f7: number) => bits([6, 0, opcode], [14, 12, f3], [31, 25, f7]);
/** Compressed quadrant + funct3. */
const cq = (quadrant: number, f3: number, ...more: Array<[number, number, number]>) =>
  bits([1, 0, quadrant], [15, 13, f3], ...more);

// --- RV64I (Unpriv ch. 2 and 5)
row('lui', bits([6, 0, 0x37]), F.U, 'I', 'alu');
row('auipc', bits([6, 0, 0x17]), F.U, 'I', 'alu');
row('jal', bits([6, 0, 0x6f]), F.J, 'I', 'jump');
row('jalr', op3(0x67, 0), F.I_JALR, 'I', 'jump');
for (const [name, f3] of [['beq', 0], ['bne', 1], ['blt', 4], ['bge', 5], ['bltu', 6], ['bgeu', 7]] as const)
  row(name, op3(0x63, f3), F.B, 'I', 'branch');
for (const [name, f3] of [['lb', 0], ['lh', 1], ['lw', 2], ['ld', 3], ['lbu', 4], ['lhu', 5], ['lwu', 6]] as const)
  row(name, op3(0x03, f3), F.I_LOAD, 'I', 'load');
for (const [name, f3] of [['sb', 0], ['sh', 1], ['sw', 2], ['sd', 3]] as const) row(name, op3(0x23, f3), F.S, 'I', 'store');
for (const [name, f3] of [['addi', 0], ['slti', 2], ['sltiu', 3], ['xori', 4], ['ori', 6], ['andi', 7]] as const)
  row(name, op3(0x13, f3), F.I, 'I', 'alu');
row('slli', bits([6, 0, 0x13], [14, 12, 1], [31, 26, 0]), F.I_SH64, 'I', 'alu');
row('srli', bits([6, 0, 0x13], [14, 12, 5], [31, 26, 0]), F.I_SH64, 'I', 'alu');
row('srai', bits([6, 0, 0x13], [14, 12, 5], [31, 26, 0x10]), F.I_SH64, 'I', 'alu');
for (const [name, f3, f7] of [
  ['add', 0, 0], ['sub', 0, 0x20], ['sll', 1, 0], ['slt', 2, 0], ['sltu', 3, 0],
  ['xor', 4, 0], ['srl', 5, 0], ['sra', 5, 0x20], ['or', 6, 0], ['and', 7, 0],
] as const)
  row(name, op37(0x33, f3, f7), F.R, 'I', 'alu');
row('addiw', op3(0x1b, 0), F.I, 'I', 'alu', { rv64: true });
row('slliw', op37(0x1b, 1, 0), F.I_SH32, 'I', 'alu', { rv64: true });
row('srliw', op37(0x1b, 5, 0), F.I_SH32, 'I', 'alu', { rv64: true });
row('sraiw', op37(0x1b, 5, 0x20), F.I_SH32, 'I', 'alu', { rv64: true });
for (const [name, f3, f7] of [['addw', 0, 0], ['subw', 0, 0x20], ['sllw', 1, 0], ['srlw', 5, 0], ['sraw', 5, 0x20]] as const)
  row(name, op37(0x3b, f3, f7), F.R, 'I', 'alu', { rv64: true });
// FENCE: fm/pred/succ/rs1/rd are hints or reserved; every encoding executes as a full fence (Unpriv 2.7).
row('fence', op3(0x0f, 0), F.NONE, 'I', 'fence');
row('fence.i', op3(0x0f, 1), F.NONE, 'Zifencei', 'fence');
row('ecall', bits([31, 0, 0x00000073]), F.NONE, 'I', 'system');
row('ebreak', bits([31, 0, 0x00100073]), F.NONE, 'I', 'system');

// --- M (Unpriv ch. 7)
for (const [name, f3, cls] of [
  ['mul', 0, 'mul'], ['mulh', 1, 'mul'], ['mulhsu', 2, 'mul'], ['mulhu', 3, 'mul'],
  ['div', 4, 'div'], ['divu', 5, 'div'], ['rem', 6, 'div'], ['remu', 7, 'div'],
] as const)
  row(name, op37(0x33, f3, 1), F.R, 'M', cls);
for (const [name, f3, cls] of [['mulw', 0, 'mul'], ['divw', 4, 'divw'], ['divuw', 5, 'divw'], ['remw', 6, 'divw'], ['remuw', 7, 'divw']] as const)
  row(name, op37(0x3b, f3, 1), F.R, 'M', cls, { rv64: true });

// --- A (Unpriv ch. 8): funct5 in [31:27]; aq/rl [26:25] do not change semantics on a single in-order hart.
for (const [width, f3] of [['w', 2], ['d', 3]] as const) {
  const rv64 = width === 'd';
  row(`lr.${width}`, bits([6, 0, 0x2f], [14, 12, f3], [31, 27, 0x02], [24, 20, 0]), F.LR, 'A', 'amo', { rv64 });
  row(`sc.${width}`, bits([6, 0, 0x2f], [14, 12, f3], [31, 27, 0x03]), F.AMO, 'A', 'amo', { rv64 });
  for (const [name, f5] of [
    ['amoswap', 0x01], ['amoadd', 0x00], ['amoxor', 0x04], ['amoand', 0x0c], ['amoor', 0x08],
    ['amomin', 0x10], ['amomax', 0x14], ['amominu', 0x18], ['amomaxu', 0x1c],
  ] as const)
    row(`${name}.${width}`, bits([6, 0, 0x2f], [14, 12, f3], [31, 27, f5]), F.AMO, 'A', 'amo', { rv64 });
}

// --- F and D (Unpriv ch. 11, 12). `fmt` (bits 26:25 of OP-FP and the R4 opcodes): 0 = S, 1 = D.
// Rows with an rm field take rm 0..4 and 7 (dyn); rm 5 and 6 are reserved (Unpriv 11.2) and decode
// as illegal instructions. A dynamic rm is checked against frm when the instruction executes (frm
// 5..7 is illegal then). fcvt.d.s and fcvt.d.w(u) are exact but still carry (and check) an rm,
// as Spike and QEMU do.
const RM_VALID: readonly Constraint[] = [{ field: 'rm', not: [5, 6] }];
for (const [p, fmt, ext, mem] of [['s', 0, 'F', 'w'], ['d', 1, 'D', 'd']] as const) {
  const rm = { constraints: RM_VALID };
  row(`fl${mem}`, op3(0x07, fmt + 2), F.FLOAD, ext, 'fload');
  row(`fs${mem}`, op3(0x27, fmt + 2), F.FSTORE, ext, 'fstore');
  for (const [name, opcode] of [['fmadd', 0x43], ['fmsub', 0x47], ['fnmsub', 0x4b], ['fnmadd', 0x4f]] as const)
    row(`${name}.${p}`, bits([6, 0, opcode], [26, 25, fmt]), F.R4, ext, 'fpu', rm);
  /** OP-FP with funct5 (bits 31:27) and more fixed fields. */
  const opfp = (f5: number, ...more: Array<[number, number, number]>) => bits([6, 0, 0x53], [26, 25, fmt], [31, 27, f5], ...more);
  row(`fadd.${p}`, opfp(0x00), F.FR_RM, ext, 'fpu', rm);
  row(`fsub.${p}`, opfp(0x01), F.FR_RM, ext, 'fpu', rm);
  row(`fmul.${p}`, opfp(0x02), F.FR_RM, ext, 'fpu', rm);
  row(`fdiv.${p}`, opfp(0x03), F.FR_RM, ext, 'fdiv', rm);
  row(`fsqrt.${p}`, opfp(0x0b, [24, 20, 0]), F.FR1_RM, ext, 'fdiv', rm);
  row(`fsgnj.${p}`, opfp(0x04, [14, 12, 0]), F.FR, ext, 'fpu');
  row(`fsgnjn.${p}`, opfp(0x04, [14, 12, 1]), F.FR, ext, 'fpu');
  row(`fsgnjx.${p}`, opfp(0x04, [14, 12, 2]), F.FR, ext, 'fpu');
  row(`fmin.${p}`, opfp(0x05, [14, 12, 0]), F.FR, ext, 'fpu');
  row(`fmax.${p}`, opfp(0x05, [14, 12, 1]), F.FR, ext, 'fpu');
  row(`fcvt.w.${p}`, opfp(0x18, [24, 20, 0]), F.F2X_RM, ext, 'fpu', rm);
  row(`fcvt.wu.${p}`, opfp(0x18, [24, 20, 1]), F.F2X_RM, ext, 'fpu', rm);
  row(`fcvt.l.${p}`, opfp(0x18, [24, 20, 2]), F.F2X_RM, ext, 'fpu', { ...rm, rv64: true });
  row(`fcvt.lu.${p}`, opfp(0x18, [24, 20, 3]), F.F2X_RM, ext, 'fpu', { ...rm, rv64: true });
  row(`fmv.x.${mem}`, opfp(0x1c, [24, 20, 0], [14, 12, 0]), F.F2X, ext, 'fpu', { rv64: p === 'd' });
  row(`fclass.${p}`, opfp(0x1c, [24, 20, 0], [14, 12, 1]), F.F2X, ext, 'fpu');
  row(`feq.${p}`, opfp(0x14, [14, 12, 2]), F.FCMP, ext, 'fpu');
  row(`flt.${p}`, opfp(0x14, [14, 12, 1]), F.FCMP, ext, 'fpu');
  row(`fle.${p}`, opfp(0x14, [14, 12, 0]), F.FCMP, ext, 'fpu');
  row(`fcvt.${p}.w`, opfp(0x1a, [24, 20, 0]), F.X2F_RM, ext, 'fpu', rm);
  row(`fcvt.${p}.wu`, opfp(0x1a, [24, 20, 1]), F.X2F_RM, ext, 'fpu', rm);
  row(`fcvt.${p}.l`, opfp(0x1a, [24, 20, 2]), F.X2F_RM, ext, 'fpu', { ...rm, rv64: true });
  row(`fcvt.${p}.lu`, opfp(0x1a, [24, 20, 3]), F.X2F_RM, ext, 'fpu', { ...rm, rv64: true });
  row(`fmv.${mem}.x`, opfp(0x1e, [24, 20, 0], [14, 12, 0]), F.X2F, ext, 'fpu', { rv64: p === 'd' });
}
// Conversions between the formats (Unpriv 12.5): funct5 = 0x08, fmt = destination, rs2 = source.
row('fcvt.s.d', bits([6, 0, 0x53], [31, 27, 0x08], [26, 25, 0], [24, 20, 1]), F.FR1_RM, 'D', 'fpu', { constraints: RM_VALID });
row('fcvt.d.s', bits([6, 0, 0x53], [31, 27, 0x08], [26, 25, 1], [24, 20, 0]), F.FR1_RM, 'D', 'fpu', { constraints: RM_VALID });

// --- Zicsr (Unpriv ch. 9)
for (const [name, f3] of [['csrrw', 1], ['csrrs', 2], ['csrrc', 3]] as const) row(name, op3(0x73, f3), F.CSR, 'Zicsr', 'csr');
for (const [name, f3] of [['csrrwi', 5], ['csrrsi', 6], ['csrrci', 7]] as const) row(name, op3(0x73, f3), F.CSRI, 'Zicsr', 'csr');

// --- Privileged (Priv 1.12 §3.3.2, §3.3.3, §4.2.1)
row('mret', bits([31, 0, 0x30200073]), F.NONE, 'Priv', 'system');
row('sret', bits([31, 0, 0x10200073]), F.NONE, 'Priv', 'system');
row('wfi', bits([31, 0, 0x10500073]), F.NONE, 'Priv', 'system');
row('sfence.vma', bits([6, 0, 0x73], [14, 7, 0], [31, 25, 0x09]), F.SFENCE, 'Priv', 'fence');

// --- H (Priv spec, "Hypervisor Extension": hypervisor instructions). HFENCE.* as SFENCE.VMA with
// funct7 0x11 / 0x31; HLV/HLVX: funct7 [31:25] selects width, rs2 [24:20] 0 signed, 1 unsigned,
// 3 HLVX; HSV: funct7 selects width, rd = 0; all with funct3 = 4 (SYSTEM).
row('hfence.vvma', bits([6, 0, 0x73], [14, 7, 0], [31, 25, 0x11]), F.SFENCE, 'H', 'fence');
row('hfence.gvma', bits([6, 0, 0x73], [14, 7, 0], [31, 25, 0x31]), F.SFENCE, 'H', 'fence');
for (const [name, f7, r2] of [
  ['hlv.b', 0x30, 0], ['hlv.bu', 0x30, 1], ['hlv.h', 0x32, 0], ['hlv.hu', 0x32, 1], ['hlvx.hu', 0x32, 3],
  ['hlv.w', 0x34, 0], ['hlv.wu', 0x34, 1], ['hlvx.wu', 0x34, 3], ['hlv.d', 0x36, 0],
] as const)
  row(name, bits([6, 0, 0x73], [14, 12, 4], [24, 20, r2], [31, 25, f7]), F.LR, 'H', 'load', { rv64: name === 'hlv.d' || name === 'hlv.wu' });
for (const [name, f7] of [['hsv.b', 0x31], ['hsv.h', 0x33], ['hsv.w', 0x35], ['hsv.d', 0x37]] as const)
  row(name, bits([6, 0, 0x73], [14, 12, 4], [11, 7, 0], [31, 25, f7]), F.HSV, 'H', 'store', { rv64: name === 'hsv.d' });

// --- Bit manipulation (Unpriv 20240411 ch. 28 "B" = Zba + Zbb + Zbs; Zbc; scalar crypto Zbkb,
// Zbkc, Zbkx, vol. I ch. 32). RV64 encodings. Shared encodings are one row with `also`.
/** OP-IMM with the 6-bit shamt form: funct6 in [31:26]. */
const opsh6 = (opcode: number, f3: number, f6: number) => bits([6, 0, opcode], [14, 12, f3], [31, 26, f6]);
/** A unary op: the whole imm12 [31:20] is fixed. */
const op12 = (opcode: number, f3: number, imm12: number) => bits([6, 0, opcode], [14, 12, f3], [31, 20, imm12]);
// Zba (address generation)
row('add.uw', op37(0x3b, 0, 0x04), F.R, 'Zba', 'alu', { rv64: true });
row('sh1add', op37(0x33, 2, 0x10), F.R, 'Zba', 'alu');
row('sh2add', op37(0x33, 4, 0x10), F.R, 'Zba', 'alu');
row('sh3add', op37(0x33, 6, 0x10), F.R, 'Zba', 'alu');
row('sh1add.uw', op37(0x3b, 2, 0x10), F.R, 'Zba', 'alu', { rv64: true });
row('sh2add.uw', op37(0x3b, 4, 0x10), F.R, 'Zba', 'alu', { rv64: true });
row('sh3add.uw', op37(0x3b, 6, 0x10), F.R, 'Zba', 'alu', { rv64: true });
row('slli.uw', opsh6(0x1b, 1, 0x02), F.I_SH64, 'Zba', 'alu', { rv64: true });
// Zbb (basic bit manipulation); andn/orn/xnor/rol/ror/rori/rolw/rorw/roriw/rev8 are also Zbkb.
const ZBKB = { also: ['Zbkb'] as const };
row('andn', op37(0x33, 7, 0x20), F.R, 'Zbb', 'alu', ZBKB);
row('orn', op37(0x33, 6, 0x20), F.R, 'Zbb', 'alu', ZBKB);
row('xnor', op37(0x33, 4, 0x20), F.R, 'Zbb', 'alu', ZBKB);
row('clz', op12(0x13, 1, 0x600), F.R1, 'Zbb', 'alu');
row('ctz', op12(0x13, 1, 0x601), F.R1, 'Zbb', 'alu');
row('cpop', op12(0x13, 1, 0x602), F.R1, 'Zbb', 'alu');
row('sext.b', op12(0x13, 1, 0x604), F.R1, 'Zbb', 'alu');
row('sext.h', op12(0x13, 1, 0x605), F.R1, 'Zbb', 'alu');
row('clzw', op12(0x1b, 1, 0x600), F.R1, 'Zbb', 'alu', { rv64: true });
row('ctzw', op12(0x1b, 1, 0x601), F.R1, 'Zbb', 'alu', { rv64: true });
row('cpopw', op12(0x1b, 1, 0x602), F.R1, 'Zbb', 'alu', { rv64: true });
row('max', op37(0x33, 6, 0x05), F.R, 'Zbb', 'alu');
row('maxu', op37(0x33, 7, 0x05), F.R, 'Zbb', 'alu');
row('min', op37(0x33, 4, 0x05), F.R, 'Zbb', 'alu');
row('minu', op37(0x33, 5, 0x05), F.R, 'Zbb', 'alu');
// zext.h (RV64) is packw rd, rs1, x0: Zbb and Zbkb both define that encoding.
row('zext.h', bits([6, 0, 0x3b], [14, 12, 4], [31, 25, 0x04], [24, 20, 0]), F.R1, 'Zbb', 'alu', { rv64: true, ...ZBKB });
row('rol', op37(0x33, 1, 0x30), F.R, 'Zbb', 'alu', ZBKB);
row('ror', op37(0x33, 5, 0x30), F.R, 'Zbb', 'alu', ZBKB);
row('rori', opsh6(0x13, 5, 0x18), F.I_SH64, 'Zbb', 'alu', ZBKB);
row('rolw', op37(0x3b, 1, 0x30), F.R, 'Zbb', 'alu', { rv64: true, ...ZBKB });
row('rorw', op37(0x3b, 5, 0x30), F.R, 'Zbb', 'alu', { rv64: true, ...ZBKB });
row('roriw', op37(0x1b, 5, 0x30), F.I_SH32, 'Zbb', 'alu', { rv64: true, ...ZBKB });
row('orc.b', op12(0x13, 5, 0x287), F.R1, 'Zbb', 'alu');
row('rev8', op12(0x13, 5, 0x6b8), F.R1, 'Zbb', 'alu', ZBKB);
// Zbc (carry-less multiply); clmul and clmulh are also Zbkc.
row('clmul', op37(0x33, 1, 0x05), F.R, 'Zbc', 'mul', { also: ['Zbkc'] });
row('clmulh', op37(0x33, 3, 0x05), F.R, 'Zbc', 'mul', { also: ['Zbkc'] });
row('clmulr', op37(0x33, 2, 0x05), F.R, 'Zbc', 'mul');
// Zbs (single-bit operations)
row('bclr', op37(0x33, 1, 0x24), F.R, 'Zbs', 'alu');
row('bclri', opsh6(0x13, 1, 0x12), F.I_SH64, 'Zbs', 'alu');
row('bext', op37(0x33, 5, 0x24), F.R, 'Zbs', 'alu');
row('bexti', opsh6(0x13, 5, 0x12), F.I_SH64, 'Zbs', 'alu');
row('binv', op37(0x33, 1, 0x34), F.R, 'Zbs', 'alu');
row('binvi', opsh6(0x13, 1, 0x1a), F.I_SH64, 'Zbs', 'alu');
row('bset', op37(0x33, 1, 0x14), F.R, 'Zbs', 'alu');
row('bseti', opsh6(0x13, 1, 0x0a), F.I_SH64, 'Zbs', 'alu');
// Zbkb (bit manipulation for cryptography): its own rows (the rest are Zbb rows with `also`).
row('pack', op37(0x33, 4, 0x04), F.R, 'Zbkb', 'alu');
row('packh', op37(0x33, 7, 0x04), F.R, 'Zbkb', 'alu');
row('packw', op37(0x3b, 4, 0x04), F.R, 'Zbkb', 'alu', { rv64: true, constraints: [{ field: 'rs2', not: [0] }] });
row('brev8', op12(0x13, 5, 0x687), F.R1, 'Zbkb', 'alu');
// Zbkx (crossbar permutations)
row('xperm4', op37(0x33, 2, 0x14), F.R, 'Zbkx', 'alu');
row('xperm8', op37(0x33, 4, 0x14), F.R, 'Zbkx', 'alu');
// Zicond (integer conditional operations, Unpriv 20240411 ch. 12)
row('czero.eqz', op37(0x33, 5, 0x07), F.R, 'Zicond', 'alu');
row('czero.nez', op37(0x33, 7, 0x07), F.R, 'Zicond', 'alu');
// Zicbom / Zicboz (cache-block management, CMO spec 1.0.1 §2.5): MISC-MEM funct3 2, rd = 0, the
// operation in imm12. The prefetch hints of Zicbop are ori x0 encodings: they execute as ori x0
// (no effect), which is what a hart without caches to warm does.
const cbo = (f12: number) => bits([6, 0, 0x0f], [14, 12, 2], [11, 7, 0], [31, 20, f12]);
row('cbo.inval', cbo(0), F.CBO, 'Zicbom', 'store');
row('cbo.clean', cbo(1), F.CBO, 'Zicbom', 'store');
row('cbo.flush', cbo(2), F.CBO, 'Zicbom', 'store');
row('cbo.zero', cbo(4), F.CBO, 'Zicboz', 'store');
// Svinval (Priv 20211203 ch. 7): sinval.vma is sfence.vma with funct7 0x0b; the two ordering
// fences have fixed operands. hinval.* (with H) are hfence.* with funct7 0x13 / 0x33. On this
// in-order hart with no write buffer the invalidations take effect at once, so sinval.vma and
// hinval.* execute as the fences they split (same traps: TVM, VTVM, U/VU-mode), and
// sfence.w.inval / sfence.inval.ir order nothing beyond their own U/VU-mode checks.
row('sinval.vma', bits([6, 0, 0x73], [14, 7, 0], [31, 25, 0x0b]), F.SFENCE, 'Svinval', 'fence', { op: 'sfence.vma' });
row('sfence.w.inval', bits([31, 0, 0x18000073]), F.NONE, 'Svinval', 'fence');
row('sfence.inval.ir', bits([31, 0, 0x18100073]), F.NONE, 'Svinval', 'fence');
row('hinval.vvma', bits([6, 0, 0x73], [14, 7, 0], [31, 25, 0x13]), F.SFENCE, 'Svinval', 'fence', { op: 'hfence.vvma' });
row('hinval.gvma', bits([6, 0, 0x73], [14, 7, 0], [31, 25, 0x33]), F.SFENCE, 'Svinval', 'fence', { op: 'hfence.gvma' });

// --- Zfh / Zfhmin (Unpriv 20240411 ch. 22, 23): binary16 with fmt = 2 (bits 26:25). Zfhmin's rows
// (flh, fsh, fmv, the conversions to and from S and D) are also Zfh's (`also`). Semantics: fpu16.ts.
{
  const rmv = { constraints: RM_VALID };
  const MIN = { also: ['Zfh'] as const };
  const opfp = (f5: number, ...more: Array<[number, number, number]>) => bits([6, 0, 0x53], [26, 25, 2], [31, 27, f5], ...more);
  row('flh', op3(0x07, 1), F.FLOAD, 'Zfhmin', 'fload', MIN);
  row('fsh', op3(0x27, 1), F.FSTORE, 'Zfhmin', 'fstore', MIN);
  for (const [name, opcode] of [['fmadd', 0x43], ['fmsub', 0x47], ['fnmsub', 0x4b], ['fnmadd', 0x4f]] as const)
    row(`${name}.h`, bits([6, 0, opcode], [26, 25, 2]), F.R4, 'Zfh', 'fpu', rmv);
  row('fadd.h', opfp(0x00), F.FR_RM, 'Zfh', 'fpu', rmv);
  row('fsub.h', opfp(0x01), F.FR_RM, 'Zfh', 'fpu', rmv);
  row('fmul.h', opfp(0x02), F.FR_RM, 'Zfh', 'fpu', rmv);
  row('fdiv.h', opfp(0x03), F.FR_RM, 'Zfh', 'fdiv', rmv);
  row('fsqrt.h', opfp(0x0b, [24, 20, 0]), F.FR1_RM, 'Zfh', 'fdiv', rmv);
  row('fsgnj.h', opfp(0x04, [14, 12, 0]), F.FR, 'Zfh', 'fpu');
  row('fsgnjn.h', opfp(0x04, [14, 12, 1]), F.FR, 'Zfh', 'fpu');
  row('fsgnjx.h', opfp(0x04, [14, 12, 2]), F.FR, 'Zfh', 'fpu');
  row('fmin.h', opfp(0x05, [14, 12, 0]), F.FR, 'Zfh', 'fpu');
  row('fmax.h', opfp(0x05, [14, 12, 1]), F.FR, 'Zfh', 'fpu');
  row('fcvt.w.h', opfp(0x18, [24, 20, 0]), F.F2X_RM, 'Zfh', 'fpu', rmv);
  row('fcvt.wu.h', opfp(0x18, [24, 20, 1]), F.F2X_RM, 'Zfh', 'fpu', rmv);
  row('fcvt.l.h', opfp(0x18, [24, 20, 2]), F.F2X_RM, 'Zfh', 'fpu', { ...rmv, rv64: true });
  row('fcvt.lu.h', opfp(0x18, [24, 20, 3]), F.F2X_RM, 'Zfh', 'fpu', { ...rmv, rv64: true });
  row('fmv.x.h', opfp(0x1c, [24, 20, 0], [14, 12, 0]), F.F2X, 'Zfhmin', 'fpu', MIN);
  row('fclass.h', opfp(0x1c, [24, 20, 0], [14, 12, 1]), F.F2X, 'Zfh', 'fpu');
  row('feq.h', opfp(0x14, [14, 12, 2]), F.FCMP, 'Zfh', 'fpu');
  row('flt.h', opfp(0x14, [14, 12, 1]), F.FCMP, 'Zfh', 'fpu');
  row('fle.h', opfp(0x14, [14, 12, 0]), F.FCMP, 'Zfh', 'fpu');
  row('fcvt.h.w', opfp(0x1a, [24, 20, 0]), F.X2F_RM, 'Zfh', 'fpu', rmv);
  row('fcvt.h.wu', opfp(0x1a, [24, 20, 1]), F.X2F_RM, 'Zfh', 'fpu', rmv);
  row('fcvt.h.l', opfp(0x1a, [24, 20, 2]), F.X2F_RM, 'Zfh', 'fpu', { ...rmv, rv64: true });
  row('fcvt.h.lu', opfp(0x1a, [24, 20, 3]), F.X2F_RM, 'Zfh', 'fpu', { ...rmv, rv64: true });
  row('fmv.h.x', opfp(0x1e, [24, 20, 0], [14, 12, 0]), F.X2F, 'Zfhmin', 'fpu', MIN);
  // Conversions between the formats: funct5 0x08, fmt = destination, rs2 = source (S 0, D 1, H 2).
  const cvt = (dst: number, src: number) => bits([6, 0, 0x53], [31, 27, 0x08], [26, 25, dst], [24, 20, src]);
  row('fcvt.s.h', cvt(0, 2), F.FR1_RM, 'Zfhmin', 'fpu', { ...rmv, ...MIN });
  row('fcvt.h.s', cvt(2, 0), F.FR1_RM, 'Zfhmin', 'fpu', { ...rmv, ...MIN });
  row('fcvt.d.h', cvt(1, 2), F.FR1_RM, 'Zfhmin', 'fpu', { ...rmv, ...MIN });
  row('fcvt.h.d', cvt(2, 1), F.FR1_RM, 'Zfhmin', 'fpu', { ...rmv, ...MIN });
}

// --- Zfa (Unpriv 20240411 ch. 24): fmt (bits 26:25) S 0, D 1, H 2 (the H rows also need Zfh:
// checked when they execute). Semantics: zfa.ts. fmvh.x.d / fmvp.d.x are RV32 only (not here).
for (const [p, fmt] of [['s', 0], ['d', 1], ['h', 2]] as const) {
  const opfp = (f5: number, ...more: Array<[number, number, number]>) => bits([6, 0, 0x53], [26, 25, fmt], [31, 27, f5], ...more);
  row(`fli.${p}`, opfp(0x1e, [24, 20, 1], [14, 12, 0]), F.FLI, 'Zfa', 'fpu'); // fmv.w.x with rs2 = 1
  row(`fminm.${p}`, opfp(0x05, [14, 12, 2]), F.FR, 'Zfa', 'fpu'); // fmin with bit 13 set
  row(`fmaxm.${p}`, opfp(0x05, [14, 12, 3]), F.FR, 'Zfa', 'fpu');
  row(`fround.${p}`, opfp(0x08, [24, 20, 4]), F.FR1_RM, 'Zfa', 'fpu', { constraints: RM_VALID }); // fcvt.fmt.* with rs2 = 4
  row(`froundnx.${p}`, opfp(0x08, [24, 20, 5]), F.FR1_RM, 'Zfa', 'fpu', { constraints: RM_VALID });
  row(`fleq.${p}`, opfp(0x14, [14, 12, 4]), F.FCMP, 'Zfa', 'fpu'); // fle with bit 14 set
  row(`fltq.${p}`, opfp(0x14, [14, 12, 5]), F.FCMP, 'Zfa', 'fpu');
}
// fcvt.w.d with rs2 = 8 and rm = RTZ (other rm values reserved).
row('fcvtmod.w.d', bits([6, 0, 0x53], [31, 27, 0x18], [26, 25, 1], [24, 20, 8], [14, 12, 1]), F.F2X, 'Zfa', 'fpu');

// --- C (Unpriv ch. 16, tables 16.5-16.7). Each row expands to the base op it names.
// Quadrant 0. The all-zero halfword is illegal: c.addi4spn with nzuimm = 0 is reserved.
row('c.addi4spn', cq(0, 0), F.CIW_ADDI4SPN, 'C', 'alu', { op: 'addi', constraints: [{ field: 'imm', not: [0] }] });
row('c.fld', cq(0, 1), F.CL_FD, 'C', 'fload', { op: 'fld' });
row('c.lw', cq(0, 2), F.CL_W, 'C', 'load', { op: 'lw' });
row('c.ld', cq(0, 3), F.CL_D, 'C', 'load', { op: 'ld', rv64: true });
row('c.fsd', cq(0, 5), F.CS_FD, 'C', 'fstore', { op: 'fsd' });
row('c.sw', cq(0, 6), F.CS_W, 'C', 'store', { op: 'sw' });
row('c.sd', cq(0, 7), F.CS_D, 'C', 'store', { op: 'sd', rv64: true });
// Quadrant 1. c.addi with rd = 0 is c.nop/HINT: it executes as addi x0, which writes nothing.
row('c.addi', cq(1, 0), F.CI, 'C', 'alu', { op: 'addi' });
row('c.addiw', cq(1, 1), F.CI, 'C', 'alu', { op: 'addiw', rv64: true, constraints: [{ field: 'rd', not: [0] }] });
row('c.li', cq(1, 2), F.CI_LI, 'C', 'alu', { op: 'addi' });
row('c.addi16sp', cq(1, 3, [11, 7, 2]), F.CI_ADDI16SP, 'C', 'alu', { op: 'addi', constraints: [{ field: 'imm', not: [0] }] });
row('c.lui', cq(1, 3), F.CI_LUI, 'C', 'alu', {
  op: 'lui',
  constraints: [{ field: 'rd', not: [2] }, { field: 'imm', not: [0] }],
});
row('c.srli', cq(1, 4, [11, 10, 0]), F.CB_SH, 'C', 'alu', { op: 'srli' });
row('c.srai', cq(1, 4, [11, 10, 1]), F.CB_SH, 'C', 'alu', { op: 'srai' });
row('c.andi', cq(1, 4, [11, 10, 2]), F.CB_ANDI, 'C', 'alu', { op: 'andi' });
for (const [name, b12, f2, op] of [
  ['c.sub', 0, 0, 'sub'], ['c.xor', 0, 1, 'xor'], ['c.or', 0, 2, 'or'], ['c.and', 0, 3, 'and'],
  ['c.subw', 1, 0, 'subw'], ['c.addw', 1, 1, 'addw'],
] as const)
  row(name, cq(1, 4, [12, 12, b12], [11, 10, 3], [6, 5, f2]), F.CA, 'C', 'alu', { op, rv64: b12 === 1 });
row('c.j', cq(1, 5), F.CJ, 'C', 'jump', { op: 'jal' });
row('c.beqz', cq(1, 6), F.CB, 'C', 'branch', { op: 'beq' });
row('c.bnez', cq(1, 7), F.CB, 'C', 'branch', { op: 'bne' });
// Quadrant 2
row('c.slli', cq(2, 0), F.CI_SLLI, 'C', 'alu', { op: 'slli' });
row('c.fldsp', cq(2, 1), F.CI_FLDSP, 'C', 'fload', { op: 'fld' });
row('c.lwsp', cq(2, 2), F.CI_LWSP, 'C', 'load', { op: 'lw', constraints: [{ field: 'rd', not: [0] }] });
row('c.ldsp', cq(2, 3), F.CI_LDSP, 'C', 'load', { op: 'ld', rv64: true, constraints: [{ field: 'rd', not: [0] }] });
row('c.jr', cq(2, 4, [12, 12, 0], [6, 2, 0]), F.CR_JR, 'C', 'jump', { op: 'jalr', constraints: [{ field: 'rs1', not: [0] }] });
row('c.mv', cq(2, 4, [12, 12, 0]), F.CR_MV, 'C', 'alu', { op: 'add', constraints: [{ field: 'rs2', not: [0] }] });
row('c.ebreak', cq(2, 4, [12, 2, 0x400]), F.NONE, 'C', 'system', { op: 'ebreak' });
row('c.jalr', cq(2, 4, [12, 12, 1], [6, 2, 0]), F.CR_JALR, 'C', 'jump', { op: 'jalr', constraints: [{ field: 'rs1', not: [0] }] });
row('c.add', cq(2, 4, [12, 12, 1]), F.CR_ADD, 'C', 'alu', { op: 'add', constraints: [{ field: 'rs2', not: [0] }] });
row('c.fsdsp', cq(2, 5), F.CSS_FSDSP, 'C', 'fstore', { op: 'fsd' });
row('c.swsp', cq(2, 6), F.CSS_SWSP, 'C', 'store', { op: 'sw' });
row('c.sdsp', cq(2, 7), F.CSS_SDSP, 'C', 'store', { op: 'sd', rv64: true });

export const INSN_TABLE: readonly InsnRow[] = rows;

/**
 * Semantic ops in a fixed order: their index + FIRST_OP is the op id the core switches on.
 * Op id 0 means "slot not decoded yet"; ILLEGAL is the decoded form of an invalid encoding;
 * PAGE_END marks the sentinel slots after the last parcel of a decoded frame.
 */
export const SPECIAL_OPS = ['none', 'illegal', 'page_end'] as const;
export const SEMANTIC_OPS: readonly string[] = [
  ...SPECIAL_OPS,
  ...Array.from(new Set(rows.filter((r) => r.width === 32).map((r) => r.op))),
];
for (const r of rows) {
  if (!SEMANTIC_OPS.includes(r.op)) throw new Error(`row ${r.name} expands to unknown op ${r.op}`);
}
export const OP_ID: Readonly<Record<string, number>> = Object.fromEntries(SEMANTIC_OPS.map((o, i) => [o, i]));

/** Extract a register field's value from an instruction word. */
export function regValue(spec: RegSpec, insn: number): number {
  if ('fixed' in spec) return spec.fixed;
  return ((insn >>> spec.lo) & ((1 << (spec.hi - spec.lo + 1)) - 1)) + (spec.add ?? 0);
}

/** Extract an immediate from an instruction word (as a JS number, sign-extended when signed). */
export function immValue(spec: ImmSpec, insn: number): number {
  let v = 0;
  let top = 0;
  for (const [hi, lo, at] of spec.segs) {
    const w = hi - lo + 1;
    v |= ((insn >>> lo) & ((1 << w) - 1)) << at;
    top = Math.max(top, at + w);
  }
  v >>>= 0;
  if (spec.signed && top < 32 && v & (1 << (top - 1))) v -= 2 ** top;
  if (spec.signed && top === 32) v |= 0;
  return v;
}

/** Immediate bit width (highest bit + 1) described by a spec. */
export function immWidth(spec: ImmSpec): number {
  return Math.max(...spec.segs.map(([hi, lo, at]) => at + hi - lo + 1));
}

/** Does `insn` decode as `row` (fixed bits and constraints)? */
export function rowMatches(row: InsnRow, insn: number): boolean {
  if (((insn & row.mask) >>> 0) !== row.match) return false;
  for (const c of row.constraints ?? []) {
    const f = c.field === 'imm' ? row.format.imm : row.format[c.field];
    if (!f) continue;
    const v = c.field === 'imm' ? immValue(f as ImmSpec, insn) : regValue(f as RegSpec, insn);
    if (c.not.includes(v)) return false;
  }
  return true;
}

/** Find the row an instruction word decodes to (slow reference decoder for tools and tests). */
export function lookup(insn: number): InsnRow | undefined {
  const width = (insn & 3) === 3 ? 32 : 16;
  const w = width === 16 ? insn & 0xffff : insn >>> 0;
  for (const r of rows) if (r.width === width && rowMatches(r, w)) return r;
  return undefined;
}
