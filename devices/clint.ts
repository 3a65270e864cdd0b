/**
 * SiFive CLINT (= RISC-V ACLINT MSWI + MTIMER at their CLINT-compatible offsets), as on QEMU virt
 * at 0x0200_0000, size 0x10000:
 *
 *   0x0000 + 4*h   msip[h]      bit 0 drives mip.MSIP of hart h (ACLINT spec §3.2: other bits 0)
 *   0x4000 + 8*h   mtimecmp[h]  64-bit; MTIP = (mtime >= mtimecmp), unsigned (Priv spec §3.2.1)
 *   0xBFF8         mtime        64-bit, shared by all harts
 *
 * mtime is not stored: it is floor(cycle / cyclesPerTick) + offset (mod 2^64), where a guest write
 * to mtime only moves `offset`. Time is events, not ticks (GUIDE §7): each hart has one reusable
 * event scheduled at the first cycle where mtime >= mtimecmp (QEMU riscv_aclint.c
 * riscv_aclint_mtimer_write_timecmp + timer_mod). Nothing polls.
 *
 * The bus splits 8-byte accesses into two 4-byte handler calls (low word first). A 64-bit mtimecmp
 * write therefore passes through one intermediate value; MTIP may glitch for that instant, which
 * the hart cannot observe since both halves land within one store.
 *
 * BigInt is used freely: MMIO to the CLINT is not on the per-instruction path.
 */
import { Irq } from '../src/bus/types.js';
import type { Clock, Device, HartIrqSink, MmioRegion, Scheduler, SimEvent } from '../src/bus/types.js';

const MSIP_BASE = 0x0000;
const MTIMECMP_BASE = 0x4000;
const MTIME = 0xbff8;
/** ACLINT: at most 4095 harts per MSWI/MTIMER device. */
const MAX_HARTS = 4095;

const U64 = (1n << 64n) - 1n;
const LO32 = 0xffff_ffffn;

export interface ClintOptions {
  bus: { addMmio(r: MmioRegion): void };
  base: number;
  harts: number;
  clock: Clock;
  scheduler: Scheduler;
  irq: HartIrqSink;
  /** mtime frequency (DT timebase-frequency). QEMU virt: 10 MHz. */
  timebaseHz?: number;
  name?: string;
}

export interface ClintState {
  msip: number[];
  /** Decimal strings (64-bit). */
  mtimecmp: string[];
  offset: string;
  mtip: boolean[];
  timerInterrupts: number;
  msipWrites: number;
}

export class Clint implements Device {
  readonly name: string;
  readonly harts: number;
  /** CPU cycles per mtime tick (cpuHz / timebaseHz, an integer). */
  readonly cyclesPerTick: number;
  /** Called when a guest write (or reset) moves mtime's offset; the core's `time` CSR follows it. */
  onTimeChange?: () => void;
  /** MTIP rising edges. */
  timerInterrupts = 0;
  msipWrites = 0;

  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly irq: HartIrqSink;
  private readonly cpt: bigint;
  /** mtime = (floor(cycle / cyclesPerTick) + offset) mod 2^64; kept in [0, 2^64). */
  private offset = 0n;
  private msip: number[];
  private mtimecmp: bigint[];
  private mtip: boolean[];
  private events: SimEvent[];

  constructor(opts: ClintOptions) {
    this.name = opts.name ?? 'clint';
    const harts = opts.harts;
    if (!Number.isInteger(harts) || harts < 1 || harts > MAX_HARTS) {
      throw new Error(`${this.name}: harts must be an integer in 1..${MAX_HARTS}, got ${harts}`);
    }
    const timebaseHz = opts.timebaseHz ?? 10_000_000;
    const cpt = opts.clock.cpuHz / timebaseHz;
    if (!(timebaseHz > 0) || !Number.isSafeInteger(cpt) || cpt < 1) {
      throw new Error(
        `${this.name}: cpuHz (${opts.clock.cpuHz}) must be a positive integer multiple of timebaseHz (${timebaseHz})`,
      );
    }
    this.harts = harts;
    this.cyclesPerTick = cpt;
    this.cpt = BigInt(cpt);
    this.clock = opts.clock;
    this.scheduler = opts.scheduler;
    this.irq = opts.irq;
    this.msip = new Array<number>(harts).fill(0);
    this.mtimecmp = new Array<bigint>(harts).fill(U64);
    this.mtip = new Array<boolean>(harts).fill(false);
    this.events = [];
    for (let h = 0; h < harts; h++) {
      // When it fires, re-check at the due cycle: normally sets MTIP; if mtime or mtimecmp moved
      // meanwhile the writer already rescheduled, so this is only a guard.
      this.events.push(
        this.scheduler.createEvent(`clint.mtimecmp[${h}]`, (due) => this.evaluate(h, Math.max(due, this.clock.now()))),
      );
    }
    this.reset();
    opts.bus.addMmio({
      name: this.name,
      base: opts.base,
      size: 0x10000,
      valid: { min: 4, max: 8 },
      impl: { min: 4, max: 4 },
      read: (offset) => this.readReg(offset),
      write: (offset, _size, value) => this.writeReg(offset, value >>> 0),
    });
  }

  /** ACLINT spec: reset clears mtime; QEMU leaves mtimecmp at all ones; msip clears. */
  reset(): void {
    for (let h = 0; h < this.harts; h++) {
      this.mtimecmp[h] = U64;
      this.setMsip(h, 0);
    }
    this.setMtime(0n);
  }

  /** Current mtime. */
  mtime(): bigint {
    return this.mtimeAt(this.clock.now());
  }

  /** The offset added to floor(cycle / cyclesPerTick) to give mtime (mod 2^64). */
  offsetTicks(): bigint {
    return this.offset;
  }

  mtimecmpOf(hart: number): bigint {
    return this.mtimecmp[hart];
  }

  private mtimeAt(cycle: number): bigint {
    return BigInt.asUintN(64, BigInt(Math.floor(cycle / this.cyclesPerTick)) + this.offset);
  }

  // ---------------------------------------------------------------- registers (4-byte units)

  private readReg(off: number): number {
    if (off < MTIMECMP_BASE) {
      const h = (off - MSIP_BASE) >>> 2;
      return h < this.harts ? this.msip[h] : 0;
    }
    if (off < MTIME) {
      const h = (off - MTIMECMP_BASE) >>> 3;
      return h < this.harts ? word(this.mtimecmp[h], off) : 0;
    }
    if (off < MTIME + 8) return word(this.mtime(), off);
    return 0;
  }

  private writeReg(off: number, value: number): void {
    if (off < MTIMECMP_BASE) {
      const h = (off - MSIP_BASE) >>> 2;
      if (h < this.harts) {
        this.msipWrites++;
        this.setMsip(h, value & 1);
      }
      return;
    }
    if (off < MTIME) {
      const h = (off - MTIMECMP_BASE) >>> 3;
      if (h < this.harts) {
        this.mtimecmp[h] = withWord(this.mtimecmp[h], off, value);
        this.evaluate(h, this.clock.now());
      }
      return;
    }
    if (off < MTIME + 8) this.setMtime(withWord(this.mtime(), off, value));
  }

  private setMsip(h: number, bit: number): void {
    if (this.msip[h] === bit) return;
    this.msip[h] = bit;
    this.irq.setPending(h, Irq.MSIP, bit !== 0);
  }

  /** Make mtime read `value` now, then re-evaluate every hart's comparator. */
  private setMtime(value: bigint): void {
    const now = this.clock.now();
    this.offset = BigInt.asUintN(64, value - BigInt(Math.floor(now / this.cyclesPerTick)));
    for (let h = 0; h < this.harts; h++) this.evaluate(h, now);
    this.onTimeChange?.();
  }

  /**
   * Priv spec §3.2.1: MTIP is pending while mtime >= mtimecmp (unsigned). If not yet, schedule
   * the hart's event at the first cycle c with floor(c / cpt) + offset >= mtimecmp, that is
   * c = (ticksNow + (mtimecmp - mtimeNow)) * cpt. mtime grows monotonically and reaches mtimecmp
   * before it could wrap, so no modular care is needed beyond the subtraction. Deadlines beyond
   * 2^53 cycles (over 100 days at 1 GHz) are left unscheduled.
   */
  private evaluate(h: number, cycle: number): void {
    const ticks = BigInt(Math.floor(cycle / this.cyclesPerTick));
    const mt = BigInt.asUintN(64, ticks + this.offset);
    const cmp = this.mtimecmp[h];
    const ev = this.events[h];
    if (mt >= cmp) {
      this.scheduler.cancel(ev);
      this.setMtip(h, true);
      return;
    }
    this.setMtip(h, false);
    const at = (ticks + (cmp - mt)) * this.cpt;
    if (at > BigInt(Number.MAX_SAFE_INTEGER)) this.scheduler.cancel(ev);
    else this.scheduler.reschedule(ev, Number(at));
  }

  private setMtip(h: number, level: boolean): void {
    if (this.mtip[h] === level) return;
    this.mtip[h] = level;
    if (level) this.timerInterrupts++;
    this.irq.setPending(h, Irq.MTIP, level);
  }

  // ---------------------------------------------------------------- snapshots

  getState(): ClintState {
    return {
      msip: this.msip.slice(),
      mtimecmp: this.mtimecmp.map((v) => v.toString()),
      offset: this.offset.toString(),
      mtip: this.mtip.slice(),
      timerInterrupts: this.timerInterrupts,
      msipWrites: this.msipWrites,
    };
  }

  /**
   * Restore registers, re-drive MSIP/MTIP once so the hart's mip matches, then re-derive each
   * comparator's event from the clock (events themselves are not part of the state).
   */
  setState(state: unknown): void {
    const s = state as ClintState;
    if (s.msip.length !== this.harts) throw new Error(`${this.name}: state is for ${s.msip.length} harts, not ${this.harts}`);
    this.offset = BigInt(s.offset);
    for (let h = 0; h < this.harts; h++) {
      this.msip[h] = s.msip[h];
      this.mtimecmp[h] = BigInt(s.mtimecmp[h]);
      this.mtip[h] = s.mtip[h];
      this.irq.setPending(h, Irq.MSIP, this.msip[h] !== 0);
      this.irq.setPending(h, Irq.MTIP, this.mtip[h]);
    }
    this.timerInterrupts = s.timerInterrupts;
    this.msipWrites = s.msipWrites;
    const now = this.clock.now();
    for (let h = 0; h < this.harts; h++) this.evaluate(h, now);
    this.onTimeChange?.();
  }
}

/** The 32-bit half of `v` selected by bit 2 of the register offset. */
function word(v: bigint, off: number): number {
  return Number(off & 4 ? (v >> 32n) & LO32 : v & LO32);
}

function withWord(v: bigint, off: number, w: number): bigint {
  return off & 4 ? (v & LO32) | (BigInt(w) << 32n) : (v & ~LO32 & U64) | BigInt(w);
}
