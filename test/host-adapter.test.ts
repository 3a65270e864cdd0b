/**
 * The host adapter seam (src/host/host.ts, docs/WEB.md): the core and the board read files, find
 * and compile core.wasm and yield to the event loop only through `host()`, so the browser worker
 * (web/worker.ts) runs the same board with files fetched over HTTP. A fake host that serves
 * everything from memory (paths that exist nowhere on disk) must be enough to build a machine, load
 * a program and run it to its end, synchronously and asynchronously.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { host, setHost, startFlags, type HostAdapter } from '../src/host/host.js';
import { VirtMachine } from '../src/board/virt.js';
import { loadTimingFile } from '../src/timing.js';
import { GUESTS } from './helpers/guests.js';

const node = host();
afterEach(() => setHost(node));

/** An in-memory host: files by name, core.wasm precompiled (as the browser worker does). */
function memoryHost(files: Record<string, Uint8Array>): HostAdapter & { calls: string[] } {
  const calls: string[] = [];
  const module = node.wasmModule(node.coreWasmPath(false));
  return {
    name: 'memory',
    calls,
    readFile(path) {
      calls.push(`readFile ${path}`);
      const b = files[path];
      if (!b) throw Object.assign(new Error(`${path}: not here`), { code: 'ENOENT' });
      return b;
    },
    coreWasmPath: (debug) => (debug ? 'mem:core.debug.wasm' : 'mem:core.wasm'),
    wasmModule(path) {
      calls.push(`wasmModule ${path}`);
      return module;
    },
    preferOptimizingCompiler: () => calls.push('preferOptimizingCompiler'),
    yieldToHost() {
      calls.push('yieldToHost');
      return new Promise<void>((resolve) => setTimeout(resolve, 0));
    },
  };
}

describe('host adapter', () => {
  it('after the core\'s TurboFan compile, the V8 wasm flags go back to how the process started', () => {
    expect(startFlags({ execArgv: [], env: {} })).toBe('--liftoff --wasm-lazy-compilation');
    expect(startFlags({ execArgv: ['--no-liftoff'], env: {} })).toBe('--no-liftoff --wasm-lazy-compilation');
    expect(startFlags({ execArgv: [], env: { NODE_OPTIONS: '--max-old-space-size=4096 --no_wasm_lazy_compilation' } }))
      .toBe('--liftoff --no-wasm-lazy-compilation');
  });

  it('the Node adapter is the default and finds build/core.wasm', () => {
    expect(node.name).toBe('node');
    expect(node.coreWasmPath(false)).toMatch(/build[/\\]core\.wasm$/);
  });

  it('a machine built, loaded and run through an in-memory host touches no file of its own', async () => {
    const hello = new Uint8Array(readFileSync(join(GUESTS, 'bin', 'hello.elf')));
    const h = memoryHost({ 'mem:hello.elf': hello });
    setHost(h);
    // The wasm module comes from the host under its path (a fresh path: not in the core's cache).
    const m = new VirtMachine({});
    expect(h.calls).toContain('wasmModule mem:core.wasm');
    m.loadElfFile('mem:hello.elf');
    expect(h.calls).toContain('readFile mem:hello.elf');
    // Small fixed slices and no time budget: the run yields after every slice.
    const r = await m.runAsync({ yieldMs: 0, sliceCycles: 100 });
    expect(r).toEqual({ reason: 'exit', code: 0 });
    expect(m.outputText()).toBe(readFileSync(join(GUESTS, 'expected', 'hello.out'), 'utf8'));
    // runAsync yields through the host, not through Node's setImmediate.
    expect(h.calls).toContain('yieldToHost');
  });

  it('a file the host does not have is the usual one-line error', () => {
    setHost(memoryHost({}));
    const m = new VirtMachine({});
    expect(() => m.loadElfFile('mem:missing.elf')).toThrow('mem:missing.elf: no such file');
    expect(() => loadTimingFile('mem:timing.json')).toThrow('mem:timing.json: no such file');
  });

  it('timing files are read through the host (bytes decoded as UTF-8)', () => {
    setHost(memoryHost({ 'mem:t.json': new TextEncoder().encode('{"cpuHz": 2000000000}') }));
    expect(loadTimingFile('mem:t.json').cpuHz).toBe(2_000_000_000);
  });
});
