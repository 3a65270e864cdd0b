/**
 * Interfaces the hypervisor (src/hypervisor/) publishes for the other parts of issue 10: the
 * configuration CLI (hostcli: src/hypervisor/config.ts parses YAML into VmConfig, control-api.ts
 * defines HostControl), the vCPU scheduler (vsched: src/hypervisor/scheduler.ts `VcpuScheduler`)
 * and the statistics table. Everything here is plain data; nothing depends on the core.
 *
 * Until hostcli's `VmConfig` is merged, this is the shape the VMM consumes (the YAML keys of issue
 * 10, sizes already in bytes, paths already absolute). A converter from theirs is one function.
 */
import type { NetBackend } from '../net/link.js';

/** libvirt's domain states (virDomainState), as `list` / `dominfo` print them. */
import type { TlbStats } from '../tlbmodel.js';
export type VmState = 'running' | 'paused' | 'shut off' | 'crashed';

/** One VM definition (issue 10's YAML, parsed and resolved). */
export interface VmSpec {
  name: string;
  /** vCPUs (1..8). */
  vcpus: number;
  /** Guest RAM in bytes (multiple of 2 MiB), mapped at guest-physical 0x8000_0000. */
  memoryBytes: number;
  /** Kernel: a Linux Image or an ELF (absolute path), or the bytes themselves (tests). */
  kernel: string | Uint8Array;
  initrd?: string | Uint8Array;
  cmdline?: string;
  /** Relative share of host CPU (default 256). */
  weight?: number;
  /** At most this % of one host hart (default: none). */
  cap?: number;
  /** false: defined, shut off until `start` (default true). */
  autostart?: boolean;
  disks?: Array<{ file: string; readonly?: boolean; format?: 'raw' | 'qcow2' }>;
  /** Virtual seconds `shutdown` waits for the guest agent to power the VM off (default 10). */
  shutdownTimeout?: number;
  /** virtio-net NICs (eth0, ...) and the networks they are plugged into (src/net/). */
  nics?: Array<{ mac: Uint8Array; backend: NetBackend }>;
  /** Memory virtualization (issue 11): the G-stage (default) or the VMM's shadow tables (docs/PAGING.md). */
  paging?: 'nested' | 'shadow';
  /** Shadow paging: the most shadow page-table pages the VM may use (default 2048 = 8 MiB). */
  shadowPages?: number;
  /** A virtio-balloon device (issue 12): default true — every VM has one — except with paging: shadow. */
  balloon?: boolean;
}

/** The host machine (issue 10's `host:` key). */
export interface HostSpec {
  /** Host harts (1..8): the core's hart slots the vCPUs are placed on. */
  harts: number;
  /** Host RAM in bytes (≤ 2 GiB): the frame pool the VMs' memory comes from. */
  ramBytes: number;
  /** issue 12: the VMs' memory may exceed host RAM (backed on first touch; no frame → paused). */
  overcommit?: boolean;
  /** issue 12 scope 2: page deduplication (dedup.ts; KSM's knobs, host cycles for the interval). */
  dedup?: { pagesPerScan?: number; scanInterval?: number; zeroPages?: boolean };
}

/** Why a vCPU left guest mode, as the per-VM statistics count them (KVM's exit reasons, renamed). */
export type ExitReasonName =
  | 'mmio' // guest-page fault on a GPA with no RAM: emulated through the VM's device registry
  | 'sbi' // ecall from VS-mode
  | 'wfi' // virtual-instruction trap on WFI (hstatus.VTW)
  | 'virtual-instruction' // any other virtual-instruction trap
  | 'interrupt' // an HS/M interrupt taken while the guest ran
  | 'fault' // a guest exception the VMM reflected into the guest (access fault)
  | 'other';

export interface ExitStat {
  count: number;
  /** Modeled cycles of the exits (timing file `vmm.exitCycles` each) plus the VMM's emulation cost. */
  cycles: number;
}

/** Per-VM statistics (libvirt domstats names where they exist). */
export interface VmStats {
  name: string;
  state: VmState;
  'vcpu.current': number;
  /** Instructions and cycles the VM's vCPUs retired / ran (the VM's own clock). */
  instructions: number;
  cycles: number;
  /** Host cycles the VM's vCPUs occupied host harts. */
  hostCycles: number;
  exits: Record<ExitReasonName, ExitStat>;
  /** Guest RAM bytes assigned and resident (frames the pool gave the VM). */
  'balloon.current': number;
  'balloon.rss': number;
  consoleBytes: number;
  /** `paging.*` counters (docs/PAGING.md): the mode, walks per stage, shadow-paging events. */
  paging?: Record<string, number | string>;
  /** Guest-page-fault exits (causes 20, 21, 23), all vCPUs. */
  guestPageFaults: number;
  /** Per disk (vda, vdb, ... in order): virtio-blk requests and bytes. */
  disks: VmDiskStats[];
  /** Timing mode: the VM's modeled-TLB counters (its vCPUs' own models; src/hypervisor/tlbstate.ts). */
  tlb?: TlbStats;
}

export interface VmDiskStats {
  /** The image file. */
  path: string;
  readReqs: number;
  readBytes: number;
  writeReqs: number;
  writeBytes: number;
  flushReqs: number;
  errors: number;
}

/** One line of `list` (virsh list --all). */
export interface VmListEntry {
  id: number | null;
  name: string;
  state: VmState;
}

/**
 * The host's control operations (virsh-shaped). hostcli publishes the authoritative interface as
 * `HostControl` in src/hypervisor/control-api.ts; Host implements this one, which is meant to be
 * that. Operations return a Result instead of throwing: `ok: false` carries the one-line reason the
 * client prints (exit 1).
 */
export type ControlResult<T> = { ok: true; value: T } | { ok: false; error: string };

export interface HostControlOps {
  list(): ControlResult<VmListEntry[]>;
  dominfo(name: string): ControlResult<Record<string, string | number>>;
  start(name: string): ControlResult<null>;
  suspend(name: string): ControlResult<null>;
  resume(name: string): ControlResult<null>;
  shutdown(name: string): ControlResult<null>;
  reboot(name: string): ControlResult<null>;
  destroy(name: string): ControlResult<null>;
  domstats(name?: string): ControlResult<VmStats[]>;
}

/**
 * What the host's placement policy must offer (the round-robin placeholder in host.ts implements
 * it; vsched's `VcpuSchedulerPlacement` replaces it: pass it as `new Host(spec, { placement })`).
 * Ids are the schedulable entities — today a whole VM (its id), whose round runs its vCPUs on the
 * picked host hart (a VM's vCPUs interleave on its own clock); time is host cycles, and pick() is
 * called for the host hart with the lowest clock first (nondecreasing `now`).
 */
export interface VcpuPlacement {
  /** A vCPU became known (weight and cap of its VM). */
  add(id: number, weight: number, cap: number | null): void;
  remove(id: number): void;
  /** The vCPU ran `hostCycles` on some host hart (accounting). */
  charge(id: number, hostCycles: number): void;
  /**
   * Which vCPU host hart `hart` runs next and for how many host cycles at most; `runnable(id)` says
   * whether a vCPU can run now (not waiting in WFI, not paused). null: nothing runnable.
   */
  pick(hart: number, now: number, runnable: (id: number) => boolean): { id: number; slice: number } | null;
  /**
   * Optional: the next host cycle at which the policy's own decisions change (a slice end, a capped
   * VM's bucket refilled). When pick() returns null for a hart while some VM can still run (its only
   * runnable entity is on another hart, or it is throttled by its cap), the host idles that hart
   * until this cycle or the next other hart's clock, whichever comes first.
   */
  nextDecisionAt?(): number;
}
