/**
 * The run loop: execute until the cycle deadline, the instruction limit, WFI or a host stop.
 *
 * Structure (GUIDE: decode once per block, page-local fetch, budget checks at block boundaries):
 *   outer loop = block boundary: take a pending exception or interrupt, check deadline / stop,
 *                translate pc, find the decoded frame of its physical page.
 *   inner loop = straight-line execution inside one page: each step loads the slot's op and
 *                dispatches through one switch (a wasm br_table). Sequential instructions advance
 *                `slot` by the instruction length; a taken branch inside the page only recomputes
 *                `slot` and checks the cycle deadline; anything else (slow-path memory access, CSR,
 *                trap, leaving the page) breaks out to the outer loop.
 * Counting: every instruction is charged its slot's latency and class before it executes; an
 * instruction that traps (or a slot that is not an instruction yet) gives the charge back, so
 * instret, cycles and per-class counts are exact. `left` counts down the instruction limit on every
 * instruction, so single-stepping and --max-insns are exact.
 */
import {
  H_PC, H_CYCLES, H_INSTRET, H_HPM_FILTER, H_PRIV, H_RESV, H_MSTATUS, H_MIP, H_STIMECMP_CYCLE, H_SATP, C_DEADLINE,
  H_VIRT, H_HGATP, C_VMX_EXIT_CYCLES, C_VMX_DEADLINE, C_VMX_RESUME, H_HSTATUS, H_VSTIMECMP_CYCLE, C_INSN_LIMIT, C_STOP, LAT_BASE, CLS_BASE,
  S_OP, S_RD, S_RS1, S_RS2, S_CLS, S_LEN, S_LAT, S_IMM, S_RAW, SCRATCH_SLOT, TLB_BASE, TLB_WRITE, C_SBI_HOST, C_MTRAP_HOST,
  TIMING_CLASS_BRANCH_TAKEN, TIMING_CLASS_TRAP, S_RS3, S_RM, H_FCSR, H_TRIG_ARMED, TR_ON,
  H_HPM_ARMED, H_HPM_OVF_CYCLE, H_HPM_OVF_INSTRET,
  FRAME_BASE, FRAME_END, J_ON, JIT_INHIBIT, J_THRESH, J_MAPBASE, JMAP_BASE, JE_COMPILED, J_PC, J_CYCLES, J_LEFT, J_INSNS, J_ENTERS,
} from './layout';
import { hpmOvfCheck } from './hpm';
import { jitCompile } from './jit';
import { trigBeforeInsn, trigRetired, trigOnTrap, TRIG_ARMED_STEP, TRIG_FIRED, TRIG_STEP } from './trigger';
import { dbgBlockStart, dbgAfter, dbgBlockEnd, dbgTrapTaken, DBG_STOP, DBG_STEPBLOCK } from './debug';
import { D_FLAGS, D_MID, D_DEADLINE } from './layout';
import * as G from './generated/ops';
import { bitOp } from './bitmanip';
import { zfhOp, getF16, setF16 } from './fpu16';
import { zfaOp, ZFA_ILLEGAL, ZFA_WROTE_X } from './zfa';
import {
  OP_FLH, OP_FSH,
  OP_FADD_H, OP_FSUB_H, OP_FMUL_H, OP_FDIV_H, OP_FSQRT_H, OP_FMADD_H, OP_FMSUB_H, OP_FNMSUB_H, OP_FNMADD_H,
  OP_FSGNJ_H, OP_FSGNJN_H, OP_FSGNJX_H, OP_FMIN_H, OP_FMAX_H, OP_FCVT_W_H, OP_FCVT_WU_H, OP_FCVT_L_H,
  OP_FCVT_LU_H, OP_FMV_X_H, OP_FCLASS_H, OP_FEQ_H, OP_FLT_H, OP_FLE_H, OP_FCVT_H_W, OP_FCVT_H_WU,
  OP_FCVT_H_L, OP_FCVT_H_LU, OP_FMV_H_X, OP_FCVT_S_H, OP_FCVT_D_H, OP_FCVT_H_S, OP_FCVT_H_D,
} from './generated/ops';
import { cboEnabled, cboZero, cboManage, ENVCFG_CBIE, ENVCFG_CBCFE, ENVCFG_CBZE } from './cmo';
import {
  OP_ADD_UW, OP_SH1ADD, OP_SH2ADD, OP_SH3ADD, OP_SH1ADD_UW, OP_SH2ADD_UW, OP_SH3ADD_UW, OP_SLLI_UW,
  OP_ANDN, OP_ORN, OP_XNOR, OP_CLZ, OP_CTZ, OP_CPOP, OP_SEXT_B, OP_SEXT_H, OP_CLZW, OP_CTZW, OP_CPOPW,
  OP_MAX, OP_MAXU, OP_MIN, OP_MINU, OP_ZEXT_H, OP_ROL, OP_ROR, OP_RORI, OP_ROLW, OP_RORW, OP_RORIW,
  OP_ORC_B, OP_REV8, OP_CLMUL, OP_CLMULH, OP_CLMULR, OP_BCLR, OP_BCLRI, OP_BEXT, OP_BEXTI, OP_BINV,
  OP_BINVI, OP_BSET, OP_BSETI, OP_PACK, OP_PACKH, OP_PACKW, OP_BREV8, OP_XPERM4, OP_XPERM8,
  OP_CZERO_EQZ, OP_CZERO_NEZ, OP_CBO_INVAL, OP_CBO_CLEAN, OP_CBO_FLUSH, OP_CBO_ZERO,
  OP_SFENCE_W_INVAL, OP_SFENCE_INVAL_IR,
  OP_FLI_S, OP_FLI_D, OP_FLI_H, OP_FMINM_S, OP_FMINM_D, OP_FMINM_H, OP_FMAXM_S, OP_FMAXM_D, OP_FMAXM_H,
  OP_FROUND_S, OP_FROUND_D, OP_FROUND_H, OP_FROUNDNX_S, OP_FROUNDNX_D, OP_FROUNDNX_H, OP_FLEQ_S, OP_FLEQ_D,
  OP_FLEQ_H, OP_FLTQ_S, OP_FLTQ_D, OP_FLTQ_H, OP_FCVTMOD_W_D,
} from './generated/ops';
import {
  getX, setX, pendingEnabled, PRV_M, PRV_S, PRV_U, MSTATUS_TW, MSTATUS_TSR, MSTATUS_TVM,
  getF, setF, getF32, setF32, fpOff, fpRmOf, fpDirty, fpAccrue, HSTATUS_VTSR, HSTATUS_VTW, HSTATUS_VTVM, HSTATUS_HU,
  HSTATUS_SPVP,
} from './hart';
import {
  excPending, excCause, excTval, raise, takeTrap, trapEntersM, trapToHost, pendingInterrupt, doMret, doSret, clearException,
  noteTrap, traceTrap, traceMode,
  CAUSE_ILLEGAL_INSTRUCTION, CAUSE_BREAKPOINT, CAUSE_USER_ECALL, CAUSE_MISALIGNED_LOAD,
  CAUSE_MISALIGNED_STORE, CAUSE_VIRTUAL_INSTRUCTION, CAUSE_VS_ECALL, setExcGva, excTinst, setExcTinst,
  CAUSE_LOAD_GUEST_PAGE_FAULT, CAUSE_STORE_GUEST_PAGE_FAULT,
} from './trap';
import {
  tlbIndex, tlbSet, dataPriv, loadSlow, storeSlow, fetchPage, fetch16, amoAddress, RAM_ADDEND,
  tlbFlushVaddr, tlbFlushVirtual, tlbFlushGuest, translating, hypLoad, hypStore, REGIME_V, curRegime,
  slowStayedInRam,
} from './mmu';
import { frameFor, fillSlot, OP_PAGE_END } from './frames';
import { vmExitTaken } from './vmexit';
import { tmEnabled, tmAccess, tmSfence, tmTakeExtra, tmDataRegime, tmHfenceVvma, tmHfenceGvma } from './tlbmodel';
import { csrAccess, setCurLat, hypOn } from './csr';
import { mulh, mulhu, mulhsu, div64, divu64, rem64, remu64, sext32, divw, divuw, remw, remuw } from './alu';
import {
  f32_add, f32_sub, f32_mul, f32_div, f64_add, f64_sub, f64_mul, f64_div, f32_sqrt, f64_sqrt, f32_fma, f64_fma,
  f32_min, f32_max, f64_min, f64_max, f32_eq, f32_lt, f32_le, f64_eq, f64_lt, f64_le, f32_classify, f64_classify,
  f32_to_f64, f64_to_f32, f32_to_i32, f32_to_u32, f32_to_i64, f32_to_u64, f64_to_i32, f64_to_u32, f64_to_i64, f64_to_u64,
  i32_to_f32, u32_to_f32, i64_to_f32, u64_to_f32, i32_to_f64, u32_to_f64, i64_to_f64, u64_to_f64,
} from './fpu';

export const RUN_DEADLINE: u32 = 0;
export const RUN_INSN_LIMIT: u32 = 1;
export const RUN_WFI: u32 = 2;
export const RUN_STOP: u32 = 3;
/** An S-mode ecall with a host SBI installed: pc is at the ecall; the host completes it. */
export const RUN_SBI: u32 = 4;
/**
 * A trap would have entered M-mode while C_MTRAP_HOST is set: pc is at the trapping (or
 * interrupted) instruction, privilege and CSRs are unchanged, C_MTRAP_CAUSE/TVAL say what it was.
 */
export const RUN_MTRAP: u32 = 5;
/**
 * The hart took C_STUCK_LIMIT traps in a row without retiring an instruction (trap.ts noteTrap);
 * the last trap has been taken (pc is at its handler) and C_STUCK_CAUSE/PC/TVEC describe it.
 */
export const RUN_STUCK: u32 = 6;
/** Host-VMM mode: a guest trap the host must handle; the exit record is in the control block. */
export const RUN_VMEXIT: u32 = 7;
/** The host debugger's stop (debug.ts): a breakpoint, watchpoint, step or trap stop; D_REASON says which. */
export const RUN_DEBUG: u32 = 8;

const CLS_TAKEN: u32 = CLS_BASE + (TIMING_CLASS_BRANCH_TAKEN + 1) * 8;
const CLS_TRAP: u32 = CLS_BASE + (TIMING_CLASS_TRAP + 1) * 8;

// Op ids as plain constants for the switch.
const OP_NONE = G.OP_NONE, OP_ILLEGAL = G.OP_ILLEGAL;
const OP_LUI = G.OP_LUI, OP_AUIPC = G.OP_AUIPC, OP_JAL = G.OP_JAL, OP_JALR = G.OP_JALR;
const OP_BEQ = G.OP_BEQ, OP_BNE = G.OP_BNE, OP_BLT = G.OP_BLT, OP_BGE = G.OP_BGE, OP_BLTU = G.OP_BLTU, OP_BGEU = G.OP_BGEU;
const OP_LB = G.OP_LB, OP_LH = G.OP_LH, OP_LW = G.OP_LW, OP_LD = G.OP_LD, OP_LBU = G.OP_LBU, OP_LHU = G.OP_LHU, OP_LWU = G.OP_LWU;
const OP_SB = G.OP_SB, OP_SH = G.OP_SH, OP_SW = G.OP_SW, OP_SD = G.OP_SD;
const OP_ADDI = G.OP_ADDI, OP_SLTI = G.OP_SLTI, OP_SLTIU = G.OP_SLTIU, OP_XORI = G.OP_XORI, OP_ORI = G.OP_ORI, OP_ANDI = G.OP_ANDI;
const OP_SLLI = G.OP_SLLI, OP_SRLI = G.OP_SRLI, OP_SRAI = G.OP_SRAI;
const OP_ADD = G.OP_ADD, OP_SUB = G.OP_SUB, OP_SLL = G.OP_SLL, OP_SLT = G.OP_SLT, OP_SLTU = G.OP_SLTU, OP_XOR = G.OP_XOR;
const OP_SRL = G.OP_SRL, OP_SRA = G.OP_SRA, OP_OR = G.OP_OR, OP_AND = G.OP_AND;
const OP_ADDIW = G.OP_ADDIW, OP_SLLIW = G.OP_SLLIW, OP_SRLIW = G.OP_SRLIW, OP_SRAIW = G.OP_SRAIW;
const OP_ADDW = G.OP_ADDW, OP_SUBW = G.OP_SUBW, OP_SLLW = G.OP_SLLW, OP_SRLW = G.OP_SRLW, OP_SRAW = G.OP_SRAW;
const OP_FENCE = G.OP_FENCE, OP_FENCE_I = G.OP_FENCE_I, OP_ECALL = G.OP_ECALL, OP_EBREAK = G.OP_EBREAK;
const OP_MUL = G.OP_MUL, OP_MULH = G.OP_MULH, OP_MULHSU = G.OP_MULHSU, OP_MULHU = G.OP_MULHU;
const OP_DIV = G.OP_DIV, OP_DIVU = G.OP_DIVU, OP_REM = G.OP_REM, OP_REMU = G.OP_REMU;
const OP_MULW = G.OP_MULW, OP_DIVW = G.OP_DIVW, OP_DIVUW = G.OP_DIVUW, OP_REMW = G.OP_REMW, OP_REMUW = G.OP_REMUW;
const OP_LR_W = G.OP_LR_W, OP_SC_W = G.OP_SC_W, OP_LR_D = G.OP_LR_D, OP_SC_D = G.OP_SC_D;
const OP_AMOSWAP_W = G.OP_AMOSWAP_W, OP_AMOADD_W = G.OP_AMOADD_W, OP_AMOXOR_W = G.OP_AMOXOR_W, OP_AMOAND_W = G.OP_AMOAND_W;
const OP_AMOOR_W = G.OP_AMOOR_W, OP_AMOMIN_W = G.OP_AMOMIN_W, OP_AMOMAX_W = G.OP_AMOMAX_W, OP_AMOMINU_W = G.OP_AMOMINU_W, OP_AMOMAXU_W = G.OP_AMOMAXU_W;
const OP_AMOSWAP_D = G.OP_AMOSWAP_D, OP_AMOADD_D = G.OP_AMOADD_D, OP_AMOXOR_D = G.OP_AMOXOR_D, OP_AMOAND_D = G.OP_AMOAND_D;
const OP_AMOOR_D = G.OP_AMOOR_D, OP_AMOMIN_D = G.OP_AMOMIN_D, OP_AMOMAX_D = G.OP_AMOMAX_D, OP_AMOMINU_D = G.OP_AMOMINU_D, OP_AMOMAXU_D = G.OP_AMOMAXU_D;
const OP_CSRRW = G.OP_CSRRW, OP_CSRRS = G.OP_CSRRS, OP_CSRRC = G.OP_CSRRC, OP_CSRRWI = G.OP_CSRRWI, OP_CSRRSI = G.OP_CSRRSI, OP_CSRRCI = G.OP_CSRRCI;
const OP_MRET = G.OP_MRET, OP_SRET = G.OP_SRET, OP_WFI = G.OP_WFI, OP_SFENCE_VMA = G.OP_SFENCE_VMA;
const OP_FLW = G.OP_FLW, OP_FSW = G.OP_FSW, OP_FLD = G.OP_FLD, OP_FSD = G.OP_FSD;
const OP_FMADD_S = G.OP_FMADD_S, OP_FMSUB_S = G.OP_FMSUB_S, OP_FNMSUB_S = G.OP_FNMSUB_S, OP_FNMADD_S = G.OP_FNMADD_S;
const OP_FADD_S = G.OP_FADD_S, OP_FSUB_S = G.OP_FSUB_S, OP_FMUL_S = G.OP_FMUL_S, OP_FDIV_S = G.OP_FDIV_S, OP_FSQRT_S = G.OP_FSQRT_S;
const OP_FSGNJ_S = G.OP_FSGNJ_S, OP_FSGNJN_S = G.OP_FSGNJN_S, OP_FSGNJX_S = G.OP_FSGNJX_S, OP_FMIN_S = G.OP_FMIN_S, OP_FMAX_S = G.OP_FMAX_S;
const OP_FCVT_W_S = G.OP_FCVT_W_S, OP_FCVT_WU_S = G.OP_FCVT_WU_S, OP_FCVT_L_S = G.OP_FCVT_L_S, OP_FCVT_LU_S = G.OP_FCVT_LU_S;
const OP_FMV_X_W = G.OP_FMV_X_W, OP_FCLASS_S = G.OP_FCLASS_S, OP_FEQ_S = G.OP_FEQ_S, OP_FLT_S = G.OP_FLT_S, OP_FLE_S = G.OP_FLE_S;
const OP_FCVT_S_W = G.OP_FCVT_S_W, OP_FCVT_S_WU = G.OP_FCVT_S_WU, OP_FCVT_S_L = G.OP_FCVT_S_L, OP_FCVT_S_LU = G.OP_FCVT_S_LU, OP_FMV_W_X = G.OP_FMV_W_X;
const OP_FMADD_D = G.OP_FMADD_D, OP_FMSUB_D = G.OP_FMSUB_D, OP_FNMSUB_D = G.OP_FNMSUB_D, OP_FNMADD_D = G.OP_FNMADD_D;
const OP_FADD_D = G.OP_FADD_D, OP_FSUB_D = G.OP_FSUB_D, OP_FMUL_D = G.OP_FMUL_D, OP_FDIV_D = G.OP_FDIV_D, OP_FSQRT_D = G.OP_FSQRT_D;
const OP_FSGNJ_D = G.OP_FSGNJ_D, OP_FSGNJN_D = G.OP_FSGNJN_D, OP_FSGNJX_D = G.OP_FSGNJX_D, OP_FMIN_D = G.OP_FMIN_D, OP_FMAX_D = G.OP_FMAX_D;
const OP_FCVT_W_D = G.OP_FCVT_W_D, OP_FCVT_WU_D = G.OP_FCVT_WU_D, OP_FCVT_L_D = G.OP_FCVT_L_D, OP_FCVT_LU_D = G.OP_FCVT_LU_D;
const OP_FMV_X_D = G.OP_FMV_X_D, OP_FCLASS_D = G.OP_FCLASS_D, OP_FEQ_D = G.OP_FEQ_D, OP_FLT_D = G.OP_FLT_D, OP_FLE_D = G.OP_FLE_D;
const OP_FCVT_D_W = G.OP_FCVT_D_W, OP_FCVT_D_WU = G.OP_FCVT_D_WU, OP_FCVT_D_L = G.OP_FCVT_D_L, OP_FCVT_D_LU = G.OP_FCVT_D_LU, OP_FMV_D_X = G.OP_FMV_D_X;
const OP_FCVT_S_D = G.OP_FCVT_S_D, OP_FCVT_D_S = G.OP_FCVT_D_S;
const OP_HFENCE_VVMA = G.OP_HFENCE_VVMA, OP_HFENCE_GVMA = G.OP_HFENCE_GVMA;
const OP_HLV_B = G.OP_HLV_B, OP_HLV_BU = G.OP_HLV_BU, OP_HLV_H = G.OP_HLV_H, OP_HLV_HU = G.OP_HLV_HU, OP_HLVX_HU = G.OP_HLVX_HU;
const OP_HLV_W = G.OP_HLV_W, OP_HLV_WU = G.OP_HLV_WU, OP_HLVX_WU = G.OP_HLVX_WU, OP_HLV_D = G.OP_HLV_D;
const OP_HSV_B = G.OP_HSV_B, OP_HSV_H = G.OP_HSV_H, OP_HSV_W = G.OP_HSV_W, OP_HSV_D = G.OP_HSV_D;

/** Host address for an access hitting the host TLB, or 0 on a miss. `am` = size - 1. */
@inline function hostAddr(tlb: u32, va: u64, am: u64): usize {
  const e = tlb + tlbIndex(va);
  return load<u64>(e) == (va & (0xfffffffffffff000 | am)) ? <usize>(va + load<u64>(e, 8)) : 0;
}

/** Give back the class count charged to a slot that did not retire. */
@inline function uncount(slot: u32): void {
  const c = CLS_BASE + (<u32>load<u8>(slot, S_CLS) << 3);
  store<u64>(c, load<u64>(c) - 1);
}

// ---- F/D helpers (hart.ts: shared with the JIT's jitfp.ts)
/**
 * Rounding mode of an FP instruction with an rm field (Unpriv 11.2): the static rm, or frm when
 * rm = 7 (dyn). A result above 4 means illegal: FS = Off (8), or dyn with frm = 5, 6 or 7. The
 * static values 5 and 6 never get here: the decoder treats them as illegal encodings.
 */
@inline function fpRm(slot: u32): u32 {
  return fpRmOf(<u32>load<u8>(slot, S_RM));
}

/**
 * The transformed instruction of a faulting load, store, AMO, HLV or HSV (H ext., "Transformed
 * Instruction or Pseudoinstruction for mtinst or htinst"): the instruction with its address
 * fields zeroed (the immediate; rs1 becomes the "address offset" = faulting address - original
 * address); a compressed instruction is first expanded, and bit 1 is then 0 to say so.
 * 0 when the instruction is none of those.
 */
function transformedInsn(slot: u32, tval: u64): u64 {
  const raw = load<u32>(slot, S_RAW);
  const op = load<u16>(slot, S_OP);
  const rs1 = <u32>load<u8>(slot, S_RS1);
  let t: u32 = 0;
  let base = getX(rs1);
  if ((raw & 3) == 3) {
    const opcode = raw & 0x7f;
    if (opcode == 0x03 || opcode == 0x07) { t = raw & 0x00007fff; base += <u64><i64>load<i32>(slot, S_IMM); }
    else if (opcode == 0x23 || opcode == 0x27) { t = raw & 0x01f0707f; base += <u64><i64>load<i32>(slot, S_IMM); }
    else if (opcode == 0x2f || opcode == 0x73) t = raw & ~(<u32>0x1f << 15);
    else return 0;
  } else {
    // c.lw c.ld c.lwsp c.ldsp c.fld c.fldsp / c.sw c.sd c.swsp c.sdsp c.fsd c.fsdsp
    const rd = <u32>load<u8>(slot, S_RD) & 31;
    const rs2 = <u32>load<u8>(slot, S_RS2) & 31;
    if (op == OP_LW) t = (2 << 12) | (rd << 7) | 0x03;
    else if (op == OP_LD) t = (3 << 12) | (rd << 7) | 0x03;
    else if (op == OP_FLD) t = (3 << 12) | (rd << 7) | 0x07;
    else if (op == OP_SW) t = (rs2 << 20) | (2 << 12) | 0x23;
    else if (op == OP_SD) t = (rs2 << 20) | (3 << 12) | 0x23;
    else if (op == OP_FSD) t = (rs2 << 20) | (3 << 12) | 0x27;
    else return 0;
    t &= ~(<u32>2);
    base += <u64><i64>load<i32>(slot, S_IMM);
  }
  return <u64>(t | ((<u32>(tval - base) & 0x1f) << 15));
}

/**
 * The last block ended only because an instruction took a slow path (or the run slice ended
 * there); execution continues at the next instruction, which is not a new fetch block for the
 * modeled I-TLB. Kept across run() calls so slicing does not change the counts.
 */
let seqBreak = false;
/**
 * The page of the last block when run() returned RUN_DEBUG: the next run() goes on with it, so the
 * modeled I-TLB's "same fetch block" decision (seqBreak and the page) is the one the run without
 * the debugger's stop makes (a fresh run() would start with no page and charge a fetch).
 */
let dbgPageVa: u64 = 0;
let dbgPageKept = false;

/** Instructions until the first armed instret counter wraps (all ones: none ahead). */
function ovfDistance(insnNow: u64): u64 {
  const ovi = load<u64>(H_HPM_OVF_INSTRET);
  return ovi != <u64>-1 && ovi > insnNow ? ovi - insnNow : <u64>-1;
}

/** Make the cycle / instret counts current for hpm.ts before a privilege change (Sscofpmf filtering). */
@inline function hpmSync(cycles: u64, instret: u64): void {
  if (load<u64>(H_HPM_FILTER) == 0) return;
  store<u64>(H_CYCLES, cycles);
  store<u64>(H_INSTRET, instret);
}

export function run(): u32 {
  let pc = load<u64>(H_PC);
  let cycles = load<u64>(H_CYCLES);
  const instretStart = load<u64>(H_INSTRET);
  const limit = load<u64>(C_INSN_LIMIT);
  if (instretStart >= limit) return RUN_INSN_LIMIT;
  // Instructions retired so far in this run() = budget - left. A stepped block (below) stands its
  // real `left` in with 1 and moves `budget` by as much, so that stays true inside it (CSR reads of
  // minstret, hpmSync, noteTrap).
  let budget = limit - instretStart;
  let left = budget;
  let deadline: u64 = 0;
  const takenExtra = <u64>load<u8>(LAT_BASE + TIMING_CLASS_BRANCH_TAKEN) - <u64>load<u8>(LAT_BASE + 1);
  // A trap entry costs at least one cycle, so a guest stuck in a trap loop (which retires nothing)
  // still reaches the cycle deadline and the host keeps control (events, Ctrl-C).
  const trapLat = max<u64>(1, <u64>load<u8>(LAT_BASE + TIMING_CLASS_TRAP));
  let status = RUN_DEADLINE;
  let frame: u32 = 0;
  let pageVa: u64 = 0;
  if (dbgPageKept) {
    pageVa = dbgPageVa;
    dbgPageKept = false;
  }
  let hostPage: u64 = 0;
  let slot: u32 = 0;
  let tlbR: u32 = 0;
  let tlbW: u32 = 0;
  // Timing mode: consult the modeled TLB on translated data accesses / fetch blocks.
  let tmData = false;
  let tmFetch = false;
  // Sdtrig execute/icount triggers that could match in this block (trigger.ts): the block is one
  // instruction, checked before it runs; `stepLeft` is the budget the block's `left` = 1 stands in for.
  let stepping = false;
  let stepLeft: u64 = 0;
  // The host debugger (debug.ts) wants this block run one instruction at a time (dbgAfter after
  // each); `dbgLeft` is the budget the block's `left` = 1 stands in for.
  let dbgWant = false;
  let dbgStep = false;
  let dbgLeft: u64 = 0;
  // Sscofpmf: instructions until an armed instret counter wraps (all ones = none armed); a block
  // runs at most that many (`capped`: `left` then stands in for `capLeft`, as for stepping).
  let ovfLeft: u64 = <u64>-1;
  let capRest: u64 = 0; // the budget a capped block's `left` does not include (0: not capped)
  // JIT tier (jit.ts, docs/JIT.md): enter compiled blocks in this block? Never in timing mode, while
  // stepping, or while a feature inhibits it (JIT_INHIBIT).
  let jitOn = false;
  // The block map is looked at only where a compiled block can start (docs/JIT.md): the first
  // instruction of a fetch block and the target of a taken in-page transfer (jin = 1: this
  // instruction), or the instruction after the one compiled code returned at (jin = 2). Counting
  // heat at every instruction made the interpreter ~1.7x slower.
  let jitIn: u32 = 0; // 1 when jitOn
  let jin: u32 = 0;

  while (true) {
    // ---- block boundary
    if (excPending) {
      const epc = pc;
      // Trap trace (--trace-out): one flag load per trap, nothing when off (layout.ts TR_ON).
      const traced = load<u32>(TR_ON) != 0;
      const from: u32 = traced ? traceMode() : 0;
      const dCause = excCause, dTval = excTval;
      if (load<u64>(H_TRIG_ARMED) != 0) trigOnTrap();
      // A guest-page fault of an explicit load/store/AMO reports the transformed instruction in
      // htinst/mtinst (implicit walk accesses already carry their pseudoinstruction).
      if ((excCause == CAUSE_LOAD_GUEST_PAGE_FAULT || excCause == CAUSE_STORE_GUEST_PAGE_FAULT) &&
        excTinst == 0 && slot != 0) setExcTinst(transformedInsn(slot, excTval));
      if (load<u32>(C_MTRAP_HOST) != 0 && trapEntersM(excCause)) {
        // Host M-mode (--bios builtin): the host firmware handles it; pc stays at the instruction.
        trapToHost(excCause, excTval);
        status = RUN_MTRAP;
      } else {
        hpmSync(cycles, instretStart + (budget - left));
        pc = takeTrap(excCause, excTval, pc);
      }
      clearException();
      seqBreak = false;
      cycles += trapLat;
      store<u64>(CLS_TRAP, load<u64>(CLS_TRAP) + 1);
      // Host-VMM mode (vmexit.ts): the trap became a VM exit; the host takes it from here.
      if (vmExitTaken()) { status = RUN_VMEXIT; cycles += <u64>load<u32>(C_VMX_EXIT_CYCLES); store<u64>(C_VMX_DEADLINE, deadline); }
      else if (status != RUN_MTRAP && noteTrap(excCause, epc, instretStart + (budget - left))) status = RUN_STUCK;
      if (traced) traceTrap(excCause, excTval, epc, cycles, from, status == RUN_MTRAP ? 1 : status == RUN_VMEXIT ? 2 : 0);
      if (status == RUN_DEADLINE && load<u32>(D_FLAGS) != 0 && dbgTrapTaken(dCause, dTval, epc, pc)) status = RUN_DEBUG;
    }
    if (status != RUN_DEADLINE) break;
    if (load<u64>(C_VMX_RESUME) != 0) {
      // The VMM retries an instruction whose exit it resolved unseen by the guest (layout.ts
      // C_VMX_RESUME): the block the exit cut goes on as if never cut, with its own deadline and no
      // boundary work (deadline, timers, interrupts are checked where the uncut block would).
      store<u64>(C_VMX_RESUME, 0);
      deadline = load<u64>(C_VMX_DEADLINE);
      ovfLeft = load<u64>(H_HPM_ARMED) != 0 ? ovfDistance(instretStart + (budget - left)) : <u64>-1;
    } else if (load<u32>(D_MID) != 0) {
      // The host debugger stopped between two instructions of one block (debug.ts): go on with
      // that block as if never cut (its deadline; no boundary work).
      store<u32>(D_MID, 0);
      deadline = load<u64>(D_DEADLINE);
      ovfLeft = load<u64>(H_HPM_ARMED) != 0 ? ovfDistance(instretStart + (budget - left)) : <u64>-1;
    } else {
    deadline = load<u64>(C_DEADLINE);
    // Sstc: the core's own timer deadline (time >= stimecmp raises STIP without a host event).
    const stc = load<u64>(H_STIMECMP_CYCLE);
    if (cycles >= stc) store<u64>(H_MIP, load<u64>(H_MIP) | (1 << 5));
    else if (stc < deadline) deadline = stc;
    // ... and VS-mode's (time + htimedelta >= vstimecmp raises VSTIP, hip bit 6).
    const vstc = load<u64>(H_VSTIMECMP_CYCLE);
    if (cycles >= vstc) store<u64>(H_MIP, load<u64>(H_MIP) | (1 << 6));
    else if (vstc < deadline) deadline = vstc;
    // Sscofpmf (hpm.ts): a counter armed for overflow. Its wrap is found here, at the boundary,
    // before pending interrupts are looked at, so LCOFI is taken before the next instruction.
    ovfLeft = <u64>-1;
    if (load<u64>(H_HPM_ARMED) != 0) {
      const insnNow = instretStart + (budget - left);
      store<u64>(H_CYCLES, cycles);
      store<u64>(H_INSTRET, insnNow);
      hpmOvfCheck();
      const ovc = load<u64>(H_HPM_OVF_CYCLE);
      if (ovc < deadline) deadline = ovc; // cycles: at the first boundary at or after the wrap
      ovfLeft = ovfDistance(insnNow); // instret: exact, the block is capped below
    }
    if (cycles >= load<u64>(C_DEADLINE)) break;
    if (left == 0) { status = RUN_INSN_LIMIT; break; }
    if (load<u32>(C_STOP) != 0) { store<u32>(C_STOP, 0); status = RUN_STOP; break; }
    if (pendingEnabled() != 0) {
      const cause = pendingInterrupt();
      if (cause != 0) {
        seqBreak = false;
        if (load<u64>(H_TRIG_ARMED) != 0) trigOnTrap();
        const traced = load<u32>(TR_ON) != 0;
        const from: u32 = traced ? traceMode() : 0;
        if (load<u32>(C_MTRAP_HOST) != 0 && trapEntersM(cause)) {
          trapToHost(cause, 0);
          cycles += trapLat;
          store<u64>(CLS_TRAP, load<u64>(CLS_TRAP) + 1);
          status = RUN_MTRAP;
          if (traced) traceTrap(cause, 0, pc, cycles, from, 1);
          break;
        }
        const epc = pc;
        hpmSync(cycles, instretStart + (budget - left));
        pc = takeTrap(cause, 0, pc);
        cycles += trapLat;
        store<u64>(CLS_TRAP, load<u64>(CLS_TRAP) + 1);
        if (traced) traceTrap(cause, 0, epc, cycles, from, vmExitTaken() ? 2 : 0);
        if (vmExitTaken()) { status = RUN_VMEXIT; cycles += <u64>load<u32>(C_VMX_EXIT_CYCLES); break; }
        if (noteTrap(cause, epc, instretStart + (budget - left))) { status = RUN_STUCK; break; }
        if (load<u32>(D_FLAGS) != 0 && dbgTrapTaken(cause, 0, epc, pc)) { status = RUN_DEBUG; break; }
        continue;
      }
    }
    } // (C_VMX_RESUME)
    // ---- host debugger (debug.ts): breakpoints before the fetch; stepped blocks
    if (load<u32>(D_FLAGS) != 0) {
      const d = dbgBlockStart(pc);
      if (d == DBG_STOP) { status = RUN_DEBUG; break; }
      dbgWant = d == DBG_STEPBLOCK;
    }
    // ---- host TLB arrays of the data regime (MPRV may make M-mode loads/stores use MPP's)
    const dp = dataPriv();
    tlbR = tlbSet(dp);
    tlbW = tlbR + (TLB_WRITE - TLB_BASE);
    if (tmEnabled()) {
      tmData = dp != PRV_M && translating(dp);
      tmDataRegime((dp & REGIME_V) != 0);
      const fr = curRegime();
      tmFetch = fr != PRV_M && translating(fr);
    } else {
      tmData = false;
      tmFetch = false;
    }
    if (tmFetch && !(seqBreak && (pc & ~(<u64>0xfff)) == pageVa)) cycles += tmAccess(pc, true);
    seqBreak = false;
    // Modeled-TLB cycles a slow path charged (the second page of a page-crossing access).
    cycles += tmTakeExtra();
    // ---- execute address / icount triggers: before the fetch (they outrank its faults)
    stepping = false;
    if ((load<u64>(H_TRIG_ARMED) & TRIG_ARMED_STEP) != 0) {
      const tr = trigBeforeInsn(pc);
      if (tr == TRIG_FIRED) continue;
      stepping = tr == TRIG_STEP;
    }
    // ---- translate pc and find the decoded frame of its page
    pageVa = pc & ~(<u64>0xfff);
    const ppage = fetchPage(pc);
    if (excPending) continue;
    hostPage = ppage + RAM_ADDEND;
    frame = frameFor(ppage);
    slot = frame + (<u32>(pc - pageVa) << 3);
    if ((pc & 0xfff) == 0xffe) {
      // A 32-bit instruction in the last parcel straddles two pages: decode it (both halves
      // fetched through translation) into the scratch slot, never into the frame.
      const lo = <u32>load<u16>(<usize>hostPage + 0xffe);
      if ((lo & 3) == 3) {
        const ppage2 = fetchPage(pc + 2);
        if (excPending) continue;
        const hi = fetch16(ppage2);
        fillSlot(SCRATCH_SLOT, lo | (hi << 16));
        slot = SCRATCH_SLOT;
      }
    }

    if (stepping) {
      stepLeft = left;
      budget -= left - 1;
      left = 1;
    } else if (dbgWant) {
      dbgLeft = left;
      budget -= left - 1;
      left = 1;
      dbgStep = true;
    } else if (ovfLeft < left) {
      // Sscofpmf instret counters: stop after exactly the instruction that wraps one.
      capRest = left - ovfLeft;
      left = ovfLeft;
    }
    // Not in a block the host debugger steps either (dbgWant: breakpoint pages, watchpoints, gdb's step).
    jitOn = load<u32>(J_ON) != 0 && load<u32>(JIT_INHIBIT) == 0 && !stepping && !dbgWant && !tmEnabled();
    jitIn = jitOn ? 1 : 0;
    jin = jitIn;

    // ---- straight-line execution within the page
    while (true) {
      if (left == 0) {
        if (dbgStep) {
          // A debugger-stepped instruction retired and the block goes on: stop here (cutting the
          // block: the next run() continues it, debug.ts), or step the next one.
          dbgLeft--;
          budget++;
          left = 1;
          if (dbgAfter(pc)) {
            store<u32>(D_MID, 1);
            store<u64>(D_DEADLINE, deadline);
            seqBreak = true;
            status = RUN_DEBUG;
            break;
          }
          if (dbgLeft != 0) continue;
          break;
        }
        // One stepped instruction done and execution goes on in sequence (or by an in-page
        // branch, whose fetch block is charged already): not a new fetch block — except where
        // straight-line execution would also end the block: at a 32-bit instruction that
        // straddles the page end (see OP_NONE), so the modeled I-TLB counts the same either way.
        if (stepping || capRest != 0) seqBreak = (pc & 0xfff) != 0xffe || (<u32>load<u16>(<usize>hostPage + 0xffe) & 3) != 3 || pc - pageVa >= 4096;
        break;
      }
      if (jin != 0 && --jin == 0 && slot < FRAME_END) {
        // A compiled block starting here runs the instructions the interpreter would, charging the
        // same cycles and counts, and stops where the interpreter would leave this inner loop
        // (status 1) or at anything it does not handle (status 0: the interpreter goes on at J_PC).
        const jm = JMAP_BASE + ((slot - FRAME_BASE) >> 3);
        const e = <u32>load<u16>(jm);
        if (e >= JE_COMPILED) {
          store<u32>(J_MAPBASE, JMAP_BASE + ((frame - FRAME_BASE) >> 3));
          const st = call_indirect<u32>(e & ~JE_COMPILED, pc, cycles, left, deadline, tlbR, tlbW);
          const nl = load<u64>(J_LEFT);
          if (nl != left) {
            store<u64>(J_INSNS, load<u64>(J_INSNS) + (left - nl));
            store<u64>(J_ENTERS, load<u64>(J_ENTERS) + 1);
            left = nl;
            pc = load<u64>(J_PC);
            cycles = load<u64>(J_CYCLES);
            if (st == 1) break;
            if (pc - pageVa >= 4096) {
              // Compiled code went on into another page (jit.ts jitChain: that boundary had
              // nothing to do) and stopped there inside a block: the inner loop goes on in that
              // page. Its fetch-TLB entry and frame are the ones jitChain found (compiled code
              // changes neither).
              pageVa = pc & ~(<u64>0xfff);
              const pp = fetchPage(pc);
              hostPage = pp + RAM_ADDEND;
              frame = frameFor(pp);
            }
            // status 0: the interpreter executes the instruction at pc, then looks again; 2: pc
            // may start a compiled block (a transfer to a block of another module of the page).
            jin = st == 0 ? 2 : 1;
            slot = frame + (<u32>(pc - pageVa) << 3);
            continue;
          }
          // The block declined (budget below its length): interpret this instruction.
        } else if (e < load<u32>(J_THRESH)) {
          store<u16>(jm, <u16>(e + 1));
        } else if (e < JE_COMPILED - 1) {
          jitCompile(slot); // installs the block (or JE_NEVER) in the map
          jin = 1;
          continue;
        }
      }
      left--;
      const lat = <u64>load<u8>(slot, S_LAT);
      cycles += lat;
      const cnt = CLS_BASE + (<u32>load<u8>(slot, S_CLS) << 3);
      store<u64>(cnt, load<u64>(cnt) + 1);
      const len = <u32>load<u8>(slot, S_LEN);
      switch (load<u16>(slot, S_OP)) {
      case OP_LB: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false);
        const h = hostAddr(tlbR, va, 0);
        if (h) {
          setX(load<u8>(slot, S_RD), <u64><i64>load<i8>(h));
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        const v0 = loadSlow(va, 1);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), <u64><i64><i8>v0);
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_LH: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false);
        const h = hostAddr(tlbR, va, 1);
        if (h) {
          setX(load<u8>(slot, S_RD), <u64><i64>load<i16>(h));
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        const v0 = loadSlow(va, 2);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), <u64><i64><i16>v0);
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_LW: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false);
        const h = hostAddr(tlbR, va, 3);
        if (h) {
          setX(load<u8>(slot, S_RD), <u64><i64>load<i32>(h));
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        const v0 = loadSlow(va, 4);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), <u64><i64><i32>v0);
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_LD: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false);
        const h = hostAddr(tlbR, va, 7);
        if (h) {
          setX(load<u8>(slot, S_RD), load<u64>(h));
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        const v0 = loadSlow(va, 8);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), v0);
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_LBU: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false);
        const h = hostAddr(tlbR, va, 0);
        if (h) {
          setX(load<u8>(slot, S_RD), <u64>load<u8>(h));
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        const v0 = loadSlow(va, 1);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), v0);
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_LHU: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false);
        const h = hostAddr(tlbR, va, 1);
        if (h) {
          setX(load<u8>(slot, S_RD), <u64>load<u16>(h));
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        const v0 = loadSlow(va, 2);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), v0);
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_LWU: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false);
        const h = hostAddr(tlbR, va, 3);
        if (h) {
          setX(load<u8>(slot, S_RD), <u64>load<u32>(h));
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        const v0 = loadSlow(va, 4);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), v0);
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_SB: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false, true);
        const v = getX(load<u8>(slot, S_RS2));
        const h = hostAddr(tlbW, va, 0);
        if (h) {
          store<u8>(h, <u8>v);
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        storeSlow(va, 1, v);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_SH: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false, true);
        const v = getX(load<u8>(slot, S_RS2));
        const h = hostAddr(tlbW, va, 1);
        if (h) {
          store<u16>(h, <u16>v);
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        storeSlow(va, 2, v);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_SW: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false, true);
        const v = getX(load<u8>(slot, S_RS2));
        const h = hostAddr(tlbW, va, 3);
        if (h) {
          store<u32>(h, <u32>v);
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        storeSlow(va, 4, v);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_SD: {
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false, true);
        const v = getX(load<u8>(slot, S_RS2));
        const h = hostAddr(tlbW, va, 7);
        if (h) {
          store<u64>(h, v);
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        storeSlow(va, 8, v);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_ADD: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), a + b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SUB: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), a - b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SLL: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), a << (b & 63));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SLT: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), <u64>(<i64>a < <i64>b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SLTU: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), <u64>(a < b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_XOR: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), a ^ b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SRL: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), a >> (b & 63));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SRA: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), <u64>(<i64>a >> <i64>(b & 63)));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_OR: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), a | b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AND: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), a & b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_ADDW: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), sext32(<u32>a + <u32>b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SUBW: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), sext32(<u32>a - <u32>b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SLLW: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), sext32(<u32>a << (<u32>b & 31)));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SRLW: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), sext32(<u32>a >> (<u32>b & 31)));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SRAW: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), sext32(<u32>(<i32>a >> (<i32>b & 31))));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_MUL: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), a * b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_MULH: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), mulh(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_MULHSU: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), mulhsu(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_MULHU: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), mulhu(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_DIV: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), div64(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_DIVU: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), divu64(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_REM: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), rem64(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_REMU: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), remu64(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_MULW: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), sext32(<u32>a * <u32>b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_DIVW: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), divw(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_DIVUW: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), divuw(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_REMW: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), remw(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_REMUW: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), remuw(a, b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_ADDI: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), a + b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SLTI: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), <u64>(<i64>a < <i64>b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SLTIU: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), <u64>(a < b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_XORI: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), a ^ b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_ORI: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), a | b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_ANDI: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), a & b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SLLI: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), a << b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SRLI: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), a >> b);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SRAI: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), <u64>(<i64>a >> <i64>b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_ADDIW: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), sext32(<u32>a + <u32>b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SLLIW: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), sext32(<u32>a << <u32>b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SRLIW: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), sext32(<u32>a >> <u32>b));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SRAIW: {
        const a = getX(load<u8>(slot, S_RS1)), b = <u64><i64>load<i32>(slot, S_IMM);
        setX(load<u8>(slot, S_RD), sext32(<u32>(<i32>a >> <i32>b)));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_BEQ: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        if (a == b) {
          pc += <u64><i64>load<i32>(slot, S_IMM);
          cycles += takenExtra;
          store<u64>(CLS_TAKEN, load<u64>(CLS_TAKEN) + 1);
          if (pc - pageVa < 4096 && cycles < deadline) {
            if (tmFetch) cycles += tmAccess(pc, true);
            slot = frame + (<u32>(pc - pageVa) << 3); jin = jitIn; continue;
          }
          break;
        }
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_BNE: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        if (a != b) {
          pc += <u64><i64>load<i32>(slot, S_IMM);
          cycles += takenExtra;
          store<u64>(CLS_TAKEN, load<u64>(CLS_TAKEN) + 1);
          if (pc - pageVa < 4096 && cycles < deadline) {
            if (tmFetch) cycles += tmAccess(pc, true);
            slot = frame + (<u32>(pc - pageVa) << 3); jin = jitIn; continue;
          }
          break;
        }
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_BLT: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        if (<i64>a < <i64>b) {
          pc += <u64><i64>load<i32>(slot, S_IMM);
          cycles += takenExtra;
          store<u64>(CLS_TAKEN, load<u64>(CLS_TAKEN) + 1);
          if (pc - pageVa < 4096 && cycles < deadline) {
            if (tmFetch) cycles += tmAccess(pc, true);
            slot = frame + (<u32>(pc - pageVa) << 3); jin = jitIn; continue;
          }
          break;
        }
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_BGE: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        if (<i64>a >= <i64>b) {
          pc += <u64><i64>load<i32>(slot, S_IMM);
          cycles += takenExtra;
          store<u64>(CLS_TAKEN, load<u64>(CLS_TAKEN) + 1);
          if (pc - pageVa < 4096 && cycles < deadline) {
            if (tmFetch) cycles += tmAccess(pc, true);
            slot = frame + (<u32>(pc - pageVa) << 3); jin = jitIn; continue;
          }
          break;
        }
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_BLTU: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        if (a < b) {
          pc += <u64><i64>load<i32>(slot, S_IMM);
          cycles += takenExtra;
          store<u64>(CLS_TAKEN, load<u64>(CLS_TAKEN) + 1);
          if (pc - pageVa < 4096 && cycles < deadline) {
            if (tmFetch) cycles += tmAccess(pc, true);
            slot = frame + (<u32>(pc - pageVa) << 3); jin = jitIn; continue;
          }
          break;
        }
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_BGEU: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        if (a >= b) {
          pc += <u64><i64>load<i32>(slot, S_IMM);
          cycles += takenExtra;
          store<u64>(CLS_TAKEN, load<u64>(CLS_TAKEN) + 1);
          if (pc - pageVa < 4096 && cycles < deadline) {
            if (tmFetch) cycles += tmAccess(pc, true);
            slot = frame + (<u32>(pc - pageVa) << 3); jin = jitIn; continue;
          }
          break;
        }
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOSWAP_W: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 3) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 4, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = sext32(load<u32>(h)), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = b;
        store<u32>(h, <u32>(r));
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOSWAP_D: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 7) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 8, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = load<u64>(h), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = b;
        store<u64>(h, r);
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOADD_W: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 3) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 4, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = sext32(load<u32>(h)), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = a + b;
        store<u32>(h, <u32>(r));
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOADD_D: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 7) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 8, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = load<u64>(h), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = a + b;
        store<u64>(h, r);
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOXOR_W: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 3) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 4, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = sext32(load<u32>(h)), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = a ^ b;
        store<u32>(h, <u32>(r));
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOXOR_D: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 7) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 8, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = load<u64>(h), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = a ^ b;
        store<u64>(h, r);
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOAND_W: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 3) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 4, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = sext32(load<u32>(h)), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = a & b;
        store<u32>(h, <u32>(r));
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOAND_D: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 7) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 8, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = load<u64>(h), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = a & b;
        store<u64>(h, r);
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOOR_W: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 3) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 4, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = sext32(load<u32>(h)), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = a | b;
        store<u32>(h, <u32>(r));
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOOR_D: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 7) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 8, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = load<u64>(h), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = a | b;
        store<u64>(h, r);
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOMIN_W: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 3) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 4, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = sext32(load<u32>(h)), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = <i32>a < <i32>b ? a : b;
        store<u32>(h, <u32>(r));
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOMIN_D: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 7) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 8, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = load<u64>(h), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = <i64>a < <i64>b ? a : b;
        store<u64>(h, r);
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOMAX_W: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 3) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 4, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = sext32(load<u32>(h)), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = <i32>a > <i32>b ? a : b;
        store<u32>(h, <u32>(r));
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOMAX_D: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 7) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 8, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = load<u64>(h), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = <i64>a > <i64>b ? a : b;
        store<u64>(h, r);
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOMINU_W: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 3) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 4, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = sext32(load<u32>(h)), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = <u32>a < <u32>b ? a : b;
        store<u32>(h, <u32>(r));
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOMINU_D: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 7) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 8, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = load<u64>(h), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = a < b ? a : b;
        store<u64>(h, r);
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOMAXU_W: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 3) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 4, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = sext32(load<u32>(h)), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = <u32>a > <u32>b ? a : b;
        store<u32>(h, <u32>(r));
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AMOMAXU_D: {
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & 7) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, 8, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        const a = load<u64>(h), b = getX(load<u8>(slot, S_RS2));
        const r: u64 = a > b ? a : b;
        store<u64>(h, r);
        setX(load<u8>(slot, S_RD), a);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_LUI: {
        setX(load<u8>(slot, S_RD), <u64><i64>load<i32>(slot, S_IMM));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_AUIPC: {
        setX(load<u8>(slot, S_RD), pc + <u64><i64>load<i32>(slot, S_IMM));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_JAL: {
        setX(load<u8>(slot, S_RD), pc + <u64>len);
        pc += <u64><i64>load<i32>(slot, S_IMM);
        if (pc - pageVa < 4096 && cycles < deadline) {
            if (tmFetch) cycles += tmAccess(pc, true);
            slot = frame + (<u32>(pc - pageVa) << 3); jin = jitIn; continue;
          }
        break;
      }
      case OP_JALR: {
        // Target computed before rd is written (rd may equal rs1); bit 0 cleared (Unpriv 2.5).
        const t = (getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM)) & ~(<u64>1);
        setX(load<u8>(slot, S_RD), pc + <u64>len);
        pc = t;
        if (pc - pageVa < 4096 && cycles < deadline) {
            if (tmFetch) cycles += tmAccess(pc, true);
            slot = frame + (<u32>(pc - pageVa) << 3); jin = jitIn; continue;
          }
        break;
      }
      // ---- A: LR/SC (Unpriv 8.2). The reservation is the host address of the reserved word.
      case OP_LR_W: case OP_LR_D: {
        const size: u32 = load<u16>(slot, S_OP) == OP_LR_W ? 4 : 8;
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false);
        if ((va & <u64>(size - 1)) != 0) { raise(CAUSE_MISALIGNED_LOAD, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, size, false);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), size == 4 ? sext32(load<u32>(h)) : load<u64>(h));
        store<u64>(H_RESV, <u64>h);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_SC_W: case OP_SC_D: {
        const size: u32 = load<u16>(slot, S_OP) == OP_SC_W ? 4 : 8;
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        if ((va & <u64>(size - 1)) != 0) { raise(CAUSE_MISALIGNED_STORE, va); left++; cycles -= lat; uncount(slot); break; }
        const h = amoAddress(va, size, true);
        if (h == 0) { left++; cycles -= lat; uncount(slot); break; }
        // SC succeeds only on the reserved word; either way the reservation is gone (Unpriv 8.2).
        const ok = load<u64>(H_RESV) == <u64>h;
        store<u64>(H_RESV, <u64>-1);
        if (ok) {
          const v = getX(load<u8>(slot, S_RS2));
          if (size == 4) store<u32>(h, <u32>v);
          else store<u64>(h, v);
        }
        setX(load<u8>(slot, S_RD), ok ? 0 : 1);
        pc += <u64>len; slot += len << 3; continue;
      }
      // ---- F/D loads and stores (Unpriv 11.5, 12.3): the integer loads' host-TLB fast path and
      // slow path (misaligned accesses as for ld/sd). flw NaN-boxes the loaded single; fsw stores the
      // low 32 bits as they are (transfers do not check NaN-boxing, Unpriv 12.2).
      case OP_FLW: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false);
        const h = hostAddr(tlbR, va, 3);
        if (h) {
          setF32(load<u8>(slot, S_RD), load<u32>(h));
          fpDirty();
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        const v0 = loadSlow(va, 4);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), <u32>v0);
        fpDirty();
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_FLD: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false);
        const h = hostAddr(tlbR, va, 7);
        if (h) {
          setF(load<u8>(slot, S_RD), load<u64>(h));
          fpDirty();
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        const v0 = loadSlow(va, 8);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), v0);
        fpDirty();
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_FSW: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false, true);
        const v = getF(load<u8>(slot, S_RS2));
        const h = hostAddr(tlbW, va, 3);
        if (h) {
          store<u32>(h, <u32>v);
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        storeSlow(va, 4, v);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      case OP_FSD: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false, true);
        const v = getF(load<u8>(slot, S_RS2));
        const h = hostAddr(tlbW, va, 7);
        if (h) {
          store<u64>(h, v);
          pc += <u64>len; slot += len << 3; continue;
        }
        store<u64>(H_CYCLES, cycles - lat);
        storeSlow(va, 8, v);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        pc += <u64>len;
        if (slowStayedInRam) { cycles += tmTakeExtra(); slot += len << 3; continue; }
        seqBreak = true; break;
      }
      // ---- F/D computation (Unpriv 11.6-11.9, 12.4-12.6). `fpRm` gives the rounding mode, or a
      // value > 4 when the instruction is illegal (FS = Off, or rm = dyn with frm = 5..7). Results
      // that are singles are NaN-boxed; single operands that are not read as the canonical NaN.
      // Every instruction that writes an f register, or raises a flag into fflags, leaves
      // mstatus.FS = Dirty (Priv 1.12 §3.1.6.6).
      case OP_FADD_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_add(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FSUB_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_sub(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FMUL_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_mul(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FDIV_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_div(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FSQRT_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_sqrt(getF32(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // rs1×rs2 + rs3
      case OP_FMADD_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_fma(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2)), getF32(load<u8>(slot, S_RS3)), false, false, rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // rs1×rs2 − rs3
      case OP_FMSUB_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_fma(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2)), getF32(load<u8>(slot, S_RS3)), false, true, rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // −(rs1×rs2) + rs3
      case OP_FNMSUB_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_fma(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2)), getF32(load<u8>(slot, S_RS3)), true, false, rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // −(rs1×rs2) − rs3
      case OP_FNMADD_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_fma(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2)), getF32(load<u8>(slot, S_RS3)), true, true, rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // sign injection: rs1's magnitude with rs2's sign (fsgnj), its inverse (fsgnjn), or the XOR of both signs (fsgnjx); never raises a flag
      case OP_FSGNJ_S: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const a = getF32(load<u8>(slot, S_RS1)), b = getF32(load<u8>(slot, S_RS2));
        setF32(load<u8>(slot, S_RD), (a & 0x7fffffff) | (b & 0x80000000));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FSGNJN_S: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const a = getF32(load<u8>(slot, S_RS1)), b = getF32(load<u8>(slot, S_RS2));
        setF32(load<u8>(slot, S_RD), (a & 0x7fffffff) | (~b & 0x80000000));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FSGNJX_S: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const a = getF32(load<u8>(slot, S_RS1)), b = getF32(load<u8>(slot, S_RS2));
        setF32(load<u8>(slot, S_RD), a ^ (b & 0x80000000));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FMIN_S: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_min(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2))));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FMAX_S: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f32_max(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2))));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // to integer: the W forms are sign-extended to 64 bits (fpu.ts does it)
      case OP_FCVT_W_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), f32_to_i32(getF32(load<u8>(slot, S_RS1)), rm));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_WU_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), f32_to_u32(getF32(load<u8>(slot, S_RS1)), rm));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_L_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), f32_to_i64(getF32(load<u8>(slot, S_RS1)), rm));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_LU_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), f32_to_u64(getF32(load<u8>(slot, S_RS1)), rm));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      // fmv.x.w: the low 32 bits, sign-extended, whatever the upper bits hold (a transfer)
      case OP_FMV_X_W: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), sext32(<u32>getF(load<u8>(slot, S_RS1))));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCLASS_S: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), <u64>f32_classify(getF32(load<u8>(slot, S_RS1))));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FEQ_S: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), <u64>f32_eq(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2))));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FLT_S: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), <u64>f32_lt(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2))));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FLE_S: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), <u64>f32_le(getF32(load<u8>(slot, S_RS1)), getF32(load<u8>(slot, S_RS2))));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_S_W: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), i32_to_f32(getX(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_S_WU: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), u32_to_f32(getX(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_S_L: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), i64_to_f32(getX(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_S_LU: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), u64_to_f32(getX(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // fmv.w.x: the low 32 bits of rs1, NaN-boxed
      case OP_FMV_W_X: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), <u32>getX(load<u8>(slot, S_RS1)));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FADD_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_add(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FSUB_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_sub(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FMUL_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_mul(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FDIV_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_div(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FSQRT_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_sqrt(getF(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // rs1×rs2 + rs3
      case OP_FMADD_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_fma(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2)), getF(load<u8>(slot, S_RS3)), false, false, rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // rs1×rs2 − rs3
      case OP_FMSUB_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_fma(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2)), getF(load<u8>(slot, S_RS3)), false, true, rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // −(rs1×rs2) + rs3
      case OP_FNMSUB_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_fma(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2)), getF(load<u8>(slot, S_RS3)), true, false, rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // −(rs1×rs2) − rs3
      case OP_FNMADD_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_fma(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2)), getF(load<u8>(slot, S_RS3)), true, true, rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FSGNJ_D: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const a = getF(load<u8>(slot, S_RS1)), b = getF(load<u8>(slot, S_RS2));
        setF(load<u8>(slot, S_RD), (a & 0x7fffffffffffffff) | (b & 0x8000000000000000));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FSGNJN_D: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const a = getF(load<u8>(slot, S_RS1)), b = getF(load<u8>(slot, S_RS2));
        setF(load<u8>(slot, S_RD), (a & 0x7fffffffffffffff) | (~b & 0x8000000000000000));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FSGNJX_D: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const a = getF(load<u8>(slot, S_RS1)), b = getF(load<u8>(slot, S_RS2));
        setF(load<u8>(slot, S_RD), a ^ (b & 0x8000000000000000));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FMIN_D: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_min(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2))));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FMAX_D: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f64_max(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2))));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_W_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), f64_to_i32(getF(load<u8>(slot, S_RS1)), rm));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_WU_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), f64_to_u32(getF(load<u8>(slot, S_RS1)), rm));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_L_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), f64_to_i64(getF(load<u8>(slot, S_RS1)), rm));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_LU_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), f64_to_u64(getF(load<u8>(slot, S_RS1)), rm));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FMV_X_D: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), getF(load<u8>(slot, S_RS1)));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCLASS_D: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setX(load<u8>(slot, S_RD), <u64>f64_classify(getF(load<u8>(slot, S_RS1))));
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FEQ_D: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), <u64>f64_eq(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2))));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FLT_D: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), <u64>f64_lt(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2))));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FLE_D: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        setX(load<u8>(slot, S_RD), <u64>f64_le(getF(load<u8>(slot, S_RS1)), getF(load<u8>(slot, S_RS2))));
        fpAccrue(f0);
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_D_W: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), i32_to_f64(getX(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_D_WU: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), u32_to_f64(getX(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_D_L: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), i64_to_f64(getX(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_D_LU: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), u64_to_f64(getX(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FMV_D_X: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), getX(load<u8>(slot, S_RS1)));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // between formats (Unpriv 12.5); fcvt.d.s is exact but its rm is still checked
      case OP_FCVT_S_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF32(load<u8>(slot, S_RD), f64_to_f32(getF(load<u8>(slot, S_RS1)), rm));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_FCVT_D_S: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        setF(load<u8>(slot, S_RD), f32_to_f64(getF32(load<u8>(slot, S_RS1))));
        fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // ---- ordering: one in-order hart with coherent decode (stores invalidate decoded slots),
      // so FENCE and FENCE.I need no action.
      case OP_FENCE: case OP_FENCE_I: {
        pc += <u64>len; slot += len << 3; continue;
      }
      // ---- system
      case OP_ECALL: {
        // With a host SBI (--bios builtin) an S-mode ecall is an SBI call the host performs as
        // M-mode firmware would: it retires here and the host advances pc past it.
        // Only HS-mode (V = 0) ecalls go to the host SBI; VS-mode ones trap (to the hypervisor).
        const v = load<u64>(H_VIRT);
        if (<u32>load<u64>(H_PRIV) == PRV_S && v == 0 && load<u32>(C_SBI_HOST) != 0) {
          status = RUN_SBI;
          break;
        }
        // Cause 8/9/11 by privilege (Priv 1.12 table 3.6); from VS-mode 10 (H ext.: HS and VS
        // ecalls can be delegated separately); the ecall does not retire.
        left++; cycles -= lat; uncount(slot);
        const ep = <u32>load<u64>(H_PRIV);
        raise(v != 0 && ep == PRV_S ? CAUSE_VS_ECALL : CAUSE_USER_ECALL + <u64>ep, 0);
        break;
      }
      case OP_EBREAK: {
        left++; cycles -= lat; uncount(slot);
        raise(CAUSE_BREAKPOINT, pc);
        break;
      }
      case OP_CSRRW: case OP_CSRRS: case OP_CSRRC: case OP_CSRRWI: case OP_CSRRSI: case OP_CSRRCI: {
        const op = load<u16>(slot, S_OP);
        const rd = load<u8>(slot, S_RD);
        const rs1 = load<u8>(slot, S_RS1);
        const imm = op >= OP_CSRRWI;
        const kind: u32 = imm ? <u32>(op - OP_CSRRWI) : <u32>(op - OP_CSRRW);
        const src: u64 = imm ? <u64>rs1 : getX(rs1);
        // CSRRW with rd = x0 does not read; CSRRS/C with rs1 = x0 (or uimm = 0) do not write.
        const readIt = kind != 0 || rd != 32;
        const writeIt = kind == 0 || rs1 != 0;
        // Counters read the values before this instruction (instret excludes it).
        store<u64>(H_CYCLES, cycles - lat);
        store<u64>(H_INSTRET, instretStart + (budget - left) - 1);
        setCurLat(lat);
        const v = csrAccess(kind, <u32>load<i32>(slot, S_IMM), src, readIt, writeIt, load<u32>(slot, S_RAW));
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setX(rd, v);
        pc += <u64>len;
        // A satp write changes translation: the next fetch is a new fetch block.
        seqBreak = <u32>load<i32>(slot, S_IMM) != 0x180;
        break; // a CSR write may enable an interrupt or change translation: end the block
      }
      case OP_MRET: {
        if (<u32>load<u64>(H_PRIV) != PRV_M) {
          raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
          left++; cycles -= lat; uncount(slot);
          break;
        }
        hpmSync(cycles, instretStart + (budget - left));
        pc = doMret();
        break;
      }
      case OP_SRET: {
        // Illegal in U-mode, and in S-mode when mstatus.TSR = 1 (Priv 1.12 §3.1.6.5).
        // H ext.: with V = 1, SRET in VU-mode, or in VS-mode when hstatus.VTSR = 1, is a
        // virtual-instruction exception (mstatus.TSR affects HS-mode only).
        const p = <u32>load<u64>(H_PRIV);
        if (load<u64>(H_VIRT) != 0) {
          if (p == PRV_U || (load<u64>(H_HSTATUS) & HSTATUS_VTSR) != 0) {
            raise(CAUSE_VIRTUAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
            left++; cycles -= lat; uncount(slot);
            break;
          }
        } else if (p == PRV_U || (p == PRV_S && (load<u64>(H_MSTATUS) & MSTATUS_TSR) != 0)) {
          raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
          left++; cycles -= lat; uncount(slot);
          break;
        }
        hpmSync(cycles, instretStart + (budget - left));
        pc = doSret();
        break;
      }
      case OP_WFI: {
        // Priv 1.12 §3.3.3: illegal in U-mode, and below M when TW = 1 (our time limit is 0).
        // It completes as soon as an enabled interrupt is pending (even with the global enable
        // off); otherwise the hart sleeps: the host skips to the next event.
        // H ext.: with V = 1 and TW = 0, WFI in VU-mode, or in VS-mode with hstatus.VTW = 1, is a
        // virtual-instruction exception.
        const p = <u32>load<u64>(H_PRIV);
        const tw = p < PRV_M && (load<u64>(H_MSTATUS) & MSTATUS_TW) != 0;
        if (load<u64>(H_VIRT) != 0 && !tw && (p == PRV_U || (load<u64>(H_HSTATUS) & HSTATUS_VTW) != 0)) {
          raise(CAUSE_VIRTUAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
          left++; cycles -= lat; uncount(slot);
          break;
        }
        if (p == PRV_U || tw) {
          raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
          left++; cycles -= lat; uncount(slot);
          break;
        }
        pc += <u64>len;
        if (pendingEnabled() == 0) status = RUN_WFI;
        break;
      }
      case OP_SFENCE_VMA: {
        // Illegal in U-mode, and in S-mode when mstatus.TVM = 1 (Priv 1.12 §4.2.1, §3.1.6.5).
        const p = <u32>load<u64>(H_PRIV);
        const rs1 = load<u8>(slot, S_RS1);
        const rs2 = load<u8>(slot, S_RS2);
        if (load<u64>(H_VIRT) != 0) {
          // H ext.: VU-mode, or VS-mode with hstatus.VTVM = 1: virtual-instruction. Otherwise it
          // fences the VS stage of the current VM: drop the guest regimes' composed translations.
          if (p == PRV_U || (load<u64>(H_HSTATUS) & HSTATUS_VTVM) != 0) {
            raise(CAUSE_VIRTUAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
            left++; cycles -= lat; uncount(slot);
            break;
          }
          // Every form flushes all guest entries: the host TLB splinters superpages into 4 KiB
          // entries, so an address-specific fence could leave other pages of a changed superpage.
          tlbFlushGuest();
          tmSfence(rs1 != 0, getX(rs1), rs2 != 0, <u32>getX(rs2) & 0xffff); // counted as hfence.vvma
          pc += <u64>len;
          break;
        }
        if (p == PRV_U || (p == PRV_S && (load<u64>(H_MSTATUS) & MSTATUS_TVM) != 0)) {
          raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
          left++; cycles -= lat; uncount(slot);
          break;
        }
        // The host TLB is not ASID-tagged: an ASID-specific fence flushes every translation; an
        // address-specific one drops only that page's entries.
        if (rs1 != 0) tlbFlushVaddr(getX(rs1));
        else tlbFlushVirtual();
        tmSfence(rs1 != 0, getX(rs1), rs2 != 0, <u32>getX(rs2) & 0xffff);
        pc += <u64>len;
        break;
      }
      // ---- H extension: hypervisor fences and virtual-machine loads/stores
      case OP_HFENCE_VVMA: case OP_HFENCE_GVMA: {
        // Illegal without H, in U-mode, and (hfence.gvma) in HS-mode with mstatus.TVM = 1;
        // virtual-instruction with V = 1. The guest host-TLB sets are untagged: every operand form
        // (any VMID / ASID / guest address; hfence.gvma's rs1 is a GPA >> 2) drops them all.
        const op = load<u16>(slot, S_OP);
        const p = <u32>load<u64>(H_PRIV);
        const virtual = load<u64>(H_VIRT) != 0 && hypOn();
        if (virtual) {
          raise(CAUSE_VIRTUAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
          left++; cycles -= lat; uncount(slot);
          break;
        }
        if (!hypOn() || p == PRV_U ||
          (op == OP_HFENCE_GVMA && p == PRV_S && (load<u64>(H_MSTATUS) & MSTATUS_TVM) != 0)) {
          raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
          left++; cycles -= lat; uncount(slot);
          break;
        }
        tlbFlushGuest();
        // The modeled TLB keeps VMID/ASID tags and honours the operands (hfence.gvma rs1 = GPA >> 2).
        const hr1 = load<u8>(slot, S_RS1);
        const hr2 = load<u8>(slot, S_RS2);
        if (op == OP_HFENCE_GVMA) tmHfenceGvma(hr1 != 0, getX(hr1) << 2, hr2 != 0, <u32>getX(hr2) & 0x3fff);
        else tmHfenceVvma(hr1 != 0, getX(hr1), hr2 != 0, <u32>getX(hr2) & 0xffff, <u32>(load<u64>(H_HGATP) >> 44) & 0x3fff);
        pc += <u64>len;
        break;
      }
      case OP_HLV_B: case OP_HLV_BU: case OP_HLV_H: case OP_HLV_HU: case OP_HLVX_HU: case OP_HLV_W:
      case OP_HLV_WU: case OP_HLVX_WU: case OP_HLV_D:
      case OP_HSV_B: case OP_HSV_H: case OP_HSV_W: case OP_HSV_D: {
        // Valid in M, HS, and U with hstatus.HU = 1; virtual-instruction with V = 1. The access is
        // made as though V = 1 at privilege hstatus.SPVP (VS 1 / VU 0).
        const op = load<u16>(slot, S_OP);
        const p = <u32>load<u64>(H_PRIV);
        if (hypOn() && load<u64>(H_VIRT) != 0) {
          raise(CAUSE_VIRTUAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
          left++; cycles -= lat; uncount(slot);
          break;
        }
        const hs = load<u64>(H_HSTATUS);
        if (!hypOn() || (p == PRV_U && (hs & HSTATUS_HU) == 0)) {
          raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
          left++; cycles -= lat; uncount(slot);
          break;
        }
        const r: u32 = REGIME_V | ((hs & HSTATUS_SPVP) != 0 ? PRV_S : PRV_U);
        const va = getX(load<u8>(slot, S_RS1));
        // The modeled TLB sees the access in the guest's context (V=1, vsatp / hgatp).
        const tmHyp = tmEnabled() && translating(r);
        if (tmHyp) { tmDataRegime(true); cycles += tmAccess(va, false, op >= OP_HSV_B); }
        store<u64>(H_CYCLES, cycles - lat);
        if (op >= OP_HSV_B) {
          const size: u32 = 1 << <u32>(op - OP_HSV_B);
          hypStore(va, size, getX(load<u8>(slot, S_RS2)), r);
        } else {
          let size: u32 = 8;
          if (op <= OP_HLV_BU) size = 1;
          else if (op <= OP_HLVX_HU) size = 2;
          else if (op <= OP_HLVX_WU) size = 4;
          const v0 = hypLoad(va, size, r, op == OP_HLVX_HU || op == OP_HLVX_WU);
          if (!excPending) {
            let v = v0;
            if (op == OP_HLV_B) v = <u64><i64><i8>v0;
            else if (op == OP_HLV_H) v = <u64><i64><i16>v0;
            else if (op == OP_HLV_W) v = <u64><i64><i32>v0;
            setX(load<u8>(slot, S_RD), v);
          }
        }
        if (tmHyp) tmDataRegime((dp & REGIME_V) != 0);
        // Every fault of these accesses reports a guest virtual address (GVA = 1).
        if (excPending) { setExcGva(); left++; cycles -= lat; uncount(slot); break; }
        pc += <u64>len; seqBreak = true; break;
      }
      // ---- Zfh / Zfhmin: binary16 (fpu16.ts). FS = Off or an invalid dynamic rm: illegal.
      case OP_FLH: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false);
        store<u64>(H_CYCLES, cycles - lat);
        const v0 = loadSlow(va, 2);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        setF16(load<u8>(slot, S_RD), <u32>v0 & 0xffff);
        fpDirty();
        pc += <u64>len; seqBreak = true; break;
      }
      case OP_FSH: {
        if (fpOff()) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const va = getX(load<u8>(slot, S_RS1)) + <u64><i64>load<i32>(slot, S_IMM);
        if (tmData) cycles += tmAccess(va, false, true);
        store<u64>(H_CYCLES, cycles - lat);
        // fsh stores bits 15:0 of the register as they are (no NaN-box check).
        storeSlow(va, 2, getF(load<u8>(slot, S_RS2)) & 0xffff);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        pc += <u64>len; seqBreak = true; break;
      }
      case OP_FADD_H: case OP_FSUB_H: case OP_FMUL_H: case OP_FDIV_H: case OP_FSQRT_H: case OP_FMADD_H:
      case OP_FMSUB_H: case OP_FNMSUB_H: case OP_FNMADD_H: case OP_FSGNJ_H: case OP_FSGNJN_H:
      case OP_FSGNJX_H: case OP_FMIN_H: case OP_FMAX_H: case OP_FCVT_W_H: case OP_FCVT_WU_H:
      case OP_FCVT_L_H: case OP_FCVT_LU_H: case OP_FMV_X_H: case OP_FCLASS_H: case OP_FEQ_H: case OP_FLT_H:
      case OP_FLE_H: case OP_FCVT_H_W: case OP_FCVT_H_WU: case OP_FCVT_H_L: case OP_FCVT_H_LU:
      case OP_FMV_H_X: case OP_FCVT_S_H: case OP_FCVT_D_H: case OP_FCVT_H_S: case OP_FCVT_H_D: {
        const rm = fpRm(slot); if (rm > 4) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        const f0 = load<u64>(H_FCSR);
        const op = <u32>load<u16>(slot, S_OP);
        // rs3 only for the R4 rows (fmadd.h...): elsewhere the byte holds 0 or an rs3-less immediate.
        const wroteX = zfhOp(op, load<u8>(slot, S_RD), load<u8>(slot, S_RS1), load<u8>(slot, S_RS2), load<u8>(slot, S_RS3), rm);
        if (wroteX) fpAccrue(f0);
        else fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // ---- Zfa: zfa.ts (the H rows are illegal without Zfh)
      case OP_FLI_S: case OP_FLI_D: case OP_FLI_H: case OP_FMINM_S: case OP_FMINM_D: case OP_FMINM_H:
      case OP_FMAXM_S: case OP_FMAXM_D: case OP_FMAXM_H: case OP_FROUND_S: case OP_FROUND_D: case OP_FROUND_H:
      case OP_FROUNDNX_S: case OP_FROUNDNX_D: case OP_FROUNDNX_H: case OP_FLEQ_S: case OP_FLEQ_D: case OP_FLEQ_H:
      case OP_FLTQ_S: case OP_FLTQ_D: case OP_FLTQ_H: case OP_FCVTMOD_W_D: {
        const rm = fpRm(slot);
        const f0 = load<u64>(H_FCSR);
        const st = rm > 4 ? ZFA_ILLEGAL : zfaOp(<u32>load<u16>(slot, S_OP), load<u8>(slot, S_RD), load<u8>(slot, S_RS1), load<u8>(slot, S_RS2), rm);
        if (st == ZFA_ILLEGAL) { raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW)); left++; cycles -= lat; uncount(slot); break; }
        if (st == ZFA_WROTE_X) fpAccrue(f0);
        else fpDirty();
        pc += <u64>len; slot += len << 3; continue;
      }
      // ---- bit manipulation (Zba, Zbb, Zbc, Zbs, Zbkb, Zbkc, Zbkx) and Zicond: bitmanip.ts
      case OP_ADD_UW: case OP_SH1ADD: case OP_SH2ADD: case OP_SH3ADD: case OP_SH1ADD_UW: case OP_SH2ADD_UW:
      case OP_SH3ADD_UW: case OP_SLLI_UW: case OP_ANDN: case OP_ORN: case OP_XNOR: case OP_CLZ: case OP_CTZ:
      case OP_CPOP: case OP_SEXT_B: case OP_SEXT_H: case OP_CLZW: case OP_CTZW: case OP_CPOPW: case OP_MAX:
      case OP_MAXU: case OP_MIN: case OP_MINU: case OP_ZEXT_H: case OP_ROL: case OP_ROR: case OP_RORI:
      case OP_ROLW: case OP_RORW: case OP_RORIW: case OP_ORC_B: case OP_REV8: case OP_CLMUL: case OP_CLMULH:
      case OP_CLMULR: case OP_BCLR: case OP_BCLRI: case OP_BEXT: case OP_BEXTI: case OP_BINV: case OP_BINVI:
      case OP_BSET: case OP_BSETI: case OP_PACK: case OP_PACKH: case OP_PACKW: case OP_BREV8: case OP_XPERM4:
      case OP_XPERM8: case OP_CZERO_EQZ: case OP_CZERO_NEZ: {
        const a = getX(load<u8>(slot, S_RS1)), b = getX(load<u8>(slot, S_RS2));
        setX(load<u8>(slot, S_RD), bitOp(<u32>load<u16>(slot, S_OP), a, b, <u64><i64>load<i32>(slot, S_IMM)));
        pc += <u64>len; slot += len << 3; continue;
      }
      // ---- Zicbom / Zicboz: cmo.ts (enable checks, then the block check or the zeroing)
      case OP_CBO_INVAL: case OP_CBO_CLEAN: case OP_CBO_FLUSH: case OP_CBO_ZERO: {
        const op = load<u16>(slot, S_OP);
        const mask = op == OP_CBO_ZERO ? ENVCFG_CBZE : op == OP_CBO_INVAL ? ENVCFG_CBIE : ENVCFG_CBCFE;
        if (!cboEnabled(mask, <u64>load<u32>(slot, S_RAW))) { left++; cycles -= lat; uncount(slot); break; }
        const va = getX(load<u8>(slot, S_RS1));
        if (tmData) cycles += tmAccess(va, false, true);
        store<u64>(H_CYCLES, cycles - lat);
        if (op == OP_CBO_ZERO) cboZero(va);
        else cboManage(va);
        if (excPending) { left++; cycles -= lat; uncount(slot); break; }
        pc += <u64>len; seqBreak = true; break;
      }
      // ---- Svinval ordering fences: illegal in U-mode, virtual-instruction in VU-mode (Priv ch. 7)
      case OP_SFENCE_W_INVAL: case OP_SFENCE_INVAL_IR: {
        if (<u32>load<u64>(H_PRIV) == PRV_U) {
          raise(load<u64>(H_VIRT) != 0 ? CAUSE_VIRTUAL_INSTRUCTION : CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
          left++; cycles -= lat; uncount(slot);
          break;
        }
        pc += <u64>len; slot += len << 3; continue;
      }
      case OP_ILLEGAL: {
        raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
        left++; cycles -= lat; uncount(slot);
        break;
      }
      case OP_NONE: {
        // Not decoded yet: decode from the page (charge given back: lat and class are 0 here).
        left++;
        const off = <u32>(pc - pageVa);
        const lo = <u32>load<u16>(<usize>(hostPage + <u64>off));
        if ((lo & 3) == 3 && off == 0xffe) break; // straddles the page end: outer loop handles it
        const insn = (lo & 3) == 3 ? lo | (<u32>load<u16>(<usize>(hostPage + <u64>off + 2)) << 16) : lo;
        fillSlot(slot, insn);
        continue;
      }
      case OP_PAGE_END: {
        left++;
        break;
      }
      default: {
        // Unreachable: every op id has a case. Treat as illegal rather than misbehave.
        raise(CAUSE_ILLEGAL_INSTRUCTION, <u64>load<u32>(slot, S_RAW));
        left++; cycles -= lat; uncount(slot);
        break;
      }
      }
      break;
    }
    let used: u64 = 0;
    if (stepping) {
      used = 1 - left;
      left = stepLeft - used;
      budget += stepLeft - 1;
      stepping = false;
      if (used != 0 && !excPending) trigRetired();
    } else if (dbgStep) {
      used = 1 - left;
      left = dbgLeft - used;
      budget += dbgLeft - 1;
      dbgStep = false;
    } else if (capRest != 0) {
      left += capRest;
      capRest = 0;
    }
    if (dbgWant) {
      dbgWant = false;
      if (status == RUN_DEADLINE && dbgBlockEnd(pc, used != 0, excPending != 0)) status = RUN_DEBUG;
    }
  }
  if (status == RUN_DEBUG) {
    dbgPageVa = pageVa;
    dbgPageKept = true;
  }
  store<u64>(H_PC, pc);
  store<u64>(H_CYCLES, cycles);
  store<u64>(H_INSTRET, instretStart + (budget - left));
  return status;
}
