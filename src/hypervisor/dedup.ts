/**
 * Page deduplication (issue 12 scope 2; Linux KSM, VMware ESX transparent page sharing): a scanner
 * in host time — run by the host between rounds, when no vCPU is loaded, so it costs the guests
 * nothing — walks the VMs' RAM a few pages per scan interval (`dedup_pages_per_scan` pages every
 * `dedup_scan_interval` host cycles), hashes each 4 KiB page, and merges pages of equal content:
 *
 *   1. write-protect the candidate's 4 KiB G-stage leaf (the chunk's 2 MiB leaf is split into a
 *      level-0 table first, dirty-log.ts's splitChunk) and flush every host hart's guest host-TLB
 *      entries (core.hfenceHart on each hart: no writable translation of the page survives);
 *   2. THEN compare it byte for byte with the shared frame (a hash match is only a candidate);
 *   3. THEN map the shared frame read-only in the candidate's leaf (and flush again).
 *
 * The shared frame is the page of the first sharer (its "owner", KSM's stable page) — or, for a page
 * of zeros, the host's zero frame (KSM's use_zero_pages: counted apart, as ksm_zero_pages).
 * The first write to a merged page is a store guest-page fault (the leaf has no W) that the VMM
 * resolves before the guest sees anything: `breakOnFault` gives the writer its private page back,
 * writable, and the VM's run loop takes the exit's cycles back, so the guest's clock, counters and
 * results are those of a run without dedup (fast mode: the host TLB refill costs no modeled cycle).
 *
 * Where the private copy lives: the pool hands out 2 MiB chunks, so the 4 KiB frame a merged page
 * no longer uses cannot go back to it (only a whole free chunk could); it stays reserved to its page,
 * untouched (no guest mapping reaches it, and every VMM write to guest RAM unshares the range first:
 * VmMemory.dedup). Its content is therefore still the shared content, and breaking sharing is a
 * remap to it (the copy KSM makes on a COW fault is already in place). When the owner itself is
 * written, the group moves to another sharer's frame first (same content, by the same argument).
 * So the savings are accounted in pages, as KSM's stats (pages_sharing = pages saved). Frames return
 * to the pool only under host overcommit (`DedupOptions.pool`) and only for a chunk whose 512 pages
 * all map the zero frame (DEDUP_ZERO): the copy a COW break needs is then a zeroed chunk from the
 * pool. A chunk with other shared content keeps its frame (its pages' private copies live there).
 *
 * Not deduplicated: VMs with shadow paging (config.ts refuses it: no G-stage), VMs of more than
 * 1012 MiB (no room for the level-0 tables, as dirty logging), and a VM while it is dirty-logged
 * (migration: DirtyLog.start unshares it; it is scanned again after).
 */
import type { Core } from '../core.js';
import { RAM_BASE } from '../core.js';
import * as L from '../generated/layout.js';
import { CHUNK, DEDUP_ZERO, GUEST_RAM_BASE, HOLE, PAGES_PER_CHUNK, LEAF as LEAF_RW, PAGE, PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X, type FramePool, type VmMemory } from './memory.js';
import { finePagingFits, l0Table, splitChunk } from './dirty-log.js';

const LEAF_RO = PTE_V | PTE_R | PTE_X | PTE_U | PTE_A | PTE_D;

export const DEFAULT_PAGES_PER_SCAN = 1024;
export const DEFAULT_SCAN_INTERVAL = 1_000_000;

export interface DedupOptions {
  /** Pages the scanner visits per scan interval (KSM's pages_to_scan). */
  pagesPerScan?: number;
  /** Host cycles between scans (KSM's sleep_millisecs, in the host's clock). */
  scanInterval?: number;
  /** Pages of zeros map to the host's zero frame, counted apart (KSM's use_zero_pages); default true. */
  zeroPages?: boolean;
  /** Host harts whose host TLBs are flushed. */
  harts: number;
  /** A 4 KiB host frame no VM owns (the host's reserve): the zero frame. */
  zeroFrame: number;
  /**
   * The host's frame pool, under host overcommit: a chunk whose 512 pages all map the zero frame
   * goes back to it (DEDUP_ZERO), and takes a zeroed frame again when one of its pages is written.
   * Absent (no overcommit): savings are accounted in pages only — a frame given back could be
   * taken by a VM started later, and a write to the chunk would then have no frame and nowhere to
   * wait (a VM pauses for memory only under overcommit).
   */
  pool?: FramePool;
}

/** Host totals, in KSM's names (/sys/kernel/mm/ksm/). */
export interface DedupStats {
  pages_shared: number;
  pages_sharing: number;
  pages_unshared: number;
  full_scans: number;
  ksm_zero_pages: number;
  /** Pages the scanner visited, merges that failed the byte compare, sharing broken by writes. */
  pages_scanned: number;
  compare_failed: number;
  cow_breaks: number;
  /** The scanner's modeled host work: one cycle per 32-bit word hashed or compared. */
  scan_cycles: number;
  /** Chunks (2 MiB) of zero pages whose frames are in the pool now (DEDUP_ZERO; overcommit only). */
  frames_released: number;
  /** Such chunks given a frame again (a write to one of their pages, a VMM access), so far. */
  frames_reclaimed: number;
}

/** A page: VM index in `mems` and page number from the start of its RAM. */
type Key = number;
const KEY_PAGES = 1 << 20; // 4 GiB of 4 KiB pages per VM: more than MAX_VM_RAM
const KEY_CHUNKS = KEY_PAGES / PAGES_PER_CHUNK;

interface Group {
  /** The page whose own frame is shared (null: the zero frame). */
  owner: Key | null;
  frame: number;
  /** Pages mapped to `frame` besides the owner, in merge order. */
  sharers: Key[];
  hash: number;
}

export class Dedup {
  private readonly mems: VmMemory[] = [];
  private readonly pagesPerScan: number;
  private readonly interval: number;
  private readonly zeroPages: boolean;
  /** Group of every merged page (owner and sharers). */
  private readonly groupOf = new Map<Key, Group>();
  /** Groups by content hash (KSM's stable tree). */
  private readonly stable = new Map<number, Group[]>();
  /** This pass's unmerged pages by hash (KSM's unstable tree; emptied at each full scan). */
  private unstable = new Map<number, Key>();
  private zeroGroup: Group;
  private cursorVm = 0;
  private cursorPage = 0;
  private nextScanAt = 0;
  private unsharedThisPass = 0;
  readonly stats: DedupStats = {
    pages_shared: 0, pages_sharing: 0, pages_unshared: 0, full_scans: 0, ksm_zero_pages: 0,
    pages_scanned: 0, compare_failed: 0, cow_breaks: 0, scan_cycles: 0, frames_released: 0, frames_reclaimed: 0,
  };
  /** Per VM chunk (vi * KEY_CHUNKS + chunk): its pages in the zero group (512: its frame can go). */
  private readonly zeroInChunk = new Map<number, number>();

  constructor(private readonly core: Core, private readonly opts: DedupOptions) {
    this.pagesPerScan = opts.pagesPerScan ?? DEFAULT_PAGES_PER_SCAN;
    this.interval = opts.scanInterval ?? DEFAULT_SCAN_INTERVAL;
    this.zeroPages = opts.zeroPages ?? true;
    core.zeroPhys(opts.zeroFrame, PAGE);
    this.zeroGroup = { owner: null, frame: opts.zeroFrame, sharers: [], hash: 0 };
  }

  /** Take part: VM RAM mapped by the G-stage, small enough for level-0 tables. */
  add(mem: VmMemory): void {
    if (!finePagingFits(mem)) return;
    const vi = this.mems.length;
    this.mems.push(mem);
    mem.dedup = {
      unshareRange: (gpa, len) => this.unshareRange(vi, gpa, len),
      unshareAll: () => this.unshareRange(vi, GUEST_RAM_BASE, mem.bytes),
      forgetChunk: (c) => this.forgetChunk(vi, c),
      reclaim: (c) => this.reclaim(vi, c),
    };
  }

  private u32(): Uint32Array {
    const u8 = this.core.u8view();
    return new Uint32Array(u8.buffer, u8.byteOffset, u8.byteLength >>> 2);
  }
  private word(hpa: number): number {
    return (L.RAM_OFFSET + hpa - RAM_BASE) >>> 2;
  }
  private live(vi: number): VmMemory | null {
    const m = this.mems[vi]!;
    return m.chunks.length > 0 && !m.finePaging ? m : null;
  }
  /** The page's own frame (null: a hole). */
  private ownFrame(k: Key): number | null {
    const m = this.mems[Math.floor(k / KEY_PAGES)]!;
    const p = k % KEY_PAGES;
    const c = m.chunks[Math.floor(p / PAGES_PER_CHUNK)];
    return c === undefined || c < 0 ? null : c + (p % PAGES_PER_CHUNK) * PAGE;
  }
  /** Point page k's 4 KiB leaf at `frame` with `leaf` permissions (splitting its chunk first). */
  private setLeaf(k: Key, frame: number, leaf: bigint): void {
    const m = this.mems[Math.floor(k / KEY_PAGES)]!;
    const p = k % KEY_PAGES;
    const c = Math.floor(p / PAGES_PER_CHUNK);
    const l1 = this.core.get64(L.RAM_OFFSET + m.l1Entry(c) - RAM_BASE);
    if ((l1 & (PTE_R | PTE_W | PTE_X)) !== 0n) splitChunk(this.core, m, c, LEAF_RW);
    const at = L.RAM_OFFSET + l0Table(m, c) + (p % PAGES_PER_CHUNK) * 8 - RAM_BASE;
    const from = Number((this.core.get64(at) >> 10n) << 12n);
    this.core.set64(at, (BigInt(frame >>> 12) << 10n) | leaf);
    // An LR/SC reservation is a host address: it follows the page (an SC right after the write
    // fault that broke sharing must succeed, as it would without dedup).
    if (from !== frame) m.onFrameMoved?.(from, frame);
  }
  /** Every host hart's guest host-TLB entries go (not the timing model's: a cost model, the guest's). */
  private flush(): void {
    for (let h = 0; h < this.opts.harts; h++) this.core.hfenceHart(h);
  }

  private hashPage(frame: number): { hash: number; zero: boolean } {
    const u = this.u32();
    const w = this.word(frame);
    let h = 0x811c9dc5 | 0;
    let or = 0;
    for (let i = 0; i < PAGE / 4; i++) {
      const x = u[w + i]!;
      or |= x;
      h = Math.imul(h ^ x, 0x01000193);
    }
    this.stats.scan_cycles += PAGE / 4;
    return { hash: h >>> 0, zero: or === 0 };
  }
  private same(a: number, b: number): boolean {
    const u = this.u32();
    const wa = this.word(a), wb = this.word(b);
    this.stats.scan_cycles += PAGE / 4;
    for (let i = 0; i < PAGE / 4; i++) if (u[wa + i] !== u[wb + i]) return false;
    return true;
  }

  /** Between rounds: run the scans due at host time `now` (the host's clock, deterministic). */
  tick(now: number): void {
    while (now >= this.nextScanAt) {
      this.scan(this.pagesPerScan);
      this.nextScanAt += this.interval;
    }
  }

  /** Visit `n` pages from the cursor (a full scan = every page of every VM once). */
  scan(n: number): void {
    if (this.mems.length === 0) return;
    for (let i = 0; i < n; i++) {
      const m = this.mems[this.cursorVm]!;
      if (this.cursorPage >= m.bytes / PAGE) {
        this.cursorPage = 0;
        if (++this.cursorVm >= this.mems.length) {
          this.cursorVm = 0;
          this.stats.full_scans++;
          this.stats.pages_unshared = this.unsharedThisPass;
          this.unsharedThisPass = 0;
          this.unstable = new Map();
        }
        continue;
      }
      const k = this.cursorVm * KEY_PAGES + this.cursorPage++;
      if (this.live(this.cursorVm)) this.visit(k);
    }
  }

  private visit(k: Key): void {
    if (this.groupOf.has(k)) return;
    const own = this.ownFrame(k);
    if (own === null) return;
    this.stats.pages_scanned++;
    const { hash, zero } = this.hashPage(own);
    if (zero && this.zeroPages) {
      if (this.merge(k, this.zeroGroup)) return;
    }
    for (const g of this.stable.get(hash) ?? []) if (this.merge(k, g)) return;
    const other = this.unstable.get(hash);
    // (`other` may belong to a VM that is dirty-logged or gone since it was hashed: left alone.)
    if (other !== undefined && other !== k && !this.groupOf.has(other) && this.live(Math.floor(other / KEY_PAGES)) && this.ownFrame(other) !== null) {
      // Two unmerged pages: `other` becomes the owner (write-protected first, as the candidate).
      const frame = this.ownFrame(other)!;
      const g: Group = { owner: other, frame, sharers: [], hash };
      this.setLeaf(other, frame, LEAF_RO);
      if (this.merge(k, g)) {
        this.groupOf.set(other, g);
        const list = this.stable.get(hash) ?? [];
        list.push(g);
        this.stable.set(hash, list);
        this.unstable.delete(hash);
        this.unsharedThisPass = Math.max(0, this.unsharedThisPass - 1);
        return;
      }
      this.setLeaf(other, frame, LEAF_RW);
    }
    this.unstable.set(hash, k);
    this.unsharedThisPass++;
  }

  /** The safe order: write-protect + flush, compare, map the shared frame read-only + flush. */
  private merge(k: Key, g: Group): boolean {
    const own = this.ownFrame(k)!;
    this.setLeaf(k, own, LEAF_RO);
    this.flush();
    if (!this.same(own, g.frame)) {
      this.setLeaf(k, own, LEAF_RW);
      this.stats.compare_failed++;
      return false;
    }
    this.setLeaf(k, g.frame, LEAF_RO);
    this.flush();
    g.sharers.push(k);
    this.groupOf.set(k, g);
    if (g === this.zeroGroup) {
      this.stats.ksm_zero_pages++;
      this.countZero(k, 1);
    } else {
      if (g.sharers.length === 1) this.stats.pages_shared++;
      this.stats.pages_sharing++;
    }
    return true;
  }

  /**
   * Page k leaves its group: mapped to its own frame, writable (its content is the group's). false:
   * its chunk's frame is in the pool (DEDUP_ZERO) and the pool has none to give back.
   */
  private unshare(k: Key): boolean {
    const g = this.groupOf.get(k);
    if (!g) return true;
    const vi = Math.floor(k / KEY_PAGES);
    const c = Math.floor((k % KEY_PAGES) / PAGES_PER_CHUNK);
    if (this.mems[vi]!.chunks[c] === DEDUP_ZERO && !this.reclaim(vi, c)) return false;
    this.groupOf.delete(k);
    const own = this.ownFrame(k)!;
    if (g.owner === k) {
      // The owner's frame is the shared one: the group moves to its first sharer's frame.
      const next = g.sharers.shift()!;
      g.owner = next;
      g.frame = this.ownFrame(next)!;
      for (const s of [next, ...g.sharers]) this.setLeaf(s, g.frame, LEAF_RO);
    } else {
      g.sharers.splice(g.sharers.indexOf(k), 1);
    }
    this.setLeaf(k, own, LEAF_RW);
    if (g === this.zeroGroup) {
      this.stats.ksm_zero_pages--;
      this.countZero(k, -1);
    } else {
      this.stats.pages_sharing--;
      if (g.sharers.length === 0) {
        // Nobody shares the owner's page any more: it is an ordinary page again.
        this.stats.pages_shared--;
        this.groupOf.delete(g.owner!);
        this.setLeaf(g.owner!, g.frame, LEAF_RW);
        const list = this.stable.get(g.hash)!;
        list.splice(list.indexOf(g), 1);
        if (list.length === 0) this.stable.delete(g.hash);
      }
    }
    return true;
  }

  /** Page k joined (+1) or left (-1) the zero group: a chunk of only zero pages gives its frame back. */
  private countZero(k: Key, d: 1 | -1): void {
    const vi = Math.floor(k / KEY_PAGES);
    const c = Math.floor((k % KEY_PAGES) / PAGES_PER_CHUNK);
    const key = vi * KEY_CHUNKS + c;
    const n = (this.zeroInChunk.get(key) ?? 0) + d;
    if (n === 0) this.zeroInChunk.delete(key);
    else this.zeroInChunk.set(key, n);
    if (n === PAGES_PER_CHUNK && this.opts.pool) this.releaseChunk(vi, c);
  }

  /**
   * Every page of chunk c maps the zero frame (and each holds zeros in its own frame, untouched
   * since: no mapping reaches it): the chunk's frame goes back to the pool. No leaf, TLB entry or
   * reservation refers to it any more (the merges moved them all to the zero frame).
   */
  private releaseChunk(vi: number, c: number): void {
    const m = this.mems[vi]!;
    const hpa = m.chunks[c]!;
    if (hpa < 0) return;
    m.chunks[c] = DEDUP_ZERO;
    this.opts.pool!.release([hpa]);
    this.stats.frames_released++;
  }

  /** A zeroed frame from the pool for DEDUP_ZERO chunk c again (its pages stay merged). false: none free. */
  private reclaim(vi: number, c: number): boolean {
    const m = this.mems[vi]!;
    if (m.chunks[c] !== DEDUP_ZERO) return true;
    const got = this.opts.pool!.alloc(1);
    if (!got) return false;
    this.core.zeroPhys(got[0]!, CHUNK);
    m.chunks[c] = got[0]!;
    this.stats.frames_released--;
    this.stats.frames_reclaimed++;
    return true;
  }

  /**
   * DEDUP_ZERO chunk c leaves dedup (a VM going away, a balloon discard, a snapshot restore): its
   * pages leave the zero group, its level-1 entry is cleared (the caller fences): a HOLE, whose
   * content — zeros — is what it had.
   */
  private forgetChunk(vi: number, c: number): void {
    const m = this.mems[vi]!;
    if (m.chunks[c] !== DEDUP_ZERO) return;
    const first = vi * KEY_PAGES + c * PAGES_PER_CHUNK;
    const gone = new Set<Key>();
    for (let k = first; k < first + PAGES_PER_CHUNK; k++) if (this.groupOf.get(k) === this.zeroGroup) {
      this.groupOf.delete(k);
      gone.add(k);
    }
    this.zeroGroup.sharers = this.zeroGroup.sharers.filter((k) => !gone.has(k));
    this.stats.ksm_zero_pages -= gone.size;
    this.zeroInChunk.delete(vi * KEY_CHUNKS + c);
    this.core.set64(L.RAM_OFFSET + m.l1Entry(c) - RAM_BASE, 0n);
    m.chunks[c] = HOLE;
    this.stats.frames_released--;
  }

  private unshareRange(vi: number, gpa: number, len: number): void {
    if (this.groupOf.size === 0 || len <= 0) return;
    const first = Math.floor((gpa - GUEST_RAM_BASE) / PAGE);
    const last = Math.floor((gpa + len - 1 - GUEST_RAM_BASE) / PAGE);
    let any = false;
    for (let p = first; p <= last; p++) {
      const k = vi * KEY_PAGES + p;
      if (this.groupOf.has(k)) {
        if (!this.unshare(k)) {
          if (any) this.flush();
          throw new Error(`guest-physical 0x${(GUEST_RAM_BASE + p * PAGE).toString(16)}: no host frame for it (its chunk of zero pages went back to the pool; none free)`);
        }
        any = true;
      }
    }
    if (any) this.flush();
  }

  /** Is guest-physical `gpa` of VM `mem` a merged page? */
  isMerged(mem: VmMemory, gpa: number): boolean {
    const vi = this.mems.indexOf(mem);
    return vi >= 0 && gpa >= GUEST_RAM_BASE && gpa < GUEST_RAM_BASE + mem.bytes && this.groupOf.has(vi * KEY_PAGES + Math.floor((gpa - GUEST_RAM_BASE) / PAGE));
  }

  /**
   * A guest-page fault of VM `mem` at `gpa` (a store to a merged page, or a walk's A/D write to
   * one): sharing broken, the access is to be retried. false: not a merged page, or its chunk's
   * frame is in the pool and the pool has none free (the VM pauses for memory: vm.ts).
   */
  breakOnFault(mem: VmMemory, gpa: number): boolean {
    const vi = this.mems.indexOf(mem);
    if (vi < 0 || !(gpa >= GUEST_RAM_BASE && gpa < GUEST_RAM_BASE + mem.bytes)) return false;
    const k = vi * KEY_PAGES + Math.floor((gpa - GUEST_RAM_BASE) / PAGE);
    if (!this.groupOf.has(k)) return false;
    if (!this.unshare(k)) return false;
    this.flush();
    this.stats.cow_breaks++;
    return true;
  }

  /** Would breaking sharing at `gpa` of VM `mem` need a frame the pool does not have (a DEDUP_ZERO chunk)? */
  noFrameFor(mem: VmMemory, gpa: number): boolean {
    const c = mem.chunks[Math.floor((gpa - GUEST_RAM_BASE) / CHUNK)];
    return c === DEDUP_ZERO && (this.opts.pool?.freeChunks ?? 0) === 0;
  }

  /** Pages of VM `mem` mapped to another frame than their own (its share of the savings). */
  savedPages(mem: VmMemory): number {
    const vi = this.mems.indexOf(mem);
    let n = 0;
    for (const [k, g] of this.groupOf) if (Math.floor(k / KEY_PAGES) === vi && g.owner !== k) n++;
    return n;
  }
}
