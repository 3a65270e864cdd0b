// Unicorn-style hooks on a Machine: a code hook on a function, a memory hook on a global, an MMIO
// hook on the UART, a trap hook and an exit hook; one hook pauses the run and the run goes on.
//
//   node examples/api/hooks.mjs [PROGRAM.elf]
//
// The default program is test/guests/bin/gdbtest.elf: bump(i) for i = 1..10 adds i to `counter`.
import { Machine } from 'cyclevisor';
import { fileURLToPath } from 'node:url';

const elf = process.argv[2] ?? fileURLToPath(new URL('../../test/guests/bin/gdbtest.elf', import.meta.url));
const m = new Machine({ ram: '16M' });
const { symbols } = m.loadElf(elf);
const bump = symbols.get('bump');
const counter = symbols.get('counter');

let calls = 0;
m.addCodeHook((e) => {
  calls++;
  return calls === 5; // pause before the 5th call
}, { begin: bump, end: bump });
const writes = [];
m.addMemHook('write', (e) => { writes.push(e.value); }, { begin: counter, end: counter + 7n });
let uartBytes = 0;
m.addMmioHook('write', () => { uartBytes++; }, { begin: 0x1000_0000, end: 0x1000_0000 });
let traps = 0;
m.addTrapHook(() => { traps++; });
m.addExitHook((e) => console.log(`exit hook: ${e.reason} ${e.code}`));

let r = await m.run();
console.log(`${r.reason} at pc 0x${m.getPc().toString(16)} (bump), a0 = ${m.getReg('a0')}, after ${r.instret} instructions`);
r = await m.run();
process.stdout.write(m.consoleText());
console.log(`${r.reason} ${r.code}: bump called ${calls} times, counter written ${writes.join(' ')}, ${uartBytes} UART bytes, ${traps} traps`);
