/**
 * build/fpu-test.wasm (assembly/fpu.ts) against the BigInt oracle (test/helpers/fp-oracle.ts) for
 * add, sub, mul, div, sqrt and the four FMA forms, binary32 and binary64, in every rounding mode:
 * the cross product of the special/boundary operand set, plus seeded random and targeted operands
 * (cancellation, halfway points, results next to the overflow and underflow thresholds).
 * Each test also checks that its vectors reached the flags the operation can raise.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  F32, F64, type Fmt, type Fpu, type Result, MODES, MODE_NAMES, NV, DZ, OF, UF, NX, Rng,
  add, sub, mul, div, sqrt, fma, interesting, specials, randomOperand, near, make, toNumber, fromNumber,
  loadFpu, arg, hex, exactValue, roundValue, qAdd, qMul, type Q,
} from '../helpers/fp-oracle.js';

let w: Fpu;
// Building fpu-test.wasm (when stale) takes asc several seconds, more on a loaded machine.
beforeAll(() => {
  w = loadFpu();
}, 180_000);

// Random + targeted vectors per (operation, format, mode); FPU_RANDOM=200000 for a deep run.
const RANDOM = Number(process.env.FPU_RANDOM ?? 2000);

/** Compare wasm and oracle on every vector; returns the union of the oracle's flags (coverage). */
function compareAll(vectors: bigint[][], name: string, f: Fmt, o: (v: bigint[]) => Result, call: (v: bigint[]) => Result): number {
  const bad: string[] = [];
  let seen = 0;
  for (const v of vectors) {
    const want = o(v);
    const got = call(v);
    seen |= want.flags;
    if (got.bits !== want.bits || got.flags !== want.flags) {
      bad.push(`${name}(${v.map((x) => hex(x, f)).join(', ')}): wasm ${hex(got.bits, f)}/${got.flags.toString(16)} oracle ${hex(want.bits, f)}/${want.flags.toString(16)}`);
      if (bad.length >= 8) break;
    }
  }
  expect(bad).toEqual([]);
  return seen;
}

const ORACLE2 = { add, sub, mul, div } as const;
type Op2 = keyof typeof ORACLE2;

/** Targeted operand pairs for a binary operation. */
function targeted2(op: Op2, f: Fmt, rng: Rng, n: number): bigint[][] {
  const out: bigint[][] = [];
  const fb = f.p - 1;
  const emaxField = (1 << f.ebits) - 1;
  const minNormal = make(f, false, 1, 0n);
  const maxNormal = make(f, false, emaxField - 1, (1n << BigInt(fb)) - 1n);
  const num = (x: bigint) => toNumber(x, f);
  const bits = (v: number) => fromNumber(v, f);
  for (let i = 0; i < n; i++) {
    const a = randomOperand(rng, f);
    const k = rng.int(8);
    let b: bigint;
    if (op === 'add' || op === 'sub') {
      const s = op === 'sub' ? 1 : -1; // b ~ s*a cancels
      if (k < 3) b = near(bits(s * num(a)), rng, f, 3);
      else if (k < 6) {
        // b about half an ulp of a, up to a few ulps: halfway and sticky cases.
        const ea = Number((a >> BigInt(fb)) & BigInt(emaxField));
        const eb = Math.max(0, ea - f.p + rng.int(4) - 1);
        b = make(f, rng.int(2) === 1, eb, rng.u64() & ((1n << BigInt(rng.int(fb + 1))) - 1n));
      } else b = near(maxNormal, rng, f, 2) ^ (rng.int(2) === 1 ? (1n << BigInt(f.width - 1)) : 0n);
    } else {
      const targets = [minNormal, maxNormal, minNormal * 2n - 1n, make(f, false, f.bias, 0n), 1n + BigInt(rng.int(1 << 10))];
      const t = num(rng.pick(targets));
      const q = op === 'mul' ? t / num(a) : num(a) / t; // a*b ~ t or a/b ~ t
      b = near(bits(q), rng, f, 3);
    }
    out.push([a, b]);
  }
  return out;
}

for (const f of [F32, F64]) {
  const all = interesting(f);
  for (const op of ['add', 'sub', 'mul', 'div'] as Op2[]) {
    describe(`${f.name}_${op}`, () => {
      for (const rm of MODES) {
        it(`${MODE_NAMES[rm]}: boundary operands x boundary operands`, () => {
          const vectors: bigint[][] = [];
          for (const a of all) for (const b of all) vectors.push([a, b]);
          const seen = compareAll(vectors, `${f.name}_${op} ${MODE_NAMES[rm]}`, f, ([a, b]) => ORACLE2[op](a, b, rm, f), ([a, b]) =>
            w.call(`${f.name}_${op}`, f, arg(a, f), arg(b, f), rm));
          expect(seen & (NV | NX)).toBe(NV | NX);
          if (op === 'div') expect(seen & DZ).toBe(DZ);
        });
        it(`${MODE_NAMES[rm]}: seeded random and targeted operands`, () => {
          const rng = new Rng(1000 + rm * 7 + op.length * 131 + f.width);
          const vectors: bigint[][] = [];
          for (let i = 0; i < RANDOM / 2; i++) vectors.push([randomOperand(rng, f), randomOperand(rng, f)]);
          for (const v of targeted2(op, f, rng, RANDOM / 2)) vectors.push(v);
          const seen = compareAll(vectors, `${f.name}_${op} ${MODE_NAMES[rm]}`, f, ([a, b]) => ORACLE2[op](a, b, rm, f), ([a, b]) =>
            w.call(`${f.name}_${op}`, f, arg(a, f), arg(b, f), rm));
          expect(seen & (NX | OF)).toBe(NX | OF);
          if (op === 'mul' || op === 'div') expect(seen & UF).toBe(UF);
        });
      }
    });
  }

  describe(`${f.name}_sqrt`, () => {
    for (const rm of MODES) {
      it(`${MODE_NAMES[rm]}: boundary, random, perfect squares and their neighbours`, () => {
        const rng = new Rng(77 + rm + f.width);
        const vectors: bigint[][] = all.map((a) => [a]);
        for (let i = 0; i < RANDOM; i++) {
          const k = rng.int(3);
          if (k === 0) vectors.push([randomOperand(rng, f)]);
          else {
            // x^2 for an x with few significant bits (exact), perturbed by a few ulps (inexact).
            const x = (rng.u32() >>> rng.int(32)) || 1;
            const sq = toNumber(randomOperand(rng, f) & ~((1n << BigInt(f.width - 1)) - 1n) | make(f, false, f.bias + rng.int(40) - 20, 0n), f);
            const v = fromNumber(x * x * sq * sq, f);
            vectors.push([k === 1 ? v : near(v, rng, f, 2)]);
          }
        }
        const seen = compareAll(vectors, `${f.name}_sqrt ${MODE_NAMES[rm]}`, f, ([a]) => sqrt(a, rm, f), ([a]) =>
          w.call(`${f.name}_sqrt`, f, arg(a, f), rm));
        expect(seen & (NV | NX)).toBe(NV | NX);
      });
    }
  });

  describe(`${f.name}_fma`, () => {
    const variants: [boolean, boolean, string][] = [[false, false, 'fmadd'], [false, true, 'fmsub'], [true, false, 'fnmsub'], [true, true, 'fnmadd']];
    for (const rm of MODES) {
      it(`${MODE_NAMES[rm]}: special operand triples, four forms`, () => {
        const sp = specials(f);
        const vectors: bigint[][] = [];
        for (const a of sp) for (const b of sp) for (const c of sp) for (let v = 0; v < 4; v++) vectors.push([a, b, c, BigInt(v)]);
        const seen = compareAll(vectors, `${f.name}_fma ${MODE_NAMES[rm]}`, f,
          ([a, b, c, v]) => fma(a, b, c, variants[Number(v)][0], variants[Number(v)][1], rm, f),
          ([a, b, c, v]) => w.call(`${f.name}_fma`, f, arg(a, f), arg(b, f), arg(c, f), variants[Number(v)][0] ? 1 : 0, variants[Number(v)][1] ? 1 : 0, rm));
        expect(seen & (NV | NX | OF | UF)).toBe(NV | NX | OF | UF);
      });
      it(`${MODE_NAMES[rm]}: random, cancelling and boundary-crossing triples`, () => {
        const rng = new Rng(4242 + rm * 3 + f.width);
        const vectors: bigint[][] = [];
        const num = (x: bigint) => toNumber(x, f);
        const sgn = 1n << BigInt(f.width - 1);
        for (let i = 0; i < RANDOM * 2; i++) {
          const a = randomOperand(rng, f), b = randomOperand(rng, f);
          let c: bigint;
          const k = rng.int(6);
          if (k < 2) c = randomOperand(rng, f);
          else if (k < 4) c = near(fromNumber(-(num(a) * num(b)), f), rng, f, 3); // massive cancellation
          else if (k === 4) c = near(fromNumber(num(a) * num(b) * 2 ** (rng.int(2 * f.p + 10) - f.p - 5), f), rng, f, 1) ^ (rng.int(2) ? sgn : 0n);
          else c = rng.pick(interesting(f));
          vectors.push([a, b, c, BigInt(rng.int(4))]);
        }
        // Products next to the smallest normal plus a small addend: tininess after rounding.
        const minNormal = num(make(f, false, 1, 0n));
        for (let i = 0; i < RANDOM / 2; i++) {
          const a = randomOperand(rng, f) & ~sgn;
          const b = near(fromNumber(minNormal / num(a), f), rng, f, 2);
          const c = make(f, rng.int(2) === 1, 0, rng.u64() & ((1n << BigInt(rng.int(f.p))) - 1n));
          vectors.push([a, b, c, BigInt(rng.int(4))]);
        }
        // a*b + c within a few ulps of c's of a rounding midpoint of the result: c = RN(u/2 - ul) where
        // uh + ul = a*b exactly and u = ulp(uh), nudged by a few ulps (the round-to-odd fast paths).
        for (let i = 0; i < RANDOM / 2; i++) {
          const a = randomOperand(rng, f), b = randomOperand(rng, f);
          const ea = exactValue(a, f), eb = exactValue(b, f);
          const uh = mul(a, b, 0, f).bits;
          const euh = exactValue(uh, f);
          if (!ea || !eb || !euh || euh.num === 0n) continue;
          const ul = qAdd(qMul(ea, eb), { ...euh, neg: !euh.neg });
          const biased = Math.max(1, Number((uh >> BigInt(f.p - 1)) & ((1n << BigInt(f.ebits)) - 1n)));
          const halfUlp: Q = { neg: euh.neg, num: 1n, den: 1n };
          const k = biased - f.bias - f.p; // u/2 = 2^k
          if (k >= 0) halfUlp.num = 1n << BigInt(k);
          else halfUlp.den = 1n << BigInt(-k);
          if (rng.int(2)) halfUlp.neg = !halfUlp.neg;
          const c0 = roundValue(qAdd(halfUlp, { ...ul, neg: !ul.neg }), 0, f).bits;
          vectors.push([a, b, rng.int(3) ? c0 : near(c0, rng, f, 2), 0n]);
        }
        // c + RN(a*b) an exact tie at ulp(RN(a*b))/2 while a*b has a tiny nonzero rounding error: the
        // double-rounding trap that round-to-odd exists for. b = +-2^k (1 + j 2^(1-p)), j small.
        for (let i = 0; i < RANDOM / 2; i++) {
          const a = randomOperand(rng, f);
          const b = make(f, rng.int(2) === 1, f.bias + rng.int(9) - 4, BigInt(1 + rng.int(16)) << BigInt(rng.int(3)));
          const uh = mul(a, b, 0, f).bits;
          const euh = exactValue(uh, f);
          if (!euh || euh.num === 0n) continue;
          const biased = Math.max(1, Number((uh >> BigInt(f.p - 1)) & ((1n << BigInt(f.ebits)) - 1n)));
          const k = biased - f.bias - f.p; // u/2 = 2^k
          const odd = BigInt(2 * rng.int(5) + 1);
          const cq: Q = k >= 0 ? { neg: rng.int(2) === 1, num: odd << BigInt(k), den: 1n } : { neg: rng.int(2) === 1, num: odd, den: 1n << BigInt(-k) };
          vectors.push([a, b, roundValue(cq, 0, f).bits, BigInt(rng.int(4))]);
        }
        // a*b exactly halfway between two neighbours (odd significands whose product has p+1 bits)
        // plus a tiny addend of either sign: RN(RN(a*b) + c) would round the tie to even, the fused
        // result must follow c. This is the case the binary64 round-to-odd step is for.
        for (let i = 0; i < RANDOM / 2; i++) {
          const la = 1 + rng.int(f.p), lb = Math.min(f.p, f.p + 2 - la);
          const odd = (len: number) => (len <= 1 ? 1n : (1n << BigInt(len - 1)) | ((rng.u64() & ((1n << BigInt(len - 1)) - 1n)) | 1n));
          const oa = odd(la), ob = odd(lb);
          const pbits = (oa * ob).toString(2).length;
          const ka = rng.int(120) - 60 - la, kb = rng.int(120) - 60 - lb; // exponents of the lsb
          const qa: Q = ka >= 0 ? { neg: rng.int(2) === 1, num: oa << BigInt(ka), den: 1n } : { neg: rng.int(2) === 1, num: oa, den: 1n << BigInt(-ka) };
          const qb: Q = kb >= 0 ? { neg: false, num: ob << BigInt(kb), den: 1n } : { neg: false, num: ob, den: 1n << BigInt(-kb) };
          const a = roundValue(qa, 0, f).bits, b = roundValue(qb, 0, f).bits; // exact: <= p bits, in range
          const top = ka + kb + pbits; // a*b < 2^top
          const d = top - f.p - 2 - rng.int(3 * f.p);
          const cq: Q = { neg: rng.int(2) === 1, num: BigInt(1 + rng.int(1 << 20)), den: 1n };
          if (d >= 0) cq.num <<= BigInt(d);
          else cq.den = 1n << BigInt(-d);
          vectors.push([a, b, roundValue(cq, 0, f).bits, BigInt(rng.int(4))]);
        }
        const seen = compareAll(vectors, `${f.name}_fma ${MODE_NAMES[rm]}`, f,
          ([a, b, c, v]) => fma(a, b, c, variants[Number(v)][0], variants[Number(v)][1], rm, f),
          ([a, b, c, v]) => w.call(`${f.name}_fma`, f, arg(a, f), arg(b, f), arg(c, f), variants[Number(v)][0] ? 1 : 0, variants[Number(v)][1] ? 1 : 0, rm));
        expect(seen & (NX | UF | OF)).toBe(NX | UF | OF);
      });
    }
  });
}
