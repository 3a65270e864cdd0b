/**
 * Opening a disk image as the disk a guest (or `cyclevisor img`) sees: the format layer over the
 * file layer, and the backing chain under a qcow2 overlay.
 *
 *   raw    the file is the disk (FdImageFile through RawDisk here; the board's drives use
 *          FileBlockBackend, which adds the image lock and the deleted/truncated checks);
 *   qcow2  Qcow2Image over the file, its backing file opened read-only below it (recursively).
 *
 * Backing file names are relative to the directory of the image that names them (QEMU's rule);
 * the format comes from the backing format extension, or is probed when it is absent. A chain
 * longer than 16 or naming a file twice is refused (QEMU refuses loops too).
 *
 * ProbedRawGuard is QEMU's rule for raw images whose format was probed, not given (block/raw-format.c
 * raw_co_pwritev with bs->probed): a guest write to sector 0 whose data would make the image probe
 * as another format (a qcow2 header naming a host file as its backing file, say) fails with an I/O
 * error; with format=raw given explicitly the guest may write anything.
 */
import * as fs from 'node:fs';
import { isAbsolute } from 'node:path';
import type { BlockBackend, FileBlockBackend } from '../../devices/virtio-blk.js';
import { checkImage, detectFormat, ImageFormatError, SECTOR_BYTES } from '../../devices/image-format.js';
import { FdImageFile, type ImageFile } from './image-file.js';
import { Qcow2Image } from './qcow2.js';

export type ImageFormatName = 'raw' | 'qcow2';

/** A disk that owns what it opened: close() closes its file and its backing chain. */
export interface OpenDisk extends BlockBackend {
  readonly format: ImageFormatName;
  readonly path: string;
  close(): void;
}

const MAX_CHAIN = 16;

/** The raw format over an ImageFile. */
export class RawDisk implements OpenDisk {
  readonly format = 'raw' as const;
  readonly size: number;
  constructor(readonly file: ImageFile) {
    this.size = file.length();
  }
  get path(): string {
    return this.file.path;
  }
  get readOnly(): boolean {
    return this.file.readOnly;
  }
  read(offset: number, buf: Uint8Array): void {
    this.file.pread(offset, buf);
  }
  write(offset: number, buf: Uint8Array): void {
    if (offset + buf.length > this.size) throw new RangeError(`${this.path}: write past the end of the image`);
    this.file.pwrite(offset, buf);
  }
  flush(): void {
    this.file.sync();
  }
  close(): void {
    this.file.close();
  }
}

/** Qcow2Image that also closes its file. */
class Qcow2Disk extends Qcow2Image implements OpenDisk {
  readonly format = 'qcow2' as const;
  get path(): string {
    return this.file.path;
  }
  override close(): void {
    try {
      super.close();
    } finally {
      this.file.close();
    }
  }
}

/** Where a backing file named `name` in image `imagePath` is. */
export function resolveBacking(imagePath: string, name: string): string {
  // QEMU's path_combine: the image path up to its last '/', then the name (not normalised).
  if (isAbsolute(name)) return name;
  const slash = imagePath.lastIndexOf('/');
  return slash < 0 ? name : imagePath.slice(0, slash + 1) + name;
}

/** Probes a file's format (null: raw). Throws ImageFormatError for unsupported ones. */
export function probeFormat(path: string, given?: ImageFormatName): ImageFormatName {
  const fd = fs.openSync(path, 'r');
  try {
    return checkImage(fd, path, given ? { format: given } : {}).format as ImageFormatName;
  } finally {
    fs.closeSync(fd);
  }
}

export interface OpenImageOptions {
  readOnly: boolean;
  /** Read-only, but refuse what a read-write open would refuse (a pre-check). */
  forWrite?: boolean;
  /** Given format; null/undefined: probed from the header. */
  format?: ImageFormatName | null;
  onProblem?: (message: string) => void;
}

/** Opens `path` as a disk (used by the img commands and for backing files). */
export function openImage(path: string, opts: OpenImageOptions, chain: string[] = []): OpenDisk {
  const st = fs.statSync(path);
  const key = `${st.dev}:${st.ino}`;
  if (chain.includes(key)) throw new ImageFormatError(`backing chain loops back to ${path}`, null, path);
  if (chain.length >= MAX_CHAIN) throw new ImageFormatError(`backing chain longer than ${MAX_CHAIN} images`, null, path);
  const format = probeFormat(path, opts.format ?? undefined);
  const file = new FdImageFile(path, opts.readOnly);
  try {
    if (format === 'raw') return new RawDisk(file);
    return new Qcow2Disk(file, {
      readOnly: opts.readOnly,
      forWrite: opts.forWrite ?? false,
      openBacking: (name, fmt) => openBackingFile(path, name, fmt, [...chain, key], opts.onProblem),
      ...(opts.onProblem ? { onProblem: opts.onProblem } : {}),
    });
  } catch (e) {
    file.close();
    throw e;
  }
}

/** Opens the backing file `name` of image `imagePath`, read-only. */
export function openBackingFile(
  imagePath: string,
  name: string,
  format: string | null,
  chain: string[] = [],
  onProblem?: (message: string) => void,
): OpenDisk {
  const path = resolveBacking(imagePath, name);
  if (format !== null && format !== 'raw' && format !== 'qcow2') {
    throw new ImageFormatError(`backing file ${path}: format ${format} is not supported (raw and qcow2 are)`, format, imagePath);
  }
  try {
    return openImage(path, { readOnly: true, format: format as ImageFormatName | null, ...(onProblem ? { onProblem } : {}) }, chain);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImageFormatError(`backing file ${path} does not exist`, null, imagePath);
    if (e instanceof ImageFormatError && e.path !== imagePath) {
      throw new ImageFormatError(`backing file ${path}: ${e.message}`, e.format, imagePath);
    }
    if (code !== undefined) throw new ImageFormatError(`backing file ${path}: cannot open it (${code})`, null, imagePath);
    throw e;
  }
}

/** QEMU's probed-raw rule (see the file comment). */
export class ProbedRawGuard implements BlockBackend {
  constructor(private readonly inner: BlockBackend) {}
  get size(): number {
    return this.inner.size;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  read(offset: number, buf: Uint8Array): void {
    this.inner.read(offset, buf);
  }
  write(offset: number, buf: Uint8Array): void {
    if (offset < SECTOR_BYTES && buf.length > 0) {
      // The first sector as it would be after this write.
      const head = new Uint8Array(SECTOR_BYTES);
      this.inner.read(0, head);
      head.set(buf.subarray(0, SECTOR_BYTES - offset), offset);
      const f = detectFormat({ head, tail: new Uint8Array(0), size: SECTOR_BYTES });
      if (f !== null) {
        throw new Error(`refused: the guest tried to write a ${f.description} header into sector 0 of an image probed as raw (give format=raw to allow it)`);
      }
    }
    this.inner.write(offset, buf);
  }
  flush(): void {
    this.inner.flush();
  }
}

/**
 * The qcow2 ImageFormat's `open` (devices/image-format.ts): the board's drive file (a
 * FileBlockBackend: lock, deleted/truncated checks, one line per host problem) under Qcow2Image,
 * with its backing chain opened read-only.
 */
export function openQcow2OnFile(file: FileBlockBackend): BlockBackend {
  const st = fs.statSync(file.path);
  return new Qcow2Image(file, {
    readOnly: file.readOnly,
    openBacking: (name, fmt) => openBackingFile(file.path, name, fmt, [`${st.dev}:${st.ino}`], (m) => file.report(m)),
    onProblem: (m) => file.report(m),
  });
}

/**
 * The check `boot --drive` and VM files run before anything is locked: the format (probed, or the
 * given one confirmed), and for qcow2 the header, table placement and backing chain (opened
 * read-only, closed again; the read-write refusals applied when the disk is writable).
 * Throws ImageFormatError (one line).
 */
export function checkDiskFormat(path: string, opts: { readOnly: boolean; format?: ImageFormatName }): ImageFormatName {
  const format = probeFormat(path, opts.format);
  if (format === 'qcow2') openImage(path, { readOnly: true, forWrite: !opts.readOnly, format: 'qcow2' }).close();
  return format;
}
