/**
 * The machine's Worker: fetches the guest images and core.wasm, compiles core.wasm asynchronously,
 * installs the browser host adapter, and runs the same VirtMachine + bootLinux as `cyclevisor boot`
 * (src/board), with the UART's output posted to the page and the page's keystrokes pushed into the
 * UART's receive queue. Live statistics go to the page a few times a second.
 */
import { setHost } from '../src/host/host.js';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { formatText } from '../src/stats.js';
import { BrowserHost } from './browser-host.js';
import type { BootRequest, FromWorker, LiveStats, ToWorker } from './protocol.js';

/** How often the page gets the statistics (ms). */
const STATS_MS = 250;

const scope = self as unknown as {
  postMessage(m: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
};
const post = (m: FromWorker, transfer?: Transferable[]) => scope.postMessage(m, transfer);

const browserHost = new BrowserHost();
setHost(browserHost);

let machine: VirtMachine | null = null;
/** Keystrokes that came before the machine existed. */
const early: Uint8Array[] = [];

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'boot') {
    // A UserError (bad image, too little RAM) or a failed fetch: one line for the page, as on the CLI's stderr.
    boot(m).catch((err: unknown) => post({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
  } else if (m.type === 'input') {
    if (machine) machine.pushInput(m.bytes);
    else early.push(m.bytes);
  } else if (m.type === 'tier') {
    // The page's toggle: between two slices (this handler runs at a yield), exact either way.
    machine?.core.setTier(m.tier, m.jitAsync !== undefined ? { async: m.jitAsync } : undefined);
  }
};

async function fetchBytes(url: string): Promise<Uint8Array<ArrayBuffer>> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer()) as Uint8Array<ArrayBuffer>;
}

async function boot(req: BootRequest): Promise<void> {
  // Bad page parameters: one line, as the CLI's --ram / --mode would give.
  if (!(Number.isInteger(req.ramMiB) && req.ramMiB >= 16 && req.ramMiB <= 2048)) {
    throw new Error(`ram=${req.ramMiB}: RAM size in MiB, 16 to 2048`);
  }
  if (!(Number.isInteger(req.harts) && req.harts >= 1 && req.harts <= 8)) {
    throw new Error(`smp=${req.harts}: harts, 1 to 8`);
  }
  if (req.jitThreshold !== undefined && !(Number.isInteger(req.jitThreshold) && req.jitThreshold >= 1 && req.jitThreshold <= 32766)) {
    throw new Error(`jitthresh=${req.jitThreshold}: executions before compiling, 1 to 32766`);
  }
  post({ type: 'status', text: 'fetching core.wasm and the guest images' });
  const t0 = performance.now();
  const names = [req.kernel, req.initrd, ...(req.bios === 'builtin' ? [] : [req.bios])];
  const wasmPath = browserHost.coreWasmPath(false);
  const [wasmBytes, ...images] = await Promise.all([fetchBytes(req.wasmUrl), ...names.map((n) => fetchBytes(`${req.guestsUrl}${encodeURIComponent(n)}`))]);
  names.forEach((n, i) => browserHost.addFile(n, images[i]!));
  const t1 = performance.now();
  post({ type: 'status', text: 'compiling core.wasm' });
  // Asynchronous compilation: large modules may not be compiled synchronously on the web.
  browserHost.addWasmModule(wasmPath, await WebAssembly.compile(wasmBytes!));
  const t2 = performance.now();

  const m = new VirtMachine({
    ramBytes: req.ramMiB * 1024 * 1024,
    mode: req.mode,
    harts: req.harts,
    tier: req.tier,
    jit: {
      ...(req.jitAsync !== undefined ? { async: req.jitAsync } : {}),
      ...(req.jitThreshold !== undefined ? { threshold: req.jitThreshold } : {}),
    },
    onOutput: (chunk) => post({ type: 'output', bytes: chunk }),
  });
  machine = m;
  bootLinux(m, { bios: req.bios, kernel: req.kernel, initrd: req.initrd, append: req.append });
  // An interactive console: input may come at any time, so WFI waits for it.
  m.openInput();
  for (const b of early.splice(0)) m.pushInput(b);
  post({ type: 'booted', fetchMs: t1 - t0, compileMs: t2 - t1 });
  post({ type: 'status', text: 'running' });

  const start = performance.now();
  let last = { wall: start, instret: 0 };
  const report = () => {
    const now = performance.now();
    const instret = m.totalInstret();
    const cycles = m.core.cycles;
    const s = m.stats({ reason: 'interrupted', code: 0 });
    const t = s.tlb;
    const dt = now - last.wall;
    const stats: LiveStats = {
      instret,
      cycles,
      virtualSeconds: cycles / m.timing.cpuHz,
      mips: dt > 0 ? (instret - last.instret) / (dt * 1000) : 0,
      wallSeconds: (now - start) / 1000,
      traps: s.traps,
      tlb: t
        ? {
            accesses: t.itlb.accesses + t.dtlb.accesses,
            misses: t.itlb.misses + t.dtlb.misses,
            walks: t.walks,
            walkRefs: t.walkRefs,
          }
        : null,
      mode: req.mode,
      jit: s.jit
        ? {
            blocks: s.jit.blocks,
            pages: s.jit.pages,
            modules: s.jit.modules,
            compileMs: s.jit.compileMs,
            insns: s.jit.insns,
            invalidations: s.jit.invalidations,
            async: s.jit.async ? { inFlight: s.jit.async.inFlight, installed: s.jit.async.installed, dropped: s.jit.async.dropped } : null,
          }
        : null,
    };
    last = { wall: now, instret };
    post({ type: 'stats', stats });
  };
  // The run loop yields to the event loop every few ms (host adapter yieldToHost), so this timer and
  // the page's keystrokes get their turn while the guest runs.
  const timer = setInterval(report, STATS_MS);
  let r;
  try {
    // Paced like the CLI with an interactive console (paceByDefault): an idle shell's virtual
    // clock follows the wall clock instead of racing ahead.
    r = await m.runAsync({ pace: m.paceByDefault(true) });
  } finally {
    clearInterval(timer);
    report();
  }
  post({ type: 'output', summary: true, bytes: new TextEncoder().encode(`\r\n${formatText(m.stats(r)).replace(/\n/g, '\r\n')}\r\n`) });
  post({
    type: 'exit',
    reason: r.reason,
    code: r.code,
    ...(r.message !== undefined ? { message: r.message } : {}),
    instret: m.totalInstret(),
    cycles: m.core.cycles,
  });
}
