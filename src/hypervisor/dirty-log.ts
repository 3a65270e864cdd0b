/**
 * Dirty-page logging through the G-stage (issue 12 scope 5; KVM's KVM_MEM_LOG_DIRTY_PAGES with
 * D-bit harvesting, as Intel PML / ARM's HDBSS do in hardware): while a VM migrates, its G-stage
 * maps its RAM with 4 KiB leaves instead of 2 MiB ones — level-0 tables in the VM's table chunk,
 * after the root and the level-1 table — whose D bits start clear. The core updates A/D in
 * hardware (Svadu, `H_AD_UPDATE`, the default): a guest's first write to a page sets its D bit in
 * the walk, with no trap, so the guest pays nothing (its clock and counters are those of a run
 * without logging; the host TLB's guest sets are dropped when D bits are cleared, and refilling
 * them costs no modeled cycle in fast mode). `harvest()` collects the pages whose D bit is set,
 * clears them and fences the VM's translations so the next write sets D again. Writes by the VMM
 * (virtio DMA) bypass the G-stage and are logged through VmMemory.onWrite.
 *
 * A VM of more than 1012 MiB has no room for the 4 KiB tables in its table chunk: it is logged at
 * 2 MiB granularity (the megapage leaves' own D bits), which is correct, only coarser.
 */
import type { Core } from '../core.js';
import { RAM_BASE } from '../core.js';
import * as L from '../generated/layout.js';
import { CHUNK, GUEST_RAM_BASE, HOLE, PAGES_PER_CHUNK, LEAF as MEGA_LEAF, PAGE, PTE_D, PTE_V, type VmMemory } from './memory.js';

const LEAF_CLEAN = MEGA_LEAF & ~PTE_D;

/** Host-physical address of RAM chunk `c`'s level-0 table (4 KiB leaves) in the VM's table chunk. */
export function l0Table(mem: VmMemory, c: number): number {
  return mem.tableChunk + mem.tablesEnd + c * PAGE;
}

/** The VM's table chunk has room for a level-0 table per RAM chunk (VMs up to 1012 MiB). */
export function finePagingFits(mem: VmMemory): boolean {
  return mem.tablesEnd + mem.chunks.length * PAGE <= CHUNK;
}

/**
 * Map RAM chunk `c` with 512 4 KiB leaves (`leaf`'s permission bits, each to its own frame of the
 * chunk) in its level-0 table, and point its level-1 entry there. The caller fences. Shared by
 * dirty logging (D clear) and page deduplication (dedup.ts: A/D set, a leaf per page to remap).
 */
export function splitChunk(core: Core, mem: VmMemory, c: number, leaf: bigint): void {
  const t = l0Table(mem, c);
  const hpa = mem.chunks[c]!;
  for (let j = 0; j < PAGES_PER_CHUNK; j++) core.set64(L.RAM_OFFSET + t + j * 8 - RAM_BASE, (BigInt((hpa + j * PAGE) >>> 12) << 10n) | leaf);
  core.set64(L.RAM_OFFSET + mem.l1Entry(c) - RAM_BASE, (BigInt(t >>> 12) << 10n) | PTE_V);
}

export class DirtyLog {
  private readonly fine: boolean;
  /** The level-0 tables start after the 16 KiB root and the level-1 tables (memory.ts tablesEnd). */
  private readonly l0Offset: number;
  /** Pages dirtied by VMM writes since the last harvest. */
  private readonly vmmDirty = new Set<number>();
  private active = false;

  constructor(
    private readonly core: Core,
    private readonly mem: VmMemory,
    private readonly vmid: number,
  ) {
    this.l0Offset = mem.tablesEnd;
    this.fine = finePagingFits(mem);
  }

  /** Page granularity of the log, bytes. */
  get granularity(): number {
    return this.fine ? PAGE : CHUNK;
  }

  private addr(hpa: number): number {
    return L.RAM_OFFSET + hpa - RAM_BASE;
  }
  private l1(i: number): number {
    return this.mem.l1Entry(i);
  }

  /** Start logging: 4 KiB leaves with D clear (or megapage D bits cleared); everything counts as clean. */
  start(): void {
    const core = this.core;
    const chunks = this.mem.chunks;
    // Merged pages (dedup.ts) are unshared first: the leaves below map every page to its own frame.
    this.mem.dedup?.unshareAll();
    // Holes (ballooned chunks, untouched ones under overcommit) stay holes: backing them would
    // spare the guest the fault it takes without migration. One backed while logging is mapped
    // the logging way (onBacked), all its pages dirty (its frame is fresh zeros: the target's
    // copy of the chunk may hold older contents).
    this.mem.finePaging = true;
    for (let i = 0; i < chunks.length; i++) if (chunks[i] !== HOLE) this.mapClean(i);
    this.mem.onBacked = (c) => {
      this.mapClean(c);
      const per = this.fine ? PAGES_PER_CHUNK : 1;
      for (let p = c * per; p < (c + 1) * per; p++) this.vmmDirty.add(p);
    };
    this.mem.onWrite = (gpa, len) => {
      for (let p = Math.floor((gpa - GUEST_RAM_BASE) / this.granularity); p * this.granularity < gpa - GUEST_RAM_BASE + len; p++) this.vmmDirty.add(p);
    };
    this.active = true;
    core.hfenceGvma(this.vmid);
  }

  /** Map chunk i for logging: 4 KiB leaves with D clear, or its megapage leaf with D clear. */
  private mapClean(i: number): void {
    if (this.fine) splitChunk(this.core, this.mem, i, LEAF_CLEAN);
    else this.core.set64(this.addr(this.l1(i)), (BigInt(this.mem.chunks[i]! >>> 12) << 10n) | LEAF_CLEAN);
  }

  /**
   * The pages (indexes of `granularity` bytes from the start of guest RAM) written since start()
   * or the previous harvest, ascending; their D bits are cleared again.
   */
  harvest(): number[] {
    const core = this.core;
    const u8 = core.u8view();
    const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
    const out = new Set<number>(this.vmmDirty);
    this.vmmDirty.clear();
    const chunks = this.mem.chunks;
    for (let i = 0; i < chunks.length; i++) {
      if (chunks[i] === HOLE) continue;
      if (this.fine) {
        const t = this.addr(this.mem.tableChunk + this.l0Offset + i * PAGE);
        for (let j = 0; j < PAGES_PER_CHUNK; j++) {
          const lo = dv.getUint32(t + j * 8, true);
          if (lo & 0x80) {
            dv.setUint32(t + j * 8, lo & ~0x80, true);
            out.add(i * PAGES_PER_CHUNK + j);
          }
        }
      } else {
        const a = this.addr(this.l1(i));
        const lo = dv.getUint32(a, true);
        if (lo & 0x80) {
          dv.setUint32(a, lo & ~0x80, true);
          out.add(i);
        }
      }
    }
    // Writable translations cached with D set must go, so the next write walks and sets D again.
    core.hfenceGvma(this.vmid);
    return [...out].sort((a, b) => a - b);
  }

  /** Back to 2 MiB leaves with A/D set (the VM's normal G-stage). */
  stop(): void {
    if (!this.active) return;
    this.active = false;
    this.mem.onWrite = null;
    this.mem.onBacked = null;
    const chunks = this.mem.chunks;
    this.mem.finePaging = false;
    for (let i = 0; i < chunks.length; i++) this.core.set64(this.addr(this.l1(i)), chunks[i] === HOLE ? 0n : (BigInt(chunks[i]! >>> 12) << 10n) | MEGA_LEAF);
    this.core.hfenceGvma(this.vmid);
  }
}
