/**
 * CLI start (issue 14: the Linux-boot bar is QEMU's wall time with process start included): each
 * command loads its heavy modules only when it runs (src/cli/main.ts, docs/ARCHITECTURE.md "CLI:
 * lazy loading"). `node bin/cyclevisor.js ...` runs under a loader hook that lists every ES module
 * the process loads; run, boot and the help texts must not load the plotting stack (vega,
 * vega-lite, resvg), the VM-config schema (zod, yaml), the queue (bullmq), fzstd, or the command
 * modules of img, host/ctl, experiment and the gdb stub. Loading any of them eagerly again (one
 * static import in main.ts or a module it imports) fails here. The positive control (experiment
 * --help loads vega and zod) shows the hook sees what it should. No timing here: the figures are
 * bench/start.ts (`npm run bench:start`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, GUESTS, haveImages, image } from '../helpers/guests.js';

const BIN = join(ROOT, 'bin', 'cyclevisor.js');
const HOOK = pathToFileURL(join(ROOT, 'test', 'cli', 'fixtures', 'module-log.mjs')).href;

/** npm packages none of run / boot / help may load. */
const HEAVY_PACKAGES = ['vega', 'vega-lite', '@resvg/resvg-wasm', 'zod', 'yaml', 'fzstd', 'bullmq', 'ioredis'];
/** Our modules (under dist/) that only their own command (or option) loads. */
const LAZY_MODULES = [
  'src/cli/img.js',
  'src/cli/host.js',
  'src/cli/experiments.js',
  'src/experiments/plot.js',
  'src/trace/report.js',
  'src/hypervisor/config.js',
  'src/debug/gdbstub.js',
  'src/block/qcow2-create.js',
];

interface Loaded {
  code: number | null;
  stdout: string;
  stderr: string;
  /** npm package names (scoped as @scope/name) of the loaded modules. */
  packages: Set<string>;
  /** Loaded modules under dist/, as paths relative to dist/. */
  dist: Set<string>;
}

let tmp: string;
let runs = 0;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cv-lazy-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI as a user does, with the module log on. */
function cliLoading(args: string[]): Promise<Loaded> {
  const log = join(tmp, `modules-${++runs}.log`);
  writeFileSync(log, '');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', HOOK, BIN, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CYCLEVISOR_MODULE_LOG: log },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const urls = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
      const packages = new Set<string>();
      const dist = new Set<string>();
      for (const u of urls) {
        const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u);
        if (m) packages.add(m[1]!);
        const d = /\/dist\/(.*)$/.exec(u);
        if (d && !m) dist.add(d[1]!);
      }
      resolve({ code, stdout, stderr, packages, dist });
    });
  });
}

function expectLean(r: Loaded): void {
  for (const p of HEAVY_PACKAGES) expect(r.packages.has(p), `package ${p} loaded`).toBe(false);
  for (const m of LAZY_MODULES) expect(r.dist.has(m), `dist/${m} loaded`).toBe(false);
}

describe.concurrent('the CLI loads a command\'s heavy modules only when it runs', () => {
  it('the hook sees what loads: experiment --help loads experiments.js, vega and zod', async () => {
    const r = await cliLoading(['experiment', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: cyclevisor experiment NAME\|all/);
    expect(r.dist.has('src/cli/main.js')).toBe(true);
    expect(r.dist.has('src/cli/experiments.js')).toBe(true);
    expect(r.packages.has('vega')).toBe(true);
    expect(r.packages.has('zod')).toBe(true);
  });

  it('--help, boot --help and --version', async () => {
    for (const args of [['--help'], ['boot', '--help'], ['--version']]) {
      const r = await cliLoading(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).not.toBe('');
      expectLean(r);
    }
  });

  it('run of a tiny ELF (with --stats): the guest runs, nothing heavy is loaded', async () => {
    const r = await cliLoading(['run', join(GUESTS, 'bin', 'hello.elf'), '--stats', 'json']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Hello from cyclevisor!\n');
    expect(JSON.parse(r.stderr)).toMatchObject({ exit: { reason: 'exit', code: 0 } });
    expect(r.dist.has('src/board/virt.js')).toBe(true);
    expectLean(r);
  });

  it('ctl (a client: it parses no VM file) loads no zod or yaml; host, which parses one, does', async () => {
    const sock = join(tmp, 'none.sock');
    const ctl = await cliLoading(['ctl', sock, 'list']);
    expect(ctl.code).toBe(2);
    expect(ctl.stderr).toMatch(/no such socket/);
    expect(ctl.dist.has('src/cli/host.js')).toBe(true);
    for (const p of HEAVY_PACKAGES) expect(ctl.packages.has(p), `package ${p} loaded`).toBe(false);
    expect(ctl.dist.has('src/hypervisor/config.js')).toBe(false);
    const host = await cliLoading(['host', join(tmp, 'missing.yaml')]);
    expect(host.code).toBe(2);
    expect(host.stderr).toMatch(/^cyclevisor: .*missing\.yaml/);
    expect(host.dist.has('src/hypervisor/config.js')).toBe(true);
    expect(host.packages.has('zod')).toBe(true);
  });

  it('help img still prints the img usage (img.js is loaded for it)', async () => {
    const r = await cliLoading(['help', 'img']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: cyclevisor img COMMAND/);
    expect(r.dist.has('src/cli/img.js')).toBe(true);
  });

  it.skipIf(!haveImages('linux-6.1-rv64.Image', 'initramfs-nolibc.cpio.gz'))(
    'boot of Linux with a raw --drive, stopped by --max-insns: no plotting, schema, fzstd or gdb stub',
    async () => {
      const disk = join(tmp, 'disk.img');
      writeFileSync(disk, new Uint8Array(1 << 20));
      const r = await cliLoading([
        'boot',
        '--kernel',
        image('linux-6.1-rv64.Image'),
        '--initrd',
        image('initramfs-nolibc.cpio.gz'),
        '--append',
        'console=ttyS0',
        '--drive',
        `file=${disk},format=raw`,
        '--max-insns',
        '3000000',
      ]);
      // 124: --max-insns ran out (the boot went through the board, the firmware and the kernel).
      expect(r.code, r.stderr).toBe(124);
      expect(r.dist.has('src/board/boot.js')).toBe(true);
      expect(r.dist.has('devices/virtio-blk.js')).toBe(true);
      expectLean(r);
    },
  );
});
