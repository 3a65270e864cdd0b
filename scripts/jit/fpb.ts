// fp-bench (test/guests/bin/fp-bench.elf) in one process under the default tier (CYCLEVISOR_TIER=interp for the
// interpreter): guest MIPS, class counts and the JIT's figures. Development measurement for docs/JIT.md; the
// benchmark figures come from `npm run bench:fp`.
import { readFileSync } from 'node:fs';
import { useOptimizingCompiler } from '../../src/core.js';
import { VirtMachine } from '../../src/board/virt.js';
useOptimizingCompiler();
const m = new VirtMachine({ ramBytes: 16 << 20 });
m.loadElf(readFileSync('test/guests/bin/fp-bench.elf'), 'fp-bench.elf');
const t = performance.now();
m.runSync();
const dt = performance.now() - t;
console.log((Number(m.core.instret) / dt / 1000).toFixed(1), 'MIPS', dt.toFixed(0), 'ms', JSON.stringify(m.core.classCounts()));
console.log(JSON.stringify(m.core.jit?.stats()));
