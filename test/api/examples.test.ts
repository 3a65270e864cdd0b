/**
 * examples/api/*.mjs run as a user would run them (`node examples/api/X.mjs`): they import
 * 'cyclevisor' by name, which resolves to the built package through its own "exports"
 * (package self-reference), so they exercise dist/ and its .d.ts-backed entry, not the sources.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, IMAGES, haveImages } from '../helpers/guests.js';

const run = (name: string, args: string[] = []) =>
  spawnSync(process.execPath, [join(ROOT, 'examples', 'api', name), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });

const HAVE_LINUX = haveImages('linux-6.1-rv64.Image', 'initramfs-nolibc.cpio.gz');
if (!HAVE_LINUX) console.warn(`test/api/examples.test.ts: boot-linux.mjs skipped: no guest images at ${IMAGES}`);

describe('examples/api', () => {
  it('bare-metal.mjs: a hand-written board, single steps, registers', () => {
    const r = run('bare-metal.mjs');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^entry 0x80000000, main at 0x8[0-9a-f]+\n/);
    expect(r.stdout).toContain('step 1: pc 0x80000004');
    expect(r.stdout).toContain('Hello from cyclevisor!\n');
    expect(r.stdout).toMatch(/stopped: exit 0, 234 instructions, \d+ cycles, a0 = 0\n$/);
  });

  it('hooks.mjs: code hook pauses, memory / MMIO / trap / exit hooks count, the run goes on', () => {
    const r = run('hooks.mjs');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^paused at pc 0x8[0-9a-f]+ \(bump\), a0 = 5, after \d+ instructions\n/);
    expect(r.stdout).toContain('exit hook: exit 0\ngdbtest 220\n');
    expect(r.stdout).toContain('exit 0: bump called 10 times, counter written 0 1 3 6 10 15 21 28 36 45 55, 12 UART bytes, 0 traps\n');
  });

  it.skipIf(!HAVE_LINUX)('boot-linux.mjs: the shared Linux boots to /init', () => {
    const r = run('boot-linux.mjs', [IMAGES]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Linux version 6.1.');
    // `until` is checked every million instructions: a deterministic stop point.
    expect(r.stdout).toMatch(/init: hello from userspace after \d+000000 instructions/);
  }, 120_000);
});
