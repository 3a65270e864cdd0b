/**
 * Issue 8 item 6, the smaller CLI fixes, through main() in-process (the CliIo seam):
 * a section-header-less ELF runs, `run --mode timing` models and reports the TLB, an unused `tlb`
 * section is reported, `--trace-regs`, the per-hart `--stats json` breakdown, the demo warm-up.
 * Each test failed before the fix it covers.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { parseArgs } from '../src/cli/args.js';
import { parseElf } from '../src/elf.js';
import { VirtMachine } from '../src/board/virt.js';
import * as L from '../src/generated/layout.js';
import { formatJson } from '../src/stats.js';
import { fakeIo } from './helpers/cli-io.js';
import { GUESTS } from './helpers/guests.js';
import { userErrorOf } from './helpers/errors.js';

const elf = (name: string) => join(GUESTS, 'bin', `${name}.elf`);
const dir = mkdtempSync(join(tmpdir(), 'cv-extras-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ELF without (intact) section headers', () => {
  it('runs from the program headers alone, with one warning line (QEMU runs it too)', async () => {
    const full = readFileSync(elf('hello'));
    const img = parseElf(new Uint8Array(full), 'hello');
    const lastByte = Math.max(...img.segments.map((s) => s.offset + s.filesz));
    // Cut the file right after the last loadable byte: every segment intact, no section headers.
    const path = join(dir, 'hello-cut.elf');
    writeFileSync(path, full.subarray(0, lastByte));
    const io = fakeIo();
    expect(await main(['run', path], io)).toBe(0);
    expect(io.out()).toBe('Hello from cyclevisor!\n');
    expect(io.err()).toMatch(/^cyclevisor: warning: .*hello-cut\.elf: truncated: section header table .*; section headers ignored \(no symbols\)\n$/);
  });
});

describe('run --mode timing', () => {
  it('is accepted by run and demo (it was boot-only)', () => {
    expect(parseArgs(['run', 'p.elf', '--mode', 'timing'])).toMatchObject({ command: 'run', mode: 'timing' });
    expect(parseArgs(['demo', '--mode=timing'])).toMatchObject({ command: 'demo', mode: 'timing' });
    expect(parseArgs(['run', 'p.elf'])).toMatchObject({ mode: 'fast' });
  });

  it('models the TLB of the timing file and reports it (text and JSON, per hart too)', async () => {
    const timing = join(dir, 'small-tlb.json');
    writeFileSync(timing, JSON.stringify({ tlb: { l1: { entries: 8, ways: 8 }, l2: null } }));
    const io = fakeIo();
    const statsFile = join(dir, 'vm.json');
    expect(await main(['run', elf('vm-sv39'), '--mode', 'timing', '--timing', timing, '--stats', 'json', '--stats-file', statsFile], io)).toBe(0);
    const j = JSON.parse(readFileSync(statsFile, 'utf8')) as {
      tlb: { dtlb: { accesses: number; misses: number }; l2: unknown };
      harts: Array<{ tlb: { dtlb: { misses: number } } }>;
    };
    expect(j.tlb.dtlb.accesses).toBeGreaterThan(1000);
    expect(j.tlb.dtlb.misses).toBeGreaterThan(0);
    expect(j.tlb.l2).toBeNull(); // the file's tlb section was applied
    expect(j.harts[0]!.tlb.dtlb.misses).toBe(j.tlb.dtlb.misses);
    const text = fakeIo();
    expect(await main(['run', elf('vm-sv39'), '--mode', 'timing', '--stats', 'text'], text)).toBe(0);
    expect(text.err()).toMatch(/^ {2}tlb {13}itlb /m);
  });

  it('a tlb section without --mode timing is reported, not silently ignored', async () => {
    const timing = join(dir, 'tlb-only.json');
    writeFileSync(timing, JSON.stringify({ tlb: { l2: null } }));
    const io = fakeIo();
    expect(await main(['run', elf('hello'), '--timing', timing], io)).toBe(0);
    expect(io.err()).toBe(`cyclevisor: warning: ${timing}: the tlb section is used only with --mode timing\n`);
    const quiet = fakeIo();
    writeFileSync(join(dir, 'lat.json'), JSON.stringify({ cpuHz: 1e9 }));
    expect(await main(['run', elf('hello'), '--timing', join(dir, 'lat.json')], quiet)).toBe(0);
    expect(quiet.err()).toBe('');
  });
});

describe('--trace-regs', () => {
  it('adds the privilege mode and the registers each instruction wrote', async () => {
    const io = fakeIo();
    expect(await main(['run', elf('traps'), '--trace', '12', '--trace-regs'], io)).toBe(0);
    const lines = io.err().split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(12);
    // crt0: auipc gp / addi gp / csrr t0, mhartid (writes 0: shown although unchanged) / bne (none).
    expect(lines[0]).toMatch(/^ +0 {2}80000000 {2}00003197 {2}auipc gp, 0x3 +M {2}gp=0x0000000080003000$/);
    expect(lines[1]).toMatch(/ M {2}gp=0x0000000080002800$/);
    expect(lines[2]).toMatch(/csrrs t0, mhartid, zero +M {2}t0=0x0000000000000000$/);
    expect(lines[3]).toMatch(/bne t0, zero, 0x80000050 +M$/);
    // Without --trace-regs the lines are the plain trace.
    const plain = fakeIo();
    expect(await main(['run', elf('traps'), '--trace', '2'], plain)).toBe(0);
    expect(plain.err().split('\n')[0]).toMatch(/auipc gp, 0x3$/);
  });

  it('needs --trace', () => {
    expect(userErrorOf(() => parseArgs(['run', 'p.elf', '--trace-regs'])).message).toBe(
      '--trace-regs needs --trace N (the number of instructions to print)',
    );
    expect(userErrorOf(() => parseArgs(['run', 'p.elf', '--trace-regs=1'])).message).toBe('option --trace-regs does not take a value');
  });
});

describe('--stats json: per-hart breakdown', () => {
  it('one entry per hart, adding up to the machine totals', () => {
    const m = new VirtMachine({ harts: 2 });
    m.loadElfFile(elf('hello'));
    const r = m.runSync();
    const s = m.stats(r);
    const j = JSON.parse(formatJson(s)) as { instret: number; harts: Array<Record<string, unknown>> };
    expect(j.harts).toHaveLength(2);
    expect(j.harts[0]).toMatchObject({ hart: 0, state: 'running', instret: j.instret, priv: 'M' });
    expect(j.harts[1]).toMatchObject({ hart: 1, state: 'stopped', instret: 0, traps: { exceptions: 0, interrupts: 0 } });
    expect(Object.keys(j.harts[0]!)).toEqual(['hart', 'state', 'instret', 'cycles', 'traps', 'pc', 'priv']);
  });

  it('two running harts: each hart its own counts (the second parks in wfi), summing to the totals', () => {
    const m = new VirtMachine({ harts: 2, mode: 'timing' });
    m.loadElfFile(elf('cmark-small')); // long enough for hart 1 to get its rounds
    // Start hart 1 at the entry too: crt0 parks every hart but 0 in a wfi loop.
    m.started[1] = true;
    m.core.setHart64(1, L.H_PC, m.core.pc);
    const s = m.stats(m.runSync());
    const h = s.harts!;
    expect(h.map((x) => x.state)).toEqual(['running', 'wfi']);
    expect(h[1]!.instret).toBeGreaterThan(0);
    expect(h[1]!.instret).toBeLessThan(20);
    expect(h[0]!.instret + h[1]!.instret).toBe(s.instret);
    expect(h[0]!.tlb).toBeDefined();
    const j = JSON.parse(formatJson(s)) as { harts: Array<{ tlb?: unknown }> };
    expect(j.harts[1]!.tlb).toBeDefined();
  });
});

describe('demo warm-up', () => {
  it('says the host time is measured after a warm-up, which does not count', async () => {
    const io = fakeIo();
    expect(await main(['demo', '--max-insns', '3e6'], io)).toBe(124);
    const out = io.out();
    expect(out.split('\n')[0]).toMatch(/^cyclevisor demo: running .*cmark\.elf \(.*host time measured after a 2M-instruction warm-up\)$/);
    expect(out).toMatch(/\n {2}instructions {4}3,000,000\n/);
  }, 30_000);
});
