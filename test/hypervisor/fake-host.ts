/**
 * A fake HostRunner for testing the control protocol, ctl and the host command's wiring without the
 * VMM: a libvirt-style state machine over the configured VMs, console streams, state events, and a
 * scripted run(). It runs no guest; tests that use it check the CLI/protocol, never VM behaviour.
 */
import { PassThrough } from 'node:stream';
import type { HostConfig } from '../../src/hypervisor/config.js';
import {
  ControlError,
  DOMAIN_STATE_NUMBER,
  type ConsoleStreams,
  type DomainInfo,
  type DomainState,
  type DomainStats,
  type DomainSummary,
  type HostEvent,
  type HostRunOptions,
  type HostRunResult,
  type HostRunner,
} from '../../src/hypervisor/control-api.js';

interface FakeVm {
  name: string;
  vcpus: number;
  memoryBytes: number;
  autostart: boolean;
  weight: number;
  cap: number | null;
  state: DomainState;
  reason: string;
  id: number | null;
  consoles: Set<PassThrough>;
  input: Buffer[];
}

export interface FakeScript {
  /** Console output per VM, pushed during run() in this order: [vm, text]. */
  output?: [string, string][];
  /** Final outcome overrides: name -> reason ('shutdown' default, 'destroyed', 'crashed'). */
  endings?: Record<string, string>;
  end?: HostRunResult['end'];
  /** Does ctl shutdown work (the agent answers)? false: Timeout. */
  agent?: boolean;
}

export class FakeHost implements HostRunner {
  readonly vms = new Map<string, FakeVm>();
  private readonly listeners = new Set<(e: HostEvent) => void>();
  private nextId = 1;
  interrupted = false;
  closed = false;

  constructor(
    cfg: Pick<HostConfig, 'vms'>,
    private readonly script: FakeScript = {},
  ) {
    for (const v of cfg.vms) {
      this.vms.set(v.name, {
        name: v.name,
        vcpus: v.vcpus,
        memoryBytes: v.memoryBytes,
        autostart: v.autostart,
        weight: v.weight,
        cap: v.cap,
        state: 'shut off',
        reason: 'never started',
        id: null,
        consoles: new Set(),
        input: [],
      });
    }
  }

  private vm(name: string): FakeVm {
    const v = this.vms.get(name);
    if (v === undefined) throw new ControlError('NotFound', `no domain named '${name}'`);
    return v;
  }

  private set(v: FakeVm, state: DomainState, reason: string): void {
    v.state = state;
    v.reason = reason;
    if (state === 'shut off' || state === 'crashed') {
      v.id = null;
      for (const c of v.consoles) c.end();
      v.consoles.clear();
    }
    for (const l of this.listeners) l({ event: 'DOMAIN_STATE', name: v.name, state, reason });
  }

  /** Text the guest prints (reaches every attached console). */
  print(name: string, text: string): void {
    for (const c of this.vm(name).consoles) c.write(Buffer.from(text, 'utf8'));
  }

  async list(): Promise<DomainSummary[]> {
    return [...this.vms.values()].map((v) => ({ id: v.id, name: v.name, state: v.state }));
  }
  async dominfo(name: string): Promise<DomainInfo> {
    const v = this.vm(name);
    return {
      id: v.id,
      name: v.name,
      state: v.state,
      reason: v.reason,
      vcpus: v.vcpus,
      maxMemoryBytes: v.memoryBytes,
      usedMemoryBytes: v.state === 'shut off' ? 0 : v.memoryBytes / 2,
      cpuTimeNs: 1_500_000_000,
      autostart: v.autostart,
      weight: v.weight,
      cap: v.cap,
    };
  }
  async start(name: string): Promise<void> {
    const v = this.vm(name);
    if (v.state === 'running' || v.state === 'paused') throw new ControlError('InvalidState', `domain '${name}' is already active`);
    v.id = this.nextId++;
    this.set(v, 'running', 'booted');
  }
  async suspend(name: string): Promise<void> {
    const v = this.vm(name);
    if (v.state !== 'running') throw new ControlError('InvalidState', `domain '${name}' is not running`);
    this.set(v, 'paused', 'user');
  }
  async resume(name: string): Promise<void> {
    const v = this.vm(name);
    if (v.state !== 'paused') throw new ControlError('InvalidState', `domain '${name}' is not paused`);
    this.set(v, 'running', 'unpaused');
  }
  async shutdown(name: string): Promise<void> {
    const v = this.vm(name);
    if (v.state !== 'running') throw new ControlError('InvalidState', `domain '${name}' is not running`);
    if (this.script.agent === false) {
      throw new ControlError('Timeout', `domain '${name}' did not power off within 30 s (virtual) of the agent's request; it is still running`);
    }
    this.set(v, 'shut off', 'shutdown');
  }
  async reboot(name: string): Promise<void> {
    const v = this.vm(name);
    if (v.state !== 'running') throw new ControlError('InvalidState', `domain '${name}' is not running`);
    this.set(v, 'running', 'booted');
  }
  async destroy(name: string): Promise<void> {
    const v = this.vm(name);
    if (v.state === 'shut off') throw new ControlError('InvalidState', `domain '${name}' is not running`);
    this.set(v, 'shut off', 'destroyed');
  }
  async domstats(name?: string): Promise<DomainStats[]> {
    const vms = name === undefined ? [...this.vms.values()] : [this.vm(name)];
    return vms.map((v, i) => {
      const stats: DomainStats['stats'] = {
        'state.state': DOMAIN_STATE_NUMBER[v.state],
        'vcpu.current': v.vcpus,
        'vcpu.maximum': v.vcpus,
      };
      for (let c = 0; c < v.vcpus; c++) {
        stats[`vcpu.${c}.instructions`] = 1_000_000 * (i + 1);
        stats[`vcpu.${c}.cycles`] = 2_000_000 * (i + 1);
      }
      stats['cpu.host_share'] = 100 / this.vms.size;
      stats['exit.sbi.count'] = 10 * (i + 1);
      stats['exit.sbi.cycles'] = 500 * (i + 1);
      stats['exit.mmio.count'] = 3;
      stats['exit.mmio.cycles'] = 300;
      stats['balloon.maximum'] = v.memoryBytes / 1024;
      stats['balloon.rss'] = v.memoryBytes / 2048;
      stats['console.bytes'] = 42;
      return { name: v.name, stats };
    });
  }
  async console(name: string): Promise<ConsoleStreams> {
    const v = this.vm(name);
    if (v.state === 'shut off' || v.state === 'crashed') throw new ControlError('InvalidState', `domain '${name}' is not running`);
    const output = new PassThrough();
    const input = new PassThrough();
    input.on('data', (b: Buffer) => {
      v.input.push(b);
      // The fake guest echoes what it reads, as a shell would.
      output.write(Buffer.concat([Buffer.from('echo:'), b]));
    });
    v.consoles.add(output);
    let detached = false;
    return {
      output,
      input,
      detach: () => {
        if (detached) return;
        detached = true;
        v.consoles.delete(output);
        output.end();
      },
    };
  }
  onEvent(listener: (e: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async run(opts: HostRunOptions): Promise<HostRunResult> {
    for (const v of this.vms.values()) if (v.autostart) await this.start(v.name);
    for (const [name, text] of this.script.output ?? []) opts.onConsole(name, Buffer.from(text, 'utf8'));
    for (const v of this.vms.values()) {
      if (v.state === 'shut off') continue;
      const reason = this.script.endings?.[v.name] ?? 'shutdown';
      this.set(v, reason === 'crashed' ? 'crashed' : 'shut off', reason);
    }
    return {
      end: this.script.end ?? 'done',
      vms: [...this.vms.values()].map((v) => ({ name: v.name, state: v.state, reason: v.reason })),
      cycles: 123_456_789,
      instructions: 98_765_432,
    };
  }
  consoleInput(name: string, bytes: Uint8Array): void {
    this.vm(name).input.push(Buffer.from(bytes));
  }
  interrupt(): void {
    this.interrupted = true;
  }
  close(): void {
    this.closed = true;
  }
}
