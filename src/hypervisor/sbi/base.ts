/** SBI Base extension (EID 0x10, SBI 2.0 ch. 4): versions, IDs, probe. */
import { SBI_IMPL_ID, SBI_IMPL_VERSION, SBI_SPEC_VERSION, SBI_ERR_NOT_SUPPORTED, err, ok, type SbiCall, type SbiResult } from './types.js';

export const EXT_BASE = 0x10;

export function base(call: SbiCall, probe: (eid: number) => boolean): SbiResult {
  switch (call.fid) {
    case 0: return ok(SBI_SPEC_VERSION);
    case 1: return ok(SBI_IMPL_ID);
    case 2: return ok(SBI_IMPL_VERSION);
    case 3: return ok(probe(Number(BigInt.asUintN(32, call.args[0]!))) ? 1n : 0n);
    case 4: // mvendorid
    case 5: // marchid
    case 6: // mimpid
      return ok(0n);
    default: return err(SBI_ERR_NOT_SUPPORTED);
  }
}
