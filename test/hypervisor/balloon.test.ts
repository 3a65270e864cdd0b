/**
 * Issue 12 scope 1 (ballooning), with the shared Linux kernel's virtio_balloon driver: a 256 MiB
 * busybox VM ballooned to 96 MiB gives ≥ 150 MiB of frames back to the host pool (inflated pages
 * and free page reporting); the guest goes on; memory it touches again after a deflate is backed by
 * fresh zeroed frames (never a crash).
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Host } from '../../src/hypervisor/host.js';

const GUESTS = join(import.meta.dirname, '..', '..', '..', 'shared', 'guests');
const KERNEL = join(GUESTS, 'linux-6.1-rv64.Image');
const BUSYBOX = join(GUESTS, 'initramfs-busybox.cpio.gz');
const MiB = 1024 * 1024;

describe.skipIf(!(existsSync(KERNEL) && existsSync(BUSYBOX)))('virtio-balloon with Linux (issue 12 bar)', () => {
  it('256 MiB → 96 MiB returns ≥ 150 MiB of frames to the pool; deflated memory touched again is backed anew', () => {
    const host = new Host({ harts: 1, ramBytes: 320 * MiB });
    const vm = host.addVm({ name: 'web', vcpus: 1, memoryBytes: 256 * MiB, kernel: KERNEL, initrd: BUSYBOX, cmdline: 'console=ttyS0', balloon: true });
    const until = (done: () => boolean, what: string) => {
      for (let i = 0; i < 200_000 && !done(); i++) {
        const r = host.runSome({ waitWhenPaused: true }, 50);
        if (r) throw new Error(`${what}: the host ended: ${JSON.stringify(r)}`);
      }
      expect(done(), what).toBe(true);
    };
    until(() => vm.outputText().includes('/ # '), 'prompt');
    const free0 = host.pool.freeChunks;
    const b = vm.balloon!;
    b.setMemory(96 * MiB);
    host.inputArrived(vm, new Uint8Array(0)); // the config interrupt may wake an idle VM
    until(() => b.device.actual === b.device.target, 'inflate');
    const returned = (host.pool.freeChunks - free0) * 2 * MiB;
    console.log(`balloon 256M → 96M: ${b.device.inflated} pages inflated, ${b.device.reported} reported free, ${returned / MiB} MiB of frames back in the pool, VM resident ${b.residentBytes / MiB} MiB`);
    expect(returned).toBeGreaterThanOrEqual(150 * MiB);
    expect(vm.stats()['balloon.current']).toBe(96 * MiB);
    expect(vm.stats()['balloon.rss']).toBeLessThanOrEqual(256 * MiB - returned);

    // Deflate, then make the guest use memory well beyond 96 MiB (tmpfs): the holes it touches get
    // fresh frames; the guest sees its data.
    b.setMemory(256 * MiB);
    host.inputArrived(vm, new Uint8Array(0));
    until(() => b.device.actual === 0, 'deflate');
    const mark = vm.outputText().length;
    host.inputArrived(vm, Buffer.from('head -c 40000000 /dev/zero > /tmp/x; wc -c < /tmp/x; rm /tmp/x; echo DONE-$((6*7))\n'));
    until(() => vm.outputText().slice(mark).includes('DONE-42'), 'use memory');
    expect(vm.outputText().slice(mark)).toMatch(/\n40000000\r?\n/);
    expect(b.refills).toBeGreaterThan(0);
    expect(vm.state).toBe('running');
    host.close();
  }, 300_000);
});
