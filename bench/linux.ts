/**
 * `npm run bench:linux`: boot Linux 6.1 with the nolibc initramfs to power-off (the guest images in
 * <repo>/../shared/guests/, see its README) and report wall time and guest MIPS for
 *   - `--bios builtin` (host SBI) and OpenSBI fw_dynamic,
 *   - fast mode and timing mode (the modeled TLB with the timing defaults, src/tlbmodel.ts),
 * and QEMU's wall time for the same images in the same run when qemu-system-riscv64 is installed
 * (best of 3), with the ratio cyclevisor / QEMU.
 *
 * If VirtMachine does not act on `mode: 'timing'` yet (the model stays disabled), the table says
 * so and adds a row with the model enabled by the bench itself (applyTlbModel after boot set-up).
 * Environment: BENCH_RUNS (cyclevisor runs per row, best of; default 1), QEMU_RUNS (default 3),
 * GUESTS (the images' directory).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useOptimizingCompiler } from '../src/core.js';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { applyTlbModel, readTlbStats, tlbModelEnabled, type TlbStats } from '../src/tlbmodel.js';

useOptimizingCompiler();

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const guests = process.env.GUESTS ?? join(root, '..', 'shared', 'guests');
const KERNEL = join(guests, 'linux-6.1-rv64.Image');
const INITRD = join(guests, 'initramfs-nolibc.cpio.gz');
const OPENSBI = join(guests, 'opensbi-fw_dynamic.bin');
const APPEND = 'console=ttyS0';
const RAM = 256 << 20;
const MAX_INSNS = 1_000_000_000;
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 1));
const qemuRuns = Math.max(1, Number(process.env.QEMU_RUNS ?? 3));
/** What a successful boot prints last (guests README). */
const DONE = 'reboot: Power down';

for (const f of [KERNEL, INITRD, OPENSBI]) {
  if (!existsSync(f)) {
    console.error(`bench:linux: ${f} not found (set GUESTS to the guest image directory)`);
    process.exit(2);
  }
}

type Bios = 'builtin' | 'opensbi';
type Mode = 'fast' | 'timing' | 'timing*' | 'fast+jit';
interface Row {
  bios: Bios;
  mode: Mode;
  ok: boolean;
  insns: number;
  cycles: number;
  seconds: number;
  tlb: TlbStats | null;
  note?: string;
}

/** One boot; `forceModel` enables the TLB model from the bench (when VirtMachine does not). */
function boot(bios: Bios, mode: 'fast' | 'timing', forceModel: boolean, tier: 'interp' | 'jit' = 'interp'): Row & { modelOn: boolean } {
  let out = '';
  const m = new VirtMachine({ ramBytes: RAM, mode, tier, onOutput: (c) => (out += Buffer.from(c).toString('latin1')) });
  bootLinux(m, { bios: bios === 'builtin' ? 'builtin' : OPENSBI, kernel: KERNEL, initrd: INITRD, append: APPEND });
  const view = () => new DataView(m.core.ex.memory.buffer);
  if (forceModel) applyTlbModel(m.core, m.timing.tlb, true);
  const modelOn = tlbModelEnabled(view());
  const t0 = performance.now();
  const r = m.runSync({ maxInsns: MAX_INSNS });
  const seconds = (performance.now() - t0) / 1000;
  const ok = r.reason === 'exit' && r.code === 0 && out.includes(DONE);
  return {
    bios,
    mode: tier === 'jit' ? 'fast+jit' : forceModel ? 'timing*' : mode,
    ok,
    insns: m.core.instret,
    cycles: m.core.cycles,
    seconds,
    tlb: modelOn || tlbModelEnabled(view()) ? readTlbStats(view()) : null,
    modelOn,
    ...(ok ? {} : { note: `${r.reason} ${r.code}${r.message ? `: ${r.message}` : ''}` }),
  };
}

function best(bios: Bios, mode: 'fast' | 'timing', forceModel: boolean, tier: 'interp' | 'jit' = 'interp'): Row & { modelOn: boolean } {
  let b: (Row & { modelOn: boolean }) | null = null;
  for (let i = 0; i < runs; i++) {
    const r = boot(bios, mode, forceModel, tier);
    if (b === null || r.seconds < b.seconds) b = r;
  }
  return b!;
}

// ------------------------------------------------------------------------------------------------
const rows: Row[] = [];
const notes: string[] = [];
let timingHonoured: boolean | null = null;
for (const bios of ['builtin', 'opensbi'] as const) {
  rows.push(best(bios, 'fast', false));
  // The JIT tier (issue 14, docs/JIT.md) on the same boot, in the same run.
  rows.push(best(bios, 'fast', false, 'jit'));
  const t = best(bios, 'timing', false);
  timingHonoured ??= t.modelOn || t.tlb !== null;
  if (timingHonoured) {
    rows.push(t);
  } else {
    rows.push({ ...t, note: 'model not enabled: VirtMachine ignores mode "timing"' });
    rows.push(best(bios, 'timing', true));
  }
}
if (timingHonoured === false) {
  notes.push(
    'VirtMachine({ mode: "timing" }) has no effect yet: the modeled TLB stayed disabled, so the "timing" rows',
    'are fast-mode runs. "timing*" rows enable the model from the bench (applyTlbModel(core, timing.tlb, true)).',
  );
}

// QEMU: same kernel, initrd and OpenSBI (QEMU has no host SBI: both bios rows compare to it).
let qemuSeconds: number | null = null;
let qemuNote = '';
const probe = spawnSync('qemu-system-riscv64', ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  qemuNote = 'qemu-system-riscv64 not installed: no QEMU column';
} else {
  const args = ['-M', 'virt', '-m', '256M', '-nographic', '-bios', OPENSBI, '-kernel', KERNEL, '-initrd', INITRD, '-append', APPEND];
  for (let i = 0; i < qemuRuns; i++) {
    const t0 = performance.now();
    const q = spawnSync('qemu-system-riscv64', args, { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
    const s = (performance.now() - t0) / 1000;
    if (q.status !== 0 || !q.stdout.includes(DONE)) {
      qemuNote = `QEMU run ${i + 1} failed (status ${q.status}${q.error ? `, ${q.error.message}` : ''})`;
      continue;
    }
    if (qemuSeconds === null || s < qemuSeconds) qemuSeconds = s;
  }
  qemuNote = `${probe.stdout.split('\n')[0]?.trim()}, best of ${qemuRuns}${qemuNote ? `; ${qemuNote}` : ''}`;
}

// ------------------------------------------------------------------------------------------------
const fmt = (n: number, d = 2) => n.toFixed(d);
const group = (n: number) => Math.round(n).toLocaleString('en-US');
const table: string[][] = [['bios', 'mode', 'result', 'guest insns', 'wall s', 'MIPS', 'vs QEMU']];
for (const r of rows) {
  table.push([
    r.bios,
    r.mode,
    r.ok ? 'power-off' : `FAILED`,
    group(r.insns),
    fmt(r.seconds),
    fmt(r.insns / r.seconds / 1e6, 1),
    qemuSeconds === null ? '-' : `${fmt(r.seconds / qemuSeconds, 1)}x`,
  ]);
}
if (qemuSeconds !== null) table.push(['opensbi', 'QEMU', 'power-off', '-', fmt(qemuSeconds), '-', '1.0x']);
const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
const line = (r: string[]) => r.map((v, c) => (c >= 3 ? v.padStart(widths[c]!) : v.padEnd(widths[c]!))).join('  ');
console.log(`Linux 6.1 boot to power-off (nolibc initramfs, ${RAM >> 20} MiB), best of ${runs} per row`);
console.log(line(table[0]!));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of table.slice(1)) console.log(line(r));
console.log(`QEMU: ${qemuNote}`);
if (qemuSeconds !== null) console.log('note: "vs QEMU" compares every row with QEMU booting the same kernel and initrd with OpenSBI (QEMU has no host SBI)');
for (const r of rows) if (r.note) console.log(`note: ${r.bios}/${r.mode}: ${r.note}`);
for (const n of notes) console.log(`note: ${n}`);

// TLB model figures of the timing runs.
for (const r of rows) {
  if (r.tlb === null) continue;
  const t = r.tlb;
  const pct = (h: number, a: number) => (a > 0 ? `${((100 * h) / a).toFixed(2)}%` : '-');
  const fast = rows.find((x) => x.bios === r.bios && x.mode === 'fast');
  console.log(
    `tlb ${r.bios}/${r.mode}: itlb ${pct(t.itlb.hits, t.itlb.accesses)} hit (${group(t.itlb.misses)} misses), ` +
      `dtlb ${pct(t.dtlb.hits, t.dtlb.accesses)} hit (${group(t.dtlb.misses)} misses), ` +
      `l2 ${t.l2 ? pct(t.l2.hits, t.l2.accesses) : '-'} hit; ${group(t.walks)} walks, ` +
      `${t.walks > 0 ? (t.walkRefs / t.walks).toFixed(2) : '-'} refs/walk, ${group(t.walkCycles)} walk cycles; ` +
      `cycles ${group(r.cycles)}${fast ? ` (fast: ${group(fast.cycles)})` : ''}`,
  );
}
if (rows.some((r) => !r.ok)) process.exitCode = 1;
