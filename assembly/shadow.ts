/**
 * Shadow paging (issue 11 scope 1): the VMM's shadow MMU, the hot half. The VMM side (allocation,
 * satp / sfence.vma emulation, MMIO, statistics) is src/hypervisor/shadow.ts.
 *
 * A shadow VM runs with hgatp = Bare and vsatp = a shadow root the VMM owns: tables that map guest
 * virtual addresses straight to host-physical frames of the VM, never the guest's own tables. The
 * guest's satp is virtual (hstatus.VTVM traps its reads and writes, and sfence.vma); page faults
 * 12/13/15 are not delegated (hedeleg), so every fault the shadow walk raises comes here first:
 *
 *   VS/VU access ─▶ walker over the shadow (mmu.ts translateGuestWalk, hgatp Bare)
 *                     │ page fault
 *                     ▼
 *   shadowFault: the VMM's software walk of the guest's table (GVA → GPA, the guest's permission
 *   rules, guest-visible A/D set) and of its GPA → HPA chunk map, then sorts the fault:
 *     guest says fault        ─▶ "guest fault": the page fault stands, a VM exit, the VMM injects it
 *     GPA outside the VM RAM  ─▶ "MMIO": the page fault stands, a VM exit, the VMM emulates it
 *     store to a guest PT page ─▶ "PT write": the shadow entries derived from the written PTE are
 *                                 dropped and the store is performed (emulated) without a host-TLB fill
 *     otherwise               ─▶ "shadow miss" (a hidden page fault): fill the shadow, retry the access
 *   Misses and PT writes are handled here without leaving run(), but cost what a VM exit costs:
 *   vmm.exitCycles + vmm.entryCycles, plus, in timing mode, the guest PTE reads of the software walk
 *   at the modeled TLB's cycles per page-walk reference (docs/PAGING.md).
 *
 * The shadow is KVM's shadow MMU in miniature: one shadow page per guest page-table page (keyed by
 * its guest-physical page, shared by every root that reaches it, so the kernel's shared tables are
 * shadowed once), "direct" shadow pages under guest superpages (the shadow maps 4 KiB leaves only,
 * so a page-table page inside a guest superpage can be write-protected alone), and roots cached per
 * guest satp (mode, ASID, root) in 32 slots, least recently used first out. A guest page that has
 * a shadow page is a page-table page: every shadow leaf that maps it is read-only, so each guest
 * PTE write traps and is emulated, and the shadow stays exactly coherent with the guest's tables
 * (stricter than a TLB needs to be; sfence.vma only has to drop host-TLB entries). Shadow leaves
 * are writable only when the guest PTE is writable and dirty: the first store to a clean page
 * traps and sets D, as hardware A/D updating would.
 *
 * Reference counts: a shadow page is referenced by each shadow non-leaf PTE that points to it and
 * by each root slot; at zero it is freed (its children released in turn) and its guest page is no
 * longer write-protected. Reverse map: per guest page, up to 3 shadow leaves that map it writable
 * (else an overflow mark); when the page becomes a page-table page those leaves lose W (overflow:
 * every shadow is dropped and rebuilt lazily, a "rebuild"). The shadow-page pool is the VM's
 * `shadow_pages`: when it runs dry the least recently used root slots are evicted, and if that is
 * not enough every shadow is dropped (also a rebuild).
 *
 * All state lives in the VM's shadow area, host RAM frames from the VMM's pool (never mapped into
 * any guest), laid out by src/hypervisor/shadow.ts (the offsets below; one descriptor page first):
 *
 *   page 0   header: guest RAM base/size, area geometry, pool, counters, area chunk table,
 *            host-chunk → area-chunk reverse table, 32 root slots
 *   page 1-2 guest RAM chunk table: HPA of each 2 MiB chunk of the VM's RAM, in GPA order
 *   META..   shadow-page metadata, 32 B per shadow page (guest page, refs, level, flags, VA base)
 *   RECS..   guest-page records, 16 B per 4 KiB guest page (shadow page, 3 reverse-map slots)
 *   SP0..    the shadow pages themselves
 */
import {
  RAM_GPA, RAM_OFFSET, H_VSATP, H_VSSTATUS, H_MSTATUS, H_AD_UPDATE, C_VMX_EXIT_CYCLES, TM_CFG, LAT_BASE, TIMING_CLASS_TRAP,
} from './layout';
import {
  excPending, excCause, clearException, CAUSE_FETCH_PAGE_FAULT, CAUSE_LOAD_PAGE_FAULT, CAUSE_STORE_PAGE_FAULT,
} from './trap';
import {
  translateGuestWalk, tlbFlushGuest, tlbSet, tlbIndex, REGIME_VS, REGIME_VU, TLB_INVALID, ACCESS_WRITE, ACCESS_FETCH,
  codePage,
} from './mmu';
import { TLB_BASE, TLB_READ, TLB_WRITE, TLB_FETCH } from './layout';
import { invalidateCode } from './frames';
import { tmEnabled, tmAddExtra, tmSfence, TMC_WALK_LAT } from './tlbmodel';
import { PRV_U, MSTATUS_SUM, MSTATUS_MXR } from './hart';

// ---------------------------------------------------------------------------------------------
// The shadow area's layout (src/hypervisor/shadow.ts writes the header; keep both in step)

export const SHD_GBASE: u32 = 0x08; // u64: guest RAM base (GPA)
export const SHD_GBYTES: u32 = 0x10; // u64: guest RAM bytes
export const SHD_NPAGES: u32 = 0x18; // u32: pages in the area
export const SHD_META: u32 = 0x1c; // u32: first page of the shadow-page metadata
export const SHD_RECS: u32 = 0x20; // u32: first page of the guest-page records
export const SHD_SP0: u32 = 0x24; // u32: first shadow page (area page index)
export const SHD_FREE: u32 = 0x28; // u32: free list head (area page index; 0 = empty)
export const SHD_INUSE: u32 = 0x2c; // u32: shadow pages in use
export const SHD_PEAK: u32 = 0x30; // u32: most shadow pages ever in use
export const SHD_LIMIT: u32 = 0x34; // u32: shadow pages in the pool (the VM's shadow_pages)
export const SHD_CLOCK: u32 = 0x38; // u64: LRU stamp of the root slots
export const SHD_CNT: u32 = 0x40; // u64 counters, SC_* below
export const SHD_ACHUNKS: u32 = 0x100; // u64 × 64: HPA of each 2 MiB chunk of the area
export const SHD_MAX_CHUNKS: u32 = 64;
export const SHD_REV: u32 = 0x300; // u8 × 1024: host chunk (HPA - RAM base) >> 21 → area chunk + 1
export const SHD_SLOTS: u32 = 0x800; // 32 root slots × 32 B
export const SHD_NSLOTS: u32 = 32;
export const SHD_GCHUNKS: u32 = 0x1000; // pages 1-2: u64 × 1024, HPA of guest RAM chunk i (VMs up to 2 GiB)

// Counters (u64 at SHD_CNT + 8 * i); src/hypervisor/shadow.ts names them.
export const SC_MISSES: u32 = 0; // shadow misses filled (hidden page faults)
export const SC_PT_WRITES: u32 = 1; // guest page-table writes emulated
export const SC_FLUSHES: u32 = 2; // sfence.vma / remote fences served (host-TLB flushes)
export const SC_REBUILDS: u32 = 3; // every shadow dropped (reverse-map overflow, pool dry, conflict)
export const SC_RECLAIMS: u32 = 4; // root slots evicted to free shadow pages
export const SC_GUEST_FAULTS: u32 = 5; // page faults the guest's own tables raise (injected by the VMM)
export const SC_MMIO: u32 = 6; // faults on GPAs outside the VM's RAM (emulated by the VMM)
export const SC_CYCLES: u32 = 7; // cycles charged for misses and PT writes handled here
export const SC_WALK_REFS: u32 = 8; // guest PTE reads of the VMM's software walks
export const SC_WRITE_PROTECTS: u32 = 9; // writable shadow leaves made read-only (a page became a PT page)
export const SC_ACTIVATIONS: u32 = 10; // shadow roots switched to (vCPU loads, satp writes)
export const SC_ROOT_HITS: u32 = 11; // ... that found a cached root
export const SC_AD_UPDATES: u32 = 12; // guest PTE A/D bits set by the VMM
export const SC_PAGES_ALLOCATED: u32 = 13; // shadow pages taken from the pool
export const SC_REBUILDS_RMAP: u32 = 14; // rebuilds because a new PT page had too many writable mappings
export const SC_REBUILDS_LEVEL: u32 = 15; // rebuilds because a guest page was a table at two levels
export const SC_STALE_ROOTS: u32 = 16; // cached roots dropped because the guest reused their table page
export const SC_REMOTE_FENCES: u32 = 17; // of the flushes: remote fences (SBI RFENCE from another vCPU)
export const SC_COUNT: u32 = 24;

// Root slot fields
const SL_KEY: u32 = 0; // u64: guest satp (0 for Bare: the identity-over-GPA shadow)
const SL_SP: u32 = 8; // u32: root shadow page (0: slot free)
const SL_MODE: u32 = 12; // u32: the shadow's satp MODE
const SL_STAMP: u32 = 16; // u64: last use

// Shadow-page metadata (32 B)
const SM_GPN: u32 = 0; // u32: guest page number + 1 of the PT page it shadows (0: direct)
const SM_REFS: u32 = 4; // u32
const SM_LEVEL: u32 = 8; // u32: the level its entries are at (0: 4 KiB leaves)
const SM_FLAGS: u32 = 12; // u32: SMF_*
const SM_VABASE: u32 = 16; // u64: guest VA its first entry maps
const SM_NEXT: u32 = 24; // u32: free list link
const SMF_MULTI_VA: u32 = 1; // reached at more than one VA: flush the whole host TLB on changes

// Guest-page records (16 B): shadow page u32, reverse-map slots u32 × 3
const RMAP_OVERFLOW: u32 = 1; // in slot 2: more writable leaves than slots

const PTE_V: u64 = 1, PTE_R: u64 = 2, PTE_W: u64 = 4, PTE_X: u64 = 8, PTE_U: u64 = 16, PTE_G: u64 = 32;
const PTE_A: u64 = 64, PTE_D: u64 = 128;
const PTE_PPN_MASK: u64 = 0x003ffffffffffc00;
const PTE_RESERVED: u64 = 0xffc0000000000000;
const NONE: u64 = <u64>-1;

// What the last shadowFault decided (read by the VMM after a VM exit).
export const SK_NONE: u32 = 0;
export const SK_GUEST_PAGE_FAULT: u32 = 1;
export const SK_MMIO: u32 = 2;
export const SK_GUEST_ACCESS_FAULT: u32 = 3;
export const SK_MISS: u32 = 4;
export const SK_PT_WRITE: u32 = 5;
export const SK_UNRESOLVED: u32 = 6;

// ---------------------------------------------------------------------------------------------
// State of the running hart (the VMM calls shadowLoad at every vCPU load and after the round)

let D: u64 = 0; // descriptor HPA, 0 = shadow paging off
let gSatp: u64 = 0; // the loaded vCPU's (virtual) satp
let curSlot: i32 = -1;
let entryCycles: u64 = 0;
let noFill: bool = false;
let lastKind: u32 = 0;
let lastGpa: u64 = 0;
let ptHpa: u64 = 0;

@inline function hp(hpa: u64): usize {
  return <usize>(hpa - <u64>RAM_GPA + <u64>RAM_OFFSET);
}
@inline function hd(off: u32): usize {
  return hp(D) + <usize>off;
}
@inline function bumpCnt(i: u32, by: u64 = 1): void {
  store<u64>(hd(SHD_CNT + i * 8), load<u64>(hd(SHD_CNT + i * 8)) + by);
}
@inline function pageHpa(idx: u32): u64 {
  return load<u64>(hd(SHD_ACHUNKS + (idx >> 9) * 8)) + (<u64>(idx & 511) << 12);
}
/** Area page index of a shadow page from its HPA (a shadow non-leaf PTE's PPN). */
@inline function spOfHpa(hpa: u64): u32 {
  const c = <u32>load<u8>(hd(SHD_REV + <u32>((hpa - <u64>RAM_GPA) >> 21)));
  return (c - 1) * 512 + <u32>((hpa >> 12) & 511);
}
@inline function meta(k: u32): usize {
  const m = k - load<u32>(hd(SHD_SP0));
  return hp(pageHpa(load<u32>(hd(SHD_META)) + (m >> 7))) + <usize>((m & 127) * 32);
}
@inline function rec(n: u32): usize {
  return hp(pageHpa(load<u32>(hd(SHD_RECS)) + (n >> 8))) + <usize>((n & 255) * 16);
}
@inline function spPte(k: u32, i: u32): usize {
  return hp(pageHpa(k)) + <usize>(i * 8);
}
/** HPA of guest-physical gpa, or NONE outside the VM's RAM. */
@inline function gpaHpa(gpa: u64): u64 {
  const off = gpa - load<u64>(hd(SHD_GBASE));
  if (off >= load<u64>(hd(SHD_GBYTES))) return NONE;
  return load<u64>(hd(SHD_GCHUNKS + <u32>(off >> 21) * 8)) + (off & 0x1fffff);
}
/** Guest page number (index from the RAM base) of an in-RAM gpa. */
@inline function gpn(gpa: u64): u32 {
  return <u32>((gpa - load<u64>(hd(SHD_GBASE))) >> 12);
}

/** Is shadow paging on for the running vCPU? (mmu.ts translateGuest asks.) */
@inline export function shadowActive(): bool {
  return D != 0;
}
/** The store just translated by a PT-write emulation must not fill the host TLB's write array. */
export function shadowTakeNoFill(): bool {
  const f = noFill;
  noFill = false;
  return f;
}

// ---------------------------------------------------------------------------------------------
// The shadow-page pool

/** Reset the whole area's dynamic state: every shadow page free, no records, no roots. */
function resetArea(): void {
  const sp0 = load<u32>(hd(SHD_SP0));
  const n = load<u32>(hd(SHD_LIMIT));
  for (let k: u32 = 0; k < n; k++) store<u32>(meta(sp0 + k) + SM_NEXT, k + 1 < n ? sp0 + k + 1 : 0);
  store<u32>(hd(SHD_FREE), n > 0 ? sp0 : 0);
  store<u32>(hd(SHD_INUSE), 0);
  const recs = load<u32>(hd(SHD_RECS));
  for (let p = recs; p < sp0; p++) memory.fill(hp(pageHpa(p)), 0, 4096);
  memory.fill(hd(SHD_SLOTS), 0, SHD_NSLOTS * 32);
  curSlot = -1;
}

/** Area set-up (the VMM wrote the header and the chunk tables): everything free. */
export function shadowInit(desc: u64): void {
  const saved = D;
  D = desc;
  memory.fill(hd(SHD_CNT), 0, SC_COUNT * 8);
  store<u32>(hd(SHD_PEAK), 0);
  store<u64>(hd(SHD_CLOCK), 0);
  resetArea();
  D = saved;
}

function spAllocRaw(): u32 {
  const k = load<u32>(hd(SHD_FREE));
  if (k == 0) return 0;
  const m = meta(k);
  store<u32>(hd(SHD_FREE), load<u32>(m + SM_NEXT));
  memory.fill(hp(pageHpa(k)), 0, 4096);
  memory.fill(m, 0, 32);
  const used = load<u32>(hd(SHD_INUSE)) + 1;
  store<u32>(hd(SHD_INUSE), used);
  if (used > load<u32>(hd(SHD_PEAK))) store<u32>(hd(SHD_PEAK), used);
  bumpCnt(SC_PAGES_ALLOCATED);
  return k;
}

/** A zeroed shadow page, evicting least recently used root slots (not the current one) if the pool is dry; 0 when none frees one. */
function spAlloc(): u32 {
  let k = spAllocRaw();
  while (k == 0) {
    let victim: i32 = -1;
    let oldest: u64 = NONE;
    for (let s: i32 = 0; s < <i32>SHD_NSLOTS; s++) {
      const sl = hd(SHD_SLOTS + <u32>s * 32);
      if (s == curSlot || load<u32>(sl + SL_SP) == 0) continue;
      const t = load<u64>(sl + SL_STAMP);
      if (t < oldest) { oldest = t; victim = s; }
    }
    if (victim < 0) return 0;
    evictSlot(victim);
    bumpCnt(SC_RECLAIMS);
    k = spAllocRaw();
  }
  return k;
}

function spFree(k: u32): void {
  const m = meta(k);
  const g = load<u32>(m + SM_GPN);
  if (g != 0) store<u32>(rec(g - 1), 0); // no longer a write-protected page-table page
  if (load<u32>(m + SM_LEVEL) > 0) {
    for (let i: u32 = 0; i < 512; i++) {
      const pte = load<u64>(spPte(k, i));
      if ((pte & PTE_V) != 0 && (pte & (PTE_R | PTE_X)) == 0) decref(spOfHpa((pte & PTE_PPN_MASK) << 2));
    }
  }
  store<u32>(m + SM_NEXT, load<u32>(hd(SHD_FREE)));
  store<u32>(hd(SHD_FREE), k);
  store<u32>(hd(SHD_INUSE), load<u32>(hd(SHD_INUSE)) - 1);
}

function decref(k: u32): void {
  const m = meta(k);
  const r = load<u32>(m + SM_REFS);
  if (r > 1) store<u32>(m + SM_REFS, r - 1);
  else spFree(k);
}

function evictSlot(s: i32): void {
  const sl = hd(SHD_SLOTS + <u32>s * 32);
  const k = load<u32>(sl + SL_SP);
  memory.fill(sl, 0, 32);
  if (k != 0) decref(k);
}

/** Why the last R_ZAP was asked for (a rebuild counter, or 0: the pool ran dry). */
let zapWhy: u32 = 0;

/** Drop every shadow (a rebuild): they are filled again lazily. The caller re-activates. */
function zapAll(): void {
  resetArea();
  tlbFlushGuest();
  bumpCnt(SC_REBUILDS);
  if (zapWhy != 0) bumpCnt(zapWhy);
  zapWhy = 0;
}

// ---------------------------------------------------------------------------------------------
// Host-TLB coherence: the VS/VU sets cache shadow translations (composed GVA → HPA)

function flushGuestVa(va: u64): void {
  const i = tlbIndex(va);
  for (let r: u32 = REGIME_VU; r <= REGIME_VS; r++) {
    const base = tlbSet(r);
    store<u64>(base + (TLB_READ - TLB_BASE) + i, TLB_INVALID);
    store<u64>(base + (TLB_WRITE - TLB_BASE) + i, TLB_INVALID);
    store<u64>(base + (TLB_FETCH - TLB_BASE) + i, TLB_INVALID);
  }
}

/** Clear entry i of shadow page k (derived from a guest PTE that changed), releasing a child. */
function dropEntry(k: u32, i: u32): void {
  const e = spPte(k, i);
  const pte = load<u64>(e);
  if ((pte & PTE_V) == 0) return;
  store<u64>(e, 0);
  const m = meta(k);
  const level = load<u32>(m + SM_LEVEL);
  if ((pte & (PTE_R | PTE_X)) == 0) decref(spOfHpa((pte & PTE_PPN_MASK) << 2));
  if (level == 0 && (load<u32>(m + SM_FLAGS) & SMF_MULTI_VA) == 0) flushGuestVa(load<u64>(m + SM_VABASE) + (<u64>i << 12));
  else tlbFlushGuest();
}

// ---------------------------------------------------------------------------------------------
// Reverse map of writable shadow leaves

/** Does the shadow PTE at location loc (area page << 9 | index) map guest page n writable? */
function writableLeafOf(loc: u32, n: u32, hpaPage: u64): bool {
  if (loc < 512) return false;
  const pte = load<u64>(spPte(loc >> 9, loc & 511));
  return (pte & (PTE_V | PTE_W)) == (PTE_V | PTE_W) && (pte & (PTE_R | PTE_X)) != 0 && ((pte & PTE_PPN_MASK) << 2) == hpaPage;
}

function rmapAdd(n: u32, loc: u32, hpaPage: u64): void {
  const r = rec(n);
  let free: u32 = 0;
  for (let s: u32 = 1; s <= 3; s++) {
    const v = load<u32>(r + s * 4);
    if (v == loc) return;
    if (free == 0 && (v == 0 || (v != RMAP_OVERFLOW && !writableLeafOf(v, n, hpaPage)))) free = s;
  }
  if (free != 0) store<u32>(r + free * 4, loc);
  else store<u32>(r + 12, RMAP_OVERFLOW);
}

/** Guest page n becomes a page-table page: its writable shadow leaves lose W. false: overflow (rebuild). */
function writeProtect(n: u32, hpaPage: u64): bool {
  const r = rec(n);
  if (load<u32>(r + 12) == RMAP_OVERFLOW) return false;
  let any = false;
  for (let s: u32 = 1; s <= 3; s++) {
    const loc = load<u32>(r + s * 4);
    if (writableLeafOf(loc, n, hpaPage)) {
      const e = spPte(loc >> 9, loc & 511);
      store<u64>(e, load<u64>(e) & ~(PTE_W | PTE_D));
      bumpCnt(SC_WRITE_PROTECTS);
      any = true;
    }
    store<u32>(r + s * 4, 0);
  }
  if (any) tlbFlushGuest();
  return true;
}

// ---------------------------------------------------------------------------------------------
// Roots

/**
 * Shadow page k is only the root of cached address spaces that are not running (every reference
 * is a root slot, none the current one): the guest has freed that table (a process exited) and
 * is using the page for something else. Evict those slots (k is freed, the page unprotected).
 */
function dropStaleRoot(k: u32): bool {
  let slots: u32 = 0;
  for (let s: i32 = 0; s < <i32>SHD_NSLOTS; s++) {
    if (load<u32>(hd(SHD_SLOTS + <u32>s * 32) + SL_SP) != k) continue;
    if (s == curSlot) return false;
    slots++;
  }
  if (slots == 0 || slots != load<u32>(meta(k) + SM_REFS)) return false;
  for (let s: i32 = 0; s < <i32>SHD_NSLOTS; s++) {
    if (load<u32>(hd(SHD_SLOTS + <u32>s * 32) + SL_SP) == k) evictSlot(s);
  }
  bumpCnt(SC_STALE_ROOTS);
  return true;
}

const R_OK: u32 = 0;
const R_ZAP: u32 = 1; // drop everything and try again

/** A new or shared shadow page for guest PT page at gpa (level `level`, first VA vaBase); 0 after R_ZAP. */
function spForTable(gpa: u64, level: u32, vaBase: u64): u32 {
  const n = gpn(gpa);
  const r = rec(n);
  let k = load<u32>(r);
  // A table at another level than its shadow page's: a stale cached root gives way, else rebuild.
  if (k != 0 && load<u32>(meta(k) + SM_LEVEL) != level && dropStaleRoot(k)) k = 0;
  if (k != 0) {
    const m = meta(k);
    if (load<u32>(m + SM_LEVEL) != level) { zapWhy = SC_REBUILDS_LEVEL; return 0; }
    store<u32>(m + SM_REFS, load<u32>(m + SM_REFS) + 1);
    if (load<u64>(m + SM_VABASE) != vaBase) store<u32>(m + SM_FLAGS, load<u32>(m + SM_FLAGS) | SMF_MULTI_VA);
    return k;
  }
  if (!writeProtect(n, gpaHpa(gpa & ~(<u64>0xfff)))) { zapWhy = SC_REBUILDS_RMAP; return 0; }
  k = spAlloc();
  if (k == 0) return 0;
  const m = meta(k);
  store<u32>(m + SM_GPN, n + 1);
  store<u32>(m + SM_REFS, 1);
  store<u32>(m + SM_LEVEL, level);
  store<u64>(m + SM_VABASE, vaBase);
  store<u32>(rec(n), k);
  return k;
}

function spDirect(level: u32, vaBase: u64): u32 {
  const k = spAlloc();
  if (k == 0) return 0;
  const m = meta(k);
  store<u32>(m + SM_REFS, 1);
  store<u32>(m + SM_LEVEL, level);
  store<u64>(m + SM_VABASE, vaBase);
  return k;
}

/** Find or build the root for guest satp `satp`, make it the current slot and vsatp. */
function activateOnce(satp: u64): u32 {
  const mode = <u32>(satp >> 60);
  const key: u64 = mode == 0 ? 0 : satp;
  bumpCnt(SC_ACTIVATIONS);
  const clock = load<u64>(hd(SHD_CLOCK)) + 1;
  store<u64>(hd(SHD_CLOCK), clock);
  let s: i32 = -1;
  let freeSlot: i32 = -1;
  let lru: i32 = -1;
  let oldest: u64 = NONE;
  for (let i: i32 = 0; i < <i32>SHD_NSLOTS; i++) {
    const sl = hd(SHD_SLOTS + <u32>i * 32);
    if (load<u32>(sl + SL_SP) == 0) { if (freeSlot < 0) freeSlot = i; continue; }
    if (load<u64>(sl + SL_KEY) == key) { s = i; break; }
    const t = load<u64>(sl + SL_STAMP);
    if (t < oldest) { oldest = t; lru = i; }
  }
  if (s >= 0) {
    bumpCnt(SC_ROOT_HITS);
  } else {
    s = freeSlot >= 0 ? freeSlot : lru;
    curSlot = -1;
    if (freeSlot < 0) evictSlot(s);
    let root: u32 = 0;
    let smode: u32 = mode;
    const rootGpa = (satp & 0xfffffffffff) << 12;
    if (mode == 0) {
      smode = 8; // the identity-over-GPA shadow is an Sv39 table of direct pages
      root = spDirect(2, 0);
    } else if (gpaHpa(rootGpa) != NONE) {
      root = spForTable(rootGpa, mode - 6, 0);
    } else {
      root = spDirect(mode - 6, 0); // a root outside RAM: every walk is a guest access fault
    }
    if (root == 0) return R_ZAP;
    const sl = hd(SHD_SLOTS + <u32>s * 32);
    store<u64>(sl + SL_KEY, key);
    store<u32>(sl + SL_SP, root);
    store<u32>(sl + SL_MODE, smode);
  }
  const sl = hd(SHD_SLOTS + <u32>s * 32);
  store<u64>(sl + SL_STAMP, clock);
  curSlot = s;
  gSatp = satp;
  const asid = mode == 0 ? 0 : (satp >> 44) & 0xffff;
  store<u64>(H_VSATP, (<u64>load<u32>(sl + SL_MODE) << 60) | (asid << 44) | (pageHpa(load<u32>(sl + SL_SP)) >> 12));
  tlbFlushGuest();
  return R_OK;
}

function activate(satp: u64): void {
  if (activateOnce(satp) == R_ZAP) {
    zapAll();
    activateOnce(satp);
  }
}

/**
 * The VMM loads (desc != 0) or unloads (desc = 0) a shadow-paged vCPU on the running hart: its
 * guest satp becomes the current root (found or built) in vsatp. `entry` = vmm.entryCycles.
 */
export function shadowLoad(desc: u64, satp: u64, entry: u32): void {
  D = desc;
  curSlot = -1;
  noFill = false;
  entryCycles = <u64>entry;
  if (desc != 0) activate(satp);
}

/** The guest wrote satp (emulated by the VMM, hstatus.VTVM): switch to that address space's shadow. */
export function shadowSetSatp(satp: u64): void {
  if (D != 0) activate(satp);
}

/** Drop every shadow of the VM at desc (its images were reloaded: boot, reboot). Not a rebuild. */
export function shadowZap(desc: u64): void {
  const saved = D;
  D = desc;
  resetArea();
  tlbFlushGuest();
  D = saved;
  if (D == desc && D != 0) activate(gSatp);
}

/**
 * sfence.vma (emulated, hstatus.VTVM) or a remote fence: the shadow is kept coherent with the
 * guest's tables by the PT-write emulation, so a fence only drops the host TLB's guest entries and
 * the modeled TLB's (counted as hfence.vvma, as a V = 1 sfence.vma is).
 */
export function shadowSfence(hasVa: u32, va: u64, hasAsid: u32, asid: u32): void {
  if (D == 0) return;
  bumpCnt(SC_FLUSHES);
  if (hasVa != 0) flushGuestVa(va);
  else tlbFlushGuest();
  if (tmEnabled()) tmSfence(hasVa != 0, va, hasAsid != 0, asid);
}
/** Count a remote fence (SBI RFENCE) served for the VM at desc. */
export function shadowCountFence(desc: u64): void {
  const saved = D;
  D = desc;
  bumpCnt(SC_FLUSHES);
  bumpCnt(SC_REMOTE_FENCES);
  D = saved;
}

export function shadowLastKind(): u32 {
  return lastKind;
}
export function shadowLastGpa(): u64 {
  return lastGpa;
}

// ---------------------------------------------------------------------------------------------
// The VMM's software walk of the guest's table (Priv 1.12 §4.3.2, as translateGuest's VS stage)

const GW_OK: u32 = 0;
const GW_PAGE_FAULT: u32 = 1;
const GW_ACCESS_FAULT: u32 = 3;

let gwGpa: u64 = 0;
let gwLeaf: u64 = 0; // the guest leaf PTE (with the A/D bits this walk set)
let gwLeafLevel: u32 = 0;
let gwRefs: u32 = 0;
// Guest-physical page of the table the walk read at each level (0..4).
let gwT0: u64 = 0, gwT1: u64 = 0, gwT2: u64 = 0, gwT3: u64 = 0, gwT4: u64 = 0;

@inline function setTable(i: u32, a: u64): void {
  if (i == 0) gwT0 = a; else if (i == 1) gwT1 = a; else if (i == 2) gwT2 = a; else if (i == 3) gwT3 = a; else gwT4 = a;
}
@inline function table(i: u32): u64 {
  return i == 0 ? gwT0 : i == 1 ? gwT1 : i == 2 ? gwT2 : i == 3 ? gwT3 : gwT4;
}

/**
 * Walk the guest's table for va. `check`: apply the access's permission rules (privilege p: 1 VS,
 * 0 VU; vsstatus.SUM/MXR, mstatus.MXR) and set A (and D on a write) in the guest PTE as hardware
 * would (Svade: a clear bit is a page fault instead). Without `check` (peek) nothing is written.
 */
function guestWalk(va: u64, access: u32, p: u32, check: bool): u32 {
  gwRefs = 0;
  const mode = <u32>(gSatp >> 60);
  if (mode == 0) {
    gwGpa = va;
    gwLeaf = PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | (p == PRV_U ? PTE_U : 0);
    gwLeafLevel = 2;
    return GW_OK;
  }
  const levels: u32 = mode - 5;
  const vaBits: u64 = 12 + 9 * <u64>levels;
  const top = <i64>va >> <i64>(vaBits - 1);
  if (top != 0 && top != -1) return GW_PAGE_FAULT;
  let a = (gSatp & 0xfffffffffff) << 12;
  let i = <i32>levels - 1;
  let pte: u64 = 0;
  let pteHpa: u64 = 0;
  while (true) {
    setTable(<u32>i, a);
    const pteGpa = a + (((va >> (12 + 9 * <u64>i)) & 0x1ff) << 3);
    pteHpa = gpaHpa(pteGpa);
    if (pteHpa == NONE) return GW_ACCESS_FAULT; // an implicit read outside RAM (§4.3.2 step 2)
    pte = load<u64>(hp(pteHpa));
    gwRefs++;
    if ((pte & PTE_V) == 0 || ((pte & PTE_R) == 0 && (pte & PTE_W) != 0) || (pte & PTE_RESERVED) != 0) return GW_PAGE_FAULT;
    if ((pte & (PTE_R | PTE_X)) != 0) break;
    if ((pte & (PTE_A | PTE_D | PTE_U)) != 0 || i == 0) return GW_PAGE_FAULT;
    i--;
    a = (pte & PTE_PPN_MASK) << 2;
  }
  if (i > 0) {
    const lowMask: u64 = ((<u64>1) << (9 * <u64>i)) - 1;
    if (((pte >> 10) & lowMask) != 0) return GW_PAGE_FAULT; // misaligned superpage
  }
  if (check) {
    const vs = load<u64>(H_VSSTATUS);
    const ms = load<u64>(H_MSTATUS);
    let ok: bool;
    if (p == PRV_U) ok = (pte & PTE_U) != 0;
    else ok = (pte & PTE_U) == 0 || (access != ACCESS_FETCH && (vs & MSTATUS_SUM) != 0);
    if (ok) {
      if (access == ACCESS_FETCH) ok = (pte & PTE_X) != 0;
      else if (access == ACCESS_WRITE) ok = (pte & PTE_W) != 0;
      else ok = (pte & PTE_R) != 0 || (((vs | ms) & MSTATUS_MXR) != 0 && (pte & PTE_X) != 0);
    }
    if (!ok) return GW_PAGE_FAULT;
    // Guest-visible A/D (§4.3.2 step 7), as the hardware under nested paging does them.
    const need = access == ACCESS_WRITE ? PTE_A | PTE_D : PTE_A;
    if ((pte & need) != need) {
      if (load<u64>(H_AD_UPDATE) == 0) return GW_PAGE_FAULT;
      pte |= need;
      if (codePage(pteHpa)) invalidateCode(pteHpa, 8);
      store<u64>(hp(pteHpa), pte);
      bumpCnt(SC_AD_UPDATES);
    }
  }
  gwLeaf = pte;
  gwLeafLevel = <u32>i;
  const offMask: u64 = ((<u64>1) << (12 + 9 * <u64>i)) - 1;
  gwGpa = (((pte & PTE_PPN_MASK) << 2) & ~offMask) | (va & offMask);
  return GW_OK;
}

/** Side-effect-free GVA → GPA through the loaded vCPU's guest table (all ones when it does not map). */
export function shadowPeekGpa(va: u64): u64 {
  if (D == 0) return NONE;
  return guestWalk(va, 0, 1, false) == GW_OK ? gwGpa : NONE;
}

// ---------------------------------------------------------------------------------------------
// The fill: build the shadow path for va from the current root down to a 4 KiB leaf

function fill(va: u64): u32 {
  const sl = hd(SHD_SLOTS + <u32>curSlot * 32);
  let k = load<u32>(sl + SL_SP);
  const levels = load<u32>(sl + SL_MODE) - 5;
  for (let i: u32 = levels - 1; i > 0; i--) {
    const e = spPte(k, <u32>((va >> (12 + 9 * <u64>i)) & 0x1ff));
    const pte = load<u64>(e);
    let child: u32;
    if ((pte & PTE_V) != 0) {
      child = spOfHpa((pte & PTE_PPN_MASK) << 2);
    } else {
      // The VA range the child covers: one entry at level i.
      const vaBase = va & ~(((<u64>1) << (12 + 9 * <u64>i)) - 1);
      if (gwLeafLevel < i) child = spForTable(table(i - 1), i - 1, vaBase);
      else child = spDirect(i - 1, vaBase); // under a guest superpage
      if (child == 0) return R_ZAP;
      store<u64>(e, ((pageHpa(child) >> 12) << 10) | PTE_V);
    }
    k = child;
  }
  // The 4 KiB leaf: the guest leaf's permissions; W only when the guest PTE is dirty and the page
  // is not a page-table page (whose writes must trap).
  const page = gwGpa & ~(<u64>0xfff);
  const hpaPage = gpaHpa(page);
  const n = gpn(page);
  const writable = (gwLeaf & (PTE_W | PTE_D)) == (PTE_W | PTE_D) && load<u32>(rec(n)) == 0;
  const idx = <u32>((va >> 12) & 0x1ff);
  const leaf = ((hpaPage >> 12) << 10) | PTE_V | PTE_A | (gwLeaf & (PTE_R | PTE_X | PTE_U | PTE_G)) | (writable ? PTE_W | PTE_D : 0);
  store<u64>(spPte(k, idx), leaf);
  if (writable) rmapAdd(n, (k << 9) | idx, hpaPage);
  return R_OK;
}

// ---------------------------------------------------------------------------------------------
// The fault path

const SF_EXIT: u32 = 0; // the page fault stands: a VM exit (guest fault or MMIO)
const SF_FILLED: u32 = 1;
const SF_PT_WRITE: u32 = 2;

/**
 * Charge a shadow event handled here what a VM exit costs (the trap's latency, vmm.exitCycles, and
 * vmm.entryCycles for the way back), plus the software walk's PTE reads at the modeled TLB's cost
 * per page-walk reference (timing mode). Guest faults and MMIO leave as real VM exits (the run loop
 * and the VMM charge those); they pay only their walk here.
 */
function charge(refs: u32, exitTrip: bool): void {
  let c: u64 = 0;
  if (exitTrip) c = max<u64>(1, <u64>load<u8>(LAT_BASE + TIMING_CLASS_TRAP)) + <u64>load<u32>(C_VMX_EXIT_CYCLES) + entryCycles;
  if (tmEnabled()) c += <u64>refs * <u64>load<u32>(TM_CFG + TMC_WALK_LAT * 4);
  bumpCnt(SC_WALK_REFS, <u64>refs);
  if (c != 0) {
    bumpCnt(SC_CYCLES, c);
    tmAddExtra(c);
  }
}

function shadowFault(va: u64, access: u32, p: u32, size: u32): u32 {
  lastKind = SK_NONE;
  const r = guestWalk(va, access, p, true);
  if (r != GW_OK) {
    // A VM exit follows (charged by the run loop); the walk's reads are the VMM's.
    charge(gwRefs, false);
    lastKind = r == GW_PAGE_FAULT ? SK_GUEST_PAGE_FAULT : SK_GUEST_ACCESS_FAULT;
    bumpCnt(SC_GUEST_FAULTS);
    return SF_EXIT;
  }
  if (gpaHpa(gwGpa) == NONE) {
    charge(gwRefs, false);
    lastKind = SK_MMIO;
    lastGpa = gwGpa;
    bumpCnt(SC_MMIO);
    return SF_EXIT;
  }
  if (fill(va) == R_ZAP) {
    zapAll();
    activate(gSatp);
    if (fill(va) == R_ZAP) {
      lastKind = SK_UNRESOLVED;
      return SF_EXIT;
    }
  }
  charge(gwRefs, true);
  const page = gwGpa & ~(<u64>0xfff);
  let k = load<u32>(rec(gpn(page)));
  // A store to the table page of a cached root that is not running: the page was freed and reused.
  if (access == ACCESS_WRITE && k != 0 && dropStaleRoot(k)) k = 0;
  if (access == ACCESS_WRITE && k != 0) {
    // A store to a guest page-table page: drop the shadow entries derived from the PTEs it
    // writes, then let the store happen (the caller performs it on the HPA, no host-TLB fill).
    const first = <u32>((gwGpa & 0xfff) >> 3);
    const last = <u32>(((gwGpa & 0xfff) + <u64>size - 1) >> 3);
    for (let i = first; i <= last && i < 512; i++) dropEntry(k, i);
    ptHpa = gpaHpa(gwGpa);
    bumpCnt(SC_PT_WRITES);
    lastKind = SK_PT_WRITE;
    return SF_PT_WRITE;
  }
  bumpCnt(SC_MISSES);
  lastKind = SK_MISS;
  return SF_FILLED;
}

/**
 * mmu.ts translateGuest in shadow mode: the hardware walk over the shadow; its page faults are
 * sorted by shadowFault (a miss is filled and the walk retried, a PT write is emulated, a guest
 * fault or MMIO leaves the fault raised: a VM exit).
 */
export function shadowTranslate(va: u64, access: u32, p: u32, size: u32): u64 {
  noFill = false;
  for (let tries = 0; tries < 3; tries++) {
    const pa = translateGuestWalk(va, access, p, size);
    if (excPending == 0) return pa;
    const c = excCause;
    if (c != CAUSE_FETCH_PAGE_FAULT && c != CAUSE_LOAD_PAGE_FAULT && c != CAUSE_STORE_PAGE_FAULT) return pa;
    const r = shadowFault(va, access, p, size);
    if (r == SF_EXIT) return pa;
    clearException();
    if (r == SF_PT_WRITE) {
      noFill = true;
      return ptHpa;
    }
  }
  lastKind = SK_UNRESOLVED;
  return translateGuestWalk(va, access, p, size);
}
