/**
 * Observing a VMM run (`host`) for --trace-out and --report. Time base: host time (each host
 * hart's clock, src/hypervisor/host.ts hostTime); a VM's own clock is converted through the round
 * it runs in (host time = round start + host cycles the round used before this vCPU + VM time
 * since the vCPU started).
 *
 * Tracks (docs/TRACING.md): group "host harts": one per host hart, slices "VM vCPUn" while a vCPU
 * runs; one group per VM: a track per vCPU with its VM exits (instants named by reason, with the
 * cause) and the traps taken inside the guest (V=1, delegated to it: instants named by cause);
 * group "counters": VM exits/s, MIPS and MIPS per VM, modeled-TLB misses (host: { mode: timing }).
 */
import { RunStatus, type Core, type RunHook } from '../core.js';
import type { Host } from '../hypervisor/host.js';
import type { HostTraceHooks, VmTraceHooks } from '../hypervisor/trace-hooks.js';
import type { ExitReasonName } from '../hypervisor/types.js';
import { EXIT_REASONS } from '../hypervisor/vcpu.js';
import { TrapRing, causeName, modeName, type TrapRecord } from './ring.js';
import { Sampler } from './sampler.js';
import { emitCounters } from './board.js';
import type { Tracer } from './tracer.js';

export class HostObserver implements RunHook, HostTraceHooks, VmTraceHooks {
  readonly sampler: Sampler;
  readonly ring: TrapRing;
  private readonly core: Core;
  private roundHart = 0;
  private roundStartAt = 0;
  /** host time = VM time + offset, for the vCPU running now. */
  private offset = 0;
  private vcpuStartHost = 0;
  private current: { vm: string; vcpu: number } | null = null;
  private tracing = false;
  /** vCPUs waiting after a wfi exit: the host time they began to. */
  private readonly waiting = new Map<string, number>();

  constructor(
    private readonly host: Host,
    private readonly tracer: Tracer | null,
    samplePeriod?: number,
  ) {
    this.core = host.core;
    this.ring = new TrapRing(host.core);
    this.sampler = new Sampler(samplePeriod ?? Math.max(1, Math.round(host.timing.cpuHz / 1000)), () => this.read());
    if (tracer) {
      for (let h = 0; h < host.harts; h++) tracer.track('host harts', `hart ${h}`);
      this.tracing = true;
      this.ring.enable(true);
    }
    host.trace = this;
    for (const vm of host.vms) vm.trace = this;
    this.core.runHook = this;
    this.sampler.take(0);
  }

  /** The host's clock for samples: the slowest hart's (monotonic). */
  private hostNow(): number {
    return Math.min(...this.host.hostTime);
  }

  finish(): void {
    this.ring.drain((r) => this.trap(r));
    this.sampler.take(Math.max(this.hostNow(), this.sampler.samples[this.sampler.samples.length - 1]?.t ?? 0));
    const s = this.sampler.samples;
    if (this.tracer && s.length >= 2) emitCounters(this.tracer, s[s.length - 2]!, s[s.length - 1]!);
    this.ring.enable(false);
    if (this.host.trace === this) this.host.trace = null;
    for (const vm of this.host.vms) if (vm.trace === this) vm.trace = null;
    if (this.core.runHook === this) this.core.runHook = null;
  }

  // ---- Core.runHook
  before(): void {}
  after(_status: RunStatus): void {
    this.ring.drain((r) => this.trap(r));
  }

  // ---- HostTraceHooks
  roundStart(hart: number, now: number, _vm: string): void {
    this.roundHart = hart;
    this.roundStartAt = now;
    // VMs added after the observer started (ctl start of a new definition, a migration) are seen too.
    for (const vm of this.host.vms) vm.trace ??= this;
  }

  roundEnd(_hart: number, _vm: string, _hostCycles: number): void {
    const t = this.tracer;
    if (this.tracing && t && t.done(this.hostNow())) {
      this.tracing = false;
      this.ring.enable(false);
    }
    const s = this.sampler.poll(this.hostNow());
    if (s && s.prev && t) emitCounters(t, s.prev, s.cur);
  }

  // ---- VmTraceHooks
  vcpuStart(vm: string, vcpu: number, t0: number, ranBefore: number): void {
    this.vcpuStartHost = this.roundStartAt + ranBefore;
    this.offset = this.vcpuStartHost - t0;
    this.current = { vm, vcpu };
    // A vCPU that waited (a wfi exit) is running again: its WFI idle slice ends here.
    const key = `${vm}\u0000${vcpu}`;
    const since = this.waiting.get(key);
    if (since !== undefined) {
      this.waiting.delete(key);
      if (this.tracer && this.vcpuStartHost > since) this.tracer.slice(this.tracer.track(vm, `vCPU ${vcpu}`), since, this.vcpuStartHost, 'WFI');
    }
  }

  vcpuEnd(vm: string, vcpu: number, hostCycles: number): void {
    this.current = null;
    const t = this.tracer;
    if (!t || hostCycles <= 0) return;
    t.slice(t.track('host harts', `hart ${this.roundHart}`), this.vcpuStartHost, this.vcpuStartHost + hostCycles, `${vm} vCPU${vcpu}`, { vm, vcpu });
  }

  exit(vm: string, vcpu: number, reason: ExitReasonName, at: number, cause: number, interrupt: boolean): void {
    if (reason === 'wfi') this.waiting.set(`${vm}\u0000${vcpu}`, at + this.offset);
    const t = this.tracer;
    if (!t) return;
    t.instant(t.track(vm, `vCPU ${vcpu}`), at + this.offset, `exit: ${reason}`, { reason, cause, interrupt, vmTime: at });
  }

  private trap(r: TrapRecord): void {
    const t = this.tracer;
    // VM exits are reported by exit() with their reason; the ring's V=1 traps that stayed in the
    // guest (delegated to VS) are the guest's own.
    if (!t || r.kind === 2 || this.current === null) return;
    t.instant(t.track(this.current.vm, `vCPU ${this.current.vcpu}`), r.cycles + this.offset, causeName(r.interrupt, r.code), {
      cause: r.code + (r.interrupt ? 0x8000 : 0),
      interrupt: r.interrupt,
      pc: r.epc,
      tval: r.tval,
      from: modeName(r.fromPriv, r.fromV),
      to: modeName(r.toPriv, r.toV),
    });
  }

  private read(): Record<string, number> {
    const v: Record<string, number> = { instret: 0, exits: 0 };
    for (const vm of this.host.vms) {
      let insns = 0;
      let exits = 0;
      for (const c of vm.vcpus) {
        insns += c.instructions;
        for (const r of EXIT_REASONS) {
          const n = c.exits[r].count;
          exits += n;
          v[`vm.${vm.name}.exit.${r}`] = (v[`vm.${vm.name}.exit.${r}`] ?? 0) + n;
        }
      }
      v[`vm.${vm.name}.instructions`] = insns;
      v[`vm.${vm.name}.hostCycles`] = vm.hostCycles;
      v[`vm.${vm.name}.exits`] = exits;
      v.instret += insns;
      v.exits += exits;
      if (this.host.mode === 'timing') {
        // The VM's own modeled TLBs (src/hypervisor/tlbstate.ts); no vCPU is loaded between rounds.
        const t = vm.stats().tlb;
        if (t) v['tlb.misses'] = (v['tlb.misses'] ?? 0) + t.itlb.misses + t.dtlb.misses;
      }
    }
    return v;
  }
}
