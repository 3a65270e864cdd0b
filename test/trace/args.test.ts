/**
 * The observation options of issue 16 (src/cli/args.ts): --trace-out, --trace-max-size,
 * --trace-window, --report, --progress on run, boot and host; one clear line for bad values.
 */
import { describe, expect, it } from 'vitest';
import { parseArgs, parseTraceWindow } from '../../src/cli/args.js';

describe('observation options', () => {
  it('parse on run, boot and host', () => {
    expect(parseArgs(['run', 'p.elf', '--trace-out', 't.json', '--trace-max-size', '8M', '--trace-window', '0.5:2', '--report', 'r.html', '--progress', 'off'])).toMatchObject({
      command: 'run',
      observe: { traceOut: 't.json', traceMaxBytes: 8 * 1024 * 1024, traceWindow: { startNs: 5e8, endNs: 2e9 }, report: 'r.html', progress: false },
    });
    expect(parseArgs(['boot', '--kernel', 'I', '--trace-out=t.perfetto-trace'])).toMatchObject({ command: 'boot', observe: { traceOut: 't.perfetto-trace' } });
    expect(parseArgs(['host', 'vms.yaml', '--report', 'r.html', '--progress', 'on'])).toMatchObject({ command: 'host', observe: { report: 'r.html', progress: true } });
    // Absent when none is given (the settings other tests compare stay as they were).
    expect('observe' in parseArgs(['run', 'p.elf'])).toBe(false);
  });

  it('--trace-window takes seconds or units, either end open', () => {
    expect(parseTraceWindow('100ms:250ms')).toEqual({ startNs: 1e8, endNs: 2.5e8 });
    expect(parseTraceWindow(':1')).toEqual({ startNs: 0, endNs: 1e9 });
    expect(parseTraceWindow('2:')).toEqual({ startNs: 2e9, endNs: Infinity });
    expect(parseTraceWindow('10us:20000ns')).toEqual({ startNs: 1e4, endNs: 2e4 });
  });

  it('bad values are one line each', () => {
    const err = (argv: string[]) => {
      try {
        parseArgs(argv);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err(['run', 'p.elf', '--trace-out', 't.txt'])).toBe('--trace-out t.txt: the name must end in .json (Chrome trace events) or .perfetto-trace (Perfetto)');
    expect(err(['run', 'p.elf', '--trace-out', 't.json', '--trace-window', '2:1'])).toBe('--trace-window 2:1: END must be after START');
    expect(err(['run', 'p.elf', '--trace-out', 't.json', '--trace-window', 'soon'])).toMatch(/^--trace-window soon: expected START:END in virtual seconds/);
    expect(err(['run', 'p.elf', '--trace-max-size', '1M'])).toBe('--trace-max-size and --trace-window bound a --trace-out FILE (give one)');
    expect(err(['run', 'p.elf', '--trace-out', 't.json', '--trace-max-size', '100'])).toBe('--trace-max-size 100 is too small (at least 4K)');
    expect(err(['run', 'p.elf', '--progress', 'maybe'])).toBe("--progress must be 'on' or 'off', got 'maybe'");
    expect(err(['dtb', '--report', 'r.html'])).toMatch(/^option --report is for 'run', 'boot' or 'host', not 'dtb'/);
  });
});
