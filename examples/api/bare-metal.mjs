// Run a bare-metal ELF on the bare core with a hand-written device model, then read registers.
//
//   node examples/api/bare-metal.mjs [PROGRAM.elf]
//
// The program (default test/guests/bin/hello.elf) prints through an ns16550a UART at 0x10000000
// and exits through the SiFive test finisher at 0x100000: the MMIO handler below is the whole board.
import { Core } from 'cyclevisor';
import { fileURLToPath } from 'node:url';

const elf = process.argv[2] ?? fileURLToPath(new URL('../../test/guests/bin/hello.elf', import.meta.url));
let out = '';
let exitCode = null;
const core = new Core({
  ram: '16M',
  mmio: {
    read(addr) {
      if (addr === 0x1000_0005) return 0x60; // UART LSR: transmitter empty
      if (addr >= 0x1000_0000 && addr < 0x1000_0100) return 0;
      return null; // access fault
    },
    write(addr, size, value) {
      if (addr === 0x1000_0000) out += String.fromCharCode(Number(value & 0xffn));
      else if (addr === 0x10_0000) {
        exitCode = (value & 0xffffn) === 0x5555n ? 0 : Number(value >> 16n);
        core.stop(); // run() returns 'stopped' at the next block boundary
      } else if (!(addr >= 0x1000_0000 && addr < 0x1000_0100)) return false;
    },
  },
});
const { entry, symbols } = core.loadElf(elf);
console.log(`entry 0x${entry.toString(16)}, main at 0x${(symbols.get('main') ?? 0n).toString(16)}`);
// Single-step the first three instructions.
for (let i = 0; i < 3; i++) {
  core.step();
  console.log(`step ${i + 1}: pc 0x${core.pc.toString(16)} sp 0x${core.getReg('sp').toString(16)}`);
}
const reason = core.run({ maxInsns: 10_000_000 });
process.stdout.write(out);
console.log(`${reason}: exit ${exitCode}, ${core.instret} instructions, ${core.cycles} cycles, a0 = ${core.getReg('a0')}`);
