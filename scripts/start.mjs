#!/usr/bin/env node
// `npm start`: the multi-VM demo (issue 10) — `cyclevisor host examples/three-vms.yaml`: three Linux
// VMs (busybox autotest on 2 vCPUs, two nolibc) on a 2-hart simulated host, each console under its
// name, then the per-VM statistics table. The guests are the shared images in ../shared/guests
// beside the repository (../shared/guests/README.md); without them this says so in one line and
// runs the single-guest demo instead (`cyclevisor demo`: the CoreMark-like benchmark, no images).
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const guests = join(root, '..', 'shared', 'guests');
const images = ['linux-6.1-rv64.Image', 'initramfs-busybox.cpio.gz', 'initramfs-nolibc.cpio.gz'];
const missing = images.find((f) => !existsSync(join(guests, f)));
const cli = join(root, 'bin', 'cyclevisor.js');
let args;
if (missing !== undefined) {
  process.stderr.write(`npm start: the shared guest images are missing (${relative(process.cwd(), join(guests, missing))}; see ../shared/guests/README.md): running the single-guest demo (cyclevisor demo) instead\n`);
  args = ['demo'];
} else {
  args = ['host', join('examples', 'three-vms.yaml')];
}
const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
