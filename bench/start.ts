/**
 * `npm run bench:start`: the CLI's whole-process wall time, process start included (issue 14: its
 * Linux-boot bar is QEMU's wall time with process start counted), measured with tinybench around
 * `spawnSync(node bin/cyclevisor.js ...)`:
 *
 *   - `node -e 0` (Node's own start: the floor for every command),
 *   - the help texts, `--version`, `dtb --dts`, `run` of a tiny ELF (test/guests/bin/hello.elf),
 *   - Linux 6.1 + nolibc initramfs under OpenSBI fw_dynamic to power-off, as `cyclevisor boot`
 *     (with `--stats json`: the guest run's own host time, so "outside the run" = wall - host time)
 *     and as `cyclevisor host` (a one-VM definition file), and QEMU 7.2 booting the same images
 *     (`qemu-system-riscv64 -M virt -m 256M`, same RAM as boot's default), when installed;
 *   - QEMU running the same tiny ELF (`-bios none`): QEMU's floor beside ours, for the Linux bar's
 *     arithmetic (what 1.25x QEMU's boot leaves past our floor, against QEMU's boot past its own;
 *     docs/JIT.md "Stop 16").
 *
 * For each: median, min and max over BENCH_RUNS runs (default 5, after one warm-up run that fills
 * the page cache), and how many ES modules the command loads (one more run under the loader hook of
 * test/cli/fixtures/module-log.mjs). CLI=path/to/bin/cyclevisor.js measures another checkout (the
 * before/after figures of docs/ARCHITECTURE.md "CLI: lazy loading"); GUESTS the images' directory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = resolve(process.env.CLI ?? join(root, 'bin', 'cyclevisor.js'));
const guests = process.env.GUESTS ?? join(root, '..', 'shared', 'guests');
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const hook = pathToFileURL(join(root, 'test', 'cli', 'fixtures', 'module-log.mjs')).href;
const KERNEL = join(guests, 'linux-6.1-rv64.Image');
const INITRD = join(guests, 'initramfs-nolibc.cpio.gz');
const OPENSBI = join(guests, 'opensbi-fw_dynamic.bin');
const DONE = 'reboot: Power down';
const HELLO = join(root, 'test', 'guests', 'bin', 'hello.elf');
const haveLinux = [KERNEL, INITRD, OPENSBI].every((f) => existsSync(f));
const tmp = mkdtempSync(join(tmpdir(), 'cv-bench-start-'));

if (!existsSync(cli)) {
  console.error(`bench:start: ${cli} not found`);
  process.exit(2);
}

interface Row {
  name: string;
  /** argv after `node` (null: not a node process). */
  node: string[] | null;
  argv: string[];
  /** The exit status a correct run has. */
  status: number;
  /** stdout must contain this (a run that did not do its work is not a figure). */
  expect?: string;
  /** Guest-run host seconds of each timed run (boot --stats json). */
  hostSeconds?: number[];
  /** CPU seconds (user + system) of each timed run, from /proc (Linux; less moved by load than wall). */
  cpuSeconds: number[];
  modules?: number;
}

const linuxBoot = ['boot', '--bios', OPENSBI, '--kernel', KERNEL, '--initrd', INITRD, '--append', 'console=ttyS0'];
const rows: Row[] = [
  { name: 'node -e 0', node: ['-e', '0'], argv: [], status: 0, cpuSeconds: [] },
  { name: 'cyclevisor --help', node: [cli], argv: ['--help'], status: 0, expect: 'Usage:', cpuSeconds: [] },
  { name: 'cyclevisor --version', node: [cli], argv: ['--version'], status: 0, expect: 'cyclevisor ', cpuSeconds: [] },
  { name: 'cyclevisor boot --help', node: [cli], argv: ['boot', '--help'], status: 0, expect: 'Usage:', cpuSeconds: [] },
  { name: 'cyclevisor host --help', node: [cli], argv: ['host', '--help'], status: 0, expect: 'Usage:', cpuSeconds: [] },
  { name: 'cyclevisor ctl --help', node: [cli], argv: ['ctl', '--help'], status: 0, expect: 'Usage:', cpuSeconds: [] },
  { name: 'cyclevisor dtb --dts', node: [cli], argv: ['dtb', '--dts'], status: 0, expect: '/dts-v1/;', cpuSeconds: [] },
];
// Our floor: a tiny ELF's whole process (start, set-up, exit).
const helloRow: Row = { name: 'cyclevisor run hello.elf', node: [cli], argv: ['run', HELLO], status: 0, expect: 'Hello', cpuSeconds: [] };
rows.push(helloRow);
const qemuVersion = spawnSync('qemu-system-riscv64', ['--version'], { encoding: 'utf8' });
const qemuName = !qemuVersion.error && qemuVersion.status === 0
  ? qemuVersion.stdout.split('\n')[0]!.replace(/^QEMU emulator version /, 'QEMU ').trim()
  : null;
// QEMU's floor: the same tiny ELF (it ends through the virt test finisher), no firmware.
const qemuHello: Row | null = qemuName === null ? null : {
  name: 'QEMU run hello.elf (-bios none)',
  node: null,
  argv: ['qemu-system-riscv64', '-M', 'virt', '-m', '256M', '-nographic', '-bios', 'none', '-kernel', HELLO],
  status: 0,
  expect: 'Hello',
  cpuSeconds: [],
};
if (qemuHello) rows.push(qemuHello);
let qemuBoot: Row | null = null;
if (haveLinux) {
  rows.push({ name: 'cyclevisor boot Linux (OpenSBI)', node: [cli], argv: [...linuxBoot, '--stats', 'json'], status: 0, expect: DONE, hostSeconds: [], cpuSeconds: [] });
  const vmFile = join(tmp, 'one-vm.yaml');
  writeFileSync(
    vmFile,
    `host: { harts: 1, ram: 512M }\nvms:\n  - name: nolibc\n    memory: 256M\n    kernel: ${KERNEL}\n    initrd: ${INITRD}\n    cmdline: console=ttyS0\n`,
  );
  rows.push({ name: 'cyclevisor host (one nolibc VM)', node: [cli], argv: ['host', vmFile], status: 0, expect: DONE, cpuSeconds: [] });
  if (qemuName !== null) {
    rows.push(qemuBoot = {
      name: `QEMU boot Linux (${qemuName})`,
      node: null,
      argv: ['qemu-system-riscv64', '-M', 'virt', '-m', '256M', '-nographic', '-bios', OPENSBI, '-kernel', KERNEL, '-initrd', INITRD, '-append', 'console=ttyS0'],
      status: 0,
      expect: DONE,
      cpuSeconds: [],
    });
  }
} else {
  console.log(`note: the Linux rows need ${KERNEL}, ${INITRD} and ${OPENSBI} (GUESTS=dir): skipped`);
}

/** CPU seconds used by this process's waited-for children so far (Linux /proc: cutime + cstime), or null. */
function childCpuSeconds(): number | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 of proc(5) (cutime, cstime), counted from 1 with pid and comm: 14 and 15 here.
    return (Number(f[13]) + Number(f[14])) / 100; // USER_HZ: 100 on Linux
  } catch {
    return null;
  }
}

function spawnRow(r: Row, extraNode: string[] = [], env: NodeJS.ProcessEnv = process.env) {
  const [cmd, args] = r.node === null ? [r.argv[0]!, r.argv.slice(1)] : [process.execPath, [...extraNode, ...r.node, ...r.argv]];
  const p = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, maxBuffer: 64 << 20 });
  if (p.status !== r.status || (r.expect !== undefined && !p.stdout.includes(r.expect))) {
    throw new Error(`${r.name}: exit ${p.status}${p.error ? ` (${p.error.message})` : ''}, stderr: ${p.stderr.slice(0, 300)}`);
  }
  return p;
}

const bench = new Bench({ iterations: runs, warmupIterations: 1, time: 0, warmupTime: 0 });
for (const r of rows) {
  let warm = true;
  bench.add(r.name, () => {
    const c0 = childCpuSeconds();
    const p = spawnRow(r);
    const c1 = childCpuSeconds();
    if (!warm && c0 !== null && c1 !== null) r.cpuSeconds.push(c1 - c0);
    if (r.hostSeconds) {
      // --stats json on stderr: the guest run's host time (the warm-up run is not kept).
      const stats = JSON.parse(p.stderr.slice(p.stderr.indexOf('{'))) as { hostSeconds?: number };
      if (!warm && typeof stats.hostSeconds === 'number') r.hostSeconds.push(stats.hostSeconds);
    }
    warm = false;
  });
}
await bench.run();

// Module counts: one more run of each CLI row under the loader hook (not timed).
for (const r of rows) {
  if (r.node === null || r.node[0] !== cli) continue;
  const log = join(tmp, 'modules.log');
  writeFileSync(log, '');
  spawnRow(r, ['--import', hook], { ...process.env, CYCLEVISOR_MODULE_LOG: log });
  r.modules = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('node:')).length;
}
rmSync(tmp, { recursive: true, force: true });

const fmt = (ms: number) => (ms / 1000).toFixed(3);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const table: string[][] = [['command', 'median s', 'min s', 'max s', 'cpu s', 'modules']];
const medians = new Map<string, number>();
for (const r of rows) {
  const t = bench.tasks.find((x) => x.name === r.name);
  const l = (t?.result as { latency?: { p50: number; min: number; max: number } } | undefined)?.latency;
  if (!l) throw new Error(`no result for ${r.name}`);
  medians.set(r.name, l.p50);
  table.push([r.name, fmt(l.p50), fmt(l.min), fmt(l.max), r.cpuSeconds.length > 0 ? median(r.cpuSeconds).toFixed(2) : '-', r.modules === undefined ? '-' : String(r.modules)]);
}
const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
const line = (row: string[]) => row.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ');
console.log(`CLI whole-process wall time (process start included), ${runs} runs each after 1 warm-up; CLI ${cli}`);
console.log('median/min/max: wall seconds; cpu s: median user+system CPU seconds of the process (all its threads)');
console.log(line(table[0]!));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of table.slice(1)) console.log(line(row));

const bootRow = rows.find((r) => r.hostSeconds !== undefined);
if (bootRow && bootRow.hostSeconds!.length > 0) {
  const wall = medians.get(bootRow.name)!;
  const host = median(bootRow.hostSeconds!) * 1000;
  console.log(`boot Linux: guest run (--stats host time) median ${fmt(host)} s; outside the run (start, set-up, exit) ${fmt(wall - host)} s of ${fmt(wall)} s`);
  if (qemuBoot) {
    const qWall = medians.get(qemuBoot.name)!;
    console.log(`boot Linux / QEMU, whole process each (issue 14's comparison): ${(wall / qWall).toFixed(2)}x`);
    if (qemuHello) {
      // The bar's arithmetic (docs/JIT.md "Stop 16"): each side's floor is its whole process for a
      // tiny ELF (start, set-up, exit); what the bar leaves for our guest run is compared with
      // QEMU's own boot less its floor.
      const floor = medians.get(helloRow.name)!;
      const qFloor = medians.get(qemuHello.name)!;
      const left = 1.25 * qWall - floor;
      const qRun = qWall - qFloor;
      console.log(
        `floors (run hello.elf, whole process): cyclevisor ${fmt(floor)} s, QEMU ${fmt(qFloor)} s; ` +
          `the 1.25x bar (${fmt(1.25 * qWall)} s) leaves ${fmt(left)} s past cyclevisor's floor, ` +
          `against ${fmt(qRun)} s of QEMU's boot past its own: ` +
          (left > 0 ? `${(qRun / left).toFixed(2)}x QEMU's speed needed` : 'the floor alone exceeds the bar'),
      );
    }
  }
}
const cpus = (await import('node:os')).cpus().length;
const load = (await import('node:os')).loadavg()[0]!.toFixed(2);
console.log(`machine: ${cpus} cores, load average ${load} at the end (other jobs move these figures; compare medians of one run)`);
