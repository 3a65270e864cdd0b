/** Accessors for the running hart's state (layout.ts HART_BASE). All inline, constant offsets. */
import { H_X, H_F, H_FCSR, H_MSTATUS, H_MIE, H_MIP, H_PRIV, H_VIRT, H_VSSTATUS } from './layout';

@inline export function getX(r: u32): u64 {
  return load<u64>(<usize>r << 3, H_X);
}
@inline export function setX(r: u32, v: u64): void {
  store<u64>(<usize>r << 3, v, H_X);
}

// Floating-point registers (Unpriv ch. 11, 12). FLEN = 64: a single-precision value lives in the
// low 32 bits with the upper 32 bits all ones ("NaN-boxed", Unpriv 12.2).
@inline export function getF(r: u32): u64 {
  return load<u64>(<usize>r << 3, H_F);
}
@inline export function setF(r: u32, v: u64): void {
  store<u64>(<usize>r << 3, v, H_F);
}
export const NAN_BOX: u64 = 0xffffffff00000000;
/** The canonical single-precision NaN (Unpriv 11.3). */
export const F32_CANONICAL_NAN: u32 = 0x7fc00000;
/**
 * A single-precision operand. Unpriv 12.2: "if the input value is not properly NaN-boxed, it is
 * treated as if it were the canonical NaN".
 */
@inline export function getF32(r: u32): u32 {
  const v = getF(r);
  return (v >> 32) == 0xffffffff ? <u32>v : F32_CANONICAL_NAN;
}
/** Write a single-precision result NaN-boxed. */
@inline export function setF32(r: u32, v: u32): void {
  setF(r, NAN_BOX | <u64>v);
}
@inline export function fcsr(): u32 {
  return <u32>load<u64>(H_FCSR);
}

// Privilege levels (Priv 1.12 §1.2)
export const PRV_U: u32 = 0;
export const PRV_S: u32 = 1;
export const PRV_M: u32 = 3;

@inline export function priv(): u32 {
  return <u32>load<u64>(H_PRIV);
}

// mstatus fields (Priv 1.12 §3.1.6)
export const MSTATUS_SIE: u64 = 1 << 1;
export const MSTATUS_MIE: u64 = 1 << 3;
export const MSTATUS_SPIE: u64 = 1 << 5;
export const MSTATUS_MPIE: u64 = 1 << 7;
export const MSTATUS_SPP: u64 = 1 << 8;
export const MSTATUS_MPP_SHIFT: u64 = 11;
export const MSTATUS_MPP: u64 = 3 << 11;
export const MSTATUS_FS: u64 = 3 << 13; // Off 0, Initial 1, Clean 2, Dirty 3 (Priv 1.12 §3.1.6.6)
export const MSTATUS_FS_DIRTY: u64 = 3 << 13;
export const MSTATUS_MPRV: u64 = 1 << 17;
export const MSTATUS_SUM: u64 = 1 << 18;
export const MSTATUS_MXR: u64 = 1 << 19;
export const MSTATUS_TVM: u64 = 1 << 20;
export const MSTATUS_TW: u64 = 1 << 21;
export const MSTATUS_TSR: u64 = 1 << 22;
export const MSTATUS_SD: u64 = (<u64>1) << 63;
/** UXL = SXL = 2 (XLEN 64), read-only. */
export const MSTATUS_UXL: u64 = (<u64>2) << 32;
export const MSTATUS_SXL: u64 = (<u64>2) << 34;

/** Interrupts that are pending and enabled in mie, regardless of global enables (WFI wake-up test). */
@inline export function pendingEnabled(): u64 {
  return load<u64>(H_MIP) & load<u64>(H_MIE);
}
@inline export function mstatus(): u64 {
  return load<u64>(H_MSTATUS);
}

// ---------------------------------------------------------------------------------------------
// Hypervisor extension (Priv spec, "Hypervisor Extension"; RV64 layouts).
export const MSTATUS_GVA: u64 = (<u64>1) << 38; // a trap into M wrote a guest virtual address to mtval
export const MSTATUS_MPV: u64 = (<u64>1) << 39; // V before the last trap into M
export const HSTATUS_VSBE: u64 = 1 << 5;
export const HSTATUS_GVA: u64 = 1 << 6;
export const HSTATUS_SPV: u64 = 1 << 7;
export const HSTATUS_SPVP: u64 = 1 << 8;
export const HSTATUS_HU: u64 = 1 << 9;
export const HSTATUS_VTVM: u64 = 1 << 20;
export const HSTATUS_VTW: u64 = 1 << 21;
export const HSTATUS_VTSR: u64 = 1 << 22;
export const HSTATUS_VSXL: u64 = (<u64>2) << 32; // VS-mode XLEN = 64, read-only
/** VS-level interrupts: VSSIP (2), VSTIP (6), VSEIP (10). */
export const VS_INTS: u64 = (1 << 2) | (1 << 6) | (1 << 10);

/** Virtualization mode V (1 while in VS or VU mode). */
@inline export function virt(): u64 {
  return load<u64>(H_VIRT);
}

// ---- FP state (Unpriv ch. 11, 12; Priv 1.12 §3.1.6.6): the interpreter (run.ts) and the JIT's FP
// helper (jitfp.ts) both use these.
/** mstatus.FS = Off: every FP instruction and FP CSR access is an illegal instruction. */
@inline export function fpOff(): bool {
  // H ext.: with V = 1, vsstatus.FS = Off also disables FP (an illegal-instruction exception, never
  // a virtual-instruction one).
  return (load<u64>(H_MSTATUS) & MSTATUS_FS) == 0 || (load<u64>(H_VIRT) != 0 && (load<u64>(H_VSSTATUS) & MSTATUS_FS) == 0);
}
/**
 * The rounding mode for an instruction's rm field `rm` (Unpriv 11.2): rm itself, or frm when rm = 7
 * (dyn). Above 4 means illegal: FS = Off (8), or dyn with frm = 5, 6 or 7. (Static 5 and 6 never
 * get here: the decoder treats them as illegal encodings.) Rows without an rm field decode rm = 0,
 * so for them this is the FS = Off test alone.
 */
@inline export function fpRmOf(rm: u32): u32 {
  if (fpOff()) return 8;
  return rm != 7 ? rm : (fcsr() >> 5) & 7;
}
/** The FP state changed (an f register or fflags was written): FS = Dirty, and so SD = 1. */
@inline export function fpDirty(): void {
  store<u64>(H_MSTATUS, load<u64>(H_MSTATUS) | MSTATUS_FS_DIRTY | MSTATUS_SD);
  // H ext.: with V = 1 both the HS-level sstatus.FS and vsstatus.FS become Dirty (a hypervisor
  // decides from sstatus.FS whether to save the guest's FP state).
  if (load<u64>(H_VIRT) != 0) store<u64>(H_VSSTATUS, load<u64>(H_VSSTATUS) | MSTATUS_FS_DIRTY | MSTATUS_SD);
}
/**
 * After an FP operation that wrote only an x register: FS becomes Dirty only if fflags changed, i.e.
 * the operation raised a flag that was not already set (`f0`: fcsr before the operation).
 */
@inline export function fpAccrue(f0: u64): void {
  if (load<u64>(H_FCSR) != f0) fpDirty();
}
