/**
 * The hart's ISA choices: `--cpu` (QEMU's `-cpu` syntax, `rv64[,key=value]...`), what the core
 * makes of them, and the strings the device tree reports.
 *
 *   --cpu rv64          the defaults (as QEMU 7.2's `-cpu rv64`: the H extension on)
 *   --cpu rv64,h=off    no hypervisor extension: misa.H clear, no `h` in riscv,isa
 *
 * Keys today: `h` (the hypervisor extension, on|off; QEMU also takes true/false, yes/no). Later
 * issues add keys to the same option. A key left out takes its default; for `h` the default is "on
 * when this core.wasm implements H" (setHypervisor export), so a build without the H extension still
 * boots Linux with a device tree that tells the truth.
 */
import { host } from '../host/host.js';
import * as L from '../generated/layout.js';
import { UserError } from '../errors.js';
import { GATED_EXTS, type GatedExt } from '../isa/table.js';
import { defaultWasmPath, type Core } from '../core.js';

/** Zic64b: the cache-block size of Zicbom/Zicboz (assembly/isaext.ts CACHE_BLOCK). */
export const CACHE_BLOCK_BYTES = 64;

/** The `--cpu` keys of the extensions the decoder can turn off (table.ts GATED_EXTS), lowercase. */
export const EXT_KEYS: readonly string[] = GATED_EXTS.map((e) => e.toLowerCase());

/** What `--cpu` asked for. A key absent = its default. */
export interface CpuOptions {
  /** The hypervisor extension (misa.H). */
  h?: boolean;
  /** Per-extension choices (GATED_EXTS, by table name: `Zbb`...). Absent = the model's default. */
  ext?: Partial<Record<GatedExt, boolean>>;
  /**
   * Svade: PTE A/D bits are not updated by hardware; a missing A or D bit page-faults (set by the
   * rva22* profiles: `--ad-bits` then defaults to `fault`).
   */
  svade?: boolean;
  /** The model named (rv64, rva22u64, rva22s64). */
  model?: string;
}

/** What the harts really have, after the defaults and the core's abilities. */
export interface CpuFeatures {
  h: boolean;
  /**
   * The selectable extensions that are on. Absent: none of them (what a core before the RVA22
   * work had; callers that build a device tree for a plain RV64GC hart may leave it out).
   */
  ext?: Partial<Record<GatedExt, boolean>>;
  svade?: boolean;
}

export const CPU_MODELS = ['rv64', 'rva22u64', 'rva22s64'] as const;
/**
 * Extensions a model leaves off unless a key turns them on: Shlcofideleg (LCOFI delegable to
 * VS-mode through hideleg bit 13; the H chapter makes that bit read-only zero without it).
 */
export const DEFAULT_OFF: readonly GatedExt[] = ['Shlcofideleg'];
export const CPU_KEYS = ['h', ...EXT_KEYS] as const;

/**
 * The RVA22 profiles (RISC-V Profiles 1.0, RVA22U64 / RVA22S64): the mandatory extensions we have
 * are on (Zba, Zbb, Zbs, Zfhmin, Zicbom, Zicboz, Zicbop's hints; S64 adds Svinval, Svpbmt, Svade and
 * the optional Svnapot and Sscofpmf), the others off (Zfh is an RVA22U64 option: `,zfh=on` adds it)
 * (Zbc, Zbkb, Zbkc, Zbkx are only parts of the optional Zkn; Zicond and Zfa are RVA23). H and Sstc are
 * RVA22S64 options and keep their defaults.
 */
const PROFILE_EXT: Record<string, Partial<Record<GatedExt, boolean>>> = {
  rva22u64: {
    Zba: true, Zbb: true, Zbs: true, Zicbom: true, Zicboz: true, Zfhmin: true, Zfh: false,
    Zbc: false, Zbkb: false, Zbkc: false, Zbkx: false, Zicond: false, Svinval: false, Svnapot: false, Svpbmt: false,
    Sscofpmf: false, Zfa: false,
  },
  rva22s64: {
    Zba: true, Zbb: true, Zbs: true, Zicbom: true, Zicboz: true, Zfhmin: true, Zfh: false,
    Svinval: true, Svpbmt: true, Svnapot: true, Sscofpmf: true,
    Zbc: false, Zbkb: false, Zbkc: false, Zbkx: false, Zicond: false, Zfa: false,
  },
};

const ON = ['on', 'true', 'yes'];
const OFF = ['off', 'false', 'no'];

/**
 * Parses a `--cpu` value: a model name, then comma-separated `key=value` items (QEMU's -cpu
 * syntax). Throws a one-line UserError for an unknown model, key or value.
 */
export function parseCpu(text: string): CpuOptions {
  const [model = '', ...items] = text.split(',');
  const m = model.trim().toLowerCase();
  if (!(CPU_MODELS as readonly string[]).includes(m)) {
    throw new UserError(`--cpu ${text}: unknown CPU model '${model}' (cyclevisor has ${CPU_MODELS.join(', ')}; e.g. --cpu rv64,h=off)`);
  }
  const out: CpuOptions = {};
  if (m !== 'rv64') {
    out.model = m;
    out.ext = { ...PROFILE_EXT[m] };
    if (m === 'rva22s64') out.svade = true;
  }
  const seen = new Set<string>();
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new UserError(`--cpu ${text}: expected key=value, found '${item}' (keys: ${CPU_KEYS.join(', ')})`);
    const key = item.slice(0, eq).trim().toLowerCase();
    const value = item.slice(eq + 1).trim().toLowerCase();
    if (!(CPU_KEYS as readonly string[]).includes(key)) {
      throw new UserError(`--cpu ${text}: unknown key '${key}' (keys: ${CPU_KEYS.join(', ')})`);
    }
    if (seen.has(key)) throw new UserError(`--cpu ${text}: key '${key}' given twice`);
    seen.add(key);
    let on: boolean;
    if (ON.includes(value)) on = true;
    else if (OFF.includes(value)) on = false;
    else throw new UserError(`--cpu ${text}: ${key} expects 'on' or 'off', got '${item.slice(eq + 1)}'`);
    if (key === 'h') out.h = on;
    else {
      const ext = GATED_EXTS[EXT_KEYS.indexOf(key)]!;
      out.ext = { ...out.ext, [ext]: on };
    }
  }
  return out;
}

/** Bit mask of the core's setExtensions for `ext` (bit i = GATED_EXTS[i]). */
export function extMaskOf(ext: Partial<Record<GatedExt, boolean>> | undefined): number {
  let m = 0;
  GATED_EXTS.forEach((e, i) => {
    if (ext?.[e]) m |= 1 << i;
  });
  return m;
}

/** The core's optional export (hext): misa.H on or off for every hart. */
interface HypervisorExport {
  setHypervisor?: (on: number) => void;
  /** The selectable-extension mask (assembly/isaext.ts), when the core has it. */
  setExtensions?: (mask: number) => void;
  getExtensions?: () => number;
}

const supportCache = new Map<string, boolean>();

/** Whether a core.wasm implements the H extension (exports setHypervisor); compiled, not run. */
export function coreSupportsHypervisor(wasmPath: string = defaultWasmPath()): boolean {
  let v = supportCache.get(wasmPath);
  if (v === undefined) {
    const mod = host().wasmModule(wasmPath);
    v = WebAssembly.Module.exports(mod).some((e) => e.name === 'setHypervisor' && e.kind === 'function');
    supportCache.set(wasmPath, v);
  }
  return v;
}

/** The features a machine gets from `opts` on a core that does (or does not) implement H. */
export function resolveCpu(opts: CpuOptions, coreHasH: boolean): CpuFeatures {
  if (opts.h === true && !coreHasH) {
    throw new UserError('--cpu rv64,h=on: this build of the core has no H extension (setHypervisor); use h=off');
  }
  // Every selectable extension defaults to on (as QEMU's rv64 turns on what it implements); a
  // profile model or a key says otherwise.
  const ext: Partial<Record<GatedExt, boolean>> = {};
  for (const e of GATED_EXTS) ext[e] = opts.ext?.[e] ?? !DEFAULT_OFF.includes(e);
  return { h: opts.h ?? coreHasH, ext, ...(opts.svade ? { svade: true } : {}) };
}

/**
 * Applies `f` to every hart of `core` (misa.H through the core's setHypervisor). Returns the
 * features the harts really have: misa is read back.
 */
export function applyCpu(core: Core, f: CpuFeatures): CpuFeatures {
  const ex = core.ex as unknown as HypervisorExport;
  if (typeof ex.setHypervisor === 'function') ex.setHypervisor(f.h ? 1 : 0);
  let ext: Partial<Record<GatedExt, boolean>> | undefined;
  if (typeof ex.setExtensions === 'function' && typeof ex.getExtensions === 'function') {
    ex.setExtensions(extMaskOf(f.ext));
    const m = ex.getExtensions();
    ext = Object.fromEntries(GATED_EXTS.map((e, i) => [e, ((m >>> i) & 1) === 1]));
  }
  return { h: hasHypervisor(core), ...(ext ? { ext } : {}), ...(f.svade ? { svade: true } : {}) };
}

/** The selectable extensions the core has on (none when the core has no setExtensions). */
export function coreExtensions(core: Core): Partial<Record<GatedExt, boolean>> {
  const ex = core.ex as unknown as HypervisorExport;
  if (typeof ex.getExtensions !== 'function') return {};
  const m = ex.getExtensions();
  return Object.fromEntries(GATED_EXTS.map((e, i) => [e, ((m >>> i) & 1) === 1]));
}

/** misa.H of the running hart. */
export function hasHypervisor(core: Core): boolean {
  return ((core.getCsr(L.H_MISA) >> 7n) & 1n) === 1n;
}

/**
 * The multi-letter extensions a hart with features `f` reports, in the canonical order (QEMU's
 * isa_edata_arr, which the ISA manual's naming rules give: Z by category letter i, f, b; then S).
 * Zicbop (prefetch hints, always executable) goes with Zicbom/Zicboz.
 */
export function isaExtensions(f: CpuFeatures): string[] {
  const on = (e: GatedExt): boolean => f.ext?.[e] === true;
  const out: string[] = [];
  if (on('Zicbom')) out.push('zicbom');
  if (f.ext && (on('Zicbom') || on('Zicboz'))) out.push('zicbop');
  if (on('Zicboz')) out.push('zicboz');
  if (on('Zicond')) out.push('zicond');
  out.push('zicsr', 'zifencei', 'zihintpause', 'zihpm'); // Zihpm: assembly/hpm.ts (always present)
  if (on('Zfa')) out.push('zfa'); // RVA23: fli, fminm, fround, fcvtmod, fleq (assembly/zfa.ts)
  if (on('Zfh')) out.push('zfh');
  if (on('Zfh') || on('Zfhmin')) out.push('zfhmin');
  for (const e of ['Zba', 'Zbb', 'Zbc', 'Zbkb', 'Zbkc', 'Zbkx', 'Zbs'] as const) if (on(e)) out.push(e.toLowerCase());
  if (on('Shlcofideleg')) out.push('shlcofideleg');
  if (on('Sscofpmf')) out.push('sscofpmf'); // counter overflow + LCOFI (assembly/hpm.ts)
  out.push('sstc');
  if (on('Svinval')) out.push('svinval');
  if (on('Svnapot')) out.push('svnapot');
  if (on('Svpbmt')) out.push('svpbmt');
  return out;
}

/** The single-letter part of the ISA string ("rv64imafdc" + "h"). */
function isaBase(f: CpuFeatures): string {
  return `rv64imafdc${f.h ? 'h' : ''}`;
}

/**
 * The riscv,isa string of the device tree: what the core implements, in the order Linux 6.1 and
 * QEMU write it (single letters, then the Z extensions, then the S extensions). QEMU 7.2's
 * `-cpu rv64,h=true` says "rv64imafdch_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc".
 * Features without an `ext` record (a plain RV64GC hart) give the string without the selectable
 * extensions: "rv64imafdc[h]_zicsr_zifencei_zihintpause_zihpm_sstc".
 */
export function isaString(f: CpuFeatures): string {
  return [isaBase(f), ...isaExtensions(f)].join('_');
}

/**
 * The riscv,isa-extensions list (the DT binding Linux 6.7+ and QEMU 8+ use): every extension as
 * its own lowercase string, single letters first.
 */
export function isaExtensionList(f: CpuFeatures): string[] {
  return [...isaBase(f).slice(4).split(''), ...isaExtensions(f)];
}

/**
 * /proc/cpuinfo's isa line as Linux 6.1 prints it for `isaString(f)`: the letters, then the
 * multi-letter extensions 6.1 knows (arch/riscv/kernel/cpu.c isa_ext_arr: sscofpmf, sstc,
 * svinval, svpbmt, zicbom, zihintpause), in that order. Zba/Zbb/Zbs/Zicboz/Svnapot are unknown to 6.1.
 */
export function linuxCpuinfoIsa(f: CpuFeatures): string {
  const known = ['sscofpmf', 'sstc', 'svinval', 'svpbmt', 'zicbom', 'zihintpause'];
  const have = new Set(isaExtensions(f));
  return [isaBase(f), ...known.filter((k) => have.has(k))].join('_');
}
