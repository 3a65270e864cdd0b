/**
 * --trace-out on the VMM (src/trace/host.ts): two bare-metal VS-mode guests on a 2-hart host make
 * SBI calls, MMIO accesses to their UARTs and an access outside any device (a guest-page fault
 * exit; the VMM injects an access fault). The trace's VM-exit instants per VM and reason must
 * equal the VMs' exit statistics, the
 * host-hart slices must cover exactly the host cycles each VM used, and tracing must not change
 * any VM's counts. Spec: Priv 1.12 ch. 8 (guest-page faults), SBI 2.0.
 */
import { describe, expect, it } from 'vitest';
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li } from '../helpers/paging.js';
import { Host } from '../../src/hypervisor/host.js';
import { HostObserver } from '../../src/trace/host.js';
import { Tracer } from '../../src/trace/tracer.js';
import { readPerfetto } from '../../src/trace/perfetto-read.js';
import { EXIT_REASONS } from '../../src/hypervisor/vcpu.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;
const csrr = (rd: number, csr: number): Insn => ['csrrs', { rd, rs1: 0, imm: csr }];
const csrw = (csr: number, rs1: number): Insn => ['csrrw', { rd: 0, rs1, imm: csr }];
const ecall = (eid: bigint, fid: number, a0: bigint, a1 = 0n): Insn[] => [...li(17, eid), ...li(16, BigInt(fid)), ...li(10, a0), ...li(11, a1), ['ecall']];
const SKIP_HANDLER: Insn[] = [csrr(18, 0x142), csrr(5, 0x141), ['addi', { rd: 5, rs1: 5, imm: 4 }], csrw(0x141, 5), ['sret']];

function prog(tag: string, loops: bigint): Uint8Array {
  const main: Insn[] = [
    ...li(5, RAM + 0x800n), csrw(0x105, 5),
    // sie.STIE, SBI set_timer(time + 1000 ticks), wfi: a wfi exit, the vCPU waits for its VS timer.
    ...li(5, 1n << 5n), csrw(0x104, 5),
    csrr(6, 0xc01), ['addi', { rd: 10, rs1: 6, imm: 1000 }], ...li(17, 0x54494d45n), ...li(16, 0n), ['ecall'],
    ['wfi'],
    ...ecall(1n, 0, BigInt(tag.charCodeAt(0))), // SBI putchar: an sbi exit
    ...li(6, 0x1000_0000n), ...li(7, 0x21n), ['sb', { rs1: 6, rs2: 7, imm: 0 }], ['lbu', { rd: 8, rs1: 6, imm: 5 }], // two mmio exits
    ...li(6, 0x4000_0000n), ['ld', { rd: 9, rs1: 6, imm: 0 }], // nothing there: a fault exit (access fault injected)
    ...li(12, loops), ['addi', { rd: 12, rs1: 12, imm: -1 }], ['bne', { rs1: 12, rs2: 0, imm: -4 }],
    ...ecall(0x53525354n, 0, 0n, 0n), ['jal', { rd: 0, imm: 0 }], // SRST shutdown
  ];
  const code = new Uint8Array(0x1000);
  code.set(assemble(main), 0);
  code.set(assemble(SKIP_HANDLER), 0x800);
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: code, section: '.text' }] });
}

function runHost(format: 'json' | 'perfetto' | null) {
  const host = new Host({ harts: 2, ramBytes: 64 * MiB });
  host.addVm({ name: 'a', vcpus: 1, memoryBytes: 4 * MiB, kernel: prog('a', 200_000n) });
  host.addVm({ name: 'b', vcpus: 1, memoryBytes: 4 * MiB, kernel: prog('b', 350_000n) });
  const tracer = format ? new Tracer(format, host.timing.cpuHz) : null;
  const obs = format ? new HostObserver(host, tracer, 50_000) : null;
  const r = host.run({ maxHostCycles: 100_000_000 });
  obs?.finish();
  const stats = host.vms.map((v) => v.stats());
  const bytes = tracer?.finish() ?? null;
  host.close();
  return { r, stats, bytes, obs };
}

describe('--trace-out on the host (VMM)', () => {
  const plain = runHost(null);

  it('JSON: VM exits per VM and reason match the statistics; vCPU slices add up to each VM\'s host cycles', () => {
    const { r, stats, bytes } = runHost('json');
    expect(r).toEqual({ code: 0 });
    // Determinism: the same counts as without the observer.
    expect(stats.map((s) => [s.instructions, s.cycles, s.hostCycles, s.exits])).toEqual(plain.stats.map((s) => [s.instructions, s.cycles, s.hostCycles, s.exits]));
    const doc = JSON.parse(new TextDecoder().decode(bytes!)) as { traceEvents: Array<{ ph: string; name: string; pid: number; tid: number; ts: number; dur?: number; args?: Record<string, unknown> }> };
    const ev = doc.traceEvents;
    const proc = new Map<number, string>();
    for (const e of ev) if (e.ph === 'M' && e.name === 'process_name') proc.set(e.pid, (e.args as { name: string }).name);
    for (const s of stats) {
      const exits = ev.filter((e) => e.ph === 'i' && proc.get(e.pid) === s.name && e.name.startsWith('exit: '));
      for (const reason of EXIT_REASONS) expect(exits.filter((e) => e.args!.reason === reason).length, `${s.name} ${reason}`).toBe(s.exits[reason].count);
      expect(s.exits.sbi.count).toBeGreaterThanOrEqual(2);
      expect(s.exits.mmio.count).toBe(2);
      expect(s.exits.fault.count).toBe(1);
      // The wait is the wfi exit's instant (checked with the other reasons above); in host time it
      // takes (almost) nothing: the VM's clock jumps to its timer at no host cost.
      expect(s.exits.wfi.count).toBe(1);
      // Host-hart slices named "<vm> vCPU0" cover the VM's host cycles (1 GHz: 1 cycle = 1 ns = 0.001 µs).
      const slices = ev.filter((e) => e.ph === 'X' && proc.get(e.pid) === 'host harts' && e.name === `${s.name} vCPU0`);
      const us = slices.reduce((a, e) => a + e.dur!, 0);
      expect(Math.abs(us * 1000 - s.hostCycles)).toBeLessThanOrEqual(slices.length);
    }
    // Both host harts ran something (two VMs, two harts).
    const harts = new Set(ev.filter((e) => e.ph === 'X').map((e) => e.tid));
    expect(harts.size).toBe(2);
    // Exits happen inside the VM's host-hart slices (host time conversion).
    const a = ev.filter((e) => e.ph === 'X' && e.name === 'a vCPU0');
    for (const x of ev.filter((e) => e.ph === 'i' && proc.get(e.pid) === 'a' && e.name.startsWith('exit: '))) {
      expect(a.some((s) => x.ts >= s.ts - 0.001 && x.ts <= s.ts + s.dur! + 0.001)).toBe(true);
    }
  });

  it('Perfetto: the same exits decode from the protobuf file', () => {
    const { stats, bytes } = runHost('perfetto');
    const { tracks, events } = readPerfetto(bytes!);
    for (const s of stats) {
      const vcpu = [...tracks.values()].find((t) => t.group === s.name && t.name === 'vCPU 0')!;
      const exits = events.filter((e) => e.track === vcpu.uuid && e.name.startsWith('exit: '));
      expect(exits.length).toBe(Object.values(s.exits).reduce((x, e) => x + e.count, 0));
      expect(exits.filter((e) => e.args.reason === 'mmio').length).toBe(2);
    }
    expect([...tracks.values()].some((t) => t.kind === 'counter' && t.name === 'VM exits/s')).toBe(true);
  });
});

describe('cyclevisor host --trace-out --report (the CLI path)', () => {
  it('writes a trace whose exits match the per-VM statistics, and a report with the per-VM plots', async () => {
    const { mkdtempSync, writeFileSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { main } = await import('../../src/cli/main.js');
    const { fakeIo } = await import('../helpers/cli-io.js');
    const dir = mkdtempSync(join(tmpdir(), 'cv-host-trace-'));
    try {
      writeFileSync(join(dir, 'a.elf'), prog('a', 200_000n));
      writeFileSync(join(dir, 'b.elf'), prog('b', 350_000n));
      writeFileSync(
        join(dir, 'vms.yaml'),
        'host: { harts: 2, ram: 64M }\nvms:\n  - { name: a, vcpus: 1, memory: 4M, kernel: a.elf }\n  - { name: b, vcpus: 1, memory: 4M, kernel: b.elf }\n',
      );
      const io = fakeIo();
      const code = await main(['host', join(dir, 'vms.yaml'), '--stats', 'json', '--stats-file', join(dir, 's.json'), '--trace-out', join(dir, 't.json'), '--report', join(dir, 'r.html')], io);
      expect(io.err()).toBe('');
      expect(code).toBe(0);
      const stats = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8')) as { vms: Array<Record<string, number | string>> };
      const doc = JSON.parse(readFileSync(join(dir, 't.json'), 'utf8')) as { traceEvents: Array<{ ph: string; name: string; pid: number; args?: Record<string, unknown> }> };
      const proc = new Map<number, string>();
      for (const e of doc.traceEvents) if (e.ph === 'M' && e.name === 'process_name') proc.set(e.pid, (e.args as { name: string }).name);
      for (const vm of stats.vms) {
        for (const reason of EXIT_REASONS) {
          const n = doc.traceEvents.filter((e) => e.ph === 'i' && proc.get(e.pid) === vm.name && e.name === `exit: ${reason}`).length;
          expect(n, `${String(vm.name)} ${reason}`).toBe(vm[`exit.${reason}.count`]);
        }
      }
      const page = readFileSync(join(dir, 'r.html'), 'utf8');
      const svgs = page.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
      expect(svgs.length).toBe(5); // exits by reason, shares, MIPS per VM, exits over time, instructions per VM
      expect(svgs[0]).toContain('VM exits by reason');
      for (const s of svgs.slice(0, 2)) for (const name of ['>a<', '>b<']) expect(s).toContain(name);
      expect(svgs[0]).toContain('>mmio<');
      expect(page).not.toMatch(/<script/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('--trace-out on a timing-mode host', () => {
  it('the TLB misses counter adds up to the VMs\' modeled-TLB misses', () => {
    const host = new Host({ harts: 2, ramBytes: 64 * MiB }, { mode: 'timing' });
    host.addVm({ name: 'a', vcpus: 1, memoryBytes: 4 * MiB, kernel: prog('a', 50_000n) });
    host.addVm({ name: 'b', vcpus: 1, memoryBytes: 4 * MiB, kernel: prog('b', 80_000n) });
    const tracer = new Tracer('json', host.timing.cpuHz);
    const obs = new HostObserver(host, tracer, 20_000);
    expect(host.run({ maxHostCycles: 100_000_000 })).toEqual({ code: 0 });
    obs.finish();
    const misses = host.vms.reduce((n, v) => n + v.stats().tlb!.itlb.misses + v.stats().tlb!.dtlb.misses, 0);
    expect(misses).toBeGreaterThan(0);
    const ev = JSON.parse(new TextDecoder().decode(tracer.finish())).traceEvents as Array<{ ph: string; name: string; args?: { value: number } }>;
    const counted = ev.filter((e) => e.ph === 'C' && e.name === 'TLB misses').reduce((n, e) => n + e.args!.value, 0);
    expect(counted).toBe(misses);
    host.close();
  });
});
