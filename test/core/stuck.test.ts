/**
 * Runaway guests (issue 8 item 1): a hart that takes `stuckLimit` (default 1000) traps in a row
 * without retiring an instruction makes run() return RunStatus.Stuck, with the last trap's cause,
 * pc and the xtvec of the mode it went to. Before this, such a hart spun forever: a trap costs a
 * cycle but retires nothing, so --max-insns never ran out (the issue's `boot --bios none` kernel
 * took 262 M exceptions in 60 s). A hart whose handlers retire anything between traps — an
 * interrupt storm served by a one-instruction handler, an ecall loop — is never stuck.
 */
import { describe, expect, it } from 'vitest';
import { RunStatus } from '../../src/core.js';
import * as L from '../../src/generated/layout.js';
import {
  asm, CSR, csrw, csrwi64, exec, HANDLER, IRQ, jal, label, li, MS, prepare, runFor, setCsrDirect, skipAndReturn,
} from '../helpers/isa.js';

const ILLEGAL = 0; // the all-zero parcel is illegal (Unpriv 16.1)

describe('stuck hart detection (trap streaks without retirement)', () => {
  it('a handler address that faults: stuck after exactly 1000 traps, the last one reported', () => {
    // mtvec = 0 (reset value, nothing there): the illegal instruction traps to 0, whose fetch
    // faults, which traps to 0 again (Priv 1.12 §3.1.7: mtvec BASE is where every trap goes).
    const r = exec([['addi', { rd: 5, rs1: 0, imm: 1 }], ['addi', { rd: 5, rs1: 5, imm: 1 }], ILLEGAL], {
      handler: false,
      maxInsns: 50_000_000,
    });
    expect(r.status).toBe(RunStatus.Stuck);
    expect(r.core.exceptions).toBe(1000);
    expect(r.core.instret).toBe(2); // instret stays exact: the two addi only
    const t = r.core.stuckTrap();
    expect(t).toEqual({ cause: 1n, pc: 0n, tvec: 0n }); // fetch access fault at 0, mtvec 0
    expect(r.core.pc).toBe(0n); // the 1000th trap was taken
    expect(r.core.get64(L.H_MCAUSE)).toBe(1n);
  });

  it('the threshold is configurable, and 0 turns the detector off', () => {
    const prog = [ILLEGAL];
    const a = prepare(prog, { handler: false });
    a.core.stuckLimit = 7;
    expect(runFor(a.core, 1000)).toBe(RunStatus.Stuck);
    expect(a.core.exceptions).toBe(7);

    const b = prepare(prog, { handler: false });
    b.core.stuckLimit = 0;
    b.core.insnLimit = 1000;
    b.core.deadline = 100_000; // each trap costs >= 1 cycle, so the deadline still ends the run
    expect(b.core.run()).toBe(RunStatus.Deadline);
    expect(b.core.exceptions).toBeGreaterThan(1000);
  });

  it('the streak survives run() slices and reports the xtvec value with its MODE bits', () => {
    // mtvec vectored (MODE 1) at an unmapped address: exceptions go to BASE (Priv 1.12 §3.1.7).
    const { core } = prepare([ILLEGAL], { handler: false });
    setCsrDirect(core, 'mtvec', 0x1000n | 1n);
    core.insnLimit = Infinity;
    let st = RunStatus.Deadline;
    let calls = 0;
    while (st === RunStatus.Deadline && calls < 10_000) {
      core.deadline = core.cycles + 3; // a few traps per call
      st = core.run();
      calls++;
    }
    expect(st).toBe(RunStatus.Stuck);
    expect(calls).toBeGreaterThan(100);
    expect(core.exceptions).toBe(1000);
    expect(core.stuckTrap()).toEqual({ cause: 1n, pc: 0x1000n, tvec: 0x1001n });
  });

  it('an S-mode trap reports stvec', () => {
    // Illegal instructions delegated to S (medeleg bit 2), stvec at an unmapped address whose
    // fetch fault (cause 1) is delegated too: the hart loops in S-mode.
    const p = asm([
      ...csrwi64(CSR.medeleg, (1n << 2n) | (1n << 1n)),
      ...csrwi64(CSR.stvec, 0x2000n),
      ...csrwi64(CSR.pmpaddr0, (1n << 54n) - 1n),
      ...csrwi64(CSR.pmpcfg0, 0x1fn),
      ...csrwi64(CSR.mstatus, 1n << 11n), // MPP = S
      ['auipc', { rd: 5, imm: 0 }],
      ['addi', { rd: 5, rs1: 5, imm: 16 }],
      csrw(CSR.mepc, 5),
      ['mret'],
      ILLEGAL,
    ]);
    const r = exec(p, { handler: false, maxInsns: 1_000_000 });
    expect(r.status).toBe(RunStatus.Stuck);
    expect(r.core.priv).toBe(1);
    expect(r.core.stuckTrap()).toEqual({ cause: 1n, pc: 0x2000n, tvec: 0x2000n });
  });

  it('a trap loop whose handler retires instructions is not stuck (ecall, handler skips it)', () => {
    const p = asm([label('top'), ['ecall'], jal(0, 'top')]);
    const { core } = prepare(p, { handler: false });
    core.writePhys(HANDLER, asm(skipAndReturn(), HANDLER).bytes);
    setCsrDirect(core, 'mtvec', BigInt(HANDLER));
    expect(runFor(core, 200_000)).toBe(RunStatus.InsnLimit);
    expect(core.exceptions).toBeGreaterThan(20_000);
  });

  it('an interrupt storm whose handler retires one instruction (mret) is not stuck', () => {
    // MTIP stays pending and enabled: every mret re-enables MIE and the interrupt is taken again
    // at once (Priv 1.12 §3.1.9). Each handler run retires its mret, so no streak builds up.
    const p = asm([...csrwi64(CSR.mie, 1n << BigInt(IRQ.MTI)), ...csrwi64(CSR.mstatus, MS.MIE), label('spin'), jal(0, 'spin')]);
    const { core } = prepare(p, { handler: false });
    core.writePhys(HANDLER, asm([['mret']], HANDLER).bytes);
    setCsrDirect(core, 'mtvec', BigInt(HANDLER));
    core.setMip(IRQ.MTI, true);
    expect(runFor(core, 100_000)).toBe(RunStatus.InsnLimit);
    expect(core.interrupts).toBeGreaterThan(10_000);
  });

  it('interrupts count: an interrupt into a handler address that faults ends stuck', () => {
    const p = asm([
      ...li(6, 0x3000n),
      csrw(CSR.mtvec, 6),
      ...csrwi64(CSR.mie, 1n << BigInt(IRQ.MTI)),
      ...csrwi64(CSR.mstatus, MS.MIE),
      label('spin'),
      jal(0, 'spin'),
    ]);
    const { core } = prepare(p, { handler: false });
    core.setMip(IRQ.MTI, true);
    expect(runFor(core, 100_000)).toBe(RunStatus.Stuck);
    expect(core.interrupts).toBe(1);
    expect(core.exceptions).toBe(999); // the interrupt starts the streak, the fetch faults end it
    expect(core.stuckTrap()).toEqual({ cause: 1n, pc: 0x3000n, tvec: 0x3000n });
    // The first trap of the streak was the interrupt (it found instret changed since reset).
    expect(core.get64(L.H_MEPC)).toBe(0x3000n);
  });

  it('one retired instruction between traps resets the streak (handler = mret back to the fault)', () => {
    // The handler retires only its mret and returns to the same illegal instruction (mepc
    // unchanged): trap, retire, trap, ... Each trap finds instret changed, so no streak.
    const { core } = prepare([ILLEGAL], { handler: false });
    core.writePhys(HANDLER, asm([['mret']], HANDLER).bytes);
    setCsrDirect(core, 'mtvec', BigInt(HANDLER));
    core.stuckLimit = 2;
    expect(runFor(core, 10_000)).toBe(RunStatus.InsnLimit);
    expect(core.exceptions).toBe(10_000);
  });
});
