/**
 * `cyclevisor img create|info|check|convert`: the common cases of qemu-img (QEMU 7.2), in its shape
 * (flags, output lines, exit codes), for raw and qcow2 images.
 *
 *   img create [-q] [-f FMT] [-b BACKING -F BACKING_FMT] [-o OPTS] FILE [SIZE]
 *   img info [-f FMT] [--output human|json] FILE
 *   img check [-q] [-f FMT] [-r leaks] [--output human|json] FILE
 *   img convert [-q] [-f FMT] [-O FMT] [-o OPTS] SRC DST
 *
 * Exit codes are qemu-img's: 0 done; 1 an error (one `cyclevisor: ` line on stderr); check: 2 the
 * image has errors (corruption), 3 only leaked clusters, 63 the format has no check (raw).
 */
import * as fs from 'node:fs';
import { UserError } from '../errors.js';
import { ImageFormatError } from '../../devices/image-format.js';
import { FdImageFile } from '../block/image-file.js';
import { parseHeader, featureName, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, COMPAT_LAZY_REFCOUNTS, type Qcow2Header } from '../block/qcow2-header.js';
import { createQcow2, type Qcow2CreateOptions } from '../block/qcow2-create.js';
import { checkQcow2, repairLeaks } from '../block/qcow2-check.js';
import { openImage, probeFormat, resolveBacking, type ImageFormatName } from '../block/open-image.js';
import { Qcow2Image } from '../block/qcow2.js';
import { compressCluster } from '../block/qcow2-compress.js';
import type { CliIo } from './main.js';

export const IMG_USAGE = `Usage: cyclevisor img COMMAND [options] (qemu-img's shape; raw and qcow2)

  create [-q] [-f FMT] [-b BACKING -F BACKING_FMT] [-o OPTIONS] FILE [SIZE]
          a new image; qcow2 OPTIONS: cluster_size, compat=0.10|1.1,
          refcount_bits, compression_type=zlib|zstd (SIZE: 64M, 10G, ...)
  info [-f FMT] [--output human|json] FILE
  check [-q] [-f FMT] [-r leaks] [--output human|json] FILE
          refcounts, L1/L2 tables and flags (qcow2); exit 2 errors found,
          3 only leaked clusters; -r leaks frees leaked clusters
  convert [-q] [-c] [-f FMT] [-O FMT] [-o OPTIONS] SRC DST
          copy SRC (and its backing chain) into a new image; zeros are
          left unallocated; -c: qcow2 clusters stored zlib-compressed

FMT is raw or qcow2 (default: probed; create and convert -O: raw).
Exit: 0 done, 1 an error (one line on stderr).
`;

const FORMATS: readonly ImageFormatName[] = ['raw', 'qcow2'];

interface ImgArgs {
  positionals: string[];
  f: ImageFormatName | null;
  F: string | null;
  b: string | null;
  O: ImageFormatName | null;
  o: string[];
  r: string | null;
  q: boolean;
  c: boolean;
  output: 'human' | 'json';
}

const fail = (m: string) => new UserError(m, 1);

function format(v: string, flag: string): ImageFormatName {
  const f = FORMATS.find((x) => x === v);
  if (!f) throw fail(`${flag} ${v}: unknown or unsupported format (raw and qcow2 are)`);
  return f;
}

function parse(argv: readonly string[], allowed: string): ImgArgs {
  const a: ImgArgs = { positionals: [], f: null, F: null, b: null, O: null, o: [], r: null, q: false, c: false, output: 'human' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      a.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--output')) {
      if (!allowed.includes('output')) throw fail(`${arg}: not an option of this command`);
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (v !== 'human' && v !== 'json') throw fail(`--output ${v ?? ''}: expected human or json`);
      a.output = v;
      continue;
    }
    if (arg.length === 2 && arg[0] === '-' && arg !== '-') {
      const k = arg[1]!;
      if (!allowed.includes(k)) throw fail(`${arg}: not an option of this command (see cyclevisor help img)`);
      if (k === 'q' || k === 'c') {
        if (k === 'q') a.q = true;
        else a.c = true;
        continue;
      }
      const v = argv[++i];
      if (v === undefined) throw fail(`option ${arg} needs a value`);
      if (k === 'f') a.f = format(v, '-f');
      else if (k === 'O') a.O = format(v, '-O');
      else if (k === 'F') a.F = v;
      else if (k === 'b') a.b = v;
      else if (k === 'o') a.o.push(v);
      else if (k === 'r') a.r = v;
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') throw fail(`${arg}: unknown option (see cyclevisor help img)`);
    a.positionals.push(arg);
  }
  return a;
}

/** qemu-img's size syntax: a number with an optional k/M/G/T/P/E suffix (powers of 1024). */
export function parseImgSize(text: string, what = 'size'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bBkKmMgGtTpPeE]?)$/.exec(text.trim());
  if (!m) throw fail(`${what} '${text}': expected a number with an optional k, M, G or T suffix`);
  const mult = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50, e: 2 ** 60 }[m[2]!.toLowerCase()]!;
  const v = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(v)) throw fail(`${what} '${text}' is too large`);
  return v;
}

/** `-o key=value,...` (,, escapes a comma, as QEMU's option strings). */
function parseOpts(list: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const text of list) {
    for (const item of text.replace(/,,/g, '\0').split(',')) {
      if (item === '') continue;
      const eq = item.indexOf('=');
      const k = (eq < 0 ? item : item.slice(0, eq)).trim();
      const v = (eq < 0 ? 'on' : item.slice(eq + 1)).replace(/\0/g, ',');
      out.set(k, v);
    }
  }
  return out;
}

/** QEMU's size_to_str: three significant digits and a binary unit ("196 KiB", "1.5 MiB"). */
export function sizeToStr(n: number): string {
  const units = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
  let i = 0;
  // frexp(n / (1000/1024)) exponent, (e - 1) / 10: switch units at 1000, not 1024.
  if (n > 0) i = Math.min(6, Math.floor((Math.floor(Math.log2(n / (1000 / 1024))) + 1 - 1) / 10));
  const v = n / 2 ** (i * 10);
  return `${Number(v.toPrecision(3))} ${units[i]}B`;
}

function qcow2CreateOptions(opts: Map<string, string>, size: number): Qcow2CreateOptions & { compatGiven: boolean } {
  const o: Qcow2CreateOptions & { compatGiven: boolean } = { size, compatGiven: false };
  for (const [k, v] of opts) {
    switch (k) {
      case 'cluster_size':
        o.clusterSize = parseImgSize(v, 'cluster_size');
        break;
      case 'compat':
        if (v === '0.10' || v === 'v2') o.version = 2;
        else if (v === '1.1' || v === 'v3') o.version = 3;
        else throw fail(`Invalid parameter 'compat': '${v}' (0.10 or 1.1)`);
        o.compatGiven = true;
        break;
      case 'refcount_bits':
        o.refcountBits = Number(v);
        break;
      case 'compression_type':
        if (v !== 'zlib' && v !== 'zstd') throw fail(`Invalid parameter 'compression_type': '${v}' (zlib or zstd)`);
        o.compression = v;
        break;
      case 'backing_file':
      case 'backing_fmt':
      case 'size':
        break; // taken by the caller
      case 'lazy_refcounts':
      case 'extended_l2':
      case 'preallocation':
        if (v !== 'off' && !(k === 'preallocation' && v === 'off')) throw fail(`Invalid parameter '${k}': '${v}' (only off is supported)`);
        break;
      default:
        throw fail(`Invalid parameter '${k}' (qcow2 options: cluster_size, compat, refcount_bits, compression_type)`);
    }
  }
  return o;
}

function userOf(e: unknown, path: string): unknown {
  if (e instanceof ImageFormatError) return fail(`${path}: ${e.message}`);
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return fail(`Could not open '${path}': No such file or directory`);
  if (code === 'EACCES') return fail(`Could not open '${path}': Permission denied`);
  if (code === 'EISDIR') return fail(`Could not open '${path}': Is a directory`);
  if (e instanceof RangeError) return fail(`${path}: ${e.message}`);
  return e;
}

// ---------------------------------------------------------------- create

function create(argv: readonly string[], io: CliIo): number {
  const a = parse(argv, 'qfbFo');
  const opts = parseOpts(a.o);
  const [file, sizeText, extra] = a.positionals;
  if (file === undefined) throw fail('Expecting image file name (img create [-f FMT] FILE [SIZE])');
  if (extra !== undefined) throw fail(`unexpected argument '${extra}'`);
  const fmt = a.f ?? 'raw';
  const backing = a.b ?? opts.get('backing_file') ?? null;
  const backingFmt = a.F ?? opts.get('backing_fmt') ?? null;
  let size = sizeText !== undefined ? parseImgSize(sizeText) : opts.has('size') ? parseImgSize(opts.get('size')!) : null;
  if (backing !== null) {
    if (fmt !== 'qcow2') throw fail(`a backing file needs -f qcow2 (raw images have none)`);
    // QEMU 7.2: "Backing file specified without backing format".
    if (backingFmt === null) throw fail(`${file}: Backing file specified without backing format (add -F raw or -F qcow2)`);
    const fmtName = format(backingFmt, '-F');
    const path = resolveBacking(file, backing);
    let b;
    try {
      b = openImage(path, { readOnly: true, format: fmtName });
    } catch (e) {
      throw userOf(e, path);
    }
    if (size === null) size = b.size;
    b.close();
  }
  if (size === null) throw fail('Image creation needs a size parameter');
  let line: string;
  try {
    if (fmt === 'raw') {
      for (const k of opts.keys()) if (k !== 'preallocation' || opts.get(k) !== 'off') throw fail(`Invalid parameter '${k}' (raw images take no options)`);
      const f = new FdImageFile(file, false, { create: true });
      try {
        f.truncate(size);
      } finally {
        f.close();
      }
      line = `Formatting '${file}', fmt=raw size=${size}`;
    } else {
      const o = qcow2CreateOptions(opts, size);
      if (backing !== null) {
        o.backingFile = backing;
        o.backingFormat = backingFmt!;
      }
      createQcow2(file, o);
      const v2 = o.version === 2;
      line =
        `Formatting '${file}', fmt=qcow2 cluster_size=${o.clusterSize ?? 65536} extended_l2=off compression_type=${o.compression ?? 'zlib'} size=${Math.ceil(size / 512) * 512}` +
        (backing !== null ? ` backing_file=${backing} backing_fmt=${backingFmt}` : '') +
        (o.compatGiven ? ` compat=${v2 ? '0.10' : '1.1'}` : '') +
        ` lazy_refcounts=off refcount_bits=${o.refcountBits ?? 16}`;
    }
  } catch (e) {
    throw userOf(e, file);
  }
  if (!a.q) io.stdout.write(`${line}\n`);
  return 0;
}

// ---------------------------------------------------------------- info

function readHeader(path: string): { h: Qcow2Header; file: FdImageFile } {
  const file = new FdImageFile(path, true);
  try {
    const head = new Uint8Array(Math.min(file.length(), 2 ** 21));
    file.pread(0, head);
    const cb = head.length >= 24 ? new DataView(head.buffer).getUint32(20, false) : 16;
    return { h: parseHeader(head.subarray(0, 2 ** Math.min(Math.max(cb, 9), 21)), file.length(), path), file };
  } catch (e) {
    file.close();
    throw e;
  }
}

function info(argv: readonly string[], io: CliIo): number {
  const a = parse(argv, 'f' + 'output');
  const [path, extra] = a.positionals;
  if (path === undefined) throw fail('Expecting one image file name (img info FILE)');
  if (extra !== undefined) throw fail(`unexpected argument '${extra}'`);
  let fmt: ImageFormatName;
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
    fmt = probeFormat(path, a.f ?? undefined);
  } catch (e) {
    throw userOf(e, path);
  }
  const actual = st.blocks * 512;
  if (fmt === 'raw') {
    if (a.output === 'json') {
      io.stdout.write(`${JSON.stringify({ 'virtual-size': st.size, filename: path, format: 'raw', 'actual-size': actual, 'dirty-flag': false }, null, 4)}\n`);
    } else {
      io.stdout.write(`image: ${path}\nfile format: raw\nvirtual size: ${sizeToStr(st.size)} (${st.size} bytes)\ndisk size: ${sizeToStr(actual)}\n`);
    }
    return 0;
  }
  let h: Qcow2Header;
  try {
    const r = readHeader(path);
    h = r.h;
    r.file.close();
  } catch (e) {
    throw userOf(e, path);
  }
  const cs = 2 ** h.clusterBits;
  const v3 = h.version === 3;
  const compression = h.compressionType === 1 ? 'zstd' : 'zlib';
  const fullBacking = h.backingFile !== null ? resolveBacking(path, h.backingFile) : null;
  if (a.output === 'json') {
    const data: Record<string, unknown> = { compat: v3 ? '1.1' : '0.10', 'compression-type': compression };
    if (v3) data['lazy-refcounts'] = (h.compatible & COMPAT_LAZY_REFCOUNTS) !== 0n;
    data['refcount-bits'] = 1 << h.refcountOrder;
    if (v3) {
      data['corrupt'] = (h.incompatible & INCOMPAT_CORRUPT) !== 0n;
      data['extended-l2'] = false;
    }
    const j: Record<string, unknown> = {};
    if (h.backingFormat !== null) j['backing-filename-format'] = h.backingFormat;
    Object.assign(j, { 'virtual-size': h.size, filename: path, 'cluster-size': cs, format: 'qcow2', 'actual-size': actual, 'format-specific': { type: 'qcow2', data } });
    if (fullBacking !== null) Object.assign(j, { 'full-backing-filename': fullBacking, 'backing-filename': h.backingFile });
    j['dirty-flag'] = (h.incompatible & INCOMPAT_DIRTY) !== 0n;
    io.stdout.write(`${JSON.stringify(j, null, 4)}\n`);
    return 0;
  }
  const lines = [`image: ${path}`, 'file format: qcow2', `virtual size: ${sizeToStr(h.size)} (${h.size} bytes)`, `disk size: ${sizeToStr(actual)}`, `cluster_size: ${cs}`];
  if (h.backingFile !== null) {
    lines.push(`backing file: ${h.backingFile}${fullBacking !== h.backingFile ? ` (actual path: ${fullBacking})` : ''}`);
    if (h.backingFormat !== null) lines.push(`backing file format: ${h.backingFormat}`);
  }
  lines.push('Format specific information:', `    compat: ${v3 ? '1.1' : '0.10'}`, `    compression type: ${compression}`);
  if (v3) lines.push(`    lazy refcounts: ${(h.compatible & COMPAT_LAZY_REFCOUNTS) !== 0n}`);
  lines.push(`    refcount bits: ${1 << h.refcountOrder}`);
  if (v3) lines.push(`    corrupt: ${(h.incompatible & INCOMPAT_CORRUPT) !== 0n}`, '    extended l2: false');
  if (h.incompatible & INCOMPAT_DIRTY) lines.push(`    (${featureName(h, 'incompatible', 0)} set)`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

// ---------------------------------------------------------------- check

function check(argv: readonly string[], io: CliIo): number {
  const a = parse(argv, 'qfr' + 'output');
  if (a.r !== null && a.r !== 'leaks') throw fail(`-r ${a.r}: only -r leaks is supported (qemu-img check -r all repairs errors)`);
  const [path, extra] = a.positionals;
  if (path === undefined) throw fail('Expecting one image file name (img check FILE)');
  if (extra !== undefined) throw fail(`unexpected argument '${extra}'`);
  let fmt: ImageFormatName;
  try {
    fmt = probeFormat(path, a.f ?? undefined);
  } catch (e) {
    throw userOf(e, path);
  }
  if (fmt === 'raw') {
    io.stderr.write('cyclevisor: This image format does not support checks\n');
    return 63;
  }
  let r;
  const repaired: string[] = [];
  try {
    const { h, file } = readHeader(path);
    try {
      r = checkQcow2(file, h);
    } finally {
      file.close();
    }
    if (a.r === 'leaks' && r.leaks > 0) {
      for (const m of r.messages) io.stderr.write(`${m}\n`);
      const rw = new FdImageFile(path, false);
      try {
        for (const l of repairLeaks(rw, h, r.leaked)) io.stderr.write(`${l}\n`);
      } finally {
        rw.close();
      }
      repaired.push('The following inconsistencies were found and repaired:', '', `    ${r.leaks} leaked clusters`, '    0 corruptions', '', 'Double checking the fixed image now...');
      const again = readHeader(path);
      try {
        r = checkQcow2(again.file, again.h);
      } finally {
        again.file.close();
      }
    }
  } catch (e) {
    throw userOf(e, path);
  }
  if (a.output === 'json') {
    const j: Record<string, unknown> = { 'image-end-offset': r.imageEndOffset, 'total-clusters': r.totalClusters };
    if (r.allocatedClusters) Object.assign(j, { 'allocated-clusters': r.allocatedClusters, 'fragmented-clusters': r.fragmentedClusters, 'compressed-clusters': r.compressedClusters });
    if (r.corruptions) j['corruptions'] = r.corruptions;
    if (r.leaks) j['leaks'] = r.leaks;
    Object.assign(j, { 'check-errors': r.checkErrors, filename: path, format: 'qcow2' });
    io.stdout.write(`${JSON.stringify(j, null, 4)}\n`);
  } else {
    for (const m of r.messages) io.stderr.write(`${m}\n`);
    if (!a.q) {
      const out: string[] = [...repaired];
      if (r.corruptions === 0 && r.leaks === 0 && r.checkErrors === 0) out.push('No errors were found on the image.');
      if (r.corruptions) out.push('', `${r.corruptions} errors were found on the image.`, 'Data may be corrupted, or further writes to the image may corrupt it.');
      if (r.leaks) out.push('', `${r.leaks} leaked clusters were found on the image.`, 'This means waste of disk space, but no harm to data.');
      if (r.checkErrors) out.push('', `${r.checkErrors} internal errors have occurred during the check.`);
      if (r.totalClusters && r.allocatedClusters) {
        const pct = (n: number) => ((n * 100) / r.allocatedClusters).toFixed(2);
        out.push(
          `${r.allocatedClusters}/${r.totalClusters} = ${((r.allocatedClusters * 100) / r.totalClusters).toFixed(2)}% allocated, ${pct(r.fragmentedClusters)}% fragmented, ${pct(r.compressedClusters)}% compressed clusters`,
        );
      }
      if (r.imageEndOffset) out.push(`Image end offset: ${r.imageEndOffset}`);
      io.stdout.write(`${out.join('\n')}\n`);
    }
  }
  return r.checkErrors ? 1 : r.corruptions ? 2 : r.leaks ? 3 : 0;
}

// ---------------------------------------------------------------- convert

function convert(argv: readonly string[], io: CliIo): number {
  void io;
  const a = parse(argv, 'qfOoc');
  const [src, dst, extra] = a.positionals;
  if (src === undefined || dst === undefined) throw fail('Expecting a source and a destination (img convert [-O FMT] SRC DST)');
  if (extra !== undefined) throw fail(`unexpected argument '${extra}' (one source only)`);
  const outFmt = a.O ?? 'raw';
  let s;
  try {
    s = openImage(src, { readOnly: true, format: a.f });
  } catch (e) {
    throw userOf(e, src);
  }
  try {
    let same = false;
    try {
      const x = fs.statSync(src);
      const y = fs.statSync(dst);
      same = x.dev === y.dev && x.ino === y.ino;
    } catch {
      /* dst does not exist yet */
    }
    if (same) throw fail(`${dst}: is the source image; convert writes a new image`);
    const opts = parseOpts(a.o);
    let d: { write(o: number, b: Uint8Array): void; close(): void };
    if (a.c && outFmt !== 'qcow2') throw fail('-c (compression) needs -O qcow2');
    let chunk = 1 << 20;
    try {
      if (outFmt === 'raw') {
        if (opts.size > 0) throw fail(`Invalid parameter '${[...opts.keys()][0]}' (raw images take no options)`);
        const f = new FdImageFile(dst, false, { create: true });
        f.truncate(s.size);
        d = { write: (o, b) => f.pwrite(o, b), close: () => f.close() };
      } else {
        const o = qcow2CreateOptions(opts, s.size);
        if (a.c && o.compression === 'zstd') throw fail('-c with compression_type=zstd: only zlib compression is written');
        createQcow2(dst, o);
        const f = new FdImageFile(dst, false);
        const q = new Qcow2Image(f, { readOnly: false });
        chunk = q.clusterSize;
        d = {
          write: (off, b) => {
            // -c: whole clusters that shrink are stored compressed (qemu-img does the same).
            const z = a.c && b.length === q.clusterSize ? compressCluster(b, q.clusterSize) : null;
            if (z !== null) q.writeCompressed(off / q.clusterSize, z);
            else q.write(off, b);
          },
          close: () => f.close(),
        };
      }
    } catch (e) {
      throw userOf(e, dst);
    }
    try {
      const buf = new Uint8Array(chunk);
      for (let off = 0; off < s.size; off += chunk) {
        const n = Math.min(chunk, s.size - off);
        const b = n === chunk ? buf : buf.subarray(0, n);
        s.read(off, b);
        if (!isZero(b)) d.write(off, b); // zeros stay unallocated (sparse)
      }
    } finally {
      d.close();
    }
  } finally {
    s.close();
  }
  return 0;
}

function isZero(b: Uint8Array): boolean {
  const w = new BigUint64Array(b.buffer, b.byteOffset, b.length >> 3);
  for (let i = 0; i < w.length; i++) if (w[i] !== 0n) return false;
  for (let i = w.length << 3; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** `cyclevisor img ...` (argv after `img`). */
export function imgCommand(argv: readonly string[], io: CliIo): number {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.stdout.write(IMG_USAGE);
    return sub === undefined ? 1 : 0;
  }
  switch (sub) {
    case 'create':
      return create(rest, io);
    case 'info':
      return info(rest, io);
    case 'check':
      return check(rest, io);
    case 'convert':
      return convert(rest, io);
    default:
      throw fail(`img: unknown command '${sub}' (create, info, check or convert)`);
  }
}
