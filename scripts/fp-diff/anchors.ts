/**
 * Spec anchors: hand-picked cases whose results are written down from the RISC-V specification
 * (Unprivileged ISA 20191213: ch. 11 "F" v2.2, ch. 12 "D" v2.2), not taken from any machine. The
 * differential run checks both QEMU and cyclevisor against them before it starts, so the oracle's
 * correctness on the points where implementations (and older spec versions) differ is itself tested;
 * test/fpdiff.test.ts checks cyclevisor against them.
 *
 * References: §11.2 fcsr (frm, invalid frm), NaN boxing (§12.2 "NaN Boxing of Narrower Values"),
 * §11.3 canonical NaN, §11.4 subnormals (tininess after rounding), §11.6 min/max and FMA,
 * §11.7 conversions (Table 11.4) and moves, §11.8 compares, §11.9 classify.
 */
import { OP_BY_NAME } from './ops.js';
import type { FpRecord, Outcome } from './records.js';

export interface Anchor {
  insn: string;
  /** The variant checked: 0..4 static, 7 dyn (with `frm`). */
  rm: number;
  frm?: number;
  a: bigint;
  b?: bigint;
  c?: bigint;
  /** Expected destination register bits and fflags; or the trap cause. */
  bits: bigint;
  flags: number | 'trap';
  ref: string;
}

const B = 0xffffffff00000000n; // NaN-boxing upper half
const NV = 0x10, DZ = 0x08, UF = 0x02, NX = 0x01;
const RNE = 0, RTZ = 1, RDN = 2, RUP = 3, DYN = 7;
const ONE_S = B | 0x3f800000n;
const ONE_D = 0x3ff0000000000000n;
const QNAN_D = 0x7ff8000000000000n;

export const ANCHORS: readonly Anchor[] = [
  { insn: 'fcvt.w.s', rm: RTZ, a: B | 0x7fc00000n, bits: 0x7fffffffn, flags: NV, ref: '§11.7 Table 11.4: NaN -> 2^31-1, NV' },
  { insn: 'fcvt.w.s', rm: RTZ, a: B | 0x7f800001n, bits: 0x7fffffffn, flags: NV, ref: '§11.7 Table 11.4: sNaN -> 2^31-1, NV' },
  { insn: 'fcvt.w.s', rm: RNE, a: B | 0xff800000n, bits: 0xffffffff80000000n, flags: NV, ref: '§11.7 Table 11.4: -inf -> -2^31, NV' },
  { insn: 'fcvt.wu.s', rm: RNE, a: B | 0x7f800000n, bits: 0xffffffffffffffffn, flags: NV, ref: '§11.7 Table 11.4: +inf -> 2^32-1, sign-extended on RV64' },
  { insn: 'fcvt.wu.s', rm: RNE, a: B | 0xbf800000n, bits: 0n, flags: NV, ref: '§11.7 Table 11.4: -1.0 -> 0, NV' },
  { insn: 'fcvt.wu.s', rm: RNE, a: B | 0xbf000000n, bits: 0n, flags: NX, ref: '§11.7: -0.5 rounds (RNE) to -0, which is representable: NX only' },
  { insn: 'fcvt.wu.s', rm: RDN, a: B | 0xbf000000n, bits: 0n, flags: NV, ref: '§11.7: -0.5 rounds (RDN) to -1, not representable: clipped to 0, NV (no NX)' },
  { insn: 'fcvt.w.d', rm: RNE, a: 0x41dfffffffe00000n, bits: 0x7fffffffn, flags: NV, ref: '§11.7: 2147483647.5 rounds to 2^31: out of range, NV only' },
  { insn: 'fcvt.l.d', rm: RNE, a: 0x43e0000000000000n, bits: 0x7fffffffffffffffn, flags: NV, ref: '§11.7 Table 11.4: 2^63 -> 2^63-1, NV' },
  { insn: 'fcvt.l.d', rm: RNE, a: 0xc3e0000000000000n, bits: 0x8000000000000000n, flags: 0, ref: '§11.7: -2^63 is exact' },
  { insn: 'fcvt.lu.d', rm: RNE, a: QNAN_D, bits: 0xffffffffffffffffn, flags: NV, ref: '§11.7 Table 11.4: NaN -> 2^64-1, NV' },
  { insn: 'fcvt.s.w', rm: RNE, a: 0x1234567800000003n, bits: B | 0x40400000n, flags: 0, ref: '§11.7: FCVT.S.W reads bits 31:0 of rs1 (3 -> 3.0)' },
  { insn: 'fcvt.s.d', rm: RNE, a: 0x3690000000000000n, bits: B | 0n, flags: UF | NX, ref: '§11.4: 2^-150 is a tie between 0 and the smallest subnormal: RNE -> +0, UF|NX' },
  { insn: 'fcvt.s.d', rm: RUP, a: 0x3690000000000000n, bits: B | 1n, flags: UF | NX, ref: '§11.4: 2^-150, RUP -> smallest subnormal, UF|NX' },
  { insn: 'fcvt.d.s', rm: RNE, a: B | 0x7f800001n, bits: QNAN_D, flags: NV, ref: '§11.3: sNaN input -> canonical NaN, NV' },
  { insn: 'fmul.s', rm: RNE, a: B | 0x3f800001n, b: B | 0x007fffffn, bits: B | 0x00800000n, flags: NX, ref: '§11.4 tininess after rounding: (1+2^-23)(2^-126)(1-2^-23) rounds to 2^-126 with unbounded exponent: not tiny, NX only' },
  { insn: 'fmul.s', rm: RTZ, a: B | 0x3f800001n, b: B | 0x007fffffn, bits: B | 0x007fffffn, flags: UF | NX, ref: '§11.4: the same product under RTZ stays below 2^-126: tiny and inexact, UF|NX' },
  { insn: 'fdiv.s', rm: RNE, a: ONE_S, b: B | 0n, bits: B | 0x7f800000n, flags: DZ, ref: 'IEEE 754 §7.3 (§11.6): 1/+0 = +inf, DZ' },
  { insn: 'fsqrt.s', rm: RNE, a: B | 0xbf800000n, bits: B | 0x7fc00000n, flags: NV, ref: '§11.3, §11.6: sqrt(-1) -> canonical NaN, NV' },
  { insn: 'fsqrt.d', rm: RNE, a: 0x8000000000000000n, bits: 0x8000000000000000n, flags: 0, ref: 'IEEE 754 §5.4.1: sqrt(-0) = -0' },
  { insn: 'fadd.d', rm: RNE, a: 0x7ff0000000000001n, b: ONE_D, bits: QNAN_D, flags: NV, ref: '§11.3: sNaN input -> canonical NaN (no payload propagation), NV' },
  { insn: 'fmadd.d', rm: RNE, a: 0x7ff0000000000000n, b: 0n, c: QNAN_D, bits: QNAN_D, flags: NV, ref: '§11.6: FMA with multiplicands inf and 0 sets NV even when the addend is a quiet NaN' },
  { insn: 'fmin.s', rm: 0, a: B | 0x7f800001n, b: ONE_S, bits: ONE_S, flags: NV, ref: '§11.6 (F v2.2): one NaN operand -> the other operand; an sNaN sets NV' },
  { insn: 'fmax.d', rm: 0, a: QNAN_D, b: 0x7ff0000000000001n, bits: QNAN_D, flags: NV, ref: '§11.6: both NaN -> canonical NaN; sNaN sets NV' },
  { insn: 'fmin.d', rm: 0, a: 0n, b: 0x8000000000000000n, bits: 0x8000000000000000n, flags: 0, ref: '§11.6: -0 < +0 for FMIN/FMAX' },
  { insn: 'fmax.d', rm: 0, a: 0x8000000000000000n, b: 0n, bits: 0n, flags: 0, ref: '§11.6: -0 < +0 for FMIN/FMAX' },
  { insn: 'feq.s', rm: 0, a: B | 0x7fc00000n, b: B | 0x7fc00000n, bits: 0n, flags: 0, ref: '§11.8: FEQ is quiet: qNaN operands give 0, no NV' },
  { insn: 'flt.s', rm: 0, a: B | 0x7fc00000n, b: ONE_S, bits: 0n, flags: NV, ref: '§11.8: FLT/FLE are signaling: any NaN operand sets NV' },
  { insn: 'fclass.s', rm: 0, a: 0x000000003f800000n, bits: 0x200n, flags: 0, ref: '§12.2 NaN boxing: an improperly boxed single reads as the canonical NaN: class bit 9 (quiet NaN)' },
  { insn: 'fsgnj.s', rm: 0, a: 0x000000003f800000n, b: B | 0xbf800000n, bits: B | 0xffc00000n, flags: 0, ref: '§12.2: FSGNJ.S is not a transfer op: the unboxed rs1 reads as 0x7fc00000, sign from rs2' },
  { insn: 'fmv.x.w', rm: 0, a: 0x123456787f800000n, bits: 0x7f800000n, flags: 0, ref: '§11.7: FMV.X.W moves bits 31:0 unchanged (no NaN-box check), sign-extended' },
  { insn: 'fmv.x.w', rm: 0, a: B | 0x80000001n, bits: 0xffffffff80000001n, flags: 0, ref: '§11.7: FMV.X.W sign-extends bit 31' },
  { insn: 'fmv.w.x', rm: 0, a: 0x123456789abcdef0n, bits: B | 0x9abcdef0n, flags: 0, ref: '§11.7, §12.2: FMV.W.X moves bits 31:0 and NaN-boxes them' },
  { insn: 'fadd.s', rm: DYN, frm: 5, a: ONE_S, b: ONE_S, bits: 2n, flags: 'trap', ref: '§11.2: dyn with frm = 101 (invalid): illegal-instruction exception (mcause 2)' },
  { insn: 'fcvt.d.w', rm: DYN, frm: 7, a: 1n, bits: 2n, flags: 'trap', ref: '§11.2: dyn with frm = 111 (invalid): illegal instruction, also for an op unaffected by rounding' },
];

/** The records that run the anchors (one per anchor; frm as the anchor says, else RNE). */
export function anchorRecords(): FpRecord[] {
  return ANCHORS.map((x) => {
    const op = OP_BY_NAME.get(x.insn);
    if (op === undefined) throw new Error(`anchor: unknown instruction ${x.insn}`);
    return { op, flags: 0, frm: x.frm ?? 0, a: x.a, b: x.b ?? 0n, c: x.c ?? 0n };
  });
}

/** Did `o` (the outcome of the anchor's variant) give what the spec says? */
export function anchorHolds(x: Anchor, o: Outcome): boolean {
  if (x.flags === 'trap') return (o.flags & 0x80) !== 0 && o.bits === x.bits;
  return o.bits === x.bits && o.flags === x.flags;
}
