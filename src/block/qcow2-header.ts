/**
 * The qcow2 header (QEMU docs/interop/qcow2.txt, "Header" and "Header extensions"): parsing,
 * validation against the file's length, and the feature-bit policy.
 *
 * All numbers are big-endian. Version 2 has the 72-byte header; version 3 adds the feature bit
 * fields, refcount_order and header_length (>= 104; 112 with compression_type, as QEMU writes it).
 * Header extensions follow the header (v2: at byte 72; v3: at header_length), each
 * {be32 type, be32 length, data padded to 8 bytes}, up to a type-0 end marker, all within the
 * first cluster.
 *
 * Incompatible features (spec: "if an unknown bit is set, the image must not be opened"):
 *   bit 0 dirty: refcounts may be stale (lazy refcounts): read-only use only; QEMU repairs them
 *     on a read-write open, we ask for `qemu-img check -r all` instead.
 *   bit 1 corrupt: read-only use only (QEMU's rule too).
 *   bit 2 external data file, bit 4 extended L2 entries: not implemented, refused.
 *   bit 3 compression type: understood (compression_type 0 zlib or 1 zstd).
 *   others: refused, named from the feature name table when the image has one.
 * Autoclear features (bit 0 bitmaps, bit 1 raw external data): "must be cleared by software that
 * modifies the image without understanding them" — we clear them all when opening read-write.
 */
import { ImageFormatError } from '../../devices/image-format.js';

export const QCOW2_MAGIC = 0x514649fb;
export const V2_HEADER_LENGTH = 72;
export const V3_HEADER_LENGTH = 104;
/** What QEMU writes: 104 + compression_type (1 byte) padded to 8. */
export const V3_HEADER_LENGTH_QEMU = 112;

export const EXT_END = 0;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION = 1n << 3n;
export const INCOMPAT_EXTL2 = 1n << 4n;
export const COMPAT_LAZY_REFCOUNTS = 1n << 0n;

export const COMPRESSION_ZLIB = 0;
export const COMPRESSION_ZSTD = 1;

/** L1/L2 entry bits (spec "Cluster mapping"). */
export const OFLAG_COPIED = 1n << 63n;
export const OFLAG_COMPRESSED = 1n << 62n;
export const OFLAG_ZERO = 1n;
/** Bits 9..55: a host cluster offset in an L1 or standard L2 entry. */
export const OFFSET_MASK = 0x00fffffffffffe00n;

/** QEMU's built-in names (block/qcow2.c qcow2_feature_table), for images without a table. */
const KNOWN_FEATURE_NAMES: Record<string, string> = {
  'incompatible:0': 'dirty bit',
  'incompatible:1': 'corrupt bit',
  'incompatible:2': 'external data file',
  'incompatible:3': 'compression type',
  'incompatible:4': 'extended L2 entries',
  'compatible:0': 'lazy refcounts',
  'autoclear:0': 'bitmaps',
  'autoclear:1': 'raw external data',
};

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  /** Virtual disk size in bytes. */
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatible: bigint;
  compatible: bigint;
  autoclear: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  /** Header extensions. */
  backingFormat: string | null;
  /** The backing file name as stored (relative names are relative to the image's directory). */
  backingFile: string | null;
  featureNames: Map<string, string>;
  /** Other extension types present (hex), for `img info`. */
  otherExtensions: number[];
}

function fail(path: string, msg: string): never {
  throw new ImageFormatError(`qcow2 image ${msg}`, 'qcow2', path);
}

const u64 = (dv: DataView, at: number, path: string, what: string): number => {
  const v = dv.getBigUint64(at, false);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(path, `is corrupt: ${what} ${v} is too large`);
  return Number(v);
};

/**
 * Parses and validates the header in `head` (the first cluster, or as much of it as the file has),
 * for a file of `fileLength` bytes. Throws ImageFormatError with one line on anything malformed,
 * truncated or unsupported. (The read-write refusals — dirty, corrupt, snapshots — are Qcow2Image's.)
 */
export function parseHeader(head: Uint8Array, fileLength: number, path: string): Qcow2Header {
  if (head.length < V2_HEADER_LENGTH) fail(path, `is truncated: ${fileLength} bytes, shorter than the 72-byte header`);
  const dv = new DataView(head.buffer, head.byteOffset, head.length);
  if (dv.getUint32(0, false) !== QCOW2_MAGIC) fail(path, 'has no QFI\\xfb magic');
  const version = dv.getUint32(4, false);
  if (version !== 2 && version !== 3) fail(path, `version ${version} is not supported (2 and 3 are)`);
  const clusterBits = dv.getUint32(20, false);
  if (clusterBits < 9 || clusterBits > 21) fail(path, `is corrupt: cluster_bits ${clusterBits} is outside 9..21`);
  const cs = 2 ** clusterBits;
  const h: Qcow2Header = {
    version: version as 2 | 3,
    backingFileOffset: u64(dv, 8, path, 'backing_file_offset'),
    backingFileSize: dv.getUint32(16, false),
    clusterBits,
    size: u64(dv, 24, path, 'size'),
    cryptMethod: dv.getUint32(32, false),
    l1Size: dv.getUint32(36, false),
    l1TableOffset: u64(dv, 40, path, 'l1_table_offset'),
    refcountTableOffset: u64(dv, 48, path, 'refcount_table_offset'),
    refcountTableClusters: dv.getUint32(56, false),
    nbSnapshots: dv.getUint32(60, false),
    snapshotsOffset: u64(dv, 64, path, 'snapshots_offset'),
    incompatible: 0n,
    compatible: 0n,
    autoclear: 0n,
    refcountOrder: 4,
    headerLength: V2_HEADER_LENGTH,
    compressionType: COMPRESSION_ZLIB,
    backingFormat: null,
    backingFile: null,
    featureNames: new Map(),
    otherExtensions: [],
  };
  if (version === 3) {
    if (head.length < V3_HEADER_LENGTH) fail(path, `is truncated: ${fileLength} bytes, shorter than the 104-byte version 3 header`);
    h.incompatible = dv.getBigUint64(72, false);
    h.compatible = dv.getBigUint64(80, false);
    h.autoclear = dv.getBigUint64(88, false);
    h.refcountOrder = dv.getUint32(96, false);
    h.headerLength = dv.getUint32(100, false);
    if (h.headerLength < V3_HEADER_LENGTH || h.headerLength > cs) fail(path, `is corrupt: header_length ${h.headerLength} is outside 104..cluster size`);
    if (h.headerLength > 104) h.compressionType = head[104]!;
  }
  if (h.refcountOrder > 6) fail(path, `is corrupt: refcount_order ${h.refcountOrder} is larger than 6`);
  if (h.cryptMethod !== 0) fail(path, `is encrypted (crypt_method ${h.cryptMethod}): not supported`);

  // Header extensions, within the first cluster.
  let at = h.headerLength;
  const end = Math.min(cs, head.length);
  for (;;) {
    if (at + 8 > end) break; // spec: the end marker may be missing only if the cluster ends
    const type = dv.getUint32(at, false);
    const len = dv.getUint32(at + 4, false);
    if (type === EXT_END) break;
    const data = at + 8;
    if (data + len > end) fail(path, `is corrupt: header extension 0x${type.toString(16)} runs past the first cluster`);
    const bytes = head.subarray(data, data + len);
    if (type === EXT_BACKING_FORMAT) h.backingFormat = new TextDecoder().decode(bytes);
    else if (type === EXT_FEATURE_TABLE) {
      for (let i = 0; i + 48 <= len; i += 48) {
        const kind = ['incompatible', 'compatible', 'autoclear'][bytes[i]!];
        const nameBytes = bytes.subarray(i + 2, i + 48);
        const nul = nameBytes.indexOf(0);
        if (kind) h.featureNames.set(`${kind}:${bytes[i + 1]}`, new TextDecoder().decode(nul < 0 ? nameBytes : nameBytes.subarray(0, nul)));
      }
    } else h.otherExtensions.push(type);
    at = data + ((len + 7) & ~7);
  }

  if (h.backingFileOffset !== 0) {
    if (h.backingFileSize === 0 || h.backingFileSize > 1023 || h.backingFileOffset + h.backingFileSize > Math.min(cs, head.length)) {
      fail(path, `is corrupt: backing file name (offset ${h.backingFileOffset}, ${h.backingFileSize} bytes) is not within the first cluster`);
    }
    h.backingFile = new TextDecoder().decode(head.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize));
  }

  // Feature bits.
  const supported = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION;
  if (h.incompatible & INCOMPAT_DATA_FILE) fail(path, 'uses an external data file (incompatible feature bit 2): not supported');
  if (h.incompatible & INCOMPAT_EXTL2) fail(path, 'uses extended L2 entries (subclusters, incompatible feature bit 4): not supported');
  const unknown = h.incompatible & ~(supported | INCOMPAT_DATA_FILE | INCOMPAT_EXTL2);
  if (unknown !== 0n) {
    const bits: string[] = [];
    for (let b = 0n; b < 64n; b++) {
      if (unknown & (1n << b)) {
        const name = featureName(h, 'incompatible', Number(b));
        bits.push(name === `bit ${b}` ? name : `bit ${b} (${name})`);
      }
    }
    fail(path, `uses unknown incompatible features (${bits.join(', ')}): it must not be opened`);
  }
  if (!(h.incompatible & INCOMPAT_COMPRESSION) && h.compressionType !== COMPRESSION_ZLIB) {
    fail(path, `is corrupt: compression_type ${h.compressionType} without the compression type feature bit`);
  }
  if (h.compressionType !== COMPRESSION_ZLIB && h.compressionType !== COMPRESSION_ZSTD) {
    fail(path, `uses compression type ${h.compressionType}: not supported (0 zlib and 1 zstd are)`);
  }

  // Metadata placement: aligned, inside the file, and an L1 table large enough for the size.
  const l2Entries = cs / 8;
  const needL1 = Math.ceil(h.size / (cs * l2Entries));
  if (h.l1Size < needL1) fail(path, `is corrupt: l1_size ${h.l1Size} is too small for a ${h.size}-byte disk (needs ${needL1})`);
  if (h.l1Size > 0x2000000) fail(path, `is corrupt: l1_size ${h.l1Size} is too large`);
  checkTable(path, 'L1 table', h.l1TableOffset, h.l1Size * 8, cs, fileLength, h.l1Size > 0, true);
  if (h.refcountTableClusters === 0) fail(path, 'is corrupt: refcount_table_clusters is 0');
  checkTable(path, 'refcount table', h.refcountTableOffset, h.refcountTableClusters * cs, cs, fileLength, true);
  if (h.nbSnapshots > 0) checkTable(path, 'snapshot table', h.snapshotsOffset, 1, 8, fileLength, true);
  return h;
}

function checkTable(path: string, what: string, offset: number, bytes: number, align: number, fileLength: number, present: boolean, mustFit = false): void {
  if (!present) return;
  if (offset === 0 || offset % align !== 0) fail(path, `is corrupt: ${what} offset ${offset} is not cluster-aligned`);
  // QEMU truncates the file right after the last table, so a table may end past the file's end
  // only when it is the last thing (its unused tail reads as zeros); its start must be inside.
  if (offset >= fileLength) fail(path, `is truncated: ${what} at offset ${offset} is past the end of the file (${fileLength} bytes)`);
  if (mustFit && offset + bytes > fileLength) fail(path, `is truncated: ${what} (${bytes} bytes at offset ${offset}) ends past the end of the file (${fileLength} bytes)`);
}

export function featureName(h: Qcow2Header, kind: 'incompatible' | 'compatible' | 'autoclear', bit: number): string {
  return h.featureNames.get(`${kind}:${bit}`) ?? KNOWN_FEATURE_NAMES[`${kind}:${bit}`] ?? `bit ${bit}`;
}
