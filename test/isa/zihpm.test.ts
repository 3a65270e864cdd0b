/**
 * Zihpm (Priv 1.12 §3.1.10 "Hardware Performance Monitor", §3.1.11 counter-enable registers,
 * §3.1.12 mcountinhibit; assembly/hpm.ts): mhpmevent3..31 select an event the core already
 * counts (event numbers in hpm.ts, docs/EXTENSIONS.md), mhpmcounter3..31 count it, mcountinhibit
 * stops them, and hpmcounter3..31 are readable below M-mode once mcounteren (and, for U-mode,
 * scounteren) enable them. Also the builtin SBI PMU extension (SBI v1.0 ch. 11, sbi-pmu.ts)
 * driving the same counters.
 */
import { describe, expect, it } from 'vitest';
import { TIMING_CLASS_COUNT } from '../../src/isa/classes.js';
import { corePmu, handlePmuCall, pmuEventValue } from '../../src/board/sbi-pmu.js';
import * as L from '../../src/generated/layout.js';
import {
  CSR, HANDLER, PRV_S, PRV_U, WFI, asm, csrr, csrw, csrwi64, enc, enterMode, exec, expectTrap, hex, li, pmpAllowAll,
  prepare, run, runFor, skipAndReturn, u64, type Insn,
} from '../helpers/isa.js';

const NOP: Insn = ['addi', { rd: 0, rs1: 0, imm: 0 }];
const MHPMCOUNTER = (n: number) => 0xb00 + n;
const HPMCOUNTER = (n: number) => 0xc00 + n;
const MHPMEVENT = (n: number) => 0x320 + n;
const MCOUNTINHIBIT = 0x320;
const EV = { cycles: 1n, instret: 2n, exceptions: 0x20001n, interrupts: 0x20002n } as const;
const unit = () => new Array<number>(TIMING_CLASS_COUNT).fill(1);

describe('mhpmevent: WARL event selectors', () => {
  it('known events read back; unknown events and bits 57:20 read 0; OF and the xINH bits read back (VSINH/VUINH too: the test harts have H)', () => {
    const vals = [1n, 2n, 0x10018n, 0x10019n, 0x10020n, 0x10021n, 0x20001n, 0x20004n, 0x20005n, 3n, 0x12345n | (1n << 30n), (1n << 63n) | 2n, (0x1fn << 58n) | 1n];
    const prog: Insn[] = vals.flatMap((v, i) => [...csrwi64(MHPMEVENT(3 + i), v), csrr(6 + i, MHPMEVENT(3 + i))]);
    const core = run([...prog, WFI]);
    const got = vals.map((_, i) => core.x(6 + i));
    expect(got.map(hex)).toEqual([1n, 2n, 0x10018n, 0x10019n, 0x10020n, 0x10021n, 0x20001n, 0x20004n, 0n, 0n, 0n, (1n << 63n) | 2n, (0x1fn << 58n) | 1n].map(hex));
  });
});

describe('mhpmcounter: counting the selected event', () => {
  it('instructions retired: a written value is the one the next instruction sees (as minstret)', () => {
    const core = run([...csrwi64(MHPMEVENT(3), EV.instret), ...li(5, 1000n), csrw(MHPMCOUNTER(3), 5), csrr(6, MHPMCOUNTER(3)), NOP, NOP, csrr(7, HPMCOUNTER(3)), WFI]);
    expect(core.x(6)).toBe(1000n);
    expect(core.x(7)).toBe(1003n);
  });

  it('cycles: counts with mcycle (unit latencies: both advance one per instruction)', () => {
    const core = run([
      ...csrwi64(MHPMEVENT(4), EV.cycles), csrw(MHPMCOUNTER(4), 0), csrw(0xb00, 0), NOP, NOP, NOP,
      csrr(6, MHPMCOUNTER(4)), csrr(7, 0xb00), WFI,
    ], { latencies: unit() });
    // mhpmcounter4 starts one instruction (the mcycle write) earlier, and is read one earlier.
    expect(core.x(6)).toBe(4n);
    expect(core.x(7)).toBe(4n);
  });

  it('exceptions taken: three ecalls handled by an M-mode handler count 3', () => {
    const r = exec([...csrwi64(MHPMEVENT(5), EV.exceptions), csrw(MHPMCOUNTER(5), 0), ['ecall'], ['ecall'], NOP, ['ecall'], csrr(6, MHPMCOUNTER(5)), ['ebreak']], {
      setup: (c) => c.writePhys(HANDLER, asm([...skipAndReturn()], HANDLER).bytes),
      maxInsns: 200,
    });
    expect(r.core.x(6)).toBe(3n);
  });

  it('a counter selecting no event (0) holds its value; changing the event keeps the value', () => {
    const core = run([
      ...li(5, 77n), csrw(MHPMCOUNTER(6), 5), NOP, NOP, csrr(6, MHPMCOUNTER(6)),
      ...csrwi64(MHPMEVENT(6), EV.instret), NOP, NOP, NOP, csrr(7, MHPMCOUNTER(6)),
      ...csrwi64(MHPMEVENT(6), 0n), NOP, csrr(8, MHPMCOUNTER(6)), WFI,
    ]);
    expect(core.x(6)).toBe(77n);
    // The event write takes effect after it retires: then 3 NOPs (the reading csrr excluded).
    expect(core.x(7)).toBe(77n + 3n);
    // The csrr and the li before the event-0 write still count; then the value holds.
    expect(csrwi64(0, 0n).length).toBe(2);
    expect(core.x(8)).toBe(77n + 3n + 2n);
  });
});

describe('mcountinhibit (Priv 1.12 §3.1.12)', () => {
  it('bits 3..31 are writable, CY/TM/IR read 0; an inhibited counter keeps its value and resumes from it', () => {
    const core = run([
      ...csrwi64(MHPMEVENT(3), EV.instret), csrw(MHPMCOUNTER(3), 0),
      NOP, NOP, // counter = 2 after these (a write is the value after the writing instruction)
      ...li(5, 8n), csrw(MCOUNTINHIBIT, 5), // li is 1 instruction: 3; the inhibiting write is not counted
      csrr(6, MHPMCOUNTER(3)), NOP, NOP, NOP, csrr(7, MHPMCOUNTER(3)),
      csrw(MCOUNTINHIBIT, 0), NOP, csrr(8, MHPMCOUNTER(3)),
      ...li(9, -1n), csrw(MCOUNTINHIBIT, 9), csrr(10, MCOUNTINHIBIT), WFI,
    ]);
    expect(li(5, 8n).length).toBe(1);
    expect(core.x(6)).toBe(core.x(7)); // frozen
    expect(core.x(6)).toBe(3n);
    expect(core.x(8)).toBe(core.x(7) + 1n); // resumes: the NOP after the enabling write
    expect(core.x(10)).toBe(0xffff_fff8n);
  });
});

describe('Sscofpmf mode filtering: mhpmevent MINH / UINH (hpm.ts hpmModeChanged)', () => {
  // M-mode sets the event, enters U-mode (mret), retires 5 NOPs there and ecalls into the wfi handler.
  const prog = (ev: bigint): Insn[] => [
    ...pmpAllowAll(), ...csrwi64(MHPMEVENT(3), ev), csrw(MHPMCOUNTER(3), 0), ...enterMode(PRV_U), NOP, NOP, NOP, NOP, NOP, ['ecall'],
  ];
  const count = (ev: bigint) => {
    const r = exec(prog(ev));
    expectTrap(r, { cause: 8 });
    return (r.core.ex as unknown as { hpmCounterRead(n: number): bigint }).hpmCounterRead(3);
  };
  const MINH = 1n << 62n, UINH = 1n << 60n;

  it('MINH: only the 5 U-mode instructions are counted (not the mret, the ecall or the handler)', () => {
    expect(count(EV.instret | MINH)).toBe(5n);
  });

  it('UINH: exactly the 5 U-mode instructions fewer than with no filter', () => {
    const all = count(EV.instret), noU = count(EV.instret | UINH);
    expect(all - noU).toBe(5n);
    expect(noU).toBeGreaterThan(5n);
  });

  it('cycles with MINH count the U-mode cycles only (unit latencies: 5)', () => {
    const r = exec(prog(EV.cycles | MINH), { latencies: unit() });
    expectTrap(r, { cause: 8 });
    expect((r.core.ex as unknown as { hpmCounterRead(n: number): bigint }).hpmCounterRead(3)).toBe(5n);
  });
});

describe('hpmcounter from U-mode once enabled (mcounteren, scounteren)', () => {
  it('U-mode reads a counting hpmcounter3 when both enable bit 3; mhpmcounter3 agrees in M-mode afterwards', () => {
    const r = exec([
      ...pmpAllowAll(), ...csrwi64(MHPMEVENT(3), EV.instret), ...csrwi64(CSR.mcounteren, 8n), ...csrwi64(CSR.scounteren, 8n),
      ...enterMode(PRV_U), csrr(6, HPMCOUNTER(3)), NOP, NOP, NOP, NOP, csrr(7, HPMCOUNTER(3)), ['ecall'],
    ]);
    expectTrap(r, { cause: 8 });
    const a = r.core.x(6), b = r.core.x(7);
    expect(a).toBeGreaterThan(0n);
    expect(b - a).toBe(5n); // the first csrr and the four NOPs
  });

  it('U-mode without scounteren.HPM3 (mcounteren set): illegal instruction, tval = the instruction', () => {
    const insn = csrr(6, HPMCOUNTER(3));
    const r = exec([...pmpAllowAll(), ...csrwi64(CSR.mcounteren, 8n), ...enterMode(PRV_U), insn, ['ecall']]);
    expectTrap(r, { cause: 2, tval: BigInt(enc(insn) >>> 0) });
  });

  it('S-mode reads hpmcounter31 with mcounteren bit 31 only (Sscounterenw: scounteren bits are writable)', () => {
    const r = exec([
      ...pmpAllowAll(), ...csrwi64(MHPMEVENT(31), EV.cycles), ...csrwi64(CSR.mcounteren, 1n << 31n),
      ...enterMode(PRV_S), ...li(5, -1n), csrw(CSR.scounteren, 5), csrr(6, CSR.scounteren), csrr(7, HPMCOUNTER(31)), ['ecall'],
    ]);
    expectTrap(r, { cause: 9 });
    expect(r.core.x(6)).toBe(0xffff_ffffn);
    expect(r.core.x(7)).toBeGreaterThan(0n);
  });
});

describe('builtin SBI PMU extension (SBI v1.0 ch. 11)', () => {
  function setup() {
    const { core } = prepare([NOP, NOP, NOP, NOP, NOP, NOP, NOP, NOP, WFI]);
    // The supervisor calls the SBI: the hart runs in S-mode (the SBI sets MINH with Sscofpmf, as
    // OpenSBI does, so M-mode would not count). PMP entry 0 opens all memory to S-mode.
    core.setCsr(L.H_PMPADDR, (1n << 54n) - 1n);
    core.setCsr(L.H_PMPCFG, 0x1fn);
    core.setCsr(L.H_PMP_ACTIVE, 1n);
    core.priv = PRV_S;
    const pmu = corePmu(core, 1);
    const call = (fid: number, ...args: bigint[]) => handlePmuCall(pmu, 0, fid, (i) => args[i] ?? 0n);
    return { core, pmu, call };
  }

  it('num_counters and counter_get_info describe 32 64-bit hardware counters (CSR 0xc00 + i)', () => {
    const { call } = setup();
    expect(call(0)).toEqual([0n, 32n]);
    expect(call(1, 3n)).toEqual([0n, (63n << 12n) | 0xc03n]);
    expect(call(1, 0n)).toEqual([0n, (63n << 12n) | 0xc00n]);
    expect(call(1, 32n)[0]).toBe(-3n);
  });

  it('event mapping: hardware, TLB cache events and raw events; firmware events are not supported', () => {
    expect(pmuEventValue(2n, 0n)).toBe(2n);
    expect(pmuEventValue(0x10019n, 0n)).toBe(0x10019n);
    expect(pmuEventValue(0x20000n, 0x20001n)).toBe(0x20001n);
    expect(pmuEventValue(0x20000n, 0x999n)).toBeNull();
    expect(pmuEventValue(0xf0000n, 0n)).toBeNull();
    expect(pmuEventValue(3n, 0n)).toBeNull(); // CACHE_REFERENCES: no counter can count it
  });

  it('config_matching + start + running the hart + stop: the counter counted the instructions in between', () => {
    const { core, pmu, call } = setup();
    // Any counter (base 0, mask all), CLEAR_VALUE: gets 3, the first programmable one, stopped.
    expect(call(2, 0n, 0xffff_ffffn, 2n, 2n, 0n)).toEqual([0n, 3n]);
    expect(core.getCsr(L.H_MCOUNTINHIBIT) & 8n).toBe(8n);
    expect(hex(pmu.event(3))).toBe(hex((1n << 62n) | 2n)); // Sscofpmf: MINH, OF clear
    expect(call(4, 3n, 1n, 0n)[0]).toBe(-8n); // already stopped
    expect(call(3, 3n, 1n, 1n, 100n)).toEqual([0n, 0n]); // start with initial value 100
    expect(call(3, 3n, 1n, 0n, 0n)[0]).toBe(-7n); // already started
    runFor(core, 100);
    expect(call(4, 3n, 1n, 0n)).toEqual([0n, 0n]);
    // It counted every instruction the hart retired while it ran (instret is the same source).
    expect(core.instret).toBeGreaterThanOrEqual(8);
    expect(pmu.counterRead(3)).toBe(100n + BigInt(core.instret));
    const held = pmu.counterRead(3), before = core.instret;
    runFor(core, 100); // stopped: holds while the hart retires more
    expect(core.instret).toBeGreaterThan(before);
    expect(pmu.counterRead(3)).toBe(held);
    // A second matching call takes the next free counter; SKIP_MATCH names the configured one.
    expect(call(2, 0n, 0xffff_ffffn, 0n, 1n, 0n)).toEqual([0n, 4n]);
    expect(call(2, 3n, 1n, 1n, 2n, 0n)).toEqual([0n, 3n]);
    // Stop with RESET frees 4; start on a free counter is an invalid parameter.
    expect(call(4, 4n, 1n, 1n)[0]).toBe(-8n); // 4 was never started (config without AUTO_START)
    expect(call(3, 5n, 1n, 0n, 0n)[0]).toBe(-3n);
    expect(call(5, 3n)[0]).toBe(-3n); // no firmware counters
    expect(call(2, 0n, 0xffff_ffffn, 0n, 0xf0000n, 0n)[0]).toBe(-2n);
  });

  it('Sscofpmf sampling as Linux drives it: SET_UINH, start with an initial value near the wrap, LCOFI, restart re-arms OF only once LCOFIP is clear', () => {
    const { core, pmu, call } = setup();
    // config_matching(any, flags = CLEAR_VALUE | SET_UINH (bit 5), INSTRUCTIONS): MINH | UINH, OF clear.
    expect(call(2, 0n, 0xffff_ffffn, 2n | (1n << 5n), 2n, 0n)).toEqual([0n, 3n]);
    expect(hex(pmu.event(3))).toBe(hex((1n << 62n) | (1n << 60n) | 2n));
    // start at 2^64 - 5: the 5th S-mode instruction wraps it.
    expect(call(3, 3n, 1n, 1n, (1n << 64n) - 5n)).toEqual([0n, 0n]);
    runFor(core, 100);
    expect(pmu.event(3) >> 63n).toBe(1n); // OF
    expect((core.getCsr(L.H_MIP) >> 13n) & 1n).toBe(1n); // LCOFIP (mie is 0 here: not taken)
    expect(call(4, 3n, 1n, 0n)).toEqual([0n, 0n]);
    // While LCOFIP is pending a restart leaves OF set (the overflow is not yet serviced) ...
    expect(call(3, 3n, 1n, 1n, (1n << 64n) - 5n)).toEqual([0n, 0n]);
    expect(pmu.event(3) >> 63n).toBe(1n);
    expect(call(4, 3n, 1n, 0n)).toEqual([0n, 0n]);
    // ... once the supervisor cleared sip.LCOFIP, the restart clears OF: armed again.
    core.setCsr(L.H_MIP, core.getCsr(L.H_MIP) & ~(1n << 13n));
    expect(call(3, 3n, 1n, 1n, (1n << 64n) - 5n)).toEqual([0n, 0n]);
    expect(pmu.event(3) >> 63n).toBe(0n);
    expect(core.getCsr(L.H_HPM_ARMED)).toBe(8n);
  });
});
