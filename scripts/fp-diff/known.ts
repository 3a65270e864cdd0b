/**
 * Known deviations of the oracle (QEMU 7.2's TCG softfloat) from the RISC-V specification.
 *
 * A disagreement between QEMU and cyclevisor that matches an entry here, where cyclevisor's result
 * is the one the specification requires, is counted and listed as a known QEMU deviation, not as a
 * mismatch. Each entry names the instruction(s), the condition, what the spec says and where.
 * An entry must recognise only the exact disagreement it documents: `matches` gets both results
 * and must check that cyclevisor returned the specified value.
 */
import type { FpOp } from './ops.js';
import type { FpRecord, Outcome } from './records.js';

export interface KnownDeviation {
  id: string;
  /** One line: what QEMU does wrong and what the spec requires, with the spec reference. */
  summary: string;
  matches(op: FpOp, rm: number, rec: FpRecord, qemu: Outcome, cv: Outcome): boolean;
}

export const KNOWN_QEMU_DEVIATIONS: readonly KnownDeviation[] = [];

export function knownDeviation(op: FpOp, rm: number, rec: FpRecord, qemu: Outcome, cv: Outcome): KnownDeviation | null {
  for (const k of KNOWN_QEMU_DEVIATIONS) if (k.matches(op, rm, rec, qemu, cv)) return k;
  return null;
}
