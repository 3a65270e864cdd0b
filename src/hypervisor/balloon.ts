/**
 * Ballooning, the VMM's side (issue 12 scope 1; KVM + QEMU's virtio-balloon, VMware's vmmemctl):
 * the backend of a VM's virtio-balloon device (devices/virtio-balloon.ts).
 *
 * Granularity: the frame pool hands out 2 MiB chunks (memory.ts) and the G-stage maps each with
 * one level-1 leaf, so memory goes back to the pool a chunk at a time. A chunk is discarded —
 * its G-stage leaf invalidated, the VM's translations fenced, its frame returned to the pool —
 * when every one of its 512 pages is in the balloon (inflated), or inflated or inside a free
 * range the guest is reporting right now (free page reporting reports 2 MiB blocks, Linux's
 * pageblock order, while they are isolated from its allocator: they are free at that moment, and
 * the guest's next use of them faults).
 *
 * A discarded chunk is a hole. A guest access to a hole (a guest-page fault on a RAM address, or
 * a VMM access: virtio DMA) gets a fresh zeroed chunk from the pool, mapped before the access is
 * retried: never a crash while the pool has frames (without them the VM crashes with one line, or,
 * under host overcommit, is paused for memory until a frame is free). Deflated pages need nothing: they are
 * backed, or fault in when touched.
 *
 * Host resident bytes of a VM = the frames backing its guest RAM (the pool's view; wasm memory
 * never shrinks, so this is not the process RSS; the G-stage table chunk is not counted).
 */
import type { Core } from '../core.js';
import { RAM_BASE } from '../core.js';
import * as L from '../generated/layout.js';
import { BALLOON_PAGE, VirtioBalloon, type BalloonBackend } from '../../devices/virtio-balloon.js';
import { CHUNK, DEDUP_ZERO, GUEST_RAM_BASE, HOLE, type FramePool, type VmMemory } from './memory.js';

const PAGES_PER_CHUNK = CHUNK / BALLOON_PAGE;

/** The VMM side of a balloon in a snapshot (snapshot.ts META `balloon`). */
export interface VmBalloonState {
  /** Inflated guest pages (from the start of RAM, 4 KiB) as [first, count] runs, ascending. */
  inflated: Array<[number, number]>;
  discards: number;
  refills: number;
}

export class VmBalloon implements BalloonBackend {
  readonly device: VirtioBalloon;
  /** 1 per guest page in the balloon. */
  private readonly inflated: Uint8Array;
  /** Chunks returned to the pool / faulted back in so far. */
  discards = 0;
  refills = 0;

  constructor(
    private readonly core: Core,
    private readonly pool: FramePool,
    private readonly mem: VmMemory,
    private readonly vmid: number,
    private readonly onNoFrames: (message: string) => void,
  ) {
    this.device = new VirtioBalloon(this);
    this.inflated = new Uint8Array(mem.bytes / BALLOON_PAGE);
  }

  /** Ask the guest to leave it `bytes` of memory (the balloon takes the rest). */
  setMemory(bytes: number): void {
    const pages = Math.max(0, Math.floor((this.mem.bytes - bytes) / BALLOON_PAGE));
    this.device.setTarget(pages);
  }

  /** Balloon size the guest reports, bytes. */
  get actualBytes(): number {
    return this.device.actual * BALLOON_PAGE;
  }

  get residentBytes(): number {
    return this.mem.framesHeld * CHUNK;
  }

  private page(pfn: number): number {
    const p = pfn - GUEST_RAM_BASE / BALLOON_PAGE;
    return p >= 0 && p < this.inflated.length ? p : -1;
  }

  inflate(pfns: number[]): void {
    const touched = new Set<number>();
    for (const f of pfns) {
      const p = this.page(f);
      if (p < 0) continue;
      this.inflated[p] = 1;
      touched.add(Math.floor(p / PAGES_PER_CHUNK));
    }
    for (const c of touched) if (this.allIn(c, null)) this.discard(c);
  }

  deflate(pfns: number[]): void {
    for (const f of pfns) {
      const p = this.page(f);
      if (p >= 0) this.inflated[p] = 0;
    }
  }

  report(ranges: Array<[number, number]>): void {
    const free = new Uint8Array(this.inflated.length);
    const touched = new Set<number>();
    for (const [addr, len] of ranges) {
      for (let a = addr; a < addr + len; a += BALLOON_PAGE) {
        const p = this.page(Math.floor(a / BALLOON_PAGE));
        if (p < 0) continue;
        free[p] = 1;
        touched.add(Math.floor(p / PAGES_PER_CHUNK));
      }
    }
    for (const c of touched) if (this.allIn(c, free)) this.discard(c);
  }

  /** Every page of chunk c is inflated (or in `free`). */
  private allIn(c: number, free: Uint8Array | null): boolean {
    for (let p = c * PAGES_PER_CHUNK; p < (c + 1) * PAGES_PER_CHUNK; p++) if (!this.inflated[p] && !(free && free[p])) return false;
    return true;
  }

  private l1(c: number): number {
    return L.RAM_OFFSET + this.mem.l1Entry(c) - RAM_BASE;
  }

  private discard(c: number): void {
    const hpa = this.mem.chunks[c]!;
    // Also while dirty logging (migration): the chunk's level-1 entry (a megapage leaf or the
    // pointer to its 4 KiB leaves) goes; the log skips holes and the target gets the hole map.
    if (hpa === HOLE) return;
    if (hpa === DEDUP_ZERO) {
      // Dedup gave its frame back already (every page was zero): it only becomes a hole.
      this.mem.dedup!.forgetChunk(c);
      this.core.hfenceGvma(this.vmid);
      this.discards++;
      return;
    }
    this.mem.dedup?.unshareRange(GUEST_RAM_BASE + c * CHUNK, CHUNK); // merged pages: off the frame first
    this.core.set64(this.l1(c), 0n);
    this.core.hfenceGvma(this.vmid);
    this.mem.chunks[c] = HOLE;
    this.pool.release([hpa]);
    this.discards++;
  }

  /**
   * The VMM side's state for a snapshot (the device's own — target, actual, counts — is in its
   * virtio slot's state): the inflated pages as [first page, count] runs, and the counters.
   */
  getState(): VmBalloonState {
    const inflated: Array<[number, number]> = [];
    for (let p = 0; p < this.inflated.length; p++) {
      if (!this.inflated[p]) continue;
      let q = p;
      while (q + 1 < this.inflated.length && this.inflated[q + 1]) q++;
      inflated.push([p, q - p + 1]);
      p = q;
    }
    return { inflated, discards: this.discards, refills: this.refills };
  }

  /** Why `s` is not a balloon state of this VM's size, or null (checked before anything changes). */
  checkState(s: unknown): string | null {
    const st = s as VmBalloonState | null;
    if (!st || !Array.isArray(st.inflated) || !Number.isInteger(st.discards) || !Number.isInteger(st.refills)) return 'the balloon state is malformed';
    for (const r of st.inflated) {
      if (!Array.isArray(r) || !Number.isInteger(r[0]) || !Number.isInteger(r[1]) || r[0] < 0 || r[1] < 1 || r[0] + r[1] > this.inflated.length) return 'the balloon state names pages outside the VM';
    }
    return null;
  }

  setState(s: VmBalloonState): void {
    this.inflated.fill(0);
    for (const [p, n] of s.inflated) this.inflated.fill(1, p, p + n);
    this.discards = s.discards;
    this.refills = s.refills;
  }

  /** Back hole `c` with a zeroed chunk from the pool (a guest or VMM access to it). */
  refill(c: number): boolean {
    if (this.mem.chunks[c] !== HOLE) return true;
    if (!this.mem.backHole(c)) {
      this.onNoFrames(`the host has no free frame for guest memory at 0x${(GUEST_RAM_BASE + c * CHUNK).toString(16)} (a ballooned chunk touched again)`);
      return false;
    }
    this.refills++;
    return true;
  }
}
