/**
 * The guest-agent channel (issue 10 scope 6, libvirt's `shutdown --mode agent`): the VMM's end of
 * a VM's virtio-console (devices/virtio-console.ts), spoken to by the small agent of
 * test/guests/agent/ (`/sbin/cv-agent`, packed into an initramfs by scripts/agent-initramfs.ts).
 *
 * The protocol is lines of text (the port is an hvc terminal in the guest):
 *   guest → host   `cv-agent: ready`            the agent runs and listens (sent at start)
 *                  `cv-agent: ok <command>`     it is carrying the command out
 *                  anything else                ignored (a terminal's echo, kernel noise)
 *   host → guest   `shutdown`                   sync, then power off (SBI SRST shutdown)
 *                  `ping`                       answered by `cv-agent: pong`
 * Like qemu-ga's guest-sync, `ready` is how the host knows an agent is there: until it has been
 * seen (again, after each reset of the VM), `shutdown` is refused with one line.
 *
 * Deterministic: lines are parsed as the guest transmits them, on the VM's clock; what the host
 * sends is queued in the device and delivered into the guest's receive buffers.
 */
import type { VirtioConsole } from '../../devices/virtio-console.js';

export const AGENT_PREFIX = 'cv-agent: ';
/** A guest line longer than this is cut (the agent's lines are short). */
const MAX_LINE = 256;

export class GuestAgent {
  /** An agent announced itself since the VM (re)started. */
  ready = false;
  /** Agent lines seen (after the prefix), oldest first, at most 32 kept (tests, diagnostics). */
  readonly lines: string[] = [];
  private line = '';

  constructor(private readonly device: VirtioConsole) {}

  /** Bytes the guest wrote to the port. */
  receive(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (b === 0x0a || b === 0x0d) {
        this.endLine();
        continue;
      }
      if (this.line.length < MAX_LINE) this.line += String.fromCharCode(b);
    }
  }

  private endLine(): void {
    const l = this.line;
    this.line = '';
    if (!l.startsWith(AGENT_PREFIX)) return;
    const msg = l.slice(AGENT_PREFIX.length).trim();
    if (msg === 'ready') this.ready = true;
    this.lines.push(msg);
    if (this.lines.length > 32) this.lines.shift();
  }

  /** Send one command line to the agent. */
  send(command: string): void {
    this.device.input(Buffer.from(`${command}\n`, 'latin1'));
  }

  /** The VM was reset: whatever agent ran is gone until it says `ready` again. */
  reset(): void {
    this.ready = false;
    this.line = '';
  }
}
