/**
 * Snapshots carry the per-vCPU state the VMM keeps outside the core's saved context (issue 12
 * scope 4, "every vCPU's state"; snapshot format version 2): the LR/SC reservation (kept across
 * host preemption for the vCPU that ran last: vm.ts runVcpu), scounteren and senvcfg (S-mode CSRs
 * the H extension does not bank for VS, Priv §9.2: switched per vCPU as KVM does), and the
 * trap-loop detectors. Before version 2 a restored vCPU lost its reservation (its SC failed where
 * the uninterrupted run's succeeded) and read scounteren 7 / senvcfg 0 again.
 *
 * The guest: 20 times LR, a long spin (the host slices it: a snapshot lands between LR and SC),
 * SC — 'S' on success, 'F' on failure — to the UART; having set scounteren = 2 and senvcfg.CBZE at
 * the start, it prints them at the end, then powers off (SRST).
 */
import { describe, expect, it } from 'vitest';
import { Host, RoundRobinPlacement } from '../../src/hypervisor/host.js';
import type { VmSpec } from '../../src/hypervisor/types.js';
import { SNAPSHOT_VERSION, decodeSnapshot, encodeSnapshot, restoreVm, saveVm } from '../../src/hypervisor/snapshot.js';
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li } from '../helpers/paging.js';
import { csrr, csrw } from '../helpers/isa.js';
import { counters } from '../helpers/snapshot.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;

function lrscGuest(iterations = 20, spin = 20_000n): Uint8Array {
  const head: Insn[] = [
    ...li(19, RAM + 0x1000n), ...li(20, 0x1000_0000n), ...li(9, BigInt(iterations)), // s3 data, s4 UART, s1 n
    ...li(5, 2n), csrw(0x106, 5), // scounteren = TM
    ...li(5, 0x80n), csrw(0x10a, 5), // senvcfg.CBZE
  ];
  const spinLoop: Insn[] = [['addi', { rd: 6, rs1: 6, imm: -1 }], ['bne', { rs1: 6, rs2: 0, imm: -4 }]];
  const body: Insn[] = [
    ['lr.d', { rd: 5, rs1: 19 }],
    ...li(6, spin),
    ...spinLoop,
    ['addi', { rd: 5, rs1: 5, imm: 1 }],
    ['sc.d', { rd: 7, rs1: 19, rs2: 5 }],
    ...li(28, 83n), // 'S'
    ['beq', { rs1: 7, rs2: 0, imm: 8 }],
    ...li(28, 70n), // 'F' (li of a small value is one addi: the beq skips it)
    ['sb', { rs1: 20, rs2: 28, imm: 0 }],
    ['addi', { rd: 9, rs1: 9, imm: -1 }],
  ];
  expect(assemble(li(28, 70n)).length).toBe(4);
  const bodyLen = assemble(body).length;
  const tail: Insn[] = [
    ['bne', { rs1: 9, rs2: 0, imm: -bodyLen }],
    csrr(5, 0x106), ['addi', { rd: 5, rs1: 5, imm: 48 }], ['sb', { rs1: 20, rs2: 5, imm: 0 }],
    csrr(5, 0x10a), ['srli', { rd: 5, rs1: 5, imm: 4 }], ['addi', { rd: 5, rs1: 5, imm: 48 }], ['sb', { rs1: 20, rs2: 5, imm: 0 }],
    ...li(5, 10n), ['sb', { rs1: 20, rs2: 5, imm: 0 }],
    ...li(17, 0x53525354n), ...li(16, 0n), ...li(10, 0n), ...li(11, 0n), ['ecall'], ['jal', { rd: 0, imm: 0 }],
  ];
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: assemble([...head, ...body, ...tail]), section: '.text' }] });
}

describe('snapshots keep the per-vCPU state outside the core context (format version 2)', () => {
  const spec: VmSpec = { name: 'lrsc', vcpus: 1, memoryBytes: 4 * MiB, kernel: lrscGuest() };

  const reference = () => {
    const ref = new Host({ harts: 1, ramBytes: 32 * MiB });
    const vm = ref.addVm(spec);
    expect(ref.run({ maxHostCycles: 1e8 }).code).toBe(0);
    return { host: ref, vm };
  };
  /** Run on 10,000-cycle slices (so rounds end inside the spins), snapshot once past `at`. */
  const snapshotAt = (at: number) => {
    const src = new Host({ harts: 1, ramBytes: 32 * MiB }, { placement: new RoundRobinPlacement(10_000) });
    const vm = src.addVm(spec);
    let file: Buffer | null = null;
    let before = '';
    src.run({
      maxHostCycles: 1e8,
      afterRound: (h) => {
        if (file === null && vm.now >= at && vm.state === 'running') {
          file = saveVm(h, vm).file;
          before = vm.outputText();
        }
      },
    });
    return { src, vm, file: file!, before };
  };

  it('a snapshot between LR and SC restores the reservation (the SC succeeds), scounteren and senvcfg', () => {
    const ref = reference();
    const full = ref.vm.outputText();
    expect(full).toBe('S'.repeat(20) + '28\n');
    const s = snapshotAt(500_000);
    expect(s.vm.outputText()).toBe(full);
    // The snapshot really caught a live reservation, and the CSRs the guest set.
    const meta = decodeSnapshot(s.file).meta;
    expect(meta.version).toBe(SNAPSHOT_VERSION);
    expect(meta.vcpus[0]!.resv).toBe('0x80001000');
    expect(meta.vcpus[0]!.scounteren).toBe('0x2');
    expect(meta.vcpus[0]!.senvcfg).toBe('0x80');
    expect(meta.lastRun).toBe(0);
    expect(s.before.length).toBeGreaterThan(0);
    expect(s.before.length).toBeLessThan(20);

    // Restored into a fresh host beside a neighbour that takes the low frames (so the guest's
    // frames, and the reservation's host address, differ from the source's).
    const dst = new Host({ harts: 1, ramBytes: 32 * MiB });
    dst.addVm({ ...spec, name: 'first', autostart: false });
    const dvm = dst.addVm({ ...spec, autostart: false });
    expect(dvm.memory.chunks[0]).not.toBe(s.vm.memory.chunks[0]);
    restoreVm(dst, dvm, s.file, 'lrsc.cvsnap');
    expect(dst.run({ maxHostCycles: 1e8 }).code).toBe(0);
    expect(s.before + dvm.outputText()).toBe(full);
    expect(counters(dvm)).toEqual(counters(ref.vm));
    for (const h of [ref.host, s.src, dst]) h.close();
  });

  it('a version 1 file (before these fields) is still read: the vCPU state takes its boot values', () => {
    const s = snapshotAt(500_000);
    const snap = decodeSnapshot(s.file);
    const m = snap.meta as unknown as Record<string, unknown> & { vcpus: Array<Record<string, unknown>> };
    for (const k of ['lastRun', 'holes', 'balloon']) delete m[k];
    for (const v of m.vcpus) for (const k of ['resv', 'scounteren', 'senvcfg', 'trapStreak', 'trapInstret', 'trapsInARow', 'instretAtTrap']) delete v[k];
    m['version'] = 1;
    const v1 = encodeSnapshot(snap, 1, 1);
    expect(v1.readUInt32LE(8)).toBe(1);
    const dst = new Host({ harts: 1, ramBytes: 32 * MiB });
    const dvm = dst.addVm({ ...spec, autostart: false });
    restoreVm(dst, dvm, v1, 'old.cvsnap');
    expect(dst.run({ maxHostCycles: 1e8 }).code).toBe(0);
    // What a version 1 restore gave: the reservation lost (that SC fails and the guest prints F),
    // scounteren 7 and senvcfg 0 again.
    expect(s.before + dvm.outputText()).toBe(s.before + 'F' + 'S'.repeat(19 - s.before.length) + '70\n');
    s.src.close();
    dst.close();
  });
});
