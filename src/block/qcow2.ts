/**
 * The qcow2 format driver (QEMU docs/interop/qcow2.txt, versions 2 and 3): the guest's disk as a
 * BlockBackend over an ImageFile, as QEMU stacks block/qcow2.c on block/file-posix.c.
 *
 * Mapping (spec "Cluster mapping"): guest offset → L1 index (offset / (cluster_size · L2 entries)),
 * L2 index, then an L2 entry that is
 *   - 0 (unallocated): read from the backing file if there is one, else zeros;
 *   - bit 0 set (v3 "all zeros"): zeros, whether or not it has a preallocated host cluster;
 *   - bit 62 set: a compressed cluster (src/block/qcow2-compress.ts);
 *   - else: bits 9..55 are the host cluster's offset.
 * Bit 63 (COPIED, in L1 and L2 entries) says the refcount is exactly 1: written in place.
 *
 * Writes (allocation on write). A cluster that is not a COPIED data cluster is copied on write:
 *   1. allocate a host cluster: its refcount 0 → 1 is written first (qcow2-refcounts.ts);
 *   2. write the whole cluster: the guest's bytes merged into what the guest saw there before
 *      (backing file, zeros, decompressed data);
 *   3. write the L2 entry (new offset | COPIED);
 *   4. only then drop the refcount of what it replaced (a compressed cluster's sectors, a shared one).
 * A missing L2 table is made the same way (refcount, zeroed table, then the L1 entry). So a process
 * killed between any two writes leaves the image consistent but for leaked clusters (refcount
 * higher than the references): `qemu-img check` reports leaks, no errors, and `-r leaks` fixes them.
 * Every metadata write goes through at once (writeSync, no write-back cache), and flush() fsyncs.
 *
 * Refused for writing (opened read-only they work): images with internal snapshots (their shared,
 * non-COPIED L2 tables need the snapshot-aware COW QEMU has), with the dirty bit (stale lazy
 * refcounts: `qemu-img check -r all` first) or the corrupt bit. Unknown autoclear bits are cleared
 * when the image is opened for writing (spec: software that changes the image without knowing
 * them must clear them).
 *
 * Corruption found while running (an entry pointing outside the file, misaligned, a refcount going
 * negative) fails that request with an I/O error, is reported once, and stops every later write:
 * a corrupt image is never written to.
 */
import type { BlockBackend } from '../../devices/virtio-blk.js';
import { ImageFormatError } from '../../devices/image-format.js';
import type { ImageFile } from './image-file.js';
import {
  INCOMPAT_CORRUPT,
  INCOMPAT_DIRTY,
  parseHeader,
  type Qcow2Header,
} from './qcow2-header.js';
import { Qcow2Refcounts } from './qcow2-refcounts.js';
import { decompressCluster } from './qcow2-compress.js';

export interface Qcow2OpenOptions {
  readOnly: boolean;
  /** Apply the read-write refusals (dirty, corrupt, snapshots) even though opened read-only (a pre-check). */
  forWrite?: boolean;
  /**
   * Opens the backing file the header names (called with the name as stored and the backing
   * format extension's value, or null): the caller resolves relative names and probes formats.
   */
  openBacking?: (name: string, format: string | null) => BlockBackend;
  /** Called once per distinct problem found in the image while it is used (no newline). */
  onProblem?: (message: string) => void;
}

/** What an L2 entry means for one guest cluster. */
export type ClusterKind = 'unallocated' | 'zero' | 'normal' | 'compressed';

export interface ClusterMapping {
  kind: ClusterKind;
  /** Host offset (normal: the cluster; compressed: the first byte; zero: preallocated or 0). */
  host: number;
  /** Compressed: bytes of the sector run holding the data. */
  compressedBytes: number;
  /** The COPIED flag (refcount known to be 1). */
  copied: boolean;
}

/** Bits 9..55 of a big-endian entry at `at`, from its two 32-bit halves (no BigInt on the hot path). */
function entryOffset(dv: DataView, at: number): number {
  return (dv.getUint32(at, false) & 0x00ffffff) * 0x100000000 + ((dv.getUint32(at + 4, false) & 0xfffffe00) >>> 0);
}

export class Qcow2Image implements BlockBackend {
  readonly header: Qcow2Header;
  readonly size: number;
  readonly readOnly: boolean;
  readonly clusterSize: number;
  readonly clusterBits: number;
  readonly l2Entries: number;
  readonly backing: BlockBackend | null;
  readonly refcounts: Qcow2Refcounts;
  /** The L1 table as stored (l1_size be64 entries). */
  private readonly l1: Uint8Array;
  private readonly l1dv: DataView;
  private readonly l2cache = new Map<number, { raw: Uint8Array; dv: DataView }>();
  private lastCompressed: { host: number; data: Uint8Array } | null = null;
  private broken: string | null = null;
  private readonly reported = new Set<string>();
  private readonly onProblem: ((m: string) => void) | null;

  constructor(
    readonly file: ImageFile,
    opts: Qcow2OpenOptions,
  ) {
    this.readOnly = opts.readOnly;
    this.onProblem = opts.onProblem ?? null;
    const path = file.path;
    const headBytes = new Uint8Array(Math.min(file.length(), 2 ** 21));
    file.pread(0, headBytes);
    const cbGuess = headBytes.length >= 24 ? new DataView(headBytes.buffer).getUint32(20, false) : 16;
    const h = parseHeader(headBytes.subarray(0, Math.min(headBytes.length, 2 ** Math.min(Math.max(cbGuess, 9), 21))), file.length(), path);
    this.header = h;
    this.clusterBits = h.clusterBits;
    this.clusterSize = 2 ** h.clusterBits;
    this.l2Entries = this.clusterSize / 8;
    this.size = h.size;
    if (!this.readOnly || opts.forWrite) {
      const why =
        h.incompatible & INCOMPAT_CORRUPT
          ? 'is marked corrupt (incompatible feature bit 1): attach it readonly, or repair it (qemu-img check -r all)'
          : h.incompatible & INCOMPAT_DIRTY
            ? 'has the dirty bit set (lazy refcounts not written back): repair it first (qemu-img check -r all) or attach it readonly'
            : h.nbSnapshots > 0
              ? `has ${h.nbSnapshots} internal snapshot(s): writing such images is not supported (attach it readonly)`
              : null;
      if (why !== null) throw new ImageFormatError(`qcow2 image ${why}`, 'qcow2', path);
    }
    this.l1 = new Uint8Array(h.l1Size * 8);
    if (h.l1Size > 0) file.pread(h.l1TableOffset, this.l1);
    this.l1dv = new DataView(this.l1.buffer);
    const flen = file.length();
    for (let i = 0; i < h.l1Size; i++) {
      const off = entryOffset(this.l1dv, i * 8);
      if (off === 0) continue;
      if (off % this.clusterSize !== 0) throw new ImageFormatError(`qcow2 image is corrupt: L1 entry ${i} (L2 table at ${off}) is not cluster-aligned`, 'qcow2', path);
      if (off >= flen) throw new ImageFormatError(`qcow2 image is truncated: L2 table ${i} at offset ${off} is past the end of the file (${flen} bytes)`, 'qcow2', path);
    }
    this.refcounts = new Qcow2Refcounts(file, h.clusterBits, h.refcountOrder, h.refcountTableOffset, h.refcountTableClusters, (m) => {
      throw new ImageFormatError(`qcow2 image is corrupt: ${m}`, 'qcow2', path);
    });
    for (let i = 0; i < this.refcounts.table.length; i++) {
      const off = this.refcounts.table[i]!;
      if (off !== 0 && off >= flen) throw new ImageFormatError(`qcow2 image is truncated: refcount block ${i} at offset ${off} is past the end of the file (${flen} bytes)`, 'qcow2', path);
    }
    // From here on a corrupt refcount is a runtime problem: report it and stop writing.
    this.refcounts.onCorrupt((m) => this.corrupt(m));

    this.backing = null;
    if (h.backingFile !== null) {
      if (!opts.openBacking) throw new ImageFormatError(`qcow2 image has a backing file (${h.backingFile}) and nothing to open it with`, 'qcow2', path);
      this.backing = opts.openBacking(h.backingFile, h.backingFormat);
    }
    if (!this.readOnly && h.version === 3 && h.autoclear !== 0n) {
      // Spec, autoclear_features: cleared by software that modifies the image without knowing them.
      file.pwrite(88, new Uint8Array(8));
      h.autoclear = 0n;
    }
  }

  /** Reports once and fails the request; after this the image is never written again. */
  private corrupt(message: string): never {
    const m = `qcow2 image is corrupt: ${message}; not writing to it any more`;
    this.broken = m;
    if (!this.reported.has(m)) {
      this.reported.add(m);
      this.onProblem?.(m);
    }
    throw new Error(`${this.file.path}: ${m}`);
  }

  // ------------------------------------------------------------------ mapping

  private l2Table(l1Index: number): { raw: Uint8Array; dv: DataView } | null {
    const off = entryOffset(this.l1dv, l1Index * 8);
    if (off === 0) return null;
    let t = this.l2cache.get(off);
    if (!t) {
      if (off % this.clusterSize !== 0 || off >= this.file.length()) this.corrupt(`L1 entry ${l1Index} points to ${off}, outside the file or misaligned`);
      const raw = new Uint8Array(this.clusterSize);
      this.file.pread(off, raw);
      t = { raw, dv: new DataView(raw.buffer) };
      this.l2cache.set(off, t);
    }
    return t;
  }

  /** What guest cluster `vc` maps to. */
  mapping(vc: number): ClusterMapping {
    const l1i = Math.floor(vc / this.l2Entries);
    const t = l1i < this.header.l1Size ? this.l2Table(l1i) : null;
    if (t === null) return { kind: 'unallocated', host: 0, compressedBytes: 0, copied: false };
    const at = (vc % this.l2Entries) * 8;
    const hi = t.dv.getUint32(at, false);
    const lo = t.dv.getUint32(at + 4, false);
    const copied = (hi & 0x80000000) !== 0;
    if (hi & 0x40000000) {
      // Compressed descriptor: x = 62 - (cluster_bits - 8); bits 0..x-1 host offset, bits x..61
      // the number of 512-byte sectors after the first one.
      const e = t.dv.getBigUint64(at, false);
      const x = BigInt(62 - (this.clusterBits - 8));
      const host = Number(e & ((1n << x) - 1n));
      const sectors = Number((e >> x) & ((1n << (62n - x)) - 1n)) + 1;
      return { kind: 'compressed', host, compressedBytes: sectors * 512 - (host % 512), copied: false };
    }
    const host = (hi & 0x00ffffff) * 0x100000000 + ((lo & 0xfffffe00) >>> 0);
    if (lo & 1 && this.header.version === 3) return { kind: 'zero', host, compressedBytes: 0, copied };
    if (host === 0) return { kind: 'unallocated', host: 0, compressedBytes: 0, copied: false };
    if (host % this.clusterSize !== 0) this.corrupt(`L2 entry for guest cluster ${vc} (host offset ${host}) is not cluster-aligned`);
    if (host >= this.file.length()) this.corrupt(`L2 entry for guest cluster ${vc} points to ${host}, past the end of the file (${this.file.length()} bytes)`);
    return { kind: 'normal', host, compressedBytes: 0, copied };
  }

  private compressedData(m: ClusterMapping): Uint8Array {
    if (this.lastCompressed?.host === m.host) return this.lastCompressed.data;
    if (m.host + 1 > this.file.length()) this.corrupt(`compressed cluster at ${m.host} is past the end of the file`);
    const raw = new Uint8Array(Math.min(m.compressedBytes, this.file.length() - m.host));
    this.file.pread(m.host, raw);
    let data: Uint8Array;
    try {
      data = decompressCluster(this.header.compressionType, raw, this.clusterSize);
    } catch (e) {
      this.corrupt(`compressed cluster at ${m.host}: ${(e as Error).message}`);
    }
    this.lastCompressed = { host: m.host, data };
    return data;
  }

  /** Reads `buf.length` bytes of guest cluster `vc` from offset `inOff` through mapping `m`. */
  private readPiece(vc: number, inOff: number, buf: Uint8Array, m: ClusterMapping): void {
    switch (m.kind) {
      case 'normal':
        this.file.pread(m.host + inOff, buf);
        return;
      case 'zero':
        buf.fill(0);
        return;
      case 'compressed':
        buf.set(this.compressedData(m).subarray(inOff, inOff + buf.length));
        return;
      case 'unallocated': {
        const b = this.backing;
        const at = vc * this.clusterSize + inOff;
        if (b === null || at >= b.size) {
          buf.fill(0);
          return;
        }
        const n = Math.min(buf.length, b.size - at);
        b.read(at, n === buf.length ? buf : buf.subarray(0, n));
        if (n < buf.length) buf.fill(0, n);
      }
    }
  }

  read(offset: number, buf: Uint8Array): void {
    let pos = 0;
    while (pos < buf.length) {
      const off = offset + pos;
      const vc = Math.floor(off / this.clusterSize);
      const inOff = off % this.clusterSize;
      let n = Math.min(this.clusterSize - inOff, buf.length - pos);
      const m = this.mapping(vc);
      if (m.kind === 'normal') {
        // Merge the following clusters while they are contiguous on the host: one pread.
        let nextVc = vc + 1;
        let end = m.host + inOff + n;
        while (pos + n < buf.length) {
          const nm = this.mapping(nextVc);
          if (nm.kind !== 'normal' || nm.host !== end) break;
          const add = Math.min(this.clusterSize, buf.length - pos - n);
          n += add;
          end += add;
          nextVc++;
        }
      }
      this.readPiece(vc, inOff, buf.subarray(pos, pos + n), m);
      pos += n;
    }
  }

  // ------------------------------------------------------------------ writing

  private writeL1(index: number, value: bigint): void {
    this.l1dv.setBigUint64(index * 8, value, false);
    this.file.pwrite(this.header.l1TableOffset + index * 8, this.l1.subarray(index * 8, index * 8 + 8));
  }

  /** The L2 table for `l1i`, made (refcount, zeroed table, L1 entry, in that order) if missing. */
  private l2ForWrite(l1i: number): { raw: Uint8Array; dv: DataView; host: number } {
    const e = this.l1dv.getBigUint64(l1i * 8, false);
    let off = entryOffset(this.l1dv, l1i * 8);
    if (off === 0) {
      off = this.refcounts.alloc();
      const raw = new Uint8Array(this.clusterSize);
      this.file.pwrite(off, raw);
      this.l2cache.set(off, { raw, dv: new DataView(raw.buffer) });
      this.writeL1(l1i, BigInt(off) | (1n << 63n));
    } else if (!(e >> 63n)) {
      const rc = this.refcounts.get(off / this.clusterSize);
      if (rc !== 1) this.corrupt(`L2 table ${l1i} is shared (refcount ${rc}) without a snapshot`);
      this.writeL1(l1i, BigInt(off) | (1n << 63n));
    }
    const t = this.l2Table(l1i)!;
    return { ...t, host: off };
  }

  write(offset: number, buf: Uint8Array): void {
    if (this.readOnly) throw new Error(`${this.file.path}: read-only`);
    if (this.broken !== null) throw new Error(`${this.file.path}: ${this.broken}`);
    if (offset + buf.length > this.size) throw new RangeError(`${this.file.path}: write past the end of the disk`);
    let pos = 0;
    while (pos < buf.length) {
      const off = offset + pos;
      const vc = Math.floor(off / this.clusterSize);
      const inOff = off % this.clusterSize;
      const n = Math.min(this.clusterSize - inOff, buf.length - pos);
      this.writeCluster(vc, inOff, buf.subarray(pos, pos + n));
      pos += n;
    }
  }

  private writeCluster(vc: number, inOff: number, data: Uint8Array): void {
    const m = this.mapping(vc);
    if (m.kind === 'normal' && m.copied) {
      this.file.pwrite(m.host + inOff, data); // in place
      return;
    }
    const cs = this.clusterSize;
    const l1i = Math.floor(vc / this.l2Entries);
    if (l1i >= this.header.l1Size) this.corrupt(`guest cluster ${vc} is outside the L1 table`);
    const t = this.l2ForWrite(l1i);
    const at = (vc % this.l2Entries) * 8;
    const full = new Uint8Array(cs);
    if (m.kind === 'zero' && m.host !== 0 && m.copied) {
      // A preallocated zero cluster: fill it, then clear the zero flag.
      full.set(data, inOff);
      this.file.pwrite(m.host, full);
      this.setL2(t, at, BigInt(m.host) | (1n << 63n));
      return;
    }
    if (data.length < cs && m.kind !== 'zero') this.readPiece(vc, 0, full, m);
    full.set(data, inOff);
    const host = this.refcounts.alloc(); // 1. refcount
    this.file.pwrite(host, full); // 2. data
    this.setL2(t, at, BigInt(host) | (1n << 63n)); // 3. mapping
    // 4. what it replaced loses a reference.
    if (m.kind === 'compressed') {
      const first = Math.floor(m.host / cs);
      const last = Math.floor((m.host + m.compressedBytes - 1) / cs);
      for (let c = first; c <= last; c++) this.refcounts.adjust(c * cs, -1);
      if (this.lastCompressed?.host === m.host) this.lastCompressed = null;
    } else if ((m.kind === 'normal' || m.kind === 'zero') && m.host !== 0) {
      this.refcounts.adjust(m.host, -1);
    }
  }

  /** Host cluster being filled with compressed data, and the next free byte in it. */
  private compressedTail: { host: number; used: number } | null = null;

  /**
   * Stores guest cluster `vc` compressed (img convert -c): `data` is its deflate stream (smaller
   * than a cluster). Only for a cluster that is unallocated (a new image). Compressed clusters are
   * packed into host clusters at 512-byte boundaries; a host cluster's refcount is the number of
   * compressed clusters in it. Order as for any allocation: refcount, data, then the L2 entry.
   */
  writeCompressed(vc: number, data: Uint8Array): void {
    if (this.readOnly || this.broken !== null) throw new Error(`${this.file.path}: not writable`);
    const cs = this.clusterSize;
    if (data.length > cs - 512) throw new RangeError('compressed data does not fit a cluster');
    if (this.mapping(vc).kind !== 'unallocated') throw new Error(`guest cluster ${vc} is already allocated`);
    const t = this.l2ForWrite(Math.floor(vc / this.l2Entries));
    let tail = this.compressedTail;
    if (tail === null || tail.used + data.length > cs) {
      tail = { host: this.refcounts.alloc(), used: 0 }; // 1. refcount (1 for this cluster's first user)
    } else {
      this.refcounts.adjust(tail.host, +1); // 1. one more compressed cluster in this host cluster
    }
    const at = tail.host + tail.used;
    this.file.pwrite(at, data); // 2. data
    const sectors = Math.ceil(data.length / 512);
    tail.used += sectors * 512;
    this.compressedTail = tail.used >= cs ? null : tail;
    const x = BigInt(62 - (this.clusterBits - 8));
    this.setL2(t, (vc % this.l2Entries) * 8, (1n << 62n) | (BigInt(sectors - 1) << x) | BigInt(at)); // 3. mapping
  }

  private setL2(t: { raw: Uint8Array; dv: DataView; host: number }, at: number, value: bigint): void {
    t.dv.setBigUint64(at, value, false);
    this.file.pwrite(t.host + at, t.raw.subarray(at, at + 8));
  }

  flush(): void {
    if (!this.readOnly) this.file.sync();
  }

  /** Closes the backing chain (the file itself belongs to whoever opened it). */
  close(): void {
    (this.backing as { close?: () => void } | null)?.close?.();
  }
}
