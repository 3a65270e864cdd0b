/**
 * Timing classes. Every instruction-table row names one; the core charges the class's cycle cost
 * when an instruction of that class retires. The numeric ids are the index into the latency array
 * the core holds in linear memory (assembly/layout.ts LATENCY_BASE), so the order here is the ABI.
 *
 * `branchTaken` is charged instead of `branch` when a conditional branch is taken (cycles); in the
 * retired-instruction counts every conditional branch counts in `branch` and a taken one also in
 * `branchTaken`. `trap` is added on every trap entry (exception or interrupt). They are not row
 * classes but live in the same array.
 */
export const TIMING_CLASSES = [
  'alu', // integer ALU, lui/auipc, shifts, compares
  'branch', // conditional branch (cost when not taken; count: every conditional branch)
  'jump', // jal/jalr
  'load', // integer loads
  'store', // integer stores
  'mul', // M: multiply
  'div', // M: divide/remainder (64-bit)
  'divw', // M: divide/remainder on 32-bit operands (*W)
  'csr', // Zicsr and counter reads
  'amo', // A: LR/SC/AMO
  'fence', // fence, fence.i, sfence.vma
  'system', // ecall, ebreak, mret, sret, wfi
  'fpu', // F/D arithmetic (add/sub/mul/fma/convert/compare/move)
  'fdiv', // F/D divide and square root
  'fload', // F/D loads
  'fstore', // F/D stores
  'branchTaken', // conditional branch, taken (charged instead of `branch`)
  'trap', // added on trap entry
] as const;

export type TimingClass = (typeof TIMING_CLASSES)[number];

export const TIMING_CLASS_ID: Readonly<Record<TimingClass, number>> = Object.fromEntries(
  TIMING_CLASSES.map((c, i) => [c, i]),
) as Record<TimingClass, number>;

/** Number of classes; the core reserves this many latency slots (must be <= 32). */
export const TIMING_CLASS_COUNT = TIMING_CLASSES.length;
