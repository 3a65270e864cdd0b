/**
 * Booting firmware and Linux on the virt board, placed the way QEMU 7.2 places them
 * (hw/riscv/boot.c), so the same images behave the same:
 *
 *   0x8000_0000  firmware (--bios FILE, e.g. OpenSBI fw_dynamic), entered in M-mode with
 *                a0 = hartid, a1 = DTB, a2 = &fw_dynamic_info (in the mask ROM at 0x1000)
 *   0x8020_0000  kernel Image (RISC-V Image header checked), next stage in S-mode
 *   kernel + min(RAM/2, 128 MiB)   initrd
 *   align_down(min(RAM end, 3 GiB) - DTB size, 2 MiB)   DTB (free RAM after it for OpenSBI's edits)
 *
 * --bios builtin: no firmware; the hart starts in S-mode at the kernel with the CSRs OpenSBI
 * would leave (delegation, counters, PMP open, Sstc enabled) and cyclevisor answers SBI calls.
 * --bios none: the kernel (or program) is entered in M-mode at 0x8000_0000 with a0/a1 set.
 */
import { host } from '../host/host.js';
import * as L from '../generated/layout.js';
import { RAM_BASE } from '../core.js';
import { UserError, formatSize, hex, fileReadError } from '../errors.js';
import { buildVirtDtb, qemuVirtDtConfig, type DtConfig } from './devicetree.js';
import { HSM_STARTED, type SbiHost } from './sbi.js';
import { BuiltinFirmware, applyEntryState, stvecValue } from './firmware.js';
import { hasHypervisor, isaString, isaExtensionList, CACHE_BLOCK_BYTES, type CpuFeatures } from './cpu.js';
import type { VirtMachine } from './virt.js';
import { corePmu } from './sbi-pmu.js';
import type { MmioRegion } from '../bus/types.js';

export interface BootOptions {
  /** 'builtin' (cyclevisor's SBI), 'none', or a raw firmware image path. */
  bios: string;
  kernel?: string;
  initrd?: string;
  append?: string;
}

/** The ISA string we report without the H extension (`--cpu rv64,h=off`); see cpu.ts isaString. */
export const ISA_STRING = isaString({ h: false });
export const MMU_TYPE = 'riscv,sv57' as const;

const MiB = 1024 * 1024;
const KERNEL_OFFSET = 0x20_0000;
const MROM_BASE = 0x1000;
const MROM_SIZE = 0xf000;
const FW_DYNAMIC_INFO_OFFSET = 0x40;
const FW_DYNAMIC_INFO_MAGIC = 0x4942534fn; // "OSBI"
/** ACLINT MSWI msip registers (the CLINT at 0x0200_0000 on virt). */
const CLINT_MSIP = 0x0200_0000;

function readImage(path: string, what: string): Uint8Array {
  try {
    return host().readFile(path);
  } catch (e) {
    throw fileReadError(path, e, what);
  }
}

/** Check a RISC-V Linux Image header (Documentation/riscv/boot-image-header.rst). */
export function checkKernelImage(img: Uint8Array, path: string): { imageSize: number } {
  if (img.length < 64) throw new UserError(`${path}: too small to be a RISC-V kernel Image (${img.length} bytes)`);
  const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const magic2 = dv.getUint32(0x38, true);
  if (magic2 !== 0x05435352) {
    throw new UserError(`${path}: not a RISC-V kernel Image (no "RSC\\x05" magic at offset 0x38)`);
  }
  const imageSize = Number(dv.getBigUint64(0x10, true));
  return { imageSize: Math.max(imageSize, img.length) };
}

/** A read-only memory-mapped byte array (QEMU's mask ROM at 0x1000 holds fw_dynamic_info). */
function romRegion(name: string, base: number, bytes: Uint8Array): MmioRegion {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    name,
    base,
    size: bytes.length,
    valid: { min: 1, max: 8 },
    impl: { min: 1, max: 4 },
    read: (off, size) => (size === 4 ? dv.getUint32(off, true) : size === 2 ? dv.getUint16(off, true) : dv.getUint8(off)),
    write: () => {},
  };
}

interface Placement {
  base: number;
  size: number;
  what: string;
}

function checkFits(m: { readonly ramBytes: number }, p: Placement): void {
  const end = RAM_BASE + m.ramBytes;
  if (p.base < RAM_BASE || p.base + p.size > end) {
    throw new UserError(
      `RAM too small: the ${p.what} (${formatSize(p.size)}) needs ${hex(p.base)}-${hex(p.base + p.size - 1)} but RAM is ${formatSize(m.ramBytes)} (${hex(RAM_BASE)}-${hex(end - 1)}); use a larger --ram`,
    );
  }
}
function checkDisjoint(a: Placement, b: Placement): void {
  if (a.base < b.base + b.size && b.base < a.base + a.size) {
    throw new UserError(`RAM too small: the ${a.what} and the ${b.what} overlap at ${hex(Math.max(a.base, b.base))}; use a larger --ram`);
  }
}

/** What the device tree says about the machine: a `VirtMachine`, or the `dtb` command's settings. */
export interface DtMachine {
  readonly ramBytes: number;
  readonly timing: { readonly timebaseHz: number };
  /** Harts (hart IDs 0..harts-1); 1 when the board does not say. */
  readonly harts?: number;
  /** ISA features (riscv,isa); no H extension when the board does not say. */
  readonly cpu?: CpuFeatures;
}

/** What the device tree says about the boot: kernel command line and where the initrd lies. */
export interface DtBootInfo {
  append?: string;
  initrd?: { start: bigint; end: bigint };
}

/**
 * The virt board's `DtConfig` (QEMU 7.2 virt, with our ISA and MMU strings): what bootLinux hands
 * to firmware and kernel, and what `cyclevisor dtb` writes.
 */
export function virtDtConfig(m: DtMachine, o: DtBootInfo = {}): DtConfig {
  return qemuVirtDtConfig({
    harts: m.harts ?? 1,
    isa: isaString(m.cpu ?? { h: false }),
    ...(m.cpu?.ext ? { isaExtensions: isaExtensionList(m.cpu) } : {}),
    ...(m.cpu?.ext?.Zicbom ? { cbomBlockSize: CACHE_BLOCK_BYTES } : {}),
    ...(m.cpu?.ext?.Zicboz ? { cbozBlockSize: CACHE_BLOCK_BYTES } : {}),
    mmuType: MMU_TYPE,
    ramBase: BigInt(RAM_BASE),
    ramSize: BigInt(m.ramBytes),
    timebaseHz: m.timing.timebaseHz,
    ...(o.append !== undefined ? { bootargs: o.append } : {}),
    ...(o.initrd ? { initrd: o.initrd } : {}),
  });
}

/** Where the kernel goes: 0x8020_0000 after firmware (or the builtin SBI), 0x8000_0000 with --bios none. */
export function kernelAddress(bios: string): number {
  return bios === 'none' ? RAM_BASE : RAM_BASE + KERNEL_OFFSET;
}

/** Where the initrd goes (QEMU): far enough that the kernel does not clobber it, but within lowmem. */
export function initrdAddress(ramBytes: number, kernelAddr: number): number {
  return kernelAddr + Math.min(ramBytes / 2, 128 * MiB);
}

/** The initrd's range for a given RAM size and initrd size; a UserError when it does not fit. */
export function initrdRange(ramBytes: number, kernelAddr: number, size: number): { start: bigint; end: bigint } {
  const start = initrdAddress(ramBytes, kernelAddr);
  checkFits({ ramBytes }, { base: start, size, what: 'initrd' });
  return { start: BigInt(start), end: BigInt(start + size) };
}

/** Load firmware, kernel, initrd and DTB into `m` and set the boot hart's state. */
export function bootLinux(m: VirtMachine, o: BootOptions): { dtbAddr: number; kernelAddr: number | null } {
  const core = m.core;
  const placed: Placement[] = [];
  const bios = o.bios;
  const firmware = bios !== 'builtin' && bios !== 'none' ? readImage(bios, 'the firmware (--bios)') : null;
  if (firmware && firmware.length === 0) throw new UserError(`${bios}: the firmware image is empty`);

  let kernelAddr: number | null = null;
  if (firmware) {
    const p = { base: RAM_BASE, size: firmware.length, what: 'firmware' };
    checkFits(m, p);
    core.writePhys(RAM_BASE, firmware);
    placed.push(p);
  }
  if (o.kernel) {
    const k = readImage(o.kernel, 'the kernel (--kernel)');
    const { imageSize } = checkKernelImage(k, o.kernel);
    kernelAddr = kernelAddress(bios);
    const p = { base: kernelAddr, size: imageSize, what: 'kernel' };
    if (firmware && RAM_BASE + firmware.length > kernelAddr) {
      // Not a RAM size problem: QEMU's fixed placement leaves the firmware the 2 MiB below the kernel.
      throw new UserError(
        `${bios}: the firmware (${formatSize(firmware.length)}) is loaded at ${hex(RAM_BASE)} and overlaps the kernel address ${hex(kernelAddr)}; firmware for --kernel must be at most ${formatSize(kernelAddr - RAM_BASE)}`,
      );
    }
    checkFits(m, p);
    for (const q of placed) checkDisjoint(p, q);
    core.writePhys(kernelAddr, k);
    placed.push(p);
  } else if (bios === 'builtin') {
    throw new UserError('--bios builtin needs a --kernel to boot');
  }

  let initrd: { start: bigint; end: bigint } | undefined;
  if (o.initrd) {
    if (!o.kernel) throw new UserError('--initrd needs a --kernel');
    const rd = readImage(o.initrd, 'the initrd (--initrd)');
    const start = initrdAddress(m.ramBytes, kernelAddr ?? RAM_BASE);
    const p = { base: start, size: rd.length, what: 'initrd' };
    checkFits(m, p);
    for (const q of placed) checkDisjoint(p, q);
    core.writePhys(start, rd);
    placed.push(p);
    initrd = { start: BigInt(start), end: BigInt(start + rd.length) };
  }

  const dtb = buildVirtDtb(virtDtConfig(m, { ...(o.append !== undefined ? { append: o.append } : {}), ...(initrd ? { initrd } : {}) }));
  const top = Math.min(RAM_BASE + m.ramBytes, 3 * 1024 * MiB);
  const dtbAddr = Math.floor((top - dtb.length) / (2 * MiB)) * 2 * MiB;
  const pd = { base: dtbAddr, size: dtb.length, what: 'device tree' };
  checkFits(m, pd);
  for (const q of placed) checkDisjoint(pd, q);
  core.writePhys(dtbAddr, dtb);

  // Hart registers (QEMU's reset vector: a0 = mhartid, a1 = fdt, a2 = fw_dynamic_info). With
  // firmware (or none) every hart starts; the firmware picks the boot hart.
  forEachHart(m, (h) => {
    core.setX(10, BigInt(h));
    core.setX(11, BigInt(dtbAddr));
  });
  if (firmware) {
    const rom = new Uint8Array(MROM_SIZE);
    const dv = new DataView(rom.buffer);
    const info = FW_DYNAMIC_INFO_OFFSET;
    dv.setBigUint64(info + 0, FW_DYNAMIC_INFO_MAGIC, true);
    dv.setBigUint64(info + 8, 2n, true); // version
    dv.setBigUint64(info + 16, BigInt(kernelAddr ?? 0), true); // next_addr
    dv.setBigUint64(info + 24, 1n, true); // next_mode: S
    dv.setBigUint64(info + 32, 0n, true); // options
    dv.setBigUint64(info + 40, 0n, true); // boot_hart
    m.bus.addMmio(romRegion('mrom', MROM_BASE, rom));
    forEachHart(m, () => {
      core.setX(12, BigInt(MROM_BASE + info));
      core.pc = BigInt(RAM_BASE);
    });
    m.started.fill(true);
  } else if (bios === 'none') {
    forEachHart(m, () => {
      core.pc = BigInt(kernelAddr ?? RAM_BASE);
    });
    m.started.fill(true);
  } else {
    enterBuiltinSbi(m, kernelAddr!);
  }
  m.guestName = o.kernel ?? bios;
  return { dtbAddr, kernelAddr };
}

/** Hart state as OpenSBI leaves it when it enters the kernel, and the host SBI. */
/** Run `fn(h)` with each hart in turn made the running hart; hart 0 is running afterwards. */
function forEachHart(m: VirtMachine, fn: (h: number) => void): void {
  for (let h = m.harts - 1; h >= 0; h--) {
    m.core.switchHart(h);
    fn(h);
  }
}


function enterBuiltinSbi(m: VirtMachine, entry: number): void {
  const core = m.core;
  // Every hart gets the state OpenSBI 1.1 leaves at kernel entry (firmware.ts OPENSBI_ENTRY_STATE:
  // delegation, counter enables, Sstc, PMP, FPU on).
  forEachHart(m, () => applyEntryState(core, BigInt(entry)));
  // S-mode ecalls are SBI calls the host performs (sbi.ts); traps that would enter M-mode go to
  // the host firmware (firmware.ts): emulation, redirection to S-mode, or one line.
  core.setHostSbi(true);
  core.setHostMTrap(true);
  m.firmware = new BuiltinFirmware(
    {
      core,
      clearMsip: (h) => {
        m.bus.write(CLINT_MSIP + 4 * h, 4, 0, 0);
      },
    },
    m.harts,
  );
  // Only the boot hart runs; the others wait for SBI HSM hart_start (Linux brings them online).
  m.started.fill(false);
  m.started[0] = true;

  m.sbi = {
    harts: m.harts,
    reg: (r) => core.x(r),
    setReg: (r, v) => core.setX(r, v),
    setTimer: (_hart, t) => {
      // Called by the running hart for itself.
      core.setCsr(L.H_STIMECMP, t);
      core.ex.timebaseChanged();
    },
    sendIpi: (h) => core.setMipOf(h, 1, true),
    remoteFence: (h) => core.ex.flushHartTlb(h),
    // SBI RFENCE 3-6 (hfence.gvma/vvma, by VMID/ASID, on a range): we flush every translation
    // of the hart, VS/VU regimes included — more than asked, which the SBI spec permits (a remote
    // fence may flush more, never less).
    hypervisor: hasHypervisor(core),
    remoteHfence: (h) => {
      // The core's guest-regime flush (VS/VU host TLB sets) when it has one, else everything.
      const ex = core.ex as unknown as { hfenceHart?: (h: number) => void };
      if (typeof ex.hfenceHart === 'function') ex.hfenceHart(h);
      else core.ex.flushHartTlb(h);
    },
    console: (b) => m.consoleOut(b),
    consoleRead: () => -1,
    hartStart: (h, addr, opaque) => {
      if (m.started[h]) return false;
      // SBI HSM §9.1: the hart starts in S-mode at addr with a0 = hartid, a1 = opaque, satp = 0,
      // sstatus.SIE = 0.
      const cur = core.activeHart;
      const now = core.cycles;
      core.switchHart(h);
      core.cycles = now; // a stopped hart's clock has followed machine time
      core.setX(10, BigInt(h));
      core.setX(11, opaque);
      core.pc = addr;
      // OpenSBI's sbi_hart_switch_mode: stvec = the start address, sscratch = 0, sie = 0, satp = 0;
      // the mret leaves MPIE = 1, MPP = U; mepc = the start address.
      core.setCsr(L.H_STVEC, stvecValue(addr));
      core.setCsr(L.H_SSCRATCH, 0n);
      core.setCsr(L.H_MIE, core.getCsr(L.H_MIE) & ~core.getCsr(L.H_MIDELEG));
      core.setCsr(L.H_SATP, 0n);
      core.setCsr(L.H_MEPC, addr);
      core.setCsr(L.H_MSTATUS, core.getCsr(L.H_MSTATUS) & ~2n);
      core.priv = 1;
      core.switchHart(cur);
      m.started[h] = true;
      return true;
    },
    hartStop: () => {
      m.started[core.activeHart] = false;
      if (!m.started.some(Boolean)) m.requestExit({ reason: 'error', code: 1, message: 'every hart stopped itself (SBI HSM hart_stop)' });
    },
    hartStatus: (h) => (m.started[h] ? HSM_STARTED : 1),
    reset: (type) => {
      if (type === 0) m.requestExit({ reason: 'exit', code: 0 });
      else m.requestExit({ reason: 'error', code: 1, message: 'the guest asked for a reboot (SBI SRST), which cyclevisor does not support yet' });
    },
    mvendorid: 0n,
    marchid: 0n,
    mimpid: 0n,
    pmu: corePmu(core, m.harts),
  } satisfies SbiHost;
}
