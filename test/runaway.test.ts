/**
 * Runaway guests through the CLI (issue 8 item 1): a hart stuck in a trap loop ends the run with
 * exit status 3 and exactly one line on stderr, `hart H stuck: cause C at pc P, xtvec T` (H and C
 * decimal, P and T 0x-hex; C is the xcause value, T the xtvec of the mode the trap went to), and
 * `--max-cycles N` stops a run on virtual time as `--max-insns` does on instructions (124).
 *
 * Before the fix both reproductions of the issue ran forever: `boot --bios none` with the Linux
 * Image (the kernel, entered in M-mode with mtvec = 0, faults at once and every trap faults again
 * at address 0) and a garbage kernel under `--bios builtin`; `--max-insns` could not stop them
 * because nothing retires.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { VirtMachine } from '../src/board/virt.js';
import * as L from '../src/generated/layout.js';
import { useOptimizingCompiler } from '../src/core.js';
import { fakeIo } from './helpers/cli-io.js';
import { buildElf } from './helpers/elf-writer.js';
import { haveImages, image, ROOT } from './helpers/guests.js';

useOptimizingCompiler();

const KERNEL = image('linux-6.1-rv64.Image');
const HAVE_KERNEL = haveImages('linux-6.1-rv64.Image');
const IDLE = join(ROOT, 'test', 'guests', 'bin', 'idle.elf');
const CMARK_SMALL = join(ROOT, 'test', 'guests', 'bin', 'cmark-small.elf');
const STUCK_LINE = /^hart (\d+) stuck: cause (\d+) at pc (0x[0-9a-f]+), xtvec (0x[0-9a-f]+)\n$/;

const dir = mkdtempSync(join(tmpdir(), 'cyclevisor-runaway-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = fakeIo();
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err() };
}

/** A kernel Image header ("RSC\x05" at 0x38, image_size 0) followed by `fill` bytes. */
function garbageKernel(name: string, fill: (i: number) => number): string {
  const b = new Uint8Array(64 * 1024);
  for (let i = 0; i < b.length; i++) b[i] = fill(i) & 0xff;
  b.fill(0, 0x10, 0x18);
  b.set([0x52, 0x53, 0x43, 0x05], 0x38);
  const p = join(dir, name);
  writeFileSync(p, b);
  return p;
}

describe('a hart stuck in a trap loop ends the run (exit 3, one line)', () => {
  it.skipIf(!HAVE_KERNEL)('boot --bios none --kernel linux-6.1-rv64.Image --max-insns 50000000 (the issue\'s reproduction)', async () => {
    const t0 = performance.now();
    const r = await cli(['boot', '--bios', 'none', '--kernel', KERNEL, '--max-insns', '50000000']);
    const ms = performance.now() - t0;
    expect(r.code).toBe(3);
    // The kernel's first trap goes to mtvec = 0 (reset value), whose fetch faults (cause 1) again
    // and again: the 1000th trap is a fetch access fault at 0 through mtvec 0.
    expect(r.err).toBe('hart 0 stuck: cause 1 at pc 0x0, xtvec 0x0\n');
    expect(r.out).toBe('');
    expect(ms).toBeLessThan(20_000); // "promptly": it used to run forever
  });

  it('a garbage kernel under --bios builtin: all-ones (illegal) and seeded random bytes', async () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16);
    // All ones: the first instruction is illegal, the builtin firmware redirects it to stvec (the
    // kernel's entry), which is the same instruction: nothing ever retires, so the hart is stuck.
    const ones = await cli(['boot', '--bios', 'builtin', '--kernel', garbageKernel('ones.Image', () => 0xff), '--max-insns', '50000000']);
    expect(ones.code).toBe(3);
    const m = STUCK_LINE.exec(ones.err);
    expect(m, ones.err).not.toBeNull();
    expect(m![1]).toBe('0');
    // Random bytes retire a few instructions before each fault and its redirect to the entry: a loop
    // that retires instructions is not stuck, and --max-insns ends it.
    const r = await cli(['boot', '--bios', 'builtin', '--kernel', garbageKernel('random.Image', rnd), '--max-insns', '5000000']);
    expect([3, 124], r.err).toContain(r.code);
    if (r.code === 124) expect(r.err).toContain('stopped after 5000000 instructions (--max-insns)');
    else expect(r.err).toMatch(STUCK_LINE);
  });

  it('with --stats the summary follows the line and names the reason; the run is deterministic', async () => {
    const k = garbageKernel('ones2.Image', () => 0xff);
    const a = await cli(['boot', '--kernel', k, '--stats', 'json', '--stats-file', join(dir, 's.json')]);
    const b = await cli(['boot', '--kernel', k]);
    expect(a.code).toBe(3);
    expect(a.err).toBe(b.err);
    const s = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8')) as { exit: unknown; traps: { exceptions: number }; instret: number };
    expect(s.exit).toEqual({ reason: 'stuck', code: 3 });
    expect(s.traps.exceptions).toBe(1000);
  });

  it('the board option stuckTraps: the threshold, and 0 = never (then --max-cycles still ends it)', () => {
    const elf = garbageElf();
    const m = new VirtMachine({ stuckTraps: 5 });
    m.loadElf(elf, 'trap-loop.elf');
    expect(m.runSync({ maxInsns: 1000 })).toEqual({ reason: 'stuck', code: 3, message: 'hart 0 stuck: cause 1 at pc 0x0, xtvec 0x0' });
    expect(m.core.exceptions).toBe(5);

    const off = new VirtMachine({ stuckTraps: 0 });
    off.loadElf(elf, 'trap-loop.elf');
    expect(off.runSync({ maxInsns: 1000, maxCycles: 1_000_000 })).toMatchObject({ reason: 'max-cycles', code: 124 });
    expect(off.core.exceptions).toBeGreaterThan(100_000);
  });

  it('SMP: the stuck hart is named (hart 1 loops on faults while hart 0 spins in a retiring loop)', () => {
    // Code at 0x80000000: `j .` (hart 0); at 0x80000004: an all-zero (illegal) parcel (hart 1).
    const code = new Uint8Array([0x6f, 0x00, 0x00, 0x00, 0, 0, 0, 0]);
    const m = new VirtMachine({ harts: 2 });
    m.loadElf(buildElf({ entry: 0x8000_0000n, segments: [{ paddr: 0x8000_0000n, data: code }] }), 'smp.elf');
    m.started[1] = true;
    m.core.setHart64(1, L.H_PC, 0x8000_0004n);
    expect(m.runSync({ maxInsns: 10_000_000 })).toEqual({ reason: 'stuck', code: 3, message: 'hart 1 stuck: cause 1 at pc 0x0, xtvec 0x0' });
    expect(m.core.hartNum(1, L.H_EXCEPTIONS)).toBe(1000);
    expect(m.core.hartNum(0, L.H_EXCEPTIONS)).toBe(0);
  });
});

describe('--max-cycles N', () => {
  it('run: exit 124, one line, and the run stops at the first instruction boundary at or after N', async () => {
    for (const n of [1000, 123_457, 2_000_000]) {
      const f = join(dir, `mc-${n}.json`);
      const r = await cli(['run', CMARK_SMALL, '--max-cycles', String(n), '--stats', 'json', '--stats-file', f]);
      expect(r.code).toBe(124);
      expect(r.err).toBe(`cyclevisor: stopped after ${n} cycles (--max-cycles)\n`);
        const s = JSON.parse(readFileSync(f, 'utf8')) as { exit: unknown; cycles: number; instret: number };
      expect(s.exit).toEqual({ reason: 'max-cycles', code: 124 });
      // The last instruction crossed N: cycles >= N, and one instruction fewer would be below N
      // (cmark's longest instruction costs far less than 100 cycles).
      expect(s.cycles).toBeGreaterThanOrEqual(n);
      expect(s.cycles - n).toBeLessThan(100);
    }
  });

  it('the same stop point whatever the slicing (runSync, runAsync with tiny slices)', async () => {
    const elf = readFileSync(CMARK_SMALL);
    const a = new VirtMachine();
    a.loadElf(elf, 'a');
    const ra = a.runSync({ maxCycles: 777_777 });
    const b = new VirtMachine();
    b.loadElf(elf, 'b');
    const rb = await b.runAsync({ maxCycles: 777_777, sliceCycles: 1000 });
    expect(ra).toEqual(rb);
    expect([a.core.cycles, a.core.instret, a.outputText()]).toEqual([b.core.cycles, b.core.instret, b.outputText()]);
  });

  it('a sleeping guest: virtual time stops exactly at N (idle.elf waits in WFI for 0.8 s of guest time)', async () => {
    const r = await cli(['run', IDLE, '--max-cycles', '250000000', '--pace', 'off']);
    expect(r.code).toBe(124);
    expect(r.out).toBe('idle: start\nidle: tick 1\nidle: tick 2\n'); // 100 and 200 ms, not 300 ms
    const m = new VirtMachine();
    m.loadElfFile(IDLE);
    expect(m.runSync({ maxCycles: 250_000_000 })).toMatchObject({ reason: 'max-cycles' });
    expect(m.core.cycles).toBe(250_000_000);
  });

  it.skipIf(!HAVE_KERNEL)('boot: exit 124 with the line', async () => {
    const r = await cli(['boot', '--kernel', KERNEL, '--max-cycles', '2e6']);
    expect(r.code).toBe(124);
    expect(r.err).toBe('cyclevisor: stopped after 2000000 cycles (--max-cycles)\n');
  });

  it.skipIf(!HAVE_KERNEL)('boot --smp 2: the run ends at the end of the round that reaches N', async () => {
    const r = await cli(['boot', '--kernel', KERNEL, '--smp', '2', '--max-cycles', '3e6', '--stats', 'json', '--stats-file', join(dir, 'smp.json')]);
    expect(r.code).toBe(124);
    const s = JSON.parse(readFileSync(join(dir, 'smp.json'), 'utf8')) as { cycles: number };
    expect(s.cycles).toBeGreaterThanOrEqual(3e6);
    expect(s.cycles).toBeLessThan(3e6 + 20_000);
  });
});

/** A bare-metal ELF whose first instruction is illegal (all-zero parcel; mtvec = 0 at reset): a trap loop. */
function garbageElf(): Uint8Array {
  return buildElf({ entry: 0x8000_0000n, segments: [{ paddr: 0x8000_0000n, data: new Uint8Array(4) }] });
}
