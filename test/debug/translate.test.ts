/**
 * The debugger's side-effect-free translation (assembly/debug.ts dbgTranslate, used by the gdb
 * stub's memory packets): the selected hart's current regime — bare in M-mode, satp in S/U, vsatp
 * then hgatp (Sv39x4) with V = 1 — reading PTEs only: no A/D update, no fault, nothing counted.
 * And the debugger's CSR access on a hart that is not running.
 */
import { describe, expect, it } from 'vitest';
import { RAM_BASE } from '../../src/core.js';
import * as L from '../../src/generated/layout.js';
import { CoreDebug } from '../../src/debug/core-debug.js';
import { makeCore } from '../helpers/core-harness.js';
import { PageTables, V, R, W, X, U, A, D } from '../helpers/paging.js';

const DATA_PA = BigInt(RAM_BASE + 0x30000);
const GVA = 0x4000_0000n;

function setup() {
  const { core } = makeCore(4 << 20);
  const t = new PageTables(core, 8);
  t.map({ va: GVA, pa: DATA_PA, flags: V | R | W }); // A and D clear: a real access would set them
  core.writePhys(Number(DATA_PA), Uint8Array.from([1, 2, 3, 4]));
  return { core, t, dbg: new CoreDebug(core) };
}

function pteOf(t: PageTables, va: bigint): bigint {
  // Sv39: root -> level 1 -> level 0; the leaf PTE of va.
  let table = t.root;
  for (let lvl = 2; lvl >= 0; lvl--) {
    const pte = t.read(table + ((va >> BigInt(12 + 9 * lvl)) & 0x1ffn) * 8n);
    if (lvl === 0 || (pte & (R | X)) !== 0n) return pte;
    table = (pte >> 10n) << 12n;
  }
  throw new Error('unreachable');
}

describe('debugger translation', () => {
  it('M-mode is bare; S-mode walks satp without setting A/D', () => {
    const { core, t, dbg } = setup();
    expect(dbg.translate(GVA + 0x12n, 0)).toBe(GVA + 0x12n); // M-mode: bare
    core.set64(L.H_SATP, t.satp());
    core.set64(L.H_PRIV, 1n); // S-mode
    expect(dbg.translate(GVA + 0x12n, 0)).toBe(DATA_PA + 0x12n);
    expect(dbg.readVirt(GVA, 4, 0)).toEqual(Uint8Array.from([1, 2, 3, 4]));
    expect(dbg.writeVirt(GVA + 1n, Uint8Array.from([9]), 0)).toBe(true);
    expect(core.readPhys(Number(DATA_PA), 4)).toEqual(Uint8Array.from([1, 9, 3, 4]));
    expect(dbg.translate(GVA + 0x1000n, 0)).toBeNull(); // not mapped: no fault either
    expect(pteOf(t, GVA) & (A | D)).toBe(0n);
    expect(core.exceptions).toBe(0);
    expect(core.getNum(L.C_UNMAPPED)).toBe(0);
  });

  it('V = 1: vsatp, then the G stage (Sv39x4); a G-stage leaf without U does not translate', () => {
    const { core, t, dbg } = setup();
    // G stage: a 16 KiB-aligned root with one 1 GiB identity leaf for GPA 0x8000_0000..0xbfff_ffff.
    const groot = BigInt(RAM_BASE + 0x200000);
    core.zeroPhys(Number(groot), 0x4000);
    const gleaf = ((0x8000_0000n >> 12n) << 10n) | V | R | W | X | U;
    t.write(groot + 2n * 8n, gleaf);
    core.set64(L.H_HGATP, (8n << 60n) | (groot >> 12n));
    core.set64(L.H_VSATP, t.satp());
    core.set64(L.H_VIRT, 1n);
    core.set64(L.H_PRIV, 1n); // VS
    expect(dbg.translate(GVA + 0x40n, 0)).toBe(DATA_PA + 0x40n);
    expect(dbg.readVirt(GVA, 2, 0)).toEqual(Uint8Array.from([1, 2]));
    t.write(groot + 2n * 8n, gleaf & ~U);
    expect(dbg.translate(GVA + 0x40n, 0)).toBeNull();
    expect(t.read(groot + 2n * 8n) & (A | D)).toBe(0n);
    expect(pteOf(t, GVA) & (A | D)).toBe(0n);
  });

  it('CSRs of a hart that is not running: read and written in its own state', () => {
    const { core } = makeCore(1 << 20);
    core.setHarts(2);
    expect(core.ex.dbgCsrRead(0xf14, 1)).toBe(1n); // mhartid of hart 1
    expect(core.ex.dbgCsrStatus()).toBe(1);
    expect(core.ex.dbgCsrWrite(0x340, 1, 0x1234n)).toBe(1); // mscratch
    expect(core.hart64(1, L.H_MSCRATCH)).toBe(0x1234n);
    expect(core.get64(L.H_MSCRATCH)).toBe(0n); // hart 0 (running) untouched
    expect(core.activeHart).toBe(0);
    core.ex.dbgCsrRead(0x7ff, 0); // no such CSR
    expect(core.ex.dbgCsrStatus()).toBe(0);
  });
});
