/**
 * The board's idle loop and the two Sstc timers of a hart with the H extension: stimecmp raises
 * STIP (5), vstimecmp VSTIP (6). A sleeping hart (WFI) must wake at the HS timer's deadline even
 * when a VS deadline has already passed — a VM that is not running leaves its vstimecmp behind.
 * Regression: the two deadlines were folded into one minimum, a passed VS deadline hid the HS one
 * and the board stopped with "waiting in WFI with nothing left to wake it" (the outer Linux idling
 * after a KVM guest shut down, test/kvm.test.ts). Also: a VS deadline never raises STIP.
 */
import { describe, expect, it } from 'vitest';
import * as L from '../src/generated/layout.js';
import { VirtMachine } from '../src/board/virt.js';
import { RAM_BASE } from '../src/core.js';
import { coreSupportsHypervisor } from '../src/board/cpu.js';
import { assemble, type Insn } from './helpers/core-harness.js';
import { WFI, csrw, li } from './helpers/isa.js';

const HAVE_H = coreSupportsHypervisor();
const MENVCFG = 0x30a, HENVCFG = 0x60a, STIMECMP = 0x14d, VSTIMECMP = 0x24d, MIE = 0x304;
const T0 = 5, T3 = 28, T4 = 29;
const STIMECMP_TICKS = 2000n; // 200 us at the 10 MHz timebase

function program(vstimecmp: bigint | null): Insn[] {
  return [
    ...li(T0, 1n << 63n), csrw(MENVCFG, T0), csrw(HENVCFG, T0), // STCE: stimecmp and vstimecmp exist
    ...li(T0, STIMECMP_TICKS), csrw(STIMECMP, T0),
    ...(vstimecmp === null ? [] : [...li(T0, vstimecmp), csrw(VSTIMECMP, T0)]),
    ...li(T0, 1n << 5n), csrw(MIE, T0), // STIE only; mstatus.MIE = 0: WFI resumes, no trap
    WFI,
    ...li(T4, 0x10_0000n), ...li(T3, 0x5555n), ['sw', { rs1: T4, rs2: T3, imm: 0 }], // finisher: exit 0
  ];
}

describe.skipIf(!HAVE_H)('idle: the HS and VS Sstc timers are separate wake-ups', () => {
  it.each([1, 2])('--smp %i: a passed vstimecmp does not hide stimecmp; the hart wakes at stimecmp and exits 0', (harts) => {
    const m = new VirtMachine({ ramBytes: 1 << 20, harts });
    m.core.writePhys(RAM_BASE, assemble(program(0n)));
    m.core.pc = BigInt(RAM_BASE);
    const r = m.runSync({ maxInsns: 10_000 });
    expect(r).toEqual({ reason: 'exit', code: 0 });
    // It slept until the HS deadline (100 cycles per tick at the default 1 GHz / 10 MHz).
    expect(m.core.cycles).toBeGreaterThanOrEqual(Number(STIMECMP_TICKS) * 100);
  });

  it('a VS deadline ahead of the HS one wakes the run loop but raises VSTIP, not STIP', () => {
    const m = new VirtMachine({ ramBytes: 1 << 20 });
    // vstimecmp at 500 ticks, stimecmp at 2000: at wake-up VSTIP (6) is set before STIP (5) is.
    m.core.writePhys(RAM_BASE, assemble(program(500n)));
    m.core.pc = BigInt(RAM_BASE);
    const r = m.runSync({ maxInsns: 10_000 });
    expect(r).toEqual({ reason: 'exit', code: 0 });
    expect(m.core.getCsr(L.H_MIP) & (1n << 6n)).toBe(1n << 6n);
    expect(m.core.cycles).toBeGreaterThanOrEqual(Number(STIMECMP_TICKS) * 100);
  });
});
