/**
 * SBI Debug Console extension (EID 0x4442434E, SBI 2.0 ch. 12): console_write(num_bytes, base_lo,
 * base_hi) from guest-physical memory, console_read into it, console_write_byte.
 */
import { SBI_ERR_INVALID_PARAM, SBI_ERR_NOT_SUPPORTED, err, ok, type SbiCall, type SbiEnv, type SbiResult } from './types.js';

export const EXT_DBCN = 0x4442434e;

export function dbcn(call: SbiCall, env: SbiEnv): SbiResult {
  const [a0, a1, a2] = call.args as [bigint, bigint, bigint];
  switch (call.fid) {
    case 0: {
      const n = Number(a0 > 0x10_0000n ? 0x10_0000n : a0); // at most 1 MiB per call: the rest is the guest's retry
      const data = env.readGuest(a1 | (a2 << 32n), n);
      if (!data) return err(SBI_ERR_INVALID_PARAM);
      env.consoleWrite(data);
      return ok(BigInt(n));
    }
    case 1: {
      // console_read: no buffered input is delivered through DBCN yet (0 bytes read).
      if (!env.readGuest(a1 | (a2 << 32n), Number(a0 > 0n ? 1n : 0n))) return err(SBI_ERR_INVALID_PARAM);
      return ok(0n);
    }
    case 2:
      env.consoleWrite(Uint8Array.of(Number(a0 & 0xffn)));
      return ok();
    default:
      return err(SBI_ERR_NOT_SUPPORTED);
  }
}
