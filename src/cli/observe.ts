/**
 * The CLI side of --trace-out, --report and --progress (issue 16; docs/TRACING.md): output files
 * opened before the run (a bad path fails before any guest work), the observer installed, and at
 * the end the trace and the report written. Shared by `run`, `boot` (board runs) and `host`.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { ObserveSettings } from './args.js';
import type { VirtMachine } from '../board/virt.js';
import { BoardObserver } from '../trace/board.js';
import { Tracer, traceFormatOf } from '../trace/tracer.js';
// trace/report.js (vega, vega-lite, resvg) is loaded only when a --report is written.
import { HostObserver } from '../trace/host.js';
import type { Host } from '../hypervisor/host.js';
import { formatText, type RunStats } from '../stats.js';
import { ProgressLine, progressWanted } from './progress.js';
import * as L from '../generated/layout.js';

export interface ObserveIo {
  stderr: { write(chunk: string | Uint8Array): unknown };
  stdout: unknown;
  /** stdin is a terminal feeding a guest console. */
  consoleInput: boolean;
}

/** The --trace-out and --report files, opened together (nothing left open when the second fails), and the tracer. */
function openOutputs(o: ObserveSettings, cpuHz: number): { traceFd: number | null; reportFd: number | null; tracer: Tracer | null } {
  const traceFd = o.traceOut ? openObserveFile(o.traceOut, '--trace-out') : null;
  let reportFd: number | null = null;
  try {
    reportFd = o.report ? openObserveFile(o.report, '--report') : null;
  } catch (e) {
    if (traceFd !== null) closeSync(traceFd);
    throw e;
  }
  const tracer = o.traceOut
    ? new Tracer(traceFormatOf(o.traceOut)!, cpuHz, {
        ...(o.traceMaxBytes !== undefined ? { maxBytes: o.traceMaxBytes } : {}),
        ...(o.traceWindow ? o.traceWindow : {}),
      })
    : null;
  return { traceFd, reportFd, tracer };
}

/** Open an output file for writing now (one line naming the flag if it cannot be). */
export function openObserveFile(path: string, flag: string): number {
  try {
    return openSync(path, 'w');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such directory' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : code;
    throw new UserError(`${flag} ${path}: cannot write (${why})`);
  }
}

/** The output paths of the observation options, with their flags (for the input-overwrite check). */
export function observeOutputs(o: ObserveSettings | undefined): Array<{ path: string; flag: string }> {
  const out: Array<{ path: string; flag: string }> = [];
  if (o?.traceOut !== undefined) out.push({ path: o.traceOut, flag: '--trace-out' });
  if (o?.report !== undefined) out.push({ path: o.report, flag: '--report' });
  if (o?.traceOut !== undefined && o.report !== undefined && o.traceOut === o.report) throw new UserError(`--trace-out and --report name the same file (${o.report})`);
  return out;
}

export function isTty(s: unknown): boolean {
  return (s as { isTTY?: boolean } | null)?.isTTY === true;
}

/** Progress line for a run, if wanted (progress.ts decides). */
export function startProgress(o: ObserveSettings | undefined, io: ObserveIo, src: { instret(): number; seconds(): number }): ProgressLine | null {
  const want = progressWanted({ flag: o?.progress, stderrTTY: isTty(io.stderr), stdoutTTY: isTty(io.stdout), consoleInput: io.consoleInput });
  if (!want) return null;
  const p = new ProgressLine(io.stderr, src, isTty(io.stderr));
  p.start();
  return p;
}

export interface BoardObservation {
  /** Write the trace and the report (after the run, with its statistics). */
  finish(stats: RunStats): Promise<void>;
  /** Stop the progress line (before the run's own messages are printed). */
  stopProgress(): void;
}

/** Set up --trace-out / --report / --progress for a board run; null when none applies. */
export function observeBoard(machine: VirtMachine, o: ObserveSettings | undefined, io: ObserveIo): BoardObservation | null {
  const progress = startProgress(o, io, {
    instret: () => machine.totalInstret(),
    seconds: () => machine.core.hartNum(machine.core.activeHart, L.H_CYCLES) / machine.timing.cpuHz,
  });
  if (!o?.traceOut && !o?.report) {
    if (!progress) return null;
    return { finish: async () => {}, stopProgress: () => progress.stop() };
  }
  const { traceFd, reportFd, tracer } = openOutputs(o, machine.timing.cpuHz);
  const observer = new BoardObserver(machine, { tracer });
  return {
    stopProgress: () => progress?.stop(),
    finish: async (stats) => {
      progress?.stop();
      observer.finish();
      if (tracer && traceFd !== null) {
        try {
          writeSync(traceFd, tracer.finish({ guest: stats.guest, cpuHz: stats.cpuHz, lostTraps: observer.ring.lost }));
        } finally {
          closeSync(traceFd);
        }
        const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
        if (tracer.truncated) io.stderr.write(`cyclevisor: --trace-out ${o.traceOut}: stopped at ${mib(tracer.bounds.maxBytes)} (--trace-max-size); ${tracer.dropped} events left out\n`);
        if (observer.ring.lost > 0) io.stderr.write(`cyclevisor: --trace-out ${o.traceOut}: ${observer.ring.lost} traps were lost (more than the core's ring holds in one slice)\n`);
      }
      if (reportFd !== null) {
        try {
          const { boardCharts, renderReport } = await import('../trace/report.js');
          const html = await renderReport({
            title: `cyclevisor: ${stats.guest}`,
            summary: boardSummary(stats),
            charts: boardCharts(stats, observer.sampler.samples),
            tables: [{ title: 'Statistics (--stats text)', text: formatText(stats) }],
          });
          writeSync(reportFd, html);
        } finally {
          closeSync(reportFd);
        }
      }
    },
  };
}

function boardSummary(s: RunStats): Array<[string, string]> {
  const vs = s.cycles / s.cpuHz;
  return [
    ['guest', s.guest],
    ['exit', `${s.exit.reason} (code ${s.exit.code})`],
    ['instructions', s.instret.toLocaleString('en-US')],
    ['cycles', s.cycles.toLocaleString('en-US')],
    ['virtual time', `${vs.toFixed(6)} s at ${(s.cpuHz / 1e6).toFixed(0)} MHz`],
    ['IPC', (s.instret / Math.max(1, s.cycles)).toFixed(3)],
    ['traps', `${s.traps.exceptions} exceptions, ${s.traps.interrupts} interrupts`],
    ['host time', `${s.hostSeconds.toFixed(2)} s (${(s.instret / Math.max(1e-9, s.hostSeconds) / 1e6).toFixed(1)} MIPS)`],
  ];
}

export interface HostObservation {
  finish(statsText: string): Promise<void>;
  stopProgress(): void;
}

/**
 * --trace-out / --report / --progress for `host`. `runner` is the HostRunner createHost gave; its
 * `host` (src/hypervisor/host.ts Host) is what is observed. null when nothing was asked.
 */
export function observeHost(runner: unknown, o: ObserveSettings | undefined, io: ObserveIo): HostObservation | null {
  const host = (runner as { host?: Host }).host;
  const progress = host
    ? startProgress(o, io, { instret: () => host.totalInstructions(), seconds: () => Math.min(...host.hostTime) / host.timing.cpuHz })
    : null;
  if (!o?.traceOut && !o?.report) {
    if (!progress) return null;
    return { finish: async () => {}, stopProgress: () => progress.stop() };
  }
  if (!host || !Array.isArray(host.hostTime)) {
    progress?.stop();
    throw new UserError('--trace-out and --report need the VMM of this build (src/hypervisor/host.ts Host), which this host does not expose', 1);
  }
  const { traceFd, reportFd, tracer } = openOutputs(o, host.timing.cpuHz);
  const observer = new HostObserver(host, tracer);
  return {
    stopProgress: () => progress?.stop(),
    finish: async (statsText) => {
      progress?.stop();
      observer.finish();
      if (tracer && traceFd !== null) {
        try {
          writeSync(traceFd, tracer.finish({ vms: host.vms.map((v) => v.name), cpuHz: host.timing.cpuHz, lostTraps: observer.ring.lost }));
        } finally {
          closeSync(traceFd);
        }
        if (tracer.truncated) io.stderr.write(`cyclevisor: --trace-out ${o.traceOut}: stopped at ${(tracer.bounds.maxBytes / 1048576).toFixed(1)} MiB (--trace-max-size); ${tracer.dropped} events left out\n`);
      }
      if (reportFd !== null) {
        try {
          const vms = host.vms.map((v) => v.stats());
          const total = vms.reduce((a, v) => a + v.instructions, 0);
          const { hostCharts, renderReport } = await import('../trace/report.js');
          const html = await renderReport({
            title: `cyclevisor host: ${host.vms.map((v) => v.name).join(', ')}`,
            summary: [
              ['VMs', String(vms.length)],
              ['host harts', String(host.harts)],
              ['instructions', total.toLocaleString('en-US')],
              ['host time', `${(Math.max(...host.hostTime) / host.timing.cpuHz).toFixed(6)} s (virtual)`],
              ['VM exits', vms.reduce((a, v) => a + Object.values(v.exits).reduce((b, e) => b + e.count, 0), 0).toLocaleString('en-US')],
            ],
            charts: hostCharts(vms, observer.sampler.samples, host.timing.cpuHz),
            tables: [{ title: 'Per-VM statistics (--stats text)', text: statsText }],
          });
          writeSync(reportFd, html);
        } finally {
          closeSync(reportFd);
        }
      }
    },
  };
}
