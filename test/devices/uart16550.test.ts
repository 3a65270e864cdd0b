import { describe, expect, it } from 'vitest';
import { Uart16550 } from '../../devices/uart16550.js';
import { Bus } from '../../src/bus/registry.js';
import { BusStatus } from '../../src/bus/types.js';
import { FakeBus, FakeIrqLine, viaJson } from '../helpers/fakes.js';

const BASE = 0x1000_0000;
// Register offsets (reg-shift 0).
const RBR = 0,
  THR = 0,
  DLL = 0,
  IER = 1,
  DLM = 1,
  IIR = 2,
  FCR = 2,
  LCR = 3,
  MCR = 4,
  LSR = 5,
  MSR = 6,
  SCR = 7;

function setup() {
  const bus = new FakeBus();
  const irq = new FakeIrqLine();
  const out: number[] = [];
  const uart = new Uart16550({ bus, base: BASE, irq, tx: (b) => out.push(b) });
  const r = (off: number) => bus.read(off, 1);
  const w = (off: number, v: number) => bus.write(off, v, 1);
  return { bus, irq, out, uart, r, w };
}

describe('Uart16550 registers', () => {
  it('registers one 0x100-byte region accepting 1..4-byte accesses', () => {
    const { bus } = setup();
    expect(bus.regions).toHaveLength(1);
    expect(bus.region()).toMatchObject({ name: 'uart0', base: BASE, size: 0x100, valid: { min: 1, max: 4 } });
  });

  it('has QEMU reset values', () => {
    const { r } = setup();
    expect(r(IER)).toBe(0);
    expect(r(IIR)).toBe(0x01);
    expect(r(LCR)).toBe(0);
    expect(r(MCR)).toBe(0x08);
    expect(r(LSR)).toBe(0x60);
    expect(r(MSR)).toBe(0xb0);
    expect(r(SCR)).toBe(0);
  });

  it('transmits immediately to the sink and keeps THRE|TEMT set', () => {
    const { r, w, out, uart } = setup();
    for (const c of 'hi\n') w(THR, c.charCodeAt(0));
    expect(String.fromCharCode(...out)).toBe('hi\n');
    expect(r(LSR) & 0x60).toBe(0x60);
    expect(uart.txBytes).toBe(3);
  });

  it('DLAB switches offsets 0/1 to the divisor latch', () => {
    const { r, w, out } = setup();
    w(IER, 0x05);
    w(LCR, 0x83);
    expect(r(DLL)).toBe(0x0c);
    expect(r(DLM)).toBe(0);
    w(DLL, 0x01);
    w(DLM, 0x02);
    expect(r(DLL)).toBe(0x01);
    expect(r(DLM)).toBe(0x02);
    expect(out).toEqual([]); // DLL write did not transmit
    w(LCR, 0x03);
    expect(r(IER)).toBe(0x05); // IER untouched by the DLM write
    expect(r(LCR)).toBe(0x03);
  });

  it('scratch register holds a byte; registers alias every 8 bytes; wide accesses use the byte register', () => {
    const { r, w, bus } = setup();
    w(SCR, 0x5a);
    expect(r(SCR)).toBe(0x5a);
    expect(r(0x17)).toBe(0x5a);
    // A 4-byte access at offset 4 reads MCR only (QEMU serial_mm_read ignores the size).
    expect(bus.read(4, 4)).toBe(0x08);
    w(0x0f, 0x77);
    expect(r(SCR)).toBe(0x77);
  });
});

describe('Uart16550 receive path', () => {
  it('delivers host input through RBR with LSR.DR', () => {
    const { r, uart } = setup();
    uart.pushInput(new TextEncoder().encode('ok'));
    expect(r(LSR) & 1).toBe(1);
    expect(r(RBR)).toBe(0x6f);
    expect(r(RBR)).toBe(0x6b);
    expect(r(LSR) & 1).toBe(0);
    expect(r(RBR)).toBe(0);
    expect(uart.rxBytes).toBe(2);
  });

  it('refills the 16-byte FIFO from an unbounded host queue as the guest drains it', () => {
    const { r, w, uart } = setup();
    w(FCR, 0x01);
    const data = Array.from({ length: 40 }, (_, i) => i + 1);
    uart.pushInput(data);
    expect(uart.pendingInput).toBe(40);
    const got: number[] = [];
    while (r(LSR) & 1) got.push(r(RBR));
    expect(got).toEqual(data);
    expect(r(LSR) & 0x02).toBe(0); // no overrun
  });

  it('FIFO trigger level selects RDA vs character-timeout id', () => {
    const { r, w, uart, irq } = setup();
    w(FCR, 0x81); // FIFO on, trigger 8
    w(IER, 0x01);
    expect(irq.level).toBe(false);
    uart.pushInput([1, 2, 3]);
    expect(irq.level).toBe(true);
    expect(r(IIR)).toBe(0xcc); // FIFOs enabled (0xc0) | character timeout (0x0c)
    uart.pushInput([4, 5, 6, 7, 8]);
    expect(r(IIR)).toBe(0xc4); // 8 >= trigger: received data available
    r(RBR);
    expect(r(IIR)).toBe(0xcc);
    for (let i = 0; i < 7; i++) r(RBR);
    expect(r(IIR)).toBe(0xc1);
    expect(irq.level).toBe(false);
  });

  it('trigger levels are 1, 4, 8, 14', () => {
    const { r, w, uart } = setup();
    w(IER, 0x01);
    for (const [fcr, level] of [
      [0x01, 1],
      [0x41, 4],
      [0x81, 8],
      [0xc1, 14],
    ]) {
      w(FCR, fcr | 0x02);
      uart.pushInput(new Array(level - 1).fill(0x61));
      if (level > 1) expect(r(IIR) & 0x0f).toBe(0x0c);
      uart.pushInput([0x62]);
      expect(r(IIR) & 0x0f).toBe(0x04);
    }
  });

  it('FCR RX reset discards the FIFO; toggling FCR.0 flushes it', () => {
    const { r, w, uart } = setup();
    w(FCR, 0x01);
    uart.pushInput([1, 2, 3]);
    w(FCR, 0x03);
    expect(r(LSR) & 1).toBe(0);
    uart.pushInput([4, 5]);
    w(FCR, 0x00); // FIFO off: both FIFOs flushed
    expect(r(LSR) & 1).toBe(0);
    expect(r(IIR) & 0xc0).toBe(0);
  });

  it('without FIFOs holds one byte at a time, still refilling from the host queue', () => {
    const { r, uart } = setup();
    uart.pushInput([7, 8, 9]);
    expect(uart.pendingInput).toBe(3);
    expect([r(RBR), r(RBR), r(RBR)]).toEqual([7, 8, 9]);
  });
});

describe('Uart16550 interrupts', () => {
  it('THRE: raised when ETBEI is enabled with THR empty (Linux probe), cleared by reading IIR', () => {
    const { r, w, irq } = setup();
    w(IER, 0x02);
    expect(irq.changes).toEqual([true]);
    expect(r(IIR)).toBe(0x02);
    expect(irq.changes).toEqual([true, false]);
    expect(r(IIR)).toBe(0x01);
    // Toggling ETBEI off and on re-raises it (8250 autoconfig / Windows).
    w(IER, 0x00);
    w(IER, 0x02);
    expect(r(IIR)).toBe(0x02);
    // Each transmit re-arms it.
    w(THR, 0x41);
    expect(irq.level).toBe(true);
    w(IER, 0x00);
    expect(irq.level).toBe(false);
    expect(r(IIR)).toBe(0x01);
  });

  it('drives the line only on level changes', () => {
    const { w, irq, uart } = setup();
    w(IER, 0x01);
    uart.pushInput([1]);
    uart.pushInput([2]);
    w(SCR, 1);
    expect(irq.changes).toEqual([true]);
  });

  it('reports sources in datasheet priority order: line status > RX data > THRE > modem status', () => {
    const { r, w, uart, irq } = setup();
    w(FCR, 0x01);
    w(MCR, 0x18); // loopback, OUT2 → DCD stays 1
    r(MSR); // clear deltas from entering loopback
    w(IER, 0x0f);
    // Fill the FIFO by loopback, then overrun it.
    for (let i = 0; i < 17; i++) w(THR, i);
    w(MCR, 0x1a); // RTS → CTS changes: modem status delta
    expect(irq.level).toBe(true);
    expect(r(IIR) & 0x0f).toBe(0x06); // receiver line status (overrun)
    expect(r(LSR) & 0x02).toBe(0x02); // OE, cleared by this read
    expect(r(IIR) & 0x0f).toBe(0x04); // received data available (16 >= trigger 1)
    for (let i = 0; i < 16; i++) expect(r(RBR)).toBe(i); // the 17th byte was lost
    expect(r(IIR) & 0x0f).toBe(0x02); // THRE (last transmit)
    expect(r(IIR) & 0x0f).toBe(0x00); // that read cleared THRE: modem status
    expect(r(MSR) & 0x0f).toBe(0x01); // DCTS
    expect(r(IIR)).toBe(0xc1);
    expect(irq.level).toBe(false);
  });

  it('masked sources do not interrupt', () => {
    const { r, w, uart, irq } = setup();
    uart.pushInput([1]);
    w(IER, 0x02 | 0x08);
    r(IIR); // clears THRE
    expect(r(IIR)).toBe(0x01);
    expect(irq.level).toBe(false);
  });
});

describe('Uart16550 loopback', () => {
  it('sends TX to RX instead of the sink and maps MCR outputs onto MSR (8250 probe: 0x90)', () => {
    const { r, w, out, uart } = setup();
    w(MCR, 0x10 | 0x0a); // loop | OUT2 | RTS, as Linux's 8250 autoconfig does
    expect(r(MSR) & 0xf0).toBe(0x90); // DCD | CTS
    w(MCR, 0x10 | 0x05); // loop | OUT1 | DTR
    expect(r(MSR) & 0xf0).toBe(0x60); // RI | DSR
    w(THR, 0x55);
    expect(out).toEqual([]);
    expect(r(LSR) & 1).toBe(1);
    expect(r(RBR)).toBe(0x55);
    expect(uart.txBytes).toBe(1);
  });

  it('disconnects host input during loopback and reconnects after', () => {
    const { r, w, uart, out } = setup();
    w(MCR, 0x18);
    uart.pushInput([0x41]);
    expect(r(LSR) & 1).toBe(0);
    w(MCR, 0x08);
    expect(r(RBR)).toBe(0x41);
    w(THR, 0x42);
    expect(out).toEqual([0x42]);
    // Entering and leaving loopback toggled CTS and DSR: DCTS|DDSR, cleared by the read.
    expect(r(MSR)).toBe(0xb3);
    expect(r(MSR)).toBe(0xb0);
  });

  it('without FIFOs a loopback overrun replaces the holding register and sets OE', () => {
    const { r, w } = setup();
    w(MCR, 0x10);
    w(THR, 1);
    w(THR, 2);
    expect(r(LSR) & 0x03).toBe(0x03);
    expect(r(LSR) & 0x02).toBe(0); // OE cleared by the read
    expect(r(RBR)).toBe(2);
  });
});

describe('Uart16550 through a real Bus', () => {
  it('accepts byte and word accesses and refuses 8-byte ones', () => {
    const bus = new Bus();
    const out: number[] = [];
    new Uart16550({ bus, base: BASE, irq: new FakeIrqLine(), tx: (b) => out.push(b) });
    expect(bus.write(BASE + THR, 1, 0x61, 0)).toBe(BusStatus.Ok);
    expect(bus.write(BASE + THR, 4, 0x62, 0)).toBe(BusStatus.Ok);
    expect(bus.write(BASE + THR, 8, 0x63, 0)).toBe(BusStatus.AccessFault);
    expect(out).toEqual([0x61, 0x62]);
    expect(bus.read(BASE + LSR, 1)).toBe(BusStatus.Ok);
    expect(bus.dataLo).toBe(0x60);
    expect(bus.read(BASE + 0x100, 1)).toBe(BusStatus.AccessFault);
    expect(bus.stats().regions.uart0).toEqual({ reads: 1, writes: 2 });
  });
});

describe('Uart16550 snapshots', () => {
  it('round-trips through JSON into a fresh device with identical behaviour', () => {
    const a = setup();
    a.w(LCR, 0x83);
    a.w(DLL, 0x03);
    a.w(LCR, 0x03);
    a.w(FCR, 0x41); // trigger 4
    a.w(IER, 0x01);
    a.w(SCR, 0x99);
    a.uart.pushInput(Array.from({ length: 20 }, (_, i) => 0x30 + i));
    a.r(RBR);
    const state = viaJson(a.uart.getState());

    const b = setup();
    b.uart.setState(state);
    expect(b.irq.level).toBe(true);
    expect(b.uart.getState()).toEqual(a.uart.getState());
    const drain = (x: ReturnType<typeof setup>) => {
      const seen: number[] = [];
      while (x.r(LSR) & 1) seen.push(x.r(IIR), x.r(RBR));
      return seen;
    };
    const da = drain(a);
    expect(drain(b)).toEqual(da);
    expect(da.filter((_, i) => i % 2 === 1)).toHaveLength(19);
    expect(b.r(SCR)).toBe(0x99);
    b.w(LCR, 0x83);
    expect(b.r(DLL)).toBe(0x03);
  });

  it('reset restores power-on registers, lowers the line, empties the receiver but keeps queued host input', () => {
    const { r, w, uart, irq } = setup();
    w(IER, 0x03);
    uart.pushInput([1, 2]);
    expect(irq.level).toBe(true);
    uart.reset();
    expect(irq.level).toBe(false);
    expect(r(IER)).toBe(0);
    // Byte 1 sat in the receive holding register and was cleared; byte 2 was still queued.
    expect(r(RBR)).toBe(2);
    expect(r(LSR) & 1).toBe(0);
  });
});
