/**
 * The glibc/busybox userland (lp64d: needs F and D) on Linux 6.1, with the image's `autotest`
 * script: the lines ../shared/guests/README.md lists, then power-off — in fast and timing mode.
 */
import { describe, expect, it } from 'vitest';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { haveImages, image } from './helpers/guests.js';

const have = haveImages('linux-6.1-rv64.Image', 'initramfs-busybox.cpio.gz', 'opensbi-fw_dynamic.bin');

describe.skipIf(!have)('busybox autotest (needs ../shared/guests)', () => {
  it.each([
    ['opensbi-fw_dynamic.bin', 'fast'],
    ['builtin', 'timing'],
  ] as const)('--bios %s --mode %s: every autotest line, then power off', (bios, mode) => {
    const m = new VirtMachine({ ramBytes: 256 << 20, mode });
    bootLinux(m, {
      bios: bios === 'builtin' ? bios : image(bios),
      kernel: image('linux-6.1-rv64.Image'),
      initrd: image('initramfs-busybox.cpio.gz'),
      append: 'console=ttyS0 autotest',
    });
    const r = m.runSync({ maxInsns: 1_000_000_000 });
    const out = m.outputText();
    expect(out).toContain('guest: busybox userland up, kernel 6.1.192');
    expect(out).toMatch(/^Linux \(none\) 6\.1\.192 #1 SMP .* riscv64 GNU\/Linux$/m);
    // misa, the device tree and /proc/cpuinfo agree on the ISA.
    expect(out).toMatch(/^isa\s+: rv64imafdc_sstc_zihintpause$/m);
    expect(out).toMatch(/^mmu\s+: sv57$/m);
    expect(out).toContain('sum: 2001000');
    expect(out).toContain('float: 0.707107');
    expect(out).toContain('AUTOTEST DONE');
    expect(r).toEqual({ reason: 'exit', code: 0 });
  });
});
