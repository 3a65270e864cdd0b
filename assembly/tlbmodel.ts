/**
 * The modeled TLB (timing mode). Research users configure it and read its exact counters; it never
 * translates anything itself: the architectural translation is always the walker in mmu.ts, so the
 * model cannot disagree with the host fast path about what is mapped. The model only decides
 * whether an access would hit, and what a miss costs:
 *
 *   access ─▶ L1 (I or D, or unified) hit? ─▶ done (0 cycles)
 *               │ miss
 *               ▼
 *             L2 hit? ─▶ fill L1, + L2 latency
 *               │ miss
 *               ▼
 *             walk: one memory reference per page-table level visited, except the levels whose
 *             non-leaf PTE the page-walk cache holds; + refs × latency per reference
 *
 * Entries are tagged {VPN, level, ASID, global, VMID, V}. With V=1 (H extension) an entry holds the
 * composed GVA→HPA translation of one guest (VMID from hgatp, ASID from vsatp), and a miss makes a
 * two-dimensional walk (Priv 1.12 ch. 8 "Hypervisor Extension", §8.5 "Two-Stage Address
 * Translation"): every VS-stage PTE address is a guest-physical address that the G-stage
 * (Sv39x4/48x4/57x4) translates first, and so is the final GPA:
 *
 *   VS level n-1 PTE: G-stage walk (up to m refs) + 1 VS ref ─┐ × n levels
 *   ...                                                       │
 *   final GPA:        G-stage walk (up to m refs) ────────────┘  worst case n·(m+1) + m
 *                                                                (Sv39 on Sv39x4: 15, Sv48x4: 24)
 *
 * The nested TLB (TMC_NTLB entries; Bhargava et al., "Accelerating Two-Dimensional Page Walks for
 * Virtualized Systems", ASPLOS 2008) caches the G-stage translations of guest page-table pages, so a
 * hit saves that PTE's G-stage walk; the page-walk cache keeps caching the VS-stage non-leaf PTEs.
 * Superpages are inserted in the set of the 4 KiB VPN that missed (splintering, as most simulators
 * do): an entry matches any VPN of its superpage, but lives in one set.
 *
 * Counting rules (documented in docs/TIMING.md): data accesses are counted once per load/store/AMO
 * (twice for a misaligned access that crosses a page); instruction fetch is counted once per fetch
 * block — each time execution enters a page or is redirected (taken branch, jump, trap, return);
 * M-mode accesses without MPRV, V=0 accesses while satp is Bare, and V=1 accesses while vsatp and
 * hgatp are both Bare bypass the TLB and are not counted (mmu.ts translating(regime)).
 */
import {
  TM_CFG, TM_CNT, TM_STATE, TM_PLRU, TM_ENTRY, TM_L1I, TM_L1D, TM_L2, TM_PWC, TM_NTLB, H_SATP,
  H_VSATP, H_HGATP, H_VIRT, H_AD_UPDATE, RAM_GPA, RAM_OFFSET,
} from './layout';
import { inRam } from './mmu';

// Configuration words (u32 at TM_CFG + 4*i), written by the host.
export const TMC_ENABLED: u32 = 0;
export const TMC_SPLIT: u32 = 1; // 1 = separate I and D L1 TLBs, 0 = one unified L1 (the D arrays)
export const TMC_L1_SETS: u32 = 2; // power of two; entries = sets × ways (≤ 1024 per L1 TLB)
export const TMC_L1_WAYS: u32 = 3;
export const TMC_L2_SETS: u32 = 4; // 0 = no L2 TLB; entries ≤ 4096
export const TMC_L2_WAYS: u32 = 5;
export const TMC_REPL: u32 = 6; // 0 LRU, 1 PLRU, 2 FIFO, 3 random
export const TMC_ASID: u32 = 7; // 1 = entries are ASID-tagged
export const TMC_PWC: u32 = 8; // page-walk-cache entries (0..64)
export const TMC_WALK_LAT: u32 = 9; // cycles per page-walk memory reference
export const TMC_L2_LAT: u32 = 10; // cycles for an L1 miss that hits in L2
export const TMC_SEED: u32 = 11; // random replacement seed
export const TMC_NTLB: u32 = 12; // nested-TLB entries (0..64; H extension, V=1 walks only)

// Counters (u64 at TM_CNT + 8*i).
export const TMS_I_ACCESS: u32 = 0;
export const TMS_I_HIT: u32 = 1;
export const TMS_I_MISS: u32 = 2;
export const TMS_I_EVICT: u32 = 3;
export const TMS_D_ACCESS: u32 = 4;
export const TMS_D_HIT: u32 = 5;
export const TMS_D_MISS: u32 = 6;
export const TMS_D_EVICT: u32 = 7;
export const TMS_L2_ACCESS: u32 = 8;
export const TMS_L2_HIT: u32 = 9;
export const TMS_L2_MISS: u32 = 10;
export const TMS_L2_EVICT: u32 = 11;
export const TMS_WALKS: u32 = 12;
export const TMS_WALK_REFS: u32 = 13;
export const TMS_WALK_CYCLES: u32 = 14;
export const TMS_PWC_HIT: u32 = 15;
export const TMS_PWC_MISS: u32 = 16;
export const TMS_FLUSH_ALL: u32 = 17; // sfence.vma x0, x0
export const TMS_FLUSH_ASID: u32 = 18; // sfence.vma x0, asid
export const TMS_FLUSH_VADDR: u32 = 19; // sfence.vma va, x0
export const TMS_FLUSH_VADDR_ASID: u32 = 20; // sfence.vma va, asid
export const TMS_FLUSH_SATP: u32 = 21; // satp write (only when ASID tagging is off)
export const TMS_FAULT_WALKS: u32 = 22; // walks that ended in a page fault
export const TMS_GSTAGE_REFS: u32 = 23; // G-stage references of two-dimensional walks
export const TMS_HIST: u32 = 24; // 24..31: walks with 0..7 memory references (7: 7 or more)
// Two-dimensional walks (V=1, H extension). They are also counted in WALKS, WALK_REFS, WALK_CYCLES,
// HIST, PWC_* and FAULT_WALKS above; these break them down.
export const TMS_V_WALKS: u32 = 32; // walks made with V=1
export const TMS_V_VS_REFS: u32 = 33; // VS-stage PTE reads
// (the G-stage PTE reads are TMS_GSTAGE_REFS)
export const TMS_V_GPF: u32 = 34; // V=1 walks that ended in a guest-page fault (G-stage)
export const TMS_V_AD_VS: u32 = 35; // VS-stage PTE A/D updates (writes; not counted as references)
export const TMS_V_AD_G: u32 = 36; // G-stage PTE A/D updates
export const TMS_AD_WRITES: u32 = 37; // A/D updates of V=0 walks
export const TMS_NTLB_HIT: u32 = 38; // guest page-table pages whose G-stage walk the nested TLB saved
export const TMS_NTLB_MISS: u32 = 39; // ... and that it did not (counted only with a nested TLB)
export const TMS_FLUSH_VVMA: u32 = 40; // hfence.vvma, and sfence.vma with V=1
export const TMS_FLUSH_GVMA: u32 = 41; // hfence.gvma
export const TMS_FLUSH_VSATP: u32 = 42; // vsatp changed between V=1 walks (only when ASID tagging is off)
export const TMS_V_HIST_VS: u32 = 48; // 48..55: V=1 walks by VS-stage references 0..7
export const TMS_V_HIST_G: u32 = 56; // 56..91: by G-stage references 0..35
export const TMS_V_HIST_TOTAL: u32 = 92; // 92..127: by total references 0..35 (Sv57 on Sv57x4: at most 35)
export const TMS_V_HIST_N: u32 = 36;
export const TMS_COUNT: u32 = 128;

// Per-hart model state words (u64 at TM_STATE + 8*i).
const TMST_VSATP: u32 = 0; // vsatp seen by the last V=1 walk
const TMST_HGATP: u32 = 1; // hgatp seen by the last V=1 walk
const TMST_VIRT_USED: u32 = 2; // 1 = a V=1 entry may be in a TLB (since the last full flush)
const TMST_ROOTS_SEEN: u32 = 3; // 1 = TMST_VSATP / TMST_HGATP hold what a V=1 walk saw

@inline function cfg(i: u32): u32 {
  return load<u32>(TM_CFG + i * 4);
}
@inline function bump(i: u32, by: u64 = 1): void {
  store<u64>(TM_CNT + i * 8, load<u64>(TM_CNT + i * 8) + by);
}

let stamp: u64 = 0;
/** Cycles charged by model accesses made inside slow paths; the run loop collects them. */
let extraCycles: u64 = 0;
export function tmTakeExtra(): u64 {
  const c = extraCycles;
  extraCycles = 0;
  return c;
}
/** Cycles a slow path charges (shadow paging's in-core VM-exit events, shadow.ts). */
export function tmAddExtra(c: u64): void {
  extraCycles += c;
}
/** A slow path's second translation of a page-crossing access (counted as its own access). */
export function tmAccessSecondPage(va: u64, isStore: bool = false): void {
  extraCycles += tmAccess(va, false, isStore);
}
let rng: u32 = 0x9e3779b9;

@inline function st(i: u32): u64 {
  return load<u64>(TM_STATE + i * 8);
}
@inline function setSt(i: u32, v: u64): void {
  store<u64>(TM_STATE + i * 8, v);
}

export function tmReset(): void {
  memory.fill(TM_CNT, 0, TMS_COUNT * 8);
  memory.fill(TM_STATE, 0, 64);
  tmFlushAllEntries();
  stamp = 0;
  // xorshift32 must not start at 0; every other seed is used as given.
  rng = cfg(TMC_SEED) == 0 ? 0x9e3779b9 : cfg(TMC_SEED);
}

function tmFlushAllEntries(): void {
  memory.fill(TM_PLRU, 0, 6144 * 2);
  memory.fill(TM_L1I, 0, (TM_NTLB + 64 * TM_ENTRY) - TM_L1I);
  setSt(TMST_VIRT_USED, 0);
}

// Entry fields
@inline function eTag(e: u32): u64 { return load<u64>(e); } // (vpn << 1) | valid
@inline function eAsid(e: u32): u32 { return load<u16>(e, 16); }
@inline function eLevel(e: u32): u32 { return load<u8>(e, 20); }
@inline function eGlobal(e: u32): bool { return load<u8>(e, 21) != 0; }
@inline function eVmid(e: u32): u32 { return load<u16>(e, 18); }
@inline function eVirt(e: u32): u32 { return load<u8>(e, 22); }

// The translation context of the current access: V, VMID (hgatp bits 57:44, Priv 1.12 §8.2.10)
// and ASID (satp, or vsatp when V=1). Set by tmAccess before any lookup.
let curVirt: u32 = 0;
let curVmid: u32 = 0;

@inline function asidOf(atp: u64): u32 {
  return <u32>(atp >> 44) & 0xffff;
}
@inline function vmidOf(hgatp: u64): u32 {
  return <u32>(hgatp >> 44) & 0x3fff;
}

/**
 * Does entry e translate vpn in the current context? A V=1 entry belongs to one VMID (also when
 * global: the G bit of a VS-stage PTE is global only within its guest, §8.5), a V=0 entry to HS.
 */
@inline function matches(e: u32, vpn: u64, asid: u32): bool {
  const t = eTag(e);
  if ((t & 1) == 0) return false;
  const sh = <u64>(9 * eLevel(e));
  if (((t >> 1) >> sh) != (vpn >> sh)) return false;
  if (eVirt(e) != curVirt || (curVirt != 0 && eVmid(e) != curVmid)) return false;
  return eGlobal(e) || cfg(TMC_ASID) == 0 || eAsid(e) == asid;
}

/** Index into the PLRU bit array for (tlb, set). */
@inline function plruAddr(tlb: u32, set: u32): u32 {
  return TM_PLRU + (tlb * 1024 + set) * 2; // L2 (tlb 2) starts at 2048 and has 4096 sets
}

/** Tree-PLRU: mark `way` most recently used (ways is a power of two ≤ 16). */
function plruTouch(tlb: u32, set: u32, way: u32, ways: u32): void {
  let bits = <u32>load<u16>(plruAddr(tlb, set));
  let node: u32 = 1;
  let span = ways;
  while (span > 1) {
    span >>= 1;
    const right = (way & span) != 0;
    // Point the node away from the used half.
    if (right) bits &= ~(1 << node);
    else bits |= 1 << node;
    node = node * 2 + (right ? 1 : 0);
  }
  store<u16>(plruAddr(tlb, set), <u16>bits);
}
function plruVictim(tlb: u32, set: u32, ways: u32): u32 {
  const bits = <u32>load<u16>(plruAddr(tlb, set));
  let node: u32 = 1;
  let way: u32 = 0;
  let span = ways;
  while (span > 1) {
    span >>= 1;
    const right = ((bits >> node) & 1) != 0;
    if (right) way |= span;
    node = node * 2 + (right ? 1 : 0);
  }
  return way;
}

/**
 * Look up vpn in one set-associative TLB; on a hit update replacement state and return true.
 * tlb: 0 = L1 I, 1 = L1 D / unified, 2 = L2.
 */
function lookupIn(tlb: u32, base: u32, sets: u32, ways: u32, vpn: u64, asid: u32): bool {
  const set = <u32>vpn & (sets - 1);
  const first = base + set * ways * TM_ENTRY;
  for (let w: u32 = 0; w < ways; w++) {
    const e = first + w * TM_ENTRY;
    if (matches(e, vpn, asid)) {
      const repl = cfg(TMC_REPL);
      if (repl == 0) store<u64>(e, ++stamp, 8);
      else if (repl == 1) plruTouch(tlb, set, w, ways);
      return true;
    }
  }
  return false;
}

/** Insert a translation; returns true when a valid entry was evicted. */
function insertIn(tlb: u32, base: u32, sets: u32, ways: u32, vpn: u64, asid: u32, level: u32, global: bool): bool {
  const set = <u32>vpn & (sets - 1);
  const first = base + set * ways * TM_ENTRY;
  const repl = cfg(TMC_REPL);
  let victim: u32 = ways;
  for (let w: u32 = 0; w < ways; w++) {
    if ((eTag(first + w * TM_ENTRY) & 1) == 0) { victim = w; break; }
  }
  let evicted = false;
  if (victim == ways) {
    evicted = true;
    if (repl == 1) victim = plruVictim(tlb, set, ways);
    else if (repl == 3) {
      // xorshift32, seeded: deterministic "random" replacement.
      rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5;
      victim = rng % ways;
    } else {
      // LRU and FIFO both evict the smallest stamp (LRU refreshes it on hits, FIFO does not).
      let best: u64 = <u64>-1;
      for (let w: u32 = 0; w < ways; w++) {
        const s = load<u64>(first + w * TM_ENTRY, 8);
        if (s < best) { best = s; victim = w; }
      }
    }
  }
  const e = first + victim * TM_ENTRY;
  const lvlShift = <u64>(9 * level);
  store<u64>(e, (((vpn >> lvlShift) << lvlShift) << 1) | 1);
  store<u64>(e, ++stamp, 8);
  store<u16>(e, <u16>asid, 16);
  store<u16>(e, <u16>curVmid, 18);
  store<u8>(e, <u8>level, 20);
  store<u8>(e, global ? 1 : 0, 21);
  store<u8>(e, <u8>curVirt, 22);
  if (repl == 1) plruTouch(tlb, set, victim, ways);
  return evicted;
}

// ---------------------------------------------------------------------------------------------
// The modeled walk: the same page tables the architectural walker reads, read without side
// effects, to learn the leaf level and how many references the page-walk cache saves.

let walkLevel: i32 = -1;
let walkGlobal: bool = false;

/** Page-walk cache tag: VA bits above the level, the V bit (guest walks never use HS entries). */
@inline function pwcTag(level: u32, key: u64): u64 {
  return (key << 5) | (<u64>curVirt << 4) | (<u64>level << 1) | 1;
}
function pwcLookup(level: u32, key: u64): bool {
  const n = cfg(TMC_PWC);
  const tag = pwcTag(level, key);
  for (let i: u32 = 0; i < n; i++) {
    const e = TM_PWC + i * TM_ENTRY;
    if (load<u64>(e) == tag) {
      store<u64>(e, ++stamp, 8);
      return true;
    }
  }
  return false;
}
function pwcInsert(level: u32, key: u64): void {
  const n = cfg(TMC_PWC);
  if (n == 0) return;
  let victim: u32 = 0;
  let best: u64 = <u64>-1;
  for (let i: u32 = 0; i < n; i++) {
    const e = TM_PWC + i * TM_ENTRY;
    if ((load<u64>(e) & 1) == 0) { victim = i; break; }
    const s = load<u64>(e, 8);
    if (s < best) { best = s; victim = i; }
  }
  const e = TM_PWC + victim * TM_ENTRY;
  store<u64>(e, pwcTag(level, key));
  store<u64>(e, ++stamp, 8);
}

@inline function ramPte(pa: u64, ok: bool): u64 {
  return ok ? load<u64>(<usize>(pa - <u64>RAM_GPA + <u64>RAM_OFFSET)) : 0;
}

// PTE bits (Priv 1.12 §4.3.1)
const PTE_V: u64 = 1, PTE_R: u64 = 2, PTE_W: u64 = 4, PTE_X: u64 = 8, PTE_U: u64 = 16;
const PTE_A: u64 = 64, PTE_D: u64 = 128;

/** Walk for va; returns the number of memory references made. Sets walkLevel (-1 on a fault). */
function modelWalk(va: u64, isStore: bool): u32 {
  const satp = load<u64>(H_SATP);
  const levels = <u32>(satp >> 60) - 5;
  let a = (satp & 0xfffffffffff) << 12;
  let i = <i32>levels - 1;
  // Page-walk cache: the deepest cached non-leaf PTE lets the walk start below it. The cache
  // entry for level i holds the pointer read at level i, keyed by the VA bits above level i.
  let start = i;
  for (let l: i32 = 1; l < <i32>levels; l++) {
    if (pwcLookup(<u32>l, va >> (12 + 9 * <u64>l))) { start = l - 1; bump(TMS_PWC_HIT); break; }
  }
  if (start == i && levels > 1 && cfg(TMC_PWC) != 0) bump(TMS_PWC_MISS);
  // The references below `start` are still made; walk from the top to find the table pointer
  // for `start` (those reads are the ones the cache saved, so they are not counted).
  let refs: u32 = 0;
  walkLevel = -1;
  walkGlobal = false;
  while (true) {
    const pteAddr = a + (((va >> (12 + 9 * <u64>i)) & 0x1ff) << 3);
    const ok = inRam(pteAddr, 8);
    const pte = ramPte(pteAddr, ok);
    if (i <= start) refs++;
    if (!ok || (pte & 1) == 0) return refs;
    if ((pte & 0x20) != 0) walkGlobal = true;
    if ((pte & 0xa) != 0) {
      walkLevel = i;
      // Svadu: the walker sets A (and D for a store) with one PTE write, counted apart.
      const need = isStore ? PTE_A | PTE_D : PTE_A;
      if ((pte & need) != need && load<u64>(H_AD_UPDATE) != 0) bump(TMS_AD_WRITES);
      return refs;
    }
    if (i == 0) return refs;
    if (i <= start) pwcInsert(<u32>i, va >> (12 + 9 * <u64>i));
    i--;
    a = ((pte >> 10) & 0xfffffffffff) << 12;
  }
}

// ---------------------------------------------------------------------------------------------
// Two-dimensional walk (V=1). Priv 1.12 §8.5.1 (hgatp, Sv39x4/Sv48x4/Sv57x4: the root table is
// 16 KiB and indexed by 2 more GPA bits; GPA bits above them must be zero), §8.5.2 (every
// G-stage leaf must have U = 1; implicit VS-stage PTE accesses are G-stage reads, their A/D
// updates G-stage writes).

let gRefs: u32 = 0; // G-stage PTE reads of the current walk
let gLeafLevel: i32 = 0; // level of the last G-stage leaf found
let gFault: bool = false; // the last gWalk ended in a guest-page fault
let gNeedD: bool = false; // the last gWalk's leaf lacked D for a write (an A/D update is needed)

/**
 * G-stage translation of gpa (Bare: identity). `counted` walks add their PTE reads to gRefs and
 * their A/D updates to TMS_V_AD_G; uncounted ones only find the leaf (reads a cache saved).
 * perm: the permission bit the access needs (R for implicit VS-stage PTE reads, W for their A/D
 * updates, R/W/X for the final access). Returns the host-physical address (gFault on a fault).
 */
function gWalk(gpa: u64, perm: u64, counted: bool): u64 {
  gFault = false;
  gNeedD = false;
  gLeafLevel = 4;
  const hgatp = load<u64>(H_HGATP);
  const mode = <u32>(hgatp >> 60);
  if (mode == 0) return gpa;
  const levels = mode - 5; // Sv39x4 = 8: 3 levels, Sv48x4 = 9: 4, Sv57x4 = 10: 5
  // The GPA is 2 bits wider than the VA of the same mode.
  if ((gpa >> (14 + 9 * <u64>levels)) != 0) { gFault = true; return 0; }
  let a = ((hgatp & 0xfffffffffff) << 12) & ~(<u64>0x3fff);
  let i = <i32>levels - 1;
  while (true) {
    const idxMask: u64 = i == <i32>levels - 1 ? 0x7ff : 0x1ff;
    const pteAddr = a + (((gpa >> (12 + 9 * <u64>i)) & idxMask) << 3);
    const ok = inRam(pteAddr, 8);
    const pte = ramPte(pteAddr, ok);
    if (counted) gRefs++;
    if (!ok || (pte & PTE_V) == 0 || ((pte & PTE_R) == 0 && (pte & PTE_W) != 0)) { gFault = true; return 0; }
    if ((pte & (PTE_R | PTE_X)) != 0) {
      // Leaf: U required, and the access's permission.
      if ((pte & PTE_U) == 0 || (pte & perm) == 0) { gFault = true; return 0; }
      const need = perm == PTE_W ? PTE_A | PTE_D : PTE_A;
      if ((pte & need) != need) {
        if (load<u64>(H_AD_UPDATE) == 0) { gFault = true; return 0; }
        gNeedD = true;
        if (counted) bump(TMS_V_AD_G);
      }
      gLeafLevel = i;
      const off: u64 = ((<u64>1) << (12 + 9 * <u64>i)) - 1;
      return ((((pte >> 10) & 0xfffffffffff) << 12) & ~off) | (gpa & off);
    }
    if (i == 0) { gFault = true; return 0; }
    i--;
    a = ((pte >> 10) & 0xfffffffffff) << 12;
  }
}

/** Nested TLB: is the G-stage translation of the guest page-table page `gpage` cached? */
function ntlbLookup(gpage: u64): bool {
  const n = cfg(TMC_NTLB);
  const tag = (gpage << 1) | 1;
  for (let i: u32 = 0; i < n; i++) {
    const e = TM_NTLB + i * TM_ENTRY;
    if (load<u64>(e) == tag && <u32>load<u16>(e, 16) == curVmid) {
      store<u64>(e, ++stamp, 8);
      return true;
    }
  }
  return false;
}
function ntlbInsert(gpage: u64): void {
  const n = cfg(TMC_NTLB);
  let victim: u32 = 0;
  let best: u64 = <u64>-1;
  for (let i: u32 = 0; i < n; i++) {
    const e = TM_NTLB + i * TM_ENTRY;
    if ((load<u64>(e) & 1) == 0) { victim = i; break; }
    const s = load<u64>(e, 8);
    if (s < best) { best = s; victim = i; }
  }
  const e = TM_NTLB + victim * TM_ENTRY;
  store<u64>(e, (gpage << 1) | 1);
  store<u64>(e, ++stamp, 8);
  store<u16>(e, <u16>curVmid, 16);
}

/**
 * G-stage translation of a VS-stage PTE address: through the nested TLB when there is one (a hit
 * costs no reference), else a counted G-stage walk whose result the nested TLB then keeps.
 */
function gPte(gpa: u64): u64 {
  const n = cfg(TMC_NTLB);
  if (n != 0) {
    const gpage = gpa >> 12;
    if (ntlbLookup(gpage)) {
      bump(TMS_NTLB_HIT);
      const hpa = gWalk(gpa, PTE_R, false);
      return hpa;
    }
    bump(TMS_NTLB_MISS);
    const hpa = gWalk(gpa, PTE_R, true);
    if (!gFault) ntlbInsert(gpage);
    return hpa;
  }
  return gWalk(gpa, PTE_R, true);
}

let vsRefs: u32 = 0;
let walkGpf: bool = false;

/**
 * The two-dimensional walk for gva (V=1); returns the references made (VS + G stage), with the
 * VS-stage ones in vsRefs and the G-stage ones in gRefs. walkLevel = level of the composed entry
 * (the smaller of the two leaves), -1 on a fault (walkGpf: a guest-page fault).
 */
function modelWalk2D(va: u64, fetch: bool, isStore: bool): u32 {
  const vsatp = load<u64>(H_VSATP);
  const vsMode = <u32>(vsatp >> 60);
  vsRefs = 0;
  gRefs = 0;
  walkLevel = -1;
  walkGlobal = false;
  walkGpf = false;
  const finalPerm = fetch ? PTE_X : isStore ? PTE_W : PTE_R;
  let gpa = va;
  let vsLevel: i32 = 4;
  if (vsMode != 0) {
    const levels = vsMode - 5;
    let a = (vsatp & 0xfffffffffff) << 12; // guest-physical
    let i = <i32>levels - 1;
    let start = i;
    for (let l: i32 = 1; l < <i32>levels; l++) {
      if (pwcLookup(<u32>l, va >> (12 + 9 * <u64>l))) { start = l - 1; bump(TMS_PWC_HIT); break; }
    }
    if (start == i && levels > 1 && cfg(TMC_PWC) != 0) bump(TMS_PWC_MISS);
    while (true) {
      const pteGpa = a + (((va >> (12 + 9 * <u64>i)) & 0x1ff) << 3);
      // The PTE's own address is translated by the G-stage first (a read); the levels the
      // page-walk cache saved make neither that walk nor the read.
      const counted = i <= start;
      const pteHpa = counted ? gPte(pteGpa) : gWalk(pteGpa, PTE_R, false);
      if (gFault) { walkGpf = true; return vsRefs + gRefs; }
      const ok = inRam(pteHpa, 8);
      const pte = ramPte(pteHpa, ok);
      if (counted) vsRefs++;
      if (!ok || (pte & PTE_V) == 0) return vsRefs + gRefs;
      if ((pte & 0x20) != 0) walkGlobal = true;
      if ((pte & (PTE_R | PTE_X)) != 0) {
        vsLevel = i;
        const need = isStore ? PTE_A | PTE_D : PTE_A;
        if ((pte & need) != need) {
          if (load<u64>(H_AD_UPDATE) == 0) return vsRefs + gRefs; // Svade: page fault
          // The A/D update is a G-stage write to the PTE's page: same translation (no new walk),
          // but it needs W there and may set that G-stage leaf's D bit too.
          bump(TMS_V_AD_VS);
          gWalk(pteGpa, PTE_W, false);
          if (gFault) { walkGpf = true; return vsRefs + gRefs; }
          if (gNeedD) bump(TMS_V_AD_G);
        }
        const off: u64 = ((<u64>1) << (12 + 9 * <u64>i)) - 1;
        gpa = ((((pte >> 10) & 0xfffffffffff) << 12) & ~off) | (va & off);
        break;
      }
      if (i == 0) return vsRefs + gRefs;
      if (counted) pwcInsert(<u32>i, va >> (12 + 9 * <u64>i));
      i--;
      a = ((pte >> 10) & 0xfffffffffff) << 12;
    }
  }
  // The final GPA: a G-stage walk with the access's own permission.
  gWalk(gpa, finalPerm, true);
  if (gFault) { walkGpf = true; return vsRefs + gRefs; }
  walkLevel = min<i32>(vsLevel, gLeafLevel);
  return vsRefs + gRefs;
}

/**
 * The model keeps no copy of vsatp/hgatp writes (those CSRs are the walker's), so it notices a
 * change at the next V=1 walk: a new hgatp (another guest, or new G-stage tables) empties the
 * page-walk cache and the nested TLB; a new vsatp empties the page-walk cache, and without ASID
 * tags drops the guest's non-global entries (counted in TMS_FLUSH_VSATP), as a satp write does.
 */
function noticeGuestRoots(): void {
  const vsatp = load<u64>(H_VSATP);
  const hgatp = load<u64>(H_HGATP);
  if (hgatp != st(TMST_HGATP)) {
    memory.fill(TM_PWC, 0, 64 * TM_ENTRY);
    memory.fill(TM_NTLB, 0, 64 * TM_ENTRY);
    setSt(TMST_HGATP, hgatp);
  }
  if (vsatp != st(TMST_VSATP)) {
    memory.fill(TM_PWC, 0, 64 * TM_ENTRY);
    setSt(TMST_VSATP, vsatp);
    // (The first V=1 walk after a reset has nothing to compare with, and no guest entry to drop.)
    if (cfg(TMC_ASID) == 0 && st(TMST_ROOTS_SEEN) != 0) {
      bump(TMS_FLUSH_VSATP);
      flushAll3(false, 0, true, 0, false, 1, true, curVmid);
    }
  }
  setSt(TMST_ROOTS_SEEN, 1);
}

/**
 * Whether data accesses are made with V=1: the data regime's V (mstatus.MPRV with MPV, and
 * HLV/HSV, make V=0 code access guest memory), set by the run loop at each block boundary and
 * around HLV/HSV. Fetches use the V bit itself.
 */
let dataVirt: u32 = 0;
export function tmDataRegime(virt: bool): void {
  dataVirt = virt ? 1 : 0;
}

/**
 * Count one translated access at va (fetch = instruction side; isStore: a store, AMO or SC, which
 * needs the D bit) and return the cycles it costs. Called only in timing mode and only for
 * accesses that translate (mmu.ts translating(regime)).
 */
export function tmAccess(va: u64, fetch: bool, isStore: bool = false): u64 {
  const virt = fetch ? <u32>load<u64>(H_VIRT) & 1 : dataVirt;
  curVirt = virt;
  let asid: u32;
  if (virt != 0) {
    curVmid = vmidOf(load<u64>(H_HGATP));
    asid = asidOf(load<u64>(H_VSATP));
    noticeGuestRoots();
  } else {
    curVmid = 0;
    asid = asidOf(load<u64>(H_SATP));
  }
  const vpn = (va >> 12) & 0xfffffffffffff;
  const split = cfg(TMC_SPLIT) != 0;
  const useI = fetch && split;
  const tlb: u32 = useI ? 0 : 1;
  const base = useI ? TM_L1I : TM_L1D;
  const sets = cfg(TMC_L1_SETS), ways = cfg(TMC_L1_WAYS);
  const cA = useI ? TMS_I_ACCESS : TMS_D_ACCESS;
  bump(cA);
  if (lookupIn(tlb, base, sets, ways, vpn, asid)) {
    bump(cA + 1);
    return 0;
  }
  bump(cA + 2);
  let cost: u64 = 0;
  const l2sets = cfg(TMC_L2_SETS), l2ways = cfg(TMC_L2_WAYS);
  let level: u32 = 0;
  let global = false;
  if (l2sets != 0) {
    bump(TMS_L2_ACCESS);
    cost += <u64>cfg(TMC_L2_LAT);
    const set = <u32>vpn & (l2sets - 1);
    const first = TM_L2 + set * l2ways * TM_ENTRY;
    let hitE: u32 = 0;
    let hitW: u32 = 0;
    for (let w: u32 = 0; w < l2ways; w++) {
      const e = first + w * TM_ENTRY;
      if (matches(e, vpn, asid)) { hitE = e; hitW = w; break; }
    }
    if (hitE != 0) {
      bump(TMS_L2_HIT);
      const repl = cfg(TMC_REPL);
      if (repl == 0) store<u64>(hitE, ++stamp, 8);
      else if (repl == 1) plruTouch(2, set, hitW, l2ways);
      if (insertIn(tlb, base, sets, ways, vpn, asid, eLevel(hitE), eGlobal(hitE))) bump(cA + 3);
      return cost;
    }
    bump(TMS_L2_MISS);
  }
  // Walk.
  let refs: u32;
  if (virt != 0) {
    refs = modelWalk2D(va, fetch, isStore);
    bump(TMS_V_WALKS);
    bump(TMS_V_VS_REFS, vsRefs);
    bump(TMS_GSTAGE_REFS, gRefs);
    bump(TMS_V_HIST_VS + min<u32>(vsRefs, 7));
    bump(TMS_V_HIST_G + min<u32>(gRefs, TMS_V_HIST_N - 1));
    bump(TMS_V_HIST_TOTAL + min<u32>(refs, TMS_V_HIST_N - 1));
    if (walkGpf) bump(TMS_V_GPF);
  } else {
    refs = modelWalk(va, isStore);
  }
  bump(TMS_WALKS);
  bump(TMS_WALK_REFS, refs);
  bump(TMS_HIST + min<u32>(refs, 7));
  const wc = <u64>refs * <u64>cfg(TMC_WALK_LAT);
  bump(TMS_WALK_CYCLES, wc);
  cost += wc;
  if (walkLevel < 0) {
    bump(TMS_FAULT_WALKS);
    return cost; // a faulting translation is not cached (Priv §4.3.2)
  }
  level = <u32>walkLevel;
  global = walkGlobal;
  if (virt != 0) setSt(TMST_VIRT_USED, 1);
  if (l2sets != 0 && insertIn(2, TM_L2, l2sets, l2ways, vpn, asid, level, global)) bump(TMS_L2_EVICT);
  if (insertIn(tlb, base, sets, ways, vpn, asid, level, global)) bump(cA + 3);
  return cost;
}

/**
 * Invalidate entries per sfence.vma semantics (Priv 1.12 §4.2.1) and count the flush. With V=1
 * sfence.vma is hfence.vvma for the current VMID (§8.2.12 / §8.3.2) and is counted as one.
 */
export function tmSfence(hasVa: bool, va: u64, hasAsid: bool, asid: u32): void {
  if (cfg(TMC_ENABLED) == 0) return;
  if (load<u64>(H_VIRT) != 0) {
    tmHfenceVvma(hasVa, va, hasAsid, asid, vmidOf(load<u64>(H_HGATP)));
    return;
  }
  bump(hasVa ? (hasAsid ? TMS_FLUSH_VADDR_ASID : TMS_FLUSH_VADDR) : hasAsid ? TMS_FLUSH_ASID : TMS_FLUSH_ALL);
  if (!hasVa && !hasAsid) {
    // Only HS-level (V=0) entries are flushed; without any guest entry that is everything.
    if (st(TMST_VIRT_USED) == 0) {
      tmFlushAllEntries();
      return;
    }
    flushAll3(false, 0, false, 0, false, 0, false, 0);
    memory.fill(TM_PWC, 0, 64 * TM_ENTRY);
    return;
  }
  const vpn = (va >> 12) & 0xfffffffffffff;
  flushAll3(hasVa, vpn, hasAsid, asid, cfg(TMC_ASID) != 0, 0, false, 0);
  // Non-leaf PTEs may have changed too: the page-walk cache is flushed by every fence.
  memory.fill(TM_PWC, 0, 64 * TM_ENTRY);
}

/**
 * hfence.vvma (Priv 1.12 §8.3.2): the VS-stage translations of guest `vmid` (the VMID in hgatp
 * when the fence executes), optionally of one guest-virtual address and/or one ASID.
 */
export function tmHfenceVvma(hasVa: bool, va: u64, hasAsid: bool, asid: u32, vmid: u32): void {
  if (cfg(TMC_ENABLED) == 0) return;
  bump(TMS_FLUSH_VVMA);
  const vpn = (va >> 12) & 0xfffffffffffff;
  flushAll3(hasVa, vpn, hasAsid, asid, cfg(TMC_ASID) != 0, 1, true, vmid);
  memory.fill(TM_PWC, 0, 64 * TM_ENTRY); // (V=0 entries too: the PWC is small and rarely matters)
}

/**
 * hfence.gvma (Priv 1.12 §8.3.2): G-stage translations, of one VMID or all, optionally of one
 * guest-physical address (hfence.gvma's rs1 holds GPA >> 2; pass the GPA). Composed entries do not
 * remember their GPA, so every entry of the VMID goes (the spec allows flushing more); the nested
 * TLB drops only the GPA's page when one is given.
 */
export function tmHfenceGvma(hasGpa: bool, gpa: u64, hasVmid: bool, vmid: u32, count: bool = true): void {
  if (cfg(TMC_ENABLED) == 0) return;
  if (count) bump(TMS_FLUSH_GVMA);
  flushAll3(false, 0, false, 0, false, 1, hasVmid, vmid);
  const n: u32 = 64;
  for (let i: u32 = 0; i < n; i++) {
    const e = TM_NTLB + i * TM_ENTRY;
    const t = load<u64>(e);
    if ((t & 1) == 0) continue;
    if (hasVmid && <u32>load<u16>(e, 16) != vmid) continue;
    if (hasGpa && (t >> 1) != (gpa >> 12)) continue;
    store<u64>(e, 0);
  }
  memory.fill(TM_PWC, 0, 64 * TM_ENTRY);
}

/** flushRange over the L1 I, L1 D and L2 arrays. */
function flushAll3(hasVa: bool, vpn: u64, hasAsid: bool, asid: u32, tagged: bool, virt: u32, hasVmid: bool, vmid: u32): void {
  flushRange(TM_L1I, 1024, hasVa, vpn, hasAsid, asid, tagged, virt, hasVmid, vmid);
  flushRange(TM_L1D, 1024, hasVa, vpn, hasAsid, asid, tagged, virt, hasVmid, vmid);
  flushRange(TM_L2, 4096, hasVa, vpn, hasAsid, asid, tagged, virt, hasVmid, vmid);
}

function flushRange(
  base: u32, n: u32, hasVa: bool, vpn: u64, hasAsid: bool, asid: u32, tagged: bool, virt: u32, hasVmid: bool, vmid: u32,
): void {
  for (let i: u32 = 0; i < n; i++) {
    const e = base + i * TM_ENTRY;
    const t = eTag(e);
    if ((t & 1) == 0) continue;
    if (eVirt(e) != virt) continue;
    if (hasVmid && eVmid(e) != vmid) continue;
    if (hasVa) {
      const sh = <u64>(9 * eLevel(e));
      if (((t >> 1) >> sh) != (vpn >> sh)) continue;
    }
    // An ASID-specific fence keeps global entries; without ASID tagging it cannot tell ASIDs apart.
    if (hasAsid && (eGlobal(e) || (tagged && eAsid(e) != asid))) continue;
    store<u64>(e, 0);
  }
}

/**
 * satp was written. The page-walk cache holds table pointers keyed by VA only, so it never
 * survives a change of address space; without ASID tags the TLBs must drop non-global entries too
 * (HS-level ones: a guest's entries do not depend on satp).
 */
export function tmSatpWrite(): void {
  if (cfg(TMC_ENABLED) == 0) return;
  memory.fill(TM_PWC, 0, 64 * TM_ENTRY);
  if (cfg(TMC_ASID) != 0) return;
  bump(TMS_FLUSH_SATP);
  flushAll3(false, 0, true, 0, false, 0, false, 0);
  memory.fill(TM_PWC, 0, 64 * TM_ENTRY);
}

@inline export function tmEnabled(): bool {
  return cfg(TMC_ENABLED) != 0;
}
