/**
 * A extension (Unprivileged ISA 20191213 ch. 8): LR/SC reservation rules, every AMO in both
 * widths, alignment (address-misaligned, not emulated) and access faults outside RAM.
 */
import { describe, expect, it } from 'vitest';
import type { Core } from '../../src/core.js';
import {
  DATA,
  MMIO,
  RAM_BASE,
  RunStatus,
  asm,
  csrOf,
  exec,
  expectTrap,
  hex,
  label,
  li,
  readLE,
  run,
  s32,
  s64,
  sext,
  u32,
  writeLE,
  WFI,
  type Insn,
  skipAndReturn,
} from '../helpers/isa.js';

const MEM = DATA + 0x8000;
const CANARY = 0xa5a5a5a5n;

type AmoFn = (old: bigint, b: bigint) => bigint;
/** New memory value from the old one and rs2, for a `bits`-wide AMO (operands already truncated). */
function amoRef(name: string, bits: 32 | 64): AmoFn {
  const s = (v: bigint) => (bits === 32 ? s32(v) : s64(v));
  const t = (v: bigint) => BigInt.asUintN(bits, v);
  const f: Record<string, AmoFn> = {
    amoswap: (_a, b) => b,
    amoadd: (a, b) => a + b,
    amoxor: (a, b) => a ^ b,
    amoand: (a, b) => a & b,
    amoor: (a, b) => a | b,
    amomin: (a, b) => (s(a) < s(b) ? a : b),
    amomax: (a, b) => (s(a) > s(b) ? a : b),
    amominu: (a, b) => (t(a) < t(b) ? a : b),
    amomaxu: (a, b) => (t(a) > t(b) ? a : b),
  };
  return (a, b) => t(f[name](t(a), t(b)));
}
const AMOS = ['amoswap', 'amoadd', 'amoxor', 'amoand', 'amoor', 'amomin', 'amomax', 'amominu', 'amomaxu'];

/** Run one AMO per case on its own doubleword at MEM + 8 i; returns rd values and memory after. */
function amoRun(op: string, cases: Array<[bigint, bigint]>): { rd: bigint[]; mem: bigint[]; core: Core } {
  const prog: Insn[] = [...li(31, BigInt(DATA))];
  cases.forEach(([, b], i) => {
    prog.push(...li(5, BigInt(MEM + 8 * i)), ...li(6, b), [op, { rd: 7, rs1: 5, rs2: 6 }]);
    prog.push(['sd', { rs1: 31, rs2: 7, imm: 0 }], ['addi', { rd: 31, rs1: 31, imm: 8 }]);
  });
  prog.push(WFI);
  const core = run(prog, { setup: (c) => cases.forEach(([m], i) => writeLE(c, MEM + 8 * i, 8, m)) });
  return {
    core,
    rd: cases.map((_, i) => readLE(core, DATA + 8 * i, 8)),
    mem: cases.map((_, i) => readLE(core, MEM + 8 * i, 8)),
  };
}

describe('AMO .w: loaded value sign-extended, 32-bit operation, upper word untouched', () => {
  const mems = [0n, 1n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x12345678n, 0xfffffffen];
  const bs = [0n, 1n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0xffffffff_80000000n, 0x5555_5555_0000_0002n, 0xffff_ffff_ffff_fffen];
  it.each(AMOS)('%s.w', (name) => {
    const cases: Array<[bigint, bigint]> = [];
    for (const m of mems) for (const b of bs) cases.push([(CANARY << 32n) | m, b]);
    const { rd, mem } = amoRun(`${name}.w`, cases);
    const f = amoRef(name, 32);
    // rd gets the old word sign-extended (Unpriv 8.4); memory's upper word keeps the canary.
    const lines = (r: bigint[], m: bigint[]) => cases.map(([m0, b], i) => `${hex(m0)},${hex(b)}: rd ${hex(r[i])} mem ${hex(m[i])}`);
    expect(lines(rd, mem)).toEqual(
      lines(
        cases.map(([m]) => sext(m, 32)),
        cases.map(([m, b]) => (CANARY << 32n) | f(u32(m), u32(b))),
      ),
    );
  });
});

describe('AMO .d', () => {
  const vals = [0n, 1n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn, 0x00000000_ffffffffn, 0xffffffff_00000000n, 0x0123456789abcdefn];
  it.each(AMOS)('%s.d', (name) => {
    const cases: Array<[bigint, bigint]> = [];
    for (const m of vals) for (const b of vals) cases.push([m, b]);
    const { rd, mem } = amoRun(`${name}.d`, cases);
    const f = amoRef(name, 64);
    const lines = (r: bigint[], m: bigint[]) => cases.map(([m0, b], i) => `${hex(m0)},${hex(b)}: rd ${hex(r[i])} mem ${hex(m[i])}`);
    expect(lines(rd, mem)).toEqual(
      lines(
        cases.map(([m]) => m),
        cases.map(([m, b]) => f(m, b)),
      ),
    );
  });

  it('rd = x0 updates memory and discards the old value', () => {
    const core = run([...li(5, BigInt(MEM)), ...li(6, 5n), ['amoadd.d', { rd: 0, rs1: 5, rs2: 6 }], WFI], {
      setup: (c) => writeLE(c, MEM, 8, 10n),
    });
    expect(core.x(0)).toBe(0n);
    expect(readLE(core, MEM, 8)).toBe(15n);
  });
});

describe('AMO operand aliasing', () => {
  it('rd == rs2 returns the old value and stores the old rs2', () => {
    const core = run([...li(5, BigInt(MEM)), ...li(6, 0x1111n), ['amoswap.d', { rd: 6, rs1: 5, rs2: 6 }], WFI], {
      setup: (c) => writeLE(c, MEM, 8, 0x2222n),
    });
    expect(core.x(6)).toBe(0x2222n);
    expect(readLE(core, MEM, 8)).toBe(0x1111n);
  });
  it('rd == rs1 == rs2 (amoadd.d x5, x5, (x5))', () => {
    const core = run([...li(5, BigInt(MEM)), ['amoadd.d', { rd: 5, rs1: 5, rs2: 5 }], WFI], {
      setup: (c) => writeLE(c, MEM, 8, 0x10n),
    });
    expect(core.x(5)).toBe(0x10n);
    expect(readLE(core, MEM, 8)).toBe(BigInt(MEM) + 0x10n);
  });
  it('amo and lr/sc are counted in the amo class', () => {
    const core = run([
      ...li(5, BigInt(MEM)),
      ['amoadd.w', { rd: 6, rs1: 5, rs2: 0 }],
      ['lr.d', { rd: 6, rs1: 5 }],
      ['sc.d', { rd: 6, rs1: 5, rs2: 0 }],
      WFI,
    ]);
    expect(core.classCounts().amo).toBe(3);
  });
});

describe('LR/SC', () => {
  const A = MEM, B = MEM + 64;
  const init = (c: Core) => {
    writeLE(c, A, 8, 0xaaaa_aaaa_8000_0001n);
    writeLE(c, B, 8, 0xbbbbn);
  };
  const base: Insn[] = [...li(5, BigInt(A)), ...li(6, BigInt(B)), ...li(7, 0x77n)];

  it('lr.d then sc.d succeeds (rd = 0) and stores', () => {
    const core = run([...base, ['lr.d', { rd: 10, rs1: 5 }], ['sc.d', { rd: 11, rs1: 5, rs2: 7 }], WFI], { setup: init });
    expect(hex(core.x(10))).toBe('0xaaaaaaaa80000001');
    expect(core.x(11)).toBe(0n);
    expect(readLE(core, A, 8)).toBe(0x77n);
  });

  it('lr.w sign-extends and sc.w writes only the low word', () => {
    const core = run([...base, ...li(7, 0xffff_ffff_1234_5678n), ['lr.w', { rd: 10, rs1: 5 }], ['sc.w', { rd: 11, rs1: 5, rs2: 7 }], WFI], {
      setup: init,
    });
    expect(hex(core.x(10))).toBe('0xffffffff80000001');
    expect(core.x(11)).toBe(0n);
    expect(hex(readLE(core, A, 8))).toBe('0xaaaaaaaa12345678');
  });

  it('sc without any reservation fails (rd != 0) and does not store', () => {
    const core = run([...base, ['sc.d', { rd: 11, rs1: 5, rs2: 7 }], ['sc.w', { rd: 12, rs1: 5, rs2: 7 }], WFI], { setup: init });
    expect(core.x(11)).not.toBe(0n);
    expect(core.x(12)).not.toBe(0n);
    expect(hex(readLE(core, A, 8))).toBe('0xaaaaaaaa80000001');
  });

  it('a second sc after a successful one fails (sc clears the reservation)', () => {
    const core = run(
      [...base, ['lr.d', { rd: 10, rs1: 5 }], ['sc.d', { rd: 11, rs1: 5, rs2: 7 }], ['sc.d', { rd: 12, rs1: 5, rs2: 0 }], WFI],
      { setup: init },
    );
    expect(core.x(11)).toBe(0n);
    expect(core.x(12)).not.toBe(0n);
    expect(readLE(core, A, 8)).toBe(0x77n);
  });

  it('a failed sc (other address) also clears the reservation', () => {
    const core = run(
      [...base, ['lr.d', { rd: 10, rs1: 5 }], ['sc.d', { rd: 11, rs1: 6, rs2: 7 }], ['sc.d', { rd: 12, rs1: 5, rs2: 7 }], WFI],
      { setup: init },
    );
    expect(core.x(11)).not.toBe(0n);
    expect(core.x(12)).not.toBe(0n);
    expect(readLE(core, A, 8)).toBe(0xaaaa_aaaa_8000_0001n);
    expect(readLE(core, B, 8)).toBe(0xbbbbn);
  });

  it('lr to a different address moves the reservation', () => {
    const core = run(
      [
        ...base,
        ['lr.d', { rd: 10, rs1: 5 }],
        ['lr.d', { rd: 10, rs1: 6 }],
        ['sc.d', { rd: 11, rs1: 5, rs2: 7 }], // A: fails
        ['lr.d', { rd: 10, rs1: 5 }],
        ['lr.d', { rd: 10, rs1: 6 }],
        ['sc.d', { rd: 12, rs1: 6, rs2: 7 }], // B: succeeds
        WFI,
      ],
      { setup: init },
    );
    expect(core.x(11)).not.toBe(0n);
    expect(core.x(12)).toBe(0n);
    expect(readLE(core, A, 8)).toBe(0xaaaa_aaaa_8000_0001n);
    expect(readLE(core, B, 8)).toBe(0x77n);
  });

  it('a retry loop (lr/sc increment) completes', () => {
    const p = asm([
      ...base,
      ['addi', { rd: 13, rs1: 0, imm: 5 }],
      label('loop'),
      ['lr.d', { rd: 10, rs1: 6 }],
      ['addi', { rd: 10, rs1: 10, imm: 1 }],
      ['sc.d', { rd: 11, rs1: 6, rs2: 10 }],
      (at, lab) => ['bne', { rs1: 11, rs2: 0, imm: lab('loop') - at }],
      ['addi', { rd: 13, rs1: 13, imm: -1 }],
      (at, lab) => ['bne', { rs1: 13, rs2: 0, imm: lab('loop') - at }],
      WFI,
    ]);
    const core = run(p, { setup: init });
    expect(readLE(core, B, 8)).toBe(0xbbbbn + 5n);
  });

  it('a trap between lr and sc breaks the reservation (trap.ts takeTrap)', () => {
    // Handler: skip the ecall and return.
    const H = RAM_BASE + 0x4000;
    const handler = asm(skipAndReturn(), H);
    const { core, status } = exec(
      [...base, ...li(29, BigInt(H)), ['csrrw', { rd: 0, rs1: 29, imm: 0x305 }], ['lr.d', { rd: 10, rs1: 5 }], ['ecall'], ['sc.d', { rd: 11, rs1: 5, rs2: 7 }], WFI],
      {
        handler: false,
        setup: (c) => {
          init(c);
          c.writePhys(H, handler.bytes);
        },
      },
    );
    expect(status).toBe(RunStatus.Wfi);
    expect(core.exceptions).toBe(1);
    expect(csrOf(core, 'mcause')).toBe(11n);
    expect(core.pc).toBe(BigInt(RAM_BASE + 4 * (base.length + li(29, BigInt(H)).length + 5)));
    expect(core.x(11)).not.toBe(0n);
    expect(readLE(core, A, 8)).toBe(0xaaaa_aaaa_8000_0001n);
  });
});

describe('alignment and access faults', () => {
  const epcAfter = (prog: Insn[]) => BigInt(RAM_BASE + 4 * prog.length);
  it.each([
    ['lr.w', 2, 4],
    ['lr.d', 4, 4],
    ['lr.d', 1, 4],
  ] as const)('misaligned %s (+%i) raises load address-misaligned (cause %i), mtval = address', (op, off, cause) => {
    const pre = li(5, BigInt(MEM + off));
    const r = exec([...pre, [op, { rd: 10, rs1: 5 }], WFI]);
    expectTrap(r, { cause, tval: BigInt(MEM + off), epc: epcAfter(pre) });
    expect(r.core.x(10)).toBe(0n);
  });

  it.each(['sc.w', 'sc.d', ...AMOS.map((a) => `${a}.w`), ...AMOS.map((a) => `${a}.d`)])(
    'misaligned %s raises store/AMO address-misaligned (cause 6), mtval = address, memory unchanged',
    (op) => {
      const off = op.endsWith('.w') ? 2 : 4;
      const pre = [...li(5, BigInt(MEM + off)), ...li(6, -1n)];
      const r = exec([...pre, [op, { rd: 10, rs1: 5, rs2: 6 }], WFI], { setup: (c) => writeLE(c, MEM, 16, 0x1234n) });
      expectTrap(r, { cause: 6, tval: BigInt(MEM + off), epc: epcAfter(pre) });
      expect(r.core.x(10)).toBe(0n);
      expect(readLE(r.core, MEM, 16)).toBe(0x1234n);
      expect(r.core.classCounts().amo).toBe(0); // did not retire
    },
  );

  it.each(['sc.d', 'amoswap.w', 'amoadd.d', 'amomaxu.w'])('%s on an unmapped address raises store/AMO access fault (7)', (op) => {
    const pre = li(5, BigInt(MMIO));
    const r = exec([...pre, [op, { rd: 10, rs1: 5, rs2: 5 }], WFI]);
    expectTrap(r, { cause: 7, tval: BigInt(MMIO), epc: epcAfter(pre) });
    expect(r.core.x(10)).toBe(0n);
  });

  it.each(['lr.w', 'lr.d'])('%s on an unmapped address raises load access fault (5)', (op) => {
    const pre = li(5, BigInt(MMIO + 8));
    const r = exec([...pre, [op, { rd: 10, rs1: 5 }], WFI]);
    expectTrap(r, { cause: 5, tval: BigInt(MMIO + 8), epc: epcAfter(pre) });
  });

  it('AMO at the last aligned word of RAM works; one past the end faults', () => {
    const end = RAM_BASE + (1 << 20);
    const ok = run([...li(5, BigInt(end - 8)), ...li(6, 3n), ['amoadd.d', { rd: 7, rs1: 5, rs2: 6 }], WFI], {
      setup: (c) => writeLE(c, end - 8, 8, 4n),
    });
    expect(ok.x(7)).toBe(4n);
    expect(readLE(ok, end - 8, 8)).toBe(7n);
    const bad = exec([...li(5, BigInt(end)), ['amoadd.w', { rd: 7, rs1: 5, rs2: 0 }], WFI]);
    expect(csrOf(bad.core, 'mcause')).toBe(7n);
  });
});
