/**
 * Compressed qcow2 clusters (docs/interop/qcow2.txt "Compressed Clusters Descriptor", and the
 * compression_type header field): one cluster's data compressed into a run of 512-byte sectors.
 *
 *   zlib (type 0): a raw deflate stream (QEMU block/qcow2-threads.c: window bits -12, no zlib
 *     header), through node:zlib.
 *   zstd (type 1): zstd frames until the cluster is full (QEMU qcow2_zstd_decompress), through
 *     fzstd (npm, MIT, pure JavaScript, synchronous). The sector run ends with padding after the
 *     last frame, which fzstd would read as a bad frame, so frames are measured here from their
 *     block headers (RFC 8878 §3.1.1) and only whole frames are handed over.
 *
 * Compression (for `img convert -c`) is zlib only, as qemu-img's default.
 */
import * as zlib from 'node:zlib';
import { createRequire } from 'node:module';
import type { decompress as FzstdDecompress } from 'fzstd';
import { COMPRESSION_ZLIB } from './qcow2-header.js';

/**
 * fzstd, loaded at the first zstd cluster (synchronously: reads are synchronous), not when the
 * board starts: most runs never meet one (docs/ARCHITECTURE.md, CLI: lazy loading).
 */
let fzstdDecompress: typeof FzstdDecompress | null = null;
function zstdDecompress(data: Uint8Array): Uint8Array {
  fzstdDecompress ??= (createRequire(import.meta.url)('fzstd') as { decompress: typeof FzstdDecompress }).decompress;
  return fzstdDecompress(data);
}

/** Decompresses one cluster; throws when the data does not give exactly `clusterSize` bytes. */
export function decompressCluster(type: number, data: Uint8Array, clusterSize: number): Uint8Array {
  if (type === COMPRESSION_ZLIB) {
    // Z_SYNC_FLUSH: the input is the whole sector run (may end mid-padding); stop at the stream end.
    const out = zlib.inflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: clusterSize });
    if (out.length !== clusterSize) throw new Error(`compressed cluster inflates to ${out.length} bytes, not ${clusterSize}`);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }
  const out = new Uint8Array(clusterSize);
  let filled = 0;
  let at = 0;
  while (filled < clusterSize) {
    const len = zstdFrameLength(data, at);
    if (len < 0) throw new Error('compressed cluster: zstd frame is malformed or cut short');
    const part = zstdDecompress(data.subarray(at, at + len));
    if (filled + part.length > clusterSize) throw new Error('compressed cluster: zstd data is larger than a cluster');
    out.set(part, filled);
    filled += part.length;
    at += len;
    if (part.length === 0 && len === 0) break;
  }
  return out;
}

/** Compresses one cluster as qemu-img -c does with zlib (raw deflate); null if it does not shrink. */
export function compressCluster(data: Uint8Array, clusterSize: number): Uint8Array | null {
  const out = zlib.deflateRawSync(data, { windowBits: 12, level: zlib.constants.Z_DEFAULT_COMPRESSION });
  return out.length < clusterSize - 512 ? new Uint8Array(out.buffer, out.byteOffset, out.length) : null;
}

/** Length of the zstd frame at `at` (header, blocks, checksum), or -1 if it is not one or is cut. */
export function zstdFrameLength(d: Uint8Array, at: number): number {
  if (at + 6 > d.length) return -1;
  const magic = (d[at]! | (d[at + 1]! << 8) | (d[at + 2]! << 16) | (d[at + 3]! << 24)) >>> 0;
  if (magic !== 0xfd2fb528) return -1;
  const fhd = d[at + 4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictFlag = fhd & 3;
  let p = at + 5 + (single ? 0 : 1) + [0, 1, 2, 4][dictFlag]! + (fcsFlag === 0 ? single : 1 << fcsFlag);
  for (;;) {
    if (p + 3 > d.length) return -1;
    const bh = d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16);
    const last = bh & 1;
    const type = (bh >> 1) & 3;
    const size = bh >> 3;
    if (type === 3) return -1; // reserved
    p += 3 + (type === 1 ? 1 : size);
    if (last) break;
  }
  p += checksum ? 4 : 0;
  return p > d.length ? -1 : p - at;
}
