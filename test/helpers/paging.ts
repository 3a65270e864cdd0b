/**
 * Paging fixtures for core tests (from test/core/mmu.test.ts): page tables written straight into
 * RAM, and a short M-mode prologue that sets mtvec, PMP, satp and mstatus.MPP = S, then mrets to
 * S-mode code. A trap back to M-mode lands in a handler that records mcause / mtval / mepc in
 * x28 / x29 / x30 and spins (`jal x0, 0`) until the instruction limit.
 */
import { Core, RAM_BASE } from '../../src/core.js';
import * as L from '../../src/generated/layout.js';
import { makeCore, assemble, type Insn } from './core-harness.js';

export const V = 1n, R = 2n, W = 4n, X = 8n, U = 16n, G = 32n, A = 64n, D = 128n;
export const PAGE = 4096;

/** li rd, value (any 64-bit) as lui/addi/slli sequences. */
export function li(rd: number, value: bigint): Insn[] {
  const v = BigInt.asIntN(64, value);
  if (v >= -2048n && v < 2048n) return [['addi', { rd, rs1: 0, imm: Number(v) }]];
  if (v >= -(2n ** 31n) && v < 2n ** 31n) {
    const lo = Number(BigInt.asIntN(12, v));
    const hi = Number(BigInt.asIntN(32, v - BigInt(lo)));
    const out: Insn[] = [['lui', { rd, imm: hi }]];
    if (lo) out.push(['addiw', { rd, rs1: rd, imm: lo }]);
    return out;
  }
  const lo = Number(BigInt.asIntN(12, v));
  const rest = (v - BigInt(lo)) >> 12n;
  return [...li(rd, rest), ['slli', { rd, rs1: rd, imm: 12 }], ...(lo ? [['addi', { rd, rs1: rd, imm: lo }] as Insn] : [])];
}
export const csrw = (csr: number, rs1: number): Insn => ['csrrw', { rd: 0, rs1, imm: csr }];

export type SatpMode = 8 | 9 | 10;
export interface PageMap {
  va: bigint;
  pa: bigint;
  flags: bigint;
  /** Leaf level: 0 = 4 KiB page, 1 = megapage, 2 = gigapage. */
  level?: number;
}

/** Page-table allocator: tables are 4 KiB pages taken upward from `base`. */
export class PageTables {
  private next: bigint;
  readonly root: bigint;
  constructor(
    readonly core: Core,
    readonly mode: SatpMode,
    base = BigInt(RAM_BASE + 0x100000),
  ) {
    this.next = base;
    this.root = this.alloc();
  }
  private alloc(): bigint {
    const p = this.next;
    this.next += BigInt(PAGE);
    this.core.zeroPhys(Number(p), PAGE);
    return p;
  }
  read(pa: bigint): bigint {
    return this.core.get64(L.RAM_OFFSET + Number(pa) - RAM_BASE);
  }
  write(pa: bigint, v: bigint): void {
    this.core.set64(L.RAM_OFFSET + Number(pa) - RAM_BASE, v);
  }
  map(m: PageMap): this {
    const levels = this.mode - 5;
    const leafLevel = m.level ?? 0;
    let table = this.root;
    for (let lvl = levels - 1; lvl >= leafLevel; lvl--) {
      const pteAddr = table + ((m.va >> BigInt(12 + 9 * lvl)) & 0x1ffn) * 8n;
      if (lvl === leafLevel) {
        this.write(pteAddr, ((m.pa >> 12n) << 10n) | m.flags);
      } else {
        let pte = this.read(pteAddr);
        if ((pte & V) === 0n) {
          pte = ((this.alloc() >> 12n) << 10n) | V;
          this.write(pteAddr, pte);
        }
        table = (pte >> 10n) << 12n;
      }
    }
    return this;
  }
  /** satp value for these tables with `asid`. */
  satp(asid = 0): bigint {
    return (BigInt(this.mode) << 60n) | (BigInt(asid) << 44n) | (this.root >> 12n);
  }
}

/** Build page tables at RAM_BASE + 0x100000 upward; returns satp (ASID 0). */
export function buildTables(core: Core, mode: SatpMode, maps: PageMap[]): bigint {
  const t = new PageTables(core, mode);
  for (const m of maps) t.map(m);
  return t.satp();
}

export const MTVEC_OFF = 0x800;

export interface SBoot {
  mode: SatpMode;
  maps: PageMap[];
  sCode: Insn[];
  sCodeVa: bigint;
  sCodePa: bigint;
  /** ASID in the satp the prologue writes. */
  asid?: number;
  mstatusExtra?: bigint;
  /** Hardware A/D update (default true). */
  adUpdate?: boolean;
  ramBytes?: number;
  maxInsns?: number;
  /** Extra set-up after the tables and code are written, before the run (e.g. enable the TLB model). */
  beforeRun?: (core: Core, tables: PageTables) => void;
}

/**
 * Write tables, S-mode code, the M-mode prologue and trap handler; run from RAM_BASE for at most
 * `maxInsns` instructions. The S-mode code usually ends with `ecall` (mcause 9 in x28).
 */
export function bootS(s: SBoot): Core {
  const { core } = makeCore(s.ramBytes ?? 4 << 20);
  if (s.adUpdate === false) core.ex.configureMmu(0x700, 0);
  const tables = new PageTables(core, s.mode);
  for (const m of s.maps) tables.map(m);
  const satp = tables.satp(s.asid ?? 0);
  core.writePhys(Number(s.sCodePa), assemble(s.sCode));
  const handler: Insn[] = [
    ['csrrs', { rd: 28, rs1: 0, imm: 0x342 }], ['csrrs', { rd: 29, rs1: 0, imm: 0x343 }],
    ['csrrs', { rd: 30, rs1: 0, imm: 0x341 }], ['jal', { rd: 0, imm: 0 }],
  ];
  core.writePhys(RAM_BASE + MTVEC_OFF, assemble(handler));
  const pmpaddrAll = (1n << 54n) - 1n;
  const prologue: Insn[] = [
    ...li(5, BigInt(RAM_BASE + MTVEC_OFF)), csrw(0x305, 5),
    ...li(5, pmpaddrAll), csrw(0x3b0, 5), ...li(5, 0x1fn), csrw(0x3a0, 5), // pmp0 = NAPOT RWX all
    ...li(5, satp), csrw(0x180, 5),
    ...li(5, (1n << 11n) | (s.mstatusExtra ?? 0n)), csrw(0x300, 5), // MPP = S
    ...li(5, s.sCodeVa), csrw(0x341, 5),
    ['mret'],
  ];
  if (prologue.length * 4 > MTVEC_OFF) throw new Error('prologue overlaps the trap handler');
  core.writePhys(RAM_BASE, assemble(prologue));
  s.beforeRun?.(core, tables);
  core.pc = BigInt(RAM_BASE);
  core.insnLimit = s.maxInsns ?? 1000;
  core.deadline = Infinity;
  core.run();
  return core;
}
