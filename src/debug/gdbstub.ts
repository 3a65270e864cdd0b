/**
 * The gdb remote serial protocol stub (`--gdb tcp::PORT`, QEMU's -gdb; `-S` waits for gdb before
 * the first instruction). One client at a time; all-stop mode; harts are threads (tid = hart + 1,
 * process 1 with multiprocess+: `p1.2` is hart 1).
 *
 * Breakpoints and watchpoints (Z0-Z4) are the core's execute and watch ranges (assembly/debug.ts):
 * nothing is written into guest memory, and a run under gdb ends with the counters of a run
 * without it. Memory packets (m, M, X) go through the selected thread's current translation
 * without side effects (CoreDebug.readVirt: RAM only; a device or unmapped address answers E14, as
 * QEMU does for memory it cannot read). Registers: x0-x31, pc, f0-f31 (when F/D are present), the
 * CSRs (org.gnu.gdb.riscv.csr: regnum 65 + CSR number, read and written as M-mode would) and the
 * privilege level (org.gnu.gdb.riscv.virtual "priv").
 *
 * Bad input never crashes the stub: a bad checksum is NAKed (-), a malformed or unsupported
 * packet answers E01 or the empty reply, reads over MAX_READ bytes answer E01.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { VirtMachine, RunResult } from '../board/virt.js';
import * as L from '../generated/layout.js';
import { MachineDebug, type HookHandle } from './hooks.js';
import { StopReason, type DebugStop } from './core-debug.js';
import { hex64le, fromHexLe, featuresRead, riscvTargetXml, memoryPacket, writeRegPacket, watchKindOf, RspPoints, PACKET_SIZE, REG_PC, REG_F0, REG_CSR0, REG_PRIV } from './rsp.js';

/** Largest packet we accept and announce (PacketSize, hex). */
/** Largest m read: the reply must fit a packet. */
const PID = 1;
/** gdb's RISC-V register numbers. */

/** The CSRs in the target description (number, name). fflags/frm/fcsr live in the fpu feature. */
const CSRS: Array<[number, string]> = [
  [0x100, 'sstatus'], [0x104, 'sie'], [0x105, 'stvec'], [0x106, 'scounteren'], [0x10a, 'senvcfg'],
  [0x140, 'sscratch'], [0x141, 'sepc'], [0x142, 'scause'], [0x143, 'stval'], [0x144, 'sip'], [0x180, 'satp'],
  [0x300, 'mstatus'], [0x301, 'misa'], [0x302, 'medeleg'], [0x303, 'mideleg'], [0x304, 'mie'], [0x305, 'mtvec'],
  [0x306, 'mcounteren'], [0x30a, 'menvcfg'], [0x340, 'mscratch'], [0x341, 'mepc'], [0x342, 'mcause'],
  [0x343, 'mtval'], [0x344, 'mip'], [0x3a0, 'pmpcfg0'], [0x3a2, 'pmpcfg2'],
  [0x3b0, 'pmpaddr0'], [0x3b1, 'pmpaddr1'], [0x3b2, 'pmpaddr2'], [0x3b3, 'pmpaddr3'],
  [0xb00, 'mcycle'], [0xb02, 'minstret'], [0xc00, 'cycle'], [0xc01, 'time'], [0xc02, 'instret'],
  [0xf11, 'mvendorid'], [0xf12, 'marchid'], [0xf13, 'mimpid'], [0xf14, 'mhartid'],
  [0x7a0, 'tselect'], [0x7a1, 'tdata1'], [0x7a2, 'tdata2'],
];
const H_CSRS: Array<[number, string]> = [
  [0x600, 'hstatus'], [0x602, 'hedeleg'], [0x603, 'hideleg'], [0x604, 'hie'], [0x605, 'htimedelta'],
  [0x606, 'hcounteren'], [0x60a, 'henvcfg'], [0x643, 'htval'], [0x644, 'hip'], [0x645, 'hvip'], [0x64a, 'htinst'],
  [0x680, 'hgatp'], [0x200, 'vsstatus'], [0x204, 'vsie'], [0x205, 'vstvec'], [0x240, 'vsscratch'],
  [0x241, 'vsepc'], [0x242, 'vscause'], [0x243, 'vstval'], [0x244, 'vsip'], [0x280, 'vsatp'],
  [0x34a, 'mtinst'], [0x34b, 'mtval2'],
];

export interface GdbStubOptions {
  /** -S: hold the machine before its first instruction until gdb resumes it. */
  waitForGdb?: boolean;
  /** Diagnostics (connection lines) go here; default none. */
  log?: (line: string) => void;
}

/** Parse `tcp::PORT`, `tcp:HOST:PORT` or `:PORT` (QEMU -gdb syntax). */
export function parseGdbAddress(spec: string): { host: string; port: number } | null {
  const m = /^(?:tcp:)?([^:]*):(\d{1,5})$/.exec(spec);
  if (!m) return null;
  const port = Number(m[2]);
  if (port > 65535) return null;
  return { host: m[1] || '127.0.0.1', port };
}

function parseHexNum(s: string | undefined): bigint | null {
  if (s === undefined || !/^[0-9a-fA-F]{1,16}$/.test(s)) return null;
  return BigInt('0x' + s);
}
function checksum(s: Buffer | string): number {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  let c = 0;
  for (const x of b) c = (c + x) & 0xff;
  return c;
}


export class GdbStub {
  private readonly md: MachineDebug;
  private server: Server | null = null;
  private sock: Socket | null = null;
  private buf = Buffer.alloc(0);
  private noAck = false;
  private swbreak = false;
  private hwbreak = false;
  private multiprocess = false;
  /** Selected threads (hart numbers) for g/m (Hg) and for c/s (Hc). */
  private gHart = 0;
  private cHart = 0;
  private readonly points: RspPoints;
  /** The machine is held (paused) and waits for a resume from gdb. */
  private held = false;
  private resumeNow: (() => void) | null = null;
  /** Why the machine is held, for `?` and the reply to a resume (formatted when sent: thread ids depend on multiprocess). */
  private stop: { sig: string; hart: number; extra: string } = { sig: '05', hart: 0, extra: '' };
  /** A resume packet (c, s, vCont) is waiting for its stop reply. */
  private replyPending = false;
  private listener: HookHandle | null = null;
  private exitHook: HookHandle | null = null;
  private ended: RunResult | null = null;
  private readonly log: (line: string) => void;
  private readonly harts: number;
  private readonly hasFp: boolean;
  private readonly hasH: boolean;

  constructor(readonly machine: VirtMachine, private readonly opts: GdbStubOptions = {}) {
    this.md = MachineDebug.of(machine);
    this.points = new RspPoints(this.md.tables);
    this.log = opts.log ?? (() => {});
    this.harts = machine.core.hartCount;
    const misa = machine.core.get64(L.H_MISA);
    this.hasFp = (misa & ((1n << 3n) | (1n << 5n))) !== 0n; // D or F
    this.hasH = (misa & (1n << 7n)) !== 0n;
    this.md.waitResume = () => this.waitResume();
    this.listener = this.md.addListener((s) => this.onStop(s));
    this.exitHook = this.md.addExitHook((e) => this.onExit(e.result));
    if (opts.waitForGdb) {
      this.stop = this.stopAt('05', 0);
      this.md.requestPause();
    }
  }

  /** Listen on host:port (port 0: any free port); resolves to the port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const srv = createServer((s) => this.accept(s));
      srv.once('error', reject);
      srv.listen(port, host, () => {
        this.server = srv;
        const a = srv.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  close(): void {
    this.sock?.destroy();
    this.sock = null;
    this.server?.close();
    this.server = null;
    this.listener?.remove();
    this.exitHook?.remove();
    this.release();
  }

  // ------------------------------------------------------------------------------- the machine

  /** The board is paused (DebugAgent.waitResume): report the stop, wait for c / s / detach. */
  private waitResume(): Promise<void> {
    this.held = true;
    if (this.replyPending) {
      this.replyPending = false;
      this.send(this.stopText());
    }
    return new Promise<void>((resolve) => {
      this.resumeNow = resolve;
    });
  }

  private release(): void {
    this.held = false;
    const r = this.resumeNow;
    this.resumeNow = null;
    r?.();
  }

  private stopAt(sig: string, hart: number, extra = ''): { sig: string; hart: number; extra: string } {
    return { sig, hart, extra };
  }
  private stopText(): string {
    return `T${this.stop.sig}${this.stop.extra}thread:${this.tid(this.stop.hart)};`;
  }
  private tid(hart: number): string {
    return this.multiprocess ? `p${PID.toString(16)}.${(hart + 1).toString(16)}` : (hart + 1).toString(16);
  }

  /** A core stop (MachineDebug listener): is it ours? */
  private onStop(s: DebugStop): 'pause' | 'resume' {
    if (!this.sock) return 'resume';
    const stepping = this.md.tables.stepping;
    if ((s.reason === StopReason.Step || s.reason === StopReason.Trap) && stepping === s.hart) {
      this.md.tables.setStep(null);
      this.stop = this.stopAt('05', s.hart);
      this.gHart = s.hart;
      return 'pause';
    }
    if (s.reason === StopReason.Exec) {
      for (const p of this.points.values()) {
        if ((p.type === 0 || p.type === 1) && p.addr === s.pc) {
          this.stop = this.stopAt('05', s.hart, p.type === 0 ? (this.swbreak ? 'swbreak:;' : '') : this.hwbreak ? 'hwbreak:;' : '');
          this.gHart = s.hart;
          this.md.tables.setStep(null);
          return 'pause';
        }
      }
    }
    for (const h of s.hits ?? []) {
      for (const p of this.points.values()) {
        if (p.type < 2) continue;
        const end = p.addr + BigInt(p.kind);
        if (h.va >= end || h.va + BigInt(h.size) <= p.addr) continue;
        const want = watchKindOf(p.type);
        if ((h.kind & want) === 0) continue;
        const name = p.type === 2 ? 'watch' : p.type === 3 ? 'rwatch' : 'awatch';
        // gdb expects the watched address it set (it matches the hit against its watchpoints).
        const at = h.va > p.addr ? h.va : p.addr;
        this.stop = this.stopAt('05', s.hart, `${name}:${at.toString(16)};`);
        this.gHart = s.hart;
        this.md.tables.setStep(null);
        return 'pause';
      }
    }
    return 'resume';
  }

  private onExit(r: RunResult): void {
    this.ended = r;
    if (!this.sock) return;
    // W: the process exited with a status (RSP "Stop Reply Packets").
    const code = Math.max(0, Math.min(255, r.code));
    this.send(`W${code.toString(16).padStart(2, '0')}${this.multiprocess ? `;process:${PID.toString(16)}` : ''}`);
  }

  // ------------------------------------------------------------------------------- the socket

  private accept(s: Socket): void {
    if (this.sock) {
      s.end();
      return;
    }
    this.sock = s;
    this.noAck = false;
    this.buf = Buffer.alloc(0);
    s.setNoDelay(true);
    this.log('gdb: connected');
    // QEMU stops the machine when gdb attaches.
    if (!this.held && !this.ended) {
      this.stop = this.stopAt('05', this.gHart);
      this.md.requestPause();
    }
    s.on('data', (d) => this.onData(d));
    s.on('error', () => {});
    s.on('close', () => {
      if (this.sock !== s) return;
      this.sock = null;
      this.log('gdb: disconnected');
      // Like a detach: breakpoints go, the machine runs on.
      this.points.clear();
      this.md.tables.setStep(null);
      this.release();
    });
  }

  private send(payload: string): void {
    if (!this.sock) return;
    const body = Buffer.from(payload, 'latin1');
    this.sock.write(`$${payload}#${checksum(body).toString(16).padStart(2, '0')}`, 'latin1');
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length === 0) return;
      const c = this.buf[0]!;
      if (c === 0x03) {
        // Ctrl-C: interrupt the running machine (reported as SIGINT).
        this.buf = this.buf.subarray(1);
        if (!this.held && !this.ended) {
          this.stop = this.stopAt('02', this.cHart);
          this.md.tables.setStep(null);
          this.md.requestPause();
        }
        continue;
      }
      if (c === 0x2b /* + */ || c === 0x2d /* - */) {
        this.buf = this.buf.subarray(1);
        continue;
      }
      if (c !== 0x24 /* $ */) {
        // Garbage between packets: skip to the next packet start.
        const next = this.buf.indexOf(0x24);
        this.buf = next < 0 ? Buffer.alloc(0) : this.buf.subarray(next);
        continue;
      }
      const hash = this.buf.indexOf(0x23 /* # */);
      if (hash < 0) {
        if (this.buf.length > PACKET_SIZE * 2) this.buf = Buffer.alloc(0); // never ends: drop it
        return;
      }
      if (this.buf.length < hash + 3) return;
      const body = this.buf.subarray(1, hash);
      const sum = this.buf.subarray(hash + 1, hash + 3).toString('latin1');
      this.buf = this.buf.subarray(hash + 3);
      if (!this.noAck) {
        if (!/^[0-9a-fA-F]{2}$/.test(sum) || parseInt(sum, 16) !== checksum(body)) {
          this.sock?.write('-');
          continue;
        }
        this.sock?.write('+');
      }
      let reply: string | null;
      try {
        reply = this.handle(body);
      } catch {
        reply = 'E01';
      }
      if (reply !== null) this.send(reply);
    }
  }

  // ------------------------------------------------------------------------------- packets

  /** One packet; returns the reply, or null when the reply comes later (a resume). */
  private handle(raw: Buffer): string | null {
    const p = raw.toString('latin1');
    const cmd = p[0];
    switch (cmd) {
      case '?':
        return this.held || this.ended === null ? this.stopText() : `W${this.ended.code.toString(16).padStart(2, '0')}`;
      case 'q':
        return this.query(p);
      case 'Q':
        if (p === 'QStartNoAckMode') {
          this.send('OK');
          this.noAck = true;
          return null;
        }
        return '';
      case 'H': {
        const h = this.parseThread(p.slice(2));
        if (h === null) return 'E01';
        if (p[1] === 'g') this.gHart = h < 0 ? 0 : h;
        else if (p[1] === 'c') this.cHart = h < 0 ? 0 : h;
        else return 'E01';
        return 'OK';
      }
      case 'T': {
        const h = this.parseThread(p.slice(1));
        return h !== null && h >= 0 && h < this.harts ? 'OK' : 'E01';
      }
      case 'g':
        return this.readAllRegs();
      case 'G':
        return this.writeAllRegs(p.slice(1));
      case 'p': {
        const n = parseHexNum(p.slice(1));
        if (n === null) return 'E01';
        return this.readReg(Number(n)) ?? 'E01';
      }
      case 'P':
        return writeRegPacket(p, (n, v) => this.writeReg(n, v));
      case 'm':
      case 'M':
      case 'X':
        return memoryPacket(raw, {
          read: (va, len) => this.md.tables.readVirt(va, len, this.gHart),
          write: (va, data) => this.md.tables.writeVirt(va, data, this.gHart),
        });
      case 'Z':
      case 'z':
        return this.points.packet(p);
      case 'c':
      case 'C':
        return this.resume(null, p.length > 1 && cmd === 'c' ? p.slice(1) : null);
      case 's':
      case 'S':
        return this.resume(this.cHart, p.length > 1 && cmd === 's' ? p.slice(1) : null);
      case 'v':
        return this.vPacket(p);
      case 'D':
        this.points.clear();
        this.md.tables.setStep(null);
        this.send('OK');
        this.release();
        this.sock?.end();
        return null;
      case 'k':
        this.kill();
        return null;
      default:
        return '';
    }
  }

  private kill(): void {
    this.points.clear();
    this.md.tables.setStep(null);
    this.machine.requestExit({ reason: 'interrupted', code: 0, message: 'killed by gdb' });
    this.release();
    this.sock?.end();
  }

  /** A thread id (hex, -1, 0, or pPID.TID) -> hart (-1: all), or null. */
  private parseThread(s: string): number | null {
    let t = s;
    const m = /^p([0-9a-fA-F]+|-1)\.(.*)$/.exec(s);
    if (m) t = m[2]!;
    if (t === '-1') return -1;
    if (!/^[0-9a-fA-F]{1,8}$/.test(t)) return null;
    const n = parseInt(t, 16);
    if (n === 0) return 0; // any thread
    return n - 1 < this.harts ? n - 1 : null;
  }

  private query(p: string): string | null {
    if (p.startsWith('qSupported')) {
      const feats = p.slice(11).split(';');
      this.swbreak = feats.includes('swbreak+');
      this.hwbreak = feats.includes('hwbreak+');
      this.multiprocess = feats.includes('multiprocess+');
      return `PacketSize=${PACKET_SIZE.toString(16)};qXfer:features:read+;multiprocess+;vContSupported+;swbreak+;hwbreak+;QStartNoAckMode+`;
    }
    if (p.startsWith('qXfer:features:read:')) return featuresRead(p, () => this.targetXml());
    if (p === 'qfThreadInfo') {
      const ids: string[] = [];
      for (let h = 0; h < this.harts; h++) ids.push(this.tid(h));
      return 'm' + ids.join(',');
    }
    if (p === 'qsThreadInfo') return 'l';
    if (p === 'qC') return 'QC' + this.tid(this.gHart);
    if (p.startsWith('qAttached')) return '1';
    if (p.startsWith('qThreadExtraInfo,')) {
      const h = this.parseThread(p.slice(17));
      if (h === null || h < 0) return 'E01';
      return Buffer.from(`hart ${h}`, 'latin1').toString('hex');
    }
    if (p === 'qSymbol::') return 'OK';
    if (p === 'qOffsets') return 'Text=0;Data=0;Bss=0';
    return '';
  }

  private vPacket(p: string): string | null {
    if (p === 'vCont?') return 'vCont;c;C;s;S;t';
    if (p.startsWith('vCont;')) {
      // All-stop: the first action naming a step says which hart steps; everything else runs.
      let step: number | null = null;
      for (const a of p.slice(6).split(';')) {
        const [act, th] = a.split(':');
        if (act === 't') continue;
        if (act && (act[0] === 's' || act[0] === 'S')) {
          const h = th === undefined ? this.cHart : this.parseThread(th);
          if (h === null) return 'E01';
          step ??= h < 0 ? this.cHart : h;
        } else if (!act || (act[0] !== 'c' && act[0] !== 'C')) return 'E01';
      }
      if (p.slice(6).split(';').every((a) => a.startsWith('t'))) return 'OK';
      return this.resume(step, null);
    }
    if (p.startsWith('vKill')) {
      this.kill();
      return null;
    }
    if (p === 'vMustReplyEmpty') return '';
    return '';
  }

  /** c / s: go on (stepping `stepHart`), optionally from a new pc; the stop reply comes later. */
  private resume(stepHart: number | null, addr: string | null): string | null {
    if (this.ended) return `W${this.ended.code.toString(16).padStart(2, '0')}`;
    if (addr !== null) {
      const a = parseHexNum(addr);
      if (a === null) return 'E01';
      this.setPc(stepHart ?? this.cHart, a);
    }
    this.md.tables.setStep(stepHart);
    this.replyPending = true;
    this.release();
    return null;
  }

  private setPc(h: number, v: bigint): void {
    const core = this.machine.core;
    core.set64(core.hartField(h, L.H_PC), v);
    this.md.tables.clearSkip();
  }

  // ------------------------------------------------------------------------------- registers

  private readAllRegs(): string {
    let s = '';
    for (let r = 0; r <= REG_PC; r++) s += this.readReg(r)!;
    return s;
  }
  private writeAllRegs(hex: string): string {
    if (hex.length < 33 * 16 || !/^[0-9a-fA-F]*$/.test(hex)) return 'E01';
    for (let r = 1; r <= REG_PC; r++) this.writeReg(r, fromHexLe(hex.slice(r * 16, r * 16 + 16))!);
    return 'OK';
  }

  private readReg(n: number): string | null {
    const core = this.machine.core;
    const h = this.gHart;
    if (n < 32) return hex64le(core.get64(core.hartField(h, L.H_X + n * 8)));
    if (n === REG_PC) return hex64le(core.get64(core.hartField(h, L.H_PC)));
    if (this.hasFp && n >= REG_F0 && n < REG_F0 + 32) return hex64le(core.get64(core.hartField(h, L.H_F + (n - REG_F0) * 8)));
    if (n === REG_PRIV) return hex64le(core.get64(core.hartField(h, L.H_PRIV)) | (core.get64(core.hartField(h, L.H_VIRT)) << 2n));
    if (n >= REG_CSR0 + 1 && n <= REG_CSR0 + 3) {
      // fflags, frm, fcsr: the fcsr bits even while mstatus.FS = Off (as QEMU shows them).
      const f = core.get64(core.hartField(h, L.H_FCSR));
      return hex64le(n === REG_CSR0 + 1 ? f & 0x1fn : n === REG_CSR0 + 2 ? (f >> 5n) & 7n : f & 0xffn);
    }
    if (n >= REG_CSR0 && n < REG_CSR0 + 4096) {
      const csr = n - REG_CSR0;
      const v = core.ex.dbgCsrRead(csr, h);
      if (core.ex.dbgCsrStatus() === 0) return null;
      return hex64le(BigInt.asUintN(64, v));
    }
    return null;
  }
  private writeReg(n: number, v: bigint): boolean {
    const core = this.machine.core;
    const h = this.gHart;
    if (n === 0) return true;
    if (n < 32) {
      core.set64(core.hartField(h, L.H_X + n * 8), v);
      return true;
    }
    if (n === REG_PC) {
      this.setPc(h, v);
      return true;
    }
    if (this.hasFp && n >= REG_F0 && n < REG_F0 + 32) {
      core.set64(core.hartField(h, L.H_F + (n - REG_F0) * 8), v);
      return true;
    }
    if (n >= REG_CSR0 && n < REG_CSR0 + 4096) return core.ex.dbgCsrWrite(n - REG_CSR0, h, v) === 1;
    return false;
  }

  private targetXml(): string {
    return riscvTargetXml(this.hasFp, [...CSRS, ...(this.hasH ? H_CSRS : [])]);
  }
}
