/**
 * The crossover experiment's Linux runs (issue 11): the shared Linux kernel with the xover
 * initramfs (scripts/xover-initramfs.ts: busybox + test/guests/xover/bin/xover) either on the bare
 * board (`native`: --bios builtin, timing mode) or as a VM of cyclevisor's VMM (`nested`: hgatp
 * G-stage; or `shadow`: the VMM's shadow tables; a 1-hart host with the modeled TLB on). The guest runs the workloads its command line
 * names and prints `xover: <workload> ops=N ns=T per_op=...` for each; at the default 1 GHz core
 * clock one guest ns is one cycle. `transparent_hugepage=` is on the command line of every run.
 *
 * `shadow`: the same VM with `paging: shadow` (hgatp Bare, the VMM's shadow tables; docs/PAGING.md).
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { threadId } from 'node:worker_threads';
import { join } from 'node:path';
import { VirtMachine } from '../board/virt.js';
import { bootLinux } from '../board/boot.js';
import { Host } from '../hypervisor/host.js';
import type { TimingConfig } from '../timing.js';
import { readTlbStats, type TlbStats } from '../tlbmodel.js';
import { buildXoverInitramfs } from '../../scripts/xover-initramfs.js';
import { repoRoot } from './tlbwalk.js';

export interface XoverParams {
  paging: 'native' | 'nested' | 'shadow';
  /** transparent_hugepage= on the guest command line. */
  thp: 'never' | 'always' | 'madvise';
  /** The workload list, init.sh's syntax: "fork:100,exec:50,mmap:100:16,tlb:200000:64". */
  ops: string;
}

export interface XoverResult {
  /** Per workload name: operations and guest ns (cycles at 1 GHz). */
  workloads: Record<string, { ops: number; ns: number }>;
  thp: string;
  exits: number;
  exitCycles: number;
  instructions: number;
  tlb: TlbStats;
  /** The VM's `paging.*` statistics (shadow misses, PT-write emulations, ...; empty natively). */
  paging: Record<string, number | string>;
  console: string;
}

export const SHARED_GUESTS = (): string => join(repoRoot(), '..', 'shared', 'guests');
const KERNEL = (): string => join(SHARED_GUESTS(), 'linux-6.1-rv64.Image');

/** The initramfs, built once per content into the temp directory (bootLinux takes a path). */
function initrdPath(): string {
  const buf = buildXoverInitramfs(SHARED_GUESTS());
  const dir = join(tmpdir(), 'cyclevisor-xover');
  mkdirSync(dir, { recursive: true });
  const p = join(dir, `initramfs-${createHash('sha256').update(buf).digest('hex').slice(0, 12)}.cpio`);
  if (!existsSync(p)) {
    const tmp = `${p}.${process.pid}.${threadId}.tmp`;
    writeFileSync(tmp, buf);
    // rename is atomic: concurrent workers never read a half-written file
    renameSync(tmp, p);
  }
  return p;
}

function parseOutput(out: string): Pick<XoverResult, 'workloads' | 'thp'> {
  const workloads: XoverResult['workloads'] = {};
  for (const m of out.matchAll(/^xover: (\w+) ops=(\d+) ns=(\d+) per_op=\d+\r?$/gm)) {
    workloads[m[1]!] = { ops: Number(m[2]), ns: Number(m[3]) };
  }
  const thp = /^xover: thp (.*?)\r?$/m.exec(out)?.[1] ?? '?';
  if (!/^xover: done\r?$/m.test(out) || /^xover: .* failed\r?$/m.test(out)) {
    throw new Error(`the xover guest did not finish its workloads: ${out.split('\n').filter((l) => l.startsWith('xover:')).join(' | ')}`);
  }
  return { workloads, thp };
}

export function runXover(p: XoverParams, timing: TimingConfig): XoverResult {
  const cmdline = `console=ttyS0 printk.time=0 transparent_hugepage=${p.thp} xover=${p.ops}`;
  const MiB = 1024 * 1024;
  if (p.paging === 'native') {
    const m = new VirtMachine({ mode: 'timing', timing, ramBytes: 256 * MiB });
    bootLinux(m, { bios: 'builtin', kernel: KERNEL(), initrd: initrdPath(), append: cmdline });
    const r = m.runSync({ maxCycles: 100_000_000_000 });
    const out = m.outputText();
    if (r.reason !== 'exit' || r.code !== 0) throw new Error(`native Linux did not power off: ${JSON.stringify(r)}`);
    m.close();
    return { ...parseOutput(out), exits: 0, exitCycles: 0, instructions: Number(m.core.instret), tlb: m.tlbStats(), paging: {}, console: out };
  }
  const host = new Host({ harts: 1, ramBytes: 512 * MiB }, { timing, mode: 'timing' });
  // No balloon in either mode (a shadow VM cannot have one): the guest sees the same devices.
  const vm = host.addVm({ name: 'xover', vcpus: 1, memoryBytes: 256 * MiB, kernel: KERNEL(), initrd: initrdPath(), cmdline, paging: p.paging, balloon: false });
  const r = host.run({ maxHostCycles: 100_000_000_000 });
  const out = vm.outputText();
  if (r.code !== 0) throw new Error(`the VM did not power off: ${JSON.stringify(r)}`);
  const s = vm.stats();
  const exits = Object.values(s.exits).reduce((a, e) => a + e.count, 0);
  const exitCycles = Object.values(s.exits).reduce((a, e) => a + e.cycles, 0);
  const tlb = readTlbStats(new DataView((host.core as unknown as { ex: { memory: WebAssembly.Memory } }).ex.memory.buffer));
  host.close();
  return { ...parseOutput(out), exits, exitCycles, instructions: s.instructions, tlb, paging: s.paging ?? {}, console: out };
}
