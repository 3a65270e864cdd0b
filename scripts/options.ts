/**
 * Command-line options of the differential tools (`npm run fpdiff`, `npm run fuzz`): `--name value`
 * and `--name=value`, integers with `_` separators or an exponent, `-h`/`--help` printing the
 * calling script's header comment, and a one-line `Usage` error for anything else.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Bad usage: the tool prints the message on one line and exits 2. */
export class Usage extends Error {}

/** An integer option value in [min, max] (`1_000`, `1e6` accepted). */
export function intOption(name: string, v: string, min: number, max: number): number {
  const n = Number(v.replace(/_/g, ''));
  if (!/^\d[\d_]*(e\d+)?$/i.test(v) || !Number.isInteger(n) || n < min || n > max) {
    throw new Usage(`${name}: expected an integer in ${min}..${max}, got '${v}'`);
  }
  return n;
}

/**
 * Walk argv: `on(name, value)` handles one option (calling `value()` if it takes one) and returns
 * false for an option it does not know. `--help` prints the header comment of the file at `helpOf`
 * (the caller's import.meta.url) and exits 0.
 */
export function walkOptions(argv: readonly string[], helpOf: string, on: (name: string, value: () => string) => boolean): void {
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let v: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const value = (): string => {
      if (v !== undefined) return v;
      const next = argv[++i];
      if (next === undefined) throw new Usage(`${a} needs a value`);
      return next;
    };
    if (a === '-h' || a === '--help') {
      const src = readFileSync(fileURLToPath(helpOf), 'utf8');
      console.log(src.slice(src.indexOf('/**') + 4, src.indexOf('*/')).replace(/^ \* ?/gm, ''));
      process.exit(0);
    }
    if (!on(a, value)) throw new Usage(`unknown option '${a}' (see --help)`);
  }
}
