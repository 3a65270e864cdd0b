/**
 * Command-line parsing for `cyclevisor`. Pure: takes argv (without node and the script), returns a
 * typed command, and throws a one-line `UserError` for every bad input.
 *
 *   cyclevisor run <elf> [options]      cyclevisor demo [options]
 *   cyclevisor boot --kernel IMAGE [--bios FILE|builtin|none] [--initrd FILE] [--append CMDLINE] ...
 *   cyclevisor dtb [-o FILE | --dts] [--smp N] [--ram SIZE] [--append CMDLINE] [--initrd FILE]
 *   cyclevisor help [boot|dtb] | --help | -h       cyclevisor --version | -V
 *
 * Options may appear anywhere after (or before) the command; `--flag=value` and `--flag value` are
 * equivalent; `--` ends option parsing (for ELF files whose name starts with a dash). `boot` follows
 * qemu-system-riscv64 -M virt's option names (-bios, -kernel, -initrd, -append, -m, -smp, -drive).
 */
import { UserError, closest, formatSize } from '../errors.js';
import { parseCpu, type CpuOptions } from '../board/cpu.js';
import { parseNetdev, type NetdevSpec } from '../net/netdev.js';
import { traceFormatOf } from '../trace/tracer.js';
import type { Tier } from '../jit/jit.js';

export const USAGE = `Usage: cyclevisor run <elf> [options]   run a bare-metal RV64 ELF program
       cyclevisor boot --kernel IMAGE [options]   boot Linux (help boot)
       cyclevisor dtb [options]          write the board's devicetree (help dtb)
       cyclevisor demo [options] | img CMD ...  demo; disk images (help img)
       cyclevisor host FILE | ctl PATH CMD  VMs on one host (help host|ctl)
       cyclevisor help [boot|dtb|host|ctl|img] | -h, --help | -V, --version

Options (run, demo):
  --ram SIZE          guest RAM, 1M..2G in 4K steps (default 128M)
  --max-insns N | --max-cycles N  stop after N instructions | virtual cycles
  --pace on|off       sleep while the guest idles (default: on for a terminal)
  --timing FILE       cycle-model overrides as JSON (see docs/TIMING.md)
  --stats text|json [--stats-file PATH]  summary (run: stderr; demo: stdout)
  --gdb tcp::PORT [-S]  run, boot, host: gdb server (-S: wait), docs/GDB.md
  --trace N [--trace-regs]  first N instructions on stderr (+ regs written)
  --mode fast|timing  timing: model the TLB too; --tier interp|jit (docs/JIT.md)
  --cpu rv64[,h=off]  ISA: rv64|rva22u64|rva22s64[,KEY=on|off] (h, zbb, ...)
  --trace-out FILE, --report FILE, --progress on|off  see docs/TRACING.md

Sizes take K, M or G (powers of 1024); stdout carries only the guest's console;
on a terminal, Ctrl-A x quits and Ctrl-A h lists the other console keys.
Exit: the guest's code; 124 --max-insns/--max-cycles ran out; 130 Ctrl-C; 2 bad
usage or input; 3 a stuck hart (hart H stuck: cause C at pc P, xtvec T).
`;

export const BOOT_USAGE = `Usage: cyclevisor boot --kernel IMAGE [options]
Boots firmware and Linux on the virt board as qemu-system-riscv64 -M virt does.

  --bios FILE|builtin|none  builtin (default): cyclevisor plays OpenSBI 1.1;
                      FILE: a raw firmware image at 0x80000000, at most 2 MiB
                      (e.g. OpenSBI fw_dynamic.bin); none: kernel in M-mode
  --kernel IMAGE      RISC-V Linux Image (arch/riscv/boot/Image), at 0x80200000
  --initrd FILE       initramfs, placed after the kernel as QEMU places it
  --append CMDLINE    kernel command line, e.g. --append "console=ttyS0"
  --ram SIZE, --smp N  guest RAM (default 256M, as QEMU's examples); harts 1..8
  --mode fast|timing  fast (default), or timing: also model the TLB
  --ad-bits hardware|fault  PTE A/D: set by hardware (default) or page faults
  --drive file=PATH[,readonly][,format=raw|qcow2]  disk image (vda, vdb, ...)
  --netdev user[,hostfwd=tcp:ADDR:PORT-:PORT]  NIC on a NAT network (QEMU -nic)
  --rtc-epoch now|SECONDS  RTC start time (default: fixed, for repeatable runs)
  --cpu rv64[,h=off]  ISA: rv64|rva22u64|rva22s64[,KEY=on|off] (h, zbb, ...)
  As for run: --pace on|off, --timing, --max-insns N, --max-cycles N, --stats,
  --stats-file, --trace[-regs], --trace-out, --report, --progress, --gdb, -S,
  --tier interp|jit (compile hot code to wasm, docs/JIT.md)

Console: on a terminal every key goes to the guest (Ctrl-C too) except Ctrl-A:
Ctrl-A x quits, Ctrl-A s prints statistics, Ctrl-A h lists the keys and
Ctrl-A Ctrl-A sends one Ctrl-A. Exit: 0 guest powered off, 124 --max-insns or
--max-cycles ran out, 2 bad usage or input, 1 unhandled M-mode trap, 3 stuck
hart (one line: hart H stuck: cause C at pc P, xtvec T).
`;

export const DTB_USAGE = `Usage: cyclevisor dtb [options]
Writes the device tree blob that cyclevisor boot hands to firmware and kernel
(like qemu-system-riscv64 -M virt,dumpdtb=FILE).

  -o, --output FILE   where to write it (default cyclevisor.dtb; - for stdout)
  --dts               write it as DTS text instead (to stdout, or to -o FILE)
  --smp N             harts, 1..8 (default 1)
  --ram SIZE          guest RAM (default 256M, as for boot)
  --append CMDLINE    kernel command line (/chosen/bootargs)
  --initrd FILE       record where boot would place this initrd (kernel at
                      0x80200000, as with --bios builtin or a firmware file)
  --timing FILE       cycle-model overrides (the timebase frequency)
  --cpu rv64[,h=off]  ISA choices, as for boot (riscv,isa says what is on)
`;

export const HOST_USAGE = `Usage: cyclevisor host FILE [options]
Runs every VM of a VM definition file (YAML or JSON; docs/VM-CONFIG.md) on one
simulated host, each VM's console on stdout under its name (web   | ...).

  --control PATH      take commands on a Unix socket (cyclevisor ctl PATH ...)
  --console NAME      send this process's stdin to VM NAME (default: no VM)
  --stats text|json   the per-VM statistics when every VM has shut off
                      (default text; json: one entry per VM under "vms")
  --stats-file PATH   write them to PATH instead of stdout
  --max-insns N, --max-cycles N   host totals; exit 124 when they run out
  --pace on|off       idle VMs keep to the wall clock (default: on with
                      --control, --console or a user network)
  --restore NAME=FILE start VM NAME from a snapshot file (repeatable)
  --tier interp|jit   every VM's execution tier (default jit; docs/JIT.md)
  --incoming tcp:HOST:PORT   accept live migrations (ctl ... migrate)
  --trace-out FILE    timeline of the run (.json or .perfetto-trace), bounded
                      by --trace-max-size SIZE, --trace-window START:END
  --report FILE.html  statistics and plots;  --progress on|off  (TRACING.md)
  --gdb tcp::PORT [-S]  gdb server: VMs are inferiors, vCPUs threads (GDB.md)

Exit: 0 every VM powered off by itself, 1 one crashed or was destroyed, 124
--max-insns/--max-cycles ran out, 2 bad usage or input (one line naming the
field, e.g. vms[1].memory: expected a size like 256M).
`;

export const CTL_USAGE = `Usage: cyclevisor ctl PATH COMMAND [NAME] [--json]
Sends one command to a host started with --control PATH (virsh-shaped output).

  list                all VMs and their states (virsh list --all)
  dominfo NAME        one VM (virsh dominfo)
  start|suspend|resume|shutdown|reboot|destroy NAME
  domstats [NAME]     statistics, libvirt names (virsh domstats)
  console NAME        attach to the VM's console; Ctrl-] detaches
  snapshot NAME FILE|SNAP   save the running VM (it keeps running)
  snapshot-list NAME  its snapshot tree (beside the definition file)
  snapshot-revert|snapshot-delete NAME SNAP
  migrate NAME tcp:HOST:PORT [--bandwidth 1G] [--copy-storage]
  balloon NAME SIZE   leave the guest SIZE of memory (virtio-balloon)
  --json              print the host's raw JSON reply instead

Exit: 0 done, 1 the host refused (one line why), 2 usage or connection error.
`;

export type StatsFormat = 'text' | 'json';

/** Settings shared by `run`, `demo` and `boot`. */
export interface RunSettings {
  /** Guest RAM in bytes: a multiple of 4 KiB in [1 MiB, 2 GiB]. */
  ramBytes: number;
  /** Stop after this many retired instructions; null = no limit. */
  maxInsns: number | null;
  /** Stop when machine time reaches this many cycles; null = no limit. */
  maxCycles: number | null;
  /** Idle pacing (--pace on|off); null = the default (on for a terminal or a host socket). */
  pace: boolean | null;
  /** Path of a timing JSON file, or null for the defaults. */
  timingFile: string | null;
  /**
   * Summary format, or null when --stats was not given. `run` and `boot` print a summary only when
   * asked (--stats or --stats-file); `demo` always prints one (text unless --stats json).
   */
  stats: StatsFormat | null;
  /** Write the summary to this file instead of the terminal; null = no file. */
  statsFile: string | null;
  /** Print the first N executed instructions (0 = no trace). */
  trace: number;
  /** With a trace: also print the registers each instruction wrote and the privilege mode. */
  traceRegs: boolean;
  /** 'timing' adds the modeled TLB (timing file `tlb` section) and its statistics. */
  mode: MachineMode;
  /** --tier: execution tier (issue 14, docs/JIT.md); absent = the default. */
  tier?: Tier;
  /** `--cpu rv64[,key=value]...`: ISA choices; an absent key takes its default. */
  cpu: CpuOptions;
  /** `--gdb tcp::PORT` (QEMU -gdb): the gdb stub's address; null = none. */
  gdb: { host: string; port: number } | null;
  /** `-S`: wait for gdb before the first instruction. */
  gdbWait: boolean;
  /** --trace-out, --trace-max-size, --trace-window, --report, --progress; absent when none given. */
  observe?: ObserveSettings;
}

/** Run observation (issue 16; docs/TRACING.md). Each field is absent when its option was not given. */
export interface ObserveSettings {
  /** --trace-out PATH: `.json` (Chrome trace events) or `.perfetto-trace` (Perfetto protobuf). */
  traceOut?: string;
  /** --trace-max-size SIZE: bytes. */
  traceMaxBytes?: number;
  /** --trace-window START:END in virtual time, as ns (END may be Infinity). */
  traceWindow?: { startNs: number; endNs: number };
  /** --report PATH: the HTML report. */
  report?: string;
  /** --progress on|off (absent: automatic). */
  progress?: boolean;
}

export interface RunCommand extends RunSettings {
  command: 'run';
  elf: string;
}
export interface DemoCommand extends RunSettings {
  command: 'demo';
}

/** A `--drive file=PATH[,readonly][,format=raw|qcow2]`: a disk image for virtio-blk. */
export interface DriveSpec {
  path: string;
  readOnly: boolean;
  /**
   * 'raw' when given as format=raw: the image's format is not probed (QEMU's behaviour), so a raw
   * disk whose first bytes happen to look like a qcow2 header is still used as raw. 'qcow2': the
   * header must be qcow2's. Absent: probed (raw or qcow2; another known format such as VMDK, VDI,
   * VHD(X), QED or LUKS is refused), and a raw image probed so may not get a format header
   * written into its sector 0 by the guest (QEMU's rule).
   */
  format?: 'raw' | 'qcow2';
}

export type MachineMode = 'fast' | 'timing';

export interface BootCommand extends RunSettings {
  command: 'boot';
  /** 'builtin' (cyclevisor's SBI), 'none', or the path of a raw firmware image. */
  bios: string;
  /** Kernel Image path; null only with a firmware file (which then runs alone). */
  kernel: string | null;
  initrd: string | null;
  /** Kernel command line; null = no /chosen/bootargs (as QEMU without -append). */
  append: string | null;
  /** Harts, 1..MAX_SMP. */
  harts: number;
  /** PTE A/D bits: set by hardware (Svadu, QEMU's behaviour) or a page fault when clear (Svade). */
  ad: 'hardware' | 'fault';
  drives: DriveSpec[];
  /** `--netdev user,...`: virtio-net NICs on user-mode networks (eth0, eth1, ...); absent = none. */
  netdevs?: NetdevSpec[];
  /** RTC start: 'now', seconds since the epoch, or null for the device's fixed default. */
  rtcEpoch: 'now' | number | null;
}

export interface DtbCommand {
  command: 'dtb';
  ramBytes: number;
  harts: number;
  append: string | null;
  initrd: string | null;
  timingFile: string | null;
  /** Output path ('-' = stdout); null = the default (cyclevisor.dtb, or stdout with --dts). */
  output: string | null;
  /** Write DTS text instead of the binary blob. */
  dts: boolean;
  /** `--cpu`: ISA choices (what riscv,isa says). */
  cpu: CpuOptions;
}

export interface HostCommand {
  command: 'host';
  file: string;
  control: string | null;
  console: string | null;
  /** null: text (the table is always printed at the end). */
  stats: StatsFormat | null;
  statsFile: string | null;
  maxInsns: number | null;
  maxCycles: number | null;
  /** Idle pacing (--pace on|off); null = the default (on with --control, --console or a user network). */
  pace: boolean | null;
  /** --restore NAME=FILE (issue 12), files as given. */
  restore: Array<{ name: string; file: string }>;
  /** --incoming tcp:HOST:PORT (issue 12). */
  incoming: string | null;
  /** --trace-out, --report, --progress (issue 16); absent when none given. */
  observe?: ObserveSettings;
  /** --gdb tcp::PORT [-S] (issue 16): the host's gdb stub (src/debug/host-gdbstub.ts); absent: none. */
  gdb?: { host: string; port: number };
  gdbWait?: boolean;
  /** --tier: every VM's execution tier (docs/JIT.md); absent = the default. */
  tier?: Tier;
}

export const CTL_COMMANDS = ['list', 'dominfo', 'start', 'suspend', 'resume', 'shutdown', 'reboot', 'destroy', 'domstats', 'console', 'snapshot', 'snapshot-list', 'snapshot-revert', 'snapshot-delete', 'migrate', 'balloon'] as const;
/** ctl commands that take a second argument after the domain name (issue 12). */
const CTL_SECOND: Partial<Record<string, string>> = { balloon: 'SIZE', snapshot: 'FILE|SNAP', 'snapshot-revert': 'SNAP', 'snapshot-delete': 'SNAP', migrate: 'tcp:HOST:PORT' };
export type CtlVerb = (typeof CTL_COMMANDS)[number];

export interface CtlCommand {
  command: 'ctl';
  socket: string;
  verb: CtlVerb;
  name: string | null;
  json: boolean;
  /** The second argument of snapshot / snapshot-revert / snapshot-delete / migrate. */
  arg?: string | null;
  /** migrate --bandwidth (bits per second), --copy-storage. */
  bandwidth?: number | null;
  copyStorage?: boolean;
}

export type HelpTopic = 'boot' | 'dtb' | 'host' | 'ctl' | 'img';
export interface HelpCommand {
  command: 'help';
  /** Command-specific help (`boot --help`, `help dtb`); absent for the general usage. */
  topic?: HelpTopic;
}

export type CliCommand = RunCommand | DemoCommand | BootCommand | DtbCommand | HostCommand | CtlCommand | HelpCommand | { command: 'version' };

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const DEFAULT_RAM = 128 * MiB;
/**
 * `boot` and `dtb` default to 256 MiB: the size QEMU's Linux examples use (`-m 256M`, also in
 * /work/shared/guests/README.md), so the same kernel and initrd see the same memory. (QEMU's own
 * default for -M virt is 128 MiB; a Debian-style initramfs plus page cache is tight there.)
 */
export const BOOT_DEFAULT_RAM = 256 * MiB;
export const MIN_RAM = 1 * MiB;
export const MAX_RAM = 2 * GiB;
export const RAM_ALIGN = 4 * KiB;
/** Harts the virt board models (--smp). */
export const MAX_SMP = 8;
/** virtio-mmio slots on the board, one of which holds virtio-rng. */
export const MAX_DRIVES = 7;
export const DEFAULT_DTB_FILE = 'cyclevisor.dtb';

export const COMMANDS = ['run', 'boot', 'dtb', 'demo', 'host', 'ctl', 'help'] as const;
type CommandName = 'run' | 'demo' | 'boot' | 'dtb' | 'host' | 'ctl';

interface OptionSpec {
  /** Example for "needs a value" messages; absent for flags without a value. */
  example?: string;
  /** May be given more than once (values are collected in order). */
  repeat?: boolean;
  /** An empty value is meaningful (`--append ""`). */
  allowEmpty?: boolean;
  /** The commands that take it. */
  commands: readonly CommandName[];
}

const RUNLIKE: readonly CommandName[] = ['run', 'demo', 'boot'];
const HOSTLIKE: readonly CommandName[] = ['run', 'demo', 'boot', 'host'];
const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  '--ram': { example: '--ram 128M', commands: ['run', 'demo', 'boot', 'dtb'] },
  '--max-insns': { example: '--max-insns 1e9', commands: HOSTLIKE },
  '--timing': { example: '--timing u74.json', commands: ['run', 'demo', 'boot', 'dtb'] },
  '--stats': { example: '--stats json', commands: HOSTLIKE },
  '--stats-file': { example: '--stats-file stats.json', commands: HOSTLIKE },
  '--trace': { example: '--trace 100', commands: RUNLIKE },
  // After the older options: a typo equally close to two names suggests the older one.
  '--max-cycles': { example: '--max-cycles 1e9', commands: HOSTLIKE },
  '--pace': { example: '--pace on', commands: [...RUNLIKE, 'host'] },
  '--cpu': { example: '--cpu rv64,h=off', commands: ['run', 'boot', 'dtb'] },
  '--bios': { example: '--bios fw_dynamic.bin', commands: ['boot'] },
  '--kernel': { example: '--kernel Image', commands: ['boot'] },
  '--initrd': { example: '--initrd initramfs.cpio.gz', commands: ['boot', 'dtb'] },
  '--append': { example: '--append "console=ttyS0"', allowEmpty: true, commands: ['boot', 'dtb'] },
  '--smp': { example: '--smp 2', commands: ['boot', 'dtb'] },
  '--mode': { example: '--mode timing', commands: RUNLIKE },
  '--tier': { example: '--tier jit', commands: HOSTLIKE },
  '--trace-regs': { commands: RUNLIKE },
  '--ad-bits': { example: '--ad-bits fault', commands: ['boot'] },
  '--drive': { example: '--drive file=disk.img', repeat: true, commands: ['boot'] },
  '--netdev': { example: '--netdev user', repeat: true, commands: ['boot'] },
  '--rtc-epoch': { example: '--rtc-epoch now', commands: ['boot'] },
  '--output': { example: '-o board.dtb', commands: ['dtb'] },
  '--dts': { commands: ['dtb'] },
  '--control': { example: '--control cv.sock', commands: ['host'] },
  '--console': { example: '--console web', commands: ['host'] },
  '--json': { commands: ['ctl'] },
  '--restore': { example: '--restore web=web.cvsnap', repeat: true, commands: ['host'] },
  '--incoming': { example: '--incoming tcp:127.0.0.1:7777', commands: ['host'] },
  '--bandwidth': { example: '--bandwidth 1G', commands: ['ctl'] },
  '--copy-storage': { commands: ['ctl'] },
  '--trace-out': { example: '--trace-out run.perfetto-trace', commands: ['run', 'boot', 'host'] },
  '--trace-max-size': { example: '--trace-max-size 64M', commands: ['run', 'boot', 'host'] },
  '--trace-window': { example: '--trace-window 0.5:2', commands: ['run', 'boot', 'host'] },
  '--report': { example: '--report run.html', commands: ['run', 'boot', 'host'] },
  '--progress': { example: '--progress on', commands: ['run', 'boot', 'host'] },
  '--gdb': { example: '--gdb tcp::1234', commands: ['run', 'boot', 'host'] },
  '-S': { commands: ['run', 'boot', 'host'] },
};
/** Short spellings. */
const ALIASES: Readonly<Record<string, string>> = { '-o': '--output' };
const ALL_OPTIONS = [...Object.keys(OPTIONS).filter((o) => o.startsWith('--')), '--help', '--version'];

const SEE_HELP = '(see cyclevisor --help)';

export function defaultRunSettings(): RunSettings {
  return { ramBytes: DEFAULT_RAM, maxInsns: null, maxCycles: null, pace: null, timingFile: null, stats: null, statsFile: null, trace: 0, traceRegs: false, mode: 'fast', cpu: {}, gdb: null, gdbWait: false };
}

// ---------------------------------------------------------------------------------------------
// Numbers and sizes
// ---------------------------------------------------------------------------------------------

const SIZE_RE = /^(\d+(?:_\d+)*)(?:\.(\d+))?\s*([kmgt]?)(i?b)?$/i;
const UNIT_SHIFT: Readonly<Record<string, bigint>> = { '': 0n, k: 10n, m: 20n, g: 30n, t: 40n };

/**
 * Parses a byte size: plain bytes ("65536"), or a number with K, M, G (or T), optionally followed
 * by "iB" or "B", case-insensitive ("128M", "128MiB", "128mb", "1.5G"). Units are powers of 1024,
 * as in QEMU's -m. `what` (e.g. "--ram") is used in the error message.
 */
export function parseSize(text: string, what?: string): number {
  const t = text.trim();
  const m = SIZE_RE.exec(t);
  const bad = (): never => {
    throw new UserError(
      `invalid size '${text}'${what ? ` for ${what}` : ''} (expected bytes or a number with K, M or G, e.g. 128M or 1GiB)`,
    );
  };
  if (!m) return bad();
  const [, int, frac = '', unitRaw = '', suffix = ''] = m;
  const unit = unitRaw.toLowerCase();
  if (unit === '' && suffix.toLowerCase() === 'ib') return bad();
  const digits = BigInt((int! + frac).replace(/_/g, ''));
  const scaled = digits << UNIT_SHIFT[unit]!;
  const div = 10n ** BigInt(frac.length);
  if (scaled % div !== 0n) {
    throw new UserError(`invalid size '${text}'${what ? ` for ${what}` : ''}: not a whole number of bytes`);
  }
  const bytes = scaled / div;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UserError(`size '${text}'${what ? ` for ${what}` : ''} is too large`);
  }
  return Number(bytes);
}

/** Parses and validates a RAM size: a multiple of 4 KiB between 1 MiB and 2 GiB. */
export function parseRamSize(text: string): number {
  const bytes = parseSize(text, '--ram');
  const limits = `RAM must be between ${formatSize(MIN_RAM)} and ${formatSize(MAX_RAM)}`;
  if (bytes < MIN_RAM) throw new UserError(`--ram ${text} (${formatSize(bytes)}) is too small: ${limits}`);
  if (bytes > MAX_RAM) throw new UserError(`--ram ${text} (${formatSize(bytes)}) is too large: ${limits}`);
  if (bytes % RAM_ALIGN !== 0) {
    throw new UserError(`--ram ${text} (${bytes} bytes) is not a multiple of 4 KiB (pages); try ${formatSize(Math.ceil(bytes / RAM_ALIGN) * RAM_ALIGN)}`);
  }
  return bytes;
}

const COUNT_RE = /^(\d+(?:_\d+)*)(?:\.(\d+(?:_\d+)*))?(?:e\+?(\d+))?$/i;

/**
 * Parses a whole number: digits with optional `_` separators, or scientific forms whose value is
 * a whole number ("1e9", "2.5e3"). Rejects fractions, negatives, and values above 2^53 - 1.
 * `min` is 1 for counts that must be positive and 0 for non-negative ones.
 */
export function parseCount(text: string, flag: string, min: 0 | 1): number {
  const t = text.trim();
  const kind = min === 1 ? 'a positive whole number' : 'a whole number (0 or more)';
  if (/^-/.test(t)) throw new UserError(`${flag} must be ${kind}, got '${text}'`);
  const m = COUNT_RE.exec(t);
  if (!m) throw new UserError(`${flag} expects ${kind} like 1000000, 1_000_000 or 1e6; got '${text}'`);
  const [, int, frac = '', expRaw = '0'] = m;
  const fracDigits = frac.replace(/_/g, '');
  const exp = Number(expRaw) - fracDigits.length;
  if (Number(expRaw) > 30) throw new UserError(`${flag} ${text} is too large (maximum ${Number.MAX_SAFE_INTEGER})`);
  let value = BigInt(int!.replace(/_/g, '') + fracDigits);
  if (exp >= 0) {
    value *= 10n ** BigInt(exp);
  } else {
    const div = 10n ** BigInt(-exp);
    if (value % div !== 0n) throw new UserError(`${flag} must be a whole number, got '${text}'`);
    value /= div;
  }
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UserError(`${flag} ${text} is too large (maximum ${Number.MAX_SAFE_INTEGER})`);
  }
  if (value < BigInt(min)) throw new UserError(`${flag} must be ${kind}, got '${text}'`);
  return Number(value);
}

// ---------------------------------------------------------------------------------------------
// boot values
// ---------------------------------------------------------------------------------------------

/** --smp: a hart count from 1 to MAX_SMP. */
export function parseSmp(text: string): number {
  const bad = () => new UserError(`--smp expects a number of harts from 1 to ${MAX_SMP}, got '${text}'`);
  let n: number;
  try {
    n = parseCount(text, '--smp', 0);
  } catch {
    throw bad();
  }
  if (n < 1 || n > MAX_SMP) throw bad();
  return n;
}

export function parseMode(text: string): MachineMode {
  const v = text.trim().toLowerCase();
  if (v !== 'fast' && v !== 'timing') throw new UserError(`--mode must be 'fast' or 'timing', got '${text}'`);
  return v;
}

/** --rtc-epoch: 'now' or whole seconds since 1970-01-01 UTC. */
export function parseRtcEpoch(text: string): 'now' | number {
  if (text.trim().toLowerCase() === 'now') return 'now';
  try {
    return parseCount(text, '--rtc-epoch', 0);
  } catch {
    throw new UserError(`--rtc-epoch expects 'now' or seconds since 1970 (e.g. 1700000000), got '${text}'`);
  }
}

const ON = ['on', 'yes', 'true', '1'];
const OFF = ['off', 'no', 'false', '0'];

/** --pace: on or off (yes/no, true/false, 1/0 accepted too). */
export function parsePace(text: string): boolean {
  return parseOnOff(text, '--pace');
}

export function parseOnOff(text: string, flag: string): boolean {
  const v = text.trim().toLowerCase();
  if (ON.includes(v)) return true;
  if (OFF.includes(v)) return false;
  throw new UserError(`${flag} must be 'on' or 'off', got '${text}'`);
}

/** One end of --trace-window: seconds of virtual time, or with a unit (s, ms, us, ns). */
function parseVirtualTime(text: string, whole: string): number {
  const m = /^(\d+(?:\.\d*)?|\.\d+)(s|ms|us|ns)?$/.exec(text.trim());
  if (!m) throw new UserError(`--trace-window ${whole}: expected START:END in virtual seconds (e.g. 0.5:2, 100ms:1s, :3), got '${text}'`);
  const scale = { s: 1e9, ms: 1e6, us: 1e3, ns: 1 }[(m[2] ?? 's') as 's' | 'ms' | 'us' | 'ns'];
  return Number(m[1]) * scale;
}

/**
 * --trace-window START:END: the virtual-time window the trace records, in seconds by default
 * (`0.5:2`, `100ms:250ms`); either end may be left out (`:1` from the start, `2:` to the end).
 */
export function parseTraceWindow(text: string): { startNs: number; endNs: number } {
  const i = text.indexOf(':');
  if (i < 0) throw new UserError(`--trace-window ${text}: expected START:END in virtual seconds (e.g. 0.5:2, 100ms:1s, :3)`);
  const a = text.slice(0, i).trim();
  const b = text.slice(i + 1).trim();
  const startNs = a === '' ? 0 : parseVirtualTime(a, text);
  const endNs = b === '' ? Infinity : parseVirtualTime(b, text);
  if (!(endNs > startNs)) throw new UserError(`--trace-window ${text}: END must be after START`);
  return { startNs, endNs };
}

/**
 * Parses a --drive value the way QEMU's -drive reads its option string: comma-separated `key=value`
 * items, `,,` for a comma inside a value. Keys: `file=PATH` (required), `readonly` or
 * `readonly=on|off`, and for QEMU command lines `format=raw` and `if=virtio` (the only ones we
 * model).
 */
export function parseDrive(text: string): DriveSpec {
  const usage = 'expected file=PATH[,readonly]';
  const items: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === ',' && text[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (c === ',') {
      items.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  items.push(cur);
  let path: string | null = null;
  let readOnly = false;
  let format: 'raw' | 'qcow2' | null = null;
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? null : item.slice(eq + 1);
    switch (key) {
      case 'file':
        if (value === null || value === '') throw new UserError(`--drive ${text}: file= needs a path (${usage})`);
        if (path !== null) throw new UserError(`--drive ${text}: file= given twice`);
        path = value;
        break;
      case 'readonly': {
        const v = value?.trim().toLowerCase();
        if (v === undefined || ON.includes(v)) readOnly = true;
        else if (OFF.includes(v)) readOnly = false;
        else throw new UserError(`--drive ${text}: readonly must be on or off, got '${value}'`);
        break;
      }
      case 'format': {
        const v = value?.trim().toLowerCase();
        if (v !== 'raw' && v !== 'qcow2') {
          throw new UserError(`--drive ${text}: format must be raw or qcow2 (or left out: probed), got format=${value ?? ''}`);
        }
        format = v;
        break;
      }
      case 'if':
        if (value?.trim().toLowerCase() !== 'virtio') {
          throw new UserError(`--drive ${text}: drives attach as virtio-blk (if=virtio), got if=${value ?? ''}`);
        }
        break;
      case '':
        throw new UserError(`--drive ${text}: empty item (${usage}; write ,, for a comma in a path)`);
      default:
        if (value === null && path === null && items.length === 1) {
          throw new UserError(`--drive ${text}: ${usage} (e.g. --drive file=${text})`);
        }
        throw new UserError(`--drive ${text}: unknown item '${item}' (${usage})`);
    }
  }
  if (path === null) throw new UserError(`--drive ${text}: no file= given (${usage})`);
  return format !== null ? { path, readOnly, format } : { path, readOnly };
}

// ---------------------------------------------------------------------------------------------
// argv
// ---------------------------------------------------------------------------------------------

function unknownOption(name: string): UserError {
  const guess = closest(name.replace(/^-+/, ''), ALL_OPTIONS.map((o) => o.slice(2)));
  const hint = guess !== undefined ? `; did you mean '--${guess}'?` : ` ${SEE_HELP}`;
  return new UserError(`unknown option '${name}'${hint}`);
}

function unknownCommand(word: string): UserError {
  const guess = closest(word, COMMANDS);
  if (guess !== undefined) return new UserError(`unknown command '${word}'; did you mean '${guess}'?`);
  if (/[./\\]/.test(word)) {
    return new UserError(`unknown command '${word}'; to run a program: cyclevisor run ${word}`);
  }
  return new UserError(`unknown command '${word}' (commands: ${COMMANDS.join(', ')}) ${SEE_HELP}`);
}

function canonical(name: string): string {
  return ALIASES[name] ?? name;
}

/** The command word (first positional), skipping option values; for `boot --help`. */
function commandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return argv[i + 1];
    if (a === '-' || !a.startsWith('-')) return a;
    const spec = OPTIONS[canonical(a)];
    if (spec?.example !== undefined) i++; // `--flag value`
  }
  return undefined;
}

function helpFor(word: string | undefined): HelpCommand {
  return word === 'boot' || word === 'dtb' || word === 'host' || word === 'ctl' || word === 'img' ? { command: 'help', topic: word } : { command: 'help' };
}

function listCommands(cs: readonly CommandName[]): string {
  const q = cs.map((c) => `'${c}'`);
  return q.length === 1 ? q[0]! : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]!}`;
}

const CTL_SHAPE = 'usage: cyclevisor ctl PATH COMMAND [NAME] [--json]';

function parseCtl(rest: readonly string[], json: boolean, values: ReadonlyMap<string, string[]> = new Map()): CtlCommand {
  const [socket, verbWord, name, second, third] = rest;
  const secondWhat = verbWord === undefined ? undefined : CTL_SECOND[verbWord];
  const extra = secondWhat !== undefined ? third : second;
  if (socket === undefined) throw new UserError(`missing control socket path (${CTL_SHAPE})`);
  if (verbWord === undefined) throw new UserError(`missing command (commands: ${CTL_COMMANDS.join(', ')}; ${CTL_SHAPE})`);
  const verb = CTL_COMMANDS.find((c) => c === verbWord);
  if (verb === undefined) {
    const guess = closest(verbWord, CTL_COMMANDS);
    throw new UserError(`unknown ctl command '${verbWord}'${guess !== undefined ? `; did you mean '${guess}'?` : ` (commands: ${CTL_COMMANDS.join(', ')})`}`);
  }
  if (extra !== undefined) throw new UserError(`unexpected argument '${extra}': ctl ${verb} takes at most one domain name`);
  const needs = verb === 'list' ? 'none' : verb === 'domstats' ? 'optional' : 'required';
  if (needs === 'none' && name !== undefined) throw new UserError(`unexpected argument '${name}': ctl list takes no domain name`);
  if (needs === 'required' && name === undefined) throw new UserError(`ctl ${verb} needs a domain name (cyclevisor ctl PATH ${verb} NAME)`);
  if (verb === 'console' && json) throw new UserError('--json does not apply to console');
  if (secondWhat !== undefined && second === undefined) throw new UserError(`ctl ${verb} needs ${secondWhat} after the domain name (cyclevisor ctl PATH ${verb} NAME ${secondWhat})`);
  if (verb !== 'migrate' && (values.has('--bandwidth') || values.has('--copy-storage'))) throw new UserError(`--bandwidth and --copy-storage are for ctl migrate`);
  if (verb === 'balloon') parseSize(second!, 'balloon SIZE'); // a bad size is a usage error (exit 2)
  const bw = values.get('--bandwidth')?.[0];
  return {
    command: 'ctl',
    socket,
    verb,
    name: name ?? null,
    json,
    ...(secondWhat !== undefined ? { arg: second!, bandwidth: bw !== undefined ? parseBandwidth(bw) : null, copyStorage: values.has('--copy-storage') } : {}),
  };
}

/** `--bandwidth 1G`: bits per second, with k/M/G (powers of 1000, as link speeds) and an optional 'bit/s'. */
export function parseBandwidth(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:bit\/s|bps|b)?$/.exec(v.trim());
  const mult = m ? ({ '': 1, k: 1e3, m: 1e6, g: 1e9 } as Record<string, number>)[m[2]!.toLowerCase()]! : 0;
  const n = m ? Number(m[1]) * mult : NaN;
  if (!(n >= 1000 && n <= 1e12)) throw new UserError(`--bandwidth: expected a link speed like 1G or 100M (bits per second, 1k to 1000G), got '${v}'`);
  return n;
}

/** `--gdb tcp::PORT`, `tcp:HOST:PORT` or `:PORT` (QEMU's -gdb); port 0 picks a free port. */
function parseGdbSpec(v: string): { host: string; port: number } {
  const m = /^(?:tcp:)?([^:]*):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new UserError(`--gdb: expected tcp::PORT or tcp:HOST:PORT (e.g. --gdb tcp::1234), got '${v}'`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

/** `--restore NAME=FILE`. */
function parseRestore(v: string): { name: string; file: string } {
  const eq = v.indexOf('=');
  if (eq <= 0 || eq === v.length - 1) throw new UserError(`--restore: expected NAME=FILE (e.g. --restore web=web.cvsnap), got '${v}'`);
  return { name: v.slice(0, eq), file: v.slice(eq + 1) };
}

/** Parses argv (process.argv.slice(2)) into a command. Throws `UserError` on any bad input. */
export function parseArgs(argv: readonly string[]): CliCommand {
  // --help / --version anywhere before `--` win over everything else (as in most tools).
  const endOfOptions = argv.indexOf('--');
  const optionPart = endOfOptions < 0 ? argv : argv.slice(0, endOfOptions);
  if (optionPart.some((a) => a === '--help' || a === '-h')) return helpFor(commandWord(argv));
  if (optionPart.some((a) => a === '--version' || a === '-V')) return { command: 'version' };

  const positionals: string[] = [];
  const values = new Map<string, string[]>();
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (onlyPositionals || arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const given = eq >= 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg;
    if (given === '--help' || given === '--version') throw new UserError(`option ${given} does not take a value`);
    const name = canonical(given);
    const spec = OPTIONS[name];
    if (spec === undefined) throw unknownOption(given);
    let value: string;
    if (spec.example === undefined) {
      if (given !== arg) throw new UserError(`option ${given} does not take a value`);
      value = '';
    } else if (given !== arg) {
      value = arg.slice(eq + 1);
      if (value === '' && !spec.allowEmpty) throw new UserError(`option ${given} needs a value (e.g. ${spec.example})`);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--') || (next === '' && !spec.allowEmpty)) {
        throw new UserError(`option ${given} needs a value (e.g. ${spec.example})`);
      }
      value = next;
      i++;
    }
    const list = values.get(name);
    if (list && !spec.repeat) throw new UserError(`option ${given} given more than once`);
    if (list) list.push(value);
    else values.set(name, [value]);
  }

  const [command, ...rest] = positionals;
  if (command === undefined) {
    throw new UserError(`no command given (usage: cyclevisor run <elf> [options] | cyclevisor boot --kernel IMAGE | cyclevisor --help)`);
  }
  if (command === 'help') return helpFor(rest[0]);
  if (command !== 'run' && command !== 'demo' && command !== 'boot' && command !== 'dtb' && command !== 'host' && command !== 'ctl') throw unknownCommand(command);

  for (const name of values.keys()) {
    const spec = OPTIONS[name]!;
    if (!spec.commands.includes(command)) {
      const shown = name === '--output' ? '-o/--output' : name;
      throw new UserError(`option ${shown} is for ${listCommands(spec.commands)}, not '${command}' ${SEE_HELP}`);
    }
  }
  const one = (name: string): string | undefined => values.get(name)?.[0];

  const settings = defaultRunSettings();
  if (command === 'boot' || command === 'dtb') settings.ramBytes = BOOT_DEFAULT_RAM;
  for (const [name, list] of values) {
    const value = list[0]!;
    switch (name) {
      case '--ram':
        settings.ramBytes = parseRamSize(value);
        break;
      case '--max-insns':
        settings.maxInsns = parseCount(value, '--max-insns', 1);
        break;
      case '--max-cycles':
        settings.maxCycles = parseCount(value, '--max-cycles', 1);
        break;
      case '--pace':
        settings.pace = parsePace(value);
        break;
      case '--trace':
        settings.trace = parseCount(value, '--trace', 0);
        break;
      case '--timing':
        settings.timingFile = value;
        break;
      case '--mode':
        settings.mode = parseMode(value);
        break;
      case '--tier':
        if (value !== 'interp' && value !== 'jit') throw new UserError(`--tier must be 'interp' or 'jit', got '${value}'`);
        settings.tier = value;
        break;
      case '--trace-regs':
        settings.traceRegs = true;
        break;
      case '--stats-file':
        settings.statsFile = value;
        break;
      case '--cpu':
        settings.cpu = parseCpu(value);
        break;
      case '--trace-out':
        if (traceFormatOf(value) === null) throw new UserError(`--trace-out ${value}: the name must end in .json (Chrome trace events) or .perfetto-trace (Perfetto)`);
        (settings.observe ??= {}).traceOut = value;
        break;
      case '--trace-max-size': {
        const n = parseSize(value, '--trace-max-size');
        if (n < 4096) throw new UserError(`--trace-max-size ${value} is too small (at least 4K)`);
        (settings.observe ??= {}).traceMaxBytes = n;
        break;
      }
      case '--trace-window':
        (settings.observe ??= {}).traceWindow = parseTraceWindow(value);
        break;
      case '--report':
        (settings.observe ??= {}).report = value;
        break;
      case '--progress':
        (settings.observe ??= {}).progress = parseOnOff(value, '--progress');
        break;
      case '--gdb':
        settings.gdb = parseGdbSpec(value);
        break;
      case '-S':
        settings.gdbWait = true;
        break;
      case '--stats': {
        const v = value.toLowerCase();
        if (v !== 'text' && v !== 'json') {
          throw new UserError(`--stats must be 'text' or 'json', got '${value}'`);
        }
        settings.stats = v;
        break;
      }
    }
  }

  if (settings.observe && (settings.observe.traceMaxBytes !== undefined || settings.observe.traceWindow) && !settings.observe.traceOut) {
    throw new UserError('--trace-max-size and --trace-window bound a --trace-out FILE (give one)');
  }
  if (command === 'host') {
    const [file, extra] = rest;
    if (file === undefined) throw new UserError('missing VM definition file (usage: cyclevisor host FILE [--control PATH] [--console NAME])');
    if (extra !== undefined) throw new UserError(`unexpected argument '${extra}': host takes one definition file (options start with --)`);
    if (settings.gdbWait && settings.gdb === null) throw new UserError('-S needs --gdb tcp::PORT (it waits for gdb to connect)');
    return {
      command: 'host',
      file,
      control: one('--control') ?? null,
      console: one('--console') ?? null,
      stats: settings.stats,
      statsFile: settings.statsFile,
      maxInsns: settings.maxInsns,
      maxCycles: settings.maxCycles,
      pace: settings.pace,
      restore: (values.get('--restore') ?? []).map(parseRestore),
      incoming: one('--incoming') ?? null,
      ...(settings.gdb !== null ? { gdb: settings.gdb, gdbWait: settings.gdbWait } : {}),
      ...(settings.observe ? { observe: settings.observe } : {}),
      ...(settings.tier ? { tier: settings.tier } : {}),
    };
  }
  if (command === 'ctl') return parseCtl(rest, values.has('--json'), values);

  if (settings.gdbWait && settings.gdb === null) throw new UserError('-S needs --gdb tcp::PORT (it waits for gdb to connect)');
  if (settings.traceRegs && settings.trace === 0) {
    throw new UserError('--trace-regs needs --trace N (the number of instructions to print)');
  }

  if (command === 'demo') {
    if (rest.length > 0) throw new UserError(`unexpected argument '${rest[0]}': demo takes no arguments`);
    return { command: 'demo', ...settings };
  }

  if (command === 'boot' || command === 'dtb') {
    if (rest.length > 0) {
      const hint = command === 'boot' ? ` (options start with --; the kernel is --kernel ${rest[0]})` : ' (options start with -)';
      throw new UserError(`unexpected argument '${rest[0]}': ${command} takes no arguments${hint}`);
    }
    const smp = one('--smp');
    const harts = smp === undefined ? 1 : parseSmp(smp);
    const append = one('--append') ?? null;
    const initrd = one('--initrd') ?? null;
    if (command === 'dtb') {
      return {
        command: 'dtb',
        ramBytes: settings.ramBytes,
        harts,
        append,
        initrd,
        timingFile: settings.timingFile,
        output: one('--output') ?? null,
        dts: values.has('--dts'),
        cpu: settings.cpu,
      };
    }
    const bios = one('--bios') ?? 'builtin';
    const kernel = one('--kernel') ?? null;
    if (kernel === null && (bios === 'builtin' || bios === 'none')) {
      throw new UserError(`missing --kernel IMAGE (usage: cyclevisor boot --kernel IMAGE [--initrd FILE] [--append CMDLINE])`);
    }
    if (initrd !== null && kernel === null) throw new UserError('--initrd needs a --kernel');
    const drives = (values.get('--drive') ?? []).map(parseDrive);
    if (drives.length > MAX_DRIVES) {
      throw new UserError(`${drives.length} --drive options: the board has room for ${MAX_DRIVES} (8 virtio-mmio slots, one holds virtio-rng)`);
    }
    const netdevs = (values.get('--netdev') ?? []).map(parseNetdev);
    if (drives.length + netdevs.length > MAX_DRIVES) {
      throw new UserError(`${drives.length} --drive and ${netdevs.length} --netdev options: the board has room for ${MAX_DRIVES} devices (8 virtio-mmio slots, one holds virtio-rng)`);
    }
    const seen = new Set<string>();
    for (const d of drives) {
      if (seen.has(d.path)) throw new UserError(`--drive file=${d.path} given twice (one image, one drive)`);
      seen.add(d.path);
    }
    const ad = one('--ad-bits');
    if (ad !== undefined && ad !== 'hardware' && ad !== 'fault') throw new UserError(`--ad-bits must be 'hardware' or 'fault', got '${ad}'`);
    const epoch = one('--rtc-epoch');
    return {
      command: 'boot',
      ...settings,
      bios,
      kernel,
      initrd,
      append,
      harts,
      // Svade: a profile with it (--cpu rva22s64) makes `fault` the default.
      ad: ad ?? (settings.cpu?.svade ? 'fault' : 'hardware'),
      drives,
      ...(netdevs.length > 0 ? { netdevs } : {}),
      rtcEpoch: epoch === undefined ? null : parseRtcEpoch(epoch),
    };
  }

  const [elf, extra] = rest;
  if (elf === undefined) throw new UserError('missing ELF file (usage: cyclevisor run <elf> [options])');
  if (extra !== undefined) {
    throw new UserError(`unexpected argument '${extra}': run takes one ELF file (options start with --)`);
  }
  return { command: 'run', elf, ...settings };
}
