/**
 * A VM's snapshot tree (issue 12 scope 4; libvirt's snapshot-create/-list/-revert/-delete): kept
 * in a directory beside the VM definition file, `<file without extension>.snapshots/<vm>/`, as
 * `tree.json` (the index) plus the snapshot files taken by name (`<name>.cvsnap`). A snapshot taken
 * to an explicit path (`ctl ... snapshot web /some/web.cvsnap`) stays there and is listed in the
 * tree under its base name. Each entry's parent is the VM's current snapshot when it was taken
 * (the last one taken or reverted to), so the entries form a tree.
 *
 * The index is host metadata (it holds wall-clock creation times and absolute paths); the snapshot
 * files themselves hold neither.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join } from 'node:path';
import { UserError } from '../errors.js';
import type { SnapshotInfo } from './control-api.js';

export const SNAPSHOT_EXT = '.cvsnap';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

interface TreeFile {
  vm: string;
  current: string | null;
  snapshots: Array<Omit<SnapshotInfo, 'current'>>;
}

/** The tree directory of VM `vm` defined in `defFile`. */
export function treeDir(defFile: string, vm: string): string {
  const base = basename(defFile, extname(defFile));
  return join(dirname(defFile), `${base}.snapshots`, vm);
}

/** Write a file atomically (temporary name, then rename): a crash leaves the old one or the new one. */
export function writeAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export class SnapshotTree {
  readonly dir: string;
  constructor(
    defFile: string,
    readonly vm: string,
  ) {
    this.dir = treeDir(defFile, vm);
  }

  private load(): TreeFile {
    const p = join(this.dir, 'tree.json');
    if (!existsSync(p)) return { vm: this.vm, current: null, snapshots: [] };
    try {
      const t = JSON.parse(readFileSync(p, 'utf8')) as TreeFile;
      if (!Array.isArray(t.snapshots)) throw new Error('no list');
      return t;
    } catch {
      throw new UserError(`${p}: the snapshot index is damaged (not the JSON cyclevisor writes)`);
    }
  }
  private save(t: TreeFile): void {
    mkdirSync(this.dir, { recursive: true });
    writeAtomic(join(this.dir, 'tree.json'), JSON.stringify(t, null, 2) + '\n');
  }

  list(): SnapshotInfo[] {
    const t = this.load();
    return t.snapshots.map((s) => ({ ...s, current: s.name === t.current }));
  }

  /**
   * Where snapshot `target` goes: a bare name (no '/', no .cvsnap) → `<dir>/<name>.cvsnap`; a path
   * (absolute: ctl resolved it) → that file, named by its base name. Refuses a name in use.
   */
  resolveTarget(target: string): { name: string; file: string } {
    const isPath = target.includes('/') || target.endsWith(SNAPSHOT_EXT);
    const name = isPath ? basename(target, SNAPSHOT_EXT) : target;
    if (!NAME_RE.test(name)) throw new UserError(`snapshot name '${name}': use letters, digits, '.', '_' or '-' (at most 64)`);
    if (isPath && !isAbsolute(target)) throw new UserError(`snapshot file ${target}: give an absolute path`);
    if (this.load().snapshots.some((s) => s.name === name)) throw new UserError(`${this.vm} already has a snapshot named '${name}' (snapshot-delete it first)`);
    return { name, file: isPath ? target : join(this.dir, name + SNAPSHOT_EXT) };
  }

  add(e: Omit<SnapshotInfo, 'current' | 'parent'>): SnapshotInfo {
    const t = this.load();
    const entry = { ...e, parent: t.current };
    t.snapshots.push(entry);
    t.current = e.name;
    this.save(t);
    return { ...entry, current: true };
  }

  find(name: string): SnapshotInfo {
    const s = this.list().find((x) => x.name === name);
    if (!s) throw new UserError(`${this.vm} has no snapshot named '${name}' (snapshot-list ${this.vm})`);
    return s;
  }

  setCurrent(name: string): void {
    const t = this.load();
    t.current = name;
    this.save(t);
  }

  /** Remove an entry and its file; its children hang from its parent. */
  remove(name: string): void {
    const t = this.load();
    const e = t.snapshots.find((s) => s.name === name);
    if (!e) throw new UserError(`${this.vm} has no snapshot named '${name}' (snapshot-list ${this.vm})`);
    try {
      unlinkSync(e.file);
    } catch {
      /* already gone: the entry goes anyway */
    }
    t.snapshots = t.snapshots.filter((s) => s !== e).map((s) => (s.parent === name ? { ...s, parent: e.parent } : s));
    if (t.current === name) t.current = e.parent;
    this.save(t);
  }
}
