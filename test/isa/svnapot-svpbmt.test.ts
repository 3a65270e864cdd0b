/**
 * Svnapot (Priv 20211203 ch. 5) and Svpbmt (ch. 6) in the page-table walker, and the other high
 * PTE bits (§4.3.1: bits 60:54 reserved): a 64 KiB NAPOT leaf (N = 1, ppn[3:0] = 1000) maps
 * va[15:12] through; N with another ppn[3:0] or on a superpage is a page fault; PBMT needs
 * menvcfg.PBMTE (else a page fault), and PBMT = 3 is reserved; with an extension turned off
 * (`--cpu ...,svnapot=off`) its bits are reserved again.
 */
import { describe, expect, it } from 'vitest';
import type { Core } from '../../src/core.js';
import { GATED_EXTS } from '../../src/isa/table.js';
import {
  CODE, CSR, DATA, PRV_S, PTE, SATP_MODE, WFI, buildPageTables, csrw, csrwi64, enterMode, exec, expectTrap, hex, li,
  pmpAllowAll, run, writeLE, type Insn,
} from '../helpers/isa.js';

const N = 1n << 63n;
const PBMT = (v: bigint): bigint => v << 61n;
const PBMTE = 1n << 62n;
const VA = 0x4000_0000n;
const RWAD = PTE.V | PTE.R | PTE.W | PTE.A | PTE.D;

/** S-mode program: x6 = satp (setup), load x7 from x10 = VA + off; ends in wfi (or a trap). */
function prog(off: bigint, menvcfg = 0n) {
  return [...pmpAllowAll(), ...csrwi64(CSR.menvcfg, menvcfg), csrw(CSR.satp, 6), ...li(10, VA + off), ...enterMode(PRV_S), ['ld', { rd: 7, rs1: 10, imm: 0 }] as Insn, WFI];
}

function setup(leafPa: bigint, flags: bigint, extsOff: string[] = []) {
  return (c: Core) => {
    for (let o = 0; o < 0x10000; o += 0x1000) writeLE(c, DATA + o + 8, 8, 0xd000n + BigInt(o >> 12));
    // A NAPOT PTE is replicated in the 16 PTEs of its range (ch. 5); the others map one page.
    const n = (flags & N) !== 0n ? 16 : 1;
    const satp = buildPageTables(c, SATP_MODE.Sv39, [
      ...Array.from({ length: n }, (_, k) => ({ va: VA + BigInt(k) * 0x1000n, pa: leafPa, flags })),
      { va: BigInt(CODE), pa: BigInt(CODE), flags: PTE.V | PTE.R | PTE.X | PTE.A },
    ]);
    c.setX(6, satp);
    if (extsOff.length) {
      let m = 0;
      GATED_EXTS.forEach((e, i) => {
        if (!extsOff.includes(e)) m |= 1 << i;
      });
      (c.ex as unknown as { setExtensions(m: number): void }).setExtensions(m);
    }
  };
}

describe('Svnapot: 64 KiB pages', () => {
  it('va[15:12] select the 4 KiB piece of the 64 KiB page (ppn[3:0] = 1000 is the size, not an address)', () => {
    for (const piece of [0n, 5n, 15n]) {
      const c = run(prog(piece * 0x1000n + 8n), { setup: setup(BigInt(DATA) | 0x8000n, RWAD | N) });
      expect(hex(c.x(7))).toBe(hex(0xd000n + piece));
    }
  });
  it('N = 1 with ppn[3:0] != 1000: page fault', () => {
    expectTrap(exec(prog(8n), { setup: setup(BigInt(DATA) | 0x4000n, RWAD | N) }), { cause: 13, tval: VA + 8n });
  });
  it('N = 1 with Svnapot off: the bit is reserved, a page fault', () => {
    expectTrap(exec(prog(8n), { setup: setup(BigInt(DATA) | 0x8000n, RWAD | N, ['Svnapot']) }), { cause: 13, tval: VA + 8n });
  });
});

describe('Svpbmt and the reserved high bits', () => {
  it('PBMT = NC (1) or IO (2) with menvcfg.PBMTE = 1: the access works (no caches: same memory)', () => {
    for (const t of [1n, 2n]) {
      const c = run(prog(8n, PBMTE), { setup: setup(BigInt(DATA), RWAD | PBMT(t)) });
      expect(hex(c.x(7))).toBe(hex(0xd000n));
    }
  });
  it('PBMT != 0 with menvcfg.PBMTE = 0, PBMT = 3, or Svpbmt off: page fault', () => {
    expectTrap(exec(prog(8n, 0n), { setup: setup(BigInt(DATA), RWAD | PBMT(1n)) }), { cause: 13, tval: VA + 8n });
    expectTrap(exec(prog(8n, PBMTE), { setup: setup(BigInt(DATA), RWAD | PBMT(3n)) }), { cause: 13, tval: VA + 8n });
    expectTrap(exec(prog(8n, PBMTE), { setup: setup(BigInt(DATA), RWAD | PBMT(1n), ['Svpbmt']) }), { cause: 13, tval: VA + 8n });
  });
  it('menvcfg.PBMTE reads back as written (and 0 with Svpbmt off)', () => {
    const on = run([...csrwi64(CSR.menvcfg, PBMTE), ['csrrs', { rd: 7, rs1: 0, imm: CSR.menvcfg }], WFI]);
    expect(hex(on.x(7))).toBe(hex(PBMTE));
    const off = run([...csrwi64(CSR.menvcfg, PBMTE), ['csrrs', { rd: 7, rs1: 0, imm: CSR.menvcfg }], WFI], { setup: setup(BigInt(DATA), RWAD, ['Svpbmt']) });
    expect(off.x(7)).toBe(0n);
  });
  it('bits 60:54 are reserved: page fault', () => {
    expectTrap(exec(prog(8n, PBMTE), { setup: setup(BigInt(DATA), RWAD | (1n << 54n)) }), { cause: 13, tval: VA + 8n });
  });
});
