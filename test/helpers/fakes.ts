/**
 * Test doubles for the board contracts (src/bus/types.ts): a bus that only captures regions, a
 * settable clock, recording IRQ sinks, flat guest memory and a machine control that records.
 */
import type {
  Clock,
  GuestMemory,
  HartIrqSink,
  ImplSize,
  IrqLine,
  MachineControl,
  MmioRegion,
} from '../../src/bus/types.js';

/** Captures regions; tests call region.read/write directly (no width adaptation). */
export class FakeBus {
  regions: MmioRegion[] = [];
  addMmio(r: MmioRegion): void {
    this.regions.push(r);
  }
  region(name?: string): MmioRegion {
    const r = name === undefined ? this.regions[0] : this.regions.find((x) => x.name === name);
    if (!r) throw new Error(`no region ${name}`);
    return r;
  }
  read(offset: number, size: ImplSize = 4, name?: string): number {
    return this.region(name).read(offset, size);
  }
  write(offset: number, value: number, size: ImplSize = 4, name?: string): void {
    this.region(name).write(offset, size, value);
  }
}

/** A clock whose cycle count the test sets. */
export class FakeClock implements Clock {
  cycles = 0;
  constructor(readonly cpuHz = 100_000_000) {}
  now(): number {
    return this.cycles;
  }
}

/** Records every level change of one line. */
export class FakeIrqLine implements IrqLine {
  level = false;
  changes: boolean[] = [];
  set(level: boolean): void {
    this.level = level;
    this.changes.push(level);
  }
}

export interface PendingCall {
  hart: number;
  bit: number;
  level: boolean;
}

/** Records setPending calls and keeps a mip value per hart. */
export class FakeHartIrq implements HartIrqSink {
  calls: PendingCall[] = [];
  mip: number[] = [];
  setPending(hart: number, bit: number, level: boolean): void {
    this.calls.push({ hart, bit, level });
    const m = this.mip[hart] ?? 0;
    this.mip[hart] = level ? m | (1 << bit) : m & ~(1 << bit);
  }
  pending(hart: number, bit: number): boolean {
    return (((this.mip[hart] ?? 0) >>> bit) & 1) === 1;
  }
}

/** Flat guest RAM at `base`; out-of-range accesses throw like a real bounds check would. */
export class FakeMemory implements GuestMemory {
  readonly bytes: Uint8Array;
  constructor(
    readonly base: number,
    size: number,
  ) {
    this.bytes = new Uint8Array(size);
  }
  private check(pa: number, len: number): number {
    const off = pa - this.base;
    if (!(off >= 0 && len >= 0 && off + len <= this.bytes.length)) throw new RangeError(`bad guest range ${pa}+${len}`);
    return off;
  }
  read(pa: number, len: number): Uint8Array {
    const off = this.check(pa, len);
    return this.bytes.slice(off, off + len);
  }
  write(pa: number, data: Uint8Array): void {
    this.bytes.set(data, this.check(pa, data.length));
  }
  setU64(pa: number, v: bigint): void {
    new DataView(this.bytes.buffer).setBigUint64(this.check(pa, 8), BigInt.asUintN(64, v), true);
  }
  getU64(pa: number): bigint {
    return new DataView(this.bytes.buffer).getBigUint64(this.check(pa, 8), true);
  }
}

export class FakeControl implements MachineControl {
  exits: number[] = [];
  resets = 0;
  exit(code: number): void {
    this.exits.push(code);
  }
  reset(): void {
    this.resets++;
  }
}

/** A JSON round trip, as a snapshot file would do. */
export function viaJson<T>(state: T): unknown {
  return JSON.parse(JSON.stringify(state));
}
