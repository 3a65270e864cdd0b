// Profile a Linux boot's first MAX instructions (default 70 M: the kernel phase) with V8's sampling
// profiler and print self time by function, the core's functions named from build/core.wat (a
// release build writes it) and the JIT's compiled code summed as "jit-code". RUNS=n boots n times
// in one process and profiles the last (RUNS=2: every module comes from the code cache, so
// compilation is nearly free). TIER=interp|jit, JIT_THRESH as usual. Experiments for docs/JIT.md.
import { Session } from 'node:inspector/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useOptimizingCompiler, setDefaultTier } from '../../src/core.js';
import { linuxMachine } from './linux.js';

setDefaultTier((process.env.TIER as 'jit') ?? 'jit');
useOptimizingCompiler();
const names: string[] = [];
for (const l of readFileSync(join(import.meta.dirname ?? '.', '../../build/core.wat'), 'utf8').split('\n')) {
  const m = /^\s*\((?:import "env" "\w+" )?\(?func \$([^\s)]+)/.exec(l);
  if (m) names.push(m[1]!.replace(/^assembly\//, ''));
}
interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }
const MAX = Number(process.env.MAX ?? 70e6);
const runs = Number(process.env.RUNS ?? 1);
const s = new Session();
s.connect();
await s.post('Profiler.enable');
await s.post('Profiler.setSamplingInterval', { interval: 100 });
for (let r = 0; r < runs; r++) {
  const m = linuxMachine('opensbi');
  const last = r === runs - 1;
  if (last) await s.post('Profiler.start');
  const t = performance.now();
  m.runSync({ maxInsns: MAX });
  console.log(`run ${r}: ${(performance.now() - t).toFixed(0)} ms for ${m.core.instret} instructions`);
  if (!last) continue;
  const { profile: p } = (await s.post('Profiler.stop')) as unknown as { profile: Profile };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  // The core is the wasm script whose run() (its function index from core.wat) has the most self
  // time; compiled modules are every other wasm script.
  const runIdx = names.indexOf('run/run');
  const runTime = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === `wasm-function[${runIdx}]`) runTime.set(cf.url, (runTime.get(cf.url) ?? 0) + p.timeDeltas[i]!);
  });
  const coreUrl = [...runTime].sort((a, b) => b[1] - a[1])[0]?.[0];
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const cf = byId.get(id)!.callFrame;
    const w = /^wasm-function\[(\d+)\]$/.exec(cf.functionName);
    const k = w ? (cf.url === coreUrl ? `core:${names[Number(w[1])] ?? w[1]}` : 'jit-code') : `${cf.functionName || '(anon)'} ${cf.url.split('/').pop()}:${cf.lineNumber}`;
    self.set(k, (self.get(k) ?? 0) + p.timeDeltas[i]!);
    total += p.timeDeltas[i]!;
  });
  console.log(`profiled ${(total / 1000).toFixed(0)} ms`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 25))) console.log((v / 1000).toFixed(1).padStart(8), k);
  if (m.core.jit) console.log(JSON.stringify(m.core.jit.stats()));
}
