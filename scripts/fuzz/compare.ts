/**
 * Comparing the states two machines left after a program: every field of the dump (x1..x31,
 * f0..f31, fcsr, the dumped CSRs, the trap count and log, the DATA hash), less the differences the
 * allowed table (allowed.ts) explains.
 */
import { ABI_NAMES, FP_ABI_NAMES } from '../../src/isa/disasm.js';
import { allowedDifference, type AllowedRule } from './allowed.js';
import type { State } from './batch.js';
import { DUMP_CSRS } from './csrs.js';
import { layout, type Program } from './gen.js';
import { lookup } from '../../src/isa/table.js';

/** What an allowed rule may look at besides the two states: the program's instructions. */
export interface Context {
  /** The table row of the instruction at CODE + off (undefined: illegal or outside the code). */
  rowAt(off: bigint): string | undefined;
}

export function contextOf(p: Program): Context {
  const { code } = layout(p);
  return {
    rowAt(off) {
      const o = Number(off);
      if (!(o >= 0 && o + 2 <= code.length)) return undefined;
      const lo = code[o]! | (code[o + 1]! << 8);
      const w = (lo & 3) === 3 && o + 4 <= code.length ? (lo | (code[o + 2]! << 16) | (code[o + 3]! << 24)) >>> 0 : lo;
      return lookup(w)?.name;
    },
  };
}

export interface Diff {
  field: string;
  qemu: bigint;
  cyclevisor: bigint;
}

export interface Comparison {
  /** Differences not explained by the allowed table. */
  diffs: Diff[];
  /** Differences the allowed table explains, by rule. */
  allowed: Array<{ rule: AllowedRule; diff: Diff }>;
}

const hex = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');

export function fieldDiffs(q: State, c: State): Diff[] {
  const out: Diff[] = [];
  const cmp = (field: string, a: bigint | undefined, b: bigint | undefined): void => {
    if (a !== b) out.push({ field, qemu: a ?? -1n, cyclevisor: b ?? -1n });
  };
  for (let i = 1; i < 32; i++) cmp(`x${i} (${ABI_NAMES[i]})`, q.x[i], c.x[i]);
  for (let i = 0; i < 32; i++) cmp(`f${i} (${FP_ABI_NAMES[i]})`, q.f[i], c.f[i]);
  cmp('fcsr', q.fcsr, c.fcsr);
  DUMP_CSRS.forEach((csr, i) => cmp(csr.name, q.csrs[i], c.csrs[i]));
  cmp('trap count', q.traps, c.traps);
  cmp('aborted (too many traps)', q.aborted, c.aborted);
  const n = Math.max(q.log.length, c.log.length);
  for (let i = 0; i < n; i++) {
    const a = q.log[i], b = c.log[i];
    cmp(`trap[${i}].mcause`, a?.cause, b?.cause);
    cmp(`trap[${i}].mepc-CODE`, a?.epc, b?.epc);
    cmp(`trap[${i}].mtval`, a?.tval, b?.tval);
  }
  cmp('DATA hash', q.hash, c.hash);
  for (let i = 0; i < 4; i++) cmp(`pte${i}`, q.pte[i], c.pte[i]);
  return out;
}

export function compareStates(q: State, c: State, p: Program): Comparison {
  const ctx = contextOf(p);
  const diffs: Diff[] = [];
  const allowed: Comparison['allowed'] = [];
  const all = fieldDiffs(q, c);
  const isReg = (d: Diff): boolean => /^x\d/.test(d.field);
  // Value pairs the allowed table accepted (mtval/mcause after a trap): a register that holds
  // exactly such a pair read it from the CSR, and is accepted under the same rule.
  const pairs = new Map<string, AllowedRule>();
  for (const d of all.filter((x) => !isReg(x))) {
    const rule = allowedDifference(d, q, c, ctx);
    if (rule) {
      allowed.push({ rule, diff: d });
      pairs.set(`${d.qemu}/${d.cyclevisor}`, rule);
    } else diffs.push(d);
  }
  for (const d of all.filter(isReg)) {
    const rule = pairs.get(`${d.qemu}/${d.cyclevisor}`);
    if (rule) allowed.push({ rule, diff: d });
    else diffs.push(d);
  }
  return { diffs, allowed };
}

export function diffText(d: Diff): string {
  return `${d.field.padEnd(24)} qemu ${hex(d.qemu)}  cyclevisor ${hex(d.cyclevisor)}`;
}

/** The trap log as text (for reproducers). */
export function logText(s: State): string[] {
  return s.log.map((t, i) => `  trap ${i}: mcause ${hex(t.cause)} at CODE+0x${t.epc.toString(16)} mtval ${hex(t.tval)}`);
}
