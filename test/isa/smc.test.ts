/**
 * Coherent instruction fetch. The core caches decoded instructions per page (assembly/frames.ts);
 * our model promises that a store over code is seen by the next fetch without fence.i (stores to
 * code pages invalidate decoded slots), and that 32-bit instructions straddling a 4 KiB page
 * boundary execute correctly (assembly/run.ts scratch slot).
 */
import { describe, expect, it } from 'vitest';
import { RunStatus } from '../../src/core.js';
import { encode } from '../../src/isa/encode.js';
import { makeCore, runProgram } from '../helpers/core-harness.js';
import {
  DATA,
  RAM_BASE,
  asm,
  br,
  csrOf,
  label,
  li,
  pcrel,
  prepare,
  readLE,
  run,
  runFor,
  WFI,
  type Insn,
} from '../helpers/isa.js';

const ADD1: Insn = ['addi', { rd: 5, rs1: 5, imm: 1 }];
const ADD100 = encode('addi', { rd: 5, rs1: 5, imm: 100 });

describe('self-modifying code in the same page', () => {
  it('a store over a later, not yet executed instruction: the new one runs', () => {
    const p = asm([
      ...li(6, BigInt(ADD100)),
      label('base'),
      ['auipc', { rd: 7, imm: 0 }],
      pcrel('sw', { rs1: 7, rs2: 6 }, 'base', 'target'),
      ['addi', { rd: 8, rs1: 0, imm: 1 }],
      label('target'),
      ADD1,
      WFI,
    ]);
    const core = run(p);
    expect(core.x(5)).toBe(100n);
  });

  it('a store over the instruction right after the store', () => {
    const p = asm([
      ...li(6, BigInt(ADD100)),
      label('base'),
      ['auipc', { rd: 7, imm: 0 }],
      pcrel('sw', { rs1: 7, rs2: 6 }, 'base', 'target'),
      label('target'),
      ADD1,
      WFI,
    ]);
    expect(run(p).x(5)).toBe(100n);
  });

  /**
   * Loop twice over `target`: the first pass executes the original instruction (so it is decoded
   * and cached), then `patch` rewrites it; the second pass must execute the new bytes.
   */
  function loopPatch(patch: Insn[], target: Insn[] = [ADD1], tail: Insn[] = []) {
    return asm([
      ...li(6, BigInt(ADD100)),
      ['addi', { rd: 9, rs1: 0, imm: 2 }],
      ['auipc', { rd: 7, imm: 0 }],
      ['addi', { rd: 7, rs1: 7, imm: 8 }], // x7 = loop
      label('loop'),
      ...target,
      ...tail,
      ['addi', { rd: 9, rs1: 9, imm: -1 }],
      (at, lab) => ['beq', { rs1: 9, rs2: 0, imm: lab('done') - at }],
      ...patch,
      br('beq', 0, 0, 'loop'),
      label('done'),
      WFI,
    ]);
  }
  // x7 = address of `loop`; the patched instruction is the first of the loop.

  it.each([
    ['sw', [['sw', { rs1: 7, rs2: 6, imm: 0 }]] as Insn[]],
    ['c.sw', [['addi', { rd: 8, rs1: 7, imm: 0 }], ['addi', { rd: 14, rs1: 6, imm: 0 }], encode('c.sw', { rs1: 8, rs2: 14, imm: 0 })] as Insn[]],
    ['sd (with the following word preserved)', [['lwu', { rd: 10, rs1: 7, imm: 4 }], ['slli', { rd: 10, rs1: 10, imm: 32 }], ['or', { rd: 10, rs1: 10, rs2: 6 }], ['sd', { rs1: 7, rs2: 10, imm: 0 }]] as Insn[]],
    ['amoswap.w', [['amoswap.w', { rd: 0, rs1: 7, rs2: 6 }]] as Insn[]],
    ['lr.w/sc.w', [['lr.w', { rd: 10, rs1: 7 }], ['sc.w', { rd: 10, rs1: 7, rs2: 6 }]] as Insn[]],
    ['sh of the upper half (imm 1 -> 100)', [['srli', { rd: 10, rs1: 6, imm: 16 }], ['sh', { rs1: 7, rs2: 10, imm: 2 }]] as Insn[]],
  ])('an executed instruction rewritten by %s runs the new bytes on the next pass', (_name, patch) => {
    const p = loopPatch(patch);
    const core = run(p);
    expect(core.x(5)).toBe(101n); // 1 (old bytes, pass 1) + 100 (new bytes, pass 2)
    expect(readLE(core, p.at('loop'), 4)).toBe(BigInt(ADD100));
    expect(core.smcInvalidations).toBeGreaterThan(0);
  });

  it('a single sb to the top byte (odd address inside the instruction) is seen', () => {
    // addi x5, x5, 1 -> top byte 0x10 -> addi x5, x5, 0x101
    const p = loopPatch([['addi', { rd: 10, rs1: 0, imm: 0x10 }], ['sb', { rs1: 7, rs2: 10, imm: 3 }]]);
    const core = run(p);
    expect(readLE(core, p.at('loop'), 4)).toBe(BigInt(encode('addi', { rd: 5, rs1: 5, imm: 0x101 })));
    expect(core.x(5)).toBe(1n + 0x101n);
  });

  it('a misaligned sd that overlaps the instruction from 2 bytes before', () => {
    // Place a c.nop right before target, and rewrite [c.nop, target, next 2 bytes] with one sd at
    // target - 2 whose bytes are: c.nop again, the new word, then the original following bytes.
    const build = (patch: Insn[]) =>
      asm([
        ...li(9, 2n),
        ['auipc', { rd: 7, imm: 0 }],
        ['addi', { rd: 7, rs1: 7, imm: 8 }], // x7 = loop
        label('loop'),
        encode('c.addi', { rd: 0, imm: 0 }),
        label('target'),
        ADD1,
        encode('c.addi', { rd: 0, imm: 0 }),
        encode('c.addi', { rd: 9, imm: -1 }),
        (at, lab) => ['beq', { rs1: 9, rs2: 0, imm: lab('done') - at }],
        ...patch,
        br('beq', 0, 0, 'loop'),
        label('done'),
        WFI,
      ]);
    const newBytes = (0x0001n << 48n) | (BigInt(ADD100) << 16n) | 0x0001n; // c.nop | addi | c.nop
    const core = run(build([...li(6, newBytes), ['sd', { rs1: 7, rs2: 6, imm: 0 }]]));
    expect(core.x(5)).toBe(101n);
  });

  it('replacing a 32-bit instruction by two compressed ones (and back)', () => {
    // Pass 1 runs `addi x5, x5, 1`; then the word becomes c.addi x5, 10 ; c.addi x5, 20.
    const two = (BigInt(encode('c.addi', { rd: 5, imm: 20 })) << 16n) | BigInt(encode('c.addi', { rd: 5, imm: 10 }));
    const p = asm([
      ...li(6, two),
      ['addi', { rd: 9, rs1: 0, imm: 2 }],
      ['auipc', { rd: 7, imm: 0 }],
      ['addi', { rd: 7, rs1: 7, imm: 8 }], // x7 = loop
      label('loop'),
      ADD1,
      ['addi', { rd: 9, rs1: 9, imm: -1 }],
      (at, lab) => ['beq', { rs1: 9, rs2: 0, imm: lab('done') - at }],
      ['sw', { rs1: 7, rs2: 6, imm: 0 }],
      br('beq', 0, 0, 'loop'),
      label('done'),
      WFI,
    ]);
    expect(run(p).x(5)).toBe(31n);
  });

  it('a loop that rewrites its own body every iteration (counter patched into the immediate)', () => {
    // Each pass executes `addi x5, x0, k`, then stores `addi x5, x0, k+1` over it.
    const p = asm([
      ['addi', { rd: 9, rs1: 0, imm: 10 }],
      ['auipc', { rd: 7, imm: 0 }],
      ['addi', { rd: 7, rs1: 7, imm: 8 }], // x7 = loop
      label('loop'),
      ['addi', { rd: 5, rs1: 0, imm: 0 }],
      ['add', { rd: 12, rs1: 12, rs2: 5 }], // x12 = sum of the k seen
      ['lw', { rd: 10, rs1: 7, imm: 0 }],
      ['lui', { rd: 11, imm: 0x100000 }], // +1 in the I-immediate field (bit 20)
      ['addw', { rd: 10, rs1: 10, rs2: 11 }],
      ['sw', { rs1: 7, rs2: 10, imm: 0 }],
      ['addi', { rd: 9, rs1: 9, imm: -1 }],
      br('bne', 9, 0, 'loop'),
      WFI,
    ]);
    const core = run(p);
    expect(core.x(5)).toBe(9n);
    expect(core.x(12)).toBe(45n); // 0 + 1 + ... + 9
  });
});

describe('self-modifying code in another page', () => {
  // The second case's data store caches the page's write mapping in the host TLB first; decoding
  // the page must drop that mapping, or the patch would bypass the code-page check (frameFor).
  it.each([
    ['a called function rewritten between calls', []],
    ['a page stored to before it held code: a store after its first call still rewrites it', [['sd', { rs1: 7, rs2: 0, imm: 0x700 }]]],
  ] as [string, Insn[]][])('%s', (_, before) => {
    const F = RAM_BASE + 0x3000;
    const fn = asm([ADD1, ['jalr', { rd: 0, rs1: 1, imm: 0 }]], F);
    const p = asm([
      ...li(6, BigInt(ADD100)),
      ...li(7, BigInt(F)),
      ...before,
      ['jalr', { rd: 1, rs1: 7, imm: 0 }],
      ['sw', { rs1: 7, rs2: 6, imm: 0 }],
      ['jalr', { rd: 1, rs1: 7, imm: 0 }],
      WFI,
    ]);
    const core = run(p, { setup: (c) => c.writePhys(F, fn.bytes) });
    expect(core.x(5)).toBe(101n);
  });

  it('host writes between runs replace code (runProgram over an executed program)', () => {
    const { core } = makeCore();
    expect(runProgram(core, [ADD1, WFI])).toBe(RunStatus.Wfi);
    expect(core.x(5)).toBe(1n);
    expect(runProgram(core, [ADD100, WFI])).toBe(RunStatus.Wfi);
    expect(core.x(5)).toBe(101n);
  });

  it('a store to a data page next to code does not disturb execution', () => {
    const p = asm([...li(7, BigInt(DATA)), ...li(6, -1n), ['sd', { rs1: 7, rs2: 6, imm: 0 }], ADD1, ADD1, WFI]);
    const core = run(p);
    expect(core.x(5)).toBe(2n);
    expect(readLE(core, DATA, 8)).toBe(0xffffffffffffffffn);
  });
});

describe('32-bit instructions straddling a 4 KiB page boundary', () => {
  const PAGE = RAM_BASE + 0x1000;

  it('executes when reached sequentially (after compressed instructions)', () => {
    // PAGE-6 c.addi, PAGE-4 c.nop, PAGE-2 addi (straddles), PAGE+2 addi, PAGE+6 wfi.
    const q = asm(
      [
        encode('c.addi', { rd: 5, imm: 3 }),
        encode('c.addi', { rd: 0, imm: 0 }),
        label('s'),
        ['addi', { rd: 6, rs1: 5, imm: 77 }],
        ['addi', { rd: 7, rs1: 6, imm: 1 }],
        WFI,
      ],
      PAGE - 6,
    );
    expect(q.at('s')).toBe(PAGE - 2);
    const core = run(q);
    expect([core.x(5), core.x(6), core.x(7)]).toEqual([3n, 80n, 81n]);
    expect(core.instret).toBe(5);
    expect(core.pc).toBe(BigInt(PAGE + 10));
  });

  it('executes repeatedly in a loop and as a branch target; counts like any instruction', () => {
    const q = asm(
      [
        ['addi', { rd: 9, rs1: 0, imm: 5 }], // PAGE-8
        encode('c.addi', { rd: 0, imm: 0 }), // PAGE-4
        label('loop'), // PAGE-2
        ['addi', { rd: 5, rs1: 5, imm: 3 }], // straddles
        ['addi', { rd: 9, rs1: 9, imm: -1 }],
        br('bne', 9, 0, 'loop'),
        WFI,
      ],
      PAGE - 8,
    );
    expect(q.at('loop')).toBe(PAGE - 2);
    const core = run(q, { at: PAGE - 8 });
    expect(core.x(5)).toBe(15n);
    expect(core.classCounts().alu).toBe(2 + 10);
    expect(core.classCounts().branchTaken).toBe(4);
  });

  it.each([
    ['taken branch backward', 'bne', true],
    ['not-taken branch', 'beq', false],
  ] as const)('a straddling %s', (_n, op, taken) => {
    // The straddling instruction is the branch itself.
    const p = asm(
      [
        ['addi', { rd: 9, rs1: 0, imm: 0 }],
        label('back'),
        ['addi', { rd: 9, rs1: 9, imm: 1 }],
        ['addi', { rd: 6, rs1: 0, imm: 2 }],
        { org: PAGE - 2 },
        label('br'),
        (at, lab) => [op, { rs1: 9, rs2: 6, imm: lab('back') - at }], // straddles
        ['addi', { rd: 10, rs1: 0, imm: 1 }],
        WFI,
      ],
      RAM_BASE,
    );
    expect(p.at('br')).toBe(PAGE - 2);
    const core = run(p);
    // bne: loops until x9 == 2 (taken once); beq: x9 = 1 != 2, falls through.
    expect(core.x(9)).toBe(taken ? 2n : 1n);
    expect(core.x(10)).toBe(1n);
    expect(core.classCounts().branchTaken).toBe(taken ? 1 : 0);
  });

  it('a straddling jal links pc+4 and a straddling load/store works', () => {
    const p = asm(
      [
        ...li(8, BigInt(DATA)),
        ...li(6, 0x5566n),
        { org: PAGE - 2 },
        ['sd', { rs1: 8, rs2: 6, imm: 0 }], // straddles
        encode('c.addi', { rd: 0, imm: 0 }),
        { org: PAGE + 0x1000 - 2 },
        ['ld', { rd: 7, rs1: 8, imm: 0 }], // straddles the next boundary
        label('j'),
        (at, lab) => ['jal', { rd: 1, imm: lab('t') - at }],
        { org: PAGE + 0x2000 - 2 },
        label('t'),
        WFI, // straddles too
      ],
      RAM_BASE,
    );
    expect(p.at('j')).toBe(PAGE + 0x1000 + 2);
    const core = run(p);
    expect(core.x(7)).toBe(0x5566n);
    expect(core.x(1)).toBe(BigInt(PAGE + 0x1000 + 6));
    expect(core.pc).toBe(BigInt(PAGE + 0x2000 + 2));
  });

  it('an illegal straddling word reports all 32 bits in mtval', () => {
    const { core } = prepare([]);
    core.writePhys(PAGE - 2, Uint8Array.from([0xff, 0xff, 0xff, 0xff]));
    core.pc = BigInt(PAGE - 2);
    const st = runFor(core, 10);
    expect(st).toBe(RunStatus.Wfi);
    expect(csrOf(core, 'mcause')).toBe(2n);
    expect(csrOf(core, 'mtval')).toBe(0xffffffffn);
    expect(csrOf(core, 'mepc')).toBe(BigInt(PAGE - 2));
  });

  it('a straddling instruction rewritten (its second half, in the next page) runs the new bytes', () => {
    // Loop twice over the straddler; between passes, change the immediate (upper half lives in
    // the next page at PAGE + 0).
    const p = asm(
      [
        ...li(9, 2n),
        ...li(7, BigInt(PAGE)),
        ...li(6, BigInt(ADD100 >>> 16)),
        { org: PAGE - 2 },
        label('loop'),
        ADD1, // straddles: low half at PAGE-2, high half (imm) at PAGE
        ['addi', { rd: 9, rs1: 9, imm: -1 }],
        (at, lab) => ['beq', { rs1: 9, rs2: 0, imm: lab('done') - at }],
        ['sh', { rs1: 7, rs2: 6, imm: 0 }],
        br('beq', 0, 0, 'loop'),
        label('done'),
        WFI,
      ],
      RAM_BASE,
    );
    expect(p.at('loop')).toBe(PAGE - 2);
    expect(run(p).x(5)).toBe(101n);
  });

  it('instruction limits stop exactly before / after a straddling instruction', () => {
    const p = asm(
      [['addi', { rd: 5, rs1: 0, imm: 1 }], ['addi', { rd: 6, rs1: 5, imm: 1 }], ['addi', { rd: 7, rs1: 6, imm: 1 }], WFI],
      PAGE - 6,
    );
    // PAGE-6 addi x5 (4 bytes), PAGE-2 addi x6 (straddles), PAGE+2 addi x7.
    for (const [n, pc, x6] of [
      [1, PAGE - 2, 0n],
      [2, PAGE + 2, 2n],
      [3, PAGE + 6, 2n],
    ] as const) {
      const { core } = makeCore();
      expect(runProgram(core, p.bytes, n, PAGE - 6 - RAM_BASE)).toBe(RunStatus.InsnLimit);
      expect({ n, instret: core.instret, pc: core.pc, x6: core.x(6) }).toEqual({ n, instret: n, pc: BigInt(pc), x6 });
    }
  });
});
