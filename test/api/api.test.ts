/**
 * The public API (src/index.ts, docs/API.md): Machine and Core do what the CLI's board and core do,
 * through the narrow, stable names. Each test runs a real guest program; nothing is mocked.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Machine, Core, UserError, VERSION, coreWasmPath, type MmioHandler } from '../../src/index.js';
import { GUESTS } from '../helpers/guests.js';

const HELLO = join(GUESTS, 'bin', 'hello.elf');
const CMARK_SMALL = join(GUESTS, 'bin', 'cmark-small.elf');
const TRAPS = join(GUESTS, 'bin', 'traps.elf');
const ECHO = join(GUESTS, 'bin', 'echo.elf');

/** The devices test/guests' UART programs need: ns16550a transmit + SiFive test finisher. */
function miniBoard(core: () => Core) {
  const state = { out: '', exit: null as number | null, faults: 0 };
  const mmio: MmioHandler = {
    read(addr) {
      if (addr === 0x1000_0005) return 0x60;
      if (addr >= 0x1000_0000 && addr < 0x1000_0100) return 0;
      state.faults++;
      return null;
    },
    write(addr, _size, value) {
      if (addr === 0x1000_0000) state.out += String.fromCharCode(Number(value & 0xffn));
      else if (addr === 0x10_0000) {
        state.exit = (value & 0xffffn) === 0x5555n ? 0 : Number(value >> 16n);
        core().stop();
      } else if (!(addr >= 0x1000_0000 && addr < 0x1000_0100)) {
        state.faults++;
        return false;
      }
    },
  };
  return { state, mmio };
}

describe('Machine', () => {
  it('runs a bare-metal ELF to its exit and reports output, counters and stats', async () => {
    const m = new Machine({ ram: '16M' });
    const prog = m.loadElf(HELLO);
    expect(prog.entry).toBe(0x8000_0000n);
    expect(m.symbol('main')).toBe(prog.symbols.get('main'));
    const r = await m.run();
    expect(r).toMatchObject({ reason: 'exit', code: 0 });
    expect(m.consoleText()).toBe(readFileSync(join(GUESTS, 'expected', 'hello.out'), 'utf8'));
    const s = m.stats();
    expect(s.instret).toBe(r.instret);
    expect(s.cycles).toBe(r.cycles);
    expect(s.exit).toEqual({ reason: 'exit', code: 0 });
    expect(r.instret).toBeGreaterThan(100);
    m.close();
  });

  it('stops exactly at maxInsns and continues where it stopped (same totals as one run)', async () => {
    const whole = new Machine({ ram: '16M' });
    whole.loadElf(CMARK_SMALL);
    const all = whole.runSync();
    expect(all.reason).toBe('exit');

    const m = new Machine({ ram: '16M' });
    m.loadElf(CMARK_SMALL);
    const r1 = await m.run({ maxInsns: 1000 });
    expect(r1).toMatchObject({ reason: 'max-insns', code: 124, instret: 1000 });
    const pc = m.getPc();
    const s = m.step(5);
    expect(s.instret).toBe(1005);
    expect(m.getPc()).not.toBe(pc);
    const r2 = await m.run();
    expect(r2).toMatchObject({ reason: 'exit', code: 0, instret: all.instret, cycles: all.cycles });
    expect(m.consoleText()).toBe(whole.consoleText());
  });

  it('`until` stops on console text at a deterministic point', async () => {
    const stopAt = async () => {
      const m = new Machine({ ram: '16M' });
      m.loadElf(TRAPS);
      // traps prints one "ok N name" line per test over ~4,600 instructions.
      const r = await m.run({ until: /ok 5 /, untilSlice: 500 });
      return { m, r, text: m.consoleText() };
    };
    const a = await stopAt();
    const b = await stopAt();
    expect(a.r.reason).toBe('until');
    expect(a.text).toContain('ok 5 ');
    expect(a.text).not.toContain('all passed');
    // A slice boundary, the same one however fast the host is.
    expect(a.r.instret % 500).toBe(0);
    expect(b.r).toEqual(a.r);
    // The machine goes on from there to the guest's own end.
    const end = await a.m.run({ until: 'never printed' });
    expect(end).toMatchObject({ reason: 'exit', code: 0 });
    expect(a.m.consoleText()).toBe(readFileSync(join(GUESTS, 'expected', 'traps.out'), 'utf8'));
  });

  it('console input reaches the guest UART', async () => {
    const m = new Machine({ ram: '16M' });
    m.loadElf(ECHO);
    m.sendInput('hello\nquit\n');
    const r = await m.run({ maxInsns: 50_000_000 });
    expect(r.reason).toBe('exit');
    expect(m.consoleText()).toBe(readFileSync(join(GUESTS, 'expected', 'echo.out'), 'utf8'));
  });

  it('registers and memory by name and address', () => {
    const m = new Machine({ ram: '16M' });
    m.loadElf(HELLO);
    m.setReg('a0', 0x1234n);
    expect(m.getReg('x10')).toBe(0x1234n);
    expect(m.getReg(10)).toBe(0x1234n);
    m.setReg('zero', 5n);
    expect(m.getReg('zero')).toBe(0n);
    m.writeMemory(0x8010_0000n, new Uint8Array([1, 2, 3]));
    expect([...m.readMemory(0x8010_0000, 3)]).toEqual([1, 2, 3]);
    expect(m.getPriv()).toBe(3);
    expect(m.getFReg('fa0')).toBe(0n);
    // misa: RV64 (MXL = 2) with I, M, A, F, D, C (Priv 1.12 §3.1.1).
    const misa = m.getCsr('misa');
    expect(misa >> 62n).toBe(2n);
    for (const ext of 'IMAFDC') expect((misa >> BigInt(ext.charCodeAt(0) - 65)) & 1n).toBe(1n);
    m.setCsr('mscratch', 0x1234n);
    expect(m.getCsr(0x340)).toBe(0x1234n);
    expect(m.getCsr('mhartid')).toBe(0n);
    expect(() => m.getCsr('nosuchcsr')).toThrow(/unknown CSR/);
    expect(() => m.getCsr(0x7ff)).toThrow(/has no CSR 0x7ff/);
  });

  it('tier: the JIT (default) and the interpreter give the same output and counters; the embedder can turn the JIT off', async () => {
    const out: Array<{ text: string; instret: number; cycles: number; jit: boolean }> = [];
    for (const tier of [undefined, 'interp', 'jit'] as const) {
      const m = new Machine({ ram: '16M', ...(tier ? { tier } : {}) });
      m.loadElf(readFileSync(join(GUESTS, 'bin', 'cmark-small.elf')));
      const r = await m.run();
      expect(r).toMatchObject({ reason: 'exit', code: 0 });
      out.push({ text: m.consoleText(), instret: r.instret, cycles: r.cycles, jit: m.stats().jit !== undefined });
      m.close();
    }
    // The default is the JIT, unless the process default says otherwise (CYCLEVISOR_TIER=interp:
    // the whole suite can run interpreted).
    const byDefault = process.env.CYCLEVISOR_TIER !== 'interp';
    expect(out.map((o) => o.jit)).toEqual([byDefault, false, true]);
    expect(out[1]).toEqual({ ...out[0], jit: false });
    expect(out[2]).toEqual({ ...out[0], jit: true });
    expect(() => new Machine({ tier: 'fast' as never })).toThrow(/^tier must be 'interp' or 'jit', got 'fast'$/);
  });

  it('bad input is a UserError with one line', () => {
    const m = new Machine({ ram: '16M' });
    expect(() => m.getReg('q7')).toThrow(UserError);
    expect(() => m.getReg(32)).toThrow(/unknown integer register/);
    expect(() => m.readMemory(0x1000, 4)).toThrow(/not in RAM/);
    expect(() => m.getPc(1)).toThrow(/hart 1 does not exist/);
    expect(() => m.stats()).toThrow(/has not run yet/);
    expect(() => new Machine({ ram: 'lots' })).toThrow(UserError);
    expect(() => m.loadElf(new Uint8Array([1, 2, 3]))).toThrow(UserError);
    expect(() => m.step(-1)).toThrow(/whole number/);
    expect(() => new Machine({ drives: [{ path: '/nonexistent/disk.img' }] })).toThrow(/^drive \/nonexistent\/disk.img: no such file/);
    expect(() => new Machine({ cpu: 'rv99' })).toThrow(UserError);
    expect(() => new Machine({ harts: 9 })).toThrow(UserError);
  });

  it('a raw disk image attaches (virtio-blk) and close() releases it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cyclevisor-api-'));
    try {
      const img = join(dir, 'disk.img');
      writeFileSync(img, new Uint8Array(1 << 20));
      const m = new Machine({ ram: '16M', drives: [{ path: img, format: 'raw' }] });
      m.loadElf(HELLO);
      expect((await m.run()).reason).toBe('exit');
      m.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('boot() refuses a file that is not a Linux Image with one line', () => {
    const m = new Machine({ ram: '16M' });
    expect(() => m.boot({ kernel: HELLO })).toThrow(UserError);
  });
});

describe('Core', () => {
  it('runs hello with a hand-written MMIO board: same instructions and cycles as Machine', async () => {
    let core!: Core;
    const { state, mmio } = miniBoard(() => core);
    core = new Core({ ram: '16M', mmio });
    core.loadElf(HELLO);
    expect(core.run()).toBe('stopped');
    expect(state.out).toBe('Hello from cyclevisor!\n');
    expect(state.exit).toBe(0);

    const m = new Machine({ ram: '16M' });
    m.loadElf(HELLO);
    const r = await m.run();
    expect(core.instret).toBe(r.instret);
    expect(core.cycles).toBe(r.cycles);
  });

  it('step, registers, limits and reset', () => {
    let core!: Core;
    const { mmio } = miniBoard(() => core);
    core = new Core({ mmio });
    core.loadElf(HELLO);
    expect(core.pc).toBe(0x8000_0000n);
    expect(core.step()).toBe('max-insns');
    expect(core.instret).toBe(1);
    expect(core.pc).toBe(0x8000_0004n);
    expect(core.run({ maxInsns: 50 })).toBe('max-insns');
    expect(core.instret).toBe(50);
    expect(core.run({ maxCycles: 100 })).toBe('max-cycles');
    expect(core.cycles).toBeGreaterThanOrEqual(100);
    core.setReg('t0', -1n);
    expect(core.getReg('t0')).toBe(0xffff_ffff_ffff_ffffn);
    core.reset();
    expect(core.instret).toBe(0);
    expect(core.pc).toBe(0x8000_0000n);
    expect(core.priv).toBe(3);
  });

  it('an MMIO read the handler refuses is an access fault for the guest (mcause 5)', () => {
    // csrw mtvec, t1 (t1 = 0x80000100, where a wfi waits); lw t0, 0(zero): address 0 is not RAM,
    // so it reaches the handler, which refuses it: load access fault (Priv 1.12 §3.1.15, cause 5)
    // enters M-mode at mtvec.
    const core = new Core({ mmio: { read: () => null, write: () => false } });
    const w = (a: number, insn: number) => core.writeMemory(0x8000_0000 + a, new Uint8Array(new Uint32Array([insn]).buffer));
    w(0, 0x30531073); // csrw mtvec, t1
    w(4, 0x00002283); // lw t0, 0(zero)
    w(0x100, 0x10500073); // wfi
    core.setReg('t1', 0x8000_0100n);
    expect(core.run({ maxInsns: 100 })).toBe('wfi');
    expect(core.pc).toBe(0x8000_0104n);
    expect(core.getReg('t0')).toBe(0n);
    expect(core.getCsr('mcause')).toBe(5n);
    expect(core.getCsr(0x341)).toBe(0x8000_0004n); // mepc: the faulting lw
    expect(core.getCsr('mtval')).toBe(0n);
  });

  it('rejects bad options with one line', () => {
    expect(() => new Core({ ram: 1000 })).toThrow(/multiple of 4 KiB/);
    expect(() => new Core().setInterrupt(99, true)).toThrow(/not 0..15/);
  });
});

describe('package facts', () => {
  it('VERSION is package.json\'s and coreWasmPath points at a wasm module', () => {
    const pkg = JSON.parse(readFileSync(join(GUESTS, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
    const wasm = readFileSync(coreWasmPath());
    expect([...wasm.subarray(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]);
  });
});
