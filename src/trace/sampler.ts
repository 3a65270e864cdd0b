/**
 * Periodic samples of cumulative run statistics over virtual time, taken by the host between
 * core.run() calls (never through a scheduled event: that would move the deadlines the core runs
 * to, and SMP round boundaries, and so change guest results). A sample is taken at the first
 * run() return at or after each period boundary, so its time is that return's clock; rates are
 * computed over the actual interval between two samples.
 */

export interface Sample {
  /** Virtual time of the sample, in cycles. */
  t: number;
  /** Cumulative counters at that time (instructions, traps, per-VM counts, ...). */
  v: Record<string, number>;
}

/** Samples kept at most; beyond it, every other one is dropped and the period doubles. */
const MAX_SAMPLES = 4096;

export class Sampler {
  readonly samples: Sample[] = [];
  private next: number;

  constructor(
    public period: number,
    private readonly read: () => Record<string, number>,
  ) {
    if (!(period > 0)) throw new Error('Sampler: period must be positive');
    this.next = 0;
  }

  /** Take a sample if `now` reached the next boundary; returns it (and the previous one) or null. */
  poll(now: number): { cur: Sample; prev: Sample | null } | null {
    if (now < this.next) return null;
    return this.take(now);
  }

  /** Take a sample now (the run's end). */
  take(now: number): { cur: Sample; prev: Sample | null } {
    const prev = this.samples.length > 0 ? this.samples[this.samples.length - 1]! : null;
    if (prev && prev.t === now) return { cur: prev, prev: this.samples.length > 1 ? this.samples[this.samples.length - 2]! : null };
    const cur = { t: now, v: this.read() };
    this.samples.push(cur);
    this.next = Math.max(this.next + this.period, now + 1);
    if (this.samples.length > MAX_SAMPLES) this.decimate();
    return { cur, prev };
  }

  private decimate(): void {
    const kept = this.samples.filter((_, i) => i % 2 === 0 || i === this.samples.length - 1);
    this.samples.length = 0;
    this.samples.push(...kept);
    this.period *= 2;
  }
}
