/**
 * `npm run bench:disk`: disk I/O through virtio-blk for raw and qcow2 images, sequential and random
 * 4 KiB requests, in virtual time and in wall time.
 *
 * 1. Guest: Linux 6.1 + the busybox initramfs with bench/guest/diskbench appended; diskbench does
 *    O_DIRECT 4 KiB pwrite/pread on /dev/vda (sequential write, sequential read, random write,
 *    random read over the first BENCH_DISK_MIB MiB) and prints each phase's guest CLOCK_MONOTONIC
 *    time, which on cyclevisor is virtual time (cycles / timebase): virtual IOPS. The host stamps
 *    the phase lines with performance.now(): wall IOPS (the whole simulator: guest kernel, virtio,
 *    the format layer, the host file). The qcow2 image starts empty, so its sequential write phase
 *    allocates every cluster; the random write phase then overwrites allocated clusters.
 * 2. Host only (tinybench): the format layer alone, 4 KiB reads and writes on RawDisk and Qcow2Image
 *    (allocated and allocating), ops/s of wall time.
 *
 * Environment: BENCH_DISK_MIB (default 4), GUESTS (the images' directory).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { useOptimizingCompiler } from '../src/core.js';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { FdImageFile } from '../src/block/image-file.js';
import { createQcow2 } from '../src/block/qcow2-create.js';
import { openImage } from '../src/block/open-image.js';
import { overlayInitramfs } from '../test/helpers/cpio.js';

useOptimizingCompiler();

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const guests = process.env.GUESTS ?? join(root, '..', 'shared', 'guests');
const KERNEL = join(guests, 'linux-6.1-rv64.Image');
const BUSYBOX = join(guests, 'initramfs-busybox.cpio.gz');
const DISKBENCH = join(root, 'bench', 'guest', 'diskbench');
const MIB = Math.max(1, Number(process.env.BENCH_DISK_MIB ?? 4));
const DISK = 64 << 20;
for (const f of [KERNEL, BUSYBOX, DISKBENCH]) {
  if (!existsSync(f)) {
    console.error(`bench:disk: ${f} not found (set GUESTS to the guest image directory; make -C bench/guest)`);
    process.exit(2);
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'cv-bench-disk-'));
const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
/bin/diskbench /dev/vda ${MIB}
poweroff -f
`;
const initrd = join(tmp, 'bench.cpio.gz');
writeFileSync(
  initrd,
  overlayInitramfs(readFileSync(BUSYBOX), [
    { name: 'init', data: INIT },
    { name: 'bin/diskbench', data: readFileSync(DISKBENCH) },
  ]),
);

interface Phase {
  name: string;
  ops: number;
  virtualNs: number;
  wallMs: number;
}

function guestRun(format: 'raw' | 'qcow2'): Phase[] {
  const img = join(tmp, `disk.${format}`);
  if (format === 'raw') {
    const f = new FdImageFile(img, false, { create: true });
    f.truncate(DISK);
    f.close();
  } else createQcow2(img, { size: DISK });
  let text = '';
  const starts = new Map<string, number>();
  const phases: Phase[] = [];
  const m = new VirtMachine({
    ramBytes: 256 << 20,
    drives: [{ path: img, readOnly: false, format }],
    onOutput: (c) => {
      text += Buffer.from(c).toString('latin1');
      let nl: number;
      while ((nl = text.indexOf('\n')) >= 0) {
        const line = text.slice(0, nl).trim();
        text = text.slice(nl + 1);
        const s = /^bench: start (\S+)/.exec(line);
        if (s) starts.set(s[1]!, performance.now());
        const d = /^bench: done (\S+) (\d+) (\d+)/.exec(line);
        if (d) phases.push({ name: d[1]!, ops: Number(d[2]), virtualNs: Number(d[3]), wallMs: performance.now() - starts.get(d[1]!)! });
        if (/^bench: error/.test(line)) throw new Error(line);
      }
    },
  });
  bootLinux(m, { bios: 'builtin', kernel: KERNEL, initrd, append: 'console=ttyS0 quiet' });
  // In steps of 2 M instructions: console output reaches onOutput at every return of the run loop,
  // so a phase line is stamped at most one step (a few ms of wall time) late.
  let r = m.runSync({ maxInsns: 2e6 });
  while (r.reason === 'max-insns' && m.core.instret < 20e9) r = m.runSync({ maxInsns: m.core.instret + 2e6 });
  m.close();
  if (r.code !== 0 || phases.length !== 4) throw new Error(`guest run (${format}) ended ${JSON.stringify(r)} with ${phases.length} phases`);
  return phases;
}

const rows: Array<Record<string, string | number>> = [];
for (const format of ['raw', 'qcow2'] as const) {
  for (const p of guestRun(format)) {
    rows.push({
      image: format,
      phase: p.name,
      ops: p.ops,
      'virtual IOPS': Math.round(p.ops / (p.virtualNs / 1e9)),
      'wall IOPS': Math.round(p.ops / (p.wallMs / 1000)),
      'virtual µs/op': +(p.virtualNs / 1000 / p.ops).toFixed(1),
      'wall µs/op': +((p.wallMs * 1000) / p.ops).toFixed(1),
    });
  }
}
console.log(`Guest: diskbench, O_DIRECT 4 KiB requests over ${MIB} MiB of a 64 MiB disk (Linux 6.1, --bios builtin)`);
console.table(rows);

// ---------------------------------------------------------------- host only: the format layer
const raw = join(tmp, 'host.raw');
const q = join(tmp, 'host.qcow2');
const rf = new FdImageFile(raw, false, { create: true });
rf.truncate(DISK);
rf.close();
createQcow2(q, { size: DISK });
const rawDisk = openImage(raw, { readOnly: false, format: 'raw' });
const qDisk = openImage(q, { readOnly: false, format: 'qcow2' });
const buf = new Uint8Array(4096).fill(0x5a);
const blocks = DISK / 4096;
for (let b = 0; b < blocks; b++) qDisk.write(b * 4096, buf); // allocate everything once
let x = 1;
const rnd = () => {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0;
  return (x >>> 8) % blocks;
};
let seq = 0;
const next = () => (seq = (seq + 1) % blocks);
let fresh = 0;
const freshQ = join(tmp, 'fresh.qcow2');
createQcow2(freshQ, { size: 1 << 30 });
const freshDisk = openImage(freshQ, { readOnly: false, format: 'qcow2' });
const bench = new Bench({ time: 500 });
bench
  .add('raw  seq read 4K', () => rawDisk.read(next() * 4096, buf))
  .add('raw  rand read 4K', () => rawDisk.read(rnd() * 4096, buf))
  .add('raw  rand write 4K', () => rawDisk.write(rnd() * 4096, buf))
  .add('qcow2 seq read 4K', () => qDisk.read(next() * 4096, buf))
  .add('qcow2 rand read 4K', () => qDisk.read(rnd() * 4096, buf))
  .add('qcow2 rand write 4K (allocated)', () => qDisk.write(rnd() * 4096, buf))
  .add('qcow2 write 4K allocating a cluster', () => {
    freshDisk.write((fresh++ * 65536) % (1 << 30), buf);
  });
await bench.run();
console.log('Host only: the format layer (no guest), 4 KiB requests on a 64 MiB image');
console.table(bench.tasks.map((t) => ({ task: t.name, 'ops/s': Math.round((t.result as { throughput?: { mean: number } } | undefined)?.throughput?.mean ?? 0) })));
rawDisk.close();
qDisk.close();
freshDisk.close();
rmSync(tmp, { recursive: true, force: true });
