/**
 * --trace-out, --report and their bounds on a real guest (issue 16): Linux 6.1 + the nolibc
 * initramfs under OpenSBI, through main() in this process. The trace's trap instants must add up,
 * cause by cause, to the statistics' trap counters (the core records every trap entry in its ring:
 * assembly/trap.ts traceTrap); the Perfetto file must say the same; tracing must not change what
 * the guest computes; the bounds must hold. Needs the shared guest images (skipped without them).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { useOptimizingCompiler } from '../../src/core.js';
import { readPerfetto } from '../../src/trace/perfetto-read.js';
import { fakeIo } from '../helpers/cli-io.js';
import { haveImages, image } from '../helpers/guests.js';

const HAVE = haveImages('linux-6.1-rv64.Image', 'initramfs-nolibc.cpio.gz', 'opensbi-fw_dynamic.bin');
useOptimizingCompiler();
const dir = mkdtempSync(join(tmpdir(), 'cv-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BOOT = ['boot', '--bios', image('opensbi-fw_dynamic.bin'), '--kernel', image('linux-6.1-rv64.Image'), '--initrd', image('initramfs-nolibc.cpio.gz'), '--append', 'console=ttyS0'];

interface Stats {
  instret: number;
  cycles: number;
  traps: { exceptions: number; interrupts: number };
  classCounts: Record<string, number>;
}

async function boot(extra: string[], tag: string): Promise<{ code: number; stats: Stats; err: string }> {
  const sf = join(dir, `${tag}.stats.json`);
  const io = fakeIo();
  const code = await main([...BOOT, '--stats', 'json', '--stats-file', sf, ...extra], io);
  return { code, stats: JSON.parse(readFileSync(sf, 'utf8')) as Stats, err: io.err() };
}

type JsonEvent = { ph: string; name: string; pid: number; tid: number; ts: number; dur?: number; args?: Record<string, unknown> };

describe.skipIf(!HAVE)('--trace-out / --report on the nolibc Linux boot', () => {
  let plain: Stats;
  it('boots without observation (the reference counts)', async () => {
    const r = await boot([], 'plain');
    expect(r.code).toBe(0);
    plain = r.stats;
    expect(plain.traps.exceptions).toBeGreaterThan(10);
  }, 120_000);

  it('JSON: every trap is an instant on its hart track; per-cause counts add up to the trap counters; counts unchanged', async () => {
    const out = join(dir, 'boot.json');
    const html = join(dir, 'boot.html');
    const r = await boot(['--trace-out', out, '--report', html], 'json');
    expect(r.code).toBe(0);
    // Determinism: observing changes nothing the guest computes.
    expect(r.stats.instret).toBe(plain.instret);
    expect(r.stats.cycles).toBe(plain.cycles);
    expect(r.stats.traps).toEqual(plain.traps);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { metadata: Record<string, unknown>; traceEvents: JsonEvent[] };
    expect(doc.metadata).toMatchObject({ truncated: false, lostTraps: 0 });
    const ev = doc.traceEvents;
    const names = new Map<number, string>();
    for (const e of ev) if (e.ph === 'M' && e.name === 'thread_name') names.set(e.tid, (e.args as { name: string }).name);
    const traps = ev.filter((e) => e.ph === 'i' && names.get(e.tid) === 'hart 0');
    const exc = traps.filter((e) => e.args!.interrupt === false);
    const irq = traps.filter((e) => e.args!.interrupt === true);
    expect(exc.length).toBe(plain.traps.exceptions);
    expect(irq.length).toBe(plain.traps.interrupts);
    // The causes a Linux boot to a nolibc /init takes: user ecalls (syscalls), S-mode ecalls to
    // OpenSBI, S timer interrupts (Sstc), S external interrupts (the UART through the PLIC).
    const byName = (n: string) => traps.filter((e) => e.name === n).length;
    expect(byName('ecall from U')).toBeGreaterThan(0);
    expect(byName('ecall from S')).toBeGreaterThan(0);
    expect(byName('S timer interrupt')).toBeGreaterThan(0);
    expect(byName('S external interrupt')).toBeGreaterThan(0);
    // A user ecall goes from U to S; an ecall from S goes to M (OpenSBI).
    expect(traps.find((e) => e.name === 'ecall from U')!.args).toMatchObject({ from: 'U', to: 'S', cause: 8 });
    expect(traps.find((e) => e.name === 'ecall from S')!.args).toMatchObject({ from: 'S', to: 'M', cause: 9 });
    // Instants are ordered in virtual time and end by the run's last cycle (1 GHz: ns = cycles).
    const ts = traps.map((e) => e.ts);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    expect(ts[ts.length - 1]!).toBeLessThanOrEqual(plain.cycles / 1000);
    // Device tracks: the UART's interrupt line, virtio requests (virtio-rng is always there).
    const tracks = new Set(names.values());
    expect([...tracks].some((n) => /^IRQ 10 uart0$/.test(n))).toBe(true);
    // Counters: MIPS over virtual time, whose area is the instruction count.
    const mips = ev.filter((e) => e.ph === 'C' && e.name === 'MIPS');
    expect(mips.length).toBeGreaterThan(50);
    let insns = 0;
    for (let i = 0; i + 1 < mips.length; i++) insns += (mips[i]!.args!.value as number) * (mips[i + 1]!.ts - mips[i]!.ts);
    // The last value holds to the run's end (1 GHz: µs = cycles / 1000). Samples are taken at run()
    // returns, whose spacing follows the host's speed (runAsync sizes slices from it), so the last
    // interval can be a large share of a fast run (the JIT tier's).
    const last = mips[mips.length - 1]!;
    insns += (last.args!.value as number) * (plain.cycles / 1000 - last.ts);
    expect(Math.abs(insns - plain.instret) / plain.instret).toBeLessThan(0.05);

    // --report: one page, no scripts, no network; the plots are inline SVG with the run's series.
    const page = readFileSync(html, 'utf8');
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page).not.toMatch(/<script|<link|<img|src=|https?:\/\/(?!www\.w3\.org)/);
    const svgs = page.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    expect(svgs.length).toBe(3); // instruction mix, instructions over time, traps over time
    expect(balanced(page)).toBe(true);
    for (const s of svgs) expect(balanced(s)).toBe(true);
    expect(svgs[0]).toContain('Instruction mix');
    // The mix's largest class and its share as the bar label (one decimal, as the page computes it).
    const [top, n] = Object.entries(plain.classCounts).filter(([k]) => k !== 'trap' && k !== 'branchTaken').sort((a, b) => b[1] - a[1])[0]!;
    expect(svgs[0]).toContain(`>${top}<`);
    expect(svgs[0]).toContain(`>${Math.round((n / plain.instret) * 1000) / 10}<`);
    expect(svgs[2]).toContain('>exceptions<');
    expect(svgs[2]).toContain('>interrupts<');
    expect(page).toContain(plain.instret.toLocaleString('en-US'));
  }, 120_000);

  it('Perfetto: the same traps decode from the protobuf file', async () => {
    const out = join(dir, 'boot.perfetto-trace');
    const r = await boot(['--trace-out', out], 'pf');
    expect(r.code).toBe(0);
    const { tracks, events } = readPerfetto(readFileSync(out));
    const hart = [...tracks.values()].find((t) => t.name === 'hart 0' && t.group === 'harts')!;
    const traps = events.filter((e) => e.track === hart.uuid && e.type === 3);
    expect(traps.filter((e) => e.args.interrupt === false).length).toBe(plain.traps.exceptions);
    expect(traps.filter((e) => e.args.interrupt === true).length).toBe(plain.traps.interrupts);
    expect(traps.filter((e) => e.name === 'ecall from U').length).toBeGreaterThan(0);
    expect([...tracks.values()].some((t) => t.kind === 'counter' && t.name === 'MIPS')).toBe(true);
  }, 120_000);

  it('--trace-max-size and --trace-window bound the trace', async () => {
    const small = join(dir, 'small.json');
    const r = await boot(['--trace-out', small, '--trace-max-size', '16K'], 'small');
    expect(r.code).toBe(0);
    expect(statSync(small).size).toBeLessThanOrEqual(16 * 1024);
    expect(JSON.parse(readFileSync(small, 'utf8')).metadata.truncated).toBe(true);
    expect(r.err).toMatch(/--trace-out .*small\.json: stopped at 0\.0 MiB \(--trace-max-size\); \d+ events left out/);
    expect(r.stats.instret).toBe(plain.instret);

    const win = join(dir, 'win.json');
    const w = await boot(['--trace-out', win, '--trace-window', '100ms:150ms'], 'win');
    expect(w.code).toBe(0);
    const ev = (JSON.parse(readFileSync(win, 'utf8')).traceEvents as JsonEvent[]).filter((e) => e.ph !== 'M');
    expect(ev.length).toBeGreaterThan(0);
    for (const e of ev) {
      expect(e.ts).toBeGreaterThanOrEqual(100_000);
      expect(e.ts + (e.dur ?? 0)).toBeLessThanOrEqual(150_000);
    }
  }, 120_000);
});

describe.skipIf(!HAVE)('--trace-out / --report bad input', () => {
  it('refuses an output that is an input, and an unwritable path, with one line', async () => {
    // A link named like a trace file that points at the kernel: caught by device and inode.
    const link = join(dir, 'kernel.json');
    symlinkSync(image('linux-6.1-rv64.Image'), link);
    const io = fakeIo();
    expect(await main([...BOOT, '--trace-out', link], io)).toBe(2);
    expect(io.err()).toMatch(/^cyclevisor: .*--trace-out.*\n$/);
    const io2 = fakeIo();
    expect(await main(['run', '/nonexistent.elf', '--report', '/no/such/dir/r.html'], io2)).toBe(2);
    expect(io2.err().trim().split('\n')).toHaveLength(1);
  });
});

/** Tags open and close in order (void HTML elements and self-closing tags aside). */
function balanced(s: string): boolean {
  const VOID = new Set(['meta', 'br', 'img', 'link', 'input', 'hr']);
  const stack: string[] = [];
  for (const m of s.replace(/<!DOCTYPE[^>]*>/i, '').matchAll(/<(\/?)([a-zA-Z][\w:-]*)([^>]*?)(\/?)>/g)) {
    const [, close, tag, , self] = m;
    const t = tag!.toLowerCase();
    if (self || VOID.has(t)) continue;
    if (!close) stack.push(t);
    else if (stack.pop() !== t) return false;
  }
  return stack.length === 0;
}
