/**
 * Observing a virt-board run (`run`, `boot`) for --trace-out and --report: installs Core.runHook
 * (trap ring drain, WFI idle slices, periodic samples), the PLIC's line observer and the virtio
 * transports' request observer. Everything here reads state between run() calls; nothing changes
 * what the guest computes (the core's trap recording writes only the ring).
 *
 * Tracks (docs/TRACING.md): group "harts": one per hart (traps as instants named by cause, WFI
 * idle as slices, SBI calls the host firmware answers as instants); group "devices": one per
 * interrupt source (raised..cleared slices) and one per virtio queue (request slices from pop to
 * completion, on lanes when they overlap); group "counters": MIPS, traps/s, MMIO accesses/s per
 * device, modeled-TLB misses per sample (timing mode).
 */
import { RunStatus, type Core, type RunHook } from '../core.js';
import type { VirtMachine } from '../board/virt.js';
import { VIRT_MAP } from '../board/platform.js';
import type { TlbStats } from '../tlbmodel.js';
import { TrapRing, causeName, modeName, type TrapRecord } from './ring.js';
import { Sampler, type Sample } from './sampler.js';
import type { Tracer } from './tracer.js';
import * as L from '../generated/layout.js';

export interface ObserveOptions {
  tracer?: Tracer | null;
  /** Sample period in cycles (default: 1 ms of virtual time). */
  samplePeriod?: number;
}

const KIND = ['trap', 'to firmware', 'VM exit'];

export class BoardObserver implements RunHook {
  readonly sampler: Sampler;
  readonly ring: TrapRing;
  private readonly tracer: Tracer | null;
  private readonly core: Core;
  private readonly hartTracks: number[] = [];
  /** Per hart: the cycle its WFI sleep began, or -1. */
  private readonly idleSince: number[];
  private readonly irqNames = new Map<number, string>();
  private readonly irqSince = new Map<number, number>();
  /** Virtio chains popped and not yet completed: when, and their device-readable length. */
  private readonly inflight = new Map<string, { t: number; len: number }>();
  /** Per device queue: the end of the last request slice on each of its lanes. */
  private readonly lanes = new Map<string, number[]>();
  private tracing = false;
  private readonly stop: (() => void)[] = [];

  constructor(
    private readonly m: VirtMachine,
    opts: ObserveOptions = {},
  ) {
    this.core = m.core;
    this.tracer = opts.tracer ?? null;
    this.ring = new TrapRing(m.core);
    this.idleSince = new Array<number>(m.harts).fill(-1);
    this.sampler = new Sampler(opts.samplePeriod ?? Math.max(1, Math.round(m.timing.cpuHz / 1000)), () => this.read());
    const t = this.tracer;
    if (t) {
      for (let h = 0; h < m.harts; h++) this.hartTracks.push(t.track('harts', `hart ${h}`));
      this.tracing = true;
      this.ring.enable(true);
      this.irqNames.set(VIRT_MAP.uart0.irq, 'uart0');
      this.irqNames.set(VIRT_MAP.rtc.irq, 'rtc');
      for (const v of m.virtio) {
        const base = parseInt(v.name.replace(/^virtio-mmio@/, ''), 16); // the transport's default name
        const slot = Math.round((base - VIRT_MAP.virtio.base) / VIRT_MAP.virtio.size);
        const name = deviceName(v.device, v.name);
        this.irqNames.set(VIRT_MAP.virtio.irq + slot, name);
        if (!v.device) continue;
        v.trace = (ev, q, head, len) => this.virtio(name, ev, q, head, len);
        this.stop.push(() => (v.trace = null));
      }
      m.plic.onLevel = (src, high) => this.irq(src, high);
      this.stop.push(() => (m.plic.onLevel = null));
    }
    this.core.runHook = this;
    this.sampler.take(this.now());
  }

  /** Stop observing: the last sample, open slices closed at the end, hooks removed. */
  finish(): void {
    const end = this.now();
    this.drain();
    this.sample(end, true);
    const t = this.tracer;
    if (t) {
      for (let h = 0; h < this.idleSince.length; h++) {
        if (this.idleSince[h]! >= 0) t.slice(this.hartTracks[h]!, this.idleSince[h]!, end, 'WFI');
      }
      for (const [src, since] of this.irqSince) t.slice(this.irqTrack(src), since, end, 'IRQ raised');
    }
    this.ring.enable(false);
    for (const f of this.stop) f();
    if (this.core.runHook === this) this.core.runHook = null;
  }

  before(): void {
    const h = this.core.activeHart;
    const since = this.idleSince[h]!;
    if (since >= 0) {
      this.idleSince[h] = -1;
      const now = this.core.cycles;
      if (this.tracer && now > since) this.tracer.slice(this.hartTracks[h]!, since, now, 'WFI');
    }
  }

  after(status: RunStatus): void {
    const now = this.core.cycles;
    if (status === RunStatus.Wfi) this.idleSince[this.core.activeHart] = now;
    else if (status === RunStatus.Sbi && this.tracing) {
      // --bios builtin: an S-mode ecall is answered by the host (no trap in the core): an instant
      // with the SBI extension and function ids (a7, a6; SBI spec ch. 3).
      const h = this.core.activeHart;
      this.tracer!.instant(this.hartTracks[h] ?? this.hartTracks[0]!, now, 'SBI call (host firmware)', { eid: this.core.x(17), fid: Number(this.core.x(16)), pc: this.core.pc });
    }
    this.drain();
    this.sample(now, false);
  }

  private now(): number {
    return this.core.cycles;
  }

  private drain(): void {
    this.ring.drain((r) => this.trap(r));
    if (this.tracing && this.tracer!.done(this.core.cycles)) {
      // Past the window or full: the core stops recording (its cost goes back to one load per trap).
      this.tracing = false;
      this.ring.enable(false);
    }
  }

  private trap(r: TrapRecord): void {
    const t = this.tracer;
    if (!t) return;
    const track = this.hartTracks[r.hart] ?? this.hartTracks[0]!;
    t.instant(track, r.cycles, causeName(r.interrupt, r.code), {
      cause: Number(r.cause & 0xffffn) + (r.interrupt ? 0x8000 : 0),
      interrupt: r.interrupt,
      pc: r.epc,
      tval: r.tval,
      from: modeName(r.fromPriv, r.fromV),
      to: r.kind === 1 ? 'host M' : r.kind === 2 ? 'host VMM' : modeName(r.toPriv, r.toV),
      kind: KIND[r.kind] ?? 'trap',
    });
  }

  private irqTrack(src: number): number {
    return this.tracer!.track('devices', `IRQ ${src} ${this.irqNames.get(src) ?? ''}`.trim());
  }

  private irq(src: number, high: boolean): void {
    const now = this.core.cycles;
    if (high) this.irqSince.set(src, now);
    else {
      const since = this.irqSince.get(src);
      this.irqSince.delete(src);
      this.tracer!.slice(this.irqTrack(src), since ?? now, now, 'IRQ raised', { source: src });
    }
  }

  private virtio(dev: string, ev: 'pop' | 'push', q: number, head: number, len: number): void {
    const now = this.core.cycles;
    const key = `${dev}/${q}/${head}`;
    if (ev === 'pop') {
      this.inflight.set(key, { t: now, len });
      return;
    }
    const req = this.inflight.get(key);
    const since = req?.t ?? now;
    const reqLen = req?.len ?? 0;
    this.inflight.delete(key);
    // Requests in flight together overlap: slices on one track must nest, so each goes on the
    // first lane of its queue that is free since its start (lane 0 is "queue q", then "#2", ...).
    const lk = `${dev}/${q}`;
    const lanes = this.lanes.get(lk) ?? this.lanes.set(lk, []).get(lk)!;
    let lane = lanes.findIndex((end) => end <= since);
    if (lane < 0) lane = lanes.push(0) - 1;
    lanes[lane] = now;
    const name = `${dev} queue ${q}${lane > 0 ? ` #${lane + 1}` : ''}`;
    this.tracer!.slice(this.tracer!.track('devices', name), since, now, 'request', { queue: q, head, readable: reqLen, written: len });
  }

  /** The cumulative counters one sample holds. */
  private read(): Record<string, number> {
    const m = this.m;
    const v: Record<string, number> = {
      instret: m.totalInstret(),
      exceptions: m.sumHarts(L.H_EXCEPTIONS),
      interrupts: m.sumHarts(L.H_INTERRUPTS),
    };
    for (let h = 0; h < m.harts; h++) v[`hart${h}.instret`] = this.core.hartNum(h, L.H_INSTRET);
    const bus = m.bus.stats();
    for (const [name, r] of Object.entries(bus.regions)) v[`mmio.${name}`] = r.reads + r.writes;
    if (m.mode === 'timing') {
      const s: TlbStats = m.tlbStats();
      v['tlb.accesses'] = s.itlb.accesses + s.dtlb.accesses;
      v['tlb.misses'] = s.itlb.misses + s.dtlb.misses;
      v['tlb.walks'] = s.walks;
      v['tlb.walkRefs'] = s.walkRefs;
    }
    return v;
  }

  private sample(now: number, final: boolean): void {
    const s = final ? this.sampler.take(now) : this.sampler.poll(now);
    if (!s || !s.prev || !this.tracer) return;
    emitCounters(this.tracer, s.prev, s.cur);
  }
}

/** Counter events for the interval between two samples (rates over the actual interval). */
export function emitCounters(t: Tracer, prev: Sample, cur: Sample): void {
  const dt = cur.t - prev.t;
  if (dt <= 0) return;
  const secs = dt / t.cpuHz;
  const d = (k: string) => (cur.v[k] ?? 0) - (prev.v[k] ?? 0);
  // Counters hold from the interval's start: the value is the rate over [prev.t, cur.t].
  if ('instret' in cur.v) t.counter(t.counterTrack('counters', 'MIPS'), prev.t, d('instret') / secs / 1e6);
  if ('exceptions' in cur.v) t.counter(t.counterTrack('counters', 'traps/s'), prev.t, (d('exceptions') + d('interrupts')) / secs);
  if ('tlb.misses' in cur.v) t.counter(t.counterTrack('counters', 'TLB misses'), prev.t, d('tlb.misses'));
  if ('exits' in cur.v) t.counter(t.counterTrack('counters', 'VM exits/s'), prev.t, d('exits') / secs);
  for (const k of Object.keys(cur.v)) {
    if (k.startsWith('mmio.')) {
      // A region nobody has touched yet gets no track (the empty virtio slots, the PCI window).
      const name = `MMIO/s ${k.slice(5)}`;
      if (d(k) !== 0 || t.hasCounter('counters', name)) t.counter(t.counterTrack('counters', name), prev.t, d(k) / secs);
    }
    else if (/^vm\..*\.instructions$/.test(k)) t.counter(t.counterTrack('counters', `MIPS ${k.slice(3, -13)}`), prev.t, d(k) / secs / 1e6);
  }
}

function deviceName(dev: unknown, fallback: string): string {
  const ctor = (dev as { constructor?: { name?: string } } | undefined)?.constructor?.name;
  const kind: Record<string, string> = {
    VirtioBlk: 'virtio-blk',
    VirtioNet: 'virtio-net',
    VirtioRng: 'virtio-rng',
    VirtioConsole: 'virtio-console',
    VirtioBalloon: 'virtio-balloon',
  };
  const base = fallback.replace(/^virtio-mmio@/, '');
  return ctor && kind[ctor] ? `${kind[ctor]}@${base}` : fallback;
}
