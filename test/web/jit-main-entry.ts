/**
 * Bundled by test/web/jit-main.test.ts and run on a page's MAIN thread (no Worker): the board runs
 * cmark-small with the JIT under the browser host adapter, and leaves the results in
 * `globalThis.__result`. On a browser main thread the JIT's default compile mode is async
 * (src/jit/async.ts defaultAsyncCompile): modules compile with WebAssembly.compile promises and are
 * installed at the run's yields.
 */
import { setHost } from '../../src/host/host.js';
import { VirtMachine } from '../../src/board/virt.js';
import { BrowserHost } from '../../web/browser-host.js';

const g = globalThis as unknown as { __result: unknown; location: { search: string } };

async function bytes(url: string): Promise<Uint8Array<ArrayBuffer>> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer()) as Uint8Array<ArrayBuffer>;
}

async function main(): Promise<unknown> {
  const host = new BrowserHost();
  setHost(host);
  const [wasm, elf] = await Promise.all([bytes('/core.wasm'), bytes('/cmark-small.elf')]);
  host.addWasmModule(host.coreWasmPath(false), await WebAssembly.compile(wasm));
  const tier = new URLSearchParams(g.location.search).get('tier') === 'interp' ? 'interp' : 'jit';
  const m = new VirtMachine({ ramBytes: 16 << 20, tier, jit: { threshold: 200 } });
  m.loadElf(elf, 'cmark-small.elf');
  // The run is short next to a compile on a loaded machine: each yield also waits until no module
  // is in flight, so where the modules arrive (at the yields) does not depend on the host's speed.
  const yieldToHost = host.yieldToHost.bind(host);
  host.yieldToHost = async () => {
    await m.core.jit?.async?.idle();
    return yieldToHost();
  };
  const r = await m.runAsync({ yieldMs: 0, sliceCycles: 20_000 });
  const jit = m.core.jit?.stats();
  await m.core.jit?.async?.idle();
  return { r, out: m.outputText(), instret: m.core.instret, cycles: m.core.cycles, cls: m.core.classCounts(), jit: jit ?? null };
}

main().then(
  (res) => (g.__result = res),
  (e: unknown) => (g.__result = { error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) }),
);
