/**
 * The gdb stub of `cyclevisor host FILE --gdb tcp::PORT [-S]` (issue 16): one gdb server for the
 * whole host. Each VM is an inferior (multiprocess+: process id = VM index + 1) and its vCPUs are
 * its threads (`pPID.TID`, TID = vCPU index + 1, named "vm NAME vcpu N" by qThreadExtraInfo).
 *
 * All-stop, and synchronous: the socket lives in a worker thread (RSP framing, acks, Ctrl-C); the
 * host's thread serves gdb's packets through a SharedArrayBuffer while it is stopped, blocked in
 * Atomics.wait right where the stop happened — inside Vm.runVcpu for a breakpoint, watchpoint or
 * step (the vCPU stays loaded, its block cut: assembly/debug.ts D_MID), or between host slices for
 * Ctrl-C, an attach and -S. So nothing of any VM advances while gdb looks, the host never switches
 * vCPUs while one is cut, and resuming goes on with the cut block exactly: a run under gdb ends
 * with the per-VM counters of a run without it.
 *
 * Breakpoints are per inferior. The core's execute/watch tables (CoreDebug) are shared by every
 * vCPU of every VM, so a Z packet is recorded with the process gdb selected with Hg (gdb selects a
 * thread of the current inferior before sending Z), and a stop in a VM that owns no matching point
 * resumes at once (the cut-block resume changes no count).
 */
import { Worker } from 'node:worker_threads';
import { resolve } from 'node:path';
import type { Host } from '../hypervisor/host.js';
import type { Vm } from '../hypervisor/vm.js';
import type { Vcpu } from '../hypervisor/vcpu.js';
import type { VcpuContext } from '../vcpu.js';
import * as L from '../generated/layout.js';
import { CoreDebug, StopReason } from './core-debug.js';
import { hex64le, featuresRead, riscvTargetXml, memoryPacket, writeRegPacket, RspPoints, PACKET_SIZE, REG_PC, REG_F0, REG_CSR0, REG_PRIV } from './rsp.js';

const BUF = 0x10000;
/** fflags, frm, fcsr: 65 + their CSR numbers (1, 2, 3). */
const REG_FCSR0 = REG_CSR0 + 1;
/**
 * CSRs in the target description, as the guest sees them (gdb regnum 65 + number): a guest's
 * S-mode CSRs are the vCPU's VS CSRs (Priv §9.2.x: with V = 1, sstatus is vsstatus, ...), plus
 * the hypervisor state of the vCPU (hstatus, hgatp). [number, name, the hart's CSR, context key].
 */
const VCPU_CSRS: Array<[number, string, number, keyof VcpuContext]> = [
  [0x100, 'sstatus', 0x200, 'vsstatus'], [0x105, 'stvec', 0x205, 'vstvec'], [0x140, 'sscratch', 0x240, 'vsscratch'],
  [0x141, 'sepc', 0x241, 'vsepc'], [0x142, 'scause', 0x242, 'vscause'], [0x143, 'stval', 0x243, 'vstval'],
  [0x180, 'satp', 0x280, 'vsatp'], [0x600, 'hstatus', 0x600, 'hstatus'], [0x680, 'hgatp', 0x680, 'hgatp'],
];
const fcsrField = (n: number, f: bigint) => (n === REG_FCSR0 ? f & 0x1fn : n === REG_FCSR0 + 1 ? (f >> 5n) & 7n : f & 0xffn);

// ctl words (Int32Array over the SharedArrayBuffer)
const C_REQ = 0; // 0 idle, 1 request posted (worker), 2 reply posted (host)
const C_REQ_LEN = 1;
const C_REP_LEN = 2; // -1: no reply now
const C_INTR = 3; // 1: Ctrl-C, 2: gdb attached (stop the host)
const C_CONN = 4; // 1 connected
const C_PORT = 5;

/** The worker: TCP server, packet framing, acks; packets go to the host thread one at a time. */
const WORKER_SRC = `
const { workerData, parentPort } = require('node:worker_threads');
const net = require('node:net');
const { sab, host, port } = workerData;
const ctl = new Int32Array(sab, 0, 8);
const req = new Uint8Array(sab, 64, ${BUF});
const rep = new Uint8Array(sab, 64 + ${BUF}, ${BUF});
let sock = null, buf = Buffer.alloc(0), noAck = false;
function sum(b) { let c = 0; for (const x of b) c = (c + x) & 0xff; return c.toString(16).padStart(2, '0'); }
function send(payload) { if (!sock) return; const b = Buffer.from(payload, 'latin1'); sock.write('$' + payload + '#' + sum(b), 'latin1'); }
function ask(body) {
  const n = Math.min(body.length, ${BUF});
  req.set(body.subarray(0, n));
  Atomics.store(ctl, ${C_REQ_LEN}, n);
  Atomics.store(ctl, ${C_REQ}, 1);
  Atomics.notify(ctl, ${C_REQ});
  while (Atomics.load(ctl, ${C_REQ}) === 1) Atomics.wait(ctl, ${C_REQ}, 1, 1000);
  const len = Atomics.load(ctl, ${C_REP_LEN});
  const r = len >= 0 ? Buffer.from(rep.subarray(0, len)).toString('latin1') : null;
  Atomics.store(ctl, ${C_REQ}, 0);
  return r;
}
function onData(d) {
  buf = Buffer.concat([buf, d]);
  for (;;) {
    if (buf.length === 0) return;
    const c = buf[0];
    if (c === 3) { buf = buf.subarray(1); Atomics.store(ctl, ${C_INTR}, 1); Atomics.notify(ctl, ${C_REQ}); continue; }
    if (c === 0x2b || c === 0x2d) { buf = buf.subarray(1); continue; }
    if (c !== 0x24) { const i = buf.indexOf(0x24); buf = i < 0 ? Buffer.alloc(0) : buf.subarray(i); continue; }
    const hash = buf.indexOf(0x23);
    if (hash < 0) { if (buf.length > ${PACKET_SIZE * 2}) buf = Buffer.alloc(0); return; }
    if (buf.length < hash + 3) return;
    const body = buf.subarray(1, hash);
    const s = buf.subarray(hash + 1, hash + 3).toString('latin1');
    buf = buf.subarray(hash + 3);
    if (!noAck) {
      if (s.toLowerCase() !== sum(body)) { sock.write('-'); continue; }
      sock.write('+');
    }
    const r = ask(body);
    if (r !== null) send(r);
    if (body.toString('latin1') === 'QStartNoAckMode') noAck = true;
  }
}
const server = net.createServer((s) => {
  if (sock) { s.end(); return; }
  sock = s; buf = Buffer.alloc(0); noAck = false;
  s.setNoDelay(true);
  Atomics.store(ctl, ${C_CONN}, 1);
  Atomics.store(ctl, ${C_INTR}, 2);
  Atomics.notify(ctl, ${C_REQ});
  s.on('data', onData);
  s.on('error', () => {});
  s.on('close', () => { if (sock !== s) return; sock = null; Atomics.store(ctl, ${C_CONN}, 0); Atomics.notify(ctl, ${C_REQ}); parentPort.postMessage({ disconnected: true }); });
});
server.on('error', (e) => parentPort.postMessage({ error: e.code || e.message }));
server.listen(port, host, () => { Atomics.store(ctl, ${C_PORT}, server.address().port); parentPort.postMessage({ listening: server.address().port }); });
parentPort.on('message', (m) => {
  if (m.send !== undefined) send(m.send);
  if (m.close) { const done = () => { server.close(); parentPort.postMessage({ closed: true }); }; if (sock) sock.end(done); else done(); }
});
`;


/**
 * Guest-physical address of `va` through a vCPU's vsatp (Bare, Sv39, Sv48, Sv57; Priv §10.3-10.6),
 * reading PTEs with `read8` only (no A/D update, nothing cached); null: no leaf. `read8` throws
 * for an address outside the VM's RAM (the caller answers E14).
 */
export function vsWalk(read8: (gpa: number) => Uint8Array, vsatp: bigint, va: bigint): number | null {
  const mode = Number(vsatp >> 60n);
  if (mode === 0) return va <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(va) : null;
  const levels = mode === 8 ? 3 : mode === 9 ? 4 : mode === 10 ? 5 : 0;
  if (levels === 0) return null;
  const bits = 12 + 9 * levels;
  // The va must be sign-extended from bit bits-1.
  if (BigInt.asUintN(64, BigInt.asIntN(bits, va)) !== va) return null;
  let table = (vsatp & ((1n << 44n) - 1n)) << 12n;
  for (let i = levels - 1; i >= 0; i--) {
    const vpn = (va >> BigInt(12 + 9 * i)) & 0x1ffn;
    const pte = Buffer.from(read8(Number(table + vpn * 8n))).readBigUInt64LE();
    if ((pte & 1n) === 0n || ((pte & 2n) === 0n && (pte & 4n) !== 0n)) return null;
    const ppn = (pte >> 10n) & ((1n << 44n) - 1n);
    if ((pte & 0xan) !== 0n) {
      // A leaf (R or X): a superpage keeps the va's lower VPNs (misaligned: no translation).
      const low = (1n << BigInt(12 + 9 * i)) - 1n;
      if (((ppn << 12n) & low) !== 0n) return null;
      return Number((ppn << 12n) | (va & low));
    }
    table = ppn << 12n;
  }
  return null;
}

interface Thread {
  pid: number;
  tid: number;
}

export class HostGdbStub {
  private readonly ctl: Int32Array;
  private readonly req: Uint8Array;
  private readonly rep: Uint8Array;
  private worker: Worker | null = null;
  readonly tables: CoreDebug;
  private g: Thread = { pid: 1, tid: 1 };
  private c: Thread = { pid: 1, tid: 1 };
  /** Where the host is stopped inside a vCPU run: that vCPU is loaded in host hart `hart`. */
  private loaded: { vm: Vm; v: Vcpu; hart: number } | null = null;
  private readonly points: RspPoints;
  /** The vCPU gdb single-steps (null: none). */
  private stepTarget: Thread | null = null;
  private stopText = 'S05';
  private resumed = false;
  private killed = false;
  private readonly hasFp = true;

  constructor(
    private readonly host: Host,
    private readonly log: (line: string) => void = () => {},
  ) {
    const sab = new SharedArrayBuffer(64 + 2 * BUF);
    this.ctl = new Int32Array(sab, 0, 8);
    this.req = new Uint8Array(sab, 64, BUF);
    this.rep = new Uint8Array(sab, 64 + BUF, BUF);
    this.tables = new CoreDebug(host.core);
    this.points = new RspPoints(this.tables);
    for (const vm of host.vms) vm.debug = this;
  }

  /** Start the server; resolves with the port (0 picks a free one). */
  listen(hostName: string, port: number): Promise<number> {
    const w = new Worker(WORKER_SRC, { eval: true, workerData: { sab: this.ctl.buffer, host: hostName, port } });
    this.worker = w;
    w.unref();
    return new Promise((res, rej) => {
      w.on('message', (m: { listening?: number; error?: string; disconnected?: boolean }) => {
        if (m.listening !== undefined) res(m.listening);
        if (m.error !== undefined) rej(new Error(m.error));
        if (m.disconnected) this.log('gdb: disconnected');
      });
      w.on('error', rej);
    });
  }

  get connected(): boolean {
    return Atomics.load(this.ctl, C_CONN) === 1;
  }
  get wasKilled(): boolean {
    return this.killed;
  }

  /** Ctrl-C or an attach is waiting (the host loop yields and calls pauseBetweenRounds). */
  interruptPending(): boolean {
    return Atomics.load(this.ctl, C_INTR) !== 0;
  }

  /** -S: block until gdb connects and resumes the host. */
  waitForGdb(): void {
    while (!this.connected) Atomics.wait(this.ctl, C_REQ, 0, 100);
    Atomics.store(this.ctl, C_INTR, 0);
    this.stopText = this.stopReply('05', this.firstThread());
    this.serve(false);
  }

  /** Between host slices (no vCPU loaded): serve a pending Ctrl-C or attach. */
  pauseBetweenRounds(): 'resume' | 'kill' {
    const why = Atomics.exchange(this.ctl, C_INTR, 0);
    if (why === 0 || !this.connected) return 'resume';
    const t = this.firstThread();
    this.g = t;
    this.c = t;
    this.stopText = this.stopReply(why === 1 ? '02' : '05', t);
    this.serve(why === 1);
    return this.killed ? 'kill' : 'resume';
  }

  /** The host run ended: gdb hears that the process (VM 1) exited. */
  async finish(code: number): Promise<void> {
    const w = this.worker;
    if (!w) return;
    if (this.connected && !this.killed) w.postMessage({ send: `W${Math.max(0, Math.min(255, code)).toString(16).padStart(2, '0')};process:1` });
    await new Promise<void>((res) => {
      const t = setTimeout(res, 1000);
      w.on('message', (m: { closed?: boolean }) => {
        if (m.closed) {
          clearTimeout(t);
          res();
        }
      });
      w.postMessage({ close: true });
    });
    await w.terminate();
    this.worker = null;
  }

  // ------------------------------------------------------------------ the VMM's hooks (vm.ts)

  enter(vm: Vm, v: Vcpu, hart: number): void {
    const s = this.stepTarget;
    const want = s !== null && s.pid === vm.id && s.tid === v.index + 1 ? hart : null;
    if (this.tables.stepping !== want) this.tables.setStep(want);
  }

  stop(vm: Vm, v: Vcpu, hart: number): 'resume' | 'kill' {
    const stop = this.tables.takeStop();
    const me: Thread = { pid: vm.id, tid: v.index + 1 };
    let sig: string | null = null;
    let extra = '';
    if (stop.reason === StopReason.Exec) {
      if ([...this.points.values()].some((p) => p.type < 2 && p.scope === vm.id && p.addr === stop.pc)) {
        sig = '05';
        extra = 'swbreak:;';
      }
    } else if (stop.reason === StopReason.Step) {
      if (this.stepTarget && this.stepTarget.pid === me.pid && this.stepTarget.tid === me.tid) sig = '05';
    }
    for (const hit of stop.hits ?? []) {
      const p = [...this.points.values()].find((q) => q.type >= 2 && q.id === hit.id && q.scope === vm.id);
      if (p && sig === null) {
        sig = '05';
        extra = `${p.type === 2 ? 'watch' : p.type === 3 ? 'rwatch' : 'awatch'}:${p.addr.toString(16)};`;
      }
    }
    if (sig === null) return 'resume'; // another inferior's point: go on (the cut block resumes exactly)
    if (!this.connected) return 'resume';
    this.tables.setStep(null);
    this.stepTarget = null;
    this.g = me;
    this.c = me;
    this.loaded = { vm, v, hart };
    this.stopText = this.stopReply(sig, me, extra);
    this.worker?.postMessage({ send: this.stopText });
    this.serve(false);
    this.loaded = null;
    if (this.killed) return 'kill';
    // The vCPU that stopped may be the one to step: it is loaded, so arm the step now.
    this.enter(vm, v, hart);
    return 'resume';
  }

  // ------------------------------------------------------------------ serving

  /** Serve packets until gdb resumes (c, s, vCont), detaches, kills or disconnects. */
  private serve(sendStop: boolean): void {
    if (sendStop) this.worker?.postMessage({ send: this.stopText });
    this.resumed = false;
    while (!this.resumed && !this.killed) {
      if (!this.connected) {
        // gdb went away without detach: its points and step go, the host runs on (as for run/boot).
        this.points.clear();
        this.stepTarget = null;
        this.tables.setStep(null);
        return;
      }
      if (Atomics.load(this.ctl, C_REQ) !== 1) {
        Atomics.wait(this.ctl, C_REQ, 0, 100);
        continue;
      }
      Atomics.store(this.ctl, C_INTR, 0); // a Ctrl-C while stopped means nothing
      const n = Atomics.load(this.ctl, C_REQ_LEN);
      const body = this.req.slice(0, n);
      let reply: string | null;
      try {
        reply = this.handle(body);
      } catch {
        reply = 'E01';
      }
      if (reply === null) Atomics.store(this.ctl, C_REP_LEN, -1);
      else {
        const b = Buffer.from(reply, 'latin1');
        this.rep.set(b.subarray(0, BUF));
        Atomics.store(this.ctl, C_REP_LEN, Math.min(b.length, BUF));
      }
      Atomics.store(this.ctl, C_REQ, 2);
      Atomics.notify(this.ctl, C_REQ);
    }
  }

  private firstThread(): Thread {
    const vm = this.host.vms.find((v) => v.state === 'running') ?? this.host.vms[0];
    return { pid: vm ? vm.id : 1, tid: 1 };
  }
  private tid(t: Thread): string {
    return `p${t.pid.toString(16)}.${t.tid.toString(16)}`;
  }
  private stopReply(sig: string, t: Thread, extra = ''): string {
    return `T${sig}thread:${this.tid(t)};${extra}`;
  }
  private vmOf(t: Thread): Vm | null {
    return this.host.vms[t.pid - 1] ?? null;
  }
  private vcpuOf(t: Thread): Vcpu | null {
    return this.vmOf(t)?.vcpus[t.tid - 1] ?? null;
  }
  /** A thread id (pPID.TID, -1, 0, hex) -> Thread; pid/tid -1 or 0 mean any (first). */
  private parseThread(s: string): Thread | null {
    const m = /^p([0-9a-fA-F]+|-1)\.([0-9a-fA-F]+|-1)$/.exec(s);
    let pid = this.g.pid;
    let t = s;
    if (m) {
      pid = m[1] === '-1' ? 1 : parseInt(m[1]!, 16);
      t = m[2]!;
    } else if (/^p([0-9a-fA-F]+)$/.test(s)) {
      pid = parseInt(s.slice(1), 16);
      t = '1';
    }
    if (pid === 0) pid = 1;
    let tid = t === '-1' ? 1 : parseInt(t, 16);
    if (!Number.isFinite(tid)) return null;
    if (tid === 0) tid = 1;
    const r = { pid, tid };
    return this.vcpuOf(r) ? r : null;
  }

  private handle(raw: Uint8Array): string | null {
    const p = Buffer.from(raw).toString('latin1');
    switch (p[0]) {
      case '?':
        return this.stopText;
      case 'q':
        return this.query(p);
      case 'Q':
        return p === 'QStartNoAckMode' ? 'OK' : '';
      case 'H': {
        const t = this.parseThread(p.slice(2));
        if (t === null) return 'E01';
        if (p[1] === 'g') this.g = t;
        else if (p[1] === 'c') this.c = t;
        else return 'E01';
        return 'OK';
      }
      case 'T':
        return this.parseThread(p.slice(1)) ? 'OK' : 'E01';
      case 'g': {
        let s = '';
        for (let r = 0; r <= REG_PC; r++) s += this.readReg(r)!;
        return s;
      }
      case 'G':
        return 'E01';
      case 'p': {
        if (!/^p[0-9a-fA-F]{1,8}$/.test(p)) return 'E01';
        return this.readReg(parseInt(p.slice(1), 16)) ?? 'E01';
      }
      case 'P':
        return writeRegPacket(p, (n, v) => this.writeReg(n, v));
      case 'm':
      case 'M':
      case 'X':
        return memoryPacket(raw, { read: (va, len) => this.readMem(va, len), write: (va, data) => this.writeMem(va, data) });
      case 'Z':
      case 'z':
        return this.points.packet(p, this.g.pid);
      case 'c':
      case 'C':
        return this.resume(null);
      case 's':
      case 'S':
        return this.resume(this.c);
      case 'v':
        return this.vPacket(p);
      case 'D':
        this.points.clear();
        this.stepTarget = null;
        this.tables.setStep(null);
        this.resumed = true;
        return 'OK';
      case 'k':
        this.kill();
        return null;
      default:
        return '';
    }
  }

  private kill(): void {
    this.points.clear();
    this.tables.setStep(null);
    this.killed = true;
  }

  private resume(step: Thread | null): null {
    this.stepTarget = step;
    if (step === null) this.tables.setStep(null);
    else if (this.loaded && this.loaded.vm.id === step.pid && this.loaded.v.index + 1 === step.tid) this.tables.setStep(this.loaded.hart);
    else this.tables.setStep(null); // armed when that vCPU is loaded (enter)
    this.resumed = true;
    return null;
  }

  private vPacket(p: string): string | null {
    if (p === 'vCont?') return 'vCont;c;C;s;S;t';
    if (p.startsWith('vCont;')) {
      let step: Thread | null = null;
      for (const a of p.slice(6).split(';')) {
        const [act, th] = a.split(':');
        if (!act) return 'E01';
        if (act[0] === 't') continue;
        if (act[0] === 's' || act[0] === 'S') {
          const t = th === undefined ? this.c : this.parseThread(th);
          if (t === null) return 'E01';
          step ??= t;
        } else if (act[0] !== 'c' && act[0] !== 'C') return 'E01';
      }
      if (p.slice(6).split(';').every((a) => a.startsWith('t'))) return 'OK';
      return this.resume(step);
    }
    if (p.startsWith('vKill')) {
      this.kill();
      return 'OK';
    }
    return '';
  }

  private query(p: string): string {
    if (p.startsWith('qSupported')) return `PacketSize=${PACKET_SIZE.toString(16)};qXfer:features:read+;qXfer:exec-file:read+;multiprocess+;vContSupported+;swbreak+;hwbreak+;QStartNoAckMode+`;
    if (p.startsWith('qXfer:features:read:')) return featuresRead(p, () => this.targetXml());
    if (p.startsWith('qXfer:exec-file:read:')) {
      // The VM's kernel file: gdb loads each inferior's ELF itself (symbols and architecture).
      const m = /^qXfer:exec-file:read:([0-9a-fA-F]*):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p);
      if (!m) return 'E01';
      const vm = this.host.vms[(m[1] ? parseInt(m[1], 16) : this.g.pid) - 1];
      const k = vm?.spec.kernel;
      if (typeof k !== 'string') return 'E00';
      const path = resolve(k);
      const off = parseInt(m[2]!, 16);
      const len = Math.min(parseInt(m[3]!, 16), PACKET_SIZE - 8);
      return (off + len >= path.length ? 'l' : 'm') + path.slice(off, off + len);
    }
    if (p === 'qfThreadInfo') {
      const ids: string[] = [];
      for (const vm of this.host.vms) for (const v of vm.vcpus) ids.push(this.tid({ pid: vm.id, tid: v.index + 1 }));
      return 'm' + ids.join(',');
    }
    if (p === 'qsThreadInfo') return 'l';
    if (p === 'qC') return 'QC' + this.tid(this.g);
    if (p.startsWith('qAttached')) return '1';
    if (p.startsWith('qThreadExtraInfo,')) {
      const t = this.parseThread(p.slice(17));
      if (t === null) return 'E01';
      return Buffer.from(`vm ${this.vmOf(t)!.name} vcpu ${t.tid - 1}`, 'latin1').toString('hex');
    }
    if (p === 'qSymbol::') return 'OK';
    if (p === 'qOffsets') return 'Text=0;Data=0;Bss=0';
    return '';
  }

  /** Z / z, owned by the process of the thread selected with Hg. */
  // ------------------------------------------------------------------ registers and memory

  /** The host hart the selected thread is loaded in, or null (its state is the saved context). */
  private liveHart(t: Thread): number | null {
    const l = this.loaded;
    return l && l.vm.id === t.pid && l.v.index + 1 === t.tid ? l.hart : null;
  }

  private readReg(n: number): string | null {
    const v = this.vcpuOf(this.g);
    if (!v) return null;
    const h = this.liveHart(this.g);
    const core = this.host.core;
    if (h !== null) {
      if (n < 32) return hex64le(core.get64(core.hartField(h, L.H_X + n * 8)));
      if (n === REG_PC) return hex64le(core.get64(core.hartField(h, L.H_PC)));
      if (this.hasFp && n >= REG_F0 && n < REG_F0 + 32) return hex64le(core.get64(core.hartField(h, L.H_F + (n - REG_F0) * 8)));
      if (n === REG_PRIV) return hex64le(core.get64(core.hartField(h, L.H_PRIV)) | (core.get64(core.hartField(h, L.H_VIRT)) << 2n));
      if (n >= REG_FCSR0 && n < REG_FCSR0 + 3) return hex64le(fcsrField(n, core.get64(core.hartField(h, L.H_FCSR))));
      const c = VCPU_CSRS.find((e) => 65 + e[0] === n);
      if (c) {
        const val = core.ex.dbgCsrRead(c[2], h);
        return core.ex.dbgCsrStatus() === 0 ? null : hex64le(BigInt.asUintN(64, val));
      }
      return null;
    }
    const c = v.ctx;
    if (n === 0) return hex64le(0n);
    if (n < 32) return hex64le(c.x[n]!);
    if (n === REG_PC) return hex64le(c.pc);
    if (this.hasFp && n >= REG_F0 && n < REG_F0 + 32) return hex64le(c.f[n - REG_F0]!);
    if (n === REG_PRIV) return hex64le(BigInt(c.priv) | 4n);
    if (n >= REG_FCSR0 && n < REG_FCSR0 + 3) return hex64le(fcsrField(n, BigInt(c.fcsr)));
    const e = VCPU_CSRS.find((q) => 65 + q[0] === n);
    if (e) return hex64le(c[e[3]] as bigint);
    return null;
  }

  private writeReg(n: number, val: bigint): boolean {
    const v = this.vcpuOf(this.g);
    if (!v) return false;
    const h = this.liveHart(this.g);
    const core = this.host.core;
    if (n === 0) return true;
    if (h !== null) {
      if (n < 32) core.set64(core.hartField(h, L.H_X + n * 8), val);
      else if (n === REG_PC) {
        core.set64(core.hartField(h, L.H_PC), val);
        this.tables.clearSkip();
      } else if (this.hasFp && n >= REG_F0 && n < REG_F0 + 32) core.set64(core.hartField(h, L.H_F + (n - REG_F0) * 8), val);
      else return false;
      return true;
    }
    if (n < 32) v.ctx.x[n] = val;
    else if (n === REG_PC) v.ctx.pc = val;
    else if (this.hasFp && n >= REG_F0 && n < REG_F0 + 32) v.ctx.f[n - REG_F0] = val;
    else return false;
    return true;
  }

  /**
   * Guest memory at virtual `va` as the selected vCPU sees it: a loaded vCPU through the core's
   * side-effect-free translation (vsatp then hgatp); a saved one through its vsatp (guestPhys) and
   * its VM's guest-physical memory. Only RAM: anything else answers E14.
   */
  private readMem(va: bigint, len: number): Uint8Array | null {
    const h = this.liveHart(this.g);
    if (h !== null) return this.tables.readVirt(va, len, h);
    const v = this.vcpuOf(this.g);
    const vm = this.vmOf(this.g);
    if (!v || !vm) return null;
    const out = new Uint8Array(len);
    let done = 0;
    try {
      while (done < len) {
        const a = BigInt.asUintN(64, va + BigInt(done));
        const n = Math.min(len - done, 4096 - Number(a & 0xfffn));
        const gpa = this.guestPhys(vm, v.ctx.vsatp, a);
        if (gpa === null) return null;
        out.set(vm.memory.read(gpa, n), done);
        done += n;
      }
    } catch {
      return null; // outside the VM's RAM
    }
    return out;
  }

  private guestPhys(vm: Vm, vsatp: bigint, va: bigint): number | null {
    return vsWalk((gpa) => vm.memory.read(gpa, 8), vsatp, va);
  }
  private writeMem(va: bigint, data: Uint8Array): boolean {
    const h = this.liveHart(this.g);
    if (h !== null) return this.tables.writeVirt(va, data, h);
    const v = this.vcpuOf(this.g);
    const vm = this.vmOf(this.g);
    if (!v || !vm) return false;
    try {
      const pieces: Array<[number, number, number]> = [];
      for (let done = 0; done < data.length; ) {
        const a = BigInt.asUintN(64, va + BigInt(done));
        const n = Math.min(data.length - done, 4096 - Number(a & 0xfffn));
        const gpa = this.guestPhys(vm, v.ctx.vsatp, a);
        if (gpa === null) return false;
        vm.memory.read(gpa, n); // bounds first: all or nothing
        pieces.push([gpa, done, n]);
        done += n;
      }
      for (const [gpa, off, n] of pieces) vm.memory.write(gpa, data.subarray(off, off + n));
      this.host.core.ex.dbgWatchChanged(); // drops the host TLB (decoded code of the page is re-decoded)
      return true;
    } catch {
      return false;
    }
  }

  private targetXml(): string {
    return riscvTargetXml(true, VCPU_CSRS.map(([num, name]) => [num, name] as const));
  }
}
