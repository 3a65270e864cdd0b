/**
 * A simulated host for the vCPU scheduler's tests and benchmark: fake vCPUs that consume what the
 * scheduler gives them, driven in the round model the VMM uses (schedule(now), run every hart to
 * nextDecisionAt(), report WFIs with their cycle, repeat). No core, no guest: only host cycles.
 */
import { VcpuScheduler, type Assignment, type VcpuSchedulerConfig, type VmSchedParams } from '../../src/hypervisor/scheduler.js';

/** How a fake vCPU behaves when it runs. */
export type Behaviour =
  /** Always has work: runs for as long as it holds a hart. */
  | { kind: 'cpu' }
  /** Runs `run` cycles (its own), then WFIs for `sleep` host cycles (a timer wakes it), forever. */
  | { kind: 'sleeper'; run: number; sleep: number }
  /** Blocked from the start until host cycle `at`, then CPU-bound. */
  | { kind: 'late'; at: number };

export interface VmSpec extends VmSchedParams {
  vcpus: number;
  behaviour?: Behaviour;
}

interface Fake {
  behaviour: Behaviour;
  /** Cycles left in the current burst (sleeper). */
  left: number;
}

export class SimHost {
  readonly sched: VcpuScheduler;
  now = 0;
  /** vcpu id -> its VM's index in the spec list. */
  readonly vmOf: number[] = [];
  private readonly fakes: Fake[] = [];
  /** Every assignment that switched something, when tracing. */
  readonly trace: string[] = [];
  rounds = 0;
  /** Called with every plan (tests check invariants on it). */
  onPlan?: (now: number, plan: Assignment[]) => void;

  constructor(
    cfg: VcpuSchedulerConfig,
    readonly specs: readonly VmSpec[],
    private readonly tracing = false,
    /**
     * 0: exact (a round ends at the next decision or the first WFI, as a VMM that asks for a
     * decision at each WFI). > 0: rounds of at most this many cycles, WFIs reported inside them and
     * decided at the round's end (the SMP board's round model; a hart idles until then).
     */
    private readonly quantum = 0,
  ) {
    this.sched = new VcpuScheduler(cfg);
    specs.forEach((s, i) => {
      this.sched.addVm(i, { weight: s.weight, cap: s.cap });
      for (let k = 0; k < s.vcpus; k++) {
        const b = s.behaviour ?? { kind: 'cpu' };
        const id = this.sched.addVcpu(i, { runnable: b.kind !== 'late' });
        if (b.kind === 'late') this.sched.wake(id, b.at);
        this.vmOf[id] = i;
        this.fakes[id] = { behaviour: b, left: b.kind === 'sleeper' ? b.run : 0 };
      }
    });
  }

  /** Runs the host up to cycle `t` (a decision is made at t, so every run is charged to t). */
  runTo(t: number): void {
    while (this.now < t) {
      const plan = this.sched.schedule(this.now);
      this.rounds++;
      this.onPlan?.(this.now, plan);
      if (this.tracing) {
        for (const a of plan) if (a.switched) this.trace.push(`${this.now}:${a.hart}=${a.vcpu}${a.flush ? 'f' : ''}`);
      }
      let end = Math.min(this.sched.nextDecisionAt(), t);
      if (this.quantum === 0) {
        // Exact: the round also ends at the first WFI, where the VMM asks for a decision.
        for (const a of plan) {
          if (a.vcpu < 0) continue;
          const f = this.fakes[a.vcpu]!;
          if (f.behaviour.kind === 'sleeper') end = Math.min(end, this.now + f.left);
        }
      } else end = Math.min(end, this.now + this.quantum);
      if (end <= this.now) throw new Error(`no progress at ${this.now}`);
      for (const a of plan) {
        if (a.vcpu < 0) continue;
        const f = this.fakes[a.vcpu]!;
        if (f.behaviour.kind !== 'sleeper') continue;
        // Runs until its burst is done (WFI, reported with its cycle) or the round ends.
        if (this.now + f.left <= end) {
          const at = this.now + f.left;
          this.sched.block(a.vcpu, at, at + f.behaviour.sleep);
          f.left = f.behaviour.run;
        } else f.left -= end - this.now;
      }
      this.now = end;
    }
    this.sched.schedule(this.now);
  }

  /** Host cycles each VM's vCPUs ran so far. */
  vmCycles(): number[] {
    return this.specs.map((_, i) => this.sched.vmStats(i).cycles);
  }

  /** Each VM's share of host cycles (of harts × now). */
  shares(): number[] {
    return this.vmCycles().map((c) => c / (this.sched.harts * this.now));
  }
}
