/**
 * The memory access path: host TLB (fast path, inlined into the run loop) and the slow path here.
 *
 *   vaddr ─▶ host TLB hit? ─yes─▶ host address = vaddr + addend ─▶ RAM in linear memory
 *              │ no
 *              ▼
 *   translate(vaddr, access)   (identity while satp is Bare / in M-mode; the Sv39/48/57 walker and
 *              │                the G-stage plug in here: they produce the same physical address)
 *              ▼
 *   physical: RAM and not watched ─▶ fill the TLB entry (unless a code page, for writes) ─▶ RAM
 *             otherwise            ─▶ mmio_read / mmio_write import (devices, watched ranges)
 *
 * The TLB tag holds the page address; the compare value carries the access's low alignment bits
 * (vaddr & (size-1)), so a misaligned access always misses and takes the slow path (QEMU's trick).
 * Misaligned RAM accesses are performed (as on QEMU and most Linux-class cores); misaligned MMIO
 * accesses are access faults; misaligned LR/SC/AMOs raise address-misaligned (checked by callers).
 */
import {
  TLB_READ, TLB_WRITE, TLB_FETCH, TLB_ENTRIES, TLB_ENTRY, TLB_BITS, RAM_OFFSET, RAM_GPA, C_RAM_SIZE,
  C_MMIO_LO, C_MMIO_HI, WATCH_BASE, C_WATCH_COUNT, CODEMAP_BASE, C_UNMAPPED, PAGE_SHIFT,
} from './layout';
import { mmio_read, mmio_write } from './host';
import { raise, CAUSE_LOAD_ACCESS, CAUSE_STORE_ACCESS, CAUSE_FETCH_ACCESS } from './trap';
import { invalidateCode } from './frames';

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

/** Flush the whole host TLB (satp writes, sfence.vma, privilege/MPRV changes, new code pages). */
export function tlbFlushAll(): void {
  memory.fill(TLB_READ, 0xff, TLB_ENTRIES * TLB_ENTRY * 3);
}
export function tlbFlushWrite(): void {
  memory.fill(TLB_WRITE, 0xff, TLB_ENTRIES * TLB_ENTRY);
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
/** Does the 4 KiB page holding pa contain a watched range? */
function pageWatched(pa: u64): bool {
  const n = load<u32>(C_WATCH_COUNT);
  const pb = pa & ~(<u64>0xfff);
  for (let i: u32 = 0; i < n; i++) {
    const b = load<u64>(WATCH_BASE + i * 16);
    const e = load<u64>(WATCH_BASE + i * 16 + 8);
    if (pb + 4096 > b && pb < e) return true;
  }
  return false;
}

@inline export function codePage(pa: u64): bool {
  return load<u8>(CODEMAP_BASE + <u32>((pa - <u64>RAM_GPA) >> PAGE_SHIFT)) != 0;
}

/**
 * Address translation for data and fetch. M-mode without MPRV, and satp = Bare, use the identity;
 * the supervisor issue adds the Sv39/48/57 walker here (and the G-stage under it). On a fault it
 * raises the exception and returns the all-ones address.
 */
@inline export function translate(va: u64, access: u32): u64 {
  return va;
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

/** Load `size` bytes at physical `pa` (naturally aligned or not, within one page). */
function physLoad(pa: u64, size: u32, cause: u64, va: u64): u64 {
  if (inRam(pa, size) && !isWatched(pa, size)) return ramLoad(pa, size);
  if ((pa & <u64>(size - 1)) == 0 && mmio_read(<u32>pa, <u32>(pa >> 32), size) == 0) {
    const lo = <u64>load<u32>(C_MMIO_LO);
    return size == 8 ? lo | (<u64>load<u32>(C_MMIO_HI) << 32) : lo;
  }
  store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
  raise(cause, va);
  return 0;
}

function physStore(pa: u64, size: u32, v: u64, va: u64): void {
  if (inRam(pa, size) && !isWatched(pa, size)) {
    if (codePage(pa)) invalidateCode(pa, size);
    ramStore(pa, size, v);
    return;
  }
  if ((pa & <u64>(size - 1)) == 0 && mmio_write(<u32>pa, <u32>(pa >> 32), size, <u32>v, <u32>(v >> 32)) == 0) return;
  store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
  raise(CAUSE_STORE_ACCESS, va);
}

/** Fill the host TLB entry for va's page if that page is plain RAM. */
function tlbFill(base: u32, va: u64, pa: u64, access: u32): void {
  if (!inRam(pa & ~(<u64>0xfff), 4096) || pageWatched(pa)) return;
  if (access == ACCESS_WRITE && codePage(pa)) return;
  const e = base + tlbIndex(va);
  store<u64>(e, va & ~(<u64>0xfff));
  store<u64>(e, (pa & ~(<u64>0xfff)) + RAM_ADDEND - (va & ~(<u64>0xfff)), 8);
}

// ---------------------------------------------------------------------------------------------
// Slow paths called by the run loop on a TLB miss. On a fault they raise() and return 0.

export function loadSlow(va: u64, size: u32): u64 {
  if ((va & 0xfff) + <u64>size > 4096) {
    // Misaligned access crossing a page: byte by byte (each byte translated; RAM only).
    let v: u64 = 0;
    for (let i: u32 = 0; i < size; i++) {
      const b = loadSlow(va + i, 1);
      if (excPendingNow()) return 0;
      v |= b << (<u64>i * 8);
    }
    return v;
  }
  const pa = translate(va, ACCESS_READ);
  if ((va & <u64>(size - 1)) == 0) tlbFill(TLB_READ, va, pa, ACCESS_READ);
  return physLoad(pa, size, CAUSE_LOAD_ACCESS, va);
}

export function storeSlow(va: u64, size: u32, v: u64): void {
  if ((va & 0xfff) + <u64>size > 4096) {
    // Check every byte is storable before writing any, so a fault leaves memory unchanged.
    for (let i: u32 = 0; i < size; i++) {
      const pa = translate(va + i, ACCESS_WRITE);
      if (!inRam(pa, 1) || isWatched(pa, 1)) {
        store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
        raise(CAUSE_STORE_ACCESS, va);
        return;
      }
    }
    for (let i: u32 = 0; i < size; i++) storeSlow(va + i, 1, v >> (<u64>i * 8));
    return;
  }
  const pa = translate(va, ACCESS_WRITE);
  if ((va & <u64>(size - 1)) == 0) tlbFill(TLB_WRITE, va, pa, ACCESS_WRITE);
  physStore(pa, size, v, va);
}

import { excPending } from './trap';
@inline function excPendingNow(): bool {
  return excPending != 0;
}

/**
 * Physical address of the RAM page holding instruction address `va`, or all ones after raising an
 * instruction access fault (fetch from a device or unmapped space).
 */
export function fetchPage(va: u64): u64 {
  const pa = translate(va, ACCESS_FETCH);
  if (!inRam(pa, 2)) {
    store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
    raise(CAUSE_FETCH_ACCESS, va);
    return <u64>-1;
  }
  return pa & ~(<u64>0xfff);
}

/** Read a 16-bit parcel of code at physical pa (RAM already checked by fetchPage). */
@inline export function fetch16(pa: u64): u32 {
  return <u32>load<u16>(<usize>(pa + RAM_ADDEND));
}

/** Host address for an aligned AMO/LR/SC at va, or 0 after raising (access fault outside RAM). */
export function amoAddress(va: u64, size: u32, write: bool): usize {
  const pa = translate(va, write ? ACCESS_WRITE : ACCESS_READ);
  if (!inRam(pa, size) || isWatched(pa, size)) {
    store<u64>(C_UNMAPPED, load<u64>(C_UNMAPPED) + 1);
    raise(write ? CAUSE_STORE_ACCESS : CAUSE_LOAD_ACCESS, va);
    return 0;
  }
  if (write && codePage(pa)) invalidateCode(pa, size);
  return <usize>(pa + RAM_ADDEND);
}

export { TLB_FETCH, TLB_BITS };
