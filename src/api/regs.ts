/** Register names for the public API (psABI names, x0..x31 / f0..f31, or numbers). */
import { ABI_NAMES, FP_ABI_NAMES } from '../isa/disasm.js';
import { UserError } from '../errors.js';

/** A register: its number (0..31), its ABI name ('a0', 'sp', 'fa0') or its x/f name ('x10', 'f10'). */
export type RegName = number | string;

function index(r: RegName, names: readonly string[], prefix: 'x' | 'f'): number {
  if (typeof r === 'number') {
    if (Number.isInteger(r) && r >= 0 && r < 32) return r;
  } else {
    const t = r.trim().toLowerCase();
    const i = names.indexOf(t);
    if (i >= 0) return i;
    if (prefix === 'x' && t === 'fp') return 8; // s0's other psABI name
    const m = new RegExp(`^${prefix}([0-9]|[12][0-9]|3[01])$`).exec(t);
    if (m) return Number(m[1]);
  }
  throw new UserError(`unknown ${prefix === 'x' ? 'integer' : 'floating-point'} register '${String(r)}' (0..31, ${prefix}0..${prefix}31 or an ABI name such as ${names[10]})`);
}

export function regIndex(r: RegName): number {
  return index(r, ABI_NAMES, 'x');
}
export function fregIndex(r: RegName): number {
  return index(r, FP_ABI_NAMES, 'f');
}

/** An address as a bigint (numbers must be safe non-negative integers). */
export function toBigAddr(a: bigint | number): bigint {
  if (typeof a === 'bigint') return BigInt.asUintN(64, a);
  if (!(Number.isSafeInteger(a) && a >= 0)) throw new UserError(`address ${a} is not a whole number >= 0`);
  return BigInt(a);
}
