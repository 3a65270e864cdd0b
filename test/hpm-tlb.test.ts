/**
 * Zihpm events from the modeled TLB (assembly/hpm.ts; docs/EXTENSIONS.md "Performance counters"):
 * with the TLB model on, an S-mode program under Sv39 reads hpmcounter3..6 programmed for DTLB
 * misses / accesses, page walks and ITLB accesses, and the values equal the model's own counters
 * (TlbStats) at the same point. Without the model the same events stay 0.
 */
import { describe, expect, it } from 'vitest';
import { RAM_BASE, type Core } from '../src/core.js';
import * as L from '../src/generated/layout.js';
import { applyTlbModel, readTlbStats, type TlbModelConfig } from '../src/tlbmodel.js';
import type { Insn } from './helpers/core-harness.js';
import { A, D, PAGE, R, V, W, X, bootS, li, type PageMap } from './helpers/paging.js';

const CODE_VA = 0x4000_0000n;
const CODE_PA = BigInt(RAM_BASE + 0x20000);
const DATA_VA = 0x1000_0000n;
const DATA_PA = BigInt(RAM_BASE + 0x200000);
const cfg: TlbModelConfig = {
  l1: { split: true, entries: 4, ways: 2 }, l2: null, replacement: 'lru', seed: 1, asidTagging: true,
  pwcEntries: 0, walkLatency: 10, nestedTlbEntries: 0,
};
const maps: PageMap[] = [
  { va: CODE_VA, pa: CODE_PA, flags: V | R | X | A | D },
  ...Array.from({ length: 4 }, (_, i) => ({ va: DATA_VA + BigInt(i * PAGE), pa: DATA_PA + BigInt(i * PAGE), flags: V | R | W | A | D })),
];
const csrr = (rd: number, csr: number): Insn => ['csrrs', { rd, rs1: 0, imm: csr }];
type Hpm = { hpmEventSet(n: number, ev: bigint): void; hpmCounterRead(n: number): bigint };

function runWith(model: boolean): { core: Core; got: bigint[] } {
  // Three loads from three pages, one of them twice; then the counters (one csrr each, no
  // data access in between), then ecall.
  const touch = [0, 1, 2, 1].flatMap((p) => [...li(6, DATA_VA + BigInt(p * PAGE)), ['ld', { rd: 7, rs1: 6, imm: 0 }] as Insn]);
  const code: Insn[] = [...touch, csrr(20, 0xc03), csrr(21, 0xc04), csrr(22, 0xc05), ['ecall']];
  const core = bootS({
    mode: 8, maps, sCode: code, sCodeVa: CODE_VA, sCodePa: CODE_PA, maxInsns: 2000,
    beforeRun: (c) => {
      if (model) applyTlbModel(c, cfg, true);
      const ex = c.ex as unknown as Hpm;
      ex.hpmEventSet(3, 0x10019n); // DTLB misses
      ex.hpmEventSet(4, 0x10018n); // DTLB accesses
      ex.hpmEventSet(5, 0x20003n); // page walks
      c.setCsr(L.H_MCOUNTEREN, 0x38n); // S-mode may read hpmcounter3..5
    },
  });
  expect(core.x(28)).toBe(9n); // ended with the S-mode ecall, no counter read trapped
  return { core, got: [core.x(20), core.x(21), core.x(22)] };
}

describe('hpm counters over the modeled TLB', () => {
  it('DTLB misses / accesses and walks read from S-mode equal the model\'s counters', () => {
    const { core, got } = runWith(true);
    const st = readTlbStats(new DataView(core.ex.memory.buffer));
    // Three distinct pages: 3 misses; 4 loads: 4 accesses (nothing else accessed data).
    expect(got).toEqual([3n, 4n, BigInt(st.walks)]);
    expect(st.dtlb.misses).toBe(3);
    expect(st.dtlb.accesses).toBe(4);
    expect(st.walks).toBeGreaterThanOrEqual(4); // the 3 data walks and at least the code page's
  });

  it('without the model the TLB events stay 0', () => {
    expect(runWith(false).got).toEqual([0n, 0n, 0n]);
  });
});
