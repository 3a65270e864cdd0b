/**
 * The control socket (issue 10 scope 7: "a Unix socket speaking JSON lines (QMP-like: one command,
 * one reply, plus events such as state changes)") and `cyclevisor ctl` ("virsh-shaped client: it
 * prints the reply as text (--json for the raw reply), exits 0 on success, 1 when the host refuses
 * the command (one line saying why), 2 for usage or connection errors"; "console NAME attaches ...
 * Ctrl-] detaches"; "a socket path too long for the OS is one clear line"), over a real socket
 * against a fake HostControl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ControlServer, MAX_SOCKET_PATH } from '../../src/hypervisor/control.js';
import { ctlCommand, formatList } from '../../src/cli/host.js';
import { main } from '../../src/cli/main.js';
import { parseArgs, type CtlCommand } from '../../src/cli/args.js';
import { FakeHost } from './fake-host.js';
import { fakeIo } from '../helpers/cli-io.js';

const dir = mkdtempSync(join(tmpdir(), 'cv-ctl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VMS = [
  { name: 'web', vcpus: 2, memoryBytes: 256 << 20, autostart: true, weight: 512, cap: 50 },
  { name: 'batch', vcpus: 1, memoryBytes: 128 << 20, autostart: false, weight: 256, cap: null },
];
function fakeHost(script = {}): FakeHost {
  return new FakeHost({ vms: VMS.map((v) => ({ ...v, kernel: '/k', initrd: null, cmdline: null, disks: [], shutdownTimeout: 10, paging: 'nested' as const })) }, script);
}

let sockN = 0;
const servers: ControlServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
async function serve(host = fakeHost()): Promise<{ host: FakeHost; path: string; server: ControlServer }> {
  const path = join(dir, `s${sockN++}.sock`);
  const server = await ControlServer.listen(path, host, { version: '9.9.9' });
  servers.push(server);
  return { host, path, server };
}

/** A raw JSON-lines connection: send objects, read lines. */
async function raw(path: string) {
  const sock: Socket = createConnection(path);
  await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
  let buf = '';
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  sock.on('data', (b) => {
    buf += b.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    wake?.();
  });
  const next = async (): Promise<Record<string, unknown>> => {
    while (lines.length === 0) await new Promise<void>((r) => (wake = r));
    return JSON.parse(lines.shift()!) as Record<string, unknown>;
  };
  return {
    sock,
    next,
    send: (o: unknown) => sock.write((typeof o === 'string' ? o : JSON.stringify(o)) + '\n'),
    close: () => sock.destroy(),
  };
}

const ctl = (path: string, verb: string, name?: string, json = false): CtlCommand => parseArgs(['ctl', path, verb, ...(name ? [name] : []), ...(json ? ['--json'] : [])]) as CtlCommand;

describe('the protocol (JSON lines)', () => {
  it('a command in flight when the server closes still gets its reply (shutdown settled as the last VM powers off)', async () => {
    // The run ends the moment the guest powers off, and `cyclevisor host` closes the socket then;
    // the shutdown that caused it must still be answered (it was lost before: the sockets were
    // destroyed at once and ctl said "the host closed the connection", exit 2).
    const host = fakeHost();
    await host.start('web');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    host.shutdown = async () => {
      await gate;
    };
    const { path, server } = await serve(host);
    const c = await raw(path);
    await c.next(); // greeting
    c.send({ execute: 'shutdown', arguments: { name: 'web' }, id: 7 });
    await new Promise((r) => setTimeout(r, 50));
    const closing = server.close();
    release();
    expect(await c.next()).toEqual({ return: {}, id: 7 });
    await closing;
  });

  it('greets, then one reply per command with the id echoed', async () => {
    const { host, path } = await serve();
    await host.start('web');
    const c = await raw(path);
    expect(await c.next()).toEqual({ greeting: { program: 'cyclevisor', version: '9.9.9', protocol: 1, commands: ['list', 'dominfo', 'start', 'suspend', 'resume', 'shutdown', 'reboot', 'destroy', 'domstats', 'console', 'snapshot', 'snapshot-list', 'snapshot-revert', 'snapshot-delete', 'migrate', 'balloon'] } });
    c.send({ execute: 'list', id: 'a' });
    expect(await c.next()).toEqual({
      return: [
        { id: 1, name: 'web', state: 'running' },
        { id: null, name: 'batch', state: 'shut off' },
      ],
      id: 'a',
    });
    c.send({ execute: 'dominfo', arguments: { name: 'web' }, id: 2 });
    const info = await c.next();
    expect(info['id']).toBe(2);
    expect(info['return']).toMatchObject({ name: 'web', state: 'running', vcpus: 2, weight: 512, cap: 50 });
    c.close();
  });

  it('answers bad requests with an error and keeps the connection', async () => {
    const { path } = await serve();
    const c = await raw(path);
    await c.next();
    c.send('this is not json');
    expect(await c.next()).toMatchObject({ error: { class: 'GenericError' } });
    c.send({ execute: 'frobnicate', id: 1 });
    expect(await c.next()).toMatchObject({ error: { class: 'CommandNotFound', desc: expect.stringMatching(/^unknown command 'frobnicate'/) }, id: 1 });
    c.send({ execute: 'dominfo', id: 2 });
    expect(await c.next()).toEqual({ error: { class: 'GenericError', desc: 'dominfo needs a domain name' }, id: 2 });
    c.send({ execute: 'list', arguments: { name: 'web' }, id: 3 });
    expect(await c.next()).toMatchObject({ error: { class: 'GenericError', desc: 'list takes no domain name' } });
    c.send({ execute: 'dominfo', arguments: { name: 'nope' }, id: 4 });
    expect(await c.next()).toEqual({ error: { class: 'NotFound', desc: "no domain named 'nope'" }, id: 4 });
    c.send({ execute: 'suspend', arguments: { name: 'batch' }, id: 5 });
    expect(await c.next()).toEqual({ error: { class: 'InvalidState', desc: "domain 'batch' is not running" }, id: 5 });
    c.send({ execute: 'list', id: 6 });
    expect((await c.next())['id']).toBe(6);
    c.close();
  });

  it('sends state-change events to every connection', async () => {
    const { path } = await serve();
    const watcher = await raw(path);
    await watcher.next();
    const actor = await raw(path);
    await actor.next();
    actor.send({ execute: 'start', arguments: { name: 'batch' }, id: 1 });
    expect(await actor.next()).toEqual({ event: 'DOMAIN_STATE', data: { name: 'batch', state: 'running', reason: 'booted' } });
    expect(await actor.next()).toEqual({ return: {}, id: 1 });
    expect(await watcher.next()).toEqual({ event: 'DOMAIN_STATE', data: { name: 'batch', state: 'running', reason: 'booted' } });
    watcher.close();
    actor.close();
  });

  it('replaces a stale socket file, refuses a live one and a regular file', async () => {
    // A stale socket: its host was killed (SIGKILL), so nobody removed the file.
    const stale = join(dir, 'stale.sock');
    try {
      execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    } catch {
      /* killed, as intended */
    }
    expect(existsSync(stale)).toBe(true);
    const s1 = await ControlServer.listen(stale, fakeHost(), { version: 'x' });
    servers.push(s1);
    const c = await raw(stale);
    expect(Object.keys(await c.next())).toEqual(['greeting']);
    c.close();
    const { path } = await serve();
    await expect(ControlServer.listen(path, fakeHost(), { version: 'x' })).rejects.toThrow(`--control ${path}: another host is listening there`);
    const file = join(dir, 'plain');
    writeFileSync(file, 'x');
    await expect(ControlServer.listen(file, fakeHost(), { version: 'x' })).rejects.toThrow(`--control ${file}: exists and is not a socket; refusing to replace it`);
  });

  it('removes its socket file on close', async () => {
    const { path, server } = await serve();
    expect(existsSync(path)).toBe(true);
    await server.close();
    expect(existsSync(path)).toBe(false);
  });
});

describe('cyclevisor ctl', () => {
  it('list: virsh list --all layout', async () => {
    const { host, path } = await serve();
    await host.start('web');
    const io = fakeIo();
    expect(await ctlCommand(ctl(path, 'list'), io)).toBe(0);
    expect(io.out()).toBe(' Id   Name    State\n------------------------\n 1    web     running\n -    batch   shut off\n');
    expect(io.err()).toBe('');
  });

  it('formatList matches libvirt vshTable spacing (cells " %s", 2 spaces, dashes width+3)', () => {
    expect(formatList([{ id: 12, name: 'a-long-name', state: 'paused' }])).toBe(' Id   Name          State\n----------------------------\n 12   a-long-name   paused\n');
  });

  it('dominfo: virsh dominfo labels', async () => {
    const { host, path } = await serve();
    await host.start('web');
    const io = fakeIo();
    expect(await ctlCommand(ctl(path, 'dominfo', 'web'), io)).toBe(0);
    expect(io.out()).toBe(
      [
        'Id:             1',
        'Name:           web',
        'State:          running',
        'Reason:         booted',
        'CPU(s):         2',
        'CPU time:       1.5s',
        'Max memory:     262144 KiB',
        'Used memory:    131072 KiB',
        'Persistent:     yes',
        'Autostart:      enable',
        'Weight:         512',
        'Cap:            50%',
        '',
      ].join('\n'),
    );
  });

  it('lifecycle verbs print virsh lines and change the state', async () => {
    const { host, path } = await serve();
    const run = async (verb: string, line: string) => {
      const io = fakeIo();
      expect(await ctlCommand(ctl(path, verb, 'batch'), io)).toBe(0);
      expect(io.out()).toBe(`${line}\n`);
    };
    await run('start', "Domain 'batch' started");
    await run('suspend', "Domain 'batch' suspended");
    expect(host.vms.get('batch')!.state).toBe('paused');
    await run('resume', "Domain 'batch' resumed");
    await run('reboot', "Domain 'batch' is being rebooted");
    await run('shutdown', "Domain 'batch' is being shutdown");
    expect(host.vms.get('batch')!.state).toBe('shut off');
    await run('start', "Domain 'batch' started");
    await run('destroy', "Domain 'batch' destroyed");
    expect(host.vms.get('batch')!).toMatchObject({ state: 'shut off', reason: 'destroyed' });
  });

  it('a refusal: one line why, exit 1', async () => {
    const { path } = await serve();
    const io = fakeIo();
    expect(await ctlCommand(ctl(path, 'resume', 'web'), io)).toBe(1);
    expect(io.err()).toBe("cyclevisor: domain 'web' is not paused\n");
    expect(io.out()).toBe('');
    const io2 = fakeIo();
    expect(await ctlCommand(ctl(path, 'dominfo', 'ghost'), io2)).toBe(1);
    expect(io2.err()).toBe("cyclevisor: no domain named 'ghost'\n");
  });

  it('shutdown whose guest does not power off: ctl says so, the VM keeps running', async () => {
    const { host, path } = await serve(fakeHost({ agent: false }));
    await host.start('web');
    const io = fakeIo();
    expect(await ctlCommand(ctl(path, 'shutdown', 'web'), io)).toBe(1);
    expect(io.err()).toMatch(/^cyclevisor: domain 'web' did not power off within 30 s \(virtual\).*still running\n$/);
    expect(host.vms.get('web')!.state).toBe('running');
  });

  it('--json prints the raw reply line (exit 1 for an error reply)', async () => {
    const { host, path } = await serve();
    await host.start('web');
    const io = fakeIo();
    expect(await ctlCommand(ctl(path, 'list', undefined, true), io)).toBe(0);
    expect(JSON.parse(io.out())).toEqual({ return: [{ id: 1, name: 'web', state: 'running' }, { id: null, name: 'batch', state: 'shut off' }], id: 1 });
    const io2 = fakeIo();
    expect(await ctlCommand(ctl(path, 'suspend', 'batch', true), io2)).toBe(1);
    expect(JSON.parse(io2.out())).toMatchObject({ error: { class: 'InvalidState' } });
  });

  it('domstats: virsh domstats text, one VM or all', async () => {
    const { path } = await serve();
    const io = fakeIo();
    expect(await ctlCommand(ctl(path, 'domstats', 'batch'), io)).toBe(0);
    expect(io.out()).toMatch(/^Domain: 'batch'\n  state\.state=5\n  vcpu\.current=1\n/);
    expect(io.out().endsWith('\n\n')).toBe(true);
    const all = fakeIo();
    expect(await ctlCommand(ctl(path, 'domstats'), all)).toBe(0);
    expect(all.out().match(/^Domain: '(\w+)'$/gm)).toEqual(["Domain: 'web'", "Domain: 'batch'"]);
  });

  it('console: output to stdout, input to the guest, Ctrl-] detaches (exit 0)', async () => {
    const { host, path } = await serve();
    await host.start('web');
    const stdin = new PassThrough();
    const io = fakeIo();
    const done = ctlCommand(ctl(path, 'console', 'web'), io, { stdin });
    // Wait until attached (the fake has a console stream), then talk.
    while (host.vms.get('web')!.consoles.size === 0) await new Promise((r) => setTimeout(r, 5));
    host.print('web', 'login: ');
    stdin.write('root\r');
    while (!io.out().includes('echo:root')) await new Promise((r) => setTimeout(r, 5));
    stdin.write(Buffer.from([0x61, 0x1d, 0x62])); // 'a', Ctrl-], 'b': 'a' reaches the guest, 'b' does not
    expect(await done).toBe(0);
    expect(io.out()).toMatch(/^login: echo:root\r(echo:a)?$/);
    expect(io.err()).toMatch(/^Connected to domain 'web'\nEscape character is \^\] \(Ctrl \+ \]\)\n/);
    while (host.vms.get('web')!.consoles.size !== 0) await new Promise((r) => setTimeout(r, 5));
    expect(Buffer.concat(host.vms.get('web')!.input).toString()).toBe('root\ra');
  });

  it('console of a shut-off VM is refused (exit 1), and the VM powering off ends the session (exit 0)', async () => {
    const { host, path } = await serve();
    const io = fakeIo();
    expect(await ctlCommand(ctl(path, 'console', 'batch'), io, { stdin: new PassThrough() })).toBe(1);
    expect(io.err()).toBe("cyclevisor: domain 'batch' is not running\n");
    await host.start('batch');
    const io2 = fakeIo();
    const done = ctlCommand(ctl(path, 'console', 'batch'), io2, { stdin: new PassThrough() });
    while (host.vms.get('batch')!.consoles.size === 0) await new Promise((r) => setTimeout(r, 5));
    host.print('batch', 'reboot: Power down\n');
    await host.destroy('batch');
    expect(await done).toBe(0);
    expect(io2.out()).toBe('reboot: Power down\n');
  });

  it('connection errors and usage errors: one line, exit 2 (through main)', async () => {
    const none = join(dir, 'none.sock');
    let io = fakeIo();
    expect(await main(['ctl', none, 'list'], io)).toBe(2);
    expect(io.err()).toBe(`cyclevisor: ${none}: no such socket (is 'cyclevisor host FILE --control ${none}' running?)\n`);
    const file = join(dir, 'notasocket');
    writeFileSync(file, '');
    io = fakeIo();
    expect(await main(['ctl', file, 'list'], io)).toBe(2);
    expect(io.err()).toMatch(new RegExp(`^cyclevisor: ${file}: (connection refused|not a socket)`));
    const long = join(dir, 'x'.repeat(MAX_SOCKET_PATH));
    io = fakeIo();
    expect(await main(['ctl', long, 'list'], io)).toBe(2);
    expect(io.err()).toMatch(/socket path too long \(\d+ bytes; this OS allows \d+\): use a shorter path/);
    expect(io.err().split('\n')).toHaveLength(2);
    for (const [argv, msg] of [
      [['ctl'], /^cyclevisor: missing control socket path/],
      [['ctl', 's'], /^cyclevisor: missing command/],
      [['ctl', 's', 'lsit'], /^cyclevisor: unknown ctl command 'lsit'; did you mean 'list'\?/],
      [['ctl', 's', 'start'], /^cyclevisor: ctl start needs a domain name/],
      [['ctl', 's', 'list', 'web'], /^cyclevisor: unexpected argument 'web'/],
      [['ctl', 's', 'list', '--stats', 'json'], /^cyclevisor: option --stats is for/],
    ] as const) {
      io = fakeIo();
      expect(await main([...argv], io)).toBe(2);
      expect(io.err()).toMatch(msg);
    }
  });

  it('a listener that is not a cyclevisor host: one line, exit 2', async () => {
    const p = join(dir, 'other.sock');
    const other = createServer((s) => s.end('hello\n'));
    await new Promise<void>((r) => other.listen(p, r));
    const io = fakeIo();
    expect(await main(['ctl', p, 'list'], io)).toBe(2);
    expect(io.err()).toBe(`cyclevisor: ${p}: not a cyclevisor control socket\n`);
    await new Promise<void>((r) => other.close(() => r()));
  });
});
