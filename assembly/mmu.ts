/**
 * The memory access path: host TLB (fast path, inlined into the run loop) and the slow path here.
 *
 *   vaddr ─▶ host TLB hit? ─yes─▶ host address = vaddr + addend ─▶ RAM in linear memory
 *              │ no
 *              ▼
 *   translate(vaddr, access)  M-mode (no MPRV) or satp = Bare: identity; otherwise the Sv39/48/57
 *              │              walker (Priv 1.12 §4.3.2). PMP checks every physical access of S/U
 *              │              (and locked entries for M), including the walker's PTE reads.
 *              ▼
 *   physical: RAM and not watched ─▶ fill the TLB entry (page-uniform PMP, not a code page for
 *                                    writes, PTE.D set for writes) ─▶ RAM
 *             otherwise            ─▶ mmio_read / mmio_write import (devices, watched ranges)
 *
 * The host TLB has one set of read/write/fetch arrays per regime (M, S, U; layout.ts), chosen at
 * block boundaries, so mode switches need no flush. The tag holds the page address; the compare
 * value carries the access's low alignment bits, so a misaligned access always misses (QEMU's
 * trick). Misaligned RAM accesses are performed (as on QEMU and most Linux-class cores); misaligned
 * MMIO accesses are access faults; misaligned LR/SC/AMOs raise address-misaligned (callers check).
 *
 * Nested translation (H extension, two-stage address translation): in the guest regimes (VS, VU,
 * HLV/HSV, MPRV with MPV) translateGuest() walks the VS stage (vsatp, GVA -> GPA) and calls the
 * G-stage translator gstage() (hgatp, GPA -> SPA) for every VS-stage PTE address and for the final
 * GPA (GUIDE §6, Spike's walk() -> s2xlate). Every G-stage translation can raise a guest-page fault
 * (htval = GPA >> 2; htinst = 0x3000 / 0x3020 for the walk's implicit PTE reads / A/D writes).
 * The host TLB's VS and VU sets cache the composed GVA -> SPA translation.
 *
 * A regime is the privilege of an access plus V << 2: M 3, S/HS 1, U 0, VS 5, VU 4.
 */
import {
  TLB_BASE, TLB_READ, TLB_WRITE, TLB_FETCH, TLB_ENTRIES, TLB_ENTRY, TLB_SET_SIZE, TLB_SETS, RAM_OFFSET,
  TLB_HART_SIZE, MAX_HARTS, C_HARTS,
  RAM_GPA, C_RAM_SIZE, C_MMIO_LO, C_MMIO_HI, WATCH_BASE, C_WATCH_COUNT, CODEMAP_BASE, C_UNMAPPED,
  PAGE_SHIFT, H_PRIV, H_MSTATUS, H_SATP, H_PMPCFG, H_PMPADDR, H_PMP_ACTIVE, H_AD_UPDATE, H_TRIG_ARMED,
  H_VIRT, H_HGATP, H_VSATP, H_VSSTATUS,
} from './layout';
import { trigData, TRIG_ARMED_DATA, TRIG_LOAD, TRIG_STORE, TRIG_AMO } from './trigger';
import { dbgWatchPage, dbgWatchAccess, DBG_WATCH, WATCH_READ, WATCH_WRITE } from './debug';
import { D_FLAGS } from './layout';
import { mmio_read, mmio_write } from './host';
import {
  raise, raiseGuest, excPending, CAUSE_LOAD_ACCESS, CAUSE_STORE_ACCESS, CAUSE_FETCH_ACCESS, CAUSE_LOAD_PAGE_FAULT,
  CAUSE_STORE_PAGE_FAULT, CAUSE_FETCH_PAGE_FAULT, CAUSE_FETCH_GUEST_PAGE_FAULT, CAUSE_LOAD_GUEST_PAGE_FAULT,
  CAUSE_STORE_GUEST_PAGE_FAULT,
} from './trap';
import { invalidateCode } from './frames';
import { extOn } from './isaext';
import { EXT_SVNAPOT, EXT_SVPBMT } from './generated/ops';
import { H_MENVCFG, H_HENVCFG } from './layout';
import { tmEnabled, tmAccessSecondPage } from './tlbmodel';
import { shadowActive, shadowTranslate, shadowTakeNoFill } from './shadow';
import {
  PRV_M, PRV_S, PRV_U, MSTATUS_MPRV, MSTATUS_MPP, MSTATUS_MPP_SHIFT, MSTATUS_SUM, MSTATUS_MXR, MSTATUS_MPV,
} from './hart';

export const ACCESS_READ: u32 = 0;
export const ACCESS_WRITE: u32 = 1;
export const ACCESS_FETCH: u32 = 2;

export const TLB_MASK: u32 = TLB_ENTRIES - 1;
/** A tag that no compare value can equal (compare values have bits 3..11 clear). */
export const TLB_INVALID: u64 = <u64>-1;
/** Linear-memory address minus guest-physical address for RAM. */
export const RAM_ADDEND: u64 = <u64>RAM_OFFSET - <u64>RAM_GPA;

@inline export function tlbIndex(va: u64): u32 {
  return (<u32>(va >> PAGE_SHIFT) & TLB_MASK) << 4;
}
/** Base of the running hart's host TLB region (layout.ts: one region per hart). */
let tlbHart: u32 = TLB_BASE;
let tlbHartBit: u32 = 1;
/**
 * Harts (bit per hart) whose S/U host-TLB sets may hold pieces of a superpage: the host TLB
 * splinters a superpage into 4 KiB entries, but `sfence.vma rs1` fences the leaf PTE that maps rs1
 * (Priv 1.12 §4.2.1) — the whole superpage — so on such a hart it must drop every entry.
 */
let superMapped: u32 = 0;
export function setTlbHart(hart: u32): void {
  tlbHart = TLB_BASE + hart * TLB_HART_SIZE;
  tlbHartBit = 1 << hart;
}

/** Guest regimes: bit 2 of a regime is V. */
export const REGIME_V: u32 = 4;
export const REGIME_VS: u32 = REGIME_V | PRV_S;
export const REGIME_VU: u32 = REGIME_V | PRV_U;

/** Host TLB set for a regime: M 0, S 1, U 2, VS 3, VU 4. */
@inline export function tlbSet(r: u32): u32 {
  return tlbHart + (r == PRV_M ? 0 : r == PRV_S ? TLB_SET_SIZE : r == PRV_U ? 2 * TLB_SET_SIZE :
    r == REGIME_VS ? 3 * TLB_SET_SIZE : 4 * TLB_SET_SIZE);
}
/** The regime of the current privilege (instruction fetch). */
@inline export function curRegime(): u32 {
  return <u32>load<u64>(H_PRIV) | (<u32>load<u64>(H_VIRT) << 2);
}

/** Flush every host TLB set of the running hart (PMP change). */
export function tlbFlushAll(): void {
  memory.fill(tlbHart, 0xff, TLB_HART_SIZE);
  superMapped &= ~tlbHartBit;
}
/** Flush every hart's host TLB (watched ranges changed, reset). */
export function tlbFlushAllHarts(): void {
  memory.fill(TLB_BASE, 0xff, MAX_HARTS * TLB_HART_SIZE);
  superMapped = 0;
}
/** Flush hart h's host TLB (a remote fence). */
export function tlbFlushHart(h: u32): void {
  memory.fill(TLB_BASE + h * TLB_HART_SIZE, 0xff, TLB_HART_SIZE);
  superMapped &= ~(<u32>1 << h);
}
/** Flush the HS-level translated regimes S and U (satp write, sfence.vma with V = 0, SUM/MXR change). */
export function tlbFlushVirtual(): void {
  memory.fill(tlbHart + TLB_SET_SIZE, 0xff, 2 * TLB_SET_SIZE);
  superMapped &= ~tlbHartBit;
}
/** Flush the guest regimes VS and VU (hgatp/vsatp write, hfence.*, sfence.vma with V = 1). */
export function tlbFlushGuest(): void {
  memory.fill(tlbHart + 3 * TLB_SET_SIZE, 0xff, 2 * TLB_SET_SIZE);
}
/** Flush hart h's guest regimes (a remote hfence from the SBI). */
export function tlbFlushGuestHart(h: u32): void {
  memory.fill(TLB_BASE + h * TLB_HART_SIZE + 3 * TLB_SET_SIZE, 0xff, 2 * TLB_SET_SIZE);
}
/** sfence.vma with rs1 = vaddr: drop the entries that could map that page. */
export function tlbFlushVaddr(va: u64): void {
  if ((superMapped & tlbHartBit) != 0) {
    tlbFlushVirtual(); // a superpage may map va: its other 4 KiB pieces go too
    return;
  }
  const i = tlbIndex(va);
  for (let s: u32 = 1; s < TLB_SETS; s++) {
    const base = tlbHart + s * TLB_SET_SIZE;
    store<u64>(base + (TLB_READ - TLB_BASE) + i, TLB_INVALID);
    store<u64>(base + (TLB_WRITE - TLB_BASE) + i, TLB_INVALID);
    store<u64>(base + (TLB_FETCH - TLB_BASE) + i, TLB_INVALID);
  }
}
/**
 * Writes to physical page `ppage` (page-aligned), which now holds decoded code, must take the slow
 * path: drop every hart's write entries that map it. An entry maps host page tag + addend, so a scan
 * of the write arrays finds them (5 × 1,024 entries a hart); flushing the whole arrays instead made
 * every other page's next store walk the page tables again (~550 frame fills in a Linux boot).
 */
export function tlbDropWritePage(ppage: u64): void {
  const host = ppage + RAM_ADDEND;
  const harts = max<u32>(1, load<u32>(C_HARTS));
  for (let h: u32 = 0; h < harts; h++) {
    for (let s: u32 = 0; s < TLB_SETS; s++) {
      const arr = TLB_BASE + h * TLB_HART_SIZE + s * TLB_SET_SIZE + (TLB_WRITE - TLB_BASE);
      for (let e = arr; e < arr + TLB_ENTRIES * TLB_ENTRY; e += TLB_ENTRY) {
        // An invalid tag (all ones) plus any addend is never a page-aligned host address here:
        // the sum keeps the tag's low bits set.
        if (load<u64>(e) + load<u64>(e, 8) == host) store<u64>(e, TLB_INVALID);
      }
    }
  }
}

@inline export function ramSize(): u64 {
  return load<u64>(C_RAM_SIZE);
}
@inline export function inRam(pa: u64, size: u32): bool {
  return pa >= <u64>RAM_GPA && pa - <u64>RAM_GPA + <u64>size <= ramSize();
}

/** Is the physical range [pa, pa+size) inside a watched range (routed to the host)? */
export function isWatched(pa: u64, size: u32): bool {
  const n = load<u32>(C_WATCH_COUNT);
  for (let i: u32 = 0; i < n; i++) {
    const b = load<u64>(WATCH_BASE + i * 16);
    const e = load<u64>(WATCH_BASE + i * 16 + 8);
    if (pa + <u64>size > b && pa < e) return true;
  }
  return false;
}

@inline export function codePage(pa: u64): bool {
  return load<u8>(CODEMAP_BASE + <u32>((pa - <u64>RAM_GPA) >> PAGE_SHIFT)) != 0;
}

// ---------------------------------------------------------------------------------------------
// Privilege of an access

/**
 * Regime of loads/stores: MPRV makes M-mode data accesses use MPP (Priv §3.1.6.3) and, with the
 * H extension, MPV (a guest regime when MPP is not M).
 */
export function dataPriv(): u32 {
  const p = <u32>load<u64>(H_PRIV);
  if (p == PRV_M) {
    const ms = load<u64>(H_MSTATUS);
    if ((ms & MSTATUS_MPRV) != 0) {
      const mpp = <u32>((ms & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT);
      return mpp != PRV_M && (ms & MSTATUS_MPV) != 0 ? mpp | REGIME_V : mpp;
    }
    return p;
  }
  return p | (<u32>load<u64>(H_VIRT) << 2);
}

// ---------------------------------------------------------------------------------------------
// PMP (Priv 1.12 §3.7)

const PMP_R: u8 = 1, PMP_W: u8 = 2, PMP_X: u8 = 4, PMP_A: u8 = 0x18, PMP_L: u8 = 0x80;
const PMP_TOR: u8 = 0x08, PMP_NA4: u8 = 0x10, PMP_NAPOT: u8 = 0x18;

/** Bounds [lo, hi) of PMP entry i (hi = 0 when OFF). */
let pmpLo: u64 = 0;
let pmpHi: u64 = 0;
function pmpRange(i: u32): void {
  const cfg = load<u8>(H_PMPCFG + i);
  const a = cfg & PMP_A;
  const addr = load<u64>(H_PMPADDR + i * 8);
  if (a == PMP_TOR) {
    pmpLo = i == 0 ? 0 : load<u64>(H_PMPADDR + (i - 1) * 8) << 2;
    pmpHi = addr << 2;
  } else if (a == PMP_NA4) {
    pmpLo = addr << 2;
    pmpHi = pmpLo + 4;
  } else if (a == PMP_NAPOT) {
    // pmpaddr = base/4 with trailing ones: size = 2^(ones + 3).
    const ones = <u64>ctz(~addr);
    if (ones >= 54) {
      pmpLo = 0;
      pmpHi = <u64>-1;
    } else {
      const size = (<u64>1) << (ones + 3);
      pmpLo = (addr << 2) & ~(size - 1);
      pmpHi = pmpLo + size;
    }
  } else {
    pmpLo = 0;
    pmpHi = 0;
  }
}

/** Permission bits PMP grants privilege p for physical [pa, pa+size); 0 when denied. */
export function pmpPerm(pa: u64, size: u32, p: u32): u8 {
  if (load<u64>(H_PMP_ACTIVE) == 0) return p == PRV_M ? 7 : 0;
  const end = pa + <u64>size;
  for (let i: u32 = 0; i < 16; i++) {
    const cfg = load<u8>(H_PMPCFG + i);
    if ((cfg & PMP_A) == 0) continue;
    pmpRange(i);
    if (end <= pmpLo || pa >= pmpHi) continue;
    // The first matching entry decides; it must cover every byte (Priv §3.7.1).
    if (pa < pmpLo || end > pmpHi) return 0;
    if (p == PRV_M && (cfg & PMP_L) == 0) return 7;
    return cfg & 7;
  }
  // No match: M-mode succeeds, S/U fail (we implement 16 entries).
  return p == PRV_M ? 7 : 0;
}

/** Does one PMP decision cover the whole 4 KiB page at `page` for privilege p? */
function pmpPageUniform(page: u64, p: u32): bool {
  if (load<u64>(H_PMP_ACTIVE) == 0) return true;
  const end = page + 4096;
  for (let i: u32 = 0; i < 16; i++) {
    const cfg = load<u8>(H_PMPCFG + i);
    if ((cfg & PMP_A) == 0) continue;
    pmpRange(i);
    if (end <= pmpLo || page >= pmpHi) continue;
    return page >= pmpLo && end <= pmpHi;
  }
  return true;
}

@inline function pmpAllows(pa: u64, size: u32, p: u32, access: u32): bool {
  const perm = pmpPerm(pa, size, p);
  const need: u8 = access == ACCESS_WRITE ? PMP_W : access == ACCESS_FETCH ? PMP_X : PMP_R;
  return (perm & need) != 0;
}

// ---------------------------------------------------------------------------------------------
// Page-table walk (Priv 1.12 §4.3.2, §4.4, §4.5, §4.6)

const PTE_V: u64 = 1, PTE_R: u64 = 2, PTE_W: u64 = 4, PTE_X: u64 = 8, PTE_U: u64 = 16;
const PTE_A: u64 = 64, PTE_D: u64 = 128;
const PTE_PPN_MASK: u64 = 0x003ffffffffffc00; // bits 53:10
const PTE_RESERVED: u64 = 0xffc0000000000000; // bits 63:54 (N, PBMT, reserved)
const PTE_N: u64 = (<u64>1) << 63; // Svnapot
const PTE_RSVD_60_54: u64 = 0x1fc0000000000000;
/** menvcfg / henvcfg.PBMTE (Svpbmt): PBMT bits are in use at that stage. */
const ENVCFG_PBMTE: u64 = (<u64>1) << 62;

/**
 * Are bits 63:54 of `pte` invalid (a page fault)? (Priv 20211203 §4.3.1; ch. 5 Svnapot, ch. 6
 * Svpbmt.) 60:54 are reserved. PBMT (62:61) is legal on a leaf when Svpbmt is on and the stage's
 * PBMTE is set, except the reserved value 3; N (63) on a leaf when Svnapot is on (the encoding
 * and level are checked with the leaf: napotBad). On a non-leaf PTE all of them are reserved.
 * Memory types are not modelled (no caches): PBMT changes nothing else.
 */
@inline function pteHighBad(pte: u64, pbmte: bool): bool {
  return (pte & PTE_RESERVED) != 0 && pteHighBadSlow(pte, pbmte);
}
function pteHighBadSlow(pte: u64, pbmte: bool): bool {
  if ((pte & PTE_RSVD_60_54) != 0) return true;
  const leaf = (pte & (PTE_R | PTE_X)) != 0;
  const pbmt = (pte >> 61) & 3;
  if (pbmt != 0 && (!leaf || !pbmte || pbmt == 3 || (extOn & EXT_SVPBMT) == 0)) return true;
  if ((pte & PTE_N) != 0 && (!leaf || (extOn & EXT_SVNAPOT) == 0)) return true;
  return false;
}
/** Svnapot: N = 1 is valid only on a level-0 leaf with ppn[3:0] = 1000 (a 64 KiB page). */
@inline function napotBad(pte: u64, level: i32): bool {
  return (pte & PTE_N) != 0 && (level != 0 || ((pte >> 10) & 0xf) != 8);
}
/** Page-offset mask of a leaf at `level`: a NAPOT leaf maps 64 KiB (ppn[3:0] come from the va). */
@inline function leafOffMask(pte: u64, level: i32): u64 {
  return (((<u64>1) << (12 + 9 * <u64>level)) - 1) | ((pte & PTE_N) != 0 ? <u64>0xffff : 0);
}

@inline function accessFault(access: u32): u64 {
  return access == ACCESS_WRITE ? CAUSE_STORE_ACCESS : access == ACCESS_FETCH ? CAUSE_FETCH_ACCESS : CAUSE_LOAD_ACCESS;
}
@inline function pageFault(access: u32): u64 {
  return access == ACCESS_WRITE ? CAUSE_STORE_PAGE_FAULT : access == ACCESS_FETCH ? CAUSE_FETCH_PAGE_FAULT : CAUSE_LOAD_PAGE_FAULT;
}


/**
 * Translate `va` for `access` at privilege `p`. Returns the physical address, or all ones after
 * raising a page fault or access fault (mtval/stval = va).
 */
export function translate(va: u64, access: u32, p: u32, size: u32 = 1): u64 {
  if ((p & REGIME_V) != 0) return translateGuest(va, access, p & 3, size);
  const satp = load<u64>(H_SATP);
  const mode = <u32>(satp >> 60);
  if (p == PRV_M || mode == 0) {
    if (!pmpAllows(va, size, p, access)) {
      raise(accessFault(access), va);
      return <u64>-1;
    }
    return va;
  }
  // Sv39 = 8, Sv48 = 9, Sv57 = 10: levels 3, 4, 5 of 9 VPN bits.
  const levels: u32 = mode - 5;
  const vaBits: u64 = 12 + 9 * <u64>levels;
  // The va must be the sign extension of its top translated bit (§4.4.1).
  const top = <i64>va >> <i64>(vaBits - 1);
  if (top != 0 && top != -1) {
    raise(pageFault(access), va);
    return <u64>-1;
  }
  const ms = load<u64>(H_MSTATUS);
  let a = (satp & 0xfffffffffff) << 12;
  let i = <i32>levels - 1;
  let pte: u64 = 0;
  let pteAddr: u64 = 0;
  while (true) {
    pteAddr = a + (((va >> (12 + 9 * <u64>i)) & 0x1ff) << 3);
    // Implicit PTE reads are S-mode accesses for PMP and must hit RAM (else access fault).
    if (!inRam(pteAddr, 8) || !pmpAllows(pteAddr, 8, PRV_S, ACCESS_READ)) {
      raise(accessFault(access), va);
      return <u64>-1;
    }
    pte = load<u64>(<usize>(pteAddr + RAM_ADDEND));
    if ((pte & PTE_V) == 0 || ((pte & PTE_R) == 0 && (pte & PTE_W) != 0) || pteHighBad(pte, (load<u64>(H_MENVCFG) & ENVCFG_PBMTE) != 0)) {
      raise(pageFault(access), va);
      return <u64>-1;
    }
    if ((pte & (PTE_R | PTE_X)) != 0) break; // leaf
    // Non-leaf: A, D, U must be zero (reserved for future use; §4.3.2 step 4).
    if ((pte & (PTE_A | PTE_D | PTE_U)) != 0 || i == 0) {
      raise(pageFault(access), va);
      return <u64>-1;
    }
    i--;
    a = (pte & PTE_PPN_MASK) << 2;
  }
  // Permission checks (§4.3.2 step 5).
  if (p == PRV_U) {
    if ((pte & PTE_U) == 0) { raise(pageFault(access), va); return <u64>-1; }
  } else if ((pte & PTE_U) != 0) {
    // S-mode may load/store U pages only with SUM, and never execute them.
    if (access == ACCESS_FETCH || (ms & MSTATUS_SUM) == 0) { raise(pageFault(access), va); return <u64>-1; }
  }
  let ok: bool;
  if (access == ACCESS_FETCH) ok = (pte & PTE_X) != 0;
  else if (access == ACCESS_WRITE) ok = (pte & PTE_W) != 0;
  else ok = (pte & PTE_R) != 0 || ((ms & MSTATUS_MXR) != 0 && (pte & PTE_X) != 0);
  if (!ok) { raise(pageFault(access), va); return <u64>-1; }
  // Misaligned superpage (§4.3.2 step 6): the low PPN fields of a superpage leaf must be zero.
  if (i > 0) {
    const lowMask: u64 = ((<u64>1) << (9 * <u64>i)) - 1;
    if (((pte >> 10) & lowMask) != 0) { raise(pageFault(access), va); return <u64>-1; }
  }
  if (napotBad(pte, i)) { raise(pageFault(access), va); return <u64>-1; }
  // A/D (§4.3.2 step 7): Svade faults when A (or D on a store) is clear; Svadu sets them.
  const need = access == ACCESS_WRITE ? PTE_A | PTE_D : PTE_A;
  if ((pte & need) != need) {
    if (load<u64>(H_AD_UPDATE) == 0) {
      raise(pageFault(access), va);
      return <u64>-1;
    }
    // The PTE update is an implicit S-mode store: PMP denying it is an access fault (§4.3.2 step 7).
    if (!pmpAllows(pteAddr, 8, PRV_S, ACCESS_WRITE)) {
      raise(accessFault(access), va);
      return <u64>-1;
    }
    pte |= need;
    if (codePage(pteAddr)) invalidateCode(pteAddr, 8);
    store<u64>(<usize>(pteAddr + RAM_ADDEND), pte);
  }
  const offMask = leafOffMask(pte, i);
  const pa = (((pte & PTE_PPN_MASK) << 2) & ~offMask) | (va & offMask);
  // PMP: the first entry matching any byte decides and must cover all of them (Priv §3.7.1).
  if (!pmpAllows(pa, size, p, access)) {
    raise(accessFault(access), va);
    return <u64>-1;
  }
  // A superpage or NAPOT page: its 4 KiB pieces may now be in the host TLB.
  if (i > 0 || (pte & PTE_N) != 0) superMapped |= tlbHartBit;
  return pa;
}

// ---------------------------------------------------------------------------------------------
// Two-stage translation (H extension, "Two-Stage Address Translation")

@inline function guestPageFault(access: u32): u64 {
  return access == ACCESS_WRITE ? CAUSE_STORE_GUEST_PAGE_FAULT : access == ACCESS_FETCH ? CAUSE_FETCH_GUEST_PAGE_FAULT : CAUSE_LOAD_GUEST_PAGE_FAULT;
}

/** HLVX: the explicit read needs execute permission (not read) in both stages. */
let hlvxAccess: bool = false;

// Kinds of G-stage translation: the final GPA of the access, or an implicit access of the
// VS-stage walk (a PTE read, or the PTE write of an A/D update).
const G_EXPLICIT: u32 = 0;
const G_PTE_READ: u32 = 1;
const G_PTE_WRITE: u32 = 2;
// htinst pseudo-instructions for guest-page faults on implicit VS-stage accesses (RV64: 0x3000 a
// read, 0x3020 a write; "Transformed Instruction or Pseudoinstruction for mtinst or htinst").
const TINST_PTE_READ: u64 = 0x3000;
const TINST_PTE_WRITE: u64 = 0x3020;

/**
 * G-stage translation of guest-physical `gpa` (hgatp: Bare, Sv39x4, Sv48x4, Sv57x4). `access` is
 * the original access type (it picks the fault cause: fetch 20, load 21, store/AMO 23), `gva` the
 * guest virtual address reported in xtval. Returns the supervisor physical address, or all ones
 * after raising. Every G-stage access counts as a U-mode access: each leaf needs U = 1.
 */
function gstage(gpa: u64, access: u32, gva: u64, kind: u32): u64 {
  const hgatp = load<u64>(H_HGATP);
  const mode = <u32>(hgatp >> 60);
  if (mode == 0) return gpa; // Bare: SPA = GPA
  const write = kind == G_PTE_WRITE || (kind == G_EXPLICIT && access == ACCESS_WRITE);
  const tinst: u64 = kind == G_PTE_READ ? TINST_PTE_READ : kind == G_PTE_WRITE ? TINST_PTE_WRITE : 0;
  const cause = guestPageFault(access);
  // Sv39x4 = 8, Sv48x4 = 9, Sv57x4 = 10: the root table has 2 more index bits (2048 entries,
  // 16 KiB) and the GPA 2 more bits than the VA of Sv39/48/57; higher GPA bits must be zero.
  const levels: u32 = mode - 5;
  const gpaBits: u64 = 12 + 9 * <u64>levels + 2;
  if ((gpa >> gpaBits) != 0) {
    raiseGuest(cause, gva, gpa >> 2, tinst);
    return <u64>-1;
  }
  let a = (hgatp & 0xfffffffffff) << 12;
  let i = <i32>levels - 1;
  let pte: u64 = 0;
  let pteAddr: u64 = 0;
  while (true) {
    const idxMask: u64 = i == <i32>levels - 1 ? 0x7ff : 0x1ff;
    pteAddr = a + (((gpa >> (12 + 9 * <u64>i)) & idxMask) << 3);
    // G-stage PTE reads are implicit HS-level accesses: PMP as for S, RAM only.
    if (!inRam(pteAddr, 8) || !pmpAllows(pteAddr, 8, PRV_S, ACCESS_READ)) {
      raiseGuest(accessFault(access), gva, 0, 0);
      return <u64>-1;
    }
    pte = load<u64>(<usize>(pteAddr + RAM_ADDEND));
    if ((pte & PTE_V) == 0 || ((pte & PTE_R) == 0 && (pte & PTE_W) != 0) || pteHighBad(pte, (load<u64>(H_MENVCFG) & ENVCFG_PBMTE) != 0)) {
      raiseGuest(cause, gva, gpa >> 2, tinst);
      return <u64>-1;
    }
    if ((pte & (PTE_R | PTE_X)) != 0) break;
    if ((pte & (PTE_A | PTE_D | PTE_U)) != 0 || i == 0) {
      raiseGuest(cause, gva, gpa >> 2, tinst);
      return <u64>-1;
    }
    i--;
    a = (pte & PTE_PPN_MASK) << 2;
  }
  // Leaf: U = 1 required (G-stage accesses are U-level); then R/W/X for the access. Implicit
  // walk accesses are reads (writes for A/D updates); HS-level mstatus.MXR applies to both stages.
  let ok = (pte & PTE_U) != 0;
  if (ok) {
    if (write) ok = (pte & PTE_W) != 0;
    else if (kind == G_EXPLICIT && access == ACCESS_FETCH) ok = (pte & PTE_X) != 0;
    else if (kind == G_EXPLICIT && hlvxAccess) ok = (pte & PTE_X) != 0;
    else ok = (pte & PTE_R) != 0 || ((load<u64>(H_MSTATUS) & MSTATUS_MXR) != 0 && (pte & PTE_X) != 0);
  }
  if (ok && i > 0) {
    const lowMask: u64 = ((<u64>1) << (9 * <u64>i)) - 1;
    ok = ((pte >> 10) & lowMask) == 0;
  }
  if (napotBad(pte, i)) ok = false;
  if (!ok) {
    raiseGuest(cause, gva, gpa >> 2, tinst);
    return <u64>-1;
  }
  const need = write ? PTE_A | PTE_D : PTE_A;
  if ((pte & need) != need) {
    if (load<u64>(H_AD_UPDATE) == 0) {
      raiseGuest(cause, gva, gpa >> 2, tinst);
      return <u64>-1;
    }
    if (!pmpAllows(pteAddr, 8, PRV_S, ACCESS_WRITE)) {
      raiseGuest(accessFault(access), gva, 0, 0);
      return <u64>-1;
    }
    pte |= need;
    if (codePage(pteAddr)) invalidateCode(pteAddr, 8);
    store<u64>(<usize>(pteAddr + RAM_ADDEND), pte);
  }
  const offMask = leafOffMask(pte, i);
  return (((pte & PTE_PPN_MASK) << 2) & ~offMask) | (gpa & offMask);
}

/**
 * Translate guest virtual `va` for `access` at guest privilege p (VS 1, VU 0): the VS stage
 * (vsatp; Bare makes GPA = VA, the G stage still applies) composed with the G stage. Returns the
 * supervisor physical address, or all ones after raising (every fault reports GVA = 1).
 */
function translateGuest(va: u64, access: u32, p: u32, size: u32): u64 {
  // Shadow paging (shadow.ts): vsatp is the VMM's shadow; its page faults are sorted there first.
  if (shadowActive()) return shadowTranslate(va, access, p, size);
  return translateGuestWalk(va, access, p, size);
}
export function translateGuestWalk(va: u64, access: u32, p: u32, size: u32): u64 {
  const vsatp = load<u64>(H_VSATP);
  const mode = <u32>(vsatp >> 60);
  let gpa: u64;
  if (mode == 0) {
    gpa = va;
  } else {
    const levels: u32 = mode - 5;
    const vaBits: u64 = 12 + 9 * <u64>levels;
    const top = <i64>va >> <i64>(vaBits - 1);
    if (top != 0 && top != -1) {
      raiseGuest(pageFault(access), va, 0, 0);
      return <u64>-1;
    }
    const vs = load<u64>(H_VSSTATUS);
    const ms = load<u64>(H_MSTATUS);
    let a = (vsatp & 0xfffffffffff) << 12; // a GPA
    let i = <i32>levels - 1;
    let pte: u64 = 0;
    let pteGpa: u64 = 0;
    let pteAddr: u64 = 0;
    while (true) {
      pteGpa = a + (((va >> (12 + 9 * <u64>i)) & 0x1ff) << 3);
      // Each VS-stage PTE address goes through the G stage (an implicit read).
      pteAddr = gstage(pteGpa, access, va, G_PTE_READ);
      if (pteAddr == <u64>-1) return <u64>-1;
      if (!inRam(pteAddr, 8) || !pmpAllows(pteAddr, 8, PRV_S, ACCESS_READ)) {
        raiseGuest(accessFault(access), va, 0, 0);
        return <u64>-1;
      }
      pte = load<u64>(<usize>(pteAddr + RAM_ADDEND));
      if ((pte & PTE_V) == 0 || ((pte & PTE_R) == 0 && (pte & PTE_W) != 0) ||
        pteHighBad(pte, (load<u64>(H_MENVCFG) & load<u64>(H_HENVCFG) & ENVCFG_PBMTE) != 0)) {
        raiseGuest(pageFault(access), va, 0, 0);
        return <u64>-1;
      }
      if ((pte & (PTE_R | PTE_X)) != 0) break;
      if ((pte & (PTE_A | PTE_D | PTE_U)) != 0 || i == 0) {
        raiseGuest(pageFault(access), va, 0, 0);
        return <u64>-1;
      }
      i--;
      a = (pte & PTE_PPN_MASK) << 2;
    }
    // VS-stage permissions: vsstatus.SUM for VS access to U pages; MXR from vsstatus or the
    // HS-level sstatus; HLVX needs X.
    let ok: bool;
    if (p == PRV_U) ok = (pte & PTE_U) != 0;
    else ok = (pte & PTE_U) == 0 || (access != ACCESS_FETCH && (vs & MSTATUS_SUM) != 0);
    if (ok) {
      if (access == ACCESS_FETCH || hlvxAccess) ok = (pte & PTE_X) != 0;
      else if (access == ACCESS_WRITE) ok = (pte & PTE_W) != 0;
      else ok = (pte & PTE_R) != 0 || (((vs | ms) & MSTATUS_MXR) != 0 && (pte & PTE_X) != 0);
    }
    if (ok && i > 0) {
      const lowMask: u64 = ((<u64>1) << (9 * <u64>i)) - 1;
      ok = ((pte >> 10) & lowMask) == 0;
    }
    if (napotBad(pte, i)) ok = false;
    if (!ok) {
      raiseGuest(pageFault(access), va, 0, 0);
      return <u64>-1;
    }
    const need = access == ACCESS_WRITE ? PTE_A | PTE_D : PTE_A;
    if ((pte & need) != need) {
      if (load<u64>(H_AD_UPDATE) == 0) {
        raiseGuest(pageFault(access), va, 0, 0);
        return <u64>-1;
      }
      // The A/D update is an implicit write of the PTE: a G-stage write translation.
      const wAddr = gstage(pteGpa, access, va, G_PTE_WRITE);
      if (wAddr == <u64>-1) return <u64>-1;
      if (!pmpAllows(wAddr, 8, PRV_S, ACCESS_WRITE)) {
        raiseGuest(accessFault(access), va, 0, 0);
        return <u64>-1;
      }
      pte |= need;
      if (codePage(wAddr)) invalidateCode(wAddr, 8);
      store<u64>(<usize>(wAddr + RAM_ADDEND), pte);
    }
    const offMask = leafOffMask(pte, i);
    gpa = (((pte & PTE_PPN_MASK) << 2) & ~offMask) | (va & offMask);
  }
  const pa = gstage(gpa, access, va, G_EXPLICIT);
  if (pa == <u64>-1) return <u64>-1;
  if (!pmpAllows(pa, size, p, access)) {
    raiseGuest(accessFault(access), va, 0, 0);
    return <u64>-1;
  }
  return pa;
}

// ---------------------------------------------------------------------------------------------
// Physical access

function ramLoad(pa: u64, size: u32): u64 {
  const h = <usize>(pa + RAM_ADDEND);
  if (size == 8) return load<u64>(h);
  if (size == 4) return <u64>load<u32>(h);
  if (size == 2) return <u64>load<u16>(h);
  return <u64>load<u8>(h);
}
function ramStore(pa: u64, size: u32, v: u64): void {
  const h = <usize>(pa + RAM_ADDEND);
  if (size == 8) store<u64>(h, v);
  else if (size == 4) store<u32>(h, <u32>v);
  else if (size == 2) store<u16>(h, <u16>v);
  else store<u8>(h, <u8>v);
}

function physLoad(pa: u64, size: u32, va: u64): u64 {
  if (inRam(pa, size) && !isWatched(pa, size)) return ramLoad(pa, size);
  slowStayedInRam = false;
  if ((pa & <u64>(size - 1)) == 0 && mmio_read(<u32>pa, <u32>(pa >> 32), size) == 0) {
    const lo = <u64>load<u32>(C_MMIO_LO);
    return size == 8 ? lo | (<u64>load<u32>(C_MMIO_HI) << 32) : lo;
  }
  store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
  raise(CAUSE_LOAD_ACCESS, va);
  return 0;
}

function physStore(pa: u64, size: u32, v: u64, va: u64): void {
  if (inRam(pa, size) && !isWatched(pa, size)) {
    if (codePage(pa)) invalidateCode(pa, size);
    ramStore(pa, size, v);
    return;
  }
  slowStayedInRam = false;
  if ((pa & <u64>(size - 1)) == 0 && mmio_write(<u32>pa, <u32>(pa >> 32), size, <u32>v, <u32>(v >> 32)) == 0) return;
  store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
  raise(CAUSE_STORE_ACCESS, va);
}

/** Page of pa holds a watched range? */
function pageWatched(pa: u64): bool {
  return isWatched(pa & ~(<u64>0xfff), 4096);
}

/** Fill the host TLB entry for va's page in regime p if that page is plain, uniformly permitted RAM. */
function tlbFill(arr: u32, va: u64, pa: u64, access: u32, p: u32): void {
  // A store emulated onto a write-protected guest page-table page (shadow paging) must trap again.
  if (shadowTakeNoFill()) return;
  const page = pa & ~(<u64>0xfff);
  if (!inRam(page, 4096) || pageWatched(pa) || !pmpPageUniform(page, p & 3)) return;
  if (access == ACCESS_WRITE && codePage(pa)) return;
  // Armed load/store triggers (trigger.ts): every data access must take the slow path.
  if (access != ACCESS_FETCH && (load<u64>(H_TRIG_ARMED) & TRIG_ARMED_DATA) != 0) return;
  // Host debugger watch ranges (debug.ts): their pages' data accesses must all take the slow path.
  if (access != ACCESS_FETCH && (load<u32>(D_FLAGS) & DBG_WATCH) != 0 && dbgWatchPage(va)) return;
  const e = tlbSet(p) + (arr - TLB_BASE) + tlbIndex(va);
  store<u64>(e, va & ~(<u64>0xfff));
  store<u64>(e, page + RAM_ADDEND - (va & ~(<u64>0xfff)), 8);
}

/** Does the modeled TLB see data accesses at privilege p (timing mode, translated regime)? */
@inline function tmCounts(p: u32): bool {
  return tmEnabled() && p != PRV_M && translating(p);
}
/** Does regime r translate addresses (satp, or vsatp / hgatp for a guest regime)? */
export function translating(r: u32): bool {
  if ((r & REGIME_V) != 0) return ((load<u64>(H_VSATP) | load<u64>(H_HGATP)) >> 60) != 0;
  return r != PRV_M && (load<u64>(H_SATP) >> 60) != 0;
}

// ---------------------------------------------------------------------------------------------
// Slow paths called by the run loop on a host TLB miss. On a fault they raise() and return 0.

/**
 * The last loadSlow / storeSlow touched only RAM (no device, no watched range). The run loop then
 * goes on with the next instruction in the same block instead of ending the block: whether an
 * access takes the slow path depends on host-side caches (this hart's host TLB, which pages have
 * decoded frames, flushes made for other guests on the same core), and a block boundary is where
 * pending interrupts are taken and deadlines end a run. Ending blocks there made a guest's
 * instruction count depend on what else the host ran (issue 10 scope 1: a VM's run is the same
 * whatever its neighbours do). A device access still ends the block: it may raise an interrupt
 * or stop the run.
 */
export let slowStayedInRam: bool = true;

export function loadSlow(va: u64, size: u32): u64 {
  slowStayedInRam = true;
  // Load address triggers fire before the access and before its faults (Sdtrig priority table).
  if ((load<u64>(H_TRIG_ARMED) & TRIG_ARMED_DATA) != 0 && trigData(va, size, TRIG_LOAD)) return 0;
  return loadSlowIn(va, size, dataPriv());
}
export function loadSlowIn(va: u64, size: u32, p: u32): u64 {
  if ((va & 0xfff) + <u64>size > 4096) {
    if (tmCounts(p)) tmAccessSecondPage(va + <u64>size - 1);
    // Misaligned access crossing a page: translate and check every byte first (RAM only: a
    // misaligned access never reaches a device), then read byte by byte. A fault reports the
    // address of the first byte that failed (Priv 1.12 §3.1.16).
    for (let i: u32 = 0; i < size; i++) {
      const pa = translate(va + i, ACCESS_READ, p);
      if (excPending != 0) return 0;
      if (!inRam(pa, 1) || isWatched(pa, 1)) {
        store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
        raise(CAUSE_LOAD_ACCESS, va + i);
        return 0;
      }
    }
    let v: u64 = 0;
    for (let i: u32 = 0; i < size; i++) v |= ramLoad(translate(va + i, ACCESS_READ, p), 1) << (<u64>i * 8);
    if ((load<u32>(D_FLAGS) & DBG_WATCH) != 0) dbgWatchAccess(va, size, WATCH_READ, v);
    return v;
  }
  const pa = translate(va, ACCESS_READ, p, size);
  if (excPending != 0) return 0;
  // (An HLVX translation checked execute permission: it must not fill the read array.)
  if ((va & <u64>(size - 1)) == 0 && !hlvxAccess) tlbFill(TLB_READ, va, pa, ACCESS_READ, p);
  const v = physLoad(pa, size, va);
  // Host debugger watch ranges (debug.ts): the access completed.
  if ((load<u32>(D_FLAGS) & DBG_WATCH) != 0 && excPending == 0) dbgWatchAccess(va, size, WATCH_READ, v);
  return v;
}
/** The byte stores of a page-crossing store are one access for the host debugger's watch ranges. */
let watchMute = false;

export function storeSlow(va: u64, size: u32, v: u64): void {
  slowStayedInRam = true;
  if ((load<u64>(H_TRIG_ARMED) & TRIG_ARMED_DATA) != 0 && trigData(va, size, TRIG_STORE)) return;
  storeSlowIn(va, size, v, dataPriv());
}
// The bytes of a page-crossing store are one access: triggers were checked for all of it (storeSlow).
export function storeSlowIn(va: u64, size: u32, v: u64, p: u32): void {
  if ((va & 0xfff) + <u64>size > 4096) {
    if (tmCounts(p)) tmAccessSecondPage(va + <u64>size - 1, true);
    // Translate and check every byte before writing any, so a fault leaves memory unchanged.
    for (let i: u32 = 0; i < size; i++) {
      const pa = translate(va + i, ACCESS_WRITE, p);
      if (excPending != 0) return;
      if (!inRam(pa, 1) || isWatched(pa, 1)) {
        store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
        raise(CAUSE_STORE_ACCESS, va + i);
        return;
      }
    }
    watchMute = true;
    for (let i: u32 = 0; i < size; i++) storeSlowIn(va + i, 1, v >> (<u64>i * 8), p);
    watchMute = false;
    if ((load<u32>(D_FLAGS) & DBG_WATCH) != 0) dbgWatchAccess(va, size, WATCH_WRITE, v);
    return;
  }
  const pa = translate(va, ACCESS_WRITE, p, size);
  if (excPending != 0) return;
  if ((va & <u64>(size - 1)) == 0) tlbFill(TLB_WRITE, va, pa, ACCESS_WRITE, p);
  physStore(pa, size, v, va);
  if ((load<u32>(D_FLAGS) & DBG_WATCH) != 0 && !watchMute && excPending == 0) {
    dbgWatchAccess(va, size, WATCH_WRITE, size == 8 ? v : v & ((<u64>1 << (<u64>size * 8)) - 1));
  }
}

/** fetchPage's host-TLB hit alone: the physical page of `va`, or all ones when the fetch entry misses (no walk, no fault). */
@inline export function fetchPageHit(va: u64): u64 {
  const e = tlbSet(curRegime()) + (TLB_FETCH - TLB_BASE) + tlbIndex(va);
  const vp = va & ~(<u64>0xfff);
  return load<u64>(e) == vp ? vp + load<u64>(e, 8) - RAM_ADDEND : <u64>-1;
}

/**
 * Physical address of the RAM page holding instruction address `va` (current privilege), or all
 * ones after raising a fetch page fault or access fault (fetch from a device or unmapped space).
 */
export function fetchPage(va: u64): u64 {
  const hit = fetchPageHit(va);
  if (hit != <u64>-1) return hit;
  const p = curRegime();
  const pa = translate(va, ACCESS_FETCH, p, 2);
  if (excPending != 0) return <u64>-1;
  if (!inRam(pa, 2)) {
    store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
    raise(CAUSE_FETCH_ACCESS, va);
    return <u64>-1;
  }
  tlbFill(TLB_FETCH, va, pa, ACCESS_FETCH, p);
  return pa & ~(<u64>0xfff);
}

/** Read a 16-bit parcel of code at physical pa (RAM already checked by fetchPage). */
@inline export function fetch16(pa: u64): u32 {
  return <u32>load<u16>(<usize>(pa + RAM_ADDEND));
}

/**
 * The host-TLB hit of a data access of `size` bytes at va in regime r's array `arr` (TLB_READ or
 * TLB_WRITE): its host address, or 0 on a miss or when va is misaligned (the slow path, as the run
 * loop does). For the accesses whose regime or kind is not the block's: AMOs, LR/SC, HLV/HSV.
 */
@inline function tlbHit(arr: u32, va: u64, size: u32, r: u32): usize {
  if ((va & <u64>(size - 1)) != 0) return 0;
  const e = tlbSet(r) + (arr - TLB_BASE) + tlbIndex(va);
  if (load<u64>(e) != (va & ~(<u64>0xfff))) return 0;
  return <usize>(va + load<u64>(e, 8));
}

/** Host address for an aligned AMO/LR/SC at va, or 0 after raising (fault, or outside RAM). */
export function amoAddress(va: u64, size: u32, write: bool): usize {
  // LR is a load; SC and the AMOs are matched as loads and stores (an AMO is both).
  if ((load<u64>(H_TRIG_ARMED) & TRIG_ARMED_DATA) != 0 && trigData(va, size, write ? TRIG_AMO : TRIG_LOAD)) return 0;
  const p = dataPriv();
  // Host-TLB hit (the compiled AMOs' fast path too): a write entry maps a page the walk found
  // writable (hence readable: W without R is reserved in PTEs and PMP), dirty, plain RAM and not a
  // code page; a read entry a readable one. No entry exists while data triggers or watch ranges
  // are armed on the page (tlbFill).
  const hit = tlbHit(write ? TLB_WRITE : TLB_READ, va, size, p);
  if (hit != 0) return hit;
  // AMOs need read and write permission; LR needs read (Unpriv 8.4, Priv §4.3.2).
  const pa = translate(va, write ? ACCESS_WRITE : ACCESS_READ, p, size);
  if (excPending != 0) return 0;
  // An AMO also reads: W without R is a reserved PTE encoding, so write permission implies read.
  if (!inRam(pa, size) || isWatched(pa, size)) {
    store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
    raise(write ? CAUSE_STORE_ACCESS : CAUSE_LOAD_ACCESS, va);
    return 0;
  }
  if (write && codePage(pa)) invalidateCode(pa, size);
  else tlbFill(write ? TLB_WRITE : TLB_READ, va, pa, write ? ACCESS_WRITE : ACCESS_READ, p);
  // Host debugger watch ranges (debug.ts): an AMO or SC reads and writes, LR reads; the value
  // reported is the memory's before the instruction.
  if ((load<u32>(D_FLAGS) & DBG_WATCH) != 0) {
    const h = <usize>(pa + RAM_ADDEND);
    dbgWatchAccess(va, size, write ? WATCH_READ | WATCH_WRITE : WATCH_READ, size == 4 ? <u64>load<u32>(h) : load<u64>(h));
  }
  return <usize>(pa + RAM_ADDEND);
}


// ---------------------------------------------------------------------------------------------
// Hypervisor virtual-machine loads and stores (H ext. "HLV, HLVX, HSV"): explicit accesses made as
// though V = 1 at privilege hstatus.SPVP, from HS-mode, M-mode or (hstatus.HU) U-mode. They take
// the slow path (their regime is not the block's) and every fault reports a guest virtual address.

//
// HLV/HSV use the guest translations cached in the host TLB's VS / VU sets, as the guest's own
// accesses do: until an HFENCE (or a vsatp/hgatp write) drops them, a changed VS- or G-stage PTE
// may or may not be seen (Priv, "Hypervisor Memory-Management Fence Instructions"), and an HS-mode
// SFENCE.VMA leaves them alone. riscv-hyp-tests' hfence test checks exactly this: an HLV after a
// G-stage PTE change without a fence (or after an HS sfence.vma) still reads through the old
// translation, and after HFENCE.VVMA / HFENCE.GVMA through the new one (test/guests/hyp/hyp2.c).

/** HLV.* / HLVX.*: load `size` bytes at guest virtual va in regime VS or VU (exec: HLVX). */
export function hypLoad(va: u64, size: u32, r: u32, exec: bool): u64 {
  // HLVX checks execute permission: the read array's entries say nothing about that.
  if (!exec) {
    const h = tlbHit(TLB_READ, va, size, r);
    if (h != 0) {
      if (size == 1) return <u64>load<u8>(h);
      if (size == 2) return <u64>load<u16>(h);
      if (size == 4) return <u64>load<u32>(h);
      return load<u64>(h);
    }
  }
  hlvxAccess = exec;
  const v = loadSlowIn(va, size, r);
  hlvxAccess = false;
  return v;
}
/** HSV.*: store at guest virtual va in regime VS or VU. */
export function hypStore(va: u64, size: u32, v: u64, r: u32): void {
  const h = tlbHit(TLB_WRITE, va, size, r);
  if (h != 0) {
    if (size == 1) store<u8>(h, <u8>v);
    else if (size == 2) store<u16>(h, <u16>v);
    else if (size == 4) store<u32>(h, <u32>v);
    else store<u64>(h, v);
    return;
  }
  storeSlowIn(va, size, v, r);
}

