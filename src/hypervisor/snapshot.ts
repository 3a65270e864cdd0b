/**
 * Snapshots of a running VM (issue 12 scope 4; Firecracker's snapshot = the sum of every part's
 * persist.rs, GUIDE §11): the VM's whole state between two rounds — its vCPU contexts, guest RAM,
 * every device of its platform (each device's own getState/setState), its clock and pending
 * scheduler events, the VMM's counters, and its disks' contents — in one self-describing,
 * versioned, checksummed file (the format: docs/SNAPSHOTS.md). Restoring it into a VM of the same
 * shape (vCPUs, memory, disks, timing) on any host, alone or beside other VMs, continues the guest
 * exactly where it was: the same console output and counters as an uninterrupted run.
 *
 * Nothing host-specific goes in the file (no paths, no wall time, no host hart numbers), so it can
 * restore into another host process or, later, the browser build: the checksum is SHA-256 and
 * the compression zlib (deflate), both in WebCrypto / CompressionStream.
 *
 * Restore is all-or-nothing: `decodeSnapshot` checks the header, length, checksum, version and
 * every section before `checkFits` compares the snapshot with the target VM; only then does
 * `applySnapshot` touch anything. A bad file is one UserError line and changes nothing.
 */
import { createHash } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { UserError, formatSize } from '../errors.js';
import type { SchedulerState } from '../scheduler.js';
import type { VcpuContext } from '../vcpu.js';
import type { TimingConfig } from '../timing.js';
import { CHUNK, GUEST_RAM_BASE, HOLE, PAGE } from './memory.js';
import type { Vm } from './vm.js';
import type { VmBalloonState } from './balloon.js';
import * as L from '../generated/layout.js';
import { RAM_BASE } from '../core.js';
import type { ExitReasonName, ExitStat, VmState } from './types.js';

/** "CVSNAP\r\n": the \r\n catches a file mangled by a text-mode transfer (as PNG's signature). */
export const SNAPSHOT_MAGIC = Buffer.from('CVSNAP\r\n', 'latin1');
/**
 * The format version this build writes. Version 2 (issue 12's review) added the per-vCPU state
 * kept outside the core's saved context (LR/SC reservation, scounteren, senvcfg, trap-loop
 * detector), the vCPU that ran last, the VM's holes (chunks without a frame) and the balloon's
 * VMM side. Version 1 files are still read (those parts take their boot values).
 */
export const SNAPSHOT_VERSION = 2;
/** The versions this build reads. */
export const SNAPSHOT_VERSIONS_READ: readonly number[] = [1, 2];
/** Bytes before the body: magic 8, version 4, flags 4, body length 8, SHA-256 of the body 32. */
export const HEADER_BYTES = 56;
/** Section tags. */
const TAG_META = 'META';
const TAG_RAM = 'RAM ';
const TAG_DISK = 'DISK';
const TAG_END = 'END ';
/** Disk contents are kept in blocks of this size (zero blocks elided). */
export const DISK_BLOCK = 4096;

/** One vCPU: its context (64-bit values as hex strings) and the VMM's per-vCPU state. */
export interface VcpuSnap {
  ctx: Record<string, string | number | string[]>;
  started: boolean;
  waiting: boolean;
  exits: Record<ExitReasonName, ExitStat>;
  instructions: number;
  cycles: number;
  guestPageFaults: number;
  // Version 2 (absent in version 1 files: the boot values).
  /**
   * The LR/SC reservation, as a guest-physical address ("0x…"), or null for none. (The core keeps
   * a host address; this host's frames mean nothing to another.)
   */
  resv?: string | null;
  /** scounteren and senvcfg ("0x…"): S-mode CSRs the VMM switches per vCPU (vcpu.ts). */
  scounteren?: string;
  senvcfg?: string;
  /** The core's trap-loop detector (H_TRAP_STREAK, H_TRAP_INSTRET) and the VMM's (trapsInARow, instretAtTrap). */
  trapStreak?: number;
  trapInstret?: number;
  trapsInARow?: number;
  instretAtTrap?: number;
}

/** The META section (JSON). */
export interface SnapshotMeta {
  format: 'cyclevisor-snapshot';
  version: number;
  vm: { name: string; vcpus: number; memoryBytes: number; disks: Array<{ bytes: number; readonly: boolean }> };
  timing: { cpuHz: number; timebaseHz: number };
  state: VmState;
  clock: number;
  counters: { hostCycles: number; consoleBytes: number; reboots: number };
  poweredOff: boolean;
  exitCode: number | null;
  /** Bytes typed to the guest not yet read by SBI getchar. */
  inputQueue: number[];
  vcpus: VcpuSnap[];
  devices: { finisher: unknown; plic: unknown; uart: unknown; rtc: unknown; virtio: unknown[] };
  scheduler: SchedulerState;
  /** Read-only disks are not stored: their SHA-256 says the same bytes must be there on restore. */
  diskHashes: Array<string | null>;
  /**
   * false: the disks' contents are not in this snapshot (a live migration over shared storage:
   * both hosts see the same files); absent or true: they are.
   */
  disksIncluded?: boolean;
  // Version 2:
  /** The vCPU that ran last (-1: none): its reservation survives host preemption only then. */
  lastRun?: number;
  /**
   * Chunks (2 MiB, from the start of RAM) with no frame behind them — ballooned, or never
   * touched under overcommit: the guest's next touch of one is a guest-page fault it pays for.
   */
  holes?: number[];
  /** The balloon's VMM side (inflated pages, counters), or null for a VM without a balloon. */
  balloon?: VmBalloonState | null;
  /** Paused because the pool had no frame for it (overcommit): the restoring host resumes it when one is free. */
  pausedForMemory?: boolean;
}

/** A decoded snapshot: META plus RAM and disk contents as sparse block lists. */
export interface Snapshot {
  meta: SnapshotMeta;
  ram: SparseBlob;
  /** Per disk: its contents (writable disks) or null (read-only: only the hash is kept). */
  disks: Array<SparseBlob | null>;
  /** Size of the encoded file. */
  bytes: number;
}

/** A byte range in blocks, the all-zero blocks left out. */
export interface SparseBlob {
  blockSize: number;
  totalBytes: number;
  /** Present (non-zero) block indexes, ascending. */
  present: number[];
  /** The present blocks' bytes, concatenated (the last block of totalBytes may be short). */
  data: Buffer;
}

// ------------------------------------------------------------------------------------ capture

const hex = (v: bigint) => '0x' + v.toString(16);

function ctxToJson(c: VcpuContext): VcpuSnap['ctx'] {
  const o: VcpuSnap['ctx'] = {};
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === 'bigint') o[k] = hex(v);
    else if (Array.isArray(v)) o[k] = (v as bigint[]).map(hex);
    else o[k] = v as number;
  }
  return o;
}

function ctxFromJson(o: VcpuSnap['ctx'], template: VcpuContext): VcpuContext {
  const c = { ...template } as Record<string, unknown>;
  for (const [k, t] of Object.entries(template)) {
    const v = o[k];
    if (typeof t === 'bigint') {
      if (typeof v !== 'string') throw new Error(`vCPU context field ${k} missing`);
      c[k] = BigInt(v);
    } else if (Array.isArray(t)) {
      if (!Array.isArray(v) || v.length !== t.length) throw new Error(`vCPU context field ${k} missing`);
      c[k] = v.map((x) => BigInt(x));
    } else {
      if (typeof v !== 'number') throw new Error(`vCPU context field ${k} missing`);
      c[k] = v;
    }
  }
  return c as unknown as VcpuContext;
}

function isZero(b: Uint8Array): boolean {
  // 8 bytes at a time where aligned (readPhys/read return fresh, aligned buffers).
  if (b.byteOffset % 8 === 0 && b.length % 8 === 0) {
    const w = new BigUint64Array(b.buffer, b.byteOffset, b.length / 8);
    for (let i = 0; i < w.length; i++) if (w[i] !== 0n) return false;
    return true;
  }
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Split `total` bytes read through `read(offset, len)` (in pieces of `piece` bytes) into non-zero blocks. */
export function sparseOf(total: number, blockSize: number, read: (off: number, len: number) => Uint8Array, piece = CHUNK): SparseBlob {
  const present: number[] = [];
  const parts: Uint8Array[] = [];
  for (let off = 0; off < total; off += piece) {
    const len = Math.min(piece, total - off);
    const buf = read(off, len);
    // One u32 view per piece when aligned (the hot loop of a snapshot: 64 Ki pages for 256 MiB).
    const w = buf.byteOffset % 4 === 0 && blockSize % 4 === 0 ? new Uint32Array(buf.buffer, buf.byteOffset, len >>> 2) : null;
    for (let b = 0; b < len; b += blockSize) {
      const end = Math.min(len, b + blockSize);
      let nonzero = false;
      if (w !== null && end % 4 === 0) {
        for (let i = b >>> 2, e = end >>> 2; i < e; i++) {
          if (w[i] !== 0) {
            nonzero = true;
            break;
          }
        }
      } else nonzero = !isZero(buf.subarray(b, end));
      if (nonzero) {
        present.push((off + b) / blockSize);
        parts.push(buf.slice(b, end));
      }
    }
  }
  return { blockSize, totalBytes: total, present, data: Buffer.concat(parts) };
}

/** Guest-physical address of the core's reservation `resv` (a wasm address) in `vm`'s RAM, or null. */
function resvToGpa(vm: Vm, resv: bigint): number | null {
  if (resv === (1n << 64n) - 1n) return null;
  const hpa = Number(resv) - L.RAM_OFFSET + RAM_BASE;
  const c = vm.memory.chunks.findIndex((f) => f >= 0 && hpa >= f && hpa < f + CHUNK);
  return c < 0 ? null : GUEST_RAM_BASE + c * CHUNK + (hpa - vm.memory.chunks[c]!);
}

/** The core's reservation (a wasm address) for guest-physical `gpa` of `vm` (all ones: none). */
function gpaToResv(vm: Vm, gpa: number | null): bigint {
  if (gpa === null) return (1n << 64n) - 1n;
  const hpa = vm.memory.chunks[Math.floor((gpa - GUEST_RAM_BASE) / CHUNK)];
  if (hpa === undefined || hpa < 0) return (1n << 64n) - 1n;
  return BigInt(L.RAM_OFFSET + hpa + ((gpa - GUEST_RAM_BASE) % CHUNK) - RAM_BASE);
}

/** The VM's whole state now (between rounds: every vCPU's context is in its Vcpu). */
export function captureVm(vm: Vm, timing: Pick<TimingConfig, 'cpuHz' | 'timebaseHz'>, opts: { ram?: boolean; disks?: boolean } = {}): Snapshot {
  const withDisks = opts.disks ?? true;
  if (vm.state !== 'running' && vm.state !== 'paused') throw new UserError(`${vm.name}: domain is not running (only a running or paused VM has a state to save)`);
  // The shadow MMU's tables and reverse map are host state outside the snapshot format (issue 11/12).
  if (vm.shadow) throw new UserError(`${vm.name}: snapshots and migration of a VM with paging: shadow are not supported yet`);
  // A reservation on a page merged by dedup is in a shared frame, which names no page of this VM:
  // sharing is broken first (host-side only; the scanner merges the pages again later).
  if (vm.dedup && vm.vcpus.some((v) => v.resv !== (1n << 64n) - 1n && resvToGpa(vm, v.resv) === null)) vm.memory.dedup?.unshareAll();
  const p = vm.platform;
  const disks: Array<SparseBlob | null> = [];
  const diskHashes: Array<string | null> = [];
  const diskInfo: SnapshotMeta['vm']['disks'] = [];
  for (const b of p.blockBackends) {
    diskInfo.push({ bytes: b.size, readonly: b.readOnly });
    if (!withDisks) {
      diskHashes.push(null);
      disks.push(null);
    } else if (b.readOnly) {
      diskHashes.push(hashDisk(b));
      disks.push(null);
    } else {
      disks.push(sparseOf(b.size, DISK_BLOCK, (off, len) => readDisk(b, off, len)));
      diskHashes.push(null);
    }
  }
  const meta: SnapshotMeta = {
    format: 'cyclevisor-snapshot',
    version: SNAPSHOT_VERSION,
    vm: { name: vm.name, vcpus: vm.spec.vcpus, memoryBytes: vm.memory.bytes, disks: diskInfo },
    timing: { cpuHz: timing.cpuHz, timebaseHz: timing.timebaseHz },
    state: vm.state,
    clock: vm.now,
    counters: { hostCycles: vm.hostCycles, consoleBytes: vm.consoleBytes, reboots: vm.reboots },
    poweredOff: vm.poweredOff,
    exitCode: vm.exitCode,
    inputQueue: vm.inputQueue.slice(),
    vcpus: vm.vcpus.map((v) => ({
      // hgatp names this host's G-stage root and the VM's VMID here: host-specific, not saved
      // (the restoring VMM sets its own).
      ctx: ctxToJson({ ...v.ctx, hgatp: 0n }),
      started: v.started,
      waiting: v.waiting,
      exits: JSON.parse(JSON.stringify(v.exits)) as Record<ExitReasonName, ExitStat>,
      instructions: v.instructions,
      cycles: v.cycles,
      guestPageFaults: v.guestPageFaults,
      resv: ((g) => (g === null ? null : hex(BigInt(g))))(resvToGpa(vm, v.resv)),
      scounteren: hex(v.scounteren),
      senvcfg: hex(v.senvcfg),
      trapStreak: v.trapStreak,
      trapInstret: v.trapInstret,
      trapsInARow: v.trapsInARow,
      instretAtTrap: v.instretAtTrap,
    })),
    devices: {
      finisher: p.finisher.getState(),
      plic: p.plic.getState(),
      uart: p.uart.getState(),
      rtc: p.rtc.getState(),
      virtio: p.virtio.map((d) => d.getState()),
    },
    scheduler: vm.scheduler.saveState(),
    diskHashes,
    ...(withDisks ? {} : { disksIncluded: false }),
    lastRun: vm.lastRunIndex,
    holes: vm.memory.holes(),
    balloon: vm.balloon ? vm.balloon.getState() : null,
    pausedForMemory: vm.pausedForMemory,
  };
  // Without RAM (a migration's final state: the pages went before): an empty RAM section.
  const ram = opts.ram === false ? { blockSize: PAGE, totalBytes: vm.memory.bytes, present: [], data: Buffer.alloc(0) } : sparseOf(vm.memory.bytes, PAGE, (off, len) => vm.memory.view(GUEST_RAM_BASE + off, len));
  return { meta, ram, disks, bytes: 0 };
}

type DiskLike = { size: number; read(offset: number, buf: Uint8Array): void };
function readDisk(b: DiskLike, off: number, len: number): Uint8Array {
  const buf = new Uint8Array(len);
  b.read(off, buf);
  return buf;
}
function hashDisk(b: DiskLike): string {
  const h = createHash('sha256');
  for (let off = 0; off < b.size; off += CHUNK) h.update(readDisk(b, off, Math.min(CHUNK, b.size - off)));
  return h.digest('hex');
}

// ------------------------------------------------------------------------------------ encoding

function section(tag: string, payload: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.write(tag, 0, 4, 'latin1');
  h.writeUInt32LE(0, 4);
  h.writeBigUInt64LE(BigInt(payload.length), 8);
  return Buffer.concat([h, payload]);
}

/** A sparse blob: block size, total bytes, block count, present count, bitmap, deflated data. */
function encodeSparse(s: SparseBlob, level: number): Buffer {
  const blocks = Math.ceil(s.totalBytes / s.blockSize);
  const bitmap = Buffer.alloc(Math.ceil(blocks / 8));
  for (const i of s.present) bitmap[i >> 3]! |= 1 << (i & 7);
  const z = deflateSync(s.data, { level });
  const h = Buffer.alloc(32);
  h.writeUInt32LE(s.blockSize, 0);
  h.writeUInt32LE(blocks, 4);
  h.writeBigUInt64LE(BigInt(s.totalBytes), 8);
  h.writeUInt32LE(s.present.length, 16);
  h.writeUInt32LE(0, 20);
  h.writeBigUInt64LE(BigInt(z.length), 24);
  return Buffer.concat([h, bitmap, z]);
}

function decodeSparse(b: Buffer, what: string): SparseBlob {
  const bad = (why: string) => new SnapshotFormatError(`${what}: ${why}`);
  if (b.length < 32) throw bad('section too short');
  const blockSize = b.readUInt32LE(0);
  const blocks = b.readUInt32LE(4);
  const totalBytes = Number(b.readBigUInt64LE(8));
  const count = b.readUInt32LE(16);
  const zlen = Number(b.readBigUInt64LE(24));
  if (!(blockSize > 0 && blockSize <= 1 << 20) || blocks !== Math.ceil(totalBytes / blockSize)) throw bad('bad block geometry');
  const bitmapLen = Math.ceil(blocks / 8);
  if (32 + bitmapLen + zlen !== b.length) throw bad('length does not add up');
  const present: number[] = [];
  for (let i = 0; i < blocks; i++) if ((b[32 + (i >> 3)]! >> (i & 7)) & 1) present.push(i);
  if (present.length !== count) throw bad('block count does not match its bitmap');
  let data: Buffer;
  try {
    data = inflateSync(b.subarray(32 + bitmapLen));
  } catch {
    throw bad('compressed data is damaged');
  }
  let expect = present.length * blockSize;
  if (present.length > 0 && present[present.length - 1] === blocks - 1) expect -= blocks * blockSize - totalBytes;
  if (data.length !== expect) throw bad(`holds ${data.length} bytes, its bitmap says ${expect}`);
  return { blockSize, totalBytes, present, data };
}

/**
 * The snapshot file's bytes. `level`: zlib level (1 = fast, the default; 9 = small). `version`:
 * the header's (an older one only to write compatibility fixtures: the META must match it).
 */
export function encodeSnapshot(s: Snapshot, level = 1, version = SNAPSHOT_VERSION): Buffer {
  const json = JSON.stringify(s.meta, (_k, v: unknown) => (typeof v === 'bigint' ? hex(v) : v));
  const parts = [section(TAG_META, Buffer.from(json, 'utf8')), section(TAG_RAM, encodeSparse(s.ram, level))];
  s.disks.forEach((d, i) => {
    if (d === null) return;
    const idx = Buffer.alloc(4);
    idx.writeUInt32LE(i, 0);
    parts.push(section(TAG_DISK, Buffer.concat([idx, encodeSparse(d, level)])));
  });
  parts.push(section(TAG_END, Buffer.alloc(0)));
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(HEADER_BYTES);
  SNAPSHOT_MAGIC.copy(head, 0);
  head.writeUInt32LE(version, 8);
  head.writeUInt32LE(0, 12);
  head.writeBigUInt64LE(BigInt(body.length), 16);
  createHash('sha256').update(body).digest().copy(head, 24);
  const out = Buffer.concat([head, body]);
  s.bytes = out.length;
  return out;
}

/** A malformed file: its message is the one line the user sees (after the file's name). */
export class SnapshotFormatError extends Error {}

/**
 * Parse and check a snapshot file: magic, version, length (truncation), SHA-256 (corruption), the
 * sections and the META's shape. Throws SnapshotFormatError with one line; never a half result.
 */
export function decodeSnapshot(buf: Buffer): Snapshot {
  const bad = (why: string) => new SnapshotFormatError(why);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SNAPSHOT_MAGIC)) throw bad('not a cyclevisor snapshot (bad magic)');
  if (buf.length < HEADER_BYTES) throw bad(`truncated (${buf.length} bytes, the header alone is ${HEADER_BYTES})`);
  const version = buf.readUInt32LE(8);
  if (!SNAPSHOT_VERSIONS_READ.includes(version)) throw bad(`snapshot format version ${version}; this cyclevisor reads versions ${SNAPSHOT_VERSIONS_READ.join(' and ')}`);
  const bodyLen = Number(buf.readBigUInt64LE(16));
  if (buf.length < HEADER_BYTES + bodyLen) throw bad(`truncated (${buf.length} of ${HEADER_BYTES + bodyLen} bytes)`);
  if (buf.length > HEADER_BYTES + bodyLen) throw bad(`${buf.length - HEADER_BYTES - bodyLen} bytes of garbage after the snapshot`);
  const body = buf.subarray(HEADER_BYTES);
  if (!createHash('sha256').update(body).digest().equals(buf.subarray(24, 56))) throw bad('checksum mismatch (the file is corrupted)');
  let meta: SnapshotMeta | null = null;
  let ram: SparseBlob | null = null;
  const disks = new Map<number, SparseBlob>();
  let off = 0;
  let ended = false;
  while (off < body.length) {
    if (ended) throw bad('data after the END section');
    if (off + 16 > body.length) throw bad('a section header is cut short');
    const tag = body.toString('latin1', off, off + 4);
    const len = Number(body.readBigUInt64LE(off + 8));
    const payload = body.subarray(off + 16, off + 16 + len);
    if (payload.length !== len) throw bad(`section ${tag.trim()} is cut short`);
    off += 16 + len;
    switch (tag) {
      case TAG_META:
        try {
          meta = JSON.parse(payload.toString('utf8')) as SnapshotMeta;
        } catch {
          throw bad('the META section is not JSON');
        }
        break;
      case TAG_RAM:
        ram = decodeSparse(payload, 'RAM section');
        break;
      case TAG_DISK: {
        if (payload.length < 4) throw bad('a DISK section is too short');
        disks.set(payload.readUInt32LE(0), decodeSparse(payload.subarray(4), 'DISK section'));
        break;
      }
      case TAG_END:
        ended = true;
        break;
      default:
        throw bad(`unknown section '${tag}'`);
    }
  }
  if (!ended) throw bad('no END section');
  if (!meta || meta.format !== 'cyclevisor-snapshot' || meta.version !== version) throw bad('the META section is missing or not a snapshot description');
  if (!ram) throw bad('no RAM section');
  checkMetaShape(meta);
  if (ram.blockSize !== PAGE || ram.totalBytes !== meta.vm.memoryBytes) throw bad(`the RAM section holds ${formatSize(ram.totalBytes)}, the VM has ${formatSize(meta.vm.memoryBytes)}`);
  const diskList: Array<SparseBlob | null> = meta.vm.disks.map((d, i) => {
    const s = disks.get(i) ?? null;
    if (meta!.disksIncluded === false) {
      if (s !== null) throw bad(`disk ${i} has a DISK section in a snapshot without disks`);
    } else if (d.readonly) {
      if (s !== null) throw bad(`disk ${i} is read-only but has a DISK section`);
      if (typeof meta!.diskHashes[i] !== 'string') throw bad(`disk ${i} has no hash`);
    } else if (s === null || s.totalBytes !== d.bytes) throw bad(`disk ${i}'s contents are missing or the wrong size`);
    return s;
  });
  if (disks.size !== diskList.filter((d) => d !== null).length) throw bad('a DISK section names a disk the VM does not have');
  return { meta, ram, disks: diskList, bytes: buf.length };
}

function checkMetaShape(m: SnapshotMeta): void {
  const bad = (why: string) => new SnapshotFormatError(`the META section is malformed: ${why}`);
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (!m.vm || typeof m.vm.name !== 'string' || !num(m.vm.vcpus) || !num(m.vm.memoryBytes) || !Array.isArray(m.vm.disks)) throw bad('vm');
  if (!m.timing || !num(m.timing.cpuHz) || !num(m.timing.timebaseHz)) throw bad('timing');
  if (m.state !== 'running' && m.state !== 'paused') throw bad('state');
  if (!num(m.clock) || !m.counters || !num(m.counters.hostCycles)) throw bad('clock');
  if (!Array.isArray(m.vcpus) || m.vcpus.length !== m.vm.vcpus) throw bad('vcpus');
  if (!m.devices || !Array.isArray(m.devices.virtio) || !m.scheduler || !Array.isArray(m.scheduler.events)) throw bad('devices');
  if (!Array.isArray(m.inputQueue) || !Array.isArray(m.diskHashes)) throw bad('inputQueue');
  if (m.version >= 2) {
    const hexOk = (v: unknown) => typeof v === 'string' && /^0x[0-9a-f]{1,16}$/.test(v);
    for (const v of m.vcpus) {
      if (!(v.resv === null || hexOk(v.resv)) || !hexOk(v.scounteren) || !hexOk(v.senvcfg)) throw bad('vcpus');
      if (![v.trapStreak, v.trapInstret, v.trapsInARow, v.instretAtTrap].every((x) => Number.isSafeInteger(x))) throw bad('vcpus');
    }
    if (!Number.isInteger(m.lastRun) || m.lastRun! < -1 || m.lastRun! >= m.vm.vcpus) throw bad('lastRun');
    const chunks = m.vm.memoryBytes / CHUNK;
    if (!Array.isArray(m.holes) || !m.holes.every((c, i) => Number.isInteger(c) && c >= 0 && c < chunks && (i === 0 || c > m.holes![i - 1]!))) throw bad('holes');
    if (m.balloon !== null && typeof m.balloon !== 'object') throw bad('balloon');
  }
}

// ------------------------------------------------------------------------------------ restore

/**
 * Why snapshot `s` cannot go into VM `vm` (shape, timing, devices), or null. Runs before anything
 * is changed.
 */
export function checkFits(s: Snapshot, vm: Vm, timing: Pick<TimingConfig, 'cpuHz' | 'timebaseHz'>): string | null {
  if (vm.shadow) return `${vm.name}: restoring into a VM with paging: shadow is not supported yet`;
  const m = s.meta;
  if (m.vm.vcpus !== vm.spec.vcpus) return `the snapshot's VM has ${m.vm.vcpus} vCPUs, ${vm.name} has ${vm.spec.vcpus}`;
  if (m.vm.memoryBytes !== vm.memory.bytes) return `the snapshot's VM has ${formatSize(m.vm.memoryBytes)} of memory, ${vm.name} has ${formatSize(vm.memory.bytes)}`;
  if (m.timing.cpuHz !== timing.cpuHz || m.timing.timebaseHz !== timing.timebaseHz) {
    return `the snapshot was taken at ${m.timing.cpuHz} Hz / timebase ${m.timing.timebaseHz} Hz, this host runs ${timing.cpuHz} / ${timing.timebaseHz}`;
  }
  const b = vm.platform.blockBackends;
  if (m.vm.disks.length !== b.length) return `the snapshot's VM has ${m.vm.disks.length} disks, ${vm.name} has ${b.length}`;
  for (let i = 0; i < b.length; i++) {
    const d = m.vm.disks[i]!;
    if (d.bytes !== b[i]!.size) return `disk ${i} is ${formatSize(d.bytes)} in the snapshot, ${b[i]!.path} is ${formatSize(b[i]!.size)}`;
    if (d.readonly !== b[i]!.readOnly) return `disk ${i} is ${d.readonly ? 'read-only' : 'writable'} in the snapshot, not in ${vm.name}'s definition`;
    if (m.disksIncluded !== false && d.readonly && hashDisk(b[i]!) !== m.diskHashes[i]) return `read-only disk ${b[i]!.path} is not the one the snapshot was taken with (contents differ)`;
  }
  const why = vm.scheduler.checkState(m.scheduler);
  if (why !== null) return `its devices' events do not match this VM's (${why})`;
  if (m.devices.virtio.length !== vm.platform.virtio.length) return 'its virtio slots do not match this VM';
  for (let i = 0; i < m.devices.virtio.length; i++) {
    const sd = (m.devices.virtio[i] as { device?: unknown } | null)?.device ?? null;
    const here = vm.platform.virtio[i]!.getState().device;
    if ((sd === null) !== (here === null)) {
      // Every VM has a balloon by default since snapshot format 2's time; older snapshots had none.
      const hint = vm.balloon !== null && vm.platform.virtio[i]!.device === vm.balloon.device ? ` (${vm.name} has the default virtio-balloon; balloon: false in its definition matches a snapshot taken without one)` : '';
      return `virtio slot ${i} holds a device in one VM and not in the other${hint}`;
    }
  }
  for (const v of m.vcpus) {
    try {
      ctxFromJson(v.ctx, vm.vcpus[0]!.ctx);
    } catch (e) {
      return (e as Error).message;
    }
  }
  if (m.balloon) {
    if (!vm.balloon) return `the snapshot's VM has a balloon, ${vm.name} has none (balloon: false)`;
    const why = vm.balloon.checkState(m.balloon);
    if (why !== null) return why;
  }
  const need = vm.memory.framesToMatch(m.holes ?? []);
  if (need > vm.memory.freeFrames) return `it needs ${formatSize(need * CHUNK)} more of host RAM than ${vm.name} has, only ${formatSize(vm.memory.freeFrames * CHUNK)} free`;
  return null;
}

/**
 * Put snapshot `s` into `vm` (checkFits said yes): RAM, devices and their events, disks, vCPUs,
 * clock and counters. The VM's composed translations are fenced (its RAM changed under them).
 */
export function applySnapshot(vm: Vm, s: Snapshot, fence: () => void, opts: { keepRam?: boolean } = {}): void {
  const m = s.meta;
  fence();
  // The snapshot's holes (checkFits counted the frames), then RAM: zero everything backed, then
  // the present pages (keepRam: a migration wrote it page by page). A hole reads as zeros.
  const mem = vm.memory;
  if (!mem.matchHoles(m.holes ?? [])) throw new Error('snapshot restore: the pool ran out of frames after checkFits');
  if (!opts.keepRam) {
    for (let off = 0; off < mem.bytes; off += CHUNK) if (mem.chunks[off / CHUNK] !== HOLE) mem.zero(GUEST_RAM_BASE + off, Math.min(CHUNK, mem.bytes - off));
    writeSparse(s.ram, (off, data) => mem.write(GUEST_RAM_BASE + off, data));
  }
  if (vm.balloon) vm.balloon.setState(m.balloon ?? { inflated: [], discards: 0, refills: 0 });
  // Devices (they reschedule their own events and re-drive their IRQ lines), then the exact queue.
  const p = vm.platform;
  vm.scheduler.clear();
  p.finisher.setState(m.devices.finisher);
  p.plic.setState(m.devices.plic);
  p.uart.setState(m.devices.uart);
  p.rtc.setState(m.devices.rtc);
  p.virtio.forEach((d, i) => d.setState(m.devices.virtio[i]));
  vm.scheduler.loadState(m.scheduler);
  // Writable disks: the snapshot's contents, zero blocks included.
  s.disks.forEach((d, i) => {
    if (d === null) return;
    const b = p.blockBackends[i]!;
    const zero = new Uint8Array(CHUNK);
    for (let off = 0; off < b.size; off += CHUNK) b.write(off, zero.subarray(0, Math.min(CHUNK, b.size - off)));
    writeSparse(d, (off, data) => b.write(off, data));
    b.flush();
  });
  // The VMM's state: vCPUs last (device setState may have touched their hvip), clock, counters.
  m.vcpus.forEach((x, i) => {
    const v = vm.vcpus[i]!;
    v.ctx = { ...ctxFromJson(x.ctx, v.ctx), hgatp: vm.memory.hgatp };
    v.started = x.started;
    v.waiting = x.waiting;
    v.lastHart = -1;
    for (const [r, st] of Object.entries(x.exits)) {
      const e = v.exits[r as ExitReasonName];
      if (e) {
        e.count = st.count;
        e.cycles = st.cycles;
      }
    }
    v.instructions = x.instructions;
    v.cycles = x.cycles;
    v.guestPageFaults = x.guestPageFaults;
    // Version 2's per-vCPU state; a version 1 file: the values a started vCPU has at boot.
    v.resv = gpaToResv(vm, x.resv ? Number(BigInt(x.resv)) : null);
    v.scounteren = x.scounteren !== undefined ? BigInt(x.scounteren) : 7n;
    v.senvcfg = x.senvcfg !== undefined ? BigInt(x.senvcfg) : 0n;
    v.trapStreak = x.trapStreak ?? 0;
    v.trapInstret = x.trapInstret ?? 0;
    v.trapsInARow = x.trapsInARow ?? 0;
    v.instretAtTrap = x.instretAtTrap ?? -1;
  });
  vm.lastRunIndex = m.lastRun ?? -1;
  vm.now = m.clock;
  vm.hostCycles = m.counters.hostCycles;
  vm.consoleBytes = m.counters.consoleBytes;
  vm.reboots = m.counters.reboots;
  vm.poweredOff = m.poweredOff;
  vm.exitCode = m.exitCode;
  vm.crashMessage = null;
  vm.inputQueue.length = 0;
  vm.inputQueue.push(...m.inputQueue);
  vm.state = m.state;
  vm.pausedForMemory = m.state === 'paused' && m.pausedForMemory === true;
}

function writeSparse(s: SparseBlob, write: (off: number, data: Uint8Array) => void): void {
  let pos = 0;
  // Runs of consecutive present blocks go in one write.
  for (let i = 0; i < s.present.length; ) {
    let j = i;
    while (j + 1 < s.present.length && s.present[j + 1] === s.present[j]! + 1) j++;
    const start = s.present[i]! * s.blockSize;
    const end = Math.min(s.totalBytes, (s.present[j]! + 1) * s.blockSize);
    write(start, s.data.subarray(pos, pos + (end - start)));
    pos += end - start;
    i = j + 1;
  }
}

// ------------------------------------------------------------------------------------ host level

/** What snapshot/restore need of the host (Host implements it). */
export interface SnapshotHost {
  readonly timing: Pick<TimingConfig, 'cpuHz' | 'timebaseHz'>;
  readonly core: { hfenceGvma(vmid?: number): void };
  replaceVmState(vm: Vm, apply: () => void): void;
}

/** Snapshot a running or paused VM (it goes on as it was): the file's bytes and the decoded form. */
export function saveVm(host: SnapshotHost, vm: Vm, level = 1): { file: Buffer; snapshot: Snapshot } {
  const snapshot = captureVm(vm, host.timing);
  const file = encodeSnapshot(snapshot, level);
  return { file, snapshot };
}

/**
 * Restore VM `vm` from a snapshot file's bytes (`what` names the file in messages). Every check
 * runs first; a bad file or a VM of another shape is one UserError line and nothing changes.
 */
export function restoreVm(host: SnapshotHost, vm: Vm, buf: Buffer, what: string): Snapshot {
  return prepareRestore(host, vm, buf, what)();
}

/**
 * The checking half of restoreVm: decode `buf` and check it fits `vm` (UserError otherwise); the
 * returned function applies it. Lets a caller with several restores check them all first.
 */
export function prepareRestore(host: SnapshotHost, vm: Vm, buf: Buffer, what: string): () => Snapshot {
  let s: Snapshot;
  try {
    s = decodeSnapshot(buf);
  } catch (e) {
    if (e instanceof SnapshotFormatError) throw new UserError(`${what}: ${e.message}`);
    throw e;
  }
  const why = checkFits(s, vm, host.timing);
  if (why !== null) throw new UserError(`${what}: cannot restore into ${vm.name}: ${why}`);
  return () => {
    host.replaceVmState(vm, () => applySnapshot(vm, s, () => host.core.hfenceGvma(vm.id)));
    return s;
  };
}
