/**
 * `npm run bench`: the performance figures, measured with tinybench in one process so ratios are
 * comparable on a noisy machine. Prints a table:
 *   - guest MIPS on the compute benchmark (test/guests/bin/cmark.elf, ~286 M instructions),
 *   - the same program as a VS-mode guest under G-stage translation (cmark-vs.elf: an M-mode
 *     prologue sets an identity Sv39x4 hgatp with 1 GiB leaves and mrets into VS-mode), and its
 *     MIPS as a share of the bare figure (H extension bar: >= 70 %),
 *   - the MMIO round trip: a guest load from a TypeScript device register and back, in ns
 *     (a loop of UART LSR loads minus the same loop loading from RAM, per access),
 *   - event scheduler operations per second (schedule + fire, and reschedule),
 *   - cyclevisor's VMM (issue 10's bar; bench/vmm.ts, best of 1 here, `npm run bench:vmm` for best
 *     of 3): guest MIPS in a VM vs the same guest bare (Linux + nolibc to power-off; goal >= 70 %),
 *     the Linux boot's wall time in a VM vs bare, the VM exit round trip (SBI call -> VMM -> guest)
 *     in ns. Skipped with one line when the shared guest images (../shared/guests) are missing.
 * Set BENCH_QUICK=1 for a shorter run (fewer iterations; same measurements).
 */
import { Bench } from 'tinybench';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useOptimizingCompiler, setDefaultTier } from '../src/core.js';
import * as L from '../src/generated/layout.js';
import { VirtMachine } from '../src/board/virt.js';
import { EventScheduler } from '../src/scheduler.js';
import { encode } from '../src/isa/encode.js';
import { missingGuestImage, vmmFigures, printVmmFigures } from './vmm.js';

// The interpreter's figures (the earlier issues' bars); the JIT row names its tier (issue 14).
setDefaultTier('interp');
useOptimizingCompiler();
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.env.BENCH_QUICK === '1';
const cmark = readFileSync(join(root, 'test/guests/bin/cmark.elf'));
const cmarkVs = readFileSync(join(root, 'test/guests/bin/cmark-vs.elf'));

// ------------------------------------------------------------------------------------------------
// Guest MIPS on the compute benchmark.
let cmarkInsns = 0;
function runCmark(): void {
  const m = new VirtMachine({ ramBytes: 16 << 20 });
  m.loadElf(cmark, 'cmark.elf');
  const r = m.runSync();
  if (r.code !== 0 || !m.outputText().includes('checksum=0xc1ad')) throw new Error(`cmark failed: ${m.outputText()}`);
  cmarkInsns = m.core.instret;
}

/** The same under the JIT tier (issue 14, docs/JIT.md). */
function runCmarkJit(): void {
  const m = new VirtMachine({ ramBytes: 16 << 20, tier: 'jit' });
  m.loadElf(cmark, 'cmark.elf');
  const r = m.runSync();
  if (r.code !== 0 || !m.outputText().includes('checksum=0xc1ad')) throw new Error(`cmark (jit) failed: ${m.outputText()}`);
  if (m.core.instret !== cmarkInsns && cmarkInsns !== 0) throw new Error('cmark: the tiers retired different counts');
}

/** QEMU 7.2 TCG on the same cmark.elf (wall seconds, best of 3), or null without qemu-system-riscv64. */
function qemuCmarkSeconds(): number | null {
  const probe = spawnSync('qemu-system-riscv64', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return null;
  let best: number | null = null;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const q = spawnSync('qemu-system-riscv64', ['-M', 'virt', '-nographic', '-bios', 'none', '-kernel', join(root, 'test/guests/bin/cmark.elf')], {
      encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const s = (performance.now() - t0) / 1000;
    if (q.status !== 0 || !q.stdout.includes('checksum=0xc1ad')) continue;
    if (best === null || s < best) best = s;
  }
  return best;
}

let cmarkVsInsns = 0;
function runCmarkVs(): void {
  const m = new VirtMachine({ ramBytes: 16 << 20 });
  m.loadElf(cmarkVs, 'cmark-vs.elf');
  const r = m.runSync();
  if (r.code !== 0 || !m.outputText().includes('checksum=0xc1ad')) throw new Error(`cmark-vs failed: ${m.outputText()}`);
  // It really ran as a guest: V = 1 when it exited (through the finisher, from VS-mode).
  if (m.core.getCsr(L.H_VIRT) !== 1n) throw new Error('cmark-vs did not run in VS-mode');
  cmarkVsInsns = m.core.instret;
}

// ------------------------------------------------------------------------------------------------
// MMIO round trip: the same 3-instruction loop, loading from the UART's LSR or from RAM.
const MMIO_LOOPS = 0x100000; // 1,048,576 (a lui-loadable count)
function loopProgram(base: number): Uint8Array {
  const words = [
    // a0 = the load address: the UART via lui, RAM via auipc (lui would sign-extend 0x8...).
    base >= 0x8000_0000 ? encode('auipc', { rd: 10, imm: base - 0x8000_0000 }) : encode('lui', { rd: 10, imm: base }),
    encode('addi', { rd: 0, rs1: 0, imm: 0 }),
    encode('lui', { rd: 11, imm: MMIO_LOOPS }),
    encode('addi', { rd: 0, rs1: 0, imm: 0 }),
    encode('lbu', { rd: 5, rs1: 10, imm: 5 }), // loop: load
    encode('addi', { rd: 11, rs1: 11, imm: -1 }),
    encode('bne', { rs1: 11, rs2: 0, imm: -8 }),
    // finisher: *(u32*)0x100000 = 0x5555
    encode('lui', { rd: 6, imm: 0x100000 }),
    encode('lui', { rd: 7, imm: 0x5000 }),
    encode('addi', { rd: 7, rs1: 7, imm: 0x555 }),
    encode('sw', { rs1: 6, rs2: 7, imm: 0 }),
  ];
  const b = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(b.buffer).setUint32(i * 4, w, true));
  return b;
}
const mmioProg = loopProgram(0x1000_0000);
const ramProg = loopProgram(0x8001_0000);
function runLoop(prog: Uint8Array): void {
  const m = new VirtMachine({ ramBytes: 1 << 20 });
  m.core.writePhys(0x80000000, prog);
  m.core.pc = 0x80000000n;
  const r = m.runSync();
  if (r.code !== 0) throw new Error('loop program failed');
}

// ------------------------------------------------------------------------------------------------
// Scheduler: schedule N events at pseudo-random cycles, then fire them all; and reschedule churn.
const SCHED_N = 100_000;
function schedFire(): void {
  const s = new EventScheduler();
  let fired = 0;
  const evs = Array.from({ length: 64 }, (_, i) => s.createEvent(`e${i}`, () => fired++, i & 3));
  let x = 12345;
  let now = 0;
  for (let i = 0; i < SCHED_N; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const ev = evs[i & 63];
    s.reschedule(ev, now + (x & 0xffff));
    if ((i & 63) === 63) {
      now += 0x8000;
      s.runDue(now);
    }
  }
  s.runDue(Infinity);
  if (fired === 0) throw new Error('no events fired');
}

async function main(): Promise<void> {
  const bench = new Bench({ iterations: quick ? 2 : 5, warmupIterations: 1, time: 0, warmupTime: 0 });
  bench
    .add('cmark (compute benchmark)', runCmark)
    .add('cmark, JIT tier', runCmarkJit)
    .add('cmark-vs (VS-mode guest, identity G stage)', runCmarkVs)
    .add('MMIO loop (UART LSR loads)', () => runLoop(mmioProg))
    .add('RAM loop (same loop, RAM loads)', () => runLoop(ramProg))
    .add(`scheduler (${SCHED_N} reschedules + fires)`, schedFire);
  await bench.run();

  const mean = (name: string): number => {
    const t = bench.tasks.find((x) => x.name.startsWith(name));
    const r = t?.result as { latency?: { mean: number } } | undefined;
    if (!r?.latency) throw new Error(`no result for ${name}`);
    return r.latency.mean; // ms
  };
  const cmarkMs = mean('cmark (');
  const mips = cmarkInsns / (cmarkMs / 1000) / 1e6;
  const vsMips = cmarkVsInsns / (mean('cmark-vs') / 1000) / 1e6;
  const jitMips = cmarkInsns / (mean('cmark, JIT') / 1000) / 1e6;
  const qemuS = qemuCmarkSeconds();
  const qemuMips = qemuS === null ? null : cmarkInsns / qemuS / 1e6;
  const mmioNs = ((mean('MMIO loop') - mean('RAM loop')) * 1e6) / MMIO_LOOPS;
  const schedOps = (SCHED_N * 2) / (mean('scheduler') / 1000);

  console.table(
    bench.tasks.map((t) => {
      const r = t.result as { latency?: { mean: number; rme: number } } | undefined;
      return { task: t.name, 'mean ms': r?.latency?.mean.toFixed(2), '± %': r?.latency?.rme.toFixed(1) };
    }),
  );
  console.table([
    { figure: 'guest MIPS (cmark)', value: mips.toFixed(1), bar: '>= 250' },
    { figure: 'guest MIPS (cmark, JIT tier)', value: jitMips.toFixed(1), bar: '' },
    { figure: 'JIT / interpreter (x)', value: (jitMips / mips).toFixed(2), bar: '>= 4' },
    { figure: 'QEMU TCG MIPS (cmark, wall incl. start)', value: qemuMips === null ? 'no qemu' : qemuMips.toFixed(1), bar: '' },
    { figure: 'JIT / QEMU (%)', value: qemuMips === null ? '-' : ((100 * jitMips) / qemuMips).toFixed(1), bar: '>= 50' },
    { figure: 'VS-guest MIPS (cmark-vs)', value: vsMips.toFixed(1), bar: '' },
    { figure: 'VS-guest / bare MIPS (%)', value: ((100 * vsMips) / mips).toFixed(1), bar: '>= 70' },
    { figure: 'MMIO round trip (ns)', value: mmioNs.toFixed(1), bar: '< 200' },
    { figure: 'scheduler ops/s (M)', value: (schedOps / 1e6).toFixed(2), bar: '' },
  ]);

  // cyclevisor's own VMM (issue 10): the bar's three figures.
  const missing = missingGuestImage();
  if (missing !== null) {
    console.log(`VMM figures skipped: ${missing} not found (the shared guest images; GUESTS= sets their directory)`);
    return;
  }
  const f = vmmFigures(1, quick ? 50_000 : 200_000);
  printVmmFigures(f);
  console.table([
    { figure: 'guest MIPS in a VM / bare (%)', value: (100 * f.mipsRatio).toFixed(1), bar: '>= 70' },
    { figure: 'Linux boot wall time, VM / bare', value: f.bootRatio.toFixed(2), bar: '' },
    { figure: 'VM exit round trip (ns)', value: f.exitNs.toFixed(0), bar: '' },
  ]);
}

await main();
