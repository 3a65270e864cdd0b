/**
 * `npm run bench:snapshot` (issue 12): snapshots and live migration, measured.
 *   1. A booted Linux + busybox guest (256 MiB, 2 vCPUs, run to its userland): snapshot file size,
 *      non-zero pages, save time (capture + compress + checksum) and restore time (decode + check +
 *      apply into a fresh host). Best of BENCH_RUNS.
 *   2. Live migration over loopback TCP between two hosts in this process, modeled link 1 Gbit/s:
 *      an idle guest (the same Linux at its shell prompt, waiting for input) and a memory-writing
 *      guest (bare metal, sweeping a 16 MiB buffer with stores without pause): rounds, pages per
 *      round, bytes, downtime (host cycles of the stop-and-copy round on the link; wall ms) and
 *      total time.
 * Environment: BENCH_RUNS (default 3), GUESTS (the images' directory).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useOptimizingCompiler } from '../src/core.js';
import { Host } from '../src/hypervisor/host.js';
import { HostRunner } from '../src/hypervisor/runner.js';
import { loadHostConfig } from '../src/hypervisor/config.js';
import { restoreVm, saveVm } from '../src/hypervisor/snapshot.js';
import type { MigrationReport } from '../src/hypervisor/control-api.js';
import { buildElf } from '../test/helpers/elf-writer.js';
import { assemble, type Insn } from '../test/helpers/core-harness.js';
import { li } from '../test/helpers/paging.js';

useOptimizingCompiler();

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const guests = process.env.GUESTS ?? join(root, '..', 'shared', 'guests');
const KERNEL = join(guests, 'linux-6.1-rv64.Image');
const BUSYBOX = join(guests, 'initramfs-busybox.cpio.gz');
const MiB = 1024 * 1024;
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
for (const f of [KERNEL, BUSYBOX]) {
  if (!existsSync(f)) {
    console.error(`bench:snapshot: ${f} not found (set GUESTS to the guest image directory)`);
    process.exit(2);
  }
}

// ------------------------------------------------------------------ 1. snapshot of a booted guest

function booted(): { host: Host; vm: ReturnType<Host['addVm']> } {
  const host = new Host({ harts: 1, ramBytes: 320 * MiB });
  const vm = host.addVm({ name: 'web', vcpus: 2, memoryBytes: 256 * MiB, kernel: KERNEL, initrd: BUSYBOX, cmdline: 'console=ttyS0' });
  // Booted: its shell prompt is out (the guest then waits for console input).
  while (!vm.outputText().includes('/ # ')) {
    const r = host.runSome({ maxHostCycles: 3e9, waitWhenPaused: true }, 100);
    if (r) throw new Error(`the guest ended before its prompt: ${JSON.stringify(r)}`);
  }
  return { host, vm };
}

const { host: h0, vm: v0 } = booted();
let best = { save: Infinity, restore: Infinity };
let size = 0;
let pages = 0;
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const { file, snapshot } = saveVm(h0, v0);
  const t1 = performance.now();
  size = file.length;
  pages = snapshot.ram.present.length;
  const h1 = new Host({ harts: 1, ramBytes: 320 * MiB });
  const v1 = h1.addVm({ ...v0.spec, autostart: false });
  const t2 = performance.now();
  restoreVm(h1, v1, file, 'bench');
  const t3 = performance.now();
  h1.close();
  best = { save: Math.min(best.save, t1 - t0), restore: Math.min(best.restore, t3 - t2) };
}
console.log(`snapshot of booted Linux + busybox (256 MiB, 2 vCPUs, at VM cycle ${v0.now}):`);
console.log(`  file ${(size / MiB).toFixed(2)} MiB; ${pages} of ${(256 * MiB) / 4096} pages non-zero (${((pages * 4096) / MiB).toFixed(1)} MiB before compression)`);
console.log(`  save ${best.save.toFixed(0)} ms, restore ${best.restore.toFixed(0)} ms (best of ${runs})`);
h0.close();

// ------------------------------------------------------------------ 2. migration: idle vs writing

/** A bare-metal VS guest storing to every page of a 16 MiB buffer, forever. */
function writerGuest(): Uint8Array {
  const head: Insn[] = [...li(8, 0x8010_0000n), ...li(9, 0x8110_0000n), ...li(10, 0n)];
  const body: Insn[] = [['sd', { rs1: 18, rs2: 10, imm: 0 }], ['addi', { rd: 10, rs1: 10, imm: 1 }], ...li(5, 4096n), ['add', { rd: 18, rs1: 18, rs2: 5 }]];
  const bodyLen = assemble(body).length;
  const outer: Insn[] = [['addi', { rd: 18, rs1: 8, imm: 0 }]];
  const outerLen = assemble(outer).length;
  const tail: Insn[] = [['bltu', { rs1: 18, rs2: 9, imm: -bodyLen }], ['jal', { rd: 0, imm: -(bodyLen + outerLen + 4) }]];
  const code = new Uint8Array(0x1000);
  code.set(assemble([...head, ...outer, ...body, ...tail]));
  return buildElf({ entry: 0x8000_0000n, segments: [{ paddr: 0x8000_0000n, data: code, section: '.text' }] });
}

const dir = mkdtempSync(join(tmpdir(), 'cv-bench-snap-'));
writeFileSync(join(dir, 'w.elf'), writerGuest());
const cases = [
  { what: 'idle Linux (busybox shell, 256 MiB)', vm: `{ name: web, vcpus: 2, memory: 256M, kernel: ${KERNEL}, initrd: ${BUSYBOX}, cmdline: "console=ttyS0" }`, ready: () => seen.includes('/ # ') },
  { what: 'memory-writing guest (16 MiB swept, 64 MiB)', vm: `{ name: web, memory: 64M, kernel: w.elf }`, ready: (r: HostRunner) => r.host.vms[0]!.now > 50_000_000 },
];
let seen = '';
let port = 27_000 + (process.pid % 3000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
for (const c of cases) {
  writeFileSync(join(dir, 's.yaml'), `host: { harts: 1, ram: 320M }\nvms:\n  - ${c.vm}\n`);
  writeFileSync(join(dir, 'd.yaml'), `host: { harts: 1, ram: 320M }\nvms:\n  - ${c.vm.replace(/ }$/, ', autostart: false }')}\n`);
  const uri = `tcp:127.0.0.1:${++port}`;
  seen = '';
  const dst = new HostRunner(loadHostConfig(join(dir, 'd.yaml')), { incoming: uri });
  const dDone = dst.run({ maxInsns: null, maxCycles: null, onConsole: () => {} });
  const src = new HostRunner(loadHostConfig(join(dir, 's.yaml')));
  const sDone = src.run({ maxInsns: null, maxCycles: null, onConsole: (_n, b) => (seen += Buffer.from(b).toString('latin1')) });
  while (!c.ready(src)) await sleep(10);
  const r: MigrationReport = await src.migrate('web', uri, {});
  await sDone;
  await dst.destroy('web');
  dst.interrupt();
  await dDone;
  src.close();
  dst.close();
  console.log(`migration at 1 Gbit/s, ${c.what}:`);
  console.log(`  ${r.rounds} pre-copy rounds, pages per round ${r.pagesPerRound.join(' ')}, ${(r.bytes / MiB).toFixed(2)} MiB sent`);
  console.log(`  downtime ${r.downtimeCycles} host cycles (${((r.downtimeCycles / 1e9) * 1e3).toFixed(2)} ms at 1 GHz), ${r.downtimeMs.toFixed(1)} ms wall; total ${r.totalCycles} cycles, ${r.totalMs.toFixed(0)} ms wall`);
}
rmSync(dir, { recursive: true, force: true });
