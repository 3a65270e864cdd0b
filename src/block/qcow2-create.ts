/**
 * Creating an empty qcow2 image laid out as `qemu-img create -f qcow2` lays it out (QEMU 7.2
 * block/qcow2.c qcow2_co_create): cluster 0 the header (+ extensions, + backing file name),
 * cluster 1 the refcount table (one cluster), cluster 2 the first refcount block, clusters 3.. the
 * L1 table; the file ends where the L1 table does. Every cluster of that metadata has refcount 1.
 *
 * Header extensions written: the backing format (when there is a backing file) and, for version 3
 * with clusters over 4 KiB, the feature name table (as QEMU 7.2), then the end marker.
 */
import { FdImageFile } from './image-file.js';
import {
  COMPRESSION_ZSTD,
  EXT_BACKING_FORMAT,
  EXT_FEATURE_TABLE,
  INCOMPAT_COMPRESSION,
  QCOW2_MAGIC,
  V2_HEADER_LENGTH,
  V3_HEADER_LENGTH_QEMU,
} from './qcow2-header.js';
import { writeEntry } from './qcow2-refcounts.js';

export interface Qcow2CreateOptions {
  size: number;
  clusterSize?: number;
  /** 2 (compat=0.10) or 3 (compat=1.1, the default). */
  version?: 2 | 3;
  refcountBits?: number;
  compression?: 'zlib' | 'zstd';
  /** Backing file name as it is to be stored (relative to the new image's directory, or absolute). */
  backingFile?: string;
  backingFormat?: string;
}

const FEATURES: Array<[number, number, string]> = [
  [0, 0, 'dirty bit'],
  [0, 1, 'corrupt bit'],
  [0, 2, 'external data file'],
  [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'],
  [1, 0, 'lazy refcounts'],
  [2, 0, 'bitmaps'],
  [2, 1, 'raw external data'],
];

/** Builds the bytes of a new empty image (exported for tests); throws RangeError on bad options. */
export function qcow2ImageBytes(o: Qcow2CreateOptions): Uint8Array {
  const cs = o.clusterSize ?? 65536;
  const cb = Math.log2(cs);
  if (!Number.isInteger(cb) || cb < 9 || cb > 21) throw new RangeError(`cluster size ${cs} must be a power of two between 512 and 2M`);
  const version = o.version ?? 3;
  const rbits = o.refcountBits ?? 16;
  const order = Math.log2(rbits);
  if (!Number.isInteger(order) || order < 0 || order > 6) throw new RangeError(`refcount bits ${rbits} must be a power of two from 1 to 64`);
  if (version === 2 && rbits !== 16) throw new RangeError('compat=0.10 (version 2) images have 16-bit refcounts only');
  if (version === 2 && o.compression === 'zstd') throw new RangeError('compression_type=zstd needs compat=1.1');
  if (!Number.isSafeInteger(o.size) || o.size < 0) throw new RangeError(`size ${o.size} is out of range`);
  const size = Math.ceil(o.size / 512) * 512;
  const l2Entries = cs / 8;
  const l1Size = Math.ceil(size / (cs * l2Entries));
  const l1Clusters = Math.ceil((l1Size * 8) / cs);
  const metaClusters = 3 + l1Clusters;
  if (metaClusters > (cs * 8) / rbits) throw new RangeError('the L1 table does not fit the first refcount block: use a larger cluster size');

  const head = new Uint8Array(cs);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, QCOW2_MAGIC);
  dv.setUint32(4, version);
  dv.setUint32(20, cb);
  dv.setBigUint64(24, BigInt(size));
  dv.setUint32(36, l1Size);
  dv.setBigUint64(40, BigInt(3 * cs));
  dv.setBigUint64(48, BigInt(cs));
  dv.setUint32(56, 1);
  let at = V2_HEADER_LENGTH;
  if (version === 3) {
    const zstd = o.compression === 'zstd';
    dv.setBigUint64(72, zstd ? INCOMPAT_COMPRESSION : 0n);
    dv.setUint32(96, order);
    dv.setUint32(100, V3_HEADER_LENGTH_QEMU);
    head[104] = zstd ? COMPRESSION_ZSTD : 0;
    at = V3_HEADER_LENGTH_QEMU;
  }
  const ext = (type: number, data: Uint8Array) => {
    dv.setUint32(at, type);
    dv.setUint32(at + 4, data.length);
    head.set(data, at + 8);
    at += 8 + ((data.length + 7) & ~7);
  };
  const enc = new TextEncoder();
  if (o.backingFile !== undefined && o.backingFormat !== undefined) ext(EXT_BACKING_FORMAT, enc.encode(o.backingFormat));
  // QEMU 7.2 writes the (optional) feature name table only with clusters larger than 4 KiB
  // (observed with qemu-img create for 512 B .. 64 KiB clusters); so do we, byte for byte.
  if (version === 3 && cs > 4096) {
    const t = new Uint8Array(FEATURES.length * 48);
    FEATURES.forEach(([type, bit, name], i) => {
      t[i * 48] = type;
      t[i * 48 + 1] = bit;
      t.set(enc.encode(name), i * 48 + 2);
    });
    ext(EXT_FEATURE_TABLE, t);
  }
  at += 8; // end marker (zeros)
  if (o.backingFile !== undefined) {
    const name = enc.encode(o.backingFile);
    if (name.length === 0 || name.length > 1023 || at + name.length > cs) throw new RangeError('backing file name is too long');
    dv.setBigUint64(8, BigInt(at));
    dv.setUint32(16, name.length);
    head.set(name, at);
  }

  const out = new Uint8Array(3 * cs + l1Size * 8);
  out.set(head, 0);
  new DataView(out.buffer).setBigUint64(cs, BigInt(2 * cs)); // refcount table[0] → block at cluster 2
  const rb = out.subarray(2 * cs, 3 * cs);
  for (let c = 0; c < metaClusters; c++) writeEntry(rb, c, order, 1);
  return out;
}

/** Writes a new image file (replacing an existing one), fsynced. */
export function createQcow2(path: string, o: Qcow2CreateOptions): void {
  const bytes = qcow2ImageBytes(o);
  const f = new FdImageFile(path, false, { create: true });
  try {
    f.pwrite(0, bytes);
  } finally {
    f.close();
  }
}
