/**
 * Disk image locking: two processes must not use one image while either writes it.
 *
 * Node has no flock/fcntl; the `os-lock` addon (npm, MIT, a few lines of C over fcntl(F_SETLK)
 * built by node-gyp at install) gives byte-range POSIX record locks. Those conflict with the
 * open-file-description (OFD) locks QEMU takes (fcntl(2): "conflicts between OFD locks and
 * traditional record locks are detected"), so one scheme covers both:
 *
 * - cyclevisor's own byte, OWN_BYTE (300, outside QEMU's ranges): a write lock for a read-write
 *   drive, a read lock for a read-only one. Two cyclevisors: read-write excludes everything,
 *   read-only shares with read-only. Taking it is atomic, so two starting together cannot both win.
 *
 * - QEMU's protocol (block/file-posix.c raw_apply_lock_bytes / raw_check_lock_bytes, QEMU 7.2,
 *   RAW_LOCK_PERM_BASE 100, RAW_LOCK_SHARED_BASE 200; bit 0 consistent-read, bit 1 write, bit 3
 *   resize): we hold a read lock on 100+bit for each permission we use, and on 200+bit for each we
 *   do not share (write and resize: we fix the image's size when we open it). Before that we check
 *   that nobody holds 200+bit for a permission we want, nor 100+bit for one we do not share. QEMU
 *   tests a byte with F_OFD_GETLK; os-lock has no GETLK, so we test by taking a write lock on the
 *   byte and dropping it at once, which needs a descriptor open for writing: a read-write drive has
 *   one; for a read-only drive we open one for the test only when the file is writable by us (when
 *   it is not, a QEMU that writes it is not detected by the read-only cyclevisor; QEMU itself still
 *   refuses to start writing while we read it, because our bytes 201/203 are held).
 *
 * Record locks belong to the process and the file, and closing *any* descriptor of the file in the
 * process drops them all. So: every test happens before anything is locked, the image is opened
 * once per run (two --drive naming one file, through links too, are refused before), and locks
 * within this process (which never conflict with each other) are tracked in a table here so a
 * second machine in the same process is refused too (even read-only beside read-only: closing one
 * descriptor would drop the other's locks).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';

export const OWN_BYTE = 300;
const PERM_BASE = 100;
const SHARED_BASE = 200;
const PERM_CONSISTENT_READ = 0;
const PERM_WRITE = 1;
const PERM_RESIZE = 3;
const PERM_NAMES: Record<number, string> = { 0: 'consistent read', 1: 'write', 2: 'write unchanged', 3: 'resize' };

interface OsLock {
  lock(fd: number, start: number, length: number, opts: { exclusive?: boolean; immediate?: boolean }): Promise<void>;
  unlock(fd: number, start: number, length: number): Promise<void>;
}

let osLock: OsLock | null = null;
function addon(): OsLock {
  if (osLock) return osLock;
  try {
    osLock = createRequire(import.meta.url)('os-lock') as OsLock;
  } catch (e) {
    throw new ImageLockError(
      `cannot lock disk images: the os-lock addon is not built (${(e as Error).message.split('\n')[0]}); run npm install (needs make and a C compiler)`,
    );
  }
  return osLock;
}

/** The image is used by another process (or cannot be locked); `message` is one line. */
export class ImageLockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageLockError';
  }
}

/** Images locked by this process: "dev:ino" → how. */
const held = new Map<string, { readOnly: boolean; path: string }>();

function key(st: fs.Stats): string {
  return `${st.dev}:${st.ino}`;
}

/** Throws if this process already uses the file (record locks never conflict within a process). */
export function checkNotHeldHere(path: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    return;
  }
  const h = held.get(key(st));
  // Even two readers are refused: closing either one's descriptor would drop the other's locks.
  if (h) throw new ImageLockError(`in use by this process (${h.path}, ${h.readOnly ? 'read-only' : 'read-write'})`);
}

function busy(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code ?? (typeof e === 'number' ? e : undefined);
  return code === 'EAGAIN' || code === 'EACCES' || code === 11 || code === 13;
}

function lockFailure(e: unknown): string {
  const err = e as NodeJS.ErrnoException | number | null;
  if (typeof err === 'number') return `errno ${err}`;
  return err?.code ?? (err instanceof Error ? err.message : String(err));
}

async function tryLock(fd: number, byte: number, exclusive: boolean): Promise<boolean> {
  try {
    await addon().lock(fd, byte, 1, { exclusive, immediate: true });
    return true;
  } catch (e) {
    if (busy(e)) return false;
    throw new ImageLockError(`cannot lock it (${lockFailure(e)})`);
  }
}

/** True when some other process holds a lock on `byte` (tested with a write lock, dropped at once). */
async function heldElsewhere(testFd: number, byte: number): Promise<boolean> {
  if (await tryLock(testFd, byte, true)) {
    await addon().unlock(testFd, byte, 1);
    return false;
  }
  return true;
}

/** A held image lock; release() forgets it here (closing the descriptor drops the OS locks). */
export interface ImageLock {
  release(): void;
}

/**
 * Locks the image open on `fd` (opened read-write unless `readOnly`). Throws ImageLockError with
 * one line when another process (cyclevisor or QEMU) uses it in a conflicting way.
 */
export async function lockImage(fd: number, path: string, readOnly: boolean): Promise<ImageLock> {
  const st = fs.fstatSync(fd);
  const k = key(st);
  const here = held.get(k);
  if (here) throw new ImageLockError(`in use by this process (${here.path}, ${here.readOnly ? 'read-only' : 'read-write'})`);
  // Claimed here before the first await, so two lockImage calls in this process cannot interleave.
  held.set(k, { readOnly, path });
  try {
    await takeLocks(fd, path, readOnly, st);
  } catch (e) {
    held.delete(k);
    throw e;
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      if (held.get(k)?.path === path) held.delete(k);
    },
  };
}

async function takeLocks(fd: number, path: string, readOnly: boolean, st: fs.Stats): Promise<void> {
  const perms = readOnly ? [PERM_CONSISTENT_READ] : [PERM_CONSISTENT_READ, PERM_WRITE];
  const unshared = [PERM_WRITE, PERM_RESIZE];

  // 1. QEMU's check, before we hold anything (see the header for the descriptor rules).
  let testFd: number | null = readOnly ? null : fd;
  let tempFd: number | null = null;
  if (readOnly) {
    try {
      tempFd = fs.openSync(path, 'r+');
      if (fs.fstatSync(tempFd).ino === st.ino && fs.fstatSync(tempFd).dev === st.dev) testFd = tempFd;
    } catch {
      /* not writable by us: the QEMU-writer test is skipped (documented) */
    }
  }
  try {
    if (testFd !== null) {
      for (const p of perms) {
        if (await heldElsewhere(testFd, SHARED_BASE + p)) {
          throw new ImageLockError(`in use by another process (a cyclevisor or QEMU that does not share "${PERM_NAMES[p]}" access)`);
        }
      }
      for (const p of unshared) {
        if (await heldElsewhere(testFd, PERM_BASE + p)) {
          throw new ImageLockError(`in use by another process (a cyclevisor or QEMU that ${p === PERM_WRITE ? 'writes it' : 'may resize it'})`);
        }
      }
    }
  } finally {
    if (tempFd !== null) fs.closeSync(tempFd);
  }

  // 2. Our own byte: exclusive for read-write, shared for read-only.
  if (!(await tryLock(fd, OWN_BYTE, !readOnly))) {
    throw new ImageLockError(
      readOnly
        ? 'in use by another process (a cyclevisor that writes it)'
        : 'in use by another process (a cyclevisor that uses it)',
    );
  }
  // 3. QEMU's bytes: read locks on what we use and on what we do not share.
  for (const p of perms) {
    if (!(await tryLock(fd, PERM_BASE + p, false))) throw new ImageLockError(`in use by another process (byte ${PERM_BASE + p} is write-locked)`);
  }
  for (const p of unshared) {
    if (!(await tryLock(fd, SHARED_BASE + p, false))) throw new ImageLockError(`in use by another process (byte ${SHARED_BASE + p} is write-locked)`);
  }
}
