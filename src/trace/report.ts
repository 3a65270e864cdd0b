/**
 * `--report out.html`: one self-contained page of a run's statistics (issue 16). The plots are
 * Vega-Lite specs rendered to SVG here, in Node (src/experiments/plot.ts's renderer), and inlined,
 * so the page needs no network and no JavaScript. The tables are the --stats text.
 *
 * Board runs (`run`, `boot`): instruction mix, instructions and traps over virtual time, the
 * modeled TLB and its walks (timing mode). Host runs (`host`): exits by reason per VM, per-VM
 * shares of the host over time, per-VM instructions over time.
 */
import type * as vl from 'vega-lite';
import { barSpec, renderSvg, type Row } from '../experiments/plot.js';
import type { RunStats } from '../stats.js';
import type { Sample } from './sampler.js';

export interface Chart {
  id: string;
  title: string;
  spec: vl.TopLevelSpec;
}

export interface ReportInput {
  title: string;
  /** Key figures shown at the top: [label, value]. */
  summary: Array<[string, string]>;
  charts: Chart[];
  /** Preformatted tables (the --stats text). */
  tables: Array<{ title: string; text: string }>;
}

/** A line chart of `rows` ({x, y, series}). */
export function lineSpec(c: { title: string; rows: Row[]; xTitle: string; yTitle: string; area?: boolean }): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: c.title,
    width: 520,
    height: 240,
    background: 'white',
    data: { values: c.rows },
    mark: c.area ? { type: 'area' } : { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: c.xTitle },
      y: { field: 'y', type: 'quantitative', title: c.yTitle, ...(c.area ? { stack: 'normalize' } : {}) },
      color: { field: 'series', type: 'nominal', legend: { labelLimit: 400, title: null } },
    },
    config: { font: 'DejaVu Sans' },
  } as vl.TopLevelSpec;
}

/**
 * Rate series over the sample intervals: for each key, (Δvalue / Δt) * scale at the interval's
 * start (x in virtual seconds).
 */
export function rateRows(samples: Sample[], cpuHz: number, keys: Array<[string, string]>, scale: number): Row[] {
  const rows: Row[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const dt = (b.t - a.t) / cpuHz;
    if (dt <= 0) continue;
    for (const [key, label] of keys) {
      if (!(key in b.v)) continue;
      rows.push({ x: round(a.t / cpuHz), y: round((((b.v[key] ?? 0) - (a.v[key] ?? 0)) / dt) * scale), series: label });
    }
  }
  return rows;
}

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

/** The charts of a board run. */
export function boardCharts(stats: RunStats, samples: Sample[]): Chart[] {
  const charts: Chart[] = [];
  const mix: Row[] = Object.entries(stats.classCounts)
    .filter(([k, v]) => v > 0 && k !== 'trap' && k !== 'branchTaken')
    .map(([k, v]) => ({ class: k, instructions: v, share: Math.round((v / Math.max(1, stats.instret)) * 1000) / 10 }));
  charts.push({
    id: 'mix',
    title: 'Instruction mix',
    spec: barSpec({ title: 'Instruction mix (% of retired instructions)', rows: mix, x: 'class', y: 'share', yTitle: '% of instructions', xTitle: 'class' }),
  });
  const hz = stats.cpuHz;
  charts.push({
    id: 'mips',
    title: 'Instructions over virtual time',
    spec: lineSpec({
      title: 'Retired instructions per virtual µs (MIPS at the modeled clock)',
      rows: rateRows(samples, hz, [['instret', 'all harts'], ...(stats.harts && stats.harts.length > 1 ? stats.harts.map((h) => [`hart${h.hart}.instret`, `hart ${h.hart}`] as [string, string]) : [])], 1e-6),
      xTitle: 'virtual time (s)',
      yTitle: 'MIPS',
    }),
  });
  charts.push({
    id: 'traps',
    title: 'Traps over virtual time',
    spec: lineSpec({
      title: 'Traps per virtual millisecond',
      rows: rateRows(samples, hz, [['exceptions', 'exceptions'], ['interrupts', 'interrupts']], 1e-3),
      xTitle: 'virtual time (s)',
      yTitle: 'traps / ms',
    }),
  });
  if (stats.tlb) {
    const t = stats.tlb;
    // Misses per access, in %: hits dwarf misses, so the counts side by side would hide the misses.
    const tlbRows: Row[] = [];
    const counts: string[] = [];
    for (const [name, c] of [['L1 I', t.itlb], ['L1 D', t.dtlb], ['L2', t.l2]] as const) {
      if (!c || c.accesses === 0) continue;
      tlbRows.push({ tlb: name, 'miss %': Math.round((c.misses / c.accesses) * 1e4) / 100 });
      counts.push(`${name} ${c.misses.toLocaleString('en-US')} of ${c.accesses.toLocaleString('en-US')}`);
    }
    charts.push({
      id: 'tlb',
      title: 'Modeled TLB',
      spec: barSpec({ title: ['Modeled TLB miss rate', counts.join(', ')] as unknown as string, rows: tlbRows, x: 'tlb', y: 'miss %', yTitle: 'miss % of accesses' }),
    });
    const walkRows: Row[] = t.refsHistogram.map((n, i) => ({ refs: i === 7 ? '7+' : String(i), walks: n }));
    charts.push({ id: 'walks', title: 'Page walks', spec: barSpec({ title: `Page walks by memory references (${t.walks} walks, ${t.walkRefs} references)`, rows: walkRows, x: 'refs', y: 'walks', xTitle: 'memory references per walk' }) });
    charts.push({
      id: 'tlbtime',
      title: 'TLB misses over virtual time',
      spec: lineSpec({ title: 'Modeled L1 TLB misses and page walks per virtual ms', rows: rateRows(samples, hz, [['tlb.misses', 'L1 misses'], ['tlb.walks', 'walks']], 1e-3), xTitle: 'virtual time (s)', yTitle: 'per ms' }),
    });
  }
  return charts;
}

/** Render the page. */
export async function renderReport(r: ReportInput): Promise<string> {
  const parts: string[] = [];
  for (const c of r.charts) {
    const svg = await renderSvg(c.spec);
    parts.push(`<section class="chart" id="${esc(c.id)}"><h2>${esc(c.title)}</h2>\n${svg.replace(/^<\?xml[^>]*>\s*/, '')}\n</section>`);
  }
  const summary = r.summary.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n');
  const tables = r.tables.map((t) => `<section><h2>${esc(t.title)}</h2><pre>${esc(t.text)}</pre></section>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(r.title)}</title>
<style>
body { font-family: 'DejaVu Sans', sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin: 0.4em 0; }
table.summary th { text-align: left; padding-right: 1.5em; font-weight: normal; color: #555; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.chart { border: 1px solid #ddd; padding: 0.5em; flex: 0 0 auto; }
.chart svg { display: block; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
</style>
</head>
<body>
<h1>${esc(r.title)}</h1>
<table class="summary">
${summary}
</table>
<div class="charts">
${parts.join('\n')}
</div>
${tables}
<p><small>cyclevisor --report: plots rendered to SVG at the end of the run (no scripts, no network).</small></p>
</body>
</html>
`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Per-VM figures a host report needs (from the VMM's domstats). */
export interface HostVmFigures {
  name: string;
  instructions: number;
  hostCycles: number;
  exits: Record<string, { count: number }>;
}

/** The charts of a host (VMM) run. */
export function hostCharts(vms: HostVmFigures[], samples: Sample[], cpuHz: number): Chart[] {
  const charts: Chart[] = [];
  const exitRows: Row[] = [];
  for (const vm of vms) for (const [reason, e] of Object.entries(vm.exits)) exitRows.push({ vm: vm.name, reason, exits: e.count });
  charts.push({ id: 'exits', title: 'VM exits by reason', spec: barSpec({ title: 'VM exits by reason', rows: exitRows, x: 'reason', y: 'exits', color: 'vm', labels: false }) });
  // Shares of the host over time: each VM's host cycles per interval, normalized to 100 %.
  const shareRows: Row[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    for (const vm of vms) {
      const k = `vm.${vm.name}.hostCycles`;
      shareRows.push({ x: round(a.t / cpuHz), y: (b.v[k] ?? 0) - (a.v[k] ?? 0), series: vm.name });
    }
  }
  charts.push({ id: 'shares', title: 'Per-VM shares of the host over time', spec: lineSpec({ title: 'Share of host cycles per VM (each sample interval = 100 %)', rows: shareRows, xTitle: 'host virtual time (s)', yTitle: 'share', area: true }) });
  charts.push({
    id: 'vmmips',
    title: 'Per-VM instructions over time',
    spec: lineSpec({ title: 'Retired instructions per host µs, per VM', rows: rateRows(samples, cpuHz, vms.map((v) => [`vm.${v.name}.instructions`, v.name] as [string, string]), 1e-6), xTitle: 'host virtual time (s)', yTitle: 'MIPS' }),
  });
  charts.push({
    id: 'exitrate',
    title: 'VM exits over time',
    spec: lineSpec({ title: 'VM exits per host ms', rows: rateRows(samples, cpuHz, vms.map((v) => [`vm.${v.name}.exits`, v.name] as [string, string]), 1e-3), xTitle: 'host virtual time (s)', yTitle: 'exits / ms' }),
  });
  const insnRows: Row[] = vms.map((v) => ({ vm: v.name, instructions: v.instructions }));
  charts.push({ id: 'vminsns', title: 'Instructions per VM', spec: barSpec({ title: 'Retired instructions per VM', rows: insnRows, x: 'vm', y: 'instructions' }) });
  return charts;
}
