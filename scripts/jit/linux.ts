// The Linux boot the JIT experiments share (jboot, jheat, jphase, jasync): Linux 6.1 and the nolibc
// initramfs from the shared guest images (env GUESTS=dir), 256 MiB, `console=ttyS0`, under
// OpenSBI fw_dynamic or the builtin SBI.
import { join } from 'node:path';
import { VirtMachine, type VirtOptions } from '../../src/board/virt.js';
import { bootLinux } from '../../src/board/boot.js';

const GUESTS = process.env.GUESTS ?? join(import.meta.dirname ?? '.', '../../../shared/guests');

/** A machine with the boot loaded, ready to run; `opts` adds board options (tier, jit, onOutput, ...). */
export function linuxMachine(bios: 'opensbi' | 'builtin', opts: Partial<VirtOptions> = {}): VirtMachine {
  const m = new VirtMachine({ ramBytes: 256 << 20, onOutput: () => {}, ...opts });
  bootLinux(m, {
    bios: bios === 'builtin' ? 'builtin' : join(GUESTS, 'opensbi-fw_dynamic.bin'),
    kernel: join(GUESTS, 'linux-6.1-rv64.Image'),
    initrd: join(GUESTS, 'initramfs-nolibc.cpio.gz'),
    append: 'console=ttyS0',
  });
  return m;
}
