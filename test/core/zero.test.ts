/**
 * Core.zeroPhys skips memory that is already zero (a new VM's never-touched chunks: writing them
 * would commit every page) and still wipes everything else: allZero must see any non-zero byte,
 * wherever it sits relative to the word-aligned middle of the range.
 */
import { describe, expect, it } from 'vitest';
import { allZero, Core, RAM_BASE } from '../../src/core.js';
import { noMmio } from '../jit/harness.js';

describe('allZero', () => {
  it('finds one non-zero byte at any place of ranges with every alignment of both ends', () => {
    const a = new Uint8Array(96);
    for (let off = 0; off < 9; off++) {
      for (let len = 0; len < 80; len++) {
        expect(allZero(a, off, len)).toBe(true);
        for (let p = off; p < off + len; p++) {
          a[p] = 0x40;
          expect(allZero(a, off, len), `off ${off} len ${len} byte ${p}`).toBe(false);
          a[p] = 0;
        }
        // Bytes just outside the range do not count.
        if (off > 0) a[off - 1] = 1;
        a[off + len] = 1;
        expect(allZero(a, off, len)).toBe(true);
        if (off > 0) a[off - 1] = 0;
        a[off + len] = 0;
      }
    }
  });

  it('works on a view that starts at an unaligned byte offset of its buffer', () => {
    const buf = new ArrayBuffer(64);
    const v = new Uint8Array(buf, 3, 50);
    expect(allZero(v, 0, 50)).toBe(true);
    new Uint8Array(buf)[3 + 29] = 7;
    expect(allZero(v, 0, 50)).toBe(false);
    expect(allZero(v, 30, 20)).toBe(true);
  });
});

describe('Core.zeroPhys', () => {
  it('wipes written RAM (a word, a page, a chunk) and leaves zero RAM zero', () => {
    const core = new Core({ ramBytes: 4 << 20, mmio: noMmio });
    const pa = RAM_BASE + 0x1000;
    core.writePhys(pa + 0x1ff3, new Uint8Array([1, 2, 3]));
    core.writePhys(RAM_BASE + (3 << 20) - 1, new Uint8Array([9]));
    core.zeroPhys(pa, 2 << 20);
    expect(allZero(core.ram, 0, 4 << 20)).toBe(false); // the byte outside the range stays
    expect(allZero(core.ram, 0x1000, 2 << 20)).toBe(true);
    expect(core.ram[(3 << 20) - 1]).toBe(9);
    core.zeroPhys(RAM_BASE, 4 << 20);
    expect(allZero(core.ram, 0, 4 << 20)).toBe(true);
  });
});
