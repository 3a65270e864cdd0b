/**
 * The builtin SBI's Performance Monitoring Unit extension (SBI v1.0.0 ch. 11, EID 0x504D55 "PMU"),
 * over the harts' Zihpm counters (assembly/hpm.ts). Minimal but spec-shaped:
 *
 * - 32 counters, all hardware: index i is CSR 0xc00 + i, 64 bits wide (counter_get_info). Only
 *   3..31 are programmable and can be stopped (mcountinhibit), so counter_config_matching hands out
 *   only those; cycle / time / instret are reported but never allocated.
 * - Events: hardware CPU_CYCLES (event_idx 0x1) and INSTRUCTIONS (0x2); the cache events DTLB
 *   read access/miss (0x10018, 0x10019) and ITLB read access/miss (0x10020, 0x10021), from the
 *   modeled TLB; raw events (event_idx 0x20000, event_data = an mhpmevent value: 0x20001
 *   exceptions, 0x20002 interrupts, 0x20003 page walks, 0x20004 walk memory references). Anything
 *   else (firmware events included) is SBI_ERR_NOT_SUPPORTED.
 * - No firmware counters: counter_fw_read is SBI_ERR_INVALID_PARAM for every index.
 * - Without Sscofpmf the mode-inhibit flags of counter_config_matching (SET_xINH) are ignored, as
 *   OpenSBI does on harts without it.
 * - With Sscofpmf (sampling, as Linux's riscv_pmu_sbi uses it), as OpenSBI 1.2 does:
 *   counter_config_matching writes the event with OF = 0, MINH set (firmware time is not the
 *   supervisor's) and the SET_xINH flags (bits 3..7: VUINH, VSINH, UINH, SINH, MINH) as the
 *   mhpmevent xINH bits; counter_start (after SET_INIT_VALUE) clears OF only while mip.LCOFIP is
 *   clear, so an overflow the supervisor has not yet handled is not lost; the overflow interrupt
 *   itself is the hart's LCOFI (delegated by mideleg bit 13). No snapshot shared memory (SBI 2.0).
 */

import type { Core } from '../core.js';
import * as L from '../generated/layout.js';
import { GATED_EXTS } from '../isa/table.js';

export const EXT_PMU = 0x504d55;

const ERR_NOT_SUPPORTED = -2n;
const ERR_INVALID_PARAM = -3n;
const ERR_ALREADY_STARTED = -7n;
const ERR_ALREADY_STOPPED = -8n;

/** mhpmevent.OF and the xINH bits (Sscofpmf); counter_config_matching flag bits 3..7 map to 58..62. */
const MHPMEVENT_OF = 1n << 63n;
const MHPMEVENT_MINH = 1n << 62n;
const CFG_FLAG_INH_SHIFT = 55n;
const MIP_LCOFIP = 1n << 13n;

export const PMU_COUNTERS = 32;

/** What the PMU extension needs from the calling hart (its Zihpm counters, n = 3..31). */
export interface SbiPmuHost {
  counterRead(n: number): bigint;
  counterWrite(n: number, v: bigint): void;
  setEvent(n: number, ev: bigint): void;
  inhibit(): bigint;
  setInhibit(v: bigint): void;
  /** mhpmeventN as it reads (OF included). */
  event(n: number): bigint;
  /** mip of the calling hart (LCOFIP is bit 13). */
  mip(): bigint;
  /** Does the hart implement Sscofpmf? */
  sscofpmf(): boolean;
  /** Per-hart bitmask of the counters counter_config_matching allocated (SBI state, not the hart's). */
  readonly used: number[];
}

/** mhpmevent value for an SBI (event_idx, event_data), or null when no counter can count it. */
export function pmuEventValue(eventIdx: bigint, eventData: bigint): bigint | null {
  const idx = eventIdx & 0xfffffn;
  const type = idx >> 16n;
  if (type === 0n) return idx === 1n || idx === 2n ? idx : null;
  if (type === 1n) return [0x10018n, 0x10019n, 0x10020n, 0x10021n].includes(idx) ? idx : null;
  if (type === 2n && idx === 0x20000n) return [0x20001n, 0x20002n, 0x20003n, 0x20004n].includes(eventData) ? eventData : null;
  return null;
}

/** Counter indices selected by (base, mask), or null if any is out of range. */
function selected(base: bigint, mask: bigint): number[] | null {
  const out: number[] = [];
  for (let i = 0n; i < 64n; i++) {
    if (((mask >> i) & 1n) === 0n) continue;
    const c = base + i;
    if (c >= BigInt(PMU_COUNTERS)) return null;
    out.push(Number(c));
  }
  return out;
}

/** One PMU call (fid, a0..a5) from `hart`: the (error, value) pair. */
export function handlePmuCall(pmu: SbiPmuHost, hart: number, fid: number, a: (i: number) => bigint): [bigint, bigint] {
  const used = pmu.used[hart] ?? 0;
  const isUsed = (c: number) => c >= 3 && ((used >>> c) & 1) !== 0;
  const running = (c: number) => ((pmu.inhibit() >> BigInt(c)) & 1n) === 0n;
  switch (fid) {
    case 0: // sbi_pmu_num_counters
      return [0n, BigInt(PMU_COUNTERS)];
    case 1: { // sbi_pmu_counter_get_info: [11:0] CSR, [17:12] width - 1, [XLEN-1] 0 = hardware
      const c = a(0);
      if (c >= BigInt(PMU_COUNTERS)) return [ERR_INVALID_PARAM, 0n];
      return [0n, (63n << 12n) | (0xc00n + c)];
    }
    case 2: { // sbi_pmu_counter_config_matching(base, mask, flags, event_idx, event_data)
      const cs = selected(a(0), a(1));
      if (!cs || cs.length === 0) return [ERR_INVALID_PARAM, 0n];
      const flags = a(2);
      const ev = pmuEventValue(a(3), a(4));
      if (ev === null) return [ERR_NOT_SUPPORTED, 0n];
      // SKIP_MATCH (bit 0): the caller names a counter it already configured.
      const c = (flags & 1n) !== 0n ? cs.find(isUsed) : cs.find((x) => x >= 3 && !isUsed(x));
      if (c === undefined) return [ERR_NOT_SUPPORTED, 0n];
      const bit = 1n << BigInt(c);
      pmu.setInhibit(pmu.inhibit() | bit); // configure stopped
      // Sscofpmf: OF clear, M-mode inhibited, the supervisor's mode filter (OpenSBI
      // pmu_update_hw_mhpmevent); the hart drops the bits it lacks (H's VSINH/VUINH).
      pmu.setEvent(c, pmu.sscofpmf() ? ev | MHPMEVENT_MINH | (((flags >> 3n) & 0x1fn) << (CFG_FLAG_INH_SHIFT + 3n)) : ev);
      if ((flags & 2n) !== 0n) pmu.counterWrite(c, 0n); // CLEAR_VALUE
      if ((flags & 4n) !== 0n) pmu.setInhibit(pmu.inhibit() & ~bit); // AUTO_START
      pmu.used[hart] = (used | (1 << c)) >>> 0;
      return [0n, BigInt(c)];
    }
    case 3: { // sbi_pmu_counter_start(base, mask, flags, initial_value)
      const cs = selected(a(0), a(1));
      if (!cs || cs.length === 0 || !cs.every(isUsed)) return [ERR_INVALID_PARAM, 0n];
      if (cs.some(running)) return [ERR_ALREADY_STARTED, 0n];
      let inh = pmu.inhibit();
      const lcofPending = (pmu.mip() & MIP_LCOFIP) !== 0n;
      for (const c of cs) {
        if ((a(2) & 1n) !== 0n) pmu.counterWrite(c, a(3)); // SET_INIT_VALUE
        // Sscofpmf: re-arm the overflow interrupt, unless one is still pending (OpenSBI
        // pmu_ctr_enable_irq_hw: clearing OF then could lose an overflow not yet serviced).
        if (pmu.sscofpmf() && !lcofPending) {
          const ev = pmu.event(c);
          if ((ev & MHPMEVENT_OF) !== 0n) pmu.setEvent(c, ev & ~MHPMEVENT_OF);
        }
        inh &= ~(1n << BigInt(c));
      }
      pmu.setInhibit(inh);
      return [0n, 0n];
    }
    case 4: { // sbi_pmu_counter_stop(base, mask, flags)
      const cs = selected(a(0), a(1));
      if (!cs || cs.length === 0 || !cs.every(isUsed)) return [ERR_INVALID_PARAM, 0n];
      if (cs.some((c) => !running(c))) return [ERR_ALREADY_STOPPED, 0n];
      let inh = pmu.inhibit();
      for (const c of cs) inh |= 1n << BigInt(c);
      pmu.setInhibit(inh);
      if ((a(2) & 1n) !== 0n) { // RESET: the counter is free again
        let u = used;
        for (const c of cs) { pmu.setEvent(c, 0n); u &= ~(1 << c); }
        pmu.used[hart] = u >>> 0;
      }
      return [0n, 0n];
    }
    case 5: // sbi_pmu_counter_fw_read: no firmware counters
      return [ERR_INVALID_PARAM, 0n];
    default:
      return [ERR_NOT_SUPPORTED, 0n];
  }
}

/** The Zihpm exports of core.wasm (assembly/index.ts hpm*), on the running hart. */
interface HpmExports {
  hpmCounterRead(n: number): bigint;
  hpmCounterWrite(n: number, v: bigint): void;
  hpmEventSet(n: number, ev: bigint): void;
  hpmInhibitSet(v: bigint): void;
  getExtensions?: () => number;
}

/** The PMU host over a core: the SBI is called by the running hart for itself. */
export function corePmu(core: Core, harts: number): SbiPmuHost {
  const ex = core.ex as unknown as HpmExports;
  const sscofBit = GATED_EXTS.indexOf('Sscofpmf');
  return {
    counterRead: (n) => ex.hpmCounterRead(n),
    counterWrite: (n, v) => ex.hpmCounterWrite(n, BigInt.asUintN(64, v)),
    setEvent: (n, ev) => ex.hpmEventSet(n, BigInt.asUintN(64, ev)),
    inhibit: () => core.getCsr(L.H_MCOUNTINHIBIT),
    setInhibit: (v) => ex.hpmInhibitSet(BigInt.asUintN(64, v)),
    event: (n) => core.getCsr(L.H_HPM_EVENT + (n - 3) * 8),
    mip: () => core.getCsr(L.H_MIP),
    sscofpmf: () => typeof ex.getExtensions === 'function' && ((ex.getExtensions() >>> sscofBit) & 1) === 1,
    used: new Array<number>(harts).fill(0),
  };
}
