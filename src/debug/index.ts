/**
 * The host debugger's public surface (docs/GDB.md): Unicorn-style hooks on a machine, the VMM's
 * VM-exit hook, the gdb stub, and the core's debugger tables underneath them.
 */
export {
  MachineDebug,
  addVmExitHook,
  type HookHandle,
  type HookRange,
  type HookResult,
  type CodeEvent,
  type MemEvent,
  type MmioEvent,
  type TrapEvent,
  type ExitEvent,
} from './hooks.js';
export { GdbStub, parseGdbAddress, type GdbStubOptions } from './gdbstub.js';
export { CoreDebug, StopReason, WATCH_READ, WATCH_WRITE, type DebugStop, type WatchHit, type WatchKind } from './core-debug.js';
export type { VmExitEvent } from '../hypervisor/vm.js';
