/**
 * GDB remote serial protocol pieces shared by the board's stub (gdbstub.ts) and the VMM's
 * (host-gdbstub.ts): register values as little-endian hex, the X packet's binary escapes, the
 * memory and register-write packets, and breakpoints/watchpoints on the core's tables.
 */

import { WATCH_READ, WATCH_WRITE, type CoreDebug, type WatchKind } from './core-debug.js';

/** A 64-bit register value as gdb's `g`/`p` format: 8 bytes, little-endian, hex. */
export function hex64le(v: bigint): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += Number((v >> BigInt(i * 8)) & 0xffn).toString(16).padStart(2, '0');
  return s;
}

/** The inverse of hex64le for 1..8 bytes; null for anything that is not whole hex bytes. */
export function fromHexLe(s: string): bigint | null {
  if (!/^[0-9a-fA-F]*$/.test(s) || s.length % 2 !== 0 || s.length === 0 || s.length > 16) return null;
  let v = 0n;
  for (let i = s.length - 2; i >= 0; i -= 2) v = (v << 8n) | BigInt(parseInt(s.slice(i, i + 2), 16));
  return v;
}

/** Binary escapes of the X packet: 0x7d then the byte XOR 0x20. */
export function unescapeBinary(b: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x7d && i + 1 < b.length) out.push(b[++i]! ^ 0x20);
    else out.push(b[i]!);
  }
  return Uint8Array.from(out);
}

/** The largest packet either stub accepts or sends (qSupported PacketSize). */
export const PACKET_SIZE = 0x4000;
/** gdb register numbers of the riscv target description: x0..x31 are 0..31. */
export const REG_PC = 32;
export const REG_F0 = 33;
/** CSR n is register REG_CSR0 + n (fflags, frm, fcsr: REG_CSR0 + 1, 2, 3). */
export const REG_CSR0 = 65;
/** The virtual `priv` register (privilege, plus 4 when V = 1). */
export const REG_PRIV = REG_CSR0 + 4096;

export const X_NAMES = ['zero', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 'fp', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5',
  'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6'];
export const F_NAMES = ['ft0', 'ft1', 'ft2', 'ft3', 'ft4', 'ft5', 'ft6', 'ft7', 'fs0', 'fs1', 'fa0', 'fa1', 'fa2', 'fa3',
  'fa4', 'fa5', 'fa6', 'fa7', 'fs2', 'fs3', 'fs4', 'fs5', 'fs6', 'fs7', 'fs8', 'fs9', 'fs10', 'fs11', 'ft8',
  'ft9', 'ft10', 'ft11'];

/**
 * target.xml for riscv:rv64 (gdb's org.gnu.gdb.riscv.cpu / fpu / csr / virtual features): x0..x31
 * and pc; with `fpu` f0..f31 and fflags/frm/fcsr; the CSRs given as [csr number, name]; `priv`.
 */
export function riscvTargetXml(fpu: boolean, csrs: Iterable<readonly [number, string]>): string {
  const reg = (name: string, n: number, type = 'int', group?: string) =>
    `<reg name="${name}" bitsize="64" regnum="${n}" type="${type}"${group ? ` group="${group}"` : ''}/>`;
  let x = '<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target version="1.0">';
  x += '<architecture>riscv:rv64</architecture>';
  x += '<feature name="org.gnu.gdb.riscv.cpu">';
  X_NAMES.forEach((nm, i) => (x += reg(nm, i, i === 1 ? 'code_ptr' : i === 2 || i === 8 ? 'data_ptr' : 'int')));
  x += reg('pc', REG_PC, 'code_ptr');
  x += '</feature>';
  if (fpu) {
    x += '<feature name="org.gnu.gdb.riscv.fpu">';
    F_NAMES.forEach((nm, i) => (x += reg(nm, REG_F0 + i, 'ieee_double', 'float')));
    x += reg('fflags', REG_CSR0 + 1, 'int', 'float') + reg('frm', REG_CSR0 + 2, 'int', 'float') + reg('fcsr', REG_CSR0 + 3, 'int', 'float');
    x += '</feature>';
  }
  x += '<feature name="org.gnu.gdb.riscv.csr">';
  for (const [n, nm] of csrs) x += reg(nm, REG_CSR0 + n, 'int', 'system');
  x += '</feature>';
  x += '<feature name="org.gnu.gdb.riscv.virtual">' + reg('priv', REG_PRIV, 'int', 'system') + '</feature>';
  x += '</target>';
  return x;
}

/**
 * Answer `qXfer:features:read:ANNEX:OFF,LEN` from a document (only `target.xml` exists): `m`/`l`
 * plus the slice, E00 for another annex, E01 for a malformed packet.
 */
export function featuresRead(p: string, doc: () => string): string {
  const m = /^qXfer:features:read:([^:]+):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p);
  if (!m) return 'E01';
  if (m[1] !== 'target.xml') return 'E00';
  const xml = doc();
  const off = parseInt(m[2]!, 16);
  const len = Math.min(parseInt(m[3]!, 16), PACKET_SIZE - 8);
  return (off + len >= xml.length ? 'l' : 'm') + xml.slice(off, off + len);
}

/** The most bytes an `m` reply carries (two hex digits a byte, with room for the framing). */
export const MAX_READ = (PACKET_SIZE - 16) >> 1;

/** Target memory as a stub sees it: null / false when the address does not map. */
export interface RspMemory {
  read(va: bigint, len: number): Uint8Array | null;
  write(va: bigint, data: Uint8Array): boolean;
}

/**
 * The reply to an `m`, `M` or `X` packet (`raw`, unescaped framing removed): E01 malformed, E14
 * when the memory does not map. An empty `X` is gdb's probe for binary writes: OK.
 */
export function memoryPacket(raw: Uint8Array, mem: RspMemory): string {
  const c = raw[0];
  if (c === 0x6d /* m */) {
    const m = /^m([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})$/.exec(Buffer.from(raw).toString('latin1'));
    if (!m) return 'E01';
    const len = parseInt(m[2]!, 16);
    if (len > MAX_READ) return 'E01';
    const b = mem.read(BigInt('0x' + m[1]), len);
    return b ? Buffer.from(b).toString('hex') : 'E14';
  }
  if (c === 0x4d /* M */) {
    const m = /^M([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8}):([0-9a-fA-F]*)$/.exec(Buffer.from(raw).toString('latin1'));
    if (!m || m[3]!.length !== parseInt(m[2]!, 16) * 2) return 'E01';
    return mem.write(BigInt('0x' + m[1]), Buffer.from(m[3]!, 'hex')) ? 'OK' : 'E14';
  }
  const colon = raw.indexOf(0x3a);
  const m = colon < 0 ? null : /^X([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})$/.exec(Buffer.from(raw.subarray(0, colon)).toString('latin1'));
  if (!m) return 'E01';
  const data = unescapeBinary(raw.subarray(colon + 1));
  if (data.length !== parseInt(m[2]!, 16)) return 'E01';
  if (data.length === 0) return 'OK';
  return mem.write(BigInt('0x' + m[1]), data) ? 'OK' : 'E14';
}

/** The reply to a `P n=value` packet, writing through `write(n, value)`. */
export function writeRegPacket(p: string, write: (n: number, v: bigint) => boolean): string {
  const m = /^P([0-9a-fA-F]+)=([0-9a-fA-F]+)$/.exec(p);
  const v = m ? fromHexLe(m[2]!) : null;
  if (!m || v === null) return 'E01';
  return write(parseInt(m[1]!, 16), v) ? 'OK' : 'E01';
}

/** A gdb breakpoint (Z0/Z1) or watchpoint (Z2..Z4) and the core table entry behind it. */
export interface RspPoint {
  /** Who it belongs to (the VMM's stub: the inferior's pid; the board's: 0). */
  scope: number;
  type: number;
  addr: bigint;
  kind: number;
  id: number;
}

/** The core's execute and watch tables as the stubs use them (core-debug.ts CoreDebug). */
type PointTables = Pick<CoreDebug, 'addExec' | 'removeExec' | 'addWatch' | 'removeWatch'>;

/** A stub's breakpoints and watchpoints: `Z`/`z` packets onto the core's execute and watch tables. */
export class RspPoints {
  private readonly points = new Map<string, RspPoint>();
  constructor(private readonly tables: PointTables) {}

  values(): IterableIterator<RspPoint> {
    return this.points.values();
  }

  /** The reply to a `Z`/`z` packet for `scope`: E01 malformed, E0e when the core's table is full. */
  packet(p: string, scope = 0): string {
    const m = /^([Zz])([0-4]),([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})(;.*)?$/.exec(p);
    if (!m) return 'E01';
    const type = Number(m[2]);
    const addr = BigInt('0x' + m[3]);
    const kind = parseInt(m[4]!, 16);
    const key = `${scope},${type},${addr},${kind}`;
    if (m[1] === 'z') {
      const pt = this.points.get(key);
      if (pt) {
        this.remove(pt);
        this.points.delete(key);
      }
      return 'OK';
    }
    if (this.points.has(key)) return 'OK';
    if (type >= 2 && (kind === 0 || kind > 0x10000)) return 'E01';
    try {
      const id = type < 2
        ? this.tables.addExec(addr)
        : this.tables.addWatch(addr, addr + BigInt(kind), watchKindOf(type));
      this.points.set(key, { scope, type, addr, kind, id });
    } catch {
      return 'E0e'; // the core's table is full
    }
    return 'OK';
  }

  /** Remove every point from the core's tables (detach, kill, gdb gone). */
  clear(): void {
    for (const pt of this.points.values()) this.remove(pt);
    this.points.clear();
  }

  private remove(pt: RspPoint): void {
    if (pt.type < 2) this.tables.removeExec(pt.id);
    else this.tables.removeWatch(pt.id);
  }
}

/** The accesses a watchpoint of gdb type 2 (write), 3 (read) or 4 (access) stops on. */
export function watchKindOf(type: number): WatchKind {
  return (type === 2 ? WATCH_WRITE : type === 3 ? WATCH_READ : WATCH_READ | WATCH_WRITE) as WatchKind;
}
