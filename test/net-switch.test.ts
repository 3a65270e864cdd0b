/**
 * Issue 13 scope 3: a named L2 switch between VMs of one host. The learning bridge packet by packet
 * (flooding, learning, filtering), then the bar: two Linux VMs of `cyclevisor host`, each with a
 * virtio-net NIC on switch lan0, ping each other (the network test image, nettest=lan).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NetSwitch } from '../src/net/switch.js';
import { macFromName, type NicPort } from '../src/net/link.js';
import { buildEth, BROADCAST_MAC, ETHERTYPE_IPV4 } from '../src/net/packet.js';
import { Host } from '../src/hypervisor/host.js';
import * as L from '../src/generated/layout.js';
import { buildNetInitramfs } from '../scripts/net-initramfs.js';

const GUESTS = join(import.meta.dirname, '..', '..', 'shared', 'guests');
const KERNEL = join(GUESTS, 'linux-6.1-rv64.Image');
const have = existsSync(KERNEL) && existsSync(join(GUESTS, 'initramfs-busybox.cpio.gz'));
const MiB = 1024 * 1024;

class Port implements NicPort {
  got: Uint8Array[] = [];
  constructor(readonly mac: Uint8Array) {}
  receive(f: Uint8Array): void {
    this.got.push(f);
  }
}

describe('NetSwitch (learning bridge)', () => {
  it('floods broadcasts and unknown destinations, learns sources, then forwards to one port only', () => {
    const sw = new NetSwitch('lan0');
    const [a, b, c] = [1, 2, 3].map((i) => new Port(Uint8Array.of(0x52, 0x54, 0, 0, 0, i)));
    const [ea, eb, ec] = [a, b, c].map((p) => sw.connect(p));
    const frame = (dst: Uint8Array, src: Uint8Array) => buildEth(dst, src, ETHERTYPE_IPV4, new Uint8Array(46));
    ea.send(frame(BROADCAST_MAC, a.mac)); // a's ARP request: everyone but a
    expect([a.got.length, b.got.length, c.got.length]).toEqual([0, 1, 1]);
    eb.send(frame(a.mac, b.mac)); // b answers a: a is known now, only a gets it
    expect([a.got.length, b.got.length, c.got.length]).toEqual([1, 1, 1]);
    ea.send(frame(b.mac, a.mac)); // b was learnt from its reply
    expect([a.got.length, b.got.length, c.got.length]).toEqual([1, 2, 1]);
    ec.send(frame(Uint8Array.of(0x52, 0x54, 0, 0, 0, 9), c.mac)); // unknown: flooded
    expect([a.got.length, b.got.length, c.got.length]).toEqual([2, 3, 1]);
    ea.send(frame(a.mac, a.mac)); // to itself: filtered
    expect(sw.stats).toEqual({ forwarded: 2, flooded: 2, filtered: 1 });
    expect(sw.macTable().get('525400000001')).toBe(0);
    eb.close();
    ea.send(frame(b.mac, a.mac)); // b's port is gone: unknown again, flooded to c
    expect(c.got.length).toBe(2);
  });

  it('MACs derived from VM names are stable, locally administered, unicast', () => {
    expect(macFromName('web')).toEqual(macFromName('web'));
    expect(macFromName('web')).not.toEqual(macFromName('db'));
    expect(macFromName('web', 0)).not.toEqual(macFromName('web', 1));
    expect(Array.from(macFromName('web').subarray(0, 3))).toEqual([0x52, 0x54, 0x00]);
  });
});

describe('the VMM and guest user mode', () => {
  // Priv §8.2: scounteren has no VS copy, so with V = 1 the real scounteren gates VU-mode counter
  // reads. It must hold what OpenSBI gives a kernel (CY, TM, IR): busybox ping reads `time` through
  // the vDSO and died of SIGILL in a VM before (found by the two-VM ping below).
  it('every host hart has scounteren = 7 (cycle, time, instret readable from VU)', () => {
    const host = new Host({ harts: 2, ramBytes: 64 * MiB });
    for (let h = 0; h < 2; h++) {
      host.core.switchHart(h);
      expect(host.core.getCsr(L.H_SCOUNTEREN)).toBe(7n);
    }
    host.close();
  });
});

describe.skipIf(!have)('two VMs on switch lan0 (needs ../shared/guests)', () => {
  it('each pings the other through virtio-net and the switch', () => {
    const initrd = buildNetInitramfs();
    const host = new Host({ harts: 2, ramBytes: 512 * MiB });
    const sw = new NetSwitch('lan0');
    const vm = (name: string, ip: string, peer: string) =>
      host.addVm({
        name,
        vcpus: 1,
        memoryBytes: 192 * MiB,
        kernel: KERNEL,
        initrd,
        cmdline: `console=ttyS0 nettest=lan netip=${ip} netpeer=${peer}`,
        nics: [{ mac: macFromName(name), backend: sw }],
      });
    const a = vm('alpha', '192.168.7.1', '192.168.7.2');
    const b = vm('beta', '192.168.7.2', '192.168.7.1');
    const r = host.run({ maxHostCycles: 60e9 });
    const oa = a.outputText();
    const ob = b.outputText();
    expect(oa).toContain('net: eth0 192.168.7.1');
    expect(oa).toContain('net: ping 192.168.7.2 ok (3 replies)');
    expect(oa).toContain('net: answered 4 echo requests');
    expect(ob).toContain('net: answered 4 echo requests');
    expect(ob).toContain('net: ping 192.168.7.1 ok (3 replies)');
    expect(oa).toContain('AUTOTEST DONE');
    expect(ob).toContain('AUTOTEST DONE');
    expect(r).toEqual({ code: 0 });
    expect(sw.stats.forwarded).toBeGreaterThan(10);
    expect(sw.macTable().size).toBe(2);
    host.close();
  }, 300_000);
});
