/**
 * Issue 13 item 4: qcow2 (QEMU docs/interop/qcow2.txt, versions 2 and 3) against the real peer,
 * qemu-img / qemu-io (QEMU 7.2): images qemu-img makes are read and written by us, and after our
 * writes `qemu-img check` is clean and qemu-img reads back what we wrote; images we make open in
 * qemu-img. Plus the format's rules: refcount_order, backing files, zero and compressed clusters,
 * feature bits, corrupt and truncated images, and a real kill -9 in the middle of allocations.
 *
 * Without qemu-img installed the cross-checks are skipped (with a warning); the unit parts run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage, ProbedRawGuard, RawDisk } from '../src/block/open-image.js';
import { FdImageFile } from '../src/block/image-file.js';
import { Qcow2Image } from '../src/block/qcow2.js';
import { qcow2ImageBytes } from '../src/block/qcow2-create.js';
import { readEntry, writeEntry } from '../src/block/qcow2-refcounts.js';
import { zstdFrameLength } from '../src/block/qcow2-compress.js';
import { ImageFormatError } from '../devices/image-format.js';
import { MemoryBlockBackend } from '../devices/virtio-blk.js';
import { main } from '../src/cli/main.js';
import { VirtMachine } from '../src/board/virt.js';
import { sizeToStr } from '../src/cli/img.js';
import { fakeIo } from './helpers/cli-io.js';
import { ROOT } from './helpers/guests.js';
import { pattern, placement } from './helpers/qcow2-writer.js';

const has = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
const QEMU_IMG = has('qemu-img');
const QEMU_IO = has('qemu-io');
if (!QEMU_IMG) console.warn('test/qcow2.test.ts: qemu-img not installed: the cross-checks against QEMU are skipped (apt-get install qemu-utils)');

let tmp: string;
const T = (name: string) => join(tmp, name);
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cv-qcow2-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function qemuImg(...args: string[]) {
  const r = run('qemu-img', args);
  if (r.status !== 0) throw new Error(`qemu-img ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
function qemuIo(file: string, ...cmds: string[]) {
  const r = run('qemu-io', ['-f', 'qcow2', ...cmds.flatMap((c) => ['-c', c]), file]);
  if (r.status !== 0 || /error|fail/i.test(r.stdout + r.stderr)) throw new Error(`qemu-io ${cmds.join('; ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}
/** qemu-img check: status and output (0 clean, 2 corruptions, 3 leaks only). */
function qemuCheck(file: string) {
  return run('qemu-img', ['check', file]);
}
/** The guest-visible contents as QEMU sees them. */
function qemuRaw(file: string): Buffer {
  const out = `${file}.as-raw`;
  qemuImg('convert', '-O', 'raw', file, out);
  const b = readFileSync(out);
  rmSync(out);
  return b;
}

/** Deterministic bytes. */
function bytes(seed: number, len: number): Uint8Array {
  return pattern(seed, len);
}

/** Applies random writes to `disk` and to an in-memory model; returns the model. */
function randomWrites(disk: { write(o: number, b: Uint8Array): void; size: number }, model: Uint8Array, seed: number, n: number, maxLen = 200_000): void {
  let x = seed >>> 0;
  const rnd = (m: number) => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x % m;
  };
  for (let i = 0; i < n; i++) {
    const sectors = disk.size / 512;
    const len = 512 * (1 + rnd(Math.min(maxLen / 512, sectors)));
    const at = 512 * rnd(sectors - len / 512 + 1);
    const b = bytes(seed * 1000 + i, len);
    disk.write(at, b);
    model.set(b, at);
  }
}

function readAll(disk: { read(o: number, b: Uint8Array): void; size: number }): Uint8Array {
  const b = new Uint8Array(disk.size);
  // Odd-sized pieces: reads that start and end inside clusters.
  for (let at = 0; at < b.length; at += 99_840) disk.read(at, b.subarray(at, Math.min(b.length, at + 99_840)));
  return b;
}

async function cli(argv: string[]) {
  const io = fakeIo();
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err() };
}

// ---------------------------------------------------------------------------------------------

describe('refcount entries: every refcount_order packs as QEMU does', () => {
  it('orders 0..6 round-trip; sub-byte entries fill from the least significant bit', () => {
    for (let order = 0; order <= 6; order++) {
      const b = new Uint8Array(64);
      const max = order >= 6 ? 2 ** 40 : 2 ** (1 << order) - 1;
      const n = (64 * 8) >> order;
      for (let i = 0; i < n; i++) writeEntry(b, i, order, i % 3 === 0 ? max : i % 2);
      for (let i = 0; i < n; i++) expect(readEntry(b, i, order), `order ${order} entry ${i}`).toBe(i % 3 === 0 ? max : i % 2);
    }
    // QEMU get_refcount_ro0: bit (index % 8) of byte index / 8.
    const b = new Uint8Array(2);
    writeEntry(b, 9, 0, 1);
    expect([...b]).toEqual([0, 2]);
    writeEntry(b, 1, 2, 0xf); // ro2: high nibble of byte 0
    expect(b[0]).toBe(0xf0);
  });
});

describe('images we create', () => {
  it.skipIf(!QEMU_IMG)('are byte-identical to qemu-img create for the common options', () => {
    const cases: Array<[string[], Parameters<typeof qcow2ImageBytes>[0]]> = [
      [['64M'], { size: 64 << 20 }],
      [['-o', 'compat=0.10', '1G'], { size: 1 << 30, version: 2 }],
      [['-o', 'refcount_bits=1,compression_type=zstd', '100M'], { size: 100 << 20, refcountBits: 1, compression: 'zstd' }],
      [['-o', 'cluster_size=4096,refcount_bits=2', '100M'], { size: 100 << 20, clusterSize: 4096, refcountBits: 2 }],
      [['-o', 'cluster_size=512,refcount_bits=64', '10M'], { size: 10 << 20, clusterSize: 512, refcountBits: 64 }],
    ];
    for (const [i, [args, opts]] of cases.entries()) {
      const f = T(`ref${i}.qcow2`);
      qemuImg('create', '-q', '-f', 'qcow2', ...args.slice(0, -1), f, args[args.length - 1]!);
      expect(Buffer.from(qcow2ImageBytes(opts)).equals(readFileSync(f)), args.join(' ')).toBe(true);
    }
  });

  it.skipIf(!QEMU_IMG)('img create / info / check: qemu-img reads what we make, and our output lines are its lines', async () => {
    mkdirSync(T('sub'), { recursive: true });
    const made = [
      ['create', '-f', 'qcow2', T('c1.qcow2'), '64M'],
      ['create', '-f', 'qcow2', '-o', 'compat=0.10', T('c2.qcow2'), '1G'],
      ['create', '-f', 'qcow2', '-b', '../c1.qcow2', '-F', 'qcow2', T('sub/c3.qcow2')],
      ['create', '-f', 'raw', T('c4.raw'), '1M'],
    ];
    for (const argv of made) {
      const ours = await cli(['img', ...argv]);
      expect(ours.code, ours.err).toBe(0);
      const file = argv[argv.length - (argv[argv.length - 1]!.match(/^\d/) ? 2 : 1)]!;
      const copy = `${file}.qemu`;
      const theirs = run('qemu-img', [...argv.map((a) => (a === file ? copy : a))]);
      expect(ours.out).toBe(theirs.stdout.replaceAll(copy, file));
      expect(readFileSync(file).equals(readFileSync(copy)), file).toBe(true);
      const info = await cli(['img', 'info', file]);
      const qinfo = run('qemu-img', ['info', file]);
      // disk size depends on the file system's block allocation: the same file, the same answer.
      expect(info.out).toBe(qinfo.stdout);
      if (!file.endsWith('.raw')) {
        expect(qemuCheck(file).status).toBe(0);
        const chk = await cli(['img', 'check', file]);
        expect([chk.code, chk.out]).toEqual([0, qemuCheck(file).stdout]);
      }
    }
    // JSON info: the same object as qemu-img's.
    const j = await cli(['img', 'info', '--output', 'json', T('sub/c3.qcow2')]);
    expect(JSON.parse(j.out)).toEqual(JSON.parse(run('qemu-img', ['info', '--output=json', T('sub/c3.qcow2')]).stdout));
    // QEMU 7.2's rule: a backing file needs its format.
    const nob = await cli(['img', 'create', '-f', 'qcow2', '-b', T('c1.qcow2'), T('c5.qcow2')]);
    expect([nob.code, nob.err]).toEqual([1, `cyclevisor: ${T('c5.qcow2')}: Backing file specified without backing format (add -F raw or -F qcow2)\n`]);
    expect((await cli(['img', 'check', T('c4.raw')])).code).toBe(63);
    const help = await cli(['help', 'img']);
    expect(help.out).toMatch(/^Usage: cyclevisor img COMMAND/);
    expect(Math.max(...help.out.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
    expect(help.out.split('\n').length).toBeLessThanOrEqual(26);
    expect((await cli(['img', 'frobnicate'])).err).toBe("cyclevisor: img: unknown command 'frobnicate' (create, info, check or convert)\n");
  });

  it('sizes as qemu-img prints them (size_to_str)', () => {
    expect([0, 512, 4096, 196 * 1024, 200704, 1536 * 1024, 1023 * 1024, 64 << 20, 2 ** 30].map(sizeToStr)).toEqual([
      '0 B',
      '512 B',
      '4 KiB',
      '196 KiB',
      '196 KiB',
      '1.5 MiB',
      '0.999 MiB',
      '64 MiB',
      '1 GiB',
    ]);
  });
});

describe.skipIf(!QEMU_IMG)('reading and writing images qemu-img made', () => {
  const variants: Array<[string, string[]]> = [
    ['v3 64K clusters', []],
    ['v2 (compat=0.10)', ['-o', 'compat=0.10']],
    ['512-byte clusters, 1-bit refcounts', ['-o', 'cluster_size=512,refcount_bits=1']],
    ['4K clusters, 2-bit refcounts', ['-o', 'cluster_size=4096,refcount_bits=2']],
    ['4-bit refcounts', ['-o', 'refcount_bits=4']],
    ['8-bit refcounts', ['-o', 'refcount_bits=8']],
    ['32-bit refcounts', ['-o', 'refcount_bits=32']],
    ['2M clusters, 64-bit refcounts', ['-o', 'cluster_size=2M,refcount_bits=64']],
  ];
  it.each(variants)('%s: random writes; qemu-img check clean and QEMU reads our bytes', (name, opts) => {
    const f = T(`rw-${name.replace(/\W+/g, '_')}.qcow2`);
    qemuImg('create', '-q', '-f', 'qcow2', ...opts, f, '5M');
    const model = new Uint8Array(5 << 20);
    const d = openImage(f, { readOnly: false });
    expect(d.format).toBe('qcow2');
    expect(d.size).toBe(5 << 20);
    randomWrites(d, model, 7, 60);
    expect(Buffer.from(readAll(d)).equals(Buffer.from(model))).toBe(true);
    d.close();
    const c = qemuCheck(f);
    expect(c.status, c.stdout + c.stderr).toBe(0);
    expect(c.stdout).toContain('No errors were found on the image.');
    expect(qemuRaw(f).equals(Buffer.from(model))).toBe(true);
    // Reopened: the same (our metadata, not our cache).
    const again = openImage(f, { readOnly: true });
    expect(Buffer.from(readAll(again)).equals(Buffer.from(model))).toBe(true);
    again.close();
  });

  it('an image that outgrows its refcount table (512-byte clusters: one table cluster covers 8 MiB) grows it', () => {
    const f = T('grow.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', f, '24M');
    const before = readFileSync(f).readUInt32BE(56);
    const model = new Uint8Array(24 << 20);
    const d = openImage(f, { readOnly: false });
    for (let at = 0; at < model.length; at += 1 << 20) {
      const b = bytes(at, 1 << 20);
      d.write(at, b);
      model.set(b, at);
    }
    randomWrites(d, model, 11, 20, 8192);
    expect(Buffer.from(readAll(d)).equals(Buffer.from(model))).toBe(true);
    d.close();
    expect(readFileSync(f).readUInt32BE(56)).toBeGreaterThan(before); // refcount_table_clusters
    const c = qemuCheck(f);
    expect(c.status, c.stdout + c.stderr).toBe(0);
    expect(qemuRaw(f).equals(Buffer.from(model))).toBe(true);
  });

  it.skipIf(!QEMU_IO)('reads what QEMU wrote (qemu-io patterns) and overwrites it in place', () => {
    const f = T('qio.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', f, '4M');
    qemuIo(f, 'write -P 0x11 0 100k', 'write -P 0x22 1M 64k', 'write -P 0x33 3M 4k');
    const d = openImage(f, { readOnly: false });
    const b = new Uint8Array(4 << 20);
    d.read(0, b);
    expect(b.subarray(0, 100 * 1024).every((v) => v === 0x11)).toBe(true);
    expect(b[100 * 1024]).toBe(0);
    expect(b.subarray(1 << 20, (1 << 20) + 65536).every((v) => v === 0x22)).toBe(true);
    expect(b.subarray(3 << 20, (3 << 20) + 4096).every((v) => v === 0x33)).toBe(true);
    const before = statSync(f).size;
    d.write(4096, new Uint8Array(8192).fill(0x44)); // a COPIED cluster: in place, no allocation
    d.close();
    expect(statSync(f).size).toBe(before);
    qemuIo(f, 'read -P 0x11 0 4k', 'read -P 0x44 4k 8k', 'read -P 0x11 12k 88k');
    expect(qemuCheck(f).status).toBe(0);
  });
});

describe.skipIf(!QEMU_IMG || !QEMU_IO)('backing files', () => {
  it('an overlay made by qemu-img create -b base.qcow2 -F qcow2: reads fall through, writes copy on write', () => {
    const base = T('base.qcow2');
    const over = T('over.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '2M');
    qemuIo(base, 'write -P 0xaa 0 2M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', over); // relative name
    const baseBefore = readFileSync(base);
    const model = new Uint8Array(2 << 20).fill(0xaa);
    const d = openImage(over, { readOnly: false });
    expect(Buffer.from(readAll(d)).equals(Buffer.from(model))).toBe(true);
    // Partial-cluster writes: the rest of each cluster comes from the backing file.
    randomWrites(d, model, 3, 25, 30_000);
    expect(Buffer.from(readAll(d)).equals(Buffer.from(model))).toBe(true);
    d.close();
    expect(readFileSync(base).equals(baseBefore)).toBe(true); // the backing file is never written
    expect(qemuCheck(over).status).toBe(0);
    expect(qemuRaw(over).equals(Buffer.from(model))).toBe(true);
  });

  it('a raw backing file shorter than the overlay reads as zeros past its end; a chain of two', () => {
    const raw = T('short.raw');
    writeFileSync(raw, new Uint8Array(65536 + 512).fill(0x5c));
    const mid = T('mid.qcow2');
    const top = T('top.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', raw, '-F', 'raw', mid, '1M');
    qemuIo(mid, 'write -P 0x77 512k 64k');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', mid, '-F', 'qcow2', top);
    const d = openImage(top, { readOnly: false });
    const b = readAll(d);
    expect(b.subarray(0, 65536 + 512).every((v) => v === 0x5c)).toBe(true);
    expect(b.subarray(65536 + 512, 512 * 1024).every((v) => v === 0)).toBe(true);
    expect(b.subarray(512 * 1024, 576 * 1024).every((v) => v === 0x77)).toBe(true);
    d.write(65536, new Uint8Array(1024).fill(1)); // COW of the cluster that straddles the raw file's end
    d.close();
    const q = qemuRaw(top);
    expect(q.subarray(65536, 66560).every((v) => v === 1)).toBe(true);
    expect(q.subarray(66560, 131072).every((v) => v === 0)).toBe(true);
    expect(qemuCheck(top).status).toBe(0);
  });

  it('a missing backing file, or a loop, is one clear line', () => {
    const o = T('orphan.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', T('base.qcow2'), '-F', 'qcow2', o);
    copyFileSync(o, T('orphan2.qcow2'));
    // Point orphan2 at a file that does not exist (same name length).
    const b = readFileSync(T('orphan2.qcow2'));
    const name = Buffer.from(T('base.qcow2'));
    const at = b.indexOf(name);
    Buffer.from(T('bxse.qcow2')).copy(b, at);
    writeFileSync(T('orphan2.qcow2'), b);
    expect(() => openImage(T('orphan2.qcow2'), { readOnly: true })).toThrow(/backing file .*bxse\.qcow2 does not exist/);
    const loop = T('loop.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', loop, '1M');
    const lb = readFileSync(loop);
    const hdr = qcow2ImageBytes({ size: 1 << 20, backingFile: 'loop.qcow2', backingFormat: 'qcow2' });
    lb.set(hdr.subarray(0, 65536));
    writeFileSync(loop, lb);
    expect(() => openImage(loop, { readOnly: true })).toThrow(/loops back/);
  });
});

describe.skipIf(!QEMU_IMG || !QEMU_IO)('zero clusters and compressed clusters', () => {
  it('v3 zero clusters (qemu-io write -z) read as zeros, hide the backing file, and take partial writes', () => {
    const base = T('zbase.qcow2');
    const over = T('zover.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
    qemuIo(base, 'write -P 0xee 0 1M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', over);
    qemuIo(over, 'write -z 0 128k', 'write -P 0x12 256k 64k', 'write -z 256k 64k'); // plain zero, and a zero cluster over data
    const d = openImage(over, { readOnly: false });
    const b = readAll(d);
    expect(b.subarray(0, 128 * 1024).every((v) => v === 0)).toBe(true);
    expect(b.subarray(128 * 1024, 256 * 1024).every((v) => v === 0xee)).toBe(true);
    expect(b.subarray(256 * 1024, 320 * 1024).every((v) => v === 0)).toBe(true);
    d.write(1024, new Uint8Array(512).fill(9)); // into a zero cluster: the rest stays zero, not backing
    d.write(256 * 1024 + 512, new Uint8Array(512).fill(8));
    d.close();
    const q = qemuRaw(over);
    expect(q.subarray(0, 1024).every((v) => v === 0)).toBe(true);
    expect(q.subarray(1024, 1536).every((v) => v === 9)).toBe(true);
    expect(q.subarray(1536, 128 * 1024).every((v) => v === 0)).toBe(true);
    expect(q.subarray(256 * 1024, 256 * 1024 + 512).every((v) => v === 0)).toBe(true);
    expect(q.subarray(256 * 1024 + 512, 256 * 1024 + 1024).every((v) => v === 8)).toBe(true);
    const c = qemuCheck(over);
    expect(c.status, c.stdout + c.stderr).toBe(0);
  });

  it.each(['zlib', 'zstd'])('%s-compressed clusters (qemu-img convert -c) read back; overwriting one frees its sectors', (type) => {
    const src = T(`csrc-${type}.raw`);
    const data = new Uint8Array(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i >> 9) % 7 === 0 ? (i * 31) & 255 : i % 13; // compressible, not trivial
    writeFileSync(src, data);
    const c = T(`c-${type}.qcow2`);
    qemuImg('convert', '-c', '-O', 'qcow2', '-o', `compression_type=${type}`, src, c);
    const info = JSON.parse(run('qemu-img', ['check', '--output=json', c]).stdout) as { 'compressed-clusters': number };
    expect(info['compressed-clusters']).toBeGreaterThan(10);
    const d = openImage(c, { readOnly: false });
    expect(Buffer.from(readAll(d)).equals(Buffer.from(data))).toBe(true);
    d.write(70_000, new Uint8Array(3000).fill(0xcd)); // a compressed cluster: copied out, rewritten
    data.fill(0xcd, 70_000, 73_000);
    d.close();
    expect(qemuRaw(c).equals(Buffer.from(data))).toBe(true);
    const chk = qemuCheck(c);
    expect(chk.status, chk.stdout + chk.stderr).toBe(0);
  });

  it('zstd frames are measured from their block headers (padding after the frame is not a frame)', () => {
    // A raw-block frame: magic, FHD (single segment, 1-byte FCS), FCS=3, block header last|raw|3, "abc".
    const f = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x03, 0x19, 0x00, 0x00, 0x61, 0x62, 0x63, 0, 0, 0);
    expect(zstdFrameLength(f, 0)).toBe(12);
    expect(zstdFrameLength(f, 12)).toBe(-1);
  });
});

describe('feature bits, corrupt and truncated images', () => {
  const fresh = (name: string, opts: Partial<Parameters<typeof qcow2ImageBytes>[0]> = {}) => {
    const f = T(name);
    writeFileSync(f, qcow2ImageBytes({ size: 1 << 20, ...opts }));
    return f;
  };
  const setU64 = (f: string, at: number, v: bigint) => {
    const b = readFileSync(f);
    b.writeBigUInt64BE(v, at);
    writeFileSync(f, b);
  };

  it('unknown incompatible bits are refused, named from the feature table; known unsupported ones too', () => {
    const f = fresh('incompat.qcow2');
    setU64(f, 72, 1n << 9n);
    expect(() => openImage(f, { readOnly: true })).toThrow('qcow2 image uses unknown incompatible features (bit 9): it must not be opened');
    setU64(f, 72, 1n << 2n);
    expect(() => openImage(f, { readOnly: true })).toThrow(/external data file .* not supported/);
    setU64(f, 72, 1n << 4n);
    expect(() => openImage(f, { readOnly: true })).toThrow(/extended L2 entries .* not supported/);
    // Unknown compatible bits are fine (spec: may be ignored).
    setU64(f, 72, 0n);
    setU64(f, 80, 1n << 33n);
    openImage(f, { readOnly: false }).close();
  });

  it('autoclear bits are cleared when the image is opened for writing, kept when read-only', () => {
    const f = fresh('autoclear.qcow2');
    setU64(f, 88, 3n);
    openImage(f, { readOnly: true }).close();
    expect(readFileSync(f).readBigUInt64BE(88)).toBe(3n);
    openImage(f, { readOnly: false }).close();
    expect(readFileSync(f).readBigUInt64BE(88)).toBe(0n);
  });

  it('dirty or corrupt bit, internal snapshots: read-only only', () => {
    for (const [bit, re] of [
      [1n, /dirty bit set/],
      [2n, /marked corrupt/],
    ] as const) {
      const f = fresh(`bit${bit}.qcow2`);
      setU64(f, 72, bit);
      const before = readFileSync(f);
      expect(() => openImage(f, { readOnly: false })).toThrow(re);
      openImage(f, { readOnly: true }).close();
      expect(readFileSync(f).equals(before)).toBe(true);
    }
  });

  it('truncated and corrupt headers: one clear line, nothing written', async () => {
    const cases: Array<[string, (f: string) => void, RegExp]> = [
      ['cut in the header', (f) => truncateSync(f, 50), /shorter than the 72-byte header/],
      ['cut before the L1 table', (f) => truncateSync(f, 3 * 65536 - 4096), /is truncated: L1 table at offset 196608 is past the end of the file/],
      ['bad cluster_bits', (f) => { const b = readFileSync(f); b.writeUInt32BE(30, 20); writeFileSync(f, b); }, /cluster_bits 30 is outside 9\.\.21/],
      ['version 4', (f) => { const b = readFileSync(f); b.writeUInt32BE(4, 4); writeFileSync(f, b); }, /version 4 is not supported/],
      ['L1 too small', (f) => { const b = readFileSync(f); b.writeUInt32BE(0, 36); writeFileSync(f, b); }, /l1_size 0 is too small/],
      ['encrypted', (f) => { const b = readFileSync(f); b.writeUInt32BE(1, 32); writeFileSync(f, b); }, /is encrypted/],
    ];
    for (const [name, spoil, re] of cases) {
      const f = fresh(`bad-${name.replace(/\W+/g, '_')}.qcow2`);
      spoil(f);
      const before = readFileSync(f);
      expect(() => openImage(f, { readOnly: false }), name).toThrow(re);
      // Through the CLI: exit 2, one line naming the drive; the file untouched.
      const r = await cli(['boot', '--kernel', join(ROOT, 'package.json'), '--drive', `file=${f}`]);
      expect(r.code, name).toBe(2);
      expect(r.err.trimEnd().split('\n'), name).toHaveLength(1);
      expect(r.err).toMatch(re);
      expect(readFileSync(f).equals(before), name).toBe(true);
    }
  });

  it('an L2 entry pointing past the end of the file: the request fails, reported once, no more writes', () => {
    const f = T('wild.qcow2');
    writeFileSync(f, qcow2ImageBytes({ size: 1 << 20 }));
    const d = openImage(f, { readOnly: false });
    d.write(0, new Uint8Array(512).fill(1)); // L2 table at cluster 4, data at 5
    d.close();
    const b = readFileSync(f);
    b.writeBigUInt64BE((1n << 63n) | BigInt(100 * 65536), 4 * 65536 + 8); // guest cluster 1 → far away
    writeFileSync(f, b);
    const problems: string[] = [];
    const e = openImage(f, { readOnly: false, onProblem: (m) => problems.push(m) });
    expect(() => e.read(65536, new Uint8Array(512))).toThrow(/past the end of the file/);
    expect(() => e.read(65536, new Uint8Array(512))).toThrow();
    expect(problems).toHaveLength(1);
    const before = readFileSync(f);
    expect(() => e.write(0, new Uint8Array(512))).toThrow(/not writing to it any more/);
    e.close();
    expect(readFileSync(f).equals(before)).toBe(true);
  });
});

describe('probed raw images: the guest may not write a format header into sector 0 (QEMU rule)', () => {
  it('a qcow2 (or other) magic in sector 0 is refused when probed; allowed with format=raw; elsewhere fine', () => {
    const disk = new MemoryBlockBackend(1 << 20);
    const g = new ProbedRawGuard(disk);
    const qcow2Head = qcow2ImageBytes({ size: 1 << 20, backingFile: '/etc/shadow', backingFormat: 'raw' }).subarray(0, 512);
    expect(() => g.write(0, qcow2Head)).toThrow(/qcow2 image header into sector 0/);
    expect(disk.data.subarray(0, 4).every((v) => v === 0)).toBe(true);
    // The magic arriving in a write that starts inside sector 0, and one built up over two writes.
    const sector = new Uint8Array(1024);
    sector.set([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);
    expect(() => g.write(0, sector)).toThrow();
    g.write(0, Uint8Array.of(0x51, 0x46)); // harmless alone
    expect(() => g.write(0, new Uint8Array(sector.subarray(0, 512)))).toThrow();
    g.write(512, sector); // sector 1: not probed
    g.write(0, new Uint8Array(512).fill(0xeb)); // a boot sector: fine
    expect(disk.data[0]).toBe(0xeb);
    // On the board: a probed raw drive gets the guard, format=raw does not, qcow2 gets its layer.
    writeFileSync(T('board.raw'), new Uint8Array(65536));
    writeFileSync(T('board.qcow2'), qcow2ImageBytes({ size: 1 << 20 }));
    const m = new VirtMachine({
      ramBytes: 8 << 20,
      drives: [
        { path: T('board.raw'), readOnly: false },
        { path: T('board.raw'), readOnly: true, format: 'raw' },
        { path: T('board.qcow2'), readOnly: false },
      ],
    });
    const layers = m.platform.formatLayers;
    expect(layers[0]).toBeInstanceOf(ProbedRawGuard);
    expect(layers[1]).toBe(m.blockBackends[1]);
    expect(layers[2]).toBeInstanceOf(Qcow2Image);
    expect(() => layers[0]!.write(0, sector.subarray(0, 512))).toThrow(/sector 0 of an image probed as raw/);
    m.close();
    expect(readFileSync(T('board.raw')).subarray(0, 4).every((v) => v === 0)).toBe(true);
    // Through the file layer (format=raw given: no guard).
    const f = T('guarded.raw');
    writeFileSync(f, new Uint8Array(65536));
    const raw = new RawDisk(new FdImageFile(f, false));
    raw.write(0, sector.subarray(0, 512));
    raw.close();
    expect(readFileSync(f).subarray(0, 4)).toEqual(Buffer.from([0x51, 0x46, 0x49, 0xfb]));
  });
});

describe.skipIf(!QEMU_IMG)('img convert', () => {
  it('qcow2 with a backing chain → raw and → qcow2; raw → qcow2 (zeros stay unallocated)', async () => {
    const base = T('cv-base.qcow2');
    const over = T('cv-over.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '3M');
    const d0 = openImage(base, { readOnly: false });
    d0.write(0, new Uint8Array(65536 * 3).fill(0x31));
    d0.close();
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', over);
    const d1 = openImage(over, { readOnly: false });
    d1.write(65536, new Uint8Array(512).fill(0x32));
    d1.close();
    const expected = qemuRaw(over);
    expect((await cli(['img', 'convert', '-O', 'raw', over, T('cv.raw')])).code).toBe(0);
    expect(readFileSync(T('cv.raw')).equals(expected)).toBe(true);
    expect((await cli(['img', 'convert', '-O', 'qcow2', T('cv.raw'), T('cv.qcow2')])).code).toBe(0);
    expect(qemuCheck(T('cv.qcow2')).status).toBe(0);
    expect(qemuRaw(T('cv.qcow2')).equals(expected)).toBe(true);
    const j = JSON.parse(run('qemu-img', ['check', '--output=json', T('cv.qcow2')]).stdout) as { 'allocated-clusters': number };
    expect(j['allocated-clusters']).toBe(3); // 3 MiB disk, 3 non-zero clusters
    expect(run('qemu-img', ['compare', over, T('cv.qcow2')]).status).toBe(0);
    expect((await cli(['img', 'convert', '-O', 'qcow2', '-o', 'compat=0.10,cluster_size=4096', over, T('cv2.qcow2')])).code).toBe(0);
    expect(run('qemu-img', ['compare', over, T('cv2.qcow2')]).status).toBe(0);
    expect(qemuCheck(T('cv2.qcow2')).status).toBe(0);
    // -c: compressible clusters stored zlib-compressed, packed several to a host cluster.
    const text = new Uint8Array(1 << 20);
    for (let i = 0; i < text.length; i++) text[i] = 0x41 + ((i * 7) % 26) + (i % 4096 === 0 ? 1 : 0);
    text.set(bytes(99, 65536), 5 * 65536); // one incompressible cluster: stored as is
    writeFileSync(T('text.raw'), text);
    expect((await cli(['img', 'convert', '-c', '-O', 'qcow2', T('text.raw'), T('text.qcow2')])).code).toBe(0);
    const cc = JSON.parse(run('qemu-img', ['check', '--output=json', T('text.qcow2')]).stdout) as Record<string, number>;
    expect([cc['allocated-clusters'], cc['compressed-clusters'], cc['corruptions'] ?? 0, cc['leaks'] ?? 0]).toEqual([16, 15, 0, 0]);
    expect(qemuRaw(T('text.qcow2')).equals(Buffer.from(text))).toBe(true);
    expect(statSync(T('text.qcow2')).size).toBeLessThan(512 * 1024); // vs 1.3 MiB uncompressed
    expect((await cli(['img', 'convert', '-c', '-O', 'raw', T('text.raw'), T('text2.raw')])).err).toContain('-c (compression) needs -O qcow2');
  });
});

describe.skipIf(!QEMU_IMG)('crash consistency: a real kill -9 in the middle of allocating writes', () => {
  it('qemu-img check: at most leaked clusters, never an error; every acknowledged write is there', async () => {
    const writer = join(ROOT, 'test', 'helpers', 'qcow2-writer.ts');
    let sawLeak = false;
    for (let round = 0; round < 4; round++) {
      const f = T(`kill${round}.qcow2`);
      qemuImg('create', '-q', '-f', 'qcow2', f, '8G');
      const child = spawn(process.execPath, ['--import', 'tsx', writer, f, String(round)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let acked = -1;
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const target = 40 + round * 90;
      await new Promise<void>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split('\n');
          buf = lines.pop()!;
          for (const l of lines) acked = Number(l);
          if (acked >= target && child.exitCode === null) child.kill('SIGKILL');
        });
        child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited ${code}: ${err}`))));
      });
      const c = qemuCheck(f);
      expect([0, 3], `round ${round}: ${c.stdout}${c.stderr}`).toContain(c.status);
      expect(c.stderr).not.toMatch(/ERROR/);
      if (c.status === 3) sawLeak = true;
      // Our own check agrees with QEMU's verdict.
      const ours = await cli(['img', 'check', f]);
      expect(ours.code).toBe(c.status);
      // Durability against the process dying: every write the child saw return is in the image.
      const d = openImage(f, { readOnly: true });
      for (let i = 0; i <= acked; i++) {
        const { offset, len } = placement(i, round);
        const b = new Uint8Array(len);
        d.read(offset, b);
        expect(Buffer.from(b).equals(Buffer.from(pattern(i, len))), `round ${round} write ${i}`).toBe(true);
      }
      d.close();
    }
    // Not asserted: whether a kill happened to land between a refcount and its L2 entry.
    void sawLeak;
  }, 120_000);

  it('the write order makes an interrupted allocation a leak: refcount first, mapping last', () => {
    // Record every pwrite of one allocating guest write and replay prefixes of it: after each
    // prefix, qemu-img check must show no error (leaks allowed).
    const f = T('order.qcow2');
    writeFileSync(f, qcow2ImageBytes({ size: 64 << 20 }));
    const pristine = readFileSync(f);
    const file = new FdImageFile(f, false);
    const writes: Array<{ at: number; data: Uint8Array }> = [];
    const orig = file.pwrite.bind(file);
    file.pwrite = (at, data) => {
      writes.push({ at, data: new Uint8Array(data) });
      orig(at, data);
    };
    const q = new Qcow2Image(file, { readOnly: false });
    q.write(40 << 20, new Uint8Array(1000).fill(7)); // needs a new L2 table and a data cluster
    file.close();
    // refcount (L2 table), L2 table zeros, L1 entry, refcount (data), data, L2 entry
    expect(writes.map((w) => w.data.length)).toEqual([2, 65536, 8, 2, 65536, 8]);
    for (let n = 0; n <= writes.length; n++) {
      const g = T(`order-${n}.qcow2`);
      writeFileSync(g, pristine);
      const fd = new FdImageFile(g, false);
      for (const w of writes.slice(0, n)) fd.pwrite(w.at, w.data);
      fd.close();
      const c = qemuCheck(g);
      expect([0, 3], `after ${n} writes: ${c.stdout}${c.stderr}`).toContain(c.status);
      expect(c.stderr).not.toMatch(/ERROR/);
    }
  });
});

describe.skipIf(!QEMU_IMG)('img check on damaged images: the same lines and exit codes as qemu-img check', () => {
  it('leaked clusters (exit 3) and a refcount too low (exit 2)', async () => {
    const f = T('leaky.qcow2');
    writeFileSync(f, qcow2ImageBytes({ size: 4 << 20 }));
    const d = openImage(f, { readOnly: false });
    d.write(0, new Uint8Array(65536).fill(3));
    d.close();
    // Two clusters counted and written but referenced by nothing: what a kill -9 between the data
    // and the L2 entry leaves. (Counted clusters past the end of the file are not even leaks to
    // qemu-img check: it looks at the file's clusters only.)
    const file = new FdImageFile(f, false);
    const q = new Qcow2Image(file, { readOnly: false });
    for (let i = 0; i < 2; i++) file.pwrite(q.refcounts.alloc(), new Uint8Array(65536));
    file.close();
    const theirs = qemuCheck(f);
    const ours = await cli(['img', 'check', f]);
    expect(theirs.status).toBe(3);
    expect([ours.code, ours.out, ours.err]).toEqual([3, theirs.stdout, theirs.stderr]);
    // -r leaks: the same repair lines and report as qemu-img check -r leaks; clean afterwards.
    copyFileSync(f, T('leaky-q.qcow2'));
    const fixedTheirs = run('qemu-img', ['check', '-r', 'leaks', T('leaky-q.qcow2')]);
    const fixedOurs = await cli(['img', 'check', '-r', 'leaks', f]);
    expect([fixedOurs.code, fixedOurs.out, fixedOurs.err]).toEqual([fixedTheirs.status, fixedTheirs.stdout.replaceAll(T('leaky-q.qcow2'), f), fixedTheirs.stderr]);
    expect(fixedOurs.out).toContain('    2 leaked clusters');
    expect(qemuCheck(f).status).toBe(0);
    expect((await cli(['img', 'check', '-r', 'all', f])).code).toBe(1);
    // Now the data cluster's refcount dropped to 0 while the L2 table still maps it: an error.
    const g = T('broken.qcow2');
    writeFileSync(g, qcow2ImageBytes({ size: 4 << 20 }));
    const e = openImage(g, { readOnly: false });
    e.write(0, new Uint8Array(65536).fill(3)); // L2 table at cluster 4, data at cluster 5
    e.close();
    const gf = new FdImageFile(g, false);
    new Qcow2Image(gf, { readOnly: false }).refcounts.set(5, 0);
    gf.close();
    const theirs2 = qemuCheck(g);
    const ours2 = await cli(['img', 'check', g]);
    expect(theirs2.status).toBe(2);
    expect(ours2.code).toBe(2);
    expect(ours2.out).toBe(theirs2.stdout);
    expect(ours2.err).toContain('ERROR cluster 5 refcount=0 reference=1');
    expect(theirs2.stderr).toContain('ERROR cluster 5 refcount=0 reference=1');
  });
});

describe('BlockBackend seam', () => {
  it('ImageFormatError carries one line', () => {
    const f = T('x.qcow2');
    writeFileSync(f, qcow2ImageBytes({ size: 1 << 20 }).subarray(0, 100));
    try {
      openImage(f, { readOnly: true });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ImageFormatError);
      expect((e as Error).message).not.toContain('\n');
    }
    expect(createHash('sha256').update(readFileSync(f)).digest('hex')).toHaveLength(64);
  });
});
