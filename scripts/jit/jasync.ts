// The JIT's compile modes on Node, through the board's async run path (VirtMachine.runAsync, as the
// page's worker runs): MODE=interp|sync|async, one ELF (argv[2]) or LINUX=1 (nolibc initramfs,
// builtin SBI, to power-off). Prints wall and process CPU time, MIPS and the JIT's figures.
// Experiments for docs/JIT.md "Browser and async compile"; one mode per process (the module
// cache is process-wide).
import { readFileSync } from 'node:fs';
import { VirtMachine, type VirtOptions } from '../../src/board/virt.js';
import { useOptimizingCompiler } from '../../src/core.js';
import { linuxMachine } from './linux.js';
useOptimizingCompiler();
const mode = process.env.MODE ?? 'async';
const opts: Partial<VirtOptions> = {
  tier: mode === 'interp' ? 'interp' : 'jit',
  jit: { async: mode === 'async', ...(process.env.JIT_THRESH ? { threshold: Number(process.env.JIT_THRESH) } : {}) },
};
let m: VirtMachine;
if (process.env.LINUX) m = linuxMachine('builtin', opts);
else {
  m = new VirtMachine({ ramBytes: 256 << 20, onOutput: () => {}, ...opts });
  m.loadElf(readFileSync(process.argv[2]!), 'x');
}
const c0 = process.cpuUsage();
const t = performance.now();
const r = await m.runAsync({ maxInsns: 2e9 });
const dt = performance.now() - t;
const cpu = process.cpuUsage(c0);
const cpuMs = (cpu.user + cpu.system) / 1000;
const j = m.core.jit?.stats();
console.log(
  `${mode.padEnd(6)} ${r.reason} ${m.core.instret} insns  wall ${dt.toFixed(0)} ms (${(m.core.instret / dt / 1000).toFixed(1)} MIPS)  cpu ${cpuMs.toFixed(0)} ms` +
    (j ? `  ${j.blocks} blocks, ${j.modules} modules, ${j.compileMs.toFixed(0)} ms compile, ${((100 * j.insns) / m.core.instret).toFixed(1)}% compiled, ${j.invalidations} invalidations` : '') +
    (j?.async ? `, async: ${j.async.installed} installed, ${j.async.dropped} dropped, wait ${(j.async.waitMs / Math.max(1, j.async.submitted)).toFixed(1)} ms avg / ${j.async.maxWaitMs.toFixed(0)} max` : ''),
);
