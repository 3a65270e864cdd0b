/**
 * The core's half of the JIT tier (issue 14; docs/JIT.md). The host compiles hot code into wasm
 * functions that it puts in this module's exported function table; the run loop (run.ts) enters
 * them with call_indirect. Here: the compile-request import, the block map upkeep the frames call
 * when decoded code changes, and the helpers compiled code imports (so the M extension's corner
 * cases are the interpreter's own code, not a second copy).
 *
 * Block map (layout.ts JMAP_BASE): one u16 per decoded slot. Below JE_COMPILED it is the slot's
 * heat; JE_NEVER: the compiler declined; JE_COMPILED | n: compiled block at table index n.
 */
import {
  JMAP_BASE, JMAP_FRAME, JMAP_SIZE, J_FRAME_FLAG, J_INVAL, FRAME_BASE, FRAME_SIZE, FRAME_COUNT, FTAG_BASE,
  S_OP, RAM_GPA, RAM_OFFSET, PAGE_SHIFT, J_ON, J_THRESH, JE_NEVER, JE_COMPILED, J_MAPBASE, J_CHAINS,
  C_STOP, D_FLAGS, H_HPM_ARMED, H_TRIG_ARMED,
} from './layout';
import { fillSlot, frameHeld } from './frames';
import { fetchPageHit } from './mmu';
import { pendingInterrupt } from './trap';
import { TRIG_ARMED_STEP } from './trigger';
import { mulh, mulhu, mulhsu, div64, divu64, rem64, remu64, divw, divuw, remw, remuw } from './alu';
import { bitOp } from './bitmanip';

/** Ask the host to compile the block starting at decoded slot `slot` (it may decline). */
@external("env", "jit_compile")
export declare function jitCompile(slot: u32): void;

/** Drop the compiled blocks and heat of frame `idx` (its code changed or it maps another page). */
export function jitClearFrame(idx: u32): void {
  if (load<u8>(J_FRAME_FLAG + idx) == 0) {
    memory.fill(JMAP_BASE + idx * JMAP_FRAME, 0, JMAP_FRAME);
    return;
  }
  store<u8>(J_FRAME_FLAG + idx, 0);
  memory.fill(JMAP_BASE + idx * JMAP_FRAME, 0, JMAP_FRAME);
  store<u32>(J_INVAL, load<u32>(J_INVAL) + 1);
}

/** Forget every compiled block (the code cache was flushed, or every frame was dropped). */
export function jitFlush(): void {
  memory.fill(JMAP_BASE, 0, JMAP_SIZE);
  memory.fill(J_FRAME_FLAG, 0, FRAME_COUNT);
}

/**
 * For the compiler: make sure `slot` is decoded (decoding reads the frame's page, as executing it
 * would) and return its op; 0 when it cannot be decoded alone (a 32-bit instruction straddling
 * the page end, or a slot past the page).
 */
export function jitDecode(slot: u32): u32 {
  const rel = slot - FRAME_BASE;
  const idx = rel / FRAME_SIZE;
  if (idx >= FRAME_COUNT) return 0;
  const off = ((rel % FRAME_SIZE) >> 4) << 1; // page offset of the parcel
  if (off >= 4096) return <u32>load<u16>(slot, S_OP);
  const op = <u32>load<u16>(slot, S_OP);
  if (op != 0) return op;
  const tag = load<u64>(FTAG_BASE + idx * 8);
  if (tag == 0) return 0;
  const host = <usize>(((tag - 1) << PAGE_SHIFT) - <u64>RAM_GPA + <u64>RAM_OFFSET) + off;
  const lo = <u32>load<u16>(host);
  if ((lo & 3) == 3 && off == 0xffe) return 0;
  fillSlot(slot, (lo & 3) == 3 ? lo | (<u32>load<u16>(host + 2) << 16) : lo);
  return <u32>load<u16>(slot, S_OP);
}

/**
 * Compiled code leaves its page at `pc` (a jump, call, return or branch out of it, or the page's
 * end): the run loop would break to the block boundary there. When that boundary would do nothing
 * but go on at `pc`, return the table index of the compiled block at pc (and point J_MAPBASE at its
 * frame's map), so compiled code tail-calls it; else -1 (the block returns to the run loop, status
 * 1). "Nothing to do": the cycle deadline not reached (the boundary's Sstc timer updates happen
 * only at or after it), no host stop, no interrupt to take, nothing armed that needs the boundary
 * itself (the host debugger, Sdtrig execute/icount triggers, Sscofpmf overflow-armed counters),
 * pc not in the page's last parcel (a 32-bit instruction there straddles the page end: the
 * boundary decodes it), pc's page in the fetch TLB and held by a frame. Everything else the
 * boundary reads changes only through what compiled code never runs and what ends an interpreted
 * block first (a CSR write, a trap, xRET, an MMIO access; the host between runs). Timing mode
 * needs every boundary, and compiled code never runs in it (docs/JIT.md "Chaining across pages").
 */
export function jitChain(pc: u64, cycles: u64, deadline: u64): i32 {
  if (cycles >= deadline) return -1;
  if ((load<u32>(C_STOP) | load<u32>(D_FLAGS)) != 0) return -1;
  if ((load<u64>(H_HPM_ARMED) | (load<u64>(H_TRIG_ARMED) & TRIG_ARMED_STEP)) != 0) return -1;
  if (pendingInterrupt() != 0) return -1;
  const off = <u32>pc & 0xfff;
  if (off == 0xffe) return -1;
  const ppage = fetchPageHit(pc);
  if (ppage == <u64>-1) return -1;
  const frame = frameHeld(ppage);
  if (frame == 0) return -1;
  const mapBase = JMAP_BASE + ((frame - FRAME_BASE) >> 3);
  const e = <u32>load<u16>(mapBase + off);
  if (e < JE_COMPILED) return -1;
  store<u32>(J_MAPBASE, mapBase);
  store<u64>(J_CHAINS, load<u64>(J_CHAINS) + 1);
  return <i32>(e & ~JE_COMPILED);
}

/** Mark frame `idx` as holding compiled blocks (the host calls this when it installs one). */
export function jitMarkFrame(idx: u32): void {
  store<u8>(J_FRAME_FLAG + idx, 1);
}

// Helpers compiled code imports: the interpreter's own arithmetic (assembly/alu.ts).
export function jitMulh(a: u64, b: u64): u64 { return mulh(a, b); }
export function jitMulhu(a: u64, b: u64): u64 { return mulhu(a, b); }
export function jitMulhsu(a: u64, b: u64): u64 { return mulhsu(a, b); }
export function jitDiv(a: u64, b: u64): u64 { return div64(a, b); }
export function jitDivu(a: u64, b: u64): u64 { return divu64(a, b); }
export function jitRem(a: u64, b: u64): u64 { return rem64(a, b); }
export function jitRemu(a: u64, b: u64): u64 { return remu64(a, b); }
export function jitDivw(a: u64, b: u64): u64 { return divw(a, b); }
export function jitDivuw(a: u64, b: u64): u64 { return divuw(a, b); }
export function jitRemw(a: u64, b: u64): u64 { return remw(a, b); }
export function jitRemuw(a: u64, b: u64): u64 { return remuw(a, b); }
/** Bit manipulation and Zicond ops (bitmanip.ts bitOp): rd for op id `op`. */
export function jitBit(op: u32, a: u64, b: u64, imm: u64): u64 { return bitOp(op, a, b, imm); }

/**
 * Attach (on = 1) or detach the host compiler; `thresh` = interpreted executions of a slot before
 * it is sent to the compiler. Detaching forgets every compiled block.
 */
export function jitConfigure(on: u32, thresh: u32): void {
  store<u32>(J_ON, on != 0 ? 1 : 0);
  store<u32>(J_THRESH, min<u32>(thresh, JE_NEVER - 1));
  jitFlush();
}
