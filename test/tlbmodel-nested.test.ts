/**
 * The modeled TLB's two-dimensional walks (H extension, timing mode), driven at the unit level: page
 * tables of both stages are written into RAM by hand, the hart state holds V = 1, vsatp and hgatp,
 * and `tlbModelAccess` (core export) counts one access exactly as the run loop would. No V=1
 * instruction executes, so this needs nothing of the H extension but the three state words
 * (layout.ts H_VIRT, H_VSATP, H_HGATP); the guest programs in test/guests/hyp-walk/ prove the same
 * counts end to end (test/hyp-walk.test.ts).
 *
 * Spec: Priv 1.12 ch. 8 (Hypervisor Extension) §8.5 "Two-Stage Address Translation": every VS-stage
 * PTE address is a guest-physical address the G-stage translates (an implicit read), and so is the
 * final GPA; Sv39x4/Sv48x4/Sv57x4 (§8.5.1) have a 16 KiB root table indexed by 2 more GPA bits and
 * fault (guest-page fault) on GPA bits above them; G-stage leaves need U = 1 (§8.5.2).
 * Worst case without walk caches, n VS levels over m G levels: n·(m + 1) + m references
 * (Sv39 on Sv39x4: 3·4 + 3 = 15; Sv48 on Sv48x4: 4·5 + 4 = 24; Sv57 on Sv57x4: 5·6 + 5 = 35).
 */
import { describe, expect, it } from 'vitest';
import { RAM_BASE, type Core } from '../src/core.js';
import * as L from '../src/generated/layout.js';
import { applyTlbModel, readTlbStats, type TlbModelConfig, type TlbStats } from '../src/tlbmodel.js';
import { makeCore } from './helpers/core-harness.js';
import { A, D, G as PTE_G, R, U, V, W, X } from './helpers/paging.js';

const PAGE = 4096n;
/** Guest RAM: GPA GUEST_GPA + off lives at host-physical GUEST_HPA + off (a non-identity G-stage). */
const GUEST_GPA = 0x1000_0000n;
const GUEST_HPA = BigInt(RAM_BASE) + 0x40_0000n;
const G_TABLES_HPA = BigInt(RAM_BASE) + 0x10_0000n; // 16 KiB aligned (the x4 root)
const gpaToHpa = (gpa: bigint) => gpa - GUEST_GPA + GUEST_HPA;

type Mode = 8 | 9 | 10; // Sv39/Sv48/Sv57, and Sv39x4/Sv48x4/Sv57x4 for hgatp

/**
 * A page-table builder for one stage. Tables are allocated upward from `base` in the stage's
 * table address space (host-physical for the G-stage and for native tables, guest-physical for the
 * VS-stage) and written at `toHost(address)`. x4: the root is 4 pages (16 KiB) and its index has
 * 11 bits.
 */
class Tables {
  private next: bigint;
  readonly root: bigint;
  readonly pages: bigint[] = [];
  constructor(
    private core: Core,
    readonly mode: Mode,
    base: bigint,
    private x4: boolean,
    private toHost: (a: bigint) => bigint = (a) => a,
  ) {
    this.next = base;
    this.root = this.alloc(x4 ? 4 : 1);
  }
  private alloc(n: number): bigint {
    const p = this.next;
    this.next += BigInt(n) * PAGE;
    for (let i = 0; i < n; i++) {
      this.pages.push(p + BigInt(i) * PAGE);
      this.core.zeroPhys(Number(this.toHost(p + BigInt(i) * PAGE)), Number(PAGE));
    }
    return p;
  }
  private rd(a: bigint): bigint {
    return this.core.get64(L.RAM_OFFSET + Number(this.toHost(a)) - RAM_BASE);
  }
  private wr(a: bigint, v: bigint): void {
    this.core.set64(L.RAM_OFFSET + Number(this.toHost(a)) - RAM_BASE, v);
  }
  /** Map va → pa with a leaf at `level` (0 = 4 KiB). */
  map(va: bigint, pa: bigint, flags: bigint, level = 0): this {
    const levels = this.mode - 5;
    let table = this.root;
    for (let lvl = levels - 1; lvl >= level; lvl--) {
      const mask = this.x4 && lvl === levels - 1 ? 0x7ffn : 0x1ffn;
      const pteAddr = table + ((va >> BigInt(12 + 9 * lvl)) & mask) * 8n;
      if (lvl === level) {
        this.wr(pteAddr, ((pa >> 12n) << 10n) | flags);
        return this;
      }
      let pte = this.rd(pteAddr);
      if ((pte & V) === 0n) {
        pte = ((this.alloc(1) >> 12n) << 10n) | V;
        this.wr(pteAddr, pte);
      }
      table = (pte >> 10n) << 12n;
    }
    return this;
  }
  /** Clear the leaf PTE of va (level 0). */
  unmap(va: bigint): this {
    const levels = this.mode - 5;
    let table = this.root;
    for (let lvl = levels - 1; lvl > 0; lvl--) {
      const mask = this.x4 && lvl === levels - 1 ? 0x7ffn : 0x1ffn;
      table = (this.rd(table + ((va >> BigInt(12 + 9 * lvl)) & mask) * 8n) >> 10n) << 12n;
    }
    this.wr(table + ((va >> 12n) & 0x1ffn) * 8n, 0n);
    return this;
  }
  atp(id = 0): bigint {
    return (BigInt(this.mode) << 60n) | (BigInt(id) << 44n) | (this.root >> 12n);
  }
}

/** No L2, no page-walk cache, no nested TLB: every miss is a full walk. 2 cycles per reference. */
function bare(over: Partial<TlbModelConfig> = {}): TlbModelConfig {
  return {
    l1: { split: true, entries: 16, ways: 16 },
    l2: null,
    replacement: 'lru',
    seed: 1,
    asidTagging: true,
    pwcEntries: 0,
    walkLatency: 2,
    nestedTlbEntries: 0,
    ...over,
  };
}

const RWXAD = V | R | W | X | A | D;
const GLEAF = RWXAD | U; // G-stage leaves need U (§8.5.2)

interface Guest {
  core: Core;
  vs: Tables | null;
  g: Tables;
  /** GVA of data page i (GPA GUEST_GPA + 0x20_0000 + i pages). */
  dataVa: (i: number) => bigint;
  dataGpa: (i: number) => bigint;
  /** Count one access; returns the cycles charged. */
  access: (va: bigint, kind?: 'load' | 'store' | 'fetch') => number;
  stats: () => TlbStats;
  setVirt: (v: 0 | 1) => void;
}

/**
 * A guest with `pages` data pages mapped by VS-stage tables of `vsMode` (null: vsatp = Bare) over
 * G-stage tables of `gMode`; every page of both stages is a 4 KiB page unless `gLeafLevel` makes
 * the G-stage map the whole guest with superpages.
 */
function guest(opts: {
  vsMode: Mode | null;
  gMode: Mode;
  cfg?: TlbModelConfig;
  pages?: number;
  gLeafLevel?: number;
  vmid?: number;
  dataFlags?: bigint;
  gDataFlags?: bigint;
}): Guest {
  const { core } = makeCore(16 << 20);
  const pages = opts.pages ?? 4;
  const dataGpa = (i: number) => GUEST_GPA + 0x20_0000n + BigInt(i) * PAGE;
  const dataVa = (i: number) => (opts.vsMode === null ? dataGpa(i) : 0x7_4000_0000n + BigInt(i) * PAGE);
  const g = new Tables(core, opts.gMode, G_TABLES_HPA, true);
  let vs: Tables | null = null;
  if (opts.vsMode !== null) {
    vs = new Tables(core, opts.vsMode, GUEST_GPA, false, gpaToHpa);
    for (let i = 0; i < pages; i++) vs.map(dataVa(i), dataGpa(i), opts.dataFlags ?? RWXAD);
  }
  const gl = opts.gLeafLevel ?? 0;
  if (gl > 0) {
    // Superpages cover the first 8 MiB of guest RAM (GUEST_GPA and GUEST_HPA are 2 MiB aligned).
    const size = 1n << BigInt(12 + 9 * gl);
    for (let off = 0n; off < 0x80_0000n; off += size) g.map(GUEST_GPA + off, GUEST_HPA + off, GLEAF, gl);
  } else {
    for (const p of vs?.pages ?? []) g.map(p, gpaToHpa(p), GLEAF);
    for (let i = 0; i < pages; i++) g.map(dataGpa(i), gpaToHpa(dataGpa(i)), opts.gDataFlags ?? GLEAF);
  }
  core.set64(L.H_VSATP, vs === null ? 0n : vs.atp(0));
  core.set64(L.H_HGATP, g.atp(opts.vmid ?? 0));
  core.set64(L.H_VIRT, 1n);
  core.set64(L.H_PRIV, 1n); // VS-mode
  applyTlbModel(core, opts.cfg ?? bare(), true);
  const view = () => new DataView(core.ex.memory.buffer);
  return {
    core,
    vs,
    g,
    dataVa,
    dataGpa,
    access: (va, kind = 'load') => Number(core.ex.tlbModelAccess(va, kind === 'fetch' ? 1 : 0, kind === 'store' ? 1 : 0)),
    stats: () => readTlbStats(view()),
    setVirt: (v) => core.set64(L.H_VIRT, BigInt(v)),
  };
}

const histWith = (n: number, at: Record<number, number>) => Array.from({ length: n }, (_, i) => at[i] ?? 0);

describe('worst-case walk references without walk caches (the 3 / 15 / 24 of issue 9)', () => {
  it('Sv39 native (V=0): 3 references', () => {
    const { core } = makeCore(16 << 20);
    const t = new Tables(core, 8, BigInt(RAM_BASE) + 0x10_0000n, false).map(0x7_4000_0000n, BigInt(RAM_BASE) + 0x60_0000n, RWXAD);
    core.set64(L.H_SATP, t.atp());
    core.set64(L.H_PRIV, 1n);
    applyTlbModel(core, bare(), true);
    expect(Number(core.ex.tlbModelAccess(0x7_4000_0000n, 0, 0))).toBe(6); // 3 refs × 2 cycles
    const s = readTlbStats(new DataView(core.ex.memory.buffer));
    expect([s.walks, s.walkRefs, s.refsHistogram[3]]).toEqual([1, 3, 1]);
    expect(s.nested.walks).toBe(0); // a V=0 walk is not a nested one
  });

  it('Sv39 on Sv39x4: 15 references (3 VS + 4 × 3 G)', () => {
    const gu = guest({ vsMode: 8, gMode: 8 });
    expect(gu.access(gu.dataVa(0))).toBe(30);
    const s = gu.stats();
    expect([s.walks, s.walkRefs, s.walkCycles]).toEqual([1, 15, 30]);
    expect(s.nested).toMatchObject({ walks: 1, vsRefs: 3, gRefs: 12, refs: 15, guestPageFaults: 0, adWrites: { vs: 0, g: 0 } });
    expect(s.nested.vsHistogram).toEqual(histWith(8, { 3: 1 }));
    expect(s.nested.gHistogram).toEqual(histWith(36, { 12: 1 }));
    expect(s.nested.totalHistogram).toEqual(histWith(36, { 15: 1 }));
    expect(s.refsHistogram[7]).toBe(1); // the 8-bucket histogram of all walks: "7 or more"
    // Cached: the same page again is a hit, no walk.
    expect(gu.access(gu.dataVa(0) + 8n)).toBe(0);
    expect(gu.stats().dtlb).toEqual({ accesses: 2, hits: 1, misses: 1, evictions: 0 });
  });

  it('Sv48 on Sv48x4: 24 references (4 VS + 5 × 4 G)', () => {
    const gu = guest({ vsMode: 9, gMode: 9 });
    gu.access(gu.dataVa(0));
    gu.access(gu.dataVa(1), 'fetch'); // the instruction side walks the same way
    const s = gu.stats();
    expect(s.nested).toMatchObject({ walks: 2, vsRefs: 8, gRefs: 40, refs: 48 });
    expect(s.nested.totalHistogram).toEqual(histWith(36, { 24: 2 }));
    expect([s.itlb.misses, s.dtlb.misses]).toEqual([1, 1]);
  });

  it('Sv57 on Sv57x4: 35 references (5 VS + 6 × 5 G), the last histogram bucket', () => {
    const gu = guest({ vsMode: 10, gMode: 10 });
    gu.access(gu.dataVa(0));
    expect(gu.stats().nested).toMatchObject({ vsRefs: 5, gRefs: 30, refs: 35 });
    expect(gu.stats().nested.totalHistogram[35]).toBe(1);
  });

  it('mixed depths: Sv39 on Sv48x4 = 3·5 + 4 = 19, Sv48 on Sv39x4 = 4·4 + 3 = 19', () => {
    const a = guest({ vsMode: 8, gMode: 9 });
    a.access(a.dataVa(0));
    expect(a.stats().nested).toMatchObject({ vsRefs: 3, gRefs: 16, refs: 19 });
    const b = guest({ vsMode: 9, gMode: 8 });
    b.access(b.dataVa(0));
    expect(b.stats().nested).toMatchObject({ vsRefs: 4, gRefs: 15, refs: 19 });
  });

  it('vsatp = Bare: the G-stage alone translates the GVA (= GPA): 3 references on Sv39x4', () => {
    const gu = guest({ vsMode: null, gMode: 8 });
    gu.access(gu.dataVa(2));
    expect(gu.stats().nested).toMatchObject({ walks: 1, vsRefs: 0, gRefs: 3, refs: 3 });
    expect(gu.stats().nested.vsHistogram[0]).toBe(1);
  });

  it('G-stage superpages shorten every G-stage walk: Sv39 on 2 MiB Sv39x4 leaves = 3 + 4 × 2 = 11', () => {
    const gu = guest({ vsMode: 8, gMode: 8, gLeafLevel: 1 });
    gu.access(gu.dataVa(0));
    expect(gu.stats().nested).toMatchObject({ vsRefs: 3, gRefs: 8, refs: 11 });
    // The composed entry is a 4 KiB page (the smaller of the two leaves): the next page walks again.
    gu.access(gu.dataVa(1));
    expect(gu.stats().nested.walks).toBe(2);
  });
});

describe('walk caches under nested paging', () => {
  it('nested TLB: a second walk through the same guest page-table pages saves their G-stage walks', () => {
    const gu = guest({ vsMode: 8, gMode: 8, cfg: bare({ nestedTlbEntries: 4 }) });
    gu.access(gu.dataVa(0)); // 15: misses the nested TLB for the 3 guest page-table pages
    gu.access(gu.dataVa(1)); // 3 VS reads, their G walks cached, + 3 for the final GPA = 6
    const s = gu.stats();
    expect(s.nested.totalHistogram).toEqual(histWith(36, { 15: 1, 6: 1 }));
    expect(s.nested.ntlb).toEqual({ hits: 3, misses: 3 });
    expect(s.nested.gRefs).toBe(12 + 3);
  });

  it('nested TLB entries are per VMID, and a 1-entry nested TLB thrashes between table levels', () => {
    const one = guest({ vsMode: 8, gMode: 8, cfg: bare({ nestedTlbEntries: 1 }) });
    one.access(one.dataVa(0));
    one.access(one.dataVa(1));
    // Three table pages through one entry: every lookup misses.
    expect(one.stats().nested.ntlb).toEqual({ hits: 0, misses: 6 });
    expect(one.stats().nested.totalHistogram[15]).toBe(2);
  });

  it('page-walk cache: a neighbouring page starts at the VS leaf level: 1 VS + 3 G for its PTE + 3 G final = 7', () => {
    const gu = guest({ vsMode: 8, gMode: 8, cfg: bare({ pwcEntries: 8 }) });
    gu.access(gu.dataVa(0));
    gu.access(gu.dataVa(1));
    const s = gu.stats();
    expect(s.nested.totalHistogram).toEqual(histWith(36, { 15: 1, 7: 1 }));
    expect(s.pwc).toEqual({ hits: 1, misses: 1 });
  });

  it('both caches: 1 VS read + 3 G for the final GPA = 4', () => {
    const gu = guest({ vsMode: 8, gMode: 8, cfg: bare({ pwcEntries: 8, nestedTlbEntries: 8 }) });
    gu.access(gu.dataVa(0));
    gu.access(gu.dataVa(1));
    expect(gu.stats().nested.totalHistogram).toEqual(histWith(36, { 15: 1, 4: 1 }));
  });

  it('a new hgatp or vsatp empties the page-walk cache and (hgatp) the nested TLB', () => {
    const gu = guest({ vsMode: 8, gMode: 8, cfg: bare({ pwcEntries: 8, nestedTlbEntries: 8, l1: { split: true, entries: 1, ways: 1 } }) });
    gu.access(gu.dataVa(0));
    gu.access(gu.dataVa(1)); // 4 (both caches)
    gu.core.set64(L.H_HGATP, gu.g.atp(0) | 0n); // same value: nothing happens
    gu.access(gu.dataVa(2)); // 4
    gu.core.set64(L.H_VSATP, gu.vs!.atp(5)); // another ASID, same tables: PWC emptied, NTLB kept
    gu.access(gu.dataVa(3)); // 3 VS reads, G walks saved, + 3 = 6
    gu.core.set64(L.H_HGATP, gu.g.atp(7)); // another VMID: both emptied
    gu.access(gu.dataVa(0)); // 15
    expect(gu.stats().nested.totalHistogram).toEqual(histWith(36, { 15: 2, 4: 2, 6: 1 }));
  });
});

describe('tags, faults, A/D and fences', () => {
  it('entries are tagged with V and the VMID: another guest misses, the first one still hits', () => {
    const gu = guest({ vsMode: 8, gMode: 8, vmid: 1 });
    gu.access(gu.dataVa(0));
    gu.core.set64(L.H_HGATP, gu.g.atp(2)); // same tables, VMID 2
    gu.access(gu.dataVa(0));
    gu.core.set64(L.H_HGATP, gu.g.atp(1));
    gu.access(gu.dataVa(0));
    expect(gu.stats().dtlb).toEqual({ accesses: 3, hits: 1, misses: 2, evictions: 0 });
    // HS-level (V=0) code at the same address does not hit the guest's entry.
    const hs = new Tables(gu.core, 8, BigInt(RAM_BASE) + 0x80_0000n, false).map(gu.dataVa(0), BigInt(RAM_BASE) + 0x90_0000n, RWXAD);
    gu.core.set64(L.H_SATP, hs.atp());
    gu.setVirt(0);
    gu.access(gu.dataVa(0));
    const s = gu.stats();
    expect(s.dtlb.misses).toBe(3);
    expect([s.walks, s.nested.walks, s.refsHistogram[3]]).toEqual([3, 2, 1]);
  });

  it('a global VS-stage entry is global only inside its VMID', () => {
    const gu = guest({ vsMode: 8, gMode: 8, vmid: 1, dataFlags: RWXAD | PTE_G });
    gu.access(gu.dataVa(0));
    gu.core.set64(L.H_VSATP, gu.vs!.atp(9)); // another ASID: the global entry hits
    gu.access(gu.dataVa(0));
    gu.core.set64(L.H_HGATP, gu.g.atp(3)); // another guest: it does not
    gu.access(gu.dataVa(0));
    expect(gu.stats().dtlb).toEqual({ accesses: 3, hits: 1, misses: 2, evictions: 0 });
  });

  it('guest-page faults: final GPA unmapped, G-stage leaf without U, GPA above the Sv39x4 range', () => {
    const gu = guest({ vsMode: 8, gMode: 8 });
    gu.g.unmap(gu.dataGpa(1));
    gu.access(gu.dataVa(1)); // 3 VS + 9 G + 3 G (the leaf read that finds nothing) = 15, fault
    gu.access(gu.dataVa(1)); // not cached: walks again
    let s = gu.stats();
    expect(s.nested).toMatchObject({ walks: 2, guestPageFaults: 2, refs: 30 });
    expect(s.faultWalks).toBe(2);
    gu.g.map(gu.dataGpa(2), gpaToHpa(gu.dataGpa(2)), RWXAD); // no U
    gu.access(gu.dataVa(2));
    s = gu.stats();
    expect(s.nested.guestPageFaults).toBe(3);
    // vsatp = Bare, GPA bit 41 set: Sv39x4 translates 41 bits, so the walk faults before reading.
    const b = guest({ vsMode: null, gMode: 8 });
    b.access(1n << 41n);
    expect(b.stats().nested).toMatchObject({ walks: 1, refs: 0, guestPageFaults: 1 });
    b.access((1n << 41n) - PAGE); // top of the 41-bit range: root index 0x7ff is read, nothing mapped
    expect(b.stats().nested).toMatchObject({ walks: 2, refs: 1, guestPageFaults: 2 });
  });

  it('a VS-stage page fault is a fault walk but not a guest-page fault', () => {
    const gu = guest({ vsMode: 8, gMode: 8 });
    // Not mapped by the guest (same leaf table as page 0): the VS leaf read finds V = 0, so the walk
    // ends there: 3 × (3 G + 1 VS) = 12, and no final GPA to translate.
    gu.access(0x7_4010_0000n);
    const s = gu.stats();
    expect([s.faultWalks, s.nested.guestPageFaults, s.nested.refs, s.nested.gRefs]).toEqual([1, 0, 12, 9]);
  });

  it('A/D updates are counted apart from references: VS leaf without A; store to a G leaf without D', () => {
    const gu = guest({ vsMode: 8, gMode: 8, dataFlags: V | R | W | X, gDataFlags: V | R | W | X | U | A });
    gu.access(gu.dataVa(0)); // load: VS leaf needs A (1 VS-stage write); G leaf has A
    gu.access(gu.dataVa(1), 'store'); // store: VS leaf needs A and D (one write), G leaf needs D
    const s = gu.stats();
    expect(s.nested.adWrites).toEqual({ vs: 2, g: 1 });
    expect(s.nested.refs).toBe(30); // writes are not references
    expect(s.adWrites).toBe(0); // the V=0 counter
  });

  it('hfence.vvma drops the current guest entries only; hfence.gvma by VMID, with a GPA, all VMIDs', () => {
    const gu = guest({ vsMode: 8, gMode: 8, vmid: 1, cfg: bare({ nestedTlbEntries: 8 }) });
    gu.access(gu.dataVa(0));
    gu.core.ex.tlbModelHfence(0, 0, 0n, 0, 0); // hfence.vvma x0, x0 (VMID 1 from hgatp)
    gu.access(gu.dataVa(0)); // miss: 3 VS + 0 (nested TLB kept) + 3
    gu.core.ex.tlbModelHfence(1, 0, 0n, 1, 2); // hfence.gvma for VMID 2: not ours
    gu.access(gu.dataVa(0)); // hit
    gu.core.ex.tlbModelHfence(1, 1, gu.vs!.root, 1, 1); // hfence.gvma of the root table's GPA, VMID 1
    gu.access(gu.dataVa(0)); // miss: root page's G walk again (3), the others cached: 3 + 3 + 3 = 9
    gu.core.ex.tlbModelHfence(1, 0, 0n, 0, 0); // hfence.gvma x0, x0: everything
    gu.access(gu.dataVa(0)); // 15
    const s = gu.stats();
    expect(s.nested.totalHistogram).toEqual(histWith(36, { 15: 2, 6: 1, 9: 1 }));
    expect(s.dtlb).toEqual({ accesses: 5, hits: 1, misses: 4, evictions: 0 });
    expect(s.nested.flushes).toEqual({ vvma: 1, gvma: 3, vsatp: 0 });
  });

  it('without ASID tags a vsatp change drops the guest entries (counted as a vsatp flush)', () => {
    const gu = guest({ vsMode: 8, gMode: 8, cfg: bare({ asidTagging: false }) });
    gu.access(gu.dataVa(0));
    gu.access(gu.dataVa(0));
    gu.core.set64(L.H_VSATP, gu.vs!.atp(1));
    gu.access(gu.dataVa(0));
    const s = gu.stats();
    expect(s.dtlb).toEqual({ accesses: 3, hits: 1, misses: 2, evictions: 0 });
    expect(s.nested.flushes.vsatp).toBe(1);
  });
});
