/**
 * The vCPU scheduler (issue 10, scope 5): places the vCPUs of every VM on the host's harts, on the
 * host clock (host cycles). Pure bookkeeping — it runs nothing itself; the VMM asks it what each
 * host hart runs and until when, runs that, and tells it what happened. Deterministic: decisions
 * depend only on the calls made and their cycle arguments (no wall clock, no randomness; every tie
 * is broken by a fixed id). docs/SCHEDULER.md describes the algorithm and its measured guarantees.
 *
 * Algorithm (CFS's virtual runtime, one level per VM, global run queue):
 *   - Each VM has a virtual runtime `v`: every host cycle one of its vCPUs runs adds 256 / weight
 *     (weight default 256, 1..65535, Xen credit's range). A free hart takes a vCPU of the eligible
 *     VM with the smallest key `v + running × slice × 256 / weight` (the second term counts the
 *     slices the VM already holds on other harts, so k harts freed at once are spread over VMs by
 *     weight instead of all going to the one lowest VM); ties by VM id. Over time every VM's `v`
 *     advances at the same rate, i.e. host cycles are shared in proportion to the weights.
 *   - Within a VM, its vCPUs share the VM's time by their own runtime `rt` (host cycles run): the
 *     waiting vCPU with the smallest `rt` runs, preferring the one that last ran on this hart if it
 *     is within one slice of the smallest (fewer migrations); ties by vCPU id.
 *   - A VM that cannot use its weight's share (fewer runnable vCPUs than its share in harts, a cap,
 *     or sleeping vCPUs) falls behind; its lag is bounded: no VM's `v` stays more than `lagV` below
 *     the reference `vref` (monotonic: the smallest `v` among VMs with a vCPU waiting for a hart),
 *     and no vCPU's `rt` more than `lagRt` below its VM's reference. So the rest of the host is
 *     shared by weight among the others (weighted water-filling, `fairShares`), and a sleeper wakes
 *     with at most a bounded credit, whatever it slept.
 *   - Caps (% of one host hart, Xen credit's `cap`): a token bucket per capped VM, refilled at
 *     cap/100 tokens per host cycle up to `cap/100 × capWindow`, one token per cycle a vCPU runs.
 *     A VM with no tokens is throttled: its vCPUs are taken off their harts and not placed until the
 *     bucket refills. The scheduler ends rounds at the cycle a running capped VM runs out.
 *   - A time slice (`slice` host cycles) bounds how long a vCPU holds a hart while others wait; a
 *     vCPU still the best choice at the end of its slice keeps its hart (no switch).
 *   - WFI: `block(vcpu, at, wakeAt)` yields the hart; the vCPU becomes runnable at `wakeAt` (its
 *     timer, in host cycles) or at an earlier `wake(vcpu, at)` (interrupt injection, IPI, HSM start).
 *
 * Use (the round model of the SMP board, src/board/virt.ts stepSmp):
 * ```
 *   let now = 0;
 *   for (;;) {
 *     const plan = sched.schedule(now);         // one Assignment per hart
 *     for (const a of plan) if (a.vcpu >= 0 && a.flush) flushVmidOn(a.hart, a.vm); // KVM's tlb sanitize
 *     const end = Math.min(sched.nextDecisionAt(), ...own events);
 *     for each hart h running vCPU c: run c on h up to `end`; if it executes WFI at cycle t:
 *       sched.block(c, t, guestTimerInHostCycles); ...
 *     now = end;
 *   }
 * ```
 * Within a round, `block` / `yieldHart` / `wake` may be reported in any order, with any cycle in
 * [round start, round end]; decisions are made only at `schedule(now)` (now never decreasing).
 */

/** The default weight (Xen credit and this project's VM file: `weight`, default 256). */
export const DEFAULT_WEIGHT = 256;
/** The default time slice in host cycles (1 ms at a nominal 1 GHz host clock). */
export const DEFAULT_SLICE = 1_000_000;
const MIN_WEIGHT = 1;
const MAX_WEIGHT = 65535;

export interface VcpuSchedulerConfig {
  /** Host harts (>= 1). */
  harts: number;
  /** Time slice in host cycles (default DEFAULT_SLICE). */
  slice?: number;
  /**
   * The cap's token-bucket depth, in host cycles of refill (default 4 slices): how long a capped VM
   * may run above its cap after having been idle.
   */
  capWindow?: number;
  /**
   * Bounded sleeper credit: how far (in slices of host cycles at the smallest weight, times
   * harts + 1) a VM may fall behind the others' virtual runtime (default 1).
   */
  lagSlices?: number;
}

export interface VmSchedParams {
  /** Relative share of host CPU, 1..65535 (default 256). */
  weight?: number;
  /** At most this % of one host hart (> 0; e.g. 50, or 150 for one and a half harts). Absent: none. */
  cap?: number;
}

export type VcpuState = 'running' | 'runnable' | 'blocked' | 'paused';

/** What one host hart runs from `since` (the schedule() call's now) until at most `until`. */
export interface Assignment {
  hart: number;
  /** The vCPU id (addVcpu's), or -1: the hart idles. */
  vcpu: number;
  /** Its VM id (the caller's, e.g. the VMID), or -1. */
  vm: number;
  /** Its index inside its VM, or -1. */
  index: number;
  /** The cycle its current slice ends (the vCPU keeps the hart until then unless it blocks). */
  until: number;
  /** A different vCPU (or none) ran on this hart before this call. */
  switched: boolean;
  /** The vCPU last ran on another hart: that hart's number; -1 otherwise (also for a first run). */
  migratedFrom: number;
  /**
   * The caller must flush this VM's (VMID's) composed host-TLB entries on this hart before running
   * the vCPU: true when the vCPU last ran on another hart, or never ran (KVM's
   * kvm_riscv_local_tlb_sanitize: last_exit_cpu != cpu). A vCPU continuing on its hart: false.
   */
  flush: boolean;
}

export interface VmSchedStats {
  vm: number;
  weight: number;
  cap: number | null;
  /** Host cycles its vCPUs ran. */
  cycles: number;
  /** Times a vCPU of this VM was put on a hart (switches in). */
  dispatches: number;
  migrations: number;
  /** Times the VM ran out of cap tokens and was throttled. */
  throttles: number;
}

export interface VcpuSchedStats {
  vcpu: number;
  vm: number;
  index: number;
  state: VcpuState;
  cycles: number;
  dispatches: number;
  migrations: number;
  /** Host cycles spent runnable but not running (run-queue wait). */
  waitCycles: number;
  /** The longest single wait for a hart, in host cycles (a starvation measure). */
  maxWait: number;
  lastHart: number;
}

export interface SchedulerStats {
  /** schedule() calls. */
  decisions: number;
  /** vCPU switches on harts (a different vCPU put on a hart). */
  switches: number;
  migrations: number;
  /** Host cycles harts spent idle (no runnable vCPU), up to the last schedule(). */
  idleCycles: number;
}

class Vm {
  weight = DEFAULT_WEIGHT;
  /** Cap as a fraction of one hart (cap/100), or 0 for none. */
  capRate = 0;
  v = 0;
  /** vCPU-runtime reference for the rt clamp (monotonic). */
  rref = 0;
  tokens = 0;
  tokenMax = 0;
  throttled = false;
  suspended = false;
  running = 0;
  cycles = 0;
  dispatches = 0;
  migrations = 0;
  throttles = 0;
  readonly vcpus: Vcpu[] = [];
  constructor(readonly id: number) {}
}

class Vcpu {
  state: VcpuState = 'runnable';
  /** Host cycles run (the within-VM fairness clock). */
  rt = 0;
  hart = -1;
  lastHart = -1;
  /** The cycle up to which this vCPU's run has been charged (while running). */
  chargedTo = 0;
  until = 0;
  wakeAt = Infinity;
  /** When it last became runnable-and-waiting (for wait statistics). */
  waitingSince = 0;
  cycles = 0;
  dispatches = 0;
  migrations = 0;
  waitCycles = 0;
  maxWait = 0;
  constructor(
    readonly id: number,
    readonly vm: Vm,
    readonly index: number,
  ) {}
}

function checkCycle(what: string, n: number): void {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${what}: expected a cycle count >= 0, got ${n}`);
}

export class VcpuScheduler {
  readonly harts: number;
  readonly slice: number;
  readonly capWindow: number;
  readonly lagSlices: number;
  private readonly vms = new Map<number, Vm>();
  /** VMs in id order (the tie-break order), rebuilt on add/remove. */
  private vmList: Vm[] = [];
  private readonly vcpuList: Vcpu[] = [];
  private readonly onHart: (Vcpu | null)[];
  private now = 0;
  private vref = 0;
  private lastSchedule = -1;
  private decisions = 0;
  private switches = 0;
  private migrations = 0;
  private idleCycles = 0;
  /** The cycle each idle hart went idle (for idleCycles). */
  private readonly idleSince: number[];

  constructor(cfg: VcpuSchedulerConfig) {
    if (!Number.isInteger(cfg.harts) || cfg.harts < 1) throw new RangeError(`harts: expected an integer >= 1, got ${cfg.harts}`);
    this.harts = cfg.harts;
    this.slice = cfg.slice ?? DEFAULT_SLICE;
    if (!Number.isInteger(this.slice) || this.slice < 1) throw new RangeError(`slice: expected host cycles >= 1, got ${this.slice}`);
    this.capWindow = cfg.capWindow ?? 4 * this.slice;
    if (!(this.capWindow >= 1) || !Number.isFinite(this.capWindow)) throw new RangeError(`capWindow: expected host cycles >= 1, got ${this.capWindow}`);
    this.lagSlices = cfg.lagSlices ?? 1;
    if (!(this.lagSlices >= 0) || !Number.isFinite(this.lagSlices)) throw new RangeError(`lagSlices: expected a number >= 0, got ${this.lagSlices}`);
    this.onHart = new Array<Vcpu | null>(this.harts).fill(null);
    this.idleSince = new Array<number>(this.harts).fill(0);
  }

  // --------------------------------------------------------------------------------------------
  // Configuration

  /** Adds a VM under the caller's id (e.g. its VMID). Its vCPUs are added with addVcpu. */
  addVm(id: number, params: VmSchedParams = {}): void {
    if (!Number.isInteger(id) || id < 0) throw new RangeError(`vm id: expected an integer >= 0, got ${id}`);
    if (this.vms.has(id)) throw new RangeError(`vm ${id} already exists`);
    const vm = new Vm(id);
    this.applyParams(vm, params);
    vm.tokens = vm.tokenMax;
    // A new VM starts level with the others (no credit for the time before it existed).
    vm.v = this.vref;
    this.vms.set(id, vm);
    this.vmList = [...this.vms.values()].sort((a, b) => a.id - b.id);
  }

  /** Changes a VM's weight and/or cap (a key absent from `params` is left as it is; cap: null removes it). */
  setVmParams(id: number, params: { weight?: number; cap?: number | null }): void {
    const vm = this.vm(id);
    this.applyParams(vm, params);
    vm.tokens = Math.min(vm.tokens, vm.tokenMax);
  }

  private applyParams(vm: Vm, params: { weight?: number; cap?: number | null }): void {
    if (params.weight !== undefined) {
      const w = params.weight;
      if (!Number.isInteger(w) || w < MIN_WEIGHT || w > MAX_WEIGHT) {
        throw new RangeError(`weight: expected an integer from ${MIN_WEIGHT} to ${MAX_WEIGHT}, got ${w}`);
      }
      vm.weight = w;
    }
    if (params.cap === null) {
      vm.capRate = 0;
      vm.tokenMax = 0;
      vm.throttled = false;
    } else if (params.cap !== undefined) {
      const c = params.cap;
      if (!Number.isFinite(c) || c <= 0) throw new RangeError(`cap: expected a percentage of one host hart > 0, got ${c}`);
      vm.capRate = c / 100;
      vm.tokenMax = vm.capRate * this.capWindow;
    }
  }

  /**
   * Adds a vCPU to VM `vm` and returns its id (ids are given in order of addition, from 0: the
   * fixed tie-break order). `runnable: false` adds it stopped (an SMP guest's secondary hart before
   * its HSM hart_start; `wake` starts it).
   */
  addVcpu(vm: number, opts: { runnable?: boolean } = {}): number {
    const v = this.vm(vm);
    const c = new Vcpu(this.vcpuList.length, v, v.vcpus.length);
    c.rt = v.rref;
    if (opts.runnable === false) c.state = 'blocked';
    else if (v.suspended) c.state = 'paused';
    c.waitingSince = this.now;
    v.vcpus.push(c);
    this.vcpuList.push(c);
    return c.id;
  }

  /** Removes a VM and its vCPUs (destroy / shutdown): they leave their harts at once. */
  removeVm(id: number, at: number = this.now): void {
    const vm = this.vm(id);
    for (const c of vm.vcpus) {
      if (c.state === 'running') this.stopRunning(c, at);
      c.state = 'paused';
      c.wakeAt = Infinity;
    }
    this.vms.delete(id);
    this.vmList = this.vmList.filter((x) => x !== vm);
  }

  /** Suspends a VM (libvirt `suspend`): its vCPUs leave their harts and are not placed until resumeVm. */
  suspendVm(id: number, at: number = this.now): void {
    const vm = this.vm(id);
    if (vm.suspended) return;
    vm.suspended = true;
    for (const c of vm.vcpus) {
      if (c.state === 'running') this.stopRunning(c, at);
      if (c.state === 'runnable') {
        this.endWait(c, at);
        c.state = 'paused';
      }
    }
  }

  /** Resumes a suspended VM; its vCPUs that were runnable are runnable again (blocked ones stay blocked). */
  resumeVm(id: number, at: number = this.now): void {
    const vm = this.vm(id);
    if (!vm.suspended) return;
    vm.suspended = false;
    for (const c of vm.vcpus) {
      if (c.state === 'paused') {
        c.state = 'runnable';
        c.waitingSince = Math.max(at, this.now);
      }
    }
  }

  // --------------------------------------------------------------------------------------------
  // Events from the VMM

  /**
   * The vCPU executed WFI (or its guest stopped it: HSM hart_stop, wakeAt = Infinity) at host cycle
   * `at`: it leaves its hart (charged up to `at`) and becomes runnable at `wakeAt` (its timer
   * deadline in host cycles) or at an earlier wake().
   */
  block(vcpu: number, at: number, wakeAt: number = Infinity): void {
    const c = this.vcpu(vcpu);
    if (!(wakeAt >= 0)) throw new RangeError(`wakeAt: expected a cycle count >= 0, got ${wakeAt}`);
    if (c.state === 'running') this.stopRunning(c, at);
    else if (c.state === 'runnable') this.endWait(c, at);
    c.state = 'blocked';
    c.wakeAt = wakeAt;
  }

  /**
   * Wakes a blocked vCPU at host cycle `at` (an interrupt injected, an IPI, HSM hart_start). A wake
   * at or before the next schedule() takes effect there; a later one is kept as its wake time.
   */
  wake(vcpu: number, at: number): void {
    const c = this.vcpu(vcpu);
    checkCycle('wake', at);
    if (c.state === 'blocked') c.wakeAt = Math.min(c.wakeAt, at);
  }

  /** The vCPU gives up the rest of its slice (SBI yield / a pause loop) but stays runnable. */
  yieldHart(vcpu: number, at: number): void {
    const c = this.vcpu(vcpu);
    if (c.state !== 'running') return;
    this.stopRunning(c, at);
    c.state = 'runnable';
    c.waitingSince = at;
  }

  // --------------------------------------------------------------------------------------------
  // Decisions

  /**
   * Makes the decisions due at host cycle `now` (never less than the previous call's): charges the
   * running vCPUs, wakes the sleepers whose time has come, ends expired slices and throttles capped
   * VMs out of tokens, then fills every free hart. Returns one Assignment per hart, in hart order.
   */
  schedule(now: number): Assignment[] {
    return this.decide(now, -1);
  }

  /**
   * The per-hart form (a host that serves its harts one at a time, lowest hart clock first, as
   * src/hypervisor/host.ts does): the same decisions at `now`, but only hart `hart` is ended (slice
   * expiry, throttle) and filled; the other harts keep what they run until they ask. Returns hart
   * `hart`'s Assignment.
   */
  scheduleHart(hart: number, now: number): Assignment {
    if (!Number.isInteger(hart) || hart < 0 || hart >= this.harts) throw new RangeError(`hart: expected 0..${this.harts - 1}, got ${hart}`);
    return this.decide(now, hart)[hart]!;
  }

  private decide(now: number, only: number): Assignment[] {
    checkCycle('schedule', now);
    if (now < this.lastSchedule) throw new RangeError(`schedule(${now}): time went back (last ${this.lastSchedule})`);
    const prev = this.lastSchedule < 0 ? 0 : this.lastSchedule;
    this.lastSchedule = now;
    this.now = now;
    this.decisions++;
    const before = this.onHart.slice();
    this.prevOnHart = before;

    // 1. Refill cap buckets; charge every running vCPU up to now.
    for (const vm of this.vmList) {
      if (vm.capRate > 0) vm.tokens = Math.min(vm.tokenMax, vm.tokens + (now - prev) * vm.capRate);
    }
    for (let h = 0; h < this.harts; h++) {
      const c = this.onHart[h];
      if (c) this.charge(c, now);
      else {
        this.idleCycles += now - this.idleSince[h]!;
        this.idleSince[h] = now;
      }
    }
    // 2. Timed wakes.
    for (const c of this.vcpuList) {
      if (c.state === 'blocked' && c.wakeAt <= now) {
        c.state = 'runnable';
        c.wakeAt = Infinity;
        c.waitingSince = now;
      }
    }
    // 3. Throttle capped VMs out of tokens; unthrottle refilled ones.
    for (const vm of this.vmList) {
      if (vm.capRate <= 0) continue;
      if (!vm.throttled && vm.tokens <= 0) {
        vm.throttled = true;
        vm.throttles++;
      } else if (vm.throttled && vm.tokens >= this.refillTarget(vm)) vm.throttled = false;
    }
    // 4. Take off their harts the vCPUs whose slice ended or whose VM is throttled: they compete
    // again (a vCPU still the best choice is put back on its own hart, without a switch).
    for (let h = 0; h < this.harts; h++) {
      const c = this.onHart[h];
      if (only >= 0 && h !== only) continue;
      if (c && (c.until <= now || c.vm.throttled)) {
        this.stopRunning(c, now);
        c.state = 'runnable';
        c.waitingSince = now;
      }
    }
    // 5. Bounded lag: the reference is the smallest v among VMs with a vCPU waiting for a hart
    // (or, if none waits, among running ones); nobody stays more than lagV below it.
    this.clampLag();
    // 6. Fill the free harts.
    this.fill(now, only);

    const out: Assignment[] = [];
    for (let h = 0; h < this.harts; h++) {
      const c = this.onHart[h];
      const was = before[h];
      if (!c) {
        if (was) this.idleSince[h] = now;
        out.push({ hart: h, vcpu: -1, vm: -1, index: -1, until: Infinity, switched: was !== null, migratedFrom: -1, flush: false });
        continue;
      }
      const switched = was !== c;
      out.push({
        hart: h,
        vcpu: c.id,
        vm: c.vm.id,
        index: c.index,
        until: c.until,
        switched,
        migratedFrom: switched && c.lastHart >= 0 && c.lastHart !== h ? c.lastHart : -1,
        flush: switched && c.lastHart !== h,
      });
      c.lastHart = h;
    }
    return out;
  }

  /**
   * The next host cycle at which schedule() must be called: the earliest slice end, timed wake
   * (while a hart is free or someone waits... any), cap exhaustion of a running capped VM, or cap
   * refill of a throttled VM with a runnable vCPU. Infinity when nothing will ever change.
   */
  nextDecisionAt(): number {
    let t = Infinity;
    for (let h = 0; h < this.harts; h++) {
      const c = this.onHart[h];
      if (c) t = Math.min(t, c.until);
    }
    for (const c of this.vcpuList) if (c.state === 'blocked' && c.wakeAt < t) t = c.wakeAt;
    for (const vm of this.vmList) {
      if (vm.capRate <= 0) continue;
      if (vm.running > 0) {
        // Net drain per cycle: running vCPUs minus refill.
        const rate = vm.running - vm.capRate;
        if (rate > 0) t = Math.min(t, this.now + Math.max(1, Math.ceil(vm.tokens / rate)));
      } else if (vm.throttled && vm.vcpus.some((c) => c.state === 'runnable')) {
        t = Math.min(t, this.now + Math.max(1, Math.ceil((this.refillTarget(vm) - vm.tokens) / vm.capRate)));
      }
    }
    return Math.max(t, this.now);
  }

  // --------------------------------------------------------------------------------------------
  // Statistics and inspection

  stats(): SchedulerStats {
    return { decisions: this.decisions, switches: this.switches, migrations: this.migrations, idleCycles: this.idleCycles };
  }

  vmStats(id: number): VmSchedStats {
    const vm = this.vm(id);
    // Running vCPUs are charged up to the last schedule() (and their stops).
    return {
      vm: vm.id,
      weight: vm.weight,
      cap: vm.capRate > 0 ? vm.capRate * 100 : null,
      cycles: vm.cycles,
      dispatches: vm.dispatches,
      migrations: vm.migrations,
      throttles: vm.throttles,
    };
  }

  vcpuStats(vcpu: number): VcpuSchedStats {
    const c = this.vcpu(vcpu);
    return {
      vcpu: c.id,
      vm: c.vm.id,
      index: c.index,
      state: c.state,
      cycles: c.cycles,
      dispatches: c.dispatches,
      migrations: c.migrations,
      waitCycles: c.waitCycles,
      maxWait: c.maxWait,
      lastHart: c.lastHart,
    };
  }

  /** The vCPU on hart `h`, or -1. */
  runningOn(h: number): number {
    return this.onHart[h]?.id ?? -1;
  }

  stateOf(vcpu: number): VcpuState {
    return this.vcpu(vcpu).state;
  }

  // --------------------------------------------------------------------------------------------
  // Internals

  private vm(id: number): Vm {
    const vm = this.vms.get(id);
    if (!vm) throw new RangeError(`no vm ${id}`);
    return vm;
  }

  private vcpu(id: number): Vcpu {
    const c = this.vcpuList[id];
    if (!c || !this.vms.has(c.vm.id) || this.vms.get(c.vm.id) !== c.vm) throw new RangeError(`no vcpu ${id}`);
    return c;
  }

  /** Charges a running vCPU's run from its last charge up to `at`. */
  private charge(c: Vcpu, at: number): void {
    if (at < c.chargedTo) throw new RangeError(`vcpu ${c.id}: cycle ${at} is before its last charge (${c.chargedTo})`);
    const d = at - c.chargedTo;
    if (d === 0) return;
    c.chargedTo = at;
    c.rt += d;
    c.cycles += d;
    const vm = c.vm;
    vm.cycles += d;
    vm.v += (d * DEFAULT_WEIGHT) / vm.weight;
    if (vm.capRate > 0) vm.tokens -= d;
  }

  /** Takes a running vCPU off its hart at `at` (charged); the caller sets its new state. */
  private stopRunning(c: Vcpu, at: number): void {
    checkCycle('stop', at);
    this.charge(c, at);
    const h = c.hart;
    this.onHart[h] = null;
    this.idleSince[h] = at;
    c.hart = -1;
    c.vm.running--;
    c.state = 'runnable';
  }

  /** A runnable vCPU stops waiting at `at` (runs, blocks or is paused): wait statistics. */
  private endWait(c: Vcpu, at: number): void {
    const w = Math.max(0, at - c.waitingSince);
    c.waitCycles += w;
    if (w > c.maxWait) c.maxWait = w;
  }

  /**
   * A throttled VM runs again once its bucket holds one slice's refill (or is full): hysteresis, so
   * a VM at its cap runs in pieces of at least capRate × slice / vCPUs cycles, not one cycle at a time.
   */
  private refillTarget(vm: Vm): number {
    return Math.min(vm.tokenMax, vm.capRate * this.slice);
  }

  private eligible(vm: Vm): boolean {
    return !vm.suspended && !vm.throttled;
  }

  private clampLag(): void {
    let wMin = MAX_WEIGHT;
    let ref = Infinity;
    let runRef = Infinity;
    for (const vm of this.vmList) {
      if (vm.weight < wMin) wMin = vm.weight;
      if (!this.eligible(vm)) continue;
      let waiting = false;
      let rtWait = Infinity;
      let rtRun = Infinity;
      for (const c of vm.vcpus) {
        if (c.state === 'runnable') {
          waiting = true;
          if (c.rt < rtWait) rtWait = c.rt;
        } else if (c.state === 'running' && c.rt < rtRun) rtRun = c.rt;
      }
      if (waiting && vm.v < ref) ref = vm.v;
      if (vm.running > 0 && vm.v < runRef) runRef = vm.v;
      // Within the VM: same rule on the vCPUs' runtimes.
      const r = rtWait < Infinity ? rtWait : rtRun;
      if (r < Infinity && r > vm.rref) vm.rref = r;
      const lagRt = 2 * this.slice;
      for (const c of vm.vcpus) if (c.rt < vm.rref - lagRt) c.rt = vm.rref - lagRt;
    }
    const r = ref < Infinity ? ref : runRef;
    if (r < Infinity && r > this.vref) this.vref = r;
    const lagV = (this.lagSlices * (this.harts + 1) * this.slice * DEFAULT_WEIGHT) / wMin;
    for (const vm of this.vmList) if (vm.v < this.vref - lagV) vm.v = this.vref - lagV;
  }

  /** Fills the free harts: choose vCPUs (VM by key, then vCPU), then place them on harts. */
  private fill(now: number, only: number): void {
    const free: number[] = [];
    for (let h = 0; h < this.harts; h++) if (!this.onHart[h] && (only < 0 || h === only)) free.push(h);
    if (free.length === 0) return;
    // Selection: one vCPU per free hart. `taken` marks chosen-but-not-placed vCPUs (they count as
    // running for the key).
    const chosen: Vcpu[] = [];
    const extra = new Map<Vm, number>();
    const taken = new Set<Vcpu>();
    for (let k = 0; k < free.length; k++) {
      let best: Vm | null = null;
      let bestKey = Infinity;
      for (const vm of this.vmList) {
        if (!this.eligible(vm)) continue;
        let has = false;
        for (const c of vm.vcpus) {
          if (c.state === 'runnable' && !taken.has(c)) {
            has = true;
            break;
          }
        }
        if (!has) continue;
        const held = vm.running + (extra.get(vm) ?? 0);
        const key = vm.v + (held * this.slice * DEFAULT_WEIGHT) / vm.weight;
        if (key < bestKey) {
          bestKey = key;
          best = vm;
        }
      }
      if (!best) break;
      // The vCPU: smallest rt; a vCPU whose last hart is free and within one slice of it is
      // preferred (it keeps its hart: no migration, no TLB flush).
      let minC: Vcpu | null = null;
      for (const c of best.vcpus) {
        if (c.state !== 'runnable' || taken.has(c)) continue;
        if (!minC || c.rt < minC.rt) minC = c;
      }
      let pick = minC!;
      for (const c of best.vcpus) {
        if (c.state !== 'runnable' || taken.has(c) || c === pick) continue;
        if (c.rt <= minC!.rt + this.slice && c.lastHart >= 0 && !this.onHart[c.lastHart] && free.includes(c.lastHart)) {
          if (!(pick.lastHart >= 0 && free.includes(pick.lastHart) && !chosen.some((x) => x.lastHart === pick.lastHart))) {
            pick = c;
            break;
          }
        }
      }
      taken.add(pick);
      chosen.push(pick);
      extra.set(best, (extra.get(best) ?? 0) + 1);
    }
    // Placement: a chosen vCPU whose last hart is free goes back there (in choice order); the
    // rest take the remaining free harts in hart order.
    const placed = new Map<number, Vcpu>();
    const rest: Vcpu[] = [];
    for (const c of chosen) {
      if (c.lastHart >= 0 && free.includes(c.lastHart) && !placed.has(c.lastHart)) placed.set(c.lastHart, c);
      else rest.push(c);
    }
    for (const h of free) {
      if (placed.has(h)) continue;
      const c = rest.shift();
      if (!c) break;
      placed.set(h, c);
    }
    for (const h of free) {
      const c = placed.get(h);
      if (c) this.dispatch(c, h, now);
    }
  }

  private dispatch(c: Vcpu, h: number, now: number): void {
    this.endWait(c, now);
    c.state = 'running';
    c.hart = h;
    c.chargedTo = now;
    const vm = c.vm;
    vm.running++;
    c.until = now + this.slice;
    if (vm.capRate > 0) {
      // A capped VM's slice also ends when its bucket runs dry at the current drain rate (the
      // round model re-checks this in nextDecisionAt as more of its vCPUs are placed).
      const rate = vm.running - vm.capRate;
      if (rate > 0) c.until = Math.min(c.until, now + Math.max(1, Math.ceil(vm.tokens / rate)));
    }
    this.onHart[h] = c;
    // A vCPU put back on the hart it held when this decision began continues: no switch.
    if (this.prevOnHart[h] === c) return;
    c.dispatches++;
    vm.dispatches++;
    this.switches++;
    if (c.lastHart >= 0 && c.lastHart !== h) {
      c.migrations++;
      vm.migrations++;
      this.migrations++;
    }
  }

  /** During schedule(): the vCPU that was on each hart when the call began. */
  private prevOnHart: (Vcpu | null)[] = [];
}

/**
 * The shares the scheduler converges to when every VM is CPU-bound: weighted water-filling (the
 * host's `harts` hart-equivalents are divided by weight; a VM that cannot use its part — it has
 * only `vcpus` vCPUs, each using at most one hart, or a cap of cap/100 harts — gets its maximum and
 * the rest is divided among the others by weight). Returns each VM's share of host cycles (0..1,
 * of harts × cycles), in input order.
 */
export function fairShares(harts: number, vms: readonly { weight?: number; cap?: number; vcpus: number }[]): number[] {
  const n = vms.length;
  const share = new Array<number>(n).fill(0);
  const limit = vms.map((v) => Math.min(v.vcpus, v.cap !== undefined ? v.cap / 100 : Infinity));
  const open = new Set<number>(vms.map((_, i) => i).filter((i) => limit[i]! > 0));
  let left = harts;
  while (open.size > 0 && left > 1e-12) {
    let wsum = 0;
    for (const i of open) wsum += vms[i]!.weight ?? DEFAULT_WEIGHT;
    // Anyone whose weighted part exceeds its limit is saturated at its limit.
    let saturated = false;
    for (const i of [...open]) {
      const part = (left * (vms[i]!.weight ?? DEFAULT_WEIGHT)) / wsum;
      if (part >= limit[i]!) {
        share[i] = limit[i]!;
        open.delete(i);
        saturated = true;
      }
    }
    if (saturated) {
      left = harts - share.reduce((a, b) => a + b, 0);
      continue;
    }
    for (const i of open) share[i] = (left * (vms[i]!.weight ?? DEFAULT_WEIGHT)) / wsum;
    break;
  }
  return share.map((s) => s / harts);
}

/**
 * The placement interface of the VMM's host loop (vmm's src/hypervisor/types.ts `VcpuPlacement`,
 * repeated here structurally so this file does not depend on it): a host that serves its harts one
 * at a time, lowest hart clock first, asks `pick(hart, now, runnable)` whenever a hart is free.
 */
export interface PlacementLike {
  add(id: number, weight: number, cap: number | null, vm?: number): void;
  remove(id: number): void;
  charge(id: number, hostCycles: number): void;
  pick(hart: number, now: number, runnable: (id: number) => boolean): { id: number; slice: number } | null;
}

/**
 * VcpuScheduler behind the VMM's `VcpuPlacement` (drop-in for host.ts's RoundRobinPlacement).
 * Each `id` is a schedulable entity (a vCPU, or a whole VM while a VM's round runs on one hart);
 * `add`'s optional 4th argument groups ids into one VM whose weight and cap are shared by them (by
 * default each id is its own VM). `pick(hart, now)` means: the hart is free at `now` (its previous
 * entity, if any, ran until now); `runnable(id)` is polled to block (WFI, paused) and wake entities.
 * Accounting is by host-hart time (dispatch to the next pick of that hart), so `charge` only keeps
 * the host's own figure (`charged`). Calls must come in nondecreasing `now` (lowest clock first).
 */
export class VcpuSchedulerPlacement implements PlacementLike {
  readonly sched: VcpuScheduler;
  /** Host cycles reported through charge(), per id. */
  readonly charged = new Map<number, number>();
  private readonly vcpuOf = new Map<number, number>();
  private readonly idOf = new Map<number, number>();
  private readonly vmOfId = new Map<number, number>();
  private nextVm = 1 << 30;
  private last = 0;

  constructor(cfg: VcpuSchedulerConfig) {
    this.sched = new VcpuScheduler(cfg);
  }

  add(id: number, weight: number, cap: number | null, vm?: number): void {
    if (this.vcpuOf.has(id)) return;
    const vmId = vm ?? this.nextVm++;
    try {
      this.sched.addVm(vmId, { weight, cap: cap ?? undefined });
    } catch (e) {
      if (!(e instanceof RangeError) || !/already exists/.test(e.message)) throw e;
    }
    const c = this.sched.addVcpu(vmId);
    this.vcpuOf.set(id, c);
    this.idOf.set(c, id);
    this.vmOfId.set(id, vmId);
    this.charged.set(id, 0);
  }

  remove(id: number): void {
    const c = this.vcpuOf.get(id);
    if (c === undefined) return;
    this.sched.block(c, this.last); // off its hart, never woken
    this.vcpuOf.delete(id);
    this.idOf.delete(c);
    const vm = this.vmOfId.get(id)!;
    this.vmOfId.delete(id);
    if (![...this.vmOfId.values()].includes(vm)) this.sched.removeVm(vm, this.last);
  }

  charge(id: number, hostCycles: number): void {
    this.charged.set(id, (this.charged.get(id) ?? 0) + hostCycles);
  }

  /**
   * When pick() returns null for a hart (nothing runnable that is not already on another hart),
   * the host should idle that hart until this cycle (or until another hart's clock passes it), not
   * conclude that every VM waits.
   */
  nextDecisionAt(): number {
    return this.sched.nextDecisionAt();
  }

  pick(hart: number, now: number, runnable: (id: number) => boolean): { id: number; slice: number } | null {
    now = Math.max(now, this.last);
    this.last = now;
    const cur = this.sched.runningOn(hart);
    if (cur >= 0) this.sched.yieldHart(cur, now);
    for (const [id, c] of this.vcpuOf) {
      const st = this.sched.stateOf(c);
      const r = runnable(id);
      if (r && st === 'blocked') this.sched.wake(c, now);
      else if (!r && (st === 'runnable' || st === 'running')) this.sched.block(c, now);
    }
    const a = this.sched.scheduleHart(hart, now);
    if (a.vcpu < 0) return null;
    return { id: this.idOf.get(a.vcpu)!, slice: Math.max(1, a.until - now) };
  }
}
