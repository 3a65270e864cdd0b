/**
 * `npm run jitdiff -- --count N [--seed S] [--size K] [--limit L]`: the differential tier tester
 * (scripts/jit/difftest.ts) over N random programs (default 100), each run for L instructions
 * (default 20,000) in both tiers. Prints one line per diverging program and a summary; exit 1 on
 * any divergence.
 */
import { diffOne } from './difftest.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) {
    process.stderr.write(`jitdiff: ${name} needs a number\n`);
    process.exit(2);
  }
  return v;
};
const count = opt('--count', 100);
const seed0 = opt('--seed', 1);
const size = opt('--size', 400);
const limit = opt('--limit', 20000);
let insns = 0;
let jit = 0;
let chains = 0;
let bad = 0;
const t0 = performance.now();
for (let s = seed0; s < seed0 + count; s++) {
  const r = diffOne(s, size, limit);
  insns += r.insns;
  jit += r.jitInsns;
  chains += r.chains;
  if (r.diffs.length > 0) {
    bad++;
    process.stdout.write(`seed ${s}: ${r.diffs.length} differences: ${r.diffs.slice(0, 6).join('; ')}\n`);
  }
  if ((s - seed0 + 1) % 100 === 0) process.stderr.write(`  ${s - seed0 + 1} programs, ${insns} instructions per tier\n`);
}
const secs = ((performance.now() - t0) / 1000).toFixed(1);
process.stdout.write(
  `jitdiff: ${count} programs, ${insns} instructions per tier (${((100 * jit) / Math.max(1, insns)).toFixed(1)}% in compiled code, ${chains} page exits chained), ` +
    `${bad} diverging, ${secs} s\n`,
);
process.exit(bad > 0 ? 1 : 0);
