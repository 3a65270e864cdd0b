/**
 * The `cyclevisor` command: parse arguments, build the virt board, connect stdin and Ctrl-C, run,
 * print the summary. Returns the process exit code; never throws and never prints a stack trace:
 *
 *   guest exit code (finisher / HTIF) | 124 --max-insns ran out | 130 Ctrl-C | 1 guest stuck or
 *   unsupported request | 2 bad usage or input (`cyclevisor: <message>`) | 70 internal error
 *
 * stdout carries only the guest's console output (and, for `demo`, a header and the summary;
 * for `dtb`, the blob or DTS when asked). Commands: run, demo, boot (firmware + Linux, the QEMU
 * -M virt command line shape), dtb (the board's device tree). The console (stdin, Ctrl-A escapes)
 * is src/cli/console.ts.
 */
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BOOT_USAGE,
  DEFAULT_DTB_FILE,
  DTB_USAGE,
  parseArgs,
  USAGE,
  type BootCommand,
  type DemoCommand,
  type DriveSpec,
  type DtbCommand,
  type RunCommand,
  type StatsFormat,
} from './args.js';
import { attachProcessStdin, type ConsoleControl, type InputSink } from './console.js';
import { UserError, fileReadError, isUserError } from '../errors.js';
import { defaultTiming, loadTimingFile, type TimingConfig } from '../timing.js';
import { VirtMachine, type RunResult } from '../board/virt.js';
import { bootLinux, initrdRange, kernelAddress, virtDtConfig } from '../board/boot.js';
import { buildVirtDtb, dtbToDts } from '../board/devicetree.js';
import { coreSupportsHypervisor, resolveCpu } from '../board/cpu.js';
import { formatJson, formatText } from '../stats.js';
import { loadFile } from '../elf.js';
import { useOptimizingCompiler } from '../core.js';

export { attachProcessStdin } from './console.js';
export type { ConsoleControl, InputSink } from './console.js';

export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

export interface OutputStream {
  write(chunk: string | Uint8Array): unknown;
}

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  /**
   * Connect the host's input to the guest; returns a function that disconnects it. `control`
   * carries out the console escapes (Ctrl-A x, Ctrl-A s) when the input is a terminal.
   */
  attachInput(sink: InputSink, control?: ConsoleControl): () => void;
  /** Call `handler` on Ctrl-C; returns a function that removes it. */
  onInterrupt(handler: () => void): () => void;
}

/** The package root (where package.json lives), from src/cli (tsx) or dist/src/cli (compiled). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'cyclevisor') return dir;
      } catch {
        /* not ours: keep looking */
      }
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the cyclevisor package root');
}

/** The guest `demo` runs: a ~286M-instruction CoreMark-like integer benchmark. */
export function demoElfPath(): string {
  return join(packageRoot(), 'test', 'guests', 'bin', 'cmark.elf');
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// Process I/O
// ---------------------------------------------------------------------------------------------

/**
 * A reader that goes away (`cyclevisor run x | head -1`) makes our writes fail with EPIPE: end at
 * once with the status a SIGPIPE death would give (128 + 13), as other command-line tools do,
 * instead of an unhandled 'error' event and its stack trace.
 */
let outputGuarded = false;
function guardOutput(): void {
  if (outputGuarded) return;
  outputGuarded = true;
  for (const [stream, name] of [
    [process.stdout, 'stdout'],
    [process.stderr, 'stderr'],
  ] as const) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(141);
      if (name === 'stdout') {
        try {
          process.stderr.write(`cyclevisor: cannot write to stdout (${e.code ?? e.message})\n`);
        } catch {
          /* nothing left to report to */
        }
      }
      process.exit(EXIT_INTERNAL);
    });
  }
}

export function processIo(): CliIo {
  guardOutput();
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    attachInput: attachProcessStdin,
    onInterrupt(handler) {
      let count = 0;
      const h = () => {
        // A second Ctrl-C while the first is being handled ends the process at once.
        if (++count > 1) process.exit(130);
        handler();
      };
      process.on('SIGINT', h);
      return () => {
        process.off('SIGINT', h);
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/** Runs the CLI with `argv` (without node and the script). Resolves to the exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  try {
    const cmd = parseArgs(argv);
    switch (cmd.command) {
      case 'help':
        io.stdout.write(cmd.topic === 'boot' ? BOOT_USAGE : cmd.topic === 'dtb' ? DTB_USAGE : USAGE);
        return 0;
      case 'version':
        io.stdout.write(`cyclevisor ${version()}\n`);
        return 0;
      case 'run':
      case 'demo':
        return await runCommand(cmd, io);
      case 'boot':
        return await bootCommand(cmd, io);
      case 'dtb':
        return dtbCommand(cmd, io);
    }
  } catch (e) {
    if (isUserError(e)) {
      io.stderr.write(`cyclevisor: ${e.message}\n`);
      return e.code;
    }
    const msg = e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
    io.stderr.write(`cyclevisor: internal error: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
    if (process.env['CYCLEVISOR_DEBUG'] && e instanceof Error && e.stack) io.stderr.write(e.stack + '\n');
    return EXIT_INTERNAL;
  }
}

/** An output file opened before the run, so a bad path fails before any guest work is done. */
function openOutputFile(path: string, flag: string): number {
  try {
    return openSync(path, 'w');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such directory' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : code;
    throw new UserError(`${flag} ${path}: cannot write (${why})`);
  }
}

function openStatsFile(path: string): number {
  return openOutputFile(path, '--stats-file');
}

function loadTiming(file: string | null): TimingConfig {
  return file !== null ? loadTimingFile(file) : defaultTiming();
}

/**
 * Runs a loaded machine with the console and Ctrl-C connected, then reports: the run's message,
 * the summary (when asked, on Ctrl-C, or always for demo). Resolves to the exit code.
 */
async function runAndReport(machine: VirtMachine, cmd: RunCommand | DemoCommand | BootCommand, io: CliIo, statsFd: number | null): Promise<number> {
  let quitByEscape = false;
  const t0 = performance.now();
  const control: ConsoleControl = {
    quit: () => {
      quitByEscape = true;
      machine.interrupt();
    },
    stats: () => io.stderr.write(liveSummary(machine, (performance.now() - t0) / 1000)),
  };
  const detachInput = io.attachInput(
    {
      open: () => machine.openInput(),
      push: (b) => machine.pushInput(b),
      end: () => machine.endInput(),
    },
    control,
  );
  let detachInterrupt = () => {};
  let result: RunResult;
  try {
    detachInterrupt = io.onInterrupt(() => machine.interrupt());
    result = await machine.runAsync({
      maxInsns: cmd.maxInsns,
      trace: cmd.trace,
      traceSink: (line) => io.stderr.write(line + '\n'),
    });
  } finally {
    detachInterrupt();
    detachInput();
  }

  // Ctrl-A x ends the run as QEMU's does: exit status 0, a note on stderr.
  const quit = quitByEscape && result.reason === 'interrupted';
  if (quit) {
    result = { reason: 'interrupted', code: 0 };
    io.stderr.write('cyclevisor: terminated by Ctrl-A x\n');
  }
  if (result.message) io.stderr.write(`cyclevisor: ${result.message}\n`);

  const stats = machine.stats(result);
  const render = (f: StatsFormat) => (f === 'json' ? formatJson(stats) : formatText(stats));
  try {
    if (cmd.command === 'demo') {
      io.stdout.write(render(cmd.stats ?? 'text'));
      if (statsFd !== null) writeSync(statsFd, render(cmd.stats ?? 'text'));
    } else {
      // Ctrl-C always reports where the guest was; otherwise only when asked.
      const wanted = cmd.stats !== null || statsFd !== null || (result.reason === 'interrupted' && !quit);
      if (wanted) {
        const text = render(cmd.stats ?? 'text');
        if (statsFd !== null) writeSync(statsFd, text);
        else io.stderr.write(text);
      }
    }
  } finally {
    if (statsFd !== null) closeSync(statsFd);
  }
  return result.code;
}

/**
 * The text summary in the middle of a run (Ctrl-A s). The machine adds its host time up when a run
 * returns, so the wall time since the run started stands in for it (it includes any time the guest
 * spent waiting for input).
 */
export function liveSummary(machine: VirtMachine, wallSeconds: number): string {
  const s = machine.stats({ reason: 'interrupted', code: 0 });
  const text = formatText({ ...s, hostSeconds: Math.max(s.hostSeconds, wallSeconds) });
  return text.replace(/^[^\n]*/, `cyclevisor: ${s.guest}: running (statistics so far; Ctrl-A x quits)`);
}

async function runCommand(cmd: RunCommand | DemoCommand, io: CliIo): Promise<number> {
  const timing = loadTiming(cmd.timingFile);
  const elfPath = cmd.command === 'demo' ? demoElfPath() : cmd.elf;
  // The run loop is one long-running wasm function: have V8 compile it with TurboFan from the start.
  useOptimizingCompiler();
  const machine = new VirtMachine({
    ramBytes: cmd.ramBytes,
    timing,
    onOutput: (chunk) => io.stdout.write(chunk),
    cpu: cmd.cpu,
  });
  // The demo names its guest relative to the current directory (it is found from the package root).
  const rel = relative(process.cwd(), elfPath);
  const shown = cmd.command === 'demo' && rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : elfPath;
  machine.loadElf(loadFile(elfPath), shown);
  const statsFd = cmd.statsFile !== null ? openStatsFile(cmd.statsFile) : null;

  if (cmd.command === 'demo') {
    io.stdout.write(`cyclevisor demo: running ${shown} (CoreMark-like integer benchmark, ~286M instructions)\n`);
  }
  return runAndReport(machine, cmd, io, statsFd);
}

// ---------------------------------------------------------------------------------------------
// boot and dtb
// ---------------------------------------------------------------------------------------------

/** A file given with `flag` must exist and be a regular file: one line naming the option if not. */
function checkInputFile(path: string, flag: string, what: string): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    const err = fileReadError(path, e, what);
    if (isUserError(err)) throw new UserError(`${flag} ${err.message}`);
    throw err;
  }
  if (st.isDirectory()) throw new UserError(`${flag} ${path}: is a directory, not ${what}`);
  if (!st.isFile()) throw new UserError(`${flag} ${path}: not a regular file (${what} is needed)`);
  return st;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** --kernel: a regular file, and not an ELF (a common mix-up: vmlinux instead of Image). */
function checkKernelFile(path: string): void {
  checkInputFile(path, '--kernel', 'a RISC-V kernel Image');
  const head = new Uint8Array(4);
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    readSync(fd, head, 0, 4, 0);
  } catch (e) {
    const err = fileReadError(path, e, 'a RISC-V kernel Image');
    if (isUserError(err)) throw new UserError(`--kernel ${err.message}`);
    throw err;
  } finally {
    if (fd !== null) closeSync(fd);
  }
  if (ELF_MAGIC.every((b, i) => head[i] === b)) {
    throw new UserError(
      `--kernel ${path}: an ELF file (vmlinux?), not a RISC-V kernel Image: use arch/riscv/boot/Image (bare-metal ELF programs: cyclevisor run)`,
    );
  }
}

/** --drive: an existing regular file, readable, and writable unless readonly. */
function checkDriveFile(d: DriveSpec): void {
  const flag = `--drive file=${d.path}:`;
  let st: Stats;
  try {
    st = statSync(d.path);
  } catch (e) {
    const err = fileReadError(d.path, e, 'a disk image');
    if (isUserError(err)) throw new UserError(`--drive file=${err.message}`);
    throw err;
  }
  if (!st.isFile()) {
    throw new UserError(`${flag} ${st.isDirectory() ? 'is a directory' : 'not a regular file'} (a raw disk image is needed)`);
  }
  try {
    accessSync(d.path, d.readOnly ? fsConstants.R_OK : fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    throw new UserError(
      d.readOnly ? `${flag} permission denied (cannot read it)` : `${flag} permission denied (not writable; add ,readonly to attach it read-only)`,
    );
  }
}

function rtcEpochNs(e: BootCommand['rtcEpoch']): bigint | undefined {
  if (e === null) return undefined;
  if (e === 'now') return BigInt(Date.now()) * 1_000_000n;
  return BigInt(e) * 1_000_000_000n;
}

/** Disk images are flushed and closed on every way out of a boot: nothing acknowledged is lost. */
function closeMachine(machine: VirtMachine): void {
  try {
    machine.close();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new UserError(`cannot flush and close the disk images (${code})`, 1);
  }
}

async function bootCommand(cmd: BootCommand, io: CliIo): Promise<number> {
  const timing = loadTiming(cmd.timingFile);
  // Check the files first, naming the option (bootLinux reads them and keeps its own checks).
  if (cmd.bios !== 'builtin' && cmd.bios !== 'none') checkInputFile(cmd.bios, '--bios', 'a firmware image');
  if (cmd.kernel !== null) checkKernelFile(cmd.kernel);
  if (cmd.initrd !== null) checkInputFile(cmd.initrd, '--initrd', 'an initramfs');
  for (const d of cmd.drives) checkDriveFile(d);

  useOptimizingCompiler();
  const epoch = rtcEpochNs(cmd.rtcEpoch);
  const machine = new VirtMachine({
    ramBytes: cmd.ramBytes,
    timing,
    onOutput: (chunk) => io.stdout.write(chunk),
    harts: cmd.harts,
    mode: cmd.mode,
    adUpdate: cmd.ad === 'hardware',
    drives: cmd.drives,
    cpu: cmd.cpu,
    ...(epoch !== undefined ? { rtcEpochNs: epoch } : {}),
  });
  let code: number;
  try {
    // A board that takes the option but not yet the harts (SMP in progress) must not boot a
    // single-hart machine under a multi-hart command line.
    const boardHarts = (machine as { harts?: unknown }).harts ?? 1;
    if (boardHarts !== cmd.harts) {
      throw new UserError(`--smp ${cmd.harts}: this build's virt board runs ${String(boardHarts)} hart(s) only`);
    }
    bootLinux(machine, {
      bios: cmd.bios,
      ...(cmd.kernel !== null ? { kernel: cmd.kernel } : {}),
      ...(cmd.initrd !== null ? { initrd: cmd.initrd } : {}),
      ...(cmd.append !== null ? { append: cmd.append } : {}),
    });
    const statsFd = cmd.statsFile !== null ? openStatsFile(cmd.statsFile) : null;
    code = await runAndReport(machine, cmd, io, statsFd);
  } catch (e) {
    try {
      machine.close();
    } catch {
      /* the first error is the one to report */
    }
    throw e;
  }
  closeMachine(machine);
  return code;
}

function dtbCommand(cmd: DtbCommand, io: CliIo): number {
  const timing = loadTiming(cmd.timingFile);
  let initrd: { start: bigint; end: bigint } | undefined;
  if (cmd.initrd !== null) {
    const st = checkInputFile(cmd.initrd, '--initrd', 'an initramfs');
    initrd = initrdRange(cmd.ramBytes, kernelAddress('builtin'), st.size);
  }
  const dtb = buildVirtDtb(
    virtDtConfig(
      { ramBytes: cmd.ramBytes, timing, harts: cmd.harts, cpu: resolveCpu(cmd.cpu, coreSupportsHypervisor()) },
      { ...(cmd.append !== null ? { append: cmd.append } : {}), ...(initrd ? { initrd } : {}) },
    ),
  );
  const data: string | Uint8Array = cmd.dts ? dtbToDts(dtb) : dtb;
  const out = cmd.output ?? (cmd.dts ? '-' : DEFAULT_DTB_FILE);
  if (out === '-') {
    io.stdout.write(data);
    return 0;
  }
  const fd = openOutputFile(out, '-o');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  } finally {
    closeSync(fd);
  }
  return 0;
}
