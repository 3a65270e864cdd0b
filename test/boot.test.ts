/**
 * `cyclevisor boot` and `cyclevisor dtb` through main() in this process, and the console escapes.
 *
 * The Linux boots need the guest images of /work/shared/guests (README there), found at
 * <repo>/../shared/guests; without them those tests are skipped and say why. Bad input, the dtb
 * command's format checks and the console state machine need no images (a fake kernel Image
 * header stands in where one is needed).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { fakeIo, type FakeIo } from './helpers/cli-io.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo, type InputSink } from '../src/cli/main.js';
import type { ConsoleControl } from '../src/cli/console.js';
import { ESCAPE_HELP, EscapeDecoder, attachRawConsole, type ConsoleEvent, type ProcessHooks, type TtyInput } from '../src/cli/console.js';
import { parseFdt } from '../src/board/fdt.js';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { useOptimizingCompiler } from '../src/core.js';
import { ROOT, GUESTS, IMAGES, haveImages, image } from './helpers/guests.js';

const KERNEL = image('linux-6.1-rv64.Image');
const NOLIBC = image('initramfs-nolibc.cpio.gz');
const OPENSBI = image('opensbi-fw_dynamic.bin');
const HAVE_IMAGES = haveImages('linux-6.1-rv64.Image', 'initramfs-nolibc.cpio.gz', 'opensbi-fw_dynamic.bin');
const SKIP_REASON = `skipped: no guest images at ${IMAGES} (see /work/shared/guests/README.md)`;
if (!HAVE_IMAGES) console.warn(`test/boot.test.ts: Linux boot tests ${SKIP_REASON}`);

/** What /init prints last (shared/guests/README.md), then the kernel's power-down line. */
const INIT_LINES = ['init: hello from userspace', 'init: loop done 7abae2d0a1937501', 'init: powering off'];

useOptimizingCompiler();

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------



async function cli(argv: string[], overrides: Partial<CliIo> = {}): Promise<{ code: number; out: string; err: string; io: FakeIo }> {
  const io = fakeIo(overrides);
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err(), io };
}

/** The CLI's error contract: exit 2, one stderr line `cyclevisor: ...`, nothing on stdout. */
async function expectBadInput(argv: string[], message: RegExp): Promise<string> {
  const r = await cli(argv);
  expect(r.code, r.err).toBe(2);
  expect(r.out).toBe('');
  expect(r.err.endsWith('\n')).toBe(true);
  const lines = r.err.slice(0, -1).split('\n');
  expect(lines, r.err).toHaveLength(1);
  expect(lines[0]).toMatch(/^cyclevisor: /);
  expect(lines[0]).toMatch(message);
  expect(r.err).not.toMatch(/\n\s+at |internal error|node:internal/);
  return lines[0]!;
}

/** A minimal RISC-V Image header (Documentation/riscv/boot-image-header.rst): magic2 "RSC\x05". */
function fakeImage(imageSize: number, fileBytes = 64): Uint8Array {
  const b = new Uint8Array(fileBytes);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0x10, BigInt(imageSize), true);
  dv.setUint32(0x38, 0x05435352, true);
  return b;
}

/** File descriptors of this process open on `path` (to check that disk images are closed). */
function openFdsOn(path: string): string[] {
  const dir = '/proc/self/fd';
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const fd of readdirSync(dir)) {
    try {
      if (readlinkSync(join(dir, fd)) === path) out.push(fd);
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

let tmp = '';
const T = (name: string) => join(tmp, name);
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cyclevisor-boot-'));
  writeFileSync(T('Image'), fakeImage(2 << 20, 4096));
  writeFileSync(T('big-Image'), fakeImage(8 << 20));
  writeFileSync(T('not-an-image'), new Uint8Array(4096).fill(0x5a));
  writeFileSync(T('empty.bin'), new Uint8Array(0));
  writeFileSync(T('rd.cpio'), new Uint8Array(1000));
  writeFileSync(T('big-rd'), new Uint8Array(0));
  truncateSync(T('big-rd'), 7 << 20);
  mkdirSync(T('dir'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Linux boots
// ---------------------------------------------------------------------------------------------

describe.skipIf(!HAVE_IMAGES)(`boot Linux 6.1 + nolibc initramfs${HAVE_IMAGES ? '' : ` (${SKIP_REASON})`}`, () => {
  const base = ['boot', '--kernel', KERNEL, '--initrd', NOLIBC, '--append', 'console=ttyS0'];

  function expectInitRan(out: string): void {
    // The kernel's tty turns \n into \r\n.
    const text = out.replace(/\r\n/g, '\n');
    let at = 0;
    for (const line of INIT_LINES) {
      const i = text.indexOf(`\n${line}\n`, at);
      expect(i, `missing '${line}' in the console output`).toBeGreaterThanOrEqual(0);
      at = i;
    }
    expect(out).toMatch(/\[ *\d+\.\d+\] reboot: Power down\r?\n$/);
  }

  it('--bios builtin (the default): /init runs, the guest powers off, exit 0', async () => {
    const r = await cli(base);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expectInitRan(r.out);
    expect(r.out).not.toContain('OpenSBI');
    expect(r.out).toContain('Kernel command line: console=ttyS0');
  });

  it('--bios opensbi-fw_dynamic.bin: the OpenSBI banner, then the same boot, exit 0 (SBI shutdown)', async () => {
    const r = await cli([...base, '--bios', OPENSBI]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\r?\nOpenSBI v1\.1\r?\n/);
    expect(r.out).toMatch(/Platform Name +: riscv-virtio,qemu/);
    expect(r.out).toMatch(/Domain0 Next Address +: 0x0*80200000/);
    expectInitRan(r.out);
  });

  it('deterministic: two builtin boots retire the same instructions in the same cycles and print the same', async () => {
    const a = await cli([...base, '--stats', 'json']);
    const b = await cli([...base, '--stats', 'json']);
    expect([a.code, b.code]).toEqual([0, 0]);
    const sa = JSON.parse(a.err) as { instret: number; cycles: number; exit: { reason: string; code: number } };
    const sb = JSON.parse(b.err) as typeof sa;
    expect(sa.exit).toEqual({ reason: 'exit', code: 0 });
    expect(sa.instret).toBeGreaterThan(50e6);
    expect(sb.instret).toBe(sa.instret);
    expect(sb.cycles).toBe(sa.cycles);
    expect(b.out).toBe(a.out);
  });

  it('--drive: raw images reach the guest as vda and vdb with their sizes; closed at the end', async () => {
    const a = T('a.img');
    const b = T('b.img');
    writeFileSync(a, new Uint8Array(0));
    truncateSync(a, 3 << 20); // 6144 sectors
    writeFileSync(b, new Uint8Array(0));
    truncateSync(b, 1 << 20);
    const r = await cli([...base, '--drive', `file=${a}`, '--drive', `file=${b},readonly`]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // virtio_blk's probe message (drivers/block/virtio_blk.c): sectors, then decimal/binary sizes.
    expect(r.out).toMatch(/virtio_blk virtio0: \[vda\] 6144 512-byte logical blocks \(3\.15 MB\/3\.00 MiB\)/);
    expect(r.out).toMatch(/virtio_blk virtio1: \[vdb\] 2048 512-byte logical blocks \(1\.05 MB\/1\.00 MiB\)/);
    expectInitRan(r.out);
    expect(openFdsOn(a)).toEqual([]);
    expect(openFdsOn(b)).toEqual([]);
  });

  it('--smp 2 reaches the board: the kernel brings up two harts', async () => {
    const r = await cli([...base, '--smp', '2']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('smp: Brought up 1 node, 2 CPUs');
    expectInitRan(r.out);
  });

  it('--max-insns stops a boot with 124; the disk image is still closed', async () => {
    const a = T('c.img');
    writeFileSync(a, new Uint8Array(4096));
    const r = await cli([...base, '--max-insns', '2e6', '--drive', `file=${a}`]);
    expect(r.code).toBe(124);
    expect(r.err).toBe('cyclevisor: stopped after 2000000 instructions (--max-insns)\n');
    expect(openFdsOn(a)).toEqual([]);
  });

  it('the dtb command writes the very blob bootLinux hands the kernel', async () => {
    const out = T('same.dtb');
    const args = ['--append', 'console=ttyS0 quiet', '--initrd', NOLIBC, '--ram', '256M'];
    expect((await cli(['dtb', '-o', out, ...args])).code).toBe(0);
    const m = new VirtMachine({ ramBytes: 256 << 20 });
    const { dtbAddr } = bootLinux(m, { bios: 'builtin', kernel: KERNEL, initrd: NOLIBC, append: 'console=ttyS0 quiet' });
    const size = new DataView(m.core.readPhys(dtbAddr, 8).buffer).getUint32(4); // totalsize, big-endian
    expect(Buffer.from(m.core.readPhys(dtbAddr, size))).toEqual(readFileSync(out));
  });
});

// ---------------------------------------------------------------------------------------------
// dtb
// ---------------------------------------------------------------------------------------------

describe('cyclevisor dtb', () => {
  it('-o FILE: a blob that parses, with the bootargs, the harts, RAM and the initrd where boot puts it', async () => {
    const out = T('board.dtb');
    const r = await cli(['dtb', '-o', out, '--smp', '3', '--ram', '512M', '--append', 'console=ttyS0 root=/dev/vda', '--initrd', T('rd.cpio')]);
    expect(r).toMatchObject({ code: 0, out: '', err: '' });
    const tree = parseFdt(new Uint8Array(readFileSync(out)));
    const chosen = tree.root.find('/chosen')!;
    expect(chosen.string('bootargs')).toBe('console=ttyS0 root=/dev/vda');
    expect(chosen.string('stdout-path')).toBe('/soc/serial@10000000');
    // kernel at 0x80200000 + min(RAM/2, 128 MiB)
    expect(chosen.u64('linux,initrd-start')).toBe(0x8820_0000n);
    expect(chosen.u64('linux,initrd-end')).toBe(0x8820_0000n + 1000n);
    const cpus = tree.root.find('/cpus')!.children.filter((c) => c.name.startsWith('cpu@'));
    expect(cpus.map((c) => c.name)).toEqual(['cpu@0', 'cpu@1', 'cpu@2']);
    expect(tree.root.find('/memory@80000000')!.cells('reg')).toEqual([0, 0x8000_0000, 0, 0x2000_0000]);
  });

  it('default file cyclevisor.dtb; --dts prints DTS text; -o - writes the blob to stdout', async () => {
    const cwd = process.cwd();
    const dir = T('cwd');
    mkdirSync(dir);
    process.chdir(dir);
    try {
      expect((await cli(['dtb', '--append', 'hello'])).code).toBe(0);
    } finally {
      process.chdir(cwd);
    }
    const blob = readFileSync(join(dir, 'cyclevisor.dtb'));
    expect(parseFdt(new Uint8Array(blob)).root.find('/chosen')!.string('bootargs')).toBe('hello');

    const dts = await cli(['dtb', '--dts', '--append', 'console=ttyS0 loglevel=8']);
    expect(dts.code).toBe(0);
    expect(dts.out).toMatch(/^\/dts-v1\/;\n/);
    expect(dts.out).toContain('bootargs = "console=ttyS0 loglevel=8";');
    expect(dts.out).toMatch(/riscv,isa = "rv64i/);

    const toStdout = await cli(['dtb', '-o', '-', '--append', 'hello']);
    expect(toStdout.io.outBytes()).toEqual(blob);

    const dtsFile = T('board.dts');
    expect((await cli(['dtb', '--dts', '-o', dtsFile])).code).toBe(0);
    expect(readFileSync(dtsFile, 'utf8')).toMatch(/^\/dts-v1\/;\n/);
  });

  it('bad input: one line, exit 2', async () => {
    await expectBadInput(['dtb', '--initrd', T('missing')], /^cyclevisor: --initrd .*missing: no such file$/);
    await expectBadInput(['dtb', '--initrd', T('big-rd'), '--ram', '8M'], /RAM too small: the initrd \(7 MiB\) needs .* but RAM is 8 MiB/);
    await expectBadInput(['dtb', '-o', join(T('missing'), 'x.dtb')], /^cyclevisor: -o .*: cannot write \(no such directory\)$/);
    await expectBadInput(['dtb', '--smp', '0'], /--smp expects a number of harts from 1 to 8, got '0'/);
  });
});

// ---------------------------------------------------------------------------------------------
// Bad boot input
// ---------------------------------------------------------------------------------------------

describe('boot: bad input is one line on stderr and exit 2', () => {
  const K = () => ['boot', '--kernel', T('Image')];
  it('no kernel', async () => {
    await expectBadInput(['boot'], /missing --kernel IMAGE/);
  });
  it('kernel missing, a directory, not an Image, an ELF, empty', async () => {
    await expectBadInput(['boot', '--kernel', T('nope')], /^cyclevisor: --kernel .*nope: no such file$/);
    await expectBadInput(['boot', '--kernel', T('dir')], /--kernel .*dir: is a directory, not a RISC-V kernel Image/);
    await expectBadInput(['boot', '--kernel', T('not-an-image')], /not-an-image: not a RISC-V kernel Image \(no "RSC\\x05" magic at offset 0x38\)/);
    await expectBadInput(['boot', '--kernel', join(GUESTS, 'bin', 'hello.elf')], /--kernel .*hello\.elf: an ELF file \(vmlinux\?\), not a RISC-V kernel Image/);
    await expectBadInput(['boot', '--kernel', T('empty.bin')], /empty\.bin: too small to be a RISC-V kernel Image \(0 bytes\)/);
  });
  it('initrd or firmware missing; firmware empty or not a file', async () => {
    await expectBadInput([...K(), '--initrd', T('nope.cpio')], /^cyclevisor: --initrd .*nope\.cpio: no such file$/);
    await expectBadInput([...K(), '--bios', T('nope.bin')], /^cyclevisor: --bios .*nope\.bin: no such file$/);
    await expectBadInput([...K(), '--bios', T('empty.bin')], /empty\.bin: the firmware image is empty/);
    await expectBadInput([...K(), '--bios', '/dev/null'], /--bios \/dev\/null: not a regular file/);
  });
  it('RAM too small for the kernel or the initrd: the sizes are named', async () => {
    await expectBadInput(['boot', '--kernel', T('big-Image'), '--ram', '4M'], /RAM too small: the kernel \(8 MiB\) needs 0x80200000-0x809fffff but RAM is 4 MiB \(0x80000000-0x803fffff\); use a larger --ram/);
    await expectBadInput([...K(), '--initrd', T('big-rd'), '--ram', '16M'], /RAM too small: the initrd \(7 MiB\) needs .* but RAM is 16 MiB/);
  });
  it('impossible --smp, bad --mode, bad --ram', async () => {
    await expectBadInput([...K(), '--smp', '9'], /--smp expects a number of harts from 1 to 8, got '9'/);
    await expectBadInput([...K(), '--smp', '0'], /--smp expects a number of harts from 1 to 8, got '0'/);
    await expectBadInput([...K(), '--mode', 'turbo'], /--mode must be 'fast' or 'timing', got 'turbo'/);
    await expectBadInput([...K(), '--ram', '3G'], /--ram 3G \(3 GiB\) is too large/);
  });
  it('bad --drive syntax; drive file missing, a directory, not a regular file', async () => {
    await expectBadInput([...K(), '--drive', 'disk.img'], /--drive disk\.img: expected file=PATH\[,readonly\] \(e\.g\. --drive file=disk\.img\)/);
    await expectBadInput([...K(), '--drive', 'file=a,bogus'], /unknown item 'bogus'/);
    await expectBadInput([...K(), '--drive', 'file='], /file= needs a path/);
    await expectBadInput([...K(), '--drive', `file=${T('nope.img')}`], /^cyclevisor: --drive file=.*nope\.img: no such file$/);
    await expectBadInput([...K(), '--drive', `file=${T('dir')}`], /--drive file=.*dir: is a directory \(a raw disk image is needed\)/);
    await expectBadInput([...K(), '--drive', 'file=/dev/null'], /--drive file=\/dev\/null: not a regular file \(a raw disk image is needed\)/);
  });
  it('a failure after the board is built still closes the disk images', async () => {
    const img = T('d.img');
    writeFileSync(img, new Uint8Array(4096));
    await expectBadInput(['boot', '--kernel', T('big-Image'), '--ram', '4M', '--drive', `file=${img}`], /RAM too small/);
    expect(openFdsOn(img)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Console
// ---------------------------------------------------------------------------------------------

const bytes = (s: string) => new TextEncoder().encode(s);
const kinds = (evs: ConsoleEvent[]) => evs.map((e) => (e.kind === 'input' ? Buffer.from(e.bytes).toString('latin1') : `<${e.kind}>`));

describe('console escapes (EscapeDecoder)', () => {
  it('plain bytes pass through, Ctrl-C and every other control byte included', () => {
    const d = new EscapeDecoder();
    expect(kinds(d.feed(bytes('ls -l\r\x03\x1a\x1b[A')))).toEqual(['ls -l\r\x03\x1a\x1b[A']);
    expect(kinds(d.feed(new Uint8Array(0)))).toEqual([]);
  });

  it('Ctrl-A x quits; bytes before it go to the guest, bytes after it are dropped, later chunks too', () => {
    const d = new EscapeDecoder();
    expect(kinds(d.feed(bytes('ab\x01xcd')))).toEqual(['ab', '<quit>']);
    expect(kinds(d.feed(bytes('more')))).toEqual([]);
    expect(kinds(new EscapeDecoder().feed(bytes('\x01X')))).toEqual(['<quit>']);
  });

  it('Ctrl-A s and Ctrl-A h (or ?) are commands in order with the input around them', () => {
    const d = new EscapeDecoder();
    expect(kinds(d.feed(bytes('a\x01sb\x01hc\x01?')))).toEqual(['a', '<stats>', 'b', '<help>', 'c', '<help>']);
  });

  it('Ctrl-A Ctrl-A sends one Ctrl-A, joined with the bytes around it', () => {
    const d = new EscapeDecoder();
    expect(kinds(d.feed(bytes('a\x01\x01b')))).toEqual(['a\x01b']);
    expect(kinds(d.feed(bytes('\x01\x01\x01\x01')))).toEqual(['\x01\x01']);
  });

  it('the escape carries over chunk boundaries (keys arrive one by one)', () => {
    const d = new EscapeDecoder();
    expect(kinds(d.feed(bytes('abc\x01')))).toEqual(['abc']);
    expect(d.pending).toBe(true);
    expect(kinds(d.feed(bytes('s')))).toEqual(['<stats>']);
    expect(d.pending).toBe(false);
    expect(kinds(d.feed(bytes('\x01')))).toEqual([]);
    expect(kinds(d.feed(bytes('\x01')))).toEqual(['\x01']);
    expect(kinds(d.feed(bytes('\x01')))).toEqual([]);
    expect(kinds(d.feed(bytes('x')))).toEqual(['<quit>']);
  });

  it('any other key after Ctrl-A is dropped (as QEMU does)', () => {
    const d = new EscapeDecoder();
    expect(kinds(d.feed(bytes('a\x01zb\x01\x03c')))).toEqual(['abc']);
  });
});

/** A fake terminal: records raw-mode changes and lets the test type. */
class FakeTty implements TtyInput {
  modes: boolean[] = [];
  listeners: Array<(c: Buffer | string) => void> = [];
  paused = false;
  setRawMode(m: boolean) {
    this.modes.push(m);
  }
  on(_e: 'data', l: (c: Buffer | string) => void) {
    this.listeners.push(l);
  }
  off(_e: 'data', l: (c: Buffer | string) => void) {
    this.listeners = this.listeners.filter((x) => x !== l);
  }
  resume() {
    this.paused = false;
  }
  pause() {
    this.paused = true;
  }
  type(s: string) {
    for (const l of this.listeners) l(Buffer.from(s, 'latin1'));
  }
}

class FakeProcess implements ProcessHooks {
  handlers = new Map<string, Array<() => void>>();
  exits: number[] = [];
  on(e: string, l: () => void) {
    this.handlers.set(e, [...(this.handlers.get(e) ?? []), l]);
  }
  off(e: string, l: () => void) {
    this.handlers.set(e, (this.handlers.get(e) ?? []).filter((x) => x !== l));
  }
  exit(code: number) {
    this.exits.push(code);
  }
  emit(e: string) {
    for (const l of this.handlers.get(e) ?? []) l();
  }
  count(): number {
    return [...this.handlers.values()].reduce((a, l) => a + l.length, 0);
  }
}

function recordingSink() {
  const log: string[] = [];
  const sink: InputSink = {
    open: () => log.push('open'),
    push: (b) => log.push(Buffer.from(b).toString('latin1')),
    end: () => log.push('end'),
  };
  return { log, sink };
}

describe('raw terminal console (attachRawConsole)', () => {
  it('raw mode while attached; keys reach the guest; escapes reach the control; help on stderr; restored on detach', () => {
    const tty = new FakeTty();
    const proc = new FakeProcess();
    const { log, sink } = recordingSink();
    const calls: string[] = [];
    const control: ConsoleControl = { quit: () => calls.push('quit'), stats: () => calls.push('stats') };
    let err = '';
    const detach = attachRawConsole(tty, sink, control, { write: (c) => (err += String(c)) }, proc);
    expect(tty.modes).toEqual([true]);
    tty.type('uname -a\r\x03');
    tty.type('\x01');
    tty.type('s');
    tty.type('\x01h\x01\x01');
    tty.type('\x01x');
    expect(log).toEqual(['open', 'uname -a\r\x03', '\x01']);
    expect(calls).toEqual(['stats', 'quit']);
    expect(err).toBe(ESCAPE_HELP);
    detach();
    expect(tty.modes).toEqual([true, false]);
    expect(tty.listeners).toHaveLength(0);
    expect(proc.count()).toBe(0);
    detach(); // idempotent restore
    expect(tty.modes).toEqual([true, false]);
  });

  it('the terminal mode is restored on process exit and on SIGTERM / SIGHUP (then 143 / 129)', () => {
    for (const [event, code] of [['exit', null], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
      const tty = new FakeTty();
      const proc = new FakeProcess();
      attachRawConsole(tty, recordingSink().sink, undefined, { write: () => {} }, proc);
      proc.emit(event);
      expect(tty.modes, event).toEqual([true, false]);
      expect(proc.exits).toEqual(code === null ? [] : [code]);
    }
  });
});

describe('console escapes through main()', () => {
  const cmark = join(GUESTS, 'bin', 'cmark.elf');

  it('Ctrl-A x: exit 0, "terminated by Ctrl-A x", no summary unless asked', async () => {
    const r = await cli(['run', cmark], {
      attachInput: (s, control) => {
        s.open();
        const t = setTimeout(() => control!.quit(), 30);
        return () => clearTimeout(t);
      },
    });
    expect(r.code).toBe(0);
    expect(r.err).toBe('cyclevisor: terminated by Ctrl-A x\n');
  });

  it('Ctrl-A x with --stats: the summary follows; Ctrl-A s prints one mid-run and the run goes on', async () => {
    const r = await cli(['run', cmark, '--stats', 'text'], {
      attachInput: (s, control) => {
        s.open();
        const t1 = setTimeout(() => control!.stats(), 20);
        const t2 = setTimeout(() => control!.quit(), 80);
        return () => {
          clearTimeout(t1);
          clearTimeout(t2);
        };
      },
    });
    const statsPrinted = r.err;
    expect(r.code).toBe(0);
    const running = statsPrinted.indexOf('cmark.elf: running (statistics so far; Ctrl-A x quits)\n');
    const quit = statsPrinted.indexOf('cyclevisor: terminated by Ctrl-A x\n');
    const final = statsPrinted.indexOf('cmark.elf: interrupted (exit code 0)\n');
    expect(running).toBeGreaterThanOrEqual(0);
    expect(quit).toBeGreaterThan(running);
    expect(final).toBeGreaterThan(quit);
    expect(statsPrinted).toMatch(/host time .*MIPS/);
  });
});
