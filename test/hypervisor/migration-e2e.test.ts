/**
 * Issue 12 scope 5 with real processes: `cyclevisor host dst.yaml --incoming tcp:127.0.0.1:PORT`
 * and `cyclevisor host src.yaml --control cv.sock`, then `cyclevisor ctl cv.sock migrate web
 * tcp:127.0.0.1:PORT --bandwidth 1G`: the report (rounds, pages per round, bytes, downtime in host
 * cycles and wall ms, total time), the source ends with web 'migrated' (exit 0), the target runs it
 * to its power-off (exit 0) with the counters of an uninterrupted run, and the console transcripts
 * of the two hosts together are the uninterrupted one.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { timerGuest } from '../helpers/snapshot.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'cyclevisor');
const dir = mkdtempSync(join(tmpdir(), 'cv-mige2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'g.elf'), timerGuest(30_000));
const SRC = join(dir, 'src.yaml');
writeFileSync(SRC, `host: { harts: 1, ram: 64M }\nvms:\n  - { name: web, memory: 8M, kernel: g.elf }\n`);
const DST = join(dir, 'dst.yaml');
writeFileSync(DST, `host: { harts: 1, ram: 64M }\nvms:\n  - { name: web, memory: 8M, kernel: g.elf, autostart: false }\n`);

function start(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
  return { done, out: () => out, err: () => err };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function counters(file: string) {
  const v = (JSON.parse(readFileSync(file, 'utf8')) as { vms: Array<Record<string, unknown>> }).vms.find((x) => x['name'] === 'web')!;
  return Object.fromEntries(Object.entries(v).filter(([k]) => /^(vcpu\.0\.(instructions|cycles)|exit\.|console\.bytes)/.test(k)));
}
const transcript = (out: string) => out.split('\n').filter((l) => l.startsWith('web')).map((l) => l.replace(/^web\s*\| ?/, '')).join('');

describe('live migration between two cyclevisor host processes', () => {
  it('ctl migrate: report, source ends migrated, target finishes with the uninterrupted counters', async () => {
    const ref = spawnSync(process.execPath, [BIN, 'host', SRC, '--stats', 'json', '--stats-file', join(dir, 'ref.json')], { cwd: dir, encoding: 'utf8' });
    expect(ref.status).toBe(0);
    const port = 20_000 + (process.pid % 10_000);
    const uri = `tcp:127.0.0.1:${port}`;
    const dst = start(['host', DST, '--incoming', uri, '--stats', 'json', '--stats-file', join(dir, 'dst.json')]);
    const sock = join(dir, 'cv.sock');
    const src = start(['host', SRC, '--control', sock, '--stats', 'json', '--stats-file', join(dir, 'src.json')]);
    while (!existsSync(sock)) await sleep(10);
    // The target may still be starting: a refused connection leaves web running, so try again.
    let ctl = spawnSync(process.execPath, [BIN, 'ctl', sock, 'migrate', 'web', uri, '--bandwidth', '1G'], { cwd: dir, encoding: 'utf8' });
    for (let i = 0; i < 50 && ctl.stderr.includes('ECONNREFUSED'); i++) {
      await sleep(100);
      ctl = spawnSync(process.execPath, [BIN, 'ctl', sock, 'migrate', 'web', uri, '--bandwidth', '1G'], { cwd: dir, encoding: 'utf8' });
    }
    expect(ctl.stderr).toBe('');
    expect(ctl.status).toBe(0);
    expect(ctl.stdout).toMatch(new RegExp(`^Domain 'web' migrated to ${uri}\\nrounds: +\\d+ \\(pre-copy\\) \\+ stop-and-copy\\npages per round: [\\d ]+\\nbytes sent: +\\d+\\nlink: +1000 Mbit/s \\(modeled\\)\\ndowntime: +\\d+ host cycles, [\\d.]+ ms wall \\(guest-visible: 0, by construction\\)\\ntotal time: +\\d+ host cycles, [\\d.]+ ms wall\\n$`));
    expect(await src.done).toBe(0);
    expect(await dst.done).toBe(0);
    expect(counters(join(dir, 'dst.json'))).toEqual(counters(join(dir, 'ref.json')));
    expect(transcript(src.out()) + transcript(dst.out())).toBe(transcript(ref.stdout));
    const srcStats = JSON.parse(readFileSync(join(dir, 'src.json'), 'utf8')) as { vms: Array<Record<string, unknown>> };
    expect(srcStats.vms[0]!['state.reason']).toBe('migrated');
  }, 120_000);
});
