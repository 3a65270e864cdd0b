/**
 * The data the FP differential tool exchanges with its guest (test/guests/fp/fpdiff.c):
 * operand records in, the printed results out; and readable renderings of both.
 *
 * Input, at FPD_INPUT (little endian):
 *   u64 magic = FPD_MAGIC, u64 count, then count records of 32 bytes:
 *   u16 op (index in OPS), u16 flags (FLAG_RESERVED_RM), u32 frm (0..7), u64 a, u64 b, u64 c.
 *
 * Output (console):
 *   "fpdiff: records=N\n", N lines of 18 hex digits per variant (result, flags), and
 *   "fpdiff: checksum=0x<FNV-1a 64 of the N lines, newlines included>\n".
 */
import { OPS, RM_NAMES, variantsOf, type Kind } from './ops.js';

export const FPD_INPUT = 0x8100_0000;
export const FPD_MAGIC = 0x314e49464450462en; // ".FPDFIN1"
/** The guest's limit (FPD_MAX in fpdiff.c). */
export const FPD_MAX = 500_000;
/** Flags value the guest reports for a variant that trapped (its result is then mcause). */
export const TRAPPED = 0x80;

export interface FpRecord {
  op: number;
  flags: number;
  frm: number;
  a: bigint;
  b: bigint;
  c: bigint;
}

export interface Outcome {
  bits: bigint;
  flags: number;
}

export function encodeRecords(recs: readonly FpRecord[]): Uint8Array {
  const buf = new Uint8Array(16 + 32 * recs.length);
  const dv = new DataView(buf.buffer);
  dv.setBigUint64(0, FPD_MAGIC, true);
  dv.setBigUint64(8, BigInt(recs.length), true);
  recs.forEach((r, i) => {
    const o = 16 + 32 * i;
    dv.setUint16(o, r.op, true);
    dv.setUint16(o + 2, r.flags, true);
    dv.setUint32(o + 4, r.frm, true);
    dv.setBigUint64(o + 8, r.a, true);
    dv.setBigUint64(o + 16, r.b, true);
    dv.setBigUint64(o + 24, r.c, true);
  });
  return buf;
}

export function decodeRecords(buf: Uint8Array): FpRecord[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.byteLength < 16 || dv.getBigUint64(0, true) !== FPD_MAGIC) throw new Error('not an fpdiff record file');
  const n = Number(dv.getBigUint64(8, true));
  if (buf.byteLength < 16 + 32 * n) throw new Error('record file truncated');
  const out: FpRecord[] = [];
  for (let i = 0; i < n; i++) {
    const o = 16 + 32 * i;
    out.push({
      op: dv.getUint16(o, true),
      flags: dv.getUint16(o + 2, true),
      frm: dv.getUint32(o + 4, true),
      a: dv.getBigUint64(o + 8, true),
      b: dv.getBigUint64(o + 16, true),
      c: dv.getBigUint64(o + 24, true),
    });
  }
  return out;
}

/** FNV-1a 64 of a string's char codes (the guest hashes the bytes it prints; they are ASCII). */
export function fnv1a64(s: string): bigint {
  let lo = 0x84222325, hi = 0xcbf29ce4;
  for (let i = 0; i < s.length; i++) {
    lo = (lo ^ s.charCodeAt(i)) >>> 0;
    // (hi:lo) * (2^40 + 0x1b3) mod 2^64 = lo*0x1b3 + (hi*0x1b3 << 32) + (lo << 40)
    const p = lo * 0x1b3; // < 2^41: exact
    const carry = Math.floor(p / 0x1_0000_0000);
    hi = (Math.imul(hi, 0x1b3) + carry + (lo << 8)) >>> 0;
    lo = p >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * The guest's transcript for `recs`: per record, one Outcome per variant (variantsOf order).
 * Throws with a one-line reason if the transcript is incomplete or damaged.
 */
export function parseOutput(text: string, recs: readonly FpRecord[]): Outcome[][] {
  const start = text.indexOf('fpdiff: records=');
  if (start < 0) throw new Error(`no "fpdiff: records=" line in the output: ${JSON.stringify(text.slice(0, 200))}`);
  const lines = text.slice(start).split('\n');
  const n = Number(lines[0]!.slice('fpdiff: records='.length));
  if (n !== recs.length) throw new Error(`guest reports ${n} records, ${recs.length} were sent`);
  const body = lines.slice(1, 1 + n);
  const tail = lines[1 + n] ?? '';
  const m = /^fpdiff: checksum=0x([0-9a-f]{16})$/.exec(tail);
  if (!m) throw new Error(`no checksum line after ${n} records (output truncated?): ${JSON.stringify(tail.slice(0, 80))}`);
  const sum = fnv1a64(body.map((l) => `${l}\n`).join(''));
  if (sum !== BigInt(`0x${m[1]}`)) throw new Error(`transcript checksum mismatch (guest 0x${m[1]}, received 0x${sum.toString(16)})`);
  return body.map((line, i) => {
    const r = recs[i]!;
    const nv = variantsOf(OPS[r.op]!, r.flags).length;
    if (line.length !== 18 * nv || !/^[0-9a-f]*$/.test(line)) throw new Error(`record ${i}: bad line ${JSON.stringify(line.slice(0, 80))}`);
    const out: Outcome[] = [];
    for (let v = 0; v < nv; v++) {
      out.push({ bits: BigInt(`0x${line.slice(18 * v, 18 * v + 16)}`), flags: parseInt(line.slice(18 * v + 16, 18 * v + 18), 16) });
    }
    return out;
  });
}

// ------------------------------------------------------------------------------------------------
// Readable forms

const hex64 = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;

export function flagsText(f: number): string {
  if (f & TRAPPED) return 'TRAP';
  const names = [[0x10, 'NV'], [0x08, 'DZ'], [0x04, 'OF'], [0x02, 'UF'], [0x01, 'NX']] as const;
  const s = names.filter(([b]) => f & b).map(([, n]) => n);
  return s.length ? s.join('|') : '-';
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A value as the instruction sees it: "0x... (1.5)", with NaN kinds, boxing and integer readings. */
export function valueText(v: bigint, k: Kind | 'x'): string {
  switch (k) {
    case 'f64': {
      u64[0] = v;
      return `${hex64(v)} (${fpName(f64[0]!, (v >> 51n) & 1n, (v & 0x7ff0000000000000n) === 0x7ff0000000000000n)})`;
    }
    case 'f32': {
      const lo = v & 0xffffffffn;
      u32[0] = Number(lo);
      const boxed = v >> 32n === 0xffffffffn;
      const val = fpName(f32[0]!, (lo >> 22n) & 1n, (lo & 0x7f800000n) === 0x7f800000n);
      return `${hex64(v)} (${boxed ? val : `not NaN-boxed: reads as qNaN; low half ${val}`})`;
    }
    case 'i32':
    case 'u32': {
      const lo = v & 0xffffffffn;
      const val = k === 'i32' ? BigInt.asIntN(32, lo) : lo;
      return `${hex64(v)} (${k === 'i32' ? 'w' : 'wu'} ${val})`;
    }
    case 'i64':
      return `${hex64(v)} (${BigInt.asIntN(64, v)})`;
    case 'u64':
      return `${hex64(v)} (${v})`;
    default:
      return hex64(v);
  }
}

function fpName(x: number, quietBit: bigint, isNaN: boolean): string {
  if (isNaN && Number.isNaN(x)) return quietBit ? 'qNaN' : 'sNaN';
  if (Object.is(x, -0)) return '-0';
  return String(x);
}

/** A result, read as the instruction's destination kind. */
export function resultText(o: Outcome, dst: Kind | 'x'): string {
  if (o.flags & TRAPPED) return `trap mcause=${o.bits}`;
  return `${valueText(o.bits, dst === 'x' ? 'i64' : dst)} ${flagsText(o.flags)}`;
}

/** "fadd.s rtz" / "fadd.s dyn(frm=rup)" / "fmin.s" */
export function variantText(r: FpRecord, rm: number): string {
  const op = OPS[r.op]!;
  if (!op.rm) return op.name;
  if (rm === 7) return `${op.name} dyn (frm=${r.frm <= 4 ? RM_NAMES[r.frm] : `${r.frm}, invalid`})`;
  return `${op.name} ${RM_NAMES[rm]}`;
}

export function operandsText(r: FpRecord): string {
  const op = OPS[r.op]!;
  const vals = [r.a, r.b, r.c];
  return op.srcs.map((k, i) => `${'abc'[i]}=${valueText(vals[i]!, k)}`).join(' ');
}
