/**
 * Issue 12 scope 3, the device side: under overcommit a virtio DMA into guest RAM that has no
 * frame yet (never touched: a hole) when the pool is empty pauses the VM for memory — state
 * `paused`, reason `memory`, as a guest's own first touch does — and the request is done when
 * frames come back, before the guest runs again. Before, the memory access failed inside the
 * device: a DMA fault, DEVICE_NEEDS_RESET, and the guest waited forever for its buffer.
 *
 * The guest drives virtio-rng itself (virtio-mmio v2, Linux's order: reset, ACKNOWLEDGE, DRIVER,
 * VERSION_1, FEATURES_OK, queue 0 of 8, DRIVER_OK); after a spin (the hog VM empties the pool
 * meanwhile) it posts one 64-byte device-writable buffer at RAM + 10 MiB — a chunk it never
 * touched — kicks, waits for used.idx, prints 'R' and 'Y' if the buffer holds random bytes, and
 * powers off.
 */
import { describe, expect, it } from 'vitest';
import { assemble, type Insn } from '../helpers/core-harness.js';
import { buildElf } from '../helpers/elf-writer.js';
import { li } from '../helpers/paging.js';
import { Host } from '../../src/hypervisor/host.js';
import { HOLE } from '../../src/hypervisor/memory.js';
import { VirtioRng } from '../../devices/virtio-rng.js';

const MiB = 1024 * 1024;
const RAM = 0x8000_0000n;
const RNG = 0x1000_8000n; // the top virtio-mmio slot: virtio-rng of a VM without disks or NICs
const DESC = RAM + 0x1_0000n;
const AVAIL = RAM + 0x1_1000n;
const USED = RAM + 0x1_2000n;
const BUF = RAM + 0xa0_0000n; // chunk 5
const SRST: Insn[] = [...li(17, 0x53525354n), ...li(16, 0n), ...li(10, 0n), ...li(11, 0n), ['ecall'], ['jal', { rd: 0, imm: 0 }]];

const reg = (off: number, value: bigint): Insn[] => [...li(5, value), ['sw', { rs1: 8, rs2: 5, imm: off }]];

function rngGuest(): Uint8Array {
  const wait: Insn[] = [['lhu', { rd: 28, rs1: 6, imm: 2 }], ['beq', { rs1: 28, rs2: 0, imm: -4 }]];
  const prog: Insn[] = [
    ...li(8, RNG),
    ...reg(0x70, 0n), ...reg(0x70, 1n), ...reg(0x70, 3n), // reset, ACKNOWLEDGE, DRIVER
    ...reg(0x24, 1n), ...reg(0x20, 1n), ...reg(0x24, 0n), ...reg(0x20, 0n), // VERSION_1 only
    ...reg(0x70, 11n), // FEATURES_OK
    ...reg(0x30, 0n), ...reg(0x38, 8n),
    ...reg(0x80, DESC), ...reg(0x84, 0n), ...reg(0x90, AVAIL), ...reg(0x94, 0n), ...reg(0xa0, USED), ...reg(0xa4, 0n),
    ...reg(0x44, 1n), ...reg(0x70, 15n), // QueueReady, DRIVER_OK
    ...li(7, 3_000_000n), ['addi', { rd: 7, rs1: 7, imm: -1 }], ['bne', { rs1: 7, rs2: 0, imm: -4 }],
    // desc[0] = { BUF, 64, WRITE }; avail.ring[0] = 0; avail.idx = 1; notify queue 0.
    ...li(6, DESC), ...li(7, BUF), ['sd', { rs1: 6, rs2: 7, imm: 0 }], ...li(7, 64n), ['sw', { rs1: 6, rs2: 7, imm: 8 }],
    ...li(7, 2n), ['sh', { rs1: 6, rs2: 7, imm: 12 }], ['sh', { rs1: 6, rs2: 0, imm: 14 }],
    ...li(6, AVAIL), ['sh', { rs1: 6, rs2: 0, imm: 4 }], ...li(7, 1n), ['sh', { rs1: 6, rs2: 7, imm: 2 }],
    ['sw', { rs1: 8, rs2: 0, imm: 0x50 }],
    ...li(6, USED), ...wait,
    ...li(29, 0x1000_0000n), ...li(5, 82n), ['sb', { rs1: 29, rs2: 5, imm: 0 }], // 'R'
    ...li(6, BUF), ['ld', { rd: 7, rs1: 6, imm: 0 }], ['ld', { rd: 30, rs1: 6, imm: 56 }], ['or', { rd: 7, rs1: 7, rs2: 30 }],
    ...li(5, 89n), ['bne', { rs1: 7, rs2: 0, imm: 8 }], ...li(5, 78n), ['sb', { rs1: 29, rs2: 5, imm: 0 }], // 'Y' / 'N'
    ...SRST,
  ];
  const code = new Uint8Array(0x1000);
  code.set(assemble(prog));
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: code, section: '.text' }] });
}

/** Touches one word of every page of [RAM + 2 MiB, RAM + 24 MiB), then spins forever. */
function hog(): Uint8Array {
  const step: Insn[] = [['sd', { rs1: 18, rs2: 18, imm: 0 }], ['add', { rd: 18, rs1: 18, rs2: 19 }]];
  const prog: Insn[] = [...li(18, RAM + 0x20_0000n), ...li(19, 4096n), ...li(9, RAM + 0x180_0000n), ...step, ['bltu', { rs1: 18, rs2: 9, imm: -assemble(step).length }], ['jal', { rd: 0, imm: 0 }]];
  const code = new Uint8Array(0x1000);
  code.set(assemble(prog));
  return buildElf({ entry: RAM, segments: [{ paddr: RAM, data: code, section: '.text' }] });
}

describe('overcommit: a virtio DMA that finds no frame pauses the VM and is redone later', () => {
  it('paused for memory at the kick, nothing broken; the hog destroyed, the request is done and the guest goes on', () => {
    // 32 MiB host: 13 chunks for RAM. The hog takes 12 (its code and 11 touched), the guest its code chunk.
    const host = new Host({ harts: 1, ramBytes: 32 * MiB, overcommit: true });
    const vm = host.addVm({ name: 'rng', vcpus: 1, memoryBytes: 16 * MiB, kernel: rngGuest(), balloon: false });
    const h = host.addVm({ name: 'hog', vcpus: 1, memoryBytes: 24 * MiB, kernel: hog(), balloon: false });
    const r1 = host.run({ maxHostCycles: 1e9, afterRound: () => (vm.pausedForMemory ? 'stop' : undefined) });
    expect(r1.code).toBe(130);
    expect(vm.state).toBe('paused');
    expect(host.pool.freeChunks).toBe(0);
    expect(h.state).toBe('running');
    const slot = vm.platform.virtio.find((m) => m.device instanceof VirtioRng)!;
    const rng = slot.device as VirtioRng;
    // The request waits in the ring: not taken, no DMA fault, the transport healthy.
    expect(vm.memory.chunks[5]).toBe(HOLE);
    expect(new DataView(vm.memory.read(Number(USED), 4).buffer).getUint16(2, true)).toBe(0);
    expect(rng.requests).toBe(0);
    expect(slot.errors).toBe(0);
    expect(slot.broken).toBe(false);

    expect(host.destroy('hog').ok).toBe(true);
    const r2 = host.run({ maxHostCycles: 1e9 });
    expect(r2.code).toBe(1); // the hog was destroyed
    expect(r2.message).toBe('hog: destroyed');
    expect(vm.poweredOff).toBe(true);
    expect(vm.outputText()).toBe('RY');
    expect(rng.requests).toBe(1);
    expect(slot.errors).toBe(0);
    host.close();
  });
});
