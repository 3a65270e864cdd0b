/**
 * `--bios builtin`, the M-mode half: cyclevisor stands in for the M-mode firmware (OpenSBI 1.1,
 * `fw_dynamic`, generic platform) without running any M-mode code.
 *
 * 1. `OPENSBI_ENTRY_STATE`: the hart state OpenSBI 1.1 leaves at the kernel's first instruction on
 *    this machine, as a table (one row per CSR, with the OpenSBI source that sets it).
 *    test/firmware.test.ts boots OpenSBI itself and diffs a dump taken at 0x8020_0000 against this;
 *    the differences that remain are listed (and explained) there and in docs/ARCHITECTURE.md §11.
 * 2. `handleMachineTrap`: what OpenSBI's trap handler (lib/sbi/sbi_trap.c sbi_trap_handler) does
 *    with a trap that reaches M-mode. The core runs with host M-mode on (Core.setHostMTrap): such a
 *    trap returns RunStatus.MTrap instead of entering M-mode, and this file
 *      - emulates the counter CSR reads the hardware trapped (sbi_illegal_insn.c system_opcode_insn
 *        + sbi_emulate_csr.c): `time` always (OpenSBI does not check the counter-enable bits for it),
 *        `cycle`/`instret` when mcounteren (and scounteren for U-mode) allow them, `htimedelta`
 *        from HS-mode;
 *      - redirects every other exception from S- or U-mode to S-mode as sbi_trap_redirect does
 *        (scause/stval/sepc, SPP/SPIE/SIE, pc <- stvec): illegal instructions, access faults, and
 *        the misaligned LR/SC/AMO traps (OpenSBI's misaligned handlers emulate plain loads and
 *        stores only; this core performs misaligned RAM loads/stores itself and reports misaligned
 *        MMIO as an access fault, so no plain load/store reaches M-mode misaligned);
 *      - clears a machine software interrupt as sbi_ipi_process does;
 *      - ends the run with one line for anything else (a trap from M-mode, another M-level
 *        interrupt): sbi_trap_error, which on real firmware prints the registers and hangs.
 * SBI calls (S-mode ecall) do not come here: the core returns RunStatus.Sbi for them (sbi.ts).
 */
import * as L from '../generated/layout.js';
import type { Core } from '../core.js';
import { hex } from '../errors.js';
import { hasHypervisor, coreExtensions } from './cpu.js';
import type { GatedExt } from '../isa/table.js';

// Exception causes and interrupt numbers (Priv 1.12 tables 3.6, 3.7).
export const CAUSE_MISALIGNED_FETCH = 0;
export const CAUSE_ILLEGAL_INSTRUCTION = 2;
export const CAUSE_BREAKPOINT = 3;
export const CAUSE_MISALIGNED_LOAD = 4;
export const CAUSE_MISALIGNED_STORE = 6;
export const CAUSE_USER_ECALL = 8;
export const CAUSE_FETCH_PAGE_FAULT = 12;
export const CAUSE_LOAD_PAGE_FAULT = 13;
export const CAUSE_STORE_PAGE_FAULT = 15;
export const IRQ_S_SOFT = 1;
export const IRQ_M_SOFT = 3;
export const IRQ_S_TIMER = 5;
export const IRQ_S_EXT = 9;

/**
 * Exceptions OpenSBI 1.1 delegates to S-mode (sbi_hart.c delegate_traps, with the generic
 * platform's "medeleg" feature). With misa.H, the medeleg row adds H_MEDELEG_BITS (virtual-supervisor ecall,
 * guest-page faults, virtual instruction: 10, 20, 21, 22, 23), as delegate_traps does with misa.H.
 */
export const MEDELEG_CAUSES: readonly number[] = [
  CAUSE_MISALIGNED_FETCH, CAUSE_BREAKPOINT, CAUSE_USER_ECALL,
  CAUSE_FETCH_PAGE_FAULT, CAUSE_LOAD_PAGE_FAULT, CAUSE_STORE_PAGE_FAULT,
];
/** Interrupts OpenSBI 1.1 delegates: SSIP, STIP, SEIP (sbi_hart.c delegate_traps). */
export const MIDELEG_INTERRUPTS: readonly number[] = [IRQ_S_SOFT, IRQ_S_TIMER, IRQ_S_EXT];

/**
 * With the H extension, OpenSBI 1.1 (lib/sbi/sbi_hart.c delegate_traps) also hands HS-mode the
 * ecalls from VS-mode (10) and the guest-page faults and virtual-instruction exceptions (20, 21,
 * 22, 23): only HS-mode's own ecalls stay in M-mode. QEMU 7.2 -cpu rv64,h=true with OpenSBI 1.1
 * prints "MEDELEG : 0x0000000000f0b509" = the six bits above | these five.
 */
export const H_MEDELEG_BITS = (1n << 10n) | (1n << 20n) | (1n << 21n) | (1n << 22n) | (1n << 23n);
/**
 * mideleg's VS-level interrupt bits (VSSIP 2, VSTIP 6, VSEIP 10) are read-only one when H is
 * present (Priv spec, "Hypervisor Extension": mideleg); SGEIP (12) too only when GEILEN > 0, and
 * our GEILEN is 0. OpenSBI writes only the S bits; the hardware forces these, so the builtin
 * firmware's value must include them (QEMU, whose GEILEN is not 0, reads back 0x1666).
 */
export const H_MIDELEG_BITS = (1n << 2n) | (1n << 6n) | (1n << 10n);

const bits = (ns: readonly number[]): bigint => ns.reduce((a, n) => a | (1n << BigInt(n)), 0n);

/** A PMP NAPOT pmpaddr value for [base, base + size) (Priv 1.12 §3.7.1), size a power of two ≥ 8. */
export function pmpNapot(base: bigint, size: bigint): bigint {
  return (base >> 2n) | ((size >> 3n) - 1n);
}
const PMP_NAPOT_NONE = 0x18n; // A = NAPOT, no R/W/X: M-mode only
const PMP_NAPOT_RWX = 0x1fn;
/** The CLINT (ACLINT MSWI + MTIMER) window, which OpenSBI keeps to M-mode (domain region 00). */
const CLINT_BASE = 0x0200_0000n;
const CLINT_SIZE = 0x1_0000n;

/**
 * What stvec reads after firmware writes `v` to it: BASE is 4-byte aligned, MODE 0 (direct) or 1
 * (vectored) (Priv 1.12 §4.1.2, the core's WARL in assembly/csr.ts). A 2-byte-aligned start address
 * (Linux's secondary_start_sbi with the C extension) loses bit 1, as on OpenSBI.
 */
export function stvecValue(v: bigint): bigint {
  return (v & 1n) !== 0n ? v & ~2n : v & ~3n;
}

export interface EntryCsr {
  /** The CSR, by its name in the privileged spec. */
  readonly csr: string;
  /** Its field in the hart block (layout H_*). */
  readonly field: number;
  /** Its value for a kernel entered at `entry`. */
  /** The value for a kernel entered at `entry` on a hart with (`h`) or without the H extension. */
  readonly value: (entry: bigint, h: boolean, ext: Partial<Record<GatedExt, boolean>>) => bigint;
  /** Where OpenSBI 1.1 sets it (lib/sbi/...), and why. */
  readonly source: string;
}

/**
 * The CSRs at the kernel's first instruction under OpenSBI 1.1 on this machine (test/firmware.test.ts
 * proves each row against OpenSBI itself). Rows are applied in order to every hart.
 */
export const OPENSBI_ENTRY_STATE: readonly EntryCsr[] = [
  {
    csr: 'mstatus',
    field: L.H_MSTATUS,
    // SD | SXL = UXL = 2 (64-bit) | FS = Dirty | MPIE (MPP = U, MIE = 0 after the mret).
    value: () => (1n << 63n) | (2n << 34n) | (2n << 32n) | (3n << 13n) | (1n << 7n),
    source: 'sbi_hart.c mstatus_init (FS on), then the mret of sbi_hart_switch_mode (MPIE = 1, MPP = U)',
  },
  { csr: 'medeleg', field: L.H_MEDELEG, value: (_e, h) => bits(MEDELEG_CAUSES) | (h ? H_MEDELEG_BITS : 0n), source: 'sbi_hart.c delegate_traps' },
  // With Sscofpmf (OpenSBI finds it by reading scountovf) LCOFI (13) is delegated too.
  { csr: 'mideleg', field: L.H_MIDELEG, value: (_e, h, ext) => bits(MIDELEG_INTERRUPTS) | (h ? H_MIDELEG_BITS : 0n) | (ext.Sscofpmf ? 1n << 13n : 0n), source: 'sbi_hart.c delegate_traps' },
  { csr: 'mie', field: L.H_MIE, value: () => 1n << BigInt(IRQ_M_SOFT), source: 'sbi_ipi.c sbi_ipi_init (MSIE: firmware IPIs)' },
  { csr: 'mcounteren', field: L.H_MCOUNTEREN, value: () => 0xffff_ffffn, source: 'sbi_hart.c mstatus_init (writes -1; 32 bits are WARL)' },
  { csr: 'scounteren', field: L.H_SCOUNTEREN, value: () => 7n, source: 'sbi_hart.c mstatus_init (CY, TM, IR for U-mode)' },
  // Every event selector is 0 at reset, so the raw store needs no counter rebase (assembly/hpm.ts).
  { csr: 'mcountinhibit', field: L.H_MCOUNTINHIBIT, value: () => 0xffff_fff8n, source: 'sbi_hart.c mstatus_init (stops the hpm counters; CY, IR count)' },
  {
    csr: 'menvcfg',
    field: L.H_MENVCFG,
    // OpenSBI writes STCE | PBMTE | CBZE | CBCFE | CBIE = 11; the WARL fields the hart lacks stay 0.
    value: (_e, _h, ext) => (1n << 63n) | (ext.Svpbmt ? 1n << 62n : 0n) | (ext.Zicbom ? (3n << 4n) | (1n << 6n) : 0n) | (ext.Zicboz ? 1n << 7n : 0n),
    source: 'sbi_hart.c mstatus_init (STCE: the hart has Sstc; PBMTE, CBZE, CBCFE, CBIE: written, WARL)',
  },
  { csr: 'stimecmp', field: L.H_STIMECMP, value: () => 0n, source: 'reset value (OpenSBI writes it only on the first set_timer)' },
  { csr: 'satp', field: L.H_SATP, value: () => 0n, source: 'sbi_hart.c mstatus_init, sbi_hart_switch_mode' },
  { csr: 'stvec', field: L.H_STVEC, value: (entry) => stvecValue(entry), source: 'sbi_hart.c sbi_hart_switch_mode (stvec = next address)' },
  { csr: 'sscratch', field: L.H_SSCRATCH, value: () => 0n, source: 'sbi_hart.c sbi_hart_switch_mode' },
  { csr: 'mepc', field: L.H_MEPC, value: (entry) => entry, source: 'sbi_hart.c sbi_hart_switch_mode (the mret target)' },
  // PMP (sbi_hart.c sbi_hart_pmp_configure, one entry per domain region, in region order):
  // 0: the CLINT, M-mode only; 1: OpenSBI's own image (not here: see ARCHITECTURE.md §11);
  // 2: everything, RWX for S/U.
  {
    csr: 'pmpcfg0',
    field: L.H_PMPCFG,
    value: () => PMP_NAPOT_NONE | (PMP_NAPOT_RWX << 16n),
    source: 'sbi_hart.c sbi_hart_pmp_configure',
  },
  { csr: 'pmpaddr0', field: L.H_PMPADDR, value: () => pmpNapot(CLINT_BASE, CLINT_SIZE), source: 'domain region 00: CLINT, M-mode only' },
  { csr: 'pmpaddr2', field: L.H_PMPADDR + 2 * 8, value: () => (1n << 54n) - 1n, source: 'domain region 02: all memory, RWX' },
  { csr: 'fcsr', field: L.H_FCSR, value: () => 0n, source: 'sbi_hart.c fp_init' },
];

/** f0..f31 after OpenSBI's fp_init (`fmv.w.x fN, zero`): single-precision +0, NaN-boxed. */
export const OPENSBI_F_REGS = 0xffff_ffff_0000_0000n;

/** Put the running hart in the state OpenSBI 1.1 leaves for a kernel at `entry` (S-mode, at entry). */
export function applyEntryState(core: Core, entry: bigint): void {
  const h = hasHypervisor(core);
  const ext = coreExtensions(core);
  for (const row of OPENSBI_ENTRY_STATE) core.setCsr(row.field, row.value(entry, h, ext));
  core.setCsr(L.H_PMP_ACTIVE, 1n);
  for (let r = 0; r < 32; r++) core.setF(r, OPENSBI_F_REGS);
  core.ex.timebaseChanged(); // recompute Sstc's STIP from stimecmp
  core.priv = 1; // also flushes the host TLB (PMP changed)
  core.pc = entry;
}

// ---------------------------------------------------------------------------------------------
// Traps into M-mode

/** What the M-mode trap handler needs from the machine. */
export interface MachineTrapHost {
  readonly core: Core;
  /** Clear the machine software interrupt of `hart` (ACLINT MSWI msip), as ipi_clear does. */
  clearMsip(hart: number): void;
}


/** How a trap into M-mode was dealt with. */
export type MachineTrapResult =
  | { kind: 'emulated' }
  | { kind: 'redirected' }
  /** The run ends: exit code 1 (nothing can handle the trap), and one line. */
  | { kind: 'unhandled'; code: number; message: string }
  /** The run ends like a hart the core found stuck (exit 3, the `hart H stuck: ...` line). */
  | { kind: 'stuck'; message: string };

/** Exit code for a trap into M-mode that nothing handles (the CLI's "guest stuck" code). */
export const EXIT_UNHANDLED_TRAP = 1;

const CSR_CYCLE = 0xc00;
const CSR_TIME = 0xc01;
const CSR_INSTRET = 0xc02;
const CSR_HTIMEDELTA = 0x605;

/** Per-hart firmware state (OpenSBI's scratch): the htimedelta it emulates. */
export class BuiltinFirmware {
  private readonly timeDelta: bigint[];
  /** Per hart: instret at the last host trap, and host traps since then without progress. */
  private readonly lastInstret: number[];
  private readonly trapsInRow: number[];

  constructor(private readonly host: MachineTrapHost, harts: number) {
    this.timeDelta = new Array<bigint>(harts).fill(0n);
    this.lastInstret = new Array<number>(harts).fill(-1);
    this.trapsInRow = new Array<number>(harts).fill(0);
  }

  /**
   * Handle the trap the running hart `hart` just returned RunStatus.MTrap for (sbi_trap_handler).
   * A redirect loop that retires nothing (e.g. stvec pointing at garbage) is a stuck hart.
   */
  handle(hart: number): MachineTrapResult {
    const core = this.host.core;
    const cause = core.mtrapCause;
    const tval = core.mtrapTval;
    const r = this.dispatch(hart, cause, tval);
    if (r.kind === 'redirected') {
      if (core.instret !== this.lastInstret[hart]) {
        this.lastInstret[hart] = core.instret;
        this.trapsInRow[hart] = 0;
      }
      // Redirected traps count against the core's own stuck threshold (Core.stuckLimit, 0 = off).
      const limit = core.stuckLimit;
      if (++this.trapsInRow[hart]! >= limit && limit !== 0) {
        return {
          kind: 'stuck',
          message: `hart ${hart} stuck: cause ${cause} at pc ${hex(core.getCsr(L.H_SEPC))}, xtvec ${hex(core.getCsr(L.H_STVEC))}`,
        };
      }
    }
    return r;
  }

  private dispatch(hart: number, cause: bigint, tval: bigint): MachineTrapResult {
    const core = this.host.core;
    const prev = core.priv;
    if (cause >> 63n) {
      const irq = Number(cause & 0xffn);
      if (irq === IRQ_M_SOFT) {
        // sbi_ipi_process: clear the MSWI bit; no firmware IPI is ever queued here.
        this.host.clearMsip(hart);
        return { kind: 'emulated' };
      }
      return { kind: 'unhandled', code: EXIT_UNHANDLED_TRAP, message: unhandledLine(hart, cause, core.pc, tval, prev) };
    }
    // sbi_trap_redirect refuses a trap from M-mode (sbi_trap_error): nothing runs in M-mode here,
    // so this is a host set-up error, reported the same way.
    if (prev !== 1 && prev !== 0) return { kind: 'unhandled', code: EXIT_UNHANDLED_TRAP, message: unhandledLine(hart, cause, core.pc, tval, prev) };
    if (cause === BigInt(CAUSE_ILLEGAL_INSTRUCTION) && this.emulateCsrInstruction(hart, Number(tval & 0xffff_ffffn), prev)) {
      return { kind: 'emulated' };
    }
    // Everything else goes to S-mode with the cause and tval the hardware reported
    // (sbi_trap_redirect; an illegal instruction keeps its bits in stval, truly_illegal_insn).
    core.redirectTrap(cause, tval);
    return { kind: 'redirected' };
  }

  /**
   * sbi_illegal_insn.c system_opcode_insn: a CSR instruction whose CSR OpenSBI emulates. The core
   * reports the instruction's bits in mtval (16-bit ones are never CSR instructions: "truly illegal").
   * Returns false when OpenSBI would call it truly illegal (then it is redirected).
   */
  private emulateCsrInstruction(hart: number, insn: number, prev: number): boolean {
    if ((insn & 0x7f) !== 0x73) return false; // not SYSTEM (or a compressed instruction)
    const funct3 = (insn >>> 12) & 7;
    if (funct3 === 0 || funct3 === 4) return false; // ecall/ebreak/xret/wfi/sfence, reserved
    const rd = (insn >>> 7) & 31;
    const rs1 = (insn >>> 15) & 31;
    const csr = insn >>> 20;
    const old = this.readCsr(hart, csr, prev);
    if (old === null) return false;
    const core = this.host.core;
    const src = funct3 >= 5 ? BigInt(rs1) : core.x(rs1);
    // csrrw(i) always writes; csrrs(i)/csrrc(i) only with a non-zero rs1 field.
    const write = funct3 === 1 || funct3 === 5 || rs1 !== 0;
    const nv = funct3 === 1 || funct3 === 5 ? src : funct3 === 2 || funct3 === 6 ? old | src : old & ~src;
    if (write && !this.writeCsr(hart, csr, nv, prev)) return false;
    core.setX(rd, old);
    core.pc = core.pc + 4n;
    return true;
  }

  /** sbi_emulate_csr.c sbi_emulate_csr_read (1.1): null = SBI_ENOTSUPP. */
  private readCsr(hart: number, csr: number, prev: number): bigint | null {
    const core = this.host.core;
    switch (csr) {
      case CSR_HTIMEDELTA:
        return prev === 1 ? this.timeDelta[hart]! : null;
      case CSR_CYCLE:
        return counterAllowed(core, 0, prev) ? BigInt.asUintN(64, BigInt(core.cycles) + core.getCsr(L.H_MCYCLE_OFS)) : null;
      case CSR_TIME:
        // "Faster TIME CSR reads are critical for good performance in S-mode software so we
        // don't check CSR permissions" (OpenSBI): time is emulated whatever the enable bits say.
        return timeNow(core);
      case CSR_INSTRET:
        return counterAllowed(core, 2, prev) ? BigInt.asUintN(64, BigInt(core.instret) + core.getCsr(L.H_MINSTRET_OFS)) : null;
      default:
        // hpmcounter3..31: the core reads them itself when mcounteren allows; OpenSBI 1.1's
        // sbi_emulate_csr_read emulates them only through its PMU, which has no /pmu event map here.
        return null;
    }
  }

  /** sbi_emulate_csr_write: only htimedelta, from HS-mode. */
  private writeCsr(hart: number, csr: number, v: bigint, prev: number): boolean {
    if (csr === CSR_HTIMEDELTA && prev === 1) {
      this.timeDelta[hart] = BigInt.asUintN(64, v);
      return true;
    }
    return false;
  }
}

/** OpenSBI hpm_allowed: mcounteren for S and U, and scounteren too for U. */
function counterAllowed(core: Core, bit: number, prev: number): boolean {
  let en = core.getCsr(L.H_MCOUNTEREN);
  if (prev === 0) en &= core.getCsr(L.H_SCOUNTEREN);
  return ((en >> BigInt(bit)) & 1n) === 1n;
}

/** mtime as the core's `time` CSR reads it (cycles / cycles-per-tick + the CLINT's offset). */
function timeNow(core: Core): bigint {
  const div = core.getCsr(L.H_TIME_DIV);
  const t = div === 0n ? 0n : BigInt(core.cycles) / div;
  return BigInt.asUintN(64, t + core.getCsr(L.H_TIME_OFS));
}

const CAUSE_NAMES: Record<number, string> = {
  0: 'instruction address misaligned', 1: 'instruction access fault', 2: 'illegal instruction',
  3: 'breakpoint', 4: 'load address misaligned', 5: 'load access fault', 6: 'store/AMO address misaligned',
  7: 'store/AMO access fault', 8: 'environment call from U-mode', 9: 'environment call from S-mode',
  11: 'environment call from M-mode', 12: 'instruction page fault', 13: 'load page fault', 15: 'store/AMO page fault',
};
const IRQ_NAMES: Record<number, string> = {
  1: 'supervisor software interrupt', 3: 'machine software interrupt', 5: 'supervisor timer interrupt',
  7: 'machine timer interrupt', 9: 'supervisor external interrupt', 11: 'machine external interrupt',
};
const PRIV_NAMES = ['U', 'S', '?', 'M'];

/** The one line for a trap into M-mode that the builtin firmware cannot handle. */
export function unhandledLine(hart: number, cause: bigint, pc: bigint, tval: bigint, priv: number): string {
  const irq = cause >> 63n === 1n;
  const code = Number(cause & 0xfffn);
  const name = (irq ? IRQ_NAMES : CAUSE_NAMES)[code] ?? (irq ? 'interrupt' : 'exception');
  const c = irq ? `interrupt ${code}` : `cause ${code}`;
  return `hart ${hart}: unhandled trap into M-mode: ${c} (${name}) from ${PRIV_NAMES[priv] ?? '?'}-mode at pc ${hex(pc)}, tval ${hex(tval)} (--bios builtin has no M-mode handler for it)`;
}
