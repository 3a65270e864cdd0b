/**
 * Packs the crossover experiment's initramfs (issue 11): the shared busybox image
 * (../shared/guests/initramfs-busybox.cpio.gz) with /init replaced by test/guests/xover/init.sh and
 * the workload program test/guests/xover/bin/xover added as /xover. Uncompressed newc (as
 * scripts/kvm-initramfs.ts, whose cpio reader/writer it uses): the guest kernel copies it instead
 * of inflating it in emulated instructions. Derived, never committed (~50 ms to build).
 *
 *   npx tsx scripts/xover-initramfs.ts [-o FILE] [--images DIR]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { DEFAULT_IMAGES, parseCpio, writeCpio, type CpioEntry } from './kvm-initramfs.js';

import { existsSync } from 'node:fs';
/** The repository root: this file runs from scripts/ (tsx) or dist/scripts/ (imported by src/). */
function findRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'test', 'guests', 'xover')) && dirname(d) !== d) d = dirname(d);
  return d;
}
const ROOT = findRoot();
export const XOVER_KIT = join(ROOT, 'test', 'guests', 'xover');

export function buildXoverInitramfs(images: string = DEFAULT_IMAGES): Buffer {
  const base = parseCpio(gunzipSync(readFileSync(join(images, 'initramfs-busybox.cpio.gz'))));
  const kept = base.filter((e) => e.name !== 'init' && e.name !== 'xover');
  let ino = Math.max(0, ...kept.map((e) => e.ino)) + 1;
  const add = (name: string, mode: number, data: Uint8Array): CpioEntry => ({
    name, mode, uid: 0, gid: 0, nlink: 1, mtime: 0, ino: ino++, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0, data,
  });
  return writeCpio([
    ...kept,
    add('init', 0o100755, readFileSync(join(XOVER_KIT, 'init.sh'))),
    add('xover', 0o100755, readFileSync(join(XOVER_KIT, 'bin', 'xover'))),
  ]);
}

function main(argv: string[]): void {
  let out = 'initramfs-xover.cpio';
  let images: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '--output') out = argv[++i] ?? '';
    else if (a === '--images') images = argv[++i];
    else {
      process.stderr.write(`xover-initramfs: unknown argument '${a}' (usage: xover-initramfs.ts [-o FILE] [--images DIR])\n`);
      process.exit(2);
    }
  }
  try {
    const buf = buildXoverInitramfs(images);
    writeFileSync(out, buf);
    process.stdout.write(`${resolve(out)}: ${buf.length} bytes\n`);
  } catch (e) {
    process.stderr.write(`xover-initramfs: ${(e as Error).message}\n`);
    process.exit(2);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
