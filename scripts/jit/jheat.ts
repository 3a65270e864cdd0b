// Where a Linux boot's interpreted block entries are, by heat (docs/JIT.md "Why the boot is still
// slow"): boot (nolibc initramfs, OpenSBI) with the JIT at a threshold, stop after N instructions,
// and sum the block map's heat counts (interpreted entries of each block start, capped at the
// threshold) in buckets. THRESH (default 32000: below JE_NEVER, so nearly nothing compiles),
// N (default 68,000,000: the kernel's part of the boot), GUESTS=dir.
import { useOptimizingCompiler } from '../../src/core.js';
import * as L from '../../src/generated/layout.js';
import { linuxMachine } from './linux.js';
useOptimizingCompiler();
const m = linuxMachine('opensbi', { jit: { threshold: Number(process.env.THRESH ?? 32000) } });
m.runSync({ maxInsns: Number(process.env.N ?? 68_000_000) });
const dv = new DataView(m.core.ex.memory.buffer);
const edges = [1, 10, 100, 1000, 5000, 20000, Infinity];
const entries = edges.slice(1).map(() => 0);
const starts = edges.slice(1).map(() => 0);
let compiled = 0;
for (let a = L.JMAP_BASE; a < L.JMAP_BASE + L.JMAP_SIZE; a += 2) {
  const h = dv.getUint16(a, true);
  if (h >= L.JE_COMPILED) compiled++;
  if (h === 0 || h >= L.JE_COMPILED - 1) continue;
  const k = edges.findIndex((e, i) => h >= e && h < edges[i + 1]!);
  entries[k]! += h;
  starts[k]!++;
}
console.log('heat          interpreted entries  block starts');
edges.slice(0, -1).forEach((e, i) => console.log(`${e}-${edges[i + 1] === Infinity ? '' : edges[i + 1]! - 1}`.padEnd(14), String(entries[i]).padStart(19), String(starts[i]).padStart(13)));
console.log(`compiled block starts ${compiled}; instructions ${m.core.instret}, compiled ${m.core.jit?.stats().insns ?? 0}`);
