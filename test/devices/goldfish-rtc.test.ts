import { describe, expect, it } from 'vitest';
import { DEFAULT_RTC_EPOCH_NS, GoldfishRtc } from '../../devices/goldfish-rtc.js';
import { Bus } from '../../src/bus/registry.js';
import { BusStatus } from '../../src/bus/types.js';
import { EventScheduler } from '../../src/scheduler.js';
import { FakeBus, FakeClock, FakeIrqLine, viaJson } from '../helpers/fakes.js';

const BASE = 0x0010_1000;
const TIME_LOW = 0x00;
const TIME_HIGH = 0x04;
const ALARM_LOW = 0x08;
const ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10;
const CLEAR_ALARM = 0x14;
const ALARM_STATUS = 0x18;
const CLEAR_INTERRUPT = 0x1c;

const EPOCH_2024 = 1_704_067_200n * 1_000_000_000n;

function setup(cpuHz = 100_000_000, epochNs?: bigint) {
  const bus = new FakeBus();
  const clock = new FakeClock(cpuHz);
  const scheduler = new EventScheduler();
  const irq = new FakeIrqLine();
  const rtc = new GoldfishRtc({ bus, base: BASE, irq, clock, scheduler, epochNs });
  const r = (off: number) => bus.read(off);
  const w = (off: number, v: number) => bus.write(off, v >>> 0);
  /** Linux goldfish_rtc_read_time: low (latches high), then high. */
  const readTime = () => {
    const lo = BigInt(r(TIME_LOW));
    return (BigInt(r(TIME_HIGH)) << 32n) | lo;
  };
  /** Linux goldfish_rtc_set_time: high, then low. */
  const setTime = (ns: bigint) => {
    w(TIME_HIGH, Number(ns >> 32n));
    w(TIME_LOW, Number(ns & 0xffff_ffffn));
  };
  /** Linux goldfish_rtc_set_alarm (enabled): high, low (arms), then IRQ_ENABLED. */
  const setAlarm = (ns: bigint, enable = true) => {
    w(ALARM_HIGH, Number(ns >> 32n));
    w(ALARM_LOW, Number(ns & 0xffff_ffffn));
    if (enable) w(IRQ_ENABLED, 1);
  };
  const runTo = (cycle: number) => {
    clock.cycles = cycle;
    return scheduler.runDue(cycle);
  };
  return { bus, clock, scheduler, irq, rtc, r, w, readTime, setTime, setAlarm, runTo };
}

describe('GoldfishRtc time', () => {
  it('registers a 4 KiB region with 4-byte accesses', () => {
    const { bus } = setup();
    expect(bus.region()).toMatchObject({ name: 'rtc', base: BASE, size: 0x1000, valid: { min: 4, max: 4 } });
  });

  it('starts at 2024-01-01T00:00:00Z by default and follows the cycle clock', () => {
    const { readTime, clock } = setup();
    expect(DEFAULT_RTC_EPOCH_NS).toBe(EPOCH_2024);
    expect(readTime()).toBe(EPOCH_2024);
    clock.cycles = 100_000_000; // 1 s at 100 MHz
    expect(readTime()).toBe(EPOCH_2024 + 1_000_000_000n);
    clock.cycles = 123;
    expect(readTime()).toBe(EPOCH_2024 + 1230n);
  });

  it('truncates to whole ns when a cycle is not a whole number of ns', () => {
    const { rtc, clock } = setup(300_000_000, 0n); // 3.33 ns per cycle
    clock.cycles = 2;
    expect(rtc.timeNs()).toBe(6n);
    clock.cycles = 3;
    expect(rtc.timeNs()).toBe(10n);
    expect(rtc.timeNs(3_000_000_000)).toBe(10_000_000_000n);
  });

  it('takes the guest-visible start time as a constructor option (bigint or number)', () => {
    expect(setup(100_000_000, 42n).readTime()).toBe(42n);
    const bus = new FakeBus();
    const rtc = new GoldfishRtc({
      bus,
      base: BASE,
      irq: new FakeIrqLine(),
      clock: new FakeClock(),
      scheduler: new EventScheduler(),
      epochNs: 5e9,
    });
    expect(rtc.timeNs()).toBe(5_000_000_000n);
  });

  it('reading TIME_LOW latches TIME_HIGH', () => {
    const { r, clock } = setup(100_000_000, 0xffff_ff00n);
    expect(r(TIME_LOW)).toBe(0xffff_ff00);
    clock.cycles = 100; // +1000 ns: crosses into the next high word
    expect(r(TIME_HIGH)).toBe(0); // still the latched value
    expect(r(TIME_LOW)).toBe(0x2e8);
    expect(r(TIME_HIGH)).toBe(1);
  });

  it('a guest time write sets an offset; time keeps running from there', () => {
    const { setTime, readTime, clock, rtc } = setup();
    clock.cycles = 1000;
    const t = 1_900_000_000n * 1_000_000_000n; // 2030
    setTime(t);
    expect(readTime()).toBe(t);
    clock.cycles = 1000 + 100_000_000;
    expect(readTime()).toBe(t + 1_000_000_000n);
    // Setting the past works too (negative offset).
    setTime(5n);
    expect(readTime()).toBe(5n);
    rtc.reset(); // battery-backed: reset keeps the time
    expect(readTime()).toBe(5n);
  });

  it('a TIME_LOW write replaces only the low word (deposit64, as QEMU)', () => {
    const { w, readTime } = setup(100_000_000, 0x1_2345_6789n);
    w(TIME_LOW, 0x10);
    expect(readTime()).toBe(0x1_0000_0010n);
    w(TIME_HIGH, 7);
    expect(readTime()).toBe(0x7_0000_0010n);
  });
});

describe('GoldfishRtc alarm', () => {
  it('fires at the exact first cycle whose time reaches the alarm, then raises the IRQ', () => {
    const { setAlarm, runTo, irq, r, scheduler } = setup(300_000_000, 0n);
    setAlarm(1_000n); // 1 µs: ceil(1000 · 0.3) = cycle 300
    expect(r(ALARM_STATUS)).toBe(1);
    expect(scheduler.nextDeadline()).toBe(300);
    setAlarm(1_001n); // ceil(300.3) = 301: time(300) = 1000 < 1001, time(301) = 1003
    expect(scheduler.nextDeadline()).toBe(301);
    runTo(300);
    expect(irq.level).toBe(false);
    expect(r(ALARM_STATUS)).toBe(1);
    runTo(301);
    expect(irq.level).toBe(true);
    expect(r(ALARM_STATUS)).toBe(0);
    expect(r(ALARM_LOW)).toBe(1001);
    expect(r(ALARM_HIGH)).toBe(0);
  });

  it('CLEAR_INTERRUPT lowers the line; IRQ_ENABLED gates it', () => {
    const { setAlarm, runTo, irq, w, r, rtc } = setup(100_000_000, 0n);
    setAlarm(10_000n, false);
    runTo(1000);
    expect(rtc.alarms).toBe(1);
    expect(irq.level).toBe(false); // pending but not enabled
    w(IRQ_ENABLED, 1);
    expect(r(IRQ_ENABLED)).toBe(1);
    expect(irq.level).toBe(true);
    w(IRQ_ENABLED, 0);
    expect(irq.level).toBe(false);
    w(IRQ_ENABLED, 1);
    w(CLEAR_INTERRUPT, 1);
    expect(irq.level).toBe(false);
    expect(irq.changes).toEqual([true, false, true, false]);
  });

  it('an alarm at or before now fires at once', () => {
    const { setAlarm, irq, r, clock, scheduler } = setup(100_000_000, 1_000n);
    clock.cycles = 10; // time 1100
    setAlarm(1_100n);
    expect(irq.level).toBe(true);
    expect(r(ALARM_STATUS)).toBe(0);
    expect(scheduler.nextDeadline()).toBe(Infinity);
  });

  it('ALARM_HIGH alone does not arm; CLEAR_ALARM disarms', () => {
    const { w, r, runTo, irq, scheduler, setAlarm } = setup(100_000_000, 0n);
    w(ALARM_HIGH, 0);
    expect(r(ALARM_STATUS)).toBe(0);
    expect(scheduler.nextDeadline()).toBe(Infinity);
    setAlarm(5_000n);
    w(CLEAR_ALARM, 1);
    expect(r(ALARM_STATUS)).toBe(0);
    runTo(10_000);
    expect(irq.level).toBe(false);
  });

  it('a time write moves an armed alarm (forward past it fires at once; backward delays it)', () => {
    const a = setup(100_000_000, 0n);
    a.setAlarm(1_000_000n); // cycle 100000
    a.runTo(50_000); // time 500000
    a.setTime(0n); // 1000000 ns still to go: cycle 150000
    expect(a.scheduler.nextDeadline()).toBe(150_000);
    a.runTo(149_999);
    expect(a.irq.level).toBe(false);
    a.runTo(150_000);
    expect(a.irq.level).toBe(true);

    const b = setup(100_000_000, 0n);
    b.setAlarm(1_000_000n);
    b.setTime(2_000_000n);
    expect(b.irq.level).toBe(true);
    expect(b.r(ALARM_STATUS)).toBe(0);
  });

  it('an alarm beyond 2^53 cycles stays armed without an event', () => {
    const { setAlarm, r, scheduler } = setup(100_000_000, 0n);
    setAlarm(0xffff_ffff_ffff_ffffn);
    expect(r(ALARM_STATUS)).toBe(1);
    expect(scheduler.nextDeadline()).toBe(Infinity);
  });

  it('reset disarms and clears the interrupt but keeps the time', () => {
    const { setAlarm, rtc, irq, r, scheduler, readTime, runTo } = setup(100_000_000, 0n);
    runTo(10);
    setAlarm(1_000_000n);
    rtc.reset();
    expect(r(ALARM_STATUS)).toBe(0);
    expect(r(IRQ_ENABLED)).toBe(0);
    expect(irq.level).toBe(false);
    expect(scheduler.nextDeadline()).toBe(Infinity);
    expect(readTime()).toBe(100n);
  });
});

describe('GoldfishRtc snapshots and bus', () => {
  it('round-trips through JSON with an armed alarm and a time offset', () => {
    const a = setup(100_000_000);
    a.runTo(500);
    a.setTime(EPOCH_2024 * 2n);
    a.setAlarm(EPOCH_2024 * 2n + 20_000n); // 2000 cycles from now
    a.r(TIME_LOW);
    const state = viaJson(a.rtc.getState());
    expect(state).toMatchObject({ alarmAt: 2500, alarmRunning: true });

    const b = setup(100_000_000);
    b.clock.cycles = 500;
    b.rtc.setState(state);
    expect(b.rtc.getState()).toEqual(a.rtc.getState());
    expect(b.r(TIME_HIGH)).toBe(a.r(TIME_HIGH));
    expect(b.readTime()).toBe(a.readTime());
    expect(b.scheduler.nextDeadline()).toBe(2500);
    b.runTo(2500);
    a.runTo(2500);
    expect(b.irq.level).toBe(true);
    expect(b.rtc.getState()).toEqual(a.rtc.getState());
  });

  it('setState re-drives the line', () => {
    const a = setup(100_000_000, 0n);
    a.setAlarm(0n);
    expect(a.irq.level).toBe(true);
    const b = setup(100_000_000, 0n);
    b.rtc.setState(viaJson(a.rtc.getState()));
    expect(b.irq.level).toBe(true);
  });

  it('through a real Bus: 4-byte accesses only', () => {
    const bus = new Bus();
    const scheduler = new EventScheduler();
    new GoldfishRtc({ bus, base: BASE, irq: new FakeIrqLine(), clock: new FakeClock(), scheduler });
    expect(bus.read(BASE + TIME_LOW, 4)).toBe(BusStatus.Ok);
    expect(BigInt(bus.dataLo)).toBe(EPOCH_2024 & 0xffff_ffffn);
    expect(bus.read(BASE + TIME_LOW, 8)).toBe(BusStatus.AccessFault);
    expect(bus.read(BASE + TIME_LOW, 1)).toBe(BusStatus.AccessFault);
    expect(bus.write(BASE + IRQ_ENABLED, 4, 1, 0)).toBe(BusStatus.Ok);
  });
});
