/**
 * The VM definition file of `cyclevisor host FILE` (issue 10): one simulated host and the VMs it
 * runs. YAML 1.2 (the `yaml` package; JSON is YAML too), checked in two passes:
 *
 *  1. `VmFileSchema`, a zod schema (zod: TypeScript-first, the static types come from the same
 *     declaration, and `z.toJSONSchema` publishes it as docs/vm-config.schema.json for editors and
 *     other tools): structure, types, defaults, unknown keys refused;
 *  2. `resolveHostConfig`: what a schema cannot say — sizes parsed and bounded, host RAM <= 2G,
 *     names unique, paths resolved relative to the file and checked, reserved keys refused when
 *     they would need behaviour this build does not have.
 *
 * Every refusal is one `UserError` line naming the field the way a reader finds it in the file:
 * `vms[1].memory: expected a size like 256M` (exit 2). docs/VM-CONFIG.md documents every key.
 */
import { MIN_SHADOW_PAGES, MAX_SHADOW_PAGES } from './paging.js';
import { DEFAULT_PAGES_PER_SCAN, DEFAULT_SCAN_INTERVAL } from './dedup.js';
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import * as z from 'zod';
import { UserError, closest, fileReadError, formatSize, isUserError } from '../errors.js';
import { parseSize } from '../cli/args.js';
import { parseHostForward, type HostForward } from '../net/slirp.js';
import { macFromName } from '../net/link.js';
import { macFromString, macToString } from '../net/packet.js';
import { checkDiskFormat } from '../block/open-image.js';
import { ImageFormatError } from '../../devices/image-format.js';

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
/** Host harts the simulated host machine models (as `boot --smp`). */
export const MAX_HOST_HARTS = 8;
/** vCPUs of one VM: the virt platform's hart limit. */
export const MAX_VCPUS = 8;
/**
 * Host RAM lives in the one core.wasm linear memory beside the core's own state, whose offsets are
 * 32-bit: 2 GiB is the most this build can give the host (issue 10 scope 2: "<= 2G today").
 */
export const MAX_HOST_RAM = 2 * GiB;
export const MIN_HOST_RAM = 16 * MiB;
/**
 * The VMM hands memory out in 2 MiB frames (G-stage megapages), so host RAM and each VM's memory
 * are whole multiples of 2 MiB (QEMU's -m rounds the same way for hugepage backends).
 */
export const FRAME = 2 * MiB;
export const MIN_VM_MEMORY = FRAME;
/** Xen credit scheduler's weight range and default. */
export const MIN_WEIGHT = 1;
export const MAX_WEIGHT = 65535;
export const DEFAULT_WEIGHT = 256;
/**
 * Disks and NICs of a VM: the virt platform's 8 virtio-mmio slots less virtio-rng, the guest-agent
 * virtio-console and the virtio-balloon every VM has by default (issue 12). A VM with
 * `balloon: false` has one more (MAX_DISKS + 1).
 */
export const MAX_DISKS = 5;
/** `shutdown_timeout`: virtual seconds `ctl shutdown` waits for the guest to power off (default, bounds). */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10;
export const MAX_SHUTDOWN_TIMEOUT = 3600;
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const MAX_NAME = 32;

// ---------------------------------------------------------------------------------------------
// Pass 1: the schema (published as docs/vm-config.schema.json)
// ---------------------------------------------------------------------------------------------

/** A size in the file: "256M", "1G", "1.5G", "65536", "128MiB", or a whole number of bytes. */
const SIZE_PATTERN = '^\\s*\\d+(_\\d+)*(\\.\\d+)?\\s*([KkMmGgTt]([iI]?[bB])?|[bB])?\\s*$';
const SIZE_MSG = 'expected a size like 256M';
const size = () =>
  z
    .union(
      [z.string().regex(new RegExp(SIZE_PATTERN), { error: SIZE_MSG }), z.number().int({ error: SIZE_MSG }).nonnegative({ error: SIZE_MSG })],
      { error: SIZE_MSG },
    )
    .meta({ description: 'bytes, or a number with K, M or G (powers of 1024), e.g. 256M' });

const wholeNumber = (lo: number, hi: number, what: string) => {
  const msg = `expected ${what} from ${lo} to ${hi}`;
  return z.number({ error: msg }).int({ error: msg }).min(lo, { error: msg }).max(hi, { error: msg });
};
const text = (what: string) => z.string({ error: `expected ${what}` });
const bool = () => z.boolean({ error: 'expected true or false' });

/** A disk: a raw or qcow2 image attached as virtio-blk (vda, vdb, ... in order). */
const DiskSchema = z
  .strictObject({
    file: text('a file name (a raw or qcow2 disk image)').min(1, { error: 'expected a file name (a raw or qcow2 disk image)' }),
    readonly: bool().default(false),
    // As --drive format=: absent = probed from the header (docs/DISKS.md).
    format: z.enum(['raw', 'qcow2'], { error: 'expected raw or qcow2' }).optional(),
  }, { error: 'expected a disk like { file: web.img }' })
  .meta({ description: 'a raw or qcow2 disk image attached as virtio-blk; path relative to this file' });

/** A NIC: virtio-net on the user network (NAT, hostfwd) or on a named switch shared with other VMs. */
const NicSchema = z
  .strictObject({
    network: text('a network name (user, or a switch name)').meta({ description: "'user' (NAT to the host, QEMU -nic user) or the name of a switch connecting VMs of this host" }),
    hostfwd: z
      .array(text('a forward like tcp:127.0.0.1:8080-:80'), { error: 'expected a list of forwards' })
      .optional()
      .meta({ description: 'user network only: QEMU hostfwd rules, [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport' }),
    mac: z
      .string({ error: 'expected a MAC address like 52:54:00:12:34:56' })
      .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, { error: 'expected a MAC address like 52:54:00:12:34:56' })
      .optional()
      .meta({ description: 'default: derived from the VM name (52:54:00 and three bytes of SHA-256(name/index))' }),
  })
  .meta({ description: 'a virtio-net NIC (eth0, eth1, ... in order)' });

const VmSchema = z
  .strictObject({
    name: text(`a name (letters, digits, '.', '_', '-')`),
    vcpus: wholeNumber(1, MAX_VCPUS, 'a number of vCPUs').default(1),
    memory: size(),
    kernel: text('a kernel Image file').min(1, { error: 'expected a kernel Image file' }),
    initrd: text('an initramfs file').min(1, { error: 'expected an initramfs file' }).nullable().optional(),
    cmdline: text('a kernel command line').nullable().optional(),
    weight: wholeNumber(MIN_WEIGHT, MAX_WEIGHT, 'a weight').default(DEFAULT_WEIGHT),
    cap: z
      .number({ error: 'expected a percentage of one host hart (e.g. 50), or null for none' })
      .int({ error: 'expected a whole percentage of one host hart' })
      .positive({ error: 'expected a percentage above 0 (omit cap for none)' })
      .nullable()
      .optional(),
    autostart: bool().default(true),
    disks: z.array(DiskSchema, { error: 'expected a list of disks like [ { file: web.img } ]' }).default([]),
    shutdown_timeout: z
      .number({ error: `expected a number of seconds above 0, at most ${MAX_SHUTDOWN_TIMEOUT}` })
      .positive({ error: `expected a number of seconds above 0, at most ${MAX_SHUTDOWN_TIMEOUT}` })
      .max(MAX_SHUTDOWN_TIMEOUT, { error: `expected a number of seconds above 0, at most ${MAX_SHUTDOWN_TIMEOUT}` })
      .default(DEFAULT_SHUTDOWN_TIMEOUT)
      .meta({ description: 'virtual seconds ctl shutdown waits for the guest agent to power the VM off' }),
    // Reserved for later issues (accepted in the file format now; see RESERVED below).
    paging: z.enum(['nested', 'shadow'], { error: "expected 'nested' or 'shadow'" }).optional(),
    // Shadow paging's pool of shadow page-table pages (docs/PAGING.md); only with paging: shadow.
    shadow_pages: wholeNumber(MIN_SHADOW_PAGES, MAX_SHADOW_PAGES, 'a number of 4 KiB shadow page-table pages').optional(),
    nics: z.array(NicSchema, { error: 'expected a list of NICs' }).optional(),
    balloon: bool()
      .optional()
      .meta({ description: 'a virtio-balloon device (default true; false with paging: shadow, which cannot have one yet)' }),
  }, { error: 'expected a VM like { name: web, memory: 256M, kernel: Image }' })
  .meta({ description: 'one virtual machine' });

const HostSchema = z
  .strictObject({
    harts: wholeNumber(1, MAX_HOST_HARTS, 'a number of host harts'),
    ram: size(),
    mode: z
      .enum(['fast', 'timing'], { error: "expected 'fast' or 'timing'" })
      .default('fast')
      .meta({ description: "timing: the modeled TLB (one per vCPU) and per-VM TLB and two-dimensional walk statistics, as run/boot --mode timing" }),
    // Issue 12: page deduplication (KSM's knobs: pages_to_scan, the scan interval, use_zero_pages) and overcommit.
    dedup: bool().optional().meta({ description: 'page deduplication (KSM / transparent page sharing) of the VMs\' RAM' }),
    dedup_pages_per_scan: wholeNumber(1, 1 << 20, 'a number of pages').optional().meta({ description: `pages the dedup scanner visits per scan interval (default ${DEFAULT_PAGES_PER_SCAN})` }),
    dedup_scan_interval: wholeNumber(1000, 1e12, 'a number of host cycles').optional().meta({ description: `host cycles between dedup scans (default ${DEFAULT_SCAN_INTERVAL})` }),
    dedup_zero_pages: bool().optional().meta({ description: 'pages of zeros map to one zero frame, counted apart as ksm_zero_pages (default true)' }),
    overcommit: bool().optional(),
    // Issue 11: the cost constants (as --timing).
    timing: text('a timing file (JSON, as --timing)').min(1, { error: 'expected a timing file' }).optional(),
  }, { error: 'expected a mapping like { harts: 2, ram: 1G }' })
  .meta({ description: 'the simulated host machine' });

export const VmFileSchema = z
  .strictObject({
    host: HostSchema,
    vms: z.array(VmSchema, { error: 'expected a list of VMs' }).min(1, { error: 'expected at least one VM' }),
  })
  .meta({ title: 'cyclevisor VM definition file', description: 'cyclevisor host FILE: one simulated host and its VMs (docs/VM-CONFIG.md)' });

/** The file as the schema accepts it (before sizes and paths are resolved). */
export type VmFileInput = z.input<typeof VmFileSchema>;
type VmFileParsed = z.output<typeof VmFileSchema>;

/** The JSON Schema of the file (draft 2020-12), as committed in docs/vm-config.schema.json. */
export function vmConfigJsonSchema(): object {
  const schema = z.toJSONSchema(VmFileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { ...schema, $id: 'https://cyclevisor.invalid/vm-config.schema.json' };
}

// ---------------------------------------------------------------------------------------------
// What the VMM gets
// ---------------------------------------------------------------------------------------------

export interface DiskConfig {
  /** Absolute path of a raw or qcow2 image (resolved relative to the definition file). */
  file: string;
  readonly: boolean;
  /** Given format; absent = probed. */
  format?: 'raw' | 'qcow2';
}

export interface NicConfig {
  /** 'user', or a switch name. */
  network: string;
  /** hostfwd rules (user network only), parsed. */
  hostfwd: HostForward[];
  /** The NIC's MAC (given, or derived from the VM name and the NIC's index). */
  mac: Uint8Array;
}

export interface VmConfig {
  /** Unique in the file (case-insensitively), [A-Za-z0-9][A-Za-z0-9_.-]*, at most 32 characters. */
  name: string;
  /** 1..8. */
  vcpus: number;
  /** Guest RAM in bytes (at 0x8000_0000): a multiple of 2 MiB, at most host RAM. */
  memoryBytes: number;
  /** Absolute paths. */
  kernel: string;
  initrd: string | null;
  /** Kernel command line; null = none given (no /chosen/bootargs). */
  cmdline: string | null;
  /** Relative share of host CPU (Xen credit / CFS weight), 1..65535, default 256. */
  weight: number;
  /** At most this % of one host hart (100 = one whole hart; up to 100 x vcpus); null = no cap. */
  cap: number | null;
  /** false: defined but shut off until `ctl start`. */
  autostart: boolean;
  disks: DiskConfig[];
  /** Virtual seconds `ctl shutdown` waits for the guest to power off through its agent (default 10). */
  shutdownTimeout: number;
  /** virtio-net NICs (absent = none; resolveHostConfig always fills it). */
  nics?: NicConfig[];
  /** Reserved keys at the only values this build can honour (see docs/VM-CONFIG.md). */
  /** Memory virtualization: the G-stage (default) or shadow page tables (docs/PAGING.md). */
  paging: 'nested' | 'shadow';
  /** Shadow paging's page-table pool in 4 KiB pages; null = the default (DEFAULT_SHADOW_PAGES). */
  shadowPages?: number | null;
  /** A virtio-balloon device (issue 12; default true, false with paging: shadow). */
  balloon?: boolean;
}

export interface HostConfig {
  /** Absolute path of the definition file. */
  path: string;
  /** Host harts, 1..8. */
  harts: number;
  /** Host RAM in bytes: the frame pool the VMs' memory comes from (a multiple of 2 MiB, <= 2 GiB). */
  ramBytes: number;
  /** 'timing': the modeled TLB (per vCPU) and per-VM TLB statistics; default (absent) 'fast'. */
  mode?: 'fast' | 'timing';
  vms: VmConfig[];
  /** `host.timing`: absolute path of a timing file (as --timing), or null for the defaults. */
  timingFile?: string | null;
  /** host.overcommit (issue 12): the VMs' memory may exceed host.ram. */
  overcommit?: boolean;
  /** host.dedup (issue 12 scope 2) and its host.dedup_* knobs (dedup.ts). */
  dedup?: { pagesPerScan?: number; scanInterval?: number; zeroPages?: boolean };
}

// ---------------------------------------------------------------------------------------------
// Error lines
// ---------------------------------------------------------------------------------------------

/** `vms[1].disks[0].file` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

const KEYS_AT: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(VmFileSchema.shape),
  host: Object.keys(HostSchema.shape),
  vm: Object.keys(VmSchema.shape),
  disk: Object.keys(DiskSchema.shape),
  nic: Object.keys(NicSchema.shape),
};

function knownKeys(path: readonly PropertyKey[]): readonly string[] {
  const names = path.filter((p) => typeof p === 'string');
  const last = names[names.length - 1];
  if (last === undefined) return KEYS_AT['']!;
  if (last === 'host') return KEYS_AT['host']!;
  if (last === 'vms') return KEYS_AT['vm']!;
  if (last === 'disks') return KEYS_AT['disk']!;
  if (last === 'nics') return KEYS_AT['nic']!;
  return [];
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** One line for the most useful issue: an unknown key first (a typo also makes a key "missing"). */
function issueLine(issues: readonly z.core.$ZodIssue[], input: unknown): string {
  const first = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
  if (first.code === 'unrecognized_keys') {
    const key = first.keys[0]!;
    const where = formatPath([...first.path, key]);
    const known = knownKeys(first.path);
    const guess = closest(key, known);
    const hint = guess !== undefined ? `; did you mean '${guess}'?` : known.length > 0 ? ` (known keys: ${known.join(', ')})` : '';
    return `${where}: unknown key${hint}`;
  }
  const where = formatPath(first.path) || '(top level)';
  if (first.path.length === 0 && (input === null || typeof input !== 'object' || Array.isArray(input))) {
    return `expected a mapping with keys host and vms (see docs/VM-CONFIG.md)`;
  }
  if (first.path.length > 0 && valueAt(input, first.path) === undefined) {
    return `${where}: missing (required)`;
  }
  return `${where}: ${first.message}`;
}

function fail(file: string, line: string): never {
  throw new UserError(`${file}: ${line}`);
}

// ---------------------------------------------------------------------------------------------
// Pass 2: meaning
// ---------------------------------------------------------------------------------------------

function sizeOf(v: string | number, file: string, where: string): number {
  if (typeof v === 'number') return v;
  try {
    return parseSize(v);
  } catch (e) {
    if (isUserError(e)) fail(file, `${where}: ${SIZE_MSG} (got '${v}')`);
    throw e;
  }
}

/** A path from the file, made absolute relative to the file's folder, and checked to be a readable regular file. */
function inputFile(p: string, base: string, file: string, where: string, what: string, writable = false): string {
  const abs = isAbsolute(p) ? p : resolve(base, p);
  let st;
  try {
    st = statSync(abs);
  } catch (e) {
    const err = fileReadError(p, e, what);
    if (isUserError(err)) fail(file, `${where}: ${err.message}`);
    throw err;
  }
  if (st.isDirectory()) fail(file, `${where}: ${p}: is a directory, not ${what}`);
  if (!st.isFile()) fail(file, `${where}: ${p}: not a regular file (${what} is needed)`);
  try {
    accessSync(abs, writable ? fsConstants.R_OK | fsConstants.W_OK : fsConstants.R_OK);
  } catch {
    fail(file, `${where}: ${p}: permission denied${writable ? ' (not writable; add readonly: true to attach it read-only)' : ''}`);
  }
  return abs;
}

/**
 * Checks and resolves a parsed definition (any JS value, e.g. from YAML or JSON) into the host
 * configuration. `file` names the definition in messages; relative paths are taken from `baseDir`.
 */
export function resolveHostConfig(input: unknown, file: string, baseDir: string): HostConfig {
  const r = VmFileSchema.safeParse(input);
  if (!r.success) fail(file, issueLine(r.error.issues, input));
  const doc: VmFileParsed = r.data;

  // Reserved keys: part of the format now so later issues slot in; refused where they would need
  // behaviour this build lacks, accepted at the value that means "off" (what this build does).
  for (const k of ['dedup_pages_per_scan', 'dedup_scan_interval', 'dedup_zero_pages'] as const) {
    if (doc.host[k] !== undefined && doc.host.dedup !== true) fail(file, `host.${k}: only with host.dedup: true`);
  }

  const ram = sizeOf(doc.host.ram, file, 'host.ram');
  const ramLimits = `host RAM must be between ${formatSize(MIN_HOST_RAM)} and ${formatSize(MAX_HOST_RAM)} (at most 2G today)`;
  if (ram > MAX_HOST_RAM) fail(file, `host.ram: ${formatSize(ram)} is too large: ${ramLimits}`);
  if (ram < MIN_HOST_RAM) fail(file, `host.ram: ${formatSize(ram)} is too small: ${ramLimits}`);
  if (ram % FRAME !== 0) fail(file, `host.ram: ${formatSize(ram)} is not a multiple of 2M (memory is handed out in 2 MiB frames); try ${formatSize(Math.ceil(ram / FRAME) * FRAME)}`);

  const base = baseDir;
  const names = new Map<string, number>();
  const disksSeen = new Map<string, { where: string; readonly: boolean }>();
  const macSeen = new Map<string, string>();
  const fwdSeen = new Map<string, string>();
  const vms: VmConfig[] = doc.vms.map((vm, i) => {
    const at = `vms[${i}]`;
    if (!NAME_RE.test(vm.name) || vm.name.length > MAX_NAME) {
      fail(file, `${at}.name: '${vm.name}' is not a valid name (letters, digits, '.', '_', '-', starting with a letter or digit; at most ${MAX_NAME} characters)`);
    }
    const prev = names.get(vm.name.toLowerCase());
    if (prev !== undefined) fail(file, `${at}.name: '${vm.name}' is already the name of vms[${prev}] (names are unique, ignoring case)`);
    names.set(vm.name.toLowerCase(), i);

    if (vm.shadow_pages !== undefined && vm.paging !== 'shadow') fail(file, `${at}.shadow_pages: only with paging: shadow`);
    // Ballooning and overcommit unmap and back RAM through the G-stage, which a shadow VM does not use.
    if (vm.paging === 'shadow' && vm.balloon === true) fail(file, `${at}.balloon: not supported with paging: shadow yet`);
    if (vm.paging === 'shadow' && doc.host.dedup === true) fail(file, `${at}.paging: shadow is not supported with host.dedup yet`);
    if (vm.paging === 'shadow' && doc.host.overcommit === true) fail(file, `${at}.paging: shadow is not supported with host.overcommit yet`);

    const mem = sizeOf(vm.memory, file, `${at}.memory`);
    if (mem < MIN_VM_MEMORY) fail(file, `${at}.memory: ${formatSize(mem)} is too small (at least 2M)`);
    if (mem % FRAME !== 0) fail(file, `${at}.memory: ${formatSize(mem)} is not a multiple of 2M (memory is handed out in 2 MiB frames); try ${formatSize(Math.ceil(mem / FRAME) * FRAME)}`);
    if (mem > ram) fail(file, `${at}.memory: ${formatSize(mem)} is more than host.ram (${formatSize(ram)}): it could never start`);

    if (vm.cap != null && vm.cap > 100 * vm.vcpus) {
      fail(file, `${at}.cap: ${vm.cap}% is more than ${vm.vcpus} vCPU(s) can use (at most ${100 * vm.vcpus}, i.e. 100 per vCPU)`);
    }

    const kernel = inputFile(vm.kernel, base, file, `${at}.kernel`, 'a kernel Image');
    const initrd = vm.initrd != null ? inputFile(vm.initrd, base, file, `${at}.initrd`, 'an initramfs') : null;

    // Every VM has a balloon unless it says balloon: false (a shadow VM cannot have one yet).
    const balloon = vm.balloon ?? vm.paging !== 'shadow';
    const maxDevices = MAX_DISKS + (balloon ? 0 : 1);
    if (vm.disks.length > maxDevices) fail(file, `${at}.disks: ${vm.disks.length} disks: a VM has room for ${maxDevices}${balloon ? ' (6 with balloon: false)' : ''}`);
    const disks: DiskConfig[] = vm.disks.map((d, j) => {
      const where = `${at}.disks[${j}].file`;
      const abs = inputFile(d.file, base, file, where, 'a raw disk image', !d.readonly);
      const key = `${statSync(abs).dev}:${statSync(abs).ino}`;
      const other = disksSeen.get(key);
      // One writer or many readers (the image locks say the same at run time).
      if (other !== undefined && (!d.readonly || !other.readonly)) {
        fail(file, `${where}: ${d.file} is also ${other.where}; an image shared between disks must be readonly everywhere`);
      }
      disksSeen.set(key, { where, readonly: d.readonly });
      // The format now (probe; a qcow2 header, tables and backing chain), as boot --drive does.
      try {
        checkDiskFormat(abs, { readOnly: d.readonly, ...(d.format ? { format: d.format } : {}) });
      } catch (e) {
        if (e instanceof ImageFormatError) fail(file, `${where}: ${d.file}: ${e.message}`);
        throw e;
      }
      return d.format !== undefined ? { file: abs, readonly: d.readonly, format: d.format } : { file: abs, readonly: d.readonly };
    });

    const nicList = vm.nics ?? [];
    if (vm.disks.length + nicList.length > maxDevices) {
      fail(file, `${at}.nics: ${vm.disks.length} disks and ${nicList.length} NICs: a VM has room for ${maxDevices} devices (8 virtio-mmio slots, virtio-rng${balloon ? ', virtio-console and virtio-balloon hold three' : ' and virtio-console hold two'})`);
    }
    const nics: NicConfig[] = nicList.map((n, j) => {
      const where = `${at}.nics[${j}]`;
      if (n.network !== 'user' && (!NAME_RE.test(n.network) || n.network.length > MAX_NAME)) {
        fail(file, `${where}.network: '${n.network}' is not 'user' or a switch name (letters, digits, '.', '_', '-')`);
      }
      if (n.network !== 'user' && n.hostfwd !== undefined && n.hostfwd.length > 0) {
        fail(file, `${where}.hostfwd: forwards need network: user (a switch has no host side)`);
      }
      const hostfwd = (n.hostfwd ?? []).map((h, k) => {
        try {
          return parseHostForward(h);
        } catch (e) {
          return fail(file, `${where}.hostfwd[${k}]: ${(e as Error).message}`);
        }
      });
      for (const h of hostfwd) {
        const key = `${h.proto}:${h.hostAddr}:${h.hostPort}`;
        const other = fwdSeen.get(key);
        if (other !== undefined) fail(file, `${where}.hostfwd: ${h.proto} port ${h.hostPort} is also forwarded by ${other}`);
        fwdSeen.set(key, where);
      }
      const mac = n.mac !== undefined ? macFromString(n.mac)! : macFromName(vm.name, j);
      if (mac[0] & 1) fail(file, `${where}.mac: ${n.mac} is a multicast address (the first byte must be even)`);
      const key = macToString(mac);
      const other = macSeen.get(key);
      if (other !== undefined) fail(file, `${where}.mac: ${key} is also the MAC of ${other}`);
      macSeen.set(key, where);
      return { network: n.network, hostfwd, mac };
    });

    return {
      name: vm.name,
      vcpus: vm.vcpus,
      memoryBytes: mem,
      kernel,
      initrd,
      cmdline: vm.cmdline ?? null,
      weight: vm.weight,
      cap: vm.cap ?? null,
      autostart: vm.autostart,
      disks,
      shutdownTimeout: vm.shutdown_timeout,
      nics,
      paging: vm.paging ?? 'nested',
      shadowPages: vm.shadow_pages ?? null,
      balloon,
    };
  });

  const timingFile = doc.host.timing !== undefined ? inputFile(doc.host.timing, base, file, 'host.timing', 'a timing file') : null;
  return { path: resolve(file), harts: doc.host.harts, ramBytes: ram, vms, mode: doc.host.mode ?? 'fast', timingFile, ...(doc.host.overcommit === true ? { overcommit: true } : {}),
    ...(doc.host.dedup === true
      ? {
          dedup: {
            ...(doc.host.dedup_pages_per_scan !== undefined ? { pagesPerScan: doc.host.dedup_pages_per_scan } : {}),
            ...(doc.host.dedup_scan_interval !== undefined ? { scanInterval: doc.host.dedup_scan_interval } : {}),
            ...(doc.host.dedup_zero_pages !== undefined ? { zeroPages: doc.host.dedup_zero_pages } : {}),
          },
        }
      : {}) };
}

/** Parses YAML (or JSON) text; a syntax error is one line with its line and column. */
export function parseVmFileText(source: string, file: string): unknown {
  const doc = parseDocument(source, { prettyErrors: true, uniqueKeys: true, merge: false });
  const err = doc.errors[0];
  if (err !== undefined) {
    const pos = err.linePos?.[0];
    const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
    const msg = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new UserError(`${where}: ${msg}`);
  }
  if (doc.warnings.length > 0) {
    // Unknown tags and the like: refuse rather than guess.
    throw new UserError(`${file}: ${doc.warnings[0]!.message.split('\n')[0]!}`);
  }
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
}

/** Reads, parses and checks a VM definition file. Throws a one-line `UserError` (exit 2). */
export function loadHostConfig(path: string): HostConfig {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (e) {
    throw fileReadError(path, e, 'a VM definition file');
  }
  const parsed = parseVmFileText(source, path);
  return resolveHostConfig(parsed, path, dirname(resolve(path)));
}
