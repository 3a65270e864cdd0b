/**
 * Sdtrig: the debug trigger module (RISC-V Debug Specification 1.0, ch. 5 "Sdtrig"), for native
 * debugging: every trigger's action is 0 (raise a breakpoint exception, cause 3). There is no
 * Debug Mode, so `dmode` is 0 and action 1 is not legal.
 *
 *   tselect 0x7a0   TRIG_COUNT (4) triggers; a write >= 4 is ignored (the enumeration algorithm
 *                   of §5.1 reads it back and stops).
 *   tdata1  0x7a1   per trigger: type 6 (mcontrol6), type 3 (icount) or 15 (disabled). Writing 0,
 *                   15 or an unimplemented type (2 mcontrol, 4 itrigger, 5 etrigger, 7 ...) leaves
 *                   the trigger disabled: it reads back as type 15 (§5.5 tdata1: "writing 0 ...
 *                   must result in a trigger that is disabled ... changing type to 15").
 *   tdata2  0x7a2   the compare value (any value; for match = napot, bits 62:0 all ones clear
 *                   bit 62: maskmax6 = 63).
 *   tdata3  0x7a3   textra64: no extra conditions implemented, reads 0, writes ignored.
 *   tinfo   0x7a4   version 1 (the ratified spec), types 3, 6 and 15.
 *   tcontrol, mcontext, scontext: not implemented (illegal instruction). Reentrancy (§5.4, the
 *                   first of its two options): triggers do not match in M-mode while
 *                   mstatus.MIE = 0, nor in S-mode while sstatus.SIE = 0 if medeleg[3] = 1.
 *
 * mcontrol6 (§5.5): address matches only (select = 0; data matches are not implemented, select
 * is 0), timing "before" (hit0 = 1 when it fires; hit1 is read-only 0), match = equal (0), napot
 * (1), ge (2), lt (3), not equal (8), not napot (9) — mask low/high are not implemented and a
 * write of them reads back as 0. Every byte an access touches is a compare value (the
 * spec's recommendation), so a 4-byte load at 0x1002 matches tdata2 = 0x1004 with match = equal.
 * size: any (0), or 8/16/32/64-bit accesses (1, 2, 3, 5) for load/store triggers; an execute
 * trigger keeps size 0 (the instruction's length is not known before it is fetched). chain,
 * uncertain, vs, vu are hard-wired 0 (the H extension may make vs/vu writable later).
 * m/s/u select the privilege modes the trigger matches in.
 *   execute: matches the address of the instruction about to execute; tval = that address; the
 *            instruction does not execute (priority above instruction page/access faults).
 *   load/store: matches the virtual address of a load, store or AMO (an AMO or SC matches load and
 *            store triggers); tval = the access's lowest address; the access is not performed
 *            (priority above misaligned, page and access faults).
 * icount (§5.5, type 3): count (14 bits), m/s/u, pending, hit. It matches when an instruction
 * fetched in an enabled mode retires, and when a trap is taken from an enabled mode (once per
 * instruction); count 1 -> 0 sets pending, and a pending trigger fires before the next
 * instruction in an enabled mode with tval = 0.
 *
 * Cost when nothing is armed: nothing on the fast paths. H_TRIG_ARMED summarises the triggers:
 *   TRIG_ARMED_DATA: the host TLB refuses read/write fills (tlbFill), so every load and store
 *                    takes the slow path, which calls trigData(); arming it flushes the host TLB.
 *   TRIG_ARMED_STEP: the run loop calls trigBeforeInsn() at each block boundary (execute and
 *                    icount triggers); where a trigger could match in the block's page and mode
 *                    it runs the block one instruction at a time, with trigRetired() after it.
 * The run loop tests the summary once per block boundary. Armed triggers that never match change
 * no guest-visible result and no count (instret, cycles, classes; in timing mode the modeled TLB
 * too — trigger.test.ts checks it), with one known exception in timing mode: straight-line code
 * charges the modeled I-TLB a second time for a 32-bit instruction straddling a page end; with a
 * data trigger armed, a load or store just before such an instruction takes the slow path, which
 * ends the block without that second charge.
 */
import { H_TSELECT, H_TRIG_ARMED, H_TDATA1, H_TDATA2, TRIG_COUNT, H_PRIV, H_MSTATUS, H_MEDELEG } from './layout';
import { raise, CAUSE_BREAKPOINT } from './trap';
import { PRV_M, PRV_S, MSTATUS_MIE, MSTATUS_SIE } from './hart';
import { tlbFlushAll } from './mmu';

export const TRIG_ARMED_DATA: u64 = 1;
export const TRIG_ARMED_STEP: u64 = 2;

/** Access kinds for trigData(). */
export const TRIG_LOAD: u32 = 1;
export const TRIG_STORE: u32 = 2;
export const TRIG_AMO: u32 = 3;

const TYPE_SHIFT: u64 = 60;
const TYPE_ICOUNT: u64 = 3;
const TYPE_MCONTROL6: u64 = 6;
const TYPE_DISABLED: u64 = 15;

// mcontrol6 fields (tdata1 when type = 6)
const MC6_HIT0: u64 = 1 << 22;
const MC6_SIZE_SHIFT: u64 = 16;
const MC6_SIZE: u64 = 7 << 16;
const MC6_MATCH_SHIFT: u64 = 7;
const MC6_MATCH: u64 = 0xf << 7;
const MC6_M: u64 = 1 << 6;
const MC6_S: u64 = 1 << 4;
const MC6_U: u64 = 1 << 3;
const MC6_EXECUTE: u64 = 1 << 2;
const MC6_STORE: u64 = 1 << 1;
const MC6_LOAD: u64 = 1;

// icount fields (tdata1 when type = 3)
const IC_HIT: u64 = 1 << 24;
const IC_COUNT_SHIFT: u64 = 10;
const IC_COUNT: u64 = 0x3fff << 10;
const IC_M: u64 = 1 << 9;
const IC_PENDING: u64 = 1 << 8;
const IC_S: u64 = 1 << 7;
const IC_U: u64 = 1 << 6;

/** tinfo: version 1 (bits 31:24), info = types 3, 6 and 15. */
const TINFO: u64 = (1 << 24) | (1 << 15) | (1 << 6) | (1 << 3);

/** A trigger raised the pending exception (so icount does not count that trap). */
let trigFired = false;
/** Privilege mode the instruction being stepped was fetched in (icount). */
let fetchPriv: u32 = 0;

@inline function tdata1Addr(i: u32): usize {
  return H_TDATA1 + (i << 3);
}
@inline function tdata2Addr(i: u32): usize {
  return H_TDATA2 + (i << 3);
}
@inline function typeOf(t: u64): u64 {
  return t >> TYPE_SHIFT;
}

// ---------------------------------------------------------------------------------------------
// CSRs

/** Is `csr` one of ours (tselect..tinfo)? */
@inline export function isTriggerCsr(csr: u32): bool {
  return csr >= 0x7a0 && csr <= 0x7a4;
}

export function trigCsrRead(csr: u32): u64 {
  const sel = <u32>load<u64>(H_TSELECT);
  switch (csr) {
    case 0x7a0: return <u64>sel;
    case 0x7a1: {
      const t = load<u64>(tdata1Addr(sel));
      return t == 0 ? TYPE_DISABLED << TYPE_SHIFT : t;
    }
    case 0x7a2: return load<u64>(tdata2Addr(sel));
    case 0x7a3: return 0;
    default: return TINFO;
  }
}

export function trigCsrWrite(csr: u32, v: u64): void {
  const sel = <u32>load<u64>(H_TSELECT);
  switch (csr) {
    case 0x7a0:
      if (v < <u64>TRIG_COUNT) store<u64>(H_TSELECT, v);
      return;
    case 0x7a1:
      store<u64>(tdata1Addr(sel), legalTdata1(v));
      recomputeArmed();
      return;
    case 0x7a2: {
      const t = load<u64>(tdata1Addr(sel));
      const m = (t & MC6_MATCH) >> MC6_MATCH_SHIFT;
      // maskmax6 = 63: a napot value with bits 62:0 all ones is not legal; bit 62 becomes 0.
      if (typeOf(t) == TYPE_MCONTROL6 && (m & 7) == 1 && (v & 0x7fffffffffffffff) == 0x7fffffffffffffff) {
        v &= ~((<u64>1) << 62);
      }
      store<u64>(tdata2Addr(sel), v);
      return;
    }
    default:
      return; // tdata3 (no textra conditions) and tinfo (read-only) ignore writes
  }
}

/** The legal (WARL) value a tdata1 write leaves; 0 = disabled (read as type 15). */
function legalTdata1(v: u64): u64 {
  const type = typeOf(v);
  if (type == TYPE_MCONTROL6) {
    let keep = v & (MC6_HIT0 | MC6_M | MC6_S | MC6_U | MC6_EXECUTE | MC6_STORE | MC6_LOAD);
    const m = (v & MC6_MATCH) >> MC6_MATCH_SHIFT;
    if (m <= 3 || m == 8 || m == 9) keep |= m << MC6_MATCH_SHIFT;
    const size = (v & MC6_SIZE) >> MC6_SIZE_SHIFT;
    if ((v & MC6_EXECUTE) == 0 && (size <= 3 || size == 5)) keep |= size << MC6_SIZE_SHIFT;
    return (TYPE_MCONTROL6 << TYPE_SHIFT) | keep; // action 0, select 0, chain 0, dmode 0
  }
  if (type == TYPE_ICOUNT) {
    return (TYPE_ICOUNT << TYPE_SHIFT) | (v & (IC_HIT | IC_COUNT | IC_M | IC_PENDING | IC_S | IC_U)); // action 0
  }
  return 0;
}

/** Recompute H_TRIG_ARMED after a tdata1 change; arming data triggers drops the host TLB. */
function recomputeArmed(): void {
  let armed: u64 = 0;
  for (let i: u32 = 0; i < TRIG_COUNT; i++) {
    const t = load<u64>(tdata1Addr(i));
    const type = typeOf(t);
    if (type == TYPE_MCONTROL6 && (t & (MC6_M | MC6_S | MC6_U)) != 0) {
      if ((t & (MC6_LOAD | MC6_STORE)) != 0) armed |= TRIG_ARMED_DATA;
      if ((t & MC6_EXECUTE) != 0) armed |= TRIG_ARMED_STEP;
    } else if (type == TYPE_ICOUNT && (t & (IC_M | IC_S | IC_U)) != 0 && (t & (IC_COUNT | IC_PENDING)) != 0) {
      armed |= TRIG_ARMED_STEP;
    }
  }
  const old = load<u64>(H_TRIG_ARMED);
  store<u64>(H_TRIG_ARMED, armed);
  // The run loop calls trigOnTrap only while something is armed: a flag left by the breakpoint of
  // an icount trigger that disarmed itself must not swallow the next trap once re-armed.
  if (old == 0 && armed != 0) trigFired = false;
  // Loads and stores that hit the host TLB never see a trigger: from now on they must miss.
  if ((armed & ~old & TRIG_ARMED_DATA) != 0) tlbFlushAll();
}

// ---------------------------------------------------------------------------------------------
// Matching

/**
 * Does a trigger with mode bits (m, s, u) match in privilege p? Includes the reentrancy rule
 * (§5.4, option 1): not in M-mode while MIE = 0; not in S-mode while SIE = 0 if medeleg[3] = 1.
 */
function modeMatches(t: u64, m: u64, s: u64, u: u64, p: u32): bool {
  const ms = load<u64>(H_MSTATUS);
  if (p == PRV_M) return (t & m) != 0 && (ms & MSTATUS_MIE) != 0;
  if (p == PRV_S) {
    if ((t & s) == 0) return false;
    return ((load<u64>(H_MEDELEG) >> 3) & 1) == 0 || (ms & MSTATUS_SIE) != 0;
  }
  return (t & u) != 0;
}

/** mcontrol6 address match of the compare values lo..hi (the bytes accessed) against tdata2. */
function addressMatches(t: u64, t2: u64, lo: u64, hi: u64): bool {
  const m = (t & MC6_MATCH) >> MC6_MATCH_SHIFT;
  let r: bool;
  switch (<u32>(m & 7)) {
    case 0: r = t2 >= lo && t2 <= hi; break;
    case 1: {
      // napot: the top M bits match, M = XLEN-1 - (index of the lowest 0 bit of tdata2).
      const z = <u64>ctz(~t2);
      const span: u64 = z >= 63 ? <u64>-1 : ((<u64>1) << (z + 1)) - 1;
      const base = t2 & ~span;
      r = lo <= base + span && hi >= base;
      break;
    }
    case 2: r = hi >= t2; break;
    default: r = lo < t2; break; // 3: lt
  }
  return m >= 8 ? !r : r;
}

/** The size filter of a load/store trigger: 0 any, 1 byte, 2 half, 3 word, 5 doubleword. */
@inline function sizeMatches(t: u64, size: u32): bool {
  const f = <u32>((t & MC6_SIZE) >> MC6_SIZE_SHIFT);
  return f == 0 || (f == 1 && size == 1) || (f == 2 && size == 2) || (f == 3 && size == 4) || (f == 5 && size == 8);
}

/**
 * Load/store address triggers, called by the memory slow paths before the access (timing
 * "before"). Raises a breakpoint (tval = va) and returns true when one fires.
 */
export function trigData(va: u64, size: u32, kind: u32): bool {
  const p = <u32>load<u64>(H_PRIV);
  let fired = false;
  for (let i: u32 = 0; i < TRIG_COUNT; i++) {
    const t = load<u64>(tdata1Addr(i));
    if (typeOf(t) != TYPE_MCONTROL6) continue;
    const wants = ((kind & TRIG_LOAD) != 0 && (t & MC6_LOAD) != 0) || ((kind & TRIG_STORE) != 0 && (t & MC6_STORE) != 0);
    if (!wants || !sizeMatches(t, size) || !modeMatches(t, MC6_M, MC6_S, MC6_U, p)) continue;
    if (!addressMatches(t, load<u64>(tdata2Addr(i)), va, va + <u64>size - 1)) continue;
    store<u64>(tdata1Addr(i), t | MC6_HIT0);
    fired = true;
  }
  if (fired) {
    raise(CAUSE_BREAKPOINT, va);
    trigFired = true;
  }
  return fired;
}

/** trigBeforeInsn results. */
export const TRIG_NONE: u32 = 0;
/** A breakpoint was raised (pending exception): take it. */
export const TRIG_FIRED: u32 = 1;
/** Run this block one instruction at a time (and call trigRetired after it). */
export const TRIG_STEP: u32 = 2;

/**
 * At a block boundary with pc (TRIG_ARMED_STEP): a pending icount trigger fires (tval 0), else an
 * execute address trigger on pc (tval = pc). Otherwise says whether the block must be stepped:
 * only if an icount trigger counts in the current mode, or an execute trigger enabled in it could
 * match an address of pc's page (a block never leaves its page, and privilege, MIE and SIE change
 * only at block ends) — so a breakpoint elsewhere costs little.
 */
export function trigBeforeInsn(pc: u64): u32 {
  const p = <u32>load<u64>(H_PRIV);
  fetchPriv = p;
  let fired = false;
  for (let i: u32 = 0; i < TRIG_COUNT; i++) {
    const t = load<u64>(tdata1Addr(i));
    if (typeOf(t) == TYPE_ICOUNT && (t & IC_PENDING) != 0 && modeMatches(t, IC_M, IC_S, IC_U, p)) {
      store<u64>(tdata1Addr(i), (t & ~IC_PENDING) | IC_HIT);
      fired = true;
    }
  }
  if (fired) {
    recomputeArmed();
    raise(CAUSE_BREAKPOINT, 0);
    trigFired = true;
    return TRIG_FIRED;
  }
  for (let i: u32 = 0; i < TRIG_COUNT; i++) {
    const t = load<u64>(tdata1Addr(i));
    if (typeOf(t) != TYPE_MCONTROL6 || (t & MC6_EXECUTE) == 0) continue;
    if (!modeMatches(t, MC6_M, MC6_S, MC6_U, p)) continue;
    if (!addressMatches(t, load<u64>(tdata2Addr(i)), pc, pc)) continue;
    store<u64>(tdata1Addr(i), t | MC6_HIT0);
    fired = true;
  }
  if (fired) {
    raise(CAUSE_BREAKPOINT, pc);
    trigFired = true;
    return TRIG_FIRED;
  }
  const lo = pc & ~(<u64>0xfff);
  for (let i: u32 = 0; i < TRIG_COUNT; i++) {
    const t = load<u64>(tdata1Addr(i));
    const type = typeOf(t);
    if (type == TYPE_ICOUNT) {
      if ((t & IC_COUNT) != 0 && modeMatches(t, IC_M, IC_S, IC_U, p)) return TRIG_STEP;
    } else if (type == TYPE_MCONTROL6 && (t & MC6_EXECUTE) != 0 && modeMatches(t, MC6_M, MC6_S, MC6_U, p)) {
      // Could any address of the page match? (A negated match almost always can.)
      if (((t & MC6_MATCH) >> MC6_MATCH_SHIFT) >= 8 || addressMatches(t, load<u64>(tdata2Addr(i)), lo, lo + 0xfff)) return TRIG_STEP;
    }
  }
  return TRIG_NONE;
}

/** icount: one match (an instruction retired, or a trap was taken) in privilege p. */
function icountMatch(p: u32): void {
  let changed = false;
  for (let i: u32 = 0; i < TRIG_COUNT; i++) {
    const t = load<u64>(tdata1Addr(i));
    if (typeOf(t) != TYPE_ICOUNT || !modeMatches(t, IC_M, IC_S, IC_U, p)) continue;
    const count = (t & IC_COUNT) >> IC_COUNT_SHIFT;
    if (count == 0) continue;
    // count > 1: decrement; count 1: pending becomes set and count 0 (§5.5 icount).
    store<u64>(tdata1Addr(i), count > 1 ? (t & ~IC_COUNT) | ((count - 1) << IC_COUNT_SHIFT) : (t & ~IC_COUNT) | IC_PENDING);
    changed = true;
  }
  if (changed) recomputeArmed();
}

/** The instruction stepped after trigBeforeInsn() retired. */
export function trigRetired(): void {
  icountMatch(fetchPriv);
}

/** A trap is about to be taken from the current mode (called before takeTrap when armed). */
export function trigOnTrap(): void {
  if (trigFired) {
    // The trigger's own breakpoint is not an icount event.
    trigFired = false;
    return;
  }
  if ((load<u64>(H_TRIG_ARMED) & TRIG_ARMED_STEP) != 0) icountMatch(<u32>load<u64>(H_PRIV));
}
