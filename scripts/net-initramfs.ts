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
import { DEFAULT_IMAGES, initramfsMain, overlayBusybox } from './kvm-initramfs.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const NET_KIT = join(ROOT, 'test', 'guests', 'net');

export function buildNetInitramfs(o: { images?: string; gzip?: boolean } = {}): Buffer {
  return overlayBusybox(o.images ?? DEFAULT_IMAGES, (n) => n === 'init' || n === 'etc/udhcpc.script', () => [
    { name: 'init', mode: 0o100755, data: readFileSync(join(NET_KIT, 'init.sh')) },
    { name: 'etc/udhcpc.script', mode: 0o100755, data: readFileSync(join(NET_KIT, 'udhcpc.script')) },
  ], o.gzip);
}

function main(argv: string[]): void {
  initramfsMain('net-initramfs', 'initramfs-net.cpio', argv, (out, o) => {
    const buf = buildNetInitramfs(o);
    writeFileSync(out, buf);
    return buf.length;
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
