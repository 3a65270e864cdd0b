/**
 * The JIT tier (issue 14, docs/JIT.md): compiled code must leave every architectural register,
 * memory byte and counter exactly where the interpreter leaves them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as L from '../../src/generated/layout.js';
import { encode } from '../../src/isa/encode.js';
import { SEMANTIC_OPS } from '../../src/isa/table.js';
import { EMITTERS } from '../../src/jit/emitters.js';
import { VirtMachine } from '../../src/board/virt.js';
import { extMaskOf } from '../../src/board/cpu.js';
import { Core, type MmioPort } from '../../src/core.js';
import { coreWith, snapshot, LOOP, smcProgram, slices, noMmio } from './harness.js';
import { diffOne, genProgram, JIT_ROWS } from '../../scripts/jit/difftest.js';

const ROOT = join(import.meta.dirname, '..', '..');
describe('JIT emitters', () => {
  it('every emitter row names an op of the instruction table', () => {
    for (const op of Object.keys(EMITTERS)) expect(SEMANTIC_OPS, op).toContain(op);
    // The tester generates every compiled row (compressed forms too).
    expect(JIT_ROWS.length).toBeGreaterThan(90);
  });
});

describe('differential tier tester (scripts/jit/difftest.ts)', () => {
  it('its programs hold every gadget: FS switched Off and on, frm/fflags writes, LR/SC pairs on one base', () => {
    // Each gadget has its own band of the generator's draw; one placed in front of another's band
    // silently removes that one (the FP-control gadget was lost so for a while). Counted over the
    // 30 programs the tester below runs.
    const count = { fsOff: 0, fsOn: 0, fcsrw: 0, lrsc: 0 };
    const FS_OFF = encode('csrrc', { rd: 0, rs1: 28 }) | (0x300 << 20);
    const FS_ON = encode('csrrs', { rd: 0, rs1: 27 }) | (0x300 << 20);
    for (let seed = 1; seed <= 30; seed++) {
      const { bytes } = genProgram(seed, 20000);
      const dv = new DataView(bytes.buffer, bytes.byteOffset);
      for (let o = 0; o + 8 <= bytes.length; o += 2) {
        const w = dv.getUint32(o, true);
        if (w === (FS_OFF >>> 0)) count.fsOff++;
        if (w === (FS_ON >>> 0)) count.fsOn++;
        if ((w & 0x707f) === 0x5073 && [1, 2, 3].includes(w >>> 20)) count.fcsrw++; // csrrwi fflags/frm/fcsr
        const v = dv.getUint32(o + 4, true);
        const amo = (x: number, f5: number): boolean => (x & 0x7f) === 0x2f && x >>> 27 === f5;
        if (amo(w, 0x02) && amo(v, 0x03) && ((w >> 15) & 31) === ((v >> 15) & 31)) count.lrsc++;
      }
    }
    expect(count.fsOff).toBeGreaterThan(30);
    expect(count.fsOn).toBeGreaterThan(30);
    expect(count.fcsrw).toBeGreaterThan(30);
    expect(count.lrsc).toBeGreaterThan(30);
  });

  // Random programs from the table's rows: traps, page crossings, SMC, random run slices.
  // `npm run jitdiff -- --count N` runs the same for as many programs as wanted.
  it('30 random programs x 20,000 instructions: identical state and counters in both tiers', () => {
    let jit = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const r = diffOne(seed);
      expect(r.diffs, `seed ${seed}`).toEqual([]);
      jit += r.jitInsns;
    }
    // ... and most of it really ran compiled.
    expect(jit).toBeGreaterThan(0.6 * 30 * 20000);
  });
});

describe('decoded frames', () => {
  it('two code pages at the same offset of different 2 MiB chunks keep their frames (no refill at every call)', () => {
    // What VMs do: the same layout at the same offsets of different host chunks. Page 0x80000 calls
    // page 0x80200 in a loop; with frames indexed by the page number's low bits alone the two
    // evicted each other at every call and return (frames.ts frameIndex).
    for (const tier of ['interp', 'jit'] as const) {
      const core = new Core({ ramBytes: 4 << 20, mmio: noMmio, tier, jit: { threshold: 2, batch: 1 } });
      const dv = new DataView(core.ram.buffer, core.ram.byteOffset);
      [
        encode('auipc', { rd: 5, imm: 0x200000 }), // t0 = 0x80200000
        encode('jalr', { rd: 1, rs1: 5, imm: 0 }), // call it
        encode('addi', { rd: 10, rs1: 10, imm: 1 }),
        encode('jal', { rd: 0, imm: -12 }),
      ].forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
      dv.setUint32(0x200000, encode('jalr', { rd: 0, rs1: 1, imm: 0 }) >>> 0, true); // ret
      core.ex.invalidatePhys(0x8000_0000n, 4n << 20n);
      core.pc = 0x8000_0000n;
      core.deadline = 1e12;
      core.insnLimit = 5000;
      core.run();
      expect(core.x(10)).toBe(1000n);
      expect(core.frameFills, tier).toBeLessThanOrEqual(2);
      if (tier === 'jit') expect(core.jit!.stats().invalidations).toBe(0);
    }
  });
});

describe('compile batches', () => {
  it('a frame refilled for another page while the old page\'s blocks wait in the batch: the new page\'s blocks survive the build', () => {
    // Page A's loop gets hot and waits in the batch; A jumps to page B, which shares A's frame
    // (frames.ts frameIndex), so the frame is refilled and A's waiting blocks are stale; B's loop
    // gets hot and its stub builds the batch. The build must drop A's blocks without touching
    // B's (it once judged B's record by A's tag, freed B's table slots, and B's next entry hit a
    // null table slot).
    const frameIndex = (ppn: number): number => (ppn ^ (ppn >>> L.FRAME_BITS) ^ (ppn >>> (2 * L.FRAME_BITS))) & (L.FRAME_COUNT - 1);
    const ram = 8 << 20;
    let ppnB = 0x80001;
    while (frameIndex(ppnB) !== frameIndex(0x80000)) ppnB++;
    const offB = (ppnB - 0x80000) * 4096;
    expect(offB + 4096).toBeLessThanOrEqual(ram);
    const out: unknown[] = [];
    for (const tier of ['interp', 'jit'] as const) {
      const core = new Core({ ramBytes: ram, mmio: noMmio, tier, jit: { threshold: 2, batch: 64, batchWait: 1e9 } });
      const dv = new DataView(core.ram.buffer, core.ram.byteOffset);
      const put = (at: number, words: number[]): void => words.forEach((w, i) => dv.setUint32(at + i * 4, w >>> 0, true));
      put(0, [
        encode('addi', { rd: 11, rs1: 0, imm: 100 }),
        encode('addi', { rd: 10, rs1: 10, imm: 1 }), // loop A
        encode('addi', { rd: 11, rs1: 11, imm: -1 }),
        encode('bne', { rs1: 11, rs2: 0, imm: -8 }),
        encode('auipc', { rd: 5, imm: offB }), // t0 = B + 0x10
        encode('jalr', { rd: 0, rs1: 5, imm: 0x30 }), // to page B + 0x40 (other slots than A's loop)
      ]);
      put(offB + 0x40, [
        encode('addi', { rd: 11, rs1: 0, imm: 2000 }),
        encode('addi', { rd: 12, rs1: 12, imm: 3 }), // loop B
        encode('addi', { rd: 11, rs1: 11, imm: -1 }),
        encode('bne', { rs1: 11, rs2: 0, imm: -8 }),
        encode('jal', { rd: 0, imm: 0 }), // spin
      ]);
      core.ex.invalidatePhys(0x8000_0000n, BigInt(ram));
      core.pc = 0x8000_0000n;
      core.deadline = 1e12;
      // Run into B's loop (both pages' blocks now wait), build the batch, run on.
      core.insnLimit = 500;
      core.run();
      expect(core.pc >= 0x8000_0000n + BigInt(offB)).toBe(true);
      if (tier === 'jit') core.jit!.build();
      core.insnLimit = 10000;
      core.run();
      expect(core.x(12)).toBe(6000n);
      if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(0);
      out.push(snapshot(core));
    }
    expect(out[1]).toEqual(out[0]);
  });
});

describe('JIT exactness', () => {
  const loop = LOOP;

  it('every instruction limit and run slicing gives the interpreter\'s pc, registers and counters', () => {
    for (const limit of [1, 2, 3, 7, 100, 1001, 5003, 8000]) {
      const s: unknown[] = [];
      for (const tier of ['interp', 'jit'] as const) {
        const core = coreWith(tier, loop);
        for (const _ of slices(core, limit));
        s.push(snapshot(core));
      }
      expect(s[1], `limit ${limit}`).toEqual(s[0]);
    }
  });

  it('runs the loop in compiled code, and JIT_INHIBIT keeps the run loop out of it', () => {
    const a = coreWith('jit', loop);
    a.insnLimit = 9000;
    a.run();
    expect(a.jit!.stats().insns).toBeGreaterThan(8000);
    const b = coreWith('jit', loop);
    b.jitInhibit = 1;
    b.insnLimit = 9000;
    b.run();
    expect(b.jit!.stats().insns).toBe(0);
    expect(snapshot(b)).toEqual(snapshot(a));
  });

  it('blocks chain by tail calls: the loop with its call and return stays in compiled code', () => {
    // Before tail calls every return to a block of another module came back to the run loop
    // (about two entries per round); now blocks call each other (return_call, and
    // return_call_indirect through the block map), so the run loop enters compiled code a few times.
    const core = coreWith('jit', loop);
    core.insnLimit = 9000;
    core.run();
    const st = core.jit!.stats();
    expect(st.insns).toBeGreaterThan(8000);
    expect(st.enters).toBeLessThan(20);
  });

  it('bit-manipulation and Zicond rows run compiled with the interpreter\'s results', () => {
    // x5 = rotating value; each round mixes Zba/Zbb/Zbs/Zbkb/Zicond ops into x6..x9.
    const prog = [
      encode('addi', { rd: 5, rs1: 0, imm: 0x5a5 }),
      encode('addi', { rd: 11, rs1: 0, imm: 800 }),
      encode('sh1add', { rd: 6, rs1: 5, rs2: 6 }), // loop:
      encode('andn', { rd: 7, rs1: 6, rs2: 5 }),
      encode('clz', { rd: 8, rs1: 7 }),
      encode('rev8', { rd: 9, rs1: 6 }),
      encode('xor', { rd: 5, rs1: 5, rs2: 9 }),
      encode('rori', { rd: 5, rs1: 5, imm: 13 }),
      encode('bseti', { rd: 5, rs1: 5, imm: 7 }),
      encode('czero.eqz', { rd: 9, rs1: 8, rs2: 11 }),
      encode('add', { rd: 7, rs1: 7, rs2: 9 }),
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      encode('bne', { rs1: 11, rs2: 0, imm: -40 }),
      encode('jal', { rd: 0, imm: 0 }),
    ];
    const s: unknown[] = [];
    for (const tier of ['interp', 'jit'] as const) {
      const core = coreWith(tier, prog);
      (core.ex as unknown as { setExtensions(m: number): void }).setExtensions(extMaskOf({ Zba: true, Zbb: true, Zbs: true, Zbkb: true, Zicond: true }));
      core.insnLimit = 800 * 11 + 2;
      core.run();
      if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(0.9 * 800 * 11);
      s.push(snapshot(core));
    }
    expect(s[1]).toEqual(s[0]);
  });

  it('a request compiles the successors the interpreter ran, not the page\'s cold paths', () => {
    // The loop's block has two in-page successors besides itself: the target of a branch never
    // taken (cold, at 0x40) and the spin after the loop (not run yet when the loop gets hot).
    // Only the loop is compiled then; the spin later, when it gets hot itself; the cold block never.
    const prog = [
      encode('addi', { rd: 11, rs1: 0, imm: 100 }),
      encode('addi', { rd: 10, rs1: 10, imm: 1 }), // 0x04 loop:
      encode('bne', { rs1: 10, rs2: 10, imm: 0x3c }), // never taken: to 0x40
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      encode('bne', { rs1: 11, rs2: 0, imm: -12 }),
      encode('jal', { rd: 0, imm: 0 }), // 0x14: spin
      ...Array.from({ length: 10 }, () => encode('addi', { rd: 0, rs1: 0, imm: 0 })),
      encode('addi', { rd: 12, rs1: 12, imm: 1 }), // 0x40: cold
      encode('jal', { rd: 0, imm: 0 }),
    ];
    const core = coreWith('jit', prog);
    core.insnLimit = 1 + 100 * 4 + 50;
    core.run();
    expect(core.x(10)).toBe(100n);
    expect(core.jit!.stats().blocks).toBe(2); // the loop and the spin
  });

  it('AMO rows (all 18) run compiled with the interpreter\'s results', () => {
    // a0 = a data word; each round a plain store (fills the host TLB's write entry) and every AMO
    // on it, W and D, with values that mix sign bits (min/max, signed and unsigned, see them).
    const amos = ['amoadd.d', 'amoswap.w', 'amoxor.d', 'amoand.w', 'amoor.d', 'amomin.w', 'amomax.d', 'amominu.w', 'amomaxu.d',
      'amomin.d', 'amomax.w', 'amominu.d', 'amomaxu.w', 'amoadd.w', 'amoxor.w', 'amoand.d', 'amoor.w', 'amoswap.d'];
    const prog = [
      encode('auipc', { rd: 10, imm: 0x1000 }), // a data page (stores to a code page always miss)
      encode('addi', { rd: 10, rs1: 10, imm: 0x7f8 }),
      encode('addi', { rd: 5, rs1: 0, imm: -0x5a5 }),
      encode('addi', { rd: 11, rs1: 0, imm: 300 }),
      encode('sd', { rs1: 10, rs2: 5, imm: 8 }), // loop:
      ...amos.map((op, k) => encode(op, { rd: 6 + (k % 4), rs1: 10, rs2: 5 + ((k + 1) % 5) })),
      encode('slli', { rd: 9, rs1: 5, imm: 29 }),
      encode('xor', { rd: 5, rs1: 5, rs2: 9 }),
      encode('add', { rd: 5, rs1: 5, rs2: 7 }),
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      encode('bne', { rs1: 11, rs2: 0, imm: -(4 * (amos.length + 5)) }),
      encode('jal', { rd: 0, imm: 0 }),
    ];
    const s: unknown[] = [];
    const total = 4 + 300 * (amos.length + 6);
    for (const tier of ['interp', 'jit'] as const) {
      const core = coreWith(tier, prog);
      core.insnLimit = total;
      core.run();
      expect(core.instret).toBe(total);
      if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(0.9 * total);
      s.push({ ...(snapshot(core) as object), word: new DataView(core.ram.buffer, core.ram.byteOffset).getBigUint64(0x17f8, true) });
    }
    expect(s[1]).toEqual(s[0]);
  });

  it('LR and SC run compiled with the interpreter\'s results: success, failure, reservation', () => {
    // a2 = a data word, a3 the next one. Each round: a plain store (the page's write entry), an
    // LR/SC pair that succeeds, an SC with no reservation, lr.w + an AMO (which leaves the
    // reservation alone) + sc.w, an SC to another word (fails, and drops the reservation) and one
    // to the reserved word after it; the SC results are mixed into t0.
    const prog = [
      encode('auipc', { rd: 10, imm: 0x1000 }), // a data page (stores to a code page always miss)
      encode('addi', { rd: 12, rs1: 10, imm: 0x100 }), // a2
      encode('addi', { rd: 13, rs1: 10, imm: 0x108 }), // a3
      encode('addi', { rd: 5, rs1: 0, imm: -0x5a5 }),
      encode('addi', { rd: 11, rs1: 0, imm: 300 }),
      encode('sd', { rs1: 12, rs2: 5, imm: 0 }), // loop:
      encode('lr.d', { rd: 6, rs1: 12 }),
      encode('add', { rd: 7, rs1: 6, rs2: 5 }),
      encode('sc.d', { rd: 28, rs1: 12, rs2: 7 }), // succeeds: t3 = 0
      encode('sc.d', { rd: 29, rs1: 12, rs2: 5 }), // no reservation: t4 = 1
      encode('lr.w', { rd: 30, rs1: 12 }),
      encode('amoadd.w', { rd: 0, rs1: 13, rs2: 5 }),
      encode('sc.w', { rd: 31, rs1: 12, rs2: 30 }), // succeeds: t6 = 0
      encode('lr.d', { rd: 18, rs1: 12 }),
      encode('sc.d', { rd: 19, rs1: 13, rs2: 5 }), // another word: s3 = 1
      encode('sc.d', { rd: 20, rs1: 12, rs2: 5 }), // reservation gone: s4 = 1
      encode('ld', { rd: 21, rs1: 13, imm: 0 }),
      encode('slli', { rd: 9, rs1: 5, imm: 29 }),
      encode('xor', { rd: 5, rs1: 5, rs2: 9 }),
      encode('add', { rd: 5, rs1: 5, rs2: 21 }),
      encode('add', { rd: 5, rs1: 5, rs2: 29 }),
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      encode('bne', { rs1: 11, rs2: 0, imm: -4 * 16 }),
      encode('jal', { rd: 0, imm: 0 }),
    ];
    const s: unknown[] = [];
    const total = 5 + 300 * 17;
    for (const tier of ['interp', 'jit'] as const) {
      const core = coreWith(tier, prog);
      core.insnLimit = total;
      core.run();
      expect(core.instret).toBe(total);
      expect([28, 29, 31, 19, 20].map((r) => core.x(r))).toEqual([0n, 1n, 0n, 1n, 1n]);
      if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(0.9 * total);
      const dv = new DataView(core.ram.buffer, core.ram.byteOffset);
      s.push({
        ...(snapshot(core) as object),
        words: [dv.getBigUint64(0x1100, true), dv.getBigUint64(0x1108, true)],
        resv: new DataView(core.ex.memory.buffer).getBigUint64(L.H_RESV, true),
      });
    }
    expect(s[1]).toEqual(s[0]);
  });

  it('F and D rows run compiled with the interpreter\'s results, flags and FS state', () => {
    // a0 = a data page. Each round: loads, arithmetic in several rounding modes (static and dyn),
    // FMAs, min/max, sign injection, compares, conversions both ways, moves and stores; fcsr's
    // flags, frm and mstatus.FS must come out as the interpreter leaves them.
    const ops: number[] = [
      encode('fld', { rd: 1, rs1: 10, imm: 0 }), // loop:
      encode('flw', { rd: 2, rs1: 10, imm: 8 }),
      encode('fcvt.d.l', { rd: 3, rs1: 11, rm: 7 }),
      encode('fdiv.d', { rd: 4, rs1: 1, rs2: 3, rm: 1 }),
      encode('fmadd.d', { rd: 5, rs1: 4, rs2: 3, rs3: 1, rm: 7 }),
      encode('fnmsub.s', { rd: 6, rs1: 2, rs2: 2, rs3: 2, rm: 2 }),
      encode('fsqrt.d', { rd: 7, rs1: 5, rm: 3 }),
      encode('fmin.d', { rd: 8, rs1: 7, rs2: 4 }),
      encode('fsgnjn.d', { rd: 9, rs1: 8, rs2: 5 }),
      encode('fcvt.s.d', { rd: 12, rs1: 9, rm: 4 }),
      encode('fadd.s', { rd: 13, rs1: 12, rs2: 6, rm: 0 }),
      encode('fcvt.d.s', { rd: 14, rs1: 13, rm: 7 }),
      encode('flt.d', { rd: 6, rs1: 14, rs2: 1 }),
      encode('feq.s', { rd: 7, rs1: 13, rs2: 13 }),
      encode('fclass.d', { rd: 8, rs1: 9 }),
      encode('fcvt.w.d', { rd: 9, rs1: 5, rm: 1 }),
      encode('fcvt.lu.s', { rd: 12, rs1: 13, rm: 7 }),
      encode('fmv.x.d', { rd: 13, rs1: 14 }),
      encode('xor', { rd: 13, rs1: 13, rs2: 9 }),
      encode('fmv.d.x', { rd: 15, rs1: 13 }),
      encode('fsd', { rs1: 10, rs2: 15, imm: 0 }),
      encode('fsw', { rs1: 10, rs2: 13, imm: 8 }),
      encode('add', { rd: 14, rs1: 14, rs2: 12 }),
    ];
    const prog = [
      encode('auipc', { rd: 10, imm: 0x1000 }), // a data page (stores to a code page always miss)
      encode('addi', { rd: 11, rs1: 0, imm: 400 }),
      encode('lui', { rd: 5, imm: 0x6000 }), // mstatus.FS = Dirty
      encode('csrrs', { rd: 0, rs1: 5 }) | (0x300 << 20),
      encode('csrrwi', { rd: 0, rs1: 3 }) | (0x002 << 20), // frm = RUP
      ...ops,
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      encode('bne', { rs1: 11, rs2: 0, imm: -4 * (ops.length + 1) }),
      encode('jal', { rd: 0, imm: 0 }),
    ];
    const total = 5 + 400 * (ops.length + 2);
    const s: unknown[] = [];
    for (const tier of ['interp', 'jit'] as const) {
      const core = coreWith(tier, prog);
      const dv = new DataView(core.ram.buffer, core.ram.byteOffset);
      dv.setBigUint64(0x1000, 0x400921fb54442d18n, true); // pi
      dv.setUint32(0x1008, 0x3eaaaaab, true); // 1/3 (single)
      core.insnLimit = total;
      core.run();
      expect(core.instret).toBe(total);
      if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(0.9 * total);
      const f: string[] = [];
      for (let r = 0; r < 16; r++) f.push(core.f(r).toString(16));
      s.push({ ...(snapshot(core) as object), f, fcsr: core.getCsr(L.H_FCSR), mstatus: core.getCsr(L.H_MSTATUS), d: dv.getBigUint64(0x1000, true), w: dv.getUint32(0x1008, true) });
    }
    expect((s[0] as { fcsr: bigint }).fcsr & 0x1fn).not.toBe(0n); // the loop raises flags (the test sees them)
    expect(s[1]).toEqual(s[0]);
  });

  it('fadd.d, fsub.d and fmul.d inline (RNE with NX set) give the interpreter\'s results and flags', () => {
    // Each round clears fflags or sets NX alone, then multiplies (inexact; tiny: UF), adds (huge:
    // OF; exact; signaling NaN: NV) and reads fflags after each into x registers, mixed into x20.
    // With frm = RNE the dynamic-rm rows may take compiled code's inline path; with frm = RUP they
    // must not (jitFp does them).
    const rd = (x: number): number => encode('csrrs', { rd: x, rs1: 0 }) | (0x001 << 20); // csrr x, fflags
    const mixIn = (x: number): number[] => [encode('mul', { rd: 21, rs1: 20, rs2: 22 }), encode('add', { rd: 20, rs1: 21, rs2: x })];
    const body = [
      encode('csrrwi', { rd: 0, rs1: 0 }) | (0x001 << 20), // fflags = 0
      encode('fmul.d', { rd: 3, rs1: 1, rs2: 2, rm: 7 }),
      rd(6), ...mixIn(6),
      encode('csrrwi', { rd: 0, rs1: 1 }) | (0x001 << 20), // fflags = NX
      encode('fmul.d', { rd: 4, rs1: 5, rs2: 5, rm: 0 }), // tiny: UF | NX
      rd(7), ...mixIn(7),
      encode('fadd.d', { rd: 6, rs1: 7, rs2: 7, rm: 7 }), // huge: OF | NX
      rd(8), ...mixIn(8),
      encode('fsub.d', { rd: 8, rs1: 1, rs2: 1, rm: 0 }), // exact 0
      encode('fadd.d', { rd: 9, rs1: 3, rs2: 2, rm: 7 }),
      encode('fsub.d', { rd: 10, rs1: 9, rs2: 11, rm: 7 }), // f11 = sNaN: NV
      rd(9), ...mixIn(9),
      encode('fmv.x.d', { rd: 12, rs1: 10 }), ...mixIn(12),
      encode('fmv.x.d', { rd: 12, rs1: 9 }), ...mixIn(12),
      encode('fmv.x.d', { rd: 12, rs1: 4 }), ...mixIn(12),
      encode('fadd.d', { rd: 1, rs1: 1, rs2: 12, rm: 0 }), // f1 moves on each round
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
    ];
    const prog = [
      encode('lui', { rd: 5, imm: 0x6000 }),
      encode('csrrs', { rd: 0, rs1: 5 }) | (0x300 << 20), // FS = Dirty
      0, // frm (patched below)
      encode('addi', { rd: 22, rs1: 0, imm: 1021 }), // the mixing multiplier (odd)
      encode('addi', { rd: 11, rs1: 0, imm: 300 }),
      ...body,
      encode('bne', { rs1: 11, rs2: 0, imm: -4 * body.length }),
      encode('jal', { rd: 0, imm: 0 }),
    ];
    const total = 5 + 300 * (body.length + 1);
    for (const frm of [0, 3]) {
      prog[2] = encode('csrrwi', { rd: 0, rs1: frm }) | (0x002 << 20);
      const s: unknown[] = [];
      for (const tier of ['interp', 'jit'] as const) {
        const core = coreWith(tier, prog);
        core.setF(1, 0x3ff3333333333333n); // 1.2
        core.setF(2, 0x400921fb54442d18n); // pi
        core.setF(5, 0x1ff0000000000001n); // 2^-512: squared, below the normal range
        core.setF(7, 0x7fe0000000000001n); // huge: doubled, overflows
        core.setF(11, 0x7ff4000000000000n); // signaling NaN
        core.setF(12, 0x3e80000000000000n);
        core.insnLimit = total;
        core.run();
        expect(core.instret).toBe(total);
        if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(0.5 * total);
        const f: string[] = [];
        for (let r = 0; r < 13; r++) f.push(core.f(r).toString(16));
        s.push({ ...(snapshot(core) as object), f, fcsr: core.getCsr(L.H_FCSR) });
      }
      expect(s[1]).toEqual(s[0]);
    }
  });

  it('every F/D op compiled code does inline: the interpreter\'s results and flags over special operands, rounding modes and NX states', async () => {
    const { FP_INLINE } = await import('../../src/jit/compiler.js');
    const { INSN_TABLE } = await import('../../src/isa/table.js');
    const d = [0n, 1n << 63n, 0x3ff8000000000000n, 0xc002000000000000n, 0x400921fb54442d18n, 0x7e37e43c8800759cn,
      0x01a56e1fc2f8f359n, 0x0000000000000003n, 0x7ff0000000000000n, 0xfff0000000000000n, 0x7ff8000000000000n,
      0x7ff4000000000000n, 0x4340000000000001n, 0x1ff0000000000001n,
      // the edges of the integer formats' ranges (fcvt.{w,wu,l,lu}.d)
      ...[2147483647.5, -2147483648.5, 2147483648, -2147483649, 4294967295.5, 4294967296, 2 ** 63, 2 ** 63 - 1024,
        -(2 ** 63), 2 ** 64 - 2048, 2 ** 64, -0.5, -1].map((v) => new BigUint64Array(new Float64Array([v]).buffer)[0]!)];
    const sgl = [0n, 0x80000000n, 0x3fc00000n, 0xc0100000n, 0x40490fdbn, 0x7f7fffffn, 0x00800001n, 0x00000003n,
      0x7f800000n, 0xff800000n, 0x7fc00000n, 0x7fa00000n, 0x4b800001n, 0x1f800001n].map((v) => 0xffffffff00000000n | v)
      .concat([0x3ff8000040490fdbn]); // not NaN-boxed (pi in the low half): reads as the canonical NaN
    const ints = [0n, 1n, 0xffffffffffffffffn, 0x7fffffffffffffffn, 0x8000000000000000n, 0x20000000000001n, 0x80000001n,
      0xfffffffe00000003n, 0x123456789abcdefn, 0xffffffff7fffffffn, 12345n, 0x7ffffffffffffc01n, 3n, 0x8000000000000401n];
    // fcsr before the op: NX clear / set, frm RNE / RUP (the dyn-rm form then rounds up: jitFp) /
    // 5 (the dyn-rm form is illegal: the handler at 0x800 skips it).
    const fcsrs = [0x00n, 0x01n, 0x61n, 0x1fn, 0xa1n];
    const STRIDE = 152; // a set: 4 inputs, then fflags, f and x results of the dyn-rm form and of rm 0..3
    for (const op of Object.keys(FP_INLINE)) {
      const row = INSN_TABLE.find((r) => r.name === op)!;
      const single = /\.s$/.test(op) || op === 'fmv.w.x' || op === 'fmv.x.w';
      const vals = single ? sgl : d;
      const f = row.format;
      const isF = (sp: typeof f.rd): boolean => !!sp && !('fixed' in sp) && sp.f === true;
      const ops = (rd: number, rm?: number): number => {
        const o: Record<string, number> = { rd: isF(f.rd) ? rd : 8, rs1: isF(f.rs1) ? 1 : 5 };
        if (f.rs2 && !('fixed' in f.rs2)) o.rs2 = 2;
        if (f.rs3) o.rs3 = 2; // the FMAs: a * b +- b
        if (f.rm) o.rm = rm ?? 7;
        return encode(op, o);
      };
      const setFcsr = encode('csrrw', { rd: 0, rs1: 6 }) | (0x003 << 20);
      const body = [
        encode('fld', { rd: 1, rs1: 10, imm: 0 }), encode('fld', { rd: 2, rs1: 10, imm: 8 }),
        encode('ld', { rd: 5, rs1: 10, imm: 16 }), encode('ld', { rd: 6, rs1: 10, imm: 24 }),
        setFcsr, ops(3, 7), encode('csrrs', { rd: 7, rs1: 0 }) | (0x003 << 20),
        encode('sd', { rs1: 10, rs2: 7, imm: 32 }), encode('fsd', { rs1: 10, rs2: 3, imm: 40 }), encode('sd', { rs1: 10, rs2: 8, imm: 48 }),
        // the static rounding modes RNE, RTZ, RDN and RUP too
        ...(f.rm ? [0, 1, 2, 3].flatMap((rm) => [setFcsr, ops(4, rm), encode('csrrs', { rd: 7, rs1: 0 }) | (0x003 << 20),
          encode('sd', { rs1: 10, rs2: 7, imm: 56 + 24 * rm }), encode('fsd', { rs1: 10, rs2: 4, imm: 64 + 24 * rm }), encode('sd', { rs1: 10, rs2: 8, imm: 72 + 24 * rm })]) : []),
        encode('addi', { rd: 10, rs1: 10, imm: STRIDE }),
        encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      ];
      const sets: bigint[][] = [];
      for (const a of vals) for (const b of vals) for (const fc of fcsrs) sets.push([a, b, ints[sets.length % ints.length]!, fc]);
      const prog = [
        encode('lui', { rd: 5, imm: 0x6000 }),
        encode('csrrs', { rd: 0, rs1: 5 }) | (0x300 << 20), // FS = Dirty
        encode('addi', { rd: 12, rs1: 0, imm: 2 }), // two sweeps: the second runs compiled
        encode('auipc', { rd: 10, imm: 0x10000 }), // sweep (at 0x0c): a0 = 0x80010000, the operand sets
        encode('addi', { rd: 10, rs1: 10, imm: -12 }),
        encode('lui', { rd: 11, imm: sets.length << 12 }),
        encode('srli', { rd: 11, rs1: 11, imm: 12 }), // a1 = the number of sets
        ...body,
        encode('bne', { rs1: 11, rs2: 0, imm: -4 * body.length }),
        encode('addi', { rd: 12, rs1: 12, imm: -1 }),
        encode('bne', { rs1: 12, rs2: 0, imm: -4 * (body.length + 5) }),
        encode('jal', { rd: 0, imm: 0 }),
      ];
      const total = 3 + 2 * (4 + sets.length * (body.length + 1) + 2);
      const handler = [
        encode('csrrs', { rd: 31, rs1: 0 }) | (0x341 << 20), // mepc
        encode('addi', { rd: 31, rs1: 31, imm: 4 }),
        encode('csrrw', { rd: 0, rs1: 31 }) | (0x341 << 20),
        encode('mret'),
      ];
      const out: unknown[] = [];
      for (const tier of ['interp', 'jit'] as const) {
        const core = new Core({ ramBytes: 1 << 20, mmio: noMmio, tier, jit: { threshold: 2, batch: 1 } });
        const dv = new DataView(core.ram.buffer, core.ram.byteOffset);
        prog.forEach((w, k) => dv.setUint32(k * 4, w >>> 0, true));
        handler.forEach((w, k) => dv.setUint32(0x800 + k * 4, w >>> 0, true));
        sets.forEach((v, k) => v.forEach((x, j) => dv.setBigUint64(0x10000 + k * STRIDE + j * 8, x, true)));
        core.ex.invalidatePhys(0x8000_0000n, 0x100000n);
        core.setCsr(L.H_MTVEC, 0x80000800n);
        core.pc = 0x8000_0000n;
        core.deadline = 1e12;
        core.insnLimit = 2 * total; // the handler's instructions too; then the final spin
        core.run();
        expect(core.pc, op).toBe(0x8000_0000n + BigInt(4 * (prog.length - 1)));
        if (tier === 'jit') expect(core.jit!.stats().insns, op).toBeGreaterThan(0.3 * total);
        out.push(Buffer.from(core.ram.subarray(0x10000, 0x10000 + sets.length * STRIDE)).toString('hex'));
      }
      expect(out[1] === out[0], op).toBe(true);
    }
  });

  it('F/D rows that write only x registers leave FS = Initial unless they raise a flag', () => {
    // fmv.x.w/d, fclass and quiet compares of ordinary numbers change no FP state: FS stays
    // Initial (Priv 3.1.6.6); then an feq.d on a signaling NaN raises NV, which makes it Dirty.
    const body = [
      encode('fmv.x.d', { rd: 6, rs1: 1 }),
      encode('fmv.x.w', { rd: 7, rs1: 2 }),
      encode('fclass.d', { rd: 8, rs1: 1 }),
      encode('flt.d', { rd: 9, rs1: 1, rs2: 3 }),
      encode('fcvt.l.d', { rd: 12, rs1: 3, rm: 1 }), // exact: no flag
      encode('add', { rd: 13, rs1: 13, rs2: 6 }),
    ];
    const prog = [
      encode('lui', { rd: 5, imm: 0x2000 }),
      encode('csrrs', { rd: 0, rs1: 5 }) | (0x300 << 20), // FS = Initial
      encode('addi', { rd: 11, rs1: 0, imm: 200 }),
      ...body,
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      encode('bne', { rs1: 11, rs2: 0, imm: -4 * (body.length + 1) }),
      encode('feq.d', { rd: 14, rs1: 4, rs2: 4 }), // f4 = sNaN: NV
      encode('jal', { rd: 0, imm: 0 }),
    ];
    const quiet = 3 + 200 * (body.length + 2);
    for (const stop of [quiet, quiet + 1]) {
      const s: unknown[] = [];
      for (const tier of ['interp', 'jit'] as const) {
        const core = coreWith(tier, prog);
        core.setF(1, 0x400921fb54442d18n);
        core.setF(2, 0xffffffff3f800000n);
        core.setF(3, 0x4010000000000000n);
        core.setF(4, 0x7ff4000000000000n);
        core.insnLimit = stop;
        core.run();
        if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(0.9 * quiet);
        s.push({ ...(snapshot(core) as object), mstatus: core.getCsr(L.H_MSTATUS), fcsr: core.getCsr(L.H_FCSR) });
      }
      const fs = ((s[0] as { mstatus: bigint }).mstatus >> 13n) & 3n;
      expect(fs).toBe(stop === quiet ? 1n : 3n);
      expect(s[1]).toEqual(s[0]);
    }
  });

  it('compiled FP stores leave FS alone and FP loads make it Dirty, as in the interpreter', () => {
    // Each round sets FS = Initial (csrc then csrs), then an fsd and an fld run compiled (the CSR
    // instructions end blocks), with mstatus read after each into x7 / x8.
    const prog = [
      encode('lui', { rd: 5, imm: 0x6000 }),
      encode('lui', { rd: 6, imm: 0x2000 }),
      encode('auipc', { rd: 10, imm: 0x1000 }),
      encode('addi', { rd: 11, rs1: 0, imm: 200 }),
      encode('csrrc', { rd: 0, rs1: 5 }) | (0x300 << 20), // loop: FS = Off
      encode('csrrs', { rd: 0, rs1: 6 }) | (0x300 << 20), // FS = Initial
      encode('fsd', { rs1: 10, rs2: 2, imm: 0 }),
      encode('addi', { rd: 12, rs1: 12, imm: 1 }),
      encode('csrrs', { rd: 7, rs1: 0 }) | (0x300 << 20),
      encode('flw', { rd: 3, rs1: 10, imm: 4 }),
      encode('addi', { rd: 12, rs1: 12, imm: 1 }),
      encode('csrrs', { rd: 8, rs1: 0 }) | (0x300 << 20),
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      encode('bne', { rs1: 11, rs2: 0, imm: -36 }),
      encode('jal', { rd: 0, imm: 0 }),
    ];
    const s: unknown[] = [];
    for (const tier of ['interp', 'jit'] as const) {
      const core = coreWith(tier, prog);
      core.setF(2, 0x400921fb54442d18n);
      core.insnLimit = 4 + 200 * 10;
      core.run();
      if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(200 * 2);
      s.push({ ...(snapshot(core) as object), f3: core.f(3), mstatus: core.getCsr(L.H_MSTATUS) });
    }
    const x = (s[0] as { x: string[] }).x;
    expect((BigInt('0x' + x[6]) >> 13n) & 3n).toBe(1n); // x7: after the fsd, still Initial
    expect((BigInt('0x' + x[7]) >> 13n) & 3n).toBe(3n); // x8: after the flw, Dirty
    expect((s[0] as { f3: bigint }).f3).toBe(0xffffffff400921fbn); // flw NaN-boxes pi's high word
    expect(s[1]).toEqual(s[0]);
  });

  it('in VS-mode (V = 1) compiled FP code marks vsstatus.FS Dirty and traps when vsstatus.FS is Off', () => {
    // M-mode enters VS-mode (mret with MPV = 1, MPP = S) with mstatus.FS Dirty. Each round of the
    // VS-mode loop sets vsstatus.FS Initial (through sstatus), then loads a double into f1 and adds
    // it (compiled after a few rounds: the fld must make vsstatus Dirty; sstatus = vsstatus goes to
    // x20 right after it); after round 100 the guest clears vsstatus.FS and jumps to the fld: it
    // must raise illegal-instruction (to M-mode: no delegation) with mepc at it.
    const fld = encode('fld', { rd: 1, rs1: 10, imm: 0 });
    const prog = [
      encode('addi', { rd: 9, rs1: 0, imm: -1 }),
      encode('csrrw', { rd: 0, rs1: 9 }) | (0x3b0 << 20), // pmpaddr0: everything
      encode('addi', { rd: 9, rs1: 0, imm: 0x1f }),
      encode('csrrw', { rd: 0, rs1: 9 }) | (0x3a0 << 20), // pmpcfg0: NAPOT, RWX (S/U may access)
      encode('lui', { rd: 5, imm: 0x6000 }),
      encode('csrrs', { rd: 0, rs1: 5 }) | (0x300 << 20), // mstatus.FS = Dirty
      encode('lui', { rd: 6, imm: 0x2000 }),
      encode('csrrw', { rd: 0, rs1: 6 }) | (0x200 << 20), // vsstatus: FS = Initial
      encode('addi', { rd: 7, rs1: 0, imm: 1 }),
      encode('slli', { rd: 7, rs1: 7, imm: 39 }), // MPV
      encode('csrrs', { rd: 0, rs1: 7 }) | (0x300 << 20),
      encode('lui', { rd: 7, imm: 0x1000 }),
      encode('csrrc', { rd: 0, rs1: 7 }) | (0x300 << 20), // MPP = S (it was M: clear bit 12)
      encode('auipc', { rd: 8, imm: 0 }), // 0x34
      encode('addi', { rd: 8, rs1: 8, imm: 20 }), // 0x48: VS-mode starts there
      encode('csrrw', { rd: 0, rs1: 8 }) | (0x341 << 20), // mepc
      encode('auipc', { rd: 10, imm: 0x1000 }), // 0x40: a data page (0x1040)
      encode('mret'),
      encode('addi', { rd: 11, rs1: 0, imm: 100 }), // 0x48
      encode('csrrc', { rd: 0, rs1: 5 }) | (0x100 << 20), // 0x4c loop: vsstatus.FS = Off,
      encode('csrrs', { rd: 0, rs1: 6 }) | (0x100 << 20), // then Initial (the CSR accesses end blocks)
      fld, // 0x54
      encode('addi', { rd: 12, rs1: 12, imm: 1 }), // (the fld's block goes on)
      encode('csrrs', { rd: 20, rs1: 0 }) | (0x100 << 20), // sstatus (vsstatus) after the fld
      encode('fadd.d', { rd: 2, rs1: 2, rs2: 1, rm: 0 }),
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      encode('bne', { rs1: 11, rs2: 0, imm: -28 }),
      encode('csrrc', { rd: 0, rs1: 5 }) | (0x100 << 20), // vsstatus.FS = Off
      encode('jal', { rd: 0, imm: -28 }), // to the fld: illegal now
    ];
    const s: unknown[] = [];
    for (const tier of ['interp', 'jit'] as const) {
      const core = coreWith(tier, prog);
      new DataView(core.ram.buffer, core.ram.byteOffset).setBigUint64(0x1040, 0x3ff8000000000000n, true); // 1.5 at a0
      core.setCsr(L.H_MTVEC, 0x80000800n);
      new DataView(core.ram.buffer, core.ram.byteOffset).setUint32(0x800, encode('jal', { rd: 0, imm: 0 }), true);
      core.insnLimit = 19 + 100 * 8 + 2 + 5; // setup, the loop, then csrc, jal; the trap; 5 spins
      core.run();
      if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(200);
      s.push({ ...(snapshot(core) as object), f2: core.f(2), mcause: core.getCsr(L.H_MCAUSE), mepc: core.getCsr(L.H_MEPC), mstatus: core.getCsr(L.H_MSTATUS), vsstatus: core.getCsr(L.H_VSSTATUS) });
    }
    const r = s[0] as { x: string[]; f2: bigint; mcause: bigint; mepc: bigint; mstatus: bigint };
    expect((BigInt('0x' + r.x[19]) >> 13n) & 3n).toBe(3n); // vsstatus.FS was Dirty after the last fld
    expect(r.f2).toBe(0x4062c00000000000n); // 100 x 1.5
    expect(r).toMatchObject({ mcause: 2n, mepc: 0x80000054n });
    expect((r.mstatus >> 39n) & 1n).toBe(1n); // MPV: the trap came from V = 1
    expect(s[1]).toEqual(s[0]);
  });

  it('an FP block compiled while FS was on raises illegal-instruction when entered with FS = Off', () => {
    // The loop runs compiled (FS on); after 300 rounds it switches FS Off (csrc mstatus) and goes
    // round again: the compiled fadd.d must trap exactly where the interpreter's does (mcause 2,
    // mepc at the fadd.d, mtval its encoding) and leave f1 and the counters as the interpreter does.
    const fadd = encode('fadd.d', { rd: 1, rs1: 1, rs2: 2, rm: 0 });
    const prog = [
      encode('lui', { rd: 5, imm: 0x6000 }),
      encode('csrrs', { rd: 0, rs1: 5 }) | (0x300 << 20), // FS = Dirty
      encode('addi', { rd: 11, rs1: 0, imm: 300 }),
      encode('addi', { rd: 12, rs1: 12, imm: 1 }), // 0x0c loop:
      fadd,
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      encode('bne', { rs1: 11, rs2: 0, imm: -12 }),
      encode('csrrc', { rd: 0, rs1: 5 }) | (0x300 << 20), // FS = Off
      encode('jal', { rd: 0, imm: -20 }), // round again: the fadd.d traps
    ];
    const s: unknown[] = [];
    for (const tier of ['interp', 'jit'] as const) {
      const core = coreWith(tier, prog);
      core.setF(1, 0x3ff0000000000000n);
      core.setF(2, 0x3fb999999999999an);
      core.setCsr(L.H_MTVEC, 0x80000800n); // the handler spins
      new DataView(core.ram.buffer, core.ram.byteOffset).setUint32(0x800, encode('jal', { rd: 0, imm: 0 }), true);
      core.insnLimit = 3 + 300 * 4 + 2 + 1 + 5; // ... csrrc, jal, addi, then the trap and 5 spins
      core.run();
      if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(1000);
      s.push({ ...(snapshot(core) as object), f1: core.f(1), mcause: core.getCsr(L.H_MCAUSE), mepc: core.getCsr(L.H_MEPC), mtval: core.getCsr(L.H_MTVAL) });
    }
    expect(s[0]).toMatchObject({ mcause: 2n, mepc: 0x80000010n, mtval: BigInt(fadd >>> 0) });
    expect(s[1]).toEqual(s[0]);
  });

  it('self-modifying code: a store over a compiled instruction takes effect at once (no fence.i needed)', () => {
    // loop: addi a0, a0, 1 (patched to addi a0, a0, 100 after 500 rounds by a store of the word in t1)
    const prog = smcProgram(1000, 500);
    const s: unknown[] = [];
    for (const tier of ['interp', 'jit'] as const) {
      const core = coreWith(tier, prog);
      core.insnLimit = 20000;
      core.run();
      expect(core.x(10)).toBe(500n + 500n * 100n);
      if (tier === 'jit') expect(core.jit!.stats().invalidations).toBeGreaterThan(0);
      s.push(snapshot(core));
    }
    expect(s[1]).toEqual(s[0]);
  });

  it('a host write to guest RAM (a loader, DMA) drops compiled code of that page', () => {
    const core = coreWith('jit', [encode('addi', { rd: 10, rs1: 10, imm: 1 }), encode('jal', { rd: 0, imm: -4 })]);
    core.insnLimit = 1000;
    core.run();
    expect(core.x(10)).toBe(500n);
    core.writePhys(0x8000_0000, new Uint8Array(new Uint32Array([encode('addi', { rd: 10, rs1: 10, imm: 3 })]).buffer));
    core.insnLimit = 2000;
    core.run();
    expect(core.x(10)).toBe(500n + 3n * 500n);
  });

  it('cmark-small: same output, instructions, cycles and class counts in both tiers, twice', () => {
    const elf = readFileSync(join(ROOT, 'test/guests/bin/cmark-small.elf'));
    const runs = (['interp', 'jit', 'jit'] as const).map((tier) => {
      const m = new VirtMachine({ ramBytes: 16 << 20, tier, onOutput: () => {} });
      m.loadElf(elf, 'cmark-small.elf');
      const r = m.runSync();
      const st = m.core.jit?.stats();
      return { r, out: m.outputText(), instret: m.core.instret, cycles: m.core.cycles, cls: m.core.classCounts(), share: st?.insns ?? 0, st };
    });
    expect(runs[0]!.r.code).toBe(0);
    for (const j of [runs[1]!, runs[2]!]) {
      expect({ ...j, share: 0, st: undefined }).toEqual({ ...runs[0]!, share: 0, st: undefined });
      expect(j.share).toBeGreaterThan(0.5 * j.instret);
    }
    // The second JIT machine builds the same modules: every one comes from the code cache.
    expect(runs[2]!.st!.modules).toBe(runs[1]!.st!.modules);
    expect(runs[2]!.st!.reused).toBe(runs[2]!.st!.modules);
  });

  it('the tier is per core and switchable: interp cores never call the compiler', () => {
    const c = coreWith('interp', [encode('jal', { rd: 0, imm: 0 })]);
    expect(c.tier).toBe('interp');
    expect(c.jit).toBeUndefined();
    c.setTier('jit', { threshold: 2, batch: 1 });
    expect(c.tier).toBe('jit');
    c.insnLimit = 100;
    c.run();
    expect(c.jit!.stats().insns).toBeGreaterThan(0);
    c.setTier('interp');
    expect(new DataView(c.ex.memory.buffer).getUint32(L.J_ON, true)).toBe(0);
  });
});

describe('chaining across pages (assembly/jit.ts jitChain)', () => {
  // A loop on page 0 calls f on page 1, which jumps to g on page 2, which returns to page 0: every
  // round leaves its page three times. The Sstc timer interrupts it every 37 ticks (10 cycles a
  // tick); the handler counts, sums the interrupted pcs and re-arms. Compiled code goes on across
  // pages by itself only where the run loop's boundary would have nothing to do, so the interrupts
  // must land on the same instructions as in the interpreter.
  const CSR = { mstatus: 0x300, mie: 0x304, mtvec: 0x305, menvcfg: 0x30a, mepc: 0x341, stimecmp: 0x14d };
  const page0 = [
    encode('auipc', { rd: 5, imm: 0 }),
    encode('addi', { rd: 5, rs1: 5, imm: 0x100 }),
    encode('csrrw', { rd: 0, rs1: 5, imm: CSR.mtvec }), // handler at 0x100
    encode('addi', { rd: 6, rs1: 0, imm: -1 }),
    encode('slli', { rd: 6, rs1: 6, imm: 63 }),
    encode('csrrs', { rd: 0, rs1: 6, imm: CSR.menvcfg }), // STCE
    encode('addi', { rd: 7, rs1: 0, imm: 50 }),
    encode('csrrw', { rd: 0, rs1: 7, imm: CSR.stimecmp }),
    encode('addi', { rd: 28, rs1: 0, imm: 32 }),
    encode('csrrs', { rd: 0, rs1: 28, imm: CSR.mie }), // STIE
    encode('addi', { rd: 29, rs1: 0, imm: 8 }),
    encode('csrrs', { rd: 0, rs1: 29, imm: CSR.mstatus }), // MIE
    encode('addi', { rd: 11, rs1: 0, imm: 2000 }),
    encode('jal', { rd: 1, imm: 0x1000 - 0x34 }), // 0x34 loop: call f (0x1000)
    encode('addi', { rd: 11, rs1: 11, imm: -1 }),
    encode('bne', { rs1: 11, rs2: 0, imm: -8 }),
    encode('jal', { rd: 0, imm: 0 }), // spin
  ];
  const handler = [
    encode('addi', { rd: 18, rs1: 18, imm: 1 }),
    encode('csrrs', { rd: 30, rs1: 0, imm: CSR.mepc }),
    encode('add', { rd: 19, rs1: 19, rs2: 30 }),
    encode('add', { rd: 20, rs1: 20, rs2: 11 }),
    encode('csrrs', { rd: 31, rs1: 0, imm: CSR.stimecmp }),
    encode('addi', { rd: 31, rs1: 31, imm: 37 }),
    encode('csrrw', { rd: 0, rs1: 31, imm: CSR.stimecmp }),
    encode('mret'),
  ];
  const f = [encode('addi', { rd: 12, rs1: 12, imm: 3 }), encode('xor', { rd: 13, rs1: 13, rs2: 12 }), encode('jal', { rd: 0, imm: 0x1000 - 8 })];
  const g = [encode('add', { rd: 14, rs1: 14, rs2: 13 }), encode('jalr', { rd: 0, rs1: 1, imm: 0 })];
  const words: number[] = [];
  const put = (at: number, ws: number[]): void => ws.forEach((w, i) => (words[at / 4 + i] = w));
  put(0, page0);
  put(0x100, handler);
  put(0x1000, f);
  put(0x2000, g);
  for (let i = 0; i < words.length; i++) words[i] ??= 0;
  const machine = (tier: 'interp' | 'jit'): Core => {
    const core = coreWith(tier, words);
    core.setTimebase(10, 0n);
    return core;
  };

  it('the call chain stays in compiled code, and every interrupt lands where the interpreter takes it', () => {
    const s: unknown[] = [];
    let st: ReturnType<NonNullable<Core['jit']>['stats']> | undefined;
    for (const tier of ['interp', 'jit'] as const) {
      const core = machine(tier);
      core.insnLimit = 20_000;
      core.run();
      s.push(snapshot(core));
      if (tier === 'jit') st = core.jit!.stats();
      else expect(core.x(18)).toBeGreaterThan(40n); // interrupts taken
    }
    expect(s[1]).toEqual(s[0]);
    expect(st!.insns).toBeGreaterThan(15_000);
    // About three page exits per round went on in compiled code.
    expect(st!.chains).toBeGreaterThan(3000);
  });

  it('every instruction limit and odd deadlines give the interpreter\'s state', () => {
    for (const limit of [1, 37, 100, 1001, 5003, 12_000]) {
      const s: unknown[] = [];
      for (const tier of ['interp', 'jit'] as const) {
        const core = machine(tier);
        for (const _ of slices(core, limit));
        s.push(snapshot(core));
      }
      expect(s[1], `limit ${limit}`).toEqual(s[0]);
    }
  });

  it('a pending interrupt that is enabled stops the chain; a disabled one does not', () => {
    // mstatus.MIE clear: STIP pending but not taken, so the boundary has nothing to do and the
    // chain goes on; the interpreter agrees on every counter.
    const s: unknown[] = [];
    for (const tier of ['interp', 'jit'] as const) {
      const core = machine(tier);
      const dv = new DataView(core.ram.buffer, core.ram.byteOffset);
      dv.setUint32(0x2c, encode('addi', { rd: 0, rs1: 0, imm: 0 }) >>> 0, true); // no MIE
      core.ex.invalidatePhys(0x8000_0000n, 4096n);
      core.insnLimit = 20_000;
      core.run();
      expect(core.mip & 32, tier).toBe(32);
      expect(core.x(18)).toBe(0n);
      s.push(snapshot(core));
      if (tier === 'jit') expect(core.jit!.stats().chains).toBeGreaterThan(3000);
    }
    expect(s[1]).toEqual(s[0]);
  });
});

describe('chaining across pages: an interrupt raised by a device', () => {
  it('is taken after the device store, as in the interpreter, while the call chain runs compiled', () => {
    // The loop calls f on the next page and stores to a device register; every 7th store raises
    // MEIP. The store is interpreted (MMIO) and ends the block, so the boundary after it takes the
    // interrupt; the handler lowers MEIP by another store. Compiled code and its chains in between
    // must leave every interrupt on the interpreter's instruction.
    const MMIO = 0x1000_0000;
    const page0 = [
      encode('auipc', { rd: 5, imm: 0 }),
      encode('addi', { rd: 5, rs1: 5, imm: 0x100 }),
      encode('csrrw', { rd: 0, rs1: 5, imm: 0x305 }), // mtvec = handler
      encode('lui', { rd: 28, imm: 0x1000 }),
      encode('addi', { rd: 28, rs1: 28, imm: -0x800 }),
      encode('csrrs', { rd: 0, rs1: 28, imm: 0x304 }), // mie.MEIE
      encode('addi', { rd: 29, rs1: 0, imm: 8 }),
      encode('csrrs', { rd: 0, rs1: 29, imm: 0x300 }), // mstatus.MIE
      encode('lui', { rd: 10, imm: MMIO }),
      encode('addi', { rd: 7, rs1: 0, imm: 1 }),
      encode('addi', { rd: 11, rs1: 0, imm: 2000 }),
      encode('jal', { rd: 1, imm: 0x1000 - 0x2c }), // 0x2c loop: call f
      encode('sw', { rs1: 10, rs2: 7, imm: 0 }),
      encode('addi', { rd: 11, rs1: 11, imm: -1 }),
      encode('bne', { rs1: 11, rs2: 0, imm: -12 }),
      encode('jal', { rd: 0, imm: 0 }),
    ];
    const handler = [
      encode('addi', { rd: 18, rs1: 18, imm: 1 }),
      encode('csrrs', { rd: 30, rs1: 0, imm: 0x341 }),
      encode('add', { rd: 19, rs1: 19, rs2: 30 }),
      encode('add', { rd: 20, rs1: 20, rs2: 11 }),
      encode('addi', { rd: 31, rs1: 0, imm: 2 }),
      encode('sw', { rs1: 10, rs2: 31, imm: 0 }), // lowers MEIP
      encode('mret'),
    ];
    const f = [encode('addi', { rd: 12, rs1: 12, imm: 3 }), encode('xor', { rd: 13, rs1: 13, rs2: 12 }), encode('jalr', { rd: 0, rs1: 1, imm: 0 })];
    const words: number[] = [];
    page0.forEach((w, i) => (words[i] = w));
    handler.forEach((w, i) => (words[0x40 + i] = w));
    f.forEach((w, i) => (words[0x400 + i] = w));
    for (let i = 0; i < words.length; i++) words[i] ??= 0;
    const s: unknown[] = [];
    for (const tier of ['interp', 'jit'] as const) {
      let core: Core | undefined;
      let stores = 0;
      const port: MmioPort = {
        read: () => 1,
        write: (addr, _size, lo) => {
          if (addr !== MMIO) return 1;
          if (lo === 1 && ++stores % 7 === 0) core!.setMip(11, true);
          if (lo === 2) core!.setMip(11, false);
          return 0;
        },
        dataLo: 0,
        dataHi: 0,
      };
      core = coreWith(tier, words, 2, {}, port);
      core.insnLimit = 30_000;
      core.run();
      expect(core.x(18), tier).toBeGreaterThan(200n);
      s.push(snapshot(core));
      if (tier === 'jit') expect(core.jit!.stats().chains).toBeGreaterThan(1000);
    }
    expect(s[1]).toEqual(s[0]);
  });
});
