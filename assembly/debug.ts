/**
 * The host debugger's side of the core: breakpoints, watchpoints, single-step and trap stops for a
 * debugger on the host (the gdb stub, src/debug/gdbstub.ts, and the Unicorn-style hooks,
 * src/debug/hooks.ts). Nothing is ever written into guest memory: the run loop checks the tables
 * below at instruction boundaries. (The guest's own debugger, Sdtrig, is trigger.ts: it raises
 * breakpoint exceptions in the guest; this module stops the run and returns to the host.)
 *
 * The host fills the tables and D_FLAGS (layout.ts DBG_BASE); run() returns RUN_DEBUG with a stop
 * record (D_REASON, D_PC, ...) when one matches:
 *   STOP_EXEC   pc is in an execute range (a breakpoint is [a, a+1), a code hook [lo, hi)): the
 *               instruction at pc has NOT executed. The next check at that pc is skipped once
 *               (D_SKIP), so resuming executes it (a breakpoint is hit again on the next visit).
 *   STOP_WATCH  an instruction's load or store touched a watch range (va in [lo, hi), kinds 1 read,
 *               2 write): the instruction has completed (gdb's watchpoint semantics); the hits
 *               (va, size, kind, value) are in D_HITS.
 *   STOP_STEP   DBG_STEP is set for the running hart (D_STEP_HART) and one instruction retired, or a
 *               trap (exception or interrupt) was taken: pc is at the handler (as QEMU steps).
 *   STOP_TRAP   DBG_TRAP: a trap was taken (D_CAUSE, D_TVAL, D_EPC; pc at the handler).
 *
 * Exact counts. A run with stops ends with the counters of a run without them: the checks never end
 * a block the run loop would have continued. Where something is armed that could match in a block
 * (an execute range on pc's page, any watch range, a step), the run loop executes that block one
 * instruction at a time; after each instruction that continues the block, dbgAfter() checks for a
 * stop, and a stop there is a *cut* block (D_MID = 1, its deadline in D_DEADLINE): the next run()
 * goes on with the same block without a boundary (no deadline, timer or interrupt check), as the
 * uninterrupted run would have. The board does not fire due events on a RUN_DEBUG return (the run
 * stopped between two instructions of one block, not at a deadline). Watch ranges keep their pages
 * out of the host TLB's read/write arrays (mmu.ts tlbFill), so every access to them takes the
 * slow path, which calls dbgWatchAccess(); the slow path stays in the block as before.
 *
 * Cost when D_FLAGS = 0: one load and compare per block boundary (the run loop's only test).
 *
 * dbgTranslate() is the side-effect-free translation for the debugger's memory packets: the
 * selected hart's current regime (satp; V = 1: vsatp then hgatp), no A/D update, no host-TLB fill,
 * no modeled-TLB count, no trap.
 */
import {
  D_FLAGS, D_STEP_HART, D_N_EXEC, D_N_WATCH, D_MID, D_SKIP, D_SKIP_PC, D_REASON, D_INDEX, D_PC, D_CAUSE,
  D_TVAL, D_EPC, D_N_HITS, D_HITS_MAX, D_HITS, D_HIT_SIZE, D_EXEC, D_WATCH, C_HART, HART_BASE, HART_SAVE_BASE,
  HART_SIZE, H_PRIV, H_VIRT, H_SATP, H_VSATP, H_HGATP, C_HARTS,
} from './layout';
import { tlbFlushAllHarts, tlbFlushHart } from './mmu';
import { readCsr, writeCsr, csrOk } from './csr';
import { walkNoSideEffects } from './vmexit';

/** D_FLAGS bits. */
export const DBG_EXEC: u32 = 1;
export const DBG_WATCH: u32 = 2;
export const DBG_STEP: u32 = 4;
export const DBG_TRAP: u32 = 8;

/** D_REASON values. */
export const STOP_EXEC: u32 = 1;
export const STOP_WATCH: u32 = 2;
export const STOP_STEP: u32 = 3;
export const STOP_TRAP: u32 = 4;

/** Watch kinds (D_WATCH kinds, D_HITS kind). */
export const WATCH_READ: u32 = 1;
export const WATCH_WRITE: u32 = 2;

/** dbgBlockStart results. */
export const DBG_NONE: u32 = 0;
export const DBG_STOP: u32 = 1;
export const DBG_STEPBLOCK: u32 = 2;

@inline function flags(): u32 {
  return load<u32>(D_FLAGS);
}
@inline function stepHere(): bool {
  return (flags() & DBG_STEP) != 0 && load<u32>(D_STEP_HART) == load<u32>(C_HART);
}

/** Index of the execute range holding pc, or -1. */
function execMatch(pc: u64): i32 {
  const n = load<u32>(D_N_EXEC);
  for (let i: u32 = 0; i < n; i++) {
    const e = D_EXEC + i * 16;
    if (pc >= load<u64>(e) && pc < load<u64>(e, 8)) return <i32>i;
  }
  return -1;
}

/** Could an execute range match in the 4 KiB page at `page`? (A block never leaves its page.) */
function execInPage(page: u64): bool {
  const n = load<u32>(D_N_EXEC);
  const end = page + 4096;
  for (let i: u32 = 0; i < n; i++) {
    const e = D_EXEC + i * 16;
    if (load<u64>(e) < end && load<u64>(e, 8) > page) return true;
  }
  return false;
}

function stop(reason: u32, pc: u64): void {
  store<u32>(D_REASON, reason);
  store<u64>(D_PC, pc);
}

/**
 * Block boundary with D_FLAGS != 0, before the fetch (a breakpoint outranks the fetch's faults):
 * DBG_STOP (the stop record is written), DBG_STEPBLOCK (run this block one instruction at a time,
 * dbgAfter() after each), or DBG_NONE.
 */
export function dbgBlockStart(pc: u64): u32 {
  const f = flags();
  if ((f & DBG_EXEC) != 0) {
    const skip = load<u32>(D_SKIP) != 0 && load<u64>(D_SKIP_PC) == pc;
    store<u32>(D_SKIP, 0);
    if (!skip) {
      if (stopAtExec(pc)) return DBG_STOP;
    }
  }
  if ((f & DBG_WATCH) != 0 || stepHere()) return DBG_STEPBLOCK;
  if ((f & DBG_EXEC) != 0 && execInPage(pc & ~(<u64>0xfff))) return DBG_STEPBLOCK;
  return DBG_NONE;
}

/**
 * A stepped instruction retired and the block goes on at pc: stop here? (Watch hits, a step, an
 * execute range at pc.) The caller then cuts the block (D_MID).
 */
export function dbgAfter(pc: u64): bool {
  if (load<u32>(D_N_HITS) != 0) { stop(STOP_WATCH, pc); return true; }
  if (stepHere()) { stop(STOP_STEP, pc); return true; }
  return (flags() & DBG_EXEC) != 0 && stopAtExec(pc);
}

/**
 * An execute range matches pc: write the stop record (its index) and skip the match once when
 * the run resumes at pc, so the instruction then runs. False when no range matches.
 */
function stopAtExec(pc: u64): bool {
  const i = execMatch(pc);
  if (i < 0) return false;
  stop(STOP_EXEC, pc);
  store<u32>(D_INDEX, <u32>i);
  store<u32>(D_SKIP, 1);
  store<u64>(D_SKIP_PC, pc);
  return true;
}

/**
 * A stepped block ended by itself (slow path to a device, trap, page end...): stop before the next
 * block boundary? `retired`: its last instruction retired (a trapping one did not: the trap is
 * taken first, then dbgTrapTaken() ends the step). The next run() starts with a normal boundary.
 */
export function dbgBlockEnd(pc: u64, retired: bool, exc: bool): bool {
  if (load<u32>(D_N_HITS) != 0) {
    if (exc) store<u32>(D_N_HITS, 0); // the access did not complete after all
    else { stop(STOP_WATCH, pc); return true; }
  }
  if (retired && !exc && stepHere()) { stop(STOP_STEP, pc); return true; }
  return false;
}

/** A trap was taken (pc: the handler): a trap stop, or the end of a step. */
export function dbgTrapTaken(cause: u64, tval: u64, epc: u64, pc: u64): bool {
  const f = flags();
  if ((f & DBG_TRAP) != 0) {
    stop(STOP_TRAP, pc);
  } else if (stepHere()) {
    stop(STOP_STEP, pc);
  } else return false;
  store<u64>(D_CAUSE, cause);
  store<u64>(D_TVAL, tval);
  store<u64>(D_EPC, epc);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Watch ranges (called from the memory slow paths, mmu.ts, when DBG_WATCH is armed)

/** Does any watch range overlap va's page? Such pages never enter the host TLB's data arrays. */
export function dbgWatchPage(va: u64): bool {
  const page = va & ~(<u64>0xfff);
  const end = page + 4096;
  const n = load<u32>(D_N_WATCH);
  for (let i: u32 = 0; i < n; i++) {
    const e = D_WATCH + i * 24;
    if (load<u64>(e) < end && load<u64>(e, 8) > page) return true;
  }
  return false;
}

/** A completed data access of `size` bytes at va (kind WATCH_READ or WATCH_WRITE) with `value`. */
export function dbgWatchAccess(va: u64, size: u32, kind: u32, value: u64): void {
  const n = load<u32>(D_N_WATCH);
  const hi = va + <u64>size;
  for (let i: u32 = 0; i < n; i++) {
    const e = D_WATCH + i * 24;
    if ((<u32>load<u64>(e, 16) & kind) == 0 || load<u64>(e) >= hi || load<u64>(e, 8) <= va) continue;
    const k = load<u32>(D_N_HITS);
    if (k >= D_HITS_MAX) return;
    const h = D_HITS + k * D_HIT_SIZE;
    store<u64>(h, va);
    store<u64>(h, value, 8);
    store<u32>(h, size, 16);
    store<u32>(h, kind, 20);
    store<u32>(h, i, 24);
    store<u32>(D_N_HITS, k + 1);
    return;
  }
}

/**
 * The host changed the watch table (or D_FLAGS' DBG_WATCH): drop every hart's host TLB so data
 * accesses to watched pages miss from now on. (The host TLB keeps no statistics: no count changes.)
 */
export function dbgWatchChanged(): void {
  tlbFlushAllHarts();
}

/** Reset: a cut block does not survive it; the tables (the debugger's) do. */
export function dbgReset(): void {
  store<u32>(D_MID, 0);
  store<u32>(D_SKIP, 0);
  store<u32>(D_N_HITS, 0);
}

// ---------------------------------------------------------------------------------------------
// Side-effect-free translation for the debugger (gdb memory packets)

const NONE: u64 = <u64>-1;

/**
 * Physical address of virtual address va as hart h sees it now (its privilege and V: M-mode is
 * bare; S/U use satp; V = 1 uses vsatp then hgatp), or all ones when it does not translate.
 * MPRV is not applied (instruction-fetch view, as QEMU's gdb stub). Reads PTEs only.
 */
export function dbgTranslate(va: u64, h: u32): u64 {
  if (h >= max<u32>(1, load<u32>(C_HARTS))) return NONE;
  const b: u32 = h == load<u32>(C_HART) ? HART_BASE : HART_SAVE_BASE + h * HART_SIZE;
  const priv = <u32>load<u64>(b + (H_PRIV - HART_BASE));
  const virt = load<u64>(b + (H_VIRT - HART_BASE)) != 0;
  if (virt) {
    const hgatp = load<u64>(b + (H_HGATP - HART_BASE));
    const gpa = walkNoSideEffects(load<u64>(b + (H_VSATP - HART_BASE)), va, false, hgatp, true);
    if (gpa == NONE) return NONE;
    return walkNoSideEffects(hgatp, gpa, true, 0, false);
  }
  if (priv == 3) return va;
  return walkNoSideEffects(load<u64>(b + (H_SATP - HART_BASE)), va, false, 0, false);
}

// ---------------------------------------------------------------------------------------------
// CSRs for the debugger (gdb's org.gnu.gdb.riscv.csr registers): read or written as M-mode would,
// with V = 0, on any hart (a hart that is not running is swapped into the hart block for the
// access and back: nothing else of the machine changes; the running hart's reservation is kept).

let dbgCsrOk: u32 = 0;

/** Run a CSR access on hart h with the privilege forced to M (V = 0); restores both. */
function onHart(h: u32, csr: u32, v: u64, write: bool): u64 {
  const cur = load<u32>(C_HART);
  const other = h != cur;
  if (other) {
    memory.copy(HART_SAVE_BASE + cur * HART_SIZE, HART_BASE, HART_SIZE);
    memory.copy(HART_BASE, HART_SAVE_BASE + h * HART_SIZE, HART_SIZE);
  }
  const priv = load<u64>(H_PRIV);
  const virt = load<u64>(H_VIRT);
  store<u64>(H_PRIV, 3);
  store<u64>(H_VIRT, 0);
  csrOk = true;
  let r: u64 = 0;
  if (write) writeCsr(csr, v);
  else r = readCsr(csr);
  dbgCsrOk = csrOk ? 1 : 0;
  // A write to the privilege or V themselves is not a CSR: keep what the hart had.
  store<u64>(H_PRIV, priv);
  store<u64>(H_VIRT, virt);
  if (other) {
    memory.copy(HART_SAVE_BASE + h * HART_SIZE, HART_BASE, HART_SIZE);
    memory.copy(HART_BASE, HART_SAVE_BASE + cur * HART_SIZE, HART_SIZE);
  }
  return r;
}

/** CSR `csr` of hart h as M-mode reads it; dbgCsrStatus() says whether it exists (1) or not (0). */
export function dbgCsrRead(csr: u32, h: u32): u64 {
  if (h >= max<u32>(1, load<u32>(C_HARTS)) || csr > 0xfff) { dbgCsrOk = 0; return 0; }
  return onHart(h, csr, 0, false);
}
/** Write CSR `csr` of hart h as M-mode would (WARL rules apply); 1 = done, 0 = no such CSR. */
export function dbgCsrWrite(csr: u32, h: u32, v: u64): u32 {
  if (h >= max<u32>(1, load<u32>(C_HARTS)) || csr > 0xfff) return 0;
  onHart(h, csr, v, true);
  // A translation or PMP CSR of a hart that is not running: its host TLB must not outlive it.
  tlbFlushHart(h);
  return dbgCsrOk;
}
export function dbgCsrStatus(): u32 {
  return dbgCsrOk;
}
