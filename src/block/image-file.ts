/**
 * The file layer under a format driver (QEMU's "protocol" layer, block/file-posix.c): bytes of one
 * host file, read and written at offsets, growing when written past its end. A qcow2 image
 * (src/block/qcow2.ts) sits on one; the raw drive's FileBlockBackend (devices/virtio-blk.ts) is one
 * too (with the image lock and the deleted/truncated checks), and FdImageFile is the plain one the
 * `img` commands and backing files use.
 *
 * Writes are writeSync (they reach the kernel before the call returns, so they survive the process
 * dying); sync() is fsync (survives the host crashing).
 */
import * as fs from 'node:fs';

export interface ImageFile {
  readonly path: string;
  readonly readOnly: boolean;
  /** Current length of the file in bytes. */
  length(): number;
  /** Fill `buf` from `offset`; bytes past the end of the file read as zeros. */
  pread(offset: number, buf: Uint8Array): void;
  /** Store `buf` at `offset`, extending the file when it ends past it. */
  pwrite(offset: number, buf: Uint8Array): void;
  /** fsync. */
  sync(): void;
  close(): void;
}

export function readFullyAt(fd: number, buf: Uint8Array, pos: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, buf.length - done, pos + done);
    if (n === 0) {
      buf.fill(0, done);
      return;
    }
    done += n;
  }
}

export function writeFullyAt(fd: number, buf: Uint8Array, pos: number): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, pos + done);
}

/** A host file by descriptor. */
export class FdImageFile implements ImageFile {
  private fd: number;
  private len: number;

  constructor(
    readonly path: string,
    readonly readOnly: boolean,
    opts: { create?: boolean } = {},
  ) {
    this.fd = fs.openSync(path, opts.create ? 'w+' : readOnly ? 'r' : 'r+');
    this.len = fs.fstatSync(this.fd).size;
  }

  length(): number {
    return this.len;
  }

  pread(offset: number, buf: Uint8Array): void {
    if (offset >= this.len) {
      buf.fill(0);
      return;
    }
    readFullyAt(this.fd, buf, offset);
  }

  pwrite(offset: number, buf: Uint8Array): void {
    if (this.readOnly) throw new Error(`${this.path}: read-only`);
    writeFullyAt(this.fd, buf, offset);
    this.len = Math.max(this.len, offset + buf.length);
  }

  /** Set the length (ftruncate): extends with zeros (sparse) or cuts. */
  truncate(length: number): void {
    fs.ftruncateSync(this.fd, length);
    this.len = length;
  }

  sync(): void {
    if (this.fd >= 0 && !this.readOnly) fs.fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      this.sync();
    } finally {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}
