/**
 * The progress line on a real pseudo-terminal (script(1) from util-linux gives the process a pty):
 * with the guest console redirected to a file, stderr (the terminal) gets the status line,
 * rewritten with \r and cleared at the end; with the console on the terminal too, nothing
 * (docs/TRACING.md "Progress"). Skipped when script(1) is not installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GUESTS, ROOT } from '../helpers/guests.js';

const HAVE_SCRIPT = spawnSync('script', ['--version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'cv-progress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// Long enough in wall time for the 4 Hz line to show: the interpreter (the JIT runs these
// instructions in ~0.1 s, before the first tick) and 250 M instructions (~1 s).
const CLI = `node ${join(ROOT, 'bin', 'cyclevisor.js')} run ${join(GUESTS, 'bin', 'cmark.elf')} --tier interp --max-insns 250000000`;

function onPty(cmd: string): string {
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'latin1', timeout: 60_000 });
  return r.stdout;
}

describe.skipIf(!HAVE_SCRIPT)('progress on a terminal', () => {
  it('shows on stderr when the console is redirected, and is cleared at the end', () => {
    const out = onPty(`${CLI} > ${join(dir, 'console.txt')}`);
    expect(out).toMatch(/\rcyclevisor: [\d.]+[kMG]? instructions, [\d.]+ s virtual, [\d.]+ MIPS\x1b\[K/);
    // Cleared before the run's own message.
    expect(out).toMatch(/\r\x1b\[Kcyclevisor: stopped after 250000000 instructions \(--max-insns\)\r?\n$/);
    // The console went to the file, untouched by the status line.
    expect(readFileSync(join(dir, 'console.txt'), 'latin1')).not.toContain('MIPS');
  }, 60_000);

  it('stays off when the console shares the terminal, and --progress off turns it off', () => {
    expect(onPty(CLI)).not.toContain('MIPS');
    expect(onPty(`${CLI} --progress off > ${join(dir, 'c2.txt')}`)).not.toContain('MIPS');
  }, 60_000);
});
