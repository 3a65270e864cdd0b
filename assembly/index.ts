/**
 * core.wasm exports. The host (src/core.ts) owns the run loop's outer cycle: it sets the deadline
 * and instruction limit in the control block (layout.ts CTL_BASE), calls run(), fires the events
 * that are due, and calls run() again.
 */
import {
  H_X, H_PC, H_PRIV, H_MSTATUS, H_MISA, H_MTVEC, H_RESV, H_TIME_DIV, H_SATP_MODES, H_AD_UPDATE,
  H_STIMECMP_CYCLE, H_MHARTID, HART_BASE, HART_SIZE, C_RAM_SIZE,
  C_DEADLINE, C_INSN_LIMIT, RAM_OFFSET, RAM_GPA, RAM_MAX, LAT_BASE, CLS_BASE, CLS_SIZE, JCNT_BASE, JCNT_SIZE, WATCH_BASE,
  WATCH_MAX, C_WATCH_COUNT, CTL_BASE, CTL_SIZE, S_LAT, C_HART, C_HARTS, HART_SAVE_BASE, MAX_HARTS,
  TM_BASE, TM_CNT, TM_END, TM_SAVE_BASE, TM_SAVE_SIZE, H_INSTRET, H_CYCLES, C_STUCK_LIMIT,
  H_VSTIMECMP_CYCLE, H_HGATP, H_VIRT, C_VMM, C_VMX_EXIT_CYCLES,
  H_HPM_ARMED,
} from './layout';
import { PRV_M, MSTATUS_MPP, MSTATUS_UXL, MSTATUS_SXL } from './hart';
import { MISA_VALUE, updateStimecmp, updateVstimecmp, applyHypervisor } from './csr';
import { tlbFlushAll, tlbFlushAllHarts, tlbFlushHart, setTlbHart, tlbFlushGuestHart } from './mmu';
import { invalidateAllFrames, invalidatePhys as invPhys } from './frames';
import { extOn, setExtOn } from './isaext';
import { EXT_ALL } from './generated/ops';
import { clearException, redirectToSupervisor } from './trap';
import { hpmRead, hpmWrite, hpmEventWrite, hpmInhibitWrite, hpmOvfCheck } from './hpm';
import { tmReset, tmEnabled, tmAccess, tmHfenceGvma, tmHfenceVvma, tmDataRegime } from './tlbmodel';

export { run } from './run';
export {
  jitConfigure, jitFlush, jitDecode, jitMarkFrame, jitMulh, jitMulhu, jitMulhsu, jitDiv, jitDivu, jitRem, jitRemu,
  jitDivw, jitDivuw, jitRemw, jitRemuw, jitBit, jitChain,
} from './jit';
export { jitFp, jitFma, jitFma32 } from './jitfp';
export { injectVS, vcpuLoaded, hostHfenceGvma, gpaToHpa, gvaToHpa } from './vmexit';
export { dbgTranslate, dbgWatchChanged, dbgCsrRead, dbgCsrWrite, dbgCsrStatus } from './debug';
import { dbgReset } from './debug';
export {
  shadowInit, shadowLoad, shadowSetSatp, shadowZap, shadowSfence, shadowCountFence, shadowLastKind, shadowLastGpa,
  shadowPeekGpa,
} from './shadow';

/**
 * Host-VMM mode on or off (vmexit.ts): with it, a V=1 trap that is not delegated to VS ends run()
 * with RUN_VMEXIT; `exitCycles` are charged per exit. Survives reset.
 */
export function setVmm(on: u32, exitCycles: u32): void {
  store<u32>(C_VMM, on != 0 ? 1 : 0);
  store<u32>(C_VMX_EXIT_CYCLES, exitCycles);
}

/** Grow memory for `ramBytes` of guest RAM (a multiple of 4 KiB, at most 2 GiB). 0 = ok. */
export function init(ramBytes: u32): u32 {
  if (ramBytes == 0 || (ramBytes & 0xfff) != 0 || <u64>ramBytes > <u64>RAM_MAX) return 1;
  const need = (<u64>RAM_OFFSET + <u64>ramBytes + 0xffff) >> 16;
  const have = <u64>memory.size();
  if (need > have && memory.grow(<i32>(need - have)) < 0) return 2;
  store<u64>(C_RAM_SIZE, <u64>ramBytes);
  store<u32>(C_STUCK_LIMIT, STUCK_TRAPS_DEFAULT);
  reset();
  return 0;
}

/**
 * Traps in a row without a retired instruction after which run() returns RUN_STUCK (issue 8: a
 * guest whose trap handler itself faults spins forever otherwise). The host may change it
 * (setStuckLimit; 0 = never).
 */
export const STUCK_TRAPS_DEFAULT: u32 = 1000;

export function setStuckLimit(traps: u32): void {
  store<u32>(C_STUCK_LIMIT, traps);
}

/** Architectural reset (Priv 1.12 §3.4): M-mode, MIE = 0, mtvec = 0 (the host sets pc). RAM is kept. */
export function reset(): void {
  const ram = load<u64>(C_RAM_SIZE);
  const harts = max<u32>(1, load<u32>(C_HARTS));
  const stuckLimit = load<u32>(C_STUCK_LIMIT);
  const vmm = load<u32>(C_VMM);
  const exitCycles = load<u32>(C_VMX_EXIT_CYCLES);
  memory.fill(CTL_BASE, 0, CTL_SIZE);
  store<u64>(C_RAM_SIZE, ram);
  store<u32>(C_STUCK_LIMIT, stuckLimit);
  store<u32>(C_HARTS, harts);
  // Host-VMM mode is configuration, like the RAM size: it survives reset.
  store<u32>(C_VMM, vmm);
  store<u32>(C_VMX_EXIT_CYCLES, exitCycles);
  // Every hart gets the reset state (with its own mhartid) in its save slot; hart 0 is loaded.
  for (let h: u32 = 0; h < harts; h++) {
    resetHartState();
    store<u64>(H_MHARTID, h);
    memory.copy(HART_SAVE_BASE + h * HART_SIZE, HART_BASE, HART_SIZE);
  }
  memory.copy(HART_BASE, HART_SAVE_BASE, HART_SIZE);
  store<u32>(C_HART, 0);
  setTlbHart(0);
  tlbFlushAllHarts();
  memory.fill(TM_SAVE_BASE, 0, MAX_HARTS * TM_SAVE_SIZE);
  memory.fill(JCNT_BASE, 0, JCNT_SIZE); // compiled code's exit counters (the host folds them into CLS_BASE)
  dbgReset();
}

function resetHartState(): void {
  memory.fill(HART_BASE, 0, HART_SIZE);
  memory.fill(CLS_BASE, 0, CLS_SIZE);
  store<u64>(H_PRIV, PRV_M);
  store<u64>(H_MISA, MISA_VALUE);
  store<u64>(H_MSTATUS, MSTATUS_MPP | MSTATUS_UXL | MSTATUS_SXL);
  store<u64>(H_SATP_MODES, (1 << 8) | (1 << 9) | (1 << 10)); // Sv39, Sv48, Sv57
  store<u64>(H_AD_UPDATE, 1);
  store<u64>(H_STIMECMP_CYCLE, <u64>-1);
  store<u64>(H_VSTIMECMP_CYCLE, <u64>-1);
  applyHypervisor(hypervisor);
  store<u64>(H_MTVEC, 0);
  store<u64>(H_RESV, <u64>-1);
  store<u64>(H_TIME_DIV, 100);
  store<u64>(H_PC, RAM_GPA);
  store<u64>(C_DEADLINE, <u64>-1);
  store<u64>(C_INSN_LIMIT, <u64>-1);
  clearException();
  invalidateAllFrames();
}

/**
 * The `--cpu`-selectable extensions every hart implements (bit i = src/isa/table.ts GATED_EXTS[i];
 * isaext.ts). Decoded frames hold decisions made under the old mask, so all are dropped. Survives
 * reset. Default: all on.
 */
export function setExtensions(mask: u32): void {
  setExtOn(mask);
  invalidateAllFrames();
}

/** The enabled-extension mask (setExtensions). */
export function getExtensions(): u32 {
  return extOn & EXT_ALL;
}

/** misa.H of every hart (the H extension); survives reset. Default on. */
let hypervisor: bool = true;

/**
 * Set (1) or clear (0) misa.H on every hart, and everything that depends on it: with H off the
 * hypervisor and VS CSRs are illegal, V is 0, mideleg's VS bits are clear; with H on mideleg bits
 * 2, 6, 10 read as one. The setting survives reset(). Default after init: on.
 */
export function setHypervisor(on: u32): void {
  hypervisor = on != 0;
  const harts = max<u32>(1, load<u32>(C_HARTS));
  const cur = load<u32>(C_HART);
  saveHart();
  for (let h: u32 = 0; h < harts; h++) {
    memory.copy(HART_BASE, HART_SAVE_BASE + h * HART_SIZE, HART_SIZE);
    applyHypervisor(hypervisor);
    memory.copy(HART_SAVE_BASE + h * HART_SIZE, HART_BASE, HART_SIZE);
  }
  memory.copy(HART_BASE, HART_SAVE_BASE + cur * HART_SIZE, HART_SIZE);
  tlbFlushAllHarts();
}

/**
 * hfence for hart h on behalf of the host (the builtin SBI's RFENCE hfence.gvma / hfence.vvma,
 * any VMID / ASID / address): drop h's guest-regime host TLB entries (VS and VU sets; they are not
 * tagged, so every form flushes them all). The modeled TLB (timing mode) is htlb's: tlbmodel.ts.
 */
export function hfenceHart(h: u32): void {
  if (h < MAX_HARTS) tlbFlushGuestHart(h);
}

/** Number of harts (1..8); resets the machine state of every hart. */
export function setHarts(n: u32): u32 {
  if (n == 0 || n > MAX_HARTS) return 1;
  store<u32>(C_HARTS, n);
  reset();
  return 0;
}

/** Copy the running hart's state (and, in timing mode, its modeled TLB) to its save slot. */
export function saveHart(): void {
  const h = load<u32>(C_HART);
  memory.copy(HART_SAVE_BASE + h * HART_SIZE, HART_BASE, HART_SIZE);
  // The model's configuration (TM_CFG) is machine-wide; its counters and entries are per hart.
  if (tmEnabled()) memory.copy(TM_SAVE_BASE + h * TM_SAVE_SIZE, TM_CNT, TM_END - TM_CNT);
}

/**
 * Make hart `h` the running hart. The outgoing hart's LR/SC reservation is dropped (Unpriv 8.2
 * lets an SC fail spuriously), so an LR/SC sequence interrupted by a switch cannot succeed after
 * another hart wrote the word.
 */
export function switchHart(h: u32): void {
  const cur = load<u32>(C_HART);
  if (h == cur || h >= load<u32>(C_HARTS)) return;
  store<u64>(H_RESV, <u64>-1);
  saveHart();
  memory.copy(HART_BASE, HART_SAVE_BASE + h * HART_SIZE, HART_SIZE);
  if (tmEnabled()) memory.copy(TM_CNT, TM_SAVE_BASE + h * TM_SAVE_SIZE, TM_END - TM_CNT);
  store<u32>(C_HART, h);
  setTlbHart(h);
}

/** A remote fence for hart h (SBI RFENCE): drop its host TLB. */
export function flushHartTlb(h: u32): void {
  if (h < MAX_HARTS) tlbFlushHart(h);
}

/** Set the cycle cost of timing class `cls`; drops decoded frames (they cache the cost). */
export function setLatency(cls: u32, cycles: u32): void {
  if (cls >= 32) return;
  store<u8>(LAT_BASE + cls, <u8>min<u32>(cycles, 255));
  invalidateAllFrames();
}

/** Route guest-physical [base, end) to the MMIO import even though it lies in RAM. 0 = ok. */
export function addWatch(base: u64, end: u64): u32 {
  const n = load<u32>(C_WATCH_COUNT);
  if (n >= WATCH_MAX || end <= base) return 1;
  store<u64>(WATCH_BASE + n * 16, base);
  store<u64>(WATCH_BASE + n * 16 + 8, end);
  store<u32>(C_WATCH_COUNT, n + 1);
  tlbFlushAllHarts();
  return 0;
}

/** The host wrote guest RAM [pa, pa+len) (loader, DMA): forget decoded code there. */
export function invalidatePhys(pa: u64, len: u64): void {
  invPhys(pa, len);
}

/** Flush every host TLB set (the host changed translation state directly). */
export function flushTlb(): void {
  tlbFlushAll();
}

/** The host changed the time base (H_TIME_DIV / H_TIME_OFS): recompute the Sstc deadline. */
export function timebaseChanged(): void {
  updateStimecmp();
  updateVstimecmp();
}

/**
 * Board configuration of the MMU: accepted satp modes (bitmask of MODE values: bit 8 Sv39,
 * bit 9 Sv48, bit 10 Sv57) and whether hardware updates PTE A/D bits (1, Svadu) or raises a page
 * fault when they are clear (0, Svade).
 */
export function configureMmu(satpModes: u32, adUpdate: u32): void {
  store<u64>(H_SATP_MODES, <u64>(satpModes & 0x700));
  store<u64>(H_AD_UPDATE, adUpdate != 0 ? 1 : 0);
  tlbFlushAll();
}

/** Timing mode: (re)start the modeled TLB with the configuration words at TM_CFG. */
export function tlbModelReset(): void {
  tmReset();
}

/**
 * Timing mode, for tests and tools: count one access at `va` in the modeled TLB exactly as the run
 * loop would (fetch / store flags), in the translation context the hart state holds now (priv,
 * satp, or V with vsatp and hgatp), and return the cycles it costs. The architectural state is not
 * changed (the model reads page tables without side effects). Callers check tmTranslates first.
 */
export function tlbModelAccess(va: u64, fetch: u32, isStore: u32): u64 {
  tmDataRegime(load<u64>(H_VIRT) != 0);
  return tmAccess(va, fetch != 0, isStore != 0);
}

/** hfence.gvma / hfence.vvma as the modeled TLB sees them (the H extension's fences call these). */
export function tlbModelHfence(gvma: u32, hasAddr: u32, addr: u64, hasId: u32, id: u32): void {
  if (gvma != 0) tmHfenceGvma(hasAddr != 0, addr, hasId != 0, id);
  else tmHfenceVvma(hasAddr != 0, addr, hasId != 0, id, <u32>(load<u64>(H_HGATP) >> 44) & 0x3fff);
}

export function setHartId(id: u32): void {
  store<u64>(H_MHARTID, id);
}

/**
 * Host firmware (--bios builtin, after RUN_MTRAP): deliver exception (cause, tval) of the hart at
 * pc to S-mode's trap handler, as OpenSBI's sbi_trap_redirect does. The hart is in S- or U-mode.
 */
export function redirectTrap(cause: u64, tval: u64): void {
  redirectToSupervisor(cause, tval);
}

// --- Zihpm for the builtin SBI PMU extension (src/board/sbi-pmu.ts), on the running hart between
// runs (H_CYCLES / H_INSTRET are current then). n = 3..31.
export function hpmCounterRead(n: u32): u64 {
  return n >= 3 && n < 32 ? hpmRead(n) : 0;
}
export function hpmCounterWrite(n: u32, v: u64): void {
  if (n >= 3 && n < 32) hpmWrite(n, v, 0, 0);
}
export function hpmEventSet(n: u32, ev: u64): void {
  if (n >= 3 && n < 32) hpmEventWrite(n, ev, 0, 0);
}
/**
 * Sscofpmf: a hart that is not running (asleep in WFI while the host moves its cycle count on)
 * finds the wraps of its armed counters here, as the run loop does at a block boundary.
 */
export function hpmOverflowCheck(): void {
  if (load<u64>(H_HPM_ARMED) != 0) hpmOvfCheck();
}
export function hpmInhibitSet(v: u64): void {
  hpmInhibitWrite(v, 0, 0);
}
