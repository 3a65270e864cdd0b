/**
 * The few protobuf wire-format pieces the Perfetto writer needs (protobuf encoding spec: varints,
 * length-delimited fields, fixed64), and a minimal reader for tests and tools. No dependency.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;

const utf8 = new TextEncoder();
const stringCache = new Map<string, Uint8Array>();

/** Builds one message. Nested messages are encoded separately and added as bytes. */
export class ProtoWriter {
  private buf = new Uint8Array(32);
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
    if (typeof v === 'number' && v >= 0) {
      // Plain arithmetic up to 2^53 (no BigInt on the hot path: timestamps are above 2^32).
      while (v >= 0x80) {
        this.buf[this.len++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.buf[this.len++] = v;
      return;
    }
    // Negative int64 values are encoded as their 64-bit two's complement (10 bytes). Two 32-bit
    // halves, so only two BigInt operations per value.
    const b = BigInt.asUintN(64, BigInt(v));
    let lo = Number(b & 0xffffffffn);
    let hi = Number(b >> 32n);
    // 7 bits at a time from the 64-bit value hi:lo.
    while (hi > 0 || lo >= 0x80) {
      this.buf[this.len++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.len++] = lo;
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
    if (b.length < 32) {
      // Short names: a loop beats TypedArray.set's call overhead.
      for (let i = 0; i < b.length; i++) this.buf[this.len + i] = b[i]!;
    } else this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  string(field: number, s: string): this {
    let b = stringCache.get(s);
    if (b === undefined) {
      b = utf8.encode(s);
      // Names repeat (causes, modes, argument names): keep the short ones encoded.
      if (s.length <= 64 && stringCache.size < 4096) stringCache.set(s, b);
    }
    return this.bytes(field, b);
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  /**
   * Start a nested message in place (no separate buffer): the tag and a 4-byte length that end()
   * fills in as a redundant varint, as Perfetto's own protozero writer does (a parser accepts
   * non-minimal varints). Returns the mark end() needs. Nested size < 2^28.
   */
  begin(field: number): number {
    this.tag(field, WIRE_LEN);
    this.ensure(4);
    const mark = this.len;
    this.len += 4;
    return mark;
  }

  end(mark: number): void {
    const n = this.len - mark - 4;
    this.buf[mark] = (n & 0x7f) | 0x80;
    this.buf[mark + 1] = ((n >>> 7) & 0x7f) | 0x80;
    this.buf[mark + 2] = ((n >>> 14) & 0x7f) | 0x80;
    this.buf[mark + 3] = (n >>> 21) & 0x7f;
  }

  /** Bytes written so far; truncate(n) drops everything after the first n. */
  get length(): number {
    return this.len;
  }

  truncate(n: number): void {
    this.len = Math.min(this.len, n);
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
