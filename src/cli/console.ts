/**
 * The host side of the guest console, shared by `run`, `boot` and `demo`.
 *
 * stdin → guest:
 *   - a terminal: raw mode (QEMU -nographic convention): every byte goes to the guest's UART, Ctrl-C
 *     and Ctrl-Z included, except the escape Ctrl-A (0x01):
 *        Ctrl-A x        quit (exit 0, as QEMU does)
 *        Ctrl-A s        print the statistics so far on stderr, keep running
 *        Ctrl-A h (or ?) print the escape keys
 *        Ctrl-A Ctrl-A   send one Ctrl-A to the guest
 *     any other key after Ctrl-A is dropped (QEMU does the same). The terminal mode is restored on
 *     every way out: detach, process exit, SIGTERM/SIGHUP.
 *   - a regular file or /dev/null: read fully before the run starts (deterministic: the guest sees
 *     all of it at once, so output does not depend on host timing);
 *   - a pipe, socket or anything else: read as it arrives, as is (no escapes); its end closes the
 *     input.
 *   - no stdin at all (fd 0 closed): no input.
 */
import { fstatSync, readFileSync, statSync, type Stats } from 'node:fs';
import { UserError } from '../errors.js';

/** Where host input goes: the machine's console receive side. */
export interface InputSink {
  /** Input may still arrive (TTY, pipe): a guest sleeping in WFI waits for it. */
  open(): void;
  push(bytes: Uint8Array): void;
  end(): void;
}

/** What the console escapes ask of the run (the CLI implements them). */
export interface ConsoleControl {
  /** Ctrl-A x: end the run (exit 0). */
  quit(): void;
  /** Ctrl-A s: print the statistics so far. */
  stats(): void;
}

export interface OutputLike {
  write(chunk: string | Uint8Array): unknown;
}

/** The escape character (Ctrl-A), as QEMU's -nographic console. */
export const ESCAPE_CHAR = 0x01;

export const ESCAPE_HELP = `cyclevisor console keys (Ctrl-A, then):
  Ctrl-A h    print this help
  Ctrl-A x    quit cyclevisor (exit status 0)
  Ctrl-A s    print the statistics so far on stderr
  Ctrl-A Ctrl-A  send Ctrl-A to the guest
`;

export type ConsoleEvent =
  | { kind: 'input'; bytes: Uint8Array }
  | { kind: 'quit' }
  | { kind: 'stats' }
  | { kind: 'help' };

/**
 * The escape state machine: host bytes in, guest bytes and commands out, in order. State (a pending
 * Ctrl-A) carries over between chunks, since a terminal delivers keys one by one. After `quit`
 * nothing more comes out.
 */
export class EscapeDecoder {
  private escaped = false;
  private quitted = false;

  /** A Ctrl-A was the last byte seen (the next key is a command). */
  get pending(): boolean {
    return this.escaped;
  }

  feed(chunk: Uint8Array): ConsoleEvent[] {
    const events: ConsoleEvent[] = [];
    if (this.quitted) return events;
    let start = 0;
    const flush = (end: number) => {
      if (end > start) events.push({ kind: 'input', bytes: chunk.slice(start, end) });
    };
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (!this.escaped) {
        if (b === ESCAPE_CHAR) {
          flush(i);
          this.escaped = true;
          start = i + 1;
        }
        continue;
      }
      this.escaped = false;
      start = i + 1;
      switch (b) {
        case ESCAPE_CHAR:
          events.push({ kind: 'input', bytes: Uint8Array.of(ESCAPE_CHAR) });
          break;
        case 0x78: // x
        case 0x58: // X
          this.quitted = true;
          events.push({ kind: 'quit' });
          return events;
        case 0x73: // s
        case 0x53: // S
          events.push({ kind: 'stats' });
          break;
        case 0x68: // h
        case 0x48: // H
        case 0x3f: // ?
          events.push({ kind: 'help' });
          break;
        default:
          break; // unknown command key: dropped
      }
    }
    flush(chunk.length);
    return merge(events);
  }
}

/** Adjacent input events joined (an escaped Ctrl-A next to plain bytes). */
function merge(events: ConsoleEvent[]): ConsoleEvent[] {
  const out: ConsoleEvent[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (e.kind === 'input' && last?.kind === 'input') {
      const b = new Uint8Array(last.bytes.length + e.bytes.length);
      b.set(last.bytes);
      b.set(e.bytes, last.bytes.length);
      out[out.length - 1] = { kind: 'input', bytes: b };
    } else {
      out.push(e);
    }
  }
  return out;
}

/** The parts of a tty.ReadStream the raw console uses (a fake in tests). */
export interface TtyInput {
  setRawMode(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

/** Process-wide hooks, injectable for tests. */
export interface ProcessHooks {
  on(event: 'exit' | 'SIGTERM' | 'SIGHUP', listener: () => void): unknown;
  off(event: 'exit' | 'SIGTERM' | 'SIGHUP', listener: () => void): unknown;
  exit(code: number): void;
}

const toBytes = (chunk: Buffer | string): Uint8Array => {
  const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};

/**
 * A terminal as the guest console: raw mode, escapes decoded. Returns the function that detaches it
 * and restores the terminal (also done on process exit and on SIGTERM/SIGHUP, which then end the
 * process with 128 + signal number, as the default action would).
 */
export function attachRawConsole(
  tty: TtyInput,
  sink: InputSink,
  control: ConsoleControl | undefined,
  stderr: OutputLike,
  proc: ProcessHooks = process,
): () => void {
  const decoder = new EscapeDecoder();
  let raw = true;
  const restore = () => {
    if (!raw) return;
    raw = false;
    try {
      tty.setRawMode(false);
    } catch {
      /* the terminal is gone: nothing to restore */
    }
  };
  const onTerm = () => {
    restore();
    proc.exit(143);
  };
  const onHup = () => {
    restore();
    proc.exit(129);
  };
  const onData = (chunk: Buffer | string) => {
    for (const e of decoder.feed(toBytes(chunk))) {
      switch (e.kind) {
        case 'input':
          sink.push(e.bytes);
          break;
        case 'quit':
          control?.quit();
          break;
        case 'stats':
          control?.stats();
          break;
        case 'help':
          stderr.write(ESCAPE_HELP);
          break;
      }
    }
  };
  tty.setRawMode(true);
  proc.on('exit', restore);
  proc.on('SIGTERM', onTerm);
  proc.on('SIGHUP', onHup);
  sink.open();
  tty.on('data', onData);
  tty.resume();
  return () => {
    tty.off('data', onData);
    tty.pause();
    restore();
    proc.off('exit', restore);
    proc.off('SIGTERM', onTerm);
    proc.off('SIGHUP', onHup);
  };
}

function sameDevice(a: Stats, path: string): boolean {
  try {
    const b = statSync(path);
    return b.isCharacterDevice() && a.rdev === b.rdev;
  } catch {
    return false;
  }
}

/** Connects the process's stdin to the guest console (see the file comment for the cases). */
export function attachProcessStdin(sink: InputSink, control?: ConsoleControl): () => void {
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
  if (stdin.isTTY && typeof stdin.setRawMode === 'function') {
    return attachRawConsole(stdin, sink, control, process.stderr);
  }
  sink.open();
  const onData = (chunk: Buffer | string) => sink.push(toBytes(chunk));
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
