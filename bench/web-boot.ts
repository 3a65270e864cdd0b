/**
 * `npm run bench:web`: the browser build's boot time to the busybox shell prompt (docs/WEB.md).
 * Builds the bundle, serves it on a free port, opens the page in Debian's chromium (playwright-core,
 * /usr/bin/chromium, --no-sandbox) and times page load → `/ # ` in the xterm buffer, for each page
 * configuration (instructions: the statistics panel at that moment; load: fetch and compile times).
 * The JIT rows (fast mode: timing mode runs interpreted under either tier) compare the tiers and
 * the JIT's compile modes (docs/JIT.md "Browser and async compile").
 * Environment: BENCH_RUNS (runs per row, median of; default 3); BENCH_PAGES (comma-separated page
 * queries instead of the default rows).
 */
import { chromium, type Page } from 'playwright-core';
import { buildWebBundle, startWebServer, DEFAULT_GUESTS } from '../web/serve.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONFIGS = process.env.BENCH_PAGES?.split(',') ?? [
  '',
  '?mode=fast&tier=interp',
  '?mode=fast&tier=jit',
  '?mode=fast&tier=jit&jit=async',
  '?bios=opensbi-fw_dynamic.bin',
];

async function termText(page: Page): Promise<string> {
  return page.evaluate(() => {
    const b = (window as unknown as { __term: { buffer: { active: { length: number; getLine(i: number): { translateToString(t: boolean): string } | undefined } } } }).__term.buffer.active;
    const o: string[] = [];
    for (let i = 0; i < b.length; i++) o.push(b.getLine(i)?.translateToString(true) ?? '');
    return o.join('\n').trimEnd();
  });
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

await buildWebBundle();
const { server, url } = await startWebServer({ port: 0, guestsDir: DEFAULT_GUESTS });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
console.log(`chromium ${browser.version()}, ${RUNS} run(s) per row (median)`);
console.log('page                                  time to prompt (range)          instructions   load; JIT');
for (const q of CONFIGS) {
  const times: number[] = [];
  let info = '';
  for (let i = 0; i < RUNS; i++) {
    const page = await browser.newPage();
    const t0 = performance.now();
    await page.goto(url + q);
    while (!/(^|\n)\/ #$/.test(await termText(page))) {
      if (performance.now() - t0 > 180_000) throw new Error(`${q}: no prompt after 180 s`);
      await page.waitForTimeout(20);
    }
    times.push((performance.now() - t0) / 1000);
    info = await page.evaluate(() => `${document.getElementById('instret')!.textContent!.padStart(12)}   ${document.getElementById('load')!.textContent!}; ${document.getElementById('jit')!.textContent!.replace(/\n/g, ', ')}`);
    await page.close();
  }
  const range = `(${Math.min(...times).toFixed(2)}–${Math.max(...times).toFixed(2)})`;
  console.log(`${(q || '(default: builtin SBI, timing)').padEnd(38)}${median(times).toFixed(2).padStart(8)} s ${range.padEnd(14)}  ${info}`);
}
await browser.close();
server.close();
