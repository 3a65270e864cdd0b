/**
 * The RVA22 proof initramfs (issue 15 scope 5): the shared busybox image plus
 *   /rva22/init.sh   test/guests/rva22/init.sh (boot with rdinit=/rva22/init.sh)
 *   /rva22/bitops    test/guests/rva22/bitops (static, -march=rv64gc_zba_zbb_zbc_zbs)
 *   /rva22/halfops   test/guests/rva22/halfops (static, -march=rv64gc_zfh)
 *
 *   npx tsx scripts/rva22-initramfs.ts [-o FILE]   write the (uncompressed) cpio
 *   npx tsx scripts/rva22-initramfs.ts --qemu      boot it on QEMU 7.2 with Zba/Zbb/Zbc/Zbs and
 *                                                  print its "rva22: " / "rva22h: " lines (expected.out)
 */
import { mkdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { DEFAULT_IMAGES, parseCpio, writeCpio, type CpioEntry } from './kvm-initramfs.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const RVA22_KIT = join(ROOT, 'test', 'guests', 'rva22');
export const RVA22_APPEND = 'console=ttyS0 rdinit=/rva22/init.sh';
/** The QEMU 7.2 CPU the expected output was recorded on. */
export const RVA22_QEMU_CPU = 'rv64,zba=true,zbb=true,zbc=true,zbs=true,Zfh=true';

export function buildRva22Initramfs(images: string = DEFAULT_IMAGES): Buffer {
  const base = parseCpio(gunzipSync(readFileSync(join(images, 'initramfs-busybox.cpio.gz'))));
  let ino = Math.max(0, ...base.map((e) => e.ino)) + 1;
  const add = (name: string, mode: number, data: Uint8Array): CpioEntry => ({
    name, mode, uid: 0, gid: 0, nlink: 1, mtime: 0, ino: ino++, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0, data,
  });
  return writeCpio([
    ...base.filter((e) => !e.name.startsWith('rva22')),
    add('rva22', 0o40755, new Uint8Array(0)),
    add('rva22/init.sh', 0o100755, readFileSync(join(RVA22_KIT, 'init.sh'))),
    add('rva22/bitops', 0o100755, readFileSync(join(RVA22_KIT, 'bitops'))),
    add('rva22/halfops', 0o100755, readFileSync(join(RVA22_KIT, 'halfops'))),
  ]);
}

/** The lines the comparison uses: "rva22: ..." and "rva22h: ..." (not the ISA line, which differs). */
export function rva22Lines(console: string): string[] {
  return console.split(/\r?\n/).filter((l) => l.startsWith('rva22: ') || l.startsWith('rva22h: '));
}

function main(argv: string[]): void {
  if (argv[0] === '--qemu') {
    const dir = mkdtempSync(join(tmpdir(), 'rva22-'));
    const cpio = join(dir, 'initramfs.cpio');
    writeFileSync(cpio, buildRva22Initramfs());
    const r = spawnSync('qemu-system-riscv64', [
      '-M', 'virt', '-cpu', RVA22_QEMU_CPU, '-m', '256M', '-nographic', '-bios', join(DEFAULT_IMAGES, 'opensbi-fw_dynamic.bin'),
      '-kernel', join(DEFAULT_IMAGES, 'linux-6.1-rv64.Image'), '-initrd', cpio, '-append', RVA22_APPEND,
    ], { encoding: 'utf8', timeout: 120_000 });
    process.stdout.write(rva22Lines(r.stdout ?? '').join('\n') + '\n');
    return;
  }
  const out = argv[0] === '-o' ? argv[1]! : join(ROOT, 'build', 'initramfs-rva22.cpio');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, buildRva22Initramfs());
  process.stderr.write(`wrote ${out}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
