/**
 * SBI RFENCE extension (EID 0x52464E43, SBI 2.0 ch. 8): remote fence.i / sfence.vma (/ASID). The
 * VMM drops the VM's guest translations everywhere (conservative: one VMID-wide fence for any
 * range or ASID; a vCPU loaded later starts with a flushed guest TLB anyway). The hfence variants
 * (fids 3..6) are for guests that are hypervisors themselves: not supported.
 */
import { SBI_ERR_INVALID_PARAM, SBI_ERR_NOT_SUPPORTED, err, maskHarts, ok, type SbiCall, type SbiEnv, type SbiResult } from './types.js';

export const EXT_RFENCE = 0x52464e43;

export function rfence(call: SbiCall, env: SbiEnv): SbiResult {
  if (call.fid > 2) return err(SBI_ERR_NOT_SUPPORTED);
  if (!maskHarts(env, call.args[0]!, call.args[1]!)) return err(SBI_ERR_INVALID_PARAM);
  env.fenceGuest();
  return ok();
}
