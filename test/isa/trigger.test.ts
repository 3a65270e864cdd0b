/**
 * Sdtrig debug triggers (RISC-V Debug Specification 1.0 ch. 5; assembly/trigger.ts): the CSRs'
 * WARL behaviour, mcontrol6 load/store/execute matches in U/S/M with their mode filters and the
 * re-entrancy rule (§5.4 option 1), icount, the host-TLB interplay (arming a data trigger must
 * drop mappings filled before) and that armed-but-silent triggers change no count. The bare-metal
 * program test/guests/triggers.c checks the M-mode behaviour end to end (guests.test.ts).
 *
 * Each program starts in M-mode at CODE; the M handler at HANDLER (and the S handler at SH) stop the
 * run with wfi, so a test sees the first trap.
 */
import { describe, expect, it } from 'vitest';
import * as L from '../../src/generated/layout.js';
import type { Core } from '../../src/core.js';
import {
  CODE,
  CSR,
  DATA,
  HANDLER,
  MS,
  PRV_M,
  PRV_S,
  PRV_U,
  RunStatus,
  WFI,
  asm,
  csrOf,
  csrr,
  csrw,
  csrwi64,
  csrsi64,
  enterMode,
  exec,
  hex,
  label,
  li,
  pmpAllowAll,
  prepare,
  runFor,
  setCsrDirect,
  br,
  type AsmItem,
  type Insn,
} from '../helpers/isa.js';

const T = { tselect: 0x7a0, tdata1: 0x7a1, tdata2: 0x7a2, tdata3: 0x7a3, tinfo: 0x7a4, tcontrol: 0x7a5 } as const;
const SH = CODE + 0xf8000;
const NOP: Insn = ['addi', { rd: 0, rs1: 0, imm: 0 }];
const bit = (n: number): bigint => 1n << BigInt(n);
const type = (t: number): bigint => BigInt(t) << 60n;
const MC6 = { M: bit(6), S: bit(4), U: bit(3), EXEC: bit(2), STORE: bit(1), LOAD: bit(0), HIT0: bit(22) };
const IC = { M: bit(9), S: bit(7), U: bit(6), PENDING: bit(8), HIT: bit(24), count: (n: number) => BigInt(n) << 10n };

/** Program trigger `i` (tdata1 = 0, tdata2, tdata1) from M-mode; clobbers x5. */
function trig(i: number, tdata1: bigint, tdata2: bigint): Insn[] {
  return [...csrwi64(T.tselect, BigInt(i)), csrw(T.tdata1, 0), ...csrwi64(T.tdata2, tdata2), ...csrwi64(T.tdata1, tdata1)];
}

function run(items: AsmItem[], setup?: (c: Core) => void, maxInsns = 10_000) {
  const p = asm(items);
  const mh = asm([WFI], HANDLER);
  const sh = asm([WFI], SH);
  const r = exec(p, {
    handler: false,
    maxInsns,
    setup: (c) => {
      c.writePhys(HANDLER, mh.bytes);
      c.writePhys(SH, sh.bytes);
      setCsrDirect(c, 'mtvec', BigInt(HANDLER));
      setCsrDirect(c, 'stvec', BigInt(SH));
      setup?.(c);
    },
  });
  return { ...r, p };
}

/** The run stopped in the M (or S) handler after one breakpoint with this epc and tval. */
function expectBreakpoint(r: ReturnType<typeof run>, epc: number, tval: bigint | number, to: 'M' | 'S' = 'M', from?: number) {
  const c = r.core;
  const [cause, e, tv] = to === 'M' ? (['mcause', 'mepc', 'mtval'] as const) : (['scause', 'sepc', 'stval'] as const);
  expect({ status: r.status, traps: c.exceptions, cause: csrOf(c, cause), epc: hex(csrOf(c, e)), tval: hex(csrOf(c, tv)) }).toEqual({
    status: RunStatus.Wfi,
    traps: 1,
    cause: 3n,
    epc: hex(epc),
    tval: hex(BigInt(tval)),
  });
  if (from !== undefined) {
    const ms = csrOf(c, 'mstatus');
    expect(to === 'M' ? Number((ms >> 11n) & 3n) : Number((ms >> 8n) & 1n)).toBe(from);
  }
}

// =============================================================================================
describe('trigger CSRs (WARL)', () => {
  /** Run `body` in M-mode, then stop; returns the core. */
  const m = (body: Insn[]): Core => {
    const r = run([...body, WFI]);
    expect(r.core.exceptions, `mcause ${hex(csrOf(r.core, 'mcause'))}`).toBe(0);
    return r.core;
  };

  it('4 triggers: tselect keeps 0..3 and ignores larger values; tinfo = version 1, types 3, 6, 15', () => {
    const c = m([...csrwi64(T.tselect, 3n), csrr(6, T.tselect), ...csrwi64(T.tselect, 4n), csrr(7, T.tselect), csrr(8, T.tinfo)]);
    expect([c.x(6), c.x(7), hex(c.x(8))]).toEqual([3n, 3n, '0x1008048']);
  });

  it('tdata1: 0, 15 and unimplemented types (2, 4, 5, 7) read back as disabled (type 15)', () => {
    const body: Insn[] = [];
    const types = [0, 15, 2, 4, 5, 7];
    types.forEach((t, k) => body.push(...csrwi64(T.tdata1, t === 0 ? 0n : type(t) | 0x7fn), csrr(10 + k, T.tdata1)));
    const c = m(body);
    for (let k = 0; k < types.length; k++) expect(hex(c.x(10 + k))).toBe(hex(type(15)));
  });

  it('mcontrol6: m/s/u/execute/store/load, match 0-3/8/9 and size are kept; action, chain, select, dmode, vs/vu, mask matches are not', () => {
    const keep = type(6) | MC6.M | MC6.S | MC6.U | MC6.STORE | MC6.LOAD | (9n << 7n) | (5n << 16n) | MC6.HIT0;
    const junk = bit(59) | (1n << 12n) | bit(11) | bit(21) | bit(23) | bit(24) | bit(25) | bit(26) | bit(5);
    const c = m([
      ...csrwi64(T.tdata1, keep), csrr(10, T.tdata1),
      ...csrwi64(T.tdata1, keep | junk), csrr(11, T.tdata1),
      ...csrwi64(T.tdata1, type(6) | MC6.M | MC6.LOAD | (4n << 7n)), csrr(12, T.tdata1), // mask low: not implemented
      ...csrwi64(T.tdata1, type(6) | MC6.M | MC6.EXEC | (3n << 16n)), csrr(13, T.tdata1), // execute keeps size 0
      ...csrwi64(T.tdata1, type(6) | MC6.M | MC6.LOAD | (4n << 16n)), csrr(14, T.tdata1), // 48-bit: no loads that size
    ]);
    expect(hex(c.x(10))).toBe(hex(keep));
    expect(hex(c.x(11))).toBe(hex(keep));
    expect(hex(c.x(12))).toBe(hex(type(6) | MC6.M | MC6.LOAD));
    expect(hex(c.x(13))).toBe(hex(type(6) | MC6.M | MC6.EXEC));
    expect(hex(c.x(14))).toBe(hex(type(6) | MC6.M | MC6.LOAD));
  });

  it('icount: count, m/s/u, pending, hit kept; action 0', () => {
    const v = type(3) | IC.count(0x3fff) | IC.M | IC.S | IC.U | IC.HIT;
    const c = m([...csrwi64(T.tdata1, v | 0x3fn /* action */ | bit(25) | bit(26)), csrr(10, T.tdata1)]);
    expect(hex(c.x(10))).toBe(hex(v));
  });

  it('tdata2 holds any value, except that napot with bits 62:0 all ones clears bit 62 (maskmax6 = 63); tdata3 reads 0', () => {
    const c = m([
      ...csrwi64(T.tdata2, 0x1234_5678_9abc_def0n), csrr(10, T.tdata2),
      ...csrwi64(T.tdata1, type(6) | MC6.U | MC6.LOAD | (1n << 7n)),
      ...csrwi64(T.tdata2, (1n << 64n) - 1n), csrr(11, T.tdata2),
      ...csrwi64(T.tdata3, 0x55n), csrr(12, T.tdata3),
      csrw(T.tdata1, 0),
    ]);
    expect(hex(c.x(10))).toBe('0x123456789abcdef0');
    expect(hex(c.x(11))).toBe(hex((1n << 64n) - 1n - (1n << 62n)));
    expect(c.x(12)).toBe(0n);
  });

  it('the triggers are separate: a write reaches only the selected one', () => {
    const c = m([...trig(1, type(6) | MC6.U | MC6.LOAD, 0x1000n), ...csrwi64(T.tselect, 0n), csrr(10, T.tdata1), csrr(11, T.tdata2), ...csrwi64(T.tselect, 1n), csrr(12, T.tdata1), csrr(13, T.tdata2)]);
    expect([hex(c.x(10)), hex(c.x(12)), hex(c.x(13))]).toEqual([hex(type(15)), hex(type(6) | MC6.U | MC6.LOAD), '0x1000']);
    expect(c.x(11)).toBe(0n);
  });

  it('tcontrol is not implemented, and S-mode cannot reach the trigger CSRs (illegal instruction)', () => {
    const r1 = run([label('x'), csrr(6, T.tcontrol), WFI]);
    expectCause(r1.core, 2n);
    const r2 = run([...pmpAllowAll(), ...enterMode(PRV_S), csrr(6, T.tselect), WFI]);
    expectCause(r2.core, 2n);
  });
});

function expectCause(c: Core, cause: bigint) {
  expect({ traps: c.exceptions, mcause: csrOf(c, 'mcause') }).toEqual({ traps: 1, mcause: cause });
}

// =============================================================================================
describe('mcontrol6 in U and S mode', () => {
  it('a U-mode load trigger fires on a U-mode load: breakpoint to M, mepc = the load, mtval = the address, no load', () => {
    const r = run([
      ...pmpAllowAll(),
      ...trig(0, type(6) | MC6.U | MC6.LOAD, BigInt(DATA + 8)),
      ...li(6, 0x77n),
      ...li(7, BigInt(DATA)),
      ...enterMode(PRV_U),
      label('ld'),
      ['ld', { rd: 6, rs1: 7, imm: 8 }],
      WFI,
    ]);
    expectBreakpoint(r, r.p.at('ld'), DATA + 8, 'M', PRV_U);
    expect(r.core.x(6)).toBe(0x77n);
  });

  it('the same trigger does not match in M-mode (m = 0), nor a U-mode store', () => {
    const r = run([
      ...pmpAllowAll(),
      ...trig(0, type(6) | MC6.U | MC6.LOAD, BigInt(DATA)),
      ...csrsi64(CSR.mstatus, MS.MIE),
      ...li(7, BigInt(DATA)),
      ['ld', { rd: 6, rs1: 7, imm: 0 }],
      ...enterMode(PRV_U),
      ['sd', { rs1: 7, rs2: 7, imm: 0 }],
      ['ecall'],
    ]);
    expect({ traps: r.core.exceptions, mcause: csrOf(r.core, 'mcause') }).toEqual({ traps: 1, mcause: 8n });
    expect(r.core.readPhys(DATA, 8)).toEqual(new Uint8Array([0x00, 0x00, 0x08, 0x80, 0, 0, 0, 0]));
  });

  it('arming a data trigger drops host-TLB mappings filled before it (the next load must see it)', () => {
    // M-mode loads DATA (filling the host TLB for that page), then arms an M trigger and loads again.
    const r = run([
      ...li(7, BigInt(DATA)),
      ['ld', { rd: 6, rs1: 7, imm: 0 }],
      ['ld', { rd: 6, rs1: 7, imm: 0 }],
      ...trig(0, type(6) | MC6.M | MC6.LOAD, BigInt(DATA)),
      ...csrsi64(CSR.mstatus, MS.MIE),
      label('ld'),
      ['ld', { rd: 6, rs1: 7, imm: 0 }],
      WFI,
    ]);
    expectBreakpoint(r, r.p.at('ld'), DATA, 'M', PRV_M);
  });

  it('an S-mode execute trigger, breakpoints delegated: fires only while sstatus.SIE = 1 (§5.4 option 1)', () => {
    const mk = (sie: boolean, target: bigint): AsmItem[] => [
      ...pmpAllowAll(),
      ...csrwi64(CSR.medeleg, 1n << 3n),
      ...(sie ? csrsi64(CSR.mstatus, MS.SIE) : []),
      ...trig(0, type(6) | MC6.S | MC6.EXEC, target),
      ...enterMode(PRV_S),
      NOP,
      label('target'),
      NOP,
      WFI,
    ];
    /** tdata2 = the target's own address: assemble until the label stops moving. */
    const build = (sie: boolean): { items: AsmItem[]; target: number } => {
      let t = BigInt(CODE);
      for (let k = 0; k < 4; k++) {
        const at = BigInt(asm(mk(sie, t)).at('target'));
        if (at === t) return { items: mk(sie, t), target: Number(t) };
        t = at;
      }
      throw new Error('label does not settle');
    };
    const on = build(true);
    const rOn = run(on.items);
    expectBreakpoint(rOn, on.target, on.target, 'S', PRV_S);
    const off = build(false);
    const rOff = run(off.items);
    expect({ status: rOff.status, traps: rOff.core.exceptions, priv: rOff.core.priv }).toEqual({ status: RunStatus.Wfi, traps: 0, priv: PRV_S });
  });
});

// =============================================================================================
describe('icount', () => {
  it('count = 3, U-mode: fires before the 4th U-mode instruction with tval 0; count ends 0, pending clear, hit set', () => {
    const r = run([
      ...pmpAllowAll(),
      ...trig(0, type(3) | IC.count(3) | IC.U, 0n),
      ...enterMode(PRV_U),
      ['addi', { rd: 6, rs1: 6, imm: 1 }],
      ['addi', { rd: 6, rs1: 6, imm: 1 }],
      ['addi', { rd: 6, rs1: 6, imm: 1 }],
      label('fourth'),
      ['addi', { rd: 6, rs1: 6, imm: 1 }],
      WFI,
    ]);
    expectBreakpoint(r, r.p.at('fourth'), 0, 'M', PRV_U);
    expect(r.core.x(6)).toBe(3n);
    const t = r.core.get64(L.H_TDATA1);
    expect(hex(t)).toBe(hex(type(3) | IC.U | IC.HIT));
  });

  it('a trap taken from an enabled mode counts once (the U ecall), M-mode handler instructions do not', () => {
    // count = 2, U only: the ecall (trap from U) is match 1; the M handler returns to U; the next
    // U instruction retires (match 2 -> pending); the breakpoint comes before the one after it.
    const mh: AsmItem[] = [
      br('bne', 25, 0, 'stop'),
      ['addi', { rd: 25, rs1: 0, imm: 1 }],
      csrr(28, CSR.mepc),
      ['addi', { rd: 28, rs1: 28, imm: 4 }],
      csrw(CSR.mepc, 28),
      ['mret'],
      label('stop'),
      WFI,
    ];
    const p = asm([
      ...pmpAllowAll(),
      ...trig(0, type(3) | IC.count(2) | IC.U, 0n),
      ...enterMode(PRV_U),
      ['ecall'],
      ['addi', { rd: 6, rs1: 6, imm: 1 }],
      label('third'),
      ['addi', { rd: 6, rs1: 6, imm: 1 }],
      WFI,
    ]);
    const h = asm(mh, HANDLER);
    const r = exec(p, { handler: false, setup: (c) => { c.writePhys(HANDLER, h.bytes); setCsrDirect(c, 'mtvec', BigInt(HANDLER)); } });
    expect({ traps: r.core.exceptions, mcause: csrOf(r.core, 'mcause'), mepc: hex(csrOf(r.core, 'mepc')), x6: r.core.x(6) }).toEqual({
      traps: 2,
      mcause: 3n,
      mepc: hex(p.at('third')),
      x6: 1n,
    });
  });
});

// =============================================================================================
describe('armed but silent triggers change nothing', () => {
  /**
   * A counting loop with loads and stores: 200 iterations, in M-mode with mstatus.MIE = 1 (mie = 0,
   * so no interrupt), since with MIE = 0 no M-mode trigger can match and nothing would be stepped.
   */
  const loop: AsmItem[] = [
    ...csrsi64(CSR.mstatus, MS.MIE),
    ...li(7, BigInt(DATA)),
    ...li(8, 200n),
    label('top'),
    ['ld', { rd: 6, rs1: 7, imm: 0 }],
    ['addi', { rd: 6, rs1: 6, imm: 3 }],
    ['sd', { rs1: 7, rs2: 6, imm: 0 }],
    ['addi', { rd: 8, rs1: 8, imm: -1 }],
    br('bne', 8, 0, 'top'),
    WFI,
  ];
  const counts = (c: Core) => ({ instret: c.instret, cycles: c.cycles, classes: c.classCounts(), x6: c.x(6), pc: c.pc });

  // An execute trigger on an odd address in the code's page: that page's blocks are stepped (the
  // trigger could match there), yet no instruction (always at an even address) ever matches.
  const ODD_IN_CODE_PAGE = BigInt(CODE + 1);

  it('execute, load/store and icount triggers that never match: same instructions, cycles and classes', () => {
    const p = asm(loop);
    const base = prepare(p);
    runFor(base.core, 100_000);
    for (const [t1, t2] of [
      [type(6) | MC6.M | MC6.EXEC, ODD_IN_CODE_PAGE],
      [type(6) | MC6.M | MC6.LOAD | MC6.STORE, 0x1234n],
      [type(3) | IC.count(0x3fff) | IC.U, 0n],
    ] as const) {
      const armed = prepare(p);
      // Arm directly in the hart state, as a CSR write would (tdata1 of trigger 0 and the summary).
      armed.core.set64(L.H_TDATA1, t1);
      armed.core.set64(L.H_TDATA2, t2);
      armed.core.set64(L.H_TRIG_ARMED, (t1 & MC6.EXEC) !== 0n || t1 >> 60n === 3n ? 2n : 1n);
      armed.core.ex.flushTlb();
      runFor(armed.core, 100_000);
      expect(counts(armed.core)).toEqual(counts(base.core));
    }
  });

  it('minstret read inside a stepped block counts the instructions before it (execute trigger armed)', () => {
    // Regression: a stepped block stood its budget in with left = 1, so a CSR read of minstret in
    // it saw the instruction count of the run() minus the real budget left (Zicntr: minstret
    // counts the retired instructions).
    const p = asm([
      ...csrsi64(CSR.mstatus, MS.MIE),
      ...li(8, 20n),
      label('top'),
      csrr(9, 0xb02),
      ['add', { rd: 10, rs1: 10, rs2: 9 }],
      ['addi', { rd: 8, rs1: 8, imm: -1 }],
      br('bne', 8, 0, 'top'),
      WFI,
    ]);
    const base = prepare(p);
    runFor(base.core, 100_000);
    const a = prepare(p);
    a.core.set64(L.H_TDATA1, type(6) | MC6.M | MC6.EXEC);
    a.core.set64(L.H_TDATA2, ODD_IN_CODE_PAGE);
    a.core.set64(L.H_TRIG_ARMED, 2n);
    runFor(a.core, 100_000);
    expect(a.core.x(10)).toBe(base.core.x(10));
    expect(counts(a.core)).toEqual(counts(base.core));
  });

  it('an instruction limit stops exactly while stepping (execute trigger armed)', () => {
    const p = asm(loop);
    const a = prepare(p);
    a.core.set64(L.H_TDATA1, type(6) | MC6.M | MC6.EXEC);
    a.core.set64(L.H_TDATA2, ODD_IN_CODE_PAGE);
    a.core.set64(L.H_TRIG_ARMED, 2n);
    expect(runFor(a.core, 333)).toBe(RunStatus.InsnLimit);
    expect(a.core.instret).toBe(333);
    const b = prepare(p);
    runFor(b.core, 333);
    expect(counts(a.core)).toEqual(counts(b.core));
  });
});

describe('armed but silent triggers in timing mode (modeled TLB)', () => {
  it('vm-sv39 (S/U code under paging): same cycles and TLB counters with an execute or data trigger armed', async () => {
    const { VirtMachine } = await import('../../src/board/virt.js');
    const { join } = await import('node:path');
    const { GUESTS } = await import('../helpers/guests.js');
    const runVm = (arm?: { t1: bigint; armed: bigint }) => {
      const m = new VirtMachine({ mode: 'timing' });
      m.loadElfFile(join(GUESTS, 'bin', 'vm-sv39.elf'));
      if (arm) {
        // Four triggers enabled in every mode. Execute: on odd addresses (no instruction is at
        // one, so nothing matches) in two pages of the kernel (identity-mapped at 0x8000_0000)
        // and two of the user program (0x8020_0000), whose blocks are then stepped; 0x8000_1000
        // and 0x8020_3000 end with a 32-bit instruction straddling into the next page.
        // Load/store: on an address nothing touches.
        const pages = [0x8000_0000n, 0x8000_1000n, 0x8020_0000n, 0x8020_3000n];
        for (let i = 0; i < 4; i++) {
          m.core.set64(L.H_TDATA1 + 8 * i, arm.t1);
          m.core.set64(L.H_TDATA2 + 8 * i, (arm.armed & 2n) !== 0n ? pages[i]! + 1n : 0x10n);
        }
        m.core.set64(L.H_TRIG_ARMED, arm.armed);
      }
      const r = m.runSync({ maxInsns: 5_000_000 });
      return { r, out: m.outputText(), instret: m.core.instret, cycles: m.core.cycles, tlb: m.tlbStats() };
    };
    const base = runVm();
    expect(base.r.code).toBe(0);
    expect(runVm({ t1: type(6) | MC6.M | MC6.S | MC6.U | MC6.EXEC, armed: 2n })).toEqual(base);
    expect(runVm({ t1: type(6) | MC6.M | MC6.S | MC6.U | MC6.LOAD | MC6.STORE, armed: 1n })).toEqual(base);
  });
});
