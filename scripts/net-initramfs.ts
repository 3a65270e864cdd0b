/**
 * Packs the network test initramfs: the shared busybox image (../shared/guests/initramfs-busybox.cpio.gz,
 * which has udhcpc, ping, wget, httpd, nc and nslookup) with our /init (test/guests/net/init.sh,
 * the network self-test) and udhcpc's event script (/etc/udhcpc.script).
 *
 *   npx tsx scripts/net-initramfs.ts [-o FILE] [--gzip] [--images DIR]
 *
 * Uses the newc reader/writer of scripts/kvm-initramfs.ts. Derived, not committed: the tests build
 * it in memory (~30 ms). Uncompressed by default (Linux accepts it; unpacking needs no inflate in
 * the emulated CPU).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DEFAULT_IMAGES, file, parseCpio, writeCpio, type CpioEntry } from './kvm-initramfs.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const NET_KIT = join(ROOT, 'test', 'guests', 'net');

export function buildNetInitramfs(o: { images?: string; gzip?: boolean } = {}): Buffer {
  const images = o.images ?? DEFAULT_IMAGES;
  const base = parseCpio(gunzipSync(readFileSync(join(images, 'initramfs-busybox.cpio.gz'))));
  const kept = base.filter((e) => e.name !== 'init' && e.name !== 'etc/udhcpc.script');
  let ino = Math.max(0, ...kept.map((e) => e.ino)) + 1;
  const add = (name: string, mode: number, data: Uint8Array): CpioEntry => ({ ...file(name, mode, data), ino: ino++ });
  const entries = [
    ...kept,
    add('init', 0o100755, readFileSync(join(NET_KIT, 'init.sh'))),
    add('etc/udhcpc.script', 0o100755, readFileSync(join(NET_KIT, 'udhcpc.script'))),
  ];
  const cpio = writeCpio(entries);
  return o.gzip ? gzipSync(cpio, { level: 9 }) : cpio;
}

function main(argv: string[]): void {
  let out = 'initramfs-net.cpio';
  let gzip = false;
  let images: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '--output') out = argv[++i] ?? '';
    else if (a === '--gzip') gzip = true;
    else if (a === '--images') images = argv[++i];
    else {
      process.stderr.write(`net-initramfs: unknown argument '${a}' (usage: net-initramfs.ts [-o FILE] [--gzip] [--images DIR])\n`);
      process.exit(2);
    }
  }
  if (!out) {
    process.stderr.write('net-initramfs: -o needs a file name\n');
    process.exit(2);
  }
  try {
    const buf = buildNetInitramfs({ gzip, ...(images !== undefined ? { images } : {}) });
    writeFileSync(out, buf);
    process.stdout.write(`${resolve(out)}: ${buf.length} bytes\n`);
  } catch (e) {
    process.stderr.write(`net-initramfs: ${(e as Error).message}\n`);
    process.exit(2);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
