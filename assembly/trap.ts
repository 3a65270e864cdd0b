/**
 * Trap entry and interrupt selection (Priv 1.12 §3.1.6.1, §3.1.9, §3.3.1, §4.1.1).
 * Handlers never throw: a faulting operation records the cause in the pending-exception globals
 * and the run loop calls takeTrap() at the block boundary (TinyEMU's pending_exception).
 */
import {
  H_PC, H_PRIV, H_MSTATUS, H_MEDELEG, H_MIDELEG, H_MTVEC, H_MEPC, H_MCAUSE, H_MTVAL,
  H_STVEC, H_SEPC, H_SCAUSE, H_STVAL, H_MIP, H_MIE, H_EXCEPTIONS, H_INTERRUPTS, H_RESV,
  C_MTRAP_CAUSE, C_MTRAP_TVAL,
  H_TRAP_STREAK, H_TRAP_INSTRET, C_STUCK_LIMIT, C_STUCK_CAUSE, C_STUCK_PC, C_STUCK_TVEC,
} from './layout';
import {
  PRV_M, PRV_S, PRV_U, MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP, MSTATUS_MPP_SHIFT, MSTATUS_SIE,
  MSTATUS_SPIE, MSTATUS_SPP, MSTATUS_MPRV,
} from './hart';

// Exception causes (Priv 1.12 table 3.6)
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
export const CAUSE_MACHINE_ECALL: u64 = 11;
export const CAUSE_FETCH_PAGE_FAULT: u64 = 12;
export const CAUSE_LOAD_PAGE_FAULT: u64 = 13;
export const CAUSE_STORE_PAGE_FAULT: u64 = 15;
export const INTERRUPT_BIT: u64 = (<u64>1) << 63;

// The pending exception raised by a slow path (cause, tval); excPending != 0 when set.
export let excPending: u32 = 0;
export let excCause: u64 = 0;
export let excTval: u64 = 0;
/** The xtvec value the last takeTrap() went through (of the mode the trap went to). */
export let trapTvec: u64 = 0;

@inline export function raise(cause: u64, tval: u64): void {
  excPending = 1;
  excCause = cause;
  excTval = tval;
}

/**
 * Does this trap go to M-mode? Not when the hart is below M-mode and medeleg/mideleg delegate the
 * cause (Priv 1.12 §3.1.8): then S-mode takes it. The same test as takeTrap's, for the host M-mode
 * switch C_MTRAP_HOST (with the H extension too: hedeleg only chooses between HS and VS).
 */
export function trapEntersM(cause: u64): bool {
  const isInt = (cause & INTERRUPT_BIT) != 0;
  const code = cause & ~INTERRUPT_BIT;
  const deleg = isInt ? load<u64>(H_MIDELEG) : load<u64>(H_MEDELEG);
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
 * Supervisor trap entry (Priv 1.12 §4.1.1) from privilege `cur` (S or U): sepc/scause/stval,
 * SPIE <- SIE, SIE <- 0, SPP <- cur, priv <- S. Returns stvec (the caller applies the vectored mode).
 */
function enterSupervisor(cause: u64, tval: u64, epc: u64, cur: u32): u64 {
  store<u64>(H_SEPC, epc);
  store<u64>(H_SCAUSE, cause);
  store<u64>(H_STVAL, tval);
  const ms = load<u64>(H_MSTATUS);
  store<u64>(H_MSTATUS, (ms & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP)) |
    ((ms & MSTATUS_SIE) != 0 ? MSTATUS_SPIE : 0) |
    (cur == PRV_S ? MSTATUS_SPP : 0));
  store<u64>(H_PRIV, PRV_S);
  return load<u64>(H_STVEC);
}

/**
 * Host firmware's trap redirection (OpenSBI sbi_trap_redirect): deliver the exception (cause,
 * tval) the hart at pc took to S-mode's handler as if medeleg had delegated it — S-mode trap
 * entry from the current privilege, pc <- stvec BASE (exceptions are never vectored). The hart
 * must be in S- or U-mode.
 */
export function redirectToSupervisor(cause: u64, tval: u64): void {
  const tvec = enterSupervisor(cause, tval, load<u64>(H_PC), <u32>load<u64>(H_PRIV));
  store<u64>(H_RESV, <u64>-1);
  store<u64>(H_PC, tvec & ~(<u64>3));
}

/**
 * Enter the trap handler for `cause` (interrupt bit 63 set for interrupts) at instruction `epc`.
 * Returns the new pc. Exceptions delegate to S-mode when medeleg/mideleg says so and the hart is
 * not in M-mode (Priv 1.12 §3.1.8).
 */
export function takeTrap(cause: u64, tval: u64, epc: u64): u64 {
  const isInt = (cause & INTERRUPT_BIT) != 0;
  const code = cause & ~INTERRUPT_BIT;
  const cur = <u32>load<u64>(H_PRIV);
  if (isInt) store<u64>(H_INTERRUPTS, load<u64>(H_INTERRUPTS) + 1);
  else store<u64>(H_EXCEPTIONS, load<u64>(H_EXCEPTIONS) + 1);
  const deleg = isInt ? load<u64>(H_MIDELEG) : load<u64>(H_MEDELEG);
  let ms = load<u64>(H_MSTATUS);
  let tvec: u64;
  if (cur <= PRV_S && code < 64 && ((deleg >> code) & 1) != 0) {
    // Supervisor trap (Priv 1.12 §4.1.1): SPIE <- SIE, SIE <- 0, SPP <- previous privilege.
    store<u64>(H_SEPC, epc);
    store<u64>(H_SCAUSE, cause);
    store<u64>(H_STVAL, tval);
    ms = (ms & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP)) |
      ((ms & MSTATUS_SIE) != 0 ? MSTATUS_SPIE : 0) |
      (cur == PRV_S ? MSTATUS_SPP : 0);
    store<u64>(H_PRIV, PRV_S);
    tvec = load<u64>(H_STVEC);
  } else {
    // Machine trap (Priv 1.12 §3.1.6.1): MPIE <- MIE, MIE <- 0, MPP <- previous privilege.
    store<u64>(H_MEPC, epc);
    store<u64>(H_MCAUSE, cause);
    store<u64>(H_MTVAL, tval);
    ms = (ms & ~(MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPP)) |
      ((ms & MSTATUS_MIE) != 0 ? MSTATUS_MPIE : 0) |
      (<u64>cur << MSTATUS_MPP_SHIFT);
    store<u64>(H_PRIV, PRV_M);
    tvec = load<u64>(H_MTVEC);
  }
  store<u64>(H_MSTATUS, ms);
  trapTvec = tvec;
  // A trap breaks any LR/SC sequence (Unpriv 8.3 allows an SC to fail after a trap).
  store<u64>(H_RESV, <u64>-1);
  // xtvec MODE (Priv 1.12 §3.1.7): 1 = vectored, interrupts go to BASE + 4*cause.
  const base = tvec & ~(<u64>3);
  return (tvec & 3) == 1 && isInt ? base + (code << 2) : base;
}

/**
 * The interrupt to take now, as a cause with bit 63 set, or 0 if none (Priv 1.12 §3.1.9):
 * pending & enabled & not masked by the global enable of the target mode; M-mode interrupts are
 * taken before S-mode ones, and within a mode in the order MEI, MSI, MTI, SEI, SSI, STI.
 */
export function pendingInterrupt(): u64 {
  const pend = load<u64>(H_MIP) & load<u64>(H_MIE);
  if (pend == 0) return 0;
  const cur = <u32>load<u64>(H_PRIV);
  const ms = load<u64>(H_MSTATUS);
  const mideleg = load<u64>(H_MIDELEG);
  const mEnabled = cur < PRV_M || (ms & MSTATUS_MIE) != 0;
  let take = mEnabled ? pend & ~mideleg : 0;
  if (take == 0) {
    const sEnabled = cur < PRV_S || (cur == PRV_S && (ms & MSTATUS_SIE) != 0);
    take = sEnabled ? pend & mideleg : 0;
  }
  if (take == 0) return 0;
  // Priority order MEI(11) MSI(3) MTI(7) SEI(9) SSI(1) STI(5)
  if (take & (1 << 11)) return INTERRUPT_BIT | 11;
  if (take & (1 << 3)) return INTERRUPT_BIT | 3;
  if (take & (1 << 7)) return INTERRUPT_BIT | 7;
  if (take & (1 << 9)) return INTERRUPT_BIT | 9;
  if (take & (1 << 1)) return INTERRUPT_BIT | 1;
  if (take & (1 << 5)) return INTERRUPT_BIT | 5;
  return 0;
}

/**
 * mret (Priv 1.12 §3.3.2): MIE <- MPIE, MPIE <- 1, priv <- MPP, MPP <- U (the least privileged
 * mode); returning to a mode below M clears MPRV.
 */
export function doMret(): u64 {
  let ms = load<u64>(H_MSTATUS);
  const mpp = <u32>((ms & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT);
  ms = (ms & ~(MSTATUS_MIE | MSTATUS_MPP)) | ((ms & MSTATUS_MPIE) != 0 ? MSTATUS_MIE : 0) | MSTATUS_MPIE;
  ms |= <u64>PRV_U << MSTATUS_MPP_SHIFT;
  if (mpp != PRV_M) ms &= ~MSTATUS_MPRV;
  store<u64>(H_MSTATUS, ms);
  store<u64>(H_PRIV, mpp);
  return load<u64>(H_MEPC);
}

/** sret (Priv 1.12 §3.3.2): SIE <- SPIE, SPIE <- 1, priv <- SPP, SPP <- U; clears MPRV. */
export function doSret(): u64 {
  let ms = load<u64>(H_MSTATUS);
  const spp: u32 = (ms & MSTATUS_SPP) != 0 ? PRV_S : PRV_U;
  ms = (ms & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV)) | ((ms & MSTATUS_SPIE) != 0 ? MSTATUS_SIE : 0) | MSTATUS_SPIE;
  store<u64>(H_MSTATUS, ms);
  store<u64>(H_PRIV, spp);
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

export function clearException(): void {
  excPending = 0;
}
