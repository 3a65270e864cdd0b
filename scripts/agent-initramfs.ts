/**
 * Packs the guest-agent initramfs (issue 10 scope 6): the shared busybox image
 * (../shared/guests/initramfs-busybox.cpio.gz) with the cyclevisor guest agent added, so that
 * `cyclevisor ctl PATH shutdown NAME` can power the VM off gracefully (src/hypervisor/agent.ts).
 *
 *   npx tsx scripts/agent-initramfs.ts [-o FILE] [--gzip] [--images DIR]
 *
 * Default output: build/initramfs-agent.cpio (uncompressed: the guest kernel then copies it instead
 * of inflating it in emulated code). test/global-setup.ts builds it before the tests (~50 ms, no
 * cross-compiler: the agent is a shell script), so it is derived, never committed.
 *
 * Layout, changed from the busybox image:
 *   /init            test/guests/agent/init.sh: starts the agent, then execs /init.busybox
 *   /init.busybox    the image's own /init, unchanged (autotest, or a shell on the console)
 *   /sbin/cv-agent   test/guests/agent/cv-agent: the agent (listens on /dev/hvc1, virtio-console)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DEFAULT_IMAGES, parseCpio, writeCpio, type CpioEntry } from './kvm-initramfs.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const AGENT_KIT = join(ROOT, 'test', 'guests', 'agent');
export const DEFAULT_AGENT_INITRAMFS = join(ROOT, 'build', 'initramfs-agent.cpio');

export interface AgentInitramfsOptions {
  /** Directory with initramfs-busybox.cpio.gz (default ../shared/guests). */
  images?: string;
  gzip?: boolean;
}

/** Builds the agent initramfs in memory. */
export function buildAgentInitramfs(o: AgentInitramfsOptions = {}): Buffer {
  const images = o.images ?? DEFAULT_IMAGES;
  const base = parseCpio(gunzipSync(readFileSync(join(images, 'initramfs-busybox.cpio.gz'))));
  const init = base.find((e) => e.name === 'init');
  if (!init) throw new Error('the busybox image has no /init');
  const kept = base.filter((e) => e.name !== 'init' && e.name !== 'init.busybox' && e.name !== 'sbin/cv-agent');
  let ino = Math.max(0, ...kept.map((e) => e.ino)) + 1;
  const add = (name: string, mode: number, data: Uint8Array): CpioEntry => ({
    name, mode, uid: 0, gid: 0, nlink: 1, mtime: 0, ino: ino++, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0, data,
  });
  const cpio = writeCpio([
    ...kept,
    add('init.busybox', init.mode, init.data),
    add('init', 0o100755, readFileSync(join(AGENT_KIT, 'init.sh'))),
    add('sbin/cv-agent', 0o100755, readFileSync(join(AGENT_KIT, 'cv-agent'))),
  ]);
  return o.gzip ? gzipSync(cpio, { level: 9 }) : cpio;
}

/** Writes the initramfs to `out` (creating its folder). */
export function writeAgentInitramfs(out: string = DEFAULT_AGENT_INITRAMFS, o: AgentInitramfsOptions = {}): number {
  const buf = buildAgentInitramfs(o);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, buf);
  return buf.length;
}

function main(argv: string[]): void {
  let out = DEFAULT_AGENT_INITRAMFS;
  let gzip = false;
  let images: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '--output') out = argv[++i] ?? '';
    else if (a === '--gzip') gzip = true;
    else if (a === '--images') images = argv[++i];
    else {
      process.stderr.write(`agent-initramfs: unknown argument '${a}' (usage: agent-initramfs.ts [-o FILE] [--gzip] [--images DIR])\n`);
      process.exit(2);
    }
  }
  if (!out) {
    process.stderr.write('agent-initramfs: -o needs a file name\n');
    process.exit(2);
  }
  try {
    const n = writeAgentInitramfs(out, { gzip, ...(images !== undefined ? { images } : {}) });
    process.stdout.write(`${resolve(out)}: ${n} bytes\n`);
  } catch (e) {
    process.stderr.write(`agent-initramfs: ${(e as Error).message}\n`);
    process.exit(2);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
