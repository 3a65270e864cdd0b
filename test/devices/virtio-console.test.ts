/**
 * virtio-console (virtio 1.1 §5.3) through the virtio-mmio transport and a fake bus, driven the way
 * Linux's virtio_console drives a single-port device: receive buffers on queue 0, output chains on
 * queue 1.
 */
import { describe, expect, it } from 'vitest';
import { VirtioMmio } from '../../devices/virtio-mmio.js';
import { MAX_PENDING, VirtioConsole } from '../../devices/virtio-console.js';
import { FakeBus, FakeIrqLine, FakeMemory, viaJson } from '../helpers/fakes.js';
import { F_EVENT_IDX, F_INDIRECT_DESC, F_VERSION_1, REG, VirtioDriver } from '../helpers/virtio-driver.js';

const BASE = 0x1000_6000;
const RAM = 0x8000_0000;

function setup(memory?: FakeMemory) {
  const bus = new FakeBus();
  const irq = new FakeIrqLine();
  const mem = memory ?? new FakeMemory(RAM, 0x8_0000);
  const sent: number[] = [];
  const dev = new VirtioConsole({ tx: (b) => sent.push(...b) });
  const t = new VirtioMmio({ bus, base: BASE, irq, memory: mem, device: dev });
  const drv = new VirtioDriver(bus.region(), mem);
  return { bus, irq, mem, dev, t, drv, sent };
}

const text = (b: Uint8Array | number[]) => Buffer.from(b instanceof Uint8Array ? b : Uint8Array.from(b)).toString('latin1');

describe('VirtioConsole', () => {
  it('is device 3 with no device features (single port), two queues and a 12-byte config space', () => {
    const { drv } = setup();
    expect(drv.r(REG.DeviceID)).toBe(3);
    // §5.3.3: no F_SIZE, F_MULTIPORT or F_EMERG_WRITE; the transport adds its ring features.
    expect(drv.deviceFeatures()).toBe(F_VERSION_1 | F_INDIRECT_DESC | F_EVENT_IDX);
    drv.init({ queues: 2 });
    expect(drv.queues).toHaveLength(2);
    drv.w(REG.QueueSel, 2);
    expect(drv.r(REG.QueueNumMax)).toBe(0); // no control queues without MULTIPORT
    expect(drv.config32(0)).toBe(0); // cols, rows
    expect(drv.config32(4)).toBe(0); // max_nr_ports
    expect(drv.config32(8)).toBe(0); // emerg_wr
    expect(drv.config32(12)).toBe(0xffff_ffff); // beyond the config space
  });

  it('transmitq: every readable byte goes to the host, chains come back with length 0', () => {
    const s = setup();
    s.drv.init({ queues: 2 });
    const tx = s.drv.queues[1];
    tx.add([Buffer.from('cv-agent: '), Buffer.from('ready\n')], []);
    tx.add([Buffer.from('second\n')], []);
    tx.kick();
    const used = tx.collect();
    expect(used.map((u) => u.len)).toEqual([0, 0]);
    expect(text(s.sent)).toBe('cv-agent: ready\nsecond\n');
    expect(s.dev.txBytes).toBe(23);
    expect(s.irq.level).toBe(true);
  });

  it('receiveq: host bytes wait for guest buffers, then fill them in order, split across buffers', () => {
    const s = setup();
    s.drv.init({ queues: 2 });
    s.dev.input(Buffer.from('shutdown\n'));
    expect(s.dev.pendingBytes).toBe(9); // no buffer yet
    const rx = s.drv.queues[0];
    const a = rx.add([], [4]);
    const b = rx.add([], [16]);
    rx.kick();
    const used = rx.collect();
    expect(used.map((u) => u.len)).toEqual([4, 5]);
    expect(text(rx.readIn(a, 0))).toBe('shut');
    expect(text(rx.readIn(b, 0).subarray(0, 5))).toBe('down\n');
    expect(s.dev.pendingBytes).toBe(0);
    expect(s.dev.rxBytes).toBe(9);
    // Buffers already available: input is delivered at once (and interrupts).
    const c = rx.add([], [8]);
    rx.kick();
    expect(rx.collect()).toEqual([]);
    s.drv.ackInterrupt();
    expect(s.irq.level).toBe(false);
    s.dev.input(Buffer.from('ping\n'));
    expect(rx.collect().map((u) => u.len)).toEqual([5]);
    expect(text(rx.readIn(c, 0).subarray(0, 5))).toBe('ping\n');
    expect(s.irq.level).toBe(true);
  });

  it('input before the driver is ready is kept; beyond MAX_PENDING it is dropped and counted', () => {
    const s = setup();
    s.dev.input(new Uint8Array(MAX_PENDING - 1).fill(0x61));
    s.dev.input(Buffer.from('bc'));
    expect(s.dev.pendingBytes).toBe(MAX_PENDING);
    expect(s.dev.dropped).toBe(1);
  });

  it('device reset drops undelivered input (it was for the driver that is gone)', () => {
    const s = setup();
    s.drv.init({ queues: 2 });
    s.dev.input(Buffer.from('stale\n'));
    s.drv.init({ queues: 2 }); // Status 0, then a new driver
    const rx = s.drv.queues[0];
    rx.add([], [16]);
    rx.kick();
    expect(rx.collect()).toEqual([]);
    expect(s.dev.pendingBytes).toBe(0);
  });

  it('a receive buffer outside guest memory breaks the transport, never the host', () => {
    const s = setup();
    s.drv.init({ queues: 2 });
    const rx = s.drv.queues[0];
    rx.writeDesc(0, 0x1_0000_0000, 16, 2); // device-writable, beyond RAM
    rx.publish(0);
    rx.kick();
    expect(() => s.dev.input(Buffer.from('x'))).not.toThrow();
    expect(s.t.broken).toBe(true);
    expect(s.drv.status & 0x40).toBe(0x40); // DEVICE_NEEDS_RESET
  });

  it('snapshots carry undelivered input and the counters', () => {
    const a = setup();
    a.drv.init({ queues: 2 });
    a.dev.input(Buffer.from('pending'));
    const state = viaJson(a.t.getState());
    const mem = new FakeMemory(RAM, 0x8_0000);
    mem.bytes.set(a.mem.bytes);
    const b = setup(mem);
    b.t.setState(state);
    expect(b.dev.getState()).toEqual(a.dev.getState());
    expect(b.dev.pendingBytes).toBe(7);
  });
});
