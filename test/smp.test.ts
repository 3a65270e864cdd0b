/**
 * SMP: Linux brings every hart online, under cyclevisor's builtin SBI (HSM hart_start) and under
 * OpenSBI (all harts enter the firmware, which releases the secondaries), and SMP runs are as
 * deterministic as single-hart ones (round-robin by cycles, no host timing involved).
 */
import { describe, expect, it } from 'vitest';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { haveImages, image } from './helpers/guests.js';

const have = haveImages('linux-6.1-rv64.Image', 'initramfs-nolibc.cpio.gz', 'opensbi-fw_dynamic.bin');

function boot(bios: string, harts: number) {
  const m = new VirtMachine({ ramBytes: 256 << 20, harts });
  bootLinux(m, {
    bios: bios === 'builtin' ? bios : image(bios),
    kernel: image('linux-6.1-rv64.Image'),
    initrd: image('initramfs-nolibc.cpio.gz'),
    append: 'console=ttyS0',
  });
  const r = m.runSync({ maxInsns: 600_000_000 });
  return { m, r, out: m.outputText() };
}

describe.skipIf(!have)('Linux on several harts (needs ../shared/guests)', () => {
  it.each([
    ['builtin', 2],
    ['opensbi-fw_dynamic.bin', 2],
    ['builtin', 4],
  ] as const)('--bios %s --smp %i: all CPUs online, init runs, power off', (bios, harts) => {
    const { r, out } = boot(bios, harts);
    expect(out).toContain(`smp: Brought up 1 node, ${harts} CPUs`);
    for (let h = 0; h < harts; h++) expect(out).toMatch(new RegExp(`^hart\\s+: ${h}$`, 'm'));
    expect(out).toContain('init: loop done 7abae2d0a1937501');
    expect(out).toContain('reboot: Power down');
    expect(r).toEqual({ reason: 'exit', code: 0 });
  });

  it('two --smp 2 boots are identical (instructions, cycles, output)', () => {
    const a = boot('builtin', 2);
    const b = boot('builtin', 2);
    expect(b.m.totalInstret()).toBe(a.m.totalInstret());
    expect(b.m.core.cycles).toBe(a.m.core.cycles);
    expect(b.out).toBe(a.out);
  });
});
