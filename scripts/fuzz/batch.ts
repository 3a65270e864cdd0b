/**
 * Programs in and states out: the input segment the runtime reads (test/guests/fuzz/fuzz-rt.S) and
 * the P lines it prints.
 */
import { DUMP_CSRS, INIT_CSRS } from './csrs.js';
import { layout, type Program } from './gen.js';
import { DATA_SIZE, IN_MAX, LOG_MAX, MAGIC } from './layout.js';

/** Runtime instructions the body's minstret delta includes besides the body (see fuzz-rt.S). */
export const INSTRET_OVERHEAD = 37n;

const DESC_X = 32;
const DESC_F = 288;
const DESC_CSR = 544;
const DESC_SIZE = DESC_CSR + 8 * INIT_CSRS.length;

export function encodeBatch(progs: readonly Program[], flags = 0n): Uint8Array {
  const parts: Uint8Array[] = [];
  const head = 32 + 8 * progs.length;
  let off = head;
  const offsets: number[] = [];
  for (const p of progs) {
    const { code } = layout(p);
    const d = new Uint8Array(DESC_SIZE + code.length + DATA_SIZE);
    const dv = new DataView(d.buffer);
    dv.setBigUint64(0, BigInt(code.length), true);
    dv.setBigUint64(8, BigInt(DATA_SIZE), true);
    dv.setBigUint64(16, p.mstatus, true);
    dv.setBigUint64(24, p.fcsr, true);
    p.x.forEach((v, i) => dv.setBigUint64(DESC_X + 8 * i, v, true));
    p.f.forEach((v, i) => dv.setBigUint64(DESC_F + 8 * i, v, true));
    p.csrs.forEach((v, i) => dv.setBigUint64(DESC_CSR + 8 * i, v, true));
    d.set(code, DESC_SIZE);
    d.set(p.data, DESC_SIZE + code.length);
    offsets.push(off);
    parts.push(d);
    off += d.length;
  }
  if (off > IN_MAX) throw new Error(`batch of ${progs.length} programs is too large (${off} bytes)`);
  const out = new Uint8Array(off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, MAGIC, true);
  dv.setBigUint64(8, BigInt(progs.length), true);
  dv.setBigUint64(16, flags, true);
  offsets.forEach((o, i) => dv.setBigUint64(32 + 8 * i, BigInt(o), true));
  let at = head;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface TrapRecord {
  cause: bigint;
  /** mepc - CODE */
  epc: bigint;
  tval: bigint;
}

/** The state one program left, as the runtime printed it. */
export interface State {
  x: bigint[];
  f: bigint[];
  fcsr: bigint;
  /** DUMP_CSRS order. */
  csrs: bigint[];
  traps: bigint;
  aborted: bigint;
  /** minstret delta of the body (not compared). */
  insns: bigint;
  /** Hash of DATA less the first four PTEs of the page table. */
  hash: bigint;
  /** The first four PTEs of the page table (DATA + PT_OFF). */
  pte: bigint[];
  log: TrapRecord[];
  /** DATA (with flag 1). */
  data?: bigint[];
}

const FIXED_WORDS = 32 + 32 + 1 + DUMP_CSRS.length + 4 + 4;

function words(hex: string, what: string): bigint[] {
  if (hex.length % 16 !== 0 || !/^[0-9a-f]*$/.test(hex)) throw new Error(`damaged ${what} line`);
  const out: bigint[] = [];
  for (let i = 0; i < hex.length; i += 16) out.push(BigInt('0x' + hex.slice(i, i + 16)));
  return out;
}

/** Parse a transcript; throws on a damaged or short one. */
export function parseStates(text: string, count: number): State[] {
  const lines = text.split('\n');
  const start = lines.indexOf('fuzz: start');
  if (start < 0) throw new Error(`no 'fuzz: start' line in the output: ${text.slice(0, 200)}`);
  const states: State[] = [];
  let i = start + 1;
  for (; i < lines.length && lines[i] !== 'fuzz: end'; i++) {
    const l = lines[i]!;
    if (l.startsWith('P ')) {
      const w = words(l.slice(2), 'P');
      if (w.length < FIXED_WORDS) throw new Error('short P line');
      let k = 0;
      const take = (n: number): bigint[] => {
        const r = w.slice(k, k + n);
        k += n;
        return r;
      };
      const x = take(32), f = take(32), [fcsr] = take(1), csrs = take(DUMP_CSRS.length);
      const [traps, aborted, insns, hash] = take(4);
      const pte = take(4);
      const nlog = Math.min(Number(traps), LOG_MAX);
      if (w.length !== FIXED_WORDS + 3 * nlog) throw new Error(`P line has ${w.length} words, expected ${FIXED_WORDS + 3 * nlog}`);
      const log: TrapRecord[] = [];
      for (let j = 0; j < nlog; j++) {
        const [cause, epc, tval] = take(3);
        log.push({ cause: cause!, epc: epc!, tval: tval! });
      }
      states.push({ x, f, fcsr: fcsr!, csrs, traps: traps!, aborted: aborted!, insns: insns!, hash: hash!, pte, log });
    } else if (l.startsWith('D ')) {
      const st = states[states.length - 1];
      if (!st) throw new Error('D line before any P line');
      st.data = words(l.slice(2), 'D');
    } else if (l !== '') throw new Error(`unexpected output line: ${l.slice(0, 100)}`);
  }
  if (i >= lines.length) throw new Error(`transcript ends after ${states.length} of ${count} programs (no 'fuzz: end')`);
  if (states.length !== count) throw new Error(`transcript has ${states.length} programs, expected ${count}`);
  return states;
}
