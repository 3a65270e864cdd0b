/**
 * Issue 10 scope 6: graceful shutdown through a guest agent (libvirt `shutdown --mode agent`). The
 * shared Linux kernel boots in a VM with our agent initramfs (scripts/agent-initramfs.ts: the
 * shared busybox image plus /sbin/cv-agent on the virtio-console port, /dev/hvc1); the VMM's
 * `shutdown` sends the command on that port and waits for the guest to power off (SBI SRST), or
 * gives up after the VM's `shutdownTimeout` virtual seconds with the VM still running. Also: a
 * guest SRST reboot and the host's `reboot` restart the VM (and its agent).
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Host } from '../../src/hypervisor/host.js';
import type { ShutdownResult, Vm } from '../../src/hypervisor/vm.js';
import { DEFAULT_AGENT_INITRAMFS } from '../../scripts/agent-initramfs.js';

const GUESTS = join(import.meta.dirname, '..', '..', '..', 'shared', 'guests');
const KERNEL = join(GUESTS, 'linux-6.1-rv64.Image');
const BUSYBOX = join(GUESTS, 'initramfs-busybox.cpio.gz');
const have = existsSync(KERNEL) && existsSync(DEFAULT_AGENT_INITRAMFS);
const MiB = 1024 * 1024;

/** Run whole rounds until `done()` (checked between rounds) or the host cycles run out. */
function runUntil(host: Host, done: () => boolean, maxHostCycles = 4e9): void {
  const r = host.runSome({ maxHostCycles, waitWhenPaused: true }, Infinity, done);
  if (!done()) throw new Error(`condition not reached: ${JSON.stringify(r)}`);
}

const prompts = (vm: Vm) => vm.outputText().split('/ # ').length - 1;
/** The agent has announced itself and the shell prompt (the n-th one) is there. */
const upAgain = (vm: Vm, n: number) => () => vm.agent!.ready && prompts(vm) >= n;

describe.skipIf(!have)('guest agent shutdown (virtio-console)', () => {
  it('refused with one line until an agent is there; then the guest powers itself off, exit 0', () => {
    const host = new Host({ harts: 1, ramBytes: 256 * MiB });
    const vm = host.addVm({ name: 'web', vcpus: 1, memoryBytes: 128 * MiB, kernel: KERNEL, initrd: DEFAULT_AGENT_INITRAMFS, cmdline: 'console=ttyS0' });
    // Not booted far enough for an agent (the same line as for a guest without one).
    const early = host.shutdown('web');
    expect(early.ok).toBe(false);
    expect(!early.ok && early.error).toMatch(/^web: no guest agent is connected \(shutdown needs the cyclevisor agent in the guest/);
    runUntil(host, upAgain(vm, 1));
    expect(vm.agent!.lines).toEqual(['ready']);
    // The guest saw a virtio console (its hvc1 is the agent's port).
    expect(vm.platform.console!.txBytes).toBe('cv-agent: ready\r\n'.length); // the tty's ONLCR

    const results: ShutdownResult[] = [];
    expect(host.shutdown('web', (r) => results.push(r))).toEqual({ ok: true, value: null });
    expect(host.run({ maxHostCycles: 6e9 })).toEqual({ code: 0 });
    expect(results).toEqual([{ ok: true }]);
    expect(vm.state).toBe('shut off');
    expect(vm.poweredOff).toBe(true);
    expect(vm.agent!.lines).toEqual(['ready', 'ok shutdown']);
    expect(vm.outputText()).toMatch(/reboot: Power down/);
    // domstats console.bytes: the UART's bytes plus what the guest wrote to the agent port.
    const uart = Buffer.concat(vm.output).length;
    expect(vm.stats().consoleBytes).toBe(uart + vm.platform.console!.txBytes);
    expect(vm.platform.console!.rxBytes).toBe('shutdown\n'.length);
    // Shut off: refused.
    expect(host.shutdown('web')).toEqual({ ok: false, error: 'web: domain is not running' });
    expect(host.shutdown('nope')).toEqual({ ok: false, error: 'no VM named "nope"' });
    host.close();
  }, 120_000);

  it('a guest without the agent: one refusal line, the VM unaffected', () => {
    const host = new Host({ harts: 1, ramBytes: 256 * MiB });
    const vm = host.addVm({ name: 'plain', vcpus: 1, memoryBytes: 128 * MiB, kernel: KERNEL, initrd: BUSYBOX, cmdline: 'console=ttyS0' });
    runUntil(host, () => prompts(vm) >= 1);
    const r = host.shutdown('plain');
    expect(r).toEqual({ ok: false, error: expect.stringMatching(/^plain: no guest agent is connected/) });
    expect(vm.state).toBe('running');
    expect(vm.platform.console!.rxBytes + vm.platform.console!.pendingBytes).toBe(0); // nothing was sent
    host.close();
  }, 120_000);

  it('timeout in virtual seconds (the VM keeps running); guest SRST reboot and host reboot restart VM and agent', () => {
    const host = new Host({ harts: 1, ramBytes: 256 * MiB });
    const timeoutS = 0.5;
    const vm = host.addVm({ name: 'b', vcpus: 1, memoryBytes: 128 * MiB, kernel: KERNEL, initrd: DEFAULT_AGENT_INITRAMFS, cmdline: 'console=ttyS0', shutdownTimeout: timeoutS });
    runUntil(host, upAgain(vm, 1));
    // Stop the agent from the shell: the command will sit unread in the port.
    host.inputArrived(vm, Buffer.from('pkill -f cv-agent; echo agent-gone\n'));
    runUntil(host, () => /^agent-gone\r?$/m.test(vm.outputText()));
    const results: ShutdownResult[] = [];
    const t0 = vm.now;
    expect(host.shutdown('b', (r) => results.push(r)).ok).toBe(true);
    runUntil(host, () => results.length > 0);
    expect(results).toEqual([{ ok: false, timeout: true, error: 'b: the guest has not powered off after 0.5 s (virtual); the domain is still running' }]);
    // The timeout is on the VM's clock: at least 0.5 s of it (1 GHz) passed, and not much more.
    expect(vm.now - t0).toBeGreaterThanOrEqual(timeoutS * 1e9);
    expect(vm.now - t0).toBeLessThan(timeoutS * 1e9 + 20e6);
    expect(vm.state).toBe('running');

    // A guest SRST reboot (busybox `reboot -f`) restarts the VM: devices reset, kernel reloaded,
    // a new agent announces itself.
    host.inputArrived(vm, Buffer.from('reboot -f\n'));
    runUntil(host, () => vm.reboots === 1);
    expect(vm.agent!.ready).toBe(false); // reset with the VM
    runUntil(host, upAgain(vm, 2));
    expect(vm.state).toBe('running');
    expect(vm.outputText().match(/Run \/init as init process/g)).toHaveLength(2);

    // The host's reboot (ctl reboot): a cold restart, again with a fresh agent.
    expect(host.reboot('b')).toEqual({ ok: true, value: null });
    expect(vm.reboots).toBe(2);
    runUntil(host, upAgain(vm, 3));
    expect(vm.outputText().match(/Run \/init as init process/g)).toHaveLength(3);

    // And this agent does its job.
    const last: ShutdownResult[] = [];
    expect(host.shutdown('b', (r) => last.push(r)).ok).toBe(true);
    expect(host.run({ maxHostCycles: 12e9 })).toEqual({ code: 0 });
    expect(last).toEqual([{ ok: true }]);
    host.close();
  }, 180_000);
});
