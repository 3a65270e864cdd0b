/**
 * The supervisor architecture of the M/S/U hart (Privileged ISA 1.12 ch. 3-4, Sstc 1.0): modes and
 * ecall, trap delegation (medeleg/mideleg), interrupt priority and global enables per mode, the
 * sstatus/sie/sip views, trap vectors, sret/wfi/sfence.vma/satp and their traps (TSR, TW, TVM), satp
 * WARL, MPRV, counter gating (mcounteren/scounteren), Sstc, PMP, and page-fault causes and tvals.
 *
 * Every program starts in M-mode at CODE, programs what it needs and drops to S or U with
 * enterMode() (an mret to the next instruction). The M trap handler at HANDLER and the S trap
 * handler at SH each clear their interrupt enables and stop the run with wfi, so a test inspects the
 * first trap taken (or the clean end of the program).
 */
import { describe, expect, it } from 'vitest';
import type { Core } from '../../src/core.js';
import { encode } from '../../src/isa/encode.js';
import {
  CODE,
  CSR,
  DATA,
  HANDLER,
  INTERRUPT,
  IRQ,
  MMIO,
  MS,
  PMP,
  PMPADDR_ALL,
  PRV_M,
  PRV_S,
  PRV_U,
  PTE,
  RAM_BASE,
  RunStatus,
  WFI,
  asm,
  br,
  buildPageTables,
  csrOf,
  csrci64,
  csrr,
  csrsi64,
  csrw,
  csrwi64,
  enc,
  enterMode,
  exec,
  hex,
  jal,
  label,
  li,
  mpp,
  napot,
  pmpAllowAll,
  pteAddress,
  readLE,
  setCsrDirect,
  u64,
  writeLE,
  type AsmItem,
  type ExecResult,
  type Insn,
  type PageMap,
  type Priv,
} from '../helpers/isa.js';

/** S-mode trap handler (stvec). */
const SH = RAM_BASE + 0xf8000;
const NOP: Insn = ['addi', { rd: 0, rs1: 0, imm: 0 }];
const ECALL: Insn = ['ecall'];
const bit = (n: number): bigint => 1n << BigInt(n);

interface PrivOpts {
  setup?: (c: Core) => void;
  maxInsns?: number;
  /** M trap handler (default: clear mie, wfi). Must end with label('end') after its final wfi. */
  mHandler?: AsmItem[];
  /** S trap handler (default: clear sie, wfi). Must end with label('end') after its final wfi. */
  sHandler?: AsmItem[];
}
interface PrivRun extends ExecResult {
  p: ReturnType<typeof asm>;
  /** pc after the M handler's final wfi. */
  mDone: number;
  /** pc after the S handler's final wfi. */
  sDone: number;
}

const M_HANDLER: AsmItem[] = [csrw(CSR.mie, 0), WFI, label('end')];
const S_HANDLER: AsmItem[] = [csrw(CSR.sie, 0), WFI, label('end')];

/** Run `items` (M-mode code at CODE) with the M and S stop handlers installed. */
function runP(items: AsmItem[], o: PrivOpts = {}): PrivRun {
  const p = asm(items);
  const mh = asm(o.mHandler ?? M_HANDLER, HANDLER);
  const sh = asm(o.sHandler ?? S_HANDLER, SH);
  const r = exec(p, {
    handler: false,
    maxInsns: o.maxInsns,
    setup: (c) => {
      c.writePhys(HANDLER, mh.bytes);
      c.writePhys(SH, sh.bytes);
      setCsrDirect(c, 'mtvec', BigInt(HANDLER));
      setCsrDirect(c, 'stvec', BigInt(SH));
      o.setup?.(c);
    },
  });
  return { ...r, p, mDone: mh.at('end'), sDone: sh.at('end') };
}

/**
 * An M handler that runs `service` on the first trap, then returns past the trapping 4-byte
 * instruction (mepc += 4); any later trap stops the run. Uses x25 (flag) and x28.
 */
function mOnce(service: Insn[]): AsmItem[] {
  return [
    br('bne', 25, 0, 'stop'),
    ['addi', { rd: 25, rs1: 0, imm: 1 }],
    ...service,
    csrr(28, CSR.mepc),
    ['addi', { rd: 28, rs1: 28, imm: 4 }],
    csrw(CSR.mepc, 28),
    ['mret'],
    label('stop'),
    csrw(CSR.mie, 0),
    WFI,
    label('end'),
  ];
}

interface TrapWant {
  cause: bigint | number;
  epc?: bigint | number;
  tval?: bigint | number;
  /** The mode the trap came from (MPP or SPP). */
  from?: Priv;
  /** Traps taken in total (default 1). */
  traps?: number;
}

/** The run ended in the M handler after `traps` traps; the last M trap had these values. */
function expectM(r: PrivRun, t: TrapWant): Core {
  const c = r.core;
  const ms = csrOf(c, 'mstatus');
  const got: Record<string, unknown> = { status: r.status, traps: c.exceptions + c.interrupts, priv: c.priv, pc: hex(c.pc), mcause: hex(csrOf(c, 'mcause')) };
  const want: Record<string, unknown> = { status: RunStatus.Wfi, traps: t.traps ?? 1, priv: PRV_M, pc: hex(r.mDone), mcause: hex(u64(BigInt(t.cause))) };
  if (t.epc !== undefined) [got.mepc, want.mepc] = [hex(csrOf(c, 'mepc')), hex(BigInt(t.epc))];
  if (t.tval !== undefined) [got.mtval, want.mtval] = [hex(csrOf(c, 'mtval')), hex(u64(BigInt(t.tval)))];
  if (t.from !== undefined) [got.mpp, want.mpp] = [Number((ms >> 11n) & 3n), t.from];
  expect(got, `mcause ${hex(csrOf(c, 'mcause'))} mepc ${hex(csrOf(c, 'mepc'))} mtval ${hex(csrOf(c, 'mtval'))}`).toEqual(want);
  return c;
}

/** The run ended in the S handler after `traps` traps; the last S trap had these values. */
function expectS(r: PrivRun, t: TrapWant): Core {
  const c = r.core;
  const ms = csrOf(c, 'mstatus');
  const got: Record<string, unknown> = { status: r.status, traps: c.exceptions + c.interrupts, priv: c.priv, pc: hex(c.pc), scause: hex(csrOf(c, 'scause')) };
  const want: Record<string, unknown> = { status: RunStatus.Wfi, traps: t.traps ?? 1, priv: PRV_S, pc: hex(r.sDone), scause: hex(u64(BigInt(t.cause))) };
  if (t.epc !== undefined) [got.sepc, want.sepc] = [hex(csrOf(c, 'sepc')), hex(BigInt(t.epc))];
  if (t.tval !== undefined) [got.stval, want.stval] = [hex(csrOf(c, 'stval')), hex(u64(BigInt(t.tval)))];
  if (t.from !== undefined) [got.spp, want.spp] = [Number((ms >> 8n) & 1n), t.from];
  expect(got, `mcause ${hex(csrOf(c, 'mcause'))} mepc ${hex(csrOf(c, 'mepc'))} scause ${hex(csrOf(c, 'scause'))}`).toEqual(want);
  return c;
}

/** The run ended at a wfi in the program itself (not a handler) without any trap. */
function expectClean(r: PrivRun, priv: Priv = PRV_M): Core {
  const c = r.core;
  expect({ status: r.status, exceptions: c.exceptions, interrupts: c.interrupts, priv: c.priv }, `mcause ${hex(csrOf(c, 'mcause'))} scause ${hex(csrOf(c, 'scause'))}`).toEqual({
    status: RunStatus.Wfi,
    exceptions: 0,
    interrupts: 0,
    priv,
  });
  return c;
}

// =============================================================================================
describe('privilege modes and ecall', () => {
  it.each([
    ['U', 8, PRV_U],
    ['S', 9, PRV_S],
    ['M', 11, PRV_M],
  ] as const)('ecall from %s-mode: cause %i, MPP records the mode, mepc = the ecall', (_n, cause, mode) => {
    const r = runP([...pmpAllowAll(), ...enterMode(mode), label('e'), ECALL]);
    expectM(r, { cause, epc: r.p.at('e'), tval: 0, from: mode });
  });

  it('mret to U/S: MIE <- MPIE, MPIE <- 1, MPP <- U', () => {
    const r = runP([...pmpAllowAll(), ...csrsi64(CSR.mstatus, MS.MPIE), ...enterMode(PRV_S), ECALL]);
    // The ecall from S stacked MIE (1 after the mret) into MPIE.
    expectM(r, { cause: 9, from: PRV_S });
    expect(csrOf(r.core, 'mstatus') & (MS.MIE | MS.MPIE)).toBe(MS.MPIE);
  });

  it.each([
    ['U reads sstatus', PRV_U, csrr(6, CSR.sstatus)],
    ['U writes sscratch', PRV_U, csrw(CSR.sscratch, 7)],
    ['U reads mstatus', PRV_U, csrr(6, CSR.mstatus)],
    ['U reads satp', PRV_U, csrr(6, CSR.satp)],
    ['S reads mstatus', PRV_S, csrr(6, CSR.mstatus)],
    ['S writes mscratch', PRV_S, csrw(CSR.mscratch, 7)],
    ['S reads mepc', PRV_S, csrr(6, CSR.mepc)],
    ['S reads pmpaddr0', PRV_S, csrr(6, CSR.pmpaddr0)],
    ['S reads mcycle', PRV_S, csrr(6, CSR.mcycle)],
    ['S reads mhartid', PRV_S, csrr(6, CSR.mhartid)],
  ] as const)('%s: illegal instruction, mtval = the bits, rd unchanged', (_n, mode, insn) => {
    const r = runP([...pmpAllowAll(), ...li(6, 0x66n), ...li(7, 0x77n), ...enterMode(mode), label('x'), insn, ECALL]);
    expectM(r, { cause: 2, epc: r.p.at('x'), tval: enc(insn), from: mode });
    expect(r.core.x(6)).toBe(0x66n);
  });

  it('S-mode uses its own CSRs: sscratch, sepc (bit 0 clear), scause, stval hold 64 bits', () => {
    const v = 0xdead_beef_cafe_f00dn;
    const r = runP([
      ...pmpAllowAll(),
      ...enterMode(PRV_S),
      ...li(6, v),
      csrw(CSR.sscratch, 6),
      csrw(CSR.sepc, 6),
      csrw(CSR.scause, 6),
      csrw(CSR.stval, 6),
      csrr(10, CSR.sscratch),
      csrr(11, CSR.sepc),
      csrr(12, CSR.scause),
      csrr(13, CSR.stval),
      ECALL,
    ]);
    expectM(r, { cause: 9 });
    expect([10, 11, 12, 13].map((i) => hex(r.core.x(i)))).toEqual([v, v & ~1n, v, v].map(hex));
  });
});

// =============================================================================================
describe('exception delegation (medeleg)', () => {
  it.each([0, 1])('ecall from U with medeleg[8] goes to S (SIE = %i): scause, sepc, SPP = U, SPIE <- SIE, SIE = 0', (sie) => {
    const r = runP([
      ...pmpAllowAll(),
      ...csrwi64(CSR.medeleg, bit(8)),
      ...csrwi64(CSR.mcause, 0x55n),
      ...csrwi64(CSR.mtval, 0x66n),
      ...csrwi64(CSR.stval, 0x77n),
      // SPP = 1 and SPIE = !SIE beforehand, so the trap visibly writes both.
      ...csrwi64(CSR.sstatus, MS.SPP | (sie ? MS.SIE : MS.SPIE)),
      ...enterMode(PRV_U),
      label('e'),
      ECALL,
    ]);
    expectS(r, { cause: 8, epc: r.p.at('e'), tval: 0, from: PRV_U });
    const ms = csrOf(r.core, 'mstatus');
    expect(ms & MS.SIE).toBe(0n);
    expect(ms & MS.SPIE).toBe(sie ? MS.SPIE : 0n);
    // M-level trap state untouched.
    expect([csrOf(r.core, 'mcause'), csrOf(r.core, 'mtval')]).toEqual([0x55n, 0x66n]);
    expect(r.core.exceptions).toBe(1);
  });

  it('ecall from S with medeleg[9] goes to S with SPP = S', () => {
    const r = runP([...pmpAllowAll(), ...csrwi64(CSR.medeleg, bit(9)), ...enterMode(PRV_S), label('e'), ECALL]);
    expectS(r, { cause: 9, epc: r.p.at('e'), tval: 0, from: PRV_S });
  });

  it('without its medeleg bit the trap goes to M (MPP = U) and the S trap CSRs are untouched', () => {
    const r = runP([
      ...pmpAllowAll(),
      ...csrwi64(CSR.medeleg, 0xb3ffn & ~bit(8)),
      ...csrwi64(CSR.scause, 0x55n),
      ...csrwi64(CSR.sepc, 0x1230n),
      ...enterMode(PRV_U),
      label('e'),
      ECALL,
    ]);
    expectM(r, { cause: 8, epc: r.p.at('e'), from: PRV_U });
    expect([csrOf(r.core, 'scause'), csrOf(r.core, 'sepc')]).toEqual([0x55n, 0x1230n]);
  });

  it.each([
    ['illegal instruction', [0xffffffff] as Insn[], 2],
    ['ebreak', [['ebreak']] as Insn[], 3],
    ['ecall', [ECALL], 11],
    ['load access fault', [...li(6, BigInt(MMIO)), ['ld', { rd: 7, rs1: 6, imm: 0 }]] as Insn[], 5],
    ['store access fault', [...li(6, BigInt(MMIO)), ['sd', { rs1: 6, rs2: 7, imm: 0 }]] as Insn[], 7],
  ] as const)('M-mode exceptions are never delegated (%s with medeleg = all ones)', (_n, code, cause) => {
    const r = runP([...csrwi64(CSR.medeleg, -1n), ...csrwi64(CSR.scause, 0x55n), ...code]);
    expectM(r, { cause, from: PRV_M });
    expect(csrOf(r.core, 'scause')).toBe(0x55n);
  });

  const delegCases: Array<[string, number, Insn[], number | 'pc']> = [
    ['illegal instruction (stval = bits)', 2, [0xffffffff], 0xffffffff],
    ['breakpoint (stval = pc)', 3, [['ebreak']], 'pc'],
    ['load access fault (stval = address)', 5, [['ld', { rd: 7, rs1: 6, imm: 8 }]], MMIO + 8],
    ['store access fault (stval = address)', 7, [['sw', { rs1: 6, rs2: 7, imm: 4 }]], MMIO + 4],
  ];
  it.each(delegCases)('from U, delegated %s', (_n, cause, code, tval) => {
    const r = runP([...pmpAllowAll(), ...csrwi64(CSR.medeleg, bit(cause)), ...li(6, BigInt(MMIO)), ...enterMode(PRV_U), label('x'), ...code, ECALL]);
    expectS(r, { cause, epc: r.p.at('x'), tval: tval === 'pc' ? r.p.at('x') : tval, from: PRV_U });
  });

  it('a delegated instruction access fault: sepc = stval = the target', () => {
    const r = runP([
      ...pmpAllowAll(),
      ...csrwi64(CSR.medeleg, bit(1)),
      ...li(6, BigInt(MMIO)),
      ...enterMode(PRV_S),
      ['jalr', { rd: 1, rs1: 6, imm: 0 }],
    ]);
    expectS(r, { cause: 1, epc: MMIO, tval: MMIO, from: PRV_S });
  });

  // With the H extension (on by default) ecall from VS (10), the guest-page faults (20, 21, 23) and
  // virtual instruction (22) are delegable too (H ext. "medeleg"); test/isa/hyp.test.ts has H off.
  it('medeleg WARL: exceptions 0-10, 12, 13, 15, 20-23 delegable; 11 (ecall from M), 14, 16-19 and 24+ read 0', () => {
    const r = runP([...li(6, -1n), csrw(CSR.medeleg, 6), csrr(10, CSR.medeleg), csrw(CSR.medeleg, 0), csrr(11, CSR.medeleg), WFI]);
    expectClean(r);
    expect(hex(r.core.x(10))).toBe('0xf0b7ff');
    expect(r.core.x(11)).toBe(0n);
  });

  // With H, the VS-level interrupts (2, 6, 10) are read-only one in mideleg (H ext. "mideleg").
  it('mideleg WARL: only the S-level interrupts SSIP, STIP, SEIP and LCOFI (Sscofpmf) are delegable; VSSIP, VSTIP, VSEIP read one', () => {
    const r = runP([...li(6, -1n), csrw(CSR.mideleg, 6), csrr(10, CSR.mideleg), csrw(CSR.mideleg, 0), csrr(11, CSR.mideleg), WFI]);
    expectClean(r);
    expect(hex(r.core.x(10))).toBe('0x2666');
    expect(hex(r.core.x(11))).toBe('0x444');
  });

  it('a trap taken in S from S keeps the S handler running in S; a later ecall from S goes to M', () => {
    // The S handler itself raises ecall (not delegated: medeleg has only bit 8) -> M, MPP = S.
    const r = runP([...pmpAllowAll(), ...csrwi64(CSR.medeleg, bit(8)), ...enterMode(PRV_U), label('e'), ECALL], {
      sHandler: [ECALL, WFI, label('end')],
    });
    expectM(r, { cause: 9, epc: SH, from: PRV_S, traps: 2 });
    expect(csrOf(r.core, 'scause')).toBe(8n);
    expect(csrOf(r.core, 'sepc')).toBe(BigInt(r.p.at('e')));
  });
});

// =============================================================================================
describe('interrupts: delegation, global enables and priority (Priv 1.12 §3.1.9)', () => {
  /** M prologue: PMP, mideleg, mie, software-pending bits (M-writable SSIP/STIP/SEIP). */
  const intSetup = (mideleg: bigint, mie: bigint, pend: bigint, sstatus = 0n): Insn[] => [
    ...pmpAllowAll(),
    ...csrwi64(CSR.mideleg, mideleg),
    ...csrwi64(CSR.sstatus, sstatus),
    ...csrwi64(CSR.mip, pend),
    ...csrwi64(CSR.mie, mie),
  ];
  const SSIP = bit(IRQ.SSI), STIP = bit(IRQ.STI), SEIP = bit(IRQ.SEI), MTIP = bit(IRQ.MTI);

  it.each([0, 1])('a delegated SSIP is taken in U regardless of sstatus.SIE (SIE = %i)', (sie) => {
    const r = runP([...intSetup(SSIP, SSIP, SSIP, sie ? MS.SIE : 0n), ...enterMode(PRV_U), label('u'), ['addi', { rd: 20, rs1: 0, imm: 1 }], ECALL]);
    expectS(r, { cause: INTERRUPT | 1n, epc: r.p.at('u'), tval: 0, from: PRV_U });
    expect(r.core.x(20)).toBe(0n);
    expect(r.core.interrupts).toBe(1);
    // SPIE <- SIE, SIE <- 0
    expect(csrOf(r.core, 'mstatus') & (MS.SIE | MS.SPIE)).toBe(sie ? MS.SPIE : 0n);
  });

  it('in S, a delegated SSIP waits for SIE = 0 -> 1 and is taken right after the enabling write', () => {
    const r = runP([
      ...intSetup(SSIP, SSIP, SSIP),
      ...enterMode(PRV_S),
      ['addi', { rd: 20, rs1: 0, imm: 1 }],
      NOP,
      ['csrrsi', { rd: 0, rs1: 2, imm: CSR.sstatus }],
      label('after'),
      ['addi', { rd: 21, rs1: 0, imm: 1 }],
      ECALL,
    ]);
    expectS(r, { cause: INTERRUPT | 1n, epc: r.p.at('after'), from: PRV_S });
    expect([r.core.x(20), r.core.x(21)]).toEqual([1n, 0n]);
  });

  it('in S with SIE = 1, a delegated interrupt whose sie bit is clear is not taken', () => {
    const r = runP([...intSetup(SSIP | STIP, STIP, SSIP, MS.SIE), ...enterMode(PRV_S), ['addi', { rd: 20, rs1: 0, imm: 1 }], ECALL]);
    expectM(r, { cause: 9, from: PRV_S });
    expect(r.core.x(20)).toBe(1n);
  });

  it('a delegated interrupt is never taken in M-mode, even with MIE = SIE = 1', () => {
    const r = runP([
      ...intSetup(SSIP, SSIP, SSIP, MS.SIE),
      ...csrsi64(CSR.mstatus, MS.MIE),
      NOP,
      ['addi', { rd: 20, rs1: 0, imm: 1 }],
      ...csrwi64(CSR.mip, 0n),
      WFI,
    ]);
    expectClean(r);
    expect(r.core.x(20)).toBe(1n);
  });

  it.each([
    ['S', PRV_S],
    ['U', PRV_U],
  ] as const)('an undelegated S-level interrupt traps from %s-mode to M even with MIE = 0', (_n, mode) => {
    const r = runP([...intSetup(0n, SSIP, SSIP), ...enterMode(mode), label('x'), ['addi', { rd: 20, rs1: 0, imm: 1 }], ECALL]);
    expectM(r, { cause: INTERRUPT | 1n, epc: r.p.at('x'), tval: 0, from: mode });
    expect(r.core.x(20)).toBe(0n);
    // MPIE <- MIE (0), MIE <- 0
    expect(csrOf(r.core, 'mstatus') & (MS.MIE | MS.MPIE)).toBe(0n);
  });

  it('an undelegated S-level interrupt is not taken in M while MIE = 0', () => {
    const r = runP([...intSetup(0n, SSIP, SSIP), NOP, ['addi', { rd: 20, rs1: 0, imm: 1 }], ...csrwi64(CSR.mie, 0n), WFI]);
    expectClean(r);
    expect(r.core.x(20)).toBe(1n);
  });

  it.each([
    ['S', 0, PRV_S],
    ['S', 1, PRV_S],
    ['U', 0, PRV_U],
    ['U', 1, PRV_U],
  ] as const)('M-level MTI is taken in %s-mode whatever mstatus.MIE (MIE = %i after mret)', (_n, mie, mode) => {
    const r = runP([...pmpAllowAll(), ...csrwi64(CSR.mie, MTIP), ...(mie ? csrsi64(CSR.mstatus, MS.MPIE) : []), ...enterMode(mode), label('x'), ECALL], {
      setup: (c) => c.setMip(IRQ.MTI, true),
    });
    expectM(r, { cause: INTERRUPT | 7n, epc: r.p.at('x'), from: mode });
    expect(csrOf(r.core, 'mstatus') & MS.MPIE).toBe(mie ? MS.MPIE : 0n);
  });

  it('a pending M-level interrupt preempts a pending delegated S-level one', () => {
    const r = runP([...intSetup(SSIP, SSIP | MTIP, SSIP), ...csrwi64(CSR.scause, 0x55n), ...enterMode(PRV_U), label('u'), ECALL], {
      setup: (c) => c.setMip(IRQ.MTI, true),
    });
    expectM(r, { cause: INTERRUPT | 7n, epc: r.p.at('u'), from: PRV_U });
    expect(csrOf(r.core, 'scause')).toBe(0x55n);
  });

  it('the same pending pair with MTIE clear: the S-level interrupt goes to S', () => {
    const r = runP([...intSetup(SSIP, SSIP, SSIP), ...enterMode(PRV_U), label('u'), ECALL], { setup: (c) => c.setMip(IRQ.MTI, true) });
    expectS(r, { cause: INTERRUPT | 1n, epc: r.p.at('u'), from: PRV_U });
  });

  it.each([
    [[IRQ.SEI, IRQ.SSI, IRQ.STI], IRQ.SEI],
    [[IRQ.SSI, IRQ.STI], IRQ.SSI],
    [[IRQ.STI], IRQ.STI],
  ])('delegated priority SEI > SSI > STI: pending %j -> %i', (pend, want) => {
    const bits = pend.reduce((a, b) => a | bit(b), 0n);
    const r = runP([...intSetup(SSIP | STIP | SEIP, SSIP | STIP | SEIP, bits), ...enterMode(PRV_U), ECALL]);
    expectS(r, { cause: INTERRUPT | BigInt(want), from: PRV_U });
  });

  it.each([
    [[IRQ.MEI, IRQ.MSI, IRQ.MTI, IRQ.SEI, IRQ.SSI, IRQ.STI], IRQ.MEI],
    [[IRQ.MSI, IRQ.MTI, IRQ.SEI, IRQ.SSI, IRQ.STI], IRQ.MSI],
    [[IRQ.MTI, IRQ.SEI, IRQ.SSI, IRQ.STI], IRQ.MTI],
    [[IRQ.SEI, IRQ.SSI, IRQ.STI], IRQ.SEI],
    [[IRQ.SSI, IRQ.STI], IRQ.SSI],
    [[IRQ.STI], IRQ.STI],
  ])('undelegated priority MEI > MSI > MTI > SEI > SSI > STI in M: pending %j -> %i', (pend, want) => {
    const sw = pend.filter((b) => b === IRQ.SSI || b === IRQ.STI || b === IRQ.SEI).reduce((a, b) => a | bit(b), 0n);
    const r = runP([...pmpAllowAll(), ...csrwi64(CSR.mip, sw), ...csrwi64(CSR.mie, 0xaaan), ...csrsi64(CSR.mstatus, MS.MIE), ECALL], {
      setup: (c) => {
        for (const b of pend) if (b === IRQ.MEI || b === IRQ.MSI || b === IRQ.MTI) c.setMip(b, true);
      },
    });
    expectM(r, { cause: INTERRUPT | BigInt(want), from: PRV_M });
  });

  it('wfi in S completes (does not stop) when an enabled interrupt is pending, even with SIE = 0', () => {
    const r = runP([...intSetup(SSIP, SSIP, SSIP), ...enterMode(PRV_S), WFI, ['addi', { rd: 20, rs1: 0, imm: 1 }], ECALL]);
    expectM(r, { cause: 9, from: PRV_S });
    expect(r.core.x(20)).toBe(1n);
  });

  it('wfi in S with nothing pending stops the run in S; it retires', () => {
    const r = runP([...pmpAllowAll(), ...enterMode(PRV_S), WFI, label('after'), ECALL]);
    expectClean(r, PRV_S);
    expect(r.core.pc).toBe(BigInt(r.p.at('after')));
  });
});

// =============================================================================================
describe('sstatus, sie and sip are views of mstatus, mie and mip', () => {
  it('sstatus shows SIE SPIE SPP FS SUM MXR UXL SD and writes only SIE SPIE SPP FS SUM MXR', () => {
    // FS = Dirty (3 << 13) makes the read-only SD (bit 63) read 1.
    const S_BITS = MS.SIE | MS.SPIE | MS.SPP | (3n << 13n) | MS.SUM | MS.MXR | (1n << 63n);
    const r = runP([
      ...li(6, -1n),
      csrw(CSR.mstatus, 6),
      csrr(10, CSR.sstatus), // all writable mstatus bits set: the view
      csrw(CSR.mstatus, 0),
      csrw(CSR.sstatus, 6),
      csrr(11, CSR.mstatus), // only the S bits set
      ...li(7, MS.MIE | MS.MPIE | mpp(PRV_S) | MS.TSR | MS.TW | MS.TVM | MS.MPRV),
      csrw(CSR.mstatus, 7),
      csrw(CSR.sstatus, 0), // leaves the M fields alone
      csrr(12, CSR.mstatus),
      csrr(13, CSR.sstatus),
      ...li(7, 0n),
      csrw(CSR.mstatus, 7),
      WFI,
    ]);
    expectClean(r);
    expect(hex(r.core.x(10))).toBe(hex(S_BITS | (2n << 32n)));
    expect(hex(r.core.x(11))).toBe(hex(S_BITS | MS.XL));
    expect(hex(r.core.x(12))).toBe(hex(MS.MIE | MS.MPIE | mpp(PRV_S) | MS.TSR | MS.TW | MS.TVM | MS.MPRV | MS.XL));
    expect(hex(r.core.x(13))).toBe(hex(2n << 32n));
  });

  it('sstatus is the same view from S-mode', () => {
    const r = runP([...pmpAllowAll(), ...csrwi64(CSR.sstatus, MS.SUM | MS.SPIE), ...enterMode(PRV_S), csrr(10, CSR.sstatus), ECALL]);
    expectM(r, { cause: 9 });
    expect(hex(r.core.x(10))).toBe(hex(MS.SUM | MS.SPIE | (2n << 32n)));
  });

  it('sie: only delegated bits are visible and writable, and writes land in mie', () => {
    const r = runP([
      ...csrwi64(CSR.mie, 0x888n),
      ...li(6, -1n),
      csrw(CSR.sie, 6), // mideleg = 0: no effect
      csrr(10, CSR.sie),
      csrr(11, CSR.mie),
      ...csrwi64(CSR.mideleg, 0x22n), // SSIP, STIP
      csrr(12, CSR.sie), // 0: those mie bits are clear
      csrw(CSR.sie, 6),
      csrr(13, CSR.sie),
      csrr(14, CSR.mie),
      csrw(CSR.sie, 0),
      csrr(15, CSR.mie),
      csrw(CSR.mie, 0),
      WFI,
    ]);
    expectClean(r);
    expect([10, 11, 12, 13, 14, 15].map((i) => hex(r.core.x(i)))).toEqual(['0x0', '0x888', '0x0', '0x22', '0x8aa', '0x888']);
  });

  it('sie shows mie bits set by M only where delegated', () => {
    const r = runP([...csrwi64(CSR.mie, 0xaaan), ...csrwi64(CSR.mideleg, 0x200n), csrr(10, CSR.sie), csrw(CSR.mie, 0), WFI]);
    expectClean(r);
    expect(hex(r.core.x(10))).toBe('0x200');
  });

  it('sip: undelegated bits read 0; SSIP is writable when delegated, STIP and SEIP are read-only', () => {
    const r = runP([
      ...csrwi64(CSR.mip, 0x222n),
      csrr(10, CSR.sip), // mideleg = 0
      ...csrwi64(CSR.mideleg, 0x222n),
      csrr(11, CSR.sip),
      ...csrci64(CSR.sip, 0x222n),
      csrr(12, CSR.mip), // only SSIP cleared
      ...csrsi64(CSR.sip, 0x2n),
      csrr(13, CSR.mip),
      ...csrwi64(CSR.mideleg, 0x200n), // SSIP no longer delegated: sip writes of it are ignored
      ...csrci64(CSR.sip, 0x2n),
      csrr(14, CSR.mip),
      csrr(15, CSR.sip),
      csrw(CSR.mip, 0),
      WFI,
    ]);
    expectClean(r);
    expect([10, 11, 12, 13, 14, 15].map((i) => hex(r.core.x(i)))).toEqual(['0x0', '0x222', '0x220', '0x222', '0x222', '0x200']);
  });

  it('S-mode sets its own software interrupt through sip and takes it (SIE = 1)', () => {
    const r = runP([
      ...pmpAllowAll(),
      ...csrwi64(CSR.mideleg, 0x2n),
      ...enterMode(PRV_S),
      ['csrrsi', { rd: 0, rs1: 2, imm: CSR.sie }],
      ['csrrsi', { rd: 0, rs1: 2, imm: CSR.sstatus }],
      ['csrrsi', { rd: 0, rs1: 2, imm: CSR.sip }],
      label('after'),
      ECALL,
    ]);
    expectS(r, { cause: INTERRUPT | 1n, epc: r.p.at('after'), from: PRV_S });
  });

  it('the host-driven STIP/SEIP lines show in sip when delegated', () => {
    const r = runP([...csrwi64(CSR.mideleg, 0x222n), csrr(10, CSR.sip), WFI], {
      setup: (c) => {
        c.setMip(IRQ.SEI, true);
        c.setMip(IRQ.MTI, true);
      },
    });
    expectClean(r);
    expect(hex(r.core.x(10))).toBe('0x200');
  });

  // Priv 1.12 §3.1.9: "When mip is read with a CSR instruction, the value of the SEIP bit returned
  // in the rd destination register is the logical-OR of the software-writable bit and the interrupt
  // signal from the interrupt controller ... Only the software-writable SEIP bit participates in the
  // read-modify-write sequence of a CSRRS or CSRRC instruction." The core keeps one SEIP bit that
  // both the host (Core.setMip, the PLIC line) and M-mode writes drive, so an M-mode write of
  // SEIP = 0 drops the PLIC's pending external interrupt (and a PLIC de-assert would drop the
  // software-set bit).
  it('mip.SEIP reads as software bit OR external line: clearing the software bit keeps the line visible', () => {
    const r = runP([...csrci64(CSR.mip, bit(IRQ.SEI)), csrr(10, CSR.mip), WFI], { setup: (c) => c.setMip(IRQ.SEI, true) });
    expectClean(r);
    expect(hex(r.core.x(10) & bit(IRQ.SEI))).toBe(hex(bit(IRQ.SEI)));
  });
});

// =============================================================================================
describe('trap vectors', () => {
  const VT = RAM_BASE + 0x40000; // 64-byte aligned
  /** A vector table at VT: slot i sets x20 = i and jumps to a tail that clears sie/mie and stops. */
  function vectorTable(clear: number) {
    const items: AsmItem[] = [];
    for (let i = 0; i < 16; i++) items.push({ org: VT + 4 * i }, encode('c.li', { rd: 20, imm: i }), (a, lab) => ['c.j', { imm: lab('tail') - a }]);
    items.push(label('tail'), csrw(clear, 0), WFI, label('end'));
    return asm(items, VT);
  }

  it.each([
    [IRQ.SSI, 0x2n],
    [IRQ.STI, 0x20n],
    [IRQ.SEI, 0x200n],
  ])('stvec vectored: delegated interrupt %i enters BASE + 4 * cause', (irq, b) => {
    const vt = vectorTable(CSR.sie);
    const r = runP(
      [...pmpAllowAll(), ...li(20, 99n), ...csrwi64(CSR.stvec, BigInt(VT) | 1n), ...csrwi64(CSR.mideleg, 0x222n), ...csrwi64(CSR.mie, b), ...csrwi64(CSR.mip, b), ...enterMode(PRV_U), label('u'), ECALL],
      { setup: (c) => c.writePhys(VT, vt.bytes) },
    );
    expect(r.status).toBe(RunStatus.Wfi);
    expect(r.core.priv).toBe(PRV_S);
    expect(r.core.x(20)).toBe(BigInt(irq));
    expect(hex(csrOf(r.core, 'scause'))).toBe(hex(INTERRUPT | BigInt(irq)));
    expect(csrOf(r.core, 'sepc')).toBe(BigInt(r.p.at('u')));
  });

  it('stvec vectored: exceptions still enter BASE', () => {
    const vt = vectorTable(CSR.sie);
    const r = runP([...pmpAllowAll(), ...li(20, 99n), ...csrwi64(CSR.stvec, BigInt(VT) | 1n), ...csrwi64(CSR.medeleg, bit(8)), ...enterMode(PRV_U), ECALL], {
      setup: (c) => c.writePhys(VT, vt.bytes),
    });
    expect(r.core.priv).toBe(PRV_S);
    expect(r.core.x(20)).toBe(0n);
    expect(csrOf(r.core, 'scause')).toBe(8n);
  });

  it('mtvec vectored: an undelegated S-level interrupt enters BASE + 4 * cause in M', () => {
    const vt = vectorTable(CSR.mie);
    const r = runP([...pmpAllowAll(), ...li(20, 99n), ...csrwi64(CSR.mtvec, BigInt(VT) | 1n), ...csrwi64(CSR.mie, 0x20n), ...csrwi64(CSR.mip, 0x20n), ...enterMode(PRV_S), ECALL], {
      setup: (c) => c.writePhys(VT, vt.bytes),
    });
    expect(r.core.priv).toBe(PRV_M);
    expect(r.core.x(20)).toBe(5n);
    expect(hex(csrOf(r.core, 'mcause'))).toBe(hex(INTERRUPT | 5n));
  });

  it.each([
    ['0x80001000', 0x8000_1000n, 0x8000_1000n],
    ['0x80001001 (vectored)', 0x8000_1001n, 0x8000_1001n],
  ])('stvec write %s reads back unchanged', (_n, v, want) => {
    const r = runP([...csrwi64(CSR.stvec, v), csrr(10, CSR.stvec), WFI]);
    expect(hex(r.core.x(10))).toBe(hex(want));
  });

  it.each([2, 3])('stvec MODE %i (reserved) reads back a legal mode with BASE kept', (mode) => {
    const v = 0x8000_1000n | BigInt(mode);
    const r = runP([...csrwi64(CSR.stvec, v), csrr(10, CSR.stvec), WFI]);
    expect(r.core.x(10) & 3n).toBeLessThan(2n);
    expect(r.core.x(10) & ~3n).toBe(v & ~3n);
  });
});

// =============================================================================================
describe('sret', () => {
  /** M prologue: sepc = label `to`, sstatus = `ss`. */
  const sretSetup = (ss: bigint): AsmItem[] => [
    ...pmpAllowAll(),
    ...csrwi64(CSR.sstatus, ss),
    label('a'),
    ['auipc', { rd: 6, imm: 0 }],
    (_at, lab) => ['addi', { rd: 6, rs1: 6, imm: lab('to') - lab('a') }],
    csrw(CSR.sepc, 6),
  ];

  it('from S with SPP = U: returns to U at sepc; SIE <- SPIE, SPIE <- 1, SPP <- U', () => {
    const r = runP([...sretSetup(MS.SPIE), ...enterMode(PRV_S), ['sret'], ['addi', { rd: 20, rs1: 0, imm: 1 }], label('to'), ECALL]);
    expectM(r, { cause: 8, epc: r.p.at('to'), from: PRV_U });
    expect(r.core.x(20)).toBe(0n);
    expect(csrOf(r.core, 'mstatus') & (MS.SIE | MS.SPIE | MS.SPP)).toBe(MS.SIE | MS.SPIE);
  });

  it('from S with SPP = S: stays in S; SPIE = 0 gives SIE = 0; SPP <- U', () => {
    const r = runP([...sretSetup(MS.SPP | MS.SIE), ...enterMode(PRV_S), ['sret'], label('to'), ECALL]);
    expectM(r, { cause: 9, epc: r.p.at('to'), from: PRV_S });
    expect(csrOf(r.core, 'mstatus') & (MS.SIE | MS.SPIE | MS.SPP)).toBe(MS.SPIE);
  });

  it('from M with SPP = S returns to S and clears MPRV', () => {
    const r = runP([...sretSetup(MS.SPP), ...csrsi64(CSR.mstatus, MS.MPRV | mpp(PRV_M)), ['sret'], label('to'), ECALL]);
    expectM(r, { cause: 9, epc: r.p.at('to'), from: PRV_S });
    expect(csrOf(r.core, 'mstatus') & MS.MPRV).toBe(0n);
  });

  it('in S with TSR = 1 is illegal (mtval = bits); nothing changes', () => {
    const r = runP([...sretSetup(MS.SPIE), ...csrsi64(CSR.mstatus, MS.TSR), ...enterMode(PRV_S), label('x'), ['sret'], label('to'), ECALL]);
    expectM(r, { cause: 2, epc: r.p.at('x'), tval: encode('sret'), from: PRV_S });
    expect(csrOf(r.core, 'mstatus') & (MS.SIE | MS.SPIE)).toBe(MS.SPIE);
  });

  it('in M, TSR does not apply', () => {
    const r = runP([...sretSetup(MS.SPP), ...csrsi64(CSR.mstatus, MS.TSR), ['sret'], label('to'), ECALL]);
    expectM(r, { cause: 9, epc: r.p.at('to'), from: PRV_S });
  });

  it('in U is illegal', () => {
    const r = runP([...sretSetup(MS.SPP), ...enterMode(PRV_U), label('x'), ['sret'], label('to'), ECALL]);
    expectM(r, { cause: 2, epc: r.p.at('x'), tval: encode('sret'), from: PRV_U });
  });

  it.each([
    ['S', PRV_S],
    ['U', PRV_U],
  ] as const)('mret in %s-mode is illegal', (_n, mode) => {
    const r = runP([...pmpAllowAll(), ...enterMode(mode), label('x'), ['mret'], ECALL]);
    expectM(r, { cause: 2, epc: r.p.at('x'), tval: encode('mret'), from: mode });
  });
});

// =============================================================================================
describe('wfi, sfence.vma and satp traps (TW, TVM)', () => {
  const wfi = encode('wfi');
  const sfence = encode('sfence.vma', { rs1: 0, rs2: 0 });
  const satpRead = csrr(6, CSR.satp);
  const satpWrite = csrw(CSR.satp, 0);

  it.each([
    ['wfi in U (TW = 0): illegal', PRV_U, 0n, wfi],
    ['wfi in S with TW = 1: illegal', PRV_S, MS.TW, wfi],
    ['sfence.vma in U: illegal', PRV_U, 0n, sfence],
    ['sfence.vma in S with TVM = 1: illegal', PRV_S, MS.TVM, sfence],
    ['satp read in S with TVM = 1: illegal', PRV_S, MS.TVM, enc(satpRead)],
    ['satp write in S with TVM = 1: illegal', PRV_S, MS.TVM, enc(satpWrite)],
    ['satp read in U: illegal', PRV_U, 0n, enc(satpRead)],
  ] as const)('%s', (_n, mode, ms, word) => {
    const r = runP([...pmpAllowAll(), ...(ms ? csrsi64(CSR.mstatus, ms) : []), ...enterMode(mode), label('x'), word, ECALL]);
    expectM(r, { cause: 2, epc: r.p.at('x'), tval: word, from: mode });
  });

  it.each([
    ['sfence.vma in S (TVM = 0)', PRV_S, 0n, sfence],
    ['satp read in S (TVM = 0)', PRV_S, 0n, enc(satpRead)],
    ['satp write in S (TVM = 0)', PRV_S, 0n, enc(satpWrite)],
    ['sfence.vma in M with TVM = 1', PRV_M, MS.TVM, sfence],
    ['satp access in M with TVM = 1', PRV_M, MS.TVM, enc(satpRead)],
    ['wfi in M with TW = 1 (not a pending interrupt: retires and stops)', PRV_M, MS.TW, wfi],
  ] as const)('%s: legal', (_n, mode, ms, word) => {
    const r = runP([...pmpAllowAll(), ...(ms ? csrsi64(CSR.mstatus, ms) : []), ...enterMode(mode), word, csrw(CSR.sscratch, 0), label('y'), ECALL]);
    if (word === wfi) {
      expectClean(r, mode);
    } else {
      expectM(r, { cause: mode === PRV_M ? 11 : 9, epc: r.p.at('y'), from: mode });
    }
  });

  it('wfi in S with TW = 1 is illegal even when an interrupt is pending', () => {
    // SSIP delegated and enabled in sie but SIE = 0: pending, not taken in S.
    const r = runP([...pmpAllowAll(), ...csrsi64(CSR.mstatus, MS.TW), ...csrwi64(CSR.mideleg, 2n), ...csrwi64(CSR.mie, 2n), ...csrwi64(CSR.mip, 2n), ...enterMode(PRV_S), label('x'), wfi, ECALL]);
    expectM(r, { cause: 2, epc: r.p.at('x'), tval: wfi, from: PRV_S });
  });
});

// =============================================================================================
describe('satp WARL', () => {
  const SV39 = (8n << 60n) | (0x1234n << 44n) | 0x80123n;
  it('Sv39, Sv48, Sv57 are accepted; a write with an unsupported MODE has no effect at all', () => {
    const modes = [1n, 2n, 7n, 11n, 12n, 15n];
    const prog: Insn[] = [...li(6, SV39), csrw(CSR.satp, 6), csrr(10, CSR.satp)];
    modes.forEach((m, i) => prog.push(...li(6, (m << 60n) | 0x55n), csrw(CSR.satp, 6), csrr(11 + i, CSR.satp)));
    prog.push(...li(6, (9n << 60n) | 0x77n), csrw(CSR.satp, 6), csrr(20, CSR.satp));
    prog.push(...li(6, (10n << 60n) | 0x88n), csrw(CSR.satp, 6), csrr(21, CSR.satp));
    prog.push(csrw(CSR.satp, 0), csrr(22, CSR.satp), WFI);
    const r = runP(prog);
    expectClean(r);
    expect(hex(r.core.x(10))).toBe(hex(SV39));
    for (let i = 0; i < modes.length; i++) expect(hex(r.core.x(11 + i)), `mode ${modes[i]}`).toBe(hex(SV39));
    expect(hex(r.core.x(20))).toBe(hex((9n << 60n) | 0x77n));
    expect(hex(r.core.x(21))).toBe(hex((10n << 60n) | 0x88n));
    expect(r.core.x(22)).toBe(0n);
  });

  it('a board that supports only Sv39 ignores Sv48/Sv57 writes', () => {
    const r = runP([...li(6, SV39), csrw(CSR.satp, 6), ...li(6, 9n << 60n), csrw(CSR.satp, 6), csrr(10, CSR.satp), ...li(6, 10n << 60n), csrw(CSR.satp, 6), csrr(11, CSR.satp), WFI], {
      setup: (c) => c.ex.configureMmu(0x100, 1),
    });
    expectClean(r);
    expect([hex(r.core.x(10)), hex(r.core.x(11))]).toEqual([hex(SV39), hex(SV39)]);
  });
});

// =============================================================================================
// Virtual memory setups: code (CODE..CODE+8K) and the S handler page are identity-mapped for S,
// DATA_VA maps to DATA. Page tables live at RAM_BASE + 0xc0000 (tables: root, code L1, code L0,
// data L1, data L0 - in that order, see buildPageTables).
const TABLES = RAM_BASE + 0xc0000;
const DATA_VA = 0x4000_0000n;
const KX = PTE.V | PTE.R | PTE.X | PTE.A | PTE.D;
const KRW = PTE.V | PTE.R | PTE.W | PTE.A | PTE.D;
function vm(extra: PageMap[] = [], codeFlags = KX): { maps: PageMap[]; satp: bigint } {
  const maps: PageMap[] = [
    { va: BigInt(CODE), pa: BigInt(CODE), flags: codeFlags },
    { va: BigInt(CODE + 0x1000), pa: BigInt(CODE + 0x1000), flags: codeFlags },
    { va: BigInt(SH), pa: BigInt(SH), flags: KX },
    ...extra,
  ];
  return { maps, satp: (8n << 60n) | (BigInt(TABLES) >> 12n) };
}
/** setup() that writes the tables and points satp at them (before the first instruction runs). */
const vmSetup = (maps: PageMap[], also?: (c: Core) => void) => (c: Core) => {
  const satp = buildPageTables(c, 8, maps, TABLES);
  setCsrDirect(c, 'satp', satp);
  also?.(c);
};

describe('MPRV (Priv 1.12 §3.1.6.3)', () => {
  it('M-mode loads and stores with MPRV = 1, MPP = S go through the page table; fetches do not', () => {
    const { maps } = vm([{ va: DATA_VA, pa: BigInt(DATA), flags: KRW }]);
    const r = runP(
      [
        ...pmpAllowAll(),
        ...li(6, DATA_VA),
        ...li(8, 0x5555n),
        ...csrci64(CSR.mstatus, MS.MPP),
        ...csrsi64(CSR.mstatus, MS.MPRV | mpp(PRV_S)),
        ['ld', { rd: 7, rs1: 6, imm: 0 }],
        ['sd', { rs1: 6, rs2: 8, imm: 8 }],
        ...csrci64(CSR.mstatus, MS.MPRV),
        ...li(9, BigInt(DATA)),
        ['ld', { rd: 10, rs1: 9, imm: 8 }],
        WFI,
      ],
      { setup: vmSetup(maps, (c) => writeLE(c, DATA, 8, 0x1122_3344n)) },
    );
    expectClean(r);
    expect(hex(r.core.x(7))).toBe('0x11223344');
    expect(r.core.x(10)).toBe(0x5555n);
  });

  it('MPRV = 1 with MPP = M: accesses stay physical', () => {
    const { maps } = vm();
    const r = runP([...pmpAllowAll(), ...li(9, BigInt(DATA)), ...csrsi64(CSR.mstatus, MS.MPRV | MS.MPP), ['ld', { rd: 10, rs1: 9, imm: 0 }], WFI], {
      setup: vmSetup(maps, (c) => writeLE(c, DATA, 8, 0x77n)),
    });
    expectClean(r);
    expect(r.core.x(10)).toBe(0x77n);
  });

  it('a page fault under MPRV is taken in M (never delegated), mtval = va', () => {
    const { maps } = vm();
    const r = runP(
      [...pmpAllowAll(), ...csrwi64(CSR.medeleg, -1n), ...li(6, 0x5000_0010n), ...csrci64(CSR.mstatus, MS.MPP), ...csrsi64(CSR.mstatus, MS.MPRV | mpp(PRV_S)), label('x'), ['lw', { rd: 7, rs1: 6, imm: 4 }], WFI],
      { setup: vmSetup(maps) },
    );
    expectM(r, { cause: 13, epc: r.p.at('x'), tval: 0x5000_0014n, from: PRV_M });
  });

  it('MPRV with MPP = U: a supervisor page (U = 0) faults; a U page does not', () => {
    const { maps } = vm([
      { va: DATA_VA, pa: BigInt(DATA), flags: KRW },
      { va: DATA_VA + 0x1000n, pa: BigInt(DATA + 0x1000), flags: KRW | PTE.U },
    ]);
    const r = runP(
      [...pmpAllowAll(), ...li(6, DATA_VA), ...li(8, DATA_VA + 0x1000n), ...csrci64(CSR.mstatus, MS.MPP), ...csrsi64(CSR.mstatus, MS.MPRV), ['ld', { rd: 7, rs1: 8, imm: 0 }], label('x'), ['ld', { rd: 7, rs1: 6, imm: 0 }], WFI],
      { setup: vmSetup(maps) },
    );
    expectM(r, { cause: 13, epc: r.p.at('x'), tval: DATA_VA, from: PRV_M });
  });

  it('MPRV with MPP = S honours SUM for U pages', () => {
    const { maps } = vm([{ va: DATA_VA, pa: BigInt(DATA), flags: KRW | PTE.U }]);
    const prog = (sum: bigint): Insn[] => [
      ...pmpAllowAll(),
      ...li(6, DATA_VA),
      ...csrci64(CSR.mstatus, MS.MPP),
      ...csrsi64(CSR.mstatus, MS.MPRV | mpp(PRV_S) | sum),
      ['ld', { rd: 7, rs1: 6, imm: 0 }],
      ...csrci64(CSR.mstatus, MS.MPRV),
      WFI,
    ];
    const setup = vmSetup(maps, (c) => writeLE(c, DATA, 8, 0x99n));
    const withSum = runP(prog(MS.SUM), { setup });
    expectClean(withSum);
    expect(withSum.core.x(7)).toBe(0x99n);
    expectM(runP(prog(0n), { setup }), { cause: 13, tval: DATA_VA, from: PRV_M });
  });

  it('MPRV accesses are checked by PMP as S-mode accesses', () => {
    const r = runP([
      ...csrwi64(CSR.pmpaddr0, napot(BigInt(DATA), 0x1000n)),
      ...csrwi64(CSR.pmpaddr0 + 15, PMPADDR_ALL),
      ...csrwi64(CSR.pmpcfg2, BigInt(PMP.NAPOT | PMP.R | PMP.W | PMP.X) << 56n),
      ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NAPOT | PMP.R)),
      ...li(6, BigInt(DATA)),
      ['sd', { rs1: 6, rs2: 6, imm: 0 }], // M: entry 0 is not locked, does not apply
      ...csrci64(CSR.mstatus, MS.MPP),
      ...csrsi64(CSR.mstatus, MS.MPRV | mpp(PRV_S)),
      ['ld', { rd: 7, rs1: 6, imm: 0 }], // S read: allowed
      label('x'),
      ['sd', { rs1: 6, rs2: 6, imm: 0 }], // S write: denied
      WFI,
    ]);
    expectM(r, { cause: 7, epc: r.p.at('x'), tval: DATA, from: PRV_M });
    expect(r.core.x(7)).toBe(BigInt(DATA));
  });
});

// =============================================================================================
describe('counter gating (mcounteren, scounteren: Priv 1.12 §3.1.11, §4.1.5)', () => {
  const COUNTERS = [
    ['cycle', CSR.cycle, 0],
    ['time', CSR.time, 1],
    ['instret', CSR.instret, 2],
    ['hpmcounter3', CSR.hpmcounter3, 3],
  ] as const;
  const ALL = 0xffff_ffffn;
  const cases = COUNTERS.flatMap(([name, csr, b]) =>
    (
      [
        [PRV_U, 0n, ALL, false],
        [PRV_U, ALL & ~bit(b), ALL, false],
        [PRV_U, ALL, 0n, false],
        [PRV_U, ALL, ALL & ~bit(b), false],
        [PRV_U, bit(b), bit(b), true],
        [PRV_S, 0n, ALL, false],
        [PRV_S, ALL & ~bit(b), ALL, false],
        [PRV_S, bit(b), 0n, true],
      ] as const
    ).map(
      ([mode, men, sen, ok]) =>
        [`${name} in ${mode === PRV_U ? 'U' : 'S'}, mcounteren ${hex(men)}, scounteren ${hex(sen)}: ${ok ? 'allowed' : 'illegal'}`, csr, mode, men, sen, ok] as const,
    ),
  );
  it.each(cases)('%s', (_n, csr, mode, men, sen, ok) => {
    const insn = csrr(7, csr);
    const r = runP([...pmpAllowAll(), ...csrwi64(CSR.mcounteren, men), ...csrwi64(CSR.scounteren, sen), ...li(7, 0x77n), ...enterMode(mode), label('x'), insn, ECALL], {
      setup: (c) => c.setTimebase(1, 1000n),
    });
    if (ok) {
      expectM(r, { cause: mode === PRV_U ? 8 : 9, from: mode });
      if (csr !== CSR.hpmcounter3) expect(r.core.x(7)).toBeGreaterThan(0n);
    } else {
      expectM(r, { cause: 2, epc: r.p.at('x'), tval: enc(insn), from: mode });
      expect(r.core.x(7)).toBe(0x77n);
    }
  });

  it('mcounteren and scounteren are 32-bit registers', () => {
    const r = runP([...li(6, -1n), csrw(CSR.mcounteren, 6), csrw(CSR.scounteren, 6), csrr(10, CSR.mcounteren), csrr(11, CSR.scounteren), WFI]);
    expectClean(r);
    expect([hex(r.core.x(10)), hex(r.core.x(11))]).toEqual(['0xffffffff', '0xffffffff']);
  });

  it('instret and cycle read from U count everything retired before, in every mode', () => {
    const r = runP([
      ...pmpAllowAll(),
      ...csrwi64(CSR.mcounteren, 7n),
      ...csrwi64(CSR.scounteren, 7n),
      ...enterMode(PRV_U),
      NOP,
      label('i'),
      csrr(11, CSR.instret),
      csrr(10, CSR.cycle),
      ECALL,
    ]);
    expectM(r, { cause: 8, from: PRV_U });
    // All instructions are 4 bytes: the count before label i is its offset / 4.
    expect(r.core.x(11)).toBe(BigInt((r.p.at('i') - CODE) / 4));
    expect(r.core.x(10)).toBeGreaterThanOrEqual(r.core.x(11) + 1n);
  });
});

// =============================================================================================
describe('Sstc (stimecmp)', () => {
  const STCE = 1n << 63n;
  const STIP = bit(IRQ.STI);
  /** M prologue: PMP, menvcfg.STCE, mcounteren.TM, STIP delegated, stimecmp = all ones. */
  const sstcSetup = (stce = true, tm = true): Insn[] => [
    ...pmpAllowAll(),
    ...csrwi64(CSR.stimecmp, -1n),
    ...csrwi64(CSR.menvcfg, stce ? STCE : 0n),
    ...csrwi64(CSR.mcounteren, tm ? 2n : 0n),
    ...csrwi64(CSR.mideleg, STIP),
  ];

  it('menvcfg: STCE (bit 63), PBMTE (62), CBZE/CBCFE/CBIE (7:4) are writable, FIOM is not; senvcfg has the CB fields', () => {
    const r = runP([...li(6, -1n), csrw(CSR.menvcfg, 6), csrr(10, CSR.menvcfg), csrw(CSR.senvcfg, 6), csrr(11, CSR.senvcfg), csrw(CSR.menvcfg, 0), csrr(12, CSR.menvcfg), WFI]);
    expectClean(r);
    expect([r.core.x(10), r.core.x(11), r.core.x(12)].map(hex)).toEqual([hex(STCE | (1n << 62n) | 0xf0n), '0xf0', '0x0']);
  });

  it('from S: stimecmp <= time sets STIP, a future value clears it', () => {
    const r = runP([
      ...sstcSetup(),
      ...enterMode(PRV_S),
      csrr(9, CSR.sip),
      csrw(CSR.stimecmp, 0),
      csrr(10, CSR.sip),
      csrr(14, CSR.time),
      csrw(CSR.stimecmp, 14), // = time now: pending (time >= stimecmp)
      csrr(11, CSR.sip),
      ['addi', { rd: 14, rs1: 14, imm: 1000 }],
      csrw(CSR.stimecmp, 14),
      csrr(12, CSR.sip),
      csrr(13, CSR.stimecmp),
      ECALL,
    ], { setup: (c) => c.setTimebase(1, 0n) });
    expectM(r, { cause: 9, from: PRV_S });
    expect([9, 10, 11, 12].map((i) => r.core.x(i) & STIP)).toEqual([0n, STIP, STIP, 0n]);
    expect(r.core.x(13)).toBe(r.core.x(14));
  });

  it.each([
    [1, 0n],
    [10, 1000n],
    [3, 123_456n],
  ])('STIP becomes pending when time reaches stimecmp: the S timer interrupt is taken (%i cycles/tick, offset %s)', (div, ofs) => {
    const r = runP(
      [
        ...sstcSetup(),
        ...enterMode(PRV_S),
        ['csrrsi', { rd: 0, rs1: 2, imm: CSR.sstatus }], // SIE
        ...csrwi64(CSR.sie, STIP),
        csrr(21, CSR.time),
        ['addi', { rd: 21, rs1: 21, imm: 40 }],
        csrw(CSR.stimecmp, 21),
        csrr(22, CSR.sip), // not yet
        label('loop'),
        ['addi', { rd: 20, rs1: 20, imm: 1 }],
        jal(0, 'loop'),
      ],
      { setup: (c) => c.setTimebase(div, ofs), sHandler: [csrr(23, CSR.time), csrw(CSR.sie, 0), WFI, label('end')] },
    );
    expectS(r, { cause: INTERRUPT | 5n, from: PRV_S });
    expect(r.core.x(22) & STIP).toBe(0n);
    expect(r.core.x(20)).toBeGreaterThan(0n);
    const sepc = csrOf(r.core, 'sepc');
    expect(sepc === BigInt(r.p.at('loop')) || sepc === BigInt(r.p.at('loop') + 4)).toBe(true);
    // Taken once time >= stimecmp, and promptly (within a few loop iterations' worth of time).
    expect(r.core.x(23)).toBeGreaterThanOrEqual(r.core.x(21));
    expect(r.core.x(23) - r.core.x(21)).toBeLessThan(10n);
  });

  it('mip.STIP is not writable by M-mode while STCE = 1', () => {
    const r = runP([...sstcSetup(), ...csrsi64(CSR.mip, STIP), csrr(10, CSR.mip), ...csrwi64(CSR.stimecmp, 0n), ...csrci64(CSR.mip, STIP), csrr(11, CSR.mip), ...csrwi64(CSR.stimecmp, -1n), WFI]);
    expectClean(r);
    expect([r.core.x(10) & STIP, r.core.x(11) & STIP]).toEqual([0n, STIP]);
  });

  it.each([
    ['STCE = 0', false, true],
    ['mcounteren.TM = 0', true, false],
  ])('stimecmp from S is illegal when %s (M may always access it)', (_n, stce, tm) => {
    const insn = csrr(6, CSR.stimecmp);
    const r = runP([...sstcSetup(stce, tm), csrr(10, CSR.stimecmp), ...enterMode(PRV_S), label('x'), insn, ECALL]);
    expectM(r, { cause: 2, epc: r.p.at('x'), tval: enc(insn), from: PRV_S });
    expect(r.core.x(10)).toBe(u64(-1n));
  });
});

// =============================================================================================
describe('PMP (Priv 1.12 §3.7)', () => {
  const cfgByte = (i: number, c: number): bigint => BigInt(c) << BigInt(8 * (i % 8));
  /** Entry 15: NAPOT over everything, RWX - the fallback below the entries under test. */
  const fallback15: Insn[] = [...csrwi64(CSR.pmpaddr0 + 15, PMPADDR_ALL), ...csrwi64(CSR.pmpcfg2, cfgByte(15, PMP.NAPOT | PMP.R | PMP.W | PMP.X))];
  type Access = 'ld' | 'sd' | 'lw' | 'sw' | 'jump';
  const access = (a: Access): Insn => (a === 'jump' ? ['jalr', { rd: 0, rs1: 6, imm: 0 }] : a[0] === 'l' ? [a, { rd: 7, rs1: 6, imm: 0 }] : [a, { rs1: 6, rs2: 6, imm: 0 }]);
  const faultCause = (a: Access) => (a === 'jump' ? 1 : a[0] === 'l' ? 5 : 7);

  /** Program entries, drop to `mode`, do one access at `addr`: returns the run (ecall on success). */
  function probe(entries: Insn[], a: Access, addr: number | bigint, mode: Priv = PRV_S) {
    return runP([...entries, ...li(6, BigInt(addr)), ...enterMode(mode), label('x'), access(a), ECALL]);
  }
  function expectOk(r: PrivRun, mode: Priv = PRV_S) {
    expectM(r, { cause: mode === PRV_U ? 8 : mode === PRV_S ? 9 : 11, from: mode });
  }
  function expectFault(r: PrivRun, a: Access, addr: number | bigint, mode: Priv = PRV_S) {
    const at = a === 'jump' ? addr : r.p.at('x');
    expectM(r, { cause: faultCause(a), epc: at, tval: addr, from: mode });
  }

  describe('address matching', () => {
    // TOR: [DATA, DATA + 0x100) read-only (entry 1 with pmpaddr0 as the bottom; entry 0 is OFF).
    const tor: Insn[] = [
      ...fallback15,
      ...csrwi64(CSR.pmpaddr0, BigInt(DATA) >> 2n),
      ...csrwi64(CSR.pmpaddr0 + 1, BigInt(DATA + 0x100) >> 2n),
      ...csrwi64(CSR.pmpcfg0, cfgByte(1, PMP.TOR | PMP.R)),
    ];
    it.each(
      (
        [
          ['ld', DATA, true],
          ['ld', DATA + 0xf8, true],
          ['sd', DATA, false],
          ['sd', DATA + 0xf8, false],
          ['sd', DATA + 0x100, true],
          ['sd', DATA - 8, true],
          ['jump', DATA, false],
        ] as const
      ).map(([a, addr, ok]) => [a, `DATA${addr >= DATA ? '+' : '-'}${hex(Math.abs(addr - DATA))}`, ok, addr] as const),
    )('TOR [DATA, DATA+0x100) R: %s at %s: allowed %s', (a, _at, ok, addr) => {
      const r = probe(tor, a, addr);
      if (ok) expectOk(r);
      else expectFault(r, a, addr);
    });

    it('TOR in entry 0 matches [0, pmpaddr0)', () => {
      const entries: Insn[] = [...csrwi64(CSR.pmpaddr0, BigInt(DATA) >> 2n), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.TOR | PMP.R | PMP.W | PMP.X))];
      expectOk(probe(entries, 'sd', DATA - 8)); // code at CODE runs: covered too
      expectFault(probe(entries, 'sd', DATA), 'sd', DATA);
    });

    const na4: Insn[] = [...fallback15, ...csrwi64(CSR.pmpaddr0, BigInt(DATA + 8) >> 2n), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NA4))];
    it.each(
      (
        [
          ['lw', DATA + 8, false],
          ['sw', DATA + 8, false],
          ['lw', DATA + 4, true],
          ['lw', DATA + 12, true],
        ] as const
      ).map(([a, addr, ok]) => [a, `DATA${addr >= DATA ? '+' : '-'}${hex(Math.abs(addr - DATA))}`, ok, addr] as const),
    )('NA4 at DATA+8, no permissions: %s at %s: allowed %s', (a, _at, ok, addr) => {
      const r = probe(na4, a, addr);
      if (ok) expectOk(r);
      else expectFault(r, a, addr);
    });

    const napot4k: Insn[] = [...fallback15, ...csrwi64(CSR.pmpaddr0, napot(BigInt(DATA), 0x1000n)), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NAPOT | PMP.R))];
    it.each(
      (
        [
          ['ld', DATA + 0xff8, true],
          ['sd', DATA, false],
          ['sd', DATA + 0xff8, false],
          ['sd', DATA + 0x1000, true],
          ['sd', DATA - 8, true],
        ] as const
      ).map(([a, addr, ok]) => [a, `DATA${addr >= DATA ? '+' : '-'}${hex(Math.abs(addr - DATA))}`, ok, addr] as const),
    )('NAPOT 4 KiB at DATA, R: %s at %s: allowed %s', (a, _at, ok, addr) => {
      const r = probe(napot4k, a, addr);
      if (ok) expectOk(r);
      else expectFault(r, a, addr);
    });

    it('NAPOT of 8 bytes (pmpaddr with no trailing ones)', () => {
      const e: Insn[] = [...fallback15, ...csrwi64(CSR.pmpaddr0, napot(BigInt(DATA + 16), 8n)), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NAPOT | PMP.R))];
      expectFault(probe(e, 'sw', DATA + 20), 'sw', DATA + 20);
      expectOk(probe(e, 'sw', DATA + 24));
      expectOk(probe(e, 'sw', DATA + 12));
    });

    it('the lowest-numbered matching entry decides, even when a later entry would allow', () => {
      const narrowFirst: Insn[] = [
        ...csrwi64(CSR.pmpaddr0, napot(BigInt(DATA), 0x1000n)),
        ...csrwi64(CSR.pmpaddr0 + 1, napot(BigInt(DATA), 0x2000n)),
        ...csrwi64(CSR.pmpaddr0 + 2, napot(BigInt(CODE), 0x80000n)),
        ...csrwi64(CSR.pmpcfg0, cfgByte(0, PMP.NAPOT | PMP.R) | cfgByte(1, PMP.NAPOT | PMP.R | PMP.W) | cfgByte(2, PMP.NAPOT | PMP.X)),
      ];
      expectFault(probe(narrowFirst, 'sd', DATA + 0x10), 'sd', DATA + 0x10);
      expectOk(probe(narrowFirst, 'sd', DATA + 0x1010));
      const wideFirst: Insn[] = [
        ...csrwi64(CSR.pmpaddr0, napot(BigInt(DATA), 0x2000n)),
        ...csrwi64(CSR.pmpaddr0 + 1, napot(BigInt(DATA), 0x1000n)),
        ...csrwi64(CSR.pmpaddr0 + 2, napot(BigInt(CODE), 0x80000n)),
        ...csrwi64(CSR.pmpcfg0, cfgByte(0, PMP.NAPOT | PMP.R | PMP.W) | cfgByte(1, PMP.NAPOT | PMP.R) | cfgByte(2, PMP.NAPOT | PMP.X)),
      ];
      expectOk(probe(wideFirst, 'sd', DATA + 0x10));
    });

    // Priv 1.12 §3.7.1: "The lowest-numbered PMP entry that matches any byte of an access
    // determines whether that access succeeds or fails. The matching PMP entry must match all
    // bytes of an access, or the access fails, irrespective of the L, R, W, and X bits."
    // assembly/mmu.ts translate() checks PMP for one byte only (pmpAllows(pa, 1, ...)), so an access
    // that only partly overlaps the first matching entry is judged by whichever entry matches its
    // first byte.
    it('an 8-byte load that only partly overlaps the first matching entry (NA4, R) fails', () => {
      const e: Insn[] = [...fallback15, ...csrwi64(CSR.pmpaddr0, BigInt(DATA) >> 2n), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NA4 | PMP.R))];
      expectFault(probe(e, 'ld', DATA), 'ld', DATA);
    });
    it('an 8-byte load whose upper half hits a denying NA4 entry fails (entry 0 matches a byte)', () => {
      const e: Insn[] = [...fallback15, ...csrwi64(CSR.pmpaddr0, BigInt(DATA + 4) >> 2n), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NA4))];
      expectFault(probe(e, 'ld', DATA), 'ld', DATA);
    });
  });

  describe('privilege', () => {
    it('S/U accesses that match no entry fail: load 5, store 7, fetch 1 (tval = address)', () => {
      // Only the code region is covered.
      const e: Insn[] = [...csrwi64(CSR.pmpaddr0, napot(BigInt(CODE), 0x80000n)), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NAPOT | PMP.R | PMP.W | PMP.X))];
      for (const mode of [PRV_S, PRV_U] as const) {
        for (const a of ['ld', 'sd', 'jump'] as const) expectFault(probe(e, a, DATA, mode), a, DATA, mode);
        expectOk(probe(e, 'ld', CODE + 0x100, mode), mode);
      }
    });

    it('with no PMP entry enabled, S-mode cannot even fetch', () => {
      const r = runP([...enterMode(PRV_S), label('s'), ECALL]);
      expectM(r, { cause: 1, epc: r.p.at('s'), tval: r.p.at('s'), from: PRV_S });
    });

    it('a region without X: S fetch is an instruction access fault at the first instruction', () => {
      const e: Insn[] = [...csrwi64(CSR.pmpaddr0, napot(BigInt(CODE), 0x80000n)), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NAPOT | PMP.R | PMP.W))];
      const r = runP([...e, ...enterMode(PRV_S), label('s'), ECALL]);
      expectM(r, { cause: 1, epc: r.p.at('s'), tval: r.p.at('s'), from: PRV_S });
    });

    it('an unlocked entry does not restrict M-mode; M accesses matching no entry succeed', () => {
      const e: Insn[] = [...csrwi64(CSR.pmpaddr0, napot(BigInt(DATA), 0x1000n)), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NAPOT))];
      const r = runP([...e, ...li(6, BigInt(DATA)), ['sd', { rs1: 6, rs2: 6, imm: 0 }], ['ld', { rd: 7, rs1: 6, imm: 0 }], ...li(6, BigInt(DATA + 0x2000)), ['sd', { rs1: 6, rs2: 6, imm: 0 }], WFI]);
      expectClean(r);
      expect(r.core.x(7)).toBe(BigInt(DATA));
    });

    it('a locked entry applies to M-mode too', () => {
      const e: Insn[] = [...csrwi64(CSR.pmpaddr0, napot(BigInt(DATA), 0x1000n)), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.L | PMP.NAPOT | PMP.R))];
      const r = runP([...e, ...li(6, BigInt(DATA)), ['ld', { rd: 7, rs1: 6, imm: 0 }], label('x'), ['sd', { rs1: 6, rs2: 6, imm: 0 }], WFI]);
      expectM(r, { cause: 7, epc: r.p.at('x'), tval: DATA, from: PRV_M });
    });

    it('a locked entry without X stops M-mode fetches there', () => {
      const e: Insn[] = [...csrwi64(CSR.pmpaddr0, napot(BigInt(DATA), 0x1000n)), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.L | PMP.NAPOT | PMP.R | PMP.W))];
      const r = runP([...e, ...li(6, BigInt(DATA)), ['jalr', { rd: 0, rs1: 6, imm: 0 }]]);
      expectM(r, { cause: 1, epc: DATA, tval: DATA, from: PRV_M });
    });

    it('a PMP change takes effect for addresses already accessed (no stale permission)', () => {
      // S reads DATA (allowed), ecalls; the M handler removes R from entry 0 and returns; the
      // second read faults.
      const e: Insn[] = [...fallback15, ...csrwi64(CSR.pmpaddr0, napot(BigInt(DATA), 0x1000n)), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NAPOT | PMP.R))];
      const r = runP([...e, ...li(6, BigInt(DATA)), ...enterMode(PRV_S), ['ld', { rd: 7, rs1: 6, imm: 0 }], ECALL, label('x'), ['ld', { rd: 7, rs1: 6, imm: 0 }], ECALL], {
        mHandler: mOnce([...csrwi64(CSR.pmpcfg0, BigInt(PMP.NAPOT), 29)]),
      });
      expectM(r, { cause: 5, epc: r.p.at('x'), tval: DATA, from: PRV_S, traps: 2 });
    });
  });

  describe('registers: lock, WARL', () => {
    it('a locked entry ignores writes to its cfg byte and pmpaddr (other bytes stay writable)', () => {
      const r = runP([
        ...csrwi64(CSR.pmpaddr0, napot(BigInt(DATA), 0x1000n)),
        ...csrwi64(CSR.pmpcfg0, BigInt(PMP.L | PMP.NAPOT | PMP.R | PMP.W | PMP.X)),
        ...li(6, -1n),
        csrw(CSR.pmpaddr0, 6),
        csrr(10, CSR.pmpaddr0),
        ...csrwi64(CSR.pmpcfg0, cfgByte(1, PMP.NAPOT | PMP.R)),
        csrr(11, CSR.pmpcfg0),
        WFI,
      ]);
      expectClean(r);
      expect(hex(r.core.x(10))).toBe(hex(napot(BigInt(DATA), 0x1000n)));
      expect(hex(r.core.x(11))).toBe(hex(cfgByte(0, PMP.L | PMP.NAPOT | 7) | cfgByte(1, PMP.NAPOT | PMP.R)));
    });

    it('a locked TOR entry also locks the pmpaddr below it; a locked NAPOT entry does not', () => {
      const r = runP([
        ...csrwi64(CSR.pmpaddr0, BigInt(DATA) >> 2n),
        ...csrwi64(CSR.pmpaddr0 + 1, BigInt(DATA + 0x100) >> 2n),
        ...csrwi64(CSR.pmpaddr0 + 3, 0x1111n),
        ...csrwi64(CSR.pmpcfg0, cfgByte(1, PMP.L | PMP.TOR | PMP.R | PMP.W | PMP.X) | cfgByte(4, PMP.L | PMP.NAPOT | PMP.R | PMP.W | PMP.X)),
        ...csrwi64(CSR.pmpaddr0, 0x10n),
        ...csrwi64(CSR.pmpaddr0 + 1, 0x20n),
        ...csrwi64(CSR.pmpaddr0 + 3, 0x30n),
        csrr(10, CSR.pmpaddr0),
        csrr(11, CSR.pmpaddr0 + 1),
        csrr(12, CSR.pmpaddr0 + 3),
        WFI,
      ]);
      expectClean(r);
      expect([10, 11, 12].map((i) => hex(r.core.x(i)))).toEqual([hex(BigInt(DATA) >> 2n), hex(BigInt(DATA + 0x100) >> 2n), '0x30']);
    });

    it.each([
      [PMP.NAPOT | PMP.W, PMP.NAPOT],
      [PMP.NAPOT | PMP.W | PMP.X, PMP.NAPOT | PMP.X],
      [0x7f, 0x1f], // bits 6:5 are reserved (read 0)
      [PMP.TOR | PMP.R | PMP.W, PMP.TOR | PMP.R | PMP.W],
    ])('pmpcfg byte write %s reads %s (R = 0, W = 1 is reserved: WARL to W = 0)', (w, want) => {
      const r = runP([...csrwi64(CSR.pmpcfg2, cfgByte(10, w)), csrr(10, CSR.pmpcfg2), csrw(CSR.pmpcfg2, 0), WFI]);
      expectClean(r);
      expect(hex(r.core.x(10))).toBe(hex(cfgByte(10, want)));
    });

    it('pmpaddr holds 54 bits (physical address bits 55:2); 16 entries: pmpaddr16-63 and pmpcfg4-14 read 0', () => {
      const r = runP([
        ...li(6, -1n),
        csrw(CSR.pmpaddr0 + 7, 6),
        csrr(10, CSR.pmpaddr0 + 7),
        csrw(0x3c0, 6),
        csrr(11, 0x3c0),
        csrw(0x3ef, 6),
        csrr(12, 0x3ef),
        csrw(0x3a4, 6),
        csrr(13, 0x3a4),
        csrw(0x3ae, 6),
        csrr(14, 0x3ae),
        WFI,
      ]);
      expectClean(r);
      expect([10, 11, 12, 13, 14].map((i) => hex(r.core.x(i)))).toEqual([hex(PMPADDR_ALL), '0x0', '0x0', '0x0', '0x0']);
    });

    it.each([0x3a1, 0x3a3, 0x3af].map((c) => [hex(c), c] as const))('odd pmpcfg %s does not exist on RV64', (_n, csr) => {
      const insn = csrr(6, csr);
      const r = runP([label('x'), insn, WFI]);
      expectM(r, { cause: 2, epc: r.p.at('x'), tval: enc(insn), from: PRV_M });
    });
  });

  describe('page-table walks', () => {
    // Tables (buildPageTables order): root 0, code L1 +0x1000, code L0 +0x2000, data L1 +0x3000,
    // data L0 +0x4000. Entry 0 covers the data leaf table only; entry 15 allows everything.
    const DATA_L0 = BigInt(TABLES + 0x4000);
    const walkEntries = (perm: number): Insn[] => [...fallback15, ...csrwi64(CSR.pmpaddr0, napot(DATA_L0, 0x1000n)), ...csrwi64(CSR.pmpcfg0, BigInt(PMP.NAPOT | perm))];

    it.each(['ld', 'sd', 'jump'] as const)('a PTE in a PMP-denied region: %s is an access fault of its own type, tval = va', (a) => {
      const { maps } = vm([{ va: DATA_VA, pa: BigInt(DATA), flags: KRW | PTE.X }]);
      const r = runP([...walkEntries(0), ...li(6, DATA_VA), ...enterMode(PRV_S), label('x'), access(a), ECALL], { setup: vmSetup(maps) });
      expectM(r, { cause: faultCause(a), epc: a === 'jump' ? DATA_VA : r.p.at('x'), tval: DATA_VA, from: PRV_S });
    });

    it('the same walk with R permission on the tables succeeds', () => {
      const { maps } = vm([{ va: DATA_VA, pa: BigInt(DATA), flags: KRW }]);
      const r = runP([...walkEntries(PMP.R), ...li(6, DATA_VA), ...enterMode(PRV_S), ['sd', { rs1: 6, rs2: 6, imm: 0 }], ECALL], { setup: vmSetup(maps) });
      expectM(r, { cause: 9, from: PRV_S });
      expect(readLE(r.core, DATA, 8)).toBe(DATA_VA);
    });

    it('a delegated walk access fault goes to S with stval = va', () => {
      const { maps } = vm([{ va: DATA_VA, pa: BigInt(DATA), flags: KRW }]);
      const r = runP([...walkEntries(0), ...csrwi64(CSR.medeleg, bit(5)), ...li(6, DATA_VA), ...enterMode(PRV_S), label('x'), ['lw', { rd: 7, rs1: 6, imm: 0 }], ECALL], {
        setup: vmSetup(maps),
      });
      expectS(r, { cause: 5, epc: r.p.at('x'), tval: DATA_VA, from: PRV_S });
    });

    // Priv 1.12 §4.3.2 step 7 (and Svadu): when the hardware updates A/D, "if a store to pte would
    // violate a PMA or PMP check, raise an access-fault exception corresponding to the original
    // access type". assembly/mmu.ts translate() raises a page fault instead when the PTE is not
    // PMP-writable (it updates A/D otherwise, H_AD_UPDATE = 1 by default).
    it('hardware A/D update of a PTE in a read-only PMP region is an access fault, not a page fault', () => {
      const { maps } = vm([{ va: DATA_VA, pa: BigInt(DATA), flags: PTE.V | PTE.R | PTE.W }]); // A = D = 0
      const r = runP([...walkEntries(PMP.R), ...li(6, DATA_VA), ...enterMode(PRV_S), label('x'), ['ld', { rd: 7, rs1: 6, imm: 0 }], ECALL], { setup: vmSetup(maps) });
      expectM(r, { cause: 5, epc: r.p.at('x'), tval: DATA_VA, from: PRV_S });
    });
  });
});

// =============================================================================================
describe('page faults: causes and tvals', () => {
  const pf = (extra: PageMap[], code: Insn[], o: { deleg?: bigint; mode?: Priv; codeFlags?: bigint; pre?: Insn[]; also?: (c: Core) => void } = {}) => {
    const { maps } = vm(extra, o.codeFlags);
    return runP([...pmpAllowAll(), ...csrwi64(CSR.medeleg, o.deleg ?? 0n), ...li(6, DATA_VA), ...enterMode(o.mode ?? PRV_S), ...(o.pre ?? []), label('x'), ...code, ECALL], {
      setup: vmSetup(maps, o.also),
    });
  };
  const LD: Insn = ['ld', { rd: 7, rs1: 6, imm: 0x18 }];
  const SD: Insn = ['sd', { rs1: 6, rs2: 6, imm: 0x18 }];
  const JUMP: Insn = ['jalr', { rd: 0, rs1: 6, imm: 0x18 }];

  it.each([
    ['load from an unmapped page', 13, [] as PageMap[], LD],
    ['store to an unmapped page', 15, [] as PageMap[], SD],
    ['fetch from an unmapped page', 12, [] as PageMap[], JUMP],
    ['store to a read-only page', 15, [{ va: DATA_VA, pa: BigInt(DATA), flags: PTE.V | PTE.R | PTE.A | PTE.D }], SD],
    ['load from an execute-only page (MXR = 0)', 13, [{ va: DATA_VA, pa: BigInt(DATA), flags: PTE.V | PTE.X | PTE.A | PTE.D }], LD],
    ['fetch from a non-executable page', 12, [{ va: DATA_VA, pa: BigInt(DATA), flags: KRW }], JUMP],
    ['S fetch from a U page', 12, [{ va: DATA_VA, pa: BigInt(DATA), flags: KRW | PTE.X | PTE.U }], JUMP],
    ['S load from a U page (SUM = 0)', 13, [{ va: DATA_VA, pa: BigInt(DATA), flags: KRW | PTE.U }], LD],
  ] as const)('%s: M gets mcause %i, mtval = va; delegated, S gets the same in scause/stval', (_n, cause, extra, insn) => {
    const isFetch = insn === JUMP;
    const va = DATA_VA + 0x18n;
    const m = pf([...extra], [insn]);
    expectM(m, { cause, epc: isFetch ? va : m.p.at('x'), tval: va, from: PRV_S });
    const s = pf([...extra], [insn], { deleg: bit(cause) });
    expectS(s, { cause, epc: isFetch ? va : s.p.at('x'), tval: va, from: PRV_S });
    expect(csrOf(s.core, 'mcause')).toBe(0n);
  });

  it('U-mode access to a supervisor page (U = 0) is a page fault', () => {
    const user = PTE.V | PTE.R | PTE.X | PTE.U | PTE.A | PTE.D;
    const r = pf([{ va: DATA_VA, pa: BigInt(DATA), flags: KRW }], [LD], { mode: PRV_U, codeFlags: user });
    expectM(r, { cause: 13, epc: r.p.at('x'), tval: DATA_VA + 0x18n, from: PRV_U });
  });

  it('a 4-byte instruction straddling into an unmapped page: epc = its start, tval = the unmapped page', () => {
    // DATA_VA maps DATA (RX); DATA_VA + 0x1000 is unmapped. The low half of an addi sits in the
    // last parcel of the mapped page (Priv 1.12 §3.1.16: tval = the portion that faulted).
    const r = pf([{ va: DATA_VA, pa: BigInt(DATA), flags: KX }], [['jalr', { rd: 0, rs1: 6, imm: 0 }]], {
      pre: [['addi', { rd: 6, rs1: 6, imm: 0x7ff }], ['addi', { rd: 6, rs1: 6, imm: 0x7ff }]],
      also: (c) => c.writePhys(DATA + 0xffe, Uint8Array.from([0x93, 0x02])),
    });
    expectM(r, { cause: 12, epc: DATA_VA + 0xffen, tval: DATA_VA + 0x1000n, from: PRV_S });
  });

  const toPageEnd: Insn[] = [['addi', { rd: 6, rs1: 6, imm: 0x7ff }], ['addi', { rd: 6, rs1: 6, imm: 0x7fd }]]; // x6 = DATA_VA + 0xffc
  it.each([
    ['load', ['ld', { rd: 7, rs1: 6, imm: 0 }] as Insn, 13],
    ['store', ['sd', { rs1: 6, rs2: 6, imm: 0 }] as Insn, 15],
  ] as const)('a misaligned %s crossing into an unmapped page faults with tval = the first byte of that page', (_n, insn, cause) => {
    const r = pf([{ va: DATA_VA, pa: BigInt(DATA), flags: KRW }], [insn], { pre: toPageEnd, also: (c) => writeLE(c, DATA + 0xff8, 8, 0x1122334455667788n) });
    expectM(r, { cause, epc: r.p.at('x'), tval: DATA_VA + 0x1000n, from: PRV_S });
    expect(hex(readLE(r.core, DATA + 0xff8, 8))).toBe('0x1122334455667788'); // nothing written
  });

  it('a misaligned load whose first page is unmapped faults with tval = its address', () => {
    const r = pf([{ va: DATA_VA + 0x1000n, pa: BigInt(DATA), flags: KRW }], [['ld', { rd: 7, rs1: 6, imm: 0 }]], { pre: toPageEnd });
    expectM(r, { cause: 13, epc: r.p.at('x'), tval: DATA_VA + 0xffcn, from: PRV_S });
  });

  it('a misaligned load crossing two mapped pages reads both', () => {
    const r = pf(
      [
        { va: DATA_VA, pa: BigInt(DATA + 0x1000), flags: KRW },
        { va: DATA_VA + 0x1000n, pa: BigInt(DATA), flags: KRW },
      ],
      [['ld', { rd: 7, rs1: 6, imm: 0 }]],
      {
        pre: toPageEnd,
        also: (c) => {
          writeLE(c, DATA + 0x1ffc, 4, 0x44332211n);
          writeLE(c, DATA, 4, 0x88776655n);
        },
      },
    );
    expectM(r, { cause: 9, from: PRV_S });
    expect(hex(r.core.x(7))).toBe('0x8877665544332211');
  });

  it('sfence.vma makes a changed PTE visible', () => {
    const { maps, satp } = vm([{ va: DATA_VA, pa: BigInt(DATA), flags: KRW }]);
    // Leaf PTE of DATA_VA: the data L0 table (TABLES + 0x4000), index 0.
    const leaf = BigInt(TABLES + 0x4000);
    const newPte = ((BigInt(DATA + 0x1000) >> 12n) << 10n) | KRW;
    const r = runP(
      [...pmpAllowAll(), ...li(6, DATA_VA), ...enterMode(PRV_S), ['ld', { rd: 7, rs1: 6, imm: 0 }], ECALL, ['sfence.vma', { rs1: 0, rs2: 0 }], ['ld', { rd: 8, rs1: 6, imm: 0 }], ECALL],
      {
        setup: vmSetup(maps, (c) => {
          expect(pteAddress(c, satp, DATA_VA)).toBe(leaf);
          writeLE(c, DATA, 8, 0x1111n);
          writeLE(c, DATA + 0x1000, 8, 0x2222n);
        }),
        // First ecall: the M handler repoints the leaf PTE at DATA + 0x1000.
        mHandler: mOnce([...li(29, leaf), ...li(30, newPte), ['sd', { rs1: 29, rs2: 30, imm: 0 }]]),
      },
    );
    expectM(r, { cause: 9, from: PRV_S, traps: 2 });
    expect([r.core.x(7), r.core.x(8)]).toEqual([0x1111n, 0x2222n]);
  });

  it('a satp write to another ASID switches address spaces at once (no sfence.vma needed)', () => {
    // Two Sv39 table sets with code and handler identity-mapped; DATA_VA maps DATA under ASID 1
    // and DATA + 0x1000 under ASID 2. A translation cached for ASID 1 must not be used for ASID 2.
    const A = RAM_BASE + 0xc0000, B = RAM_BASE + 0xd0000;
    const satpOf = (base: number, asid: bigint) => (8n << 60n) | (asid << 44n) | (BigInt(base) >> 12n);
    const r = runP(
      [
        ...pmpAllowAll(),
        ...li(6, DATA_VA),
        ...li(9, satpOf(B, 2n)),
        ...enterMode(PRV_S),
        ['ld', { rd: 7, rs1: 6, imm: 0 }],
        csrw(CSR.satp, 9),
        ['ld', { rd: 8, rs1: 6, imm: 0 }],
        ECALL,
      ],
      {
        setup: (c) => {
          const satpA = buildPageTables(c, 8, vm([{ va: DATA_VA, pa: BigInt(DATA), flags: KRW }]).maps, A);
          expect(buildPageTables(c, 8, vm([{ va: DATA_VA, pa: BigInt(DATA + 0x1000), flags: KRW }]).maps, B)).toBe(satpOf(B, 0n));
          setCsrDirect(c, 'satp', satpA | (1n << 44n));
          writeLE(c, DATA, 8, 0x1111n);
          writeLE(c, DATA + 0x1000, 8, 0x2222n);
        },
      },
    );
    expectM(r, { cause: 9, from: PRV_S });
    expect([r.core.x(7), r.core.x(8)]).toEqual([0x1111n, 0x2222n]);
  });

  it('sfence.vma with an address drops that page: a remapped page is seen', () => {
    const { maps } = vm([{ va: DATA_VA, pa: BigInt(DATA), flags: KRW }]);
    const leaf = BigInt(TABLES + 0x4000);
    const newPte = ((BigInt(DATA + 0x1000) >> 12n) << 10n) | KRW;
    const r = runP(
      [...pmpAllowAll(), ...li(6, DATA_VA), ...enterMode(PRV_S), ['ld', { rd: 7, rs1: 6, imm: 0 }], ECALL, ['sfence.vma', { rs1: 6, rs2: 0 }], ['ld', { rd: 8, rs1: 6, imm: 0 }], ECALL],
      {
        setup: vmSetup(maps, (c) => {
          writeLE(c, DATA, 8, 0x1111n);
          writeLE(c, DATA + 0x1000, 8, 0x2222n);
        }),
        mHandler: mOnce([...li(29, leaf), ...li(30, newPte), ['sd', { rs1: 29, rs2: 30, imm: 0 }]]),
      },
    );
    expectM(r, { cause: 9, from: PRV_S, traps: 2 });
    expect([r.core.x(7), r.core.x(8)]).toEqual([0x1111n, 0x2222n]);
  });
});
