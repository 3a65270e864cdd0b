/**
 * The host side of the core's trap trace ring (assembly/layout.ts TRACE_BASE, written by
 * assembly/trap.ts traceTrap when TR_ON is set): switch it on and off, and drain the records after
 * each run() (Core.runHook).
 */
import type { Core } from '../core.js';
import * as L from '../generated/layout.js';

export interface TrapRecord {
  /** The hart's clock after the trap entry (cycles). */
  cycles: number;
  cause: bigint;
  interrupt: boolean;
  /** Exception / interrupt code (cause without bit 63). */
  code: number;
  epc: bigint;
  tval: bigint;
  hart: number;
  /** Privilege before and after (0 U, 1 S, 3 M) and V before / after. */
  fromPriv: number;
  fromV: boolean;
  toPriv: number;
  toV: boolean;
  /** 0 = trap entry, 1 = to the host firmware (--bios builtin), 2 = VM exit (host VMM). */
  kind: number;
}

export class TrapRing {
  private read = 0;
  /** Records overwritten before the host drained them (more than TRACE_CAP traps in one run()). */
  lost = 0;

  constructor(private readonly core: Core) {}

  /** Start (or stop) recording; starting empties the ring. */
  enable(on: boolean): void {
    const dv = new DataView(this.core.ex.memory.buffer);
    if (on) {
      dv.setBigUint64(L.TR_HEAD, 0n, true);
      this.read = 0;
    }
    dv.setUint32(L.TR_ON, on ? 1 : 0, true);
  }

  /** Hand every record written since the last drain to `fn`, oldest first. */
  drain(fn: (r: TrapRecord) => void): void {
    const dv = new DataView(this.core.ex.memory.buffer);
    const head = Number(dv.getBigUint64(L.TR_HEAD, true));
    if (head === this.read) return;
    let from = this.read;
    if (head - from > L.TRACE_CAP) {
      this.lost += head - from - L.TRACE_CAP;
      from = head - L.TRACE_CAP;
    }
    for (let i = from; i < head; i++) {
      const a = L.TRACE_RING + (i % L.TRACE_CAP) * L.TRACE_REC;
      const cause = dv.getBigUint64(a + 8, true);
      const info = dv.getUint32(a + 32, true);
      const from8 = (info >>> 8) & 0xff;
      const to8 = (info >>> 16) & 0xff;
      fn({
        cycles: Number(dv.getBigUint64(a, true)),
        cause,
        interrupt: cause >> 63n === 1n,
        code: Number(cause & 0xffffn),
        epc: dv.getBigUint64(a + 16, true),
        tval: dv.getBigUint64(a + 24, true),
        hart: info & 0xff,
        fromPriv: from8 & 3,
        fromV: (from8 & 4) !== 0,
        toPriv: to8 & 3,
        toV: (to8 & 4) !== 0,
        kind: info >>> 24,
      });
    }
    this.read = head;
  }
}

const EXCEPTIONS: Record<number, string> = {
  0: 'instruction address misaligned',
  1: 'instruction access fault',
  2: 'illegal instruction',
  3: 'breakpoint',
  4: 'load address misaligned',
  5: 'load access fault',
  6: 'store address misaligned',
  7: 'store access fault',
  8: 'ecall from U',
  9: 'ecall from S',
  10: 'ecall from VS',
  11: 'ecall from M',
  12: 'instruction page fault',
  13: 'load page fault',
  15: 'store page fault',
  20: 'instruction guest-page fault',
  21: 'load guest-page fault',
  22: 'virtual instruction',
  23: 'store guest-page fault',
};

const INTERRUPTS: Record<number, string> = {
  1: 'S software interrupt',
  2: 'VS software interrupt',
  3: 'M software interrupt',
  5: 'S timer interrupt',
  6: 'VS timer interrupt',
  7: 'M timer interrupt',
  9: 'S external interrupt',
  10: 'VS external interrupt',
  11: 'M external interrupt',
  12: 'S guest external interrupt',
};

/** Priv spec table 3.6 (and the H extension's causes) by name. */
export function causeName(interrupt: boolean, code: number): string {
  return (interrupt ? INTERRUPTS[code] : EXCEPTIONS[code]) ?? `${interrupt ? 'interrupt' : 'exception'} ${code}`;
}

/** A mode as the traces show it: M, S, U, VS, VU. */
export function modeName(priv: number, v: boolean): string {
  const p = priv === 3 ? 'M' : priv === 1 ? 'S' : priv === 0 ? 'U' : '?';
  return v ? `V${p}` : p;
}
