/**
 * `npm run bench:vmm`: cyclevisor's own VMM (src/hypervisor/) against the bare board.
 *   1. Linux 6.1 + nolibc initramfs to power-off: bare (`--bios builtin`) vs in a VM (wall time,
 *      guest MIPS, ratio). The nolibc init's 20-million-iteration loop dominates: this is also the
 *      "guest MIPS in a VM vs bare" figure of issue 10 (goal ≥ 70 %).
 *      The same VM with `paging: shadow` (issue 11: shadow misses and PT writes handled in the core).
 *   2. VM-exit round trip: a VS-mode loop of SBI base calls (ecall → VMM → guest), ns per call.
 * Environment: BENCH_RUNS (best of; default 3), GUESTS (the images' directory). `npm run bench`
 * (bench/index.ts) prints the same figures, best of 1 (BENCH_QUICK: a shorter exit loop).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { useOptimizingCompiler, setDefaultTier } from '../src/core.js';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { Host } from '../src/hypervisor/host.js';
import { buildElf } from '../test/helpers/elf-writer.js';
import { assemble, type Insn } from '../test/helpers/core-harness.js';
import { li } from '../test/helpers/paging.js';

// The interpreter's figures (the earlier issues' bars); the JIT row names its tier (issue 14).
setDefaultTier('interp');
useOptimizingCompiler();

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const guests = process.env.GUESTS ?? join(root, '..', 'shared', 'guests');
const KERNEL = join(guests, 'linux-6.1-rv64.Image');
const INITRD = join(guests, 'initramfs-nolibc.cpio.gz');
const MiB = 1024 * 1024;
const DONE = 'reboot: Power down';

/** The shared images the Linux figures need, or the first one missing. */
export function missingGuestImage(): string | null {
  return [KERNEL, INITRD].find((f) => !existsSync(f)) ?? null;
}

export interface Row { what: string; ok: boolean; insns: number; seconds: number }

function bare(): Row {
  let out = '';
  const m = new VirtMachine({ ramBytes: 256 * MiB, onOutput: (c) => (out += Buffer.from(c).toString('latin1')) });
  bootLinux(m, { bios: 'builtin', kernel: KERNEL, initrd: INITRD, append: 'console=ttyS0' });
  const t0 = performance.now();
  const r = m.runSync({ maxInsns: 1e9 });
  return { what: 'bare (--bios builtin)', ok: r.code === 0 && out.includes(DONE), insns: m.core.instret, seconds: (performance.now() - t0) / 1000 };
}

function inVm(paging: 'nested' | 'shadow' = 'nested'): Row {
  const host = new Host({ harts: 1, ramBytes: 512 * MiB });
  // No balloon in either mode (a shadow VM cannot have one): the guest sees the same devices.
  const vm = host.addVm({ name: 'b', vcpus: 1, memoryBytes: 256 * MiB, kernel: KERNEL, initrd: INITRD, cmdline: 'console=ttyS0', paging, balloon: false });
  const t0 = performance.now();
  const r = host.run({ maxHostCycles: 1e10 });
  const seconds = (performance.now() - t0) / 1000;
  host.close();
  return { what: paging === 'nested' ? 'in a VM (1 vCPU, 1 host hart)' : 'in a VM, paging: shadow', ok: r.code === 0 && vm.outputText().includes(DONE), insns: vm.stats().instructions, seconds };
}

function best(f: () => Row, runs: number): Row {
  let b: Row | null = null;
  for (let i = 0; i < runs; i++) {
    const r = f();
    if (!b || r.seconds < b.seconds) b = r;
  }
  return b!;
}

export function exitRoundTrip(calls: number): number {
  // a7 = 0x10 (base), a6 = 0 (get_spec_version); s1 counts down; then SRST shutdown.
  const prog: Insn[] = [
    ...li(9, BigInt(calls)),
    ...li(17, 0x10n), ...li(16, 0n), ['ecall'], ['addi', { rd: 9, rs1: 9, imm: -1 }], ['bne', { rs1: 9, rs2: 0, imm: -16 }],
    ...li(17, 0x53525354n), ...li(16, 0n), ...li(10, 0n), ...li(11, 0n), ['ecall'],
  ];
  const code = assemble(prog);
  const host = new Host({ harts: 1, ramBytes: 16 * MiB });
  const vm = host.addVm({ name: 'x', vcpus: 1, memoryBytes: 4 * MiB, kernel: buildElf({ entry: 0x8000_0000n, segments: [{ paddr: 0x8000_0000n, data: code, section: '.text' }] }) });
  const t0 = performance.now();
  const r = host.run({ maxHostCycles: 1e12 });
  const ns = ((performance.now() - t0) * 1e6) / calls;
  if (r.code !== 0 || vm.stats().exits.sbi.count !== calls + 1) throw new Error(`bench:vmm: exit loop failed: ${JSON.stringify(r)}`);
  host.close();
  return ns;
}

export interface VmmFigures {
  bare: Row;
  vm: Row;
  /** The same guest in a VM with `paging: shadow` (issue 11). */
  shadow: Row;
  /** Guest MIPS in a VM / bare (issue 10 goal: >= 0.7). */
  mipsRatio: number;
  /** Linux boot (to power-off) wall time in a VM / bare. */
  bootRatio: number;
  /** VM exit round trip (SBI base call: VS -> VMM -> VS), ns of host time. */
  exitNs: number;
}

/** The VMM's figures, best of `runs` (Linux boots bare and in a VM; the exit loop). */
export function vmmFigures(runs: number, exitCalls = 200_000): VmmFigures {
  const b = best(bare, runs);
  const v = best(() => inVm(), runs);
  const sh = best(() => inVm('shadow'), runs);
  let exitNs = Infinity;
  for (let i = 0; i < runs; i++) exitNs = Math.min(exitNs, exitRoundTrip(exitCalls));
  return { bare: b, vm: v, shadow: sh, mipsRatio: v.insns / v.seconds / (b.insns / b.seconds), bootRatio: v.seconds / b.seconds, exitNs };
}

export function printVmmFigures(f: VmmFigures): void {
  console.log('Linux 6.1 + nolibc initramfs to power-off');
  console.log('  what                              ok   Minsns   wall s    MIPS');
  for (const r of [f.bare, f.vm, f.shadow]) {
    console.log(`  ${r.what.padEnd(34)}${(r.ok ? 'yes' : 'NO').padEnd(5)}${(r.insns / 1e6).toFixed(1).padStart(6)}  ${r.seconds.toFixed(3).padStart(7)}  ${(r.insns / r.seconds / 1e6).toFixed(1).padStart(6)}`);
  }
  console.log(`  guest MIPS in a VM / bare: ${(f.mipsRatio * 100).toFixed(0)} %   (Linux boot wall time VM / bare: ${f.bootRatio.toFixed(2)})`);
  console.log(`VM exit round trip (SBI base call, VS → VMM → VS): ${f.exitNs.toFixed(0)} ns`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const missing = missingGuestImage();
  if (missing !== null) {
    console.error(`bench:vmm: ${missing} not found (set GUESTS to the guest image directory)`);
    process.exit(2);
  }
  printVmmFigures(vmmFigures(Math.max(1, Number(process.env.BENCH_RUNS ?? 3))));
}
