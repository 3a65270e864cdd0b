/**
 * vsWalk (src/debug/host-gdbstub.ts): the host gdb stub's translation for a vCPU that is not
 * loaded in a core (its vsatp from the saved context), Priv §10.3-10.6 (Sv39/Sv48/Sv57): PTEs are
 * only read; a superpage keeps the va's low bits; invalid, reserved (W without R), misaligned
 * superpages and non-canonical addresses do not translate.
 */
import { describe, expect, it } from 'vitest';
import { vsWalk } from '../../src/debug/host-gdbstub.js';

const SV39 = 8n << 60n;
const SV48 = 9n << 60n;

/** A sparse guest-physical memory of 8-byte PTEs; reads outside it throw (outside RAM). */
function mem(ptes: Map<number, bigint>) {
  const reads: number[] = [];
  const read8 = (gpa: number) => {
    reads.push(gpa);
    if (gpa < 0x8000_0000 || gpa >= 0x9000_0000) throw new Error('outside RAM');
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(ptes.get(gpa) ?? 0n);
    return new Uint8Array(b);
  };
  return { read8, reads };
}
const pte = (pa: bigint, flags: bigint) => ((pa >> 12n) << 10n) | flags;
const V = 1n, R = 2n, W = 4n, X = 8n;

describe('vsWalk: a saved vCPU\'s guest-virtual to guest-physical', () => {
  it('Bare is the identity; Sv39 4 KiB leaf, 2 MiB superpage; nothing but reads', () => {
    expect(vsWalk(() => { throw new Error('no read'); }, 0n, 0x8000_1234n)).toBe(0x8000_1234);
    const root = 0x8010_0000n;
    const l1 = 0x8010_1000n;
    const l0 = 0x8010_2000n;
    const va = 0xffff_ffc0_0020_3456n; // Sv39 kernel-style address: VPN2 = 0x100, VPN1 = 1, VPN0 = 3
    const m = new Map<number, bigint>([
      [Number(root + 0x100n * 8n), pte(l1, V)],
      [Number(l1 + 1n * 8n), pte(l0, V)],
      [Number(l0 + 3n * 8n), pte(0x8020_0000n + 0x5000n, V | R | W)],
      // a 2 MiB superpage at VPN1 = 2
      [Number(l1 + 2n * 8n), pte(0x8060_0000n, V | R | X)],
    ]);
    const { read8, reads } = mem(m);
    expect(vsWalk(read8, SV39 | (root >> 12n), va)).toBe(0x8020_5456);
    expect(reads).toHaveLength(3);
    expect(vsWalk(read8, SV39 | (root >> 12n), 0xffff_ffc0_0041_2345n)).toBe(0x8061_2345);
  });

  it('no translation: invalid, W without R, misaligned superpage, non-canonical va, unknown mode', () => {
    const root = 0x8010_0000n;
    const m = new Map<number, bigint>([
      [Number(root + 1n * 8n), pte(0x8040_0000n, V | W)], // reserved: W without R
      [Number(root + 2n * 8n), pte(0x8040_1000n, V | R)], // 1 GiB superpage not 1 GiB-aligned
    ]);
    const { read8 } = mem(m);
    const satp = SV39 | (root >> 12n);
    expect(vsWalk(read8, satp, 0x0n)).toBeNull(); // PTE 0 invalid
    expect(vsWalk(read8, satp, 1n << 30n)).toBeNull();
    expect(vsWalk(read8, satp, 2n << 30n)).toBeNull();
    expect(vsWalk(read8, satp, 1n << 40n)).toBeNull(); // bit 38 clear but bit 40 set: not canonical
    expect(vsWalk(read8, 7n << 60n, 0n)).toBeNull();
  });

  it('Sv48: four levels; a table outside RAM throws (the stub answers E14)', () => {
    const root = 0x8010_0000n;
    const m = new Map<number, bigint>([[Number(root), pte(0x7000_0000n, V)]]);
    const { read8 } = mem(m);
    expect(() => vsWalk(read8, SV48 | (root >> 12n), 0x1000n)).toThrow('outside RAM');
  });
});
