/**
 * The page: an xterm.js terminal wired to the guest's UART in a Worker (web/worker.ts), and the
 * run's statistics, live. Page parameters choose the guest: ?kernel=&initrd=&bios=&append=&ram=&smp=&mode=
 * (defaults: the shared Linux 6.1 with the busybox initramfs, cyclevisor's built-in SBI, timing mode),
 * &tier=interp|jit (the execution tier, default DEFAULT_TIER; also the page's toggle) and
 * &jit=async|sync (the JIT's compile mode; default: the Jit's own, sync in a Worker) and
 * &jitthresh=N (executions of a slot before it is compiled, env JIT_THRESH on the CLI).
 */
import { Terminal } from '@xterm/xterm';
import type { BootRequest, FromWorker, LiveStats } from './protocol.js';

const params = new URLSearchParams(location.search);
const modeParam = params.get('mode') ?? 'timing';
const mode = modeParam === 'fast' ? 'fast' : 'timing';
/**
 * The page's default tier. Timing mode (the page's default mode) runs interpreted under either
 * tier (the JIT declines while the modeled TLB is on); `npm run bench:web` in fast mode decided
 * the rest (docs/JIT.md "Browser and async compile").
 */
const DEFAULT_TIER: 'interp' | 'jit' = 'interp';
const tierParam = params.get('tier') ?? DEFAULT_TIER;
const jitParam = params.get('jit');
const req: BootRequest = {
  type: 'boot',
  wasmUrl: new URL('core.wasm', location.href).href,
  guestsUrl: new URL('guests/', location.href).href,
  bios: params.get('bios') ?? 'builtin',
  kernel: params.get('kernel') ?? 'linux-6.1-rv64.Image',
  initrd: params.get('initrd') ?? 'initramfs-busybox.cpio.gz',
  append: params.get('append') ?? 'console=ttyS0',
  ramMiB: Number(params.get('ram') ?? 256),
  harts: Number(params.get('smp') ?? 1),
  mode,
  tier: tierParam === 'interp' ? 'interp' : 'jit',
  ...(jitParam === 'async' || jitParam === 'sync' ? { jitAsync: jitParam === 'async' } : {}),
  ...(params.get('jitthresh') !== null ? { jitThreshold: Number(params.get('jitthresh')) } : {}),
};

const term = new Terminal({ cols: 100, rows: 32, scrollback: 5000, fontSize: 14, lineHeight: 1.15 });
term.open(document.getElementById('terminal')!);
term.focus();
// For tests and the curious: the terminal (its buffer holds what the guest printed).
(window as unknown as { __term: Terminal }).__term = term;

const el = (id: string) => document.getElementById(id)!;
const status = (text: string) => (el('status').textContent = text);
el('guest').textContent = `${req.kernel} + ${req.initrd}, bios ${req.bios}, ${req.ramMiB} MiB, ${req.harts} hart${req.harts === 1 ? '' : 's'}, ${req.mode} mode`;

const worker = new Worker(new URL('worker.js', location.href), { type: 'module' });
const encoder = new TextEncoder();
term.onData((d) => worker.postMessage({ type: 'input', bytes: encoder.encode(d) }));

// The tier toggle: switches the running machine (exact: only the host time changes) and the URL.
const jitBox = el('jit-on') as HTMLInputElement;
jitBox.checked = req.tier === 'jit';
jitBox.addEventListener('change', () => {
  const tier = jitBox.checked ? 'jit' : 'interp';
  worker.postMessage({ type: 'tier', tier, ...(req.jitAsync !== undefined ? { jitAsync: req.jitAsync } : {}) });
  params.set('tier', tier);
  history.replaceState(null, '', `?${params}`);
  if (tier === 'interp') el('jit').textContent = '— (interpreter)';
});

const t0 = performance.now();
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (a: number, b: number) => (b > 0 ? `${((100 * a) / b).toFixed(2)} %` : '—');

function showStats(s: LiveStats): void {
  el('instret').textContent = fmt(s.instret);
  el('mips').textContent = fmt(s.mips, 1);
  el('vtime').textContent = `${s.virtualSeconds.toFixed(3)} s`;
  el('wall').textContent = `${s.wallSeconds.toFixed(1)} s`;
  el('traps').textContent = `${fmt(s.traps.exceptions)} exceptions, ${fmt(s.traps.interrupts)} interrupts`;
  el('tlb').textContent = s.tlb
    ? `${fmt(s.tlb.accesses)} accesses\n${fmt(s.tlb.misses)} misses (${pct(s.tlb.misses, s.tlb.accesses)})\n${fmt(s.tlb.walks)} walks, ${fmt(s.tlb.walkRefs)} walk refs`
    : '— (fast mode: no modeled TLB;\nthe page with ?mode=timing has one)';
  const j = s.jit;
  el('jit').textContent = !j
    ? '— (interpreter)'
    : `${fmt(j.blocks)} blocks on ${fmt(j.pages)} pages, ${fmt(j.modules)} modules\n${fmt(j.compileMs)} ms compile, ${pct(j.insns, s.instret)} compiled` +
      (j.async ? `\nasync: ${fmt(j.async.installed)} installed, ${fmt(j.async.inFlight)} in flight` : '') +
      (s.mode === 'timing' ? '\n(timing mode runs interpreted)' : '');
  (window as unknown as { __jit: unknown }).__jit = j;
}

/** For tests: the guest's console output (the end-of-run summary excluded). */
const consoleText: string[] = [];
const decoder = new TextDecoder();
(window as unknown as { __console: () => string }).__console = () => consoleText.join('');

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'output':
      term.write(m.bytes);
      if (!m.summary) consoleText.push(decoder.decode(m.bytes, { stream: true }));
      break;
    case 'stats':
      showStats(m.stats);
      break;
    case 'status':
      status(m.text);
      break;
    case 'booted':
      el('load').textContent = `fetch ${fmt(m.fetchMs)} ms, compile core.wasm ${fmt(m.compileMs)} ms`;
      break;
    case 'exit':
      // For tests: the run's end and its final counters.
      (window as unknown as { __exit: unknown }).__exit = { reason: m.reason, code: m.code, instret: m.instret, cycles: m.cycles };
      status(`guest ended: ${m.reason}, exit code ${m.code}${m.message ? ` (${m.message})` : ''}`);
      break;
    case 'error':
      status(`error: ${m.message}`);
      term.write(`\r\n\x1b[31mcyclevisor: ${m.message}\x1b[0m\r\n`);
      break;
  }
};
worker.onerror = (e) => status(`worker error: ${e.message}`);
(window as unknown as { __bootStart: number }).__bootStart = t0;
const bad =
  modeParam !== 'fast' && modeParam !== 'timing'
    ? `mode=${modeParam}: fast or timing`
    : tierParam !== 'interp' && tierParam !== 'jit'
      ? `tier=${tierParam}: interp or jit`
      : jitParam !== null && jitParam !== 'async' && jitParam !== 'sync'
        ? `jit=${jitParam}: async or sync`
        : null;
if (bad !== null) {
  const msg = bad;
  status(`error: ${msg}`);
  term.write(`\x1b[31mcyclevisor: ${msg}\x1b[0m\r\n`);
} else {
  worker.postMessage(req);
}
