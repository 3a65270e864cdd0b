import { describe, expect, it } from 'vitest';
import { Plic } from '../../devices/plic.js';
import { Bus } from '../../src/bus/registry.js';
import { BusStatus, Irq } from '../../src/bus/types.js';
import { FakeBus, FakeHartIrq, viaJson } from '../helpers/fakes.js';

const BASE = 0x0c00_0000;

function setup(harts = 2, numSources?: number) {
  const bus = new FakeBus();
  const irq = new FakeHartIrq();
  const plic = new Plic({ bus, base: BASE, harts, irq, numSources });
  const prio = (src: number, p: number) => bus.write(4 * src, p);
  const enable = (ctx: number, ...srcs: number[]) => {
    for (const s of srcs) {
      const off = 0x2000 + 0x80 * ctx + 4 * (s >>> 5);
      bus.write(off, (bus.read(off) | (1 << (s & 31))) >>> 0);
    }
  };
  const threshold = (ctx: number, t: number) => bus.write(0x20_0000 + 0x1000 * ctx, t);
  const claim = (ctx: number) => bus.read(0x20_0004 + 0x1000 * ctx);
  const complete = (ctx: number, src: number) => bus.write(0x20_0004 + 0x1000 * ctx, src);
  const pendingBit = (src: number) => (bus.read(0x1000 + 4 * (src >>> 5)) >>> (src & 31)) & 1;
  return { bus, irq, plic, prio, enable, threshold, claim, complete, pendingBit };
}

describe('Plic registers', () => {
  it('registers the QEMU virt region with 32-bit accesses only', () => {
    const { bus } = setup();
    expect(bus.region()).toMatchObject({
      name: 'plic',
      base: BASE,
      size: 0x60_0000,
      valid: { min: 4, max: 4 },
      impl: { min: 4, max: 4 },
    });
  });

  it('masks priorities to 3 bits and hardwires source 0', () => {
    const { bus, prio } = setup();
    prio(1, 0xff);
    expect(bus.read(4)).toBe(7);
    prio(0, 5);
    expect(bus.read(0)).toBe(0);
    prio(95, 3);
    expect(bus.read(4 * 95)).toBe(3);
    prio(96, 3); // beyond numSources
    expect(bus.read(4 * 96)).toBe(0);
  });

  it('masks enable bits to real sources (bit 0 and ids >= numSources read 0)', () => {
    const { bus } = setup(1, 40);
    bus.write(0x2000, 0xffff_ffff);
    expect(bus.read(0x2000)).toBe(0xffff_fffe);
    bus.write(0x2004, 0xffff_ffff);
    expect(bus.read(0x2004)).toBe(0xff); // sources 32..39
    bus.write(0x2008, 0xffff_ffff);
    expect(bus.read(0x2008)).toBe(0);
  });

  it('masks thresholds to 3 bits and ignores writes to pending bits', () => {
    const { bus, threshold, plic, pendingBit } = setup();
    threshold(3, 0x1f);
    expect(bus.read(0x20_0000 + 0x3000)).toBe(7);
    plic.irqLine(9).set(true);
    bus.write(0x1000, 0);
    expect(pendingBit(9)).toBe(1);
  });

  it('validates irqLine ids and returns one line object per source', () => {
    const { plic } = setup();
    expect(() => plic.irqLine(0)).toThrow(/source 0/);
    expect(() => plic.irqLine(96)).toThrow(/source 96/);
    expect(plic.irqLine(10)).toBe(plic.irqLine(10));
  });
});

describe('Plic claim and complete', () => {
  it('claims the highest priority, ties to the lowest id, clearing pending', () => {
    const { plic, prio, enable, claim, pendingBit, complete } = setup();
    for (const [src, p] of [
      [3, 2],
      [7, 5],
      [5, 5],
      [40, 6],
    ]) {
      prio(src, p);
      enable(0, src);
      plic.irqLine(src).set(true);
    }
    expect([3, 5, 7, 40].map(pendingBit)).toEqual([1, 1, 1, 1]);
    expect(claim(0)).toBe(40);
    expect(pendingBit(40)).toBe(0);
    expect(claim(0)).toBe(5);
    expect(claim(0)).toBe(7);
    expect(claim(0)).toBe(3);
    expect(claim(0)).toBe(0);
    expect(plic.claims[5]).toBe(1);
    complete(0, 5);
    expect(plic.completes[5]).toBe(1);
  });

  it('threshold: only priorities strictly above it interrupt or claim', () => {
    const { plic, prio, enable, threshold, claim, irq } = setup();
    prio(4, 3);
    enable(0, 4);
    threshold(0, 3);
    plic.irqLine(4).set(true);
    expect(irq.pending(0, Irq.MEIP)).toBe(false);
    expect(claim(0)).toBe(0);
    threshold(0, 2);
    expect(irq.pending(0, Irq.MEIP)).toBe(true);
    expect(claim(0)).toBe(4);
    expect(irq.pending(0, Irq.MEIP)).toBe(false);
  });

  it('priority 0 never interrupts', () => {
    const { plic, enable, claim, irq } = setup();
    enable(0, 2);
    plic.irqLine(2).set(true);
    expect(irq.pending(0, Irq.MEIP)).toBe(false);
    expect(claim(0)).toBe(0);
  });

  it('level gateway: closed while claimed; completion re-arms from the current line level', () => {
    const { plic, prio, enable, claim, complete, pendingBit, irq } = setup();
    const line = plic.irqLine(10);
    prio(10, 1);
    enable(0, 10);
    line.set(true);
    expect(claim(0)).toBe(10);
    // While in service, the line toggling does not pend again.
    line.set(false);
    line.set(true);
    expect(pendingBit(10)).toBe(0);
    expect(irq.pending(0, Irq.MEIP)).toBe(false);
    complete(0, 10); // line still high → pending again
    expect(pendingBit(10)).toBe(1);
    expect(irq.pending(0, Irq.MEIP)).toBe(true);
    expect(claim(0)).toBe(10);
    line.set(false);
    complete(0, 10); // line low → stays idle
    expect(pendingBit(10)).toBe(0);
    expect(irq.pending(0, Irq.MEIP)).toBe(false);
    line.set(true); // gateway open again
    expect(pendingBit(10)).toBe(1);
  });

  it('a request forwarded before the line drops stays pending until claimed (PLIC spec §5)', () => {
    const { plic, prio, enable, claim, pendingBit } = setup();
    prio(6, 1);
    enable(0, 6);
    plic.irqLine(6).set(true);
    plic.irqLine(6).set(false);
    expect(pendingBit(6)).toBe(1);
    expect(claim(0)).toBe(6);
  });

  it('ignores completion of ids that are not in service', () => {
    const { plic, complete, pendingBit, prio, enable } = setup();
    prio(8, 1);
    enable(0, 8);
    plic.irqLine(8).set(true);
    complete(0, 8); // pending, not claimed
    complete(0, 0);
    complete(0, 500);
    expect(plic.completes.reduce((a, b) => a + b, 0)).toBe(0);
    expect(pendingBit(8)).toBe(1);
  });

  it('completion from another context releases the claim (as QEMU)', () => {
    const { plic, prio, enable, claim, complete, pendingBit } = setup();
    prio(8, 1);
    enable(1, 8);
    plic.irqLine(8).set(true);
    expect(claim(1)).toBe(8);
    complete(0, 8);
    plic.irqLine(8).set(true);
    expect(pendingBit(8)).toBe(1);
  });
});

describe('Plic context outputs', () => {
  it('maps context 2h to hart h MEIP and 2h+1 to SEIP', () => {
    const { plic, prio, enable, irq } = setup();
    prio(1, 1);
    prio(2, 1);
    prio(3, 1);
    prio(4, 1);
    enable(0, 1);
    enable(1, 2);
    enable(2, 3);
    enable(3, 4);
    plic.irqLine(4).set(true);
    expect(irq.calls).toEqual([{ hart: 1, bit: Irq.SEIP, level: true }]);
    plic.irqLine(3).set(true);
    expect(irq.calls.at(-1)).toEqual({ hart: 1, bit: Irq.MEIP, level: true });
    plic.irqLine(2).set(true);
    expect(irq.calls.at(-1)).toEqual({ hart: 0, bit: Irq.SEIP, level: true });
    plic.irqLine(1).set(true);
    expect(irq.calls.at(-1)).toEqual({ hart: 0, bit: Irq.MEIP, level: true });
    expect(irq.calls).toHaveLength(4);
  });

  it('drives an output only when it changes', () => {
    const { plic, prio, enable, claim, irq, bus } = setup(1);
    prio(1, 1);
    prio(2, 1);
    enable(0, 1, 2);
    plic.irqLine(1).set(true);
    plic.irqLine(2).set(true);
    prio(2, 4);
    bus.write(0x20_0000, 0); // threshold rewrite, no change
    expect(irq.calls).toEqual([{ hart: 0, bit: Irq.MEIP, level: true }]);
    expect(claim(0)).toBe(2);
    expect(irq.calls).toHaveLength(1); // source 1 still pending
    expect(claim(0)).toBe(1);
    expect(irq.calls.at(-1)).toEqual({ hart: 0, bit: Irq.MEIP, level: false });
  });

  it('enabling a pending source raises the output; disabling lowers it', () => {
    const { plic, prio, enable, irq, bus } = setup(1);
    prio(33, 2);
    plic.irqLine(33).set(true);
    expect(irq.pending(0, Irq.MEIP)).toBe(false);
    enable(0, 33);
    expect(irq.pending(0, Irq.MEIP)).toBe(true);
    bus.write(0x2004, 0);
    expect(irq.pending(0, Irq.MEIP)).toBe(false);
  });
});

describe('Plic through a real Bus', () => {
  it('accepts 32-bit accesses and faults on others', () => {
    const bus = new Bus();
    const plic = new Plic({ bus, base: BASE, harts: 1, irq: new FakeHartIrq() });
    expect(bus.write(BASE + 4 * 10, 4, 6, 0)).toBe(BusStatus.Ok);
    expect(bus.write(BASE + 0x2000, 4, 1 << 10, 0)).toBe(BusStatus.Ok);
    plic.irqLine(10).set(true);
    expect(bus.read(BASE + 0x20_0004, 4)).toBe(BusStatus.Ok);
    expect(bus.dataLo).toBe(10);
    expect(bus.read(BASE + 0x20_0004, 8)).toBe(BusStatus.AccessFault);
    expect(bus.read(BASE + 4 * 10, 1)).toBe(BusStatus.AccessFault);
    expect(bus.write(BASE + 0x20_0004, 2, 10, 0)).toBe(BusStatus.AccessFault);
    expect(plic.completes[10]).toBe(0);
    expect(bus.stats().unmappedReads).toBe(2);
  });
});

describe('Plic snapshots and reset', () => {
  it('round-trips through JSON with identical behaviour', () => {
    const a = setup();
    a.prio(3, 2);
    a.prio(9, 5);
    a.enable(1, 3, 9);
    a.threshold(1, 1);
    a.plic.irqLine(3).set(true);
    a.plic.irqLine(9).set(true);
    expect(a.claim(1)).toBe(9); // 9 in service, 3 pending
    const state = viaJson(a.plic.getState());

    const b = setup();
    b.plic.setState(state);
    expect(b.plic.getState()).toEqual(a.plic.getState());
    expect(b.irq.pending(0, Irq.SEIP)).toBe(true);
    for (const x of [a, b]) {
      x.plic.irqLine(9).set(true); // gateway closed: no effect
      expect(x.claim(1)).toBe(3);
      x.complete(1, 9); // line high → pending again
      expect(x.claim(1)).toBe(9);
      expect(x.claim(1)).toBe(0);
    }
    expect(b.plic.getState()).toEqual(a.plic.getState());
  });

  it("S-only contexts (a VM's PLIC): setState drives context h's output on hart h's SEIP (issue 12 snapshots)", () => {
    // Before the fix setState used the M/S map (ctx >> 1, M/S) for S-only contexts too, so a
    // restored 2-vCPU VM's vCPU 1 interrupt landed on vCPU 0's SEIP and vCPU 1 lost it.
    const mk = () => {
      const bus = new FakeBus();
      const irq = new FakeHartIrq();
      const plic = new Plic({ bus, base: BASE, harts: 2, irq, contexts: 'S' });
      return { bus, irq, plic };
    };
    const a = mk();
    a.bus.write(4 * 5, 1); // priority of source 5
    a.bus.write(0x2000 + 0x80 * 1, 1 << 5); // context 1 (hart 1's S context) enables it
    a.plic.irqLine(5).set(true);
    expect(a.irq.pending(1, Irq.SEIP)).toBe(true);
    const b = mk();
    b.plic.setState(viaJson(a.plic.getState()));
    expect(b.irq.pending(1, Irq.SEIP)).toBe(true);
    expect(b.irq.pending(0, Irq.SEIP)).toBe(false);
  });

  it('reset clears registers but a line still high pends again', () => {
    const { plic, prio, enable, claim, pendingBit, bus, irq } = setup(1);
    prio(5, 1);
    enable(0, 5);
    plic.irqLine(5).set(true);
    expect(claim(0)).toBe(5);
    plic.reset();
    expect(bus.read(4 * 5)).toBe(0);
    expect(bus.read(0x2000)).toBe(0);
    expect(pendingBit(5)).toBe(1);
    expect(irq.pending(0, Irq.MEIP)).toBe(false);
  });
});
