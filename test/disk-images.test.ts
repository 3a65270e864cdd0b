/**
 * Issue 8, items 4 and 5: output files that are run inputs, and disk images (formats, sizes,
 * locking, an image deleted or truncated under a running guest).
 *
 * - Format probe: a committed 512-byte qcow2 header (test/fixtures/qcow2-64M-header.img, the first
 *   sector `qemu-img create -f qcow2 x 64M` wrote) is refused (as a truncated qcow2); with qemu-img
 *   installed, every format it creates is made here and our verdict is compared with
 *   `qemu-img info`'s.
 * - Locking: two real processes (a second `cyclevisor boot` while a first holds the image), and
 *   against qemu-system-riscv64 both ways when it is installed (QEMU's OFD locks on bytes 100+,
 *   200+ and our fcntl record locks conflict).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  copyFileSync,
  readdirSync,
  readlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { VirtMachine } from '../src/board/virt.js';
import { fakeIo } from './helpers/cli-io.js';
import { ROOT, GUESTS, haveImages, image } from './helpers/guests.js';
import { checkImage, detectFormat, IMAGE_FORMATS, ImageFormatError, readProbe, type ImageFormat } from '../devices/image-format.js';
import { FileBlockBackend, SECTOR_SIZE } from '../devices/virtio-blk.js';
import { closeSync, openSync } from 'node:fs';

const BIN = join(ROOT, 'bin', 'cyclevisor.js');
const FIXTURE_QCOW2 = join(ROOT, 'test', 'fixtures', 'qcow2-64M-header.img');
const HELLO = join(GUESTS, 'bin', 'hello.elf');

const has = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_QEMU_IMG = has('qemu-img');
const HAVE_QEMU = has('qemu-system-riscv64');
const KERNEL = image('linux-6.1-rv64.Image');
const BUSYBOX = image('initramfs-busybox.cpio.gz');
const OPENSBI = image('opensbi-fw_dynamic.bin');
const HAVE_LINUX = haveImages('linux-6.1-rv64.Image', 'initramfs-busybox.cpio.gz', 'opensbi-fw_dynamic.bin');
if (!HAVE_QEMU_IMG) console.warn('test/disk-images.test.ts: qemu-img not installed: the qemu-img comparison is skipped (apt-get install qemu-utils)');

let tmp: string;
const T = (name: string) => join(tmp, name);

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cv-disk-'));
  // A kernel Image header (magic2 "RSC\x05") the drive checks run before; with --ram 4M the boot
  // then stops at "RAM too small", after every drive was opened and locked.
  const k = new Uint8Array(64);
  new DataView(k.buffer).setBigUint64(0x10, BigInt(8 << 20), true);
  new DataView(k.buffer).setUint32(0x38, 0x05435352, true);
  writeFileSync(T('Image'), k);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = fakeIo();
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err() };
}

/** The CLI's bad-input contract: exit 2, exactly one `cyclevisor: ` line on stderr. */
async function expectOneLine(argv: string[], re: RegExp, code = 2): Promise<void> {
  const r = await cli(argv);
  expect(r.code, r.err).toBe(code);
  const lines = r.err.trimEnd().split('\n');
  expect(lines, r.err).toHaveLength(1);
  expect(lines[0]).toMatch(/^cyclevisor: /);
  expect(lines[0]).toMatch(re);
}

const bootWith = (...drives: string[]) => ['boot', '--kernel', T('Image'), '--ram', '4M', ...drives.flatMap((d) => ['--drive', d])];

// ---------------------------------------------------------------------------------------------
// Item 4: an output path that is an input
// ---------------------------------------------------------------------------------------------

describe('output files never overwrite a run input (same device and inode)', () => {
  it('run --stats-file naming the ELF, a symlink to it or a hard link: exit 2, one line, the ELF untouched', async () => {
    const elf = T('hello.elf');
    copyFileSync(HELLO, elf);
    const before = readFileSync(elf);
    symlinkSync(elf, T('sym.elf'));
    linkSync(elf, T('hard.elf'));
    for (const out of [elf, T('sym.elf'), T('hard.elf'), `${tmp}/./hello.elf`]) {
      await expectOneLine(['run', elf, '--stats-file', out], /--stats-file .*: is the ELF file .*hello\.elf, an input of this run; refusing to overwrite it$/);
    }
    expect(readFileSync(elf)).toEqual(before);
    // A different (new or existing) file is fine.
    writeFileSync(T('old-stats.txt'), 'x');
    for (const out of [T('new-stats.txt'), T('old-stats.txt')]) {
      const r = await cli(['run', elf, '--stats-file', out]);
      expect(r.code, r.err).toBe(0);
      expect(readFileSync(out, 'utf8')).toMatch(/instructions/);
    }
  });

  it('run --stats-file naming the --timing file', async () => {
    writeFileSync(T('t.json'), '{}');
    await expectOneLine(['run', HELLO, '--timing', T('t.json'), '--stats-file', T('t.json')], /is --timing .*t\.json, an input of this run/);
    expect(readFileSync(T('t.json'), 'utf8')).toBe('{}');
  });

  it('boot --stats-file naming the kernel, the initrd, the firmware or a --drive image (through a link)', async () => {
    const img = T('out-drive.img');
    writeFileSync(img, new Uint8Array(4096).fill(0x5a));
    symlinkSync(img, T('out-drive-link'));
    writeFileSync(T('rd.cpio'), 'initrd bytes');
    writeFileSync(T('fw.bin'), new Uint8Array(16).fill(1));
    await expectOneLine([...bootWith(`file=${img}`), '--stats-file', T('out-drive-link')], /--stats-file .*out-drive-link: is --drive file=.*out-drive\.img, an input of this run/);
    await expectOneLine([...bootWith(), '--stats-file', T('Image')], /is --kernel .*Image, an input/);
    await expectOneLine([...bootWith(), '--initrd', T('rd.cpio'), '--stats-file', T('rd.cpio')], /is --initrd .*rd\.cpio, an input/);
    await expectOneLine([...bootWith(), '--bios', T('fw.bin'), '--stats-file', T('fw.bin')], /is --bios .*fw\.bin, an input/);
    expect(readFileSync(img)).toEqual(Buffer.alloc(4096, 0x5a));
    expect(readFileSync(T('rd.cpio'), 'utf8')).toBe('initrd bytes');
    expect(statSync(T('Image')).size).toBe(64);
  });

  it('dtb -o naming the --initrd', async () => {
    writeFileSync(T('rd2.cpio'), 'keep me');
    await expectOneLine(['dtb', '--initrd', T('rd2.cpio'), '-o', T('rd2.cpio')], /^cyclevisor: -o .*rd2\.cpio: is --initrd .*rd2\.cpio, an input of this run/);
    expect(readFileSync(T('rd2.cpio'), 'utf8')).toBe('keep me');
  });
});

// ---------------------------------------------------------------------------------------------
// Item 5: formats and sizes
// ---------------------------------------------------------------------------------------------

function probeFile(path: string) {
  const fd = openSync(path, 'r');
  try {
    return readProbe(fd);
  } finally {
    closeSync(fd);
  }
}

describe('image formats: known non-raw formats are refused by their header', () => {
  it('the committed qcow2 header (a qcow2 cut after its first sector): refused as truncated, one line', async () => {
    // Issue 13 made qcow2 a supported format; this fixture is only the first 512 bytes of one, so
    // its L1 table (at 196608) is past the end of the file: a truncated image, never written to.
    expect(detectFormat(probeFile(FIXTURE_QCOW2))?.name).toBe('qcow2');
    const copy = T('disk.qcow2');
    copyFileSync(FIXTURE_QCOW2, copy);
    await expectOneLine(
      bootWith(`file=${copy}`),
      /^cyclevisor: --drive file=.*disk\.qcow2: qcow2 image is truncated: L1 table at offset 196608 is past the end of the file \(512 bytes\)$/,
    );
    await expectOneLine(bootWith(`file=${copy},readonly`), /qcow2 image is truncated/);
    await expectOneLine(bootWith(`file=${copy},format=qcow2`), /qcow2 image is truncated/);
    expect(readFileSync(copy)).toEqual(readFileSync(FIXTURE_QCOW2));
    // format=qcow2 on a raw file: one line too.
    writeFileSync(T('plain.img'), new Uint8Array(4096));
    await expectOneLine(bootWith(`file=${T('plain.img')},format=qcow2`), /format=qcow2 given, but the file is not a qcow2 image/);
  });

  it('format=raw skips the probe (QEMU does the same): the qcow2-looking file is used as raw', async () => {
    const copy = T('raw-forced.img');
    copyFileSync(FIXTURE_QCOW2, copy);
    // Past every drive check and the lock: the fake kernel then does not fit 4 MiB of RAM.
    await expectOneLine(bootWith(`file=${copy},format=raw`), /RAM too small/);
    const b = new FileBlockBackend(copy, { forceRaw: true, readOnly: true });
    expect([b.format, b.size]).toEqual(['raw', 512]);
    b.close();
  });

  it('raw data, zeros and a file that merely contains a magic later on are raw', () => {
    const random = new Uint8Array(8192);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    writeFileSync(T('random.img'), random);
    writeFileSync(T('zero.img'), new Uint8Array(4096));
    const late = new Uint8Array(4096);
    late.set([0x51, 0x46, 0x49, 0xfb], 512); // "QFI\xfb" not at offset 0
    writeFileSync(T('late.img'), late);
    writeFileSync(T('empty.img'), new Uint8Array(0));
    for (const f of ['random.img', 'zero.img', 'late.img', 'empty.img']) expect(detectFormat(probeFile(T(f))), f).toBeNull();
  });

  it.skipIf(!HAVE_QEMU_IMG)('every format qemu-img creates: non-raw for qemu-img info is refused by us, with the same name', () => {
    const made: Array<{ fmt: string; args: string[] }> = [
      { fmt: 'qcow2', args: [] },
      { fmt: 'qcow2', args: ['-o', 'compat=0.10'] },
      { fmt: 'qcow', args: [] },
      { fmt: 'qed', args: [] },
      { fmt: 'vmdk', args: [] },
      { fmt: 'vmdk', args: ['-o', 'subformat=monolithicFlat'] }, // text descriptor + flat extent
      { fmt: 'vdi', args: [] },
      { fmt: 'vhdx', args: [] },
      { fmt: 'vpc', args: [] }, // dynamic VHD: footer copy at 0
      { fmt: 'parallels', args: [] },
    ];
    const seen: string[] = [];
    for (const [i, m] of made.entries()) {
      const file = T(`q${i}.${m.fmt}`);
      const r = spawnSync('qemu-img', ['create', '-q', '-f', m.fmt, ...m.args, file, '1M'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`qemu-img create -f ${m.fmt}: ${r.stderr}`);
      const info = JSON.parse(spawnSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' }).stdout) as { format: string };
      expect(info.format).toBe(m.fmt);
      const ours = detectFormat(probeFile(file));
      expect(ours?.name, `${m.fmt} ${m.args.join(' ')}`).toBe(m.fmt);
      // qcow2 is supported since issue 13; every other one is refused.
      if (m.fmt === 'qcow2') expect(checkImage(openSync(file, 'r'), file).format).toBe('qcow2');
      else expect(() => checkImage(openSync(file, 'r'), file)).toThrow(/not supported yet/);
      seen.push(m.fmt);
    }
    expect(new Set(seen).size).toBe(8);
    // LUKS: qemu-img's key-derivation benchmark can fail on a loaded machine ("Unable to get
    // accurate CPU usage"), and qemu-img info needs the secret; when it creates one, we refuse it.
    const luks = spawnSync('qemu-img', ['create', '-q', '-f', 'luks', '--object', 'secret,id=s0,data=pw', '-o', 'key-secret=s0,iter-time=10', T('x.luks'), '1M']);
    if (luks.status === 0) expect(detectFormat(probeFile(T('x.luks')))?.name).toBe('luks');
    // A raw image made by qemu-img is raw for both.
    spawnSync('qemu-img', ['create', '-q', '-f', 'raw', T('q.raw'), '1M']);
    expect(detectFormat(probeFile(T('q.raw')))).toBeNull();
    // A fixed VHD: QEMU 7.2 probes only the start and calls it raw; we see the footer and refuse
    // (the guest would get the footer as its last sector). format=raw still takes it.
    spawnSync('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=fixed', T('fixed.vhd'), '1M']);
    expect(detectFormat(probeFile(T('fixed.vhd')))?.name).toBe('vpc');
  });

  it('LUKS (the header magic of the LUKS1/LUKS2 on-disk formats) is refused', () => {
    const h = new Uint8Array(4096);
    h.set([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0x00, 0x01]); // "LUKS\xba\xbe", version 1
    writeFileSync(T('hand.luks'), h);
    expect(() => checkImage(openSync(T('hand.luks'), 'r'), T('hand.luks'))).toThrow(/^LUKS encrypted image: not supported yet/);
  });

  it('a format is plugged in by giving its entry an open(): layered over the file, no size rule of raw', () => {
    // A made-up format: an 8-byte magic, then a 504-byte header, then the disk (an offset view).
    const fake: ImageFormat = {
      name: 'offset',
      description: 'offset test image',
      detect: (p) => new TextDecoder().decode(p.head.subarray(0, 8)) === 'OFFSET!!',
      open: (file) => ({
        size: file.size - 512,
        readOnly: file.readOnly,
        read: (off, buf) => file.read(off + 512, buf),
        write: (off, buf) => file.write(off + 512, buf),
        flush: () => file.flush(),
      }),
    };
    const data = new Uint8Array(512 + 2 * SECTOR_SIZE + 7); // not a sector multiple as a file
    data.set(new TextEncoder().encode('OFFSET!!'));
    data[512] = 42;
    writeFileSync(T('plug.img'), data);
    const file = new FileBlockBackend(T('plug.img'), { formats: [fake, ...IMAGE_FORMATS] });
    expect([file.format, file.driver?.name]).toEqual(['offset', 'offset']);
    const disk = file.driver!.open!(file);
    const buf = new Uint8Array(1);
    disk.read(0, buf);
    expect(buf[0]).toBe(42);
    file.close();
    // Without the entry the same file is raw, and its size is refused.
    expect(() => new FileBlockBackend(T('plug.img'))).toThrow(/not a multiple of 512/);
  });

  it('the probe table names each format once', () => {
    const names = IMAGE_FORMATS.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['qcow2', 'qcow', 'qed', 'vmdk', 'vdi', 'vhdx', 'vpc', 'luks']));
  });
});

describe('the board opens the images itself', () => {
  it('a refused second image: ImageFormatError naming it, and the first image is closed again', () => {
    writeFileSync(T('good.img'), new Uint8Array(4096));
    copyFileSync(FIXTURE_QCOW2, T('second.qcow2'));
    let err: unknown;
    try {
      new VirtMachine({ ramBytes: 16 << 20, drives: [{ path: T('good.img'), readOnly: false }, { path: T('second.qcow2'), readOnly: false }] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImageFormatError);
    expect((err as ImageFormatError).path).toBe(T('second.qcow2'));
    const fds = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(join('/proc/self/fd', fd)) === T('good.img');
      } catch {
        return false;
      }
    });
    expect(fds).toEqual([]);
  });
});

describe('image sizes', () => {
  it('a size that is not a multiple of 512 is refused with one line (QEMU 7.2 would round up and grow the file)', async () => {
    writeFileSync(T('odd.img'), new Uint8Array(2 * SECTOR_SIZE + 10));
    await expectOneLine(
      bootWith(`file=${T('odd.img')}`),
      /--drive file=.*odd\.img: size 1034 bytes is not a multiple of 512 \(2 sectors and 10 bytes over\); pad it to whole sectors: truncate -s %512 .*odd\.img$/,
    );
    // format=raw does not change that: the sector size is the device's, not the format's.
    await expectOneLine(bootWith(`file=${T('odd.img')},format=raw`), /is not a multiple of 512/);
    expect(statSync(T('odd.img')).size).toBe(1034);
  });

  it('the same file twice through a link is one image given twice', async () => {
    writeFileSync(T('twice.img'), new Uint8Array(4096));
    symlinkSync(T('twice.img'), T('twice-link.img'));
    await expectOneLine(bootWith(`file=${T('twice.img')}`, `file=${T('twice-link.img')},readonly`), /--drive file=.*twice-link\.img: same file as --drive file=.*twice\.img \(one image, one drive\)/);
  });
});

// ---------------------------------------------------------------------------------------------
// Item 5: an image deleted or truncated under a running guest
// ---------------------------------------------------------------------------------------------

describe('FileBlockBackend: the image changes under the guest', () => {
  it('truncated: reads and writes fail (IOERR at the device), one report, nothing written past the new end', () => {
    const file = T('shrink.img');
    writeFileSync(file, new Uint8Array(8 * SECTOR_SIZE).fill(3));
    const b = new FileBlockBackend(file);
    const reports: string[] = [];
    b.onHostError = (m) => reports.push(m);
    b.write(6 * SECTOR_SIZE, new Uint8Array(SECTOR_SIZE).fill(9)); // fine before
    truncateSync(file, 2 * SECTOR_SIZE);
    expect(() => b.write(6 * SECTOR_SIZE, new Uint8Array(SECTOR_SIZE).fill(7))).toThrow(/truncated to 1024 bytes \(from 4096\)/);
    expect(() => b.read(0, new Uint8Array(SECTOR_SIZE))).toThrow(/truncated/);
    expect(() => b.flush()).toThrow(/truncated/);
    expect(statSync(file).size).toBe(2 * SECTOR_SIZE); // not grown back by a write
    expect(reports).toEqual(['the image file was truncated to 1024 bytes (from 4096) while the guest was using it; requests fail with an I/O error']);
    b.close();
  });

  it('deleted: writes fail and are reported once (they would go to an inode nobody can reach)', () => {
    const file = T('gone.img');
    writeFileSync(file, new Uint8Array(4 * SECTOR_SIZE));
    const b = new FileBlockBackend(file);
    const reports: string[] = [];
    b.onHostError = (m) => reports.push(m);
    unlinkSync(file);
    expect(() => b.write(0, new Uint8Array(SECTOR_SIZE))).toThrow(/deleted/);
    expect(() => b.read(0, new Uint8Array(SECTOR_SIZE))).toThrow(/deleted/);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatch(/^the image file was deleted while the guest was using it/);
    expect(existsSync(file)).toBe(false);
    b.close();
  });

  it('a write past the end of the image never extends it', () => {
    const file = T('end.img');
    writeFileSync(file, new Uint8Array(2 * SECTOR_SIZE));
    const b = new FileBlockBackend(file);
    expect(() => b.write(2 * SECTOR_SIZE, new Uint8Array(SECTOR_SIZE))).toThrow(/past the end/);
    expect(statSync(file).size).toBe(2 * SECTOR_SIZE);
    b.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Item 5: locking, with real processes
// ---------------------------------------------------------------------------------------------

/** Lines of /proc/locks for the file's inode. */
function locksOn(path: string): string[] {
  const ino = statSync(path).ino;
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .filter((l) => new RegExp(`:${ino} `).test(l));
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A first cyclevisor holding `img` (busybox waits at its prompt: stdin stays open). */
async function holder(img: string, readOnly: boolean): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [BIN, 'boot', '--kernel', KERNEL, '--initrd', BUSYBOX, '--append', 'console=ttyS0', '--drive', `file=${img}${readOnly ? ',readonly' : ''}`],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  await waitFor(() => locksOn(img).some((l) => / 300 300$/.test(l)), 30_000, 'the first cyclevisor to lock the image');
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.on('close', () => resolve());
    child.kill('SIGKILL');
  });
}

const second = (img: string, opts = '') => run(process.execPath, [BIN, 'boot', '--kernel', KERNEL, '--ram', '4M', '--drive', `file=${img}${opts}`]);
const HAVE_PROC_LOCKS = existsSync('/proc/locks');

describe('image locking within one process', () => {
  it('a second machine in this process is refused (record locks never conflict within a process)', async () => {
    const img = T('inproc.img');
    writeFileSync(img, new Uint8Array(4096));
    const b = new FileBlockBackend(img, { readOnly: true });
    await b.lock();
    await expectOneLine(bootWith(`file=${img},readonly`), /--drive file=.*inproc\.img: in use by this process \(.*inproc\.img, read-only\)$/);
    await expectOneLine(bootWith(`file=${img}`), /in use by this process/);
    b.close();
    await expectOneLine(bootWith(`file=${img}`), /RAM too small/); // free again
  });
});

describe.skipIf(!HAVE_LINUX || !HAVE_PROC_LOCKS)('image locking between processes', () => {
  it('read-write is exclusive: a second cyclevisor is refused read-write and read-only, with one line', async () => {
    const img = T('locked.img');
    writeFileSync(img, new Uint8Array(1 << 20));
    const first = await holder(img, false);
    try {
      // What QEMU's lock protocol needs is held too: bytes 100-101 (consistent read, write) and
      // 201, 203 (write and resize not shared), beside our own 300 (write-locked).
      const held = locksOn(img).map((l) => l.replace(/^\d+: /, '').replace(/\s+/g, ' '));
      expect(held.some((l) => /WRITE \d+ \S+ 300 300$/.test(l))).toBe(true);
      expect(held.some((l) => /READ \d+ \S+ 100 101$/.test(l))).toBe(true);
      for (const opts of ['', ',readonly']) {
        const r = await second(img, opts);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/^cyclevisor: --drive file=.*locked\.img: in use by another process \([^\n]*\)\n$/);
      }
    } finally {
      await stop(first);
    }
    // Once the first is gone the image is free again.
    const r = await second(img);
    expect(r.stderr).toMatch(/RAM too small/);
  }, 120_000);

  it('read-only is shared: a second read-only cyclevisor opens it, a read-write one is refused', async () => {
    const img = T('shared.img');
    writeFileSync(img, new Uint8Array(1 << 20));
    const first = await holder(img, true);
    try {
      const ro = await second(img, ',readonly');
      expect(ro.stderr).toMatch(/RAM too small/); // got past the lock
      const rw = await second(img);
      expect(rw.code).toBe(2);
      expect(rw.stderr).toMatch(/^cyclevisor: --drive file=.*shared\.img: in use by another process/);
    } finally {
      await stop(first);
    }
  }, 120_000);

  it.each([
    {
      how: 'truncated',
      change: (img: string) => truncateSync(img, 1024),
      line: /^cyclevisor: --drive file=.*changes-truncated\.img: the image file was truncated to 1024 bytes \(from 4194304\) while the guest was using it; requests fail with an I\/O error$/m,
    },
    {
      how: 'deleted',
      change: (img: string) => unlinkSync(img),
      line: /^cyclevisor: --drive file=.*changes-deleted\.img: the image file was deleted while the guest was using it; requests fail with an I\/O error$/m,
    },
  ])('an image $how under a running Linux guest: the guest gets I/O errors, stderr one line, nothing written', async ({ how, change, line }) => {
    const img = T(`changes-${how}.img`);
    writeFileSync(img, new Uint8Array(0));
    truncateSync(img, 4 << 20);
    const child = spawn(
      process.execPath,
      // OpenSBI: under --bios builtin busybox's dd traps on rdtime (issue 8 item 2, another branch).
      [BIN, 'boot', '--bios', OPENSBI, '--kernel', KERNEL, '--initrd', BUSYBOX, '--append', 'console=ttyS0', '--drive', `file=${img}`],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      await waitFor(() => /busybox userland up[^]*# $/.test(out), 60_000, 'the busybox prompt');
      change(img);
      // O_DIRECT: past the page cache, to the device.
      child.stdin!.write('dd if=/dev/zero of=/dev/vda bs=512 count=1 seek=100 oflag=direct; echo "DD1=$?"\n');
      await waitFor(() => /DD1=\d/.test(out), 30_000, 'the write: ' + JSON.stringify(out.slice(-600)));
      child.stdin!.write('dd if=/dev/vda of=/dev/null bs=512 count=1 skip=50 iflag=direct; echo "DD2=$?"\n');
      await waitFor(() => /DD2=\d/.test(out), 30_000, 'the read');
      child.stdin!.write('poweroff -f\n');
      expect(await closed).toBe(0); // QEMU-like: the guest saw the errors, the run itself is fine
    } finally {
      await stop(child);
    }
    expect(out).toMatch(/DD1=1/);
    expect(out).toMatch(/DD2=1/);
    expect(out).toMatch(/I\/O error, dev vda/);
    expect(err).toMatch(line);
    expect(err.trimEnd().split('\n')).toHaveLength(1); // one line, however many requests failed
    if (how === 'truncated') expect(statSync(img).size).toBe(1024); // not regrown by the write
    else expect(existsSync(img)).toBe(false);
  }, 180_000);

  it.skipIf(!HAVE_QEMU)('QEMU interop: QEMU refuses an image we write, and we refuse one QEMU writes', async () => {
    const img = T('qemu.img');
    writeFileSync(img, new Uint8Array(1 << 20));
    const qemuArgs = (ro: boolean) => [
      '-M', 'virt', '-m', '64M', '-nographic', '-bios', 'none', '-monitor', 'none', '-serial', 'none',
      '-drive', `file=${img},format=raw,if=none,id=d0${ro ? ',readonly=on' : ''}`, '-device', 'virtio-blk-device,drive=d0',
    ];
    const first = await holder(img, false);
    try {
      for (const ro of [false, true]) {
        const q = await run('qemu-system-riscv64', qemuArgs(ro), 20_000);
        expect(q.code).toBe(1);
        expect(q.stderr).toMatch(/Failed to get (shared )?"write" lock/);
      }
    } finally {
      await stop(first);
    }
    const q = spawn('qemu-system-riscv64', qemuArgs(false), { stdio: 'ignore' });
    try {
      await waitFor(() => locksOn(img).some((l) => /OFDLCK.* 100 101$/.test(l)), 20_000, 'QEMU to lock the image');
      for (const opts of ['', ',readonly']) {
        const r = await second(img, opts);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/in use by another process \(a cyclevisor or QEMU that/);
      }
    } finally {
      await stop(q);
    }
  }, 120_000);

  it.skipIf(!HAVE_QEMU)('QEMU interop, read-only: readers share (both ways), a writer is refused', async () => {
    const img = T('qemu-ro.img');
    writeFileSync(img, new Uint8Array(1 << 20));
    const qemuArgs = (ro: boolean) => [
      '-M', 'virt', '-m', '64M', '-nographic', '-bios', 'none', '-monitor', 'none', '-serial', 'none',
      '-drive', `file=${img},format=raw,if=none,id=d0${ro ? ',readonly=on' : ''}`, '-device', 'virtio-blk-device,drive=d0',
    ];
    // A read-only QEMU first: a read-only cyclevisor opens the image, a read-write one does not.
    const q = spawn('qemu-system-riscv64', qemuArgs(true), { stdio: 'ignore' });
    try {
      await waitFor(() => locksOn(img).some((l) => /OFDLCK.* 100 100$/.test(l)), 20_000, 'QEMU to lock the image');
      expect((await second(img, ',readonly')).stderr).toMatch(/RAM too small/);
      const rw = await second(img);
      expect(rw.code).toBe(2);
      expect(rw.stderr).toMatch(/in use by another process/);
    } finally {
      await stop(q);
    }
    // A read-only cyclevisor first: a read-only QEMU starts (still running after 2 s), a
    // read-write QEMU is refused.
    const first = await holder(img, true);
    try {
      const qro = spawn('qemu-system-riscv64', qemuArgs(true), { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 2000));
      expect(qro.exitCode).toBeNull();
      await stop(qro);
      const qrw = await run('qemu-system-riscv64', qemuArgs(false), 20_000);
      expect(qrw.code).toBe(1);
      expect(qrw.stderr).toMatch(/Failed to get "write" lock/);
    } finally {
      await stop(first);
    }
  }, 120_000);
});
