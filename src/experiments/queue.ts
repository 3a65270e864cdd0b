/**
 * The Redis executor (`--queue redis://host:port`): points become BullMQ jobs on the queue
 * `cyclevisor-sweep`, with the point's id as the job id, so adding a point that is already queued,
 * running or done does not run it twice (a coordinator that crashed and starts again only waits
 * for the results; a failed job is retried). Any number of `cyclevisor sweep-worker --queue URL`
 * processes, on any machines, take jobs; the sweep command can also work (`--jobs N` threads).
 * Job data is the normalized configuration; the return value is the metrics, which the
 * coordinator records as they finish.
 */
import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import { UserError } from '../errors.js';
import type { Executor, Point, PointResult } from './sweep.js';
import { compiledFile } from './compiled.js';

export const QUEUE_NAME = 'cyclevisor-sweep';

export function redisConnection(url: string): { url: string; maxRetriesPerRequest: null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`--queue ${url}: expected a URL like redis://127.0.0.1:6379`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UserError(`--queue ${url}: expected a redis:// or rediss:// URL`);
  return { url, maxRetriesPerRequest: null };
}

/** A BullMQ worker running points in `jobs` worker threads (the sandboxed processor, processor.ts). */
export function startQueueWorker(url: string, jobs: number): Worker {
  return new Worker(QUEUE_NAME, compiledFile('processor.js'), {
    connection: redisConnection(url),
    concurrency: jobs,
    useWorkerThreads: true,
    // A point is CPU-bound for seconds to minutes; the lock is renewed by the main thread, which
    // stays free (the point runs in a worker thread).
    lockDuration: 60_000,
  });
}

export class RedisExecutor implements Executor {
  private queue: Queue;
  private events: QueueEvents;
  private workers: Worker[] = [];

  constructor(private readonly url: string, private readonly localJobs: number) {
    const connection = redisConnection(url);
    this.queue = new Queue(QUEUE_NAME, { connection });
    this.events = new QueueEvents(QUEUE_NAME, { connection });
    // Connection errors are retried by the client (and reported once by run()'s timeout), not printed.
    this.queue.on('error', () => {});
    this.events.on('error', () => {});
  }

  async run(points: Point[], onResult: (r: PointResult) => void): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new UserError(`--queue ${this.url}: cannot reach Redis`)), 10_000))),
      ]);
    } finally {
      clearTimeout(timer);
    }
    if (this.localJobs > 0) {
      const w = startQueueWorker(this.url, this.localJobs);
      w.on('error', () => {});
      this.workers.push(w);
    }
    await Promise.all(
      points.map(async (p) => {
        const jobId = `p-${p.id}`;
        const old = await Job.fromId(this.queue, jobId);
        let job: Job;
        if (old && (await old.getState()) === 'failed') {
          await old.retry();
          job = old;
        } else {
          job = await this.queue.add('point', { id: p.id, config: p.config }, { jobId, removeOnComplete: { age: 7 * 24 * 3600 }, attempts: 1 });
        }
        let metrics: PointResult['metrics'];
        try {
          metrics = await job.waitUntilFinished(this.events);
        } catch (e) {
          throw new Error(`point ${p.index} (${p.id}): ${e instanceof Error ? e.message : String(e)}`);
        }
        onResult({ id: p.id, config: p.config, metrics });
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    // Closing waits for a connection that may never come (Redis unreachable): bounded.
    await Promise.race([Promise.all([this.events.close(), this.queue.close()]), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
