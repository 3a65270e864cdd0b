/**
 * `cyclevisor host --pace on|off` (src/hypervisor/pacing.ts; issue 10 lifecycle timeouts in virtual
 * seconds, issue 13 "with a user network the run is paced to real time whenever the guest waits"):
 * when every VM waits, the host sleeps in wall time so each VM's virtual clock follows the wall
 * clock (QEMU -icount sleep=on), without changing what the guest computes. Also the NIC counters in
 * domstats (libvirt's net.<n>.rx/tx.pkts/bytes/drop) and the end-of-run table.
 *
 * Wall-time bounds here are generous (the test machine is shared): they check the order of
 * magnitude (a paced idle second takes about a second and little CPU; unpaced, milliseconds), not
 * performance.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li } from '../helpers/paging.js';
import { createHost } from '../../src/hypervisor/host.js';
import { HostPacer, PACE_MAX_LAG_MS } from '../../src/hypervisor/pacing.js';
import type { Vm } from '../../src/hypervisor/vm.js';
import { formatDomstats, formatHostStatsText } from '../../src/hypervisor/stats.js';
import { parseArgs } from '../../src/cli/args.js';
import { hostPace } from '../../src/cli/host.js';
import type { HostConfig } from '../../src/hypervisor/config.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;
const csrr = (rd: number, csr: number): Insn => ['csrrs', { rd, rs1: 0, imm: csr }];
const csrw = (csr: number, rs1: number): Insn => ['csrrw', { rd: 0, rs1, imm: csr }];
const ecall = (eid: bigint, fid: number, a0: bigint): Insn[] => [...li(17, eid), ...li(16, BigInt(fid)), ...li(10, a0), ['ecall']];
const putc = (c: string): Insn[] => ecall(1n, 0, BigInt(c.charCodeAt(0)));
const shutdown: Insn[] = [...ecall(0x53525354n, 0, 0n), ['jal', { rd: 0, imm: 0 }]];

/**
 * A guest that idles: `ticks` times, SBI set_timer(time + `ticks10MHz`), WFI until time reaches it,
 * print '.'; then '\n' and SRST shutdown. Virtual time idle: ticks * ticks10MHz / 10 MHz seconds.
 */
function idleGuest(dir: string, name: string, ticks: number, ticks10MHz: bigint): string {
  const body: Insn[] = [csrr(6, 0xc01), ...li(7, ticks10MHz), ['add', { rd: 8, rs1: 6, rs2: 7 }], ['addi', { rd: 10, rs1: 8, imm: 0 }], ...li(17, 0x54494d45n), ...li(16, 0n), ['ecall']];
  const wait: Insn[] = [['wfi'], csrr(6, 0xc01), ['bltu', { rs1: 6, rs2: 8, imm: -8 }]];
  const dot = putc('.');
  const back = -4 * (body.length + wait.length + dot.length + 1);
  const prog: Insn[] = [
    ...li(5, 1n << 5n), csrw(0x104, 5), // sie.STIE (vsie)
    ...li(9, BigInt(ticks)),
    ...body, ...wait, ...dot,
    ['addi', { rd: 9, rs1: 9, imm: -1 }], ['bne', { rs1: 9, rs2: 0, imm: back }],
    ...putc('\n'), ...shutdown,
  ];
  const p = join(dir, `${name}.elf`);
  writeFileSync(p, buildElf({ entry: RAM, segments: [{ paddr: RAM, data: assemble(prog), section: '.text' }] }));
  return p;
}

function config(dir: string, vms: Array<{ name: string; kernel: string }>): HostConfig {
  return {
    path: join(dir, 'vms.yaml'), harts: 1, ramBytes: 32 * MiB,
    vms: vms.map((v) => ({
      name: v.name, vcpus: 1, memoryBytes: 4 * MiB, kernel: v.kernel, initrd: null, cmdline: null,
      weight: 256, cap: null, autostart: true, disks: [], shutdownTimeout: 10, paging: 'nested' as const,
    })),
  };
}

async function runOnce(cfg: HostConfig, pace: boolean) {
  const host = createHost(cfg);
  const out = new Map<string, string>();
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  const r = await host.run({ maxInsns: null, maxCycles: null, pace, onConsole: (n, b) => out.set(n, (out.get(n) ?? '') + Buffer.from(b).toString()) });
  const wallS = (performance.now() - w0) / 1000;
  const c = process.cpuUsage(cpu0);
  const cpuS = (c.user + c.system) / 1e6;
  const stats = await host.domstats();
  const virtualS = host.host.vms.map((v) => v.now / host.host.timing.cpuHz);
  host.close();
  return { r, out, wallS, cpuS, stats, virtualS };
}

describe('cyclevisor host --pace', () => {
  it('an idle VM paced: virtual time follows the wall clock, little CPU, the same output and counts as unpaced', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cv-pace-'));
    // 3 idle waits of 0.4 virtual s (4,000,000 ticks at 10 MHz): 1.2 s of virtual time.
    const cfg = config(dir, [{ name: 'idle', kernel: idleGuest(dir, 'idle', 3, 4_000_000n) }]);
    const fast = await runOnce(cfg, false);
    const paced = await runOnce(cfg, true);
    expect(fast.r.end).toBe('done');
    expect(paced.r.end).toBe('done');
    expect(fast.out.get('idle')).toBe('...\n');
    expect(paced.out.get('idle')).toBe('...\n');
    // Deterministic guest, no input: pacing changes when the clock jumps in wall time, not where.
    expect(paced.virtualS).toEqual(fast.virtualS);
    expect(paced.stats[0]!.stats['vcpu.0.instructions']).toBe(fast.stats[0]!.stats['vcpu.0.instructions']);
    expect(paced.stats[0]!.stats['vcpu.0.cycles']).toBe(fast.stats[0]!.stats['vcpu.0.cycles']);
    const v = paced.virtualS[0]!;
    expect(v).toBeGreaterThan(1.2);
    expect(v).toBeLessThan(1.3);
    // Paced: the wall time is at least the virtual time's idle part (minus timer slack) ...
    expect(paced.wallS).toBeGreaterThan(1.1);
    expect(paced.wallS).toBeLessThan(v + 4); // generous: a shared, loaded machine
    // ... spent sleeping, not spinning.
    expect(paced.cpuS).toBeLessThan(0.5 * paced.wallS);
    // --pace off: the idle clock jumps; a fraction of the virtual time in wall time.
    expect(fast.wallS).toBeLessThan(0.5 * v);
  }, 30_000);

  it('two idle VMs paced side by side each keep to the wall clock (the host sleeps for the first due)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cv-pace2-'));
    const cfg = config(dir, [
      { name: 'a', kernel: idleGuest(dir, 'a', 2, 3_000_000n) }, // 0.6 s
      { name: 'b', kernel: idleGuest(dir, 'b', 4, 2_500_000n) }, // 1.0 s
    ]);
    const paced = await runOnce(cfg, true);
    expect(paced.r.end).toBe('done');
    expect(paced.out.get('a')).toBe('..\n');
    expect(paced.out.get('b')).toBe('....\n');
    expect(paced.wallS).toBeGreaterThan(0.9); // the longer VM's idle second
    expect(paced.wallS).toBeLessThan(5);
    expect(paced.cpuS).toBeLessThan(0.5 * paced.wallS);
  }, 30_000);
});

describe('HostPacer (fake wall clock)', () => {
  const fakeVm = (now: number) => ({ now, held: false, state: 'running', pace: null }) as unknown as Vm;

  it('holds a jump until its wall time, releases it then; early input moves the clock to the wall time it came', () => {
    let wall = 1000;
    const p = new HostPacer(1e9, () => wall);
    const vm = fakeVm(5_000_000);
    p.attach(vm);
    // Anchor (wall 1000 ms, 5e6 cycles); the next wake-up 0.5 s later in virtual time: held.
    expect(vm.pace!(vm, 505_000_000)).toBe(false);
    vm.held = true;
    expect(p.nextDue()).toBeCloseTo(1500, 6);
    wall = 1200;
    expect(p.releaseDue()).toBe(0);
    // Input at wall 1200: released, its clock at 5e6 + 0.2 s, not at the wake-up.
    p.wakeEarly(vm);
    expect(vm.held).toBe(false);
    expect(vm.now).toBe(205_000_000);
    // Waits again for the same wake-up: due at wall 1500 still (same anchor).
    expect(vm.pace!(vm, 505_000_000)).toBe(false);
    wall = 1500;
    expect(p.releaseDue()).toBe(1);
    // Its due time has come: the jump goes ahead now.
    expect(vm.pace!(vm, 505_000_000)).toBe(true);
  });

  it('a lag beyond PACE_MAX_LAG_MS is dropped (re-anchored), a short one made up', () => {
    let wall = 0;
    const p = new HostPacer(1e9, () => wall);
    const vm = fakeVm(0);
    p.attach(vm);
    expect(vm.pace!(vm, 100_000_000)).toBe(false); // due at 100 ms
    wall = 300; // late by 200 ms: made up, no wait
    expect(vm.pace!(vm, 100_000_000)).toBe(true);
    (vm as { now: number }).now = 100_000_000;
    wall = 300 + PACE_MAX_LAG_MS + 500; // a long pause: pace on from here, no fast-forward
    expect(vm.pace!(vm, 150_000_000)).toBe(false);
    expect(p.nextDue()).toBeCloseTo(wall + 50, 6);
  });
});

describe('host --pace: the option and its default', () => {
  const cfg = (network?: string) =>
    ({
      vms: [{ nics: network ? [{ network, hostfwd: [], mac: new Uint8Array(6) }] : [] }],
    }) as unknown as HostConfig;
  const cmd = (...a: string[]) => parseArgs(['host', 'vms.yaml', ...a]) as Parameters<typeof hostPace>[0];
  it('off for a batch run, on with --control, --console or a user network; --pace wins', () => {
    expect(hostPace(cmd(), cfg())).toBe(false);
    expect(hostPace(cmd(), cfg('lan0'))).toBe(false);
    expect(hostPace(cmd(), cfg('user'))).toBe(true);
    expect(hostPace(cmd('--control', 'cv.sock'), cfg())).toBe(true);
    expect(hostPace(cmd('--console', 'web'), cfg())).toBe(true);
    expect(hostPace(cmd('--pace', 'off', '--control', 'cv.sock'), cfg('user'))).toBe(false);
    expect(hostPace(cmd('--pace', 'on'), cfg())).toBe(true);
  });
});

describe('NIC counters in domstats', () => {
  it('net.count and net.0.rx/tx.pkts/bytes/drop (libvirt names) in ctl domstats and the end-of-run table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cv-netstats-'));
    const base = config(dir, [{ name: 'web', kernel: idleGuest(dir, 'web', 1, 1000n) }, { name: 'db', kernel: idleGuest(dir, 'db', 1, 1000n) }]);
    const cfg: HostConfig = {
      ...base,
      vms: base.vms.map((v, i) => ({ ...v, nics: [{ network: 'lan0', hostfwd: [], mac: Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56 + i]) }] })),
    };
    const host = createHost(cfg);
    // Frames for web's NIC before its driver set up a receive queue (this guest has none): a runt
    // (shorter than an Ethernet header) is dropped at once, full frames when they are due and no
    // buffer waits for them (devices/virtio-net.ts). All count as rx drops, none as packets.
    const nic = host.host.vms[0]!.platform.nics[0]!;
    nic.receive(new Uint8Array(10));
    nic.receive(new Uint8Array(64).fill(0xff));
    nic.receive(new Uint8Array(60).fill(0xff));
    const r = await host.run({ maxInsns: null, maxCycles: null, onConsole: () => {} });
    expect(r.end).toBe('done');
    const stats = await host.domstats();
    const web = stats[0]!.stats;
    expect(web).toMatchObject({ 'net.count': 1, 'net.0.rx.pkts': 0, 'net.0.rx.bytes': 0, 'net.0.tx.pkts': 0, 'net.0.tx.bytes': 0, 'net.0.tx.drop': 0 });
    expect(web['net.0.rx.drop']).toBe(nic.stats.rxDrops);
    expect(web['net.0.rx.drop']).toBeGreaterThanOrEqual(1);
    expect(stats[1]!.stats).toMatchObject({ 'net.count': 1, 'net.0.rx.drop': 0 });
    const text = formatDomstats(stats);
    expect(text).toContain(`  net.0.rx.drop=${nic.stats.rxDrops}\n`);
    expect(text).toContain('  net.0.tx.pkts=0\n');
    const table = formatHostStatsText(stats, { harts: 1, ramBytes: 32 * MiB });
    expect(table).toContain(`web net.0: rx 0 pkts 0 B ${nic.stats.rxDrops} drops, tx 0 pkts 0 B 0 drops`);
    host.close();
  });
});
