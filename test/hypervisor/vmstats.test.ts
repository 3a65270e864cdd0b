/**
 * Issue 10 scope 8, per-VM statistics: in timing mode (host.mode: timing) each VM's modeled-TLB
 * counts and two-dimensional walk counts, in `domstats` (tlb.*), the end-of-run table (a `tlb:` line
 * per VM) and `--stats json`; and they are the VM's own — the same alone and beside a neighbour on a
 * 1- or 2-hart host (each vCPU has its own modeled TLB, src/hypervisor/tlbstate.ts; before, the
 * host hart's model was shared by every VM on it and the VMM's fence on a vCPU's move hit every
 * hart's model). Also every other point-8 statistic is there: state, vCPU instructions and cycles,
 * host share, exits by reason, guest-page faults, memory assigned and resident, disk requests and
 * bytes (block.*), console bytes.
 *
 * The Linux VMs run 15 M instructions (early boot, paging on), not to the end: timing mode is slower.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HostRunner } from '../../src/hypervisor/runner.js';
import type { HostConfig, VmConfig } from '../../src/hypervisor/config.js';
import type { DomainStats } from '../../src/hypervisor/control-api.js';
import { formatHostStatsJson, formatHostStatsText } from '../../src/hypervisor/stats.js';

const GUESTS = join(import.meta.dirname, '..', '..', '..', 'shared', 'guests');
const KERNEL = join(GUESTS, 'linux-6.1-rv64.Image');
const NOLIBC = join(GUESTS, 'initramfs-nolibc.cpio.gz');
const have = existsSync(KERNEL) && existsSync(NOLIBC);
const MiB = 1024 * 1024;
const INSNS = 15_000_000;

const vm = (name: string, vcpus: number): VmConfig => ({
  name,
  vcpus,
  memoryBytes: 128 * MiB,
  kernel: KERNEL,
  initrd: NOLIBC,
  cmdline: 'console=ttyS0',
  weight: 256,
  cap: null,
  autostart: true,
  disks: [],
  shutdownTimeout: 10,
  paging: 'nested',
});

async function run(harts: number, mode: 'fast' | 'timing', names: Array<[string, number]>): Promise<DomainStats[]> {
  const cfg: HostConfig = { path: '/x.yaml', harts, ramBytes: 512 * MiB, mode, vms: names.map(([n, c]) => vm(n, c)) };
  const r = new HostRunner(cfg);
  const subject = r.host.vms[0]!;
  // Stop once the first VM has retired INSNS (checked after every round: the same round of the
  // subject whatever ran between its rounds).
  r.host.run({ afterRound: () => (subject.stats().instructions >= INSNS ? 'stop' : undefined) });
  const s = await r.domstats();
  r.close();
  return s;
}

/** The subject's statistics that must not depend on its neighbours (host share and time do). */
function own(s: DomainStats): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(s.stats)) if (k !== 'cpu.host_share') out[k] = v;
  return out;
}

describe.skipIf(!have)('per-VM statistics (issue 10 scope 8)', () => {
  it('timing mode: TLB and two-dimensional walk counts per VM, the same alone and beside a neighbour on 1 or 2 host harts', async () => {
    const alone = await run(1, 'timing', [['web', 2]]);
    const s = alone[0]!;
    // The guest's paging is on: every translated access of a V=1 guest goes through the model, and
    // every walk is a two-dimensional one (VS stage and G stage).
    expect(s.stats['tlb.dtlb.accesses']).toBeGreaterThan(1_000_000);
    expect(s.stats['tlb.itlb.accesses']).toBeGreaterThan(100_000);
    expect(s.stats['tlb.dtlb.misses']).toBeGreaterThan(0);
    const walks = s.stats['tlb.walks'] as number;
    expect(walks).toBeGreaterThan(100);
    expect(s.stats['tlb.nested.walks']).toBe(walks);
    expect(s.stats['tlb.nested.g_refs']).toBeGreaterThan(s.stats['tlb.nested.vs_refs'] as number);
    expect(s.stats['tlb.nested.refs']).toBe((s.stats['tlb.nested.vs_refs'] as number) + (s.stats['tlb.nested.g_refs'] as number));
    expect(s.stats['tlb.walk_refs']).toBe(s.stats['tlb.nested.refs']);

    for (const harts of [1, 2]) {
      const withNeighbour = await run(harts, 'timing', [['web', 2], ['batch', 1]]);
      expect(own(withNeighbour[0]!), `${harts} hart(s)`).toEqual(own(s));
      // The neighbour's own counts are its own (it ran a different amount).
      expect(withNeighbour[1]!.stats['tlb.nested.walks']).toBeGreaterThan(0);
    }

    // The end-of-run table has a tlb line per VM; --stats json carries the keys.
    const text = formatHostStatsText(alone, { harts: 1, ramBytes: 512 * MiB });
    expect(text).toMatch(/^web tlb: iTLB \S+ \(\S+ misses\), dTLB \S+ \(\S+ misses\), L2 \S+ \(\S+ misses\), walks \S+ \(\S+ refs, \S+ cycles\), two-dimensional \S+ \(\S+ VS \+ \S+ G-stage refs\)$/m);
    const json = JSON.parse(formatHostStatsJson(alone, { harts: 1, ramBytes: 512 * MiB })) as { vms: Array<Record<string, unknown>> };
    expect(json.vms[0]!['tlb.nested.walks']).toBe(walks);
  }, 240_000);

  it('fast mode: every other point-8 statistic is in domstats (no tlb.* keys: the model is off)', async () => {
    const [s] = await run(1, 'fast', [['web', 1]]);
    const st = s!.stats;
    for (const k of [
      'state.state', 'state.reason', 'cpu.time', 'cpu.host_share', 'vcpu.current', 'vcpu.0.instructions', 'vcpu.0.cycles',
      'mem.guest_page_faults', 'balloon.current', 'balloon.rss', 'exit.mmio.count', 'exit.mmio.cycles', 'exit.sbi.count',
      'console.bytes', 'block.count',
    ]) expect(st, k).toHaveProperty([k]);
    expect(st['vcpu.0.instructions']).toBeGreaterThanOrEqual(INSNS);
    expect(st['mem.guest_page_faults']).toBeGreaterThan(0); // the UART's MMIO exits
    expect(st['mem.guest_page_faults']).toBe((st['exit.mmio.count'] as number) + (st['exit.fault.count'] as number));
    expect(st['balloon.current']).toBe(128 * 1024); // KiB, as libvirt
    expect(st['block.count']).toBe(0);
    expect(Object.keys(st).some((k) => k.startsWith('tlb.'))).toBe(false);
    const text = formatHostStatsText([s!], { harts: 1, ramBytes: 512 * MiB });
    expect(text).not.toMatch(/ tlb: /);
    expect(text).toMatch(new RegExp(`^web io: guest-page faults ${(st['mem.guest_page_faults'] as number).toLocaleString('en-US')}$`, 'm'));
  }, 120_000);
});
