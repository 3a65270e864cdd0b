/**
 * A minimal WebAssembly binary writer for the JIT tier (issue 14): just what compiled blocks
 * need (WebAssembly core spec 1.0, §5 "Binary Format"). No dependency: the compiler emits opcodes
 * into a `Code` buffer and `moduleBytes` wraps functions into a module that imports the core's
 * memory and helper functions.
 */

/** Opcodes used by the block compiler (WebAssembly 1.0 §5.4 plus sign-extension ops). */
export const Op = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d, brTable: 0x0e, return: 0x0f,
  call: 0x10, returnCall: 0x12, returnCallIndirect: 0x13, drop: 0x1a, select: 0x1b,
  localGet: 0x20, localSet: 0x21, localTee: 0x22, globalGet: 0x23,
  i32Load: 0x28, i32Load16U: 0x2f, i64Load: 0x29, i64Load8S: 0x30, i64Load8U: 0x31, i64Load16S: 0x32, i64Load16U: 0x33,
  i64Load32S: 0x34, i64Load32U: 0x35, i32Store: 0x36, i64Store: 0x37, i64Store8: 0x3c, i64Store16: 0x3d,
  i64Store32: 0x3e,
  i32Const: 0x41, i64Const: 0x42,
  i32Eqz: 0x45, i32Eq: 0x46, i32Ne: 0x47, i32GeS: 0x4e, i32GeU: 0x4f,
  i64Eqz: 0x50, i64Eq: 0x51, i64Ne: 0x52, i64LtS: 0x53, i64LtU: 0x54, i64GtS: 0x55, i64GtU: 0x56,
  i64LeS: 0x57, i64LeU: 0x58, i64GeS: 0x59, i64GeU: 0x5a,
  i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32And: 0x71, i32Or: 0x72, i32Shl: 0x74, i32ShrS: 0x75, i32ShrU: 0x76,
  i64Add: 0x7c, i64Sub: 0x7d, i64Mul: 0x7e, i64And: 0x83, i64Or: 0x84, i64Xor: 0x85, i64Shl: 0x86,
  i64ShrS: 0x87, i64ShrU: 0x88,
  i32WrapI64: 0xa7, i64ExtendI32S: 0xac, i64ExtendI32U: 0xad, i64Extend32S: 0xc4,
  f64Load: 0x2b, f64Add: 0xa0, f64Sub: 0xa1, f64Mul: 0xa2, f64Div: 0xa3, f64Sqrt: 0x9f, f64Min: 0xa4, f64Max: 0xa5,
  f64Eq: 0x61, f64Lt: 0x63, f64Le: 0x65, f32Add: 0x92, f32Sub: 0x93, f32Mul: 0x94, f32Div: 0x95, f32Sqrt: 0x91,
  f64ConvertI32S: 0xb7, f64ConvertI32U: 0xb8, f64ConvertI64S: 0xb9, f64ConvertI64U: 0xba,
  i32ReinterpretF32: 0xbc, i64ReinterpretF64: 0xbd, f32ReinterpretI32: 0xbe, f32DemoteF64: 0xb6, f64PromoteF32: 0xbb,
  f64Const: 0x44, f64Ge: 0x66, f64Ceil: 0x9b, f64Floor: 0x9c, f64Trunc: 0x9d, f64Nearest: 0x9e,
  f32Eq: 0x5b, f32Lt: 0x5d, f32Le: 0x5f, f32Min: 0x96, f32Max: 0x97, i32Xor: 0x73,
} as const;

/** 0xFC-prefixed opcodes (WebAssembly 2.0 §5.4: saturating truncation), written with Code.fc. */
export const FC = { i64TruncSatF64S: 6, i64TruncSatF64U: 7 } as const;

export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;
export const VOID = 0x40;

/** Scratch for f64.const: the value's bytes (little-endian on every wasm host). */
const F64_BITS = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64_BITS.buffer);

/** A growable byte buffer with LEB128 writers. */
export class Code {
  private buf = new Uint8Array(1024);
  length = 0;

  private grow(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }
  byte(b: number): this {
    if (this.length === this.buf.length) this.grow(1);
    this.buf[this.length++] = b;
    return this;
  }
  bytes(bs: ArrayLike<number>): this {
    this.grow(bs.length);
    if (bs instanceof Uint8Array) this.buf.set(bs, this.length);
    else for (let i = 0; i < bs.length; i++) this.buf[this.length + i] = bs[i]!;
    this.length += bs.length;
    return this;
  }
  u32(v: number): this {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }
  /** Signed LEB128 of a 64-bit value (bigint or a safe integer). */
  s64(v: bigint | number): this {
    if (typeof v === 'number' && v >= -0x80000000 && v <= 0x7fffffff && Number.isInteger(v)) return this.s32(v);
    if (typeof v === 'bigint' && v >= -0x80000000n && v <= 0x7fffffffn) return this.s32(Number(v));
    let x = BigInt.asIntN(64, BigInt(v));
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }
  s32(v: number): this {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }
  // ---- instruction helpers
  op(o: number): this {
    return this.byte(o);
  }
  get(l: number): this {
    return this.byte(Op.localGet).u32(l);
  }
  set(l: number): this {
    return this.byte(Op.localSet).u32(l);
  }
  tee(l: number): this {
    return this.byte(Op.localTee).u32(l);
  }
  i32(v: number): this {
    return this.byte(Op.i32Const).s32(v);
  }
  i64(v: bigint | number): this {
    return this.byte(Op.i64Const).s64(v);
  }
  /** A 0xFC-prefixed instruction (FC). */
  fc(sub: number): this {
    return this.byte(0xfc).u32(sub);
  }
  /** f64.const (IEEE binary64, little-endian). */
  f64(v: number): this {
    F64_BITS[0] = v;
    return this.byte(Op.f64Const).bytes(F64_BYTES);
  }
  /** A load or store with its memarg (alignment as log2, static offset). */
  mem(o: number, align: number, offset = 0): this {
    return this.byte(o).u32(align).u32(offset);
  }
  toBytes(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.length);
  }
  /** The bytes written so far, without a copy (valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function section(out: Code, id: number, body: Code): void {
  out.byte(id).u32(body.length).bytes(body.view());
}

function name(c: Code, s: string): void {
  c.u32(s.length);
  for (let i = 0; i < s.length; i++) c.byte(s.charCodeAt(i));
}

export interface FuncType {
  params: number[];
  results: number[];
}

export interface ModuleSpec {
  types: FuncType[];
  /** Imported functions: env.<name> of type index `type`. */
  imports: { name: string; type: number }[];
  /** Defined functions: type index, locals (grouped as [count, valtype]), body (without `end`). */
  funcs: { type: number; locals: [number, number][]; body: Code; export: string }[]; // export '' = not exported
  /** Import c.b as global 0 (an immutable i32: the instance's exit-counter base). */
  counterBase?: boolean;
  /** Import env.table as table 0 (funcref), for return_call_indirect. */
  table?: boolean;
}

/** One module that imports `env.memory` and the named functions and exports its functions. */
export function moduleBytes(spec: ModuleSpec): Uint8Array<ArrayBuffer> {
  const out = new Code();
  out.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const types = new Code().u32(spec.types.length);
  for (const t of spec.types) {
    types.byte(0x60).u32(t.params.length).bytes(t.params).u32(t.results.length).bytes(t.results);
  }
  section(out, 1, types);
  const imps = new Code().u32(spec.imports.length + 1 + (spec.counterBase ? 1 : 0) + (spec.table ? 1 : 0));
  name(imps, 'env');
  name(imps, 'memory');
  imps.byte(0x02).byte(0x00).u32(0); // memory, no maximum, min 0 pages
  if (spec.table) {
    name(imps, 'env');
    name(imps, 'table');
    imps.byte(0x01).byte(0x70).byte(0x00).u32(0); // table 0: funcref, no maximum, min 0
  }
  if (spec.counterBase) {
    name(imps, 'c');
    name(imps, 'b');
    imps.byte(0x03).byte(0x7f).byte(0x00); // global 0: i32, immutable
  }
  for (const i of spec.imports) {
    name(imps, 'env');
    name(imps, i.name);
    imps.byte(0x00).u32(i.type);
  }
  section(out, 2, imps);
  const fns = new Code().u32(spec.funcs.length);
  for (const f of spec.funcs) fns.u32(f.type);
  section(out, 3, fns);
  const exported = spec.funcs.filter((f) => f.export !== '').length;
  const exps = new Code().u32(exported);
  spec.funcs.forEach((f, i) => {
    if (f.export === '') return;
    name(exps, f.export);
    exps.byte(0x00).u32(spec.imports.length + i);
  });
  section(out, 7, exps);
  const code = new Code().u32(spec.funcs.length);
  for (const f of spec.funcs) {
    const body = new Code().u32(f.locals.length);
    for (const [n, t] of f.locals) body.u32(n).byte(t);
    body.bytes(f.body.view()).byte(Op.end);
    code.u32(body.length).bytes(body.view());
  }
  section(out, 10, code);
  return out.toBytes();
}
