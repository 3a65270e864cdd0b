/** SBI IPI extension (EID 0x735049, SBI 2.0 ch. 7): send_ipi raises VSSIP (hvip bit 2) on each target vCPU. */
import { SBI_ERR_INVALID_PARAM, SBI_ERR_NOT_SUPPORTED, err, maskHarts, ok, type SbiCall, type SbiEnv, type SbiResult } from './types.js';

export const EXT_IPI = 0x735049;

export function ipi(call: SbiCall, env: SbiEnv): SbiResult {
  if (call.fid !== 0) return err(SBI_ERR_NOT_SUPPORTED);
  const harts = maskHarts(env, call.args[0]!, call.args[1]!);
  if (!harts) return err(SBI_ERR_INVALID_PARAM);
  for (const h of harts) env.sendIpi(h);
  return ok();
}
