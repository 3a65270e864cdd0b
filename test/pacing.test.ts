/**
 * Idle pacing (issue 8 item 3; QEMU `-icount sleep=on` as the issue defines it): when every hart
 * waits in WFI, the host sleeps — a timer, not a spin — until the wall clock reaches the next
 * event's virtual time, so an idle guest's clock never runs ahead of real time and the process
 * uses almost no CPU. Guest-visible results of a deterministic run do not change, and after a
 * pause (the host stopped) the virtual/wall anchor is reset: no catching up, no jump.
 *
 * Before: an idle guest spun through its timer events as fast as the host could (the busybox
 * prompt used 100 % of a core and its uptime ran ~1,700x faster than the wall clock).
 *
 * The guest is test/guests/idle.c: 8 timer deadlines 100 ms of guest time apart, sleeping in WFI
 * in between (0.8 s of guest time, ~1,400 instructions). These tests take ~1 s of wall time each.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VirtMachine, type AsyncRunOptions } from '../src/board/virt.js';
import { main } from '../src/cli/main.js';
import { fakeIo } from './helpers/cli-io.js';
import { buildElf } from './helpers/elf-writer.js';
import { asm, jal, label, li } from './helpers/isa.js';
import * as L from '../src/generated/layout.js';
import { ROOT } from './helpers/guests.js';

const IDLE = readFileSync(join(ROOT, 'test', 'guests', 'bin', 'idle.elf'));
const TICK_MS = 100;
const TICKS = 8;
/** Node timers have ~1 ms granularity; pacing skips waits shorter than 1 ms. */
const TIMER_SLACK_MS = 2;

interface Line {
  text: string;
  /** performance.now() when the line reached the host. */
  wall: number;
  /** process.cpuUsage() then (µs, user + system). */
  cpu: number;
  /** Guest cycles then. */
  cycles: number;
}

/** Runs idle.elf with runAsync and records when each console line arrived. */
async function runIdle(opts: AsyncRunOptions, onLine?: (l: Line) => void, harts = 1) {
  const lines: Line[] = [];
  let partial = '';
  const m: VirtMachine = new VirtMachine({
    harts,
    onOutput: (chunk) => {
      partial += Buffer.from(chunk).toString('utf8');
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const c = process.cpuUsage();
        const l = { text: partial.slice(0, nl), wall: performance.now(), cpu: c.user + c.system, cycles: m.core.cycles };
        partial = partial.slice(nl + 1);
        lines.push(l);
        onLine?.(l);
      }
    },
  });
  m.loadElf(IDLE, 'idle.elf');
  const t0 = performance.now();
  const result = await m.runAsync(opts);
  const t1 = performance.now();
  return { m, result, lines, t0, t1 };
}

const tickLine = (lines: Line[], n: number): Line => {
  const l = lines.find((x) => x.text === `idle: tick ${n}`);
  if (!l) throw new Error(`no tick ${n} in ${JSON.stringify(lines.map((x) => x.text))}`);
  return l;
};

describe('idle pacing (--pace on)', () => {
  it('an idle guest: its clock never runs ahead of the wall clock, and it uses little CPU', async () => {
    const { result, lines, t0, t1, m } = await runIdle({ pace: true });
    expect(result).toEqual({ reason: 'exit', code: 0 });
    // Tick n is printed once guest time passed n * 100 ms (since `idle: start`, ~0 s of guest
    // time): the wall clock since the run began must have passed it too.
    for (let n = 1; n <= TICKS; n++) {
      const l = tickLine(lines, n);
      expect(l.wall - t0, `tick ${n}`).toBeGreaterThanOrEqual(n * TICK_MS - TIMER_SLACK_MS);
    }
    // ... and not fall far behind it (the guest does nothing else; generous for a loaded host).
    expect(t1 - t0).toBeLessThan(TICKS * TICK_MS + 1500);
    // CPU while idle, from tick 1 to the last tick (0.7 s of waiting): a few timers, no spinning.
    const a = tickLine(lines, 1);
    const b = tickLine(lines, TICKS);
    const cpuMs = (b.cpu - a.cpu) / 1000;
    const wallMs = b.wall - a.wall;
    expect(wallMs).toBeGreaterThan((TICKS - 1) * TICK_MS - 50);
    expect(cpuMs / wallMs).toBeLessThan(0.25);
    // Guest time at the end: 0.8 s and a little (the program's own instructions).
    expect(m.core.cycles / m.timing.cpuHz).toBeCloseTo(0.8, 2);
  });

  it('changes no guest-visible result: output, instructions, cycles and traps equal an unpaced run', async () => {
    const paced = await runIdle({ pace: true });
    const sync = new VirtMachine();
    sync.loadElf(IDLE, 'idle.elf');
    const r = sync.runSync();
    expect(paced.result).toEqual(r);
    const facts = (m: VirtMachine) => [m.core.instret, m.core.cycles, m.core.exceptions, m.core.interrupts, m.scheduler.stats().fired];
    expect(facts(paced.m)).toEqual(facts(sync));
    expect(paced.lines.map((l) => l.text + '\n').join('')).toBe(sync.outputText());
    const unpaced = await runIdle({ pace: false });
    expect(facts(unpaced.m)).toEqual(facts(sync));
    // Without pacing the same 0.8 s of guest time takes far less wall time (events are skipped to).
    expect(unpaced.t1 - unpaced.t0).toBeLessThan(TICKS * TICK_MS);
  });

  it('after a pause the anchor is reset: no catching up (the next tick still waits its 100 ms)', async () => {
    // At tick 2 the host is blocked for 600 ms (as a stopped debugger or a suspended process
    // would be). Without the reset, ticks 3..7 would then come at once, to catch up.
    const PAUSE_MS = 600;
    const { lines, result } = await runIdle({ pace: true }, (l) => {
      if (l.text === 'idle: tick 2') {
        const until = performance.now() + PAUSE_MS;
        while (performance.now() < until) {
          /* the host is stopped */
        }
      }
    });
    expect(result).toEqual({ reason: 'exit', code: 0 });
    const t2end = tickLine(lines, 2).wall + PAUSE_MS;
    for (let n = 3; n <= TICKS; n++) {
      // Tick n comes (n - 2) * 100 ms after the pause ended, not earlier.
      expect(tickLine(lines, n).wall - t2end, `tick ${n}`).toBeGreaterThanOrEqual((n - 2) * TICK_MS - TIMER_SLACK_MS - 5);
    }
  });

  it('SMP (the round-robin loop): paced when every hart waits, with the results of an unpaced run', async () => {
    // `run` starts hart 0 only; the board still runs the SMP loop (stepSmp) with two harts.
    const paced = await runIdle({ pace: true }, undefined, 2);
    expect(paced.result).toEqual({ reason: 'exit', code: 0 });
    for (let n = 1; n <= TICKS; n++) {
      expect(tickLine(paced.lines, n).wall - paced.t0, `tick ${n}`).toBeGreaterThanOrEqual(n * TICK_MS - TIMER_SLACK_MS);
    }
    const a = tickLine(paced.lines, 1);
    const b = tickLine(paced.lines, TICKS);
    expect((b.cpu - a.cpu) / 1000 / (b.wall - a.wall)).toBeLessThan(0.25);
    const sync = new VirtMachine({ harts: 2 });
    sync.loadElf(IDLE, 'idle.elf');
    expect(sync.runSync()).toEqual(paced.result);
    const facts = (m: VirtMachine) => [m.totalInstret(), m.core.cycles, m.sumHarts(L.H_EXCEPTIONS), m.scheduler.stats().fired];
    expect(facts(paced.m)).toEqual(facts(sync));
    expect(paced.lines.map((l) => l.text + '\n').join('')).toBe(sync.outputText());
  });

  it('a real pause: the CLI process stopped (SIGSTOP) for 600 ms, then continued, does not catch up', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'cyclevisor.js'), 'run', join(ROOT, 'test', 'guests', 'bin', 'idle.elf'), '--pace', 'on'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const seen: Array<{ text: string; wall: number }> = [];
    let resumed = 0;
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        seen.push({ text, wall: performance.now() });
        if (text === 'idle: tick 2') {
          child.kill('SIGSTOP');
          setTimeout(() => {
            resumed = performance.now();
            child.kill('SIGCONT');
          }, 600);
        }
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(seen.map((l) => l.text).at(-1)).toBe('idle ok');
    for (let n = 3; n <= TICKS; n++) {
      const l = seen.find((x) => x.text === `idle: tick ${n}`)!;
      expect(l.wall - resumed, `tick ${n}`).toBeGreaterThanOrEqual((n - 2) * TICK_MS - TIMER_SLACK_MS - 10);
    }
  });

  it('input that ends a paced sleep early: the guest sees it at the wall time it came, not at its next timer', async () => {
    // The guest arms a timer 10 s ahead, enables the UART receive interrupt (PLIC source 10,
    // context 0 = hart 0 M-mode) and sleeps in WFI with MIE = 0; when it wakes it reads mtime
    // into a0 and exits. Input arrives 200 ms (wall) into the sleep.
    const MTIME = 0x0200_bff8n;
    const prog = asm([
      ...li(5, 0x0c00_0000n + 4n * 10n), ...li(6, 1n), ['sw', { rs1: 5, rs2: 6, imm: 0 }],
      ...li(5, 0x0c00_2000n), ...li(6, 1n << 10n), ['sw', { rs1: 5, rs2: 6, imm: 0 }],
      ...li(5, 0x0c20_0000n), ['sw', { rs1: 5, rs2: 0, imm: 0 }],
      ...li(5, 0x1000_0001n), ...li(6, 1n), ['sb', { rs1: 5, rs2: 6, imm: 0 }],
      ...li(5, MTIME), ['ld', { rd: 7, rs1: 5, imm: 0 }],
      ...li(6, 100_000_000n), ['add', { rd: 7, rs1: 7, rs2: 6 }],
      ...li(5, 0x0200_4000n), ['sd', { rs1: 5, rs2: 7, imm: 0 }],
      ...li(6, (1n << 11n) | (1n << 7n)), ['csrrw', { rd: 0, rs1: 6, imm: 0x304 }],
      ['wfi'],
      ...li(5, MTIME), ['ld', { rd: 10, rs1: 5, imm: 0 }],
      ...li(5, 0x10_0000n), ...li(6, 0x5555n), ['sw', { rs1: 5, rs2: 6, imm: 0 }],
      label('end'), jal(0, 'end'),
    ]);
    const elf = buildElf({ entry: BigInt(prog.base), segments: [{ paddr: BigInt(prog.base), data: prog.bytes }] });
    const wokeAt = async (pace: boolean): Promise<number> => {
      const m = new VirtMachine();
      m.loadElf(elf, 'wake.elf');
      m.openInput();
      const t = setTimeout(() => m.pushInput([0x78]), 200);
      expect(await m.runAsync({ pace })).toEqual({ reason: 'exit', code: 0 });
      clearTimeout(t);
      return Number(m.core.x(10)) / 10_000_000; // mtime at 10 MHz, in seconds
    };
    // Unpaced, the sleep skips to the timer (10 s); paced, the input wakes it ~0.2 s in.
    expect(await wokeAt(false)).toBeCloseTo(10, 2);
    const t = await wokeAt(true);
    expect(t).toBeGreaterThanOrEqual(0.2 - 0.005);
    expect(t).toBeLessThan(1.5);
  });

  it('--max-cycles while the guest sleeps: paced up to the limit too', async () => {
    const r = await runIdle({ pace: true, maxCycles: 250_000_000 });
    expect(r.result).toMatchObject({ reason: 'max-cycles', code: 124 });
    expect(r.m.core.cycles).toBe(250_000_000);
    expect(r.t1 - r.t0).toBeGreaterThanOrEqual(250 - TIMER_SLACK_MS);
  });

  it('runSync is never paced', () => {
    const m = new VirtMachine();
    m.loadElf(IDLE, 'idle.elf');
    const t0 = performance.now();
    expect(m.runSync()).toEqual({ reason: 'exit', code: 0 });
    expect(performance.now() - t0).toBeLessThan(TICKS * TICK_MS);
  });

  it('the default: on for an interactive console or a host socket, off otherwise', () => {
    const m = new VirtMachine();
    expect(m.paceByDefault(true)).toBe(true);
    expect(m.paceByDefault(false)).toBe(false);
    m.attachHostSocket();
    expect(m.paceByDefault(false)).toBe(true);
  });

  it('the CLI: paced by default on a terminal, not otherwise, and --pace decides when given', async () => {
    const elf = join(ROOT, 'test', 'guests', 'bin', 'idle.elf');
    const wall = async (argv: string[], interactive: boolean) => {
      const io = fakeIo({ interactive });
      const t0 = performance.now();
      const code = await main(['run', elf, ...argv], io);
      expect(code).toBe(0);
      expect(io.out()).toContain('idle ok');
      return performance.now() - t0;
    };
    expect(await wall([], true)).toBeGreaterThanOrEqual(TICKS * TICK_MS - TIMER_SLACK_MS);
    expect(await wall(['--pace', 'on'], false)).toBeGreaterThanOrEqual(TICKS * TICK_MS - TIMER_SLACK_MS);
    expect(await wall([], false)).toBeLessThan(TICKS * TICK_MS);
    expect(await wall(['--pace', 'off'], true)).toBeLessThan(TICKS * TICK_MS);
  });
});
