/**
 * The CSRs the fuzzer knows: which ones generated code reads and writes, which ones the runtime
 * initialises to a random value before each program, and which ones the trailer dumps and compares.
 *
 * This list is the one place to add a CSR (the H extension's, Sdtrig's, ...): the generator picks
 * CSR accesses from it, and `npm run fuzz -- --write-asm` regenerates test/guests/fuzz/fuzz-csrs.S
 * (the runtime's INIT_CSRS / DUMP_CSRS macros) from it; test/fuzz.test.ts checks the committed file
 * is current. Then `make -C test/guests/fuzz` rebuilds the runtime.
 *
 * Write rules (how generated code may write a CSR, and how its initial value is drawn):
 *   'free'      any value
 *   bigint      any value, masked to these bits (the bits whose behaviour both machines implement
 *               alike; each mask's `why` says which WARL/UNSPECIFIED divergence it avoids, and
 *               scripts/fuzz/allowed.ts quotes the spec for it)
 *   function    a value from this generator
 *   'same'      only its current value (csrrs/csrrc with 0, csrrw of the value just read)
 *   'never'     not written (reads only; a write to a read-only CSR is generated as a trap case)
 */
import type { Rng } from '../fp-diff/gen.js';
export type WriteRule = 'free' | 'same' | 'never' | bigint | ((rng: Rng) => bigint);

export interface FuzzCsr {
  addr: number;
  name: string;
  write: WriteRule;
  /** Set to a random value (under `write`) by the runtime before each program. */
  init?: boolean;
  /** Dumped after each program and compared (timing CSRs are not). */
  dump: boolean;
  /** Reads give a timing value (cycle, time, instret, hpm): never kept in a compared register. */
  timing?: boolean;
  why?: string;
}

const bits = (...ns: number[]): bigint => ns.reduce((m, n) => m | (1n << BigInt(n)), 0n);
const M32 = 0xffffffffn;
const M54 = (1n << 54n) - 1n;

/** mstatus: SIE SPIE SPP MPP FS SUM MXR TVM TW TSR, MPP never the reserved 2. */
function mstatusValue(rng: Rng): bigint {
  let v = rng.u64() & bits(1, 5, 8, 11, 12, 13, 14, 18, 19, 20, 21, 22);
  if (((v >> 11n) & 3n) === 2n) v ^= 1n << 11n;
  return v;
}
/** satp: Bare with all other fields zero, or Sv39/48/57 with a random ASID and PPN. */
function satpValue(rng: Rng): bigint {
  if (rng.chance(1, 3)) return 0n;
  return (BigInt(rng.range(8, 10)) << 60n) | (rng.u64() & ((1n << 60n) - 1n));
}
/** xtvec: MODE Direct or Vectored (2 and 3 are reserved). */
function tvecValue(rng: Rng): bigint {
  return rng.u64() & ~2n;
}
/** pmpaddr: 54 bits, never 0. */
function pmpaddrValue(rng: Rng): bigint {
  const v = (rng.chance(1, 2) ? rng.u64() : rng.u64() & rng.u64() & rng.u64()) & M54;
  return v === 0n ? 1n : v;
}
/** pmpcfg: per entry, A/X/W/R with R=0 W=1 (reserved) avoided, L and bits 6:5 zero. */
function pmpcfgValue(rng: Rng): bigint {
  let v = 0n;
  for (let i = 0; i < 8; i++) {
    let b = rng.below(32);
    if ((b & 3) === 2) b &= ~2;
    v |= BigInt(b) << BigInt(8 * i);
  }
  return v;
}

export const FUZZ_CSRS: readonly FuzzCsr[] = [
  // --- unprivileged: F (fcsr is dumped with the FP registers) and the counters
  { addr: 0x001, name: 'fflags', write: 'free', dump: false },
  { addr: 0x002, name: 'frm', write: 'free', dump: false },
  { addr: 0x003, name: 'fcsr', write: 'free', dump: false },
  { addr: 0xc00, name: 'cycle', write: 'never', dump: false, timing: true },
  { addr: 0xc01, name: 'time', write: 'never', dump: false, timing: true },
  { addr: 0xc02, name: 'instret', write: 'never', dump: false, timing: true },
  { addr: 0xc03, name: 'hpmcounter3', write: 'never', dump: false, timing: true },
  // --- supervisor
  { addr: 0x100, name: 'sstatus', write: bits(1, 5, 8, 13, 14, 18, 19), dump: true, why: 'UXL (QEMU makes it writable) and VS (QEMU keeps it without V): see allowed.ts' },
  { addr: 0x104, name: 'sie', write: bits(1, 5, 9), dump: true, why: 'the S interrupt bits (QEMU keeps others: allowed.ts)' },
  { addr: 0x105, name: 'stvec', write: tvecValue, init: true, dump: true, why: 'MODE >= 2 is reserved (WARL): QEMU ignores the write' },
  { addr: 0x106, name: 'scounteren', write: M32, init: true, dump: true, why: 'a 32-bit register (QEMU keeps 64 bits)' },
  { addr: 0x10a, name: 'senvcfg', write: 0n, init: true, dump: true, why: 'FIOM/CBIE/CBCFE/CBZE: implemented by QEMU 7.2, read-only zero here' },
  { addr: 0x140, name: 'sscratch', write: 'free', init: true, dump: true },
  { addr: 0x141, name: 'sepc', write: ~1n & ((1n << 64n) - 1n), init: true, dump: true, why: 'bit 0 is always zero (QEMU 7.2 keeps it: allowed.ts)' },
  { addr: 0x142, name: 'scause', write: 'free', init: true, dump: true },
  { addr: 0x143, name: 'stval', write: 'free', init: true, dump: true },
  { addr: 0x144, name: 'sip', write: bits(1, 5, 9), dump: true },
  { addr: 0x180, name: 'satp', write: satpValue, init: true, dump: true, why: 'Bare with nonzero other fields is UNSPECIFIED' },
  // --- machine
  {
    addr: 0x300, name: 'mstatus', write: mstatusValue, dump: true,
    why: 'MIE, MPIE stay 0 (interrupts are taken only where mret arranges them) and MPRV stays 0 (it would translate the trap handler\'s own accesses); MPP never 2; VS, UXL, SXL, UBE/SBE/MBE, GVA: see allowed.ts',
  },
  { addr: 0x301, name: 'misa', write: 'same', dump: true, why: 'QEMU may let misa writes disable extensions' },
  { addr: 0x302, name: 'medeleg', write: 0xb3ffn, init: true, dump: true, why: 'the causes that can be delegated (QEMU also keeps 11 and the H causes)' },
  { addr: 0x303, name: 'mideleg', write: bits(1, 5, 9), init: true, dump: true },
  { addr: 0x304, name: 'mie', write: bits(1, 3, 5, 7, 9, 11), init: true, dump: true, why: 'QEMU keeps the H and LCOFI bits' },
  { addr: 0x305, name: 'mtvec', write: 'same', dump: true, why: 'the trap handler' },
  { addr: 0x306, name: 'mcounteren', write: M32, init: true, dump: true, why: 'a 32-bit register (QEMU keeps 64 bits)' },
  { addr: 0x30a, name: 'menvcfg', write: 0n, init: true, dump: true, why: 'STCE: with Sstc on, STIP would follow the time CSR; FIOM/CBIE/CBCFE/CBZE: implemented by QEMU 7.2, read-only zero here' },
  { addr: 0x340, name: 'mscratch', write: 'free', init: true, dump: true },
  { addr: 0x341, name: 'mepc', write: ~1n & ((1n << 64n) - 1n), init: true, dump: true, why: 'bit 0 is always zero (as sepc)' },
  { addr: 0x342, name: 'mcause', write: 'free', init: true, dump: true },
  { addr: 0x343, name: 'mtval', write: 'free', init: true, dump: true },
  { addr: 0x344, name: 'mip', write: bits(1, 5, 9), init: true, dump: true, why: 'QEMU keeps the H and LCOFI bits' },
  { addr: 0x3a0, name: 'pmpcfg0', write: pmpcfgValue, init: true, dump: true, why: 'L: a locked entry would bind M-mode and survive into the next program; bits 6:5 and R=0 W=1 are reserved (QEMU keeps them)' },
  { addr: 0x3a2, name: 'pmpcfg2', write: pmpcfgValue, init: true, dump: true, why: 'as pmpcfg0' },
  ...Array.from({ length: 16 }, (_, i): FuzzCsr => ({
    addr: 0x3b0 + i, name: `pmpaddr${i}`, write: pmpaddrValue, init: true, dump: true,
    why: 'bits 63:54 are zero (QEMU keeps them); never 0: a TOR entry with pmpaddr = 0 matches everything on QEMU 7.2 (allowed.ts pmp-tor-zero)',
  })),
  { addr: 0xb00, name: 'mcycle', write: 'free', dump: false, timing: true },
  { addr: 0xb02, name: 'minstret', write: 'never', dump: false, timing: true, why: 'the driver counts executed instructions with it' },
  { addr: 0xf11, name: 'mvendorid', write: 'never', dump: true },
  { addr: 0xf12, name: 'marchid', write: 'never', dump: true },
  { addr: 0xf13, name: 'mimpid', write: 'never', dump: true },
  { addr: 0xf14, name: 'mhartid', write: 'never', dump: true },
];

/** CSR numbers neither machine implements (custom ranges): every access is an illegal instruction. */
export const ABSENT_CSRS: readonly number[] = [0x5c0, 0x7c0, 0x8c0, 0xbc0, 0xcc0];

export const DUMP_CSRS = FUZZ_CSRS.filter((c) => c.dump);
export const INIT_CSRS = FUZZ_CSRS.filter((c) => c.init);

/** The runtime's CSR macros (test/guests/fuzz/fuzz-csrs.S). */
export function renderCsrAsm(): string {
  const lines = [
    '/* Generated from scripts/fuzz/csrs.ts by `npm run fuzz -- --write-asm`: do not edit. */',
    '',
    '/* INIT_CSRS base: write each initialised CSR from the program descriptor (t0 scratch). */',
    '.macro INIT_CSRS base',
    ...INIT_CSRS.flatMap((c, i) => [`\tld\tt0, DESC_CSR + ${i * 8}(\\base)`, `\tcsrw\t0x${c.addr.toString(16)}, t0\t/* ${c.name} */`]),
    '.endm',
    '',
    '/* DUMP_CSRS: store each dumped CSR at DUMP_CSR(gp) onwards (t0 scratch). */',
    '.macro DUMP_CSRS',
    ...DUMP_CSRS.flatMap((c, i) => [`\tcsrr\tt0, 0x${c.addr.toString(16)}\t/* ${c.name} */`, `\tsd\tt0, DUMP_CSR + ${i * 8}(gp)`]),
    '.endm',
    '',
    `#define N_INIT_CSRS ${INIT_CSRS.length}`,
    `#define N_DUMP_CSRS ${DUMP_CSRS.length}`,
    '',
  ];
  return lines.join('\n');
}
