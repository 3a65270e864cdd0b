/**
 * The console prefixer (issue 10: "each VM's console lines appear on stdout prefixed by its name
 * (`web | ...`, names padded like `docker compose up`; a partial line such as a shell prompt is
 * flushed, prefixed once, after 100 ms without a newline)"). Driven with a fake timer.
 */
import { describe, expect, it } from 'vitest';
import { ConsoleMux, MAX_PARTIAL, PARTIAL_FLUSH_MS, type MuxTimer } from '../../src/hypervisor/console-mux.js';

/** A manual clock: advance(ms) fires the timers that are due, in order. */
function fakeTimer(): MuxTimer & { advance(ms: number): void; pending(): number } {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    set: (fn, ms) => {
      const id = ++seq;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clear: (h) => void timers.delete(h as number),
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = until;
    },
    pending: () => timers.size,
  };
}

function setup(names = ['web', 'batch']) {
  const out: string[] = [];
  const timer = fakeTimer();
  const mux = new ConsoleMux(names, (t) => out.push(t), timer);
  return { mux, timer, text: () => out.join(''), writes: out };
}

describe('ConsoleMux', () => {
  it('prefixes whole lines with the name padded to the longest, then " | "', () => {
    const { mux, text } = setup();
    mux.push('web', 'hello\n');
    mux.push('batch', 'init: loop done 7abae2d0a1937501\n');
    expect(text()).toBe('web   | hello\nbatch | init: loop done 7abae2d0a1937501\n');
    expect(mux.prefix('web')).toBe('web   | ');
  });

  it('joins a line split over several chunks, and splits a chunk of several lines', () => {
    const { mux, text } = setup();
    mux.push('web', 'Lin');
    mux.push('web', 'ux version 6.1\nsecond');
    mux.push('web', ' line\nthird\n');
    expect(text()).toBe('web   | Linux version 6.1\nweb   | second line\nweb   | third\n');
  });

  it('drops the \\r of \\r\\n (a UART console writes CRLF)', () => {
    const { mux, text } = setup();
    mux.push('web', 'a\r\nb\r\n');
    expect(text()).toBe('web   | a\nweb   | b\n');
  });

  it('decodes UTF-8 split across chunks', () => {
    const { mux, text } = setup();
    const bytes = Buffer.from('µs ✓\n', 'utf8');
    for (const b of bytes) mux.push('web', Uint8Array.of(b));
    expect(text()).toBe('web   | µs ✓\n');
  });

  it('holds a partial line until 100 ms without output, then prints it prefixed once', () => {
    const { mux, timer, text } = setup();
    mux.push('web', '/ # ');
    timer.advance(PARTIAL_FLUSH_MS - 1);
    expect(text()).toBe('');
    timer.advance(1);
    expect(text()).toBe('web   | / # ');
    // The user's command echoes and the line ends: no second prefix on that line.
    mux.push('web', 'ls\n');
    expect(text()).toBe('web   | / # ls\n');
    mux.push('web', 'bin\n');
    expect(text()).toBe('web   | / # ls\nweb   | bin\n');
  });

  it('more output before 100 ms restarts the wait (one flush, not one per chunk)', () => {
    const { mux, timer, writes } = setup();
    mux.push('web', 'log');
    timer.advance(60);
    mux.push('web', 'in: ');
    timer.advance(60);
    expect(writes).toEqual([]);
    timer.advance(40);
    expect(writes).toEqual(['web   | login: ']);
  });

  it('a guest writing without newlines, faster than the flush timer, is printed in MAX_PARTIAL pieces (bounded buffer)', () => {
    // Before: the text piled up until a newline (a hostile guest's 1 MiB DBCN writes: the host's
    // memory without bound), since each write restarted the 100 ms wait.
    const { mux, timer, writes, text } = setup();
    const chunk = 'x'.repeat(10_000);
    for (let i = 0; i < 100; i++) {
      mux.push('web', chunk);
      timer.advance(10);
    }
    expect(writes.length).toBeGreaterThanOrEqual(Math.floor((100 * chunk.length) / (MAX_PARTIAL + chunk.length)));
    expect(Math.max(...writes.map((w) => w.length))).toBeLessThan(MAX_PARTIAL + chunk.length + 16);
    expect(writes[0]).toBe(`web   | ${'x'.repeat(Math.ceil(MAX_PARTIAL / chunk.length) * chunk.length)}`);
    expect(writes.slice(1).every((w) => !w.includes('|'))).toBe(true); // one open line, prefixed once
    timer.advance(PARTIAL_FLUSH_MS);
    expect(text()).toBe(`web   | ${'x'.repeat(100 * chunk.length)}`);
  });

  it("another VM's line ends the open partial line; its continuation is prefixed again", () => {
    const { mux, timer, text } = setup();
    mux.push('web', '/ # ');
    timer.advance(100);
    mux.push('batch', 'tick\n');
    mux.push('web', 'ls\n');
    expect(text()).toBe('web   | / # \nbatch | tick\nweb   | ls\n');
  });

  it("partial lines of two VMs do not mix", () => {
    const { mux, timer, text } = setup();
    mux.push('web', 'web$ ');
    mux.push('batch', 'batch$ ');
    timer.advance(100);
    expect(text()).toBe('web   | web$ \nbatch | batch$ ');
  });

  it('end() prints what is left and ends the line', () => {
    const { mux, timer, text } = setup();
    mux.push('web', 'no newline at the end');
    mux.end();
    expect(text()).toBe('web   | no newline at the end\n');
    expect(timer.pending()).toBe(0);
  });

  it('end() after a flushed partial line only adds the newline', () => {
    const { mux, timer, text } = setup();
    mux.push('web', '# ');
    timer.advance(100);
    mux.end();
    expect(text()).toBe('web   | # \n');
  });

  it('refuses a VM it was not told about (a wiring bug, not user input)', () => {
    const { mux } = setup();
    expect(() => mux.push('nope', 'x')).toThrow(/unknown VM 'nope'/);
  });
});
