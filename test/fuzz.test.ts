/**
 * The differential fuzzer's fixed corpus on cyclevisor alone (no QEMU needed), exactly as
 * test/fpdiff.test.ts does for the F/D subset.
 *
 *  - test/guests/fuzz/expected/corpus.txt: 100 programs (seed 'corpus-1', scripts/fuzz/corpus.ts)
 *    with the state QEMU 7.2 left after each (the runtime's P lines). They run through the same
 *    runtime the full run uses (test/guests/bin/fuzz-rt.elf, programs appended as a segment), and
 *    every compared field must equal QEMU's up to the allowed table (scripts/fuzz/allowed.ts).
 *  - the corpus covers every row of the instruction table, traps of every kind the generator makes,
 *    page-crossing instructions and accesses, compressed forms, every rounding mode.
 *  - the generated runtime macros are current, and the layout constants agree with the runtime.
 * The full comparison against a live QEMU is `npm run fuzz` (README "Differential fuzzing").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStates } from '../scripts/fuzz/batch.js';
import { compareStates, diffText } from '../scripts/fuzz/compare.js';
import { ALLOWED } from '../scripts/fuzz/allowed.js';
import { CORPUS_FILE, corpusPrograms, parseCorpus, segmentHash } from '../scripts/fuzz/corpus.js';
import { renderCsrAsm } from '../scripts/fuzz/csrs.js';
import { FUZZ_ROWS, layout, PT_OFF } from '../scripts/fuzz/gen.js';
import * as LAYOUT from '../scripts/fuzz/layout.js';
import { buildElf, runCyclevisor } from '../scripts/fuzz/run.js';
import { INSN_TABLE } from '../src/isa/table.js';
import { ROOT } from './helpers/guests.js';

const progs = corpusPrograms();

describe('fuzz corpus (expected states from QEMU 7.2)', () => {
  const corpus = parseCorpus(readFileSync(join(ROOT, CORPUS_FILE), 'utf8'));

  it('the corpus file belongs to these programs (else: npm run fuzz -- --write-corpus, with QEMU)', () => {
    expect(segmentHash(progs)).toBe(corpus.hash);
  });

  it('cyclevisor leaves the state QEMU left after every program, up to the allowed differences', () => {
    const run = runCyclevisor(buildElf(progs));
    expect(run.error).toBeUndefined();
    const got = parseStates(run.out, progs.length);
    const want = parseStates(corpus.transcript, progs.length);
    const bad: string[] = [];
    let allowed = 0;
    let traps = 0n;
    progs.forEach((p, i) => {
      const r = compareStates(want[i]!, got[i]!, p);
      allowed += r.allowed.length;
      traps += want[i]!.traps;
      if (r.diffs.length) bad.push(`program ${i}:\n  ${r.diffs.slice(0, 5).map(diffText).join('\n  ')}`);
    });
    expect(bad.slice(0, 5).join('\n')).toBe('');
    expect(traps).toBeGreaterThan(1000n); // the programs do trap, a lot
    expect(allowed).toBeGreaterThan(0); // and the allowed table is exercised (ebreak mtval, AMO causes)
  });

  it('a changed value is a mismatch (the comparison can fail)', () => {
    const want = parseStates(corpus.transcript, progs.length);
    const q = want[0]!;
    const c = { ...q, x: [...q.x], csrs: [...q.csrs], log: q.log.map((t) => ({ ...t })) };
    c.x[10] = c.x[10]! ^ 1n;
    c.log[0]!.cause ^= 1n;
    const r = compareStates(q, c, progs[0]!);
    expect(r.diffs.map((d) => d.field)).toEqual(['trap[0].mcause', 'x10 (a0)']);
  });
});

describe('fuzz generator coverage (the corpus programs)', () => {
  const laid = progs.map(layout);
  const rows = new Set(laid.flatMap((l) => l.rows));

  it('covers every row of the instruction table but those QEMU 7.2 is no oracle for (H; Zicond, Zicbom, Zicboz, Zfa: absent in QEMU 7.2)', () => {
    const missing = FUZZ_ROWS.map((r) => r.name).filter((n) => !rows.has(n));
    expect(missing).toEqual([]);
    // hinval.* are Svinval rows that need H.
    expect(new Set(INSN_TABLE.filter((r) => !FUZZ_ROWS.includes(r)).map((r) => r.ext))).toEqual(new Set(['H', 'Zicond', 'Zicbom', 'Zicboz', 'Zfa', 'Svinval']));
    expect(INSN_TABLE.filter((r) => !FUZZ_ROWS.includes(r) && r.ext === 'Svinval').map((r) => r.name)).toEqual(['hinval.vvma', 'hinval.gvma']);
  });

  it('has illegal encodings, reserved rounding modes, page-crossing instructions and compressed forms', () => {
    expect(rows.has('illegal')).toBe(true);
    const listing = laid.flatMap((l) => l.listing);
    expect(listing.filter((l) => l.includes('page crossing')).length).toBeGreaterThan(50);
    expect([...rows].some((r) => /\/rm[56]$/.test(r))).toBe(true); // reserved static rm: illegal
    expect(INSN_TABLE.filter((r) => r.width === 16).every((r) => rows.has(r.name))).toBe(true);
    // every static rounding mode and dyn on some FP instruction
    for (const rm of ['rne', 'rtz', 'rdn', 'rup', 'rmm']) expect(listing.some((l) => new RegExp(`f\\S+ .*, ${rm}\\s`).test(l))).toBe(true);
  });
});

describe('fuzz runtime and tables', () => {
  it('fuzz-csrs.S is current (generated from scripts/fuzz/csrs.ts: npm run fuzz -- --write-asm)', () => {
    expect(readFileSync(join(ROOT, 'test/guests/fuzz/fuzz-csrs.S'), 'utf8')).toBe(renderCsrAsm());
  });

  it('the runtime uses the layout of scripts/fuzz/layout.ts', () => {
    const src = readFileSync(join(ROOT, 'test/guests/fuzz/fuzz-rt.S'), 'utf8');
    const def = (n: string): number => Number(new RegExp(`#define ${n}\\s+(\\S+)`).exec(src)![1]);
    expect(def('G')).toBe(LAYOUT.G);
    expect(def('DATA_SIZE')).toBe(LAYOUT.DATA_SIZE);
    expect(def('CODE')).toBe(LAYOUT.CODE);
    expect(def('IN')).toBe(LAYOUT.IN);
    expect(def('LOG_MAX')).toBe(LAYOUT.LOG_MAX);
    expect(def('TRAP_MAX')).toBe(LAYOUT.TRAP_MAX);
    expect(def('PT_OFF')).toBe(PT_OFF);
    expect(BigInt(new RegExp('#define MAGIC\\s+(\\S+)').exec(src)![1]!)).toBe(LAYOUT.MAGIC);
  });

  it('every allowed difference quotes its spec sentence', () => {
    for (const r of ALLOWED) expect(r.spec, r.id).toMatch(/(Priv|Unpriv) [\d.]+.*"/);
    expect(new Set(ALLOWED.map((r) => r.id)).size).toBe(ALLOWED.length);
  });

  it('without a program segment the runtime says so and exits 2', () => {
    const run = runCyclevisor(new Uint8Array(readFileSync(join(ROOT, 'test/guests/bin/fuzz-rt.elf'))));
    expect(run.out).toBe('fuzz: no programs at 0x81000000\n');
    expect(run.ok).toBe(false);
  });
});
