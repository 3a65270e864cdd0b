/**
 * core.wasm exports. The host (src/core.ts) owns the run loop's outer cycle: it sets the deadline
 * and instruction limit in the control block (layout.ts CTL_BASE), calls run(), fires the events
 * that are due, and calls run() again.
 */
import {
  H_X, H_PC, H_PRIV, H_MSTATUS, H_MISA, H_MTVEC, H_RESV, H_TIME_DIV, HART_BASE, HART_SIZE, C_RAM_SIZE,
  C_DEADLINE, C_INSN_LIMIT, RAM_OFFSET, RAM_GPA, RAM_MAX, LAT_BASE, CLS_BASE, CLS_SIZE, WATCH_BASE,
  WATCH_MAX, C_WATCH_COUNT, CTL_BASE, CTL_SIZE, S_LAT,
} from './layout';
import { PRV_M, MSTATUS_MPP } from './hart';
import { MISA_RV64IMAC } from './csr';
import { tlbFlushAll } from './mmu';
import { invalidateAllFrames, invalidatePhys as invPhys } from './frames';
import { clearException } from './trap';

export { run } from './run';

/** Grow memory for `ramBytes` of guest RAM (a multiple of 4 KiB, at most 2 GiB). 0 = ok. */
export function init(ramBytes: u32): u32 {
  if (ramBytes == 0 || (ramBytes & 0xfff) != 0 || <u64>ramBytes > <u64>RAM_MAX) return 1;
  const need = (<u64>RAM_OFFSET + <u64>ramBytes + 0xffff) >> 16;
  const have = <u64>memory.size();
  if (need > have && memory.grow(<i32>(need - have)) < 0) return 2;
  store<u64>(C_RAM_SIZE, <u64>ramBytes);
  reset();
  return 0;
}

/** Architectural reset (Priv 1.12 §3.4): M-mode, MIE = 0, mtvec = 0 (the host sets pc). RAM is kept. */
export function reset(): void {
  memory.fill(HART_BASE, 0, HART_SIZE);
  const ram = load<u64>(C_RAM_SIZE);
  memory.fill(CTL_BASE, 0, CTL_SIZE);
  store<u64>(C_RAM_SIZE, ram);
  memory.fill(CLS_BASE, 0, CLS_SIZE);
  store<u64>(H_PRIV, PRV_M);
  store<u64>(H_MISA, MISA_RV64IMAC);
  store<u64>(H_MSTATUS, MSTATUS_MPP);
  store<u64>(H_MTVEC, 0);
  store<u64>(H_RESV, <u64>-1);
  store<u64>(H_TIME_DIV, 100);
  store<u64>(H_PC, RAM_GPA);
  store<u64>(C_DEADLINE, <u64>-1);
  store<u64>(C_INSN_LIMIT, <u64>-1);
  clearException();
  tlbFlushAll();
  invalidateAllFrames();
}

/** Set the cycle cost of timing class `cls`; drops decoded frames (they cache the cost). */
export function setLatency(cls: u32, cycles: u32): void {
  if (cls >= 32) return;
  store<u8>(LAT_BASE + cls, <u8>min<u32>(cycles, 255));
  invalidateAllFrames();
}

/** Route guest-physical [base, end) to the MMIO import even though it lies in RAM. 0 = ok. */
export function addWatch(base: u64, end: u64): u32 {
  const n = load<u32>(C_WATCH_COUNT);
  if (n >= WATCH_MAX || end <= base) return 1;
  store<u64>(WATCH_BASE + n * 16, base);
  store<u64>(WATCH_BASE + n * 16 + 8, end);
  store<u32>(C_WATCH_COUNT, n + 1);
  tlbFlushAll();
  return 0;
}

/** The host wrote guest RAM [pa, pa+len) (loader, DMA): forget decoded code there. */
export function invalidatePhys(pa: u64, len: u64): void {
  invPhys(pa, len);
}

/** The host changed mip/mie/mstatus or the privilege: nothing cached depends on them today. */
export function flushTlb(): void {
  tlbFlushAll();
}
