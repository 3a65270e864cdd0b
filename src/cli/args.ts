/**
 * Command-line parsing for `cyclevisor`. Pure: takes argv (without node and the script), returns a
 * typed command, and throws a one-line `UserError` for every bad input.
 *
 *   cyclevisor run <elf> [options]      cyclevisor demo [options]
 *   cyclevisor help | --help | -h       cyclevisor --version | -V
 *
 * Options may appear anywhere after (or before) the command; `--flag=value` and `--flag value` are
 * equivalent; `--` ends option parsing (for ELF files whose name starts with a dash).
 */
import { UserError, closest, formatSize } from '../errors.js';

export const USAGE = `Usage: cyclevisor run <elf> [options]   run a bare-metal RV64 ELF program
       cyclevisor demo [options]         run the built-in demo guest
       cyclevisor help | --help | --version

Options:
  --ram SIZE          guest RAM, 1M..2G in 4K steps (default 128M)
  --max-insns N       stop after N instructions (e.g. 5000000, 5_000_000, 1e9)
  --timing FILE       cycle-model overrides as JSON (see docs/TIMING.md)
  --stats text|json   print a summary at the end (run: on stderr; demo: stdout)
  --stats-file PATH   write the summary to PATH instead (format from --stats)
  --trace N           print the first N executed instructions on stderr
  -h, --help          show this help
  -V, --version       show the version

Sizes take K, M or G (powers of 1024; KiB/KB/k also accepted).
stdout carries only the guest's console output. Exit status: the guest's code,
124 when --max-insns ran out, 130 on Ctrl-C, 2 for bad usage or input.
`;

export type StatsFormat = 'text' | 'json';

/** Settings shared by `run` and `demo`. */
export interface RunSettings {
  /** Guest RAM in bytes: a multiple of 4 KiB in [1 MiB, 2 GiB]. */
  ramBytes: number;
  /** Stop after this many retired instructions; null = no limit. */
  maxInsns: number | null;
  /** Path of a timing JSON file, or null for the defaults. */
  timingFile: string | null;
  /**
   * Summary format, or null when --stats was not given. `run` prints a summary only when asked
   * (--stats or --stats-file); `demo` always prints one (text unless --stats json).
   */
  stats: StatsFormat | null;
  /** Write the summary to this file instead of the terminal; null = no file. */
  statsFile: string | null;
  /** Print the first N executed instructions (0 = no trace). */
  trace: number;
}

export interface RunCommand extends RunSettings {
  command: 'run';
  elf: string;
}
export interface DemoCommand extends RunSettings {
  command: 'demo';
}
export type CliCommand = RunCommand | DemoCommand | { command: 'help' } | { command: 'version' };

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const DEFAULT_RAM = 128 * MiB;
export const MIN_RAM = 1 * MiB;
export const MAX_RAM = 2 * GiB;
export const RAM_ALIGN = 4 * KiB;

export const COMMANDS = ['run', 'demo', 'help'] as const;

/** Options that take a value, with an example for "missing value" messages. */
const VALUE_OPTIONS: Readonly<Record<string, string>> = {
  '--ram': '--ram 128M',
  '--max-insns': '--max-insns 1e9',
  '--timing': '--timing u74.json',
  '--stats': '--stats json',
  '--stats-file': '--stats-file stats.json',
  '--trace': '--trace 100',
};
const FLAG_OPTIONS = ['--help', '-h', '--version', '-V'] as const;
const ALL_OPTIONS = [...Object.keys(VALUE_OPTIONS), '--help', '--version'];

const SEE_HELP = '(see cyclevisor --help)';

export function defaultRunSettings(): RunSettings {
  return { ramBytes: DEFAULT_RAM, maxInsns: null, timingFile: null, stats: null, statsFile: null, trace: 0 };
}

// ---------------------------------------------------------------------------------------------
// Numbers and sizes
// ---------------------------------------------------------------------------------------------

const SIZE_RE = /^(\d+(?:_\d+)*)(?:\.(\d+))?\s*([kmgt]?)(i?b)?$/i;
const UNIT_SHIFT: Readonly<Record<string, bigint>> = { '': 0n, k: 10n, m: 20n, g: 30n, t: 40n };

/**
 * Parses a byte size: plain bytes ("65536"), or a number with K, M, G (or T), optionally followed
 * by "iB" or "B", case-insensitive ("128M", "128MiB", "128mb", "1.5G"). Units are powers of 1024,
 * as in QEMU's -m. `what` (e.g. "--ram") is used in the error message.
 */
export function parseSize(text: string, what?: string): number {
  const t = text.trim();
  const m = SIZE_RE.exec(t);
  const bad = (): never => {
    throw new UserError(
      `invalid size '${text}'${what ? ` for ${what}` : ''} (expected bytes or a number with K, M or G, e.g. 128M or 1GiB)`,
    );
  };
  if (!m) return bad();
  const [, int, frac = '', unitRaw = '', suffix = ''] = m;
  const unit = unitRaw.toLowerCase();
  if (unit === '' && suffix.toLowerCase() === 'ib') return bad();
  const digits = BigInt((int! + frac).replace(/_/g, ''));
  const scaled = digits << UNIT_SHIFT[unit]!;
  const div = 10n ** BigInt(frac.length);
  if (scaled % div !== 0n) {
    throw new UserError(`invalid size '${text}'${what ? ` for ${what}` : ''}: not a whole number of bytes`);
  }
  const bytes = scaled / div;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UserError(`size '${text}'${what ? ` for ${what}` : ''} is too large`);
  }
  return Number(bytes);
}

/** Parses and validates a RAM size: a multiple of 4 KiB between 1 MiB and 2 GiB. */
export function parseRamSize(text: string): number {
  const bytes = parseSize(text, '--ram');
  const limits = `RAM must be between ${formatSize(MIN_RAM)} and ${formatSize(MAX_RAM)}`;
  if (bytes < MIN_RAM) throw new UserError(`--ram ${text} (${formatSize(bytes)}) is too small: ${limits}`);
  if (bytes > MAX_RAM) throw new UserError(`--ram ${text} (${formatSize(bytes)}) is too large: ${limits}`);
  if (bytes % RAM_ALIGN !== 0) {
    throw new UserError(`--ram ${text} (${bytes} bytes) is not a multiple of 4 KiB (pages); try ${formatSize(Math.ceil(bytes / RAM_ALIGN) * RAM_ALIGN)}`);
  }
  return bytes;
}

const COUNT_RE = /^(\d+(?:_\d+)*)(?:\.(\d+(?:_\d+)*))?(?:e\+?(\d+))?$/i;

/**
 * Parses a whole number: digits with optional `_` separators, or scientific forms whose value is
 * a whole number ("1e9", "2.5e3"). Rejects fractions, negatives, and values above 2^53 - 1.
 * `min` is 1 for counts that must be positive and 0 for non-negative ones.
 */
export function parseCount(text: string, flag: string, min: 0 | 1): number {
  const t = text.trim();
  const kind = min === 1 ? 'a positive whole number' : 'a whole number (0 or more)';
  if (/^-/.test(t)) throw new UserError(`${flag} must be ${kind}, got '${text}'`);
  const m = COUNT_RE.exec(t);
  if (!m) throw new UserError(`${flag} expects ${kind} like 1000000, 1_000_000 or 1e6; got '${text}'`);
  const [, int, frac = '', expRaw = '0'] = m;
  const fracDigits = frac.replace(/_/g, '');
  const exp = Number(expRaw) - fracDigits.length;
  if (Number(expRaw) > 30) throw new UserError(`${flag} ${text} is too large (maximum ${Number.MAX_SAFE_INTEGER})`);
  let value = BigInt(int!.replace(/_/g, '') + fracDigits);
  if (exp >= 0) {
    value *= 10n ** BigInt(exp);
  } else {
    const div = 10n ** BigInt(-exp);
    if (value % div !== 0n) throw new UserError(`${flag} must be a whole number, got '${text}'`);
    value /= div;
  }
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UserError(`${flag} ${text} is too large (maximum ${Number.MAX_SAFE_INTEGER})`);
  }
  if (value < BigInt(min)) throw new UserError(`${flag} must be ${kind}, got '${text}'`);
  return Number(value);
}

// ---------------------------------------------------------------------------------------------
// argv
// ---------------------------------------------------------------------------------------------

function unknownOption(name: string): UserError {
  const guess = closest(name.replace(/^-+/, ''), ALL_OPTIONS.map((o) => o.slice(2)));
  const hint = guess !== undefined ? `; did you mean '--${guess}'?` : ` ${SEE_HELP}`;
  return new UserError(`unknown option '${name}'${hint}`);
}

function unknownCommand(word: string): UserError {
  const guess = closest(word, COMMANDS);
  if (guess !== undefined) return new UserError(`unknown command '${word}'; did you mean '${guess}'?`);
  if (/[./\\]/.test(word)) {
    return new UserError(`unknown command '${word}'; to run a program: cyclevisor run ${word}`);
  }
  return new UserError(`unknown command '${word}' (commands: ${COMMANDS.join(', ')}) ${SEE_HELP}`);
}

/** Parses argv (process.argv.slice(2)) into a command. Throws `UserError` on any bad input. */
export function parseArgs(argv: readonly string[]): CliCommand {
  // --help / --version anywhere before `--` win over everything else (as in most tools).
  const endOfOptions = argv.indexOf('--');
  const optionPart = endOfOptions < 0 ? argv : argv.slice(0, endOfOptions);
  if (optionPart.some((a) => a === '--help' || a === '-h')) return { command: 'help' };
  if (optionPart.some((a) => a === '--version' || a === '-V')) return { command: 'version' };

  const positionals: string[] = [];
  const values = new Map<string, string>();
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (onlyPositionals || arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg;
    if ((FLAG_OPTIONS as readonly string[]).includes(name)) {
      throw new UserError(`option ${name} does not take a value`);
    }
    const example = VALUE_OPTIONS[name];
    if (example === undefined) throw unknownOption(name);
    let value: string;
    if (name !== arg) {
      value = arg.slice(eq + 1);
      if (value === '') throw new UserError(`option ${name} needs a value (e.g. ${example})`);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--') || next === '') {
        throw new UserError(`option ${name} needs a value (e.g. ${example})`);
      }
      value = next;
      i++;
    }
    if (values.has(name)) throw new UserError(`option ${name} given more than once`);
    values.set(name, value);
  }

  const [command, ...rest] = positionals;
  if (command === undefined) {
    throw new UserError(`no command given (usage: cyclevisor run <elf> [options] | cyclevisor demo | cyclevisor --help)`);
  }
  if (command === 'help') return { command: 'help' };
  if (command !== 'run' && command !== 'demo') throw unknownCommand(command);

  const settings = defaultRunSettings();
  for (const [name, value] of values) {
    switch (name) {
      case '--ram':
        settings.ramBytes = parseRamSize(value);
        break;
      case '--max-insns':
        settings.maxInsns = parseCount(value, '--max-insns', 1);
        break;
      case '--trace':
        settings.trace = parseCount(value, '--trace', 0);
        break;
      case '--timing':
        settings.timingFile = value;
        break;
      case '--stats-file':
        settings.statsFile = value;
        break;
      case '--stats': {
        const v = value.toLowerCase();
        if (v !== 'text' && v !== 'json') {
          throw new UserError(`--stats must be 'text' or 'json', got '${value}'`);
        }
        settings.stats = v;
        break;
      }
    }
  }

  if (command === 'demo') {
    if (rest.length > 0) throw new UserError(`unexpected argument '${rest[0]}': demo takes no arguments`);
    return { command: 'demo', ...settings };
  }
  const [elf, extra] = rest;
  if (elf === undefined) throw new UserError('missing ELF file (usage: cyclevisor run <elf> [options])');
  if (extra !== undefined) {
    throw new UserError(`unexpected argument '${extra}': run takes one ELF file (options start with --)`);
  }
  return { command: 'run', elf, ...settings };
}
