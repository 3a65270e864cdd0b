/**
 * GDB remote serial protocol encodings shared by the board's stub (gdbstub.ts) and the VMM's
 * (host-gdbstub.ts): register values as little-endian hex, and the X packet's binary escapes.
 */

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
