/**
 * The block compiler of the JIT tier (issue 14; docs/JIT.md). Input: a decoded slot of the core
 * (a frame = one physical page of code) where hot code starts. Output: the body of one wasm
 * function of type (pc i64, cycles i64, left i64, deadline i64, tlbRead i32, tlbWrite i32) -> i32
 * that executes, from that slot on, exactly what the interpreter's inner loop (assembly/run.ts)
 * would, and returns:
 *   status 0: go on in the inner loop at J_PC (a taken in-page branch or jump within the deadline,
 *             the end of the block, or an instruction the block leaves to the interpreter — a
 *             host-TLB miss included, so every slow path is the interpreter's own);
 *   status 1: leave the inner loop (a jump out of the page, or the deadline reached at a taken
 *             branch): where the interpreter would break to the block boundary.
 * J_PC, J_CYCLES and J_LEFT (layout.ts) hold pc, cycles and the instruction budget afterwards;
 * per-class counts are added in memory. A block never bakes in the virtual pc: the pc comes in
 * as a parameter and every pc-relative value is the parameter plus a page-offset difference, so
 * one compiled physical page serves every virtual alias of it.
 *
 * Counting: the block's instructions are charged at each exit for the prefix that retired
 * (their slots' latencies and classes, the taken-branch extra), so counts are exact at any stop.
 * The block runs only with `left` >= its length (else it declines and the interpreter steps), so
 * the instruction limit is exact; the deadline is compared where the interpreter compares it
 * (taken in-page branches and jumps). A taken branch back to the block's own start loops inside
 * the function while the deadline and the budget allow.
 */
import * as L from '../generated/layout.js';
import { SEMANTIC_OPS } from '../isa/table.js';
import { Code, Op, I32, I64, VOID } from './wasm.js';
import { EMITTERS, HELPERS, type Emitter } from './emitters.js';

/** Longest block, in instructions. */
export const MAX_BLOCK = 96;
const TLB_MASK = L.TLB_ENTRIES - 1;

export interface Insn {
  op: string;
  em: Emitter;
  rd: number;
  rs1: number;
  rs2: number;
  imm: number;
  len: number;
  cls: number; // S_CLS byte: class id + 1
  lat: number;
  off: number; // page offset
}

/** Read the straight-line run of compilable instructions starting at `slot`. */
export function scanBlock(dv: DataView, slot: number, decode: (slot: number) => number): Insn[] {
  const out: Insn[] = [];
  const rel = slot - L.FRAME_BASE;
  let off = ((rel % L.FRAME_SIZE) >> 4) << 1;
  let s = slot;
  while (out.length < MAX_BLOCK && off < 4096) {
    const id = decode(s);
    if (id === 0) break;
    const op = SEMANTIC_OPS[id];
    const em = op === undefined ? undefined : EMITTERS[op];
    if (!em) break;
    const insn: Insn = {
      op, em,
      rd: dv.getUint8(s + L.S_RD),
      rs1: dv.getUint8(s + L.S_RS1),
      rs2: dv.getUint8(s + L.S_RS2),
      imm: dv.getInt32(s + L.S_IMM, true),
      len: dv.getUint8(s + L.S_LEN),
      cls: dv.getUint8(s + L.S_CLS),
      lat: dv.getUint8(s + L.S_LAT),
      off,
    };
    out.push(insn);
    if (em.k === 'jal' || em.k === 'jalr') break;
    off += insn.len;
    s += insn.len << 3;
  }
  return out;
}

// Locals: params 0..5, then x1..x32 (x32 = the decoder's rd = 0 sink), t0 (i64), a (i32).
const P_PC = 0, P_CYC = 1, P_LEFT = 2, P_DL = 3, P_TR = 4, P_TW = 5;
const xl = (r: number): number => 5 + r;
const T0 = 38, A = 39;
export const BLOCK_LOCALS: [number, number][] = [[33, I64], [1, I32]];

const CLS_TAKEN = L.CLS_BASE + (L.TIMING_CLASS_BRANCH_TAKEN + 1) * 8;

export interface CompileEnv {
  /** Cycles a taken conditional branch costs beyond its class latency (run.ts takenExtra). */
  takenExtra: bigint;
  /** Function index of each helper import. */
  helper: (name: (typeof HELPERS)[number]) => number;
}

/** Emit the function body for `insns` (non-empty). */
export function compileBlock(insns: Insn[], env: CompileEnv): Code {
  const c = new Code();
  const n = insns.length;
  const off0 = insns[0].off;
  // Prefix sums: cycles and class counts of instructions 0..k-1.
  const pcyc: bigint[] = [0n];
  const pcls: Map<number, number>[] = [new Map()];
  for (let k = 0; k < n; k++) {
    pcyc.push(pcyc[k] + BigInt(insns[k].lat));
    const m = new Map(pcls[k]);
    m.set(insns[k].cls, (m.get(insns[k].cls) ?? 0) + 1);
    pcls.push(m);
  }
  const used = new Set<number>();
  const written = new Set<number>();
  for (const i of insns) {
    const k = i.em.k;
    if (k !== 'lui' && k !== 'auipc' && k !== 'jal' && k !== 'nop' && i.rs1 !== 0) used.add(i.rs1);
    if ((k === 'rr' || k === 'rr32' || k === 'call' || k === 'store' || k === 'br') && i.rs2 !== 0) used.add(i.rs2);
    if (k !== 'store' && k !== 'br' && k !== 'nop' && i.rd !== 32 && i.rd !== 0) {
      used.add(i.rd);
      written.add(i.rd);
    }
  }
  const R = (r: number): void => {
    if (r === 0) c.i64(0);
    else c.get(xl(r));
  };
  const pcPlus = (delta: number): void => {
    c.get(P_PC);
    if (delta !== 0) c.i64(delta).op(Op.i64Add);
  };
  const addCounter = (addr: number, v: number): void => {
    c.i32(addr).i32(addr).mem(Op.i64Load, 3).i64(v).op(Op.i64Add).mem(Op.i64Store, 3);
  };
  const charge = (k: number, taken: boolean): void => {
    for (const [cls, cnt] of pcls[k]) addCounter(L.CLS_BASE + cls * 8, cnt);
    if (taken) addCounter(CLS_TAKEN, 1);
  };
  /** cyc + prefix(k) + extra on the stack. */
  const newCyc = (k: number, extra: bigint): void => {
    c.get(P_CYC);
    const v = pcyc[k] + extra;
    if (v !== 0n) c.i64(v).op(Op.i64Add);
  };
  /** Leave the block with instructions 0..k-1 retired. */
  const exit = (k: number, extra: bigint, taken: boolean, status: () => void, pc: () => void): void => {
    c.i32(L.J_PC);
    pc();
    c.mem(Op.i64Store, 3);
    c.i32(L.J_CYCLES);
    newCyc(k, extra);
    c.mem(Op.i64Store, 3);
    c.i32(L.J_LEFT).get(P_LEFT);
    if (k !== 0) c.i64(k).op(Op.i64Sub);
    c.mem(Op.i64Store, 3);
    charge(k, taken);
    for (const r of written) c.i32(L.H_X + r * 8).get(xl(r)).mem(Op.i64Store, 3);
    status();
    c.op(Op.return);
  };
  const statusIfInPage = (k: number, extra: bigint): (() => void) => () => {
    // 0 (go on in the page) while cycles < deadline, else 1: run.ts's `cycles < deadline` test.
    newCyc(k, extra);
    c.get(P_DL).op(Op.i64LtU).op(Op.i32Eqz);
  };
  /** A taken transfer at instruction k to page offset `t`; `depth` = ifs enclosing this point. */
  const taken = (k: number, t: number, extra: bigint, isBranch: boolean, depth: number): void => {
    const inPage = t >= 0 && t < 4096;
    if (inPage && t === off0) {
      // Back to the block's start: loop while the deadline and the budget allow.
      newCyc(k + 1, extra);
      c.get(P_DL).op(Op.i64LtU);
      c.get(P_LEFT).i64(k + 1 + n).op(Op.i64GeU).op(Op.i32And);
      c.byte(Op.if).byte(VOID);
      newCyc(k + 1, extra);
      c.set(P_CYC);
      c.get(P_LEFT).i64(k + 1).op(Op.i64Sub).set(P_LEFT);
      charge(k + 1, isBranch);
      c.byte(Op.br).u32(depth + 1);
      c.op(Op.end);
    }
    const delta = t - off0;
    exit(k + 1, extra, isBranch, inPage ? statusIfInPage(k + 1, extra) : () => c.i32(1), () => pcPlus(delta));
  };
  /** t0 = effective address; a = host-TLB entry; on a miss leave before instruction k. */
  const tlbLookup = (k: number, i: Insn, tlb: number, am: number): void => {
    R(i.rs1);
    if (i.imm !== 0) c.i64(i.imm).op(Op.i64Add);
    c.set(T0);
    c.get(tlb).get(T0).i64(12).op(Op.i64ShrU).op(Op.i32WrapI64).i32(TLB_MASK).op(Op.i32And).i32(4).op(Op.i32Shl)
      .op(Op.i32Add).set(A);
    c.get(A).mem(Op.i64Load, 3).get(T0).i64(BigInt.asIntN(64, 0xfffffffffffff000n | BigInt(am))).op(Op.i64And)
      .op(Op.i64Ne);
    c.byte(Op.if).byte(VOID);
    exit(k, 0n, false, () => c.i32(0), () => pcPlus(i.off - off0));
    c.op(Op.end);
    c.get(T0).get(A).mem(Op.i64Load, 3, 8).op(Op.i64Add).op(Op.i32WrapI64);
  };

  // ---- entry: decline when the budget is below the block length (the interpreter steps).
  c.get(P_LEFT).i64(n).op(Op.i64LtU);
  c.byte(Op.if).byte(VOID);
  c.i32(L.J_LEFT).get(P_LEFT).mem(Op.i64Store, 3).i32(0).op(Op.return);
  c.op(Op.end);
  for (const r of used) c.i32(L.H_X + r * 8).mem(Op.i64Load, 3).set(xl(r));
  c.byte(Op.loop).byte(VOID);
  let ended = false;
  for (let k = 0; k < n && !ended; k++) {
    const i = insns[k];
    const em = i.em;
    switch (em.k) {
      case 'rr':
        R(i.rs1);
        R(i.rs2);
        c.bytes(em.ops).set(xl(i.rd));
        break;
      case 'ri':
        R(i.rs1);
        c.i64(i.imm).bytes(em.ops).set(xl(i.rd));
        break;
      case 'rr32':
        R(i.rs1);
        c.op(Op.i32WrapI64);
        R(i.rs2);
        c.op(Op.i32WrapI64).bytes(em.ops).op(Op.i64ExtendI32S).set(xl(i.rd));
        break;
      case 'ri32':
        R(i.rs1);
        c.op(Op.i32WrapI64).i32(i.imm).bytes(em.ops).op(Op.i64ExtendI32S).set(xl(i.rd));
        break;
      case 'call':
        R(i.rs1);
        R(i.rs2);
        c.byte(Op.call).u32(env.helper(em.fn)).set(xl(i.rd));
        break;
      case 'lui':
        c.i64(i.imm).set(xl(i.rd));
        break;
      case 'auipc':
        pcPlus(i.off - off0 + i.imm);
        c.set(xl(i.rd));
        break;
      case 'load':
        tlbLookup(k, i, P_TR, em.am);
        c.mem(em.op, 0).set(xl(i.rd));
        break;
      case 'store':
        tlbLookup(k, i, P_TW, em.am);
        R(i.rs2);
        c.mem(em.op, 0);
        break;
      case 'br':
        R(i.rs1);
        R(i.rs2);
        c.op(em.cmp).byte(Op.if).byte(VOID);
        taken(k, i.off + i.imm, env.takenExtra, true, 1);
        c.op(Op.end);
        break;
      case 'jal':
        pcPlus(i.off - off0 + i.len);
        c.set(xl(i.rd));
        taken(k, i.off + i.imm, 0n, false, 0);
        ended = true;
        break;
      case 'jalr': {
        // Target before rd is written (rd may be rs1); bit 0 cleared (Unpriv 2.5).
        R(i.rs1);
        if (i.imm !== 0) c.i64(i.imm).op(Op.i64Add);
        c.i64(-2).op(Op.i64And).set(T0);
        pcPlus(i.off - off0 + i.len);
        c.set(xl(i.rd));
        exit(k + 1, 0n, false, () => {
          // status 0 iff target - pageVa < 4096 and cycles < deadline (run.ts OP_JALR).
          c.get(T0).get(P_PC);
          if (off0 !== 0) c.i64(off0).op(Op.i64Sub);
          c.op(Op.i64Sub).i64(4096).op(Op.i64LtU);
          newCyc(k + 1, 0n);
          c.get(P_DL).op(Op.i64LtU).op(Op.i32And).op(Op.i32Eqz);
        }, () => c.get(T0));
        ended = true;
        break;
      }
      case 'nop':
        break;
    }
  }
  if (!ended) {
    const last = insns[n - 1];
    exit(n, 0n, false, () => c.i32(0), () => pcPlus(last.off + last.len - off0));
  }
  c.op(Op.end); // loop
  c.byte(0x00); // unreachable: every path returned
  return c;
}

/** run.ts takenExtra: LAT[branch taken] - LAT[branch] as the u64 the interpreter adds. */
export function takenExtraOf(dv: DataView): bigint {
  const taken = dv.getUint8(L.LAT_BASE + L.TIMING_CLASS_BRANCH_TAKEN);
  const branch = dv.getUint8(L.LAT_BASE + 1);
  return BigInt.asIntN(64, BigInt(taken - branch));
}
