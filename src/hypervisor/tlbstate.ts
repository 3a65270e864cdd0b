/**
 * The modeled TLB in a multi-VM host (timing mode; src/tlbmodel.ts, assembly/tlbmodel.ts): one model
 * per vCPU, not per host hart.
 *
 * The core keeps one modeled TLB per hart slot (its entries, replacement state and counters), as a
 * bare SMP board needs. A host hart runs the vCPUs of many VMs in turn; if they shared the hart's
 * model, a VM's TLB hits, misses and walk cycles — its guest-visible clock — would depend on what
 * its neighbours ran there and on which host harts the scheduler picked (issue 10 scope 1: a VM's
 * run is the same whatever else the host runs). So each vCPU owns a model: entering a hart swaps the
 * hart's live model entries (TM_STATE .. TM_END) with the vCPU's own (kept here in JS memory while
 * it is not on a hart), as if each vCPU had a hart of its own. The swap is skipped when the vCPU
 * already owns the hart's model (it ran there last), so a VM alone on a hart copies nothing.
 *
 * Counters stay per hart (TM_CNT); the VMM charges each vCPU the difference across its run
 * (per-VM TLB and two-dimensional walk statistics, issue 10 scope 8). A fence the VMM makes for a VM
 * (SBI RFENCE, reboot) is applied to every vCPU's model of that VM: at once to the live one, and to
 * the others when they next enter a hart — never to other VMs' models or counters.
 */
import type { Core } from '../core.js';
import * as L from '../generated/layout.js';
import { TMS, type TlbStats, tlbStatsFromCounters } from '../tlbmodel.js';

const COUNTERS = 128;

/** A vCPU's modeled TLB while it is not live on a host hart, its counters, and a pending fence. */
export class VcpuTlb {
  /** The model's entries (null: never ran: an empty model). */
  saved: Uint8Array | null = null;
  /** This vCPU's share of the model's counters (TMS_* indices). */
  readonly counts = new Float64Array(COUNTERS);
  /** The VMM fenced this vCPU's VMID while its model was not live: apply at the next entry. */
  fencePending = false;
}

export class VcpuTlbModels {
  /** Per host hart: the vCPU whose model is live there (in the core's live block or the hart's save slot). */
  private readonly owner: (VcpuTlb | null)[];
  /**
   * The parts of a hart's model that the configuration uses ([offset from TM_STATE, bytes]): the
   * state words, the PLRU bits and entries of the configured sets and ways, the page-walk cache
   * and the nested TLB. Only these are swapped (the U74 default: ~24 KiB of the 216 KiB block).
   */
  private readonly ranges: Array<[number, number]>;
  private readonly bytes: number;
  private readonly empty: Uint8Array;
  private readonly before = new Float64Array(COUNTERS);

  constructor(
    private readonly core: Core,
    harts: number,
  ) {
    this.owner = new Array<VcpuTlb | null>(harts).fill(null);
    const cfg = new DataView(core.u8view().buffer);
    const word = (i: number) => cfg.getUint32(L.TM_CFG + 4 * i, true);
    const l1 = word(2) * word(3); // TMC_L1_SETS x TMC_L1_WAYS
    const l2 = word(4) * word(5); // TMC_L2_SETS x TMC_L2_WAYS
    const at = (addr: number, len: number): [number, number] => [addr - L.TM_STATE, len];
    this.ranges = [
      at(L.TM_STATE, L.TM_PLRU - L.TM_STATE),
      at(L.TM_PLRU, word(2) * 2), // PLRU bits: L1 I sets ...
      at(L.TM_PLRU + 1024 * 2, word(2) * 2), // ... L1 D sets ...
      at(L.TM_PLRU + 2048 * 2, word(4) * 2), // ... L2 sets
      at(L.TM_L1I, l1 * L.TM_ENTRY),
      at(L.TM_L1D, l1 * L.TM_ENTRY),
      at(L.TM_L2, l2 * L.TM_ENTRY),
      at(L.TM_PWC, L.TM_END - L.TM_PWC), // page-walk cache and nested TLB
    ].filter(([, n]) => n > 0);
    this.bytes = this.ranges.reduce((a, [, n]) => a + n, 0);
    // An empty model, as tlbModelReset leaves it (the current hart's model was just reset).
    this.empty = new Uint8Array(this.bytes);
    this.copyOut(L.TM_STATE, this.empty);
  }

  /** Copy the used parts of the model at core address `base` (a TM_STATE) into `into`. */
  private copyOut(base: number, into: Uint8Array): void {
    const m = this.core.u8view();
    let o = 0;
    for (const [off, n] of this.ranges) {
      into.set(m.subarray(base + off, base + off + n), o);
      o += n;
    }
  }
  private copyIn(from: Uint8Array): void {
    const m = this.core.u8view();
    let o = 0;
    for (const [off, n] of this.ranges) {
      m.set(from.subarray(o, o + n), L.TM_STATE + off);
      o += n;
    }
  }

  /** The core switched to host hart `hart`; vCPU `t` (of VMID `vmid`) is about to run there. */
  enter(t: VcpuTlb, hart: number, vmid: number): void {
    if (this.owner[hart] !== t) {
      const prev = this.owner[hart];
      if (prev) this.copyOut(L.TM_STATE, (prev.saved ??= new Uint8Array(this.bytes)));
      // Its model may still be live on another hart (in that hart's save slot): take it from there.
      const h2 = this.owner.indexOf(t);
      if (h2 >= 0) {
        this.copyOut(L.TM_SAVE_BASE + h2 * L.TM_SAVE_SIZE + (L.TM_STATE - L.TM_CNT), (t.saved ??= new Uint8Array(this.bytes)));
        this.owner[h2] = null;
      }
      this.copyIn(t.saved ?? this.empty);
      this.owner[hart] = t;
    }
    this.snapshot(this.before);
    if (t.fencePending) {
      t.fencePending = false;
      this.core.ex.tlbModelHfence(1, 0, 0n, 1, vmid);
    }
  }

  /** The vCPU's run on the current hart ended: charge it the counters' difference. */
  leave(t: VcpuTlb): void {
    const u32 = new Uint32Array(this.core.u8view().buffer, L.TM_CNT, COUNTERS * 2);
    for (let i = 0; i < COUNTERS; i++) t.counts[i]! += u32[2 * i]! + u32[2 * i + 1]! * 0x1_0000_0000 - this.before[i]!;
  }

  /**
   * The VMM fences VMID `vmid` (all of its guest translations): the live model of `running` (on the
   * current hart) now, every other vCPU's at its next entry.
   */
  fenceVm(vcpus: readonly VcpuTlb[], running: VcpuTlb | null, vmid: number): void {
    for (const t of vcpus) {
      if (t === running) this.core.ex.tlbModelHfence(1, 0, 0n, 1, vmid);
      else t.fencePending = true;
    }
  }

  /** The vCPU is gone (its VM was reset or closed): forget where its model lives. */
  forget(t: VcpuTlb): void {
    for (let h = 0; h < this.owner.length; h++) if (this.owner[h] === t) this.owner[h] = null;
    t.saved = null;
    t.fencePending = false;
  }

  private snapshot(into: Float64Array): void {
    const u32 = new Uint32Array(this.core.u8view().buffer, L.TM_CNT, COUNTERS * 2);
    for (let i = 0; i < COUNTERS; i++) into[i] = u32[2 * i]! + u32[2 * i + 1]! * 0x1_0000_0000;
  }

  /** The TLB statistics of a set of vCPUs (a VM), summed. */
  stats(vcpus: readonly VcpuTlb[]): TlbStats {
    const sum = new Float64Array(COUNTERS);
    for (const t of vcpus) for (let i = 0; i < COUNTERS; i++) sum[i]! += t.counts[i]!;
    const hasL2 = new DataView(this.core.u8view().buffer).getUint32(L.TM_CFG + 4 * 4, true) !== 0;
    return tlbStatsFromCounters((i) => sum[i]!, hasL2);
  }
}

export { TMS };
