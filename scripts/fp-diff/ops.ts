/**
 * The instructions the FP differential tool covers: every F and D computational instruction of the
 * RISC-V Unprivileged ISA (20191213, ch. 11 "F" and ch. 12 "D"): arithmetic, square root, fused
 * multiply-add, sign injection, min/max, compare, classify, every conversion between the two formats
 * and the integers w/wu/l/lu, and the fmv transfers. 58 instructions.
 *
 * This table is the single source of truth for
 *   - the operation numbers in the operand records (the index in OPS),
 *   - test/guests/fp/fpdiff-ops.S, the guest's pre-assembled instruction variants (renderOpsAsm();
 *     `npm run fpdiff -- --write-asm` rewrites it, test/fpdiff.test.ts checks it is current),
 *   - the operand kinds the generator (gen.ts) draws, and the driver's readable output.
 *
 * Every instruction is emitted as a `.word` computed here rather than by the assembler, so the rm
 * field can be any of the 8 encodings (binutils refuses an rm operand on the exact conversions and
 * the reserved encodings 101/110 altogether).
 */

/** Operand and result kinds. f32/f64: an f register (64 bits; f32 operands may or may not be
 *  NaN-boxed). The integer kinds are x registers; the name says how the instruction reads them. */
export type Kind = 'f32' | 'f64' | 'i32' | 'u32' | 'i64' | 'u64' | 'x';

export interface FpOp {
  /** Assembler mnemonic, e.g. "fadd.s". */
  name: string;
  /** Operand kinds, in rs1, rs2, rs3 order. */
  srcs: Kind[];
  /** Result kind: an f register (f32/f64) or an x register ('x': compare, classify, fmv.x.*, fcvt.int.*). */
  dst: 'f32' | 'f64' | 'x';
  /** Has an rm field (so it runs under each static rounding mode and DYN). */
  rm: boolean;
  /** The instruction word with rd = rs1 = rs2 = rs3 = 0 and rm = 0. */
  base: number;
}

// Registers used by the stubs: f10/f11/f12 (fa0-fa2) or x12 (a2) as sources, f13 (fa3) or x13 (a3)
// as destination.
export const FSRC = [10, 11, 12] as const;
export const XSRC = 12;
export const FDST = 13;
export const XDST = 13;

const OP_FP = 0x53;
const r = (funct7: number, rs2: number, funct3: number): number =>
  ((funct7 << 25) | (rs2 << 20) | (funct3 << 12) | OP_FP) >>> 0;
const r4 = (opcode: number, fmt: number): number => ((fmt << 25) | opcode) >>> 0;

function build(): FpOp[] {
  const ops: FpOp[] = [];
  const add = (name: string, srcs: Kind[], dst: FpOp['dst'], rm: boolean, base: number): void => {
    ops.push({ name, srcs, dst, rm, base });
  };
  for (const [sfx, fmt, k] of [['s', 0, 'f32'], ['d', 1, 'f64']] as const) {
    add(`fadd.${sfx}`, [k, k], k, true, r((0x00 << 2) | fmt, 0, 0));
    add(`fsub.${sfx}`, [k, k], k, true, r((0x01 << 2) | fmt, 0, 0));
    add(`fmul.${sfx}`, [k, k], k, true, r((0x02 << 2) | fmt, 0, 0));
    add(`fdiv.${sfx}`, [k, k], k, true, r((0x03 << 2) | fmt, 0, 0));
    add(`fsqrt.${sfx}`, [k], k, true, r((0x0b << 2) | fmt, 0, 0));
    add(`fmadd.${sfx}`, [k, k, k], k, true, r4(0x43, fmt));
    add(`fmsub.${sfx}`, [k, k, k], k, true, r4(0x47, fmt));
    add(`fnmsub.${sfx}`, [k, k, k], k, true, r4(0x4b, fmt));
    add(`fnmadd.${sfx}`, [k, k, k], k, true, r4(0x4f, fmt));
    add(`fsgnj.${sfx}`, [k, k], k, false, r((0x04 << 2) | fmt, 0, 0));
    add(`fsgnjn.${sfx}`, [k, k], k, false, r((0x04 << 2) | fmt, 0, 1));
    add(`fsgnjx.${sfx}`, [k, k], k, false, r((0x04 << 2) | fmt, 0, 2));
    add(`fmin.${sfx}`, [k, k], k, false, r((0x05 << 2) | fmt, 0, 0));
    add(`fmax.${sfx}`, [k, k], k, false, r((0x05 << 2) | fmt, 0, 1));
    add(`feq.${sfx}`, [k, k], 'x', false, r((0x14 << 2) | fmt, 0, 2));
    add(`flt.${sfx}`, [k, k], 'x', false, r((0x14 << 2) | fmt, 0, 1));
    add(`fle.${sfx}`, [k, k], 'x', false, r((0x14 << 2) | fmt, 0, 0));
    add(`fclass.${sfx}`, [k], 'x', false, r((0x1c << 2) | fmt, 0, 1));
    const ints = [['w', 'i32'], ['wu', 'u32'], ['l', 'i64'], ['lu', 'u64']] as const;
    ints.forEach(([iname], i) => add(`fcvt.${iname}.${sfx}`, [k], 'x', true, r((0x18 << 2) | fmt, i, 0)));
    ints.forEach(([iname, ik], i) => add(`fcvt.${sfx}.${iname}`, [ik], k, true, r((0x1a << 2) | fmt, i, 0)));
    add(sfx === 's' ? 'fmv.x.w' : 'fmv.x.d', [k], 'x', false, r((0x1c << 2) | fmt, 0, 0));
    add(sfx === 's' ? 'fmv.w.x' : 'fmv.d.x', ['x'], k, false, r((0x1e << 2) | fmt, 0, 0));
  }
  add('fcvt.s.d', ['f64'], 'f32', true, r((0x08 << 2) | 0, 1, 0));
  add('fcvt.d.s', ['f32'], 'f64', true, r((0x08 << 2) | 1, 0, 0));
  return ops;
}

export const OPS: readonly FpOp[] = build();
export const OP_BY_NAME: ReadonlyMap<string, number> = new Map(OPS.map((o, i) => [o.name, i]));

/**
 * Rounding-mode variants, in the order the guest runs them and prints them. Instructions with an rm
 * field always run the static modes 0..4 and DYN (7, with frm = the record's frm); a record with
 * FLAG_RESERVED_RM also runs the reserved static encodings 5 and 6 (which must trap). Instructions
 * without an rm field run once.
 */
export const RM_NAMES = ['rne', 'rtz', 'rdn', 'rup', 'rmm', 'rm=5', 'rm=6', 'dyn'] as const;
export const RM_VARIANTS = [0, 1, 2, 3, 4, 7] as const;
export const RM_VARIANTS_RESERVED = [0, 1, 2, 3, 4, 7, 5, 6] as const;
/** Record flag: also run the reserved static rounding modes. */
export const FLAG_RESERVED_RM = 1;

/** The rm values (0..7) a record runs, in output order. */
export function variantsOf(op: FpOp, flags: number): readonly number[] {
  if (!op.rm) return [0];
  return flags & FLAG_RESERVED_RM ? RM_VARIANTS_RESERVED : RM_VARIANTS;
}

/** Stub slots per instruction in the guest's jump table: one per rm encoding. */
export const SLOTS = 8;

/** The instruction word of `op` with rounding mode `rm` on the stub registers. */
export function encodeOp(op: FpOp, rm: number): number {
  const [a, b, c] = op.srcs;
  const rs = (k: Kind | undefined, i: number): number => (k === undefined ? 0 : isInt(k) ? XSRC : FSRC[i]!);
  let w = op.base;
  // sqrt/fclass/fmv/fcvt have a fixed rs2 field already in `base`: only two-operand and FMA ops take rs2.
  w |= rs(a, 0) << 15;
  if (b !== undefined) w |= rs(b, 1) << 20;
  if (c !== undefined) w |= rs(c, 2) << 27;
  w |= (op.dst === 'x' ? XDST : FDST) << 7;
  if (op.rm) w |= rm << 12;
  return w >>> 0;
}

export const isInt = (k: Kind): boolean => k !== 'f32' && k !== 'f64';

const regName = (k: Kind | 'x', n: number): string => (isInt(k as Kind) ? `x${n}` : `f${n}`);

/** Readable assembler text of a variant, for comments and messages. */
export function opText(op: FpOp, rm: number): string {
  const dst = op.dst === 'x' ? `x${XDST}` : `f${FDST}`;
  const srcs = op.srcs.map((k, i) => regName(k, isInt(k) ? XSRC : FSRC[i]!));
  const rmText = op.rm ? `, ${['rne', 'rtz', 'rdn', 'rup', 'rmm', '5', '6', 'dyn'][rm]}` : '';
  return `${op.name} ${[dst, ...srcs].join(', ')}${rmText}`;
}

/**
 * test/guests/fp/fpdiff-ops.S: one stub per (instruction, rm) and the jump table `fpd_stubs`
 * (OPS.length * SLOTS entries, 0 for unused slots). A stub is called as
 *     void stub(const struct fpd_rec *rec, uint64_t out[2])
 * loads the operands from the record (a at +8, b at +16, c at +24: f registers with fld, which keeps
 * all 64 bits so that an f32 operand is exactly as NaN-boxed as the record says; x registers with
 * ld), clears fflags, executes the instruction, and stores the destination register's 64 bits in
 * out[0] (fsd/sd) and fflags in out[1].
 */
export function renderOpsAsm(): string {
  const lines: string[] = [];
  lines.push('/*');
  lines.push(' * fpdiff-ops.S - GENERATED by scripts/fp-diff/ops.ts (npm run fpdiff -- --write-asm); do not edit.');
  lines.push(' *');
  lines.push(' * One stub per (instruction, rounding mode) and the jump table fpd_stubs[op * 8 + rm].');
  lines.push(' * Stub: a0 = operand record (a at +8, b at +16, c at +24), a1 = out[2]:');
  lines.push(' * out[0] = the 64 bits of the destination register, out[1] = fflags.');
  lines.push(' * The instructions are .word encodings so that every rm field (0-7) can be used.');
  lines.push(' */');
  lines.push('\t.text');
  lines.push('\t.option norvc');
  const label = (i: number, rm: number): string => `fpd_${OPS[i]!.name.replace(/\./g, '_')}_${rm}`;
  OPS.forEach((op, i) => {
    const rms = op.rm ? [0, 1, 2, 3, 4, 5, 6, 7] : [0];
    for (const rm of rms) {
      lines.push('');
      lines.push('\t.balign 4');
      lines.push(`${label(i, rm)}:`);
      op.srcs.forEach((k, j) => {
        const off = 8 + 8 * j;
        if (isInt(k)) lines.push(`\tld\tx${XSRC}, ${off}(a0)`);
        else lines.push(`\tfld\tf${FSRC[j]}, ${off}(a0)`);
      });
      lines.push('\tcsrwi\tfflags, 0');
      lines.push(`\t.word\t0x${encodeOp(op, rm).toString(16).padStart(8, '0')}\t/* ${opText(op, rm)} */`);
      lines.push('\tcsrr\tt0, fflags');
      lines.push(op.dst === 'x' ? `\tsd\tx${XDST}, 0(a1)` : `\tfsd\tf${FDST}, 0(a1)`);
      lines.push('\tsd\tt0, 8(a1)');
      lines.push('\tret');
    }
  });
  lines.push('');
  lines.push('\t.section .rodata');
  lines.push('\t.balign 8');
  lines.push('\t.globl fpd_stubs');
  lines.push('fpd_stubs:');
  OPS.forEach((op, i) => {
    const slots: string[] = [];
    for (let rm = 0; rm < SLOTS; rm++) slots.push(op.rm || rm === 0 ? label(i, rm) : '0');
    lines.push(`\t.dword\t${slots.join(', ')}\t/* ${i}: ${op.name} */`);
  });
  lines.push('\t.globl fpd_nops');
  lines.push('fpd_nops:');
  lines.push(`\t.dword\t${OPS.length}`);
  lines.push('');
  return lines.join('\n');
}
