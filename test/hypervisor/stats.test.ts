/**
 * The per-VM statistics table at the end of `cyclevisor host` (issue 10 scope 8: libvirt domstats
 * names where they exist; `--stats json` has one entry per VM under `vms`), and the `virsh
 * domstats` text of `ctl domstats`.
 */
import { describe, expect, it } from 'vitest';
import type { DomainStats } from '../../src/hypervisor/control-api.js';
import { compact, exitsByReason, formatDomstats, formatHostStatsJson, formatHostStatsText, stateName, sumOf } from '../../src/hypervisor/stats.js';

const web: DomainStats = {
  name: 'web',
  stats: {
    'state.state': 5,
    'state.reason': 1,
    'vcpu.current': 2,
    'vcpu.maximum': 2,
    'vcpu.0.instructions': 1_200_000,
    'vcpu.0.cycles': 2_000_000,
    'vcpu.1.instructions': 800_000,
    'vcpu.1.cycles': 1_000_000,
    'cpu.host_share': 66.66,
    'exit.sbi.count': 120,
    'exit.sbi.cycles': 36_000,
    'exit.mmio.count': 7,
    'exit.mmio.cycles': 2_100,
    'balloon.maximum': 262144,
    'balloon.rss': 65536,
    'block.count': 1,
    'block.0.name': 'vda',
    'block.0.rd.reqs': 10,
    'block.0.wr.reqs': 5,
    'console.bytes': 1234,
  },
};
const batch: DomainStats = {
  name: 'batch',
  stats: { 'state.state': 6, 'vcpu.maximum': 1, 'vcpu.0.instructions': 50, 'vcpu.0.cycles': 75, 'balloon.maximum': 131072, 'balloon.rss': 0, 'console.bytes': 0 },
};

describe('helpers', () => {
  it('sum per-vCPU and per-reason keys; map libvirt state numbers to names', () => {
    expect(sumOf(web, 'vcpu.', '.instructions')).toBe(2_000_000);
    expect(sumOf(web, 'exit.', '.count')).toBe(127);
    expect([...exitsByReason(web)]).toEqual([
      ['sbi', { count: 120, cycles: 36_000 }],
      ['mmio', { count: 7, cycles: 2_100 }],
    ]);
    expect(stateName(web)).toBe('shut off');
    expect(stateName(batch)).toBe('crashed');
  });
  it('compact numbers: exact below 100,000', () => {
    expect(compact(99_999)).toBe('99,999');
    expect(compact(2_000_000)).toBe('2.00M');
    expect(compact(123_456_789)).toBe('123M');
    expect(compact(12_345_678_901)).toBe('12.3G');
  });
});

describe('the text table', () => {
  it('one header, one row per VM in columns, the exits by reason', () => {
    const t = formatHostStatsText([web, batch], { harts: 2, ramBytes: 1 << 30, cycles: 3_000_000, instructions: 2_000_050, end: 'done' });
    const lines = t.trimEnd().split('\n');
    expect(lines[0]).toBe('cyclevisor host: 2 VMs on 2 harts, 1 GiB host RAM, 3,000,000 host cycles, 2,000,050 instructions');
    expect(lines[1]).toMatch(/^VM\s+State\s+vCPUs\s+Instructions\s+Cycles\s+Host share\s+Exits\s+Memory\s+Resident\s+Disk reqs\s+Console$/);
    expect(lines[2]!.split(/\s{2,}/)).toEqual(['web', 'shut off', '2', '2.00M', '3.00M', '66.7%', '127', '256MiB', '64MiB', '15', '1,234 B']);
    expect(lines[3]!.split(/\s{2,}/)).toEqual(['batch', 'crashed', '1', '50', '75', '-', '0', '128MiB', '0', '0', '0 B']);
    // Columns line up: every row as long as the header (right-aligned numbers end together).
    expect(lines[2]!.length).toBe(lines[1]!.length);
    expect(lines[4]).toBe('web exits: sbi 120 (36,000 cycles), mmio 7 (2,100 cycles)');
    expect(lines).toHaveLength(5);
  });
  it('a real host adds a line per VM with its guest-page faults and each disk\'s requests and bytes (issue 10 scope 8)', () => {
    const real: DomainStats = {
      name: 'web',
      stats: { ...web.stats, 'mem.guest_page_faults': 14_911, 'block.0.rd.bytes': 5120, 'block.0.wr.bytes': 2560, 'block.0.fl.reqs': 2 },
    };
    const lines = formatHostStatsText([real], { harts: 1, ramBytes: 1 << 30 }).trimEnd().split('\n');
    expect(lines[4]).toBe('web io: guest-page faults 14,911; vda 10 reads (5,120 B), 5 writes (2,560 B), 2 flushes');
  });
  it('says why the run stopped when it was not the end of every VM', () => {
    expect(formatHostStatsText([batch], { harts: 1, ramBytes: 1 << 28, end: 'max-insns' }).split('\n')[0]).toBe(
      'cyclevisor host: 1 VM on 1 hart, 256 MiB host RAM, stopped: max-insns',
    );
  });
});

describe('--stats json', () => {
  it('one entry per VM under vms, its domstats keys beside its name', () => {
    const j = JSON.parse(formatHostStatsJson([web, batch], { harts: 2, ramBytes: 1 << 30, end: 'done' })) as { host: unknown; vms: Record<string, unknown>[] };
    expect(j.host).toEqual({ harts: 2, ramBytes: 1 << 30, end: 'done' });
    expect(j.vms).toHaveLength(2);
    expect(j.vms[0]).toEqual({ name: 'web', ...web.stats });
    expect(j.vms[1]!['state.state']).toBe(6);
  });
});

describe('virsh domstats text', () => {
  it("Domain: 'NAME' then two-space-indented key=value lines, a blank line after each", () => {
    expect(formatDomstats([{ name: 'batch', stats: { 'state.state': 1, 'cpu.host_share': 33.3333, 'block.0.name': 'vda' } }])).toBe(
      "Domain: 'batch'\n  state.state=1\n  cpu.host_share=33.333\n  block.0.name=vda\n\n",
    );
  });
});
