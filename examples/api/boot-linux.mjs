// Boot the shared Linux kernel with the nolibc initramfs and stop when /init says hello.
//
//   node examples/api/boot-linux.mjs [IMAGES_DIR]
//
// IMAGES_DIR holds linux-6.1-rv64.Image and initramfs-nolibc.cpio.gz (default ../shared/guests
// next to the repository, see shared/guests/README.md).
import { Machine } from 'cyclevisor';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const images = process.argv[2] ?? fileURLToPath(new URL('../../../shared/guests', import.meta.url));
const machine = new Machine({ ram: '256M' });
machine.boot({
  kernel: join(images, 'linux-6.1-rv64.Image'),
  initrd: join(images, 'initramfs-nolibc.cpio.gz'),
  append: 'console=ttyS0',
});
// `until` is checked every million instructions: the stop point depends on the guest only.
const result = await machine.run({ until: 'init: hello from userspace', maxInsns: 200_000_000 });
if (result.reason !== 'until') {
  console.error(`no greeting from /init: ${result.reason} ${result.message ?? ''}`);
  process.exit(1);
}
const line = machine.consoleText().split('\n').find((l) => l.includes('Linux version'));
console.log(line?.trim());
console.log(`init: hello from userspace after ${result.instret} instructions, ${result.cycles} cycles`);
const s = machine.stats();
console.log(`traps: ${s.traps.exceptions} exceptions, ${s.traps.interrupts} interrupts`);
machine.close();
