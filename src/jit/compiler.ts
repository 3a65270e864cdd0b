/**
 * The block compiler of the JIT tier (issue 14; docs/JIT.md). Input: a decoded slot of the core
 * (a frame = one physical page of code) where hot code starts. Output: the body of one wasm
 * function of type (pc i64, cycles i64, left i64, deadline i64, tlbRead i32, tlbWrite i32) -> i32
 * that executes, from that slot on, exactly what the interpreter's inner loop (assembly/run.ts)
 * would, and returns:
 *   status 0: go on in the inner loop at J_PC, an instruction the block leaves to the
 *             interpreter (the end of the block, or a host-TLB miss: every slow path is the
 *             interpreter's own); the run loop looks for compiled code again after it;
 *   status 2: go on in the inner loop at J_PC, which may start a compiled block of another module
 *             (a taken in-page transfer to a page offset this function has no block for);
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

/**
 * Page offsets where execution may enter next from this block without a block boundary: in-page
 * targets of its branches and jumps, the return site after a jal (a call's return lands there
 * through a jalr), and the fall-through of a block cut at MAX_BLOCK. The compiler builds these
 * too (the region of the page reachable from a hot start), so a page is rebuilt rarely.
 */
export function successors(insns: Insn[]): number[] {
  const out: number[] = [];
  for (const i of insns) {
    if (i.em.k === 'br' || i.em.k === 'jal') out.push(i.off + i.imm);
    if (i.em.k === 'jal') out.push(i.off + i.len);
  }
  const last = insns[insns.length - 1];
  if (insns.length === MAX_BLOCK && last.em.k !== 'jal' && last.em.k !== 'jalr') out.push(last.off + last.len);
  return out.filter((t) => t >= 0 && t < 4096);
}

// Locals of the page function: params 0..6 (tgt, pc, cyc, left, dl, tr, tw), then x1..x32 (x32 =
// the decoder's rd = 0 sink), t0 (i64), a (i32), pv (i64: the page's virtual base), then one i64
// per counted class.
const P_TGT = 0, P_PC = 1, P_CYC = 2, P_LEFT = 3, P_DL = 4, P_TR = 5, P_TW = 6;
const xl = (r: number): number => 6 + r;
const T0 = 39, A = 40, PV = 41, OUTPC = 42, STATUS = 43, T1 = 44, CL0 = 45;
/** Guest registers live in the core's memory (H_X) rather than in wasm locals (docs/JIT.md). */
/** Environment knobs (docs/JIT.md "Knobs"); none in a browser. */
export const ENV: Record<string, string | undefined> = typeof process !== 'undefined' ? process.env : {};
const MEM_REGS = ENV.JIT_LOCAL_REGS !== '1';
const MEM_CLS = ENV.JIT_LOCAL_CLS !== '1';

/** The counter of taken branches, as an S_CLS-style index (class id + 1). */
const TAKEN = L.TIMING_CLASS_BRANCH_TAKEN + 1;

export interface CompileEnv {
  /** Cycles a taken conditional branch costs beyond its class latency (run.ts takenExtra). */
  takenExtra: bigint;
  /** Function index of each helper import. */
  helper: (name: (typeof HELPERS)[number]) => number;
}

export interface PageCode {
  body: Code;
  locals: [number, number][];
}

/**
 * Emit the page function for `blocks` (each non-empty, all in one page): the body of
 * page(tgt i32, pc i64, cycles i64, left i64, deadline i64, tlbRead i32, tlbWrite i32) -> i32,
 * entered at block `tgt` with `pc` = that block's pc. A taken transfer to another block's start
 * in the page goes there directly (after the interpreter's checks); anything else returns.
 */
export function compilePage(blocks: Insn[][], env: CompileEnv): PageCode {
  const c = new Code();
  const m = blocks.length;
  const headIndex = new Map<number, number>();
  blocks.forEach((b, i) => headIndex.set(b[0].off, i));
  const used = new Set<number>();
  const written = new Set<number>();
  const classes = new Set<number>([TAKEN]);
  for (const insns of blocks) {
    for (const i of insns) {
      const k = i.em.k;
      classes.add(i.cls);
      if (k !== 'lui' && k !== 'auipc' && k !== 'jal' && k !== 'nop' && i.rs1 !== 0) used.add(i.rs1);
      if ((k === 'rr' || k === 'rr32' || k === 'call' || k === 'store' || k === 'br') && i.rs2 !== 0) used.add(i.rs2);
      if (k !== 'store' && k !== 'br' && k !== 'nop' && i.rd !== 32 && i.rd !== 0) {
        used.add(i.rd);
        written.add(i.rd);
      }
    }
  }
  const clsList = [...classes].sort((a, b) => a - b);
  const clLocal = new Map<number, number>();
  clsList.forEach((cl, i) => clLocal.set(cl, CL0 + i));
  const locals: [number, number][] = [[33, I64], [1, I32], [2, I64], [1, I32], [1 + clsList.length, I64]];

  const R = (r: number): void => {
    if (r === 0) c.i64(0);
    else if (MEM_REGS) c.i32(L.H_X + r * 8).mem(Op.i64Load, 3);
    else c.get(xl(r));
  };
  /** Pop the value on the stack into x[rd] (the sink x32 is never read: drop it). */
  const W = (rd: number): void => {
    if (rd === 32 || rd === 0) c.op(Op.drop);
    else if (MEM_REGS) c.set(T1).i32(L.H_X + rd * 8).get(T1).mem(Op.i64Store, 3);
    else c.set(xl(rd));
  };
  /** The virtual pc of page offset `off` (never a constant: pv comes from the pc parameter). */
  const pcAt = (off: number): void => {
    c.get(PV);
    if (off !== 0) c.i64(off).op(Op.i64Add);
  };

  // ---- prologue: page base from the entry pc, registers into locals, class counters zeroed.
  c.get(P_PC).i64(-4096).op(Op.i64And).set(PV);
  if (!MEM_REGS) for (const r of used) c.i32(L.H_X + r * 8).mem(Op.i64Load, 3).set(xl(r));
  // (wasm zero-initialises locals: the class counters start at 0.)
  c.byte(Op.block).byte(VOID); // $X: the shared exit
  c.byte(Op.loop).byte(VOID); // $D: dispatch
  // Dispatch targets: block i for tgt = i; for tgt = m + off/2 (a jalr into the page) the block
  // starting at page offset off, or $Bm (the miss: not a block start) when there is none.
  for (let i = 0; i <= m; i++) c.byte(Op.block).byte(VOID);
  c.get(P_TGT).byte(Op.brTable).u32(m + 2048);
  for (let i = 0; i < m; i++) c.u32(i);
  for (let h = 0; h < 2048; h++) c.u32(headIndex.get(h * 2) ?? m);
  c.u32(m);
  c.op(Op.end);

  for (let bi = 0; bi < m; bi++) {
    const insns = blocks[bi];
    const n = insns.length;
    const off0 = insns[0].off;
    // Nesting of this block's code: the remaining `block`s, then loop $D.
    const outer = m - bi;
    // Prefix sums over the block: cycles and class counts of instructions 0..k-1.
    const pcyc: bigint[] = [0n];
    const pcls: Map<number, number>[] = [new Map()];
    for (let k = 0; k < n; k++) {
      pcyc.push(pcyc[k] + BigInt(insns[k].lat));
      const mm = new Map(pcls[k]);
      mm.set(insns[k].cls, (mm.get(insns[k].cls) ?? 0) + 1);
      pcls.push(mm);
    }
    /**
     * Leave with instructions 0..k-1 of this block retired: charge them, set the out pc and status,
     * and branch to the shared epilogue. `d` = constructs open inside $Li here.
     */
    const exit = (k: number, d: number, status: () => void, pc: () => void): void => {
      commit(k, 0n, false);
      pc();
      c.set(OUTPC);
      status();
      c.set(STATUS);
      c.byte(Op.br).u32(d + outer + 2); // $X
    };
    /** Charge instructions 0..k-1 (+ a taken branch's extra) to the locals. */
    const commit = (k: number, extra: bigint, taken: boolean): void => {
      const v = pcyc[k] + extra;
      if (v !== 0n) c.get(P_CYC).i64(v).op(Op.i64Add).set(P_CYC);
      if (k !== 0) c.get(P_LEFT).i64(k).op(Op.i64Sub).set(P_LEFT);
      const bump = (cl: number, cnt: number): void => {
        if (MEM_CLS) {
          const addr = L.CLS_BASE + cl * 8;
          c.i32(addr).i32(addr).mem(Op.i64Load, 3).i64(cnt).op(Op.i64Add).mem(Op.i64Store, 3);
        } else {
          const l = clLocal.get(cl)!;
          c.get(l).i64(cnt).op(Op.i64Add).set(l);
        }
      };
      for (const [cl, cnt] of pcls[k]) bump(cl, cnt);
      if (taken) bump(TAKEN, 1);
    };
    /**
     * Taken transfer at instruction k to page offset t (run.ts: charge, then go on in the page only
     * if the target is in it and cycles < deadline). `depth` = constructs between here and $Li.
     */
    const taken = (k: number, t: number, extra: bigint, isBranch: boolean, d: number): void => {
      commit(k + 1, extra, isBranch);
      const inPage = t >= 0 && t < 4096;
      const j = headIndex.get(t);
      if (inPage && j !== undefined) {
        c.get(P_CYC).get(P_DL).op(Op.i64LtU).byte(Op.if).byte(VOID);
        if (j === bi) {
          c.byte(Op.br).u32(d + 1); // $Li
        } else {
          c.i32(j).set(P_TGT);
          c.byte(Op.br).u32(d + 1 + outer + 1); // $D
        }
        c.op(Op.end);
        exit(0, d, () => c.i32(1), () => pcAt(t));
        return;
      }
      exit(0, d, inPage ? () => c.i32(1).get(P_CYC).get(P_DL).op(Op.i64LtU).op(Op.i32Add) : () => c.i32(1), () => pcAt(t));
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
      exit(k, 1, () => c.i32(0), () => pcAt(i.off));
      c.op(Op.end);
      c.get(T0).get(A).mem(Op.i64Load, 3, 8).op(Op.i64Add).op(Op.i32WrapI64);
    };

    c.byte(Op.loop).byte(VOID); // $Li
    // Entry: decline when the budget is below the block length (the interpreter steps).
    c.get(P_LEFT).i64(n).op(Op.i64LtU);
    c.byte(Op.if).byte(VOID);
    exit(0, 1, () => c.i32(0), () => pcAt(off0));
    c.op(Op.end);
    let ended = false;
    for (let k = 0; k < n && !ended; k++) {
      const i = insns[k];
      const em = i.em;
      switch (em.k) {
        case 'rr':
          R(i.rs1);
          R(i.rs2);
          c.bytes(em.ops);
          W(i.rd);
          break;
        case 'ri':
          R(i.rs1);
          c.i64(i.imm).bytes(em.ops);
          W(i.rd);
          break;
        case 'rr32':
          R(i.rs1);
          c.op(Op.i32WrapI64);
          R(i.rs2);
          c.op(Op.i32WrapI64).bytes(em.ops).op(Op.i64ExtendI32S);
          W(i.rd);
          break;
        case 'ri32':
          R(i.rs1);
          c.op(Op.i32WrapI64).i32(i.imm).bytes(em.ops).op(Op.i64ExtendI32S);
          W(i.rd);
          break;
        case 'call':
          R(i.rs1);
          R(i.rs2);
          c.byte(Op.call).u32(env.helper(em.fn));
          W(i.rd);
          break;
        case 'lui':
          c.i64(i.imm);
          W(i.rd);
          break;
        case 'auipc':
          pcAt(i.off);
          if (i.imm !== 0) c.i64(i.imm).op(Op.i64Add);
          W(i.rd);
          break;
        case 'load':
          tlbLookup(k, i, P_TR, em.am);
          c.mem(em.op, 0);
          W(i.rd);
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
          pcAt(i.off + i.len);
          W(i.rd);
          taken(k, i.off + i.imm, 0n, false, 0);
          ended = true;
          break;
        case 'jalr': {
          // Target before rd is written (rd may be rs1); bit 0 cleared (Unpriv 2.5).
          R(i.rs1);
          if (i.imm !== 0) c.i64(i.imm).op(Op.i64Add);
          c.i64(-2).op(Op.i64And).set(T0);
          pcAt(i.off + i.len);
          W(i.rd);
          commit(k + 1, 0n, false);
          // In the page and cycles < deadline: go on there (run.ts OP_JALR), through the dispatch.
          c.get(T0).get(PV).op(Op.i64Sub).i64(4096).op(Op.i64LtU);
          c.get(P_CYC).get(P_DL).op(Op.i64LtU).op(Op.i32And);
          c.byte(Op.if).byte(VOID);
          c.get(T0).get(PV).op(Op.i64Sub).op(Op.i32WrapI64).i32(1).op(Op.i32ShrU).i32(m).op(Op.i32Add).set(P_TGT);
          c.byte(Op.br).u32(1 + outer + 1); // $D
          c.op(Op.end);
          exit(0, 0, () => {
            c.get(T0).get(PV).op(Op.i64Sub).i64(4096).op(Op.i64LtU);
            c.get(P_CYC).get(P_DL).op(Op.i64LtU).op(Op.i32And).op(Op.i32Eqz);
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
      const next = last.off + last.len;
      const j = headIndex.get(next);
      if (j !== undefined && next < 4096) {
        // Straight on into another block of the page (no check: run.ts checks nothing here).
        commit(n, 0n, false);
        c.i32(j).set(P_TGT);
        c.byte(Op.br).u32(outer + 1); // $D
      } else {
        exit(n, 0, () => c.i32(n === MAX_BLOCK ? 2 : 0), () => pcAt(next));
      }
    }
    c.op(Op.end); // $Li
    c.op(Op.end); // block $B(bi+1)
  }
  // $Bm: a jalr into the page, not to a block start: the interpreter goes on there (status 0).
  c.get(PV).get(P_TGT).i32(m).op(Op.i32Sub).i32(1).op(Op.i32Shl).op(Op.i64ExtendI32U).op(Op.i64Add).set(OUTPC);
  c.i32(2).set(STATUS);
  c.byte(Op.br).u32(1); // $X
  c.op(Op.end); // $D
  c.op(Op.end); // $X
  // ---- epilogue: pc, cycles, budget, class counts and registers back to the core.
  c.i32(L.J_PC).get(OUTPC).mem(Op.i64Store, 3);
  c.i32(L.J_CYCLES).get(P_CYC).mem(Op.i64Store, 3);
  c.i32(L.J_LEFT).get(P_LEFT).mem(Op.i64Store, 3);
  if (!MEM_CLS) {
    for (const cl of clsList) {
      const addr = L.CLS_BASE + cl * 8;
      c.i32(addr).i32(addr).mem(Op.i64Load, 3).get(clLocal.get(cl)!).op(Op.i64Add).mem(Op.i64Store, 3);
    }
  }
  if (!MEM_REGS) for (const r of written) c.i32(L.H_X + r * 8).get(xl(r)).mem(Op.i64Store, 3);
  c.get(STATUS);
  return { body: c, locals };
}

/** run.ts takenExtra: LAT[branch taken] - LAT[branch] as the u64 the interpreter adds. */
export function takenExtraOf(dv: DataView): bigint {
  const taken = dv.getUint8(L.LAT_BASE + L.TIMING_CLASS_BRANCH_TAKEN);
  const branch = dv.getUint8(L.LAT_BASE + 1);
  return BigInt.asIntN(64, BigInt(taken - branch));
}
