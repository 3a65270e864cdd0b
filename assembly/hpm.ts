/**
 * Zihpm: the programmable counters mhpmcounter3..31 / hpmcounter3..31, their event selectors
 * mhpmevent3..31 and mcountinhibit bits 3..31 (Priv 1.12 §3.1.10-3.1.12).
 *
 * Nothing is counted per instruction: every event is one the core (or the modeled TLB) already
 * counts, and a counter's value is derived at read time as source(event) + offset. Writing the
 * counter, changing its event or inhibiting it rewrites the offset so that the value is
 * continuous; an inhibited counter holds its value in the offset itself. The hot loop is
 * untouched, so an unprogrammed counter costs nothing.
 *
 * Event numbering (mhpmevent bits 19:0; bits 57:20 and OF (63) are WARL zero, an unknown event
 * reads back 0 = no event) follows the SBI PMU event_idx encoding (SBI v1.0 §11), so the builtin SBI maps an
 * event_idx straight to an mhpmevent value:
 *   0x00001  cycles                       (SBI hardware event CPU_CYCLES)
 *   0x00002  instructions retired         (SBI hardware event INSTRUCTIONS)
 *   0x10018  DTLB accesses                (SBI cache event DTLB / READ / ACCESS; loads, stores, AMOs)
 *   0x10019  DTLB misses                  (DTLB / READ / MISS)
 *   0x10020  ITLB accesses                (ITLB / READ / ACCESS; fetch blocks)
 *   0x10021  ITLB misses                  (ITLB / READ / MISS)
 *   0x20001  exceptions taken             (raw events: SBI event_idx 0x20000, event_data = value)
 *   0x20002  interrupts taken
 *   0x20003  page-table walks
 *   0x20004  page-walk memory references
 * The TLB events come from the modeled TLB (timing mode, --tlb-model); without it they stay 0.
 * Sscofpmf mode filtering: mhpmevent bits 62..58 (MINH, SINH, UINH, VSINH, VUINH; the V ones only
 * with the H extension) stop the counter while the hart is in that mode. The counters that have
 * such a bit are rebased on every privilege change (trap entry, mret, sret: trap.ts calls
 * hpmModeChanged; run.ts makes the cycle / instret sources current first, only when H_HPM_FILTER
 * is non-zero).
 *
 * Sscofpmf overflow (Sscofpmf 1.0 "Count Overflow Control"): mhpmevent.OF (bit 63) is set when
 * the counter wraps by counting (never by a write), and if it was 0 the wrap raises the local
 * counter-overflow interrupt (mip.LCOFIP, bit 13). Counters are derived, so a wrap is found from
 * its offset: a counting counter with value = src + ofs wraps when its source reaches -ofs
 * (mod 2^64). hpmOvfUpdate keeps, for the counters that are armed (counting, OF = 0, the wrap
 * ahead of the source), a bit mask and the earliest wrap of the cycles and instret counters; the
 * run loop (run.ts) treats those two as deadlines — the instret one exact to the instruction, the
 * cycle one at the first block boundary at or after it (the Sstc timer's granularity) — and
 * checks the other events at every block boundary (hpmOvfCheck). Nothing is armed (one load and
 * a compare per block) until software clears an OF bit of a counting counter.
 */
import {
  H_CYCLES, H_INSTRET, H_EXCEPTIONS, H_INTERRUPTS, H_MCOUNTINHIBIT, H_HPM_EVENT, H_HPM_OFS, H_HPM_FILTER, H_PRIV, H_VIRT, H_HYP, TM_CNT,
  H_HPM_ARMED, H_HPM_OVF_CYCLE, H_HPM_OVF_INSTRET, H_MIP,
} from './layout';
import { extOn } from './isaext';
import { EXT_SSCOFPMF } from './generated/ops';
import { tmEnabled, TMS_D_ACCESS, TMS_D_MISS, TMS_I_ACCESS, TMS_I_MISS, TMS_WALKS, TMS_WALK_REFS } from './tlbmodel';

export const HPM_EV_CYCLES: u64 = 0x00001;
export const HPM_EV_INSTRET: u64 = 0x00002;
export const HPM_EV_DTLB_ACCESS: u64 = 0x10018;
export const HPM_EV_DTLB_MISS: u64 = 0x10019;
export const HPM_EV_ITLB_ACCESS: u64 = 0x10020;
export const HPM_EV_ITLB_MISS: u64 = 0x10021;
export const HPM_EV_EXCEPTIONS: u64 = 0x20001;
export const HPM_EV_INTERRUPTS: u64 = 0x20002;
export const HPM_EV_WALKS: u64 = 0x20003;
export const HPM_EV_WALK_REFS: u64 = 0x20004;

/** Sscofpmf mode-inhibit bits of mhpmevent: MINH 62, SINH 61, UINH 60, VSINH 59, VUINH 58. */
export const HPM_INH_MASK: u64 = <u64>0x1f << 58;
const HPM_INH_MASK_NOH: u64 = <u64>0x7 << 60;

/** mcountinhibit: bits 3..31 (hpm counters) are writable; CY and IR always count (read 0). */
export const MCOUNTINHIBIT_MASK: u64 = 0xfffffff8;

/** mhpmevent.OF (Sscofpmf): the counter overflowed; also its overflow-interrupt disable. */
export const HPM_OF: u64 = <u64>1 << 63;
/** mip/mie/sip/sie bit 13: the local counter-overflow interrupt (LCOFI, Sscofpmf). */
export const MIP_LCOFIP: u64 = 1 << 13;

/** Is Sscofpmf on (`--cpu ...,sscofpmf=off` turns it off: no OF, xINH, scountovf, LCOFI)? */
@inline export function sscofpmfOn(): bool {
  return (extOn & EXT_SSCOFPMF) != 0;
}

/**
 * The value the event legalises to (WARL): a known event, else 0 (no event). OF and the xINH
 * bits exist only with Sscofpmf; another bit above the event makes the whole value illegal.
 */
export function hpmLegalEvent(ev: u64): u64 {
  switch (<u32>(ev & 0xfffff)) {
    case 0x00001: case 0x00002: case 0x10018: case 0x10019: case 0x10020: case 0x10021:
    case 0x20001: case 0x20002: case 0x20003: case 0x20004:
      if (((ev & ~(HPM_INH_MASK | HPM_OF)) >> 20) != 0) return 0;
      if (!sscofpmfOn()) return ev & 0xfffff;
      return (ev & ((load<u64>(H_HYP) != 0 ? HPM_INH_MASK : HPM_INH_MASK_NOH) | HPM_OF)) | (ev & 0xfffff);
  }
  return 0;
}

@inline function tm(i: u32): u64 {
  return tmEnabled() ? load<u64>(TM_CNT + i * 8) : 0;
}

/** The running count of an event's source (the running hart's). */
function source(ev: u64): u64 {
  switch (<u32>(ev & 0xfffff)) {
    case 0x00001: return load<u64>(H_CYCLES);
    case 0x00002: return load<u64>(H_INSTRET);
    case 0x10018: return tm(TMS_D_ACCESS);
    case 0x10019: return tm(TMS_D_MISS);
    case 0x10020: return tm(TMS_I_ACCESS);
    case 0x10021: return tm(TMS_I_MISS);
    case 0x20001: return load<u64>(H_EXCEPTIONS);
    case 0x20002: return load<u64>(H_INTERRUPTS);
    case 0x20003: return tm(TMS_WALKS);
    case 0x20004: return tm(TMS_WALK_REFS);
  }
  return 0;
}

/** The mhpmevent bit that inhibits counting in (priv, virt). */
@inline function inhBit(priv: u32, virt: u64): u64 {
  if (priv == 3) return <u64>1 << 62;
  const b: u64 = virt != 0 ? (priv == 1 ? 59 : 58) : (priv == 1 ? 61 : 60);
  return <u64>1 << b;
}

/** Does counter n count in (priv, virt) with mcountinhibit `inh`? */
@inline function counting(n: u32, inh: u64, priv: u32, virt: u64): bool {
  return ((inh >> n) & 1) == 0 && (load<u64>(H_HPM_EVENT + (n - 3) * 8) & inhBit(priv, virt)) == 0;
}

@inline function countingNow(n: u32): bool {
  return counting(n, load<u64>(H_MCOUNTINHIBIT), <u32>load<u64>(H_PRIV), load<u64>(H_VIRT));
}

/** mhpmcounterN (N = 3..31). */
export function hpmRead(n: u32): u64 {
  const i = n - 3;
  const ofs = load<u64>(H_HPM_OFS + i * 8);
  if (!countingNow(n)) return ofs;
  return source(load<u64>(H_HPM_EVENT + i * 8)) + ofs;
}

@inline function selfCount(ev: u64, selfCycles: u64, selfInsn: u64): u64 {
  return ev == HPM_EV_CYCLES ? selfCycles : ev == HPM_EV_INSTRET ? selfInsn : 0;
}

/** Make counter n hold `val` after the current instruction, in its current state. */
function rebase(n: u32, val: u64, selfCycles: u64, selfInsn: u64): void {
  const i = n - 3;
  if (!countingNow(n)) { store<u64>(H_HPM_OFS + i * 8, val); return; }
  const ev = load<u64>(H_HPM_EVENT + i * 8) & 0xfffff;
  store<u64>(H_HPM_OFS + i * 8, val - (source(ev) + selfCount(ev, selfCycles, selfInsn)));
}

/**
 * Write mhpmcounterN. `self*` is what the writing instruction itself adds to the event's source
 * (its latency for cycles, 1 for instret): the written value is the one seen after it retires
 * (Priv 1.12 §3.1.11, as for mcycle / minstret).
 */
export function hpmWrite(n: u32, v: u64, selfCycles: u64, selfInsn: u64): void {
  rebase(n, v, selfCycles, selfInsn);
  hpmOvfUpdate(selfCycles, selfInsn);
}

/** mhpmeventN. */
export function hpmEventRead(n: u32): u64 {
  return load<u64>(H_HPM_EVENT + (n - 3) * 8);
}

/**
 * Write mhpmeventN: the counter keeps its value (the one before this instruction) and counts the
 * new event from the next instruction on (self*: as in hpmWrite).
 */
export function hpmEventWrite(n: u32, ev: u64, selfCycles: u64, selfInsn: u64): void {
  const val = hpmRead(n);
  const e = hpmLegalEvent(ev);
  store<u64>(H_HPM_EVENT + (n - 3) * 8, e);
  const f = load<u64>(H_HPM_FILTER) & ~((<u64>1) << n);
  store<u64>(H_HPM_FILTER, (e & HPM_INH_MASK) != 0 ? f | ((<u64>1) << n) : f);
  rebase(n, val, selfCycles, selfInsn);
  hpmOvfUpdate(selfCycles, selfInsn);
}

/**
 * Write mcountinhibit: counters that stop keep their value (not counting the writing instruction),
 * counters that start go on from it with the next instruction (self*: as in hpmWrite).
 */
export function hpmInhibitWrite(v: u64, selfCycles: u64, selfInsn: u64): void {
  const old = load<u64>(H_MCOUNTINHIBIT);
  const nv = v & MCOUNTINHIBIT_MASK;
  const changed = old ^ nv;
  if (changed == 0) return;
  for (let n: u32 = 3; n < 32; n++) {
    if (((changed >> n) & 1) == 0) continue;
    const val = hpmRead(n);
    store<u64>(H_MCOUNTINHIBIT, (load<u64>(H_MCOUNTINHIBIT) & ~((<u64>1) << n)) | (nv & ((<u64>1) << n)));
    rebase(n, val, selfCycles, selfInsn);
  }
  store<u64>(H_MCOUNTINHIBIT, nv);
  hpmOvfUpdate(selfCycles, selfInsn);
}

/**
 * Sscofpmf mode filtering: the hart went from (oldPriv, oldVirt) to the current mode (trap entry,
 * mret, sret). Counters whose mode-inhibit bits differ between the two modes stop (holding their
 * value) or resume. H_CYCLES / H_INSTRET must be current (run.ts stores them when H_HPM_FILTER != 0).
 */
export function hpmModeChanged(oldPriv: u32, oldVirt: u64): void {
  const f = load<u64>(H_HPM_FILTER);
  const inh = load<u64>(H_MCOUNTINHIBIT);
  const p = <u32>load<u64>(H_PRIV), v = load<u64>(H_VIRT);
  for (let n: u32 = 3; n < 32; n++) {
    if (((f >> n) & 1) == 0) continue;
    const was = counting(n, inh, oldPriv, oldVirt), now = counting(n, inh, p, v);
    if (was == now) continue;
    const i = n - 3;
    const src = source(load<u64>(H_HPM_EVENT + i * 8) & 0xfffff);
    const ofs = load<u64>(H_HPM_OFS + i * 8);
    store<u64>(H_HPM_OFS + i * 8, was ? src + ofs : ofs - src);
  }
  // A counter that stopped or resumed moves its wrap (only armed or armable ones matter).
  hpmOvfUpdate(0, 0);
}

// ---- Sscofpmf overflow

/**
 * Recompute which counters are armed and the cycle / instret deadlines of the run loop. `self*`:
 * what the current instruction still adds to the cycles / instret sources (a CSR write's value is
 * the one after it retires: the wrap must lie beyond that point, not just beyond H_CYCLES).
 * A counter n is armed when it counts now, its OF is 0, and its source has not yet reached the
 * wrap point -ofs (value = src + ofs crosses 2^64 there); a counter written to 0 wraps only after
 * 2^64 events, which never comes.
 */
export function hpmOvfUpdate(selfCycles: u64, selfInsn: u64): void {
  let armed: u64 = 0;
  let atCycle: u64 = <u64>-1, atInsn: u64 = <u64>-1;
  if (sscofpmfOn()) {
    const inh = load<u64>(H_MCOUNTINHIBIT);
    const p = <u32>load<u64>(H_PRIV), v = load<u64>(H_VIRT);
    for (let n: u32 = 3; n < 32; n++) {
      const i = n - 3;
      const ev = load<u64>(H_HPM_EVENT + i * 8);
      if (ev == 0 || (ev & HPM_OF) != 0 || (ev & 0xfffff) == 0 || !counting(n, inh, p, v)) continue;
      const e = ev & 0xfffff;
      const at = 0 - load<u64>(H_HPM_OFS + i * 8);
      if (at <= source(e) + selfCount(e, selfCycles, selfInsn)) continue;
      armed |= (<u64>1) << n;
      if (e == HPM_EV_CYCLES) { if (at < atCycle) atCycle = at; }
      else if (e == HPM_EV_INSTRET) { if (at < atInsn) atInsn = at; }
    }
  }
  store<u64>(H_HPM_ARMED, armed);
  store<u64>(H_HPM_OVF_CYCLE, atCycle);
  store<u64>(H_HPM_OVF_INSTRET, atInsn);
}

/**
 * At a block boundary with counters armed (H_CYCLES / H_INSTRET current): every armed counter
 * whose source reached its wrap point has overflowed — set its OF, and since OF was 0 raise
 * LCOFIP (Sscofpmf: "If an hpmcounter overflows while the associated OF bit is zero, then a
 * count overflow interrupt request is generated"; the request sets OF). Returns whether any did.
 */
export function hpmOvfCheck(): bool {
  const armed = load<u64>(H_HPM_ARMED);
  let fired = false;
  for (let n: u32 = 3; n < 32; n++) {
    if (((armed >> n) & 1) == 0) continue;
    const i = n - 3;
    const ev = load<u64>(H_HPM_EVENT + i * 8);
    if (source(ev & 0xfffff) < 0 - load<u64>(H_HPM_OFS + i * 8)) continue;
    store<u64>(H_HPM_EVENT + i * 8, ev | HPM_OF);
    fired = true;
  }
  if (fired) {
    store<u64>(H_MIP, load<u64>(H_MIP) | MIP_LCOFIP);
    hpmOvfUpdate(0, 0);
  }
  return fired;
}

/**
 * scountovf (0xDA0): the OF bits of mhpmevent3..31 at bits 3..31. Below M-mode a bit reads 0
 * unless mcounteren (and, in VS-mode, hcounteren) has the counter's bit (Sscofpmf "scountovf").
 */
export function hpmScountovf(): u64 {
  let r: u64 = 0;
  for (let n: u32 = 3; n < 32; n++) {
    if ((load<u64>(H_HPM_EVENT + (n - 3) * 8) & HPM_OF) != 0) r |= (<u64>1) << n;
  }
  return r;
}
