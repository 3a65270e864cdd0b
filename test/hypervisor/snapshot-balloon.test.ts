/**
 * Issue 12 scope 4 with scope 1: a snapshot of a VM whose balloon is inflated. Touching a chunk
 * the balloon gave back is a guest-page fault the guest pays for (an exit, its cycles), so the
 * restored VM must have the same holes, the same inflated-page list (what a later inflate or free
 * page report discards) and the same device state (target, actual) — snapshot format version 2.
 * The shared Linux kernel's virtio_balloon driver inflates to a 96 MiB target during the busybox
 * autotest; the VM is snapshotted mid-run (it keeps running) and restored into a fresh host: the
 * console transcript and the counters (instructions, cycles, exits, balloon) equal an
 * uninterrupted run's.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Host } from '../../src/hypervisor/host.js';
import type { Vm } from '../../src/hypervisor/vm.js';
import type { VmSpec } from '../../src/hypervisor/types.js';
import { decodeSnapshot, restoreVm, saveVm } from '../../src/hypervisor/snapshot.js';
import { counters } from '../helpers/snapshot.js';

const GUESTS = join(import.meta.dirname, '..', '..', '..', 'shared', 'guests');
const KERNEL = join(GUESTS, 'linux-6.1-rv64.Image');
const BUSYBOX = join(GUESTS, 'initramfs-busybox.cpio.gz');
const MiB = 1024 * 1024;

describe.skipIf(!(existsSync(KERNEL) && existsSync(BUSYBOX)))('snapshot of a VM with an inflated balloon (issue 12)', () => {
  it('busybox autotest ballooned to 96 MiB, snapshotted mid-run, restored in a fresh host: same transcript, counters, holes and balloon', () => {
    const spec: VmSpec = { name: 'web', vcpus: 1, memoryBytes: 256 * MiB, kernel: KERNEL, initrd: BUSYBOX, cmdline: 'console=ttyS0 autotest' };
    const AT = 140_000_000;
    const balloonOf = (vm: Vm) => ({
      vmm: vm.balloon!.getState(),
      device: vm.balloon!.device.getState(),
      holes: vm.memory.holes(),
      resident: vm.balloon!.residentBytes,
    });
    const start = (h: Host) => {
      const vm = h.addVm(spec);
      vm.balloon!.setMemory(96 * MiB); // the driver reads the target when it probes
      return vm;
    };

    const ref = new Host({ harts: 1, ramBytes: 320 * MiB });
    const rvm = start(ref);
    expect(ref.run({ maxHostCycles: 4e9 }).code).toBe(0);
    const full = rvm.outputText();
    expect(full).toContain('AUTOTEST DONE');

    const src = new Host({ harts: 1, ramBytes: 320 * MiB });
    const svm = start(src);
    let file: Buffer | null = null;
    let before = '';
    let atSnap: ReturnType<typeof balloonOf> | null = null;
    src.run({
      maxHostCycles: 4e9,
      afterRound: (h) => {
        if (file === null && svm.now >= AT && svm.state === 'running') {
          file = saveVm(h, svm).file;
          before = svm.outputText();
          atSnap = balloonOf(svm);
        }
      },
    });
    expect(file).not.toBeNull();
    // The balloon was inflated when the snapshot was taken: chunks handed back to the pool.
    expect(atSnap!.device.actual).toBeGreaterThan(0);
    expect(atSnap!.holes.length).toBeGreaterThan(10);
    const meta = decodeSnapshot(file!).meta;
    expect(meta.holes).toEqual(atSnap!.holes);
    expect(meta.balloon).toEqual(atSnap!.vmm);
    expect(before).not.toContain('AUTOTEST DONE');

    const dst = new Host({ harts: 1, ramBytes: 320 * MiB });
    const dvm = dst.addVm({ ...spec, autostart: false });
    restoreVm(dst, dvm, file!, 'web.cvsnap');
    // Restored with the same holes: their frames are in the pool, not the VM.
    expect(balloonOf(dvm)).toEqual(atSnap);
    expect(dst.run({ maxHostCycles: 4e9 }).code).toBe(0);

    expect(before + dvm.outputText()).toBe(full);
    expect(counters(dvm)).toEqual(counters(rvm));
    expect(dvm.stats().guestPageFaults).toBe(rvm.stats().guestPageFaults);
    expect(balloonOf(dvm)).toEqual(balloonOf(rvm));
    console.log(`balloon snapshot at VM cycle ${AT / 1e6}M: actual ${atSnap!.device.actual} pages, ${atSnap!.holes.length} holes; file ${(file!.length / MiB).toFixed(2)} MiB`);
    for (const h of [ref, src, dst]) h.close();
  }, 600_000);
});
