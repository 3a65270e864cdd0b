/**
 * qcow2 refcounts (docs/interop/qcow2.txt "Cluster refcounts"): a two-level table, the refcount
 * table (be64 offsets of refcount blocks) and refcount blocks of refcount_bits = 1 << refcount_order
 * wide entries, one per host cluster. Entries narrower than a byte are packed from the least
 * significant bit (QEMU block/qcow2-refcount.c get_refcount_ro0..2); 16/32/64-bit ones are
 * big-endian.
 *
 * Allocation: the first cluster with refcount 0 at or after a hint (QEMU's free_cluster_index).
 * A cluster whose refcount block does not exist yet gets one: the block is placed in the first free
 * cluster of the range it covers, so it describes itself, is written before the refcount table
 * points to it, and the table entry is written after (a crash in between leaves an unreferenced
 * cluster, which `qemu-img check` does not count as an error).
 *
 * Every update is written through (the entry's bytes, writeSync) before the caller goes on: the
 * qcow2 driver increments a new cluster's refcount before writing the L2/L1 entry that uses it, so
 * a process killed at any point leaves at most leaked clusters (refcount 1, no reference).
 *
 * Growing the refcount table (an allocation past what the table covers; with 64 KiB clusters and
 * 16-bit refcounts one table cluster covers 16 TiB of file, with 512-byte clusters only 8 MiB): new
 * refcount blocks and a new, larger table are written past everything in use, the blocks counting
 * the new clusters; then the header's refcount_table_offset and refcount_table_clusters change in
 * one 12-byte write; then the old table's clusters are freed. A crash before the header write leaves
 * only unreferenced clusters past the old table's reach; after it, at most the old table leaked.
 */
import type { ImageFile } from './image-file.js';

export class Qcow2Refcounts {
  readonly clusterSize: number;
  readonly refcountBits: number;
  /** log2(entries per refcount block). */
  private readonly blockBits: number;
  /** The refcount table (host offsets of refcount blocks, 0 = none). */
  readonly table: number[];
  private readonly blocks = new Map<number, Uint8Array>();
  /** Lowest cluster index that may be free. */
  private freeHint = 0;
  readonly max: number;

  constructor(
    private readonly file: ImageFile,
    clusterBits: number,
    readonly refcountOrder: number,
    private tableOffset: number,
    tableClusters: number,
    private corrupt: (msg: string) => never,
  ) {
    this.clusterSize = 2 ** clusterBits;
    this.refcountBits = 1 << refcountOrder;
    this.blockBits = clusterBits + 3 - refcountOrder;
    this.max = this.refcountBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** this.refcountBits - 1;
    const raw = new Uint8Array(tableClusters * this.clusterSize);
    file.pread(tableOffset, raw);
    const dv = new DataView(raw.buffer);
    this.table = [];
    for (let i = 0; i < raw.length / 8; i++) {
      const e = dv.getBigUint64(i * 8, false);
      // Bits 0-8 reserved (must be zero); an offset must be cluster-aligned.
      const off = Number(e & ~0x1ffn);
      if (e & 0x1ffn || off % this.clusterSize !== 0) this.corrupt(`refcount table entry ${i} (0x${e.toString(16)}) is not a cluster-aligned offset`);
      this.table.push(off);
    }
  }

  /** Where corruption found from now on goes (the driver: report once, stop writing). */
  onCorrupt(handler: (msg: string) => never): void {
    this.corrupt = handler;
  }

  /** How many clusters one refcount block covers. */
  get perBlock(): number {
    return 2 ** this.blockBits;
  }

  private block(rtIndex: number): Uint8Array | null {
    const off = this.table[rtIndex] ?? 0;
    if (off === 0) return null;
    let b = this.blocks.get(off);
    if (!b) {
      if (off + this.clusterSize > this.file.length() + this.clusterSize) this.corrupt(`refcount block at ${off} is past the end of the file`);
      b = new Uint8Array(this.clusterSize);
      this.file.pread(off, b);
      this.blocks.set(off, b);
    }
    return b;
  }

  /** Refcount of host cluster `idx` (0 when no block covers it). */
  get(idx: number): number {
    const b = this.block(Math.floor(idx / this.perBlock));
    if (b === null) return 0;
    return readEntry(b, idx % this.perBlock, this.refcountOrder);
  }

  /** Sets the refcount of host cluster `idx` and writes the changed bytes through. */
  set(idx: number, value: number): void {
    if (value < 0 || value > this.max) this.corrupt(`refcount of cluster ${idx} would be ${value} (${this.refcountBits}-bit refcounts)`);
    const rt = Math.floor(idx / this.perBlock);
    if (rt >= this.table.length) this.corrupt(`cluster ${idx} is beyond the refcount table`); // alloc() grows it first
    let b = this.block(rt);
    if (b === null) b = this.newBlock(rt, idx);
    const i = idx % this.perBlock;
    const [at, len] = writeEntry(b, i, this.refcountOrder, value);
    this.file.pwrite(this.table[rt]! + at, b.subarray(at, at + len));
    if (value === 0 && idx < this.freeHint) this.freeHint = idx;
  }

  /**
   * Creates the refcount block for table entry `rt`, in the first cluster of its range that is not
   * `avoid` (the cluster being counted); the block counts itself.
   */
  private newBlock(rt: number, avoid: number): Uint8Array {
    let self = rt * this.perBlock;
    if (self === avoid) self++;
    // rt's range has no block, so every cluster in it is free (refcount 0) unless the image is corrupt.
    const b = new Uint8Array(this.clusterSize);
    writeEntry(b, self % this.perBlock, this.refcountOrder, 1);
    const off = self * this.clusterSize;
    this.file.pwrite(off, b); // the block, counting itself ...
    this.blocks.set(off, b);
    const e = new Uint8Array(8);
    new DataView(e.buffer).setBigUint64(0, BigInt(off), false);
    this.file.pwrite(this.tableOffset + rt * 8, e); // ... then the table entry pointing to it
    this.table[rt] = off;
    return b;
  }

  /** Allocates one host cluster (refcount 0 → 1, written) and returns its byte offset. */
  alloc(): number {
    for (let idx = this.freeHint; ; idx++) {
      if (Math.floor(idx / this.perBlock) >= this.table.length) this.grow(idx);
      if (this.get(idx) !== 0) continue;
      this.set(idx, 1); // may place a new refcount block at idx's range start; idx stays free of it
      this.freeHint = idx + 1;
      return idx * this.clusterSize;
    }
  }

  /** A table (and blocks) covering cluster `minIdx` (see the file comment for the order). */
  private grow(minIdx: number): void {
    const cs = this.clusterSize;
    const per = this.perBlock;
    const oldClusters = (this.table.length * 8) / cs;
    // Everything from S on is free: past the file and past what the old table covers.
    const S = Math.max(Math.ceil(this.file.length() / cs), this.table.length * per);
    const firstRt = Math.floor(S / per);
    let B = 1;
    let T = oldClusters * 2;
    for (;;) {
      const end = S + B + T; // first cluster after the new structures
      const entries = Math.max(Math.floor((end - 1) / per), Math.floor(minIdx / per)) + 1;
      const T2 = Math.max(T, Math.ceil((entries * 8) / cs));
      const B2 = Math.floor((end - 1) / per) - firstRt + 1;
      if (T2 === T && B2 === B) break;
      T = T2;
      B = B2;
    }
    // 1. The new refcount blocks, counting every new cluster (blocks and table).
    const blocks: Uint8Array[] = [];
    for (let j = 0; j < B; j++) blocks.push(new Uint8Array(cs));
    for (let c = S; c < S + B + T; c++) writeEntry(blocks[Math.floor(c / per) - firstRt]!, c % per, this.refcountOrder, 1);
    for (let j = 0; j < B; j++) {
      this.file.pwrite((S + j) * cs, blocks[j]!);
      this.blocks.set((S + j) * cs, blocks[j]!);
    }
    // 2. The new table: the old entries, then the new blocks.
    const entries = (T * cs) / 8;
    const table = new Uint8Array(T * cs);
    const dv = new DataView(table.buffer);
    const next = [...this.table];
    while (next.length < entries) next.push(0);
    for (let j = 0; j < B; j++) next[firstRt + j] = (S + j) * cs;
    next.forEach((off, i) => dv.setBigUint64(i * 8, BigInt(off), false));
    const newOffset = (S + B) * cs;
    this.file.pwrite(newOffset, table);
    // 3. The header switches to it (refcount_table_offset, refcount_table_clusters: bytes 48-59).
    const hdr = new Uint8Array(12);
    const hv = new DataView(hdr.buffer);
    hv.setBigUint64(0, BigInt(newOffset), false);
    hv.setUint32(8, T, false);
    this.file.pwrite(48, hdr);
    const oldOffset = this.tableOffset;
    this.tableOffset = newOffset;
    this.table.length = 0;
    this.table.push(...next);
    // 4. The old table's clusters are free.
    for (let c = 0; c < oldClusters; c++) this.adjust(oldOffset + c * cs, -1);
  }

  /** Adds `delta` to the refcount of the host cluster containing byte `offset`. */
  adjust(offset: number, delta: number): number {
    const idx = Math.floor(offset / this.clusterSize);
    const v = this.get(idx) + delta;
    if (v < 0) this.corrupt(`refcount of cluster ${idx} would drop below 0`);
    this.set(idx, v);
    return v;
  }
}

/** Entry `i` of a refcount block (QEMU get_refcount_ro0..ro6). */
export function readEntry(b: Uint8Array, i: number, order: number): number {
  switch (order) {
    case 0:
      return (b[i >> 3]! >> (i & 7)) & 1;
    case 1:
      return (b[i >> 2]! >> (2 * (i & 3))) & 3;
    case 2:
      return (b[i >> 1]! >> (4 * (i & 1))) & 15;
    case 3:
      return b[i]!;
    case 4:
      return (b[2 * i]! << 8) | b[2 * i + 1]!;
    case 5:
      return new DataView(b.buffer, b.byteOffset).getUint32(4 * i, false);
    default:
      return Number(new DataView(b.buffer, b.byteOffset).getBigUint64(8 * i, false));
  }
}

/** Sets entry `i`; returns the [byte offset, length] that changed. */
export function writeEntry(b: Uint8Array, i: number, order: number, v: number): [number, number] {
  switch (order) {
    case 0:
    case 1:
    case 2: {
      const per = 8 >> order;
      const bits = 1 << order;
      const at = Math.floor(i / per);
      const shift = (i % per) * bits;
      const mask = ((1 << bits) - 1) << shift;
      b[at] = (b[at]! & ~mask) | ((v << shift) & mask);
      return [at, 1];
    }
    case 3:
      b[i] = v;
      return [i, 1];
    case 4:
      b[2 * i] = v >> 8;
      b[2 * i + 1] = v & 0xff;
      return [2 * i, 2];
    case 5:
      new DataView(b.buffer, b.byteOffset).setUint32(4 * i, v, false);
      return [4 * i, 4];
    default:
      new DataView(b.buffer, b.byteOffset).setBigUint64(8 * i, BigInt(v), false);
      return [8 * i, 8];
  }
}
