/**
 * The progress line (src/cli/progress.ts): when it shows (docs/TRACING.md, "Progress") and what
 * it says. Display only, so no guest run is needed here.
 */
import { describe, expect, it } from 'vitest';
import { ProgressLine, formatProgress, progressWanted, shortCount } from '../../src/cli/progress.js';

describe('progressWanted', () => {
  const base = { stderrTTY: true, stdoutTTY: false, consoleInput: false };
  it('shows by default only when stderr is a terminal that no console shares', () => {
    expect(progressWanted(base)).toBe(true);
    expect(progressWanted({ ...base, stderrTTY: false })).toBe(false); // redirected: a log file
    expect(progressWanted({ ...base, stdoutTTY: true })).toBe(false); // the guest console is on the same terminal
    expect(progressWanted({ ...base, consoleInput: true })).toBe(false); // keys go to a guest console
  });
  it('--progress on|off overrides', () => {
    expect(progressWanted({ ...base, stdoutTTY: true, flag: true })).toBe(true);
    expect(progressWanted({ ...base, flag: false })).toBe(false);
  });
});

describe('formatProgress', () => {
  it('says instructions, virtual time and MIPS', () => {
    expect(formatProgress({ instret: 123_456_789, virtualSeconds: 0.2, mips: 85.25 })).toBe('cyclevisor: 123.5M instructions, 0.200 s virtual, 85.3 MIPS');
    expect(formatProgress({ instret: 2.5e9, virtualSeconds: 12.34, mips: 100, label: 'web' })).toBe('cyclevisor: web: 2.50G instructions, 12.3 s virtual, 100.0 MIPS');
    expect(shortCount(999)).toBe('999');
    expect(shortCount(1500)).toBe('1.5k');
  });
  it('rewrites one status line on a terminal and clears it at the end', async () => {
    const out: string[] = [];
    let n = 0;
    const p = new ProgressLine({ write: (s: string) => out.push(s) }, { instret: () => (n += 1e6), seconds: () => 0.5 }, true);
    p.start();
    await new Promise((r) => setTimeout(r, 600));
    p.stop();
    expect(out.length).toBeGreaterThanOrEqual(2);
    expect(out[0]).toMatch(/^\rcyclevisor: [\d.]+M instructions, 0\.500 s virtual, [\d.]+ MIPS\x1b\[K$/);
    expect(out[out.length - 1]).toBe('\r\x1b[K');
  });
});
