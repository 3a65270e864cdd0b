/**
 * The control operations of snapshots (issue 12 scope 4) on a running host: `ctl snapshot`,
 * `snapshot-list`, `snapshot-revert`, `snapshot-delete`, and `cyclevisor host --restore`. Thin
 * glue between HostRunner (runner.ts), the snapshot file (snapshot.ts) and the VM's snapshot tree
 * (snapshot-tree.ts). Refusals are ControlErrors (one line; ctl exits 1).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';
import { ControlError, type SnapshotInfo } from './control-api.js';
import type { Host } from './host.js';
import { prepareRestore, saveVm } from './snapshot.js';
import { SnapshotTree, writeAtomic } from './snapshot-tree.js';
import type { Vm } from './vm.js';

function asControl<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof UserError) throw new ControlError(/has no snapshot named/.test(e.message) ? 'NotFound' : 'Failed', e.message);
    throw e;
  }
}

function active(vm: Vm): void {
  if (vm.state !== 'running' && vm.state !== 'paused') throw new ControlError('InvalidState', `${vm.name}: domain is not running`);
}

/** Read a snapshot file: one line when it cannot be read. */
export function readSnapshotFile(file: string, what = file): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${what}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : `cannot read (${code})`}`);
  }
}

/** `snapshot NAME TARGET`: the VM keeps running (or stays paused). */
export function takeSnapshot(host: Host, defFile: string, vm: Vm, target: string): SnapshotInfo {
  active(vm);
  return asControl(() => {
    const tree = new SnapshotTree(defFile, vm.name);
    const { name, file } = tree.resolveTarget(target);
    const { file: bytes } = saveVm(host, vm);
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeAtomic(file, bytes);
    } catch (e) {
      throw new UserError(`${file}: cannot write the snapshot (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    return tree.add({ name, file, created: new Date().toISOString(), state: vm.state, vmSeconds: vm.now / host.timing.cpuHz, bytes: bytes.length });
  });
}

export function listSnapshots(defFile: string, vm: Vm): SnapshotInfo[] {
  return asControl(() => new SnapshotTree(defFile, vm.name).list());
}

/** `snapshot-revert NAME SNAP`: the VM (running, paused or shut off) becomes the snapshot's. */
export function revertSnapshot(host: Host, defFile: string, vm: Vm, snap: string): void {
  asControl(() => {
    const tree = new SnapshotTree(defFile, vm.name);
    const e = tree.find(snap);
    prepareRestore(host, vm, readSnapshotFile(e.file), e.file)();
    tree.setCurrent(snap);
  });
}

export function deleteSnapshot(defFile: string, vm: Vm, snap: string): void {
  asControl(() => new SnapshotTree(defFile, vm.name).remove(snap));
}

/**
 * `host --restore NAME=FILE ...`: every file is read and checked against its VM first; then all
 * are applied (a bad one is one line and no VM was touched).
 */
export function restoreAtStart(host: Host, restores: ReadonlyArray<{ name: string; file: string }>): void {
  const apply: Array<() => unknown> = [];
  const seen = new Set<string>();
  for (const r of restores) {
    const vm = host.vmNamed(r.name);
    if (!vm) throw new UserError(`--restore ${r.name}=${r.file}: no VM named ${r.name} in the definition file`);
    if (seen.has(r.name)) throw new UserError(`--restore ${r.name}: given more than once`);
    seen.add(r.name);
    apply.push(prepareRestore(host, vm, readSnapshotFile(r.file), r.file));
  }
  for (const a of apply) a();
}
