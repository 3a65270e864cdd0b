/**
 * Control and status registers (Zicsr, Zicntr, Sstc; Priv 1.12 ch. 2-4).
 * Unknown CSRs, writes to read-only CSRs, accesses above the current privilege and counter reads
 * that mcounteren/scounteren forbid raise illegal-instruction with mtval = the instruction bits.
 * Every register holds only its legal (WARL) values.
 */
import {
  H_MSTATUS, H_MISA, H_MIE, H_MIP, H_MTVEC, H_MSCRATCH, H_MEPC, H_MCAUSE, H_MTVAL, H_MHARTID,
  H_CYCLES, H_INSTRET, H_MCYCLE_OFS, H_MINSTRET_OFS, H_TIME_DIV, H_TIME_OFS, H_PRIV, H_MEDELEG,
  H_MIDELEG, H_MCOUNTEREN, H_MENVCFG, H_STVEC, H_SSCRATCH, H_SEPC, H_SCAUSE, H_STVAL, H_SATP,
  H_SCOUNTEREN, H_SENVCFG, H_STIMECMP, H_STIMECMP_CYCLE, H_PMPCFG, H_PMPADDR, H_PMP_ACTIVE,
  H_SATP_MODES, H_SEIP_SW, H_SEIP_LINE, H_FCSR, H_VIRT, H_HGATP, H_VSATP, H_HSTATUS, H_HEDELEG,
  H_HIDELEG, H_HVIP, H_HCOUNTEREN, H_HTIMEDELTA, H_HTVAL, H_HTINST, H_HENVCFG, H_MTVAL2, H_MTINST,
  H_VSSTATUS, H_VSTVEC, H_VSSCRATCH, H_VSEPC, H_VSCAUSE, H_VSTVAL, H_VSTIMECMP, H_VSTIMECMP_CYCLE, H_HYP,
  H_MCOUNTINHIBIT,
} from './layout';
import { raise, CAUSE_ILLEGAL_INSTRUCTION, CAUSE_VIRTUAL_INSTRUCTION, midelegEff } from './trap';
import {
  PRV_M, PRV_S, PRV_U, MSTATUS_SIE, MSTATUS_MIE, MSTATUS_SPIE, MSTATUS_MPIE, MSTATUS_SPP, MSTATUS_MPP,
  MSTATUS_MPP_SHIFT, MSTATUS_MPRV, MSTATUS_SUM, MSTATUS_MXR, MSTATUS_TVM, MSTATUS_TW, MSTATUS_TSR,
  MSTATUS_UXL, MSTATUS_SXL, MSTATUS_FS, MSTATUS_SD, MSTATUS_FS_DIRTY, MSTATUS_GVA, MSTATUS_MPV,
  HSTATUS_GVA, HSTATUS_SPV, HSTATUS_SPVP, HSTATUS_HU, HSTATUS_VTVM, HSTATUS_VTW, HSTATUS_VTSR, HSTATUS_VSXL,
  VS_INTS,
} from './hart';
import { tlbFlushAll, tlbFlushVirtual, tlbFlushGuest } from './mmu';
import { tmSatpWrite } from './tlbmodel';
import { extOn } from './isaext';
import { EXT_ZICBOM, EXT_ZICBOZ, EXT_SVPBMT, EXT_SHLCOFIDELEG } from './generated/ops';
/** menvcfg / henvcfg.PBMTE (Svpbmt, bit 62). */
const ENVCFG_PBMTE: u64 = (<u64>1) << 62;
/** PBMTE when the harts have Svpbmt (else read-only zero). */
@inline function pbmteMask(): u64 {
  return (extOn & EXT_SVPBMT) != 0 ? ENVCFG_PBMTE : 0;
}

/**
 * The cache-block fields of a written menvcfg / senvcfg / henvcfg value (Priv 20211203 §3.1.18):
 * CBIE [5:4] and CBCFE 6 with Zicbom, CBZE 7 with Zicboz; read-only zero without. CBIE = 10 is
 * reserved (WARL): it is written as 00 (QEMU 7.2 keeps the bits of writes it considers legal
 * only; 00 disables, the safe reading).
 */
function envcfgCb(v: u64): u64 {
  let r: u64 = 0;
  if ((extOn & EXT_ZICBOM) != 0) {
    const cbie = (v >> 4) & 3;
    r |= (cbie == 2 ? 0 : cbie << 4) | (v & (1 << 6));
  }
  if ((extOn & EXT_ZICBOZ) != 0) r |= v & (1 << 7);
  return r;
}
import { isTriggerCsr, trigCsrRead, trigCsrWrite } from './trigger';
import { hpmRead, hpmWrite, hpmEventRead, hpmEventWrite, hpmInhibitWrite, hpmScountovf, sscofpmfOn, MIP_LCOFIP } from './hpm';

// misa (Priv 1.12 §3.1.1): MXL = 2 (64-bit); A C D F I M S U.
export const MISA_VALUE: u64 = ((<u64>2) << 62) | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) |
  (1 << 18) | (1 << 20);

// FS is writable (WARL, all four values legal); SD is read-only and summarises it (XS = VS = 0).
const MSTATUS_WMASK: u64 = MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP |
  MSTATUS_MPP | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR;
// sstatus is a view of mstatus (Priv 1.12 §4.1.1).
const SSTATUS_MASK: u64 = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR |
  MSTATUS_UXL | MSTATUS_SD;
const SSTATUS_WMASK: u64 = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR;
// Interrupt bits: S-level SSIP(1) STIP(5) SEIP(9); M-level MSIP(3) MTIP(7) MEIP(11).
const S_INTS: u64 = (1 << 1) | (1 << 5) | (1 << 9);
const M_INTS: u64 = (1 << 3) | (1 << 7) | (1 << 11);
// Sscofpmf: the local counter-overflow interrupt (13) is an S-level interrupt as far as sie/sip
// and delegation go; its mip/mie/mideleg/hideleg bits are writable only with Sscofpmf, so sie/sip
// (masked by mideleg) and vsie/vsip (masked by hideleg) show it only then.
const S_INTS_L: u64 = S_INTS | MIP_LCOFIP;
@inline function lcofBit(): u64 {
  return sscofpmfOn() ? MIP_LCOFIP : 0;
}
// Exceptions M-mode may delegate (ecall from M, 11, cannot be; 10 and 14 are reserved).
const MEDELEG_MASK: u64 = 0xb3ff;
const MENVCFG_STCE: u64 = (<u64>1) << 63;

// H extension (Priv spec, "Hypervisor Extension").
export const MISA_H: u64 = 1 << 7;
const HSTATUS_WMASK: u64 = HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_HU | HSTATUS_VTVM | HSTATUS_VTW | HSTATUS_VTSR;
// hedeleg: ecalls from HS/VS/M (9, 10, 11) and the guest-page faults and virtual instruction
// (20..23) are read-only zero ("hedeleg"): those traps can never be handled in VS-mode.
const HEDELEG_MASK: u64 = 0xb1ff;
// medeleg with H: also VS ecalls (10), guest-page faults (20, 21, 23), virtual instruction (22).
const MEDELEG_MASK_H: u64 = MEDELEG_MASK | (1 << 10) | (0xf << 20);
// hgatp (RV64): MODE 63:60, VMID 57:44 (VMIDLEN = 14, the maximum), PPN 43:0 with bits 1:0 zero
// (the G-stage root table is 16 KiB and 16 KiB aligned).
const HGATP_VMID_MASK: u64 = (<u64>0x3fff) << 44;
const HGATP_PPN_MASK: u64 = 0xffffffffffc;

/** Is the H extension present (misa.H)? */
@inline export function hypOn(): bool {
  return load<u64>(H_HYP) != 0;
}
@inline function isVirt(): bool {
  return load<u64>(H_VIRT) != 0;
}

/** The CSR access failed because of V = 1 rules: raise virtual-instruction, not illegal-instruction. */
let csrVirtualFault: bool = false;
@inline function virtualFault(): void {
  csrVirtualFault = true;
}

/** Cycle cost of the CSR instruction being executed (so counter writes land exactly). */
export let curLat: u64 = 0;
export function setCurLat(l: u64): void {
  curLat = l;
}

@inline function cyclesNow(): u64 {
  return load<u64>(H_CYCLES);
}
export function timeNow(): u64 {
  const div = load<u64>(H_TIME_DIV);
  return (div == 0 ? 0 : cyclesNow() / div) + load<u64>(H_TIME_OFS);
}

/** Sstc: recompute the cycle at which time >= stimecmp, and STIP now. */
export function updateStimecmp(): void {
  if ((load<u64>(H_MENVCFG) & MENVCFG_STCE) == 0) {
    store<u64>(H_STIMECMP_CYCLE, <u64>-1);
    return;
  }
  const cmp = load<u64>(H_STIMECMP);
  const ofs = load<u64>(H_TIME_OFS);
  const div = load<u64>(H_TIME_DIV);
  let at: u64;
  if (cmp <= ofs) at = 0;
  else if (div == 0 || (cmp - ofs) > (<u64>-1) / div) at = <u64>-1;
  else at = (cmp - ofs) * div;
  store<u64>(H_STIMECMP_CYCLE, at);
  const mip = load<u64>(H_MIP);
  store<u64>(H_MIP, timeNow() >= cmp ? mip | (1 << 5) : mip & ~(<u64>1 << 5));
}

/**
 * Sstc for VS-mode: VSTIP is pending while (time + htimedelta) >= vstimecmp, when henvcfg.STCE
 * (and menvcfg.STCE) = 1. Recompute the cycle at which that starts, and hip.VSTIP now (the OR
 * of hvip.VSTIP and the timer).
 */
export function updateVstimecmp(): void {
  let timer: u64 = 0;
  if ((load<u64>(H_MENVCFG) & load<u64>(H_HENVCFG) & MENVCFG_STCE) == 0 || !hypOn()) {
    store<u64>(H_VSTIMECMP_CYCLE, <u64>-1);
  } else {
    // time + htimedelta >= vstimecmp  <=>  time >= vstimecmp - htimedelta (guest time does not wrap)
    const cmp = load<u64>(H_VSTIMECMP) - load<u64>(H_HTIMEDELTA);
    const ofs = load<u64>(H_TIME_OFS);
    const div = load<u64>(H_TIME_DIV);
    let at: u64;
    if (cmp <= ofs) at = 0;
    else if (div == 0 || (cmp - ofs) > (<u64>-1) / div) at = <u64>-1;
    else at = (cmp - ofs) * div;
    store<u64>(H_VSTIMECMP_CYCLE, at);
    timer = timeNow() + load<u64>(H_HTIMEDELTA) >= load<u64>(H_VSTIMECMP) ? 1 : 0;
  }
  updateVsip(timer);
}

/** mip bits 2, 6, 10 (hip.VSSIP/VSTIP/VSEIP) from hvip and the VS timer (GEILEN = 0: no hgeip term). */
function updateVsip(timer: u64): void {
  const hvip = load<u64>(H_HVIP);
  const mip = load<u64>(H_MIP);
  store<u64>(H_MIP, (mip & ~VS_INTS) | (hvip & VS_INTS) | (timer << 6));
}
function vsTimerPending(): u64 {
  const at = load<u64>(H_VSTIMECMP_CYCLE);
  return at != <u64>-1 && cyclesNow() >= at ? 1 : 0;
}

export let csrOk: bool = true;

/** mcounteren/scounteren gate cycle(0) time(1) instret(2) hpmN(N) below M-mode (Priv §3.1.11). */
function counterAllowed(idx: u32): bool {
  const p = <u32>load<u64>(H_PRIV);
  if (p < PRV_M && ((load<u64>(H_MCOUNTEREN) >> idx) & 1) == 0) return false;
  // H ext. "Virtual-Instruction Exceptions": with V = 1, hcounteren (VS, VU) and scounteren (VU)
  // clear while mcounteren allows it is a virtual-instruction exception.
  if (isVirt()) {
    if (((load<u64>(H_HCOUNTEREN) >> idx) & 1) == 0 ||
      (p == PRV_U && ((load<u64>(H_SCOUNTEREN) >> idx) & 1) == 0)) {
      virtualFault();
      return false;
    }
    return true;
  }
  if (p == PRV_U && ((load<u64>(H_SCOUNTEREN) >> idx) & 1) == 0) return false;
  return true;
}

/** Priv 1.12 §3.1.6.6: with mstatus.FS = Off, FP instructions and the FP CSRs are illegal. */
// H ext.: with V = 1 vsstatus.FS gates FP as well (always illegal-instruction, never virtual).
@inline function fsOff(): bool {
  return (load<u64>(H_MSTATUS) & MSTATUS_FS) == 0 || (isVirt() && (load<u64>(H_VSSTATUS) & MSTATUS_FS) == 0);
}

/** An FP CSR write modified the FP state: FS = Dirty, and SD with it. */
function fpStateDirty(): void {
  store<u64>(H_MSTATUS, load<u64>(H_MSTATUS) | MSTATUS_FS_DIRTY | MSTATUS_SD);
  // H ext.: with V = 1 both sstatus.FS (HS level) and vsstatus.FS become Dirty.
  if (isVirt()) store<u64>(H_VSSTATUS, load<u64>(H_VSSTATUS) | MSTATUS_FS_DIRTY | MSTATUS_SD);
}

/**
 * vsie / vsip from mie / mip: the VS-level bits hideleg delegates, shifted to the S positions
 * (H ext. "vsip and vsie"), and LCOFI (13) unshifted when hideleg delegates it (Sscofpmf).
 */
@inline function vsView(m: u64): u64 {
  const h = load<u64>(H_HIDELEG);
  return ((m & h & VS_INTS) >> 1) | (m & h & midelegEff() & MIP_LCOFIP);
}

export function readCsr(csr: u32): u64 {
  switch (csr) {
    // --- floating point (Unpriv 11.2): fflags and frm are views of fcsr
    case 0x001: if (fsOff()) break; return load<u64>(H_FCSR) & 0x1f;
    case 0x002: if (fsOff()) break; return (load<u64>(H_FCSR) >> 5) & 7;
    case 0x003: if (fsOff()) break; return load<u64>(H_FCSR) & 0xff;
    // --- unprivileged counters (Zicntr): values before this instruction retires
    case 0xc00: if (!counterAllowed(0)) break; return cyclesNow() + load<u64>(H_MCYCLE_OFS);
    case 0xc01: if (!counterAllowed(1)) break; return isVirt() ? timeNow() + load<u64>(H_HTIMEDELTA) : timeNow();
    case 0xc02: if (!counterAllowed(2)) break; return load<u64>(H_INSTRET) + load<u64>(H_MINSTRET_OFS);
    // --- Sscofpmf scountovf: the OF bits, each readable below M-mode only when mcounteren (and in
    // VS-mode hcounteren) has the counter's bit; a bit that is not readable reads 0.
    case 0xda0: {
      if (!sscofpmfOn()) break;
      let r = hpmScountovf();
      if (<u32>load<u64>(H_PRIV) < PRV_M) r &= load<u64>(H_MCOUNTEREN);
      if (isVirt()) r &= load<u64>(H_HCOUNTEREN);
      return r;
    }
    // --- supervisor
    case 0x100: return load<u64>(H_MSTATUS) & SSTATUS_MASK;
    case 0x104: return load<u64>(H_MIE) & load<u64>(H_MIDELEG) & S_INTS_L;
    case 0x105: return load<u64>(H_STVEC);
    case 0x106: return load<u64>(H_SCOUNTEREN);
    case 0x10a: return load<u64>(H_SENVCFG);
    case 0x140: return load<u64>(H_SSCRATCH);
    case 0x141: return load<u64>(H_SEPC);
    case 0x142: return load<u64>(H_SCAUSE);
    case 0x143: return load<u64>(H_STVAL);
    case 0x144: return load<u64>(H_MIP) & load<u64>(H_MIDELEG) & S_INTS_L;
    case 0x14d: if (!stimecmpAllowed()) break; return load<u64>(H_STIMECMP);
    case 0x180: if (tvmTrap()) break; return load<u64>(H_SATP);
    // --- hypervisor and VS CSRs (V = 0 here: csrAccess redirects V = 1 accesses)
    case 0x600: return load<u64>(H_HSTATUS);
    case 0x602: return load<u64>(H_HEDELEG);
    case 0x603: return load<u64>(H_HIDELEG);
    case 0x604: return load<u64>(H_MIE) & VS_INTS; // hie: SGEIE read-only zero (GEILEN = 0)
    case 0x605: return load<u64>(H_HTIMEDELTA);
    case 0x606: return load<u64>(H_HCOUNTEREN);
    case 0x607: return 0; // hgeie: GEILEN = 0
    case 0x60a: return load<u64>(H_HENVCFG) & (load<u64>(H_MENVCFG) | ~(MENVCFG_STCE | ENVCFG_PBMTE));
    case 0x643: return load<u64>(H_HTVAL);
    case 0x644: return load<u64>(H_MIP) & VS_INTS; // hip
    case 0x645: return load<u64>(H_HVIP);
    case 0x64a: return load<u64>(H_HTINST);
    case 0x680: if (tvmTrap()) break; return load<u64>(H_HGATP);
    case 0xe12: return 0; // hgeip: GEILEN = 0
    case 0x200: return load<u64>(H_VSSTATUS);
    case 0x204: return vsView(load<u64>(H_MIE)); // vsie
    case 0x205: return load<u64>(H_VSTVEC);
    case 0x240: return load<u64>(H_VSSCRATCH);
    case 0x241: return load<u64>(H_VSEPC);
    case 0x242: return load<u64>(H_VSCAUSE);
    case 0x243: return load<u64>(H_VSTVAL);
    case 0x244: return vsView(load<u64>(H_MIP)); // vsip
    case 0x24d: if (!vstimecmpAllowed()) break; return load<u64>(H_VSTIMECMP);
    case 0x280: if (vtvmTrap()) break; return load<u64>(H_VSATP);
    case 0x34a: return load<u64>(H_MTINST);
    case 0x34b: return load<u64>(H_MTVAL2);
    // --- machine
    case 0x300: return load<u64>(H_MSTATUS);
    case 0x301: return load<u64>(H_MISA);
    case 0x302: return load<u64>(H_MEDELEG);
    case 0x303: return midelegEff();
    case 0x304: return load<u64>(H_MIE);
    case 0x305: return load<u64>(H_MTVEC);
    case 0x306: return load<u64>(H_MCOUNTEREN);
    case 0x30a: return load<u64>(H_MENVCFG);
    case 0x320: return load<u64>(H_MCOUNTINHIBIT); // bits 3..31 (hpm.ts); CY, IR always count
    case 0x340: return load<u64>(H_MSCRATCH);
    case 0x341: return load<u64>(H_MEPC);
    case 0x342: return load<u64>(H_MCAUSE);
    case 0x343: return load<u64>(H_MTVAL);
    case 0x344: return load<u64>(H_MIP);
    case 0x3a0: return load<u64>(H_PMPCFG);
    case 0x3a2: return load<u64>(H_PMPCFG + 8);
    case 0xb00: return cyclesNow() + load<u64>(H_MCYCLE_OFS);
    case 0xb02: return load<u64>(H_INSTRET) + load<u64>(H_MINSTRET_OFS);
    case 0xf11: case 0xf12: case 0xf13: case 0xf15: return 0; // mvendorid marchid mimpid mconfigptr
    case 0xf14: return load<u64>(H_MHARTID);
    default: {
      if (csr >= 0x3b0 && csr <= 0x3bf) return load<u64>(H_PMPADDR + (csr - 0x3b0) * 8);
      // pmpaddr16..63 and pmpcfg4..14: entries not implemented, read zero (WARL).
      if (csr >= 0x3c0 && csr <= 0x3ef) return 0;
      if (csr >= 0x3a4 && csr <= 0x3ae && (csr & 1) == 0) return 0;
      // Zihpm (hpm.ts): hpmcounter3..31 (gated like the others), mhpmcounter3..31, mhpmevent3..31.
      if (csr >= 0xc03 && csr <= 0xc1f) { if (!counterAllowed(csr - 0xc00)) break; return hpmRead(csr - 0xc00); }
      if (csr >= 0xb03 && csr <= 0xb1f) return hpmRead(csr - 0xb00);
      if (csr >= 0x323 && csr <= 0x33f) return hpmEventRead(csr - 0x320);
      if (isTriggerCsr(csr)) return trigCsrRead(csr); // Sdtrig (trigger.ts)
    }
  }
  csrOk = false;
  return 0;
}

// mstatus.TVM traps satp and hgatp accesses in HS-mode only (V = 0).
@inline function tvmTrap(): bool {
  return <u32>load<u64>(H_PRIV) == PRV_S && !isVirt() && (load<u64>(H_MSTATUS) & MSTATUS_TVM) != 0;
}
/** satp (that is vsatp) from VS-mode with hstatus.VTVM = 1: virtual-instruction exception. */
function vtvmTrap(): bool {
  if (isVirt() && (load<u64>(H_HSTATUS) & HSTATUS_VTVM) != 0) {
    virtualFault();
    return true;
  }
  return false;
}
/**
 * vstimecmp (Sstc): from HS as stimecmp is; from VS (through stimecmp) also needs hcounteren.TM
 * and henvcfg.STCE, else a virtual-instruction exception.
 */
function vstimecmpAllowed(): bool {
  if (!stimecmpAllowed()) return false;
  if (isVirt() && ((load<u64>(H_HCOUNTEREN) & 2) == 0 || (load<u64>(H_HENVCFG) & MENVCFG_STCE) == 0)) {
    virtualFault();
    return false;
  }
  return true;
}
function stimecmpAllowed(): bool {
  const p = <u32>load<u64>(H_PRIV);
  if (p == PRV_M) return true;
  return (load<u64>(H_MENVCFG) & MENVCFG_STCE) != 0 && (load<u64>(H_MCOUNTEREN) & 2) != 0;
}

function writeMstatus(v: u64): void {
  const old = load<u64>(H_MSTATUS);
  let nv = (old & ~MSTATUS_WMASK) | (v & MSTATUS_WMASK);
  // MPP is WARL: the reserved value 2 keeps the old field.
  if (((nv & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT) == 2) nv = (nv & ~MSTATUS_MPP) | (old & MSTATUS_MPP);
  nv |= MSTATUS_UXL | MSTATUS_SXL; // UXL = SXL = 64-bit, read-only
  // H ext.: MPV and GVA are writable when the H extension is present.
  nv = (nv & ~(MSTATUS_MPV | MSTATUS_GVA)) | (hypOn() ? v & (MSTATUS_MPV | MSTATUS_GVA) : 0);
  // SD = (FS == Dirty) || XS == Dirty || VS == Dirty; XS and VS are always Off here.
  nv = (nv & ~MSTATUS_SD) | ((nv & MSTATUS_FS) == MSTATUS_FS_DIRTY ? MSTATUS_SD : 0);
  store<u64>(H_MSTATUS, nv);
  // SUM/MXR change what S/U mappings permit; MPRV/MPP change the data regime (chosen per block).
  // HS-level MXR also applies to both stages of guest translation.
  if (((old ^ nv) & (MSTATUS_SUM | MSTATUS_MXR)) != 0) tlbFlushVirtual();
  if (((old ^ nv) & MSTATUS_MXR) != 0) tlbFlushGuest();
}

/** vsstatus: the sstatus layout (SIE SPIE SPP FS SUM MXR writable; UXL = 64; SD summarises FS). */
function writeVsstatus(v: u64): void {
  const old = load<u64>(H_VSSTATUS);
  let nv = (v & SSTATUS_WMASK) | MSTATUS_UXL;
  if ((nv & MSTATUS_FS) == MSTATUS_FS_DIRTY) nv |= MSTATUS_SD;
  store<u64>(H_VSSTATUS, nv);
  if (((old ^ nv) & (MSTATUS_SUM | MSTATUS_MXR)) != 0) tlbFlushGuest();
}

function pmpRecompute(): void {
  let any: u64 = 0;
  for (let i: u32 = 0; i < 16; i++) if ((load<u8>(H_PMPCFG + i) & 0x18) != 0) any = 1;
  store<u64>(H_PMP_ACTIVE, any);
  tlbFlushAll();
}

function writePmpcfg(base: u32, v: u64): void {
  for (let i: u32 = 0; i < 8; i++) {
    const old = load<u8>(H_PMPCFG + base + i);
    if ((old & 0x80) != 0) continue; // locked
    let c = <u8>(v >> (<u64>i * 8));
    c &= 0x9f; // bits 6:5 are reserved zero
    if ((c & 3) == 2) c &= ~(<u8>2); // R=0,W=1 is reserved: WARL to W=0
    store<u8>(H_PMPCFG + base + i, c);
  }
  pmpRecompute();
}

function writePmpaddr(i: u32, v: u64): void {
  const cfg = load<u8>(H_PMPCFG + i);
  if ((cfg & 0x80) != 0) return;
  // A locked TOR entry i+1 locks pmpaddr i too (Priv §3.7.1).
  if (i < 15) {
    const next = load<u8>(H_PMPCFG + i + 1);
    if ((next & 0x80) != 0 && (next & 0x18) == 0x08) return;
  }
  store<u64>(H_PMPADDR + i * 8, v & 0x003fffffffffffff); // 54 bits: PA bits 55:2
  pmpRecompute();
}

/**
 * satp / vsatp WARL (Priv 1.12 §4.1.11; H ext. "vsatp"): a write whose MODE the board does not
 * support has no effect at all; MODE Bare clears the other fields. Returns whether it was written.
 */
function writeAtp(field: u32, v: u64): bool {
  const mode = <u32>(v >> 60);
  if (mode != 0 && ((load<u64>(H_SATP_MODES) >> mode) & 1) == 0) return false;
  store<u64>(field, mode == 0 ? 0 : v);
  return true;
}

export function writeCsr(csr: u32, v: u64): void {
  switch (csr) {
    // --- floating point: frm may hold the reserved values 5..7 (an instruction using it as the
    // dynamic rounding mode is illegal then); bits above 7 of fcsr are reserved zero.
    case 0x001: store<u64>(H_FCSR, (load<u64>(H_FCSR) & ~(<u64>0x1f)) | (v & 0x1f)); fpStateDirty(); return;
    case 0x002: store<u64>(H_FCSR, (load<u64>(H_FCSR) & 0x1f) | ((v & 7) << 5)); fpStateDirty(); return;
    case 0x003: store<u64>(H_FCSR, v & 0xff); fpStateDirty(); return;
    // --- supervisor
    case 0x100: {
      const ms = load<u64>(H_MSTATUS);
      writeMstatus((ms & ~SSTATUS_WMASK) | (v & SSTATUS_WMASK));
      return;
    }
    case 0x104: {
      // Only the delegated S-level bits: mideleg's read-only-one VS bits (2, 6, 10) belong to
      // hie, and sie's bits 2, 6, 10 are read-only zero (H ext., "hip and hie").
      const d = load<u64>(H_MIDELEG) & S_INTS_L;
      store<u64>(H_MIE, (load<u64>(H_MIE) & ~d) | (v & d));
      return;
    }
    case 0x105: store<u64>(H_STVEC, (v & 1) != 0 ? v & ~(<u64>2) : v & ~(<u64>3)); return;
    case 0x106: store<u64>(H_SCOUNTEREN, v & 0xffffffff); return;
    case 0x10a: store<u64>(H_SENVCFG, envcfgCb(v)); return; // CBIE/CBCFE/CBZE (no FIOM)
    case 0x140: store<u64>(H_SSCRATCH, v); return;
    case 0x141: store<u64>(H_SEPC, v & ~(<u64>1)); return;
    case 0x142: store<u64>(H_SCAUSE, v); return;
    case 0x143: store<u64>(H_STVAL, v); return;
    case 0x144: {
      // Only SSIP and LCOFIP (Sscofpmf: software clears it) are writable through sip, and only
      // when delegated.
      const d = load<u64>(H_MIDELEG) & ((1 << 1) | MIP_LCOFIP);
      store<u64>(H_MIP, (load<u64>(H_MIP) & ~d) | (v & d));
      return;
    }
    case 0x14d: if (!stimecmpAllowed()) break; store<u64>(H_STIMECMP, v); updateStimecmp(); return;
    case 0x180: {
      if (tvmTrap()) break;
      if (writeAtp(H_SATP, v)) {
        tlbFlushVirtual();
        tmSatpWrite();
      }
      return;
    }
    // --- hypervisor and VS CSRs
    case 0x600: store<u64>(H_HSTATUS, (v & HSTATUS_WMASK) | HSTATUS_VSXL); return;
    case 0x602: store<u64>(H_HEDELEG, v & HEDELEG_MASK); return;
    // hideleg bit 13 (LCOFI) is writable only with Shlcofideleg (H ext. "hideleg"; with Sscofpmf).
    case 0x603: store<u64>(H_HIDELEG, v & (VS_INTS | ((extOn & EXT_SHLCOFIDELEG) != 0 ? lcofBit() : 0))); return;
    case 0x604: store<u64>(H_MIE, (load<u64>(H_MIE) & ~VS_INTS) | (v & VS_INTS)); return;
    case 0x605: store<u64>(H_HTIMEDELTA, v); updateVstimecmp(); return;
    case 0x606: store<u64>(H_HCOUNTEREN, v & 0xffffffff); return;
    case 0x607: return;
    case 0x60a: store<u64>(H_HENVCFG, (v & load<u64>(H_MENVCFG) & (MENVCFG_STCE | pbmteMask())) | envcfgCb(v)); updateVstimecmp(); return;
    case 0x643: store<u64>(H_HTVAL, v); return;
    case 0x644: // hip: only VSSIP is writable (an alias of hvip.VSSIP)
      store<u64>(H_HVIP, (load<u64>(H_HVIP) & ~(<u64>1 << 2)) | (v & (1 << 2)));
      updateVsip(vsTimerPending());
      return;
    case 0x645: store<u64>(H_HVIP, v & VS_INTS); updateVsip(vsTimerPending()); return;
    case 0x64a: store<u64>(H_HTINST, v); return;
    case 0x680: {
      if (tvmTrap()) break;
      // hgatp fields are WARL; unlike satp, a write with an unsupported MODE is not ignored: the
      // MODE becomes Bare (a legal value), so software probes the modes by reading back.
      let mode = <u32>(v >> 60);
      if (mode != 0 && (mode < 8 || mode > 10 || ((load<u64>(H_SATP_MODES) >> mode) & 1) == 0)) mode = 0;
      store<u64>(H_HGATP, (<u64>mode << 60) | (v & (HGATP_VMID_MASK | HGATP_PPN_MASK)));
      tlbFlushGuest();
      return;
    }
    case 0x200: writeVsstatus(v); return;
    case 0x204: {
      const d = load<u64>(H_HIDELEG) & VS_INTS;
      store<u64>(H_MIE, (load<u64>(H_MIE) & ~d) | ((v << 1) & d));
      // vsie.LCOFIE is an alias of sie.LCOFIE when hideleg delegates LCOFI (not shifted).
      const l = load<u64>(H_HIDELEG) & midelegEff() & MIP_LCOFIP;
      store<u64>(H_MIE, (load<u64>(H_MIE) & ~l) | (v & l));
      return;
    }
    case 0x205: store<u64>(H_VSTVEC, (v & 1) != 0 ? v & ~(<u64>2) : v & ~(<u64>3)); return;
    case 0x240: store<u64>(H_VSSCRATCH, v); return;
    case 0x241: store<u64>(H_VSEPC, v & ~(<u64>1)); return;
    case 0x242: store<u64>(H_VSCAUSE, v); return;
    case 0x243: store<u64>(H_VSTVAL, v); return;
    case 0x244: {
      // vsip: SSIP (an alias of hvip.VSSIP) is writable when hideleg delegates VSSI.
      if ((load<u64>(H_HIDELEG) & (1 << 2)) != 0) {
        store<u64>(H_HVIP, (load<u64>(H_HVIP) & ~(<u64>1 << 2)) | ((v << 1) & (1 << 2)));
        updateVsip(vsTimerPending());
      }
      // vsip.LCOFIP: an alias of sip.LCOFIP when hideleg delegates LCOFI.
      const l = load<u64>(H_HIDELEG) & midelegEff() & MIP_LCOFIP;
      store<u64>(H_MIP, (load<u64>(H_MIP) & ~l) | (v & l));
      return;
    }
    case 0x24d: if (!vstimecmpAllowed()) break; store<u64>(H_VSTIMECMP, v); updateVstimecmp(); return;
    case 0x280: {
      if (vtvmTrap()) break;
      if (writeAtp(H_VSATP, v)) tlbFlushGuest(); // vsatp: the same WARL rule as satp
      return;
    }
    case 0x34a: store<u64>(H_MTINST, v); return;
    case 0x34b: store<u64>(H_MTVAL2, v); return;
    // --- machine
    case 0x300: writeMstatus(v); return;
    case 0x301: return; // misa: WARL, extensions cannot be disabled on this model
    case 0x302: store<u64>(H_MEDELEG, v & (hypOn() ? MEDELEG_MASK_H : MEDELEG_MASK)); return;
    // With H, mideleg bits 2, 6, 10 (VS-level interrupts) are read-only one.
    case 0x303: store<u64>(H_MIDELEG, (v & (S_INTS | lcofBit())) | (hypOn() ? VS_INTS : 0)); return;
    case 0x304: store<u64>(H_MIE, v & (S_INTS | M_INTS | lcofBit() | (hypOn() ? VS_INTS : 0))); return;
    case 0x305: store<u64>(H_MTVEC, (v & 1) != 0 ? v & ~(<u64>2) : v & ~(<u64>3)); return;
    case 0x306: store<u64>(H_MCOUNTEREN, v & 0xffffffff); return;
    case 0x30a: {
      store<u64>(H_MENVCFG, (v & (MENVCFG_STCE | pbmteMask())) | envcfgCb(v));
      // The VS-stage PBMT state and the walks' results depend on PBMTE: drop cached translations.
      tlbFlushAll();
      updateStimecmp(); updateVstimecmp(); return;
    }
    case 0x320: hpmInhibitWrite(v, curLat, 1); return;
    case 0x340: store<u64>(H_MSCRATCH, v); return;
    case 0x341: store<u64>(H_MEPC, v & ~(<u64>1)); return;
    case 0x342: store<u64>(H_MCAUSE, v); return;
    case 0x343: store<u64>(H_MTVAL, v); return;
    case 0x344: {
      // SSIP is writable by M-mode; STIP too unless Sstc drives it; SEIP's software bit is ORed
      // with the external line (Priv §3.1.9).
      let wm: u64 = (1 << 1) | lcofBit(); // LCOFIP (Sscofpmf) is software-writable
      if ((load<u64>(H_MENVCFG) & MENVCFG_STCE) == 0) wm |= 1 << 5;
      const sw = (v >> 9) & 1;
      store<u64>(H_SEIP_SW, sw);
      const seip = (sw | load<u64>(H_SEIP_LINE)) << 9;
      store<u64>(H_MIP, (load<u64>(H_MIP) & ~(wm | (1 << 9))) | (v & wm) | seip);
      // mip.VSSIP is an alias of hvip.VSSIP (VSTIP, VSEIP are read-only here).
      if (hypOn()) {
        store<u64>(H_HVIP, (load<u64>(H_HVIP) & ~(<u64>1 << 2)) | (v & (1 << 2)));
        updateVsip(vsTimerPending());
      }
      return;
    }
    case 0x3a0: writePmpcfg(0, v); return;
    case 0x3a2: writePmpcfg(8, v); return;
    // A write to mcycle/minstret sets the value seen after this instruction retires (Priv 1.12
    // §3.1.11): the offset absorbs this instruction's own increment.
    case 0xb00: store<u64>(H_MCYCLE_OFS, v - (cyclesNow() + curLat)); return;
    case 0xb02: store<u64>(H_MINSTRET_OFS, v - (load<u64>(H_INSTRET) + 1)); return;
    default: {
      if (csr >= 0x3b0 && csr <= 0x3bf) { writePmpaddr(csr - 0x3b0, v); return; }
      if (csr >= 0x3c0 && csr <= 0x3ef) return;
      if (csr >= 0x3a4 && csr <= 0x3ae && (csr & 1) == 0) return;
      if (csr >= 0xb03 && csr <= 0xb1f) { hpmWrite(csr - 0xb00, v, curLat, 1); return; }
      if (csr >= 0x323 && csr <= 0x33f) { hpmEventWrite(csr - 0x320, v, curLat, 1); return; }
      if (isTriggerCsr(csr)) { trigCsrWrite(csr, v); return; } // Sdtrig (trigger.ts)
    }
  }
  csrOk = false;
}

/**
 * Execute a Zicsr instruction. kind: 0 = RW, 1 = RS (set), 2 = RC (clear). `readIt` is false for
 * CSRRW with rd = x0; `writeIt` is false for CSRRS/C with rs1 = x0 / uimm 0.
 * Returns the old value; on an illegal access raises and the caller discards the result.
 */
export function csrAccess(kind: u32, csr: u32, src: u64, readIt: bool, writeIt: bool, insn: u32): u64 {
  const cur = <u32>load<u64>(H_PRIV);
  const lvl = (csr >> 8) & 3;
  // csr[11:10] == 3 means read-only: writing it is illegal at every level. Without the H
  // extension its CSRs (hypervisor and VS: csr[9:8] = 2; mtval2, mtinst) do not exist.
  if ((writeIt && (csr >> 10) == 3) || (!hypOn() && (lvl == 2 || csr == 0x34a || csr == 0x34b))) {
    raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>insn);
    return 0;
  }
  if (!isVirt()) {
    // csr[9:8] is the lowest privilege that may access it; HS-mode (S with the H extension) may
    // also access the hypervisor and VS CSRs (csr[9:8] = 2).
    const eff: u32 = cur == PRV_S && hypOn() ? 2 : cur;
    if (lvl > eff) {
      raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>insn);
      return 0;
    }
  } else {
    // V = 1 (H ext., "Virtual-Instruction Exceptions"): machine CSRs are illegal; hypervisor and
    // VS CSRs (and, from VU, supervisor CSRs) that HS-mode could access raise virtual-instruction;
    // in VS-mode the S CSRs sstatus, sie, stvec, sscratch, sepc, scause, stval, sip, stimecmp and
    // satp are the VS CSRs (csr + 0x100).
    if (lvl == 3 || ((lvl == 2 || (lvl == 1 && cur == PRV_U)) && !hsCsrExists(csr))) {
      raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>insn);
      return 0;
    }
    if (lvl == 2 || (lvl == 1 && cur == PRV_U)) {
      raise(CAUSE_VIRTUAL_INSTRUCTION, <u64>insn);
      return 0;
    }
    if (lvl == 1) csr = vsAlias(csr);
  }
  csrOk = true;
  csrVirtualFault = false;
  const old = readCsr(csr);
  if (!csrOk) {
    raise(csrVirtualFault ? CAUSE_VIRTUAL_INSTRUCTION : CAUSE_ILLEGAL_INSTRUCTION, <u64>insn);
    return 0;
  }
  if (writeIt) {
    // For mip, only the software SEIP bit takes part in a read-modify-write (Priv §3.1.9).
    const base = csr == 0x344 ? (old & ~(<u64>1 << 9)) | (load<u64>(H_SEIP_SW) << 9) : old;
    const nv = kind == 0 ? src : kind == 1 ? base | src : base & ~src;
    writeCsr(csr, nv);
    if (!csrOk) {
      raise(csrVirtualFault ? CAUSE_VIRTUAL_INSTRUCTION : CAUSE_ILLEGAL_INSTRUCTION, <u64>insn);
      return 0;
    }
  }
  return readIt ? old : 0;
}

/** The VS CSR that stands in for supervisor CSR `csr` while V = 1 (others are accessed as is). */
function vsAlias(csr: u32): u32 {
  switch (csr) {
    case 0x100: case 0x104: case 0x105: case 0x140: case 0x141: case 0x142: case 0x143: case 0x144:
    case 0x14d: case 0x180:
      return csr + 0x100;
  }
  return csr;
}

/**
 * Would HS-mode be allowed this access (assuming mstatus.TVM = 0)? Decides between virtual- and
 * illegal-instruction for V = 1 accesses to supervisor, hypervisor and VS CSRs.
 */
function hsCsrExists(csr: u32): bool {
  if (!hypOn()) return false;
  switch (csr) {
    case 0x100: case 0x104: case 0x105: case 0x106: case 0x10a: case 0x140: case 0x141: case 0x142:
    case 0x143: case 0x144: case 0x180:
    case 0x600: case 0x602: case 0x603: case 0x604: case 0x605: case 0x606: case 0x607: case 0x60a:
    case 0x643: case 0x644: case 0x645: case 0x64a: case 0x680: case 0xe12:
    case 0x200: case 0x204: case 0x205: case 0x240: case 0x241: case 0x242: case 0x243: case 0x244:
    case 0x280:
      return true;
    case 0x14d: case 0x24d:
      return (load<u64>(H_MENVCFG) & MENVCFG_STCE) != 0 && (load<u64>(H_MCOUNTEREN) & 2) != 0;
    case 0xda0: return sscofpmfOn(); // scountovf
  }
  return false;
}

/**
 * setHypervisor: misa.H on or off for the running hart's block (index.ts applies it to every
 * hart). Off clears all H state: V, the H and VS CSRs, mideleg's VS bits, mstatus.MPV/GVA.
 */
export function applyHypervisor(on: bool): void {
  store<u64>(H_HYP, on ? 1 : 0);
  const misa = load<u64>(H_MISA);
  store<u64>(H_MISA, on ? misa | MISA_H : misa & ~MISA_H);
  if (on) {
    store<u64>(H_MIDELEG, load<u64>(H_MIDELEG) | VS_INTS);
    store<u64>(H_HSTATUS, load<u64>(H_HSTATUS) | HSTATUS_VSXL);
    store<u64>(H_VSSTATUS, load<u64>(H_VSSTATUS) | MSTATUS_UXL);
  } else {
    store<u64>(H_MIDELEG, load<u64>(H_MIDELEG) & ~VS_INTS);
    store<u64>(H_MIE, load<u64>(H_MIE) & ~VS_INTS);
    store<u64>(H_MIP, load<u64>(H_MIP) & ~VS_INTS);
    store<u64>(H_MEDELEG, load<u64>(H_MEDELEG) & MEDELEG_MASK);
    store<u64>(H_MSTATUS, load<u64>(H_MSTATUS) & ~(MSTATUS_MPV | MSTATUS_GVA));
    store<u64>(H_VIRT, 0);
    store<u64>(H_HGATP, 0);
    store<u64>(H_VSATP, 0);
    memory.fill(H_HSTATUS, 0, H_HYP - H_HSTATUS);
    store<u64>(H_VSTIMECMP_CYCLE, <u64>-1);
  }
}

