// Boot Linux in slices of SLICE instructions and print each slice's wall ms (phase profile).
import { useOptimizingCompiler, setDefaultTier } from '../../src/core.js';
import { linuxMachine } from './linux.js';
setDefaultTier((process.env.TIER as 'jit') ?? 'jit');
useOptimizingCompiler();
for (let run = 0; run < Number(process.env.RUNS ?? 1); run++) {
const m = linuxMachine('opensbi');
const slice = Number(process.env.SLICE ?? 10e6);
const row: string[] = [];
let tot = 0;
for (;;) {
  const t = performance.now();
  const i0 = m.core.instret;
  const r = m.runSync({ maxInsns: Number(i0) + slice });
  const dt = performance.now() - t;
  tot += dt;
  row.push(`${(Number(i0) / 1e6).toFixed(0)}M:${dt.toFixed(0)}`);
  if (r.reason !== 'max-insns' || m.core.instret >= Number(process.env.MAX ?? Infinity)) break;
}
console.log(row.join(' '), 'total', tot.toFixed(0), process.env.STATS ? JSON.stringify(m.core.jit?.stats()) : '');
}
