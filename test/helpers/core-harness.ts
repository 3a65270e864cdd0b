/**
 * A bare core with no devices: every MMIO access is an access fault unless a test installs
 * handlers. Programs are lists of instruction words (from src/isa/encode.ts) placed at RAM_BASE.
 */
import { Core, RAM_BASE, RunStatus, type MmioPort } from '../../src/core.js';
import { encode, type Operands } from '../../src/isa/encode.js';
import type { AccessSize } from '../../src/bus/types.js';
import { latencyArrayDefault } from './latency.js';

export class FakeMmio implements MmioPort {
  dataLo = 0;
  dataHi = 0;
  log: Array<{ op: 'r' | 'w'; addr: number; size: number; lo?: number; hi?: number }> = [];
  regions: Array<{ base: number; size: number; read?: (a: number, s: number) => bigint; write?: (a: number, s: number, v: bigint) => void }> = [];
  read(addr: number, size: AccessSize): number {
    this.log.push({ op: 'r', addr, size });
    for (const r of this.regions)
      if (addr >= r.base && addr + size <= r.base + r.size && r.read) {
        const v = r.read(addr, size);
        this.dataLo = Number(v & 0xffffffffn);
        this.dataHi = Number((v >> 32n) & 0xffffffffn);
        return 0;
      }
    return 1;
  }
  write(addr: number, size: AccessSize, lo: number, hi: number): number {
    this.log.push({ op: 'w', addr, size, lo, hi });
    for (const r of this.regions)
      if (addr >= r.base && addr + size <= r.base + r.size && r.write) {
        r.write(addr, size, (BigInt(hi) << 32n) | BigInt(lo));
        return 0;
      }
    return 1;
  }
}

export type Insn = number | [string, Operands?];

/** Assemble a list of words / [name, operands] into little-endian bytes (16- or 32-bit each). */
export function assemble(prog: Insn[]): Uint8Array {
  const bytes: number[] = [];
  for (const i of prog) {
    const w = typeof i === 'number' ? i : encode(i[0], i[1] ?? {});
    const n = (w & 3) === 3 ? 4 : 2;
    for (let k = 0; k < n; k++) bytes.push((w >>> (8 * k)) & 0xff);
  }
  return Uint8Array.from(bytes);
}

export function makeCore(ramBytes = 1 << 20, mmio: FakeMmio = new FakeMmio()): { core: Core; mmio: FakeMmio } {
  const core = new Core({ ramBytes, mmio });
  core.setLatencies(latencyArrayDefault());
  return { core, mmio };
}

/** Load `prog` at RAM_BASE (+offset), set pc, run at most `maxInsns`; returns the run status. */
export function runProgram(core: Core, prog: Insn[] | Uint8Array, maxInsns = 10_000, offset = 0): RunStatus {
  const bytes = prog instanceof Uint8Array ? prog : assemble(prog);
  core.writePhys(RAM_BASE + offset, bytes);
  core.pc = BigInt(RAM_BASE + offset);
  core.insnLimit = core.instret + maxInsns;
  core.deadline = Infinity;
  return core.run();
}
