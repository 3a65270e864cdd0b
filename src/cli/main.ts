/**
 * The `cyclevisor` command: parse arguments, build the virt board, connect stdin and Ctrl-C, run,
 * print the summary. Returns the process exit code; never throws and never prints a stack trace:
 *
 *   guest exit code (finisher / HTIF) | 124 --max-insns ran out | 130 Ctrl-C | 1 guest stuck or
 *   unsupported request | 2 bad usage or input (`cyclevisor: <message>`) | 70 internal error
 *
 * stdout carries only the guest's console output (and, for `demo`, a header and the summary).
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, statSync, writeSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE, type DemoCommand, type RunCommand, type StatsFormat } from './args.js';
import { UserError, isUserError } from '../errors.js';
import { defaultTiming, loadTimingFile } from '../timing.js';
import { VirtMachine, type RunResult } from '../board/virt.js';
import { formatJson, formatText } from '../stats.js';
import { loadFile } from '../elf.js';
import { useOptimizingCompiler } from '../core.js';

export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

export interface OutputStream {
  write(chunk: string | Uint8Array): unknown;
}

/** Where host input goes: the machine's console receive side. */
export interface InputSink {
  /** Input may still arrive (TTY, pipe): a guest sleeping in WFI waits for it. */
  open(): void;
  push(bytes: Uint8Array): void;
  end(): void;
}

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  /** Connect the host's input to the guest; returns a function that disconnects it. */
  attachInput(sink: InputSink): () => void;
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

function sameDevice(a: Stats, path: string): boolean {
  try {
    const b = statSync(path);
    return b.isCharacterDevice() && a.rdev === b.rdev;
  } catch {
    return false;
  }
}

/**
 * stdin → guest:
 *   - a regular file or /dev/null: read fully before the run starts (deterministic: the guest sees
 *     all of it at once, so output does not depend on host timing);
 *   - a TTY: cooked mode (line-buffered by the terminal; raw mode comes later), chunks as typed;
 *   - a pipe, socket or anything else: read as it arrives; its end closes the input.
 *   - no stdin at all (fd 0 closed): no input.
 */
export function attachProcessStdin(sink: InputSink): () => void {
  let st: Stats;
  try {
    st = fstatSync(0);
  } catch {
    sink.end();
    return () => {};
  }
  if (st.isFile() || sameDevice(st, '/dev/null')) {
    let data: Buffer;
    try {
      data = readFileSync(0);
    } catch (e) {
      throw new UserError(`cannot read stdin (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    sink.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    sink.end();
    return () => {};
  }
  const stdin = process.stdin;
  sink.open();
  const onData = (chunk: Buffer | string) => {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    sink.push(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  };
  const onEnd = () => sink.end();
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  stdin.on('error', onEnd);
  return () => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.off('error', onEnd);
    stdin.pause();
    stdin.destroy();
  };
}

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
        io.stdout.write(USAGE);
        return 0;
      case 'version':
        io.stdout.write(`cyclevisor ${version()}\n`);
        return 0;
      case 'run':
      case 'demo':
        return await runCommand(cmd, io);
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
function openStatsFile(path: string): number {
  try {
    return openSync(path, 'w');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such directory' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : code;
    throw new UserError(`--stats-file ${path}: cannot write (${why})`);
  }
}

async function runCommand(cmd: RunCommand | DemoCommand, io: CliIo): Promise<number> {
  const timing = cmd.timingFile !== null ? loadTimingFile(cmd.timingFile) : defaultTiming();
  const elfPath = cmd.command === 'demo' ? demoElfPath() : cmd.elf;
  // The run loop is one long-running wasm function: have V8 compile it with TurboFan from the start.
  useOptimizingCompiler();
  const machine = new VirtMachine({
    ramBytes: cmd.ramBytes,
    timing,
    onOutput: (chunk) => io.stdout.write(chunk),
  });
  // The demo names its guest relative to the current directory (it is found from the package root).
  const rel = relative(process.cwd(), elfPath);
  const shown = cmd.command === 'demo' && rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : elfPath;
  machine.loadElf(loadFile(elfPath), shown);
  const statsFd = cmd.statsFile !== null ? openStatsFile(cmd.statsFile) : null;

  if (cmd.command === 'demo') {
    io.stdout.write(`cyclevisor demo: running ${shown} (CoreMark-like integer benchmark, ~286M instructions)\n`);
  }

  const detachInput = io.attachInput({
    open: () => machine.openInput(),
    push: (b) => machine.pushInput(b),
    end: () => machine.endInput(),
  });
  const detachInterrupt = io.onInterrupt(() => machine.interrupt());
  let result: RunResult;
  try {
    result = await machine.runAsync({
      maxInsns: cmd.maxInsns,
      trace: cmd.trace,
      traceSink: (line) => io.stderr.write(line + '\n'),
    });
  } finally {
    detachInterrupt();
    detachInput();
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
      const wanted = cmd.stats !== null || statsFd !== null || result.reason === 'interrupted';
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
