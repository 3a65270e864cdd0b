/**
 * Public API (issue 16): `Hypervisor`, the VMM host (`cyclevisor host`) as an object: VMs from the
 * same YAML definition (docs/VM-CONFIG.md), their lifecycle, console I/O and statistics. A thin
 * wrapper over the internal HostRunner (src/hypervisor/runner.ts) — the same calls the CLI and the
 * control socket make — with result types of its own, so internal fields stay internal.
 */
import { createHost, type HostRunner } from '../hypervisor/runner.js';
import { loadHostConfig, resolveHostConfig } from '../hypervisor/config.js';
import { useOptimizingCompiler } from '../core.js';
import { join, resolve } from 'node:path';
import { addVmExitHook, type HookHandle } from '../debug/hooks.js';
import { UserError } from '../errors.js';
import type { SnapshotInfo } from '../hypervisor/control-api.js';

/** A VM exit the VMM handled (Hypervisor.addExitHook). */
export interface VmExitEvent {
  vm: string;
  vcpu: number;
  /** How the VMM classified it: the per-VM exit statistics' reason (`exit.<reason>.count`). */
  reason: string;
  /** scause of the trap (the interrupt code when `interrupt`). */
  cause: number;
  interrupt: boolean;
  /** Guest pc of the trapping instruction. */
  pc: bigint;
}

/** A VM's lifecycle state (libvirt's names). */
export type VmState = 'running' | 'paused' | 'shut off' | 'crashed';

export interface HypervisorRunOptions {
  /** Stop when all vCPUs together retired this many instructions (absolute). */
  maxInsns?: number;
  /** Stop when the host harts' cycles together reach this (absolute). */
  maxCycles?: number;
  /** Console output of each VM. Default: discarded (use `consoleText(name)`, which keeps it). */
  onConsole?: (vm: string, bytes: Uint8Array) => void;
  /** Pace idle VMs against the wall clock (`--pace`). Default off. */
  pace?: boolean;
}

export interface HypervisorRunResult {
  /** 'done': every VM stopped by itself; a limit; or interrupt(). */
  end: 'done' | 'max-insns' | 'max-cycles' | 'interrupted';
  vms: Array<{ name: string; state: VmState; reason: string }>;
  /** Host cycles (all harts) and guest instructions (all vCPUs) so far. */
  cycles: number;
  instructions: number;
}

/** One entry of a VM's snapshot tree (docs/SNAPSHOTS.md): the control API's own type. */
export type { SnapshotInfo };

export interface HypervisorOptions {
  /** Ask V8 for its optimizing wasm compiler from the start (see Machine). Default true. */
  optimize?: boolean;
}

export class Hypervisor {
  readonly #r: HostRunner;
  readonly #text = new Map<string, string>();
  readonly #decoder = new Map<string, TextDecoder>();

  private constructor(r: HostRunner) {
    this.#r = r;
  }

  /** From a VM definition file (YAML or JSON, docs/VM-CONFIG.md). Bad input: a one-line UserError. */
  static fromFile(path: string, opts: HypervisorOptions = {}): Hypervisor {
    if (opts.optimize ?? true) useOptimizingCompiler();
    return new Hypervisor(createHost(loadHostConfig(path)));
  }

  /**
   * From a definition as an object (the YAML's shape: `{ host: {...}, vms: [...] }`); relative
   * paths are taken from `baseDir` (default the working directory).
   */
  static fromConfig(definition: unknown, baseDir = process.cwd(), opts: HypervisorOptions = {}): Hypervisor {
    if (opts.optimize ?? true) useOptimizingCompiler();
    const cfg = resolveHostConfig(definition, '(config)', resolve(baseDir));
    // Snapshot trees live beside the definition file (docs/SNAPSHOTS.md): for an object,
    // `<baseDir>/vms.snapshots/<vm>/`.
    return new Hypervisor(createHost({ ...cfg, path: join(resolve(baseDir), 'vms') }));
  }

  /** Run the VMs until every one has stopped, a limit, or interrupt(). Can be called again after a limit. */
  async run(o: HypervisorRunOptions = {}): Promise<HypervisorRunResult> {
    const r = await this.#r.run({
      maxInsns: o.maxInsns ?? null,
      maxCycles: o.maxCycles ?? null,
      ...(o.pace ? { pace: true } : {}),
      onConsole: (name, bytes) => {
        let d = this.#decoder.get(name);
        if (!d) this.#decoder.set(name, (d = new TextDecoder()));
        this.#text.set(name, (this.#text.get(name) ?? '') + d.decode(bytes, { stream: true }));
        o.onConsole?.(name, bytes);
      },
    });
    return { end: r.end, vms: r.vms.map((v) => ({ name: v.name, state: v.state, reason: v.reason })), cycles: r.cycles, instructions: r.instructions };
  }

  /** End a running run() at its next slice (about 20 ms). */
  interrupt(): void {
    this.#r.interrupt();
  }

  /** Everything VM `name` printed on its console during run() calls. */
  consoleText(name: string): string {
    return this.#text.get(name) ?? '';
  }
  /** Console input for VM `name`. */
  sendInput(name: string, data: string | Uint8Array): void {
    this.#r.consoleInput(name, typeof data === 'string' ? new TextEncoder().encode(data) : data);
  }

  /** The VMs and their states. */
  async list(): Promise<Array<{ name: string; state: VmState; id: number | null }>> {
    return (await this.#r.list()).map((v) => ({ name: v.name, state: v.state, id: v.id }));
  }
  /** Lifecycle (`cyclevisor ctl` verbs); each rejects with a one-line error when the state does not allow it. */
  start(name: string): Promise<void> {
    return this.#r.start(name);
  }
  suspend(name: string): Promise<void> {
    return this.#r.suspend(name);
  }
  resume(name: string): Promise<void> {
    return this.#r.resume(name);
  }
  /** Resolves when the guest (told by its agent) powered off; needs a run() in progress. */
  shutdown(name: string): Promise<void> {
    return this.#r.shutdown(name);
  }
  reboot(name: string): Promise<void> {
    return this.#r.reboot(name);
  }
  destroy(name: string): Promise<void> {
    return this.#r.destroy(name);
  }
  /** Per-VM statistics (`ctl domstats`: cpu.*, exits.*, memory.*, block.*, tlb.* keys). */
  async stats(name?: string): Promise<Array<{ name: string; stats: Record<string, number | string> }>> {
    return (await this.#r.domstats(name)).map((d) => ({ name: d.name, stats: { ...d.stats } as Record<string, number | string> }));
  }
  /**
   * Save VM `name` (running or paused; it goes on as it was): `target` with a '/' or ending in
   * `.cvsnap` is a file, anything else a name in the VM's snapshot tree. Resumed later (revert, or
   * a host's restore), the guest continues exactly: same output and counters as without the stop.
   */
  async snapshot(name: string, target: string): Promise<SnapshotInfo> {
    return { ...(await this.#r.snapshot(name, target)) };
  }
  /** VM `name`'s snapshot tree. */
  async snapshots(name: string): Promise<SnapshotInfo[]> {
    return (await this.#r.snapshotList(name)).map((i) => ({ ...i }));
  }
  /** VM `name` (running, paused or shut off) becomes snapshot `snap`'s. */
  revertSnapshot(name: string, snap: string): Promise<void> {
    return this.#r.snapshotRevert(name, snap);
  }
  deleteSnapshot(name: string, snap: string): Promise<void> {
    return this.#r.snapshotDelete(name, snap);
  }

  /**
   * Called after each VM exit of VM `name` that the VMM handled (an observer: the exit is handled
   * exactly as without it; src/debug/hooks.ts addVmExitHook).
   */
  addExitHook(name: string, cb: (e: VmExitEvent) => void): HookHandle {
    const vm = this.#r.host.vmNamed(name);
    if (!vm) throw new UserError(`no VM named '${name}'`);
    return addVmExitHook(vm, (e) => cb({ vm: e.vm, vcpu: e.vcpu, reason: e.reason, cause: e.cause, interrupt: e.interrupt, pc: e.pc }));
  }

  /** Close disk images and host sockets. */
  close(): void {
    this.#r.close();
  }
}
