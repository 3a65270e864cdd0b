/**
 * Several VMs' consoles on one stdout, each line prefixed with its VM's name padded to the longest
 * name, the way `docker compose up` prefixes its services' logs (issue 10):
 *
 *   web   | Linux version 6.1.0 ...
 *   batch | init: loop done 7abae2d0a1937501
 *
 * A line is printed when its newline arrives. A partial line (a shell prompt, `login: `) is
 * printed, prefixed once, after PARTIAL_FLUSH_MS without more output from that VM; the rest of
 * that line follows without a prefix, unless another VM's output came in between, which ends the
 * visual line first (the continuation is then prefixed again). The timer is the host's: it only
 * decides when text appears on the terminal, never what the guests see (determinism is untouched).
 *
 * Pure apart from the injected timer, so tests drive it with a fake clock.
 */

export const PARTIAL_FLUSH_MS = 100;
/**
 * A partial line is printed at once when it grows this long (characters): a guest that writes
 * without newlines (DBCN can send 1 MiB per call) must not grow the host's buffer without bound,
 * nor keep the flush timer from ever firing by writing again within PARTIAL_FLUSH_MS.
 */
export const MAX_PARTIAL = 64 * 1024;

/** setTimeout/clearTimeout, injectable for tests. */
export interface MuxTimer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimer: MuxTimer = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending flush must not keep the process alive.
    t.unref?.();
    return t;
  },
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

interface Channel {
  prefix: string;
  decoder: TextDecoder;
  /** Text of the current line not printed yet. */
  pending: string;
  timer: unknown;
}

export class ConsoleMux {
  private readonly channels = new Map<string, Channel>();
  /** The VM whose partial line is on the screen without its newline, if any. */
  private open: string | null = null;

  /**
   * @param names every VM that may print (the padding is the longest name's, fixed for the run)
   * @param write where the prefixed text goes (stdout)
   */
  constructor(
    names: readonly string[],
    private readonly write: (text: string) => void,
    private readonly timer: MuxTimer = realTimer,
    private readonly flushMs = PARTIAL_FLUSH_MS,
  ) {
    const width = Math.max(0, ...names.map((n) => n.length));
    for (const n of names) {
      this.channels.set(n, { prefix: `${n.padEnd(width)} | `, decoder: new TextDecoder('utf-8'), pending: '', timer: null });
    }
  }

  /** The prefix of `name`'s lines (`web   | `). */
  prefix(name: string): string {
    return this.channel(name).prefix;
  }

  private channel(name: string): Channel {
    const c = this.channels.get(name);
    if (c === undefined) throw new Error(`console mux: unknown VM '${name}'`);
    return c;
  }

  /** Bytes (or text) a VM wrote to its console. */
  push(name: string, chunk: Uint8Array | string): void {
    const c = this.channel(name);
    const text = typeof chunk === 'string' ? chunk : c.decoder.decode(chunk, { stream: true });
    if (text === '') return;
    this.cancel(c);
    c.pending += text;
    let nl: number;
    let out = '';
    while ((nl = c.pending.indexOf('\n')) >= 0) {
      const line = c.pending.slice(0, nl).replace(/\r$/, '');
      c.pending = c.pending.slice(nl + 1);
      out += this.lineStart(name, c) + line + '\n';
      this.open = null;
    }
    if (out !== '') this.write(out);
    if (c.pending.length >= MAX_PARTIAL) {
      this.flushPartial(name, c);
      return;
    }
    if (c.pending !== '') {
      c.timer = this.timer.set(() => {
        c.timer = null;
        this.flushPartial(name, c);
      }, this.flushMs);
    }
  }

  /** The prefix, unless this VM's line is the one open on the screen; ends another VM's open line. */
  private lineStart(name: string, c: Channel): string {
    if (this.open === name) return '';
    const end = this.open !== null ? '\n' : '';
    this.open = null;
    return end + c.prefix;
  }

  private flushPartial(name: string, c: Channel): void {
    if (c.pending === '') return;
    const text = this.lineStart(name, c) + c.pending;
    c.pending = '';
    this.open = name;
    this.write(text);
  }

  private cancel(c: Channel): void {
    if (c.timer !== null) {
      this.timer.clear(c.timer);
      c.timer = null;
    }
  }

  /** End of the run: every partial line printed and ended with a newline. */
  end(): void {
    let out = '';
    for (const [name, c] of this.channels) {
      this.cancel(c);
      c.pending += c.decoder.decode();
      if (c.pending !== '') {
        out += this.lineStart(name, c) + c.pending;
        c.pending = '';
        this.open = name;
      }
    }
    if (this.open !== null) out += '\n';
    this.open = null;
    if (out !== '') this.write(out);
  }
}
