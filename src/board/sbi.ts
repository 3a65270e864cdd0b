/**
 * `--bios builtin`: the RISC-V Supervisor Binary Interface implemented by cyclevisor itself, for a
 * direct kernel boot with no M-mode firmware (SBI spec v1.0.0). The core returns RunStatus.Sbi on an
 * S-mode `ecall`; `handleSbiCall` reads a7 (extension), a6 (function) and a0..a5, performs the call,
 * writes a0 (error) and a1 (value), and advances pc past the ecall — what OpenSBI's trap handler
 * does, without an M-mode round trip.
 *
 * Extensions: base (0x10), TIME (0x54494D45), IPI (0x735049), RFENCE (0x52464E43), HSM (0x48534D),
 * SRST (0x53525354), PMU (0x504D55, sbi-pmu.ts, when the host provides `pmu`), and the legacy ones Linux still probes (set_timer 0x00, console putchar 0x01,
 * getchar 0x02, clear_ipi 0x03, send_ipi 0x04, remote fences 0x05-0x07, shutdown 0x08).
 */

import { EXT_PMU, handlePmuCall, type SbiPmuHost } from './sbi-pmu.js';

export const SBI_SUCCESS = 0n;
export const SBI_ERR_FAILED = -1n;
export const SBI_ERR_NOT_SUPPORTED = -2n;
export const SBI_ERR_INVALID_PARAM = -3n;
export const SBI_ERR_ALREADY_AVAILABLE = -6n;

export const EXT_BASE = 0x10;
export const EXT_TIME = 0x54494d45;
export const EXT_IPI = 0x735049;
export const EXT_RFENCE = 0x52464e43;
export const EXT_HSM = 0x48534d;
export const EXT_SRST = 0x53525354;

/** Our SBI implementation id (not in the SBI registry; OpenSBI is 1, KVM 3). */
export const SBI_IMPL_ID = 0x43565253n; // "CVRS"
export const SBI_IMPL_VERSION = 1n;

/** What the SBI needs from the machine. Hart ids are 0..harts-1. */
export interface SbiHost {
  readonly harts: number;
  /** Register x`r` of the calling hart. */
  reg(r: number): bigint;
  setReg(r: number, v: bigint): void;
  /** Program the S-mode timer of `hart` for absolute mtime `t`: STIP clears now and sets at t. */
  setTimer(hart: number, t: bigint): void;
  /** Set SSIP on `hart` (IPI). */
  sendIpi(hart: number): void;
  /** Flush translations on `hart` (remote sfence.vma / fence.i). */
  remoteFence(hart: number): void;
  /** The harts implement the H extension (misa.H): RFENCE functions 3-6 exist. */
  readonly hypervisor?: boolean;
  /**
   * Flush `hart`'s guest translations (remote hfence.gvma / hfence.vvma, any VMID/ASID/range);
   * remoteFence is used when absent. Flushing more than asked is allowed (SBI v1.0 §8).
   */
  remoteHfence?(hart: number): void;
  console(byte: number): void;
  /** Next console input byte, or -1. */
  consoleRead(): number;
  /** HSM: start `hart` at `addr` in S-mode with a0 = hart, a1 = opaque. False if it is not stopped. */
  hartStart(hart: number, addr: bigint, opaque: bigint): boolean;
  /** HSM: stop the calling hart. */
  hartStop(): void;
  hartStatus(hart: number): number;
  /** SRST: shutdown (type 0) or reboot (1 cold, 2 warm). */
  reset(type: number, reason: number): void;
  /** Machine ids reported by the base extension. */
  readonly mvendorid: bigint;
  readonly marchid: bigint;
  readonly mimpid: bigint;
  /** The calling hart's Zihpm counters: the PMU extension exists when present. */
  readonly pmu?: SbiPmuHost;
}

export const HSM_STARTED = 0;
export const HSM_STOPPED = 1;

const A0 = 10;

/** Harts selected by (mask, base) as in SBI §3.1 (base = -1: all harts). */
function selectedHarts(host: SbiHost, mask: bigint, base: bigint): number[] | null {
  const out: number[] = [];
  if (base === 0xffffffffffffffffn) {
    for (let h = 0; h < host.harts; h++) out.push(h);
    return out;
  }
  for (let i = 0; i < 64; i++) {
    if ((mask >> BigInt(i)) & 1n) {
      const h = Number(base) + i;
      if (h >= host.harts) return null;
      out.push(h);
    }
  }
  return out;
}

/** Handle one SBI call of the current hart. Returns the (error, value) pair it wrote. */
export function handleSbiCall(host: SbiHost, hart: number): [bigint, bigint] {
  const ext = Number(host.reg(17) & 0xffffffffn);
  const fid = Number(host.reg(16) & 0xffffffffn);
  const a = (i: number) => host.reg(A0 + i);
  let err = SBI_SUCCESS;
  let val = 0n;
  let legacy = false;
  switch (ext) {
    // --- legacy extensions (SBI v0.1): return value in a0 only
    case 0x00:
      host.setTimer(hart, a(0));
      legacy = true;
      break;
    case 0x01:
      host.console(Number(a(0) & 0xffn));
      legacy = true;
      break;
    case 0x02:
      err = BigInt(host.consoleRead());
      legacy = true;
      break;
    case 0x03:
      legacy = true; // clear_ipi: S-mode clears SSIP itself
      break;
    case 0x04:
    case 0x05:
    case 0x06:
    case 0x07: {
      // legacy send_ipi / remote fences: a0 = address of an unsigned long hart mask (0 = all)
      legacy = true;
      const all = a(0) === 0n;
      for (let h = 0; h < host.harts; h++) {
        if (!all && h >= 64) break;
        if (ext === 0x04) host.sendIpi(h);
        else host.remoteFence(h);
      }
      break;
    }
    case 0x08:
      host.reset(0, 0);
      legacy = true;
      break;
    // --- base extension (SBI §4)
    case EXT_BASE:
      switch (fid) {
        case 0: val = 1n << 24n; break; // spec version 1.0
        case 1: val = SBI_IMPL_ID; break;
        case 2: val = SBI_IMPL_VERSION; break;
        case 3: {
          const probe = Number(a(0) & 0xffffffffn);
          val = [EXT_BASE, EXT_TIME, EXT_IPI, EXT_RFENCE, EXT_HSM, EXT_SRST, 0, 1, 2, 3, 4, 5, 6, 7, 8].includes(probe) ||
            (probe === EXT_PMU && host.pmu) ? 1n : 0n;
          break;
        }
        case 4: val = host.mvendorid; break;
        case 5: val = host.marchid; break;
        case 6: val = host.mimpid; break;
        default: err = SBI_ERR_NOT_SUPPORTED;
      }
      break;
    case EXT_TIME:
      if (fid === 0) host.setTimer(hart, a(0));
      else err = SBI_ERR_NOT_SUPPORTED;
      break;
    case EXT_IPI: {
      if (fid !== 0) { err = SBI_ERR_NOT_SUPPORTED; break; }
      const hs = selectedHarts(host, a(0), a(1));
      if (!hs) { err = SBI_ERR_INVALID_PARAM; break; }
      for (const h of hs) host.sendIpi(h);
      break;
    }
    case EXT_RFENCE: {
      if (fid > 6) { err = SBI_ERR_NOT_SUPPORTED; break; }
      const hs = selectedHarts(host, a(0), a(1));
      if (!hs) { err = SBI_ERR_INVALID_PARAM; break; }
      if (fid >= 3) {
        // SBI v1.0 §8.4-8.7: remote hfence.gvma.vmid (3), hfence.gvma (4), hfence.vvma.asid (5),
        // hfence.vvma (6) — "only valid for harts implementing the hypervisor extension"
        // (OpenSBI answers SBI_ERR_NOT_SUPPORTED without misa.H). Linux 6.1's KVM refuses to
        // start without them (kvm_arch_init: sbi_probe_extension(SBI_EXT_RFENCE)) and uses them
        // for its VMID and G-stage flushes (arch/riscv/kvm/tlb.c). Any VMID, ASID or range
        // flushes every guest translation of the hart: more than asked, never less.
        if (!host.hypervisor) { err = SBI_ERR_NOT_SUPPORTED; break; }
        for (const h of hs) (host.remoteHfence ?? host.remoteFence).call(host, h);
        break;
      }
      // fence.i, sfence.vma, sfence.vma.asid: our decoded code is coherent, so every form is a
      // translation flush of the selected harts.
      for (const h of hs) host.remoteFence(h);
      break;
    }
    case EXT_HSM:
      switch (fid) {
        case 0: {
          const h = Number(a(0));
          if (h >= host.harts) err = SBI_ERR_INVALID_PARAM;
          else if (!host.hartStart(h, a(1), a(2))) err = SBI_ERR_ALREADY_AVAILABLE;
          break;
        }
        case 1: host.hartStop(); break;
        case 2: {
          const h = Number(a(0));
          if (h >= host.harts) err = SBI_ERR_INVALID_PARAM;
          else val = BigInt(host.hartStatus(h));
          break;
        }
        default: err = SBI_ERR_NOT_SUPPORTED;
      }
      break;
    case EXT_SRST:
      if (fid !== 0) { err = SBI_ERR_NOT_SUPPORTED; break; }
      if (a(0) > 2n) { err = SBI_ERR_INVALID_PARAM; break; }
      host.reset(Number(a(0)), Number(a(1)));
      break;
    case EXT_PMU:
      if (!host.pmu) { err = SBI_ERR_NOT_SUPPORTED; break; }
      [err, val] = handlePmuCall(host.pmu, hart, fid, a);
      break;
    default:
      err = SBI_ERR_NOT_SUPPORTED;
  }
  host.setReg(A0, BigInt.asUintN(64, err));
  if (!legacy) host.setReg(A0 + 1, BigInt.asUintN(64, val));
  return [err, val];
}
