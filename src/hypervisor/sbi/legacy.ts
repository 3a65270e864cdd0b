/**
 * SBI v0.1 legacy extensions (EIDs 0x00-0x08, SBI 2.0 ch. 5): set_timer, console putchar/getchar,
 * clear/send IPI, remote fences, shutdown. They return in a0 only.
 */
import { SBI_ERR_NOT_SUPPORTED, type SbiCall, type SbiEnv, type SbiResult } from './types.js';

export function isLegacy(eid: number): boolean {
  return eid >= 0 && eid <= 8;
}

const legacyOk = (value = 0n): SbiResult => ({ error: value, value: 0n, legacy: true });

export function legacy(call: SbiCall, env: SbiEnv): SbiResult {
  const a0 = call.args[0]!;
  switch (call.eid) {
    case 0x00: env.setTimer(call.hart, a0); return legacyOk();
    case 0x01: env.consoleWrite(Uint8Array.of(Number(a0 & 0xffn))); return legacyOk();
    case 0x02: return legacyOk(BigInt.asUintN(64, BigInt(env.consoleRead())));
    case 0x08: return { ...legacyOk(), action: { kind: 'reset', type: 'shutdown', failure: false } };
    // clear_ipi (3), send_ipi (4: a0 = address of a hart mask), fences (5..7): not emulated yet.
    default: return { error: SBI_ERR_NOT_SUPPORTED, value: 0n, legacy: true };
  }
}
