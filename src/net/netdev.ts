/**
 * `--netdev user[,hostfwd=RULE]...[,mac=MAC]` (boot): QEMU's `-nic user,...` option string — a
 * virtio-net NIC plugged into a user-mode network (slirp.ts). Items are comma-separated, as in QEMU;
 * `hostfwd` may repeat. `id=` and `model=virtio`/`virtio-net-device` are accepted for QEMU command
 * lines (the NIC is always virtio-net on virtio-mmio).
 */
import { UserError } from '../errors.js';
import { macFromString } from './packet.js';
import { UserNet, parseHostForward, type HostForward } from './slirp.js';
import { defaultMac } from './link.js';

export interface NetdevSpec {
  type: 'user';
  hostfwd: HostForward[];
  /** null: QEMU's default 52:54:00:12:34:56 (+ index). */
  mac: Uint8Array | null;
}

export function parseNetdev(text: string): NetdevSpec {
  const usage = 'expected user[,hostfwd=tcp:HOSTADDR:PORT-:PORT][,mac=52:54:00:..]';
  const items = text.split(',');
  const type = items[0]!.trim().toLowerCase();
  if (type === '') throw new UserError(`--netdev ${text}: no network type (${usage})`);
  if (type !== 'user') {
    throw new UserError(`--netdev ${text}: only user networking is supported on boot (--netdev user); switches connect VMs of cyclevisor host (nics: in the VM file)`);
  }
  const spec: NetdevSpec = { type: 'user', hostfwd: [], mac: null };
  for (const item of items.slice(1)) {
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : item.slice(eq + 1).trim();
    switch (key) {
      case 'hostfwd':
        try {
          spec.hostfwd.push(parseHostForward(value));
        } catch (e) {
          throw new UserError(`--netdev ${text}: hostfwd ${(e as Error).message}`);
        }
        break;
      case 'mac': {
        const mac = macFromString(value);
        if (!mac) throw new UserError(`--netdev ${text}: mac=${value} is not a MAC address like 52:54:00:12:34:56`);
        if (mac[0] & 1) throw new UserError(`--netdev ${text}: mac=${value} is a multicast address (the first byte must be even)`);
        spec.mac = mac;
        break;
      }
      case 'id':
        break;
      case 'model':
        if (value !== 'virtio' && value !== 'virtio-net-device') throw new UserError(`--netdev ${text}: the NIC is virtio-net (model=virtio), got model=${value}`);
        break;
      case '':
        throw new UserError(`--netdev ${text}: empty item (${usage})`);
      default:
        throw new UserError(`--netdev ${text}: unknown item '${item}' (${usage})`);
    }
  }
  return spec;
}

/**
 * The user networks of `--netdev` options, listening (hostfwd), with their NICs' MACs (QEMU's
 * default 52:54:00:12:34:56, +1 for each further NIC, unless mac= is given). A listener that
 * cannot open is one UserError line (exit 2); the networks opened before it are closed.
 */
export async function openUserNetworks(specs: readonly NetdevSpec[]): Promise<Array<{ net: UserNet; mac: Uint8Array }>> {
  const out: Array<{ net: UserNet; mac: Uint8Array }> = [];
  try {
    for (const [i, s] of specs.entries()) {
      const net = new UserNet({ hostfwd: s.hostfwd });
      out.push({ net, mac: s.mac ?? defaultMac(i) });
      try {
        await net.listen();
      } catch (e) {
        throw new UserError(`--netdev ${s.type}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    for (const o of out) o.net.close();
    throw e;
  }
  return out;
}
