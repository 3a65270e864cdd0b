/**
 * `npm run bench:hooks`: what the host debugger costs (src/debug/hooks.ts, assembly/debug.ts),
 * measured with tinybench on the compute guest cmark-small.elf (3.4 M instructions):
 *   - hooks off (nothing armed: the run loop's one compare per block boundary),
 *   - one inactive code hook (a range on a page the guest never executes: armed, never stepping),
 *   - one active code hook on a hot function's first instruction (crc16: a callback per call; the
 *     blocks of its page are stepped one instruction at a time),
 *   - one inactive memory hook (a range the guest never touches: with any watch range armed every
 *     block is stepped, so this is the cost of memory hooks / gdb watchpoints in general),
 *   - one MMIO hook (the UART; a callback per device access).
 * Every variant must end with the same instruction count and cycles as the first (checked).
 * Set BENCH_QUICK=1 for fewer iterations.
 */
import { Bench } from 'tinybench';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useOptimizingCompiler } from '../src/core.js';
import { VirtMachine } from '../src/board/virt.js';
import { parseElf } from '../src/elf.js';
import { MachineDebug } from '../src/debug/hooks.js';

useOptimizingCompiler();
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.env.BENCH_QUICK === '1';
const elf = readFileSync(join(root, 'test/guests/bin/cmark-small.elf'));
const crc16 = parseElf(elf, 'cmark-small.elf').symbols.get('crc16')!;

let ref: { instret: number; cycles: number } | null = null;
// Callbacks ran (kept so the closures do work).
export let callbacks = 0;

function runWith(arm: (d: MachineDebug) => void): () => void {
  return () => {
    const m = new VirtMachine({ ramBytes: 2 << 20 });
    m.loadElf(elf, 'cmark-small.elf');
    arm(MachineDebug.of(m));
    const r = m.runSync();
    if (r.code !== 0) throw new Error(`cmark-small failed: ${m.outputText()}`);
    const got = { instret: m.core.instret, cycles: m.core.cycles };
    ref ??= got;
    if (got.instret !== ref.instret || got.cycles !== ref.cycles) throw new Error(`counts changed: ${JSON.stringify(got)} vs ${JSON.stringify(ref)}`);
  };
}

const variants: Array<[string, () => void]> = [
  ['hooks off', runWith(() => {})],
  ['one inactive code hook', runWith((d) => d.addCodeHook(() => { callbacks++; }, { begin: 0x1000n, end: 0x1fffn }))],
  ['active code hook (crc16 entry)', runWith((d) => d.addCodeHook(() => { callbacks++; }, { begin: crc16, end: crc16 }))],
  ['one inactive memory hook', runWith((d) => d.addMemHook('access', () => { callbacks++; }, { begin: 0x1000n, end: 0x1fffn }))],
  ['MMIO hook (UART)', runWith((d) => d.addMmioHook('access', () => { callbacks++; }, { begin: 0x1000_0000, end: 0x1000_00ff }))],
];

// The host is shared and noisy (other processes come and go for seconds): many short rounds that
// interleave the variants, and the fastest run of each counts (the one least disturbed).
const best = new Map<string, number>();
for (let round = 0; round < (quick ? 3 : 15); round++) {
  const bench = new Bench({ iterations: 2, warmupIterations: round === 0 ? 1 : 0, time: 0, warmupTime: 0 });
  for (const [name, fn] of variants) bench.add(name, fn);
  await bench.run();
  for (const t of bench.tasks) {
    const r = t.result as { latency?: { min: number } } | undefined;
    if (!r?.latency) throw new Error(`no result for ${t.name}`);
    best.set(t.name, Math.min(best.get(t.name) ?? Infinity, r.latency.min));
  }
}
const base = best.get('hooks off')!;
console.log(`cmark-small: ${ref!.instret} instructions per run (same count and cycles in every variant)`);
console.log('variant                              ms/run    MIPS   vs off');
for (const [name] of variants) {
  const ms = best.get(name)!;
  console.log(`${name.padEnd(34)} ${ms.toFixed(1).padStart(8)} ${(ref!.instret / ms / 1e3).toFixed(1).padStart(7)} ${(ms / base).toFixed(2).padStart(7)}x`);
}
