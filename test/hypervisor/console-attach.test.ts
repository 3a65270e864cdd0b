/**
 * Issue 10 scopes 6 and 7 with real processes and a real Unix socket: `cyclevisor host FILE
 * --control PATH` runs a busybox VM with the guest agent (build/initramfs-agent.cpio, made by
 * test/global-setup.ts); `cyclevisor ctl PATH console web` attaches to its shell (piped stdin: no
 * raw mode), types `echo ...`, sees the reply, detaches with Ctrl-] (0x1d) and the VM keeps
 * running; `ctl shutdown` is refused for a VM that is not running, times out (exit 1, one line)
 * when the guest's agent is gone, and powers the VM off through the agent (exit 0). `host --console
 * NAME` gives the host process's own stdin to that VM; `ctl reboot` restarts the guest.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_AGENT_INITRAMFS } from '../../scripts/agent-initramfs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'cyclevisor.js');
const KERNEL = join(ROOT, '..', 'shared', 'guests', 'linux-6.1-rv64.Image');
const have = existsSync(KERNEL) && existsSync(DEFAULT_AGENT_INITRAMFS);

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Resolves when the stream's text so far matches (rejects after `ms` with what was seen). */
  waitFor: (re: RegExp, stream?: 'out' | 'err', ms?: number) => Promise<void>;
  exit: Promise<number>;
}

function cli(args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: [stdin, 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const poke = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.on('data', (b: Buffer) => {
    out += b.toString('latin1');
    poke();
  });
  child.stderr!.on('data', (b: Buffer) => {
    err += b.toString('latin1');
    poke();
  });
  const exit = new Promise<number>((res) => child.on('exit', (code, sig) => res(code ?? (sig ? 128 : -1))));
  const waitFor = (re: RegExp, stream: 'out' | 'err' = 'out', ms = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} on ${stream}; stdout:\n${out.slice(-2000)}\nstderr:\n${err}`)), ms);
      const check = () => {
        if (re.test(stream === 'out' ? out : err)) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  return { child, out: () => out, err: () => err, waitFor, exit };
}

/** One ctl command to completion. */
async function ctl(sock: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = cli(['ctl', sock, ...args]);
  const code = await p.exit;
  return { code, out: p.out(), err: p.err() };
}

const dir = mkdtempSync(join(tmpdir(), 'cv-console-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function vmFile(name: string): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `host: { harts: 1, ram: 256M }
vms:
  - name: web
    memory: 128M
    kernel: ${KERNEL}
    initrd: ${DEFAULT_AGENT_INITRAMFS}
    cmdline: console=ttyS0
    shutdown_timeout: 1
  - name: idle
    memory: 64M
    kernel: ${KERNEL}
    autostart: false
`,
  );
  return file;
}

describe.skipIf(!have)('ctl console and agent shutdown, real processes', () => {
  it('ctl console: type into the shell, see the reply, Ctrl-] detaches, the VM runs on; shutdown refused, then timing out', async () => {
    const sock = join(dir, 'a.sock');
    const host = cli(['host', vmFile('a.yaml'), '--control', sock]);
    children.push(host.child);
    await host.waitFor(/^web +\| \/ # /m); // the shell's prompt (a partial line, flushed after 100 ms)

    const con = cli(['ctl', sock, 'console', 'web'], 'pipe');
    children.push(con.child);
    await con.waitFor(/Connected to domain 'web'\nEscape character is \^\] \(Ctrl \+ \]\)\n/, 'err');
    con.child.stdin!.write('echo hi-from-$((6*7))\n');
    await con.waitFor(/^hi-from-42\r?$/m);
    con.child.stdin!.write(Buffer.of(0x1d));
    expect(await con.exit).toBe(0);
    // The console's bytes also went to the host's prefixed stdout.
    await host.waitFor(/^web +\| hi-from-42\r?$/m);

    let r = await ctl(sock, 'list');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ 1 +web +running/);
    expect(r.out).toMatch(/ - +idle +shut off/);

    // A VM that is not running: one line, exit 1.
    r = await ctl(sock, 'shutdown', 'idle');
    expect([r.code, r.out, r.err]).toEqual([1, '', 'cyclevisor: idle: domain is not running\n']);

    // Kill the guest's agent (from a second console session), then shutdown times out after the
    // VM's shutdown_timeout (1 virtual second): one line, exit 1, and the VM keeps running.
    const con2 = cli(['ctl', sock, 'console', 'web'], 'pipe');
    children.push(con2.child);
    await con2.waitFor(/Connected to domain 'web'/, 'err');
    con2.child.stdin!.write('pkill -f cv-agent; echo agent-$((1+1))-gone\n');
    await con2.waitFor(/^agent-2-gone\r?$/m);
    con2.child.stdin!.write(Buffer.of(0x1d));
    expect(await con2.exit).toBe(0);
    r = await ctl(sock, 'shutdown', 'web');
    expect([r.code, r.out, r.err]).toEqual([1, '', "cyclevisor: web: the guest has not powered off after 1 s (virtual); the domain is still running\n"]);
    r = await ctl(sock, 'list');
    expect(r.out).toMatch(/ 1 +web +running/);
    r = await ctl(sock, '--json', 'domstats', 'web');
    const stats = JSON.parse(r.out).return[0].stats;
    expect(stats['console.bytes']).toBeGreaterThan(1000);

    // ctl reboot: a cold restart; the guest boots again to its shell.
    r = await ctl(sock, 'reboot', 'web');
    expect([r.code, r.out]).toEqual([0, "Domain 'web' is being rebooted\n"]);
    await host.waitFor(/Run \/init as init process[^]*Run \/init as init process[^]*^web +\| \/ # /m);

    r = await ctl(sock, 'destroy', 'web');
    expect([r.code, r.out]).toEqual([0, "Domain 'web' destroyed\n"]);
    expect(await host.exit).toBe(1); // destroyed
  }, 120_000);

  it("host --console NAME: the host's own stdin reaches the VM; ctl shutdown powers it off through the agent, exit 0", async () => {
    const sock = join(dir, 'b.sock');
    const host = cli(['host', vmFile('b.yaml'), '--control', sock, '--console', 'web'], 'pipe');
    children.push(host.child);
    await host.waitFor(/^web +\| \/ # /m);
    host.child.stdin!.write('echo stdin-$((2*21))\n');
    await host.waitFor(/^web +\| stdin-42\r?$/m);
    // ctl console on a VM that is shut off is refused with one line.
    const r0 = await ctl(sock, 'console', 'idle');
    expect([r0.code, r0.err]).toEqual([1, 'cyclevisor: idle: domain is not running\n']);
    // The agent needs a moment after the prompt: retry while it is not connected yet.
    let r = await ctl(sock, 'shutdown', 'web');
    for (let i = 0; i < 50 && r.code === 1 && /no guest agent is connected/.test(r.err); i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await ctl(sock, 'shutdown', 'web');
    }
    expect([r.code, r.out, r.err]).toEqual([0, "Domain 'web' is being shutdown\n", '']);
    expect(await host.exit).toBe(0);
    expect(host.out()).toMatch(/^web +\| .*reboot: Power down\r?$/m);
    expect(host.out()).toMatch(/State/); // the statistics table at the end
  }, 120_000);
});
