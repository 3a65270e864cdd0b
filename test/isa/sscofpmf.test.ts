/**
 * Sscofpmf counter overflow (Sscofpmf 1.0 "Count Overflow Control", "scountovf"; assembly/hpm.ts
 * hpmOvfUpdate / hpmOvfCheck, run.ts): mhpmevent.OF is set when a counter wraps by counting, a
 * wrap with OF = 0 raises the local counter-overflow interrupt (LCOFI, mip/mie/sip/sie bit 13,
 * cause 13), delegable through mideleg and, for VS-mode, hideleg. scountovf shows the OF bits,
 * filtered by mcounteren (and hcounteren in VS-mode).
 *
 * Counters are derived at read time, so the wrap is a deadline: exact to the instruction for
 * instret counters (the block stops after the wrapping instruction, however the host slices the
 * run), at the first block boundary at or after it for cycle counters, and at the next block
 * boundary for the other events.
 */
import { describe, expect, it } from 'vitest';
import * as L from '../../src/generated/layout.js';
import { TIMING_CLASS_COUNT } from '../../src/isa/classes.js';
import { extMaskOf, resolveCpu } from '../../src/board/cpu.js';
import {
  CODE, CSR, HANDLER, INTERRUPT, MS, PRV_S, PRV_U, RunStatus, WFI, asm, csrr, csrw, csrwi64, enterMode, exec, expectTrap, hex,
  li, pmpAllowAll, prepare, skipAndReturn, type Insn,
} from '../helpers/isa.js';
import type { Core } from '../../src/core.js';

const MHPMCOUNTER = (n: number) => 0xb00 + n;
const HPMCOUNTER = (n: number) => 0xc00 + n;
const MHPMEVENT = (n: number) => 0x320 + n;
const SCOUNTOVF = 0xda0;
const EV_CYCLES = 1n, EV_INSTRET = 2n, EV_EXCEPTIONS = 0x20001n;
const OF = 1n << 63n;
const LCOF = 1n << 13n;
const LCOFI = INTERRUPT | 13n;
const inc6: Insn = ['addi', { rd: 6, rs1: 6, imm: 1 }];
const unit = () => new Array<number>(TIMING_CLASS_COUNT).fill(1);
const pc = (prog: Insn[], i: number) => BigInt(CODE + 4 * i); // every test instruction is 4 bytes
/**
 * The M-mode handler: mie = 0 (LCOFIP stays pending, and a pending enabled interrupt would make
 * wfi fall through), then wfi.
 */
const M_HANDLER = (extra: Insn[] = []) => (c: Core) => c.writePhys(HANDLER, asm([...extra, csrw(CSR.mie, 0), WFI], HANDLER).bytes);
const hpmRead = (c: Core, n: number) => (c.ex as unknown as { hpmCounterRead(n: number): bigint }).hpmCounterRead(n);

/**
 * M-mode: counter 3 counts instructions from 2^64 - k (the value after the writing instruction),
 * LCOFIE and mstatus.MIE on, then 40 increments of x6. The k-th instruction after the counter
 * write wraps it; LCOFI is taken before the next one.
 */
function instretProg(k: bigint, ev = EV_INSTRET): Insn[] {
  return [
    ...csrwi64(CSR.mie, LCOF), ['csrrsi', { rd: 0, rs1: 8, imm: CSR.mstatus }], // MIE
    ...csrwi64(MHPMEVENT(3), ev), ...li(5, -k), csrw(MHPMCOUNTER(3), 5),
    ...new Array<Insn>(40).fill(inc6), WFI,
  ];
}

describe('overflow of an instret counter: LCOFI exactly after the wrapping instruction', () => {
  for (const k of [1n, 2n, 17n, 33n]) {
    it(`counter written to 2^64 - ${k}: the interrupt comes after ${k} more instructions`, () => {
      const prog = instretProg(k);
      const r = exec(prog, { setup: M_HANDLER() });
      const c = r.core;
      expect(r.status).toBe(RunStatus.Wfi);
      expect(hex(c.getCsr(L.H_MCAUSE))).toBe(hex(LCOFI));
      // The counter write is instruction `w`; k increments retired, the (k+1)-th was interrupted.
      const w = prog.findIndex((i) => Array.isArray(i) && i[0] === 'csrrw' && i[1]?.imm === MHPMCOUNTER(3));
      expect(c.x(6)).toBe(k);
      expect(hex(c.getCsr(L.H_MEPC))).toBe(hex(pc(prog, w + 1 + Number(k))));
      expect(hex(c.getCsr(L.H_HPM_EVENT))).toBe(hex(OF | EV_INSTRET)); // OF set by the overflow
      expect(c.getCsr(L.H_MIP) & LCOF).toBe(LCOF);
    });
  }

  it('the same instruction whatever the host slicing (runs of 1, 3 and 7 instructions)', () => {
    const prog = instretProg(23n);
    const ref = exec(prog, { setup: M_HANDLER() }).core;
    expect(ref.x(6)).toBe(23n);
    for (const slice of [1, 3, 7]) {
      const { core } = prepare(prog, { setup: M_HANDLER() });
      let st = RunStatus.InsnLimit;
      for (let i = 0; i < 500 && st !== RunStatus.Wfi; i++) {
        core.insnLimit = core.instret + slice;
        core.deadline = core.cycles + 1_000_000;
        st = core.run();
      }
      expect(st).toBe(RunStatus.Wfi);
      expect([core.x(6), hex(core.getCsr(L.H_MEPC)), core.instret, core.cycles]).toEqual([ref.x(6), hex(ref.getCsr(L.H_MEPC)), ref.instret, ref.cycles]);
    }
  });

  it('OF already 1: the counter wraps silently (no interrupt), OF stays set', () => {
    const prog = instretProg(5n, OF | EV_INSTRET);
    const r = exec(prog);
    expect(r.core.interrupts).toBe(0);
    expect(r.core.x(6)).toBe(40n);
    expect(r.core.getCsr(L.H_MIP) & LCOF).toBe(0n);
    expect(hex(r.core.getCsr(L.H_HPM_EVENT))).toBe(hex(OF | EV_INSTRET));
    expect(hpmRead(r.core, 3)).toBe(40n - 5n + 1n); // wrapped: the 5th increment made it 0
  });

  it('writes never overflow: writing 2^64 - 1 then 0, an inhibited counter at 2^64 - 1', () => {
    const r = exec([
      ...csrwi64(MHPMEVENT(3), EV_INSTRET), ...li(5, -1n), csrw(MHPMCOUNTER(3), 5), csrw(MHPMCOUNTER(3), 0),
      ...csrwi64(MHPMEVENT(4), EV_INSTRET), ...csrwi64(0x320, 1n << 4n), ...li(5, -1n), csrw(MHPMCOUNTER(4), 5),
      inc6, inc6, inc6, csrr(7, MHPMCOUNTER(4)), WFI,
    ]);
    expect(r.status).toBe(RunStatus.Wfi);
    expect(r.core.getCsr(L.H_MIP) & LCOF).toBe(0n);
    expect(r.core.x(7)).toBe((1n << 64n) - 1n);
    expect(r.core.getCsr(L.H_HPM_EVENT) & OF).toBe(0n);
    expect(r.core.getCsr(L.H_HPM_EVENT + 8) & OF).toBe(0n);
  });

  it('with mstatus.MIE = 0 the overflow still sets OF and LCOFIP (the interrupt waits)', () => {
    const prog = instretProg(3n).filter((i) => !(Array.isArray(i) && i[0] === 'csrrsi'));
    const r = exec([...prog.slice(0, -1), csrr(8, CSR.mip), WFI]);
    expect(r.core.interrupts).toBe(0);
    expect(r.core.x(8) & LCOF).toBe(LCOF);
    expect(r.core.getCsr(L.H_HPM_EVENT) & OF).toBe(OF);
  });
});

describe('overflow of a cycles counter and of a trap-count event', () => {
  it('cycles: LCOFI at the first block boundary at or after the wrap (a loop back-edge)', () => {
    const prog: Insn[] = [
      ...csrwi64(CSR.mie, LCOF), ['csrrsi', { rd: 0, rs1: 8, imm: CSR.mstatus }],
      ...csrwi64(MHPMEVENT(3), EV_CYCLES), ...li(5, -1000n), csrw(MHPMCOUNTER(3), 5),
      ...li(7, 100_000n),
      inc6, ['bne', { rs1: 6, rs2: 7, imm: -4 }], WFI,
    ];
    const r = exec(prog, {
      latencies: unit(),
      setup: M_HANDLER([csrr(10, MHPMCOUNTER(3))]),
    });
    expect(hex(r.core.getCsr(L.H_MCAUSE))).toBe(hex(LCOFI));
    // Unit latencies: the li (2 instructions here) then 2 cycles per iteration; the counter is
    // at most one instruction past 0 at the boundary, plus the trap entry's cycle when read.
    expect(r.core.x(10)).toBeGreaterThanOrEqual(1n);
    expect(r.core.x(10)).toBeLessThanOrEqual(2n);
    expect(r.core.x(6)).toBeGreaterThan(400n);
    expect(r.core.x(6)).toBeLessThan(500n);
  });

  it('exceptions taken: the 2nd ecall wraps a counter at 2^64 - 2; LCOFIP is pending when its handler returns', () => {
    const r = exec([
      ...csrwi64(MHPMEVENT(5), EV_EXCEPTIONS), ...li(5, -2n), csrw(MHPMCOUNTER(5), 5),
      ['ecall'], csrr(9, CSR.mip), ['ecall'], csrr(10, CSR.mip), csrr(11, MHPMEVENT(5)), WFI,
    ], { setup: (c) => c.writePhys(HANDLER, asm([...skipAndReturn()], HANDLER).bytes) });
    expect(r.status).toBe(RunStatus.Wfi);
    expect(r.core.x(9) & LCOF).toBe(0n);
    expect(r.core.x(10) & LCOF).toBe(LCOF);
    expect(hex(r.core.x(11))).toBe(hex(OF | EV_EXCEPTIONS));
  });
});

describe('LCOFI delegated to S-mode; scountovf', () => {
  // S-mode handler at HANDLER + 0x100: scause, scountovf, sip; clears sip.LCOFIP; wfi.
  const SH = HANDLER + 0x100;
  const sHandler = asm([
    csrr(10, CSR.scause), csrr(11, SCOUNTOVF), csrr(12, CSR.sip), ...li(13, LCOF), ['csrrc', { rd: 0, rs1: 13, imm: CSR.sip }],
    csrr(14, CSR.sip), WFI,
  ], SH).bytes;
  const sProg = (mcounteren: bigint): Insn[] => [
    ...pmpAllowAll(), ...csrwi64(CSR.mideleg, LCOF), ...csrwi64(CSR.stvec, BigInt(SH)), ...csrwi64(CSR.mcounteren, mcounteren),
    ...csrwi64(MHPMEVENT(3), EV_INSTRET | (1n << 62n)), // MINH: counts S-mode only
    ...li(5, -10n), csrw(MHPMCOUNTER(3), 5), ...enterMode(PRV_S),
    ...csrwi64(CSR.sie, LCOF), ['csrrsi', { rd: 0, rs1: 2, imm: CSR.sstatus }], // sie.LCOFIE, SIE
    ...new Array<Insn>(30).fill(inc6), WFI,
  ];

  it('S-mode takes LCOFI (scause 13) after exactly 10 S-mode instructions; scountovf bit 3; sip.LCOFIP cleared by software', () => {
    const r = exec(sProg(8n), { setup: (c) => c.writePhys(SH, sHandler) });
    const c = r.core;
    expect(r.status).toBe(RunStatus.Wfi);
    expect(c.priv).toBe(PRV_S);
    expect(hex(c.x(10))).toBe(hex(LCOFI));
    // In S-mode: li x5 (1) + csrw sie + csrrsi (2) = 3 instructions, then 7 increments.
    expect(c.x(6)).toBe(7n);
    expect(hex(c.x(11))).toBe(hex(8n));
    expect(c.x(12) & LCOF).toBe(LCOF);
    expect(c.x(14) & LCOF).toBe(0n);
  });

  it('scountovf bit 3 reads 0 in S-mode without mcounteren bit 3; M-mode reads it', () => {
    const r = exec(sProg(0n), { setup: (c) => c.writePhys(SH, sHandler) });
    expect(hex(r.core.x(10))).toBe(hex(LCOFI));
    expect(r.core.x(11)).toBe(0n);
    const m = exec([...csrwi64(MHPMEVENT(7), OF | EV_INSTRET), csrr(6, SCOUNTOVF), WFI]);
    expect(hex(m.core.x(6))).toBe(hex(1n << 7n));
  });

  it('scountovf from U-mode is an illegal instruction (an S-level CSR); it is read-only', () => {
    const insn = csrr(6, SCOUNTOVF);
    expectTrap(exec([...pmpAllowAll(), ...enterMode(PRV_U), insn, WFI]), { cause: 2 });
    expectTrap(exec([csrw(SCOUNTOVF, 0), WFI]), { cause: 2 });
  });

  it('mideleg / mie / mip / sie bit 13 are writable; hideleg bit 13 only with Shlcofideleg (off by default)', () => {
    const prog: Insn[] = [
      ...csrwi64(CSR.mideleg, -1n), csrr(6, CSR.mideleg), ...csrwi64(CSR.mie, LCOF), csrr(7, CSR.sie),
      ...csrwi64(CSR.mip, LCOF), csrr(8, CSR.sip), ...csrwi64(0x603, -1n), csrr(9, 0x603), ...csrwi64(CSR.mie, 0n), WFI,
    ];
    const r = exec(prog);
    expect(r.core.x(6) & LCOF).toBe(LCOF);
    expect(r.core.x(7)).toBe(LCOF);
    expect(r.core.x(8) & LCOF).toBe(LCOF);
    // H ext. "hideleg": bit 13 is read-only zero unless Shlcofideleg is implemented.
    expect(hex(r.core.x(9))).toBe('0x444');
    // The core's default mask (isaext.ts extOn) leaves Shlcofideleg off, as --cpu rv64 does.
    const ext = (r.core.ex as unknown as { getExtensions(): number }).getExtensions();
    expect(ext).toBe(extMaskOf(resolveCpu({}, true).ext));
    expect(hex(exec(prog, { setup: shlcofideleg }).core.x(9))).toBe('0x2444');
  });
});

describe('--cpu rv64,sscofpmf=off', () => {
  const off = (c: Core) => {
    const ext = resolveCpu({ ext: { Sscofpmf: false } }, true).ext;
    (c.ex as unknown as { setExtensions(m: number): void }).setExtensions(extMaskOf(ext));
  };
  it('no scountovf, OF and xINH read 0, bit 13 of mideleg / mie / mip is not writable, no interrupt', () => {
    const r = exec([
      ...csrwi64(MHPMEVENT(3), OF | (1n << 62n) | EV_INSTRET), csrr(6, MHPMEVENT(3)),
      ...csrwi64(CSR.mideleg, LCOF), csrr(7, CSR.mideleg), ...csrwi64(CSR.mie, LCOF), csrr(8, CSR.mie),
      ...csrwi64(CSR.mip, LCOF), csrr(9, CSR.mip), csrr(10, SCOUNTOVF), WFI,
    ], { setup: off });
    expectTrap(r, { cause: 2 }); // the scountovf read
    expect(r.core.x(6)).toBe(EV_INSTRET);
    expect(r.core.x(7) & LCOF).toBe(0n);
    expect(r.core.x(8) & LCOF).toBe(0n);
    expect(r.core.x(9) & LCOF).toBe(0n);
    const w = exec(instretProg(3n), { setup: off });
    expect(w.status).toBe(RunStatus.Wfi);
    expect(w.core.interrupts).toBe(0);
    expect(w.core.x(6)).toBe(40n);
  });
});

describe('VS-mode: LCOFI through hideleg (H extension, Shlcofideleg)', () => {
  it('hideleg bit 13 (Shlcofideleg): VS-mode takes LCOFI with vscause 13; vsip / vsie alias bit 13; scountovf needs hcounteren', () => {
    const VSH = HANDLER + 0x200;
    // vsie = 0 before wfi: a pending enabled interrupt makes wfi fall through.
    const vsHandler = asm([csrr(10, CSR.scause), csrr(11, SCOUNTOVF), csrr(12, CSR.sip), csrr(13, CSR.sie), csrw(CSR.sie, 0), WFI], VSH).bytes;
    const prog: Insn[] = [
      ...pmpAllowAll(), ...csrwi64(CSR.mideleg, LCOF), ...csrwi64(0x603, LCOF), // hideleg
      ...csrwi64(CSR.mie, LCOF), ...csrwi64(0x205, BigInt(VSH)), // vstvec
      ...csrwi64(0x200, 2n), // vsstatus.SIE
      ...csrwi64(CSR.mcounteren, 8n), ...csrwi64(0x606, 8n), // hcounteren
      ...csrwi64(MHPMEVENT(3), EV_INSTRET | (1n << 62n)), ...li(5, -6n), csrw(MHPMCOUNTER(3), 5),
      // mret to VS-mode: MPP = S, MPV = 1.
      ...csrwi64(CSR.mstatus, mppS | (1n << 39n)), ['auipc', { rd: 5, imm: 0 }], ['addi', { rd: 5, rs1: 5, imm: 16 }], csrw(CSR.mepc, 5), ['mret'],
      ...new Array<Insn>(20).fill(inc6), WFI,
    ];
    const r = exec(prog, { setup: (c) => { c.writePhys(VSH, vsHandler); M_HANDLER()(c); shlcofideleg(c); } });
    const c = r.core;
    expect(r.status).toBe(RunStatus.Wfi);
    expect(c.getCsr(L.H_VIRT)).toBe(1n);
    expect(hex(c.x(10))).toBe(hex(LCOFI)); // vscause, not shifted (13 is no VS-level triple)
    expect(c.x(6)).toBe(6n); // MINH: the 6 VS-mode increments, exactly
    expect(hex(c.x(11))).toBe(hex(8n));
    expect(c.x(12) & LCOF).toBe(LCOF); // vsip.LCOFIP
    expect(c.x(13) & LCOF).toBe(LCOF); // vsie.LCOFIE
    expect(hex(c.getCsr(L.H_MSTATUS) & MS.MIE)).toBe('0x0');
  });
});
const mppS = BigInt(PRV_S) << 11n;
/** --cpu rv64,shlcofideleg=on on a test core. */
function shlcofideleg(c: Core): void {
  (c.ex as unknown as { setExtensions(m: number): void }).setExtensions(extMaskOf(resolveCpu({ ext: { Shlcofideleg: true } }, true).ext));
}
