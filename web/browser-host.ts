/**
 * The browser's host adapter (src/host/host.ts): files come from a map the worker filled with
 * fetch() before it built the machine, core.wasm is the module the worker compiled asynchronously
 * (WebAssembly.compile: Chromium refuses synchronous compilation of large modules off a worker and
 * it would block anyway), and yielding uses a MessageChannel (a task, without setTimeout's 4 ms
 * clamp, so input messages from the page are handled between slices).
 */
import type { HostAdapter } from '../src/host/host.js';

export class BrowserHost implements HostAdapter {
  readonly name = 'browser';
  private readonly files = new Map<string, Uint8Array>();
  private readonly modules = new Map<string, WebAssembly.Module>();
  private readonly channel = new MessageChannel();
  private readonly waiting: Array<() => void> = [];

  constructor() {
    this.channel.port1.onmessage = () => this.waiting.shift()?.();
  }

  /** Make `bytes` readable as `path`. */
  addFile(path: string, bytes: Uint8Array): void {
    this.files.set(path, bytes);
  }
  /** Make `module` the compiled core.wasm at `path`. */
  addWasmModule(path: string, module: WebAssembly.Module): void {
    this.modules.set(path, module);
  }

  readFile(path: string): Uint8Array {
    const b = this.files.get(path);
    if (b === undefined) throw Object.assign(new Error(`${path}: not loaded`), { code: 'ENOENT' });
    return b;
  }
  coreWasmPath(debug: boolean): string {
    return debug ? 'core.debug.wasm' : 'core.wasm';
  }
  wasmModule(path: string): WebAssembly.Module {
    const m = this.modules.get(path);
    if (m === undefined) throw new Error(`${path}: not compiled (the worker compiles core.wasm before building the machine)`);
    return m;
  }
  preferOptimizingCompiler(): void {
    // No engine flags in a page: Chromium tiers up from Liftoff to TurboFan on its own.
  }
  yieldToHost(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.channel.port2.postMessage(0);
    });
  }
}
