/**
 * One point of an experiment or sweep: a flat configuration (axis name → value) and the function
 * that runs it and returns its measurements. Pure and deterministic: the same configuration gives
 * the same row on any machine, in any worker, in any order — which is what makes a sweep's results
 * identical through the local pool and through a Redis queue, and lets a crashed sweep resume.
 *
 * Axes (docs/EXPERIMENTS.md lists them with their defaults):
 *   workload  tlbwalk (test/guests/expts/tlbwalk.c: random loads over a working set)
 *   paging    native | nested | shadow (shadow: Linux workloads only, a VM of the VMM)
 *   sv        39 | 48            satp/vsatp Sv39/Sv48, hgatp Sv39x4/Sv48x4
 *   gpage     4K | 2M            G-stage leaf size (nested)
 *   ws        working set in 4 KiB pages (power of two, ≤ 16384)
 *   loads     random loads      seed   xorshift64 seed of the address stream
 *   l1        L1 TLB entries (split I/D, fully associative, LRU)
 *   l2        L2 TLB entries (direct-mapped, 2 cycles; 0 = none)
 *   pwc       page-walk cache entries (0..64)      ntlb  nested TLB entries (0..64)
 *   walkLatency  cycles per page-walk memory reference
 */
import { UserError } from '../errors.js';
import { defaultTiming } from '../timing.js';
import { tlbConfigProblem } from '../tlbmodel.js';
import { runTlbwalk } from './tlbwalk.js';
import { runXover } from './xover.js';

export type Scalar = string | number | boolean;
export type PointConfig = Record<string, Scalar>;
export type Metrics = Record<string, number | string>;

interface AxisSpec {
  default: Scalar;
  /** One-line problem with v, or null. */
  check(v: Scalar): string | null;
}

const oneOf = (...allowed: Scalar[]) => (v: Scalar) => (allowed.includes(v) ? null : `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
const intIn = (min: number, max: number) => (v: Scalar) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`;
const pow2 = (max: number) => (v: Scalar) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max && (v & (v - 1)) === 0 ? null : `must be a power of two from 1 to ${max}, got ${JSON.stringify(v)}`;

export const AXES: Readonly<Record<string, AxisSpec>> = Object.freeze({
  workload: { default: 'tlbwalk', check: oneOf('tlbwalk', 'xover') },
  paging: { default: 'nested', check: oneOf('native', 'nested', 'shadow') },
  sv: { default: 39, check: oneOf(39, 48) },
  gpage: { default: '4K', check: oneOf('4K', '2M') },
  ws: { default: 1024, check: pow2(16384) },
  loads: { default: 20000, check: intIn(1, 100_000_000) },
  seed: { default: 1, check: intIn(1, Number.MAX_SAFE_INTEGER) },
  l1: { default: 40, check: intIn(1, 1024) },
  l2: { default: 512, check: intIn(0, 4096) },
  pwc: { default: 8, check: intIn(0, 64) },
  ntlb: { default: 0, check: intIn(0, 64) },
  walkLatency: { default: 3, check: intIn(0, 65535) },
  // Linux workloads (workload: xover; ignored by tlbwalk, which makes no VM exits)
  exitCycles: { default: 90, check: intIn(0, 1_000_000) },
  entryCycles: { default: 120, check: intIn(0, 1_000_000) },
  thp: { default: 'never', check: oneOf('never', 'always', 'madvise') },
  ops: { default: 'fork:100,exec:50,mmap:100:16,tlb:200000:64', check: (v) => (typeof v === 'string' && /^(\w+(:\d+)*)(,\w+(:\d+)*)*$/.test(v) ? null : `must be a list like fork:100,mmap:100:16, got ${JSON.stringify(v)}`) },
});

/** The full configuration (defaults filled in), or a UserError naming the axis. `where` prefixes messages. */
export function normalizePoint(cfg: PointConfig, where = ''): PointConfig {
  const out: PointConfig = {};
  for (const k of Object.keys(cfg)) {
    if (!(k in AXES)) throw new UserError(`${where}unknown axis "${k}" (axes: ${Object.keys(AXES).join(', ')})`);
  }
  for (const [k, spec] of Object.entries(AXES)) {
    const v = cfg[k] ?? spec.default;
    const problem = spec.check(v);
    if (problem) throw new UserError(`${where}${k} ${problem}`);
    out[k] = v;
  }
  if (out['paging'] === 'shadow' && out['workload'] !== 'xover') {
    // tlbwalk is its own hypervisor (it writes hgatp and vsatp itself); shadow paging is the VMM's.
    throw new UserError(`${where}paging: shadow needs a workload that runs in a VM of cyclevisor's VMM (xover), not ${out['workload']}`);
  }
  const tlb = timingFor(out).tlb;
  const problem = tlbConfigProblem(tlb);
  if (problem) throw new UserError(`${where}${problem}`);
  return out;
}

function timingFor(c: PointConfig) {
  const t = defaultTiming();
  t.vmm = { exitCycles: c['exitCycles'] as number, entryCycles: c['entryCycles'] as number };
  const l1 = c['l1'] as number;
  const l2 = c['l2'] as number;
  t.tlb = {
    ...t.tlb,
    l1: { split: true, entries: l1, ways: l1 },
    l2: l2 === 0 ? null : { entries: l2, ways: 1, latency: 2 },
    replacement: 'lru',
    pwcEntries: c['pwc'] as number,
    nestedTlbEntries: c['ntlb'] as number,
    walkLatency: c['walkLatency'] as number,
  };
  return t;
}

const round = (x: number, digits = 4): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : 0);

/** Runs one (normalized) point. Throws on a guest that did not finish (a bug, not bad input). */
export function runPoint(cfg: PointConfig): Metrics {
  if (cfg['workload'] === 'xover') return runXoverPoint(cfg);
  const r = runTlbwalk(
    {
      nested: cfg['paging'] === 'nested',
      sv: cfg['sv'] as 39 | 48,
      gshift: cfg['gpage'] === '2M' ? 21 : 12,
      wsPages: cfg['ws'] as number,
      loads: cfg['loads'] as number,
      seed: BigInt(cfg['seed'] as number),
    },
    timingFor(cfg),
  );
  const t = r.tlb;
  const loads = cfg['loads'] as number;
  // Fewest and most references of one walk: the nested histogram (0..35) for guest walks, the
  // all-walks histogram (0..6, 7+) natively.
  const hist = cfg['paging'] === 'nested' ? t.nested.totalHistogram : t.refsHistogram;
  const used = hist.map((n, i) => (n > 0 ? i : -1)).filter((i) => i >= 0);
  return {
    sum: r.sum,
    loopCycles: r.loopCycles,
    loopInstret: r.loopInstret,
    cyclesPerLoad: round(r.loopCycles / loads),
    walks: t.walks,
    walkRefs: t.walkRefs,
    refsPerWalk: round(t.walkRefs / t.walks),
    walkCycles: t.walkCycles,
    nestedWalks: t.nested.walks,
    vsRefs: t.nested.vsRefs,
    gRefs: t.nested.gRefs,
    refsPerNestedWalk: t.nested.walks ? round(t.nested.refs / t.nested.walks) : 0,
    refsMin: used.length ? used[0]! : 0,
    refsMax: used.length ? used[used.length - 1]! : 0,
    dtlbMisses: t.dtlb.misses,
    l2Misses: t.l2 ? t.l2.misses : 0,
    pwcHits: t.pwc.hits,
    ntlbHits: t.nested.ntlb.hits,
    instret: r.instret,
    cycles: r.cycles,
  };
}

/** A Linux point: ns (= cycles at 1 GHz) per operation of every workload, plus exits and walks. */
function runXoverPoint(cfg: PointConfig): Metrics {
  const r = runXover({ paging: cfg['paging'] as 'native' | 'nested' | 'shadow', thp: cfg['thp'] as 'never', ops: cfg['ops'] as string }, timingFor(cfg));
  const m: Metrics = { thpReported: r.thp };
  for (const [name, w] of Object.entries(r.workloads)) {
    m[`${name}Ops`] = w.ops;
    m[`${name}NsPerOp`] = round(w.ns / w.ops, 2);
  }
  return {
    ...m,
    exits: r.exits,
    exitCyclesTotal: r.exitCycles,
    instructions: r.instructions,
    walks: r.tlb.walks,
    walkRefs: r.tlb.walkRefs,
    nestedWalks: r.tlb.nested.walks,
    refsPerWalk: round(r.tlb.walkRefs / r.tlb.walks),
    ...Object.fromEntries(Object.entries(r.paging).filter(([, v]) => typeof v === 'number').map(([k, v]) => [k, v as number])),
  };
}
