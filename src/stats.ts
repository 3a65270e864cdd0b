/**
 * The end-of-run summary: a one-screen text table (`--stats text`) or stable, pretty JSON
 * (`--stats json`).
 */
import { TIMING_CLASSES, type TimingClass } from './isa/classes.js';
import type { TlbCounters, TlbStats } from './tlbmodel.js';
import type { JitStats } from './jit/jit.js';

export type ExitReason = 'exit' | 'max-insns' | 'max-cycles' | 'stuck' | 'interrupted' | 'error' | 'paused';

export interface RunStats {
  /** Guest name (ELF path or "demo"). */
  guest: string;
  exit: { reason: ExitReason; code: number };
  /** Retired instructions. */
  instret: number;
  cycles: number;
  /** Wall-clock seconds the host spent running the guest. */
  hostSeconds: number;
  /**
   * Retired instructions per timing class. `branch` counts every conditional branch and
   * `branchTaken` the taken ones among them (a subset, shown as a sub-row of `branch`); `trap`
   * counts trap entries (they are not instruction rows but share the class ids).
   */
  classCounts: Record<TimingClass, number>;
  traps: { exceptions: number; interrupts: number };
  /** Per-device event counters, e.g. { uart0: { txBytes: 12 } }. */
  devices: Record<string, Record<string, number>>;
  bus: { unmappedReads: number; unmappedWrites: number };
  scheduler: { fired: number };
  cpuHz: number;
  /** Modeled-TLB counters; present in timing mode only. */
  tlb?: TlbStats;
  /** The JIT tier's figures (issue 14, docs/JIT.md); present with --tier jit only. */
  jit?: JitStats;
  /** Per-hart breakdown (JSON only); absent when the producer does not know the harts. */
  harts?: HartStats[];
}

/** One hart's share of a run (`--stats json`, key `harts`). */
export interface HartStats {
  hart: number;
  /** 'stopped' (never started or stopped by SBI HSM), 'wfi' (sleeping) or 'running' at the end. */
  state: 'running' | 'wfi' | 'stopped';
  instret: number;
  /** This hart's cycle counter (every hart's follows machine time). */
  cycles: number;
  traps: { exceptions: number; interrupts: number };
  /** pc at the end of the run, hex. */
  pc: string;
  /** Privilege mode at the end: M, S or U. */
  priv: string;
  /** This hart's modeled-TLB counters (timing mode). */
  tlb?: TlbStats;
}

/** The text summary never exceeds this many lines. */
export const MAX_TEXT_LINES = 24;
const LABEL = 16;
const WIDTH = 78;

/** 1234567 -> "1,234,567" (locale-independent). */
export function groupDigits(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const neg = n < 0;
  const s = Math.trunc(Math.abs(n)).toString();
  const out = s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return neg ? `-${out}` : out;
}

/** Seconds with an SI prefix and 3 significant-ish decimals: 0.0012345 -> "1.235 ms". */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '-';
  if (s === 0) return '0 s';
  const a = Math.abs(s);
  if (a >= 1) return `${s.toFixed(3)} s`;
  if (a >= 1e-3) return `${(s * 1e3).toFixed(3)} ms`;
  if (a >= 1e-6) return `${(s * 1e6).toFixed(3)} µs`;
  return `${(s * 1e9).toFixed(3)} ns`;
}

function formatHz(hz: number): string {
  if (hz >= 1e9) return `${+(hz / 1e9).toFixed(3)} GHz`;
  if (hz >= 1e6) return `${+(hz / 1e6).toFixed(3)} MHz`;
  if (hz >= 1e3) return `${+(hz / 1e3).toFixed(3)} kHz`;
  return `${hz} Hz`;
}

function plural(n: number, word: string): string {
  return `${groupDigits(n)} ${word}${n === 1 ? '' : 's'}`;
}

/** Derived figures, shared by the text and JSON forms. Null where undefined (division by zero). */
export function derived(s: RunStats): { ipc: number | null; simSeconds: number | null; mips: number | null } {
  return {
    ipc: s.cycles > 0 ? s.instret / s.cycles : null,
    simSeconds: s.cpuHz > 0 ? s.cycles / s.cpuHz : null,
    mips: s.hostSeconds > 0 ? s.instret / s.hostSeconds / 1e6 : null,
  };
}

function exitLine(s: RunStats): string {
  switch (s.exit.reason) {
    case 'exit':
      return `guest exited with code ${s.exit.code}`;
    case 'max-insns':
      return `stopped after --max-insns instructions (exit code ${s.exit.code})`;
    case 'max-cycles':
      return `stopped after --max-cycles cycles (exit code ${s.exit.code})`;
    case 'stuck':
      return `a hart is stuck in a trap loop (exit code ${s.exit.code})`;
    case 'interrupted':
      return `interrupted (exit code ${s.exit.code})`;
    case 'error':
      return `stopped by an error (exit code ${s.exit.code})`;
    case 'paused':
      return `paused by the debugger or a hook (exit code ${s.exit.code})`;
  }
}

/** Word-wraps `tokens` (joined by spaces) into lines of at most `width` characters. */
function wrap(tokens: string[], first: string, cont: string, width: number): string[] {
  const lines: string[] = [];
  let cur = first;
  let empty = true;
  for (const tok of tokens) {
    if (!empty && cur.length + 1 + tok.length > width) {
      lines.push(cur);
      cur = cont + tok;
    } else {
      cur += (empty ? '' : ' ') + tok;
    }
    empty = false;
  }
  if (!empty) lines.push(cur);
  return lines;
}

/**
 * A one-screen summary (at most MAX_TEXT_LINES lines, ending with a newline): counts, cycles, IPC,
 * simulated and host time, instruction mix (zero classes left out), traps, device events, unmapped
 * accesses, the exit reason and, in timing mode, the modeled TLB (at most 5 lines, 6 after V=1
 * code made two-dimensional walks; the device lines give way first, so the summary still fits:
 * 1 + 4 + 9 mix + 3 + 5 = 22 lines before devices).
 */
export function formatText(s: RunStats): string {
  const d = derived(s);
  const row = (label: string, value: string) => `  ${label.padEnd(LABEL)}${value}`;
  const lines: string[] = [];
  lines.push(`cyclevisor: ${s.guest}: ${exitLine(s)}`);
  lines.push(row('instructions', groupDigits(s.instret)));
  lines.push(row('cycles', `${groupDigits(s.cycles)}  (IPC ${d.ipc === null ? '-' : d.ipc.toFixed(3)})`));
  lines.push(row('simulated time', `${d.simSeconds === null ? '-' : formatSeconds(d.simSeconds)} at ${formatHz(s.cpuHz)}`));
  lines.push(row('host time', `${formatSeconds(s.hostSeconds)}  (${d.mips === null ? '-' : d.mips.toFixed(2)} MIPS)`));

  // Instruction mix, two columns, column-major, largest first; `trap` is reported with the traps.
  // The rows add up to 100 % of instret. `branchTaken` is a subset of `branch` (every conditional
  // branch counts in `branch`; the taken ones also in `branchTaken`), so it is not a row of its own:
  // it is shown as the indented sub-row `  taken` right below `branch`, in the same column.
  const mix = TIMING_CLASSES.filter((c) => c !== 'trap' && c !== 'branchTaken' && s.classCounts[c] > 0)
    .map((c, i) => ({ c: c as string, n: s.classCounts[c], i }))
    .sort((a, b) => b.n - a.n || a.i - b.i);
  if (mix.length > 0) {
    const taken = s.classCounts.branchTaken ?? 0;
    const numW = Math.max(...mix.map((m) => groupDigits(m.n).length), groupDigits(taken).length);
    const cell = (m: { c: string; n: number }) => {
      const pct = s.instret > 0 ? `${((100 * m.n) / s.instret).toFixed(1)}%` : '-';
      return `${m.c.padEnd(12)}${groupDigits(m.n).padStart(numW)} ${pct.padStart(6)}`;
    };
    // Units that must stay together in one column: [branch, taken] or a single class.
    const units: string[][] = mix.map((m) =>
      m.c === 'branch' && taken > 0 ? [cell(m), cell({ c: '  taken', n: taken })] : [cell(m)],
    );
    const total = units.reduce((a, u) => a + u.length, 0);
    let rows = Math.ceil(total / 2);
    let left: string[] = [];
    let right: string[] = [];
    for (;;) {
      left = [];
      right = [];
      let k = 0;
      while (k < units.length && left.length + units[k]!.length <= rows) left.push(...units[k++]!);
      // A unit that does not fit in what is left of the first column starts the second one; the
      // slot it leaves stays empty.
      while (k < units.length) right.push(...units[k++]!);
      if (right.length <= rows) break;
      rows++;
    }
    const colW = Math.max(...left.map((c) => c.length)) + 4;
    for (let r = 0; r < rows; r++) {
      const l = left[r] ?? '';
      const rt = right[r];
      const label = r === 0 ? 'mix' : '';
      lines.push(row(label, rt === undefined ? l : l.padEnd(colW) + rt));
    }
  }

  const trapTotal = s.traps.exceptions + s.traps.interrupts;
  lines.push(row('traps', `${groupDigits(trapTotal)}  (${plural(s.traps.exceptions, 'exception')}, ${plural(s.traps.interrupts, 'interrupt')})`));
  lines.push(row('unmapped', `${plural(s.bus.unmappedReads, 'read')}, ${plural(s.bus.unmappedWrites, 'write')}`));
  lines.push(row('scheduler', `${plural(s.scheduler.fired, 'event')} fired`));
  if (s.jit) lines.push(row('jit', jitText(s.jit, s.instret)));

  // The TLB block leaves at least one line for the device block (or its "more" line).
  const tlbBudget = MAX_TEXT_LINES - lines.length - (Object.keys(s.devices).length > 0 ? 1 : 0);
  lines.push(...tlbLines(s.tlb, row, tlbBudget));

  // Device events: one device per line ("name: key=n key=n", zero counters left out), wrapped
  // if long, within the lines the budget leaves.
  const indent = ' '.repeat(2 + LABEL);
  const devLines: string[] = [];
  for (const name of Object.keys(s.devices).sort()) {
    const counters = Object.entries(s.devices[name]!)
      .filter(([, v]) => v !== 0)
      .map(([k, v]) => `${k}=${groupDigits(v)}`);
    if (counters.length === 0) continue;
    const first = devLines.length === 0 ? row('devices', '') : indent;
    devLines.push(...wrap([`${name}:`, ...counters], first, `${indent}  `, WIDTH));
  }
  const budget = MAX_TEXT_LINES - lines.length;
  if (devLines.length > budget) {
    devLines.length = Math.max(0, budget - 1);
    devLines.push(row('', '… (more device counters in --stats json)'));
  }
  lines.push(...devLines);
  return lines.join('\n') + '\n';
}

/**
 * The modeled-TLB block of the text summary (5 lines, a 6th for two-dimensional walks when V=1 code
 * made any; more only when huge counters wrap, and never more than `budget`, the rest said to be in
 * the JSON): hit rate and misses per TLB, then walks (then the nested walks), then flushes. A TLB with no accesses (the I-TLB of a unified L1) and flush causes with a
 * zero count are left out, and so is the flush line when nothing was flushed.
 */
function tlbLines(t: TlbStats | undefined, row: (label: string, value: string) => string, budget: number): string[] {
  if (t === undefined) return [];
  const indent = ' '.repeat(2 + LABEL);
  const out: string[] = [];
  const add = (tokens: string[]) => out.push(...wrap(tokens, out.length === 0 ? row('tlb', '') : indent, `${indent}  `, WIDTH));
  const pct = (n: number, d: number) => (d > 0 ? `${((100 * n) / d).toFixed(2)}%` : '-');
  const tlbs: Array<[string, TlbCounters | null]> = [['itlb', t.itlb], ['dtlb', t.dtlb], ['l2', t.l2]];
  for (const [name, c] of tlbs) {
    if (c === null || c.accesses === 0) continue;
    add([`${name.padEnd(4)} ${pct(c.hits, c.accesses).padStart(7)} hit,`, `${groupDigits(c.misses)} miss${c.misses === 1 ? '' : 'es'}`, `of ${groupDigits(c.accesses)}`]);
  }
  const pwcTotal = t.pwc.hits + t.pwc.misses;
  add([
    `${plural(t.walks, 'walk')},`,
    `${t.walks > 0 ? (t.walkRefs / t.walks).toFixed(2) : '-'} refs/walk,`,
    `${plural(t.walkCycles, 'cycle')}${t.pwc.hits > 0 ? ',' : ''}`,
    ...(t.pwc.hits > 0 ? [`pwc ${pct(t.pwc.hits, pwcTotal)} hit`] : []),
  ]);
  // Two-dimensional walks (V=1), only when there were any: average references per stage.
  const n = t.nested;
  if (n.walks > 0) {
    const avg = (x: number) => (x / n.walks).toFixed(2);
    const ntlbTotal = n.ntlb.hits + n.ntlb.misses;
    add([
      `of which ${plural(n.walks, 'nested walk')}:`,
      `${avg(n.vsRefs)} VS + ${avg(n.gRefs)} G refs/walk${n.guestPageFaults > 0 || ntlbTotal > 0 ? ',' : ''}`,
      ...(n.guestPageFaults > 0 ? [`${plural(n.guestPageFaults, 'guest-page fault')}${ntlbTotal > 0 ? ',' : ''}`] : []),
      ...(ntlbTotal > 0 ? [`ntlb ${pct(n.ntlb.hits, ntlbTotal)} hit`] : []),
    ]);
  }
  const f = t.flushes;
  const causes: Array<[string, number]> = [
    ['all', f.all], ['asid', f.asid], ['vaddr', f.vaddr], ['vaddr+asid', f.vaddrAsid], ['satp', f.satp],
    ['hfence.vvma', n.flushes.vvma], ['hfence.gvma', n.flushes.gvma], ['vsatp', n.flushes.vsatp],
  ];
  const nz = causes.filter(([, n]) => n > 0).map(([k, n]) => `${k}=${groupDigits(n)}`);
  if (nz.length > 0) add(['flushes', ...nz]);
  if (out.length > budget) {
    out.length = Math.max(0, budget - 1);
    out.push(row(out.length === 0 ? 'tlb' : '', '… (more TLB counters in --stats json)'));
  }
  return out;
}

function tlbJson(t: TlbStats): TlbStats {
  const c = (x: TlbCounters): TlbCounters => ({ accesses: x.accesses, hits: x.hits, misses: x.misses, evictions: x.evictions });
  return {
    itlb: c(t.itlb),
    dtlb: c(t.dtlb),
    l2: t.l2 === null ? null : c(t.l2),
    walks: t.walks,
    walkRefs: t.walkRefs,
    walkCycles: t.walkCycles,
    refsHistogram: [...t.refsHistogram],
    pwc: { hits: t.pwc.hits, misses: t.pwc.misses },
    flushes: { all: t.flushes.all, asid: t.flushes.asid, vaddr: t.flushes.vaddr, vaddrAsid: t.flushes.vaddrAsid, satp: t.flushes.satp },
    faultWalks: t.faultWalks,
    adWrites: t.adWrites,
    nested: {
      walks: t.nested.walks,
      vsRefs: t.nested.vsRefs,
      gRefs: t.nested.gRefs,
      refs: t.nested.refs,
      vsHistogram: [...t.nested.vsHistogram],
      gHistogram: [...t.nested.gHistogram],
      totalHistogram: [...t.nested.totalHistogram],
      adWrites: { vs: t.nested.adWrites.vs, g: t.nested.adWrites.g },
      guestPageFaults: t.nested.guestPageFaults,
      ntlb: { hits: t.nested.ntlb.hits, misses: t.nested.ntlb.misses },
      flushes: { vvma: t.nested.flushes.vvma, gvma: t.nested.flushes.gvma, vsatp: t.nested.flushes.vsatp },
    },
  };
}

/**
 * Pretty JSON with a fixed key order (class counts in TIMING_CLASSES order, devices sorted; `tlb`
 * after `scheduler`, only in timing mode).
 */
export function formatJson(s: RunStats): string {
  const classCounts: Record<string, number> = {};
  for (const c of TIMING_CLASSES) classCounts[c] = s.classCounts[c] ?? 0;
  const devices: Record<string, Record<string, number>> = {};
  for (const name of Object.keys(s.devices).sort()) {
    const counters: Record<string, number> = {};
    for (const k of Object.keys(s.devices[name]!).sort()) counters[k] = s.devices[name]![k]!;
    devices[name] = counters;
  }
  const out = {
    guest: s.guest,
    exit: { reason: s.exit.reason, code: s.exit.code },
    instret: s.instret,
    cycles: s.cycles,
    hostSeconds: s.hostSeconds,
    cpuHz: s.cpuHz,
    classCounts,
    traps: { exceptions: s.traps.exceptions, interrupts: s.traps.interrupts },
    devices,
    bus: { unmappedReads: s.bus.unmappedReads, unmappedWrites: s.bus.unmappedWrites },
    scheduler: { fired: s.scheduler.fired },
    ...(s.jit === undefined ? {} : { jit: { ...s.jit, compileMs: Math.round(s.jit.compileMs * 1000) / 1000 } }),
    ...(s.tlb === undefined ? {} : { tlb: tlbJson(s.tlb) }),
    ...(s.harts === undefined
      ? {}
      : {
          harts: s.harts.map((h) => ({
            hart: h.hart,
            state: h.state,
            instret: h.instret,
            cycles: h.cycles,
            traps: { exceptions: h.traps.exceptions, interrupts: h.traps.interrupts },
            pc: h.pc,
            priv: h.priv,
            ...(h.tlb === undefined ? {} : { tlb: tlbJson(h.tlb) }),
          })),
        }),
    derived: derived(s),
  };
  return JSON.stringify(out, null, 2) + '\n';
}

/** `--stats text` row of the JIT tier: what it compiled, at what cost, and how much it ran. */
export function jitText(j: JitStats, instret: number): string {
  const share = instret > 0 ? ((100 * j.insns) / instret).toFixed(1) : '0.0';
  return `${plural(j.blocks, 'block')} on ${plural(j.pages, 'page')}, ${j.compileMs.toFixed(0)} ms compile, ` +
    `${Math.round(j.codeBytes / 1024)} KiB, ${plural(j.invalidations, 'inval')}, ${share}% compiled`;
}
