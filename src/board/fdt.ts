/**
 * Flattened devicetree (DTB) writer and reader.
 *
 * Format: Devicetree Specification v0.4, chapter 5 ("Flattened Devicetree (DTB) Format"). A blob is
 *
 *     header (40 bytes, big-endian u32 fields)
 *     memory reservation block  (8-byte aligned; {u64 address, u64 size} pairs ending with {0, 0})
 *     structure block           (4-byte aligned; tokens BEGIN_NODE/PROP/NOP/END_NODE/END)
 *     strings block             (NUL-terminated property names, referenced by offset)
 *
 * in that order (the order dtc and libfdt use). We write version 17 with last_comp_version 16, so
 * every consumer since 2008 (libfdt, Linux, OpenSBI, U-Boot) accepts it.
 *
 * `FdtBuilder` writes a blob node by node; `parseFdt` reads one back into a tree of `FdtNode`s and
 * rejects malformed input with a one-line `FdtParseError` (a `UserError`, since the blob may come
 * from a user's file); `formatDts` prints a tree in DTS syntax for debugging.
 */
import { UserError, hex } from '../errors.js';

export const FDT_MAGIC = 0xd00dfeed;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;
export const FDT_HEADER_SIZE = 40;

export const FDT_BEGIN_NODE = 0x1;
export const FDT_END_NODE = 0x2;
export const FDT_PROP = 0x3;
export const FDT_NOP = 0x4;
export const FDT_END = 0x9;

/** Longest node name (without the unit address) and property name the spec allows (§2.2.1, §2.2.4). */
const MAX_NAME_LENGTH = 31;
const NODE_NAME_RE = /^[0-9A-Za-z,._+-]+(@[0-9A-Za-z,._+-]+)?$/;
const PROP_NAME_RE = /^[0-9A-Za-z,._+?#-]+$/;

/**
 * A property value:
 * - `number`: one u32 cell; `readonly number[]`: a list of u32 cells (`<a b c>`);
 * - `bigint`: one u64, written as two cells (high, low); `readonly bigint[]`: a list of u64s
 *   (handy for `reg` with #address-cells = #size-cells = 2);
 * - `string`: a NUL-terminated string; `readonly string[]`: a stringlist (`"a", "b"`);
 * - `Uint8Array`: raw bytes (`[01 02]`);
 * - `null` / `true` / omitted: an empty (boolean) property such as `interrupt-controller`.
 *
 * An empty array is an empty property too (there is nothing to tell u32[] from string[] apart).
 */
export type FdtValue =
  | number
  | readonly number[]
  | bigint
  | readonly bigint[]
  | string
  | readonly string[]
  | Uint8Array
  | null
  | true;

export interface FdtReservation {
  address: bigint;
  size: bigint;
}

export interface FdtFinishOptions {
  /**
   * Zero bytes appended after the strings block and counted in totalsize. Firmware that edits the
   * tree in place (OpenSBI adds /reserved-memory, U-Boot fixes up /chosen) grows it with
   * fdt_open_into(); padding gives it room inside the blob itself.
   */
  padding?: number;
}

// ---------------------------------------------------------------------------------------------
// Value encoding

function checkU32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new RangeError(`fdt: property "${name}": ${v} is not a u32 cell value`);
  }
  return v;
}

function checkU64(name: string, v: bigint): bigint {
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`fdt: property "${name}": ${v} is not a u64 value`);
  }
  return v;
}

function checkString(name: string, s: string): void {
  if (s.includes('\0')) throw new RangeError(`fdt: property "${name}": string contains a NUL character`);
}

const utf8 = new TextEncoder();

/** The bytes of a property value, big-endian as the format requires. */
export function encodeValue(name: string, value: FdtValue | undefined): Uint8Array {
  if (value === undefined || value === null || value === true) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value.slice();
  if (typeof value === 'number') {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, checkU32(name, value));
    return out;
  }
  if (typeof value === 'bigint') {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, checkU64(name, value));
    return out;
  }
  if (typeof value === 'string') {
    checkString(name, value);
    const bytes = utf8.encode(value);
    const out = new Uint8Array(bytes.length + 1);
    out.set(bytes);
    return out;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return new Uint8Array(0);
    const kinds = new Set(value.map((v: unknown) => typeof v));
    if (kinds.size !== 1) throw new TypeError(`fdt: property "${name}": array mixes ${[...kinds].join(' and ')}`);
    const kind = typeof value[0];
    if (kind === 'number') {
      const cells = value as readonly number[];
      const out = new Uint8Array(cells.length * 4);
      const dv = new DataView(out.buffer);
      cells.forEach((c, i) => dv.setUint32(i * 4, checkU32(name, c)));
      return out;
    }
    if (kind === 'bigint') {
      const words = value as readonly bigint[];
      const out = new Uint8Array(words.length * 8);
      const dv = new DataView(out.buffer);
      words.forEach((w, i) => dv.setBigUint64(i * 8, checkU64(name, w)));
      return out;
    }
    if (kind === 'string') {
      const parts = (value as readonly string[]).map((s) => encodeValue(name, s));
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    }
    throw new TypeError(`fdt: property "${name}": unsupported array element type ${kind}`);
  }
  throw new TypeError(`fdt: property "${name}": unsupported value type ${typeof value}`);
}

// ---------------------------------------------------------------------------------------------
// Builder

/** A growable big-endian byte buffer. */
class ByteSink {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v);
    this.length += 4;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Zero bytes up to the next multiple of `n`. */
  align(n: number): void {
    const pad = (n - (this.length % n)) % n;
    this.reserve(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  contents(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

interface OpenNode {
  name: string;
  path: string;
  hasChildren: boolean;
  props: Set<string>;
  children: Set<string>;
}

/**
 * Writes a devicetree blob. Call `beginNode('')` for the root, then properties and child nodes
 * (properties of a node must come before its children, as the format requires), `endNode()` for
 * every `beginNode()`, and finally `finish()`.
 *
 * Misuse (bad names, duplicate properties, unbalanced nodes, ...) throws: these are bugs in the
 * caller, not bad user input.
 */
export class FdtBuilder {
  private readonly struct = new ByteSink();
  private readonly strings = new ByteSink();
  private readonly stringOffsets = new Map<string, number>();
  private readonly stack: OpenNode[] = [];
  private readonly reservations: FdtReservation[] = [];
  private rootDone = false;
  private finished = false;
  private nextPhandle = 1;
  readonly bootCpuidPhys: number;

  constructor(options: { bootCpuidPhys?: number } = {}) {
    this.bootCpuidPhys = checkU32('boot_cpuid_phys', options.bootCpuidPhys ?? 0);
  }

  /**
   * Returns a fresh phandle (1, 2, 3, ...). The caller writes it into the node as
   * `prop('phandle', n)` and into references to that node.
   */
  allocPhandle(): number {
    this.checkOpen();
    if (this.nextPhandle >= 0xffff_ffff) throw new RangeError('fdt: out of phandles');
    return this.nextPhandle++;
  }

  /** Adds a /memreserve/ entry (a region the OS must not use). */
  addReservation(address: bigint, size: bigint): this {
    this.checkOpen();
    checkU64('memreserve address', address);
    checkU64('memreserve size', size);
    if (size === 0n) throw new RangeError('fdt: a memory reservation must not be empty');
    this.reservations.push({ address, size });
    return this;
  }

  /** Path of the node being written (`/`, `/soc/plic@c000000`), or '' before the root. */
  get currentPath(): string {
    return this.stack.length === 0 ? '' : this.stack[this.stack.length - 1]!.path;
  }

  beginNode(name: string): this {
    this.checkOpen();
    const parent = this.stack[this.stack.length - 1];
    if (!parent) {
      if (name !== '') throw new Error(`fdt: the first node must be the root (''), not "${name}"`);
      if (this.rootDone) throw new Error('fdt: the tree already has a root node');
    } else {
      checkNodeName(name, parent.path);
      if (parent.children.has(name)) throw new Error(`fdt: duplicate node ${joinPath(parent.path, name)}`);
      parent.children.add(name);
      parent.hasChildren = true;
    }
    this.struct.u32(FDT_BEGIN_NODE);
    this.struct.bytes(utf8.encode(name));
    this.struct.bytes(new Uint8Array(1));
    this.struct.align(4);
    this.stack.push({
      name,
      path: parent ? joinPath(parent.path, name) : '/',
      hasChildren: false,
      props: new Set(),
      children: new Set(),
    });
    return this;
  }

  endNode(): this {
    this.checkOpen();
    const node = this.stack.pop();
    if (!node) throw new Error('fdt: endNode() without a matching beginNode()');
    this.struct.u32(FDT_END_NODE);
    if (this.stack.length === 0) this.rootDone = true;
    return this;
  }

  /** Adds a property to the node being written; see `FdtValue` for how values are encoded. */
  prop(name: string, value?: FdtValue): this {
    this.checkOpen();
    const node = this.stack[this.stack.length - 1];
    if (!node) throw new Error(`fdt: property "${name}" outside of any node`);
    if (!PROP_NAME_RE.test(name) || name.length > MAX_NAME_LENGTH) {
      throw new Error(`fdt: invalid property name "${name}" in ${node.path}`);
    }
    if (node.hasChildren) {
      throw new Error(`fdt: property "${name}" of ${node.path} comes after a child node`);
    }
    if (node.props.has(name)) throw new Error(`fdt: duplicate property "${name}" in ${node.path}`);
    node.props.add(name);
    const bytes = encodeValue(name, value);
    this.struct.u32(FDT_PROP);
    this.struct.u32(bytes.length);
    this.struct.u32(this.stringOffset(name));
    this.struct.bytes(bytes);
    this.struct.align(4);
    return this;
  }

  /** Assembles the blob. The builder cannot be used afterwards. */
  finish(options: FdtFinishOptions = {}): Uint8Array {
    this.checkOpen();
    if (this.stack.length > 0) {
      throw new Error(`fdt: finish() with ${this.stack.length} node(s) still open (innermost ${this.currentPath})`);
    }
    if (!this.rootDone) throw new Error('fdt: finish() without a root node');
    const padding = options.padding ?? 0;
    if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`fdt: bad padding ${padding}`);
    this.finished = true;
    this.struct.u32(FDT_END);

    const rsvOff = FDT_HEADER_SIZE; // 40: already 8-byte aligned
    const rsvSize = (this.reservations.length + 1) * 16;
    const structOff = rsvOff + rsvSize;
    const structBytes = this.struct.contents();
    const stringsOff = structOff + structBytes.length;
    const stringsBytes = this.strings.contents();
    const totalSize = stringsOff + stringsBytes.length + padding;

    const out = new Uint8Array(totalSize);
    const dv = new DataView(out.buffer);
    const header = [
      FDT_MAGIC,
      totalSize,
      structOff,
      stringsOff,
      rsvOff,
      FDT_VERSION,
      FDT_LAST_COMP_VERSION,
      this.bootCpuidPhys,
      stringsBytes.length,
      structBytes.length,
    ];
    header.forEach((v, i) => dv.setUint32(i * 4, v));
    this.reservations.forEach((r, i) => {
      dv.setBigUint64(rsvOff + i * 16, r.address);
      dv.setBigUint64(rsvOff + i * 16 + 8, r.size);
    });
    out.set(structBytes, structOff);
    out.set(stringsBytes, stringsOff);
    return out;
  }

  private stringOffset(name: string): number {
    let off = this.stringOffsets.get(name);
    if (off === undefined) {
      off = this.strings.length;
      this.strings.bytes(utf8.encode(name));
      this.strings.bytes(new Uint8Array(1));
      this.stringOffsets.set(name, off);
    }
    return off;
  }

  private checkOpen(): void {
    if (this.finished) throw new Error('fdt: the builder is finished');
  }
}

function checkNodeName(name: string, parentPath: string): void {
  const base = name.split('@')[0]!;
  if (!NODE_NAME_RE.test(name) || base.length > MAX_NAME_LENGTH) {
    throw new Error(`fdt: invalid node name "${name}" under ${parentPath}`);
  }
}

function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

// ---------------------------------------------------------------------------------------------
// Parser

/** A malformed devicetree blob. */
export class FdtParseError extends UserError {
  constructor(message: string) {
    super(`malformed devicetree blob: ${message}`);
    this.name = 'FdtParseError';
  }
}

export interface FdtHeader {
  magic: number;
  totalSize: number;
  offDtStruct: number;
  offDtStrings: number;
  offMemRsvmap: number;
  version: number;
  lastCompVersion: number;
  bootCpuidPhys: number;
  sizeDtStrings: number;
  /** Absent (undefined) in version 16 blobs. */
  sizeDtStruct: number | undefined;
}

export interface FdtProperty {
  name: string;
  value: Uint8Array;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** A node of a parsed tree, with typed accessors that throw a clear error on a wrong-sized value. */
export class FdtNode {
  readonly props: FdtProperty[] = [];
  readonly children: FdtNode[] = [];

  constructor(
    /** Node name with unit address (`serial@10000000`); '' for the root. */
    readonly name: string,
    /** Full path (`/soc/serial@10000000`, `/` for the root). */
    readonly path: string,
    readonly parent: FdtNode | null,
  ) {}

  has(name: string): boolean {
    return this.props.some((p) => p.name === name);
  }

  /** Raw value of a property, or undefined when absent. */
  get(name: string): Uint8Array | undefined {
    return this.props.find((p) => p.name === name)?.value;
  }

  /** Raw value of a property that must be present. */
  need(name: string): Uint8Array {
    const v = this.get(name);
    if (v === undefined) throw new Error(`${this.path}: no property "${name}"`);
    return v;
  }

  /** The property as a list of u32 cells. */
  cells(name: string): number[] {
    const v = this.need(name);
    if (v.length % 4 !== 0) throw new Error(`${this.path}: "${name}" is ${v.length} bytes, not a list of cells`);
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    return Array.from({ length: v.length / 4 }, (_, i) => dv.getUint32(i * 4));
  }

  /** The property as exactly one u32 cell. */
  u32(name: string): number {
    const c = this.cells(name);
    if (c.length !== 1) throw new Error(`${this.path}: "${name}" has ${c.length} cells, expected 1`);
    return c[0]!;
  }

  /** The property as one u64 (two cells) or, when it has a single cell, that cell. */
  u64(name: string): bigint {
    const c = this.cells(name);
    if (c.length === 1) return BigInt(c[0]!);
    if (c.length !== 2) throw new Error(`${this.path}: "${name}" has ${c.length} cells, expected 1 or 2`);
    return (BigInt(c[0]!) << 32n) | BigInt(c[1]!);
  }

  /** The property as a stringlist. */
  strings(name: string): string[] {
    const v = this.need(name);
    if (v.length === 0 || v[v.length - 1] !== 0) throw new Error(`${this.path}: "${name}" is not NUL-terminated`);
    return utf8Decoder.decode(v.subarray(0, v.length - 1)).split('\0');
  }

  /** The property as one string. */
  string(name: string): string {
    const s = this.strings(name);
    if (s.length !== 1) throw new Error(`${this.path}: "${name}" has ${s.length} strings, expected 1`);
    return s[0]!;
  }

  child(name: string): FdtNode | undefined {
    return this.children.find((c) => c.name === name);
  }

  /** Looks up a node by path relative to this one (`soc/plic@c000000`) or absolute (`/cpus`). */
  find(path: string): FdtNode | undefined {
    let node: FdtNode = this;
    if (path.startsWith('/')) {
      while (node.parent) node = node.parent;
    }
    for (const part of path.split('/').filter((p) => p !== '')) {
      const next = node.child(part);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  /** This node and every descendant, depth first, in blob order. */
  *walk(): IterableIterator<FdtNode> {
    yield this;
    for (const c of this.children) yield* c.walk();
  }
}

export interface FdtTree {
  header: FdtHeader;
  reservations: FdtReservation[];
  root: FdtNode;
}

/** Every node that has a `phandle` (or legacy `linux,phandle`) property, by phandle. */
export function phandleMap(root: FdtNode): Map<number, FdtNode> {
  const map = new Map<number, FdtNode>();
  for (const n of root.walk()) {
    const name = n.has('phandle') ? 'phandle' : n.has('linux,phandle') ? 'linux,phandle' : undefined;
    if (name) map.set(n.u32(name), n);
  }
  return map;
}

/**
 * Reads a devicetree blob (versions 16 and 17). `bytes` may be longer than the blob (a DTB dumped
 * with its spare buffer); anything past totalsize is ignored.
 */
export function parseFdt(bytes: Uint8Array): FdtTree {
  if (bytes.length < FDT_HEADER_SIZE) {
    throw new FdtParseError(`${bytes.length} bytes is shorter than the ${FDT_HEADER_SIZE}-byte header`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (off: number): number => dv.getUint32(off);
  const magic = u32(0);
  if (magic !== FDT_MAGIC) throw new FdtParseError(`bad magic ${hex(magic)} (expected ${hex(FDT_MAGIC)})`);
  const version = u32(20);
  const lastCompVersion = u32(24);
  if (lastCompVersion > FDT_VERSION) {
    throw new FdtParseError(`version ${version} is not backwards compatible with version ${FDT_VERSION} (last_comp_version ${lastCompVersion})`);
  }
  if (version < 16) throw new FdtParseError(`version ${version} is too old (need 16 or later)`);
  const header: FdtHeader = {
    magic,
    totalSize: u32(4),
    offDtStruct: u32(8),
    offDtStrings: u32(12),
    offMemRsvmap: u32(16),
    version,
    lastCompVersion,
    bootCpuidPhys: u32(28),
    sizeDtStrings: u32(32),
    sizeDtStruct: version >= 17 ? u32(36) : undefined,
  };
  const total = header.totalSize;
  if (total < FDT_HEADER_SIZE) throw new FdtParseError(`totalsize ${total} is smaller than the header`);
  if (total > bytes.length) throw new FdtParseError(`totalsize ${total} is larger than the ${bytes.length} bytes given (truncated?)`);

  const block = (what: string, off: number, size: number): void => {
    if (off < FDT_HEADER_SIZE - (version < 17 ? 4 : 0) || off > total || size > total - off) {
      throw new FdtParseError(`${what} (offset ${hex(off)}, size ${size}) is outside the ${total}-byte blob`);
    }
  };
  if (header.offMemRsvmap % 8 !== 0) throw new FdtParseError(`memory reservation block offset ${hex(header.offMemRsvmap)} is not 8-byte aligned`);
  if (header.offDtStruct % 4 !== 0) throw new FdtParseError(`structure block offset ${hex(header.offDtStruct)} is not 4-byte aligned`);
  block('memory reservation block', header.offMemRsvmap, 16);
  block('strings block', header.offDtStrings, header.sizeDtStrings);
  const structLimit = header.sizeDtStruct ?? total - header.offDtStruct;
  block('structure block', header.offDtStruct, structLimit);
  if (header.sizeDtStruct !== undefined && header.sizeDtStruct % 4 !== 0) {
    throw new FdtParseError(`structure block size ${header.sizeDtStruct} is not a multiple of 4`);
  }

  // Memory reservation block: pairs up to the {0, 0} terminator.
  const reservations: FdtReservation[] = [];
  for (let off = header.offMemRsvmap; ; off += 16) {
    if (off + 16 > total) throw new FdtParseError('memory reservation block has no terminating entry');
    const address = dv.getBigUint64(off);
    const size = dv.getBigUint64(off + 8);
    if (address === 0n && size === 0n) break;
    reservations.push({ address, size });
  }

  // Strings block accessor.
  const stringsStart = header.offDtStrings;
  const stringsEnd = stringsStart + header.sizeDtStrings;
  const stringAt = (nameoff: number, at: number): string => {
    const start = stringsStart + nameoff;
    if (nameoff >= header.sizeDtStrings) {
      throw new FdtParseError(`property at ${hex(at)}: name offset ${nameoff} is outside the ${header.sizeDtStrings}-byte strings block`);
    }
    const end = bytes.indexOf(0, start);
    if (end < 0 || end >= stringsEnd) throw new FdtParseError(`property at ${hex(at)}: name is not NUL-terminated inside the strings block`);
    if (end === start) throw new FdtParseError(`property at ${hex(at)}: empty name`);
    return decodeName(bytes.subarray(start, end), `property name at ${hex(at)}`);
  };

  // Structure block.
  const structStart = header.offDtStruct;
  const structEnd = structStart + structLimit;
  let off = structStart;
  const need = (n: number, what: string): void => {
    if (off + n > structEnd) throw new FdtParseError(`structure block ends inside ${what} at ${hex(off)}`);
  };
  const stack: FdtNode[] = [];
  let root: FdtNode | undefined;
  let ended = false;
  while (!ended) {
    need(4, 'a token');
    const tokenAt = off;
    const token = u32(off);
    off += 4;
    switch (token) {
      case FDT_BEGIN_NODE: {
        const end = bytes.indexOf(0, off);
        if (end < 0 || end >= structEnd) throw new FdtParseError(`node name at ${hex(off)} is not NUL-terminated`);
        const name = decodeName(bytes.subarray(off, end), `node name at ${hex(off)}`);
        off = align4(end + 1);
        if (off > structEnd) throw new FdtParseError(`structure block ends inside the node name at ${hex(tokenAt)}`);
        const parent = stack[stack.length - 1] ?? null;
        if (!parent) {
          if (root) throw new FdtParseError(`second top-level node "${name}" at ${hex(tokenAt)}`);
          if (name !== '') throw new FdtParseError(`root node has name "${name}" (expected empty)`);
        } else if (name === '') {
          throw new FdtParseError(`node with empty name under ${parent.path} at ${hex(tokenAt)}`);
        }
        const node = new FdtNode(name, parent ? joinPath(parent.path, name) : '/', parent);
        if (parent) parent.children.push(node);
        else root = node;
        stack.push(node);
        break;
      }
      case FDT_END_NODE:
        if (!stack.pop()) throw new FdtParseError(`END_NODE at ${hex(tokenAt)} without an open node`);
        break;
      case FDT_PROP: {
        need(8, 'a property header');
        const len = u32(off);
        const nameoff = u32(off + 4);
        off += 8;
        const node = stack[stack.length - 1];
        if (!node) throw new FdtParseError(`property at ${hex(tokenAt)} outside of any node`);
        if (node.children.length > 0) {
          throw new FdtParseError(`property at ${hex(tokenAt)} of ${node.path} comes after its child nodes`);
        }
        if (len > structEnd - off) throw new FdtParseError(`property at ${hex(tokenAt)}: length ${len} runs past the structure block`);
        const name = stringAt(nameoff, tokenAt);
        if (node.has(name)) throw new FdtParseError(`duplicate property "${name}" in ${node.path}`);
        node.props.push({ name, value: bytes.slice(off, off + len) });
        off = align4(off + len);
        break;
      }
      case FDT_NOP:
        break;
      case FDT_END:
        if (stack.length > 0) throw new FdtParseError(`END token at ${hex(tokenAt)} with ${stack.length} node(s) still open`);
        if (!root) throw new FdtParseError('structure block has no root node');
        ended = true;
        break;
      default:
        throw new FdtParseError(`unknown token ${hex(token)} at ${hex(tokenAt)}`);
    }
    if (!ended && off > structEnd) throw new FdtParseError(`structure block overruns its end at ${hex(off)}`);
  }
  return { header, reservations, root: root! };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function decodeName(b: Uint8Array, what: string): string {
  try {
    return utf8Decoder.decode(b);
  } catch {
    throw new FdtParseError(`${what} is not valid UTF-8`);
  }
}

// ---------------------------------------------------------------------------------------------
// DTS-like output

/** True when `v` is one or more non-empty printable strings, each NUL-terminated. */
function looksLikeStrings(v: Uint8Array): boolean {
  if (v.length === 0 || v[v.length - 1] !== 0) return false;
  let runLength = 0;
  for (const b of v) {
    if (b === 0) {
      if (runLength === 0) return false;
      runLength = 0;
    } else if (b < 0x20 || b > 0x7e) {
      return false;
    } else {
      runLength++;
    }
  }
  return true;
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A property value in DTS syntax: strings, `<cells>` or `[bytes]`, guessed from its contents. */
export function formatValue(v: Uint8Array): string {
  if (v.length === 0) return '';
  if (looksLikeStrings(v)) {
    return Array.from(new TextDecoder().decode(v.subarray(0, v.length - 1)).split('\0'), quote).join(', ');
  }
  if (v.length % 4 === 0) {
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    const cells = Array.from({ length: v.length / 4 }, (_, i) => `0x${dv.getUint32(i * 4).toString(16)}`);
    return `<${cells.join(' ')}>`;
  }
  return `[${Array.from(v, (b) => b.toString(16).padStart(2, '0')).join(' ')}]`;
}

/** Prints a parsed tree in DTS syntax (like `dtc -I dtb -O dts`, with a header comment). */
export function formatDts(tree: FdtTree): string {
  const h = tree.header;
  const lines: string[] = [
    '/dts-v1/;',
    `// version ${h.version} (last_comp_version ${h.lastCompVersion}), totalsize ${h.totalSize}, boot_cpuid_phys ${h.bootCpuidPhys}`,
    '',
  ];
  for (const r of tree.reservations) lines.push(`/memreserve/ ${hex(r.address)} ${hex(r.size)};`);
  if (tree.reservations.length > 0) lines.push('');
  const emit = (node: FdtNode, depth: number): void => {
    const indent = '\t'.repeat(depth);
    lines.push(`${indent}${node.parent ? node.name : '/'} {`);
    for (const p of node.props) {
      const value = formatValue(p.value);
      lines.push(value === '' ? `${indent}\t${p.name};` : `${indent}\t${p.name} = ${value};`);
    }
    for (const c of node.children) {
      lines.push('');
      emit(c, depth + 1);
    }
    lines.push(`${indent}};`);
  };
  emit(tree.root, 0);
  return lines.join('\n') + '\n';
}
