/**
 * `cyclevisor host FILE` and `cyclevisor ctl PATH COMMAND [NAME]` (issue 10 scope 7): the
 * user-facing half of the hypervisor. `host` checks the VM definition file, then drives the VMM's
 * `HostRunner` (src/hypervisor/host.ts, `createHost`): every VM's console on stdout through the
 * ConsoleMux, the control socket, `--console NAME` input, and the per-VM statistics table at the
 * end. A build without the VMM checks the file and says in one line that it cannot run VMs (exit 1):
 * it never pretends to run them. `ctl` is the virsh-shaped client of the control socket.
 */
import { closeSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { UserError } from '../errors.js';
import { parseSize, type CtlCommand, type HostCommand } from './args.js';
// hypervisor/config.js (zod, yaml) is loaded by `host` only: `ctl` parses no VM file.
import type { HostConfig } from '../hypervisor/config.js';
import { ConsoleMux, realTimer, type MuxTimer } from '../hypervisor/console-mux.js';
import { ControlClient, ControlServer, checkSocketPath } from '../hypervisor/control.js';
import type { CreateHost, DomainInfo, DomainStats, DomainSummary, HostRunResult, HostRunner, MigrationReport, SnapshotInfo } from '../hypervisor/control-api.js';
import { formatDomstats, formatHostStatsJson, formatHostStatsText } from '../hypervisor/stats.js';
import { formatSize } from '../errors.js';
import type { CliIo } from './main.js';
import { observeHost, observeOutputs, type HostObservation } from './observe.js';

export const EXIT_LIMIT = 124;

/**
 * The VMM's `createHost`, if this build has it. The specifier is a variable so that the CLI
 * compiles (and checks files) before src/hypervisor/host.ts exists.
 */
export async function loadCreateHost(importer: (spec: string) => Promise<unknown> = (spec) => import(spec)): Promise<CreateHost | null> {
  const spec = '../hypervisor/host.js';
  let mod: { createHost?: unknown };
  try {
    mod = (await importer(spec)) as { createHost?: unknown };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Only the host module itself missing means "no VMM"; a module it imports missing is a bug.
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /hypervisor[\\/]host\.[jt]s/.test(String((e as Error).message))) return null;
    throw e;
  }
  if (typeof mod.createHost !== 'function') {
    // The VMM is there but does not offer the entry point this CLI drives: say so, do not guess.
    throw new UserError('running VMs is not available in this build: src/hypervisor/host.ts does not export createHost(config) (see docs/VM-CONFIG.md)', 1);
  }
  return mod.createHost as CreateHost;
}

export interface HostDeps {
  /** The VMM; undefined = load src/hypervisor/host.ts. Tests pass a fake. */
  createHost?: CreateHost | null;
  version?: string;
  /** The console-mux timer (tests: a fake clock). */
  timer?: MuxTimer;
  openOutputFile?: (path: string, flag: string) => number;
  refuseInputAsOutput?: (output: string, flag: string, inputs: { what: string; path: string }[]) => void;
}

function hostInputs(cfg: HostConfig): { what: string; path: string }[] {
  const inputs = [{ what: 'the VM definition file', path: cfg.path }];
  for (const [i, vm] of cfg.vms.entries()) {
    inputs.push({ what: `vms[${i}].kernel`, path: vm.kernel });
    if (vm.initrd !== null) inputs.push({ what: `vms[${i}].initrd`, path: vm.initrd });
    for (const [j, d] of vm.disks.entries()) inputs.push({ what: `vms[${i}].disks[${j}].file`, path: d.file });
  }
  return inputs;
}

/**
 * Idle pacing for `host` (--pace on|off): by default on when someone may be waiting in wall time
 * (a control socket, an interactive console) or a VM has a NIC on a user network (host sockets:
 * issue 13), off otherwise, so deterministic batch runs stay fast.
 */
export function hostPace(cmd: Pick<HostCommand, 'pace' | 'control' | 'console'>, cfg: HostConfig): boolean {
  if (cmd.pace !== null && cmd.pace !== undefined) return cmd.pace;
  return cmd.control !== null || cmd.console !== null || cfg.vms.some((v) => (v.nics ?? []).some((n) => n.network === 'user'));
}

/** Exit status of a finished run: 124 limits, 1 a VM crashed or was destroyed (or Ctrl-C), else 0. */
export function hostExitCode(r: HostRunResult): number {
  if (r.end === 'max-insns' || r.end === 'max-cycles') return EXIT_LIMIT;
  if (r.end === 'interrupted') return 130;
  return r.vms.some((v) => v.state === 'crashed' || v.reason === 'crashed' || v.reason === 'destroyed') ? 1 : 0;
}

export async function hostCommand(cmd: HostCommand, io: CliIo, deps: HostDeps = {}): Promise<number> {
  const { loadHostConfig } = await import('../hypervisor/config.js');
  const cfg = loadHostConfig(cmd.file);
  const names = cfg.vms.map((v) => v.name);
  if (cmd.console !== null && !names.includes(cmd.console)) {
    throw new UserError(`--console ${cmd.console}: no VM of that name in ${cmd.file} (VMs: ${names.join(', ')})`);
  }
  if (cmd.control !== null) checkSocketPath(cmd.control, '--control');
  // A VM with autostart: false waits for `ctl start`; without --control nothing can send it, and
  // with no VM to start by itself the run would end at once having run nothing.
  // Something must be able to start a VM: autostart, `ctl start` (--control), an incoming migration or a --restore.
  if (cmd.control === null && cmd.incoming === null && cmd.restore.length === 0 && !cfg.vms.some((v) => v.autostart)) {
    throw new UserError(`${cmd.file}: no VM has autostart: true and there is no --control, --incoming or --restore to start one (nothing would run)`);
  }
  if (cmd.statsFile !== null) deps.refuseInputAsOutput?.(cmd.statsFile, '--stats-file', hostInputs(cfg));
  for (const o of observeOutputs(cmd.observe)) deps.refuseInputAsOutput?.(o.path, o.flag, hostInputs(cfg));
  for (const r of cmd.restore) {
    if (!names.includes(r.name)) throw new UserError(`--restore ${r.name}=${r.file}: no VM of that name in ${cmd.file} (VMs: ${names.join(', ')})`);
  }

  const createHost = deps.createHost === undefined ? await loadCreateHost() : deps.createHost;
  if (createHost === null) {
    const ram = cfg.vms.reduce((a, v) => a + v.memoryBytes, 0);
    throw new UserError(
      `${cmd.file}: valid (${cfg.vms.length} VM${cfg.vms.length === 1 ? '' : 's'}, ${formatSize(ram)} of ${formatSize(cfg.ramBytes)} host RAM), but running VMs is not available yet in this build (the VMM of issue 10 is not merged)`,
      1,
    );
  }

  const statsFd = cmd.statsFile !== null && deps.openOutputFile ? deps.openOutputFile(cmd.statsFile, '--stats-file') : null;
  const host = await createHost(cfg, {
    restore: cmd.restore.map((r) => ({ name: r.name, file: resolve(r.file) })),
    incoming: cmd.incoming,
  });
  try {
    return await runHost(cmd, io, deps, cfg, host, statsFd);
  } finally {
    host.close?.();
  }
}

async function runHost(cmd: HostCommand, io: CliIo, deps: HostDeps, cfg: HostConfig, host: HostRunner, statsFd: number | null): Promise<number> {
  const names = cfg.vms.map((v) => v.name);
  const mux = new ConsoleMux(names, (t) => io.stdout.write(t), deps.timer ?? realTimer);
  let server: ControlServer | null = null;
  let detachInput = () => {};
  let detachInterrupt = () => {};
  let result: HostRunResult;
  let quitByEscape = false;
  let observation: HostObservation | null = null;
  try {
    if (cmd.control !== null) server = await ControlServer.listen(cmd.control, host, { version: deps.version ?? 'unknown' });
    const target = cmd.console;
    if (target !== null) {
      // On a terminal the console escapes work as for boot: Ctrl-A x ends the run (exit 0), Ctrl-A s
      // prints the statistics so far on stderr.
      detachInput = io.attachInput(
        { open: () => {}, push: (b) => host.consoleInput(target, b), end: () => {} },
        {
          quit: () => {
            quitByEscape = true;
            host.interrupt();
          },
          stats: () => {
            void host.domstats().then(
              (s) => io.stderr.write(formatHostStatsText(s, { harts: cfg.harts, ramBytes: cfg.ramBytes, end: 'running' })),
              () => {},
            );
          },
        },
      );
    }
    detachInterrupt = io.onInterrupt(() => host.interrupt());
    // --trace-out, --report, --progress (src/cli/observe.ts).
    observation = observeHost(host, cmd.observe, { stderr: io.stderr, stdout: io.stdout, consoleInput: cmd.console !== null && io.interactive === true });
    result = await host.run({ maxInsns: cmd.maxInsns, maxCycles: cmd.maxCycles, onConsole: (n, b) => mux.push(n, b), pace: hostPace(cmd, cfg),
      ...(cmd.gdb ? { gdb: { ...cmd.gdb, wait: cmd.gdbWait === true, listening: (port: number) => io.stderr.write(`cyclevisor: gdb server on tcp::${port}${cmd.gdbWait ? ' (waiting for gdb: -S)' : ''}\n`) } } : {}),
    });
  } catch (e) {
    if (statsFd !== null) closeSync(statsFd);
    throw e;
  } finally {
    detachInterrupt();
    detachInput();
    observation?.stopProgress();
    mux.end();
    await server?.close();
  }

  if (quitByEscape && result.end === 'interrupted') io.stderr.write('cyclevisor: terminated by Ctrl-A x\n');
  for (const v of result.vms) {
    if (v.state === 'crashed' || v.reason === 'crashed') io.stderr.write(`cyclevisor: ${v.name}: crashed\n`);
  }
  if (result.end === 'max-insns' || result.end === 'max-cycles') io.stderr.write(`cyclevisor: --${result.end} ran out (host total)\n`);

  const totals = {
    harts: cfg.harts,
    ramBytes: cfg.ramBytes,
    ...(result.cycles !== undefined ? { cycles: result.cycles } : {}),
    ...(result.instructions !== undefined ? { instructions: result.instructions } : {}),
    end: result.end,
  };
  try {
    const stats = await host.domstats();
    const text = cmd.stats === 'json' ? formatHostStatsJson(stats, totals) : formatHostStatsText(stats, totals);
    await observation?.finish(formatHostStatsText(stats, totals));
    if (statsFd !== null) writeSync(statsFd, text);
    else io.stdout.write(text);
  } finally {
    if (statsFd !== null) closeSync(statsFd);
  }
  return quitByEscape && result.end === 'interrupted' ? 0 : hostExitCode(result);
}

// ---------------------------------------------------------------------------------------------
// ctl
// ---------------------------------------------------------------------------------------------

/** `virsh list --all`: libvirt's vshTable layout (cells ' %s', two spaces between, dashes width+3). */
export function formatList(doms: readonly DomainSummary[]): string {
  const rows = [['Id', 'Name', 'State'], ...doms.map((d) => [d.id === null ? '-' : String(d.id), d.name, d.state])];
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  const line = (r: string[]) => r.map((c, j) => ` ${j < r.length - 1 ? c.padEnd(widths[j]! + 2) : c}`).join('');
  const dashes = '-'.repeat(widths.reduce((a, w) => a + w + 3, 0));
  return [line(rows[0]!), dashes, ...rows.slice(1).map(line)].join('\n') + '\n';
}

/** `virsh dominfo`: `Label:` padded to 15, a space, the value. */
export function formatDominfo(d: DomainInfo): string {
  const kib = (b: number) => `${Math.floor(b / 1024)} KiB`;
  const rows: [string, string][] = [
    ['Id:', d.id === null ? '-' : String(d.id)],
    ['Name:', d.name],
    ['State:', d.state],
    ['Reason:', d.reason],
    ['CPU(s):', String(d.vcpus)],
    ['CPU time:', `${(d.cpuTimeNs / 1e9).toFixed(1)}s`],
    ['Max memory:', kib(d.maxMemoryBytes)],
    ['Used memory:', kib(d.usedMemoryBytes)],
    ['Persistent:', 'yes'],
    ['Autostart:', d.autostart ? 'enable' : 'disable'],
    ['Weight:', String(d.weight)],
    ['Cap:', d.cap === null ? 'none' : `${d.cap}%`],
  ];
  return rows.map(([k, v]) => `${k.padEnd(15)} ${v}`).join('\n') + '\n';
}

/** virsh's words for the lifecycle verbs. */
const DONE: Readonly<Record<string, string>> = {
  start: 'started',
  suspend: 'suspended',
  resume: 'resumed',
  shutdown: 'is being shutdown',
  reboot: 'is being rebooted',
  destroy: 'destroyed',
};

export interface CtlDeps {
  stdin?: Readable & { isTTY?: boolean; setRawMode?: (on: boolean) => unknown };
}

export async function ctlCommand(cmd: CtlCommand, io: CliIo, deps: CtlDeps = {}): Promise<number> {
  const client = await ControlClient.connect(cmd.socket);
  try {
    if (cmd.verb === 'console') return await consoleSession(client, cmd.name!, io, deps.stdin ?? process.stdin);
    const { reply, raw } = await client.request(cmd.verb, ctlArguments(cmd));
    if (cmd.json) {
      io.stdout.write(raw + '\n');
      return 'error' in reply ? 1 : 0;
    }
    if ('error' in reply) {
      io.stderr.write(`cyclevisor: ${reply.error.desc}\n`);
      return reply.error.class === 'CommandNotFound' || reply.error.class === 'GenericError' ? 2 : 1;
    }
    const ret = reply.return;
    switch (cmd.verb) {
      case 'list':
        io.stdout.write(formatList(ret as DomainSummary[]));
        break;
      case 'dominfo':
        io.stdout.write(formatDominfo(ret as DomainInfo));
        break;
      case 'domstats':
        io.stdout.write(formatDomstats(ret as DomainStats[]));
        break;
      case 'snapshot':
        io.stdout.write(`Domain snapshot ${(ret as SnapshotInfo).name} created\n`);
        break;
      case 'snapshot-list':
        io.stdout.write(formatSnapshotList(ret as SnapshotInfo[]));
        break;
      case 'snapshot-revert':
        io.stdout.write(`Domain '${cmd.name!}' reverted to snapshot ${cmd.arg!}\n`);
        break;
      case 'snapshot-delete':
        io.stdout.write(`Domain snapshot ${cmd.arg!} deleted\n`);
        break;
      case 'migrate':
        io.stdout.write(formatMigration(cmd.name!, cmd.arg!, ret as MigrationReport));
        break;
      case 'balloon':
        io.stdout.write(`Domain '${cmd.name!}' memory target set to ${formatSize(parseSize(cmd.arg!, 'balloon SIZE'))} (balloon)\n`);
        break;
      default:
        io.stdout.write(`Domain '${cmd.name!}' ${DONE[cmd.verb]!}\n`);
    }
    return 0;
  } finally {
    client.close();
  }
}

/** The request arguments of a ctl command (snapshot targets that are paths made absolute: the host's cwd is not ours). */
export function ctlArguments(cmd: CtlCommand): Record<string, unknown> | undefined {
  if (cmd.name === null) return undefined;
  const a: Record<string, unknown> = { name: cmd.name };
  const arg = cmd.arg ?? null;
  switch (cmd.verb) {
    case 'snapshot':
      a['file'] = arg !== null && (arg.includes('/') || arg.endsWith('.cvsnap')) ? resolve(arg) : arg;
      break;
    case 'snapshot-revert':
    case 'snapshot-delete':
      a['snapshot'] = arg;
      break;
    case 'balloon':
      a['size'] = parseSize(arg ?? '', 'balloon SIZE');
      break;
    case 'migrate':
      a['uri'] = arg;
      if (cmd.bandwidth != null) a['bandwidth'] = cmd.bandwidth;
      if (cmd.copyStorage) a['copyStorage'] = true;
      break;
  }
  return a;
}

/** `virsh snapshot-list`-like table: name, creation time, state, parent; '*' marks the current one. */
export function formatSnapshotList(list: readonly SnapshotInfo[]): string {
  const when = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, ' +0000');
  const rows = [['Name', 'Creation Time', 'State', 'VM time', 'Parent'], ...list.map((s) => [s.current ? `${s.name} *` : s.name, when(s.created), s.state, `${s.vmSeconds.toFixed(3)}s`, s.parent ?? '-'])];
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  const line = (r: string[]) => r.map((c, j) => ` ${j < r.length - 1 ? c.padEnd(widths[j]! + 2) : c}`).join('');
  return [line(rows[0]!), '-'.repeat(widths.reduce((a, w) => a + w + 3, 0)), ...rows.slice(1).map(line)].join('\n') + '\n';
}

/** The migration report (issue 12 scope 5). */
export function formatMigration(name: string, uri: string, r: MigrationReport): string {
  const lines = [
    `Domain '${name}' migrated to ${uri}`,
    `rounds:          ${r.rounds} (pre-copy) + stop-and-copy`,
    `pages per round: ${r.pagesPerRound.join(' ')}`,
    `bytes sent:      ${r.bytes}`,
    `link:            ${r.bandwidthBitsPerSecond / 1e6} Mbit/s (modeled)`,
    `downtime:        ${r.downtimeCycles} host cycles, ${r.downtimeMs.toFixed(1)} ms wall (guest-visible: 0, by construction)`,
    `total time:      ${r.totalCycles} host cycles, ${r.totalMs.toFixed(1)} ms wall`,
  ];
  return lines.join('\n') + '\n';
}

/** Ctrl-], as virsh console and telnet. */
export const DETACH_BYTE = 0x1d;

async function consoleSession(client: ControlClient, name: string, io: CliIo, stdin: NonNullable<CtlDeps['stdin']>): Promise<number> {
  client.expectConsole();
  const { reply } = await client.request('console', { name });
  if ('error' in reply) {
    io.stderr.write(`cyclevisor: ${reply.error.desc}\n`);
    return 1;
  }
  io.stderr.write(`Connected to domain '${name}'\nEscape character is ^] (Ctrl + ])\n`);
  const sock = client.socket;
  const early = client.takeRaw();
  if (early.length > 0) io.stdout.write(early);
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  if (raw) stdin.setRawMode!(true);
  return await new Promise<number>((resolveDone) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      stdin.off('data', onInput);
      stdin.pause();
      if (raw) stdin.setRawMode!(false);
      sock.end();
      resolveDone(0);
    };
    const onInput = (b: Buffer) => {
      const i = b.indexOf(DETACH_BYTE);
      if (i >= 0) {
        if (i > 0) sock.write(b.subarray(0, i));
        io.stderr.write('\n');
        finish();
        return;
      }
      sock.write(b);
    };
    sock.on('data', (b: Buffer) => io.stdout.write(b));
    sock.on('end', finish);
    sock.on('close', finish);
    stdin.on('data', onInput);
    stdin.on('end', () => {
      // Input ended (a pipe): keep showing output until the VM's console ends or the host goes.
      stdin.off('data', onInput);
    });
    stdin.resume();
  });
}

/** Absolute paths for arguments that name files (the host's working directory is not ours). */
export function absoluteArg(p: string): string {
  return resolve(p);
}
