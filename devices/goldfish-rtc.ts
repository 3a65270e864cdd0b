/**
 * Google goldfish RTC as on QEMU virt (base 0x0010_1000, size 0x1000, PLIC irq 11; QEMU
 * hw/rtc/goldfish_rtc.c, Linux drivers/rtc/rtc-goldfish.c). Time is nanoseconds since the Unix
 * epoch, 64 bits, read and written as 32-bit halves:
 *
 *   0x00 TIME_LOW         R: low word of now, latches the high word into TIME_HIGH
 *                         W: replace the low word of now (moves the offset)
 *   0x04 TIME_HIGH        R: the latched high word   W: replace the high word of now
 *   0x08 ALARM_LOW        W: low word of the alarm, and arms it   R: low word of the alarm
 *   0x0c ALARM_HIGH       W: high word of the alarm (does not arm) R: high word of the alarm
 *   0x10 IRQ_ENABLED      bit 0 gates the interrupt output
 *   0x14 CLEAR_ALARM      W: disarm the alarm
 *   0x18 ALARM_STATUS     R: 1 while an alarm is armed and has not fired
 *   0x1c CLEAR_INTERRUPT  W: drop the pending interrupt
 *
 * Guest time is deterministic: now = epochNs + offset + floor(cycle · 1e9 / cpuHz), where epochNs
 * is the guest-visible power-on time (constructor option; default 2024-01-01T00:00:00Z so runs are
 * reproducible, the CLI may pass the host time) and `offset` is what guest writes to TIME added.
 * An armed alarm is one scheduler event at the first cycle whose time is >= the alarm; when it
 * fires the alarm disarms and the interrupt becomes pending; the line is pending && enabled.
 * An alarm at or before now fires at once (QEMU goldfish_rtc_set_alarm).
 *
 * Differences from QEMU, both towards the documented behaviour: QEMU compares a new alarm with the
 * host clock without the guest's time offset, and does not move an armed alarm when the guest
 * sets the time; here both use guest time, so a time write reschedules an armed alarm.
 * Machine reset keeps the time (it is a battery-backed clock) and clears alarm and interrupt
 * state, as QEMU goldfish_rtc_reset. BigInt throughout: none of this is on the hot path.
 */
import type { Clock, Device, IrqLine, MmioRegion, Scheduler, SimEvent } from '../src/bus/types.js';

const TIME_LOW = 0x00;
const TIME_HIGH = 0x04;
const ALARM_LOW = 0x08;
const ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10;
const CLEAR_ALARM = 0x14;
const ALARM_STATUS = 0x18;
const CLEAR_INTERRUPT = 0x1c;

/** 2024-01-01T00:00:00Z in ns. */
export const DEFAULT_RTC_EPOCH_NS = 1_704_067_200_000_000_000n;
const NS_PER_S = 1_000_000_000n;
const LO32 = 0xffff_ffffn;

export interface GoldfishRtcOptions {
  bus: { addMmio(r: MmioRegion): void };
  base: number;
  irq: IrqLine;
  clock: Clock;
  scheduler: Scheduler;
  /** Guest-visible time at cycle 0, ns since the Unix epoch (default 2024-01-01T00:00:00Z). */
  epochNs?: bigint | number;
  name?: string;
}

export interface GoldfishRtcState {
  /** Decimal strings (signed offset, unsigned 64-bit alarm). */
  offset: string;
  alarm: string;
  timeHigh: number;
  irqEnabled: boolean;
  irqPending: boolean;
  alarmRunning: boolean;
  /** Cycle the alarm event is scheduled for, or -1. */
  alarmAt: number;
  irqLevel: boolean;
  alarms: number;
}

export class GoldfishRtc implements Device {
  readonly name: string;
  readonly epochNs: bigint;
  /** Alarms that fired. */
  alarms = 0;

  private readonly irq: IrqLine;
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly hz: bigint;
  private readonly alarmEvent: SimEvent;
  /** ns added by guest time writes (may be negative). */
  private offset = 0n;
  private alarm = 0n;
  private timeHigh = 0;
  private irqEnabled = false;
  private irqPending = false;
  private alarmRunning = false;
  private irqLevel = false;

  constructor(opts: GoldfishRtcOptions) {
    this.name = opts.name ?? 'rtc';
    this.irq = opts.irq;
    this.clock = opts.clock;
    this.scheduler = opts.scheduler;
    this.epochNs = BigInt(opts.epochNs ?? DEFAULT_RTC_EPOCH_NS);
    const hz = opts.clock.cpuHz;
    if (!Number.isSafeInteger(hz) || hz <= 0) throw new Error(`${this.name}: cpuHz must be a positive integer`);
    this.hz = BigInt(hz);
    this.alarmEvent = this.scheduler.createEvent(`${this.name}.alarm`, (due) => this.onAlarm(due));
    this.reset();
    opts.bus.addMmio({
      name: this.name,
      base: opts.base,
      size: 0x1000,
      // QEMU goldfish_rtc_ops: 4-byte accesses only.
      valid: { min: 4, max: 4 },
      impl: { min: 4, max: 4 },
      read: (offset) => this.readReg(offset),
      write: (offset, _size, value) => this.writeReg(offset, value >>> 0),
    });
  }

  /** QEMU goldfish_rtc_reset: disarm, no interrupt; the time keeps running. */
  reset(): void {
    this.scheduler.cancel(this.alarmEvent);
    this.alarm = 0n;
    this.alarmRunning = false;
    this.irqPending = false;
    this.irqEnabled = false;
    this.timeHigh = 0;
    this.update();
  }

  /** Guest time in ns at `cycle` (default now), modulo 2^64. */
  timeNs(cycle = this.clock.now()): bigint {
    return BigInt.asUintN(64, this.base() + this.elapsedNs(cycle));
  }

  /** epochNs + offset: guest time at cycle 0. */
  private base(): bigint {
    return this.epochNs + this.offset;
  }

  private elapsedNs(cycle: number): bigint {
    return (BigInt(cycle) * NS_PER_S) / this.hz;
  }

  // ---------------------------------------------------------------- registers

  private readReg(off: number): number {
    switch (off) {
      case TIME_LOW: {
        const t = this.timeNs();
        this.timeHigh = Number(t >> 32n);
        return Number(t & LO32);
      }
      case TIME_HIGH:
        return this.timeHigh;
      case ALARM_LOW:
        return Number(this.alarm & LO32);
      case ALARM_HIGH:
        return Number(this.alarm >> 32n);
      case IRQ_ENABLED:
        return this.irqEnabled ? 1 : 0;
      case ALARM_STATUS:
        return this.alarmRunning ? 1 : 0;
      default:
        return 0;
    }
  }

  private writeReg(off: number, v: number): void {
    const w = BigInt(v);
    switch (off) {
      case TIME_LOW:
      case TIME_HIGH: {
        // QEMU: new time = deposit64(now, 0 or 32, 32, value); offset follows.
        const now = this.clock.now();
        const t = this.timeNs(now);
        const next = off === TIME_LOW ? (t & ~LO32) | w : (t & LO32) | (w << 32n);
        this.offset = next - this.epochNs - this.elapsedNs(now);
        if (this.alarmRunning) this.arm();
        return;
      }
      case ALARM_LOW:
        this.alarm = (this.alarm & ~LO32) | w;
        this.arm();
        return;
      case ALARM_HIGH:
        this.alarm = (this.alarm & LO32) | (w << 32n);
        return;
      case IRQ_ENABLED:
        this.irqEnabled = (v & 1) === 1;
        this.update();
        return;
      case CLEAR_ALARM:
        this.scheduler.cancel(this.alarmEvent);
        this.alarmRunning = false;
        return;
      case CLEAR_INTERRUPT:
        this.irqPending = false;
        this.update();
        return;
      default:
      // Read-only or unassigned: ignored (QEMU logs a guest error).
    }
  }

  // ---------------------------------------------------------------- alarm

  /**
   * Schedule the alarm at the first cycle c with base + floor(c·1e9/hz) >= alarm, that is
   * c = ceil((alarm − base)·hz / 1e9); fire at once if that is not after now.
   */
  private arm(): void {
    const now = this.clock.now();
    const delta = this.alarm - this.base();
    if (delta <= this.elapsedNs(now)) {
      this.scheduler.cancel(this.alarmEvent);
      this.fire();
      return;
    }
    const cycle = (delta * this.hz + NS_PER_S - 1n) / NS_PER_S;
    this.alarmRunning = true;
    // Beyond 2^53 cycles (centuries at any clock rate) the alarm stays armed but never fires.
    if (cycle > BigInt(Number.MAX_SAFE_INTEGER)) this.scheduler.cancel(this.alarmEvent);
    else this.scheduler.reschedule(this.alarmEvent, Number(cycle));
  }

  private onAlarm(due: number): void {
    if (!this.alarmRunning) return;
    // Guard: the time only moves through writes, which re-arm; still, never fire early.
    if (this.alarm - this.base() > this.elapsedNs(due)) {
      this.arm();
      return;
    }
    this.fire();
  }

  /** QEMU goldfish_rtc_raise_alarm. */
  private fire(): void {
    this.alarmRunning = false;
    this.irqPending = true;
    this.alarms++;
    this.update();
  }

  private update(): void {
    const level = this.irqPending && this.irqEnabled;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  // ---------------------------------------------------------------- snapshots

  getState(): GoldfishRtcState {
    return {
      offset: this.offset.toString(),
      alarm: this.alarm.toString(),
      timeHigh: this.timeHigh,
      irqEnabled: this.irqEnabled,
      irqPending: this.irqPending,
      alarmRunning: this.alarmRunning,
      alarmAt: this.alarmEvent.scheduled ? this.alarmEvent.when : -1,
      irqLevel: this.irqLevel,
      alarms: this.alarms,
    };
  }

  setState(state: unknown): void {
    const s = state as GoldfishRtcState;
    this.offset = BigInt(s.offset);
    this.alarm = BigInt(s.alarm);
    this.timeHigh = s.timeHigh;
    this.irqEnabled = s.irqEnabled;
    this.irqPending = s.irqPending;
    this.alarmRunning = s.alarmRunning;
    this.alarms = s.alarms;
    this.scheduler.cancel(this.alarmEvent);
    if (s.alarmAt >= 0) this.scheduler.schedule(this.alarmEvent, s.alarmAt);
    this.irqLevel = s.irqLevel;
    this.irq.set(this.irqLevel);
  }
}
