/**
 * vCPU contexts for the host-VMM mode (assembly/vmexit.ts, Core.loadVcpu / saveVcpu): the state of
 * one guest hart, kept in host (TypeScript) memory and copied into / out of the running hart's block,
 * so a VMM can run as many vCPUs as it likes on the core's 8 hart slots (KVM's `kvm_vcpu_arch`:
 * guest_context + guest_csr + the timer and FP state).
 *
 * What a context holds (Priv 1.12 ch. 8): x1..x31, f0..f31, fcsr, pc, the guest's privilege (VS or
 * VU), every VS CSR (vsstatus, vsie/vsip through hie/hip's VS bits, vstvec, vsscratch, vsepc,
 * vscause, vstval, vsatp, vstimecmp), and the per-guest hypervisor state: hstatus, hvip, hgatp,
 * htimedelta, henvcfg, hcounteren. Not in it: the LR/SC reservation (loading a context drops it),
 * and the host's own state (M/HS CSRs, hedeleg/hideleg, satp), which the VMM sets once.
 */
import * as L from './generated/layout.js';

/** The VS-level interrupt bits of mip/mie (hip/hie: VSSIP 2, VSTIP 6, VSEIP 10). */
export const VS_INTS = (1n << 2n) | (1n << 6n) | (1n << 10n);

export interface VcpuContext {
  /** x0..x31 (x0 is ignored). */
  x: bigint[];
  /** f0..f31 (raw 64-bit; singles NaN-boxed). */
  f: bigint[];
  fcsr: number;
  pc: bigint;
  /** The guest's privilege: 1 = VS-mode, 0 = VU-mode. */
  priv: 0 | 1;
  vsstatus: bigint;
  /** hie's VS bits (= vsie, shifted; mie bits 2, 6, 10). */
  hie: bigint;
  vstvec: bigint;
  vsscratch: bigint;
  vsepc: bigint;
  vscause: bigint;
  vstval: bigint;
  vsatp: bigint;
  vstimecmp: bigint;
  hstatus: bigint;
  /** hvip: the VS interrupts the hypervisor injects (VSSIP, VSTIP, VSEIP). */
  hvip: bigint;
  hgatp: bigint;
  htimedelta: bigint;
  henvcfg: bigint;
  hcounteren: bigint;
}

/** A fresh context: all zero, VS-mode at `pc`, vstimecmp off (all ones). */
export function newVcpuContext(pc: bigint, over: Partial<VcpuContext> = {}): VcpuContext {
  return {
    x: new Array<bigint>(32).fill(0n),
    f: new Array<bigint>(32).fill(0n),
    fcsr: 0,
    pc,
    priv: 1,
    vsstatus: 0n,
    hie: 0n,
    vstvec: 0n,
    vsscratch: 0n,
    vsepc: 0n,
    vscause: 0n,
    vstval: 0n,
    vsatp: 0n,
    vstimecmp: (1n << 64n) - 1n,
    hstatus: 0n,
    hvip: 0n,
    hgatp: 0n,
    htimedelta: 0n,
    henvcfg: 0n,
    hcounteren: 0n,
    ...over,
  };
}

/** The 64-bit CSR fields copied as they are (context key → hart-block offset). */
export const VCPU_CSR_FIELDS: ReadonlyArray<[keyof VcpuContext, number]> = [
  ['vsstatus', L.H_VSSTATUS],
  ['vstvec', L.H_VSTVEC],
  ['vsscratch', L.H_VSSCRATCH],
  ['vsepc', L.H_VSEPC],
  ['vscause', L.H_VSCAUSE],
  ['vstval', L.H_VSTVAL],
  ['vsatp', L.H_VSATP],
  ['vstimecmp', L.H_VSTIMECMP],
  ['hstatus', L.H_HSTATUS],
  ['hvip', L.H_HVIP],
  ['hgatp', L.H_HGATP],
  ['htimedelta', L.H_HTIMEDELTA],
  ['henvcfg', L.H_HENVCFG],
  ['hcounteren', L.H_HCOUNTEREN],
];

/** One VM exit (RunStatus.VmExit): what HS-mode would have been told, and where the guest stopped. */
export interface VmExit {
  /** scause of the trap: the exception code, or the interrupt code when `interrupt`. */
  cause: number;
  interrupt: boolean;
  /** What stval would hold (a fault's guest-virtual address, an illegal instruction's bits...). */
  stval: bigint;
  /** What htval would hold: a guest-page fault's guest-physical address >> 2, else 0. */
  htval: bigint;
  /** What htinst would hold (0x3000 / 0x3020 for implicit walk accesses, else 0 or transformed). */
  htinst: bigint;
  /** hstatus.GVA: stval is a guest virtual address. */
  gva: boolean;
  /** pc of the trapping instruction (the guest's pc now: V = 1, nothing was executed). */
  pc: bigint;
  /** Raw bits of the instruction at pc, read through the guest's translation (0: interrupt or fetch fault). */
  insn: number;
  /** Its length, 2 or 4 (0 when `insn` is 0). */
  length: number;
}

/** Cycles the timing model charges per VM exit and per (re-)entry (timing file `vmm` section). */
export interface VmmCosts {
  exitCycles: number;
  entryCycles: number;
}
