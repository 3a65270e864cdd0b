/**
 * SBI HSM extension (EID 0x48534D, SBI 2.0 ch. 9): vCPU start/stop/status for SMP guests.
 * hart_start: the vCPU starts in VS-mode at start_addr with a0 = hartid, a1 = opaque, satp Bare,
 * SIE off. hart_suspend is not supported yet (the guest falls back to WFI).
 */
import {
  SBI_ERR_ALREADY_AVAILABLE,
  SBI_ERR_INVALID_PARAM,
  SBI_ERR_NOT_SUPPORTED,
  err,
  ok,
  type SbiCall,
  type SbiEnv,
  type SbiResult,
} from './types.js';

export const EXT_HSM = 0x48534d;

export function hsm(call: SbiCall, env: SbiEnv): SbiResult {
  const [a0, a1, a2] = call.args as [bigint, bigint, bigint];
  switch (call.fid) {
    case 0: {
      // hart_start(hartid, start_addr, opaque)
      if (a0 >= BigInt(env.vcpuCount)) return err(SBI_ERR_INVALID_PARAM);
      if (env.hartState(Number(a0)) === 'started') return err(SBI_ERR_ALREADY_AVAILABLE);
      env.hartStart(Number(a0), a1, a2);
      return ok();
    }
    case 1: // hart_stop
      return { ...ok(), action: { kind: 'stop-vcpu' } };
    case 2: // hart_get_status: 0 STARTED, 1 STOPPED
      if (a0 >= BigInt(env.vcpuCount)) return err(SBI_ERR_INVALID_PARAM);
      return ok(env.hartState(Number(a0)) === 'started' ? 0n : 1n);
    default:
      return err(SBI_ERR_NOT_SUPPORTED);
  }
}
