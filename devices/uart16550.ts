/**
 * NS16550A UART as on QEMU virt (serial-mm at 0x1000_0000, size 0x100, reg-shift 0, IRQ 10).
 *
 * Register behaviour follows the TI/National PC16550D datasheet and QEMU hw/char/serial.c.
 * Simplifications, all invisible to a driver that follows the datasheet:
 *   - TX is immediate: a THR write goes straight to the `tx` sink (or to RX in loopback), so
 *     LSR.THRE and LSR.TEMT read 1 at all times and the THRE interrupt is re-armed at once.
 *   - The RX character timeout (datasheet: 4 character times with data below the trigger level)
 *     is modelled as zero-length: whenever the FIFO holds data below the trigger level and
 *     IER.ERBFI is set, the UART reports the timeout id (IIR = 0xC) instead of waiting. At or above
 *     the trigger level it reports received-data-available (IIR = 0x4). Linux's 8250 driver
 *     handles both ids the same way.
 *   - Host input goes into an unbounded queue that refills the 16-byte RX FIFO (1-byte holding
 *     register with FIFOs disabled) as the guest drains it, so host input never overruns.
 *   - As on QEMU virt the interrupt output is not gated by MCR.OUT2 (that gate is PC wiring).
 *   - Divisor, LCR framing and baud rate are stored but have no timing effect.
 */
import type { Device, IrqLine, MmioRegion } from '../src/bus/types.js';

// Register indices (datasheet Table 2). DLAB = LCR bit 7 switches 0/1 to the divisor latch.
const RBR_THR_DLL = 0;
const IER_DLM = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

// IER bits.
const IER_ERBFI = 0x01; // received data available
const IER_ETBEI = 0x02; // THR empty
const IER_ELSI = 0x04; // receiver line status
const IER_EDSSI = 0x08; // modem status

// IIR interrupt ids (bit 0 = 1 means none pending), in priority order (datasheet Table 4).
const IIR_NONE = 0x01;
const IIR_RLS = 0x06; // 1st: receiver line status (OE/PE/FE/BI)
const IIR_RDA = 0x04; // 2nd: received data available (trigger level reached)
const IIR_CTI = 0x0c; // 2nd: character timeout
const IIR_THRE = 0x02; // 3rd: transmitter holding register empty
const IIR_MS = 0x00; // 4th: modem status
const IIR_FIFOS = 0xc0; // bits 7:6 read 11 when FCR.0 enables the FIFOs

// FCR bits.
const FCR_FE = 0x01;
const FCR_RFR = 0x02; // reset RX FIFO (self-clearing)
const FCR_XFR = 0x04; // reset TX FIFO (self-clearing)

// LCR / MCR bits.
const LCR_DLAB = 0x80;
const MCR_LOOP = 0x10;

// LSR bits.
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_BI = 0x10;
const LSR_ERRORS = 0x1e; // OE | PE | FE | BI: the receiver line status interrupt sources
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;

/** MSR value out of loopback: QEMU's default with no modem backend, DCD | DSR | CTS. */
const MSR_CONNECTED = 0xb0;

const FIFO_SIZE = 16;
/** FCR bits 7:6 → RX trigger level (datasheet Table 3). */
const TRIGGER_LEVELS = [1, 4, 8, 14];

export interface Uart16550Options {
  bus: { addMmio(r: MmioRegion): void };
  base: number;
  irq: IrqLine;
  /** Host sink for transmitted bytes. */
  tx: (byte: number) => void;
  name?: string;
  /** Region size (QEMU virt: 0x100; registers alias every 8 bytes). */
  size?: number;
}

export interface Uart16550State {
  ier: number;
  lcr: number;
  mcr: number;
  fcr: number;
  scr: number;
  divisor: number;
  msr: number;
  lsrErrors: number;
  thrPending: boolean;
  rxFifo: number[];
  input: number[];
  irqLevel: boolean;
  txBytes: number;
  rxBytes: number;
}

export class Uart16550 implements Device {
  readonly name: string;
  /** Bytes written to THR (including those looped back). */
  txBytes = 0;
  /** Bytes that entered the receiver (host input moved into the FIFO, or looped back). */
  rxBytes = 0;

  private readonly irq: IrqLine;
  private readonly tx: (byte: number) => void;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  /** Sticky FCR bits only (FE and trigger level); reset bits self-clear. */
  private fcr = 0;
  private scr = 0;
  private divisor = 0;
  private msr = MSR_CONNECTED;
  /** LSR error bits (OE/PE/FE/BI); DR, THRE and TEMT are computed on read. */
  private lsrErrors = 0;
  /** THRE interrupt pending (cleared by reading IIR while it is the reported id, or a THR write). */
  private thrPending = false;
  private rxFifo: number[] = [];
  /** Host-side input not yet in the FIFO; consumed from `inputHead`. */
  private input: number[] = [];
  private inputHead = 0;
  private irqLevel = false;

  constructor(opts: Uart16550Options) {
    this.name = opts.name ?? 'uart0';
    this.irq = opts.irq;
    this.tx = opts.tx;
    this.reset();
    opts.bus.addMmio({
      name: this.name,
      base: opts.base,
      size: opts.size ?? 0x100,
      // QEMU's serial-mm accepts wide accesses and uses only the byte register at the offset.
      valid: { min: 1, max: 4 },
      impl: { min: 1, max: 4 },
      read: (offset) => this.readReg(offset & 7),
      write: (offset, _size, value) => this.writeReg(offset & 7, value & 0xff),
    });
  }

  /** Power-on values from QEMU serial_reset(): 9600 8N1 divisor, OUT2 set, no interrupts. */
  reset(): void {
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0x08; // OUT2
    this.fcr = 0;
    this.scr = 0;
    this.divisor = 0x0c;
    this.msr = MSR_CONNECTED;
    this.lsrErrors = 0;
    this.thrPending = false;
    this.rxFifo.length = 0;
    // txBytes/rxBytes are machine statistics, not registers: they survive a reset.
    // Pending host input survives a guest reset: it was typed at the machine, not the UART.
    this.refill();
    this.update();
  }

  /** Queue host input (keyboard, pipe). Refills the RX FIFO as the guest drains it. */
  pushInput(bytes: Uint8Array | number[]): void {
    for (let i = 0; i < bytes.length; i++) this.input.push(bytes[i] & 0xff);
    this.refill();
    this.update();
  }

  /** Host bytes not yet handed to the guest (queue plus FIFO). */
  get pendingInput(): number {
    return this.input.length - this.inputHead + this.rxFifo.length;
  }

  // ---------------------------------------------------------------- registers

  private readReg(reg: number): number {
    switch (reg) {
      case RBR_THR_DLL: {
        if (this.lcr & LCR_DLAB) return this.divisor & 0xff;
        const v = this.rxFifo.length > 0 ? this.rxFifo.shift()! : 0;
        this.refill();
        this.update();
        return v;
      }
      case IER_DLM:
        return this.lcr & LCR_DLAB ? this.divisor >>> 8 : this.ier;
      case IIR_FCR: {
        const iir = this.iir();
        // Datasheet: reading IIR when it reports THRE clears that interrupt (QEMU serial.c).
        if (iir === IIR_THRE) {
          this.thrPending = false;
          this.update();
        }
        return iir | (this.fcr & FCR_FE ? IIR_FIFOS : 0);
      }
      case LCR:
        return this.lcr;
      case MCR:
        return this.mcr;
      case LSR: {
        const v = (this.rxFifo.length > 0 ? LSR_DR : 0) | this.lsrErrors | LSR_THRE | LSR_TEMT;
        // Datasheet: OE, PE, FE and BI are cleared when the CPU reads LSR.
        if (this.lsrErrors) {
          this.lsrErrors = 0;
          this.update();
        }
        return v;
      }
      case MSR: {
        const v = this.msr;
        // Delta bits 3:0 clear on read.
        if (v & 0x0f) {
          this.msr &= 0xf0;
          this.update();
        }
        return v;
      }
      default:
        return this.scr;
    }
  }

  private writeReg(reg: number, v: number): void {
    switch (reg) {
      case RBR_THR_DLL:
        if (this.lcr & LCR_DLAB) {
          this.divisor = (this.divisor & 0xff00) | v;
          return;
        }
        this.transmit(v);
        return;
      case IER_DLM: {
        if (this.lcr & LCR_DLAB) {
          this.divisor = (this.divisor & 0x00ff) | (v << 8);
          return;
        }
        const old = this.ier;
        this.ier = v & 0x0f;
        // Enabling ETBEI while THR is empty raises THRE at once, even if an IIR read had cleared
        // it (QEMU serial.c; Linux's 8250 autoconfig and Windows probe this). THR is always
        // empty here. Disabling ETBEI drops the pending flag.
        if ((old ^ this.ier) & IER_ETBEI) this.thrPending = (this.ier & IER_ETBEI) !== 0;
        this.update();
        return;
      }
      case IIR_FCR: {
        // Changing FCR.0 flushes both FIFOs (datasheet FCR bit 0).
        if ((v ^ this.fcr) & FCR_FE) v |= FCR_RFR | FCR_XFR;
        if (v & FCR_RFR) {
          this.rxFifo.length = 0;
          this.lsrErrors &= ~LSR_BI; // QEMU clears DR and BI with the RX FIFO
        }
        // The TX FIFO is always empty (immediate TX); resetting it re-arms THRE as in QEMU.
        if (v & FCR_XFR) this.thrPending = true;
        this.fcr = v & 0xc1;
        this.refill();
        this.update();
        return;
      }
      case LCR:
        this.lcr = v;
        return;
      case MCR: {
        const wasLoop = this.mcr & MCR_LOOP;
        this.mcr = v & 0x1f;
        this.updateModemInputs();
        // Leaving loopback reconnects the serial input.
        if (wasLoop && !(this.mcr & MCR_LOOP)) this.refill();
        this.update();
        return;
      }
      case LSR:
      case MSR:
        return; // read-only (QEMU ignores writes)
      default:
        this.scr = v;
    }
  }

  private transmit(byte: number): void {
    this.txBytes++;
    if (this.mcr & MCR_LOOP) {
      // Datasheet loopback: the transmitter output is looped to the receiver input.
      this.receive(byte);
    } else {
      this.tx(byte);
    }
    // The THR empties at once, so a new THRE interrupt is pending after each transmit.
    this.thrPending = true;
    this.update();
  }

  /** A character arrives at the receiver (loopback path; host input goes through refill()). */
  private receive(byte: number): void {
    this.rxBytes++;
    const cap = this.fcr & FCR_FE ? FIFO_SIZE : 1;
    if (this.rxFifo.length < cap) {
      this.rxFifo.push(byte);
    } else {
      // Overrun (datasheet LSR bit 1): in FIFO mode the new character is lost; without FIFOs it
      // overwrites the holding register.
      this.lsrErrors |= LSR_OE;
      if (cap === 1) this.rxFifo[0] = byte;
    }
  }

  /** Move host input into the FIFO while there is room (not in loopback: input is disconnected). */
  private refill(): void {
    if (this.mcr & MCR_LOOP) return;
    const cap = this.fcr & FCR_FE ? FIFO_SIZE : 1;
    while (this.rxFifo.length < cap && this.inputHead < this.input.length) {
      this.rxFifo.push(this.input[this.inputHead++]);
      this.rxBytes++;
    }
    if (this.inputHead === this.input.length) {
      this.input.length = 0;
      this.inputHead = 0;
    } else if (this.inputHead > 4096) {
      this.input.splice(0, this.inputHead);
      this.inputHead = 0;
    }
  }

  /**
   * Modem status inputs. In loopback (datasheet MCR bit 4) the outputs drive the inputs:
   * DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD; otherwise the lines read as connected (DCD|DSR|CTS).
   * Changes set the delta bits: DCTS(0), DDSR(1), TERI(2, RI 1→0 only), DDCD(3).
   */
  private updateModemInputs(): void {
    const m = this.mcr;
    const now =
      m & MCR_LOOP
        ? ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4)
        : MSR_CONNECTED;
    const old = this.msr & 0xf0;
    const changed = old ^ now;
    let delta = 0;
    if (changed & 0x10) delta |= 0x01;
    if (changed & 0x20) delta |= 0x02;
    if (old & 0x40 && !(now & 0x40)) delta |= 0x04;
    if (changed & 0x80) delta |= 0x08;
    this.msr = now | (this.msr & 0x0f) | delta;
  }

  // ---------------------------------------------------------------- interrupts

  /** Highest-priority pending, enabled interrupt id (datasheet Table 4, QEMU serial_update_irq). */
  private iir(): number {
    const ier = this.ier;
    if (ier & IER_ELSI && this.lsrErrors & LSR_ERRORS) return IIR_RLS;
    const n = this.rxFifo.length;
    if (ier & IER_ERBFI && n > 0) {
      if (!(this.fcr & FCR_FE)) return IIR_RDA;
      return n >= TRIGGER_LEVELS[this.fcr >>> 6] ? IIR_RDA : IIR_CTI;
    }
    if (ier & IER_ETBEI && this.thrPending) return IIR_THRE;
    if (ier & IER_EDSSI && this.msr & 0x0f) return IIR_MS;
    return IIR_NONE;
  }

  /** Drive the output line only when its level changes. */
  private update(): void {
    const level = this.iir() !== IIR_NONE;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  // ---------------------------------------------------------------- snapshots

  getState(): Uart16550State {
    return {
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      fcr: this.fcr,
      scr: this.scr,
      divisor: this.divisor,
      msr: this.msr,
      lsrErrors: this.lsrErrors,
      thrPending: this.thrPending,
      rxFifo: this.rxFifo.slice(),
      input: this.input.slice(this.inputHead),
      irqLevel: this.irqLevel,
      txBytes: this.txBytes,
      rxBytes: this.rxBytes,
    };
  }

  /** Restore, then re-drive the IRQ line once so the wire matches the restored level. */
  setState(state: unknown): void {
    const s = state as Uart16550State;
    this.ier = s.ier;
    this.lcr = s.lcr;
    this.mcr = s.mcr;
    this.fcr = s.fcr;
    this.scr = s.scr;
    this.divisor = s.divisor;
    this.msr = s.msr;
    this.lsrErrors = s.lsrErrors;
    this.thrPending = s.thrPending;
    this.rxFifo = s.rxFifo.slice();
    this.input = s.input.slice();
    this.inputHead = 0;
    this.txBytes = s.txBytes;
    this.rxBytes = s.rxBytes;
    this.irqLevel = s.irqLevel;
    this.irq.set(this.irqLevel);
  }
}
