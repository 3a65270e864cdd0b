import { describe, expect, it } from 'vitest';
import { errorOf } from './helpers/errors.js';
import { parseCpu } from '../src/board/cpu.js';
import {
  BOOT_DEFAULT_RAM,
  BOOT_USAGE,
  CTL_USAGE,
  HOST_USAGE,
  DEFAULT_RAM,
  DTB_USAGE,
  USAGE,
  defaultRunSettings,
  parseArgs,
  parseCount,
  parseDrive,
  parseRamSize,
  parseSize,
  type BootCommand,
  type DtbCommand,
  type RunCommand,
} from '../src/cli/args.js';

const K = 1024;
const M = 1024 * K;
const G = 1024 * M;


function run(...argv: string[]): RunCommand {
  const c = parseArgs(argv);
  if (c.command !== 'run') throw new Error(`expected run, got ${c.command}`);
  return c;
}

describe('parseSize', () => {
  it.each([
    ['4096', 4096],
    ['65_536', 65536],
    ['1K', K],
    ['1k', K],
    ['64KiB', 64 * K],
    ['64kb', 64 * K],
    ['128M', 128 * M],
    ['128m', 128 * M],
    ['128MiB', 128 * M],
    ['128mib', 128 * M],
    ['128MB', 128 * M],
    ['1G', G],
    ['2GiB', 2 * G],
    ['1.5G', 1.5 * G],
    ['0.5M', 512 * K],
    ['16 M', 16 * M],
    ['100B', 100],
    ['1T', 1024 * G],
  ])('%s -> %d', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'abc', '12Q', 'M', '-1M', '1.5', '1e3', '4096iB', '0x1000', '1 GiBs', '1__0'])('rejects %j', (text) => {
    const msg = errorOf(() => parseSize(text, '--ram'));
    expect(msg).toMatch(/size '.*' for --ram/);
  });

  it('rejects fractional byte counts and explains', () => {
    expect(errorOf(() => parseSize('1.0000001K'))).toBe("invalid size '1.0000001K': not a whole number of bytes");
    expect(errorOf(() => parseSize('abc'))).toBe(
      "invalid size 'abc' (expected bytes or a number with K, M or G, e.g. 128M or 1GiB)",
    );
  });
});

describe('parseRamSize', () => {
  it('accepts the limits', () => {
    expect(parseRamSize('1M')).toBe(M);
    expect(parseRamSize('2G')).toBe(2 * G);
    expect(parseRamSize('1052672')).toBe(M + 4 * K);
  });
  it('says the limits', () => {
    expect(errorOf(() => parseRamSize('512K'))).toBe('--ram 512K (512 KiB) is too small: RAM must be between 1 MiB and 2 GiB');
    expect(errorOf(() => parseRamSize('3G'))).toBe('--ram 3G (3 GiB) is too large: RAM must be between 1 MiB and 2 GiB');
    expect(errorOf(() => parseRamSize('2049M'))).toContain('is too large');
    expect(errorOf(() => parseRamSize('0'))).toContain('is too small');
  });
  it('requires a multiple of 4 KiB', () => {
    expect(errorOf(() => parseRamSize('1050000'))).toBe(
      '--ram 1050000 (1050000 bytes) is not a multiple of 4 KiB (pages); try 1028 KiB',
    );
    expect(errorOf(() => parseRamSize('1026K'))).toBe('--ram 1026K (1050624 bytes) is not a multiple of 4 KiB (pages); try 1028 KiB');
  });
});

describe('parseCount', () => {
  it.each([
    ['1', 1],
    ['1000000', 1_000_000],
    ['1_000_000', 1_000_000],
    ['1e9', 1e9],
    ['1E3', 1000],
    ['1e+3', 1000],
    ['2.5e3', 2500],
    ['1.000e3', 1000],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ])('%s -> %d', (text, n) => {
    expect(parseCount(text, '--max-insns', 1)).toBe(n);
  });

  it('rejects fractions, negatives, zero (when positive), junk and huge values', () => {
    expect(errorOf(() => parseCount('1.5', '--max-insns', 1))).toBe("--max-insns must be a whole number, got '1.5'");
    expect(errorOf(() => parseCount('1.25e1', '--max-insns', 1))).toBe("--max-insns must be a whole number, got '1.25e1'");
    expect(errorOf(() => parseCount('-5', '--max-insns', 1))).toBe("--max-insns must be a positive whole number, got '-5'");
    expect(errorOf(() => parseCount('0', '--max-insns', 1))).toBe("--max-insns must be a positive whole number, got '0'");
    expect(errorOf(() => parseCount('ten', '--max-insns', 1))).toBe(
      "--max-insns expects a positive whole number like 1000000, 1_000_000 or 1e6; got 'ten'",
    );
    expect(errorOf(() => parseCount('1e-3', '--max-insns', 1))).toContain('expects a positive whole number');
    expect(errorOf(() => parseCount('1e20', '--max-insns', 1))).toBe('--max-insns 1e20 is too large (maximum 9007199254740991)');
    expect(errorOf(() => parseCount('1e400', '--max-insns', 1))).toContain('is too large');
    expect(errorOf(() => parseCount('1__0', '--max-insns', 1))).toContain('expects');
    expect(errorOf(() => parseCount('_1', '--max-insns', 1))).toContain('expects');
  });

  it('allows zero for non-negative counts', () => {
    expect(parseCount('0', '--trace', 0)).toBe(0);
    expect(errorOf(() => parseCount('-1', '--trace', 0))).toBe("--trace must be a whole number (0 or more), got '-1'");
  });
});

describe('parseArgs', () => {
  it('run with defaults', () => {
    expect(parseArgs(['run', 'prog.elf'])).toEqual({ command: 'run', elf: 'prog.elf', ...defaultRunSettings() });
    expect(defaultRunSettings()).toEqual({
      ramBytes: DEFAULT_RAM,
      maxInsns: null,
      maxCycles: null,
      pace: null,
      timingFile: null,
      stats: null,
      statsFile: null,
      trace: 0,
      traceRegs: false,
      mode: 'fast',
      cpu: {},
      gdb: null,
      gdbWait: false,
    });
    expect(DEFAULT_RAM).toBe(128 * M);
  });

  it('--gdb tcp::PORT and -S (QEMU -gdb / -S): run and boot take them; bad input is one line', () => {
    expect(run('run', 'p.elf', '--gdb', 'tcp::1234', '-S')).toMatchObject({ gdb: { host: '127.0.0.1', port: 1234 }, gdbWait: true });
    expect(parseArgs(['boot', '--kernel', 'Image', '--gdb=tcp:0.0.0.0:0'])).toMatchObject({ gdb: { host: '0.0.0.0', port: 0 }, gdbWait: false });
    expect(run('run', 'p.elf', '--gdb', ':4444')).toMatchObject({ gdb: { host: '127.0.0.1', port: 4444 } });
    expect(errorOf(() => parseArgs(['run', 'p.elf', '-S']))).toBe('-S needs --gdb tcp::PORT (it waits for gdb to connect)');
    expect(errorOf(() => parseArgs(['run', 'p.elf', '--gdb', 'tcp::99999']))).toBe("--gdb: expected tcp::PORT or tcp:HOST:PORT (e.g. --gdb tcp::1234), got 'tcp::99999'");
    expect(errorOf(() => parseArgs(['run', 'p.elf', '--gdb', 'udp::1']))).toBe("--gdb: expected tcp::PORT or tcp:HOST:PORT (e.g. --gdb tcp::1234), got 'udp::1'");
    expect(errorOf(() => parseArgs(['demo', '--gdb', 'tcp::1']))).toMatch(/^option --gdb is for /);
  });

  it('host FILE --gdb tcp::PORT [-S] (issue 16: VMs as gdb inferiors); -S alone is refused in one line', () => {
    expect(parseArgs(['host', 'vms.yaml', '--gdb', 'tcp::1234', '-S'])).toMatchObject({ command: 'host', gdb: { host: '127.0.0.1', port: 1234 }, gdbWait: true });
    expect(parseArgs(['host', 'vms.yaml'])).not.toHaveProperty('gdb');
    expect(errorOf(() => parseArgs(['host', 'vms.yaml', '-S']))).toBe('-S needs --gdb tcp::PORT (it waits for gdb to connect)');
  });

  it('--max-cycles and --pace (issue 8): run, demo and boot take them', () => {
    expect(run('run', 'p.elf', '--max-cycles', '1e9', '--pace', 'on')).toMatchObject({ maxCycles: 1e9, pace: true, maxInsns: null });
    expect(run('run', 'p.elf', '--max-cycles=5_000', '--pace=off')).toMatchObject({ maxCycles: 5000, pace: false });
    expect(parseArgs(['demo', '--pace', 'OFF'])).toMatchObject({ command: 'demo', pace: false });
    expect(parseArgs(['boot', '--kernel', 'I', '--max-cycles', '2e6', '--pace', 'on'])).toMatchObject({
      command: 'boot',
      maxCycles: 2e6,
      pace: true,
    });
    expect(errorOf(() => parseArgs(['run', 'p.elf', '--pace', 'sometimes']))).toBe("--pace must be 'on' or 'off', got 'sometimes'");
    expect(errorOf(() => parseArgs(['run', 'p.elf', '--pace']))).toBe('option --pace needs a value (e.g. --pace on)');
    expect(errorOf(() => parseArgs(['run', 'p.elf', '--max-cycles', '0']))).toBe("--max-cycles must be a positive whole number, got '0'");
    expect(errorOf(() => parseArgs(['run', 'p.elf', '--max-cycles', 'x']))).toContain('--max-cycles expects a positive whole number');
    expect(errorOf(() => parseArgs(['dtb', '--pace', 'on']))).toBe("option --pace is for 'run', 'demo', 'boot' or 'host', not 'dtb' (see cyclevisor --help)");
  });

  it('help documents --pace, --max-cycles and the stuck exit status', () => {
    for (const text of [USAGE, BOOT_USAGE]) {
      expect(text).toContain('--pace on|off');
      expect(text).toContain('--max-cycles N');
      expect(text).toContain('hart H stuck: cause C at pc P, xtvec T');
    }
  });

  it('run with every option, both --flag value and --flag=value', () => {
    const a = run('run', 'p.elf', '--ram', '64M', '--max-insns', '1e6', '--timing', 't.json', '--stats', 'json', '--stats-file', 's.json', '--trace', '20');
    const b = run('run', '--ram=64M', '--max-insns=1e6', '--timing=t.json', '--stats=json', '--stats-file=s.json', '--trace=20', 'p.elf');
    const expected = { command: 'run', elf: 'p.elf', ramBytes: 64 * M, maxInsns: 1e6, maxCycles: null, pace: null, timingFile: 't.json', stats: 'json', statsFile: 's.json', trace: 20, traceRegs: false, mode: 'fast', cpu: {}, gdb: null, gdbWait: false };
    expect(a).toEqual(expected);
    expect(b).toEqual(expected);
  });

  it('options before the command, values containing "=", --stats case-insensitive', () => {
    expect(run('--ram', '2M', 'run', 'x.elf').ramBytes).toBe(2 * M);
    expect(run('run', 'x.elf', '--stats-file=out=1.json').statsFile).toBe('out=1.json');
    expect(run('run', 'x.elf', '--stats', 'JSON').stats).toBe('json');
  });

  it('-- ends options; a lone - is a positional', () => {
    expect(run('run', '--ram', '4M', '--', '--weird.elf').elf).toBe('--weird.elf');
    expect(run('run', '-').elf).toBe('-');
  });

  it('demo takes the same options and no positionals', () => {
    expect(parseArgs(['demo'])).toEqual({ command: 'demo', ...defaultRunSettings() });
    expect(parseArgs(['demo', '--stats', 'json', '--max-insns', '5_000'])).toMatchObject({ command: 'demo', stats: 'json', maxInsns: 5000 });
    expect(errorOf(() => parseArgs(['demo', 'x.elf']))).toBe("unexpected argument 'x.elf': demo takes no arguments");
  });

  it('help and version', () => {
    expect(parseArgs(['help'])).toEqual({ command: 'help' });
    expect(parseArgs(['help', 'run'])).toEqual({ command: 'help' });
    expect(parseArgs(['--help'])).toEqual({ command: 'help' });
    expect(parseArgs(['-h'])).toEqual({ command: 'help' });
    expect(parseArgs(['run', 'x.elf', '--bogus', '--help'])).toEqual({ command: 'help' });
    expect(parseArgs(['--version'])).toEqual({ command: 'version' });
    expect(parseArgs(['-V'])).toEqual({ command: 'version' });
    // After `--`, --help is a file name.
    expect(run('run', '--', '--help').elf).toBe('--help');
    expect(errorOf(() => parseArgs(['run', 'x', '--version=2']))).toBe('option --version does not take a value');
  });

  it('unknown option suggests the closest known one', () => {
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--max-insn', '5']))).toBe("unknown option '--max-insn'; did you mean '--max-insns'?");
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--tarce=5']))).toBe("unknown option '--tarce'; did you mean '--trace'?");
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--stat', 'json']))).toBe("unknown option '--stat'; did you mean '--stats'?");
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--statsfile', 'a']))).toBe("unknown option '--statsfile'; did you mean '--stats-file'?");
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--memory', '1G']))).toBe("unknown option '--memory' (see cyclevisor --help)");
    expect(errorOf(() => parseArgs(['run', 'x.elf', '-q']))).toBe("unknown option '-q' (see cyclevisor --help)");
  });

  it('missing values', () => {
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--ram']))).toBe('option --ram needs a value (e.g. --ram 128M)');
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--ram=']))).toBe('option --ram needs a value (e.g. --ram 128M)');
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--timing', '--trace', '3']))).toBe(
      'option --timing needs a value (e.g. --timing u74.json)',
    );
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--trace', '']))).toBe('option --trace needs a value (e.g. --trace 100)');
  });

  it('bad values are reported with the flag', () => {
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--stats', 'xml']))).toBe("--stats must be 'text' or 'json', got 'xml'");
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--ram', '100K']))).toContain('--ram 100K (100 KiB) is too small');
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--max-insns', '-3']))).toBe("--max-insns must be a positive whole number, got '-3'");
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--trace', '2.5']))).toBe("--trace must be a whole number, got '2.5'");
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--ram', '64M', '--ram', '32M']))).toBe('option --ram given more than once');
  });

  it('commands and positionals', () => {
    expect(errorOf(() => parseArgs([]))).toBe(
      'no command given (usage: cyclevisor run <elf> [options] | cyclevisor boot --kernel IMAGE | cyclevisor --help)',
    );
    expect(errorOf(() => parseArgs(['rnu', 'x.elf']))).toBe("unknown command 'rnu'; did you mean 'run'?");
    expect(errorOf(() => parseArgs(['deom']))).toBe("unknown command 'deom'; did you mean 'demo'?");
    expect(errorOf(() => parseArgs(['prog.elf']))).toBe("unknown command 'prog.elf'; to run a program: cyclevisor run prog.elf");
    expect(errorOf(() => parseArgs(['launch']))).toBe("unknown command 'launch' (commands: run, boot, dtb, demo, host, ctl, help) (see cyclevisor --help)");
    expect(errorOf(() => parseArgs(['run']))).toBe('missing ELF file (usage: cyclevisor run <elf> [options])');
    expect(errorOf(() => parseArgs(['run', '--ram', '4M']))).toBe('missing ELF file (usage: cyclevisor run <elf> [options])');
    expect(errorOf(() => parseArgs(['run', 'a.elf', 'b.elf']))).toBe(
      "unexpected argument 'b.elf': run takes one ELF file (options start with --)",
    );
  });

  it('USAGE is concise and mentions every option', () => {
    for (const flag of ['--ram', '--max-insns', '--timing', '--stats', '--stats-file', '--trace', '--trace-regs', '--mode', '--help', '--version']) {
      expect(USAGE).toContain(flag);
    }
    expect(USAGE).toMatch(/^Usage: cyclevisor run <elf>/);
    expect(USAGE.split('\n').length).toBeLessThanOrEqual(24);
    expect(Math.max(...USAGE.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
  });
});

function boot(...argv: string[]): BootCommand {
  const c = parseArgs(argv);
  if (c.command !== 'boot') throw new Error(`expected boot, got ${c.command}`);
  return c;
}
function dtb(...argv: string[]): DtbCommand {
  const c = parseArgs(argv);
  if (c.command !== 'dtb') throw new Error(`expected dtb, got ${c.command}`);
  return c;
}

describe('parseArgs: boot', () => {
  it('defaults: --bios builtin, 256 MiB, one hart, fast mode, hardware A/D, no drives, fixed RTC', () => {
    expect(boot('boot', '--kernel', 'Image')).toEqual({
      command: 'boot',
      ...defaultRunSettings(),
      ramBytes: BOOT_DEFAULT_RAM,
      bios: 'builtin',
      kernel: 'Image',
      initrd: null,
      append: null,
      harts: 1,
      mode: 'fast',
      ad: 'hardware',
      drives: [],
      rtcEpoch: null,
    });
    expect(BOOT_DEFAULT_RAM).toBe(256 * M);
  });

  it('--ad-bits hardware|fault, anything else is one clear line', () => {
    expect(boot('boot', '--kernel', 'Image', '--ad-bits', 'fault').ad).toBe('fault');
    expect(errorOf(() => parseArgs(['boot', '--kernel', 'Image', '--ad-bits', 'maybe']))).toBe(
      "--ad-bits must be 'hardware' or 'fault', got 'maybe'",
    );
  });

  it('every option, QEMU-style', () => {
    const b = boot(
      'boot', '--bios', 'fw_dynamic.bin', '--kernel=Image', '--initrd', 'rd.cpio.gz', '--append', 'console=ttyS0 root=/dev/vda',
      '--ram', '512M', '--smp', '4', '--mode', 'Timing', '--drive', 'file=a.img', '--drive', 'file=b,,c.img,readonly',
      '--timing', 't.json', '--max-insns', '1e9', '--stats', 'json', '--stats-file', 's.json', '--rtc-epoch', '1700000000',
    );
    expect(b).toMatchObject({
      bios: 'fw_dynamic.bin',
      kernel: 'Image',
      initrd: 'rd.cpio.gz',
      append: 'console=ttyS0 root=/dev/vda',
      ramBytes: 512 * M,
      harts: 4,
      mode: 'timing',
      drives: [
        { path: 'a.img', readOnly: false },
        { path: 'b,c.img', readOnly: true },
      ],
      timingFile: 't.json',
      maxInsns: 1e9,
      stats: 'json',
      statsFile: 's.json',
      rtcEpoch: 1700000000,
    });
    expect(boot('boot', '--kernel', 'I', '--rtc-epoch', 'now').rtcEpoch).toBe('now');
    expect(boot('boot', '--kernel', 'I', '--append', '').append).toBe('');
    expect(boot('boot', '--kernel', 'I', '--append=').append).toBe('');
    expect(boot('boot', '--bios', 'none', '--kernel', 'I').bios).toBe('none');
    // A firmware file may run alone (as qemu -bios without -kernel).
    expect(boot('boot', '--bios', 'fw.bin')).toMatchObject({ bios: 'fw.bin', kernel: null });
  });

  it('parseDrive: file=PATH, readonly[=on|off], QEMU format=raw / if=virtio, ,, escapes a comma', () => {
    expect(parseDrive('file=disk.img')).toEqual({ path: 'disk.img', readOnly: false });
    expect(parseDrive('file=disk.img,readonly')).toEqual({ path: 'disk.img', readOnly: true });
    expect(parseDrive('readonly=on,file=d')).toEqual({ path: 'd', readOnly: true });
    expect(parseDrive('file=d,readonly=off')).toEqual({ path: 'd', readOnly: false });
    // format=raw is kept: it skips the image format probe (QEMU's behaviour; issue 8 item 5).
    expect(parseDrive('file=d,format=raw,if=virtio')).toStrictEqual({ path: 'd', readOnly: false, format: 'raw' });
    expect(parseDrive('file=d')).toStrictEqual({ path: 'd', readOnly: false });
    expect(parseDrive('file=a=b,,c')).toEqual({ path: 'a=b,c', readOnly: false });
    expect(errorOf(() => parseDrive('disk.img'))).toBe('--drive disk.img: expected file=PATH[,readonly] (e.g. --drive file=disk.img)');
    expect(errorOf(() => parseDrive('file='))).toBe('--drive file=: file= needs a path (expected file=PATH[,readonly])');
    expect(errorOf(() => parseDrive('readonly'))).toBe('--drive readonly: no file= given (expected file=PATH[,readonly])');
    expect(errorOf(() => parseDrive('file=d,cache=none'))).toBe("--drive file=d,cache=none: unknown item 'cache=none' (expected file=PATH[,readonly])");
    expect(errorOf(() => parseDrive('file=d,readonly=maybe'))).toBe("--drive file=d,readonly=maybe: readonly must be on or off, got 'maybe'");
    // Issue 13: format=qcow2 too (the header is then checked to be qcow2's); other formats refused.
    expect(parseDrive('file=d,format=qcow2')).toStrictEqual({ path: 'd', readOnly: false, format: 'qcow2' });
    expect(errorOf(() => parseDrive('file=d,format=vmdk'))).toBe('--drive file=d,format=vmdk: format must be raw or qcow2 (or left out: probed), got format=vmdk');
    expect(errorOf(() => parseDrive('file=d,if=ide'))).toContain('drives attach as virtio-blk');
    expect(errorOf(() => parseDrive('file=a,file=b'))).toBe('--drive file=a,file=b: file= given twice');
    expect(errorOf(() => parseDrive('file=a,'))).toContain('empty item');
  });

  it('bad boot input: one line each', () => {
    expect(errorOf(() => parseArgs(['boot']))).toBe(
      'missing --kernel IMAGE (usage: cyclevisor boot --kernel IMAGE [--initrd FILE] [--append CMDLINE])',
    );
    expect(errorOf(() => parseArgs(['boot', '--bios', 'none']))).toContain('missing --kernel IMAGE');
    expect(errorOf(() => parseArgs(['boot', '--bios', 'fw.bin', '--initrd', 'rd']))).toBe('--initrd needs a --kernel');
    for (const n of ['0', '9', 'two', '-1', '1.5', '2,cores=2']) {
      expect(errorOf(() => parseArgs(['boot', '--kernel', 'I', '--smp', n]))).toBe(`--smp expects a number of harts from 1 to 8, got '${n}'`);
    }
    expect(errorOf(() => parseArgs(['boot', '--kernel', 'I', '--mode', 'turbo']))).toBe("--mode must be 'fast' or 'timing', got 'turbo'");
    expect(errorOf(() => parseArgs(['boot', '--kernel', 'I', '--rtc-epoch', 'yesterday']))).toBe(
      "--rtc-epoch expects 'now' or seconds since 1970 (e.g. 1700000000), got 'yesterday'",
    );
    expect(errorOf(() => parseArgs(['boot', '--kernel', 'I', '--drive', 'file=a', '--drive', 'file=a']))).toBe(
      '--drive file=a given twice (one image, one drive)',
    );
    const eight = Array.from({ length: 8 }, (_, i) => ['--drive', `file=d${i}`]).flat();
    expect(errorOf(() => parseArgs(['boot', '--kernel', 'I', ...eight]))).toBe(
      '8 --drive options: the board has room for 7 (8 virtio-mmio slots, one holds virtio-rng)',
    );
    expect(errorOf(() => parseArgs(['boot', 'Image']))).toBe(
      "unexpected argument 'Image': boot takes no arguments (options start with --; the kernel is --kernel Image)",
    );
    expect(errorOf(() => parseArgs(['boot', '--kernel', 'a', '--kernel', 'b']))).toBe('option --kernel given more than once');
    expect(errorOf(() => parseArgs(['boot', '--kernel']))).toBe('option --kernel needs a value (e.g. --kernel Image)');
    expect(errorOf(() => parseArgs(['boot', '--kernel', 'I', '--kernal', 'x']))).toBe("unknown option '--kernal'; did you mean '--kernel'?");
  });

  it('options of another command are named as such', () => {
    expect(errorOf(() => parseArgs(['run', 'x.elf', '--kernel', 'k']))).toBe("option --kernel is for 'boot', not 'run' (see cyclevisor --help)");
    expect(errorOf(() => parseArgs(['demo', '--smp', '2']))).toBe("option --smp is for 'boot' or 'dtb', not 'demo' (see cyclevisor --help)");
    expect(errorOf(() => parseArgs(['boot', '--kernel', 'k', '-o', 'x']))).toBe("option -o/--output is for 'dtb', not 'boot' (see cyclevisor --help)");
    expect(errorOf(() => parseArgs(['dtb', '--stats', 'json']))).toBe("option --stats is for 'run', 'demo', 'boot' or 'host', not 'dtb' (see cyclevisor --help)");
  });
});

const KEYS = 'h, zba, zbb, zbc, zbs, zbkb, zbkc, zbkx, zicond, zicbom, zicboz, svinval, svnapot, svpbmt, zfh, zfhmin, sscofpmf, zfa, shlcofideleg';

describe('--cpu (issue 9, scope 6): QEMU -cpu syntax for run, boot and dtb', () => {
  it('rv64 alone is the defaults; h=on|off (and QEMU\'s true/false, yes/no) set the H extension', () => {
    for (const c of ['run', 'boot', 'dtb'] as const) {
      const extra = c === 'run' ? ['x.elf'] : c === 'boot' ? ['--kernel', 'Image'] : [];
      const got = (cpu: string) => (parseArgs([c, ...extra, '--cpu', cpu]) as { cpu: unknown }).cpu;
      expect(got('rv64')).toEqual({});
      expect(got('rv64,h=off')).toEqual({ h: false });
      expect(got('rv64,h=on')).toEqual({ h: true });
      expect(got('RV64,H=False')).toEqual({ h: false });
      expect(got('rv64,h=yes')).toEqual({ h: true });
    }
    expect(parseCpu('rv64,h=no')).toEqual({ h: false });
  });

  it('unknown model, key or value: one line naming what is wrong (exit 2 through UserError)', () => {
    expect(errorOf(() => parseArgs(['dtb', '--cpu', 'rv32']))).toBe("--cpu rv32: unknown CPU model 'rv32' (cyclevisor has rv64, rva22u64, rva22s64; e.g. --cpu rv64,h=off)");
    expect(errorOf(() => parseArgs(['dtb', '--cpu', 'rv64,v=on']))).toBe(`--cpu rv64,v=on: unknown key 'v' (keys: ${KEYS})`);
    expect(errorOf(() => parseArgs(['dtb', '--cpu', 'rv64,h=maybe']))).toBe("--cpu rv64,h=maybe: h expects 'on' or 'off', got 'maybe'");
    expect(errorOf(() => parseArgs(['dtb', '--cpu', 'rv64,h']))).toBe(`--cpu rv64,h: expected key=value, found 'h' (keys: ${KEYS})`);
    expect(errorOf(() => parseArgs(['dtb', '--cpu', 'rv64,h=on,h=off']))).toBe("--cpu rv64,h=on,h=off: key 'h' given twice");
    expect(errorOf(() => parseArgs(['dtb', '--cpu', '']))).toBe('option --cpu needs a value (e.g. --cpu rv64,h=off)');
    expect(errorOf(() => parseArgs(['demo', '--cpu', 'rv64']))).toBe("option --cpu is for 'run', 'boot' or 'dtb', not 'demo' (see cyclevisor --help)");
    for (const u of [USAGE, BOOT_USAGE, DTB_USAGE]) expect(u).toContain('--cpu rv64[,h=off]');
  });
});

describe('parseArgs: dtb', () => {
  it('defaults and options', () => {
    expect(dtb('dtb')).toEqual({
      command: 'dtb',
      ramBytes: BOOT_DEFAULT_RAM,
      harts: 1,
      append: null,
      initrd: null,
      timingFile: null,
      output: null,
      dts: false,
      cpu: {},
    });
    expect(dtb('dtb', '-o', 'b.dtb', '--smp', '2', '--ram', '1G', '--append', 'console=ttyS0', '--initrd', 'rd')).toMatchObject({
      output: 'b.dtb',
      harts: 2,
      ramBytes: 1024 * M,
      append: 'console=ttyS0',
      initrd: 'rd',
    });
    expect(dtb('dtb', '--output=-', '--dts')).toMatchObject({ output: '-', dts: true });
    expect(errorOf(() => parseArgs(['dtb', '--dts=yes']))).toBe('option --dts does not take a value');
    expect(errorOf(() => parseArgs(['dtb', 'out.dtb']))).toBe("unexpected argument 'out.dtb': dtb takes no arguments (options start with -)");
  });
});

describe('help topics', () => {
  it('boot --help, help boot, dtb -h, help dtb; other commands get the general usage', () => {
    expect(parseArgs(['boot', '--help'])).toEqual({ command: 'help', topic: 'boot' });
    expect(parseArgs(['boot', '--kernel', 'Image', '-h'])).toEqual({ command: 'help', topic: 'boot' });
    expect(parseArgs(['--kernel', 'boot', 'dtb', '--help'])).toEqual({ command: 'help', topic: 'dtb' });
    expect(parseArgs(['help', 'boot'])).toEqual({ command: 'help', topic: 'boot' });
    expect(parseArgs(['dtb', '-h'])).toEqual({ command: 'help', topic: 'dtb' });
    expect(parseArgs(['help', 'dtb'])).toEqual({ command: 'help', topic: 'dtb' });
    expect(parseArgs(['run', 'x', '--help'])).toEqual({ command: 'help' });
  });

  it('boot and dtb usages fit a terminal and mention their options', () => {
    for (const flag of ['--bios', '--kernel', '--initrd', '--append', '--ram', '--smp', '--mode', '--drive', '--rtc-epoch', '--timing', '--max-insns', '--stats', '--stats-file', 'Ctrl-A x']) {
      expect(BOOT_USAGE).toContain(flag);
    }
    for (const flag of ['-o, --output', '--dts', '--smp', '--ram', '--append', '--initrd']) expect(DTB_USAGE).toContain(flag);
    for (const u of [USAGE, BOOT_USAGE, DTB_USAGE, HOST_USAGE, CTL_USAGE]) {
      expect(u.split('\n').length).toBeLessThanOrEqual(26);
      expect(Math.max(...u.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
    }
    expect(USAGE).toContain('cyclevisor boot --kernel IMAGE');
    expect(USAGE).toContain('cyclevisor dtb');
  });
});

describe('parseArgs: host and ctl (issue 10)', () => {
  it('host FILE with its options', () => {
    expect(parseArgs(['host', 'vms.yaml'])).toEqual({ command: 'host', file: 'vms.yaml', control: null, console: null, stats: null, statsFile: null, maxInsns: null, maxCycles: null, pace: null, restore: [], incoming: null });
    expect(parseArgs(['host', 'vms.yaml', '--control', 'cv.sock', '--console', 'web', '--stats', 'json', '--stats-file', 's.json', '--max-insns', '1e9', '--max-cycles=5_000', '--pace', 'off'])).toEqual({
      command: 'host',
      file: 'vms.yaml',
      control: 'cv.sock',
      console: 'web',
      stats: 'json',
      statsFile: 's.json',
      maxInsns: 1e9,
      maxCycles: 5000,
      pace: false,
      restore: [],
      incoming: null,
    });
    // issue 12: --restore NAME=FILE (repeatable), --incoming
    expect(parseArgs(['host', 'v.yaml', '--restore', 'web=web.cvsnap', '--restore=db=/x/db.cvsnap', '--incoming', 'tcp:127.0.0.1:7777'])).toMatchObject({
      restore: [{ name: 'web', file: 'web.cvsnap' }, { name: 'db', file: '/x/db.cvsnap' }],
      incoming: 'tcp:127.0.0.1:7777',
    });
    expect(errorOf(() => parseArgs(['host', 'v.yaml', '--restore', 'web']))).toBe("--restore: expected NAME=FILE (e.g. --restore web=web.cvsnap), got 'web'");
    expect(parseArgs(['ctl', 's', 'snapshot', 'web', 'web.cvsnap'])).toMatchObject({ verb: 'snapshot', name: 'web', arg: 'web.cvsnap' });
    expect(parseArgs(['ctl', 's', 'migrate', 'web', 'tcp:h:1', '--bandwidth', '100M', '--copy-storage'])).toMatchObject({ verb: 'migrate', arg: 'tcp:h:1', bandwidth: 1e8, copyStorage: true });
    expect(errorOf(() => parseArgs(['ctl', 's', 'snapshot', 'web']))).toBe('ctl snapshot needs FILE|SNAP after the domain name (cyclevisor ctl PATH snapshot NAME FILE|SNAP)');
    expect(errorOf(() => parseArgs(['ctl', 's', 'migrate', 'web', 'tcp:h:1', '--bandwidth', 'fast']))).toBe("--bandwidth: expected a link speed like 1G or 100M (bits per second, 1k to 1000G), got 'fast'");
    expect(errorOf(() => parseArgs(['host', 'a.yaml', 'b.yaml']))).toBe("unexpected argument 'b.yaml': host takes one definition file (options start with --)");
    expect(errorOf(() => parseArgs(['host', 'a.yaml', '--ram', '1G']))).toBe("option --ram is for 'run', 'demo', 'boot' or 'dtb', not 'host' (see cyclevisor --help)");
    expect(errorOf(() => parseArgs(['run', 'a.elf', '--control', 'x']))).toBe("option --control is for 'host', not 'run' (see cyclevisor --help)");
  });

  it('ctl PATH COMMAND [NAME] [--json]', () => {
    expect(parseArgs(['ctl', 'cv.sock', 'list'])).toEqual({ command: 'ctl', socket: 'cv.sock', verb: 'list', name: null, json: false });
    expect(parseArgs(['ctl', 'cv.sock', 'dominfo', 'web', '--json'])).toEqual({ command: 'ctl', socket: 'cv.sock', verb: 'dominfo', name: 'web', json: true });
    expect(parseArgs(['ctl', 'cv.sock', 'domstats'])).toMatchObject({ verb: 'domstats', name: null });
    expect(errorOf(() => parseArgs(['ctl', 'cv.sock', 'shutdown']))).toBe('ctl shutdown needs a domain name (cyclevisor ctl PATH shutdown NAME)');
    expect(errorOf(() => parseArgs(['ctl', 'cv.sock', 'console', 'web', '--json']))).toBe('--json does not apply to console');
    expect(errorOf(() => parseArgs(['ctl', 'cv.sock', 'dominfo', 'a', 'b']))).toBe("unexpected argument 'b': ctl dominfo takes at most one domain name");
  });

  it('help host / host --help / help ctl', () => {
    expect(parseArgs(['help', 'host'])).toEqual({ command: 'help', topic: 'host' });
    expect(parseArgs(['host', 'x.yaml', '--help'])).toEqual({ command: 'help', topic: 'host' });
    expect(parseArgs(['ctl', '--help'])).toEqual({ command: 'help', topic: 'ctl' });
  });
});
