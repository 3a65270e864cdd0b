import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { errorOf } from './helpers/errors.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TIMING_CLASSES, TIMING_CLASS_ID } from '../src/isa/classes.js';
import {
  DEFAULT_CPU_HZ,
  DEFAULT_LATENCY,
  DEFAULT_TIMEBASE_HZ,
  U74_MISPREDICT_PENALTY,
  cyclesPerTick,
  defaultTiming,
  latencyArray,
  loadTimingFile,
  timingFromJson,
} from '../src/timing.js';
import { DEFAULT_TLB_MODEL, defaultTlbModel } from '../src/tlbmodel.js';

const dir = mkdtempSync(join(tmpdir(), 'cyclevisor-timing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: string): string {
  const p = join(dir, `t${n++}.json`);
  writeFileSync(p, content);
  return p;
}


describe('defaults (SiFive U74 via LLVM RISCVSchedSiFive7.td)', () => {
  it('has exactly one value per timing class', () => {
    expect(Object.keys(DEFAULT_LATENCY).sort()).toEqual([...TIMING_CLASSES].sort());
  });

  it('uses the documented numbers', () => {
    expect(DEFAULT_LATENCY).toEqual({
      alu: 1,
      branch: 1,
      jump: 1,
      load: 3,
      store: 1,
      mul: 1,
      div: 65,
      divw: 33,
      csr: 1,
      amo: 3,
      fence: 4,
      system: 4,
      fpu: 1,
      fdiv: 55,
      fload: 3,
      fstore: 1,
      branchTaken: 4,
      trap: 3,
    });
    expect(DEFAULT_LATENCY.branchTaken).toBe(1 + U74_MISPREDICT_PENALTY);
    expect(DEFAULT_LATENCY.trap).toBe(U74_MISPREDICT_PENALTY);
  });

  it('clocks: 1 GHz core, 10 MHz timebase, 100 cycles per mtime tick', () => {
    const cfg = defaultTiming();
    expect(cfg.cpuHz).toBe(1_000_000_000);
    expect(cfg.timebaseHz).toBe(10_000_000);
    expect(DEFAULT_CPU_HZ % DEFAULT_TIMEBASE_HZ).toBe(0);
    expect(cyclesPerTick(cfg)).toBe(100);
  });

  it('defaultTiming returns a fresh, mutable copy', () => {
    const a = defaultTiming();
    a.latency.alu = 7;
    a.tlb.l1.entries = 8;
    expect(defaultTiming().latency.alu).toBe(1);
    expect(defaultTiming().tlb).toEqual(DEFAULT_TLB_MODEL);
    expect(Object.isFrozen(DEFAULT_LATENCY)).toBe(true);
  });

  it('docs/TIMING.md lists every class with its default value', () => {
    const md = readFileSync(new URL('../docs/TIMING.md', import.meta.url), 'utf8');
    const rows = new Map<string, number>();
    for (const m of md.matchAll(/^\|\s*`(\w+)`\s*\|\s*(\d+)\s*\|/gm)) rows.set(m[1]!, Number(m[2]));
    expect(Object.fromEntries(rows)).toEqual({ ...DEFAULT_LATENCY });
  });
});

describe('latencyArray', () => {
  it('is a Uint8Array (one byte per class, as the core stores it) in TIMING_CLASSES order', () => {
    const cfg = defaultTiming();
    cfg.latency.divw = 40;
    cfg.latency.trap = 0;
    const a = latencyArray(cfg);
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(TIMING_CLASSES.length);
    expect(a[TIMING_CLASS_ID.divw]).toBe(40);
    expect(a[TIMING_CLASS_ID.trap]).toBe(0);
    expect(a[TIMING_CLASS_ID.div]).toBe(65);
    expect(Array.from(a)).toEqual(TIMING_CLASSES.map((c) => cfg.latency[c]));
  });
});

describe('loadTimingFile', () => {
  it('overrides only the keys given', () => {
    const cfg = loadTimingFile(file(JSON.stringify({ cpuHz: 1_500_000_000, timebaseHz: 4_000_000, latency: { div: 16, branchTaken: 1, alu: 0, fdiv: 255 } })));
    expect(cfg.cpuHz).toBe(1_500_000_000);
    expect(cfg.timebaseHz).toBe(4_000_000);
    expect(cyclesPerTick(cfg)).toBe(375);
    expect(cfg.latency).toEqual({ ...DEFAULT_LATENCY, div: 16, branchTaken: 1, alu: 0, fdiv: 255 });
  });

  it('an empty object gives the defaults', () => {
    expect(loadTimingFile(file('{}'))).toEqual(defaultTiming());
    expect(loadTimingFile(file('{"latency": {}}'))).toEqual(defaultTiming());
  });

  it('file errors', () => {
    const missing = join(dir, 'missing.json');
    expect(errorOf(() => loadTimingFile(missing))).toBe(`${missing}: no such file`);
    expect(errorOf(() => loadTimingFile(dir))).toBe(`${dir}: is a directory, not a timing file`);
  });

  it('invalid JSON names the file', () => {
    const p = file('{ "latency": { "div": 3, } }');
    expect(errorOf(() => loadTimingFile(p))).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON \\(.+\\)$`));
    const empty = file('');
    expect(errorOf(() => loadTimingFile(empty))).toContain(`${empty}: invalid JSON`);
  });

  it('wrong document shapes', () => {
    const p = file('[1, 2]');
    expect(errorOf(() => loadTimingFile(p))).toBe(`${p}: expected a JSON object like {"latency": {"div": 40}}, got an array`);
    const q = file('{"latency": 3}');
    expect(errorOf(() => loadTimingFile(q))).toBe(`${q}: "latency" must be an object mapping timing classes to cycles, got 3`);
  });

  it('unknown keys and classes are named, with a suggestion', () => {
    const p = file('{"latencies": {}}');
    expect(errorOf(() => loadTimingFile(p))).toBe(`${p}: unknown key "latencies" (allowed: cpuHz, timebaseHz, latency, tlb, vmm); did you mean "latency"?`);
    const q = file('{"latency": {"branch_taken": 2}}');
    expect(errorOf(() => loadTimingFile(q))).toBe(
      `${q}: unknown timing class "latency.branch_taken"; did you mean "branchTaken"? (classes: ${TIMING_CLASSES.join(', ')})`,
    );
    const r = file('{"latency": {"vector": 2}}');
    expect(errorOf(() => loadTimingFile(r))).toBe(`${r}: unknown timing class "latency.vector" (classes: ${TIMING_CLASSES.join(', ')})`);
  });

  it('latency values: integers in 0..255 (one byte per class in the core)', () => {
    const cases: Array<[string, string]> = [
      ['1.5', '"latency.div" must be an integer number of cycles, got 1.5'],
      ['"3"', '"latency.div" must be an integer number of cycles, got the string "3"'],
      ['null', '"latency.div" must be an integer number of cycles, got null'],
      ['true', '"latency.div" must be an integer number of cycles, got true'],
      ['-1', '"latency.div" is -1; it must be between 0 and 255'],
      ['256', '"latency.div" is 256; it must be between 0 and 255'],
      ['65535', '"latency.div" is 65535; it must be between 0 and 255'],
    ];
    for (const [v, msg] of cases) {
      const p = file(`{"latency": {"div": ${v}}}`);
      expect(errorOf(() => loadTimingFile(p))).toBe(`${p}: ${msg}`);
    }
  });

  it('clock validation', () => {
    const p = file('{"cpuHz": 1000000000, "timebaseHz": 3000000}');
    expect(errorOf(() => loadTimingFile(p))).toBe(`${p}: "cpuHz" (1000000000) must be a multiple of "timebaseHz" (3000000)`);
    const q = file('{"cpuHz": 0}');
    expect(errorOf(() => loadTimingFile(q))).toBe(`${q}: "cpuHz" must be a positive integer number of Hz, got 0`);
    const r = file('{"timebaseHz": 1e6, "cpuHz": 2.5e8}');
    expect(loadTimingFile(r)).toMatchObject({ cpuHz: 250_000_000, timebaseHz: 1_000_000 });
    const s = file('{"timebaseHz": "10MHz"}');
    expect(errorOf(() => loadTimingFile(s))).toBe(`${s}: "timebaseHz" must be a positive integer number of Hz, got the string "10MHz"`);
  });

  it('the example in docs/TIMING.md is valid', () => {
    const md = readFileSync(new URL('../docs/TIMING.md', import.meta.url), 'utf8');
    const m = /```json\n([\s\S]*?)```/.exec(md);
    expect(m).not.toBeNull();
    const cfg = timingFromJson(JSON.parse(m![1]!), 'docs/TIMING.md');
    expect(cfg.cpuHz).toBe(1_500_000_000);
    expect(cfg.latency.branchTaken).toBe(1);
  });

  it('timingFromJson uses the given source name', () => {
    expect(errorOf(() => timingFromJson(null, 'inline'))).toBe('inline: expected a JSON object like {"latency": {"div": 40}}, got null');
  });
});

describe('the tlb section', () => {
  const load = (tlb: unknown) => loadTimingFile(file(JSON.stringify({ tlb })));

  it('defaults to the U74-like model; keys merge over it (inside l1 and l2 too)', () => {
    expect(loadTimingFile(file('{}')).tlb).toEqual(defaultTlbModel());
    expect(load({}).tlb).toEqual(defaultTlbModel());
    const cfg = load({ l1: { entries: 32, ways: 4 }, l2: { latency: 6 }, replacement: 'plru', seed: 99, asidTagging: false, pwcEntries: 0, walkLatency: 20 });
    expect(cfg.tlb).toEqual({
      l1: { split: true, entries: 32, ways: 4 },
      l2: { entries: 512, ways: 1, latency: 6 },
      replacement: 'plru',
      seed: 99,
      asidTagging: false,
      pwcEntries: 0,
      walkLatency: 20,
      nestedTlbEntries: 0,
    });
    expect(cfg.latency).toEqual(DEFAULT_LATENCY);
    expect(load({ l2: null, l1: { split: false } }).tlb).toMatchObject({ l1: { split: false, entries: 40, ways: 40 }, l2: null });
    // The nested TLB (H extension): off by default, 0..64 entries.
    expect(load({ nestedTlbEntries: 16 }).tlb.nestedTlbEntries).toBe(16);
    const big = file(JSON.stringify({ tlb: { nestedTlbEntries: 65 } }));
    expect(errorOf(() => loadTimingFile(big))).toBe(`${big}: "tlb.nestedTlbEntries" is 65; it must be between 0 and 64`);
    const frac = file(JSON.stringify({ tlb: { nestedTlbEntries: 1.5 } }));
    expect(errorOf(() => loadTimingFile(frac))).toBe(`${frac}: "tlb.nestedTlbEntries" must be an integer, got 1.5`);
  });

  it('unknown keys are errors, with a suggestion', () => {
    const p = file('{"tlb": {"replacment": "lru"}}');
    expect(errorOf(() => loadTimingFile(p))).toBe(
      `${p}: unknown key "tlb.replacment" (allowed: l1, l2, replacement, seed, asidTagging, pwcEntries, walkLatency, nestedTlbEntries); did you mean "replacement"?`,
    );
    const q = file('{"tlb": {"l1": {"sets": 4}}}');
    expect(errorOf(() => loadTimingFile(q))).toBe(`${q}: unknown key "tlb.l1.sets" (allowed: split, entries, ways)`);
    const r = file('{"tlb": {"l2": {"latncy": 4}}}');
    expect(errorOf(() => loadTimingFile(r))).toBe(`${r}: unknown key "tlb.l2.latncy" (allowed: entries, ways, latency); did you mean "latency"?`);
  });

  it('types are checked and named', () => {
    const cases: Array<[unknown, string]> = [
      [3, '"tlb" must be an object like {"l1": {"entries": 32, "ways": 4}}, got 3'],
      [{ l1: [] }, '"tlb.l1" must be an object like {"split": true, "entries": 32, "ways": 4}, got an array'],
      [{ l2: 'none' }, '"tlb.l2" must be an object like {"entries": 512, "ways": 1, "latency": 2} (or null: no L2 TLB), got the string "none"'],
      [{ l1: { split: 1 } }, '"tlb.l1.split" must be true or false, got 1'],
      [{ l1: { entries: '32' } }, '"tlb.l1.entries" must be an integer, got the string "32"'],
      [{ walkLatency: 2.5 }, '"tlb.walkLatency" must be an integer, got 2.5'],
      [{ asidTagging: 'yes' }, '"tlb.asidTagging" must be true or false, got the string "yes"'],
      [{ replacement: 'LRU' }, '"tlb.replacement" must be one of lru, plru, fifo, random, got the string "LRU"; did you mean "lru"?'],
      [{ replacement: 1 }, '"tlb.replacement" must be one of lru, plru, fifo, random, got 1'],
    ];
    for (const [tlb, msg] of cases) {
      const p = file(JSON.stringify({ tlb }));
      expect(errorOf(() => loadTimingFile(p))).toBe(`${p}: ${msg}`);
    }
  });

  it('geometry the core cannot model is an error naming the key', () => {
    const cases: Array<[unknown, string]> = [
      [{ l1: { entries: 48, ways: 16 } }, '"tlb.l1.entries" / "tlb.l1.ways" (48 / 16 = 3 sets) must be a power of two'],
      [{ replacement: 'plru' }, '"tlb.l1.ways" is 40; "plru" replacement needs a power of two up to 16'],
      [{ l1: { entries: 2048, ways: 2 } }, '"tlb.l1.entries" is 2048; it must be between 1 and 1024'],
      [{ l2: { entries: 8192 } }, '"tlb.l2.entries" is 8192; it must be between 1 and 4096'],
      [{ l2: { entries: 4096, ways: 2 }, l1: { entries: 32, ways: 8 }, replacement: 'plru' }, '"tlb.l2" has 2048 sets; "plru" replacement supports at most 1024'],
      [{ pwcEntries: 128 }, '"tlb.pwcEntries" is 128; it must be between 0 and 64'],
      [{ seed: -1 }, '"tlb.seed" is -1; it must be between 0 and 4294967295'],
    ];
    for (const [tlb, msg] of cases) {
      const p = file(JSON.stringify({ tlb }));
      expect(errorOf(() => loadTimingFile(p))).toBe(`${p}: ${msg}`);
    }
  });

  it('the tlb example in docs/TIMING.md is valid', () => {
    const md = readFileSync(new URL('../docs/TIMING.md', import.meta.url), 'utf8');
    const blocks = [...md.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
    const withTlb = blocks.filter((b) => b['tlb'] !== undefined);
    expect(withTlb).toHaveLength(1);
    const cfg = timingFromJson(withTlb[0], 'docs/TIMING.md');
    expect(cfg.tlb.replacement).toBe('plru');
    expect(cfg.tlb.l1).toEqual({ split: true, entries: 32, ways: 8 });
  });
});

describe('the vmm section (host-VMM mode costs)', () => {
  it('defaults from the KVM world switch; keys override; errors name the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cyclevisor-vmm-'));
    const f = (doc: unknown) => {
      const p = join(dir, `v${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(p, JSON.stringify(doc));
      return p;
    };
    expect(defaultTiming().vmm).toEqual({ exitCycles: 90, entryCycles: 120 });
    expect(loadTimingFile(f({ vmm: { exitCycles: 500 } })).vmm).toEqual({ exitCycles: 500, entryCycles: 120 });
    const bad = f({ vmm: { exitCycle: 1 } });
    expect(errorOf(() => loadTimingFile(bad))).toBe(`${bad}: unknown key "vmm.exitCycle" (allowed: exitCycles, entryCycles); did you mean "exitCycles"?`);
    const neg = f({ vmm: { entryCycles: -1 } });
    expect(errorOf(() => loadTimingFile(neg))).toBe(`${neg}: "vmm.entryCycles" is -1; it must be between 0 and 1000000`);
    const arr = f({ vmm: [] });
    expect(errorOf(() => loadTimingFile(arr))).toBe(`${arr}: "vmm" must be an object like {"exitCycles": 90, "entryCycles": 120}, got an array`);
  });
});
