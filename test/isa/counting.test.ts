/**
 * Retirement accounting: instret, per-class counts (core.classCounts()) and cycles must match the
 * latency table exactly (docs/TIMING.md: each retired instruction costs its class, a taken branch
 * costs branchTaken instead of branch, every trap entry adds trap; a trapping instruction does not
 * retire). Also the instruction limit (--max-insns) and determinism.
 */
import { describe, expect, it } from 'vitest';
import { RunStatus, type Core } from '../../src/core.js';
import { TIMING_CLASSES, TIMING_CLASS_COUNT, TIMING_CLASS_ID, type TimingClass } from '../../src/isa/classes.js';
import { encode } from '../../src/isa/encode.js';
import { assemble, makeCore, runProgram } from '../helpers/core-harness.js';
import { latencyArrayDefault } from '../helpers/latency.js';
import {
  DATA,
  HANDLER,
  MMIO,
  RAM_BASE,
  asm,
  br,
  cbr,
  exec,
  hex,
  label,
  li,
  enterMode,
  pmpAllowAll,
  PRV_U,
  prepare,
  regs,
  run,
  runFor,
  setCsrDirect,
  WFI,
  type Assembled,
  type Insn,
  skipAndReturn,
} from '../helpers/isa.js';

type Counts = Record<TimingClass, number>;
const zero = (): Counts => Object.fromEntries(TIMING_CLASSES.map((c) => [c, 0])) as Counts;
const counts = (partial: Partial<Counts>): Counts => ({ ...zero(), ...partial });

/** Distinct latencies per class (all < 256), so every class visibly contributes to the total. */
const PRIMES: Record<TimingClass, number> = {
  alu: 2, branch: 3, jump: 5, load: 7, store: 11, mul: 13, div: 17, divw: 19, csr: 23, amo: 29, fence: 31,
  system: 37, fpu: 1, fdiv: 1, fload: 1, fstore: 1, branchTaken: 41, trap: 43,
};
const primeArray = (): number[] => TIMING_CLASSES.map((c) => PRIMES[c]);

/** Expected cycles from class counts: taken branches cost branchTaken instead of branch. */
function cyclesOf(c: Counts, lat: Record<TimingClass, number>): number {
  let total = 0;
  for (const k of TIMING_CLASSES) {
    if (k === 'branch') total += (c.branch - c.branchTaken) * lat.branch;
    else total += c[k] * lat[k];
  }
  return total;
}
const latRecord = (arr: number[]): Record<TimingClass, number> =>
  Object.fromEntries(TIMING_CLASSES.map((c, i) => [c, arr[i]])) as Record<TimingClass, number>;
const retired = (c: Counts) => TIMING_CLASSES.filter((k) => k !== 'branchTaken' && k !== 'trap').reduce((s, k) => s + c[k], 0);

function checkAccounting(core: Core, want: Counts, lat: number[]): void {
  expect(core.classCounts()).toEqual(want);
  expect(core.instret).toBe(retired(want));
  expect(core.cycles).toBe(cyclesOf(want, latRecord(lat)));
}

describe('test latency table (test/helpers/latency.ts)', () => {
  it('is 1 per class with branchTaken = 3 and trap = 5', () => {
    const a = latencyArrayDefault();
    expect(a.length).toBe(TIMING_CLASS_COUNT);
    expect(a[TIMING_CLASS_ID.branchTaken]).toBe(3);
    expect(a[TIMING_CLASS_ID.trap]).toBe(5);
    expect(a.filter((v) => v === 1).length).toBe(TIMING_CLASS_COUNT - 2);
  });
});

describe('straight-line program', () => {
  const addr = li(10, BigInt(DATA));
  const prog: Insn[] = [
    ...addr,
    ['addi', { rd: 5, rs1: 0, imm: 3 }],
    ['lui', { rd: 6, imm: 0x1000 }],
    ['add', { rd: 7, rs1: 5, rs2: 6 }],
    ['mul', { rd: 8, rs1: 5, rs2: 6 }],
    ['div', { rd: 9, rs1: 6, rs2: 5 }],
    ['remw', { rd: 9, rs1: 6, rs2: 5 }],
    ['sd', { rs1: 10, rs2: 7, imm: 0 }],
    ['ld', { rd: 11, rs1: 10, imm: 0 }],
    encode('c.lw', { rd: 12, rs1: 10, imm: 0 }),
    ['csrrs', { rd: 13, rs1: 0, imm: 0xb02 }],
    ['amoadd.d', { rd: 14, rs1: 10, rs2: 5 }],
    ['fence'],
    ['jal', { rd: 1, imm: 4 }],
    ['bne', { rs1: 0, rs2: 0, imm: 8 }], // not taken
    WFI,
  ];
  const want = counts({
    alu: addr.length + 3, mul: 1, div: 1, divw: 1, store: 1, load: 2, csr: 1, amo: 1, fence: 1, jump: 1, branch: 1, system: 1,
  });

  it('with the test latencies', () => {
    const core = run(prog);
    checkAccounting(core, want, latencyArrayDefault());
    expect(core.instret).toBe(prog.length);
    expect(core.cycles).toBe(prog.length); // every class costs 1 and nothing is taken
    expect(core.x(13)).toBe(BigInt(addr.length + 9)); // minstret read inside the program
  });

  it('with distinct latencies per class', () => {
    const lat = primeArray();
    const core = run(prog, { latencies: lat });
    checkAccounting(core, want, lat);
  });
});

describe('loop with taken branches', () => {
  const N = 10;
  const p = asm([
    ['addi', { rd: 5, rs1: 0, imm: 0 }],
    ['addi', { rd: 6, rs1: 0, imm: N }],
    label('loop'),
    ['addi', { rd: 5, rs1: 5, imm: 1 }],
    encode('c.addi', { rd: 7, imm: 2 }),
    br('bne', 5, 6, 'loop'),
    WFI,
  ]);
  const want = counts({ alu: 2 + 2 * N, branch: N, branchTaken: N - 1, system: 1 });

  it.each([
    ['test latencies', latencyArrayDefault()],
    ['distinct latencies', primeArray()],
  ])('%s', (_n, lat) => {
    const core = run(p, { latencies: lat });
    expect(core.x(5)).toBe(BigInt(N));
    checkAccounting(core, want, lat);
  });

  it('taken branches cost branchTaken instead of branch (test latencies: 3 vs 1)', () => {
    const core = run(p);
    expect(core.cycles).toBe(2 + 2 * N + (N - 1) * 3 + 1 + 1);
  });

  it('a loop that crosses a page boundary counts the same', () => {
    const q = asm([
      ['addi', { rd: 5, rs1: 0, imm: 0 }],
      ['addi', { rd: 6, rs1: 0, imm: N }],
      { org: RAM_BASE + 0x1000 - 6 },
      label('loop'),
      ['addi', { rd: 5, rs1: 5, imm: 1 }],
      encode('c.addi', { rd: 7, imm: 2 }), // last parcel of the page
      br('bne', 5, 6, 'loop'), // first word of the next page
      WFI,
    ]);
    const pad = q.at('loop') - RAM_BASE - 8; // org padding: 4-byte nops, then a c.nop if needed
    const nops = Math.floor(pad / 4) + (pad % 4) / 2;
    const core = run(q, { latencies: primeArray() });
    checkAccounting(core, counts({ alu: 2 + nops + 2 * N, branch: N, branchTaken: N - 1, system: 1 }), primeArray());
  });
});

describe('programs that trap', () => {
  it('ecall: the trapping instruction does not retire; trap counts the entry', () => {
    for (const lat of [latencyArrayDefault(), primeArray()]) {
      const { core } = exec([['addi', { rd: 5, rs1: 0, imm: 1 }], ['ecall'], WFI], { latencies: lat });
      checkAccounting(core, counts({ alu: 1, system: 1, trap: 1 }), lat); // system = the handler's wfi
    }
  });

  it.each([
    ['load access fault', [...li(5, BigInt(MMIO)), ['ld', { rd: 6, rs1: 5, imm: 0 }]] as Insn[]],
    ['store access fault', [...li(5, BigInt(MMIO)), ['sw', { rs1: 5, rs2: 5, imm: 0 }]] as Insn[]],
    ['misaligned amo', [...li(5, BigInt(DATA + 2)), ['amoswap.w', { rd: 6, rs1: 5, rs2: 5 }]] as Insn[]],
    ['illegal csr write', [...li(5, 1n), ['csrrw', { rd: 6, rs1: 5, imm: 0xf14 }]] as Insn[]],
    ['illegal word', [...li(5, 1n), 0xffffffff] as Insn[]],
    ['ebreak', [...li(5, 1n), ['ebreak']] as Insn[]],
    ['c.ebreak', [...li(5, 1n), encode('c.ebreak')] as Insn[]],
    // sret is legal in M-mode: run it in U-mode, where it is illegal (see 'U-mode prologue' below).
    ['sret (U-mode)', [...li(5, 1n), ['sret']] as Insn[], true],
    ['sfence.vma (U-mode)', [...li(5, 1n), ['sfence.vma', { rs1: 5, rs2: 0 }]] as Insn[], true],
    ['wfi (U-mode)', [...li(5, 1n), ['wfi']] as Insn[], true],
  ])('%s: only the prologue and the handler retire', (_n, prog, user = false) => {
    const lat = primeArray();
    // U-mode prologue (PMP entry, MPP = U, mret): li/auipc/addi are alu, csrr* csr, mret system.
    const pre: Insn[] = user ? [...pmpAllowAll(), ...enterMode(PRV_U)] : [];
    const nameOf = (i: Insn) => (typeof i === 'number' ? '' : i[0]);
    const preCsr = pre.filter((i) => nameOf(i).startsWith('csrr')).length;
    const preSystem = pre.filter((i) => nameOf(i) === 'mret').length;
    const { core } = exec([...pre, ...prog, WFI], { latencies: lat });
    expect(core.exceptions).toBe(1);
    checkAccounting(
      core,
      counts({ alu: pre.length - preCsr - preSystem + prog.length - 1, csr: preCsr, system: 1 + preSystem, trap: 1 }),
      lat,
    );
  });

  it('repeated traps inside a loop (handler returns with mret)', () => {
    const H = RAM_BASE + 0x4000;
    const handler = asm(skipAndReturn(), H);
    const N = 5;
    const p = asm([
      ...li(29, BigInt(H)),
      ['csrrw', { rd: 0, rs1: 29, imm: 0x305 }],
      ['addi', { rd: 5, rs1: 0, imm: N }],
      label('loop'),
      ['ecall'],
      ['addi', { rd: 5, rs1: 5, imm: -1 }],
      br('bne', 5, 0, 'loop'),
      WFI,
    ]);
    const lat = primeArray();
    const { core, status } = exec(p, { latencies: lat, handler: false, setup: (c) => c.writePhys(H, handler.bytes) });
    expect(status).toBe(RunStatus.Wfi);
    expect(core.exceptions).toBe(N);
    checkAccounting(
      core,
      counts({
        alu: li(29, BigInt(H)).length + 1 + N + N, // prologue, counter, decrements, handler addi
        csr: 1 + 2 * N,
        system: N + 1, // mret per trap + final wfi
        branch: N,
        branchTaken: N - 1,
        trap: N,
      }),
      lat,
    );
  });

  it('an interrupt entry adds trap latency and counts as trap', () => {
    const lat = primeArray();
    const H = RAM_BASE + 0x4000;
    const handler = asm([['csrrw', { rd: 0, rs1: 0, imm: 0x304 }], WFI], H);
    const p: Insn[] = [
      ...li(29, BigInt(H)),
      ['csrrw', { rd: 0, rs1: 29, imm: 0x305 }],
      ['addi', { rd: 6, rs1: 0, imm: 0x80 }],
      ['csrrw', { rd: 0, rs1: 6, imm: 0x304 }],
      ['csrrsi', { rd: 0, rs1: 8, imm: 0x300 }],
      WFI,
    ];
    const { core } = exec(p, {
      latencies: lat,
      handler: false,
      setup: (c) => {
        c.writePhys(H, handler.bytes);
        c.setMip(7, true);
      },
    });
    expect(core.interrupts).toBe(1);
    checkAccounting(core, counts({ alu: li(29, BigInt(H)).length + 1, csr: 4, system: 1, trap: 1 }), lat);
  });
});

describe('instruction limit (--max-insns) is exact', () => {
  // A loop with a load, a store, a compressed branch and a taken jump, over a page boundary.
  const N = 12;
  const loop = asm([
    ...li(10, BigInt(DATA)),
    ['addi', { rd: 8, rs1: 0, imm: N }],
    ['addi', { rd: 9, rs1: 0, imm: 0 }],
    { org: RAM_BASE + 0x1000 - 12 },
    label('loop'),
    ['ld', { rd: 7, rs1: 10, imm: 0 }],
    ['add', { rd: 9, rs1: 9, rs2: 8 }],
    ['sd', { rs1: 10, rs2: 9, imm: 0 }], // the next page starts after this
    encode('c.addi', { rd: 8, imm: -1 }),
    (at, lab) => ['c.beqz', { rs1: 10, imm: lab('out') - at }], // x10 != 0: never taken
    cbr('c.bnez', 13, 'out'), // never taken
    (at, lab) => ['c.bnez', { rs1: 8, imm: lab('loop') - at }],
    label('out'),
    (at, lab) => ['jal', { rd: 0, imm: lab('done') - at }],
    ['addi', { rd: 9, rs1: 0, imm: -1 }],
    label('done'),
    WFI,
  ]);

  /** Trace of (pc, x8, x9, cycles) after each instruction, by single-stepping with limit 1. */
  function stepTrace(p: Assembled): Array<[bigint, bigint, bigint, number]> {
    const { core } = makeCore();
    core.writePhys(p.base, p.bytes);
    core.pc = BigInt(p.base);
    const out: Array<[bigint, bigint, bigint, number]> = [];
    for (let i = 0; i < 10_000; i++) {
      const st = runProgramStep(core);
      out.push([core.pc, core.x(8), core.x(9), core.cycles]);
      if (st === RunStatus.Wfi) break;
    }
    return out;
  }
  function runProgramStep(core: Core): RunStatus {
    core.insnLimit = core.instret + 1;
    core.deadline = Infinity;
    return core.run();
  }

  it('the loop model: x9 = N + (N-1) + ... + 1', () => {
    const core = run(loop);
    expect(core.x(9)).toBe(BigInt((N * (N + 1)) / 2));
    expect(core.x(8)).toBe(0n);
    expect(core.classCounts().branchTaken).toBe(N - 1);
  });

  it('single-stepping retires exactly one instruction per call and reaches the same end state', () => {
    const trace = stepTrace(loop);
    const whole = run(loop);
    expect(trace.length).toBe(whole.instret);
    const last = trace[trace.length - 1];
    expect([last[0], last[1], last[2], last[3]]).toEqual([whole.pc, whole.x(8), whole.x(9), whole.cycles]);
  });

  const trace = stepTrace(loop);
  const Ns = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 17, 23, 31, 40, 41, 42, 55, trace.length - 1];
  it.each(Ns)('runProgram(maxInsns = %i) stops after exactly that many instructions', (n) => {
    const { core } = makeCore();
    const st = runProgram(core, loop.bytes, n);
    expect(st).toBe(RunStatus.InsnLimit);
    expect(core.instret).toBe(n);
    const [pc, x8, x9, cycles] = trace[n - 1];
    expect({ pc: hex(core.pc), x8: core.x(8), x9: core.x(9), cycles: core.cycles }).toEqual({ pc: hex(pc), x8, x9, cycles });
  });

  it('independent model: after the prologue and k whole iterations, pc is back at the loop head', () => {
    const pad = loop.at('loop') - RAM_BASE - 4 * (li(10, BigInt(DATA)).length + 2);
    const prologue = li(10, BigInt(DATA)).length + 2 + Math.floor(pad / 4) + (pad % 4) / 2;
    const perIter = 7; // ld, add, sd, c.addi, c.beqz, c.bnez, c.bnez(back)
    for (let k = 0; k < N; k++) {
      const { core } = makeCore();
      expect(runProgram(core, loop.bytes, prologue + perIter * k)).toBe(RunStatus.InsnLimit);
      let sum = 0;
      for (let i = 0; i < k; i++) sum += N - i;
      expect({ k, pc: hex(core.pc), x8: core.x(8), x9: core.x(9) }).toEqual({ k, pc: hex(loop.at('loop')), x8: BigInt(N - k), x9: BigInt(sum) });
    }
    // The whole program: prologue, N iterations, then jal and wfi.
    expect(run(loop).instret).toBe(prologue + perIter * N + 2);
  });

  it('resuming in chunks of 1..7 instructions gives the same final state as one run', () => {
    const whole = run(loop);
    for (const chunk of [1, 2, 3, 5, 7]) {
      const { core } = prepare(loop);
      let st: RunStatus = RunStatus.InsnLimit;
      let calls = 0;
      while (st === RunStatus.InsnLimit && calls < 10_000) {
        const before = core.instret;
        st = runFor(core, chunk);
        expect(core.instret - before).toBeLessThanOrEqual(chunk);
        if (st === RunStatus.InsnLimit) expect(core.instret - before).toBe(chunk);
        calls++;
      }
      expect(st).toBe(RunStatus.Wfi);
      expect(regs(core)).toEqual(regs(whole));
      expect(core.cycles).toBe(whole.cycles);
      expect(core.classCounts()).toEqual(whole.classCounts());
    }
  });

  it('a trapping instruction does not use up the limit', () => {
    // ecall traps to the default handler (wfi): with a limit of prologue + 1, the ecall is not
    // counted, so the handler's wfi is the last instruction that fits.
    const pre = li(5, 1n);
    const { core } = prepare([...pre, ['ecall'], ['addi', { rd: 5, rs1: 0, imm: 9 }]]);
    const st = runFor(core, pre.length + 1);
    expect(st).toBe(RunStatus.Wfi);
    expect(core.instret).toBe(pre.length + 1);
    expect(core.exceptions).toBe(1);
  });

  it('a limit of 0 runs nothing', () => {
    const { core } = prepare([['addi', { rd: 5, rs1: 0, imm: 1 }], WFI]);
    expect(runFor(core, 0)).toBe(RunStatus.InsnLimit);
    expect(core.instret).toBe(0);
    expect(core.x(5)).toBe(0n);
    expect(core.pc).toBe(BigInt(RAM_BASE));
  });
});

describe('determinism', () => {
  const prog = asm([
    ...li(10, BigInt(DATA)),
    ...li(11, 0x0123456789abcdefn),
    ['addi', { rd: 5, rs1: 0, imm: 40 }],
    label('loop'),
    ['mul', { rd: 11, rs1: 11, rs2: 11 }],
    ['addi', { rd: 11, rs1: 11, imm: 13 }],
    ['srli', { rd: 12, rs1: 11, imm: 7 }],
    ['xor', { rd: 11, rs1: 11, rs2: 12 }],
    ['amoadd.d', { rd: 13, rs1: 10, rs2: 11 }],
    ['divu', { rd: 14, rs1: 11, rs2: 5 }],
    ['andi', { rd: 15, rs1: 11, imm: 1 }],
    (at, lab) => ['beq', { rs1: 15, rs2: 0, imm: lab('skip') - at }],
    ['sd', { rs1: 10, rs2: 14, imm: 8 }],
    ['csrrs', { rd: 16, rs1: 0, imm: 0xb00 }],
    label('skip'),
    ['addi', { rd: 5, rs1: 5, imm: -1 }],
    br('bne', 5, 0, 'loop'),
    ['ecall'],
  ]);
  const snapshot = (core: Core) => ({
    regs: regs(core).map(hex),
    pc: hex(core.pc),
    cycles: core.cycles,
    instret: core.instret,
    counts: core.classCounts(),
    mem: Array.from(core.readPhys(DATA, 16)),
  });
  it('two fresh cores running the same program end in identical states', () => {
    const a = exec(prog).core;
    const b = exec(prog).core;
    expect(a.exceptions).toBe(1);
    expect(snapshot(a)).toEqual(snapshot(b));
    expect(a.classCounts().branchTaken).toBeGreaterThan(0);
  });
  it('and with distinct latencies', () => {
    const a = exec(prog, { latencies: primeArray() }).core;
    const b = exec(prog, { latencies: primeArray() }).core;
    expect(snapshot(a)).toEqual(snapshot(b));
    expect(a.cycles).toBe(cyclesOf(a.classCounts(), PRIMES));
  });
  it('reset() and a rerun on the same core give the same state as a fresh core', () => {
    const fresh = snapshot(exec(prog).core);
    const { core } = prepare(prog);
    runFor(core, 100_000);
    core.reset();
    core.setLatencies(latencyArrayDefault());
    const again = exec(prog).core; // reference
    // Rerun on the reset core (RAM kept: rewrite the program and data).
    core.zeroPhys(DATA, 16);
    core.writePhys(RAM_BASE, prog.bytes);
    core.writePhys(HANDLER, assemble([WFI]));
    setCsrDirect(core, 'mtvec', BigInt(HANDLER));
    core.pc = BigInt(RAM_BASE);
    runFor(core, 100_000);
    expect(snapshot(core)).toEqual(fresh);
    expect(snapshot(again)).toEqual(fresh);
  });
});
