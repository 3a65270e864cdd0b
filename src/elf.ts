/**
 * ELF64 loader for bare-metal RISC-V images.
 *
 * Only what a bare-metal loader needs: the entry point, the PT_LOAD segments (loaded at their
 * physical address, p_paddr, i.e. the load address of the linker script's AT()/LMA), and the
 * symbol table (so the board can find `tohost`, `begin_signature`, ...). ET_DYN (PIE) images are
 * accepted and loaded at their link addresses; no relocations are applied.
 *
 * Every malformed input produces a one-line `UserError` that names the file and what is wrong.
 * Reference: System V gABI "ELF-64 Object File Format", RISC-V ELF psABI (EM_RISCV = 243).
 */
import { host } from './host/host.js';
import { UserError, fileReadError, formatSize, hex } from './errors.js';

export const EM_RISCV = 243;
export const PT_LOAD = 1;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const ET_REL = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const ET_CORE = 4;
const SHT_SYMTAB = 2;
const SHT_NOBITS = 8;
const SHN_UNDEF = 0;
const SHN_XINDEX = 0xffff;
const PN_XNUM = 0xffff;
const STB_LOCAL = 0;
const STB_GLOBAL = 1;
const STB_WEAK = 2;
const STT_NOTYPE = 0;
const STT_OBJECT = 1;
const STT_FUNC = 2;

/** Names for the machine numbers people are most likely to feed us by mistake. */
const MACHINE_NAMES: Readonly<Record<number, string>> = {
  0: 'none',
  3: 'x86',
  8: 'MIPS',
  20: 'PowerPC',
  21: 'PowerPC64',
  22: 'S/390',
  40: 'ARM',
  50: 'IA-64',
  62: 'x86-64',
  183: 'AArch64',
  243: 'RISC-V',
  247: 'BPF',
  258: 'LoongArch',
};

export interface ElfSegment {
  /** Index of the program header this segment came from (for messages). */
  index: number;
  /** Physical (load) address: where the loader copies the bytes. */
  paddr: bigint;
  /** Virtual (link) address. Equal to paddr in most bare-metal images. */
  vaddr: bigint;
  /** Byte range of the initialised part in the file. */
  offset: number;
  filesz: number;
  /** Size in memory; bytes past filesz are zero (.bss). Always > 0 and >= filesz. */
  memsz: number;
  /** PF_X | PF_W | PF_R. */
  flags: number;
}

export interface ElfImage {
  /** The name used in messages (usually the path). */
  name: string;
  entry: bigint;
  /** ET_EXEC or ET_DYN. */
  type: 'exec' | 'dyn';
  /** e_flags (RISC-V: float ABI, RVC, RVE, TSO). */
  eflags: number;
  /** PT_LOAD segments with memsz > 0, in program-header order. */
  segments: ElfSegment[];
  /** Defined STT_NOTYPE/STT_OBJECT/STT_FUNC symbols; a global/weak symbol wins over a local one of the same name. */
  symbols: Map<string, bigint>;
  /** Section names in section-header order (empty names left out). */
  sectionNames: string[];
  /**
   * Problems that did not stop loading, each one line starting with the file name: today a cut-off
   * or malformed section header table or symbol table, whose sections and symbols are then ignored.
   */
  warnings: string[];
}

const utf8 = new TextDecoder('utf-8');

function machineName(m: number): string {
  const n = MACHINE_NAMES[m];
  return n === undefined ? `${m}` : `${m} (${n})`;
}

function cstring(bytes: Uint8Array, start: number, end: number): string {
  let i = start;
  while (i < end && bytes[i] !== 0) i++;
  return utf8.decode(bytes.subarray(start, i));
}

/** Parses an ELF64 little-endian RISC-V executable. `name` is used in error messages. */
export function parseElf(bytes: Uint8Array, name: string): ElfImage {
  const len = bytes.length;
  const fail = (msg: string): never => {
    throw new UserError(`${name}: ${msg}`);
  };

  // --- e_ident -------------------------------------------------------------------------------
  const MAGIC = [0x7f, 0x45, 0x4c, 0x46];
  const head = Math.min(len, 4);
  for (let i = 0; i < head; i++) {
    if (bytes[i] !== MAGIC[i]) {
      const seen = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      fail(`not an ELF file (starts with ${seen}, expected 7f 45 4c 46)`);
    }
  }
  if (len < 16) fail(`truncated ELF header (file is ${len} bytes, an ELF64 header is ${EHDR_SIZE})`);
  const eiClass = bytes[4]!;
  if (eiClass === 1) {
    throw new UserError(`${name} is a 32-bit ELF; cyclevisor runs RV64 (ELF64) programs`);
  }
  if (eiClass !== 2) fail(`invalid ELF class ${eiClass} (expected 2, ELF64)`);
  const eiData = bytes[5]!;
  if (eiData === 2) {
    throw new UserError(`${name} is a big-endian ELF; RISC-V programs are little-endian`);
  }
  if (eiData !== 1) fail(`invalid ELF data encoding ${eiData} (expected 1, little-endian)`);
  if (bytes[6] !== 1) fail(`unsupported ELF version ${bytes[6]} (expected 1)`);
  if (len < EHDR_SIZE) fail(`truncated ELF header (file is ${len} bytes, an ELF64 header is ${EHDR_SIZE})`);

  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  const u64 = (o: number) => dv.getBigUint64(o, true);

  // --- ELF header ----------------------------------------------------------------------------
  const eType = u16(16);
  const eMachine = u16(18);
  if (eMachine !== EM_RISCV) fail(`machine is ${machineName(eMachine)}, not RISC-V (${EM_RISCV})`);
  if (eType !== ET_EXEC && eType !== ET_DYN) {
    if (eType === ET_REL) fail('is a relocatable object file (ET_REL), not an executable; link it first');
    if (eType === ET_CORE) fail('is a core dump (ET_CORE), not an executable');
    fail(`unsupported ELF type ${eType} (expected ET_EXEC or ET_DYN)`);
  }
  const entry = u64(24);
  const phoff = u64(32);
  const shoff = u64(40);
  const eflags = u32(48);
  const phentsize = u16(54);
  let phnum = u16(56);
  const shentsize = u16(58);
  let shnum = u16(60);
  let shstrndx = u16(62);

  /** Checks that [off, off + size) lies inside the file and returns off as a number. */
  const inFile = (off: bigint, size: bigint, what: string): number => {
    if (off + size > BigInt(len)) {
      fail(`truncated: ${what} (${size} bytes at offset ${hex(off)}) extends past the end of the file (${len} bytes)`);
    }
    return Number(off);
  };

  // --- section header table (read first: extended phnum/shnum/shstrndx live in section 0) -----
  // Section headers are optional for loading (gABI: "a loader needs only the program headers"; QEMU's
  // load_elf reads them only for symbols). A section header table that is cut off or malformed is
  // reported as a warning and ignored — no section names, no symbols — as long as the program
  // headers and every PT_LOAD segment are intact. Only PN_XNUM needs section 0 to load at all.
  const warnings: string[] = [];
  /** Thrown (and caught below) for a problem that only affects section data. */
  class SectionProblem extends Error {}
  const sectionFail = (msg: string): never => {
    throw new SectionProblem(msg);
  };
  const inFileSections = (off: bigint, size: bigint, what: string): number => {
    if (off + size > BigInt(len)) {
      sectionFail(`truncated: ${what} (${size} bytes at offset ${hex(off)}) extends past the end of the file (${len} bytes)`);
    }
    return Number(off);
  };
  let sh = 0;
  let sectionsOk = shoff !== 0n;
  if (shoff !== 0n) {
    try {
      if (shentsize !== SHDR_SIZE) sectionFail(`bad e_shentsize ${shentsize} (expected ${SHDR_SIZE})`);
      sh = inFileSections(shoff, BigInt(SHDR_SIZE), 'section header table');
      if (shnum === 0) {
        const real = u64(sh + 32); // sh_size of section 0
        if (real > 0xffffffn) sectionFail(`implausible section count ${real}`);
        shnum = Number(real);
      }
      if (shstrndx === SHN_XINDEX) shstrndx = u32(sh + 40); // sh_link of section 0
      if (phnum === PN_XNUM) phnum = u32(sh + 44); // sh_info of section 0
      inFileSections(shoff, BigInt(shnum) * BigInt(SHDR_SIZE), 'section header table');
    } catch (e) {
      if (!(e instanceof SectionProblem)) throw e;
      if (phnum === PN_XNUM) fail(`${e.message}; the program header count (PN_XNUM) lives there`);
      warnings.push(`${name}: ${e.message}; section headers ignored (no symbols)`);
      sectionsOk = false;
    }
  }
  if (!sectionsOk) shnum = 0;

  // --- program headers -----------------------------------------------------------------------
  if (phnum > 0 && phentsize !== PHDR_SIZE) fail(`bad e_phentsize ${phentsize} (expected ${PHDR_SIZE})`);
  const ph = phnum > 0 ? inFile(phoff, BigInt(phnum) * BigInt(PHDR_SIZE), 'program header table') : 0;

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = ph + i * PHDR_SIZE;
    if (u32(p) !== PT_LOAD) continue;
    const flags = u32(p + 4);
    const offset = u64(p + 8);
    const vaddr = u64(p + 16);
    const paddr = u64(p + 24);
    const filesz = u64(p + 32);
    const memsz = u64(p + 40);
    if (filesz > memsz) fail(`segment ${i} (PT_LOAD): p_filesz ${filesz} is larger than p_memsz ${memsz}`);
    if (memsz === 0n) continue;
    if (filesz > 0n && offset + filesz > BigInt(len)) {
      fail(
        `segment ${i} (PT_LOAD): file range ${hex(offset)}-${hex(offset + filesz - 1n)} is outside the file (${len} bytes)`,
      );
    }
    if (paddr + memsz > 1n << 64n) fail(`segment ${i} (PT_LOAD): ${hex(paddr)} + ${hex(memsz)} wraps past the end of the address space`);
    if (memsz > BigInt(Number.MAX_SAFE_INTEGER)) fail(`segment ${i} (PT_LOAD): memory size ${hex(memsz)} is too large`);
    segments.push({ index: i, paddr, vaddr, offset: Number(offset), filesz: Number(filesz), memsz: Number(memsz), flags });
  }
  if (segments.length === 0) fail('has no loadable (PT_LOAD) segments');

  // Overlap check on load addresses: sort by start, compare each with the furthest-reaching earlier one.
  const byAddr = [...segments].sort((a, b) => (a.paddr < b.paddr ? -1 : a.paddr > b.paddr ? 1 : a.index - b.index));
  let reach = byAddr[0]!;
  for (let k = 1; k < byAddr.length; k++) {
    const s = byAddr[k]!;
    if (s.paddr < reach.paddr + BigInt(reach.memsz)) {
      const [a, b] = reach.index < s.index ? [reach, s] : [s, reach];
      fail(`PT_LOAD segments ${a.index} (${segRange(a)}) and ${b.index} (${segRange(b)}) overlap`);
    }
    if (s.paddr + BigInt(s.memsz) > reach.paddr + BigInt(reach.memsz)) reach = s;
  }

  // --- sections: names and symbols -------------------------------------------------------------
  let sectionNames: string[] = [];
  let symbols = new Map<string, bigint>();
  if (shnum > 0) {
    try {
      interface Shdr {
        name: number;
        type: number;
        offset: bigint;
        size: bigint;
        link: number;
        entsize: bigint;
      }
      const shdr = (i: number): Shdr => {
        const o = sh + i * SHDR_SIZE;
        return { name: u32(o), type: u32(o + 4), offset: u64(o + 24), size: u64(o + 32), link: u32(o + 40), entsize: u64(o + 56) };
      };
      const sectionBytes = (s: Shdr, what: string): Uint8Array => {
        if (s.type === SHT_NOBITS) return new Uint8Array(0);
        const off = inFileSections(s.offset, s.size, what);
        return bytes.subarray(off, off + Number(s.size));
      };

      let names: Uint8Array | null = null;
      if (shstrndx !== SHN_UNDEF) {
        if (shstrndx >= shnum) sectionFail(`section name table index ${shstrndx} is out of range (${shnum} sections)`);
        names = sectionBytes(shdr(shstrndx), 'section name table');
      }
      const nameOf = (s: Shdr): string => (names && s.name < names.length ? cstring(names, s.name, names.length) : '');
      for (let i = 0; i < shnum; i++) {
        const n = nameOf(shdr(i));
        if (n !== '') sectionNames.push(n);
      }

      for (let i = 0; i < shnum; i++) {
        const s = shdr(i);
        if (s.type !== SHT_SYMTAB) continue;
        const label = nameOf(s) || `section ${i}`;
        if (s.entsize !== BigInt(SYM_SIZE)) sectionFail(`${label}: bad symbol entry size ${s.entsize} (expected ${SYM_SIZE})`);
        if (s.link === 0 || s.link >= shnum) sectionFail(`${label}: string table index ${s.link} is out of range`);
        const syms = sectionBytes(s, label);
        const strs = sectionBytes(shdr(s.link), `${label} string table`);
        const strongBind = new Set<string>();
        const base = syms.byteOffset - bytes.byteOffset;
        for (let o = 0; o + SYM_SIZE <= syms.length; o += SYM_SIZE) {
          const stName = u32(base + o);
          const info = bytes[base + o + 4]!;
          const shndx = u16(base + o + 6);
          const value = u64(base + o + 8);
          const type = info & 0xf;
          const bind = info >> 4;
          if (stName === 0 || shndx === SHN_UNDEF) continue;
          if (type !== STT_NOTYPE && type !== STT_OBJECT && type !== STT_FUNC) continue;
          if (bind !== STB_LOCAL && bind !== STB_GLOBAL && bind !== STB_WEAK) continue;
          if (stName >= strs.length) sectionFail(`${label}: symbol name offset ${stName} is outside the string table`);
          const symName = cstring(strs, stName, strs.length);
          if (symName === '') continue;
          const strong = bind !== STB_LOCAL;
          if (!symbols.has(symName) || (strong && !strongBind.has(symName))) {
            symbols.set(symName, value);
            if (strong) strongBind.add(symName);
          }
        }
      }
    } catch (e) {
      if (!(e instanceof SectionProblem)) throw e;
      warnings.push(`${name}: ${e.message}; section headers ignored (no symbols)`);
      sectionNames = [];
      symbols = new Map();
    }
  }
  return { name, entry, type: eType === ET_EXEC ? 'exec' : 'dyn', eflags, segments, symbols, sectionNames, warnings };
}

function segRange(s: ElfSegment): string {
  return `${hex(s.paddr)}-${hex(s.paddr + BigInt(s.memsz) - 1n)}`;
}

/** Reads a whole file, turning ENOENT/EISDIR/EACCES/... into one-line `UserError`s. */
export function loadFile(path: string, what = 'an ELF file'): Uint8Array {
  try {
    return host().readFile(path);
  } catch (e) {
    throw fileReadError(path, e, what);
  }
}

/** `parseElf(loadFile(path), path)`. */
export function loadElf(path: string): ElfImage {
  return parseElf(loadFile(path), path);
}

/**
 * Throws a `UserError` if a segment does not lie entirely in RAM [ramBase, ramBase + ramSize).
 * The message names the segment's range and size and the RAM range and size.
 */
export function checkSegmentsFit(img: ElfImage, ramBase: bigint, ramSize: bigint): void {
  const ramEnd = ramBase + ramSize;
  const ram = `RAM ${hex(ramBase)}-${hex(ramEnd - 1n)} (${formatSize(ramSize)})`;
  for (const s of img.segments) {
    const end = s.paddr + BigInt(s.memsz);
    if (s.paddr >= ramBase && end <= ramEnd) continue;
    let hint = '';
    if (s.paddr >= ramBase && s.paddr < ramEnd) {
      const need = end - ramBase;
      const rounded = (need + (1n << 20n) - 1n) & ~((1n << 20n) - 1n);
      hint =
        rounded <= 1n << 31n
          ? `; it needs at least ${formatSize(rounded)} of RAM (--ram)`
          : '; it does not fit even in the largest RAM (2 GiB)';
    } else if (s.paddr < ramBase) {
      hint = '; it is linked below RAM (check the linker script)';
    }
    throw new UserError(
      `${img.name}: segment ${s.index} (${segRange(s)}, ${formatSize(s.memsz)}) is outside ${ram}${hint}`,
    );
  }
}
