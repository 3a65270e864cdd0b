/**
 * Zicsr (Unprivileged ISA 20191213 ch. 9) and the machine CSRs of this M/S/U hart (Privileged
 * ISA 1.12 ch. 2-3), accessed from M-mode: read/set/clear semantics, the rd = x0 and rs1 = x0
 * rules, read-only and nonexistent CSRs (illegal instruction, mtval = instruction bits), counters
 * and WARL fields. The supervisor CSRs and access from S/U are covered by priv.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { TIMING_CLASS_COUNT, TIMING_CLASS_ID } from '../../src/isa/classes.js';
import { assemble } from '../helpers/core-harness.js';
import { RAM_BASE, enc, exec, expectTrap, hex, li, run, u64, WFI, type Insn } from '../helpers/isa.js';

const MSTATUS = 0x300, MISA = 0x301, MIE = 0x304, MTVEC = 0x305, MSCRATCH = 0x340, MEPC = 0x341, MCAUSE = 0x342;
const MTVAL = 0x343, MIP = 0x344, MCYCLE = 0xb00, MINSTRET = 0xb02, CYCLE = 0xc00, TIME = 0xc01, INSTRET = 0xc02;
const MHARTID = 0xf14;

const csrr = (rd: number, csr: number): Insn => ['csrrs', { rd, rs1: 0, imm: csr }];
const csrw = (csr: number, rs1: number): Insn => ['csrrw', { rd: 0, rs1, imm: csr }];
const NOP: Insn = ['addi', { rd: 0, rs1: 0, imm: 0 }];

describe('read / write / set / clear', () => {
  it('csrrw swaps, csrrs sets, csrrc clears (mscratch)', () => {
    const core = run([
      ...li(6, 0xf0f0_0000_0000_00ffn),
      ['csrrw', { rd: 5, rs1: 6, imm: MSCRATCH }], // x5 = 0 (reset value)
      ...li(7, 0x0f00_0000_0000_0f00n),
      ['csrrs', { rd: 8, rs1: 7, imm: MSCRATCH }], // x8 = f0f0..00ff
      ...li(9, 0xf000_0000_0000_000fn),
      ['csrrc', { rd: 10, rs1: 9, imm: MSCRATCH }], // x10 = ff f0 .. 0fff
      csrr(11, MSCRATCH),
      WFI,
    ]);
    expect([core.x(5), core.x(8), core.x(10), core.x(11)].map(hex)).toEqual(
      [0n, 0xf0f0_0000_0000_00ffn, 0xfff0_0000_0000_0fffn, 0x0ff0_0000_0000_0ff0n].map(hex),
    );
  });

  it('immediate forms use the 5-bit zero-extended uimm', () => {
    const core = run([
      ...li(6, -1n),
      csrw(MSCRATCH, 6),
      ['csrrwi', { rd: 5, rs1: 31, imm: MSCRATCH }], // x5 = all ones, mscratch = 31 (not -1)
      ['csrrci', { rd: 7, rs1: 0b10101, imm: MSCRATCH }], // x7 = 31, mscratch = 0b01010
      ['csrrsi', { rd: 8, rs1: 0b10000, imm: MSCRATCH }], // x8 = 10, mscratch = 26
      csrr(9, MSCRATCH),
      WFI,
    ]);
    expect([core.x(5), core.x(7), core.x(8), core.x(9)].map(hex)).toEqual([u64(-1n), 31n, 10n, 26n].map(hex));
  });

  it('rd == rs1 reads the old value and writes the old register value', () => {
    const core = run([...li(5, 0x1234n), csrw(MSCRATCH, 5), ...li(5, 0x5678n), ['csrrw', { rd: 5, rs1: 5, imm: MSCRATCH }], csrr(6, MSCRATCH), WFI]);
    expect(core.x(5)).toBe(0x1234n);
    expect(core.x(6)).toBe(0x5678n);
  });

  it('csrrs/csrrc with rs1 = x0 and csrrsi/csrrci with uimm = 0 only read', () => {
    const core = run([
      ...li(5, 0xabcn),
      csrw(MSCRATCH, 5),
      ['csrrs', { rd: 6, rs1: 0, imm: MSCRATCH }],
      ['csrrc', { rd: 7, rs1: 0, imm: MSCRATCH }],
      ['csrrsi', { rd: 8, rs1: 0, imm: MSCRATCH }],
      ['csrrci', { rd: 9, rs1: 0, imm: MSCRATCH }],
      csrr(10, MSCRATCH),
      WFI,
    ]);
    expect([core.x(6), core.x(7), core.x(8), core.x(9), core.x(10)]).toEqual([0xabcn, 0xabcn, 0xabcn, 0xabcn, 0xabcn]);
  });

  it('counts every CSR instruction in the csr class', () => {
    const core = run([csrr(5, MSCRATCH), csrw(MSCRATCH, 0), ['csrrsi', { rd: 0, rs1: 1, imm: MSCRATCH }], WFI]);
    expect(core.classCounts().csr).toBe(3);
  });
});

describe('read-only CSRs (csr[11:10] = 3)', () => {
  const RO = [CYCLE, TIME, INSTRET, 0xf11, 0xf12, 0xf13, MHARTID, 0xc03];
  it.each(RO)('0x%s can be read with csrrs rs1 = x0, csrrsi/csrrci uimm = 0', (csr) => {
    run([csrr(5, csr), ['csrrc', { rd: 6, rs1: 0, imm: csr }], ['csrrsi', { rd: 7, rs1: 0, imm: csr }], ['csrrci', { rd: 8, rs1: 0, imm: csr }], WFI]);
  });

  const writes: Array<[string, (csr: number) => Insn]> = [
    ['csrrw x0', (csr) => ['csrrw', { rd: 0, rs1: 5, imm: csr }]],
    ['csrrw', (csr) => ['csrrw', { rd: 6, rs1: 5, imm: csr }]],
    ['csrrs rs1 != x0 (value 0)', (csr) => ['csrrs', { rd: 6, rs1: 7, imm: csr }]],
    ['csrrc rs1 != x0 (value 0)', (csr) => ['csrrc', { rd: 6, rs1: 7, imm: csr }]],
    ['csrrwi uimm = 0', (csr) => ['csrrwi', { rd: 6, rs1: 0, imm: csr }]],
    ['csrrsi uimm != 0', (csr) => ['csrrsi', { rd: 6, rs1: 1, imm: csr }]],
  ];
  const cases = RO.flatMap((csr) => writes.map(([what, mk]) => [csr, what, mk] as const));
  it.each(cases)('0x%s %s raises illegal instruction (mtval = bits, rd unchanged)', (csr, _what, mk) => {
    const pre: Insn[] = [...li(5, 1n), ...li(6, 0x5an), ['addi', { rd: 7, rs1: 0, imm: 0 }]];
    const insn = mk(csr);
    const r = exec([...pre, insn, WFI]);
    expectTrap(r, { cause: 2, tval: enc(insn), epc: RAM_BASE + 4 * pre.length });
    expect(r.core.x(6)).toBe(0x5an);
    expect(r.core.classCounts().csr).toBe(0);
  });
});

describe('nonexistent CSRs', () => {
  // Custom (0x7c0, 0x5c0, 0xbc0), debug-mode only (dcsr 0x7b0), trigger module tcontrol (0x7a5:
  // optional, not implemented; tselect..tinfo exist, see trigger.test.ts), Smepmp (mseccfg 0x747), F (fflags, frm, fcsr: no F), H (hstatus: no H),
  // Sdtrig scontext (0x5a8), V (vstart: no V), RV32-only (mstatush, menvcfgh, stimecmph, mcycleh,
  // cycleh, and the odd pmpcfg1: Priv 1.12 §3.7.1), and unassigned numbers.
  const NX = [
    0x7c0, 0x5c0, 0xbc0, 0x7b0, 0x7a5, 0x747, 0x001, 0x002, 0x003, 0x6c0, 0x5a8, 0x008, 0x310, 0x31a, 0x15d, 0x3a1,
    0xb80, 0xc80, 0xfff,
  ];
  const forms: Array<[string, (csr: number) => Insn]> = [
    ['csrrs (read only)', (csr) => ['csrrs', { rd: 6, rs1: 0, imm: csr }]],
    ['csrrw x0 (write only)', (csr) => ['csrrw', { rd: 0, rs1: 5, imm: csr }]],
    ['csrrci', (csr) => ['csrrci', { rd: 6, rs1: 3, imm: csr }]],
  ];
  const cases = NX.flatMap((csr) => forms.map(([what, mk]) => [hex(csr), what, csr, mk] as const));
  it.each(cases)('%s %s raises illegal instruction with mtval = instruction bits', (_name, _w, csr, mk) => {
    const pre: Insn[] = [...li(5, 7n), ...li(6, 0x77n)];
    const insn = mk(csr);
    const r = exec([...pre, insn, WFI]);
    expectTrap(r, { cause: 2, tval: enc(insn), epc: RAM_BASE + 4 * pre.length });
    expect(r.core.x(6)).toBe(0x77n);
  });
});

describe('machine information and status registers', () => {
  it('misa = RV64IMAFDCH + S + U with MXL = 2; writes are ignored', () => {
    const core = run([csrr(5, MISA), ...li(6, 0n), csrw(MISA, 6), csrr(7, MISA), WFI]);
    // A C D F H I M S U (H is on by default: Core.setHypervisor)
    const want = (2n << 62n) | (1n << 0n) | (1n << 2n) | (1n << 3n) | (1n << 5n) | (1n << 7n) | (1n << 8n) | (1n << 12n) | (1n << 18n) | (1n << 20n);
    expect(hex(core.x(5))).toBe(hex(want));
    expect(hex(core.x(5))).toBe('0x80000000001411ad');
    expect(core.x(7)).toBe(core.x(5));
  });

  it('mhartid, mvendorid, marchid, mimpid read 0', () => {
    const core = run([...li(5, 1n), ...li(6, 1n), ...li(7, 1n), ...li(8, 1n), csrr(5, MHARTID), csrr(6, 0xf11), csrr(7, 0xf12), csrr(8, 0xf13), WFI]);
    expect([core.x(5), core.x(6), core.x(7), core.x(8)]).toEqual([0n, 0n, 0n, 0n]);
  });

  it('mstatus: resets with MPP = 3 and UXL = SXL = 2 (read-only); which fields are writable', () => {
    const core = run([csrr(5, MSTATUS), ...li(6, -1n), csrw(MSTATUS, 6), csrr(7, MSTATUS), csrw(MSTATUS, 0), csrr(8, MSTATUS), WFI]);
    // UXL (bits 33:32) = SXL (bits 35:34) = 2: XLEN 64 in S and U, not writable (Priv 1.12 §3.1.6.2).
    expect(hex(core.x(5))).toBe('0xa00001800');
    // Writable: SIE MIE SPIE MPIE SPP MPP FS MPRV SUM MXR TVM TW TSR; SD (bit 63) is read-only and
    // follows FS = Dirty. XS/VS stay 0 (no custom or vector state), UBE/SBE/MBE stay 0
    // (little-endian only). FS resets to Off. With H: GVA (38) and MPV (39) are writable.
    expect(hex(core.x(7))).toBe('0x800000ca007e79aa');
    expect(hex(core.x(8))).toBe('0xa00000000');
  });

  it('mstatus.MPP is WARL: U, S and M are kept, the reserved value 2 leaves the field unchanged', () => {
    const mppOf = (v: bigint) => (v >> 11n) & 3n;
    const core = run([
      ...li(6, 1n << 11n), csrw(MSTATUS, 6), csrr(10, MSTATUS), // S
      ...li(6, 2n << 11n), csrw(MSTATUS, 6), csrr(11, MSTATUS), // reserved: stays S
      ...li(6, 0n), csrw(MSTATUS, 6), csrr(12, MSTATUS), // U
      ...li(6, 2n << 11n), ['csrrs', { rd: 0, rs1: 6, imm: MSTATUS }], csrr(13, MSTATUS), // U | 2 = 2: stays U
      ...li(6, 3n << 11n), csrw(MSTATUS, 6), csrr(14, MSTATUS), // M
      WFI,
    ]);
    expect([10, 11, 12, 13, 14].map((r) => mppOf(core.x(r)))).toEqual([1n, 1n, 0n, 0n, 3n]);
  });

  it('mip shows the bits the host drives (CLINT/PLIC) and guest writes do not clear them', () => {
    const { core } = exec([csrr(5, MIP), ...li(6, 0n), csrw(MIP, 6), ['csrrc', { rd: 0, rs1: 7, imm: MIP }], csrr(7, MIP), WFI], {
      setup: (c) => {
        c.setMip(7, true);
        c.setMip(11, true);
      },
    });
    expect(hex(core.x(5))).toBe('0x880');
    expect(hex(core.x(7))).toBe('0x880');
  });

  it('mie keeps the S and M enables (SSIE STIE SEIE MSIE MTIE MEIE, LCOFIE); M-mode writes only SSIP/STIP/SEIP/LCOFIP of mip', () => {
    const core = run([...li(6, -1n), csrw(MIE, 6), csrr(5, MIE), csrw(MIP, 6), csrr(7, MIP), csrw(MIP, 0), csrr(8, MIP), csrw(MIE, 0), WFI]);
    // With H also VSSIE, VSTIE, VSEIE (hie's bits); with Sscofpmf LCOFIE (13).
    expect(hex(core.x(5))).toBe('0x2eee');
    // MSIP/MTIP/MEIP are read-only (driven by the CLINT/PLIC); STIP is writable while Sstc is off
    // (menvcfg.STCE = 0) (Priv 1.12 §3.1.9); VSSIP (alias of hvip.VSSIP) is writable, VSTIP/VSEIP not;
    // LCOFIP is software-writable (Sscofpmf).
    expect(hex(core.x(7))).toBe('0x2226');
    expect(core.x(8)).toBe(0n);
  });

  it.each([
    [0x8000_1000n, 0x8000_1000n],
    [0x8000_1001n, 0x8000_1001n], // vectored
    [0xffff_ffff_ffff_ff00n, 0xffff_ffff_ffff_ff00n],
  ])('mtvec write %s reads %s', (v, want) => {
    const core = run([...li(6, v), csrw(MTVEC, 6), csrr(5, MTVEC), WFI]);
    expect(hex(core.x(5))).toBe(hex(want));
  });

  it.each([0x8000_1002n, 0x8000_1003n])('mtvec MODE %s (reserved) reads back a legal mode with BASE kept', (v) => {
    const core = run([...li(6, v), csrw(MTVEC, 6), csrr(5, MTVEC), WFI]);
    expect(core.x(5) & 3n).toBeLessThan(2n);
    expect(core.x(5) & ~3n).toBe(v & ~3n);
  });

  it('mepc clears bit 0 (IALIGN = 16); mcause, mtval, mscratch hold 64 bits', () => {
    const v = 0xdead_beef_cafe_f00dn;
    const core = run([
      ...li(6, v),
      csrw(MEPC, 6),
      csrw(MCAUSE, 6),
      csrw(MTVAL, 6),
      csrw(MSCRATCH, 6),
      csrr(10, MEPC),
      csrr(11, MCAUSE),
      csrr(12, MTVAL),
      csrr(13, MSCRATCH),
      WFI,
    ]);
    expect([core.x(10), core.x(11), core.x(12), core.x(13)].map(hex)).toEqual([v & ~1n, v, v, v].map(hex));
  });

  // Zihpm (assembly/hpm.ts; more in zihpm.test.ts): at reset every counter selects no event
  // (mhpmevent = 0) and holds its value; an unknown event legalises to 0 (WARL).
  it('mcountinhibit and the hpm counters/events are present, 0 at reset; a counter with no event holds what is written', () => {
    const core = run([
      ...li(5, 9n),
      ...li(6, 9n),
      ...li(7, 9n),
      ...li(8, 9n),
      csrr(5, 0x320),
      csrr(6, 0xb03),
      csrr(7, 0xc1f),
      csrr(8, 0x323),
      ...li(9, -1n),
      csrw(0xb03, 9),
      csrw(0x33f, 9),
      csrr(10, 0xb03),
      WFI,
    ]);
    expect([core.x(5), core.x(6), core.x(7), core.x(8), core.x(10)]).toEqual([0n, 0n, 0n, 0n, u64(-1n)]);
  });
});

describe('counters', () => {
  it('minstret / instret read the count of instructions retired before the reading one', () => {
    const core = run([NOP, NOP, NOP, csrr(5, MINSTRET), csrr(6, INSTRET), NOP, csrr(7, MINSTRET), WFI]);
    expect([core.x(5), core.x(6), core.x(7)]).toEqual([3n, 4n, 6n]);
  });

  it('mcycle / cycle read the cycles of the instructions before the reading one', () => {
    const lat = new Array<number>(TIMING_CLASS_COUNT).fill(1);
    lat[TIMING_CLASS_ID.alu] = 2;
    lat[TIMING_CLASS_ID.csr] = 7;
    const core = run([NOP, NOP, NOP, csrr(5, MCYCLE), csrr(6, CYCLE), WFI], { latencies: lat });
    expect(core.x(5)).toBe(6n);
    expect(core.x(6)).toBe(13n);
  });

  it('a write to minstret is the value the next instruction sees', () => {
    const core = run([...li(5, 1000n), csrw(MINSTRET, 5), csrr(6, MINSTRET), NOP, csrr(7, INSTRET), WFI]);
    expect(core.x(6)).toBe(1000n);
    expect(core.x(7)).toBe(1002n);
    // The host's count is not affected by the guest's write.
    expect(core.instret).toBe(li(5, 1000n).length + 5);
  });

  it('a write to mcycle is the value the next instruction sees (with non-unit latencies)', () => {
    const lat = new Array<number>(TIMING_CLASS_COUNT).fill(1);
    lat[TIMING_CLASS_ID.alu] = 2;
    lat[TIMING_CLASS_ID.csr] = 7;
    const pre = li(5, 5000n);
    const core = run([...pre, csrw(MCYCLE, 5), csrr(6, MCYCLE), NOP, csrr(7, CYCLE), WFI], { latencies: lat });
    expect(core.x(6)).toBe(5000n);
    expect(core.x(7)).toBe(5000n + 7n + 2n);
    expect(core.cycles).toBe(2 * pre.length + 7 + 7 + 2 + 7 + 1);
  });

  it('mcycle and minstret wrap modulo 2^64', () => {
    const core = run([...li(5, -1n), csrw(MCYCLE, 5), csrw(MINSTRET, 5), NOP, csrr(6, MCYCLE), csrr(7, MINSTRET), WFI]);
    // mcycle: -1 after the csrw to mcycle, then csrw minstret (1) and nop (1) -> 1.
    expect(core.x(6)).toBe(1n);
    // minstret: -1 after its csrw, then nop and the csrr mcycle retire -> 1.
    expect(core.x(7)).toBe(1n);
  });

  it('csrrw on mcycle returns the old value', () => {
    const core = run([NOP, NOP, ...li(5, 77n), ['csrrw', { rd: 6, rs1: 5, imm: MCYCLE }], csrr(7, MCYCLE), WFI]);
    expect(core.x(6)).toBe(BigInt(2 + li(5, 77n).length));
    expect(core.x(7)).toBe(77n);
  });

  it('after a trap: minstret excludes the trapping instruction, mcycle includes the trap latency', () => {
    const H = RAM_BASE + 0x4000;
    const handler: Insn[] = [csrr(28, MEPC), ['addi', { rd: 28, rs1: 28, imm: 4 }], csrw(MEPC, 28), ['mret']];
    const pre: Insn[] = [...li(29, BigInt(H)), csrw(MTVEC, 29)];
    const { core } = exec([...pre, ['ecall'], csrr(5, MINSTRET), csrr(6, MCYCLE), WFI], {
      handler: false,
      setup: (c) => c.writePhys(H, assemble(handler)),
    });
    expect(core.exceptions).toBe(1);
    const retiredBefore = pre.length + handler.length;
    expect(core.x(5)).toBe(BigInt(retiredBefore));
    // test latencies: 1 per instruction, trap entry 5
    expect(core.x(6)).toBe(BigInt(retiredBefore + 5 + 1));
  });

  it('time = cycles / cyclesPerTick + offset', () => {
    const { core } = exec([NOP, NOP, NOP, csrr(5, TIME), WFI], { setup: (c) => c.setTimebase(1, 1000n) });
    expect(core.x(5)).toBe(1003n);
    const slow = exec([NOP, NOP, NOP, NOP, NOP, csrr(5, TIME), WFI], { setup: (c) => c.setTimebase(2, 0n) }).core;
    expect(slow.x(5)).toBe(2n); // 5 cycles / 2
  });
});
