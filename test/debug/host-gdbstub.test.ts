/**
 * `cyclevisor host FILE --gdb tcp::PORT [-S]` (issue 16: "with the VMM each VM is a gdb inferior
 * (multiprocess+) with its vCPUs as threads"; src/debug/host-gdbstub.ts). Two bare-metal VS-mode
 * VMs (host-guests.ts) run the same code at the same guest addresses; gdb-multiarch in batch mode
 * sees two inferiors with their vCPUs, a breakpoint of inferior 1 stops VM a only (VM b executes
 * that address while it is armed and goes on transparently), stepi, continue to the end — and the
 * per-VM statistics equal those of the same host run without gdb.
 */
import { describe, expect, it, vi, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopGuest, RAM } from './host-guests.js';
import { gdbBatch, startGdbCli, HAVE_GDB as GDB, type GdbCli } from '../helpers/gdb.js';

vi.setConfig({ testTimeout: 120_000 });

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'cyclevisor.js');
let dir = '';
const N_A = 400_000n;
const N_B = 100_000n;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cv-host-gdb-'));
  writeFileSync(join(dir, 'a.elf'), loopGuest('a', N_A));
  writeFileSync(join(dir, 'b.elf'), loopGuest('b', N_B));
  writeFileSync(join(dir, 'vms.yaml'), 'host: { harts: 1, ram: 64M }\nvms:\n  - { name: a, vcpus: 1, memory: 4M, kernel: a.elf }\n  - { name: b, vcpus: 1, memory: 4M, kernel: b.elf }\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The host under --gdb tcp::0 -S; resolves when it listens. */
const startHost = (stats: string): Promise<GdbCli> =>
  startGdbCli(['host', join(dir, 'vms.yaml'), '--gdb', 'tcp::0', '-S', '--stats', 'json', '--stats-file', stats]);

function plainStats(): unknown {
  const f = join(dir, 'plain.json');
  execFileSync(process.execPath, [BIN, 'host', join(dir, 'vms.yaml'), '--stats', 'json', '--stats-file', f], { stdio: 'ignore' });
  return (JSON.parse(readFileSync(f, 'utf8')) as { vms: unknown }).vms;
}

const gdb = (port: number, cmds: string[]): Promise<string> => gdbBatch(join(dir, 'a.elf'), port, cmds, 90_000);

describe.skipIf(!GDB)('cyclevisor host --gdb (gdb-multiarch, batch)', () => {
  it('two VMs are two inferiors; a breakpoint of inferior 1 stops VM a only; stepi; continue to the end with the counters of a run without gdb', async () => {
    const stats = join(dir, 'gdb.json');
    const h = await startHost(stats);
    const g = await gdb(h.port, [
      'info inferiors',
      'info threads',
      'break *done',
      'continue',
      'p *(long *)&counter',
      'p/x $hgatp',
      'stepi',
      'p/x $pc',
      'thread 2.1',
      'p *(long *)&counter',
      'thread 1.1',
      'delete',
      'continue',
    ]);
    const code = await h.exited;
    // info inferiors: both VMs, as processes 1 and 2, each with its kernel ELF (qXfer:exec-file:
    // gdb loads VM b's symbols itself).
    expect(g).toContain('[New inferior 2]');
    expect(g).toMatch(/\* 1 +process 1 .*a\.elf/);
    expect(g).toMatch(/ 2 +process 2 .*b\.elf/);
    // info threads: each VM's vCPU, named by qThreadExtraInfo.
    expect(g).toMatch(/1\.1 +Thread 1\.1 \(vm a vcpu 0\)/);
    expect(g).toMatch(/2\.1 +Thread 2\.1 \(vm b vcpu 0\)/);
    // The stop is VM a's, at `done`, after all its bumps.
    expect(g).toMatch(/Thread 1\.1 hit Breakpoint 1, 0x[0-9a-f]+ in done \(\)/);
    expect(g).not.toContain('Thread 2.1 hit');
    expect(g).toContain(`$1 = ${N_A}`);
    // VM b ran past the same address while the breakpoint was armed (its loop finished, it printed
    // and powered off): its counter, read through its guest-physical memory.
    expect(g).toContain(`$4 = ${N_B}`);
    // The vCPU's CSRs as the guest sees them: hgatp of VM a (Sv39x4, VMID 1).
    expect(g).toMatch(/\$2 = 0x80001[0-9a-f]{11}\n/);
    // stepi: one instruction of VM a (done's first instruction is 4 bytes).
    const done = /Breakpoint 1 at 0x([0-9a-f]+)/.exec(g);
    expect(done).not.toBeNull();
    expect(g).toContain(`$3 = 0x${(BigInt('0x' + done![1]) + 4n).toString(16)}`);
    expect(g).toContain('[Inferior 1 (process 1) exited normally]');
    expect(code).toBe(0);
    expect(h.out()).toContain('a | a');
    expect(h.out()).toContain('b | b');
    // Exactly the per-VM counters (instructions, cycles, exits, ...) of the run without gdb.
    const withGdb = (JSON.parse(readFileSync(stats, 'utf8')) as { vms: unknown }).vms;
    expect(withGdb).toEqual(plainStats());
  });
});

/** Raw RSP client (acks on) for the protocol details gdb batch mode does not show. */
class Raw {
  private buf = '';
  private waiters: Array<() => void> = [];
  constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
  }
  send(s: string): void {
    this.sock.write(s, 'latin1');
  }
  async reply(): Promise<string> {
    for (;;) {
      this.buf = this.buf.replace(/^\++/, '');
      const m = /^\$([^#]*)#[0-9a-f]{2}/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        this.sock.write('+');
        return m[1]!;
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  ask(p: string): Promise<string> {
    this.send(packet(p));
    return this.reply();
  }
}
function packet(p: string): string {
  let c = 0;
  for (const ch of Buffer.from(p, 'latin1')) c = (c + ch) & 0xff;
  return `$${p}#${c.toString(16).padStart(2, '0')}`;
}

describe('cyclevisor host --gdb (raw packets)', () => {
  it('threads pPID.TID named by qThreadExtraInfo, per-inferior Z0 (Hg picks the owner), per-inferior Z2, E14/E01 on bad reads, W at the end', async () => {
    const h = await startHost(join(dir, 'raw.json'));
    const sock = await new Promise<Socket>((res) => {
      const s = connect(h.port, '127.0.0.1', () => res(s));
    });
    const raw = new Raw(sock);
    expect(await raw.ask('qSupported:multiprocess+;swbreak+')).toContain('multiprocess+');
    expect(await raw.ask('?')).toBe('T05thread:p1.1;');
    expect(await raw.ask('qfThreadInfo')).toBe('mp1.1,p2.1');
    expect(await raw.ask('qsThreadInfo')).toBe('l');
    expect(Buffer.from(await raw.ask('qThreadExtraInfo,p2.1'), 'hex').toString()).toBe('vm b vcpu 0');
    expect(await raw.ask('Hgp3.1')).toBe('E01'); // no VM 3
    // A breakpoint owned by inferior 2 (VM b) at bump: VM a (which runs first) calls bump too.
    expect(await raw.ask('Hgp2.1')).toBe('OK');
    const bump = (RAM + 0x400n).toString(16);
    expect(await raw.ask(`Z0,${bump},4`)).toBe('OK');
    raw.send(packet('c'));
    expect(await raw.reply()).toBe('T05thread:p2.1;swbreak:;');
    // The stop is in VM b; VM a had run its first round (the bump calls in it went on).
    expect(await raw.ask('p20')).toBe(`${Buffer.from(BigInt.asUintN(64, RAM + 0x400n).toString(16).padStart(16, '0'), 'hex').reverse().toString('hex')}`);
    expect(await raw.ask('Hgp1.1')).toBe('OK');
    const aCounter = await raw.ask(`m${(RAM + 0x800n).toString(16)},8`);
    expect(Buffer.from(aCounter, 'hex').readBigUInt64LE()).toBeGreaterThan(0n);
    const before = Buffer.from(aCounter, 'hex').readBigUInt64LE();
    expect(await raw.ask('Hgp2.1')).toBe('OK');
    expect(await raw.ask(`z0,${bump},4`)).toBe('OK');
    // A write watchpoint of inferior 1 on `counter`: VM b (stopped mid-round) runs on first and
    // writes its own `counter` (same virtual address) without stopping; then VM a's next write
    // stops the host in thread p1.1.
    expect(await raw.ask('Hgp1.1')).toBe('OK');
    const counter = (RAM + 0x800n).toString(16);
    expect(await raw.ask(`Z2,${counter},8`)).toBe('OK');
    raw.send(packet('c'));
    expect(await raw.reply()).toBe(`T05thread:p1.1;watch:${counter};`);
    expect(Buffer.from(await raw.ask(`m${counter},8`), 'hex').readBigUInt64LE()).toBe(before + 1n);
    expect(await raw.ask('Hgp2.1')).toBe('OK');
    // VM b wrote its own `counter` many times while the watchpoint was armed (its slice ran first).
    expect(Buffer.from(await raw.ask(`m${counter},8`), 'hex').readBigUInt64LE()).toBeGreaterThan(1n);
    expect(await raw.ask('Hgp1.1')).toBe('OK');
    expect(await raw.ask(`z2,${counter},8`)).toBe('OK');
    // Bad input: a read of unmapped guest memory, a huge read.
    expect(await raw.ask('m10,8')).toBe('E14');
    expect(await raw.ask('m80000000,100000')).toBe('E01');
    // Continue to the end: gdb hears the exit, the host exits 0.
    raw.send(packet('c'));
    expect(await raw.reply()).toBe('W00;process:1');
    expect(await h.exited).toBe(0);
    sock.destroy();
    // Stops mid-round in VM b, transparent breakpoint and watch hits: still the counters of a run
    // without gdb.
    expect((JSON.parse(readFileSync(join(dir, 'raw.json'), 'utf8')) as { vms: unknown }).vms).toEqual(plainStats());
  });

  it('attaching without -S stops the running host; Ctrl-C stops it again; kill ends the run (exit 130)', async () => {
    // A VM that runs (practically) forever next to one that ends.
    writeFileSync(join(dir, 'long.elf'), loopGuest('l', 1n << 40n));
    writeFileSync(join(dir, 'long.yaml'), 'host: { harts: 2, ram: 64M }\nvms:\n  - { name: a, vcpus: 1, memory: 4M, kernel: a.elf }\n  - { name: long, vcpus: 1, memory: 4M, kernel: long.elf }\n');
    const child = spawn(process.execPath, [BIN, 'host', join(dir, 'long.yaml'), '--gdb', 'tcp::0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const port = await new Promise<number>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /^cyclevisor: gdb server on tcp::(\d+)$/m.exec(err);
        if (m) resolve(Number(m[1]));
      });
    });
    await new Promise((r) => setTimeout(r, 300)); // the VMs run
    const sock = await new Promise<Socket>((res) => {
      const s = connect(port, '127.0.0.1', () => res(s));
    });
    const raw = new Raw(sock);
    expect(await raw.ask('qSupported:multiprocess+')).toContain('multiprocess+');
    expect(await raw.ask('?')).toMatch(/^T05thread:p[12]\.1;$/);
    // VM long is stopped somewhere in its loop: read its loop counter register s0 (x8) twice.
    expect(await raw.ask('Hgp2.1')).toBe('OK');
    const s0 = await raw.ask('p8');
    expect(await raw.ask('p8')).toBe(s0); // stopped: nothing advances
    raw.send(packet('c'));
    await new Promise((r) => setTimeout(r, 200));
    raw.send('\x03');
    expect(await raw.reply()).toMatch(/^T02thread:p[12]\.1;$/);
    expect(await raw.ask('Hgp2.1')).toBe('OK');
    expect(await raw.ask('p8')).not.toBe(s0); // it ran in between
    raw.send(packet('k'));
    expect(await exited).toBe(130);
    sock.destroy();
  });
});
