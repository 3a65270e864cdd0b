/**
 * The `cyclevisor` command: parse arguments, build the virt board, connect stdin and Ctrl-C, run,
 * print the summary. Returns the process exit code; never throws and never prints a stack trace:
 *
 *   guest exit code (finisher / HTIF) | 124 --max-insns or --max-cycles ran out | 130 Ctrl-C |
 *   1 guest waiting for nothing, or an unsupported request | 2 bad usage or input
 *   (`cyclevisor: <message>`) | 3 a hart stuck in a trap loop (the one line
 *   `hart H stuck: cause C at pc P, xtvec T`) | 70 internal error
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
  CTL_USAGE,
  DEFAULT_DTB_FILE,
  DTB_USAGE,
  HOST_USAGE,
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
import type { GdbStub } from '../debug/gdbstub.js';
import { defaultTiming, loadTimingFile, type TimingConfig } from '../timing.js';
import { VirtMachine, type RunResult } from '../board/virt.js';
import { bootLinux, initrdRange, kernelAddress, virtDtConfig } from '../board/boot.js';
import { buildVirtDtb, dtbToDts } from '../board/devicetree.js';
import { coreSupportsHypervisor, resolveCpu } from '../board/cpu.js';
import { formatJson, formatText } from '../stats.js';
import { loadFile } from '../elf.js';
import { useOptimizingCompiler, defaultTier, setDefaultTier } from '../core.js';
import { checkDiskFormat } from '../block/open-image.js';
import { checkImage, ImageFormatError } from '../../devices/image-format.js';
import { checkNotHeldHere, ImageLockError } from '../../devices/image-lock.js';
import { EXPERIMENT_COMMANDS } from './experiment-commands.js';
import { observeBoard, observeOutputs } from './observe.js';

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
  /** The console is interactive (stdin is a terminal): idle pacing is on by default. */
  interactive?: boolean;
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
    interactive: process.stdin.isTTY === true,
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
    // `img` (src/cli/img.ts) has qemu-img's own flags (-f, -O, -b, ...): parsed there.
    // Each command's own modules are loaded when it runs, not at start (docs/ARCHITECTURE.md, CLI:
    // lazy loading): img, experiments (vega, resvg, zod), host/ctl (zod, yaml), the gdb stub, the
    // networks, the report writer.
    if (argv[0] === 'img') return (await import('./img.js')).imgCommand(argv.slice(1), io);
    // experiment / sweep / sweep-worker (issue 11) parse their own options: src/cli/experiments.ts
    if ((EXPERIMENT_COMMANDS as readonly string[]).includes(argv[0] ?? '')) return await (await import('./experiments.js')).experimentsCli(argv, io);
    if (argv[0] === 'help' && (EXPERIMENT_COMMANDS as readonly string[]).includes(argv[1] ?? '')) return await (await import('./experiments.js')).experimentsCli([argv[1]!, '--help'], io);
    const cmd = parseArgs(argv);
    // --tier (issue 14): the tier of every core this command creates; restored after, since the
    // CLI may run in-process several times (tests).
    if ('tier' in cmd && cmd.tier) {
      const before = defaultTier();
      setDefaultTier(cmd.tier);
      try {
        return await main(argv.filter((a, i) => a !== '--tier' && !a.startsWith('--tier=') && argv[i - 1] !== '--tier'), io);
      } finally {
        setDefaultTier(before);
      }
    }
    switch (cmd.command) {
      case 'help':
        io.stdout.write(
          cmd.topic === 'boot'
            ? BOOT_USAGE
            : cmd.topic === 'dtb'
              ? DTB_USAGE
              : cmd.topic === 'host'
                ? HOST_USAGE
                : cmd.topic === 'ctl'
                  ? CTL_USAGE
                  : cmd.topic === 'img'
                    ? (await import('./img.js')).IMG_USAGE
                    : USAGE,
        );
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
      case 'host':
        return await (await import('./host.js')).hostCommand(cmd, io, { version: version(), openOutputFile, refuseInputAsOutput });
      case 'ctl':
        return await (await import('./host.js')).ctlCommand(cmd, io);
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

/** A file the run reads, named as the user gave it (for the message). */
export interface RunInput {
  /** How the command line names it: `--kernel`, `--drive file=`, `the ELF file`, ... */
  what: string;
  path: string;
}

/**
 * An output path (`--stats-file`, `dtb -o`) must not be one of the run's inputs: opening it for
 * writing would truncate the ELF, the kernel or a disk image before the run reads it. "Same file"
 * is the same device and inode (fs.statSync follows symlinks, and a hard link has the inode), so
 * `./k`, `k`, a symlink to it and a second hard link are all caught. An output that does not exist
 * yet cannot be an input; an input that cannot be stat'ed is reported by its own check later.
 * Called before anything is opened for writing.
 */
export function refuseInputAsOutput(output: string, flag: string, inputs: readonly RunInput[]): void {
  let out: Stats;
  try {
    out = statSync(output);
  } catch {
    return; // does not exist (or cannot be reached): the open reports what is wrong
  }
  for (const input of inputs) {
    let st: Stats;
    try {
      st = statSync(input.path);
    } catch {
      continue;
    }
    if (st.dev === out.dev && st.ino === out.ino) {
      const named = input.what.endsWith('=') ? `${input.what}${input.path}` : `${input.what} ${input.path}`;
      throw new UserError(`${flag} ${output}: is ${named}, an input of this run; refusing to overwrite it`);
    }
  }
}

/** The files a run/demo/boot reads (the --stats-file check). */
function runInputs(cmd: RunCommand | DemoCommand | BootCommand, elfPath: string | null): RunInput[] {
  const inputs: RunInput[] = [];
  if (elfPath !== null) inputs.push({ what: cmd.command === 'demo' ? 'the demo program' : 'the ELF file', path: elfPath });
  if (cmd.timingFile !== null) inputs.push({ what: '--timing', path: cmd.timingFile });
  if (cmd.command === 'boot') {
    if (cmd.bios !== 'builtin' && cmd.bios !== 'none') inputs.push({ what: '--bios', path: cmd.bios });
    if (cmd.kernel !== null) inputs.push({ what: '--kernel', path: cmd.kernel });
    if (cmd.initrd !== null) inputs.push({ what: '--initrd', path: cmd.initrd });
    for (const d of cmd.drives) inputs.push({ what: '--drive file=', path: d.path });
  }
  return inputs;
}

function loadTiming(file: string | null): TimingConfig {
  return file !== null ? loadTimingFile(file) : defaultTiming();
}

/**
 * The timing file's `tlb` section configures the modeled TLB, which only `--mode timing` runs: say
 * so instead of ignoring it silently (issue 8 item 6).
 */
function warnUnusedTlbSection(file: string | null, mode: 'fast' | 'timing', io: CliIo): void {
  if (file === null || mode === 'timing') return;
  try {
    const obj = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (obj !== null && typeof obj === 'object' && 'tlb' in obj) {
      io.stderr.write(`cyclevisor: warning: ${file}: the tlb section is used only with --mode timing\n`);
    }
  } catch {
    /* loadTimingFile has already accepted the file */
  }
}

/** Instructions the demo runs in a throwaway machine first, so its MIPS figure is not the cold start's. */
export const DEMO_WARMUP_INSNS = 2_000_000;

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
  // --trace-out, --report, --progress (src/cli/observe.ts): files opened now, observer installed.
  // The board's console is visible only on stdout: with stdout redirected, a status line on the
  // terminal's stderr interleaves with nothing (docs/TRACING.md "Progress").
  const observation = observeBoard(machine, cmd.command === 'demo' ? undefined : cmd.observe, { stderr: io.stderr, stdout: io.stdout, consoleInput: false });
  const gdb = cmd.command !== 'demo' ? await startGdb(machine, cmd, io) : null;
  try {
    detachInterrupt = io.onInterrupt(() => machine.interrupt());
    result = await machine.runAsync({
      maxInsns: cmd.maxInsns,
      maxCycles: cmd.maxCycles,
      pace: cmd.pace ?? machine.paceByDefault(io.interactive === true),
      trace: cmd.trace,
      traceRegs: cmd.traceRegs,
      traceSink: (line) => io.stderr.write(line + '\n'),
    });
  } finally {
    detachInterrupt();
    detachInput();
    observation?.stopProgress();
    gdb?.close();
  }

  // Ctrl-A x ends the run as QEMU's does: exit status 0, a note on stderr.
  const quit = quitByEscape && result.reason === 'interrupted';
  if (quit) {
    result = { reason: 'interrupted', code: 0 };
    io.stderr.write('cyclevisor: terminated by Ctrl-A x\n');
  }
  // A stuck hart's line is printed exactly as documented (`hart H stuck: ...`), without prefix.
  if (result.message) io.stderr.write(result.reason === 'stuck' ? `${result.message}\n` : `cyclevisor: ${result.message}\n`);

  const stats = machine.stats(result);
  await observation?.finish(stats);
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
 * `--gdb tcp::PORT [-S]`: the gdb stub (src/debug/gdbstub.ts) listens before the run starts; with
 * -S the machine waits for gdb before its first instruction. Port 0 picks a free port: the line on
 * stderr says which.
 */
async function startGdb(machine: VirtMachine, cmd: RunCommand | BootCommand, io: CliIo): Promise<GdbStub | null> {
  if (cmd.gdb === null) return null;
  const { GdbStub } = await import('../debug/gdbstub.js');
  const stub = new GdbStub(machine, { waitForGdb: cmd.gdbWait });
  let port: number;
  try {
    port = await stub.listen(cmd.gdb.host, cmd.gdb.port);
  } catch (e) {
    stub.close();
    throw new UserError(`--gdb: cannot listen on tcp:${cmd.gdb.host}:${cmd.gdb.port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  io.stderr.write(`cyclevisor: gdb server on tcp::${port}${cmd.gdbWait ? ' (waiting for gdb: -S)' : ''}\n`);
  return stub;
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
  const elfPath = cmd.command === 'demo' ? demoElfPath() : cmd.elf;
  if (cmd.statsFile !== null) refuseInputAsOutput(cmd.statsFile, '--stats-file', runInputs(cmd, elfPath));
  for (const o of observeOutputs(cmd.command === 'run' ? cmd.observe : undefined)) refuseInputAsOutput(o.path, o.flag, runInputs(cmd, elfPath));
  const timing = loadTiming(cmd.timingFile);
  warnUnusedTlbSection(cmd.timingFile, cmd.mode, io);
  // The run loop is one long-running wasm function: have V8 compile it with TurboFan from the start.
  useOptimizingCompiler();
  const machine = new VirtMachine({
    ramBytes: cmd.ramBytes,
    timing,
    mode: cmd.mode,
    onOutput: (chunk) => io.stdout.write(chunk),
    cpu: cmd.cpu,
  });
  // The demo names its guest relative to the current directory (it is found from the package root).
  const rel = relative(process.cwd(), elfPath);
  const shown = cmd.command === 'demo' && rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : elfPath;
  const img = machine.loadElf(loadFile(elfPath), shown);
  for (const w of img.warnings) io.stderr.write(`cyclevisor: warning: ${w}\n`);
  const statsFd = cmd.statsFile !== null ? openStatsFile(cmd.statsFile) : null;

  if (cmd.command === 'demo') {
    // The first run of a fresh process pays for compiling core.wasm and decoding the guest's code:
    // run the same guest in a throwaway machine first (its output and counts are discarded), so
    // the host time and MIPS of the summary are the warm machine's (issue 8 item 6).
    const warm = new VirtMachine({ ramBytes: cmd.ramBytes, timing, mode: cmd.mode, onOutput: () => {} });
    warm.loadElf(loadFile(elfPath), shown);
    warm.runSync({ maxInsns: DEMO_WARMUP_INSNS });
    io.stdout.write(
      `cyclevisor demo: running ${shown} (CoreMark-like integer benchmark, ~286M instructions; host time measured after a ${DEMO_WARMUP_INSNS / 1e6}M-instruction warm-up)\n`,
    );
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

/**
 * --drive: an existing regular file, readable, and writable unless readonly; not already used by
 * this process; a raw image (unless format=raw, its header must not be a known other format) of
 * whole 512-byte sectors. Returns its stat (the caller refuses one file given twice through links).
 */
function checkDriveFile(d: DriveSpec): Stats {
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
  // Before opening it here: a descriptor closed in this process would drop its record locks.
  try {
    checkNotHeldHere(d.path);
  } catch (e) {
    if (e instanceof ImageLockError) throw new UserError(`${flag} ${e.message}`);
    throw e;
  }
  let fd: number | null = null;
  try {
    fd = openSync(d.path, 'r');
    checkImage(fd, d.path, d.format ? { format: d.format } : {});
    // qcow2: the whole header, the tables' placement and the backing chain, read-only, now.
    checkDiskFormat(d.path, { readOnly: d.readOnly, ...(d.format ? { format: d.format } : {}) });
  } catch (e) {
    if (e instanceof ImageFormatError) throw new UserError(`${flag} ${e.message}`);
    const err = fileReadError(d.path, e, 'a disk image');
    if (isUserError(err)) throw new UserError(`--drive file=${err.message}`);
    throw err;
  } finally {
    if (fd !== null) closeSync(fd);
  }
  return st;
}

/** Every drive checked, and no file attached twice (`a.img` and a link to it are one image). */
function checkDrives(drives: readonly DriveSpec[]): void {
  const seen = new Map<string, string>();
  for (const d of drives) {
    const st = checkDriveFile(d);
    const key = `${st.dev}:${st.ino}`;
    const first = seen.get(key);
    if (first !== undefined) throw new UserError(`--drive file=${d.path}: same file as --drive file=${first} (one image, one drive)`);
    seen.set(key, d.path);
  }
}

/**
 * Locks every disk image before the guest runs (exclusive for read-write, shared for read-only;
 * against another cyclevisor and QEMU) and routes each image's host-side problems (deleted,
 * truncated, an I/O error) to one stderr line each.
 */
async function lockDrives(machine: VirtMachine, io: CliIo): Promise<void> {
  for (const b of machine.blockBackends) {
    b.onHostError = (m) => io.stderr.write(`cyclevisor: --drive file=${b.path}: ${m}\n`);
    try {
      await b.lock();
    } catch (e) {
      if (e instanceof ImageLockError) throw new UserError(`--drive file=${b.path}: ${e.message}`);
      throw e;
    }
  }
}

/**
 * The board opens each image again (and probes it again: it may have changed since checkDrives
 * looked); a refusal then is still one line naming the drive.
 */
function newMachineChecked(opts: ConstructorParameters<typeof VirtMachine>[0]): VirtMachine {
  try {
    return new VirtMachine(opts);
  } catch (e) {
    if (e instanceof ImageFormatError) throw new UserError(`--drive file=${e.path}: ${e.message}`);
    const path = (e as NodeJS.ErrnoException).path;
    if (path !== undefined) {
      const err = fileReadError(path, e, 'a disk image');
      if (isUserError(err)) throw new UserError(`--drive file=${err.message}`);
    }
    throw e;
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
  if (cmd.statsFile !== null) refuseInputAsOutput(cmd.statsFile, '--stats-file', runInputs(cmd, null));
  for (const o of observeOutputs(cmd.observe)) refuseInputAsOutput(o.path, o.flag, runInputs(cmd, null));
  const timing = loadTiming(cmd.timingFile);
  warnUnusedTlbSection(cmd.timingFile, cmd.mode, io);
  // Check the files first, naming the option (bootLinux reads them and keeps its own checks).
  if (cmd.bios !== 'builtin' && cmd.bios !== 'none') checkInputFile(cmd.bios, '--bios', 'a firmware image');
  if (cmd.kernel !== null) checkKernelFile(cmd.kernel);
  if (cmd.initrd !== null) checkInputFile(cmd.initrd, '--initrd', 'an initramfs');
  checkDrives(cmd.drives);

  useOptimizingCompiler();
  const epoch = rtcEpochNs(cmd.rtcEpoch);
  // --netdev user: the networks (and their hostfwd listeners) before the machine that uses them.
  const nets = cmd.netdevs && cmd.netdevs.length > 0 ? await (await import('../net/netdev.js')).openUserNetworks(cmd.netdevs) : [];
  let machine: VirtMachine;
  try {
    machine = newMachineChecked({
    ramBytes: cmd.ramBytes,
    timing,
    onOutput: (chunk) => io.stdout.write(chunk),
    harts: cmd.harts,
    mode: cmd.mode,
    adUpdate: cmd.ad === 'hardware',
    drives: cmd.drives,
    cpu: cmd.cpu,
    ...(epoch !== undefined ? { rtcEpochNs: epoch } : {}),
    ...(nets.length > 0 ? { nics: nets.map((n) => ({ mac: n.mac, backend: n.net })) } : {}),
    });
  } catch (e) {
    for (const n of nets) n.net.close();
    throw e;
  }
  // Host sockets: pacing on by default, host packets enter at slice boundaries (docs/NETWORK.md).
  for (const n of nets) machine.attachHostSocket(n.net);
  let code: number;
  try {
    // A board that takes the option but not yet the harts (SMP in progress) must not boot a
    // single-hart machine under a multi-hart command line.
    const boardHarts = (machine as { harts?: unknown }).harts ?? 1;
    if (boardHarts !== cmd.harts) {
      throw new UserError(`--smp ${cmd.harts}: this build's virt board runs ${String(boardHarts)} hart(s) only`);
    }
    await lockDrives(machine, io);
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
  const out = cmd.output ?? (cmd.dts ? '-' : DEFAULT_DTB_FILE);
  if (out !== '-') {
    const inputs: RunInput[] = [];
    if (cmd.initrd !== null) inputs.push({ what: '--initrd', path: cmd.initrd });
    if (cmd.timingFile !== null) inputs.push({ what: '--timing', path: cmd.timingFile });
    refuseInputAsOutput(out, '-o', inputs);
  }
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
