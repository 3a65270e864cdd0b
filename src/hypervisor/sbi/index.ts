/** SBI dispatch of the VMM: by EID to one handler per extension (KVM's vcpu_sbi.c table). */
import { EXT_BASE, base } from './base.js';
import { EXT_DBCN, dbcn } from './dbcn.js';
import { EXT_HSM, hsm } from './hsm.js';
import { EXT_IPI, ipi } from './ipi.js';
import { isLegacy, legacy } from './legacy.js';
import { EXT_RFENCE, rfence } from './rfence.js';
import { EXT_SRST, srst } from './srst.js';
import { EXT_TIME, time } from './time.js';
import { SBI_ERR_NOT_SUPPORTED, err, type SbiCall, type SbiEnv, type SbiResult } from './types.js';

export * from './types.js';

type Handler = (call: SbiCall, env: SbiEnv) => SbiResult;

const EXTENSIONS = new Map<number, Handler>([
  [EXT_TIME, time],
  [EXT_IPI, ipi],
  [EXT_RFENCE, rfence],
  [EXT_HSM, hsm],
  [EXT_SRST, (c) => srst(c)],
  [EXT_DBCN, dbcn],
]);

function probe(eid: number): boolean {
  return eid === EXT_BASE || EXTENSIONS.has(eid) || (isLegacy(eid) && eid !== 3 && eid !== 4 && eid < 5) || eid === 8;
}

export function handleSbi(call: SbiCall, env: SbiEnv): SbiResult {
  if (call.eid === EXT_BASE) return base(call, probe);
  if (isLegacy(call.eid)) return legacy(call, env);
  const h = EXTENSIONS.get(call.eid);
  return h ? h(call, env) : err(SBI_ERR_NOT_SUPPORTED);
}
