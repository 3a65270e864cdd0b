/**
 * User-mode networking (QEMU `-netdev user`, libslirp's model) in TypeScript: the guest's NIC is
 * plugged into a virtual router that owns 10.0.2.0/24 and turns the guest's connections into host
 * sockets. No privileges, no tap device.
 *
 *   10.0.2.2   gateway, DHCP server, and the host itself: traffic to it goes to 127.0.0.1
 *   10.0.2.3   DNS: UDP port 53 is forwarded to the host's resolver (first `nameserver` of
 *              /etc/resolv.conf, or `dns` in the options)
 *   10.0.2.15  the guest's lease (DHCP; further NICs' MACs get .16, ...)
 *
 * Per protocol:
 *  - ARP (RFC 826): requests for 10.0.2.2 / 10.0.2.3 answered with the router's MAC
 *    52:55:0a:00:02:02 (slirp's); the guest's own requests and replies teach us its MAC. Packets to
 *    a guest address we have no MAC for wait (a few) while we ask with an ARP request.
 *  - IPv4 (RFC 791): header checksum checked; fragments are dropped (the guest's MTU is 1500 and
 *    Linux sets DF); TTL is not decremented (the router is invisible, as in slirp).
 *  - ICMP (RFC 792): echo requests to 10.0.2.2 and 10.0.2.3 are answered; others are dropped.
 *  - UDP (RFC 768): DHCP (dhcp.ts) on port 67; everything else is NAT: one host datagram socket per
 *    guest (source port, destination) pair, replies come back from the original destination.
 *    Idle mappings close after UDP_IDLE_MS.
 *  - TCP (tcp.ts): guest connections become host connections; `hostfwd` listeners accept on the
 *    host and open connections to the guest.
 *
 * Destinations: 10.0.2.2 maps to 127.0.0.1; other 10.0.2.x addresses do not exist (TCP gets a
 * reset); addresses outside 10.0.2.0/24 are reached as themselves from the host (the tests only
 * ever use 10.0.2.2, i.e. the loopback).
 *
 * Host sockets call back in Node's event loop: those callbacks only queue work (`defer`), and the
 * machine runs the queue through poll() at its next slice boundary (link.ts HostPolled).
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import type { HostPolled, NetBackend, NetEndpoint, NicPort } from './link.js';
import {
  ARP_REPLY,
  ARP_REQUEST,
  BROADCAST_MAC,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IP_MF,
  IP_OFFMASK,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
  buildArp,
  buildEth,
  buildIcmp,
  buildIpv4,
  buildTcp,
  buildUdp,
  checksum,
  ipFromString,
  ipToString,
  parseArp,
  parseEth,
  parseIpv4,
  parseTcp,
  parseUdp,
  seqAdd,
  type Ipv4Packet,
  type TcpSegment,
} from './packet.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, DhcpServer } from './dhcp.js';
import { TcpConn, type TcpHost } from './tcp.js';

export const NETWORK = ipFromString('10.0.2.0');
export const NETMASK = ipFromString('255.255.255.0');
export const GATEWAY = ipFromString('10.0.2.2');
export const DNS = ipFromString('10.0.2.3');
export const GUEST = ipFromString('10.0.2.15');
/** slirp's MAC for its own addresses (special_ethaddr 52:55:0a:00:02:02). */
export const ROUTER_MAC = Uint8Array.of(0x52, 0x55, 0x0a, 0x00, 0x02, 0x02);
const UDP_IDLE_MS = 60_000;
const MAX_UDP_MAPPINGS = 256;
const MAX_TCP_CONNECTIONS = 1024;
const ARP_WAITING = 64;

/** A `hostfwd` rule (QEMU: hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport). */
export interface HostForward {
  proto: 'tcp' | 'udp';
  /** Host address to listen on ('' = every address, as QEMU's INADDR_ANY). */
  hostAddr: string;
  hostPort: number;
  /** Guest address (default: the first DHCP lease, 10.0.2.15). */
  guestAddr: number;
  guestPort: number;
}

/**
 * Parses QEMU's hostfwd syntax, `[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport`; throws an
 * Error with the reason (the caller adds where it came from).
 */
export function parseHostForward(text: string): HostForward {
  const m = /^(tcp|udp)?:([^:-]*):(\d+)-([^:]*):(\d+)$/.exec(text);
  if (!m) throw new Error(`'${text}' is not [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport`);
  const port = (s: string, what: string) => {
    const n = Number(s);
    if (!(n >= 1 && n <= 65535)) throw new Error(`'${text}': ${what} ${s} is not a port (1-65535)`);
    return n;
  };
  let guestAddr = GUEST;
  if (m[4] !== '') {
    try {
      guestAddr = ipFromString(m[4]);
    } catch {
      throw new Error(`'${text}': guest address '${m[4]}' is not an IPv4 address`);
    }
    if ((guestAddr & NETMASK) >>> 0 !== NETWORK) throw new Error(`'${text}': guest address ${m[4]} is not in 10.0.2.0/24`);
  }
  if (m[2] !== '' && !net.isIPv4(m[2])) throw new Error(`'${text}': host address '${m[2]}' is not an IPv4 address`);
  return { proto: (m[1] ?? 'tcp') as 'tcp' | 'udp', hostAddr: m[2], hostPort: port(m[3], 'host port'), guestAddr, guestPort: port(m[5], 'guest port') };
}

/** The host resolver from resolv.conf (first IPv4 nameserver), or 127.0.0.1 without one. */
export function hostResolver(path = '/etc/resolv.conf'): { host: string; port: number } {
  try {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const m = /^\s*nameserver\s+(\S+)/.exec(line);
      if (m && net.isIPv4(m[1])) return { host: m[1], port: 53 };
    }
  } catch {
    // no resolv.conf: fall through
  }
  return { host: '127.0.0.1', port: 53 };
}

export interface UserNetOptions {
  hostfwd?: HostForward[];
  /** Where DNS queries to 10.0.2.3:53 go (default: hostResolver()). */
  dns?: { host: string; port: number };
  /** Where traffic for the gateway address goes on the host (default 127.0.0.1). */
  hostLoopback?: string;
}

export interface UserNetStats {
  framesFromGuest: number;
  framesToGuest: number;
  dropped: number;
  arpReplies: number;
  dhcpReplies: number;
  icmpEchoReplies: number;
  udpToHost: number;
  udpFromHost: number;
  tcpConnections: number;
  tcpForwarded: number;
}

interface UdpMapping {
  sock: dgram.Socket;
  guestPort: number;
  /** What the guest addressed (replies come from here). */
  dstIp: number;
  dstPort: number;
  lastUse: number;
}

export class UserNet implements NetBackend, HostPolled {
  readonly stats: UserNetStats = {
    framesFromGuest: 0,
    framesToGuest: 0,
    dropped: 0,
    arpReplies: 0,
    dhcpReplies: 0,
    icmpEchoReplies: 0,
    udpToHost: 0,
    udpFromHost: 0,
    tcpConnections: 0,
    tcpForwarded: 0,
  };
  readonly dhcp = DhcpServer.qemu();
  wake: () => void = () => {};

  private nic: NicPort | null = null;
  /** Guest IP → MAC (learnt from its ARP and IP traffic). */
  private readonly arp = new Map<number, Uint8Array>();
  /** IP packets waiting for the guest MAC of their destination. */
  private readonly arpWait = new Map<number, Uint8Array[]>();
  private readonly inbox: Array<() => void> = [];
  private readonly udp = new Map<string, UdpMapping>();
  private readonly tcp = new Map<string, TcpConn>();
  private readonly servers: Array<net.Server | dgram.Socket> = [];
  private readonly dns: { host: string; port: number };
  private readonly loopback: string;
  private nextPort = 49152;
  private closed = false;
  private sweep: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly opts: UserNetOptions = {}) {
    this.dns = opts.dns ?? hostResolver();
    this.loopback = opts.hostLoopback ?? '127.0.0.1';
  }

  /**
   * Opens the hostfwd listeners. Resolves when all listen; rejects with one line naming the rule
   * when one cannot (port in use, address not local).
   */
  async listen(): Promise<void> {
    for (const f of this.opts.hostfwd ?? []) {
      const where = `hostfwd=${f.proto}:${f.hostAddr}:${f.hostPort}-${ipToString(f.guestAddr)}:${f.guestPort}`;
      if (f.proto === 'tcp') {
        const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => this.defer(() => this.accept(sock, f)));
        await new Promise<void>((resolve, reject) => {
          server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`${where}: cannot listen (${e.code ?? e.message})`)));
          server.listen({ port: f.hostPort, host: f.hostAddr === '' ? '0.0.0.0' : f.hostAddr }, () => resolve());
        });
        server.unref();
        this.servers.push(server);
      } else {
        const sock = dgram.createSocket('udp4');
        await new Promise<void>((resolve, reject) => {
          sock.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`${where}: cannot listen (${e.code ?? e.message})`)));
          sock.bind({ port: f.hostPort, address: f.hostAddr === '' ? '0.0.0.0' : f.hostAddr }, () => resolve());
        });
        sock.unref();
        const peerPort = this.allocPort();
        // Host datagrams go to the guest from 10.0.2.2:peerPort; its replies to that port go back
        // to the last host sender.
        let lastSender: { address: string; port: number } | null = null;
        sock.on('message', (msg, rinfo) =>
          this.defer(() => {
            lastSender = { address: rinfo.address, port: rinfo.port };
            this.stats.udpFromHost++;
            this.ipToGuest(buildUdp(GATEWAY, peerPort, f.guestAddr, f.guestPort, msg));
          }),
        );
        this.udp.set(`fwd|${peerPort}`, {
          sock,
          guestPort: f.guestPort,
          dstIp: GATEWAY,
          dstPort: peerPort,
          lastUse: Infinity,
        });
        this.udpFwdReply.set(`${f.guestPort}|${peerPort}`, (payload) => {
          if (lastSender) sock.send(payload, lastSender.port, lastSender.address);
        });
        this.servers.push(sock);
      }
    }
    this.sweep = setInterval(() => this.defer(() => this.expireUdp()), 10_000);
    this.sweep.unref();
  }

  private readonly udpFwdReply = new Map<string, (payload: Uint8Array) => void>();

  connect(nic: NicPort): NetEndpoint {
    if (this.nic) throw new Error('a user network serves one NIC (give each NIC its own --netdev user)');
    this.nic = nic;
    return { send: (f) => this.fromGuest(f), close: () => this.close() };
  }

  // ------------------------------------------------------------------ HostPolled

  defer(fn: () => void): void {
    if (this.closed) return;
    this.inbox.push(fn);
    this.wake();
  }

  poll(): void {
    // Work deferred while running (a socket answering at once) waits for the next poll.
    const n = this.inbox.length;
    for (let i = 0; i < n && !this.closed; i++) this.inbox.shift()!();
  }

  /** Work queued by host sockets and timers, not yet polled. */
  get pendingHostWork(): number {
    return this.inbox.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sweep) clearInterval(this.sweep);
    for (const c of [...this.tcp.values()]) c.abort(false);
    for (const m of this.udp.values()) m.sock.close();
    for (const s of this.servers) {
      if (s instanceof net.Server) s.close();
    }
    this.udp.clear();
    this.inbox.length = 0;
  }

  // ------------------------------------------------------------------ to the guest

  private toGuestFrame(f: Uint8Array): void {
    this.stats.framesToGuest++;
    this.nic?.receive(f);
  }

  /** An IPv4 packet for the guest: framed for its MAC, or held while we ARP for it. */
  ipToGuest(ip: Uint8Array): void {
    const dst = new DataView(ip.buffer, ip.byteOffset).getUint32(16);
    const mac = dst === 0xffff_ffff ? BROADCAST_MAC : this.arp.get(dst);
    if (mac) {
      this.toGuestFrame(buildEth(mac, ROUTER_MAC, ETHERTYPE_IPV4, ip));
      return;
    }
    const q = this.arpWait.get(dst) ?? [];
    if (q.length >= ARP_WAITING) {
      this.stats.dropped++;
      return;
    }
    q.push(ip);
    this.arpWait.set(dst, q);
    if (q.length === 1) {
      this.toGuestFrame(
        buildEth(BROADCAST_MAC, ROUTER_MAC, ETHERTYPE_ARP, buildArp({ op: ARP_REQUEST, sha: ROUTER_MAC, spa: GATEWAY, tha: new Uint8Array(6), tpa: dst })),
      );
    }
  }

  private learn(ip: number, mac: Uint8Array): void {
    if (ip === 0 || (ip & NETMASK) >>> 0 !== NETWORK || ip === GATEWAY || ip === DNS) return;
    this.arp.set(ip, Uint8Array.from(mac));
    const q = this.arpWait.get(ip);
    if (q) {
      this.arpWait.delete(ip);
      for (const p of q) this.ipToGuest(p);
    }
  }

  // ------------------------------------------------------------------ from the guest

  private fromGuest(f: Uint8Array): void {
    if (this.closed) return;
    this.stats.framesFromGuest++;
    const eth = parseEth(f);
    if (!eth) return void this.stats.dropped++;
    if (eth.type === ETHERTYPE_ARP) return this.arpIn(eth.payload);
    if (eth.type !== ETHERTYPE_IPV4) return void this.stats.dropped++; // IPv6 and others: not routed
    const ip = parseIpv4(eth.payload);
    if (!ip || !ip.checksumOk || ip.frag & (IP_MF | IP_OFFMASK)) return void this.stats.dropped++;
    if (ip.src !== 0) this.learn(ip.src, eth.src);
    switch (ip.proto) {
      case IPPROTO_UDP:
        return this.udpIn(ip, eth.src);
      case IPPROTO_ICMP:
        return this.icmpIn(ip);
      case IPPROTO_TCP:
        return this.tcpIn(ip);
      default:
        this.stats.dropped++;
    }
  }

  private arpIn(p: Uint8Array): void {
    const a = parseArp(p);
    if (!a) return void this.stats.dropped++;
    this.learn(a.spa, a.sha);
    if (a.op === ARP_REQUEST && (a.tpa === GATEWAY || a.tpa === DNS)) {
      this.stats.arpReplies++;
      this.toGuestFrame(buildEth(a.sha, ROUTER_MAC, ETHERTYPE_ARP, buildArp({ op: ARP_REPLY, sha: ROUTER_MAC, spa: a.tpa, tha: a.sha, tpa: a.spa })));
    }
  }

  private icmpIn(ip: Ipv4Packet): void {
    const p = ip.payload;
    if (p.length < 8 || checksum(p) !== 0) return void this.stats.dropped++;
    if (p[0] === ICMP_ECHO_REQUEST && (ip.dst === GATEWAY || ip.dst === DNS)) {
      this.stats.icmpEchoReplies++;
      this.ipToGuest(buildIpv4(ip.dst, ip.src, IPPROTO_ICMP, buildIcmp(ICMP_ECHO_REPLY, 0, p.subarray(4))));
      return;
    }
    this.stats.dropped++;
  }

  private udpIn(ip: Ipv4Packet, mac: Uint8Array): void {
    const u = parseUdp(ip);
    if (!u || !u.checksumOk) return void this.stats.dropped++;
    if (u.dport === DHCP_SERVER_PORT && (ip.dst === 0xffff_ffff || ip.dst === GATEWAY)) {
      const r = this.dhcp.handle(u.payload);
      if (!r) return;
      this.stats.dhcpReplies++;
      const pkt = buildUdp(GATEWAY, DHCP_SERVER_PORT, r.dstIp, DHCP_CLIENT_PORT, r.message);
      // The client has no address yet: address it by MAC (RFC 2131 §4.1).
      this.toGuestFrame(buildEth(mac, ROUTER_MAC, ETHERTYPE_IPV4, pkt));
      return;
    }
    const fwd = this.udpFwdReply.get(`${u.sport}|${u.dport}`);
    if (fwd && ip.dst === GATEWAY) {
      this.stats.udpToHost++;
      fwd(u.payload);
      return;
    }
    const target = this.hostTarget(ip.dst, u.dport, 'udp');
    if (!target) return void this.stats.dropped++;
    const key = `${ip.src}|${u.sport}|${ip.dst}|${u.dport}`;
    let m = this.udp.get(key);
    if (!m) {
      if (this.udp.size >= MAX_UDP_MAPPINGS) this.expireUdp(true);
      const sock = dgram.createSocket('udp4');
      sock.unref();
      const guestIp = ip.src;
      const mm: UdpMapping = { sock, guestPort: u.sport, dstIp: ip.dst, dstPort: u.dport, lastUse: Date.now() };
      sock.on('message', (msg) =>
        this.defer(() => {
          mm.lastUse = Date.now();
          this.stats.udpFromHost++;
          this.ipToGuest(buildUdp(mm.dstIp, mm.dstPort, guestIp, mm.guestPort, msg));
        }),
      );
      sock.on('error', () => this.defer(() => this.dropUdp(key)));
      this.udp.set(key, mm);
      m = mm;
    }
    m.lastUse = Date.now();
    this.stats.udpToHost++;
    m.sock.send(u.payload, target.port, target.host);
  }

  private dropUdp(key: string): void {
    const m = this.udp.get(key);
    if (!m) return;
    this.udp.delete(key);
    try {
      m.sock.close();
    } catch {
      // already closed
    }
  }

  private expireUdp(oldest = false): void {
    const now = Date.now();
    let victim: string | null = null;
    let t = Infinity;
    for (const [k, m] of this.udp) {
      if (now - m.lastUse > UDP_IDLE_MS) this.dropUdp(k);
      else if (m.lastUse < t) {
        t = m.lastUse;
        victim = k;
      }
    }
    if (oldest && victim && this.udp.size >= MAX_UDP_MAPPINGS) this.dropUdp(victim);
  }

  /** Where a guest packet to `dst:port` goes on the host, or null when nothing is there. */
  private hostTarget(dst: number, port: number, proto: 'udp' | 'tcp'): { host: string; port: number } | null {
    if (dst === GATEWAY) return { host: this.loopback, port };
    if (dst === DNS) return proto === 'udp' && port === 53 ? this.dns : null;
    if ((dst & NETMASK) >>> 0 === NETWORK) return null;
    if (dst === 0xffff_ffff || dst >>> 28 === 0xe || dst >>> 24 === 0 || dst >>> 24 === 127) return null;
    return { host: ipToString(dst), port };
  }

  // ------------------------------------------------------------------ TCP

  private readonly tcpHost: TcpHost = {
    toGuest: (ip) => this.ipToGuest(ip),
    defer: (fn) => this.defer(fn),
    remove: (c) => {
      const e = c.ends;
      this.tcp.delete(`${e.guestIp}|${e.guestPort}|${e.peerIp}|${e.peerPort}`);
    },
  };

  private tcpIn(ip: Ipv4Packet): void {
    const seg = parseTcp(ip);
    if (!seg || !seg.checksumOk) return void this.stats.dropped++;
    const key = `${ip.src}|${seg.sport}|${ip.dst}|${seg.dport}`;
    const c = this.tcp.get(key);
    if (c) return c.input(seg);
    if ((seg.flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN) {
      const target = this.hostTarget(ip.dst, seg.dport, 'tcp');
      if (target && this.tcp.size < MAX_TCP_CONNECTIONS) {
        const sock = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
        const conn = new TcpConn(this.tcpHost, sock, { guestIp: ip.src, guestPort: seg.sport, peerIp: ip.dst, peerPort: seg.dport }, 'guest', seg);
        this.tcp.set(key, conn);
        this.stats.tcpConnections++;
        return;
      }
    }
    if (!(seg.flags & TCP_RST)) this.resetFor(ip, seg);
  }

  /** RFC 9293 §3.10.7.1: the reset for a segment to no connection. */
  private resetFor(ip: Ipv4Packet, seg: TcpSegment): void {
    const len = seg.payload.length + (seg.flags & TCP_SYN ? 1 : 0) + (seg.flags & 1 ? 1 : 0);
    const base = { src: ip.dst, sport: seg.dport, dst: ip.src, dport: seg.sport, window: 0 };
    this.ipToGuest(
      seg.flags & TCP_ACK
        ? buildTcp({ ...base, seq: seg.ack, ack: 0, flags: TCP_RST })
        : buildTcp({ ...base, seq: 0, ack: seqAdd(seg.seq, len), flags: TCP_RST | TCP_ACK }),
    );
  }

  private allocPort(): number {
    const p = this.nextPort;
    this.nextPort = this.nextPort >= 65535 ? 49152 : this.nextPort + 1;
    return p;
  }

  /** A host connection to a hostfwd listener: open the guest side. */
  private accept(sock: net.Socket, f: HostForward): void {
    if (this.tcp.size >= MAX_TCP_CONNECTIONS) {
      sock.destroy();
      return;
    }
    const peerPort = this.allocPort();
    const ends = { guestIp: f.guestAddr, guestPort: f.guestPort, peerIp: GATEWAY, peerPort };
    const conn = new TcpConn(this.tcpHost, sock, ends, 'host');
    this.tcp.set(`${ends.guestIp}|${ends.guestPort}|${GATEWAY}|${peerPort}`, conn);
    this.stats.tcpForwarded++;
  }
}
