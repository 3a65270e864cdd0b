/**
 * What a running host offers its controllers (issue 10 scope 6-8): the operations `cyclevisor ctl`
 * sends over the control socket (src/hypervisor/control.ts) and the VMM's Host implements. Shaped
 * after libvirt's domain API: states and their names, list/dominfo/domstats, lifecycle verbs.
 *
 * Errors: a refused operation rejects with a `ControlError` (one line saying why; `ctl` prints it
 * and exits 1). Anything else that rejects is reported to the client as an internal error.
 */
import type { Readable, Writable } from 'node:stream';
import type { HostConfig } from './config.js';

/** libvirt's domain states, by the names `virsh list` prints. */
export type DomainState = 'running' | 'paused' | 'shut off' | 'crashed';

/** libvirt's virDomainState numbers (domstats `state.state`). */
export const DOMAIN_STATE_NUMBER: Readonly<Record<DomainState, number>> = {
  running: 1,
  paused: 3,
  'shut off': 5,
  crashed: 6,
};

export interface DomainSummary {
  /** Run id while the VM runs or is paused (1, 2, ... in start order, as libvirt); null when shut off or crashed. */
  id: number | null;
  name: string;
  state: DomainState;
}

export interface DomainInfo extends DomainSummary {
  /** Why it is in that state, libvirt's words: booted, user, shutdown, destroyed, crashed, ... */
  reason: string;
  vcpus: number;
  /** Guest RAM configured (bytes). */
  maxMemoryBytes: number;
  /** Host frames the pool has given the VM (bytes; 0 when shut off). */
  usedMemoryBytes: number;
  /** Time its vCPUs ran, on the VM's own virtual clock (ns). */
  cpuTimeNs: number;
  autostart: boolean;
  weight: number;
  /** % of one host hart, or null for none. */
  cap: number | null;
}

/** One statistic: numbers, or a string where libvirt's is one (block.N.name). */
export type StatValue = number | string;

/**
 * One VM's statistics, keys in libvirt `domstats` names where they exist (state.state,
 * state.reason, cpu.time, vcpu.current, vcpu.maximum, vcpu.N.state, vcpu.N.time, balloon.current,
 * balloon.maximum, balloon.rss, block.count, block.N.name, block.N.path, block.N.rd.reqs,
 * block.N.rd.bytes, block.N.wr.reqs, block.N.wr.bytes, block.N.fl.reqs) and cyclevisor's own
 * otherwise (docs/VM-CONFIG.md "Statistics": vcpu.N.instructions, vcpu.N.cycles, cpu.host_share,
 * exit.REASON.count, exit.REASON.cycles, mem.guest_page_faults, tlb.*, walk.*, console.bytes).
 * Insertion order is the order printed.
 */
export interface DomainStats {
  name: string;
  stats: Record<string, StatValue>;
}

/** A state change (libvirt lifecycle event; QMP-style `DOMAIN_STATE` on the socket). */
export interface StateEvent {
  event: 'DOMAIN_STATE';
  name: string;
  state: DomainState;
  reason: string;
}
export type HostEvent = StateEvent;

/** A console attached to a VM: its output from now on, and its input. */
export interface ConsoleStreams {
  /** Bytes the guest writes to its console (ends when the VM shuts off or on detach). */
  output: Readable;
  /** Bytes typed to the guest. */
  input: Writable;
  /** Stop: the output ends, the input is disconnected. Safe to call twice. */
  detach(): void;
}

/** Why an operation was refused: the class goes to the client, the message is the line it prints. */
export type ControlErrorClass = 'NotFound' | 'InvalidState' | 'NotSupported' | 'Timeout' | 'Failed';

export class ControlError extends Error {
  readonly errorClass: ControlErrorClass;
  constructor(errorClass: ControlErrorClass, message: string) {
    super(message.replace(/\s*[\r\n]+\s*/g, ' ').trim());
    this.name = 'ControlError';
    this.errorClass = errorClass;
  }
}

/** The operations of a running host. The VMM's Host implements it; tests use a fake. */
export interface HostControl {
  list(): Promise<DomainSummary[]>;
  dominfo(name: string): Promise<DomainInfo>;
  /** shut off or crashed -> running. */
  start(name: string): Promise<void>;
  /** running -> paused. */
  suspend(name: string): Promise<void>;
  /** paused -> running. */
  resume(name: string): Promise<void>;
  /**
   * Graceful, through the guest agent (libvirt `shutdown --mode agent`): resolves once the guest
   * has powered off; rejects with ControlError('Timeout', ...) if it has not after the timeout
   * (virtual seconds), the VM still running.
   */
  shutdown(name: string): Promise<void>;
  reboot(name: string): Promise<void>;
  /** Immediate power-off (any state but shut off). */
  destroy(name: string): Promise<void>;
  /** One VM's statistics, or every VM's (file order) when name is absent. */
  domstats(name?: string): Promise<DomainStats[]>;
  /** Attach to a VM's console (refused when shut off). */
  console(name: string): Promise<ConsoleStreams>;
  /** Issue 12 (optional: a host without them answers NotSupported). */
  snapshot?(name: string, file: string): Promise<SnapshotInfo>;
  snapshotList?(name: string): Promise<SnapshotInfo[]>;
  snapshotRevert?(name: string, snapshot: string): Promise<void>;
  snapshotDelete?(name: string, snapshot: string): Promise<void>;
  migrate?(name: string, uri: string, opts: { bandwidth?: number; copyStorage?: boolean }): Promise<MigrationReport>;
  /** Set the VM's memory target through its balloon (bytes the guest keeps). */
  balloon?(name: string, bytes: number): Promise<void>;
  /** Subscribe to events; returns the unsubscribe function. */
  onEvent(listener: (e: HostEvent) => void): () => void;
}

/** The commands `ctl` sends (the `execute` of a request) and whether they take a domain name. */
export const CONTROL_COMMANDS = {
  list: 'none',
  dominfo: 'required',
  start: 'required',
  suspend: 'required',
  resume: 'required',
  shutdown: 'required',
  reboot: 'required',
  destroy: 'required',
  domstats: 'optional',
  console: 'required',
  // issue 12: snapshots and live migration (src/hypervisor/snapshot.ts, migration.ts)
  snapshot: 'required',
  'snapshot-list': 'required',
  'snapshot-revert': 'required',
  'snapshot-delete': 'required',
  migrate: 'required',
  balloon: 'required',
} as const;

/** Arguments a command takes besides `name` (issue 12). */
export const CONTROL_ARGS: Partial<Record<ControlCommand, readonly string[]>> = {
  snapshot: ['file'],
  'snapshot-revert': ['snapshot'],
  'snapshot-delete': ['snapshot'],
  migrate: ['uri', 'bandwidth', 'copyStorage'],
  balloon: ['size'],
};

/** One snapshot of a VM's snapshot tree (snapshot-list). */
export interface SnapshotInfo {
  name: string;
  /** Absolute path of the snapshot file. */
  file: string;
  /** The snapshot this one was taken after (taken from or reverted to), or null. */
  parent: string | null;
  /** Host wall time it was taken (ISO 8601; metadata of the tree, not in the file). */
  created: string;
  /** The VM's state then (running / paused) and its clock (seconds of VM time). */
  state: string;
  vmSeconds: number;
  bytes: number;
  /** The VM's current snapshot (last taken or reverted to). */
  current: boolean;
}

/** What a migration reports (issue 12 scope 5). */
export interface MigrationReport {
  rounds: number;
  /** Pages sent in each pre-copy round, then the stop-and-copy round. */
  pagesPerRound: number[];
  bytes: number;
  /** The source host's cycles the VM stood still (stop-and-copy over the modeled link), and wall ms. */
  downtimeCycles: number;
  downtimeMs: number;
  /** Total time over the modeled link (host cycles) and wall ms. */
  totalCycles: number;
  totalMs: number;
  bandwidthBitsPerSecond: number;
}
export type ControlCommand = keyof typeof CONTROL_COMMANDS;

// ---------------------------------------------------------------------------------------------
// What `cyclevisor host` needs beyond the control operations: the run itself
// ---------------------------------------------------------------------------------------------

export interface HostRunOptions {
  /** Host totals: stop when all vCPUs together retired this many instructions / the host clock reached this many cycles. */
  maxInsns: number | null;
  maxCycles: number | null;
  /** Every byte a VM writes to its console (the CLI prefixes and prints them). */
  onConsole(name: string, bytes: Uint8Array): void;
  /**
   * Idle pacing (`--pace on`, src/hypervisor/pacing.ts): when every VM waits, sleep in wall time so
   * each VM's virtual time follows the wall clock. Default off (a deterministic batch run).
   */
  pace?: boolean;
  /**
   * `--gdb tcp::PORT [-S]` (issue 16, src/debug/host-gdbstub.ts): one gdb server for the host (VMs
   * are inferiors, vCPUs threads). `listening` is told the port before the run starts (-S: before
   * it waits for gdb); a port it cannot listen on rejects run() with the errno code.
   */
  gdb?: { host: string; port: number; wait: boolean; listening(port: number): void };
}

/** How one VM ended the run. */
export interface VmOutcome {
  name: string;
  state: DomainState;
  /**
   * libvirt's reason words: 'shutdown' (the guest powered off, by itself or through ctl shutdown),
   * 'destroyed', 'crashed', 'never started' (autostart: false and no ctl start), ...
   */
  reason: string;
}

export interface HostRunResult {
  /** 'done': no VM running or paused any more; the limits; 'interrupted' (Ctrl-C). */
  end: 'done' | 'max-insns' | 'max-cycles' | 'interrupted';
  vms: VmOutcome[];
  /** Host clock cycles and instructions retired by all vCPUs, when known. */
  cycles?: number;
  instructions?: number;
}

/**
 * The VMM's host as the CLI drives it. src/hypervisor/host.ts exports
 * `createHost(config: HostConfig): HostRunner` (src/cli/host.ts loads it; until it exists,
 * `cyclevisor host` only checks the file and says running VMs is not available yet).
 */
export interface HostRunner extends HostControl {
  /** Starts the autostart VMs and runs until every VM has shut off (or a limit / interrupt). */
  run(options: HostRunOptions): Promise<HostRunResult>;
  /** Bytes for a VM's console input (`--console NAME`: the process's stdin). */
  consoleInput(name: string, bytes: Uint8Array): void;
  /** Ctrl-C: run() resolves soon with end 'interrupted'. */
  interrupt(): void;
  /** Releases files (disk images); called once after run() and the statistics. */
  close?(): void;
}

/** The export of src/hypervisor/host.ts that `cyclevisor host` looks for. */
export type CreateHost = (config: HostConfig, options?: HostStartOptions) => HostRunner | Promise<HostRunner>;

/** `cyclevisor host` options the VMM acts on at start (issue 12). */
export interface HostStartOptions {
  /** --restore NAME=FILE: start these VMs from snapshot files instead of booting them. */
  restore?: Array<{ name: string; file: string }>;
  /** --incoming tcp:HOST:PORT: accept live migrations there. */
  incoming?: string | null;
}
