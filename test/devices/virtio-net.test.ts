/**
 * virtio-net (virtio 1.1 §5.1) through a fake bus, fake memory and the real event scheduler, with
 * the test driver (test/helpers/virtio-driver.ts) playing Linux's virtio_net driver: feature
 * negotiation, config space, the 12-byte header in both directions, TX and RX timed by events,
 * the RX backlog, drops and stats, reset and snapshots.
 */
import { describe, expect, it } from 'vitest';
import { VirtioMmio } from '../../devices/virtio-mmio.js';
import { VirtioNet, RX_BACKLOG } from '../../devices/virtio-net.js';
import { EventScheduler } from '../../src/scheduler.js';
import type { NetEndpoint } from '../../src/net/link.js';
import { FakeBus, FakeClock, FakeIrqLine, FakeMemory, viaJson } from '../helpers/fakes.js';
import { F_EVENT_IDX, F_VERSION_1, REG, VirtioDriver } from '../helpers/virtio-driver.js';

const BASE = 0x1000_8000;
const RAM = 0x8000_0000;
const RAM_SIZE = 0x40_0000;
// Spelled out from the spec (§5.1.3) rather than imported.
const F_MAC = 1n << 5n;
const F_STATUS = 1n << 16n;
const MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);

function frame(n: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f.set(MAC, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  for (let i = 14; i < len; i++) f[i] = (n + i) & 0xff;
  return f;
}

function machine(features?: bigint) {
  const bus = new FakeBus();
  const irq = new FakeIrqLine();
  const mem = new FakeMemory(RAM, RAM_SIZE);
  const clock = new FakeClock(1_000_000_000);
  const scheduler = new EventScheduler();
  const net = new VirtioNet({ mac: MAC, scheduler, clock, txLatencyCycles: 100, rxLatencyCycles: 50 });
  const sent: Array<{ at: number; frame: Uint8Array }> = [];
  const link: NetEndpoint = { send: (f) => sent.push({ at: clock.cycles, frame: f }), close: () => {} };
  net.link = link;
  const t = new VirtioMmio({ bus, base: BASE, irq, memory: mem, device: net });
  const drv = new VirtioDriver(bus.region(), mem);
  const runTo = (cycle: number) => {
    clock.cycles = cycle;
    return scheduler.runDue(cycle);
  };
  const negotiated = drv.init({ queues: 2, queueSize: 16, features });
  return { bus, irq, mem, clock, scheduler, net, t, drv, sent, runTo, negotiated, rx: drv.queues[0], tx: drv.queues[1] };
}

describe('virtio-net', () => {
  it('offers MAC and STATUS (plus VERSION_1), has DeviceID 1, two queues, MAC and link-up status in config', () => {
    const m = machine();
    expect(m.drv.r(REG.DeviceID)).toBe(1);
    expect(m.negotiated & (F_MAC | F_STATUS | F_VERSION_1)).toBe(F_MAC | F_STATUS | F_VERSION_1);
    // No offloads, no MRG_RXBUF (15), no CTRL_VQ (17): the guest does checksums itself.
    expect(m.negotiated & ((1n << 0n) | (1n << 1n) | (1n << 15n) | (1n << 17n))).toBe(0n);
    expect(Array.from({ length: 6 }, (_, i) => m.drv.config8(i))).toEqual(Array.from(MAC));
    expect(m.drv.r(REG.Config + 6, 2)).toBe(1); // VIRTIO_NET_S_LINK_UP
    m.drv.w(REG.QueueSel, 2);
    expect(m.drv.r(REG.QueueNumMax)).toBe(0);
  });

  it('TX: skips the 12-byte header, sends the frame when the tx event fires, returns the buffer with len 0', () => {
    const m = machine();
    const hdr = new Uint8Array(12);
    const f = frame(1, 98);
    // Linux puts header and frame in one descriptor (xmit_skb with can_push) or two: both work.
    m.tx.add([hdr, f], []);
    m.tx.add([Uint8Array.from([...hdr, ...frame(2)])], []);
    m.tx.kick();
    expect(m.sent).toHaveLength(0); // not before the event
    // 1 GHz, 1 Gbit/s: 8 cycles per byte on the wire, frames back to back.
    const first = 100 + 98 * 8;
    const second = first + 60 * 8;
    m.runTo(first);
    expect(m.sent.map((s) => s.at)).toEqual([first]);
    expect(m.sent[0].frame).toEqual(f);
    m.runTo(second);
    expect(m.sent[1].frame).toEqual(frame(2));
    const used = m.tx.collect();
    expect(used.map((u) => u.len)).toEqual([0, 0]);
    expect(m.irq.level).toBe(true);
    expect(m.net.stats).toMatchObject({ txPackets: 2, txBytes: 158, txDrops: 0 });
  });

  it('RX: writes the 12-byte header with num_buffers = 1 (VERSION_1, without MRG_RXBUF) and the frame, rxLatency after arrival', () => {
    const m = machine();
    const tok = m.rx.add([], [12 + 1518]);
    m.rx.kick();
    m.clock.cycles = 1000;
    const f = frame(7, 342);
    m.net.receive(f);
    m.runTo(1049);
    expect(m.rx.usedIdx()).toBe(0);
    m.runTo(1050);
    const used = m.rx.collect();
    expect(used).toHaveLength(1);
    expect(used[0].len).toBe(12 + 342);
    const buf = m.rx.readIn(tok, 0);
    expect(Array.from(buf.subarray(0, 12))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect(buf.subarray(12, 12 + 342)).toEqual(f);
    expect(m.irq.level).toBe(true);
    expect(m.net.stats).toMatchObject({ rxPackets: 1, rxBytes: 342, rxDrops: 0 });
  });

  it('RX without posted buffers: frames wait (in order) until the driver refills and kicks', () => {
    const m = machine();
    m.net.receive(frame(1));
    m.net.receive(frame(2));
    m.runTo(100);
    expect(m.net.pendingRx).toBe(2);
    const a = m.rx.add([], [1530]);
    const b = m.rx.add([], [1530]);
    m.rx.kick();
    m.runTo(100);
    expect(m.rx.collect()).toHaveLength(2);
    expect(m.rx.readIn(a, 0).subarray(12, 72)).toEqual(frame(1));
    expect(m.rx.readIn(b, 0).subarray(12, 72)).toEqual(frame(2));
    expect(m.net.pendingRx).toBe(0);
  });

  it(`drops beyond a backlog of ${RX_BACKLOG} frames, oversized frames, and frames for a buffer too small`, () => {
    const m = machine();
    for (let i = 0; i < RX_BACKLOG + 5; i++) m.net.receive(frame(i));
    m.runTo(100);
    expect(m.net.stats.rxDrops).toBe(5);
    m.net.receive(new Uint8Array(1515)); // above 1514: never fits a guest buffer
    expect(m.net.stats.rxDrops).toBe(6);
    // A buffer smaller than header + frame is returned empty and the frame dropped.
    const m2 = machine();
    m2.rx.add([], [40]);
    m2.rx.kick();
    m2.net.receive(frame(1));
    m2.runTo(100);
    expect(m2.rx.collect().map((u) => u.len)).toEqual([0]);
    expect(m2.net.stats).toMatchObject({ rxPackets: 0, rxDrops: 1 });
  });

  it('works without EVENT_IDX too (interrupt per used buffer)', () => {
    const m = machine(F_MAC | F_STATUS | F_VERSION_1);
    expect(m.negotiated & F_EVENT_IDX).toBe(0n);
    m.rx.add([], [1530]);
    m.rx.kick();
    m.net.receive(frame(3));
    m.runTo(60);
    expect(m.rx.collect()).toHaveLength(1);
    expect(m.irq.level).toBe(true);
  });

  it('a TX packet shorter than an Ethernet header is returned and counted as a drop', () => {
    const m = machine();
    m.tx.add([new Uint8Array(12 + 10)], []);
    m.tx.kick();
    m.runTo(10_000);
    expect(m.sent).toHaveLength(0);
    expect(m.tx.collect()).toHaveLength(1);
    expect(m.net.stats.txDrops).toBe(1);
  });

  it('device reset (Status 0) drops queued frames and cancels events', () => {
    const m = machine();
    m.tx.add([new Uint8Array(12), frame(1)], []);
    m.tx.kick();
    m.net.receive(frame(2));
    m.drv.w(REG.Status, 0);
    expect(m.scheduler.nextDeadline()).toBe(Infinity);
    expect(m.net.pendingRx).toBe(0);
    m.runTo(100_000);
    expect(m.sent).toHaveLength(0);
  });

  it('getState/setState round-trip (through JSON) continues the same way', () => {
    const run = (snap: boolean) => {
      const m = machine();
      m.tx.add([new Uint8Array(12), frame(1)], []);
      m.tx.kick();
      m.net.receive(frame(2));
      m.net.receive(frame(3));
      if (snap) {
        const s = viaJson(m.t.getState());
        m.t.reset();
        m.t.setState(s);
      }
      m.rx.add([], [1530]);
      m.rx.kick();
      m.runTo(5000);
      m.rx.add([], [1530]);
      m.rx.kick();
      m.runTo(6000);
      return { sent: m.sent.map((s) => [s.at, Array.from(s.frame)]), rx: m.rx.collect().map((u) => u.len), stats: m.net.stats };
    };
    expect(run(true)).toEqual(run(false));
  });
});
