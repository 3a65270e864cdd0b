/**
 * Host packets enter virtual time at slice boundaries (issue 13, docs/NETWORK.md): a host backend
 * (HostPolled, as the user network is) that wakes a paced, idle guest is polled at the next slice,
 * after the guest's clock moved to the wall time the host data came — not at the next guest timer,
 * and not at the time the guest went to sleep. The guest is test/guests/idle.c (timer deadlines
 * 100 ms of guest time apart, WFI in between).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VirtMachine } from '../src/board/virt.js';
import type { HostPolled } from '../src/net/link.js';
import { ROOT } from './helpers/guests.js';

const IDLE = readFileSync(join(ROOT, 'test', 'guests', 'bin', 'idle.elf'));

describe('host work in a paced run', () => {
  it('a wake-up at 250 ms of wall time is polled with the guest clock at ~250 ms', async () => {
    const m = new VirtMachine();
    m.loadElf(IDLE, 'idle.elf');
    const polls: number[] = [];
    let pending = false;
    const backend: HostPolled = {
      wake: () => {},
      poll: () => {
        if (!pending) return;
        pending = false;
        polls.push(m.core.cycles);
      },
      close: () => {},
    };
    m.attachHostSocket(backend);
    expect(m.paceByDefault(false)).toBe(true); // a host socket makes pacing the default
    const t0 = performance.now();
    setTimeout(() => {
      pending = true;
      backend.wake();
    }, 250);
    const r = await m.runAsync({ pace: true });
    expect(r).toEqual({ reason: 'exit', code: 0 });
    expect(m.outputText()).toContain('idle ok');
    expect(performance.now() - t0).toBeGreaterThan(700); // paced: ~0.8 s
    expect(polls).toHaveLength(1);
    const ms = (polls[0] / m.timing.cpuHz) * 1000;
    // Between tick 2 (200 ms) and tick 3 (300 ms): the wall time of the wake-up (a late timer on a
    // busy host moves it later, but never past the next guest event, tick 3). Without the clock
    // move the poll saw 200 ms: the time the guest went to sleep.
    expect(ms).toBeGreaterThan(220);
    expect(ms).toBeLessThanOrEqual(300);
  });
});
