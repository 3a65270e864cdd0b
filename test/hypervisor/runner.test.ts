/**
 * createHost (src/hypervisor/runner.ts): the VMM's Host behind hostcli's HostRunner interface —
 * the async run with per-VM console output, control operations as promises rejecting with a
 * ControlError-shaped error, libvirt-named domstats, state events.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li } from '../helpers/paging.js';
import { createHost } from '../../src/hypervisor/host.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;

function elf(text: string, dir: string, name: string): string {
  const prog: Insn[] = [];
  for (const ch of text) prog.push(...li(17, 1n), ...li(10, BigInt(ch.charCodeAt(0))), ['ecall']);
  prog.push(...li(17, 0x53525354n), ...li(16, 0n), ...li(10, 0n), ...li(11, 0n), ['ecall']);
  const p = join(dir, name);
  writeFileSync(p, buildElf({ entry: RAM, segments: [{ paddr: RAM, data: assemble(prog), section: '.text' }] }));
  return p;
}

describe('createHost: the HostRunner for `cyclevisor host`', () => {
  it('runs every autostart VM to power-off, console bytes per VM, outcomes and domstats', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cv-runner-'));
    const vm = (name: string, autostart = true) => ({
      name, vcpus: 1, memoryBytes: 4 * MiB, kernel: elf(`hi ${name}\n`, dir, `${name}.elf`), initrd: null, cmdline: null,
      weight: 256, cap: null, autostart, disks: [], shutdownTimeout: 10, paging: 'nested' as const,
    });
    const host = createHost({ path: join(dir, 'vms.yaml'), harts: 2, ramBytes: 64 * MiB, vms: [vm('web'), vm('batch'), vm('idle', false)] });
    const out = new Map<string, string>();
    const events: string[] = [];
    host.onEvent((e) => events.push(`${e.name} ${e.state} ${e.reason}`));
    expect(await host.list()).toEqual([
      { id: 1, name: 'web', state: 'running' }, { id: 2, name: 'batch', state: 'running' }, { id: null, name: 'idle', state: 'shut off' },
    ]);
    await expect(host.suspend('nope')).rejects.toMatchObject({ name: 'ControlError', errorClass: 'NotFound', message: 'no VM named "nope"' });
    await expect(host.shutdown('web')).rejects.toMatchObject({ errorClass: 'NotSupported' });
    const r = await host.run({ maxInsns: null, maxCycles: null, onConsole: (n, b) => out.set(n, (out.get(n) ?? '') + Buffer.from(b).toString()) });
    expect(r.end).toBe('done');
    expect(r.vms).toEqual([
      { name: 'web', state: 'shut off', reason: 'shutdown' },
      { name: 'batch', state: 'shut off', reason: 'shutdown' },
      { name: 'idle', state: 'shut off', reason: 'never started' },
    ]);
    expect(out.get('web')).toBe('hi web\n');
    expect(out.get('batch')).toBe('hi batch\n');
    expect(events).toEqual(['web shut off shutdown', 'batch shut off shutdown']);
    const [s] = await host.domstats('web');
    expect(s!.stats).toMatchObject({ 'state.state': 5, 'state.reason': 'shutdown', 'vcpu.current': 1, 'exit.sbi.count': 8, 'console.bytes': 7, 'mem.guest_page_faults': 0 });
    const shares = (await host.domstats()).map((d) => d.stats['cpu.host_share'] as number);
    expect(shares[0]! + shares[1]!).toBeCloseTo(100, 6); // % of host cycles
    expect(shares[2]).toBe(0);
    expect((await host.dominfo('batch')).maxMemoryBytes).toBe(4 * MiB);
    host.close();
  });
});
