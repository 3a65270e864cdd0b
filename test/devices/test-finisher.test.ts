import { describe, expect, it } from 'vitest';
import { TestFinisher } from '../../devices/test-finisher.js';
import { Bus } from '../../src/bus/registry.js';
import { BusStatus } from '../../src/bus/types.js';
import { FakeBus, FakeControl, viaJson } from '../helpers/fakes.js';

const BASE = 0x10_0000;

function setup() {
  const bus = new FakeBus();
  const control = new FakeControl();
  const dev = new TestFinisher({ bus, base: BASE, control });
  return { bus, control, dev };
}

describe('TestFinisher', () => {
  it('registers a 4 KiB region at the given base', () => {
    const { bus } = setup();
    expect(bus.region()).toMatchObject({ name: 'test', base: BASE, size: 0x1000 });
  });

  it('0x5555 passes with exit code 0, ignoring the high half', () => {
    const { bus, control } = setup();
    bus.write(0, 0x0007_5555);
    expect(control.exits).toEqual([0]);
  });

  it('0x3333 fails with the code in bits 31:16', () => {
    const { bus, control } = setup();
    bus.write(0, (42 << 16) | 0x3333);
    bus.write(0, 0xffff_3333);
    expect(control.exits).toEqual([42, 0xffff]);
  });

  it('0x7777 requests a reset', () => {
    const { bus, control } = setup();
    bus.write(0, 0x7777);
    expect(control.resets).toBe(1);
    expect(control.exits).toEqual([]);
  });

  it('ignores other values and other offsets; reads return 0', () => {
    const { bus, control, dev } = setup();
    bus.write(0, 0x1234);
    bus.write(0, 0x5554);
    bus.write(4, 0x5555);
    expect(control.exits).toEqual([]);
    expect(control.resets).toBe(0);
    expect(dev.ignored).toBe(3);
    expect(bus.read(0)).toBe(0);
  });

  it('works through a real Bus with 4- and 2-byte writes; 1-byte writes fault', () => {
    const bus = new Bus();
    const control = new FakeControl();
    new TestFinisher({ bus, base: BASE, control });
    expect(bus.write(BASE, 4, (3 << 16) | 0x3333, 0)).toBe(BusStatus.Ok);
    expect(bus.write(BASE, 2, 0x5555, 0)).toBe(BusStatus.Ok);
    expect(bus.write(BASE, 1, 0x55, 0)).toBe(BusStatus.AccessFault);
    expect(bus.write(BASE, 8, 0x5555, 0)).toBe(BusStatus.AccessFault);
    expect(control.exits).toEqual([3, 0]);
  });

  it('round-trips its counters through JSON', () => {
    const a = setup();
    a.bus.write(0, 0x5555);
    a.bus.write(0, 0x7777);
    a.bus.write(0, 0x1);
    const b = setup();
    b.dev.setState(viaJson(a.dev.getState()));
    expect(b.dev.getState()).toEqual({ passes: 1, fails: 0, resets: 1, ignored: 1 });
  });
});
