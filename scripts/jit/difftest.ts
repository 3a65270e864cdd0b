/**
 * The differential tier tester (issue 14 scope 4): random instruction streams built from the rows
 * of the instruction table (src/isa/table.ts) — every row the JIT compiles (src/jit/emitters.ts,
 * compressed forms included) plus rows it leaves to the interpreter (CSR reads of the counters,
 * ecall, ebreak, illegal words, fence.i, AMOs) — run on two cores, one per tier, from the same
 * state and with the same run slices (random deadlines) and instruction limit; then the complete
 * architectural state and every counter are compared.
 *
 * A program: M-mode code spanning page boundaries (it starts near the end of a page, so 32-bit
 * instructions straddle pages and branches cross them), branches and jumps to random instruction
 * starts (loops included: the instruction limit ends every run at the same instruction), loads and
 * stores through base registers into a data area, some into the code itself (self-modifying code),
 * misaligned and out-of-RAM accesses (traps), and a trap handler that skips the faulting
 * instruction. x30/x31 belong to the handler; x5 to the jalr gadgets; x27/x28 hold mstatus.FS
 * values for the FP-control gadget (FS Off and back on, frm set to any value). f0..f15 start as
 * doubles and f16..f31 as NaN-boxed singles; F/D rows mostly take operands of their precision,
 * and every third program is FP-heavy. Besides the final state, the registers, fcsr and mstatus
 * at every slice end are hashed (`trail`).
 */
import { Core, type MmioPort } from '../../src/core.js';
import * as L from '../../src/generated/layout.js';
import { encode } from '../../src/isa/encode.js';
import { INSN_TABLE, immWidth, type InsnRow, type RegSpec } from '../../src/isa/table.js';
import { EMITTERS } from '../../src/jit/emitters.js';
import { extMaskOf } from '../../src/board/cpu.js';

const BIT_EXTS = { Zba: true, Zbb: true, Zbc: true, Zbs: true, Zbkb: true, Zbkc: true, Zbkx: true, Zicond: true } as const;
import type { Tier } from '../../src/jit/jit.js';

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RAM = 4 << 20;
const RAM_BASE = 0x8000_0000;
const HANDLER = 0x8000_0000; // trap handler at the start of RAM
const DATA = 0x8020_0000; // data area (bases point 2 KiB into it)
/** Rows the JIT compiles (every one is generated). */
export const JIT_ROWS: readonly InsnRow[] = INSN_TABLE.filter((r) => EMITTERS[r.op] !== undefined && r.ext !== 'Zicsr');
/** Random picks: jalr forms only through the gadget (a random register would leave RAM). */
const RANDOM_ROWS = JIT_ROWS.filter((r) => r.op !== 'jalr');
const FP_ROWS = RANDOM_ROWS.filter((r) => EMITTERS[r.op]!.k === 'fp');
/** Rows left to the interpreter, mixed in for the boundaries between the tiers. */
const OTHER_ROWS = ['ecall', 'ebreak', 'c.ebreak', 'csrrs'];
const COUNTER_CSRS = [0xb00, 0xb02, 0xc00, 0xc02, 0x341, 0x342, 0x343];

interface Slot {
  row: InsnRow;
  /** Fixed operands; branch/jump immediates are filled once offsets are known. */
  ops: { rd?: number; rs1?: number; rs2?: number; rs3?: number; rm?: number; imm?: number };
  /** Index of the target instruction (branches and jumps). */
  target?: number;
  /** A literal word (gadgets, illegal instructions). */
  word?: number;
  width: number;
}

function regChoices(spec: RegSpec | undefined, pool: number[]): number[] {
  if (!spec) return [0];
  if ('fixed' in spec) return [spec.fixed];
  const lo = spec.add ?? 0;
  const hi = lo + (1 << (spec.hi - spec.lo + 1)) - 1;
  const ok = pool.filter((r) => r >= lo && r <= hi);
  return ok.length > 0 ? ok : [lo];
}

function immRange(row: InsnRow): [number, number, number] {
  const spec = row.format.imm!;
  const top = immWidth(spec);
  const step = 2 ** Math.min(...spec.segs.map((s) => s[2]));
  return spec.signed ? [-(2 ** (top - 1)), 2 ** (top - 1) - 1, step] : [0, 2 ** top - 1, step];
}

/** Build one random program of about `n` instructions; returns its bytes and load address. */
export function genProgram(seed: number, n: number): { base: number; bytes: Uint8Array; insns: number } {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const writable = [1, 3, 4, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26];
  const all = [0, ...writable, 2, 5, 8, 9, 27, 28, 29, 30, 31];
  const slots: Slot[] = [];
  const memRow = (row: InsnRow): boolean => {
    const em = EMITTERS[row.op];
    return em !== undefined && (['load', 'store', 'amo', 'lr', 'sc'].includes(em.k) || (em.k === 'fp' && em.mem !== undefined));
  };
  while (slots.length < n) {
    const x = r();
    if (x < 0.03) {
      // jalr gadget: auipc x5, 0 ; jalr/c.jr/c.jalr to a random instruction start
      slots.push({ row: INSN_TABLE.find((q) => q.name === 'auipc')!, ops: { rd: 5, imm: 0 }, width: 4 });
      const form = pick(['jalr', 'c.jr', 'c.jalr']);
      slots.push({ row: INSN_TABLE.find((q) => q.name === form)!, ops: { rd: pick(writable), rs1: 5 }, target: -1, width: form === 'jalr' ? 4 : 2 });
      continue;
    }
    if (x < 0.05) {
      // point x9 at the code (stores through it modify code: SMC), or back at the data
      const code = r() < 0.1;
      slots.push({ row: INSN_TABLE.find((q) => q.name === 'auipc')!, ops: { rd: 9, imm: code ? 0 : 0x1000 * Math.floor(r() * 4) }, width: 4 });
      continue;
    }
    if (x < 0.07) {
      const name = pick(OTHER_ROWS);
      const row = INSN_TABLE.find((q) => q.name === name)!;
      if (name === 'csrrs') {
        slots.push({ row, ops: {}, word: encode('csrrs', { rd: pick(writable), rs1: 0 }) | (pick(COUNTER_CSRS) << 20), width: 4 });
      } else if (name.startsWith('amo') || name.startsWith('lr') || name.startsWith('sc')) {
        slots.push({ row, ops: { rd: pick(writable), rs1: pick([8, 2, 9]), rs2: pick(all) }, width: 4 });
      } else slots.push({ row, ops: {}, width: row.width / 8 });
      continue;
    }
    if (x < 0.075) {
      slots.push({ row: INSN_TABLE[0]!, ops: {}, word: 0, width: 4 }); // illegal (all zeros, 32-bit)
      continue;
    }
    if (x < 0.08) {
      // FP control: frm = a random value (5..7 make dynamic-rm instructions illegal), or FS
      // switched Off or back on (every FP instruction illegal meanwhile; compiled code built while
      // it was on must leave them to the interpreter).
      const y = r();
      const word = y < 0.5
        // csrrwi rd, fflags|frm|fcsr, uimm: clears flags (the fast paths need NX set) or sets frm
        ? encode('csrrwi', { rd: pick(writable), rs1: r() < 0.5 ? 0 : Math.floor(r() * 32) }) | (pick([0x001, 0x002, 0x002, 0x003]) << 20)
        : y < 0.7
          ? encode('csrrc', { rd: 0, rs1: 28 }) | (0x300 << 20) // csrc mstatus, x28 (x28 = FS bits: Off)
          : encode('csrrs', { rd: 0, rs1: 27 }) | (0x300 << 20); // csrs mstatus, x27 (FS = Initial if it was Off)
      slots.push({ row: INSN_TABLE.find((q) => q.name === 'csrrwi')!, ops: {}, word, width: 4 });
      continue;
    }
    if (x < 0.09) {
      // An LR/SC pair on one base (the SC mostly succeeds), sometimes of different widths.
      const b = pick([8, 2, 9]);
      const w1 = pick(['w', 'd']);
      const w2 = r() < 0.8 ? w1 : pick(['w', 'd']);
      slots.push({ row: INSN_TABLE.find((q) => q.name === `lr.${w1}`)!, ops: { rd: pick(writable), rs1: b }, width: 4 });
      slots.push({ row: INSN_TABLE.find((q) => q.name === `sc.${w2}`)!, ops: { rd: pick(writable), rs1: b, rs2: pick(all) }, width: 4 });
      continue;
    }
    // Every third program is FP-heavy (half its random rows F/D), so each F/D row's effect shows.
    const row = seed % 3 === 0 && r() < 0.5 ? pick(FP_ROWS) : pick(RANDOM_ROWS);
    const em = EMITTERS[row.op]!;
    const f = row.format;
    const ops: Slot['ops'] = {};
    const mem = memRow(row);
    // f operands: mostly the pool of the row's precision (f0..f15 hold doubles, f16..f31 NaN-boxed
    // singles, so most operations see ordinary numbers), sometimes any register (NaN-boxing).
    const fpool = (spec: RegSpec | undefined, name: string): number[] => {
      if (!spec || 'fixed' in spec || !spec.f || r() < 0.15) return Array.from({ length: 32 }, (_, k) => k);
      const single = /\.s(\.|$)/.test(name) || name === 'flw' || name === 'fsw' || name.startsWith('fmv.x.w') || name.startsWith('fmv.w.x');
      return Array.from({ length: 16 }, (_, k) => (single ? 16 : 0) + k);
    };
    const fp = EMITTERS[row.op]?.k === 'fp';
    ops.rd = pick(regChoices(f.rd, fp && f.rd && !('fixed' in f.rd) && f.rd.f ? fpool(f.rd, row.name) : writable));
    ops.rs1 = pick(regChoices(f.rs1, mem && r() < 0.85 ? [2, 8, 9] : fp ? fpool(f.rs1, row.name.replace(/^fcvt\.[sd]\./, 'x.')) : all));
    ops.rs2 = pick(regChoices(f.rs2, fp ? fpool(f.rs2, row.name) : all));
    if (f.rs3) ops.rs3 = pick(fpool(f.rs3, row.name));
    // FP rounding modes: static 0..4 or dyn (7), which reads frm (set to an invalid 5..7 at times
    // by the fscsr gadget: the instruction is then illegal).
    if (f.rm) ops.rm = pick([0, 1, 2, 3, 4, 7, 7, 7]);
    const slot: Slot = { row, ops, width: row.width / 8 };
    if (em.k === 'br' || em.k === 'jal') slot.target = -1;
    else if (f.imm) {
      const [lo, hi, step] = immRange(row);
      let v = lo + Math.floor(r() * ((hi - lo) / step + 1)) * step;
      if (mem && r() < 0.7) v = Math.max(lo, Math.min(hi, Math.round((r() * 256 - 128) / step) * step)); // mostly near the base
      if (row.op === 'lui' && r() < 0.5) v = 0x80000000 >> 12 << 12;
      ops.imm = v;
    }
    slots.push(slot);
  }
  // Offsets: start 0x100 bytes before a page end, so the program crosses pages from the start.
  const base = RAM_BASE + 0x2000 - 0x100 - 2 * Math.floor(r() * 64);
  const offs: number[] = [];
  let o = 0;
  for (const s of slots) {
    offs.push(o);
    o += s.width;
  }
  const end = o;
  const bytes = new Uint8Array(end + 8);
  const dv = new DataView(bytes.buffer);
  slots.forEach((s, i) => {
    let w: number | undefined = s.word;
    if (w === undefined) {
      const ops = { ...s.ops };
      if (s.target !== undefined) {
        // A target in range of the immediate, or the gadget's auipc delta.
        const isGadget = s.ops.rs1 === 5 && (s.row.op === 'jalr');
        for (let tries = 0; tries < 20; tries++) {
          // Mostly short forward targets (the program runs through), some anywhere (loops).
          const t = r() < 0.85 ? Math.min(slots.length - 1, i + 1 + Math.floor(r() * 24)) : Math.floor(r() * slots.length);
          const delta = offs[t]! - (isGadget ? offs[i - 1]! : offs[i]!);
          if (isGadget) {
            if (s.row.name === 'jalr' && delta >= -2048 && delta < 2048) { ops.imm = delta; break; }
            if (s.row.name !== 'jalr' && delta === 0) break;
            continue;
          }
          const [lo, hi] = immRange(s.row);
          if (delta >= lo && delta <= hi && delta !== 0) { ops.imm = delta; break; }
        }
        if (s.row.op === 'jalr' && s.row.name !== 'jalr' && ops.imm === undefined) ops.imm = undefined;
        if (ops.imm === undefined && s.row.name === 'jalr') ops.imm = 0;
        if (ops.imm === undefined && s.row.format.imm) ops.imm = s.width; // fall through
      }
      try {
        w = encode(s.row.name, ops);
      } catch {
        w = s.width === 2 ? 0x0001 : 0x00000013; // c.nop / nop
      }
    }
    if (s.width === 2) dv.setUint16(offs[i]!, w, true);
    else dv.setUint32(offs[i]!, w >>> 0, true);
  });
  dv.setUint32(end, encode('jal', { rd: 0, imm: -end }) >>> 0, true); // round again (the limit ends the run)
  return { base, bytes, insns: slots.length };
}

/**
 * The trap handler: skip the faulting instruction (2 or 4 bytes) and return; after a fetch fault
 * (cause 0 or 1: a jump left the program) restart at x29 (the program start).
 */
function handlerBytes(): Uint8Array {
  const words = [
    encode('csrrs', { rd: 31, rs1: 0 }) | (0x342 << 20), // csrr x31, mcause
    encode('addi', { rd: 30, rs1: 31, imm: -1 }),
    encode('beq', { rs1: 30, rs2: 0, imm: 48 }), // -> restart
    encode('beq', { rs1: 31, rs2: 0, imm: 44 }), // -> restart
    encode('csrrs', { rd: 31, rs1: 0 }) | (0x341 << 20), // csrr x31, mepc
    encode('lhu', { rd: 30, rs1: 31, imm: 0 }),
    encode('andi', { rd: 30, rs1: 30, imm: 3 }),
    encode('addi', { rd: 30, rs1: 30, imm: -3 }),
    encode('beq', { rs1: 30, rs2: 0, imm: 12 }),
    encode('addi', { rd: 31, rs1: 31, imm: 2 }),
    encode('jal', { rd: 0, imm: 8 }),
    encode('addi', { rd: 31, rs1: 31, imm: 4 }),
    encode('csrrw', { rd: 0, rs1: 31 }) | (0x341 << 20), // csrw mepc, x31
    encode('mret'),
    encode('csrrw', { rd: 0, rs1: 29 }) | (0x341 << 20), // restart: csrw mepc, x29
    encode('mret'),
  ];
  const b = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(b.buffer).setUint32(i * 4, w >>> 0, true));
  return b;
}

/** FNV-1a-style mixing of a 64-bit value into a running hash. */
function mix(h: bigint, v: bigint): bigint {
  return BigInt.asUintN(64, (h ^ v) * 0x100000001b3n);
}

const noMmio: MmioPort = { read: () => 1, write: () => 1, dataLo: 0, dataHi: 0 };

export interface RunOut {
  state: Record<string, string | number>;
  status: number[];
  jitInsns: number;
  /** Page exits compiled code went on from by itself (jitChain). */
  chains: number;
}

/** Run a program on a fresh core of `tier` for `limit` instructions in slices from `seed`. */
export function runTier(tier: Tier, prog: { base: number; bytes: Uint8Array }, seed: number, limit: number): RunOut {
  const g = runTierSlices(tier, prog, seed, limit);
  for (;;) {
    const n = g.next();
    if (n.done) return n.value;
  }
}

/**
 * runTier, pausing after each run slice (yielding the core): the async compile test
 * (test/jit/async.test.ts) turns the event loop there, so modules arrive between slices.
 * `async`: JitOptions.async.
 */
export function* runTierSlices(tier: Tier, prog: { base: number; bytes: Uint8Array }, seed: number, limit: number, async = false): Generator<Core, RunOut> {
  // Half the programs compile at each request, half through batches (built at 8 blocks or after
  // 16 executions of waiting blocks: the waiting stub, invalidation while waiting).
  const batching = seed % 2 === 0 ? { batch: 1 } : { batch: 8, batchWait: 16 };
  const core = new Core({ ramBytes: RAM, mmio: noMmio, tier, jit: { threshold: 2, capacity: 64, async, ...batching } });
  // The bit-manipulation and Zicond rows compile too (emitters.ts BIT_OPS): turn their extensions on.
  (core.ex as unknown as { setExtensions(m: number): void }).setExtensions(extMaskOf(BIT_EXTS));
  core.ram.set(handlerBytes(), HANDLER - RAM_BASE);
  core.ram.set(prog.bytes, prog.base - RAM_BASE);
  const r = rng(seed ^ 0x5eed);
  for (let i = 0; i < 0x4000; i += 8) new DataView(core.ram.buffer, core.ram.byteOffset).setUint32(DATA - RAM_BASE + i, Math.floor(r() * 2 ** 32), true);
  core.ex.invalidatePhys(BigInt(RAM_BASE), BigInt(RAM));
  core.pc = BigInt(prog.base);
  core.setCsr(L.H_MTVEC, BigInt(HANDLER));
  core.setX(2, BigInt(DATA + 0x800));
  core.setX(8, BigInt(DATA + 0x1800));
  core.setX(9, BigInt(DATA + 0x2800));
  core.setX(29, BigInt(prog.base));
  core.setX(28, 3n << 13n); // mstatus.FS: the FP-control gadget switches it Off (x28) and Initial (x27)
  core.setX(27, 1n << 13n);
  // x registers: shifted 32-bit values, or (a quarter) all 64 bits random (inexact int-to-FP conversions)
  for (const x of [1, 3, 4, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26]) {
    const hi = BigInt(Math.floor(r() * 2 ** 32));
    core.setX(x, r() < 0.25 ? (hi << 32n) | BigInt(Math.floor(r() * 2 ** 32)) : BigInt.asUintN(64, hi << BigInt(Math.floor(r() * 32))));
  }
  // FP on (FS = Initial), frm = RNE, and f registers holding special and ordinary values, some
  // singles NaN-boxed, some not (they read as the canonical NaN).
  core.setCsr(L.H_MSTATUS, core.getCsr(L.H_MSTATUS) | (1n << 13n));
  const specials = [0n, 1n << 63n, 0x7ff0000000000000n, 0xfff0000000000000n, 0x7ff8000000000000n, 0x7ff4000000000000n, 0xfff8000000000001n, 0x7ff0000000000001n, 1n, 0x000fffffffffffffn, 0x3ff0000000000000n, 0x43e0000000000000n, 0xc1e0000000000000n];
  const singles = [0n, 0x80000000n, 0x7f800000n, 0xff800000n, 0x7fc00000n, 0x7fa00000n, 1n, 0x3f800000n, 0x4f000000n, 0xcf000000n, 0x5f800000n];
  // f0..f15 doubles, f16..f31 NaN-boxed singles (the generator picks operands of a row's precision
  // from its half): mostly ordinary numbers near 1 in magnitude, some special values, a few random
  // bit patterns (f0..f15 then often hold NaN-boxed-looking values, f16..f31 unboxed ones).
  /** A random normal number of the format with a biased exponent in [lo, lo + span). */
  const normal = (single: boolean, lo: number, span: number): bigint => {
    const sign = r() < 0.5 ? 1n : 0n;
    const m = BigInt(Math.floor(r() * 2 ** 32));
    const e = BigInt(lo + Math.floor(r() * span));
    return single
      ? 0xffffffff00000000n | (sign << 31n) | (e << 23n) | (m & 0x7fffffn)
      : (sign << 63n) | (e << 52n) | ((m << 20n) ^ BigInt(Math.floor(r() * 2 ** 20)));
  };
  for (let f = 0; f < 32; f++) {
    const single = f >= 16;
    const y = r();
    let v: bigint;
    if (y < 0.2) v = single ? 0xffffffff00000000n | singles[Math.floor(r() * singles.length)]! : specials[Math.floor(r() * specials.length)]!;
    // near the bottom of the normal range (products and quotients underflow: UF, subnormals)
    else if (y < 0.3) v = single ? normal(true, 1, 20) : normal(false, 1, 40);
    else if (y < 0.9) v = single ? normal(true, 127 - 8, 16) : normal(false, 1023 - 16, 32);
    else v = (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32));
    core.setF(f, v);
  }
  core.insnLimit = limit;
  const status: number[] = [];
  let trail = 0xcbf29ce484222325n;
  for (let guard = 0; guard < 100000 && core.instret < limit; guard++) {
    // Random run slices: the deadline ends blocks at different places in each run.
    core.deadline = core.cycles + 1 + Math.floor(r() * (r() < 0.5 ? 50 : 5000));
    const st = core.run();
    status.push(st);
    // The registers at every slice end (the tiers stop at the same instructions): a value that is
    // overwritten before the end still counts.
    for (let x = 1; x < 32; x++) trail = mix(trail, core.x(x));
    for (let f = 0; f < 32; f++) trail = mix(trail, core.f(f));
    trail = mix(trail, core.getCsr(L.H_FCSR));
    trail = mix(trail, core.getCsr(L.H_MSTATUS));
    if (st !== 0 && st !== 1) break;
    yield core;
  }
  const state: Record<string, string | number> = {
    pc: core.pc.toString(16), instret: core.instret, cycles: core.cycles,
  };
  for (let x = 1; x < 32; x++) state[`x${x}`] = core.x(x).toString(16);
  for (let f = 0; f < 32; f++) state[`f${f}`] = core.f(f).toString(16);
  state.trail = trail.toString(16);
  for (const [k, v] of Object.entries(core.classCounts())) state[`cls.${k}`] = v;
  for (const [name, a] of [['mepc', L.H_MEPC], ['mcause', L.H_MCAUSE], ['mtval', L.H_MTVAL], ['exc', L.H_EXCEPTIONS], ['resv', L.H_RESV], ['mstatus', L.H_MSTATUS], ['fcsr', L.H_FCSR]] as const) {
    state[name] = core.getCsr(a).toString(16);
  }
  // Memory: code and data (a hash per 256 bytes, so a difference names its place).
  for (const [name, at, len] of [['code', 0x1000, 0x4000], ['data', DATA - RAM_BASE, 0x4000]] as const) {
    for (let i = 0; i < len; i += 256) {
      let h = 2166136261;
      for (let j = 0; j < 256; j++) h = Math.imul(h ^ core.ram[at + i + j]!, 16777619);
      state[`${name}@${(at + i).toString(16)}`] = h >>> 0;
    }
  }
  const jitInsns = core.jit ? core.jit.stats().insns : 0;
  return { state, status, jitInsns, chains: core.jit ? core.jit.stats().chains : 0 };
}

export interface DiffResult {
  seed: number;
  diffs: string[];
  insns: number;
  jitInsns: number;
  chains: number;
}

/** One program, both tiers: the differences (none expected). */
export function diffOne(seed: number, size = 400, limit = 20000): DiffResult {
  const prog = genProgram(seed, size);
  const a = runTier('interp', prog, seed, limit);
  const b = runTier('jit', prog, seed, limit);
  const diffs: string[] = [];
  for (const k of Object.keys(a.state)) {
    if (a.state[k] !== b.state[k]) diffs.push(`${k}: interp ${a.state[k]} jit ${b.state[k]}`);
  }
  if (a.status.join() !== b.status.join()) diffs.push(`run statuses differ: ${a.status.length} vs ${b.status.length} calls`);
  return { seed, diffs, insns: Number(a.state.instret), jitInsns: b.jitInsns, chains: b.chains };
}
