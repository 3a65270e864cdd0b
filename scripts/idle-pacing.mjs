#!/usr/bin/env node
// Idle pacing measurement (issue 8 item 3): boots the busybox shell, waits for the prompt, then
// measures the cyclevisor process's CPU use over a wall interval while the guest idles, and the
// guest's uptime (/proc/uptime read twice) against the wall clock.
//
//   node scripts/idle-pacing.mjs [seconds] [extra cyclevisor boot options, e.g. --pace on]
//
// Needs ../shared/guests (kernel, OpenSBI, busybox initramfs) and a build (npm run build).
// CYCLEVISOR_ROOT=DIR measures the cyclevisor checkout in DIR instead (e.g. an older build).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = process.env.CYCLEVISOR_ROOT ?? here;
const guests = join(here, '..', 'shared', 'guests');
const seconds = Number(process.argv[2] ?? 5);
const extra = process.argv.slice(3);
const args = [
  join(root, 'bin', 'cyclevisor.js'), 'boot',
  '--bios', join(guests, 'opensbi-fw_dynamic.bin'),
  '--kernel', join(guests, 'linux-6.1-rv64.Image'),
  '--initrd', join(guests, 'initramfs-busybox.cpio.gz'),
  '--append', 'console=ttyS0', ...extra,
];
const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (d) => (out += d.toString()));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const waitFor = async (re, from, ms = 120_000) => {
  const t0 = Date.now();
  while (!re.test(out.slice(from))) {
    if (Date.now() - t0 > ms) throw new Error(`timeout waiting for ${re}; output tail: ${out.slice(-300)}`);
    await sleep(20);
  }
};
/** utime + stime of the child in seconds (/proc/PID/stat fields 14, 15; clock ticks of 1/100 s). */
const cpu = () => {
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const uptime = async () => {
  const from = out.length;
  child.stdin.write('cat /proc/uptime\n');
  await waitFor(/\n(\d+\.\d+) \d+\.\d+\s*\r?\n/, from);
  return Number(/\n(\d+\.\d+) \d+\.\d+\s*\r?\n/.exec(out.slice(from))[1]);
};
const t0 = Date.now();
await waitFor(/ # $|\/ # /, 0);
const bootWall = (Date.now() - t0) / 1000;
await sleep(500);
const u1 = await uptime();
const w1 = Date.now();
await sleep(300);
const c1 = cpu();
const cw1 = Date.now();
await sleep(seconds * 1000);
const c2 = cpu();
const cw2 = Date.now();
const u2 = await uptime();
const w2 = Date.now();
child.stdin.write('poweroff -f\n');
child.stdin.end();
setTimeout(() => child.kill('SIGKILL'), 5000).unref();
const wall = (cw2 - cw1) / 1000;
console.log(`boot to prompt: ${bootWall.toFixed(1)} s wall; uptime at first read ${u1.toFixed(2)} s`);
console.log(`idle CPU use: ${(((c2 - c1) / wall) * 100).toFixed(1)} % of one core over ${wall.toFixed(1)} s wall`);
console.log(`guest uptime advanced ${(u2 - u1).toFixed(2)} s while the wall clock advanced ${((w2 - w1) / 1000).toFixed(2)} s (ratio ${((u2 - u1) / ((w2 - w1) / 1000)).toFixed(2)})`);
