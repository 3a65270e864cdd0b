import { describe, expect, it } from 'vitest';
import { TIMING_CLASSES, type TimingClass } from '../src/isa/classes.js';
import { MAX_TEXT_LINES, formatJson, formatSeconds, formatText, groupDigits, type RunStats } from '../src/stats.js';
import type { NestedWalkStats, TlbStats } from '../src/tlbmodel.js';

function counts(partial: Partial<Record<TimingClass, number>>): Record<TimingClass, number> {
  const c = Object.fromEntries(TIMING_CLASSES.map((k) => [k, 0])) as Record<TimingClass, number>;
  return Object.assign(c, partial);
}

function sample(over: Partial<RunStats> = {}): RunStats {
  return {
    guest: 'hello.elf',
    exit: { reason: 'exit', code: 0 },
    instret: 1_000_000,
    cycles: 1_600_000,
    hostSeconds: 0.5,
    classCounts: counts({ alu: 600_000, load: 200_000, store: 100_000, branch: 50_000, branchTaken: 40_000, jump: 10_000, trap: 3 }),
    traps: { exceptions: 2, interrupts: 1 },
    devices: { uart0: { txBytes: 13, rxBytes: 0 }, clint: { timerIrqs: 1 } },
    bus: { unmappedReads: 0, unmappedWrites: 1 },
    scheduler: { fired: 4 },
    cpuHz: 1_000_000_000,
    ...over,
  };
}

describe('helpers', () => {
  it('groupDigits', () => {
    expect(groupDigits(0)).toBe('0');
    expect(groupDigits(999)).toBe('999');
    expect(groupDigits(1000)).toBe('1,000');
    expect(groupDigits(1234567)).toBe('1,234,567');
    expect(groupDigits(-1234)).toBe('-1,234');
  });
  it('formatSeconds', () => {
    expect(formatSeconds(2.5)).toBe('2.500 s');
    expect(formatSeconds(0.0016)).toBe('1.600 ms');
    expect(formatSeconds(42e-6)).toBe('42.000 µs');
    expect(formatSeconds(5e-9)).toBe('5.000 ns');
    expect(formatSeconds(0)).toBe('0 s');
  });
});

describe('formatText', () => {
  const text = formatText(sample());
  const lines = text.trimEnd().split('\n');

  it('is one screen and ends with a newline', () => {
    expect(text.endsWith('\n')).toBe(true);
    expect(lines.length).toBeLessThanOrEqual(MAX_TEXT_LINES);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
  });

  it('reports the headline numbers', () => {
    expect(lines[0]).toBe('cyclevisor: hello.elf: guest exited with code 0');
    expect(text).toMatch(/^ {2}instructions {4}1,000,000$/m);
    expect(text).toMatch(/^ {2}cycles {10}1,600,000 {2}\(IPC 0\.625\)$/m);
    expect(text).toMatch(/^ {2}simulated time {2}1\.600 ms at 1 GHz$/m);
    expect(text).toMatch(/^ {2}host time {7}500\.000 ms {2}\(2\.00 MIPS\)$/m);
    expect(text).toMatch(/^ {2}traps {11}3 {2}\(2 exceptions, 1 interrupt\)$/m);
    expect(text).toMatch(/^ {2}unmapped {8}0 reads, 1 write$/m);
    expect(text).toMatch(/^ {2}scheduler {7}4 events fired$/m);
  });

  it('instruction mix: percentages of instret, largest first, zero rows and trap left out', () => {
    const mix = lines.filter((l) => /\d%/.test(l));
    expect(mix).toHaveLength(3); // 6 non-zero classes in two columns
    expect(mix[0]).toMatch(/^ {2}mix {13}alu {9}600,000 {2}60\.0% {4}branch {7}50,000 {3}5\.0%$/);
    expect(text).toMatch(/load {8}200,000 {2}20\.0%/);
    // Issue 8 item 6: branchTaken is a subset of branch, so it is an indented sub-row right below
    // branch (same column), not a row of its own that made the mix add up to more than 100 %.
    expect(text).not.toContain('branchTaken');
    expect(mix[1]).toMatch(/ {4} {2}taken {6}40,000 {3}4\.0%$/);
    expect(text).toMatch(/jump {9}10,000 {3}1\.0%/);
    expect(text).not.toMatch(/\bmul\b|\bdiv\b|\bfpu\b|\btrap\b +\d/);
    // Columns are aligned: every percentage in the left column ends at the same position.
    const ends = mix.map((l) => l.indexOf('%'));
    expect(new Set(ends).size).toBe(1);
  });

  it('the taken sub-row stays in the same column as branch, directly below it', () => {
    // alu, load, then branch: column-major with 3 rows would split branch/taken across columns.
    const t = formatText(sample({ classCounts: counts({ alu: 600_000, load: 200_000, branch: 50_000, branchTaken: 40_000, jump: 10_000, store: 5_000 }) }));
    const rows = t.split('\n').filter((l) => /\d%/.test(l));
    const b = rows.findIndex((l) => /branch +50,000/.test(l));
    expect(b).toBeGreaterThanOrEqual(0);
    const col = rows[b]!.indexOf('branch');
    expect(rows[b + 1]!.indexOf('  taken')).toBe(col);
    // The rows proper add up to instret's share; the sub-row is not one of them.
    const pcts = [...t.matchAll(/ ([a-z]+) +[\d,]+ +([\d.]+)%/g)].filter((m) => m[1] !== 'taken').map((m) => Number(m[2]));
    expect(pcts.reduce((a, x) => a + x, 0)).toBeCloseTo(86.5, 1);
  });

  it('device counters (zero counters left out, devices sorted)', () => {
    expect(text).toMatch(/^ {2}devices {9}clint: timerIrqs=1\n {18}uart0: txBytes=13$/m);
    expect(text).not.toContain('rxBytes');
  });

  it('exit reasons', () => {
    expect(formatText(sample({ exit: { reason: 'max-insns', code: 0 } })).split('\n')[0]).toBe(
      'cyclevisor: hello.elf: stopped after --max-insns instructions (exit code 0)',
    );
    expect(formatText(sample({ exit: { reason: 'interrupted', code: 130 } })).split('\n')[0]).toContain('interrupted (exit code 130)');
    expect(formatText(sample({ exit: { reason: 'error', code: 1 } })).split('\n')[0]).toContain('stopped by an error (exit code 1)');
    expect(formatText(sample({ exit: { reason: 'exit', code: 3 } })).split('\n')[0]).toContain('guest exited with code 3');
  });

  it('no division by zero on an empty run', () => {
    const t = formatText(sample({ instret: 0, cycles: 0, hostSeconds: 0, classCounts: counts({}), devices: {} }));
    expect(t).toContain('(IPC -)');
    expect(t).toContain('(- MIPS)');
    expect(t).not.toMatch(/NaN|Infinity/);
    expect(t).not.toContain('mix');
    expect(t).not.toContain('devices');
  });

  it('stays within 24 lines with every class non-zero and many devices', () => {
    const all = counts(Object.fromEntries(TIMING_CLASSES.map((c, i) => [c, 1000 * (i + 1)])));
    const devices: RunStats['devices'] = {};
    for (let i = 0; i < 40; i++) devices[`virtio-device-${i}`] = { notifications: 1000 + i, interrupts: 7, bytes: 123456 };
    const t = formatText(sample({ classCounts: all, devices, instret: 171_000 }));
    const ls = t.trimEnd().split('\n');
    expect(ls.length).toBe(MAX_TEXT_LINES);
    expect(ls[ls.length - 1]).toContain('more device counters in --stats json');
    expect(ls.filter((l) => /\d%/.test(l))).toHaveLength(9); // 17 classes (trap excluded) in 2 columns
    for (const l of ls) expect(l.length).toBeLessThanOrEqual(80);
  });
});

describe('formatJson', () => {
  it('round-trips the input, plus derived figures', () => {
    const s = sample();
    const parsed = JSON.parse(formatJson(s));
    const { derived, ...rest } = parsed;
    expect(rest).toEqual(s);
    expect(derived).toEqual({ ipc: 0.625, simSeconds: 0.0016, mips: 2 });
  });

  it('has a stable key order regardless of input order', () => {
    const a = sample();
    const b: RunStats = {
      cpuHz: a.cpuHz,
      scheduler: a.scheduler,
      bus: { unmappedWrites: 1, unmappedReads: 0 },
      devices: { uart0: { rxBytes: 0, txBytes: 13 }, clint: { timerIrqs: 1 } },
      traps: { interrupts: 1, exceptions: 2 },
      classCounts: counts({ jump: 10_000, trap: 3, branchTaken: 40_000, branch: 50_000, store: 100_000, load: 200_000, alu: 600_000 }),
      hostSeconds: a.hostSeconds,
      cycles: a.cycles,
      instret: a.instret,
      exit: { code: 0, reason: 'exit' },
      guest: a.guest,
    };
    const ja = formatJson(a);
    expect(formatJson(b)).toBe(ja);
    const parsed = JSON.parse(ja);
    expect(Object.keys(parsed)).toEqual([
      'guest', 'exit', 'instret', 'cycles', 'hostSeconds', 'cpuHz', 'classCounts', 'traps', 'devices', 'bus', 'scheduler', 'derived',
    ]);
    expect(Object.keys(parsed.classCounts)).toEqual([...TIMING_CLASSES]);
    expect(Object.keys(parsed.devices)).toEqual(['clint', 'uart0']);
    expect(Object.keys(parsed.devices.uart0)).toEqual(['rxBytes', 'txBytes']);
    expect(ja).toContain('\n  "instret": 1000000,\n');
    expect(ja.endsWith('}\n')).toBe(true);
  });

  it('derived figures are null instead of NaN/Infinity', () => {
    const j = JSON.parse(formatJson(sample({ cycles: 0, hostSeconds: 0 })));
    expect(j.derived).toEqual({ ipc: null, simSeconds: 0, mips: null });
  });
});

function tlbSample(over: Partial<TlbStats> = {}): TlbStats {
  return {
    itlb: { accesses: 200_000, hits: 199_000, misses: 1_000, evictions: 960 },
    dtlb: { accesses: 400_000, hits: 396_000, misses: 4_000, evictions: 3_960 },
    l2: { accesses: 5_000, hits: 3_000, misses: 2_000, evictions: 1_488 },
    walks: 2_000,
    walkRefs: 4_600,
    walkCycles: 13_800,
    refsHistogram: [0, 1_000, 0, 1_000, 0, 0, 0, 0],
    pwc: { hits: 1_200, misses: 800 },
    flushes: { all: 3, asid: 0, vaddr: 120, vaddrAsid: 0, satp: 0 },
    faultWalks: 12,
    adWrites: 7,
    nested: noNested(),
    ...over,
  };
}
function noNested(over: Partial<NestedWalkStats> = {}): NestedWalkStats {
  return {
    walks: 0,
    vsRefs: 0,
    gRefs: 0,
    refs: 0,
    vsHistogram: new Array(8).fill(0),
    gHistogram: new Array(36).fill(0),
    totalHistogram: new Array(36).fill(0),
    adWrites: { vs: 0, g: 0 },
    guestPageFaults: 0,
    ntlb: { hits: 0, misses: 0 },
    flushes: { vvma: 0, gvma: 0, vsatp: 0 },
    ...over,
  };
}

describe('modeled TLB (timing mode)', () => {
  it('text: a compact tlb block after the scheduler line', () => {
    const t = formatText(sample({ tlb: tlbSample() }));
    const ls = t.trimEnd().split('\n');
    const i = ls.findIndex((l) => l.startsWith('  tlb '));
    expect(ls[i - 1]).toMatch(/^ {2}scheduler/);
    expect(ls.slice(i, i + 5)).toEqual([
      '  tlb             itlb  99.50% hit, 1,000 misses of 200,000',
      '                  dtlb  99.00% hit, 4,000 misses of 400,000',
      '                  l2    60.00% hit, 2,000 misses of 5,000',
      '                  2,000 walks, 2.30 refs/walk, 13,800 cycles, pwc 60.00% hit',
      '                  flushes all=3 vaddr=120',
    ]);
    expect(ls[i + 5]).toMatch(/^ {2}devices/);
  });

  it('text: TLBs without accesses, zero flush causes and an unused page-walk cache are left out', () => {
    const t = formatText(
      sample({
        tlb: tlbSample({
          itlb: { accesses: 0, hits: 0, misses: 0, evictions: 0 },
          l2: null,
          pwc: { hits: 0, misses: 5 },
          walks: 5,
          walkRefs: 15,
          walkCycles: 45,
          flushes: { all: 0, asid: 0, vaddr: 0, vaddrAsid: 0, satp: 0 },
        }),
      }),
    );
    expect(t).toMatch(/^ {2}tlb {13}dtlb {2}99\.00% hit, 4,000 misses of 400,000\n {18}5 walks, 3\.00 refs\/walk, 45 cycles\n {2}devices/m);
    expect(t).not.toMatch(/itlb|l2 |flushes|pwc/);
  });

  it('text: no tlb block without timing mode; no NaN with zero walks', () => {
    expect(formatText(sample())).not.toMatch(/^ {2}tlb/m);
    const t = formatText(sample({ tlb: tlbSample({ walks: 0, walkRefs: 0, walkCycles: 0, pwc: { hits: 0, misses: 0 } }) }));
    expect(t).toContain('0 walks, - refs/walk, 0 cycles');
    expect(t).not.toMatch(/NaN|Infinity/);
  });

  it('text: still at most 24 lines of at most 80 columns with every class, many devices and huge counters', () => {
    const all = counts(Object.fromEntries(TIMING_CLASSES.map((c, i) => [c, 1000 * (i + 1)])));
    const devices: RunStats['devices'] = {};
    for (let i = 0; i < 40; i++) devices[`virtio-device-${i}`] = { notifications: 1000 + i };
    const huge = 123_456_789_012_345;
    const c = { accesses: huge, hits: huge - 1, misses: huge, evictions: huge };
    const tlb = tlbSample({
      itlb: c,
      dtlb: c,
      l2: c,
      walks: huge,
      walkRefs: 3 * huge,
      walkCycles: 9 * huge,
      pwc: { hits: huge, misses: huge },
      flushes: { all: huge, asid: huge, vaddr: huge, vaddrAsid: huge, satp: huge },
    });
    for (const devs of [devices, {}]) {
      const ls = formatText(sample({ classCounts: all, devices: devs, instret: 171_000, tlb })).trimEnd().split('\n');
      expect(ls.length).toBeLessThanOrEqual(MAX_TEXT_LINES);
      for (const l of ls) expect(l.length).toBeLessThanOrEqual(80);
      expect(ls.filter((l) => /\d%/.test(l) && !/hit/.test(l))).toHaveLength(9); // the mix is never dropped
      expect(ls.some((l) => l.startsWith('  tlb '))).toBe(true);
    }
    // A realistic block with every class and many devices: the TLB block is whole, devices give way.
    const ls = formatText(sample({ classCounts: all, devices, instret: 171_000, tlb: tlbSample() })).trimEnd().split('\n');
    expect(ls.length).toBe(MAX_TEXT_LINES);
    expect(ls.filter((l) => l.startsWith('                  flushes'))).toHaveLength(1);
    expect(ls[ls.length - 1]).toContain('more device counters in --stats json');
  });

  it('json: a tlb key after scheduler, round-tripping the counters', () => {
    const s = sample({ tlb: tlbSample() });
    const parsed = JSON.parse(formatJson(s));
    expect(Object.keys(parsed)).toEqual([
      'guest', 'exit', 'instret', 'cycles', 'hostSeconds', 'cpuHz', 'classCounts', 'traps', 'devices', 'bus', 'scheduler', 'tlb', 'derived',
    ]);
    const { derived: _d, ...rest } = parsed;
    expect(rest).toEqual(s);
    expect(Object.keys(parsed.tlb)).toEqual([
      'itlb', 'dtlb', 'l2', 'walks', 'walkRefs', 'walkCycles', 'refsHistogram', 'pwc', 'flushes', 'faultWalks', 'adWrites', 'nested',
    ]);
    expect(Object.keys(parsed.tlb.nested)).toEqual([
      'walks', 'vsRefs', 'gRefs', 'refs', 'vsHistogram', 'gHistogram', 'totalHistogram', 'adWrites', 'guestPageFaults', 'ntlb', 'flushes',
    ]);
    expect(JSON.parse(formatJson(sample({ tlb: tlbSample({ l2: null }) }))).tlb.l2).toBeNull();
  });

  it('text: a nested-walk line (per-stage references per walk) only after V=1 code walked', () => {
    // 4 Sv39-on-Sv39x4 walks of 3 VS + 12 G references, 2 of them saved 3 G refs each in the nested TLB.
    const nested = noNested({ walks: 4, vsRefs: 12, gRefs: 42, refs: 54, guestPageFaults: 1, ntlb: { hits: 2, misses: 10 }, flushes: { vvma: 2, gvma: 1, vsatp: 0 } });
    const ls = formatText(sample({ tlb: tlbSample({ nested }) })).trimEnd().split('\n');
    const i = ls.findIndex((l) => l.includes('refs/walk'));
    expect(ls[i + 1]).toBe('                  of which 4 nested walks: 3.00 VS + 10.50 G refs/walk,');
    expect(ls[i + 2]).toBe('                    1 guest-page fault, ntlb 16.67% hit');
    expect(ls[i + 3]).toBe('                  flushes all=3 vaddr=120 hfence.vvma=2 hfence.gvma=1');
    expect(formatText(sample({ tlb: tlbSample() }))).not.toMatch(/nested|hfence/);
  });
});

