/**
 * Issue 12's bar for snapshots: the shared Linux kernel with the busybox initramfs running its
 * autotest workload (2 vCPUs), snapshotted mid-run (the VM keeps running) and restored into a
 * fresh host: the console transcript (before the snapshot + after the restore) and the final
 * counters equal an uninterrupted run's, to the instruction and the cycle.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { VmSpec } from '../../src/hypervisor/types.js';
import { counters, snapshotRun } from '../helpers/snapshot.js';

const GUESTS = join(import.meta.dirname, '..', '..', '..', 'shared', 'guests');
const KERNEL = join(GUESTS, 'linux-6.1-rv64.Image');
const BUSYBOX = join(GUESTS, 'initramfs-busybox.cpio.gz');
const have = existsSync(KERNEL) && existsSync(BUSYBOX);
const MiB = 1024 * 1024;

describe.skipIf(!have)('snapshot of Linux + busybox (issue 12 bar)', () => {
  it('busybox autotest on 2 vCPUs, snapshotted mid-workload and restored into a fresh host: same transcript, same counters', () => {
    const spec: VmSpec = { name: 'web', vcpus: 2, memoryBytes: 256 * MiB, kernel: KERNEL, initrd: BUSYBOX, cmdline: 'console=ttyS0 autotest' };
    const t0 = performance.now();
    const r = snapshotRun(spec, 140_000_000, { ram: 320 * MiB, maxHostCycles: 4e9 });
    const full = r.ref.outputText();
    expect(full).toContain('AUTOTEST DONE');
    expect(r.before).toContain('Linux version');
    expect(r.before).not.toContain('AUTOTEST DONE');
    console.log(`snapshot at VM cycle 140M; before it: ${r.before.includes('busybox userland up') ? 'userland up' : 'kernel boot'}`);
    expect(r.before + r.dst.outputText()).toBe(full);
    expect(counters(r.dst)).toEqual(counters(r.ref));
    console.log(`snapshot ${(r.file.length / MiB).toFixed(1)} MiB, test ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }, 300_000);
});
