import { describe, expect, it } from 'vitest';
import { Htif } from '../../devices/htif.js';
import { Bus } from '../../src/bus/registry.js';
import { BusStatus } from '../../src/bus/types.js';
import { EventScheduler } from '../../src/scheduler.js';
import { FakeBus, FakeClock, FakeControl, FakeMemory, viaJson } from '../helpers/fakes.js';

// Addresses as in a riscv-tests p-env binary (.tohost section at 0x8000_1000).
const RAM = 0x8000_0000;
const TOHOST = 0x8000_1000;
const FROMHOST = 0x8000_1040;
const MAGIC = 0x8000_2000;
const BUF = 0x8000_3000;

function setup() {
  const bus = new FakeBus();
  const memory = new FakeMemory(RAM, 0x10000);
  const control = new FakeControl();
  const out: number[] = [];
  const scheduler = new EventScheduler();
  const clock = new FakeClock();
  const htif = new Htif({
    bus,
    tohost: TOHOST,
    fromhost: FROMHOST,
    memory,
    control,
    console: (b) => out.push(b),
    scheduler,
    clock,
  });
  const word = (name: string) => ({
    write32: (off: number, v: number) => bus.write(off, v >>> 0, 4, name),
    write64: (v: bigint) => {
      bus.write(0, Number(v & 0xffffffffn), 4, name);
      bus.write(4, Number(v >> 32n), 4, name);
    },
    read64: () => BigInt(bus.read(0, 4, name)) | (BigInt(bus.read(4, 4, name)) << 32n),
  });
  const tohost = word('htif.tohost');
  const fromhost = word('htif.fromhost');
  /** Advance one cycle and fire what is due, as the core glue would. */
  const step = (cycles = 1) => {
    clock.cycles += cycles;
    return scheduler.runDue(clock.cycles);
  };
  const text = () => String.fromCharCode(...out);
  return { bus, memory, control, out, scheduler, clock, htif, tohost, fromhost, step, text };
}

const cmd = (dev: number, c: number, payload: bigint) => (BigInt(dev) << 56n) | (BigInt(c) << 48n) | payload;

describe('Htif regions', () => {
  it('registers 8-byte tohost and fromhost words', () => {
    const { bus } = setup();
    expect(bus.regions.map((r) => [r.name, r.base, r.size])).toEqual([
      ['htif.tohost', TOHOST, 8],
      ['htif.fromhost', FROMHOST, 8],
    ]);
  });

  it('registers only tohost when fromhost is not given', () => {
    const bus = new FakeBus();
    new Htif({
      bus,
      tohost: TOHOST,
      memory: new FakeMemory(RAM, 16),
      control: new FakeControl(),
      console: () => {},
      scheduler: new EventScheduler(),
      clock: new FakeClock(),
    });
    expect(bus.regions.map((r) => r.name)).toEqual(['htif.tohost']);
  });
});

describe('Htif exit (riscv-tests)', () => {
  it('does not act inside the store; the poll one cycle later exits with code 0 and clears tohost', () => {
    const { tohost, control, scheduler, clock, step } = setup();
    clock.cycles = 500;
    tohost.write32(0, 1); // sw TESTNUM(=1), tohost
    expect(control.exits).toEqual([]);
    expect(scheduler.nextDeadline()).toBe(501);
    tohost.write32(4, 0); // sw zero, tohost+4: no second event
    expect(scheduler.stats().scheduled).toBe(1);
    expect(step()).toBe(1);
    expect(control.exits).toEqual([0]);
    expect(tohost.read64()).toBe(0n);
    expect(scheduler.stats().firedByName).toEqual({ 'htif.poll': 1 });
  });

  it('reports the failing test number from payload >> 1', () => {
    const { tohost, control, step, htif } = setup();
    tohost.write64((3n << 1n) | 1n);
    step();
    expect(control.exits).toEqual([3]);
    expect(htif.commands).toEqual({ exit: 1 });
  });

  it('does nothing if the guest clears tohost before the poll', () => {
    const { tohost, control, step, htif } = setup();
    tohost.write32(0, 1);
    tohost.write32(0, 0);
    expect(step()).toBe(1);
    expect(control.exits).toEqual([]);
    expect(htif.commands).toEqual({});
  });
});

describe('Htif syscalls (magic_mem)', () => {
  function syscall(s: ReturnType<typeof setup>, num: number, ...args: bigint[]) {
    s.memory.setU64(MAGIC, BigInt(num));
    args.forEach((a, i) => s.memory.setU64(MAGIC + 8 * (i + 1), a));
    s.tohost.write64(BigInt(MAGIC));
    s.step();
    return BigInt.asIntN(64, s.memory.getU64(MAGIC));
  }

  it('SYS_write to stdout/stderr copies guest bytes to the console and returns the count', () => {
    const s = setup();
    s.memory.write(BUF, new TextEncoder().encode('hello, world'));
    expect(syscall(s, 64, 1n, BigInt(BUF), 5n)).toBe(5n);
    expect(s.text()).toBe('hello');
    expect(s.fromhost.read64()).toBe(1n);
    expect(s.tohost.read64()).toBe(0n);
    s.fromhost.write64(0n); // the guest acknowledges
    expect(syscall(s, 64, 2n, BigInt(BUF + 7), 5n)).toBe(5n);
    expect(s.text()).toBe('helloworld');
  });

  it('SYS_write to another fd returns -EBADF; unknown calls return -ENOSYS', () => {
    const s = setup();
    expect(syscall(s, 64, 3n, BigInt(BUF), 5n)).toBe(-9n);
    s.fromhost.write64(0n);
    expect(syscall(s, 1234, 0n)).toBe(-38n);
    expect(s.out).toEqual([]);
    expect(s.htif.commands).toEqual({ 'syscall.write': 1, 'syscall.other': 1 });
  });

  it('SYS_write from a bad buffer returns -EFAULT without throwing', () => {
    const s = setup();
    expect(syscall(s, 64, 1n, 0x10n, 4n)).toBe(-14n);
    expect(syscall(s, 64, 1n, 1n << 62n, 4n)).toBe(-14n);
  });

  it('SYS_exit exits with a0', () => {
    const s = setup();
    syscall(s, 93, 7n);
    expect(s.control.exits).toEqual([7]);
  });

  it('a magic_mem address outside RAM is counted, not thrown', () => {
    const s = setup();
    s.tohost.write64(0x1000n);
    expect(() => s.step()).not.toThrow();
    expect(s.htif.commands).toEqual({ 'syscall.fault': 1 });
  });
});

describe('Htif console (bcd device 1)', () => {
  it('putchar from two 4-byte stores (low then high) and Spike acknowledgement in fromhost', () => {
    const { tohost, fromhost, step, text, htif } = setup();
    const v = cmd(1, 1, 0x41n);
    tohost.write32(0, Number(v & 0xffffffffn));
    tohost.write32(4, Number(v >> 32n));
    step();
    expect(text()).toBe('A');
    expect(fromhost.read64()).toBe((1n << 56n) | (1n << 48n));
    expect(tohost.read64()).toBe(0n);
    expect(htif.commands).toEqual({ putchar: 1 });
  });

  it('queues responses until the guest clears fromhost', () => {
    const { tohost, fromhost, step, text } = setup();
    tohost.write64(cmd(1, 1, 0x61n));
    step();
    tohost.write64(cmd(1, 1, 0x62n));
    step();
    expect(text()).toBe('ab');
    expect(fromhost.read64()).toBe(cmd(1, 1, 0n));
    fromhost.write64(0n); // acknowledge the first; the second is delivered by the next poll
    expect(fromhost.read64()).toBe(0n);
    expect(step()).toBe(1);
    expect(fromhost.read64()).toBe(cmd(1, 1, 0n));
    fromhost.write64(0n);
    expect(step()).toBe(0);
    expect(fromhost.read64()).toBe(0n);
  });

  it('getchar waits for host input, then answers 0x100 | ch like Spike', () => {
    const { tohost, fromhost, step, htif } = setup();
    tohost.write64(cmd(1, 0, 0n));
    step();
    expect(fromhost.read64()).toBe(0n);
    step(100);
    expect(fromhost.read64()).toBe(0n);
    htif.pushInput([0x78, 0x79]);
    step();
    expect(fromhost.read64()).toBe(cmd(1, 0, 0x178n));
    fromhost.write64(0n);
    tohost.write64(cmd(1, 0, 0n));
    step();
    expect(fromhost.read64()).toBe(cmd(1, 0, 0x179n));
    expect(htif.commands).toEqual({ getchar: 2 });
  });

  it('ignores unknown devices but still clears tohost', () => {
    const { tohost, fromhost, step, htif, out } = setup();
    tohost.write64(cmd(5, 2, 0x1234n));
    step();
    expect(tohost.read64()).toBe(0n);
    expect(fromhost.read64()).toBe(0n);
    expect(out).toEqual([]);
    expect(htif.commands).toEqual({ unknown: 1 });
  });
});

describe('Htif through a real Bus', () => {
  it('accepts one 8-byte store (split by the bus) and refuses 1-byte stores', () => {
    const bus = new Bus();
    const control = new FakeControl();
    const scheduler = new EventScheduler();
    const clock = new FakeClock();
    const out: number[] = [];
    new Htif({
      bus,
      tohost: TOHOST,
      fromhost: FROMHOST,
      memory: new FakeMemory(RAM, 0x10000),
      control,
      console: (b) => out.push(b),
      scheduler,
      clock,
    });
    const v = cmd(1, 1, 0x5an);
    expect(bus.write(TOHOST, 8, Number(v & 0xffffffffn), Number(v >> 32n))).toBe(BusStatus.Ok);
    expect(bus.write(TOHOST, 1, 1, 0)).toBe(BusStatus.AccessFault);
    scheduler.runDue(1);
    expect(out).toEqual([0x5a]);
    expect(bus.read(FROMHOST, 8)).toBe(BusStatus.Ok);
    expect([bus.dataLo, bus.dataHi]).toEqual([0, 0x0101_0000]);
    expect(bus.read(TOHOST + 4, 4)).toBe(BusStatus.Ok);
    expect(bus.dataLo).toBe(0);
  });
});

describe('Htif snapshots', () => {
  it('round-trips through JSON including the scheduled poll and queued responses', () => {
    const a = setup();
    a.clock.cycles = 40;
    a.tohost.write64(cmd(1, 1, 0x61n));
    a.step();
    a.tohost.write64(cmd(1, 1, 0x62n)); // poll scheduled at 42, fromhost still busy
    a.htif.pushInput([0x7a]);
    const state = viaJson(a.htif.getState());
    expect(state).toMatchObject({ pollAt: 42 });

    const b = setup();
    b.clock.cycles = 41;
    b.htif.setState(state);
    expect(b.htif.getState()).toEqual(a.htif.getState());
    expect(b.scheduler.nextDeadline()).toBe(42);
    for (const x of [a, b]) {
      x.step();
      x.fromhost.write64(0n);
      x.step();
    }
    expect(b.text()).toBe('b');
    expect(a.text()).toBe('ab');
    expect(b.fromhost.read64()).toBe(a.fromhost.read64());
    expect(b.htif.getState()).toEqual(a.htif.getState());
  });

  it('reset clears both words and cancels the poll', () => {
    const { tohost, htif, scheduler, control, step } = setup();
    tohost.write32(0, 1);
    htif.reset();
    expect(tohost.read64()).toBe(0n);
    expect(scheduler.nextDeadline()).toBe(Infinity);
    step(10);
    expect(control.exits).toEqual([]);
  });
});
