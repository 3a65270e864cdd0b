/** Package facts for embedders. */
import { createRequire } from 'node:module';
import { defaultWasmPath } from '../core.js';

const require = createRequire(import.meta.url);
/** The package version (package.json), found from src/ (tsx) or dist/src/ (built). */
export const VERSION: string = (() => {
  for (const p of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = require(p) as { name?: string; version?: string };
      if (pkg.name === 'cyclevisor' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* next candidate */
    }
  }
  return '0.0.0';
})();

/** Absolute path of the release core.wasm this package runs (for non-JS hosts, docs/ABI.md). */
export function coreWasmPath(): string {
  return defaultWasmPath();
}
