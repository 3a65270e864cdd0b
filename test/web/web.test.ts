/**
 * `npm run web` (issue 16): the page boots the shared Linux 6.1 + busybox initramfs in a Worker, in
 * Debian's chromium driven by playwright-core (no browser download), to the busybox shell prompt
 * in the xterm.js terminal; a typed command answers; the live statistics move. The boot time to the
 * prompt is printed (not asserted: the machine is shared).
 *
 * Also checked: the bundle takes no Node built-in into the core, the board or the host adapter (the
 * only `node:` imports left are the Node-only back ends, stubbed in the browser; docs/WEB.md).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildWebBundle, startWebServer, type WebBundle } from '../../web/serve.js';
import { haveImages, image, IMAGES, ROOT } from '../helpers/guests.js';
import { VirtMachine } from '../../src/board/virt.js';
import { bootLinux } from '../../src/board/boot.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const haveGuests = haveImages('linux-6.1-rv64.Image', 'initramfs-busybox.cpio.gz');
if (!haveChromium) console.warn(`test/web: skipped: ${CHROMIUM} is absent (Debian package chromium; .ci/run installs it)`);
if (!haveGuests) console.warn(`test/web: skipped: the shared guest images are absent (${IMAGES})`);

/** The terminal's whole buffer as text, one line per row, trailing blanks trimmed. */
function termText(page: Page): Promise<string> {
  return page.evaluate(() => {
    const term = (window as unknown as { __term: { buffer: { active: { length: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined } } } }).__term;
    const b = term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i)?.translateToString(true) ?? '');
    return out.join('\n').trimEnd();
  });
}

/** Poll until `pred(text)` holds or `ms` pass; returns the last text. */
async function waitForText(page: Page, pred: (t: string) => boolean, ms: number): Promise<string> {
  const end = Date.now() + ms;
  let t = '';
  while (Date.now() < end) {
    t = await termText(page);
    if (pred(t)) return t;
    await page.waitForTimeout(200);
  }
  return t;
}

/** busybox sh's prompt as root in / (PS1 default '\w \$ '). */
const PROMPT = /(^|\n)\/ #$/;

describe('npm run web: bad options', () => {
  it.each([
    [['--port', 'abc'], 'cyclevisor web: --port abc: not a port number (0-65535)'],
    [['--port'], 'cyclevisor web: --port needs a value'],
    [['--bogus'], 'cyclevisor web: unknown option --bogus'],
  ])('%j: one line on stderr, exit 2', (args, line) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'web', 'serve.ts'), ...args], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(line);
    expect(r.stdout).toBe('');
  });
});

describe.skipIf(!haveChromium || !haveGuests)('npm run web: Linux + busybox in chromium', () => {
  let bundle: WebBundle;
  let server: Server;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    bundle = await buildWebBundle();
    ({ server, url } = await startWebServer({ port: 0 }));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('the bundle imports no Node built-in from the core, board or host adapter: only the Node-only back ends', () => {
    const importers = new Set(bundle.stubbed.map((s) => s.importer));
    // Disk images (virtio-blk's file back end, qcow2, probes, locks): the page attaches no drive.
    const nodeOnly = /^(devices\/(virtio-blk|image-format|image-lock)\.ts|src\/block\/[a-z0-9-]+\.ts)$/;
    for (const i of importers) expect(i).toMatch(nodeOnly);
    for (const f of ['src/core.ts', 'src/board/virt.ts', 'src/board/boot.ts', 'src/board/cpu.ts', 'src/elf.ts', 'src/timing.ts', 'src/host/host.ts']) {
      expect(importers.has(f)).toBe(false);
    }
  });

  it('boots to the busybox prompt, answers a typed command, and shows live statistics', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const t0 = Date.now();
    await page.goto(url);
    const booted = await waitForText(page, (t) => PROMPT.test(t), 150_000);
    const bootSeconds = (Date.now() - t0) / 1000;
    expect(booted).toContain('guest: busybox userland up, kernel 6.1.192');
    expect(booted).toMatch(PROMPT);
    console.log(`test/web: chromium booted Linux + busybox to the shell prompt in ${bootSeconds.toFixed(1)} s (page load to prompt)`);

    // Type into xterm.js (its hidden textarea has the focus) and wait for the answer line.
    await page.locator('.xterm-helper-textarea').focus();
    await page.keyboard.type('echo $((6*7)); uname -sm');
    await page.keyboard.press('Enter');
    const answered = await waitForText(page, (t) => /\n42\nLinux riscv64\n\/ #$/.test(t), 30_000);
    expect(answered).toMatch(/\/ # echo \$\(\(6\*7\)\); uname -sm\n42\nLinux riscv64\n\/ #$/);

    // The statistics panel: instructions and virtual time moved, the modeled TLB (timing mode) counted.
    const stats = await page.evaluate(() => ({
      instret: Number(document.getElementById('instret')!.textContent!.replace(/,/g, '')),
      vtime: document.getElementById('vtime')!.textContent!,
      tlb: document.getElementById('tlb')!.textContent!,
      status: document.getElementById('status')!.textContent!,
    }));
    expect(stats.status).toBe('running');
    expect(stats.instret).toBeGreaterThan(50_000_000);
    expect(stats.vtime).toMatch(/^\d+\.\d{3} s$/);
    expect(stats.tlb).toMatch(/^[\d,]+ accesses\n[\d,]+ misses \(\d+\.\d\d %\)\n[\d,]+ walks, [\d,]+ walk refs$/);
    const accesses = Number(stats.tlb.split(' ')[0]!.replace(/,/g, ''));
    expect(accesses).toBeGreaterThan(1_000_000);
    expect(errors).toEqual([]);
    await page.close();
  }, 240_000);

  // The image's autotest script to power-off on the Node board (interpreter), once for the tests below.
  const append = 'console=ttyS0 autotest';
  let nodeRun: { instret: number; cycles: number; console: string } | undefined;
  function nodeAutotest(): { instret: number; cycles: number; console: string } {
    if (nodeRun) return nodeRun;
    const node = new VirtMachine({ ramBytes: 256 << 20, mode: 'fast', tier: 'interp' });
    bootLinux(node, { bios: 'builtin', kernel: image('linux-6.1-rv64.Image'), initrd: image('initramfs-busybox.cpio.gz'), append });
    const nodeResult = node.runSync({ maxInsns: 1_000_000_000 });
    expect(nodeResult).toEqual({ reason: 'exit', code: 0 });
    return (nodeRun = { instret: node.totalInstret(), cycles: node.core.cycles, console: node.outputText() });
  }

  it('the same guest and configuration give the browser exactly the counters of the Node board (autotest, then power off)', async () => {
    // One code path: the worker's machine is the CLI's VirtMachine + bootLinux over the same
    // core.wasm, so a deterministic run (no input) ends with the same instructions and cycles.
    const node = nodeAutotest();
    const page = await browser.newPage();
    await page.goto(`${url}?mode=fast&tier=interp&append=${encodeURIComponent(append)}`);
    await page.waitForFunction(() => (window as unknown as { __exit?: unknown }).__exit !== undefined, undefined, { timeout: 150_000 });
    const web = await page.evaluate(() => (window as unknown as { __exit: unknown }).__exit);
    expect(web).toEqual({ reason: 'exit', code: 0, instret: node.instret, cycles: node.cycles });
    const text = await termText(page);
    expect(text).toContain('AUTOTEST DONE');
    expect(text).toContain('sum: 2001000');
    expect(await page.evaluate(() => (window as unknown as { __console(): string }).__console())).toBe(node.console);
    await page.close();
  }, 240_000);

  // Issue 14 scope 3: the JIT tier in the browser (its machine Worker), both compile modes: blocks
  // get compiled and run, and the guest's console and counters are the interpreter's (tiers are exact).
  it.each(['sync', 'async'])('with the JIT (?tier=jit&jit=%s): blocks compiled, the interpreter\'s console output and counters', async (jit) => {
    const node = nodeAutotest();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}?mode=fast&tier=jit&jit=${jit}&append=${encodeURIComponent(append)}`);
    await page.waitForFunction(() => (window as unknown as { __exit?: unknown }).__exit !== undefined, undefined, { timeout: 150_000 });
    const web = await page.evaluate(() => (window as unknown as { __exit: unknown }).__exit);
    expect(web).toEqual({ reason: 'exit', code: 0, instret: node.instret, cycles: node.cycles });
    expect(await page.evaluate(() => (window as unknown as { __console(): string }).__console())).toBe(node.console);
    // The worker's live statistics carry the JIT's (the last report is sent at the run's end).
    const j = await page.evaluate(() => (window as unknown as { __jit: { blocks: number; pages: number; insns: number; async: { installed: number; inFlight: number } | null } }).__jit);
    expect(j.blocks).toBeGreaterThan(10);
    expect(j.pages).toBeGreaterThan(0);
    expect(j.insns).toBeGreaterThan(1_000_000);
    if (jit === 'async') expect(j.async!.installed).toBeGreaterThan(0);
    else expect(j.async).toBeNull();
    expect(await page.evaluate(() => document.getElementById('jit')!.textContent!)).toMatch(/^[\d,]+ blocks on [\d,]+ pages, [\d,]+ modules\n[\d,]+ ms compile, \d+\.\d\d % compiled/);
    // The end-of-run summary has the jit row, as `cyclevisor boot --tier jit --stats` prints it.
    expect(await termText(page)).toMatch(/jit +[\d,]+ blocks? on/);
    expect(errors).toEqual([]);
    await page.close();
  }, 240_000);

  it('the JIT toggle switches the running machine to the interpreter (the embedder turns it off)', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}?mode=fast&tier=jit`);
    expect(await page.locator('#jit-on').isChecked()).toBe(true);
    const booted = await waitForText(page, (t) => PROMPT.test(t), 150_000);
    expect(booted).toMatch(PROMPT);
    await page.waitForFunction(() => ((window as unknown as { __jit?: { blocks: number } | null }).__jit?.blocks ?? 0) > 0, undefined, { timeout: 30_000 });
    await page.locator('#jit-on').uncheck();
    expect(new URL(page.url()).searchParams.get('tier')).toBe('interp');
    // The worker's next report: no JIT any more (Core.setTier('interp') dropped it).
    await page.waitForFunction(() => (window as unknown as { __jit?: unknown }).__jit === null, undefined, { timeout: 30_000 });
    await page.locator('.xterm-helper-textarea').focus();
    await page.keyboard.type('echo $((6*7))');
    await page.keyboard.press('Enter');
    expect(await waitForText(page, (t) => /\n42\n\/ #$/.test(t), 30_000)).toMatch(/\n42\n\/ #$/);
    expect(await page.evaluate(() => document.getElementById('jit')!.textContent!)).toBe('— (interpreter)');
    expect(errors).toEqual([]);
    await page.close();
  }, 240_000);

  it('bad page parameters: one error line on the page, no machine', async () => {
    const page = await browser.newPage();
    const status = async (q: string) => {
      await page.goto(`${url}${q}`);
      await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('error:'), undefined, { timeout: 30_000 });
      return page.evaluate(() => document.getElementById('status')!.textContent!);
    };
    expect(await status('?kernel=nope.Image')).toMatch(/^error: .*\/guests\/nope\.Image: HTTP 404$/);
    expect(await status('?ram=abc')).toBe('error: ram=NaN: RAM size in MiB, 16 to 2048');
    expect(await status('?mode=slow')).toBe('error: mode=slow: fast or timing');
    expect(await status('?smp=9')).toBe('error: smp=9: harts, 1 to 8');
    expect(await status('?tier=fast')).toBe('error: tier=fast: interp or jit');
    expect(await status('?tier=jit&jit=later')).toBe('error: jit=later: async or sync');
    expect(await status('?tier=jit&jitthresh=0')).toBe('error: jitthresh=0: executions before compiling, 1 to 32766');
    // An image that is not a kernel: the board's own one-line check (boot.ts checkKernelImage).
    expect(await status('?kernel=initramfs-nolibc.cpio.gz')).toMatch(/^error: initramfs-nolibc\.cpio\.gz: not a RISC-V kernel Image/);
    await page.close();
  }, 120_000);

  it('serves the guest images by plain name only (no path outside the images directory)', async () => {
    const ok = await fetch(`${url}guests/initramfs-busybox.cpio.gz`);
    expect(ok.status).toBe(200);
    for (const bad of ['guests/..%2fREADME.md', 'guests/.hidden', '..%2f..%2fetc%2fpasswd', 'guests/src']) {
      expect((await fetch(`${url}${bad}`)).status).toBe(404);
    }
    // A malformed escape is a 400, and the server goes on serving.
    expect((await fetch(`${url}guests/%E0%A4%A`)).status).toBe(400);
    expect((await fetch(url)).status).toBe(200);
  });
});
