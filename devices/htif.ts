/**
 * Spike-compatible HTIF (host-target interface; riscv-isa-sim fesvr/htif.cc, device.cc).
 *
 * The guest talks to the host through two 8-byte words, `tohost` and `fromhost`, whose addresses
 * the loader finds as ELF symbols; the core routes them to the bus instead of RAM. A command is
 *
 *   tohost = device[63:56] | cmd[55:48] | payload[47:0]
 *
 *   dev 0 (syscall proxy), cmd 0:
 *     payload & 1      exit(payload >> 1)            riscv-tests: 0 = pass, else failing TESTNUM
 *     otherwise        payload = guest address of magic_mem[8] = {num, a0, a1, ...}; the result
 *                      goes to magic_mem[0] and fromhost = 1. SYS_write(64) to fd 1/2 and
 *                      SYS_exit(93) are served; other fds give -EBADF, other calls -ENOSYS.
 *   dev 1 (bcd console), cmd 1:  putchar(payload & 0xff); fromhost = 1<<56 | 1<<48
 *   dev 1, cmd 0:                getchar. As Spike's bcd_t, the request waits until host input
 *                                is available (pushInput), then fromhost = 1<<56 | 0x100 | ch.
 *                                With no input the guest keeps polling fromhost, as on Spike.
 *   anything else:               ignored (Spike's null device), tohost still cleared.
 *
 * Spike does not act inside the store: its host loop polls tohost between instruction batches.
 * We do the same with a one-shot event one cycle after a store that leaves tohost non-zero, so
 * the two 4-byte halves of a 32-bit store pair (riscv-tests p-env: low word, then high word)
 * normally arrive before the command is read. On Spike, responses wait until fromhost is 0 (the
 * guest acknowledges by writing 0); queued responses are delivered by the same poll event.
 */
import type { Clock, Device, GuestMemory, MachineControl, MmioRegion, Scheduler, SimEvent } from '../src/bus/types.js';

export const SYS_WRITE = 64;
export const SYS_EXIT = 93;
const EBADF = 9;
const EFAULT = 14;
const ENOSYS = 38;

const PAYLOAD_MASK = (1n << 48n) - 1n;
const LO32 = 0xffff_ffffn;
/** Largest guest buffer a SYS_write copies in one memory.read call. */
const WRITE_CHUNK = 0x1_0000;

export interface HtifOptions {
  bus: { addMmio(r: MmioRegion): void };
  /** Guest-physical address of the 8-byte `tohost` word. */
  tohost: number;
  /** Guest-physical address of the 8-byte `fromhost` word (no responses if absent). */
  fromhost?: number;
  memory: GuestMemory;
  control: MachineControl;
  /** Host console sink for putchar and SYS_write to fd 1/2. */
  console: (byte: number) => void;
  scheduler: Scheduler;
  clock: Clock;
  name?: string;
}

export interface HtifState {
  tohost: string;
  fromhost: string;
  /** fromhost values waiting for the guest to clear fromhost. */
  responses: string[];
  pendingReads: number;
  input: number[];
  /** Cycle the poll event is scheduled for, or -1. */
  pollAt: number;
  commands: Record<string, number>;
}

export class Htif implements Device {
  readonly name: string;
  /**
   * Commands seen, by kind: exit, syscall.write, syscall.exit, syscall.other, syscall.fault,
   * putchar, getchar, unknown.
   */
  commands: Record<string, number> = {};

  private readonly memory: GuestMemory;
  private readonly control: MachineControl;
  private readonly console: (byte: number) => void;
  private readonly scheduler: Scheduler;
  private readonly clock: Clock;
  private readonly hasFromhost: boolean;
  private readonly poll: SimEvent;

  private tohost = 0n;
  private fromhost = 0n;
  private responses: bigint[] = [];
  /** Getchar requests not yet answered (bcd queues them). */
  private pendingReads = 0;
  private input: number[] = [];

  constructor(opts: HtifOptions) {
    this.name = opts.name ?? 'htif';
    this.memory = opts.memory;
    this.control = opts.control;
    this.console = opts.console;
    this.scheduler = opts.scheduler;
    this.clock = opts.clock;
    this.hasFromhost = opts.fromhost !== undefined;
    this.poll = opts.scheduler.createEvent('htif.poll', () => this.onPoll());
    opts.bus.addMmio(this.word(`${this.name}.tohost`, opts.tohost, true));
    if (opts.fromhost !== undefined) opts.bus.addMmio(this.word(`${this.name}.fromhost`, opts.fromhost, false));
  }

  /** An 8-byte register region; 4-byte halves reach the handler (the bus splits 8-byte stores). */
  private word(name: string, base: number, isTohost: boolean): MmioRegion {
    return {
      name,
      base,
      size: 8,
      valid: { min: 4, max: 8 },
      impl: { min: 4, max: 4 },
      read: (offset) => {
        const v = isTohost ? this.tohost : this.fromhost;
        return Number(offset & 4 ? v >> 32n : v & LO32);
      },
      write: (offset, _size, value) => {
        const w = BigInt(value >>> 0);
        if (isTohost) {
          this.tohost = offset & 4 ? (this.tohost & LO32) | (w << 32n) : (this.tohost & ~LO32) | w;
          if (this.tohost !== 0n) this.schedulePoll();
        } else {
          this.fromhost = offset & 4 ? (this.fromhost & LO32) | (w << 32n) : (this.fromhost & ~LO32) | w;
          // The guest acknowledged the previous response: the next one may go out.
          if (this.fromhost === 0n && this.responses.length > 0) this.schedulePoll();
        }
      },
    };
  }

  /** Host input for getchar (dev 1 cmd 0). */
  pushInput(bytes: Uint8Array | number[]): void {
    for (let i = 0; i < bytes.length; i++) this.input.push(bytes[i] & 0xff);
    if (this.pendingReads > 0) this.schedulePoll();
  }

  reset(): void {
    this.tohost = 0n;
    this.fromhost = 0n;
    this.responses.length = 0;
    this.pendingReads = 0;
    this.scheduler.cancel(this.poll);
  }

  private schedulePoll(): void {
    if (!this.poll.scheduled) this.scheduler.schedule(this.poll, this.clock.now() + 1);
  }

  // ---------------------------------------------------------------- host side

  private onPoll(): void {
    const cmd = this.tohost;
    if (cmd !== 0n) {
      // Spike clears tohost before handling, so the guest may post the next command at once.
      this.tohost = 0n;
      this.handle(cmd);
    }
    this.serveReads();
    if (this.fromhost === 0n && this.responses.length > 0) this.fromhost = this.responses.shift()!;
  }

  private count(kind: string): void {
    this.commands[kind] = (this.commands[kind] ?? 0) + 1;
  }

  private respond(dev: bigint, cmd: bigint, data: bigint): void {
    if (this.hasFromhost) this.responses.push((dev << 56n) | (cmd << 48n) | (data & PAYLOAD_MASK));
  }

  private handle(v: bigint): void {
    const dev = v >> 56n;
    const cmd = (v >> 48n) & 0xffn;
    const payload = v & PAYLOAD_MASK;
    if (dev === 0n && cmd === 0n) {
      if (payload & 1n) {
        this.count('exit');
        this.control.exit(Number(payload >> 1n));
        return;
      }
      this.syscall(Number(payload));
      this.respond(0n, 0n, 1n);
      return;
    }
    if (dev === 1n && cmd === 1n) {
      this.count('putchar');
      this.console(Number(payload & 0xffn));
      this.respond(1n, 1n, 0n);
      return;
    }
    if (dev === 1n && cmd === 0n) {
      this.count('getchar');
      this.pendingReads++;
      return;
    }
    this.count('unknown');
  }

  private serveReads(): void {
    while (this.pendingReads > 0 && this.input.length > 0) {
      this.pendingReads--;
      this.respond(1n, 0n, 0x100n | BigInt(this.input.shift()!));
    }
  }

  /** fesvr syscall_t::handle_syscall: magic_mem = {num, a0..a6}; the result goes to magic_mem[0]. */
  private syscall(addr: number): void {
    let block: DataView;
    try {
      const bytes = this.memory.read(addr, 64);
      block = new DataView(bytes.buffer, bytes.byteOffset, 64);
    } catch {
      this.count('syscall.fault');
      return;
    }
    const num = block.getBigUint64(0, true);
    const a0 = block.getBigUint64(8, true);
    const a1 = block.getBigUint64(16, true);
    const a2 = block.getBigUint64(24, true);
    let ret: bigint;
    if (num === BigInt(SYS_WRITE)) {
      this.count('syscall.write');
      ret = a0 === 1n || a0 === 2n ? this.sysWrite(a1, a2) : BigInt(-EBADF);
    } else if (num === BigInt(SYS_EXIT)) {
      this.count('syscall.exit');
      this.control.exit(Number(BigInt.asIntN(64, a0)));
      ret = 0n;
    } else {
      this.count('syscall.other');
      ret = BigInt(-ENOSYS);
    }
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, ret), true);
    try {
      this.memory.write(addr, out);
    } catch {
      this.count('syscall.fault');
    }
  }

  private sysWrite(buf: bigint, len: bigint): bigint {
    try {
      let pa = Number(buf);
      let left = Number(len);
      if (!Number.isSafeInteger(pa + left)) return BigInt(-EFAULT);
      while (left > 0) {
        const n = Math.min(left, WRITE_CHUNK);
        const bytes = this.memory.read(pa, n);
        for (let i = 0; i < bytes.length; i++) this.console(bytes[i]);
        pa += n;
        left -= n;
      }
      return len;
    } catch {
      return BigInt(-EFAULT);
    }
  }

  // ---------------------------------------------------------------- snapshots

  getState(): HtifState {
    return {
      tohost: this.tohost.toString(),
      fromhost: this.fromhost.toString(),
      responses: this.responses.map((r) => r.toString()),
      pendingReads: this.pendingReads,
      input: this.input.slice(),
      pollAt: this.poll.scheduled ? this.poll.when : -1,
      commands: { ...this.commands },
    };
  }

  setState(state: unknown): void {
    const s = state as HtifState;
    this.tohost = BigInt(s.tohost);
    this.fromhost = BigInt(s.fromhost);
    this.responses = s.responses.map((r) => BigInt(r));
    this.pendingReads = s.pendingReads;
    this.input = s.input.slice();
    this.commands = { ...s.commands };
    this.scheduler.cancel(this.poll);
    if (s.pollAt >= 0) this.scheduler.schedule(this.poll, s.pollAt);
  }
}
