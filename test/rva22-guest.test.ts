/**
 * RVA22 proof in the guest (issue 15 scope 5): Linux 6.1 + busybox runs test/guests/rva22/bitops,
 * a static user program GCC built with -march=rv64gc_zba_zbb_zbc_zbs (clz, ctz, cpop, rev8, rol,
 * ror, max, minu, andn, bset, sh*add(.uw), zext.w, sext.b, clmul, orc.b...), and halfops
 * (-march=rv64gc_zfh: fadd/fmul/fdiv/fsqrt/fmadd/fcvt .h in every rounding mode, with fflags).
 * Their console lines equal the ones recorded on QEMU 7.2 (test/guests/rva22/expected.out,
 * `make expected`), and with `--cpu rv64,zbb=off,zfh=off` the same binaries die of SIGILL
 * (exit 132): the instructions really ran.
 * /proc/cpuinfo's isa line is what cpu.ts linuxCpuinfoIsa predicts from the device tree.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { linuxCpuinfoIsa, parseCpu, type CpuOptions } from '../src/board/cpu.js';
import { buildRva22Initramfs, rva22Lines, RVA22_APPEND, RVA22_KIT } from '../scripts/rva22-initramfs.js';
import { haveImages, image } from './helpers/guests.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const have = haveImages('linux-6.1-rv64.Image', 'initramfs-busybox.cpio.gz');

function boot(cpu: CpuOptions): { out: string; m: VirtMachine } {
  const dir = mkdtempSync(join(tmpdir(), 'cv-rva22-'));
  const initrd = join(dir, 'initramfs-rva22.cpio');
  writeFileSync(initrd, buildRva22Initramfs());
  const m = new VirtMachine({ ramBytes: 256 << 20, cpu });
  bootLinux(m, { bios: 'builtin', kernel: image('linux-6.1-rv64.Image'), initrd, append: RVA22_APPEND });
  const r = m.runSync({ maxInsns: 1_000_000_000 });
  expect(r).toEqual({ reason: 'exit', code: 0 });
  return { out: m.outputText(), m };
}

describe.skipIf(!have)('RVA22 user program in the busybox guest (needs ../shared/guests)', () => {
  it('--cpu rv64 (every extension on): the same lines as on QEMU 7.2; cpuinfo says what the DT says', () => {
    const { out, m } = boot({});
    const want = readFileSync(join(RVA22_KIT, 'expected.out'), 'utf8').trim().split('\n');
    expect(rva22Lines(out)).toEqual(want);
    expect(out).toContain(`rva22-isa: ${linuxCpuinfoIsa(m.cpu)}`);
    expect(linuxCpuinfoIsa(m.cpu)).toBe(`rv64imafdc${m.cpu.h ? 'h' : ''}_sscofpmf_sstc_svinval_svpbmt_zicbom_zihintpause`);
  });

  it('--cpu rv64,zbb=off,zfh=off: both programs die of SIGILL (exit 132) at their first Zbb / Zfh instruction', () => {
    const { out } = boot(parseCpu('rv64,zbb=off,zfh=off'));
    const lines = rva22Lines(out);
    expect(lines).toEqual(['rva22: bitops start', 'rva22: bitops exit 132', 'rva22h: halfops start', 'rva22h: halfops exit 132']);
  });
});
