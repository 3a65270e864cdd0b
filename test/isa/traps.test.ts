/**
 * M-mode traps on the M/S/U hart (Privileged ISA 1.12 §3.1.6-3.1.16, §3.3): ecall/ebreak/illegal
 * causes, mtvec direct and vectored modes, mepc/mcause/mtval, the MIE/MPIE stack and mret, instruction
 * and data access faults, and MMIO accesses of every width through the host port (FakeMmio).
 * Traps from and into S/U (delegation, sret, the S interrupt rules) are in priv.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Core } from '../../src/core.js';
import { encode } from '../../src/isa/encode.js';
import { FakeMmio } from '../helpers/core-harness.js';
import {
  DATA,
  HANDLER,
  MMIO,
  RAM_BASE,
  RunStatus,
  asm,
  csrOf,
  exec,
  expectClean,
  expectTrap,
  hex,
  label,
  li,
  MS,
  PRV_U,
  enterMode,
  pmpAllowAll,
  run,
  runFor,
  prepare,
  sext,
  setCsrDirect,
  WFI,
  type Insn,
} from '../helpers/isa.js';

const INT = 1n << 63n;
const MSTATUS = 0x300, MIE = 0x304, MTVEC = 0x305, MEPC = 0x341;
const csrr = (rd: number, csr: number): Insn => ['csrrs', { rd, rs1: 0, imm: csr }];
const csrw = (csr: number, rs1: number): Insn => ['csrrw', { rd: 0, rs1, imm: csr }];
const at = (pre: Insn[]) => RAM_BASE + 4 * pre.length;

/** A handler at `base` that skips the trapping 4-byte instruction and returns (mepc += 4; mret). */
function skipHandler(base: number, extra: Insn[] = []) {
  return asm([...extra, csrr(28, MEPC), ['addi', { rd: 28, rs1: 28, imm: 4 }], csrw(MEPC, 28), ['mret']], base);
}

describe('synchronous exceptions', () => {
  it('ecall: cause 11 (from M), mtval 0, mepc = the ecall, not retired', () => {
    const pre = li(5, 1n);
    const r = exec([...pre, ['ecall'], ['addi', { rd: 5, rs1: 0, imm: 2 }], WFI]);
    expectTrap(r, { cause: 11, tval: 0, epc: at(pre) });
    expect(r.core.x(5)).toBe(1n);
    expect(r.core.instret).toBe(pre.length + 1); // prologue + the handler's wfi
    expect(r.core.classCounts().system).toBe(1);
  });

  it('ebreak: cause 3, mtval = mepc = its pc', () => {
    const pre = li(5, 0x123456n);
    const r = exec([...pre, ['ebreak'], WFI]);
    expectTrap(r, { cause: 3, tval: at(pre), epc: at(pre) });
  });

  it.each([
    [0xffffffff, 'all ones'],
    [0x0000007f, 'opcode 0x7f'],
    [0x0000005b, 'reserved major opcode (custom-2)'],
    [0x00000007, 'FLW-space load (no F)'],
    [0x10200073 | (5 << 15), 'sret with rs1 != 0 (reserved encoding)'],
    [0x12000073 | (1 << 7) | (5 << 15) | (6 << 20), 'sfence.vma with rd != 0 (reserved encoding)'],
    // (sinval.vma / hinval.vvma: Svinval rows since issue 15; illegal with svinval=off, zb.test.ts)
    [0x00200073, 'uret/other SYSTEM funct12 (0x002)'],
    [0x7b200073, 'dret outside debug mode'],
    [0x0200101b | (5 << 7) | (5 << 15), 'slliw with shamt[5] set'],
    [0x1010302f, 'lr.d with rs2 != 0'],
  ])('0x%s (%s) raises illegal instruction with mtval = the instruction bits', (word) => {
    const pre = li(5, 7n);
    const r = exec([...pre, word >>> 0, WFI]);
    expectTrap(r, { cause: 2, tval: word >>> 0, epc: at(pre) });
    expect(r.core.x(5)).toBe(7n);
  });

  it('sfence.vma and sret in U-mode (illegal) do not retire or change anything', () => {
    // U-mode needs PMP permission to run at all; then drop to U right before the instruction.
    const pre = [...pmpAllowAll(), ...enterMode(PRV_U), ...li(5, 1n), ...li(6, 2n)];
    const r = exec([...pre, ['sret'], WFI]);
    expectTrap(r, { cause: 2, tval: encode('sret'), epc: at(pre) });
    expect(r.core.classCounts().system).toBe(2); // the prologue's mret and the handler's wfi
    expect(r.core.x(5)).toBe(1n);
    expect(csrOf(r.core, 'mstatus') & MS.MPP).toBe(0n); // trapped from U
    const r2 = exec([...pre, ['sfence.vma', { rs1: 5, rs2: 6 }], WFI]);
    expectTrap(r2, { cause: 2, tval: encode('sfence.vma', { rs1: 5, rs2: 6 }), epc: at(pre) });
    expect(r2.core.classCounts().fence).toBe(0);
  });

  it('sfence.vma in M-mode is legal and retires as fence', () => {
    const r = run([...li(5, 1n), ...li(6, 2n), ['sfence.vma', { rs1: 5, rs2: 6 }], ['sfence.vma', { rs1: 0, rs2: 0 }], WFI]);
    expect(r.classCounts().fence).toBe(2);
    expect(r.priv).toBe(3);
  });

  it('sret in M-mode is legal: SPP = 0 returns to U at sepc with SIE <- SPIE, SPIE <- 1, SPP <- U', () => {
    // sret from M (Priv 1.12 §3.3.2). sepc points at an ecall, which traps back to M with cause 8.
    const p = asm([
      ...pmpAllowAll(),
      ...li(6, MS.SPIE), // SPIE = 1, SIE = 0, SPP = 0
      csrw(0x100, 6),
      ['auipc', { rd: 7, imm: 0 }],
      ['addi', { rd: 7, rs1: 7, imm: 16 }],
      csrw(0x141, 7), // sepc = the ecall below
      ['sret'],
      label('u'),
      ['ecall'],
    ]);
    const r = exec(p);
    expectTrap(r, { cause: 8, epc: p.at('u') });
    const ms = csrOf(r.core, 'mstatus');
    expect(ms & MS.SIE).toBe(MS.SIE);
    expect(ms & MS.SPIE).toBe(MS.SPIE);
    expect(ms & MS.SPP).toBe(0n);
    expect(ms & MS.MPP).toBe(0n); // the ecall came from U
    expect(r.core.classCounts().system).toBe(2); // sret and the handler's wfi
  });

  it('traps count exceptions, not interrupts', () => {
    const H = RAM_BASE + 0x4000;
    const h = skipHandler(H);
    const r = exec([...li(5, BigInt(H)), csrw(MTVEC, 5), ['ecall'], ['ebreak'], 0xffffffff, WFI], {
      handler: false,
      setup: (c) => c.writePhys(H, h.bytes),
    });
    expect(r.status).toBe(RunStatus.Wfi);
    expect(r.core.exceptions).toBe(3);
    expect(r.core.interrupts).toBe(0);
    expect(r.core.classCounts().trap).toBe(3);
  });
});

describe('mstatus stack and mret', () => {
  const H = RAM_BASE + 0x4000;
  it('with MIE = 1: trap sets MPIE = 1, MIE = 0, MPP = 3; mret restores MIE = 1, MPIE = 1, MPP <- U', () => {
    const h = skipHandler(H, [csrr(10, MSTATUS), csrr(11, 0x342)]);
    const r = exec(
      [...li(5, BigInt(H)), csrw(MTVEC, 5), ['csrrsi', { rd: 0, rs1: 8, imm: MSTATUS }], ['ecall'], csrr(12, MSTATUS), WFI],
      { handler: false, setup: (c) => c.writePhys(H, h.bytes) },
    );
    expect(r.status).toBe(RunStatus.Wfi);
    expect(hex(r.core.x(10))).toBe('0xa00001880'); // UXL=SXL=2, MPP=3, MPIE=1, MIE=0
    expect(r.core.x(11)).toBe(11n);
    // MIE restored, MPIE=1; mret sets MPP to the least-privileged mode, U (Priv 1.12 §3.1.6.1).
    expect(hex(r.core.x(12))).toBe('0xa00000088');
    expect(r.core.priv).toBe(3);
  });

  it('with MIE = 0: trap sets MPIE = 0; mret leaves MIE = 0, sets MPIE = 1 and MPP = U', () => {
    const h = skipHandler(H, [csrr(10, MSTATUS)]);
    const r = exec([...li(5, BigInt(H)), csrw(MTVEC, 5), ['ecall'], csrr(12, MSTATUS), WFI], {
      handler: false,
      setup: (c) => c.writePhys(H, h.bytes),
    });
    expect(r.status).toBe(RunStatus.Wfi);
    expect(hex(r.core.x(10))).toBe('0xa00001800');
    expect(hex(r.core.x(12))).toBe('0xa00000080');
    expect(r.core.priv).toBe(3);
  });

  it('mret jumps to mepc (bit 0 clear), stays in M-mode, and retires as system', () => {
    const p = asm([
      ['auipc', { rd: 5, imm: 0 }],
      label('a'),
      (_at, lab) => ['addi', { rd: 5, rs1: 5, imm: lab('t') - lab('a') + 4 + 1 }], // odd: mepc drops bit 0
      csrw(MEPC, 5),
      ['mret'],
      ['addi', { rd: 10, rs1: 0, imm: 1 }],
      label('t'),
      WFI,
    ]);
    const core = run(p);
    expect(core.x(10)).toBe(0n);
    expect(core.pc).toBe(BigInt(p.at('t') + 4));
    expect(core.priv).toBe(3);
    expect(core.classCounts().system).toBe(2); // mret + wfi
  });

  it('a trap from M-mode sets mstatus.MPP = 3 (from U after an earlier mret)', () => {
    const { core } = exec([csrw(MSTATUS, 0), ['ecall']]);
    expect(csrOf(core, 'mstatus') & (3n << 11n)).toBe(3n << 11n);
    expect(csrOf(core, 'mcause')).toBe(11n);
  });

  it('mret with MPP = M keeps MPRV; mret to a lower mode clears it', () => {
    // Priv 1.12 §3.1.6.3: an MRET or SRET that changes the privilege mode to a mode less
    // privileged than M also sets MPRV = 0.
    const p = asm([
      ...pmpAllowAll(),
      ...li(6, MS.MPRV | (3n << 11n)),
      csrw(MSTATUS, 6),
      ['auipc', { rd: 7, imm: 0 }],
      ['addi', { rd: 7, rs1: 7, imm: 16 }],
      csrw(MEPC, 7),
      ['mret'], // to M: MPRV stays, MPP <- U
      csrr(10, MSTATUS),
      ...li(6, MS.MPRV | (1n << 11n)),
      csrw(MSTATUS, 6),
      ['auipc', { rd: 7, imm: 0 }],
      ['addi', { rd: 7, rs1: 7, imm: 16 }],
      csrw(MEPC, 7),
      ['mret'], // to S: MPRV cleared
      ['ecall'],
    ]);
    const r = exec(p);
    expect(r.core.x(10) & MS.MPRV).toBe(MS.MPRV);
    expect(r.core.x(10) & MS.MPP).toBe(0n);
    expectTrap(r, { cause: 9 });
    expect(csrOf(r.core, 'mstatus') & MS.MPRV).toBe(0n);
  });
});

describe('mtvec modes and interrupt vectoring', () => {
  const BASE = RAM_BASE + 0x4000; // 64-byte aligned vector table
  /** A vector table: slot i sets x20 = i and jumps to a common tail that disables mie and stops. */
  function vectorTable() {
    const items: Parameters<typeof asm>[0] = [];
    for (let i = 0; i < 16; i++) {
      items.push({ org: BASE + 4 * i }, encode('c.li', { rd: 20, imm: i }), (a, lab) => ['c.j', { imm: lab('tail') - a }]);
    }
    items.push(label('tail'), csrw(MIE, 0), WFI);
    return asm(items, BASE);
  }
  function runInt(mode: 0 | 1, pend: number[], mieBits: number, program: (pre: Insn[]) => Insn[] = (p) => p) {
    const vt = vectorTable();
    const pre: Insn[] = [
      ...li(20, 99n),
      ...li(5, BigInt(BASE + mode)),
      csrw(MTVEC, 5),
      ...li(6, BigInt(mieBits)),
      csrw(MIE, 6),
      ['csrrsi', { rd: 0, rs1: 8, imm: MSTATUS }],
    ];
    const prog = [...program(pre), ['addi', { rd: 7, rs1: 0, imm: 1 }] as Insn, WFI];
    const r = exec(prog, {
      handler: false,
      setup: (c) => {
        c.writePhys(BASE, vt.bytes);
        for (const b of pend) c.setMip(b, true);
      },
    });
    return { ...r, after: at(pre) };
  }

  it.each([
    [3, 'MSI'],
    [7, 'MTI'],
    [11, 'MEI'],
  ])('vectored: interrupt %i (%s) enters BASE + 4 * cause with mcause = 2^63 | cause', (bit) => {
    const r = runInt(1, [bit], 1 << bit);
    expect(r.status).toBe(RunStatus.Wfi);
    expect(r.core.x(20)).toBe(BigInt(bit));
    expect(hex(csrOf(r.core, 'mcause'))).toBe(hex(INT | BigInt(bit)));
    expect(csrOf(r.core, 'mepc')).toBe(BigInt(r.after)); // the instruction after the enabling write
    expect(csrOf(r.core, 'mtval')).toBe(0n);
    expect(r.core.x(7)).toBe(0n);
    expect(r.core.interrupts).toBe(1);
    expect(r.core.exceptions).toBe(0);
    expect(r.core.classCounts().trap).toBe(1);
    expect(hex(csrOf(r.core, 'mstatus'))).toBe('0xa00001880');
  });

  it('direct: interrupts enter BASE', () => {
    const r = runInt(0, [7], 1 << 7);
    expect(r.core.x(20)).toBe(0n);
    expect(hex(csrOf(r.core, 'mcause'))).toBe(hex(INT | 7n));
  });

  it('vectored: exceptions still enter BASE', () => {
    const r = runInt(1, [], 0, (pre) => [...pre, ['ecall']]);
    expect(r.core.x(20)).toBe(0n);
    expect(csrOf(r.core, 'mcause')).toBe(11n);
  });

  it('priority MEI > MSI > MTI when several are pending', () => {
    expect(runInt(1, [3, 7, 11], 0x888).core.x(20)).toBe(11n);
    expect(runInt(1, [3, 7], 0x888).core.x(20)).toBe(3n);
    expect(runInt(1, [3, 7, 11], 0x080).core.x(20)).toBe(7n); // only MTIE enabled
  });

  it('no interrupt while mstatus.MIE = 0, or when the mie bit is clear', () => {
    const r = runInt(1, [7], 1 << 3); // MTIP pending, only MSIE enabled
    expectClean(r);
    expect(r.core.x(7)).toBe(1n);
    expect(r.core.x(20)).toBe(99n);
  });

  it('wfi does not stop while an enabled interrupt is pending, even with MIE = 0', () => {
    const p = asm([
      ...li(6, 0x80n),
      csrw(MIE, 6),
      WFI,
      ['addi', { rd: 5, rs1: 0, imm: 1 }],
      label('spin'),
      (a, lab) => ['jal', { rd: 0, imm: lab('spin') - a }],
    ]);
    const { core } = prepare(p, { setup: (c) => c.setMip(7, true) });
    const st = runFor(core, li(6, 0x80n).length + 10);
    expect(st).toBe(RunStatus.InsnLimit);
    expect(core.x(5)).toBe(1n);
    expect(core.interrupts).toBe(0);
  });

  it('wfi with nothing pending stops the run after retiring', () => {
    const { core, status } = exec([['addi', { rd: 5, rs1: 0, imm: 1 }], WFI, ['addi', { rd: 5, rs1: 0, imm: 2 }], WFI]);
    expect(status).toBe(RunStatus.Wfi);
    expect(core.pc).toBe(BigInt(RAM_BASE + 8));
    expect(core.x(5)).toBe(1n);
    expect(core.instret).toBe(2);
    // Resuming continues after the wfi.
    expect(runFor(core, 100)).toBe(RunStatus.Wfi);
    expect(core.x(5)).toBe(2n);
  });
});

describe('instruction access faults', () => {
  it('jump to an unmapped address: cause 1, mepc = mtval = target', () => {
    const pre = li(5, 0x1000n);
    const r = exec([...pre, ['jalr', { rd: 1, rs1: 5, imm: 0 }], WFI]);
    expectTrap(r, { cause: 1, tval: 0x1000, epc: 0x1000 });
    expect(r.core.x(1)).toBe(BigInt(at(pre) + 4)); // the jump itself retired
  });

  it('jump into a device region is a fetch fault; the device is not read', () => {
    const mmio = new FakeMmio();
    mmio.regions.push({ base: MMIO, size: 0x1000, read: () => 0x13n });
    const r = exec([...li(5, BigInt(MMIO)), ['jalr', { rd: 0, rs1: 5, imm: 0 }], WFI], { mmio });
    expectTrap(r, { cause: 1, tval: MMIO, epc: MMIO });
    expect(mmio.log).toEqual([]);
  });

  it('running off the end of RAM faults at the first address past RAM', () => {
    const end = RAM_BASE + (1 << 20);
    const r = exec([['addi', { rd: 5, rs1: 0, imm: 1 }], encode('c.addi', { rd: 5, imm: 1 })], { at: end - 6 });
    expectTrap(r, { cause: 1, tval: end, epc: end });
    expect(r.core.x(5)).toBe(2n);
  });

  it('a 32-bit instruction whose second half lies past RAM faults with mtval = the missing half', () => {
    const end = RAM_BASE + (1 << 20);
    const { core } = prepare([]);
    core.writePhys(end - 2, Uint8Array.from([0x93, 0x02])); // low half of addi t0, ...
    core.pc = BigInt(end - 2);
    const st = runFor(core, 10);
    expect(st).toBe(RunStatus.Wfi);
    expect(csrOf(core, 'mcause')).toBe(1n);
    expect(csrOf(core, 'mepc')).toBe(BigInt(end - 2));
    // Priv 1.12 §3.1.16: mtval is the address of the portion of the instruction that faulted.
    expect(csrOf(core, 'mtval')).toBe(BigInt(end));
  });
});

describe('data access faults', () => {
  it.each([
    ['lb', 1],
    ['lh', 2],
    ['lw', 4],
    ['ld', 8],
    ['lbu', 1],
    ['lhu', 2],
    ['lwu', 4],
  ] as const)('%s from an address no device claims: cause 5, mtval = address, rd unchanged', (op, size) => {
    const addr = MMIO + 0x40;
    const pre = [...li(5, BigInt(addr)), ...li(6, 0x66n)];
    const r = exec([...pre, [op, { rd: 6, rs1: 5, imm: 0 }], WFI]);
    expectTrap(r, { cause: 5, tval: addr, epc: at(pre) });
    expect(r.core.x(6)).toBe(0x66n);
    expect(r.mmio.log).toEqual([{ op: 'r', addr, size }]);
    expect(r.core.unmappedAccesses).toBe(1);
    expect(r.core.classCounts().load).toBe(0);
  });

  it.each([
    ['sb', 1],
    ['sh', 2],
    ['sw', 4],
    ['sd', 8],
  ] as const)('%s to an address no device claims: cause 7, mtval = address', (op, size) => {
    const addr = MMIO + 0x80;
    const pre = [...li(5, BigInt(addr - 16)), ...li(6, 0x1122334455667788n)];
    const r = exec([...pre, [op, { rs1: 5, rs2: 6, imm: 16 }], WFI]);
    expectTrap(r, { cause: 7, tval: addr, epc: at(pre) });
    expect(r.mmio.log.length).toBe(1);
    expect(r.mmio.log[0]).toMatchObject({ op: 'w', addr, size });
    expect(r.core.classCounts().store).toBe(0);
  });

  it('low addresses (below RAM) fault too', () => {
    const r = exec([['ld', { rd: 6, rs1: 0, imm: 8 }], WFI]);
    expectTrap(r, { cause: 5, tval: 8, epc: RAM_BASE });
  });

  it('a load into x0 from a device still performs the access (side effects)', () => {
    const mmio = new FakeMmio();
    mmio.regions.push({ base: MMIO, size: 0x100, read: () => 5n });
    run([...li(5, BigInt(MMIO)), ['lw', { rd: 0, rs1: 5, imm: 4 }], WFI], { mmio });
    expect(mmio.log).toEqual([{ op: 'r', addr: MMIO + 4, size: 4 }]);
  });
});

describe('MMIO accesses through the host port', () => {
  /** Device bytes: byte k of the region is 0x80 + 7k (mod 256); reads return exactly `size` bytes. */
  const devByte = (k: number) => (0x80 + 7 * k) & 0xff;
  const devRead = (a: number, s: number): bigint => {
    let v = 0n;
    for (let i = s - 1; i >= 0; i--) v = (v << 8n) | BigInt(devByte(a - MMIO + i));
    return v;
  };
  function device(): { mmio: FakeMmio; writes: Array<[number, number, bigint]> } {
    const mmio = new FakeMmio();
    const writes: Array<[number, number, bigint]> = [];
    mmio.regions.push({ base: MMIO, size: 0x1000, read: devRead, write: (a, s, v) => writes.push([a, s, v]) });
    return { mmio, writes };
  }

  it.each([
    ['lb', 1, true, 0x11],
    ['lbu', 1, false, 0x11],
    ['lh', 2, true, 0x22],
    ['lhu', 2, false, 0x22],
    ['lw', 4, true, 0x24],
    ['lwu', 4, false, 0x24],
    ['ld', 8, true, 0x28],
  ] as const)('%s reaches the device with size %i and extends the value', (op, size, signed, off) => {
    const { mmio } = device();
    const core = run([...li(5, BigInt(MMIO)), [op, { rd: 6, rs1: 5, imm: off }], WFI], { mmio });
    const v = devRead(MMIO + off, size);
    expect(hex(core.x(6))).toBe(hex(signed ? sext(v, 8 * size) : v));
    expect(mmio.log).toEqual([{ op: 'r', addr: MMIO + off, size }]);
  });

  it.each([
    ['sb', 1, 0x13],
    ['sh', 2, 0x32],
    ['sw', 4, 0x44],
    ['sd', 8, 0x48],
  ] as const)('%s reaches the device with size %i and the low bytes of rs2', (op, size, off) => {
    const { mmio, writes } = device();
    const value = 0x8877665544332211n;
    run([...li(5, BigInt(MMIO)), ...li(6, value), [op, { rs1: 5, rs2: 6, imm: off }], WFI], { mmio });
    expect(mmio.log.length).toBe(1);
    const e = mmio.log[0];
    expect({ op: e.op, addr: e.addr, size: e.size }).toEqual({ op: 'w', addr: MMIO + off, size });
    const mask = (1n << BigInt(8 * size)) - 1n;
    const sent = (BigInt(e.hi ?? 0) << 32n) | BigInt(e.lo ?? 0);
    expect(hex(sent & mask)).toBe(hex(value & mask));
    expect(writes.length).toBe(1);
    expect(hex(writes[0][2] & mask)).toBe(hex(value & mask));
  });

  it('addresses above 4 GiB reach the device exactly', () => {
    const hiBase = 0x2_0000_1000;
    const mmio = new FakeMmio();
    mmio.regions.push({ base: hiBase, size: 0x100, read: () => 0x1234n });
    const core = run([...li(5, BigInt(hiBase)), ['lhu', { rd: 6, rs1: 5, imm: 0x10 }], WFI], { mmio });
    expect(core.x(6)).toBe(0x1234n);
    expect(mmio.log).toEqual([{ op: 'r', addr: hiBase + 0x10, size: 2 }]);
  });

  it.each([
    ['lh', 1, 5],
    ['lw', 2, 5],
    ['ld', 4, 5],
    ['sh', 1, 7],
    ['sw', 2, 7],
    ['sd', 4, 7],
  ] as const)('misaligned %s (+%i) to a device is an access fault (cause %i) that never reaches it', (op, off, cause) => {
    const { mmio } = device();
    const pre = li(5, BigInt(MMIO));
    const insn: Insn = op.startsWith('l') ? [op, { rd: 6, rs1: 5, imm: off }] : [op, { rs1: 5, rs2: 5, imm: off }];
    const r = exec([...pre, insn, WFI], { mmio });
    expectTrap(r, { cause, tval: MMIO + off, epc: at(pre) });
    expect(mmio.log).toEqual([]);
  });

  it('a misaligned store crossing a page inside a device faults without reaching it', () => {
    const { mmio } = device();
    mmio.regions[0].size = 0x2000;
    const pre = li(5, BigInt(MMIO + 0xffc));
    const r = exec([...pre, ['sd', { rs1: 5, rs2: 5, imm: 0 }], WFI], { mmio });
    expectTrap(r, { cause: 7, epc: at(pre) });
    expect(mmio.log).toEqual([]);
  });

  // assembly/mmu.ts: "misaligned MMIO accesses are access faults", and loadSlow's page-crossing
  // path says "(each byte translated; RAM only)". But loadSlow splits a page-crossing load into
  // 1-byte loadSlow calls, each aligned, so physLoad sends 8 one-byte reads to the device (device
  // reads have side effects: FIFOs pop) and the load succeeds. storeSlow checks RAM first.
  it('a misaligned load crossing a page inside a device faults without reaching it', () => {
    const { mmio } = device();
    mmio.regions[0].size = 0x2000;
    const pre = li(5, BigInt(MMIO + 0xffc));
    const r = exec([...pre, ['ld', { rd: 6, rs1: 5, imm: 0 }], WFI], { mmio });
    expect(mmio.log).toEqual([]);
    expectTrap(r, { cause: 5, tval: MMIO + 0xffc, epc: at(pre) });
  });

  it('a device callback can stop the run right after the access (requestStop)', () => {
    const mmio = new FakeMmio();
    let target: Core | undefined;
    mmio.regions.push({ base: MMIO, size: 16, write: () => target!.requestStop() });
    const pre = li(5, BigInt(MMIO));
    const { core } = prepare([...pre, ['sw', { rs1: 5, rs2: 0, imm: 0 }], ['addi', { rd: 6, rs1: 0, imm: 1 }], WFI], { mmio });
    target = core;
    expect(runFor(core, 1000)).toBe(RunStatus.Stop);
    expect(core.pc).toBe(BigInt(at(pre) + 4));
    expect(core.instret).toBe(pre.length + 1);
    expect(core.x(6)).toBe(0n);
    // The stop request is consumed: resuming runs to the end.
    expect(runFor(core, 1000)).toBe(RunStatus.Wfi);
    expect(core.x(6)).toBe(1n);
  });

  it('a watched RAM range is routed to the device, the rest of the page stays RAM', () => {
    const mmio = new FakeMmio();
    const writes: bigint[] = [];
    mmio.regions.push({ base: DATA, size: 8, read: () => 0xabn, write: (_a, _s, v) => writes.push(v) });
    const core = run(
      [
        ...li(5, BigInt(DATA)),
        ...li(6, 0x77n),
        ['sd', { rs1: 5, rs2: 6, imm: 0 }],
        ['ld', { rd: 7, rs1: 5, imm: 0 }],
        ['sd', { rs1: 5, rs2: 6, imm: 8 }],
        ['ld', { rd: 8, rs1: 5, imm: 8 }],
        WFI,
      ],
      { mmio, setup: (c: Core) => c.addWatch(DATA, DATA + 8) },
    );
    expect(writes).toEqual([0x77n]);
    expect(core.x(7)).toBe(0xabn);
    expect(core.x(8)).toBe(0x77n);
    expect(Array.from(core.readPhys(DATA, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe('the default test handler', () => {
  it('is installed and mtvec points at it', () => {
    const { core } = exec([['ecall']]);
    expect(core.pc).toBe(BigInt(HANDLER + 4));
    expect(csrOf(core, 'mtvec')).toBe(BigInt(HANDLER));
    setCsrDirect(core, 'mscratch', 5n);
    expect(csrOf(core, 'mscratch')).toBe(5n);
  });
});
