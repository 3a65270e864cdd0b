/**
 * Live migration between two `cyclevisor host` processes (issue 12 scope 5): pre-copy as in
 * Clark et al., "Live Migration of Virtual Machines" (NSDI 2005). The source logs the VM's dirty
 * pages through its G-stage (dirty-log.ts: D bits, no cost to the guest), sends every non-zero
 * page, then, round after round, the pages dirtied while the previous round crossed the link,
 * until the dirty set is small (≤ STOP_PAGES) or ROUND_LIMIT rounds; then it stops the VM, sends
 * the last dirty pages and the device/vCPU state (a snapshot without RAM, snapshot.ts), and the
 * target resumes it. The source keeps it until the target acknowledges: a dropped connection or a
 * refusal at any point leaves the source VM running as before (its dirty log switched off).
 *
 * The link is modeled (`--bandwidth`, default 1 Gbit/s): a round of B bytes takes B·8/bandwidth
 * seconds, i.e. that many cycles at the host's cpuHz, during which the VM runs on (the source
 * waits until the VM's clock has advanced that far: the VM's clock is its host hart's time while it
 * runs, and jumps while it idles). Downtime, in host cycles, is the stop-and-copy round's link
 * time: the VM's clock stands still meanwhile, so the downtime the guest can see is zero by
 * construction; the wall milliseconds are reported beside it. Disks: shared storage by default
 * (the same paths on both hosts; nothing sent); `copyStorage` sends their contents with the final
 * state (QEMU's block migration, here in the stop-and-copy round only).
 *
 * The stream: frames of [type u8][length u32 LE][payload]. HELLO (JSON: protocol version, the VM's
 * spec, timing, copyStorage) → ACCEPT / REFUSE (JSON); PAGES (deflate of: count u32, indexes u32[],
 * pages 4 KiB each); STATE (a snapshot file without RAM); the target answers DONE or REFUSE.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { deflateSync, inflateSync } from 'node:zlib';
import { UserError, formatSize } from '../errors.js';
import { ControlError, type MigrationReport } from './control-api.js';
import { DirtyLog } from './dirty-log.js';
import { GUEST_RAM_BASE, PAGE } from './memory.js';
import { applySnapshot, captureVm, checkFits, decodeSnapshot, encodeSnapshot, SnapshotFormatError, sparseOf } from './snapshot.js';
import type { Host } from './host.js';
import type { Vm } from './vm.js';
import type { VmSpec } from './types.js';

export const MIGRATION_PROTOCOL = 1;
export const DEFAULT_BANDWIDTH = 1e9;
/** Stop pre-copying when a round has at most this many dirty pages (1 MiB)... */
export const STOP_PAGES = 256;
/** ...or after this many pre-copy rounds. */
export const ROUND_LIMIT = 30;
/** The largest frame accepted (a STATE with copied disks can be large). */
const MAX_FRAME = 1024 * 1024 * 1024;
/** Pages per PAGES frame. */
const FRAME_PAGES = 1024;

const enum F {
  Hello = 1,
  Accept = 2,
  Refuse = 3,
  Pages = 4,
  State = 5,
  Done = 6,
}

/** `tcp:HOST:PORT` → host and port (one line when malformed). */
export function parseTcpUri(uri: string, what: string): { host: string; port: number } {
  const m = /^tcp:(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(uri);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new UserError(`${what} ${uri}: expected tcp:HOST:PORT (e.g. tcp:127.0.0.1:7777)`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function frame(type: F, payload: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt8(type, 0);
  h.writeUInt32LE(payload.length, 1);
  return Buffer.concat([h, payload]);
}
const json = (type: F, o: unknown) => frame(type, Buffer.from(JSON.stringify(o), 'utf8'));

/** Frames from a socket, one at a time; rejects when the connection ends. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private closed: string | null = null;
  constructor(private readonly sock: Socket) {
    sock.on('data', (b: Buffer) => {
      this.buf = this.buf.length === 0 ? b : Buffer.concat([this.buf, b]);
      this.wake();
    });
    sock.on('close', () => {
      this.closed ??= 'the connection closed';
      this.wake();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      this.closed = `the connection failed (${e.code ?? e.message})`;
      this.wake();
    });
  }
  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
  async next(): Promise<{ type: F; payload: Buffer }> {
    for (;;) {
      if (this.buf.length >= 5) {
        const len = this.buf.readUInt32LE(1);
        // Not our protocol (another program connected): say so now rather than wait for 4 GiB.
        if (this.buf[0]! < F.Hello || this.buf[0]! > F.Done || len > MAX_FRAME) throw new Error('not a cyclevisor migration stream');
        if (this.buf.length >= 5 + len) {
          const type = this.buf.readUInt8(0) as F;
          const payload = this.buf.subarray(5, 5 + len);
          this.buf = this.buf.subarray(5 + len);
          return { type, payload };
        }
      }
      if (this.closed !== null) throw new Error(this.closed);
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
}

function write(sock: Socket, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (sock.destroyed) return reject(new Error('the connection closed'));
    sock.write(b, (e) => (e ? reject(e) : resolve()));
  });
}

function pagesFrame(vm: Vm, pages: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * pages.length);
  head.writeUInt32LE(pages.length, 0);
  pages.forEach((p, i) => head.writeUInt32LE(p, 4 + 4 * i));
  const parts = [head];
  // view, not read: a hole (ballooned chunk) reads as zeros without being backed (the guest would
  // not fault on it later, as it does without migration).
  for (const p of pages) parts.push(Buffer.from(vm.memory.view(GUEST_RAM_BASE + p * PAGE, PAGE)));
  return frame(F.Pages, deflateSync(Buffer.concat(parts), { level: 1 }));
}

// ------------------------------------------------------------------------------------ source

export interface MigrationDeps {
  host: Host;
  /** The VM left for the target: the runner marks it (state shut off, reason 'migrated'). */
  migratedAway(vm: Vm): void;
  /** Tests: wall-clock source (default performance.now). */
  now?: () => number;
}

/** Pages of `granularity`-byte units → 4 KiB page indexes. */
function toPages(units: number[], granularity: number, memBytes: number): number[] {
  if (granularity === PAGE) return units;
  const per = granularity / PAGE;
  const out: number[] = [];
  for (const u of units) for (let k = 0; k < per && (u * per + k) * PAGE < memBytes; k++) out.push(u * per + k);
  return out;
}

/**
 * Live-migrate `vm` to the host listening at `uri`. Resolves with the report once the target runs
 * it; rejects with a ControlError (one line) otherwise, the VM still running here.
 */
export async function migrateOut(d: MigrationDeps, vm: Vm, uri: string, opts: { bandwidth?: number; copyStorage?: boolean } = {}): Promise<MigrationReport> {
  const { host } = d;
  const now = d.now ?? (() => performance.now());
  if (vm.state !== 'running') throw new ControlError('InvalidState', `${vm.name}: domain is not running`);
  let addr: { host: string; port: number };
  try {
    addr = parseTcpUri(uri, 'migrate');
  } catch (e) {
    throw new ControlError('Failed', (e as Error).message);
  }
  const bw = opts.bandwidth ?? DEFAULT_BANDWIDTH;
  const cpuHz = host.timing.cpuHz;
  const linkCycles = (bytes: number) => Math.ceil(((bytes * 8) / bw) * cpuHz);
  const t0 = now();
  const sock = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection(addr.port, addr.host);
    s.once('connect', () => resolve(s));
    s.once('error', (e: NodeJS.ErrnoException) => reject(new ControlError('Failed', `migrate: cannot connect to ${uri} (${e.code ?? e.message})`)));
  });
  sock.setNoDelay(true);
  const reader = new FrameReader(sock);
  const log = new DirtyLog(host.core, vm.memory, vm.id);
  let paused = false;
  const fail = (why: string): never => {
    const here = vm.state === 'running' || paused ? `; ${vm.name} keeps running here` : '';
    throw new ControlError('Failed', `migrate ${vm.name} to ${uri}: ${why}${here}`);
  };
  try {
    const spec = vm.spec;
    await write(
      sock,
      json(F.Hello, {
        protocol: MIGRATION_PROTOCOL,
        spec: {
          name: spec.name,
          vcpus: spec.vcpus,
          memoryBytes: spec.memoryBytes,
          kernel: typeof spec.kernel === 'string' ? spec.kernel : null,
          initrd: typeof spec.initrd === 'string' ? spec.initrd : null,
          cmdline: spec.cmdline ?? null,
          weight: spec.weight ?? 256,
          cap: spec.cap ?? null,
          disks: spec.disks ?? [],
          balloon: vm.balloon !== null,
        },
        timing: { cpuHz, timebaseHz: host.timing.timebaseHz },
        copyStorage: opts.copyStorage ?? false,
      }),
    );
    const hello = await reader.next();
    if (hello.type === F.Refuse) fail(`the target refused: ${(JSON.parse(hello.payload.toString('utf8')) as { error: string }).error}`);
    if (hello.type !== F.Accept) fail('the target answered something else than ACCEPT');

    // Round 0: every non-zero page. The log starts first, so a page written meanwhile is sent again.
    log.start();
    const pagesPerRound: number[] = [];
    let bytes = 0;
    let totalCycles = 0;
    const sendPages = async (pages: number[]): Promise<number> => {
      let b = 0;
      for (let i = 0; i < pages.length; i += FRAME_PAGES) {
        const f = pagesFrame(vm, pages.slice(i, i + FRAME_PAGES));
        await write(sock, f);
        b += f.length;
      }
      return b;
    };
    /** Let the VM run for the link time of a round (its clock; a VM that cannot run does not hold it up). */
    const runFor = async (cycles: number): Promise<void> => {
      const until = vm.now + cycles;
      let last = vm.now;
      let still = now();
      while (vm.now < until && vm.state === 'running') {
        await new Promise((r) => setTimeout(r, 1));
        if (vm.now !== last) {
          last = vm.now;
          still = now();
        } else if (now() - still > 200) break; // the VM waits for input nothing will send
      }
    };
    const first = sparseOf(vm.memory.bytes, PAGE, (off, len) => vm.memory.view(GUEST_RAM_BASE + off, len)).present;
    let round = first;
    let rounds = 0;
    for (;;) {
      const b = await sendPages(round);
      pagesPerRound.push(round.length);
      bytes += b;
      rounds++;
      const c = linkCycles(b);
      totalCycles += c;
      await runFor(c);
      if (vm.state !== 'running') fail(`the VM stopped running here (${vm.state})`);
      round = toPages(log.harvest(), log.granularity, vm.memory.bytes);
      if (round.length <= STOP_PAGES || rounds >= ROUND_LIMIT) break;
    }

    // Stop-and-copy: the VM stands still (its clock too) while the rest crosses the link.
    const tStop = now();
    vm.state = 'paused';
    paused = true;
    const last = toPages(log.harvest(), log.granularity, vm.memory.bytes);
    const merged = [...new Set([...round, ...last])].sort((a, b) => a - b);
    let b = await sendPages(merged);
    pagesPerRound.push(merged.length);
    vm.state = 'running'; // captured as running: the target resumes it
    const state = encodeSnapshot(captureVm(vm, host.timing, { ram: false, disks: opts.copyStorage ?? false }));
    vm.state = 'paused';
    const sf = frame(F.State, state);
    await write(sock, sf);
    b += sf.length;
    bytes += b;
    const downtimeCycles = linkCycles(b);
    totalCycles += downtimeCycles;
    const done = await reader.next();
    if (done.type === F.Refuse) fail(`the target refused the state: ${(JSON.parse(done.payload.toString('utf8')) as { error: string }).error}`);
    if (done.type !== F.Done) fail('the target did not confirm');
    const tEnd = now();
    // The target runs it now: leave the source's copy.
    log.stop();
    paused = false;
    d.migratedAway(vm);
    sock.end();
    return {
      rounds,
      pagesPerRound,
      bytes,
      downtimeCycles,
      downtimeMs: tEnd - tStop,
      totalCycles,
      totalMs: tEnd - t0,
      bandwidthBitsPerSecond: bw,
    };
  } catch (e) {
    log.stop();
    if (paused) vm.state = 'running';
    sock.destroy();
    if (e instanceof ControlError) throw e;
    return fail((e as Error).message);
  }
}

// ------------------------------------------------------------------------------------ target

export interface IncomingDeps {
  host: Host;
  /** A VM of this name defined on this host, or null. */
  findVm(name: string): Vm | null;
  /** Define a VM from the source's spec (memory from the pool: UserError when it does not fit). */
  defineVm(spec: VmSpec): Vm;
  /** The migrated VM runs here now (events, bookkeeping). */
  arrived(vm: Vm): void;
}

/** `--incoming tcp:HOST:PORT`: accepts migrations, one connection at a time. */
export class IncomingServer {
  private busy = false;
  /** Migrations completed here. */
  received = 0;
  private constructor(
    private readonly server: Server,
    private readonly deps: IncomingDeps,
  ) {}

  static async listen(uri: string, deps: IncomingDeps): Promise<IncomingServer> {
    const { host, port } = parseTcpUri(uri, '--incoming');
    const server = createServer();
    const s = new IncomingServer(server, deps);
    server.on('connection', (sock) => void s.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new UserError(`--incoming ${uri}: cannot listen (${e.code === 'EADDRINUSE' ? 'address in use' : (e.code ?? e.message)})`)));
      server.listen(port, host, () => resolve());
    });
    return s;
  }

  get inProgress(): boolean {
    return this.busy;
  }

  private async serve(sock: Socket): Promise<void> {
    const reader = new FrameReader(sock);
    const refuse = (error: string) => {
      if (!sock.destroyed) sock.end(json(F.Refuse, { error }));
    };
    if (this.busy) return refuse('another migration is in progress');
    this.busy = true;
    let vm: Vm | null = null;
    let created = false;
    try {
      const hello = await reader.next();
      if (hello.type !== F.Hello) return refuse('expected HELLO');
      const h = JSON.parse(hello.payload.toString('utf8')) as {
        protocol: number;
        spec: { name: string; vcpus: number; memoryBytes: number; kernel: string | null; initrd: string | null; cmdline: string | null; weight: number; cap: number | null; disks: VmSpec['disks']; balloon?: boolean };
        timing: { cpuHz: number; timebaseHz: number };
        copyStorage: boolean;
      };
      if (h.protocol !== MIGRATION_PROTOCOL) return refuse(`migration protocol ${h.protocol}; this host speaks ${MIGRATION_PROTOCOL}`);
      const t = this.deps.host.timing;
      if (h.timing.cpuHz !== t.cpuHz || h.timing.timebaseHz !== t.timebaseHz) return refuse(`the source runs at ${h.timing.cpuHz} Hz / ${h.timing.timebaseHz} Hz, this host at ${t.cpuHz} / ${t.timebaseHz}`);
      // Before anything moves: a VM slot here, with the memory for it.
      const existing = this.deps.findVm(h.spec.name);
      if (existing) {
        if (existing.state === 'running' || existing.state === 'paused') return refuse(`${h.spec.name} is ${existing.state} on this host`);
        if (existing.spec.vcpus !== h.spec.vcpus || existing.memory.bytes !== h.spec.memoryBytes) {
          return refuse(`${h.spec.name} is defined here with ${existing.spec.vcpus} vCPUs and ${formatSize(existing.memory.bytes)}, the source's has ${h.spec.vcpus} and ${formatSize(h.spec.memoryBytes)}`);
        }
        vm = existing;
      } else {
        if (h.spec.kernel === null) return refuse(`${h.spec.name} has no kernel file the target could reload on reboot`);
        try {
          vm = this.deps.defineVm({
            name: h.spec.name,
            vcpus: h.spec.vcpus,
            memoryBytes: h.spec.memoryBytes,
            kernel: h.spec.kernel,
            ...(h.spec.initrd !== null ? { initrd: h.spec.initrd } : {}),
            ...(h.spec.cmdline !== null ? { cmdline: h.spec.cmdline } : {}),
            weight: h.spec.weight,
            ...(h.spec.cap !== null ? { cap: h.spec.cap } : {}),
            autostart: false,
            disks: h.spec.disks ?? [],
            // Absent (an older source): the default, a balloon.
            ...(h.spec.balloon !== undefined ? { balloon: h.spec.balloon } : {}),
          });
          created = true;
        } catch (e) {
          return refuse(e instanceof Error ? e.message : String(e));
        }
      }
      const target = vm;
      const mem = target.memory;
      for (let off = 0; off < mem.bytes; off += 2 * 1024 * 1024) mem.zero(GUEST_RAM_BASE + off, Math.min(2 * 1024 * 1024, mem.bytes - off));
      sock.write(json(F.Accept, {}));
      for (;;) {
        const f = await reader.next();
        if (f.type === F.Pages) {
          const raw = inflateSync(f.payload);
          const n = raw.readUInt32LE(0);
          if (raw.length !== 4 + n * 4 + n * PAGE) throw new Error('a PAGES frame is malformed');
          for (let i = 0; i < n; i++) {
            const p = raw.readUInt32LE(4 + 4 * i);
            if ((p + 1) * PAGE > mem.bytes) throw new Error(`page ${p} is outside the VM's memory`);
            mem.write(GUEST_RAM_BASE + p * PAGE, raw.subarray(4 + 4 * n + i * PAGE, 4 + 4 * n + (i + 1) * PAGE));
          }
        } else if (f.type === F.State) {
          let s;
          try {
            s = decodeSnapshot(f.payload);
          } catch (e) {
            if (e instanceof SnapshotFormatError) return refuse(`the state is damaged: ${e.message}`);
            throw e;
          }
          const why = checkFits(s, target, t);
          if (why !== null) return refuse(why);
          this.deps.host.replaceVmState(target, () => applySnapshot(target, s, () => this.deps.host.core.hfenceGvma(target.id), { keepRam: true }));
          this.received++;
          this.deps.arrived(target);
          sock.end(frame(F.Done, Buffer.alloc(0)));
          vm = null; // it is ours now
          return;
        } else throw new Error(`unexpected frame ${f.type}`);
      }
    } catch (e) {
      refuse(e instanceof Error ? e.message : String(e));
    } finally {
      // A migration that did not complete leaves nothing running here (the VM stays shut off).
      if (vm !== null && created) vm.state = 'shut off';
      this.busy = false;
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
