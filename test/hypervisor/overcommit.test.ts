/**
 * Issue 12 scope 3: with `overcommit` the VMs' memory may exceed host RAM (each chunk is backed on
 * the guest's first touch); when the pool runs out, the VM that needs a frame is paused (reason
 * memory) until frames are freed (here: another VM destroyed), then goes on with its memory intact.
 * Without overcommit the start-time refusal stands.
 */
import { describe, expect, it } from 'vitest';
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li } from '../helpers/paging.js';
import { Host } from '../../src/hypervisor/host.js';
import { UserError } from '../../src/errors.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;

/** Stores its page index into every 4 KiB page of [RAM + 2 MiB, RAM + 22 MiB), spins, then SRST shutdown. */
function toucher(): Uint8Array {
  const head: Insn[] = [...li(18, RAM + 0x20_0000n), ...li(9, RAM + 0x160_0000n), ...li(10, 0n), ...li(5, 4096n)];
  const body: Insn[] = [['sd', { rs1: 18, rs2: 10, imm: 0 }], ['addi', { rd: 10, rs1: 10, imm: 1 }], ['add', { rd: 18, rs1: 18, rs2: 5 }]];
  const bodyLen = assemble(body).length;
  // Then hold the memory a while (a 2-million-iteration countdown), then power off.
  const spin: Insn[] = [['addi', { rd: 6, rs1: 6, imm: -1 }]];
  const tail: Insn[] = [['bltu', { rs1: 18, rs2: 9, imm: -bodyLen }], ...li(6, 2_000_000n), ...spin, ['bne', { rs1: 6, rs2: 0, imm: -4 }], ...li(17, 0x53525354n), ...li(16, 0n), ...li(10, 0n), ...li(11, 0n), ['ecall'], ['jal', { rd: 0, imm: 0 }]];
  const code = new Uint8Array(0x1000);
  code.set(assemble([...head, ...body, ...tail]));
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: code, section: '.text' }] });
}

describe('memory overcommit', () => {
  it('two 24 MiB VMs on a 32 MiB host: one pauses for memory, runs on when the other is destroyed', () => {
    const host = new Host({ harts: 1, ramBytes: 32 * MiB, overcommit: true });
    const a = host.addVm({ name: 'a', vcpus: 1, memoryBytes: 24 * MiB, kernel: toucher() });
    const b = host.addVm({ name: 'b', vcpus: 1, memoryBytes: 24 * MiB, kernel: toucher() });
    let paused: typeof a | null = null;
    const r1 = host.run({
      maxHostCycles: 1e9,
      afterRound: () => {
        paused = [a, b].find((v) => v.pausedForMemory) ?? null;
        return paused ? 'stop' : undefined;
      },
    });
    expect(r1.code).toBe(130);
    expect(paused).not.toBeNull();
    const p = paused!;
    const other = p === a ? b : a;
    expect(p.state).toBe('paused');
    expect(host.pool.freeChunks).toBe(0);
    // The other one finishes and its frames go back to the pool (it is over); the paused VM then
    // resumes by itself and finishes too.
    const r2 = host.run({ maxHostCycles: 2e9 });
    expect(r2).toEqual({ code: 0 });
    expect(other.poweredOff).toBe(true);
    expect(p.state).toBe('shut off');
    expect(p.poweredOff).toBe(true);
    // It wrote its 5120 pages (its frames went back to the pool at power-off).
    expect(p.stats().instructions).toBe(other.stats().instructions);
    host.close();
  });

  it('a destroyed VM frees its frames: the VM paused for memory goes on', () => {
    const host = new Host({ harts: 1, ramBytes: 32 * MiB, overcommit: true });
    const a = host.addVm({ name: 'a', vcpus: 1, memoryBytes: 24 * MiB, kernel: toucher() });
    const b = host.addVm({ name: 'b', vcpus: 1, memoryBytes: 24 * MiB, kernel: toucher() });
    const r1 = host.run({ maxHostCycles: 1e9, afterRound: () => ([a, b].some((v) => v.pausedForMemory) ? 'stop' : undefined) });
    expect(r1.code).toBe(130);
    const p = a.pausedForMemory ? a : b;
    const other = p === a ? b : a;
    expect(other.state).toBe('running'); // still holding its memory (spinning)
    expect(host.destroy(other.name).ok).toBe(true);
    expect(host.pool.freeChunks).toBeGreaterThan(0);
    host.run({ maxHostCycles: 2e9 });
    expect(p.poweredOff).toBe(true);
    host.close();
  });

  it('without overcommit a VM that does not fit is refused at definition', () => {
    const host = new Host({ harts: 1, ramBytes: 32 * MiB });
    host.addVm({ name: 'a', vcpus: 1, memoryBytes: 24 * MiB, kernel: toucher() });
    expect(() => host.addVm({ name: 'b', vcpus: 1, memoryBytes: 24 * MiB, kernel: toucher() })).toThrow(UserError);
    host.close();
  });
});
