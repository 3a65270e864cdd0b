/**
 * The local executor: one worker thread per core (`os.availableParallelism()`, or `--jobs N`),
 * each running one point at a time (worker.ts). Workers are the compiled dist/ files, so the pool
 * works the same from the CLI and from tests that import the TypeScript sources.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Executor, Point, PointResult } from './sweep.js';
import { compiledFile } from './compiled.js';

export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

export class LocalPool implements Executor {
  private workers: Worker[] = [];

  constructor(private readonly jobs: number = defaultJobs()) {}

  async run(points: Point[], onResult: (r: PointResult) => void): Promise<void> {
    const queue = [...points];
    const n = Math.max(1, Math.min(this.jobs, queue.length));
    const file = compiledFile('worker.js');
    await new Promise<void>((resolve, reject) => {
      let running = 0;
      let failed = false;
      const feed = (w: Worker): void => {
        const p = queue.shift();
        if (p === undefined || failed) {
          running--;
          if (running === 0 && !failed) resolve();
          return;
        }
        w.postMessage({ id: p.id, config: p.config });
        const byId = new Map([[p.id, p]]);
        w.once('message', (m: { id: string; metrics?: PointResult['metrics']; error?: string }) => {
          const pt = byId.get(m.id)!;
          if (m.error !== undefined) {
            failed = true;
            reject(new Error(`point ${pt.index} (${pt.id}): ${m.error}`));
            return;
          }
          onResult({ id: pt.id, config: pt.config, metrics: m.metrics! });
          feed(w);
        });
      };
      for (let i = 0; i < n; i++) {
        const w = new Worker(file);
        w.on('error', (e) => {
          failed = true;
          reject(e);
        });
        this.workers.push(w);
        running++;
        feed(w);
      }
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}
