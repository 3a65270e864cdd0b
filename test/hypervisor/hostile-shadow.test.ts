/**
 * Issue 11 scope 1: "the wall holds without a G-stage (run the VMM issue's hostile-guest test in
 * shadow mode too)". The hostile guest of issue 10 (test/guests/hostile: probes of the whole
 * guest-physical space, virtio descriptors outside its memory, VS-stage tables mapping anything,
 * exit floods from two vCPUs) runs with `paging: shadow` beside a victim VM holding a secret, on a
 * host whose own memory starts as canaries. Under shadow paging hgatp is Bare: only the shadow
 * tables stand between the guest and host memory. The hostile VM must not read or write the
 * victim's or the host's memory: its memory holds no secret and no canary, the victim runs exactly
 * as alone, every canary outside the VMs' RAM, G-stage tables and shadow areas is intact, and the
 * hostile VM powers off by itself. (Skipped until the hostile guest's ELFs are in the tree.)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Host } from '../../src/hypervisor/host.js';
import { CHUNK, GUEST_RAM_BASE, PAGE } from '../../src/hypervisor/memory.js';
import { RAM_BASE } from '../../src/core.js';

const MiB = 1024 * 1024;
const HOST_RAM = 64 * MiB;
const BIN = join(import.meta.dirname, '..', 'guests', 'bin');
const HOSTILE = join(BIN, 'hostile.elf');
const VICTIM = join(BIN, 'victim.elf');
const have = existsSync(HOSTILE) && existsSync(VICTIM);
const SECRET = Buffer.from('VICTIM-SECRET');
const CANARY = Buffer.from('HOST-CANARY-7f3e');

describe.skipIf(!have)('the hostile guest under shadow paging', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cv-hostile-shadow-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(withHostile: boolean) {
    const host = new Host({ harts: 2, ramBytes: HOST_RAM });
    const fill = Buffer.alloc(HOST_RAM);
    for (let i = 0; i < HOST_RAM; i += 16) CANARY.copy(fill, i);
    host.core.writePhys(RAM_BASE, fill);
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, new Uint8Array(MiB));
    const victim = host.addVm({ name: 'victim', vcpus: 1, memoryBytes: 4 * MiB, kernel: readFileSync(VICTIM) });
    const gap = host.pool.alloc(1)!; // host memory (canaries) between the two VMs
    const hostile = withHostile
      ? host.addVm({ name: 'hostile', vcpus: 2, memoryBytes: 8 * MiB, kernel: readFileSync(HOSTILE), disks: [{ file: disk }], paging: 'shadow' })
      : null;
    const r = host.run({ maxHostCycles: 3e9 });
    return { host, victim, hostile, r, gap };
  }

  it('no secret, no canary, the victim as alone, the host memory intact, both power off', () => {
    const alone = run(false);
    const { host, victim, hostile, r, gap } = run(true);
    expect(r.code).toBe(0);
    expect(hostile!.state).toBe('shut off');
    expect(hostile!.stats().paging!['paging.mode']).toBe('shadow');
    const mem = Buffer.from(hostile!.memory.read(GUEST_RAM_BASE, hostile!.memory.bytes));
    expect(mem.indexOf(SECRET)).toBe(-1);
    expect(mem.indexOf(CANARY)).toBe(-1);
    expect(hostile!.outputText()).not.toContain('VICTIM-SECRET');
    expect(victim.outputText()).toBe(alone.victim.outputText());
    expect([victim.now, victim.stats().instructions]).toEqual([alone.victim.now, alone.victim.stats().instructions]);
    // Host-only memory: all but the VMs' RAM, their G-stage tables (5 pages) and the shadow area.
    const used = new Map<number, number>();
    for (const v of [victim, hostile!]) {
      used.set(v.memory.tableChunk, 5 * PAGE);
      for (const c of v.memory.chunks) used.set(c, CHUNK);
      for (const c of v.shadow?.chunks ?? []) used.set(c, CHUNK);
    }
    expect(used.has(gap[0]!)).toBe(false);
    for (let c = RAM_BASE + 2 * MiB; c < RAM_BASE + HOST_RAM; c += CHUNK) {
      const u = used.get(c) ?? 0;
      if (u === CHUNK) continue;
      const b = Buffer.from(host.core.readPhys(c + u, CHUNK - u));
      for (let i = 0; i < b.length; i += 16) if (!b.subarray(i, i + 16).equals(CANARY)) throw new Error(`host memory changed at 0x${(c + u + i).toString(16)}`);
    }
    host.close();
    alone.host.close();
  }, 300_000);
});
