/**
 * scounteren and senvcfg are S-mode CSRs the H extension does not bank for VS-mode (Priv §9.2:
 * a guest in VS-mode reads and writes the hart's own), so the VMM switches them with the vCPU
 * (src/hypervisor/vcpu.ts, vm.ts runVcpu), as KVM does. Before, they were per host hart: a
 * neighbour that cleared scounteren on the same host hart took `rdtime` away from this VM's user
 * programs (SIGILL) and made its run depend on who else ran there.
 * The subject spins, then reads scounteren and senvcfg and powers off; the neighbour clears both
 * and spins forever; 50-cycle round-robin slices interleave them on one host hart.
 */
import { describe, expect, it } from 'vitest';
import { Host, RoundRobinPlacement } from '../../src/hypervisor/host.js';
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li } from '../helpers/paging.js';
import { csrr, csrw } from '../helpers/isa.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;
const DATA = RAM + 0x1000n;
const SCOUNTEREN = 0x106;
const SENVCFG = 0x10a;

function subject(): Uint8Array {
  const prog: Insn[] = [
    ...li(10, DATA),
    ...li(6, 0x10n), // senvcfg.CBIE = 01 (a value of its own to keep)
    csrw(SENVCFG, 6),
    ...li(9, 400n),
    ['addi', { rd: 9, rs1: 9, imm: -1 }],
    ['bne', { rs1: 9, rs2: 0, imm: -4 }],
    csrr(5, SCOUNTEREN),
    csrr(6, SENVCFG),
    ['sd', { rs1: 10, rs2: 5, imm: 0 }],
    ['sd', { rs1: 10, rs2: 6, imm: 8 }],
    ...li(17, 0x53525354n), ...li(16, 0n), ...li(10, 0n), ...li(11, 0n), ['ecall'],
  ];
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: assemble(prog), section: '.text' }] });
}

function clearer(): Uint8Array {
  const prog: Insn[] = [csrw(SCOUNTEREN, 0), csrw(SENVCFG, 0), ['jal', { rd: 0, imm: -8 }]];
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: assemble(prog), section: '.text' }] });
}

function run(neighbour: boolean) {
  const host = new Host({ harts: 1, ramBytes: 64 * MiB }, { placement: new RoundRobinPlacement(50) });
  const vm = host.addVm({ name: 'subject', vcpus: 1, memoryBytes: 4 * MiB, kernel: subject() });
  if (neighbour) host.addVm({ name: 'clear', vcpus: 1, memoryBytes: 4 * MiB, kernel: clearer() });
  host.run({ maxHostCycles: 2e6, afterRound: () => (vm.state !== 'running' ? 'stop' : undefined) });
  const v = new DataView(vm.memory.read(Number(DATA), 16).buffer);
  const out = { state: vm.state, scounteren: v.getBigUint64(0, true), senvcfg: v.getBigUint64(8, true), insns: vm.stats().instructions };
  host.close();
  return out;
}

describe('scounteren and senvcfg belong to the vCPU, not the host hart', () => {
  it("a neighbour clearing them on the same host hart changes nothing in this VM", () => {
    const alone = run(false);
    expect(alone.state).toBe('shut off');
    expect(alone.scounteren).toBe(7n); // CY, TM, IR: what OpenSBI leaves a kernel
    expect(alone.senvcfg).toBe(0x10n);
    expect(run(true)).toEqual(alone);
  });
});
