/**
 * Control and status registers (Zicsr, Zicntr, Priv 1.12 ch. 2-3).
 * This machine is M-mode only until the supervisor issue; S-mode CSRs are laid out in layout.ts
 * but not yet accessible (reads and writes of them raise illegal-instruction, as on an M-only
 * core). Unknown CSRs, writes to read-only CSRs and accesses above the current privilege raise
 * illegal-instruction with mtval = the instruction bits.
 */
import {
  H_MSTATUS, H_MISA, H_MIE, H_MIP, H_MTVEC, H_MSCRATCH, H_MEPC, H_MCAUSE, H_MTVAL, H_MHARTID,
  H_CYCLES, H_INSTRET, H_MCYCLE_OFS, H_MINSTRET_OFS, H_TIME_DIV, H_TIME_OFS, H_PRIV,
} from './layout';
import { raise, CAUSE_ILLEGAL_INSTRUCTION } from './trap';
import { MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP } from './hart';

// misa (Priv 1.12 §3.1.1): MXL = 2 (64-bit) and the extension letters.
export const MISA_RV64IMAC: u64 = ((<u64>2) << 62) | (1 << 0) /*A*/ | (1 << 2) /*C*/ | (1 << 8) /*I*/ | (1 << 12); /*M*/

// Bits software may write.
const MSTATUS_WMASK: u64 = MSTATUS_MIE | MSTATUS_MPIE; // MPP is WARL and fixed to M on an M-only hart
const MIE_WMASK: u64 = (1 << 3) | (1 << 7) | (1 << 11); // MSIE MTIE MEIE

/** Cycle cost of the CSR instruction being executed (so counter writes land exactly; see below). */
export let curLat: u64 = 0;
export function setCurLat(l: u64): void {
  curLat = l;
}

@inline function cyclesNow(): u64 {
  return load<u64>(H_CYCLES);
}
@inline function instretNow(): u64 {
  return load<u64>(H_INSTRET);
}
export function timeNow(): u64 {
  const div = load<u64>(H_TIME_DIV);
  return (div == 0 ? 0 : cyclesNow() / div) + load<u64>(H_TIME_OFS);
}

/** Read CSR `csr`; `ok` is cleared (and the exception raised) when it does not exist. */
export let csrOk: bool = true;

function readCsr(csr: u32, insn: u32): u64 {
  switch (csr) {
    case 0x300: return load<u64>(H_MSTATUS);
    case 0x301: return load<u64>(H_MISA);
    case 0x304: return load<u64>(H_MIE);
    case 0x344: return load<u64>(H_MIP);
    case 0x305: return load<u64>(H_MTVEC);
    case 0x340: return load<u64>(H_MSCRATCH);
    case 0x341: return load<u64>(H_MEPC);
    case 0x342: return load<u64>(H_MCAUSE);
    case 0x343: return load<u64>(H_MTVAL);
    case 0x320: return 0; // mcountinhibit: not implemented, reads zero (counters always count)
    case 0xf11: case 0xf12: case 0xf13: case 0xf15: return 0; // mvendorid marchid mimpid mconfigptr
    case 0xf14: return load<u64>(H_MHARTID);
    // Zicntr: the counters read the values before this instruction retires.
    case 0xb00: case 0xc00: return cyclesNow() + load<u64>(H_MCYCLE_OFS);
    case 0xb02: case 0xc02: return instretNow() + load<u64>(H_MINSTRET_OFS);
    case 0xc01: return timeNow();
  }
  // mhpmcounter3..31 / hpmcounter3..31 / mhpmevent3..31: present, hardwired to zero.
  if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0xc03 && csr <= 0xc1f) || (csr >= 0x323 && csr <= 0x33f)) return 0;
  csrOk = false;
  return 0;
}

function writeCsr(csr: u32, v: u64): void {
  switch (csr) {
    case 0x300: {
      const ms = load<u64>(H_MSTATUS);
      store<u64>(H_MSTATUS, (ms & ~MSTATUS_WMASK) | (v & MSTATUS_WMASK) | MSTATUS_MPP);
      return;
    }
    case 0x301: return; // misa: WARL, extensions cannot be disabled on this model
    case 0x304: store<u64>(H_MIE, v & MIE_WMASK); return;
    case 0x344: return; // mip: MSIP/MTIP/MEIP are read-only (driven by CLINT and PLIC)
    case 0x305: store<u64>(H_MTVEC, (v & 1) != 0 ? v & ~(<u64>2) : v & ~(<u64>3)); return; // modes 0/1
    case 0x340: store<u64>(H_MSCRATCH, v); return;
    case 0x341: store<u64>(H_MEPC, v & ~(<u64>1)); return; // IALIGN=16: bit 0 is zero
    case 0x342: store<u64>(H_MCAUSE, v); return;
    case 0x343: store<u64>(H_MTVAL, v); return;
    case 0x320: return;
    // A write to mcycle/minstret sets the value seen after this instruction retires (Priv 1.12
    // §3.1.11): the offset absorbs this instruction's own increment.
    case 0xb00: store<u64>(H_MCYCLE_OFS, v - (cyclesNow() + curLat)); return;
    case 0xb02: store<u64>(H_MINSTRET_OFS, v - (instretNow() + 1)); return;
  }
  if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f)) return;
  csrOk = false;
}

/**
 * Execute a Zicsr instruction. kind: 0 = RW, 1 = RS (set), 2 = RC (clear). `readIt` is false for
 * CSRRW with rd = x0 (no read side effects); `writeIt` is false for CSRRS/C with rs1 = x0 / uimm 0.
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
  // A CSRRW with rd = x0 still must reject a nonexistent CSR, so probe it.
  const old = readCsr(csr, insn);
  if (!csrOk) {
    raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>insn);
    return 0;
  }
  if (writeIt) {
    const nv = kind == 0 ? src : kind == 1 ? old | src : old & ~src;
    writeCsr(csr, nv);
    if (!csrOk) {
      raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>insn);
      return 0;
    }
  }
  return readIt ? old : 0;
}
