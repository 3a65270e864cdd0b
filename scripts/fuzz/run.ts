/**
 * Running a batch of programs on QEMU and on cyclevisor.
 *
 * The same ELF (test/guests/bin/fuzz-rt.elf with the programs appended as a segment, see
 * scripts/fp-diff/elf.ts) runs on
 *   qemu-system-riscv64 -M virt -cpu QEMU_CPU -m 256M -nographic -bios none -icount shift=0 \
 *     -monitor none -serial stdio -kernel X
 * and on cyclevisor's virt board in this process (VirtMachine, 256 MiB, the release core.wasm) —
 * the same board `cyclevisor run X --ram 256M` builds, without a process start per batch.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtMachine } from '../../src/board/virt.js';
import { appendSegment } from '../fp-diff/elf.js';
import { runTo, type RunResult } from '../fp-diff/child.js';
import { encodeBatch } from './batch.js';
import type { Program } from './gen.js';
import { IN } from './layout.js';
import type { CpuOptions } from '../../src/board/cpu.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RT_ELF = join(ROOT, 'test/guests/bin/fuzz-rt.elf');
export const QEMU = process.env.QEMU ?? 'qemu-system-riscv64';
/**
 * QEMU 7.2's rv64 CPU with the extensions both machines implement: Zba/Zbb/Zbc/Zbs, Zbkb/Zbkc/Zbkx,
 * Zfh/Zfhmin and Svinval on (QEMU 7.2 has them, Zfh under the name `Zfh`; its rv64 default leaves the Zbk* and Svinval off). H is off
 * on both (gen.ts FUZZ_ROWS says why). QEMU 7.2 has no Zicond, Zicbom or Zicboz: cyclevisor turns
 * them off for the fuzzer (FUZZ_CPU), so their encodings are illegal on both. Svnapot and Svpbmt
 * are off on both too: QEMU 7.2 with them on ignores PTE bits 60:54 and accepts PBMT = 3 and
 * PBMT without menvcfg.PBMTE (the spec makes each a page fault; test/isa/svnapot-svpbmt.test.ts),
 * while with them off both machines fault on every high PTE bit. marchid/mimpid:
 * QEMU 7.2 reports its version (0x70216) in both; any value is allowed (Priv 3.1.3, 3.1.4) and
 * cyclevisor reads 0, so QEMU is told to read 0 too (a read into a register would otherwise
 * differ everywhere after it).
 */
export const QEMU_CPU =
  process.env.FUZZ_QEMU_CPU ?? 'rv64,h=false,zba=true,zbb=true,zbc=true,zbs=true,zbkb=true,zbkc=true,zbkx=true,svinval=true,Zfh=true,Zfhmin=true,marchid=0,mimpid=0';
/** cyclevisor's side of QEMU_CPU. */
// Sscofpmf: off as in QEMU 7.2's rv64 default (sscofpmf=false), so scountovf and the LCOFI bits
// are absent on both. Zfa: QEMU 7.2 has none (QEMU 8.0 added it), so its encodings are illegal on both.
export const FUZZ_CPU: CpuOptions = { h: false, ext: { Zicond: false, Zicbom: false, Zicboz: false, Svnapot: false, Svpbmt: false, Sscofpmf: false, Zfa: false } };
export const QEMU_ARGS = ['-M', 'virt', '-cpu', QEMU_CPU, '-m', '256M', '-nographic', '-bios', 'none', '-icount', 'shift=0', '-monitor', 'none', '-serial', 'stdio', '-kernel'];
export const RAM_BYTES = 256 << 20;

export function buildElf(progs: readonly Program[], flags = 0n): Uint8Array {
  return appendSegment(readFileSync(RT_ELF), IN, encodeBatch(progs, flags));
}

export interface MachineRun {
  out: string;
  ok: boolean;
  /** Why the run failed (exit status, error). */
  error?: string;
  /** Instructions the machine retired in the whole run (cyclevisor only). */
  retired?: bigint;
}

export function runCyclevisor(elf: Uint8Array): MachineRun {
  const m = new VirtMachine({ ramBytes: RAM_BYTES, cpu: FUZZ_CPU });
  m.loadElf(elf, 'fuzz.elf');
  const r = m.runSync({ maxInsns: 2_000_000_000 });
  const out = m.outputText();
  const ok = r.reason === 'exit' && r.code === 0;
  return { out, ok, error: ok ? undefined : JSON.stringify(r) };
}

export async function runQemu(elfPath: string, dir: string): Promise<MachineRun> {
  const r: RunResult = await runTo(QEMU, [...QEMU_ARGS, elfPath], dir, 'qemu', 300);
  const ok = r.code === 0;
  return { out: r.out, ok, error: ok ? undefined : `qemu exited with ${r.code}: ${(r.err || r.out).trim().split('\n').slice(-3).join(' | ')}` };
}

export function qemuVersion(): string | null {
  const q = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (q.status !== 0) return null;
  return q.stdout.split('\n')[0]!.trim();
}
