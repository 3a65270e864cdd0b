/**
 * core.wasm from C (docs/ABI.md): hosts/c/ turns the module into C with wasm2c and implements its two
 * imports. Built once into a temporary directory; each guest's output, exit code, instruction and
 * cycle counts must equal the JS host's (the same module, the same default latencies from the
 * generated include/cyclevisor_layout.h). Skipped, with the reason, without wasm2c or cc
 * (.ci/run installs wabt).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core, type MmioHandler } from '../../src/index.js';
import { ROOT, GUESTS } from '../helpers/guests.js';

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const missing = ['wasm2c', 'cc', 'make'].filter((t) => !has(t));
const SKIP = missing.length > 0 ? `skipped: ${missing.join(', ')} not installed (apt-get install wabt gcc make)` : '';
if (SKIP) console.warn(`test/api/c-host.test.ts: ${SKIP}`);

let out = '';
let exe = '';

/** The same board as hosts/c/main.c, for the JS side of the comparison. */
function jsRun(elf: string): { stdout: string; exit: number | null; instret: number; cycles: number } {
  let stdout = '';
  let exit: number | null = null;
  let core!: Core;
  const mmio: MmioHandler = {
    read: (a) => (a === 0x1000_0005 ? 0x60 : a >= 0x1000_0000 && a < 0x1000_0100 ? 0 : null),
    write(a, _s, v) {
      if (a >= 0x1000_0000 && a < 0x1000_0100) {
        if (a === 0x1000_0000) stdout += String.fromCharCode(Number(v & 0xffn));
        return;
      }
      if (a === 0x10_0000) {
        const kind = v & 0xffffn;
        if (kind === 0x5555n || kind === 0x3333n) {
          exit = kind === 0x5555n ? 0 : Number((v >> 16n) & 0xffffn);
          core.stop();
        }
        return;
      }
      return false;
    },
  };
  core = new Core({ ram: '16M', mmio });
  core.loadElf(elf);
  while (exit === null && core.run() === 'stopped');
  return { stdout, exit, instret: core.instret, cycles: core.cycles };
}

describe.skipIf(SKIP !== '')('C host (wasm2c)', () => {
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'cyclevisor-c-'));
    execFileSync('make', ['-s', '-C', join(ROOT, 'hosts', 'c'), `OUT=${out}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    exe = join(out, 'cyclevisor-c');
  }, 180_000);
  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it.each(['hello', 'traps', 'cmark-small'])('%s: same output, exit, instructions and cycles as the JS host', (name) => {
    const elf = join(GUESTS, 'bin', `${name}.elf`);
    const c = spawnSync(exe, [elf], { encoding: 'utf8' });
    expect(c.status).toBe(0);
    expect(c.stdout).toBe(readFileSync(join(GUESTS, 'expected', `${name}.out`), 'utf8'));
    const js = jsRun(elf);
    expect(js.stdout).toBe(c.stdout);
    expect(js.exit).toBe(0);
    expect(c.stderr).toBe(`instret ${js.instret}\ncycles ${js.cycles}\nexit 0\n`);
  });

  it('a failing guest exit code and an instruction limit come back as exit statuses', () => {
    const fail = spawnSync(exe, [join(GUESTS, 'bin', 'hello.elf'), '100'], { encoding: 'utf8' });
    expect(fail.status).toBe(124);
    expect(fail.stderr).toContain('stopped after 100 instructions');
    expect(fail.stderr).toContain('instret 100\n');
    const bad = spawnSync(exe, [join(ROOT, 'package.json')], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toMatch(/is not an ELF64 little-endian RISC-V file$/);
  });
});
