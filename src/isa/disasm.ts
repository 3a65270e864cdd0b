/** Disassembler driven by the instruction table (used by --trace and error messages). */
import { lookup, regValue, immValue, type InsnRow } from './table.js';

export const ABI_NAMES = [
  'zero', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 's0', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5',
  'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6',
];

/** Floating-point register ABI names (psABI: ft0-7, fs0-1, fa0-7, fs2-11, ft8-11). */
export const FP_ABI_NAMES = [
  'ft0', 'ft1', 'ft2', 'ft3', 'ft4', 'ft5', 'ft6', 'ft7', 'fs0', 'fs1', 'fa0', 'fa1', 'fa2', 'fa3', 'fa4', 'fa5',
  'fa6', 'fa7', 'fs2', 'fs3', 'fs4', 'fs5', 'fs6', 'fs7', 'fs8', 'fs9', 'fs10', 'fs11', 'ft8', 'ft9', 'ft10', 'ft11',
];

/** Rounding-mode names (Unpriv table 11.1); 5 and 6 are reserved, 7 is dyn (printed as nothing). */
export const RM_NAMES = ['rne', 'rtz', 'rdn', 'rup', 'rmm', 'rm5', 'rm6', 'dyn'];

const CSR_NAMES: Record<number, string> = {
  0x001: 'fflags', 0x002: 'frm', 0x003: 'fcsr',
  0x300: 'mstatus', 0x301: 'misa', 0x302: 'medeleg', 0x303: 'mideleg', 0x304: 'mie', 0x305: 'mtvec',
  0x306: 'mcounteren', 0x30a: 'menvcfg', 0x320: 'mcountinhibit', 0x340: 'mscratch', 0x341: 'mepc',
  0x342: 'mcause', 0x343: 'mtval', 0x344: 'mip', 0xb00: 'mcycle', 0xb02: 'minstret', 0xc00: 'cycle',
  0xc01: 'time', 0xc02: 'instret', 0xf11: 'mvendorid', 0xf12: 'marchid', 0xf13: 'mimpid', 0xf14: 'mhartid',
  0x100: 'sstatus', 0x104: 'sie', 0x105: 'stvec', 0x140: 'sscratch', 0x141: 'sepc', 0x142: 'scause',
  0x143: 'stval', 0x144: 'sip', 0x180: 'satp',
};

function hex(v: number): string {
  return v < 0 ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

/** Disassemble one instruction word at `pc` (a bigint or number, for branch targets). */
export function disassemble(insn: number, pc: bigint = 0n): string {
  const row = lookup(insn);
  if (!row) return `unknown 0x${(insn >>> 0).toString(16).padStart((insn & 3) === 3 ? 8 : 4, '0')}`;
  return format(row, insn, pc);
}

function format(row: InsnRow, insn: number, pc: bigint): string {
  const f = row.format;
  const reg = (spec: typeof f.rd) =>
    spec ? ('f' in spec && spec.f ? FP_ABI_NAMES : ABI_NAMES)[regValue(spec, insn)] : '?';
  const imm = f.imm ? immValue(f.imm, insn) : 0;
  if (!f.asm) return row.name;
  const text = f.asm.replace(/, rm|off\(rs1\)|uimm20|target|uimm|csr|rd|rs1|rs2|rs3|imm/g, (tok) => {
    switch (tok) {
      case ', rm': {
        const rm = f.rm ? regValue(f.rm, insn) : 7;
        return rm === 7 ? '' : `, ${RM_NAMES[rm]}`;
      }
      case 'rd': return reg(f.rd);
      case 'rs1': return reg(f.rs1);
      case 'rs2': return reg(f.rs2);
      case 'rs3': return reg(f.rs3);
      case 'imm': return String(imm);
      case 'uimm20': return hex((imm >>> 12) & 0xfffff);
      case 'off(rs1)': return `${imm}(${reg(f.rs1)})`;
      case 'target': return `0x${BigInt.asUintN(64, pc + BigInt(imm)).toString(16)}`;
      case 'csr': return CSR_NAMES[imm] ?? hex(imm);
      case 'uimm': return String(f.rs1 ? regValue(f.rs1, insn) : 0);
      default: return tok;
    }
  });
  return `${row.name} ${text}`;
}
