/**
 * The fixed subset that `npm test` checks (test/fpdiff.test.ts) without QEMU:
 * test/guests/fp/expected/fpdiff-subset.txt holds the operand records and QEMU's transcript line
 * for each, written by `npm run fpdiff -- --write-subset` (which needs QEMU).
 *
 * Line format (TAB-separated): insn, frm, flags, a, b, c (16 hex digits, "-" when the instruction
 * has no such operand), QEMU's output line for the record (18 hex digits per rounding-mode variant:
 * 16 of result, 2 of fflags; see records.ts). Lines starting with '#' are comments.
 */
import { OPS, OP_BY_NAME } from './ops.js';
import type { FpRecord } from './records.js';

export const SUBSET_FILE = 'test/guests/fp/expected/fpdiff-subset.txt';
export const SUBSET_SEED = 'subset-1';
export const SUBSET_PER_INSN = 35;

const h16 = (v: bigint): string => v.toString(16).padStart(16, '0');

export function formatSubset(recs: readonly FpRecord[], lines: readonly string[], header: readonly string[]): string {
  const out = header.map((h) => `# ${h}`);
  recs.forEach((r, i) => {
    const op = OPS[r.op]!;
    const vals = [r.a, r.b, r.c].map((v, j) => (j < op.srcs.length ? h16(v) : '-'));
    out.push([op.name, r.frm, r.flags, ...vals, lines[i]!].join('\t'));
  });
  return `${out.join('\n')}\n`;
}

export function parseSubset(text: string): { recs: FpRecord[]; lines: string[] } {
  const recs: FpRecord[] = [];
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name, frm, flags, a, b, c, res] = line.split('\t');
    const op = OP_BY_NAME.get(name ?? '');
    if (op === undefined || res === undefined) throw new Error(`${SUBSET_FILE}: bad line '${line.slice(0, 80)}'`);
    const v = (s: string | undefined): bigint => (s === undefined || s === '-' ? 0n : BigInt(`0x${s}`));
    recs.push({ op, frm: Number(frm), flags: Number(flags), a: v(a), b: v(b), c: v(c) });
    lines.push(res);
  }
  return { recs, lines };
}
