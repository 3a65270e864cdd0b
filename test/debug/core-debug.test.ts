/**
 * The host debugger in the core (assembly/debug.ts, src/debug/core-debug.ts): breakpoints stop
 * before the instruction, watchpoints after the access (gdb's semantics), single-step runs exactly
 * one instruction (a trap taken counts as the step), and — the point of doing it in the core —
 * a run with stops ends with exactly the counters of a run without them: the stops never move a
 * block boundary (deadline returns, interrupts), so even the sequence of deadline returns matches.
 */
import { describe, expect, it } from 'vitest';
import { RAM_BASE, RunStatus, type Core } from '../../src/core.js';
import * as L from '../../src/generated/layout.js';
import { CoreDebug, StopReason, WATCH_WRITE, WATCH_READ } from '../../src/debug/core-debug.js';
import { makeCore } from '../helpers/core-harness.js';
import { asm, br, label, li, DATA, type Assembled } from '../helpers/isa.js';

/** x5 counts to 50; each round stores it to DATA and loads it back; then ecall (a trap). */
function program(): Assembled {
  return asm([
    ...li(6, BigInt(DATA)),
    ...li(7, 50n),
    ['addi', { rd: 5, rs1: 0, imm: 0 }],
    label('loop'),
    ['addi', { rd: 5, rs1: 5, imm: 1 }],
    label('store'),
    ['sd', { rs1: 6, rs2: 5, imm: 0 }],
    ['ld', { rd: 8, rs1: 6, imm: 0 }],
    ['add', { rd: 9, rs1: 9, rs2: 8 }],
    br('blt', 5, 7, 'loop'),
    label('end'),
    ['ecall'],
    label('handler'),
    ['wfi'],
  ]);
}

function load(p: Assembled): Core {
  const { core } = makeCore(1 << 20);
  core.writePhys(RAM_BASE, p.bytes);
  core.pc = BigInt(RAM_BASE);
  core.set64(L.H_MTVEC, BigInt(p.at('handler')));
  return core;
}

interface Trace {
  boundaries: Array<[number, number, bigint]>;
  stops: number;
  status: RunStatus;
}

/**
 * Run in deadline slices of `slice` cycles (as the board does between events), recording every
 * deadline return; a debug stop is resumed at once (onStop may inspect it).
 */
function runSliced(core: Core, slice: number, onStop?: (dbg: CoreDebug) => void, dbg?: CoreDebug): Trace {
  const t: Trace = { boundaries: [], stops: 0, status: RunStatus.Deadline };
  core.insnLimit = 1_000_000;
  let deadline = core.cycles + slice;
  for (let n = 0; n < 100_000; n++) {
    core.deadline = deadline;
    const s = core.run();
    if (s === RunStatus.Debug) {
      t.stops++;
      onStop?.(dbg!);
      continue;
    }
    if (s !== RunStatus.Deadline) {
      t.status = s;
      return t;
    }
    t.boundaries.push([core.instret, core.cycles, core.pc]);
    deadline = core.cycles + slice;
  }
  throw new Error('runaway');
}

function counters(core: Core) {
  return { instret: core.instret, cycles: core.cycles, pc: core.pc, x9: core.x(9), classes: core.classCounts() };
}

describe('host debugger in the core', () => {
  it('a breakpoint stops before its instruction, every time it is reached', () => {
    const p = program();
    const core = load(p);
    const dbg = new CoreDebug(core);
    const id = dbg.addExec(BigInt(p.at('store')));
    core.insnLimit = 1_000_000;
    core.deadline = Infinity;
    let hits = 0;
    for (;;) {
      const s = core.run();
      if (s !== RunStatus.Debug) {
        expect(s).toBe(RunStatus.Wfi);
        break;
      }
      const stop = dbg.takeStop();
      expect(stop.reason).toBe(StopReason.Exec);
      expect(stop.execId).toBe(id);
      expect(stop.pc).toBe(BigInt(p.at('store')));
      expect(core.pc).toBe(BigInt(p.at('store')));
      hits++;
      // Not executed yet: x5 was incremented, the store to DATA not done.
      expect(core.x(5)).toBe(BigInt(hits));
      expect(core.readPhys(DATA, 1)[0]).toBe(hits - 1);
    }
    expect(hits).toBe(50);
  });

  it('a run with breakpoints, watchpoints or trap stops ends with the counters of a run without them', () => {
    const p = program();
    for (const slice of [7, 64, 1000]) {
      const plain = load(p);
      const ref = runSliced(plain, slice);
      const want = counters(plain);
      const arms: Array<(d: CoreDebug) => void> = [
        (d) => d.addExec(BigInt(p.at('store'))),
        (d) => d.addExec(BigInt(p.at('loop')), BigInt(p.at('end'))), // a code-hook range
        (d) => d.addWatch(BigInt(DATA), BigInt(DATA + 8), WATCH_WRITE),
        (d) => d.addWatch(BigInt(DATA), BigInt(DATA + 8), 3),
        (d) => d.trapStop(true),
        (d) => d.addExec(0x1234n), // armed, never on this code's page
      ];
      for (const arm of arms) {
        const core = load(p);
        const dbg = new CoreDebug(core);
        arm(dbg);
        const t = runSliced(core, slice, (d) => d.takeStop(), dbg);
        expect(t.status).toBe(ref.status);
        expect(t.boundaries).toEqual(ref.boundaries);
        expect(counters(core)).toEqual(want);
      }
    }
  });

  it('a watchpoint stops after the access, reporting the data address and value', () => {
    const p = program();
    const core = load(p);
    const dbg = new CoreDebug(core);
    const id = dbg.addWatch(BigInt(DATA + 4), BigInt(DATA + 5), WATCH_WRITE);
    core.insnLimit = 1_000_000;
    core.deadline = Infinity;
    expect(core.run()).toBe(RunStatus.Debug);
    const stop = dbg.takeStop();
    expect(stop.reason).toBe(StopReason.Watch);
    expect(stop.hits).toEqual([{ va: BigInt(DATA), value: 1n, size: 8, kind: WATCH_WRITE, id }]);
    // The store completed; pc is at the next instruction (the load).
    expect(core.readPhys(DATA, 1)[0]).toBe(1);
    expect(core.pc).toBe(BigInt(p.at('store') + 4));
  });

  it('single-step retires exactly one instruction per run; a trap taken is the step', () => {
    const p = program();
    const core = load(p);
    const dbg = new CoreDebug(core);
    dbg.setStep(0);
    core.insnLimit = 1_000_000;
    core.deadline = Infinity;
    let last = core.instret;
    for (;;) {
      const s = core.run();
      if (core.pc === BigInt(p.at('handler'))) {
        // The ecall trapped: the step ended at the handler, nothing retired.
        expect(s).toBe(RunStatus.Debug);
        const stop = dbg.takeStop();
        expect(stop.reason).toBe(StopReason.Step);
        expect(stop.cause).toBe(11n); // environment call from M-mode
        expect(stop.epc).toBe(BigInt(p.at('end')));
        expect(core.instret).toBe(last);
        break;
      }
      expect(s).toBe(RunStatus.Debug);
      expect(dbg.takeStop().reason).toBe(StopReason.Step);
      expect(core.instret).toBe(last + 1);
      last = core.instret;
    }
  });

  it('translates debugger addresses without side effects (M-mode: bare)', () => {
    const p = program();
    const core = load(p);
    const dbg = new CoreDebug(core);
    expect(dbg.translate(0x8000_1234n, 0)).toBe(0x8000_1234n);
    expect(dbg.readVirt(BigInt(RAM_BASE), 4, 0)).toEqual(p.bytes.subarray(0, 4));
    expect(dbg.readVirt(0x1000_0000n, 4, 0)).toBeNull(); // a device: refused, never read
    expect(core.getNum(L.C_UNMAPPED)).toBe(0);
  });
});
