/**
 * A vCPU (KVM's struct kvm_vcpu): a VcpuContext of the core's host-VMM mode (src/vcpu.ts) plus the
 * VMM's bookkeeping — its HSM state, whether it waits in WFI, the host hart it last ran on, and its
 * statistics (per-exit-reason counts and cycles, instructions, cycles).
 */
import { newVcpuContext, type VcpuContext } from '../vcpu.js';
import type { ExitReasonName, ExitStat } from './types.js';
import { VcpuTlb } from './tlbstate.js';

export const EXIT_REASONS: readonly ExitReasonName[] = ['mmio', 'sbi', 'wfi', 'virtual-instruction', 'interrupt', 'fault', 'other'];

/** henvcfg.STCE (bit 63): Sstc for VS — vstimecmp drives VSTIP (Priv §8.2.x, Sstc). */
export const HENVCFG_STCE = 1n << 63n;
/** hstatus.VTW (bit 21): WFI in VS-mode is a virtual-instruction exit (so the VMM can yield the hart). */
export const HSTATUS_VTW = 1n << 21n;
/** hstatus.VSXL (bits 33:32 = 2: 64-bit VS-mode). */
const HSTATUS_VSXL64 = 2n << 32n;
/** hcounteren: cycle, time, instret readable by the guest. */
const HCOUNTEREN_CTI = 7n;

export function emptyExitStats(): Record<ExitReasonName, ExitStat> {
  const s = {} as Record<ExitReasonName, ExitStat>;
  for (const r of EXIT_REASONS) s[r] = { count: 0, cycles: 0 };
  return s;
}

export class Vcpu {
  ctx: VcpuContext;
  /** HSM: started (runs or waits) or stopped (hart_stop, or a secondary hart before hart_start). */
  started: boolean;
  /** Waiting in WFI until one of its enabled VS interrupts is pending. */
  waiting = false;
  /** The host hart it last ran on (-1: never). */
  lastHart = -1;
  readonly exits = emptyExitStats();
  instructions = 0;
  cycles = 0;
  /** Guest-page-fault exits (causes 20, 21, 23: MMIO and accesses outside the VM's RAM). */
  guestPageFaults = 0;
  /** The LR/SC reservation when it last left a host hart (the core's H_RESV; all ones = none). */
  resv = (1n << 64n) - 1n;
  /** The core's trap-loop detector state of this vCPU (H_TRAP_STREAK, H_TRAP_INSTRET). */
  trapStreak = 0;
  trapInstret = 0;
  /**
   * scounteren and senvcfg: S-mode CSRs the H extension does not bank for VS (Priv §9.2: a guest
   * in VS-mode reads and writes the hart's own), so they are the vCPU's state, switched with it
   * as KVM does. scounteren starts at 7 (CY, TM, IR), as OpenSBI and the builtin SBI leave it.
   */
  scounteren = 7n;
  senvcfg = 0n;
  /** Its own modeled TLB and counters (timing mode; tlbstate.ts). */
  readonly tlb = new VcpuTlb();
  /** Trap-storm detection (vm.ts TRAP_STORM): injected traps in a row, and instret at the last one. */
  trapsInARow = 0;
  instretAtTrap = -1;

  constructor(
    readonly index: number,
    hgatp: bigint,
    started: boolean,
  ) {
    this.started = started;
    this.ctx = Vcpu.resetContext(index, hgatp, 0n, 0n);
  }

  /** The state a vCPU starts in (SBI HSM hart_start / boot): VS-mode at pc, a0 = hartid, a1 = opaque. */
  static resetContext(hart: number, hgatp: bigint, pc: bigint, a1: bigint): VcpuContext {
    const c = newVcpuContext(pc, {
      hgatp,
      hstatus: HSTATUS_VTW | HSTATUS_VSXL64,
      henvcfg: HENVCFG_STCE,
      hcounteren: HCOUNTEREN_CTI,
    });
    c.x[10] = BigInt(hart);
    c.x[11] = a1;
    return c;
  }

  start(hgatp: bigint, pc: bigint, a1: bigint): void {
    this.ctx = Vcpu.resetContext(this.index, hgatp, pc, a1);
    this.resv = (1n << 64n) - 1n;
    this.scounteren = 7n;
    this.senvcfg = 0n;
    this.started = true;
    this.waiting = false;
  }

  count(reason: ExitReasonName, cycles: number): void {
    const s = this.exits[reason];
    s.count++;
    s.cycles += cycles;
  }
}
