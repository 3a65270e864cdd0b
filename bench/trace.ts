/**
 * `npm run bench:trace` (issue 16): what --trace-out costs. Boots Linux 6.1 to power-off under
 * OpenSBI (the shared guest images, ../shared/guests) with
 *   - no observer (tracing off: the core's TR_ON flag clear, Core.runHook null),
 *   - a Chrome JSON trace, and a Perfetto trace (BoardObserver + Tracer, unbounded window, the
 *     default 64 MiB size bound),
 * measured with tinybench (BENCH_RUNS iterations each, default 3), and prints each trace's size
 * and event count. GUEST=nolibc (default) or busybox (its autotest).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { useOptimizingCompiler } from '../src/core.js';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { BoardObserver } from '../src/trace/board.js';
import { Tracer, type TraceFormat } from '../src/trace/tracer.js';

useOptimizingCompiler();
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const guests = process.env.GUESTS ?? join(root, '..', 'shared', 'guests');
const guest = process.env.GUEST === 'busybox' ? 'busybox' : 'nolibc';
const INITRD = join(guests, `initramfs-${guest}.cpio.gz`);
const APPEND = guest === 'busybox' ? 'console=ttyS0 autotest' : 'console=ttyS0';
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
for (const f of ['linux-6.1-rv64.Image', 'opensbi-fw_dynamic.bin']) {
  if (!existsSync(join(guests, f))) {
    console.error(`bench:trace: ${join(guests, f)} not found (set GUESTS)`);
    process.exit(2);
  }
}

const last: Record<string, { bytes: number; events: number; instret: number; traps: number }> = {};

function boot(format: TraceFormat | null): void {
  const m = new VirtMachine({ ramBytes: 256 << 20, onOutput: () => {} });
  bootLinux(m, { bios: join(guests, 'opensbi-fw_dynamic.bin'), kernel: join(guests, 'linux-6.1-rv64.Image'), initrd: INITRD, append: APPEND });
  const tracer = format ? new Tracer(format, m.timing.cpuHz) : null;
  const obs = tracer ? new BoardObserver(m, { tracer }) : null;
  const r = m.runSync({ maxInsns: 2e9 });
  if (r.reason !== 'exit' || r.code !== 0) throw new Error(`boot ended ${r.reason} ${r.code}`);
  obs?.finish();
  const bytes = tracer ? tracer.finish().length : 0;
  last[format ?? 'off'] = { bytes, events: tracer?.events ?? 0, instret: m.totalInstret(), traps: m.core.exceptions + m.core.interrupts };
  m.close();
}

const bench = new Bench({ iterations: runs, warmupIterations: 0, time: 0 });
if (process.env.SKIP_BOOT !== '1') {
  bench.add(`${guest} boot, tracing off`, () => boot(null));
  bench.add(`${guest} boot, --trace-out .json`, () => boot('json'));
  bench.add(`${guest} boot, --trace-out .perfetto-trace`, () => boot('perfetto'));
}
// The host-side cost per trap record, without a guest: 100k trap instants encoded (a Linux boot
// with a million traps costs ten of these), and the size they take.
const sizes: Record<string, number> = {};
for (const f of ['json', 'perfetto'] as const) {
  bench.add(`encode 100k trap instants (${f})`, () => {
    const t = new Tracer(f, 1e9, { maxBytes: 1 << 30 });
    const tr = t.track('harts', 'hart 0');
    for (let i = 0; i < 100_000; i++) {
      t.instant(tr, i * 997, 'load page fault', { cause: 13, interrupt: false, pc: 0xffffffff80001234n + BigInt(i), tval: 0x3fffff000n, from: 'U', to: 'S', kind: 'trap' });
    }
    sizes[f] = t.finish().length;
  });
}
await bench.run();
console.table(bench.table());
for (const [f, n] of Object.entries(sizes)) console.log(`100k trap instants, ${f}: ${(n / 1048576).toFixed(1)} MiB (${(n / 1e5).toFixed(0)} bytes each)`);
for (const [k, v] of Object.entries(last)) {
  console.log(`${k.padEnd(9)} trace ${(v.bytes / 1024).toFixed(0).padStart(6)} KiB, ${String(v.events).padStart(7)} events; guest ${v.instret} instructions, ${v.traps} traps`);
}
