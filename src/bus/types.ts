/**
 * Contracts between the board (src/), the devices (devices/) and the core glue.
 *
 * Values crossing the bus are JavaScript numbers holding unsigned 32-bit (or narrower) values.
 * A guest 8-byte access to a handler that implements at most 4 bytes is split by the bus into two
 * little-endian 4-byte handler calls (QEMU MemoryRegionOps .valid/.impl). No BigInt on the hot path.
 */

/** A guest access width in bytes. */
export type AccessSize = 1 | 2 | 4 | 8;
/** A width a handler implements. */
export type ImplSize = 1 | 2 | 4;

/** Result of a bus access, as returned to the core. */
export const enum BusStatus {
  Ok = 0,
  /** Unmapped address, a width the region refuses, or a misaligned MMIO access: the guest takes an access fault. */
  AccessFault = 1,
}

export interface AccessRange {
  /** Smallest and largest guest access width accepted (bytes). */
  min: AccessSize;
  max: AccessSize;
}

/** A memory-mapped region a device registers on the bus. Offsets are relative to `base`. */
export interface MmioRegion {
  /** Device name, used in overlap errors and in stats. */
  name: string;
  /** Guest-physical base address and size in bytes (both < 2^53). */
  base: number;
  size: number;
  /** Widths the guest may use; anything else is an access fault. */
  valid: AccessRange;
  /** Widths the handler implements; the bus splits wider accesses and widens narrower ones. */
  impl: { min: ImplSize; max: ImplSize };
  read(offset: number, size: ImplSize): number;
  write(offset: number, size: ImplSize, value: number): void;
}

/** A 16-bit I/O port range; guests reach it through the PIO window (virt: 0x0300_0000). */
export interface PortRegion {
  name: string;
  /** First port and number of ports, within 0..0xffff. */
  port: number;
  count: number;
  read(port: number, size: ImplSize): number;
  write(port: number, size: ImplSize, value: number): void;
}

/** A level-triggered interrupt line (device → PLIC source, or PLIC/CLINT → hart mip bit). */
export interface IrqLine {
  set(level: boolean): void;
}

/** mip bit numbers (Priv spec 1.12 §3.1.9). */
export const enum Irq {
  SSIP = 1,
  MSIP = 3,
  STIP = 5,
  MTIP = 7,
  SEIP = 9,
  MEIP = 11,
}

/** What devices see of a hart's interrupt-pending register. */
export interface HartIrqSink {
  /** Drive mip bit `bit` (one of Irq) to `level` for hart `hart`. */
  setPending(hart: number, bit: Irq, level: boolean): void;
}

/** The cycle clock devices read time from. */
export interface Clock {
  /** Current cycle count of the machine (exact at the moment of an MMIO access or an event). */
  now(): number;
  /** Core clock frequency in Hz (cycles per second). */
  readonly cpuHz: number;
}

/** A scheduled event: a named, reusable member object (gem5 EventFunctionWrapper). */
export interface SimEvent {
  readonly name: string;
  /** Ties at the same cycle fire in ascending priority, then in insertion order. */
  readonly priority: number;
  /** Cycle the event is scheduled for, or -1 when not scheduled. */
  readonly when: number;
  readonly scheduled: boolean;
}

export interface Scheduler {
  /** Create (but do not schedule) an event. `fire` is called with the cycle it was due at. */
  createEvent(name: string, fire: (due: number) => void, priority?: number): SimEvent;
  /** Schedule an unscheduled event at `atCycle` (error if already scheduled). */
  schedule(ev: SimEvent, atCycle: number): void;
  /** Deschedule if scheduled; no-op otherwise. */
  cancel(ev: SimEvent): void;
  /** Schedule or move an event to `atCycle`. */
  reschedule(ev: SimEvent, atCycle: number): void;
  /** Earliest pending deadline, or Infinity. */
  nextDeadline(): number;
}

/** Machine-level requests devices may make (test finisher, HTIF). */
export interface MachineControl {
  /** Stop the run with this exit code (0 = pass). */
  exit(code: number): void;
  /** Reset the machine (test finisher 0x7777). */
  reset(): void;
}

/** Guest-physical memory access for devices that do DMA or read guest buffers (HTIF syscalls, virtio). */
export interface GuestMemory {
  read(pa: number, len: number): Uint8Array;
  write(pa: number, data: Uint8Array): void;
  /**
   * Optional (a VM's memory under overcommit, issue 12): make sure host frames back the RAM in
   * [pa, pa+len) before a device uses it for DMA. false: none free now — the VM is paused for
   * memory and the device must leave the request for later (virtio: VirtQueue.pop defers it).
   */
  reserve?(pa: number, len: number): boolean;
}

/** Every device implements this for reset and snapshots (getState/setState round-trip exactly). */
export interface Device {
  readonly name: string;
  reset(): void;
  getState(): unknown;
  setState(state: unknown): void;
}
