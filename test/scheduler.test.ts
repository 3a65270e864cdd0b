import { describe, expect, it } from 'vitest';
import { EventScheduler } from '../src/scheduler.js';

describe('EventScheduler', () => {
  it('fires in order of when, then priority, then insertion', () => {
    const s = new EventScheduler();
    const log: string[] = [];
    const mk = (name: string, prio = 0) => s.createEvent(name, (due) => log.push(`${name}@${due}`), prio);
    const a = mk('a');
    const b = mk('b', 5);
    const c = mk('c', -1);
    const d = mk('d');
    const e = mk('e');
    s.schedule(e, 30);
    s.schedule(a, 20);
    s.schedule(b, 20);
    s.schedule(c, 20);
    s.schedule(d, 20);
    expect(s.nextDeadline()).toBe(20);
    expect(s.runDue(19)).toBe(0);
    expect(s.runDue(25)).toBe(4);
    expect(log).toEqual(['c@20', 'a@20', 'd@20', 'b@20']);
    expect(s.nextDeadline()).toBe(30);
    expect(s.runDue(100)).toBe(1);
    expect(log.at(-1)).toBe('e@30');
    expect(s.nextDeadline()).toBe(Infinity);
  });

  it('keeps heap order across many random operations', () => {
    const s = new EventScheduler();
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const fired: [number, number, number][] = [];
    const evs = Array.from({ length: 200 }, (_, i) =>
      s.createEvent(`e${i}`, (due) => fired.push([due, i % 3, i]), i % 3),
    );
    for (let k = 0; k < 2000; k++) {
      const ev = evs[rnd(evs.length)];
      const op = rnd(3);
      if (op === 0) s.reschedule(ev, rnd(1000));
      else if (op === 1) s.cancel(ev);
      else if (!ev.scheduled) s.schedule(ev, rnd(1000));
    }
    const expected = evs.filter((e) => e.scheduled).map((e) => e.when).sort((x, y) => x - y);
    s.runDue(1000);
    expect(fired.map((f) => f[0])).toEqual(expected);
    for (let i = 1; i < fired.length; i++) {
      const [w0, p0] = fired[i - 1];
      const [w1, p1] = fired[i];
      expect(w0 < w1 || (w0 === w1 && p0 <= p1)).toBe(true);
    }
  });

  it('refuses double scheduling and bad cycles; cancel is a no-op when idle', () => {
    const s = new EventScheduler();
    const ev = s.createEvent('x', () => {});
    expect(ev.scheduled).toBe(false);
    expect(ev.when).toBe(-1);
    s.schedule(ev, 10);
    expect(ev.scheduled).toBe(true);
    expect(ev.when).toBe(10);
    expect(() => s.schedule(ev, 11)).toThrow(/already scheduled/);
    const other = s.createEvent('y', () => {});
    expect(() => s.schedule(other, NaN)).toThrow(/cycle/);
    expect(() => s.schedule(other, -1)).toThrow(/cycle/);
    expect(() => s.reschedule(ev, NaN)).toThrow(/cycle/);
    expect(() => s.schedule(other, Infinity)).toThrow(/cycle/);
    s.cancel(other);
    s.cancel(ev);
    s.cancel(ev);
    expect(ev.scheduled).toBe(false);
    expect(s.nextDeadline()).toBe(Infinity);
    expect(s.stats()).toMatchObject({ scheduled: 1, fired: 0, cancelled: 1 });
  });

  it('refuses events from another scheduler', () => {
    const s1 = new EventScheduler();
    const s2 = new EventScheduler();
    const ev = s1.createEvent('x', () => {});
    expect(() => s2.schedule(ev, 1)).toThrow(/not created by this scheduler/);
  });

  it('reschedule moves an event earlier or later, or schedules it', () => {
    const s = new EventScheduler();
    const log: string[] = [];
    const a = s.createEvent('a', () => log.push('a'));
    const b = s.createEvent('b', () => log.push('b'));
    s.reschedule(a, 50); // schedules
    s.schedule(b, 40);
    s.reschedule(a, 10);
    expect(s.nextDeadline()).toBe(10);
    s.reschedule(a, 60);
    expect(s.nextDeadline()).toBe(40);
    s.runDue(60);
    expect(log).toEqual(['b', 'a']);
  });

  it('a moved event goes after others already at the same time and priority', () => {
    const s = new EventScheduler();
    const log: string[] = [];
    const a = s.createEvent('a', () => log.push('a'));
    const b = s.createEvent('b', () => log.push('b'));
    s.schedule(a, 5);
    s.schedule(b, 5);
    s.reschedule(a, 5);
    s.runDue(5);
    expect(log).toEqual(['b', 'a']);
  });

  it('cancel from the middle keeps the rest in order', () => {
    const s = new EventScheduler();
    const log: number[] = [];
    const evs = [50, 10, 40, 20, 30, 60, 5].map((w) => {
      const e = s.createEvent(`e${w}`, (due) => log.push(due));
      s.schedule(e, w);
      return e;
    });
    s.cancel(evs[3]); // 20
    s.cancel(evs[6]); // 5 (the head)
    expect(s.nextDeadline()).toBe(10);
    s.runDue(1000);
    expect(log).toEqual([10, 30, 40, 50, 60]);
  });

  it('callbacks may reschedule themselves; events due by `now` fire in the same call', () => {
    const s = new EventScheduler();
    const dues: number[] = [];
    const tick = s.createEvent('tick', (due) => {
      dues.push(due);
      s.schedule(tick, due + 7); // unscheduled before the callback, so schedule() is allowed
    });
    s.schedule(tick, 0);
    expect(s.runDue(20)).toBe(3);
    expect(dues).toEqual([0, 7, 14]);
    expect(tick.when).toBe(21);
    expect(s.stats().firedByName).toEqual({ tick: 3 });
  });

  it('an event scheduled by a callback at or before now fires in the same runDue, in order', () => {
    const s = new EventScheduler();
    const log: string[] = [];
    const late = s.createEvent('late', (due) => log.push(`late@${due}`));
    const early = s.createEvent('early', (due) => {
      log.push(`early@${due}`);
      s.schedule(late, 3); // already in the past relative to now=10
    });
    const last = s.createEvent('last', (due) => log.push(`last@${due}`));
    s.schedule(early, 2);
    s.schedule(last, 8);
    expect(s.runDue(10)).toBe(3);
    expect(log).toEqual(['early@2', 'late@3', 'last@8']);
  });

  it('a callback cancelling another due event stops it from firing', () => {
    const s = new EventScheduler();
    const log: string[] = [];
    const b = s.createEvent('b', () => log.push('b'));
    const a = s.createEvent('a', () => {
      log.push('a');
      s.cancel(b);
    });
    s.schedule(a, 1);
    s.schedule(b, 2);
    expect(s.runDue(5)).toBe(1);
    expect(log).toEqual(['a']);
  });

  it('calls onDeadlineChange when the earliest deadline moves earlier', () => {
    const s = new EventScheduler();
    const seen: number[] = [];
    s.onDeadlineChange = (d) => seen.push(d);
    const a = s.createEvent('a', () => {});
    const b = s.createEvent('b', () => {});
    s.schedule(a, 100);
    s.schedule(b, 200); // later: no call
    s.reschedule(b, 50);
    s.reschedule(a, 300); // later: no call
    expect(seen).toEqual([100, 50]);
  });

  it('reports stats, firedByName summed per name, and clears', () => {
    const s = new EventScheduler();
    const x1 = s.createEvent('x', () => {});
    const x2 = s.createEvent('x', () => {});
    const y = s.createEvent('y', () => {});
    s.schedule(x1, 1);
    s.schedule(x2, 2);
    s.schedule(y, 3);
    s.reschedule(y, 4);
    s.runDue(2);
    expect(s.stats()).toEqual({ scheduled: 4, fired: 2, cancelled: 0, pending: 1, firedByName: { x: 2 } });
    s.clear();
    expect(y.scheduled).toBe(false);
    expect(s.nextDeadline()).toBe(Infinity);
    s.schedule(y, 1); // usable after clear
    expect(s.runDue(1)).toBe(1);
    s.resetStats();
    expect(s.stats()).toEqual({ scheduled: 0, fired: 0, cancelled: 0, pending: 0, firedByName: {} });
  });
});
