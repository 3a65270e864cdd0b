/**
 * A VM (KVM's struct kvm): its virt platform (src/board/platform.ts, kind 'vm': the same devices a
 * bare board has, reached from MMIO exits), its guest-physical memory (memory.ts), its vCPUs
 * (vcpu.ts), and its own virtual clock.
 *
 * Time (issue 10 scope 1): the VM's clock is in cycles and advances only while its vCPUs run (or,
 * when every vCPU waits in WFI, jumps to the next thing that can wake one: a device event or a VS
 * timer — the bare board's idle skip). Its devices' clock and scheduler events, and its vCPUs'
 * `time`, are that clock: while a vCPU runs, the host hart's cycle counter *is* the VM's clock
 * (set before each entry), so guest time = VM cycles / (cycles per tick) with htimedelta = 0.
 * vCPUs of an SMP VM interleave deterministically in rounds of VM_QUANTUM cycles (each started
 * vCPU runs the round's span in index order, as the bare SMP board's harts do). Nothing here
 * depends on which host hart runs a round or what else the host runs: a VM's run is the same
 * whatever its neighbours do.
 */
import { Core, RAM_BASE, RunStatus } from '../core.js';
import * as L from '../generated/layout.js';
import { EventScheduler } from '../scheduler.js';
import { VirtPlatform } from '../board/platform.js';
import type { Clock, HartIrqSink, MachineControl } from '../bus/types.js';
import { buildVirtDtb, qemuVirtDtConfig } from '../board/devicetree.js';
import { isaString } from '../board/cpu.js';
import { MMU_TYPE, checkKernelImage } from '../board/boot.js';
import { parseElf } from '../elf.js';
import { UserError, formatSize } from '../errors.js';
import { cyclesPerTick, type TimingConfig } from '../timing.js';
import { readFileSync } from 'node:fs';
import { GUEST_RAM_BASE, HOLE, VmMemory, type FramePool } from './memory.js';
import { Vcpu, EXIT_REASONS } from './vcpu.js';
import { VmBalloon } from './balloon.js';
import type { Dedup } from './dedup.js';
import { handleExit, setLiveHvip, type ExitEnv } from './exits.js';
import type { SbiAction } from './sbi/index.js';
import { GuestAgent } from './agent.js';
import type { SimEvent } from '../bus/types.js';
import type { ExitReasonName, VmDiskStats, VmSpec, VmState, VmStats } from './types.js';
import { DEFAULT_SHADOW_PAGES, PagingCounters, ShadowMmu, pagingStats } from './shadow.js';
import type { VcpuTlbModels } from './tlbstate.js';
import { VirtioBlk } from '../../devices/virtio-blk.js';
import type { VmTraceHooks } from './trace-hooks.js';

/** Cycles each vCPU of an SMP VM runs per round (the bare board's SMP_QUANTUM). */
export const VM_QUANTUM = 10_000;
/**
 * The furthest a VM's clock goes, in cycles (2^52: ~52 days at 1 GHz). Clocks are JS numbers, exact
 * below 2^53, and the core counts cycles in a u64. A wake-up set later than this (a VS timer, a
 * device event such as an RTC alarm far in the future) is never reached: it wakes nothing, as a
 * timer set to all ones; a vCPU waiting for nothing else waits forever. Without this bound a guest
 * could make its clock jump to 2^62 ticks, past 2^64 cycles, where the core's counter saturates and
 * a round would never end: the host process would hang (found by test/guests/hostile).
 */
export const VM_CLOCK_LIMIT = 2 ** 52;
/** Traps the VMM injects in a row, with no instruction retired, after which the VM has crashed. */
export const TRAP_STORM = 1000;
/** Where a Linux Image goes (as OpenSBI fw_jump / QEMU place it: 2 MiB into RAM). */
const KERNEL_OFFSET = 0x20_0000;
const MiB = 1024 * 1024;
const VSSIP = 1n << 2n;
const VSTIP = 1n << 6n;
const VSEIP = 1n << 10n;
const U64 = (1n << 64n) - 1n;

export interface VmOptions {
  /** VMID (G-stage tag) and id in `list`. */
  id: number;
  timing: TimingConfig;
  /** Console output of the VM (its UART, SBI console). */
  onOutput?: (bytes: Uint8Array) => void;
  /** Timing mode: the host's per-vCPU modeled TLBs (tlbstate.ts); absent in fast mode. */
  tlb?: VcpuTlbModels;
  /** Host harts (whose host TLBs a fence flushes); default 1. */
  hostHarts?: number;
  /** Host overcommit (issue 12 scope 3): RAM backed on first touch; no frame → paused, reason memory. */
  overcommit?: boolean;
}

/** How a `shutdown` through the guest agent ended (issue 10 scope 6). */
export type ShutdownResult = { ok: true } | { ok: false; timeout: boolean; error: string };

/** How a round of the VM ended. */
export interface RoundResult {
  /** Cycles the VM's vCPUs occupied the host hart (what the host is charged). */
  hostCycles: number;
  /** The VM can make no progress without outside input (every vCPU waits, nothing scheduled). */
  blocked: boolean;
}

/** A VM exit the VMM handled (for exit hooks). */
export interface VmExitEvent {
  vm: string;
  vcpu: number;
  /** How the VMM classified it (the per-VM exit statistics' reasons). */
  reason: ExitReasonName;
  /** scause of the trap (the interrupt code when `interrupt`). */
  cause: number;
  interrupt: boolean;
  /** Guest pc of the trapping instruction. */
  pc: bigint;
}

export class Vm {
  readonly name: string;
  readonly id: number;
  readonly spec: VmSpec;
  readonly memory: VmMemory;
  /** The balloon's VMM side (spec.balloon), or null. */
  readonly balloon: VmBalloon | null;
  /** The host's page deduplication (dedup.ts) when it covers this VM, or null. */
  dedup: Dedup | null = null;
  /** Observer of every VM exit the VMM handled (src/debug/hooks.ts addVmExitHook); null: none. */
  exitObserver: ((e: VmExitEvent) => void) | null = null;
  readonly overcommit: boolean;
  /** Paused because the pool had no frame for it (overcommit): the host resumes it when one is free. */
  pausedForMemory = false;
  readonly scheduler = new EventScheduler();
  readonly platform: VirtPlatform;
  readonly vcpus: Vcpu[];
  /** Shadow paging (`paging: shadow`, issue 11; shadow.ts), or null for nested paging (the G-stage). */
  readonly shadow: ShadowMmu | null;
  /** The modeled TLB's walk counters of this VM's vCPUs (timing mode). */
  readonly walks = new PagingCounters();
  state: VmState;
  /** Why the VM crashed (state 'crashed'). */
  crashMessage: string | null = null;
  /** The guest powered off by itself (SRST shutdown, test finisher pass). */
  poweredOff = false;
  exitCode: number | null = null;
  /** The VM's virtual clock, in cycles. */
  now = 0;
  hostCycles = 0;
  /** --trace-out / --report observer (src/trace/host.ts), or null. Observation only. */
  trace: VmTraceHooks | null = null;
  consoleBytes = 0;
  /** Guest-requested restarts so far. */
  reboots = 0;
  readonly output: Uint8Array[] = [];
  /** The guest-agent channel on the VM's virtio-console (agent.ts). */
  readonly agent: GuestAgent | null;
  /** A `shutdown` waiting for the guest to power off: its waiters and its timeout (VM clock). */
  private pendingShutdown: { deadline: number; timeoutS: number; waiters: Array<(r: ShutdownResult) => void> } | null = null;
  private readonly shutdownTimeout: SimEvent;
  private loaded: Vcpu | null = null;
  /** The vCPU of this VM that ran last (keeps its LR/SC reservation across host preemption). */
  private lastRun: Vcpu | null = null;
  private pendingReset: SbiAction | null = null;
  private readonly onOutput: ((b: Uint8Array) => void) | null;
  private readonly cyclesPerTick: number;
  private readonly tbHz: number;
  private readonly cpuHz: number;
  private readonly exitCycles: number;
  private readonly env: ExitEnv;
  /** Console input not yet read by SBI getchar (public for snapshots: snapshot.ts). */
  readonly inputQueue: number[] = [];
  private readonly tlb: VcpuTlbModels | null;
  private readonly hostHarts: number;
  /**
   * Host-side idle pacing (pacing.ts, `cyclevisor host --pace on`): asked before the clock jumps
   * to `next` (every vCPU waits); false holds the VM (`held`, not runnable) until the host's wall
   * clock reaches that time. Guest-visible results do not depend on it. null: never paced.
   */
  pace: ((vm: Vm, next: number) => boolean) | null = null;
  /** Pacing holds the VM: every vCPU waits and the wall clock has not reached its next wake-up. */
  held = false;

  constructor(
    private readonly core: Core,
    pool: FramePool,
    spec: VmSpec,
    opts: VmOptions,
  ) {
    this.name = spec.name;
    this.id = opts.id;
    this.spec = spec;
    this.onOutput = opts.onOutput ?? null;
    this.tlb = opts.tlb ?? null;
    this.hostHarts = opts.hostHarts ?? 1;
    if (!(Number.isInteger(spec.vcpus) && spec.vcpus >= 1 && spec.vcpus <= 8)) throw new UserError(`${spec.name}: vcpus must be 1 to 8, got ${spec.vcpus}`);
    this.tbHz = opts.timing.timebaseHz;
    this.cpuHz = opts.timing.cpuHz;
    this.exitCycles = opts.timing.vmm.exitCycles;
    this.cyclesPerTick = cyclesPerTick(opts.timing);
    this.overcommit = opts.overcommit ?? false;
    this.memory = VmMemory.allocate(core, pool, spec.memoryBytes, opts.id, spec.name, this.overcommit);
    try {
      this.shadow = spec.paging === 'shadow'
        ? new ShadowMmu(core, pool, this.memory, spec.vcpus, spec.shadowPages ?? DEFAULT_SHADOW_PAGES, opts.timing.vmm.entryCycles, spec.name)
        : null;
    } catch (e) {
      this.memory.release();
      throw e;
    }
    this.memory.onHole = (c) => this.backChunk(c);
    this.memory.onFrameMoved = (from, to) => this.moveReservations(from, to);
    // Overcommit: a device's DMA that finds no frame pauses the VM; the request is redone on resume.
    if (this.overcommit) this.memory.onNoFrame = () => this.pauseForMemory();
    // Every VM has a balloon by default (issue 12); a shadow VM cannot (no G-stage to unmap through).
    this.balloon = (spec.balloon ?? spec.paging !== 'shadow') ? new VmBalloon(core, pool, this.memory, opts.id, (m) => this.crash(m)) : null;
    const vm = this;
    const clock: Clock = { now: () => vm.now, cpuHz: opts.timing.cpuHz };
    // The PLIC's S-mode context h drives vCPU h's VSEIP (hvip bit 10; Priv §8.2.4: the hypervisor injects it).
    const irq: HartIrqSink = { setPending: (hart, bit, level) => bit === 9 && vm.setHvipBit(hart, VSEIP, level) };
    const control: MachineControl = {
      exit: (code) => vm.requestReset({ kind: 'reset', type: 'shutdown', failure: false }, code),
      reset: () => vm.requestReset({ kind: 'reset', type: 'reboot', failure: false }, null),
    };
    this.platform = new VirtPlatform({
      kind: 'vm',
      harts: spec.vcpus,
      clock,
      scheduler: this.scheduler,
      irq,
      memory: this.memory,
      control,
      timebaseHz: opts.timing.timebaseHz,
      tx: (b) => vm.consoleWrite(Uint8Array.of(b)),
      drives: (spec.disks ?? []).map((d) => ({ path: d.file, readOnly: d.readonly ?? false, ...(d.format ? { format: d.format } : {}) })),
      ...(spec.nics ? { nics: spec.nics } : {}),
      ...(this.balloon ? { balloon: this.balloon.device } : {}),
    });
    // Created once (a scheduler's events are reusable members, GUIDE §7), scheduled per request.
    this.shutdownTimeout = this.scheduler.createEvent('agent-shutdown-timeout', () => {
      const p = vm.pendingShutdown;
      if (!p) return;
      vm.finishShutdown({
        ok: false,
        timeout: true,
        error: `${vm.name}: the guest has not powered off after ${p.timeoutS} s (virtual); the domain is still running`,
      });
    });
    const cons = this.platform.console;
    this.agent = cons ? new GuestAgent(cons) : null;
    // What the guest writes to the agent port counts as console output (domstats console.bytes),
    // but is the agent's protocol, not shown with the VM's console lines.
    cons?.setTx((b) => {
      vm.consoleBytes += b.length;
      vm.agent!.receive(b);
    });
    this.vcpus = Array.from({ length: spec.vcpus }, (_, i) => new Vcpu(i, this.memory.hgatp, false));
    this.env = this.makeEnv();
    this.state = 'shut off';
  }

  // ------------------------------------------------------------------------------- boot

  /** Load the kernel (an ELF: its segments and entry; else a Linux Image + device tree) and start vCPU 0. */
  boot(): void {
    const kernel = typeof this.spec.kernel === 'string' ? readFileSync(this.spec.kernel) : this.spec.kernel;
    const mem = this.memory;
    const isElf = kernel.length >= 4 && kernel[0] === 0x7f && kernel[1] === 0x45 && kernel[2] === 0x4c && kernel[3] === 0x46;
    let entry: bigint;
    let a1 = 0n;
    if (isElf) {
      const img = parseElf(kernel, typeof this.spec.kernel === 'string' ? this.spec.kernel : `${this.name} kernel`);
      for (const s of img.segments) {
        const gpa = Number(s.paddr);
        if (!mem.inRam(gpa, s.memsz)) throw new UserError(`${this.name}: kernel segment ${s.index} at 0x${gpa.toString(16)} is outside the VM's memory`);
        const data = new Uint8Array(s.memsz);
        data.set(kernel.subarray(s.offset, s.offset + s.filesz));
        mem.write(gpa, data);
      }
      entry = img.entry;
    } else {
      const name = typeof this.spec.kernel === 'string' ? this.spec.kernel : `${this.name} kernel`;
      const { imageSize } = checkKernelImage(kernel, name);
      const kAddr = GUEST_RAM_BASE + KERNEL_OFFSET;
      if (!mem.inRam(kAddr, imageSize)) throw new UserError(`${this.name}: the kernel (${formatSize(imageSize)}) does not fit in ${formatSize(mem.bytes)}`);
      mem.write(kAddr, kernel);
      let initrd: { start: bigint; end: bigint } | undefined;
      if (this.spec.initrd !== undefined) {
        const rd = typeof this.spec.initrd === 'string' ? readFileSync(this.spec.initrd) : this.spec.initrd;
        const start = kAddr + Math.min(mem.bytes / 2, 128 * MiB);
        if (start < kAddr + imageSize || !mem.inRam(start, rd.length)) throw new UserError(`${this.name}: the initrd does not fit in ${formatSize(mem.bytes)}`);
        mem.write(start, rd);
        initrd = { start: BigInt(start), end: BigInt(start + rd.length) };
      }
      const dtb = this.deviceTree(initrd);
      // As QEMU's virt: at the end of RAM, but below 3 GiB (riscv_compute_fdt_addr), so a VM above 1 GiB keeps it in low memory.
      const top = Math.min(GUEST_RAM_BASE + mem.bytes, 0xc000_0000);
      const dtbAddr = Math.floor((top - dtb.length) / (2 * MiB)) * 2 * MiB;
      if (dtbAddr < (initrd ? Number(initrd.end) : kAddr + imageSize)) throw new UserError(`${this.name}: no room for the device tree in ${formatSize(mem.bytes)}`);
      mem.write(dtbAddr, dtb);
      entry = BigInt(kAddr);
      a1 = BigInt(dtbAddr);
    }
    for (const v of this.vcpus) {
      v.started = false;
      v.waiting = false;
    }
    // The images were written behind the shadow's back (and every satp is Bare again).
    this.shadow?.reset();
    this.vcpus[0]!.start(this.memory.hgatp, entry, a1);
    this.state = 'running';
  }

  /**
   * The VM's device tree: the virt platform's, for a VM — no CLINT, one S-mode PLIC context per
   * vCPU, `riscv,isa` without `h` (issue 10 scope 4).
   */
  deviceTree(initrd?: { start: bigint; end: bigint }): Uint8Array {
    const p = this.platform.dtPlatform();
    return buildVirtDtb(
      qemuVirtDtConfig({
        harts: this.spec.vcpus,
        isa: isaString({ h: false }),
        mmuType: MMU_TYPE,
        ramBase: BigInt(GUEST_RAM_BASE),
        ramSize: BigInt(this.memory.bytes),
        timebaseHz: this.tbHz,
        clint: p.clint,
        plic: { ...qemuVirtDtConfig().plic, ...(p.plic.contexts ? { contexts: p.plic.contexts } : {}) },
        ...(this.spec.cmdline !== undefined ? { bootargs: this.spec.cmdline } : {}),
        ...(initrd ? { initrd } : {}),
      }),
    );
  }

  // ------------------------------------------------------------------------------- console

  consoleWrite(bytes: Uint8Array): void {
    this.consoleBytes += bytes.length;
    if (this.onOutput) this.onOutput(bytes);
    else this.output.push(bytes.slice());
  }
  pushInput(bytes: Uint8Array): void {
    for (const b of bytes) this.inputQueue.push(b);
    this.platform.uart.pushInput(bytes);
  }
  outputText(): string {
    return Buffer.concat(this.output).toString('latin1');
  }

  // ------------------------------------------------------------------------------- interrupts

  /** Set or clear an hvip bit of vCPU `hart` (live when it is loaded); a pending interrupt wakes it. */
  private setHvipBit(hart: number, bit: bigint, level: boolean): void {
    const v = this.vcpus[hart];
    if (!v) return;
    if (this.loaded === v) {
      const hvip = this.core.get64(L.H_HVIP);
      setLiveHvip(this.core, level ? hvip | bit : hvip & ~bit);
    } else {
      v.ctx.hvip = level ? v.ctx.hvip | bit : v.ctx.hvip & ~bit;
    }
  }

  /** Cycle at which vCPU v's VS timer fires (vstimecmp, htimedelta = 0), or Infinity. */
  private timerDeadline(v: Vcpu): number {
    if (v.ctx.vstimecmp === U64) return Infinity;
    const t = Number(v.ctx.vstimecmp) * this.cyclesPerTick;
    return t < VM_CLOCK_LIMIT ? t : Infinity;
  }

  /** A waiting vCPU wakes when an interrupt it enables (hie) is pending at VM time `t` (WFI ignores SIE). */
  private wakes(v: Vcpu, t: number): boolean {
    const pending = (v.ctx.hvip & (VSSIP | VSEIP)) | (t >= this.timerDeadline(v) ? VSTIP : 0n);
    return (pending & v.ctx.hie) !== 0n;
  }

  private requestReset(a: SbiAction, code: number | null): void {
    this.pendingReset ??= a;
    if (code !== null) this.exitCode = code;
    this.core.requestStop();
  }

  // ------------------------------------------------------------------------------- running

  /** Runnable: running and some vCPU started (waiting ones count: a timer or device may wake them). */
  get runnable(): boolean {
    return this.state === 'running' && !this.held && this.vcpus.some((v) => v.started);
  }

  /**
   * Run one round on host hart `hostHart` (the core's hart slot, already switched to): every
   * started vCPU that is not waiting runs from the VM's clock T to T + span (span = budget for a
   * one-vCPU VM, VM_QUANTUM for SMP), handling its exits; due device events fire on the way. When
   * every vCPU waits, the clock jumps to the next wake-up (a device event or a VS timer) at no
   * host cost.
   */
  /**
   * The host's gdb stub (src/debug/host-gdbstub.ts), or null: told when a vCPU is loaded (enter:
   * arms single-step for the vCPU gdb steps) and called synchronously on RunStatus.Debug (stop:
   * returns when the run goes on; 'kill' ends the round).
   */
  debug: { enter(vm: Vm, v: Vcpu, hostHart: number): void; stop(vm: Vm, v: Vcpu, hostHart: number): 'resume' | 'kill' } | null = null;

  runRound(hostHart: number, budget: number): RoundResult {
    const t0 = this.now;
    if (t0 >= VM_CLOCK_LIMIT) {
      // Only ~52 simulated days of running get here; the clock cannot go on exactly.
      this.crash(`the VM's clock reached its limit (${VM_CLOCK_LIMIT} cycles)`);
      return { hostCycles: 0, blocked: false };
    }
    const span = this.spec.vcpus === 1 ? Math.max(1, budget) : VM_QUANTUM;
    const end = t0 + span;
    let ran = 0;
    let reached = t0;
    for (const v of this.vcpus) {
      if (!v.started || this.state !== 'running') continue;
      if (v.waiting) {
        if (!this.wakes(v, t0)) continue;
        v.waiting = false;
      }
      this.trace?.vcpuStart(this.name, v.index, t0, ran);
      const used = this.runVcpu(v, hostHart, t0, end);
      this.trace?.vcpuEnd(this.name, v.index, used.hostCycles);
      ran += used.hostCycles;
      reached = Math.max(reached, used.at);
    }
    if (this.state !== 'running') return { hostCycles: ran, blocked: false };
    if (ran === 0) {
      // Every started vCPU waits: jump to the earliest wake-up.
      let next = this.scheduler.nextDeadline();
      if (next >= VM_CLOCK_LIMIT) next = Infinity; // a device event beyond the clock's limit: never
      for (const v of this.vcpus) if (v.started && v.waiting) next = Math.min(next, this.timerDeadline(v));
      if (next === Infinity) return { hostCycles: 0, blocked: true };
      if (this.pace !== null && !this.pace(this, next)) {
        this.held = true; // the host sleeps in wall time until then (pacing.ts); the clock stays
        return { hostCycles: 0, blocked: false };
      }
      this.now = Math.max(this.now, next);
      this.runDue();
      return { hostCycles: 0, blocked: false };
    }
    this.now = Math.max(reached, this.spec.vcpus === 1 ? reached : end);
    this.runDue();
    return { hostCycles: ran, blocked: false };
  }

  /** Run vCPU v from VM time t0 to `end` (or until it waits / stops / the VM resets). */
  private runVcpu(v: Vcpu, hostHart: number, t0: number, end: number): { hostCycles: number; at: number } {
    const core = this.core;
    core.cycles = t0;
    // Per-vCPU state that the core keeps per host hart: the vCPU's own instret (what the guest's
    // `instret` CSR reads: its own retired instructions, not those of every VM that ran on this
    // host hart) and the trap-loop detector's streak. Restored here, saved after the run, so
    // neither depends on what else ran on the hart (issue 10 scope 1).
    core.setNum(L.H_INSTRET, v.instructions);
    core.setNum(L.H_TRAP_STREAK, v.trapStreak);
    core.setNum(L.H_TRAP_INSTRET, v.trapInstret);
    if (v.lastHart !== hostHart && v.lastHart !== -1) {
      // The vCPU moved: its VMID's composed translations on this hart must not be reused (issue 10
      // scope 3): this hart's guest host-TLB sets go (loadVcpu drops them on every entry anyway).
      // The modeled TLB is the vCPU's own (tlbstate.ts), so a move changes nothing there: a fence
      // of the VMID in the hart's model would make the VM's counts depend on its placement.
      core.ex.hfenceHart(hostHart);
    }
    v.lastHart = hostHart;
    this.shadow?.prepare(v);
    core.loadVcpu(v.ctx);
    core.set64(L.H_SCOUNTEREN, v.scounteren);
    core.set64(L.H_SENVCFG, v.senvcfg);
    this.tlb?.enter(v.tlb, hostHart, this.shadow ? 0 : this.id);
    // loadVcpu dropped the LR/SC reservation. It is kept when this vCPU is the last of its VM that
    // ran: no other vCPU of the VM can have stored in between, and other VMs cannot reach its
    // memory (the G-stage), so only host-side preemption happened, which the guest must not see
    // (a 1-vCPU VM's rounds end where the host's slices end). Another vCPU of the VM ran: dropped,
    // as a store from another hart could have broken it (Unpriv 8.2: an SC may fail then).
    if (this.lastRun === v) core.set64(L.H_RESV, v.resv);
    this.lastRun = v;
    this.shadow?.loaded(v);
    this.walks.begin(core);
    // loadVcpu charged the modeled entry cost; a round's entry is the host's business (preemption,
    // placement), not the guest's: its clock must not depend on how the host slices it (issue 10
    // scope 1). Entries after an exit (resumeVcpu) are charged: they are the exit's round trip.
    core.cycles = t0;
    this.loaded = v;
    this.now = core.cycles;
    this.debug?.enter(this, v, hostHart);
    let stop = false;
    while (!stop) {
      core.deadline = Math.min(end, this.scheduler.nextDeadline());
      core.insnLimit = Number.MAX_SAFE_INTEGER;
      const status = core.run();
      this.now = core.cycles;
      if (status === RunStatus.VmExit) {
        const e = core.vmExit();
        if (this.dedup && !e.interrupt && e.cause === 23 && this.dedup.isMerged(this.memory, Number(e.htval << 2n))) {
          // A write to a merged page (dedup.ts): the exit is taken back (its trap latency and exit
          // cycles, its trap and exit counts, the LR/SC reservation the trap dropped), sharing is
          // broken in host time (the reservation follows the page), the store is retried: the
          // guest's clock and counters are those of a run without dedup (no entry is charged).
          if (!this.dedup.noFrameFor(this.memory, Number(e.htval << 2n))) {
            this.unchargeExit();
            this.dedup.breakOnFault(this.memory, Number(e.htval << 2n));
            continue;
          }
          // The page's chunk of zero pages went back to the pool (dedup.ts, overcommit only) and the
          // pool has no frame for it now: paused for memory, as a first touch would be (ramFault);
          // the exit counts like that one, and the store is retried when the VM goes on.
          v.guestPageFaults++;
          this.count(v, 'other', this.exitCycles);
          this.pauseForMemory();
          core.resumeVcpu();
          stop = true;
          continue;
        }
        if (!e.interrupt && (e.cause === 20 || e.cause === 21 || e.cause === 23)) v.guestPageFaults++;
        const before = core.cycles;
        const { reason, outcome } = this.handleExitSafely(e, v);
        this.count(v, reason, this.exitCycles + (core.cycles - before));
        this.trace?.exit(this.name, v.index, reason, before, e.cause, e.interrupt);
        if (this.exitObserver !== null) this.exitObserver({ vm: this.name, vcpu: v.index, reason, cause: e.cause, interrupt: e.interrupt, pc: e.pc });
        // Trap storm (the core's stuck rule, for traps the VMM delivers): TRAP_STORM injected traps
        // in a row without an instruction retired in between (e.g. a vCPU started at an address
        // outside its memory with vstvec there too) crash the VM instead of spinning forever.
        if (reason === 'fault' || reason === 'virtual-instruction') {
          const retired = core.instret; // this vCPU's own count (restored at entry): deterministic
          if (retired === v.instretAtTrap) {
            if (++v.trapsInARow >= TRAP_STORM && outcome.kind === 'resume') {
              this.crash(`vCPU ${v.index} is stuck in a trap loop at pc 0x${core.pc.toString(16)} (${TRAP_STORM} traps without an instruction)`);
              stop = true;
              continue;
            }
          } else v.trapsInARow = 1;
          v.instretAtTrap = retired;
        }
        switch (outcome.kind) {
          case 'resume':
            core.resumeVcpu();
            break;
          case 'wait':
            v.waiting = true;
            stop = true;
            break;
          case 'sbi':
            if (outcome.action.kind === 'stop-vcpu') {
              v.started = false;
              stop = true;
            } else if (outcome.action.kind === 'reset') {
              this.pendingReset ??= outcome.action;
              stop = true;
            } else core.resumeVcpu();
            break;
          case 'crash':
            this.crash(outcome.message);
            stop = true;
            break;
        }
        if (this.state !== 'running') stop = true; // paused for memory (overcommit) in the exit
      } else if (status === RunStatus.Debug && this.debug !== null) {
        // The host debugger (src/debug/host-gdbstub.ts): all-stop, synchronous. A stop that is not
        // this VM's (another inferior's breakpoint) or a gdb resume returns here with the vCPU still
        // loaded; the core goes on with the cut block (debug.ts D_MID): no boundary work, no device
        // events fired here (the run without the debugger had none at this point).
        if (this.debug.stop(this, v, hostHart) === 'kill') stop = true;
        continue;
      } else if (status === RunStatus.Stuck) {
        this.crash(`vCPU ${v.index} is stuck in a trap loop at pc 0x${core.pc.toString(16)}`);
        stop = true;
      } else if (status === RunStatus.Deadline || status === RunStatus.Stop || status === RunStatus.InsnLimit) {
        if (this.pendingReset) stop = true;
        else if (core.cycles >= end) stop = true;
      } else {
        this.crash(`vCPU ${v.index}: unexpected run status ${status} at pc 0x${core.pc.toString(16)}`);
        stop = true;
      }
      this.now = core.cycles;
      if (!this.runDue()) stop = true;
      if (this.pendingReset) stop = true;
      if (this.state !== 'running') stop = true; // a device event's DMA paused it for memory (overcommit)
    }
    v.ctx = core.saveVcpu();
    this.walks.end(core);
    this.shadow?.unloaded(v);
    this.tlb?.leave(v.tlb);
    v.resv = core.get64(L.H_RESV);
    v.scounteren = core.get64(L.H_SCOUNTEREN);
    v.senvcfg = core.get64(L.H_SENVCFG);
    v.trapStreak = core.getNum(L.H_TRAP_STREAK);
    v.trapInstret = core.getNum(L.H_TRAP_INSTRET);
    this.loaded = null;
    const hostCycles = core.cycles - t0;
    v.instructions = core.instret;
    v.cycles += hostCycles;
    this.hostCycles += hostCycles;
    if (this.pendingReset) this.applyReset();
    return { hostCycles, at: core.cycles };
  }

  /**
   * The vCPU of this VM that ran last (-1: none since boot or restore): its LR/SC reservation
   * survives host preemption only then (runVcpu). Part of a snapshot (snapshot.ts).
   */
  get lastRunIndex(): number {
    return this.lastRun?.index ?? -1;
  }
  set lastRunIndex(i: number) {
    this.lastRun = i >= 0 ? (this.vcpus[i] ?? null) : null;
  }

  /** Reservations (host addresses, run.ts LR/SC) in the 4 KiB frame at `from` move to `to` (dedup.ts). */
  private moveReservations(from: number, to: number): void {
    const a = BigInt(L.RAM_OFFSET + from - RAM_BASE);
    const d = BigInt(to - from);
    const moved = (r: bigint) => (r >= a && r < a + 4096n ? r + d : r);
    for (const v of this.vcpus) {
      if (this.loaded === v) this.core.set64(L.H_RESV, moved(this.core.get64(L.H_RESV)));
      else v.resv = moved(v.resv);
    }
  }

  /** Undo what the core charged for the VM exit just taken (run.ts: trapLat + vmm.exitCycles, CLS_TRAP, C_VMX_EXITS). */
  private unchargeExit(): void {
    const core = this.core;
    const trapLat = Math.max(1, core.u8view()[L.LAT_BASE + L.TIMING_CLASS_TRAP]!);
    core.cycles -= trapLat + this.exitCycles;
    this.now = core.cycles;
    const clsTrap = L.CLS_BASE + (L.TIMING_CLASS_TRAP + 1) * 8; // run.ts CLS_TRAP
    core.set64(clsTrap, core.get64(clsTrap) - 1n);
    core.set64(L.C_VMX_EXITS, core.get64(L.C_VMX_EXITS) - 1n);
    core.set64(L.H_EXCEPTIONS, core.get64(L.H_EXCEPTIONS) - 1n);
    core.set64(L.H_RESV, core.get64(L.C_VMX_RESV));
    // The retried instruction continues the block the exit cut (no interrupt or timer check there
    // that the run without dedup would not make: assembly/run.ts, layout.ts C_VMX_RESUME).
    core.set64(L.C_VMX_RESUME, 1n);
  }

  /**
   * Fire the device events due at the VM's clock. A device event that throws (the wall behind the
   * devices' own checks) crashes this VM, not the host; false then.
   */
  private runDue(): boolean {
    try {
      this.scheduler.runDue(this.now);
      return true;
    } catch (err) {
      this.crash(`the VMM failed running a device event: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  /**
   * handleExit, with a wall behind it: an exception thrown while handling a guest's exit (a device
   * handler, an SBI extension) is a bug the guest may have provoked on purpose; it crashes this VM
   * ("an exit the VMM cannot handle", issue 10 scope 6), never the host process or other VMs.
   */
  private handleExitSafely(e: ReturnType<Core['vmExit']>, v: Vcpu): ReturnType<typeof handleExit> {
    try {
      // Shadow paging (issue 11) sorts page faults and satp/sfence traps first; the rest as nested.
      return this.shadow?.handleExit(this.core, e, this.env, v) ?? handleExit(this.core, e, this.env, v.index);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return { reason: 'other', outcome: { kind: 'crash', message: `the VMM failed handling an exit (cause ${e.cause} at pc 0x${e.pc.toString(16)}): ${why}` } };
    }
  }

  private count(v: Vcpu, reason: ExitReasonName, cycles: number): void {
    v.count(reason, cycles);
  }

  private applyReset(): void {
    const a = this.pendingReset!;
    this.pendingReset = null;
    if (a.kind !== 'reset') return;
    if (a.failure) this.crash('the guest reported a system failure (SBI SRST)');
    else if (a.type === 'shutdown') {
      this.poweredOff = true;
      this.exitCode ??= 0;
      this.state = 'shut off';
      this.finishShutdown({ ok: true });
    } else this.reboot();
  }

  /**
   * Restart the VM (SBI SRST reboot, test finisher reset, `ctl reboot` later): devices reset,
   * their events dropped, vCPUs reset, the kernel (and initrd, device tree) loaded again, vCPU 0
   * started. RAM is not cleared outside what is reloaded (as a hardware reset, and QEMU's). The
   * VM's clock goes on.
   */
  reboot(): void {
    this.held = false;
    this.scheduler.clear();
    this.platform.reset();
    this.agent?.reset();
    // A pending agent shutdown keeps its deadline across the guest's reboot (the event list was cleared).
    if (this.pendingShutdown) this.scheduler.schedule(this.shutdownTimeout, this.pendingShutdown.deadline);
    this.lastRun = null;
    this.fence(true);
    for (const v of this.vcpus) {
      v.started = false;
      v.waiting = false;
      v.ctx = Vcpu.resetContext(v.index, this.memory.hgatp, 0n, 0n);
    }
    this.reboots++;
    this.boot();
  }

  /**
   * Fence the VM's guest translations (SBI RFENCE's hfence, a reset, the VM's end): every host
   * hart's guest host-TLB sets; in timing mode the VM's own vCPU models (tlbstate.ts) — emptied
   * when `reset` — and nobody else's: a fence on every hart's model would count in its neighbours'
   * statistics and depend on where its vCPUs happen to be.
   */
  private fence(reset: boolean): void {
    // A shadow VM's translations are tagged VMID 0 (hgatp is Bare; docs/PAGING.md).
    const vmid = this.shadow ? 0 : this.id;
    if (!this.tlb) {
      this.core.hfenceGvma(vmid);
      return;
    }
    for (let h = 0; h < this.hostHarts; h++) this.core.ex.hfenceHart(h);
    if (reset) for (const v of this.vcpus) this.tlb.forget(v.tlb);
    else this.tlb.fenceVm(this.vcpus.map((v) => v.tlb), this.loaded?.tlb ?? null, vmid);
  }

  /** Back a HOLE chunk of guest RAM (ballooned, or never touched under overcommit). */
  private backChunk(c: number): boolean {
    if (!this.memory.backHole(c)) return false;
    if (this.balloon) this.balloon.refills++;
    return true;
  }

  /**
   * A guest-page fault at `gpa` (exits.ts): true when it was guest RAM without a frame — backed now
   * (the access is retried), or, with no frame free, the VM paused (overcommit) or crashed.
   */
  private ramFault(gpa: bigint): boolean {
    if (gpa < BigInt(GUEST_RAM_BASE) || gpa >= BigInt(GUEST_RAM_BASE + this.memory.bytes)) return false;
    const c = Math.floor((Number(gpa) - GUEST_RAM_BASE) / (2 * MiB));
    if (this.memory.chunks[c] !== HOLE) return false;
    if (this.backChunk(c)) return true;
    if (this.overcommit) this.pauseForMemory();
    else this.crash(`no free host frame for guest memory at 0x${(GUEST_RAM_BASE + c * 2 * MiB).toString(16)} (ballooned memory touched again; the host pool is empty)`);
    return true;
  }

  /** Overcommit: the pool has no frame for this VM now; the host resumes it when one is free. */
  pauseForMemory(): void {
    this.state = 'paused';
    this.pausedForMemory = true;
  }

  /**
   * Running again after a pause (for memory, or `resume`): the device requests that waited for
   * host frames are redone now, at the clock they waited at (a paused VM's clock stands still).
   */
  memoryResumed(): void {
    this.platform.memoryAvailable();
  }

  crash(message: string): void {
    this.state = 'crashed';
    this.crashMessage = message;
    this.finishShutdown({ ok: false, timeout: false, error: `${this.name}: the domain crashed (${message})` });
  }

  // ------------------------------------------------------------------------------- agent shutdown

  /**
   * Graceful shutdown through the guest agent (libvirt `shutdown --mode agent`): send `shutdown`
   * on the agent port, and call `done` when the guest has powered off, or when `timeoutS` seconds
   * of the VM's virtual clock have passed without it (the VM keeps running). Refused (an error
   * line, nothing sent) when the VM is not running or no agent has announced itself.
   */
  requestShutdown(timeoutS: number, done: (r: ShutdownResult) => void): { ok: true } | { ok: false; error: string } {
    if (this.state !== 'running') return { ok: false, error: `${this.name}: domain is not running` };
    if (!this.agent) return { ok: false, error: `${this.name}: the VM has no agent channel (virtio-console)` };
    if (!this.agent.ready) {
      return { ok: false, error: `${this.name}: no guest agent is connected (shutdown needs the cyclevisor agent in the guest, e.g. build/initramfs-agent.cpio; see docs/VM-CONFIG.md)` };
    }
    if (this.pendingShutdown) {
      // Already asked: wait for the same power-off (or the first request's timeout).
      this.pendingShutdown.waiters.push(done);
      return { ok: true };
    }
    const deadline = this.now + Math.max(1, Math.round(timeoutS * this.cpuHz));
    this.scheduler.schedule(this.shutdownTimeout, deadline);
    this.pendingShutdown = { deadline, timeoutS, waiters: [done] };
    this.agent.send('shutdown');
    return { ok: true };
  }

  /** End a pending agent shutdown (powered off, timed out, crashed, destroyed). */
  finishShutdown(r: ShutdownResult): void {
    const p = this.pendingShutdown;
    if (!p) return;
    this.pendingShutdown = null;
    this.scheduler.cancel(this.shutdownTimeout);
    for (const w of p.waiters) w(r);
  }

  // ------------------------------------------------------------------------------- SBI / exits

  private makeEnv(): ExitEnv {
    const vm = this;
    return {
      get bus() {
        return vm.platform.bus;
      },
      vcpuCount: this.spec.vcpus,
      consoleWrite: (b) => vm.consoleWrite(b),
      consoleRead: () => vm.inputQueue.shift() ?? -1,
      readGuest: (gpa, len) => (gpa < 1n << 53n && vm.memory.inRam(Number(gpa), len) ? vm.memory.read(Number(gpa), len) : null),
      setTimer: (hart, cmp) => {
        const v = vm.vcpus[hart]!;
        if (vm.loaded === v) {
          vm.core.set64(L.H_VSTIMECMP, cmp);
          vm.core.ex.vcpuLoaded(); // recompute the VS timer's deadline and VSTIP
        } else v.ctx.vstimecmp = cmp;
      },
      sendIpi: (hart) => vm.setHvipBit(hart, VSSIP, true),
      fenceGuest: () => {
        vm.fence(false);
        vm.shadow?.countRemoteFence();
      },
      ramFault: (gpa) => vm.ramFault(gpa),
      hartState: (hart) => (vm.vcpus[hart]!.started ? 'started' : 'stopped'),
      hartStart: (hart, pc, opaque) => {
        vm.shadow?.resetVcpu(hart);
        vm.vcpus[hart]!.start(vm.memory.hgatp, pc, opaque);
      },
    };
  }

  // ------------------------------------------------------------------------------- statistics

  stats(): VmStats {
    const exits = {} as VmStats['exits'];
    for (const r of EXIT_REASONS) {
      exits[r] = { count: 0, cycles: 0 };
      for (const v of this.vcpus) {
        exits[r].count += v.exits[r].count;
        exits[r].cycles += v.exits[r].cycles;
      }
    }
    return {
      name: this.name,
      state: this.state,
      'vcpu.current': this.spec.vcpus,
      instructions: this.vcpus.reduce((s, v) => s + v.instructions, 0),
      cycles: this.now,
      hostCycles: this.hostCycles,
      exits,
      'balloon.current': this.memory.bytes - (this.balloon?.actualBytes ?? 0),
      'balloon.rss': this.memory.framesHeld * 2 * MiB,
      consoleBytes: this.consoleBytes,
      paging: pagingStats(this.shadow ? 'shadow' : 'nested', this.walks, this.shadow),
      guestPageFaults: this.vcpus.reduce((s, v) => s + v.guestPageFaults, 0),
      disks: this.diskStats(),
      ...(this.tlb ? { tlb: this.tlb.stats(this.vcpus.map((v) => v.tlb)) } : {}),
    };
  }

  /** Requests and bytes of each virtio-blk disk (vda first), cumulative over reboots. */
  diskStats(): VmDiskStats[] {
    const paths = (this.spec.disks ?? []).map((d) => d.file);
    const blks = this.platform.virtio.map((m) => m.device).filter((d): d is VirtioBlk => d instanceof VirtioBlk);
    return blks.map((b, i) => ({
      path: paths[i] ?? '',
      readReqs: b.stats.reads,
      readBytes: b.stats.bytesRead,
      writeReqs: b.stats.writes,
      writeBytes: b.stats.bytesWritten,
      flushReqs: b.stats.flushes,
      errors: b.stats.ioErrors,
    }));
  }

  /** Release the VM's frames and close its disks (destroyed / the host ends). */
  close(): void {
    this.platform.close();
    this.fence(true);
    this.memory.release();
    this.shadow?.release();
  }
}
