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
import * as L from '../src/generated/layout.js';
import { RAM_BASE, asm, br, csrr, csrw, jal, label, li, org } from './helpers/isa.js';

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

/**
 * A hart asleep in WFI with only an armed cycles counter to wake it (board: virt.ts idle() and
 * the SMP rounds): the wrap is a wake-up deadline like the Sstc timer's, or the board would say
 * that nothing is left to wake the harts. Hart 0 arms mhpmcounter3 (cycles) at 2^64 - 200,000,
 * enables LCOFI and sleeps; its handler passes through the test finisher. Other harts park in WFI
 * with nothing enabled.
 */
describe('WFI: an armed cycles counter wakes the hart (LCOFI)', () => {
  const W = 200_000;
  const prog = asm([
    csrr(5, 0xf14), br('bne', 5, 0, 'park'),
    ...li(5, BigInt(RAM_BASE + 0x100)), csrw(0x305, 5), // mtvec
    ...li(5, 1n), csrw(0x323, 5), // mhpmevent3 = cycles
    ...li(5, BigInt(-W)), csrw(0xb03, 5),
    ...li(5, 1n << 13n), csrw(0x304, 5), // mie.LCOFIE
    ['csrrsi', { rd: 0, rs1: 8, imm: 0x300 }], // mstatus.MIE
    ['wfi'],
    ...li(5, 0x100000n), ...li(6, (1n << 16n) | 0x3333n), ['sw', { rs1: 5, rs2: 6, imm: 0 }], // not woken: fail 1
    label('park'), ['wfi'], jal(0, 'park'),
    org(RAM_BASE + 0x100),
    ...li(5, 0x100000n), ...li(6, 0x5555n), ['sw', { rs1: 5, rs2: 6, imm: 0 }], label('spin'), jal(0, 'spin'),
  ], RAM_BASE).bytes;

  for (const harts of [1, 2]) {
    it(`${harts} hart${harts > 1 ? 's' : ''}: woken at the wrap, not before`, () => {
      const m = new VirtMachine({ harts });
      m.core.writePhys(RAM_BASE, prog);
      const r = m.runSync({ maxInsns: 1_000_000 });
      expect(r).toEqual({ reason: 'exit', code: 0 });
      m.core.switchHart(0);
      expect(m.core.getCsr(L.H_MCAUSE)).toBe((1n << 63n) | 13n);
      expect(m.core.cycles).toBeGreaterThanOrEqual(W);
      expect(m.core.cycles).toBeLessThan(W + 20_000);
    });
  }
});
