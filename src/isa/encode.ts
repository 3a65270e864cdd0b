/**
 * Instruction encoder driven by the same table rows the decoder is generated from. Tests use it to
 * build instruction words; `encode('addi', {rd: 1, rs1: 0, imm: 5})`. Register numbers are the
 * plain 0..31 of whichever file the field names (x or f); an rm left out is 7 (dyn), as assemblers do.
 */
import { INSN_TABLE, immWidth, rowMatches, type InsnRow, type RegSpec, type ImmSpec } from './table.js';

export interface Operands {
  rd?: number;
  rs1?: number;
  rs2?: number;
  rs3?: number;
  /** Rounding mode 0..7 (Unpriv table 11.1); default 7 = dyn. */
  rm?: number;
  imm?: number;
}

const byName = new Map<string, InsnRow>(INSN_TABLE.map((r) => [r.name, r]));

export function rowByName(name: string): InsnRow {
  const r = byName.get(name);
  if (!r) throw new Error(`unknown instruction ${name}`);
  return r;
}

function putReg(spec: RegSpec | undefined, v: number | undefined, what: string, name: string): number {
  if (!spec) {
    if (v !== undefined && v !== 0) throw new Error(`${name} has no ${what} operand`);
    return 0;
  }
  if ('fixed' in spec) {
    if (v !== undefined && v !== spec.fixed) throw new Error(`${name}: ${what} is fixed to x${spec.fixed}`);
    return 0;
  }
  const val = v ?? 0;
  const raw = val - (spec.add ?? 0);
  const w = spec.hi - spec.lo + 1;
  if (raw < 0 || raw >= 1 << w) throw new Error(`${name}: ${what}=x${val} not encodable`);
  return (raw << spec.lo) >>> 0;
}

function putImm(spec: ImmSpec | undefined, v: number | undefined, name: string): number {
  if (!spec) {
    if (v !== undefined && v !== 0) throw new Error(`${name} has no immediate`);
    return 0;
  }
  const val = v ?? 0;
  const top = immWidth(spec);
  const lowest = Math.min(...spec.segs.map((s) => s[2]));
  const min = spec.signed ? -(2 ** (top - 1)) : 0;
  const max = spec.signed ? 2 ** (top - 1) - 1 : 2 ** top - 1;
  if (val < min || val > max) throw new Error(`${name}: immediate ${val} out of range [${min}, ${max}]`);
  const u = val < 0 ? val + 2 ** top : val;
  if (u % 2 ** lowest !== 0) throw new Error(`${name}: immediate ${val} must be a multiple of ${2 ** lowest}`);
  let out = 0;
  for (const [hi, lo, at] of spec.segs) {
    const w = hi - lo + 1;
    const bitsv = Math.floor(u / 2 ** at) % 2 ** w;
    out = (out | (bitsv << lo)) >>> 0;
  }
  return out;
}

export function encode(name: string, ops: Operands = {}): number {
  const r = rowByName(name);
  const f = r.format;
  let w = r.match;
  w |= putReg(f.rd, ops.rd, 'rd', name);
  // Formats where rd and rs1 are the same field (c.addi): rs1 must equal rd.
  if (f.rs1 && f.rd && f.rs1 === f.rd) {
    if (ops.rs1 !== undefined && ops.rs1 !== ops.rd) throw new Error(`${name}: rs1 must equal rd`);
  } else {
    w |= putReg(f.rs1, ops.rs1, 'rs1', name);
  }
  w |= putReg(f.rs2, ops.rs2, 'rs2', name);
  w |= putReg(f.rs3, ops.rs3, 'rs3', name);
  w |= putReg(f.rm, f.rm ? (ops.rm ?? 7) : ops.rm, 'rm', name);
  w |= putImm(f.imm, ops.imm, name);
  w >>>= 0;
  if (((w & r.mask) >>> 0) !== r.match) throw new Error(`${name}: operands collide with fixed bits`);
  if (!rowMatches(r, w)) throw new Error(`${name}: operands form a reserved encoding`);
  return r.width === 16 ? w & 0xffff : w;
}
