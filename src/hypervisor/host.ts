/**
 * The host (issue 10): one simulated host machine — one core.wasm, N host harts (the core's hart
 * slots) in host-VMM mode, host RAM as the frame pool — running several VMs. The VMM is this
 * TypeScript: each VM's vCPUs are contexts loaded into a host hart, every exit comes back here.
 *
 * Host time: each host hart has a clock in host cycles; the loop always serves the host hart whose
 * clock is lowest (ties: a hart that did not just find nothing to run, then lowest index), asks the
 * placement policy which VM runs there next and for how long, runs one round of that VM and charges
 * the hart what the VM's vCPUs ran. A VM whose vCPUs all wait costs nothing (its clock jumps to its
 * next wake-up). The placement policy is behind `VcpuPlacement` (types.ts); the default is the
 * weight/cap scheduler (scheduler.ts `VcpuSchedulerPlacement`, docs/SCHEDULER.md), one entity per
 * VM with the VM's `weight` and `cap`; `RoundRobinPlacement` below (VMs in id order, a fixed slice
 * each) stays for tests. A VM's round runs on one host hart at a time, so when the placement has
 * nothing for a hart (its only runnable VM is on another hart, or a capped VM is throttled) the
 * hart idles until the placement's next decision or the next clock of another hart; exit 3 only
 * when no VM can run at all.
 *
 * Not done yet (issue 10): migration of one SMP VM's vCPUs across host harts in parallel (a VM's round runs on one host hart at a time,
 * so one VM gets at most one host hart's worth of cycles).
 */
import { Core, RAM_BASE } from '../core.js';
import { UserError, formatSize } from '../errors.js';
import { defaultTiming, latencyArray, cyclesPerTick, type TimingConfig } from '../timing.js';
import { FramePool } from './memory.js';
import { Dedup } from './dedup.js';
import { Vm, type ShutdownResult } from './vm.js';
import { VcpuSchedulerPlacement } from './scheduler.js';
import { VcpuTlbModels } from './tlbstate.js';
import { applyTlbModel } from '../tlbmodel.js';
import type { ControlResult, HostControlOps, HostSpec, VcpuPlacement, VmListEntry, VmSpec, VmStats } from './types.js';
import type { HostTraceHooks } from './trace-hooks.js';

/** Host RAM the core can have (its linear memory; issue 10: "≤ 2G today"). */
export const MAX_HOST_RAM = 2 * 1024 * 1024 * 1024;
/** Host RAM kept for the host itself (nothing lives there yet; the pool starts above it). */
const HOST_RESERVED = 2 * 1024 * 1024;
/** Virtual seconds an agent shutdown waits by default (config.ts DEFAULT_SHUTDOWN_TIMEOUT for files). */
export const DEFAULT_SHUTDOWN_TIMEOUT_S = 10;
/** Round-robin slice, host cycles. */
export const DEFAULT_SLICE = 1_000_000;

/** The placeholder policy: entities (VMs) in id order, `slice` host cycles each. Deterministic. */
export class RoundRobinPlacement implements VcpuPlacement {
  private ids: number[] = [];
  private next = 0;
  readonly charged = new Map<number, number>();
  constructor(private readonly slice = DEFAULT_SLICE) {}
  add(id: number): void {
    if (!this.ids.includes(id)) this.ids.push(id);
    this.ids.sort((a, b) => a - b);
    this.charged.set(id, this.charged.get(id) ?? 0);
  }
  remove(id: number): void {
    this.ids = this.ids.filter((i) => i !== id);
  }
  charge(id: number, hostCycles: number): void {
    this.charged.set(id, (this.charged.get(id) ?? 0) + hostCycles);
  }
  pick(_hart: number, _now: number, runnable: (id: number) => boolean): { id: number; slice: number } | null {
    for (let k = 0; k < this.ids.length; k++) {
      const i = (this.next + k) % this.ids.length;
      const id = this.ids[i]!;
      if (runnable(id)) {
        this.next = (i + 1) % this.ids.length;
        return { id, slice: this.slice };
      }
    }
    return null;
  }
}

export interface HostOptions {
  timing?: TimingConfig;
  wasmPath?: string;
  /** Console output of a VM. Default: kept in the VM (`vm.outputText()`). */
  onOutput?: (vm: Vm, bytes: Uint8Array) => void;
  placement?: VcpuPlacement;
  /** 'timing': the modeled TLB (the timing file's `tlb`), one model per vCPU (tlbstate.ts), and per-VM TLB statistics. */
  mode?: 'fast' | 'timing';
}

export interface HostRunOptions {
  /** Stop when the host harts' total cycles reach this (exit 124 as --max-cycles). */
  maxHostCycles?: number;
  /** Called after every round (control operations, tests); 'stop' ends run() (exit 130). */
  afterRound?: (host: Host) => void | 'stop';
  /** Stop when all vCPUs together retired this many instructions (exit 124). */
  maxInsns?: number;
  /** Paused or input-blocked VMs wait (runSome returns null) instead of ending the run (a controlled host). */
  waitWhenPaused?: boolean;
}

export interface HostResult {
  /** 0: every VM powered off by itself; 1: one crashed or was destroyed; 124: the budget ran out; 3: every VM blocked. */
  code: number;
  message?: string;
  limit?: 'max-cycles' | 'max-insns';
}

export class Host implements HostControlOps {
  readonly core: Core;
  readonly pool: FramePool;
  readonly harts: number;
  readonly timing: TimingConfig;
  readonly vms: Vm[] = [];
  /** --trace-out / --report observer (src/trace/host.ts), or null. Observation only. */
  trace: HostTraceHooks | null = null;
  readonly hostTime: number[];
  /** issue 12 scope 3: VMs' memory may exceed host RAM (backed on first touch). */
  readonly overcommit: boolean;
  /** issue 12 scope 2: page deduplication (host.dedup), or null. */
  readonly dedup: Dedup | null = null;
  private readonly placement: VcpuPlacement;
  private readonly onOutput: HostOptions['onOutput'];
  private destroyed = new Set<string>();
  private readonly blocked = new Set<number>();
  /** The host clock at which each hart last found nothing to run (-1: not idle): tie-break for the hart order. */
  private readonly idleAt: number[];
  /** Host cycles harts spent idle while some VM could still run (a VM runs on one hart at a time, caps). */
  idleCycles = 0;
  readonly mode: 'fast' | 'timing';
  /** Timing mode: every vCPU's own modeled TLB (null in fast mode). */
  readonly tlbModels: VcpuTlbModels | null = null;

  constructor(spec: HostSpec, opts: HostOptions = {}) {
    if (!(Number.isInteger(spec.harts) && spec.harts >= 1 && spec.harts <= 8)) throw new UserError(`host.harts: expected 1 to 8, got ${spec.harts}`);
    if (!(spec.ramBytes > 0 && spec.ramBytes <= MAX_HOST_RAM && spec.ramBytes % (2 * 1024 * 1024) === 0)) {
      throw new UserError(`host.ram: expected a multiple of 2M up to 2G (the most host RAM cyclevisor can model today), got ${formatSize(spec.ramBytes)}`);
    }
    this.timing = opts.timing ?? defaultTiming();
    this.harts = spec.harts;
    this.overcommit = spec.overcommit ?? false;
    this.onOutput = opts.onOutput;
    // The default policy: the weight/cap scheduler (scheduler.ts), one entity per VM (a VM's round
    // runs its vCPUs on one host hart at a time), the round-robin slice as its time slice.
    this.placement = opts.placement ?? new VcpuSchedulerPlacement({ harts: spec.harts, slice: DEFAULT_SLICE });
    try {
      this.core = new Core({ ramBytes: spec.ramBytes, mmio: nullMmio(), wasmPath: opts.wasmPath });
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('core: cannot allocate')) throw new UserError(`cannot allocate ${formatSize(spec.ramBytes)} of host RAM (host.ram)`);
      throw e;
    }
    const core = this.core;
    core.setLatencies(latencyArray(this.timing));
    if (spec.harts > 1) core.setHarts(spec.harts);
    core.setHypervisor(true);
    // Every host hart: HS-mode with the VMM's delegation (setVmmMode), Sstc for VS (menvcfg.STCE),
    // guest time = cycles / cyclesPerTick (htimedelta 0: the VM's clock is loaded as the hart's).
    for (let h = spec.harts - 1; h >= 0; h--) {
      core.switchHart(h);
      core.setVmmMode(true, this.timing.vmm);
      core.priv = 1;
      core.setCsr(MENVCFG, 1n << 63n);
      // mstatus.FS = Dirty: a VS-mode FP instruction needs both sstatus.FS (the host's) and vsstatus.FS (Priv §8.2.x).
      core.setCsr(L.H_MSTATUS, core.getCsr(L.H_MSTATUS) | (3n << 13n));
      core.setCsr(L.H_MCOUNTEREN, 7n); // cycle, time, instret below M (as firmware leaves it); hcounteren gates VS
      // scounteren has no VS copy (Priv §8.2: not among the VS CSRs): with V = 1 it is what gates VU
      // counter reads, so it holds what OpenSBI gives a guest kernel (CY, TM, IR). Without it a guest
      // process reading `time` (glibc clock_gettime through the vDSO, e.g. busybox ping) takes a
      // virtual-instruction trap that the guest kernel turns into SIGILL.
      core.setCsr(L.H_SCOUNTEREN, 7n);
      core.setTimebase(cyclesPerTick(this.timing), 0n);
    }
    this.mode = opts.mode ?? 'fast';
    if (this.mode === 'timing') {
      // The model's configuration is machine-wide; hart 0 (current) is reset here, the others'
      // save slots are still zero (= reset). Each vCPU gets its own model (tlbstate.ts).
      applyTlbModel(core, this.timing.tlb, true);
      this.tlbModels = new VcpuTlbModels(core, spec.harts);
    }
    this.hostTime = new Array<number>(spec.harts).fill(0);
    this.idleAt = new Array<number>(spec.harts).fill(-1);
    this.pool = new FramePool(spec.ramBytes, HOST_RESERVED);
    // The zero frame of dedup: the last page of the host's reserve (no VM's, never written by one).
    // Under overcommit, chunks of zero pages go back to the pool (dedup.ts DEDUP_ZERO).
    if (spec.dedup) this.dedup = new Dedup(core, { ...spec.dedup, harts: spec.harts, zeroFrame: RAM_BASE + HOST_RESERVED - 4096, ...(this.overcommit ? { pool: this.pool } : {}) });
  }

  /** Define a VM (memory taken from the pool now; all or nothing). Started when autostart (default). */
  addVm(spec: VmSpec): Vm {
    if (this.vms.some((v) => v.name === spec.name)) throw new UserError(`vms: duplicate name "${spec.name}"`);
    // The scheduler's ranges (Xen credit's): config.ts checks them for a VM file; this is for API users.
    const w = spec.weight ?? 256;
    if (!(Number.isInteger(w) && w >= 1 && w <= 65535)) throw new UserError(`${spec.name}.weight: expected a whole number from 1 to 65535, got ${w}`);
    if (spec.cap !== undefined && !(Number.isFinite(spec.cap) && spec.cap > 0)) throw new UserError(`${spec.name}.cap: expected a percentage above 0, got ${spec.cap}`);
    if (this.dedup && spec.paging === 'shadow') throw new UserError(`${spec.name}.paging: shadow is not supported with host.dedup (no G-stage to share pages through)`);
    if (spec.paging === 'shadow' && spec.balloon === true) throw new UserError(`${spec.name}.balloon: not supported with paging: shadow yet`);
    const id = this.vms.length + 1;
    const vm = new Vm(this.core, this.pool, spec, {
      id,
      timing: this.timing,
      hostHarts: this.harts,
      ...(this.tlbModels ? { tlb: this.tlbModels } : {}),
      overcommit: this.overcommit,
      ...(this.onOutput ? { onOutput: (b: Uint8Array) => this.onOutput!(vm, b) } : {}),
    });
    this.vms.push(vm);
    if (this.dedup) {
      this.dedup.add(vm.memory);
      vm.dedup = this.dedup;
    }
    if (spec.autostart ?? true) this.startVm(vm);
    return vm;
  }

  private startVm(vm: Vm): void {
    vm.boot();
    this.placement.add(vm.id, vm.spec.weight ?? 256, vm.spec.cap ?? null);
  }

  /** Run until every VM is shut off or crashed (or the budget ends). Deterministic. */
  run(opts: HostRunOptions = {}): HostResult {
    for (;;) {
      const r = this.runSome(opts, Infinity);
      if (r) return r;
    }
  }

  /**
   * Run rounds until the end (a HostResult) or until `shouldYield()` says the caller wants control
   * back (null: call again). Rounds are whole units, so how the run is sliced changes nothing.
   */
  runSome(opts: HostRunOptions, roundsBeforeYield: number, shouldYield: () => boolean = () => false): HostResult | null {
    const core = this.core;
    const max = opts.maxHostCycles ?? Infinity;
    const maxInsns = opts.maxInsns ?? Infinity;
    const byId = (id: number) => this.vms[id - 1]!;
    let rounds = 0;
    for (;;) {
      if (!this.vms.some((v) => v.state === 'running' || v.state === 'paused')) break;
      // Overcommit: a VM paused for memory goes on as soon as the pool has a frame again.
      if (this.overcommit && this.pool.freeChunks > 0) {
        for (const v of this.vms) {
          if (v.pausedForMemory && v.state === 'paused') {
            v.pausedForMemory = false;
            v.state = 'running';
            this.blocked.clear();
            v.memoryResumed(); // deferred DMA requests are redone (they may pause it again)
          }
        }
      }
      if (!this.vms.some((v) => v.state === 'running')) {
        if (opts.waitWhenPaused) return null;
        return { code: 3, message: 'every VM that has not shut off is paused' };
      }
      const total = this.hostTime.reduce((a, b) => a + b, 0);
      if (total >= max) return { code: 124, message: `the host ran ${total} cycles (--max-cycles)`, limit: 'max-cycles' };
      if (this.totalInstructions() >= maxInsns) return { code: 124, message: `the VMs retired ${maxInsns} instructions (--max-insns)`, limit: 'max-insns' };
      if (rounds >= roundsBeforeYield || (rounds > 0 && shouldYield())) return null;
      rounds++;
      // The hart with the lowest clock; ties: a hart that has not just found nothing to run at
      // this clock first (so a hart that idles lets the others release their VMs), then the lowest index.
      let h = 0;
      for (let i = 1; i < this.harts; i++) {
        const ti = this.hostTime[i]!;
        const th = this.hostTime[h]!;
        if (ti < th || (ti === th && this.idleAt[h] === th && this.idleAt[i] !== ti)) h = i;
      }
      const now = this.hostTime[h]!;
      const pick = this.placement.pick(h, now, (id) => byId(id).runnable && !this.blocked.has(id));
      if (!pick) {
        // Nothing for this hart. If no VM can run at all, every running VM waits (or is paused).
        const someCanRun = this.vms.some((v) => v.runnable && !this.blocked.has(v.id));
        if (!someCanRun) {
          if (opts.waitWhenPaused) return null; // input may come (console, control)
          return { code: 3, message: 'every running VM waits for input that cannot come (all vCPUs idle, nothing scheduled)' };
        }
        // Some VM can run, but not here now: its entity is on another hart (a VM's round runs on
        // one hart at a time), or it is throttled by its cap. The hart idles until the policy's
        // next decision or the next clock of another hart (when it may release its VM), whichever
        // is first; never an error.
        const until = this.idleUntil(h, now);
        if (until === null) {
          // Every hart found nothing at this very clock and no decision is due: nothing can change.
          return { code: 3, message: 'no host hart can run a runnable VM (scheduler placed nothing, no decision due)' };
        }
        this.idleAt[h] = until > now ? -1 : now;
        this.idleCycles += until - now;
        this.hostTime[h] = until;
        continue;
      }
      this.idleAt[h] = -1;
      const vm = byId(pick.id);
      core.switchHart(h);
      this.trace?.roundStart(h, now, vm.name);
      const r = vm.runRound(h, pick.slice);
      this.trace?.roundEnd(h, vm.name, r.hostCycles);
      this.hostTime[h]! += r.hostCycles;
      this.placement.charge(vm.id, r.hostCycles);
      if (r.blocked) this.blocked.add(vm.id);
      else this.blocked.clear();
      if (vm.state === 'shut off' || vm.state === 'crashed') {
        this.placement.remove(vm.id);
        // Overcommit: a VM that is over gives its frames back (a restart backs them again on touch).
        if (this.overcommit) {
          core.hfenceGvma(vm.id);
          vm.memory.releaseRam();
        }
      }
      // Page deduplication scans between rounds, in host time (no vCPU is loaded: dedup.ts).
      this.dedup?.tick(Math.min(...this.hostTime));
      if (opts.afterRound?.(this) === 'stop') return { code: 130, message: 'stopped' };
    }
    const bad = this.vms.find((v) => v.state === 'crashed' || this.destroyed.has(v.name));
    if (bad) return { code: 1, message: `${bad.name}: ${bad.crashMessage ?? 'destroyed'}` };
    return { code: 0 };
  }

  /**
   * How long hart `h` (nothing to run at `now`) idles: to the earliest of the placement's next
   * decision after `now` and the other harts' clocks. A tie with another hart's clock (that hart
   * has not been served at `now` yet) returns `now` (the hart selection then serves the other one
   * first). null: nothing will ever change.
   */
  private idleUntil(h: number, now: number): number | null {
    let t = Infinity;
    for (let j = 0; j < this.harts; j++) {
      if (j === h) continue;
      const tj = this.hostTime[j]!;
      if (tj > now) t = Math.min(t, tj);
      else if (tj === now && this.idleAt[j] !== now) return now;
    }
    const d = this.placement.nextDecisionAt?.() ?? Infinity;
    if (d > now) t = Math.min(t, d);
    return t === Infinity ? null : t;
  }

  /** Instructions all vCPUs of all VMs retired. */
  totalInstructions(): number {
    let n = 0;
    for (const v of this.vms) for (const c of v.vcpus) n += c.instructions;
    return n;
  }

  /** New input for a VM: it may wake a VM that was blocked. */
  inputArrived(vm: Vm, bytes: Uint8Array): void {
    vm.pushInput(bytes);
    this.blocked.clear();
  }

  /** Host-side work (network sockets) was delivered to the VMs: a blocked VM may run again. */
  hostWorkArrived(): void {
    this.blocked.clear();
  }

  /**
   * Replace a VM's whole state (snapshot restore or revert, an incoming migration: snapshot.ts):
   * the VM leaves the placement, `apply` (which must not fail half-way) sets its state, and a
   * running or paused result is placed again as a fresh entity.
   */
  replaceVmState(vm: Vm, apply: () => void): void {
    this.placement.remove(vm.id);
    apply();
    this.destroyed.delete(vm.name);
    this.blocked.clear();
    if (vm.state === 'running' || vm.state === 'paused') this.placement.add(vm.id, vm.spec.weight ?? 256, vm.spec.cap ?? null);
  }

  /** Was this VM destroyed (not shut off by its guest)? */
  wasDestroyed(name: string): boolean {
    return this.destroyed.has(name);
  }

  close(): void {
    for (const v of this.vms) v.close();
  }

  // ------------------------------------------------------------------ control (HostControlOps)

  /** The VM named `name`, or null. */
  vmNamed(name: string): Vm | null {
    return this.vms.find((v) => v.name === name) ?? null;
  }
  private missing(name: string): { ok: false; error: string } {
    return { ok: false, error: `no VM named "${name}"` };
  }

  list(): ControlResult<VmListEntry[]> {
    return { ok: true, value: this.vms.map((v) => ({ id: v.state === 'running' || v.state === 'paused' ? v.id : null, name: v.name, state: v.state })) };
  }
  dominfo(name: string): ControlResult<Record<string, string | number>> {
    const v = this.vmNamed(name);
    if (!v) return this.missing(name);
    return {
      ok: true,
      value: {
        Id: v.state === 'running' || v.state === 'paused' ? v.id : '-',
        Name: v.name,
        State: v.state,
        'CPU(s)': v.spec.vcpus,
        'Max memory': `${v.memory.bytes / 1024} KiB`,
        'Used memory': `${v.memory.bytes / 1024} KiB`,
      },
    };
  }
  start(name: string): ControlResult<null> {
    const v = this.vmNamed(name);
    if (!v) return this.missing(name);
    if (v.state === 'running' || v.state === 'paused') return { ok: false, error: `${name}: domain is already active` };
    if (v.poweredOff || v.state === 'crashed' || this.destroyed.has(name)) {
      // It ran before: a cold restart (devices reset, images reloaded), as libvirt's start.
      v.poweredOff = false;
      v.crashMessage = null;
      this.destroyed.delete(name);
      v.reboot();
      this.placement.add(v.id, v.spec.weight ?? 256, v.spec.cap ?? null);
    } else this.startVm(v);
    this.blocked.clear();
    return { ok: true, value: null };
  }
  /** Pause a running VM: its vCPUs are not placed, its clock stands still (libvirt `suspend`). */
  suspend(name: string): ControlResult<null> {
    const v = this.vmNamed(name);
    if (!v) return this.missing(name);
    if (v.state !== 'running') return { ok: false, error: `${name}: domain is not running` };
    v.state = 'paused';
    return { ok: true, value: null };
  }
  resume(name: string): ControlResult<null> {
    const v = this.vmNamed(name);
    if (!v) return this.missing(name);
    if (v.state !== 'paused') return { ok: false, error: `${name}: domain is not paused` };
    v.state = 'running';
    v.pausedForMemory = false;
    v.memoryResumed(); // device requests that waited for frames are tried again (they may pause it again)
    return { ok: true, value: null };
  }
  /**
   * Graceful shutdown through the guest agent (libvirt `shutdown --mode agent`; vm.ts
   * `requestShutdown`): `shutdown` goes to the agent on the VM's virtio-console; `done` is called
   * when the guest has powered off, or with a timeout after the VM's `shutdownTimeout` virtual
   * seconds (default 10), the VM still running. Refused at once (nothing sent) when the VM is not
   * running or no agent has announced itself.
   */
  shutdown(name: string, done: (r: ShutdownResult) => void = () => {}): ControlResult<null> {
    const v = this.vmNamed(name);
    if (!v) return this.missing(name);
    const r = v.requestShutdown(v.spec.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT_S, done);
    if (!r.ok) return r;
    this.blocked.clear(); // the command (an interrupt) and the timeout (an event) may wake it
    return { ok: true, value: null };
  }
  /** `ctl reboot`: a cold restart of a running or paused VM (libvirt's reset). */
  reboot(name: string): ControlResult<null> {
    const v = this.vmNamed(name);
    if (!v) return this.missing(name);
    if (v.state !== 'running' && v.state !== 'paused') return { ok: false, error: `${name}: domain is not running` };
    v.reboot();
    this.blocked.clear();
    return { ok: true, value: null };
  }
  destroy(name: string): ControlResult<null> {
    const v = this.vmNamed(name);
    if (!v) return this.missing(name);
    if (v.state !== 'running' && v.state !== 'paused') return { ok: false, error: `${name}: domain is not running` };
    v.state = 'shut off';
    v.finishShutdown({ ok: false, timeout: false, error: `${name}: the domain was destroyed` });
    v.pausedForMemory = false;
    this.destroyed.add(name);
    this.placement.remove(v.id);
    // Overcommit: a destroyed VM's frames go back to the pool now (a VM paused for memory may go on).
    if (this.overcommit) {
      this.core.hfenceGvma(v.id);
      v.memory.releaseRam();
    }
    return { ok: true, value: null };
  }
  domstats(name?: string): ControlResult<VmStats[]> {
    if (name !== undefined) {
      const v = this.vmNamed(name);
      return v ? { ok: true, value: [v.stats()] } : this.missing(name);
    }
    return { ok: true, value: this.vms.map((v) => v.stats()) };
  }
}

import * as L from '../generated/layout.js';
const MENVCFG = L.H_MENVCFG;

/** The host has no MMIO of its own: every host-physical access outside RAM is an access fault. */
function nullMmio() {
  return {
    dataLo: 0,
    dataHi: 0,
    read: () => 1,
    write: () => 1,
  };
}

// `cyclevisor host` (hostcli's src/cli/host.ts) imports createHost from this module.
export { createHost } from './runner.js';
