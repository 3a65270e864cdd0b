/**
 * Random program generator of the differential fuzzer.
 *
 * A program is a list of items; an item is one instruction of a table row (src/isa/table.ts) plus
 * the setup it needs to be valid and deterministic (a base address for a memory access, a target
 * for a jump, an allowed value for a CSR write). Items are self-contained, so the shrinker can drop
 * any of them. Jumps and branches go forward by a number of items (resolved at layout), so dropping
 * items never makes a loop.
 *
 * Rows are picked from the table by their timing class and format, not by name: a new row is
 * generated as soon as it is in the table (an unknown class/format falls back to random register
 * operands, which is right for ALU-like rows and otherwise shows up as a mismatch to look at).
 *
 * What is generated (per item; the mix is in `generate`):
 *   - every table row, with random registers (never x3 = gp, the runtime's base register), random
 *     immediates, every rounding-mode encoding (the reserved 5 and 6 as illegal-instruction cases)
 *   - loads/stores/AMOs/LR/SC to DATA: aligned, misaligned, across a 4 KiB page boundary, and to
 *     unmapped addresses (access faults)
 *   - CSR accesses from scripts/fuzz/csrs.ts (plus unimplemented numbers: illegal instruction)
 *   - frm/fflags writes (so dyn rounding runs in every mode, and the invalid ones)
 *   - ecall, ebreak, c.ebreak, illegal encodings (traps the runtime logs and skips)
 *   - mret (to the next item, MPP = M), sret (a round trip through S- or U-mode, back by ecall),
 *     wfi with an interrupt pending, fence/fence.i/sfence.vma with random reserved/hint bits
 *   - interrupts: mip/mie bits from CSR writes, taken after an mret enables them
 *   - self-modifying code: a store over a later instruction, fence.i, then that instruction
 *   - MPRV sections: one load/store/AMO with S's or U's translation (Sv39, the table in DATA's last
 *     page) and protection (PMP)
 *   - page crossings: the body starts late in CODE's first page and the layout puts a 32-bit
 *     instruction across every 4 KiB boundary
 * Where QEMU 7.2 and the spec disagree, or the spec allows both machines' answers, the generator
 * either avoids the case or contains it (clears mtval/mcause after it): scripts/fuzz/allowed.ts.
 */
import { F32, F64, fpValue, Rng } from '../fp-diff/gen.js';
import { encode, rowByName } from '../../src/isa/encode.js';
import { INSN_TABLE, immWidth, lookup, type InsnRow, type RegField, type RegSpec } from '../../src/isa/table.js';
import { disassemble } from '../../src/isa/disasm.js';
import { ABSENT_CSRS, FUZZ_CSRS, INIT_CSRS, type FuzzCsr } from './csrs.js';
import { CODE, CODE_MAX, DATA_SIZE, G, RT_DUMP_ENTRY } from './layout.js';

export interface Insn {
  word: number;
  /** 2 or 4 bytes. */
  size: number;
  /** The table row it was generated for (the item's main instruction), for coverage. */
  row?: string;
}

export interface Item {
  kind: string;
  /** Total size in bytes (fixed at generation). */
  size: number;
  /** Forward distance in items of the jump target (0 = no target). */
  skip: number;
  /** Instructions at `pc`, given the target address (when skip > 0). */
  emit(pc: number, target: number): Insn[];
}

export interface Program {
  name: string;
  mstatus: bigint;
  fcsr: bigint;
  x: bigint[];
  f: bigint[];
  /** Values of INIT_CSRS, in order. */
  csrs: bigint[];
  data: Uint8Array;
  items: Item[];
  /** 32-bit instructions the layout puts across page boundaries, one per boundary. */
  straddlers: Item[];
  /**
   * The body starts this many bytes before the end of CODE's first page (CODE holds a jal there),
   * so that even a short body crosses a page boundary.
   */
  lead: number;
}

const M64 = (1n << 64n) - 1n;
const u64 = (v: bigint): bigint => v & M64;
const GP = 3;

// ------------------------------------------------------------------------------------------------
// Instruction helpers

function ins(name: string, ops: Parameters<typeof encode>[1] = {}): Insn {
  const w = encode(name, ops);
  return { word: w, size: rowByName(name).width / 8 };
}

const sext = (v: bigint, bits: number): bigint => {
  const m = 1n << BigInt(bits);
  v &= m - 1n;
  return v >= m >> 1n ? v - m : v;
};

/** Load a 64-bit constant into rd (lui/addi(w)/slli chains). */
export function li(rd: number, value: bigint): Insn[] {
  const v = sext(u64(value), 64);
  if (v >= -2048n && v < 2048n) return [ins('addi', { rd, rs1: 0, imm: Number(v) })];
  if (v >= -(1n << 31n) && v < 1n << 31n) {
    const lo = sext(v, 12);
    const hi = sext(v - lo, 32);
    const out = [ins('lui', { rd, imm: Number(hi) })];
    if (lo !== 0n) out.push(ins('addiw', { rd, rs1: rd, imm: Number(lo) }));
    return out;
  }
  const lo = sext(v, 12);
  let rest = (v - lo) >> 12n;
  let shift = 12;
  while ((rest & 1n) === 0n && shift < 60) {
    rest >>= 1n;
    shift++;
  }
  const out = li(rd, rest);
  out.push(ins('slli', { rd, rs1: rd, imm: shift }));
  if (lo !== 0n) out.push(ins('addi', { rd, rs1: rd, imm: Number(lo) }));
  return out;
}

/** rd = gp + d */
function gpPlus(rd: number, d: number): Insn[] {
  if (d >= -2048 && d < 2048) return [ins('addi', { rd, rs1: GP, imm: d })];
  return [...li(rd, BigInt(d)), ins('add', { rd, rs1: rd, rs2: GP })];
}

const fixedItem = (kind: string, insns: Insn[]): Item => ({
  kind,
  size: insns.reduce((n, i) => n + i.size, 0),
  skip: 0,
  emit: () => insns,
});

// ------------------------------------------------------------------------------------------------
// Values

const INT_SPECIALS: bigint[] = [
  0n, 1n, 2n, M64, M64 - 1n, 0x7fffffffffffffffn, 0x8000000000000000n, 0x7fffffffn, 0x80000000n, 0xffffffff80000000n,
  0xffffffffn, 0x100000000n, 0xffffn, 0x8000n, 0xffn, 0x80n, 63n, 64n, 31n, 32n,
];

export function intValue(rng: Rng): bigint {
  switch (rng.below(6)) {
    case 0: return rng.pick(INT_SPECIALS);
    case 1: return u64(BigInt(rng.range(-64, 64)));
    case 2: return u64(sext(rng.bits(32), 32));
    case 3: return rng.bits(rng.range(1, 64));
    case 4: return u64(rng.pick(INT_SPECIALS) + BigInt(rng.range(-2, 2)));
    default: return rng.u64();
  }
}

export function fpRegValue(rng: Rng): bigint {
  switch (rng.below(8)) {
    case 0: case 1: case 2: return fpValue(rng, F64);
    case 3: case 4: case 5: return 0xffffffff00000000n | fpValue(rng, F32); // NaN-boxed single
    case 6: return fpValue(rng, F32); // improperly boxed: reads as the canonical NaN
    default: return rng.u64();
  }
}

// ------------------------------------------------------------------------------------------------
// Registers

function regRange(spec: RegField): number[] {
  const n = 1 << (spec.hi - spec.lo + 1);
  return Array.from({ length: n }, (_, i) => i + (spec.add ?? 0));
}

function constraintNot(row: InsnRow, field: string): readonly number[] {
  return (row.constraints ?? []).filter((c) => c.field === field).flatMap((c) => c.not);
}

/** A register for an operand field; `dest` excludes gp (and x0 when the row forbids it). */
function pickReg(rng: Rng, row: InsnRow, field: 'rd' | 'rs1' | 'rs2' | 'rs3', spec: RegSpec, dest: boolean, avoid: number[] = []): number {
  if ('fixed' in spec) return spec.fixed;
  const not = constraintNot(row, field);
  const isX = !spec.f;
  const cands = regRange(spec).filter((r) => !not.includes(r) && !(isX && dest && r === GP) && !(isX && avoid.includes(r)));
  return rng.pick(cands);
}

// ------------------------------------------------------------------------------------------------
// Immediates

function randomImm(rng: Rng, row: InsnRow): number {
  const spec = row.format.imm!;
  const top = immWidth(spec);
  const lowest = Math.min(...spec.segs.map((s) => s[2]));
  const not = constraintNot(row, 'imm');
  for (let tries = 0; tries < 100; tries++) {
    let u: number;
    const r = rng.below(4);
    if (r === 0) u = 0;
    else if (r === 1) u = rng.below(8) << lowest;
    else u = Number(rng.bits(top)) - (Number(rng.bits(top)) % 2 ** lowest);
    u -= u % 2 ** lowest;
    let v = spec.signed && u >= 2 ** (top - 1) ? u - 2 ** top : u;
    if (r === 1 && spec.signed && rng.chance(1, 2)) v = -v;
    if (!not.includes(v)) return v;
  }
  return 2 ** lowest;
}

/** An immediate of the row's field that is near `want` (for memory offsets), or null. */
function immRange(row: InsnRow): { min: number; max: number; step: number } | null {
  const spec = row.format.imm;
  if (!spec) return null;
  const top = immWidth(spec);
  const lowest = Math.min(...spec.segs.map((s) => s[2]));
  return spec.signed
    ? { min: -(2 ** (top - 1)), max: 2 ** (top - 1) - 2 ** lowest, step: 2 ** lowest }
    : { min: 0, max: 2 ** top - 2 ** lowest, step: 2 ** lowest };
}

// ------------------------------------------------------------------------------------------------
// Row classification (by class and format, so new rows are picked up)

type Kind = 'mem' | 'branch' | 'jal' | 'jalr' | 'csr' | 'system' | 'fence' | 'plain';

function accessSize(row: InsnRow): number {
  const op = row.op;
  if (/^(lb|lbu|sb)$/.test(op)) return 1;
  if (/^(lh|lhu|sh|flh|fsh)$/.test(op)) return 2;
  if (/^(lw|lwu|sw|flw|fsw)$/.test(op) || /\.w$/.test(op)) return 4;
  return 8;
}

export function kindOf(row: InsnRow): Kind {
  switch (row.cls) {
    case 'load': case 'store': case 'fload': case 'fstore': case 'amo': return 'mem';
    case 'branch': return 'branch';
    case 'jump': return row.format.rs1 ? 'jalr' : 'jal'; // jal/c.j: pc-relative; jalr/c.jr/c.jalr: register
    case 'csr': return row.ext === 'Zicsr' ? 'csr' : 'plain';
    case 'system': return 'system';
    case 'fence': return 'fence';
    default: return 'plain';
  }
}

// ------------------------------------------------------------------------------------------------
// Item builders

interface Ctx {
  rng: Rng;
}

/** Fill a row's operands randomly (registers, rm, immediate) and encode it. */
function randomOperands(rng: Rng, row: InsnRow, fixed: Partial<Record<'rd' | 'rs1' | 'rs2' | 'rs3' | 'imm' | 'rm', number>> = {}): Insn {
  const f = row.format;
  const ops: Record<string, number> = {};
  if (f.rd) ops.rd = fixed.rd ?? pickReg(rng, row, 'rd', f.rd, true);
  if (f.rs1) {
    if (f.rs1 === f.rd) ops.rs1 = ops.rd!;
    else ops.rs1 = fixed.rs1 ?? pickReg(rng, row, 'rs1', f.rs1, false);
  }
  if (f.rs2) ops.rs2 = fixed.rs2 ?? pickReg(rng, row, 'rs2', f.rs2, false);
  if (f.rs3) ops.rs3 = fixed.rs3 ?? pickReg(rng, row, 'rs3', f.rs3, false);
  let reservedRm = -1;
  if (f.rm) {
    const rm = fixed.rm ?? (rng.chance(1, 24) ? rng.pick([5, 6]) : rng.pick([0, 1, 2, 3, 4, 7, 7, 7]));
    if (rm === 5 || rm === 6) {
      reservedRm = rm;
      ops.rm = 0;
    } else ops.rm = rm;
  }
  if (f.imm) ops.imm = fixed.imm ?? randomImm(rng, row);
  let w = encode(row.name, ops);
  if (reservedRm >= 0) w = (w & ~(7 << 12)) | (reservedRm << 12); // reserved rm: illegal instruction
  return { word: w >>> 0, size: row.width / 8, row: reservedRm >= 0 ? `${row.name}/rm${reservedRm}` : row.name };
}

/** A register the item may clobber for setup (not x0, not gp). */
function scratchReg(rng: Rng, avoid: number[] = []): number {
  for (;;) {
    const r = rng.range(1, 31);
    if (r !== GP && !avoid.includes(r)) return r;
  }
}

/**
 * Unmapped addresses on both machines (QEMU virt and cyclevisor's virt board with 256 MiB), used
 * with offsets below 0x200 (QEMU's boot ROM starts at 0x1000).
 */
const FAULT_BASES: bigint[] = [0x0n, 0x400n, 0x9000_0000n, 0xffff_ffff_9000_0000n, 0x1_0000_0000n, 0x8000_0000_0000_0000n];

/** Sv39 root page table of every program: the last page of DATA (see `pageTable`). */
export const PT_OFF = DATA_SIZE - 4096;
/** Standalone SCs use DATA[SC_OFF, PT_OFF); LRs stay below. */
const SC_OFF = PT_OFF - 0x800;

function memItem(ctx: Ctx, row: InsnRow): Item {
  const { kind, insns } = memInsns(ctx, row, false);
  return fixedItem(kind, insns);
}

/**
 * One load/store/AMO with its setup. `paged`: the access runs with mstatus.MPRV = 1 (pagingItem),
 * so the address is a virtual one: DATA through the identity or the alias gigapage, or an address
 * that page-faults (unmapped, non-canonical, misaligned superpage).
 */
function memInsns(ctx: Ctx, row: InsnRow, paged: boolean, bare = false): { kind: string; insns: Insn[] } {
  const { rng } = ctx;
  const f = row.format;
  const size = accessSize(row);
  const amo = row.cls === 'amo';
  const isSc = row.op.startsWith('sc.');
  // SC: never to an inaccessible address, never misaligned (allowed.ts: sc-fail-no-access,
  // sc-misaligned).
  const r = isSc ? rng.range(1, 19) : rng.below(20);
  // Target address
  let addr: bigint;
  let inData = true;
  if (paged) {
    const pr = isSc ? rng.below(7) : rng.below(10);
    if (pr <= 6) {
      let off = rng.below((PT_OFF - 8) / size) * size;
      if (!amo && rng.chance(1, 4)) off = rng.chance(1, 2) ? rng.range(1, 2) * 4096 - rng.range(1, size) : rng.below(PT_OFF - 8);
      addr = BigInt(G + off) - (pr <= 4 || bare ? 0n : 0x8000_0000n); // identity or alias gigapage (Bare: identity; 0x3xxxx would be QEMU's boot ROM)
    } else {
      // Sv39: gigapage 1 (invalid unless a pteItem made it a leaf or a pointer), a non-canonical
      // address, gigapage 3 (a misaligned superpage unless a pteItem changed it). Gigapages 1 and
      // 3 are used at DATA's offset, so that whatever a pteItem put there maps DATA (below the
      // page table) or faults, never another physical page. Bare: physical addresses nothing is
      // at (0x4000_0000 would be QEMU's PCIe window).
      const off = BigInt(rng.below((PT_OFF - 8) / 8) * 8);
      const inGiga = BigInt(G - 0x8000_0000);
      addr = bare
        ? rng.pick(FAULT_BASES) + (off & 0x1f8n)
        : [0x4000_0000n + inGiga, 0x0000_4000_0000_0000n, 0xc000_0000n + inGiga][pr - 7]! + off;
    }
    inData = false;
  } else if (r === 0) {
    addr = rng.pick(FAULT_BASES) + BigInt(rng.below(64) * 8) + BigInt(amo ? 0 : rng.below(8));
    inData = false;
  } else {
    let off: number;
    // Not the page table's page (PT_OFF..): only pteItem writes PTEs, with values whose physical
    // addresses mean the same on both machines (a random PPN could reach QEMU's PCIe window).
    if (r <= 4) {
      // across (or right at) a page boundary inside DATA
      const page = rng.range(1, PT_OFF / 4096 - 1) * 4096;
      off = page - rng.range(0, size) + (rng.chance(1, 4) ? rng.range(-16, 16) : 0);
    } else if (r <= 7) off = rng.below(PT_OFF - 8); // any alignment
    else off = rng.below(PT_OFF / size) * size; // aligned
    off = Math.max(0, Math.min(PT_OFF - size, off));
    // An SC outside an LR/SC pair goes to SC_OFF.. where no LR goes, so it never meets a
    // reservation: whether an SC.D after an LR.W of the same address succeeds depends on the
    // reservation set (allowed.ts lr-sc-reservation-set).
    if (isSc) off = SC_OFF + rng.below((PT_OFF - SC_OFF) / size) * size;
    else if (row.op.startsWith('lr.')) off = Math.min(off, SC_OFF - 64);
    if (amo && (isSc || !rng.chance(1, 16))) off -= off % size; // LR/AMO: mostly aligned; SC: always
    addr = BigInt(G + off);
  }
  // Base register and immediate
  const baseSpec = f.rs1!;
  const fixedBase = 'fixed' in baseSpec;
  const range = immRange(row);
  let imm = 0;
  if (range) {
    const lo = Math.max(range.min, -4096);
    const hi = Math.min(range.max, 4095);
    imm = Math.floor((lo + rng.below(hi - lo + 1)) / range.step) * range.step;
    if (rng.chance(1, 4)) imm = 0;
    if (!range.min && imm < 0) imm = 0;
  }
  let base: number;
  if (fixedBase) base = baseSpec.fixed;
  else {
    const not = constraintNot(row, 'rs1');
    const cands = regRange(baseSpec).filter((x) => x !== 0 && x !== GP && !not.includes(x));
    base = rng.pick(cands);
  }
  const baseVal = u64(addr - BigInt(imm));
  const setup: Insn[] = inData ? gpPlus(base, Number(sext(baseVal - BigInt(G), 64))) : li(base, baseVal);
  // The instruction: the other registers random (rd may equal base: then the base is overwritten)
  const fixedOps: Record<string, number> = { rs1: base };
  if (range) fixedOps.imm = imm;
  if (f.rd && f.rd === f.rs1) fixedOps.rd = base;
  const main = randomOperands(rng, row, fixedOps);
  const insns = [...setup, main];
  // A faulting AMO: QEMU 7.2 reports the load cause (allowed.ts amo-fault-cause); a paged access
  // whose page-table walk reads an inaccessible PTE: QEMU reports a page fault (ptw-access-fault).
  // Clear mcause right after so the difference stays in the trap log and does not spread.
  if ((amo && !row.op.startsWith('lr.') && (!inData || (addr & BigInt(size - 1)) !== 0n)) || paged) insns.push(ins('csrrwi', { rd: 0, rs1: 0, imm: 0x342 }));
  // A misaligned access that faults: mtval may name any byte of it (allowed.ts
  // misaligned-fault-mtval; QEMU 7.2 even names the aligned-down address): cleared likewise.
  if (!inData && (addr & BigInt(size - 1)) !== 0n) insns.push(ins('csrrwi', { rd: 0, rs1: 0, imm: 0x343 }));
  // LR then SC: sometimes an SC to the reserved address soon after (same base, kept by the LR),
  // when that address is aligned.
  if (row.name.startsWith('lr.') && rng.chance(2, 3) && inData && (addr & BigInt(size - 1)) === 0n) {
    main.word = encode(row.name, { rd: scratchReg(rng, [base]), rs1: base });
    const sc = rowByName(row.name.replace('lr.', 'sc.'));
    const mid: Insn[] = [];
    if (rng.chance(1, 3)) mid.push(randomOperands(rng, rowByName('add'), { rd: scratchReg(rng, [base]) }));
    const rd = scratchReg(rng, [base]);
    insns.push(...mid, randomOperands(rng, sc, { rs1: base, rd }));
  }
  return { kind: `${paged ? 'paged ' : ''}mem ${row.name}`, insns };
}

/**
 * M-mode accesses with S's or U's translation and protection (Priv 3.1.6.3 MPRV): satp = the
 * program's Sv39 table (PMP entry 0 opened) or Bare (the random PMP decides), sfence.vma,
 * MPRV = 1 with MPP = S or U (SUM, MXR random), one load/store/AMO, MPRV = 0.
 */
function pagingItem(ctx: Ctx): Item {
  const { rng } = ctx;
  const t = scratchReg(rng);
  // Sv39 with PMP entry 0 = everything RWX, or Bare (only PMP, random, checks the accesses). With a
  // PMP that denies the page-table writes, QEMU 7.2 still updates A/D (allowed.ts ad-update-pmp).
  const bare = rng.chance(1, 3);
  const satp = bare ? 0n : (8n << 60n) | (BigInt(rng.below(0x10000)) << 44n) | BigInt((G + PT_OFF) >>> 12);
  const mpp = rng.chance(1, 3) ? 0n : 1n;
  const set = (1n << 17n) | (mpp << 11n) | (rng.chance(1, 2) ? 1n << 18n : 0n) | (rng.chance(1, 4) ? 1n << 19n : 0n);
  const insns: Insn[] = [
    ...li(t, satp),
    ins('csrrw', { rd: 0, rs1: t, imm: 0x180 }),
    ins('sfence.vma', { rs1: 0, rs2: 0 }),
    ...li(t, 0x1800n | (3n << 18n)),
    ins('csrrc', { rd: 0, rs1: t, imm: 0x300 }),
    ...li(t, set),
    ins('csrrs', { rd: 0, rs1: t, imm: 0x300 }),
  ];
  if (!bare) {
    // PMP entry 0 = everything RWX (with no matching entry an S/U access fails, Priv 3.7.1).
    insns.push(
      ins('addi', { rd: t, rs1: 0, imm: -1 }),
      ins('srli', { rd: t, rs1: t, imm: 10 }),
      ins('csrrw', { rd: 0, rs1: t, imm: 0x3b0 }),
      ins('addi', { rd: t, rs1: 0, imm: 0x1f }),
      ins('csrrs', { rd: 0, rs1: t, imm: 0x3a0 }),
    );
  }
  // One access: after a trap inside the MPRV section (trap entry sets MPP = M, the mret sets MPP =
  // U) QEMU 7.2 goes on using translations and PMP decisions it cached for another privilege
  // (allowed.ts mret-mpp-stale-tlb).
  const n = 1;
  // No SC: without a reservation QEMU fails it before any access check (allowed.ts sc-fail-no-access).
  const memRows = ROWS.filter((r) => kindOf(r) === 'mem' && !r.op.startsWith('sc.'));
  for (let i = 0; i < n; i++) insns.push(...memInsns(ctx, rng.pick(memRows), true, bare).insns);
  insns.push(...li(t, 1n << 17n), ins('csrrc', { rd: 0, rs1: t, imm: 0x300 }));
  return fixedItem(`paging (MPRV, MPP=${mpp ? 'S' : 'U'}, ${bare ? 'Bare + PMP' : 'Sv39'})`, insns);
}

/**
 * The Sv39 root table in the last page of DATA: gigapage 0 aliases RAM (VA 0 = PA 0x8000_0000),
 * gigapage 2 maps RAM at its own address, gigapage 3 is a misaligned superpage (page fault),
 * gigapage 1 and the rest are invalid. The leaves' permission and A/D bits are random.
 */
function pageTable(rng: Rng, dv: DataView): void {
  for (let o = PT_OFF; o < PT_OFF + 4096; o += 8) dv.setBigUint64(o, 0n, true);
  const leaf = (ppn: bigint): bigint => leafPte(rng, ppn);
  dv.setBigUint64(PT_OFF + 0 * 8, leaf(0x80000n), true);
  dv.setBigUint64(PT_OFF + 2 * 8, leaf(0x80000n), true);
  dv.setBigUint64(PT_OFF + 3 * 8, leaf(0x80200n), true);
}

/**
 * Overwrite one of the first four root PTEs (sd) with: a leaf to RAM with random flags, a leaf with
 * reserved bits 63:54 set, a misaligned superpage, a pointer to physical page 0 (the walk reads an
 * unmapped PTE: access fault), a pointer to the root table itself (a two-level walk through the
 * same PTEs), or 0.
 */
function pteItem(ctx: Ctx): Item {
  const { rng } = ctx;
  const k = rng.below(4);
  let v: bigint;
  switch (rng.below(6)) {
    case 0: v = leafPte(rng, 0x80000n) | (BigInt(rng.range(1, 1023)) << 54n); break;
    case 1: v = leafPte(rng, 0x80200n); break;
    case 2: v = 0x1n; break;
    case 3: v = (BigInt((G + PT_OFF) >>> 12) << 10n) | 0x1n; break;
    case 4: v = 0n; break;
    default: v = leafPte(rng, 0x80000n);
  }
  const t = scratchReg(rng);
  const b = scratchReg(rng, [t]);
  return fixedItem(`pte ${k} = 0x${v.toString(16)}`, [...li(t, v), ...gpPlus(b, PT_OFF + 8 * k), ins('sd', { rs1: b, rs2: t, imm: 0 })]);
}

function leafPte(rng: Rng, ppn: bigint): bigint {
  {
    let fl = 0x1n | 0x2n | 0x4n | 0x8n | 0x40n | 0x80n; // V R W X A D
    if (rng.chance(1, 6)) fl &= ~0x40n;
    if (rng.chance(1, 6)) fl &= ~0x80n;
    if (rng.chance(1, 8)) fl &= ~0x4n;
    if (rng.chance(1, 8)) fl &= ~0x2n; // R=0 W=1: reserved, page fault
    if (rng.chance(1, 8)) fl &= ~0x8n;
    if (rng.chance(1, 3)) fl |= 0x10n; // U
    if (rng.chance(1, 4)) fl |= 0x20n; // G
    if (rng.chance(1, 16)) fl &= ~0x1n;
    return (ppn << 10n) | fl;
  }
}

function branchItem(ctx: Ctx, row: InsnRow): Item {
  const { rng } = ctx;
  const skip = rng.range(1, 4);
  const probe = randomOperands(rng, row, { imm: row.width === 16 ? 2 : 4 });
  return {
    kind: `branch ${row.name}`,
    size: probe.size,
    skip,
    emit(pc, target) {
      // same registers as the probe, the real offset
      const f = row.format;
      const ops: Record<string, number> = {};
      for (const k of ['rd', 'rs1', 'rs2'] as const) {
        const spec = f[k];
        if (spec && !('fixed' in spec)) ops[k] = ((probe.word >>> spec.lo) & ((1 << (spec.hi - spec.lo + 1)) - 1)) + (spec.add ?? 0);
      }
      ops.imm = target - pc;
      let word: number;
      try {
        word = encode(row.name, ops);
      } catch {
        ops.imm = probe.size; // out of range: to the next instruction
        word = encode(row.name, ops);
      }
      return [{ word, size: probe.size, row: row.name }];
    },
  };
}

function jalItem(ctx: Ctx, row: InsnRow): Item {
  const { rng } = ctx;
  const skip = rng.range(1, 4);
  const f = row.format;
  const rd = f.rd && !('fixed' in f.rd) ? pickReg(rng, row, 'rd', f.rd, true) : undefined;
  return {
    kind: `jump ${row.name}`,
    size: row.width / 8,
    skip,
    emit(pc, target) {
      let word: number;
      try {
        word = encode(row.name, { rd, imm: target - pc });
      } catch {
        word = encode(row.name, { rd, imm: row.width / 8 }); // out of range: to the next instruction
      }
      return [{ word, size: row.width / 8, row: row.name }];
    },
  };
}

function jalrItem(ctx: Ctx, row: InsnRow): Item {
  const { rng } = ctx;
  const skip = rng.range(1, 4);
  const f = row.format;
  const spec = f.rs1 as RegField;
  const not = constraintNot(row, 'rs1');
  const base = rng.pick(regRange(spec).filter((x) => x !== 0 && x !== GP && !not.includes(x)));
  const rd = f.rd && !('fixed' in f.rd) ? pickReg(rng, row, 'rd', f.rd, true) : undefined;
  const hasImm = !!f.imm;
  const odd = rng.chance(1, 4) ? 1 : 0; // jalr clears bit 0 of the target
  const size = 4 + (hasImm ? 0 : 4) + row.width / 8;
  return {
    kind: `jump ${row.name}`,
    size,
    skip,
    emit(pc, target) {
      const d = target - pc;
      const out = [ins('auipc', { rd: base, imm: 0 })];
      if (hasImm) out.push({ word: encode(row.name, { rd, rs1: base, imm: d + odd }), size: 4, row: row.name });
      else {
        out.push(ins('addi', { rd: base, rs1: base, imm: d + odd }));
        out.push({ word: encode(row.name, { rs1: base }), size: 2, row: row.name });
      }
      return out;
    },
  };
}

/** A value allowed for a CSR write under its rule. */
export function csrWriteValue(rng: Rng, c: FuzzCsr): bigint {
  if (typeof c.write === 'function') return c.write(rng);
  const v = rng.chance(1, 3) ? intValue(rng) : rng.chance(1, 2) ? rng.u64() : rng.u64() & rng.u64();
  if (typeof c.write === 'bigint') return v & c.write;
  return v;
}

function csrItem(ctx: Ctx, row: InsnRow): Item {
  const { rng } = ctx;
  const immForm = row.name.endsWith('i');
  const kind = row.name.replace(/^csrr/, '').replace(/i$/, ''); // w, s, c
  const c: FuzzCsr | null = rng.chance(1, 30) ? null : rng.pick(FUZZ_CSRS);
  const addr = c ? c.addr : rng.pick(ABSENT_CSRS);
  const rd = pickReg(rng, row, 'rd', row.format.rd!, true);
  const out: Insn[] = [];
  let src = 0;
  const readOnlyAddr = (addr >> 10) === 3;
  const rule = c?.write;
  if (!c || (rule === 'never' && readOnlyAddr)) {
    // unimplemented or read-only: any operands (a write traps). csrrs/csrrc with rs1 != x0 write
    // even when rs1 holds 0 (Unpriv 9.1), which QEMU 7.2 gets wrong (allowed.ts csr-write-zero-mask):
    // the register is given a nonzero value.
    src = rng.range(0, 31);
    if (readOnlyAddr && !immForm && kind !== 'w' && src !== 0 && src !== GP) out.push(...li(src, BigInt(rng.range(1, 2047))));
  } else if (rule === 'never' || rule === 'same' || (typeof rule === 'function' && (kind !== 'w' || immForm))) {
    // read only (csrrs/csrrc with x0 or uimm 0), or write back the value just read, or write 0
    src = 0;
    if (kind === 'w' && rule === 'same' && !immForm) {
      const t = scratchReg(rng, [rd]);
      out.push(ins('csrrs', { rd: t, rs1: 0, imm: addr }));
      src = t;
    } else if (kind === 'w' && rule === 'never') {
      return csrItem(ctx, rowByName(immForm ? 'csrrsi' : 'csrrs'));
    } else if (kind === 'w' && (rule === 'same' || typeof rule === 'function')) {
      return csrItem(ctx, rowByName('csrrsi')); // csrrwi would write the 5-bit immediate
    }
  } else if (immForm) {
    src = rng.below(32);
    if (typeof rule === 'bigint') src &= Number(rule & 31n);
  } else if (rule === 'free' && rng.chance(1, 2)) {
    src = rng.range(0, 31); // whatever the register holds
  } else {
    src = scratchReg(rng);
    out.push(...li(src, csrWriteValue(rng, c)));
  }
  out.push({ word: encode(row.name, { rd, rs1: src, imm: addr }), size: 4, row: row.name });
  if (c?.timing && rd !== 0) out.push(ins('addi', { rd, rs1: 0, imm: 0 })); // the timing value is not compared
  return fixedItem(`csr ${row.name} ${c?.name ?? '0x' + addr.toString(16)}`, out);
}

function systemItem(ctx: Ctx, row: InsnRow): Item {
  const { rng } = ctx;
  const w = randomOperands(rng, row);
  switch (row.op) {
    case 'mret': {
      // Return to the next item, in M-mode (MPP = 3): mepc = after the mret.
      const t = scratchReg(rng);
      const t2 = scratchReg(rng, [t]);
      const size = 4 * 6 + 4;
      return {
        kind: 'system mret',
        size,
        skip: 0,
        emit() {
          return [
            ins('auipc', { rd: t, imm: 0 }),
            ins('addi', { rd: t, rs1: t, imm: size }),
            ins('csrrw', { rd: 0, rs1: t, imm: 0x341 }),
            ins('lui', { rd: t2, imm: 0x2000 }),
            ins('addi', { rd: t2, rs1: t2, imm: -0x800 }),
            ins('csrrs', { rd: 0, rs1: t2, imm: 0x300 }),
            { ...w },
          ];
        },
      };
    }
    case 'wfi': {
      // Only with an interrupt pending and enabled (SSIP), so that it completes (Priv 3.3.3).
      const t = scratchReg(rng);
      return fixedItem('system wfi', [
        ins('addi', { rd: t, rs1: 0, imm: 2 }),
        ins('csrrs', { rd: 0, rs1: t, imm: 0x304 }),
        ins('csrrs', { rd: 0, rs1: t, imm: 0x344 }),
        w,
      ]);
    }
    case 'sret': {
      // A round trip through S- or U-mode: make the lower mode able to run (no interrupts, no
      // delegated exceptions, satp Bare, PMP entry 0 = everything RWX), sepc = the ecall right
      // after the sret, SPP = S or U; the ecall traps to M and the runtime's handler returns to
      // M-mode (MPP = M) for an ecall from S/U.
      const t = scratchReg(rng);
      const toU = rng.chance(1, 3);
      const pre: Insn[] = [
        ins('csrrw', { rd: 0, rs1: 0, imm: 0x304 }), // mie = 0
        ins('csrrw', { rd: 0, rs1: 0, imm: 0x302 }), // medeleg = 0
        ins('csrrw', { rd: 0, rs1: 0, imm: 0x180 }), // satp = Bare
        ins('addi', { rd: t, rs1: 0, imm: -1 }),
        ins('srli', { rd: t, rs1: t, imm: 10 }),
        ins('csrrw', { rd: 0, rs1: t, imm: 0x3b0 }), // pmpaddr0 = 54 ones (NAPOT: everything)
        ins('addi', { rd: t, rs1: 0, imm: 0x1f }),
        ins('csrrs', { rd: 0, rs1: t, imm: 0x3a0 }), // pmpcfg0 entry 0: NAPOT RWX
        ins('addi', { rd: t, rs1: 0, imm: 0x100 }),
        ins(toU ? 'csrrc' : 'csrrs', { rd: 0, rs1: t, imm: 0x100 }), // sstatus.SPP
      ];
      const size = pre.length * 4 + 3 * 4 + 4 + 4;
      return {
        kind: `system sret to ${toU ? 'U' : 'S'}`,
        size,
        skip: 0,
        emit: () => [
          ...pre,
          ins('auipc', { rd: t, imm: 0 }),
          ins('addi', { rd: t, rs1: t, imm: 3 * 4 + 4 }),
          ins('csrrw', { rd: 0, rs1: t, imm: 0x141 }), // sepc = the ecall
          w,
          ins('ecall'),
        ],
      };
    }
    case 'ebreak':
      // mtval after a breakpoint is 0 or the pc (allowed.ts ebreak-mtval): cleared right after, so
      // the choice does not spread into registers that read mtval later.
      return fixedItem(`system ${row.name}`, [w, ins('csrrwi', { rd: 0, rs1: 0, imm: 0x343 })]);
    default:
      return fixedItem(`system ${row.name}`, [w]);
  }
}

/** fence, fence.i, sfence.vma, ...: random operands, and random bits in the reserved/hint fields. */
function fenceItem(ctx: Ctx, row: InsnRow): Item {
  const { rng } = ctx;
  const w = randomOperands(rng, row);
  let word = w.word;
  if (row.format.name === 'NONE' && row.width === 32 && row.mask !== 0xffffffff) {
    const free = ~row.mask >>> 0;
    const extra = rng.u32() & free & (row.name === 'fence' ? 0xfff00000 : 0xffffffff);
    if (rng.chance(1, 2)) word = (word | extra) >>> 0;
    if (!lookup(word) || lookup(word)!.name !== row.name) word = w.word;
  }
  return fixedItem(`fence ${row.name}`, [{ ...w, word }]);
}

function plainItem(ctx: Ctx, row: InsnRow): Item {
  if (row.name === 'ctzw') {
    // allowed.ts ctzw-upper-bits: zero-extend the source first (QEMU 7.2 counts across all 64 bits).
    const t = scratchReg(ctx.rng);
    const w = randomOperands(ctx.rng, row, { rs1: t });
    const src = ctx.rng.range(0, 31);
    return fixedItem(`op ${row.name}`, [ins('add.uw', { rd: t, rs1: src === GP ? 0 : src, rs2: 0 }), w]);
  }
  const insns = [randomOperands(ctx.rng, row)];
  // An F/D instruction with an x destination (compare, classify, convert to integer, fmv.x) may
  // set fflags: QEMU 7.2 leaves mstatus.FS as it was, cyclevisor sets Dirty (allowed.ts fs-dirty).
  // An fsgnj.d f, f, f after it makes FS Dirty on both, so the difference cannot spread.
  const rd = row.format.rd;
  if ((row.ext === 'F' || row.ext === 'D' || row.ext === 'Zfh' || row.ext === 'Zfhmin') && rd && !('fixed' in rd) && !rd.f) {
    const f = ctx.rng.below(32);
    insns.push(ins('fsgnj.d', { rd: f, rs1: f, rs2: f }));
  }
  return fixedItem(`op ${row.name}`, insns);
}

export function rowItem(ctx: Ctx, row: InsnRow): Item {
  switch (kindOf(row)) {
    case 'mem': return memItem(ctx, row);
    case 'branch': return branchItem(ctx, row);
    case 'jal': return jalItem(ctx, row);
    case 'jalr': return jalrItem(ctx, row);
    case 'csr': return csrItem(ctx, row);
    case 'system': return systemItem(ctx, row);
    case 'fence': return fenceItem(ctx, row);
    default: return plainItem(ctx, row);
  }
}

/** Illegal encodings: reserved 16-bit forms, unused opcodes, all-zero/all-one words. */
function illegalItem(ctx: Ctx): Item {
  const { rng } = ctx;
  for (let tries = 0; tries < 100; tries++) {
    let word: number;
    let size: number;
    const r = rng.below(6);
    if (r === 0) [word, size] = [0, 2];
    else if (r === 1) [word, size] = [0xffffffff >>> 0, 4];
    else if (r === 2) [word, size] = [rng.u32() & 0xffff, 2];
    else if (r === 3) {
      // custom-0/1/2/3 major opcodes
      [word, size] = [((rng.u32() & ~0x7f) | rng.pick([0x0b, 0x2b, 0x5b, 0x7b])) >>> 0, 4];
    } else {
      // a random word in a standard major opcode
      [word, size] = [((rng.u32() & ~0x7f) | rng.pick([0x03, 0x07, 0x0f, 0x13, 0x1b, 0x23, 0x27, 0x2f, 0x33, 0x3b, 0x43, 0x53, 0x63, 0x67, 0x73])) >>> 0, 4];
    }
    if ((word & 3) === 3 && size === 2) continue;
    if ((word & 3) !== 3 && size === 4) continue;
    if ((word & 0x1f) === 0x1f && size === 4) continue; // 48-bit+ encodings
    // A Zfa encoding stays: Zfa is off on both machines (run.ts FUZZ_CPU; QEMU 7.2 has none), so it
    // is illegal on both -- and the corpus stays the one recorded before the Zfa rows existed.
    const hit = lookup(word);
    if (hit && hit.ext !== 'Zfa') continue;
    // Keep away from encodings QEMU gives to extensions it has and we do not (H, Zb*: disabled
    // by the QEMU command line, see allowed.ts QEMU_CPU) -- nothing to filter beyond that.
    return fixedItem('illegal', [{ word, size, row: 'illegal' }]);
  }
  return fixedItem('illegal', [{ word: 0, size: 2, row: 'illegal' }]);
}

/**
 * Self-modifying code: store a new 32-bit instruction over one later in the item, fence.i, execute
 * it (Unpriv 3.1: FENCE.I makes the store visible to the instruction fetches that follow).
 */
function smcItem(ctx: Ctx): Item {
  const { rng } = ctx;
  const simple = (): Insn => {
    for (;;) {
      const row = rng.pick(ROWS);
      if (row.width === 32 && kindOf(row) === 'plain' && row.cls !== 'fence') return randomOperands(rng, row);
    }
  };
  const old = simple();
  const neu = simple();
  const b = scratchReg(rng);
  const v = scratchReg(rng, [b]);
  const setV = li(v, sext(BigInt(neu.word), 32));
  const before = 4 + setV.length * 4 + 4 + 4; // auipc, li, sw, fence.i
  return fixedItem('self-modifying code', [
    ins('auipc', { rd: b, imm: 0 }),
    ...setV,
    ins('sw', { rs1: b, rs2: v, imm: before }),
    { ...ins('fence.i'), row: 'fence.i' },
    { ...old, row: neu.row },
  ]);
}

/** Change frm/fflags (so the dyn rounding mode takes every value, the reserved ones included). */
function frmItem(ctx: Ctx): Item {
  const { rng } = ctx;
  const rm = rng.chance(1, 10) ? rng.range(5, 7) : rng.range(0, 4);
  return fixedItem('frm', [ins('csrrwi', { rd: rng.chance(1, 2) ? 0 : scratchReg(rng), rs1: rm, imm: 0x002 })]);
}

/** Load a random value into a register (or FP register, from DATA). */
function valueItem(ctx: Ctx): Item {
  const { rng } = ctx;
  const rd = scratchReg(rng);
  return fixedItem('li', li(rd, intValue(rng)));
}

/**
 * The rows the fuzzer generates: every row of the instruction table except the H extension's and
 * those of the extensions QEMU 7.2 lacks (Zicond, Zicbom, Zicboz: off on both machines, run.ts
 * FUZZ_CPU; test/isa/zb.test.ts and cmo.test.ts check them against the spec), and hinval.* (H).
 * Both machines run without H (QEMU `h=false`, cyclevisor `cpu: { h: false }`, run.ts): QEMU 7.2's
 * H extension departs from the spec in 7 of test/guests/hyp's 45 checks, so it is no oracle for
 * H; those rows are checked against the spec there instead.
 */
// Zfa too (QEMU 8.0 added it; test/fpu/zfa.test.ts checks it against the BigInt oracle).
const NO_ORACLE = new Set(['H', 'Zicond', 'Zicbom', 'Zicboz', 'Zfa']);
export const FUZZ_ROWS: readonly InsnRow[] = INSN_TABLE.filter((r) => !NO_ORACLE.has(r.ext) && !r.name.startsWith('hinval.'));
const ROWS = FUZZ_ROWS;

export interface GenOptions {
  /** Items per program (the body executes about this many plus setup instructions). */
  items: number;
}

export function generate(seed: string, index: number, opts: GenOptions): Program {
  const rng = new Rng(`${seed}/${index}`);
  const ctx: Ctx = { rng };
  const x = Array.from({ length: 32 }, (_, i) => (i === 0 ? 0n : i === GP ? BigInt(G) : intValue(rng)));
  // A few registers start as pointers into DATA.
  for (let k = 0; k < 4; k++) x[scratchReg(rng)] = BigInt(G + rng.below(DATA_SIZE / 8) * 8);
  const f = Array.from({ length: 32 }, () => fpRegValue(rng));
  const csrs = INIT_CSRS.map((c) => (rng.chance(1, 4) && typeof c.write !== 'function' ? 0n : csrWriteValue(rng, c)));
  // FS: mostly on (Initial/Clean/Dirty), sometimes Off (FP instructions trap).
  let mstatus = csrWriteValue(rng, FUZZ_CSRS.find((c) => c.name === 'mstatus')!) & ~(3n << 13n);
  mstatus |= BigInt(rng.chance(1, 12) ? 0 : rng.range(1, 3)) << 13n;
  const fcsr = BigInt(rng.below(256));
  const data = new Uint8Array(DATA_SIZE);
  const dv = new DataView(data.buffer);
  for (let o = 0; o < DATA_SIZE; o += 8) dv.setBigUint64(o, rng.chance(1, 2) ? intValue(rng) : fpRegValue(rng), true);
  pageTable(rng, dv);
  const items: Item[] = [];
  for (let i = 0; i < opts.items; i++) {
    const r = rng.below(100);
    let it: Item;
    if (r < 2) it = smcItem(ctx);
    else if (r < 3) it = rng.chance(1, 3) ? pteItem(ctx) : pagingItem(ctx);
    else if (r < 5) it = illegalItem(ctx);
    else if (r < 7) it = frmItem(ctx);
    else if (r < 9) it = valueItem(ctx);
    else it = rowItem(ctx, rng.pick(ROWS));
    items.push(it);
  }
  const straddlers = Array.from({ length: CODE_MAX / 4096 }, () => {
    for (;;) {
      const row = rng.pick(ROWS);
      if (row.width !== 32) continue;
      const it = rowItem(ctx, row);
      if (it.skip === 0 && it.emit(0, 0)[0]!.size === 4) return it;
    }
  });
  const lead = rng.range(4, 256) * 2;
  return { name: `${seed}/${index}`, mstatus, fcsr, x, f, csrs, data, items, straddlers, lead };
}

// ------------------------------------------------------------------------------------------------
// Layout

export interface Laid {
  code: Uint8Array;
  /** Listing lines: address, encoding, disassembly, item kind. */
  listing: string[];
  /** Rows of the instructions emitted (coverage). */
  rows: string[];
}

const C_NOP = 0x0001;

export function layout(p: Program): Laid {
  // Pass 1: addresses (items keep their size; a page boundary gets padding + a straddler).
  type Placed = { item: Item; pc: number; pad: number };
  const placed: Placed[] = [];
  const start = CODE + 4096 - p.lead;
  let pc = start;
  let strad = 0;
  const padTo = (at: number, need: number): { pad: number; straddle: boolean } => {
    // If [at, at + need) crosses a page boundary, pad with c.nop to boundary - 2 and put a
    // 32-bit straddler there.
    const boundary = (Math.floor(at / 4096) + 1) * 4096;
    if (at + need <= boundary) return { pad: 0, straddle: false };
    return { pad: (boundary - 2 - at) / 2, straddle: true };
  };
  const pre: Array<{ pad: number; straddler: Item | null }> = [];
  for (const item of p.items) {
    const { pad, straddle } = padTo(pc, item.size + 8);
    let straddler: Item | null = null;
    if (straddle && strad < p.straddlers.length) {
      straddler = p.straddlers[strad++]!;
      pc += pad * 2 + straddler.size;
      pre.push({ pad, straddler });
    } else pre.push({ pad: 0, straddler: null });
    placed.push({ item, pc, pad });
    pc += item.size;
  }
  const end = pc; // the final jal to the runtime
  if (end + 4 - CODE > CODE_MAX) throw new Error(`program ${p.name} is too long`);
  // Pass 2: emit
  const out: Insn[] = [];
  const listing: string[] = [];
  const rows: string[] = [];
  let at = CODE;
  const push = (i: Insn, kind: string): void => {
    out.push(i);
    const text = disassemble(i.word, BigInt(at));
    listing.push(`${at.toString(16)}:  ${i.word.toString(16).padStart(i.size * 2, '0').padEnd(8)}  ${text.padEnd(36)} # ${kind}`);
    if (i.row) rows.push(i.row);
    at += i.size;
  };
  // CODE: a jump to the body's start, late in the first page; the gap is zero (never executed).
  push(ins('jal', { rd: 0, imm: start - CODE }), 'start: j body');
  out.push({ word: 0, size: start - CODE - 4 });
  listing.push(`${at.toString(16)}:  (${start - CODE - 4} zero bytes)`);
  at = start;
  placed.forEach((pl, k) => {
    const pr = pre[k]!;
    for (let i = 0; i < pr.pad; i++) push({ word: C_NOP, size: 2 }, 'pad');
    if (pr.straddler) for (const i of pr.straddler.emit(at, 0)) push(i, `page crossing: ${pr.straddler.kind}`);
    if (at !== pl.pc) throw new Error('layout: address drift');
    const target = pl.item.skip ? (k + pl.item.skip < placed.length ? placed[k + pl.item.skip]!.pc - pre[k + pl.item.skip]!.pad * 2 - (pre[k + pl.item.skip]!.straddler?.size ?? 0) : end) : 0;
    const insns = pl.item.emit(at, target);
    const sz = insns.reduce((n, i) => n + i.size, 0);
    if (sz !== pl.item.size) throw new Error(`layout: item ${pl.item.kind} emitted ${sz} bytes, declared ${pl.item.size}`);
    for (const i of insns) push(i, pl.item.kind);
  });
  push({ word: encode('jal', { rd: 0, imm: RT_DUMP_ENTRY - at }), size: 4 }, 'end: j dump');
  const code = new Uint8Array(Math.ceil((at - CODE) / 8) * 8);
  const dv = new DataView(code.buffer);
  let o = 0;
  for (const i of out) {
    if (i.size === 2) dv.setUint16(o, i.word, true);
    else if (i.size === 4) dv.setUint32(o, i.word >>> 0, true);
    o += i.size;
  }
  return { code, listing, rows };
}

