/**
 * Tests for the FDT writer/reader (src/board/fdt.ts) and the virt board's devicetree
 * (src/board/devicetree.ts).
 *
 * Besides our own checks, two external references are used when installed (the tests skip
 * otherwise): `dtc` must decompile our blobs without warnings and re-encode them byte for byte, and
 * `qemu-system-riscv64 -M virt,dumpdtb=...` provides QEMU 7.2's own tree for the same configuration.
 *
 * What differs from QEMU's tree, and why (see also the header of src/board/devicetree.ts):
 * - QEMU-only nodes we do not write, because the board has no such device: /soc/pci@30000000
 *   (PCIe host bridge), /flash@20000000 (CFI flash), /fw-cfg@10100000, /platform-bus@4000000
 *   (dynamic sysbus devices), /pmu (SBI PMU event map; no hpm counters modelled).
 * - /chosen/rng-seed: QEMU always writes 32 random bytes; we write it only when asked to (runs
 *   must be reproducible).
 * - /chosen/linux,initrd-start/-end: one cell in QEMU 7.2, two (u64) cells here; same value.
 * - /cpus/cpu@N/interrupt-controller has an extra `#address-cells = <0>` (silences dtc's
 *   interrupt_provider warning, which QEMU's blob triggers).
 * Everything else (node names, order, properties, their order and values) is the same.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../src/errors.js';
import {
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_MAGIC,
  FDT_NOP,
  FDT_PROP,
  FdtBuilder,
  FdtNode,
  FdtParseError,
  formatDts,
  formatValue,
  parseFdt,
  phandleMap,
  type FdtTree,
} from '../src/board/fdt.js';
import {
  MAX_HARTS,
  buildVirtDtb,
  dtbToDts,
  qemuVirtDtConfig,
  type DtConfig,
} from '../src/board/devicetree.js';

function commandWorks(cmd: string, args: string[]): boolean {
  try {
    return spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 }).status === 0;
  } catch {
    return false;
  }
}

const hasDtc = commandWorks('dtc', ['--version']);
const hasQemu = commandWorks('qemu-system-riscv64', ['--version']);

const tmp = mkdtempSync(join(tmpdir(), 'cyclevisor-dt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MiB = 1n << 20n;
const GiB = 1n << 30n;

function parseError(fn: () => unknown): FdtParseError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FdtParseError);
    expect(e).toBeInstanceOf(UserError);
    const err = e as FdtParseError;
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(/^malformed devicetree blob: /);
    return err;
  }
  throw new Error('expected an FdtParseError, nothing was thrown');
}

function userError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).not.toContain('\n');
    return e as UserError;
  }
  throw new Error('expected a UserError, nothing was thrown');
}

const be32 = (b: Uint8Array, off: number): number => new DataView(b.buffer, b.byteOffset).getUint32(off);
function patch32(b: Uint8Array, off: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(off, v);
  return c;
}

/** Walks the structure block and returns the offset of every token, checking 4-byte alignment. */
function tokenOffsets(blob: Uint8Array): Array<{ off: number; token: number }> {
  const structOff = be32(blob, 8);
  const structSize = be32(blob, 36);
  const out: Array<{ off: number; token: number }> = [];
  let off = structOff;
  for (;;) {
    expect(off % 4).toBe(0);
    const token = be32(blob, off);
    out.push({ off, token });
    off += 4;
    if (token === FDT_BEGIN_NODE) {
      off = (blob.indexOf(0, off) + 1 + 3) & ~3;
    } else if (token === FDT_PROP) {
      const len = be32(blob, off);
      off = (off + 8 + len + 3) & ~3;
    } else if (token === FDT_END) {
      break;
    }
  }
  expect(off).toBe(structOff + structSize);
  return out;
}

// -------------------------------------------------------------------------------------------------

describe('FdtBuilder / parseFdt', () => {
  function everyKind(): Uint8Array {
    const b = new FdtBuilder({ bootCpuidPhys: 3 });
    b.addReservation(0x8000_0000n, 0x20_0000n);
    b.addReservation(0x1_2345_6789_0000n, 0x1000n);
    b.beginNode('');
    b.prop('u32', 0xdeadbeef);
    b.prop('zero', 0);
    b.prop('cells', [1, 2, 0xffff_ffff]);
    b.prop('u64', 0x1234_5678_9abc_def0n);
    b.prop('u64s', [0x8000_0000n, 8n * GiB]);
    b.prop('str', 'hello');
    b.prop('empty-str', '');
    b.prop('strs', ['sifive,plic-1.0.0', 'riscv,plic0']);
    b.prop('bytes', new Uint8Array([1, 2, 3, 4, 5]));
    b.prop('after-bytes', 7);
    b.prop('flag');
    b.prop('flag-null', null);
    b.prop('flag-true', true);
    b.prop('empty-array', []);
    b.beginNode('child@1000');
    b.prop('u32', 1);
    b.beginNode('grandchild');
    b.endNode();
    b.endNode();
    b.beginNode('b');
    b.endNode();
    b.endNode();
    return b.finish();
  }

  it('round-trips every value kind', () => {
    const tree = parseFdt(everyKind());
    const r = tree.root;
    expect(r.name).toBe('');
    expect(r.path).toBe('/');
    expect(r.u32('u32')).toBe(0xdeadbeef);
    expect(r.u32('zero')).toBe(0);
    expect(r.cells('cells')).toEqual([1, 2, 0xffff_ffff]);
    expect(r.u64('u64')).toBe(0x1234_5678_9abc_def0n);
    expect(r.cells('u64')).toEqual([0x1234_5678, 0x9abc_def0]);
    expect(r.cells('u64s')).toEqual([0, 0x8000_0000, 2, 0]);
    expect(r.string('str')).toBe('hello');
    expect(r.need('str')).toEqual(new Uint8Array([0x68, 0x65, 0x6c, 0x6c, 0x6f, 0]));
    expect(r.string('empty-str')).toBe('');
    expect(r.strings('strs')).toEqual(['sifive,plic-1.0.0', 'riscv,plic0']);
    expect(r.need('bytes')).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
    expect(r.u32('after-bytes')).toBe(7);
    for (const flag of ['flag', 'flag-null', 'flag-true', 'empty-array']) {
      expect(r.has(flag)).toBe(true);
      expect(r.need(flag).length).toBe(0);
    }
    expect(r.has('missing')).toBe(false);
    expect(r.get('missing')).toBeUndefined();
    expect(r.props.map((p) => p.name)).toEqual([
      'u32', 'zero', 'cells', 'u64', 'u64s', 'str', 'empty-str', 'strs', 'bytes', 'after-bytes',
      'flag', 'flag-null', 'flag-true', 'empty-array',
    ]);
    expect(r.children.map((c) => c.name)).toEqual(['child@1000', 'b']);
    const child = r.find('/child@1000')!;
    expect(child.path).toBe('/child@1000');
    expect(child.parent).toBe(r);
    expect(child.u32('u32')).toBe(1);
    expect(child.find('grandchild')!.path).toBe('/child@1000/grandchild');
    expect(child.find('/b')!.path).toBe('/b');
    expect(r.find('child@1000/nope')).toBeUndefined();
    expect([...r.walk()].map((n) => n.path)).toEqual(['/', '/child@1000', '/child@1000/grandchild', '/b']);
    expect(tree.reservations).toEqual([
      { address: 0x8000_0000n, size: 0x20_0000n },
      { address: 0x1_2345_6789_0000n, size: 0x1000n },
    ]);
  });

  it('writes a v17 header whose offsets and sizes describe the blocks exactly', () => {
    const blob = everyKind();
    const { header: h } = parseFdt(blob);
    expect(h.magic).toBe(FDT_MAGIC);
    expect(be32(blob, 0)).toBe(0xd00dfeed);
    expect(h.version).toBe(17);
    expect(h.lastCompVersion).toBe(16);
    expect(h.bootCpuidPhys).toBe(3);
    expect(h.totalSize).toBe(blob.length);
    expect(h.offMemRsvmap).toBe(40);
    // Two reservations plus the terminator, then the structure block, then the strings block.
    expect(h.offDtStruct).toBe(40 + 3 * 16);
    expect(h.offDtStruct % 4).toBe(0);
    expect(h.offDtStrings).toBe(h.offDtStruct + h.sizeDtStruct!);
    expect(h.offDtStrings + h.sizeDtStrings).toBe(h.totalSize);
    expect(h.sizeDtStruct! % 4).toBe(0);
    // Terminator of the reservation block.
    expect(new DataView(blob.buffer).getBigUint64(40 + 2 * 16)).toBe(0n);
    expect(new DataView(blob.buffer).getBigUint64(40 + 2 * 16 + 8)).toBe(0n);
  });

  it('pads names and values to 4 bytes and ends the structure block with END', () => {
    const blob = everyKind();
    const tokens = tokenOffsets(blob);
    expect(tokens[0]!.token).toBe(FDT_BEGIN_NODE);
    expect(tokens.at(-1)!.token).toBe(FDT_END);
    expect(tokens.at(-2)!.token).toBe(FDT_END_NODE);
    expect(tokens.filter((t) => t.token === FDT_BEGIN_NODE)).toHaveLength(4);
    expect(tokens.filter((t) => t.token === FDT_END_NODE)).toHaveLength(4);
    expect(tokens.filter((t) => t.token === FDT_PROP)).toHaveLength(15);
  });

  it('encodes a small tree byte for byte', () => {
    const b = new FdtBuilder();
    b.beginNode('').prop('a', 1).beginNode('n@1').prop('a', 'xy').endNode().endNode();
    const blob = b.finish();
    const words = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => be32(blob, from + i * 4));
    // Header: totalsize 118, struct at 56 (60 bytes), strings at 116 (2 bytes), rsvmap at 40.
    expect(words(0, 10)).toEqual([FDT_MAGIC, 118, 56, 116, 40, 17, 16, 0, 2, 60]);
    // Empty reservation map: one {0, 0} entry.
    expect(words(40, 4)).toEqual([0, 0, 0, 0]);
    // Structure block.
    expect(words(56, 15)).toEqual([
      FDT_BEGIN_NODE, 0, // "" + NUL, padded to 4
      FDT_PROP, 4, 0, 1, // a = <1>
      FDT_BEGIN_NODE, 0x6e403100, // "n@1\0"
      FDT_PROP, 3, 0, 0x78790000, // a = "xy" (3 bytes, padded), same name offset
      FDT_END_NODE,
      FDT_END_NODE,
      FDT_END,
    ]);
    // Strings block: "a\0", shared by both properties.
    expect([...blob.subarray(116)]).toEqual([0x61, 0]);
    expect(blob.length).toBe(118);
  });

  it('stores each property name once in the strings block', () => {
    const b = new FdtBuilder();
    b.beginNode('');
    b.prop('compatible', 'x');
    b.prop('reg', 1);
    for (let i = 0; i < 5; i++) {
      b.beginNode(`n@${i}`).prop('compatible', 'y').prop('reg', i).prop('status', 'okay').endNode();
    }
    b.endNode();
    const blob = b.finish();
    const h = parseFdt(blob).header;
    const strings = new TextDecoder().decode(blob.subarray(h.offDtStrings, h.offDtStrings + h.sizeDtStrings));
    expect(strings).toBe('compatible\0reg\0status\0');
    const tree = parseFdt(blob);
    expect(tree.root.find('n@4')!.u32('reg')).toBe(4);
    expect(tree.root.find('n@3')!.string('status')).toBe('okay');
  });

  it('allocates phandles 1, 2, 3, ...', () => {
    const b = new FdtBuilder();
    expect([b.allocPhandle(), b.allocPhandle(), b.allocPhandle()]).toEqual([1, 2, 3]);
  });

  it('adds zero padding inside totalsize when asked', () => {
    const build = (padding?: number): Uint8Array => {
      const b = new FdtBuilder();
      b.beginNode('').prop('x', 1).endNode();
      return b.finish(padding === undefined ? {} : { padding });
    };
    const plain = build();
    const padded = build(4096);
    expect(padded.length).toBe(plain.length + 4096);
    expect(parseFdt(padded).header.totalSize).toBe(padded.length);
    expect(padded.subarray(plain.length).every((x) => x === 0)).toBe(true);
    expect(parseFdt(padded).root.u32('x')).toBe(1);
  });

  it('rejects misuse with clear errors', () => {
    const rooted = (): FdtBuilder => new FdtBuilder().beginNode('');
    expect(() => new FdtBuilder().prop('x', 1)).toThrow(/outside of any node/);
    expect(() => new FdtBuilder().beginNode('soc')).toThrow(/first node must be the root/);
    expect(() => new FdtBuilder().endNode()).toThrow(/without a matching beginNode/);
    expect(() => new FdtBuilder().beginNode('').endNode().beginNode('')).toThrow(/already has a root/);
    expect(() => rooted().beginNode('a').endNode().prop('x', 1)).toThrow(/comes after a child node/);
    expect(() => rooted().prop('x', 1).prop('x', 2)).toThrow(/duplicate property "x" in \//);
    expect(() => rooted().beginNode('a').endNode().beginNode('a')).toThrow(/duplicate node \/a/);
    expect(() => rooted().beginNode('bad name')).toThrow(/invalid node name/);
    expect(() => rooted().beginNode('a/b')).toThrow(/invalid node name/);
    expect(() => rooted().beginNode('x'.repeat(32))).toThrow(/invalid node name/);
    expect(() => rooted().beginNode(`${'x'.repeat(31)}@1`)).not.toThrow();
    expect(() => rooted().prop('bad name', 1)).toThrow(/invalid property name/);
    expect(() => rooted().prop('', 1)).toThrow(/invalid property name/);
    expect(() => rooted().prop('x', -1)).toThrow(/not a u32/);
    expect(() => rooted().prop('x', 2 ** 32)).toThrow(/not a u32/);
    expect(() => rooted().prop('x', 1.5)).toThrow(/not a u32/);
    expect(() => rooted().prop('x', [1, 2 ** 32])).toThrow(/not a u32/);
    expect(() => rooted().prop('x', 1n << 64n)).toThrow(/not a u64/);
    expect(() => rooted().prop('x', -1n)).toThrow(/not a u64/);
    expect(() => rooted().prop('x', 'a\0b')).toThrow(/NUL/);
    expect(() => rooted().prop('x', [1, 'a'] as unknown as number[])).toThrow(/mixes/);
    expect(() => rooted().prop('x', { a: 1 } as unknown as number)).toThrow(/unsupported/);
    expect(() => rooted().finish()).toThrow(/still open \(innermost \/\)/);
    expect(() => rooted().beginNode('a').finish()).toThrow(/innermost \/a/);
    expect(() => new FdtBuilder().finish()).toThrow(/without a root/);
    expect(() => new FdtBuilder().addReservation(0n, 0n)).toThrow(/empty/);
    expect(() => new FdtBuilder({ bootCpuidPhys: -1 })).toThrow(/u32/);
    const done = new FdtBuilder().beginNode('').endNode();
    done.finish();
    expect(() => done.finish()).toThrow(/finished/);
    expect(() => done.allocPhandle()).toThrow(/finished/);
  });
});

describe('parseFdt on malformed input', () => {
  function small(): Uint8Array {
    const b = new FdtBuilder();
    b.beginNode('').prop('a', 1).beginNode('n').prop('b', 'x').endNode().endNode();
    return b.finish();
  }
  const good = small();
  const h = parseFdt(good).header;

  it('rejects bad headers', () => {
    expect(parseError(() => parseFdt(good.subarray(0, 39))).message).toMatch(/shorter than the 40-byte header/);
    expect(parseError(() => parseFdt(patch32(good, 0, 0x12345678))).message).toMatch(/bad magic 0x12345678/);
    expect(parseError(() => parseFdt(good.subarray(0, good.length - 1))).message).toMatch(/totalsize \d+ is larger than the \d+ bytes given/);
    expect(parseError(() => parseFdt(patch32(good, 4, 8))).message).toMatch(/smaller than the header/);
    expect(parseError(() => parseFdt(patch32(good, 24, 18))).message).toMatch(/not backwards compatible/);
    expect(parseError(() => parseFdt(patch32(patch32(good, 20, 15), 24, 15))).message).toMatch(/too old/);
    expect(parseError(() => parseFdt(patch32(good, 16, 44))).message).toMatch(/not 8-byte aligned/);
    expect(parseError(() => parseFdt(patch32(good, 16, 0))).message).toMatch(/memory reservation block .* is outside/);
    expect(parseError(() => parseFdt(patch32(good, 16, 0x10000))).message).toMatch(/memory reservation block .* is outside/);
    expect(parseError(() => parseFdt(patch32(good, 8, h.offDtStruct + 2))).message).toMatch(/not 4-byte aligned/);
    expect(parseError(() => parseFdt(patch32(good, 32, 1000))).message).toMatch(/strings block .* is outside/);
    expect(parseError(() => parseFdt(patch32(good, 36, 1000))).message).toMatch(/structure block .* is outside/);
  });

  it('rejects bad structure blocks', () => {
    const s = h.offDtStruct;
    // Token layout: [s] BEGIN "" [s+8] PROP len nameoff value [s+24] BEGIN "n" [s+32] PROP ... [s+48] END_NODE END_NODE END
    expect(be32(good, s + 8)).toBe(FDT_PROP);
    expect(be32(good, s + 24)).toBe(FDT_BEGIN_NODE);
    expect(parseError(() => parseFdt(patch32(good, s + 8, 0x42))).message).toMatch(/unknown token 0x42 at 0x/);
    expect(parseError(() => parseFdt(patch32(good, s + 16, 999))).message).toMatch(/name offset 999 is outside/);
    expect(parseError(() => parseFdt(patch32(good, s + 12, 1000))).message).toMatch(/length 1000 runs past/);
    expect(parseError(() => parseFdt(patch32(good, s, FDT_PROP))).message).toMatch(/outside of any node/);
    expect(parseError(() => parseFdt(patch32(good, s, FDT_END_NODE))).message).toMatch(/without an open node/);
    // END while /n is still open.
    expect(parseError(() => parseFdt(patch32(good, s + 48, FDT_END))).message).toMatch(/2 node\(s\) still open/);
    const sizeStruct = h.sizeDtStruct!;
    // Structure block size cut short: the END token is missing.
    expect(parseError(() => parseFdt(patch32(good, 36, sizeStruct - 4))).message).toMatch(/ends inside a token/);
    expect(parseError(() => parseFdt(patch32(good, 36, sizeStruct - 2))).message).toMatch(/not a multiple of 4/);
  });

  it('rejects a property that follows a child node, and duplicate properties', () => {
    // Swap /n's property to after its END_NODE is hard to do by patching; hand-assemble instead.
    const assemble = (tokens: number[]): Uint8Array => {
      const strings = [0x61, 0]; // "a"
      const structSize = tokens.length * 4;
      const total = 40 + 16 + structSize + strings.length;
      const out = new Uint8Array(total);
      const dv = new DataView(out.buffer);
      [FDT_MAGIC, total, 56, 56 + structSize, 40, 17, 16, 0, strings.length, structSize].forEach((v, i) => dv.setUint32(i * 4, v));
      tokens.forEach((t, i) => dv.setUint32(56 + i * 4, t));
      out.set(strings, 56 + structSize);
      return out;
    };
    const ok = assemble([FDT_BEGIN_NODE, 0, FDT_PROP, 4, 0, 7, FDT_NOP, FDT_END_NODE, FDT_END]);
    expect(parseFdt(ok).root.u32('a')).toBe(7);
    expect(
      parseError(() =>
        parseFdt(assemble([FDT_BEGIN_NODE, 0, FDT_BEGIN_NODE, 0x6e000000, FDT_END_NODE, FDT_PROP, 4, 0, 7, FDT_END_NODE, FDT_END])),
      ).message,
    ).toMatch(/of \/ comes after its child nodes/);
    expect(
      parseError(() => parseFdt(assemble([FDT_BEGIN_NODE, 0, FDT_PROP, 4, 0, 7, FDT_PROP, 0, 0, FDT_END_NODE, FDT_END]))).message,
    ).toMatch(/duplicate property "a" in \//);
    expect(parseError(() => parseFdt(assemble([FDT_BEGIN_NODE, 0x78000000, FDT_END_NODE, FDT_END]))).message).toMatch(
      /root node has name "x"/,
    );
    expect(
      parseError(() => parseFdt(assemble([FDT_BEGIN_NODE, 0, FDT_BEGIN_NODE, 0, FDT_END_NODE, FDT_END_NODE, FDT_END]))).message,
    ).toMatch(/empty name under \//);
    expect(parseError(() => parseFdt(assemble([FDT_END]))).message).toMatch(/no root node/);
    expect(
      parseError(() => parseFdt(assemble([FDT_BEGIN_NODE, 0, FDT_END_NODE, FDT_BEGIN_NODE, 0, FDT_END_NODE, FDT_END]))).message,
    ).toMatch(/second top-level node "" at 0x/);
  });

  it('throws only FdtParseError on randomly corrupted or truncated blobs', () => {
    const virt = buildVirtDtb(qemuVirtDtConfig({ harts: 2 }));
    let seed = 0x2545f491;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 3000; i++) {
      const b = virt.slice();
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const input = rnd() < 0.1 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
      try {
        parseFdt(input);
      } catch (e) {
        if (!(e instanceof FdtParseError)) throw new Error(`iteration ${i}: ${String(e)}`);
      }
    }
  });

  it('reads version 16 blobs (no size_dt_struct) and ignores bytes past totalsize', () => {
    const v16 = patch32(patch32(good, 20, 16), 36, 0);
    const tree = parseFdt(v16);
    expect(tree.header.sizeDtStruct).toBeUndefined();
    expect(tree.root.find('n')!.string('b')).toBe('x');
    const longer = new Uint8Array(good.length + 100);
    longer.set(good);
    expect(parseFdt(longer).root.u32('a')).toBe(1);
  });

  it('typed accessors complain about wrongly sized values', () => {
    const b = new FdtBuilder();
    b.beginNode('').prop('two', [1, 2]).prop('odd', new Uint8Array(3)).prop('s', ['a', 'b']).prop('raw', new Uint8Array([0x61])).endNode();
    const r = parseFdt(b.finish()).root;
    expect(() => r.u32('two')).toThrow(/\/: "two" has 2 cells, expected 1/);
    expect(() => r.cells('odd')).toThrow(/3 bytes, not a list of cells/);
    expect(() => r.string('s')).toThrow(/2 strings, expected 1/);
    expect(() => r.strings('raw')).toThrow(/not NUL-terminated/);
    expect(() => r.need('nope')).toThrow(/\/: no property "nope"/);
    expect(r.u64('two')).toBe((1n << 32n) | 2n);
  });
});

describe('DTS output', () => {
  it('guesses value formats like dtc, but prints cells for values such as 0x00384000', () => {
    expect(formatValue(new Uint8Array(0))).toBe('');
    expect(formatValue(new TextEncoder().encode('ns16550a\0'))).toBe('"ns16550a"');
    expect(formatValue(new TextEncoder().encode('a\0b"c\0'))).toBe('"a", "b\\"c"');
    expect(formatValue(new Uint8Array([0, 0x38, 0x40, 0]))).toBe('<0x384000>');
    expect(formatValue(new Uint8Array([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]))).toBe('<0x1 0xffffffff>');
    expect(formatValue(new Uint8Array([1, 2, 0xab]))).toBe('[01 02 ab]');
  });

  it('prints the tree with reservations', () => {
    const b = new FdtBuilder();
    b.addReservation(0x8000_0000n, 0x1000n);
    b.beginNode('').prop('model', 'm').prop('flag').beginNode('c@1').prop('reg', 1).endNode().endNode();
    const text = formatDts(parseFdt(b.finish()));
    expect(text).toContain('/dts-v1/;');
    expect(text).toContain('/memreserve/ 0x80000000 0x1000;');
    expect(text).toContain('/ {\n\tmodel = "m";\n\tflag;\n\n\tc@1 {\n\t\treg = <0x1>;\n\t};\n};\n');
  });
});

// -------------------------------------------------------------------------------------------------

const QEMU_ISA = 'rv64imafdch_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc';

function config(harts: number, extra: Partial<DtConfig> = {}): DtConfig {
  return qemuVirtDtConfig({ harts, ramSize: 256n * MiB, isa: 'rv64imac', mmuType: 'riscv,sv39', ...extra });
}

/** Nodes of the virt tree in blob order, for n harts (all optional devices present). */
function expectedPaths(n: number): string[] {
  const cpus = Array.from({ length: n }, (_, h) => [`/cpus/cpu@${h}`, `/cpus/cpu@${h}/interrupt-controller`]).flat();
  const cores = Array.from({ length: n }, (_, h) => `/cpus/cpu-map/cluster0/core${h}`);
  const virtio = Array.from({ length: 8 }, (_, i) => `/soc/virtio_mmio@${(0x10008000 - i * 0x1000).toString(16)}`);
  return [
    '/', '/chosen', '/poweroff', '/reboot', '/memory@80000000', '/cpus', ...cpus, '/cpus/cpu-map',
    '/cpus/cpu-map/cluster0', ...cores, '/soc', '/soc/rtc@101000', '/soc/serial@10000000', '/soc/test@100000',
    ...virtio, '/soc/plic@c000000', '/soc/clint@2000000',
  ];
}

/** Resolves a list of (phandle, cell) pairs to (path, cell) pairs. */
function resolvePairs(tree: FdtTree, node: FdtNode, prop: string): Array<[string, number]> {
  const map = phandleMap(tree.root);
  const cells = node.cells(prop);
  expect(cells.length % 2).toBe(0);
  const out: Array<[string, number]> = [];
  for (let i = 0; i < cells.length; i += 2) {
    const target = map.get(cells[i]!);
    expect(target, `${node.path} ${prop}[${i}] = phandle ${cells[i]}`).toBeDefined();
    out.push([target!.path, cells[i + 1]!]);
  }
  return out;
}

function checkVirtTree(n: number, blob: Uint8Array): FdtTree {
  const tree = parseFdt(blob);
  const root = tree.root;
  const node = (p: string): FdtNode => {
    const x = root.find(p);
    expect(x, p).toBeDefined();
    return x!;
  };
  const phandles = phandleMap(root);

  expect(tree.header.version).toBe(17);
  expect(tree.header.bootCpuidPhys).toBe(0);
  expect(tree.reservations).toEqual([]);
  expect([...root.walk()].map((x) => x.path)).toEqual(expectedPaths(n));

  // Root.
  expect(root.u32('#address-cells')).toBe(2);
  expect(root.u32('#size-cells')).toBe(2);
  expect(root.string('compatible')).toBe('riscv-virtio');
  expect(root.string('model')).toBe('riscv-virtio,qemu');

  // Memory.
  const mem = node('/memory@80000000');
  expect(mem.string('device_type')).toBe('memory');
  expect(mem.cells('reg')).toEqual([0, 0x8000_0000, 0, 0x1000_0000]);

  // CPUs.
  const cpus = node('/cpus');
  expect(cpus.u32('#address-cells')).toBe(1);
  expect(cpus.u32('#size-cells')).toBe(0);
  expect(cpus.u32('timebase-frequency')).toBe(10_000_000);
  const intcPath = (h: number): string => `/cpus/cpu@${h}/interrupt-controller`;
  for (let h = 0; h < n; h++) {
    const cpu = node(`/cpus/cpu@${h}`);
    expect(cpu.string('device_type')).toBe('cpu');
    expect(cpu.u32('reg')).toBe(h);
    expect(cpu.string('status')).toBe('okay');
    expect(cpu.string('compatible')).toBe('riscv');
    expect(cpu.string('riscv,isa')).toBe('rv64imac');
    expect(cpu.string('mmu-type')).toBe('riscv,sv39');
    const intc = node(intcPath(h));
    expect(intc.u32('#interrupt-cells')).toBe(1);
    expect(intc.u32('#address-cells')).toBe(0);
    expect(intc.has('interrupt-controller')).toBe(true);
    expect(intc.need('interrupt-controller').length).toBe(0);
    expect(intc.string('compatible')).toBe('riscv,cpu-intc');
    expect(phandles.get(intc.u32('phandle'))).toBe(intc);
    expect(phandles.get(cpu.u32('phandle'))).toBe(cpu);
    expect(phandles.get(node(`/cpus/cpu-map/cluster0/core${h}`).u32('cpu'))).toBe(cpu);
  }
  // Phandles are unique and in QEMU's numbering (last hart first, then PLIC, then test).
  const all = [...root.walk()].filter((x) => x.has('phandle')).map((x) => x.u32('phandle'));
  expect(new Set(all).size).toBe(all.length);
  expect(all.length).toBe(2 * n + 2);
  expect(node('/cpus/cpu@0').u32('phandle')).toBe(2 * n - 1);
  expect(node(`/cpus/cpu@${n - 1}`).u32('phandle')).toBe(1);
  expect(node('/soc/plic@c000000').u32('phandle')).toBe(2 * n + 1);
  expect(node('/soc/test@100000').u32('phandle')).toBe(2 * n + 2);

  // SoC bus.
  const soc = node('/soc');
  expect(soc.u32('#address-cells')).toBe(2);
  expect(soc.u32('#size-cells')).toBe(2);
  expect(soc.string('compatible')).toBe('simple-bus');
  expect(soc.need('ranges').length).toBe(0);

  // CLINT: MSIP (3) and MTIP (7) of every hart, in hart order.
  const clint = node('/soc/clint@2000000');
  expect(clint.strings('compatible')).toEqual(['sifive,clint0', 'riscv,clint0']);
  expect(clint.cells('reg')).toEqual([0, 0x200_0000, 0, 0x1_0000]);
  expect(resolvePairs(tree, clint, 'interrupts-extended')).toEqual(
    Array.from({ length: n }, (_, h) => [[intcPath(h), 3], [intcPath(h), 7]]).flat(),
  );

  // PLIC: context 2h = hart h M-mode (11), 2h+1 = hart h S-mode (9).
  const plic = node('/soc/plic@c000000');
  expect(plic.strings('compatible')).toEqual(['sifive,plic-1.0.0', 'riscv,plic0']);
  expect(plic.u32('#interrupt-cells')).toBe(1);
  expect(plic.u32('#address-cells')).toBe(0);
  expect(plic.has('interrupt-controller')).toBe(true);
  expect(plic.u32('riscv,ndev')).toBe(96);
  expect(plic.cells('reg')).toEqual([0, 0xc00_0000, 0, 0x60_0000]);
  const contexts = resolvePairs(tree, plic, 'interrupts-extended');
  expect(contexts).toHaveLength(2 * n);
  for (let h = 0; h < n; h++) {
    expect(contexts[2 * h]).toEqual([intcPath(h), 11]);
    expect(contexts[2 * h + 1]).toEqual([intcPath(h), 9]);
  }

  // Devices behind the PLIC.
  const plicPhandle = plic.u32('phandle');
  const serial = node('/soc/serial@10000000');
  expect(serial.string('compatible')).toBe('ns16550a');
  expect(serial.cells('reg')).toEqual([0, 0x1000_0000, 0, 0x100]);
  expect(serial.u32('clock-frequency')).toBe(0x384000);
  expect(serial.u32('interrupts')).toBe(10);
  expect(serial.u32('interrupt-parent')).toBe(plicPhandle);
  const rtc = node('/soc/rtc@101000');
  expect(rtc.string('compatible')).toBe('google,goldfish-rtc');
  expect(rtc.cells('reg')).toEqual([0, 0x10_1000, 0, 0x1000]);
  expect(rtc.u32('interrupts')).toBe(11);
  expect(rtc.u32('interrupt-parent')).toBe(plicPhandle);
  for (let i = 0; i < 8; i++) {
    const base = 0x1000_1000 + i * 0x1000;
    const v = node(`/soc/virtio_mmio@${base.toString(16)}`);
    expect(v.string('compatible')).toBe('virtio,mmio');
    expect(v.cells('reg')).toEqual([0, base, 0, 0x1000]);
    expect(v.u32('interrupts')).toBe(1 + i);
    expect(v.u32('interrupt-parent')).toBe(plicPhandle);
  }

  // Test finisher and the syscon nodes that use it.
  const test = node('/soc/test@100000');
  expect(test.strings('compatible')).toEqual(['sifive,test1', 'sifive,test0', 'syscon']);
  expect(test.cells('reg')).toEqual([0, 0x10_0000, 0, 0x1000]);
  for (const [path, compatible, value] of [
    ['/poweroff', 'syscon-poweroff', 0x5555],
    ['/reboot', 'syscon-reboot', 0x7777],
  ] as const) {
    const x = node(path);
    expect(x.string('compatible')).toBe(compatible);
    expect(phandles.get(x.u32('regmap'))).toBe(test);
    expect(x.u32('offset')).toBe(0);
    expect(x.u32('value')).toBe(value);
  }

  // Every phandle reference resolves.
  for (const x of root.walk()) {
    for (const p of ['interrupt-parent', 'regmap', 'cpu']) {
      if (x.has(p)) expect(phandles.has(x.u32(p)), `${x.path} ${p}`).toBe(true);
    }
  }

  // stdout-path names the UART.
  expect(root.find(node('/chosen').string('stdout-path'))).toBe(serial);
  return tree;
}

describe('buildVirtDtb', () => {
  it.each([1, 4])('describes the virt board with %i hart(s)', (n) => {
    const tree = checkVirtTree(n, buildVirtDtb(config(n)));
    const chosen = tree.root.find('/chosen')!;
    expect(chosen.props.map((p) => p.name)).toEqual(['stdout-path']);
  });

  it('writes /chosen from bootargs, initrd (u64) and rng-seed', () => {
    const seed = new Uint8Array(32).map((_, i) => i * 7);
    const tree = checkVirtTree(
      2,
      buildVirtDtb(
        config(2, {
          bootargs: 'console=ttyS0 earlycon=sbi root=/dev/vda',
          initrd: { start: 0x8820_0000n, end: 0x8821_86a0n },
          rngSeed: seed,
        }),
      ),
    );
    const chosen = tree.root.find('/chosen')!;
    expect(chosen.props.map((p) => p.name)).toEqual([
      'linux,initrd-end', 'linux,initrd-start', 'rng-seed', 'bootargs', 'stdout-path',
    ]);
    expect(chosen.string('bootargs')).toBe('console=ttyS0 earlycon=sbi root=/dev/vda');
    expect(chosen.cells('linux,initrd-start')).toEqual([0, 0x8820_0000]);
    expect(chosen.u64('linux,initrd-end')).toBe(0x8821_86a0n);
    expect(chosen.need('rng-seed')).toEqual(seed);
    expect(chosen.string('stdout-path')).toBe('/soc/serial@10000000');
  });

  it('follows the configuration: no RTC, no MMU, no virtio, RAM above 4 GiB, other timebase and ISA', () => {
    const blob = buildVirtDtb(
      config(3, {
        rtc: undefined,
        mmuType: null,
        virtio: [],
        ramBase: 0x8000_0000n,
        ramSize: 8n * GiB,
        timebaseHz: 1_000_000,
        isa: 'rv64imafdch_zicsr_zifencei_sstc',
        uart: { base: 0x1000_0000n, irq: 10, clockHz: 1_843_200 },
        stdoutPath: '/soc/serial@10000000:115200n8',
      }),
    );
    const root = parseFdt(blob).root;
    const paths = [...root.walk()].map((x) => x.path);
    expect(paths.some((p) => p.startsWith('/soc/rtc') || p.startsWith('/soc/virtio'))).toBe(false);
    expect(root.find('/cpus/cpu@2')!.has('mmu-type')).toBe(false);
    expect(root.find('/cpus/cpu@2')!.string('riscv,isa')).toBe('rv64imafdch_zicsr_zifencei_sstc');
    expect(root.find('/memory@80000000')!.cells('reg')).toEqual([0, 0x8000_0000, 2, 0]);
    expect(root.find('/cpus')!.u32('timebase-frequency')).toBe(1_000_000);
    expect(root.find('/soc/serial@10000000')!.u32('clock-frequency')).toBe(1_843_200);
    expect(root.find('/chosen')!.string('stdout-path')).toBe('/soc/serial@10000000:115200n8');
  });

  it('writes virtio transports highest address first whatever the input order', () => {
    const virtio = [
      { base: 0x1000_2000n, size: 0x1000n, irq: 2 },
      { base: 0x1000_1000n, size: 0x1000n, irq: 1 },
      { base: 0x1000_3000n, size: 0x1000n, irq: 3 },
    ];
    const soc = parseFdt(buildVirtDtb(config(1, { virtio }))).root.find('/soc')!;
    expect(soc.children.filter((c) => c.name.startsWith('virtio')).map((c) => [c.name, c.u32('interrupts')])).toEqual([
      ['virtio_mmio@10003000', 3],
      ['virtio_mmio@10002000', 2],
      ['virtio_mmio@10001000', 1],
    ]);
  });

  it('is deterministic', () => {
    expect(buildVirtDtb(config(4))).toEqual(buildVirtDtb(config(4)));
  });

  it('passes padding through to the blob', () => {
    const plain = buildVirtDtb(config(1));
    const padded = buildVirtDtb(config(1), { padding: 0x1000 });
    expect(padded.length).toBe(plain.length + 0x1000);
    expect(parseFdt(padded).header.totalSize).toBe(padded.length);
  });

  it('rejects configurations no kernel could use', () => {
    const cases: Array<[Partial<DtConfig>, RegExp]> = [
      [{ harts: 0 }, /hart count 0 is not between 1 and 512/],
      [{ harts: MAX_HARTS + 1 }, /hart count 513/],
      [{ harts: 1.5 }, /hart count 1.5/],
      [{ isa: 'RV64IMAC' }, /ISA string "RV64IMAC"/],
      [{ isa: 'imac' }, /ISA string/],
      [{ ramSize: 0n }, /RAM region/],
      [{ timebaseHz: 0 }, /timebase frequency 0 Hz/],
      [{ initrd: { start: 0x9000_0000n, end: 0x8000_0000n } }, /initrd range/],
      [{ bootargs: 'a\0b' }, /NUL/],
      [{ uart: { base: 0x1000_0000n, irq: 97 } }, /UART interrupt 97 is not a PLIC source \(1\.\.96\)/],
      [{ uart: { base: 0x1000_0000n, irq: 0 } }, /UART interrupt 0/],
      [{ rtc: { base: 0x10_1000n, irq: 200 } }, /RTC interrupt 200/],
      [{ plic: { base: 0xc00_0000n, size: 0x60_0000n, ndev: 0 } }, /PLIC source count 0/],
      [{ virtio: [{ base: 0x1000_1000n, size: 0x1000n, irq: 1 }, { base: 0x1000_1000n, size: 0x1000n, irq: 2 }] }, /two virtio-mmio transports at 0x10001000/],
      [{ virtio: [{ base: 0x1000_1000n, size: 0n, irq: 1 }] }, /virtio-mmio region/],
      [{ stdoutPath: '/soc/serial@10000001' }, /stdout-path "\/soc\/serial@10000001" names no node/],
      [{ stdoutPath: 'serial0' }, /stdout-path "serial0" names no node/],
    ];
    for (const [extra, re] of cases) {
      const err = userError(() => buildVirtDtb(config(1, extra)));
      expect(err.message).toMatch(/^devicetree: /);
      expect(err.message).toMatch(re);
    }
  });

  it('dtbToDts renders the tree readably', () => {
    const text = dtbToDts(buildVirtDtb(config(2, { bootargs: 'console=ttyS0' })));
    expect(text).toMatch(/^\/dts-v1\/;\n/);
    expect(text).toContain('\t\tbootargs = "console=ttyS0";');
    expect(text).toContain('\t\tcompatible = "sifive,plic-1.0.0", "riscv,plic0";');
    expect(text).toContain('\t\tinterrupts-extended = <0x4 0xb 0x4 0x9 0x2 0xb 0x2 0x9>;');
    expect(text).toContain('\t\tclock-frequency = <0x384000>;');
    expect(text).toContain('\t\t\t\tinterrupt-controller;');
    expect(() => dtbToDts(new Uint8Array(10))).toThrow(FdtParseError);
  });
});

// -------------------------------------------------------------------------------------------------

describe.skipIf(!hasDtc)('dtc accepts our blobs', () => {
  const cases: Array<[string, DtConfig]> = [
    ['1 hart', config(1)],
    ['4 harts with bootargs, initrd and rng-seed', config(4, {
      bootargs: 'console=ttyS0',
      initrd: { start: 0x8800_0000n, end: 0x8810_0000n },
      rngSeed: new Uint8Array(32).fill(0xa5),
    })],
    ['no MMU, no RTC, no virtio', config(2, { mmuType: null, rtc: undefined, virtio: [] })],
  ];
  it.each(cases)('%s: decompiles without warnings and re-encodes byte for byte', (name, cfg) => {
    const blob = buildVirtDtb(cfg);
    const file = join(tmp, `ours-${name.replace(/\W+/g, '-')}.dtb`);
    writeFileSync(file, blob);
    const dts = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', file], { encoding: 'utf8' });
    expect(dts.status).toBe(0);
    expect(dts.stderr).toBe('');
    expect(dts.stdout).toContain('compatible = "riscv-virtio";');
    const redo = spawnSync('dtc', ['-I', 'dtb', '-O', 'dtb', '-o', `${file}.re`, file], { encoding: 'utf8' });
    expect(redo.status).toBe(0);
    expect(redo.stderr).toBe('');
    expect(new Uint8Array(readFileSync(`${file}.re`))).toEqual(blob);
  });

  it('our builder output for an arbitrary tree round-trips through dtc', () => {
    const b = new FdtBuilder();
    b.addReservation(0x8000_0000n, 0x1_0000n);
    b.beginNode('').prop('#address-cells', 2).prop('#size-cells', 2).prop('model', 'x')
      .beginNode('node@1000').prop('reg', [0x1000n, 0x10n]).prop('data', new Uint8Array([1, 2, 3])).endNode()
      .endNode();
    const blob = b.finish();
    const file = join(tmp, 'generic.dtb');
    writeFileSync(file, blob);
    const redo = spawnSync('dtc', ['-I', 'dtb', '-O', 'dtb', '-o', `${file}.re`, file], { encoding: 'utf8' });
    expect(redo.stderr).toBe('');
    expect(new Uint8Array(readFileSync(`${file}.re`))).toEqual(blob);
  });
});

// -------------------------------------------------------------------------------------------------

/** Nodes in QEMU 7.2's virt tree that we deliberately do not write (see the header comment). */
const QEMU_ONLY_NODES = new Set(['/pmu', '/fw-cfg@10100000', '/flash@20000000', '/platform-bus@4000000', '/soc/pci@30000000']);
/** Properties whose cells are (phandle, specifier) pairs or a bare phandle; compared after resolving. */
const PAIR_PROPS = new Set(['interrupts-extended']);
const PHANDLE_PROPS = new Set(['interrupt-parent', 'regmap', 'cpu']);

function dumpQemuDtb(harts: number, extraArgs: string[]): FdtTree {
  const file = join(tmp, `qemu-${harts}-${extraArgs.length}.dtb`);
  const r = spawnSync(
    'qemu-system-riscv64',
    ['-M', `virt,dumpdtb=${file}`, '-bios', 'none', '-smp', String(harts), '-m', '256M', '-display', 'none', '-nodefaults', ...extraArgs],
    { encoding: 'utf8', timeout: 30_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  return parseFdt(new Uint8Array(readFileSync(file)));
}

function compareWithQemu(ours: FdtTree, qemu: FdtTree): void {
  const qemuNodes = [...qemu.root.walk()].filter((n) => ![...QEMU_ONLY_NODES].some((p) => n.path === p || n.path.startsWith(`${p}/`)));
  const ourNodes = [...ours.root.walk()];
  // Same nodes, same order.
  expect(ourNodes.map((n) => n.path)).toEqual(qemuNodes.map((n) => n.path));

  const ourPh = phandleMap(ours.root);
  const qemuPh = phandleMap(qemu.root);
  const resolve = (map: Map<number, FdtNode>, ph: number): string => map.get(ph)?.path ?? `<dangling ${ph}>`;
  for (const [i, q] of qemuNodes.entries()) {
    const o = ourNodes[i]!;
    // Same properties in the same order, apart from the documented differences.
    const qNames = q.props.map((p) => p.name).filter((p) => !(q.path === '/chosen' && p === 'rng-seed'));
    const oNames = o.props.map((p) => p.name).filter((p) => !(o.name === 'interrupt-controller' && p === '#address-cells'));
    expect(oNames, o.path).toEqual(qNames);
    for (const name of qNames) {
      const what = `${o.path} ${name}`;
      if (name === 'phandle') continue; // numbering compared through the references below
      if (PAIR_PROPS.has(name)) {
        const pairs = (n: FdtNode, map: Map<number, FdtNode>): string[] =>
          n.cells(name).map((v, k) => (k % 2 === 0 ? resolve(map, v) : String(v)));
        expect(pairs(o, ourPh), what).toEqual(pairs(q, qemuPh));
      } else if (PHANDLE_PROPS.has(name)) {
        expect(resolve(ourPh, o.u32(name)), what).toBe(resolve(qemuPh, q.u32(name)));
      } else if (name === 'linux,initrd-start' || name === 'linux,initrd-end') {
        expect(o.u64(name), what).toBe(q.u64(name));
      } else {
        expect(formatValue(o.need(name)), what).toBe(formatValue(q.need(name)));
      }
    }
  }
  expect(ours.header.bootCpuidPhys).toBe(qemu.header.bootCpuidPhys);
  expect(ours.reservations).toEqual(qemu.reservations);
}

describe.skipIf(!hasQemu)('structure matches QEMU 7.2 virt', () => {
  it.each([1, 4])('%i hart(s), no kernel', (harts) => {
    const qemu = dumpQemuDtb(harts, []);
    const cpu0 = qemu.root.find('/cpus/cpu@0')!;
    // Use QEMU's CPU description so that every property can be compared.
    const isa = cpu0.string('riscv,isa');
    expect(isa).toMatch(/^rv64/);
    const mmuType = cpu0.string('mmu-type') as DtConfig['mmuType'];
    const ours = parseFdt(buildVirtDtb(config(harts, { isa, mmuType })));
    compareWithQemu(ours, qemu);
    if (isa === QEMU_ISA) expect(ours.root.find('/cpus/cpu@0')!.string('riscv,isa')).toBe(QEMU_ISA);
  });

  it('4 harts with kernel, initrd and command line', () => {
    const kernel = join(tmp, 'kernel.bin');
    const initrd = join(tmp, 'initrd.img');
    writeFileSync(kernel, new Uint8Array(4096));
    writeFileSync(initrd, new Uint8Array(100_000).fill(1));
    const bootargs = 'console=ttyS0 earlycon=sbi';
    const qemu = dumpQemuDtb(4, ['-kernel', kernel, '-initrd', initrd, '-append', bootargs]);
    const chosen = qemu.root.find('/chosen')!;
    expect(chosen.string('bootargs')).toBe(bootargs);
    const cpu0 = qemu.root.find('/cpus/cpu@0')!;
    const ours = parseFdt(
      buildVirtDtb(
        config(4, {
          isa: cpu0.string('riscv,isa'),
          mmuType: cpu0.string('mmu-type') as DtConfig['mmuType'],
          bootargs,
          initrd: { start: chosen.u64('linux,initrd-start'), end: chosen.u64('linux,initrd-end') },
        }),
      ),
    );
    expect(chosen.u64('linux,initrd-end') - chosen.u64('linux,initrd-start')).toBe(100_000n);
    compareWithQemu(ours, qemu);
  });
});
