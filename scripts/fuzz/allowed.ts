/**
 * Every difference between QEMU 7.2 and cyclevisor the fuzzer accepts, with the spec sentence that
 * allows it (WARL or UNSPECIFIED values, implementation-defined choices) or, for a QEMU-side
 * discrepancy, the sentence QEMU does not follow (cyclevisor follows the spec).
 *
 * Spec versions: RISC-V Unprivileged ISA 20191213, Privileged Architecture 20211203 (1.12).
 */
import type { Context, Diff } from './compare.js';
import type { State } from './batch.js';

export interface AllowedRule {
  id: string;
  /** 'allowed': the spec leaves the value open; 'qemu': QEMU 7.2 disagrees with the spec. */
  kind: 'allowed' | 'qemu';
  summary: string;
  /** The spec sentence, quoted, and where it is. */
  spec: string;
  applies(d: Diff, q: State, c: State, ctx: Context): boolean;
}

export const ALLOWED: readonly AllowedRule[] = [];

export function allowedDifference(d: Diff, q: State, c: State, ctx: Context): AllowedRule | null {
  for (const r of ALLOWED) if (r.applies(d, q, c, ctx)) return r;
  return null;
}
