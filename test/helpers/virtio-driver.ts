/**
 * A small virtio-mmio driver for tests, doing what Linux's virtio_mmio.c + virtio_ring.c do:
 * probe, reset, ACKNOWLEDGE/DRIVER, feature negotiation with FEATURES_OK read-back, split-ring
 * setup (QueueSel/QueueNumMax/QueueNum/addresses/QueueReady), DRIVER_OK, posting chains (direct or
 * through an indirect table), kicking (honouring avail_event with EVENT_IDX), reading the used
 * ring and acknowledging interrupts. Guest memory is a FakeMemory with a bump allocator; raw
 * helpers let tests write malformed descriptors and rings.
 */
import type { ImplSize } from '../../src/bus/types.js';
import type { FakeMemory } from './fakes.js';

// Register offsets and bits, spelled out here so the tests do not just echo the device's constants.
export const REG = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceID: 0x008,
  VendorID: 0x00c,
  DeviceFeatures: 0x010,
  DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020,
  DriverFeaturesSel: 0x024,
  QueueSel: 0x030,
  QueueNumMax: 0x034,
  QueueNum: 0x038,
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptACK: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueDriverLow: 0x090,
  QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0,
  QueueDeviceHigh: 0x0a4,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const;

export const STATUS = { ACKNOWLEDGE: 1, DRIVER: 2, DRIVER_OK: 4, FEATURES_OK: 8, NEEDS_RESET: 0x40, FAILED: 0x80 };
export const F_INDIRECT_DESC = 1n << 28n;
export const F_EVENT_IDX = 1n << 29n;
export const F_VERSION_1 = 1n << 32n;
export const DESC_NEXT = 1;
export const DESC_WRITE = 2;
export const DESC_INDIRECT = 4;

/** Anything with the MmioRegion handler signature (a FakeBus region, or a Bus adapter). */
export interface RegisterPort {
  read(offset: number, size: ImplSize): number;
  write(offset: number, size: ImplSize, value: number): void;
}

/** Bump allocator over a FakeMemory (never frees; tests are short). */
export class GuestAllocator {
  private next: number;
  constructor(
    readonly mem: FakeMemory,
    start = mem.base,
    readonly end = mem.base + mem.bytes.length,
  ) {
    this.next = start;
  }
  alloc(len: number, align = 16): number {
    const addr = Math.ceil(this.next / align) * align;
    if (addr + len > this.end) throw new Error('test guest memory exhausted');
    this.next = addr + len;
    return addr;
  }
  /** Allocate and fill. */
  put(data: Uint8Array, align = 16): number {
    const a = this.alloc(data.length, align);
    this.mem.write(a, data);
    return a;
  }
}

// ---------------------------------------------------------------- little-endian helpers on FakeMemory

export function u16(mem: FakeMemory, pa: number): number {
  const b = mem.read(pa, 2);
  return b[0] | (b[1] << 8);
}
export function u32(mem: FakeMemory, pa: number): number {
  const b = mem.read(pa, 4);
  return new DataView(b.buffer).getUint32(0, true);
}
export function setU16(mem: FakeMemory, pa: number, v: number): void {
  mem.write(pa, Uint8Array.of(v & 0xff, (v >> 8) & 0xff));
}
export function setU32(mem: FakeMemory, pa: number, v: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  mem.write(pa, b);
}

/** Encode one 16-byte descriptor. `addr` may be a bigint to reach beyond 2^53. */
export function descBytes(addr: number | bigint, len: number, flags: number, next: number): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, BigInt.asUintN(64, BigInt(addr)), true);
  dv.setUint32(8, len >>> 0, true);
  dv.setUint16(12, flags, true);
  dv.setUint16(14, next, true);
  return b;
}

/** vring_need_event (include/uapi/linux/virtio_ring.h). */
export function needEvent(event: number, neu: number, old: number): boolean {
  return ((neu - event - 1) & 0xffff) < ((neu - old) & 0xffff);
}

// ---------------------------------------------------------------- buffers and tokens

export interface InBuffer {
  addr: number;
  len: number;
}

/** A request posted by `add`; `inBufs` are the device-writable buffers in chain order. */
export interface Token {
  head: number;
  descs: number[];
  outAddrs: number[];
  inBufs: InBuffer[];
  indirectTable?: number;
}

export interface UsedElem {
  id: number;
  len: number;
  token: Token | undefined;
}

export interface AddOptions {
  /** Put the whole chain in an indirect table (one descriptor in the ring). */
  indirect?: boolean;
}

// ---------------------------------------------------------------- queue

export class DriverQueue {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  /** Driver's avail idx (free-running u16) and last seen used idx. */
  availIdx = 0;
  lastUsed = 0;
  /** avail idx at the last kick decision (Linux vq->num_added bookkeeping). */
  private kickedAt = 0;
  private free: number[] = [];
  private tokens = new Map<number, Token>();

  constructor(
    readonly drv: VirtioDriver,
    readonly index: number,
    readonly size: number,
  ) {
    const a = drv.alloc;
    // §2.7: desc 16-aligned (16·n), avail 2-aligned (6 + 2·n), used 4-aligned (6 + 8·n).
    this.desc = a.alloc(16 * size, 16);
    this.avail = a.alloc(6 + 2 * size, 2);
    this.used = a.alloc(6 + 8 * size, 4);
    for (let i = size - 1; i >= 0; i--) this.free.push(i);
  }

  get mem(): FakeMemory {
    return this.drv.mem;
  }

  get freeCount(): number {
    return this.free.length;
  }

  /** Write descriptor `i` of the main table. */
  writeDesc(i: number, addr: number | bigint, len: number, flags: number, next = 0): void {
    this.mem.write(this.desc + 16 * i, descBytes(addr, len, flags, next));
  }

  /** Put `head` in the next avail slot and bump avail->idx. */
  publish(head: number): void {
    setU16(this.mem, this.avail + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    setU16(this.mem, this.avail + 2, this.availIdx);
  }

  /** Set avail->idx directly (malformed-ring tests). */
  setAvailIdx(v: number): void {
    this.availIdx = v & 0xffff;
    setU16(this.mem, this.avail + 2, this.availIdx);
  }

  /**
   * Post a chain: device-readable `out` buffers, then device-writable buffers of `inLens` bytes.
   * Buffers are freshly allocated. Returns the token; the chain is published but not kicked.
   */
  add(out: Uint8Array[], inLens: number[], opts: AddOptions = {}): Token {
    const outAddrs = out.map((b) => this.drv.alloc.put(b));
    const inBufs = inLens.map((len) => ({ addr: this.drv.alloc.alloc(Math.max(len, 1)), len }));
    const parts: Array<{ addr: number; len: number; flags: number }> = [
      ...out.map((b, i) => ({ addr: outAddrs[i], len: b.length, flags: 0 })),
      ...inBufs.map((b) => ({ ...b, flags: DESC_WRITE })),
    ];
    if (opts.indirect) {
      const table = this.drv.alloc.alloc(16 * parts.length, 16);
      parts.forEach((p, i) => {
        const last = i === parts.length - 1;
        this.mem.write(table + 16 * i, descBytes(p.addr, p.len, p.flags | (last ? 0 : DESC_NEXT), last ? 0 : i + 1));
      });
      const head = this.take(1)[0];
      this.writeDesc(head, table, 16 * parts.length, DESC_INDIRECT);
      const token = { head, descs: [head], outAddrs, inBufs, indirectTable: table };
      this.tokens.set(head, token);
      this.publish(head);
      return token;
    }
    const descs = this.take(parts.length);
    parts.forEach((p, i) => {
      const last = i === parts.length - 1;
      this.writeDesc(descs[i], p.addr, p.len, p.flags | (last ? 0 : DESC_NEXT), last ? 0 : descs[i + 1]);
    });
    const token = { head: descs[0], descs, outAddrs, inBufs };
    this.tokens.set(descs[0], token);
    this.publish(descs[0]);
    return token;
  }

  private take(n: number): number[] {
    if (this.free.length < n) throw new Error(`queue ${this.index}: no free descriptors`);
    return this.free.splice(this.free.length - n, n);
  }

  /** Notify the device (QueueNotify ← index), unconditionally. */
  kick(): void {
    this.kickedAt = this.availIdx;
    this.drv.w(REG.QueueNotify, this.index);
  }

  /** Linux virtqueue_kick_prepare: with EVENT_IDX only when avail idx passed avail_event. */
  kickIfNeeded(): boolean {
    const old = this.kickedAt;
    const neu = this.availIdx;
    let need: boolean;
    if (this.drv.negotiated & F_EVENT_IDX) {
      need = needEvent(u16(this.mem, this.used + 4 + 8 * this.size), neu, old);
    } else {
      need = (u16(this.mem, this.used) & 1) === 0; // VIRTQ_USED_F_NO_NOTIFY
    }
    this.kickedAt = neu;
    if (need) this.drv.w(REG.QueueNotify, this.index);
    return need;
  }

  /** used->idx as the device left it. */
  usedIdx(): number {
    return u16(this.mem, this.used + 2);
  }

  /** avail_event (EVENT_IDX), written by the device. */
  availEvent(): number {
    return u16(this.mem, this.used + 4 + 8 * this.size);
  }

  /** used_event (EVENT_IDX), written by the driver. */
  setUsedEvent(v: number): void {
    setU16(this.mem, this.avail + 4 + 2 * this.size, v);
  }

  /** VIRTQ_AVAIL_F_NO_INTERRUPT. */
  setNoInterrupt(on: boolean): void {
    setU16(this.mem, this.avail, on ? 1 : 0);
  }

  /** Consume the used ring; frees the descriptors; with EVENT_IDX re-arms used_event (enable_cb). */
  collect(): UsedElem[] {
    const out: UsedElem[] = [];
    const end = this.usedIdx();
    // The device must never move used->idx more than `size` ahead.
    if (((end - this.lastUsed) & 0xffff) > this.size) throw new Error('used idx moved too far');
    while (this.lastUsed !== end) {
      const slot = this.used + 4 + 8 * (this.lastUsed % this.size);
      const id = u32(this.mem, slot);
      const len = u32(this.mem, slot + 4);
      const token = this.tokens.get(id);
      if (token) {
        this.tokens.delete(id);
        this.free.push(...token.descs);
      }
      out.push({ id, len, token });
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    if (this.drv.negotiated & F_EVENT_IDX) this.setUsedEvent(this.lastUsed);
    return out;
  }

  /** Read back a device-writable buffer of a token. */
  readIn(token: Token, i: number): Uint8Array {
    const b = token.inBufs[i];
    return this.mem.read(b.addr, b.len);
  }
}

// ---------------------------------------------------------------- device

export interface InitOptions {
  /** Features to accept if offered (default: everything offered). */
  features?: bigint;
  /** Queue sizes to configure (default: QueueNumMax of each of `queues` queues). */
  queues?: number;
  queueSize?: number;
}

export class VirtioDriver {
  negotiated = 0n;
  queues: DriverQueue[] = [];

  constructor(
    readonly port: RegisterPort,
    readonly mem: FakeMemory,
    readonly alloc: GuestAllocator = new GuestAllocator(mem),
  ) {}

  r(off: number, size: ImplSize = 4): number {
    return this.port.read(off, size);
  }
  w(off: number, v: number, size: ImplSize = 4): void {
    this.port.write(off, size, v >>> 0);
  }

  get status(): number {
    return this.r(REG.Status);
  }

  deviceFeatures(): bigint {
    this.w(REG.DeviceFeaturesSel, 0);
    const lo = this.r(REG.DeviceFeatures);
    this.w(REG.DeviceFeaturesSel, 1);
    const hi = this.r(REG.DeviceFeatures);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  writeDriverFeatures(f: bigint): void {
    this.w(REG.DriverFeaturesSel, 0);
    this.w(REG.DriverFeatures, Number(f & 0xffff_ffffn));
    this.w(REG.DriverFeaturesSel, 1);
    this.w(REG.DriverFeatures, Number((f >> 32n) & 0xffff_ffffn));
  }

  /** Linux virtio_mmio probe + virtio_dev_probe: returns the negotiated features. */
  init(opts: InitOptions = {}): bigint {
    if (this.r(REG.MagicValue) !== 0x74726976) throw new Error('bad magic');
    if (this.r(REG.Version) !== 2) throw new Error('not a version 2 transport');
    if (this.r(REG.DeviceID) === 0) throw new Error('empty slot');
    this.w(REG.Status, 0);
    this.w(REG.Status, STATUS.ACKNOWLEDGE);
    this.w(REG.Status, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
    const offered = this.deviceFeatures();
    const f = offered & (opts.features ?? offered);
    this.writeDriverFeatures(f);
    this.w(REG.Status, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
    if (!(this.status & STATUS.FEATURES_OK)) throw new Error('device refused FEATURES_OK');
    this.negotiated = f;
    this.queues = [];
    for (let i = 0; i < (opts.queues ?? 1); i++) this.queues.push(this.setupQueue(i, opts.queueSize));
    this.w(REG.Status, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
    return f;
  }

  /** Linux vm_setup_vq. */
  setupQueue(index: number, size?: number): DriverQueue {
    this.w(REG.QueueSel, index);
    if (this.r(REG.QueueReady) !== 0) throw new Error(`queue ${index} already ready`);
    const max = this.r(REG.QueueNumMax);
    if (max === 0) throw new Error(`queue ${index} does not exist`);
    const n = Math.min(size ?? max, max);
    const q = new DriverQueue(this, index, n);
    this.w(REG.QueueNum, n);
    this.w(REG.QueueDescLow, q.desc);
    this.w(REG.QueueDescHigh, 0);
    this.w(REG.QueueDriverLow, q.avail);
    this.w(REG.QueueDriverHigh, 0);
    this.w(REG.QueueDeviceLow, q.used);
    this.w(REG.QueueDeviceHigh, 0);
    this.w(REG.QueueReady, 1);
    if (this.r(REG.QueueReady) !== 1) throw new Error(`queue ${index} not ready`);
    return q;
  }

  /** Read and acknowledge InterruptStatus (vm_interrupt). */
  ackInterrupt(): number {
    const s = this.r(REG.InterruptStatus);
    if (s) this.w(REG.InterruptACK, s);
    return s;
  }

  /** Config space reads as Linux's vm_get does them (64-bit as two 32-bit reads). */
  config8(off: number): number {
    return this.r(REG.Config + off, 1);
  }
  config16(off: number): number {
    return this.r(REG.Config + off, 2);
  }
  config32(off: number): number {
    return this.r(REG.Config + off, 4);
  }
  config64(off: number): bigint {
    // virtio_cread64: retry while ConfigGeneration changes.
    for (;;) {
      const gen = this.r(REG.ConfigGeneration);
      const v = BigInt(this.config32(off)) | (BigInt(this.config32(off + 4)) << 32n);
      if (this.r(REG.ConfigGeneration) === gen) return v;
    }
  }
}
