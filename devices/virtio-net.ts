/**
 * virtio-net (virtio 1.1 §5.1, device id 1) over the virtio-mmio transport (virtio-mmio.ts).
 *
 * Queues: 0 = receiveq1, 1 = transmitq1 (no control queue: VIRTIO_NET_F_CTRL_VQ is not offered).
 * Features offered: VIRTIO_NET_F_MAC (5: the MAC is in config space) and VIRTIO_NET_F_STATUS
 * (16: config `status` says VIRTIO_NET_S_LINK_UP), plus the transport's VERSION_1,
 * INDIRECT_DESC and EVENT_IDX. No checksum or segmentation offloads (the guest computes
 * checksums and sends frames of at most 1514 bytes), no mergeable RX buffers: Linux 6.1's driver
 * (drivers/net/virtio_net.c) then posts "small" receive buffers of 12 + 1518 bytes.
 *
 * The header (§5.1.6): with VERSION_1 every packet in either direction starts with the 12-byte
 * `struct virtio_net_hdr` *including* `num_buffers`, whether or not MRG_RXBUF was negotiated
 * (§5.1.6.1 "legacy interface" note: only legacy devices without MRG_RXBUF use 10 bytes). On
 * receive the device writes flags 0, gso_type NONE and num_buffers 1 (§5.1.6.3.1: "If
 * VIRTIO_NET_F_MRG_RXBUF has not been negotiated, the device MUST set num_buffers to 1").
 *
 * Config space (§5.1.4): mac[6] at 0, le16 status at 6, le16 max_virtqueue_pairs at 8 (1),
 * le16 mtu at 10 (1500, not offered as a feature).
 *
 * Time (GUIDE §7): everything goes through the event scheduler, nothing is done outside it except
 * accepting a frame from the network (receive()), which only queues it.
 *  - TX: a kick pops the available chains; each is "on the wire" for txLatencyCycles plus its
 *    bytes at the modeled link rate (1 Gbit/s by default), and at that cycle the `tx` event hands
 *    the frame to the network and returns the buffer (used len 0: the device writes nothing).
 *  - RX: receive() queues the frame due rxLatencyCycles from now; the `rx` event copies due frames
 *    into posted receive buffers and raises the used-buffer interrupt. Without a posted buffer the
 *    frame waits in a backlog of at most RX_BACKLOG frames (QEMU stops reading its backend); the
 *    guest's next RX kick (buffers refilled) delivers it. Beyond the backlog, while the receive
 *    queue is not set up, and for frames larger than the guest's buffer, frames are dropped and
 *    counted.
 * Frames from the same source arrive in the order sent. Deterministic: the same frames at the
 * same cycles give the same guest-visible result.
 *
 * Stats per direction: packets, bytes (Ethernet frame bytes, without the virtio header), drops.
 */
import type { Clock, Scheduler, SimEvent } from '../src/bus/types.js';
import { configReadLE, type Chain, type VirtioDevice, type VirtioTransport, type VirtQueue } from './virtio-mmio.js';
import type { NetEndpoint, NicPort } from '../src/net/link.js';

export const VIRTIO_ID_NET = 1;

/** Feature bits (§5.1.3). */
export const VIRTIO_NET_F_MAC = 1n << 5n;
export const VIRTIO_NET_F_STATUS = 1n << 16n;
export const VIRTIO_NET_S_LINK_UP = 1;

/** struct virtio_net_hdr with num_buffers (§5.1.6): always 12 bytes with VERSION_1. */
export const VIRTIO_NET_HDR_LEN = 12;
/** The header written before every received frame: all zero but num_buffers = 1 (le16 at 10). */
const RX_HDR = new Uint8Array(VIRTIO_NET_HDR_LEN);
RX_HDR[10] = 1;
/** Largest Ethernet frame (no FCS, no VLAN tag) we carry: 14 + 1500. */
export const MAX_FRAME = 1514;
/** Frames waiting for receive buffers before further ones are dropped. */
export const RX_BACKLOG = 256;
const RXQ = 0;
const TXQ = 1;

export interface VirtioNetStats {
  rxPackets: number;
  rxBytes: number;
  rxDrops: number;
  txPackets: number;
  txBytes: number;
  txDrops: number;
}

export interface VirtioNetOptions {
  mac: Uint8Array;
  scheduler: Scheduler;
  clock: Clock;
  /** Cycles from a TX kick to the frame leaving (default 1000). */
  txLatencyCycles?: number;
  /** Cycles from a frame arriving to its delivery into a receive buffer (default 1000). */
  rxLatencyCycles?: number;
  /** Modeled link rate in bits per second (default 1e9): a frame of n bytes adds 8n/rate seconds. */
  linkBitsPerSecond?: number;
  /** QueueNumMax (default 256, as QEMU 7.2's rx/tx_queue_size). */
  queueSize?: number;
  name?: string;
}

interface Pending {
  due: number;
  frame: Uint8Array;
}
interface TxPending {
  due: number;
  chain: Chain;
}

export interface VirtioNetState {
  rx: Array<{ due: number; frame: string }>;
  backlog: string[];
  tx: TxPending[];
  txBusyUntil: number;
  stats: VirtioNetStats;
}

function zeroStats(): VirtioNetStats {
  return { rxPackets: 0, rxBytes: 0, rxDrops: 0, txPackets: 0, txBytes: 0, txDrops: 0 };
}

export class VirtioNet implements VirtioDevice, NicPort {
  readonly deviceId = VIRTIO_ID_NET;
  readonly features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS;
  readonly queueCount = 2;
  readonly queueMax: number;
  readonly name: string;
  readonly mac: Uint8Array;
  stats: VirtioNetStats = zeroStats();
  /** Where transmitted frames go (set by the board: a user network, a switch port). */
  link: NetEndpoint | null = null;

  private readonly scheduler: Scheduler;
  private readonly clock: Clock;
  private readonly txLatency: number;
  private readonly rxLatency: number;
  private readonly cyclesPerByte: number;
  private readonly config = new Uint8Array(12);
  private readonly txEvent: SimEvent;
  private readonly rxEvent: SimEvent;
  private transport: VirtioTransport | null = null;
  /** Frames received from the network, not yet due. Sorted by due. */
  private rxQueue: Pending[] = [];
  /** Due frames waiting for a receive buffer. */
  private backlog: Uint8Array[] = [];
  /** Popped TX chains, sorted by due. */
  private txQueue: TxPending[] = [];
  /** The modeled wire is busy sending until this cycle (frames leave one after another). */
  private txBusyUntil = 0;

  constructor(opts: VirtioNetOptions) {
    this.name = opts.name ?? 'virtio-net';
    if (opts.mac.length !== 6) throw new Error(`${this.name}: a MAC has 6 bytes`);
    this.mac = Uint8Array.from(opts.mac);
    this.scheduler = opts.scheduler;
    this.clock = opts.clock;
    this.txLatency = opts.txLatencyCycles ?? 1000;
    this.rxLatency = opts.rxLatencyCycles ?? 1000;
    this.cyclesPerByte = (8 * opts.clock.cpuHz) / (opts.linkBitsPerSecond ?? 1e9);
    this.queueMax = opts.queueSize ?? 256;
    this.config.set(this.mac, 0);
    const dv = new DataView(this.config.buffer);
    dv.setUint16(6, VIRTIO_NET_S_LINK_UP, true);
    dv.setUint16(8, 1, true);
    dv.setUint16(10, 1500, true);
    this.txEvent = this.scheduler.createEvent(`${this.name}.tx`, (due) => this.txComplete(due));
    this.rxEvent = this.scheduler.createEvent(`${this.name}.rx`, (due) => this.rxDeliver(due));
  }

  attach(transport: VirtioTransport): void {
    this.transport = transport;
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    return configReadLE(this.config, offset, size);
  }

  /** The MAC is read-only without VIRTIO_NET_F_CTRL_MAC_ADDR (§5.1.4.1); ignored. */
  configWrite(): void {}

  onNotify(queue: number, q: VirtQueue): void {
    if (queue === TXQ) {
      let chain: Chain | null;
      const now = this.clock.now();
      while ((chain = q.pop()) !== null) {
        // Frames leave back to back: each starts when the previous one has left.
        const start = Math.max(now + this.txLatency, this.txBusyUntil);
        const bytes = Math.max(0, chain.readableLen - VIRTIO_NET_HDR_LEN);
        const due = start + Math.ceil(bytes * this.cyclesPerByte);
        this.txBusyUntil = due;
        this.txQueue.push({ due, chain });
      }
      this.armTx();
    } else if (queue === RXQ) {
      // New receive buffers: deliver what waited for them.
      if (this.backlog.length > 0) this.scheduler.reschedule(this.rxEvent, this.clock.now());
    }
  }

  /** A frame from the network for the guest: delivered rxLatencyCycles from now. */
  receive(frame: Uint8Array): void {
    if (frame.length > MAX_FRAME || frame.length < 14) {
      this.stats.rxDrops++;
      return;
    }
    const due = this.clock.now() + this.rxLatency;
    this.rxQueue.push({ due, frame: Uint8Array.from(frame) });
    this.armRx();
  }

  reset(): void {
    this.rxQueue = [];
    this.backlog = [];
    this.txQueue = [];
    this.txBusyUntil = 0;
    this.scheduler.cancel(this.txEvent);
    this.scheduler.cancel(this.rxEvent);
  }

  /** Frames waiting in the device (not yet due, or waiting for buffers). */
  get pendingRx(): number {
    return this.rxQueue.length + this.backlog.length;
  }

  private armTx(): void {
    if (this.txQueue.length > 0) this.scheduler.reschedule(this.txEvent, this.txQueue[0].due);
    else this.scheduler.cancel(this.txEvent);
  }

  private armRx(): void {
    if (this.rxQueue.length > 0) this.scheduler.reschedule(this.rxEvent, this.rxQueue[0].due);
    else this.scheduler.cancel(this.rxEvent);
  }

  /** §5.1.6.2 device side: read header + frame from each due chain, return it, send the frame. */
  private txComplete(due: number): void {
    const t = this.transport;
    let n = 0;
    while (n < this.txQueue.length && this.txQueue[n].due <= due) n++;
    const done = this.txQueue.splice(0, n);
    const frames: Uint8Array[] = [];
    if (t) {
      const q = t.queue(TXQ);
      for (const r of done) {
        if (t.broken) break;
        const len = r.chain.readableLen - VIRTIO_NET_HDR_LEN;
        if (len < 14 || len > MAX_FRAME) {
          // A header-only or oversized packet: returned unsent (QEMU drops these too).
          this.stats.txDrops++;
        } else {
          const frame = q.read(r.chain, VIRTIO_NET_HDR_LEN, len);
          if (frame === null) return;
          frames.push(frame);
        }
        q.push(r.chain, 0);
      }
    }
    this.armTx();
    // Hand frames over after the buffers are back: a backend answering at once (ARP, a switch
    // peer) only schedules receive events, never re-enters the TX queue.
    for (const f of frames) {
      this.stats.txPackets++;
      this.stats.txBytes += f.length;
      if (this.link) this.link.send(f);
      else this.stats.txDrops++;
    }
  }

  /** §5.1.6.4: write header + frame into the next receive buffer, for each due frame. */
  private rxDeliver(due: number): void {
    let n = 0;
    while (n < this.rxQueue.length && this.rxQueue[n].due <= due) n++;
    for (const p of this.rxQueue.splice(0, n)) this.backlog.push(p.frame);
    const t = this.transport;
    if (t && !t.broken) {
      const q = t.queue(RXQ);
      if (!q.ready) {
        // No receive queue (driver not up, interface down and reset): nothing can take them.
        this.stats.rxDrops += this.backlog.length;
        this.backlog = [];
      }
      while (this.backlog.length > 0 && q.available() > 0) {
        const chain = q.pop();
        if (chain === null) break;
        const frame = this.backlog.shift()!;
        if (chain.writableLen < VIRTIO_NET_HDR_LEN + frame.length) {
          // §5.1.6.3.1: the buffer must hold the whole packet; without MRG_RXBUF it cannot span
          // buffers. Return the buffer empty and drop the frame.
          this.stats.rxDrops++;
          q.push(chain, 0);
          continue;
        }
        if (q.write(chain, 0, RX_HDR) < 0 || q.write(chain, VIRTIO_NET_HDR_LEN, frame) < 0) return;
        q.push(chain, VIRTIO_NET_HDR_LEN + frame.length);
        this.stats.rxPackets++;
        this.stats.rxBytes += frame.length;
      }
    }
    if (this.backlog.length > RX_BACKLOG) {
      const extra = this.backlog.length - RX_BACKLOG;
      this.backlog.splice(RX_BACKLOG, extra);
      this.stats.rxDrops += extra;
    }
    this.armRx();
  }

  getState(): VirtioNetState {
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return {
      rx: this.rxQueue.map((p) => ({ due: p.due, frame: hex(p.frame) })),
      backlog: this.backlog.map(hex),
      tx: this.txQueue.map((r) => ({ due: r.due, chain: structuredClone(r.chain) })),
      txBusyUntil: this.txBusyUntil,
      stats: { ...this.stats },
    };
  }

  setState(state: unknown): void {
    const s = state as VirtioNetState;
    const bytes = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
    this.rxQueue = s.rx.map((p) => ({ due: p.due, frame: bytes(p.frame) }));
    this.backlog = s.backlog.map(bytes);
    this.txQueue = s.tx.map((r) => ({ due: r.due, chain: structuredClone(r.chain) }));
    this.txBusyUntil = s.txBusyUntil;
    this.stats = { ...zeroStats(), ...s.stats };
    this.armTx();
    this.armRx();
  }
}
