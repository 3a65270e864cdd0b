/**
 * Shared by the JIT tests (jit.test.ts, async.test.ts): a bare Core with a program at 0x80000000,
 * the state the tiers must agree on, and a counted loop with a load, a store, a multiply and a
 * call/return.
 */
import { Core, type MmioPort } from '../../src/core.js';
import { encode } from '../../src/isa/encode.js';
import type { JitOptions, Tier } from '../../src/jit/jit.js';

export const noMmio: MmioPort = { read: () => 1, write: () => 1, dataLo: 0, dataHi: 0 };

/** A Core of `tier` running `words` from 0x80000000 (JIT threshold `threshold`, more `jit` options). */
export function coreWith(tier: Tier, words: number[], threshold = 2, jit: JitOptions = {}, mmio: MmioPort = noMmio): Core {
  const core = new Core({ ramBytes: 1 << 20, mmio, tier, jit: { threshold, batch: 1, ...jit } });
  const dv = new DataView(core.ram.buffer, core.ram.byteOffset);
  words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  core.ex.invalidatePhys(0x8000_0000n, BigInt(words.length * 4));
  core.pc = 0x8000_0000n;
  core.deadline = 1e12;
  // Distinct latencies per class (a bare Core has none), so cycles are checked too.
  for (let cls = 0; cls < 18; cls++) core.ex.setLatency(cls, 1 + ((cls * 5) % 7));
  return core;
}

/** pc, instret, cycles, x1..x31 and the class counts: what both tiers must agree on. */
export function snapshot(core: Core): unknown {
  const x: string[] = [];
  for (let r = 1; r < 32; r++) x.push(core.x(r).toString(16));
  return { pc: core.pc, instret: core.instret, cycles: core.cycles, x, cls: core.classCounts() };
}

/** A counted loop (1000 rounds) with a load, a store, a multiply and a call/return, then a spin. */
export const LOOP = [
  encode('auipc', { rd: 10, imm: 0 }), // a0 = 0x80000000
  encode('addi', { rd: 11, rs1: 0, imm: 1000 }), // a1 = 1000
  encode('addi', { rd: 10, rs1: 10, imm: 0x400 }),
  encode('ld', { rd: 12, rs1: 10, imm: 0 }), // loop:
  encode('mul', { rd: 12, rs1: 12, rs2: 11 }),
  encode('addi', { rd: 12, rs1: 12, imm: 7 }),
  encode('sd', { rs1: 10, rs2: 12, imm: 0 }),
  encode('jal', { rd: 1, imm: 12 }), // call f
  encode('addi', { rd: 11, rs1: 11, imm: -1 }),
  encode('bne', { rs1: 11, rs2: 0, imm: -24 }),
  encode('jal', { rd: 0, imm: 0 }), // done: spin
  encode('xor', { rd: 13, rs1: 13, rs2: 12 }), // f:
  encode('jalr', { rd: 0, rs1: 1, imm: 0 }),
];

/**
 * Self-modifying code: a0 += 1 for `rounds` rounds, counting a1 down; when a1 reaches `patchAt` a
 * store rewrites that instruction (at 0x10) into a0 += 100; then `j .` spins (at 0x28).
 */
export function smcProgram(rounds: number, patchAt: number): number[] {
  const patched = encode('addi', { rd: 10, rs1: 10, imm: 100 });
  return [
    encode('auipc', { rd: 5, imm: 0 }), // t0 = pc (0x80000000)
    encode('lui', { rd: 6, imm: (patched >>> 12) << 12 }),
    encode('addi', { rd: 6, rs1: 6, imm: ((patched & 0xfff) << 20) >> 20 }),
    encode('addi', { rd: 11, rs1: 0, imm: rounds }),
    encode('addi', { rd: 10, rs1: 10, imm: 1 }), // 0x10: the patched instruction
    encode('addi', { rd: 11, rs1: 11, imm: -1 }),
    encode('addi', { rd: 7, rs1: 11, imm: -patchAt }),
    encode('bne', { rs1: 7, rs2: 0, imm: 8 }),
    encode('sw', { rs1: 5, rs2: 6, imm: 0x10 }),
    encode('bne', { rs1: 11, rs2: 0, imm: -20 }),
    encode('jal', { rd: 0, imm: 0 }), // 0x28: spin
  ];
}

/** Run `core` to `limit` instructions in odd slices (deadlines 1..97 cycles apart), yielding after each slice. */
export function* slices(core: Core, limit: number): Generator<void> {
  let slice = 1;
  for (let guard = 0; guard < 100000 && core.instret < limit; guard++) {
    core.insnLimit = limit;
    core.deadline = core.cycles + (slice = (slice * 7) % 97 + 1);
    core.run();
    yield;
  }
}
