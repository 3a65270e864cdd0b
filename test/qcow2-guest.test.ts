/**
 * Issue 13 bar: qcow2 images made by `qemu-img create -f qcow2` (with and without a backing file)
 * boot and are written by a Linux guest; `qemu-img check` finds no errors afterwards; and an image
 * `cyclevisor img create` made is written by QEMU's own guest (qemu-system-riscv64) and checks
 * clean too.
 *
 * The guest is the shared busybox initramfs with another /init appended (a second cpio archive:
 * the kernel unpacks both, the later /init wins; test/helpers/cpio.ts). That /init prints the disk
 * size and an md5 of its first 64 KiB, writes `seq 1 30000` (168894 bytes) at byte 1228800 with
 * 4 KiB blocks and its first 2560 bytes at sector 3 (partial clusters at both ends, so copy on
 * write from the backing file), each with conv=fsync (virtio FLUSH), drops the page cache, reads
 * the data back and prints its md5, then powers off.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { fakeIo } from './helpers/cli-io.js';
import { haveImages, image } from './helpers/guests.js';
import { overlayInitramfs } from './helpers/cpio.js';

const has = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
const QEMU_IMG = has('qemu-img') && has('qemu-io');
const QEMU = has('qemu-system-riscv64');
const HAVE = haveImages('linux-6.1-rv64.Image', 'initramfs-busybox.cpio.gz', 'opensbi-fw_dynamic.bin');

const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
case " $(cat /proc/cmdline) " in
  *" guardtest "*)
    printf 'QFI\\373\\0\\0\\0\\3' > /tmp/h
    for d in vda vdb; do
      if dd if=/tmp/h of=/dev/$d bs=512 count=1 conv=sync,fsync 2>/dev/null; then echo "guard: $d written"; else echo "guard: $d refused"; fi
    done
    echo "GUARD TEST DONE"
    poweroff -f ;;
esac
echo "disk: vda $(cat /sys/block/vda/size) sectors"
echo "head: $(dd if=/dev/vda bs=65536 count=1 2>/dev/null | md5sum | cut -d' ' -f1)"
seq 1 30000 > /tmp/p
dd if=/tmp/p of=/dev/vda bs=4096 seek=300 conv=fsync 2>/dev/null
dd if=/tmp/p of=/dev/vda bs=512 seek=3 count=5 conv=fsync 2>/dev/null
echo "wrote: $(md5sum < /tmp/p | cut -d' ' -f1)"
echo 3 > /proc/sys/vm/drop_caches
echo "readback: $(dd if=/dev/vda bs=4096 skip=300 count=42 2>/dev/null | head -c 168894 | md5sum | cut -d' ' -f1)"
echo "DISK TEST DONE"
poweroff -f
`;

/** What `seq 1 30000` prints. */
const SEQ = Buffer.from(Array.from({ length: 30000 }, (_, i) => `${i + 1}\n`).join(''));
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

let tmp: string;
let initrd: string;
const T = (n: string) => join(tmp, n);
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cv-qcow2-guest-'));
  initrd = T('disk-test.cpio.gz');
  if (HAVE) writeFileSync(initrd, overlayInitramfs(readFileSync(image('initramfs-busybox.cpio.gz')), [{ name: 'init', data: INIT }]));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
function qemuRaw(file: string): Buffer {
  const out = `${file}.raw-view`;
  expect(run('qemu-img', ['convert', '-O', 'raw', file, out]).status).toBe(0);
  const b = readFileSync(out);
  rmSync(out);
  return b;
}

/** The guest's lines, checked against what the host computes for `expectedHead`. */
function checkGuestLines(out: string, sectors: number, expectedHead: Uint8Array): void {
  expect(out).toContain(`disk: vda ${sectors} sectors`);
  expect(out).toContain(`head: ${md5(expectedHead)}`);
  expect(out).toContain(`wrote: ${md5(SEQ)}`);
  expect(out).toContain(`readback: ${md5(SEQ)}`);
  expect(out).toContain('DISK TEST DONE');
}

/** The image after the guest: its writes where they belong, `before` everywhere else. */
function checkImageAfter(file: string, before: Uint8Array): void {
  const c = run('qemu-img', ['check', file]);
  expect(c.status, c.stdout + c.stderr).toBe(0);
  expect(c.stdout).toContain('No errors were found on the image.');
  const want = Buffer.from(before);
  SEQ.copy(want, 1228800);
  SEQ.copy(want, 1536, 0, 2560);
  expect(qemuRaw(file).equals(want)).toBe(true);
}

async function bootCyclevisor(drive: string, more: string[] = [], append = 'console=ttyS0') {
  const io = fakeIo();
  const code = await main(
    ['boot', '--kernel', image('linux-6.1-rv64.Image'), '--initrd', initrd, '--append', append, '--drive', drive, ...more, '--max-insns', '2e9'],
    io,
  );
  return { code, out: io.out(), err: io.err() };
}

describe.skipIf(!HAVE || !QEMU_IMG)('qcow2 disks under a Linux guest (needs ../shared/guests and qemu-img)', () => {
  it('an image from qemu-img create -f qcow2: the guest writes it; qemu-img check clean; QEMU reads the bytes', async () => {
    const f = T('plain.qcow2');
    expect(run('qemu-img', ['create', '-q', '-f', 'qcow2', f, '8M']).status).toBe(0);
    const r = await bootCyclevisor(`file=${f}`);
    expect(r.code, r.err).toBe(0);
    checkGuestLines(r.out, 16384, new Uint8Array(65536));
    checkImageAfter(f, new Uint8Array(8 << 20));
  }, 300_000);

  it('an overlay from qemu-img create -b base.qcow2 -F qcow2: reads the base, copies on write, base untouched', async () => {
    const base = T('base.qcow2');
    const over = T('over.qcow2');
    expect(run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '8M']).status).toBe(0);
    expect(run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xa5 0 8M', base]).status).toBe(0);
    expect(run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', over]).status).toBe(0);
    const baseBytes = readFileSync(base);
    const r = await bootCyclevisor(`file=${over},format=qcow2`);
    expect(r.code, r.err).toBe(0);
    checkGuestLines(r.out, 16384, new Uint8Array(65536).fill(0xa5));
    checkImageAfter(over, new Uint8Array(8 << 20).fill(0xa5));
    expect(readFileSync(base).equals(baseBytes)).toBe(true);
    // Only the touched clusters were allocated in the overlay (sector 3 → cluster 0; 1228800.. → 18-21).
    const j = JSON.parse(run('qemu-img', ['check', '--output=json', over]).stdout) as { 'allocated-clusters': number };
    expect(j['allocated-clusters']).toBe(5);
  }, 300_000);

  it('a raw image whose format was probed: the guest cannot write a qcow2 header into sector 0 (format=raw can)', async () => {
    const a = T('probed.img');
    const b = T('explicit.img');
    writeFileSync(a, new Uint8Array(1 << 20));
    writeFileSync(b, new Uint8Array(1 << 20));
    const r = await bootCyclevisor(`file=${a}`, ['--drive', `file=${b},format=raw`], 'console=ttyS0 guardtest');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('guard: vda refused');
    expect(r.out).toContain('guard: vdb written');
    expect(r.out).toContain('GUARD TEST DONE');
    expect(readFileSync(a).every((v) => v === 0)).toBe(true);
    expect([...readFileSync(b).subarray(0, 8)]).toEqual([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);
  }, 300_000);

  it.skipIf(!QEMU)('an image cyclevisor img create made: QEMU boots with it, writes it, and qemu-img check is clean', async () => {
    const f = T('ours.qcow2');
    const io = fakeIo();
    expect(await main(['img', 'create', '-q', '-f', 'qcow2', f, '8M'], io)).toBe(0);
    const q = run('qemu-system-riscv64', [
      '-M', 'virt', '-m', '256M', '-nographic', '-bios', image('opensbi-fw_dynamic.bin'),
      '-kernel', image('linux-6.1-rv64.Image'), '-initrd', initrd, '-append', 'console=ttyS0',
      '-drive', `file=${f},format=qcow2,if=none,id=d0`, '-device', 'virtio-blk-device,drive=d0',
    ]);
    expect(q.stdout).toContain('DISK TEST DONE');
    checkGuestLines(q.stdout, 16384, new Uint8Array(65536));
    checkImageAfter(f, new Uint8Array(8 << 20));
    // And our own check agrees.
    const io2 = fakeIo();
    expect(await main(['img', 'check', f], io2)).toBe(0);
  }, 300_000);
});
