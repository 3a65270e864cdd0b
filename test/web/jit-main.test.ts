/**
 * The JIT tier on a browser's MAIN thread (issue 14 scope 3: "in a browser, modules over 4 KB must
 * compile asynchronously off the main thread"; docs/JIT.md "Browser and async compile"). The page
 * (served from memory through playwright's routing) runs the board on its main thread with the
 * browser host adapter; there the JIT defaults to async compile. cmark-small must give the Node
 * interpreter's output, instructions, cycles and class counts, with blocks compiled by
 * WebAssembly.compile promises, installed at the run's yields, and run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { nodeStubs, ROOT, type StubbedImport } from '../../web/serve.js';
import { VirtMachine } from '../../src/board/virt.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium)('the JIT on a browser main thread (async compile)', () => {
  let browser: Browser;
  let js: string;

  beforeAll(async () => {
    const stubbed: StubbedImport[] = [];
    const out = await build({
      entryPoints: [join(ROOT, 'test', 'web', 'jit-main-entry.ts')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'chrome110',
      logLevel: 'warning',
      plugins: [nodeStubs(stubbed)],
    });
    js = out.outputFiles[0]!.text;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('cmark-small: the interpreter\'s output and counters, blocks compiled asynchronously and run', async () => {
    const elf = readFileSync(join(ROOT, 'test/guests/bin/cmark-small.elf'));
    const node = new VirtMachine({ ramBytes: 16 << 20, tier: 'interp' });
    node.loadElf(elf, 'cmark-small.elf');
    const nr = node.runSync();
    expect(nr).toEqual({ reason: 'exit', code: 0 });

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const files: Record<string, { body: string | Buffer; type: string }> = {
      '/': { body: '<!doctype html><meta charset="utf-8"><script type="module" src="/main.js"></script>', type: 'text/html' },
      '/main.js': { body: js, type: 'text/javascript' },
      '/core.wasm': { body: readFileSync(join(ROOT, 'build', 'core.wasm')), type: 'application/wasm' },
      '/cmark-small.elf': { body: elf, type: 'application/octet-stream' },
    };
    await page.route('http://cyclevisor.test/**', (route) => {
      const f = files[new URL(route.request().url()).pathname];
      return f ? route.fulfill({ status: 200, body: f.body, contentType: f.type }) : route.fulfill({ status: 404, body: '' });
    });
    await page.goto('http://cyclevisor.test/?tier=jit');
    await page.waitForFunction(() => (globalThis as unknown as { __result?: unknown }).__result !== undefined, undefined, { timeout: 60_000 });
    const res = await page.evaluate(() => (globalThis as unknown as { __result: Record<string, unknown> }).__result);
    expect(res.error).toBeUndefined();
    const jit = res.jit as { insns: number; blocks: number; async?: { installed: number; submitted: number } };
    expect({ r: res.r, out: res.out, instret: res.instret, cycles: res.cycles, cls: res.cls }).toEqual({
      r: nr,
      out: node.outputText(),
      instret: node.core.instret,
      cycles: node.core.cycles,
      cls: node.core.classCounts(),
    });
    // The main thread's default compile mode is async: modules arrived at the yields and ran.
    expect(jit.async).toBeDefined();
    expect(jit.async!.installed).toBeGreaterThan(0);
    expect(jit.insns).toBeGreaterThan(0.5 * (res.instret as number));
    expect(errors).toEqual([]);
    console.log(`test/web: main thread, async compile: ${jit.blocks} blocks, ${jit.async!.installed} modules installed, ${((100 * jit.insns) / (res.instret as number)).toFixed(1)} % compiled`);
    await page.close();
  }, 120_000);
});
