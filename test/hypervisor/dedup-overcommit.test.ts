/**
 * Issue 12 scopes 2 and 3 together: page deduplication gives frames back to the pool, so a VM
 * paused for memory under overcommit goes on ("until balloon, dedup or a destroyed VM frees
 * frames"). The pool's unit is a 2 MiB chunk: a chunk goes back when all 512 of its pages map the
 * host's zero frame (dedup.ts DEDUP_ZERO); the first write to one of them takes a zeroed chunk
 * from the pool again (copy on write needs no copy: the content was zeros), or pauses the VM for
 * memory when there is none.
 *
 * Host: 32 MiB (13 chunks for RAM after the reserve and two table chunks). VM A touches 20 MiB
 * (10 chunks), spins, zeroes them, spins long, then writes them again and checks what it reads
 * ('K' on the UART, else 'X'). VM B touches 20 MiB too — the pool runs dry and B pauses for memory
 * — then spins and powers off. With dedup, A's zeroed chunks go back to the pool while A still
 * runs: B resumes and finishes before A. Without dedup, B waits until A powers off.
 */
import { describe, expect, it } from 'vitest';
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li } from '../helpers/paging.js';
import { Host } from '../../src/hypervisor/host.js';
import { DEDUP_ZERO } from '../../src/hypervisor/memory.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;
const LO = RAM + 0x20_0000n;
const HI = RAM + 0x160_0000n; // 20 MiB: chunks 1..10
const SRST: Insn[] = [...li(17, 0x53525354n), ...li(16, 0n), ...li(10, 0n), ...li(11, 0n), ['ecall'], ['jal', { rd: 0, imm: 0 }]];

/** s2 = LO; do { body } while ((s2 += 4096) < HI) — body may use t0-t6 (not s2, s3). */
function perPage(body: Insn[]): Insn[] {
  const step: Insn[] = [...body, ['add', { rd: 18, rs1: 18, rs2: 19 }]];
  return [...li(18, LO), ...li(19, 4096n), ...li(9, HI), ...step, ['bltu', { rs1: 18, rs2: 9, imm: -assemble(step).length }]];
}
function spin(n: bigint): Insn[] {
  return [...li(6, n), ['addi', { rd: 6, rs1: 6, imm: -1 }], ['bne', { rs1: 6, rs2: 0, imm: -4 }]];
}
function elf(prog: Insn[]): Uint8Array {
  const code = new Uint8Array(0x1000);
  code.set(assemble(prog));
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: code, section: '.text' }] });
}

/** A: touch (a distinct value per page), spin, zero, spin long, write again, check, print K/X, power off. */
function zeroer(): Uint8Array {
  return elf([
    ...perPage([['sd', { rs1: 18, rs2: 18, imm: 0 }]]),
    ...spin(3_000_000n),
    ...perPage([['sd', { rs1: 18, rs2: 0, imm: 0 }]]),
    ...spin(20_000_000n),
    ...perPage([['sd', { rs1: 18, rs2: 18, imm: 8 }]]),
    // t5 = number of pages whose word 8 is not their address, or whose word 0 is not zero.
    ...li(30, 0n),
    ...perPage([
      ['ld', { rd: 5, rs1: 18, imm: 8 }], ['sub', { rd: 5, rs1: 5, rs2: 18 }], ['sltu', { rd: 5, rs1: 0, rs2: 5 }], ['add', { rd: 30, rs1: 30, rs2: 5 }],
      ['ld', { rd: 5, rs1: 18, imm: 0 }], ['sltu', { rd: 5, rs1: 0, rs2: 5 }], ['add', { rd: 30, rs1: 30, rs2: 5 }],
    ]),
    ...li(7, 75n), ['beq', { rs1: 30, rs2: 0, imm: 8 }], ...li(7, 88n), // 'K', else 'X'
    ...li(28, 0x1000_0000n), ['sb', { rs1: 28, rs2: 7, imm: 0 }],
    ...SRST,
  ]);
}
/** B: touch 20 MiB, spin, power off. */
function toucher(): Uint8Array {
  return elf([...perPage([['sd', { rs1: 18, rs2: 18, imm: 0 }]]), ...spin(2_000_000n), ...SRST]);
}

function run(dedup: boolean) {
  const host = new Host({ harts: 1, ramBytes: 32 * MiB, overcommit: true, ...(dedup ? { dedup: { pagesPerScan: 4096, scanInterval: 1_000_000 } } : {}) });
  const a = host.addVm({ name: 'a', vcpus: 1, memoryBytes: 24 * MiB, kernel: zeroer(), balloon: false });
  const b = host.addVm({ name: 'b', vcpus: 1, memoryBytes: 24 * MiB, kernel: toucher(), balloon: false });
  let bPaused = false;
  let aWhenBDone: string | null = null;
  let maxReleased = 0;
  let zeroChunksOfA = 0;
  const r = host.run({
    maxHostCycles: 1e9,
    afterRound: (h) => {
      if (b.pausedForMemory) bPaused = true;
      if (b.poweredOff && aWhenBDone === null) aWhenBDone = a.state;
      const rel = h.dedup?.stats.frames_released ?? 0;
      if (rel > maxReleased) {
        maxReleased = rel;
        zeroChunksOfA = a.memory.chunks.filter((c) => c === DEDUP_ZERO).length;
      }
      return undefined;
    },
  });
  const out = { code: r.code, a: a.outputText(), aOff: a.poweredOff, bOff: b.poweredOff, bPaused, aWhenBDone, maxReleased, zeroChunksOfA, stats: host.dedup ? { ...host.dedup.stats } : null, free: host.pool.freeChunks };
  host.close();
  return out;
}

describe('dedup gives chunks of zero pages back to the pool (overcommit)', () => {
  it('a VM paused for memory resumes when dedup frees frames; the writer gets zeroed frames back on copy on write', () => {
    const r = run(true);
    expect(r.code).toBe(0);
    expect(r.bPaused).toBe(true);
    // B finished while A was still running: the frames came from A's zeroed chunks, not A's end.
    expect(r.aWhenBDone).toBe('running');
    expect(r.bOff && r.aOff).toBe(true);
    expect(r.maxReleased).toBe(10);
    expect(r.zeroChunksOfA).toBe(10);
    // A wrote its pages again: each chunk took a frame back; it read what it wrote (zeros elsewhere).
    expect(r.a).toBe('K');
    expect(r.stats!.frames_reclaimed).toBe(10);
    expect(r.stats!.cow_breaks).toBeGreaterThanOrEqual(10 * 512);
    // Both VMs are over: every RAM frame is back in the pool (13; the table chunks stay with the
    // defined VMs), none lost to the releases and reclaims.
    expect(r.free).toBe(13);
  });

  it('without dedup the paused VM waits for the other to power off', () => {
    const r = run(false);
    expect(r.code).toBe(0);
    expect(r.bPaused).toBe(true);
    expect(r.aWhenBDone).toBe('shut off');
    expect(r.a).toBe('K');
  });
});
