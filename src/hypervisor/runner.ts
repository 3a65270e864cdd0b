/**
 * `createHost(config)`: the VMM's Host as `cyclevisor host` (hostcli's src/cli/host.ts) drives it —
 * their `HostRunner` (src/hypervisor/control-api.ts): the async run with
 * console output per VM, console input, Ctrl-C, and the control operations as promises that reject
 * with a ControlError-shaped error (`errorClass` + one line).
 *
 * The configuration types are config.ts's, the errors control-api.ts's ControlError.
 */
import { UserError, formatSize } from '../errors.js';
import type { HostConfig } from './config.js';
import { ControlError, type ControlErrorClass, type HostStartOptions } from './control-api.js';
import { IncomingServer, migrateOut, parseTcpUri, type IncomingDeps } from './migration.js';
import { deleteSnapshot, listSnapshots, restoreAtStart, revertSnapshot, takeSnapshot } from './snapshot-control.js';
import { Host } from './host.js';
import type { Vm } from './vm.js';
import { EXIT_REASONS } from './vcpu.js';
import type { VmState } from './types.js';

/** Host run slices: yield to the event loop (control socket, stdin, Ctrl-C) about every 20 ms. */
const SLICE_MS = 20;

export class HostRunner {
  readonly host: Host;
  private interrupted = false;
  private onConsoleSink: ((name: string, b: Uint8Array) => void) | null = null;
  private readonly listeners = new Set<(e: { event: 'DOMAIN_STATE'; name: string; state: VmState; reason: string }) => void>();
  private readonly lastState = new Map<string, VmState>();
  private readonly everStarted = new Set<string>();
  /** issue 12: VMs that left by live migration, the incoming-migration listener. */
  private readonly migrated = new Set<string>();
  private readonly incomingUri: string | null;
  private incoming: IncomingServer | null = null;

  constructor(
    readonly config: HostConfig,
    options: HostStartOptions = {},
  ) {
    const restoring = new Set((options.restore ?? []).map((r) => r.name));
    this.incomingUri = options.incoming ?? null;
    if (this.incomingUri !== null) parseTcpUri(this.incomingUri, '--incoming');
    this.host = new Host(
      { harts: config.harts, ramBytes: config.ramBytes, ...(config.overcommit ? { overcommit: true } : {}) },
      { onOutput: (vm, b) => this.onConsoleSink?.(vm.name, b) },
    );
    for (const v of config.vms) {
      this.host.addVm({
        name: v.name,
        vcpus: v.vcpus,
        memoryBytes: v.memoryBytes,
        kernel: v.kernel,
        ...(v.initrd !== null ? { initrd: v.initrd } : {}),
        ...(v.cmdline !== null ? { cmdline: v.cmdline } : {}),
        weight: v.weight,
        ...(v.cap !== null ? { cap: v.cap } : {}),
        // A VM restored from a snapshot (--restore) is not booted: its state comes from the file.
        autostart: v.autostart && !restoring.has(v.name),
        disks: v.disks,
        ...(v.balloon ? { balloon: true } : {}),
      });
      if (v.autostart || restoring.has(v.name)) this.everStarted.add(v.name);
    }
    if (options.restore?.length) restoreAtStart(this.host, options.restore);
    for (const vm of this.host.vms) this.lastState.set(vm.name, vm.state);
  }

  private vm(name: string): Vm {
    const v = this.host.vms.find((x) => x.name === name);
    if (!v) throw new ControlError('NotFound', `no VM named "${name}"`);
    return v;
  }

  reason(vm: Vm): string {
    switch (vm.state) {
      case 'running': return 'booted';
      case 'paused': return vm.pausedForMemory ? 'memory' : 'user';
      case 'crashed': return 'crashed';
      default:
        if (this.migrated.has(vm.name)) return 'migrated';
        if (this.host.wasDestroyed(vm.name)) return 'destroyed';
        if (vm.poweredOff) return 'shutdown';
        return this.everStarted.has(vm.name) ? 'shutdown' : 'never started';
    }
  }

  private emitChanges(): void {
    for (const vm of this.host.vms) {
      if (this.lastState.get(vm.name) !== vm.state) {
        this.lastState.set(vm.name, vm.state);
        for (const l of this.listeners) l({ event: 'DOMAIN_STATE', name: vm.name, state: vm.state, reason: this.reason(vm) });
      }
    }
  }

  async run(o: { maxInsns: number | null; maxCycles: number | null; onConsole(name: string, bytes: Uint8Array): void }) {
    this.onConsoleSink = o.onConsole;
    const opts = {
      ...(o.maxCycles !== null ? { maxHostCycles: o.maxCycles } : {}),
      ...(o.maxInsns !== null ? { maxInsns: o.maxInsns } : {}),
      waitWhenPaused: true,
    };
    let end: 'done' | 'max-insns' | 'max-cycles' | 'interrupted' = 'done';
    if (this.incomingUri !== null) this.incoming = await IncomingServer.listen(this.incomingUri, this.incomingDeps());
    for (;;) {
      if (this.interrupted) {
        end = 'interrupted';
        break;
      }
      const t0 = performance.now();
      const r = this.host.runSome(opts, Infinity, () => performance.now() - t0 > SLICE_MS);
      this.emitChanges();
      // A host waiting for an incoming migration (none arrived yet, or one is under way) goes on waiting.
      const awaiting = this.incoming !== null && (this.incoming.received === 0 || this.incoming.inProgress);
      if (r && awaiting && !r.limit) {
        await new Promise<void>((res) => setTimeout(res, 10));
        continue;
      }
      if (r) {
        if (r.limit) end = r.limit;
        break;
      }
      // Nothing runnable (paused / waiting for input) or a slice ended: let the event loop serve
      // the socket and stdin (a short timer when idle, so an idle host does not spin).
      const idle = !this.host.vms.some((v) => v.runnable);
      await new Promise<void>((res) => (idle ? setTimeout(res, 10) : setImmediate(res)));
    }
    await this.incoming?.close();
    this.incoming = null;
    return {
      end,
      vms: this.host.vms.map((v) => ({ name: v.name, state: v.state, reason: this.reason(v) })),
      cycles: this.host.hostTime.reduce((a, b) => a + b, 0),
      instructions: this.host.totalInstructions(),
    };
  }

  consoleInput(name: string, bytes: Uint8Array): void {
    const v = this.host.vms.find((x) => x.name === name);
    if (v) this.host.inputArrived(v, bytes);
  }
  interrupt(): void {
    this.interrupted = true;
  }
  close(): void {
    this.host.close();
  }

  // ---------------------------------------------------------------- HostControl

  private check(r: { ok: true } | { ok: false; error: string }): void {
    if (!r.ok) {
      const cls: ControlErrorClass = /not supported/.test(r.error) ? 'NotSupported' : /no VM named/.test(r.error) ? 'NotFound' : 'InvalidState';
      throw new ControlError(cls, r.error);
    }
    this.emitChanges();
  }
  async list() {
    return this.host.vms.map((v) => ({ id: v.state === 'running' || v.state === 'paused' ? v.id : null, name: v.name, state: v.state }));
  }
  async dominfo(name: string) {
    const v = this.vm(name);
    const active = v.state === 'running' || v.state === 'paused';
    return {
      id: active ? v.id : null,
      name: v.name,
      state: v.state,
      reason: this.reason(v),
      vcpus: v.spec.vcpus,
      maxMemoryBytes: v.memory.bytes,
      usedMemoryBytes: active ? v.memory.bytes : 0,
      cpuTimeNs: Math.round((v.vcpus.reduce((a, c) => a + c.cycles, 0) / this.host.timing.cpuHz) * 1e9),
      autostart: v.spec.autostart ?? true,
      weight: v.spec.weight ?? 256,
      cap: v.spec.cap ?? null,
    };
  }
  async start(name: string) {
    this.vm(name);
    this.everStarted.add(name);
    this.check(this.host.start(name));
  }
  async suspend(name: string) {
    this.check(this.host.suspend(name));
  }
  async resume(name: string) {
    this.check(this.host.resume(name));
  }
  async shutdown(name: string) {
    this.vm(name);
    this.check(this.host.shutdown(name));
  }
  async reboot(name: string) {
    this.vm(name);
    this.check(this.host.reboot(name));
  }
  async destroy(name: string) {
    this.check(this.host.destroy(name));
  }
  async domstats(name?: string) {
    const vms = name === undefined ? this.host.vms : [this.vm(name)];
    const totalHost = this.host.hostTime.reduce((a, b) => a + b, 0);
    const STATE_NUMBER: Record<VmState, number> = { running: 1, paused: 3, 'shut off': 5, crashed: 6 };
    return vms.map((v) => {
      const s = v.stats();
      const stats: Record<string, number | string> = {
        'state.state': STATE_NUMBER[v.state],
        'state.reason': this.reason(v),
        'cpu.time': Math.round((s.cycles / this.host.timing.cpuHz) * 1e9),
        'cpu.host_share': totalHost > 0 ? (100 * s.hostCycles) / totalHost : 0, // %
        'vcpu.current': v.spec.vcpus,
        'vcpu.maximum': v.spec.vcpus,
      };
      for (const c of v.vcpus) {
        stats[`vcpu.${c.index}.state`] = c.started ? 1 : 0;
        stats[`vcpu.${c.index}.time`] = Math.round((c.cycles / this.host.timing.cpuHz) * 1e9);
        stats[`vcpu.${c.index}.instructions`] = c.instructions;
        stats[`vcpu.${c.index}.cycles`] = c.cycles;
      }
      stats['mem.guest_page_faults'] = v.vcpus.reduce((a, c) => a + c.guestPageFaults, 0);
      stats['balloon.current'] = Math.floor(s['balloon.current'] / 1024);
      stats['balloon.maximum'] = Math.floor(v.memory.bytes / 1024);
      stats['balloon.rss'] = Math.floor(s['balloon.rss'] / 1024);
      for (const r of EXIT_REASONS) {
        stats[`exit.${r}.count`] = s.exits[r].count;
        stats[`exit.${r}.cycles`] = s.exits[r].cycles;
      }
      stats['console.bytes'] = s.consoleBytes;
      return { name: v.name, stats };
    });
  }
  async console(name: string): Promise<never> {
    this.vm(name);
    throw new ControlError('NotSupported', 'console: not supported yet');
  }
  // ---------------------------------------------------------------- issue 12 (snapshot-control.ts)
  async snapshot(name: string, file: string) {
    return takeSnapshot(this.host, this.config.path, this.vm(name), file);
  }
  async snapshotList(name: string) {
    return listSnapshots(this.config.path, this.vm(name));
  }
  async snapshotRevert(name: string, snap: string) {
    revertSnapshot(this.host, this.config.path, this.vm(name), snap);
    this.everStarted.add(name);
    this.emitChanges();
  }
  async snapshotDelete(name: string, snap: string) {
    deleteSnapshot(this.config.path, this.vm(name), snap);
  }

  async migrate(name: string, uri: string, opts: { bandwidth?: number; copyStorage?: boolean }) {
    const vm = this.vm(name);
    const r = await migrateOut({ host: this.host, migratedAway: (v) => this.host.replaceVmState(v, () => (this.migrated.add(v.name), (v.state = 'shut off'))) }, vm, uri, opts);
    this.emitChanges();
    return r;
  }

  async balloon(name: string, bytes: number) {
    const vm = this.vm(name);
    if (!vm.balloon) throw new ControlError('NotSupported', `${name} has no balloon device (balloon: true in its definition)`);
    if (vm.state !== 'running' && vm.state !== 'paused') throw new ControlError('InvalidState', `${name}: domain is not running`);
    if (bytes > vm.memory.bytes) throw new ControlError('InvalidState', `${name}: ${formatSize(bytes)} is more than its memory (${formatSize(vm.memory.bytes)})`);
    vm.balloon.setMemory(bytes);
    this.host.inputArrived(vm, new Uint8Array(0)); // the config interrupt may wake a waiting VM
  }

  private incomingDeps(): IncomingDeps {
    return {
      host: this.host,
      findVm: (n) => this.host.vms.find((v) => v.name === n) ?? null,
      defineVm: (spec) => {
        const vm = this.host.addVm(spec);
        this.lastState.set(vm.name, vm.state);
        return vm;
      },
      arrived: (vm) => {
        this.everStarted.add(vm.name);
        this.migrated.delete(vm.name);
        this.emitChanges();
      },
    };
  }

  onEvent(listener: (e: { event: 'DOMAIN_STATE'; name: string; state: VmState; reason: string }) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The export `cyclevisor host` looks for (hostcli's `CreateHost`). Bad input: UserError (exit 2). */
export function createHost(config: HostConfig, options: HostStartOptions = {}): HostRunner {
  try {
    return new HostRunner(config, options);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw e;
  }
}
