/**
 * The instruction table (src/isa/table.ts) is the single source for the decoder, the encoder and
 * the disassembler, so it is checked structurally here (like Spike's check-opcode-overlap):
 * no overlapping rows, operand fields clear of the fixed bits, encode/lookup round trips, the
 * generated decoder is current, and the run loop implements every semantic op.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  INSN_TABLE,
  SEMANTIC_OPS,
  OP_ID,
  immValue,
  immWidth,
  lookup,
  regValue,
  rowMatches,
  type FieldName,
  type ImmSpec,
  type InsnRow,
  type RegSpec,
} from '../../src/isa/table.js';
import { encode, rowByName, type Operands } from '../../src/isa/encode.js';
import { TIMING_CLASSES } from '../../src/isa/classes.js';
import { generateAll, opConst } from '../../scripts/gen.js';
import { Rng } from '../helpers/isa.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---------------------------------------------------------------------------------------------
// Field bit masks
function regMask(spec: RegSpec | undefined): number {
  if (!spec || 'fixed' in spec) return 0;
  let m = 0;
  for (let b = spec.lo; b <= spec.hi; b++) m |= 1 << b;
  return m >>> 0;
}
function immMask(spec: ImmSpec | undefined): number {
  if (!spec) return 0;
  let m = 0;
  for (const [hi, lo] of spec.segs) for (let b = lo; b <= hi; b++) m |= 1 << b;
  return m >>> 0;
}
function fieldMask(row: InsnRow, field: FieldName): number {
  return field === 'imm' ? immMask(row.format.imm) : regMask(row.format[field]);
}
function formatMask(row: InsnRow): number {
  const fields: FieldName[] = ['rd', 'rs1', 'rs2', 'rs3', 'rm', 'imm'];
  return fields.reduce((m, f) => m | fieldMask(row, f), 0) >>> 0;
}
function constraintMask(row: InsnRow): number {
  let m = 0;
  for (const c of row.constraints ?? []) m |= fieldMask(row, c.field);
  return m >>> 0;
}
function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
}

/**
 * An instruction word both rows decode, or undefined. Fixed bits must agree; then the only bits
 * that can still decide are the free bits of the constrained fields: enumerate them exhaustively.
 */
export function overlapWitness(a: InsnRow, b: InsnRow): number | undefined {
  if (a.width !== b.width) return undefined;
  if (((a.match ^ b.match) & a.mask & b.mask) >>> 0) return undefined;
  const base = (a.match | b.match) >>> 0;
  const free = (constraintMask(a) | constraintMask(b)) & ~(a.mask | b.mask) & (a.width === 16 ? 0xffff : 0xffffffff);
  if (popcount(free) > 20) throw new Error(`${a.name}/${b.name}: too many constrained free bits to enumerate`);
  const bits: number[] = [];
  for (let i = 0; i < 32; i++) if ((free >>> i) & 1) bits.push(i);
  for (let k = 0; k < 1 << bits.length; k++) {
    let w = base;
    bits.forEach((bit, j) => {
      if ((k >>> j) & 1) w |= 1 << bit;
    });
    w >>>= 0;
    if (rowMatches(a, w) && rowMatches(b, w)) return w;
  }
  return undefined;
}

describe('table shape', () => {
  it('has unique mnemonics and a sane width per row', () => {
    const names = INSN_TABLE.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const r of INSN_TABLE) {
      if (r.width === 32) {
        expect((r.match & 3) >>> 0, r.name).toBe(3);
        expect((r.mask & 0x7f) >>> 0, r.name).toBe(0x7f);
      } else {
        expect(r.match & 3, r.name).not.toBe(3);
        expect(r.mask & 3, r.name).toBe(3);
        expect(r.mask >>> 16, r.name).toBe(0);
        expect(formatMask(r) >>> 16, `${r.name}: compressed fields stay in 16 bits`).toBe(0);
      }
      expect((r.match & ~r.mask) >>> 0, `${r.name}: match bits outside mask`).toBe(0);
    }
  });

  it('gives every row a semantic op and an instruction timing class', () => {
    const rowClasses = TIMING_CLASSES.filter((c) => c !== 'branchTaken' && c !== 'trap');
    for (const r of INSN_TABLE) {
      expect(SEMANTIC_OPS, r.name).toContain(r.op);
      expect(rowClasses, r.name).toContain(r.cls);
      if (r.width === 16) {
        // A compressed row executes as a base op that a 32-bit row defines.
        expect(INSN_TABLE.some((b) => b.width === 32 && b.op === r.op), r.name).toBe(true);
        expect(r.ext, r.name).toBe('C');
      }
    }
    expect(OP_ID.none).toBe(0);
    expect(OP_ID.illegal).toBe(1);
    expect(new Set(Object.values(OP_ID)).size).toBe(SEMANTIC_OPS.length);
  });

  it('constrains only fields the format has', () => {
    for (const r of INSN_TABLE)
      for (const c of r.constraints ?? []) {
        const has = c.field === 'imm' ? r.format.imm !== undefined : r.format[c.field] !== undefined;
        expect(has, `${r.name} constrains ${c.field}`).toBe(true);
        // A constraint on a register fixed by the format could never be checked against the word.
        expect(fieldMask(r, c.field), `${r.name}: ${c.field} has no instruction bits`).not.toBe(0);
      }
  });
});

describe('no overlapping rows', () => {
  it('finds no pair of rows that both decode some instruction word', () => {
    const overlaps: string[] = [];
    for (let i = 0; i < INSN_TABLE.length; i++)
      for (let j = i + 1; j < INSN_TABLE.length; j++) {
        const w = overlapWitness(INSN_TABLE[i], INSN_TABLE[j]);
        if (w !== undefined) overlaps.push(`${INSN_TABLE[i].name} / ${INSN_TABLE[j].name} at 0x${w.toString(16)}`);
      }
    expect(overlaps).toEqual([]);
  });

  it('every 16-bit word matches at most one compressed row (exhaustive)', () => {
    const rows16 = INSN_TABLE.filter((r) => r.width === 16);
    const bad: string[] = [];
    let decoded = 0;
    for (let w = 0; w < 0x10000; w++) {
      if ((w & 3) === 3) continue;
      const m = rows16.filter((r) => rowMatches(r, w));
      if (m.length > 1) bad.push(`0x${w.toString(16)}: ${m.map((r) => r.name).join(', ')}`);
      if (m.length) decoded++;
      expect(lookup(w)?.name).toBe(m[0]?.name);
    }
    expect(bad.slice(0, 10)).toEqual([]);
    // Sanity: most of the 49152-word compressed space decodes (the FP forms c.fld, c.fsd, c.fldsp,
    // c.fsdsp included); what does not is q0 funct3 = 4 (2048 words) and the reserved/illegal
    // encodings.
    expect(decoded).toBeGreaterThan(44000);
    expect(decoded).toBeLessThan(49152 - 2048);
  });

  it('the overlap checker does find overlaps that only constraints prevent', () => {
    const strip = (name: string): InsnRow => ({ ...rowByName(name), constraints: [] });
    expect(overlapWitness(strip('c.mv'), rowByName('c.jr'))).toBeDefined();
    expect(overlapWitness(strip('c.lui'), rowByName('c.addi16sp'))).toBeDefined();
    expect(overlapWitness(strip('c.add'), rowByName('c.ebreak'))).toBe(0x9002);
    expect(overlapWitness(strip('c.jalr'), rowByName('c.ebreak'))).toBe(0x9002);
    // ... and that the real constraints separate them.
    expect(overlapWitness(rowByName('c.mv'), rowByName('c.jr'))).toBeUndefined();
    expect(overlapWitness(rowByName('c.lui'), rowByName('c.addi16sp'))).toBeUndefined();
    // Plain mask overlap between 32-bit rows is found too (a row without its funct7).
    const addNoF7: InsnRow = { ...rowByName('add'), mask: 0x707f };
    expect(overlapWitness(addNoF7, rowByName('sub'))).toBe(0x40000033);
  });
});

describe('formats', () => {
  it.each(INSN_TABLE.map((r) => [r.name, r] as const))('%s: operand fields do not collide with fixed bits', (_n, r) => {
    expect((formatMask(r) & r.mask) >>> 0).toBe(0);
    // Register fields never overlap each other, except the rd = rs1 formats (same field object).
    const f = r.format;
    const rd = regMask(f.rd), rs1 = f.rs1 === f.rd ? 0 : regMask(f.rs1), rs2 = regMask(f.rs2);
    const rs3 = regMask(f.rs3), rm = regMask(f.rm);
    const regs = [rd, rs1, rs2, rs3, rm];
    for (let i = 0; i < regs.length; i++) for (let j = i + 1; j < regs.length; j++) expect(regs[i] & regs[j]).toBe(0);
    // Immediate bits never double as register bits, except the CSR immediate forms (rs1 = uimm).
    expect((immMask(f.imm) & (rd | rs1 | rs2 | rs3 | rm)) >>> 0).toBe(0);
    // rs3/rm travel in the decoded slot's immediate bytes (layout.ts S_RS3/S_RM).
    if (f.rs3 || f.rm) expect(f.imm).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Encode -> lookup round trips with random operands
function randomReg(rng: Rng, spec: RegSpec | undefined): number | undefined {
  if (!spec || 'fixed' in spec) return undefined;
  return rng.int(1 << (spec.hi - spec.lo + 1)) + (spec.add ?? 0);
}
function randomImm(rng: Rng, spec: ImmSpec | undefined): number | undefined {
  if (!spec) return undefined;
  const top = immWidth(spec);
  const lowest = Math.min(...spec.segs.map((s) => s[2]));
  const raw = Number(rng.next64() % (1n << BigInt(top - lowest))) * 2 ** lowest;
  return spec.signed && raw >= 2 ** (top - 1) ? raw - 2 ** top : raw;
}
function randomOperands(rng: Rng, r: InsnRow): Operands {
  for (let tries = 0; tries < 1000; tries++) {
    const f = r.format;
    const ops: Operands = {};
    const rd = randomReg(rng, f.rd);
    if (rd !== undefined) ops.rd = rd;
    if (f.rs1 !== f.rd) {
      const rs1 = randomReg(rng, f.rs1);
      if (rs1 !== undefined) ops.rs1 = rs1;
    }
    const rs2 = randomReg(rng, f.rs2);
    if (rs2 !== undefined) ops.rs2 = rs2;
    const rs3 = randomReg(rng, f.rs3);
    if (rs3 !== undefined) ops.rs3 = rs3;
    const rm = randomReg(rng, f.rm);
    if (rm !== undefined) ops.rm = rm;
    const imm = randomImm(rng, f.imm);
    if (imm !== undefined) ops.imm = imm;
    const ok = (r.constraints ?? []).every((c) => {
      const v = c.field === 'imm' ? ops.imm : c.field === 'rs1' && f.rs1 === f.rd ? ops.rd : ops[c.field];
      return v === undefined || !c.not.includes(v);
    });
    if (ok) return ops;
  }
  throw new Error(`${r.name}: no valid random operands`);
}

describe('encode -> lookup round trip', () => {
  it.each(INSN_TABLE.map((r) => [r.name, r] as const))('%s', (name, r) => {
    const rng = new Rng(name.split('').reduce((a, c) => a * 31 + c.charCodeAt(0), 7) >>> 0);
    const f = r.format;
    for (let k = 0; k < 64; k++) {
      const ops = randomOperands(rng, r);
      const w = encode(name, ops);
      expect(lookup(w)?.name, `0x${w.toString(16)}`).toBe(name);
      expect(rowMatches(r, w)).toBe(true);
      expect(w >= 0 && w < (r.width === 16 ? 0x10000 : 2 ** 32)).toBe(true);
      if (ops.rd !== undefined) expect(regValue(f.rd!, w)).toBe(ops.rd);
      if (ops.rs1 !== undefined) expect(regValue(f.rs1!, w)).toBe(ops.rs1);
      if (f.rs1 && f.rs1 === f.rd && ops.rd !== undefined) expect(regValue(f.rs1, w)).toBe(ops.rd);
      if (ops.rs2 !== undefined) expect(regValue(f.rs2!, w)).toBe(ops.rs2);
      if (ops.rs3 !== undefined) expect(regValue(f.rs3!, w)).toBe(ops.rs3);
      if (ops.rm !== undefined) expect(regValue(f.rm!, w)).toBe(ops.rm);
      if (ops.imm !== undefined) expect(immValue(f.imm!, w)).toBe(ops.imm);
    }
  });

  it('encode rejects out-of-range, misaligned, wrong-register and reserved operands', () => {
    expect(() => encode('addi', { rd: 1, rs1: 1, imm: 2048 })).toThrow();
    expect(() => encode('addi', { rd: 1, rs1: 1, imm: -2049 })).toThrow();
    expect(() => encode('beq', { rs1: 1, rs2: 2, imm: 3 })).toThrow();
    expect(() => encode('jal', { rd: 1, imm: 1 << 20 })).toThrow();
    expect(() => encode('c.lw', { rd: 5, rs1: 8, imm: 0 })).toThrow(); // rd must be x8..x15
    expect(() => encode('c.addi4spn', { rd: 8, imm: 0 })).toThrow(); // reserved
    expect(() => encode('c.lui', { rd: 2, imm: 4096 })).toThrow(); // that is c.addi16sp
    expect(() => encode('c.lui', { rd: 5, imm: 0 })).toThrow();
    expect(() => encode('c.jr', { rs1: 0 })).toThrow();
    expect(() => encode('c.addi', { rd: 5, rs1: 6, imm: 1 })).toThrow();
    expect(() => encode('nosuch')).toThrow();
    expect(() => encode('fadd.s', { rd: 1, rs1: 2, rs2: 3, rm: 5 })).toThrow(); // reserved rm
    expect(() => encode('fadd.s', { rd: 1, rs1: 2, rs2: 3, rm: 8 })).toThrow();
    expect(() => encode('fsgnj.s', { rd: 1, rs1: 2, rs2: 3, rm: 1 })).toThrow(); // funct3 is fixed: no rm
    expect(() => encode('c.fld', { rd: 7, rs1: 8, imm: 0 })).toThrow(); // rd must be f8..f15
  });

  it('encodes known words (spec examples)', () => {
    expect(encode('addi', { rd: 0, rs1: 0, imm: 0 })).toBe(0x00000013); // nop
    expect(encode('c.addi', { rd: 0, imm: 0 })).toBe(0x0001); // c.nop
    expect(encode('ecall')).toBe(0x00000073);
    expect(encode('ebreak')).toBe(0x00100073);
    expect(encode('c.ebreak')).toBe(0x9002);
    expect(encode('mret')).toBe(0x30200073);
    expect(encode('wfi')).toBe(0x10500073);
    expect(encode('jalr', { rd: 0, rs1: 1, imm: 0 })).toBe(0x00008067); // ret
    expect(encode('c.jr', { rs1: 1 })).toBe(0x8082); // c.ret
    expect(encode('lui', { rd: 10, imm: 0x12345 << 12 })).toBe(0x12345537);
    expect(encode('sd', { rs1: 2, rs2: 1, imm: 8 })).toBe(0x00113423);
    expect(encode('csrrs', { rd: 10, rs1: 0, imm: 0xf14 })).toBe(0xf1402573); // csrr a0, mhartid
    expect(encode('c.addi16sp', { imm: -16 })).toBe(0x717d);
    expect(encode('c.addi4spn', { rd: 8, imm: 16 })).toBe(0x0800);
    expect(encode('c.ldsp', { rd: 1, imm: 8 })).toBe(0x60a2);
    expect(encode('c.sdsp', { rs2: 1, imm: 8 })).toBe(0xe406);
    // F/D (checked against GNU as 2.x, -march=rv64gc); rm defaults to dyn (7)
    expect(encode('fadd.s', { rd: 10, rs1: 11, rs2: 12 })).toBe(0x00c5f553);
    expect(encode('fadd.d', { rd: 0, rs1: 1, rs2: 2, rm: 1 })).toBe(0x02209053);
    expect(encode('fmadd.d', { rd: 1, rs1: 2, rs2: 3, rs3: 31, rm: 0 })).toBe(0xfa3100c3);
    expect(encode('flw', { rd: 8, rs1: 2, imm: -4 })).toBe(0xffc12407);
    expect(encode('fsd', { rs1: 10, rs2: 9, imm: 16 })).toBe(0x00953827);
    expect(encode('fcvt.w.s', { rd: 10, rs1: 10, rm: 1 })).toBe(0xc0051553);
    expect(encode('fmv.x.w', { rd: 1, rs1: 2 })).toBe(0xe00100d3);
    expect(encode('c.fld', { rd: 8, rs1: 9, imm: 8 })).toBe(0x2480);
    expect(encode('c.fsdsp', { rs2: 31, imm: 504 })).toBe(0xbffe);
  });
});

describe('generated files are current', () => {
  it.each(Object.entries(generateAll()))('%s matches generateAll() (run `npm run gen`)', (rel, text) => {
    const onDisk = readFileSync(join(root, rel), 'utf8');
    expect(onDisk === text, `${rel} is stale`).toBe(true);
  });
});

describe('run loop implements every semantic op', () => {
  const src = readFileSync(join(root, 'assembly/run.ts'), 'utf8');
  it.each(SEMANTIC_OPS.map((op) => [op] as const))('case %s', (op) => {
    const re = new RegExp(`case\\s+${opConst(op)}\\s*:`);
    expect(re.test(src), `assembly/run.ts has no "case ${opConst(op)}:"`).toBe(true);
  });
});
