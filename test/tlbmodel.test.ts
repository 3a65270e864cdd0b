/**
 * The modeled TLB (assembly/tlbmodel.ts, src/tlbmodel.ts), driven through the real core: S-mode
 * programs over page tables written into RAM (test/helpers/paging.ts), with small geometries so
 * every counter can be worked out by hand.
 *
 * Conventions of these programs: code at CODE_VA (one 4 KiB page, non-global unless said
 * otherwise), data pages at DATA_VA + n × 4 KiB (physically contiguous at DATA_PA), one `ld` per
 * touched page, `ecall` at the end (trap to M-mode: not counted). The L1 TLB is split, so data
 * counts are exactly the loads; the fetch side walks once for the code page, which is why walk
 * totals below are "data walks + 1".
 */
import { describe, expect, it } from 'vitest';
import { errorOf } from './helpers/errors.js';
import { RAM_BASE, type Core } from '../src/core.js';
import * as L from '../src/generated/layout.js';
import { UserError } from '../src/errors.js';
import {
  DEFAULT_TLB_MODEL,
  TMC,
  TMS,
  addTlbStats,
  applyTlbModel,
  defaultTlbModel,
  readTlbStats,
  tlbConfigProblem,
  tlbModelEnabled,
  validateTlbModelConfig,
  writeTlbModelConfig,
  type TlbModelConfig,
  type TlbStats,
} from '../src/tlbmodel.js';
import { assemble, type Insn } from './helpers/core-harness.js';
import { A, D, G, PAGE, PageTables, R, V, W, X, bootS, li, type PageMap, type SatpMode } from './helpers/paging.js';

const CODE_VA = 0x4000_0000n;
const CODE_PA = BigInt(RAM_BASE + 0x20000);
const DATA_VA = 0x1000_0000n; // VPN 0x10000: even, so page n lands in set n mod sets
const DATA_PA = BigInt(RAM_BASE + 0x200000); // 2 MiB aligned: also usable as a megapage
const PAGE_N = BigInt(PAGE);

/** 4 entries, 2 ways (2 sets), LRU, split, no L2, no page-walk cache, 10 cycles per reference. */
function small(over: Partial<TlbModelConfig> = {}): TlbModelConfig {
  return {
    l1: { split: true, entries: 4, ways: 2 },
    l2: null,
    replacement: 'lru',
    seed: 1,
    asidTagging: true,
    pwcEntries: 0,
    walkLatency: 10,
    nestedTlbEntries: 0,
    ...over,
  };
}

const codeMap = (flags = V | R | X | A | D): PageMap => ({ va: CODE_VA, pa: CODE_PA, flags });
const dataMaps = (n: number): PageMap[] =>
  Array.from({ length: n }, (_, i) => ({ va: DATA_VA + BigInt(i) * PAGE_N, pa: DATA_PA + BigInt(i) * PAGE_N, flags: V | R | W | A | D }));
/** One `ld` from each page in `order` (x6 = address, x7 = value). */
const touch = (order: number[], reg = 6): Insn[] => order.flatMap((p) => [...li(reg, DATA_VA + BigInt(p) * PAGE_N), ['ld', { rd: 7, rs1: reg, imm: 0 }] as Insn]);

interface Run {
  cfg: TlbModelConfig | null;
  code: Insn[];
  maps?: PageMap[];
  mode?: SatpMode;
  asid?: number;
  maxInsns?: number;
  codeFlags?: bigint;
  /** mcause the run must end with (default 9: the program's ecall). */
  cause?: bigint;
}
function run(r: Run): { core: Core; stats: TlbStats } {
  const core = bootS({
    mode: r.mode ?? 8,
    maps: r.maps ?? [codeMap(r.codeFlags), ...dataMaps(8)],
    sCode: r.code,
    sCodeVa: CODE_VA,
    sCodePa: CODE_PA,
    asid: r.asid,
    maxInsns: r.maxInsns ?? 2000,
    beforeRun: (c) => {
      if (r.cfg) applyTlbModel(c, r.cfg, true);
    },
  });
  expect(core.x(28)).toBe(r.cause ?? 9n); // by default: the S-mode program ended with its ecall
  return { core, stats: readTlbStats(new DataView(core.ex.memory.buffer)) };
}
const hist = (entries: Record<number, number>): number[] => Array.from({ length: 8 }, (_, i) => entries[i] ?? 0);


// ------------------------------------------------------------------------------------------------
describe('configuration words and counters', () => {
  it('the U74-like default is representable: split 40-entry fully associative L1s, 512-entry L2', () => {
    expect(DEFAULT_TLB_MODEL).toEqual({
      l1: { split: true, entries: 40, ways: 40 },
      l2: { entries: 512, ways: 1, latency: 2 },
      replacement: 'lru',
      seed: 1,
      asidTagging: true,
      pwcEntries: 8,
      walkLatency: 3,
      nestedTlbEntries: 0,
    });
    expect(tlbConfigProblem(defaultTlbModel())).toBeNull();
    const a = defaultTlbModel();
    a.l1.entries = 8;
    expect(defaultTlbModel().l1.entries).toBe(40);
    expect(Object.isFrozen(DEFAULT_TLB_MODEL)).toBe(true);
  });

  it('writes TMC_* words at TM_CFG in the core order', () => {
    const view = new DataView(new ArrayBuffer(L.TM_CFG + 128));
    writeTlbModelConfig(view, { ...small({ replacement: 'random', seed: 0xdeadbeef, pwcEntries: 7, walkLatency: 9 }), l2: { entries: 64, ways: 4, latency: 5 } }, true);
    const w = (i: number) => view.getUint32(L.TM_CFG + 4 * i, true);
    expect([w(TMC.ENABLED), w(TMC.SPLIT), w(TMC.L1_SETS), w(TMC.L1_WAYS), w(TMC.L2_SETS), w(TMC.L2_WAYS)]).toEqual([1, 1, 2, 2, 16, 4]);
    expect([w(TMC.REPL), w(TMC.ASID), w(TMC.PWC), w(TMC.WALK_LAT), w(TMC.L2_LAT), w(TMC.SEED)]).toEqual([3, 1, 7, 9, 5, 0xdeadbeef]);
    expect(TMC.SEED).toBe(11);
    expect(tlbModelEnabled(view)).toBe(true);
    writeTlbModelConfig(view, small({ l1: { split: false, entries: 8, ways: 8 }, replacement: 'fifo', asidTagging: false }), false);
    expect([w(TMC.ENABLED), w(TMC.SPLIT), w(TMC.L1_SETS), w(TMC.L1_WAYS), w(TMC.L2_SETS), w(TMC.L2_WAYS), w(TMC.REPL), w(TMC.ASID), w(TMC.L2_LAT)]).toEqual([
      0, 0, 1, 8, 0, 0, 2, 0, 0,
    ]);
    expect(tlbModelEnabled(view)).toBe(false);
  });

  it('readTlbStats names every TMS_* counter', () => {
    const view = new DataView(new ArrayBuffer(L.TM_CNT + 8 * TMS.COUNT));
    for (let i = 0; i < TMS.COUNT; i++) view.setBigUint64(L.TM_CNT + 8 * i, BigInt(100 + i), true);
    view.setBigUint64(L.TM_CNT + 8 * TMS.WALK_CYCLES, 2n ** 40n + 3n, true);
    view.setUint32(L.TM_CFG + 4 * TMC.L2_SETS, 4, true);
    expect(readTlbStats(view)).toEqual({
      itlb: { accesses: 100, hits: 101, misses: 102, evictions: 103 },
      dtlb: { accesses: 104, hits: 105, misses: 106, evictions: 107 },
      l2: { accesses: 108, hits: 109, misses: 110, evictions: 111 },
      walks: 112,
      walkRefs: 113,
      walkCycles: 2 ** 40 + 3,
      pwc: { hits: 115, misses: 116 },
      flushes: { all: 117, asid: 118, vaddr: 119, vaddrAsid: 120, satp: 121 },
      faultWalks: 122,
      refsHistogram: [124, 125, 126, 127, 128, 129, 130, 131],
      adWrites: 137,
      nested: {
        walks: 132,
        vsRefs: 133,
        gRefs: 123, // TMS_GSTAGE_REFS (index 23)
        refs: 133 + 123,
        guestPageFaults: 134,
        adWrites: { vs: 135, g: 136 },
        ntlb: { hits: 138, misses: 139 },
        flushes: { vvma: 140, gvma: 141, vsatp: 142 },
        vsHistogram: Array.from({ length: 8 }, (_, i) => 148 + i),
        gHistogram: Array.from({ length: 36 }, (_, i) => 156 + i),
        totalHistogram: Array.from({ length: 36 }, (_, i) => 192 + i),
      },
    });
    expect(TMS.V_HIST_TOTAL + TMS.V_HIST_N).toBe(TMS.COUNT);
    view.setUint32(L.TM_CFG + 4 * TMC.L2_SETS, 0, true);
    expect(readTlbStats(view).l2).toBeNull();
  });

  it('readTlbStats of a hart save slot (counters only; the configuration is machine-wide) and addTlbStats', () => {
    const buf = new Uint8Array(L.TM_END + 0x1000);
    const view = new DataView(buf.buffer);
    const slot = L.TM_END; // a save slot begins with the counters
    view.setBigUint64(L.TM_CNT + 8 * TMS.D_MISS, 5n, true);
    view.setBigUint64(L.TM_CNT + 8 * (TMS.HIST + 3), 2n, true);
    view.setBigUint64(slot + 8 * TMS.D_MISS, 7n, true);
    view.setBigUint64(slot + 8 * (TMS.HIST + 3), 2n, true);
    const live = readTlbStats(view);
    const copy = readTlbStats(view, slot);
    expect([live.dtlb.misses, copy.dtlb.misses, live.l2, copy.l2]).toEqual([5, 7, null, null]);
    const sum = addTlbStats(live, copy);
    expect(sum.dtlb.misses).toBe(12);
    expect(sum.refsHistogram).toEqual(hist({ 3: 4 }));
    view.setUint32(L.TM_CFG + 4 * TMC.L2_SETS, 1, true); // an L2 is configured: both report it
    expect(readTlbStats(view, slot).l2).toEqual({ accesses: 0, hits: 0, misses: 0, evictions: 0 });
    expect(addTlbStats(live, live).l2).toBeNull();
  });

  it('validation: one-line UserErrors naming the key', () => {
    const bad = (over: Partial<TlbModelConfig>) => errorOf(() => validateTlbModelConfig(small(over)));
    expect(bad({ l1: { split: true, entries: 40, ways: 8 } })).toBe('"tlb.l1.entries" / "tlb.l1.ways" (40 / 8 = 5 sets) must be a power of two');
    expect(bad({ l1: { split: true, entries: 40, ways: 40 }, replacement: 'plru' })).toBe('"tlb.l1.ways" is 40; "plru" replacement needs a power of two up to 16');
    expect(bad({ l1: { split: true, entries: 2048, ways: 2 } })).toBe('"tlb.l1.entries" is 2048; it must be between 1 and 1024');
    expect(bad({ l1: { split: true, entries: 12, ways: 8 } })).toBe('"tlb.l1.entries" (12) must be a multiple of "tlb.l1.ways" (8)');
    expect(bad({ l1: { split: true, entries: 4, ways: 0 } })).toBe('"tlb.l1.ways" is 0; it must be between 1 and 4');
    expect(bad({ l2: { entries: 8192, ways: 8, latency: 1 } })).toBe('"tlb.l2.entries" is 8192; it must be between 1 and 4096');
    expect(bad({ l2: { entries: 4096, ways: 2, latency: 1 }, replacement: 'plru' })).toBe('"tlb.l2" has 2048 sets; "plru" replacement supports at most 1024');
    expect(bad({ l2: { entries: 512, ways: 1, latency: -1 } })).toBe('"tlb.l2.latency" is -1; it must be between 0 and 65535');
    expect(bad({ pwcEntries: 65 })).toBe('"tlb.pwcEntries" is 65; it must be between 0 and 64');
    expect(bad({ walkLatency: 1.5 })).toBe('"tlb.walkLatency" must be an integer, got 1.5');
    expect(bad({ seed: 2 ** 32 })).toBe('"tlb.seed" is 4294967296; it must be between 0 and 4294967295');
    expect(bad({ replacement: 'mru' as never })).toBe('"tlb.replacement" must be one of "lru", "plru", "fifo", "random", got "mru"');
    expect(() => writeTlbModelConfig(new DataView(new ArrayBuffer(L.TM_END)), small({ pwcEntries: 99 }), true)).toThrow(UserError);
    // Fully associative 1024 entries, and 16-way PLRU, are fine.
    expect(tlbConfigProblem(small({ l1: { split: false, entries: 1024, ways: 1024 } }))).toBeNull();
    expect(tlbConfigProblem(small({ l1: { split: true, entries: 64, ways: 16 }, replacement: 'plru', l2: { entries: 4096, ways: 4, latency: 0 } }))).toBeNull();
  });
});

// ------------------------------------------------------------------------------------------------
describe('hits, misses, evictions and walks (4 entries, 2 ways, LRU)', () => {
  it('Sv39: 6 pages twice thrash both sets; 3 references per 4 KiB walk', () => {
    // Set 0 gets pages 0, 2, 4 and set 1 pages 1, 3, 5: three pages cycling through two LRU ways
    // miss every time. Pass 1: 6 misses, pages 4 and 5 evict 0 and 1. Pass 2: 6 misses, 6 evictions.
    const { stats } = run({ cfg: small(), code: [...touch([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]), ['ecall']] });
    expect(stats.dtlb).toEqual({ accesses: 12, hits: 0, misses: 12, evictions: 8 });
    expect(stats.itlb.misses).toBe(1);
    expect(stats.itlb.evictions).toBe(0);
    expect(stats.walks).toBe(13);
    expect(stats.walkRefs).toBe(39);
    expect(stats.refsHistogram).toEqual(hist({ 3: 13 }));
    expect(stats.walkCycles).toBe(390);
    expect(stats.faultWalks).toBe(0);
    expect(stats.l2).toBeNull();
    expect(stats.flushes).toEqual({ all: 0, asid: 0, vaddr: 0, vaddrAsid: 0, satp: 0 });
  });

  it('Sv39: 4 pages twice fit: the second pass hits', () => {
    const { stats } = run({ cfg: small(), code: [...touch([0, 1, 2, 3, 0, 1, 2, 3]), ['ecall']] });
    expect(stats.dtlb).toEqual({ accesses: 8, hits: 4, misses: 4, evictions: 0 });
    expect(stats.walks).toBe(5);
    expect(stats.refsHistogram).toEqual(hist({ 3: 5 }));
  });

  it('LRU keeps the recently used page of a set: 0 2 0 4 0 misses 3 times, not 4', () => {
    // Set 0: 0 (miss), 2 (miss), 0 (hit: 2 becomes LRU), 4 (miss, evicts 2), 0 (hit).
    const { stats } = run({ cfg: small(), code: [...touch([0, 2, 0, 4, 0]), ['ecall']] });
    expect(stats.dtlb).toEqual({ accesses: 5, hits: 2, misses: 3, evictions: 1 });
  });

  it('Sv39 megapage: 2 references per walk, and one entry serves the whole 2 MiB (in its set)', () => {
    // The megapage entry lives in the set of the VPN that missed (splintering) but matches any VPN
    // of the megapage: page 0 misses (set 0), page 1 misses (set 1), every later page hits.
    const maps = [codeMap(), { va: DATA_VA, pa: DATA_PA, flags: V | R | W | A | D, level: 1 }];
    const { stats } = run({ cfg: small(), maps, code: [...touch([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]), ['ecall']] });
    expect(stats.dtlb).toEqual({ accesses: 12, hits: 10, misses: 2, evictions: 0 });
    expect(stats.walks).toBe(3);
    expect(stats.refsHistogram).toEqual(hist({ 2: 2, 3: 1 }));
    expect(stats.walkRefs).toBe(7);
    expect(stats.walkCycles).toBe(70);
  });

  it.each([
    [8, 3],
    [9, 4],
    [10, 5],
  ] as const)('satp mode %i: %i references per 4 KiB walk', (mode, refs) => {
    const { stats } = run({ cfg: small(), mode, code: [...touch([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]), ['ecall']] });
    expect(stats.dtlb.misses).toBe(12);
    expect(stats.walks).toBe(13);
    expect(stats.walkRefs).toBe(13 * refs);
    expect(stats.refsHistogram).toEqual(hist({ [refs]: 13 }));
    expect(stats.walkCycles).toBe(13 * refs * 10);
  });

  it('a faulting walk is counted and caches nothing', () => {
    // Page 9 is not mapped: the load walks (3 references, the leaf is invalid) and page-faults.
    const { core, stats } = run({ cfg: small(), code: [...touch([0, 9])], cause: 13n }); // load page fault
    expect(core.x(29)).toBe(DATA_VA + 9n * PAGE_N);
    expect(stats.dtlb).toEqual({ accesses: 2, hits: 0, misses: 2, evictions: 0 });
    expect(stats.walks).toBe(3);
    expect(stats.faultWalks).toBe(1);
    expect(stats.refsHistogram).toEqual(hist({ 3: 3 }));
  });

  it('unified L1: fetch and data share the TLB; the I-TLB counters stay zero', () => {
    const { stats } = run({ cfg: small({ l1: { split: false, entries: 4, ways: 2 } }), code: [...touch([0, 1, 0, 1]), ['ecall']] });
    expect(stats.itlb).toEqual({ accesses: 0, hits: 0, misses: 0, evictions: 0 });
    // Data: pages 0, 1 miss, then hit; plus the fetch accesses (all hits after the first).
    expect(stats.dtlb.misses).toBe(3);
    expect(stats.walks).toBe(3);
  });
});

// ------------------------------------------------------------------------------------------------
describe('page-walk cache', () => {
  it('the cached level-1 pointer cuts later walks in the same 2 MiB to 1 reference', () => {
    // Fetch walk: 3 references (caches CODE_VA's level-2 and level-1 pointers). Data page 0: the
    // cache has nothing for DATA_VA (another GiB): 3 references. Data walks 2..12: the level-1
    // pointer of DATA_VA's 2 MiB region is cached, only the leaf is read: 1 reference each.
    const { stats } = run({ cfg: small({ pwcEntries: 8 }), code: [...touch([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]), ['ecall']] });
    expect(stats.dtlb.misses).toBe(12);
    expect(stats.walks).toBe(13);
    expect(stats.walkRefs).toBe(3 + 3 + 11);
    expect(stats.refsHistogram).toEqual(hist({ 1: 11, 3: 2 }));
    expect(stats.pwc).toEqual({ hits: 11, misses: 2 });
    expect(stats.walkCycles).toBe(170);
  });

  it('Sv48 with the cache: 4 references, then 3 (shared level-3 pointer), then 1', () => {
    // CODE_VA and DATA_VA share the root entry (VA bits 47..39 = 0), so the fetch walk (4) caches
    // the level-3 pointer the first data walk uses (3); later data walks read only the leaf (1).
    const { stats } = run({ cfg: small({ pwcEntries: 8 }), mode: 9, code: [...touch([0, 1, 2, 3, 4, 5]), ['ecall']] });
    expect(stats.refsHistogram).toEqual(hist({ 1: 5, 3: 1, 4: 1 }));
    expect(stats.pwc).toEqual({ hits: 6, misses: 1 });
  });

  it('a level-2 pointer alone saves one reference (a second 2 MiB region in the same GiB)', () => {
    const far = 0x1040_0000n; // same 1 GiB as DATA_VA, another 2 MiB
    const maps = [codeMap(), ...dataMaps(1), { va: far, pa: DATA_PA + 0x10000n, flags: V | R | W | A | D }];
    const code: Insn[] = [...touch([0]), ...li(6, far), ['ld', { rd: 7, rs1: 6, imm: 0 }], ['ecall']];
    const { stats } = run({ cfg: small({ pwcEntries: 8 }), maps, code });
    expect(stats.refsHistogram).toEqual(hist({ 2: 1, 3: 2 }));
  });

  it('sfence.vma flushes the page-walk cache', () => {
    const code: Insn[] = [...touch([0]), ['sfence.vma', { rs1: 0, rs2: 0 }], ...touch([1]), ['ecall']];
    const { stats } = run({ cfg: small({ pwcEntries: 8 }), code });
    // fetch (3), page 0 (3), fence (TLBs and cache emptied), fetch again (3), page 1: without the
    // fence it would read only its leaf (1); after it, the whole walk (3).
    expect(stats.refsHistogram).toEqual(hist({ 3: 4 }));
    expect(stats.flushes.all).toBe(1);
  });
});

// ------------------------------------------------------------------------------------------------
describe('replacement policies', () => {
  // One set of 4 ways. A B C D fill it; A hits; E must evict one of them:
  //   LRU  evicts B (least recently used after A's hit),
  //   FIFO evicts A (first in; hits do not refresh it),
  //   PLRU evicts C (the tree bits point away from A's half, then away from D).
  const fill = [0, 1, 2, 3, 0, 4];
  const evicted = { lru: 1, fifo: 0, plru: 2 } as const;
  for (const policy of ['lru', 'fifo', 'plru'] as const) {
    it(`${policy} evicts page ${evicted[policy]}`, () => {
      for (const probe of [0, 1, 2, 3]) {
        const cfg = small({ l1: { split: true, entries: 4, ways: 4 }, replacement: policy });
        const { stats } = run({ cfg, code: [...touch([...fill, probe]), ['ecall']] });
        const missed = probe === evicted[policy] ? 1 : 0;
        expect({ probe, misses: stats.dtlb.misses }).toEqual({ probe, misses: 5 + missed });
        expect(stats.dtlb.evictions).toBe(1 + missed);
      }
    });
  }

  it('random: the same seed reproduces the run; the victim is xorshift32(seed) mod ways (seed 0 -> 0x9e3779b9)', () => {
    const order = [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7];
    const go = (seed: number) =>
      run({ cfg: small({ l1: { split: true, entries: 4, ways: 4 }, replacement: 'random', seed }), code: [...touch(order), ['ecall']] }).stats;
    // Reference model of one 4-way set (invalid ways first, then the core's xorshift32).
    const predict = (seed: number) => {
      let rng = (seed === 0 ? 0x9e3779b9 : seed) >>> 0;
      const ways: Array<number | null> = [null, null, null, null];
      let misses = 0;
      for (const p of order) {
        if (ways.includes(p)) continue;
        misses++;
        let v = ways.indexOf(null);
        if (v < 0) {
          rng = (rng ^ (rng << 13)) >>> 0;
          rng = (rng ^ (rng >>> 17)) >>> 0;
          rng = (rng ^ (rng << 5)) >>> 0;
          v = rng % 4;
        }
        ways[v] = p;
      }
      return misses;
    };
    const a = go(12345);
    expect(go(12345)).toEqual(a);
    expect(a.dtlb.misses).toBe(predict(12345));
    const seeds = [1, 2, 7, 1000, 0xfffffffe];
    const misses = seeds.map((s) => go(s).dtlb.misses);
    expect(misses).toEqual(seeds.map(predict));
    expect(new Set(misses).size).toBeGreaterThan(1);
  });
});

// Access page 0 under ASID 1, switch satp to ASID 2 (same tables), access it, switch back, access.
const satpWith = (asid: number): Insn[] => [...li(5, 0n), ['csrrs', { rd: 5, rs1: 0, imm: 0x180 }], ...li(9, 0xffffn << 44n), ['xori', { rd: 9, rs1: 9, imm: -1 }], ['and', { rd: 5, rs1: 5, rs2: 9 }], ...li(9, BigInt(asid) << 44n), ['or', { rd: 5, rs1: 5, rs2: 9 }], ['csrrw', { rd: 0, rs1: 5, imm: 0x180 }]];
const asidProgram: Insn[] = [...touch([0]), ...satpWith(2), ...touch([0]), ...satpWith(1), ...touch([0]), ['ecall']];

// ------------------------------------------------------------------------------------------------
describe('ASIDs and flushes', () => {
  it('tagging on: the ASID switch misses once, the switch back hits; no flush', () => {
    const { stats } = run({ cfg: small({ asidTagging: true }), asid: 1, codeFlags: V | R | X | A | D | G, code: asidProgram });
    expect(stats.dtlb).toEqual({ accesses: 3, hits: 1, misses: 2, evictions: 0 });
    expect(stats.flushes.satp).toBe(0);
    expect(stats.itlb.misses).toBe(1); // the code page is global
  });

  it('tagging off: every satp write (the prologue\'s too) drops the non-global entries', () => {
    const { stats } = run({ cfg: small({ asidTagging: false }), asid: 1, codeFlags: V | R | X | A | D | G, code: asidProgram });
    expect(stats.dtlb).toEqual({ accesses: 3, hits: 0, misses: 3, evictions: 0 });
    expect(stats.flushes).toEqual({ all: 0, asid: 0, vaddr: 0, vaddrAsid: 0, satp: 3 });
    expect(stats.itlb.misses).toBe(1); // global entries survive
  });

  // x6 = page 0, x8 = page 1 (another page), x18 = 1 (current ASID), x19 = 5 (another ASID).
  const regs: Insn[] = [...li(8, DATA_VA + PAGE_N), ...li(18, 1n), ...li(19, 5n)];
  const P: Insn = ['ld', { rd: 7, rs1: 6, imm: 0 }];
  const sfence = (rs1: number, rs2: number): Insn => ['sfence.vma', { rs1, rs2 }];
  const fenceProgram: Insn[] = [
    ...regs, ...li(6, DATA_VA), P,
    sfence(0, 0), P, //   all: miss
    sfence(6, 0), P, //   vaddr page 0: miss
    sfence(8, 0), P, //   vaddr page 1: hit
    sfence(0, 18), P, //  asid 1: miss
    sfence(0, 19), P, //  asid 5: hit when tagged
    sfence(6, 18), P, //  vaddr page 0 + asid 1: miss
    sfence(6, 19), P, //  vaddr page 0 + asid 5: hit when tagged
    ['ecall'],
  ];

  it('sfence.vma forms count into their own counters (tagging on)', () => {
    const { stats } = run({ cfg: small({ asidTagging: true }), asid: 1, code: fenceProgram });
    expect(stats.flushes).toEqual({ all: 1, asid: 2, vaddr: 2, vaddrAsid: 2, satp: 0 });
    expect(stats.dtlb).toEqual({ accesses: 8, hits: 3, misses: 5, evictions: 0 });
  });

  it('without ASID tags an ASID-specific fence cannot tell ASIDs apart', () => {
    const { stats } = run({ cfg: small({ asidTagging: false }), asid: 1, code: fenceProgram });
    expect(stats.flushes).toEqual({ all: 1, asid: 2, vaddr: 2, vaddrAsid: 2, satp: 1 });
    expect(stats.dtlb).toEqual({ accesses: 8, hits: 1, misses: 7, evictions: 0 });
  });

  it('an ASID fence keeps global entries; a vaddr fence drops them', () => {
    const maps = [codeMap(), { ...dataMaps(1)[0]!, flags: V | R | W | A | D | G }];
    const code: Insn[] = [...regs, ...li(6, DATA_VA), P, sfence(0, 18), P, sfence(6, 0), P, ['ecall']];
    const { stats } = run({ cfg: small(), asid: 1, maps, code });
    expect(stats.dtlb).toEqual({ accesses: 3, hits: 1, misses: 2, evictions: 0 });
  });

  it('a vaddr fence anywhere in a megapage drops the megapage entry', () => {
    const maps = [codeMap(), { va: DATA_VA, pa: DATA_PA, flags: V | R | W | A | D, level: 1 }];
    const code: Insn[] = [...li(8, DATA_VA + 0x1f_f000n), ...li(6, DATA_VA), P, P, sfence(8, 0), P, ['ecall']];
    const { stats } = run({ cfg: small(), maps, code });
    expect(stats.dtlb).toEqual({ accesses: 3, hits: 1, misses: 2, evictions: 0 });
    expect(stats.refsHistogram).toEqual(hist({ 2: 2, 3: 1 }));
  });
});

// ------------------------------------------------------------------------------------------------
describe('fetch side', () => {
  it('one I-TLB access per fetch block: entry, then each taken branch and jump', () => {
    // li t0, 10 / loop: addi t0, t0, -1 / bne t0, x0, loop (9 taken) / jal +8 (taken) / (skipped) / ecall
    const code: Insn[] = [
      ['addi', { rd: 5, rs1: 0, imm: 10 }],
      ['addi', { rd: 5, rs1: 5, imm: -1 }],
      ['bne', { rs1: 5, rs2: 0, imm: -4 }],
      ['jal', { rd: 0, imm: 8 }],
      ['addi', { rd: 6, rs1: 0, imm: 1 }],
      ['ecall'],
    ];
    const { core, stats } = run({ cfg: small(), code });
    expect(core.x(6)).toBe(0n);
    expect(stats.itlb).toEqual({ accesses: 1 + 9 + 1, hits: 10, misses: 1, evictions: 0 });
    expect(stats.dtlb.accesses).toBe(0);
    expect(stats.walks).toBe(1);
  });

  it('entering the next page is a new fetch block (and a second I-TLB miss)', () => {
    const start = CODE_VA + 0xff8n;
    const maps = [codeMap(), { va: CODE_VA + PAGE_N, pa: CODE_PA + PAGE_N, flags: V | R | X | A | D }];
    const core = bootS({
      mode: 8,
      maps,
      sCode: [['addi', { rd: 5, rs1: 0, imm: 1 }], ['addi', { rd: 5, rs1: 5, imm: 1 }], ['addi', { rd: 5, rs1: 5, imm: 1 }], ['ecall']],
      sCodeVa: start,
      sCodePa: CODE_PA + 0xff8n,
      beforeRun: (c) => applyTlbModel(c, small(), true),
    });
    expect(core.x(28)).toBe(9n);
    expect(core.x(5)).toBe(3n);
    expect(readTlbStats(new DataView(core.ex.memory.buffer)).itlb).toEqual({ accesses: 2, hits: 0, misses: 2, evictions: 0 });
  });

  it('M-mode accesses are not counted', () => {
    const { core } = run({ cfg: small(), code: [['ecall']] });
    // After the ecall the M-mode handler spun for the rest of the budget: nothing more counted.
    const s = readTlbStats(new DataView(core.ex.memory.buffer));
    expect(s.itlb.accesses).toBe(1);
    expect(core.instret).toBe(2000);
  });
});

// ------------------------------------------------------------------------------------------------
describe('L2 TLB', () => {
  it('L1 misses look up the L2; an L2 hit costs its latency and no walk', () => {
    // L1: 4 entries / 2 ways; L2: 16 entries, direct-mapped, 2 cycles. 6 pages twice: the L1
    // thrashes (12 misses), the L2 holds all 6 pages: pass 1 misses L2 (+ the fetch miss), pass 2
    // hits. Data page 0 (VPN 0x10000) and the code page (VPN 0x40000) share L2 set 0: 1 eviction.
    const cfg = small({ l2: { entries: 16, ways: 1, latency: 2 } });
    const { stats } = run({ cfg, code: [...touch([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]), ['ecall']] });
    expect(stats.dtlb).toEqual({ accesses: 12, hits: 0, misses: 12, evictions: 8 });
    expect(stats.l2).toEqual({ accesses: 13, hits: 6, misses: 7, evictions: 1 });
    expect(stats.walks).toBe(7);
    expect(stats.walkCycles).toBe(7 * 3 * 10);
  });
});

// ------------------------------------------------------------------------------------------------
describe('timing mode changes timing only', () => {
  // Three passes over 8 pages: load, add, store, AMO, LR/SC, and a load crossing into the next
  // page (two accesses); the L1 (4 entries) thrashes.
  const inner: Insn[] = [
    ['addi', { rd: 17, rs1: 6, imm: 2046 }],
    ['ld', { rd: 16, rs1: 17, imm: 2046 }],
    ['ld', { rd: 7, rs1: 6, imm: 8 }],
    ['addi', { rd: 7, rs1: 7, imm: 3 }],
    ['sd', { rs1: 6, rs2: 7, imm: 8 }],
    ['amoadd.d', { rd: 12, rs1: 6, rs2: 7 }],
    ['lr.d', { rd: 13, rs1: 6 }],
    ['sc.d', { rd: 14, rs1: 6, rs2: 13 }],
    ['lui', { rd: 15, imm: 0x1000 }],
    ['add', { rd: 6, rs1: 6, rs2: 15 }],
    ['addi', { rd: 11, rs1: 11, imm: -1 }],
  ];
  const head: Insn[] = [...li(6, DATA_VA), ['addi', { rd: 11, rs1: 0, imm: 8 }]];
  const code: Insn[] = [
    ['addi', { rd: 10, rs1: 0, imm: 3 }],
    ...head,
    ...inner,
    ['bne', { rs1: 11, rs2: 0, imm: -4 * inner.length }],
    ['addi', { rd: 10, rs1: 10, imm: -1 }],
    ['bne', { rs1: 10, rs2: 0, imm: -4 * (inner.length + 1 + 1 + head.length) }],
    ['ecall'],
  ];
  const snapshot = (core: Core) => ({
    x: Array.from({ length: 32 }, (_, i) => core.x(i)),
    pc: core.pc,
    priv: core.priv,
    instret: core.instret,
    classes: core.classCounts(),
    data: Array.from(core.readPhys(Number(DATA_PA), 9 * PAGE)),
  });

  it.each([
    ['no L2', small()],
    ['L2', small({ l2: { entries: 8, ways: 2, latency: 7 }, pwcEntries: 4 })],
    ['default', defaultTlbModel()],
  ] as const)('%s: registers and memory identical; cycles grow by the TLB costs exactly', (_, cfg) => {
    const maps = [codeMap(), ...dataMaps(9)];
    const off = run({ cfg: null, code, maps, maxInsns: 5000 });
    const on = run({ cfg, code, maps, maxInsns: 5000 });
    expect(snapshot(on.core)).toEqual(snapshot(off.core));
    const s = on.stats;
    expect(s.dtlb.accesses).toBe(3 * 8 * 7);
    expect(s.walks).toBeGreaterThan(0);
    const l2Cycles = s.l2 === null ? 0 : s.l2.accesses * cfg.l2!.latency;
    expect(on.core.cycles - off.core.cycles).toBe(s.walkCycles + l2Cycles);
    expect(s.walkCycles).toBe(s.walkRefs * cfg.walkLatency);
    expect(s.refsHistogram.reduce((a, b) => a + b, 0)).toBe(s.walks);
    // The model disabled: no counts at all.
    expect(off.stats.dtlb.accesses).toBe(0);
  });

  it('the model configured but disabled counts nothing', () => {
    const core = bootS({
      mode: 8,
      maps: [codeMap(), ...dataMaps(8)],
      sCode: [...touch([0, 1, 2]), ['ecall']],
      sCodeVa: CODE_VA,
      sCodePa: CODE_PA,
      beforeRun: (c) => applyTlbModel(c, small(), false),
    });
    const s = readTlbStats(new DataView(core.ex.memory.buffer));
    expect(s.itlb.accesses + s.dtlb.accesses + s.walks).toBe(0);
  });
});

// ------------------------------------------------------------------------------------------------
describe('regressions (bugs found in the model)', () => {
  it('loads that take the slow path do not start a new fetch block', () => {
    // Straight-line code (no redirect) loading from 6 fresh pages is one fetch block. The core
    // used to count 7: every host-TLB miss ended its block and the next boundary counted a fetch.
    const { stats } = run({ cfg: small(), code: [...touch([0, 1, 2, 3, 4, 5]), ['ecall']] });
    expect(stats.itlb).toEqual({ accesses: 1, hits: 0, misses: 1, evictions: 0 });
  });

  it('a misaligned load that crosses a page is two accesses, and both are charged', () => {
    // 8 bytes at page 0 + 0xffc: 4 in page 0, 4 in page 1 (both pages are translated).
    const code: Insn[] = [...li(6, DATA_VA + 0xffcn), ['ld', { rd: 7, rs1: 6, imm: 0 }], ['ecall']];
    const off = run({ cfg: null, code });
    const { core, stats } = run({ cfg: small(), code });
    expect(stats.dtlb).toEqual({ accesses: 2, hits: 0, misses: 2, evictions: 0 });
    expect(stats.walks).toBe(3);
    expect(core.x(7)).toBe(off.core.x(7));
    expect(core.cycles - off.core.cycles).toBe(stats.walkCycles);
  });

  it('the page-walk cache does not serve another address space after a satp switch', () => {
    // Tables A and B map DATA_VA through different table pages. Page-walk-cache entries carry no
    // ASID (or root): a satp write must empty the cache even with ASID tagging on, or the walk
    // under B "hits" A's level-1 pointer (1 reference instead of 3).
    const { stats } = runTwoSpaces();
    expect(stats.dtlb.misses).toBe(2);
    expect(stats.refsHistogram).toEqual(hist({ 3: 3 }));
    expect(stats.flushes.satp).toBe(0);
  });

  // Open: the fix for the first test (assembly/run.ts: `seqBreak = true` after a CSR instruction)
  // also stops counting the refetch after a satp write, so the I-TLB is not consulted again until
  // the next redirect although the code page's entry was dropped (tagging off) or belongs to
  // another ASID (tagging on). Flip to `it` when the core counts a fetch after satp writes.
  it('a satp write that drops the code page\'s entry is followed by a fetch that misses', () => {
    const { stats } = run({ cfg: small({ asidTagging: false }), asid: 1, code: asidProgram });
    expect(stats.itlb.misses).toBe(3);
  });
});

/**
 * Tables A (booted, ASID 1) and B (a second tree at +0x80000, ASID 2) both map CODE_VA (global) and
 * DATA_VA page 0. The program loads page 0, switches satp to B, loads page 0 again.
 */
function runTwoSpaces(): { stats: TlbStats } {
  const core = bootS({
    mode: 8,
    maps: [codeMap(V | R | X | A | D | G), ...dataMaps(1)],
    sCode: [['ecall']], // replaced in beforeRun, once satp B is known
    sCodeVa: CODE_VA,
    sCodePa: CODE_PA,
    asid: 1,
    maxInsns: 2000,
    beforeRun: (c, tablesA) => {
      const b = new PageTables(c, 8, tablesA.root + 0x80000n);
      b.map(codeMap(V | R | X | A | D | G)).map(dataMaps(1)[0]!);
      const code: Insn[] = [...touch([0]), ...li(5, b.satp(2)), ['csrrw', { rd: 0, rs1: 5, imm: 0x180 }], ...touch([0]), ['ecall']];
      c.writePhys(Number(CODE_PA), assemble(code));
      applyTlbModel(c, small({ pwcEntries: 8 }), true);
    },
  });
  expect(core.x(28)).toBe(9n);
  return { stats: readTlbStats(new DataView(core.ex.memory.buffer)) };
}
