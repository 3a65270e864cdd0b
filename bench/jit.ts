/**
 * `npm run bench:jit`: the JIT tier's figures that docs/JIT.md quotes beyond `npm run bench` (warm
 * CoreMark) and `bench:linux` (one Linux boot per tier). Each task is a fresh CLI process, so the
 * process-wide code cache starts empty (first-run figures, compilation included); tinybench times
 * the whole process, and the guest's own host time and the JIT's figures come from `--stats json`:
 *
 *   - CoreMark (`cmark.elf`) interpreted and compiled,
 *   - Linux 6.1 + nolibc initramfs (OpenSBI) to power-off under the JIT at compile thresholds
 *     20,000 (the default), 5,000 and 2,000 (env JIT_THRESH), and interpreted,
 *   - `npm start`'s three Linux VMs on a 2-hart host (`cyclevisor host examples/three-vms.yaml`)
 *     interpreted and compiled (the frames' hashed index and the code cache are what keep VMs with
 *     the same kernel from evicting each other's code).
 *
 * BENCH_RUNS (default 3) runs per row: median and range. GUESTS: the images' directory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin', 'cyclevisor.js');
const guests = process.env.GUESTS ?? join(root, '..', 'shared', 'guests');
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const tmp = mkdtempSync(join(tmpdir(), 'cv-bench-jit-'));
const KERNEL = join(guests, 'linux-6.1-rv64.Image');
const INITRD = join(guests, 'initramfs-nolibc.cpio.gz');
const OPENSBI = join(guests, 'opensbi-fw_dynamic.bin');
const haveLinux = [KERNEL, INITRD, OPENSBI].every((f) => existsSync(f));

interface Sample {
  guestS: number;
  insns: number;
  jitShare?: number;
  blocks?: number;
  compileMs?: number;
  invalidations?: number;
}
interface Row {
  name: string;
  args: string[];
  env?: Record<string, string>;
  /** The command writes --stats json to this file. */
  stats?: string;
  samples: Sample[];
}

const rows: Row[] = [];
const statsArgs = (f: string) => ['--stats', 'json', '--stats-file', f];
for (const tier of ['interp', 'jit']) {
  const f = join(tmp, `cmark-${tier}.json`);
  rows.push({ name: `CoreMark, ${tier}`, args: ['run', join(root, 'test/guests/bin/cmark.elf'), '--tier', tier, ...statsArgs(f)], stats: f, samples: [] });
}
if (haveLinux) {
  const boot = ['boot', '--bios', OPENSBI, '--kernel', KERNEL, '--initrd', INITRD, '--append', 'console=ttyS0'];
  for (const [tier, thresh] of [['interp', ''], ['jit', '20000'], ['jit', '5000'], ['jit', '2000']] as const) {
    const f = join(tmp, `linux-${tier}-${thresh}.json`);
    rows.push({
      name: `Linux boot, ${tier}${thresh ? ` (threshold ${thresh})` : ''}`,
      args: [...boot, '--tier', tier, ...statsArgs(f)],
      ...(thresh ? { env: { JIT_THRESH: thresh } } : {}),
      stats: f,
      samples: [],
    });
  }
  for (const tier of ['interp', 'jit']) rows.push({ name: `three Linux VMs (npm start), ${tier}`, args: ['host', join(root, 'examples/three-vms.yaml'), '--tier', tier], samples: [] });
}

const bench = new Bench({ iterations: runs, warmupIterations: 0, time: 0, warmupTime: 0 });
for (const row of rows) {
  bench.add(row.name, () => {
    const r = spawnSync(process.execPath, [cli, ...row.args], { cwd: root, env: { ...process.env, ...row.env }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${row.name}: exit ${r.status}: ${r.stderr.split('\n')[0]}`);
    if (!row.stats) return;
    const s = JSON.parse(readFileSync(row.stats, 'utf8')) as { instret: number; hostSeconds: number; jit?: { insns: number; blocks: number; compileMs: number; invalidations: number } };
    row.samples.push({
      guestS: s.hostSeconds,
      insns: s.instret,
      ...(s.jit ? { jitShare: s.jit.insns / s.instret, blocks: s.jit.blocks, compileMs: s.jit.compileMs, invalidations: s.jit.invalidations } : {}),
    });
  });
}
await bench.run();
rmSync(tmp, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], d: number) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
const table = rows.map((row) => {
  const t = bench.tasks.find((x) => x.name === row.name)!;
  const l = (t.result as { latency?: { p50: number; min: number; max: number } }).latency;
  const s = row.samples;
  return {
    what: row.name,
    'process wall s': l ? `${(l.p50 / 1000).toFixed(2)} (${(l.min / 1000).toFixed(2)}–${(l.max / 1000).toFixed(2)})` : '-',
    'guest run s': s.length ? range(s.map((x) => x.guestS), 2) : '-',
    MIPS: s.length ? range(s.map((x) => x.insns / x.guestS / 1e6), 1) : '-',
    compiled: s.length && s[0]!.jitShare !== undefined ? `${(100 * median(s.map((x) => x.jitShare!))).toFixed(1)} %` : '-',
    'compile ms': s.length && s[0]!.compileMs !== undefined ? median(s.map((x) => x.compileMs!)).toFixed(0) : '-',
  };
});
console.log(`JIT tier, fresh processes (cold code cache), ${runs} runs per row: median (range)`);
console.table(table);
if (!haveLinux) console.log(`(no Linux rows: guest images not found in ${guests})`);
