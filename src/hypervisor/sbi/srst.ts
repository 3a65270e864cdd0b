/**
 * SBI System Reset extension (EID 0x53525354, SBI 2.0 ch. 10): shutdown (type 0) shuts the VM off,
 * cold/warm reboot (1, 2) restart it; reason 1 ("system failure") marks it crashed (issue 10 scope 6).
 */
import { SBI_ERR_INVALID_PARAM, SBI_ERR_NOT_SUPPORTED, err, ok, type SbiCall, type SbiResult } from './types.js';

export const EXT_SRST = 0x53525354;

export function srst(call: SbiCall): SbiResult {
  if (call.fid !== 0) return err(SBI_ERR_NOT_SUPPORTED);
  const type = call.args[0]!;
  const reason = call.args[1]!;
  if (type > 2n) return err(SBI_ERR_INVALID_PARAM);
  if (reason > 1n && reason < 0xe000_0000n) return err(SBI_ERR_INVALID_PARAM);
  return { ...ok(), action: { kind: 'reset', type: type === 0n ? 'shutdown' : 'reboot', failure: reason === 1n } };
}
