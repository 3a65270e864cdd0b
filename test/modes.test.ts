/**
 * --mode fast (host TLB only) and --mode timing (the modeled TLB on every translated access) must give
 * identical architectural results: same console output, same exit, same retired instructions and
 * per-class mix on programs whose control flow does not depend on time. Only cycles may differ, by
 * the modeled walk and L2 latencies.
 */
import { describe, expect, it } from 'vitest';
import { VirtMachine } from '../src/board/virt.js';
import { guestPrograms } from './helpers/guests.js';
import * as L from '../src/generated/layout.js';

const programs = guestPrograms().filter((p) => p.name.startsWith('vm-') || p.name === 'cmark-small' || p.name === 'traps');

function run(elf: string, mode: 'fast' | 'timing') {
  const m = new VirtMachine({ mode });
  m.loadElfFile(elf);
  const r = m.runSync({ maxInsns: 50_000_000 });
  return { m, r };
}

describe('fast and timing mode agree architecturally', () => {
  for (const p of programs) {
    it(`${p.name}: same output, exit, instret and class counts; timing adds only TLB cycles`, () => {
      const fast = run(p.elf, 'fast');
      const timing = run(p.elf, 'timing');
      expect(timing.r).toEqual(fast.r);
      expect(timing.m.outputText()).toBe(fast.m.outputText());
      expect(timing.m.core.instret).toBe(fast.m.core.instret);
      expect(timing.m.core.classCounts()).toEqual(fast.m.core.classCounts());
      const tlb = timing.m.tlbStats();
      const l2 = tlb.l2 ? tlb.l2.accesses * timing.m.timing.tlb.l2!.latency : 0;
      expect(timing.m.core.cycles - fast.m.core.cycles).toBe(tlb.walkCycles + l2);
      if (p.name.startsWith('vm-')) {
        // These run S- and U-mode code under paging: the model saw translated accesses and walks.
        expect(tlb.dtlb.accesses).toBeGreaterThan(0);
        expect(tlb.itlb.accesses).toBeGreaterThan(0);
        expect(tlb.walks).toBeGreaterThan(0);
      } else {
        // M-mode programs bypass translation: nothing to count.
        expect(tlb.walks).toBe(0);
      }
    });
  }
});

describe('A/D update is selectable (Svadu hardware update, or Svade page faults)', () => {
  // The behaviour itself is tested on the core (test/core/mmu.test.ts: a clear A or D page-faults
  // and leaves the PTE untouched). Here: the board option reaches every hart.
  it.each([
    [undefined, 1],
    [true, 1],
    [false, 0],
  ] as const)('adUpdate %s -> H_AD_UPDATE = %i on every hart', (adUpdate, want) => {
    const m = new VirtMachine({ harts: 3, ...(adUpdate === undefined ? {} : { adUpdate }) });
    for (let h = 0; h < 3; h++) expect(m.core.hartNum(h, L.H_AD_UPDATE)).toBe(want);
  });
});
