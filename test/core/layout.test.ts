/**
 * The linear-memory datasheet (assembly/layout.ts) is a chain: each region ends before the next
 * begins. Growing one (the H extension took the host TLB from 3 to 5 regime sets per hart) must not
 * run into its neighbour; this checks every link of the chain.
 */
import { describe, expect, it } from 'vitest';
import * as L from '../../src/generated/layout.js';

describe('linear-memory layout', () => {
  const regions: Array<[string, number, number]> = [
    ['hart state', L.HART_BASE, L.HART_BASE + L.HART_SIZE],
    ['run control', L.CTL_BASE, L.CTL_BASE + L.CTL_SIZE],
    ['latencies', L.LAT_BASE, L.LAT_BASE + L.LAT_SIZE],
    ['class counts', L.CLS_BASE, L.CLS_BASE + L.CLS_SIZE],
    ['host debugger', L.DBG_BASE, L.DBG_END],
    ['hart save slots', L.HART_SAVE_BASE, L.HART_SAVE_BASE + L.MAX_HARTS * L.HART_SIZE],
    ['code map', L.CODEMAP_BASE, L.CODEMAP_BASE + L.CODEMAP_SIZE],
    ['watch table', L.WATCH_BASE, L.WATCH_BASE + L.WATCH_SIZE],
    ['frame tags', L.FTAG_BASE, L.FTAG_BASE + L.FTAG_SIZE],
    ['modeled TLB', L.TM_BASE, L.TM_END],
    ['decoded frames + scratch', L.FRAME_BASE, L.SCRATCH_SLOT + L.SCRATCH_SIZE],
    ['host TLB (every hart, 5 regimes)', L.TLB_BASE, L.TLB_END],
    ['modeled-TLB save slots', L.TM_SAVE_BASE, L.TM_SAVE_END],
    ['static data', L.DATA_BASE, L.RAM_OFFSET],
  ];

  it('the hart fields fit in the hart block', () => {
    expect(L.HART_END).toBeLessThanOrEqual(L.HART_BASE + L.HART_SIZE);
  });

  it('the host TLB has a VS and a VU set per hart', () => {
    expect(L.TLB_SETS).toBe(5);
    expect(L.TLB_END - L.TLB_BASE).toBe(L.MAX_HARTS * L.TLB_SETS * L.TLB_SET_SIZE);
  });

  it.each(regions.slice(1).map((r, i) => [regions[i]![0], r[0], i] as const))('%s ends before %s begins', (_a, _b, i) => {
    const [, , end] = regions[i]!;
    const [, start] = regions[i + 1]!;
    expect(end).toBeLessThanOrEqual(start);
  });
});
