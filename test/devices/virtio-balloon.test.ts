/**
 * virtio-balloon (virtio 1.1 §5.5) through the virtio-mmio transport and a fake driver doing what
 * Linux's virtio_balloon does: read num_pages after a config change, send PFNs (le32) on the
 * inflate / deflate queues, write `actual`, report free ranges on the reporting queue.
 */
import { describe, expect, it } from 'vitest';
import { VirtioMmio } from '../../devices/virtio-mmio.js';
import { BALLOON_F_REPORTING, VirtioBalloon } from '../../devices/virtio-balloon.js';
import { FakeBus, FakeIrqLine, FakeMemory, viaJson } from '../helpers/fakes.js';
import { F_VERSION_1, REG, VirtioDriver } from '../helpers/virtio-driver.js';

const BASE = 0x1000_6000;
const RAM = 0x8000_0000;

function setup() {
  const bus = new FakeBus();
  const irq = new FakeIrqLine();
  const mem = new FakeMemory(RAM, 0x8_0000);
  const log: string[] = [];
  const dev = new VirtioBalloon({
    inflate: (p) => log.push(`inflate ${p.join(',')}`),
    deflate: (p) => log.push(`deflate ${p.join(',')}`),
    report: (r) => log.push(`report ${r.map(([a, l]) => `${a.toString(16)}+${l}`).join(',')}`),
  });
  const t = new VirtioMmio({ bus, base: BASE, irq, memory: mem, device: dev });
  const drv = new VirtioDriver(bus.region(), mem);
  return { bus, irq, mem, dev, t, drv, log };
}
const pfns = (...p: number[]) => {
  const b = new Uint8Array(4 * p.length);
  p.forEach((v, i) => new DataView(b.buffer).setUint32(4 * i, v, true));
  return b;
};

describe('VirtioBalloon', () => {
  it('is device 5 offering free page reporting, 3 queues', () => {
    const { drv } = setup();
    expect(drv.r(REG.DeviceID)).toBe(5);
    expect(drv.deviceFeatures() & BALLOON_F_REPORTING).toBe(BALLOON_F_REPORTING);
    expect(drv.deviceFeatures() & F_VERSION_1).toBe(F_VERSION_1);
  });

  it('a new target interrupts (config change); inflate, deflate and reports reach the backend; actual is the driver\'s', () => {
    const s = setup();
    s.drv.init({ queues: 3 });
    s.dev.setTarget(1000);
    expect(s.irq.level).toBe(true);
    expect(s.drv.ackInterrupt()).toBe(2); // configuration change
    expect(s.drv.config32(0)).toBe(1000);
    const [inf, def, rep] = s.drv.queues as [typeof s.drv.queues[0], typeof s.drv.queues[0], typeof s.drv.queues[0]];
    inf.add([pfns(0x80010, 0x80011, 0x80012)], []);
    inf.kick();
    expect(inf.collect()).toHaveLength(1);
    s.drv.w(REG.Config + 4, 3); // actual
    expect(s.drv.config32(4)).toBe(3);
    def.add([pfns(0x80011)], []);
    def.kick();
    expect(def.collect()).toHaveLength(1);
    // A report: device-writable buffers whose addresses are the free ranges (Linux page_reporting).
    rep.add([], [0x1000, 0x2000]);
    rep.kick();
    expect(rep.collect()[0]!.len).toBe(0);
    expect(s.log[0]).toBe('inflate 524304,524305,524306');
    expect(s.log[1]).toBe('deflate 524305');
    expect(s.log[2]).toMatch(/^report [0-9a-f]+\+4096,[0-9a-f]+\+8192$/);
    expect(s.dev.getState()).toEqual({ target: 1000, actual: 3, inflated: 3, deflated: 1, reported: 3 });
    const b = setup();
    b.dev.setState(viaJson(s.dev.getState()));
    expect(b.dev.getState()).toEqual(s.dev.getState());
  });
});
