/**
 * The `virt` *platform*: QEMU's riscv virt memory map and the device instances behind it (test
 * finisher, CLINT, PCI PIO window, PLIC, ns16550a UART, goldfish RTC, virtio-mmio slots with
 * virtio-blk drives, virtio-rng and, on a VM's platform, virtio-console), wired to one Bus (the platform's port/MMIO registry), a clock,
 * an event scheduler, an interrupt sink and guest memory — and nothing else. It knows no core.
 *
 * Two users (issue 10 scope 4: one device code path, bare or virtualized):
 *  - the bare board (src/board/virt.ts `VirtMachine`): the host machine's core reaches this Bus
 *    through its MMIO import, the clock is the core's cycle counter, interrupt lines end in mip;
 *  - a VM (src/hypervisor/vm.ts): the VMM reaches the same Bus from MMIO exits, the clock is the
 *    VM's virtual clock, interrupt lines end in a vCPU's hvip, guest memory is the VM's GPA space.
 *    A VM's platform has no CLINT (its timer is SBI TIME over vstimecmp, its IPIs SBI IPI) and one
 *    S-mode PLIC context per hart (`kind: 'vm'`), as QEMU virt under KVM.
 *
 * Devices are created in the order the board always created them (event and registry order are
 * part of determinism).
 */
import { Bus } from '../bus/registry.js';
import type { Clock, GuestMemory, HartIrqSink, MachineControl } from '../bus/types.js';
import type { EventScheduler } from '../scheduler.js';
import { Clint } from '../../devices/clint.js';
import { Plic } from '../../devices/plic.js';
import { Uart16550 } from '../../devices/uart16550.js';
import { TestFinisher } from '../../devices/test-finisher.js';
import { GoldfishRtc } from '../../devices/goldfish-rtc.js';
import { VirtioMmio } from '../../devices/virtio-mmio.js';
import { VirtioBlk, FileBlockBackend, type BlockBackend } from '../../devices/virtio-blk.js';
import { ProbedRawGuard } from '../block/open-image.js';
import { VirtioRng } from '../../devices/virtio-rng.js';
import { VirtioConsole } from '../../devices/virtio-console.js';
import { VirtioNet } from '../../devices/virtio-net.js';
import type { NetBackend, NetEndpoint } from '../net/link.js';
import type { VirtioBalloon } from '../../devices/virtio-balloon.js';
import { RAM_GPA as RAM_BASE } from '../generated/layout.js';
import { UserError } from '../errors.js';
import type { DtConfig } from './devicetree.js';

export interface MapEntry {
  /** Device-tree style node name. */
  readonly name: string;
  readonly base: number;
  readonly size: number;
  /** `compatible` string the device-tree generator will emit. */
  readonly compatible: string;
  /** PLIC source(s): one per slot for repeated entries. */
  readonly irq?: number;
  /** Number of consecutive slots of `size` bytes (virtio-mmio), default 1. */
  readonly count?: number;
  /** 'present' = a device answers there today; 'reserved' = kept free for a later device. */
  readonly status: 'present' | 'reserved';
}

/**
 * The virt memory map (QEMU hw/riscv/virt.c `virt_memmap[]`, the subset we model). The board and
 * the VMs instantiate the 'present' entries from it. RAM's size comes from --ram (or the VM's memory).
 */
export const VIRT_MAP = {
  test: { name: 'test', base: 0x0010_0000, size: 0x1000, compatible: 'sifive,test1\0sifive,test0\0syscon', status: 'present' },
  clint: { name: 'clint', base: 0x0200_0000, size: 0x1_0000, compatible: 'sifive,clint0\0riscv,clint0', status: 'present' },
  pciePio: { name: 'pcie-pio', base: 0x0300_0000, size: 0x1_0000, compatible: 'pci-host-ecam-generic', status: 'present' },
  plic: { name: 'plic', base: 0x0c00_0000, size: 0x60_0000, compatible: 'sifive,plic-1.0.0\0riscv,plic0', status: 'present' },
  uart0: { name: 'serial', base: 0x1000_0000, size: 0x100, compatible: 'ns16550a', irq: 10, status: 'present' },
  rtc: { name: 'rtc', base: 0x0010_1000, size: 0x1000, compatible: 'google,goldfish-rtc', irq: 11, status: 'present' },
  virtio: { name: 'virtio_mmio', base: 0x1000_1000, size: 0x1000, count: 8, compatible: 'virtio,mmio', irq: 1, status: 'present' },
  dram: { name: 'memory', base: RAM_BASE, size: 0, compatible: '', status: 'present' },
} as const satisfies Record<string, MapEntry>;

/** PLIC sources on virt (QEMU: VIRTIO_IRQ = 1..8, UART0_IRQ = 10); 96 ids including reserved 0. */
export const VIRT_PLIC_SOURCES = 96;

export interface PlatformOptions {
  /** 'bare': the host machine's platform (CLINT, M+S PLIC contexts); 'vm': a VM's (see above). */
  kind: 'bare' | 'vm';
  /** Harts (bare) or vCPUs (vm): CLINT harts and PLIC contexts. */
  harts: number;
  /** The registry to populate; a new one when absent (the bare board creates it before its core). */
  bus?: Bus;
  clock: Clock;
  scheduler: EventScheduler;
  irq: HartIrqSink;
  memory: GuestMemory;
  control: MachineControl;
  /** mtime frequency (CLINT). */
  timebaseHz: number;
  /** The UART's transmitted bytes. */
  tx: (b: number) => void;
  drives?: Array<{ path: string; readOnly: boolean; format?: 'raw' | 'qcow2' }>;
  /** A virtio-balloon device after virtio-rng (a VM's, issue 12: src/hypervisor/balloon.ts). */
  balloon?: VirtioBalloon;
  rtcEpochNs?: bigint;
  /**
   * A virtio-console in the slot below virtio-rng (the VMM's guest-agent channel). Default: on for
   * a VM's platform, off for the bare board (whose device tree and run stay as they were).
   */
  virtioConsole?: boolean;
  /** NICs (virtio-net), each plugged into a network backend (src/net/: user network, switch). */
  nics?: NicSpec[];
}

/** A virtio-net NIC: its MAC and the network it is plugged into. */
export interface NicSpec {
  mac: Uint8Array;
  backend: NetBackend;
}

export class VirtPlatform {
  readonly kind: 'bare' | 'vm';
  readonly bus: Bus;
  readonly finisher: TestFinisher;
  /** null on a VM's platform. */
  readonly clint: Clint | null;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly rtc: GoldfishRtc;
  readonly virtio: VirtioMmio[] = [];
  readonly blockBackends: FileBlockBackend[] = [];
  /** The virtio-console, when the platform has one (every VM's). */
  readonly console: VirtioConsole | null;
  /** virtio-net devices, in --netdev / nics order (eth0, eth1, ...). */
  readonly nics: VirtioNet[] = [];
  private readonly links: NetEndpoint[] = [];
  /** What each drive's virtio-blk sees: the qcow2 layer, the probed-raw guard, or the file itself. */
  readonly formatLayers: BlockBackend[] = [];
  readonly harts: number;

  constructor(opts: PlatformOptions) {
    const M = VIRT_MAP;
    this.kind = opts.kind;
    this.harts = opts.harts;
    const bus = (this.bus = opts.bus ?? new Bus());
    const { clock, scheduler, irq: harts, memory } = opts;
    this.finisher = new TestFinisher({ bus, base: M.test.base, control: opts.control });
    this.clint =
      opts.kind === 'bare'
        ? new Clint({ bus, base: M.clint.base, harts: opts.harts, clock, scheduler, irq: harts, timebaseHz: opts.timebaseHz })
        : null;
    bus.addPioWindow(M.pciePio.base, M.pciePio.size);
    this.plic = new Plic({
      bus,
      base: M.plic.base,
      harts: opts.harts,
      irq: harts,
      numSources: VIRT_PLIC_SOURCES,
      ...(opts.kind === 'vm' ? { contexts: 'S' as const } : {}),
    });
    this.uart = new Uart16550({ bus, base: M.uart0.base, size: M.uart0.size, irq: this.plic.irqLine(M.uart0.irq), tx: opts.tx });
    this.rtc = new GoldfishRtc({
      bus,
      base: M.rtc.base,
      irq: this.plic.irqLine(M.rtc.irq),
      clock,
      scheduler,
      ...(opts.rtcEpochNs !== undefined ? { epochNs: opts.rtcEpochNs } : {}),
    });
    // virtio-mmio slots: Linux probes the device tree from the highest address down, so the first
    // drive goes in the top slot and becomes /dev/vda (as on QEMU); then virtio-rng.
    const devs: Array<VirtioBlk | VirtioNet | VirtioRng | VirtioConsole | VirtioBalloon> = [];
    for (const d of opts.drives ?? []) {
      let backend: FileBlockBackend;
      let disk: BlockBackend;
      try {
        backend = new FileBlockBackend(d.path, { readOnly: d.readOnly, ...(d.format ? { format: d.format } : {}) });
        try {
          // A non-raw format's driver (qcow2) is layered over the file; a raw image whose format
          // was probed, not given, gets QEMU's sector-0 guard (src/block/open-image.ts).
          disk = backend.driver?.open?.(backend) ?? (d.format === 'raw' ? backend : new ProbedRawGuard(backend));
        } catch (e) {
          backend.close();
          throw e;
        }
      } catch (e) {
        for (const l of this.formatLayers) (l as { close?: () => void }).close?.();
        for (const b of this.blockBackends) b.close(); // the ones opened before this one
        throw e;
      }
      this.blockBackends.push(backend);
      this.formatLayers.push(disk);
      devs.push(new VirtioBlk({ backend: disk, scheduler, clock }));
    }
    // NICs after the disks (QEMU: devices take slots in command-line order), virtio-rng last.
    for (const [i, n] of (opts.nics ?? []).entries()) {
      const nic = new VirtioNet({ mac: n.mac, scheduler, clock, name: `virtio-net${i}` });
      nic.link = n.backend.connect(nic);
      this.links.push(nic.link);
      this.nics.push(nic);
      devs.push(nic);
    }
    devs.push(new VirtioRng({}));
    this.console = (opts.virtioConsole ?? opts.kind === 'vm') ? new VirtioConsole({}) : null;
    if (this.console) devs.push(this.console);
    if (opts.balloon) devs.push(opts.balloon);
    if (devs.length > (M.virtio.count ?? 8)) {
      this.close();
      const fixed = 1 + (this.console ? 1 : 0) + (opts.balloon ? 1 : 0);
      throw new UserError(`${devs.length - fixed} disks and NICs: the virt board has room for ${(M.virtio.count ?? 8) - fixed} (8 virtio-mmio slots, ${fixed} hold virtio-rng${this.console ? ', virtio-console' : ''}${opts.balloon ? ', virtio-balloon' : ''})`);
    }
    for (let i = 0; i < (M.virtio.count ?? 8); i++) {
      const slot = (M.virtio.count ?? 8) - 1 - i;
      const dev = devs[i];
      this.virtio.push(
        new VirtioMmio({
          bus,
          base: M.virtio.base + slot * M.virtio.size,
          irq: this.plic.irqLine(M.virtio.irq + slot),
          memory,
          ...(dev ? { device: dev } : {}),
        }),
      );
    }
  }

  /** Reset every device (a VM's reboot; the caller clears the scheduler first). */
  reset(): void {
    this.finisher.reset();
    this.clint?.reset();
    this.plic.reset();
    this.uart.reset();
    this.rtc.reset();
    for (const v of this.virtio) v.reset();
  }

  /** The VM has host frames again after a pause for memory (overcommit): devices redo deferred requests. */
  memoryAvailable(): void {
    for (const v of this.virtio) v.memoryAvailable();
  }

  /** Flush and close disk images (every acknowledged write reaches the file). */
  close(): void {
    for (const l of this.formatLayers) if (!(l instanceof FileBlockBackend)) (l as { close?: () => void }).close?.();
    for (const b of this.blockBackends) b.close();
    for (const l of this.links) l.close();
  }

  /**
   * The platform's part of a device tree (src/board/devicetree.ts DtConfig): a VM's has no CLINT
   * and S-mode PLIC contexts only; the caller adds the harts' ISA, RAM and boot information.
   */
  dtPlatform(): Pick<DtConfig, 'clint' | 'plic'> {
    const M = VIRT_MAP;
    return {
      clint: this.clint ? { base: BigInt(M.clint.base), size: BigInt(M.clint.size) } : null,
      plic: {
        base: BigInt(M.plic.base),
        size: BigInt(M.plic.size),
        ndev: VIRT_PLIC_SOURCES, // riscv,ndev as QEMU virt writes it (VIRT_IRQCHIP_NUM_SOURCES)
        ...(this.kind === 'vm' ? { contexts: 'S' as const } : {}),
      },
    };
  }
}
