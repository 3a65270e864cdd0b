/** Helpers of the snapshot / migration tests: a timer-driven VS guest and the snapshot-restore comparison. */
import { expect } from 'vitest';
import { assemble, type Insn } from './core-harness.js';
import { buildElf } from './elf-writer.js';
import { li } from './paging.js';
import { Host } from '../../src/hypervisor/host.js';
import type { Vm } from '../../src/hypervisor/vm.js';
import type { VmSpec } from '../../src/hypervisor/types.js';
import { restoreVm, saveVm } from '../../src/hypervisor/snapshot.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;
const csrr = (rd: number, csr: number): Insn => ['csrrs', { rd, rs1: 0, imm: csr }];
const csrw = (csr: number, rs1: number): Insn => ['csrrw', { rd: 0, rs1, imm: csr }];
const ecall = (eid: bigint, fid: number, a0: bigint, a1 = 0n): Insn[] => [...li(17, eid), ...li(16, BigInt(fid)), ...li(10, a0), ...li(11, a1), ['ecall']];

/**
 * A VS guest that exercises every part of a VM's state: 40 iterations of — hash into a table in
 * RAM (memory), print a letter through the UART (MMIO exits, device state), arm the VS timer
 * 1000 ticks ahead through SBI (vstimecmp, the VM clock) and WFI until it fires (the idle skip);
 * then print the hash through SBI putchar and power off (SRST).
 */
export function timerGuest(iterations = 40, letterBase = 97): Uint8Array {
  const head: Insn[] = [
    ...li(5, 0x20n), csrw(0x104, 5), // sie.STIE (vsie): WFI wakes on the VS timer (SIE stays 0: no trap)
    ...li(8, 0n), ...li(9, BigInt(iterations)), ...li(18, 7n), // s0 = i, s1 = n, s2 = hash
    ...li(19, RAM + 0x10_0000n), ...li(20, 0x1000_0000n), // s3 = table, s4 = UART
  ];
  const body: Insn[] = [
    ...li(6, 31n), ['mul', { rd: 18, rs1: 18, rs2: 6 }], ['add', { rd: 18, rs1: 18, rs2: 8 }],
    ['slli', { rd: 7, rs1: 8, imm: 3 }], ['add', { rd: 7, rs1: 7, rs2: 19 }], ['sd', { rs1: 7, rs2: 18, imm: 0 }],
    ...li(6, 26n), ['remu', { rd: 7, rs1: 8, rs2: 6 }], ['addi', { rd: 7, rs1: 7, imm: letterBase }], ['sb', { rs1: 20, rs2: 7, imm: 0 }],
    csrr(10, 0xc01), ['addi', { rd: 10, rs1: 10, imm: 1000 }], ...li(17, 0n), ['ecall'], // legacy set_timer(time + 1000)
    ['wfi'],
    ['addi', { rd: 8, rs1: 8, imm: 1 }],
  ];
  const bodyLen = assemble(body).length;
  const tail: Insn[] = [
    ['bne', { rs1: 8, rs2: 9, imm: -bodyLen }],
    ...li(6, 0xffn), ['and', { rd: 10, rs1: 18, rs2: 6 }], ...li(17, 1n), ['ecall'], // putchar(hash & 0xff)
    ...li(6, 10n), ['addi', { rd: 10, rs1: 6, imm: 0 }], ...li(17, 1n), ['ecall'],
    ...ecall(0x53525354n, 0, 0n, 0n), ['jal', { rd: 0, imm: 0 }],
  ];
  const code = assemble([...head, ...body, ...tail]);
  const page = new Uint8Array(0x2000);
  page.set(code, 0);
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: page, section: '.text' }] });
}

export function counters(vm: Vm) {
  const s = vm.stats();
  return { instructions: s.instructions, cycles: s.cycles, hostCycles: s.hostCycles, exits: s.exits, consoleBytes: s.consoleBytes, state: s.state };
}

/**
 * Run `spec` uninterrupted; run it again and snapshot it once its clock passes `at` (it keeps
 * running); restore the snapshot into a fresh host (with `neighbours` beside it) and run that to
 * the end. Returns the three for comparison.
 */
export function snapshotRun(spec: VmSpec, at: number, opts: { harts?: number; ram?: number; neighbours?: VmSpec[]; maxHostCycles?: number } = {}) {
  const harts = opts.harts ?? 1;
  const ram = opts.ram ?? 64 * MiB;
  const max = opts.maxHostCycles ?? 5e8;
  const ref = new Host({ harts: 1, ramBytes: ram });
  const rvm = ref.addVm(spec);
  expect(ref.run({ maxHostCycles: max }).code).toBe(0);

  const src = new Host({ harts: 1, ramBytes: ram });
  const svm = src.addVm(spec);
  let file: Buffer | null = null;
  let before = '';
  src.run({
    maxHostCycles: max,
    afterRound: (h) => {
      if (file === null && svm.now >= at && svm.state === 'running') {
        file = saveVm(h, svm).file;
        before = svm.outputText();
      }
    },
  });
  expect(file).not.toBeNull();

  const dst = new Host({ harts, ramBytes: ram + (opts.neighbours?.length ?? 0) * 64 * MiB });
  for (const n of opts.neighbours ?? []) dst.addVm(n);
  const dvm = dst.addVm({ ...spec, autostart: false });
  restoreVm(dst, dvm, file!, 'snap');
  expect(dst.run({ maxHostCycles: max * 2 }).code).toBe(0);
  const r = { ref: rvm, src: svm, dst: dvm, before, file: file! };
  ref.close();
  src.close();
  dst.close();
  return r;
}

