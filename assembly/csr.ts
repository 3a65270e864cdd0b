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
  H_SATP_MODES, H_SEIP_SW, H_SEIP_LINE, H_FCSR,
} from './layout';
import { raise, CAUSE_ILLEGAL_INSTRUCTION } from './trap';
import {
  PRV_M, PRV_S, PRV_U, MSTATUS_SIE, MSTATUS_MIE, MSTATUS_SPIE, MSTATUS_MPIE, MSTATUS_SPP, MSTATUS_MPP,
  MSTATUS_MPP_SHIFT, MSTATUS_MPRV, MSTATUS_SUM, MSTATUS_MXR, MSTATUS_TVM, MSTATUS_TW, MSTATUS_TSR,
  MSTATUS_UXL, MSTATUS_SXL, MSTATUS_FS, MSTATUS_SD, MSTATUS_FS_DIRTY,
} from './hart';
import { tlbFlushAll, tlbFlushVirtual } from './mmu';
import { tmSatpWrite } from './tlbmodel';
import { isTriggerCsr, trigCsrRead, trigCsrWrite } from './trigger';

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
// Exceptions M-mode may delegate (ecall from M, 11, cannot be; 10 and 14 are reserved).
const MEDELEG_MASK: u64 = 0xb3ff;
const MENVCFG_STCE: u64 = (<u64>1) << 63;

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

export let csrOk: bool = true;

/** mcounteren/scounteren gate cycle(0) time(1) instret(2) hpmN(N) below M-mode (Priv §3.1.11). */
function counterAllowed(idx: u32): bool {
  const p = <u32>load<u64>(H_PRIV);
  if (p < PRV_M && ((load<u64>(H_MCOUNTEREN) >> idx) & 1) == 0) return false;
  if (p == PRV_U && ((load<u64>(H_SCOUNTEREN) >> idx) & 1) == 0) return false;
  return true;
}

/** Priv 1.12 §3.1.6.6: with mstatus.FS = Off, FP instructions and the FP CSRs are illegal. */
@inline function fsOff(): bool {
  return (load<u64>(H_MSTATUS) & MSTATUS_FS) == 0;
}

/** An FP CSR write modified the FP state: FS = Dirty, and SD with it. */
function fpStateDirty(): void {
  store<u64>(H_MSTATUS, load<u64>(H_MSTATUS) | MSTATUS_FS_DIRTY | MSTATUS_SD);
}

function readCsr(csr: u32): u64 {
  switch (csr) {
    // --- floating point (Unpriv 11.2): fflags and frm are views of fcsr
    case 0x001: if (fsOff()) break; return load<u64>(H_FCSR) & 0x1f;
    case 0x002: if (fsOff()) break; return (load<u64>(H_FCSR) >> 5) & 7;
    case 0x003: if (fsOff()) break; return load<u64>(H_FCSR) & 0xff;
    // --- unprivileged counters (Zicntr): values before this instruction retires
    case 0xc00: if (!counterAllowed(0)) break; return cyclesNow() + load<u64>(H_MCYCLE_OFS);
    case 0xc01: if (!counterAllowed(1)) break; return timeNow();
    case 0xc02: if (!counterAllowed(2)) break; return load<u64>(H_INSTRET) + load<u64>(H_MINSTRET_OFS);
    // --- supervisor
    case 0x100: return load<u64>(H_MSTATUS) & SSTATUS_MASK;
    case 0x104: return load<u64>(H_MIE) & load<u64>(H_MIDELEG);
    case 0x105: return load<u64>(H_STVEC);
    case 0x106: return load<u64>(H_SCOUNTEREN);
    case 0x10a: return load<u64>(H_SENVCFG);
    case 0x140: return load<u64>(H_SSCRATCH);
    case 0x141: return load<u64>(H_SEPC);
    case 0x142: return load<u64>(H_SCAUSE);
    case 0x143: return load<u64>(H_STVAL);
    case 0x144: return load<u64>(H_MIP) & load<u64>(H_MIDELEG);
    case 0x14d: if (!stimecmpAllowed()) break; return load<u64>(H_STIMECMP);
    case 0x180: if (tvmTrap()) break; return load<u64>(H_SATP);
    // --- machine
    case 0x300: return load<u64>(H_MSTATUS);
    case 0x301: return load<u64>(H_MISA);
    case 0x302: return load<u64>(H_MEDELEG);
    case 0x303: return load<u64>(H_MIDELEG);
    case 0x304: return load<u64>(H_MIE);
    case 0x305: return load<u64>(H_MTVEC);
    case 0x306: return load<u64>(H_MCOUNTEREN);
    case 0x30a: return load<u64>(H_MENVCFG);
    case 0x320: return 0; // mcountinhibit: not implemented, reads zero (counters always count)
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
      // hpmcounter3..31 (gated like the others), mhpmcounter3..31, mhpmevent3..31: zero.
      if (csr >= 0xc03 && csr <= 0xc1f) { if (!counterAllowed(csr - 0xc00)) break; return 0; }
      if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f)) return 0;
      if (isTriggerCsr(csr)) return trigCsrRead(csr); // Sdtrig (trigger.ts)
    }
  }
  csrOk = false;
  return 0;
}

@inline function tvmTrap(): bool {
  return <u32>load<u64>(H_PRIV) == PRV_S && (load<u64>(H_MSTATUS) & MSTATUS_TVM) != 0;
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
  // SD = (FS == Dirty) || XS == Dirty || VS == Dirty; XS and VS are always Off here.
  nv = (nv & ~MSTATUS_SD) | ((nv & MSTATUS_FS) == MSTATUS_FS_DIRTY ? MSTATUS_SD : 0);
  store<u64>(H_MSTATUS, nv);
  // SUM/MXR change what S/U mappings permit; MPRV/MPP change the data regime (chosen per block).
  if (((old ^ nv) & (MSTATUS_SUM | MSTATUS_MXR)) != 0) tlbFlushVirtual();
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

function writeCsr(csr: u32, v: u64): void {
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
      const d = load<u64>(H_MIDELEG);
      store<u64>(H_MIE, (load<u64>(H_MIE) & ~d) | (v & d & S_INTS));
      return;
    }
    case 0x105: store<u64>(H_STVEC, (v & 1) != 0 ? v & ~(<u64>2) : v & ~(<u64>3)); return;
    case 0x106: store<u64>(H_SCOUNTEREN, v & 0xffffffff); return;
    case 0x10a: store<u64>(H_SENVCFG, 0); return; // no FIOM/CBIE/CBCFE/CBZE features
    case 0x140: store<u64>(H_SSCRATCH, v); return;
    case 0x141: store<u64>(H_SEPC, v & ~(<u64>1)); return;
    case 0x142: store<u64>(H_SCAUSE, v); return;
    case 0x143: store<u64>(H_STVAL, v); return;
    case 0x144: {
      // Only SSIP is writable through sip (and only when delegated).
      const d = load<u64>(H_MIDELEG) & (1 << 1);
      store<u64>(H_MIP, (load<u64>(H_MIP) & ~d) | (v & d));
      return;
    }
    case 0x14d: if (!stimecmpAllowed()) break; store<u64>(H_STIMECMP, v); updateStimecmp(); return;
    case 0x180: {
      if (tvmTrap()) break;
      // WARL: a write with an unsupported MODE has no effect at all (Priv §4.1.11).
      const mode = <u32>(v >> 60);
      if (mode != 0 && ((load<u64>(H_SATP_MODES) >> mode) & 1) == 0) return;
      store<u64>(H_SATP, mode == 0 ? 0 : v);
      tlbFlushVirtual();
      tmSatpWrite();
      return;
    }
    // --- machine
    case 0x300: writeMstatus(v); return;
    case 0x301: return; // misa: WARL, extensions cannot be disabled on this model
    case 0x302: store<u64>(H_MEDELEG, v & MEDELEG_MASK); return;
    case 0x303: store<u64>(H_MIDELEG, v & S_INTS); return;
    case 0x304: store<u64>(H_MIE, v & (S_INTS | M_INTS)); return;
    case 0x305: store<u64>(H_MTVEC, (v & 1) != 0 ? v & ~(<u64>2) : v & ~(<u64>3)); return;
    case 0x306: store<u64>(H_MCOUNTEREN, v & 0xffffffff); return;
    case 0x30a: store<u64>(H_MENVCFG, v & MENVCFG_STCE); updateStimecmp(); return;
    case 0x320: return;
    case 0x340: store<u64>(H_MSCRATCH, v); return;
    case 0x341: store<u64>(H_MEPC, v & ~(<u64>1)); return;
    case 0x342: store<u64>(H_MCAUSE, v); return;
    case 0x343: store<u64>(H_MTVAL, v); return;
    case 0x344: {
      // SSIP is writable by M-mode; STIP too unless Sstc drives it; SEIP's software bit is ORed
      // with the external line (Priv §3.1.9).
      let wm: u64 = 1 << 1;
      if ((load<u64>(H_MENVCFG) & MENVCFG_STCE) == 0) wm |= 1 << 5;
      const sw = (v >> 9) & 1;
      store<u64>(H_SEIP_SW, sw);
      const seip = (sw | load<u64>(H_SEIP_LINE)) << 9;
      store<u64>(H_MIP, (load<u64>(H_MIP) & ~(wm | (1 << 9))) | (v & wm) | seip);
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
      if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f)) return;
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
  // csr[9:8] is the lowest privilege that may access it; csr[11:10] == 3 means read-only.
  if (((csr >> 8) & 3) > cur || (writeIt && (csr >> 10) == 3)) {
    raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>insn);
    return 0;
  }
  csrOk = true;
  const old = readCsr(csr);
  if (!csrOk) {
    raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>insn);
    return 0;
  }
  if (writeIt) {
    // For mip, only the software SEIP bit takes part in a read-modify-write (Priv §3.1.9).
    const base = csr == 0x344 ? (old & ~(<u64>1 << 9)) | (load<u64>(H_SEIP_SW) << 9) : old;
    const nv = kind == 0 ? src : kind == 1 ? base | src : base & ~src;
    writeCsr(csr, nv);
    if (!csrOk) {
      raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>insn);
      return 0;
    }
  }
  return readIt ? old : 0;
}

