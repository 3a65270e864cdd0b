/**
 * Host-VMM mode (issue 9 item 7): what a hypervisor written on the host side (TypeScript: the VMM of
 * the "many VMs" issue) needs from the core. GUIDE §11: "the hypervisor is a loop over exits".
 *
 *   host: load a vCPU context ─▶ run() ─▶ guest runs at V=1 ─▶ a trap the guest does not handle
 *                                   ▲                                 │ (not delegated to VS by
 *                                   │                                 │  hedeleg/hideleg, or any
 *         emulate, injectVS(), ◀── RUN_VMEXIT + exit record ◀─────────┘  HS/M interrupt)
 *         write guest memory
 *
 * With C_VMM = 1, takeTrap() (trap.ts) hands every V=1 trap that would enter HS or M to vmExit()
 * below instead: nothing vectors to stvec/mtvec (there is no firmware), V stays 1, the privilege and
 * pc stay at the trapping instruction, and the exit record in the control block (layout.ts C_VMX_*)
 * says what HS would have seen: cause, stval, htval, htinst, GVA, and the instruction's raw bits and
 * length (read without side effects through the guest's two-stage translation, for MMIO emulation).
 * The run loop returns RUN_VMEXIT at that block boundary and charges C_VMX_EXIT_CYCLES.
 *
 * The rest is host tooling with no side effect on the guest's architectural state beyond what it
 * says: side-effect-free guest address translation (GPA and GVA; no A/D update, no trap), injectVS
 * (an exception delivered to vstvec exactly as a VS-mode trap entry does it), the vCPU-load hook
 * (reservation dropped, guest host-TLB sets flushed, vstimecmp deadline recomputed) and the host
 * hfence.gvma on every hart.
 */
import {
  H_PC, H_PRIV, H_VIRT, H_HIDELEG, H_HEDELEG, H_VSATP, H_HGATP, H_VSSTATUS, H_VSEPC, H_VSCAUSE, H_VSTVAL, H_VSTVEC, H_RESV,
  C_VMM, C_VMX_PENDING, C_VMX_CAUSE, C_VMX_TVAL, C_VMX_HTVAL, C_VMX_HTINST, C_VMX_GVA, C_VMX_PC,
  C_VMX_INSN, C_VMX_LEN, C_VMX_EXITS, C_HARTS, C_HART, RAM_GPA, RAM_OFFSET,
  TM_CNT, TM_END, TM_SAVE_BASE, TM_SAVE_SIZE,
} from './layout';
import { PRV_S, MSTATUS_SIE, MSTATUS_SPIE, MSTATUS_SPP } from './hart';
import { tlbFlushGuestHart, inRam } from './mmu';
import { updateVstimecmp } from './csr';
import { tmHfenceGvma, tmEnabled } from './tlbmodel';

const INTERRUPT_BIT: u64 = (<u64>1) << 63;
const NONE: u64 = <u64>-1;

/**
 * takeTrap's one test: in host-VMM mode, a trap from V = 1 that is not delegated to VS (medeleg /
 * mideleg, then hedeleg / hideleg) becomes a VM exit. Every HS- and M-level interrupt taken while
 * V = 1 is one (hideleg only delegates the VS-level ones).
 */
@inline export function vmmTakes(isInt: bool, code: u64, cur: u32, deleg: u64): bool {
  if (load<u32>(C_VMM) == 0 || load<u64>(H_VIRT) == 0) return false;
  if (cur > PRV_S || code >= 64 || ((deleg >> code) & 1) == 0) return true;
  const hdeleg = isInt ? load<u64>(H_HIDELEG) : load<u64>(H_HEDELEG);
  return ((hdeleg >> code) & 1) == 0;
}

/**
 * Record a VM exit for the trap (cause, tval) at epc; returns the pc to continue at, which is epc
 * itself: the guest stays where it trapped (V = 1, same privilege). htval / htinst / gva are the
 * values the HS trap would have written (trap.ts excTval2, excTinst, and its GVA rule).
 */
export function vmExit(cause: u64, tval: u64, epc: u64, htval: u64, htinst: u64, gva: bool): u64 {
  store<u64>(C_VMX_CAUSE, cause);
  store<u64>(C_VMX_TVAL, tval);
  store<u64>(C_VMX_HTVAL, htval);
  store<u64>(C_VMX_HTINST, htinst);
  store<u64>(C_VMX_GVA, gva ? 1 : 0);
  store<u64>(C_VMX_PC, epc);
  // The instruction at epc, for the exits an instruction caused (not interrupts, not fetch faults:
  // misaligned fetch 0, fetch access 1, fetch page fault 12, fetch guest-page fault 20).
  let insn: u64 = 0;
  let len: u32 = 0;
  const code = cause & ~INTERRUPT_BIT;
  if ((cause & INTERRUPT_BIT) == 0 && code != 0 && code != 1 && code != 12 && code != 20) {
    const lo = guestFetch16(epc);
    if (lo != NONE) {
      if ((lo & 3) != 3) {
        insn = lo;
        len = 2;
      } else {
        const hi = guestFetch16(epc + 2);
        if (hi != NONE) {
          insn = lo | (hi << 16);
          len = 4;
        }
      }
    }
  }
  store<u64>(C_VMX_INSN, insn);
  store<u32>(C_VMX_LEN, len);
  store<u32>(C_VMX_PENDING, 1);
  store<u64>(C_VMX_EXITS, load<u64>(C_VMX_EXITS) + 1);
  return epc;
}

/** The run loop's check at each block boundary: was an exit recorded? (Clears the flag.) */
@inline export function vmExitTaken(): bool {
  if (load<u32>(C_VMX_PENDING) == 0) return false;
  store<u32>(C_VMX_PENDING, 0);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Side-effect-free two-stage translation (Priv 1.12 §8.5). Validity and the structural rules
// only (V, W without R, leaf or pointer, a G-stage leaf needs U, GPA width); no permission check,
// no A/D update, no trap, no host-TLB or modeled-TLB effect.

@inline function ramRead64(pa: u64): u64 {
  return load<u64>(<usize>(pa - <u64>RAM_GPA + <u64>RAM_OFFSET));
}

/**
 * One stage: walk the tables at root (mode 8/9/10 = Sv39/48/57, x4: the G-stage form). `viaG`: the
 * PTE addresses are guest-physical and go through the G stage at `hgatp` first (a VS-stage walk).
 * Also the debugger's translation (debug.ts dbgTranslate), for any hart's atp/hgatp.
 */
export function walkNoSideEffects(atp: u64, addr: u64, x4: bool, hgatp: u64, viaG: bool): u64 {
  const mode = <u32>(atp >> 60);
  if (mode == 0) return addr;
  if (mode < 8 || mode > 10) return NONE;
  const levels = mode - 5;
  const bits: u64 = 12 + 9 * <u64>levels + (x4 ? 2 : 0);
  if (x4) {
    if ((addr >> bits) != 0) return NONE;
  } else {
    const top = <i64>addr >> <i64>(bits - 1);
    if (top != 0 && top != -1) return NONE;
  }
  let a = (atp & 0xfffffffffff) << 12;
  if (x4) a &= ~(<u64>0x3fff);
  let i = <i32>levels - 1;
  while (true) {
    const mask: u64 = x4 && i == <i32>levels - 1 ? 0x7ff : 0x1ff;
    let pteAddr = a + (((addr >> (12 + 9 * <u64>i)) & mask) << 3);
    // A VS-stage PTE address is guest-physical: translate it through the G-stage first.
    if (viaG) pteAddr = walkNoSideEffects(hgatp, pteAddr, true, 0, false);
    if (pteAddr == NONE || !inRam(pteAddr, 8)) return NONE;
    const pte = ramRead64(pteAddr);
    if ((pte & 1) == 0 || (pte & 6) == 4) return NONE;
    if ((pte & 0xa) != 0) {
      if (x4 && (pte & 0x10) == 0) return NONE; // G-stage leaves need U (§8.5.2)
      const off: u64 = ((<u64>1) << (12 + 9 * <u64>i)) - 1;
      const base = ((pte >> 10) & 0xfffffffffff) << 12;
      if ((base & off) != 0) return NONE; // misaligned superpage
      return base | (addr & off);
    }
    if (i == 0) return NONE;
    i--;
    a = ((pte >> 10) & 0xfffffffffff) << 12;
  }
}

/** Host-physical address of guest-physical gpa under the running hart's hgatp, or all ones. */
export function gpaToHpa(gpa: u64): u64 {
  return walkNoSideEffects(load<u64>(H_HGATP), gpa, true, 0, false);
}

/** Host-physical address of guest-virtual gva under vsatp and hgatp (V = 1 view), or all ones. */
export function gvaToHpa(gva: u64): u64 {
  const hgatp = load<u64>(H_HGATP);
  const gpa = walkNoSideEffects(load<u64>(H_VSATP), gva, false, hgatp, true);
  if (gpa == NONE) return NONE;
  return walkNoSideEffects(hgatp, gpa, true, 0, false);
}

/** The 16-bit parcel at guest-virtual va, or all ones when it does not translate to RAM. */
function guestFetch16(va: u64): u64 {
  const hpa = gvaToHpa(va);
  if (hpa == NONE || !inRam(hpa, 2)) return NONE;
  return <u64>load<u16>(<usize>(hpa - <u64>RAM_GPA + <u64>RAM_OFFSET));
}

// ---------------------------------------------------------------------------------------------
// Host tooling

/**
 * Deliver exception `cause` with `tval` to the running guest's VS-mode trap handler, as a trap
 * taken in VS or VU mode and delegated to VS by hedeleg does (H ext. "Trap Entry"; the VS block of
 * trap.ts takeTrap): vsepc <- pc, vscause, vstval, vsstatus.SPP <- the guest's privilege, SPIE <-
 * SIE, SIE <- 0, privilege <- VS, pc <- vstvec's base (exceptions never vector). V stays 1; the LR/SC
 * reservation is dropped, as by any trap. Returns 0, or 1 when the hart is not running a guest.
 */
export function injectVS(cause: u64, tval: u64): u32 {
  if (load<u64>(H_VIRT) == 0) return 1;
  const cur = <u32>load<u64>(H_PRIV);
  store<u64>(H_VSEPC, load<u64>(H_PC));
  store<u64>(H_VSCAUSE, cause & ~INTERRUPT_BIT);
  store<u64>(H_VSTVAL, tval);
  const vs = load<u64>(H_VSSTATUS);
  store<u64>(H_VSSTATUS, (vs & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP)) |
    ((vs & MSTATUS_SIE) != 0 ? MSTATUS_SPIE : 0) | (cur == PRV_S ? MSTATUS_SPP : 0));
  store<u64>(H_PRIV, PRV_S);
  store<u64>(H_PC, load<u64>(H_VSTVEC) & ~(<u64>3));
  store<u64>(H_RESV, <u64>-1);
  return 0;
}

/**
 * The host wrote a vCPU context into the running hart's block: drop the LR/SC reservation, flush
 * the guest regimes of the host TLB (other hgatp / vsatp), recompute the vstimecmp deadline and
 * VSTIP. The modeled TLB needs nothing: its entries are tagged with the VMID and ASID, and it
 * notices new roots itself.
 */
export function vcpuLoaded(): void {
  store<u64>(H_RESV, <u64>-1);
  tlbFlushGuestHart(load<u32>(C_HART));
  updateVstimecmp();
}

/**
 * Host-side hfence.gvma on every hart: the G-stage translations of VMID `vmid` (all VMIDs when
 * allVmids), optionally only of guest-physical [gpa, gpa + len). The host TLB's guest sets are
 * untagged, so every hart drops all of them; each hart's modeled TLB drops that VMID's entries
 * (and its nested-TLB entries of the range's pages).
 */
export function hostHfenceGvma(vmid: u32, allVmids: u32, hasRange: u32, gpa: u64, len: u64): void {
  const harts = max<u32>(1, load<u32>(C_HARTS));
  for (let h: u32 = 0; h < harts; h++) tlbFlushGuestHart(h);
  if (!tmEnabled()) return;
  const cur = load<u32>(C_HART);
  for (let h: u32 = 0; h < harts; h++) {
    // A waiting hart's model lives in its save slot: swap it in, fence, swap it back.
    if (h != cur) swapModel(h);
    if (hasRange == 0) tmHfenceGvma(false, 0, allVmids == 0, vmid);
    else {
      const first = gpa & ~(<u64>0xfff);
      const pages = (((gpa + len + 0xfff) & ~(<u64>0xfff)) - first) >> 12;
      // More pages than the nested TLB has entries: one fence without an address does the same.
      // (Counted as one hfence.gvma per hart.)
      if (pages > 64) tmHfenceGvma(false, 0, allVmids == 0, vmid);
      else for (let p: u64 = 0; p < pages; p++) tmHfenceGvma(true, first + (p << 12), allVmids == 0, vmid, p == 0);
    }
    if (h != cur) swapModel(h);
  }
}

/** Exchange the live modeled TLB with hart h's save slot (byte by byte, in place). */
function swapModel(h: u32): void {
  const slot = TM_SAVE_BASE + h * TM_SAVE_SIZE;
  const n = TM_END - TM_CNT;
  for (let i: u32 = 0; i < n; i += 8) {
    const a = load<u64>(TM_CNT + i);
    store<u64>(TM_CNT + i, load<u64>(slot + i));
    store<u64>(slot + i, a);
  }
}
