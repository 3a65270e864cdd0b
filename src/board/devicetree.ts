/**
 * The devicetree the `virt` board hands to firmware and kernel (OpenSBI 1.1 in a1, Linux 6.1 in
 * the DTB pointer it passes on), built the way QEMU 7.2's hw/riscv/virt.c (create_fdt and the
 * create_fdt_* helpers) builds it for the devices we model.
 *
 * Node names, compatibles, properties, phandle numbering and the order of nodes and properties
 * all follow QEMU's finished blob. (QEMU builds with libfdt, whose fdt_add_subnode() and
 * fdt_setprop() insert *before* existing siblings/properties, so its blob lists things in the
 * reverse of the order virt.c creates them: e.g. /soc/clint@2000000 comes last and `phandle` comes
 * first. We write directly in the finished order.)
 *
 * Differences from `qemu-system-riscv64 -M virt` (7.2) and why:
 * - No /soc/pci@30000000 (PCIe ECAM host bridge), /flash@20000000 (CFI pflash), /fw-cfg@10100000,
 *   /platform-bus@4000000 (dynamic sysbus devices): the board does not model these devices, and a
 *   node without a device behind it makes drivers probe and fault.
 * - No /pmu (`riscv,pmu` event-to-counter map for OpenSBI's PMU extension): the hpm counters
 *   (Zihpm, assembly/hpm.ts) have our own event numbers, which the builtin SBI's PMU extension maps
 *   itself (sbi-pmu.ts). OpenSBI treats the node as optional (no programmable events then).
 * - /chosen/rng-seed only when `rngSeed` is given (QEMU always adds 32 random bytes): a simulation
 *   must be reproducible, so randomness is the caller's decision.
 * - linux,initrd-start/-end are u64 (two cells); QEMU 7.2 writes one cell each. Linux reads either
 *   size (of_read_number on the property length), and two cells also cover RAM above 4 GiB.
 * - Each cpu's interrupt-controller node also has `#address-cells = <0>`: dtc (1.6+) warns
 *   "Missing #address-cells in interrupt provider" on QEMU's blob; the property is what the
 *   interrupt binding expects (interrupt-map users need it) and nothing reads it otherwise.
 * - mmu-type is omitted when `mmuType` is null; QEMU writes "riscv,none" for MMU-less harts. For
 *   Linux 6.1 both mean "no paging info from DT" (it probes satp itself).
 * - One socket (NUMA node) only: no numa-node-id, no distance-map, cluster0 only. No ACLINT/AIA
 *   variants (QEMU's aclint=on / aia=... machine options), only CLINT + PLIC, its default.
 *
 * virtio-mmio transports appear highest address first (virtio_mmio@10008000 ... @10001000),
 * exactly as in QEMU's blob. Linux probes platform devices in DT order, so the transport at the
 * highest address is probed first; QEMU gives that transport to the first `-device virtio-...` on
 * its command line, which is how that device becomes vda/eth0. A board that wants the same naming
 * must fill transports from the highest address down.
 */
import { UserError, hex } from '../errors.js';
import { FdtBuilder, formatDts, parseFdt, type FdtFinishOptions } from './fdt.js';

export type MmuType = 'riscv,sv39' | 'riscv,sv48' | 'riscv,sv57';

export interface DtRegion {
  base: bigint;
  size: bigint;
}

export interface DtConfig {
  /** Number of harts; hart IDs are 0..harts-1, hart 0 boots. */
  harts: number;
  /** riscv,isa string, lowercase: "rv64imac", later "rv64imafdch_zicsr_zifencei_sstc". */
  isa: string;
  /** riscv,isa-extensions (a string list; QEMU 8+ and Linux 6.7+), omitted when absent. */
  isaExtensions?: readonly string[];
  /** riscv,cbom-block-size / riscv,cboz-block-size (Zicbom / Zicboz), omitted when absent. */
  cbomBlockSize?: number;
  cbozBlockSize?: number;
  /** Paging modes the harts support (the largest), or null for no MMU (property omitted). */
  mmuType: MmuType | null;
  ramBase: bigint;
  ramSize: bigint;
  /** mtime frequency (QEMU: 10 MHz). */
  timebaseHz: number;
  /** Kernel command line (/chosen/bootargs). */
  bootargs?: string;
  /** Where the initramfs was loaded: [start, end). */
  initrd?: { start: bigint; end: bigint };
  /** ns16550a UART. `size` defaults to 0x100, `clockHz` to 3686400 (QEMU's values). */
  uart: { base: bigint; irq: number; size?: bigint; clockHz?: number };
  /** null: no CLINT node (a VM: its timer is SBI TIME over vstimecmp, its IPIs SBI IPI). */
  clint: DtRegion | null;
  /**
   * `ndev` is the number of interrupt sources (riscv,ndev; sources are 1..ndev). `contexts`: 'MS'
   * (default, QEMU virt: context 2h = hart h M-mode, 2h+1 = S-mode) or 'S' (a VM, as QEMU virt
   * under KVM: context h = hart h S-mode, no M-mode contexts).
   */
  plic: DtRegion & { ndev: number; contexts?: 'MS' | 'S' };
  /** SiFive test finisher (also the syscon behind /poweroff and /reboot). */
  test: DtRegion;
  /** Goldfish RTC. `size` defaults to 0x1000. */
  rtc?: { base: bigint; irq: number; size?: bigint };
  /** virtio-mmio transports, in any order (they are written highest address first). */
  virtio: ReadonlyArray<DtRegion & { irq: number }>;
  /** /chosen/stdout-path: a node path, optionally followed by ":options" (e.g. ":115200n8"). */
  stdoutPath: string;
  /** /chosen/rng-seed bytes (omitted when absent). */
  rngSeed?: Uint8Array;
}

/** Finisher values the /poweroff and /reboot syscon nodes write (SiFive test device). */
export const FINISHER_PASS = 0x5555;
export const FINISHER_RESET = 0x7777;

/** Local interrupt numbers on each hart's `riscv,cpu-intc` (mip bit numbers). */
export const IRQ_M_SOFT = 3;
export const IRQ_M_TIMER = 7;
export const IRQ_S_EXT = 9;
export const IRQ_M_EXT = 11;

/** QEMU 7.2 virt's limit on harts (VIRT_CPUS_MAX). */
export const MAX_HARTS = 512;

const MiB = 1n << 20n;

/**
 * A `DtConfig` with QEMU 7.2 virt's memory map, IRQ numbers and timebase; pass what differs.
 * (UART0 irq 10, RTC irq 11, virtio irqs 1..8, PLIC with 96 sources, 10 MHz timebase.)
 */
export function qemuVirtDtConfig(overrides: Partial<DtConfig> = {}): DtConfig {
  return {
    harts: 1,
    isa: 'rv64imac',
    mmuType: null,
    ramBase: 0x8000_0000n,
    ramSize: 128n * MiB,
    timebaseHz: 10_000_000,
    uart: { base: 0x1000_0000n, irq: 10 },
    clint: { base: 0x200_0000n, size: 0x1_0000n },
    plic: { base: 0xc00_0000n, size: 0x60_0000n, ndev: 96 },
    test: { base: 0x10_0000n, size: 0x1000n },
    rtc: { base: 0x10_1000n, irq: 11 },
    virtio: Array.from({ length: 8 }, (_, i) => ({
      base: 0x1000_1000n + BigInt(i) * 0x1000n,
      size: 0x1000n,
      irq: 1 + i,
    })),
    stdoutPath: '/soc/serial@10000000',
    ...overrides,
  };
}

function bad(message: string): never {
  throw new UserError(`devicetree: ${message}`);
}

const U64_MAX = (1n << 64n) - 1n;

function checkRegion(what: string, r: DtRegion): void {
  if (r.base < 0n || r.size <= 0n || r.base + r.size - 1n > U64_MAX) {
    bad(`${what} region ${hex(r.base)}+${hex(r.size)} is not a valid address range`);
  }
}

function checkIrq(what: string, irq: number, ndev: number): void {
  if (!Number.isInteger(irq) || irq < 1 || irq > ndev) {
    bad(`${what} interrupt ${irq} is not a PLIC source (1..${ndev})`);
  }
}

function validate(cfg: DtConfig): void {
  if (!Number.isInteger(cfg.harts) || cfg.harts < 1 || cfg.harts > MAX_HARTS) {
    bad(`hart count ${cfg.harts} is not between 1 and ${MAX_HARTS}`);
  }
  if (!/^rv(32|64)[a-z][a-z0-9_]*$/.test(cfg.isa)) {
    bad(`ISA string "${cfg.isa}" is not of the form rv64<extensions> (lowercase)`);
  }
  checkRegion('RAM', { base: cfg.ramBase, size: cfg.ramSize });
  if (!Number.isInteger(cfg.timebaseHz) || cfg.timebaseHz < 1 || cfg.timebaseHz > 0xffff_ffff) {
    bad(`timebase frequency ${cfg.timebaseHz} Hz does not fit a 32-bit cell`);
  }
  if (cfg.initrd && (cfg.initrd.start < 0n || cfg.initrd.end < cfg.initrd.start || cfg.initrd.end > U64_MAX)) {
    bad(`initrd range ${hex(cfg.initrd.start)}..${hex(cfg.initrd.end)} is invalid`);
  }
  if (cfg.bootargs?.includes('\0')) bad('kernel command line contains a NUL character');
  const ndev = cfg.plic.ndev;
  if (!Number.isInteger(ndev) || ndev < 1 || ndev > 1023) bad(`PLIC source count ${ndev} is not between 1 and 1023`);
  checkRegion('PLIC', cfg.plic);
  if (cfg.clint) checkRegion('CLINT', cfg.clint);
  checkRegion('test device', cfg.test);
  checkRegion('UART', { base: cfg.uart.base, size: cfg.uart.size ?? 0x100n });
  checkIrq('UART', cfg.uart.irq, ndev);
  if (cfg.uart.clockHz !== undefined && (!Number.isInteger(cfg.uart.clockHz) || cfg.uart.clockHz < 1 || cfg.uart.clockHz > 0xffff_ffff)) {
    bad(`UART clock ${cfg.uart.clockHz} Hz does not fit a 32-bit cell`);
  }
  if (cfg.rtc) {
    checkRegion('RTC', { base: cfg.rtc.base, size: cfg.rtc.size ?? 0x1000n });
    checkIrq('RTC', cfg.rtc.irq, ndev);
  }
  const seen = new Set<bigint>();
  for (const v of cfg.virtio) {
    checkRegion('virtio-mmio', v);
    checkIrq(`virtio-mmio@${hex(v.base)}`, v.irq, ndev);
    if (seen.has(v.base)) bad(`two virtio-mmio transports at ${hex(v.base)}`);
    seen.add(v.base);
  }
}

/** Node name with unit address, as QEMU prints it (`%lx`). */
function at(name: string, base: bigint): string {
  return `${name}@${base.toString(16)}`;
}

/**
 * Builds the virt board's devicetree blob. Throws a `UserError` for a configuration no kernel could
 * use (zero harts, IRQ outside the PLIC, stdout-path naming a node we do not write, ...).
 */
export function buildVirtDtb(cfg: DtConfig, finish: FdtFinishOptions = {}): Uint8Array {
  validate(cfg);
  const fdt = new FdtBuilder({ bootCpuidPhys: 0 });
  const n = cfg.harts;

  // Phandles in QEMU's order: cpu and its intc per hart, last hart first; then PLIC, then test.
  const cpuPhandle: number[] = new Array<number>(n);
  const intcPhandle: number[] = new Array<number>(n);
  for (let h = n - 1; h >= 0; h--) {
    cpuPhandle[h] = fdt.allocPhandle();
    intcPhandle[h] = fdt.allocPhandle();
  }
  const plicPhandle = fdt.allocPhandle();
  const testPhandle = fdt.allocPhandle();

  const uartName = at('serial', cfg.uart.base);

  fdt.beginNode('');
  fdt.prop('#address-cells', 2);
  fdt.prop('#size-cells', 2);
  fdt.prop('compatible', 'riscv-virtio');
  fdt.prop('model', 'riscv-virtio,qemu');

  // /chosen
  fdt.beginNode('chosen');
  if (cfg.initrd) {
    fdt.prop('linux,initrd-end', cfg.initrd.end);
    fdt.prop('linux,initrd-start', cfg.initrd.start);
  }
  if (cfg.rngSeed) fdt.prop('rng-seed', cfg.rngSeed);
  if (cfg.bootargs !== undefined) fdt.prop('bootargs', cfg.bootargs);
  fdt.prop('stdout-path', cfg.stdoutPath);
  fdt.endNode();

  // /poweroff and /reboot: syscon writes to the test finisher.
  for (const [name, compatible, value] of [
    ['poweroff', 'syscon-poweroff', FINISHER_PASS],
    ['reboot', 'syscon-reboot', FINISHER_RESET],
  ] as const) {
    fdt.beginNode(name);
    fdt.prop('value', value);
    fdt.prop('offset', 0);
    fdt.prop('regmap', testPhandle);
    fdt.prop('compatible', compatible);
    fdt.endNode();
  }

  // /memory
  fdt.beginNode(at('memory', cfg.ramBase));
  fdt.prop('device_type', 'memory');
  fdt.prop('reg', [cfg.ramBase, cfg.ramSize]);
  fdt.endNode();

  // /cpus
  fdt.beginNode('cpus');
  fdt.prop('#address-cells', 1);
  fdt.prop('#size-cells', 0);
  fdt.prop('timebase-frequency', cfg.timebaseHz);
  for (let h = 0; h < n; h++) {
    fdt.beginNode(`cpu@${h}`);
    fdt.prop('phandle', cpuPhandle[h]!);
    fdt.prop('device_type', 'cpu');
    fdt.prop('reg', h);
    fdt.prop('status', 'okay');
    fdt.prop('compatible', 'riscv');
    fdt.prop('riscv,isa', cfg.isa);
    if (cfg.isaExtensions) {
      fdt.prop('riscv,isa-base', cfg.isa.split('_')[0]!.replace(/^(rv\d+).*/, '$1i'));
      fdt.prop('riscv,isa-extensions', [...cfg.isaExtensions]);
    }
    if (cfg.cbomBlockSize !== undefined) fdt.prop('riscv,cbom-block-size', cfg.cbomBlockSize);
    if (cfg.cbozBlockSize !== undefined) fdt.prop('riscv,cboz-block-size', cfg.cbozBlockSize);
    if (cfg.mmuType !== null) fdt.prop('mmu-type', cfg.mmuType);
    fdt.beginNode('interrupt-controller');
    fdt.prop('#address-cells', 0);
    fdt.prop('#interrupt-cells', 1);
    fdt.prop('interrupt-controller');
    fdt.prop('compatible', 'riscv,cpu-intc');
    fdt.prop('phandle', intcPhandle[h]!);
    fdt.endNode();
    fdt.endNode();
  }
  fdt.beginNode('cpu-map');
  fdt.beginNode('cluster0');
  for (let h = 0; h < n; h++) {
    fdt.beginNode(`core${h}`);
    fdt.prop('cpu', cpuPhandle[h]!);
    fdt.endNode();
  }
  fdt.endNode();
  fdt.endNode();
  fdt.endNode();

  // /soc
  fdt.beginNode('soc');
  fdt.prop('#address-cells', 2);
  fdt.prop('#size-cells', 2);
  fdt.prop('compatible', 'simple-bus');
  fdt.prop('ranges');

  if (cfg.rtc) {
    fdt.beginNode(at('rtc', cfg.rtc.base));
    fdt.prop('interrupts', cfg.rtc.irq);
    fdt.prop('interrupt-parent', plicPhandle);
    fdt.prop('reg', [cfg.rtc.base, cfg.rtc.size ?? 0x1000n]);
    fdt.prop('compatible', 'google,goldfish-rtc');
    fdt.endNode();
  }

  fdt.beginNode(uartName);
  fdt.prop('interrupts', cfg.uart.irq);
  fdt.prop('interrupt-parent', plicPhandle);
  fdt.prop('clock-frequency', cfg.uart.clockHz ?? 3_686_400);
  fdt.prop('reg', [cfg.uart.base, cfg.uart.size ?? 0x100n]);
  fdt.prop('compatible', 'ns16550a');
  fdt.endNode();

  fdt.beginNode(at('test', cfg.test.base));
  fdt.prop('phandle', testPhandle);
  fdt.prop('reg', [cfg.test.base, cfg.test.size]);
  fdt.prop('compatible', ['sifive,test1', 'sifive,test0', 'syscon']);
  fdt.endNode();

  const virtio = [...cfg.virtio].sort((a, b) => (a.base > b.base ? -1 : a.base < b.base ? 1 : 0));
  for (const v of virtio) {
    fdt.beginNode(at('virtio_mmio', v.base));
    fdt.prop('interrupts', v.irq);
    fdt.prop('interrupt-parent', plicPhandle);
    fdt.prop('reg', [v.base, v.size]);
    fdt.prop('compatible', 'virtio,mmio');
    fdt.endNode();
  }

  // PLIC contexts: 2h is hart h's M-mode context (MEIP, 11), 2h+1 its S-mode context (SEIP, 9).
  fdt.beginNode(at('plic', cfg.plic.base));
  fdt.prop('phandle', plicPhandle);
  fdt.prop('riscv,ndev', cfg.plic.ndev);
  fdt.prop('reg', [cfg.plic.base, cfg.plic.size]);
  fdt.prop(
    'interrupts-extended',
    intcPhandle.flatMap((p) => (cfg.plic.contexts === 'S' ? [p, IRQ_S_EXT] : [p, IRQ_M_EXT, p, IRQ_S_EXT])),
  );
  fdt.prop('interrupt-controller');
  fdt.prop('compatible', ['sifive,plic-1.0.0', 'riscv,plic0']);
  fdt.prop('#address-cells', 0);
  fdt.prop('#interrupt-cells', 1);
  fdt.endNode();

  // CLINT: per hart, MSIP (3) then MTIP (7).
  if (cfg.clint) {
    fdt.beginNode(at('clint', cfg.clint.base));
    fdt.prop('interrupts-extended', intcPhandle.flatMap((p) => [p, IRQ_M_SOFT, p, IRQ_M_TIMER]));
    fdt.prop('reg', [cfg.clint.base, cfg.clint.size]);
    fdt.prop('compatible', ['sifive,clint0', 'riscv,clint0']);
    fdt.endNode();
  }

  fdt.endNode(); // soc
  fdt.endNode(); // root

  const blob = fdt.finish(finish);
  // stdout-path must name a node we wrote (we write no /aliases, so it has to be a full path).
  const stdoutNode = cfg.stdoutPath.split(':')[0]!;
  if (!stdoutNode.startsWith('/') || !parseFdt(blob).root.find(stdoutNode)) {
    bad(`stdout-path "${cfg.stdoutPath}" names no node of the tree`);
  }
  return blob;
}

/** A readable DTS rendering of a blob, for debugging (no dtc needed). */
export function dtbToDts(bytes: Uint8Array): string {
  return formatDts(parseFdt(bytes));
}
