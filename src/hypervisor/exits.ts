/**
 * VM-exit dispatch (KVM's kvm_riscv_vcpu_exit): by the exit's cause.
 *  - load/store guest-page fault (21/23) on a GPA outside the VM's RAM: MMIO. The access is decoded
 *    from the trapping instruction's bits (the exit record's `insn`, read through both stages), sent
 *    to the VM's registry (the same Bus a bare board has), the loaded value written back to rd
 *    (sign- or zero-extended), pc advanced. A GPA no device answers is an access fault injected into
 *    the guest (5 / 7, stval = the faulting address), as on a bare board: never another VM's frame.
 *  - instruction guest-page fault (20): fetch outside the VM's RAM: instruction access fault (1).
 *  - virtual instruction (22): WFI (hstatus.VTW) → pc + 4 and the vCPU waits (yields its host
 *    hart); anything else is an illegal instruction for the guest (2, stval = its bits).
 *  - ecall from VS (10): SBI (sbi/).
 *  - an HS interrupt: nothing to do (the host has no devices of its own yet), resume.
 *  - any other exception (hedeleg does not delegate it): reflected into the guest (injectVS), as
 *    KVM's kvm_riscv_vcpu_trap_redirect.
 * Priv 1.12 ch. 8 (Trap Entry, Virtual-Instruction Exceptions, Two-Stage Address Translation).
 */
import type { Core } from '../core.js';
import * as L from '../generated/layout.js';
import type { VmExit } from '../vcpu.js';
import type { AccessSize } from '../bus/types.js';
import type { Bus } from '../bus/registry.js';
import { handleSbi, type SbiAction, type SbiEnv } from './sbi/index.js';
import type { ExitReasonName } from './types.js';

export const CAUSE_ILLEGAL = 2;
export const CAUSE_FETCH_ACCESS = 1;
export const CAUSE_LOAD_ACCESS = 5;
export const CAUSE_STORE_ACCESS = 7;
export const CAUSE_VS_ECALL = 10;
export const CAUSE_FETCH_GPF = 20;
export const CAUSE_LOAD_GPF = 21;
export const CAUSE_VIRTUAL_INSN = 22;
export const CAUSE_STORE_GPF = 23;
const WFI = 0x1050_0073;

/** A decoded MMIO access: size, the register, load sign extension. */
export interface MmioAccess {
  store: boolean;
  size: AccessSize;
  /** rd for loads, rs2 for stores. */
  reg: number;
  signed: boolean;
}

/**
 * Decode an integer load/store (RV64I / RV64C, the forms a driver's MMIO accessors compile to).
 * null: not one (FP loads/stores, AMOs on MMIO are not emulated: the guest gets an access fault).
 */
export function decodeMmio(insn: number, length: number): MmioAccess | null {
  if (length === 4) {
    const op = insn & 0x7f;
    const f3 = (insn >>> 12) & 7;
    if (op === 0x03 && f3 !== 7) {
      return { store: false, size: (1 << (f3 & 3)) as AccessSize, reg: (insn >>> 7) & 31, signed: f3 < 4 && f3 !== 3 };
    }
    if (op === 0x23 && f3 < 4) return { store: true, size: (1 << f3) as AccessSize, reg: (insn >>> 20) & 31, signed: false };
    return null;
  }
  if (length === 2) {
    const q = insn & 3;
    const f3 = (insn >>> 13) & 7;
    if (q === 0) {
      const r = ((insn >>> 2) & 7) + 8;
      if (f3 === 2) return { store: false, size: 4, reg: r, signed: true }; // c.lw
      if (f3 === 3) return { store: false, size: 8, reg: r, signed: false }; // c.ld
      if (f3 === 6) return { store: true, size: 4, reg: r, signed: false }; // c.sw
      if (f3 === 7) return { store: true, size: 8, reg: r, signed: false }; // c.sd
    } else if (q === 2) {
      if (f3 === 2) return { store: false, size: 4, reg: (insn >>> 7) & 31, signed: true }; // c.lwsp
      if (f3 === 3) return { store: false, size: 8, reg: (insn >>> 7) & 31, signed: false }; // c.ldsp
      if (f3 === 6) return { store: true, size: 4, reg: (insn >>> 2) & 31, signed: false }; // c.swsp
      if (f3 === 7) return { store: true, size: 8, reg: (insn >>> 2) & 31, signed: false }; // c.sdsp
    }
  }
  return null;
}

/**
 * htinst pseudoinstructions of a guest-page fault on an implicit VS-stage access (Priv 1.12 §8.6.3,
 * "Transformed Instruction or Pseudoinstruction for mtinst or htinst"): 0x2000 / 0x3000 a 32- / 64-bit
 * PTE read, 0x2020 / 0x3020 a PTE write (A/D update).
 */
export function isWalkPseudo(htinst: bigint): boolean {
  return htinst === 0x3000n || htinst === 0x3020n || htinst === 0x2000n || htinst === 0x2020n;
}

/** What the VM's run loop does after an exit. */
export type ExitOutcome =
  | { kind: 'resume' }
  /** WFI: the vCPU waits for an interrupt (yields its host hart). */
  | { kind: 'wait' }
  /** SBI asked for something beyond the registers (HSM stop, SRST). */
  | { kind: 'sbi'; action: SbiAction }
  /** The VMM cannot handle it: the VM crashed. */
  | { kind: 'crash'; message: string };

/** The VM as the exit handlers reach it. */
export interface ExitEnv extends SbiEnv {
  readonly bus: Bus;
  /** A guest-page fault on guest RAM given back by the balloon: back it and retry (balloon.ts). */
  ramFault?(gpa: bigint): boolean;
}

/** Handle the exit `e` of the vCPU loaded on `core` (`hart` = its index in the VM). */
export function handleExit(core: Core, e: VmExit, env: ExitEnv, hart: number): { reason: ExitReasonName; outcome: ExitOutcome } {
  if (e.interrupt) return { reason: 'interrupt', outcome: { kind: 'resume' } };
  switch (e.cause) {
    case CAUSE_LOAD_GPF:
    case CAUSE_STORE_GPF: {
      const store = e.cause === CAUSE_STORE_GPF;
      // An implicit access of the guest's own VS-stage walk (a PTE read or A/D write) whose GPA is
      // outside its RAM: htinst holds a pseudoinstruction (Priv 1.12 §8.6.3), not the trapping
      // instruction, and emulating that instruction as MMIO at the PTE's address would read a
      // device register into rd or write rs2 to a device. A PTE in non-memory is an access fault
      // of the original access type (Priv §4.3.2 step 2), as on a bare machine.
      if (isWalkPseudo(e.htinst)) {
        core.injectVS(store ? CAUSE_STORE_ACCESS : CAUSE_LOAD_ACCESS, e.stval);
        return { reason: 'fault', outcome: { kind: 'resume' } };
      }
      const gpa = (e.htval << 2n) | (e.stval & 3n);
      if (env.ramFault?.(gpa)) return { reason: 'other', outcome: { kind: 'resume' } };
      const acc = decodeMmio(e.insn, e.length);
      if (acc === null || acc.store !== store || gpa >= 1n << 32n) {
        core.injectVS(store ? CAUSE_STORE_ACCESS : CAUSE_LOAD_ACCESS, e.stval);
        return { reason: 'fault', outcome: { kind: 'resume' } };
      }
      const bus = env.bus;
      const addr = Number(gpa);
      if (store) {
        const v = BigInt.asUintN(64, core.x(acc.reg));
        if (bus.write(addr, acc.size, Number(v & 0xffff_ffffn), Number(v >> 32n)) !== 0) {
          core.injectVS(CAUSE_STORE_ACCESS, e.stval);
          return { reason: 'fault', outcome: { kind: 'resume' } };
        }
      } else {
        if (bus.read(addr, acc.size) !== 0) {
          core.injectVS(CAUSE_LOAD_ACCESS, e.stval);
          return { reason: 'fault', outcome: { kind: 'resume' } };
        }
        let v = (BigInt(bus.dataHi >>> 0) << 32n) | BigInt(bus.dataLo >>> 0);
        if (acc.signed) v = BigInt.asUintN(64, BigInt.asIntN(acc.size * 8, v));
        if (acc.reg !== 0) core.setX(acc.reg, v);
      }
      core.pc += BigInt(e.length);
      return { reason: 'mmio', outcome: { kind: 'resume' } };
    }
    case CAUSE_FETCH_GPF:
      if (env.ramFault?.((e.htval << 2n) | (e.stval & 3n))) return { reason: 'other', outcome: { kind: 'resume' } };
      core.injectVS(CAUSE_FETCH_ACCESS, e.stval);
      return { reason: 'fault', outcome: { kind: 'resume' } };
    case CAUSE_VIRTUAL_INSN:
      if (e.insn === WFI) {
        core.pc += 4n;
        return { reason: 'wfi', outcome: { kind: 'wait' } };
      }
      core.injectVS(CAUSE_ILLEGAL, BigInt(e.insn >>> 0));
      return { reason: 'virtual-instruction', outcome: { kind: 'resume' } };
    case CAUSE_VS_ECALL: {
      const args = [10, 11, 12, 13, 14, 15].map((r) => BigInt.asUintN(64, core.x(r)));
      const eid = Number(BigInt.asUintN(32, core.x(17)));
      const fid = Number(BigInt.asUintN(32, core.x(16)));
      const r = handleSbi({ eid, fid, args, hart }, env);
      core.setX(10, BigInt.asUintN(64, r.error));
      if (!r.legacy) core.setX(11, BigInt.asUintN(64, r.value));
      core.pc += 4n;
      if (r.action && r.action.kind !== 'none') return { reason: 'sbi', outcome: { kind: 'sbi', action: r.action } };
      return { reason: 'sbi', outcome: { kind: 'resume' } };
    }
    default:
      if (e.cause < 16 && e.cause !== 11 && e.cause !== 9) {
        core.injectVS(e.cause, e.stval);
        return { reason: 'fault', outcome: { kind: 'resume' } };
      }
      return { reason: 'other', outcome: { kind: 'crash', message: `unhandled VM exit: cause ${e.cause} at pc 0x${e.pc.toString(16)}` } };
  }
}

/** Set hvip on the loaded vCPU and its mip VS bits (hip.VSSIP / VSEIP follow hvip; Priv §8.2.4). */
export function setLiveHvip(core: Core, hvip: bigint): void {
  core.set64(L.H_HVIP, hvip);
  const keep = 1n << 6n; // VSTIP: also driven by the VS timer; hvip.VSTIP is never set by this VMM
  const mip = core.get64(L.H_MIP);
  core.set64(L.H_MIP, (mip & ~((1n << 2n) | (1n << 10n))) | (hvip & ((1n << 2n) | (1n << 10n))) | (mip & keep));
}
