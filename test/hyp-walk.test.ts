/**
 * The worst-case walk counts of issue 9 (item 5), end to end: the guest programs of
 * test/guests/hyp-walk/ (bare-metal: S-mode under satp, then HS-mode building hgatp and vsatp
 * tables and entering VS-mode; every page 4 KiB in both stages) in --mode timing with no walk
 * caches (no L2 TLB, no page-walk cache, no nested TLB) and an L1 large enough that each page
 * is walked once. Expected (Priv 1.12 §8.5: every VS-stage PTE address and the final GPA go
 * through the G-stage):
 *
 *   hyp-walk-sv39: 2 native walks of 3 references, 3 nested walks of 15 (3 VS + 12 G)
 *   hyp-walk-sv48: 2 native walks of 4 references, 3 nested walks of 24 (4 VS + 20 G)
 *
 * The pages walked: native, the guest-code page (fetch) and one data page (load); V=1, the
 * guest-code page (fetch), page A (load) and page B (store). The console output and exit code
 * are QEMU 7.2's (`-cpu rv64,h=true`; test/guests/expected/, rows of programs.tsv).
 *
 * These programs need the H extension in the core (V bit, hgatp/vsatp, HS→VS entry, delegation of
 * the VS ecall). On a core without it (misa.H = 0) they are skipped, saying why.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VirtMachine } from '../src/board/virt.js';
import { defaultTiming } from '../src/timing.js';
import * as L from '../src/generated/layout.js';

const dir = join(import.meta.dirname, 'guests');
const MISA_H = 1n << 7n; // misa.H (the running hart 0 block)

function machine(mode: 'fast' | 'timing'): VirtMachine {
  const timing = defaultTiming();
  timing.tlb = {
    ...timing.tlb,
    l1: { split: true, entries: 16, ways: 16 },
    l2: null,
    pwcEntries: 0,
    nestedTlbEntries: 0,
    walkLatency: 5,
  };
  return new VirtMachine({ mode, timing });
}

const hasH = (new VirtMachine().core.get64(L.H_MISA) & MISA_H) !== 0n;

const cases = [
  { sv: 39, native: 3, vs: 3, g: 12, nested: 15 },
  { sv: 48, native: 4, vs: 4, g: 20, nested: 24 },
] as const;

describe.skipIf(!hasH)('two-dimensional walk counts from guest programs (needs the H extension: misa.H)', () => {
  for (const c of cases) {
    const name = `hyp-walk-sv${c.sv}`;
    it(`${name}: ${c.native} references per native walk, ${c.nested} per nested walk, QEMU's output`, () => {
      const m = machine('timing');
      m.loadElfFile(join(dir, 'bin', `${name}.elf`));
      const r = m.runSync({ maxInsns: 5_000_000 });
      expect(m.outputText()).toBe(readFileSync(join(dir, 'expected', `${name}.out`), 'utf8'));
      expect(r).toEqual({ reason: 'exit', code: 0 });
      const t = m.tlbStats();
      const hist8 = Array.from({ length: 8 }, () => 0);
      hist8[c.native] = 2;
      hist8[7] = 3; // nested walks land in the "7 or more" bucket of the all-walks histogram
      expect(t.refsHistogram).toEqual(hist8);
      expect(t.walks).toBe(5);
      expect(t.walkRefs).toBe(2 * c.native + 3 * c.nested);
      expect(t.faultWalks).toBe(0);
      expect(t.nested.walks).toBe(3);
      expect([t.nested.vsRefs, t.nested.gRefs, t.nested.refs]).toEqual([3 * c.vs, 3 * c.g, 3 * c.nested]);
      const h36 = Array.from({ length: 36 }, () => 0);
      h36[c.nested] = 3;
      expect(t.nested.totalHistogram).toEqual(h36);
      const g36 = Array.from({ length: 36 }, () => 0);
      g36[c.g] = 3;
      expect(t.nested.gHistogram).toEqual(g36);
      expect(t.nested.vsHistogram[c.vs]).toBe(3);
      expect(t.nested.guestPageFaults).toBe(0);
      expect(t.nested.adWrites).toEqual({ vs: 0, g: 0 }); // A and D preset everywhere
      expect([t.adWrites, t.itlb.misses, t.dtlb.misses]).toEqual([0, 2, 3]);
      // The program's one hfence.gvma and one hfence.vvma reach the model (run.ts hooks).
      expect(t.nested.flushes).toEqual({ vvma: 1, gvma: 1, vsatp: 0 });
    });

    it(`${name}: fast and timing mode agree architecturally; timing adds exactly the walk cycles`, () => {
      const fast = machine('fast');
      fast.loadElfFile(join(dir, 'bin', `${name}.elf`));
      const rf = fast.runSync({ maxInsns: 5_000_000 });
      const timing = machine('timing');
      timing.loadElfFile(join(dir, 'bin', `${name}.elf`));
      const rt = timing.runSync({ maxInsns: 5_000_000 });
      expect(rt).toEqual(rf);
      expect(timing.outputText()).toBe(fast.outputText());
      expect(timing.core.instret).toBe(fast.core.instret);
      expect(timing.core.cycles - fast.core.cycles).toBe(timing.tlbStats().walkCycles);
      expect(timing.tlbStats().walkCycles).toBe(5 * (2 * c.native + 3 * c.nested));
    });
  }
});

describe.skipIf(!hasH)('the modeled TLB never changes what a hypervisor program computes', () => {
  // test/guests/hyp (the H-extension checks: VS/VU entry, guest-page faults, HLV/HSV, MPRV with
  // MPV, hfences) under the default U74-like model: same output, exit, instret and class counts as
  // fast mode; timing adds exactly the walk cycles and L2 latencies; and it made nested walks,
  // some ending in guest-page faults.
  // hyp2 (tinst of every access kind, PMP faults on G-stage walks, G-stage superpages, MPRV+MPV,
  // interrupts and WFI under V = 1) goes through the same walks with other outcomes.
  it.each(['hyp', 'hyp2'])('%s: fast and timing mode agree; nested walks and guest-page faults are counted', (name) => {
    const run = (mode: 'fast' | 'timing') => {
      const m = new VirtMachine({ mode });
      m.loadElfFile(join(dir, 'bin', `${name}.elf`));
      return { m, r: m.runSync({ maxInsns: 50_000_000 }) };
    };
    const fast = run('fast');
    const timing = run('timing');
    expect(timing.r).toEqual(fast.r);
    expect(timing.m.outputText()).toBe(fast.m.outputText());
    expect(timing.m.core.instret).toBe(fast.m.core.instret);
    expect(timing.m.core.classCounts()).toEqual(fast.m.core.classCounts());
    const t = timing.m.tlbStats();
    const l2 = t.l2 ? t.l2.accesses * timing.m.timing.tlb.l2!.latency : 0;
    expect(timing.m.core.cycles - fast.m.core.cycles).toBe(t.walkCycles + l2);
    expect(t.nested.walks).toBeGreaterThan(0);
    expect(t.nested.guestPageFaults).toBeGreaterThan(0);
    expect(t.nested.refs).toBe(t.nested.vsRefs + t.nested.gRefs);
    expect(t.nested.totalHistogram.reduce((a, b) => a + b, 0)).toBe(t.nested.walks);
  });
});

describe('hyp-walk guests are built and their expected output recorded', () => {
  it('binaries and QEMU 7.2 outputs are committed', () => {
    for (const c of cases) {
      const name = `hyp-walk-sv${c.sv}`;
      expect(readFileSync(join(dir, 'bin', `${name}.elf`)).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
      expect(readFileSync(join(dir, 'expected', `${name}.out`), 'utf8')).toMatch(/all passed\n$/);
    }
  });
});
