import { describe, expect, it } from 'vitest';
import { Bus } from '../src/bus/registry.js';
import { BusStatus } from '../src/bus/types.js';
import type { AccessSize, ImplSize, MmioRegion, PortRegion } from '../src/bus/types.js';

interface Call {
  op: 'r' | 'w';
  offset: number;
  size: number;
  value?: number;
}

/** A byte-array backed region that logs every handler call. */
function memRegion(
  name: string,
  base: number,
  size: number,
  valid: [AccessSize, AccessSize],
  impl: [ImplSize, ImplSize],
): MmioRegion & { mem: Uint8Array; calls: Call[] } {
  const mem = new Uint8Array(size);
  const calls: Call[] = [];
  return {
    name,
    base,
    size,
    valid: { min: valid[0], max: valid[1] },
    impl: { min: impl[0], max: impl[1] },
    mem,
    calls,
    read(offset, sz) {
      calls.push({ op: 'r', offset, size: sz });
      let v = 0;
      for (let i = sz - 1; i >= 0; i--) v = v * 256 + mem[offset + i];
      return v;
    },
    write(offset, sz, value) {
      calls.push({ op: 'w', offset, size: sz, value });
      for (let i = 0; i < sz; i++) mem[offset + i] = (value >>> (8 * i)) & 0xff;
    },
  };
}

describe('Bus registration', () => {
  it('refuses an overlap, naming both devices and both ranges in hex', () => {
    const bus = new Bus();
    bus.addMmio(memRegion('foo', 0x1000_0080, 0x100, [1, 4], [1, 4]));
    expect(() => bus.addMmio(memRegion('uart0', 0x1000_0000, 0x100, [1, 1], [1, 1]))).toThrow(
      "MMIO region 'uart0' [0x10000000-0x100000ff] overlaps 'foo' [0x10000080-0x1000017f]",
    );
  });

  it('accepts adjacent regions and refuses exact duplicates and containment', () => {
    const bus = new Bus();
    bus.addMmio(memRegion('a', 0x1000, 0x100, [4, 4], [4, 4]));
    bus.addMmio(memRegion('b', 0x1100, 0x100, [4, 4], [4, 4]));
    bus.addMmio(memRegion('c', 0xf00, 0x100, [4, 4], [4, 4]));
    expect(() => bus.addMmio(memRegion('d', 0x1100, 0x100, [4, 4], [4, 4]))).toThrow(/'d'.*overlaps 'b'/);
    expect(() => bus.addMmio(memRegion('e', 0x0, 0x10000, [4, 4], [4, 4]))).toThrow(/'e'.*overlaps/);
    expect(() => bus.addMmio(memRegion('f', 0x1180, 0x4, [4, 4], [4, 4]))).toThrow(/'f'.*overlaps 'b'/);
    expect(bus.regions().map((r) => r.name)).toEqual(['c', 'a', 'b']);
  });

  it('refuses size 0 and bad width ranges', () => {
    const bus = new Bus();
    expect(() => bus.addMmio(memRegion('z', 0x1000, 0, [4, 4], [4, 4]))).toThrow(/size/);
    expect(() => bus.addMmio(memRegion('v', 0x1000, 16, [8, 4], [4, 4]))).toThrow(/valid/);
    expect(() => bus.addMmio(memRegion('v3', 0x1000, 16, [3 as AccessSize, 4], [4, 4]))).toThrow(/valid/);
    expect(() => bus.addMmio(memRegion('i', 0x1000, 16, [4, 4], [4, 2]))).toThrow(/impl/);
    expect(() => bus.addMmio(memRegion('i8', 0x1000, 16, [4, 8], [4, 8 as ImplSize]))).toThrow(/impl/);
    expect(() => bus.addMmio(memRegion('al', 0x1002, 16, [4, 4], [4, 4]))).toThrow(/multiples/);
    expect(bus.regions()).toHaveLength(0);
  });

  it('refuses overlapping port ranges and ports outside 16 bits', () => {
    const bus = new Bus();
    const ports = (name: string, port: number, count: number): PortRegion => ({
      name,
      port,
      count,
      read: () => 0,
      write: () => {},
    });
    bus.addPorts(ports('com1', 0x3f8, 8));
    expect(() => bus.addPorts(ports('x', 0x3fc, 8))).toThrow("port region 'x' [0x03fc-0x0403] overlaps 'com1' [0x03f8-0x03ff]");
    expect(() => bus.addPorts(ports('big', 0xfff0, 0x20))).toThrow(/0xffff/);
    expect(() => bus.addPorts(ports('zero', 0x100, 0))).toThrow(/count/);
    bus.addPorts(ports('com2', 0x2f8, 8));
    expect(bus.findPort(0x2ff)?.name).toBe('com2');
    expect(bus.findPort(0x300)).toBeUndefined();
  });
});

describe('Bus access', () => {
  it('find() and the last-hit cache agree across many regions', () => {
    const bus = new Bus();
    const regions = [];
    for (let i = 0; i < 50; i++) {
      const r = memRegion(`r${i}`, 0x1000_0000 + i * 0x2000, 0x1000, [1, 8], [1, 4]);
      r.mem[0] = i;
      regions.push(r);
      bus.addMmio(r);
    }
    for (const i of [7, 7, 0, 49, 23, 24, 23]) {
      expect(bus.read(0x1000_0000 + i * 0x2000, 1)).toBe(BusStatus.Ok);
      expect(bus.dataLo).toBe(i);
      expect(bus.find(0x1000_0000 + i * 0x2000 + 0xfff)?.name).toBe(`r${i}`);
    }
    // The holes between regions are unmapped.
    expect(bus.find(0x1000_1000)).toBeUndefined();
    expect(bus.read(0x1000_1000, 4)).toBe(BusStatus.AccessFault);
    expect(bus.read(0xfff_ffff, 1)).toBe(BusStatus.AccessFault);
    expect(bus.read(0x1000_0000 + 50 * 0x2000, 1)).toBe(BusStatus.AccessFault);
  });

  it('splits an 8-byte access into little-endian impl.max pieces', () => {
    const bus = new Bus();
    const r = memRegion('dev', 0x2000, 0x100, [4, 8], [4, 4]);
    bus.addMmio(r);
    expect(bus.write(0x2008, 8, 0x89abcdef, 0x01234567)).toBe(BusStatus.Ok);
    expect(r.calls).toEqual([
      { op: 'w', offset: 8, size: 4, value: 0x89abcdef },
      { op: 'w', offset: 12, size: 4, value: 0x01234567 },
    ]);
    r.calls.length = 0;
    expect(bus.read(0x2008, 8)).toBe(BusStatus.Ok);
    expect(bus.dataLo).toBe(0x89abcdef);
    expect(bus.dataHi).toBe(0x01234567);
    expect(r.calls.map((c) => c.offset)).toEqual([8, 12]);
  });

  it('splits into byte pieces for a byte-wide handler', () => {
    const bus = new Bus();
    const r = memRegion('bytes', 0x3000, 0x10, [1, 8], [1, 1]);
    bus.addMmio(r);
    bus.write(0x3000, 8, 0x04030201, 0x08070605);
    expect(Array.from(r.mem.slice(0, 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(r.calls.every((c) => c.size === 1)).toBe(true);
    expect(bus.read(0x3004, 4)).toBe(BusStatus.Ok);
    expect(bus.dataLo).toBe(0x08070605);
    expect(bus.dataHi).toBe(0);
    bus.read(0x3000, 2);
    expect(bus.dataLo).toBe(0x0201);
  });

  it('widens a narrow read to impl.min and extracts the addressed bytes', () => {
    const bus = new Bus();
    const r = memRegion('word', 0x4000, 0x10, [1, 4], [4, 4]);
    r.mem.set([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
    bus.addMmio(r);
    expect(bus.read(0x4006, 1)).toBe(BusStatus.Ok);
    expect(bus.dataLo).toBe(0x77);
    expect(r.calls).toEqual([{ op: 'r', offset: 4, size: 4 }]);
    bus.read(0x4002, 2);
    expect(bus.dataLo).toBe(0x4433);
  });

  it('widens a narrow write as read-modify-write of the wider unit', () => {
    const bus = new Bus();
    const r = memRegion('word', 0x4000, 0x10, [1, 4], [4, 4]);
    r.mem.set([0x11, 0x22, 0x33, 0x44]);
    bus.addMmio(r);
    // Upper bits of `lo` beyond the access size must not leak into neighbouring bytes.
    expect(bus.write(0x4001, 1, 0xffffffab, 0)).toBe(BusStatus.Ok);
    expect(Array.from(r.mem.slice(0, 4))).toEqual([0x11, 0xab, 0x33, 0x44]);
    expect(r.calls).toEqual([
      { op: 'r', offset: 0, size: 4 },
      { op: 'w', offset: 0, size: 4, value: 0x4433ab11 },
    ]);
    bus.write(0x4002, 2, 0xbeef, 0);
    expect(Array.from(r.mem.slice(0, 4))).toEqual([0x11, 0xab, 0xef, 0xbe]);
  });

  it('masks handler results and write values to the access size', () => {
    const bus = new Bus();
    let got = -1;
    bus.addMmio({
      name: 'sloppy',
      base: 0x5000,
      size: 8,
      valid: { min: 1, max: 4 },
      impl: { min: 1, max: 4 },
      read: () => -1,
      write: (_o, _s, v) => (got = v),
    });
    bus.read(0x5000, 1);
    expect(bus.dataLo).toBe(0xff);
    bus.read(0x5000, 4);
    expect(bus.dataLo).toBe(0xffffffff);
    bus.write(0x5002, 2, 0x12345678, 0);
    expect(got).toBe(0x5678);
  });

  it('faults on refused widths, misalignment, running past the end and unmapped addresses, counting each', () => {
    const bus = new Bus();
    const r = memRegion('dev', 0x6000, 0x10, [4, 4], [4, 4]);
    bus.addMmio(r);
    expect(bus.read(0x6000, 1)).toBe(BusStatus.AccessFault);
    expect(bus.read(0x6000, 8)).toBe(BusStatus.AccessFault);
    expect(bus.read(0x6002, 4)).toBe(BusStatus.AccessFault);
    expect(bus.write(0x6000, 2, 0, 0)).toBe(BusStatus.AccessFault);
    expect(bus.write(0x9000, 4, 0, 0)).toBe(BusStatus.AccessFault);
    const wide = memRegion('wide', 0x7000, 0x4, [4, 8], [4, 4]);
    bus.addMmio(wide);
    expect(bus.read(0x7000, 8)).toBe(BusStatus.AccessFault); // past the end
    expect(r.calls).toHaveLength(0);
    expect(wide.calls).toHaveLength(0);
    expect(bus.stats()).toEqual({
      regions: { dev: { reads: 0, writes: 0 }, wide: { reads: 0, writes: 0 } },
      unmappedReads: 4,
      unmappedWrites: 2,
    });
    expect(bus.dataLo).toBe(0);
  });

  it('faults on addresses above 4 GiB that alias a region in the low 32 bits', () => {
    const bus = new Bus();
    bus.addMmio(memRegion('dev', 0x6000, 0x10, [4, 4], [4, 4]));
    expect(bus.read(0x1_0000_6000, 4)).toBe(BusStatus.AccessFault);
    expect(bus.read(0x6000, 4)).toBe(BusStatus.Ok);
    expect(bus.read(0x1_0000_6000, 4)).toBe(BusStatus.AccessFault); // cache must not alias either
  });

  it('counts accesses per region and resets the counters', () => {
    const bus = new Bus();
    bus.addMmio(memRegion('a', 0x1000, 0x10, [1, 8], [4, 4]));
    bus.addMmio(memRegion('b', 0x2000, 0x10, [1, 8], [4, 4]));
    bus.read(0x1000, 8); // one guest access even though split in two
    bus.read(0x1004, 1);
    bus.write(0x2000, 4, 1, 0);
    bus.read(0x3000, 4);
    expect(bus.stats()).toEqual({
      regions: { a: { reads: 2, writes: 0 }, b: { reads: 0, writes: 1 } },
      unmappedReads: 1,
      unmappedWrites: 0,
    });
    bus.resetStats();
    expect(bus.stats()).toEqual({
      regions: { a: { reads: 0, writes: 0 }, b: { reads: 0, writes: 0 } },
      unmappedReads: 0,
      unmappedWrites: 0,
    });
  });
});

describe('Bus PIO window', () => {
  it('forwards base+port to port handlers and faults on unmapped ports', () => {
    const bus = new Bus();
    const seen: [string, number, number, number?][] = [];
    bus.addPorts({
      name: 'com1',
      port: 0x3f8,
      count: 8,
      read: (port, size) => {
        seen.push(['r', port, size]);
        return 0x40 + (port - 0x3f8);
      },
      write: (port, size, value) => {
        seen.push(['w', port, size, value]);
      },
    });
    bus.addPioWindow(0x0300_0000, 0x10000);
    expect(bus.find(0x0300_03f8)?.name).toBe('pio');
    expect(bus.read(0x0300_03fd, 1)).toBe(BusStatus.Ok);
    expect(bus.dataLo).toBe(0x45);
    expect(bus.write(0x0300_03f8, 1, 0x41, 0)).toBe(BusStatus.Ok);
    expect(seen).toEqual([
      ['r', 0x3fd, 1],
      ['w', 0x3f8, 1, 0x41],
    ]);
    // Unmapped port, and an access running past the port region's end.
    expect(bus.read(0x0300_0060, 1)).toBe(BusStatus.AccessFault);
    expect(bus.write(0x0300_03fe, 4, 0, 0)).toBe(BusStatus.AccessFault); // misaligned anyway
    expect(bus.read(0x0300_03fc, 8)).toBe(BusStatus.AccessFault); // no 8-byte port I/O
    expect(bus.stats()).toEqual({
      regions: { pio: { reads: 1, writes: 1 }, com1: { reads: 1, writes: 1 } },
      unmappedReads: 2,
      unmappedWrites: 1,
    });
    // A fault does not stick: the next access is fine.
    expect(bus.read(0x0300_03f8, 1)).toBe(BusStatus.Ok);
  });

  it('faults when a port access runs past the end of its port region', () => {
    const bus = new Bus();
    bus.addPorts({ name: 'p', port: 0x100, count: 2, read: () => 0xffff, write: () => {} });
    bus.addPioWindow(0x0300_0000, 0x10000);
    expect(bus.read(0x0300_0100, 2)).toBe(BusStatus.Ok);
    expect(bus.dataLo).toBe(0xffff);
    expect(bus.read(0x0300_0100, 4)).toBe(BusStatus.AccessFault);
  });

  it('refuses a PIO window that overlaps another region', () => {
    const bus = new Bus();
    bus.addMmio(memRegion('x', 0x0300_8000, 0x100, [4, 4], [4, 4]));
    expect(() => bus.addPioWindow(0x0300_0000, 0x10000)).toThrow(/'pio'.*overlaps 'x'/);
  });
});
