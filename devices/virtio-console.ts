/**
 * virtio-console (virtio 1.1 §5.3, device id 3), one port, no feature bits: receiveq (queue 0,
 * host → guest) and transmitq (queue 1, guest → host). Linux's virtio_console turns port 0 into an
 * hvc terminal (`/dev/hvcN`; N = 1 on our VMs, since hvc0 is the SBI console of hvc_riscv_sbi).
 *
 * Not offered: VIRTIO_CONSOLE_F_SIZE (bit 0; the size fields are then not valid, §5.3.4),
 * F_MULTIPORT (bit 1; named ports and the control queues), F_EMERG_WRITE (bit 2). The config
 * space still exists as §5.3.4 lays it out (cols, rows, max_nr_ports, emerg_wr: 12 bytes, zero).
 *
 * Transmit (§5.3.6.2): every readable byte of a chain goes to the host backend (`tx`), the chain is
 * returned with length 0 (the device wrote nothing). Receive (§5.3.6.1): host bytes are kept in a
 * bounded FIFO until the driver has made a device-writable buffer available; each buffer gets as
 * many bytes as fit, in order. Bytes beyond MAX_PENDING are dropped and counted (`dropped`), as a
 * chardev without flow control would. Everything completes synchronously (in the kick, or in
 * `input()` when the host has something to say): no latency model.
 *
 * The host side is what uses the port: the VMM's guest-agent channel (src/hypervisor/agent.ts).
 */
import { configReadLE, type VirtioDevice, type VirtioTransport, type VirtQueue } from './virtio-mmio.js';

export const VIRTIO_ID_CONSOLE = 3;
/** §5.3.2: receiveq(port0) = 0, transmitq(port0) = 1. */
export const VIRTIO_CONSOLE_RX = 0;
export const VIRTIO_CONSOLE_TX = 1;
/** Host → guest bytes waiting for guest buffers, at most (older bytes are kept, newer dropped). */
export const MAX_PENDING = 64 * 1024;
/** Bytes taken from one transmit chain at most (bounds host allocation per chain). */
const MAX_TX_CHAIN = 64 * 1024;
/** §5.3.4 struct virtio_console_config: cols u16, rows u16, max_nr_ports u32, emerg_wr u32. */
const CONFIG = new Uint8Array(12);

export interface VirtioConsoleOptions {
  /** Bytes the guest transmits. */
  tx?: (bytes: Uint8Array) => void;
  /** QueueNumMax of both queues (default 64). */
  queueSize?: number;
  name?: string;
}

export interface VirtioConsoleState {
  /** Host bytes not yet delivered (as a byte array). */
  pending: number[];
  rxBytes: number;
  txBytes: number;
  dropped: number;
}

export class VirtioConsole implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_CONSOLE;
  readonly features = 0n;
  readonly queueCount = 2;
  readonly queueMax: number;
  readonly name: string;
  /** Bytes delivered to the guest (receiveq). */
  rxBytes = 0;
  /** Bytes the guest transmitted (transmitq). */
  txBytes = 0;
  /** Host bytes dropped because MAX_PENDING were already waiting. */
  dropped = 0;

  private transport: VirtioTransport | null = null;
  private pending: number[] = [];
  private tx: (bytes: Uint8Array) => void;

  constructor(opts: VirtioConsoleOptions = {}) {
    this.name = opts.name ?? 'virtio-console';
    this.queueMax = opts.queueSize ?? 64;
    this.tx = opts.tx ?? (() => {});
  }

  attach(transport: VirtioTransport): void {
    this.transport = transport;
  }

  /** Where transmitted bytes go (the VMM connects its agent channel after construction). */
  setTx(tx: (bytes: Uint8Array) => void): void {
    this.tx = tx;
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    return configReadLE(CONFIG, offset, size);
  }

  /** emerg_wr is only writable with F_EMERG_WRITE, which we do not offer (§5.3.4). */
  configWrite(): void {}

  onNotify(queue: number, q: VirtQueue): void {
    if (queue === VIRTIO_CONSOLE_TX) this.transmit(q);
    else if (queue === VIRTIO_CONSOLE_RX) this.deliver(q);
  }

  /** Host → guest: queue `bytes` and deliver what the guest's buffers take now. */
  input(bytes: Uint8Array): void {
    const room = MAX_PENDING - this.pending.length;
    const n = Math.min(room, bytes.length);
    for (let i = 0; i < n; i++) this.pending.push(bytes[i]!);
    this.dropped += bytes.length - n;
    if (this.transport && !this.transport.broken) this.deliver(this.transport.queue(VIRTIO_CONSOLE_RX));
  }

  /** Host bytes waiting for guest buffers. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  private transmit(q: VirtQueue): void {
    let chain;
    while ((chain = q.pop()) !== null) {
      const data = q.read(chain, 0, Math.min(chain.readableLen, MAX_TX_CHAIN));
      if (data === null) return; // memory fault: the transport is broken now
      q.push(chain, 0);
      if (data.length > 0) {
        this.txBytes += data.length;
        this.tx(data);
      }
    }
  }

  private deliver(q: VirtQueue): void {
    while (this.pending.length > 0) {
      const chain = q.pop();
      if (chain === null) return;
      const take = Math.min(chain.writableLen, this.pending.length);
      const n = q.write(chain, 0, Uint8Array.from(this.pending.slice(0, take)));
      if (n < 0) return;
      this.pending.splice(0, n);
      this.rxBytes += n;
      q.push(chain, n);
    }
  }

  /**
   * Device reset (driver writes Status 0, or the VM's reset): bytes not yet delivered are dropped,
   * as they were meant for the driver instance that is gone.
   */
  reset(): void {
    this.pending = [];
  }

  getState(): VirtioConsoleState {
    return { pending: [...this.pending], rxBytes: this.rxBytes, txBytes: this.txBytes, dropped: this.dropped };
  }

  setState(state: unknown): void {
    const s = state as VirtioConsoleState;
    this.pending = [...s.pending];
    this.rxBytes = s.rxBytes;
    this.txBytes = s.txBytes;
    this.dropped = s.dropped;
  }
}
