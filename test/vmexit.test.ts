/**
 * Host-VMM mode (issue 9 item 7; assembly/vmexit.ts, Core.setVmmMode & co., src/vcpu.ts): the host
 * is the hypervisor. A VS-mode guest runs under G-stage translation (Sv39x4, guest RAM at GPA
 * 0x8000_0000 backed by host RAM at 0x8040_0000); every trap it does not handle itself ends run()
 * with RunStatus.VmExit and an exit record, and the host emulates and resumes:
 *
 *   ecall            → cause 10 (ecall from VS; hedeleg bit 10 is read-only zero)
 *   ld / sd / c.lw to an unmapped GPA (MMIO) → guest-page fault 21 / 23, stval = GVA, htval = GPA >> 2,
 *                      GVA = 1, the instruction bits and length for the emulator
 *   wfi with hstatus.VTW = 1 → virtual-instruction exception (22)
 *   an HS interrupt (SEIP) → interrupt 9, the guest's pc unchanged
 *
 * Spec: Priv 1.12 ch. 8 (Hypervisor Extension): "Trap Entry", "Virtual-Instruction Exceptions",
 * "Two-Stage Address Translation" (guest-page faults: htval = GPA >> 2).
 */
import { describe, expect, it } from 'vitest';
import { RAM_BASE, RunStatus, type Core } from '../src/core.js';
import * as L from '../src/generated/layout.js';
import { newVcpuContext, type VcpuContext } from '../src/vcpu.js';
import { assemble, makeCore, type Insn } from './helpers/core-harness.js';
import { buildElf } from './helpers/elf-writer.js';
import { VirtMachine } from '../src/board/virt.js';
import { A, D, R, U, V, W, X, li } from './helpers/paging.js';

const PAGE = 4096n;
const GUEST_GPA = 0x8000_0000n;
const GUEST_HPA = BigInt(RAM_BASE) + 0x40_0000n;
const G_ROOT = BigInt(RAM_BASE) + 0x10_0000n; // 16 KiB aligned Sv39x4 root
const MMIO_GPA = 0x1000_0000n; // not mapped by the G-stage: the host emulates it
const hpaOf = (gpa: bigint) => gpa - GUEST_GPA + GUEST_HPA;
const GLEAF = V | R | W | X | U | A | D;
const HSTATUS_VTW = 1n << 21n;
const csrr = (rd: number, csr: number): Insn => ['csrrs', { rd, rs1: 0, imm: csr }];
const csrw = (csr: number, rs1: number): Insn => ['csrrw', { rd: 0, rs1, imm: csr }];

/** G-stage tables (Sv39x4, 4 KiB pages) over the first `pages` pages of guest RAM. */
class GTables {
  private next = G_ROOT + 4n * PAGE;
  constructor(private core: Core, pages: number) {
    core.zeroPhys(Number(G_ROOT), 4 * Number(PAGE));
    for (let i = 0n; i < BigInt(pages); i++) this.map(GUEST_GPA + i * PAGE, hpaOf(GUEST_GPA + i * PAGE));
  }
  private pteAddr(gpa: bigint, alloc: boolean): bigint {
    let table = G_ROOT;
    for (let lvl = 2; lvl > 0; lvl--) {
      const mask = lvl === 2 ? 0x7ffn : 0x1ffn;
      const a = table + ((gpa >> BigInt(12 + 9 * lvl)) & mask) * 8n;
      let pte = this.rd(a);
      if ((pte & V) === 0n) {
        if (!alloc) throw new Error('unmapped');
        const t = this.next;
        this.next += PAGE;
        this.core.zeroPhys(Number(t), Number(PAGE));
        pte = ((t >> 12n) << 10n) | V;
        this.wr(a, pte);
      }
      table = (pte >> 10n) << 12n;
    }
    return table + ((gpa >> 12n) & 0x1ffn) * 8n;
  }
  map(gpa: bigint, hpa: bigint, flags = GLEAF): void {
    this.wr(this.pteAddr(gpa, true), ((hpa >> 12n) << 10n) | flags);
  }
  rd(a: bigint): bigint {
    return this.core.get64(L.RAM_OFFSET + Number(a) - RAM_BASE);
  }
  wr(a: bigint, v: bigint): void {
    this.core.set64(L.RAM_OFFSET + Number(a) - RAM_BASE, v);
  }
  hgatp(vmid = 1): bigint {
    return (8n << 60n) | (BigInt(vmid) << 44n) | (G_ROOT >> 12n);
  }
}

interface Vm {
  core: Core;
  g: GTables;
  ctx: VcpuContext;
  /** Put guest code at guest-physical `gpa` (through the G-stage: host RAM at hpaOf(gpa)). */
  load(gpa: bigint, prog: Insn[]): void;
  run(): RunStatus;
}

function vm(prog: Insn[], opts: { costs?: { exitCycles: number; entryCycles: number }; ctx?: Partial<VcpuContext> } = {}): Vm {
  const { core } = makeCore(16 << 20);
  const g = new GTables(core, 64);
  core.setVmmMode(true, opts.costs);
  const ctx = newVcpuContext(GUEST_GPA, { hgatp: g.hgatp(), hstatus: HSTATUS_VTW, ...opts.ctx });
  const load = (gpa: bigint, p: Insn[]) => core.writePhys(Number(hpaOf(gpa)), assemble(p));
  load(GUEST_GPA, prog);
  core.loadVcpu(ctx);
  return {
    core,
    g,
    ctx,
    load,
    run: () => {
      core.insnLimit = core.instret + 10_000;
      core.deadline = core.cycles + 10_000_000; // a trap loop retires nothing: bound it in cycles too
      return core.run();
    },
  };
}

describe('VM exits: the host sees each exit record and resumes', () => {
  it('ecall, MMIO load/store to an unmapped GPA (incl. a compressed one), wfi: exit records, emulation, resume', () => {
    const prog: Insn[] = [
      ['ecall'], // 0x00
      ...li(6, MMIO_GPA), // lui x6 (0x04)
      ['ld', { rd: 5, rs1: 6, imm: 8 }], // 0x08: MMIO read
      ['sd', { rs1: 6, rs2: 5, imm: 16 }], // 0x0c: MMIO write of what was read
      ['addi', { rd: 9, rs1: 6, imm: 0 }], // 0x10
      ['c.lw', { rd: 8, rs1: 9, imm: 4 }], // 0x14: a 2-byte MMIO read
      ['wfi'], // 0x16
      ['addi', { rd: 10, rs1: 5, imm: 1 }], // 0x1a
      ['add', { rd: 11, rs1: 8, rs2: 0 }], // 0x1e
      ['ecall'], // 0x22
    ];
    const m = vm(prog);
    const { core } = m;
    // 1: ecall from VS-mode.
    expect(m.run()).toBe(RunStatus.VmExit);
    let e = core.vmExit();
    expect(e).toEqual({ cause: 10, interrupt: false, stval: 0n, htval: 0n, htinst: 0n, gva: false, pc: GUEST_GPA, insn: 0x73, length: 4 });
    // The guest is still where it trapped: V = 1, VS-mode, nothing vectored to stvec.
    expect([core.get64(L.H_VIRT), core.priv, core.pc]).toEqual([1n, 1, GUEST_GPA]);
    expect(core.get64(L.H_SCAUSE)).toBe(0n);
    core.pc += 4n;
    core.resumeVcpu();
    // 2: ld from an unmapped GPA: load guest-page fault. vsatp is Bare, so GVA = GPA.
    expect(m.run()).toBe(RunStatus.VmExit);
    e = core.vmExit();
    expect(e).toMatchObject({ cause: 21, interrupt: false, stval: MMIO_GPA + 8n, htval: (MMIO_GPA + 8n) >> 2n, gva: true, pc: GUEST_GPA + 8n, length: 4 });
    expect(e.insn).toBe(0x0083_3283); // ld x5, 8(x6)
    // htinst: the transformed instruction (H ext. "Transformed Instruction or Pseudoinstruction for
    // mtinst or htinst"): the load with imm = 0 and rs1 = the address offset (0 here).
    expect(e.htinst).toBe(0x3283n);
    core.setX(5, 0x1122_3344_5566_7788n); // the emulated device's answer
    core.pc += BigInt(e.length);
    core.resumeVcpu();
    // 3: sd to it: store guest-page fault; the host reads the value from rs2.
    expect(m.run()).toBe(RunStatus.VmExit);
    e = core.vmExit();
    expect(e).toMatchObject({ cause: 23, stval: MMIO_GPA + 16n, htval: (MMIO_GPA + 16n) >> 2n, gva: true, pc: GUEST_GPA + 0x0cn, length: 4 });
    expect(core.x((e.insn >>> 20) & 31)).toBe(0x1122_3344_5566_7788n);
    core.pc += BigInt(e.length);
    core.resumeVcpu();
    // 4: c.lw: a 2-byte instruction.
    expect(m.run()).toBe(RunStatus.VmExit);
    e = core.vmExit();
    expect(e).toMatchObject({ cause: 21, stval: MMIO_GPA + 4n, pc: GUEST_GPA + 0x14n, length: 2 });
    expect(e.insn & 3).not.toBe(3);
    core.setX(8, 0x42n);
    core.pc += 2n;
    core.resumeVcpu();
    // 5: wfi with hstatus.VTW = 1: virtual-instruction exception; stval = the instruction bits.
    expect(m.run()).toBe(RunStatus.VmExit);
    e = core.vmExit();
    expect(e).toMatchObject({ cause: 22, insn: 0x1050_0073, length: 4, pc: GUEST_GPA + 0x16n });
    core.pc += 4n;
    core.resumeVcpu();
    // 6: the final ecall, with the emulated values in the guest's registers.
    expect(m.run()).toBe(RunStatus.VmExit);
    expect(core.vmExit().cause).toBe(10);
    expect([core.x(10), core.x(11)]).toEqual([0x1122_3344_5566_7789n, 0x42n]);
    expect(core.vmExits).toBe(6);
  });

  it('an HS interrupt while the guest runs is an exit (interrupt 9), pc unchanged; VS interrupts are not', () => {
    const m = vm([['addi', { rd: 5, rs1: 5, imm: 1 }], ['jal', { rd: 0, imm: -4 }]]);
    const { core } = m;
    core.set64(L.H_MIE, core.get64(L.H_MIE) | (1n << 9n));
    core.insnLimit = core.instret + 5;
    core.deadline = core.cycles + 10_000_000;
    expect(core.run()).toBe(RunStatus.InsnLimit);
    const pc = core.pc;
    core.setMip(9, true); // the PLIC raises SEIP for the host
    expect(m.run()).toBe(RunStatus.VmExit);
    expect(core.vmExit()).toMatchObject({ cause: 9, interrupt: true, insn: 0, length: 0, pc });
    expect([core.pc, core.get64(L.H_VIRT)]).toEqual([pc, 1n]);
    core.setMip(9, false);
    // hvip.VSEIP with vsie.SEIE off: nothing happens (it is the guest's, and masked).
    core.set64(L.H_HVIP, 1n << 10n);
    core.ex.vcpuLoaded();
    core.insnLimit = core.instret + 50;
    expect(core.run()).toBe(RunStatus.InsnLimit);
  });

  it('traps hedeleg delegates go to the guest (ebreak → vstvec), not to the host', () => {
    // Guest: ebreak at 0; handler at 0x100 reads vscause/vstval/vsepc through the S CSR names.
    const m = vm([['ebreak']], { ctx: { vstvec: GUEST_GPA + 0x100n } });
    m.load(GUEST_GPA + 0x100n, [csrr(10, 0x142), csrr(11, 0x143), csrr(12, 0x141), ['ecall']]);
    expect(m.run()).toBe(RunStatus.VmExit);
    expect(m.core.vmExit().cause).toBe(10);
    expect([m.core.x(10), m.core.x(12)]).toEqual([3n, GUEST_GPA]);
  });
});

describe('injectVS, contexts, guest memory, fences, costs', () => {
  it('injectVS delivers an exception to vstvec as a VS trap entry does', () => {
    const m = vm([['ecall']], { ctx: { vstvec: GUEST_GPA + 0x100n, vsstatus: 1n << 1n /* SIE */ } });
    m.load(GUEST_GPA + 0x100n, [csrr(10, 0x142), csrr(11, 0x143), csrr(12, 0x141), csrr(13, 0x100), ['ecall']]);
    expect(m.run()).toBe(RunStatus.VmExit); // the ecall at 0
    m.core.pc += 4n;
    m.core.injectVS(2, 0xdeadn); // an illegal instruction, as the host decided
    expect(m.core.pc).toBe(GUEST_GPA + 0x100n);
    expect(m.run()).toBe(RunStatus.VmExit);
    const c = m.core;
    expect([c.x(10), c.x(11), c.x(12)]).toEqual([2n, 0xdeadn, GUEST_GPA + 4n]);
    // sstatus (vsstatus): SPP = 1 (from VS), SPIE = old SIE = 1, SIE = 0.
    expect(c.x(13) & 0x122n).toBe(0x120n);
    expect(c.get64(L.H_VIRT)).toBe(1n);
    expect(c.get64(L.H_SCAUSE)).toBe(0n); // HS saw nothing
  });

  it('injectVS leaves exactly the state a hardware-delegated trap leaves (ebreak via hedeleg)', () => {
    const ctx = { vstvec: GUEST_GPA + 0x100n, vsstatus: 1n << 1n, priv: 1 as const };
    const hw = vm([['ebreak']], { ctx });
    hw.core.insnLimit = hw.core.instret + 1; // the ebreak traps into vstvec; nothing else runs
    hw.core.deadline = hw.core.cycles + 1000;
    hw.core.run();
    const inj = vm([['ebreak']], { ctx });
    inj.core.injectVS(3, hw.core.get64(L.H_VSTVAL));
    const a = hw.core.saveVcpu(), b = inj.core.saveVcpu();
    expect(b).toEqual(a);
    expect([a.pc, a.vsepc, a.vscause]).toEqual([GUEST_GPA + 0x100n, GUEST_GPA, 3n]);
  });

  it('vCPU contexts: many guests on one hart, registers, FP, CSRs and pc survive; the reservation is dropped', () => {
    // Guest code: lr.d sets a reservation; the host preempts the vCPU right after it (instruction
    // limit: not a trap, so the reservation is live); after other vCPUs ran, sc.d must fail.
    const setup: Insn[] = [...li(6, GUEST_GPA + 0x800n), ['lr.d', { rd: 7, rs1: 6 }]];
    const m = vm([...setup, ['sc.d', { rd: 8, rs1: 6, rs2: 7 }], ['ecall']]);
    const { core } = m;
    core.insnLimit = core.instret + setup.length;
    core.deadline = core.cycles + 1_000_000;
    expect(core.run()).toBe(RunStatus.InsnLimit);
    expect(core.get64(L.H_RESV)).not.toBe(0xffff_ffff_ffff_ffffn); // the reservation is live
    core.setX(20, 0xaaaan);
    const a = core.saveVcpu();
    core.loadVcpu(a); // (re)loading a context drops the reservation by itself, with no trap in between
    expect(core.get64(L.H_RESV)).toBe(0xffff_ffff_ffff_ffffn);
    // Three more vCPUs with their own registers, vsatp ASIDs, VMIDs and timers.
    const others = [1, 2, 3].map((i) =>
      newVcpuContext(GUEST_GPA + 0x200n, {
        hgatp: m.g.hgatp(1 + i),
        vsscratch: BigInt(i),
        hstatus: HSTATUS_VTW,
        htimedelta: BigInt(i * 1000),
        x: Array.from({ length: 32 }, (_, r) => BigInt(r * i)),
        f: Array.from({ length: 32 }, (_, r) => BigInt(r + 100 * i)),
        fcsr: i,
      }),
    );
    m.load(GUEST_GPA + 0x200n, [csrr(5, 0x140), ['ecall']]);
    for (const o of others) {
      core.loadVcpu(o);
      expect(m.run()).toBe(RunStatus.VmExit);
      expect(core.x(5)).toBe(o.vsscratch); // sscratch reads vsscratch
      const s = core.saveVcpu();
      expect(s.x.slice(6)).toEqual(o.x.slice(6));
      expect([s.f, s.fcsr, s.htimedelta, s.hgatp, s.pc]).toEqual([o.f, o.fcsr, o.htimedelta, o.hgatp, GUEST_GPA + 0x204n]);
    }
    core.loadVcpu(a);
    expect(core.get64(L.H_RESV)).toBe(0xffff_ffff_ffff_ffffn); // dropped by the load
    expect(m.run()).toBe(RunStatus.VmExit);
    expect([core.x(20), core.x(8)]).toEqual([0xaaaan, 1n]); // sc.d failed: no reservation
  });

  it('guest memory by GPA and by GVA, without side effects; unmapped is null', () => {
    const m = vm([['ecall']]);
    const { core } = m;
    expect(core.writeGuest('gpa', GUEST_GPA + 0x2ffcn, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]))).toBe(true);
    expect([...core.readPhys(Number(hpaOf(GUEST_GPA + 0x2ffcn)), 8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(core.readGuest('gpa', MMIO_GPA, 4)).toBeNull();
    expect(core.writeGuest('gpa', GUEST_GPA + 64n * PAGE - 4n, new Uint8Array(8))).toBe(false); // crosses into unmapped
    expect([...core.readPhys(Number(hpaOf(GUEST_GPA + 64n * PAGE - 4n)), 4)]).toEqual([0, 0, 0, 0]); // nothing written
    // VS-stage Sv39 tables in guest memory: GVA 0x4000_0000 → GPA 0x8000_3000, leaf with A = 0.
    const root = GUEST_GPA + 0x10000n, l1 = root + PAGE, l0 = root + 2n * PAGE;
    const w = (gpa: bigint, v: bigint) => core.set64(L.RAM_OFFSET + Number(hpaOf(gpa)) - RAM_BASE, v);
    w(root + 1n * 8n, ((l1 >> 12n) << 10n) | V);
    w(l1, ((l0 >> 12n) << 10n) | V);
    const leafAddr = l0;
    w(leafAddr, (((GUEST_GPA + 0x3000n) >> 12n) << 10n) | V | R | W);
    core.set64(L.H_VSATP, (8n << 60n) | (root >> 12n));
    core.writeGuest('gpa', GUEST_GPA + 0x3010n, Uint8Array.from([9, 8, 7]));
    expect([...core.readGuest('gva', 0x4000_0010n, 3)!]).toEqual([9, 8, 7]);
    expect(core.gvaToHpa(0x4000_0010n)).toBe(hpaOf(GUEST_GPA + 0x3010n));
    expect(core.get64(L.RAM_OFFSET + Number(hpaOf(leafAddr)) - RAM_BASE) & A).toBe(0n); // A untouched
    expect(core.readGuest('gva', 0x4000_1000n, 1)).toBeNull();
    expect(core.gpaToHpa(GUEST_GPA + 5n)).toBe(hpaOf(GUEST_GPA + 5n));
  });

  it('host hfence.gvma: a changed G-stage mapping is seen after the fence', () => {
    const data = GUEST_GPA + 0x5000n;
    const m = vm([...li(6, data), ['ld', { rd: 10, rs1: 6, imm: 0 }], ['ecall'], ['jal', { rd: 0, imm: -8 }]]);
    const { core } = m;
    core.writePhys(Number(hpaOf(data)), Uint8Array.from([0x11]));
    const other = BigInt(RAM_BASE) + 0xa0_0000n;
    core.writePhys(Number(other), Uint8Array.from([0x22]));
    expect(m.run()).toBe(RunStatus.VmExit);
    expect(core.x(10)).toBe(0x11n);
    m.g.map(data, other); // the host moves the guest page
    core.hfenceGvma(1, { gpa: data, len: PAGE });
    core.pc += 4n;
    core.resumeVcpu();
    expect(m.run()).toBe(RunStatus.VmExit);
    expect(core.x(10)).toBe(0x22n);
  });

  it('host hfence.gvma reaches every hart (a guest that ran on hart 0 while the host was on hart 1)', () => {
    const { core } = makeCore(16 << 20);
    core.setHarts(2);
    const g = new GTables(core, 64);
    const data = GUEST_GPA + 0x5000n;
    core.writePhys(Number(hpaOf(GUEST_GPA)), assemble([...li(6, data), ['ld', { rd: 10, rs1: 6, imm: 0 }], ['ecall'], ['jal', { rd: 0, imm: -8 }]]));
    core.writePhys(Number(hpaOf(data)), Uint8Array.from([0x11]));
    const other = BigInt(RAM_BASE) + 0xa0_0000n;
    core.writePhys(Number(other), Uint8Array.from([0x22]));
    const go = () => {
      core.insnLimit = core.instret + 1000;
      core.deadline = core.cycles + 1_000_000;
      return core.run();
    };
    for (const h of [0, 1]) {
      core.switchHart(h);
      core.setVmmMode(true); // per-hart delegation and PMP
      core.loadVcpu(newVcpuContext(GUEST_GPA, { hgatp: g.hgatp(), hstatus: HSTATUS_VTW }));
      expect(go()).toBe(RunStatus.VmExit);
      expect(core.x(10)).toBe(0x11n); // both harts' host TLBs now map the page
    }
    g.map(data, other);
    core.hfenceGvma(1, { gpa: data, len: 8n }); // issued while hart 1 is the running one
    for (const h of [1, 0]) {
      core.switchHart(h);
      core.pc += 4n;
      core.resumeVcpu();
      expect(go()).toBe(RunStatus.VmExit);
      expect(core.x(10)).toBe(0x22n);
    }
  });

  it('modeled costs: exitCycles per exit, entryCycles per entry', () => {
    const prog: Insn[] = [['ecall'], ['ecall'], ['ecall']];
    const cycles = (costs: { exitCycles: number; entryCycles: number }) => {
      const m = vm(prog, { costs });
      for (let i = 0; i < 3; i++) {
        expect(m.run()).toBe(RunStatus.VmExit);
        m.core.pc += 4n;
        m.core.resumeVcpu();
      }
      return m.core.cycles;
    };
    // 3 exits; 1 entry by loadVcpu + 3 resumes.
    expect(cycles({ exitCycles: 1000, entryCycles: 70 }) - cycles({ exitCycles: 0, entryCycles: 0 })).toBe(3 * 1000 + 4 * 70);
  });

  it("the vstimecmp deadline is visible to the host's scheduler", () => {
    const m = vm([['ecall']]);
    const { core } = m;
    expect(core.vstimecmpDeadline).toBe(Infinity);
    core.setCsr(L.H_MENVCFG, 1n << 63n); // STCE
    const div = core.getNum(L.H_TIME_DIV);
    core.loadVcpu({ ...m.ctx, henvcfg: 1n << 63n, htimedelta: 500n, vstimecmp: 1500n });
    // time + htimedelta >= vstimecmp  at time 1000: cycle 1000 × cycles per tick.
    expect(core.vstimecmpDeadline).toBe(1000 * div);
  });

  it('without host-VMM mode the same trap enters HS as usual', () => {
    const m = vm([['ecall']]);
    m.core.setVmmMode(false);
    m.core.set64(L.H_STVEC, BigInt(RAM_BASE) + 0x3000n); // HS handler (satp Bare): spins
    m.core.writePhys(RAM_BASE + 0x3000, assemble([['jal', { rd: 0, imm: 0 }]]));
    expect(m.run()).toBe(RunStatus.InsnLimit);
    expect(m.core.pc).toBe(BigInt(RAM_BASE) + 0x3000n);
    expect([m.core.get64(L.H_VIRT), m.core.get64(L.H_SCAUSE)]).toEqual([0n, 10n]);
  });
});

describe("the board's scheduler and the guest timer", () => {
  it('a hart in WFI wakes at vstimecmp with VSTIP (mip bit 6), not STIP (bit 5)', () => {
    // M-mode: Sstc on for HS and VS (menvcfg/henvcfg.STCE), stimecmp far away, vstimecmp at time
    // 200, VSTIE in mie (hie), wfi; then exit with code (mip >> 5) & 3: 2 = VSTIP alone.
    const prog: Insn[] = [
      ...li(5, 1n << 63n), csrw(0x30a, 5), csrw(0x60a, 5),
      ...li(5, -1n), csrw(0x14d, 5),
      ...li(5, 200n), csrw(0x24d, 5),
      ...li(5, 1n << 6n), csrw(0x304, 5),
      ['wfi'],
      csrr(10, 0x344),
      ['srli', { rd: 10, rs1: 10, imm: 5 }], ['andi', { rd: 10, rs1: 10, imm: 3 }],
      ['slli', { rd: 10, rs1: 10, imm: 16 }], ...li(6, 0x3333n), ['or', { rd: 10, rs1: 10, rs2: 6 }],
      ...li(6, 0x10_0000n), ['sw', { rs1: 6, rs2: 10, imm: 0 }],
      ['jal', { rd: 0, imm: 0 }],
    ];
    const m = new VirtMachine();
    m.loadElf(buildElf({ entry: BigInt(RAM_BASE), segments: [{ paddr: BigInt(RAM_BASE), data: assemble(prog), section: '.text' }] }), 'vst.elf');
    const r = m.runSync({ maxInsns: 10_000 });
    expect(r).toEqual({ reason: 'exit', code: 2 });
    expect(m.core.cycles).toBeGreaterThanOrEqual(200 * m.core.getNum(L.H_TIME_DIV));
  });
});
