/**
 * A newc ("070701") cpio writer for initramfs overlays: the kernel unpacks concatenated archives in
 * order and a later file replaces an earlier one (Documentation/driver-api/early-userspace/
 * buffer-format.rst), so `busybox.cpio.gz + overlay.cpio.gz` is the busybox image with another /init.
 */
import { gzipSync } from 'node:zlib';

export interface CpioEntry {
  name: string;
  /** File contents (regular file, mode 0755 unless `mode`). */
  data: Uint8Array | string;
  mode?: number;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

export function newcArchive(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let len = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    len += b.length;
    const pad = (4 - (len % 4)) % 4;
    if (pad) {
      parts.push(new Uint8Array(pad));
      len += pad;
    }
  };
  const enc = new TextEncoder();
  let ino = 1000;
  for (const e of [...entries, { name: 'TRAILER!!!', data: '', mode: 0 }]) {
    const data = typeof e.data === 'string' ? enc.encode(e.data) : e.data;
    const name = enc.encode(`${e.name}\0`);
    const mode = e.name === 'TRAILER!!!' ? 0 : 0o100000 | (e.mode ?? 0o755);
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const head = enc.encode(`070701${fields.map(hex8).join('')}`);
    const hn = new Uint8Array(head.length + name.length); // padding follows header + name together
    hn.set(head, 0);
    hn.set(name, head.length);
    push(hn);
    if (data.length) push(data);
  }
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `base` (a .cpio.gz) followed by a gzipped archive of `entries`. */
export function overlayInitramfs(base: Uint8Array, entries: readonly CpioEntry[]): Uint8Array {
  const extra = gzipSync(newcArchive(entries));
  const out = new Uint8Array(base.length + extra.length);
  out.set(base, 0);
  out.set(extra, base.length);
  return out;
}
