// Run one program under a tier and print MIPS and the JIT's figures. TIER=interp|jit, RUNS=n (runs
// in one process: later runs reuse the module cache), OPT=0 (keep Liftoff), STATS=1. Experiments
// for docs/JIT.md.
import { readFileSync } from 'node:fs';
import { VirtMachine } from '../../src/board/virt.js';
import { useOptimizingCompiler, setDefaultTier } from '../../src/core.js';
if (process.env.OPT !== '0') useOptimizingCompiler();
setDefaultTier((process.env.TIER as 'jit') ?? 'jit');
for (let run = 0; run < Number(process.env.RUNS ?? 1); run++) {
  const m = new VirtMachine({ ramBytes: 128 << 20, onOutput: () => {} });
  m.loadElf(readFileSync(process.argv[2]), 'x');
  const t = performance.now();
  const u0 = process.cpuUsage();
  const r = m.runSync({});
  const u = process.cpuUsage(u0);
  const dt = process.env.WALL ? performance.now() - t : (u.user + u.system) / 1000; // CPU time unless WALL=1
  console.log(r.reason, m.core.instret, m.core.cycles, (m.core.instret / dt / 1000).toFixed(1), 'MIPS', dt.toFixed(0), 'ms');
  if (process.env.STATS) console.log(m.core.jit?.stats());
}
if (process.env.STATS) console.log((await import('../../src/jit/jit.js')).PROF);
