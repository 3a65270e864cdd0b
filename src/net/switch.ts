/**
 * A named virtual L2 switch (issue 13 scope 3): the NICs of the VMs of one host that name the same
 * network (`nics: [ { network: lan0 } ]`) are its ports. A learning bridge (IEEE 802.1D §7.8, the
 * part a simple switch needs): each frame teaches the switch that its source MAC sits behind the
 * port it came in on; a frame to a known unicast MAC goes out of that port only, a frame to a
 * broadcast, multicast or unknown MAC goes out of every other port (flooding). A frame is never
 * sent back out of the port it came from. No spanning tree (there are no loops: one switch), no
 * ageing (VMs do not move between ports; a port that closes forgets its MACs).
 *
 * Delivery is synchronous: the receiving NIC timestamps the frame with its own VM's clock and
 * delivers it through its RX event (devices/virtio-net.ts), so runs stay deterministic.
 */
import type { NetBackend, NetEndpoint, NicPort } from './link.js';
import { isMulticastMac, parseEth } from './packet.js';

export interface SwitchStats {
  forwarded: number;
  flooded: number;
  /** Frames whose destination is the port they came from (filtered). */
  filtered: number;
}

export class NetSwitch implements NetBackend {
  readonly stats: SwitchStats = { forwarded: 0, flooded: 0, filtered: 0 };
  private readonly ports = new Set<NicPort>();
  /** MAC (hex) → port. */
  private readonly table = new Map<string, NicPort>();

  constructor(readonly name: string) {}

  get portCount(): number {
    return this.ports.size;
  }

  /** The learnt MAC table: MAC → index of the port in connection order. */
  macTable(): Map<string, number> {
    const order = [...this.ports];
    return new Map([...this.table].map(([mac, p]) => [mac, order.indexOf(p)]));
  }

  connect(nic: NicPort): NetEndpoint {
    this.ports.add(nic);
    return {
      send: (f) => this.forward(nic, f),
      close: () => {
        this.ports.delete(nic);
        for (const [mac, p] of this.table) if (p === nic) this.table.delete(mac);
      },
    };
  }

  private forward(from: NicPort, f: Uint8Array): void {
    const eth = parseEth(f);
    if (!eth) return;
    const key = (m: Uint8Array) => Buffer.from(m).toString('hex');
    if (!isMulticastMac(eth.src)) this.table.set(key(eth.src), from);
    const to = isMulticastMac(eth.dst) ? undefined : this.table.get(key(eth.dst));
    if (to === from) {
      this.stats.filtered++;
      return;
    }
    if (to) {
      this.stats.forwarded++;
      to.receive(f);
      return;
    }
    this.stats.flooded++;
    for (const p of this.ports) if (p !== from) p.receive(f);
  }
}

/** The switches of one host, by name (created on first use). */
export class SwitchRegistry {
  private readonly switches = new Map<string, NetSwitch>();
  get(name: string): NetSwitch {
    let s = this.switches.get(name);
    if (!s) {
      s = new NetSwitch(name);
      this.switches.set(name, s);
    }
    return s;
  }
  all(): NetSwitch[] {
    return [...this.switches.values()];
  }
}
