/**
 * C extension (Unprivileged ISA 20191213 ch. 16, tables 16.5-16.7): every compressed form runs
 * exactly like the base instruction it expands to, control transfers link pc+2, and the reserved
 * encodings raise illegal-instruction with mtval = the 16 instruction bits.
 */
import { describe, expect, it } from 'vitest';
import type { Core } from '../../src/core.js';
import { encode, type Operands } from '../../src/isa/encode.js';
import { INSN_TABLE, lookup } from '../../src/isa/table.js';
import {
  DATA,
  RAM_BASE,
  asm,
  cbr,
  cj,
  exec,
  expectTrap,
  hex,
  label,
  li,
  regs,
  run,
  sext,
  WFI,
  type Insn,
} from '../helpers/isa.js';

const SP = DATA + 0x100;
const BASEP = DATA + 0x200; // x9 points here for c.lw/c.ld/c.sw/c.sd
const MEMLEN = 0x400;
const pattern = Uint8Array.from({ length: MEMLEN }, (_, i) => (i * 0x9d + 0x83) & 0xff);

/** Distinct, sign-rich initial values; x2 and x9 are pointers into the data area. */
function initRegs(): Insn[] {
  const out: Insn[] = [];
  for (let r = 1; r < 32; r++) {
    const v =
      r === 2 ? BigInt(SP) : r === 9 ? BigInt(BASEP) : BigInt.asUintN(64, 0x9e3779b97f4a7c15n * BigInt(r) + (BigInt(r) << 31n));
    out.push(...li(r, v));
  }
  return out;
}
const INIT = initRegs();
const setupMem = (c: Core) => c.writePhys(DATA, pattern);

interface State {
  regs: bigint[];
  mem: number[];
  pcOffset: bigint;
  counts: Record<string, number>;
}
function state(core: Core, insnLen: number): State {
  return {
    regs: regs(core),
    mem: Array.from(core.readPhys(DATA, MEMLEN)),
    // pc after the final wfi, minus the tested instruction's own length
    pcOffset: core.pc - BigInt(RAM_BASE) - BigInt(insnLen),
    counts: core.classCounts(),
  };
}

type Equiv = [cname: string, cops: Operands, base: string, bops: Operands];
const EQUIV: Equiv[] = [
  ['c.addi4spn', { rd: 8, imm: 16 }, 'addi', { rd: 8, rs1: 2, imm: 16 }],
  ['c.addi4spn', { rd: 15, imm: 1020 }, 'addi', { rd: 15, rs1: 2, imm: 1020 }],
  ['c.lw', { rd: 10, rs1: 9, imm: 4 }, 'lw', { rd: 10, rs1: 9, imm: 4 }],
  ['c.lw', { rd: 8, rs1: 9, imm: 124 }, 'lw', { rd: 8, rs1: 9, imm: 124 }],
  ['c.ld', { rd: 11, rs1: 9, imm: 248 }, 'ld', { rd: 11, rs1: 9, imm: 248 }],
  ['c.ld', { rd: 9, rs1: 9, imm: 8 }, 'ld', { rd: 9, rs1: 9, imm: 8 }],
  ['c.sw', { rs1: 9, rs2: 12, imm: 60 }, 'sw', { rs1: 9, rs2: 12, imm: 60 }],
  ['c.sw', { rs1: 9, rs2: 15, imm: 124 }, 'sw', { rs1: 9, rs2: 15, imm: 124 }],
  ['c.sd', { rs1: 9, rs2: 13, imm: 8 }, 'sd', { rs1: 9, rs2: 13, imm: 8 }],
  ['c.sd', { rs1: 9, rs2: 8, imm: 248 }, 'sd', { rs1: 9, rs2: 8, imm: 248 }],
  ['c.addi', { rd: 5, imm: -32 }, 'addi', { rd: 5, rs1: 5, imm: -32 }],
  ['c.addi', { rd: 31, imm: 31 }, 'addi', { rd: 31, rs1: 31, imm: 31 }],
  ['c.addi', { rd: 0, imm: 0 }, 'addi', { rd: 0, rs1: 0, imm: 0 }], // c.nop
  ['c.addiw', { rd: 5, imm: -1 }, 'addiw', { rd: 5, rs1: 5, imm: -1 }],
  ['c.addiw', { rd: 17, imm: 0 }, 'addiw', { rd: 17, rs1: 17, imm: 0 }], // sext.w
  ['c.li', { rd: 6, imm: -32 }, 'addi', { rd: 6, rs1: 0, imm: -32 }],
  ['c.li', { rd: 30, imm: 31 }, 'addi', { rd: 30, rs1: 0, imm: 31 }],
  ['c.addi16sp', { imm: -512 }, 'addi', { rd: 2, rs1: 2, imm: -512 }],
  ['c.addi16sp', { imm: 496 }, 'addi', { rd: 2, rs1: 2, imm: 496 }],
  ['c.addi16sp', { imm: 16 }, 'addi', { rd: 2, rs1: 2, imm: 16 }],
  ['c.lui', { rd: 7, imm: -4096 }, 'lui', { rd: 7, imm: -4096 }],
  ['c.lui', { rd: 7, imm: 0x1f000 }, 'lui', { rd: 7, imm: 0x1f000 }],
  ['c.lui', { rd: 1, imm: -0x20000 }, 'lui', { rd: 1, imm: -0x20000 }],
  ['c.srli', { rd: 8, imm: 1 }, 'srli', { rd: 8, rs1: 8, imm: 1 }],
  ['c.srli', { rd: 8, imm: 32 }, 'srli', { rd: 8, rs1: 8, imm: 32 }],
  ['c.srli', { rd: 12, imm: 63 }, 'srli', { rd: 12, rs1: 12, imm: 63 }],
  ['c.srai', { rd: 10, imm: 63 }, 'srai', { rd: 10, rs1: 10, imm: 63 }],
  ['c.srai', { rd: 13, imm: 33 }, 'srai', { rd: 13, rs1: 13, imm: 33 }],
  ['c.andi', { rd: 11, imm: -32 }, 'andi', { rd: 11, rs1: 11, imm: -32 }],
  ['c.andi', { rd: 14, imm: 31 }, 'andi', { rd: 14, rs1: 14, imm: 31 }],
  ['c.sub', { rd: 12, rs2: 13 }, 'sub', { rd: 12, rs1: 12, rs2: 13 }],
  ['c.xor', { rd: 10, rs2: 15 }, 'xor', { rd: 10, rs1: 10, rs2: 15 }],
  ['c.or', { rd: 14, rs2: 8 }, 'or', { rd: 14, rs1: 14, rs2: 8 }],
  ['c.and', { rd: 15, rs2: 11 }, 'and', { rd: 15, rs1: 15, rs2: 11 }],
  ['c.subw', { rd: 8, rs2: 12 }, 'subw', { rd: 8, rs1: 8, rs2: 12 }],
  ['c.addw', { rd: 13, rs2: 14 }, 'addw', { rd: 13, rs1: 13, rs2: 14 }],
  ['c.addw', { rd: 11, rs2: 11 }, 'addw', { rd: 11, rs1: 11, rs2: 11 }],
  ['c.slli', { rd: 1, imm: 63 }, 'slli', { rd: 1, rs1: 1, imm: 63 }],
  ['c.slli', { rd: 31, imm: 1 }, 'slli', { rd: 31, rs1: 31, imm: 1 }],
  ['c.slli', { rd: 20, imm: 32 }, 'slli', { rd: 20, rs1: 20, imm: 32 }],
  ['c.lwsp', { rd: 20, imm: 252 }, 'lw', { rd: 20, rs1: 2, imm: 252 }],
  ['c.lwsp', { rd: 1, imm: 0 }, 'lw', { rd: 1, rs1: 2, imm: 0 }],
  ['c.ldsp', { rd: 21, imm: 504 }, 'ld', { rd: 21, rs1: 2, imm: 504 }],
  ['c.ldsp', { rd: 2, imm: 8 }, 'ld', { rd: 2, rs1: 2, imm: 8 }],
  ['c.swsp', { rs2: 22, imm: 252 }, 'sw', { rs1: 2, rs2: 22, imm: 252 }],
  ['c.swsp', { rs2: 0, imm: 4 }, 'sw', { rs1: 2, rs2: 0, imm: 4 }],
  ['c.sdsp', { rs2: 23, imm: 504 }, 'sd', { rs1: 2, rs2: 23, imm: 504 }],
  ['c.sdsp', { rs2: 2, imm: 16 }, 'sd', { rs1: 2, rs2: 2, imm: 16 }],
  ['c.mv', { rd: 24, rs2: 25 }, 'add', { rd: 24, rs1: 0, rs2: 25 }],
  ['c.mv', { rd: 3, rs2: 2 }, 'add', { rd: 3, rs1: 0, rs2: 2 }],
  ['c.add', { rd: 26, rs2: 27 }, 'add', { rd: 26, rs1: 26, rs2: 27 }],
  ['c.add', { rd: 2, rs2: 2 }, 'add', { rd: 2, rs1: 2, rs2: 2 }],
  // HINTs (rd = x0 or shamt 0) execute without effect
  ['c.addi', { rd: 0, imm: 5 }, 'addi', { rd: 0, rs1: 0, imm: 5 }],
  ['c.li', { rd: 0, imm: 7 }, 'addi', { rd: 0, rs1: 0, imm: 7 }],
  ['c.lui', { rd: 0, imm: 4096 }, 'lui', { rd: 0, imm: 4096 }],
  ['c.mv', { rd: 0, rs2: 5 }, 'add', { rd: 0, rs1: 0, rs2: 5 }],
  ['c.add', { rd: 0, rs2: 5 }, 'add', { rd: 0, rs1: 0, rs2: 5 }],
  ['c.slli', { rd: 5, imm: 0 }, 'slli', { rd: 5, rs1: 5, imm: 0 }],
];

describe('compressed forms behave exactly like their expansions', () => {
  it.each(EQUIV)('%s %j == %s %j', (cname, cops, bname, bops) => {
    const cw = encode(cname, cops);
    const bw = encode(bname, bops);
    expect(lookup(cw)?.name).toBe(cname);
    expect(lookup(cw)?.op).toBe(bname);
    const c = state(run([...INIT, cw, WFI], { setup: setupMem }), 2);
    const b = state(run([...INIT, bw, WFI], { setup: setupMem }), 4);
    expect(c.regs.map(hex)).toEqual(b.regs.map(hex));
    expect(c.mem).toEqual(b.mem);
    expect(c.pcOffset).toBe(b.pcOffset);
    expect(c.counts).toEqual(b.counts); // same timing class as the base instruction
  });

  it('covers every non-control-transfer compressed row', () => {
    const control = new Set(['c.j', 'c.beqz', 'c.bnez', 'c.jr', 'c.jalr', 'c.ebreak']);
    // The F/D forms are compared with their expansions (f registers included) in fd.test.ts.
    const covered = new Set([...EQUIV.map((e) => e[0]), 'c.fld', 'c.fsd', 'c.fldsp', 'c.fsdsp']);
    const missing = INSN_TABLE.filter((r) => r.width === 16 && !control.has(r.name) && !covered.has(r.name)).map((r) => r.name);
    expect(missing).toEqual([]);
  });

  it('computes expected values (not only agreement with the expansion)', () => {
    const core = run([
      ...li(8, 0x80000000n),
      encode('c.addiw', { rd: 8, imm: -1 }), // 0x7fffffff
      ...li(10, 0x7fffffffn),
      encode('c.addiw', { rd: 10, imm: 1 }), // sext(0x80000000)
      ...li(11, 0xffff_ffff_0000_0001n),
      ...li(12, 2n),
      encode('c.subw', { rd: 11, rs2: 12 }), // 1 - 2 = -1
      encode('c.lui', { rd: 13, imm: -0x20000 }),
      encode('c.li', { rd: 14, imm: -1 }),
      encode('c.srli', { rd: 14, imm: 60 }), // 0xf
      ...li(15, 0x8000000000000000n),
      encode('c.srai', { rd: 15, imm: 63 }), // all ones
      WFI,
    ]);
    expect([core.x(8), core.x(10), core.x(11), core.x(13), core.x(14), core.x(15)].map(hex)).toEqual(
      [0x7fffffffn, 0xffffffff80000000n, 0xffffffffffffffffn, 0xfffffffffffe0000n, 0xfn, 0xffffffffffffffffn].map(hex),
    );
  });

  it('c.addi4spn / c.addi16sp / c.lwsp / c.sdsp use sp (x2)', () => {
    const core = run(
      [
        ...li(2, BigInt(DATA + 0x800)),
        encode('c.addi16sp', { imm: -32 }),
        encode('c.addi4spn', { rd: 8, imm: 8 }),
        ...li(5, 0x1122334455667788n),
        encode('c.sdsp', { rs2: 5, imm: 8 }),
        encode('c.lwsp', { rd: 6, imm: 12 }), // upper word 0x11223344
        encode('c.ldsp', { rd: 7, imm: 8 }),
        WFI,
      ],
      { setup: setupMem },
    );
    expect(core.x(2)).toBe(BigInt(DATA + 0x800 - 32));
    expect(core.x(8)).toBe(BigInt(DATA + 0x800 - 24));
    expect(core.x(6)).toBe(0x11223344n);
    expect(core.x(7)).toBe(0x1122334455667788n);
    expect(core.readPhys(DATA + 0x800 - 24, 8)).toEqual(Uint8Array.from([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]));
  });

  it('c.lw / c.lwsp sign-extend', () => {
    const core = run([...li(2, BigInt(DATA)), ...li(9, BigInt(DATA)), encode('c.lw', { rd: 10, rs1: 9, imm: 0 }), encode('c.lwsp', { rd: 11, imm: 4 }), WFI], {
      setup: (c) => c.writePhys(DATA, Uint8Array.from([0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0x7f])),
    });
    expect(hex(core.x(10))).toBe('0xffffffff80000000');
    expect(hex(core.x(11))).toBe('0x7fffffff');
  });
});

describe('compressed control transfers', () => {
  it('c.j forward and backward (vs jal x0)', () => {
    const p = asm([
      ['addi', { rd: 10, rs1: 0, imm: 0 }],
      cj('fwd'),
      encode('c.li', { rd: 10, imm: 1 }), // skipped
      label('back'),
      encode('c.addi', { rd: 10, imm: 4 }),
      WFI,
      label('fwd'),
      encode('c.addi', { rd: 10, imm: 2 }),
      cj('back'),
      encode('c.li', { rd: 10, imm: 8 }), // skipped
    ]);
    const core = run(p);
    expect(core.x(10)).toBe(6n);
    expect(core.x(1)).toBe(0n); // c.j does not link
    expect(core.pc).toBe(BigInt(p.at('back') + 2 + 4));
    expect(core.classCounts().jump).toBe(2);
  });

  it('c.j reaches its full range (-2048 .. +2046)', () => {
    const p = asm([
      cj('far'),
      label('back'),
      WFI,
      { org: RAM_BASE + 2046 },
      label('far'),
      (at, lab) => ['c.j', { imm: lab('back') - at }],
    ]);
    expect(p.at('far') - RAM_BASE).toBe(2046);
    const core = run(p);
    expect(core.pc).toBe(BigInt(p.at('back') + 4));
    expect(core.instret).toBe(3);
  });

  it.each([
    ['c.beqz', 0n, true],
    ['c.beqz', 1n, false],
    ['c.beqz', 0x8000000000000000n, false],
    ['c.bnez', 0n, false],
    ['c.bnez', 0x100000000n, true],
    ['c.bnez', 0xffffffffffffffffn, true],
  ] as const)('%s with rs1 = %s: taken = %s (vs beq/bne with x0)', (op, v, taken) => {
    const mk = (compressed: boolean) =>
      asm([
        ...li(8, v),
        ['addi', { rd: 10, rs1: 0, imm: 1 }],
        compressed ? cbr(op, 8, 't') : (at, lab) => [op === 'c.beqz' ? 'beq' : 'bne', { rs1: 8, rs2: 0, imm: lab('t') - at }],
        ['addi', { rd: 10, rs1: 0, imm: 0 }],
        label('t'),
        WFI,
      ]);
    const c = run(mk(true));
    const b = run(mk(false));
    expect(c.x(10)).toBe(taken ? 1n : 0n);
    expect(b.x(10)).toBe(c.x(10));
    expect(c.classCounts().branch).toBe(1);
    expect(c.classCounts().branchTaken).toBe(taken ? 1 : 0);
  });

  it('c.bnez loops backward (countdown)', () => {
    const p = asm([
      ...li(8, 7n),
      ['addi', { rd: 10, rs1: 0, imm: 0 }],
      label('loop'),
      encode('c.addi', { rd: 10, imm: 3 }),
      encode('c.addi', { rd: 8, imm: -1 }),
      cbr('c.bnez', 8, 'loop'),
      WFI,
    ]);
    const core = run(p);
    expect(core.x(10)).toBe(21n);
    expect(core.classCounts().branchTaken).toBe(6);
  });

  it('c.jr jumps to rs1 without linking; c.jalr links pc+2 in ra', () => {
    const p = asm([
      ['auipc', { rd: 5, imm: 0 }],
      label('a'),
      (_at, lab) => ['addi', { rd: 5, rs1: 5, imm: lab('f') - lab('a') + 4 }],
      label('call'),
      encode('c.jalr', { rs1: 5 }),
      label('ret'),
      ['addi', { rd: 11, rs1: 10, imm: 1 }],
      WFI,
      label('f'),
      ['addi', { rd: 10, rs1: 0, imm: 41 }],
      encode('c.jr', { rs1: 1 }),
    ]);
    const core = run(p);
    expect(core.x(1)).toBe(BigInt(p.at('call') + 2));
    expect(core.x(11)).toBe(42n);
    expect(core.pc).toBe(BigInt(p.at('ret') + 8));
    expect(core.classCounts().jump).toBe(2);
  });

  it('c.jalr with rs1 = ra reads the old ra (target before link)', () => {
    const p = asm([
      ['auipc', { rd: 1, imm: 0 }],
      label('a'),
      (_at, lab) => ['addi', { rd: 1, rs1: 1, imm: lab('t') - lab('a') + 4 }],
      label('call'),
      encode('c.jalr', { rs1: 1 }),
      ['addi', { rd: 10, rs1: 0, imm: 1 }], // skipped
      label('t'),
      WFI,
    ]);
    const core = run(p);
    expect(core.x(10)).toBe(0n);
    expect(core.x(1)).toBe(BigInt(p.at('call') + 2));
  });

  it('c.jr clears bit 0 of the target like jalr', () => {
    const p = asm([
      ['auipc', { rd: 5, imm: 0 }],
      label('a'),
      (_at, lab) => ['addi', { rd: 5, rs1: 5, imm: lab('t') - lab('a') + 4 + 1 }],
      encode('c.jr', { rs1: 5 }),
      ['addi', { rd: 10, rs1: 0, imm: 1 }],
      label('t'),
      WFI,
    ]);
    const core = run(p);
    expect(core.x(10)).toBe(0n);
    expect(core.pc).toBe(BigInt(p.at('t') + 4));
  });

  it('c.ebreak raises a breakpoint with mtval = mepc = its pc', () => {
    const pre = li(5, 3n);
    const pc = RAM_BASE + 4 * pre.length;
    const r = exec([...pre, encode('c.ebreak'), WFI]);
    expectTrap(r, { cause: 3, tval: BigInt(pc), epc: BigInt(pc) });
    expect(r.core.classCounts().system).toBe(1); // only the handler's wfi retired
  });
});

describe('reserved and illegal compressed encodings', () => {
  it.each([
    [0x0000, 'all-zero halfword'],
    [0x0004, 'c.addi4spn with nzuimm = 0 (rd = s1)'],
    [0x4002, 'c.lwsp rd = 0'],
    [0x6002, 'c.ldsp rd = 0'],
    [0x8002, 'c.jr rs1 = 0'],
    [0x6281, 'c.lui t0, 0'],
    [0x6101, 'c.addi16sp 0'],
    [0x2001, 'c.addiw rd = 0'],
    [0x9c41, 'reserved CA: bit 12 = 1, funct2 = 2'],
    [0x9c61, 'reserved CA: bit 12 = 1, funct2 = 3'],
    [0x8000, 'quadrant 0 funct3 = 4 (reserved)'],
  ])('0x%s (%s) raises illegal instruction with mtval = the 16 bits', (word, _what) => {
    expect(lookup(word)).toBeUndefined();
    const pre = li(5, 1n);
    const pc = RAM_BASE + 4 * pre.length;
    // The parcel after it is the first half of a nonzero word, which must not leak into mtval.
    const r = exec([...pre, word, ['addi', { rd: 5, rs1: 5, imm: -1 }], WFI]);
    expectTrap(r, { cause: 2, tval: word, epc: pc });
    expect(r.core.x(5)).toBe(1n);
  });

  it('the RV32 c.jal encoding is c.addiw on RV64 (funct3 = 1 in quadrant 1)', () => {
    const w = 0x2085; // RV32: c.jal +32;  RV64: c.addiw ra, 1
    expect(lookup(w)?.name).toBe('c.addiw');
    expect(encode('c.addiw', { rd: 1, imm: 1 })).toBe(w);
    const pre = li(1, 0x7fffffffn);
    const core = run([...pre, w, WFI]);
    expect(hex(core.x(1))).toBe(hex(sext(0x80000000n, 32)));
    expect(core.pc).toBe(BigInt(RAM_BASE + 4 * pre.length + 2 + 4)); // fell through: no jump
  });
});

describe('mixed 16/32-bit streams', () => {
  it('32-bit instructions at 2-byte aligned addresses execute (IALIGN = 16)', () => {
    const core = run([
      encode('c.li', { rd: 5, imm: 1 }),
      ['addi', { rd: 5, rs1: 5, imm: 10 }], // at +2
      encode('c.addi', { rd: 5, imm: 5 }),
      ['slli', { rd: 5, rs1: 5, imm: 4 }], // at +8
      encode('c.addi', { rd: 0, imm: 0 }), // c.nop
      ['lui', { rd: 6, imm: 0x1000 }], // at +14
      WFI,
    ]);
    expect(core.x(5)).toBe(256n);
    expect(core.x(6)).toBe(0x1000n);
    expect(core.instret).toBe(7);
    expect(core.pc).toBe(BigInt(RAM_BASE + 18 + 4));
  });
});
