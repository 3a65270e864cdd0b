/**
 * Issue 9's Bar: Linux's own KVM running a nested guest inside cyclevisor.
 *
 * The outer machine boots the shared Linux 6.1 kernel (builtin SBI, H extension on) with an
 * initramfs that scripts/kvm-initramfs.ts derives from the shared busybox image: our static KVM VMM
 * (test/guests/kvm/vmm.c) first runs a bare-metal VS-mode program (SBI console, MMIO to a device
 * the VMM emulates, SRST shutdown), then the shared kernel itself with the nolibc initramfs and a
 * device tree it generates (`console=hvc0`: SBI legacy putchar, forwarded by KVM as
 * KVM_EXIT_RISCV_SBI). The nested /init prints `init: loop done 7abae2d0a1937501` and powers its
 * VM off (SRST -> KVM_EXIT_SYSTEM_EVENT); then the outer Linux powers off: exit 0. In fast and in
 * timing mode. Nothing here is simulated around KVM: arch/riscv/kvm in the guest kernel does all
 * of it on the core's H extension.
 *
 * The same initramfs runs on QEMU 7.2 (`-cpu rv64,h=true`); see test/guests/kvm/README.md.
 *
 * Skipped (and said so) when the guest images are missing or when this core.wasm has no H
 * extension (no setHypervisor export): then there is no /dev/kvm to test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { coreSupportsHypervisor, linuxCpuinfoIsa, resolveCpu } from '../src/board/cpu.js';
import { useOptimizingCompiler } from '../src/core.js';
import { buildKvmInitramfs, parseCpio } from '../scripts/kvm-initramfs.js';
import { haveImages, image } from './helpers/guests.js';

const HAVE_IMAGES = haveImages('linux-6.1-rv64.Image', 'initramfs-busybox.cpio.gz', 'initramfs-nolibc.cpio.gz');
const HAVE_H = coreSupportsHypervisor();
if (!HAVE_IMAGES) console.warn('test/kvm.test.ts: nested KVM skipped: no guest images (../shared/guests)');
if (!HAVE_H) console.warn('test/kvm.test.ts: nested KVM skipped: this core.wasm has no H extension (setHypervisor)');

useOptimizingCompiler();

const dir = mkdtempSync(join(tmpdir(), 'cyclevisor-kvm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAVE_IMAGES)('the nested-KVM initramfs (scripts/kvm-initramfs.ts)', () => {
  it('is the busybox tree with our /init, the VMM, the VS program, the kernel and the nolibc initramfs', () => {
    const entries = parseCpio(buildKvmInitramfs());
    const names = entries.map((e) => e.name);
    for (const n of ['init', 'bin/busybox', 'kvm/kvm-vmm', 'kvm/vs-hello.bin', 'kvm/Image', 'kvm/initramfs-nolibc.cpio.gz']) {
      expect(names).toContain(n);
    }
    // One /init, and it is ours (the busybox one is dropped, not shadowed).
    expect(names.filter((n) => n === 'init')).toHaveLength(1);
    const init = Buffer.from(entries.find((e) => e.name === 'init')!.data).toString();
    expect(init).toContain('/kvm/kvm-vmm --bin /kvm/vs-hello.bin');
    const vmm = entries.find((e) => e.name === 'kvm/kvm-vmm')!;
    expect(vmm.mode).toBe(0o100755);
    // A static RISC-V ELF (e_machine 243).
    expect(Buffer.from(vmm.data.subarray(0, 4)).toString('latin1')).toBe('\x7fELF');
    expect(Buffer.from(vmm.data).readUInt16LE(18)).toBe(243);
    // Deterministic: the same inputs give the same bytes.
    expect(buildKvmInitramfs().equals(buildKvmInitramfs())).toBe(true);
  });
});

/** Boots the outer Linux with the nested-KVM initramfs; returns the console text and the result. */
function runNested(mode: 'fast' | 'timing', harts: number, append: string) {
  const initrd = join(dir, `initramfs-kvm-${mode}-${harts}.cpio`);
  writeFileSync(initrd, buildKvmInitramfs());
  const m = new VirtMachine({ ramBytes: 512 << 20, mode, harts });
  bootLinux(m, { bios: 'builtin', kernel: image('linux-6.1-rv64.Image'), initrd, append });
  const r = m.runSync({ maxInsns: 20_000_000_000 });
  // The outer console is a tty (ttyS0, ONLCR): lines end in \r\n.
  return { out: m.outputText().replace(/\r\n/g, '\n'), r, instret: m.core.instret, cycles: m.core.cycles };
}

/** What every nested run must print, in this order, and exit 0. */
function expectNestedRun(out: string, r: unknown): void {
  // The outer Linux: KVM found the H extension (arch/riscv/kvm/main.c) and /proc/cpuinfo says h.
  expect(out).toContain('kvm [1]: hypervisor extension available');
  // (the default machine: H and every issue-15 extension on; Linux 6.1 lists svinval/svpbmt/zicbom)
  expect(out).toMatch(new RegExp(`^isa\\s+: ${linuxCpuinfoIsa(resolveCpu({}, true))}$`, 'm'));
  expect(out).toContain('kvm-init: outer Linux up, kernel 6.1.192');
  // (a) the bare-metal VS-mode program: SBI console, MMIO served by the VMM, SRST shutdown.
  expect(out).toContain('vs: hello from VS-mode\n');
  expect(out).toContain('vs: mmio ok\n');
  expect(out).toContain('vs: sbi srst present, shutting down\n');
  expect(out).toMatch(/^vmm: guest shut down after \d+ exits \(\d+ SBI, 9 MMIO\)$/m);
  expect(out).toContain('kvm-init: vs-hello exit 0');
  // (b) the nested Linux on hvc0: its own boot log, its /init, its power-off through KVM.
  expect(out).toContain('Machine model: cyclevisor kvm-vmm');
  expect(out).toContain('Kernel command line: console=hvc0');
  expect(out).toContain('init: hello from userspace');
  expect(out).toContain('init: loop done 7abae2d0a1937501');
  expect(out).toContain('init: powering off');
  expect(out).toContain('kvm-init: nested linux exit 0');
  expect(out).toContain('kvm-init: done');
  // The nested lines come before the outer power-off, which ends the run with exit 0.
  expect(out.indexOf('init: loop done 7abae2d0a1937501')).toBeLessThan(out.indexOf('kvm-init: done'));
  expect(r).toEqual({ reason: 'exit', code: 0 });
}

describe.skipIf(!HAVE_IMAGES || !HAVE_H)('Linux KVM runs a nested guest inside cyclevisor (issue 9 Bar)', () => {
  it.each(['fast', 'timing'] as const)(
    '--mode %s: VS-mode program, then nested Linux prints its loop line; the outer Linux powers off, exit 0',
    (mode) => {
      const { out, r } = runNested(mode, 1, 'console=ttyS0');
      expect(out).toMatch(/vmm: Linux \/kvm\/Image: .* 1 vCPU, /);
      expectNestedRun(out, r);
    },
    300_000,
  );

  // Two outer harts and two vCPUs: KVM's vCPU threads move between harts (remote hfences through
  // the builtin SBI's RFENCE 3-6), the nested Linux starts its second CPU through SBI HSM inside
  // KVM and sends IPIs (hvip.VSSIP). This hung before the core's sie write left hie alone: the
  // outer timer tick's csr_set/csr_clear(sie) wiped the guest's vsie (test/isa/hyp.test.ts).
  it('--smp 2, nested Linux with 2 vCPUs (kvm_vcpus=2): both CPUs up, loop line, exit 0; twice the same', () => {
    const { out, r, instret, cycles } = runNested('fast', 2, 'console=ttyS0 kvm_vcpus=2');
    // Deterministic even with two harts and two VMM threads: a second run retires the same
    // instructions in the same cycles and prints the same bytes.
    const again = runNested('fast', 2, 'console=ttyS0 kvm_vcpus=2');
    expect([again.instret, again.cycles]).toEqual([instret, cycles]);
    expect(again.out).toBe(out);
    expect(out).toMatch(/vmm: Linux \/kvm\/Image: .* 2 vCPUs, /);
    // Outer and nested kernel both bring up 2 CPUs; the nested /proc/cpuinfo lists processor 1.
    expect(out.match(/smp: Brought up 1 node, 2 CPUs/g)).toHaveLength(2);
    expect(out).toMatch(/^processor\s+: 1$/m);
    expectNestedRun(out, r);
  }, 300_000);
});
