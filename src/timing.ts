/**
 * The cycle model's configuration: one cycle cost per timing class, the core clock and the timer
 * (mtime) clock.
 *
 * The model is a simple in-order CPI model: each retired instruction adds the cost of its class to
 * the cycle counter (a taken conditional branch adds `branchTaken` instead of `branch`, and every
 * trap entry adds `trap`). There is no dependency tracking, no caches and no branch predictor. In
 * timing mode (`--mode timing`) a modeled TLB (`tlb`, src/tlbmodel.ts) adds the cycles of TLB misses:
 * L2 TLB latency and page-walk memory references.
 *
 * Default costs come from the SiFive U74 (HiFive Unmatched, VisionFive 2) as LLVM describes it in
 * llvm/lib/Target/RISCV/RISCVSchedSiFive7.td (SiFive7Model, used by -mcpu=sifive-u74). Mapping
 * from LLVM's per-write {Latency, ReleaseAtCycles} to our single number per class:
 *
 *   1. A pipelined operation costs its issue occupancy: 1 cycle (ALU, mul, FP add/mul/fma, stores,
 *      not-taken branches, jumps, CSR). Its result latency is not charged: we do not know whether
 *      the next instruction depends on it (the SiFive7 model's bypasses hide most of it for ALU
 *      consumers anyway: ReadAdvance 2 on ReadIALU etc.).
 *   2. An operation that holds a non-pipelined unit costs the unit's ReleaseAtCycles (how long the
 *      divider stays busy): div 65, divw 33, fdiv 55.
 *   3. A load costs its Latency: 1 issue cycle plus (Latency - 1) load-use cycles, i.e. we assume the
 *      loaded value is needed soon. Integer loads and AMOs: Latency 3 (also LoadLatency = 3); FP
 *      loads: 3 (see below).
 *   4. Control transfers the model cannot predict cost 1 + MispredictPenalty (3) = 4: taken
 *      conditional branches (we model no predictor: as if every taken branch were predicted
 *      not-taken), xRET/WFI/ECALL/EBREAK (`system`), and fences, which flush the fetch pipeline.
 *      A trap entry adds MispredictPenalty (3): the redirect of fetch to the trap vector.
 *
 * Where LLVM has no number (fence, system and trap are not scheduled instructions there) the value
 * is our assumption, stated in docs/TIMING.md. Every number can be overridden with `--timing FILE`.
 */
import { host } from './host/host.js';
import { TIMING_CLASSES, type TimingClass } from './isa/classes.js';
import { UserError, closest, fileReadError } from './errors.js';
import type { VmmCosts } from './vcpu.js';
import { TLB_REPLACEMENTS, defaultTlbModel, tlbConfigProblem, type TlbModelConfig, type TlbReplacement } from './tlbmodel.js';

export interface TimingConfig {
  /** Core clock in Hz: converts cycles to simulated seconds. */
  cpuHz: number;
  /** mtime frequency in Hz (the devicetree's timebase-frequency). cpuHz must be a multiple of it. */
  timebaseHz: number;
  /** Cycles charged per retired instruction of each class. Integers in 0..255 (the core keeps one byte per class). */
  latency: Record<TimingClass, number>;
  /** The modeled TLB consulted in timing mode (`--mode timing`); see src/tlbmodel.ts and docs/TIMING.md. */
  tlb: TlbModelConfig;
  /** Host-VMM mode (Core.setVmmMode): cycles charged per VM exit and per entry; docs/TIMING.md. */
  vmm: VmmCosts;
}

/**
 * Defaults of the `vmm` section: the instructions of KVM's RISC-V world switch
 * (arch/riscv/kvm/vcpu_switch.S, `__kvm_riscv_switch_to` and `__kvm_riscv_switch_to_return`),
 * costed with the U74 classes above (assumption: the switch only, not KVM's C exit handling).
 * Entry: 14 host GPR stores (1) + ~12 CSR swaps (1) + 31 guest GPR loads (3) + sret (4) ≈ 123 → 120.
 * Exit: 31 guest GPR stores + ~12 CSR swaps + 14 host GPR loads (3) + the trap (3) ≈ 88 → 90.
 */
export const DEFAULT_VMM_COSTS: Readonly<VmmCosts> = Object.freeze({ exitCycles: 90, entryCycles: 120 });
/** Largest per-exit / per-entry cost accepted (the core keeps a u32; a sane bound for one event). */
export const MAX_VMM_CYCLES = 1_000_000;

/** SiFive7Model: MispredictPenalty = 3. */
export const U74_MISPREDICT_PENALTY = 3;

/**
 * Default cost per class (SiFive U74 via LLVM's SiFive7 scheduling model; see the header comment
 * and docs/TIMING.md for the source of each number).
 */
export const DEFAULT_LATENCY: Readonly<Record<TimingClass, number>> = Object.freeze({
  alu: 1, // WriteIALU/WriteShift*: Latency 3 on PipeA|PipeB, pipelined -> issue occupancy 1
  branch: 1, // WriteJmp (conditional branch) on PipeB, 1 cycle; not taken = fall-through, no redirect
  jump: 1, // WriteJal/WriteJalr on PipeB, 1 cycle; assumed predicted (BTB / return-address stack)
  load: 3, // WriteLDB/LDH/LDW/LDD: Latency 3 (LoadLatency = 3) -> 1 issue + 2 load-use cycles
  store: 1, // WriteSTB..STD on PipeA, 1 cycle
  mul: 1, // WriteIMul/WriteIMul32: Latency 3 on PipeB, pipelined -> 1
  div: 65, // WriteIDiv/WriteIRem: Latency 66, ReleaseAtCycles [1, 65] -> divider busy 65 cycles
  divw: 33, // WriteIDiv32/WriteIRem32: Latency 34, ReleaseAtCycles [1, 33]
  csr: 1, // WriteCSR on PipeB, default Latency 1
  amo: 3, // WriteAtomicW/D, WriteAtomicLDW/LDD: Latency 3 -> load rule (SC: WriteAtomicSTx, 1)
  fence: 4, // no LLVM number (assumption): pipeline flush + refetch = 1 + MispredictPenalty
  system: 4, // no LLVM number (assumption): xRET/WFI redirect fetch = 1 + MispredictPenalty
  fpu: 1, // WriteFAdd/FMul/FMA (Latency 5 single, 7 double), cvt/cmp/move: pipelined on PipeB -> 1
  fdiv: 55, // WriteFDiv64/WriteFSqrt64: Latency 56, ReleaseAtCycles [1, 55] (single: [1, 26])
  fload: 3, // WriteFLD*: LLVM PR #159462 made FP load latency equal to integer loads (3); was 2
  fstore: 1, // WriteFST* on PipeA, 1 cycle
  branchTaken: 4, // 1 + MispredictPenalty 3: no predictor is modelled (assumption)
  trap: 3, // no LLVM number (assumption): redirect to xtvec = MispredictPenalty
});

export const DEFAULT_CPU_HZ = 1_000_000_000;
export const DEFAULT_TIMEBASE_HZ = 10_000_000;
/** The core stores one byte per class (assembly/layout.ts LAT_BASE), so a class costs at most 255 cycles. */
export const MAX_LATENCY = 0xff;

export function defaultTiming(): TimingConfig {
  return {
    cpuHz: DEFAULT_CPU_HZ,
    timebaseHz: DEFAULT_TIMEBASE_HZ,
    latency: { ...DEFAULT_LATENCY },
    tlb: defaultTlbModel(),
    vmm: { ...DEFAULT_VMM_COSTS },
  };
}

/** Core cycles per mtime tick: mtime = cycles / cyclesPerTick(cfg). */
export function cyclesPerTick(cfg: TimingConfig): number {
  return cfg.cpuHz / cfg.timebaseHz;
}

/** The latency table in TIMING_CLASSES order (the layout the core reads from linear memory: one byte each). */
export function latencyArray(cfg: TimingConfig): Uint8Array {
  const a = new Uint8Array(TIMING_CLASSES.length);
  TIMING_CLASSES.forEach((c, i) => {
    a[i] = cfg.latency[c];
  });
  return a;
}

function suggest(word: string, options: readonly string[]): string {
  const best = closest(word, options);
  return best === undefined ? '' : `; did you mean "${best}"?`;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

const TOP_KEYS = ['cpuHz', 'timebaseHz', 'latency', 'tlb', 'vmm'] as const;
const VMM_KEYS = ['exitCycles', 'entryCycles'] as const;
const TLB_KEYS = ['l1', 'l2', 'replacement', 'seed', 'asidTagging', 'pwcEntries', 'walkLatency', 'nestedTlbEntries'] as const;
const TLB_L1_KEYS = ['split', 'entries', 'ways'] as const;
const TLB_L2_KEYS = ['entries', 'ways', 'latency'] as const;

/**
 * Applies a parsed timing document (`{ cpuHz?, timebaseHz?, latency?: { class: n } }`) to the
 * defaults. `source` names the file in messages. Exported for tests and for the demo.
 */
export function timingFromJson(doc: unknown, source: string): TimingConfig {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: ${msg}`);
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    fail(`expected a JSON object like {"latency": {"div": 40}}, got ${describe(doc)}`);
  }
  const obj = doc as Record<string, unknown>;
  const cfg = defaultTiming();
  for (const key of Object.keys(obj)) {
    if (!(TOP_KEYS as readonly string[]).includes(key)) {
      fail(`unknown key "${key}" (allowed: ${TOP_KEYS.join(', ')})${suggest(key, TOP_KEYS)}`);
    }
  }
  const hz = (key: 'cpuHz' | 'timebaseHz'): number | undefined => {
    const v = obj[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      fail(`"${key}" must be a positive integer number of Hz, got ${describe(v)}`);
    }
    return v as number;
  };
  cfg.cpuHz = hz('cpuHz') ?? cfg.cpuHz;
  cfg.timebaseHz = hz('timebaseHz') ?? cfg.timebaseHz;
  if (cfg.cpuHz % cfg.timebaseHz !== 0) {
    fail(`"cpuHz" (${cfg.cpuHz}) must be a multiple of "timebaseHz" (${cfg.timebaseHz})`);
  }
  const lat = obj['latency'];
  if (lat !== undefined) {
    if (typeof lat !== 'object' || lat === null || Array.isArray(lat)) {
      fail(`"latency" must be an object mapping timing classes to cycles, got ${describe(lat)}`);
    }
    for (const [cls, v] of Object.entries(lat as Record<string, unknown>)) {
      if (!(TIMING_CLASSES as readonly string[]).includes(cls)) {
        fail(`unknown timing class "latency.${cls}"${suggest(cls, TIMING_CLASSES)} (classes: ${TIMING_CLASSES.join(', ')})`);
      }
      if (typeof v !== 'number' || !Number.isInteger(v)) {
        fail(`"latency.${cls}" must be an integer number of cycles, got ${describe(v)}`);
      }
      const n = v as number;
      if (n < 0 || n > MAX_LATENCY) fail(`"latency.${cls}" is ${n}; it must be between 0 and ${MAX_LATENCY}`);
      cfg.latency[cls as TimingClass] = n;
    }
  }
  if (obj['tlb'] !== undefined) cfg.tlb = tlbFromJson(obj['tlb'], fail);
  const vmm = obj['vmm'];
  if (vmm !== undefined) {
    if (typeof vmm !== 'object' || vmm === null || Array.isArray(vmm)) {
      fail(`"vmm" must be an object like {"exitCycles": 90, "entryCycles": 120}, got ${describe(vmm)}`);
    }
    for (const [k, v] of Object.entries(vmm as Record<string, unknown>)) {
      if (!(VMM_KEYS as readonly string[]).includes(k)) fail(`unknown key "vmm.${k}" (allowed: ${VMM_KEYS.join(', ')})${suggest(k, VMM_KEYS)}`);
      if (typeof v !== 'number' || !Number.isInteger(v)) fail(`"vmm.${k}" must be an integer number of cycles, got ${describe(v)}`);
      const n = v as number;
      if (n < 0 || n > MAX_VMM_CYCLES) fail(`"vmm.${k}" is ${n}; it must be between 0 and ${MAX_VMM_CYCLES}`);
      cfg.vmm[k as keyof VmmCosts] = n;
    }
  }
  return cfg;
}

/**
 * The `tlb` section: every key optional, merged over the defaults (inside `l1` and `l2` too);
 * `"l2": null` removes the L2 TLB. The merged configuration must be one the core can model.
 */
function tlbFromJson(v: unknown, fail: (msg: string) => never): TlbModelConfig {
  const cfg = defaultTlbModel();
  const object = (x: unknown, key: string, like: string): Record<string, unknown> => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) fail(`"${key}" must be an object like ${like}, got ${describe(x)}`);
    return x as Record<string, unknown>;
  };
  const keys = (o: Record<string, unknown>, prefix: string, allowed: readonly string[]): void => {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) fail(`unknown key "${prefix}.${k}" (allowed: ${allowed.join(', ')})${suggest(k, allowed)}`);
    }
  };
  const int = (x: unknown, key: string): number => {
    if (typeof x !== 'number' || !Number.isInteger(x)) fail(`"${key}" must be an integer, got ${describe(x)}`);
    return x as number;
  };
  const bool = (x: unknown, key: string): boolean => {
    if (typeof x !== 'boolean') fail(`"${key}" must be true or false, got ${describe(x)}`);
    return x as boolean;
  };
  const t = object(v, 'tlb', '{"l1": {"entries": 32, "ways": 4}}');
  keys(t, 'tlb', TLB_KEYS);
  if (t['l1'] !== undefined) {
    const l1 = object(t['l1'], 'tlb.l1', '{"split": true, "entries": 32, "ways": 4}');
    keys(l1, 'tlb.l1', TLB_L1_KEYS);
    if (l1['split'] !== undefined) cfg.l1.split = bool(l1['split'], 'tlb.l1.split');
    if (l1['entries'] !== undefined) cfg.l1.entries = int(l1['entries'], 'tlb.l1.entries');
    if (l1['ways'] !== undefined) cfg.l1.ways = int(l1['ways'], 'tlb.l1.ways');
  }
  if (t['l2'] === null) {
    cfg.l2 = null;
  } else if (t['l2'] !== undefined) {
    const l2 = object(t['l2'], 'tlb.l2', '{"entries": 512, "ways": 1, "latency": 2} (or null: no L2 TLB)');
    keys(l2, 'tlb.l2', TLB_L2_KEYS);
    const base = cfg.l2 ?? { entries: 512, ways: 1, latency: 2 };
    cfg.l2 = {
      entries: l2['entries'] !== undefined ? int(l2['entries'], 'tlb.l2.entries') : base.entries,
      ways: l2['ways'] !== undefined ? int(l2['ways'], 'tlb.l2.ways') : base.ways,
      latency: l2['latency'] !== undefined ? int(l2['latency'], 'tlb.l2.latency') : base.latency,
    };
  }
  const r = t['replacement'];
  if (r !== undefined) {
    if (typeof r !== 'string' || !(TLB_REPLACEMENTS as readonly string[]).includes(r)) {
      const hint = typeof r === 'string' ? suggest(r, TLB_REPLACEMENTS) : '';
      fail(`"tlb.replacement" must be one of ${TLB_REPLACEMENTS.join(', ')}, got ${describe(r)}${hint}`);
    }
    cfg.replacement = r as TlbReplacement;
  }
  if (t['seed'] !== undefined) cfg.seed = int(t['seed'], 'tlb.seed');
  if (t['asidTagging'] !== undefined) cfg.asidTagging = bool(t['asidTagging'], 'tlb.asidTagging');
  if (t['pwcEntries'] !== undefined) cfg.pwcEntries = int(t['pwcEntries'], 'tlb.pwcEntries');
  if (t['walkLatency'] !== undefined) cfg.walkLatency = int(t['walkLatency'], 'tlb.walkLatency');
  if (t['nestedTlbEntries'] !== undefined) cfg.nestedTlbEntries = int(t['nestedTlbEntries'], 'tlb.nestedTlbEntries');
  const problem = tlbConfigProblem(cfg);
  if (problem !== null) fail(problem);
  return cfg;
}

/** Reads a timing JSON file; every problem is a one-line `UserError` naming the file (and key). */
export function loadTimingFile(path: string): TimingConfig {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(host().readFile(path));
  } catch (e) {
    throw fileReadError(path, e, 'a timing file');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    throw new UserError(`${path}: invalid JSON (${detail})`);
  }
  return timingFromJson(doc, path);
}
