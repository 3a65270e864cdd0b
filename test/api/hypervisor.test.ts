/**
 * The public Hypervisor (src/api/hypervisor.ts): a VMM host from a definition object, one Linux VM
 * (shared nolibc initramfs) run to its power-off, console text and statistics through the stable
 * names; bad definitions are one-line UserErrors.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hypervisor, UserError } from '../../src/index.js';
import { IMAGES, haveImages } from '../helpers/guests.js';

const HAVE = haveImages('linux-6.1-rv64.Image', 'initramfs-nolibc.cpio.gz');
if (!HAVE) console.warn(`test/api/hypervisor.test.ts: Linux VM test skipped: no guest images at ${IMAGES}`);

describe('Hypervisor', () => {
  it('refuses a bad definition with one line', () => {
    expect(() => Hypervisor.fromConfig({ host: { harts: 99, ram: '64M' }, vms: [] })).toThrow(UserError);
    expect(() => Hypervisor.fromFile('/nonexistent/vms.yaml')).toThrow(UserError);
  });

  it.skipIf(!HAVE)('runs a Linux VM to its power-off; console text, list and stats', async () => {
    const hv = Hypervisor.fromConfig(
      {
        host: { harts: 1, ram: '256M' },
        vms: [{ name: 'tiny', vcpus: 1, memory: '128M', kernel: 'linux-6.1-rv64.Image', initrd: 'initramfs-nolibc.cpio.gz', cmdline: 'console=ttyS0' }],
      },
      IMAGES,
    );
    expect(await hv.list()).toEqual([{ name: 'tiny', state: 'running', id: expect.any(Number) }]);
    const exits = new Map<string, number>();
    const hook = hv.addExitHook('tiny', (e) => {
      expect(e.vm).toBe('tiny');
      exits.set(e.reason, (exits.get(e.reason) ?? 0) + 1);
    });
    expect(() => hv.addExitHook('nosuch', () => {})).toThrow(UserError);
    const part = await hv.run({ maxInsns: 5_000_000 });
    expect(part.end).toBe('max-insns');
    expect(part.instructions).toBeGreaterThanOrEqual(5_000_000);
    const end = await hv.run();
    expect(end.end).toBe('done');
    expect(end.vms).toEqual([{ name: 'tiny', state: 'shut off', reason: 'shutdown' }]);
    const text = hv.consoleText('tiny');
    expect(text).toContain('init: hello from userspace');
    expect(text).toContain('init: loop done 7abae2d0a1937501');
    const [s] = await hv.stats('tiny');
    expect(s!.name).toBe('tiny');
    expect(s!.stats['state.state']).toBe(5); // libvirt's VIR_DOMAIN_SHUTOFF
    expect(s!.stats['vcpu.0.instructions']).toBe(end.instructions);
    // The exit hook saw every exit the statistics count, by reason.
    expect(exits.size).toBeGreaterThan(0);
    for (const [reason, n] of exits) expect(s!.stats[`exit.${reason}.count`], reason).toBe(n);
    hook.remove();
    hv.close();
  }, 120_000);

  it.skipIf(!HAVE)('a snapshot taken mid-run, reverted after the end, replays the same output and count', async () => {
    // The snapshot tree lives beside the definition (baseDir): a scratch directory.
    const dir = mkdtempSync(join(tmpdir(), 'cyclevisor-hv-'));
    try {
      for (const f of ['linux-6.1-rv64.Image', 'initramfs-nolibc.cpio.gz']) copyFileSync(join(IMAGES, f), join(dir, f));
      const hv = Hypervisor.fromConfig(
        { host: { harts: 1, ram: '256M' }, vms: [{ name: 'tiny', vcpus: 1, memory: '128M', kernel: 'linux-6.1-rv64.Image', initrd: 'initramfs-nolibc.cpio.gz', cmdline: 'console=ttyS0' }] },
        dir,
      );
      await hv.run({ maxInsns: 60_000_000 });
      const info = await hv.snapshot('tiny', 'mid');
      expect(info).toMatchObject({ name: 'mid', parent: null, current: true });
      expect(info.file.startsWith(join(dir, 'vms.snapshots', 'tiny'))).toBe(true);
      const atSnap = hv.consoleText('tiny').length;
      const first = await hv.run();
      expect(first.end).toBe('done');
      const afterFirst = hv.consoleText('tiny');
      const tail1 = afterFirst.slice(atSnap);
      const insns1 = (await hv.stats('tiny'))[0]!.stats['vcpu.0.instructions'];
      expect(tail1).toContain('init: powering off');

      await hv.revertSnapshot('tiny', 'mid');
      expect((await hv.list())[0]!.state).toBe('running');
      const second = await hv.run();
      expect(second.end).toBe('done');
      expect(hv.consoleText('tiny').slice(afterFirst.length)).toBe(tail1);
      // The VM's counters came back with it: the replay ends at the same instruction count.
      expect((await hv.stats('tiny'))[0]!.stats['vcpu.0.instructions']).toBe(insns1);
      expect((await hv.snapshots('tiny')).map((s) => s.name)).toEqual(['mid']);
      await hv.deleteSnapshot('tiny', 'mid');
      expect(await hv.snapshots('tiny')).toEqual([]);
      hv.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
