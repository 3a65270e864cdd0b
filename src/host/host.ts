/**
 * The host adapter: everything the core and the board need from the program hosting them that is
 * not plain ECMAScript — reading whole files (firmware, kernel, initrd, ELF, timing files), finding
 * and compiling core.wasm, and yielding to the host's event loop. Node (the CLI, the tests) and the
 * browser (web/worker.ts) differ only here; the board and the core go through `host()` and never
 * import `node:fs`, `node:path` or Node timers themselves.
 *
 * Dependency direction: core → board → host adapter. This file imports nothing from the project.
 * The Node adapter is the default and reaches Node's modules through `process.getBuiltinModule`
 * (Node >= 20.16), so a bundle for the browser pulls no Node module in through this file; a browser
 * host installs its own adapter with `setHost` before it builds a machine.
 *
 * Not routed here (Node-only back ends, absent from the browser page): disk images
 * (devices/virtio-blk.ts, src/block/), image locks (devices/image-lock.ts) and host networking
 * (src/net/). See docs/WEB.md.
 */

export interface HostAdapter {
  /** Which host this is ('node', 'browser'). */
  readonly name: string;
  /**
   * A whole file's bytes. A missing or unreadable file throws an error with a Node-style `code`
   * (ENOENT, EISDIR, ...) so that errors.ts fileReadError words it as one line.
   */
  readFile(path: string): Uint8Array;
  /** Where core.wasm (or core.debug.wasm) is: a file path on Node, a name on the web. */
  coreWasmPath(debug: boolean): string;
  /**
   * The compiled core module at `path` (cached by the caller). Node compiles synchronously; the
   * browser compiles asynchronously (`WebAssembly.compile`) before the machine is built and
   * hands the module over here.
   */
  wasmModule(path: string): WebAssembly.Module;
  /** Ask the engine for its optimizing wasm compiler from the start (V8 `--no-liftoff`), if it can. */
  preferOptimizingCompiler(): void;
  /** Resolve after the host's event loop had a turn (input, timers, messages), as soon as possible. */
  yieldToHost(): Promise<void>;
}

interface NodeFs {
  readFileSync(path: string): Uint8Array<ArrayBuffer>;
  existsSync(path: string): boolean;
}
interface NodeProcess {
  getBuiltinModule?: (id: string) => unknown;
  execArgv?: string[];
  env?: Record<string, string | undefined>;
}

/**
 * The V8 flags to restore after the core's compile: Liftoff and lazy compilation as the process
 * started (on, V8's defaults, unless `--no-liftoff` / `--no-wasm-lazy-compilation` came with node's
 * arguments or NODE_OPTIONS).
 */
export function startFlags(proc: NodeProcess): string {
  const given = [...(proc.execArgv ?? []), ...(proc.env?.NODE_OPTIONS ?? '').split(/\s+/)].map((a) => a.replace(/_/g, '-'));
  return ['liftoff', 'wasm-lazy-compilation'].map((f) => (given.includes(`--no-${f}`) ? `--no-${f}` : `--${f}`)).join(' ');
}

/** The Node host: node:fs, node:path, node:v8 and setImmediate. */
function nodeHost(): HostAdapter {
  const proc = (globalThis as { process?: NodeProcess }).process;
  const get = proc?.getBuiltinModule;
  if (typeof get !== 'function') {
    throw new Error('cyclevisor: no host adapter: call setHost() first (outside Node >= 20.16)');
  }
  const fs = get('node:fs') as NodeFs;
  const path = get('node:path') as { join(...p: string[]): string; dirname(p: string): string };
  const url = get('node:url') as { fileURLToPath(u: string): string };
  const v8 = get('node:v8') as { setFlagsFromString(f: string): void };
  // build/core.wasm, found from src/host/ (tsx, vitest) or dist/src/host/ (compiled).
  const here = path.dirname(url.fileURLToPath(import.meta.url));
  let optimizing = false;
  return {
    name: 'node',
    readFile: (p) => {
      const b = fs.readFileSync(p);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
    coreWasmPath: (debug) => {
      const name = debug ? 'core.debug.wasm' : 'core.wasm';
      for (const p of [path.join(here, '..', '..', 'build', name), path.join(here, '..', '..', '..', 'build', name)]) {
        if (fs.existsSync(p)) return p;
      }
      throw new Error(`core.wasm not found (looked in build/ next to the sources): run \`npm run build\``);
    },
    wasmModule: (p) => {
      if (!optimizing) return new WebAssembly.Module(fs.readFileSync(p));
      // The core: every function with TurboFan now (its run loop must not start in Liftoff); then
      // the flags as the process started (V8's defaults unless the user chose), so the JIT tier's
      // small modules compile lazily with Liftoff and only their hot functions tier up
      // (docs/JIT.md "V8's tiers").
      v8.setFlagsFromString('--no-liftoff --no-wasm-lazy-compilation');
      try {
        return new WebAssembly.Module(fs.readFileSync(p));
      } finally {
        v8.setFlagsFromString(startFlags(proc!));
      }
    },
    preferOptimizingCompiler: () => {
      optimizing = true;
    },
    yieldToHost: () => new Promise<void>((resolve) => setImmediate(resolve)),
  };
}

let current: HostAdapter | null = null;

/** The installed host adapter (Node's unless `setHost` installed another). */
export function host(): HostAdapter {
  return (current ??= nodeHost());
}

/** Install a host adapter (the browser worker does, before building a machine). */
export function setHost(h: HostAdapter): void {
  current = h;
}
