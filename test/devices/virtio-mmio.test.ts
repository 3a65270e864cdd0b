import { describe, expect, it } from 'vitest';
import {
  readU16,
  readU32,
  readU64,
  vringNeedEvent,
  VirtioMmio,
  writeU16,
  writeU32,
  writeU64,
  type Chain,
  type VirtioDevice,
  type VirtioTransport,
  type VirtQueue,
} from '../../devices/virtio-mmio.js';
import { Bus } from '../../src/bus/registry.js';
import { BusStatus } from '../../src/bus/types.js';
import { FakeBus, FakeIrqLine, FakeMemory, viaJson } from '../helpers/fakes.js';
import {
  DESC_INDIRECT,
  DESC_NEXT,
  DESC_WRITE,
  descBytes,
  F_EVENT_IDX,
  F_INDIRECT_DESC,
  F_VERSION_1,
  GuestAllocator,
  REG,
  STATUS,
  u16,
  u32,
  VirtioDriver,
  type RegisterPort,
} from '../helpers/virtio-driver.js';

const BASE = 0x1000_1000;
const RAM = 0x8000_0000;
const RAM_SIZE = 0x10_0000;
const F_ECHO = 1n << 0n;

/**
 * A test device: each chain's readable bytes are copied into its writable buffers. `hold` keeps
 * popped chains until release(); `throwOnNotify` simulates a device bug.
 */
class EchoDevice implements VirtioDevice {
  readonly deviceId = 0x2a;
  readonly features = F_ECHO;
  readonly queueCount = 2;
  readonly queueMax = 8;
  hold = false;
  throwOnNotify = false;
  held: Chain[] = [];
  resets = 0;
  notifies: number[] = [];
  config = Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88);
  transport!: VirtioTransport;

  attach(t: VirtioTransport): void {
    this.transport = t;
  }
  configRead(offset: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | (this.config[offset + i] ?? 0xff);
    return v >>> 0;
  }
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < size; i++) this.config[offset + i] = (value >>> (8 * i)) & 0xff;
  }
  onNotify(queue: number, q: VirtQueue): void {
    this.notifies.push(queue);
    if (this.throwOnNotify) throw new Error('device bug');
    let c: Chain | null;
    while ((c = q.pop()) !== null) {
      if (this.hold) this.held.push(c);
      else this.echo(q, c);
    }
  }
  echo(q: VirtQueue, c: Chain): void {
    const data = q.read(c, 0, c.readableLen);
    if (data === null) return;
    const n = q.write(c, 0, data);
    if (n < 0) return;
    q.push(c, n);
  }
  release(queue = 0): void {
    const q = this.transport.queue(queue);
    for (const c of this.held.splice(0)) this.echo(q, c);
  }
  releaseOne(queue = 0): void {
    const c = this.held.shift();
    if (c) this.echo(this.transport.queue(queue), c);
  }
  reset(): void {
    this.resets++;
    this.held = [];
  }
  getState(): unknown {
    return { held: this.held, config: [...this.config] };
  }
  setState(s: unknown): void {
    const st = s as { held: Chain[]; config: number[] };
    this.held = st.held.map((c) => ({ ...c }));
    this.config = Uint8Array.from(st.config);
  }
}

function setup(opts: { eventIdx?: boolean; device?: EchoDevice | null; memory?: FakeMemory } = {}) {
  const bus = new FakeBus();
  const irq = new FakeIrqLine();
  const mem = opts.memory ?? new FakeMemory(RAM, RAM_SIZE);
  const dev = opts.device === null ? undefined : (opts.device ?? new EchoDevice());
  const t = new VirtioMmio({ bus, base: BASE, irq, memory: mem, device: dev, eventIdx: opts.eventIdx });
  const port: RegisterPort = bus.region();
  const drv = new VirtioDriver(port, mem);
  return { bus, irq, mem, dev: dev as EchoDevice, t, drv };
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Set up with the device ready and queue 0 configured; returns the queue too. */
function ready(opts: Parameters<typeof setup>[0] & { features?: bigint } = {}) {
  const s = setup(opts);
  s.drv.init({ features: opts.features, queues: 2 });
  return { ...s, q: s.drv.queues[0] };
}

/** Expect the transport to have flagged DEVICE_NEEDS_RESET with a config interrupt. */
function expectBroken(s: ReturnType<typeof ready>, pattern?: RegExp) {
  expect(s.drv.status & STATUS.NEEDS_RESET).toBe(STATUS.NEEDS_RESET);
  expect(s.drv.r(REG.InterruptStatus) & 2).toBe(2);
  expect(s.irq.level).toBe(true);
  expect(s.t.errors).toBeGreaterThan(0);
  expect(s.t.broken).toBe(true);
  if (pattern) expect(s.t.lastError).toMatch(pattern);
}

describe('guest memory helpers', () => {
  it('read and write little-endian u16/u32/u64', () => {
    const mem = new FakeMemory(RAM, 64);
    writeU16(mem, RAM, 0xbeef);
    writeU32(mem, RAM + 4, 0xdeadbeef);
    writeU64(mem, RAM + 8, 0x0123_4567_89ab_cdefn);
    expect([...mem.bytes.subarray(0, 6)]).toEqual([0xef, 0xbe, 0, 0, 0xef, 0xbe]);
    expect(readU16(mem, RAM)).toBe(0xbeef);
    expect(readU32(mem, RAM + 4)).toBe(0xdeadbeef);
    expect(readU64(mem, RAM + 8)).toBe(0x0123_4567_89ab_cdefn);
    expect(() => readU32(mem, RAM + 62)).toThrow(RangeError);
  });

  it('vring_need_event matches the spec formula, including wrap-around', () => {
    expect(vringNeedEvent(0, 1, 0)).toBe(true);
    expect(vringNeedEvent(5, 7, 5)).toBe(true);
    expect(vringNeedEvent(5, 7, 6)).toBe(false);
    expect(vringNeedEvent(0xffff, 0, 0xffff)).toBe(true);
    expect(vringNeedEvent(10, 3, 2)).toBe(false);
  });
});

describe('VirtioMmio registers', () => {
  it('registers a 0x200-byte region and identifies as a version 2 transport', () => {
    const { bus, drv } = setup();
    expect(bus.region()).toMatchObject({ base: BASE, size: 0x200, valid: { min: 1, max: 8 } });
    expect(drv.r(REG.MagicValue)).toBe(0x74726976);
    expect(drv.r(REG.Version)).toBe(2);
    expect(drv.r(REG.DeviceID)).toBe(0x2a);
    expect(drv.r(REG.VendorID)).toBe(0x554d4551);
  });

  it('offers the device features plus VERSION_1, INDIRECT_DESC and EVENT_IDX', () => {
    expect(setup().drv.deviceFeatures()).toBe(F_ECHO | F_VERSION_1 | F_INDIRECT_DESC | F_EVENT_IDX);
    expect(setup({ eventIdx: false }).drv.deviceFeatures()).toBe(F_ECHO | F_VERSION_1 | F_INDIRECT_DESC);
  });

  it('an empty slot reads DeviceID 0 and ignores the rest', () => {
    const { drv, t } = setup({ device: null });
    expect(drv.r(REG.MagicValue)).toBe(0x74726976);
    expect(drv.r(REG.DeviceID)).toBe(0);
    expect(drv.deviceFeatures()).toBe(0n);
    drv.w(REG.QueueSel, 0);
    expect(drv.r(REG.QueueNumMax)).toBe(0);
    drv.w(REG.Status, 1);
    expect(drv.status).toBe(0);
    expect(drv.r(REG.Config)).toBe(0);
    expect(() => drv.init()).toThrow(/empty slot/);
    expect(t.errors).toBe(0);
  });

  it('QueueNumMax is 0 for queues the device does not have', () => {
    const { drv } = setup();
    drv.w(REG.QueueSel, 1);
    expect(drv.r(REG.QueueNumMax)).toBe(8);
    drv.w(REG.QueueSel, 2);
    expect(drv.r(REG.QueueNumMax)).toBe(0);
  });

  it('counts and ignores non-4-byte register accesses; config space takes 1, 2 and 4 bytes', () => {
    const { drv, t } = setup();
    expect(drv.r(REG.MagicValue, 1)).toBe(0);
    expect(drv.r(REG.MagicValue, 2)).toBe(0);
    drv.w(REG.Status, 1, 1);
    expect(drv.status).toBe(0);
    expect(t.errors).toBe(3);
    expect(drv.config8(1)).toBe(0x22);
    expect(drv.config16(2)).toBe(0x4433);
    expect(drv.config32(4)).toBe(0x88776655);
    drv.w(REG.Config + 1, 0xab, 1);
    expect(drv.config32(0)).toBe(0x4433ab11);
    expect(t.errors).toBe(3);
  });

  it('reads of write-only registers return 0 and count', () => {
    const { drv, t } = setup();
    expect(drv.r(REG.QueueNotify)).toBe(0);
    expect(drv.r(REG.DriverFeatures)).toBe(0);
    expect(t.errors).toBe(2);
  });

  it('through a real Bus an 8-byte read is split into two 4-byte register reads', () => {
    const bus = new Bus();
    const memory = new FakeMemory(RAM, 16);
    new VirtioMmio({ bus, base: BASE, irq: new FakeIrqLine(), memory, device: new EchoDevice() });
    expect(bus.read(BASE, 8)).toBe(BusStatus.Ok);
    expect([bus.dataLo, bus.dataHi]).toEqual([0x74726976, 2]);
    expect(bus.read(BASE + 0x101, 1)).toBe(BusStatus.Ok);
    expect(bus.dataLo).toBe(0x22);
    expect(bus.read(BASE + 0x200, 4)).toBe(BusStatus.AccessFault);
  });
});

describe('VirtioMmio feature negotiation and status', () => {
  it('accepts a subset including VERSION_1', () => {
    const { drv, t } = setup();
    expect(drv.init({ features: F_VERSION_1 })).toBe(F_VERSION_1);
    expect(t.driverFeatures).toBe(F_VERSION_1);
    expect(drv.status).toBe(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  });

  it('refuses FEATURES_OK without VERSION_1 or with features not offered', () => {
    for (const f of [F_ECHO, F_VERSION_1 | (1n << 40n)]) {
      const { drv, t } = setup();
      drv.w(REG.Status, 3);
      drv.writeDriverFeatures(f);
      drv.w(REG.Status, 3 | STATUS.FEATURES_OK);
      expect(drv.status & STATUS.FEATURES_OK).toBe(0);
      expect(t.errors).toBe(1);
    }
  });

  it('ignores DriverFeatures writes once FEATURES_OK is set', () => {
    const { drv, t } = setup();
    drv.init({ features: F_VERSION_1 });
    drv.w(REG.DriverFeaturesSel, 0);
    drv.w(REG.DriverFeatures, 0xffff_ffff);
    expect(t.driverFeatures).toBe(F_VERSION_1);
  });

  it('writing 0 to Status resets the device, its queues and the interrupt', () => {
    const s = ready();
    s.q.add([bytes('x')], [1]);
    s.q.kick();
    expect(s.irq.level).toBe(true);
    const resetsBefore = s.dev.resets;
    s.drv.w(REG.Status, 0);
    expect(s.drv.status).toBe(0);
    expect(s.irq.level).toBe(false);
    expect(s.drv.r(REG.InterruptStatus)).toBe(0);
    expect(s.dev.resets).toBe(resetsBefore + 1);
    s.drv.w(REG.QueueSel, 0);
    expect(s.drv.r(REG.QueueReady)).toBe(0);
    expect(s.drv.r(REG.QueueDescLow)).toBe(0);
    expect(s.t.driverFeatures).toBe(0n);
  });
});

describe('VirtioMmio queue setup', () => {
  it('reads back the queue layout registers', () => {
    const { drv } = setup();
    drv.w(REG.Status, 3);
    drv.writeDriverFeatures(F_VERSION_1);
    drv.w(REG.Status, 11);
    const q = drv.setupQueue(1, 4);
    drv.w(REG.QueueSel, 1);
    expect(drv.r(REG.QueueNum)).toBe(4);
    expect(drv.r(REG.QueueDescLow)).toBe(q.desc);
    expect(drv.r(REG.QueueDriverLow)).toBe(q.avail);
    expect(drv.r(REG.QueueDeviceLow)).toBe(q.used);
    expect(drv.r(REG.QueueDeviceHigh)).toBe(0);
    drv.w(REG.QueueSel, 0);
    expect(drv.r(REG.QueueReady)).toBe(0);
  });

  it('refuses QueueReady with a size of 0, above QueueNumMax, or not a power of two', () => {
    for (const num of [0, 16, 6]) {
      const { drv, t } = setup();
      drv.w(REG.QueueSel, 0);
      drv.w(REG.QueueNum, num);
      drv.w(REG.QueueReady, 1);
      expect(drv.r(REG.QueueReady)).toBe(0);
      expect(t.errors).toBe(1);
    }
  });

  it('ignores layout writes to a ready queue and QueueReady=0 disables it', () => {
    const s = ready();
    s.drv.w(REG.QueueSel, 0);
    s.drv.w(REG.QueueDescLow, 0x1234);
    expect(s.drv.r(REG.QueueDescLow)).toBe(s.q.desc);
    expect(s.t.errors).toBe(1);
    s.drv.w(REG.QueueReady, 0);
    expect(s.drv.r(REG.QueueReady)).toBe(0);
    s.q.add([bytes('a')], [1]);
    s.q.kick(); // notify of a disabled queue: counted, ignored
    expect(s.q.usedIdx()).toBe(0);
    expect(s.t.errors).toBe(2);
  });
});

describe('VirtioMmio split virtqueue', () => {
  it('echoes a chain: used elem {head, written}, used idx, interrupt bit 0, ack lowers the line', () => {
    const s = ready({ features: F_VERSION_1 });
    const tok = s.q.add([bytes('hello')], [8]);
    expect(s.irq.level).toBe(false);
    s.q.kick();
    expect(s.irq.changes).toEqual([true]);
    expect(s.drv.r(REG.InterruptStatus)).toBe(1);
    const used = s.q.collect();
    expect(used).toEqual([{ id: tok.head, len: 5, token: tok }]);
    expect(text(s.q.readIn(tok, 0).subarray(0, 5))).toBe('hello');
    expect(s.drv.ackInterrupt()).toBe(1);
    expect(s.irq.level).toBe(false);
    expect(s.t.notifies).toBe(1);
    expect(s.t.interrupts).toBe(1);
  });

  it('gathers and scatters across several readable and writable descriptors', () => {
    const s = ready({ features: F_VERSION_1 });
    const tok = s.q.add([bytes('abc'), bytes('defgh'), bytes('ij')], [4, 1, 10]);
    s.q.kick();
    expect(s.q.collect()[0].len).toBe(10);
    expect(text(s.q.readIn(tok, 0))).toBe('abcd');
    expect(text(s.q.readIn(tok, 1))).toBe('e');
    expect(text(s.q.readIn(tok, 2).subarray(0, 5))).toBe('fghij');
  });

  it('processes every available chain of one kick, wrapping the ring indices', () => {
    const s = ready({ features: F_VERSION_1 });
    const seen: string[] = [];
    for (let round = 0; round < 5; round++) {
      const toks = [0, 1, 2].map((i) => s.q.add([bytes(`r${round}c${i}`)], [8]));
      s.q.kick();
      for (const u of s.q.collect()) seen.push(text(s.q.readIn(u.token!, 0).subarray(0, u.len)));
      expect(s.q.freeCount).toBe(8);
      expect(toks).toHaveLength(3);
    }
    expect(seen).toHaveLength(15);
    expect(seen[14]).toBe('r4c2');
    expect(s.q.usedIdx()).toBe(15);
  });

  it('indirect descriptors work when negotiated', () => {
    const s = ready({ features: F_VERSION_1 | F_INDIRECT_DESC });
    const tok = s.q.add([bytes('in'), bytes('direct')], [4, 4], { indirect: true });
    expect(tok.descs).toHaveLength(1);
    s.q.kick();
    expect(s.q.collect()[0]).toMatchObject({ id: tok.head, len: 8 });
    expect(text(s.q.readIn(tok, 0)) + text(s.q.readIn(tok, 1))).toBe('indirect');
  });

  it('a direct prefix may end in an indirect table', () => {
    const s = ready({ features: F_VERSION_1 | F_INDIRECT_DESC });
    const a = s.drv.alloc.put(bytes('head+'));
    const b = s.drv.alloc.put(bytes('tail'));
    const out = s.drv.alloc.alloc(16);
    const table = s.drv.alloc.alloc(32);
    s.mem.write(table, descBytes(b, 4, DESC_NEXT, 1));
    s.mem.write(table + 16, descBytes(out, 16, DESC_WRITE, 0));
    s.q.writeDesc(0, a, 5, DESC_NEXT, 1);
    s.q.writeDesc(1, table, 32, DESC_INDIRECT);
    s.q.publish(0);
    s.q.kick();
    expect(s.q.collect()[0]).toMatchObject({ id: 0, len: 9 });
    expect(text(s.mem.read(out, 9))).toBe('head+tail');
  });

  it('skips zero-length descriptors without error', () => {
    const s = ready({ features: F_VERSION_1 });
    const a = s.drv.alloc.put(bytes('zz'));
    const out = s.drv.alloc.alloc(8);
    s.q.writeDesc(0, a, 0, DESC_NEXT, 1);
    s.q.writeDesc(1, a, 2, DESC_NEXT, 2);
    s.q.writeDesc(2, 0xdead_0000, 0, DESC_WRITE | DESC_NEXT, 3); // zero length: address unused
    s.q.writeDesc(3, out, 8, DESC_WRITE);
    s.q.publish(0);
    s.q.kick();
    expect(s.q.collect()[0]).toMatchObject({ id: 0, len: 2 });
    expect(s.t.errors).toBe(0);
  });

  it('defers kicks made before DRIVER_OK until DRIVER_OK (§3.1.1)', () => {
    const { drv, dev } = setup();
    drv.w(REG.Status, 3);
    drv.writeDriverFeatures(F_VERSION_1);
    drv.w(REG.Status, 11);
    const q = drv.setupQueue(0);
    q.add([bytes('early')], [8]);
    q.kick();
    expect(q.usedIdx()).toBe(0);
    expect(dev.notifies).toEqual([]);
    drv.w(REG.Status, 15);
    expect(dev.notifies).toEqual([0]);
    expect(q.usedIdx()).toBe(1);
  });

  it('honours VIRTQ_AVAIL_F_NO_INTERRUPT without EVENT_IDX', () => {
    const s = ready({ features: F_VERSION_1 });
    s.q.setNoInterrupt(true);
    s.q.add([bytes('q')], [1]);
    s.q.kick();
    expect(s.q.usedIdx()).toBe(1);
    expect(s.irq.level).toBe(false);
    s.q.setNoInterrupt(false);
    s.q.add([bytes('r')], [1]);
    s.q.kick();
    expect(s.irq.level).toBe(true);
  });

  it('config change: ConfigGeneration moves and InterruptStatus bit 1 is raised', () => {
    const s = ready();
    const gen = s.drv.r(REG.ConfigGeneration);
    s.t.configChanged();
    expect(s.drv.r(REG.ConfigGeneration)).toBe(gen + 1);
    expect(s.drv.r(REG.InterruptStatus)).toBe(2);
    expect(s.irq.level).toBe(true);
    s.drv.w(REG.InterruptACK, 2);
    expect(s.irq.level).toBe(false);
  });

  it('InterruptACK clears only the written bits; the line stays up while any bit is set', () => {
    const s = ready({ features: F_VERSION_1 });
    s.q.add([bytes('a')], [1]);
    s.q.kick();
    s.t.configChanged();
    expect(s.drv.r(REG.InterruptStatus)).toBe(3);
    s.drv.w(REG.InterruptACK, 1);
    expect(s.drv.r(REG.InterruptStatus)).toBe(2);
    expect(s.irq.level).toBe(true);
    s.drv.w(REG.InterruptACK, 2);
    expect(s.irq.changes).toEqual([true, false]);
  });
});

describe('VirtioMmio EVENT_IDX (§2.7.10)', () => {
  it('publishes avail_event after each pop so the next add is kicked', () => {
    const s = ready();
    expect(s.t.driverFeatures & F_EVENT_IDX).toBe(F_EVENT_IDX);
    s.q.add([bytes('1')], [1]);
    expect(s.q.kickIfNeeded()).toBe(true);
    expect(s.q.availEvent()).toBe(1);
    s.q.collect();
    s.q.add([bytes('2')], [1]);
    s.q.add([bytes('3')], [1]);
    expect(s.q.kickIfNeeded()).toBe(true);
    expect(s.q.availEvent()).toBe(3);
    expect(s.q.usedIdx()).toBe(3);
  });

  it('a driver holding back kicks loses nothing: the next kick takes all', () => {
    const s = ready();
    s.dev.hold = true;
    s.q.add([bytes('a')], [1]);
    s.q.kickIfNeeded();
    s.q.add([bytes('b')], [1]); // avail_event is now 1: passing it from 1 to 2 needs a kick
    expect(s.q.kickIfNeeded()).toBe(true);
    expect(s.dev.held).toHaveLength(2);
  });

  it('interrupts only when used idx passes used_event', () => {
    const s = ready();
    s.dev.hold = true;
    for (let i = 0; i < 4; i++) s.q.add([bytes(`${i}`)], [1]);
    s.q.kick();
    s.q.setUsedEvent(2); // interrupt when entry 2 is used (used idx 2 → 3)
    const raised: number[] = [];
    for (let i = 0; i < 4; i++) {
      s.dev.releaseOne();
      raised.push(s.drv.ackInterrupt());
    }
    // The first push always notifies (nothing signalled yet, QEMU signalled_used_valid); then
    // only the push that moves used idx from 2 to 3.
    expect(raised).toEqual([1, 0, 1, 0]);
    expect(s.q.usedIdx()).toBe(4);
    s.q.collect(); // re-arms: used_event = 4
    s.q.add([bytes('x')], [1]);
    s.q.kick();
    s.dev.releaseOne();
    expect(s.drv.ackInterrupt()).toBe(1);
    s.q.collect();
    s.q.add([bytes('y')], [1]);
    s.q.kick();
    s.q.setUsedEvent(0x100); // far away: no interrupt
    s.dev.release();
    expect(s.q.usedIdx()).toBe(6);
    expect(s.irq.level).toBe(false);
  });
});

describe('VirtioMmio malformed input never throws and sets DEVICE_NEEDS_RESET', () => {
  const post = (s: ReturnType<typeof ready>, head = 0) => {
    s.q.publish(head);
    expect(() => s.q.kick()).not.toThrow();
  };

  it('a descriptor loop', () => {
    const s = ready();
    const out = s.drv.alloc.alloc(4);
    s.q.writeDesc(0, out, 4, DESC_WRITE | DESC_NEXT, 1);
    s.q.writeDesc(1, out, 4, DESC_WRITE | DESC_NEXT, 0);
    post(s);
    expectBroken(s, /loop/);
    expect(s.q.usedIdx()).toBe(0);
  });

  it('a self-loop inside an indirect table', () => {
    const s = ready();
    const table = s.drv.alloc.alloc(32);
    s.mem.write(table, descBytes(RAM, 4, DESC_NEXT, 1));
    s.mem.write(table + 16, descBytes(RAM, 4, DESC_NEXT, 1));
    s.q.writeDesc(0, table, 32, DESC_INDIRECT);
    post(s);
    expectBroken(s, /loop/);
  });

  it('next or head out of range', () => {
    const a = ready();
    a.q.writeDesc(0, RAM, 4, DESC_NEXT, 8);
    post(a);
    expectBroken(a, /next 8/);
    const b = ready();
    post(b, 9);
    expectBroken(b, /head 9/);
  });

  it('avail idx moved more than the queue size', () => {
    const s = ready();
    s.q.setAvailIdx(9);
    s.q.kick();
    expectBroken(s, /avail idx/);
  });

  it('buffer addresses outside RAM and beyond 2^53', () => {
    for (const addr of [0x1000, RAM + RAM_SIZE - 2, 1n << 60n]) {
      const s = ready();
      s.q.writeDesc(0, addr, 4, 0, 0);
      post(s);
      expectBroken(s);
    }
  });

  it('a descriptor table, avail ring or used ring outside RAM', () => {
    for (const reg of [REG.QueueDescLow, REG.QueueDriverLow, REG.QueueDeviceLow]) {
      const s = setup();
      s.drv.w(REG.Status, 3);
      s.drv.writeDriverFeatures(F_VERSION_1);
      s.drv.w(REG.Status, 11);
      const q = s.drv.setupQueue(0);
      s.drv.w(REG.QueueReady, 0);
      s.drv.w(reg, 0x4000_0000);
      s.drv.w(REG.QueueReady, 1);
      s.drv.w(REG.Status, 15);
      q.add([bytes('a')], [1]);
      expect(() => q.kick()).not.toThrow();
      expect(s.drv.status & STATUS.NEEDS_RESET).toBe(STATUS.NEEDS_RESET);
      expect(s.t.errors).toBe(1);
    }
  });

  it('a ring address beyond 2^53', () => {
    const s = setup();
    s.drv.w(REG.Status, 3);
    s.drv.writeDriverFeatures(F_VERSION_1);
    s.drv.w(REG.Status, 11);
    const q = s.drv.setupQueue(0);
    s.drv.w(REG.QueueReady, 0);
    s.drv.w(REG.QueueDriverHigh, 0x8000_0000);
    s.drv.w(REG.QueueReady, 1);
    s.drv.w(REG.Status, 15);
    q.add([bytes('a')], [1]);
    expect(() => q.kick()).not.toThrow();
    expect(s.t.lastError).toMatch(/driver ring address beyond 2\^53/);
    expect(s.t.broken).toBe(true);
  });

  it('a readable descriptor after a writable one', () => {
    const s = ready();
    s.q.writeDesc(0, RAM, 4, DESC_WRITE | DESC_NEXT, 1);
    s.q.writeDesc(1, RAM, 4, 0);
    post(s);
    expectBroken(s, /readable descriptor after/);
  });

  it('indirect misuse: not negotiated, nested, with NEXT, bad length', () => {
    const cases: Array<[bigint, (s: ReturnType<typeof ready>) => void, RegExp]> = [
      [F_VERSION_1, (s) => s.q.writeDesc(0, s.drv.alloc.alloc(16), 16, DESC_INDIRECT), /not negotiated/],
      [
        F_VERSION_1 | F_INDIRECT_DESC,
        (s) => {
          const t = s.drv.alloc.alloc(16);
          s.mem.write(t, descBytes(t, 16, DESC_INDIRECT, 0));
          s.q.writeDesc(0, t, 16, DESC_INDIRECT);
        },
        /nested/,
      ],
      [
        F_VERSION_1 | F_INDIRECT_DESC,
        (s) => s.q.writeDesc(0, s.drv.alloc.alloc(16), 16, DESC_INDIRECT | DESC_NEXT, 1),
        /NEXT/,
      ],
      [F_VERSION_1 | F_INDIRECT_DESC, (s) => s.q.writeDesc(0, s.drv.alloc.alloc(16), 24, DESC_INDIRECT), /length 24/],
      [F_VERSION_1 | F_INDIRECT_DESC, (s) => s.q.writeDesc(0, RAM, 0, DESC_INDIRECT), /length 0/],
      [F_VERSION_1 | F_INDIRECT_DESC, (s) => s.q.writeDesc(0, RAM, 16 * 2048, DESC_INDIRECT), /2048 entries/],
    ];
    for (const [features, make, re] of cases) {
      const s = ready({ features });
      make(s);
      post(s);
      expectBroken(s, re);
    }
  });

  it('more chains in flight than the queue size (re-posted heads)', () => {
    const s = ready();
    s.dev.hold = true;
    const out = s.drv.alloc.alloc(4);
    s.q.writeDesc(0, out, 4, DESC_WRITE);
    for (let i = 0; i < 8; i++) s.q.publish(0);
    s.q.kick();
    expect(s.dev.held).toHaveLength(8);
    expect(s.t.errors).toBe(0);
    s.q.publish(0);
    s.q.kick();
    expectBroken(s, /in flight/);
  });

  it('a device exception in onNotify is contained', () => {
    const s = ready();
    s.dev.throwOnNotify = true;
    s.q.add([bytes('a')], [1]);
    expect(() => s.q.kick()).not.toThrow();
    expectBroken(s, /device bug/);
  });

  it('once broken, kicks are ignored until the driver resets; then it works again', () => {
    const s = ready();
    s.q.writeDesc(0, RAM, 4, DESC_NEXT, 0);
    post(s);
    expectBroken(s);
    const notifies = s.dev.notifies.length;
    s.q.kick();
    expect(s.dev.notifies.length).toBe(notifies);
    // A second error while broken is counted but changes nothing.
    const errors = s.t.errors;
    s.t.fail('again');
    expect(s.t.errors).toBe(errors + 1);
    s.drv.init();
    expect(s.t.broken).toBe(false);
    const q = s.drv.queues[0];
    const tok = q.add([bytes('ok')], [2]);
    q.kick();
    expect(q.collect()[0].len).toBe(2);
    expect(text(q.readIn(tok, 0))).toBe('ok');
  });

  it('a buffer that leaves RAM part-way through a copy', () => {
    const s = ready();
    const a = s.drv.alloc.put(bytes('abcd'));
    s.q.writeDesc(0, a, 4, DESC_NEXT, 1);
    s.q.writeDesc(1, RAM + RAM_SIZE - 2, 4, DESC_WRITE);
    post(s);
    expectBroken(s, /writing buffer/);
    expect(s.q.usedIdx()).toBe(0);
  });

  it('a pop loop is bounded by the queue size even if the avail ring keeps moving under it', () => {
    // A device whose buffers overlap the avail ring (here: it bumps avail->idx itself) would
    // otherwise never see the ring empty.
    class Runaway extends EchoDevice {
      pops = 0;
      availAddr = 0;
      override onNotify(_queue: number, q: VirtQueue): void {
        let c: Chain | null;
        while ((c = q.pop()) !== null && this.pops < 1000) {
          this.pops++;
          writeU16(this.transport.memory, this.availAddr + 2, (q.lastAvailIdx + 1) & 0xffff);
          q.push(c, 0);
        }
      }
    }
    const dev = new Runaway();
    const s = ready({ device: dev });
    dev.availAddr = s.q.avail;
    s.q.writeDesc(0, RAM, 4, DESC_WRITE);
    s.q.publish(0);
    s.q.kick();
    expect(dev.pops).toBe(8);
    s.q.kick();
    expect(dev.pops).toBe(16);
  });

  it('random garbage rings never throw and never hang', () => {
    // Deterministic LCG so the test is reproducible.
    let x = 12345;
    const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8);
    for (let trial = 0; trial < 200; trial++) {
      const s = ready();
      for (let i = 0; i < 8; i++) {
        const flags = rnd() & 7;
        const addr = rnd() & 1 ? RAM + (rnd() % RAM_SIZE) : rnd() * 4096;
        s.q.writeDesc(i, addr, rnd() % 64, flags, rnd() % 10);
      }
      for (let i = 0; i < 1 + (rnd() % 8); i++) s.q.publish(rnd() % 10);
      expect(() => s.q.kick()).not.toThrow();
      expect(s.q.usedIdx()).toBeLessThanOrEqual(8);
    }
  });
});

describe('VirtioMmio snapshots', () => {
  it('round-trips through JSON with chains held by the device', () => {
    const a = ready();
    a.dev.hold = true;
    const t1 = a.q.add([bytes('one')], [4]);
    const t2 = a.q.add([bytes('two')], [4]);
    a.q.kick();
    a.t.configChanged();
    const state = viaJson(a.t.getState());

    // A fresh machine with a copy of guest memory.
    const mem = new FakeMemory(RAM, RAM_SIZE);
    mem.bytes.set(a.mem.bytes);
    const b = setup({ memory: mem });
    b.t.setState(state);
    expect(b.irq.level).toBe(true);
    expect(b.t.getState()).toEqual(a.t.getState());

    a.dev.release();
    b.dev.release();
    expect(Buffer.compare(b.mem.bytes, a.mem.bytes)).toBe(0);
    expect(u16(b.mem, a.q.used + 2)).toBe(2);
    expect(u32(b.mem, a.q.used + 4)).toBe(t1.head);
    expect(u32(b.mem, a.q.used + 12)).toBe(t2.head);
    expect(b.t.getState()).toEqual(a.t.getState());
  });

  it('refuses a snapshot with a different queue count', () => {
    const a = ready();
    const state = viaJson(a.t.getState()) as { queues: unknown[] };
    state.queues.pop();
    expect(() => setup().t.setState(state)).toThrow(/queues/);
  });
});

describe('test driver sanity', () => {
  it('the allocator respects alignment and bounds', () => {
    const mem = new FakeMemory(RAM, 64);
    const a = new GuestAllocator(mem);
    expect(a.alloc(3)).toBe(RAM);
    expect(a.alloc(4, 16)).toBe(RAM + 16);
    expect(() => a.alloc(64)).toThrow(/exhausted/);
  });
});
