/**
 * Errors caused by bad user input (arguments, files), and small helpers for writing their messages.
 *
 * The CLI catches a `UserError`, prints `cyclevisor: <message>` as a single line on stderr and exits
 * with `code` (2 unless said otherwise). Anything else that escapes is a bug and gets a stack trace.
 */
export class UserError extends Error {
  /** Process exit status the CLI uses for this error. */
  readonly code: number;

  constructor(message: string, code = 2) {
    // The CLI contract is one line: fold any line breaks (e.g. from a file name) into spaces.
    super(message.replace(/\s*[\r\n]+\s*/g, ' ').trim());
    this.name = 'UserError';
    this.code = code;
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** `0x` + lowercase hex, for addresses in messages. */
export function hex(v: bigint | number): string {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  return n < 0n ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}

const UNITS: ReadonlyArray<[string, bigint]> = [
  ['TiB', 1n << 40n],
  ['GiB', 1n << 30n],
  ['MiB', 1n << 20n],
  ['KiB', 1n << 10n],
];

/** A byte count for humans: exact binary units when they fit ("128 MiB"), else one decimal ("75.5 KiB"). */
export function formatSize(bytes: bigint | number): string {
  const n = typeof bytes === 'bigint' ? bytes : BigInt(Math.trunc(bytes));
  for (const [unit, size] of UNITS) {
    if (n >= size && n % size === 0n) return `${n / size} ${unit}`;
  }
  if (n < 1024n) return `${n} byte${n === 1n ? '' : 's'}`;
  for (const [unit, size] of UNITS) {
    if (n >= size) return `${(Number(n) / Number(size)).toFixed(1)} ${unit}`;
  }
  return `${n} bytes`;
}

/**
 * Turns a failed file read into a one-line `UserError` (`<path>: no such file`, ...).
 * `what` describes what the file was supposed to be ("an ELF file", "a timing file").
 * Errors without an errno code are returned unchanged (they are bugs, not user errors).
 */
export function fileReadError(path: string, err: unknown, what = 'a file'): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return new UserError(`${path}: no such file`);
    case 'EISDIR':
      return new UserError(`${path}: is a directory, not ${what}`);
    case 'EACCES':
    case 'EPERM':
      return new UserError(`${path}: permission denied`);
    case 'ENOTDIR':
      return new UserError(`${path}: a component of the path is not a directory`);
    case 'ELOOP':
      return new UserError(`${path}: too many levels of symbolic links`);
    case 'ENAMETOOLONG':
      return new UserError(`${path}: file name too long`);
    case undefined:
      return err;
    default:
      return new UserError(`${path}: cannot read ${what} (${code})`);
  }
}

/** Levenshtein distance (for "did you mean" suggestions). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

/**
 * The option closest to `word` (case-insensitive edit distance), if it is close enough to be a
 * plausible typo: at most max(2, length/3) edits, or `word` is a prefix of exactly one option.
 */
export function closest(word: string, options: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const dist = editDistance(w, o.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = o;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(w.length / 3))) return best;
  const prefixed = options.filter((o) => o.toLowerCase().startsWith(w));
  return w.length >= 3 && prefixed.length === 1 ? prefixed[0] : undefined;
}
