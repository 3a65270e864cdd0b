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
