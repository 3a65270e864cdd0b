/**
 * End-to-end: `node bin/cyclevisor.js ...` as a user runs it (dist/ is built by test/global-setup.ts).
 * Exit codes, what goes to stdout (guest console only) and stderr (one-line errors, trace, stats).
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { fakeIo, type FakeIo } from './helpers/cli-io.js';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOT_USAGE, DTB_USAGE, USAGE } from '../src/cli/args.js';
import { main, type CliIo, type InputSink } from '../src/cli/main.js';
import { EHDR, patched, phdrField } from './helpers/elf-writer.js';
import { ROOT, GUESTS, IMAGES, haveImages, image } from './helpers/guests.js';

const BIN = join(ROOT, 'bin', 'cyclevisor.js');
const elf = (name: string) => join(GUESTS, 'bin', `${name}.elf`);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface CliOptions {
  /** Bytes written to a stdin pipe, then closed. Default: stdin is /dev/null ('ignore'). */
  input?: string;
  /** A file to use as stdin. */
  stdinFile?: string;
  /** Called with the child once stderr has produced its first data. */
  onStderr?: (child: ReturnType<typeof spawn>) => void;
  timeoutMs?: number;
}

function cli(args: string[], opts: CliOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    let fd: number | null = null;
    let stdio: StdioOptions = ['ignore', 'pipe', 'pipe'];
    if (opts.input !== undefined) stdio = ['pipe', 'pipe', 'pipe'];
    if (opts.stdinFile !== undefined) {
      fd = openSync(opts.stdinFile, 'r');
      stdio = [fd, 'pipe', 'pipe'];
    }
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio });
    if (fd !== null) closeSync(fd);
    let stdout = '';
    let stderr = '';
    let sawStderr = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (!sawStderr) {
        sawStderr = true;
        opts.onStderr?.(child);
      }
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cyclevisor ${args.join(' ')}: timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The CLI's error contract: exit 2, exactly one stderr line `cyclevisor: ...`, no stack trace. */
function expectUserError(r: Run, message: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  const lines = r.stderr.slice(0, -1).split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^cyclevisor: /);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cyclevisor-e2e-'));
  const hello = new Uint8Array(readFileSync(elf('hello')));
  writeFileSync(join(tmp, 'notelf'), 'hello, world\n');
  writeFileSync(join(tmp, 'elf32.elf'), patched(hello, EHDR.class, 1, 1));
  writeFileSync(join(tmp, 'x86.elf'), patched(hello, EHDR.machine, 2, 62));
  // hello's program header 2 is its RW PT_LOAD (header 0 is RISCV_ATTRIBUTES): move it past RAM.
  const outside = patched(patched(hello, phdrField(2, 'paddr'), 8, 0x9000_0000n), phdrField(2, 'vaddr'), 8, 0x9000_0000n);
  writeFileSync(join(tmp, 'outside.elf'), outside);
  writeFileSync(join(tmp, 'bad-timing.json'), '{"latency": {"div": 300}}');
  writeFileSync(join(tmp, 'echo-input.txt'), 'hello\nquit\n');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.concurrent('cyclevisor run', () => {
  it('hello: guest output on stdout, nothing else, exit 0', async () => {
    const r = await cli(['run', elf('hello')]);
    expect(r).toEqual({ code: 0, signal: null, stdout: 'Hello from cyclevisor!\n', stderr: '' });
  });

  it('htif-fail: exit code 3 from tohost; htif-hello prints through the syscall proxy', async () => {
    const [fail, hello] = await Promise.all([cli(['run', elf('htif-fail')]), cli(['run', elf('htif-hello')])]);
    expect(fail).toMatchObject({ code: 3, stdout: '', stderr: '' });
    expect(hello).toMatchObject({ code: 0, stdout: 'Hello from HTIF!\n', stderr: '' });
  });

  it('echo: stdin from a pipe and from a file reaches the guest UART', async () => {
    const expected = readFileSync(join(GUESTS, 'expected', 'echo.out'), 'utf8');
    const [piped, file] = await Promise.all([
      cli(['run', elf('echo')], { input: 'hello\nquit\n' }),
      cli(['run', elf('echo')], { stdinFile: join(tmp, 'echo-input.txt') }),
    ]);
    expect(piped).toMatchObject({ code: 0, stdout: expected, stderr: '' });
    expect(file).toMatchObject({ code: 0, stdout: expected, stderr: '' });
  });

  it('--max-insns: exit 124 and a one-line note on stderr', async () => {
    const r = await cli(['run', elf('cmark-small'), '--max-insns', '1000']);
    expect(r.code).toBe(124);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('cyclevisor: stopped after 1000 instructions (--max-insns)\n');
  });

  it('--stats json: the summary on stderr parses, with the run\'s counters', async () => {
    const r = await cli(['run', elf('hello'), '--stats', 'json']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Hello from cyclevisor!\n');
    const s = JSON.parse(r.stderr) as Record<string, any>;
    expect(s['guest']).toBe(elf('hello'));
    expect(s['exit']).toEqual({ reason: 'exit', code: 0 });
    expect(s['instret']).toBe(234); // README: 234 instructions on QEMU with THRE always ready
    expect(s['cycles']).toBeGreaterThan(s['instret']);
    expect(s['cpuHz']).toBe(1_000_000_000);
    expect(s['classCounts']['store']).toBeGreaterThan(0);
    expect(s['devices']['uart0']).toMatchObject({ txBytes: 23 });
    expect(s['devices']['test']).toMatchObject({ passes: 1 });
    expect(s['bus']).toEqual({ unmappedReads: 0, unmappedWrites: 0 });
    expect(s['traps']).toEqual({ exceptions: 0, interrupts: 0 });
    expect(typeof s['hostSeconds']).toBe('number');
    expect(s['derived']['ipc']).toBeCloseTo(s['instret'] / s['cycles']);
  });

  it('--stats-file: the summary goes to the file (json with --stats json, else text), not to stderr', async () => {
    const jsonPath = join(tmp, 'stats.json');
    const textPath = join(tmp, 'stats.txt');
    const [a, b] = await Promise.all([
      cli(['run', elf('timer'), '--stats', 'json', '--stats-file', jsonPath]),
      cli(['run', elf('hello'), '--stats-file', textPath]),
    ]);
    expect(a).toMatchObject({ code: 0, stderr: '' });
    expect(a.stdout).toContain('timer ok\n');
    const s = JSON.parse(readFileSync(jsonPath, 'utf8')) as Record<string, any>;
    expect(s['traps']).toEqual({ exceptions: 0, interrupts: 10 });
    expect(s['cycles']).toBeGreaterThan(100 * s['instret']); // WFI idles skip ahead
    expect(b).toMatchObject({ code: 0, stdout: 'Hello from cyclevisor!\n', stderr: '' });
    const text = readFileSync(textPath, 'utf8');
    expect(text).toMatch(/^cyclevisor: .*hello\.elf: guest exited with code 0\n/);
    expect(text).toMatch(/\n {2}instructions {4}234\n/);
  });

  it('no --stats: no summary', async () => {
    const r = await cli(['run', elf('timer')]);
    expect(r.stderr).toBe('');
  });

  it('--trace 5: five disassembled instructions on stderr, then full speed', async () => {
    const r = await cli(['run', elf('hello'), '--trace', '5']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Hello from cyclevisor!\n');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    lines.forEach((l, i) => expect(l).toMatch(new RegExp(`^ +${i}  [0-9a-f]{8}  [0-9a-f]{4,8} *  [a-z.]+ `)));
    expect(lines[0]).toBe('         0  80000000  00002197  auipc gp, 0x2');
    expect(lines[2]).toContain('csrrs t0, mhartid, zero');
  });

  it('Ctrl-C (SIGINT): stats on stderr, exit 130', async () => {
    // --trace 1 makes the run print one line as soon as it has started (and the handler is set).
    const r = await cli(['run', elf('cmark'), '--trace', '1'], { onStderr: (child) => setTimeout(() => child.kill('SIGINT'), 100) });
    expect(r.code).toBe(130);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/cmark\.elf: interrupted \(exit code 130\)\n/);
    expect(r.stderr).toMatch(/\n {2}instructions {4}[\d,]+\n/);
  });
});

describe.concurrent('bad input: exit 2, one line on stderr, no stack trace', () => {
  it('missing file', async () => {
    expectUserError(await cli(['run', join(tmp, 'nope.elf')]), /nope\.elf: no such file$/);
  });
  it('a directory', async () => {
    expectUserError(await cli(['run', tmp]), /is a directory, not an ELF file$/);
  });
  it('not an ELF', async () => {
    expectUserError(await cli(['run', join(tmp, 'notelf')]), /notelf: not an ELF file \(starts with 68 65 6c 6c/);
  });
  it('ELF32', async () => {
    expectUserError(await cli(['run', join(tmp, 'elf32.elf')]), /elf32\.elf is a 32-bit ELF; cyclevisor runs RV64/);
  });
  it('not RISC-V', async () => {
    expectUserError(await cli(['run', join(tmp, 'x86.elf')]), /x86\.elf: machine is 62 \(x86-64\), not RISC-V/);
  });
  it('segment outside RAM (sizes named)', async () => {
    expectUserError(
      await cli(['run', join(tmp, 'outside.elf')]),
      /outside\.elf: segment 2 \(0x90000000-0x9000404f, 16\.1 KiB\) is outside RAM 0x80000000-0x87ffffff \(128 MiB\)/,
    );
  });
  it('bad flag', async () => {
    expectUserError(await cli(['run', elf('hello'), '--stat', 'json']), /unknown option '--stat'; did you mean '--stats'\?$/);
  });
  it('bad size', async () => {
    expectUserError(await cli(['run', elf('hello'), '--ram', '12Q']), /invalid size '12Q' for --ram/);
    expectUserError(await cli(['run', elf('hello'), '--ram', '4G']), /--ram 4G \(4 GiB\) is too large/);
  });
  it('bad timing file', async () => {
    expectUserError(await cli(['run', elf('hello'), '--timing', join(tmp, 'bad-timing.json')]), /bad-timing\.json: "latency\.div" is 300; it must be between 0 and 255$/);
    expectUserError(await cli(['run', elf('hello'), '--timing', join(tmp, 'none.json')]), /none\.json: no such file$/);
  });
  it('unwritable --stats-file, missing command', async () => {
    expectUserError(await cli(['run', elf('hello'), '--stats-file', join(tmp, 'no', 'dir.json')]), /--stats-file .*: cannot write \(no such directory\)$/);
    expectUserError(await cli([]), /no command given/);
  });
});

const HAVE_IMAGES = haveImages('linux-6.1-rv64.Image', 'initramfs-nolibc.cpio.gz');

describe.concurrent('cyclevisor boot', () => {
  it('boot --help and help dtb print their usage on stdout, exit 0', async () => {
    expect(await cli(['boot', '--help'])).toMatchObject({ code: 0, stdout: BOOT_USAGE, stderr: '' });
    expect(await cli(['help', 'dtb'])).toMatchObject({ code: 0, stdout: DTB_USAGE, stderr: '' });
  });

  it('bad boot input: one line, exit 2', async () => {
    expectUserError(await cli(['boot', '--kernel', elf('hello')]), /--kernel .*hello\.elf: an ELF file \(vmlinux\?\), not a RISC-V kernel Image/);
    expectUserError(await cli(['boot', '--kernel', 'x', '--smp', '9']), /--smp expects a number of harts from 1 to 8, got '9'/);
  });

  it.skipIf(!HAVE_IMAGES)(
    `Linux + nolibc initramfs with the builtin SBI: /init's lines, power-off, exit 0${HAVE_IMAGES ? '' : ` (skipped: no guest images at ${IMAGES})`}`,
    async () => {
      const r = await cli(
        ['boot', '--kernel', image('linux-6.1-rv64.Image'), '--initrd', image('initramfs-nolibc.cpio.gz'), '--append', 'console=ttyS0'],
        { timeoutMs: 50_000 },
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = r.stdout.replace(/\r\n/g, '\n');
      expect(out).toContain('\ninit: hello from userspace\n');
      expect(out).toContain('\ninit: loop done 7abae2d0a1937501\ninit: powering off\n');
      expect(out).toMatch(/\] reboot: Power down\n$/);
    },
  );
});

describe.concurrent('help, version, demo', () => {
  it('--help prints the usage on stdout, exit 0', async () => {
    const r = await cli(['--help']);
    expect(r).toMatchObject({ code: 0, stdout: USAGE, stderr: '' });
    const v = await cli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^cyclevisor \d+\.\d+\.\d+\n$/);
  });

  it('demo: a header, the cmark checksum line, then the text summary on stdout', async () => {
    const r = await cli(['demo'], { timeoutMs: 50_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^cyclevisor demo: running test\/guests\/bin\/cmark\.elf \(.*\)$/);
    expect(lines[1]).toBe('cmark: iterations=5000 checksum=0xc1ad');
    expect(lines[2]).toBe('cyclevisor: test/guests/bin/cmark.elf: guest exited with code 0');
    expect(r.stdout).toMatch(/\n {2}instructions {4}286,\d{3},\d{3}\n/);
    expect(r.stdout).toMatch(/\n {2}host time .*MIPS\)\n/);
  });
});


describe('main() in-process (the CliIo seam)', () => {
  it('an unexpected exception is one line "internal error", exit 70', async () => {
    const io = fakeIo({
      attachInput: () => {
        throw new Error('boom\nsecond line');
      },
    });
    expect(await main(['run', elf('hello')], io)).toBe(70);
    expect(io.err()).toBe('cyclevisor: internal error: boom second line\n');
  });

  it('input pushed through attachInput reaches the guest; its output goes to io.stdout', async () => {
    const io = fakeIo({
      attachInput: (s) => {
        s.open();
        setTimeout(() => {
          s.push(new TextEncoder().encode('hello\nquit\n'));
          s.end();
        }, 10);
        return () => {};
      },
    });
    expect(await main(['run', elf('echo')], io)).toBe(0);
    expect(io.out()).toBe(readFileSync(join(GUESTS, 'expected', 'echo.out'), 'utf8'));
    expect(io.err()).toBe('');
  });

  it('the interrupt handler ends the run with 130 and prints the stats', async () => {
    let removed = false;
    const io = fakeIo({
      onInterrupt: (h) => {
        const t = setTimeout(h, 50);
        return () => {
          clearTimeout(t);
          removed = true;
        };
      },
    });
    expect(await main(['run', elf('cmark')], io)).toBe(130);
    expect(io.out()).toBe('');
    expect(io.err()).toMatch(/cmark\.elf: interrupted \(exit code 130\)\n/);
    expect(removed).toBe(true);
  });
});
