/**
 * Memory (issue 10 scope 2; KVM's kvm_memory_slot + the stage-2 MMU): host RAM is a pool of
 * host-physical frames; each VM's guest-physical RAM (QEMU virt map: at 0x8000_0000) is allocated
 * from it in 2 MiB chunks and mapped by G-stage tables (Sv39x4, Priv 1.12 §8.5) that the VMM builds
 * in host memory, from frames of the same pool. A VM reaches only its own frames: the G-stage maps
 * exactly its chunks, every other GPA is a guest-page fault the VMM handles as MMIO (or a miss).
 *
 * The pool is deterministic (lowest free chunk first) and all-or-nothing: a VM that does not fit is
 * refused before anything is taken.
 */
import type { Core } from '../core.js';
import { RAM_BASE } from '../core.js';
import * as L from '../generated/layout.js';
import type { GuestMemory } from '../bus/types.js';
import { UserError, formatSize } from '../errors.js';

export const PAGE = 4096;
/** The pool's unit: one Sv39x4 level-1 megapage. */
export const CHUNK = 2 * 1024 * 1024;
/** 4 KiB pages in a chunk (the leaves of one split chunk: dirty-log.ts, dedup.ts). */
export const PAGES_PER_CHUNK = CHUNK / PAGE;
/** A chunk of guest RAM given back to the pool by the balloon (balloon.ts): no frame behind it. */
export const HOLE = -1;
/**
 * A chunk whose 512 pages all map the host's zero frame (dedup.ts, under host overcommit): its own
 * frame went back to the pool; the guest reads zeros through its 4 KiB leaves, and a write to it
 * (or a VMM access) takes a zeroed frame from the pool again first (`dedup.reclaim`).
 */
export const DEDUP_ZERO = -2;
/** Where a VM's RAM starts in its guest-physical space (QEMU virt). */
export const GUEST_RAM_BASE = 0x8000_0000;
/** The most guest RAM a VM can have: 2 GiB, all the host RAM there can be today ([2 GiB, 4 GiB) of GPA). */
export const MAX_VM_RAM = 2 * 1024 * 1024 * 1024;

/** Sv39x4 PTE bits (Priv §4.3.1; G-stage leaves need U, §8.5.1). */
export const PTE_V = 1n, PTE_R = 2n, PTE_W = 4n, PTE_X = 8n, PTE_U = 16n, PTE_A = 64n, PTE_D = 128n;
/** A read-write-execute G-stage leaf with A/D set (the VM's normal mapping; dirty-log.ts, dedup.ts). */
export const LEAF = PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D;
/** hgatp.MODE = 8: Sv39x4. */
const HGATP_SV39X4 = 8n;

/** Host RAM as 2 MiB chunks: [RAM_BASE + reservedBytes, RAM_BASE + ramBytes). */
export class FramePool {
  private readonly free: boolean[];
  readonly firstChunkHpa: number;
  constructor(ramBytes: number, reservedBytes = 0) {
    const first = Math.ceil(reservedBytes / CHUNK);
    this.firstChunkHpa = RAM_BASE + first * CHUNK;
    const n = Math.floor(ramBytes / CHUNK) - first;
    this.free = new Array<boolean>(Math.max(0, n)).fill(true);
  }
  get totalChunks(): number {
    return this.free.length;
  }
  get freeChunks(): number {
    let n = 0;
    for (const f of this.free) if (f) n++;
    return n;
  }
  /** `n` chunks (host-physical addresses, lowest first), or null when fewer are free (nothing taken). */
  alloc(n: number): number[] | null {
    const got: number[] = [];
    for (let i = 0; i < this.free.length && got.length < n; i++) if (this.free[i]) got.push(i);
    if (got.length < n) return null;
    for (const i of got) this.free[i] = false;
    return got.map((i) => this.firstChunkHpa + i * CHUNK);
  }
  release(hpas: number[]): void {
    for (const a of hpas) {
      const i = (a - this.firstChunkHpa) / CHUNK;
      if (!Number.isInteger(i) || i < 0 || i >= this.free.length || this.free[i]) throw new Error(`frame pool: bad release 0x${a.toString(16)}`);
      this.free[i] = true;
    }
  }
}

/**
 * One VM's guest-physical memory: RAM chunks at GUEST_RAM_BASE and the G-stage tables mapping them
 * (one extra chunk holds the 16 KiB Sv39x4 root and the level-1 tables, one per GiB). Also the `GuestMemory`
 * the VM's devices (virtio DMA) use: guest-physical addresses, refused outside the VM's RAM.
 */
export class VmMemory implements GuestMemory {
  readonly bytes: number;
  /** Host-physical address of each 2 MiB chunk of guest RAM, in GPA order. */
  readonly chunks: number[];
  /** The chunk holding the G-stage tables. */
  readonly tableChunk: number;
  readonly vmid: number;

  private constructor(private readonly core: Core, private readonly pool: FramePool, bytes: number, chunks: number[], vmid: number) {
    this.bytes = bytes;
    this.tableChunk = chunks[0]!;
    this.chunks = chunks.slice(1);
    this.vmid = vmid;
  }

  /**
   * Allocate `bytes` (a multiple of 2 MiB, up to MAX_VM_RAM) for VM `vmid`; throws UserError if the
   * pool is short (the host's RAM is at most 2G today, so a VM gets at most 2G less the host's
   * reserve and the table chunk).
   */
  static allocate(core: Core, pool: FramePool, bytes: number, vmid: number, name: string, lazy = false): VmMemory {
    if (!(Number.isInteger(bytes) && bytes > 0 && bytes % CHUNK === 0)) {
      throw new UserError(`${name}: memory must be a positive multiple of 2M, got ${bytes} bytes`);
    }
    if (bytes > MAX_VM_RAM) throw new UserError(`${name}: memory ${formatSize(bytes)} is more than the host can have (host RAM is at most 2G today)`);
    // Overcommit (issue 12 scope 3): only the table chunk now; RAM chunks are holes backed on first touch.
    const need = lazy ? 1 : bytes / CHUNK + 1;
    const got = pool.alloc(need);
    const chunks = got && lazy ? [got[0]!, ...new Array<number>(bytes / CHUNK).fill(HOLE)] : got;
    if (!chunks) {
      throw new UserError(
        `${name}: needs ${formatSize(need * CHUNK)} of host RAM (guest memory + G-stage tables), only ${formatSize(pool.freeChunks * CHUNK)} free (host RAM is at most 2G today)`,
      );
    }
    const m = new VmMemory(core, pool, bytes, chunks, vmid);
    m.buildGStage();
    return m;
  }

  /**
   * Zero the RAM and write the G-stage tables in tableChunk: the 16 KiB Sv39x4 root (2048 entries,
   * index = GPA[40:30]), then one level-1 table (512 leaves of 2 MiB = 1 GiB of GPA) per GiB of
   * guest RAM: GUEST_RAM_BASE is 2 GiB, so root entries 2 and 3 cover [2 GiB, 4 GiB), up to 2 GiB
   * of guest RAM (Priv 1.12 §8.5.1).
   */
  /** Level-1 tables: one per GiB of guest RAM, at pages 4, 5 of tableChunk (after the 16 KiB root). */
  get l1Tables(): number {
    return Math.ceil(this.chunks.length / 512);
  }

  /** Host-physical address of RAM chunk `c`'s 2 MiB leaf in its level-1 table. */
  l1Entry(c: number): number {
    return this.tableChunk + (4 + Math.floor(c / 512)) * PAGE + (c % 512) * 8;
  }

  /** Offset in tableChunk of the first page after the root and level-1 tables (dirty-log.ts's level-0 tables). */
  get tablesEnd(): number {
    return (4 + this.l1Tables) * PAGE;
  }

  private buildGStage(): void {
    const core = this.core;
    const l1Tables = this.l1Tables;
    core.zeroPhys(this.tableChunk, (4 + l1Tables) * PAGE);
    // Every chunk is wiped, also one no VM has had: host RAM outside the VMs may hold the host's
    // own data (test/hypervisor/hostile.test.ts fills it with canaries), never to be seen by a guest.
    for (const c of this.chunks) if (c !== HOLE) core.zeroPhys(c, CHUNK);
    const root = this.tableChunk;
    const rootIndex = (GUEST_RAM_BASE / 0x4000_0000) | 0;
    for (let t = 0; t < l1Tables; t++) {
      const l1 = root + (4 + t) * PAGE;
      this.write64(root + (rootIndex + t) * 8, (BigInt(l1 >>> 12) << 10n) | PTE_V);
    }
    for (let i = 0; i < this.chunks.length; i++) {
      if (this.chunks[i] !== HOLE) this.write64(this.l1Entry(i), (BigInt(this.chunks[i]! >>> 12) << 10n) | LEAF);
    }
  }

  /** Back HOLE chunk `c` with a zeroed chunk from the pool and map it (false: the pool is empty). */
  backHole(c: number): boolean {
    if (this.chunks[c] !== HOLE) return true;
    const got = this.pool.alloc(1);
    if (!got) return false;
    const hpa = got[0]!;
    this.core.zeroPhys(hpa, CHUNK);
    this.chunks[c] = hpa;
    this.write64(this.l1Entry(c), (BigInt(hpa >>> 12) << 10n) | LEAF);
    this.onBacked?.(c);
    this.core.hfenceGvma(this.vmid);
    return true;
  }

  /** Frames the pool has free (for this VM and every other). */
  get freeFrames(): number {
    return this.pool.freeChunks;
  }

  /** Chunks with no frame behind them (ballooned, or never touched under overcommit), ascending. */
  holes(): number[] {
    const out: number[] = [];
    for (let c = 0; c < this.chunks.length; c++) if (this.chunks[c] === HOLE) out.push(c);
    return out;
  }

  /** Frames the pool must give for `holes` to become exactly this VM's holes (snapshot restore). */
  framesToMatch(holes: readonly number[]): number {
    const want = new Set(holes);
    let n = 0;
    for (let c = 0; c < this.chunks.length; c++) {
      if (this.chunks[c]! < 0 && !want.has(c)) n++;
      else if (this.chunks[c]! >= 0 && want.has(c)) n--;
    }
    return n;
  }

  /** Frames the pool has given this VM's RAM now (not its table chunk). */
  get framesHeld(): number {
    let n = 0;
    for (const c of this.chunks) if (c >= 0) n++;
    return n;
  }

  /** DEDUP_ZERO chunks leave dedup and become holes (their content, zeros, is what a hole gives). */
  private forgetDedupZero(): void {
    for (let c = 0; c < this.chunks.length; c++) if (this.chunks[c] === DEDUP_ZERO) this.dedup!.forgetChunk(c);
  }

  /**
   * Make exactly `holes` the chunks without a frame (snapshot restore: touching a hole is a
   * guest-page fault the guest pays for, so the restored VM must have the same ones): frames of
   * the others come from the pool, zeroed (false, nothing changed, when it has too few:
   * framesToMatch first), those of the holes go back to it.
   */
  matchHoles(holes: readonly number[]): boolean {
    if (this.framesToMatch(holes) > this.pool.freeChunks) return false;
    this.forgetDedupZero();
    const want = new Set(holes);
    for (let c = 0; c < this.chunks.length; c++) {
      const hpa = this.chunks[c]!;
      if (hpa !== HOLE && want.has(c)) {
        this.dedup?.unshareRange(GUEST_RAM_BASE + c * CHUNK, CHUNK);
        this.write64(this.l1Entry(c), 0n);
        this.chunks[c] = HOLE;
        this.pool.release([hpa]);
      }
    }
    this.core.hfenceGvma(this.vmid);
    for (let c = 0; c < this.chunks.length; c++) if (this.chunks[c] === HOLE && !want.has(c)) this.backHole(c);
    return true;
  }

  /** Give every RAM chunk back to the pool (a destroyed VM under overcommit); they are holes after. */
  releaseRam(): void {
    this.forgetDedupZero();
    this.dedup?.unshareAll();
    for (let c = 0; c < this.chunks.length; c++) {
      const hpa = this.chunks[c]!;
      if (hpa < 0) continue;
      this.write64(this.l1Entry(c), 0n);
      this.chunks[c] = HOLE;
      this.pool.release([hpa]);
    }
    this.core.hfenceGvma(this.vmid);
  }

  private write64(hpa: number, v: bigint): void {
    this.core.set64(L.RAM_OFFSET + hpa - RAM_BASE, v);
  }

  /** hgatp for this VM's vCPUs: Sv39x4, its VMID, its root. */
  get hgatp(): bigint {
    return (HGATP_SV39X4 << 60n) | (BigInt(this.vmid) << 44n) | BigInt(this.tableChunk >>> 12);
  }

  /** The host-physical address of guest-physical `gpa`, or null outside the VM's RAM. */
  hpaOf(gpa: number): number | null {
    const off = gpa - GUEST_RAM_BASE;
    if (!(off >= 0 && off < this.bytes)) return null;
    return this.chunks[Math.floor(off / CHUNK)]! + (off % CHUNK);
  }

  inRam(gpa: number, len: number): boolean {
    return Number.isSafeInteger(gpa) && Number.isSafeInteger(len) && gpa >= GUEST_RAM_BASE && len >= 0 && gpa + len <= GUEST_RAM_BASE + this.bytes;
  }

  /**
   * Split [gpa, gpa+len) at chunk borders: [hpa, offset in the buffer, length]. A ballooned chunk
   * (HOLE) is backed again first through `onHole` (balloon.ts); if it cannot be, the access fails.
   */
  private pieces(gpa: number, len: number): Array<[number, number, number]> {
    if (!this.inRam(gpa, len)) throw new Error(`guest-physical 0x${gpa.toString(16)}+${len} is outside the VM's memory`);
    const out: Array<[number, number, number]> = [];
    let done = 0;
    while (done < len) {
      const g = gpa + done;
      const n = Math.min(len - done, CHUNK - ((g - GUEST_RAM_BASE) % CHUNK));
      const c = Math.floor((g - GUEST_RAM_BASE) / CHUNK);
      if (this.chunks[c] === HOLE && !this.onHole?.(c)) throw new Error(`guest-physical 0x${g.toString(16)}: no host frame behind it (ballooned, none free)`);
      if (this.chunks[c] === DEDUP_ZERO && !this.dedup?.reclaim(c)) throw new Error(`guest-physical 0x${g.toString(16)}: no host frame behind it (given back by dedup, none free)`);
      out.push([this.hpaOf(g)!, done, n]);
      done += n;
    }
    return out;
  }

  read(gpa: number, len: number): Uint8Array {
    // Bounds first, then the buffer: a length a guest wrote (a descriptor, an SBI argument) must
    // never make the host allocate more than the VM's memory.
    const parts = this.pieces(gpa, len);
    const out = new Uint8Array(len);
    for (const [hpa, off, n] of parts) out.set(this.core.readPhys(hpa, n), off);
    return out;
  }

  /**
   * A view (no copy) of [gpa, gpa+len) within one 2 MiB chunk: valid until the core's memory grows
   * or the VM runs again (snapshots read RAM through it between rounds).
   */
  view(gpa: number, len: number): Uint8Array {
    // A ballooned chunk (or one dedup gave back: all zero pages) reads as zeros (without backing it again).
    const c = Math.floor((gpa - GUEST_RAM_BASE) / CHUNK);
    if (this.chunks[c]! < 0 && Math.floor((gpa + len - 1 - GUEST_RAM_BASE) / CHUNK) === c) return new Uint8Array(len);
    const p = this.pieces(gpa, len);
    if (p.length !== 1) throw new Error(`view of 0x${gpa.toString(16)}+${len} crosses a chunk`);
    const u8 = this.core.u8view();
    const at = L.RAM_OFFSET + p[0]![0] - RAM_BASE;
    return u8.subarray(at, at + len);
  }

  write(gpa: number, data: Uint8Array): void {
    this.dedup?.unshareRange(gpa, data.length);
    for (const [hpa, off, n] of this.pieces(gpa, data.length)) this.core.writePhys(hpa, data.subarray(off, off + n));
    // VMM writes (virtio DMA, loaders) bypass the G-stage: dirty logging (dirty-log.ts) hears of them here.
    this.onWrite?.(gpa, data.length);
  }
  /** Set while dirty logging runs (dirty-log.ts). */
  onWrite: ((gpa: number, len: number) => void) | null = null;
  /**
   * GuestMemory.reserve: back the holes (and chunks dedup gave back) in [gpa, gpa+len) of RAM
   * before a device's DMA. With `onNoFrame` set (overcommit) a chunk the pool cannot back calls
   * it — the VM pauses for memory — and the answer is false; without, true (the access itself
   * then fails as before: a DMA fault). Addresses outside RAM are the access's business.
   */
  reserve(gpa: number, len: number): boolean {
    if (this.onNoFrame === null || len <= 0) return true;
    const lo = Math.max(gpa, GUEST_RAM_BASE);
    const hi = Math.min(gpa + len, GUEST_RAM_BASE + this.bytes);
    if (!(Number.isSafeInteger(lo) && Number.isSafeInteger(hi)) || lo >= hi) return true;
    for (let c = Math.floor((lo - GUEST_RAM_BASE) / CHUNK); c <= Math.floor((hi - 1 - GUEST_RAM_BASE) / CHUNK); c++) {
      const ok = this.chunks[c] === HOLE ? (this.onHole?.(c) ?? false) : this.chunks[c] === DEDUP_ZERO ? (this.dedup?.reclaim(c) ?? false) : true;
      if (!ok) {
        this.onNoFrame();
        return false;
      }
    }
    return true;
  }
  /** Overcommit: the pool had no frame for a device's DMA (reserve); the VM pauses for memory. */
  onNoFrame: (() => void) | null = null;
  /** Told after hole `c` got a frame and its megapage leaf (dirty logging maps it its own way). */
  onBacked: ((chunk: number) => void) | null = null;
  /** The balloon's refill of a HOLE chunk (balloon.ts): true when it is backed now. */
  onHole: ((chunk: number) => boolean) | null = null;
  /**
   * Page deduplication (dedup.ts) of this VM, or null: told before the VMM writes guest RAM (the
   * merged pages in the range get their private frame back first), before a chunk's frame leaves
   * the VM, and before dirty logging remaps every page.
   */
  dedup: {
    /** Unmerge the pages of the range (throws when a DEDUP_ZERO chunk in it finds no frame). */
    unshareRange(gpa: number, len: number): void;
    unshareAll(): void;
    /** DEDUP_ZERO chunk `c` leaves dedup: its pages unmerged, its level-1 entry cleared, a HOLE now. */
    forgetChunk(c: number): void;
    /** DEDUP_ZERO chunk `c` gets a zeroed frame from the pool again (false: none free). */
    reclaim(c: number): boolean;
  } | null = null;
  /**
   * Told when dedup.ts moves a guest page from host frame `from` to `to` (same content): the VM
   * moves its vCPUs' LR/SC reservations (host addresses) along, so an SC behaves as without dedup.
   */
  onFrameMoved: ((from: number, to: number) => void) | null = null;
  /** True while the G-stage maps RAM with 4 KiB leaves (dirty logging): the balloon leaves it alone. */
  finePaging = false;

  /** Zero [gpa, gpa+len) of guest RAM (snapshot restore). */
  zero(gpa: number, len: number): void {
    this.dedup?.unshareRange(gpa, len);
    for (const [hpa, , n] of this.pieces(gpa, len)) this.core.zeroPhys(hpa, n);
  }

  /** Return every frame to the pool (the VM is gone; its VMID's translations must be fenced first). */
  release(): void {
    this.forgetDedupZero();
    this.dedup?.unshareAll();
    this.pool.release([this.tableChunk, ...this.chunks.filter((c) => c >= 0)]);
    this.chunks.length = 0;
  }
}
