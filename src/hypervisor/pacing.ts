/**
 * Idle pacing for `cyclevisor host --pace on` (QEMU `-icount sleep=on` semantics, as the bare
 * board's runAsync pace in src/board/virt.ts): each VM has its own virtual clock (vm.ts), which
 * jumps to its next wake-up when every vCPU waits. With pacing, such a jump is held until the wall
 * clock has caught up with it: the VM is `held` (not runnable), and when no VM can run the host
 * process sleeps in wall time (a timer, never a spin) until the first held VM is due, or until
 * input (console, control socket, a packet from a host socket) ends the sleep early. So an idle
 * VM's virtual time follows the wall clock, and its timeouts (the agent `shutdown_timeout`, DHCP
 * and TCP timers) last as long as they say.
 *
 * Each VM is paced against its own anchor (a wall time paired with a VM clock value). Virtual time
 * may fall behind the wall clock while the VM computes (the model runs slower than the CPU it
 * models) or while others use the host: idle time makes up a lag up to PACE_MAX_LAG_MS; a longer
 * lag (a paused VM, a stopped process) is dropped, not fast-forwarded through.
 *
 * Guest-visible results do not change: pacing only decides *when in wall time* a VM's clock jump
 * happens, never to where — except on an early wake-up by host input, which moves the VM's clock to
 * the wall time the input came (never past the wake-up it waited for); live input is not
 * reproducible anyway. Nothing here is read by the core or the devices.
 */
import type { Vm } from './vm.js';

/** Shorter waits than this are not worth a timer: the clock jumps at once. */
export const PACE_MIN_MS = 1;
/** A lag behind the wall clock up to this is made up; a longer one is dropped (re-anchored). */
export const PACE_MAX_LAG_MS = 1000;

interface Anchor {
  wall: number;
  cycles: number;
}

export class HostPacer {
  private readonly anchors = new Map<Vm, Anchor>();
  /** Held VMs: the wall time (ms) their clock jump is due and the VM time it jumps to. */
  private readonly held = new Map<Vm, { due: number; next: number }>();

  /**
   * @param cpuHz cycles per virtual second (src/timing.ts)
   * @param wallMs the wall clock in ms (tests may pass a fake one)
   */
  constructor(
    private readonly cpuHz: number,
    private readonly wallMs: () => number = () => performance.now(),
  ) {}

  /** Pace this VM from now on. */
  attach(vm: Vm): void {
    vm.pace = (v, next) => this.gate(v, next);
  }

  /** Stop pacing a VM (it is released if held). */
  detach(vm: Vm): void {
    vm.pace = null;
    vm.held = false;
    this.held.delete(vm);
    this.anchors.delete(vm);
  }

  /** The VM's clock would jump to `next`: true to let it (due now), false to hold it. */
  private gate(vm: Vm, next: number): boolean {
    const now = this.wallMs();
    let a = this.anchors.get(vm);
    const dueAt = (x: Anchor) => x.wall + ((next - x.cycles) / this.cpuHz) * 1000;
    // No anchor yet, the clock went back (a reboot keeps it, but be safe), or a lag too long to
    // make up (paused, started late, a long computation, a stopped process): pace on from here.
    if (a === undefined || next < a.cycles || now - dueAt(a) > PACE_MAX_LAG_MS) {
      a = { wall: now, cycles: vm.now };
      this.anchors.set(vm, a);
    }
    const due = dueAt(a);
    if (due - now < PACE_MIN_MS) return true;
    this.held.set(vm, { due, next });
    return false;
  }

  /** Wall time (ms) the first held VM is due; Infinity when none is held. */
  nextDue(): number {
    let t = Infinity;
    for (const h of this.held.values()) t = Math.min(t, h.due);
    return t;
  }

  /** Is some held VM due by wall time `now`? */
  anyDue(now: number = this.wallMs()): boolean {
    return this.nextDue() <= now;
  }

  /** Release every held VM whose time has come (its clock jumps on its next round). */
  releaseDue(now: number = this.wallMs()): number {
    let n = 0;
    for (const [vm, h] of this.held) {
      if (h.due <= now || !vm.held) {
        this.held.delete(vm);
        vm.held = false;
        n++;
      }
    }
    return n;
  }

  /**
   * Host input came (console bytes, a control command, a packet from a host socket): release the
   * held VMs (all of them, or just `only`) now, each clock moved to the wall time of the input
   * (never past the wake-up it waited for), so the guest sees the input when the host did.
   */
  wakeEarly(only?: Vm): void {
    const now = this.wallMs();
    for (const [vm, h] of this.held) {
      if (only !== undefined && vm !== only) continue;
      this.held.delete(vm);
      vm.held = false;
      const a = this.anchors.get(vm);
      if (a === undefined || vm.state !== 'running') continue;
      const c = Math.floor(Math.min(a.cycles + ((now - a.wall) / 1000) * this.cpuHz, h.next));
      if (c > vm.now) vm.now = c;
    }
  }

  /** How many VMs are held now. */
  get heldCount(): number {
    return this.held.size;
  }
}
