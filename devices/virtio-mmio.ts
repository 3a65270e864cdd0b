/**
 * virtio-mmio transport, version 2 (virtio 1.1 §4.2.2), with split virtqueues (§2.7).
 *
 * The split follows TinyEMU's virtio.c (GUIDE §10): this file is the transport (registers, feature
 * negotiation, queue setup, ring walking, interrupts); a `VirtioDevice` (virtio-blk.ts,
 * virtio-rng.ts) implements one device type and sees only the `VirtQueue` helper; a host backend
 * (BlockBackend, a PRNG) sits behind the device. An empty slot (QEMU virt has eight transports at
 * 0x1000_1000 + 0x1000·n, PLIC irq 1 + n) is a transport without a device: DeviceID reads 0 and
 * Linux skips it.
 *
 *   0x000 MagicValue 0x74726976 ("virt")   0x050 QueueNotify          W
 *   0x004 Version 2                        0x060 InterruptStatus      R
 *   0x008 DeviceID                         0x064 InterruptACK         W
 *   0x00c VendorID 0x554d4551 ("QEMU")     0x070 Status               RW (0 resets the device)
 *   0x010 DeviceFeatures       R           0x080 QueueDescLow/High    RW
 *   0x014 DeviceFeaturesSel    W           0x090 QueueDriverLow/High  RW (avail ring)
 *   0x020 DriverFeatures       W           0x0a0 QueueDeviceLow/High  RW (used ring)
 *   0x024 DriverFeaturesSel    W           0x0fc ConfigGeneration     R
 *   0x030 QueueSel             W           0x100 device config space  RW (1, 2 or 4 bytes)
 *   0x034 QueueNumMax          R
 *   0x038 QueueNum             W
 *   0x044 QueueReady           RW
 *
 * Registers below 0x100 take 4-byte accesses only (§4.2.2.2); others are ignored / read 0 and
 * counted, as QEMU logs them. 8-byte accesses reach the handler as two 4-byte halves (bus).
 *
 * Robustness (§2.1.2, QEMU virtio_error): everything the guest controls is validated. A malformed
 * ring or descriptor (index out of range, chain longer than the queue, nested or misplaced
 * indirect table, readable after writable, address beyond 2^53, more buffers in flight than the
 * queue size, guest memory access outside RAM) never throws out of an MMIO handler or an event:
 * the transport sets DEVICE_NEEDS_RESET (0x40) in Status, sends a configuration change
 * notification if DRIVER_OK is set, counts the error and stops processing until the driver resets
 * the device (writes 0 to Status). Every loop is bounded by a queue or table size.
 *
 * Notifications: without VIRTIO_RING_F_EVENT_IDX the device interrupts after each used buffer
 * unless the driver set VIRTQ_AVAIL_F_NO_INTERRUPT. With EVENT_IDX (§2.7.10) it interrupts when the
 * used index passes `used_event`, and after each pop publishes `avail_event` = next avail index
 * to read (QEMU virtqueue_split_pop), so the driver kicks exactly when the device needs one. The
 * device never sets VIRTQ_USED_F_NO_NOTIFY: every kick is processed synchronously inside the
 * QueueNotify write, so there is nothing to suppress.
 *
 * Buffers are not consumed before DRIVER_OK (§3.1.1): kicks that arrive earlier are remembered and
 * delivered when the driver sets DRIVER_OK.
 */
import type { Device, GuestMemory, IrqLine, MmioRegion } from '../src/bus/types.js';

// ---------------------------------------------------------------- constants

export const VIRTIO_MMIO_MAGIC = 0x74726976;
export const VIRTIO_MMIO_VERSION = 2;
/** "QEMU": what QEMU virt reports; Linux does not look at it. */
export const VIRTIO_VENDOR_QEMU = 0x554d4551;

/** Register offsets (§4.2.2). */
export const enum VirtioMmioReg {
  MagicValue = 0x000,
  Version = 0x004,
  DeviceID = 0x008,
  VendorID = 0x00c,
  DeviceFeatures = 0x010,
  DeviceFeaturesSel = 0x014,
  DriverFeatures = 0x020,
  DriverFeaturesSel = 0x024,
  QueueSel = 0x030,
  QueueNumMax = 0x034,
  QueueNum = 0x038,
  QueueReady = 0x044,
  QueueNotify = 0x050,
  InterruptStatus = 0x060,
  InterruptACK = 0x064,
  Status = 0x070,
  QueueDescLow = 0x080,
  QueueDescHigh = 0x084,
  QueueDriverLow = 0x090,
  QueueDriverHigh = 0x094,
  QueueDeviceLow = 0x0a0,
  QueueDeviceHigh = 0x0a4,
  ConfigGeneration = 0x0fc,
  Config = 0x100,
}

/** Device status bits (§2.1). */
export const VIRTIO_STATUS_ACKNOWLEDGE = 1;
export const VIRTIO_STATUS_DRIVER = 2;
export const VIRTIO_STATUS_DRIVER_OK = 4;
export const VIRTIO_STATUS_FEATURES_OK = 8;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 0x40;
export const VIRTIO_STATUS_FAILED = 0x80;

/** InterruptStatus bits (§4.2.2). */
export const VIRTIO_INT_VRING = 1;
export const VIRTIO_INT_CONFIG = 2;

/** Reserved feature bits (§6). */
export const VIRTIO_RING_F_INDIRECT_DESC = 1n << 28n;
export const VIRTIO_RING_F_EVENT_IDX = 1n << 29n;
export const VIRTIO_F_VERSION_1 = 1n << 32n;

/** Descriptor flags (§2.7.5). */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** avail->flags (§2.7.6). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;

/** Split ring maximum queue size (§2.7). */
export const VIRTQ_MAX_SIZE = 32768;
/** Largest indirect table we walk (entries). Linux uses at most seg_max + 2 for virtio-blk. */
export const VIRTQ_MAX_INDIRECT = 1024;

const MMIO_SIZE = 0x200;
const U32 = 0xffff_ffffn;

// ---------------------------------------------------------------- little-endian guest memory helpers

/**
 * Little-endian accessors over GuestMemory. They throw whatever the memory throws for an address
 * outside RAM; the transport catches at its boundary.
 */
export function readU16(mem: GuestMemory, pa: number): number {
  const b = mem.read(pa, 2);
  return b[0] | (b[1] << 8);
}

export function readU32(mem: GuestMemory, pa: number): number {
  const b = mem.read(pa, 4);
  return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
}

export function readU64(mem: GuestMemory, pa: number): bigint {
  const b = mem.read(pa, 8);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

export function writeU16(mem: GuestMemory, pa: number, v: number): void {
  mem.write(pa, Uint8Array.of(v & 0xff, (v >>> 8) & 0xff));
}

export function writeU32(mem: GuestMemory, pa: number, v: number): void {
  mem.write(pa, Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff));
}

export function writeU64(mem: GuestMemory, pa: number, v: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  mem.write(pa, b);
}

/**
 * Read `size` bytes little-endian at `offset` of a device config image. Outside the image reads
 * all ones, as QEMU's virtio_config_read* do.
 */
export function configReadLE(bytes: Uint8Array, offset: number, size: number): number {
  if (offset < 0 || offset + size > bytes.length) return size === 4 ? 0xffff_ffff : (1 << (size << 3)) - 1;
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = (v << 8) | bytes[offset + i];
  return v >>> 0;
}

/** Thrown inside the transport for guest protocol violations; never escapes a handler. */
export class VirtioError extends Error {}

// ---------------------------------------------------------------- device-facing interfaces

/** One guest buffer: `len` bytes at guest-physical `addr` (addr + len < 2^53). */
export interface Segment {
  addr: number;
  len: number;
}

/**
 * A descriptor chain popped from the avail ring (§2.7.13.2): device-readable segments, then
 * device-writable ones, in chain order. Zero-length descriptors are dropped. Plain data (JSON-safe),
 * so devices can keep in-flight chains in their snapshots.
 */
export interface Chain {
  /** Head descriptor index: the id that goes into the used ring. */
  head: number;
  readable: Segment[];
  writable: Segment[];
  readableLen: number;
  writableLen: number;
}

/** What a device sees of its transport. */
export interface VirtioTransport {
  readonly memory: GuestMemory;
  /** Features the driver accepted (valid after FEATURES_OK). */
  readonly driverFeatures: bigint;
  /** True after an error set DEVICE_NEEDS_RESET; queues pop nothing and push is ignored. */
  readonly broken: boolean;
  queue(index: number): VirtQueue;
  /** The device's config space changed: bump ConfigGeneration and interrupt (bit 1). */
  configChanged(): void;
  /** A device-detected protocol error: DEVICE_NEEDS_RESET, as QEMU virtio_error. */
  fail(reason: string): void;
}

/** A device type behind the transport (TinyEMU VIRTIODevice callbacks). */
export interface VirtioDevice {
  /** §5: 2 = block, 4 = entropy, ... */
  readonly deviceId: number;
  /** Device-specific feature bits; the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX. */
  readonly features: bigint;
  readonly queueCount: number;
  /** QueueNumMax for every queue (a power of two ≤ 32768). */
  readonly queueMax: number;
  /** Config space access; `offset` is relative to 0x100. Must not throw. */
  configRead(offset: number, size: 1 | 2 | 4): number;
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void;
  /** The driver kicked queue `queue` (after DRIVER_OK). Pop with q.pop(), complete with q.push(). */
  onNotify(queue: number, q: VirtQueue): void;
  /** Called once by the transport's constructor. */
  attach?(transport: VirtioTransport): void;
  /** Device reset (Status ← 0 or machine reset): drop in-flight work, cancel events. */
  reset(): void;
  getState(): unknown;
  setState(state: unknown): void;
}

// ---------------------------------------------------------------- VirtQueue

export interface VirtQueueState {
  num: number;
  ready: boolean;
  desc: [number, number];
  driver: [number, number];
  device: [number, number];
  lastAvailIdx: number;
  usedIdx: number;
  signalledUsed: number;
  signalledValid: boolean;
  inFlight: number;
}

/** Internal view of the transport a queue needs. */
interface QueueOwner {
  readonly memory: GuestMemory;
  readonly broken: boolean;
  has(feature: bigint): boolean;
  fail(reason: string): void;
  usedBufferNotify(): void;
  /** The memory could not back a chain's buffers now (GuestMemory.reserve): kick the queue again later. */
  deferKick(index: number): void;
  /** The transport's trace hook (VirtioMmio.trace), or null. */
  readonly trace: VirtioTraceHook | null;
}

/**
 * Observes requests for --trace-out (src/trace/board.ts): a chain popped from queue `queue` (`len`
 * = its device-readable bytes) and its completion (`len` = bytes written back). Never changes what
 * the device does.
 */
export type VirtioTraceHook = (event: 'pop' | 'push', queue: number, head: number, len: number) => void;

/**
 * One split virtqueue (§2.7): descriptor table, driver (avail) ring, device (used) ring.
 * Device-side helper: pop chains, copy data in and out of them, push them back.
 */
/** Back every guest-RAM byte a chain's buffers name (GuestMemory.reserve); false when it could not. */
function reserveChain(mem: GuestMemory, chain: Chain): boolean {
  for (const s of chain.readable) if (!mem.reserve!(s.addr, s.len)) return false;
  for (const s of chain.writable) if (!mem.reserve!(s.addr, s.len)) return false;
  return true;
}

export class VirtQueue {
  /** Queue size the driver chose (QueueNum). */
  num = 0;
  ready = false;
  /** Register halves as written: [low, high]. */
  descLo = 0;
  descHi = 0;
  driverLo = 0;
  driverHi = 0;
  deviceLo = 0;
  deviceHi = 0;
  /** Next avail ring slot to read (free-running u16). */
  lastAvailIdx = 0;
  /** Device's used idx (free-running u16); written to used->idx after each push. */
  usedIdx = 0;
  /** EVENT_IDX: used idx at the last notification decision (QEMU signalled_used). */
  signalledUsed = 0;
  signalledValid = false;
  /** Chains popped and not yet pushed. */
  inFlight = 0;
  /**
   * Pops left in the current onNotify call (the transport sets it to `num` around each call). A
   * device writing into the avail ring could otherwise keep a pop loop going; this bounds it.
   */
  popBudget = Infinity;

  constructor(
    readonly index: number,
    readonly max: number,
    private readonly owner: QueueOwner,
  ) {}

  get size(): number {
    return this.num;
  }

  // Ring addresses; a VirtioError (caught by the callers) if the driver wrote one beyond 2^53.
  private get descAddr(): number {
    return ringAddr('descriptor table', this.descLo, this.descHi);
  }
  private get availAddr(): number {
    return ringAddr('driver ring', this.driverLo, this.driverHi);
  }
  private get usedAddr(): number {
    return ringAddr('device ring', this.deviceLo, this.deviceHi);
  }

  /** Clear everything (device reset). */
  clear(): void {
    this.num = 0;
    this.ready = false;
    this.descLo = this.descHi = this.driverLo = this.driverHi = this.deviceLo = this.deviceHi = 0;
    this.resetIndices();
  }

  resetIndices(): void {
    this.lastAvailIdx = 0;
    this.usedIdx = 0;
    this.signalledUsed = 0;
    this.signalledValid = false;
    this.inFlight = 0;
  }

  /** Entries the driver has made available and the device has not popped (0 on error). */
  available(): number {
    if (!this.ready || this.owner.broken) return 0;
    try {
      return (readU16(this.owner.memory, this.availAddr + 2) - this.lastAvailIdx) & 0xffff;
    } catch (e) {
      this.owner.fail(`queue ${this.index}: avail ring unreadable: ${message(e)}`);
      return 0;
    }
  }

  /**
   * Take the next available chain (§2.7.13.2 device side), or null when the ring is empty, the
   * queue is not ready, or the chain is malformed (then the transport is marked broken).
   */
  pop(): Chain | null {
    if (!this.ready || this.owner.broken || this.popBudget <= 0) return null;
    const mem = this.owner.memory;
    try {
      const avail = this.availAddr;
      const availIdx = readU16(mem, avail + 2);
      const pending = (availIdx - this.lastAvailIdx) & 0xffff;
      if (pending === 0) return null;
      // QEMU virtqueue_num_heads: the driver cannot have more than num entries outstanding.
      if (pending > this.num) throw new VirtioError(`avail idx moved from ${this.lastAvailIdx} to ${availIdx}`);
      if (this.inFlight >= this.num) throw new VirtioError(`more than ${this.num} buffers in flight`);
      const head = readU16(mem, avail + 4 + 2 * (this.lastAvailIdx % this.num));
      const chain = this.walk(head);
      // Overcommit (issue 12): the chain's buffers must have host frames before the device uses
      // them; when the pool has none the VM pauses for memory and the chain stays in the ring,
      // taken again when the transport re-kicks the queue (VirtioMmio.memoryAvailable).
      if (mem.reserve && !reserveChain(mem, chain)) {
        this.owner.deferKick(this.index);
        return null;
      }
      this.popBudget--;
      this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
      this.inFlight++;
      // §2.7.10: tell the driver which avail index we want a kick for next.
      if (this.owner.has(VIRTIO_RING_F_EVENT_IDX)) {
        writeU16(mem, this.usedAddr + 4 + 8 * this.num, this.lastAvailIdx);
      }
      this.owner.trace?.('pop', this.index, chain.head, chain.readableLen);
      return chain;
    } catch (e) {
      this.owner.fail(`queue ${this.index}: ${message(e)}`);
      return null;
    }
  }

  /** Walk the chain at `head` (direct, optionally ending in one indirect table). */
  private walk(head: number): Chain {
    const mem = this.owner.memory;
    if (head >= this.num) throw new VirtioError(`head ${head} >= queue size ${this.num}`);
    const chain: Chain = { head, readable: [], writable: [], readableLen: 0, writableLen: 0 };
    let table = this.descAddr;
    let tableSize = this.num;
    let i = head;
    let count = 0;
    let indirect = false;
    let sawWritable = false;
    for (;;) {
      // §2.7.5.2: a chain is never longer than its table; a longer walk is a loop.
      if (++count > tableSize) throw new VirtioError(`descriptor chain longer than ${tableSize} (loop?)`);
      const d = mem.read(table + 16 * i, 16);
      const dv = new DataView(d.buffer, d.byteOffset, 16);
      const addrLo = dv.getUint32(0, true);
      const addrHi = dv.getUint32(4, true);
      const len = dv.getUint32(8, true);
      const flags = dv.getUint16(12, true);
      const next = dv.getUint16(14, true);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        // §2.7.5.3.1: only with the feature, not inside a table, never together with NEXT,
        // length a non-zero multiple of 16.
        if (!this.owner.has(VIRTIO_RING_F_INDIRECT_DESC)) throw new VirtioError('indirect descriptor not negotiated');
        if (indirect) throw new VirtioError('nested indirect descriptor');
        if (flags & VIRTQ_DESC_F_NEXT) throw new VirtioError('indirect descriptor with NEXT');
        if (len === 0 || len % 16 !== 0) throw new VirtioError(`indirect table length ${len}`);
        const n = len / 16;
        if (n > VIRTQ_MAX_INDIRECT) throw new VirtioError(`indirect table of ${n} entries`);
        table = checkedAddr(addrLo, addrHi, len);
        tableSize = n;
        i = 0;
        count = 0;
        indirect = true;
        continue;
      }
      const addr = checkedAddr(addrLo, addrHi, len);
      if (flags & VIRTQ_DESC_F_WRITE) {
        sawWritable = true;
        if (len > 0) {
          chain.writable.push({ addr, len });
          chain.writableLen += len;
        }
      } else {
        // §2.7.4.2: device-readable descriptors come first.
        if (sawWritable) throw new VirtioError('device-readable descriptor after a writable one');
        if (len > 0) {
          chain.readable.push({ addr, len });
          chain.readableLen += len;
        }
      }
      if (!(flags & VIRTQ_DESC_F_NEXT)) return chain;
      if (next >= tableSize) throw new VirtioError(`next ${next} >= table size ${tableSize}`);
      i = next;
    }
  }

  /**
   * Copy up to `len` bytes of the chain's readable part from byte `offset` out of guest memory.
   * Returns fewer bytes at the end of the readable part; null after a memory fault (transport broken).
   */
  read(chain: Chain, offset: number, len: number): Uint8Array | null {
    const total = Math.max(0, Math.min(len, chain.readableLen - offset));
    const out = new Uint8Array(total);
    try {
      let pos = 0;
      let skip = offset;
      for (const s of chain.readable) {
        if (pos >= total) break;
        if (skip >= s.len) {
          skip -= s.len;
          continue;
        }
        const n = Math.min(s.len - skip, total - pos);
        out.set(this.owner.memory.read(s.addr + skip, n), pos);
        pos += n;
        skip = 0;
      }
      return out;
    } catch (e) {
      this.owner.fail(`queue ${this.index}: reading buffer: ${message(e)}`);
      return null;
    }
  }

  /**
   * Copy `data` into the chain's writable part at byte `offset` (truncated at its end).
   * Returns the bytes written, or -1 after a memory fault (transport broken).
   */
  write(chain: Chain, offset: number, data: Uint8Array): number {
    const total = Math.max(0, Math.min(data.length, chain.writableLen - offset));
    try {
      let pos = 0;
      let skip = offset;
      for (const s of chain.writable) {
        if (pos >= total) break;
        if (skip >= s.len) {
          skip -= s.len;
          continue;
        }
        const n = Math.min(s.len - skip, total - pos);
        this.owner.memory.write(s.addr + skip, data.subarray(pos, pos + n));
        pos += n;
        skip = 0;
      }
      return total;
    } catch (e) {
      this.owner.fail(`queue ${this.index}: writing buffer: ${message(e)}`);
      return -1;
    }
  }

  /**
   * Return a chain to the driver (§2.7.8): used elem {id = head, len = bytesWritten}, used->idx,
   * then a used buffer notification unless the driver suppressed it.
   */
  push(chain: Chain, bytesWritten: number): void {
    if (!this.ready || this.owner.broken) return;
    const mem = this.owner.memory;
    try {
      if (this.inFlight === 0) throw new VirtioError('push without a popped chain');
      if (chain.head >= this.num) throw new VirtioError(`push of head ${chain.head} >= ${this.num}`);
      const used = this.usedAddr;
      const len = Math.max(0, Math.min(bytesWritten, chain.writableLen)) >>> 0;
      const slot = used + 4 + 8 * (this.usedIdx % this.num);
      const elem = new Uint8Array(8);
      const dv = new DataView(elem.buffer);
      dv.setUint32(0, chain.head, true);
      dv.setUint32(4, len, true);
      mem.write(slot, elem);
      this.usedIdx = (this.usedIdx + 1) & 0xffff;
      writeU16(mem, used + 2, this.usedIdx);
      this.inFlight--;
      this.owner.trace?.('push', this.index, chain.head, len);
      if (this.shouldNotify()) this.owner.usedBufferNotify();
    } catch (e) {
      this.owner.fail(`queue ${this.index}: ${message(e)}`);
    }
  }

  /** §2.7.7.2 / §2.7.10 (QEMU virtio_split_should_notify). */
  private shouldNotify(): boolean {
    const mem = this.owner.memory;
    const avail = this.availAddr;
    if (this.owner.has(VIRTIO_RING_F_EVENT_IDX)) {
      const usedEvent = readU16(mem, avail + 4 + 2 * this.num);
      const old = this.signalledUsed;
      const valid = this.signalledValid;
      this.signalledUsed = this.usedIdx;
      this.signalledValid = true;
      return !valid || vringNeedEvent(usedEvent, this.usedIdx, old);
    }
    return (readU16(mem, avail) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  getState(): VirtQueueState {
    return {
      num: this.num,
      ready: this.ready,
      desc: [this.descLo, this.descHi],
      driver: [this.driverLo, this.driverHi],
      device: [this.deviceLo, this.deviceHi],
      lastAvailIdx: this.lastAvailIdx,
      usedIdx: this.usedIdx,
      signalledUsed: this.signalledUsed,
      signalledValid: this.signalledValid,
      inFlight: this.inFlight,
    };
  }

  setState(s: VirtQueueState): void {
    this.num = s.num;
    this.ready = s.ready;
    [this.descLo, this.descHi] = s.desc;
    [this.driverLo, this.driverHi] = s.driver;
    [this.deviceLo, this.deviceHi] = s.device;
    this.lastAvailIdx = s.lastAvailIdx;
    this.usedIdx = s.usedIdx;
    this.signalledUsed = s.signalledUsed;
    this.signalledValid = s.signalledValid;
    this.inFlight = s.inFlight;
  }
}

/** §2.7.10 vring_need_event: did the index move past `event` going from `old` to `neu`? */
export function vringNeedEvent(event: number, neu: number, old: number): boolean {
  return ((neu - event - 1) & 0xffff) < ((neu - old) & 0xffff);
}

/** A 64-bit address from register or descriptor halves; NaN beyond 2^53 (unusable). */
function joinAddr(lo: number, hi: number): number {
  return hi < 0x20_0000 ? hi * 0x1_0000_0000 + (lo >>> 0) : NaN;
}

function ringAddr(what: string, lo: number, hi: number): number {
  const addr = joinAddr(lo, hi);
  if (Number.isNaN(addr)) throw new VirtioError(`${what} address beyond 2^53`);
  return addr;
}

/** A descriptor's buffer as a safe-integer range, or a VirtioError. */
function checkedAddr(lo: number, hi: number, len: number): number {
  const addr = joinAddr(lo, hi);
  if (!(addr + len <= Number.MAX_SAFE_INTEGER)) {
    throw new VirtioError(`buffer 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}+${len} beyond 2^53`);
  }
  return addr;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------- transport

export interface VirtioMmioOptions {
  bus: { addMmio(r: MmioRegion): void };
  base: number;
  irq: IrqLine;
  memory: GuestMemory;
  /** The device behind this transport; absent = an empty slot (DeviceID 0). */
  device?: VirtioDevice;
  /** Offer VIRTIO_RING_F_EVENT_IDX (default true). */
  eventIdx?: boolean;
  name?: string;
}

export interface VirtioMmioState {
  status: number;
  deviceFeaturesSel: number;
  driverFeaturesSel: number;
  /** Decimal string (64-bit). */
  driverFeatures: string;
  queueSel: number;
  interruptStatus: number;
  configGeneration: number;
  broken: boolean;
  /** Queues kicked before DRIVER_OK (bit n = queue n). */
  pendingKicks: number[];
  /** Kicks waiting for host frames (overcommit; absent when none). */
  deferredKicks?: number[];
  queues: VirtQueueState[];
  irqLevel: boolean;
  errors: number;
  lastError: string;
  notifies: number;
  interrupts: number;
  /** The device's own getState(), or null for an empty slot. */
  device: unknown;
}

export class VirtioMmio implements Device, VirtioTransport {
  readonly name: string;
  readonly memory: GuestMemory;
  readonly device: VirtioDevice | undefined;
  /** Features offered: the device's plus the transport's ring features. */
  readonly deviceFeatures: bigint;

  /** Guest protocol errors (bad register width, malformed rings, memory faults, ...). */
  errors = 0;
  lastError = '';
  /** QueueNotify writes handled. */
  notifies = 0;
  /** Rising edges of the interrupt line. */
  interrupts = 0;
  /** Request observer for --trace-out (src/trace/board.ts); null = none. */
  trace: VirtioTraceHook | null = null;

  private readonly irq: IrqLine;
  private readonly queues: VirtQueue[];
  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeaturesValue = 0n;
  private queueSel = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  private brokenFlag = false;
  private pendingKicks = new Set<number>();
  /** Queues whose chains waited for host frames (GuestMemory.reserve): kicked again by memoryAvailable. */
  private deferredKicks = new Set<number>();
  private irqLevel = false;

  constructor(opts: VirtioMmioOptions) {
    this.name = opts.name ?? `virtio-mmio@${opts.base.toString(16)}`;
    this.memory = opts.memory;
    this.irq = opts.irq;
    this.device = opts.device;
    const dev = opts.device;
    if (dev && (dev.queueMax < 1 || dev.queueMax > VIRTQ_MAX_SIZE || (dev.queueMax & (dev.queueMax - 1)) !== 0)) {
      throw new Error(`${this.name}: queueMax ${dev.queueMax} must be a power of two in 1..${VIRTQ_MAX_SIZE}`);
    }
    this.deviceFeatures = dev
      ? dev.features |
        VIRTIO_F_VERSION_1 |
        VIRTIO_RING_F_INDIRECT_DESC |
        (opts.eventIdx === false ? 0n : VIRTIO_RING_F_EVENT_IDX)
      : 0n;
    const self = this;
    const owner: QueueOwner = {
      memory: this.memory,
      get broken() {
        return self.brokenFlag;
      },
      has: (f) => (this.driverFeaturesValue & f) !== 0n,
      fail: (reason) => this.fail(reason),
      usedBufferNotify: () => this.raise(VIRTIO_INT_VRING),
      deferKick: (index) => this.deferKick(index),
      get trace() {
        return self.trace;
      },
    };
    this.queues = [];
    for (let i = 0; i < (dev?.queueCount ?? 0); i++) this.queues.push(new VirtQueue(i, dev!.queueMax, owner));
    dev?.attach?.(this);
    this.reset();
    opts.bus.addMmio({
      name: this.name,
      base: opts.base,
      size: MMIO_SIZE,
      valid: { min: 1, max: 8 },
      impl: { min: 1, max: 4 },
      read: (offset, size) => this.readReg(offset, size),
      write: (offset, size, value) => this.writeReg(offset, size, value >>> 0),
    });
  }

  // ---------------------------------------------------------------- VirtioTransport

  get broken(): boolean {
    return this.brokenFlag;
  }

  get driverFeatures(): bigint {
    return this.driverFeaturesValue;
  }

  queue(index: number): VirtQueue {
    const q = this.queues[index];
    if (!q) throw new Error(`${this.name}: no queue ${index}`);
    return q;
  }

  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if (this.status & VIRTIO_STATUS_DRIVER_OK) this.raise(VIRTIO_INT_CONFIG);
  }

  /** §2.1.2: DEVICE_NEEDS_RESET plus a configuration change notification. */
  fail(reason: string): void {
    this.error(reason);
    if (this.brokenFlag) return;
    this.brokenFlag = true;
    this.status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    if (this.status & VIRTIO_STATUS_DRIVER_OK) this.raise(VIRTIO_INT_CONFIG);
  }

  // ---------------------------------------------------------------- Device

  /** Machine reset, and what a Status write of 0 does (§4.2.2.1). */
  reset(): void {
    this.status = 0;
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.driverFeaturesValue = 0n;
    this.queueSel = 0;
    this.interruptStatus = 0;
    this.brokenFlag = false;
    this.pendingKicks.clear();
    this.deferredKicks.clear();
    for (const q of this.queues) q.clear();
    this.device?.reset();
    this.updateIrq();
  }

  // ---------------------------------------------------------------- registers

  private error(reason: string): void {
    this.errors++;
    this.lastError = reason;
  }

  private get selected(): VirtQueue | undefined {
    return this.queues[this.queueSel];
  }

  private readReg(offset: number, size: number): number {
    if (offset >= VirtioMmioReg.Config) {
      if (!this.device) return 0;
      try {
        return this.device.configRead(offset - VirtioMmioReg.Config, size as 1 | 2 | 4) >>> 0;
      } catch (e) {
        this.error(`config read: ${message(e)}`);
        return 0;
      }
    }
    if (size !== 4 || offset & 3) {
      this.error(`${size}-byte read of register 0x${offset.toString(16)}`);
      return 0;
    }
    switch (offset) {
      case VirtioMmioReg.MagicValue:
        return VIRTIO_MMIO_MAGIC;
      case VirtioMmioReg.Version:
        return VIRTIO_MMIO_VERSION;
      case VirtioMmioReg.DeviceID:
        return this.device?.deviceId ?? 0;
      case VirtioMmioReg.VendorID:
        return VIRTIO_VENDOR_QEMU;
    }
    if (!this.device) return 0;
    const q = this.selected;
    switch (offset) {
      case VirtioMmioReg.DeviceFeatures:
        if (this.deviceFeaturesSel > 1) return 0;
        return Number((this.deviceFeatures >> BigInt(32 * this.deviceFeaturesSel)) & U32);
      case VirtioMmioReg.QueueNumMax:
        return q ? q.max : 0;
      case VirtioMmioReg.QueueNum:
        return q ? q.num : 0;
      case VirtioMmioReg.QueueReady:
        return q?.ready ? 1 : 0;
      case VirtioMmioReg.InterruptStatus:
        return this.interruptStatus;
      case VirtioMmioReg.Status:
        return this.status;
      case VirtioMmioReg.QueueDescLow:
        return q ? q.descLo : 0;
      case VirtioMmioReg.QueueDescHigh:
        return q ? q.descHi : 0;
      case VirtioMmioReg.QueueDriverLow:
        return q ? q.driverLo : 0;
      case VirtioMmioReg.QueueDriverHigh:
        return q ? q.driverHi : 0;
      case VirtioMmioReg.QueueDeviceLow:
        return q ? q.deviceLo : 0;
      case VirtioMmioReg.QueueDeviceHigh:
        return q ? q.deviceHi : 0;
      case VirtioMmioReg.ConfigGeneration:
        return this.configGeneration;
      default:
        // Write-only or reserved (QEMU: "read of write-only register" / "bad register offset").
        this.error(`read of register 0x${offset.toString(16)}`);
        return 0;
    }
  }

  private writeReg(offset: number, size: number, v: number): void {
    if (offset >= VirtioMmioReg.Config) {
      if (!this.device) return;
      try {
        this.device.configWrite(offset - VirtioMmioReg.Config, size as 1 | 2 | 4, v);
      } catch (e) {
        this.error(`config write: ${message(e)}`);
      }
      return;
    }
    if (size !== 4 || offset & 3) {
      this.error(`${size}-byte write of register 0x${offset.toString(16)}`);
      return;
    }
    if (!this.device) return;
    const q = this.selected;
    switch (offset) {
      case VirtioMmioReg.DeviceFeaturesSel:
        this.deviceFeaturesSel = v;
        return;
      case VirtioMmioReg.DriverFeaturesSel:
        this.driverFeaturesSel = v;
        return;
      case VirtioMmioReg.DriverFeatures: {
        // §3.1.1: features are fixed once FEATURES_OK is set; only words 0 and 1 exist.
        if (this.status & VIRTIO_STATUS_FEATURES_OK || this.driverFeaturesSel > 1) {
          this.error('DriverFeatures write after FEATURES_OK or beyond word 1');
          return;
        }
        const shift = BigInt(32 * this.driverFeaturesSel);
        this.driverFeaturesValue = (this.driverFeaturesValue & ~(U32 << shift)) | (BigInt(v) << shift);
        return;
      }
      case VirtioMmioReg.QueueSel:
        this.queueSel = v;
        return;
      case VirtioMmioReg.QueueNum:
        if (this.queueWritable(q)) q.num = v;
        return;
      case VirtioMmioReg.QueueReady:
        this.writeQueueReady(q, v);
        return;
      case VirtioMmioReg.QueueNotify:
        this.kick(v);
        return;
      case VirtioMmioReg.InterruptACK:
        this.interruptStatus &= ~v;
        this.updateIrq();
        return;
      case VirtioMmioReg.Status:
        this.writeStatus(v & 0xff);
        return;
      case VirtioMmioReg.QueueDescLow:
        if (this.queueWritable(q)) q.descLo = v;
        return;
      case VirtioMmioReg.QueueDescHigh:
        if (this.queueWritable(q)) q.descHi = v;
        return;
      case VirtioMmioReg.QueueDriverLow:
        if (this.queueWritable(q)) q.driverLo = v;
        return;
      case VirtioMmioReg.QueueDriverHigh:
        if (this.queueWritable(q)) q.driverHi = v;
        return;
      case VirtioMmioReg.QueueDeviceLow:
        if (this.queueWritable(q)) q.deviceLo = v;
        return;
      case VirtioMmioReg.QueueDeviceHigh:
        if (this.queueWritable(q)) q.deviceHi = v;
        return;
      default:
        this.error(`write of register 0x${offset.toString(16)}`);
    }
  }

  /** Queue layout registers may change only while the selected queue exists and is not ready. */
  private queueWritable(q: VirtQueue | undefined): q is VirtQueue {
    if (q && !q.ready) return true;
    this.error(q ? `queue ${q.index} configured while ready` : `queue ${this.queueSel} does not exist`);
    return false;
  }

  private writeQueueReady(q: VirtQueue | undefined, v: number): void {
    if (!q) {
      this.error(`QueueReady for missing queue ${this.queueSel}`);
      return;
    }
    if ((v & 1) === 0) {
      q.ready = false;
      return;
    }
    if (q.ready) return;
    // Linux refuses non-power-of-two split rings (vring_create_virtqueue_split); so do we.
    if (q.num === 0 || q.num > q.max || (q.num & (q.num - 1)) !== 0) {
      this.error(`queue ${q.index}: QueueNum ${q.num} invalid (max ${q.max})`);
      return;
    }
    // A freshly enabled ring starts at index 0 (the driver zeroed it).
    q.resetIndices();
    q.ready = true;
  }

  private writeStatus(v: number): void {
    if (v === 0) {
      this.reset();
      return;
    }
    const old = this.status;
    let next = v | (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    if (next & VIRTIO_STATUS_FEATURES_OK && !(old & VIRTIO_STATUS_FEATURES_OK)) {
      // §3.1.1 step 5: accept only a subset of the offered features, including VERSION_1
      // (a version 2 transport is a modern-only device; Linux insists on it too).
      const f = this.driverFeaturesValue;
      if ((f & ~this.deviceFeatures) !== 0n || (f & VIRTIO_F_VERSION_1) === 0n) {
        this.error(`driver features 0x${f.toString(16)} refused`);
        next &= ~VIRTIO_STATUS_FEATURES_OK;
      }
    }
    this.status = next;
    if (next & VIRTIO_STATUS_DRIVER_OK && !(old & VIRTIO_STATUS_DRIVER_OK)) {
      const kicks = [...this.pendingKicks].sort((a, b) => a - b);
      this.pendingKicks.clear();
      for (const k of kicks) this.kick(k);
    }
  }

  deferKick(index: number): void {
    this.deferredKicks.add(index);
  }

  /** The VM has host frames again (it was paused for memory): redo the deferred kicks, in queue order. */
  memoryAvailable(): void {
    const kicks = [...this.deferredKicks].sort((a, b) => a - b);
    this.deferredKicks.clear();
    for (const k of kicks) this.kick(k);
  }

  private kick(index: number): void {
    const q = this.queues[index];
    if (!q || !q.ready) {
      this.error(`notify of ${q ? 'disabled' : 'missing'} queue ${index}`);
      return;
    }
    if (this.brokenFlag) return;
    if (!(this.status & VIRTIO_STATUS_DRIVER_OK)) {
      this.pendingKicks.add(index);
      return;
    }
    this.notifies++;
    q.popBudget = q.num;
    try {
      this.device!.onNotify(index, q);
    } catch (e) {
      this.fail(`device ${this.device!.deviceId} queue ${index}: ${message(e)}`);
    } finally {
      q.popBudget = Infinity;
    }
  }

  // ---------------------------------------------------------------- interrupts

  private raise(bit: number): void {
    this.interruptStatus |= bit;
    this.updateIrq();
  }

  /** Level = InterruptStatus != 0; the line is driven only on change. */
  private updateIrq(): void {
    const level = this.interruptStatus !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      if (level) this.interrupts++;
      this.irq.set(level);
    }
  }

  // ---------------------------------------------------------------- snapshots

  /** Includes the device's state: snapshot the transport, not the device separately. */
  getState(): VirtioMmioState {
    return {
      status: this.status,
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      driverFeatures: this.driverFeaturesValue.toString(),
      queueSel: this.queueSel,
      interruptStatus: this.interruptStatus,
      configGeneration: this.configGeneration,
      broken: this.brokenFlag,
      pendingKicks: [...this.pendingKicks].sort((a, b) => a - b),
      ...(this.deferredKicks.size > 0 ? { deferredKicks: [...this.deferredKicks].sort((a, b) => a - b) } : {}),
      queues: this.queues.map((q) => q.getState()),
      irqLevel: this.irqLevel,
      errors: this.errors,
      lastError: this.lastError,
      notifies: this.notifies,
      interrupts: this.interrupts,
      device: this.device ? this.device.getState() : null,
    };
  }

  setState(state: unknown): void {
    const s = state as VirtioMmioState;
    if (s.queues.length !== this.queues.length) {
      throw new Error(`${this.name}: snapshot has ${s.queues.length} queues, device has ${this.queues.length}`);
    }
    this.status = s.status;
    this.deviceFeaturesSel = s.deviceFeaturesSel;
    this.driverFeaturesSel = s.driverFeaturesSel;
    this.driverFeaturesValue = BigInt(s.driverFeatures);
    this.queueSel = s.queueSel;
    this.interruptStatus = s.interruptStatus;
    this.configGeneration = s.configGeneration;
    this.brokenFlag = s.broken;
    this.pendingKicks = new Set(s.pendingKicks);
    this.deferredKicks = new Set(s.deferredKicks ?? []);
    s.queues.forEach((qs, i) => this.queues[i].setState(qs));
    this.errors = s.errors;
    this.lastError = s.lastError;
    this.notifies = s.notifies;
    this.interrupts = s.interrupts;
    if (this.device) this.device.setState(s.device);
    this.irqLevel = s.irqLevel;
    this.irq.set(this.irqLevel);
  }
}
