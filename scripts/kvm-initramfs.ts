/**
 * Packs the nested-KVM initramfs: the shared busybox image (../shared/guests/initramfs-busybox.cpio.gz)
 * plus our KVM VMM, its guests, and an /init that runs them (test/guests/kvm/README.md).
 *
 *   npx tsx scripts/kvm-initramfs.ts [-o FILE] [--gzip] [--images DIR]
 *
 * Written as a pure-Node cpio "newc" (SVR4, no CRC: magic 070701) reader and writer, so neither the
 * tests nor CI need cpio(1). The result is derived, never committed: it holds a copy of the shared
 * 5 MB kernel (a second copy of a file that already lives in ../shared/guests), and building it
 * takes ~50 ms, so the test builds it in memory from the shared images and our small committed files
 * (the VMM, the VS-mode program, init.sh).
 *
 * The archive is written *uncompressed* by default: the outer Linux then unpacks it with a memcpy
 * per file instead of inflating ~8 MB in an emulated CPU (hundreds of millions of guest
 * instructions under cyclevisor). Linux accepts uncompressed newc archives as initrds
 * (init/initramfs.c). `--gzip` compresses it anyway (e.g. to copy it somewhere).
 *
 * Layout added to the busybox tree:
 *   /init                            test/guests/kvm/init.sh (replaces busybox-init.sh)
 *   /kvm/kvm-vmm                     test/guests/kvm/bin/kvm-vmm (static riscv64 ELF)
 *   /kvm/vs-hello.bin                test/guests/kvm/bin/vs-hello.bin (bare-metal VS-mode program)
 *   /kvm/Image                       ../shared/guests/linux-6.1-rv64.Image (the nested kernel)
 *   /kvm/initramfs-nolibc.cpio.gz    ../shared/guests/initramfs-nolibc.cpio.gz (the nested /init)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const KVM_KIT = join(ROOT, 'test', 'guests', 'kvm');
export const DEFAULT_IMAGES = join(ROOT, '..', 'shared', 'guests');

export interface CpioEntry {
  name: string;
  /** st_mode: file type and permission bits (e.g. 0o100755, 0o40755, 0o120777). */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  ino: number;
  devmajor: number;
  devminor: number;
  rdevmajor: number;
  rdevminor: number;
  data: Uint8Array;
}

const MAGIC = '070701';
const HEADER = 110;
const TRAILER = 'TRAILER!!!';
const align4 = (n: number): number => (n + 3) & ~3;

/** Parses a newc archive (one segment; stops at TRAILER!!!). */
export function parseCpio(buf: Uint8Array): CpioEntry[] {
  const out: CpioEntry[] = [];
  const text = (a: number, b: number) => Buffer.from(buf.subarray(a, b)).toString('latin1');
  let off = 0;
  for (;;) {
    if (off + HEADER > buf.length) throw new Error(`cpio: truncated header at ${off}`);
    const magic = text(off, off + 6);
    if (magic !== MAGIC) throw new Error(`cpio: bad magic '${magic}' at ${off} (only newc without CRC is supported)`);
    const field = (i: number) => parseInt(text(off + 6 + 8 * i, off + 14 + 8 * i), 16);
    const namesize = field(11);
    const filesize = field(6);
    const name = text(off + HEADER, off + HEADER + namesize - 1);
    const dataStart = align4(off + HEADER + namesize);
    if (dataStart + filesize > buf.length) throw new Error(`cpio: '${name}' runs past the end of the archive`);
    if (name === TRAILER) return out;
    out.push({
      name,
      ino: field(0),
      mode: field(1),
      uid: field(2),
      gid: field(3),
      nlink: field(4),
      mtime: field(5),
      devmajor: field(7),
      devminor: field(8),
      rdevmajor: field(9),
      rdevminor: field(10),
      data: buf.subarray(dataStart, dataStart + filesize),
    });
    off = align4(dataStart + filesize);
  }
}

/** Writes a newc archive with its trailer. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
  const pad = (len: number) => Buffer.alloc(align4(len) - len);
  const all = [...entries, { ...file(TRAILER, 0, new Uint8Array(0)), nlink: 1, ino: 0 }];
  for (const e of all) {
    const name = Buffer.from(e.name + '\0', 'latin1');
    const header = Buffer.from(
      MAGIC +
        [e.ino, e.mode, e.uid, e.gid, e.nlink, e.mtime, e.data.length, e.devmajor, e.devminor, e.rdevmajor, e.rdevminor, name.length, 0]
          .map(hex8)
          .join(''),
      'latin1',
    );
    parts.push(header, name, pad(HEADER + name.length), Buffer.from(e.data), pad(e.data.length));
  }
  return Buffer.concat(parts);
}

export function file(name: string, mode: number, data: Uint8Array): CpioEntry {
  return { name, mode, uid: 0, gid: 0, nlink: mode & 0o40000 ? 2 : 1, mtime: 0, ino: 0, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0, data };
}

export interface KvmInitramfsOptions {
  /** Directory with initramfs-busybox.cpio.gz, linux-6.1-rv64.Image, initramfs-nolibc.cpio.gz. */
  images?: string;
  /** gzip the result (default: uncompressed; see the header comment). */
  gzip?: boolean;
}

/** A file to add to the shared busybox image (mode includes the type bits, e.g. 0o100755). */
export interface OverlayFile {
  name: string;
  mode: number;
  data: Uint8Array;
}

/**
 * The shared busybox initramfs with entries dropped (`drop`) and files added after it (fresh inode
 * numbers): the one recipe of every derived test image (kvm, net, agent, xover). Deterministic.
 */
export function overlayBusybox(images: string, drop: (name: string) => boolean, adds: (base: CpioEntry[]) => OverlayFile[], gzip = false): Buffer {
  const base = parseCpio(gunzipSync(readFileSync(join(images, 'initramfs-busybox.cpio.gz'))));
  const kept = base.filter((e) => !drop(e.name));
  let ino = Math.max(0, ...kept.map((e) => e.ino)) + 1;
  const cpio = writeCpio([...kept, ...adds(base).map((f) => ({ ...file(f.name, f.mode, f.data), ino: ino++ }))]);
  return gzip ? gzipSync(cpio, { level: 9 }) : cpio;
}

/**
 * The command line of an initramfs script: `[-o FILE] [--gzip] [--images DIR]`; `write` makes the
 * image and returns its size. Bad arguments: one line, exit 2.
 */
export function initramfsMain(tool: string, defaultOut: string, argv: string[], write: (out: string, o: { gzip: boolean; images?: string }) => number): void {
  let out = defaultOut;
  let gzip = false;
  let images: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '--output') out = argv[++i] ?? '';
    else if (a === '--gzip') gzip = true;
    else if (a === '--images') images = argv[++i];
    else {
      process.stderr.write(`${tool}: unknown argument '${a}' (usage: ${tool}.ts [-o FILE] [--gzip] [--images DIR])\n`);
      process.exit(2);
    }
  }
  if (!out) {
    process.stderr.write(`${tool}: -o needs a file name\n`);
    process.exit(2);
  }
  try {
    const n = write(out, { gzip, ...(images !== undefined ? { images } : {}) });
    process.stdout.write(`${resolve(out)}: ${n} bytes\n`);
  } catch (e) {
    process.stderr.write(`${tool}: ${(e as Error).message}\n`);
    process.exit(2);
  }
}

/** Builds the nested-KVM initramfs in memory. */
export function buildKvmInitramfs(o: KvmInitramfsOptions = {}): Buffer {
  const images = o.images ?? DEFAULT_IMAGES;
  return overlayBusybox(images, (n) => n === 'init' || n === 'kvm' || n.startsWith('kvm/'), () => [
    { name: 'init', mode: 0o100755, data: readFileSync(join(KVM_KIT, 'init.sh')) },
    { name: 'kvm', mode: 0o40755, data: new Uint8Array(0) },
    { name: 'kvm/kvm-vmm', mode: 0o100755, data: readFileSync(join(KVM_KIT, 'bin', 'kvm-vmm')) },
    { name: 'kvm/vs-hello.bin', mode: 0o100644, data: readFileSync(join(KVM_KIT, 'bin', 'vs-hello.bin')) },
    { name: 'kvm/Image', mode: 0o100644, data: readFileSync(join(images, 'linux-6.1-rv64.Image')) },
    { name: 'kvm/initramfs-nolibc.cpio.gz', mode: 0o100644, data: readFileSync(join(images, 'initramfs-nolibc.cpio.gz')) },
  ], o.gzip);
}

function main(argv: string[]): void {
  initramfsMain('kvm-initramfs', 'initramfs-kvm.cpio', argv, (out, o) => {
    const buf = buildKvmInitramfs(o);
    writeFileSync(out, buf);
    return buf.length;
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
