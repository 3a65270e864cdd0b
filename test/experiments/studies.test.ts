/**
 * The experiments' direction checks (studies.ts) can fail: fed rows that contradict the published
 * results, each report says so (the CLI then exits 1). The real rows come from the runs in
 * sweep.test.ts and docs/experiments/.
 */
import { describe, expect, it } from 'vitest';
import { STUDIES } from '../../src/experiments/studies.js';
import { normalizePoint } from '../../src/experiments/point.js';

const study = (name: string) => STUDIES.find((s) => s.name === name)!;

describe('experiment checks', () => {
  it('walk-refs: a nested Sv39 walk of 14 references is reported as disagreeing', () => {
    const s = study('walk-refs');
    const rows = s.points(true).map((c) => {
      const p = normalizePoint(c);
      const n = p['paging'] === 'native' ? (p['sv'] === 39 ? 3 : 4) : p['gpage'] === '2M' ? (p['sv'] === 39 ? 11 : 19) : p['sv'] === 39 ? 14 : 24;
      return { ...p, walks: 10, refsPerWalk: n, refsPerNestedWalk: n, refsMin: n, refsMax: n, vsRefs: 0, gRefs: 0 };
    });
    const checks = s.report(rows, true).checks;
    expect(checks.filter((c) => c.ok === false).map((c) => c.what)).toEqual(['Sv39 on Sv39x4, G 4K: every walk makes exactly 15 references']);
  });

  it('crossover: shadow faster on fork is not a crossover', () => {
    const s = study('crossover');
    const per = (paging: string, exit: number) => ({
      forkNsPerOp: paging === 'shadow' ? 100 : 200, // the wrong way round
      execNsPerOp: paging === 'shadow' ? 900 + exit : 600,
      mmapNsPerOp: paging === 'shadow' ? 150 + exit : 90,
      tlbNsPerOp: paging === 'nested' ? 110 : 94,
    });
    const rows = s.points(true).map((c) => {
      const p = normalizePoint(c);
      return { ...p, ...per(p['paging'] as string, p['exitCycles'] as number), thpReported: '[never]', exits: 0, exitCyclesTotal: 0, walks: 1, refsPerWalk: 1, instructions: 1, 'paging.shadow.misses': 0, 'paging.shadow.pt_writes': 0, 'paging.shadow.flushes': 0 };
    });
    const checks = s.report(rows, true).checks;
    expect(checks.filter((c) => c.what.endsWith('the crossover')).map((c) => c.ok)).toEqual([false, false, false]);
    expect(checks.find((c) => c.what.startsWith("shadow's PT-update-heavy costs grow"))!.ok).toBe(false); // fork does not grow
  });
});
