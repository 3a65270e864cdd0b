/**
 * Ethernet II, ARP, IPv4, ICMP, UDP and TCP: parsing and building, with the Internet checksum.
 * Plain functions over Uint8Array (network byte order), shared by the user-mode network
 * (slirp.ts, tcp.ts, dhcp.ts), the switch and the tests.
 *
 *   RFC 894 (Ethernet II framing), RFC 826 (ARP), RFC 791 (IPv4), RFC 792 (ICMP),
 *   RFC 768 (UDP), RFC 9293 (TCP, was RFC 793), RFC 1071 (the checksum).
 */

export const ETH_HLEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** TCP flags (RFC 9293 §3.1). */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/** "10.0.2.15" → 0x0a00020f (an unsigned 32-bit number). */
export function ipFromString(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) throw new Error(`not an IPv4 address: '${s}'`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw new Error(`not an IPv4 address: '${s}'`);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function ipToString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

export function macToString(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** "52:54:00:12:34:56" → 6 bytes; null if malformed. */
export function macFromString(s: string): Uint8Array | null {
  const m = /^([0-9a-fA-F]{2})(:[0-9a-fA-F]{2}){5}$/.exec(s);
  if (!m) return null;
  return Uint8Array.from(s.split(':').map((x) => parseInt(x, 16)));
}

export function isMulticastMac(mac: Uint8Array): boolean {
  return (mac[0] & 1) === 1;
}

// ---------------------------------------------------------------------------------------------
// Checksum (RFC 1071)
// ---------------------------------------------------------------------------------------------

/** One's-complement sum of 16-bit big-endian words (odd byte padded with zero), not folded. */
export function sum16(buf: Uint8Array, start = 0, end = buf.length, acc = 0): number {
  let s = acc;
  let i = start;
  for (; i + 1 < end; i += 2) s += (buf[i] << 8) | buf[i + 1];
  if (i < end) s += buf[i] << 8;
  return s;
}

export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** The checksum of `buf[start, end)`: 0 when the range already holds a correct checksum. */
export function checksum(buf: Uint8Array, start = 0, end = buf.length): number {
  return fold(sum16(buf, start, end));
}

/** Pseudo-header sum for TCP/UDP over IPv4 (RFC 793 §3.1, RFC 768). */
function pseudoSum(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

/** Checksum of a TCP/UDP segment (`seg`, with its checksum field as it is) with the pseudo-header. */
export function l4Checksum(src: number, dst: number, proto: number, seg: Uint8Array): number {
  return fold(sum16(seg, 0, seg.length, pseudoSum(src, dst, proto, seg.length)));
}

// ---------------------------------------------------------------------------------------------
// Ethernet
// ---------------------------------------------------------------------------------------------

export interface EthFrame {
  dst: Uint8Array;
  src: Uint8Array;
  type: number;
  payload: Uint8Array;
}

export function parseEth(f: Uint8Array): EthFrame | null {
  if (f.length < ETH_HLEN) return null;
  return { dst: f.subarray(0, 6), src: f.subarray(6, 12), type: (f[12] << 8) | f[13], payload: f.subarray(ETH_HLEN) };
}

export function buildEth(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETH_HLEN + payload.length);
  f.set(dst.subarray(0, 6), 0);
  f.set(src.subarray(0, 6), 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  f.set(payload, ETH_HLEN);
  return f;
}

// ---------------------------------------------------------------------------------------------
// ARP (RFC 826), Ethernet/IPv4 only
// ---------------------------------------------------------------------------------------------

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export interface ArpPacket {
  op: number;
  sha: Uint8Array;
  spa: number;
  tha: Uint8Array;
  tpa: number;
}

export function parseArp(p: Uint8Array): ArpPacket | null {
  if (p.length < 28) return null;
  const dv = new DataView(p.buffer, p.byteOffset, 28);
  // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4.
  if (dv.getUint16(0) !== 1 || dv.getUint16(2) !== ETHERTYPE_IPV4 || p[4] !== 6 || p[5] !== 4) return null;
  return { op: dv.getUint16(6), sha: p.slice(8, 14), spa: dv.getUint32(14), tha: p.slice(18, 24), tpa: dv.getUint32(24) };
}

export function buildArp(a: ArpPacket): Uint8Array {
  const p = new Uint8Array(28);
  const dv = new DataView(p.buffer);
  dv.setUint16(0, 1);
  dv.setUint16(2, ETHERTYPE_IPV4);
  p[4] = 6;
  p[5] = 4;
  dv.setUint16(6, a.op);
  p.set(a.sha, 8);
  dv.setUint32(14, a.spa);
  p.set(a.tha, 18);
  dv.setUint32(24, a.tpa);
  return p;
}

// ---------------------------------------------------------------------------------------------
// IPv4 (RFC 791)
// ---------------------------------------------------------------------------------------------

export interface Ipv4Packet {
  /** Header length in bytes. */
  ihl: number;
  tos: number;
  totalLength: number;
  id: number;
  /** Flags and fragment offset (16 bits). */
  frag: number;
  ttl: number;
  proto: number;
  src: number;
  dst: number;
  /** The header's checksum verifies. */
  checksumOk: boolean;
  payload: Uint8Array;
}

/** More fragments flag and fragment offset mask. */
export const IP_MF = 0x2000;
export const IP_OFFMASK = 0x1fff;

export function parseIpv4(p: Uint8Array): Ipv4Packet | null {
  if (p.length < 20 || p[0] >> 4 !== 4) return null;
  const ihl = (p[0] & 0xf) * 4;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const totalLength = dv.getUint16(2);
  if (ihl < 20 || totalLength < ihl || totalLength > p.length) return null;
  return {
    ihl,
    tos: p[1],
    totalLength,
    id: dv.getUint16(4),
    frag: dv.getUint16(6),
    ttl: p[8],
    proto: p[9],
    src: dv.getUint32(12),
    dst: dv.getUint32(16),
    checksumOk: checksum(p, 0, ihl) === 0,
    // Ethernet pads short frames: the IP total length says where the packet ends.
    payload: p.subarray(ihl, totalLength),
  };
}

let ipId = 0;

/** An IPv4 packet with a 20-byte header (DF set, TTL 64), checksum filled in. */
export function buildIpv4(src: number, dst: number, proto: number, payload: Uint8Array, opts: { ttl?: number; id?: number } = {}): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, p.length);
  dv.setUint16(4, opts.id ?? (ipId = (ipId + 1) & 0xffff));
  dv.setUint16(6, 0x4000); // DF
  p[8] = opts.ttl ?? 64;
  p[9] = proto;
  dv.setUint32(12, src);
  dv.setUint32(16, dst);
  dv.setUint16(10, checksum(p, 0, 20));
  p.set(payload, 20);
  return p;
}

// ---------------------------------------------------------------------------------------------
// ICMP (RFC 792)
// ---------------------------------------------------------------------------------------------

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;

export function buildIcmp(type: number, code: number, rest: Uint8Array): Uint8Array {
  const p = new Uint8Array(4 + rest.length);
  p[0] = type;
  p[1] = code;
  p.set(rest, 4);
  const c = checksum(p);
  p[2] = c >>> 8;
  p[3] = c & 0xff;
  return p;
}

// ---------------------------------------------------------------------------------------------
// UDP (RFC 768)
// ---------------------------------------------------------------------------------------------

export interface UdpDatagram {
  sport: number;
  dport: number;
  /** The checksum verifies (or is 0: none, allowed over IPv4). */
  checksumOk: boolean;
  payload: Uint8Array;
}

export function parseUdp(ip: Ipv4Packet): UdpDatagram | null {
  const p = ip.payload;
  if (p.length < 8) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const len = dv.getUint16(4);
  if (len < 8 || len > p.length) return null;
  const seg = p.subarray(0, len);
  const sum = dv.getUint16(6);
  return {
    sport: dv.getUint16(0),
    dport: dv.getUint16(2),
    checksumOk: sum === 0 || l4Checksum(ip.src, ip.dst, IPPROTO_UDP, seg) === 0,
    payload: p.subarray(8, len),
  };
}

export function buildUdp(src: number, sport: number, dst: number, dport: number, payload: Uint8Array): Uint8Array {
  const seg = new Uint8Array(8 + payload.length);
  const dv = new DataView(seg.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint16(4, seg.length);
  seg.set(payload, 8);
  // RFC 768: a computed checksum of 0 is sent as all ones.
  dv.setUint16(6, l4Checksum(src, dst, IPPROTO_UDP, seg) || 0xffff);
  return buildIpv4(src, dst, IPPROTO_UDP, seg);
}

// ---------------------------------------------------------------------------------------------
// TCP (RFC 9293)
// ---------------------------------------------------------------------------------------------

export interface TcpSegment {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** MSS option (SYN only), or null. */
  mss: number | null;
  /** Window scale option (SYN only), or null. */
  wscale: number | null;
  checksumOk: boolean;
  payload: Uint8Array;
}

export function parseTcp(ip: Ipv4Packet): TcpSegment | null {
  const p = ip.payload;
  if (p.length < 20) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const off = (p[12] >> 4) * 4;
  if (off < 20 || off > p.length) return null;
  let mss: number | null = null;
  let wscale: number | null = null;
  // Options (RFC 9293 §3.2): kind 0 end, 1 NOP, others kind/len/data.
  for (let i = 20; i < off; ) {
    const kind = p[i];
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = p[i + 1];
    if (i + 1 >= off || len < 2 || i + len > off) break;
    if (kind === 2 && len === 4) mss = dv.getUint16(i + 2);
    if (kind === 3 && len === 3) wscale = Math.min(14, p[i + 2]);
    i += len;
  }
  return {
    sport: dv.getUint16(0),
    dport: dv.getUint16(2),
    seq: dv.getUint32(4),
    ack: dv.getUint32(8),
    flags: p[13] & 0x3f,
    window: dv.getUint16(14),
    mss,
    wscale,
    checksumOk: l4Checksum(ip.src, ip.dst, IPPROTO_TCP, p) === 0,
    payload: p.subarray(off),
  };
}

export interface TcpBuild {
  src: number;
  sport: number;
  dst: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** Adds the MSS option (on a SYN). */
  mss?: number;
  payload?: Uint8Array;
}

/** A TCP segment in an IPv4 packet, checksums filled in. */
export function buildTcp(t: TcpBuild): Uint8Array {
  const optLen = t.mss !== undefined ? 4 : 0;
  const payload = t.payload ?? new Uint8Array(0);
  const seg = new Uint8Array(20 + optLen + payload.length);
  const dv = new DataView(seg.buffer);
  dv.setUint16(0, t.sport);
  dv.setUint16(2, t.dport);
  dv.setUint32(4, t.seq >>> 0);
  dv.setUint32(8, t.ack >>> 0);
  seg[12] = ((20 + optLen) / 4) << 4;
  seg[13] = t.flags;
  dv.setUint16(14, Math.max(0, Math.min(0xffff, t.window)));
  if (t.mss !== undefined) {
    seg[20] = 2;
    seg[21] = 4;
    dv.setUint16(22, t.mss);
  }
  seg.set(payload, 20 + optLen);
  dv.setUint16(16, l4Checksum(t.src, t.dst, IPPROTO_TCP, seg));
  return buildIpv4(t.src, t.dst, IPPROTO_TCP, seg);
}

/** Sequence-space comparisons (RFC 9293 §3.4: arithmetic modulo 2^32). */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
