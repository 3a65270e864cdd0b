/**
 * Issue 12 scope 5: live migration between two hosts over TCP (here two HostRunners in one process;
 * test/hypervisor/migration-e2e.test.ts does it with two `cyclevisor host` processes). The bar: the
 * migrated VM's console transcript (source before + target after) and final counters equal an
 * uninterrupted run's — dirty logging costs the guest nothing, the stop-and-copy is invisible to it.
 * Failures: a target that cannot hold the VM refuses before anything moves, a connection that
 * fails leaves the source VM running.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadHostConfig } from '../../src/hypervisor/config.js';
import { HostRunner } from '../../src/hypervisor/runner.js';
import { ControlError } from '../../src/hypervisor/control-api.js';
import { timerGuest } from '../helpers/snapshot.js';

const dir = mkdtempSync(join(tmpdir(), 'cv-mig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'g.elf'), timerGuest(20_000));
// A guest that runs far longer than any migration here (the copy-storage test destroys it).
writeFileSync(join(dir, 'long.elf'), timerGuest(10_000_000));
const SRC = join(dir, 'src.yaml');
writeFileSync(SRC, `host: { harts: 1, ram: 64M }\nvms:\n  - { name: web, memory: 8M, kernel: g.elf }\n`);
// The target defines a placeholder VM only (the migrated one is defined from the source's spec).
const DST = join(dir, 'dst.yaml');
writeFileSync(DST, `host: { harts: 1, ram: 64M }\nvms:\n  - { name: idle, memory: 2M, kernel: g.elf, autostart: false }\n`);
const SMALL = join(dir, 'small.yaml');
writeFileSync(SMALL, `host: { harts: 1, ram: 16M }\nvms:\n  - { name: idle, memory: 4M, kernel: g.elf, autostart: false }\n`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let port = 17_000 + (process.pid % 2000);

function runner(file: string, incoming?: string) {
  const out: string[] = [];
  const r = new HostRunner(loadHostConfig(file), incoming ? { incoming } : {});
  const done = r.run({ maxInsns: null, maxCycles: null, onConsole: (_n, b) => out.push(Buffer.from(b).toString('latin1')) });
  return { r, done, text: () => out.join('') };
}
async function counters(r: HostRunner, name: string) {
  const s = (await r.domstats(name))[0]!.stats;
  return Object.fromEntries(Object.entries(s).filter(([k]) => /^(vcpu\.\d+\.(instructions|cycles)|exit\.|console\.bytes)/.test(k)));
}

describe('live migration (in one process, two hosts over TCP)', () => {
  it('migrate-while-running: the same transcript and counters as an uninterrupted run', async () => {
    const ref = runner(SRC);
    await ref.done;
    const refCounters = await counters(ref.r, 'web');
    const refText = ref.text();
    ref.r.close();

    const uri = `tcp:127.0.0.1:${++port}`;
    const dst = runner(DST, uri);
    const src = runner(SRC);
    await sleep(30);
    const rep = await src.r.migrate('web', uri, {});
    expect(rep.rounds).toBeGreaterThanOrEqual(1);
    expect(rep.pagesPerRound.length).toBe(rep.rounds + 1);
    expect(rep.pagesPerRound[0]).toBeGreaterThan(0);
    expect(rep.bytes).toBeGreaterThan(0);
    expect(rep.downtimeCycles).toBeGreaterThan(0);
    expect(rep.totalCycles).toBeGreaterThanOrEqual(rep.downtimeCycles);
    expect(rep.bandwidthBitsPerSecond).toBe(1e9);
    const srcEnd = await src.done;
    expect(srcEnd.vms).toEqual([{ name: 'web', state: 'shut off', reason: 'migrated' }]);
    const dstEnd = await dst.done;
    expect(dstEnd.vms.find((v) => v.name === 'web')).toEqual({ name: 'web', state: 'shut off', reason: 'shutdown' });
    expect(src.text() + dst.text()).toBe(refText);
    expect(src.text().length).toBeGreaterThan(0);
    expect(await counters(dst.r, 'web')).toEqual(refCounters);
    src.r.close();
    dst.r.close();
  }, 60_000);

  it('a target with too little memory refuses before anything moves; the source VM runs on', async () => {
    const uri = `tcp:127.0.0.1:${++port}`;
    const dst = runner(SMALL, uri);
    const src = runner(SRC);
    await sleep(20);
    const err = await src.r.migrate('web', uri, {}).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ControlError);
    expect((err as Error).message).toMatch(/^migrate web to tcp:127\.0\.0\.1:\d+: the target refused: web: needs 10 MiB of host RAM \(guest memory \+ G-stage tables\), only \d+ MiB free \(host RAM is at most 2G today\); web keeps running here$/);
    expect((await src.r.dominfo('web')).state).toBe('running');
    const end = await src.done;
    expect(end.vms).toEqual([{ name: 'web', state: 'shut off', reason: 'shutdown' }]);
    dst.r.interrupt();
    await dst.done;
    src.r.close();
    dst.r.close();
  }, 60_000);

  it('nobody listening: one line, the VM keeps running', async () => {
    const src = runner(SRC);
    await sleep(10);
    const err = await src.r.migrate('web', `tcp:127.0.0.1:${++port}`, {}).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/^migrate: cannot connect to tcp:127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
    expect((await src.done).vms[0]).toEqual({ name: 'web', state: 'shut off', reason: 'shutdown' });
    src.r.close();
  });
});

const GUESTS = join(import.meta.dirname, '..', '..', '..', 'shared', 'guests');
const haveLinux = existsSync(join(GUESTS, 'linux-6.1-rv64.Image')) && existsSync(join(GUESTS, 'initramfs-busybox.cpio.gz'));

describe.skipIf(!haveLinux)('live migration of Linux + busybox (issue 12 bar)', () => {
  it('busybox autotest on 2 vCPUs migrated mid-run: the same transcript and counters as an uninterrupted run', async () => {
    const vm = `{ name: web, vcpus: 2, memory: 256M, kernel: ${join(GUESTS, 'linux-6.1-rv64.Image')}, initrd: ${join(GUESTS, 'initramfs-busybox.cpio.gz')}, cmdline: "console=ttyS0 autotest" }`;
    const srcFile = join(dir, 'bb-src.yaml');
    writeFileSync(srcFile, `host: { harts: 1, ram: 320M }\nvms:\n  - ${vm}\n`);
    const dstFile = join(dir, 'bb-dst.yaml');
    writeFileSync(dstFile, `host: { harts: 1, ram: 320M }\nvms:\n  - ${vm.replace('}', ', autostart: false }')}\n`);
    const ref = runner(srcFile);
    await ref.done;
    const refCounters = await counters(ref.r, 'web');
    const refText = ref.text();
    ref.r.close();
    expect(refText).toContain('AUTOTEST DONE');

    const uri = `tcp:127.0.0.1:${++port}`;
    const dst = runner(dstFile, uri);
    const src = runner(srcFile);
    const web = src.r.host.vms[0]!;
    while (web.now < 120_000_000) await sleep(5);
    // 10 Gbit/s: round 0 (every non-zero page) crosses the link in a few million cycles, well
    // before the workload ends.
    const rep = await src.r.migrate('web', uri, { bandwidth: 1e10 });
    console.log(`busybox migration: ${JSON.stringify(rep)}`);
    expect(rep.rounds).toBeGreaterThanOrEqual(1);
    expect((await src.done).vms[0]).toEqual({ name: 'web', state: 'shut off', reason: 'migrated' });
    await dst.done;
    expect(src.text()).toContain('Linux version');
    expect(src.text() + dst.text()).toBe(refText);
    expect(await counters(dst.r, 'web')).toEqual(refCounters);
    src.r.close();
    dst.r.close();
  }, 300_000);
});

describe('bad migration streams (issue 12 scope 6): one line, nothing changes on the target', () => {
  it('wrong protocol version, garbage, a connection dropped mid-way: refused, the target VM stays shut off', async () => {
    const { createConnection } = await import('node:net');
    const uri = `tcp:127.0.0.1:${++port}`;
    const dst = runner(DST, uri);
    await sleep(30);
    const talk = (bytes: Buffer, end = true) =>
      new Promise<Buffer>((resolve) => {
        const s = createConnection(port, '127.0.0.1');
        const got: Buffer[] = [];
        s.on('data', (b: Buffer) => got.push(b));
        s.on('close', () => resolve(Buffer.concat(got)));
        s.on('error', () => {});
        s.on('connect', () => (end ? s.end(bytes) : (s.write(bytes), setTimeout(() => s.destroy(), 50))));
      });
    const hello = (o: unknown) => {
      const p = Buffer.from(JSON.stringify(o));
      const h = Buffer.alloc(5);
      h.writeUInt8(1, 0);
      h.writeUInt32LE(p.length, 1);
      return Buffer.concat([h, p]);
    };
    const refusal = (b: Buffer) => (b.length > 5 && b[0] === 3 ? (JSON.parse(b.subarray(5).toString()) as { error: string }).error : `no refusal (${b.length} bytes)`);
    expect(refusal(await talk(hello({ protocol: 2 })))).toBe('migration protocol 2; this host speaks 1');
    expect(refusal(await talk(Buffer.from('GET / HTTP/1.0\r\n\r\n')))).toBe('not a cyclevisor migration stream');
    // A valid HELLO, then the connection drops before any state: the VM defined for it stays shut off.
    const spec = { name: 'web2', vcpus: 1, memoryBytes: 8 * 1024 * 1024, kernel: join(dir, 'g.elf'), initrd: null, cmdline: null, weight: 256, cap: null, disks: [] };
    await talk(hello({ protocol: 1, spec, timing: { cpuHz: 1e9, timebaseHz: 1e7 }, copyStorage: false }), false);
    await sleep(50);
    const list = await dst.r.list();
    expect(list.find((v) => v.name === 'web2')?.state ?? 'shut off').toBe('shut off');
    expect(list.filter((v) => v.state === 'running')).toEqual([]);
    dst.r.interrupt();
    await dst.done;
    dst.r.close();
  });
});

describe('--copy-storage', () => {
  it("sends the writable disks' contents with the final state (the target's own disk file gets them)", async () => {
    const { readFileSync } = await import('node:fs');
    const pattern = Buffer.alloc(64 * 1024);
    for (let i = 0; i < pattern.length; i += 512) pattern.writeUInt32LE(i * 13 + 5, i);
    writeFileSync(join(dir, 'a.img'), pattern);
    writeFileSync(join(dir, 'b.img'), Buffer.alloc(64 * 1024));
    const s = join(dir, 'cs-src.yaml');
    writeFileSync(s, `host: { harts: 1, ram: 64M }\nvms:\n  - { name: web, memory: 8M, kernel: long.elf, disks: [{ file: a.img }] }\n`);
    const d = join(dir, 'cs-dst.yaml');
    writeFileSync(d, `host: { harts: 1, ram: 64M }\nvms:\n  - { name: web, memory: 8M, kernel: long.elf, autostart: false, disks: [{ file: b.img }] }\n`);
    const uri = `tcp:127.0.0.1:${++port}`;
    const dst = runner(d, uri);
    const src = runner(s);
    await sleep(30);
    const rep = await src.r.migrate('web', uri, { copyStorage: true });
    expect(rep.bytes).toBeGreaterThan(0);
    await src.done;
    expect((await dst.r.dominfo('web')).state).toBe('running');
    await dst.r.destroy('web');
    await dst.done;
    src.r.close();
    dst.r.close();
    expect(readFileSync(join(dir, 'b.img')).equals(pattern)).toBe(true);
  }, 60_000);
});
