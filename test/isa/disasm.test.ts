/**
 * The table-driven disassembler (src/isa/disasm.ts): every format, compressed forms, CSR names,
 * pc-relative targets and unknown words. Expected text follows the ABI register names and the
 * operand order of the format's `asm` string; encodings were checked against GNU objdump output.
 */
import { describe, expect, it } from 'vitest';
import { disassemble, ABI_NAMES, FP_ABI_NAMES, RM_NAMES } from '../../src/isa/disasm.js';
import { encode, type Operands } from '../../src/isa/encode.js';
import { INSN_TABLE, rowMatches } from '../../src/isa/table.js';
import { Rng } from '../helpers/isa.js';

type Case = [name: string, ops: Operands, pc: bigint, text: string, word?: number];

const BASE: Case[] = [
  ['lui', { rd: 10, imm: -4096 }, 0n, 'lui a0, 0xfffff', 0xfffff537],
  ['lui', { rd: 10, imm: 0x12345 << 12 }, 0n, 'lui a0, 0x12345', 0x12345537],
  ['auipc', { rd: 1, imm: 0x12345000 }, 0n, 'auipc ra, 0x12345', 0x12345097],
  ['jal', { rd: 1, imm: -8 }, 0x80000010n, 'jal ra, 0x80000008', 0xff9ff0ef],
  ['jal', { rd: 0, imm: 0x800 }, 0x80000000n, 'jal zero, 0x80000800'],
  ['jalr', { rd: 0, rs1: 1, imm: 0 }, 0n, 'jalr zero, 0(ra)', 0x00008067],
  ['jalr', { rd: 1, rs1: 5, imm: -2048 }, 0n, 'jalr ra, -2048(t0)'],
  ['beq', { rs1: 10, rs2: 11, imm: 16 }, 0x80000000n, 'beq a0, a1, 0x80000010', 0x00b50863],
  ['bltu', { rs1: 5, rs2: 6, imm: -4096 }, 0x80001000n, 'bltu t0, t1, 0x80000000'],
  ['bge', { rs1: 30, rs2: 31, imm: 4094 }, 0x80000002n, 'bge t5, t6, 0x80001000'],
  ['ld', { rd: 1, rs1: 2, imm: 8 }, 0n, 'ld ra, 8(sp)', 0x00813083],
  ['lbu', { rd: 5, rs1: 10, imm: -1 }, 0n, 'lbu t0, -1(a0)'],
  ['sd', { rs1: 2, rs2: 1, imm: -8 }, 0n, 'sd ra, -8(sp)', 0xfe113c23],
  ['sb', { rs1: 8, rs2: 9, imm: 2047 }, 0n, 'sb s1, 2047(s0)'],
  ['addi', { rd: 10, rs1: 11, imm: -5 }, 0n, 'addi a0, a1, -5'],
  ['addi', { rd: 0, rs1: 0, imm: 0 }, 0n, 'addi zero, zero, 0', 0x00000013],
  ['sltiu', { rd: 18, rs1: 19, imm: -1 }, 0n, 'sltiu s2, s3, -1'],
  ['slli', { rd: 10, rs1: 10, imm: 63 }, 0n, 'slli a0, a0, 63'],
  ['srai', { rd: 28, rs1: 29, imm: 32 }, 0n, 'srai t3, t4, 32'],
  ['sraiw', { rd: 5, rs1: 6, imm: 31 }, 0n, 'sraiw t0, t1, 31'],
  ['add', { rd: 5, rs1: 6, rs2: 7 }, 0n, 'add t0, t1, t2', 0x007302b3],
  ['subw', { rd: 15, rs1: 16, rs2: 17 }, 0n, 'subw a5, a6, a7'],
  ['mul', { rd: 1, rs1: 2, rs2: 3 }, 0n, 'mul ra, sp, gp'],
  ['remuw', { rd: 20, rs1: 21, rs2: 22 }, 0n, 'remuw s4, s5, s6'],
  ['csrrw', { rd: 10, rs1: 11, imm: 0x300 }, 0n, 'csrrw a0, mstatus, a1', 0x30059573],
  ['csrrs', { rd: 10, rs1: 0, imm: 0xf14 }, 0n, 'csrrs a0, mhartid, zero', 0xf1402573],
  ['csrrs', { rd: 10, rs1: 0, imm: 0x7c0 }, 0n, 'csrrs a0, 0x7c0, zero'],
  ['csrrc', { rd: 0, rs1: 5, imm: 0xb00 }, 0n, 'csrrc zero, mcycle, t0'],
  ['csrrwi', { rd: 0, rs1: 5, imm: 0x305 }, 0n, 'csrrwi zero, mtvec, 5'],
  ['csrrsi', { rd: 1, rs1: 31, imm: 0x341 }, 0n, 'csrrsi ra, mepc, 31'],
  ['csrrci', { rd: 1, rs1: 8, imm: 0xc00 }, 0n, 'csrrci ra, cycle, 8'],
  ['amoadd.w', { rd: 10, rs1: 11, rs2: 12 }, 0n, 'amoadd.w a0, a2, (a1)'],
  ['amomaxu.d', { rd: 0, rs1: 2, rs2: 31 }, 0n, 'amomaxu.d zero, t6, (sp)'],
  ['lr.d', { rd: 10, rs1: 11 }, 0n, 'lr.d a0, (a1)'],
  ['sc.w', { rd: 10, rs1: 11, rs2: 12 }, 0n, 'sc.w a0, a2, (a1)'],
  ['ecall', {}, 0n, 'ecall', 0x00000073],
  ['ebreak', {}, 0n, 'ebreak', 0x00100073],
  ['fence', {}, 0n, 'fence'],
  ['fence.i', {}, 0n, 'fence.i'],
  ['mret', {}, 0n, 'mret', 0x30200073],
  ['sret', {}, 0n, 'sret', 0x10200073],
  ['wfi', {}, 0n, 'wfi', 0x10500073],
  ['sfence.vma', { rs1: 10, rs2: 11 }, 0n, 'sfence.vma a0, a1'],
  // F/D: f registers by FP ABI name, the rounding mode printed unless it is dyn (GNU objdump style)
  ['flw', { rd: 8, rs1: 2, imm: -4 }, 0n, 'flw fs0, -4(sp)', 0xffc12407],
  ['fsd', { rs1: 10, rs2: 9, imm: 16 }, 0n, 'fsd fs1, 16(a0)', 0x00953827],
  ['fadd.s', { rd: 10, rs1: 11, rs2: 12 }, 0n, 'fadd.s fa0, fa1, fa2', 0x00c5f553],
  ['fadd.d', { rd: 0, rs1: 1, rs2: 2, rm: 1 }, 0n, 'fadd.d ft0, ft1, ft2, rtz', 0x02209053],
  ['fmadd.d', { rd: 1, rs1: 2, rs2: 3, rs3: 31, rm: 0 }, 0n, 'fmadd.d ft1, ft2, ft3, ft11, rne', 0xfa3100c3],
  ['fnmsub.s', { rd: 18, rs1: 19, rs2: 20, rs3: 27 }, 0n, 'fnmsub.s fs2, fs3, fs4, fs11'],
  ['fsqrt.s', { rd: 1, rs1: 2, rm: 4 }, 0n, 'fsqrt.s ft1, ft2, rmm'],
  ['fsgnjx.d', { rd: 28, rs1: 29, rs2: 30 }, 0n, 'fsgnjx.d ft8, ft9, ft10'],
  ['fcvt.w.s', { rd: 10, rs1: 10, rm: 1 }, 0n, 'fcvt.w.s a0, fa0, rtz', 0xc0051553],
  ['fcvt.d.lu', { rd: 17, rs1: 17, rm: 2 }, 0n, 'fcvt.d.lu fa7, a7, rdn'],
  ['fcvt.s.d', { rd: 0, rs1: 0, rm: 3 }, 0n, 'fcvt.s.d ft0, ft0, rup'],
  ['feq.d', { rd: 5, rs1: 0, rs2: 1 }, 0n, 'feq.d t0, ft0, ft1'],
  ['fclass.s', { rd: 10, rs1: 10 }, 0n, 'fclass.s a0, fa0'],
  ['fmv.x.w', { rd: 1, rs1: 2 }, 0n, 'fmv.x.w ra, ft2', 0xe00100d3],
  ['fmv.d.x', { rd: 31, rs1: 0 }, 0n, 'fmv.d.x ft11, zero'],
  ['csrrs', { rd: 10, rs1: 0, imm: 0x003 }, 0n, 'csrrs a0, fcsr, zero'],
];

const COMPRESSED: Case[] = [
  ['c.addi4spn', { rd: 8, imm: 16 }, 0n, 'c.addi4spn s0, sp, 16', 0x0800],
  ['c.lw', { rd: 10, rs1: 11, imm: 4 }, 0n, 'c.lw a0, 4(a1)', 0x41c8],
  ['c.ld', { rd: 15, rs1: 8, imm: 248 }, 0n, 'c.ld a5, 248(s0)'],
  ['c.sw', { rs1: 9, rs2: 10, imm: 124 }, 0n, 'c.sw a0, 124(s1)'],
  ['c.sd', { rs1: 8, rs2: 9, imm: 248 }, 0n, 'c.sd s1, 248(s0)'],
  ['c.addi', { rd: 10, imm: -1 }, 0n, 'c.addi a0, -1', 0x157d],
  ['c.addi', { rd: 0, imm: 0 }, 0n, 'c.addi zero, 0', 0x0001],
  ['c.addiw', { rd: 1, imm: -1 }, 0n, 'c.addiw ra, -1'],
  ['c.li', { rd: 5, imm: 31 }, 0n, 'c.li t0, 31', 0x42fd],
  ['c.lui', { rd: 10, imm: -4096 }, 0n, 'c.lui a0, 0xfffff', 0x757d],
  ['c.lui', { rd: 3, imm: 0x1f000 }, 0n, 'c.lui gp, 0x1f'],
  ['c.addi16sp', { imm: -64 }, 0n, 'c.addi16sp sp, -64', 0x7139],
  ['c.srli', { rd: 8, imm: 63 }, 0n, 'c.srli s0, 63'],
  ['c.srai', { rd: 15, imm: 1 }, 0n, 'c.srai a5, 1'],
  ['c.andi', { rd: 9, imm: -32 }, 0n, 'c.andi s1, -32'],
  ['c.sub', { rd: 8, rs2: 9 }, 0n, 'c.sub s0, s1', 0x8c05],
  ['c.xor', { rd: 10, rs2: 11 }, 0n, 'c.xor a0, a1'],
  ['c.or', { rd: 12, rs2: 13 }, 0n, 'c.or a2, a3'],
  ['c.and', { rd: 14, rs2: 15 }, 0n, 'c.and a4, a5'],
  ['c.subw', { rd: 8, rs2: 15 }, 0n, 'c.subw s0, a5'],
  ['c.addw', { rd: 14, rs2: 15 }, 0n, 'c.addw a4, a5'],
  ['c.j', { imm: -2 }, 0x80000002n, 'c.j 0x80000000', 0xbffd],
  ['c.j', { imm: 2046 }, 0x80000000n, 'c.j 0x800007fe'],
  ['c.beqz', { rs1: 8, imm: 254 }, 0x80000000n, 'c.beqz s0, 0x800000fe'],
  ['c.bnez', { rs1: 15, imm: -256 }, 0x80000100n, 'c.bnez a5, 0x80000000'],
  ['c.slli', { rd: 1, imm: 1 }, 0n, 'c.slli ra, 1'],
  ['c.lwsp', { rd: 10, imm: 252 }, 0n, 'c.lwsp a0, 252(sp)'],
  ['c.ldsp', { rd: 1, imm: 504 }, 0n, 'c.ldsp ra, 504(sp)', 0x70fe],
  ['c.jr', { rs1: 1 }, 0n, 'c.jr ra', 0x8082],
  ['c.mv', { rd: 10, rs2: 11 }, 0n, 'c.mv a0, a1', 0x852e],
  ['c.ebreak', {}, 0n, 'c.ebreak', 0x9002],
  ['c.jalr', { rs1: 5 }, 0n, 'c.jalr t0', 0x9282],
  ['c.add', { rd: 10, rs2: 10 }, 0n, 'c.add a0, a0', 0x952a],
  ['c.swsp', { rs2: 10, imm: 4 }, 0n, 'c.swsp a0, 4(sp)'],
  ['c.sdsp', { rs2: 1, imm: 8 }, 0n, 'c.sdsp ra, 8(sp)', 0xe406],
  ['c.fld', { rd: 8, rs1: 9, imm: 8 }, 0n, 'c.fld fs0, 8(s1)', 0x2480],
  ['c.fsd', { rs1: 15, rs2: 15, imm: 248 }, 0n, 'c.fsd fa5, 248(a5)'],
  ['c.fldsp', { rd: 0, imm: 504 }, 0n, 'c.fldsp ft0, 504(sp)'],
  ['c.fsdsp', { rs2: 31, imm: 504 }, 0n, 'c.fsdsp ft11, 504(sp)', 0xbffe],
];

describe('disassemble', () => {
  it.each(BASE)('%s %j @%s -> %s', (name, ops, pc, text, word) => {
    const w = encode(name, ops);
    if (word !== undefined) expect(w >>> 0).toBe(word >>> 0);
    expect(disassemble(w, pc)).toBe(text);
  });

  it.each(COMPRESSED)('%s %j @%s -> %s', (name, ops, pc, text, word) => {
    const w = encode(name, ops);
    if (word !== undefined) expect(w).toBe(word);
    expect(disassemble(w, pc)).toBe(text);
  });

  it('covers every compressed row', () => {
    const covered = new Set(COMPRESSED.map((c) => c[0]));
    expect(INSN_TABLE.filter((r) => r.width === 16 && !covered.has(r.name)).map((r) => r.name)).toEqual([]);
  });

  it('disassembles a raw compressed word regardless of the upper halfword', () => {
    // A caller may pass a 32-bit fetch window holding a compressed instruction in its low half.
    expect(disassemble(0x8082)).toBe('c.jr ra');
  });

  it.each([
    [0x0000, 'unknown 0x0000'], // the all-zero halfword (c.addi4spn, nzuimm = 0)
    [0x0004, 'unknown 0x0004'], // c.addi4spn s1, sp, 0: reserved
    [0x8002, 'unknown 0x8002'], // c.jr zero: reserved
    [0x2001, 'unknown 0x2001'], // c.addiw zero: reserved
    [0x4002, 'unknown 0x4002'], // c.lwsp zero: reserved
    [0x6281, 'unknown 0x6281'], // c.lui t0, 0: reserved
    [0x6101, 'unknown 0x6101'], // c.addi16sp 0: reserved
    [0x9c41, 'unknown 0x9c41'], // reserved c.subw/c.addw slot (funct2 = 2, bit 12 = 1)
    [0x8000, 'unknown 0x8000'], // quadrant 0 funct3 = 4: reserved
    [0x00b5d553, 'unknown 0x00b5d553'], // fadd.s with rm = 5: reserved
    [0x00b5e553, 'unknown 0x00b5e553'], // fadd.s with rm = 6: reserved
    [0x20b5b553, 'unknown 0x20b5b553'], // fsgnj.s with funct3 = 3: no row
    [0xffffffff, 'unknown 0xffffffff'],
    [0x0000007f, 'unknown 0x0000007f'], // major opcode 0x7f: no row
    [0x0200101b, 'unknown 0x0200101b'], // slliw with shamt[5] = 1: reserved on RV64
    [0x0000701b, 'unknown 0x0000701b'], // OP-IMM-32 funct3 = 7: no row
  ])('unknown word %i -> %s', (w, text) => {
    expect(disassemble(w)).toBe(text);
  });

  it('decodes words next to reserved ones', () => {
    expect(disassemble(0x02001013)).toBe('slli zero, zero, 32'); // RV64 slli may use shamt[5]
    expect(disassemble(0x1000302f)).toBe('lr.d zero, (zero)');
    expect(disassemble(0x1010302f)).toBe('unknown 0x1010302f'); // lr.d with rs2 != 0: reserved
    expect(disassemble(0x0000006f)).toBe('jal zero, 0x0');
  });

  it('branch and jump targets are relative to the pc', () => {
    const w = encode('beq', { rs1: 1, rs2: 2, imm: -16 });
    expect(disassemble(w, 0x80000100n)).toBe('beq ra, sp, 0x800000f0');
    expect(disassemble(w, 0x80000010n)).toBe('beq ra, sp, 0x80000000');
    const j = encode('c.j', { imm: 100 });
    expect(disassemble(j, 0x1000n)).toBe('c.j 0x1064');
    expect(disassemble(j)).toBe('c.j 0x64');
  });

  // Kernel-space (Sv39 upper-half) and wrapping targets must be exact 64-bit values.
  it('computes targets exactly above 2^53 (pc + imm modulo 2^64)', () => {
    expect(disassemble(encode('jal', { rd: 0, imm: 8 }), 0xffffffff80000000n)).toBe('jal zero, 0xffffffff80000008');
    expect(disassemble(encode('beq', { rs1: 0, rs2: 0, imm: -4 }), 0n)).toBe('beq zero, zero, 0xfffffffffffffffc');
  });

  it('every row disassembles to its mnemonic with resolved operands (random words)', () => {
    const rng = new Rng(99);
    for (const r of INSN_TABLE) {
      for (let k = 0; k < 16; k++) {
        // Random operand bits under the fixed bits.
        const width = r.width === 16 ? 0xffff : 0xffffffff;
        const w = ((r.match | (Number(rng.next64() & 0xffffffffn) & ~r.mask)) & width) >>> 0;
        if (!rowMatches(r, w)) continue; // a reserved value of a constrained field
        const text = disassemble(w, 0x80000000n);
        expect(text.split(' ')[0]).toBe(r.name);
        expect(text).not.toMatch(/undefined|NaN|\?|\b(rd|rs1|rs2|rs3|rm|imm|target)\b|rm5|rm6|dyn/);
        for (const reg of text.replace(/^\S+\s*/, '').split(/[ ,()]+/).filter((t) => /^[a-z]/.test(t) && !/^0x/.test(t)))
          expect([...ABI_NAMES, ...FP_ABI_NAMES, ...RM_NAMES.slice(0, 5), 'fflags', 'frm', 'fcsr', 'mstatus', 'misa', 'mie', 'mtvec', 'mscratch', 'mepc', 'mcause', 'mtval', 'mip', 'mcycle', 'minstret', 'cycle', 'time', 'instret', 'mvendorid', 'marchid', 'mimpid', 'mhartid', 'medeleg', 'mideleg', 'mcounteren', 'menvcfg', 'mcountinhibit', 'sstatus', 'sie', 'stvec', 'sscratch', 'sepc', 'scause', 'stval', 'sip', 'satp']).toContain(reg);
      }
    }
  });
});
