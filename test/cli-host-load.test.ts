/**
 * How `cyclevisor host` finds the VMM: src/hypervisor/host.ts's `createHost`. No host module: null
 * (the command then says running VMs is not available yet); a host module without that export: one
 * line, exit 1, never a silent fallback; a module the host imports missing: a bug, not "no VMM".
 */
import { describe, expect, it } from 'vitest';
import { loadCreateHost } from '../src/cli/host.js';

const notFound = (what: string) => Object.assign(new Error(`Cannot find module '${what}' imported from /x/src/cli/host.js`), { code: 'ERR_MODULE_NOT_FOUND' });

describe('loadCreateHost', () => {
  it('no host module: null', async () => {
    expect(await loadCreateHost(() => Promise.reject(notFound('/x/src/hypervisor/host.js')))).toBeNull();
  });
  it('a host module without createHost: one line, exit 1', async () => {
    await expect(loadCreateHost(() => Promise.resolve({ Host: class {} }))).rejects.toMatchObject({ code: 1, message: expect.stringMatching(/does not export createHost\(config\)/) });
  });
  it('a host module with createHost: that function', async () => {
    const createHost = () => null;
    expect(await loadCreateHost(() => Promise.resolve({ createHost }))).toBe(createHost);
  });
  it('a module the host imports is missing: rethrown (a bug, not "no VMM")', async () => {
    await expect(loadCreateHost(() => Promise.reject(notFound('/x/src/hypervisor/sbi/base.js')))).rejects.toThrow(/sbi\/base\.js/);
  });
  it('this build: the real import resolves to null or a function', async () => {
    const r = await loadCreateHost();
    expect(r === null || typeof r === 'function').toBe(true);
  });
});
