/**
 * build/fpu-test.wasm (assembly/fpu.ts) against the BigInt oracle for the non-arithmetic operations:
 * float<->float and float<->integer conversions in every rounding mode, minimumNumber/maximumNumber,
 * feq/flt/fle and fclass, binary32 and binary64.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  F32, F64, type Fmt, type Fpu, type Result, type IntKind, MODES, MODE_NAMES, NV, NX, OF, UF, Rng,
  cvtFF, cvtFI, cvtIF, minmax, compare, classify, interesting, randomOperand, near, fromNumber, loadFpu, arg, hex,
} from '../helpers/fp-oracle.js';

let w: Fpu;
// Building fpu-test.wasm (when stale) takes asc several seconds, more on a loaded machine.
beforeAll(() => {
  w = loadFpu();
}, 180_000);

const RANDOM = Number(process.env.FPU_RANDOM ?? 2000); // FPU_RANDOM=200000 for a deep run
const KINDS: IntKind[] = ['i32', 'u32', 'i64', 'u64'];

function compareAll(vectors: bigint[][], name: string, show: (x: bigint, i: number) => string, o: (v: bigint[]) => Result, call: (v: bigint[]) => Result): number {
  const bad: string[] = [];
  let seen = 0;
  for (const v of vectors) {
    const want = o(v), got = call(v);
    seen |= want.flags;
    if (got.bits !== want.bits || got.flags !== want.flags) {
      bad.push(`${name}(${v.map(show).join(', ')}): wasm 0x${got.bits.toString(16)}/${got.flags.toString(16)} oracle 0x${want.bits.toString(16)}/${want.flags.toString(16)}`);
      if (bad.length >= 8) break;
    }
  }
  expect(bad).toEqual([]);
  return seen;
}

/** Floats next to integer-conversion boundaries: k + {0, 1/4, 1/2, 3/4} around 0, +-1, 2^31, 2^32, 2^63, 2^64. */
function intBoundaryFloats(f: Fmt, rng: Rng): bigint[] {
  const out: bigint[] = [];
  for (const base of [0, 1, 2, 3, 2 ** 31, 2 ** 32, 2 ** 63, 2 ** 64, 2 ** 52, 2 ** 23]) {
    for (const sgn of [1, -1]) {
      for (const d of [-2, -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.5, 2.5]) {
        const x = fromNumber(sgn * (base + d), f);
        out.push(x, near(x, rng, f, 1));
      }
    }
  }
  return out;
}

for (const f of [F32, F64]) {
  const other = f === F32 ? F64 : F32;
  const all = interesting(f);

  describe(`${f.name} -> integer`, () => {
    for (const k of KINDS) {
      for (const rm of MODES) {
        it(`${f.name}_to_${k} ${MODE_NAMES[rm]}`, () => {
          const rng = new Rng(9 + rm + k.length * 5 + f.width + (k.startsWith('u') ? 100 : 0));
          const vectors = [...all, ...intBoundaryFloats(f, rng)].map((x) => [x]);
          for (let i = 0; i < RANDOM / 2; i++) vectors.push([randomOperand(rng, f)]);
          const seen = compareAll(vectors, `${f.name}_to_${k} ${MODE_NAMES[rm]}`, (x) => hex(x, f), ([a]) => cvtFI(a, f, k, rm), ([a]) =>
            w.call(`${f.name}_to_${k}`, 'int', arg(a, f), rm));
          expect(seen & (NV | NX)).toBe(NV | NX);
        });
      }
    }
  });

  describe(`integer -> ${f.name}`, () => {
    for (const k of KINDS) {
      for (const rm of MODES) {
        it(`${k}_to_${f.name} ${MODE_NAMES[rm]}`, () => {
          const rng = new Rng(31 + rm + k.length + f.width);
          const vectors: bigint[][] = [];
          const special = [0n, 1n, 2n, 3n, (1n << 31n) - 1n, 1n << 31n, (1n << 32n) - 1n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n];
          for (const p of [f.p, f.p + 1, f.p + 2, 31, 32, 62, 63]) {
            // 2^p + small odd offsets: exact, halfway and sticky cases at the precision boundary.
            for (const d of [-3n, -1n, 0n, 1n, 2n, 3n, 5n, 7n]) special.push((1n << BigInt(p)) + d);
          }
          for (const s of special) vectors.push([BigInt.asUintN(64, s)], [BigInt.asUintN(64, -s)]);
          for (let i = 0; i < RANDOM / 2; i++) {
            const bitsLen = 1 + rng.int(64);
            const x = rng.u64() >> BigInt(64 - bitsLen);
            // High garbage in the upper half for the W forms: they must use only the low 32 bits.
            vectors.push([rng.int(2) ? x : BigInt.asUintN(64, -x)]);
          }
          const seen = compareAll(vectors, `${k}_to_${f.name} ${MODE_NAMES[rm]}`, (x) => hex(x, 'int'), ([x]) => cvtIF(x, k, f, rm), ([x]) =>
            w.call(`${k}_to_${f.name}`, f, x, rm));
          if (k.endsWith('64') || f === F32) expect(seen & NX).toBe(NX);
        });
      }
    }
  });

  describe(`${f.name} -> ${other.name}`, () => {
    for (const rm of MODES) {
      it(`${MODE_NAMES[rm]}`, () => {
        const rng = new Rng(555 + rm + f.width);
        const vectors = all.map((x) => [x]);
        for (let i = 0; i < RANDOM; i++) {
          if (f === F64 && rng.int(2) === 0) {
            // A binary32 value (or its boundaries: min normal, max) widened, then nudged by a few
            // binary64 ulps: exact, halfway (nudge 0 off a binary32 midpoint) and overflow cases.
            const s = randomOperand(rng, F32);
            const wide = cvtFF(s, F32, F64, 0).bits;
            const mid = wide + (1n << 28n); // a binary32 midpoint (for normal binary32 values)
            vectors.push([near(rng.int(2) ? wide : mid, rng, F64, 2)]);
          } else vectors.push([randomOperand(rng, f)]);
        }
        const seen = compareAll(vectors, `${f.name}_to_${other.name} ${MODE_NAMES[rm]}`, (x) => hex(x, f), ([a]) => cvtFF(a, f, other, rm), ([a]) =>
          f === F32 ? w.call('f32_to_f64', F64, Number(a)) : w.call('f64_to_f32', F32, a, rm));
        if (f === F64) expect(seen & (NV | NX | OF | UF)).toBe(NV | NX | OF | UF);
      });
    }
  });

  describe(`${f.name} min/max/compare/classify`, () => {
    const pairs = (seed: number): bigint[][] => {
      const rng = new Rng(seed);
      const v: bigint[][] = [];
      for (const a of all) for (const b of all) v.push([a, b]);
      for (let i = 0; i < RANDOM; i++) {
        const a = randomOperand(rng, f);
        v.push([a, rng.int(3) === 0 ? near(a, rng, f, 1) : randomOperand(rng, f)]);
      }
      return v;
    };
    for (const op of ['min', 'max'] as const) {
      it(`${f.name}_${op}`, () => {
        const seen = compareAll(pairs(op.length + f.width), `${f.name}_${op}`, (x) => hex(x, f), ([a, b]) => minmax(a, b, op === 'max', f), ([a, b]) =>
          w.call(`${f.name}_${op}`, f, arg(a, f), arg(b, f)));
        expect(seen & NV).toBe(NV);
      });
    }
    for (const op of ['eq', 'lt', 'le'] as const) {
      it(`${f.name}_${op}`, () => {
        const seen = compareAll(pairs(op.charCodeAt(1) + f.width), `${f.name}_${op}`, (x) => hex(x, f), ([a, b]) => compare(a, b, op, f), ([a, b]) =>
          w.call(`${f.name}_${op}`, 'int', arg(a, f), arg(b, f)));
        expect(seen & NV).toBe(NV);
      });
    }
    it(`${f.name}_classify`, () => {
      const rng = new Rng(3 + f.width);
      const vectors = all.map((x) => [x]);
      for (let i = 0; i < RANDOM; i++) vectors.push([randomOperand(rng, f)]);
      compareAll(vectors, `${f.name}_classify`, (x) => hex(x, f), ([a]) => ({ bits: BigInt(classify(a, f)), flags: 0 }), ([a]) =>
        w.call(`${f.name}_classify`, 'int', arg(a, f)));
    });
  });
}
