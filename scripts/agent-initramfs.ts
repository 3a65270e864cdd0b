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
import { DEFAULT_IMAGES, initramfsMain, overlayBusybox } from './kvm-initramfs.js';

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
  return overlayBusybox(o.images ?? DEFAULT_IMAGES, (n) => n === 'init' || n === 'init.busybox' || n === 'sbin/cv-agent', (base) => {
    const init = base.find((e) => e.name === 'init');
    if (!init) throw new Error('the busybox image has no /init');
    return [
      { name: 'init.busybox', mode: init.mode, data: init.data },
      { name: 'init', mode: 0o100755, data: readFileSync(join(AGENT_KIT, 'init.sh')) },
      { name: 'sbin/cv-agent', mode: 0o100755, data: readFileSync(join(AGENT_KIT, 'cv-agent')) },
    ];
  }, o.gzip);
}

/** Writes the initramfs to `out` (creating its folder). */
export function writeAgentInitramfs(out: string = DEFAULT_AGENT_INITRAMFS, o: AgentInitramfsOptions = {}): number {
  const buf = buildAgentInitramfs(o);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, buf);
  return buf.length;
}

function main(argv: string[]): void {
  initramfsMain('agent-initramfs', DEFAULT_AGENT_INITRAMFS, argv, (out, o) => writeAgentInitramfs(out, o));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
