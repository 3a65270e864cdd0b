/**
 * Cache-block operations (Zicbom, Zicboz; CMO spec 1.0.1, Priv 20211203 §3.1.18 / §4.1.? envcfg).
 *
 * The machine has no data cache to manage (Zic64b: its "blocks" are 64 bytes, naturally aligned),
 * so cbo.clean / cbo.flush / cbo.inval have no effect beyond their checks: the enable bits of
 * menvcfg / henvcfg / senvcfg, and the permission check of the block (a failed check is a store
 * page fault / store guest-page fault / store access fault, tval = the block's address). cbo.zero
 * writes 64 zero bytes to the block, as eight 8-byte stores (a fault in the first store leaves
 * the block unchanged; the block never crosses a page).
 */
import { H_PRIV, H_VIRT, H_MENVCFG, H_HENVCFG, H_SENVCFG } from './layout';
import { PRV_M, PRV_U } from './hart';
import {
  raise, excPending, excCause, setExcCause, CAUSE_ILLEGAL_INSTRUCTION, CAUSE_VIRTUAL_INSTRUCTION,
  CAUSE_LOAD_PAGE_FAULT, CAUSE_STORE_PAGE_FAULT, CAUSE_LOAD_GUEST_PAGE_FAULT, CAUSE_STORE_GUEST_PAGE_FAULT,
  CAUSE_LOAD_ACCESS, CAUSE_STORE_ACCESS,
} from './trap';
import { translate, storeSlow, dataPriv, ACCESS_READ } from './mmu';
import { CACHE_BLOCK } from './isaext';

/** menvcfg / senvcfg / henvcfg fields (Priv 20211203 §3.1.18): CBIE [5:4], CBCFE 6, CBZE 7. */
export const ENVCFG_CBIE: u64 = 3 << 4;
export const ENVCFG_CBCFE: u64 = 1 << 6;
export const ENVCFG_CBZE: u64 = 1 << 7;

/**
 * Is the cache-block instruction `insn` enabled (field `mask` of the envcfg registers) at the
 * current privilege? If not, raises and returns false (CMO spec §2.5 / §3.2 "Enabled"):
 *   below M and menvcfg.F = 0                         -> illegal instruction
 *   V = 1 and henvcfg.F = 0, or VU and senvcfg.F = 0  -> virtual instruction
 *   U (V = 0) and senvcfg.F = 0                       -> illegal instruction
 * For CBIE (two bits) "0" means the field is 00; 01 (flush) and 11 (invalidate) both enable.
 */
export function cboEnabled(mask: u64, insn: u64): bool {
  const p = <u32>load<u64>(H_PRIV);
  if (p == PRV_M) return true;
  if ((load<u64>(H_MENVCFG) & mask) == 0) { raise(CAUSE_ILLEGAL_INSTRUCTION, insn); return false; }
  const senv = (load<u64>(H_SENVCFG) & mask) != 0;
  if (load<u64>(H_VIRT) != 0) {
    if ((load<u64>(H_HENVCFG) & mask) == 0 || (p == PRV_U && !senv)) {
      raise(CAUSE_VIRTUAL_INSTRUCTION, insn);
      return false;
    }
  } else if (p == PRV_U && !senv) {
    raise(CAUSE_ILLEGAL_INSTRUCTION, insn);
    return false;
  }
  return true;
}

/** cbo.zero: store zeros to the 64-byte block holding va. */
export function cboZero(va: u64): void {
  const base = va & ~(CACHE_BLOCK - 1);
  for (let o: u64 = 0; o < CACHE_BLOCK; o += 8) {
    storeSlow(base + o, 8, 0);
    if (excPending) return;
  }
}

/**
 * cbo.clean / cbo.flush / cbo.inval: the access check only ("permitted whenever a load or a store
 * would be"; W implies R here, so the read probe decides). A failed check is reported as the
 * store form of the fault.
 */
export function cboManage(va: u64): void {
  const base = va & ~(CACHE_BLOCK - 1);
  translate(base, ACCESS_READ, dataPriv(), 1);
  if (!excPending) return;
  if (excCause == CAUSE_LOAD_PAGE_FAULT) setExcCause(CAUSE_STORE_PAGE_FAULT);
  else if (excCause == CAUSE_LOAD_GUEST_PAGE_FAULT) setExcCause(CAUSE_STORE_GUEST_PAGE_FAULT);
  else if (excCause == CAUSE_LOAD_ACCESS) setExcCause(CAUSE_STORE_ACCESS);
}
