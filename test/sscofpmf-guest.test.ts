/**
 * The bare-metal guest test/guests/sscofpmf.c (Sscofpmf: OF, scountovf, LCOFI in M-mode and
 * delegated to S-mode). guests.test.ts compares its console with QEMU 7.2's (`-cpu
 * rv64,sscofpmf=true -icount shift=0`: the same architectural effects); this test checks what
 * QEMU cannot be compared on, because it raises the interrupt some instructions late: the point
 * at which cyclevisor takes it. The S-mode handler reads hpmcounter3 as its third instruction, so
 * an interrupt taken right after the wrapping instruction reads exactly 2 there; one taken k
 * instructions late would read 2 + k.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VirtMachine } from '../src/board/virt.js';
import { parseElf } from '../src/elf.js';
import { GUESTS } from './helpers/guests.js';

const ELF = join(GUESTS, 'bin', 'sscofpmf.elf');

function run() {
  const m = new VirtMachine();
  m.loadElfFile(ELF);
  const r = m.runSync({ maxInsns: 50_000_000 });
  const rec = parseElf(readFileSync(ELF), 'sscofpmf.elf').symbols.get('s_rec')!;
  const word = (i: number) => new DataView(m.core.readPhys(Number(rec) + 8 * i, 8).buffer.slice(0)).getBigUint64(0, true);
  return { m, r, ctrAtEntry: word(0), scause: word(1), count: word(5) };
}

describe('sscofpmf guest: the exact overflow point', () => {
  it('the S-mode handler reads hpmcounter3 = 2 at its third instruction (LCOFI right after the wrap); one interrupt', () => {
    const { m, r, ctrAtEntry, scause, count } = run();
    expect(r).toEqual({ reason: 'exit', code: 0 });
    expect(m.outputText()).toContain('sscofpmf: all passed');
    expect(scause).toBe((1n << 63n) | 13n);
    expect(count).toBe(1n);
    expect(ctrAtEntry).toBe(2n);
  });

  it('deterministic: two runs give the same instret, cycles and interrupts', () => {
    const a = run(), b = run();
    expect([b.m.core.instret, b.m.core.cycles, b.m.core.interrupts]).toEqual([a.m.core.instret, a.m.core.cycles, a.m.core.interrupts]);
    expect(a.m.core.interrupts).toBe(3); // M instret, M cycles, S instret
  });
});
