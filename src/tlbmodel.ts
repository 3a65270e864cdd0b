/**
 * The host side of the modeled TLB (timing mode; assembly/tlbmodel.ts): its configuration, the
 * configuration words the core reads, and its exact counters.
 *
 * The model never translates: the architectural walker in assembly/mmu.ts does, always. The model
 * only decides whether each translated access would hit in an L1 (instruction / data, or unified)
 * TLB, an optional L2 TLB, or needs a page walk, and charges the cost of a miss in cycles (L2
 * latency, and `walkLatency` per page-walk memory reference not saved by the page-walk cache).
 * docs/TIMING.md ("Modeled TLB") says what is counted and when.
 *
 * Default geometry: the SiFive U74 (HiFive Unmatched FU740, VisionFive 2 JH7110) — see
 * DEFAULT_TLB_MODEL below for the source of each number and which ones are assumptions.
 */
import * as L from './generated/layout.js';
import { UserError } from './errors.js';

export type TlbReplacement = 'lru' | 'plru' | 'fifo' | 'random';
export const TLB_REPLACEMENTS: readonly TlbReplacement[] = ['lru', 'plru', 'fifo', 'random'];

export interface TlbModelConfig {
  /** First-level TLB(s): one for fetch and one for data (split) or one unified TLB. */
  l1: { split: boolean; entries: number; ways: number };
  /** Optional second-level, unified TLB; `latency` cycles are added to every L1 miss that reaches it. */
  l2: { entries: number; ways: number; latency: number } | null;
  /** Replacement policy of every TLB in the model (the page-walk cache is always LRU). */
  replacement: TlbReplacement;
  /** Seed of the `random` policy's xorshift32 generator (the core uses `seed | 1`). */
  seed: number;
  /** Entries carry the ASID; off = every satp write drops the non-global entries. */
  asidTagging: boolean;
  /** Page-walk cache entries (non-leaf PTEs), 0..64; 0 = none. */
  pwcEntries: number;
  /** Cycles per page-walk memory reference. */
  walkLatency: number;
  /**
   * Nested TLB entries, 0..64 (0 = none): G-stage translations of guest page-table pages, used by
   * the two-dimensional walks of V=1 accesses (H extension) beside the page-walk cache.
   */
  nestedTlbEntries: number;
}

/** Limits of the core's arrays (assembly/layout.ts TM_*). */
export const TLB_LIMITS = Object.freeze({
  l1Entries: 1024,
  l2Entries: 4096,
  /** Tree-PLRU keeps one u16 of bits per set: ways ≤ 16, and 1024 sets per TLB. */
  plruWays: 16,
  plruSets: 1024,
  pwcEntries: 64,
  nestedTlbEntries: 64,
  /** Latencies are u32 words in the core; a sane upper bound for a per-event cost. */
  latency: 65535,
  seed: 0xffffffff,
});

/**
 * SiFive U74-like defaults.
 *
 *  - L1: split I/D, 40 entries each, fully associative (one set of 40 ways). Source: the FU740 and
 *    JH7110 device trees in Linux (arch/riscv/boot/dts/sifive/fu740-c000.dtsi,
 *    arch/riscv/boot/dts/starfive/jh7110.dtsi), U74 harts: `i-tlb-size = <40>; i-tlb-sets = <1>;
 *    d-tlb-size = <40>; d-tlb-sets = <1>; tlb-split;`. One set is a power of two, so the geometry is
 *    representable exactly (with any policy but PLRU, which needs a power-of-two way count).
 *  - Replacement: LRU. **Assumption**: SiFive does not document the policy; true LRU is the
 *    textbook choice for a small fully associative TLB.
 *  - L2: 512 entries, direct-mapped, 2 cycles. **Assumption**: the U7 core has a unified second-level
 *    TLB (its PMU counts "UTLB miss" events next to ITLB and DTLB misses: the JH7110 device tree's
 *    riscv,event-to-mhpmevent table), but its size is not published; 512 direct-mapped entries is
 *    the rocket-chip family's usual L2 TLB (`nL2TLBEntries = 512`, `nL2TLBWays = 1`).
 *  - Page-walk cache: 8 entries. **Assumption**: rocket-chip's PTW default (`nPTECacheEntries = 8`).
 *  - Walk latency: 3 cycles per reference. **Assumption**: page-table reads hit the L1 data cache,
 *    whose load latency is 3 (LLVM SiFive7Model `LoadLatency = 3`, as for the `load` class).
 *  - ASID tagging on: the core implements 16 writable satp.ASID bits, so Linux switches address
 *    spaces without fences and a tagged TLB is the consistent model.
 *  - Nested TLB: none (the U74 has no H extension); an option for studying two-dimensional walks.
 */
export const DEFAULT_TLB_MODEL: Readonly<TlbModelConfig> = Object.freeze({
  l1: Object.freeze({ split: true, entries: 40, ways: 40 }),
  l2: Object.freeze({ entries: 512, ways: 1, latency: 2 }),
  replacement: 'lru' as TlbReplacement,
  seed: 1,
  asidTagging: true,
  pwcEntries: 8,
  walkLatency: 3,
  nestedTlbEntries: 0,
}) as Readonly<TlbModelConfig>;

/** A fresh, mutable copy of the defaults. */
export function defaultTlbModel(): TlbModelConfig {
  const d = DEFAULT_TLB_MODEL;
  return {
    l1: { ...d.l1 },
    l2: d.l2 === null ? null : { ...d.l2 },
    replacement: d.replacement,
    seed: d.seed,
    asidTagging: d.asidTagging,
    pwcEntries: d.pwcEntries,
    walkLatency: d.walkLatency,
    nestedTlbEntries: d.nestedTlbEntries,
  };
}

const isPow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/**
 * The first problem with `cfg` as one line naming the key (`"tlb.l1.ways" ...`), or null when the
 * core can model it. Keys are named with the `tlb.` prefix the timing file uses.
 */
export function tlbConfigProblem(cfg: TlbModelConfig): string | null {
  const int = (key: string, v: unknown, min: number, max: number): string | null => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return `"tlb.${key}" must be an integer, got ${String(v)}`;
    if (v < min || v > max) return `"tlb.${key}" is ${v}; it must be between ${min} and ${max}`;
    return null;
  };
  const plru = cfg.replacement === 'plru';
  const geometry = (name: 'l1' | 'l2', entries: number, ways: number, maxEntries: number): string | null => {
    const p = int(`${name}.entries`, entries, 1, maxEntries) ?? int(`${name}.ways`, ways, 1, entries);
    if (p) return p;
    if (entries % ways !== 0) return `"tlb.${name}.entries" (${entries}) must be a multiple of "tlb.${name}.ways" (${ways})`;
    const sets = entries / ways;
    if (!isPow2(sets)) {
      return `"tlb.${name}.entries" / "tlb.${name}.ways" (${entries} / ${ways} = ${sets} sets) must be a power of two`;
    }
    if (plru && (!isPow2(ways) || ways > TLB_LIMITS.plruWays)) {
      return `"tlb.${name}.ways" is ${ways}; "plru" replacement needs a power of two up to ${TLB_LIMITS.plruWays}`;
    }
    if (plru && sets > TLB_LIMITS.plruSets) {
      return `"tlb.${name}" has ${sets} sets; "plru" replacement supports at most ${TLB_LIMITS.plruSets}`;
    }
    return null;
  };
  if (!(TLB_REPLACEMENTS as readonly string[]).includes(cfg.replacement)) {
    return `"tlb.replacement" must be one of ${TLB_REPLACEMENTS.map((r) => `"${r}"`).join(', ')}, got ${JSON.stringify(cfg.replacement)}`;
  }
  if (typeof cfg.l1.split !== 'boolean') return `"tlb.l1.split" must be true or false`;
  if (typeof cfg.asidTagging !== 'boolean') return `"tlb.asidTagging" must be true or false`;
  return (
    geometry('l1', cfg.l1.entries, cfg.l1.ways, TLB_LIMITS.l1Entries) ??
    (cfg.l2 === null
      ? null
      : geometry('l2', cfg.l2.entries, cfg.l2.ways, TLB_LIMITS.l2Entries) ?? int('l2.latency', cfg.l2.latency, 0, TLB_LIMITS.latency)) ??
    int('pwcEntries', cfg.pwcEntries, 0, TLB_LIMITS.pwcEntries) ??
    int('nestedTlbEntries', cfg.nestedTlbEntries, 0, TLB_LIMITS.nestedTlbEntries) ??
    int('walkLatency', cfg.walkLatency, 0, TLB_LIMITS.latency) ??
    int('seed', cfg.seed, 0, TLB_LIMITS.seed)
  );
}

/** Throws a one-line UserError naming the key when the core cannot model `cfg`. */
export function validateTlbModelConfig(cfg: TlbModelConfig): void {
  const p = tlbConfigProblem(cfg);
  if (p !== null) throw new UserError(p);
}

// Configuration word indices (assembly/tlbmodel.ts TMC_*), u32 at TM_CFG + 4*i.
export const TMC = Object.freeze({
  ENABLED: 0,
  SPLIT: 1,
  L1_SETS: 2,
  L1_WAYS: 3,
  L2_SETS: 4,
  L2_WAYS: 5,
  REPL: 6,
  ASID: 7,
  PWC: 8,
  WALK_LAT: 9,
  L2_LAT: 10,
  SEED: 11,
  NTLB: 12,
});

// Counter indices (assembly/tlbmodel.ts TMS_*), u64 at TM_CNT + 8*i.
export const TMS = Object.freeze({
  I_ACCESS: 0,
  I_HIT: 1,
  I_MISS: 2,
  I_EVICT: 3,
  D_ACCESS: 4,
  D_HIT: 5,
  D_MISS: 6,
  D_EVICT: 7,
  L2_ACCESS: 8,
  L2_HIT: 9,
  L2_MISS: 10,
  L2_EVICT: 11,
  WALKS: 12,
  WALK_REFS: 13,
  WALK_CYCLES: 14,
  PWC_HIT: 15,
  PWC_MISS: 16,
  FLUSH_ALL: 17,
  FLUSH_ASID: 18,
  FLUSH_VADDR: 19,
  FLUSH_VADDR_ASID: 20,
  FLUSH_SATP: 21,
  FAULT_WALKS: 22,
  GSTAGE_REFS: 23,
  HIST: 24,
  V_WALKS: 32,
  V_VS_REFS: 33,
  V_GPF: 34,
  V_AD_VS: 35,
  V_AD_G: 36,
  AD_WRITES: 37,
  NTLB_HIT: 38,
  NTLB_MISS: 39,
  FLUSH_VVMA: 40,
  FLUSH_GVMA: 41,
  FLUSH_VSATP: 42,
  V_HIST_VS: 48,
  V_HIST_G: 56,
  V_HIST_TOTAL: 92,
  /** Buckets of the G-stage and total histograms of two-dimensional walks (0..35). */
  V_HIST_N: 36,
  COUNT: 128,
});

const REPL_CODE: Record<TlbReplacement, number> = { lru: 0, plru: 1, fifo: 2, random: 3 };

/**
 * Writes the configuration words the core reads (validating `cfg` first). The core reads most of
 * them on every access, so call `tlbModelReset()` right after: it clears the entries and counters
 * and reseeds the random policy, and a geometry change without it leaves entries in the wrong sets.
 * `enabled` = false turns the model off (timing mode off: no access is counted or charged).
 */
export function writeTlbModelConfig(view: DataView, cfg: TlbModelConfig, enabled: boolean): void {
  validateTlbModelConfig(cfg);
  const w = (i: number, v: number) => view.setUint32(L.TM_CFG + 4 * i, v >>> 0, true);
  w(TMC.ENABLED, enabled ? 1 : 0);
  w(TMC.SPLIT, cfg.l1.split ? 1 : 0);
  w(TMC.L1_SETS, cfg.l1.entries / cfg.l1.ways);
  w(TMC.L1_WAYS, cfg.l1.ways);
  w(TMC.L2_SETS, cfg.l2 === null ? 0 : cfg.l2.entries / cfg.l2.ways);
  w(TMC.L2_WAYS, cfg.l2 === null ? 0 : cfg.l2.ways);
  w(TMC.REPL, REPL_CODE[cfg.replacement]);
  w(TMC.ASID, cfg.asidTagging ? 1 : 0);
  w(TMC.PWC, cfg.pwcEntries);
  w(TMC.WALK_LAT, cfg.walkLatency);
  w(TMC.L2_LAT, cfg.l2 === null ? 0 : cfg.l2.latency);
  w(TMC.SEED, cfg.seed);
  w(TMC.NTLB, cfg.nestedTlbEntries);
}

/** Something with core.wasm's exports (a `Core`). */
export interface TlbModelHost {
  ex: { memory: WebAssembly.Memory; tlbModelReset(): void };
}

/** Configure and (re)start the model: writeTlbModelConfig + tlbModelReset (counters to zero). */
export function applyTlbModel(core: TlbModelHost, cfg: TlbModelConfig, enabled: boolean): void {
  writeTlbModelConfig(new DataView(core.ex.memory.buffer), cfg, enabled);
  core.ex.tlbModelReset();
}

/** Whether the configuration word ENABLED is set (timing mode is consulting the model). */
export function tlbModelEnabled(view: DataView): boolean {
  return view.getUint32(L.TM_CFG + 4 * TMC.ENABLED, true) !== 0;
}

export interface TlbCounters {
  accesses: number;
  hits: number;
  misses: number;
  evictions: number;
}

export interface TlbStats {
  /** Fetch-side L1 TLB (all zero with a unified L1, whose counts are in `dtlb`). */
  itlb: TlbCounters;
  /** Data-side L1 TLB, or the unified L1 TLB. */
  dtlb: TlbCounters;
  /** The L2 TLB, null when the model has none. */
  l2: TlbCounters | null;
  /** Page walks (including the ones that ended in a page fault). */
  walks: number;
  /** Page-walk memory references, in total. */
  walkRefs: number;
  /** Cycles charged for page walks (walkRefs × walkLatency). */
  walkCycles: number;
  /** refsHistogram[n] = walks that made n memory references (index 7: 7 or more). */
  refsHistogram: number[];
  /** Page-walk cache: walks that started below the root thanks to it, and walks that did not. */
  pwc: { hits: number; misses: number };
  /** TLB flushes by cause: sfence.vma forms (x0/x0, x0/asid, va/x0, va/asid) and satp writes. */
  flushes: { all: number; asid: number; vaddr: number; vaddrAsid: number; satp: number };
  /** Walks that ended in a page fault or a guest-page fault (nothing is cached for them). */
  faultWalks: number;
  /** A/D updates made by V=0 walks (PTE writes, not counted as references). */
  adWrites: number;
  /** The two-dimensional walks of V=1 accesses (H extension), also counted in the totals above. */
  nested: NestedWalkStats;
}

export interface NestedWalkStats {
  /** Walks made with V=1. */
  walks: number;
  /** VS-stage PTE reads, G-stage PTE reads (of VS-stage PTE addresses and final GPAs), their sum. */
  vsRefs: number;
  gRefs: number;
  refs: number;
  /** Walks by VS-stage references (0..7, the last bucket 7 or more). */
  vsHistogram: number[];
  /** Walks by G-stage references and by total references (0..35; Sv57 on Sv57x4 makes at most 35). */
  gHistogram: number[];
  totalHistogram: number[];
  /** A/D updates (PTE writes, not counted as references): VS-stage PTEs, G-stage PTEs. */
  adWrites: { vs: number; g: number };
  /** Walks that ended in a guest-page fault (a G-stage fault; cause 20, 21 or 23). */
  guestPageFaults: number;
  /** Nested TLB: guest page-table pages whose G-stage walk it saved / did not (0 without one). */
  ntlb: { hits: number; misses: number };
  /** Flushes of guest entries: hfence.vvma (and sfence.vma with V=1), hfence.gvma, vsatp changes (untagged). */
  flushes: { vvma: number; gvma: number; vsatp: number };
}

/**
 * Reads every counter of the model (exact below 2^53). The configuration is machine-wide; the
 * counters and entries are per hart: by default this reads the running hart's (the live counters at
 * TM_CNT); `cntBase` reads a non-running hart's copy (its save slot begins with the counters,
 * TM_SAVE_BASE + hart * TM_SAVE_SIZE), to be summed with addTlbStats.
 */
export function readTlbStats(view: DataView, cntBase: number = L.TM_CNT): TlbStats {
  const cnt = cntBase;
  const c = (i: number): number => view.getUint32(cnt + 8 * i, true) + view.getUint32(cnt + 8 * i + 4, true) * 0x1_0000_0000;
  return tlbStatsFromCounters(c, view.getUint32(L.TM_CFG + 4 * TMC.L2_SETS, true) !== 0);
}

/** The statistics from counter values (`c(i)`: counter TMS index i), e.g. a vCPU's share (src/hypervisor/tlbstate.ts). */
export function tlbStatsFromCounters(c: (i: number) => number, hasL2: boolean): TlbStats {
  const tlb = (base: number): TlbCounters => ({ accesses: c(base), hits: c(base + 1), misses: c(base + 2), evictions: c(base + 3) });
  return {
    itlb: tlb(TMS.I_ACCESS),
    dtlb: tlb(TMS.D_ACCESS),
    l2: hasL2 ? tlb(TMS.L2_ACCESS) : null,
    walks: c(TMS.WALKS),
    walkRefs: c(TMS.WALK_REFS),
    walkCycles: c(TMS.WALK_CYCLES),
    refsHistogram: Array.from({ length: 8 }, (_, i) => c(TMS.HIST + i)),
    pwc: { hits: c(TMS.PWC_HIT), misses: c(TMS.PWC_MISS) },
    flushes: {
      all: c(TMS.FLUSH_ALL),
      asid: c(TMS.FLUSH_ASID),
      vaddr: c(TMS.FLUSH_VADDR),
      vaddrAsid: c(TMS.FLUSH_VADDR_ASID),
      satp: c(TMS.FLUSH_SATP),
    },
    faultWalks: c(TMS.FAULT_WALKS),
    adWrites: c(TMS.AD_WRITES),
    nested: {
      walks: c(TMS.V_WALKS),
      vsRefs: c(TMS.V_VS_REFS),
      gRefs: c(TMS.GSTAGE_REFS),
      refs: c(TMS.V_VS_REFS) + c(TMS.GSTAGE_REFS),
      vsHistogram: Array.from({ length: 8 }, (_, i) => c(TMS.V_HIST_VS + i)),
      gHistogram: Array.from({ length: TMS.V_HIST_N }, (_, i) => c(TMS.V_HIST_G + i)),
      totalHistogram: Array.from({ length: TMS.V_HIST_N }, (_, i) => c(TMS.V_HIST_TOTAL + i)),
      adWrites: { vs: c(TMS.V_AD_VS), g: c(TMS.V_AD_G) },
      guestPageFaults: c(TMS.V_GPF),
      ntlb: { hits: c(TMS.NTLB_HIT), misses: c(TMS.NTLB_MISS) },
      flushes: { vvma: c(TMS.FLUSH_VVMA), gvma: c(TMS.FLUSH_GVMA), vsatp: c(TMS.FLUSH_VSATP) },
    },
  };
}

/** Counter-wise sum (e.g. over harts); `l2` is null only when both are. */
export function addTlbStats(a: TlbStats, b: TlbStats): TlbStats {
  const t = (x: TlbCounters, y: TlbCounters): TlbCounters => ({
    accesses: x.accesses + y.accesses,
    hits: x.hits + y.hits,
    misses: x.misses + y.misses,
    evictions: x.evictions + y.evictions,
  });
  const zero: TlbCounters = { accesses: 0, hits: 0, misses: 0, evictions: 0 };
  return {
    itlb: t(a.itlb, b.itlb),
    dtlb: t(a.dtlb, b.dtlb),
    l2: a.l2 === null && b.l2 === null ? null : t(a.l2 ?? zero, b.l2 ?? zero),
    walks: a.walks + b.walks,
    walkRefs: a.walkRefs + b.walkRefs,
    walkCycles: a.walkCycles + b.walkCycles,
    refsHistogram: a.refsHistogram.map((n, i) => n + (b.refsHistogram[i] ?? 0)),
    pwc: { hits: a.pwc.hits + b.pwc.hits, misses: a.pwc.misses + b.pwc.misses },
    flushes: {
      all: a.flushes.all + b.flushes.all,
      asid: a.flushes.asid + b.flushes.asid,
      vaddr: a.flushes.vaddr + b.flushes.vaddr,
      vaddrAsid: a.flushes.vaddrAsid + b.flushes.vaddrAsid,
      satp: a.flushes.satp + b.flushes.satp,
    },
    faultWalks: a.faultWalks + b.faultWalks,
    adWrites: a.adWrites + b.adWrites,
    nested: addNested(a.nested, b.nested),
  };
}

function addNested(a: NestedWalkStats, b: NestedWalkStats): NestedWalkStats {
  const h = (x: number[], y: number[]) => x.map((n, i) => n + (y[i] ?? 0));
  return {
    walks: a.walks + b.walks,
    vsRefs: a.vsRefs + b.vsRefs,
    gRefs: a.gRefs + b.gRefs,
    refs: a.refs + b.refs,
    vsHistogram: h(a.vsHistogram, b.vsHistogram),
    gHistogram: h(a.gHistogram, b.gHistogram),
    totalHistogram: h(a.totalHistogram, b.totalHistogram),
    adWrites: { vs: a.adWrites.vs + b.adWrites.vs, g: a.adWrites.g + b.adWrites.g },
    guestPageFaults: a.guestPageFaults + b.guestPageFaults,
    ntlb: { hits: a.ntlb.hits + b.ntlb.hits, misses: a.ntlb.misses + b.ntlb.misses },
    flushes: { vvma: a.flushes.vvma + b.flushes.vvma, gvma: a.flushes.gvma + b.flushes.gvma, vsatp: a.flushes.vsatp + b.flushes.vsatp },
  };
}
