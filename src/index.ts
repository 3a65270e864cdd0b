/**
 * cyclevisor's public API: `import { Machine, Core } from 'cyclevisor'` (package.json "exports").
 *
 * Everything exported here is covered by semantic versioning (docs/API.md): a name or a documented
 * behaviour changes only with a major version. Every other module of the package is internal and
 * not reachable through the package's exports.
 */
export {
  Machine,
  type MachineOptions,
  type BootOptions,
  type RunOptions,
  type MachineRunResult,
  type StopReason,
  type LoadedProgram,
  type MachineStats,
  type CodeEvent,
  type MemEvent,
  type MmioEvent,
  type TrapEvent,
  type ExitEvent,
  type HookHandle,
  type HookRange,
  type HookResult,
  type GdbServer,
  type GdbServerOptions,
} from './api/machine.js';
export { Core, type CoreOptions, type CoreRunOptions, type CoreStopReason, type MmioHandler, type AccessSize } from './api/core.js';
export type { RegName, CsrName } from './api/regs.js';
export type { RunStats, HartStats, ExitReason } from './stats.js';
export type { TlbStats, TlbCounters } from './tlbmodel.js';
export { UserError } from './errors.js';
export { coreWasmPath, VERSION } from './api/meta.js';
export {
  Hypervisor,
  type HypervisorOptions,
  type HypervisorRunOptions,
  type HypervisorRunResult,
  type VmState,
  type SnapshotInfo,
  type VmExitEvent,
} from './api/hypervisor.js';
