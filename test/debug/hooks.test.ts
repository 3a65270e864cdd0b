/**
 * Unicorn-style hooks (src/debug/hooks.ts) on the virt board with a real guest
 * (test/guests/gdbtest.c): each kind sees what the guest does, a callback can pause the run (and
 * running again goes on), removing a hook stops it, and a run with hooks that do not stop ends with
 * exactly the counters of a run without them.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { VirtMachine } from '../../src/board/virt.js';
import { MachineDebug } from '../../src/debug/hooks.js';

const ELF = join(import.meta.dirname, '..', 'guests', 'bin', 'gdbtest.elf');
const TIMER_ELF = join(import.meta.dirname, '..', 'guests', 'bin', 'timer.elf');

function machine(path = ELF, harts = 1): { m: VirtMachine; sym: (n: string) => bigint } {
  const m = new VirtMachine({ ramBytes: 1 << 20, harts });
  const img = m.loadElfFile(path);
  return { m, sym: (n) => img.symbols.get(n)! };
}

function counters(m: VirtMachine) {
  return {
    instret: m.totalInstret(),
    cycles: m.core.cycles,
    classes: m.core.classCounts(),
    exceptions: m.core.exceptions,
    interrupts: m.core.interrupts,
    out: m.outputText(),
  };
}

describe('hooks', () => {
  it('code hook: called before each instruction of its range; removable', () => {
    const { m, sym } = machine();
    const hooks = MachineDebug.of(m);
    const pcs: bigint[] = [];
    const h = hooks.addCodeHook((e) => {
      pcs.push(e.pc);
      expect(e.size === 2 || e.size === 4).toBe(true);
    }, { begin: sym('bump'), end: sym('bump') });
    // Pause at the 3rd call of bump, then remove the hook and finish.
    let calls = 0;
    const p = hooks.addCodeHook(() => ++calls === 3, { begin: sym('bump'), end: sym('bump') });
    const r1 = m.runSync();
    expect(r1.reason).toBe('paused');
    expect(m.core.pc).toBe(sym('bump'));
    expect(m.core.x(10)).toBe(3n); // a0 = i = 3
    p.remove();
    h.remove();
    const r2 = m.runSync();
    expect(r2).toEqual({ reason: 'exit', code: 0 });
    expect(pcs).toEqual([sym('bump'), sym('bump'), sym('bump')]);
    expect(m.outputText()).toBe('gdbtest 220\n');
  });

  it('memory hook: loads and stores of its range, after the access, with the value', () => {
    const { m, sym } = machine();
    const hooks = MachineDebug.of(m);
    const seen: string[] = [];
    hooks.addMemHook('write', (e) => { seen.push(`${e.kind} ${e.size} ${e.value}`); }, { begin: sym('watched'), end: sym('watched') + 7n });
    const reads: bigint[] = [];
    hooks.addMemHook('read', (e) => { reads.push(e.value); }, { begin: sym('counter'), end: sym('counter') + 7n });
    expect(m.runSync()).toEqual({ reason: 'exit', code: 0 });
    // crt0 zeroes .bss (watched is there), then finish() stores the sum.
    expect(seen).toEqual(['write 8 0', 'write 8 220']);
    // counter += x reads the old total 10 times: 0, 1, 3, ..., 45; bump's return re-reads it (volatile).
    expect(reads.filter((_, i) => i % 2 === 0)).toEqual([0n, 1n, 3n, 6n, 10n, 15n, 21n, 28n, 36n, 45n]);
  });

  it('MMIO hook sees the UART writes; exit hook sees the end', () => {
    const { m } = machine();
    const hooks = MachineDebug.of(m);
    let text = '';
    hooks.addMmioHook('write', (e) => { if (e.address === 0x1000_0000) text += String.fromCharCode(Number(e.value)); }, { begin: 0x1000_0000, end: 0x1000_0007 });
    const exits: unknown[] = [];
    hooks.addExitHook((e) => exits.push(e.result));
    expect(m.runSync()).toEqual({ reason: 'exit', code: 0 });
    expect(text).toBe('gdbtest 220\n');
    expect(exits).toEqual([{ reason: 'exit', code: 0 }]);
  });

  it('trap hook sees the timer interrupts of a guest that takes them', () => {
    const { m } = machine(TIMER_ELF);
    const hooks = MachineDebug.of(m);
    const causes = new Set<bigint>();
    let n = 0;
    hooks.addTrapHook((e) => { causes.add(e.cause); n++; });
    const r = m.runSync();
    expect(r.reason).toBe('exit');
    expect(n).toBe(m.core.exceptions + m.core.interrupts);
    expect(causes.has((1n << 63n) | 7n)).toBe(true); // machine timer interrupt
  });

  it('a run with hooks that never stop ends with the counters of a run without them', () => {
    for (const path of [ELF, TIMER_ELF]) {
      const ref = machine(path);
      expect(ref.m.runSync().reason).toBe('exit');
      const want = counters(ref.m);
      const { m, sym } = machine(path);
      const hooks = MachineDebug.of(m);
      let n = 0;
      const main = sym('main');
      hooks.addCodeHook(() => { n++; }, { begin: main, end: main + 0x40n });
      hooks.addMemHook('access', () => { n++; }, { begin: sym('__stack_top') - 0x100n, end: sym('__stack_top') });
      hooks.addTrapHook(() => { n++; });
      hooks.addMmioHook('access', () => { n++; });
      expect(m.runSync().reason).toBe('exit');
      expect(n).toBeGreaterThan(0);
      expect(counters(m)).toEqual(want);
    }
  });
});

describe('VM exit hooks (the VMM)', () => {
  it('see every exit the VMM handles: SBI calls, MMIO, with the vCPU and guest pc', async () => {
    const { Host } = await import('../../src/hypervisor/host.js');
    const { addVmExitHook } = await import('../../src/debug/hooks.js');
    const { assemble } = await import('../helpers/core-harness.js');
    const { buildElf } = await import('../helpers/elf-writer.js');
    const { li } = await import('../helpers/paging.js');
    const RAM = 0x8000_0000n;
    const ecall = (eid: bigint, fid: number, a0: bigint, a1 = 0n) => [
      ...li(17, eid), ...li(16, BigInt(fid)), ...li(10, a0), ...li(11, a1), ['ecall'] as const,
    ];
    const main = [
      ...ecall(1n, 0, 65n), // legacy putchar 'A'
      ...li(6, 0x1000_0000n), ...li(7, 66n), ['sb', { rs1: 6, rs2: 7, imm: 0 }] as const, // UART THR 'B'
      ...ecall(0x53525354n, 0, 0n, 0n), // SRST shutdown
      ['jal', { rd: 0, imm: 0 }] as const,
    ];
    const code = new Uint8Array(0x1000);
    code.set(assemble(main as never), 0);
    const host = new Host({ harts: 1, ramBytes: 64 << 20 });
    const vm = host.addVm({ name: 'bm', vcpus: 1, memoryBytes: 8 << 20, kernel: buildElf({ entry: RAM, segments: [{ paddr: RAM, data: code, section: '.text' }] }) });
    const seen: string[] = [];
    const h = addVmExitHook(vm, (e) => seen.push(`${e.vm}/${e.vcpu} ${e.reason} ${e.cause}`));
    expect(host.run({ maxHostCycles: 50_000_000 })).toEqual({ code: 0 });
    h.remove();
    expect(vm.exitObserver).toBeNull();
    expect(seen).toEqual(['bm/0 sbi 10', 'bm/0 mmio 23', 'bm/0 sbi 10']);
  });
});

describe('hooks in timing mode (modeled TLB)', () => {
  it('vm-sv39 (S/U code under paging): same cycles and TLB counters with code, memory and trap hooks that never stop', async () => {
    const { GUESTS } = await import('../helpers/guests.js');
    const runVm = (arm?: (d: MachineDebug) => void) => {
      const m = new VirtMachine({ mode: 'timing' });
      m.loadElfFile(join(GUESTS, 'bin', 'vm-sv39.elf'));
      let n = 0;
      if (arm) {
        const d = MachineDebug.of(m);
        arm(d);
        d.addTrapHook(() => { n++; });
      }
      const r = m.runSync({ maxInsns: 5_000_000 });
      return { r, out: m.outputText(), instret: m.core.instret, cycles: m.core.cycles, tlb: m.tlbStats(), hooked: n > 0 || !arm };
    };
    const base = runVm();
    expect(base.r.code).toBe(0);
    // Code hooks on the kernel's and the user program's first pages (their blocks are stepped;
    // 0x8000_1000 and 0x8020_3000 end with a 32-bit instruction straddling into the next page).
    expect(runVm((d) => {
      for (const p of [0x8000_0000n, 0x8000_1000n, 0x8020_0000n, 0x8020_3000n]) d.addCodeHook(() => {}, { begin: p + 0x10n, end: p + 0x11n });
    })).toEqual(base);
    // A memory hook on an address nothing touches: every block is stepped.
    expect(runVm((d) => d.addMemHook('access', () => {}, { begin: 0x10n, end: 0x17n }))).toEqual(base);
  });
});
