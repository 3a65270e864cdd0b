/**
 * The BullMQ sandboxed processor (queue.ts): a worker thread that runs one queued point. The job's
 * data is the point's normalized configuration; its return value, the metrics.
 */
import { runPoint, normalizePoint, type Metrics, type PointConfig } from './point.js';
import { pointId } from './sweep.js';

export default async function process(job: { data: { id: string; config: PointConfig } }): Promise<Metrics> {
  const config = normalizePoint(job.data.config);
  if (pointId(config) !== job.data.id) throw new Error(`point ${job.data.id}: its configuration does not match its id`);
  return runPoint(config);
}
