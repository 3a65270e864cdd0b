/**
 * SBI TIME extension (EID 0x54494D45, SBI 2.0 ch. 6): set_timer programs the vCPU's vstimecmp
 * (Sstc for VS, Priv §8.2.x: VSTIP = time + htimedelta >= vstimecmp), which the VMM's scheduler
 * watches; the guest's `time` is its VM's virtual clock.
 */
import { SBI_ERR_NOT_SUPPORTED, err, ok, type SbiCall, type SbiEnv, type SbiResult } from './types.js';

export const EXT_TIME = 0x54494d45;

export function time(call: SbiCall, env: SbiEnv): SbiResult {
  if (call.fid !== 0) return err(SBI_ERR_NOT_SUPPORTED);
  env.setTimer(call.hart, call.args[0]!);
  return ok();
}
