import { describe, expect, it } from 'vitest';
import { VirtioMmio } from '../../devices/virtio-mmio.js';
import { DEFAULT_RNG_SEED, seedXoshiro128, VirtioRng } from '../../devices/virtio-rng.js';
import { FakeBus, FakeIrqLine, FakeMemory, viaJson } from '../helpers/fakes.js';
import { F_EVENT_IDX, F_INDIRECT_DESC, F_VERSION_1, REG, VirtioDriver } from '../helpers/virtio-driver.js';

const BASE = 0x1000_7000;
const RAM = 0x8000_0000;

function setup(seed?: bigint | number, memory?: FakeMemory) {
  const bus = new FakeBus();
  const irq = new FakeIrqLine();
  const mem = memory ?? new FakeMemory(RAM, 0x8_0000);
  const rng = new VirtioRng({ seed });
  const t = new VirtioMmio({ bus, base: BASE, irq, memory: mem, device: rng });
  const drv = new VirtioDriver(bus.region(), mem);
  return { bus, irq, mem, rng, t, drv };
}

/** Linux virtio-rng: one write-only buffer per request, kicked, answered by an interrupt. */
function entropy(s: ReturnType<typeof setup>, len: number): Uint8Array {
  const q = s.drv.queues[0];
  const tok = q.add([], [len]);
  q.kick();
  const used = q.collect();
  expect(used).toHaveLength(1);
  return q.readIn(tok, 0).subarray(0, used[0].len);
}

describe('VirtioRng', () => {
  it('is device 4 with no device features and a 64-entry queue', () => {
    const { drv } = setup();
    expect(drv.r(REG.DeviceID)).toBe(4);
    expect(drv.deviceFeatures()).toBe(F_VERSION_1 | F_INDIRECT_DESC | F_EVENT_IDX);
    expect(drv.r(REG.QueueNumMax)).toBe(64);
    expect(drv.config32(0)).toBe(0xffff_ffff); // no config space
  });

  it('xoshiro128** seeded by splitmix64 matches an independent reference implementation', () => {
    const rng = new VirtioRng();
    const words = [rng.next32(), rng.next32(), rng.next32(), rng.next32()];
    expect(words).toEqual([0xcb388dea, 0xf82ee8e6, 0x18f83a3b, 0x355a5663]);
    expect(Buffer.from(new VirtioRng().fill(16)).toString('hex')).toBe('ea8d38cbe6e82ef83b3af81863565a35');
    expect(new VirtioRng().seed).toBe(DEFAULT_RNG_SEED);
  });

  it('fills the buffer synchronously in the kick and interrupts', () => {
    const s = setup();
    s.drv.init();
    const bytes = entropy(s, 64);
    expect(bytes).toHaveLength(64);
    expect(Buffer.from(bytes.subarray(0, 16)).toString('hex')).toBe('ea8d38cbe6e82ef83b3af81863565a35');
    expect(s.irq.level).toBe(true);
    expect(s.drv.ackInterrupt()).toBe(1);
    expect(s.rng.bytes).toBe(64);
    expect(s.rng.requests).toBe(1);
  });

  it('same seed, same bytes; different seed, different bytes; the stream moves on', () => {
    const a = setup(1234);
    const b = setup(1234);
    const c = setup(1235);
    for (const s of [a, b, c]) s.drv.init();
    const a1 = entropy(a, 32);
    const a2 = entropy(a, 32);
    expect(entropy(b, 32)).toEqual(a1);
    expect(entropy(b, 32)).toEqual(a2);
    expect(a2).not.toEqual(a1);
    expect(entropy(c, 32)).not.toEqual(a1);
    expect(new VirtioRng({ seed: 1234n }).fill(8)).toEqual(new VirtioRng({ seed: 1234 }).fill(8));
  });

  it('scatters one stream across several writable descriptors and ignores readable ones', () => {
    const s = setup();
    s.drv.init();
    const q = s.drv.queues[0];
    const tok = q.add([Uint8Array.of(1, 2, 3)], [5, 11]);
    q.kick();
    expect(q.collect()[0].len).toBe(16);
    const got = new Uint8Array([...q.readIn(tok, 0), ...q.readIn(tok, 1)]);
    expect(got).toEqual(new VirtioRng().fill(16));
  });

  it('a chain with no writable space completes with length 0; huge buffers are capped at 64 KiB', () => {
    const s = setup();
    s.drv.init();
    const q = s.drv.queues[0];
    q.add([Uint8Array.of(1)], []);
    q.kick();
    expect(q.collect()[0].len).toBe(0);
    q.add([], [100_000]);
    q.kick();
    expect(q.collect()[0].len).toBe(65536);
  });

  it('device reset keeps the stream going; reseed() restarts it', () => {
    const s = setup();
    s.drv.init();
    const first = entropy(s, 16);
    s.drv.init(); // Status 0 then re-initialisation
    const second = entropy(s, 16);
    expect(second).not.toEqual(first);
    s.rng.reseed();
    expect(entropy(s, 16)).toEqual(first);
  });

  it('snapshots carry the generator state', () => {
    const a = setup(99);
    a.drv.init();
    entropy(a, 40);
    const state = viaJson(a.t.getState());
    const mem = new FakeMemory(RAM, 0x8_0000);
    mem.bytes.set(a.mem.bytes);
    const b = setup(5, mem); // a different seed: the snapshot wins
    b.t.setState(state);
    expect(b.rng.getState()).toEqual(a.rng.getState());
    expect(b.rng.fill(24)).toEqual(a.rng.fill(24));
    expect(b.rng.bytes).toBe(40);
  });

  it('seeding never yields the all-zero state', () => {
    for (const seed of [0n, 1n, -1n, 1n << 63n]) {
      const st = seedXoshiro128(seed);
      expect(st.some((w) => w !== 0)).toBe(true);
    }
  });
});
