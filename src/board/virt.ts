/**
 * The `virt` board: QEMU's riscv `virt` memory map with one RV64 hart, and the run loop around the
 * core (core.run() to the next event deadline, fire due events, repeat).
 *
 *   0x0010_0000  SiFive test finisher        exit / reset requests
 *   0x0200_0000  CLINT                       msip, mtimecmp, mtime   (hart 0: mip.MSIP, mip.MTIP)
 *   0x0300_0000  PCI PIO window (64 KiB)     port I/O; no ports yet
 *   0x0c00_0000  PLIC                        context 0 -> mip.MEIP, context 1 -> mip.SEIP
 *   0x1000_0000  ns16550a UART               PLIC source 10
 *   0x1000_1000  virtio-mmio slots 0..7      PLIC sources 1..8 (reserved: no devices yet)
 *   0x8000_0000  RAM                         --ram bytes, default 128 MiB (owned by the core)
 *   (ELF tohost/fromhost)  HTIF              watched RAM words routed to the bus
 *
 * Wiring (GUIDE §1, §7): the core sees only RAM and the bus (its MMIO import). Devices read time
 * from `core.cycles`, which the core stores before every MMIO access and when run() returns; they
 * schedule events on the EventScheduler, whose head deadline is pushed into the running core
 * (`core.deadline`, re-read at each block boundary). Interrupt lines end in `core.setMip`.
 *
 * Determinism: the guest sees the same thing however the host slices the run. The core stops at
 * the first block boundary at or after its deadline and resumes exactly there; a slice end only adds
 * a stop at a point where nothing can have changed (interrupt state changes only through MMIO,
 * which already ends a block, or through events, which fire only between runs, at the first
 * boundary at or after their due cycle in either case). So runSync, runAsync (which yields to the
 * event loop every ~20 ms) and --trace all produce the same output and counters, given the same
 * program, configuration and input.
 */
import { Core, RAM_BASE, RunStatus } from '../core.js';
import * as L from '../generated/layout.js';
import { Bus } from '../bus/registry.js';
import type { Clock, GuestMemory, HartIrqSink, MachineControl } from '../bus/types.js';
import { EventScheduler } from '../scheduler.js';
import { Clint } from '../../devices/clint.js';
import { Plic } from '../../devices/plic.js';
import { Uart16550 } from '../../devices/uart16550.js';
import { TestFinisher } from '../../devices/test-finisher.js';
import { Htif } from '../../devices/htif.js';
import { GoldfishRtc } from '../../devices/goldfish-rtc.js';
import { VirtioMmio } from '../../devices/virtio-mmio.js';
import { VirtioBlk, FileBlockBackend } from '../../devices/virtio-blk.js';
import { VirtioRng } from '../../devices/virtio-rng.js';
import { handleSbiCall, type SbiHost } from './sbi.js';
import { applyCpu, resolveCpu, type CpuFeatures, type CpuOptions } from './cpu.js';
import { applyTlbModel, readTlbStats, addTlbStats, type TlbStats } from '../tlbmodel.js';
import { checkSegmentsFit, loadFile, parseElf, PF_X, type ElfImage } from '../elf.js';
import { UserError, formatSize, hex } from '../errors.js';
import { defaultTiming, latencyArray, type TimingConfig } from '../timing.js';
import { disassemble } from '../isa/disasm.js';
import type { ExitReason, RunStats } from '../stats.js';

// ---------------------------------------------------------------------------------------------
// Memory map
// ---------------------------------------------------------------------------------------------

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
 * The virt memory map (QEMU hw/riscv/virt.c `virt_memmap[]`, the subset we model). The future
 * device-tree generator walks this table; the board below instantiates the 'present' entries from it.
 * RAM's size comes from --ram.
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
export const DEFAULT_RAM_BYTES = 128 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

export interface RunResult {
  reason: ExitReason;
  /** Process exit code: the guest's, 124 for --max-insns, 130 for an interrupt, 1 for an error. */
  code: number;
  /** One line for the user when the run ended for a reason the guest did not choose. */
  message?: string;
}

export const EXIT_MAX_INSNS = 124;
export const EXIT_INTERRUPTED = 130;
export const EXIT_GUEST_ERROR = 1;

export interface RunOptions {
  /** Stop when this many instructions have retired (absolute count since reset); exit code 124. */
  maxInsns?: number | null;
  /** Single-step and print the first N retired instructions (absolute count since reset). */
  trace?: number;
  /** Where trace lines go (without newline); default: discarded. */
  traceSink?: (line: string) => void;
}

export interface AsyncRunOptions extends RunOptions {
  /** Wall time between yields to the event loop, in ms (default 20). */
  yieldMs?: number;
  /**
   * Cycles per core.run() call. Default: adapted to the host speed (~5 ms each). A fixed value is
   * for tests that prove slicing does not change results.
   */
  sliceCycles?: number;
}

export interface VirtOptions {
  /** Guest RAM in bytes (multiple of 4 KiB, 1 MiB..2 GiB); default 128 MiB. */
  ramBytes?: number;
  timing?: TimingConfig;
  /** Guest console output (UART and HTIF). Default: kept in memory, see `output()`. */
  onOutput?: (chunk: Uint8Array) => void;
  /** A different core.wasm (e.g. the debug build). */
  wasmPath?: string;
  /** Harts (1..8). */
  harts?: number;
  /** 'fast': host TLB only; 'timing': also the modeled TLB (timing file `tlb` section). */
  mode?: 'fast' | 'timing';
  /** PTE A/D: hardware updates them (Svadu, default, as QEMU) or a clear bit page-faults (Svade). */
  adUpdate?: boolean;
  /** Raw disk images for virtio-blk (first = /dev/vda). */
  drives?: Array<{ path: string; readOnly: boolean }>;
  /** Guest-visible RTC start time in ns since the epoch (default: the devices' fixed default). */
  rtcEpochNs?: bigint;
  /** ISA choices (`--cpu`); absent keys take their defaults (src/board/cpu.ts). */
  cpu?: CpuOptions;
}

/** What the run loop does next after a piece of work. */
type Step = RunResult | 'continue' | 'wait-input' | 'yield';

const OUT_CHUNK = 64 * 1024;
/** Target host time per core.run() call in async mode (slices are sized from the measured speed). */
const SLICE_TARGET_MS = 5;
/** SMP round length in cycles: how long one hart runs before the next one gets the host. */
const SMP_QUANTUM = 10_000;

/** The run's end when --max-insns ran out. */
function maxInsnsResult(maxInsns: number): RunResult {
  return { reason: 'max-insns', code: EXIT_MAX_INSNS, message: `stopped after ${maxInsns} instructions (--max-insns)` };
}

/** Growable byte buffer for guest console output. */
class OutputBuffer {
  private buf = new Uint8Array(4096);
  private len = 0;
  push(b: number): void {
    if (this.len === this.buf.length) {
      const n = new Uint8Array(this.buf.length * 2);
      n.set(this.buf);
      this.buf = n;
    }
    this.buf[this.len++] = b;
  }
  get length(): number {
    return this.len;
  }
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------

export class VirtMachine {
  readonly core: Core;
  readonly bus: Bus;
  readonly scheduler: EventScheduler;
  readonly clint: Clint;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly finisher: TestFinisher;
  /** Present when the loaded ELF has a `tohost` symbol. */
  htif: Htif | null = null;
  readonly timing: TimingConfig;
  readonly ramBytes: number;
  /** The loaded program's name (path), for stats. */
  guestName = '';

  /** Set by the test finisher / HTIF (exit) or a reset request; ends the run. */
  private outcome: RunResult | null = null;
  /** Host stop request (Ctrl-C). */
  private interruptRequested = false;
  /** The guest is sleeping in WFI (the core returned Wfi and no enabled interrupt is pending yet). */
  private sleeping = false;
  /** The input source may still deliver bytes (a TTY or pipe that has not ended). */
  private inputOpen = false;
  /** Resolves the async run loop's wait for input (or an interrupt). */
  private wake: (() => void) | null = null;

  private readonly out = new OutputBuffer();
  /** Everything flushed, when no onOutput sink was given. */
  private collected: Uint8Array[] = [];
  private readonly onOutput: ((chunk: Uint8Array) => void) | null;
  /** Wall time spent inside runSync/runAsync, in ms, less the time spent waiting for input. */
  private hostMs = 0;
  /** Cycles per core.run() call in async mode; adapted to the measured speed. */
  private sliceCycles = 1 << 20;
  private fixedSlice = false;

  constructor(opts: VirtOptions = {}) {
    this.timing = opts.timing ?? defaultTiming();
    this.ramBytes = opts.ramBytes ?? DEFAULT_RAM_BYTES;
    this.onOutput = opts.onOutput ?? null;
    this.bus = new Bus();
    try {
      this.core = new Core({ ramBytes: this.ramBytes, mmio: this.bus, wasmPath: opts.wasmPath });
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('core: cannot allocate')) {
        throw new UserError(`cannot allocate ${formatSize(this.ramBytes)} of guest RAM (--ram)`);
      }
      throw e;
    }
    const core = this.core;
    core.setLatencies(latencyArray(this.timing));

    this.scheduler = new EventScheduler();
    // A newly scheduled head event may be due before the deadline the core is running to; the core
    // re-reads the deadline at its next block boundary (an MMIO access always ends a block).
    this.scheduler.onDeadlineChange = (d) => {
      if (d < core.deadline) core.deadline = d;
    };

    const nHarts = opts.harts ?? 1;
    if (!(Number.isInteger(nHarts) && nHarts >= 1 && nHarts <= 8)) {
      throw new UserError(`cannot run ${nHarts} harts: --smp takes 1 to 8`);
    }
    this.harts = nHarts;
    if (nHarts > 1) core.setHarts(nHarts);
    // --cpu: misa.H on every hart (when the core implements H); what the device tree reports.
    const canH = typeof (core.ex as unknown as { setHypervisor?: unknown }).setHypervisor === 'function';
    this.cpu = applyCpu(core, resolveCpu(opts.cpu ?? {}, canH));
    this.mode = opts.mode ?? 'fast';
    if (opts.adUpdate === false) {
      for (let h = nHarts - 1; h >= 0; h--) {
        core.switchHart(h);
        core.ex.configureMmu(0x700, 0);
      }
    }
    // Timing mode: every translated access also goes through the modeled TLB (timing file `tlb`).
    if (this.mode === 'timing') applyTlbModel(core, this.timing.tlb, true);
    this.started = Array.from({ length: nHarts }, (_, h) => h === 0);
    this.asleep = new Array<boolean>(nHarts).fill(false);
    const clock: Clock = { now: () => core.cycles, cpuHz: this.timing.cpuHz };
    // Interrupt lines land in the mip of their hart, running or not.
    const harts: HartIrqSink = {
      setPending: (hart, bit, level) => core.setMipOf(hart, bit, level),
    };
    const control: MachineControl = {
      exit: (code) => {
        this.outcome ??= { reason: 'exit', code };
        core.requestStop();
      },
      reset: () => {
        this.outcome ??= {
          reason: 'error',
          code: EXIT_GUEST_ERROR,
          message: 'the guest asked for a machine reset (test finisher 0x7777), which cyclevisor does not support yet',
        };
        core.requestStop();
      },
    };

    const M = VIRT_MAP;
    this.finisher = new TestFinisher({ bus: this.bus, base: M.test.base, control });
    this.clint = new Clint({
      bus: this.bus,
      base: M.clint.base,
      harts: nHarts,
      clock,
      scheduler: this.scheduler,
      irq: harts,
      timebaseHz: this.timing.timebaseHz,
    });
    const clint = this.clint;
    clint.onTimeChange = () => core.setTimebase(clint.cyclesPerTick, clint.offsetTicks());
    core.setTimebase(clint.cyclesPerTick, clint.offsetTicks());
    this.bus.addPioWindow(M.pciePio.base, M.pciePio.size);
    this.plic = new Plic({ bus: this.bus, base: M.plic.base, harts: nHarts, irq: harts, numSources: VIRT_PLIC_SOURCES });
    this.uart = new Uart16550({
      bus: this.bus,
      base: M.uart0.base,
      size: M.uart0.size,
      irq: this.plic.irqLine(M.uart0.irq),
      tx: (b) => this.putByte(b),
    });
    this.memory = {
      read: (pa, len) => core.readPhys(pa, len),
      write: (pa, data) => core.writePhys(pa, data),
    };
    this.rtc = new GoldfishRtc({
      bus: this.bus,
      base: M.rtc.base,
      irq: this.plic.irqLine(M.rtc.irq),
      clock,
      scheduler: this.scheduler,
      ...(opts.rtcEpochNs !== undefined ? { epochNs: opts.rtcEpochNs } : {}),
    });
    // virtio-mmio slots: Linux probes the device tree from the highest address down, so the first
    // drive goes in the top slot and becomes /dev/vda (as on QEMU); then virtio-rng.
    const devs: Array<VirtioBlk | VirtioRng> = [];
    for (const d of opts.drives ?? []) {
      const backend = new FileBlockBackend(d.path, { readOnly: d.readOnly });
      this.blockBackends.push(backend);
      devs.push(new VirtioBlk({ backend, scheduler: this.scheduler, clock }));
    }
    devs.push(new VirtioRng({}));
    for (let i = 0; i < (M.virtio.count ?? 8); i++) {
      const slot = (M.virtio.count ?? 8) - 1 - i;
      const dev = devs[i];
      this.virtio.push(
        new VirtioMmio({
          bus: this.bus,
          base: M.virtio.base + slot * M.virtio.size,
          irq: this.plic.irqLine(M.virtio.irq + slot),
          memory: this.memory,
          ...(dev ? { device: dev } : {}),
        }),
      );
    }
  }

  readonly memory: GuestMemory;
  readonly rtc: GoldfishRtc;
  /** Number of harts; with more than one they run round-robin in quanta of SMP_QUANTUM cycles. */
  readonly harts: number;
  readonly mode: 'fast' | 'timing';
  /** The ISA features the harts have (misa read back after --cpu was applied). */
  readonly cpu: CpuFeatures;
  /** Harts that are running (SBI HSM: secondary harts start stopped under --bios builtin). */
  readonly started: boolean[];
  /** Harts sleeping in WFI (SMP). */
  private readonly asleep: boolean[];
  /** Machine time at the last SMP round boundary. */
  private smpTime = 0;
  readonly virtio: VirtioMmio[] = [];
  readonly blockBackends: FileBlockBackend[] = [];
  /** Set by bootLinux() for --bios builtin. */
  sbi: SbiHost | null = null;

  /** Console output from firmware services (the builtin SBI's putchar). */
  consoleOut(b: number): void {
    this.putByte(b);
  }
  /** End the run with this result (used by the builtin SBI: shutdown, reboot). */
  requestExit(r: RunResult): void {
    this.outcome ??= r;
    this.core.requestStop();
  }

  /** Flush and close disk images (every acknowledged write reaches the file). */
  close(): void {
    for (const b of this.blockBackends) b.close();
  }

  // ------------------------------------------------------------------------------------------- loading

  /** Parse and load an ELF from bytes; returns the parsed image. */
  loadElf(bytes: Uint8Array, name: string): ElfImage {
    const img = parseElf(bytes, name);
    this.loadImage(img, bytes);
    return img;
  }

  /** Read, parse and load an ELF file (every problem is a one-line UserError). */
  loadElfFile(path: string): ElfImage {
    return this.loadElf(loadFile(path), path);
  }

  /**
   * Copy the PT_LOAD segments into RAM (zero-filling .bss), point pc at the entry, and create the
   * HTIF device when the program has a `tohost` symbol (riscv-tests / Spike convention).
   */
  loadImage(img: ElfImage, bytes: Uint8Array): void {
    if (this.guestName !== '') throw new Error('VirtMachine: a program is already loaded');
    checkSegmentsFit(img, BigInt(RAM_BASE), BigInt(this.ramBytes));
    const entry = img.entry;
    if (!(entry >= BigInt(RAM_BASE) && entry < BigInt(RAM_BASE) + BigInt(this.ramBytes))) {
      throw new UserError(
        `${img.name}: entry point ${hex(entry)} is outside RAM ${hex(RAM_BASE)}-${hex(RAM_BASE + this.ramBytes - 1)} (${formatSize(this.ramBytes)})`,
      );
    }
    if (!img.segments.some((s) => s.flags & PF_X && entry >= s.paddr && entry < s.paddr + BigInt(s.memsz))) {
      // Not fatal (a loader may jump to RAM that a data segment fills), but unusual enough to check
      // that the entry at least lies in some segment.
      if (!img.segments.some((s) => entry >= s.paddr && entry < s.paddr + BigInt(s.memsz))) {
        throw new UserError(`${img.name}: entry point ${hex(entry)} is not inside any loadable segment`);
      }
    }
    for (const s of img.segments) {
      const pa = Number(s.paddr);
      if (s.filesz > 0) this.core.writePhys(pa, bytes.subarray(s.offset, s.offset + s.filesz));
      if (s.memsz > s.filesz) this.core.zeroPhys(pa + s.filesz, s.memsz - s.filesz);
    }
    this.core.pc = entry;
    this.guestName = img.name;

    const tohost = img.symbols.get('tohost');
    if (tohost !== undefined) this.attachHtif(img, tohost, img.symbols.get('fromhost'));
  }

  private attachHtif(img: ElfImage, tohost: bigint, fromhost: bigint | undefined): void {
    const inRam = (a: bigint) => a % 8n === 0n && this.core.inRam(Number(a), 8);
    if (!inRam(tohost)) throw new UserError(`${img.name}: the tohost symbol (${hex(tohost)}) is not an 8-byte aligned word in RAM`);
    if (fromhost !== undefined && !inRam(fromhost)) {
      throw new UserError(`${img.name}: the fromhost symbol (${hex(fromhost)}) is not an 8-byte aligned word in RAM`);
    }
    const memory: GuestMemory = {
      read: (pa, len) => this.core.readPhys(pa, len),
      write: (pa, data) => this.core.writePhys(pa, data),
    };
    this.htif = new Htif({
      bus: this.bus,
      tohost: Number(tohost),
      fromhost: fromhost === undefined ? undefined : Number(fromhost),
      memory,
      control: {
        exit: (code) => {
          this.outcome ??= { reason: 'exit', code };
          this.core.requestStop();
        },
        reset: () => {},
      },
      console: (b) => this.putByte(b),
      scheduler: this.scheduler,
      clock: { now: () => this.core.cycles, cpuHz: this.timing.cpuHz },
    });
    // The words stay in RAM (the ELF's initial values are loaded there) but the core sends every
    // access to them to the bus, where the HTIF device answers.
    this.core.addWatch(Number(tohost), Number(tohost) + 8);
    if (fromhost !== undefined) this.core.addWatch(Number(fromhost), Number(fromhost) + 8);
  }

  // ------------------------------------------------------------------------------------------- console

  private putByte(b: number): void {
    this.out.push(b);
    if (this.out.length >= OUT_CHUNK) this.flushOutput();
  }

  /** Hand buffered console output to the sink (called at every return and yield of the run loop). */
  flushOutput(): void {
    if (this.out.length === 0) return;
    const chunk = this.out.take();
    if (this.onOutput) this.onOutput(chunk);
    else this.collected.push(chunk);
  }

  /** Console output so far (when no onOutput sink was given). */
  output(): Uint8Array {
    this.flushOutput();
    const n = this.collected.reduce((a, c) => a + c.length, 0);
    const all = new Uint8Array(n);
    let o = 0;
    for (const c of this.collected) {
      all.set(c, o);
      o += c.length;
    }
    return all;
  }

  outputText(): string {
    return new TextDecoder().decode(this.output());
  }

  // ------------------------------------------------------------------------------------------- input

  /** Declare that host input may still arrive (a TTY or a pipe): WFI then waits instead of failing. */
  openInput(): void {
    this.inputOpen = true;
  }

  /** Host input for the guest console (UART receive queue; also HTIF getchar when present). */
  pushInput(bytes: Uint8Array | number[]): void {
    if (bytes.length === 0) return;
    this.uart.pushInput(bytes);
    this.htif?.pushInput(bytes);
    this.wakeUp();
  }

  /** No more host input will come. */
  endInput(): void {
    this.inputOpen = false;
    this.wakeUp();
  }

  /** Ask a running runAsync to stop at its next yield point (Ctrl-C): the result is exit code 130. */
  interrupt(): void {
    this.interruptRequested = true;
    this.wakeUp();
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  // ------------------------------------------------------------------------------------------- running

  /** Run to completion without yielding (tests, benchmarks). Cannot wait for input. */
  runSync(opts: RunOptions = {}): RunResult {
    const t0 = performance.now();
    try {
      for (;;) {
        const r = this.advance(opts, Infinity);
        if (r === 'wait-input') {
          return {
            reason: 'error',
            code: EXIT_GUEST_ERROR,
            message: 'guest is waiting in WFI for input, which runSync cannot wait for',
          };
        }
        if (r !== 'yield') return r;
      }
    } finally {
      this.hostMs += performance.now() - t0;
      this.flushOutput();
    }
  }

  /**
   * Run to completion, yielding to the Node event loop every `yieldMs` of wall time (stdin data,
   * signals) and waiting (without spinning) while the guest sleeps in WFI for input.
   */
  async runAsync(opts: AsyncRunOptions = {}): Promise<RunResult> {
    const yieldMs = opts.yieldMs ?? 20;
    if (opts.sliceCycles !== undefined) {
      if (!(Number.isSafeInteger(opts.sliceCycles) && opts.sliceCycles > 0)) throw new Error('sliceCycles must be a positive integer');
      this.sliceCycles = opts.sliceCycles;
      this.fixedSlice = true;
    }
    const t0 = performance.now();
    try {
      for (;;) {
        const r = this.advance(opts, yieldMs);
        this.flushOutput();
        if (r === 'yield') {
          await new Promise<void>((resolve) => setImmediate(resolve));
        } else if (r === 'wait-input') {
          // Sleeping for input is not simulation work: keep it out of the host time (and MIPS).
          const w0 = performance.now();
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          this.hostMs -= performance.now() - w0;
        } else {
          return r;
        }
      }
    } finally {
      this.hostMs += performance.now() - t0;
      this.flushOutput();
    }
  }

  /**
   * Run until the result is known, the guest waits for input, or `budgetMs` of wall time passed
   * (then 'yield'; the next call continues exactly where this one stopped).
   */
  private advance(opts: RunOptions, budgetMs: number): RunResult | 'wait-input' | 'yield' {
    const t0 = performance.now();
    const maxInsns = opts.maxInsns ?? Infinity;
    const traceEnd = Math.min(opts.trace ?? 0, maxInsns);
    for (;;) {
      if (this.interruptRequested) {
        return { reason: 'interrupted', code: EXIT_INTERRUPTED };
      }
      let r: Step;
      if (this.outcome) r = this.outcome;
      else if (this.sleeping) r = this.idle();
      else if (this.core.instret < traceEnd) r = this.traceStep(maxInsns, opts.traceSink);
      else if (this.harts > 1) r = this.stepSmp(maxInsns);
      else r = this.step(maxInsns, budgetMs === Infinity ? Infinity : this.core.cycles + this.sliceCycles);
      if (r !== 'continue') return r;
      if (budgetMs !== Infinity && performance.now() - t0 >= budgetMs) return 'yield';
    }
  }

  /** One core.run() to min(next event, slice end), then the due events. */
  private step(maxInsns: number, sliceEnd: number): Step {
    const core = this.core;
    const c0 = core.cycles;
    const t0 = sliceEnd === Infinity ? 0 : performance.now();
    core.deadline = Math.min(this.scheduler.nextDeadline(), sliceEnd);
    core.insnLimit = maxInsns;
    const status = core.run();
    this.scheduler.runDue(core.cycles);
    if (sliceEnd !== Infinity) this.adaptSlice(core.cycles - c0, performance.now() - t0);
    return this.afterRun(status, maxInsns);
  }

  /** Instructions retired by all harts. */
  totalInstret(): number {
    return this.sumHarts(L.H_INSTRET);
  }
  /** Modeled-TLB counters summed over the harts (timing mode). */
  tlbStats(): TlbStats {
    const view = new DataView(this.core.ex.memory.buffer);
    this.core.ex.saveHart();
    let total: TlbStats | null = null;
    for (let h = 0; h < this.harts; h++) {
      const s = h === this.core.activeHart ? readTlbStats(view) : readTlbStats(view, L.TM_SAVE_BASE + h * L.TM_SAVE_SIZE);
      total = total ? addTlbStats(total, s) : s;
    }
    return total!;
  }
  /** A per-hart counter (layout H_* offset) summed over the harts. */
  sumHarts(field: number): number {
    let n = 0;
    for (let h = 0; h < this.harts; h++) n += this.core.hartNum(h, field);
    return n;
  }

  /**
   * SMP: one round. Every started hart runs until the round boundary — the next event, the next
   * Sstc deadline of a sleeping hart, or SMP_QUANTUM cycles on — in hart order, then the due events
   * fire. Deterministic: the interleaving depends only on cycles. A hart in WFI sleeps through
   * rounds (its cycle count follows machine time) until an enabled interrupt is pending for it.
   */
  private stepSmp(maxInsns: number): Step {
    const core = this.core;
    let boundary = Math.min(this.scheduler.nextDeadline(), this.smpTime + SMP_QUANTUM);
    let anyAwake = false;
    for (let h = 0; h < this.harts; h++) {
      if (!this.started[h]) continue;
      if (this.asleep[h] && core.wakeBits(h) !== 0) this.asleep[h] = false;
      if (this.asleep[h]) {
        // A sleeping hart's Sstc deadline ends the round, if it is still ahead (a passed one
        // has already set STIP, which wakes the hart only if enabled).
        for (const stc of [core.sstcDeadlineOf(h), core.vstimecmpDeadlineOf(h)]) {
          if (stc > this.smpTime) boundary = Math.min(boundary, stc);
        }
      } else anyAwake = true;
    }
    if (!anyAwake) {
      // Every running hart sleeps: jump to the next event or Sstc deadline.
      if (boundary === Infinity) {
        if (this.inputOpen) return 'wait-input';
        return { reason: 'error', code: EXIT_GUEST_ERROR, message: 'all harts are waiting in WFI with nothing left to wake them' };
      }
    }
    for (let h = 0; h < this.harts; h++) {
      if (!this.started[h]) continue;
      // Sleeping harts (and harts already at the boundary) are updated in place, not switched in.
      const hc = core.hartNum(h, L.H_CYCLES);
      if (this.asleep[h] || hc >= boundary) {
        if (hc < boundary) core.setHartNum(h, L.H_CYCLES, boundary);
        if (Math.max(hc, boundary) >= core.sstcDeadlineOf(h)) core.setMipOf(h, 5, true);
        if (Math.max(hc, boundary) >= core.vstimecmpDeadlineOf(h)) core.setMipOf(h, 6, true); // VSTIP
        continue;
      }
      core.switchHart(h);
      for (;;) {
        const left = maxInsns - this.totalInstret();
        if (left <= 0) return maxInsnsResult(maxInsns);
        core.deadline = boundary;
        core.insnLimit = core.instret + left;
        const status = core.run();
        if (this.outcome) return this.outcome;
        if (status === RunStatus.Sbi) {
          if (!this.sbi) throw new Error('core returned an SBI call but no host SBI is installed');
          handleSbiCall(this.sbi, h);
          core.pc = core.pc + 4n;
          if (this.outcome) return this.outcome;
          if (!this.started[h]) break; // hart_stop
          continue;
        }
        if (status === RunStatus.Wfi) {
          if (core.wakeBits(h) === 0) {
            this.asleep[h] = true;
            if (core.cycles < boundary) core.cycles = boundary;
            break;
          }
          continue;
        }
        if (status === RunStatus.InsnLimit) {
          return maxInsnsResult(maxInsns);
        }
        break; // deadline (or a stop request with no outcome)
      }
    }
    this.smpTime = boundary;
    this.scheduler.runDue(boundary);
    return this.outcome ?? 'continue';
  }

  private afterRun(status: RunStatus, maxInsns: number): Step {
    if (this.outcome) return this.outcome;
    switch (status) {
      case RunStatus.Deadline:
        return 'continue';
      case RunStatus.InsnLimit:
        if (this.core.instret >= maxInsns) return maxInsnsResult(maxInsns);
        return 'continue'; // a trace step
      case RunStatus.Wfi:
        this.sleeping = true;
        return this.idle();
      case RunStatus.Stop:
        // Only exit()/reset() request a stop, and they set the outcome first.
        return 'continue';
      case RunStatus.Sbi:
        if (!this.sbi) throw new Error('core returned an SBI call but no host SBI is installed');
        handleSbiCall(this.sbi, 0);
        this.core.pc = this.core.pc + 4n;
        return this.outcome ?? 'continue';
      default:
        throw new Error(`core.run() returned status ${status as number}, which the virt board does not handle`);
    }
  }

  /**
   * The hart sleeps in WFI (Priv 1.12 §3.3.3) until an interrupt is pending and enabled in mie
   * (whatever mstatus.MIE says). Time jumps to the next event instead of being spun through.
   */
  private idle(): Step {
    const core = this.core;
    for (;;) {
      if ((core.mip & core.mie) !== 0) {
        this.sleeping = false;
        return 'continue';
      }
      // The core's own Sstc timers are events too, while they are ahead of us: stimecmp raises
      // STIP (5), vstimecmp (H extension) VSTIP (6). Each counts only while ahead: a passed one
      // has set its bit already (and a stale VS deadline must not hide the HS one).
      const sstc = core.sstcDeadline;
      const vstc = core.vstimecmpDeadline;
      if (core.cycles >= sstc) core.setMip(5, true);
      if (core.cycles >= vstc) core.setMip(6, true);
      const next = Math.min(this.scheduler.nextDeadline(), sstc > core.cycles ? sstc : Infinity, vstc > core.cycles ? vstc : Infinity);
      if (next !== Infinity) {
        if (next > core.cycles) core.cycles = next;
        if (core.cycles >= sstc) core.setMip(5, true);
        if (core.cycles >= vstc) core.setMip(6, true);
        this.scheduler.runDue(core.cycles);
        if (this.outcome) return this.outcome;
        // Still asleep unless that woke it; back to the caller between events, so a run of
        // events that never wakes the hart still yields to the event loop (and to Ctrl-C).
        if ((core.mip & core.mie) === 0) return 'continue';
        continue;
      }
      if (this.inputOpen) return 'wait-input';
      this.sleeping = false;
      return {
        reason: 'error',
        code: EXIT_GUEST_ERROR,
        message: `guest is waiting in WFI with nothing left to wake it (pc ${hex(core.pc)}, mie ${hex(core.mie)})`,
      };
    }
  }

  /** Keep one core.run() near SLICE_TARGET_MS of host time (does not affect guest-visible results). */
  private adaptSlice(cycles: number, ms: number): void {
    if (this.fixedSlice) return;
    if (cycles <= 0 || ms <= 0.05) {
      if (ms <= 0.05 && cycles >= this.sliceCycles) this.sliceCycles = Math.min(this.sliceCycles * 2, 1 << 30);
      return;
    }
    const want = (cycles / ms) * SLICE_TARGET_MS;
    this.sliceCycles = Math.max(1 << 12, Math.min(1 << 30, Math.round((this.sliceCycles + want) / 2)));
  }

  // ------------------------------------------------------------------------------------------- trace

  /** Execute exactly one instruction (plus any trap entry before it) and print it. */
  private traceStep(maxInsns: number, sink: ((line: string) => void) | undefined): Step {
    const core = this.core;
    const pc0 = core.pc;
    const i0 = core.instret;
    const exc0 = core.exceptions;
    const int0 = core.interrupts;
    core.deadline = this.scheduler.nextDeadline();
    core.insnLimit = Math.min(i0 + 1, maxInsns);
    const status = core.run();
    this.scheduler.runDue(core.cycles);
    if (sink) {
      const exc = core.exceptions - exc0;
      const intr = core.interrupts - int0;
      let retiredPc = pc0;
      if (exc + intr > 0) {
        // The instruction at pc0 faulted, or an interrupt was taken before it: say so, and the
        // instruction that retired (if any) is the first one of the handler.
        const cause = core.get64(L.H_MCAUSE);
        const isIrq = cause >> 63n === 1n;
        const code = cause & ((1n << 63n) - 1n);
        if (!isIrq) sink(traceLine('-', pc0, this.fetchForTrace(pc0)));
        sink(`${''.padStart(10)}  trap: ${isIrq ? 'interrupt' : 'exception'} ${code}, mepc ${hex(core.get64(L.H_MEPC))}, mtval ${hex(core.get64(L.H_MTVAL))}`);
        const mtvec = core.get64(L.H_MTVEC);
        retiredPc = (mtvec & ~3n) + ((mtvec & 3n) === 1n && isIrq ? 4n * code : 0n);
      }
      if (core.instret > i0) sink(traceLine(String(i0), retiredPc, this.fetchForTrace(retiredPc)));
    }
    return this.afterRun(status, maxInsns);
  }

  /** The instruction word at pc (identity translation: M-mode only today), or null outside RAM. */
  private fetchForTrace(pc: bigint): number | null {
    const pa = Number(pc);
    if (!this.core.inRam(pa, 2)) return null;
    const lo = this.core.readPhys(pa, 2);
    const half = lo[0]! | (lo[1]! << 8);
    if ((half & 3) !== 3) return half;
    if (!this.core.inRam(pa, 4)) return null;
    const hi = this.core.readPhys(pa + 2, 2);
    return (half | (hi[0]! << 16) | (hi[1]! << 24)) >>> 0;
  }

  // ------------------------------------------------------------------------------------------- stats

  /** The end-of-run summary for `result`. */
  stats(result: RunResult): RunStats {
    const core = this.core;
    const bus = this.bus.stats();
    const io = (name: string): Record<string, number> => {
      const r = bus.regions[name];
      return r ? { mmioReads: r.reads, mmioWrites: r.writes } : {};
    };
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    const devices: Record<string, Record<string, number>> = {
      [this.uart.name]: { ...io(this.uart.name), txBytes: this.uart.txBytes, rxBytes: this.uart.rxBytes },
      [this.clint.name]: { ...io(this.clint.name), timerInterrupts: this.clint.timerInterrupts, msipWrites: this.clint.msipWrites },
      [this.plic.name]: { ...io(this.plic.name), claims: sum(this.plic.claims), completes: sum(this.plic.completes) },
      [this.finisher.name]: {
        ...io(this.finisher.name),
        passes: this.finisher.passes,
        fails: this.finisher.fails,
        resets: this.finisher.resets,
        ignored: this.finisher.ignored,
      },
      pio: io('pio'),
    };
    if (this.htif) {
      const h = this.htif;
      const t = io(`${h.name}.tohost`);
      const f = io(`${h.name}.fromhost`);
      devices[h.name] = {
        mmioReads: (t.mmioReads ?? 0) + (f.mmioReads ?? 0),
        mmioWrites: (t.mmioWrites ?? 0) + (f.mmioWrites ?? 0),
        ...h.commands,
      };
    }
    return {
      guest: this.guestName,
      exit: { reason: result.reason, code: result.code },
      instret: this.totalInstret(),
      cycles: core.cycles,
      hostSeconds: this.hostMs / 1000,
      classCounts: core.classCounts(),
      traps: { exceptions: this.sumHarts(L.H_EXCEPTIONS), interrupts: this.sumHarts(L.H_INTERRUPTS) },
      ...(this.mode === 'timing' ? { tlb: this.tlbStats() } : {}),
      devices,
      bus: { unmappedReads: bus.unmappedReads, unmappedWrites: bus.unmappedWrites },
      scheduler: { fired: this.scheduler.stats().fired },
      cpuHz: this.timing.cpuHz,
    };
  }
}

/** `     <instret>  <pc>  <insn>  <disassembly>` (insn null = not in RAM). */
function traceLine(instret: string, pc: bigint, insn: number | null): string {
  const pcText = pc.toString(16).padStart(8, '0');
  if (insn === null) return `${instret.padStart(10)}  ${pcText}  ${'????????'}  (not in RAM)`;
  const width = (insn & 3) === 3 ? 8 : 4;
  const insnText = insn.toString(16).padStart(width, '0').padEnd(8);
  return `${instret.padStart(10)}  ${pcText}  ${insnText}  ${disassemble(insn, pc)}`;
}
