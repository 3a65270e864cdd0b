/**
 * Issue 11 items 3-5, the machinery: a tiny experiment writes its report (Markdown, SVG, PNG, CSV)
 * with the exact walk counts; the sweep file's points run through the local worker pool and through
 * a BullMQ queue on a REAL redis-server with two `sweep-worker` processes, with identical results;
 * and a crashed sweep resumes without running its finished points again.
 *
 * The commands run as a user runs them (node bin/cyclevisor.js, the compiled dist/): the worker
 * threads load dist/src/experiments/*.js.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandSweep, parseSweep } from '../../src/experiments/sweep.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'bin', 'cyclevisor.js');
const sweepFile = join(root, 'examples', 'sweep-small.yaml');
const dir = mkdtempSync(join(tmpdir(), 'cv-expts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: dir, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

describe('sweep files', () => {
  it('the example expands to 32 points, the full configuration in each, with stable ids', () => {
    const spec = parseSweep(readFileSync(sweepFile, 'utf8'), 'sweep-small.yaml');
    const pts = expandSweep(spec);
    expect(pts).toHaveLength(32);
    expect(new Set(pts.map((p) => p.id)).size).toBe(32);
    expect(pts[0]!.config).toMatchObject({ workload: 'tlbwalk', paging: 'native', sv: 39, gpage: '4K', ws: 64, loads: 500, seed: 7, l1: 40, l2: 512, pwc: 0, ntlb: 0, walkLatency: 3 });
    expect(expandSweep(spec).map((p) => p.id)).toEqual(pts.map((p) => p.id));
  });

  it.each([
    ['axes: { color: [red] }', 'x.yaml: unknown axis "color" (axes: workload, paging, sv, gpage, ws, loads, seed, l1, l2, pwc, ntlb, walkLatency, exitCycles, entryCycles, thp, ops)'],
    ['axes: { ws: [100] }', 'x.yaml: point 1 (ws=100): ws must be a power of two from 1 to 16384, got 100'],
    ['axes: { paging: [] }', 'x.yaml: axes.paging: Too small: expected array to have >=1 items'],
    ['axes: [1', 'x.yaml: invalid YAML'],
    ['fixed: { sv: 39 }\naxes: { sv: [48] }', 'x.yaml: "sv" is both fixed and an axis'],
  ])('%s is refused in one line', (text, msg) => {
    expect(() => expandSweep(parseSweep(text, 'x.yaml'), 'x.yaml')).toThrow(msg);
  });

  it('bad command lines: one line on stderr, exit 2', async () => {
    const r = await run(['sweep', join(dir, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await run(['experiment', 'nope'])).stderr).toBe('cyclevisor: no experiment named "nope" (experiments: walk-refs, walk-caches, crossover, all)\n');
    expect((await run(['sweep', sweepFile, '--queue', 'http://x'])).stderr).toBe('cyclevisor: --queue http://x: expected a redis:// or rediss:// URL\n');
  });
});

describe('experiment walk-refs --quick', () => {
  it('writes report.md, SVG and PNG plots and the raw CSV; 3 / 15 / 24 references exactly', async () => {
    const out = join(dir, 'wr');
    const r = await run(['experiment', 'walk-refs', '--quick', '--jobs', '2', '-o', out]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`experiment walk-refs: ${join(out, 'report.md')} (6/6 checks agree)\n`);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('| Sv39 on Sv39x4, G 4K | 259 | 15 | 15–15 |');
    expect(md).toContain('| Sv48 on Sv48x4, G 4K | 259 | 24 | 24–24 |');
    expect(md).toContain('| Sv39 native | 259 | 3 | 3–3 |');
    expect(readFileSync(join(out, 'walk-refs.svg'), 'utf8')).toMatch(/^<svg[^>]*>/);
    expect(readFileSync(join(out, 'walk-refs.png')).subarray(1, 4).toString()).toBe('PNG');
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(7);
    expect(csv[0]).toMatch(/^point,id,workload,paging,sv,gpage,/);
    // The same rows as JSON (the CSV quotes the ops list, which holds commas).
    const rows = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { rows: Array<Record<string, unknown>> }).rows;
    expect(rows.map((r) => [r['paging'], r['sv'], r['gpage'], r['refsMin'], r['refsMax']])).toEqual([
      ['native', 39, '4K', 3, 3],
      ['nested', 39, '4K', 15, 15],
      ['nested', 39, '2M', 11, 11],
      ['native', 48, '4K', 4, 4],
      ['nested', 48, '4K', 24, 24],
      ['nested', 48, '2M', 19, 19],
    ]);
  });
});

describe('sweep through the local pool, resumed after a crash', () => {
  it('32 points; a results log cut mid-line (a crash) resumes: only the missing points run, same CSV', async () => {
    const out = join(dir, 'local');
    const r = await run(['sweep', sweepFile, '--jobs', '2', '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`sweep small: 32 points (32 run, 0 already done): ${join(out, 'results.csv')}\n`);
    const csv = readFileSync(join(out, 'results.csv'), 'utf8');
    expect(csv.trim().split('\n')).toHaveLength(33);
    // Every paging configuration loaded the same values.
    const rows = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { rows: Array<Record<string, unknown>> }).rows;
    expect(rows).toHaveLength(32);
    expect(new Set(rows.map((r) => r['sum'])).size).toBe(1);

    // The crash: keep 10 finished points and half of the 11th line.
    const log = readFileSync(join(out, 'results.jsonl'), 'utf8').split('\n');
    writeFileSync(join(out, 'results.jsonl'), log.slice(0, 10).join('\n') + '\n' + log[10]!.slice(0, 40));
    rmSync(join(out, 'results.csv'));
    const again = await run(['sweep', sweepFile, '--jobs', '2', '-o', out]);
    expect(again.stdout).toBe(`sweep small: 32 points (22 run, 10 already done): ${join(out, 'results.csv')}\n`);
    expect(readFileSync(join(out, 'results.csv'), 'utf8')).toBe(csv);
    // Nothing left to do: nothing runs.
    const third = await run(['sweep', sweepFile, '-o', out]);
    expect(third.stdout).toContain('(0 run, 32 already done)');
  });
});

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

describe.skipIf(!hasRedis)('sweep through BullMQ on a real redis-server (apt: redis-server)', () => {
  let redis: ChildProcess;
  let url = '';
  const workers: ChildProcess[] = [];
  const workerLogs: string[] = [];

  beforeAll(async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 50; i++) {
      if (spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG') break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
    redis.kill('SIGTERM');
  });

  it('two sweep-worker processes run the 32 points; the results equal the local pool\'s byte for byte', async () => {
    for (let i = 0; i < 2; i++) {
      const w = spawn(process.execPath, [cli, 'sweep-worker', '--queue', url, '--jobs', '1'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      workerLogs.push('');
      w.stderr!.on('data', (d: Buffer) => (workerLogs[i] += d.toString()));
      workers.push(w);
    }
    const out = join(dir, 'redis');
    const r = await run(['sweep', sweepFile, '--queue', url, '--jobs', '0', '-o', out]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`sweep small: 32 points (32 run, 0 already done): ${join(out, 'results.csv')}\n`);
    const local = join(dir, 'local', 'results.csv');
    if (!existsSync(local)) expect((await run(['sweep', sweepFile, '--jobs', '2', '-o', join(dir, 'local')])).code).toBe(0);
    expect(readFileSync(join(out, 'results.csv'), 'utf8')).toBe(readFileSync(local, 'utf8'));
    // Both workers took points (each logs one "done" line per point), and no point ran twice.
    const done = workerLogs.map((l) => (l.match(/^done /gm) ?? []).length);
    expect(done[0]! + done[1]!).toBe(32);
    expect(Math.min(...done)).toBeGreaterThan(0);

    // A coordinator that starts again (after a crash, its results directory lost) finds every
    // point finished in the queue: it only collects, nothing runs again.
    const again = await run(['sweep', sweepFile, '--queue', url, '--jobs', '0', '-o', join(dir, 'redis2')]);
    expect(again.code).toBe(0);
    expect(readFileSync(join(dir, 'redis2', 'results.csv'), 'utf8')).toBe(readFileSync(local, 'utf8'));
    const doneAfter = workerLogs.map((l) => (l.match(/^done /gm) ?? []).length);
    expect(doneAfter[0]! + doneAfter[1]!).toBe(32);
  });
});
