/**
 * The VMM's SBI extensions (src/hypervisor/sbi/) against a fake VM: return values and error codes
 * per SBI 2.0 (base ch. 4, legacy ch. 5, TIME ch. 6, IPI ch. 7, RFENCE ch. 8, HSM ch. 9, SRST ch. 10,
 * DBCN ch. 12).
 */
import { describe, expect, it } from 'vitest';
import { handleSbi, type SbiEnv } from '../../src/hypervisor/sbi/index.js';

function fakeEnv(harts = 2) {
  const log: string[] = [];
  const started = new Array<boolean>(harts).fill(false);
  started[0] = true;
  const mem = new Uint8Array(0x100).fill(0x41);
  const env: SbiEnv = {
    vcpuCount: harts,
    consoleWrite: (b) => log.push(`out ${Buffer.from(b).toString()}`),
    consoleRead: () => -1,
    readGuest: (gpa, len) => (gpa >= 0x8000_0000n && gpa + BigInt(len) <= 0x8000_0100n ? mem.slice(Number(gpa - 0x8000_0000n), Number(gpa - 0x8000_0000n) + len) : null),
    setTimer: (h, v) => log.push(`timer ${h} ${v}`),
    sendIpi: (h) => log.push(`ipi ${h}`),
    fenceGuest: () => log.push('fence'),
    hartState: (h) => (started[h] ? 'started' : 'stopped'),
    hartStart: (h, pc, o) => {
      started[h] = true;
      log.push(`start ${h} ${pc} ${o}`);
    },
  };
  return { env, log };
}
const call = (env: SbiEnv, eid: number, fid: number, ...a: bigint[]) => handleSbi({ eid, fid, args: [...a, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6), hart: 0 }, env);
const U64 = (1n << 64n) - 1n;

describe('SBI in the VMM', () => {
  it('base: version 2.0, impl CVVM, probe', () => {
    const { env } = fakeEnv();
    expect(call(env, 0x10, 0)).toEqual({ error: 0n, value: 2n << 24n });
    expect(call(env, 0x10, 1).value).toBe(0x4356564dn);
    for (const eid of [0x54494d45, 0x735049, 0x52464e43, 0x48534d, 0x53525354, 0x4442434e, 0x01, 0x08]) expect(call(env, 0x10, 3, BigInt(eid)).value).toBe(1n);
    for (const eid of [0x03, 0x504d55 /* PMU */, 0x12345]) expect(call(env, 0x10, 3, BigInt(eid)).value).toBe(0n);
    expect(call(env, 0x12345, 0).error).toBe(-2n);
  });

  it('time, ipi (hart masks), rfence', () => {
    const { env, log } = fakeEnv(3);
    expect(call(env, 0x54494d45, 0, 1234n).error).toBe(0n);
    expect(call(env, 0x735049, 0, 0b101n, 0n).error).toBe(0n);
    expect(call(env, 0x735049, 0, 1n, 2n).error).toBe(0n); // hart 2
    expect(call(env, 0x735049, 0, 0b10n, 2n).error).toBe(-3n); // hart 3 does not exist
    expect(call(env, 0x735049, 0, 0n, U64).error).toBe(0n); // base -1: all
    expect(call(env, 0x52464e43, 1, 1n, 0n, 0n, U64).error).toBe(0n);
    expect(call(env, 0x52464e43, 3, 1n, 0n).error).toBe(-2n); // hfence.gvma: not for guests that are not hypervisors
    expect(log).toEqual(['timer 0 1234', 'ipi 0', 'ipi 2', 'ipi 2', 'ipi 0', 'ipi 1', 'ipi 2', 'fence']);
  });

  it('hsm: start a stopped hart, refuse a started one, status, stop', () => {
    const { env, log } = fakeEnv();
    expect(call(env, 0x48534d, 2, 1n).value).toBe(1n); // STOPPED
    expect(call(env, 0x48534d, 0, 1n, 0x8020_0000n, 7n).error).toBe(0n);
    expect(log).toContain('start 1 2149580800 7');
    expect(call(env, 0x48534d, 2, 1n).value).toBe(0n); // STARTED
    expect(call(env, 0x48534d, 0, 1n, 0n, 0n).error).toBe(-6n); // ALREADY_AVAILABLE
    expect(call(env, 0x48534d, 0, 5n, 0n, 0n).error).toBe(-3n);
    expect(call(env, 0x48534d, 1).action).toEqual({ kind: 'stop-vcpu' });
  });

  it('srst: shutdown, reboot, system failure, bad type', () => {
    const { env } = fakeEnv();
    expect(call(env, 0x53525354, 0, 0n, 0n).action).toEqual({ kind: 'reset', type: 'shutdown', failure: false });
    expect(call(env, 0x53525354, 0, 1n, 0n).action).toEqual({ kind: 'reset', type: 'reboot', failure: false });
    expect(call(env, 0x53525354, 0, 0n, 1n).action).toEqual({ kind: 'reset', type: 'shutdown', failure: true });
    expect(call(env, 0x53525354, 0, 3n, 0n).error).toBe(-3n);
  });

  it('dbcn: write from guest memory, refused outside it; write_byte; legacy putchar returns in a0 only', () => {
    const { env, log } = fakeEnv();
    expect(call(env, 0x4442434e, 0, 3n, 0x8000_0010n, 0n)).toEqual({ error: 0n, value: 3n });
    expect(call(env, 0x4442434e, 0, 3n, 0x9000_0000n, 0n).error).toBe(-3n);
    expect(call(env, 0x4442434e, 2, 0x42n).error).toBe(0n);
    expect(call(env, 0x01, 0, 0x43n)).toEqual({ error: 0n, value: 0n, legacy: true });
    expect(call(env, 0x02, 0)).toEqual({ error: U64, value: 0n, legacy: true }); // no input: -1
    expect(log).toEqual(['out AAA', 'out B', 'out C']);
  });
});
