/**
 * SiFive PLIC as on QEMU virt (0x0c00_0000, size 0x60_0000), per the RISC-V PLIC spec 1.0.0:
 *
 *   0x000000 + 4*src            priority[src]   3 bits (0 = never interrupts); src 0 reserved
 *   0x001000 + 4*w              pending bits    read-only
 *   0x002000 + 0x80*ctx + 4*w   enable bits     per context
 *   0x200000 + 0x1000*ctx       threshold       3 bits
 *   0x200004 + 0x1000*ctx       claim/complete
 *
 * Contexts as on QEMU virt ("MS" per hart): context 2h is hart h M-mode → mip.MEIP,
 * context 2h+1 is hart h S-mode → mip.SEIP.
 *
 * Gateways are level-triggered (PLIC spec §5): a high line sets the source's pending bit unless a
 * request from it is already pending or claimed; the gateway stays closed until completion, and
 * completion re-opens it (a line still high pends again). As in the spec, a pending bit stays set
 * if the line drops before claim (QEMU instead mirrors the line into pending; both are legal
 * observations for a driver, which must tolerate a source that no longer needs service).
 *
 * Completion releases the claim whichever context writes it and whether or not the source is
 * enabled there (QEMU does the same; the spec allows ignoring completions for disabled sources,
 * which would only break guests QEMU runs).
 */
import { Irq } from '../src/bus/types.js';
import type { Device, HartIrqSink, IrqLine, MmioRegion } from '../src/bus/types.js';

const PRIORITY_BASE = 0x0;
const PENDING_BASE = 0x1000;
const ENABLE_BASE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT_BASE = 0x20_0000;
const CONTEXT_STRIDE = 0x1000;
const PRIORITY_MASK = 7; // 3 priority bits, as QEMU virt (DT riscv,max-priority = 7)
const SIZE = 0x60_0000;
/** The spec's maximum: 1024 sources (32 words of pending/enable bits). */
const MAX_SOURCES = 1024;

export interface PlicOptions {
  bus: { addMmio(r: MmioRegion): void };
  base: number;
  harts: number;
  irq: HartIrqSink;
  /** Number of source ids including reserved 0 (QEMU virt: 96, DT riscv,ndev = 95). */
  numSources?: number;
  name?: string;
  /**
   * 'MS' (default, QEMU virt): context 2h drives hart h's MEIP, 2h+1 its SEIP. 'S' (a VM's PLIC,
   * as QEMU virt's under KVM): one context per hart, context h drives hart h's SEIP.
   */
  contexts?: 'MS' | 'S';
}

export interface PlicState {
  priority: number[];
  pending: number[];
  claimed: number[];
  enable: number[];
  threshold: number[];
  level: number[];
  output: boolean[];
  claims: number[];
  completes: number[];
}

export class Plic implements Device {
  readonly name: string;
  readonly numSources: number;
  readonly contexts: number;
  /** One S-mode context per hart (PlicOptions.contexts 'S'). */
  private readonly sOnly: boolean;
  /** Per source id: successful claims and completions. */
  claims: number[];
  completes: number[];
  /** Observes source line changes (raised / cleared) for --trace-out; null = none. */
  onLevel: ((source: number, high: boolean) => void) | null = null;

  private readonly irq: HartIrqSink;
  private readonly words: number;
  private priority: Uint8Array;
  /** Bitmaps, `words` 32-bit words each (enable: one bitmap per context). */
  private pending: Uint32Array;
  private claimed: Uint32Array;
  private enable: Uint32Array;
  private threshold: Uint8Array;
  /** Current level of each source line. */
  private level: Uint8Array;
  /** Current value of each context's output (mip.MEIP / mip.SEIP). */
  private output: boolean[];
  private lines: IrqLine[] = [];

  constructor(opts: PlicOptions) {
    this.name = opts.name ?? 'plic';
    const n = opts.numSources ?? 96;
    if (!Number.isInteger(n) || n < 2 || n > MAX_SOURCES) {
      throw new Error(`${this.name}: numSources must be an integer in 2..${MAX_SOURCES}, got ${n}`);
    }
    this.sOnly = opts.contexts === 'S';
    const contexts = (this.sOnly ? 1 : 2) * opts.harts;
    if (!Number.isInteger(opts.harts) || opts.harts < 1 || CONTEXT_BASE + contexts * CONTEXT_STRIDE > SIZE) {
      throw new Error(`${this.name}: harts must be an integer in 1..${(SIZE - CONTEXT_BASE) / CONTEXT_STRIDE / 2}`);
    }
    this.numSources = n;
    this.contexts = contexts;
    this.irq = opts.irq;
    this.words = (n + 31) >>> 5;
    this.priority = new Uint8Array(n);
    this.pending = new Uint32Array(this.words);
    this.claimed = new Uint32Array(this.words);
    this.enable = new Uint32Array(this.words * contexts);
    this.threshold = new Uint8Array(contexts);
    this.level = new Uint8Array(n);
    this.output = new Array<boolean>(contexts).fill(false);
    this.claims = new Array<number>(n).fill(0);
    this.completes = new Array<number>(n).fill(0);
    opts.bus.addMmio({
      name: this.name,
      base: opts.base,
      size: SIZE,
      valid: { min: 4, max: 4 },
      impl: { min: 4, max: 4 },
      read: (offset) => this.readReg(offset),
      write: (offset, _size, value) => this.writeReg(offset, value >>> 0),
    });
  }

  /** The interrupt line for source `source` (1..numSources-1), for a device to drive. */
  irqLine(source: number): IrqLine {
    if (!Number.isInteger(source) || source < 1 || source >= this.numSources) {
      throw new Error(`${this.name}: source ${source} outside 1..${this.numSources - 1}`);
    }
    return (this.lines[source] ??= { set: (level: boolean) => this.setLevel(source, level) });
  }

  /** Registers clear; line levels are the devices' and survive (a high line pends again). */
  reset(): void {
    this.priority.fill(0);
    this.pending.fill(0);
    this.claimed.fill(0);
    this.enable.fill(0);
    this.threshold.fill(0);
    for (let s = 1; s < this.numSources; s++) if (this.level[s]) this.setBit(this.pending, s);
    this.update();
  }

  // ---------------------------------------------------------------- gateway

  private setLevel(src: number, high: boolean): void {
    if (this.onLevel !== null && this.level[src] !== (high ? 1 : 0)) this.onLevel(src, high);
    this.level[src] = high ? 1 : 0;
    // Gateway open = no request from this source is pending or in service.
    if (high && !this.bit(this.pending, src) && !this.bit(this.claimed, src)) {
      this.setBit(this.pending, src);
      this.update();
    }
  }

  private bit(map: Uint32Array, src: number, wordOffset = 0): boolean {
    return ((map[wordOffset + (src >>> 5)] >>> (src & 31)) & 1) !== 0;
  }

  private setBit(map: Uint32Array, src: number): void {
    map[src >>> 5] |= 1 << (src & 31);
  }

  private clearBit(map: Uint32Array, src: number): void {
    map[src >>> 5] &= ~(1 << (src & 31));
  }

  // ---------------------------------------------------------------- registers

  private readReg(off: number): number {
    if (off < PENDING_BASE) {
      const src = (off - PRIORITY_BASE) >>> 2;
      return src < this.numSources ? this.priority[src] : 0;
    }
    if (off < ENABLE_BASE) {
      const w = (off - PENDING_BASE) >>> 2;
      return w < this.words ? this.pending[w] : 0;
    }
    if (off < CONTEXT_BASE) {
      const ctx = Math.floor((off - ENABLE_BASE) / ENABLE_STRIDE);
      const w = ((off - ENABLE_BASE) % ENABLE_STRIDE) >>> 2;
      return ctx < this.contexts && w < this.words ? this.enable[ctx * this.words + w] : 0;
    }
    const ctx = Math.floor((off - CONTEXT_BASE) / CONTEXT_STRIDE);
    const reg = (off - CONTEXT_BASE) % CONTEXT_STRIDE;
    if (ctx >= this.contexts) return 0;
    if (reg === 0) return this.threshold[ctx];
    if (reg === 4) return this.claim(ctx);
    return 0;
  }

  private writeReg(off: number, value: number): void {
    if (off < PENDING_BASE) {
      const src = (off - PRIORITY_BASE) >>> 2;
      if (src >= 1 && src < this.numSources) {
        this.priority[src] = value & PRIORITY_MASK;
        this.update();
      }
      return;
    }
    if (off < ENABLE_BASE) return; // pending bits are read-only (spec §4)
    if (off < CONTEXT_BASE) {
      const ctx = Math.floor((off - ENABLE_BASE) / ENABLE_STRIDE);
      const w = ((off - ENABLE_BASE) % ENABLE_STRIDE) >>> 2;
      if (ctx < this.contexts && w < this.words) {
        this.enable[ctx * this.words + w] = value & this.validMask(w);
        this.update();
      }
      return;
    }
    const ctx = Math.floor((off - CONTEXT_BASE) / CONTEXT_STRIDE);
    const reg = (off - CONTEXT_BASE) % CONTEXT_STRIDE;
    if (ctx >= this.contexts) return;
    if (reg === 0) {
      this.threshold[ctx] = value & PRIORITY_MASK;
      this.update();
    } else if (reg === 4) {
      this.complete(value);
    }
  }

  /** Bits of word `w` that name real sources (source 0 and ids >= numSources are hardwired 0). */
  private validMask(w: number): number {
    let m = 0xffff_ffff;
    if (w === 0) m &= ~1;
    const top = this.numSources - (w << 5); // valid bits in this word
    if (top < 32) m &= (1 << top) - 1;
    return m >>> 0;
  }

  /**
   * Spec §7: the claim returns the id of the highest-priority pending interrupt enabled for the
   * context with priority above its threshold (ties: lowest id), clears its pending bit and
   * marks it in service; 0 when there is none.
   */
  private claim(ctx: number): number {
    const src = this.best(ctx);
    if (src !== 0) {
      this.clearBit(this.pending, src);
      this.setBit(this.claimed, src);
      this.claims[src]++;
      this.update();
    }
    return src;
  }

  /** Spec §8: writing the claimed id completes it and re-opens the gateway. */
  private complete(src: number): void {
    if (src < 1 || src >= this.numSources || !this.bit(this.claimed, src)) return;
    this.clearBit(this.claimed, src);
    this.completes[src]++;
    if (this.level[src]) this.setBit(this.pending, src);
    this.update();
  }

  /** Highest-priority enabled pending source above the context's threshold, or 0. */
  private best(ctx: number): number {
    let bestSrc = 0;
    let bestPrio = this.threshold[ctx];
    const base = ctx * this.words;
    for (let w = 0; w < this.words; w++) {
      let bits = this.pending[w] & this.enable[base + w];
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits); // lowest set bit first → ties go to lowest id
        bits &= bits - 1;
        const src = (w << 5) | b;
        const p = this.priority[src];
        if (p > bestPrio) {
          bestPrio = p;
          bestSrc = src;
        }
      }
    }
    return bestSrc;
  }

  /** Recompute every context's output and drive mip only where it changed. */
  private update(): void {
    for (let ctx = 0; ctx < this.contexts; ctx++) {
      const level = this.best(ctx) !== 0;
      if (level !== this.output[ctx]) {
        this.output[ctx] = level;
        if (this.sOnly) this.irq.setPending(ctx, Irq.SEIP, level);
        else this.irq.setPending(ctx >>> 1, ctx & 1 ? Irq.SEIP : Irq.MEIP, level);
      }
    }
  }

  // ---------------------------------------------------------------- snapshots

  getState(): PlicState {
    return {
      priority: Array.from(this.priority),
      pending: Array.from(this.pending),
      claimed: Array.from(this.claimed),
      enable: Array.from(this.enable),
      threshold: Array.from(this.threshold),
      level: Array.from(this.level),
      output: this.output.slice(),
      claims: this.claims.slice(),
      completes: this.completes.slice(),
    };
  }

  /** Restore, then re-drive every context's output once so mip matches. */
  setState(state: unknown): void {
    const s = state as PlicState;
    if (s.priority.length !== this.numSources || s.threshold.length !== this.contexts) {
      throw new Error(`${this.name}: state shape does not match this PLIC`);
    }
    this.priority.set(s.priority);
    this.pending.set(s.pending);
    this.claimed.set(s.claimed);
    this.enable.set(s.enable);
    this.threshold.set(s.threshold);
    this.level.set(s.level);
    this.claims = s.claims.slice();
    this.completes = s.completes.slice();
    for (let ctx = 0; ctx < this.contexts; ctx++) {
      this.output[ctx] = s.output[ctx];
      // The same context → (hart, bit) map as update(): with S-only contexts (a VM's PLIC) context
      // h is hart h's SEIP, not (h >> 1, M/S).
      if (this.sOnly) this.irq.setPending(ctx, Irq.SEIP, this.output[ctx]);
      else this.irq.setPending(ctx >>> 1, ctx & 1 ? Irq.SEIP : Irq.MEIP, this.output[ctx]);
    }
  }
}
