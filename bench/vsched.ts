/**
 * vCPU scheduler decisions per second (src/hypervisor/scheduler.ts), with tinybench:
 * `npx tsx bench/vsched.ts` (BENCH_QUICK=1: fewer iterations). Not yet part of `npm run bench`
 * (bench/index.ts): `vschedDecisions` is exported for it.
 *
 * Workload: 4 host harts, 8 VMs (weights 128..1024, two with caps) with 2-4 vCPUs each (24
 * vCPUs), a third of them sleepers (WFI for 3 slices after 1/3 of a slice), driven in the exact
 * round model (a decision at every slice end, wake and WFI). One "decision" is one schedule() call.
 */
import { Bench } from 'tinybench';
import { pathToFileURL } from 'node:url';
import { VcpuScheduler } from '../src/hypervisor/scheduler.js';

const SLICE = 1_000_000;
export const DECISIONS = 20_000;

/** Runs DECISIONS schedule() calls of the workload; returns the host cycles simulated. */
export function vschedDecisions(): number {
  const s = new VcpuScheduler({ harts: 4, slice: SLICE });
  const sleeper: boolean[] = [];
  const left: number[] = [];
  for (let vm = 0; vm < 8; vm++) {
    s.addVm(vm, { weight: 128 << vm % 4, cap: vm === 3 ? 120 : vm === 6 ? 50 : undefined });
    for (let k = 0; k < 2 + (vm % 3); k++) {
      const id = s.addVcpu(vm);
      sleeper[id] = id % 3 === 2;
      left[id] = SLICE / 3;
    }
  }
  let now = 0;
  for (let n = 0; n < DECISIONS; n++) {
    const plan = s.schedule(now);
    let end = s.nextDecisionAt();
    for (const a of plan) if (a.vcpu >= 0 && sleeper[a.vcpu]) end = Math.min(end, now + left[a.vcpu]!);
    for (const a of plan) {
      if (a.vcpu < 0 || !sleeper[a.vcpu]) continue;
      if (now + left[a.vcpu]! <= end) {
        s.block(a.vcpu, now + left[a.vcpu]!, now + left[a.vcpu]! + 3 * SLICE);
        left[a.vcpu] = SLICE / 3;
      } else left[a.vcpu]! -= end - now;
    }
    now = end;
  }
  return now;
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const bench = new Bench({ iterations: quick ? 3 : 10, warmupIterations: 2, time: 0, warmupTime: 0 });
  bench.add(`vCPU scheduler (${DECISIONS} decisions, 4 harts, 24 vCPUs)`, vschedDecisions);
  await bench.run();
  const t = bench.tasks[0]!;
  const r = t.result as { latency?: { mean: number; rme: number } } | undefined;
  if (!r?.latency) throw new Error('no result');
  const perSec = DECISIONS / (r.latency.mean / 1000);
  console.table([
    { figure: 'vCPU scheduler decisions/s (k)', value: (perSec / 1e3).toFixed(0), '± %': r.latency.rme.toFixed(1) },
    { figure: 'ns per decision', value: (1e9 / perSec).toFixed(0), '± %': '' },
  ]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
