/**
 * The few protobuf wire-format pieces the Perfetto writer needs (protobuf encoding spec: varints,
 * length-delimited fields, fixed64), and a minimal reader for tests and tools. No dependency.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;

const utf8 = new TextEncoder();

/** Builds one message. Nested messages are encoded separately and added as bytes. */
export class ProtoWriter {
  private buf = new Uint8Array(64);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  /** A varint of a non-negative integer (a number up to 2^53, or a bigint up to 2^64). */
  private varint(v: number | bigint): void {
    this.ensure(10);
    if (typeof v === 'number' && v >= 0 && v < 0x80000000) {
      while (v >= 0x80) {
        this.buf[this.len++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.len++] = v;
      return;
    }
    // Negative int64 values are encoded as their 64-bit two's complement (10 bytes).
    let b = BigInt.asUintN(64, BigInt(v));
    while (b >= 0x80n) {
      this.buf[this.len++] = Number(b & 0x7fn) | 0x80;
      b >>= 7n;
    }
    this.buf[this.len++] = Number(b);
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  uint(field: number, v: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
    return this;
  }

  int(field: number, v: number | bigint): this {
    return this.uint(field, v);
  }

  double(field: number, v: number): this {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 8).setFloat64(0, v, true);
    this.len += 8;
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** One decoded field: varints as bigint, fixed64 as the raw 8 bytes' bigint, LEN as bytes. */
export interface ProtoField {
  field: number;
  wire: number;
  value: bigint | Uint8Array;
}

/** Decode one message level (a test and tool helper: src/trace/perfetto-read.ts). */
export function readProto(b: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= b.length) throw new Error('protobuf: truncated varint');
      const x = b[i++]!;
      v |= BigInt(x & 0x7f) << shift;
      if (x < 0x80) return v;
      shift += 7n;
    }
  };
  while (i < b.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === WIRE_VARINT) out.push({ field, wire, value: varint() });
    else if (wire === WIRE_FIXED64) {
      if (i + 8 > b.length) throw new Error('protobuf: truncated fixed64');
      out.push({ field, wire, value: new DataView(b.buffer, b.byteOffset + i, 8).getBigUint64(0, true) });
      i += 8;
    } else if (wire === WIRE_LEN) {
      const n = Number(varint());
      if (i + n > b.length) throw new Error('protobuf: truncated length-delimited field');
      out.push({ field, wire, value: b.subarray(i, i + n) });
      i += n;
    } else if (wire === 5) {
      out.push({ field, wire, value: BigInt(new DataView(b.buffer, b.byteOffset + i, 4).getUint32(0, true)) });
      i += 4;
    } else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
  return out;
}
