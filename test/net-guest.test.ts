/**
 * The network bar of issue 13 with the real peers: Linux 6.1's virtio_net driver and busybox's
 * udhcpc, ping, wget, nslookup and httpd in the guest (the network test initramfs,
 * scripts/net-initramfs.ts + test/guests/net/init.sh), real sockets on the host's loopback:
 *  - DHCP from the user network, ping of the gateway, wget from a host HTTP server through NAT,
 *    a name resolved through 10.0.2.3 by a stub resolver on the loopback;
 *  - the host fetching from the guest's httpd through hostfwd (`tcp:127.0.0.1:PORT-:80`);
 *  - `cyclevisor boot --netdev user,hostfwd=...` end to end.
 * Paced (as the CLI runs a guest with a host socket), so guest timers do not outrun host sockets.
 */
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { UserNet, parseHostForward } from '../src/net/slirp.js';
import { defaultMac } from '../src/net/link.js';
import { buildNetInitramfs } from '../scripts/net-initramfs.js';
import { haveImages, image } from './helpers/guests.js';

const have = haveImages('linux-6.1-rv64.Image', 'initramfs-busybox.cpio.gz');
const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function hostHttpServer(): Promise<number> {
  const srv = http.createServer((req, res) => res.end(`hello from the host, you asked for ${req.url}`));
  cleanups.push(() => srv.close());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as net.AddressInfo).port;
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe.skipIf(!have)('network guest (needs ../shared/guests)', () => {
  it('DHCP, ping the gateway, wget through NAT, DNS through 10.0.2.3, the host fetches from the guest httpd through hostfwd', async () => {
    const webPort = await hostHttpServer();
    // A stub resolver on the loopback: answers every A query with 10.11.12.13 (RFC 1035 §4.1).
    const stub = dgram.createSocket('udp4');
    cleanups.push(() => stub.close());
    const questions: string[] = [];
    stub.on('message', (q, r) => {
      let i = 12;
      const labels: string[] = [];
      while (q[i] !== 0 && i < q.length) {
        labels.push(q.subarray(i + 1, i + 1 + q[i]).toString());
        i += q[i] + 1;
      }
      const qtype = q.readUInt16BE(i + 1);
      questions.push(`${labels.join('.')}/${qtype}`);
      const end = i + 5;
      const head = Buffer.from(q.subarray(0, end));
      head[2] = 0x81; // QR, RD
      head[3] = 0x80; // RA, NOERROR
      head.writeUInt16BE(qtype === 1 ? 1 : 0, 6);
      head.writeUInt16BE(0, 8);
      head.writeUInt16BE(0, 10);
      const ans = qtype === 1 ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 11, 12, 13]) : Buffer.alloc(0);
      stub.send(Buffer.concat([head, ans]), r.port, r.address);
    });
    await new Promise<void>((r) => stub.bind(0, '127.0.0.1', r));
    const fwdPort = await freePort();
    const un = new UserNet({ hostfwd: [parseHostForward(`tcp:127.0.0.1:${fwdPort}-:80`)], dns: { host: '127.0.0.1', port: stub.address().port } });
    await un.listen();
    const fetched: Array<{ status: number; body: string }> = [];
    let text = '';
    let fetching = false;
    const m = new VirtMachine({
      ramBytes: 256 << 20,
      nics: [{ mac: defaultMac(0), backend: un }],
      onOutput: (b) => {
        text += Buffer.from(b).toString('latin1');
        if (!fetching && text.includes('net: httpd ready')) {
          fetching = true;
          void (async () => {
            fetched.push(await get(`http://127.0.0.1:${fwdPort}/`));
            fetched.push(await get(`http://127.0.0.1:${fwdPort}/cgi-bin/done`));
          })();
        }
      },
    });
    cleanups.push(() => m.close());
    m.attachHostSocket(un);
    const initrd = join(mkdtempSync(join(tmpdir(), 'cv-net-')), 'initramfs-net.cpio');
    writeFileSync(initrd, buildNetInitramfs());
    bootLinux(m, {
      bios: 'builtin',
      kernel: image('linux-6.1-rv64.Image'),
      initrd,
      append: `console=ttyS0 nettest=user netfetch=http://10.0.2.2:${webPort}/index.txt netdns=www.example.test nethttpd=1`,
    });
    const r = await m.runAsync({ pace: true, maxInsns: 3_000_000_000 });
    const out = text;
    expect(out).toContain('net: eth0 mac 52:54:00:12:34:56');
    expect(out).toContain('net: dhcp ok 10.0.2.15 router 10.0.2.2 dns 10.0.2.3');
    expect(out).toContain('net: ping gateway ok (3 replies)');
    expect(out).toContain('net: wget ok: hello from the host, you asked for /index.txt');
    expect(out).toContain('net: dns www.example.test 10.11.12.13');
    expect(questions).toContain('www.example.test/1');
    expect(out).toContain('net: host fetched from httpd');
    expect(out).toContain('AUTOTEST DONE');
    expect(fetched).toEqual([
      { status: 200, body: "hello from the guest's httpd\n" },
      { status: 200, body: 'guest cgi ok\n' },
    ]);
    expect(r).toEqual({ reason: 'exit', code: 0 });
    const s = m.nics[0].stats;
    expect(s.rxPackets).toBeGreaterThan(10);
    expect(s.txPackets).toBeGreaterThan(10);
    expect(s.rxDrops + s.txDrops).toBe(0);
    expect(un.stats.dhcpReplies).toBeGreaterThanOrEqual(2);
    expect(un.stats.icmpEchoReplies).toBe(3);
    expect(un.stats.tcpForwarded).toBe(2);
  }, 240_000);

  it('cyclevisor boot --netdev user,hostfwd=tcp:127.0.0.1:PORT-:80 (the CLI end to end)', async () => {
    const webPort = await hostHttpServer();
    const fwdPort = await freePort();
    const initrd = join(mkdtempSync(join(tmpdir(), 'cv-net-')), 'initramfs-net.cpio');
    writeFileSync(initrd, buildNetInitramfs());
    const args = [
      join(__dirname, '..', 'bin', 'cyclevisor'),
      'boot',
      '--kernel',
      image('linux-6.1-rv64.Image'),
      '--initrd',
      initrd,
      '--append',
      `console=ttyS0 nettest=user netfetch=http://10.0.2.2:${webPort}/cli nethttpd=1`,
      '--netdev',
      `user,hostfwd=tcp:127.0.0.1:${fwdPort}-:80`,
      '--stats',
      'json',
      '--stats-file',
      join(dirname(initrd), 'stats.json'),
    ];
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => p.kill('SIGKILL'));
    let out = '';
    let err = '';
    let fetched: Promise<{ status: number; body: string }> | null = null;
    p.stdout.on('data', (d) => {
      out += d;
      if (!fetched && out.includes('net: httpd ready')) fetched = get(`http://127.0.0.1:${fwdPort}/cgi-bin/done`);
    });
    p.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => p.on('exit', r));
    expect(err).toBe('');
    expect(out).toContain('net: dhcp ok 10.0.2.15');
    expect(out).toContain('net: wget ok: hello from the host, you asked for /cli');
    expect(out).toContain('net: host fetched from httpd');
    expect(await fetched).toEqual({ status: 200, body: 'guest cgi ok\n' });
    expect(code).toBe(0);
    // The NIC's counters in the summary: packets and bytes per direction, no drops.
    const nic = JSON.parse(readFileSync(join(dirname(initrd), 'stats.json'), 'utf8')).devices['virtio-net0'];
    expect(nic.rxPackets).toBeGreaterThan(10);
    expect(nic.txPackets).toBeGreaterThan(10);
    expect(nic.rxBytes).toBeGreaterThan(nic.rxPackets * 42);
    expect(nic.rxDrops + nic.txDrops).toBe(0);
  }, 240_000);

  it('cyclevisor host: a VM with nics: [ { network: user } ] gets DHCP, pings the gateway, wgets from the host', async () => {
    const webPort = await hostHttpServer();
    const dir = mkdtempSync(join(tmpdir(), 'cv-net-'));
    writeFileSync(join(dir, 'initramfs-net.cpio'), buildNetInitramfs());
    const file = join(dir, 'vms.yaml');
    writeFileSync(
      file,
      `host: { harts: 1, ram: 256M }\nvms:\n  - name: web\n    memory: 192M\n    kernel: ${image('linux-6.1-rv64.Image')}\n    initrd: initramfs-net.cpio\n` +
        `    cmdline: console=ttyS0 nettest=user netfetch=http://10.0.2.2:${webPort}/vm\n    nics: [ { network: user } ]\n`,
    );
    // A user-network NIC makes the run paced by default (host --pace, src/hypervisor/pacing.ts).
    const statsFile = join(dir, 'stats.json');
    const p = spawn(process.execPath, [join(__dirname, '..', 'bin', 'cyclevisor'), 'host', file, '--stats', 'json', '--stats-file', statsFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => p.kill('SIGKILL'));
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((r) => p.on('exit', r));
    expect(out).toContain('web | net: dhcp ok 10.0.2.15 router 10.0.2.2 dns 10.0.2.3');
    expect(out).toContain('web | net: ping gateway ok (3 replies)');
    expect(out).toContain('web | net: wget ok: hello from the host, you asked for /vm');
    expect(code).toBe(0);
    // The NIC's counters in the VM's domstats (libvirt names): real traffic both ways, no drops.
    const vm = JSON.parse(readFileSync(statsFile, 'utf8')).vms[0];
    expect(vm['net.count']).toBe(1);
    expect(vm['net.0.rx.pkts']).toBeGreaterThan(10);
    expect(vm['net.0.tx.pkts']).toBeGreaterThan(10);
    expect(vm['net.0.rx.bytes']).toBeGreaterThan(vm['net.0.rx.pkts'] * 42);
    expect(vm['net.0.tx.bytes']).toBeGreaterThan(vm['net.0.tx.pkts'] * 42);
    expect(vm['net.0.rx.drop'] + vm['net.0.tx.drop']).toBe(0);
  }, 240_000);

  it('a hostfwd port already in use is one line on stderr and exit 2', async () => {
    const busy = net.createServer();
    cleanups.push(() => busy.close());
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    const p = spawn(process.execPath, [join(__dirname, '..', 'bin', 'cyclevisor'), 'boot', '--kernel', image('linux-6.1-rv64.Image'), '--netdev', `user,hostfwd=tcp:127.0.0.1:${port}-:80`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => p.on('exit', r));
    expect(code).toBe(2);
    expect(err).toBe(`cyclevisor: --netdev user: hostfwd=tcp:127.0.0.1:${port}-10.0.2.15:80: cannot listen (EADDRINUSE)\n`);
  });
});
