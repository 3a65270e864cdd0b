/**
 * The enabled-extension mask: which of the `--cpu`-selectable extensions (src/isa/table.ts
 * GATED_EXTS, bits EXT_* in generated/ops.ts) the harts implement. The generated decoder
 * (generated/decode.ts) decodes a row of an extension that is off as an illegal instruction, so
 * nothing in the run loop tests it. All harts share the setting (like misa.H, setHypervisor).
 *
 * Also the per-extension facts the privileged side needs (the cache-block size of Zicbom/Zicboz).
 */
import { EXT_ALL } from './generated/ops';

/**
 * Bit i = GATED_EXTS[i] is implemented. Default: all of them but Shlcofideleg (bit 17, off unless
 * asked for, as `--cpu` has it). (A literal: a global initialised from another module's constant
 * would be set by the start function, which the host never runs; test/isa/sscofpmf.test.ts checks
 * the bit.)
 */
export let extOn: u32 = 0xfffdffff;

/** Zic64b: cache blocks are 64 bytes, naturally aligned (riscv,cbom-block-size / cboz-block-size). */
export const CACHE_BLOCK: u64 = 64;

export function setExtOn(mask: u32): void {
  extOn = mask & EXT_ALL;
}
