/**
 * The virt board (src/board/virt.ts): its memory map seen from the guest, the wiring between core,
 * bus, scheduler and devices, and the run loop's WFI / input / interrupt handling.
 * Small programs are assembled here with the instruction-table encoder (src/isa/encode.ts).
 */
import { describe, expect, it } from 'vitest';
import { VirtMachine, VIRT_MAP, type MapEntry } from '../src/board/virt.js';
import { RAM_BASE } from '../src/core.js';
import { UserError } from '../src/errors.js';
import { formatText, MAX_TEXT_LINES } from '../src/stats.js';
import type { SimEvent } from '../src/bus/types.js';
import { assemble, type Insn } from './helpers/core-harness.js';
import { buildElf } from './helpers/elf-writer.js';

// Registers by number (ABI names in comments).
const T0 = 5, T1 = 6, T2 = 7, T3 = 28, T4 = 29, A0 = 10, A1 = 11, A2 = 12, A3 = 13, A4 = 14;
const CSR_MTVEC = 0x305, CSR_MEPC = 0x341, CSR_MIE = 0x304;

/** rd = v for 0 <= v < 0x7fff_f800 (lui + addi; lui's immediate is the value of its upper 20 bits). */
function li(rd: number, v: number): Insn[] {
  const lo = ((v & 0xfff) << 20) >> 20;
  const hi = v - lo;
  const out: Insn[] = [];
  if (hi !== 0) out.push(['lui', { rd, imm: hi | 0 }]);
  if (lo !== 0 || hi === 0) out.push(['addi', { rd, rs1: hi !== 0 ? rd : 0, imm: lo }]);
  return out;
}
/** Test finisher: exit with `code` (0x5555 for 0, else (code << 16) | 0x3333). */
function exit(code: number): Insn[] {
  return [...li(T4, 0x10_0000), ...li(T3, code === 0 ? 0x5555 : (code << 16) | 0x3333), ['sw', { rs1: T4, rs2: T3, imm: 0 }]];
}
const SPIN: Insn = ['jal', { rd: 0, imm: 0 }]; // j .

/** A machine with `prog` at the start of RAM and pc there (no ELF). */
function machineWith(prog: Insn[], opts: { ramBytes?: number } = {}): VirtMachine {
  const m = new VirtMachine({ ramBytes: opts.ramBytes ?? 1 << 20 });
  m.core.writePhys(RAM_BASE, assemble(prog));
  m.core.pc = BigInt(RAM_BASE);
  return m;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('memory map', () => {
  it('the map table: present devices are on the bus at their base; reserved slots are free', () => {
    const m = new VirtMachine({ ramBytes: 1 << 20 });
    const entries: MapEntry[] = Object.values(VIRT_MAP);
    for (const e of entries) {
      if (e.name === 'memory') continue;
      for (let i = 0; i < (e.count ?? 1); i++) {
        const base = e.base + i * e.size;
        const region = m.bus.find(base);
        if (e.status === 'present') {
          expect(region, `${e.name} at 0x${base.toString(16)}`).toBeDefined();
          expect(region!.base).toBe(base);
          // A virtio-mmio transport decodes 0x200 bytes of its 0x1000 slot (as on QEMU).
          expect(region!.size).toBe(e.name === 'virtio_mmio' ? 0x200 : e.size);
          if (e.name !== 'virtio_mmio') expect(m.bus.find(base + e.size - 1)).toBe(region);
        } else {
          expect(region, `reserved ${e.name} slot ${i}`).toBeUndefined();
          expect(m.bus.find(base + e.size - 1)).toBeUndefined();
        }
      }
    }
    // No two entries overlap (the device-tree generator relies on it).
    const spans = entries
      .filter((e) => e.size > 0)
      .map((e) => [e.base, e.base + e.size * (e.count ?? 1)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    expect(VIRT_MAP.uart0).toMatchObject({ base: 0x1000_0000, irq: 10 });
    expect(VIRT_MAP.virtio).toMatchObject({ base: 0x1000_1000, size: 0x1000, count: 8, irq: 1 });
    expect(VIRT_MAP.dram.base).toBe(0x8000_0000);
  });

  it('each device answers the guest at its address (core → bus → device)', () => {
    const prog: Insn[] = [
      ...li(T0, 0x1000_0000), ['lbu', { rd: A0, rs1: T0, imm: 5 }], // UART LSR: THRE | TEMT
      ...li(T1, 0x0200_bff8), ['ld', { rd: A1, rs1: T1, imm: 0 }], // CLINT mtime
      ...li(T1, 0x0c00_0000), ['addi', { rd: T2, rs1: 0, imm: 5 }], ['sw', { rs1: T1, rs2: T2, imm: 40 }], ['lw', { rd: A2, rs1: T1, imm: 40 }], // PLIC priority[10]
      ...li(T1, 0x0010_0000), ['lw', { rd: A3, rs1: T1, imm: 0 }], // test finisher reads 0
      ...li(T1, 0x0300_0000), ['lbu', { rd: A4, rs1: T1, imm: 0x10 }], // PIO window → port 0x10
      ...exit(7),
      SPIN,
    ];
    const m = machineWith(prog);
    m.core.setX(A3, 0xdeadn);
    const portWrites: number[] = [];
    m.bus.addPorts({ name: 'testport', port: 0x10, count: 1, read: () => 0xab, write: (_p, _s, v) => portWrites.push(v) });
    const r = m.runSync({ maxInsns: 1000 });
    expect(r).toEqual({ reason: 'exit', code: 7 });
    expect(m.core.x(A0)).toBe(0x60n);
    expect(m.core.x(A1)).toBeLessThanOrEqual(BigInt(m.core.cycles) / 100n);
    expect(m.core.x(A2)).toBe(5n);
    expect(m.core.x(A3)).toBe(0n);
    expect(m.core.x(A4)).toBe(0xabn);
    const s = m.bus.stats();
    expect(s.regions['uart0']).toEqual({ reads: 1, writes: 0 });
    expect(s.regions['clint']).toEqual({ reads: 1, writes: 0 });
    expect(s.regions['plic']).toEqual({ reads: 1, writes: 1 });
    expect(s.regions['test']).toEqual({ reads: 1, writes: 1 });
    expect(s.regions['testport']).toEqual({ reads: 1, writes: 0 });
    expect(s.unmappedReads + s.unmappedWrites).toBe(0);
    expect(m.finisher.fails).toBe(1);
  });

  it('the CLINT reads time from the core: mtime = cycles / (cpuHz / timebaseHz)', () => {
    const m = machineWith([...li(T0, 5000), ['addi', { rd: T0, rs1: T0, imm: -1 }], ['bne', { rs1: T0, rs2: 0, imm: -4 }], ...exit(0)]);
    expect(m.runSync({ maxInsns: 100_000 })).toEqual({ reason: 'exit', code: 0 });
    expect(m.core.cycles).toBeGreaterThan(10_000);
    expect(m.clint.mtime()).toBe(BigInt(Math.floor(m.core.cycles / 100)));
  });

  it('unmapped accesses are access faults for the guest and counters for the stats', () => {
    const HANDLER = 0x100;
    const prog: Insn[] = [
      ['auipc', { rd: T0, imm: 0 }], ['addi', { rd: T0, rs1: T0, imm: HANDLER }], ['csrrw', { rd: 0, rs1: T0, imm: CSR_MTVEC }],
      ...li(T1, 0x0008_0000), ['lw', { rd: A0, rs1: T1, imm: 0 }], // nothing there: load access fault
      ...li(T1, 0x1000_1800), ['sw', { rs1: T1, rs2: 0, imm: 0 }], // past a virtio transport's registers: store access fault
      ...exit(0),
      SPIN,
    ];
    // Handler: skip the faulting (4-byte) instruction.
    const handler: Insn[] = [
      ['csrrs', { rd: T3, rs1: 0, imm: CSR_MEPC }], ['addi', { rd: T3, rs1: T3, imm: 4 }], ['csrrw', { rd: 0, rs1: T3, imm: CSR_MEPC }], ['mret'],
    ];
    const m = machineWith(prog);
    m.core.writePhys(RAM_BASE + HANDLER, assemble(handler));
    const r = m.runSync({ maxInsns: 1000 });
    expect(r).toEqual({ reason: 'exit', code: 0 });
    expect(m.core.exceptions).toBe(2);
    expect(m.bus.stats()).toMatchObject({ unmappedReads: 1, unmappedWrites: 1 });
    const st = m.stats(r);
    expect(st.bus).toEqual({ unmappedReads: 1, unmappedWrites: 1 });
    expect(st.traps).toEqual({ exceptions: 2, interrupts: 0 });
  });
});

describe('HTIF', () => {
  /** An ELF with code at RAM_BASE and a .tohost page holding tohost (+0) and fromhost (+0x40). */
  function htifElf(code: Insn[]): Uint8Array {
    return buildElf({
      entry: BigInt(RAM_BASE),
      segments: [
        { paddr: BigInt(RAM_BASE), data: assemble(code), section: '.text' },
        { paddr: BigInt(RAM_BASE + 0x1000), data: new Uint8Array(0x100), flags: 6, section: '.tohost' },
      ],
      symbols: [
        { name: 'tohost', value: BigInt(RAM_BASE + 0x1000), type: 1, shndx: 2 },
        { name: 'fromhost', value: BigInt(RAM_BASE + 0x1040), type: 1, shndx: 2 },
      ],
    });
  }

  it('the tohost/fromhost words are routed to the HTIF device, their neighbours stay RAM', () => {
    const code: Insn[] = [
      ['auipc', { rd: T0, imm: 0x1000 }], // t0 = &tohost
      ['addi', { rd: T1, rs1: 0, imm: (21 << 1) | 1 }],
      ['sd', { rs1: T0, rs2: T1, imm: 8 }], // plain RAM next to tohost
      ['sd', { rs1: T0, rs2: T1, imm: 0 }], // tohost: exit(21)
      SPIN,
    ];
    const m = new VirtMachine({ ramBytes: 1 << 20 });
    m.loadElf(htifElf(code), 'htif-test.elf');
    expect(m.htif).not.toBeNull();
    const r = m.runSync({ maxInsns: 10_000 });
    expect(r).toEqual({ reason: 'exit', code: 21 });
    // The store to tohost went to the device, not to RAM; the word next to it is ordinary RAM.
    expect(Array.from(m.core.readPhys(RAM_BASE + 0x1000, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(m.core.readPhys(RAM_BASE + 0x1008, 8))).toEqual([43, 0, 0, 0, 0, 0, 0, 0]);
    expect(m.bus.stats().regions['htif.tohost']).toEqual({ reads: 0, writes: 1 });
    expect(m.stats(r).devices['htif']).toMatchObject({ mmioWrites: 1, exit: 1 });
  });

  it('no tohost symbol, no HTIF device', () => {
    const m = new VirtMachine({ ramBytes: 1 << 20 });
    m.loadElf(buildElf({ entry: BigInt(RAM_BASE), segments: [{ paddr: BigInt(RAM_BASE), data: assemble(exit(0)), section: '.text' }] }), 'x.elf');
    expect(m.htif).toBeNull();
    expect(m.bus.regions().some((r) => r.name.startsWith('htif'))).toBe(false);
  });
});

describe('scheduler and run loop', () => {
  it('an event scheduled during a run (from an MMIO write) lowers the running core\'s deadline', () => {
    const DELAY = 500;
    const m = machineWith([...li(T0, 0x4000_0000), ['sw', { rs1: T0, rs2: 0, imm: 0 }], SPIN]);
    let due = -1;
    let firedAt = -1;
    const ev: SimEvent = m.scheduler.createEvent('test.probe', () => {
      firedAt = m.core.cycles;
    });
    m.bus.addMmio({
      name: 'probe',
      base: 0x4000_0000,
      size: 4,
      valid: { min: 4, max: 4 },
      impl: { min: 4, max: 4 },
      read: () => 0,
      write: () => {
        due = m.core.cycles + DELAY; // the core stored its cycle count before this access
        m.scheduler.schedule(ev, due);
      },
    });
    const r = m.runSync({ maxInsns: 100_000 });
    expect(r.reason).toBe('max-insns');
    expect(r.code).toBe(124);
    expect(due).toBeGreaterThan(0);
    // Fired where it was due (the spin loop checks the deadline on every taken jump), not at the
    // end of the run, which is where it would fire if the core had kept its old (infinite) deadline.
    expect(firedAt).toBeGreaterThanOrEqual(due);
    expect(firedAt).toBeLessThanOrEqual(due + 4);
    expect(m.core.cycles).toBeGreaterThan(firedAt + 50_000);
    expect(m.scheduler.stats().firedByName).toEqual({ 'test.probe': 1 });
  });

  it('--max-insns is exact and is exit code 124', () => {
    const m = machineWith([SPIN]);
    expect(m.runSync({ maxInsns: 12_345 })).toMatchObject({ reason: 'max-insns', code: 124 });
    expect(m.core.instret).toBe(12_345);
  });

  it('WFI with nothing left to wake the hart ends the run with a one-line error (exit 1)', () => {
    const m = machineWith([['wfi'], SPIN]);
    const r = m.runSync({ maxInsns: 1000 });
    expect(r.reason).toBe('error');
    expect(r.code).toBe(1);
    expect(r.message).toMatch(/^guest is waiting in WFI with nothing left to wake it/);
    expect(r.message).not.toContain('\n');
  });

  /** Enables the UART receive interrupt through the PLIC, sleeps in WFI, then exits with the byte. */
  const rxProgram: Insn[] = [
    ...li(T0, 0x1000_0000), ['addi', { rd: T1, rs1: 0, imm: 1 }], ['sb', { rs1: T0, rs2: T1, imm: 1 }], // IER = ERBFI
    ...li(T2, 0x0c00_0000), ['sw', { rs1: T2, rs2: T1, imm: 40 }], // priority[10] = 1
    ...li(T2, 0x0c00_2000), ...li(T1, 1 << 10), ['sw', { rs1: T2, rs2: T1, imm: 0 }], // ctx 0 enables source 10
    ...li(T1, 1 << 11), ['csrrs', { rd: 0, rs1: T1, imm: CSR_MIE }], // mie.MEIE (mstatus.MIE stays 0)
    ['wfi'],
    ['lbu', { rd: A0, rs1: T0, imm: 0 }], // RBR
    ['slli', { rd: A0, rs1: A0, imm: 16 }],
    ...li(T1, 0x3333), ['or', { rd: A0, rs1: A0, rs2: T1 }],
    ...li(T4, 0x10_0000), ['sw', { rs1: T4, rs2: A0, imm: 0 }],
    SPIN,
  ];

  it('runAsync: a guest sleeping in WFI waits (without spinning) for input, and wakes on it', async () => {
    const m = machineWith(rxProgram);
    m.openInput();
    let done = false;
    const p = m.runAsync({ maxInsns: 10_000 }).then((r) => {
      done = true;
      return r;
    });
    await sleep(50);
    expect(done).toBe(false);
    const instretAsleep = m.core.instret;
    await sleep(20);
    expect(m.core.instret).toBe(instretAsleep); // asleep: nothing executes
    m.pushInput([42]);
    expect(await p).toEqual({ reason: 'exit', code: 42 });
  });

  it('runAsync: input that ends while the guest sleeps with nothing else to wake it is an error', async () => {
    const m = machineWith(rxProgram);
    m.openInput();
    const p = m.runAsync({ maxInsns: 10_000 });
    await sleep(20);
    m.endInput();
    expect(await p).toMatchObject({ reason: 'error', code: 1 });
  });

  it('runAsync yields to the event loop: interrupt() (Ctrl-C) stops a spinning guest with 130', async () => {
    const m = machineWith([SPIN]);
    setTimeout(() => m.interrupt(), 50);
    const r = await m.runAsync();
    expect(r).toEqual({ reason: 'interrupted', code: 130 });
    expect(m.core.instret).toBeGreaterThan(0);
  });

  it('a reset request (finisher 0x7777) is not supported yet: a clear error, exit 1', () => {
    const m = machineWith([...li(T4, 0x10_0000), ...li(T3, 0x7777), ['sw', { rs1: T4, rs2: T3, imm: 0 }], SPIN]);
    const r = m.runSync({ maxInsns: 1000 });
    expect(r).toMatchObject({ reason: 'error', code: 1 });
    expect(r.message).toMatch(/reset/);
  });
});

describe('loading and stats', () => {
  it('bad RAM sizes and entry points are user errors', () => {
    expect(() => new VirtMachine({ ramBytes: 3 * 1024 ** 3 })).toThrow(UserError);
    const m = new VirtMachine({ ramBytes: 1 << 20 });
    const elf = buildElf({ entry: 0x1000n, segments: [{ paddr: BigInt(RAM_BASE), data: assemble(exit(0)), section: '.text' }] });
    expect(() => m.loadElf(elf, 'e.elf')).toThrow(/^e\.elf: entry point 0x1000 is outside RAM 0x80000000-0x800fffff \(1 MiB\)$/);
    const big = buildElf({ entry: BigInt(RAM_BASE), segments: [{ paddr: BigInt(RAM_BASE), data: assemble(exit(0)), memsz: 2n << 20n, section: '.text' }] });
    expect(() => m.loadElf(big, 'big.elf')).toThrow(/big\.elf: segment 0 .* is outside RAM .*1 MiB.*needs at least 2 MiB/);
  });

  it('the loader zero-fills .bss (memsz > filesz) and starts at the entry', () => {
    const m = new VirtMachine({ ramBytes: 1 << 20 });
    m.core.writePhys(RAM_BASE + 0x2000, new Uint8Array(64).fill(0xee));
    const elf = buildElf({
      entry: BigInt(RAM_BASE + 4),
      segments: [
        { paddr: BigInt(RAM_BASE), data: assemble([SPIN, ...exit(5)]), section: '.text' },
        { paddr: BigInt(RAM_BASE + 0x2000), data: new Uint8Array([1, 2]), memsz: 64n, flags: 6, section: '.data' },
      ],
    });
    m.loadElf(elf, 'bss.elf');
    expect(Array.from(m.core.readPhys(RAM_BASE + 0x2000, 4))).toEqual([1, 2, 0, 0]);
    expect(m.core.readPhys(RAM_BASE + 0x2000, 64).slice(2).every((b) => b === 0)).toBe(true);
    expect(m.runSync({ maxInsns: 100 })).toEqual({ reason: 'exit', code: 5 });
    expect(m.guestName).toBe('bss.elf');
  });

  it('stats: counts, devices and a one-screen text summary', () => {
    const m = machineWith([...li(T0, 0x1000_0000), ['addi', { rd: T1, rs1: 0, imm: 0x41 }], ['sb', { rs1: T0, rs2: T1, imm: 0 }], ...exit(0)]);
    const r = m.runSync({ maxInsns: 100 });
    expect(m.outputText()).toBe('A');
    const s = m.stats(r);
    expect(s.exit).toEqual({ reason: 'exit', code: 0 });
    expect(s.instret).toBe(m.core.instret);
    expect(s.cycles).toBe(m.core.cycles);
    expect(s.classCounts.store).toBe(2);
    expect(s.devices['uart0']).toMatchObject({ txBytes: 1, mmioWrites: 1 });
    expect(s.devices['test']).toMatchObject({ passes: 1, mmioWrites: 1 });
    expect(s.cpuHz).toBe(1_000_000_000);
    expect(s.hostSeconds).toBeGreaterThan(0);
    const text = formatText(s);
    expect(text.split('\n').length - 1).toBeLessThanOrEqual(MAX_TEXT_LINES);
    expect(text).toContain('uart0: mmioWrites=1 txBytes=1');
  });
});
