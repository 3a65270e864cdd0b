/**
 * The user network's DHCP server (RFC 2131, options RFC 2132), QEMU slirp's addressing: leases from
 * 10.0.2.15 upward (one per client MAC, the first client gets .15), server identifier and router
 * 10.0.2.2, DNS 10.0.2.3, netmask 255.255.255.0, lease time 1 day.
 *
 *   DHCPDISCOVER → DHCPOFFER    (yiaddr = the client's lease)
 *   DHCPREQUEST  → DHCPACK      if the requested address (option 50, or ciaddr when renewing) is
 *                               the client's lease and a server identifier, if present, is ours;
 *                  DHCPNAK      if it asks for another address of our network;
 *                  nothing      if it selected another server (RFC 2131 §4.3.2)
 *   DHCPINFORM   → DHCPACK      without lease options (§4.3.5)
 *   DHCPRELEASE / DHCPDECLINE   ignored (the lease stays bound to the MAC)
 *
 * Replies go to the client's MAC (the caller frames them); the IP destination is the broadcast
 * address unless the client already has an address (ciaddr, when renewing), RFC 2131 §4.1. NAKs
 * are always broadcast.
 */
import { ipFromString } from './packet.js';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
const MAGIC = 0x63825363;

export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPDECLINE = 4;
export const DHCPACK = 5;
export const DHCPNAK = 6;
export const DHCPRELEASE = 7;
export const DHCPINFORM = 8;

/** Option codes (RFC 2132). */
export const OPT_SUBNET_MASK = 1;
export const OPT_ROUTER = 3;
export const OPT_DNS = 6;
export const OPT_REQUESTED_IP = 50;
export const OPT_LEASE_TIME = 51;
export const OPT_MSG_TYPE = 53;
export const OPT_SERVER_ID = 54;
export const OPT_END = 255;
export const OPT_PAD = 0;

export interface DhcpMessage {
  op: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  chaddr: Uint8Array;
  /** Option code → raw value. */
  options: Map<number, Uint8Array>;
}

export function parseDhcp(p: Uint8Array): DhcpMessage | null {
  if (p.length < 240) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  if (dv.getUint32(236) !== MAGIC) return null;
  if (p[1] !== 1 || p[2] !== 6) return null; // Ethernet only
  const options = new Map<number, Uint8Array>();
  for (let i = 240; i < p.length; ) {
    const code = p[i];
    if (code === OPT_END) break;
    if (code === OPT_PAD) {
      i++;
      continue;
    }
    if (i + 1 >= p.length) return null;
    const len = p[i + 1];
    if (i + 2 + len > p.length) return null;
    if (!options.has(code)) options.set(code, p.slice(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return {
    op: p[0],
    xid: dv.getUint32(4),
    secs: dv.getUint16(8),
    flags: dv.getUint16(10),
    ciaddr: dv.getUint32(12),
    yiaddr: dv.getUint32(16),
    siaddr: dv.getUint32(20),
    giaddr: dv.getUint32(24),
    chaddr: p.slice(28, 34),
    options,
  };
}

export function buildDhcp(m: DhcpMessage): Uint8Array {
  let optLen = 1;
  for (const v of m.options.values()) optLen += 2 + v.length;
  // BOOTP minimum message size (RFC 1542 §3.1.1: at least 300 bytes).
  const p = new Uint8Array(Math.max(300, 240 + optLen));
  const dv = new DataView(p.buffer);
  p[0] = m.op;
  p[1] = 1;
  p[2] = 6;
  dv.setUint32(4, m.xid);
  dv.setUint16(8, m.secs);
  dv.setUint16(10, m.flags);
  dv.setUint32(12, m.ciaddr);
  dv.setUint32(16, m.yiaddr);
  dv.setUint32(20, m.siaddr);
  dv.setUint32(24, m.giaddr);
  p.set(m.chaddr.subarray(0, 6), 28);
  dv.setUint32(236, MAGIC);
  let i = 240;
  for (const [code, v] of m.options) {
    p[i] = code;
    p[i + 1] = v.length;
    p.set(v, i + 2);
    i += 2 + v.length;
  }
  p[i] = OPT_END;
  return p;
}

const u32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
};

export interface DhcpServerOptions {
  /** Server identifier and router (10.0.2.2). */
  serverIp: number;
  dnsIp: number;
  netmask: number;
  /** First address handed out (10.0.2.15). */
  firstLease: number;
  leaseSeconds?: number;
}

export interface DhcpReply {
  message: Uint8Array;
  /** Where to send it: the client's MAC, and this IP (broadcast, or ciaddr). */
  dstIp: number;
}

export class DhcpServer {
  /** MAC (hex) → leased address. */
  readonly leases = new Map<string, number>();
  private readonly opts: Required<DhcpServerOptions>;

  constructor(opts: DhcpServerOptions) {
    this.opts = { leaseSeconds: 86400, ...opts };
  }

  static qemu(): DhcpServer {
    return new DhcpServer({
      serverIp: ipFromString('10.0.2.2'),
      dnsIp: ipFromString('10.0.2.3'),
      netmask: ipFromString('255.255.255.0'),
      firstLease: ipFromString('10.0.2.15'),
    });
  }

  /** The client's address (allocated on first sight, QEMU-style from .15 up). */
  leaseFor(mac: Uint8Array): number {
    const key = Buffer.from(mac).toString('hex');
    let ip = this.leases.get(key);
    if (ip === undefined) {
      ip = (this.opts.firstLease + this.leases.size) >>> 0;
      this.leases.set(key, ip);
    }
    return ip;
  }

  /** The reply to a client message (a BOOTREQUEST on port 67), or null for none. */
  handle(p: Uint8Array): DhcpReply | null {
    const m = parseDhcp(p);
    if (m === null || m.op !== 1) return null;
    const type = m.options.get(OPT_MSG_TYPE)?.[0];
    const o = this.opts;
    const reply = (msgType: number, yiaddr: number, lease: boolean): DhcpReply => {
      const options = new Map<number, Uint8Array>();
      options.set(OPT_MSG_TYPE, Uint8Array.of(msgType));
      options.set(OPT_SERVER_ID, u32(o.serverIp));
      if (msgType !== DHCPNAK) {
        if (lease) options.set(OPT_LEASE_TIME, u32(o.leaseSeconds));
        options.set(OPT_SUBNET_MASK, u32(o.netmask));
        options.set(OPT_ROUTER, u32(o.serverIp));
        options.set(OPT_DNS, u32(o.dnsIp));
      }
      const message = buildDhcp({
        op: 2,
        xid: m.xid,
        secs: 0,
        flags: m.flags,
        ciaddr: msgType === DHCPNAK ? 0 : m.ciaddr,
        yiaddr,
        siaddr: msgType === DHCPNAK ? 0 : o.serverIp,
        giaddr: m.giaddr,
        chaddr: m.chaddr,
        options,
      });
      // §4.1: NAKs are broadcast; to a client with an address, unicast to it.
      const dstIp = msgType !== DHCPNAK && m.ciaddr !== 0 ? m.ciaddr : 0xffff_ffff;
      return { message, dstIp };
    };
    const lease = this.leaseFor(m.chaddr);
    switch (type) {
      case DHCPDISCOVER:
        return reply(DHCPOFFER, lease, true);
      case DHCPREQUEST: {
        const sid = m.options.get(OPT_SERVER_ID);
        if (sid && sid.length === 4 && new DataView(sid.buffer, sid.byteOffset).getUint32(0) !== o.serverIp) return null;
        const req = m.options.get(OPT_REQUESTED_IP);
        const want = req && req.length === 4 ? new DataView(req.buffer, req.byteOffset).getUint32(0) : m.ciaddr;
        if (want === lease) return reply(DHCPACK, lease, true);
        return reply(DHCPNAK, 0, false);
      }
      case DHCPINFORM:
        return reply(DHCPACK, 0, false);
      default:
        return null;
    }
  }
}
