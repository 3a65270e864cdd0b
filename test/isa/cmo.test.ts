/**
 * Zicbom / Zicboz (CMO spec 1.0.1; envcfg fields Priv 20211203 §3.1.18, §4.1.?): cbo.zero writes
 * zeros to the naturally aligned 64-byte block (Zic64b); cbo.clean/flush/inval only check; the
 * enable rules of menvcfg / senvcfg (CBIE, CBCFE, CBZE) with the illegal-instruction traps
 * (the H-mode virtual-instruction ones are in the same function, cmo.ts cboEnabled); a failed
 * access check is a store fault with tval = the block address.
 */
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/isa/encode.js';
import type { Core } from '../../src/core.js';
import {
  CODE, CSR, DATA, PRV_S, PRV_U, PTE, SATP_MODE, WFI, buildPageTables, csrOf, csrr, csrw, csrwi64, enterMode, exec,
  expectTrap, hex, li, pmpAllowAll, readLE, run, writeLE, type Insn,
} from '../helpers/isa.js';

const CBIE = 3n << 4n, CBCFE = 1n << 6n, CBZE = 1n << 7n;
const fill = (core: Core) => {
  for (let o = 0; o < 256; o += 8) writeLE(core, DATA + o, 8, 0x1111111111111111n * BigInt(1 + (o >> 6)));
};

describe('cbo.zero', () => {
  it('M-mode: zeroes exactly the aligned 64-byte block holding rs1 (any offset inside it)', () => {
    const c = run([...li(10, BigInt(DATA + 64 + 37)), ['cbo.zero', { rs1: 10 }], WFI], { setup: fill });
    const got = Array.from({ length: 32 }, (_, i) => readLE(c, DATA + i * 8, 8));
    const want = Array.from({ length: 32 }, (_, i) => (i >= 8 && i < 16 ? 0n : 0x1111111111111111n * BigInt(1 + (i >> 3))));
    expect(got.map(hex)).toEqual(want.map(hex));
  });

  it('S-mode with menvcfg.CBZE = 0: illegal instruction, memory untouched (mtval = the instruction)', () => {
    const w = encode('cbo.zero', { rs1: 10 });
    const r = exec([...pmpAllowAll(), ...li(10, BigInt(DATA)), ...enterMode(PRV_S), ['cbo.zero', { rs1: 10 }], WFI], { setup: fill });
    expectTrap(r, { cause: 2, tval: BigInt(w >>> 0) });
    expect(readLE(r.core, DATA, 8)).toBe(0x1111111111111111n);
  });

  it('S-mode with menvcfg.CBZE = 1 zeroes; U-mode also needs senvcfg.CBZE', () => {
    const s = run([...pmpAllowAll(), ...csrwi64(CSR.menvcfg, CBZE), ...li(10, BigInt(DATA)), ...enterMode(PRV_S), ['cbo.zero', { rs1: 10 }], WFI], { setup: fill });
    expect(readLE(s, DATA + 56, 8)).toBe(0n);
    const w = encode('cbo.zero', { rs1: 10 });
    const u = exec([...pmpAllowAll(), ...csrwi64(CSR.menvcfg, CBZE), ...li(10, BigInt(DATA)), ...enterMode(PRV_U), ['cbo.zero', { rs1: 10 }], WFI], { setup: fill });
    expectTrap(u, { cause: 2, tval: BigInt(w >>> 0) });
    // (U-mode cannot wfi: it ends with an ecall, cause 8.)
    const u2 = exec(
      [...pmpAllowAll(), ...csrwi64(CSR.menvcfg, CBZE), ...csrwi64(CSR.senvcfg, CBZE), ...li(10, BigInt(DATA)), ...enterMode(PRV_U), ['cbo.zero', { rs1: 10 }], ['ecall']],
      { setup: fill },
    );
    expectTrap(u2, { cause: 8 });
    expect(readLE(u2.core, DATA, 8)).toBe(0n);
  });

  it('a page without write permission: store page fault, tval = the block address, nothing written', () => {
    const va = 0x4000_0000n;
    let satp = 0n;
    const r = exec(
      [
        ...pmpAllowAll(),
        ...csrwi64(CSR.menvcfg, CBZE),
        csrw(CSR.satp, 6), // x6 = satp (setup)
        ...li(10, va + 100n),
        ...enterMode(PRV_S),
        ['cbo.zero', { rs1: 10 }],
        WFI,
      ],
      {
        setup: (c) => {
          fill(c);
          satp = buildPageTables(c, SATP_MODE.Sv39, [
            { va, pa: BigInt(DATA), flags: PTE.V | PTE.R | PTE.A | PTE.D },
            { va: BigInt(CODE), pa: BigInt(CODE), flags: PTE.V | PTE.R | PTE.X | PTE.A },
          ]);
          c.setX(6, satp);
        },
      },
    );
    expectTrap(r, { cause: 15, tval: va + 64n });
    expect(readLE(r.core, DATA + 64, 8)).toBe(0x2222222222222222n);
  });
});

describe('cbo.clean / cbo.flush / cbo.inval', () => {
  it('M-mode: no architectural effect on memory', () => {
    const c = run([...li(10, BigInt(DATA + 3)), ['cbo.clean', { rs1: 10 }], ['cbo.flush', { rs1: 10 }], ['cbo.inval', { rs1: 10 }], WFI], { setup: fill });
    expect(readLE(c, DATA, 8)).toBe(0x1111111111111111n);
  });

  it.each([
    ['cbo.clean', CBCFE],
    ['cbo.flush', CBCFE],
    ['cbo.inval', CBIE],
  ] as const)('%s in S-mode: illegal unless menvcfg enables it; enabled, it retires', (name, field) => {
    const w = encode(name, { rs1: 10 });
    const off = exec([...pmpAllowAll(), ...li(10, BigInt(DATA)), ...enterMode(PRV_S), [name, { rs1: 10 }], WFI]);
    expectTrap(off, { cause: 2, tval: BigInt(w >>> 0) });
    const on = run([...pmpAllowAll(), ...csrwi64(CSR.menvcfg, field), ...li(10, BigInt(DATA)), ...enterMode(PRV_S), [name, { rs1: 10 }], WFI]);
    expect(on.exceptions).toBe(0);
  });
});

describe('envcfg fields', () => {
  it('menvcfg/senvcfg keep CBIE, CBCFE, CBZE; CBIE = 10 (reserved) reads 00', () => {
    const prog: Insn[] = [
      ...csrwi64(CSR.menvcfg, CBIE | CBCFE | CBZE | 1n), // FIOM (bit 0) is not implemented
      csrr(20, CSR.menvcfg),
      ...csrwi64(CSR.menvcfg, 2n << 4n),
      csrr(21, CSR.menvcfg),
      ...csrwi64(CSR.senvcfg, (1n << 4n) | CBZE),
      csrr(22, CSR.senvcfg),
      WFI,
    ];
    const c = run(prog);
    expect([c.x(20), c.x(21), c.x(22)].map(hex)).toEqual([hex(CBIE | CBCFE | CBZE), '0x0', hex((1n << 4n) | CBZE)]);
    expect(csrOf(c, 'menvcfg')).toBe(0n);
  });
});
