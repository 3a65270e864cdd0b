/**
 * virtio-balloon (virtio 1.1 §5.5, device id 5; Linux drivers/virtio/virtio_balloon.c): the host
 * asks the guest to give memory back (`num_pages`, the target balloon size in 4 KiB pages) and the
 * guest answers by allocating pages and sending their page frame numbers on the inflate queue; it
 * takes them back through the deflate queue and reports the balloon's size in `actual`.
 *
 * Offered features: VIRTIO_BALLOON_F_REPORTING (free page reporting, §5.5.6.6 in virtio 1.2): the
 * guest reports ranges of its free memory (Linux: blocks of 2^pageblock_order pages, 2 MiB) on
 * a third queue as device-writable buffers the device does not write — their addresses are the
 * report. Without MUST_TELL_HOST the guest may reuse deflated pages at once.
 *
 * The device only moves messages: what an inflated, deflated or reported page means for host
 * memory is the backend's business (the VMM's balloon.ts: G-stage unmap, frames back to the pool).
 * Queues (Linux assigns indexes to the queues present, in this order): 0 inflate, 1 deflate,
 * 2 reporting (when negotiated).
 */
import { configReadLE, type VirtioDevice, type VirtioTransport, type VirtQueue } from './virtio-mmio.js';

export const VIRTIO_ID_BALLOON = 5;
export const BALLOON_F_MUST_TELL_HOST = 1n << 0n;
export const BALLOON_F_REPORTING = 1n << 5n;
/** The balloon's unit (VIRTIO_BALLOON_PFN_SHIFT = 12), whatever the guest's page size. */
export const BALLOON_PAGE = 4096;

/** What the VMM does with the guest's messages. Page numbers are guest-physical >> 12. */
export interface BalloonBackend {
  inflate(pfns: number[]): void;
  deflate(pfns: number[]): void;
  /** Free ranges the guest reported: [guest-physical address, length in bytes]. */
  report(ranges: Array<[number, number]>): void;
}

export interface VirtioBalloonState {
  target: number;
  actual: number;
  inflated: number;
  deflated: number;
  reported: number;
}

export class VirtioBalloon implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_BALLOON;
  readonly features = BALLOON_F_REPORTING;
  readonly queueCount = 3;
  readonly queueMax = 128;
  readonly name = 'virtio-balloon';
  /** Target size in pages (config num_pages). */
  target = 0;
  /** The driver's report of the balloon's size (config actual). */
  actual = 0;
  /** Pages received on the inflate / deflate queues, and reported free pages, so far. */
  inflated = 0;
  deflated = 0;
  reported = 0;
  private transport: VirtioTransport | null = null;

  constructor(private readonly backend: BalloonBackend) {}

  attach(t: VirtioTransport): void {
    this.transport = t;
  }

  /** Ask the guest for a balloon of `pages` 4 KiB pages (the config change interrupts it). */
  setTarget(pages: number): void {
    if (!(Number.isInteger(pages) && pages >= 0 && pages <= 0xffff_ffff)) throw new RangeError(`balloon target ${pages} pages`);
    this.target = pages;
    this.transport?.configChanged();
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    const b = new Uint8Array(16);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, this.target >>> 0, true);
    dv.setUint32(4, this.actual >>> 0, true);
    return configReadLE(b, offset, size);
  }

  /** Only `actual` (offset 4) is the driver's to write (§5.5.4). */
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset === 4 && size === 4) this.actual = value >>> 0;
  }

  onNotify(queue: number, q: VirtQueue): void {
    let chain;
    while ((chain = q.pop()) !== null) {
      if (queue === 2) {
        const ranges: Array<[number, number]> = chain.writable.map((s) => [Number(s.addr), s.len]);
        for (const [, len] of ranges) this.reported += Math.floor(len / BALLOON_PAGE);
        this.backend.report(ranges);
        q.push(chain, 0);
        continue;
      }
      const data = q.read(chain, 0, chain.readableLen);
      if (data === null) return;
      const pfns: number[] = [];
      const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; i + 4 <= data.length; i += 4) pfns.push(dv.getUint32(i, true));
      if (queue === 0) {
        this.inflated += pfns.length;
        this.backend.inflate(pfns);
      } else if (queue === 1) {
        this.deflated += pfns.length;
        this.backend.deflate(pfns);
      }
      q.push(chain, 0);
    }
  }

  /** The target survives a reset (it is the host's wish); the guest's view restarts at 0. */
  reset(): void {
    this.actual = 0;
  }

  getState(): VirtioBalloonState {
    return { target: this.target, actual: this.actual, inflated: this.inflated, deflated: this.deflated, reported: this.reported };
  }

  setState(state: unknown): void {
    const s = state as VirtioBalloonState;
    this.target = s.target;
    this.actual = s.actual;
    this.inflated = s.inflated;
    this.deflated = s.deflated;
    this.reported = s.reported;
  }
}
