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
 * program, configuration and input. Idle pacing (runAsync pace) only delays when the next slice
 * runs while every hart waits; it reads the wall clock but never changes what the guest computes.
 */
import { Core, RAM_BASE, RunStatus } from '../core.js';
import type { JitOptions, Tier } from '../jit/jit.js';
import * as L from '../generated/layout.js';
import { Bus } from '../bus/registry.js';
import type { Clock, GuestMemory, HartIrqSink, MachineControl } from '../bus/types.js';
import { EventScheduler } from '../scheduler.js';
import { VirtPlatform } from './platform.js';
import { Clint } from '../../devices/clint.js';
import { Plic } from '../../devices/plic.js';
import { Uart16550 } from '../../devices/uart16550.js';
import { TestFinisher } from '../../devices/test-finisher.js';
import { Htif } from '../../devices/htif.js';
import { GoldfishRtc } from '../../devices/goldfish-rtc.js';
import { VirtioMmio } from '../../devices/virtio-mmio.js';
import type { FileBlockBackend } from '../../devices/virtio-blk.js';
import type { VirtioNet } from '../../devices/virtio-net.js';
import type { HostPolled } from '../net/link.js';
import type { NicSpec } from './platform.js';
import { handleSbiCall, type SbiHost } from './sbi.js';
import type { BuiltinFirmware } from './firmware.js';
import { applyCpu, resolveCpu, type CpuFeatures, type CpuOptions } from './cpu.js';
import { applyTlbModel, readTlbStats, addTlbStats, type TlbStats } from '../tlbmodel.js';
import { checkSegmentsFit, loadFile, parseElf, PF_X, type ElfImage } from '../elf.js';
import { UserError, formatSize, hex } from '../errors.js';
import { defaultTiming, latencyArray, type TimingConfig } from '../timing.js';
import { disassemble } from '../isa/disasm.js';
import type { ExitReason, HartStats, RunStats } from '../stats.js';
import { lookup } from '../isa/table.js';
import { ABI_NAMES, FP_ABI_NAMES } from '../isa/disasm.js';
import { host } from '../host/host.js';

// ---------------------------------------------------------------------------------------------
// Memory map
// ---------------------------------------------------------------------------------------------

export { VIRT_MAP, VIRT_PLIC_SOURCES, type MapEntry } from './platform.js';
export const DEFAULT_RAM_BYTES = 128 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

export interface RunResult {
  reason: ExitReason;
  /**
   * Process exit code: the guest's, 124 for --max-insns or --max-cycles, 130 for an interrupt,
   * 3 for a stuck hart, 1 for an error.
   */
  code: number;
  /** One line for the user when the run ended for a reason the guest did not choose. */
  message?: string;
}

export const EXIT_MAX_INSNS = 124;
/** --max-cycles ran out: the same code as --max-insns. */
export const EXIT_MAX_CYCLES = 124;
export const EXIT_INTERRUPTED = 130;
export const EXIT_GUEST_ERROR = 1;
/** A hart took the stuck threshold's traps in a row without retiring an instruction. */
export const EXIT_STUCK = 3;

export interface RunOptions {
  /** Stop when this many instructions have retired (absolute count since reset); exit code 124. */
  maxInsns?: number | null;
  /**
   * Stop when machine time reaches this many cycles (absolute, since reset); exit code 124. With
   * one hart the run stops at the first instruction boundary at or after that cycle; with more, at
   * the end of the round that reaches it.
   */
  maxCycles?: number | null;
  /** Single-step and print the first N retired instructions (absolute count since reset). */
  trace?: number;
  /** Where trace lines go (without newline); default: discarded. */
  traceSink?: (line: string) => void;
  /**
   * With a trace: append to each retired instruction's line the privilege mode it ran in and the
   * registers it wrote (`--trace-regs`).
   */
  traceRegs?: boolean;
}

export interface AsyncRunOptions extends RunOptions {
  /** Wall time between yields to the event loop, in ms (default 20). */
  yieldMs?: number;
  /**
   * Cycles per core.run() call. Default: adapted to the host speed (~5 ms each). A fixed value is
   * for tests that prove slicing does not change results.
   */
  sliceCycles?: number;
  /**
   * Pace an idle guest against the wall clock (QEMU `-icount sleep=on`): when every hart waits in
   * WFI, sleep (a timer, not a spin) until the wall clock reaches the next event's virtual time,
   * so virtual time never runs ahead of real time while idle. Guest-visible results of a
   * deterministic run do not change. Default off (see paceByDefault for the CLI's default).
   */
  pace?: boolean;
}

export interface VirtOptions {
  /** Execution tier (issue 14, docs/JIT.md); default: the process default (core.ts defaultTier). */
  tier?: Tier;
  /** The JIT's options with tier jit (threshold, capacity, async compile: docs/JIT.md). */
  jit?: JitOptions;
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
  /** Disk images; `format: 'raw'` skips the format probe (QEMU's format=raw). */
  drives?: Array<{ path: string; readOnly: boolean; format?: 'raw' | 'qcow2' }>;
  /** Guest-visible RTC start time in ns since the epoch (default: the devices' fixed default). */
  rtcEpochNs?: bigint;
  /** virtio-net NICs and their networks (eth0 first). */
  nics?: NicSpec[];
  /**
   * Traps a hart may take in a row without retiring an instruction before the run ends as stuck
   * (exit code 3). Default 1000; 0 = never.
   */
  stuckTraps?: number;
  /** ISA choices (`--cpu`); absent keys take their defaults (src/board/cpu.ts). */
  cpu?: CpuOptions;
}

/** Idle pacing: every hart waits; sleep until this wall time (performance.now() ms). */
interface PaceWait {
  paceUntil: number;
}
/** What the run loop does next after a piece of work. */
type Step = RunResult | PaceWait | 'continue' | 'wait-input' | 'yield' | 'paused';

/**
 * The host debugger's hand in the run loop (src/debug/: the gdb stub, hooks). The core returns
 * RunStatus.Debug between two instructions (assembly/debug.ts); the board then fires no events
 * (the stop is not a deadline) and asks the agent whether to go on at once or pause the run.
 */
export interface DebugAgent {
  /** The core stopped (RunStatus.Debug) on hart `hart`: go on at once, or pause the run. */
  onStop(hart: number): 'resume' | 'pause';
  /** Polled between core.run() calls: pause now (gdb's Ctrl-C). */
  pauseRequested?(): boolean;
  /**
   * runAsync waits for this after a pause, then goes on (the gdb stub resolves it on c / s). Without
   * it runAsync, like runSync, returns `{ reason: 'paused' }`; running again continues exactly.
   */
  waitResume?(): Promise<void>;
  /** The run ended (not a pause): the machine-exit hook. */
  onExit?(r: RunResult): void;
}
/** Result of a run paused by the debugger or a hook; run again to go on. */
export const PAUSED: RunResult = { reason: 'paused', code: 0 };

function isPaceWait(r: unknown): r is PaceWait {
  return typeof r === 'object' && r !== null && 'paceUntil' in r;
}

const OUT_CHUNK = 64 * 1024;
/** Target host time per core.run() call in async mode (slices are sized from the measured speed). */
const SLICE_TARGET_MS = 5;
/** SMP round length in cycles: how long one hart runs before the next one gets the host. */
const SMP_QUANTUM = 10_000;
/**
 * --max-cycles: the last this-many cycles run one instruction per core.run(), so the run stops at
 * the first instruction boundary at or after the limit (as --max-insns stops exactly).
 */
const MAX_CYCLES_FINE = 4096;
/** Idle pacing: shorter waits than this are not worth a timer (virtual time jumps instead). */
const PACE_MIN_MS = 1;
/**
 * Idle pacing: the host loop came back this much later than planned (a stopped debugger, a
 * suspended process, a swamped host): a pause. The virtual/wall anchor is reset after it, so the
 * guest neither catches up the lost wall time nor sees its clock jump.
 */
const PACE_PAUSE_MS = 250;
/**
 * Idle pacing: virtual time may fall behind the wall clock while the guest computes (the model
 * runs slower than the CPU it models). Idle time makes up a lag up to this long, so the guest's
 * clock keeps pace over time; a longer lag is dropped instead of fast-forwarded through.
 */
const PACE_MAX_LAG_MS = 1000;

/** The run's end when --max-insns ran out. */
function maxInsnsResult(maxInsns: number): RunResult {
  return { reason: 'max-insns', code: EXIT_MAX_INSNS, message: `stopped after ${maxInsns} instructions (--max-insns)` };
}

/** The run's end when --max-cycles ran out. */
function maxCyclesResult(maxCycles: number): RunResult {
  return { reason: 'max-cycles', code: EXIT_MAX_CYCLES, message: `stopped after ${maxCycles} cycles (--max-cycles)` };
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
  /** --max-cycles of the current run (Infinity = none). */
  private maxCycles = Infinity;
  /**
   * Idle pacing (runAsync pace): the anchor pairing a wall time (performance.now() ms) with a
   * machine time in cycles; null when not pacing. Virtual time `c` is due at wall
   * `wall + (c - cycles) / cpuHz`. Reset after any pause.
   */
  private paceAnchor: { wall: number; cycles: number } | null = null;
  /** Wall time at which host input ended a paced sleep early (null: none pending). */
  private pacedWakeWall: number | null = null;
  /**
   * Host sockets attached to guest devices (networking, later). Each one makes pacing the
   * default (paceByDefault): a peer on the network expects the guest's clock to follow its own.
   */
  private hostSockets = 0;

  constructor(opts: VirtOptions = {}) {
    this.timing = opts.timing ?? defaultTiming();
    this.ramBytes = opts.ramBytes ?? DEFAULT_RAM_BYTES;
    this.onOutput = opts.onOutput ?? null;
    this.bus = new Bus();
    try {
      this.core = new Core({ ramBytes: this.ramBytes, mmio: this.bus, wasmPath: opts.wasmPath, tier: opts.tier, jit: opts.jit });
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
    if (opts.stuckTraps !== undefined) core.stuckLimit = opts.stuckTraps;
    // --cpu: misa.H on every hart (when the core implements H); what the device tree reports.
    const canH = typeof (core.ex as unknown as { setHypervisor?: unknown }).setHypervisor === 'function';
    this.cpu = applyCpu(core, resolveCpu(opts.cpu ?? {}, canH));
    this.mode = opts.mode ?? 'fast';
    // Svade (the rva22s64 profile): A/D bits fault unless the caller chose explicitly.
    if (opts.adUpdate === false || (opts.adUpdate === undefined && this.cpu.svade === true)) {
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

    this.memory = {
      read: (pa, len) => core.readPhys(pa, len),
      write: (pa, data) => core.writePhys(pa, data),
    };
    // The virt platform (src/board/platform.ts): the same devices a VM gets, here behind the core's
    // MMIO import, on the core's clock, with interrupt lines into mip.
    this.platform = new VirtPlatform({
      kind: 'bare',
      harts: nHarts,
      bus: this.bus,
      clock,
      scheduler: this.scheduler,
      irq: harts,
      memory: this.memory,
      control,
      timebaseHz: this.timing.timebaseHz,
      tx: (b) => this.putByte(b),
      ...(opts.drives ? { drives: opts.drives } : {}),
      ...(opts.rtcEpochNs !== undefined ? { rtcEpochNs: opts.rtcEpochNs } : {}),
      ...(opts.nics ? { nics: opts.nics } : {}),
    });
    const p = this.platform;
    this.finisher = p.finisher;
    this.clint = p.clint!;
    const clint = this.clint;
    clint.onTimeChange = () => core.setTimebase(clint.cyclesPerTick, clint.offsetTicks());
    core.setTimebase(clint.cyclesPerTick, clint.offsetTicks());
    this.plic = p.plic;
    this.uart = p.uart;
    this.rtc = p.rtc;
    this.virtio = p.virtio;
    this.blockBackends = p.blockBackends;
    this.nics = p.nics;
  }

  /** The virt platform: map, devices, registry, IRQ wiring (shared with the VMs of src/hypervisor/). */
  readonly platform: VirtPlatform;
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
  readonly virtio: VirtioMmio[];
  readonly blockBackends: FileBlockBackend[];
  /** virtio-net NICs (eth0, eth1, ...). */
  readonly nics: VirtioNet[];
  /** Host-side network backends polled at slice boundaries (attachHostSocket). */
  private readonly hostPolled: HostPolled[] = [];
  /** Set by bootLinux() for --bios builtin. */
  sbi: SbiHost | null = null;
  /** Set by bootLinux() for --bios builtin: handles traps into M-mode (the core's host M-mode). */
  firmware: BuiltinFirmware | null = null;
  /** The host debugger (gdb stub, hooks): see DebugAgent. */
  debugAgent: DebugAgent | null = null;
  /** SMP: a round cut by a debugger stop on hart `h` goes on there (stepSmp). */
  private smpResume: { boundary: number; h: number } | null = null;

  /** Console output from firmware services (the builtin SBI's putchar). */
  consoleOut(b: number): void {
    this.putByte(b);
  }
  /** End the run with this result (used by the builtin SBI: shutdown, reboot). */
  requestExit(r: RunResult): void {
    this.outcome ??= r;
    this.core.requestStop();
  }

  /** Flush and close disk images (every acknowledged write reaches the file); close host sockets. */
  close(): void {
    for (const b of this.blockBackends) b.close();
    for (const h of this.hostPolled) h.close();
    this.platform.close();
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

  /** Wake a runAsync that waits for input: the debugger pauses it (DebugAgent.pauseRequested). */
  wakeForDebugger(): void {
    this.wakeUp();
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  // ------------------------------------------------------------------------------------------- pacing

  /**
   * A host socket (the user network, src/net/slirp.ts) is attached to a guest device: pacing
   * becomes the default, as for an interactive console, and a guest waiting in WFI with nothing
   * scheduled waits for the host instead of failing. With `polled`, the backend's host work (socket
   * data, timers) enters the guest at slice boundaries: `polled.wake` ends a paced sleep early, and
   * poll() runs at the start of the next slice, after the guest's clock moved to the wall time the
   * host data came (issue 13: packets from host sockets enter virtual time at slice boundaries).
   */
  attachHostSocket(polled?: HostPolled): void {
    this.hostSockets++;
    if (polled) {
      polled.wake = () => this.wakeUp();
      this.hostPolled.push(polled);
    }
  }

  /** Run the host backends' queued work (at a slice boundary). */
  private pollHost(): void {
    if (this.sleeping && this.pacedWakeWall !== null) {
      // Woken early from a paced sleep by host data: the guest's clock first moves to when it came.
      const core = this.core;
      const sstc = core.sstcDeadline;
      const vstc = core.vstimecmpDeadline;
      this.paceInputWake(Math.min(this.scheduler.nextDeadline(), sstc > core.cycles ? sstc : Infinity, vstc > core.cycles ? vstc : Infinity));
    }
    for (const h of this.hostPolled) h.poll();
  }
  /** Whether idle pacing should be on when not chosen explicitly (--pace): an interactive console or a host socket. */
  paceByDefault(interactiveConsole: boolean): boolean {
    return interactiveConsole || this.hostSockets > 0;
  }
  /** Machine time in cycles: the hart's count, or the last SMP round boundary. */
  private machineCycles(): number {
    return this.harts > 1 ? this.smpTime : this.core.cycles;
  }
  /** (Re)start pacing from now: virtual time `machineCycles()` pairs with the wall clock's now. */
  private paceReanchor(): void {
    this.paceAnchor = { wall: performance.now(), cycles: this.machineCycles() };
  }
  /**
   * Every hart waits until virtual time `wakeAt` (cycles): when pacing, the wall time to sleep
   * until, if that is still ahead; null to go on (jump to wakeAt) now.
   */
  private paceWait(wakeAt: number): PaceWait | null {
    if (this.paceAnchor === null || wakeAt === Infinity) return null;
    const now = performance.now();
    const dueAt = (a: { wall: number; cycles: number }) => a.wall + ((wakeAt - a.cycles) / this.timing.cpuHz) * 1000;
    let due = dueAt(this.paceAnchor);
    // Virtual time fell far behind the wall clock (a pause, or a long computation the model ran
    // slower than the CPU it models): drop the lag rather than fast-forward through it. A small
    // lag (a late timer, a short burst of work) is made up, so the guest's clock keeps pace.
    if (now - due > PACE_MAX_LAG_MS) {
      this.paceReanchor();
      due = dueAt(this.paceAnchor);
    }
    return due - now >= PACE_MIN_MS ? { paceUntil: due } : null;
  }
  /**
   * Wait until wall time `until` (a timer), or until host input or an interrupt request comes.
   * Resolves to the wall time of such an early wake-up, or null when the timer ran out.
   */
  private async paceSleep(until: number): Promise<number | null> {
    const ms = until - performance.now();
    if (ms <= 0) return null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const early = await new Promise<number | null>((resolve) => {
      this.wake = () => resolve(performance.now());
      timer = setTimeout(() => resolve(null), ms);
    });
    clearTimeout(timer);
    this.wake = null;
    return early;
  }

  // ------------------------------------------------------------------------------------------- running

  /** Run to completion without yielding (tests, benchmarks). Cannot wait for input; never paced. */
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
        if (r === 'yield' || isPaceWait(r)) continue;
        if (r === 'paused') return PAUSED;
        this.debugAgent?.onExit?.(r);
        return r;
      }
    } finally {
      this.hostMs += performance.now() - t0;
      this.flushOutput();
    }
  }

  /**
   * Run to completion, yielding to the host's event loop (host().yieldToHost) every `yieldMs` of
   * wall time (stdin data, signals, a page's messages) and waiting (without spinning) while the
   * guest sleeps in WFI for input. With `pace`,
   * an idle guest's virtual time follows the wall clock (see AsyncRunOptions.pace).
   */
  async runAsync(opts: AsyncRunOptions = {}): Promise<RunResult> {
    const yieldMs = opts.yieldMs ?? 20;
    if (opts.sliceCycles !== undefined) {
      if (!(Number.isSafeInteger(opts.sliceCycles) && opts.sliceCycles > 0)) throw new Error('sliceCycles must be a positive integer');
      this.sliceCycles = opts.sliceCycles;
      this.fixedSlice = true;
    }
    const t0 = performance.now();
    if (opts.pace) this.paceReanchor();
    try {
      for (;;) {
        const a0 = performance.now();
        const r = this.advance(opts, yieldMs);
        this.flushOutput();
        // advance() returns within about yieldMs: much later means the process was stopped.
        if (this.paceAnchor && performance.now() - a0 > yieldMs + PACE_PAUSE_MS) this.paceReanchor();
        if (r === 'yield') {
          const y0 = performance.now();
          await host().yieldToHost();
          if (this.paceAnchor && performance.now() - y0 > PACE_PAUSE_MS) this.paceReanchor();
        } else if (r === 'wait-input') {
          // Sleeping for input is not simulation work: keep it out of the host time (and MIPS).
          const w0 = performance.now();
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          this.hostMs -= performance.now() - w0;
          // Virtual time stood still while nothing was due: pace on from here, no catching up.
          if (this.paceAnchor) this.paceReanchor();
        } else if (isPaceWait(r)) {
          // Idle pacing: a real timer wait, also out of the host time.
          const w0 = performance.now();
          const early = await this.paceSleep(r.paceUntil);
          const now = performance.now();
          this.hostMs -= now - w0;
          // Input came first: one hart moves its clock to when it came (idle(), paceInputWake).
          if (early !== null) this.pacedWakeWall = this.harts === 1 ? early : null;
          // Woken much later than asked (stopped, suspended): a pause, not time to catch up.
          else if (now - r.paceUntil > PACE_PAUSE_MS) this.paceReanchor();
        } else if (r === 'paused') {
          const agent = this.debugAgent;
          if (!agent?.waitResume) return PAUSED;
          // The debugger holds the machine: not simulation work (out of the host time).
          const w0 = performance.now();
          await agent.waitResume();
          this.hostMs -= performance.now() - w0;
          if (this.paceAnchor) this.paceReanchor();
        } else {
          this.debugAgent?.onExit?.(r);
          return r;
        }
      }
    } finally {
      this.paceAnchor = null;
      this.pacedWakeWall = null;
      this.hostMs += performance.now() - t0;
      this.flushOutput();
    }
  }

  /**
   * Run until the result is known, the guest waits for input (or, pacing, for the wall clock), or
   * `budgetMs` of wall time passed (then 'yield'; the next call continues exactly where this one
   * stopped).
   */
  private advance(opts: RunOptions, budgetMs: number): RunResult | PaceWait | 'wait-input' | 'yield' | 'paused' {
    const t0 = performance.now();
    const maxInsns = opts.maxInsns ?? Infinity;
    const maxCycles = (this.maxCycles = opts.maxCycles ?? Infinity);
    const traceEnd = Math.min(opts.trace ?? 0, maxInsns);
    if (this.hostPolled.length > 0) this.pollHost();
    for (;;) {
      if (this.interruptRequested) {
        return { reason: 'interrupted', code: EXIT_INTERRUPTED };
      }
      if (this.debugAgent?.pauseRequested?.()) return 'paused';
      let r: Step;
      if (this.outcome) r = this.outcome;
      else if (this.machineCycles() >= maxCycles) r = maxCyclesResult(maxCycles);
      else if (this.sleeping) r = this.idle();
      else if (this.core.instret < traceEnd) r = this.traceStep(maxInsns, opts.traceSink, opts.traceRegs ?? false);
      else if (this.harts > 1 || this.smpResume) r = this.stepSmp(maxInsns);
      else if (maxCycles - this.core.cycles <= MAX_CYCLES_FINE) r = this.fineStep(maxInsns);
      else {
        const sliceEnd = budgetMs === Infinity ? Infinity : this.core.cycles + this.sliceCycles;
        r = this.step(maxInsns, Math.min(sliceEnd, maxCycles - MAX_CYCLES_FINE));
      }
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
    if (status === RunStatus.Debug) return this.debugStop(0);
    this.scheduler.runDue(core.cycles);
    if (sliceEnd !== Infinity) this.adaptSlice(core.cycles - c0, performance.now() - t0);
    return this.afterRun(status, maxInsns);
  }

  /**
   * Near --max-cycles: one instruction per core.run() (as --trace steps), so the run stops at the
   * first instruction boundary at or after the limit. Same results as bigger slices.
   */
  private fineStep(maxInsns: number): Step {
    const core = this.core;
    core.deadline = Math.min(this.scheduler.nextDeadline(), this.maxCycles);
    core.insnLimit = Math.min(core.instret + 1, maxInsns);
    const status = core.run();
    if (status === RunStatus.Debug) return this.debugStop(0);
    this.scheduler.runDue(core.cycles);
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
  /** Per-hart counters for the JSON summary (issue 8 item 6): what each hart did, and its TLB. */
  hartStats(): HartStats[] {
    const core = this.core;
    const view = new DataView(core.ex.memory.buffer);
    if (this.mode === 'timing') core.ex.saveHart();
    const out: HartStats[] = [];
    for (let h = 0; h < this.harts; h++) {
      const state: HartStats['state'] = !this.started[h] ? 'stopped' : (this.harts > 1 ? this.asleep[h] : this.sleeping) ? 'wfi' : 'running';
      out.push({
        hart: h,
        state,
        instret: core.hartNum(h, L.H_INSTRET),
        cycles: core.hartNum(h, L.H_CYCLES),
        traps: { exceptions: core.hartNum(h, L.H_EXCEPTIONS), interrupts: core.hartNum(h, L.H_INTERRUPTS) },
        pc: `0x${core.hart64(h, L.H_PC).toString(16)}`,
        priv: PRIV_LETTER[Number(core.hart64(h, L.H_PRIV))] ?? '?',
        ...(this.mode === 'timing'
          ? { tlb: h === core.activeHart ? readTlbStats(view) : readTlbStats(view, L.TM_SAVE_BASE + h * L.TM_SAVE_SIZE) }
          : {}),
      });
    }
    return out;
  }

  /** A per-hart counter (layout H_* offset) summed over the harts. */
  sumHarts(field: number): number {
    let n = 0;
    for (let h = 0; h < this.harts; h++) n += this.core.hartNum(h, field);
    return n;
  }

  /** The end of a run whose hart `h` (the active one) returned RunStatus.Stuck. */
  private stuckResult(h: number): RunResult {
    const t = this.core.stuckTrap();
    return {
      reason: 'stuck',
      code: EXIT_STUCK,
      message: `hart ${h} stuck: cause ${t.cause} at pc ${hex(t.pc)}, xtvec ${hex(t.tvec)}`,
    };
  }

  /**
   * SMP: one round. Every started hart runs until the round boundary — the next event, the next
   * Sstc deadline of a sleeping hart, or SMP_QUANTUM cycles on — in hart order, then the due events
   * fire. Deterministic: the interleaving depends only on cycles. A hart in WFI sleeps through
   * rounds (its cycle count follows machine time) until an enabled interrupt is pending for it.
   * When every hart sleeps, the round goes straight to the next event or Sstc deadline: the rounds
   * in between would change nothing.
   */
  private stepSmp(maxInsns: number): Step {
    const core = this.core;
    if (this.smpResume) return this.smpRound(maxInsns, this.smpResume.boundary, this.smpResume.h);
    let wakeAt = Math.min(this.scheduler.nextDeadline(), this.maxCycles);
    let anyAwake = false;
    for (let h = 0; h < this.harts; h++) {
      if (!this.started[h]) continue;
      if (this.asleep[h] && core.wakeBits(h) !== 0) this.asleep[h] = false;
      if (this.asleep[h]) {
        // A sleeping hart's Sstc deadline ends the round, if it is still ahead (a passed one
        // has already set STIP, which wakes the hart only if enabled); so does a guest's
        // vstimecmp (H extension: VSTIP).
        const stc = core.sstcDeadlineOf(h);
        if (stc > this.smpTime) wakeAt = Math.min(wakeAt, stc);
        const vstc = core.vstimecmpDeadlineOf(h);
        if (vstc > this.smpTime) wakeAt = Math.min(wakeAt, vstc);
        // ... and an armed Sscofpmf cycles counter's wrap (LCOFI).
        const ovf = core.hpmOverflowDeadlineOf(h);
        if (ovf > this.smpTime) wakeAt = Math.min(wakeAt, ovf);
      } else anyAwake = true;
    }
    let boundary = wakeAt;
    if (anyAwake) boundary = Math.min(boundary, this.smpTime + SMP_QUANTUM);
    else {
      // Every running hart sleeps: jump to the next event or Sstc deadline (pacing: not before
      // the wall clock reaches it).
      if (wakeAt === Infinity) {
        if (this.inputOpen || this.hostPolled.length > 0) return 'wait-input';
        return { reason: 'error', code: EXIT_GUEST_ERROR, message: 'all harts are waiting in WFI with nothing left to wake them' };
      }
      const wait = this.paceWait(wakeAt);
      if (wait) return wait;
    }
    return this.smpRound(maxInsns, boundary, 0);
  }

  /** The harts from `first` on run to the round's boundary, then the due events fire. */
  private smpRound(maxInsns: number, boundary: number, first: number): Step {
    const core = this.core;
    this.smpResume = null;
    for (let h = first; h < this.harts; h++) {
      if (!this.started[h]) continue;
      // Sleeping harts (and harts already at the boundary) are updated in place, not switched in.
      const hc = core.hartNum(h, L.H_CYCLES);
      if (this.asleep[h] || hc >= boundary) {
        if (hc < boundary) core.setHartNum(h, L.H_CYCLES, boundary);
        if (Math.max(hc, boundary) >= core.sstcDeadlineOf(h)) core.setMipOf(h, 5, true);
        if (Math.max(hc, boundary) >= core.vstimecmpDeadlineOf(h)) core.setMipOf(h, 6, true); // VSTIP
        if (Math.max(hc, boundary) >= core.hpmOverflowDeadlineOf(h)) { core.switchHart(h); core.hpmOverflowCheck(); }
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
        if (status === RunStatus.Debug) {
          // Between two instructions of hart h: go on, or pause with the round to finish later.
          if (this.debugStop(h) === 'continue') continue;
          this.smpResume = { boundary, h };
          return 'paused';
        }
        if (status === RunStatus.Sbi) {
          if (!this.sbi) throw new Error('core returned an SBI call but no host SBI is installed');
          handleSbiCall(this.sbi, h);
          core.pc = core.pc + 4n;
          if (this.outcome) return this.outcome;
          if (!this.started[h]) break; // hart_stop
          continue;
        }
        if (status === RunStatus.MTrap) {
          const r = this.machineTrap(h);
          if (r) return r;
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
        if (status === RunStatus.Stuck) return this.stuckResult(h);
        break; // deadline (or a stop request with no outcome)
      }
    }
    this.smpTime = boundary;
    this.scheduler.runDue(boundary);
    return this.outcome ?? 'continue';
  }

  /**
   * The core returned RunStatus.Debug on hart h (assembly/debug.ts): no events are due for it (the
   * run stopped between two instructions); the agent says whether to go on or pause.
   */
  private debugStop(h: number): Step {
    const agent = this.debugAgent;
    if (!agent) throw new Error('core returned a debugger stop but no debugger is attached');
    const a = agent.onStop(h);
    if (this.outcome) return this.outcome;
    return a === 'pause' ? 'paused' : 'continue';
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
      case RunStatus.MTrap:
        return this.machineTrap(this.core.activeHart) ?? 'continue';
      case RunStatus.Stuck:
        return this.stuckResult(0);
      default:
        throw new Error(`core.run() returned status ${status as number}, which the virt board does not handle`);
    }
  }

  /** A trap into M-mode went to the host firmware (--bios builtin): handled, or the run's end. */
  private machineTrap(hart: number): RunResult | null {
    if (!this.firmware) throw new Error('core returned a machine-mode trap but no host firmware is installed');
    const r = this.firmware.handle(hart);
    if (r.kind === 'stuck') this.outcome ??= { reason: 'stuck', code: EXIT_STUCK, message: r.message };
    else if (r.kind === 'unhandled') this.outcome ??= { reason: 'error', code: r.code, message: r.message };
    else return null;
    return this.outcome;
  }

  /**
   * The hart sleeps in WFI (Priv 1.12 §3.3.3) until an interrupt is pending and enabled in mie
   * (whatever mstatus.MIE says). Time jumps to the next event instead of being spun through;
   * when pacing, not before the wall clock reaches the event's virtual time.
   */
  private idle(): Step {
    const core = this.core;
    for (;;) {
      // The core's own Sstc timers are events too, while they are ahead of us: stimecmp raises
      // STIP (5), vstimecmp (H extension) VSTIP (6). Each counts only while ahead: a passed one
      // has set its bit already (and a stale VS deadline must not hide the HS one).
      const sstc = core.sstcDeadline;
      const vstc = core.vstimecmpDeadline;
      // An armed Sscofpmf cycles counter wraps while the hart sleeps: LCOFI (assembly/hpm.ts). One
      // that wrapped before the wfi's block ended is noted first (the run loop looks at boundaries).
      if (core.cycles >= core.hpmOverflowDeadline) core.hpmOverflowCheck();
      const ovf = core.hpmOverflowDeadline;
      const next = Math.min(this.scheduler.nextDeadline(), sstc > core.cycles ? sstc : Infinity, vstc > core.cycles ? vstc : Infinity,
        ovf > core.cycles ? ovf : Infinity);
      if ((core.mip & core.mie) !== 0) {
        this.sleeping = false;
        this.paceInputWake(next);
        return 'continue';
      }
      this.pacedWakeWall = null;
      if (core.cycles >= sstc) core.setMip(5, true);
      if (core.cycles >= vstc) core.setMip(6, true);
      if (next !== Infinity) {
        const wait = this.paceWait(Math.min(next, this.maxCycles));
        if (wait) return wait;
        if (next > this.maxCycles) {
          // --max-cycles runs out while the hart sleeps.
          if (this.maxCycles > core.cycles) core.cycles = this.maxCycles;
          return maxCyclesResult(this.maxCycles);
        }
        if (next > core.cycles) core.cycles = next;
        if (core.cycles >= sstc) core.setMip(5, true);
        if (core.cycles >= vstc) core.setMip(6, true);
        if (core.cycles >= ovf) core.hpmOverflowCheck();
        this.scheduler.runDue(core.cycles);
        if (this.outcome) return this.outcome;
        // Still asleep unless that woke it; back to the caller between events, so a run of
        // events that never wakes the hart still yields to the event loop (and to Ctrl-C).
        if ((core.mip & core.mie) === 0) return 'continue';
        continue;
      }
      if (this.inputOpen || this.hostPolled.length > 0) return 'wait-input';
      this.sleeping = false;
      return {
        reason: 'error',
        code: EXIT_GUEST_ERROR,
        message: `guest is waiting in WFI with nothing left to wake it (pc ${hex(core.pc)}, mie ${hex(core.mie)})`,
      };
    }
  }

  /**
   * Host input woke a paced sleep early: the guest's clock moves to the wall time the input came
   * (never past `next`, the first event still due), so it sees the input when the host did. Only
   * live input does this, so deterministic runs never get here.
   */
  private paceInputWake(next: number): void {
    const wall = this.pacedWakeWall;
    this.pacedWakeWall = null;
    const a = this.paceAnchor;
    if (wall === null || a === null) return;
    const c = Math.floor(Math.min(a.cycles + ((wall - a.wall) / 1000) * this.timing.cpuHz, next, this.maxCycles));
    if (c > this.core.cycles) this.core.cycles = c;
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
  private traceStep(maxInsns: number, sink: ((line: string) => void) | undefined, regs: boolean): Step {
    const core = this.core;
    const pc0 = core.pc;
    const before = regs && sink ? snapshotRegs(core) : null;
    const i0 = core.instret;
    const exc0 = core.exceptions;
    const int0 = core.interrupts;
    core.deadline = this.scheduler.nextDeadline();
    core.insnLimit = Math.min(i0 + 1, maxInsns);
    const status = core.run();
    if (status === RunStatus.Debug) return this.debugStop(0);
    this.scheduler.runDue(core.cycles);
    if (sink) {
      const exc = core.exceptions - exc0;
      const intr = core.interrupts - int0;
      let retiredPc = pc0;
      if (status === RunStatus.MTrap) {
        // A trap into M-mode went to the host firmware (--bios builtin): nothing retired yet.
        const cause = core.mtrapCause;
        const isIrq = cause >> 63n === 1n;
        if (!isIrq) sink(traceLine('-', pc0, this.fetchForTrace(pc0)));
        sink(`${''.padStart(10)}  trap: ${isIrq ? 'interrupt' : 'exception'} ${cause & ((1n << 63n) - 1n)} to the builtin firmware, tval ${hex(core.mtrapTval)}`);
      } else if (exc + intr > 0) {
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
      if (core.instret > i0) {
        const insn = this.fetchForTrace(retiredPc);
        let line = traceLine(String(i0), retiredPc, insn);
        if (before) {
          // The mode the retired instruction ran in: the mode before the step, or after a trap
          // entry the handler's (an xRET as the handler's first instruction ran in M or S).
          let mode = before.priv;
          if (exc + intr > 0) {
            const row = insn === null ? undefined : lookup(insn);
            mode = row?.op === 'mret' ? 3 : row?.op === 'sret' ? 1 : core.priv;
          }
          line = `${line.padEnd(TRACE_REGS_COLUMN)}  ${PRIV_LETTER[mode] ?? '?'}${writtenRegs(core, before, insn)}`;
        }
        sink(line);
      }
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
    // virtio-net: packets, bytes and drops per direction (issue 13 scope 1).
    for (const nic of this.nics) devices[nic.name] = { ...nic.stats };
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
      harts: this.hartStats(),
      devices,
      bus: { unmappedReads: bus.unmappedReads, unmappedWrites: bus.unmappedWrites },
      scheduler: { fired: this.scheduler.stats().fired },
      cpuHz: this.timing.cpuHz,
      ...(core.jit ? { jit: core.jit.stats() } : {}),
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

// ---------------------------------------------------------------------------------------------
// --trace-regs: registers written, found on the host by diffing the state around one step (trace
// mode single-steps anyway), plus the instruction's own rd so a write of an unchanged value shows.

const PRIV_LETTER: Readonly<Record<number, string>> = { 0: 'U', 1: 'S', 3: 'M' };
/** Column where the mode and the written registers start (after the disassembly). */
const TRACE_REGS_COLUMN = 60;

interface RegSnapshot {
  priv: number;
  x: bigint[];
  f: bigint[];
  fcsr: number;
}

function snapshotRegs(core: Core): RegSnapshot {
  const x: bigint[] = [];
  const f: bigint[] = [];
  for (let r = 0; r < 32; r++) {
    x.push(core.x(r));
    f.push(core.f(r));
  }
  return { priv: core.priv, x, f, fcsr: core.fcsr };
}

/** `  a0=0x... fa0=0x... fcsr=0x..`: rd of the instruction first, then any other change. */
function writtenRegs(core: Core, before: RegSnapshot, insn: number | null): string {
  const parts: string[] = [];
  const seen = new Set<string>();
  const hex64 = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;
  const add = (kind: 'x' | 'f', r: number) => {
    const key = `${kind}${r}`;
    if (seen.has(key) || (kind === 'x' && r === 0)) return;
    seen.add(key);
    parts.push(`${kind === 'x' ? ABI_NAMES[r] : FP_ABI_NAMES[r]}=${hex64(kind === 'x' ? core.x(r) : core.f(r))}`);
  };
  const row = insn === null ? undefined : lookup(insn);
  const rd = row?.format.rd;
  if (row && rd && !('fixed' in rd && rd.fixed === 0)) {
    const w = row.width === 16 ? insn! & 0xffff : insn! >>> 0;
    const n = 'fixed' in rd ? rd.fixed : ((w >>> rd.lo) & ((1 << (rd.hi - rd.lo + 1)) - 1)) + (rd.add ?? 0);
    add('fixed' in rd ? 'x' : rd.f ? 'f' : 'x', n);
  }
  for (let r = 1; r < 32; r++) if (core.x(r) !== before.x[r]) add('x', r);
  for (let r = 0; r < 32; r++) if (core.f(r) !== before.f[r]) add('f', r);
  if (core.fcsr !== before.fcsr) parts.push(`fcsr=0x${core.fcsr.toString(16).padStart(2, '0')}`);
  return parts.length === 0 ? '' : `  ${parts.join(' ')}`;
}
