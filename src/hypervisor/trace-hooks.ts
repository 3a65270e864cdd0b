/**
 * What the VMM tells an observer (--trace-out / --report on `host`: src/trace/host.ts) as it runs.
 * Observation only: nothing here changes scheduling, clocks or what a guest computes. Each VM
 * keeps its own clock; `roundStart` gives the host time a round starts at, and the VM converts its
 * times through it (host time = round start + host cycles used so far in the round).
 */
import type { ExitReasonName } from './types.js';

export interface VmTraceHooks {
  /** vCPU `vcpu` starts running at VM time `t0`, `ranBefore` host cycles into the current round. */
  vcpuStart(vm: string, vcpu: number, t0: number, ranBefore: number): void;
  /** ... and stops after `hostCycles` host cycles. */
  vcpuEnd(vm: string, vcpu: number, hostCycles: number): void;
  /** A VM exit handled at VM time `at` (cycles). */
  exit(vm: string, vcpu: number, reason: ExitReasonName, at: number, cause: number, interrupt: boolean): void;
}

export interface HostTraceHooks {
  /** Host hart `hart` runs a round of VM `vm` from host time `now`. */
  roundStart(hart: number, now: number, vm: string): void;
  /** The round ended; `hostCycles` used. */
  roundEnd(hart: number, vm: string, hostCycles: number): void;
}
