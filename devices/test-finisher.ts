/**
 * SiFive test finisher ("sifive,test0"; QEMU hw/misc/sifive_test.c), on QEMU virt at 0x10_0000,
 * size 0x1000. A write to offset 0 ends or resets the machine; the low 16 bits select the action
 * and, for FAIL, the high 16 bits are the exit code:
 *
 *   0x5555  FINISHER_PASS   exit(0)
 *   0x3333  FINISHER_FAIL   exit(value >>> 16)
 *   0x7777  FINISHER_RESET  reset
 *
 * Anything else is ignored (QEMU 7.2 only logs it as a guest error). Reads return 0.
 * QEMU accepts 2- and 4-byte accesses; a 2-byte write can only PASS, FAIL with code 0, or RESET.
 */
import type { Device, MachineControl, MmioRegion } from '../src/bus/types.js';

export const FINISHER_FAIL = 0x3333;
export const FINISHER_PASS = 0x5555;
export const FINISHER_RESET = 0x7777;

export interface TestFinisherOptions {
  bus: { addMmio(r: MmioRegion): void };
  base: number;
  control: MachineControl;
  name?: string;
}

export interface TestFinisherState {
  passes: number;
  fails: number;
  resets: number;
  ignored: number;
}

export class TestFinisher implements Device {
  readonly name: string;
  passes = 0;
  fails = 0;
  resets = 0;
  /** Writes that matched no command (wrong offset or unknown status). */
  ignored = 0;

  private readonly control: MachineControl;

  constructor(opts: TestFinisherOptions) {
    this.name = opts.name ?? 'test';
    this.control = opts.control;
    opts.bus.addMmio({
      name: this.name,
      base: opts.base,
      size: 0x1000,
      valid: { min: 2, max: 4 },
      impl: { min: 2, max: 4 },
      read: () => 0,
      write: (offset, _size, value) => this.write(offset, value >>> 0),
    });
  }

  private write(offset: number, value: number): void {
    if (offset !== 0) {
      this.ignored++;
      return;
    }
    switch (value & 0xffff) {
      case FINISHER_PASS:
        this.passes++;
        this.control.exit(0);
        return;
      case FINISHER_FAIL:
        this.fails++;
        this.control.exit(value >>> 16);
        return;
      case FINISHER_RESET:
        this.resets++;
        this.control.reset();
        return;
      default:
        this.ignored++;
    }
  }

  /** The device has no registers; counters are the machine's history and survive a reset. */
  reset(): void {}

  getState(): TestFinisherState {
    return { passes: this.passes, fails: this.fails, resets: this.resets, ignored: this.ignored };
  }

  setState(state: unknown): void {
    const s = state as TestFinisherState;
    this.passes = s.passes;
    this.fails = s.fails;
    this.resets = s.resets;
    this.ignored = s.ignored;
  }
}
