/**
 * Disk image formats: what a `--drive` file holds, found from its header (and, for VHD and DMG, its
 * trailer) the way `qemu-img info` / QEMU's block-layer probe finds it (block.c find_image_format:
 * every driver's bdrv_probe looks at the first bytes).
 *
 * Raw and qcow2 (versions 2 and 3, src/block/qcow2.ts) are supported. Every other format that QEMU
 * reports as non-raw and that is cheap to recognise is refused with one line, so such a file is
 * never handed to the guest as raw bytes. A format is supported when its `ImageFormat` entry has an
 * `open`; the probe order and the refusal stay as they are.
 *
 * An explicit `format=raw` on --drive skips the probe, as QEMU's does (QEMU warns when it has to
 * guess "raw" precisely because a guest could write a header into a raw image and turn it into
 * something else on the next boot).
 */
import * as fs from 'node:fs';
import type { BlockBackend, FileBlockBackend } from './virtio-blk.js';
import { openQcow2OnFile } from '../src/block/open-image.js';

export const SECTOR_BYTES = 512;

/** How many bytes of the start and of the end of a file the probes look at. */
export const PROBE_HEAD = 4096;
export const PROBE_TAIL = 512;

/** What a probe sees: the first and the last bytes of the file, and its size. */
export interface ImageProbe {
  head: Uint8Array;
  /** The last min(size, 512) bytes. */
  tail: Uint8Array;
  size: number;
}

export interface ImageFormat {
  /** QEMU's driver name (`qemu-img info` "file format"). */
  name: string;
  /** A human description for messages. */
  description: string;
  /** True when the probe sees this format. */
  detect(p: ImageProbe): boolean;
  /**
   * The format layer over the file layer (as QEMU stacks its qcow2 driver on file-posix): given
   * the image file as bytes (`file`: a FileBlockBackend, which keeps the descriptor, the lock and
   * the deleted/truncated checks), returns the disk the guest sees. Absent: recognised but not
   * supported yet, and refused. The hook a later format (qcow2) fills in.
   */
  open?: (file: FileBlockBackend) => BlockBackend;
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

function startsWith(buf: Uint8Array, at: number, magic: Uint8Array): boolean {
  if (at < 0 || buf.length < at + magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (buf[at + i] !== magic[i]) return false;
  return true;
}

function be32(buf: Uint8Array, at: number): number {
  return buf.length >= at + 4 ? new DataView(buf.buffer, buf.byteOffset + at, 4).getUint32(0, false) : -1;
}

function le32(buf: Uint8Array, at: number): number {
  return buf.length >= at + 4 ? new DataView(buf.buffer, buf.byteOffset + at, 4).getUint32(0, true) : -1;
}

const QFI = Uint8Array.of(0x51, 0x46, 0x49, 0xfb); // "QFI\xfb"

/**
 * Known non-raw formats, in probe order. Magic numbers from each format's specification (and QEMU's
 * probe for it): qcow2 docs/interop/qcow2.txt, QED docs/interop/qed_spec.txt, VMDK "Virtual Disk
 * Format 5.0", VDI (VirtualBox vdi header, signature at 0x40), VHDX MS-VHDX 2.2.1 file identifier,
 * VHD "Virtual Hard Disk Image Format Specification" footer cookie, LUKS1/2 on-disk format.
 */
export const IMAGE_FORMATS: readonly ImageFormat[] = [
  {
    name: 'qcow2',
    description: 'qcow2 image',
    detect: (p) => startsWith(p.head, 0, QFI) && be32(p.head, 4) >= 2,
    // Versions 2 and 3 (src/block/qcow2.ts); a later version is refused by its header check.
    open: (file) => openQcow2OnFile(file),
  },
  {
    name: 'qcow',
    description: 'qcow (version 1) image',
    detect: (p) => startsWith(p.head, 0, QFI) && be32(p.head, 4) === 1,
  },
  { name: 'qed', description: 'QED image', detect: (p) => startsWith(p.head, 0, ascii('QED\0')) },
  {
    name: 'vmdk',
    description: 'VMDK image',
    detect: (p) =>
      startsWith(p.head, 0, ascii('KDMV')) || // hosted sparse extent
      startsWith(p.head, 0, ascii('COWD')) || // ESX sparse extent
      startsWith(p.head, 0, ascii('# Disk DescriptorFile')), // text descriptor
  },
  { name: 'vdi', description: 'VDI (VirtualBox) image', detect: (p) => le32(p.head, 0x40) === 0xbeda107f },
  { name: 'vhdx', description: 'VHDX image', detect: (p) => startsWith(p.head, 0, ascii('vhdxfile')) },
  {
    // A dynamic VHD starts with a copy of its footer; a fixed VHD is raw data with the 512-byte
    // footer at the end (QEMU probes only the start and calls a fixed VHD raw, so the guest would
    // see the footer as its last sector: use format=raw to want that).
    name: 'vpc',
    description: 'VHD (vpc) image',
    detect: (p) => startsWith(p.head, 0, ascii('conectix')) || (p.size >= 512 && startsWith(p.tail, p.tail.length - 512, ascii('conectix'))),
  },
  { name: 'luks', description: 'LUKS encrypted image', detect: (p) => startsWith(p.head, 0, Uint8Array.of(0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe)) },
  {
    name: 'parallels',
    description: 'Parallels image',
    detect: (p) => startsWith(p.head, 0, ascii('WithoutFreeSpace')) || startsWith(p.head, 0, ascii('WithouFreSpacExt')),
  },
  { name: 'bochs', description: 'Bochs image', detect: (p) => startsWith(p.head, 0, ascii('Bochs Virtual HD Image')) },
  { name: 'cloop', description: 'cloop image', detect: (p) => startsWith(p.head, 0, ascii('#!/bin/sh\n#V2.0 Format\n')) },
  {
    name: 'dmg',
    description: 'Apple DMG image',
    detect: (p) => p.size >= 512 && startsWith(p.tail, p.tail.length - 512, ascii('koly')),
  },
];

/** Reads what the probes need from an open file. */
export function readProbe(fd: number): ImageProbe {
  const size = fs.fstatSync(fd).size;
  const head = new Uint8Array(Math.min(PROBE_HEAD, size));
  readFully(fd, head, 0);
  const tail = new Uint8Array(Math.min(PROBE_TAIL, size));
  readFully(fd, tail, size - tail.length);
  return { head, tail, size };
}

function readFully(fd: number, buf: Uint8Array, pos: number): void {
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

/** The first known format the probe sees, or null for raw. */
export function detectFormat(p: ImageProbe, formats: readonly ImageFormat[] = IMAGE_FORMATS): ImageFormat | null {
  for (const f of formats) if (f.detect(p)) return f;
  return null;
}

/** An image the raw backend must not use; `message` is one line without the option's name. */
export class ImageFormatError extends Error {
  constructor(
    message: string,
    /** The format found, or null for a size problem. */
    readonly format: string | null,
    /** The image's path, as given. */
    readonly path: string,
  ) {
    super(message);
    this.name = 'ImageFormatError';
  }
}

export interface ImageCheck {
  /** 'raw', or the driver name of a supported format. */
  format: string;
  size: number;
  /** Set when a supported non-raw format was found. */
  driver?: ImageFormat;
}

/**
 * Decides how an image file opens: probes its format unless `forceRaw` (format=raw), refuses an
 * unsupported format, and refuses a raw image whose size is not a multiple of 512 bytes. (QEMU 7.2
 * rounds such a size up: the guest sees a last, partial sector that reads as zeros past the end of
 * the file and that a write extends the file for; we would rather say so than change the image's
 * size behind the user's back: `truncate -s %512 FILE` pads it the same way.)
 */
export function checkImage(
  fd: number,
  path: string,
  opts: { forceRaw?: boolean; format?: 'raw' | 'qcow2'; formats?: readonly ImageFormat[] } = {},
): ImageCheck {
  const probe = readProbe(fd);
  if (opts.format === 'qcow2') {
    // format=qcow2 given: the header must say so (QEMU: "Image is not in qcow2 format").
    const f = detectFormat(probe, opts.formats);
    if (f?.name !== 'qcow2' || !f.open) {
      throw new ImageFormatError(`format=qcow2 given, but the file is ${f ? `a ${f.description}` : 'not a qcow2 image (no QFI\\xfb magic)'}`, f?.name ?? null, path);
    }
    return { format: 'qcow2', size: probe.size, driver: f };
  }
  if (!opts.forceRaw && opts.format !== 'raw') {
    const f = detectFormat(probe, opts.formats);
    if (f !== null) {
      if (f.open) return { format: f.name, size: probe.size, driver: f };
      throw new ImageFormatError(
        `${f.description}: not supported yet (use raw; qemu-img convert -O raw ${path} ${rawName(path)})`,
        f.name,
        path,
      );
    }
  }
  if (probe.size % SECTOR_BYTES !== 0) {
    const sectors = Math.floor(probe.size / SECTOR_BYTES);
    throw new ImageFormatError(
      `size ${probe.size} bytes is not a multiple of 512 (${sectors} sector${sectors === 1 ? '' : 's'} and ${probe.size % SECTOR_BYTES} bytes over); ` +
        `pad it to whole sectors: truncate -s %512 ${path}`,
      null,
      path,
    );
  }
  return { format: 'raw', size: probe.size };
}

/** disk.qcow2 → disk.raw, disk → disk.raw */
function rawName(path: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  return (dot > slash + 1 ? path.slice(0, dot) : path) + '.raw';
}
