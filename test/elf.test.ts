import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { userErrorOf as errorOf } from './helpers/errors.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError, fileReadError, formatSize, hex } from '../src/errors.js';
import { PF_R, PF_W, PF_X, checkSegmentsFit, loadElf, loadFile, parseElf } from '../src/elf.js';
import { EHDR, buildElf, patched, phdrField } from './helpers/elf-writer.js';

const RAM_BASE = 0x8000_0000n;
const MiB = 1n << 20n;


const text = new Uint8Array(64).map((_, i) => i);
const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);

function twoSegmentElf(): Uint8Array {
  return buildElf({
    entry: 0x8000_0010n,
    segments: [
      { paddr: 0x8000_0000n, data: text, flags: PF_R | PF_X, section: '.text' },
      { paddr: 0x8000_1000n, data, memsz: 0x2000n, flags: PF_R | PF_W, section: '.data' },
    ],
    symbols: [
      { name: '_start', value: 0x8000_0010n, type: 2, bind: 1 },
      { name: 'tohost', value: 0x8000_1000n, type: 1, bind: 1, shndx: 2 },
      { name: 'loop', value: 0x8000_0020n, type: 0, bind: 0 },
      { name: 'helper', value: 0x8000_0030n, type: 2, bind: 0 },
      { name: 'weakling', value: 0x8000_0034n, type: 2, bind: 2 },
      { name: 'extern_thing', value: 0n, type: 0, bind: 1, shndx: 0 },
      { name: 'a.c', value: 0n, type: 4, bind: 0, shndx: 0xfff1 },
      { name: '.text', value: 0x8000_0000n, type: 3, bind: 0 },
    ],
  });
}

describe('parseElf: valid images', () => {
  it('reads entry, PT_LOAD segments, symbols and section names', () => {
    const img = parseElf(twoSegmentElf(), 'prog.elf');
    expect(img.name).toBe('prog.elf');
    expect(img.entry).toBe(0x8000_0010n);
    expect(img.type).toBe('exec');
    expect(img.eflags).toBe(5);
    expect(img.segments).toHaveLength(2);
    const [t, d] = img.segments;
    expect(t).toMatchObject({ index: 0, paddr: 0x8000_0000n, vaddr: 0x8000_0000n, filesz: 64, memsz: 64, flags: PF_R | PF_X });
    expect(d).toMatchObject({ index: 1, paddr: 0x8000_1000n, filesz: 8, memsz: 0x2000, flags: PF_R | PF_W });
    // The offsets really point at the bytes.
    const bytes = twoSegmentElf();
    expect(Array.from(bytes.subarray(t!.offset, t!.offset + t!.filesz))).toEqual(Array.from(text));
    expect(Array.from(bytes.subarray(d!.offset, d!.offset + d!.filesz))).toEqual(Array.from(data));
    expect(img.sectionNames).toEqual(['.text', '.data', '.symtab', '.strtab', '.shstrtab']);
  });

  it('keeps NOTYPE/OBJECT/FUNC symbols (global, weak, local), drops undefined, FILE and SECTION symbols', () => {
    const img = parseElf(twoSegmentElf(), 'prog.elf');
    expect(img.symbols.get('_start')).toBe(0x8000_0010n);
    expect(img.symbols.get('tohost')).toBe(0x8000_1000n);
    expect(img.symbols.get('loop')).toBe(0x8000_0020n);
    expect(img.symbols.get('helper')).toBe(0x8000_0030n);
    expect(img.symbols.get('weakling')).toBe(0x8000_0034n);
    expect(img.symbols.has('extern_thing')).toBe(false);
    expect(img.symbols.has('a.c')).toBe(false);
    expect(img.symbols.has('.text')).toBe(false);
    expect(img.symbols.size).toBe(5);
  });

  it('a global symbol wins over a local one with the same name', () => {
    const bytes = buildElf({
      symbols: [
        { name: 'dup', value: 0x8000_0004n, bind: 0 },
        { name: 'dup', value: 0x8000_0008n, bind: 1 },
      ],
    });
    expect(parseElf(bytes, 'x').symbols.get('dup')).toBe(0x8000_0008n);
  });

  it('accepts ET_DYN, an image without section headers, and skips empty/non-LOAD segments', () => {
    const bytes = buildElf({
      type: 3,
      noSections: true,
      segments: [
        { type: 6 /* PT_PHDR */, paddr: 0x8000_0000n, data: new Uint8Array(8) },
        { paddr: 0x8000_0000n, data: text },
        { paddr: 0x9000_0000n, memsz: 0n },
        { paddr: 0x8010_0000n, memsz: 0x100n }, // pure .bss
      ],
    });
    const img = parseElf(bytes, 'pie.elf');
    expect(img.type).toBe('dyn');
    expect(img.sectionNames).toEqual([]);
    expect(img.symbols.size).toBe(0);
    expect(img.segments.map((s) => s.index)).toEqual([1, 3]);
    expect(img.segments[1]).toMatchObject({ filesz: 0, memsz: 0x100, paddr: 0x8010_0000n });
  });

  it('loads at p_paddr even when it differs from p_vaddr', () => {
    const bytes = buildElf({ segments: [{ paddr: 0x8000_0000n, vaddr: 0xffff_ffff_8000_0000n, data: text }] });
    const [s] = parseElf(bytes, 'k').segments;
    expect(s!.paddr).toBe(0x8000_0000n);
    expect(s!.vaddr).toBe(0xffff_ffff_8000_0000n);
  });

  it('works on a Uint8Array view with a non-zero byteOffset', () => {
    const inner = twoSegmentElf();
    const outer = new Uint8Array(inner.length + 3);
    outer.set(inner, 3);
    const img = parseElf(outer.subarray(3), 'view');
    expect(img.symbols.get('tohost')).toBe(0x8000_1000n);
    expect(img.segments).toHaveLength(2);
  });
});

describe('parseElf: errors', () => {
  const good = buildElf();

  it('bad magic', () => {
    const e = errorOf(() => parseElf(new TextEncoder().encode('#!/bin/sh\necho hi\n'), 'script.sh'));
    expect(e.message).toBe('script.sh: not an ELF file (starts with 23 21 2f 62, expected 7f 45 4c 46)');
  });

  it('empty or tiny files', () => {
    expect(errorOf(() => parseElf(new Uint8Array(0), 'empty')).message).toBe(
      'empty: truncated ELF header (file is 0 bytes, an ELF64 header is 64)',
    );
    expect(errorOf(() => parseElf(good.subarray(0, 40), 'cut')).message).toBe(
      'cut: truncated ELF header (file is 40 bytes, an ELF64 header is 64)',
    );
  });

  it('ELF32', () => {
    const e = errorOf(() => parseElf(patched(good, EHDR.class, 1, 1), 'rv32.elf'));
    expect(e.message).toBe('rv32.elf is a 32-bit ELF; cyclevisor runs RV64 (ELF64) programs');
    // Even when the file is shorter than an ELF64 header.
    expect(errorOf(() => parseElf(patched(good, EHDR.class, 1, 1).subarray(0, 52), 'small32')).message).toContain(
      'is a 32-bit ELF',
    );
  });

  it('invalid class, big-endian, bad version', () => {
    expect(errorOf(() => parseElf(patched(good, EHDR.class, 1, 7), 'f')).message).toBe('f: invalid ELF class 7 (expected 2, ELF64)');
    expect(errorOf(() => parseElf(patched(good, EHDR.data, 1, 2), 'be.elf')).message).toBe(
      'be.elf is a big-endian ELF; RISC-V programs are little-endian',
    );
    expect(errorOf(() => parseElf(patched(good, EHDR.version, 1, 0), 'f')).message).toBe('f: unsupported ELF version 0 (expected 1)');
  });

  it('wrong machine names the machine number', () => {
    expect(errorOf(() => parseElf(patched(good, EHDR.machine, 2, 62), 'a.out')).message).toBe(
      'a.out: machine is 62 (x86-64), not RISC-V (243)',
    );
    expect(errorOf(() => parseElf(patched(good, EHDR.machine, 2, 183), 'arm')).message).toContain('machine is 183 (AArch64)');
    expect(errorOf(() => parseElf(patched(good, EHDR.machine, 2, 9999), 'odd')).message).toBe(
      'odd: machine is 9999, not RISC-V (243)',
    );
  });

  it('not ET_EXEC/ET_DYN', () => {
    expect(errorOf(() => parseElf(patched(good, EHDR.type, 2, 1), 'foo.o')).message).toBe(
      'foo.o: is a relocatable object file (ET_REL), not an executable; link it first',
    );
    expect(errorOf(() => parseElf(patched(good, EHDR.type, 2, 4), 'core')).message).toBe(
      'core: is a core dump (ET_CORE), not an executable',
    );
    expect(errorOf(() => parseElf(patched(good, EHDR.type, 2, 0), 'none')).message).toBe(
      'none: unsupported ELF type 0 (expected ET_EXEC or ET_DYN)',
    );
  });

  it('truncated program header table', () => {
    // Point the program headers near the end of the file.
    const bytes = patched(good, EHDR.phoff, 8, BigInt(good.length - 20));
    expect(errorOf(() => parseElf(bytes, 't')).message).toBe(
      `t: truncated: program header table (56 bytes at offset ${hex(good.length - 20)}) extends past the end of the file (${good.length} bytes)`,
    );
    expect(errorOf(() => parseElf(patched(good, EHDR.phentsize, 2, 32), 't')).message).toBe('t: bad e_phentsize 32 (expected 56)');
  });

  // Section headers are optional for loading (gABI; QEMU's load_elf runs such a file): a cut-off
  // section header table or symbol table is a warning and the image loads from its program
  // headers alone. (Issue 8 item 6: these used to be refused.)
  it('truncated section header table: loads from the program headers, with a warning', () => {
    const full = twoSegmentElf();
    const bytes = full.subarray(0, full.length - 10);
    const img = parseElf(bytes, 's');
    expect(img.segments.map((x) => x.paddr)).toEqual([0x8000_0000n, 0x8000_1000n]);
    expect(img.entry).toBe(0x8000_0010n);
    expect(img.symbols.size).toBe(0);
    expect(img.sectionNames).toEqual([]);
    expect(img.warnings).toHaveLength(1);
    expect(img.warnings[0]).toMatch(
      /^s: truncated: section header table \(\d+ bytes at offset 0x[0-9a-f]+\) extends past the end of the file \(\d+ bytes\); section headers ignored \(no symbols\)$/,
    );
    // Cut right after the last segment's bytes: no section data at all survives.
    const lastSeg = img.segments[1]!;
    const cut = parseElf(full.subarray(0, lastSeg.offset + lastSeg.filesz), 'c');
    expect(cut.segments).toHaveLength(2);
    expect(cut.warnings).toHaveLength(1);
    expect(parseElf(full, 'ok').warnings).toEqual([]);
  });

  it('truncated symbol table: symbols ignored with a warning', () => {
    const bytes = twoSegmentElf();
    // Grow .symtab's sh_size (section 3: after null, .text, .data) beyond the file.
    const shoff = Number(new DataView(bytes.buffer).getBigUint64(EHDR.shoff, true));
    const symtabSizeField = shoff + 3 * 64 + 32;
    const img = parseElf(patched(bytes, symtabSizeField, 8, 1_000_000n), 'sym');
    expect(img.segments).toHaveLength(2);
    expect(img.symbols.size).toBe(0);
    expect(img.warnings[0]).toMatch(/^sym: truncated: \.symtab \(1000000 bytes at offset 0x[0-9a-f]+\) extends past the end of the file/);
  });

  it('bad e_shentsize: a warning, not an error', () => {
    const img = parseElf(patched(good, EHDR.shentsize, 2, 32), 'e');
    expect(img.warnings).toEqual(['e: bad e_shentsize 32 (expected 64); section headers ignored (no symbols)']);
    expect(img.segments).toHaveLength(1);
  });

  it('segment file range outside the file', () => {
    const bytes = patched(good, phdrField(0, 'offset'), 8, 0x10000n);
    expect(errorOf(() => parseElf(bytes, 'p')).message).toBe(
      `p: segment 0 (PT_LOAD): file range 0x10000-0x1000f is outside the file (${good.length} bytes)`,
    );
  });

  it('filesz > memsz', () => {
    const bytes = patched(good, phdrField(0, 'memsz'), 8, 8n);
    expect(errorOf(() => parseElf(bytes, 'p')).message).toBe('p: segment 0 (PT_LOAD): p_filesz 16 is larger than p_memsz 8');
  });

  it('overlapping PT_LOAD segments', () => {
    const bytes = buildElf({
      segments: [
        { paddr: 0x8000_0000n, data: text },
        { paddr: 0x8000_1000n, memsz: 0x1000n },
        { paddr: 0x8000_0020n, data },
      ],
    });
    expect(errorOf(() => parseElf(bytes, 'ov')).message).toBe(
      'ov: PT_LOAD segments 0 (0x80000000-0x8000003f) and 2 (0x80000020-0x80000027) overlap',
    );
    // One byte of overlap is enough.
    const oneByte = buildElf({ segments: [{ paddr: 0x8000_0000n, data: text }, { paddr: 0x8000_003fn, data }] });
    expect(errorOf(() => parseElf(oneByte, 'ob')).message).toBe(
      'ob: PT_LOAD segments 0 (0x80000000-0x8000003f) and 1 (0x8000003f-0x80000046) overlap',
    );
    // Adjacent segments are fine.
    const adjacent = buildElf({ segments: [{ paddr: 0x8000_0000n, data: text }, { paddr: 0x8000_0040n, data }] });
    expect(parseElf(adjacent, 'adj').segments).toHaveLength(2);
    // A segment contained in a large earlier one, with a small one in between.
    const nested = buildElf({
      segments: [
        { paddr: 0x8000_0000n, memsz: 0x10000n },
        { paddr: 0x8000_0100n, memsz: 0x10n },
        { paddr: 0x8000_8000n, memsz: 0x10n },
      ],
    });
    expect(errorOf(() => parseElf(nested, 'n')).message).toBe(
      'n: PT_LOAD segments 0 (0x80000000-0x8000ffff) and 1 (0x80000100-0x8000010f) overlap',
    );
  });

  it('segment wrapping the address space, no PT_LOAD at all', () => {
    const wrap = buildElf({ segments: [{ paddr: 0xffff_ffff_ffff_f000n, memsz: 0x2000n }] });
    expect(errorOf(() => parseElf(wrap, 'w')).message).toBe(
      'w: segment 0 (PT_LOAD): 0xfffffffffffff000 + 0x2000 wraps past the end of the address space',
    );
    const none = buildElf({ segments: [{ type: 4 /* PT_NOTE */, paddr: 0n, data }] });
    expect(errorOf(() => parseElf(none, 'n')).message).toBe('n: has no loadable (PT_LOAD) segments');
  });
});

describe('checkSegmentsFit', () => {
  const img = parseElf(twoSegmentElf(), 'prog.elf');

  it('accepts segments inside RAM, including one ending exactly at the end', () => {
    expect(() => checkSegmentsFit(img, RAM_BASE, 128n * MiB)).not.toThrow();
    expect(() => checkSegmentsFit(img, RAM_BASE, 0x3000n)).not.toThrow();
  });

  it('segment past the end of RAM says how much RAM it needs', () => {
    const big = parseElf(buildElf({ segments: [{ paddr: 0x8000_0000n, memsz: 3n * MiB + 5n }] }), 'big.elf');
    expect(errorOf(() => checkSegmentsFit(big, RAM_BASE, 2n * MiB)).message).toBe(
      'big.elf: segment 0 (0x80000000-0x80300004, 3.0 MiB) is outside RAM 0x80000000-0x801fffff (2 MiB); it needs at least 4 MiB of RAM (--ram)',
    );
    expect(errorOf(() => checkSegmentsFit(img, RAM_BASE, 0x1800n)).message).toBe(
      'prog.elf: segment 1 (0x80001000-0x80002fff, 8 KiB) is outside RAM 0x80000000-0x800017ff (6 KiB); it needs at least 1 MiB of RAM (--ram)',
    );
  });

  it('segment below RAM or beyond any RAM size', () => {
    const low = parseElf(buildElf({ segments: [{ paddr: 0x1000n, data: text }] }), 'low.elf');
    expect(errorOf(() => checkSegmentsFit(low, RAM_BASE, 128n * MiB)).message).toBe(
      'low.elf: segment 0 (0x1000-0x103f, 64 bytes) is outside RAM 0x80000000-0x87ffffff (128 MiB); it is linked below RAM (check the linker script)',
    );
    const high = parseElf(buildElf({ segments: [{ paddr: 0x1_0000_0000n, data: text }] }), 'high.elf');
    expect(errorOf(() => checkSegmentsFit(high, RAM_BASE, 128n * MiB)).message).toBe(
      'high.elf: segment 0 (0x100000000-0x10000003f, 64 bytes) is outside RAM 0x80000000-0x87ffffff (128 MiB)',
    );
    const huge = parseElf(buildElf({ segments: [{ paddr: 0x8000_0000n, memsz: 3n << 30n }] }), 'huge.elf');
    expect(errorOf(() => checkSegmentsFit(huge, RAM_BASE, 128n * MiB)).message).toContain(
      'it does not fit even in the largest RAM (2 GiB)',
    );
  });
});

describe('loadFile / loadElf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cyclevisor-elf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file and parses it', () => {
    const p = join(dir, 'ok.elf');
    writeFileSync(p, twoSegmentElf());
    expect(loadFile(p).length).toBe(twoSegmentElf().length);
    expect(loadElf(p).symbols.get('tohost')).toBe(0x8000_1000n);
  });

  it('ENOENT and EISDIR become one-line UserErrors', () => {
    const missing = join(dir, 'nope.elf');
    expect(errorOf(() => loadFile(missing)).message).toBe(`${missing}: no such file`);
    const sub = join(dir, 'adir');
    mkdirSync(sub);
    expect(errorOf(() => loadFile(sub)).message).toBe(`${sub}: is a directory, not an ELF file`);
    expect(errorOf(() => loadFile(join(dir, 'ok.elf', 'x'))).message).toContain('not a directory');
  });

  it('maps errno codes (EACCES cannot be provoked as root, so the mapping is tested directly)', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect((fileReadError('/x', err('EACCES')) as Error).message).toBe('/x: permission denied');
    expect((fileReadError('/x', err('EPERM')) as Error).message).toBe('/x: permission denied');
    expect((fileReadError('/x', err('EIO'), 'a timing file') as Error).message).toBe('/x: cannot read a timing file (EIO)');
    const plain = new Error('bug');
    expect(fileReadError('/x', plain)).toBe(plain);
  });

  it('formats sizes for messages', () => {
    expect(formatSize(128n * MiB)).toBe('128 MiB');
    expect(formatSize(4096)).toBe('4 KiB');
    expect(formatSize(1)).toBe('1 byte');
    expect(formatSize(1000)).toBe('1000 bytes');
    expect(formatSize(1536)).toBe('1.5 KiB');
    expect(formatSize(2n << 30n)).toBe('2 GiB');
  });

  it('UserError folds newlines and keeps a code', () => {
    const e = new UserError('a\nb\r\n  c', 3);
    expect(e.message).toBe('a b c');
    expect(e.code).toBe(3);
    expect(e.name).toBe('UserError');
    expect(new UserError('x').code).toBe(2);
  });
});
