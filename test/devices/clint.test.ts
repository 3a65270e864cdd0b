import { describe, expect, it } from 'vitest';
import { Clint } from '../../devices/clint.js';
import { Bus } from '../../src/bus/registry.js';
import { BusStatus, Irq } from '../../src/bus/types.js';
import { EventScheduler } from '../../src/scheduler.js';
import { FakeBus, FakeClock, FakeHartIrq, viaJson } from '../helpers/fakes.js';

const BASE = 0x0200_0000;
const MTIMECMP = 0x4000;
const MTIME = 0xbff8;
const ALL_ONES = (1n << 64n) - 1n;

function setup(cpuHz = 100_000_000, harts = 2, timebaseHz = 10_000_000) {
  const bus = new FakeBus();
  const clock = new FakeClock(cpuHz);
  const scheduler = new EventScheduler();
  const irq = new FakeHartIrq();
  const clint = new Clint({ bus, base: BASE, harts, clock, scheduler, irq, timebaseHz });
  const write64 = (off: number, v: bigint) => {
    bus.write(off, Number(v & 0xffffffffn));
    bus.write(off + 4, Number(v >> 32n));
  };
  const read64 = (off: number) => BigInt(bus.read(off)) | (BigInt(bus.read(off + 4)) << 32n);
  /** Run the machine like the core glue: clock to `cycle`, then fire what is due. */
  const runTo = (cycle: number) => {
    clock.cycles = cycle;
    return scheduler.runDue(cycle);
  };
  return { bus, clock, scheduler, irq, clint, write64, read64, runTo };
}

describe('Clint construction', () => {
  it('derives cyclesPerTick and refuses non-integer ratios', () => {
    expect(setup(100_000_000).clint.cyclesPerTick).toBe(10);
    expect(setup(10_000_000).clint.cyclesPerTick).toBe(1);
    expect(() => setup(25_000_000)).toThrow(/integer multiple/);
    expect(() => setup(1_000_000)).toThrow(/integer multiple/);
    expect(() => setup(100_000_000, 1, 0)).toThrow(/integer multiple/);
  });

  it('registers one 64 KiB region with 4..8-byte guest widths', () => {
    const { bus } = setup();
    expect(bus.region()).toMatchObject({ name: 'clint', base: BASE, size: 0x10000, valid: { min: 4, max: 8 } });
  });
});

describe('Clint mtime', () => {
  it('is floor(cycle / cyclesPerTick) read as two 32-bit halves', () => {
    const { clock, clint, read64 } = setup();
    for (const [cycle, ticks] of [
      [0, 0n],
      [9, 0n],
      [10, 1n],
      [12_345, 1234n],
      [2 ** 40 + 5, BigInt(Math.floor((2 ** 40 + 5) / 10))],
    ] as const) {
      clock.cycles = cycle;
      expect(read64(MTIME)).toBe(ticks);
      expect(clint.mtime()).toBe(ticks);
    }
  });

  it('a guest write moves the offset, keeps ticking from there, and notifies onTimeChange', () => {
    const { clock, clint, write64, read64, bus } = setup();
    let changes = 0;
    clint.onTimeChange = () => changes++;
    clock.cycles = 1005; // mtime 100, mid-tick
    write64(MTIME, 5000n);
    expect(changes).toBe(2); // two 4-byte halves
    expect(clint.offsetTicks()).toBe(4900n);
    expect(read64(MTIME)).toBe(5000n);
    clock.cycles = 1010;
    expect(read64(MTIME)).toBe(5001n);
    // Writing only the high word keeps the low word's current value.
    bus.write(MTIME + 4, 1);
    expect(read64(MTIME)).toBe((1n << 32n) + 5001n);
  });

  it('wraps modulo 2^64', () => {
    const { clock, write64, read64, clint } = setup(10_000_000);
    write64(MTIME, ALL_ONES - 4n);
    clock.cycles = 4;
    expect(read64(MTIME)).toBe(ALL_ONES);
    clock.cycles = 7;
    expect(read64(MTIME)).toBe(2n);
    write64(MTIME, 0n); // backwards: the offset is kept as a uint64
    expect(clint.offsetTicks()).toBe(ALL_ONES - 6n);
    clock.cycles = 8;
    expect(clint.mtime()).toBe(1n);
  });
});

describe('Clint mtimecmp and MTIP', () => {
  it('resets mtimecmp to all ones with no timer pending or scheduled', () => {
    const { read64, scheduler, irq } = setup();
    expect(read64(MTIMECMP)).toBe(ALL_ONES);
    expect(read64(MTIMECMP + 8)).toBe(ALL_ONES);
    expect(scheduler.nextDeadline()).toBe(Infinity);
    expect(irq.calls).toEqual([]);
  });

  for (const cpuHz of [10_000_000, 30_000_000, 100_000_000, 1_000_000_000]) {
    it(`fires at exactly the first cycle with mtime >= mtimecmp (cyclesPerTick ${cpuHz / 1e7})`, () => {
      const { clint, clock, write64, scheduler, irq, runTo } = setup(cpuHz);
      const cpt = clint.cyclesPerTick;
      clock.cycles = 7 * cpt + (cpt > 1 ? 1 : 0); // mid-tick
      write64(MTIMECMP, 50n);
      const deadline = 50 * cpt;
      expect(scheduler.nextDeadline()).toBe(deadline);
      expect(runTo(deadline - 1)).toBe(0);
      expect(clint.mtime()).toBe(49n);
      expect(irq.pending(0, Irq.MTIP)).toBe(false);
      expect(runTo(deadline)).toBe(1);
      expect(clint.mtime()).toBe(50n);
      expect(irq.pending(0, Irq.MTIP)).toBe(true);
      expect(irq.calls).toEqual([{ hart: 0, bit: Irq.MTIP, level: true }]);
      expect(clint.timerInterrupts).toBe(1);
      expect(scheduler.stats().firedByName).toEqual({ 'clint.mtimecmp[0]': 1 });
    });
  }

  it('a mtimecmp at or below mtime raises MTIP at once; a later one clears it and reschedules', () => {
    const { clock, write64, scheduler, irq, runTo } = setup();
    clock.cycles = 1000; // mtime 100
    write64(MTIMECMP, 100n);
    expect(irq.pending(0, Irq.MTIP)).toBe(true);
    expect(scheduler.nextDeadline()).toBe(Infinity);
    write64(MTIMECMP, 150n); // the usual handler: push the comparator forward
    expect(irq.pending(0, Irq.MTIP)).toBe(false);
    expect(scheduler.nextDeadline()).toBe(1500);
    write64(MTIMECMP, ALL_ONES); // "disable" the timer
    expect(scheduler.nextDeadline()).toBe(Infinity);
    expect(runTo(1_000_000)).toBe(0);
    expect(irq.pending(0, Irq.MTIP)).toBe(false);
  });

  it('reschedules after an mtime write, forwards and backwards', () => {
    const { clock, write64, scheduler, irq, runTo } = setup();
    clock.cycles = 1000; // mtime 100
    write64(MTIMECMP, 200n);
    expect(scheduler.nextDeadline()).toBe(2000);
    write64(MTIME, 150n); // offset +50: mtime reaches 200 at cycle 1500
    expect(scheduler.nextDeadline()).toBe(1500);
    expect(runTo(1499)).toBe(0);
    expect(runTo(1500)).toBe(1);
    expect(irq.pending(0, Irq.MTIP)).toBe(true);
    write64(MTIME, 0n); // back in time: MTIP drops, due again 200 ticks from now
    expect(irq.pending(0, Irq.MTIP)).toBe(false);
    expect(scheduler.nextDeadline()).toBe(1500 + 2000);
    write64(MTIME, 500n); // past the comparator: pending at once
    expect(irq.pending(0, Irq.MTIP)).toBe(true);
    expect(scheduler.nextDeadline()).toBe(Infinity);
  });

  it('keeps per-hart comparators and events independent', () => {
    const { write64, scheduler, irq, runTo, read64 } = setup(100_000_000, 3);
    write64(MTIMECMP + 8, 30n);
    write64(MTIMECMP + 16, 20n);
    expect(read64(MTIMECMP + 8)).toBe(30n);
    expect(read64(MTIMECMP)).toBe(ALL_ONES);
    runTo(200);
    expect([0, 1, 2].map((h) => irq.pending(h, Irq.MTIP))).toEqual([false, false, true]);
    runTo(300);
    expect([0, 1, 2].map((h) => irq.pending(h, Irq.MTIP))).toEqual([false, true, true]);
    expect(scheduler.stats().firedByName).toEqual({ 'clint.mtimecmp[1]': 1, 'clint.mtimecmp[2]': 1 });
  });

  it('leaves deadlines beyond 2^53 cycles unscheduled', () => {
    const { write64, scheduler } = setup(1_000_000_000);
    write64(MTIMECMP, 1n << 60n);
    expect(scheduler.nextDeadline()).toBe(Infinity);
  });
});

describe('Clint msip', () => {
  it('bit 0 drives mip.MSIP of the addressed hart; other bits read 0', () => {
    const { bus, irq, clint } = setup();
    bus.write(4, 0xffff_ffff);
    expect(bus.read(4)).toBe(1);
    expect(bus.read(0)).toBe(0);
    expect(irq.calls).toEqual([{ hart: 1, bit: Irq.MSIP, level: true }]);
    bus.write(4, 1); // no change: not driven again
    bus.write(4, 2); // bit 0 clear
    expect(irq.calls.at(-1)).toEqual({ hart: 1, bit: Irq.MSIP, level: false });
    expect(irq.calls).toHaveLength(2);
    expect(clint.msipWrites).toBe(3);
    bus.write(8, 1); // hart 2 does not exist
    expect(bus.read(8)).toBe(0);
    expect(irq.calls).toHaveLength(2);
  });
});

describe('Clint through a real Bus', () => {
  it('accepts 8-byte mtimecmp/mtime accesses split in two, refuses 1-byte ones', () => {
    const bus = new Bus();
    const clock = new FakeClock(100_000_000);
    const scheduler = new EventScheduler();
    const irq = new FakeHartIrq();
    new Clint({ bus, base: BASE, harts: 1, clock, scheduler, irq });
    clock.cycles = 123_456;
    expect(bus.read(BASE + MTIME, 8)).toBe(BusStatus.Ok);
    expect(bus.dataLo).toBe(12_345);
    expect(bus.dataHi).toBe(0);
    expect(bus.write(BASE + MTIMECMP, 8, 0x0000_0010, 0x0000_0001)).toBe(BusStatus.Ok);
    expect(bus.read(BASE + MTIMECMP, 8)).toBe(BusStatus.Ok);
    expect([bus.dataLo, bus.dataHi]).toEqual([0x10, 1]);
    expect(scheduler.nextDeadline()).toBe((2 ** 32 + 16) * 10);
    expect(bus.read(BASE + MTIME, 1)).toBe(BusStatus.AccessFault);
    expect(bus.write(BASE + MTIME + 2, 4, 0, 0)).toBe(BusStatus.AccessFault);
    expect(bus.stats().unmappedReads + bus.stats().unmappedWrites).toBe(2);
  });
});

describe('Clint snapshots and reset', () => {
  it('round-trips through JSON: same registers, same deadline, same MTIP behaviour', () => {
    const a = setup();
    a.clock.cycles = 1000;
    a.write64(MTIME, 1n << 40n);
    a.write64(MTIMECMP, (1n << 40n) + 70n);
    a.write64(MTIMECMP + 8, 5n); // hart 1 pending now
    a.bus.write(0, 1);
    const state = viaJson(a.clint.getState());

    const b = setup();
    b.clock.cycles = 1000;
    b.clint.setState(state);
    expect(b.clint.getState()).toEqual(a.clint.getState());
    expect(b.clint.mtime()).toBe(a.clint.mtime());
    expect(b.scheduler.nextDeadline()).toBe(a.scheduler.nextDeadline());
    expect(b.scheduler.nextDeadline()).toBe(1700);
    expect(b.irq.pending(0, Irq.MSIP)).toBe(true);
    expect(b.irq.pending(1, Irq.MTIP)).toBe(true);
    expect(b.irq.pending(0, Irq.MTIP)).toBe(false);
    b.runTo(1700);
    expect(b.irq.pending(0, Irq.MTIP)).toBe(true);
  });

  it('reset clears mtime and msip, restores mtimecmp and drops MTIP', () => {
    const { clint, clock, write64, read64, irq, scheduler, bus } = setup();
    clock.cycles = 5000;
    write64(MTIMECMP, 10n);
    bus.write(0, 1);
    expect(irq.pending(0, Irq.MTIP)).toBe(true);
    clint.reset();
    expect(read64(MTIME)).toBe(0n);
    expect(read64(MTIMECMP)).toBe(ALL_ONES);
    expect(irq.pending(0, Irq.MTIP)).toBe(false);
    expect(irq.pending(0, Irq.MSIP)).toBe(false);
    expect(scheduler.nextDeadline()).toBe(Infinity);
    clock.cycles = 5010;
    expect(read64(MTIME)).toBe(1n);
  });
});
