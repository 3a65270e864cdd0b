/**
 * `npm run bench:net`: TCP throughput guest → host through the user network's NAT (issue 13).
 * Boots Linux 6.1 with the network test image (scripts/net-initramfs.ts, nettest=bench): the guest
 * gets its address by DHCP and pipes `dd if=/dev/zero` through busybox `nc` to 10.0.2.2:PORT, i.e.
 * a TCP sink on the host's loopback. Reports the bytes, the host wall time and the guest's virtual
 * time between the sink's first and last byte, and throughput in both, plus what the NIC counted.
 * Paced as the CLI runs a networked guest (pacing only acts while the guest idles).
 *
 * Environment: NET_MB (MiB to send, default 8), BENCH_RUNS (best of, default 3), NET_PACE=off,
 * GUESTS (the images' directory).
 */
import * as net from 'node:net';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useOptimizingCompiler } from '../src/core.js';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux } from '../src/board/boot.js';
import { UserNet } from '../src/net/slirp.js';
import { defaultMac } from '../src/net/link.js';
import { buildNetInitramfs } from '../scripts/net-initramfs.js';

useOptimizingCompiler();
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const guests = process.env.GUESTS ?? join(root, '..', 'shared', 'guests');
const KERNEL = join(guests, 'linux-6.1-rv64.Image');
const MB = Math.max(1, Number(process.env.NET_MB ?? 8));
if (!existsSync(KERNEL)) {
  console.error(`bench:net: ${KERNEL} not found (set GUESTS to the guest image directory)`);
  process.exit(2);
}

async function run() {
let bytes = 0;
let first: { wall: number; cycles: number } | null = null;
let last: { wall: number; cycles: number } | null = null;
let machine: VirtMachine | null = null;
const mark = () => ({ wall: performance.now(), cycles: machine!.core.cycles });
const sink = net.createServer((s) => {
  s.on('data', (d) => {
    if (first === null) first = mark();
    bytes += d.length;
    last = mark();
  });
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const port = (sink.address() as net.AddressInfo).port;

const un = new UserNet();
await un.listen();
let console_ = '';
machine = new VirtMachine({ ramBytes: 256 << 20, nics: [{ mac: defaultMac(0), backend: un }], onOutput: (b) => (console_ += Buffer.from(b).toString('latin1')) });
machine.attachHostSocket(un);
const initrd = join(mkdtempSync(join(tmpdir(), 'cv-bench-net-')), 'initramfs-net.cpio');
writeFileSync(initrd, buildNetInitramfs());
bootLinux(machine, { bios: 'builtin', kernel: KERNEL, initrd, append: `console=ttyS0 nettest=bench netsink=10.0.2.2:${port} netmb=${MB}` });
const t0 = performance.now();
const r = await machine.runAsync({ pace: process.env.NET_PACE !== 'off' });
const total = (performance.now() - t0) / 1000;
sink.close();
machine.close();
const ok = r.code === 0 && console_.includes(`net: bench sent ${MB} MiB`) && bytes === MB * 1024 * 1024;
if (!ok || first === null || last === null) {
  console.error(`bench:net: the transfer did not complete (exit ${r.code}, ${bytes} bytes at the sink)`);
  console.error(console_.split('\n').filter((l) => l.startsWith('net:')).join('\n'));
  process.exit(1);
}
const f = first as { wall: number; cycles: number };
const l = last as { wall: number; cycles: number };
const wallS = (l.wall - f.wall) / 1000;
const virtS = (l.cycles - f.cycles) / machine.timing.cpuHz;
const mib = bytes / (1024 * 1024);
return { wallS, virtS, total, mib, nic: { ...machine.nics[0].stats }, mhz: machine.timing.cpuHz / 1e6 };
}

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const results = [];
for (let i = 0; i < RUNS; i++) results.push(await run());
const best = results.reduce((a, b) => (b.wallS < a.wallS ? b : a));
const s = best.nic;
console.log(`TCP guest -> host through NAT (busybox nc -> 127.0.0.1 sink), ${best.mib} MiB, best of ${RUNS} (wall: ${results.map((r) => r.wallS.toFixed(2)).join(', ')} s)`);
console.log(`  wall time     ${best.wallS.toFixed(2)} s   ${(best.mib / best.wallS).toFixed(2)} MiB/s   (whole run ${best.total.toFixed(1)} s)`);
console.log(`  virtual time  ${best.virtS.toFixed(3)} s   ${(best.mib / best.virtS).toFixed(2)} MiB/s   (at ${best.mhz} MHz)`);
console.log(`  NIC           tx ${s.txPackets} packets ${s.txBytes} bytes, rx ${s.rxPackets} packets, drops tx ${s.txDrops} rx ${s.rxDrops}`);
