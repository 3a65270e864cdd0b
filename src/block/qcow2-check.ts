/**
 * `img check` for qcow2: QEMU's qcow2_check_refcounts (block/qcow2-refcount.c) without repair.
 * Every structure that uses a host cluster is counted (header, L1 tables, L2 tables, data and
 * compressed clusters, the refcount table and blocks, the snapshot table and each snapshot's
 * tables); the counts are compared with the stored refcounts:
 *   stored < references  → "ERROR cluster N refcount=R reference=C"  (corruption: data at risk)
 *   stored > references  → "Leaked cluster N refcount=R reference=C" (leak: wasted space only)
 * plus the COPIED flag of every active L1/L2 entry (set exactly when the refcount is 1), alignment,
 * and references past the end of the file. Not counted: persistent dirty bitmaps (their clusters
 * show up as leaks).
 */
import type { ImageFile } from './image-file.js';
import { OFFSET_MASK, type Qcow2Header } from './qcow2-header.js';
import { Qcow2Refcounts } from './qcow2-refcounts.js';

export interface CheckResult {
  corruptions: number;
  leaks: number;
  checkErrors: number;
  /** One line each, as qemu-img prints them on stderr. */
  messages: string[];
  totalClusters: number;
  allocatedClusters: number;
  fragmentedClusters: number;
  compressedClusters: number;
  imageEndOffset: number;
  /** Leaked clusters as [cluster index, stored refcount, references] (what `-r leaks` fixes). */
  leaked: Array<[number, number, number]>;
}

export function checkQcow2(file: ImageFile, h: Qcow2Header): CheckResult {
  const cs = 2 ** h.clusterBits;
  const fileLen = file.length();
  const nb = Math.ceil(fileLen / cs);
  const refs = new Map<number, number>();
  const r: CheckResult = {
    corruptions: 0,
    leaks: 0,
    checkErrors: 0,
    messages: [],
    totalClusters: Math.ceil(h.size / cs),
    allocatedClusters: 0,
    fragmentedClusters: 0,
    compressedClusters: 0,
    imageEndOffset: 0,
    leaked: [],
  };
  const inc = (offset: number, bytes: number) => {
    if (bytes <= 0) return;
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + bytes - 1) / cs);
    for (let c = first; c <= last; c++) {
      if (c >= nb) {
        r.messages.push(`ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x${(c * cs).toString(16)} size 0x${cs.toString(16)}`);
        r.corruptions++;
        continue;
      }
      refs.set(c, (refs.get(c) ?? 0) + 1);
    }
  };
  let stored: Qcow2Refcounts;
  try {
    stored = new Qcow2Refcounts(file, h.clusterBits, h.refcountOrder, h.refcountTableOffset, h.refcountTableClusters, (m) => {
      throw new Error(m);
    });
  } catch (e) {
    r.messages.push(`ERROR ${(e as Error).message}`);
    r.checkErrors++;
    return r;
  }
  const be64 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getBigUint64(at, false);
  const copiedChecks: Array<{ host: number; copied: boolean; what: string }> = [];

  /** Counts an L1 table and everything under it; `active` also checks COPIED flags and stats. */
  const walkL1 = (l1Offset: number, l1Size: number, active: boolean) => {
    inc(l1Offset, l1Size * 8);
    const l1 = new Uint8Array(l1Size * 8);
    file.pread(l1Offset, l1);
    let nextContiguous = 0;
    for (let i = 0; i < l1Size; i++) {
      const e = be64(l1, i * 8);
      const l2Off = Number(e & OFFSET_MASK);
      if (l2Off === 0) continue;
      if (l2Off % cs !== 0) {
        r.messages.push(`ERROR l2_offset=${l2Off.toString(16)}: Table is not cluster aligned; L1 entry corrupted`);
        r.corruptions++;
        continue;
      }
      inc(l2Off, cs);
      if (active) copiedChecks.push({ host: l2Off, copied: (e >> 63n) === 1n, what: `L2 cluster: l1_index=${i} l1_entry=${e.toString(16)}` });
      if (l2Off >= fileLen) continue;
      const l2 = new Uint8Array(cs);
      file.pread(l2Off, l2);
      for (let j = 0; j < cs / 8; j++) {
        const le = be64(l2, j * 8);
        if (le === 0n) continue;
        if ((le >> 62n) & 1n) {
          const x = BigInt(62 - (h.clusterBits - 8));
          const host = Number(le & ((1n << x) - 1n));
          const sectors = Number((le >> x) & ((1n << (62n - x)) - 1n)) + 1;
          inc(host, sectors * 512 - (host % 512));
          if (active) {
            r.allocatedClusters++;
            r.compressedClusters++;
            if (le >> 63n) {
              r.messages.push(`ERROR: compressed cluster ${i * (cs / 8) + j} has the COPIED flag`);
              r.corruptions++;
            }
          }
          continue;
        }
        const host = Number(le & OFFSET_MASK);
        if (host === 0) continue; // unallocated or a zero cluster without a host cluster
        if (host % cs !== 0) {
          r.messages.push(`ERROR offset=${host.toString(16)}: Cluster is not properly aligned; L2 entry corrupted.`);
          r.corruptions++;
          continue;
        }
        inc(host, cs);
        if (active) {
          r.allocatedClusters++;
          if (nextContiguous !== 0 && host !== nextContiguous) r.fragmentedClusters++;
          nextContiguous = host + cs;
          copiedChecks.push({ host, copied: (le >> 63n) === 1n, what: `data cluster: l2_entry=${le.toString(16)} refcount=` });
        }
      }
    }
  };

  inc(0, cs); // header
  walkL1(h.l1TableOffset, h.l1Size, true);
  if (h.nbSnapshots > 0) {
    // Snapshot table (spec "Snapshots"): entries of 40 fixed bytes + extra data + id + name, 8-aligned.
    let at = h.snapshotsOffset;
    const start = at;
    for (let s = 0; s < h.nbSnapshots; s++) {
      const fixed = new Uint8Array(40);
      file.pread(at, fixed);
      const dv = new DataView(fixed.buffer);
      const l1Off = Number(dv.getBigUint64(0, false));
      const l1Size = dv.getUint32(8, false);
      const idLen = dv.getUint16(12, false);
      const nameLen = dv.getUint16(14, false);
      const extra = dv.getUint32(36, false);
      walkL1(l1Off, l1Size, false);
      at += 40 + extra + idLen + nameLen;
      at = Math.ceil(at / 8) * 8;
    }
    inc(start, at - start);
  }
  inc(h.refcountTableOffset, h.refcountTableClusters * cs);
  for (const [i, off] of stored.table.entries()) {
    if (off === 0) continue;
    if (off >= fileLen) {
      r.messages.push(`ERROR refcount block ${i} is outside image`);
      r.corruptions++;
      continue;
    }
    inc(off, cs);
  }

  for (const c of copiedChecks) {
    const rc = stored.get(Math.floor(c.host / cs));
    if ((rc === 1) !== c.copied) {
      r.messages.push(`ERROR OFLAG_COPIED ${c.what.endsWith('=') ? `${c.what}${rc}` : `${c.what} refcount=${rc}`}`);
      r.corruptions++;
    }
  }

  const limit = Math.max(nb, stored.table.length * stored.perBlock > nb ? nb : 0);
  let highest = -1;
  for (let c = 0; c < limit; c++) {
    const want = refs.get(c) ?? 0;
    const have = stored.get(c);
    if (want > 0 || have > 0) highest = c;
    if (have === want) continue;
    if (have < want) {
      r.messages.push(`ERROR cluster ${c} refcount=${have} reference=${want}`);
      r.corruptions++;
    } else {
      r.messages.push(`Leaked cluster ${c} refcount=${have} reference=${want}`);
      r.leaks++;
      r.leaked.push([c, have, want]);
    }
  }
  r.imageEndOffset = (highest + 1) * cs;
  return r;
}

/**
 * `img check -r leaks`: lowers each leaked cluster's refcount to its reference count (what a
 * process killed mid-allocation leaves). Returns the "Repairing ..." lines qemu-img prints.
 */
export function repairLeaks(file: ImageFile, h: Qcow2Header, leaked: ReadonlyArray<[number, number, number]>): string[] {
  const rc = new Qcow2Refcounts(file, h.clusterBits, h.refcountOrder, h.refcountTableOffset, h.refcountTableClusters, (m) => {
    throw new Error(m);
  });
  const lines: string[] = [];
  for (const [c, have, want] of leaked) {
    lines.push(`Repairing cluster ${c} refcount=${have} reference=${want}`);
    rc.set(c, want);
  }
  file.sync();
  return lines;
}
