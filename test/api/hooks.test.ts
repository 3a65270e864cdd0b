/**
 * Hooks through the public API (Machine and Core; mechanism: src/debug/hooks.ts, assembly/debug.ts)
 * on real guests: each kind sees what the guest does, a hook can pause a run that then goes on
 * exactly, and hooks that never stop leave every counter as a run without them (issue 16: hooks
 * must not change results).
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Machine, Core, type MmioHandler } from '../../src/index.js';
import { GUESTS } from '../helpers/guests.js';

const GDBTEST = join(GUESTS, 'bin', 'gdbtest.elf');
const TRAPS = join(GUESTS, 'bin', 'traps.elf');

async function plain(elf: string) {
  const m = new Machine({ ram: '16M' });
  m.loadElf(elf);
  const r = await m.run();
  return { r, text: m.consoleText(), stats: m.stats() };
}

describe('Machine hooks', () => {
  it('code, memory, MMIO and exit hooks see the guest; a pause resumes exactly; counters unchanged', async () => {
    const base = await plain(GDBTEST);
    const m = new Machine({ ram: '16M' });
    const { symbols } = m.loadElf(GDBTEST);
    const bump = symbols.get('bump')!;
    const counter = symbols.get('counter')!;
    let calls = 0;
    const pauseAt3 = m.addCodeHook(() => ++calls === 3, { begin: bump, end: bump });
    const writes: bigint[] = [];
    m.addMemHook('write', (e) => void writes.push(e.value), { begin: counter, end: counter + 7n });
    let uart = '';
    m.addMmioHook('write', (e) => void (uart += String.fromCharCode(Number(e.value))), { begin: 0x1000_0000, end: 0x1000_0000 });
    const exits: unknown[] = [];
    m.addExitHook((e) => void exits.push(e));

    const p = await m.run();
    expect(p.reason).toBe('paused');
    expect(m.getPc()).toBe(bump);
    expect(m.getReg('a0')).toBe(3n);
    expect(exits).toEqual([]); // a pause is not an end
    pauseAt3.remove();
    const r = await m.run();
    expect(r).toEqual(base.r);
    expect(m.consoleText()).toBe('gdbtest 220\n');
    expect(uart).toBe('gdbtest 220\n');
    expect(writes).toEqual([0n, 1n, 3n, 6n, 10n, 15n, 21n, 28n, 36n, 45n, 55n]);
    expect(calls).toBe(3);
    expect(exits).toEqual([{ reason: 'exit', code: 0 }]);
    const s = m.stats();
    expect(s.classCounts).toEqual(base.stats.classCounts);
    expect(s.traps).toEqual(base.stats.traps);
  });

  it('trap hook: every trap taken, with cause and handler pc', async () => {
    const base = await plain(TRAPS);
    const m = new Machine({ ram: '16M' });
    m.loadElf(TRAPS);
    const causes: bigint[] = [];
    m.addTrapHook((e) => {
      causes.push(e.cause);
      expect(e.interrupt).toBe(e.cause >> 63n === 1n);
    });
    const r = await m.run();
    expect(r).toEqual(base.r);
    expect(causes.length).toBe(base.stats.traps.exceptions + base.stats.traps.interrupts);
    expect(causes).toContain(11n); // ecall from M-mode (Priv 1.12 Table 3.6)
    expect(causes).toContain(2n); // illegal instruction
    expect(m.consoleText()).toBe(base.text);
  });

  it('an exit hook fires once for an `until` run, not once per slice', async () => {
    const m = new Machine({ ram: '16M' });
    m.loadElf(TRAPS);
    const exits: string[] = [];
    m.addExitHook((e) => void exits.push(e.reason));
    const r = await m.run({ until: 'ok 5 ', untilSlice: 200 });
    expect(r.reason).toBe('until');
    expect(exits).toEqual(['until']);
  });
});

describe('Core hooks', () => {
  function board(core: () => Core): MmioHandler {
    return {
      read: (a) => (a === 0x1000_0005 ? 0x60 : a >= 0x1000_0000 && a < 0x1000_0100 ? 0 : null),
      write: (a) => {
        if (a === 0x10_0000) core().stop();
      },
    };
  }
  const fresh = () => {
    let c!: Core;
    c = new Core({ mmio: board(() => c) });
    const { symbols } = c.loadElf(GDBTEST);
    return { c, symbols };
  };

  it('code and memory hooks; pause and resume; same counts as without hooks', () => {
    const { c: plainCore } = fresh();
    expect(plainCore.run()).toBe('stopped');

    const { c, symbols } = fresh();
    const bump = symbols.get('bump')!;
    const watched = symbols.get('watched')!;
    const pcs: bigint[] = [];
    c.addCodeHook((e) => {
      pcs.push(e.pc);
      expect(e.size === 2 || e.size === 4).toBe(true);
      return pcs.length === 2;
    }, { begin: bump, end: bump });
    const w: bigint[] = [];
    const mh = c.addMemHook('write', (e) => void w.push(e.value), { begin: watched, end: watched + 7n });
    expect(c.run()).toBe('paused');
    expect(c.pc).toBe(bump);
    expect(c.getReg('a0')).toBe(2n);
    expect(c.run()).toBe('stopped');
    expect(pcs).toEqual(Array(10).fill(bump));
    expect(w).toEqual([0n, 220n]);
    expect(c.instret).toBe(plainCore.instret);
    expect(c.cycles).toBe(plainCore.cycles);
    mh.remove();
  });

  it('trap hook on the bare core', () => {
    let c!: Core;
    c = new Core({ mmio: board(() => c) });
    c.loadElf(TRAPS);
    let n = 0;
    c.addTrapHook(() => void n++);
    expect(c.run({ maxInsns: 1_000_000 })).toBe('stopped');
    expect(n).toBeGreaterThan(10);
  });
});

describe('Machine.gdbServer', () => {
  it('holds the machine for gdb (-S), answers the remote protocol, and the run ends as without gdb', async () => {
    const { connect } = await import('node:net');
    const base = await plain(join(GUESTS, 'bin', 'hello.elf'));
    const m = new Machine({ ram: '16M' });
    m.loadElf(join(GUESTS, 'bin', 'hello.elf'));
    const gdb = await m.gdbServer({ waitForGdb: true });
    expect(gdb.port).toBeGreaterThan(0);
    await expect(m.run({ until: 'x' })).rejects.toThrow(/gdb server/);
    const running = m.run();
    const sock = connect(gdb.port, '127.0.0.1');
    let got = '';
    const waitFor = (text: string) =>
      new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`no ${text} in ${JSON.stringify(got)}`)), 20_000);
        const check = () => {
          if (got.includes(text)) {
            clearTimeout(t);
            sock.off('data', onData);
            res();
          }
        };
        const onData = (d: Buffer) => {
          got += d.toString('latin1');
          check();
        };
        sock.on('data', onData);
        check();
      });
    // RSP packets: $data#checksum (sum of the data bytes mod 256, two hex digits).
    const packet = (d: string) => `$${d}#${([...d].reduce((a, c) => a + c.charCodeAt(0), 0) & 0xff).toString(16).padStart(2, '0')}`;
    sock.write(packet('?'));
    await waitFor('$T05');
    sock.write('+' + packet('c'));
    await waitFor('$W00');
    const r = await running;
    expect(r).toEqual(base.r);
    expect(m.consoleText()).toBe('Hello from cyclevisor!\n');
    sock.destroy();
    gdb.close();
    gdb.close(); // idempotent
  });
});
