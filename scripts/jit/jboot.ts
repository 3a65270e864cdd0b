// Boot Linux (nolibc initramfs, OpenSBI or builtin) under a tier and print host time and the JIT's
// figures. TIER=interp|jit, BIOS=opensbi|builtin, RUNS=n (boots in one process), V8FLAGS, GUESTS=dir.
// Experiments for docs/JIT.md.
import { setFlagsFromString } from 'node:v8';
import { useOptimizingCompiler, setDefaultTier } from '../../src/core.js';
import { linuxMachine } from './linux.js';
setDefaultTier((process.env.TIER as 'jit') ?? 'jit');
useOptimizingCompiler();
if (process.env.V8FLAGS) setFlagsFromString(process.env.V8FLAGS);
for (let run = 0; run < Number(process.env.RUNS ?? 1); run++) {
  let out = '';
  const m = linuxMachine(process.env.BIOS === 'builtin' ? 'builtin' : 'opensbi', { onOutput: (c) => (out += Buffer.from(c).toString('latin1')) });
  if (process.env.V8FLAGS_AFTER) {
    m.runSync({ maxInsns: 1 }); // run() compiled (TurboFan) before the flags change
    setFlagsFromString(process.env.V8FLAGS_AFTER);
  }
  const t = performance.now();
  const u0 = process.cpuUsage();
  const r = m.runSync({ maxInsns: 1e9 });
  const u = process.cpuUsage(u0);
  const dt = process.env.WALL ? performance.now() - t : (u.user + u.system) / 1000; // CPU time unless WALL=1
  console.log(r.reason, out.includes('reboot: Power down'), m.core.instret, (m.core.instret / dt / 1000).toFixed(1), 'MIPS', dt.toFixed(0), 'ms');
  if (process.env.STATS) console.log(m.core.jit?.stats());
}
if (process.env.STATS) console.log((await import('../../src/jit/jit.js')).PROF);
