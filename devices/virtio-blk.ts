/**
 * virtio-blk (virtio 1.1 §5.2, device id 2) over a host `BlockBackend`.
 *
 * Request (§5.2.6): a device-readable header {le32 type, le32 reserved, le64 sector}, then data
 * (readable for OUT, writable for IN / GET_ID), then one writable status byte. As QEMU does
 * (virtio_blk_handle_request: iov_discard_front 16 / iov_discard_back 1), the header is the first
 * 16 readable bytes and the status is the last writable byte, whatever the descriptor layout.
 *
 *   IN (0)       read (writable − 1) bytes from sector·512          → used len = data + 1
 *   OUT (1)      write (readable − 16) bytes at sector·512            → used len = 1
 *   FLUSH (4)    backend.flush() (fsync for a file)                   → used len = 1
 *   GET_ID (8)   serial, zero-padded to 20 bytes (not NUL-terminated when 20 long)
 *   other        VIRTIO_BLK_S_UNSUPP
 *
 * IOERR: data length not a multiple of 512, a range past the capacity, OUT on a read-only disk
 * (VIRTIO_BLK_F_RO offered), or a host I/O error (FileBlockBackend: also an image file deleted or
 * truncated under the guest, reported once through its onHostError). A request without a 16-byte header or without a
 * status byte is a protocol error (QEMU "virtio-blk missing headers"): DEVICE_NEEDS_RESET.
 *
 * Timing is deterministic: every chain popped at a kick completes `latencyCycles` later, in one
 * scheduler event (no host threads, no wall clock). The I/O itself (guest memory ↔ backend) is
 * done at completion, then the chain is pushed and the interrupt raised. In-flight requests are
 * part of getState(); a device reset drops them unanswered (nothing was written for them).
 *
 * Durability: FileBlockBackend writes through with writeSync at completion, before the guest sees
 * the request complete, so an acknowledged write survives the simulator process dying; FLUSH (and
 * close()) call fsync so it survives the host crashing too.
 */
import * as fs from 'node:fs';
import type { Clock, Scheduler, SimEvent } from '../src/bus/types.js';
import { configReadLE, type Chain, type VirtioDevice, type VirtioTransport, type VirtQueue } from './virtio-mmio.js';
import { checkImage, type ImageFormat } from './image-format.js';
import { lockImage, type ImageLock } from './image-lock.js';
import { readFullyAt, writeFullyAt, type ImageFile } from '../src/block/image-file.js';

export const VIRTIO_ID_BLOCK = 2;

/** Feature bits (§5.2.3). */
export const VIRTIO_BLK_F_SIZE_MAX = 1n << 1n;
export const VIRTIO_BLK_F_SEG_MAX = 1n << 2n;
export const VIRTIO_BLK_F_RO = 1n << 5n;
export const VIRTIO_BLK_F_BLK_SIZE = 1n << 6n;
export const VIRTIO_BLK_F_FLUSH = 1n << 9n;

/** Request types (§5.2.6). */
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;

/** Status byte values. */
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

export const SECTOR_SIZE = 512;
/** GET_ID answer length (VIRTIO_BLK_ID_BYTES). */
export const VIRTIO_BLK_ID_BYTES = 20;
/** Config space: capacity(8) size_max(4) seg_max(4) geometry(4) blk_size(4); the rest reads 0. */
const CONFIG_SIZE = 60;
/** Largest piece copied between guest memory and the backend at once (bounds host allocation). */
const CHUNK = 256 * 1024;

// ---------------------------------------------------------------- backends

/** Host storage behind a virtio-blk device. Methods may throw on host I/O errors (→ IOERR). */
export interface BlockBackend {
  /** Size in bytes; the device exposes floor(size / 512) sectors. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Fill `buf` from byte `offset`. */
  read(offset: number, buf: Uint8Array): void;
  /** Store `buf` at byte `offset`; must be durable against a process exit when it returns. */
  write(offset: number, buf: Uint8Array): void;
  /** Make completed writes durable against a host crash. */
  flush(): void;
}

/** An in-memory disk (tests, scratch disks). */
export class MemoryBlockBackend implements BlockBackend {
  readonly data: Uint8Array;
  readonly readOnly: boolean;
  flushes = 0;
  constructor(sizeOrData: number | Uint8Array, opts: { readOnly?: boolean } = {}) {
    this.data = typeof sizeOrData === 'number' ? new Uint8Array(sizeOrData) : sizeOrData;
    this.readOnly = opts.readOnly ?? false;
  }
  get size(): number {
    return this.data.length;
  }
  read(offset: number, buf: Uint8Array): void {
    buf.set(this.data.subarray(offset, offset + buf.length));
    if (offset + buf.length > this.data.length) buf.fill(0, Math.max(0, this.data.length - offset));
  }
  write(offset: number, buf: Uint8Array): void {
    if (this.readOnly) throw new Error('read-only backend');
    if (offset + buf.length > this.data.length) throw new RangeError('write past the end of the disk');
    this.data.set(buf, offset);
  }
  flush(): void {
    this.flushes++;
  }
}

/**
 * A disk image file, written through (writeSync at each guest write, fsync at FLUSH and close()).
 *
 * Opening probes the format (devices/image-format.ts): raw, or a supported format (qcow2) whose
 * `driver` the board layers over this file (src/block/: the file is then an ImageFile, grown by
 * pwrite as clusters are allocated); a VMDK, VDI, ... file is refused (ImageFormatError), as is a
 * raw image whose size is not a multiple of 512, unless `forceRaw`/`format` (format=raw|qcow2)
 * decides instead of the probe. A raw image's size is fixed when the file is opened.
 *
 * lock() takes the image lock (devices/image-lock.ts; exclusive for read-write, shared for
 * read-only, QEMU's lock bytes too); the CLI calls it before the guest runs.
 *
 * Before every request the file is checked (one fstat): an image deleted (no link left) or
 * truncated below its size under a running guest fails the request (the device answers IOERR, as
 * QEMU's default rerror/werror=report does) and `onHostError` gets one line, once per problem;
 * nothing is written past the end of a truncated file or into a deleted one.
 */
export class FileBlockBackend implements BlockBackend, ImageFile {
  /** The file's length: fixed for raw; a format layer (qcow2) grows it through pwrite(). */
  get size(): number {
    return this.length_;
  }
  private length_: number;
  readonly readOnly: boolean;
  /** 'raw', or the name of a supported format (qcow2) whose `driver` is layered on this file. */
  readonly format: string;
  /**
   * The format layer to put over this file (`driver.open(this)`), or null for raw, where the file
   * is the disk. The board does that (src/board/platform.ts).
   */
  readonly driver: ImageFormat | null;
  /** Called once per distinct host-side problem (deleted, truncated, an errno), without a newline. */
  onHostError: ((message: string) => void) | null = null;
  private fd: number;
  private lockHandle: ImageLock | null = null;
  private readonly reported = new Set<string>();

  constructor(
    readonly path: string,
    opts: { readOnly?: boolean; forceRaw?: boolean; format?: 'raw' | 'qcow2'; formats?: readonly ImageFormat[] } = {},
  ) {
    this.readOnly = opts.readOnly ?? false;
    this.fd = fs.openSync(path, this.readOnly ? 'r' : 'r+');
    try {
      const check = checkImage(this.fd, path, {
        forceRaw: opts.forceRaw ?? opts.format === 'raw',
        ...(opts.format ? { format: opts.format } : {}),
        ...(opts.formats ? { formats: opts.formats } : {}),
      });
      this.length_ = check.size;
      this.format = check.format;
      this.driver = check.driver ?? null;
    } catch (e) {
      fs.closeSync(this.fd);
      this.fd = -1;
      throw e;
    }
  }

  /** Takes the image lock (throws ImageLockError with one line if another process uses it). */
  async lock(): Promise<void> {
    if (this.lockHandle !== null) return;
    this.lockHandle = await lockImage(this.checkOpen(), this.path, this.readOnly);
  }

  private checkOpen(): number {
    if (this.fd < 0) throw new Error(`${this.path}: closed`);
    return this.fd;
  }

  /** The descriptor, after checking that the file is still there and still as long as it was. */
  private usable(): number {
    const fd = this.checkOpen();
    const st = fs.fstatSync(fd);
    if (st.nlink === 0) this.fail('the image file was deleted while the guest was using it; requests fail with an I/O error');
    if (st.size < this.size) {
      this.fail(`the image file was truncated to ${st.size} bytes (from ${this.size}) while the guest was using it; requests fail with an I/O error`);
    }
    return fd;
  }

  private fail(message: string): never {
    this.report(message);
    throw new Error(`${this.path}: ${message}`);
  }

  /** Reports a problem once through onHostError (also used by the format layer over this file). */
  report(message: string): void {
    if (this.reported.has(message)) return;
    this.reported.add(message);
    this.onHostError?.(message);
  }

  private hostError(e: unknown, what: string): never {
    const code = (e as NodeJS.ErrnoException | null)?.code;
    if (code !== undefined) this.report(`${what} failed (${code}); the guest gets an I/O error`);
    throw e;
  }

  read(offset: number, buf: Uint8Array): void {
    const fd = this.usable();
    try {
      readFullyAt(fd, buf, offset); // zeros past EOF (only a direct caller reads there: the device checks ranges)
    } catch (e) {
      this.hostError(e, 'reading the image');
    }
  }

  write(offset: number, buf: Uint8Array): void {
    const fd = this.usable();
    if (this.readOnly) throw new Error(`${this.path}: read-only`);
    if (offset + buf.length > this.size) throw new RangeError(`${this.path}: write past the end of the image`);
    try {
      writeFullyAt(fd, buf, offset);
    } catch (e) {
      this.hostError(e, 'writing the image');
    }
  }

  // ImageFile (src/block/image-file.ts), for a format layer over this file.
  length(): number {
    return this.length_;
  }
  pread(offset: number, buf: Uint8Array): void {
    this.read(offset, buf);
  }
  /** Like write(), but may extend the file (a format layer allocating clusters). */
  pwrite(offset: number, buf: Uint8Array): void {
    const fd = this.usable();
    if (this.readOnly) throw new Error(`${this.path}: read-only`);
    try {
      writeFullyAt(fd, buf, offset);
    } catch (e) {
      this.hostError(e, 'writing the image');
    }
    if (offset + buf.length > this.length_) this.length_ = offset + buf.length;
  }
  sync(): void {
    this.flush();
  }

  flush(): void {
    const fd = this.checkOpen();
    if (this.readOnly) return;
    this.usable();
    try {
      fs.fsyncSync(fd);
    } catch (e) {
      this.hostError(e, 'flushing the image');
    }
  }

  /** fsync (when writable), close, drop the lock; later calls are no-ops. */
  close(): void {
    if (this.fd < 0) return;
    try {
      if (!this.readOnly) fs.fsyncSync(this.fd);
    } finally {
      fs.closeSync(this.fd);
      this.fd = -1;
      this.lockHandle?.release();
      this.lockHandle = null;
    }
  }
}

// ---------------------------------------------------------------- device

export interface VirtioBlkOptions {
  backend: BlockBackend;
  scheduler: Scheduler;
  clock: Clock;
  /** Cycles from the kick to the completion of the requests it made available (default 1000). */
  latencyCycles?: number;
  /** GET_ID answer (ASCII, at most 20 bytes used). */
  serial?: string;
  /** QueueNumMax (default 256, as QEMU 7.2). */
  queueSize?: number;
  name?: string;
}

interface InFlight {
  /** Cycle at which the request completes. */
  due: number;
  chain: Chain;
}

export interface VirtioBlkState {
  inFlight: InFlight[];
  stats: VirtioBlkStats;
}

export interface VirtioBlkStats {
  reads: number;
  writes: number;
  flushes: number;
  getIds: number;
  unsupported: number;
  ioErrors: number;
  bytesRead: number;
  bytesWritten: number;
}

function zeroStats(): VirtioBlkStats {
  return { reads: 0, writes: 0, flushes: 0, getIds: 0, unsupported: 0, ioErrors: 0, bytesRead: 0, bytesWritten: 0 };
}

export class VirtioBlk implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_BLOCK;
  readonly features: bigint;
  readonly queueCount = 1;
  readonly queueMax: number;
  readonly name: string;
  readonly backend: BlockBackend;
  readonly latencyCycles: number;
  /** Capacity in 512-byte sectors. */
  readonly capacity: number;
  stats: VirtioBlkStats = zeroStats();

  private readonly scheduler: Scheduler;
  private readonly clock: Clock;
  private readonly serial: Uint8Array;
  private readonly config: Uint8Array;
  private readonly completion: SimEvent;
  private transport: VirtioTransport | null = null;
  /** Sorted by due (then pop order). */
  private inFlight: InFlight[] = [];

  constructor(opts: VirtioBlkOptions) {
    this.name = opts.name ?? 'virtio-blk';
    this.backend = opts.backend;
    this.scheduler = opts.scheduler;
    this.clock = opts.clock;
    this.latencyCycles = opts.latencyCycles ?? 1000;
    if (!Number.isSafeInteger(this.latencyCycles) || this.latencyCycles < 0) {
      throw new Error(`${this.name}: latencyCycles must be a non-negative integer`);
    }
    this.queueMax = opts.queueSize ?? 256;
    this.capacity = Math.floor(this.backend.size / SECTOR_SIZE);
    const serial = new TextEncoder().encode(opts.serial ?? 'cyclevisor-blk');
    this.serial = new Uint8Array(VIRTIO_BLK_ID_BYTES);
    this.serial.set(serial.subarray(0, VIRTIO_BLK_ID_BYTES));
    this.features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH;
    if (this.backend.readOnly) this.features |= VIRTIO_BLK_F_RO;
    // struct virtio_blk_config (§5.2.4), little-endian.
    this.config = new Uint8Array(CONFIG_SIZE);
    const dv = new DataView(this.config.buffer);
    dv.setBigUint64(0, BigInt(this.capacity), true);
    dv.setUint32(12, this.queueMax - 2, true); // seg_max: header and status take two (QEMU)
    dv.setUint32(20, SECTOR_SIZE, true); // blk_size
    this.completion = this.scheduler.createEvent(`${this.name}.complete`, (due) => this.complete(due));
  }

  attach(transport: VirtioTransport): void {
    this.transport = transport;
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    return configReadLE(this.config, offset, size);
  }

  /** Nothing is writable without VIRTIO_BLK_F_CONFIG_WCE; ignored. */
  configWrite(): void {}

  /** Take every available chain; they complete together latencyCycles from now. */
  onNotify(_queue: number, q: VirtQueue): void {
    const due = this.clock.now() + this.latencyCycles;
    let chain: Chain | null;
    while ((chain = q.pop()) !== null) this.inFlight.push({ due, chain });
    this.arm();
  }

  reset(): void {
    this.inFlight = [];
    this.scheduler.cancel(this.completion);
  }

  /** Requests taken from the ring and not yet completed. */
  get pending(): number {
    return this.inFlight.length;
  }

  private arm(): void {
    if (this.inFlight.length > 0) this.scheduler.reschedule(this.completion, this.inFlight[0].due);
    else this.scheduler.cancel(this.completion);
  }

  private complete(due: number): void {
    const t = this.transport;
    let n = 0;
    while (n < this.inFlight.length && this.inFlight[n].due <= due) n++;
    const done = this.inFlight.splice(0, n);
    if (t) {
      const q = t.queue(0);
      for (const r of done) {
        if (t.broken) break;
        this.handle(q, r.chain);
      }
    }
    this.arm();
  }

  /** Execute one request and push it (§5.2.6.1 device requirements). */
  private handle(q: VirtQueue, chain: Chain): void {
    const t = this.transport!;
    if (chain.readableLen < 16 || chain.writableLen < 1) {
      t.fail(`${this.name}: request without header or status byte`);
      return;
    }
    const hdr = q.read(chain, 0, 16);
    if (hdr === null) return;
    const dv = new DataView(hdr.buffer, hdr.byteOffset, 16);
    const type = dv.getUint32(0, true);
    const sector = dv.getBigUint64(8, true);
    const statusAt = chain.writableLen - 1;
    let status = VIRTIO_BLK_S_OK;
    let written = 0;
    switch (type) {
      case VIRTIO_BLK_T_IN: {
        const len = statusAt;
        const off = this.range(sector, len);
        if (off < 0) {
          status = VIRTIO_BLK_S_IOERR;
          break;
        }
        for (let pos = 0; pos < len; pos += CHUNK) {
          const buf = new Uint8Array(Math.min(CHUNK, len - pos));
          if (!this.io(() => this.backend.read(off + pos, buf))) {
            status = VIRTIO_BLK_S_IOERR;
            break;
          }
          if (q.write(chain, pos, buf) < 0) return;
          written = pos + buf.length;
        }
        if (status === VIRTIO_BLK_S_OK) {
          this.stats.reads++;
          this.stats.bytesRead += len;
        }
        break;
      }
      case VIRTIO_BLK_T_OUT: {
        const len = chain.readableLen - 16;
        const off = this.range(sector, len);
        if (off < 0 || this.backend.readOnly) {
          status = VIRTIO_BLK_S_IOERR;
          break;
        }
        for (let pos = 0; pos < len; pos += CHUNK) {
          const buf = q.read(chain, 16 + pos, Math.min(CHUNK, len - pos));
          if (buf === null) return;
          if (!this.io(() => this.backend.write(off + pos, buf))) {
            status = VIRTIO_BLK_S_IOERR;
            break;
          }
        }
        if (status === VIRTIO_BLK_S_OK) {
          this.stats.writes++;
          this.stats.bytesWritten += len;
        }
        break;
      }
      case VIRTIO_BLK_T_FLUSH:
        if (!this.io(() => this.backend.flush())) status = VIRTIO_BLK_S_IOERR;
        else this.stats.flushes++;
        break;
      case VIRTIO_BLK_T_GET_ID: {
        const n = q.write(chain, 0, this.serial.subarray(0, Math.min(VIRTIO_BLK_ID_BYTES, statusAt)));
        if (n < 0) return;
        written = n;
        this.stats.getIds++;
        break;
      }
      default:
        status = VIRTIO_BLK_S_UNSUPP;
        this.stats.unsupported++;
    }
    if (status === VIRTIO_BLK_S_IOERR) this.stats.ioErrors++;
    if (q.write(chain, statusAt, Uint8Array.of(status)) < 0) return;
    q.push(chain, written + 1);
  }

  /** Byte offset of an I/O of `len` bytes at `sector`, or -1 if misaligned or past the capacity. */
  private range(sector: bigint, len: number): number {
    if (len % SECTOR_SIZE !== 0) return -1;
    const end = sector + BigInt(len / SECTOR_SIZE);
    if (end > BigInt(this.capacity)) return -1;
    return Number(sector) * SECTOR_SIZE;
  }

  private io(op: () => void): boolean {
    try {
      op();
      return true;
    } catch {
      return false;
    }
  }

  getState(): VirtioBlkState {
    return {
      inFlight: this.inFlight.map((r) => ({ due: r.due, chain: cloneChain(r.chain) })),
      stats: { ...this.stats },
    };
  }

  setState(state: unknown): void {
    const s = state as VirtioBlkState;
    this.inFlight = s.inFlight.map((r) => ({ due: r.due, chain: cloneChain(r.chain) }));
    this.inFlight.sort((a, b) => a.due - b.due);
    this.stats = { ...zeroStats(), ...s.stats };
    this.arm();
  }
}

function cloneChain(c: Chain): Chain {
  return {
    head: c.head,
    readable: c.readable.map((s) => ({ addr: s.addr, len: s.len })),
    writable: c.writable.map((s) => ({ addr: s.addr, len: s.len })),
    readableLen: c.readableLen,
    writableLen: c.writableLen,
  };
}
