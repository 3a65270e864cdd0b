/**
 * Sweeps (issue 11 item 4): a YAML file names axes; the cartesian product of their values is the
 * set of points; each point runs once (src/experiments/point.ts) on a local worker pool (one
 * worker thread per core, pool.ts) or through a BullMQ queue on Redis (queue.ts, `--queue
 * redis://...`, so many machines can work one sweep). Results: one row per point with its full
 * configuration beside its measurements, in `results.csv` and `results.json` (rows in point
 * order, whatever order they finished in), and `results.jsonl`, appended as each point finishes:
 * after a crash, the same command finds the finished points there and does not run them again.
 *
 *   name: walk-caches-small        # optional (default: the file's name)
 *   fixed: { loads: 2000, ws: 256 }
 *   axes:
 *     paging: [native, nested]
 *     pwc: [0, 8]
 *     ntlb: [0, 16]
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError, fileReadError } from '../errors.js';
import { AXES, normalizePoint, type Metrics, type PointConfig, type Scalar } from './point.js';

export interface SweepSpec {
  name: string;
  fixed: PointConfig;
  axes: Array<[string, Scalar[]]>;
}

export interface Point {
  index: number;
  /** Stable hash of the normalized configuration: the point's identity for resume and the queue. */
  id: string;
  config: PointConfig;
}

export interface PointResult {
  id: string;
  config: PointConfig;
  metrics: Metrics;
}

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const specSchema = z.strictObject({
  name: z.string().min(1).optional(),
  fixed: z.record(z.string(), scalar).optional(),
  axes: z.record(z.string(), z.array(scalar).min(1)),
});

/** Parses a sweep document; every problem is a one-line UserError naming `source`. */
export function parseSweep(text: string, source: string): SweepSpec {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new UserError(`${source}: invalid YAML (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`);
  }
  const r = specSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.length ? issue.path.join('.') : '(top level)';
    throw new UserError(`${source}: ${path}: ${issue.message}`);
  }
  const axes = Object.entries(r.data.axes);
  for (const [k] of [...axes, ...Object.entries(r.data.fixed ?? {})]) {
    if (!(k in AXES)) throw new UserError(`${source}: unknown axis "${k}" (axes: ${Object.keys(AXES).join(', ')})`);
  }
  for (const [k] of axes) {
    if (r.data.fixed && k in r.data.fixed) throw new UserError(`${source}: "${k}" is both fixed and an axis`);
  }
  const name = r.data.name ?? basename(source, extname(source));
  return { name, fixed: r.data.fixed ?? {}, axes };
}

export function loadSweepFile(path: string): SweepSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw fileReadError(path, e, 'a sweep file');
  }
  return parseSweep(text, path);
}

/** Canonical JSON (keys sorted) of a configuration. */
function canonical(c: PointConfig): string {
  return JSON.stringify(Object.keys(c).sort().map((k) => [k, c[k]]));
}

export function pointId(c: PointConfig): string {
  return createHash('sha256').update(canonical(c)).digest('hex').slice(0, 16);
}

/** The cartesian product, first axis slowest; each point normalized (defaults filled in, checked). */
export function expandSweep(spec: SweepSpec, source = spec.name): Point[] {
  let combos: PointConfig[] = [{ ...spec.fixed }];
  for (const [axis, values] of spec.axes) {
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [axis]: v })));
  }
  const points: Point[] = [];
  const seen = new Set<string>();
  combos.forEach((c, i) => {
    const config = normalizePoint(c, `${source}: point ${i + 1} (${Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ')}): `);
    const id = pointId(config);
    if (seen.has(id)) return; // the same configuration twice (an axis listing a default twice)
    seen.add(id);
    points.push({ index: points.length, id, config });
  });
  return points;
}

/** A sweep's results directory: results.jsonl (append-only, the resume log), .csv and .json. */
export class ResultStore {
  readonly jsonl: string;
  private readonly done = new Map<string, PointResult>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.jsonl = join(dir, 'results.jsonl');
    if (existsSync(this.jsonl)) {
      // A crash can leave a half-written last line: skip what does not parse, and rewrite the log
      // without it, or the next record would be appended to the torn line and be lost too.
      const text = readFileSync(this.jsonl, 'utf8');
      let torn = text.length > 0 && !text.endsWith('\n');
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        try {
          const r = JSON.parse(line) as PointResult;
          if (typeof r.id === 'string' && r.metrics && r.config && pointId(r.config) === r.id) this.done.set(r.id, r);
          else torn = true;
        } catch {
          torn = true;
        }
      }
      if (torn) {
        const tmp = this.jsonl + '.tmp';
        writeFileSync(tmp, [...this.done.values()].map((r) => JSON.stringify(r) + '\n').join(''));
        renameSync(tmp, this.jsonl);
      }
    }
  }

  has(id: string): boolean {
    return this.done.has(id);
  }

  get(id: string): PointResult | undefined {
    return this.done.get(id);
  }

  /** Records one finished point (appended at once, so a crash right after loses nothing). */
  add(r: PointResult): void {
    if (this.done.has(r.id)) return;
    this.done.set(r.id, r);
    appendFileSync(this.jsonl, JSON.stringify(r) + '\n');
  }

  /** Rows in point order: config columns (every axis), then metrics. Throws if a point is missing. */
  rows(points: Point[]): Array<Record<string, Scalar>> {
    return points.map((p) => {
      const r = this.done.get(p.id);
      if (!r) throw new Error(`point ${p.index} (${p.id}) has no result`);
      return { point: p.index, id: p.id, ...p.config, ...r.metrics };
    });
  }

  /** Writes results.csv and results.json (atomically: temp file + rename). */
  writeTables(name: string, points: Point[]): { csv: string; json: string } {
    const rows = this.rows(points);
    const csvText = toCsv(rows);
    const jsonText = JSON.stringify({ sweep: name, points: rows.length, rows }, null, 1) + '\n';
    const csv = join(this.dir, 'results.csv');
    const json = join(this.dir, 'results.json');
    writeFileSync(csv + '.tmp', csvText);
    renameSync(csv + '.tmp', csv);
    writeFileSync(json + '.tmp', jsonText);
    renameSync(json + '.tmp', json);
    return { csv, json };
  }
}

export function toCsv(rows: Array<Record<string, Scalar>>): string {
  if (rows.length === 0) return '';
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const cell = (v: Scalar | undefined): string => {
    const s = v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}

/** Something that runs points and reports each result as it finishes. */
export interface Executor {
  run(points: Point[], onResult: (r: PointResult) => void): Promise<void>;
  close(): Promise<void>;
}

export interface SweepRunOptions {
  outDir: string;
  executor: Executor;
  log?: (line: string) => void;
}

/** Runs the points not yet in the store; returns the written tables. */
export async function runSweep(name: string, points: Point[], opts: SweepRunOptions): Promise<{ csv: string; json: string; ran: number; reused: number }> {
  const store = new ResultStore(opts.outDir);
  const todo = points.filter((p) => !store.has(p.id));
  const reused = points.length - todo.length;
  const log = opts.log ?? (() => {});
  log(`sweep ${name}: ${points.length} points, ${reused} already done, ${todo.length} to run`);
  let n = 0;
  try {
    if (todo.length > 0) {
      await opts.executor.run(todo, (r) => {
        store.add(r);
        n++;
        log(`  [${reused + n}/${points.length}] ${describe(r.config)}`);
      });
    }
  } finally {
    await opts.executor.close();
  }
  const files = store.writeTables(name, points);
  return { ...files, ran: todo.length, reused };
}

function describe(c: PointConfig): string {
  return Object.entries(c)
    .filter(([k, v]) => AXES[k]!.default !== v)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}
