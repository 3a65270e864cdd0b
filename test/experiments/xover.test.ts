/**
 * The crossover experiment's Linux half, smallest case (issue 11 item 3): the xover initramfs
 * (scripts/xover-initramfs.ts) boots the shared kernel in a VM of the VMM, runs the workloads the
 * command line names, reports transparent_hugepage as set on the command line, and each workload's
 * line parses into operations and guest time. The full experiment (`cyclevisor experiment
 * crossover`) runs outside npm test.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCpio } from '../../scripts/kvm-initramfs.js';
import { buildXoverInitramfs } from '../../scripts/xover-initramfs.js';
import { normalizePoint, runPoint } from '../../src/experiments/point.js';

const GUESTS = join(import.meta.dirname, '..', '..', '..', 'shared', 'guests');
const have = existsSync(join(GUESTS, 'linux-6.1-rv64.Image')) && existsSync(join(GUESTS, 'initramfs-busybox.cpio.gz'));

describe.skipIf(!have)('crossover workloads (xover) in a VM', () => {
  it('the initramfs holds busybox, /xover and our /init', () => {
    const names = parseCpio(buildXoverInitramfs(GUESTS)).map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['init', 'xover', 'bin/busybox']));
    expect(names.filter((n) => n === 'init')).toHaveLength(1);
  });

  it('nested: every workload reports its operations; THP as the command line sets it', () => {
    const m = runPoint(normalizePoint({ workload: 'xover', paging: 'nested', thp: 'never', ops: 'fork:2,mmap:2:4,tlb:1000:4' }));
    expect(m['thpReported']).toBe('always madvise [never]');
    expect([m['forkOps'], m['mmapOps'], m['tlbOps']]).toEqual([2, 2, 1000]);
    for (const k of ['forkNsPerOp', 'mmapNsPerOp', 'tlbNsPerOp']) expect(m[k]).toBeGreaterThan(0);
    expect(m['nestedWalks']).toBeGreaterThan(0);
    expect(m['exits']).toBeGreaterThan(0); // the UART
  }, 120_000);

  it('shadow paging is refused for tlbwalk, its own hypervisor, in one line', () => {
    expect(() => normalizePoint({ workload: 'tlbwalk', paging: 'shadow' })).toThrow(
      "paging: shadow needs a workload that runs in a VM of cyclevisor's VMM (xover), not tlbwalk",
    );
  });
});
