/**
 * A tiny ELF64 little-endian writer for tests: builds RISC-V executables byte by byte, so tests do
 * not need a cross-compiler. Layout: ELF header | program headers | segment data | .symtab |
 * .strtab | .shstrtab | section headers. Tests corrupt the result with the `set*` helpers and the
 * offsets below to exercise the loader's error paths.
 */

export interface SegmentSpec {
  /** p_type, default PT_LOAD (1). */
  type?: number;
  /** PF_X=1 | PF_W=2 | PF_R=4, default R+X. */
  flags?: number;
  paddr: bigint;
  /** Default: paddr. */
  vaddr?: bigint;
  /** Initialised bytes (p_filesz = data.length). */
  data?: Uint8Array;
  /** Default: data.length. */
  memsz?: bigint;
  /** Section name to create for this segment's bytes (so symbols can point at it), default none. */
  section?: string;
}

export interface SymbolSpec {
  name: string;
  value: bigint;
  /** STT_*: 0 NOTYPE, 1 OBJECT, 2 FUNC, 3 SECTION, 4 FILE. Default FUNC. */
  type?: number;
  /** STB_*: 0 LOCAL, 1 GLOBAL, 2 WEAK. Default GLOBAL. */
  bind?: number;
  /** Section index; default 1 (the first section); 0 = undefined symbol. */
  shndx?: number;
}

export interface ElfSpec {
  entry?: bigint;
  /** e_type, default ET_EXEC (2). */
  type?: number;
  /** e_machine, default EM_RISCV (243). */
  machine?: number;
  flags?: number;
  segments?: SegmentSpec[];
  symbols?: SymbolSpec[];
  /** Leave out the section header table entirely (a stripped-to-the-bone image). */
  noSections?: boolean;
}

/** Offsets of ELF header fields, for corrupting images in tests. */
export const EHDR = {
  class: 4,
  data: 5,
  version: 6,
  type: 16,
  machine: 18,
  entry: 24,
  phoff: 32,
  shoff: 40,
  flags: 48,
  phentsize: 54,
  phnum: 56,
  shentsize: 58,
  shnum: 60,
  shstrndx: 62,
} as const;

/** Offsets within one program header (56 bytes each, starting at e_phoff). */
export const PHDR = { type: 0, flags: 4, offset: 8, vaddr: 16, paddr: 24, filesz: 32, memsz: 40, align: 48, size: 56 } as const;

class Buf {
  bytes = new Uint8Array(256);
  len = 0;
  private ensure(n: number) {
    if (this.len + n <= this.bytes.length) return;
    let cap = this.bytes.length;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.bytes.subarray(0, this.len));
    this.bytes = b;
  }
  align(a: number) {
    while (this.len % a !== 0) this.u8(0);
  }
  u8(v: number) {
    this.ensure(1);
    this.bytes[this.len++] = v & 0xff;
  }
  u16(v: number) {
    this.ensure(2);
    new DataView(this.bytes.buffer).setUint16(this.len, v, true);
    this.len += 2;
  }
  u32(v: number) {
    this.ensure(4);
    new DataView(this.bytes.buffer).setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }
  u64(v: bigint) {
    this.ensure(8);
    new DataView(this.bytes.buffer).setBigUint64(this.len, BigInt.asUintN(64, v), true);
    this.len += 8;
  }
  raw(b: Uint8Array) {
    this.ensure(b.length);
    this.bytes.set(b, this.len);
    this.len += b.length;
  }
  result(): Uint8Array {
    return this.bytes.slice(0, this.len);
  }
}

class StrTab {
  bytes: number[] = [0];
  add(s: string): number {
    const off = this.bytes.length;
    for (const b of new TextEncoder().encode(s)) this.bytes.push(b);
    this.bytes.push(0);
    return off;
  }
}

/** Builds an ELF64 LE image. Defaults: one R+X PT_LOAD of 16 bytes at 0x8000_0000, entry there, RISC-V. */
export function buildElf(spec: ElfSpec = {}): Uint8Array {
  const segments: SegmentSpec[] = spec.segments ?? [
    { paddr: 0x8000_0000n, data: new Uint8Array([0x13, 0, 0, 0, 0x13, 0, 0, 0, 0x13, 0, 0, 0, 0x73, 0, 0x10, 0]), section: '.text' },
  ];
  const symbols = spec.symbols ?? [];
  const phnum = segments.length;
  const phoff = 64;

  const out = new Buf();
  // Header is patched at the end; reserve it and the program headers.
  out.raw(new Uint8Array(64 + phnum * 56));

  // Segment data.
  const segOffsets: number[] = [];
  for (const s of segments) {
    out.align(16);
    segOffsets.push(out.len);
    if (s.data) out.raw(s.data);
  }

  interface Sec {
    name: string;
    type: number;
    flags: bigint;
    addr: bigint;
    offset: number;
    size: number;
    link: number;
    info: number;
    align: bigint;
    entsize: bigint;
  }
  const sections: Sec[] = [];
  const shstr = new StrTab();
  segments.forEach((s, i) => {
    if (s.section) {
      sections.push({
        name: s.section,
        type: 1, // PROGBITS
        flags: 0x6n,
        addr: s.vaddr ?? s.paddr,
        offset: segOffsets[i]!,
        size: s.data?.length ?? 0,
        link: 0,
        info: 0,
        align: 4n,
        entsize: 0n,
      });
    }
  });

  if (symbols.length > 0) {
    const strtab = new StrTab();
    out.align(8);
    const symOff = out.len;
    // Null symbol, then locals before globals (as the gABI wants; sh_info = first non-local).
    const sorted = [...symbols].sort((a, b) => ((a.bind ?? 1) === 0 ? 0 : 1) - ((b.bind ?? 1) === 0 ? 0 : 1));
    const firstGlobal = 1 + sorted.filter((s) => (s.bind ?? 1) === 0).length;
    for (let k = 0; k < 24; k++) out.u8(0);
    for (const s of sorted) {
      out.u32(strtab.add(s.name));
      out.u8((((s.bind ?? 1) & 0xf) << 4) | ((s.type ?? 2) & 0xf));
      out.u8(0);
      out.u16(s.shndx ?? 1);
      out.u64(s.value);
      out.u64(0n);
    }
    const symSize = out.len - symOff;
    const strOff = out.len;
    out.raw(new Uint8Array(strtab.bytes));
    const symIdx = sections.length + 1; // +1 for the null section
    sections.push({ name: '.symtab', type: 2, flags: 0n, addr: 0n, offset: symOff, size: symSize, link: symIdx + 1, info: firstGlobal, align: 8n, entsize: 24n });
    sections.push({ name: '.strtab', type: 3, flags: 0n, addr: 0n, offset: strOff, size: strtab.bytes.length, link: 0, info: 0, align: 1n, entsize: 0n });
  }

  let shoff = 0;
  let shnum = 0;
  let shstrndx = 0;
  if (!spec.noSections) {
    const nameOffs = sections.map((s) => shstr.add(s.name));
    const shstrNameOff = shstr.add('.shstrtab');
    const shstrOff = out.len;
    out.raw(new Uint8Array(shstr.bytes));
    sections.push({ name: '.shstrtab', type: 3, flags: 0n, addr: 0n, offset: shstrOff, size: shstr.bytes.length, link: 0, info: 0, align: 1n, entsize: 0n });
    nameOffs.push(shstrNameOff);
    out.align(8);
    shoff = out.len;
    shnum = sections.length + 1;
    shstrndx = sections.length;
    for (let k = 0; k < 64; k++) out.u8(0); // SHN_UNDEF
    sections.forEach((s, i) => {
      out.u32(nameOffs[i]!);
      out.u32(s.type);
      out.u64(s.flags);
      out.u64(s.addr);
      out.u64(BigInt(s.offset));
      out.u64(BigInt(s.size));
      out.u32(s.link);
      out.u32(s.info);
      out.u64(s.align);
      out.u64(s.entsize);
    });
  }

  const bytes = out.result();
  const dv = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  dv.setUint16(EHDR.type, spec.type ?? 2, true);
  dv.setUint16(EHDR.machine, spec.machine ?? 243, true);
  dv.setUint32(20, 1, true); // e_version
  dv.setBigUint64(EHDR.entry, spec.entry ?? segments[0]?.paddr ?? 0n, true);
  dv.setBigUint64(EHDR.phoff, phnum > 0 ? BigInt(phoff) : 0n, true);
  dv.setBigUint64(EHDR.shoff, BigInt(shoff), true);
  dv.setUint32(EHDR.flags, spec.flags ?? 0x5, true); // RVC | float ABI double
  dv.setUint16(52, 64, true); // e_ehsize
  dv.setUint16(EHDR.phentsize, 56, true);
  dv.setUint16(EHDR.phnum, phnum, true);
  dv.setUint16(EHDR.shentsize, 64, true);
  dv.setUint16(EHDR.shnum, shnum, true);
  dv.setUint16(EHDR.shstrndx, shstrndx, true);
  segments.forEach((s, i) => {
    const p = phoff + i * 56;
    const filesz = s.data?.length ?? 0;
    dv.setUint32(p + PHDR.type, s.type ?? 1, true);
    dv.setUint32(p + PHDR.flags, s.flags ?? 5, true);
    dv.setBigUint64(p + PHDR.offset, BigInt(segOffsets[i]!), true);
    dv.setBigUint64(p + PHDR.vaddr, s.vaddr ?? s.paddr, true);
    dv.setBigUint64(p + PHDR.paddr, s.paddr, true);
    dv.setBigUint64(p + PHDR.filesz, BigInt(filesz), true);
    dv.setBigUint64(p + PHDR.memsz, s.memsz ?? BigInt(filesz), true);
    dv.setBigUint64(p + PHDR.align, 0x1000n, true);
  });
  return bytes;
}

/** Returns a copy of `bytes` with a little-endian field overwritten. */
export function patched(bytes: Uint8Array, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): Uint8Array {
  const b = bytes.slice();
  const dv = new DataView(b.buffer);
  if (width === 1) dv.setUint8(offset, Number(value));
  else if (width === 2) dv.setUint16(offset, Number(value), true);
  else if (width === 4) dv.setUint32(offset, Number(value), true);
  else dv.setBigUint64(offset, BigInt(value), true);
  return b;
}

/** Byte offset of program header `i`'s field in an image built by `buildElf`. */
export function phdrField(i: number, field: Exclude<keyof typeof PHDR, 'size'>): number {
  return 64 + i * PHDR.size + PHDR[field];
}
