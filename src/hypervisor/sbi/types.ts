/**
 * What an SBI extension handler of the VMM sees (the VMM implements SBI for its guests: KVM's
 * arch/riscv/kvm/vcpu_sbi_*.c, one file per extension). Handlers read the call's arguments, act on
 * the VM through this environment, and return the SBI result (a0 = error, a1 = value).
 */
export const SBI_SUCCESS = 0n;
export const SBI_ERR_FAILED = -1n;
export const SBI_ERR_NOT_SUPPORTED = -2n;
export const SBI_ERR_INVALID_PARAM = -3n;
export const SBI_ERR_INVALID_ADDRESS = -5n;
export const SBI_ERR_ALREADY_AVAILABLE = -6n;
export const SBI_ERR_ALREADY_STARTED = -7n;
export const SBI_ERR_ALREADY_STOPPED = -8n;

/** The SBI implementation ID we report (base.get_impl_id): "CVVM", cyclevisor's VMM. */
export const SBI_IMPL_ID = 0x4356564dn;
export const SBI_IMPL_VERSION = 1n;
/** SBI spec version 2.0 (major << 24 | minor). */
export const SBI_SPEC_VERSION = 2n << 24n;

export interface SbiCall {
  eid: number;
  fid: number;
  /** a0..a5 as unsigned 64-bit values. */
  args: bigint[];
  /** The calling vCPU's index in its VM (its hart ID). */
  hart: number;
}

/** Besides a0/a1, what the VMM must do after the call. */
export type SbiAction =
  | { kind: 'none' }
  /** The calling vCPU stops (HSM hart_stop): it does not resume. */
  | { kind: 'stop-vcpu' }
  /** SRST / legacy shutdown: the VM shuts off, reboots, or crashed (reason "system failure"). */
  | { kind: 'reset'; type: 'shutdown' | 'reboot'; failure: boolean };

export interface SbiResult {
  error: bigint;
  value: bigint;
  /** Legacy extensions return in a0 only (a1 untouched). */
  legacy?: boolean;
  action?: SbiAction;
}

/** The VM as SBI handlers reach it. */
export interface SbiEnv {
  readonly vcpuCount: number;
  /** Console output (DBCN, legacy putchar). */
  consoleWrite(bytes: Uint8Array): void;
  /** A pending console input byte, or -1 (legacy getchar, DBCN read). */
  consoleRead(): number;
  /** Guest-physical memory of the VM (DBCN buffers); null outside its RAM. */
  readGuest(gpa: bigint, len: number): Uint8Array | null;
  /** Program the calling vCPU's VS timer (vstimecmp). */
  setTimer(hart: number, stimecmp: bigint): void;
  /** Raise VSSIP on a vCPU (SBI IPI). */
  sendIpi(hart: number): void;
  /** Drop the VM's guest translations (RFENCE: the VMM flushes the VMID on every host hart). */
  fenceGuest(): void;
  /** HSM. */
  hartState(hart: number): 'started' | 'stopped';
  hartStart(hart: number, startAddr: bigint, opaque: bigint): void;
}

export const ok = (value: bigint = 0n): SbiResult => ({ error: SBI_SUCCESS, value });
export const err = (error: bigint): SbiResult => ({ error, value: 0n });

/** Harts named by an SBI hart mask (hart_mask, hart_mask_base; base = -1: all), or null if invalid. */
export function maskHarts(env: SbiEnv, mask: bigint, base: bigint): number[] | null {
  const n = env.vcpuCount;
  if (base === (1n << 64n) - 1n) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0n; i < 64n; i++) {
    if (((mask >> i) & 1n) === 0n) continue;
    const h = base + i;
    if (h >= BigInt(n)) return null;
    out.push(Number(h));
  }
  return out;
}
