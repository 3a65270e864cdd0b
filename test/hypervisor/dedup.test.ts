/**
 * Issue 12 scope 2: page deduplication (src/hypervisor/dedup.ts; Linux KSM, ESX transparent page
 * sharing). Two bare-metal guests on one host fill 16 identical pages and leave the rest of their
 * RAM zero, spin (the scanner runs between rounds, in host time), then guest A writes one of its
 * merged pages and one of its zero pages; both read back and sum their pages.
 *  - merges happen (pages_shared / pages_sharing / ksm_zero_pages), in the safe order (write-protect,
 *    flush, compare, map read-only): a page whose content changed after it was hashed is not merged;
 *  - the guests' registers, clocks, instruction counts and output are bit-identical to a run without
 *    dedup (the guest pays nothing for a merge or for the write fault that breaks sharing);
 *  - the writer sees its own data, the other guest keeps the old content (copy on write).
 * Priv 1.12 §8.5 (G-stage leaves without W: a store is a store guest-page fault, cause 23).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostRunner } from '../../src/hypervisor/runner.js';
import type { HostConfig, VmConfig } from '../../src/hypervisor/config.js';
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li } from '../helpers/paging.js';
import { Host } from '../../src/hypervisor/host.js';
import type { HostSpec } from '../../src/hypervisor/types.js';
import type { Vm } from '../../src/hypervisor/vm.js';
import { formatHostStatsText } from '../../src/hypervisor/stats.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;
const DATA = RAM + 0x10_0000n; // 16 identical pages
const ZERO = RAM + 0x40_0000n; // a page of zeros
const PAGES = 16;
const SRST = 0x53525354n;

/** The guest: fill, spin, (A: write), sum; s4/s5/s6/s7 = results; SRST shutdown. */
function guest(writer: boolean): Uint8Array {
  const fill: Insn[] = [
    ...li(5, DATA), ...li(6, BigInt(PAGES * 512)), ...li(7, 0x0123_4567_89ab_cdefn),
    // loop: t3 = t0 & 0xfff; t4 = t2 + t3; sd t4; t0 += 8; t1--; bnez
    ['slli', { rd: 28, rs1: 5, imm: 52 }], ['srli', { rd: 28, rs1: 28, imm: 52 }],
    ['add', { rd: 29, rs1: 7, rs2: 28 }], ['sd', { rs1: 5, rs2: 29, imm: 0 }],
    ['addi', { rd: 5, rs1: 5, imm: 8 }], ['addi', { rd: 6, rs1: 6, imm: -1 }], ['bne', { rs1: 6, rs2: 0, imm: -24 }],
  ];
  const spin: Insn[] = [...li(6, 2_000_000n), ['addi', { rd: 6, rs1: 6, imm: -1 }], ['bne', { rs1: 6, rs2: 0, imm: -4 }]];
  const write: Insn[] = writer
    ? [
        ...li(5, DATA + 0x3000n), ...li(29, 0x5a5an), ['sd', { rs1: 5, rs2: 29, imm: 8 }], ...li(5, ZERO), ['sd', { rs1: 5, rs2: 29, imm: 16 }],
        // LR/SC on another merged page: the SC faults (the trap drops the reservation) and must
        // still succeed on the retry, as without dedup (s8 = 0).
        ...li(5, DATA + 0x5010n), ['lr.d', { rd: 30, rs1: 5 }], ['addi', { rd: 30, rs1: 30, imm: 1 }], ['sc.d', { rd: 24, rs1: 5, rs2: 30 }],
      ]
    : [];
  const sum: Insn[] = [
    ...li(5, DATA), ...li(6, BigInt(PAGES * 512)), ['addi', { rd: 21, rs1: 0, imm: 0 }],
    ['ld', { rd: 28, rs1: 5, imm: 0 }], ['add', { rd: 21, rs1: 21, rs2: 28 }],
    ['addi', { rd: 5, rs1: 5, imm: 8 }], ['addi', { rd: 6, rs1: 6, imm: -1 }], ['bne', { rs1: 6, rs2: 0, imm: -16 }],
    ...li(5, DATA + 0x3000n), ['ld', { rd: 20, rs1: 5, imm: 8 }],
    ...li(5, ZERO), ['ld', { rd: 22, rs1: 5, imm: 16 }],
    ['csrrs', { rd: 23, rs1: 0, imm: 0xc00 }], // cycle
  ];
  const main: Insn[] = [...fill, ...spin, ...write, ...sum, ...li(17, SRST), ...li(16, 0n), ...li(10, 0n), ...li(11, 0n), ['ecall'], ['jal', { rd: 0, imm: 0 }]];
  const code = new Uint8Array(0x1000);
  code.set(assemble(main), 0);
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: code, section: '.text' }] });
}

function run(dedup: HostSpec['dedup']) {
  const host = new Host({ harts: 1, ramBytes: 64 * MiB, ...(dedup ? { dedup } : {}) });
  const a = host.addVm({ name: 'a', vcpus: 1, memoryBytes: 8 * MiB, kernel: guest(true) });
  const b = host.addVm({ name: 'b', vcpus: 1, memoryBytes: 8 * MiB, kernel: guest(false) });
  // The most pages shared at once (while both guests spin, after their fill, before A's write).
  let mid: Record<string, number> | null = null;
  const r = host.run({
    maxHostCycles: 100_000_000,
    afterRound: (h) => {
      const s = h.dedup?.stats;
      if (s && (!mid || s.pages_sharing > mid.pages_sharing!)) mid = { ...s };
      return undefined;
    },
  });
  const view = (vm: Vm) => ({
    x: vm.vcpus[0]!.ctx.x.slice(),
    pc: vm.vcpus[0]!.ctx.pc,
    now: vm.now,
    insns: vm.stats().instructions,
    out: vm.outputText(),
    state: vm.state,
  });
  const res = { r, a: view(a), b: view(b), stats: host.dedup ? { ...host.dedup.stats } : null, mid: mid as Record<string, number> | null, host, vms: [a, b] };
  return res;
}

const dv0 = (vm: Vm, gpa: bigint) => new DataView(vm.memory.read(Number(gpa), 8).buffer).getBigUint64(0, true);

describe('page deduplication (issue 12 scope 2)', () => {
  it('merges identical and zero pages, guests bit-identical to a run without it, a write breaks sharing (copy on write)', () => {
    const plain = run(undefined);
    const dd = run({ pagesPerScan: 4096, scanInterval: 500_000 });
    expect(plain.r).toEqual({ code: 0 });
    expect(dd.r).toEqual({ code: 0 });
    // The guest pays nothing: same registers (s4 = own written dword, s5 = sum, s6 = zero page's, s7 = cycle CSR), clock, counts.
    expect(dd.a).toEqual(plain.a);
    expect(dd.b).toEqual(plain.b);
    // The writer sees its own data, the other the old content.
    expect(dd.a.x[20]).toBe(0x5a5an);
    expect(dd.b.x[20]).toBe(0x0123_4567_89ab_cdefn + 0x8n);
    expect(dd.a.x[22]).toBe(0x5a5an);
    expect(dd.a.x[24]).toBe(0n); // the SC succeeded
    expect(dv0(dd.vms[0]!, DATA + 0x5010n)).toBe(0x0123_4567_89ab_cdefn + 0x10n + 1n);
    expect(dv0(dd.vms[1]!, DATA + 0x5010n)).toBe(0x0123_4567_89ab_cdefn + 0x10n);
    expect(dd.b.x[22]).toBe(0n);
    expect(dd.a.x[21]).not.toBe(dd.b.x[21]);
    // Merges happened while the guests spun: the 32 data pages (16 per guest) are identical: one
    // shared frame, 31 sharers (KSM: pages_shared 1, pages_sharing 31); thousands of zero pages.
    // (Pages merged as zero pages before the fill wrote them were broken by the fill's stores.)
    const mid = dd.mid!;
    expect(mid).not.toBeNull();
    console.log('dedup mid-run:', JSON.stringify(mid), 'end:', JSON.stringify(dd.stats));
    expect(mid.pages_shared).toBe(1);
    expect(mid.pages_sharing).toBe(2 * PAGES - 1);
    expect(mid.ksm_zero_pages).toBeGreaterThan(2 * 1000);
    // A's stores broke sharing of two data pages and one zero page (faults the guest did not see).
    expect(dd.stats!.cow_breaks).toBeGreaterThanOrEqual(3);
    expect(dd.stats!.pages_sharing).toBe(mid.pages_sharing - 2);
    // The VMM sees each VM's own content too.
    const [va, vb] = dd.vms;
    const dv = (vm: Vm, gpa: bigint) => new DataView(vm.memory.read(Number(gpa), 8).buffer).getBigUint64(0, true);
    expect(dv(va!, DATA + 0x3008n)).toBe(0x5a5an);
    expect(dv(vb!, DATA + 0x3008n)).toBe(0x0123_4567_89ab_cdefn + 0x8n);
    dd.host.close();
    plain.host.close();
  });

  it('a VMM write (virtio DMA path) to a merged page unshares it first; other sharers keep the old content', () => {
    const dd = run({ pagesPerScan: 4096, scanInterval: 500_000 });
    expect(dd.r).toEqual({ code: 0 });
    const [va, vb] = dd.vms;
    const before = dd.host.dedup!.stats.pages_sharing;
    const page = Number(DATA + 0x5000n);
    expect(dd.host.dedup!.savedPages(vb!.memory) + dd.host.dedup!.savedPages(va!.memory)).toBe(before + dd.host.dedup!.stats.ksm_zero_pages);
    vb!.memory.write(page, Uint8Array.of(1, 2, 3, 4));
    expect(dd.host.dedup!.stats.pages_sharing).toBe(before - 1);
    expect([...vb!.memory.read(page, 4)]).toEqual([1, 2, 3, 4]);
    expect([...va!.memory.read(page, 4)]).toEqual([...new Uint8Array(new BigUint64Array([0x0123_4567_89ab_cdefn]).buffer).slice(0, 4)]);
    dd.host.close();
  });

  it('refuses shadow paging with dedup', () => {
    const host = new Host({ harts: 1, ramBytes: 64 * MiB, dedup: {} });
    expect(() => host.addVm({ name: 's', vcpus: 1, memoryBytes: 8 * MiB, kernel: guest(false), paging: 'shadow' })).toThrow(/shadow is not supported with host.dedup/);
    host.close();
  });
});

// Four identical Linux guests (the shared kernel + nolibc initramfs, ../shared/guests): the bar's
// measurement — memory saved, zero pages apart, the scanner's modeled host cycles — and the guests'
// console and counters equal to a run of the same guest without dedup.
const GUESTS = join(import.meta.dirname, '..', '..', '..', 'shared', 'guests');
const KERNEL = join(GUESTS, 'linux-6.1-rv64.Image');
const NOLIBC = join(GUESTS, 'initramfs-nolibc.cpio.gz');

describe.skipIf(!(existsSync(KERNEL) && existsSync(NOLIBC)))('dedup of four identical Linux guests (issue 12 bar)', () => {
  it('saves >= 40 % of their guest RAM (zero pages counted apart); each guest runs as without dedup', () => {
    const spec = (name: string) => ({ name, vcpus: 1, memoryBytes: 64 * MiB, kernel: KERNEL, initrd: NOLIBC, cmdline: 'console=ttyS0' });
    const alone = new Host({ harts: 1, ramBytes: 128 * MiB });
    const ref = alone.addVm(spec('ref'));
    expect(alone.run({ maxHostCycles: 2e9 })).toEqual({ code: 0 });

    const host = new Host({ harts: 2, ramBytes: 320 * MiB, dedup: { pagesPerScan: 2048, scanInterval: 1_000_000 } });
    const vms = ['a', 'b', 'c', 'd'].map((n) => host.addVm(spec(n)));
    let peak = { saved: 0, zero: 0, sharing: 0, shared: 0, at: 0 };
    const r = host.run({
      maxHostCycles: 8e9,
      afterRound: (h) => {
        const s = h.dedup!.stats;
        if (s.pages_sharing + s.ksm_zero_pages > peak.saved) {
          peak = { saved: s.pages_sharing + s.ksm_zero_pages, zero: s.ksm_zero_pages, sharing: s.pages_sharing, shared: s.pages_shared, at: Math.min(...h.hostTime) };
        }
        return undefined;
      },
    });
    expect(r).toEqual({ code: 0 });
    const s = host.dedup!.stats;
    const ram = 4 * 64 * MiB;
    const pct = (pages: number) => ((100 * pages * 4096) / ram).toFixed(1);
    console.log(
      `4 x 64 MiB nolibc Linux guests: peak saved ${peak.saved} pages = ${(peak.saved * 4096) / MiB} MiB (${pct(peak.saved)} % of guest RAM): ` +
        `zero pages ${peak.zero} (${pct(peak.zero)} %), other content ${peak.sharing} pages sharing ${peak.shared} frames (${pct(peak.sharing)} %), at host cycle ${peak.at}; ` +
        `end: ${JSON.stringify(s)}`,
    );
    expect((peak.saved * 4096) / ram).toBeGreaterThanOrEqual(0.4);
    expect(peak.zero).toBeGreaterThan(0);
    expect(peak.sharing).toBeGreaterThan(0);
    expect(s.cow_breaks).toBeGreaterThan(0);
    for (const vm of vms) {
      expect(vm.outputText()).toBe(ref.outputText());
      expect(vm.stats().instructions).toBe(ref.stats().instructions);
      expect(vm.now).toBe(ref.now);
    }
    host.close();
    alone.close();
  }, 600_000);
});

describe('dedup statistics text', () => {
  it('the end-of-run table has a dedup line in KSM names, saved memory = (pages_sharing + ksm_zero_pages) pages', () => {
    const stats = { 'balloon.maximum': 8192, 'ksm.pages_shared': 1, 'ksm.pages_sharing': 30, 'ksm.pages_unshared': 2, 'ksm.full_scans': 40, 'ksm.ksm_zero_pages': 482, 'ksm.cow_breaks': 18, 'ksm.scan_cycles': 8_500_224 };
    const text = formatHostStatsText([{ name: 'a', stats }, { name: 'b', stats }], { harts: 1, ramBytes: 64 * MiB });
    expect(text).toContain('dedup: pages_shared 1, pages_sharing 30, pages_unshared 2, ksm_zero_pages 482, full_scans 40, saved 2 MiB (12.5% of guest RAM), zero pages 1928 KiB, scanner 8.50M cycles');
  });
});

describe('dedup in ctl domstats (HostRunner)', () => {
  it('every VM has the host totals as ksm.* and its own ksm.vm_pages_saved; the table has the dedup line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cv-dedup-'));
    const files = [guest(true), guest(false)].map((elf, i) => {
      const f = join(dir, `g${i}.elf`);
      writeFileSync(f, elf);
      return f;
    });
    const vm = (name: string, kernel: string): VmConfig => ({
      name, vcpus: 1, memoryBytes: 8 * MiB, kernel, initrd: null, cmdline: null, weight: 256, cap: null, autostart: true, disks: [], shutdownTimeout: 10, paging: 'nested',
    });
    const cfg: HostConfig = { path: join(dir, 'x.yaml'), harts: 1, ramBytes: 64 * MiB, vms: [vm('a', files[0]!), vm('b', files[1]!)], dedup: { pagesPerScan: 4096, scanInterval: 500_000 } };
    const r = new HostRunner(cfg);
    expect(r.host.run({ maxHostCycles: 100_000_000 })).toEqual({ code: 0 });
    const s = await r.domstats();
    const d = r.host.dedup!.stats;
    for (const v of s) {
      expect(v.stats['ksm.pages_sharing']).toBe(d.pages_sharing);
      expect(v.stats['ksm.ksm_zero_pages']).toBe(d.ksm_zero_pages);
      expect(v.stats['ksm.full_scans']).toBe(d.full_scans);
    }
    expect(d.pages_sharing).toBeGreaterThan(0);
    expect((s[0]!.stats['ksm.vm_pages_saved'] as number) + (s[1]!.stats['ksm.vm_pages_saved'] as number)).toBe(d.pages_sharing + d.ksm_zero_pages);
    expect(formatHostStatsText(s, { harts: 1, ramBytes: 64 * MiB })).toMatch(/^dedup: pages_shared \d+, pages_sharing \d+, /m);
    r.close();
  });
});
