/**
 * One TCP connection of the user network's NAT (RFC 9293): the guest's end is a TCP peer we
 * implement here, the other end a host `net.Socket`. Bytes are relayed both ways.
 *
 *  - Guest-initiated (guest SYN to 10.0.2.2:P or an outside address): we connect a host socket
 *    first and answer SYN-ACK only when it connected (RST-ACK when it failed), as slirp does, so
 *    the guest sees "connection refused" for a closed host port.
 *  - Host-initiated (a hostfwd listener accepted a connection): we send the guest a SYN from
 *    10.0.2.2:<ephemeral> and start relaying after its SYN-ACK; a RST means refused, and the host
 *    socket is closed.
 *
 * Our side never sends the window scale option, so neither side scales (RFC 7323 §2.2) and
 * windows are at most 65535. We send MSS 1460 and segment to the guest's MSS (536 without the
 * option, RFC 9293 §3.7.1). What we send stays in `sendBuf` until acknowledged; nothing is lost
 * on the virtual link except when the NIC's backlog overflows, so retransmission is simple
 * go-back-N on a retransmission timer (RTO_MS of wall time, doubling, RFC 6298 in spirit). The
 * window we advertise is 65535 less what the host socket has not written yet (flow control
 * toward a slow host reader); host reads pause while more than SEND_HIGH bytes wait for the guest.
 *
 * Everything here runs either inside the run loop (segments from the guest) or from `defer`red
 * host callbacks, which the user network runs at slice boundaries (link.ts HostPolled).
 */
import type { Socket } from 'node:net';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, buildTcp, seqAdd, seqDiff, seqLe, seqLt, type TcpSegment } from './packet.js';

export const OUR_MSS = 1460;
const DEFAULT_MSS = 536;
const MAX_WINDOW = 65535;
const SEND_HIGH = 256 * 1024;
const RTO_MS = 400;
const RTO_MAX_MS = 5000;
const MAX_RETRIES = 12;

export interface TcpHost {
  /** Send an IPv4 packet to the guest. */
  toGuest(ip: Uint8Array): void;
  /** Run `fn` at the next poll (for host socket and timer callbacks). */
  defer(fn: () => void): void;
  /** The connection is finished: forget it. */
  remove(c: TcpConn): void;
}

export type TcpState = 'connecting' | 'syn-sent' | 'syn-rcvd' | 'established' | 'closed';

export interface TcpEnds {
  guestIp: number;
  guestPort: number;
  /** The address and port the guest sees on the other side. */
  peerIp: number;
  peerPort: number;
}

let issCounter = 0;

export class TcpConn {
  state: TcpState;
  readonly ends: TcpEnds;
  /** Our initial sequence number (deterministic per connection order; see docs/NETWORK.md). */
  private readonly iss: number;
  private sndUna: number;
  private sndNxt: number;
  private rcvNxt = 0;
  /** The guest's receive window (unscaled). */
  private sndWnd = 0;
  private mss = DEFAULT_MSS;
  /** Host bytes from sndUna on (acknowledged bytes are dropped from the front). */
  private sendBuf: Buffer = Buffer.alloc(0);
  private hostEof = false;
  private finSent = false;
  private finAcked = false;
  private guestFin = false;
  private lastAdvertised = MAX_WINDOW;
  private rto = RTO_MS;
  private retries = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private paused = false;
  /** Bytes relayed guest → host and host → guest. */
  bytesFromGuest = 0;
  bytesToGuest = 0;

  constructor(
    private readonly host: TcpHost,
    readonly sock: Socket,
    ends: TcpEnds,
    initiator: 'guest' | 'host',
    syn?: TcpSegment,
  ) {
    this.ends = ends;
    issCounter = (issCounter + 1) >>> 0;
    this.iss = (Math.imul(issCounter, 0x9e3779b1) ^ 0x5a5a0000) >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    sock.on('data', (d: Buffer) => host.defer(() => this.hostData(d)));
    sock.on('end', () => host.defer(() => this.hostEnd()));
    sock.on('error', () => host.defer(() => this.hostError()));
    sock.on('close', () => host.defer(() => this.hostError()));
    sock.on('drain', () => host.defer(() => this.maybeWindowUpdate()));
    if (initiator === 'guest') {
      this.state = 'connecting';
      this.rcvNxt = seqAdd(syn!.seq, 1);
      this.peerOptions(syn!);
      sock.on('connect', () => host.defer(() => this.hostConnected()));
    } else {
      this.state = 'syn-sent';
      sock.pause();
      this.paused = true;
      this.sendSyn();
    }
  }

  private peerOptions(seg: TcpSegment): void {
    this.mss = Math.max(64, Math.min(seg.mss ?? DEFAULT_MSS, OUR_MSS));
    this.sndWnd = seg.window;
  }

  // ------------------------------------------------------------------ output

  private rcvWindow(): number {
    const queued = this.sock.writableLength ?? 0;
    return Math.max(0, MAX_WINDOW - queued);
  }

  private emit(flags: number, seq: number, payload?: Uint8Array, mss?: boolean): void {
    const e = this.ends;
    const window = this.rcvWindow();
    this.lastAdvertised = window;
    this.host.toGuest(
      buildTcp({
        src: e.peerIp,
        sport: e.peerPort,
        dst: e.guestIp,
        dport: e.guestPort,
        seq,
        ack: flags & TCP_ACK ? this.rcvNxt : 0,
        flags,
        window,
        ...(mss ? { mss: OUR_MSS } : {}),
        ...(payload ? { payload } : {}),
      }),
    );
  }

  private sendSyn(): void {
    this.emit(TCP_SYN, this.iss, undefined, true);
    this.sndNxt = seqAdd(this.iss, 1);
    this.arm();
  }

  private sendSynAck(): void {
    this.emit(TCP_SYN | TCP_ACK, this.iss, undefined, true);
    this.sndNxt = seqAdd(this.iss, 1);
    this.arm();
  }

  private ack(): void {
    this.emit(TCP_ACK, this.sndNxt);
  }

  /** Send what the guest's window allows, then our FIN once the host has ended and all is sent. */
  private trySend(): void {
    if (this.state !== 'established') return;
    for (;;) {
      const offset = seqDiff(this.sndNxt, this.sndUna);
      const unsent = this.sendBuf.length - offset;
      const room = this.sndWnd - offset;
      if (unsent <= 0 || room <= 0 || this.finSent) break;
      const n = Math.min(this.mss, unsent, room);
      const chunk = this.sendBuf.subarray(offset, offset + n);
      this.emit(TCP_ACK | TCP_PSH, this.sndNxt, chunk);
      this.bytesToGuest += n;
      this.sndNxt = seqAdd(this.sndNxt, n);
    }
    if (this.hostEof && !this.finSent && seqDiff(this.sndNxt, this.sndUna) === this.sendBuf.length) {
      this.emit(TCP_FIN | TCP_ACK, this.sndNxt);
      this.sndNxt = seqAdd(this.sndNxt, 1);
      this.finSent = true;
    }
    if (this.sndNxt !== this.sndUna || (this.sendBuf.length > 0 && this.sndWnd === 0)) this.arm();
    if (this.paused && this.sendBuf.length < SEND_HIGH && this.state === 'established') {
      this.paused = false;
      this.sock.resume();
    }
  }

  // ------------------------------------------------------------------ timers

  private arm(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.host.defer(() => this.timeout());
    }, this.rto);
    this.timer.unref?.();
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private timeout(): void {
    if (this.state === 'closed') return;
    if (++this.retries > MAX_RETRIES) {
      this.abort(true);
      return;
    }
    this.rto = Math.min(this.rto * 2, RTO_MAX_MS);
    if (this.state === 'syn-sent') return this.sendSyn();
    if (this.state === 'syn-rcvd') return this.sendSynAck();
    if (this.sndNxt !== this.sndUna) {
      // Go back N: resend from the oldest unacknowledged byte (and the FIN after it).
      this.sndNxt = this.sndUna;
      if (this.finSent && !this.finAcked) this.finSent = false;
      this.trySend();
    } else if (this.sndWnd === 0 && this.sendBuf.length > 0) {
      // Zero window probe (RFC 9293 §3.8.6.1): an old sequence number makes the guest re-ACK
      // with its current window.
      this.emit(TCP_ACK, seqAdd(this.sndUna, -1));
      this.arm();
    }
  }

  // ------------------------------------------------------------------ host events

  private hostConnected(): void {
    if (this.state !== 'connecting') return;
    this.state = 'syn-rcvd';
    this.sendSynAck();
  }

  private hostData(d: Buffer): void {
    if (this.state === 'closed') return;
    this.sendBuf = this.sendBuf.length === 0 ? Buffer.from(d) : Buffer.concat([this.sendBuf, d]);
    if (this.sendBuf.length >= SEND_HIGH && !this.paused) {
      this.paused = true;
      this.sock.pause();
    }
    this.trySend();
  }

  private hostEnd(): void {
    if (this.state === 'closed') return;
    this.hostEof = true;
    this.trySend();
  }

  /** The host socket failed or closed: refuse (before the handshake) or reset the guest's end. */
  private hostError(): void {
    if (this.state === 'closed') return;
    // 'close' after an orderly end we relayed as a FIN: the FIN exchange ends the connection.
    if (this.hostEof && !this.sock.errored) return;
    this.abort(true);
  }

  private maybeWindowUpdate(): void {
    if (this.state === 'established' && this.lastAdvertised < this.mss && this.rcvWindow() >= this.mss) this.ack();
  }

  /** Reset the guest's end (if asked) and forget the connection. */
  abort(sendRst: boolean): void {
    if (this.state === 'closed') return;
    if (sendRst) {
      if (this.state === 'connecting') this.emit(TCP_RST | TCP_ACK, 0);
      else if (this.state !== 'syn-sent') this.emit(TCP_RST | TCP_ACK, this.sndNxt);
    }
    this.finish();
  }

  private finish(): void {
    this.state = 'closed';
    this.disarm();
    this.sock.destroy();
    this.host.remove(this);
  }

  // ------------------------------------------------------------------ guest segments

  /** A segment from the guest for this connection. */
  input(seg: TcpSegment): void {
    if (this.state === 'closed') return;
    if (seg.flags & TCP_RST) {
      // RFC 5961 §3: accept a reset whose sequence number is in the window; we only ever talk to
      // one guest over a private link, so any in-window reset ends the connection.
      if (this.state === 'syn-sent' ? seg.ack === this.sndNxt : seqLe(this.rcvNxt, seg.seq) || this.state === 'connecting') {
        this.finish();
      }
      return;
    }
    switch (this.state) {
      case 'connecting':
        return; // a retransmitted SYN while the host connects: answered once it did
      case 'syn-sent':
        if (seg.flags & TCP_SYN && seg.flags & TCP_ACK && seg.ack === this.sndNxt) {
          this.rcvNxt = seqAdd(seg.seq, 1);
          this.peerOptions(seg);
          this.sndUna = seg.ack;
          this.established();
          this.ack();
          this.trySend();
        } else if (seg.flags & TCP_ACK) {
          this.emit(TCP_RST, seg.ack);
        }
        return;
      case 'syn-rcvd':
        if (seg.flags & TCP_SYN) {
          this.sendSynAck(); // our SYN-ACK was lost (or the guest is impatient)
          return;
        }
        if (!(seg.flags & TCP_ACK) || seg.ack !== seqAdd(this.iss, 1)) return;
        this.sndUna = seg.ack;
        this.sndWnd = seg.window;
        this.established();
        break;
      case 'established':
        if (seg.flags & TCP_SYN) {
          this.ack(); // a stale SYN: tell it where we are (RFC 9293 §3.10.7.4)
          return;
        }
        break;
    }
    this.onAck(seg);
    this.onData(seg);
    this.trySend();
    if (this.finAcked && this.guestFin) this.finish();
  }

  private established(): void {
    this.state = 'established';
    this.disarm();
    this.retries = 0;
    this.rto = RTO_MS;
    if (this.paused && this.sendBuf.length < SEND_HIGH) {
      this.paused = false;
      this.sock.resume();
    }
  }

  private onAck(seg: TcpSegment): void {
    if (!(seg.flags & TCP_ACK)) return;
    if (seqLt(this.sndUna, seg.ack) && seqLe(seg.ack, this.sndNxt)) {
      let n = seqDiff(seg.ack, this.sndUna);
      if (this.finSent && seg.ack === this.sndNxt) {
        this.finAcked = true;
        n -= 1;
      }
      this.sendBuf = this.sendBuf.subarray(Math.min(n, this.sendBuf.length));
      this.sndUna = seg.ack;
      this.disarm();
      this.retries = 0;
      this.rto = RTO_MS;
    }
    this.sndWnd = seg.window;
  }

  private onData(seg: TcpSegment): void {
    let data = seg.payload;
    let seq = seg.seq;
    const fin = (seg.flags & TCP_FIN) !== 0;
    if (data.length === 0 && !fin) return;
    // Drop what we already have (a retransmission overlapping rcvNxt).
    if (seqLt(seq, this.rcvNxt)) {
      const dup = seqDiff(this.rcvNxt, seq);
      if (dup >= data.length + (fin ? 1 : 0)) {
        this.ack();
        return;
      }
      data = data.subarray(Math.min(dup, data.length));
      seq = this.rcvNxt;
    }
    if (seq !== this.rcvNxt || this.guestFin) {
      this.ack(); // out of order: a duplicate ACK asks for what is missing
      return;
    }
    if (data.length > 0) {
      if (!this.sock.destroyed) this.sock.write(data);
      this.bytesFromGuest += data.length;
      this.rcvNxt = seqAdd(this.rcvNxt, data.length);
    }
    if (fin) {
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      this.guestFin = true;
      this.sock.end();
    }
    this.ack();
  }
}
