/**
 * Cycle-based discrete event queue (GUIDE §7: time is events, not ticks).
 *
 * Modelled on gem5's EventQueue: events are reusable member objects created once
 * (EventFunctionWrapper) and moved with schedule/deschedule/reschedule. The queue is a binary
 * min-heap keyed by (when, priority, sequence); `sequence` is stamped at each (re)schedule, so
 * events due at the same cycle with the same priority fire in the order they were scheduled.
 * Each event remembers its heap index, so cancel and reschedule are O(log n) without searching.
 *
 * The core runs to min(budget, nextDeadline()), then calls runDue(now).
 */
import type { Scheduler, SimEvent } from './bus/types.js';

export interface SchedulerStats {
  /** Times an event was put on the queue (schedule, or reschedule of any event). */
  scheduled: number;
  fired: number;
  /** Times a scheduled event was taken off the queue by cancel (not by firing). */
  cancelled: number;
  /** Events on the queue right now. */
  pending: number;
  firedByName: Record<string, number>;
}

/** EventScheduler.saveState(): the queue as plain data. */
export interface SchedulerState {
  seq: number;
  scheduled: number;
  fired: number;
  cancelled: number;
  events: Array<{ name: string; when: number; seq: number; fired: number }>;
}

/** The scheduler's event object. Fields are public for the scheduler only; others see SimEvent. */
class SchedEvent implements SimEvent {
  when = -1;
  /** Position in the heap, or -1 when not scheduled. */
  index = -1;
  seq = 0;
  /** Times fired; summed per name by stats() so firing needs no map lookup. */
  fired = 0;
  constructor(
    readonly owner: EventScheduler,
    readonly name: string,
    readonly fire: (due: number) => void,
    readonly priority: number,
  ) {}
  get scheduled(): boolean {
    return this.index >= 0;
  }
}

/** Heap order: earlier when, then lower priority, then earlier sequence. */
function before(a: SchedEvent, b: SchedEvent): boolean {
  if (a.when !== b.when) return a.when < b.when;
  if (a.priority !== b.priority) return a.priority < b.priority;
  return a.seq < b.seq;
}

export class EventScheduler implements Scheduler {
  /**
   * Called when the earliest deadline may have moved earlier (after schedule/reschedule put an
   * event at the head), so a running core can stop at the new deadline.
   */
  onDeadlineChange?: (deadline: number) => void;

  private heap: SchedEvent[] = [];
  private events: SchedEvent[] = [];
  private seq = 0;
  private nScheduled = 0;
  private nFired = 0;
  private nCancelled = 0;

  createEvent(name: string, fire: (due: number) => void, priority = 0): SimEvent {
    if (!Number.isFinite(priority)) throw new Error(`event '${name}': priority must be a finite number`);
    const ev = new SchedEvent(this, name, fire, priority);
    this.events.push(ev);
    return ev;
  }

  schedule(ev: SimEvent, atCycle: number): void {
    const e = this.own(ev);
    if (e.index >= 0) throw new Error(`event '${e.name}' is already scheduled at cycle ${e.when}`);
    checkCycle(e, atCycle);
    e.when = atCycle;
    e.seq = this.seq++;
    e.index = this.heap.length;
    this.heap.push(e);
    this.siftUp(e.index);
    this.nScheduled++;
    if (e.index === 0) this.onDeadlineChange?.(atCycle);
  }

  cancel(ev: SimEvent): void {
    const e = this.own(ev);
    if (e.index < 0) return;
    this.remove(e);
    this.nCancelled++;
  }

  reschedule(ev: SimEvent, atCycle: number): void {
    const e = this.own(ev);
    if (e.index < 0) {
      this.schedule(e, atCycle);
      return;
    }
    checkCycle(e, atCycle);
    const old = e.when;
    e.when = atCycle;
    // A moved event goes after others already at its new (when, priority), like gem5.
    e.seq = this.seq++;
    if (atCycle < old) this.siftUp(e.index);
    else this.siftDown(e.index);
    this.nScheduled++;
    if (e.index === 0) this.onDeadlineChange?.(atCycle);
  }

  nextDeadline(): number {
    return this.heap.length > 0 ? this.heap[0].when : Infinity;
  }

  /**
   * Fire, in (when, priority, sequence) order, every event due at or before `now`, including
   * events that callbacks schedule at or before `now` during this call. Each event is taken off
   * the queue before its callback runs, so the callback may schedule it again. A callback that
   * keeps rescheduling itself at <= now never lets this return; that is a device bug.
   */
  runDue(now: number): number {
    const heap = this.heap;
    let n = 0;
    while (heap.length > 0 && heap[0].when <= now) {
      const e = heap[0];
      const due = e.when;
      this.popHead();
      e.when = -1;
      e.fired++;
      this.nFired++;
      n++;
      e.fire(due);
    }
    return n;
  }

  /** Take every event off the queue (machine reset). Events stay usable. */
  clear(): void {
    for (const e of this.heap) {
      e.index = -1;
      e.when = -1;
    }
    this.heap.length = 0;
  }

  /** Number of events currently scheduled. */
  get pending(): number {
    return this.heap.length;
  }

  stats(): SchedulerStats {
    const firedByName: Record<string, number> = {};
    for (const e of this.events) {
      if (e.fired > 0) firedByName[e.name] = (firedByName[e.name] ?? 0) + e.fired;
    }
    return {
      scheduled: this.nScheduled,
      fired: this.nFired,
      cancelled: this.nCancelled,
      pending: this.heap.length,
      firedByName,
    };
  }

  resetStats(): void {
    this.nScheduled = this.nFired = this.nCancelled = 0;
    for (const e of this.events) e.fired = 0;
  }

  // ---------------------------------------------------------------- snapshots

  /**
   * The queue as plain data (snapshots, issue 12): every event by creation index (the same board
   * creates the same events in the same order), its due cycle (-1: not scheduled), sequence stamp
   * and fire count, plus the counters. Restoring it gives the same firing order, ties included.
   */
  saveState(): SchedulerState {
    return {
      seq: this.seq,
      scheduled: this.nScheduled,
      fired: this.nFired,
      cancelled: this.nCancelled,
      events: this.events.map((e) => ({ name: e.name, when: e.index >= 0 ? e.when : -1, seq: e.seq, fired: e.fired })),
    };
  }

  /** Why `s` cannot be loaded into this scheduler (a different set of events), or null. */
  checkState(s: SchedulerState): string | null {
    if (!s || !Array.isArray(s.events) || s.events.length !== this.events.length) return `it has ${s?.events?.length} events, this machine ${this.events.length}`;
    for (let i = 0; i < s.events.length; i++) {
      const x = s.events[i]!;
      if (x.name !== this.events[i]!.name) return `event ${i} is '${x.name}', here '${this.events[i]!.name}'`;
      if (!(typeof x.when === 'number' && (x.when === -1 || (x.when >= 0 && Number.isFinite(x.when))))) return `event '${x.name}' has a bad due cycle`;
    }
    return null;
  }

  /** Replace the queue with a saved one (checkState first: this throws on a mismatch). */
  loadState(s: SchedulerState): void {
    const why = this.checkState(s);
    if (why !== null) throw new Error(`scheduler state does not fit: ${why}`);
    this.clear();
    for (let i = 0; i < s.events.length; i++) {
      const e = this.events[i]!;
      const x = s.events[i]!;
      e.seq = x.seq;
      e.fired = x.fired;
      if (x.when >= 0) {
        e.when = x.when;
        this.heap.push(e);
      }
    }
    // A sorted array is a heap.
    this.heap.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    this.heap.forEach((e, i) => (e.index = i));
    this.seq = s.seq;
    this.nScheduled = s.scheduled;
    this.nFired = s.fired;
    this.nCancelled = s.cancelled;
  }

  // ---------------------------------------------------------------- heap

  private own(ev: SimEvent): SchedEvent {
    if (!(ev instanceof SchedEvent) || ev.owner !== this) {
      throw new Error(`event '${ev?.name}' was not created by this scheduler`);
    }
    return ev;
  }

  private popHead(): void {
    const heap = this.heap;
    const head = heap[0];
    const last = heap.pop()!;
    head.index = -1;
    if (last !== head) {
      heap[0] = last;
      last.index = 0;
      this.siftDown(0);
    }
  }

  private remove(e: SchedEvent): void {
    const heap = this.heap;
    const i = e.index;
    const last = heap.pop()!;
    e.index = -1;
    e.when = -1;
    if (last !== e) {
      heap[i] = last;
      last.index = i;
      // The moved element may belong above or below position i.
      if (i > 0 && before(last, heap[(i - 1) >> 1])) this.siftUp(i);
      else this.siftDown(i);
    }
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const e = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p];
      if (!before(e, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = p;
    }
    heap[i] = e;
    e.index = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const e = heap[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(heap[r], heap[l]) ? r : l;
      const child = heap[c];
      if (!before(child, e)) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = e;
    e.index = i;
  }
}

function checkCycle(e: SchedEvent, atCycle: number): void {
  // NaN fails every comparison, so test the positive form.
  if (!(atCycle >= 0) || atCycle === Infinity) {
    throw new Error(`event '${e.name}': cycle ${atCycle} must be a finite non-negative number`);
  }
}
