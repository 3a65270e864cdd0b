/**
 * `cyclevisor experiment`, `sweep` and `sweep-worker` (issue 11 items 3-4). Parsed here, not in
 * args.ts: these commands share no option with run/boot/host.
 *
 *   cyclevisor experiment NAME|all [-o DIR] [--quick] [--jobs N] [--queue URL]
 *   cyclevisor sweep FILE [-o DIR] [--jobs N] [--queue URL]
 *   cyclevisor sweep-worker --queue URL [--jobs N]
 */
import { UserError } from '../errors.js';
import { join } from 'node:path';
import type { OutputStream } from './main.js';
import { LocalPool, defaultJobs } from '../experiments/pool.js';
import { RedisExecutor, redisConnection, startQueueWorker } from '../experiments/queue.js';
import { runExperiment } from '../experiments/report.js';
import { STUDIES, studyNamed } from '../experiments/studies.js';
import { expandSweep, loadSweepFile, runSweep, type Executor } from '../experiments/sweep.js';

import { EXPERIMENT_COMMANDS } from './experiment-commands.js';
export { EXPERIMENT_COMMANDS };

export const EXPERIMENT_USAGE = `Usage: cyclevisor experiment NAME|all [options]   run a named study, write its report
       cyclevisor sweep FILE [options]              run a sweep file's points
       cyclevisor sweep-worker --queue URL [--jobs N]  take sweep points from Redis

Experiments: ${STUDIES.map((s) => s.name).join(', ')} (docs/EXPERIMENTS.md)

Options:
  -o, --out DIR   report/results directory (default experiments/NAME,
                  sweeps/NAME; with "all": DIR/NAME for each)
  --quick         fewer loads per point (tests; not the figures of record)
  --jobs N        worker threads (default: one per core; 0 with --queue:
                  only enqueue and collect, other workers run the points)
  --queue URL     run the points through a BullMQ queue on Redis
                  (redis://host:port); start workers with sweep-worker

Finished points are kept in DIR/results.jsonl: the same command after a
crash runs only the rest. Exit: 0 done; 1 a study disagrees with the
published direction; 2 bad usage or input.
`;

interface Io {
  stdout: OutputStream;
  stderr: OutputStream;
}

interface Parsed {
  command: (typeof EXPERIMENT_COMMANDS)[number];
  positional: string[];
  out?: string;
  quick: boolean;
  jobs?: number;
  queue?: string;
  help: boolean;
}

function parse(argv: string[]): Parsed {
  const p: Parsed = { command: argv[0] as Parsed['command'], positional: [], quick: false, help: false };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || v.startsWith('-')) throw new UserError(`option ${name} needs a value`);
      return v;
    };
    switch (name) {
      case '-h':
      case '--help':
        p.help = true;
        break;
      case '-o':
      case '--out':
        p.out = value();
        break;
      case '--quick':
        p.quick = true;
        break;
      case '--jobs': {
        const v = value();
        if (!/^\d+$/.test(v) || Number(v) > 256) throw new UserError(`--jobs ${v}: expected a whole number from 0 to 256`);
        p.jobs = Number(v);
        break;
      }
      case '--queue':
        p.queue = value();
        redisConnection(p.queue);
        break;
      default:
        if (a.startsWith('-') && a !== '-') throw new UserError(`unknown option ${name} for ${p.command} (see cyclevisor ${p.command} --help)`);
        p.positional.push(a);
    }
  }
  return p;
}

function executorFor(p: Parsed): Executor {
  if (p.queue !== undefined) return new RedisExecutor(p.queue, p.jobs ?? defaultJobs());
  if (p.jobs === 0) throw new UserError('--jobs 0 needs --queue (someone else must run the points)');
  return new LocalPool(p.jobs ?? defaultJobs());
}

/** Runs one of EXPERIMENT_COMMANDS; resolves to the exit status. UserErrors propagate to main. */
export async function experimentsCli(argv: string[], io: Io): Promise<number> {
  const p = parse(argv);
  if (p.help) {
    io.stdout.write(EXPERIMENT_USAGE);
    return 0;
  }
  const log = (s: string): void => void io.stderr.write(s + '\n');
  if (p.command === 'sweep-worker') {
    if (p.queue === undefined) throw new UserError('sweep-worker needs --queue URL (e.g. --queue redis://127.0.0.1:6379)');
    if (p.positional.length > 0) throw new UserError(`sweep-worker takes no arguments, got ${p.positional[0]}`);
    const w = startQueueWorker(p.queue, p.jobs ?? defaultJobs());
    // Connection errors (Redis down, restarting) are retried by the client; one line each, not a trace.
    let lastError = '';
    w.on('error', (e) => {
      if (e.message !== lastError) log(`sweep-worker: ${e.message}`);
      lastError = e.message;
    });
    w.on('completed', (job) => log(`done ${job.id}`));
    w.on('failed', (job, err) => log(`failed ${job?.id}: ${err.message}`));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        w.waitUntilReady(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new UserError(`--queue ${p.queue}: cannot reach Redis`)), 10_000))),
      ]);
    } catch (e) {
      void w.close(true);
      throw e;
    } finally {
      clearTimeout(timer);
    }
    log(`sweep-worker: ${p.jobs ?? defaultJobs()} job(s) on ${p.queue}`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        resolve();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    await w.close();
    return 0;
  }
  if (p.command === 'sweep') {
    if (p.positional.length !== 1) throw new UserError('sweep needs one sweep file (e.g. cyclevisor sweep examples/sweep-small.yaml)');
    const file = p.positional[0]!;
    const spec = loadSweepFile(file);
    const points = expandSweep(spec, file);
    const dir = p.out ?? join('sweeps', spec.name);
    const r = await runSweep(spec.name, points, { outDir: dir, executor: executorFor(p), log });
    io.stdout.write(`sweep ${spec.name}: ${points.length} points (${r.ran} run, ${r.reused} already done): ${r.csv}\n`);
    return 0;
  }
  // experiment
  if (p.positional.length !== 1) throw new UserError(`experiment needs a name: ${STUDIES.map((s) => s.name).join(', ')} or all`);
  const name = p.positional[0]!;
  const studies = name === 'all' ? [...STUDIES] : [studyNamed(name)];
  if (studies[0] === undefined) throw new UserError(`no experiment named "${name}" (experiments: ${STUDIES.map((s) => s.name).join(', ')}, all)`);
  let ok = true;
  for (const s of studies) {
    const dir = name === 'all' ? join(p.out ?? 'experiments', s!.name) : (p.out ?? join('experiments', s!.name));
    const r = await runExperiment(s!, { dir, quick: p.quick, executor: executorFor(p), log });
    const bad = r.checks.filter((c) => c.ok === false);
    const pending = r.checks.filter((c) => c.ok === null);
    const agree = r.checks.length - bad.length - pending.length;
    io.stdout.write(`experiment ${s!.name}: ${join(dir, 'report.md')} (${agree}/${r.checks.length} checks agree${pending.length ? `, ${pending.length} pending` : ''})\n`);
    for (const c of bad) io.stdout.write(`  disagrees: ${c.what}\n`);
    for (const c of pending) io.stdout.write(`  pending: ${c.what}\n`);
    if (bad.length) ok = false;
  }
  return ok ? 0 : 1;
}
