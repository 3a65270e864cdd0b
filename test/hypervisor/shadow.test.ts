/**
 * Issue 11 scope 1 and 2: shadow paging (`paging: shadow`; assembly/shadow.ts, src/hypervisor/shadow.ts,
 * docs/PAGING.md).
 *  - A bare-metal VS program with its own Sv39 tables: satp emulated (hstatus.VTVM), shadow misses
 *    under a guest gigapage and 4 KiB pages, guest-visible A/D set on first access/write, a real
 *    guest page fault injected, a page-table write emulated (the shadow follows it without an
 *    sfence.vma: the PT page is write-protected), MMIO through a guest mapping, and the wall: a
 *    guest PTE naming the host-physical address of another VM's frame reaches no frame of that
 *    VM (an access fault: outside the VM's RAM nothing answers).
 *  - The shared Linux kernel under shadow paging: nolibc and the busybox autotest (2 vCPUs) print
 *    exactly what they print under nested paging (printk.time=0); counters; a tiny shadow_pages
 *    pool (reclaims) changes nothing the guest sees; same run, same counts.
 * Priv 1.12 §4.3.2 (the walk, A/D), §4.2.1 (sfence.vma), ch. 8 (hstatus.VTVM, hedeleg).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li, V, R, W, X, A, D } from '../helpers/paging.js';
import { Host } from '../../src/hypervisor/host.js';
import type { Vm } from '../../src/hypervisor/vm.js';
import type { VmSpec } from '../../src/hypervisor/types.js';
import { applyTlbModel } from '../../src/tlbmodel.js';
import { defaultTiming } from '../../src/timing.js';
import { createHost } from '../../src/hypervisor/runner.js';
import { loadHostConfig } from '../../src/hypervisor/config.js';
import { formatHostStatsText } from '../../src/hypervisor/stats.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;
const csrr = (rd: number, csr: number): Insn => ['csrrs', { rd, rs1: 0, imm: csr }];
const csrw = (csr: number, rs1: number): Insn => ['csrrw', { rd: 0, rs1, imm: csr }];
const ecall = (eid: bigint, fid: number, a0: bigint, a1 = 0n): Insn[] => [...li(17, eid), ...li(16, BigInt(fid)), ...li(10, a0), ...li(11, a1), ['ecall']];
const shutdown: Insn[] = [...ecall(0x53525354n, 0, 0n, 0n), ['jal', { rd: 0, imm: 0 }]];
/** Handler: s2 = scause, s3 = stval; skip the faulting 4-byte instruction; sret. */
const SKIP_HANDLER: Insn[] = [csrr(18, 0x142), csrr(19, 0x143), csrr(5, 0x141), ['addi', { rd: 5, rs1: 5, imm: 4 }], csrw(0x141, 5), ['sret']];

// The guest's tables (guest-physical): root, one level-1 and one level-0 table; data pages.
const ROOT = RAM + 0x10000n;
const L1 = RAM + 0x11000n;
const L0 = RAM + 0x12000n;
const PAGE_A = RAM + 0x20000n;
const PAGE_B = RAM + 0x21000n;
const VA = 0x4000_0000n; // root[1] → L1[0] → L0[0..2]
const pte = (pa: bigint, flags: bigint): bigint => ((pa >> 12n) << 10n) | flags;

/** The program: Sv39 on, exercise the shadow, shut down. `foreignGpa`: L0[1]'s target. */
function pagingGuest(foreignGpa: bigint): Uint8Array {
  const main: Insn[] = [
    ...li(5, RAM + 0x800n), csrw(0x105, 5), // vstvec
    ...li(5, (8n << 60n) | (5n << 44n) | (ROOT >> 12n)), csrw(0x180, 5), // satp = Sv39, ASID 5 (emulated)
    csrr(20, 0x180), // s4 = satp as the guest reads it back
    ['sfence.vma', { rs1: 0, rs2: 0 }],
    ...li(6, VA), ...li(7, 0x1234n), ['sd', { rs1: 6, rs2: 7, imm: 0 }], // a write to a clean, unaccessed page
    ...li(6, L0), ['ld', { rd: 21, rs1: 6, imm: 0 }], // s5 = L0[0] (A and D now set, by "hardware")
    ...li(6, VA + 0x1000n), ['ld', { rd: 22, rs1: 6, imm: 0 }], ['addi', { rd: 23, rs1: 18, imm: 0 }], // s7 = cause (foreign GPA)
    ...li(18, 0n), ...li(6, VA + 0x2000n), ['ld', { rd: 24, rs1: 6, imm: 0 }], ['addi', { rd: 25, rs1: 18, imm: 0 }], // s9 = cause (invalid PTE)
    // Page-table write through the identity mapping: L0[0] → PAGE_B. No sfence.vma on purpose:
    // the shadow must follow the emulated write by itself.
    ...li(6, L0), ...li(7, pte(PAGE_B, V | R | W | A | D)), ['sd', { rs1: 6, rs2: 7, imm: 0 }],
    ...li(6, VA), ['ld', { rd: 26, rs1: 6, imm: 0 }], // s10 = PAGE_B's word
    // The same PTE back to PAGE_A with an AMO (Linux's ptep_get_and_clear is an amoswap.d): s11
    // = the old PTE, then t3 = PAGE_A's word through VA.
    ...li(6, L0), ...li(7, pte(PAGE_A, V | R | W | A | D)), ['amoswap.d', { rd: 27, rs1: 6, rs2: 7 }],
    ...li(6, VA), ['ld', { rd: 28, rs1: 6, imm: 0 }],
    ...li(6, 0x1000_0000n), ...li(7, 0x53n), ['sb', { rs1: 6, rs2: 7, imm: 0 }], // 'S' to the UART (MMIO via a guest mapping)
    ...shutdown,
  ];
  const code = new Uint8Array(0x1000);
  code.set(assemble(main), 0);
  code.set(assemble(SKIP_HANDLER), 0x800);
  const u64s = (vals: Array<[number, bigint]>): Uint8Array => {
    const b = new Uint8Array(0x1000);
    const v = new DataView(b.buffer);
    for (const [i, x] of vals) v.setBigUint64(i * 8, x, true);
    return b;
  };
  const root = u64s([
    [0, pte(0n, V | R | W | A | D)], // VA 0 .. 1 GiB: devices, identity (a gigapage)
    [1, pte(L1, V)],
    [2, pte(RAM, V | R | W | X | A | D)], // VA 0x8000_0000: the VM's RAM, identity (a gigapage)
  ]);
  const l1 = u64s([[0, pte(L0, V)]]);
  const l0 = u64s([
    [0, pte(PAGE_A, V | R | W)], // A = D = 0: the guest expects them set on first access / write
    [1, pte(foreignGpa, V | R | W | A | D)],
  ]);
  const data = u64s([[0, 0xaaaan]]);
  const dataB = u64s([[0, 0x5678n]]);
  return buildElf({
    entry: RAM,
    segments: [
      { paddr: RAM, data: code, section: '.text' },
      { paddr: ROOT, data: root }, { paddr: L1, data: l1 }, { paddr: L0, data: l0 },
      { paddr: PAGE_A, data }, { paddr: PAGE_B, data: dataB },
    ],
  });
}

const SECRET = 0x5ec2e7_5ec2e7n;
/** A VM that writes a secret at the start of its RAM and spins (then shuts down). */
function secretGuest(): Uint8Array {
  const main: Insn[] = [
    ...li(6, RAM), ...li(7, SECRET), ['sd', { rs1: 6, rs2: 7, imm: 0 }],
    ...li(12, 200_000n), ['addi', { rd: 12, rs1: 12, imm: -1 }], ['bne', { rs1: 12, rs2: 0, imm: -4 }],
    ...shutdown,
  ];
  const code = new Uint8Array(0x1000);
  code.set(assemble(main), 0);
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: code, section: '.text' }] });
}

describe('shadow paging: a bare-metal guest with its own page tables', () => {
  function run(foreign: bigint) {
    const host = new Host({ harts: 1, ramBytes: 64 * MiB });
    const a = host.addVm({ name: 'a', vcpus: 1, memoryBytes: 8 * MiB, kernel: pagingGuest(foreign), paging: 'shadow', shadowPages: 64 });
    const b = host.addVm({ name: 'b', vcpus: 1, memoryBytes: 4 * MiB, kernel: secretGuest() });
    return { host, a, b };
  }

  it('satp and sfence.vma emulated, misses filled, A/D set, a guest fault injected, a PT write followed, MMIO; the wall holds', () => {
    // The host-physical address of VM b's first RAM frame (the same allocation as the real run).
    const dry = run(0n);
    const bHpa = BigInt(dry.b.memory.chunks[0]!);
    dry.host.close();
    expect(bHpa >= RAM + 8n * BigInt(MiB)).toBe(true); // outside a's guest-physical RAM

    const { host, a, b } = run(bHpa);
    expect(host.run({ maxHostCycles: 200_000_000 })).toEqual({ code: 0 });
    expect(a.crashMessage).toBeNull();
    expect(a.outputText()).toBe('S');
    const c = a.vcpus[0]!.ctx;
    expect(c.x[20]).toBe((8n << 60n) | (5n << 44n) | (ROOT >> 12n)); // the guest's satp, not the shadow's
    expect(c.x[21]! & (A | D)).toBe(A | D); // guest-visible A/D
    expect(c.x[23]).toBe(5n); // load access fault: that GPA is no RAM of a's and no device
    expect(c.x[22]).not.toBe(SECRET);
    expect(c.x[25]).toBe(13n); // load page fault from the guest's own invalid PTE
    expect(c.x[26]).toBe(0x5678n); // the PT write took effect without an sfence.vma
    expect(c.x[27]).toBe(pte(PAGE_B, V | R | W | A | D)); // the AMO on the PTE: emulated too
    expect(c.x[28]).toBe(0x1234n);
    // b's secret is where b put it, and a never saw it.
    expect(b.memory.read(Number(RAM), 8)).toEqual(new Uint8Array(new BigUint64Array([SECRET]).buffer));
    const p = a.stats().paging!;
    expect(p['paging.mode']).toBe('shadow');
    expect(p['paging.shadow.exits.satp']).toBe(2); // csrw + csrr
    expect(p['paging.shadow.exits.sfence']).toBe(1);
    expect(p['paging.shadow.pt_writes']).toBe(2);
    // The invalid PTE is the guest's own fault; the foreign GPA is outside a's RAM: an MMIO exit
    // that no device answers (an access fault injected, as under nested paging), and the UART.
    expect(p['paging.shadow.guest_faults']).toBe(1);
    expect(p['paging.shadow.exits.guest_faults']).toBe(1);
    expect(p['paging.shadow.mmio']).toBe(2);
    expect(a.stats().exits.fault.count).toBe(2);
    expect(p['paging.shadow.ad_updates']).toBe(1);
    expect(p['paging.shadow.misses']).toBeGreaterThanOrEqual(4); // code, L0 via identity, VA, the UART page...
    expect(p['paging.shadow.pages']).toBeLessThanOrEqual(64);
    // Each miss and PT write cost an exit's round trip (the trap, vmm.exitCycles, vmm.entryCycles).
    const t = defaultTiming();
    expect(p['paging.shadow.cycles']).toBe((Number(p['paging.shadow.misses']) + 2) * (t.latency.trap + t.vmm.exitCycles + t.vmm.entryCycles));
    expect(b.stats().paging!['paging.mode']).toBe('nested');
    host.close();
  });
});

describe('shadow paging through the VM file (cyclevisor host)', () => {
  it('paging: shadow and shadow_pages reach the VMM; domstats and the text table carry the counters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cv-shadow-'));
    writeFileSync(join(dir, 'guest.elf'), pagingGuest(RAM + 0x100_0000n)); // L0[1]: past its 8 MiB
    writeFileSync(
      join(dir, 'vms.yaml'),
      'host: { harts: 1, ram: 64M, mode: timing }\nvms:\n  - name: pt\n    memory: 8M\n    kernel: guest.elf\n    paging: shadow\n    shadow_pages: 100\n',
    );
    const runner = createHost(loadHostConfig(join(dir, 'vms.yaml')));
    let out = '';
    const r = await runner.run({ maxInsns: null, maxCycles: 100_000_000, onConsole: (_n, b) => (out += Buffer.from(b).toString('latin1')) });
    expect(r.end).toBe('done');
    expect(out).toBe('S');
    const [st] = await runner.domstats();
    expect(st!.stats).toMatchObject({ 'paging.mode': 'shadow', 'paging.shadow.pt_writes': 2, 'paging.shadow.pages_limit': 100, 'paging.walk_refs.g': 0 });
    expect(st!.stats['paging.walks']).toBeGreaterThan(0); // host.mode: timing
    const text = formatHostStatsText([st!], { harts: 1, ramBytes: 64 * MiB });
    expect(text).toMatch(/^pt shadow paging: \d+ misses, 2 PT writes \([\d,.KM]+ cycles\), 1 flushes, 0 rebuilds, pages \d+\/100 peak$/m);
    runner.host.close();
  });
});

const GUESTS = join(import.meta.dirname, '..', '..', '..', 'shared', 'guests');
const KERNEL = join(GUESTS, 'linux-6.1-rv64.Image');
const NOLIBC = join(GUESTS, 'initramfs-nolibc.cpio.gz');
const BUSYBOX = join(GUESTS, 'initramfs-busybox.cpio.gz');
const have = existsSync(KERNEL) && existsSync(NOLIBC) && existsSync(BUSYBOX);

/**
 * One VM alone on a 1-hart host; `timing`: the modeled TLB on (walk counters). The specs compared
 * across paging modes say `balloon: false`: a shadow VM cannot have the virtio-balloon every nested
 * VM has by default (issue 12), and the guests must see the same devices.
 */
function linux(spec: Omit<VmSpec, 'name' | 'kernel'>, timing = false): Vm {
  const host = new Host({ harts: 1, ramBytes: 512 * MiB });
  if (timing) applyTlbModel(host.core as unknown as Parameters<typeof applyTlbModel>[0], defaultTiming().tlb, true);
  const vm = host.addVm({ name: 'g', kernel: KERNEL, ...spec });
  expect(host.run({ maxHostCycles: 8e9 })).toEqual({ code: 0 });
  expect(vm.crashMessage).toBeNull();
  host.close();
  return vm;
}

describe.skipIf(!have)('shadow paging: the shared Linux kernel', () => {
  it('nolibc: the same console as nested paging; walks and shadow counters (timing mode)', () => {
    const spec = { vcpus: 1, memoryBytes: 128 * MiB, initrd: NOLIBC, cmdline: 'console=ttyS0 printk.time=0', balloon: false };
    const nested = linux(spec, true);
    const shadow = linux({ ...spec, paging: 'shadow' }, true);
    expect(shadow.outputText()).toContain('init: loop done 7abae2d0a1937501');
    expect(shadow.outputText()).toBe(nested.outputText());
    const n = nested.stats().paging!;
    const s = shadow.stats().paging!;
    // Nested: two-dimensional walks (Sv57 on Sv39x4 here: the kernel picks the largest mode).
    expect(n['paging.walks']).toBeGreaterThan(1000);
    expect(n['paging.refs_per_walk.g']).toBeGreaterThan(0);
    // Shadow: one-dimensional walks over the shadow (hgatp Bare), no G-stage references.
    expect(s['paging.walks']).toBeGreaterThan(1000);
    expect(s['paging.walk_refs.g']).toBe(0);
    expect(s['paging.refs_per_walk.total']).toBeLessThan(Number(n['paging.refs_per_walk.total']));
    for (const k of ['misses', 'pt_writes', 'flushes', 'walk_refs', 'activations']) expect(s[`paging.shadow.${k}`], k).toBeGreaterThan(0);
    // Every device access is still an exit (the UART's), as many as under nested paging.
    expect(shadow.stats().exits.mmio.count).toBe(nested.stats().exits.mmio.count);
    expect(s['paging.shadow.exits.mmio']).toBe(shadow.stats().exits.mmio.count);
  }, 180_000);

  it('nolibc with a 16-page shadow pool: roots reclaimed, the guest sees nothing', () => {
    const spec = { vcpus: 1, memoryBytes: 128 * MiB, initrd: NOLIBC, cmdline: 'console=ttyS0 printk.time=0', balloon: false };
    const big = linux({ ...spec, paging: 'shadow' });
    const small = linux({ ...spec, paging: 'shadow', shadowPages: 16 });
    expect(small.outputText()).toBe(big.outputText());
    const s = small.stats().paging!;
    expect(Number(s['paging.shadow.reclaims']) + Number(s['paging.shadow.rebuilds'])).toBeGreaterThan(0);
    expect(s['paging.shadow.pages_peak']).toBeLessThanOrEqual(16);
    expect(Number(big.stats().paging!['paging.shadow.pages_peak'])).toBeGreaterThan(16);
  }, 120_000);

  it('a shadow VM beside a nested VM on a 2-hart host: both finish; the shadow VM runs as it does alone', () => {
    const spec = { vcpus: 1, memoryBytes: 128 * MiB, initrd: NOLIBC, cmdline: 'console=ttyS0 printk.time=0', balloon: false };
    const alone = linux({ ...spec, paging: 'shadow' });
    const host = new Host({ harts: 2, ramBytes: 512 * MiB });
    const n = host.addVm({ name: 'n', kernel: KERNEL, ...spec });
    const s = host.addVm({ name: 's', kernel: KERNEL, ...spec, paging: 'shadow' });
    expect(host.run({ maxHostCycles: 8e9 })).toEqual({ code: 0 });
    expect(n.outputText()).toBe(alone.outputText());
    expect(s.outputText()).toBe(alone.outputText());
    // hedeleg and hgatp are per vCPU: the nested VM's guest-page faults still reach the VMM as
    // such, the shadow VM's page faults as shadow events; the counts are the lone run's (a second
    // run with the same guest and config: also the determinism check).
    expect(n.stats().exits.mmio.count).toBe(s.stats().exits.mmio.count);
    expect([s.now, s.stats().instructions, s.stats().paging]).toEqual([alone.now, alone.stats().instructions, alone.stats().paging]);
    host.close();
  }, 180_000);

  it("the issue's bar: the busybox autotest prints exactly what it prints under nested paging (1 vCPU)", () => {
    const spec = { vcpus: 1, memoryBytes: 256 * MiB, initrd: BUSYBOX, cmdline: 'console=ttyS0 autotest printk.time=0', balloon: false };
    const nested = linux(spec);
    const shadow = linux({ ...spec, paging: 'shadow' });
    expect(shadow.outputText()).toContain('AUTOTEST DONE');
    expect(shadow.outputText()).toBe(nested.outputText());
    const s = shadow.stats().paging!;
    expect(s['paging.shadow.guest_faults']).toBeGreaterThan(100); // user-space demand paging, injected
    expect(s['paging.shadow.pt_writes']).toBeGreaterThan(1000);
    // Freed page directories of exited processes give way (no rebuild of every shadow).
    expect(s['paging.shadow.stale_roots']).toBeGreaterThan(0);
    expect(s['paging.shadow.rebuilds']).toBe(0);
  }, 240_000);

  it('the busybox autotest on 2 vCPUs: the same lines; the userland part in the same order', () => {
    // With two CPUs the kernel's asynchronous messages ("Unpacking initramfs...", "random: crng
    // init done") land where the other CPU happens to be, and the two modes cost different cycles:
    // the boot log may interleave differently, its lines may not.
    const spec = { vcpus: 2, memoryBytes: 256 * MiB, initrd: BUSYBOX, cmdline: 'console=ttyS0 autotest printk.time=0', balloon: false };
    const nested = linux(spec).outputText();
    const vm = linux({ ...spec, paging: 'shadow' });
    const shadow = vm.outputText();
    // Remote TLB shootdowns (SBI RFENCE) reached the shadow VM's fence path.
    expect(vm.stats().paging!['paging.shadow.remote_fences']).toBeGreaterThan(0);
    expect(shadow).toContain('smp: Brought up 1 node, 2 CPUs');
    expect(shadow).toContain('AUTOTEST DONE');
    const lines = (t: string): string[] => t.split('\n').sort();
    expect(lines(shadow)).toEqual(lines(nested));
    const user = (t: string): string => t.slice(t.indexOf('Run /init as init process'));
    expect(user(shadow)).toBe(user(nested));
  }, 240_000);
});
