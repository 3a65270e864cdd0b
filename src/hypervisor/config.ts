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
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import * as z from 'zod';
import { UserError, closest, fileReadError, formatSize, isUserError } from '../errors.js';
import { parseSize } from '../cli/args.js';

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
/** virtio-mmio slots of the virt platform, one of which holds virtio-rng (as `boot --drive`). */
export const MAX_DISKS = 7;
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

/** A disk: a raw image attached as virtio-blk (vda, vdb, ... in order). */
const DiskSchema = z
  .strictObject({
    file: text('a file name (a raw disk image)').min(1, { error: 'expected a file name (a raw disk image)' }),
    readonly: bool().default(false),
  })
  .meta({ description: 'a raw disk image attached as virtio-blk; path relative to this file' });

/** A NIC (reserved for the networking issue; accepted only as an empty list today). */
const NicSchema = z.strictObject({
  network: text('a network name (user, or a switch name)'),
  hostfwd: z.array(text('a forward like tcp:127.0.0.1:8080-:80'), { error: 'expected a list of forwards' }).optional(),
});

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
    // Reserved for later issues (accepted in the file format now; see RESERVED below).
    paging: z.enum(['nested', 'shadow'], { error: "expected 'nested' or 'shadow'" }).optional(),
    nics: z.array(NicSchema, { error: 'expected a list of NICs' }).optional(),
    balloon: bool().optional(),
  })
  .meta({ description: 'one virtual machine' });

const HostSchema = z
  .strictObject({
    harts: wholeNumber(1, MAX_HOST_HARTS, 'a number of host harts'),
    ram: size(),
    // Reserved for the overcommit issue.
    dedup: bool().optional(),
    overcommit: bool().optional(),
  })
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
  /** Absolute path of a raw image (resolved relative to the definition file). */
  file: string;
  readonly: boolean;
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
  /** Reserved keys at the only values this build can honour (see docs/VM-CONFIG.md). */
  paging: 'nested';
  /** A virtio-balloon device (issue 12; default false in this build, see docs/SNAPSHOTS.md). */
  balloon?: boolean;
}

export interface HostConfig {
  /** Absolute path of the definition file. */
  path: string;
  /** Host harts, 1..8. */
  harts: number;
  /** Host RAM in bytes: the frame pool the VMs' memory comes from (a multiple of 2 MiB, <= 2 GiB). */
  ramBytes: number;
  vms: VmConfig[];
  /** host.overcommit (issue 12): the VMs' memory may exceed host.ram. */
  overcommit?: boolean;
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
  if (doc.host.dedup === true) fail(file, 'host.dedup: not supported yet (page deduplication comes with memory overcommit)');

  const ram = sizeOf(doc.host.ram, file, 'host.ram');
  const ramLimits = `host RAM must be between ${formatSize(MIN_HOST_RAM)} and ${formatSize(MAX_HOST_RAM)} (at most 2G today)`;
  if (ram > MAX_HOST_RAM) fail(file, `host.ram: ${formatSize(ram)} is too large: ${ramLimits}`);
  if (ram < MIN_HOST_RAM) fail(file, `host.ram: ${formatSize(ram)} is too small: ${ramLimits}`);
  if (ram % FRAME !== 0) fail(file, `host.ram: ${formatSize(ram)} is not a multiple of 2M (memory is handed out in 2 MiB frames); try ${formatSize(Math.ceil(ram / FRAME) * FRAME)}`);

  const base = baseDir;
  const names = new Map<string, number>();
  const disksSeen = new Map<string, { where: string; readonly: boolean }>();
  const vms: VmConfig[] = doc.vms.map((vm, i) => {
    const at = `vms[${i}]`;
    if (!NAME_RE.test(vm.name) || vm.name.length > MAX_NAME) {
      fail(file, `${at}.name: '${vm.name}' is not a valid name (letters, digits, '.', '_', '-', starting with a letter or digit; at most ${MAX_NAME} characters)`);
    }
    const prev = names.get(vm.name.toLowerCase());
    if (prev !== undefined) fail(file, `${at}.name: '${vm.name}' is already the name of vms[${prev}] (names are unique, ignoring case)`);
    names.set(vm.name.toLowerCase(), i);

    if (vm.paging === 'shadow') fail(file, `${at}.paging: shadow: not supported yet (nested, the default, is)`);
    if (vm.nics !== undefined && vm.nics.length > 0) fail(file, `${at}.nics: not supported yet (no virtual network in this build; omit nics or write nics: [])`);

    const mem = sizeOf(vm.memory, file, `${at}.memory`);
    if (mem < MIN_VM_MEMORY) fail(file, `${at}.memory: ${formatSize(mem)} is too small (at least 2M)`);
    if (mem % FRAME !== 0) fail(file, `${at}.memory: ${formatSize(mem)} is not a multiple of 2M (memory is handed out in 2 MiB frames); try ${formatSize(Math.ceil(mem / FRAME) * FRAME)}`);
    if (mem > ram) fail(file, `${at}.memory: ${formatSize(mem)} is more than host.ram (${formatSize(ram)}): it could never start`);

    if (vm.cap != null && vm.cap > 100 * vm.vcpus) {
      fail(file, `${at}.cap: ${vm.cap}% is more than ${vm.vcpus} vCPU(s) can use (at most ${100 * vm.vcpus}, i.e. 100 per vCPU)`);
    }

    const kernel = inputFile(vm.kernel, base, file, `${at}.kernel`, 'a kernel Image');
    const initrd = vm.initrd != null ? inputFile(vm.initrd, base, file, `${at}.initrd`, 'an initramfs') : null;

    if (vm.disks.length > MAX_DISKS) fail(file, `${at}.disks: ${vm.disks.length} disks: a VM has room for ${MAX_DISKS}`);
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
      return { file: abs, readonly: d.readonly };
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
      paging: 'nested',
      balloon: vm.balloon ?? false,
    };
  });

  return { path: resolve(file), harts: doc.host.harts, ramBytes: ram, vms, ...(doc.host.overcommit === true ? { overcommit: true } : {}) };
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
