/**
 * A local pool worker thread (pool.ts): runs the points its parent posts, one at a time, and posts
 * back each point's metrics (or the error message).
 */
import { parentPort } from 'node:worker_threads';
import { runPoint, type PointConfig } from './point.js';

parentPort!.on('message', (msg: { id: string; config: PointConfig }) => {
  try {
    parentPort!.postMessage({ id: msg.id, metrics: runPoint(msg.config) });
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) });
  }
});
