/**
 * Memory layout shared by the fuzz runtime (test/guests/fuzz/fuzz-rt.S) and the driver. Changing a
 * value here means changing the same #define in fuzz-rt.S (test/fuzz.test.ts checks they agree).
 *
 *   0x8000_0000  runtime .text (0x8000_0000: j start, 0x8000_0004: j dump)
 *   G - 0x2000   trap log: LOG_MAX entries of (mcause, mepc - CODE, mtval), 24 bytes each
 *   G - 0x800    dump area: x0..x31, f0..f31, fcsr, the dumped CSRs (csrs.ts order)
 *   G - 0x100    trap handler and runtime variables
 *   G            DATA: the region generated programs load from and store to (DATA_SIZE bytes),
 *                initialised from the program's image before each program, hashed after it
 *   CODE         the program body, copied here before each program (then fence.i)
 *   IN           the input segment the driver appends to the runtime ELF (programs)
 * gp (x3) holds G throughout; generated code never writes x3.
 */
export const RT_BASE = 0x8000_0000;
export const RT_DUMP_ENTRY = 0x8000_0004;
export const G = 0x8003_0000;
export const DATA = G;
export const DATA_SIZE = 0x4000;
export const CODE = 0x8004_0000;
export const CODE_MAX = 0x10000;
export const IN = 0x8100_0000;
export const IN_MAX = 0x0100_0000;
export const LOG_MAX = 200;
export const TRAP_MAX = 1000;
/** ".FUZZIN1" little endian. */
export const MAGIC = 0x314e495a5a55462en;
/** Header flag: also print the whole DATA region after each program. */
export const FLAG_DUMP_DATA = 1n;
/** Words of program state before the CSR values: x0..x31, f0..f31, fcsr. */
export const GPR_WORDS = 32;
