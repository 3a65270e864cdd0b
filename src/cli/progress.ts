/**
 * The progress line of long runs (issue 16): instructions, virtual time and MIPS on stderr, about
 * four times a second. Display only: it reads counters between run slices and the host's wall
 * clock, never anything the guest sees.
 *
 * When it shows (docs/TRACING.md, "Progress"): `--progress on` always, `--progress off` never;
 * by default only when stderr is a terminal and no interactive console shares it, i.e. stdout
 * (where the guest console goes) is not that terminal too, and (host --console) stdin is not a
 * terminal typing into a VM. A status line rewritten with `\r` in the middle of a console's
 * output would garble it.
 */

export interface ProgressEnv {
  /** --progress on|off, or undefined for the automatic choice. */
  flag?: boolean | undefined;
  stderrTTY: boolean;
  stdoutTTY: boolean;
  /** stdin is a terminal whose keys go to a guest console (run/boot, host --console). */
  consoleInput: boolean;
}

/** Should the progress line be shown? (See the module comment.) */
export function progressWanted(env: ProgressEnv): boolean {
  if (env.flag !== undefined) return env.flag;
  return env.stderrTTY && !env.stdoutTTY && !env.consoleInput;
}

/** 1234567 -> "1.23M"; small numbers as they are. */
export function shortCount(n: number): string {
  if (n < 1e3) return String(Math.round(n));
  if (n < 1e6) return `${(n / 1e3).toFixed(1)}k`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)}M`;
  return `${(n / 1e9).toFixed(2)}G`;
}

/** One progress line (without the line control characters). */
export function formatProgress(p: { instret: number; virtualSeconds: number; mips: number; label?: string }): string {
  const vt = p.virtualSeconds < 10 ? p.virtualSeconds.toFixed(3) : p.virtualSeconds.toFixed(1);
  return `cyclevisor: ${p.label ? `${p.label}: ` : ''}${shortCount(p.instret)} instructions, ${vt} s virtual, ${p.mips.toFixed(1)} MIPS`;
}

export interface ProgressSource {
  instret(): number;
  /** Virtual seconds so far. */
  seconds(): number;
}

/** Rewrites one status line on a terminal (or prints a line per second when forced on elsewhere). */
export class ProgressLine {
  private timer: ReturnType<typeof setInterval> | null = null;
  private lastWall = 0;
  private lastInstret = 0;
  private shown = false;

  constructor(
    private readonly out: { write(s: string): unknown },
    private readonly src: ProgressSource,
    private readonly tty: boolean,
  ) {}

  start(): void {
    this.lastWall = performance.now();
    this.lastInstret = this.src.instret();
    // 4 Hz on a terminal; 1 Hz as lines elsewhere. unref: never keeps the process alive.
    this.timer = setInterval(() => this.tick(), this.tty ? 250 : 1000);
    this.timer.unref?.();
  }

  private tick(): void {
    const now = performance.now();
    const n = this.src.instret();
    const dt = (now - this.lastWall) / 1000;
    const mips = dt > 0 ? (n - this.lastInstret) / dt / 1e6 : 0;
    this.lastWall = now;
    this.lastInstret = n;
    const line = formatProgress({ instret: n, virtualSeconds: this.src.seconds(), mips });
    if (this.tty) {
      this.out.write(`\r${line}\x1b[K`);
      this.shown = true;
    } else this.out.write(`${line}\n`);
  }

  /** Stop, and clear the status line so what follows starts on a clean line. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}
