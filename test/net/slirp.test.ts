/**
 * The user-mode network, packet by packet: a fake NIC sends the frames a guest would and checks
 * every frame that comes back (ARP RFC 826, DHCP RFC 2131/2132, ICMP RFC 792, UDP RFC 768, TCP
 * RFC 9293), with real host sockets on the loopback (a UDP echo server, a stub DNS resolver, a TCP
 * server, a hostfwd client). Host callbacks only queue work; poll() runs it, as the machine does
 * at slice boundaries.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GATEWAY, GUEST, ROUTER_MAC, UserNet, parseHostForward } from '../../src/net/slirp.js';
import {
  ARP_REPLY,
  ARP_REQUEST,
  BROADCAST_MAC,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
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
  parseArp,
  parseEth,
  parseIpv4,
  parseTcp,
  parseUdp,
  type TcpSegment,
} from '../../src/net/packet.js';
import { DHCPACK, DHCPDISCOVER, DHCPNAK, DHCPOFFER, DHCPREQUEST, buildDhcp, parseDhcp } from '../../src/net/dhcp.js';
import type { NicPort } from '../../src/net/link.js';

const MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);
const DNS = ipFromString('10.0.2.3');

class FakeNic implements NicPort {
  readonly mac = MAC;
  frames: Uint8Array[] = [];
  receive(f: Uint8Array): void {
    this.frames.push(f);
  }
  take(): Uint8Array[] {
    const f = this.frames;
    this.frames = [];
    return f;
  }
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function setup(opts: ConstructorParameters<typeof UserNet>[0] = {}) {
  const un = new UserNet(opts);
  const nic = new FakeNic();
  const ep = un.connect(nic);
  cleanups.push(() => un.close());
  const send = (ip: Uint8Array, dst: Uint8Array = ROUTER_MAC) => ep.send(buildEth(dst, MAC, ETHERTYPE_IPV4, ip));
  /** Poll until `pred` holds for the frames received so far (host sockets are asynchronous). */
  const until = async (pred: () => boolean, what: string) => {
    for (let i = 0; i < 400; i++) {
      un.poll();
      if (pred()) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  return { un, nic, ep, send, until };
}

function ipOf(f: Uint8Array) {
  const eth = parseEth(f)!;
  expect(eth.type).toBe(ETHERTYPE_IPV4);
  const ip = parseIpv4(eth.payload)!;
  expect(ip.checksumOk).toBe(true);
  return { eth, ip };
}

function tcpOf(f: Uint8Array): { seg: TcpSegment; src: number; dst: number } {
  const { eth, ip } = ipOf(f);
  expect(eth.dst).toEqual(MAC);
  expect(eth.src).toEqual(ROUTER_MAC);
  expect(ip.proto).toBe(IPPROTO_TCP);
  const seg = parseTcp(ip)!;
  expect(seg.checksumOk).toBe(true);
  return { seg, src: ip.src, dst: ip.dst };
}

function dhcpMessage(type: number, extra: Map<number, Uint8Array> = new Map()): Uint8Array {
  const options = new Map<number, Uint8Array>([[53, Uint8Array.of(type)], ...extra]);
  return buildDhcp({ op: 1, xid: 0x1234_5678, secs: 0, flags: 0, ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: MAC, options });
}

describe('user network: ARP, DHCP, ICMP', () => {
  it('answers ARP for 10.0.2.2 and 10.0.2.3 with the router MAC, nothing for other addresses', () => {
    const { nic, ep } = setup();
    for (const tpa of [GATEWAY, DNS, ipFromString('10.0.2.77')]) {
      ep.send(buildEth(BROADCAST_MAC, MAC, ETHERTYPE_ARP, buildArp({ op: ARP_REQUEST, sha: MAC, spa: GUEST, tha: new Uint8Array(6), tpa })));
    }
    const out = nic.take();
    expect(out).toHaveLength(2);
    for (const [i, tpa] of [GATEWAY, DNS].entries()) {
      const eth = parseEth(out[i])!;
      expect(eth.type).toBe(ETHERTYPE_ARP);
      expect(eth.dst).toEqual(MAC);
      const a = parseArp(eth.payload)!;
      expect(a).toMatchObject({ op: ARP_REPLY, spa: tpa, tpa: GUEST });
      expect(a.sha).toEqual(ROUTER_MAC);
      expect(a.tha).toEqual(MAC);
    }
  });

  it('DHCP: DISCOVER → OFFER 10.0.2.15, REQUEST → ACK with mask, router, DNS, lease; a wrong address → NAK', () => {
    const { nic, ep } = setup();
    const dhcp = (payload: Uint8Array) => ep.send(buildEth(BROADCAST_MAC, MAC, ETHERTYPE_IPV4, buildUdp(0, 68, 0xffff_ffff, 67, payload)));
    const reply = () => {
      const [f] = nic.take();
      const { eth, ip } = ipOf(f);
      expect(eth.dst).toEqual(MAC);
      expect(ip.src).toBe(GATEWAY);
      expect(ip.dst).toBe(0xffff_ffff);
      const u = parseUdp(ip)!;
      expect(u.checksumOk).toBe(true);
      expect([u.sport, u.dport]).toEqual([67, 68]);
      return parseDhcp(u.payload)!;
    };
    dhcp(dhcpMessage(DHCPDISCOVER));
    const offer = reply();
    expect(offer.op).toBe(2);
    expect(offer.xid).toBe(0x1234_5678);
    expect(offer.yiaddr).toBe(GUEST);
    const opt = (m: typeof offer, c: number) => Array.from(m.options.get(c) ?? []);
    expect(opt(offer, 53)).toEqual([DHCPOFFER]);
    expect(opt(offer, 54)).toEqual([10, 0, 2, 2]);
    expect(opt(offer, 1)).toEqual([255, 255, 255, 0]);
    expect(opt(offer, 3)).toEqual([10, 0, 2, 2]);
    expect(opt(offer, 6)).toEqual([10, 0, 2, 3]);
    expect(opt(offer, 51)).toEqual([0, 1, 0x51, 0x80]); // 86400 s
    dhcp(dhcpMessage(DHCPREQUEST, new Map([[50, Uint8Array.of(10, 0, 2, 15)], [54, Uint8Array.of(10, 0, 2, 2)]])));
    const ack = reply();
    expect(opt(ack, 53)).toEqual([DHCPACK]);
    expect(ack.yiaddr).toBe(GUEST);
    dhcp(dhcpMessage(DHCPREQUEST, new Map([[50, Uint8Array.of(10, 0, 2, 99)]])));
    const nak = reply();
    expect(opt(nak, 53)).toEqual([DHCPNAK]);
    expect(nak.yiaddr).toBe(0);
    // A REQUEST for another server's offer gets no answer (RFC 2131 §4.3.2).
    dhcp(dhcpMessage(DHCPREQUEST, new Map([[50, Uint8Array.of(10, 0, 2, 15)], [54, Uint8Array.of(10, 0, 2, 9)]])));
    expect(nic.take()).toHaveLength(0);
  });

  it('ICMP echo to the gateway: an echo reply with the same identifier, sequence and data', () => {
    const { nic, send } = setup();
    const rest = Uint8Array.of(0x12, 0x34, 0x00, 0x07, ...Array.from({ length: 56 }, (_, i) => i));
    send(buildIpv4(GUEST, GATEWAY, IPPROTO_ICMP, buildIcmp(8, 0, rest)));
    const [f] = nic.take();
    const { ip } = ipOf(f);
    expect([ip.src, ip.dst, ip.proto]).toEqual([GATEWAY, GUEST, IPPROTO_ICMP]);
    expect(ip.payload[0]).toBe(0);
    expect(checksum(ip.payload)).toBe(0);
    expect(ip.payload.subarray(4)).toEqual(rest);
    // A bad ICMP checksum is dropped.
    const bad = buildIcmp(8, 0, rest);
    bad[2] ^= 1;
    send(buildIpv4(GUEST, GATEWAY, IPPROTO_ICMP, bad));
    expect(nic.take()).toHaveLength(0);
  });

  it('drops IPv4 packets with a bad header checksum and fragments', () => {
    const { nic, send, un } = setup();
    const p = buildIpv4(GUEST, GATEWAY, IPPROTO_ICMP, buildIcmp(8, 0, new Uint8Array(8)));
    p[10] ^= 0xff;
    send(p);
    const frag = buildIpv4(GUEST, GATEWAY, IPPROTO_ICMP, buildIcmp(8, 0, new Uint8Array(8)));
    frag[6] = 0x20; // MF
    frag[10] = frag[11] = 0;
    const c = checksum(frag, 0, 20);
    frag[10] = c >> 8;
    frag[11] = c & 0xff;
    send(frag);
    expect(nic.take()).toHaveLength(0);
    expect(un.stats.dropped).toBe(2);
  });

  it('packets for a guest address without a known MAC wait for an ARP reply', () => {
    const { nic, ep, un } = setup();
    un.ipToGuest(buildIpv4(GATEWAY, GUEST, IPPROTO_ICMP, buildIcmp(0, 0, new Uint8Array(4))));
    const [req] = nic.take();
    const eth = parseEth(req)!;
    expect(eth.dst).toEqual(BROADCAST_MAC);
    expect(parseArp(eth.payload)).toMatchObject({ op: ARP_REQUEST, spa: GATEWAY, tpa: GUEST });
    ep.send(buildEth(ROUTER_MAC, MAC, ETHERTYPE_ARP, buildArp({ op: ARP_REPLY, sha: MAC, spa: GUEST, tha: ROUTER_MAC, tpa: GATEWAY })));
    const [f] = nic.take();
    expect(parseEth(f)!.dst).toEqual(MAC);
  });
});

describe('user network: UDP and DNS through host sockets', () => {
  it('UDP to 10.0.2.2:P reaches 127.0.0.1:P; the answer comes back from 10.0.2.2:P', async () => {
    const server = dgram.createSocket('udp4');
    cleanups.push(() => server.close());
    const got: string[] = [];
    server.on('message', (m, r) => {
      got.push(m.toString());
      server.send(Buffer.from(`echo ${m}`), r.port, r.address);
    });
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    const port = server.address().port;
    const { nic, send, until } = setup();
    send(buildUdp(GUEST, 40000, GATEWAY, port, new TextEncoder().encode('ping')));
    await until(() => nic.frames.length > 0, 'the UDP answer');
    expect(got).toEqual(['ping']);
    const { ip } = ipOf(nic.take()[0]);
    const u = parseUdp(ip)!;
    expect([ip.src, ip.dst, u.sport, u.dport, u.checksumOk]).toEqual([GATEWAY, GUEST, port, 40000, true]);
    expect(new TextDecoder().decode(u.payload)).toBe('echo ping');
  });

  it('DNS: a query to 10.0.2.3:53 goes to the configured resolver (a stub on the loopback); the answer comes from 10.0.2.3:53', async () => {
    const stub = dgram.createSocket('udp4');
    cleanups.push(() => stub.close());
    stub.on('message', (q, r) => {
      // Answer: same id, QR set, one A record for the question (RFC 1035 §4.1).
      const a = Buffer.concat([q, Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7])]);
      a[2] |= 0x80;
      a.writeUInt16BE(1, 6);
      stub.send(a, r.port, r.address);
    });
    await new Promise<void>((r) => stub.bind(0, '127.0.0.1', r));
    const { nic, send, until } = setup({ dns: { host: '127.0.0.1', port: stub.address().port } });
    const q = Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, ...Buffer.from('host'), 4, ...Buffer.from('test'), 0, 0, 1, 0, 1]);
    send(buildUdp(GUEST, 33333, DNS, 53, q));
    await until(() => nic.frames.length > 0, 'the DNS answer');
    const { ip } = ipOf(nic.take()[0]);
    const u = parseUdp(ip)!;
    expect([ip.src, u.sport, u.dport]).toEqual([DNS, 53, 33333]);
    expect(Array.from(u.payload.subarray(0, 2))).toEqual([0xab, 0xcd]);
    expect(Array.from(u.payload.subarray(-4))).toEqual([10, 9, 8, 7]);
  });
});

/** The guest's end of a TCP connection, driven by hand. */
function guestTcp(send: (ip: Uint8Array) => void, sport: number, dst: number, dport: number) {
  let seq = 0x1000_0000;
  let ack = 0;
  return {
    get seq() {
      return seq;
    },
    get ack() {
      return ack;
    },
    set ack(v: number) {
      ack = v;
    },
    seg(flags: number, payload?: Uint8Array, window = 64000) {
      send(buildTcp({ src: GUEST, sport, dst, dport, seq, ack, flags, window, ...(flags & TCP_SYN ? { mss: 1460 } : {}), ...(payload ? { payload } : {}) }));
      seq = (seq + (payload?.length ?? 0) + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0)) >>> 0;
    },
  };
}

describe('user network: TCP NAT', () => {
  it('a guest connection to 10.0.2.2:P becomes a host connection to 127.0.0.1:P; data and FINs both ways', async () => {
    const received: Buffer[] = [];
    let serverSock: net.Socket | null = null;
    let serverEnded = false;
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      serverSock = s;
      s.on('data', (d) => received.push(d));
      s.on('end', () => (serverEnded = true));
    });
    cleanups.push(() => server.close());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const { nic, send, until } = setup();
    const g = guestTcp(send, 45000, GATEWAY, port);
    g.seg(TCP_SYN);
    expect(nic.frames).toHaveLength(0); // SYN-ACK only once the host connected
    await until(() => nic.frames.length > 0, 'SYN-ACK');
    const synack = tcpOf(nic.take()[0]).seg;
    expect(synack.flags).toBe(TCP_SYN | TCP_ACK);
    expect(synack.ack).toBe(0x1000_0001);
    expect(synack.mss).toBe(1460);
    expect(synack.wscale).toBeNull(); // no window scaling
    g.ack = (synack.seq + 1) >>> 0;
    g.seg(TCP_ACK);
    g.seg(TCP_ACK | TCP_PSH, new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n'));
    const dataAck = tcpOf(nic.take().at(-1)!).seg;
    expect(dataAck.ack).toBe(g.seq);
    await until(() => Buffer.concat(received).length === 18, 'the host to get the bytes');
    expect(Buffer.concat(received).toString()).toBe('GET / HTTP/1.0\r\n\r\n');
    // Host → guest: 3000 bytes arrive in MSS-sized segments, then the host's FIN.
    const body = Buffer.alloc(3000, 0x61);
    serverSock!.end(body);
    const segs: TcpSegment[] = [];
    await until(() => {
      for (const f of nic.take()) segs.push(tcpOf(f).seg);
      return segs.some((s) => s.flags & TCP_FIN);
    }, 'data and FIN');
    const data = segs.filter((s) => s.payload.length > 0);
    expect(data.map((s) => s.payload.length)).toEqual([1460, 1460, 80]);
    expect(data[0].seq).toBe(g.ack);
    const fin = segs.find((s) => s.flags & TCP_FIN)!;
    expect(fin.seq).toBe((g.ack + 3000) >>> 0);
    g.ack = (fin.seq + 1) >>> 0;
    g.seg(TCP_ACK);
    g.seg(TCP_FIN | TCP_ACK);
    await until(() => serverEnded, 'the host to see the guest FIN');
    const last = tcpOf(nic.take().at(-1)!).seg;
    expect(last.flags & TCP_ACK).toBeTruthy();
    expect(last.ack).toBe(g.seq);
  });

  it('data the guest does not acknowledge is sent again (go-back-N after the retransmission timeout); a zero window holds data back', async () => {
    let serverSock: net.Socket | null = null;
    const server = net.createServer((sk) => (serverSock = sk));
    cleanups.push(() => server.close());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const { nic, send, until } = setup();
    const g = guestTcp(send, 45010, GATEWAY, port);
    g.seg(TCP_SYN);
    await until(() => nic.frames.length > 0, 'SYN-ACK');
    const synack = tcpOf(nic.take()[0]).seg;
    g.ack = (synack.seq + 1) >>> 0;
    g.seg(TCP_ACK, undefined, 0); // window 0: nothing may be sent
    await until(() => serverSock !== null, 'the host side');
    serverSock!.write('x'.repeat(100));
    await new Promise((r) => setTimeout(r, 50));
    // Nothing but (at most) a window probe while the window is 0.
    await until(() => true, 'a poll');
    expect(nic.take().filter((f) => tcpOf(f).seg.payload.length > 0)).toHaveLength(0);
    g.seg(TCP_ACK, undefined, 64000); // window opens: the 100 bytes go out
    const first: TcpSegment[] = [];
    await until(() => {
      for (const f of nic.take()) first.push(tcpOf(f).seg);
      return first.some((x) => x.payload.length === 100);
    }, 'the data');
    const data = first.find((x) => x.payload.length === 100)!;
    // Not acknowledged: the same bytes again after the timeout (~400 ms).
    const t0 = performance.now();
    const again: TcpSegment[] = [];
    await until(() => {
      for (const f of nic.take()) again.push(tcpOf(f).seg);
      return again.some((x) => x.payload.length === 100);
    }, 'the retransmission');
    expect(performance.now() - t0).toBeGreaterThan(300);
    const re = again.find((x) => x.payload.length === 100)!;
    expect(re.seq).toBe(data.seq);
    expect(re.payload).toEqual(data.payload);
  });

  it('a connection to a closed host port is refused with RST-ACK; a segment for no connection gets a RST', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const { nic, send, until } = setup();
    const g = guestTcp(send, 45001, GATEWAY, port);
    g.seg(TCP_SYN);
    await until(() => nic.frames.length > 0, 'the refusal');
    const rst = tcpOf(nic.take()[0]).seg;
    expect(rst.flags).toBe(TCP_RST | TCP_ACK);
    expect(rst.ack).toBe(g.seq);
    g.ack = 12345;
    g.seg(TCP_ACK, new Uint8Array(10));
    const r2 = tcpOf(nic.take()[0]).seg;
    expect(r2.flags).toBe(TCP_RST);
    expect(r2.seq).toBe(12345);
    // Nonexistent 10.0.2.x hosts: reset at once.
    const g3 = guestTcp(send, 45002, ipFromString('10.0.2.50'), 80);
    g3.seg(TCP_SYN);
    expect(tcpOf(nic.take()[0]).seg.flags).toBe(TCP_RST | TCP_ACK);
  });

  it('hostfwd: a host connection to the listener becomes a guest connection to 10.0.2.15:80 from 10.0.2.2', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const hostPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const { nic, send, until, un } = setup({ hostfwd: [parseHostForward(`tcp:127.0.0.1:${hostPort}-:80`)] });
    await un.listen();
    // The guest is known (as after DHCP / its first packet).
    send(buildIpv4(GUEST, GATEWAY, IPPROTO_ICMP, buildIcmp(8, 0, new Uint8Array(4))));
    nic.take();
    const client = net.connect({ host: '127.0.0.1', port: hostPort, allowHalfOpen: true });
    cleanups.push(() => client.destroy());
    const got: Buffer[] = [];
    let clientEnded = false;
    client.on('data', (d) => got.push(d));
    client.on('end', () => (clientEnded = true));
    client.write('GET /hello.txt HTTP/1.0\r\n\r\n');
    await until(() => nic.frames.length > 0, 'the SYN to the guest');
    const syn = tcpOf(nic.take()[0]);
    expect(syn.seg.flags).toBe(TCP_SYN);
    expect([syn.src, syn.dst, syn.seg.dport]).toEqual([GATEWAY, GUEST, 80]);
    expect(syn.seg.mss).toBe(1460);
    // The guest answers SYN-ACK from its port 80.
    let gseq = 0x2000_0000;
    const gsend = (flags: number, ack: number, payload?: Uint8Array) => {
      send(buildTcp({ src: GUEST, sport: 80, dst: GATEWAY, dport: syn.seg.sport, seq: gseq, ack, flags, window: 64000, ...(payload ? { payload } : {}) }));
      gseq = (gseq + (payload?.length ?? 0) + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0)) >>> 0;
    };
    gsend(TCP_SYN | TCP_ACK, syn.seg.seq + 1);
    const segs: TcpSegment[] = [];
    await until(() => {
      for (const f of nic.take()) segs.push(tcpOf(f).seg);
      return segs.reduce((n, s) => n + s.payload.length, 0) >= 27;
    }, 'the request bytes');
    expect(segs[0].flags).toBe(TCP_ACK);
    expect(segs[0].ack).toBe(0x2000_0001);
    const req = Buffer.concat(segs.map((s) => s.payload)).toString();
    expect(req).toBe('GET /hello.txt HTTP/1.0\r\n\r\n');
    const ackTo = (segs.at(-1)!.seq + segs.at(-1)!.payload.length) >>> 0;
    gsend(TCP_ACK | TCP_PSH | TCP_FIN, ackTo, new TextEncoder().encode('HTTP/1.0 200 OK\r\n\r\nhi'));
    await until(() => clientEnded, 'the host client to get the answer and the FIN');
    expect(Buffer.concat(got).toString()).toBe('HTTP/1.0 200 OK\r\n\r\nhi');
    expect(un.stats.tcpForwarded).toBe(1);
  });

  it('hostfwd: a guest RST (nothing listening on the guest port) closes the host connection', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const hostPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const { nic, send, until, un } = setup({ hostfwd: [parseHostForward(`tcp:127.0.0.1:${hostPort}-:81`)] });
    await un.listen();
    send(buildIpv4(GUEST, GATEWAY, IPPROTO_ICMP, buildIcmp(8, 0, new Uint8Array(4))));
    nic.take();
    const client = net.connect({ host: '127.0.0.1', port: hostPort });
    let closed = false;
    client.on('close', () => (closed = true));
    client.on('error', () => {});
    await until(() => nic.frames.length > 0, 'the SYN');
    const syn = tcpOf(nic.take()[0]).seg;
    send(buildTcp({ src: GUEST, sport: 81, dst: GATEWAY, dport: syn.sport, seq: 0, ack: syn.seq + 1, flags: TCP_RST | TCP_ACK, window: 0 }));
    await until(() => closed, 'the host connection to close');
  });
});

describe('user network: UDP hostfwd', () => {
  it('a datagram to the host port reaches the guest port from 10.0.2.2; the guest reply goes back to the sender', async () => {
    const hostPort = await new Promise<number>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const { nic, send, until, un } = setup({ hostfwd: [parseHostForward(`udp:127.0.0.1:${hostPort}-:5353`)] });
    await un.listen();
    send(buildIpv4(GUEST, GATEWAY, IPPROTO_ICMP, buildIcmp(8, 0, new Uint8Array(4))));
    nic.take();
    const client = dgram.createSocket('udp4');
    cleanups.push(() => client.close());
    const answers: string[] = [];
    client.on('message', (m) => answers.push(m.toString()));
    client.send(Buffer.from('query'), hostPort, '127.0.0.1');
    await until(() => nic.frames.length > 0, 'the forwarded datagram');
    const { ip } = ipOf(nic.take()[0]);
    const u = parseUdp(ip)!;
    expect([ip.src, ip.dst, u.dport, u.checksumOk]).toEqual([GATEWAY, GUEST, 5353, true]);
    expect(new TextDecoder().decode(u.payload)).toBe('query');
    send(buildUdp(GUEST, 5353, GATEWAY, u.sport, new TextEncoder().encode('answer')));
    await until(() => answers.length > 0, 'the reply at the host client');
    expect(answers).toEqual(['answer']);
  });
});

describe('hostfwd syntax (QEMU: [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport)', () => {
  it('parses the forms QEMU accepts', () => {
    expect(parseHostForward('tcp:127.0.0.1:8080-:80')).toEqual({ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 8080, guestAddr: GUEST, guestPort: 80 });
    expect(parseHostForward('::2222-:22')).toMatchObject({ proto: 'tcp', hostAddr: '', hostPort: 2222, guestPort: 22 });
    expect(parseHostForward('udp::5353-10.0.2.16:53')).toMatchObject({ proto: 'udp', guestAddr: ipFromString('10.0.2.16'), guestPort: 53 });
  });
  it.each(['tcp:127.0.0.1:8080', 'tcp:127.0.0.1:0-:80', 'sctp::1-:2', 'tcp::1-192.168.1.1:80', 'tcp:example:1-:2', 'tcp::70000-:1'])('refuses %s', (s) => {
    expect(() => parseHostForward(s)).toThrow();
  });
});
