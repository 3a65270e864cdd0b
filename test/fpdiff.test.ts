/**
 * The FP differential tool's fixed subset, and the FP guests, on cyclevisor alone (no QEMU needed).
 *
 *  - test/guests/fp/expected/fpdiff-subset.txt: 2,030 operand records (35 per F/D instruction, seed
 *    'subset-1') with QEMU 7.2's results for every rounding-mode variant. They run through the same
 *    guest the full differential run uses (test/guests/bin/fp-diff.elf, records appended as a
 *    segment), and every result and fflags value must equal QEMU's.
 *  - the spec anchors (scripts/fp-diff/anchors.ts) must hold.
 *  - fp-bench-small must print exactly what QEMU printed (expected/fp-bench-small.out).
 * The full comparison against a live QEMU is `npm run fpdiff` (test/guests/fp/README.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VirtMachine } from '../src/board/virt.js';
import { anchorHolds, anchorRecords, ANCHORS } from '../scripts/fp-diff/anchors.js';
import { appendSegment } from '../scripts/fp-diff/elf.js';
import { OPS, renderOpsAsm, variantsOf, FLAG_RESERVED_RM } from '../scripts/fp-diff/ops.js';
import {
  encodeRecords, fnv1a64, FPD_INPUT, operandsText, parseOutput, resultText, TRAPPED, variantText, type FpRecord,
} from '../scripts/fp-diff/records.js';
import { parseSubset, SUBSET_FILE } from '../scripts/fp-diff/subset.js';
import { ROOT } from './helpers/guests.js';

const FP = join(ROOT, 'test/guests/fp');
const BIN = join(ROOT, 'test/guests/bin');

function runElf(bytes: Uint8Array, name: string, ramBytes = 256 << 20): { out: string; exit: unknown } {
  const m = new VirtMachine({ ramBytes });
  m.loadElf(bytes, name);
  const r = m.runSync({ maxInsns: 200_000_000 });
  return { out: m.outputText(), exit: r };
}

function runRecords(recs: FpRecord[]): { out: string; exit: unknown } {
  const elf = appendSegment(readFileSync(join(BIN, 'fp-diff.elf')), FPD_INPUT, encodeRecords(recs));
  return runElf(elf, 'fp-diff.elf+records');
}

describe('FP differential subset (expected results from QEMU 7.2)', () => {
  const { recs, lines } = parseSubset(readFileSync(join(ROOT, SUBSET_FILE), 'utf8'));

  it('fpdiff-ops.S is current (generated from scripts/fp-diff/ops.ts: npm run fpdiff -- --write-asm)', () => {
    expect(readFileSync(join(FP, 'fpdiff-ops.S'), 'utf8')).toBe(renderOpsAsm());
  });

  it('the subset covers every instruction, every frm value and the reserved rm encodings', () => {
    expect(OPS).toHaveLength(58);
    expect(new Set(recs.map((r) => r.op)).size).toBe(OPS.length);
    expect(new Set(recs.map((r) => r.frm))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7]));
    expect(recs.some((r) => r.flags & FLAG_RESERVED_RM)).toBe(true);
    expect(recs.length).toBeGreaterThanOrEqual(2000);
  });

  it('cyclevisor gives QEMU\'s result bits and fflags for every record and rounding mode', () => {
    const { out, exit } = runRecords(recs);
    expect(exit).toEqual({ reason: 'exit', code: 0 });
    const got = parseOutput(out, recs); // checks record count and transcript checksum
    const want = parseOutput(transcript(lines), recs); // the committed lines are QEMU's
    const mismatches: string[] = [];
    let executions = 0;
    let traps = 0;
    recs.forEach((r, i) => {
      const op = OPS[r.op]!;
      variantsOf(op, r.flags).forEach((rm, v) => {
        executions++;
        const q = want[i]![v]!, c = got[i]![v]!;
        if (q.flags & TRAPPED) traps++;
        if (q.bits !== c.bits || q.flags !== c.flags) {
          mismatches.push(
            `${variantText(r, rm)} [record ${i}]\n  ${operandsText(r)}\n  qemu:       ${resultText(q, op.dst)}\n  cyclevisor: ${resultText(c, op.dst)}`,
          );
        }
      });
    });
    expect(mismatches.slice(0, 10).join('\n')).toBe('');
    expect(executions).toBeGreaterThan(8000);
    expect(traps).toBeGreaterThan(50); // reserved rm and invalid frm under dyn: illegal instruction
  });
});

/** A transcript, as the guest prints it, around record lines. */
function transcript(lines: string[]): string {
  const body = lines.map((l) => `${l}\n`).join('');
  return `fpdiff: records=${lines.length}\n${body}fpdiff: checksum=0x${fnv1a64(body).toString(16).padStart(16, '0')}\n`;
}

describe('spec anchors (results written down from the RISC-V spec, scripts/fp-diff/anchors.ts)', () => {
  it('cyclevisor gives the specified result and flags for each', () => {
    const recs = anchorRecords();
    const { out, exit } = runRecords(recs);
    expect(exit).toEqual({ reason: 'exit', code: 0 });
    const got = parseOutput(out, recs);
    const failures = ANCHORS.flatMap((x, i) => {
      const r = recs[i]!;
      const o = got[i]![variantsOf(OPS[r.op]!, r.flags).indexOf(x.rm)]!;
      return anchorHolds(x, o) ? [] : [`${variantText(r, x.rm)}: ${x.ref}\n  ${operandsText(r)}\n  got ${resultText(o, OPS[r.op]!.dst)}`];
    });
    expect(failures.join('\n')).toBe('');
  });
});

describe('fp-diff guest and transcript handling', () => {
  it('without an operand segment the guest says so and exits 2', () => {
    const { out, exit } = runElf(readFileSync(join(BIN, 'fp-diff.elf')), 'fp-diff.elf');
    expect(out).toBe('fpdiff: no operand records at 0x81000000\n');
    expect(exit).toEqual({ reason: 'exit', code: 2 });
  });

  it('a damaged transcript is rejected (checksum), a short one too', () => {
    const recs: FpRecord[] = [
      { op: OPS.findIndex((o) => o.name === 'fadd.d'), flags: 0, frm: 0, a: 0x3ff0000000000000n, b: 0x3ff0000000000000n, c: 0n },
      { op: OPS.findIndex((o) => o.name === 'fclass.s'), flags: 0, frm: 0, a: 0xffffffff7f800000n, b: 0n, c: 0n },
    ];
    const { out } = runRecords(recs);
    const got = parseOutput(out, recs);
    expect(got[0]).toHaveLength(6);
    expect(got[0]![0]).toEqual({ bits: 0x4000000000000000n, flags: 0 }); // 1 + 1 = 2, exact
    expect(got[1]).toEqual([{ bits: 0x80n, flags: 0 }]); // +inf: class bit 7
    const bad = out.replace('4000000000000000', '4000000000000001');
    expect(() => parseOutput(bad, recs)).toThrow(/checksum/);
    expect(() => parseOutput(out.slice(0, out.length / 2), recs)).toThrow();
  });
});

describe('fp-bench-small', () => {
  it('prints what QEMU printed (expected/fp-bench-small.out) and exits 0', () => {
    const { out, exit } = runElf(readFileSync(join(BIN, 'fp-bench-small.elf')), 'fp-bench-small.elf', 16 << 20);
    expect(out).toBe(readFileSync(join(FP, 'expected/fp-bench-small.out'), 'utf8'));
    expect(exit).toEqual({ reason: 'exit', code: 0 });
  });
});
