/**
 * `createHost(config)`: the VMM's Host as `cyclevisor host` (hostcli's src/cli/host.ts) drives it —
 * their `HostRunner` (src/hypervisor/control-api.ts): the async run with
 * console output per VM, console input, Ctrl-C, and the control operations as promises that reject
 * with a ControlError-shaped error (`errorClass` + one line).
 *
 * The configuration types are config.ts's, the errors control-api.ts's ControlError.
 */
import { UserError, formatSize } from '../errors.js';
import { loadTimingFile } from '../timing.js';
import type { HostConfig } from './config.js';
import { ControlError, type ConsoleStreams, type ControlErrorClass, type HostStartOptions } from './control-api.js';
import { PassThrough, Writable } from 'node:stream';
import type { ShutdownResult } from './vm.js';
import { IncomingServer, migrateOut, parseTcpUri, type IncomingDeps } from './migration.js';
import { deleteSnapshot, listSnapshots, restoreAtStart, revertSnapshot, takeSnapshot } from './snapshot-control.js';
import { Host } from './host.js';
import type { Vm } from './vm.js';
import { EXIT_REASONS } from './vcpu.js';
import type { VmState, VmStats } from './types.js';
import { SwitchRegistry } from '../net/switch.js';
import { UserNet, type HostForward } from '../net/slirp.js';
import type { NetBackend } from '../net/link.js';
import { HostPacer } from './pacing.js';
import { HostGdbStub } from '../debug/host-gdbstub.js';
import type { HostRunOptions } from './control-api.js';

/** Host run slices: yield to the event loop (control socket, stdin, Ctrl-C) about every 20 ms. */
const SLICE_MS = 20;

export class HostRunner {
  readonly host: Host;
  private interrupted = false;
  private onConsoleSink: ((name: string, b: Uint8Array) => void) | null = null;
  private readonly listeners = new Set<(e: { event: 'DOMAIN_STATE'; name: string; state: VmState; reason: string }) => void>();
  private readonly lastState = new Map<string, VmState>();
  private readonly everStarted = new Set<string>();
  /** Attached consoles (`ctl console`) per VM name. */
  private readonly consoles = new Map<string, Set<PassThrough>>();
  /** Named switches between the VMs (nics: [ { network: NAME } ]). */
  readonly switches = new SwitchRegistry();
  /** User networks (one per `network: user` NIC), polled between host slices. */
  readonly userNets: UserNet[] = [];
  /** Idle pacing (run({ pace: true })), or null. */
  private pacer: HostPacer | null = null;
  /** Ends the run loop's idle sleep early (input, a control command, host socket data). */
  private wakeLoop: (() => void) | null = null;
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
      { harts: config.harts, ramBytes: config.ramBytes, ...(config.overcommit ? { overcommit: true } : {}), ...(config.dedup ? { dedup: config.dedup } : {}) },
      {
        onOutput: (vm, b) => this.consoleOut(vm.name, b),
        ...(config.timingFile ? { timing: loadTimingFile(config.timingFile) } : {}),
        ...(config.mode ? { mode: config.mode } : {}),
      },
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
        shutdownTimeout: v.shutdownTimeout,
        ...(v.nics && v.nics.length > 0 ? { nics: v.nics.map((n) => ({ mac: n.mac, backend: this.backendFor(n.network, n.hostfwd) })) } : {}),
        paging: v.paging,
        ...(v.shadowPages != null ? { shadowPages: v.shadowPages } : {}),
        ...(v.balloon !== undefined ? { balloon: v.balloon } : {}),
      });
      if (v.autostart || restoring.has(v.name)) this.everStarted.add(v.name);
    }
    if (options.restore?.length) restoreAtStart(this.host, options.restore);
    for (const vm of this.host.vms) this.lastState.set(vm.name, vm.state);
  }

  private backendFor(network: string, hostfwd: HostForward[]): NetBackend {
    if (network !== 'user') return this.switches.get(network);
    const un = new UserNet({ hostfwd });
    un.wake = () => this.wakeLoop?.();
    this.userNets.push(un);
    return un;
  }

  private listening = false;

  /** Opens the user networks' hostfwd listeners (one UserError line if one cannot listen); run() does it first. */
  async listen(): Promise<void> {
    if (this.listening) return;
    this.listening = true;
    for (const un of this.userNets) {
      try {
        await un.listen();
      } catch (e) {
        throw new UserError(`${this.config.path}: ${(e as Error).message}`);
      }
    }
  }

  private vm(name: string): Vm {
    const v = this.host.vmNamed(name);
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
    this.endConsoles();
    for (const vm of this.host.vms) {
      if (this.lastState.get(vm.name) !== vm.state) {
        this.lastState.set(vm.name, vm.state);
        for (const l of this.listeners) l({ event: 'DOMAIN_STATE', name: vm.name, state: vm.state, reason: this.reason(vm) });
      }
    }
  }

  async run(o: { maxInsns: number | null; maxCycles: number | null; onConsole(name: string, bytes: Uint8Array): void; pace?: boolean; gdb?: HostRunOptions['gdb'] }) {
    this.onConsoleSink = o.onConsole;
    await this.listen();
    // --gdb (issue 16): the host's gdb stub. It stops the host synchronously (host-gdbstub.ts):
    // inside a vCPU's run for breakpoints and steps, between slices (here) for Ctrl-C and attach.
    let gdb: HostGdbStub | null = null;
    if (o.gdb) {
      gdb = new HostGdbStub(this.host);
      try {
        o.gdb.listening(await gdb.listen(o.gdb.host, o.gdb.port));
      } catch (e) {
        await gdb.finish(0);
        throw new UserError(`--gdb: cannot listen on tcp:${o.gdb.host}:${o.gdb.port}: ${(e as Error).message}`);
      }
      if (o.gdb.wait) gdb.waitForGdb();
    }
    try {
      return await this.runLoop(o, gdb);
    } finally {
      await gdb?.finish(this.host.vms.some((v) => v.state === 'crashed') ? 1 : 0);
    }
  }

  private async runLoop(o: { maxInsns: number | null; maxCycles: number | null; pace?: boolean }, gdb: HostGdbStub | null) {
    const opts = {
      ...(o.maxCycles !== null ? { maxHostCycles: o.maxCycles } : {}),
      ...(o.maxInsns !== null ? { maxInsns: o.maxInsns } : {}),
      waitWhenPaused: true,
    };
    const pacer = o.pace ? new HostPacer(this.host.timing.cpuHz) : null;
    this.pacer = pacer;
    if (pacer) for (const vm of this.host.vms) pacer.attach(vm);
    let end: 'done' | 'max-insns' | 'max-cycles' | 'interrupted' = 'done';
    if (this.incomingUri !== null) this.incoming = await IncomingServer.listen(this.incomingUri, this.incomingDeps());
    try {
      for (;;) {
        if (this.interrupted) {
          end = 'interrupted';
          break;
        }
        if (gdb && (gdb.interruptPending() ? gdb.pauseBetweenRounds() === 'kill' : gdb.wasKilled)) {
          end = 'interrupted';
          break;
        }
        // A VM defined after the start (an incoming migration) stops for gdb too.
        if (gdb) for (const vm of this.host.vms) vm.debug ??= gdb;
        const t0 = performance.now();
        // Host sockets' work (user networks) enters the VMs at slice boundaries; it may wake a VM
        // (a paced VM's clock first moves to the wall time the data came: pacing.ts wakeEarly).
        if (this.userNets.some((un) => un.pendingHostWork > 0)) {
          pacer?.wakeEarly();
          for (const un of this.userNets) un.poll();
          this.host.hostWorkArrived();
        }
        if (pacer && pacer.releaseDue(t0) > 0) this.host.hostWorkArrived();
        const r = this.host.runSome(opts, Infinity, () => {
          const now = performance.now();
          return now - t0 > SLICE_MS || (pacer !== null && pacer.anyDue(now)) || (gdb !== null && (gdb.interruptPending() || gdb.wasKilled));
        });
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
        // Nothing runnable (paused / waiting for input / held by pacing) or a slice ended: let the
        // event loop serve the socket and stdin. Idle: a timer until the first paced VM is due
        // (or a short poll), ended early by input; never a spin.
        const idle = !this.host.vms.some((v) => v.runnable);
        if (!idle) {
          await new Promise<void>((res) => setImmediate(res));
          continue;
        }
        const ms = pacer ? Math.min(Math.max(0, pacer.nextDue() - performance.now()), 250) : 10;
        await new Promise<void>((res) => {
          const timer = setTimeout(done, ms);
          function done() {
            clearTimeout(timer);
            res();
          }
          this.wakeLoop = done;
        });
        this.wakeLoop = null;
      }
    } finally {
      if (pacer) for (const vm of this.host.vms) pacer.detach(vm);
      this.pacer = null;
      this.wakeLoop = null;
      await this.incoming?.close();
      this.incoming = null;
    }
    // Shutdowns still waiting (the run was interrupted or ran out): they will not complete now.
    for (const v of this.host.vms) v.finishShutdown({ ok: false, timeout: false, error: `${v.name}: the host stopped before the guest powered off` });
    return {
      end,
      vms: this.host.vms.map((v) => ({ name: v.name, state: v.state, reason: this.reason(v) })),
      cycles: this.host.hostTime.reduce((a, b) => a + b, 0),
      instructions: this.host.totalInstructions(),
    };
  }

  consoleInput(name: string, bytes: Uint8Array): void {
    const v = this.host.vmNamed(name);
    if (v) {
      this.pacer?.wakeEarly(v);
      this.host.inputArrived(v, bytes);
      this.wakeLoop?.();
    }
  }
  interrupt(): void {
    this.interrupted = true;
    this.wakeLoop?.();
  }
  close(): void {
    for (const un of this.userNets) un.close();
    this.host.close();
  }

  // ---------------------------------------------------------------- HostControl

  private check(r: { ok: true } | { ok: false; error: string }): void {
    if (!r.ok) {
      const cls: ControlErrorClass = /not supported|no guest agent|no agent channel/.test(r.error) ? 'NotSupported' : /no VM named/.test(r.error) ? 'NotFound' : 'InvalidState';
      throw new ControlError(cls, r.error);
    }
    // A control operation may give a held (paced) VM work now (the agent's shutdown, a resume).
    this.pacer?.wakeEarly();
    this.host.hostWorkArrived();
    this.wakeLoop?.();
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
  /**
   * Resolves when the guest, told by its agent, has powered off; rejects with ControlError
   * 'Timeout' when it has not after the VM's shutdown_timeout (virtual seconds; it keeps running),
   * or at once when there is no agent / the VM is not running.
   */
  async shutdown(name: string) {
    this.vm(name);
    let settle!: (r: ShutdownResult) => void;
    const finished = new Promise<ShutdownResult>((res) => (settle = res));
    this.check(this.host.shutdown(name, (r) => settle(r)));
    const r = await finished;
    this.emitChanges();
    if (!r.ok) throw new ControlError(r.timeout ? 'Timeout' : 'Failed', r.error);
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
      // Page deduplication (dedup.ts): the host's totals, in KSM's names, and this VM's saved pages.
      const dd = this.host.dedup;
      if (dd) {
        for (const k of ['pages_shared', 'pages_sharing', 'pages_unshared', 'full_scans', 'ksm_zero_pages', 'cow_breaks', 'scan_cycles', 'frames_released', 'frames_reclaimed'] as const) stats[`ksm.${k}`] = dd.stats[k];
        stats['ksm.vm_pages_saved'] = dd.savedPages(v.memory);
      }
      for (const r of EXIT_REASONS) {
        stats[`exit.${r}.count`] = s.exits[r].count;
        stats[`exit.${r}.cycles`] = s.exits[r].cycles;
      }
      stats['console.bytes'] = s.consoleBytes;
      // NICs (virtio-net, devices/virtio-net.ts), libvirt's domstats names: net.count, net.<n>.*.
      const nics = v.platform.nics;
      if (nics.length > 0) {
        stats['net.count'] = nics.length;
        for (const [i, nic] of nics.entries()) {
          const n = nic.stats;
          stats[`net.${i}.rx.bytes`] = n.rxBytes;
          stats[`net.${i}.rx.pkts`] = n.rxPackets;
          stats[`net.${i}.rx.drop`] = n.rxDrops;
          stats[`net.${i}.tx.bytes`] = n.txBytes;
          stats[`net.${i}.tx.pkts`] = n.txPackets;
          stats[`net.${i}.tx.drop`] = n.txDrops;
        }
      }
      Object.assign(stats, s.paging ?? {});
      addDiskAndTlbStats(stats, s);
      return { name: v.name, stats };
    });
  }
  /**
   * Attach to a VM's console (its UART, where the guest's shell is): `output` carries what the VM
   * writes from now on (and ends when the VM shuts off or on detach), `input` goes to the VM as
   * `--console NAME` input does. Several consoles may be attached at once; the CLI's prefixed
   * stdout goes on regardless.
   */
  async console(name: string): Promise<ConsoleStreams> {
    const v = this.vm(name);
    if (v.state !== 'running' && v.state !== 'paused') throw new ControlError('InvalidState', `${name}: domain is not running`);
    const output = new PassThrough();
    let attached = true;
    const detach = () => {
      if (!attached) return;
      attached = false;
      this.consoles.get(name)?.delete(output);
      output.end();
    };
    let set = this.consoles.get(name);
    if (!set) this.consoles.set(name, (set = new Set()));
    set.add(output);
    const input = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (attached) this.consoleInput(name, new Uint8Array(chunk));
        cb();
      },
    });
    return { output, input, detach };
  }

  /** Console bytes of a VM: the run's sink (prefixed stdout) and every attached console. */
  private consoleOut(name: string, b: Uint8Array): void {
    this.onConsoleSink?.(name, b);
    const set = this.consoles.get(name);
    if (set) for (const o of set) o.write(Buffer.from(b));
  }

  /** End the attached consoles of VMs that are no longer running or paused. */
  private endConsoles(): void {
    for (const [name, set] of this.consoles) {
      const v = this.host.vmNamed(name);
      if (v && (v.state === 'running' || v.state === 'paused')) continue;
      for (const o of set) o.end();
      set.clear();
    }
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
      findVm: (n) => this.host.vmNamed(n),
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

/**
 * Disks in libvirt's domstats names (block.count, block.<n>.name/path, rd/wr/fl .reqs/.bytes,
 * errors), and in timing mode the VM's modeled-TLB counters (no libvirt names exist: tlb.*, with
 * the two-dimensional walks under tlb.nested.*).
 */
function addDiskAndTlbStats(stats: Record<string, number | string>, s: VmStats): void {
  stats['block.count'] = s.disks.length;
  s.disks.forEach((d, i) => {
    stats[`block.${i}.name`] = `vd${String.fromCharCode(97 + i)}`;
    stats[`block.${i}.path`] = d.path;
    stats[`block.${i}.rd.reqs`] = d.readReqs;
    stats[`block.${i}.rd.bytes`] = d.readBytes;
    stats[`block.${i}.wr.reqs`] = d.writeReqs;
    stats[`block.${i}.wr.bytes`] = d.writeBytes;
    stats[`block.${i}.fl.reqs`] = d.flushReqs;
    stats[`block.${i}.errors`] = d.errors;
  });
  const t = s.tlb;
  if (!t) return;
  for (const [k, c] of [['itlb', t.itlb], ['dtlb', t.dtlb], ['l2', t.l2]] as const) {
    if (!c) continue;
    stats[`tlb.${k}.accesses`] = c.accesses;
    stats[`tlb.${k}.hits`] = c.hits;
    stats[`tlb.${k}.misses`] = c.misses;
  }
  stats['tlb.walks'] = t.walks;
  stats['tlb.walk_refs'] = t.walkRefs;
  stats['tlb.walk_cycles'] = t.walkCycles;
  stats['tlb.nested.walks'] = t.nested.walks;
  stats['tlb.nested.vs_refs'] = t.nested.vsRefs;
  stats['tlb.nested.g_refs'] = t.nested.gRefs;
  stats['tlb.nested.refs'] = t.nested.refs;
  stats['tlb.nested.guest_page_faults'] = t.nested.guestPageFaults;
  stats['tlb.nested.ntlb_hits'] = t.nested.ntlb.hits;
  stats['tlb.flushes.gvma'] = t.nested.flushes.gvma;
  stats['tlb.flushes.vvma'] = t.nested.flushes.vvma;
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
