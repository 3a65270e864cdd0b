/**
 * Every difference between QEMU 7.2 and cyclevisor the fuzzer accepts, with the spec sentence that
 * allows it (WARL or UNSPECIFIED values, implementation-defined choices) or, for a QEMU-side
 * discrepancy, the sentence QEMU does not follow (cyclevisor follows the spec).
 *
 * Two kinds of entries:
 *  - checked: `applies` recognises the difference in a compared field, which is then counted under
 *    the rule instead of as a mismatch. A register that holds exactly an allowed value pair (read
 *    from the CSR after the trap) is accepted under the same rule.
 *  - avoided: the generator does not produce the case (csrs.ts write masks, gen.ts), because the
 *    difference would spread through the rest of the program; the entry documents why.
 *
 * Spec versions: RISC-V Unprivileged ISA 20191213 ("Unpriv"), Privileged Architecture 20211203
 * (1.12, "Priv").
 */
import type { Context, Diff } from './compare.js';
import type { State } from './batch.js';
import { CODE } from './layout.js';

export interface AllowedRule {
  id: string;
  /** 'allowed': the spec leaves it open; 'qemu': QEMU 7.2 disagrees with the spec. */
  kind: 'allowed' | 'qemu';
  /** Checked in the comparison, or avoided by the generator. */
  how: 'checked' | 'avoided';
  summary: string;
  /** The spec sentence, quoted, and where it is. */
  spec: string;
  applies(d: Diff, q: State, c: State, ctx: Context): boolean;
}

const never = (): boolean => false;

/** The log index of a trap-log field ("trap[12].mtval" -> 12, "mtval" -> the last trap). */
function trapIndex(field: string, q: State): number | null {
  const m = /^trap\[(\d+)\]\.(\w+)/.exec(field);
  if (m) return Number(m[1]);
  return q.log.length ? q.log.length - 1 : null;
}
const isTval = (f: string): boolean => f === 'mtval' || /^trap\[\d+\]\.mtval$/.test(f);
const isCause = (f: string): boolean => f === 'mcause' || /^trap\[\d+\]\.mcause$/.test(f);
/** For the final mcause/mtval CSRs: only when the last logged trap is the one in question. */
const lastIs = (d: Diff, q: State, c: State, i: number): boolean =>
  d.field.startsWith('trap[') || (i === q.log.length - 1 && i === c.log.length - 1 && q.traps === c.traps);

export const ALLOWED: readonly AllowedRule[] = [
  // ---------------------------------------------------------------------------------- checked
  {
    id: 'ebreak-mtval',
    kind: 'allowed',
    how: 'checked',
    summary: 'mtval on a breakpoint exception from ebreak/c.ebreak: QEMU writes 0, cyclevisor the pc',
    spec:
      'Priv 3.1.16: "When a trap is taken into M-mode, mtval is either set to zero or written with exception-specific ' +
      'information to assist software in handling the trap." ... "If mtval is written with a nonzero value when a ' +
      'breakpoint, address-misaligned, access-fault, or page-fault exception occurs on an instruction fetch, load, or ' +
      'store, then mtval will contain the faulting virtual address."',
    applies(d, q, c) {
      if (!isTval(d.field)) return false;
      const i = trapIndex(d.field, q);
      if (i === null || !lastIs(d, q, c, i)) return false;
      const t = q.log[i], u = c.log[i];
      if (!t || !u || t.cause !== 3n || u.cause !== 3n || t.epc !== u.epc) return false;
      const pc = BigInt(CODE) + t.epc;
      return (d.qemu === 0n || d.qemu === pc) && (d.cyclevisor === 0n || d.cyclevisor === pc);
    },
  },
  {
    id: 'misaligned-fault-mtval',
    kind: 'allowed',
    how: 'checked',
    summary:
      'mtval of an access fault by a misaligned access: QEMU 7.2 names the first byte or the aligned-down address ' +
      '(outside the access: a QEMU-side discrepancy), cyclevisor the first byte that faulted',
    spec:
      'Priv 3.1.16: "If mtval is written with a nonzero value when a misaligned load or store causes an access-fault ' +
      'or page-fault exception, then mtval will contain the virtual address of the portion of the access that caused ' +
      'the fault."',
    applies(d, q, c) {
      if (!isTval(d.field)) return false;
      const i = trapIndex(d.field, q);
      if (i === null || !lastIs(d, q, c, i)) return false;
      const t = q.log[i], u = c.log[i];
      if (!t || !u || t.epc !== u.epc || ![5n, 7n].includes(t.cause)) return false;
      const delta = d.qemu > d.cyclevisor ? d.qemu - d.cyclevisor : d.cyclevisor - d.qemu;
      return delta < 8n;
    },
  },
  {
    id: 'amo-fault-cause',
    kind: 'qemu',
    how: 'checked',
    summary: 'an AMO that faults: QEMU 7.2 raises load access fault (5) / load address misaligned (4) / load page fault (13); the spec says store/AMO (7 / 6 / 15); translating it as a load, QEMU does not set the PTE\'s D bit',
    spec:
      'Priv 3.1.15, Table 3.6 (machine cause values): "6 Store/AMO address misaligned", "7 Store/AMO access fault", "15 Store/AMO page fault". ' +
      'Unpriv 8.4: AMOs "atomically load a data value from the address in rs1, ... and then store the result back"; ' +
      'the exception for an AMO is the store/AMO one.',
    applies(d, q, c, ctx) {
      // QEMU translates the faulting AMO as a load, so it does not set the PTE's D bit either.
      if (/^pte\d$/.test(d.field)) {
        return (d.qemu ^ d.cyclevisor) === 0x80n && (d.cyclevisor & 0x80n) !== 0n &&
          q.log.some((t, k) => c.log[k] && t.epc === c.log[k]!.epc && /^amo/.test(ctx.rowAt(t.epc) ?? '') &&
            [4n, 5n, 13n].includes(t.cause) && [6n, 7n, 15n].includes(c.log[k]!.cause));
      }
      if (!isCause(d.field)) return false;
      const i = trapIndex(d.field, q);
      if (i === null || !lastIs(d, q, c, i)) return false;
      const t = q.log[i], u = c.log[i];
      if (!t || !u || t.epc !== u.epc) return false;
      const row = ctx.rowAt(t.epc);
      if (!row || !/^(amo|sc\.)/.test(row)) return false;
      // QEMU's cause is the load one: misaligned, access or page fault as a load sees it (a page
      // without W faults as a store on cyclevisor, its PA as a load on QEMU).
      return [4n, 5n, 13n].includes(d.qemu) && [6n, 7n, 15n].includes(d.cyclevisor);
    },
  },
  {
    id: 'fs-dirty',
    kind: 'qemu',
    how: 'checked',
    summary:
      'mstatus.FS after an FP instruction that writes only fflags and an x register (fcvt to integer, compares, ' +
      'fclass): QEMU 7.2 leaves FS Initial/Clean, cyclevisor sets Dirty (a QEMU-side discrepancy when the ' +
      'instruction set new fflags bits; when it did not, both are allowed); the generator follows each such ' +
      'instruction with an fsgnj.d so the difference does not spread',
    spec:
      'Priv 3.1.6.6: "When the status is Dirty, the corresponding state has potentially been modified since the last ' +
      'context save." Table 3.4: executing an instruction that modifies state takes FS from Initial or Clean to Dirty; ' +
      'fflags is part of the floating-point state (Unpriv 11.2: "The F extension adds 32 floating-point registers ... ' +
      'and a floating-point control and status register fcsr").',
    applies(d) {
      if (d.field !== 'mstatus' && d.field !== 'sstatus') return false;
      const FS = 3n << 13n, SD = 1n << 63n;
      if (((d.qemu ^ d.cyclevisor) & ~(FS | SD)) !== 0n) return false;
      return (d.cyclevisor & FS) === FS && (d.cyclevisor & SD) !== 0n && (d.qemu & FS) !== FS && (d.qemu & FS) !== 0n;
    },
  },
  {
    id: 'irq-priority',
    kind: 'qemu',
    how: 'checked',
    summary: 'SEI pending together with SSI or STI, both enabled, in M-mode: QEMU 7.2 takes SSI/STI first, cyclevisor SEI',
    spec:
      'Priv 3.1.9: "Multiple simultaneous interrupts destined for M-mode are handled in the following decreasing ' +
      'priority order: MEI, MSI, MTI, SEI, SSI, STI."',
    applies(d, q, c) {
      if (!isCause(d.field)) return false;
      const i = trapIndex(d.field, q);
      if (i === null || !lastIs(d, q, c, i)) return false;
      const I = 1n << 63n;
      return d.cyclevisor === (I | 9n) && (d.qemu === (I | 1n) || d.qemu === (I | 5n));
    },
  },
  {
    id: 'ptw-access-fault',
    kind: 'qemu',
    how: 'checked',
    summary:
      'a page-table walk that reads a PTE at an inaccessible physical address (a root PTE pointing to physical ' +
      'page 0): QEMU 7.2 raises a page fault, cyclevisor the access fault of the access type',
    spec:
      'Priv 4.3.2 (virtual address translation process), step 2: "Let pte be the value of the PTE at address ' +
      'a+va.vpn[i]×PTESIZE. ... If accessing pte violates a PMA or PMP check, raise an access-fault exception ' +
      'corresponding to the original access type."',
    applies(d, q, c, ctx) {
      if (!isCause(d.field)) return false;
      const i = trapIndex(d.field, q);
      if (i === null || !lastIs(d, q, c, i)) return false;
      const t = q.log[i], u = c.log[i];
      if (!t || !u || t.epc !== u.epc || t.tval !== u.tval) return false;
      const row = ctx.rowAt(t.epc) ?? '';
      const amo = /^(amo|sc\.)/.test(row);
      if (d.cyclevisor === 5n) return d.qemu === 13n;
      if (d.cyclevisor === 7n) return d.qemu === 15n || (amo && d.qemu === 13n);
      return false;
    },
  },
  {
    id: 'a-bit-on-fault',
    kind: 'allowed',
    how: 'checked',
    summary: 'a PTE\'s A bit after an access through it faulted (an AMO on a read-only page): QEMU 7.2 sets it, cyclevisor does not',
    spec:
      'Priv 4.3.1: "... the implementation sets the corresponding bit(s) in the PTE. ... Updates of the A bit may be ' +
      'performed as a result of speculation, but updates to the D bit must be exact (i.e., not speculative) ..."',
    applies(d, q, c) {
      if (!/^pte\d$/.test(d.field)) return false;
      return (d.qemu ^ d.cyclevisor) === 0x40n && (d.qemu & 0x40n) !== 0n &&
        [...q.log, ...c.log].some((t) => [5n, 7n, 12n, 13n, 15n].includes(t.cause));
    },
  },
  // ---------------------------------------------------------------------------------- avoided
  {
    id: 'lr-sc-reservation-set',
    kind: 'allowed',
    how: 'avoided',
    summary:
      'an SC.D after an LR.W of the same address (or an SC near, not at, the reserved address): QEMU 7.2 fails it ' +
      '(it compares the address and the loaded value), cyclevisor lets it succeed when its reservation set holds the bytes',
    spec:
      'Unpriv 8.2: "LR.W loads a word from the address in rs1, places the sign-extended value in rd, and registers a ' +
      'reservation set—a set of bytes that subsumes the bytes in the addressed word." ... "SC.W conditionally writes a ' +
      'word in rs2 to the address in rs1: the SC.W succeeds only if the reservation is still valid and the reservation ' +
      'set contains the bytes being written."',
    applies: never,
  },
  {
    id: 'pmp-tor-zero',
    kind: 'qemu',
    how: 'avoided',
    summary:
      'a TOR entry whose pmpaddr is 0: QEMU 7.2 computes its top as 0 - 1 and matches every address from ' +
      'pmpaddr[i-1] up; cyclevisor matches none',
    spec: 'Priv 3.7.1: "If pmpaddr_{i-1} >= pmpaddr_i and pmpcfg_i.A=TOR, then PMP entry i matches no addresses."',
    applies: never,
  },
  {
    id: 'ad-update-pmp',
    kind: 'qemu',
    how: 'avoided',
    summary:
      'A/D update of a PTE whose address PMP does not let S-mode write: QEMU 7.2 writes the PTE anyway (and then ' +
      'completes or faults the access); cyclevisor raises the access fault without writing it',
    spec:
      'Priv 4.3.2, step 7: "If pte.a = 0, or if the original memory access is a store and pte.d = 0, ... Set pte.a to 1 ' +
      'and, if the original memory access is a store, also set pte.d to 1. If a store to pte would violate a PMA or PMP ' +
      'check, raise an access-fault exception corresponding to the original access type."',
    applies: never,
  },
  {
    id: 'mret-mpp-stale-tlb',
    kind: 'qemu',
    how: 'avoided',
    summary:
      'with mstatus.MPRV = 1, a trap (MPP := M) and its mret (MPP := U) do not flush QEMU 7.2\'s TLB: a later access ' +
      'uses a translation or PMP decision cached for another privilege (a U access to a non-U page, or one no PMP ' +
      'entry matches, succeeds)',
    spec:
      'Priv 3.1.6.3: "When MPRV=1, load and store memory addresses are translated and protected, and endianness is ' +
      'applied, as though the current privilege mode were set to MPP."; Priv 3.3.2: MRET sets "xPP to the ' +
      'least-privileged supported mode (U if U-mode is implemented, else M)"; Priv 3.7.1: "If no PMP entry matches ' +
      'an S-mode or U-mode access, but at least one PMP entry is implemented, the access fails."',
    applies: never,
  },
  {
    id: 'csr-write-zero-mask',
    kind: 'qemu',
    how: 'avoided',
    summary: 'csrrs/csrrc with rs1 != x0 holding 0 on a read-only CSR: QEMU 7.2 does not trap (it looks at the value, not at rs1)',
    spec:
      'Unpriv 9.1: "Note that if rs1 specifies a register holding a zero value other than x0, the instruction will ' +
      'still attempt to write the unmodified value back to the CSR and will cause any attendant side effects."; ' +
      'Priv 2.1: "Attempts to access a non-existent CSR raise an illegal instruction exception. Attempts to access a ' +
      'CSR without appropriate privilege level or to write a read-only register also raise illegal instruction exceptions."',
    applies: never,
  },
  {
    id: 'mstatus-mpp-2',
    kind: 'qemu',
    how: 'avoided',
    summary: 'mstatus.MPP = 2 (reserved): QEMU 7.2 keeps it, cyclevisor keeps the old value',
    spec: 'Priv 3.1.6.1: "MPP ... are WARL fields that can hold only privilege mode x and any implemented privilege mode lower than x."',
    applies: never,
  },
  {
    id: 'sc-misaligned',
    kind: 'qemu',
    how: 'avoided',
    summary: 'a misaligned SC without a valid reservation: QEMU 7.2 fails it (rd = 1) without an exception',
    spec:
      'Unpriv 8.2: "For LR and SC, the A extension requires that the address held in rs1 be naturally aligned to the ' +
      'size of the operand (i.e., eight-byte aligned for 64-bit words and four-byte aligned for 32-bit words). If the ' +
      'address is not naturally aligned, an address-misaligned exception or an access-fault exception will be generated."',
    applies: never,
  },
  {
    id: 'sc-fail-no-access',
    kind: 'allowed',
    how: 'avoided',
    summary: 'an SC with no matching reservation to an inaccessible address: QEMU fails it, cyclevisor raises the access fault',
    spec:
      'Unpriv 8.2: "SC.W conditionally writes a word in rs2 to the address in rs1: the SC.W succeeds only if the ' +
      'reservation is still valid and the reservation set contains the bytes being written." The spec does not say ' +
      'whether a failing SC checks the access (the Sail model fails it first, as QEMU does).',
    applies: never,
  },
  {
    id: 'counteren-32',
    kind: 'qemu',
    how: 'avoided',
    summary: 'mcounteren/scounteren bits 63:32: QEMU 7.2 keeps them',
    spec: 'Priv 3.1.11: "The counter-enable register mcounteren is a 32-bit register that controls the availability of the hardware performance-monitoring counters to the next-lowest privileged mode." (4.1.5: scounteren likewise)',
    applies: never,
  },
  {
    id: 'pmpaddr-54',
    kind: 'qemu',
    how: 'avoided',
    summary: 'pmpaddr bits 63:54: QEMU 7.2 keeps them',
    spec: 'Priv 3.7.1: "For RV64, each PMP address register encodes bits 55-2 of a 56-bit physical address, as shown in Figure 3.28." (bits 63:54 are shown as 0 (WARL))',
    applies: never,
  },
  {
    id: 'pmpcfg-reserved',
    kind: 'qemu',
    how: 'avoided',
    summary: 'pmpcfg bits 6:5 and the R=0 W=1 combination: QEMU 7.2 keeps them',
    spec: 'Priv 3.7.1 (Figure 3.29, PMP configuration register format): bits 6:5 are "0 (WARL)"; "The combination R=0 and W=1 is reserved for future use."',
    applies: never,
  },
  {
    id: 'xepc-bit0',
    kind: 'qemu',
    how: 'avoided',
    summary: 'mepc/sepc bit 0: QEMU 7.2 keeps a written 1',
    spec: 'Priv 3.1.14: "The low bit of mepc (mepc[0]) is always zero." (4.1.7 says the same of sepc)',
    applies: never,
  },
  {
    id: 'mstatus-vs-uxl-gva',
    kind: 'allowed',
    how: 'avoided',
    summary: 'mstatus VS (QEMU writable without V), UXL/SXL (QEMU supports UXL = 32), GVA/MPV (H bits QEMU keeps with h=false)',
    spec:
      'Priv 3.1.6.6: "If neither the v registers nor S-mode is implemented, then VS is read-only zero. If S-mode is ' +
      'implemented but the v registers are not, VS may optionally be read-only zero." Priv 3.1.6.3: UXL and SXL are ' +
      'WARL fields (either machine\'s choice of legal values is allowed). GVA/MPV belong to the H extension (Priv 8.2), ' +
      'which neither machine runs here.',
    applies: never,
  },
  {
    id: 'xedeleg-xideleg-xie-xip',
    kind: 'qemu',
    how: 'avoided',
    summary: 'medeleg[11], and the H (VSSIP/VSTIP/VSEIP) and LCOFI bits of mie/mip: QEMU 7.2 keeps them (with h=false, sscofpmf=false)',
    spec:
      'Priv 3.1.8: "For exceptions that cannot occur in less privileged modes, the corresponding medeleg bits should be ' +
      'read-only zero. In particular, medeleg[11] is read-only zero." Priv 3.1.9 (Sscofpmf): "If Sscofpmf is not ' +
      'implemented, LCOFIP and LCOFIE are read-only zeros." The VS interrupt bits exist only with the H extension ' +
      '(Priv 8.2.3).',
    applies: never,
  },
  {
    id: 'envcfg-fiom',
    kind: 'allowed',
    how: 'avoided',
    summary: 'menvcfg/senvcfg FIOM (and CBIE/CBCFE/CBZE): writable on QEMU 7.2; cyclevisor has no FIOM, and the fuzzer runs it without Zicbom/Zicboz (QEMU 7.2 has no instructions of theirs to compare)',
    spec: 'Priv 3.1.18: menvcfg fields are WARL ("If ... not implemented, ... read-only zero"); CBIE/CBCFE/CBZE exist only with Zicbom/Zicboz.',
    applies: never,
  },
  {
    id: 'ctzw-upper-bits',
    kind: 'qemu',
    how: 'avoided',
    summary: 'ctzw with rs1[31:0] = 0 and rs1[63:32] != 0: QEMU 7.2 returns the trailing zeros of all 64 bits (53 for 0x0020000000000000), the spec 32; the generator zero-extends ctzw\'s source first (add.uw), so only rs1[31:0] varies',
    spec: 'Unpriv 20240411 28.4.4 ctzw: "counts the number of 0 bits at the LSB end of the least-significant word"; "If the least-significant word is 0, the output is 32".',
    applies: never,
  },
  {
    id: 'xtvec-mode',
    kind: 'allowed',
    how: 'avoided',
    summary: 'stvec/mtvec MODE >= 2 (reserved): QEMU 7.2 ignores the write, cyclevisor legalises it',
    spec: 'Priv 3.1.7: "The encoding of the MODE field is shown in Table 3.5 ... MODE >= 2 Reserved"; Priv 2.3: WARL fields "can return any legal value on the read of a WARL field when the last write was of an illegal value"',
    applies: never,
  },
  {
    id: 'satp-bare-nonzero',
    kind: 'allowed',
    how: 'avoided',
    summary: 'satp written with MODE = Bare and nonzero other fields',
    spec: 'Priv 4.1.11: "Attempting to select MODE=Bare with a nonzero pattern in the remaining fields has an UNSPECIFIED effect on the value that the remaining fields assume and an UNSPECIFIED effect on address translation and protection behavior."',
    applies: never,
  },
  {
    id: 'marchid-mimpid',
    kind: 'allowed',
    how: 'avoided',
    summary: 'marchid/mimpid: QEMU 7.2 reports 0x70216; QEMU is run with marchid=0,mimpid=0 (run.ts QEMU_CPU)',
    spec: 'Priv 3.1.3: "The marchid CSR ... encoding the base microarchitecture of the hart ... A value of 0 can be returned to indicate the field is not implemented."; 3.1.4 mimpid likewise.',
    applies: never,
  },
];

export function allowedDifference(d: Diff, q: State, c: State, ctx: Context): AllowedRule | null {
  for (const r of ALLOWED) if (r.how === 'checked' && r.applies(d, q, c, ctx)) return r;
  return null;
}
