/**
 * Issue 12 scope 4 and 6: snapshots of a running VM. The bar: a VM snapshotted mid-run and
 * restored into a fresh host continues BIT-IDENTICAL to an uninterrupted run — the console
 * transcript (before the snapshot + after the restore) and the final counters (instructions, VM
 * cycles, host cycles, exits per reason) are equal. Bad files (truncated, corrupted, wrong version,
 * another VM's shape) are one line and change nothing.
 */
import { describe, expect, it } from 'vitest';
import { Host } from '../../src/hypervisor/host.js';
import type { VmSpec } from '../../src/hypervisor/types.js';
import { HEADER_BYTES, SNAPSHOT_MAGIC, decodeSnapshot, restoreVm, saveVm } from '../../src/hypervisor/snapshot.js';
import { counters, snapshotRun, timerGuest } from '../helpers/snapshot.js';
import { UserError } from '../../src/errors.js';

const MiB = 1024 * 1024;
describe('snapshots (issue 12 scope 4)', () => {
  const spec: VmSpec = { name: 'bm', vcpus: 1, memoryBytes: 8 * MiB, kernel: timerGuest() };

  it('a bare-metal guest snapshotted mid-run and restored into a fresh host: same transcript and counters as an uninterrupted run', () => {
    const r = snapshotRun(spec, 150_000);
    const full = r.ref.outputText();
    expect(full).toMatch(/^abcdefghijklmnopqrstuvwxyzabcdefghijklmn.\n$/);
    // The snapshotted VM went on untouched.
    expect(r.src.outputText()).toBe(full);
    expect(counters(r.src)).toEqual(counters(r.ref));
    // The restored one continues from the snapshot: what it prints completes the transcript.
    expect(r.before.length).toBeGreaterThan(0);
    expect(r.before.length).toBeLessThan(full.length - 2);
    expect(r.before + r.dst.outputText()).toBe(full);
    expect(counters(r.dst)).toEqual(counters(r.ref));
    expect(r.ref.stats().exits.wfi.count).toBe(40);
  });

  it('restored beside other VMs on a 2-hart host: the same run', () => {
    // The neighbours print capitals: a restored VM that ran on a neighbour's frames (its G-stage
    // root taken from the file instead of its own memory) would print them too.
    const r = snapshotRun(spec, 300_000, { harts: 2, neighbours: [{ ...spec, name: 'n1', kernel: timerGuest(40, 65) }, { ...spec, name: 'n2', kernel: timerGuest(10, 65) }] });
    expect(r.before + r.dst.outputText()).toBe(r.ref.outputText());
    expect(counters(r.dst)).toEqual(counters(r.ref));
  });

  it('the file: magic, version, zero pages elided, deterministic (same state → same bytes)', () => {
    const mk = () => {
      const h = new Host({ harts: 1, ramBytes: 64 * MiB });
      const vm = h.addVm(spec);
      h.run({ maxHostCycles: 5e8, afterRound: () => (vm.now >= 200_000 ? 'stop' : undefined) });
      const out = saveVm(h, vm);
      h.close();
      return out;
    };
    const a = mk();
    const b = mk();
    expect(a.file.equals(b.file)).toBe(true);
    expect(a.file.subarray(0, 8).equals(SNAPSHOT_MAGIC)).toBe(true);
    expect(a.file.readUInt32LE(8)).toBe(2);
    // 8 MiB of RAM = 2048 pages; the guest touched a handful (code, its table).
    expect(a.snapshot.ram.present.length).toBeGreaterThan(0);
    expect(a.snapshot.ram.present.length).toBeLessThan(10);
    expect(a.file.length).toBeLessThan(64 * 1024);
    const d = decodeSnapshot(a.file);
    expect(d.meta.vm).toMatchObject({ name: 'bm', vcpus: 1, memoryBytes: 8 * MiB });
    expect(d.meta.state).toBe('running');
  });
});

describe('bad snapshot files (issue 12 scope 6): one line, nothing restored', () => {
  const spec: VmSpec = { name: 'bm', vcpus: 1, memoryBytes: 8 * MiB, kernel: timerGuest() };
  const take = () => {
    const h = new Host({ harts: 1, ramBytes: 64 * MiB });
    const vm = h.addVm(spec);
    h.run({ maxHostCycles: 5e8, afterRound: () => (vm.now >= 200_000 ? 'stop' : undefined) });
    const f = saveVm(h, vm).file;
    h.close();
    return f;
  };
  const good = take();

  const refused = (buf: Buffer, target: VmSpec = spec): string => {
    const h = new Host({ harts: 1, ramBytes: 64 * MiB });
    const vm = h.addVm({ ...target, autostart: false });
    const before = { state: vm.state, now: vm.now, ram: vm.memory.read(0x8000_0000, 4096) };
    let msg = '';
    try {
      restoreVm(h, vm, buf, 'x.cvsnap');
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      msg = (e as Error).message;
    }
    // Nothing changed: the VM is still defined and shut off, its RAM untouched.
    expect({ state: vm.state, now: vm.now, ram: vm.memory.read(0x8000_0000, 4096) }).toEqual(before);
    h.close();
    expect(msg).not.toContain('\n');
    return msg;
  };

  it('truncated', () => {
    expect(refused(good.subarray(0, good.length - 100))).toMatch(/^x\.cvsnap: truncated \(\d+ of \d+ bytes\)$/);
    expect(refused(good.subarray(0, 20))).toMatch(/^x\.cvsnap: truncated/);
  });
  it('corrupted (one bit flipped in the body)', () => {
    const bad = Buffer.from(good);
    bad[HEADER_BYTES + 200]! ^= 0x10;
    expect(refused(bad)).toBe('x.cvsnap: checksum mismatch (the file is corrupted)');
  });
  it('wrong version, not a snapshot', () => {
    const bad = Buffer.from(good);
    bad.writeUInt32LE(3, 8);
    expect(refused(bad)).toBe('x.cvsnap: snapshot format version 3; this cyclevisor reads versions 1 and 2');
    expect(refused(Buffer.from('hello world, not a snapshot at all'))).toBe('x.cvsnap: not a cyclevisor snapshot (bad magic)');
  });
  it('a snapshot of a VM without a balloon into one with the default balloon: refused with a hint', () => {
    const h = new Host({ harts: 1, ramBytes: 64 * MiB });
    const vm = h.addVm({ ...spec, balloon: false });
    h.run({ maxHostCycles: 5e8, afterRound: () => (vm.now >= 200_000 ? 'stop' : undefined) });
    const f = saveVm(h, vm).file;
    h.close();
    expect(refused(f)).toBe('x.cvsnap: cannot restore into bm: virtio slot 2 holds a device in one VM and not in the other (bm has the default virtio-balloon; balloon: false in its definition matches a snapshot taken without one)');
    expect(refused(good, { ...spec, balloon: false })).toBe('x.cvsnap: cannot restore into bm: virtio slot 2 holds a device in one VM and not in the other');
  });
  it("a VM of another shape (memory, vCPUs)", () => {
    expect(refused(good, { ...spec, memoryBytes: 16 * MiB })).toBe("x.cvsnap: cannot restore into bm: the snapshot's VM has 8 MiB of memory, bm has 16 MiB");
    expect(refused(good, { ...spec, vcpus: 2 })).toBe("x.cvsnap: cannot restore into bm: the snapshot's VM has 1 vCPUs, bm has 2");
  });
});


describe('disks in snapshots', () => {
  it('a writable disk: its contents at snapshot time are restored into the VM disk file; a read-only one must be the same file', async () => {
    const { mkdtempSync, writeFileSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'cv-snapdisk-'));
    try {
      const pattern = Buffer.alloc(64 * 1024);
      for (let i = 0; i < pattern.length; i += 512) pattern.writeUInt32LE(i * 7 + 1, i);
      writeFileSync(join(dir, 'a.img'), pattern);
      writeFileSync(join(dir, 'ro.img'), Buffer.alloc(8192, 0x5a));
      const spec: VmSpec = { name: 'bm', vcpus: 1, memoryBytes: 8 * MiB, kernel: timerGuest(), disks: [{ file: join(dir, 'a.img') }, { file: join(dir, 'ro.img'), readonly: true }] };
      const h = new Host({ harts: 1, ramBytes: 64 * MiB });
      const vm = h.addVm(spec);
      h.run({ maxHostCycles: 5e8, afterRound: () => (vm.now >= 100_000 ? 'stop' : undefined) });
      const { file, snapshot } = saveVm(h, vm);
      h.close();
      expect(snapshot.disks[0]!.present.length).toBe(16); // 64 KiB of non-zero 4 KiB blocks
      expect(snapshot.disks[1]).toBeNull();
      expect(snapshot.meta.diskHashes[1]).toMatch(/^[0-9a-f]{64}$/);
      // The target VM's disk holds something else; the restore puts the snapshot's contents there.
      writeFileSync(join(dir, 'b.img'), Buffer.alloc(64 * 1024, 0xee));
      const h2 = new Host({ harts: 1, ramBytes: 64 * MiB });
      const vm2 = h2.addVm({ ...spec, autostart: false, disks: [{ file: join(dir, 'b.img') }, { file: join(dir, 'ro.img'), readonly: true }] });
      restoreVm(h2, vm2, file, 'd.cvsnap');
      expect(h2.run({ maxHostCycles: 5e8 }).code).toBe(0);
      h2.close();
      expect(readFileSync(join(dir, 'b.img')).equals(pattern)).toBe(true);
      // A different read-only disk: refused, nothing written.
      writeFileSync(join(dir, 'ro2.img'), Buffer.alloc(8192, 0x11));
      writeFileSync(join(dir, 'c.img'), Buffer.alloc(64 * 1024, 0xee));
      const h3 = new Host({ harts: 1, ramBytes: 64 * MiB });
      const vm3 = h3.addVm({ ...spec, autostart: false, disks: [{ file: join(dir, 'c.img') }, { file: join(dir, 'ro2.img'), readonly: true }] });
      expect(() => restoreVm(h3, vm3, file, 'd.cvsnap')).toThrow(`d.cvsnap: cannot restore into bm: read-only disk ${join(dir, 'ro2.img')} is not the one the snapshot was taken with (contents differ)`);
      h3.close();
      expect(readFileSync(join(dir, 'c.img')).equals(Buffer.alloc(64 * 1024, 0xee))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
