/**
 * The hypervisor extension in the core (Priv spec, "Hypervisor Extension"), the cases the bare-metal
 * suite test/guests/hyp (run by test/guests.test.ts, also on QEMU) does not reach: misa.H off
 * (Core.setHypervisor), the G-stage corner cases (Sv57x4, GPA width, misaligned superpages,
 * Svade/Svadu A/D in the G stage), hgatp MODE WARL against the board's modes, the host SBI seeing
 * only HS-mode ecalls, and the VS timer (Sstc vstimecmp).
 *
 * Programs start in M-mode at CODE; enterVS() mrets into VS-mode (MPP = S, MPV = 1) at the next
 * instruction. Traps go to the default `wfi` handler at HANDLER (mtvec), so expectTrap() sees the
 * first trap; mtval2 / mtinst / mstatus.GVA are read from the hart block.
 */
import { describe, expect, it } from 'vitest';
import * as L from '../../src/generated/layout.js';
import type { Core } from '../../src/core.js';
import {
  CSR,
  MS,
  PRV_S,
  RAM_BASE,
  RunStatus,
  WFI,
  csrOf,
  csrc,
  csrci64,
  csrr,
  csrs,
  csrsi64,
  csrw,
  csrwi64,
  exec,
  expectTrap,
  hex,
  li,
  mpp,
  pmpAllowAll,
  type Insn,
} from '../helpers/isa.js';
import { assemble } from '../helpers/core-harness.js';
import { encode } from '../../src/isa/encode.js';

const HSTATUS = 0x600, HGATP = 0x680, VSATP = 0x280, HENVCFG = 0x60a, VSTIMECMP = 0x24d;
const MPV = 1n << 39n, GVA = 1n << 38n;
const G_ROOT = BigInt(RAM_BASE + 0xc0000); // 16 KiB aligned
const LEAF = 0xdfn; // V R W X U A D
const pte = (pa: bigint, flags: bigint): bigint => ((pa >> 12n) << 10n) | flags;

/** M-mode: continue at the next instruction in VS-mode (MPP = S, MPV = 1; the mret path). */
function enterVS(tmp = 5): Insn[] {
  return [
    ...csrci64(CSR.mstatus, MS.MPP, tmp),
    ...csrsi64(CSR.mstatus, mpp(PRV_S) | MPV, tmp),
    ['auipc', { rd: tmp, imm: 0 }],
    ['addi', { rd: tmp, rs1: tmp, imm: 16 }],
    csrw(CSR.mepc, tmp),
    ['mret'],
  ];
}

function write64(c: Core, pa: bigint, v: bigint): void {
  c.set64(L.RAM_OFFSET + Number(pa - BigInt(RAM_BASE)), v);
}
function read64(c: Core, pa: bigint): bigint {
  return c.get64(L.RAM_OFFSET + Number(pa - BigInt(RAM_BASE)));
}

/** hgatp = MODE | root; root entry 2 maps GPA 0x8000_0000.. (1 GiB, Sv39x4) to itself. */
function identityG39(c: Core): void {
  c.zeroPhys(Number(G_ROOT), 16384);
  write64(c, G_ROOT + 2n * 8n, pte(0x8000_0000n, LEAF));
}

describe('H CSRs: WARL (written with all ones from M-mode, read back)', () => {
  // H ext. CSR descriptions: hie/hvip have only the VS bits (SGEIE/SGEIP read zero: GEILEN = 0);
  // hip only VSSIP writable; hgeie/hgeip read zero; vsstatus is the sstatus layout (UXL = 64);
  // vsie/vsip bits exist only where hideleg delegates; vstvec/vsepc as stvec/sepc.
  it.each([
    ['hie', 0x604, '0x444'],
    ['hip (only VSSIP is writable)', 0x644, '0x4'],
    ['hvip', 0x645, '0x444'],
    ['hcounteren', 0x606, '0xffffffff'],
    ['htimedelta', 0x605, '0xffffffffffffffff'],
    ['hgeie (GEILEN = 0)', 0x607, '0x0'],
    // STCE and PBMTE only with menvcfg's; CBIE/CBCFE/CBZE (Zicbom/Zicboz, issue 15) always.
    ['henvcfg (STCE only with menvcfg.STCE)', 0x60a, '0xf0'],
    ['htval', 0x643, '0xffffffffffffffff'],
    ['htinst', 0x64a, '0xffffffffffffffff'],
    ['mtval2', 0x34b, '0xffffffffffffffff'],
    ['mtinst', 0x34a, '0xffffffffffffffff'],
    ['vsstatus', 0x200, '0x80000002000c6122'],
    ['vsie (hideleg = 0)', 0x204, '0x0'],
    ['vstvec', 0x205, '0xfffffffffffffffd'],
    ['vsscratch', 0x240, '0xffffffffffffffff'],
    ['vsepc', 0x241, '0xfffffffffffffffe'],
    ['vscause', 0x242, '0xffffffffffffffff'],
    ['vstval', 0x243, '0xffffffffffffffff'],
  ])('%s', (_n, csr, want) => {
    const r = exec([...li(6, -1n), csrw(csr, 6), csrr(10, csr), WFI]);
    expect(r.status).toBe(RunStatus.Wfi);
    expect(hex(r.core.x(10))).toBe(want);
  });

  it('vsie/vsip follow hideleg: with VS interrupts delegated, vsie = hie >> 1 and vsip.SSIP writes hvip.VSSIP', () => {
    const r = exec([...csrwi64(0x603, 0x444n), ...li(6, -1n), csrw(0x204, 6), csrr(10, 0x204), csrr(11, 0x604), csrw(0x244, 6), csrr(12, 0x645), WFI]);
    expect(hex(r.core.x(10))).toBe('0x222');
    expect(hex(r.core.x(11))).toBe('0x444');
    expect(hex(r.core.x(12))).toBe('0x4');
  });

  it('an HS-level write to sie leaves hie alone (VS bits of mideleg are read-only one, but not sie bits)', () => {
    // Priv spec, H ext. "Hypervisor Interrupt Registers": the VS-level bits live in hip/hie; in
    // sip/sie bits 2, 6, 10 are read-only zero. A host kernel's csr_set/csr_clear(sie) (Linux's
    // timer interrupt does both on every tick) must not wipe the guest's vsie: the bug let an
    // outer tick taken while V=1 clear VSSIE/VSTIE/VSEIE, and a 2-vCPU KVM guest then slept
    // forever in WFI (test/kvm.test.ts, kvm_vcpus=2).
    const r = exec([
      ...li(6, 0x444n), csrw(0x604, 6), // hie = VSSIE | VSTIE | VSEIE
      ...li(6, 0x222n), csrw(CSR.mideleg, 6),
      ...li(6, 0x20n), csrs(CSR.sie, 6), // csr_set(sie, STIE)
      csrr(10, 0x604),
      csrc(CSR.sie, 6), // csr_clear(sie, STIE)
      csrw(CSR.sie, 0), // sie = 0
      csrr(11, 0x604),
      ...li(6, -1n), csrw(CSR.sie, 6),
      csrr(12, CSR.sie),
      WFI,
    ]);
    expect(hex(r.core.x(10))).toBe('0x444');
    expect(hex(r.core.x(11))).toBe('0x444');
    expect(hex(r.core.x(12))).toBe('0x222'); // sie: only the delegated S bits, never 2/6/10
  });

  it('henvcfg.STCE is writable once menvcfg.STCE = 1; hgeip is read-only (a write is illegal)', () => {
    const r = exec([...csrwi64(0x30a, 1n << 63n), ...li(6, -1n), csrw(0x60a, 6), csrr(10, 0x60a), csrw(0xe12, 6), WFI]);
    expect(hex(r.core.x(10))).toBe('0x80000000000000f0'); // + CBIE/CBCFE/CBZE (issue 15)
    expectTrap(r, { cause: 2 });
  });

  it('mideleg bits 2, 6, 10 read one even after the host wrote the raw field (firmware set-up via setCsr)', () => {
    const r = exec([csrr(10, CSR.mideleg), WFI], { setup: (c) => c.setCsr(L.H_MIDELEG, 0x222n) });
    expect(hex(r.core.x(10))).toBe('0x666');
  });

  it('vsatp: a write with an unsupported MODE has no effect (as satp); Sv39 reads back', () => {
    const sv39 = (8n << 60n) | 0x12345n;
    const r = exec([...csrwi64(VSATP, sv39), ...csrwi64(VSATP, (3n << 60n) | 1n), csrr(10, VSATP), WFI]);
    expect(hex(r.core.x(10))).toBe(hex(sv39));
  });
});

describe('misa.H off (Core.setHypervisor(false))', () => {
  const off = (c: Core): void => c.setHypervisor(false);

  it('misa.H reads 0; mideleg has no read-only VS bits; medeleg cannot delegate 10, 20-23; mstatus.MPV/GVA read 0', () => {
    const r = exec([csrr(10, 0x301), ...li(6, 0n), csrw(CSR.mideleg, 6), csrr(11, CSR.mideleg), ...li(6, -1n), csrw(CSR.medeleg, 6), csrr(12, CSR.medeleg), csrw(CSR.mstatus, 6), csrr(13, CSR.mstatus), WFI], { setup: off });
    expect(r.status).toBe(RunStatus.Wfi);
    expect((r.core.x(10) >> 7n) & 1n).toBe(0n);
    expect(r.core.x(11)).toBe(0n);
    expect(hex(r.core.x(12))).toBe('0xb3ff');
    expect(r.core.x(13) & (MPV | GVA)).toBe(0n);
  });

  it.each([
    ['csrr hstatus', ['csrrs', { rd: 6, rs1: 0, imm: 0x600 }] as Insn],
    ['csrr vsstatus', ['csrrs', { rd: 6, rs1: 0, imm: 0x200 }] as Insn],
    ['csrr mtval2', ['csrrs', { rd: 6, rs1: 0, imm: 0x34b }] as Insn],
    ['hlv.w', ['hlv.w', { rd: 6, rs1: 5 }] as Insn],
    ['hsv.w', ['hsv.w', { rs1: 5, rs2: 6 }] as Insn],
    ['hfence.gvma', ['hfence.gvma', { rs1: 0, rs2: 0 }] as Insn],
    ['hfence.vvma', ['hfence.vvma', { rs1: 0, rs2: 0 }] as Insn],
  ])('%s in M-mode is an illegal instruction', (_n, insn) => {
    const r = exec([...li(5, BigInt(RAM_BASE + 0x80000)), insn, WFI], { setup: off });
    expectTrap(r, { cause: 2 });
  });

  it('setHypervisor(true) brings misa.H and mideleg bits 2, 6, 10 back', () => {
    const r = exec([csrr(10, 0x301), csrr(11, CSR.mideleg), WFI], { setup: (c) => { c.setHypervisor(false); c.setHypervisor(true); } });
    expect((r.core.x(10) >> 7n) & 1n).toBe(1n);
    expect(hex(r.core.x(11))).toBe('0x444');
  });
});

describe('G stage (hgatp)', () => {
  const vsLoad = (gpa: bigint, hgatp: bigint, extra: Insn[] = []): Insn[] => [
    ...pmpAllowAll(),
    ...csrwi64(HGATP, hgatp),
    ...extra,
    ...li(7, gpa),
    ...enterVS(),
    ['ld', { rd: 6, rs1: 7, imm: 0 }],
    WFI,
  ];
  const sv39 = (8n << 60n) | (G_ROOT >> 12n);

  it('Sv39x4 identity: a VS load works, then WFI (TW = VTW = 0) ends the run in VS-mode', () => {
    const r = exec(vsLoad(BigInt(RAM_BASE + 0x80000), sv39), {
      setup: (c) => { identityG39(c); write64(c, BigInt(RAM_BASE + 0x80000), 0x1234n); },
    });
    expect(r.status).toBe(RunStatus.Wfi);
    expect(r.core.x(6)).toBe(0x1234n);
    expect(r.core.getCsr(L.H_VIRT)).toBe(1n);
    expect(r.core.exceptions).toBe(0);
  });

  it('a GPA wider than 41 bits under Sv39x4 (vsatp Bare) is a load guest-page fault: mtval = GVA, mtval2 = GPA >> 2, GVA = 1', () => {
    const gpa = 1n << 41n;
    const r = exec(vsLoad(gpa, sv39), { setup: identityG39 });
    expectTrap(r, { cause: 21, tval: gpa });
    expect(r.core.getCsr(L.H_MTVAL2)).toBe(gpa >> 2n);
    expect(hex(r.core.getCsr(L.H_MTINST))).toBe(hex(BigInt(encode('ld', { rd: 6, rs1: 7, imm: 0 }) & 0x7fff)));
    expect(csrOf(r.core, 'mstatus') & (GVA | MPV)).toBe(GVA | MPV);
  });

  // The program runs from GPA 0x8000_0000 (root entry 2); the data under test is at GPA
  // 0xC008_0000 through root entry 3.
  const GPA3 = 0xc008_0000n;
  it('an explicit load guest-page fault reports the transformed instruction in mtinst (32-bit and compressed)', () => {
    const gpa = 0xc000_0000n; // root entry 3 is empty
    const ld: Insn = ['ld', { rd: 6, rs1: 7, imm: 8 }];
    const r = exec([...pmpAllowAll(), ...csrwi64(HGATP, sv39), ...li(7, gpa), ...enterVS(), ld, WFI], { setup: identityG39 });
    expectTrap(r, { cause: 21, tval: gpa + 8n });
    // imm and rs1 zeroed: funct3, rd, opcode stay
    expect(hex(r.core.getCsr(L.H_MTINST))).toBe(hex(BigInt(encode('ld', { rd: 6, rs1: 7, imm: 8 }) & 0x7fff)));
    const cld: Insn = ['c.ld', { rd: 9, rs1: 8, imm: 8 }];
    const r2 = exec([...pmpAllowAll(), ...csrwi64(HGATP, sv39), ...li(8, gpa), ...enterVS(), cld, WFI], { setup: identityG39 });
    expectTrap(r2, { cause: 21, tval: gpa + 8n });
    // expanded to ld x9, 0(x0) with bit 1 clear: (3 << 12) | (9 << 7) | 0x03 & ~2
    expect(hex(r2.core.getCsr(L.H_MTINST))).toBe('0x3481');
    const sd: Insn = ['sd', { rs1: 7, rs2: 6, imm: -16 }];
    const r3 = exec([...pmpAllowAll(), ...csrwi64(HGATP, sv39), ...li(7, gpa + 16n), ...enterVS(), sd, WFI], { setup: identityG39 });
    expectTrap(r3, { cause: 23, tval: gpa });
    expect(hex(r3.core.getCsr(L.H_MTINST))).toBe(hex(BigInt((6 << 20) | (3 << 12) | 0x23)));
  });

  it('a misaligned G-stage gigapage leaf (PPN[1:0] != 0) is a guest-page fault', () => {
    const r = exec(vsLoad(GPA3, sv39), {
      setup: (c) => { identityG39(c); write64(c, G_ROOT + 24n, pte(0x8000_0000n + 0x20_0000n, LEAF)); },
    });
    expectTrap(r, { cause: 21, tval: GPA3 });
    expect(r.core.getCsr(L.H_MTVAL2)).toBe(GPA3 >> 2n);
  });

  it('Svadu: the G-stage leaf gets A (and D on a store); Svade: A = 0 is a guest-page fault', () => {
    const noAD = pte(0x8000_0000n, LEAF & ~0xc0n);
    const r = exec(vsLoad(GPA3, sv39), {
      setup: (c) => { identityG39(c); write64(c, G_ROOT + 24n, noAD); write64(c, BigInt(RAM_BASE + 0x80000), 0x77n); },
    });
    expect(r.status).toBe(RunStatus.Wfi);
    expect(r.core.x(6)).toBe(0x77n);
    expect(read64(r.core, G_ROOT + 24n) & 0xc0n).toBe(0x40n); // A set, D not (a load)
    const r2 = exec(vsLoad(GPA3, sv39), {
      setup: (c) => { c.ex.configureMmu(0x700, 0); identityG39(c); write64(c, G_ROOT + 24n, noAD); },
    });
    expectTrap(r2, { cause: 21, tval: GPA3 });
    expect(r2.core.getCsr(L.H_MTVAL2)).toBe(GPA3 >> 2n);
    expect(read64(r2.core, G_ROOT + 24n)).toBe(noAD);
  });

  it('Sv57x4: the root index has 11 bits (GPA bit 58 is translated)', () => {
    // Root entries 0 (the program) and 1024 (GPA bit 58 set) share one level-3 table whose entry 0
    // leads to an identity gigapage for GPA[38:30] = 2.
    const l3 = G_ROOT + 0x4000n, l2 = G_ROOT + 0x5000n;
    const gpa = (1n << 58n) + BigInt(RAM_BASE + 0x80000);
    const r = exec(vsLoad(gpa, (10n << 60n) | (G_ROOT >> 12n)), {
      setup: (c) => {
        c.zeroPhys(Number(G_ROOT), 0x6000);
        write64(c, G_ROOT, pte(l3, 1n));
        write64(c, G_ROOT + 1024n * 8n, pte(l3, 1n));
        write64(c, l3, pte(l2, 1n));
        write64(c, l2 + 2n * 8n, pte(0x8000_0000n, LEAF));
        write64(c, BigInt(RAM_BASE + 0x80000), 0x5757n);
      },
    });
    expect(r.status).toBe(RunStatus.Wfi);
    expect(r.core.x(6)).toBe(0x5757n);
  });

  it('hgatp MODE is WARL: a mode the board does not offer reads back as Bare, the other fields stay', () => {
    const r = exec([...csrwi64(HGATP, (9n << 60n) | 0x1234n), csrr(10, HGATP), ...csrwi64(HGATP, (8n << 60n) | 0x1234n), csrr(11, HGATP), WFI], {
      setup: (c) => c.ex.configureMmu(0x100, 1), // Sv39 only
    });
    expect(hex(r.core.x(10))).toBe('0x1234');
    expect(hex(r.core.x(11))).toBe(hex((8n << 60n) | 0x1234n));
  });
});

describe('ecall and timers with V = 1', () => {
  it('with the host SBI installed, a VS-mode ecall still traps (cause 10): only HS-mode ecalls are SBI calls', () => {
    const r = exec([...pmpAllowAll(), ...csrwi64(HGATP, 0n), ...enterVS(), ['ecall'], WFI], {
      setup: (c) => c.setHostSbi(true),
    });
    expectTrap(r, { cause: 10 });
  });

  it('vstimecmp (Sstc, henvcfg.STCE): VSTIP (mip bit 6) follows time + htimedelta >= vstimecmp', () => {
    const STCE = 1n << 63n;
    const r = exec([
      ...csrwi64(0x30a, STCE), // menvcfg.STCE
      ...csrwi64(HENVCFG, STCE),
      ...csrwi64(0x605, 1000n), // htimedelta
      ...csrwi64(VSTIMECMP, 1000n), // time + 1000 >= 1000 at once
      csrr(10, CSR.mip),
      ...csrwi64(VSTIMECMP, -1n),
      csrr(11, CSR.mip),
      WFI,
    ]);
    expect(r.status).toBe(RunStatus.Wfi);
    expect((r.core.x(10) >> 6n) & 1n).toBe(1n);
    expect((r.core.x(11) >> 6n) & 1n).toBe(0n);
  });

  it('hstatus.SPVP is set from the privilege of a V = 1 trap into HS; sret returns to VS (V <- SPV, SPV <- 0)', () => {
    const HS_HANDLER = RAM_BASE + 0xf8000;
    const r = exec(
      [
        ...pmpAllowAll(),
        ...csrwi64(HGATP, 0n),
        ...csrwi64(CSR.medeleg, 1n << 10n), // VS ecall -> HS
        ...li(6, BigInt(HS_HANDLER)),
        csrw(CSR.stvec, 6),
        ...enterVS(),
        ['ecall'],
        WFI,
      ],
      {
        setup: (c) => {
          // HS handler: record hstatus, skip the ecall, sret back to VS
          const h: Insn[] = [csrr(20, HSTATUS), csrr(21, CSR.sepc), ['addi', { rd: 21, rs1: 21, imm: 4 }], csrw(CSR.sepc, 21), ['sret']];
          c.writePhys(HS_HANDLER, assemble(h));
        },
      },
    );
    expect(r.status).toBe(RunStatus.Wfi);
    expect((r.core.x(20) >> 7n) & 3n).toBe(3n); // SPV = 1, SPVP = 1
    expect(r.core.getCsr(L.H_VIRT)).toBe(1n); // back in VS (the final wfi ran there)
    expect((r.core.getCsr(L.H_HSTATUS) >> 7n) & 1n).toBe(0n); // sret cleared SPV
  });
});

describe('interrupt virtualization (hvip, hideleg, priorities)', () => {
  const VS_HANDLER = RAM_BASE + 0xf4000;
  /** M-mode: delegate VS interrupts to VS (hideleg), vstvec -> a wfi, vsstatus.SIE, then spin in VS. */
  const prog = (hvip: bigint, vsie: bigint, extra: Insn[] = []): Insn[] => [
    ...pmpAllowAll(),
    ...csrwi64(HGATP, 0n),
    ...csrwi64(0x603, 0x444n), // hideleg
    ...csrwi64(0x205, BigInt(VS_HANDLER)), // vstvec
    ...csrwi64(0x200, 2n), // vsstatus.SIE
    ...csrwi64(0x204, vsie), // vsie
    ...extra,
    ...csrwi64(0x645, hvip), // hvip
    ...enterVS(),
    ['addi', { rd: 7, rs1: 7, imm: 1 }],
    ['jal', { rd: 0, imm: -4 }],
  ];
  // The handlers clear their interrupt enables first: a WFI completes at once while an enabled
  // interrupt is pending (Priv §3.3.3), so only then does it end the run.
  const setup = (c: Core): void => c.writePhys(VS_HANDLER, assemble([csrw(CSR.sie, 0), WFI]));
  const vscause = (c: Core): string => hex(c.getCsr(L.H_VSCAUSE));

  it.each([
    ['VSSIP', 1n << 2n, 1n << 1n, '0x8000000000000001'],
    ['VSTIP', 1n << 6n, 1n << 5n, '0x8000000000000005'],
    ['VSEIP', 1n << 10n, 1n << 9n, '0x8000000000000009'],
  ])('%s in hvip reaches VS-mode as the S-level interrupt (vscause)', (_n, hvip, vsie, want) => {
    const r = exec(prog(hvip, vsie), { setup });
    expect(r.status).toBe(RunStatus.Wfi);
    expect(r.core.pc).toBe(BigInt(VS_HANDLER + 8));
    expect(vscause(r.core)).toBe(want);
    expect(r.core.getCsr(L.H_VIRT)).toBe(1n);
    expect((r.core.getCsr(L.H_VSSTATUS) >> 8n) & 1n).toBe(1n); // SPP = VS
  });

  it('priority among VS interrupts: VSEI, then VSSI, then VSTI', () => {
    const r = exec(prog(0x444n, 0x222n), { setup });
    expect(vscause(r.core)).toBe('0x8000000000000009');
    const r2 = exec(prog(0x044n, 0x222n), { setup });
    expect(vscause(r2.core)).toBe('0x8000000000000001');
  });

  it('vsstatus.SIE = 0 masks VS interrupts in VS-mode; an HS-level interrupt (SSIP, mideleg) is still taken while V = 1', () => {
    const HS_HANDLER = RAM_BASE + 0xf8000;
    const r = exec(
      prog(1n << 2n, 1n << 1n, [
        ...csrwi64(0x200, 0n), // vsstatus.SIE = 0
        ...csrwi64(CSR.mideleg, 1n << 1n),
        ...csrwi64(CSR.mie, 1n << 1n),
        ...csrwi64(CSR.mip, 1n << 1n), // SSIP
        ...csrwi64(CSR.stvec, BigInt(HS_HANDLER)),
      ]),
      { setup: (c) => { setup(c); c.writePhys(HS_HANDLER, assemble([csrw(CSR.sie, 0), csrw(0x604, 0), WFI])); } },
    );
    expect(r.core.pc).toBe(BigInt(HS_HANDLER + 12));
    expect(hex(csrOf(r.core, 'scause'))).toBe('0x8000000000000001');
    expect(r.core.getCsr(L.H_VIRT)).toBe(0n);
    expect((r.core.getCsr(L.H_HSTATUS) >> 7n) & 1n).toBe(1n); // SPV
  });
});

describe('hfence operand forms', () => {
  it.each([
    ['hfence.vvma', 0, 0], ['hfence.vvma', 5, 0], ['hfence.vvma', 0, 6], ['hfence.vvma', 5, 6],
    ['hfence.gvma', 0, 0], ['hfence.gvma', 5, 0], ['hfence.gvma', 0, 6], ['hfence.gvma', 5, 6],
  ])('%s rs1=x%i rs2=x%i is legal in M-mode and retires as a fence', (name, rs1, rs2) => {
    const r = exec([...li(5, 0x2000_0000n), ...li(6, 7n), [name, { rs1, rs2 }] as Insn, WFI]);
    expect(r.status).toBe(RunStatus.Wfi);
    expect(r.core.exceptions).toBe(0);
    expect(r.core.classCounts().fence).toBe(1);
  });

  it('hfence.gvma in HS-mode with mstatus.TVM = 1 is illegal; hfence.vvma is not affected by TVM', () => {
    const pre = [...pmpAllowAll(), ...csrsi64(CSR.mstatus, 1n << 20n)];
    const toHS = [...csrci64(CSR.mstatus, MS.MPP), ...csrsi64(CSR.mstatus, mpp(PRV_S)), ['auipc', { rd: 5, imm: 0 }] as Insn, ['addi', { rd: 5, rs1: 5, imm: 16 }] as Insn, csrw(CSR.mepc, 5), ['mret'] as Insn];
    const r = exec([...pre, ...toHS, ['hfence.vvma', { rs1: 0, rs2: 0 }], ['hfence.gvma', { rs1: 0, rs2: 0 }], WFI]);
    expectTrap(r, { cause: 2 });
    expect(r.core.classCounts().fence).toBe(1);
  });
});

describe('setHypervisor on every hart; survives reset', () => {
  it('applies to all harts, and reset() keeps the setting', async () => {
    const { makeCore } = await import('../helpers/core-harness.js');
    const { core } = makeCore();
    core.setHarts(3);
    for (let h = 0; h < 3; h++) expect((core.hart64(h, L.H_MISA) >> 7n) & 1n).toBe(1n);
    core.setHypervisor(false);
    for (let h = 0; h < 3; h++) {
      expect((core.hart64(h, L.H_MISA) >> 7n) & 1n).toBe(0n);
      expect(core.hart64(h, L.H_MIDELEG) & 0x444n).toBe(0n);
    }
    core.ex.reset();
    for (let h = 0; h < 3; h++) expect((core.hart64(h, L.H_MISA) >> 7n) & 1n).toBe(0n);
    core.setHypervisor(true);
    core.ex.reset();
    for (let h = 0; h < 3; h++) expect((core.hart64(h, L.H_MISA) >> 7n) & 1n).toBe(1n);
  });
});
