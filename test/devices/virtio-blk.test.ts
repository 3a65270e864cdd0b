import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FileBlockBackend,
  MemoryBlockBackend,
  VirtioBlk,
  type BlockBackend,
} from '../../devices/virtio-blk.js';
import { VirtioMmio } from '../../devices/virtio-mmio.js';
import { qcow2ImageBytes } from '../../src/block/qcow2-create.js';
import { EventScheduler } from '../../src/scheduler.js';
import { FakeBus, FakeClock, FakeIrqLine, FakeMemory, viaJson } from '../helpers/fakes.js';
import {
  DESC_NEXT,
  DESC_WRITE,
  F_INDIRECT_DESC,
  REG,
  STATUS,
  u16,
  u32,
  VirtioDriver,
  type DriverQueue,
  type Token,
} from '../helpers/virtio-driver.js';

const BASE = 0x1000_8000;
const RAM = 0x8000_0000;
const RAM_SIZE = 0x40_0000;
const SECTOR = 512;

// Spelled out from the spec (§5.2) rather than imported.
const T_IN = 0;
const T_OUT = 1;
const T_FLUSH = 4;
const T_GET_ID = 8;
const T_DISCARD = 11;
const S_OK = 0;
const S_IOERR = 1;
const S_UNSUPP = 2;
const F_SEG_MAX = 1n << 2n;
const F_RO = 1n << 5n;
const F_BLK_SIZE = 1n << 6n;
const F_FLUSH = 1n << 9n;

/** A disk whose sector n is filled with byte (n * 7 + 3) & 0xff. */
function patternDisk(sectors: number): Uint8Array {
  const d = new Uint8Array(sectors * SECTOR);
  for (let s = 0; s < sectors; s++) d.fill((s * 7 + 3) & 0xff, s * SECTOR, (s + 1) * SECTOR);
  return d;
}

interface Machine {
  bus: FakeBus;
  irq: FakeIrqLine;
  mem: FakeMemory;
  clock: FakeClock;
  scheduler: EventScheduler;
  blk: VirtioBlk;
  t: VirtioMmio;
  drv: VirtioDriver;
  runTo(cycle: number): number;
}

function machine(
  backend: BlockBackend,
  opts: { latencyCycles?: number; serial?: string; memory?: FakeMemory; queueSize?: number } = {},
): Machine {
  const bus = new FakeBus();
  const irq = new FakeIrqLine();
  const mem = opts.memory ?? new FakeMemory(RAM, RAM_SIZE);
  const clock = new FakeClock();
  const scheduler = new EventScheduler();
  const blk = new VirtioBlk({
    backend,
    scheduler,
    clock,
    latencyCycles: opts.latencyCycles,
    serial: opts.serial,
    queueSize: opts.queueSize,
  });
  const t = new VirtioMmio({ bus, base: BASE, irq, memory: mem, device: blk });
  const drv = new VirtioDriver(bus.region(), mem);
  const runTo = (cycle: number) => {
    clock.cycles = cycle;
    return scheduler.runDue(cycle);
  };
  return { bus, irq, mem, clock, scheduler, blk, t, drv, runTo };
}

function header(type: number, sector: bigint | number = 0): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, type, true);
  dv.setBigUint64(8, BigInt(sector), true);
  return b;
}

/** Linux virtblk_add_req layout: header, data, status byte (own descriptor). */
function request(
  q: DriverQueue,
  type: number,
  sector: bigint | number,
  opts: { data?: Uint8Array; inLen?: number; indirect?: boolean } = {},
): Token {
  const out = [header(type, sector)];
  if (opts.data) out.push(opts.data);
  const ins = opts.inLen ? [opts.inLen, 1] : [1];
  return q.add(out, ins, { indirect: opts.indirect });
}

function statusOf(q: DriverQueue, tok: Token): number {
  return q.readIn(tok, tok.inBufs.length - 1)[0];
}

/** Start a machine with the driver ready (queue 0 configured). */
function ready(backend: BlockBackend, opts: Parameters<typeof machine>[1] & { features?: bigint } = {}) {
  const m = machine(backend, opts);
  m.drv.init({ features: opts.features });
  return { ...m, q: m.drv.queues[0] };
}

/** Kick at the current cycle, then run to completion; returns the used elements. */
function roundTrip(m: ReturnType<typeof ready>) {
  m.q.kick();
  m.runTo(m.clock.cycles + m.blk.latencyCycles);
  return m.q.collect();
}

describe('VirtioBlk config and features', () => {
  it('is device 2 with FLUSH, SEG_MAX and BLK_SIZE; capacity in 512-byte sectors', () => {
    const m = machine(new MemoryBlockBackend(100 * SECTOR + 100));
    expect(m.drv.r(REG.DeviceID)).toBe(2);
    const f = m.drv.deviceFeatures();
    expect(f & (F_FLUSH | F_SEG_MAX | F_BLK_SIZE)).toBe(F_FLUSH | F_SEG_MAX | F_BLK_SIZE);
    expect(f & F_RO).toBe(0n);
    expect(m.drv.config64(0)).toBe(100n); // the partial trailing sector is not exposed
    expect(m.drv.config32(12)).toBe(254); // seg_max = queue size - 2
    expect(m.drv.config32(20)).toBe(512); // blk_size
    expect(m.drv.config8(0)).toBe(100);
    expect(m.drv.config16(0)).toBe(100);
    expect(m.drv.r(REG.QueueNumMax)).toBe(256);
  });

  it('offers RO for a read-only backend and ignores config writes', () => {
    const m = machine(new MemoryBlockBackend(8 * SECTOR, { readOnly: true }));
    expect(m.drv.deviceFeatures() & F_RO).toBe(F_RO);
    m.drv.w(REG.Config, 0x1234);
    expect(m.drv.config64(0)).toBe(8n);
  });

  it('refuses a negative latency', () => {
    expect(() => machine(new MemoryBlockBackend(512), { latencyCycles: -1 })).toThrow(/latency/);
  });
});

describe('VirtioBlk requests', () => {
  it('IN reads sectors; completion comes exactly latencyCycles after the kick, with an interrupt', () => {
    const m = ready(new MemoryBlockBackend(patternDisk(16)));
    m.runTo(5000);
    const tok = request(m.q, T_IN, 2, { inLen: 2 * SECTOR });
    m.q.kick();
    expect(m.blk.pending).toBe(1);
    expect(m.scheduler.nextDeadline()).toBe(6000);
    m.runTo(5999);
    expect(m.q.usedIdx()).toBe(0);
    expect(m.irq.level).toBe(false);
    m.runTo(6000);
    expect(m.irq.level).toBe(true);
    expect(m.drv.r(REG.InterruptStatus)).toBe(1);
    const used = m.q.collect();
    expect(used).toEqual([{ id: tok.head, len: 2 * SECTOR + 1, token: tok }]);
    expect(statusOf(m.q, tok)).toBe(S_OK);
    const data = m.q.readIn(tok, 0);
    expect(data[0]).toBe(2 * 7 + 3);
    expect(data[SECTOR]).toBe(3 * 7 + 3);
    expect(m.blk.stats).toMatchObject({ reads: 1, bytesRead: 1024 });
  });

  it('OUT writes sectors; the backend changes only at completion; read back matches', () => {
    const backend = new MemoryBlockBackend(16 * SECTOR);
    const m = ready(backend, { latencyCycles: 10 });
    const payload = new Uint8Array(3 * SECTOR).map((_, i) => (i * 31) & 0xff);
    const w = request(m.q, T_OUT, 5, { data: payload });
    m.q.kick();
    expect(backend.data[5 * SECTOR + 1]).toBe(0);
    m.runTo(10);
    expect(m.q.collect()[0]).toMatchObject({ id: w.head, len: 1 });
    expect(statusOf(m.q, w)).toBe(S_OK);
    expect(backend.data.subarray(5 * SECTOR, 8 * SECTOR)).toEqual(payload);
    const r = request(m.q, T_IN, 5, { inLen: 3 * SECTOR });
    m.q.kick();
    m.runTo(20);
    m.q.collect();
    expect(m.q.readIn(r, 0)).toEqual(payload);
    expect(m.blk.stats).toMatchObject({ writes: 1, reads: 1, bytesWritten: 1536 });
  });

  it('data split over several descriptors (scatter-gather)', () => {
    const backend = new MemoryBlockBackend(patternDisk(8));
    const m = ready(backend);
    // Header and first data bytes share a descriptor; data continues in two more.
    const a = new Uint8Array(16 + 100);
    a.set(header(T_OUT, 1));
    a.fill(0xaa, 16);
    const w = m.q.add([a, new Uint8Array(300).fill(0xbb), new Uint8Array(112).fill(0xcc)], [1]);
    const r = m.q.add([header(T_IN, 1)], [200, 312, 1]);
    const used = roundTrip(m);
    expect(used.map((u) => u.len)).toEqual([1, 513]);
    expect(statusOf(m.q, w)).toBe(S_OK);
    const sector = backend.data.subarray(SECTOR, 2 * SECTOR);
    const probe = [0, 99, 100, 399, 400, 511].map((i) => sector[i]);
    expect(probe).toEqual([0xaa, 0xaa, 0xbb, 0xbb, 0xcc, 0xcc]);
    const back = new Uint8Array([...m.q.readIn(r, 0), ...m.q.readIn(r, 1)]);
    expect(back).toEqual(sector);
  });

  it('a request spanning several host chunks (1 MiB)', () => {
    const backend = new MemoryBlockBackend(patternDisk(4096));
    const m = ready(backend);
    const r = request(m.q, T_IN, 10, { inLen: 1 << 20 });
    roundTrip(m);
    expect(statusOf(m.q, r)).toBe(S_OK);
    expect(Buffer.compare(m.q.readIn(r, 0), backend.data.subarray(10 * SECTOR, 10 * SECTOR + (1 << 20)))).toBe(0);
  });

  it('FLUSH calls backend.flush()', () => {
    const backend = new MemoryBlockBackend(8 * SECTOR);
    const m = ready(backend);
    const f = request(m.q, T_FLUSH, 0);
    expect(roundTrip(m)[0].len).toBe(1);
    expect(statusOf(m.q, f)).toBe(S_OK);
    expect(backend.flushes).toBe(1);
  });

  it('GET_ID returns the serial zero-padded to 20 bytes, truncated at 20', () => {
    const m = ready(new MemoryBlockBackend(SECTOR), { serial: 'disk-0' });
    const g = request(m.q, T_GET_ID, 0, { inLen: 20 });
    expect(roundTrip(m)[0].len).toBe(21);
    expect(statusOf(m.q, g)).toBe(S_OK);
    const id = m.q.readIn(g, 0);
    expect(new TextDecoder().decode(id.subarray(0, 6))).toBe('disk-0');
    expect([...id.subarray(6)]).toEqual(new Array(14).fill(0));

    const n = ready(new MemoryBlockBackend(SECTOR), { serial: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' });
    const h = request(n.q, T_GET_ID, 0, { inLen: 20 });
    roundTrip(n);
    expect(new TextDecoder().decode(n.q.readIn(h, 0))).toBe('ABCDEFGHIJKLMNOPQRST');
  });

  it('unsupported types answer UNSUPP', () => {
    const m = ready(new MemoryBlockBackend(SECTOR));
    const d = request(m.q, T_DISCARD, 0, { data: new Uint8Array(16) });
    const x = request(m.q, 0x7777, 0);
    expect(roundTrip(m).map((u) => u.len)).toEqual([1, 1]);
    expect(statusOf(m.q, d)).toBe(S_UNSUPP);
    expect(statusOf(m.q, x)).toBe(S_UNSUPP);
    expect(m.blk.stats.unsupported).toBe(2);
  });

  it('read-only: OUT fails with IOERR and changes nothing; IN and FLUSH work', () => {
    const backend = new MemoryBlockBackend(patternDisk(4), { readOnly: true });
    const m = ready(backend);
    const w = request(m.q, T_OUT, 0, { data: new Uint8Array(SECTOR).fill(0xee) });
    const r = request(m.q, T_IN, 0, { inLen: SECTOR });
    const f = request(m.q, T_FLUSH, 0);
    roundTrip(m);
    expect([statusOf(m.q, w), statusOf(m.q, r), statusOf(m.q, f)]).toEqual([S_IOERR, S_OK, S_OK]);
    expect(backend.data[0]).toBe(3);
    expect(m.blk.stats.ioErrors).toBe(1);
  });

  it('out of range or misaligned requests fail with IOERR', () => {
    const m = ready(new MemoryBlockBackend(patternDisk(8)));
    const cases = [
      request(m.q, T_IN, 8, { inLen: SECTOR }), // first sector past the end
      request(m.q, T_IN, 7, { inLen: 2 * SECTOR }), // runs past the end
      request(m.q, T_OUT, 7, { data: new Uint8Array(2 * SECTOR) }),
      request(m.q, T_IN, 1n << 63n, { inLen: SECTOR }), // sector·512 overflows 64 bits
      request(m.q, T_IN, 0xffff_ffff_ffff_ffffn, { inLen: SECTOR }),
      request(m.q, T_IN, 0, { inLen: 100 }), // not a sector multiple
      request(m.q, T_OUT, 0, { data: new Uint8Array(513) }),
    ];
    const used = roundTrip(m);
    expect(used.map((u) => u.len)).toEqual(new Array(cases.length).fill(1));
    expect(cases.map((t) => statusOf(m.q, t))).toEqual(new Array(cases.length).fill(S_IOERR));
    const ok = request(m.q, T_IN, 7, { inLen: SECTOR });
    roundTrip(m);
    expect(statusOf(m.q, ok)).toBe(S_OK);
    expect(m.t.errors).toBe(0);
  });

  it('host I/O errors become IOERR', () => {
    const failing: BlockBackend = {
      size: 8 * SECTOR,
      readOnly: false,
      read() {
        throw new Error('EIO');
      },
      write() {
        throw new Error('EIO');
      },
      flush() {
        throw new Error('EIO');
      },
    };
    const m = ready(failing);
    const ts = [
      request(m.q, T_IN, 0, { inLen: SECTOR }),
      request(m.q, T_OUT, 0, { data: new Uint8Array(SECTOR) }),
      request(m.q, T_FLUSH, 0),
    ];
    roundTrip(m);
    expect(ts.map((t) => statusOf(m.q, t))).toEqual([S_IOERR, S_IOERR, S_IOERR]);
    expect(m.blk.stats.ioErrors).toBe(3);
  });

  it('indirect descriptors (Linux uses them for multi-segment requests)', () => {
    const backend = new MemoryBlockBackend(patternDisk(8));
    const m = ready(backend);
    expect(m.drv.negotiated & F_INDIRECT_DESC).toBe(F_INDIRECT_DESC);
    const w = request(m.q, T_OUT, 3, { data: new Uint8Array(SECTOR).fill(0x5a), indirect: true });
    const r = request(m.q, T_IN, 3, { inLen: SECTOR, indirect: true });
    expect(w.descs).toHaveLength(1);
    roundTrip(m);
    expect(statusOf(m.q, w)).toBe(S_OK);
    expect(m.q.readIn(r, 0)).toEqual(new Uint8Array(SECTOR).fill(0x5a));
  });

  it('all chains of one kick complete together; a later kick completes later', () => {
    const m = ready(new MemoryBlockBackend(patternDisk(8)), { latencyCycles: 100 });
    request(m.q, T_IN, 0, { inLen: SECTOR });
    request(m.q, T_IN, 1, { inLen: SECTOR });
    m.q.kick(); // cycle 0 → due 100
    m.runTo(50);
    request(m.q, T_IN, 2, { inLen: SECTOR });
    m.q.kick(); // cycle 50 → due 150
    expect(m.runTo(100)).toBe(1);
    expect(m.q.usedIdx()).toBe(2);
    expect(m.scheduler.nextDeadline()).toBe(150);
    m.runTo(150);
    expect(m.q.usedIdx()).toBe(3);
    expect(m.scheduler.nextDeadline()).toBe(Infinity);
  });

  it('latency 0 completes at the kick cycle (on the next runDue)', () => {
    const m = ready(new MemoryBlockBackend(SECTOR), { latencyCycles: 0 });
    m.runTo(77);
    request(m.q, T_FLUSH, 0);
    m.q.kick();
    expect(m.scheduler.nextDeadline()).toBe(77);
    m.runTo(77);
    expect(m.q.usedIdx()).toBe(1);
  });
});

describe('VirtioBlk malformed requests', () => {
  it('a request without a full header sets DEVICE_NEEDS_RESET and is not answered', () => {
    const m = ready(new MemoryBlockBackend(SECTOR));
    m.q.add([new Uint8Array(8)], [1]);
    expect(() => roundTrip(m)).not.toThrow();
    expect(m.drv.status & STATUS.NEEDS_RESET).toBe(STATUS.NEEDS_RESET);
    expect(m.q.usedIdx()).toBe(0);
    expect(m.t.lastError).toMatch(/header/);
  });

  it('a request without a status byte sets DEVICE_NEEDS_RESET', () => {
    const m = ready(new MemoryBlockBackend(SECTOR));
    m.q.add([header(T_FLUSH)], []);
    expect(() => roundTrip(m)).not.toThrow();
    expect(m.drv.status & STATUS.NEEDS_RESET).toBe(STATUS.NEEDS_RESET);
  });

  it('a data buffer outside RAM: no throw from the event, DEVICE_NEEDS_RESET, later requests dropped', () => {
    const m = ready(new MemoryBlockBackend(patternDisk(4)));
    const hdr = m.drv.alloc.put(header(T_IN, 0));
    const status = m.drv.alloc.alloc(1);
    m.q.writeDesc(0, hdr, 16, DESC_NEXT, 1);
    m.q.writeDesc(1, 0x1000, SECTOR, DESC_WRITE | DESC_NEXT, 2);
    m.q.writeDesc(2, status, 1, DESC_WRITE);
    m.q.publish(0);
    request(m.q, T_FLUSH, 0);
    m.q.kick();
    expect(() => m.runTo(1000)).not.toThrow();
    expect(m.drv.status & STATUS.NEEDS_RESET).toBe(STATUS.NEEDS_RESET);
    expect(m.q.usedIdx()).toBe(0);
    expect(m.blk.pending).toBe(0);
    expect(m.irq.level).toBe(true); // configuration change notification
    expect(m.drv.r(REG.InterruptStatus)).toBe(2);
  });

  it('a descriptor loop is caught at the kick; the event queue stays empty', () => {
    const m = ready(new MemoryBlockBackend(SECTOR));
    m.q.writeDesc(0, RAM, 16, DESC_NEXT, 1);
    m.q.writeDesc(1, RAM, 16, DESC_NEXT, 0);
    m.q.publish(0);
    expect(() => m.q.kick()).not.toThrow();
    expect(m.t.broken).toBe(true);
    expect(m.scheduler.nextDeadline()).toBe(Infinity);
  });

  it('zero-length descriptors are skipped', () => {
    const m = ready(new MemoryBlockBackend(patternDisk(2)));
    const hdr = m.drv.alloc.put(header(T_IN, 1));
    const data = m.drv.alloc.alloc(SECTOR);
    const status = m.drv.alloc.alloc(1);
    m.q.writeDesc(0, hdr, 16, DESC_NEXT, 1);
    m.q.writeDesc(1, hdr, 0, DESC_NEXT, 2);
    m.q.writeDesc(2, data, SECTOR, DESC_WRITE | DESC_NEXT, 3);
    m.q.writeDesc(3, data, 0, DESC_WRITE | DESC_NEXT, 4);
    m.q.writeDesc(4, status, 1, DESC_WRITE);
    m.q.publish(0);
    expect(roundTrip(m)[0]).toMatchObject({ id: 0, len: SECTOR + 1 });
    expect(m.mem.read(status, 1)[0]).toBe(S_OK);
    expect(m.mem.read(data, 1)[0]).toBe(10);
  });
});

describe('VirtioBlk reset and snapshots', () => {
  it('a device reset (Status 0) drops in-flight requests and cancels the event', () => {
    const backend = new MemoryBlockBackend(4 * SECTOR);
    const m = ready(backend);
    request(m.q, T_OUT, 0, { data: new Uint8Array(SECTOR).fill(1) });
    m.q.kick();
    expect(m.blk.pending).toBe(1);
    m.drv.w(REG.Status, 0);
    expect(m.blk.pending).toBe(0);
    expect(m.scheduler.nextDeadline()).toBe(Infinity);
    m.runTo(5000);
    expect(backend.data[0]).toBe(0);
    expect(m.irq.level).toBe(false);
  });

  it('round-trips through JSON with requests in flight, and both machines finish identically', () => {
    const mk = (data: Uint8Array, memory?: FakeMemory) =>
      machine(new MemoryBlockBackend(data), { latencyCycles: 1000, memory });
    const a = mk(patternDisk(32));
    a.drv.init();
    const q = a.drv.queues[0];
    a.runTo(100);
    const w = request(q, T_OUT, 4, { data: new Uint8Array(2 * SECTOR).fill(0x42) });
    const r = request(q, T_IN, 20, { inLen: SECTOR });
    q.kick(); // due 1100
    a.runTo(600);
    const f = request(q, T_FLUSH, 0);
    q.kick(); // due 1600
    a.runTo(700);
    const tState = viaJson(a.t.getState());
    expect((tState as { device: { inFlight: unknown[] } }).device.inFlight).toHaveLength(3);

    const mem = new FakeMemory(RAM, RAM_SIZE);
    mem.bytes.set(a.mem.bytes);
    const b = mk(patternDisk(32), mem);
    b.clock.cycles = 700;
    b.t.setState(tState);
    expect(b.t.getState()).toEqual(a.t.getState());
    expect(b.scheduler.nextDeadline()).toBe(1100);

    for (const m of [a, b]) {
      m.runTo(1100);
      expect(u16(m.mem, q.used + 2)).toBe(2);
      m.runTo(1600);
      expect(u16(m.mem, q.used + 2)).toBe(3);
    }
    expect(Buffer.compare(a.mem.bytes, b.mem.bytes)).toBe(0);
    expect((b.blk.backend as MemoryBlockBackend).data).toEqual((a.blk.backend as MemoryBlockBackend).data);
    expect(u32(b.mem, q.used + 4)).toBe(w.head);
    expect(u32(b.mem, q.used + 12)).toBe(r.head);
    expect(u32(b.mem, q.used + 20)).toBe(f.head);
    expect(b.mem.read(r.inBufs[0].addr, 1)[0]).toBe((20 * 7 + 3) & 0xff);
    expect(b.blk.stats).toEqual(a.blk.stats);
  });
});

describe('FileBlockBackend', () => {
  const dirs: string[] = [];
  const tempImage = (data: Uint8Array) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-blk-'));
    dirs.push(dir);
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, data);
    return file;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('guest writes are in the file as soon as the request completes (before any flush or close)', () => {
    const file = tempImage(patternDisk(16));
    const backend = new FileBlockBackend(file);
    expect(backend.size).toBe(16 * SECTOR);
    const m = ready(backend);
    const payload = new TextEncoder().encode('persisted by virtio-blk'.padEnd(SECTOR, '.'));
    const w = request(m.q, T_OUT, 3, { data: payload });
    m.q.kick();
    m.runTo(999);
    expect(fs.readFileSync(file).subarray(3 * SECTOR, 4 * SECTOR)).not.toEqual(Buffer.from(payload));
    m.runTo(1000);
    expect(statusOf(m.q, w)).toBe(S_OK);
    const onDisk = fs.readFileSync(file);
    expect(onDisk.subarray(3 * SECTOR, 4 * SECTOR)).toEqual(Buffer.from(payload));
    expect(onDisk[2 * SECTOR]).toBe(17); // neighbours untouched

    const r = request(m.q, T_IN, 2, { inLen: 2 * SECTOR });
    const f = request(m.q, T_FLUSH, 0);
    roundTrip(m);
    expect([statusOf(m.q, r), statusOf(m.q, f)]).toEqual([S_OK, S_OK]);
    expect(m.q.readIn(r, 0).subarray(SECTOR)).toEqual(payload);
    backend.close();
    backend.close(); // idempotent
    expect(() => backend.read(0, new Uint8Array(1))).toThrow(/closed/);
  });

  it('read-only images: RO offered, OUT is IOERR, the file is unchanged', () => {
    const file = tempImage(patternDisk(4));
    const backend = new FileBlockBackend(file, { readOnly: true });
    const m = ready(backend);
    expect(m.drv.negotiated & F_RO).toBe(F_RO);
    const w = request(m.q, T_OUT, 0, { data: new Uint8Array(SECTOR).fill(9) });
    const r = request(m.q, T_IN, 1, { inLen: SECTOR });
    roundTrip(m);
    expect([statusOf(m.q, w), statusOf(m.q, r)]).toEqual([S_IOERR, S_OK]);
    expect(m.q.readIn(r, 0)[0]).toBe(10);
    expect(fs.readFileSync(file)).toEqual(Buffer.from(patternDisk(4)));
    backend.close();
  });

  it('an image that is not a sector multiple is refused when opened (issue 8: QEMU 7.2 rounds up and grows it)', () => {
    const file = tempImage(new Uint8Array(2 * SECTOR + 10).fill(7));
    expect(() => new FileBlockBackend(file)).toThrow(/size 1034 bytes is not a multiple of 512/);
    expect(() => new FileBlockBackend(file, { forceRaw: true })).toThrow(/not a multiple of 512/);
  });

  it('a qcow2 header selects the qcow2 layer (issue 13), which virtio-blk drives like raw; forceRaw takes the bytes as they are', () => {
    const image = qcow2ImageBytes({ size: 1 << 20 });
    const file = tempImage(image);
    const b = new FileBlockBackend(file);
    expect([b.format, b.driver?.name]).toEqual(['qcow2', 'qcow2']);
    const disk = b.driver!.open!(b);
    expect(disk.size).toBe(1 << 20);
    const m = ready(disk);
    expect(m.blk.capacity).toBe(2048);
    const data = new Uint8Array(3 * SECTOR).map((_, i) => i & 0xff);
    const w = request(m.q, T_OUT, 200, { data });
    roundTrip(m);
    const r = request(m.q, T_IN, 200, { inLen: 3 * SECTOR });
    const f = request(m.q, T_FLUSH, 0);
    roundTrip(m);
    expect([statusOf(m.q, w), statusOf(m.q, r), statusOf(m.q, f)]).toEqual([S_OK, S_OK, S_OK]);
    expect(m.q.readIn(r, 0)).toEqual(data);
    expect(fs.statSync(file).size).toBeGreaterThan(image.length); // an L2 table and a data cluster
    b.close();
    // The first sector alone is a truncated qcow2: the layer refuses it; format=raw takes 512 bytes.
    const cut = tempImage(image.subarray(0, SECTOR));
    const c = new FileBlockBackend(cut);
    expect(() => c.driver!.open!(c)).toThrow(/^qcow2 image is truncated/);
    c.close();
    const raw = new FileBlockBackend(cut, { forceRaw: true });
    expect([raw.format, raw.size]).toEqual(['raw', SECTOR]);
    raw.close();
  });

  it('a host-side failure is an IOERR for the guest and one report for the user', () => {
    const file = tempImage(patternDisk(4));
    const backend = new FileBlockBackend(file);
    const reports: string[] = [];
    backend.onHostError = (m) => reports.push(m);
    const m = ready(backend);
    fs.truncateSync(file, SECTOR);
    const w = request(m.q, T_OUT, 3, { data: new Uint8Array(SECTOR).fill(1) });
    const r = request(m.q, T_IN, 0, { inLen: SECTOR });
    roundTrip(m);
    expect([statusOf(m.q, w), statusOf(m.q, r)]).toEqual([S_IOERR, S_IOERR]);
    expect(m.blk.stats.ioErrors).toBe(2);
    expect(fs.statSync(file).size).toBe(SECTOR); // the write did not grow it back
    expect(reports).toHaveLength(1);
    backend.close();
  });
});
