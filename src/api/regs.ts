/** Register names for the public API (psABI names, x0..x31 / f0..f31, or numbers). */
import { ABI_NAMES, FP_ABI_NAMES } from '../isa/disasm.js';
import { UserError } from '../errors.js';

/** A register: its number (0..31), its ABI name ('a0', 'sp', 'fa0') or its x/f name ('x10', 'f10'). */
export type RegName = number | string;

function index(r: RegName, names: readonly string[], prefix: 'x' | 'f'): number {
  if (typeof r === 'number') {
    if (Number.isInteger(r) && r >= 0 && r < 32) return r;
  } else {
    const t = r.trim().toLowerCase();
    const i = names.indexOf(t);
    if (i >= 0) return i;
    if (prefix === 'x' && t === 'fp') return 8; // s0's other psABI name
    const m = new RegExp(`^${prefix}([0-9]|[12][0-9]|3[01])$`).exec(t);
    if (m) return Number(m[1]);
  }
  throw new UserError(`unknown ${prefix === 'x' ? 'integer' : 'floating-point'} register '${String(r)}' (0..31, ${prefix}0..${prefix}31 or an ABI name such as ${names[10]})`);
}

export function regIndex(r: RegName): number {
  return index(r, ABI_NAMES, 'x');
}
export function fregIndex(r: RegName): number {
  return index(r, FP_ABI_NAMES, 'f');
}

/** An address as a bigint (numbers must be safe non-negative integers). */
export function toBigAddr(a: bigint | number): bigint {
  if (typeof a === 'bigint') return BigInt.asUintN(64, a);
  if (!(Number.isSafeInteger(a) && a >= 0)) throw new UserError(`address ${a} is not a whole number >= 0`);
  return BigInt(a);
}

/**
 * CSR numbers by name (Priv 1.12 tables 2.2-2.6, the H extension's, Sdtrig's; Unpriv ch. 13 for
 * the FP ones): the standard names a caller may use instead of the number.
 */
const CSR_NUMBERS: Readonly<Record<string, number>> = {
  fflags: 0x001, frm: 0x002, fcsr: 0x003, cycle: 0xc00, time: 0xc01, instret: 0xc02,
  sstatus: 0x100, sie: 0x104, stvec: 0x105, scounteren: 0x106, senvcfg: 0x10a, sscratch: 0x140, sepc: 0x141,
  scause: 0x142, stval: 0x143, sip: 0x144, stimecmp: 0x14d, satp: 0x180,
  vsstatus: 0x200, vsie: 0x204, vstvec: 0x205, vsscratch: 0x240, vsepc: 0x241, vscause: 0x242, vstval: 0x243,
  vsip: 0x244, vstimecmp: 0x24d, vsatp: 0x280,
  mstatus: 0x300, misa: 0x301, medeleg: 0x302, mideleg: 0x303, mie: 0x304, mtvec: 0x305, mcounteren: 0x306,
  menvcfg: 0x30a, mcountinhibit: 0x320, mscratch: 0x340, mepc: 0x341, mcause: 0x342, mtval: 0x343, mip: 0x344,
  mtinst: 0x34a, mtval2: 0x34b, pmpcfg0: 0x3a0, pmpcfg2: 0x3a2, pmpaddr0: 0x3b0,
  hstatus: 0x600, hedeleg: 0x602, hideleg: 0x603, hie: 0x604, htimedelta: 0x605, hcounteren: 0x606, hgeie: 0x607,
  henvcfg: 0x60a, htval: 0x643, hip: 0x644, hvip: 0x645, htinst: 0x64a, hgatp: 0x680, hgeip: 0xe12,
  tselect: 0x7a0, tdata1: 0x7a1, tdata2: 0x7a2, tdata3: 0x7a3, tinfo: 0x7a4,
  mcycle: 0xb00, minstret: 0xb02, mvendorid: 0xf11, marchid: 0xf12, mimpid: 0xf13, mhartid: 0xf14, mconfigptr: 0xf15,
};

/** A CSR: its number (0..0xfff) or its name ('mstatus', 'satp', 'pmpaddr3', 'mhpmcounter3'). */
export type CsrName = number | string;

export function csrNumber(c: CsrName): number {
  if (typeof c === 'number') {
    if (Number.isInteger(c) && c >= 0 && c <= 0xfff) return c;
  } else {
    const t = c.trim().toLowerCase();
    const n = CSR_NUMBERS[t];
    if (n !== undefined) return n;
    let m = /^pmpaddr([0-9]|1[0-5])$/.exec(t);
    if (m) return 0x3b0 + Number(m[1]);
    m = /^mhpm(counter|event)([3-9]|[12][0-9]|3[01])$/.exec(t);
    if (m) return (m[1] === 'counter' ? 0xb00 : 0x320) + Number(m[2]);
    m = /^hpmcounter([3-9]|[12][0-9]|3[01])$/.exec(t);
    if (m) return 0xc00 + Number(m[1]);
  }
  throw new UserError(`unknown CSR '${String(c)}' (a number 0..0xfff or a name such as mstatus)`);
}
