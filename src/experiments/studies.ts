/**
 * The named experiments (issue 11 item 3): each a fixed list of points (fixed seed), run like a
 * sweep (resumable, local pool or Redis queue), and a report placing our numbers beside the
 * published ones. `cyclevisor experiment NAME` (src/cli/experiments.ts) runs them.
 */
import type { Row } from './plot.js';
import type { BarChart } from './plot.js';
import type { PointConfig } from './point.js';

export interface StudyReport {
  /** Markdown sections after the standard header (tables, verdicts). */
  markdown: string;
  charts: Array<{ file: string; chart: BarChart }>;
  /** Does the result agree with the published direction? (one line each; null: cannot tell yet) */
  checks: Array<{ what: string; ok: boolean | null }>;
}

export interface Study {
  name: string;
  title: string;
  /** What it measures and how, for the report's header. */
  about: string;
  points(quick: boolean): PointConfig[];
  report(rows: Row[], quick: boolean): StudyReport;
}

const SEED = 1;

const num = (r: Row, k: string): number => r[k] as number;
const find = (rows: Row[], where: Record<string, string | number>): Row => {
  const r = rows.find((x) => Object.entries(where).every(([k, v]) => x[k] === v));
  if (!r) throw new Error(`no row with ${JSON.stringify(where)}`);
  return r;
};
const table = (head: string[], body: Array<Array<string | number>>): string =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n';
const pct = (a: number, b: number): string => `${(((b - a) / b) * 100).toFixed(1)} %`;

/** Worst-case walk references: every cache off, an L1 that holds the whole working set. */
const walkRefs: Study = {
  name: 'walk-refs',
  title: 'Worst-case page-walk references: native, Sv39 on Sv39x4, Sv48 on Sv48x4',
  about:
    'Guest: `test/guests/bin/tlbwalk.elf` (random loads over 256 pages; natively in S-mode under satp, or in VS-mode ' +
    'under vsatp and an hgatp G-stage). The modeled TLB has no L2, no page-walk cache and no nested TLB, and an L1 of ' +
    '1,024 entries, so each page is walked once and every walk is a full one. Counts are the core\'s modeled walk ' +
    'counters (`tlb.nested`), exact: the min and max columns are the fewest and most references any single walk made.',
  points: (quick) => {
    const base = { workload: 'tlbwalk', ws: 256, loads: quick ? 2000 : 20000, seed: SEED, l1: 1024, l2: 0, pwc: 0, ntlb: 0 };
    const pts: PointConfig[] = [];
    for (const sv of [39, 48]) {
      pts.push({ ...base, sv, paging: 'native' });
      pts.push({ ...base, sv, paging: 'nested', gpage: '4K' });
      pts.push({ ...base, sv, paging: 'nested', gpage: '2M' });
    }
    return pts;
  },
  report: (rows) => {
    // Published / architectural: n-level guest on m-level G-stage: (n + 1)(m + 1) - 1
    // (Bhargava et al., ASPLOS 2008: 24 for 4-level x86-64 on 4-level nested tables).
    const expect = (sv: number, paging: string, gpage: string): { n: number; src: string } => {
      const n = sv === 39 ? 3 : 4;
      if (paging === 'native') return { n, src: sv === 39 ? '3 (Sv39: 3 levels; issue 11)' : '4 (Sv48: 4 levels)' };
      const m = gpage === '2M' ? n - 1 : n;
      const v = (n + 1) * (m + 1) - 1;
      if (gpage === '4K') return { n: v, src: `${v} (${sv === 39 ? 'issue 11' : 'issue 11; Bhargava et al. 2008: 24 for 4-on-4 levels'})` };
      return { n: v, src: `${v} (formula (n+1)(m+1)-1, G-stage walk ends at the 2 MiB leaf)` };
    };
    const body: Array<Array<string | number>> = [];
    const checks: StudyReport['checks'] = [];
    const chartRows: Row[] = [];
    for (const r of rows) {
      const sv = num(r, 'sv');
      const paging = r['paging'] as string;
      const gpage = r['gpage'] as string;
      const e = expect(sv, paging, gpage);
      const ours = paging === 'nested' ? num(r, 'refsPerNestedWalk') : num(r, 'refsPerWalk');
      const label = paging === 'native' ? `Sv${sv} native` : `Sv${sv} on Sv${sv}x4, G ${gpage}`;
      body.push([label, num(r, 'walks'), ours, `${num(r, 'refsMin')}–${num(r, 'refsMax')}`, paging === 'nested' ? `${num(r, 'vsRefs')} / ${num(r, 'gRefs')}` : '—', e.src]);
      checks.push({ what: `${label}: every walk makes exactly ${e.n} references`, ok: num(r, 'refsMin') === e.n && num(r, 'refsMax') === e.n && ours === e.n });
      chartRows.push({ config: paging === 'native' ? 'native' : `nested, G ${gpage}`, mode: `Sv${sv}`, refs: ours });
    }
    const markdown =
      '## References per walk\n\n' +
      table(['configuration', 'walks', 'refs/walk (ours)', 'min–max', 'VS / G refs (total)', 'published / expected'], body) +
      '\n![references per walk](walk-refs.svg)\n';
    return {
      markdown,
      checks,
      charts: [{ file: 'walk-refs', chart: { title: 'Page-walk memory references per TLB miss (no walk caches)', rows: chartRows, x: 'config', y: 'refs', color: 'mode', yTitle: 'references per walk', xTitle: '' } }],
    };
  },
};

const CACHE_CONFIGS = [
  { label: 'no walk caches', pwc: 0, ntlb: 0 },
  { label: 'PWC 8', pwc: 8, ntlb: 0 },
  { label: 'nested TLB 16', pwc: 0, ntlb: 16 },
  { label: 'PWC 8 + nested TLB 16', pwc: 8, ntlb: 16 },
] as const;

/** Walk caches and G-stage page size under nested paging, on a TLB-miss-heavy working set. */
const walkCaches: Study = {
  name: 'walk-caches',
  title: 'Nested paging with and without the page-walk cache and the nested TLB; 2 MiB vs 4 KiB G-stage pages',
  about:
    'Guest: `test/guests/bin/tlbwalk.elf`, random loads over 4,096 pages (16 MiB; the default U74-like TLB reaches ' +
    '40 + 512 pages = 2.2 MiB), in VS-mode under Sv39 on Sv39x4 and Sv48 on Sv48x4, G-stage leaves 4 KiB or 2 MiB, and ' +
    'natively for reference. TLB: the defaults of docs/TIMING.md (L1 40 entries split I/D fully associative LRU, L2 512 ' +
    'direct-mapped 2 cycles, 3 cycles per walk reference); page-walk cache (PWC, non-leaf PTEs, LRU) 0 or 8 entries, ' +
    'nested TLB (G-stage translations of guest page-table pages) 0 or 16 entries. "cycles/load" is the guest loop\'s ' +
    'cycles (cycle CSR around it) per load, so it includes the loop\'s own instructions.',
  points: (quick) => {
    const base = { workload: 'tlbwalk', ws: 4096, loads: quick ? 5000 : 200000, seed: SEED };
    const pts: PointConfig[] = [];
    for (const sv of [39, 48]) {
      for (const c of CACHE_CONFIGS) {
        for (const gpage of ['4K', '2M']) pts.push({ ...base, sv, paging: 'nested', gpage, pwc: c.pwc, ntlb: c.ntlb });
      }
      pts.push({ ...base, sv, paging: 'native', pwc: 0, ntlb: 0 });
      pts.push({ ...base, sv, paging: 'native', pwc: 8, ntlb: 0 });
    }
    return pts;
  },
  report: (rows) => {
    let markdown = '';
    const checks: StudyReport['checks'] = [];
    const refsRows: Row[] = [];
    const cycRows: Row[] = [];
    for (const sv of [39, 48]) {
      const body: Array<Array<string | number>> = [];
      const none4 = find(rows, { sv, paging: 'nested', gpage: '4K', pwc: 0, ntlb: 0 });
      for (const c of CACHE_CONFIGS) {
        for (const gpage of ['4K', '2M']) {
          const r = find(rows, { sv, paging: 'nested', gpage, pwc: c.pwc, ntlb: c.ntlb });
          body.push([c.label, gpage, num(r, 'nestedWalks'), num(r, 'refsPerNestedWalk'), num(r, 'pwcHits'), num(r, 'ntlbHits'), num(r, 'cyclesPerLoad').toFixed(2), pct(num(r, 'cyclesPerLoad'), num(none4, 'cyclesPerLoad'))]);
          refsRows.push({ caches: c.label, G: `Sv${sv}x4 ${gpage}`, refs: Number(num(r, 'refsPerNestedWalk').toFixed(2)) });
          cycRows.push({ caches: c.label, G: `Sv${sv}x4 ${gpage}`, cycles: Number(num(r, 'cyclesPerLoad').toFixed(1)) });
        }
      }
      for (const pwc of [0, 8]) {
        const r = find(rows, { sv, paging: 'native', pwc });
        body.push([`native Sv${sv}, PWC ${pwc}`, '—', num(r, 'walks'), num(r, 'refsPerWalk'), num(r, 'pwcHits'), '—', num(r, 'cyclesPerLoad').toFixed(2), '—']);
      }
      markdown += `## Sv${sv} on Sv${sv}x4\n\n` + table(['walk caches', 'G-stage page', 'walks', 'refs/walk', 'PWC hits', 'nested-TLB hits', 'cycles/load', 'cycles saved vs none, 4K'], body) + '\n';
      const all4 = find(rows, { sv, paging: 'nested', gpage: '4K', pwc: 8, ntlb: 16 });
      const none2 = find(rows, { sv, paging: 'nested', gpage: '2M', pwc: 0, ntlb: 0 });
      checks.push({ what: `Sv${sv}: PWC + nested TLB cut references per nested walk (${num(none4, 'refsPerNestedWalk')} → ${num(all4, 'refsPerNestedWalk')})`, ok: num(all4, 'refsPerNestedWalk') < num(none4, 'refsPerNestedWalk') });
      checks.push({ what: `Sv${sv}: PWC + nested TLB give a double-digit gain in cycles per load (${pct(num(all4, 'cyclesPerLoad'), num(none4, 'cyclesPerLoad'))})`, ok: (num(none4, 'cyclesPerLoad') - num(all4, 'cyclesPerLoad')) / num(none4, 'cyclesPerLoad') >= 0.1 });
      checks.push({ what: `Sv${sv}: 2 MiB G-stage pages cut references per walk without caches (${num(none4, 'refsPerNestedWalk')} → ${num(none2, 'refsPerNestedWalk')})`, ok: num(none2, 'refsPerNestedWalk') < num(none4, 'refsPerNestedWalk') });
      const sums = new Set(rows.filter((r) => r['sv'] === sv).map((r) => r['sum']));
      checks.push({ what: `Sv${sv}: every configuration loaded the same values (one checksum)`, ok: sums.size === 1 });
    }
    markdown +=
      '\nPublished direction: Bhargava et al. (ASPLOS 2008) report that caching the two-dimensional walk (page-walk ' +
      'caches for both dimensions plus a nested TLB) removes most of the up-to-24 references of a nested walk and gives ' +
      'double-digit performance gains on TLB-miss-heavy workloads; large pages in the nested dimension shorten each ' +
      'G-stage walk (one level fewer per 2 MiB leaf).\n\n![references per nested walk](walk-caches-refs.svg)\n\n![cycles per load](walk-caches-cycles.svg)\n';
    return {
      markdown,
      checks,
      charts: [
        { file: 'walk-caches-refs', chart: { title: 'References per nested walk', rows: refsRows, x: 'caches', y: 'refs', color: 'G', yTitle: 'references per walk', xTitle: '' } },
        { file: 'walk-caches-cycles', chart: { title: 'Guest cycles per random load', rows: cycRows, x: 'caches', y: 'cycles', color: 'G', yTitle: 'cycles per load', xTitle: '' } },
      ],
    };
  },
};

/** Exit-cost constants (timing file `vmm`): KVM's world switch alone (the defaults), ×5, ×20. */
export const EXIT_COSTS = [
  { label: 'exit 90 / entry 120', exitCycles: 90, entryCycles: 120 },
  { label: 'exit 450 / entry 600', exitCycles: 450, entryCycles: 600 },
  { label: 'exit 1800 / entry 2400', exitCycles: 1800, entryCycles: 2400 },
] as const;

const XOVER_WORKLOADS = [
  { key: 'fork', what: 'fork + exit + wait', kind: 'PT-update-heavy' },
  { key: 'exec', what: 'fork + exec + wait', kind: 'PT-update-heavy' },
  { key: 'mmap', what: 'mmap 16 pages, touch, munmap', kind: 'PT-update-heavy' },
  { key: 'tlb', what: 'random load over 64 MiB', kind: 'TLB-miss-heavy' },
] as const;

/** The shadow/nested crossover on Linux workloads, for three exit-cost constants. */
const crossover: Study = {
  name: 'crossover',
  title: 'Shadow vs nested paging: PT-update-heavy and TLB-miss-heavy Linux workloads, three exit costs',
  about:
    'Guest: the shared Linux 6.1 kernel with the xover initramfs (`scripts/xover-initramfs.ts`: busybox + ' +
    '`test/guests/xover/bin/xover`, static), on the bare board (`native`, --bios builtin) and as a VM of cyclevisor\'s ' +
    'VMM on a 1-hart host, with `paging: nested` (hgatp Sv39x4, 2 MiB G-stage leaves from the frame pool) or ' +
    '`paging: shadow` (hgatp Bare, the VMM\'s shadow tables; every shadow miss, guest page-table write, satp write ' +
    'and sfence.vma is an exit). Workloads: fork+exit+wait (100), fork+exec+wait (50), mmap 16 pages + touch + munmap ' +
    '(100), 200,000 random loads over 64 MiB. Each times itself with clock_gettime (the guest clock; at the 1 GHz ' +
    'default core clock 1 ns = 1 cycle; 100 ns timebase steps). `transparent_hugepage=never` on every command line ' +
    '(the kernel\'s default is always); the value the guest reported is in the second table. Modeled TLB: the ' +
    'defaults (docs/TIMING.md). Exit costs: the timing file\'s `vmm.exitCycles` / `vmm.entryCycles`, three values; ' +
    'native runs make no exits, so it has one row.',
  points: (quick) => {
    const ops = quick ? 'fork:4,exec:2,mmap:4:16,tlb:4000:16' : 'fork:100,exec:50,mmap:100:16,tlb:200000:64';
    const base = { workload: 'xover', thp: 'never', ops };
    const pts: PointConfig[] = [{ ...base, paging: 'native' }];
    for (const paging of ['nested', 'shadow']) {
      for (const e of EXIT_COSTS) pts.push({ ...base, paging, exitCycles: e.exitCycles, entryCycles: e.entryCycles });
    }
    return pts;
  },
  report: (rows) => {
    const native = find(rows, { paging: 'native' });
    const runs = EXIT_COSTS.map((e) => ({
      e,
      nested: find(rows, { paging: 'nested', exitCycles: e.exitCycles }),
      shadow: find(rows, { paging: 'shadow', exitCycles: e.exitCycles }),
    }));
    const per = (r: Row, key: string): number => num(r, `${key}NsPerOp`);
    let markdown = '## Cost per operation\n\nGuest ns per operation (= cycles at 1 GHz); in brackets the slowdown against native; the winner in bold.\n\n';
    const chartRows: Row[] = [];
    const ratioRows: Row[] = [];
    const wins: Array<Array<string | number>> = [];
    for (const { e, nested, shadow } of runs) {
      const body: Array<Array<string | number>> = [];
      for (const w of XOVER_WORKLOADS) {
        const n = per(native, w.key);
        const nv = per(nested, w.key);
        const sv = per(shadow, w.key);
        const cell = (v: number, best: boolean) => `${best ? '**' : ''}${v} (×${(v / n).toFixed(2)})${best ? '**' : ''}`;
        body.push([`${w.key} (${w.what})`, w.kind, n, cell(nv, nv <= sv), cell(sv, sv < nv), `${(nv / sv).toFixed(2)}`]);
        chartRows.push({ workload: w.key, config: `nested, ${e.label}`, slowdown: Number((nv / n).toFixed(3)) });
        chartRows.push({ workload: w.key, config: `shadow, ${e.label}`, slowdown: Number((sv / n).toFixed(3)) });
        ratioRows.push({ workload: w.key, 'exit cost': e.label, ratio: Number((nv / sv).toFixed(2)) });
      }
      markdown += `### ${e.label} cycles\n\n` + table(['workload', 'kind', 'native', 'nested', 'shadow', 'nested / shadow'], body) + '\n';
      wins.push([e.label, ...XOVER_WORKLOADS.map((w) => (per(nested, w.key) <= per(shadow, w.key) ? 'nested' : 'shadow'))]);
    }
    markdown += '## Where each wins\n\n' + table(['exit cost', ...XOVER_WORKLOADS.map((w) => `${w.key} (${w.kind})`)], wins) + '\n';
    const info = table(
      ['run', 'THP (guest reported)', 'VM exits', 'exit cycles', 'walks', 'refs/walk', 'shadow misses', 'PT-write emulations', 'shadow flushes', 'instructions'],
      [native, ...runs.flatMap((x) => [x.nested, x.shadow])].map((r) => [
        r['paging'] === 'native' ? 'native' : `${r['paging']}, exit ${r['exitCycles']} / entry ${r['entryCycles']}`,
        String(r['thpReported']),
        num(r, 'exits'),
        num(r, 'exitCyclesTotal'),
        num(r, 'walks'),
        num(r, 'refsPerWalk'),
        r['paging'] === 'shadow' ? num(r, 'paging.shadow.misses') : '—',
        r['paging'] === 'shadow' ? num(r, 'paging.shadow.pt_writes') : '—',
        r['paging'] === 'shadow' ? num(r, 'paging.shadow.flushes') : '—',
        num(r, 'instructions'),
      ]),
    );
    markdown += '## Runs\n\n' + info;
    const ptHeavy = XOVER_WORKLOADS.filter((w) => w.kind === 'PT-update-heavy');
    const checks: StudyReport['checks'] = [];
    for (const { e, nested, shadow } of runs) {
      const ptNestedWins = ptHeavy.filter((w) => per(nested, w.key) < per(shadow, w.key)).map((w) => w.key);
      const tlbShadowWins = per(shadow, 'tlb') < per(nested, 'tlb');
      checks.push({
        what: `${e.label}: nested wins the PT-update-heavy workloads (${ptHeavy.map((w) => `${w.key} ×${(per(shadow, w.key) / per(nested, w.key)).toFixed(2)}`).join(', ')} shadow/nested) and shadow wins the TLB-miss-heavy one (tlb: nested/shadow ×${(per(nested, 'tlb') / per(shadow, 'tlb')).toFixed(2)}): the crossover`,
        ok: ptNestedWins.length === ptHeavy.length && tlbShadowWins,
      });
    }
    const spread = (paging: 'nested' | 'shadow', key: string): number => {
      const v = runs.map((x) => per(x[paging], key));
      return (Math.max(...v) - Math.min(...v)) / Math.min(...v);
    };
    const nestedSpread = Math.max(...XOVER_WORKLOADS.map((w) => spread('nested', w.key)));
    checks.push({ what: `nested per-operation costs hardly move with the exit cost (page-table updates do not exit): largest spread ${(nestedSpread * 100).toFixed(1)} %`, ok: nestedSpread < 0.05 });
    checks.push({
      what: `shadow's PT-update-heavy costs grow with the exit cost (fork: ${runs.map((x) => per(x.shadow, 'fork')).join(' → ')} ns)`,
      ok: ptHeavy.every((w) => runs.every((x, i) => i === 0 || per(x.shadow, w.key) > per(runs[i - 1]!.shadow, w.key))),
    });
    markdown +=
      '\nPublished direction: VMware\'s EPT study (Bhatia, "Performance Evaluation of Intel EPT Hardware Assist", 2009) finds ' +
      'nested paging up to several times faster than shadow paging on page-table-update-heavy microbenchmarks ' +
      '(fork/exec, process creation), because every guest page-table write traps under shadow paging; Gandhi et al. ' +
      '(ISCA 2016, "Agile Paging") show the opposite case, TLB-miss-heavy workloads, where nested paging\'s ' +
      'two-dimensional walks make it slower than shadow paging.\n\n![nested / shadow](crossover-ratio.svg)\n\n![slowdown against native](crossover.svg)\n';
    return {
      markdown,
      checks,
      charts: [{ file: 'crossover', chart: { title: 'Time per operation against native Linux', rows: chartRows, x: 'workload', y: 'slowdown', color: 'config', yTitle: 'time per operation / native', xTitle: '', labels: false } },
        { file: 'crossover-ratio', chart: { title: 'Nested time / shadow time (above 1: shadow paging is faster)', rows: ratioRows, x: 'workload', y: 'ratio', color: 'exit cost', yTitle: 'nested / shadow', xTitle: '' } }],
    };
  },
};

export const STUDIES: readonly Study[] = [walkRefs, walkCaches, crossover];

export function studyNamed(name: string): Study | undefined {
  return STUDIES.find((s) => s.name === name);
}
