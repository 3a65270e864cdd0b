/**
 * Issue 10 scope 2: host RAM is at most 2G today, and a VM may have whatever of it fits — not only
 * the 1 GiB one level-1 G-stage table covers. A VM above 1 GiB gets a second level-1 table (root
 * entry 3: GPA [3 GiB, 4 GiB)); the shared Linux kernel + nolibc boot in a 1536M VM on a 2G host
 * and see all of it. Too much for the host is refused with one line naming the 2G limit.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Host } from '../../src/hypervisor/host.js';
import { UserError } from '../../src/errors.js';
import { buildElf } from '../helpers/elf-writer.js';

const minimalElf = () => buildElf();

const GUESTS = join(import.meta.dirname, '..', '..', '..', 'shared', 'guests');
const KERNEL = join(GUESTS, 'linux-6.1-rv64.Image');
const NOLIBC = join(GUESTS, 'initramfs-nolibc.cpio.gz');
const have = existsSync(KERNEL) && existsSync(NOLIBC);
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('VMs above 1 GiB (host RAM up to 2G)', () => {
  it.skipIf(!have)('a 1536M VM on a 2G host boots Linux + nolibc and sees 1.5 GiB (second level-1 G-stage table)', () => {
    const host = new Host({ harts: 1, ramBytes: 2 * GiB });
    const vm = host.addVm({ name: 'big', vcpus: 1, memoryBytes: 1536 * MiB, kernel: KERNEL, initrd: NOLIBC, cmdline: 'console=ttyS0' });
    // Before: "big: memory 1.5 GiB exceeds the 1G a VM can have today".
    expect(vm.memory.chunks.length).toBe(768);
    expect(host.run({ maxHostCycles: 3e9 })).toEqual({ code: 0 });
    const out = vm.outputText();
    expect(out).toContain('init: loop done 7abae2d0a1937501');
    // /proc/meminfo: MemTotal is RAM less the kernel's reservations: well above 1 GiB.
    const m = /MemTotal:\s+(\d+) kB/.exec(out);
    expect(m).not.toBeNull();
    expect(Number(m![1]) * 1024).toBeGreaterThan(1.4 * GiB);
    expect(Number(m![1]) * 1024).toBeLessThanOrEqual(1536 * MiB);
    host.close();
  }, 120_000);

  it('the G-stage maps the second GiB: the last byte of a 2044M VM is reachable, one past it is not', () => {
    const host = new Host({ harts: 1, ramBytes: 2 * GiB });
    // The largest VM a 2G host can hold: 2G less the host's 2 MiB reserve and the table chunk.
    const vm = host.addVm({ name: 'max', vcpus: 1, memoryBytes: 2044 * MiB, kernel: minimalElf(), autostart: false });
    const core = host.core;
    core.switchHart(0);
    core.loadVcpu(vm.vcpus[0]!.ctx);
    const last = 0x8000_0000n + BigInt(2044 * MiB) - 1n;
    expect(core.gpaToHpa(last)).not.toBeNull();
    expect(core.gpaToHpa(0x8000_0000n + BigInt(GiB))).toBe(BigInt(vm.memory.hpaOf(0x8000_0000 + GiB)!));
    expect(core.gpaToHpa(last + 1n)).toBeNull();
    host.close();
  });

  it('a VM the 2G host cannot hold is refused with one line naming the limit', () => {
    const host = new Host({ harts: 1, ramBytes: 2 * GiB });
    const add = (mb: number) => host.addVm({ name: 'huge', vcpus: 1, memoryBytes: mb * MiB, kernel: minimalElf(), autostart: false });
    expect(() => add(2048)).toThrow(UserError);
    expect(() => add(2048)).toThrow(/host RAM is at most 2G today/);
    expect(() => add(4096)).toThrow(/huge: memory 4 GiB is more than the host can have \(host RAM is at most 2G today\)/);
    host.close();
  });
});

