/**
 * Two tiny bare-metal VS-mode guests for the host gdb stub test (host-gdbstub.test.ts): a loop
 * that calls `bump` N times (bump adds 1 to `counter`), then (at `done`) prints its tag through SBI putchar
 * and powers off (SRST). Both link at the VM RAM base, so `bump` has the same address in both
 * VMs: a breakpoint of one inferior is executed by the other VM too (and must not stop it).
 */
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li } from '../helpers/paging.js';

export const RAM = 0x8000_0000n;
export const BUMP = RAM + 0x400n;
export const COUNTER = RAM + 0x800n;
const ecall = (eid: bigint, fid: number, a0: bigint, a1 = 0n): Insn[] => [...li(17, eid), ...li(16, BigInt(fid)), ...li(10, a0), ...li(11, a1), ['ecall']];

export function loopGuest(tag: string, n: bigint): Uint8Array {
  const pre: Insn[] = [...li(8, n), ...li(9, COUNTER)];
  const at = pre.length * 4;
  const main: Insn[] = [
    ...pre,
    ['jal', { rd: 1, imm: 0x400 - at }],
    ['addi', { rd: 8, rs1: 8, imm: -1 }],
    ['bne', { rs1: 8, rs2: 0, imm: -8 }],
    ...ecall(1n, 0, BigInt(tag.charCodeAt(0))),
    ...ecall(0x53525354n, 0, 0n, 0n),
    ['jal', { rd: 0, imm: 0 }],
  ];
  const bump: Insn[] = [['ld', { rd: 5, rs1: 9, imm: 0 }], ['addi', { rd: 5, rs1: 5, imm: 1 }], ['sd', { rs1: 9, rs2: 5, imm: 0 }], ['jalr', { rd: 0, rs1: 1, imm: 0 }]];
  const code = new Uint8Array(0x1000);
  code.set(assemble(main), 0);
  code.set(assemble(bump), 0x400);
  return buildElf({
    entry: RAM,
    segments: [{ paddr: RAM, data: code, section: '.text' }],
    symbols: [
      { name: 'main', value: RAM, type: 2 },
      { name: 'done', value: RAM + BigInt(at + 12), type: 2 },
      { name: 'bump', value: BUMP, type: 2 },
      { name: 'counter', value: COUNTER, type: 1 },
    ],
  });
}
