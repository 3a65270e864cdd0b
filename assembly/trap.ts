/**
 * Trap entry and interrupt selection (Priv 1.12 §3.1.6.1, §3.1.9, §3.3.1, §4.1.1).
 * Handlers never throw: a faulting operation records the cause in the pending-exception globals
 * and the run loop calls takeTrap() at the block boundary (TinyEMU's pending_exception).
 */
import { hpmModeChanged } from './hpm';
import {
  H_PC, H_PRIV, H_MSTATUS, H_MEDELEG, H_MIDELEG, H_MTVEC, H_MEPC, H_MCAUSE, H_MTVAL,
  H_STVEC, H_SEPC, H_SCAUSE, H_STVAL, H_MIP, H_MIE, H_EXCEPTIONS, H_INTERRUPTS, H_RESV, H_HPM_FILTER, C_VMX_RESV,
  H_VIRT, H_HSTATUS, H_HEDELEG, H_HIDELEG, H_HTVAL, H_HTINST, H_MTVAL2, H_MTINST, H_VSSTATUS,
  H_VSTVEC, H_VSEPC, H_VSCAUSE, H_VSTVAL, H_HYP,
  C_MTRAP_CAUSE, C_MTRAP_TVAL,
  H_TRAP_STREAK, H_TRAP_INSTRET, C_STUCK_LIMIT, C_STUCK_CAUSE, C_STUCK_PC, C_STUCK_TVEC,
  C_HART, TR_HEAD, TRACE_RING, TRACE_REC, TRACE_CAP,
} from './layout';
import {
  PRV_M, PRV_S, PRV_U, MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP, MSTATUS_MPP_SHIFT, MSTATUS_SIE,
  MSTATUS_SPIE, MSTATUS_SPP, MSTATUS_MPRV, MSTATUS_GVA, MSTATUS_MPV, HSTATUS_GVA, HSTATUS_SPV,
  HSTATUS_SPVP, VS_INTS,
} from './hart';
import { vmmTakes, vmExit } from './vmexit';

// Exception causes (Priv 1.12 table 3.6; H extension: table "hcauses")
export const CAUSE_MISALIGNED_FETCH: u64 = 0;
export const CAUSE_FETCH_ACCESS: u64 = 1;
export const CAUSE_ILLEGAL_INSTRUCTION: u64 = 2;
export const CAUSE_BREAKPOINT: u64 = 3;
export const CAUSE_MISALIGNED_LOAD: u64 = 4;
export const CAUSE_LOAD_ACCESS: u64 = 5;
export const CAUSE_MISALIGNED_STORE: u64 = 6;
export const CAUSE_STORE_ACCESS: u64 = 7;
export const CAUSE_USER_ECALL: u64 = 8;
export const CAUSE_SUPERVISOR_ECALL: u64 = 9;
export const CAUSE_VS_ECALL: u64 = 10;
export const CAUSE_MACHINE_ECALL: u64 = 11;
export const CAUSE_FETCH_PAGE_FAULT: u64 = 12;
export const CAUSE_LOAD_PAGE_FAULT: u64 = 13;
export const CAUSE_STORE_PAGE_FAULT: u64 = 15;
export const CAUSE_FETCH_GUEST_PAGE_FAULT: u64 = 20;
export const CAUSE_LOAD_GUEST_PAGE_FAULT: u64 = 21;
export const CAUSE_VIRTUAL_INSTRUCTION: u64 = 22;
export const CAUSE_STORE_GUEST_PAGE_FAULT: u64 = 23;
export const INTERRUPT_BIT: u64 = (<u64>1) << 63;

/**
 * Exceptions whose xtval holds a virtual address when raised at V = 1 (H ext., "Trap Entry": GVA is
 * set when a guest virtual address is written to mtval/stval): misaligned, access and page faults,
 * breakpoints, guest-page faults.
 */
const GVA_CAUSES: u64 = (1 << 0) | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) |
  (1 << 12) | (1 << 13) | (1 << 15) | (1 << 20) | (1 << 21) | (1 << 23);

// The pending exception raised by a slow path (cause, tval); excPending != 0 when set.
export let excPending: u32 = 0;
export let excCause: u64 = 0;
export let excTval: u64 = 0;
// H extension extras of the pending exception: htval/mtval2 (a guest-page fault's GPA >> 2),
// htinst/mtinst, and whether tval is a guest virtual address (an HLV/HSV fault in HS/M-mode).
export let excTval2: u64 = 0;
export let excTinst: u64 = 0;
export let excGva: bool = false;
/** The xtvec value the last takeTrap() went through (of the mode the trap went to). */
export let trapTvec: u64 = 0;

@inline export function raise(cause: u64, tval: u64): void {
  excPending = 1;
  excCause = cause;
  excTval = tval;
  excTval2 = 0;
  excTinst = 0;
  excGva = false;
}

/** Set the pending exception's htinst/mtinst (the transformed instruction). */
export function setExcTinst(v: u64): void {
  excTinst = v;
}

/** The pending exception's tval is a guest virtual address (HLV/HSV faults). */
/**
 * Change the pending exception's cause, keeping tval/tval2/tinst (a cache-block management
 * instruction's failed read probe reports a store fault: CMO spec 1.0.1 §2.3).
 */
export function setExcCause(cause: u64): void {
  excCause = cause;
}

export function setExcGva(): void {
  excGva = true;
}

/** A guest-page fault (or a fault of a guest virtual access): the extra trap values. */
export function raiseGuest(cause: u64, tval: u64, tval2: u64, tinst: u64): void {
  excPending = 1;
  excCause = cause;
  excTval = tval;
  excTval2 = tval2;
  excTinst = tinst;
  excGva = true;
}

/**
 * mideleg as the hardware sees it: with the H extension bits 2, 6, 10 are read-only one, even if
 * the host wrote the raw field (firmware set-up through Core.setCsr).
 */
@inline export function midelegEff(): u64 {
  return load<u64>(H_MIDELEG) | (load<u64>(H_HYP) != 0 ? VS_INTS : 0);
}

/**
 * Does this trap go to M-mode? Not when the hart is below M-mode and medeleg/mideleg delegate the
 * cause (Priv 1.12 §3.1.8): then HS-mode (or, through hedeleg/hideleg, VS-mode) takes it. The same
 * test as takeTrap's, for the host M-mode switch C_MTRAP_HOST.
 */
export function trapEntersM(cause: u64): bool {
  const isInt = (cause & INTERRUPT_BIT) != 0;
  const code = cause & ~INTERRUPT_BIT;
  const deleg = isInt ? midelegEff() : load<u64>(H_MEDELEG);
  return !(<u32>load<u64>(H_PRIV) <= PRV_S && code < 64 && ((deleg >> code) & 1) != 0);
}

/**
 * The trap goes to the host instead of M-mode (C_MTRAP_HOST, run() returns RUN_MTRAP): record it
 * as the trap it architecturally is (counted, LR/SC reservation dropped) without touching any
 * M-mode CSR, pc or privilege; the host firmware decides what happens next.
 */
export function trapToHost(cause: u64, tval: u64): void {
  if ((cause & INTERRUPT_BIT) != 0) store<u64>(H_INTERRUPTS, load<u64>(H_INTERRUPTS) + 1);
  else store<u64>(H_EXCEPTIONS, load<u64>(H_EXCEPTIONS) + 1);
  store<u64>(C_MTRAP_CAUSE, cause);
  store<u64>(C_MTRAP_TVAL, tval);
  store<u64>(H_RESV, <u64>-1);
}

/**
 * Host firmware's trap redirection (OpenSBI sbi_trap_redirect): deliver the exception (cause,
 * tval) the hart at pc took as if medeleg had delegated it — to HS-mode, or to VS-mode when the
 * hart is at V = 1 and hedeleg delegates it, with every H-extension side effect of a real trap
 * entry (hstatus.SPV/SPVP/GVA, V <- 0). Exceptions are never vectored. The hart must be in
 * S- or U-mode (either V).
 */
export function redirectToSupervisor(cause: u64, tval: u64): void {
  store<u64>(H_PC, takeTrap(cause, tval, load<u64>(H_PC), true));
}

/**
 * Enter the trap handler for `cause` (interrupt bit 63 set for interrupts) at instruction `epc`.
 * Returns the new pc.
 *
 * H extension, "Trap Entry": a trap in HS-mode or U-mode goes to M-mode unless delegated by
 * medeleg/mideleg, then to HS-mode. A trap in VS-mode or VU-mode goes to M-mode unless delegated by
 * medeleg/mideleg, then to HS-mode unless further delegated by hedeleg/hideleg, then to VS-mode.
 * The three targets below are separate blocks: a host-VMM mode (a V=1 trap not delegated to VS ends
 * run() instead of entering HS) is one test in front of the HS block.
 */
export function takeTrap(cause: u64, tval: u64, epc: u64, redirect: bool = false): u64 {
  if (load<u64>(H_HPM_FILTER) == 0) return takeTrapInner(cause, tval, epc, redirect);
  // Sscofpmf mode filtering (hpm.ts): counters with mode-inhibit bits follow the privilege change.
  const p = <u32>load<u64>(H_PRIV), v = load<u64>(H_VIRT);
  const pc = takeTrapInner(cause, tval, epc, redirect);
  hpmModeChanged(p, v);
  return pc;
}

function takeTrapInner(cause: u64, tval: u64, epc: u64, redirect: bool): u64 {
  const isInt = (cause & INTERRUPT_BIT) != 0;
  const code = cause & ~INTERRUPT_BIT;
  const cur = <u32>load<u64>(H_PRIV);
  const v = load<u64>(H_VIRT);
  // A redirect (redirectToSupervisor) was counted when it went to the host, and is delegated.
  if (!redirect) {
    if (isInt) store<u64>(H_INTERRUPTS, load<u64>(H_INTERRUPTS) + 1);
    else store<u64>(H_EXCEPTIONS, load<u64>(H_EXCEPTIONS) + 1);
  }
  const deleg = redirect ? <u64>-1 : isInt ? midelegEff() : load<u64>(H_MEDELEG);
  // tval is a guest virtual address (sets GVA in the HS/M trap).
  const gva = !isInt && (excGva || (v != 0 && code < 64 && ((GVA_CAUSES >> code) & 1) != 0));
  let ms = load<u64>(H_MSTATUS);
  let tvec: u64;
  let vcode = code;
  // A trap breaks any LR/SC sequence (Unpriv 8.3 allows an SC to fail after a trap). Kept aside
  // for a VM exit the VMM resolves unseen (dedup.ts: layout.ts C_VMX_RESV).
  store<u64>(C_VMX_RESV, load<u64>(H_RESV));
  store<u64>(H_RESV, <u64>-1);
  // Host-VMM mode (vmexit.ts): a V=1 trap not delegated to VS ends run() (RUN_VMEXIT) instead.
  if (vmmTakes(isInt, code, cur, deleg)) return vmExit(cause, tval, epc, isInt ? 0 : excTval2, isInt ? 0 : excTinst, gva);
  if (cur <= PRV_S && code < 64 && ((deleg >> code) & 1) != 0) {
    const hdeleg = isInt ? load<u64>(H_HIDELEG) : load<u64>(H_HEDELEG);
    if (v != 0 && ((hdeleg >> code) & 1) != 0) {
      // VS-mode trap: the VS CSRs stand in for the S CSRs; V stays 1. A VS-level interrupt is
      // reported with the S-level code (VSSI 2 -> 1, VSTI 6 -> 5, VSEI 10 -> 9) ("hideleg").
      if (isInt && (code == 2 || code == 6 || code == 10)) vcode = code - 1;
      store<u64>(H_VSEPC, epc);
      store<u64>(H_VSCAUSE, isInt ? INTERRUPT_BIT | vcode : code);
      store<u64>(H_VSTVAL, tval);
      const vs = load<u64>(H_VSSTATUS);
      store<u64>(H_VSSTATUS, (vs & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP)) |
        ((vs & MSTATUS_SIE) != 0 ? MSTATUS_SPIE : 0) | (cur == PRV_S ? MSTATUS_SPP : 0));
      store<u64>(H_PRIV, PRV_S);
      tvec = load<u64>(H_VSTVEC);
      trapTvec = tvec;
      const base = tvec & ~(<u64>3);
      return (tvec & 3) == 1 && isInt ? base + (vcode << 2) : base;
    }
    // HS-mode trap (Priv 1.12 §4.1.1 plus hstatus): SPIE <- SIE, SIE <- 0, SPP <- previous
    // privilege; hstatus.SPV <- V, SPVP <- privilege when V was 1, GVA; V <- 0.
    let hs = load<u64>(H_HSTATUS);
    hs = (hs & ~(HSTATUS_SPV | HSTATUS_GVA)) | (v != 0 ? HSTATUS_SPV : 0) | (gva ? HSTATUS_GVA : 0);
    if (v != 0) hs = (hs & ~HSTATUS_SPVP) | (cur == PRV_S ? HSTATUS_SPVP : 0);
    store<u64>(H_HSTATUS, hs);
    store<u64>(H_HTVAL, isInt ? 0 : excTval2);
    store<u64>(H_HTINST, isInt ? 0 : excTinst);
    store<u64>(H_SEPC, epc);
    store<u64>(H_SCAUSE, cause);
    store<u64>(H_STVAL, tval);
    ms = (ms & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP)) |
      ((ms & MSTATUS_SIE) != 0 ? MSTATUS_SPIE : 0) |
      (cur == PRV_S ? MSTATUS_SPP : 0);
    store<u64>(H_PRIV, PRV_S);
    store<u64>(H_VIRT, 0);
    tvec = load<u64>(H_STVEC);
  } else {
    // Machine trap (Priv 1.12 §3.1.6.1): MPIE <- MIE, MIE <- 0, MPP <- previous privilege;
    // H: MPV <- V, GVA, mtval2, mtinst; V <- 0.
    store<u64>(H_MEPC, epc);
    store<u64>(H_MCAUSE, cause);
    store<u64>(H_MTVAL, tval);
    store<u64>(H_MTVAL2, isInt ? 0 : excTval2);
    store<u64>(H_MTINST, isInt ? 0 : excTinst);
    ms = (ms & ~(MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPP | MSTATUS_MPV | MSTATUS_GVA)) |
      ((ms & MSTATUS_MIE) != 0 ? MSTATUS_MPIE : 0) |
      (<u64>cur << MSTATUS_MPP_SHIFT) | (v != 0 ? MSTATUS_MPV : 0) | (gva ? MSTATUS_GVA : 0);
    store<u64>(H_PRIV, PRV_M);
    store<u64>(H_VIRT, 0);
    tvec = load<u64>(H_MTVEC);
  }
  store<u64>(H_MSTATUS, ms);
  trapTvec = tvec;
  // xtvec MODE (Priv 1.12 §3.1.7): 1 = vectored, interrupts go to BASE + 4*cause.
  const base = tvec & ~(<u64>3);
  return (tvec & 3) == 1 && isInt ? base + (code << 2) : base;
}

/**
 * The interrupt to take now, as a cause with bit 63 set, or 0 if none (Priv 1.12 §3.1.9; H ext.
 * "Interrupts"): pending & enabled & not masked by the global enable of the target level.
 * M-level interrupts (not in mideleg) are enabled below M or with mstatus.MIE; HS-level ones (in
 * mideleg, not in hideleg) always when V = 1, else below S or in S with sstatus.SIE; VS-level ones
 * (in mideleg and hideleg) only when V = 1, in VU or in VS with vsstatus.SIE. Higher levels first;
 * within a level the order is MEI, MSI, MTI, SEI, SSI, STI, SGEI, VSEI, VSSI, VSTI, LCOFI.
 */
export function pendingInterrupt(): u64 {
  const pend = load<u64>(H_MIP) & load<u64>(H_MIE);
  if (pend == 0) return 0;
  const cur = <u32>load<u64>(H_PRIV);
  const v = load<u64>(H_VIRT);
  const ms = load<u64>(H_MSTATUS);
  const mideleg = midelegEff();
  const mEnabled = cur < PRV_M || (ms & MSTATUS_MIE) != 0;
  let take = mEnabled ? pend & ~mideleg : 0;
  if (take == 0) {
    const hideleg = load<u64>(H_HIDELEG);
    const sEnabled = v != 0 || cur < PRV_S || (cur == PRV_S && (ms & MSTATUS_SIE) != 0);
    take = sEnabled ? pend & mideleg & ~hideleg : 0;
    if (take == 0 && v != 0) {
      const vsEnabled = cur == PRV_U || (load<u64>(H_VSSTATUS) & MSTATUS_SIE) != 0;
      take = vsEnabled ? pend & mideleg & hideleg : 0;
    }
  }
  if (take == 0) return 0;
  if (take & (1 << 11)) return INTERRUPT_BIT | 11;
  if (take & (1 << 3)) return INTERRUPT_BIT | 3;
  if (take & (1 << 7)) return INTERRUPT_BIT | 7;
  if (take & (1 << 9)) return INTERRUPT_BIT | 9;
  if (take & (1 << 1)) return INTERRUPT_BIT | 1;
  if (take & (1 << 5)) return INTERRUPT_BIT | 5;
  if (take & (1 << 12)) return INTERRUPT_BIT | 12;
  if (take & (1 << 10)) return INTERRUPT_BIT | 10;
  if (take & (1 << 2)) return INTERRUPT_BIT | 2;
  if (take & (1 << 6)) return INTERRUPT_BIT | 6;
  // Sscofpmf's LCOFI (13) is a local interrupt below the standard ones (Priv 1.12 §3.1.9 "...,
  // STI, LCOFI"; AIA's default order puts 13 after VSTI).
  if (take & (1 << 13)) return INTERRUPT_BIT | 13;
  return 0;
}

/**
 * mret (Priv 1.12 §3.3.2): MIE <- MPIE, MPIE <- 1, priv <- MPP, MPP <- U (the least privileged
 * mode); returning to a mode below M clears MPRV. H: V <- MPV unless MPP = M; MPV <- 0.
 */
export function doMret(): u64 {
  if (load<u64>(H_HPM_FILTER) == 0) return doMretInner();
  const p = <u32>load<u64>(H_PRIV), v = load<u64>(H_VIRT);
  const pc = doMretInner();
  hpmModeChanged(p, v);
  return pc;
}

function doMretInner(): u64 {
  let ms = load<u64>(H_MSTATUS);
  const mpp = <u32>((ms & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT);
  const mpv: u64 = mpp != PRV_M && (ms & MSTATUS_MPV) != 0 ? 1 : 0;
  ms = (ms & ~(MSTATUS_MIE | MSTATUS_MPP | MSTATUS_MPV)) | ((ms & MSTATUS_MPIE) != 0 ? MSTATUS_MIE : 0) | MSTATUS_MPIE;
  ms |= <u64>PRV_U << MSTATUS_MPP_SHIFT;
  if (mpp != PRV_M) ms &= ~MSTATUS_MPRV;
  store<u64>(H_MSTATUS, ms);
  store<u64>(H_PRIV, mpp);
  store<u64>(H_VIRT, mpv);
  return load<u64>(H_MEPC);
}

/**
 * sret (Priv 1.12 §3.3.2; H ext. "Trap Return"). V = 0 (M or HS): SIE <- SPIE, SPIE <- 1,
 * priv <- SPP, SPP <- U, V <- hstatus.SPV, SPV <- 0; clears MPRV. V = 1 (VS): the same on vsstatus,
 * V stays 1.
 */
export function doSret(): u64 {
  if (load<u64>(H_HPM_FILTER) == 0) return doSretInner();
  const p = <u32>load<u64>(H_PRIV), v = load<u64>(H_VIRT);
  const pc = doSretInner();
  hpmModeChanged(p, v);
  return pc;
}

function doSretInner(): u64 {
  if (load<u64>(H_VIRT) != 0) {
    const vs = load<u64>(H_VSSTATUS);
    const vspp: u32 = (vs & MSTATUS_SPP) != 0 ? PRV_S : PRV_U;
    store<u64>(H_VSSTATUS, (vs & ~(MSTATUS_SIE | MSTATUS_SPP)) | ((vs & MSTATUS_SPIE) != 0 ? MSTATUS_SIE : 0) | MSTATUS_SPIE);
    store<u64>(H_PRIV, vspp);
    return load<u64>(H_VSEPC);
  }
  let ms = load<u64>(H_MSTATUS);
  const spp: u32 = (ms & MSTATUS_SPP) != 0 ? PRV_S : PRV_U;
  ms = (ms & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV)) | ((ms & MSTATUS_SPIE) != 0 ? MSTATUS_SIE : 0) | MSTATUS_SPIE;
  store<u64>(H_MSTATUS, ms);
  const hs = load<u64>(H_HSTATUS);
  store<u64>(H_HSTATUS, hs & ~HSTATUS_SPV);
  store<u64>(H_PRIV, spp);
  store<u64>(H_VIRT, (hs & HSTATUS_SPV) != 0 ? 1 : 0);
  return load<u64>(H_SEPC);
}

/**
 * Runaway-guest detector, called after every trap entry (exception or interrupt) with the hart's
 * instret at that moment. A trap that finds instret unchanged since the previous trap extends the
 * streak; otherwise a new streak starts. Interrupts count like exceptions: a hart whose handlers
 * retire anything (even one instruction between two traps, as an interrupt storm's handler does)
 * never builds a streak, while one that traps again before its handler's first instruction retires
 * (a handler address that faults, an interrupt re-taken at once) is going nowhere. At C_STUCK_LIMIT
 * (0 = off) the trap's cause, pc and xtvec are recorded for the host and true is returned: the run
 * loop then returns RUN_STUCK. Trap path only: the hot loop already counts retirement.
 */
export function noteTrap(cause: u64, epc: u64, instret: u64): bool {
  let streak = load<u64>(H_TRAP_STREAK) + 1;
  if (load<u64>(H_TRAP_INSTRET) != instret) {
    streak = 1;
    store<u64>(H_TRAP_INSTRET, instret);
  }
  store<u64>(H_TRAP_STREAK, streak);
  const limit = <u64>load<u32>(C_STUCK_LIMIT);
  if (limit == 0 || streak < limit) return false;
  store<u64>(C_STUCK_CAUSE, cause);
  store<u64>(C_STUCK_PC, epc);
  store<u64>(C_STUCK_TVEC, trapTvec);
  return true;
}

/** The hart's mode for a trap trace record: privilege | V << 2. */
@inline export function traceMode(): u32 {
  return <u32>load<u64>(H_PRIV) | (<u32>load<u64>(H_VIRT) << 2);
}

/**
 * Append one trap record to the trace ring (layout.ts TRACE_BASE). Called by run.ts on the trap
 * path only, and only when TR_ON is set: tracing off costs one load per trap and nothing per
 * instruction. `from` is traceMode() before the trap; the mode after is read now. Never allocates.
 */
export function traceTrap(cause: u64, tval: u64, epc: u64, cycles: u64, from: u32, kind: u32): void {
  const head = load<u64>(TR_HEAD);
  const rec = TRACE_RING + (<u32>head & (TRACE_CAP - 1)) * TRACE_REC;
  store<u64>(rec, cycles);
  store<u64>(rec + 8, cause);
  store<u64>(rec + 16, epc);
  store<u64>(rec + 24, tval);
  store<u32>(rec + 32, (load<u32>(C_HART) & 0xff) | (from << 8) | (traceMode() << 16) | (kind << 24));
  store<u32>(rec + 36, 0);
  store<u64>(TR_HEAD, head + 1);
}

export function clearException(): void {
  excPending = 0;
}
