/**
 * How a NIC and a network meet: the NIC is a `NicPort` (frames *to* the guest), the network hands
 * the NIC back a `NetEndpoint` (frames *from* the guest). A `NetBackend` (the user-mode network,
 * a switch) connects NICs. Frames are whole Ethernet II frames without FCS.
 *
 * Host-side I/O (sockets) happens outside the run loop, in Node's event loop. Such a backend is a
 * `HostPolled`: it queues what the host did and calls `wake()`; the machine calls `poll()` at its
 * next slice boundary, which is when those frames enter the guest's virtual time (docs/NETWORK.md:
 * such runs are not bit-reproducible).
 */
import { createHash } from 'node:crypto';

export interface NicPort {
  /** A frame for the guest (delivered by the NIC through its RX queue). */
  receive(frame: Uint8Array): void;
  /** The NIC's MAC address. */
  readonly mac: Uint8Array;
}

export interface NetEndpoint {
  /** A frame the guest transmitted. */
  send(frame: Uint8Array): void;
  /** Detach (the NIC goes away). */
  close(): void;
}

export interface NetBackend {
  connect(nic: NicPort): NetEndpoint;
}

export interface HostPolled {
  /** Deliver what host sockets produced since the last call (called at slice boundaries). */
  poll(): void;
  /** Called by the backend when host data is waiting for poll(); set by the machine. */
  wake: () => void;
  /** Close host sockets and listeners. */
  close(): void;
}

/** QEMU's default first MAC (net_client default 52:54:00:12:34:56, +1 per further NIC). */
export function defaultMac(index = 0): Uint8Array {
  return Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56 + index);
}

/**
 * A MAC derived from a VM's name (and NIC index): QEMU's locally administered 52:54:00 prefix, the
 * last three bytes from SHA-256(name '/' index). Same name, same MAC, on every run and host.
 */
export function macFromName(name: string, index = 0): Uint8Array {
  const h = createHash('sha256').update(`${name}/${index}`).digest();
  return Uint8Array.of(0x52, 0x54, 0x00, h[0], h[1], h[2]);
}
