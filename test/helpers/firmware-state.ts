/**
 * The machine state firmware hands the kernel: a dump of every CSR and register the core models,
 * taken at the kernel's first instruction, for diffing `--bios builtin` against OpenSBI
 * (test/firmware.test.ts).
 */
import * as L from '../../src/generated/layout.js';
import type { Core } from '../../src/core.js';
import type { VirtMachine } from '../../src/board/virt.js';

/** mstatus fields (Priv 1.12 §3.1.6, RV64): name, shift, width. */
const MSTATUS_FIELDS: ReadonlyArray<[string, number, number]> = [
  ['SIE', 1, 1], ['MIE', 3, 1], ['SPIE', 5, 1], ['UBE', 6, 1], ['MPIE', 7, 1], ['SPP', 8, 1],
  ['VS', 9, 2], ['MPP', 11, 2], ['FS', 13, 2], ['XS', 15, 2], ['MPRV', 17, 1], ['SUM', 18, 1],
  ['MXR', 19, 1], ['TVM', 20, 1], ['TW', 21, 1], ['TSR', 22, 1], ['UXL', 32, 2], ['SXL', 34, 2],
  ['SBE', 36, 1], ['MBE', 37, 1], ['SD', 63, 1],
];

/** CSRs by the name the privileged spec gives them, read from the hart block. */
const CSRS: ReadonlyArray<[string, number]> = [
  ['misa', L.H_MISA], ['medeleg', L.H_MEDELEG], ['mideleg', L.H_MIDELEG], ['mie', L.H_MIE],
  ['mip', L.H_MIP], ['mtvec', L.H_MTVEC], ['mscratch', L.H_MSCRATCH], ['mepc', L.H_MEPC],
  ['mcause', L.H_MCAUSE], ['mtval', L.H_MTVAL], ['mcounteren', L.H_MCOUNTEREN],
  ['mcountinhibit', L.H_MCOUNTINHIBIT], ['menvcfg', L.H_MENVCFG], ['mhartid', L.H_MHARTID],
  ['stvec', L.H_STVEC], ['sscratch', L.H_SSCRATCH], ['sepc', L.H_SEPC], ['scause', L.H_SCAUSE],
  ['stval', L.H_STVAL], ['satp', L.H_SATP], ['scounteren', L.H_SCOUNTEREN], ['senvcfg', L.H_SENVCFG],
  ['stimecmp', L.H_STIMECMP], ['hgatp', L.H_HGATP], ['vsatp', L.H_VSATP], ['V', L.H_VIRT],
  ['fcsr', L.H_FCSR], ['mcycle offset', L.H_MCYCLE_OFS], ['minstret offset', L.H_MINSTRET_OFS],
];

/**
 * Every architectural CSR, mstatus field, PMP entry, x and f register of the running hart, plus
 * pc, privilege, and the counters (cycle, instret).
 */
export function stateDump(core: Core): Map<string, bigint> {
  const d = new Map<string, bigint>();
  d.set('pc', core.pc);
  d.set('priv', BigInt(core.priv));
  const ms = core.getCsr(L.H_MSTATUS);
  for (const [name, shift, width] of MSTATUS_FIELDS) d.set(`mstatus.${name}`, (ms >> BigInt(shift)) & ((1n << BigInt(width)) - 1n));
  for (const [name, addr] of CSRS) d.set(name, core.getCsr(addr));
  const view = new DataView(core.ex.memory.buffer);
  for (let i = 0; i < 16; i++) {
    d.set(`pmpcfg[${i}]`, BigInt(view.getUint8(L.H_PMPCFG + i)));
    d.set(`pmpaddr${i}`, core.getCsr(L.H_PMPADDR + 8 * i));
  }
  for (let r = 1; r < 32; r++) d.set(`x${r}`, core.x(r));
  for (let r = 0; r < 32; r++) d.set(`f${r}`, core.f(r));
  d.set('cycle', BigInt(core.cycles));
  d.set('instret', BigInt(core.instret));
  return d;
}

/** Keys whose values differ between two dumps, with both values. */
export function diffDumps(a: Map<string, bigint>, b: Map<string, bigint>): Map<string, [bigint, bigint]> {
  const out = new Map<string, [bigint, bigint]>();
  for (const [k, va] of a) {
    const vb = b.get(k);
    if (vb === undefined) throw new Error(`dump key ${k} missing`);
    if (va !== vb) out.set(k, [va, vb]);
  }
  return out;
}

/**
 * Run a freshly booted machine until `reached(m)` holds for the first time, stopping exactly at
 * that instruction boundary. Two passes (runs are deterministic): pass 1 runs in chunks of `chunk`
 * instructions (all harts together) until `happened(m)` — a condition that stays true once
 * `reached` has been — holds; pass 2, on a new machine from `make`, runs to the start of that chunk
 * in one go and single-steps from there until `reached`.
 */
export function runUntilFirst(
  make: () => VirtMachine,
  reached: (m: VirtMachine) => boolean,
  what: string,
  chunk = 500_000,
  happened: (m: VirtMachine) => boolean = reached,
): VirtMachine {
  let m = make();
  let start = 0;
  while (!happened(m)) {
    start = m.totalInstret();
    const r = m.runSync({ maxInsns: start + chunk });
    if (r.reason !== 'max-insns') throw new Error(`the run ended before ${what}: ${r.reason} ${r.message ?? ''}`);
    if (start > 200_000_000) throw new Error(`no ${what} in 2*10^8 instructions`);
  }
  m.close();
  m = make();
  if (start > 0) m.runSync({ maxInsns: start });
  while (!reached(m)) {
    if (m.totalInstret() > start + chunk) throw new Error(`pass 2 did not reach ${what} (runs differ?)`);
    m.runSync({ maxInsns: m.totalInstret() + 1 });
  }
  return m;
}

/**
 * Run a freshly booted firmware until hart 0 is at `entry` in S-mode for the first time, exactly
 * at that instruction (nothing of the kernel has executed). Firmware runs in M-mode until its
 * mret to the kernel.
 */
export function runToKernelEntry(make: () => VirtMachine, entry: bigint): VirtMachine {
  return runUntilFirst(make, (m) => m.core.priv === 1 && m.core.pc === entry, `S-mode entry at 0x${entry.toString(16)}`, 500_000, (m) => m.core.priv !== 3);
}
