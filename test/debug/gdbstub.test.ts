/**
 * The gdb stub (src/debug/gdbstub.ts) with the real gdb-multiarch in batch mode, against the guest
 * test/guests/gdbtest.c (symbols: bump, finish, counter, watched): break at a symbol, step, read
 * registers and CSRs, write memory, watch a variable, continue to the exit; SMP harts as threads;
 * a run under gdb ends with the counters of a run without it; and garbage on a raw socket gets
 * protocol errors, never a crash.
 */
import { describe, expect, it, vi } from 'vitest';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { VirtMachine, type RunResult } from '../../src/board/virt.js';
import { GdbStub } from '../../src/debug/gdbstub.js';
import { gdbBatch, startGdbCli, HAVE_GDB as GDB } from '../helpers/gdb.js';

const ELF = join(import.meta.dirname, '..', 'guests', 'bin', 'gdbtest.elf');
const ECHO = join(import.meta.dirname, '..', 'guests', 'bin', 'echo.elf');

// Each case runs gdb in a child process; on a loaded host that takes a while.
vi.setConfig({ testTimeout: 120_000 });

interface Session {
  m: VirtMachine;
  stub: GdbStub;
  port: number;
  run: Promise<RunResult>;
  sym: (n: string) => bigint;
}

async function start(harts = 1, elf = ELF): Promise<Session> {
  const m = new VirtMachine({ ramBytes: 1 << 20, harts });
  const img = m.loadElfFile(elf);
  const stub = new GdbStub(m, { waitForGdb: true });
  const port = await stub.listen('127.0.0.1', 0);
  const run = m.runAsync({ sliceCycles: 5000 }).finally(() => stub.close());
  return { m, stub, port, run, sym: (n) => img.symbols.get(n)! };
}

/** gdb-multiarch -batch with these commands against the stub; resolves to its output. */
const gdb = (port: number, cmds: string[]): Promise<string> => gdbBatch(ELF, port, cmds);

function counters(m: VirtMachine) {
  return { instret: m.totalInstret(), cycles: m.core.cycles, classes: m.core.classCounts(), out: m.outputText() };
}

describe.skipIf(!GDB)('gdb-multiarch against the stub', () => {
  it('break at a symbol, step, read registers, continue to the exit', async () => {
    const s = await start();
    const out = await gdb(s.port, [
      'info registers pc',
      'break bump',
      'continue',
      'info registers a0',
      'stepi',
      'p/x $pc',
      'continue',
      'info registers a0',
      'p/x $mhartid',
      'p $priv',
      'p/x $misa',
      'delete',
      'continue',
    ]);
    const r = await s.run;
    expect(r).toEqual({ reason: 'exit', code: 0 });
    expect(s.m.outputText()).toBe('gdbtest 220\n');
    // -S: gdb finds the machine before its first instruction.
    expect(out).toMatch(/pc\s+0x80000000\s/);
    expect(out).toMatch(/Breakpoint 1, 0x[0-9a-f]+ in bump \(\)/);
    // The first stop is the first call (a0 = 1), the second the next call (a0 = 2).
    expect(out).toMatch(/a0\s+0x1\s+1\n[\s\S]*a0\s+0x2\s+2/);
    expect(out).toMatch(/\$\d+ = 0x0\n\$\d+ = 3\n\$\d+ = 0x8000000000[0-9a-f]+/); // mhartid, priv M, misa
    expect(out).toContain('[Inferior 1 (process 1) exited normally]');
    // stepi moved pc to bump's next instruction.
    const stop = /Breakpoint 1, (0x[0-9a-f]+) in bump/.exec(out)![1]!;
    const after = /\$1 = (0x[0-9a-f]+)/.exec(out)![1]!;
    expect(BigInt(after) - BigInt(stop)).toBeGreaterThanOrEqual(2n);
    expect(BigInt(after) - BigInt(stop)).toBeLessThanOrEqual(4n);
  });

  it('a watchpoint stops after the store with the new value; memory writes reach the guest', async () => {
    const s = await start();
    const out = await gdb(s.port, [
      'watch *(long*)&watched',
      'continue',
      'delete',
      'x/1dg &counter',
      'set var *(long*)&counter = 7',
      'x/1dg &counter',
      'continue',
    ]);
    const r = await s.run;
    expect(r).toEqual({ reason: 'exit', code: 0 });
    expect(out).toMatch(/Old value = 0\nNew value = 220/);
    expect(out).toMatch(/<counter>:\s+55\n[\s\S]*<counter>:\s+7/);
    expect(s.m.core.readPhys(Number(s.sym('counter')), 1)[0]).toBe(7);
  });

  it('a run under gdb (breakpoints, steps, a watchpoint) ends with the counters of a run without it', async () => {
    const ref = new VirtMachine({ ramBytes: 1 << 20 });
    ref.loadElfFile(ELF);
    expect(await ref.runAsync({ sliceCycles: 5000 })).toEqual({ reason: 'exit', code: 0 });
    const s = await start();
    await gdb(s.port, ['break bump', 'continue', 'stepi', 'stepi', 'continue', 'delete', 'watch *(long*)&watched', 'continue', 'delete', 'continue']);
    expect(await s.run).toEqual({ reason: 'exit', code: 0 });
    expect(counters(s.m)).toEqual(counters(ref));
  });

  it('SMP: harts are threads; each thread has its own registers', async () => {
    const s = await start(2);
    const out = await gdb(s.port, [
      'break finish',
      'continue',
      'info threads',
      'thread 2',
      'p/x $mhartid',
      'thread 1',
      'p/x $mhartid',
      'delete',
      'continue',
    ]);
    expect((await s.run).reason).toBe('exit');
    expect(out).toMatch(/Thread 1\.1 \(hart 0\)/);
    expect(out).toMatch(/Thread 1\.2 \(hart 1\)/);
    expect(out).toMatch(/\$1 = 0x1\n[\s\S]*\$2 = 0x0/);
  });
});

// ---------------------------------------------------------------------------------------------
// Raw RSP: bad input gets protocol errors

function packet(body: string): string {
  let c = 0;
  for (const ch of Buffer.from(body, 'latin1')) c = (c + ch) & 0xff;
  return `$${body}#${c.toString(16).padStart(2, '0')}`;
}

class Raw {
  private data = '';
  private waiters: Array<() => void> = [];
  constructor(readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.data += d;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  send(s: string): void {
    this.sock.write(s, 'latin1');
  }
  /** The next reply packet's body (acks skipped). */
  async reply(): Promise<string> {
    for (;;) {
      this.data = this.data.replace(/^[+-]+/, '');
      const m = /^\$([^#]*)#[0-9a-f]{2}/.exec(this.data);
      if (m) {
        this.data = this.data.slice(m[0].length);
        return m[1]!;
      }
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`no reply; have ${JSON.stringify(this.data)}`)), 10_000);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }
  async ask(body: string): Promise<string> {
    this.send(packet(body));
    return this.reply();
  }
  /** Everything received so far (acks included). */
  take(): string {
    const d = this.data;
    this.data = '';
    return d;
  }
}

describe('RSP on a raw socket', () => {
  it('garbage, bad checksums, malformed packets, huge and unmapped reads: errors, never a crash', async () => {
    const s = await start();
    const sock = connect(s.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const raw = new Raw(sock);
    expect(await raw.ask('qSupported:multiprocess+;swbreak+')).toMatch(/^PacketSize=[0-9a-f]+;qXfer:features:read\+;multiprocess\+;vContSupported\+;swbreak\+;hwbreak\+/);
    // Bytes that are no packet are skipped; a bad checksum is NAKed.
    raw.send('hello world \x00\xff');
    raw.send('$g#00');
    await new Promise((r) => setTimeout(r, 100));
    expect(raw.take()).toContain('-');
    expect(await raw.ask('?')).toBe('T05thread:p1.1;');
    expect(await raw.ask('m0,ffffffff')).toBe('E01'); // far beyond PacketSize
    expect(await raw.ask('m10000000,4')).toBe('E14'); // the UART: never read by gdb
    expect(await raw.ask('m0,4')).toBe('E14'); // unmapped
    expect(await raw.ask('m80000000,4')).toBe('97210000'); // auipc gp, ... at _start
    expect(await raw.ask('mzz,4')).toBe('E01');
    expect(await raw.ask('M0,2:abcd')).toBe('E14');
    expect(await raw.ask('M80000000,2:abc')).toBe('E01');
    expect(await raw.ask('Z9,0,0')).toBe('E01');
    expect(await raw.ask('Z2,80001020,0')).toBe('E01');
    expect(await raw.ask('pzz')).toBe('E01');
    expect(await raw.ask('p9999')).toBe('E01');
    expect(await raw.ask('Hgp1.9')).toBe('E01');
    expect(await raw.ask('Tp1.2')).toBe('E01');
    expect(await raw.ask('Tp1.1')).toBe('OK');
    expect(await raw.ask('vCont;x')).toBe('E01');
    expect(await raw.ask('qXfer:features:read:nosuch.xml:0,100')).toBe('E00');
    expect(await raw.ask('unknown-packet')).toBe('');
    expect(await raw.ask('p20')).toBe('0000008000000000'); // pc = 0x80000000, little-endian
    const xml = await raw.ask('qXfer:features:read:target.xml:0,3fff');
    expect(xml).toMatch(/^l<\?xml/);
    expect(xml).toContain('<architecture>riscv:rv64</architecture>');
    expect(xml).toContain('org.gnu.gdb.riscv.csr');
    expect(await raw.ask('qfThreadInfo')).toBe('mp1.1');
    expect(await raw.ask('qsThreadInfo')).toBe('l');
    // A packet that never ends is dropped; the stub still answers afterwards.
    raw.send('$' + 'x'.repeat(70_000));
    raw.send('#00');
    await new Promise((r) => setTimeout(r, 100));
    raw.take();
    expect(await raw.ask('qC')).toBe('QCp1.1');
    // No-ack mode, then kill: the run ends.
    expect(await raw.ask('QStartNoAckMode')).toBe('OK');
    expect(await raw.ask('qAttached')).toBe('1');
    raw.send(packet('k'));
    const r = await s.run;
    expect(r.reason).toBe('interrupted');
    sock.destroy();
  });

  it('Ctrl-C interrupts a guest waiting for input; detach lets it run on', async () => {
    const s = await start(1, ECHO);
    s.m.openInput();
    const sock = connect(s.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const raw = new Raw(sock);
    expect(await raw.ask('qSupported:multiprocess+')).toContain('PacketSize');
    raw.send(packet('c'));
    await new Promise((r) => setTimeout(r, 300));
    raw.send('\x03');
    expect(await raw.reply()).toBe('T02thread:p1.1;');
    expect(s.m.core.instret).toBeGreaterThan(0);
    s.m.pushInput(Buffer.from('hello\nquit\n'));
    raw.send(packet('D'));
    expect(await raw.reply()).toBe('OK');
    expect(await s.run).toEqual({ reason: 'exit', code: 0 });
    sock.destroy();
  });
});

describe.skipIf(!GDB)('cyclevisor run --gdb tcp::0 -S (the CLI)', () => {
  it('prints the port, waits for gdb, and exits with the guest code after gdb continues', async () => {
    const { port, out: stdout, exited } = await startGdbCli(['run', ELF, '--gdb', 'tcp::0', '-S']);
    // -S: nothing ran yet.
    expect(stdout()).toBe('');
    const g = await gdb(port, ['break finish', 'continue', 'p/x $a0', 'delete', 'continue']);
    const code = await exited;
    expect(g).toMatch(/Breakpoint 1, 0x[0-9a-f]+ in finish \(\)/);
    expect(g).toContain('= 0xdc'); // finish(220)
    expect(g).toContain('[Inferior 1 (process 1) exited normally]');
    expect(code).toBe(0);
    expect(stdout()).toBe('gdbtest 220\n');
  });
});
