/**
 * Worker threads load the compiled JavaScript in dist/ (node cannot load TypeScript in a worker
 * without a loader): from dist/src/experiments/ that is this file's directory; from the sources
 * (tests run src/ through vitest) it is the same path under dist/ (npm run build makes it).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from './tlbwalk.js';

export function compiledFile(name: string): string {
  const here = fileURLToPath(import.meta.url);
  const file = here.endsWith('.js') ? join(dirname(here), name) : join(repoRoot(), 'dist', 'src', 'experiments', name);
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build`);
  return file;
}
