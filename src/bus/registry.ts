/**
 * The board's MMIO and port registry: the one place the core's MMIO import lands (GUIDE §1, §8).
 *
 * Width adaptation follows QEMU's MemoryRegionOps (softmmu/memory.c access_with_adjusted_size):
 *   - `valid` is what the guest may use; anything else is an access fault, never a host exception.
 *   - `impl` is what the handler implements; wider guest accesses are split into little-endian
 *     pieces of impl.max, narrower ones are widened to impl.min (read and extract; for writes a
 *     read-modify-write of the wider unit, which QEMU does not do but which keeps neighbouring
 *     bytes intact for handlers that only implement full words).
 *
 * Hot path (read/write): no allocation, no BigInt, no throw. The value of a read is left in the
 * public fields `dataLo`/`dataHi` so a 64-bit result needs no object or BigInt. Lookup is a last-hit
 * cache in front of a binary search over regions sorted by base.
 */
import { BusStatus } from './types.js';
import type { AccessSize, ImplSize, MmioRegion, PortRegion } from './types.js';

/** Largest address a region may reach (regions are described by JS numbers). */
const MAX_ADDR = Number.MAX_SAFE_INTEGER;
/** Port space is 16 bits (x86 I/O space; RISC-V virt exposes it through the PIO window). */
const PORT_SPACE = 0x10000;

export interface BusStats {
  regions: Record<string, { reads: number; writes: number }>;
  unmappedReads: number;
  unmappedWrites: number;
}

/** A registered MMIO region with its bounds and widths copied into fields for the hot path. */
class MmioEntry {
  reads = 0;
  writes = 0;
  // Copies of the region's bounds: regions are object literals of many shapes, so reading
  // region.base on the hot path would be a megamorphic load; an entry is always one class.
  readonly base: number;
  readonly size: number;
  readonly end: number;
  readonly validMin: number;
  readonly validMax: number;
  readonly implMin: ImplSize;
  readonly implMax: ImplSize;
  constructor(readonly region: MmioRegion) {
    this.base = region.base;
    this.size = region.size;
    this.end = region.base + region.size;
    this.validMin = region.valid.min;
    this.validMax = region.valid.max;
    this.implMin = region.impl.min;
    this.implMax = region.impl.max;
  }
}

class PortEntry {
  reads = 0;
  writes = 0;
  readonly end: number;
  constructor(readonly region: PortRegion) {
    this.end = region.port + region.count;
  }
}

/** Mask `v` to `size` bytes as an unsigned 32-bit number (size 1, 2 or 4). */
function maskTo(v: number, size: number): number {
  return size === 4 ? v >>> 0 : v & ((1 << (size << 3)) - 1);
}

function hex(n: number, digits: number): string {
  return '0x' + n.toString(16).padStart(digits, '0');
}

function isPow2Width(n: unknown, max: number): boolean {
  return typeof n === 'number' && (n === 1 || n === 2 || n === 4 || n === 8) && n <= max;
}

/** A device access that completed: write or read, guest-physical address, size, value halves, device. */
export type MmioHookFn = (write: boolean, addr: number, size: AccessSize, lo: number, hi: number, device: string) => void;

export class Bus {
  /** Result of the last successful `read` (low and high 32 bits, unsigned; high is 0 for size <= 4). */
  dataLo = 0;
  dataHi = 0;
  /** Guest accesses that ended in an AccessFault (unmapped, refused width, misaligned, past the end). */
  unmappedReads = 0;
  unmappedWrites = 0;
  /**
   * Observer of every completed device access (src/debug/hooks.ts MMIO hooks), after the device
   * handled it; null (the default) costs one compare per access.
   */
  mmioHook: MmioHookFn | null = null;

  /** Sorted by base; never overlapping. */
  private entries: MmioEntry[] = [];
  private last: MmioEntry | null = null;

  private ports: PortEntry[] = [];
  /** Port number → index into `ports`, or -1. 256 KiB, and a port lookup is one load. */
  private portMap = new Int32Array(PORT_SPACE).fill(-1);
  /** Set by a PIO window handler when the port is unmapped; checked after dispatch. */
  private pioFault = false;

  // ---------------------------------------------------------------- registration (cold)

  addMmio(region: MmioRegion): void {
    const { name, base, size, valid, impl } = region;
    const where = `MMIO region '${name}'`;
    if (!Number.isSafeInteger(base) || base < 0) throw new Error(`${where}: base ${base} is not a non-negative integer`);
    if (!Number.isSafeInteger(size) || size <= 0) throw new Error(`${where}: size ${size} must be a positive integer`);
    if (base + size > MAX_ADDR) throw new Error(`${where}: ends beyond 2^53`);
    if (!isPow2Width(valid?.min, 8) || !isPow2Width(valid?.max, 8) || valid.min > valid.max) {
      throw new Error(`${where}: valid widths ${valid?.min}..${valid?.max} must be powers of two in 1..8 with min <= max`);
    }
    if (!isPow2Width(impl?.min, 4) || !isPow2Width(impl?.max, 4) || impl.min > impl.max) {
      throw new Error(`${where}: impl widths ${impl?.min}..${impl?.max} must be powers of two in 1..4 with min <= max`);
    }
    // A widened access must stay inside the region: keep base and size multiples of impl.min.
    if (base % impl.min !== 0 || size % impl.min !== 0) {
      throw new Error(`${where}: base and size must be multiples of impl.min (${impl.min})`);
    }
    const end = base + size;
    for (const e of this.entries) {
      if (base < e.end && e.base < end) {
        throw new Error(
          `${where} [${hex(base, 8)}-${hex(end - 1, 8)}] overlaps '${e.region.name}' ` +
            `[${hex(e.region.base, 8)}-${hex(e.end - 1, 8)}]`,
        );
      }
    }
    const entry = new MmioEntry(region);
    let i = 0;
    while (i < this.entries.length && this.entries[i].base < base) i++;
    this.entries.splice(i, 0, entry);
  }

  addPorts(region: PortRegion): void {
    const { name, port, count } = region;
    const where = `port region '${name}'`;
    if (!Number.isInteger(port) || port < 0 || port >= PORT_SPACE) throw new Error(`${where}: port ${port} outside 0..0xffff`);
    if (!Number.isInteger(count) || count <= 0 || port + count > PORT_SPACE) {
      throw new Error(`${where}: count ${count} must be positive and stay within 0..0xffff`);
    }
    const end = port + count;
    for (const e of this.ports) {
      if (port < e.end && e.region.port < end) {
        throw new Error(
          `${where} [${hex(port, 4)}-${hex(end - 1, 4)}] overlaps '${e.region.name}' ` +
            `[${hex(e.region.port, 4)}-${hex(e.end - 1, 4)}]`,
        );
      }
    }
    const index = this.ports.length;
    this.ports.push(new PortEntry(region));
    this.portMap.fill(index, port, end);
  }

  /**
   * Map guest-physical [base, base+size) onto port space: an access at base+p reaches port p
   * (QEMU virt's "gpex_ioport" window at 0x0300_0000, size 0x10000). Unmapped ports fault.
   */
  addPioWindow(base: number, size: number): void {
    if (!Number.isInteger(size) || size <= 0 || size > PORT_SPACE) {
      throw new Error(`PIO window size ${size} must be in 1..0x10000`);
    }
    const bus = this;
    this.addMmio({
      name: 'pio',
      base,
      size,
      // Port I/O has no 8-byte form; ImplSize caps the handler at 4 anyway.
      valid: { min: 1, max: 4 },
      impl: { min: 1, max: 4 },
      read: (offset, width) => bus.portRead(offset, width),
      write: (offset, width, value) => bus.portWrite(offset, width, value),
    });
  }

  // ---------------------------------------------------------------- lookup

  /** The MMIO region containing `addr`, or undefined (debugger, trace). */
  find(addr: number): MmioRegion | undefined {
    return this.lookup(addr)?.region;
  }

  /** The port region containing `port`, or undefined. */
  findPort(port: number): PortRegion | undefined {
    const i = port >= 0 && port < PORT_SPACE ? this.portMap[port | 0] : -1;
    return i < 0 ? undefined : this.ports[i].region;
  }

  /** All MMIO regions in address order (for device-tree generation and `info mtree`-like dumps). */
  regions(): MmioRegion[] {
    return this.entries.map((e) => e.region);
  }

  private lookup(addr: number): MmioEntry | null {
    const es = this.entries;
    // Last entry with base <= addr.
    let lo = 0;
    let hi = es.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (es[mid].base <= addr) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return null;
    const e = es[found];
    return addr < e.end ? e : null;
  }

  // ---------------------------------------------------------------- hot path

  /** Guest read of `size` bytes at `addr`. On Ok the value is in dataLo/dataHi. */
  /**
   * The region a guest access of `size` bytes at `addr` may use, or null: unmapped, a refused or
   * non-power-of-two width, misaligned (addr & (size-1) keeps the low bits of any integer < 2^53
   * because ToInt32 is modulo 2^32), or running past the region end.
   */
  private accessible(addr: number, size: AccessSize): MmioEntry | null {
    let e = this.last;
    if (e === null || !(addr >= e.base && addr < e.end)) {
      e = this.lookup(addr);
      if (e === null) return null;
      this.last = e;
    }
    if (
      size < e.validMin ||
      size > e.validMax ||
      (size & (size - 1)) !== 0 ||
      (addr & (size - 1)) !== 0 ||
      addr - e.base + size > e.size
    ) {
      return null;
    }
    return e;
  }

  read(addr: number, size: AccessSize): BusStatus {
    const e = this.accessible(addr, size);
    if (e === null) return this.readFault();
    const off = addr - e.base;
    const r = e.region;
    let lo = 0;
    let hi = 0;
    if (size > e.implMax) {
      // Split into little-endian pieces of impl.max; pieces never straddle bit 32.
      const m = e.implMax;
      for (let p = 0; p < size; p += m) {
        const v = maskTo(r.read(off + p, m), m);
        if (p < 4) lo |= v << (p << 3);
        else hi |= v << ((p - 4) << 3);
      }
      lo >>>= 0;
      hi >>>= 0;
    } else if (size < e.implMin) {
      // Widen: read the aligned impl.min unit (base is a multiple of impl.min) and extract.
      const w = e.implMin;
      const sub = addr & (w - 1);
      const v = maskTo(r.read(off - sub, w), w);
      lo = maskTo(v >>> (sub << 3), size);
    } else {
      lo = maskTo(r.read(off, size as ImplSize), size);
    }
    if (this.pioFault) {
      this.pioFault = false;
      return this.readFault();
    }
    e.reads++;
    this.dataLo = lo;
    this.dataHi = hi;
    if (this.mmioHook !== null) this.mmioHook(false, addr, size, lo, hi, e.region.name);
    return BusStatus.Ok;
  }

  /** Guest write of `size` bytes at `addr`; `lo`/`hi` are the low and high 32 bits. */
  write(addr: number, size: AccessSize, lo: number, hi: number): BusStatus {
    const e = this.accessible(addr, size);
    if (e === null) return this.writeFault();
    const off = addr - e.base;
    const r = e.region;
    if (size > e.implMax) {
      const m = e.implMax;
      for (let p = 0; p < size; p += m) {
        const v = p < 4 ? lo >>> (p << 3) : hi >>> ((p - 4) << 3);
        r.write(off + p, m, maskTo(v, m));
      }
    } else if (size < e.implMin) {
      // Read-modify-write of the wider unit, replacing only the addressed bytes.
      const w = e.implMin;
      const sub = addr & (w - 1);
      const shift = sub << 3;
      const fieldMask = ((1 << (size << 3)) - 1) << shift;
      const old = r.read(off - sub, w);
      r.write(off - sub, w, maskTo((old & ~fieldMask) | ((lo << shift) & fieldMask), w));
    } else {
      r.write(off, size as ImplSize, maskTo(lo, size));
    }
    if (this.pioFault) {
      this.pioFault = false;
      return this.writeFault();
    }
    e.writes++;
    if (this.mmioHook !== null) this.mmioHook(true, addr, size, lo, hi, e.region.name);
    return BusStatus.Ok;
  }

  private readFault(): BusStatus {
    this.unmappedReads++;
    this.dataLo = 0;
    this.dataHi = 0;
    return BusStatus.AccessFault;
  }

  private writeFault(): BusStatus {
    this.unmappedWrites++;
    return BusStatus.AccessFault;
  }

  // ---------------------------------------------------------------- port space (via PIO window)

  private portRead(port: number, size: ImplSize): number {
    const i = this.portMap[port];
    const p = i >= 0 ? this.ports[i] : undefined;
    if (p === undefined || port + size > p.end) {
      this.pioFault = true;
      return 0;
    }
    p.reads++;
    return p.region.read(port, size);
  }

  private portWrite(port: number, size: ImplSize, value: number): void {
    const i = this.portMap[port];
    const p = i >= 0 ? this.ports[i] : undefined;
    if (p === undefined || port + size > p.end) {
      this.pioFault = true;
      return;
    }
    p.writes++;
    p.region.write(port, size, value);
  }

  // ---------------------------------------------------------------- stats

  /** Per-region counts (regions sharing a name are summed; port regions are included). */
  stats(): BusStats {
    const regions: Record<string, { reads: number; writes: number }> = {};
    const add = (name: string, reads: number, writes: number): void => {
      const s = (regions[name] ??= { reads: 0, writes: 0 });
      s.reads += reads;
      s.writes += writes;
    };
    for (const e of this.entries) add(e.region.name, e.reads, e.writes);
    for (const p of this.ports) add(p.region.name, p.reads, p.writes);
    return { regions, unmappedReads: this.unmappedReads, unmappedWrites: this.unmappedWrites };
  }

  resetStats(): void {
    for (const e of this.entries) e.reads = e.writes = 0;
    for (const p of this.ports) p.reads = p.writes = 0;
    this.unmappedReads = 0;
    this.unmappedWrites = 0;
  }
}
