/**
 * Runs a named experiment (studies.ts) and writes its report directory:
 *
 *   report.md      what was run (command, seed, configuration), our numbers beside the published
 *                  ones, and whether they agree with the published direction
 *   *.svg, *.png   the plots (plot.ts)
 *   results.csv    the raw rows, the full configuration beside every one (also results.json, and
 *                  results.jsonl, the resume log: a crashed run starts again where it stopped)
 *
 * Nothing in a report depends on the wall clock or the host, so regenerating it gives the same
 * files (PNG rasterization aside, which depends on the font file found).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barSpec, renderSvg, svgToPng, type Row } from './plot.js';
import { normalizePoint } from './point.js';
import { ResultStore, pointId, runSweep, type Executor, type Point } from './sweep.js';
import type { Study, StudyReport } from './studies.js';

export interface ExperimentResult {
  dir: string;
  checks: StudyReport['checks'];
  ran: number;
  reused: number;
}

export async function runExperiment(study: Study, opts: { dir: string; quick: boolean; executor: Executor; log?: (s: string) => void }): Promise<ExperimentResult> {
  const points: Point[] = study.points(opts.quick).map((c, index) => {
    const config = normalizePoint(c, `${study.name}: `);
    return { index, id: pointId(config), config };
  });
  const run = await runSweep(study.name, points, { outDir: opts.dir, executor: opts.executor, log: opts.log });
  const rows = new ResultStore(opts.dir).rows(points) as Row[];
  const rep = study.report(rows, opts.quick);
  for (const c of rep.charts) {
    const svg = await renderSvg(barSpec(c.chart));
    writeFileSync(join(opts.dir, `${c.file}.svg`), svg);
    writeFileSync(join(opts.dir, `${c.file}.png`), await svgToPng(svg));
  }
  const cmd = `cyclevisor experiment ${study.name}${opts.quick ? ' --quick' : ''}`;
  const md =
    `# ${study.title}\n\n` +
    `Experiment \`${study.name}\`${opts.quick ? ' (quick: fewer loads, for tests — not the figures of record)' : ''}. ` +
    `Regenerate with \`${cmd} -o DIR\` (or \`npm run experiments\` for all); ${points.length} points, fixed seed, ` +
    'deterministic: the same command gives the same numbers on any host.\n\n' +
    `${study.about}\n\n` +
    rep.markdown +
    '\n## Agreement with the published direction\n\n' +
    rep.checks.map((c) => `- ${c.ok === null ? 'pending' : c.ok ? 'yes' : '**NO**'}: ${c.what}`).join('\n') +
    '\n\nRaw data: [results.csv](results.csv) (one row per point, its full configuration beside its measurements; ' +
    'also results.json).\n';
  writeFileSync(join(opts.dir, 'report.md'), md);
  return { dir: opts.dir, checks: rep.checks, ran: run.ran, reused: run.reused };
}
