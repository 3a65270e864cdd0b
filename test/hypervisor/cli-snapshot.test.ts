/**
 * Issue 12 scope 4 through the CLI: `cyclevisor ctl PATH snapshot web FILE|NAME` on a running host
 * (the VM keeps running), `snapshot-list`, `snapshot-revert`, `snapshot-delete` (the tree beside the
 * definition file), and `cyclevisor host FILE --restore web=web.cvsnap`: the restored VM ends with
 * the same counters as an uninterrupted run and prints the rest of its transcript. Bad snapshot
 * files: one line, exit 2, no VM run.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { fakeIo } from '../helpers/cli-io.js';
import { timerGuest } from '../helpers/snapshot.js';

const dir = mkdtempSync(join(tmpdir(), 'cv-snap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'g.elf'), timerGuest(3000));
const FILE = join(dir, 'vms.yaml');
writeFileSync(FILE, `host: { harts: 1, ram: 64M }\nvms:\n  - { name: web, memory: 8M, kernel: g.elf }\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The counters of VM web in a --stats json file that must match between runs. */
function vmCounters(statsFile: string) {
  const j = JSON.parse(readFileSync(statsFile, 'utf8')) as { vms: Array<Record<string, unknown>> };
  const v = j.vms[0]!;
  return Object.fromEntries(Object.entries(v).filter(([k]) => /^(vcpu\.0\.(instructions|cycles)|exit\.|console\.bytes|state\.)/.test(k)));
}
const transcript = (out: string) => out.split('\n').filter((l) => l.startsWith('web')).map((l) => l.replace(/^web\s*\| ?/, '')).join('');

async function ctl(sock: string, ...args: string[]) {
  const io = fakeIo();
  const code = await main(['ctl', sock, ...args], io);
  return { code, out: io.out(), err: io.err() };
}

describe('snapshots through ctl and host --restore', () => {
  it('snapshot (paused and running), list, restore in a fresh host, revert, delete', async () => {
    // The reference: uninterrupted.
    const refIo = fakeIo();
    expect(await main(['host', FILE, '--stats', 'json', '--stats-file', join(dir, 'ref.json')], refIo)).toBe(0);
    const ref = vmCounters(join(dir, 'ref.json'));
    const refText = transcript(refIo.out());
    expect(refText.length).toBeGreaterThan(3000);

    // A controlled host: suspend early, snapshot by name into the tree (paused), resume, snapshot
    // to a path while it runs.
    const sock = join(dir, 'cv.sock');
    const io = fakeIo();
    const running = main(['host', FILE, '--control', sock, '--stats', 'json', '--stats-file', join(dir, 'run.json')], io);
    while (!existsSync(sock)) await sleep(5);
    expect((await ctl(sock, 'suspend', 'web')).code).toBe(0);
    const s1 = await ctl(sock, 'snapshot', 'web', 's1');
    expect(s1).toEqual({ code: 0, out: 'Domain snapshot s1 created\n', err: '' });
    expect(existsSync(join(dir, 'vms.snapshots', 'web', 's1.cvsnap'))).toBe(true);
    expect((await ctl(sock, 'dominfo', 'web')).out).toMatch(/State:\s+paused/);
    // While it is paused (the host cannot finish under us): the tree, a duplicate name refused.
    const list = await ctl(sock, 'snapshot-list', 'web');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^ Name\s+Creation Time\s+State\s+VM time\s+Parent\n-+\n s1/);
    expect(list.out).toMatch(/ s1 .*paused/);
    // Duplicate names are refused.
    expect(await ctl(sock, 'snapshot', 'web', 's1')).toMatchObject({ code: 1, err: "cyclevisor: web already has a snapshot named 's1' (snapshot-delete it first)\n" });
    expect((await ctl(sock, 'resume', 'web')).code).toBe(0);
    const path = join(dir, 'web.cvsnap');
    const s2 = await ctl(sock, 'snapshot', 'web', path);
    // The VM may have finished by now on a fast machine; if not, the snapshot was taken running.
    console.log(`running snapshot: ${s2.code === 0 ? 'taken' : 'VM already done'}`);
    if (s2.code === 0) expect(s2.out).toBe('Domain snapshot web created\n');
    else expect(s2.err).toMatch(/domain is not running|the host closed the connection|no such socket|connection refused/);
    expect(await running).toBe(0);
    // The VM that was snapshotted went on as if nothing happened.
    expect(vmCounters(join(dir, 'run.json'))).toEqual(ref);
    expect(transcript(io.out())).toBe(refText);

    // Restore the paused snapshot into a fresh host: paused VMs stay paused, so restore the tree's file
    // through revert instead; the running one (if taken) through --restore.
    if (s2.code === 0) {
      const rio = fakeIo();
      expect(await main(['host', FILE, '--restore', `web=${path}`, '--stats', 'json', '--stats-file', join(dir, 'restored.json')], rio)).toBe(0);
      expect(vmCounters(join(dir, 'restored.json'))).toEqual(ref);
      expect(refText.endsWith(transcript(rio.out()))).toBe(true);
    }

    // Revert on a live host to s1 (paused), resume: the run ends with the reference counters. The
    // same definition file (same tree) now boots a guest that runs far longer, so the host is
    // certainly still up to take the commands; the revert replaces it with s1's state.
    writeFileSync(join(dir, 'long.elf'), timerGuest(10_000_000));
    writeFileSync(FILE, `host: { harts: 1, ram: 64M }\nvms:\n  - { name: web, memory: 8M, kernel: long.elf }\n`);
    const io2 = fakeIo();
    const running2 = main(['host', FILE, '--control', sock, '--stats', 'json', '--stats-file', join(dir, 'rev.json')], io2);
    while (!existsSync(sock)) await sleep(5);
    expect((await ctl(sock, 'suspend', 'web')).code).toBe(0);
    expect(await ctl(sock, 'snapshot-revert', 'web', 's1')).toEqual({ code: 0, out: "Domain 'web' reverted to snapshot s1\n", err: '' });
    expect((await ctl(sock, 'dominfo', 'web')).out).toMatch(/State:\s+paused/);
    expect(await ctl(sock, 'snapshot-revert', 'web', 'nope')).toMatchObject({ code: 1, err: "cyclevisor: web has no snapshot named 'nope' (snapshot-list web)\n" });
    expect((await ctl(sock, 'resume', 'web')).code).toBe(0);
    expect(await running2).toBe(0);
    expect(vmCounters(join(dir, 'rev.json'))).toEqual(ref);

    // Delete: the entry and its file go.
    const io3 = fakeIo();
    const running3 = main(['host', FILE, '--control', sock], io3);
    while (!existsSync(sock)) await sleep(5);
    expect((await ctl(sock, 'suspend', 'web')).code).toBe(0);
    expect(await ctl(sock, 'snapshot-delete', 'web', 's1')).toEqual({ code: 0, out: 'Domain snapshot s1 deleted\n', err: '' });
    expect(existsSync(join(dir, 'vms.snapshots', 'web', 's1.cvsnap'))).toBe(false);
    expect((await ctl(sock, 'snapshot-list', 'web')).out).not.toMatch(/ s1 /);
    expect((await ctl(sock, 'destroy', 'web')).code).toBe(0);
    await running3;
  }, 60_000);

  it('--restore with a bad file: one line, exit 2, nothing runs', async () => {
    const bad = join(dir, 'bad.cvsnap');
    writeFileSync(bad, 'CVSNAP\r\n garbage');
    for (const [file, msg] of [
      [bad, `cyclevisor: ${bad}: truncated (16 bytes, the header alone is 56)\n`],
      [join(dir, 'missing.cvsnap'), `cyclevisor: ${join(dir, 'missing.cvsnap')}: no such file\n`],
    ] as const) {
      const io = fakeIo();
      expect(await main(['host', FILE, '--restore', `web=${file}`], io)).toBe(2);
      expect(io.err()).toBe(msg);
      expect(io.out()).toBe('');
    }
    const io = fakeIo();
    expect(await main(['host', FILE, '--restore', 'db=x.cvsnap'], io)).toBe(2);
    expect(io.err()).toBe(`cyclevisor: --restore db=x.cvsnap: no VM of that name in ${FILE} (VMs: web)\n`);
  });
});

describe('ctl balloon', () => {
  it('sets the target of a VM with a balloon; refuses one without, or more than its memory', async () => {
    const f = join(dir, 'bal.yaml');
    writeFileSync(f, `host: { harts: 1, ram: 64M }\nvms:\n  - { name: web, memory: 8M, kernel: g.elf, balloon: true }\n  - { name: db, memory: 8M, kernel: g.elf, balloon: false }\n`);
    const sock = join(dir, 'bal.sock');
    const io = fakeIo();
    const running = main(['host', f, '--control', sock], io);
    while (!existsSync(sock)) await sleep(5);
    await ctl(sock, 'suspend', 'web');
    await ctl(sock, 'suspend', 'db');
    expect(await ctl(sock, 'balloon', 'web', '4M')).toEqual({ code: 0, out: "Domain 'web' memory target set to 4 MiB (balloon)\n", err: '' });
    expect((await ctl(sock, 'domstats', 'web')).out).toMatch(/balloon\.maximum=8192\n/);
    expect(await ctl(sock, 'balloon', 'web', '16M')).toMatchObject({ code: 1, err: 'cyclevisor: web: 16 MiB is more than its memory (8 MiB)\n' });
    expect(await ctl(sock, 'balloon', 'db', '4M')).toMatchObject({ code: 1, err: 'cyclevisor: db has no balloon device (balloon: true in its definition)\n' });
    expect((await ctl(sock, 'balloon', 'web', 'lots')).code).toBe(2);
    await ctl(sock, 'destroy', 'web');
    await ctl(sock, 'destroy', 'db');
    await running;
  });
});
