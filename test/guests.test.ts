/**
 * Every guest program of test/guests/programs.tsv on the virt board (VirtMachine.runSync): console
 * output byte for byte against expected/<name>.out (QEMU 7.2's output), exit code against the table.
 * HTIF ("spike") programs run on the same board: it finds the mailbox through the tohost symbol.
 * `cmark` (286M instructions) is left to the demo and the benchmarks; `cmark-small` runs here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VirtMachine, type RunResult } from '../src/board/virt.js';
import { guestPrograms, type GuestProgram } from './helpers/guests.js';

/** Guard against a hang: far above any program here except cmark (which is skipped). */
const MAX_INSNS = 50_000_000;

const programs = guestPrograms();
const byName = (name: string): GuestProgram => {
  const p = programs.find((x) => x.name === name);
  if (!p) throw new Error(`no program ${name} in programs.tsv`);
  return p;
};

function runGuest(p: GuestProgram, opts: { trace?: number } = {}): { m: VirtMachine; r: RunResult } {
  const m = new VirtMachine();
  m.loadElfFile(p.elf);
  if (p.stdin) m.pushInput(p.stdin);
  const r = m.runSync({ maxInsns: MAX_INSNS, ...opts });
  return { m, r };
}

async function runGuestAsync(p: GuestProgram, sliceCycles: number): Promise<{ m: VirtMachine; r: RunResult }> {
  const m = new VirtMachine();
  m.loadElfFile(p.elf);
  if (p.stdin) m.pushInput(p.stdin);
  const r = await m.runAsync({ maxInsns: MAX_INSNS, yieldMs: 0, sliceCycles });
  return { m, r };
}

/** Everything a rerun must reproduce exactly. */
function fingerprint(m: VirtMachine, r: RunResult) {
  return {
    result: r,
    instret: m.core.instret,
    cycles: m.core.cycles,
    classCounts: m.core.classCounts(),
    exceptions: m.core.exceptions,
    interrupts: m.core.interrupts,
    pc: m.core.pc,
    output: m.outputText(),
    bus: m.bus.stats(),
  };
}

describe('guest programs (programs.tsv) on the virt board', () => {
  it('programs.tsv lists the programs the README describes', () => {
    expect(programs.map((p) => p.name)).toEqual(
      expect.arrayContaining(['hello', 'traps', 'interrupts', 'timer', 'echo', 'cmark-small', 'cmark', 'htif-pass', 'htif-fail', 'htif-hello']),
    );
  });

  for (const p of programs) {
    const title = `${p.name} (${p.machine}): expected output and exit code ${p.exit}`;
    if (p.name === 'cmark') {
      it.skip(`${title} — 286M instructions: run by \`cyclevisor demo\` and the benchmarks`, () => {});
      continue;
    }
    it(title, () => {
      const { m, r } = runGuest(p);
      const expected = readFileSync(p.expected);
      // Compare as text first for a readable diff, then as bytes.
      expect(m.outputText()).toBe(expected.toString('utf8'));
      expect(Buffer.from(m.output()).equals(expected)).toBe(true);
      expect(r).toEqual({ reason: 'exit', code: p.exit });
      // HTIF programs must find their mailbox; virt programs may carry a tohost symbol too (the
      // vm-* suite reports through both the finisher and HTIF).
      if (p.machine === 'spike') expect(m.htif).not.toBeNull();
    });
  }
});

describe('determinism', () => {
  it('cmark-small twice: identical instret, cycles, class counts and output', () => {
    const p = byName('cmark-small');
    const a = runGuest(p);
    const b = runGuest(p);
    expect(a.r).toEqual({ reason: 'exit', code: 0 });
    expect(fingerprint(b.m, b.r)).toEqual(fingerprint(a.m, a.r));
    // QEMU counts 3,438,435 retired instructions for the whole run (README): same program, same count.
    expect(a.m.core.instret).toBeGreaterThan(3_400_000);
    expect(a.m.core.instret).toBeLessThan(3_500_000);
  });

  it('slicing the run (runAsync with odd slice lengths) and --trace do not change the results', async () => {
    for (const name of ['cmark-small', 'timer', 'interrupts', 'htif-hello', 'echo', 'sscofpmf']) {
      const p = byName(name);
      const ref = runGuest(p);
      const want = fingerprint(ref.m, ref.r);
      for (const slice of [997, 65_537]) {
        const s = await runGuestAsync(p, slice);
        expect(fingerprint(s.m, s.r), `${name}, slices of ${slice} cycles`).toEqual(want);
      }
      const t = runGuest(p, { trace: 300 });
      expect(fingerprint(t.m, t.r), `${name}, first 300 instructions single-stepped`).toEqual(want);
    }
  });

  it('timer: WFI skips to the next timer event instead of spinning (cycles >> instret)', () => {
    const { m, r } = runGuest(byName('timer'));
    expect(r).toEqual({ reason: 'exit', code: 0 });
    const { instret, cycles } = m.core;
    // 10 ticks of 10,000 mtime ticks at 100 cycles per tick = 10M cycles, in ~54K instructions.
    expect(cycles).toBeGreaterThanOrEqual(10 * 10_000 * 100);
    expect(cycles).toBeGreaterThan(100 * instret);
    expect(m.core.interrupts).toBe(10);
    expect(m.clint.timerInterrupts).toBe(10);
  });
});
