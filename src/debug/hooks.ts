/**
 * Unicorn-style hooks on a machine: code (an address range, called before each instruction),
 * memory (load/store ranges, called after the access with its value), MMIO (device accesses, in
 * the bus), trap (every trap taken) and exit (the machine's end; VM exits under the VMM). Each add
 * returns a handle whose remove() takes the hook away; a callback returns `true` (or 'stop') to
 * pause the run: runSync/runAsync return `{ reason: 'paused' }` and running again goes on exactly
 * where it paused.
 *
 *   const hooks = MachineDebug.of(machine);
 *   const h = hooks.addCodeHook((e) => { console.log(e.pc.toString(16)); }, { begin: 0x80000000n, end: 0x80000fffn });
 *   machine.runSync();
 *   h.remove();
 *
 * Mechanism: code and memory hooks are the core's execute and watch ranges (assembly/debug.ts), so
 * nothing is written into guest memory and a run with hooks that do not stop ends with exactly the
 * counters of a run without them. Cost when unused: one compare per block boundary in the core,
 * one per device access in the bus (bench/hooks.ts measures it). A code hook makes the core stop
 * (return to the host) before every instruction in its range, so hook small ranges; a memory hook
 * makes every access to its pages take the core's slow path and the blocks touching it step.
 *
 * MachineDebug is also the board's DebugAgent for the gdb stub (gdbstub.ts): one per machine.
 */
import type { Core } from '../core.js';
import type { DebugAgent, RunResult, VirtMachine } from '../board/virt.js';
import type { AccessSize } from '../bus/types.js';
import type { Vm, VmExitEvent } from '../hypervisor/vm.js';
import { CoreDebug, StopReason, WATCH_READ, WATCH_WRITE, type DebugStop, type WatchKind } from './core-debug.js';

/** A callback's answer: true or 'stop' pauses the run; anything else goes on. */
export type HookResult = void | boolean | 'stop' | undefined;

export interface HookHandle {
  remove(): void;
}

/** Inclusive address range, as Unicorn's begin/end. Absent: every address. */
export interface HookRange {
  begin: bigint;
  end: bigint;
}

export interface CodeEvent {
  hart: number;
  pc: bigint;
  /** Instruction length (2 or 4), or 0 when pc does not translate to RAM. */
  size: number;
}
export interface MemEvent {
  hart: number;
  /** 'read' or 'write' (an AMO is reported once as each). */
  kind: 'read' | 'write';
  /** Virtual address of the access and its size in bytes. */
  address: bigint;
  size: number;
  /** The value loaded or stored (an AMO: memory before it). */
  value: bigint;
  /** pc of the next instruction (the access has completed). */
  pc: bigint;
}
export interface MmioEvent {
  kind: 'read' | 'write';
  /** Guest-physical address and size. */
  address: number;
  size: AccessSize;
  value: bigint;
  /** Name of the device region. */
  device: string;
}
export interface TrapEvent {
  hart: number;
  /** xcause (bit 63 set: interrupt). */
  cause: bigint;
  interrupt: boolean;
  tval: bigint;
  /** pc of the trapping (or interrupted) instruction. */
  epc: bigint;
  /** pc of the handler the trap went to. */
  pc: bigint;
}
export interface ExitEvent {
  kind: 'machine';
  result: RunResult;
}

type Listener = (stop: DebugStop) => 'pause' | 'resume';

interface CodeHook {
  cb: (e: CodeEvent) => HookResult;
  lo: bigint;
  hi: bigint;
  execId: number;
}
interface MemHook {
  cb: (e: MemEvent) => HookResult;
  begin: bigint;
  end: bigint;
  kinds: number;
  watchId: number;
}

const ALL_HI = 1n << 64n;

/**
 * Exit hook of the VMM (`cyclevisor host`): called after each VM exit of `vm` the VMM handled
 * (cause, classification, vCPU, guest pc). Observes only (the exit is handled as without it).
 */
export function addVmExitHook(vm: Vm, cb: (e: VmExitEvent) => void): HookHandle {
  const prev = vm.exitObserver;
  const all: Array<(e: VmExitEvent) => void> = (prev as { hooks?: Array<(e: VmExitEvent) => void> } | null)?.hooks ?? [];
  all.push(cb);
  const fan = Object.assign((e: VmExitEvent) => { for (const f of all.slice()) f(e); }, { hooks: all });
  vm.exitObserver = fan;
  return {
    remove: () => {
      const i = all.indexOf(cb);
      if (i >= 0) all.splice(i, 1);
      if (all.length === 0 && vm.exitObserver === fan) vm.exitObserver = null;
    },
  };
}
const machines = new WeakMap<VirtMachine, MachineDebug>();

function wantsStop(r: HookResult): boolean {
  return r === true || r === 'stop';
}

export class MachineDebug implements DebugAgent {
  /** The core's debugger tables (shared with the gdb stub). */
  readonly tables: CoreDebug;
  private readonly codeHooks: CodeHook[] = [];
  private readonly memHooks: MemHook[] = [];
  private readonly trapHooks: Array<(e: TrapEvent) => HookResult> = [];
  private readonly mmioHooks: Array<{ cb: (e: MmioEvent) => HookResult; lo: number; hi: number; kinds: number }> = [];
  private readonly exitHooks: Array<(e: ExitEvent) => void> = [];
  private readonly listeners: Listener[] = [];
  private pauseFlag = false;
  /** Set by the gdb stub: runAsync waits on it after a pause. */
  waitResume?: () => Promise<void>;

  /** The one MachineDebug of a machine (created and attached on first use). */
  static of(machine: VirtMachine): MachineDebug {
    let m = machines.get(machine);
    if (!m) {
      m = new MachineDebug(machine);
      machines.set(machine, m);
      machine.debugAgent = m;
    }
    return m;
  }

  private constructor(readonly machine: VirtMachine) {
    this.tables = new CoreDebug(machine.core);
  }

  get core(): Core {
    return this.machine.core;
  }

  // ------------------------------------------------------------------------------------ hooks

  /** Called before each instruction whose address is in `range` (default: every instruction). */
  addCodeHook(cb: (e: CodeEvent) => HookResult, range?: HookRange): HookHandle {
    const lo = range ? range.begin : 0n;
    const hi = range ? range.end + 1n : ALL_HI;
    if (hi <= lo) throw new Error('code hook: end must not be below begin');
    const h: CodeHook = { cb, lo, hi, execId: this.tables.addExec(lo, hi) };
    this.codeHooks.push(h);
    return {
      remove: () => {
        const i = this.codeHooks.indexOf(h);
        if (i < 0) return;
        this.codeHooks.splice(i, 1);
        this.tables.removeExec(h.execId);
      },
    };
  }

  /** Called after each load ('read'), store ('write') or both ('access') touching `range`. */
  addMemHook(kind: 'read' | 'write' | 'access', cb: (e: MemEvent) => HookResult, range: HookRange): HookHandle {
    if (range.end < range.begin) throw new Error('memory hook: end must not be below begin');
    const kinds = (kind === 'read' ? WATCH_READ : kind === 'write' ? WATCH_WRITE : WATCH_READ | WATCH_WRITE) as WatchKind;
    const h: MemHook = { cb, begin: range.begin, end: range.end, kinds, watchId: this.tables.addWatch(range.begin, range.end + 1n, kinds) };
    this.memHooks.push(h);
    return {
      remove: () => {
        const i = this.memHooks.indexOf(h);
        if (i < 0) return;
        this.memHooks.splice(i, 1);
        this.tables.removeWatch(h.watchId);
      },
    };
  }

  /**
   * Called after each device access (guest-physical `range`, default all) completed. Returning
   * stop pauses the run after the instruction that made the access.
   */
  addMmioHook(kind: 'read' | 'write' | 'access', cb: (e: MmioEvent) => HookResult, range?: { begin: number; end: number }): HookHandle {
    const h = {
      cb,
      lo: range?.begin ?? 0,
      hi: range?.end ?? Number.MAX_SAFE_INTEGER,
      kinds: kind === 'read' ? 1 : kind === 'write' ? 2 : 3,
    };
    this.mmioHooks.push(h);
    this.machine.bus.mmioHook = this.onMmio;
    return {
      remove: () => {
        const i = this.mmioHooks.indexOf(h);
        if (i < 0) return;
        this.mmioHooks.splice(i, 1);
        if (this.mmioHooks.length === 0) this.machine.bus.mmioHook = null;
      },
    };
  }

  /** Called after each trap taken (exception or interrupt), pc at the handler. */
  addTrapHook(cb: (e: TrapEvent) => HookResult): HookHandle {
    this.trapHooks.push(cb);
    this.tables.trapStop(true);
    return {
      remove: () => {
        const i = this.trapHooks.indexOf(cb);
        if (i < 0) return;
        this.trapHooks.splice(i, 1);
        this.tables.trapStop(false);
      },
    };
  }

  /** Called once when a run ends (guest exit, limits, error; not a pause). */
  addExitHook(cb: (e: ExitEvent) => void): HookHandle {
    this.exitHooks.push(cb);
    return {
      remove: () => {
        const i = this.exitHooks.indexOf(cb);
        if (i >= 0) this.exitHooks.splice(i, 1);
      },
    };
  }

  /** The gdb stub's view of stops (after the hooks ran). */
  addListener(l: Listener): HookHandle {
    this.listeners.push(l);
    return {
      remove: () => {
        const i = this.listeners.indexOf(l);
        if (i >= 0) this.listeners.splice(i, 1);
      },
    };
  }

  /** Pause the run at the next point between two core.run() calls (gdb's Ctrl-C, an MMIO hook). */
  requestPause(): void {
    this.pauseFlag = true;
    // One hart: end the core's run at its next block boundary (a stop there changes no count).
    // SMP: at the end of the round (a hart's run cut short would change the interleaving).
    if (this.core.hartCount <= 1) this.core.requestStop();
    this.machine.wakeForDebugger();
  }

  // ------------------------------------------------------------------------------- DebugAgent

  pauseRequested(): boolean {
    if (!this.pauseFlag) return false;
    this.pauseFlag = false;
    return true;
  }

  onExit(r: RunResult): void {
    for (const cb of this.exitHooks.slice()) cb({ kind: 'machine', result: r });
  }

  onStop(hart: number): 'resume' | 'pause' {
    const stop = this.tables.takeStop();
    let pause = false;
    switch (stop.reason) {
      case StopReason.Exec: {
        let size = 0;
        const b = this.tables.readVirt(stop.pc, 2, hart);
        if (b) size = (b[0]! & 3) === 3 ? 4 : 2;
        for (const h of this.codeHooks.slice()) {
          if (stop.pc >= h.lo && stop.pc < h.hi && wantsStop(h.cb({ hart, pc: stop.pc, size }))) pause = true;
        }
        break;
      }
      case StopReason.Trap:
        for (const cb of this.trapHooks.slice()) {
          const cause = stop.cause ?? 0n;
          const ev: TrapEvent = { hart, cause, interrupt: cause >> 63n === 1n, tval: stop.tval ?? 0n, epc: stop.epc ?? 0n, pc: stop.pc };
          if (wantsStop(cb(ev))) pause = true;
        }
        break;
      default:
        break;
    }
    for (const hit of stop.hits ?? []) {
      for (const h of this.memHooks.slice()) {
        if (hit.va > h.end || hit.va + BigInt(hit.size) - 1n < h.begin) continue;
        for (const k of [WATCH_READ, WATCH_WRITE]) {
          if ((hit.kind & k & h.kinds) === 0) continue;
          const ev: MemEvent = { hart, kind: k === WATCH_READ ? 'read' : 'write', address: hit.va, size: hit.size, value: hit.value, pc: stop.pc };
          if (wantsStop(h.cb(ev))) pause = true;
        }
      }
    }
    for (const l of this.listeners.slice()) if (l(stop) === 'pause') pause = true;
    return pause ? 'pause' : 'resume';
  }

  private readonly onMmio = (write: boolean, addr: number, size: AccessSize, lo: number, hi: number, device: string): void => {
    const kind = write ? 2 : 1;
    for (const h of this.mmioHooks.slice()) {
      if ((h.kinds & kind) === 0 || addr > h.hi || addr + size - 1 < h.lo) continue;
      const ev: MmioEvent = { kind: write ? 'write' : 'read', address: addr, size, value: (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0), device };
      if (wantsStop(h.cb(ev))) this.requestPause();
    }
  };
}
