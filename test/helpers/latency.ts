import { TIMING_CLASS_COUNT, TIMING_CLASS_ID } from '../../src/isa/classes.js';
/** Simple distinct latencies for core tests (1 per instruction, visible extras for taken/trap). */
export function latencyArrayDefault(): number[] {
  const a = new Array<number>(TIMING_CLASS_COUNT).fill(1);
  a[TIMING_CLASS_ID.branchTaken] = 3;
  a[TIMING_CLASS_ID.trap] = 5;
  return a;
}
