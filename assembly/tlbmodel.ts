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
 * Entries are tagged {VPN, level, ASID, global, VMID, V}; VMID and V are always 0 until the H
 * extension, which tags guest translations with them and counts G-stage references separately.
 * Superpages are inserted in the set of the 4 KiB VPN that missed (splintering, as most simulators
 * do): an entry matches any VPN of its superpage, but lives in one set.
 *
 * Counting rules (documented in docs/TIMING.md): data accesses are counted once per load/store/AMO
 * (twice for a misaligned access that crosses a page); instruction fetch is counted once per fetch
 * block — each time execution enters a page or is redirected (taken branch, jump, trap, return);
 * M-mode accesses without MPRV, and any access while satp is Bare, bypass the TLB and are not counted.
 */
import {
  TM_CFG, TM_CNT, TM_PLRU, TM_ENTRY, TM_L1I, TM_L1D, TM_L2, TM_PWC, H_SATP, RAM_GPA, RAM_OFFSET,
  C_RAM_SIZE,
} from './layout';

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
export const TMS_GSTAGE_REFS: u32 = 23; // G-stage references (H extension; 0 today)
export const TMS_HIST: u32 = 24; // 24..31: walks with 0..7 memory references
export const TMS_COUNT: u32 = 32;

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
/** A slow path's second translation of a page-crossing access (counted as its own access). */
export function tmAccessSecondPage(va: u64): void {
  extraCycles += tmAccess(va, false);
}
let rng: u32 = 0x9e3779b9;

export function tmReset(): void {
  memory.fill(TM_CNT, 0, TMS_COUNT * 8);
  tmFlushAllEntries();
  stamp = 0;
  // xorshift32 must not start at 0; every other seed is used as given.
  rng = cfg(TMC_SEED) == 0 ? 0x9e3779b9 : cfg(TMC_SEED);
}

function tmFlushAllEntries(): void {
  memory.fill(TM_PLRU, 0, 6144 * 2);
  memory.fill(TM_L1I, 0, (TM_PWC + 64 * TM_ENTRY) - TM_L1I);
}

// Entry fields
@inline function eTag(e: u32): u64 { return load<u64>(e); } // (vpn << 1) | valid
@inline function eAsid(e: u32): u32 { return load<u16>(e, 16); }
@inline function eLevel(e: u32): u32 { return load<u8>(e, 20); }
@inline function eGlobal(e: u32): bool { return load<u8>(e, 21) != 0; }

@inline function curAsid(): u32 {
  return <u32>(load<u64>(H_SATP) >> 44) & 0xffff;
}

/** Does entry e translate vpn under asid? */
@inline function matches(e: u32, vpn: u64, asid: u32): bool {
  const t = eTag(e);
  if ((t & 1) == 0) return false;
  const sh = <u64>(9 * eLevel(e));
  if (((t >> 1) >> sh) != (vpn >> sh)) return false;
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
  store<u16>(e, 0, 18); // VMID (H extension)
  store<u8>(e, <u8>level, 20);
  store<u8>(e, global ? 1 : 0, 21);
  store<u8>(e, 0, 22); // V bit (H extension)
  if (repl == 1) plruTouch(tlb, set, victim, ways);
  return evicted;
}

// ---------------------------------------------------------------------------------------------
// The modeled walk: the same page tables the architectural walker reads, read without side
// effects, to learn the leaf level and how many references the page-walk cache saves.

let walkLevel: i32 = -1;
let walkGlobal: bool = false;

function pwcLookup(level: u32, key: u64): bool {
  const n = cfg(TMC_PWC);
  for (let i: u32 = 0; i < n; i++) {
    const e = TM_PWC + i * TM_ENTRY;
    if (load<u64>(e) == ((key << 4) | (<u64>level << 1) | 1)) {
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
  store<u64>(e, (key << 4) | (<u64>level << 1) | 1);
  store<u64>(e, ++stamp, 8);
}

@inline function ramPte(pa: u64, ok: bool): u64 {
  return ok ? load<u64>(<usize>(pa - <u64>RAM_GPA + <u64>RAM_OFFSET)) : 0;
}

/** Walk for va; returns the number of memory references made. Sets walkLevel (-1 on a fault). */
function modelWalk(va: u64): u32 {
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
  const ramEnd = <u64>RAM_GPA + load<u64>(C_RAM_SIZE);
  while (true) {
    const pteAddr = a + (((va >> (12 + 9 * <u64>i)) & 0x1ff) << 3);
    const ok = pteAddr >= <u64>RAM_GPA && pteAddr + 8 <= ramEnd;
    const pte = ramPte(pteAddr, ok);
    if (i <= start) refs++;
    if (!ok || (pte & 1) == 0) return refs;
    if ((pte & 0x20) != 0) walkGlobal = true;
    if ((pte & 0xa) != 0) { walkLevel = i; return refs; }
    if (i == 0) return refs;
    if (i <= start) pwcInsert(<u32>i, va >> (12 + 9 * <u64>i));
    i--;
    a = ((pte >> 10) & 0xfffffffffff) << 12;
  }
}

/**
 * Count one translated access at va (fetch = instruction side) and return the cycles it costs.
 * Called only in timing mode and only for accesses that translate (not M-mode / Bare).
 */
export function tmAccess(va: u64, fetch: bool): u64 {
  const vpn = (va >> 12) & 0xfffffffffffff;
  const asid = curAsid();
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
  const refs = modelWalk(va);
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
  if (l2sets != 0 && insertIn(2, TM_L2, l2sets, l2ways, vpn, asid, level, global)) bump(TMS_L2_EVICT);
  if (insertIn(tlb, base, sets, ways, vpn, asid, level, global)) bump(cA + 3);
  return cost;
}

/** Invalidate entries per sfence.vma semantics (Priv 1.12 §4.2.1) and count the flush. */
export function tmSfence(hasVa: bool, va: u64, hasAsid: bool, asid: u32): void {
  if (cfg(TMC_ENABLED) == 0) return;
  bump(hasVa ? (hasAsid ? TMS_FLUSH_VADDR_ASID : TMS_FLUSH_VADDR) : hasAsid ? TMS_FLUSH_ASID : TMS_FLUSH_ALL);
  if (!hasVa && !hasAsid) {
    tmFlushAllEntries();
    return;
  }
  const vpn = (va >> 12) & 0xfffffffffffff;
  const asidTagged = cfg(TMC_ASID) != 0;
  flushRange(TM_L1I, 1024, hasVa, vpn, hasAsid, asid, asidTagged);
  flushRange(TM_L1D, 1024, hasVa, vpn, hasAsid, asid, asidTagged);
  flushRange(TM_L2, 4096, hasVa, vpn, hasAsid, asid, asidTagged);
  // Non-leaf PTEs may have changed too: the page-walk cache is flushed by every fence.
  memory.fill(TM_PWC, 0, 64 * TM_ENTRY);
}

function flushRange(base: u32, n: u32, hasVa: bool, vpn: u64, hasAsid: bool, asid: u32, tagged: bool): void {
  for (let i: u32 = 0; i < n; i++) {
    const e = base + i * TM_ENTRY;
    const t = eTag(e);
    if ((t & 1) == 0) continue;
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
 * survives a change of address space; without ASID tags the TLBs must drop non-global entries too.
 */
export function tmSatpWrite(): void {
  if (cfg(TMC_ENABLED) == 0) return;
  memory.fill(TM_PWC, 0, 64 * TM_ENTRY);
  if (cfg(TMC_ASID) != 0) return;
  bump(TMS_FLUSH_SATP);
  flushRange(TM_L1I, 1024, false, 0, true, 0, false);
  flushRange(TM_L1D, 1024, false, 0, true, 0, false);
  flushRange(TM_L2, 4096, false, 0, true, 0, false);
  memory.fill(TM_PWC, 0, 64 * TM_ENTRY);
}

@inline export function tmEnabled(): bool {
  return cfg(TMC_ENABLED) != 0;
}
