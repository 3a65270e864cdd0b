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
import { readFileSync } from 'node:fs';
import * as L from '../generated/layout.js';
import { UserError } from '../errors.js';
import { defaultWasmPath, type Core } from '../core.js';

/** What `--cpu` asked for. A key absent = its default. */
export interface CpuOptions {
  /** The hypervisor extension (misa.H). */
  h?: boolean;
}

/** What the harts really have, after the defaults and the core's abilities. */
export interface CpuFeatures {
  h: boolean;
}

export const CPU_MODELS = ['rv64'] as const;
export const CPU_KEYS = ['h'] as const;

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
    if (ON.includes(value)) out.h = true;
    else if (OFF.includes(value)) out.h = false;
    else throw new UserError(`--cpu ${text}: ${key} expects 'on' or 'off', got '${item.slice(eq + 1)}'`);
  }
  return out;
}

/** The core's optional export (hext): misa.H on or off for every hart. */
interface HypervisorExport {
  setHypervisor?: (on: number) => void;
}

const supportCache = new Map<string, boolean>();

/** Whether a core.wasm implements the H extension (exports setHypervisor); compiled, not run. */
export function coreSupportsHypervisor(wasmPath: string = defaultWasmPath()): boolean {
  let v = supportCache.get(wasmPath);
  if (v === undefined) {
    const mod = new WebAssembly.Module(readFileSync(wasmPath));
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
  return { h: opts.h ?? coreHasH };
}

/**
 * Applies `f` to every hart of `core` (misa.H through the core's setHypervisor). Returns the
 * features the harts really have: misa is read back.
 */
export function applyCpu(core: Core, f: CpuFeatures): CpuFeatures {
  const ex = core.ex as unknown as HypervisorExport;
  if (typeof ex.setHypervisor === 'function') ex.setHypervisor(f.h ? 1 : 0);
  return { h: hasHypervisor(core) };
}

/** misa.H of the running hart. */
export function hasHypervisor(core: Core): boolean {
  return ((core.getCsr(L.H_MISA) >> 7n) & 1n) === 1n;
}

/**
 * The riscv,isa string of the device tree: what the core implements, in the order Linux 6.1 and
 * QEMU 7.2 write it (single letters, then the Z extensions, then the S extensions). QEMU 7.2's
 * `-cpu rv64,h=true` says "rv64imafdch_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc"; we do
 * not implement Zba/Zbb/Zbc/Zbs, so they are absent. Linux 6.1's /proc/cpuinfo then reads
 * "rv64imafdch_sstc_zihintpause" (h present) or "rv64imafdc_sstc_zihintpause".
 */
export function isaString(f: CpuFeatures): string {
  return `rv64imafdc${f.h ? 'h' : ''}_zicsr_zifencei_zihintpause_sstc`;
}

/** /proc/cpuinfo's isa line as Linux 6.1 prints it for `isaString(f)`. */
export function linuxCpuinfoIsa(f: CpuFeatures): string {
  return `rv64imafdc${f.h ? 'h' : ''}_sstc_zihintpause`;
}
