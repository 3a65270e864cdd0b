/**
 * The control socket of `cyclevisor host FILE --control PATH` (issue 10 scope 7): a Unix socket
 * speaking JSON lines, shaped like QEMU's QMP. Every message is one JSON object on one line.
 *
 *   server, on connect:  {"greeting":{"program":"cyclevisor","version":"0.1.0","protocol":1,"commands":[...]}}
 *   client request:      {"execute":"dominfo","arguments":{"name":"web"},"id":1}        (id optional, echoed)
 *   server reply:        {"return":{...},"id":1}
 *                     or {"error":{"class":"NotFound","desc":"no domain named 'x'"},"id":1}
 *   server event:        {"event":"DOMAIN_STATE","data":{"name":"web","state":"paused","reason":"user"}}
 *
 * One command, one reply, in order (a connection's next command is read after the reply). Events
 * go to every connection between replies. `console` replies {"return":{}} and then the connection
 * carries the VM's console as raw bytes both ways until either side closes it.
 *
 * Error classes: the ControlError classes (NotFound, InvalidState, NotSupported, Timeout, Failed)
 * for refusals; CommandNotFound, GenericError (malformed request), InternalError.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { UserError } from '../errors.js';
import { CONTROL_ARGS, CONTROL_COMMANDS, ControlError, type ControlCommand, type HostControl, type HostEvent } from './control-api.js';

export const PROTOCOL_VERSION = 1;
/** How long close() waits for commands in flight to reply (ms of wall time). */
const CLOSE_GRACE_MS = 2000;
/** A request line longer than this is refused and the connection closed. */
export const MAX_LINE = 64 * 1024;
/**
 * sun_path of struct sockaddr_un: 108 bytes on Linux, 104 on the BSDs and macOS, including the
 * terminating NUL. Node reports a longer path only as a bare EINVAL/ENAMETOOLONG: say it instead.
 */
export const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

/** One clear line when the socket path does not fit in sockaddr_un. */
export function checkSocketPath(path: string, what: string): void {
  const n = Buffer.byteLength(path);
  if (n === 0) throw new UserError(`${what}: empty socket path`);
  if (n > MAX_SOCKET_PATH) {
    throw new UserError(`${what} ${path}: socket path too long (${n} bytes; this OS allows ${MAX_SOCKET_PATH}): use a shorter path, e.g. in /tmp`);
  }
}

export interface ControlRequest {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
}

type Reply = { return: unknown; id?: unknown } | { error: { class: string; desc: string }; id?: unknown };

function errorReply(cls: string, desc: string, id: unknown): Reply {
  const r: Reply = { error: { class: cls, desc } };
  if (id !== undefined) r.id = id;
  return r;
}

/** Runs one request against the host; never throws (every failure is an error reply). */
export async function dispatch(host: HostControl, req: ControlRequest): Promise<Reply> {
  const id = req.id;
  const cmd = req.execute;
  if (!Object.hasOwn(CONTROL_COMMANDS, cmd)) {
    return errorReply('CommandNotFound', `unknown command '${cmd}' (commands: ${Object.keys(CONTROL_COMMANDS).join(', ')})`, id);
  }
  const takes = CONTROL_COMMANDS[cmd as ControlCommand];
  const args = req.arguments ?? {};
  const name = args['name'];
  if (name !== undefined && typeof name !== 'string') return errorReply('GenericError', `${cmd}: 'name' must be a string`, id);
  if (takes === 'required' && name === undefined) return errorReply('GenericError', `${cmd} needs a domain name`, id);
  if (takes === 'none' && name !== undefined) return errorReply('GenericError', `${cmd} takes no domain name`, id);
  const extra = CONTROL_ARGS[cmd as ControlCommand] ?? [];
  const unknown = Object.keys(args).find((k) => k !== 'name' && !extra.includes(k));
  if (unknown !== undefined) return errorReply('GenericError', `${cmd}: unknown argument '${unknown}'`, id);
  try {
    let ret: unknown = {};
    switch (cmd as Exclude<ControlCommand, 'console'>) {
      case 'list':
        ret = await host.list();
        break;
      case 'dominfo':
        ret = await host.dominfo(name!);
        break;
      case 'domstats':
        ret = await host.domstats(name);
        break;
      case 'snapshot':
      case 'snapshot-list':
      case 'snapshot-revert':
      case 'snapshot-delete':
      case 'migrate':
      case 'balloon':
        ret = await dispatchIssue12(host, cmd, name!, args);
        break;
      case 'start':
      case 'suspend':
      case 'resume':
      case 'shutdown':
      case 'reboot':
      case 'destroy':
        await host[cmd as 'start'](name!);
        break;
    }
    const r: Reply = { return: ret };
    if (id !== undefined) r.id = id;
    return r;
  } catch (e) {
    if (e instanceof ControlError) return errorReply(e.errorClass, e.message, id);
    return errorReply('InternalError', e instanceof Error ? e.message.replace(/\s*\n\s*/g, ' ') : String(e), id);
  }
}

/** Snapshots and migration (issue 12): the optional HostControl methods, checked arguments. */
async function dispatchIssue12(host: HostControl, cmd: string, name: string, args: Record<string, unknown>): Promise<unknown> {
  const str = (k: string): string => {
    const v = args[k];
    if (typeof v !== 'string' || v === '') throw new ControlError('Failed', `${cmd}: '${k}' must be a non-empty string`);
    return v;
  };
  const need = <T>(f: T | undefined): T => {
    if (f === undefined) throw new ControlError('NotSupported', `${cmd}: not supported by this host`);
    return f;
  };
  switch (cmd) {
    case 'snapshot':
      return await need(host.snapshot).call(host, name, str('file'));
    case 'snapshot-list':
      return await need(host.snapshotList).call(host, name);
    case 'snapshot-revert':
      await need(host.snapshotRevert).call(host, name, str('snapshot'));
      return {};
    case 'snapshot-delete':
      await need(host.snapshotDelete).call(host, name, str('snapshot'));
      return {};
    case 'balloon': {
      const size = args['size'];
      if (!(typeof size === 'number' && Number.isInteger(size) && size >= 0)) throw new ControlError('Failed', "balloon: 'size' must be a whole number of bytes");
      await need(host.balloon).call(host, name, size);
      return {};
    }
    default: {
      const bw = args['bandwidth'];
      if (bw !== undefined && !(typeof bw === 'number' && bw > 0 && Number.isFinite(bw))) throw new ControlError('Failed', "migrate: 'bandwidth' must be a positive number (bits per second)");
      const cs = args['copyStorage'];
      if (cs !== undefined && typeof cs !== 'boolean') throw new ControlError('Failed', "migrate: 'copyStorage' must be true or false");
      return await need(host.migrate).call(host, name, str('uri'), { ...(bw !== undefined ? { bandwidth: bw as number } : {}), ...(cs !== undefined ? { copyStorage: cs as boolean } : {}) });
    }
  }
}

/** A parsed request line, or the error reply for a malformed one. */
export function parseRequest(line: string): ControlRequest | Reply {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return errorReply('GenericError', 'not a JSON object (one request per line: {"execute":"list"})', undefined);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return errorReply('GenericError', 'a request is a JSON object: {"execute":"list"}', undefined);
  const o = v as Record<string, unknown>;
  if (typeof o['execute'] !== 'string') return errorReply('GenericError', "missing 'execute' (the command name)", o['id']);
  const a = o['arguments'];
  if (a !== undefined && (a === null || typeof a !== 'object' || Array.isArray(a))) {
    return errorReply('GenericError', "'arguments' must be a JSON object", o['id']);
  }
  const req: ControlRequest = { execute: o['execute'] };
  if (a !== undefined) req.arguments = a as Record<string, unknown>;
  if (o['id'] !== undefined) req.id = o['id'];
  return req;
}

export interface ControlServerOptions {
  version: string;
}

/** The listening control socket; close() stops it and removes the socket file. */
export class ControlServer {
  private readonly sockets = new Set<Socket>();
  private readonly offEvent: () => void;
  private closed = false;
  /** Commands being executed (a `shutdown` waits for the guest); close() lets them reply first. */
  private inflight = 0;
  private readonly idleWaiters: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    readonly path: string,
    host: HostControl,
  ) {
    this.offEvent = host.onEvent((e) => this.broadcast(e));
  }

  /**
   * Listens on `path` (`--control PATH`). A stale socket file from a dead host is replaced; a live
   * one, or any other file there, is refused with one line.
   */
  static async listen(path: string, host: HostControl, opts: ControlServerOptions): Promise<ControlServer> {
    checkSocketPath(path, '--control');
    if (existsSync(path)) {
      const st = lstatSync(path);
      if (!st.isSocket()) throw new UserError(`--control ${path}: exists and is not a socket; refusing to replace it`);
      if (await socketAnswers(path)) throw new UserError(`--control ${path}: another host is listening there`);
      unlinkSync(path);
    }
    const events = new Set<(s: Socket) => void>();
    const server = createServer((sock) => {
      for (const f of events) f(sock);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        const why = e.code === 'EACCES' ? 'permission denied' : e.code === 'ENOENT' ? 'no such directory' : e.code === 'EADDRINUSE' ? 'address in use' : (e.code ?? e.message);
        reject(new UserError(`--control ${path}: cannot listen (${why})`));
      });
      server.listen(path, () => resolve());
    });
    const cs = new ControlServer(server, path, host);
    events.add((sock) => cs.serve(sock, host, opts));
    return cs;
  }

  private broadcast(e: HostEvent): void {
    const { event, ...data } = e;
    const line = JSON.stringify({ event, data }) + '\n';
    for (const s of this.sockets) {
      if (!(s as Socket & { consoleMode?: boolean }).consoleMode) s.write(line);
    }
  }

  private serve(sock: Socket, host: HostControl, opts: ControlServerOptions): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    const send = (o: unknown) => {
      if (!sock.destroyed) sock.write(JSON.stringify(o) + '\n');
    };
    send({ greeting: { program: 'cyclevisor', version: opts.version, protocol: PROTOCOL_VERSION, commands: Object.keys(CONTROL_COMMANDS) } });

    let buf: Buffer = Buffer.alloc(0);
    let busy = false;
    const queue: string[] = [];
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        while (queue.length > 0 && !sock.destroyed) {
          const line = queue.shift()!;
          if (line.trim() === '') continue;
          const req = parseRequest(line);
          if (!('execute' in req)) {
            send(req);
            continue;
          }
          if (req.execute === 'console') {
            // Whatever followed the request line is the console's (raw bytes, not lines).
            const after = Buffer.concat([...queue.splice(0).map((l) => Buffer.from(l + '\n', 'utf8')), buf]);
            buf = Buffer.alloc(0);
            if (await this.attachConsole(sock, host, req, send, after)) return;
            continue;
          }
          this.inflight++;
          try {
            send(await dispatch(host, req));
          } finally {
            if (--this.inflight === 0) this.idleWaiters.splice(0).forEach((w) => w());
          }
        }
      } finally {
        busy = false;
      }
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        queue.push(buf.subarray(0, nl).toString('utf8'));
        buf = buf.subarray(nl + 1);
      }
      if (buf.length > MAX_LINE) {
        send(errorReply('GenericError', `request longer than ${MAX_LINE} bytes`, undefined));
        sock.end();
        return;
      }
      void pump();
    };
    sock.on('data', onData);
    (sock as Socket & { stopLines?: () => void }).stopLines = () => sock.off('data', onData);
    (sock as Socket & { resumeLines?: (b: Buffer) => void }).resumeLines = (b: Buffer) => {
      sock.on('data', onData);
      if (b.length > 0) onData(b);
    };
  }

  /** `console NAME`: after the reply, the connection is the VM's console, raw bytes both ways. */
  private async attachConsole(sock: Socket, host: HostControl, req: ControlRequest, send: (o: unknown) => void, early: Buffer): Promise<boolean> {
    const name = req.arguments?.['name'];
    // From here on the connection's bytes are not request lines (until a refusal resumes them).
    const stop = (sock as Socket & { stopLines?: () => void }).stopLines;
    stop?.();
    const pending: Buffer[] = [early];
    const hold = (b: Buffer) => pending.push(b);
    sock.on('data', hold);
    const refuse = (reply: Reply): false => {
      send(reply);
      // Refused: the connection goes on as a command connection.
      sock.off('data', hold);
      (sock as Socket & { resumeLines?: (b: Buffer) => void }).resumeLines?.(Buffer.concat(pending));
      return false;
    };
    if (typeof name !== 'string') return refuse(errorReply('GenericError', 'console needs a domain name', req.id));
    let streams;
    try {
      streams = await host.console(name);
    } catch (e) {
      return refuse(e instanceof ControlError ? errorReply(e.errorClass, e.message, req.id) : errorReply('InternalError', String(e), req.id));
    }
    (sock as Socket & { consoleMode?: boolean }).consoleMode = true;
    send(req.id !== undefined ? { return: {}, id: req.id } : { return: {} });
    // Bytes the client sent after the request line, before the switch, belong to the console.
    sock.off('data', hold);
    const early2 = Buffer.concat(pending);
    if (early2.length > 0) streams.input.write(early2);
    streams.output.on('data', (b: Buffer) => {
      if (!sock.destroyed) sock.write(b);
    });
    streams.output.on('end', () => sock.end());
    sock.on('data', (b: Buffer) => streams.input.write(b));
    sock.on('close', () => streams.detach());
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A command the host is finishing (e.g. `shutdown`, settled as the last VM powered off) gets
    // its reply out before the connections go; bounded, so a stuck one cannot hold the exit.
    if (this.inflight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, CLOSE_GRACE_MS);
        this.idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.offEvent();
    // end() sends what is queued (that last reply) before closing; destroy() after a short grace
    // for a peer that never closes its side.
    for (const s of this.sockets) {
      s.end();
      setTimeout(() => s.destroy(), 200).unref();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}

/** Does something accept connections on this socket path? */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Client (cyclevisor ctl)
// ---------------------------------------------------------------------------------------------

/** A connection failure: one line, exit 2. */
export function connectError(path: string, e: NodeJS.ErrnoException): UserError {
  switch (e.code) {
    case 'ENOENT':
      return new UserError(`${path}: no such socket (is 'cyclevisor host FILE --control ${path}' running?)`);
    case 'ECONNREFUSED':
      return new UserError(`${path}: connection refused (no host is listening there any more)`);
    case 'ENOTSOCK':
      return new UserError(`${path}: not a socket`);
    case 'EACCES':
      return new UserError(`${path}: permission denied`);
    default:
      return new UserError(`${path}: cannot connect (${e.code ?? e.message})`);
  }
}

/** A connected client: reads the greeting, then sends requests one at a time. */
export class ControlClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  greeting: Record<string, unknown> | null = null;
  /** Events received while waiting for replies. */
  readonly events: unknown[] = [];
  private nextId = 1;

  private constructor(readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('end', () => this.finish());
    socket.on('close', () => this.finish());
  }

  private readonly onData = (b: Buffer) => {
    this.buf = this.buf.length === 0 ? b : Buffer.concat([this.buf, b]);
    // Lines are split one at a time: after a console reply the rest is raw bytes (takeRaw).
    let nl: number;
    while (!this.raw && (nl = this.buf.indexOf(0x0a)) >= 0) {
      this.lines.push(this.buf.subarray(0, nl).toString('utf8'));
      this.buf = this.buf.subarray(nl + 1);
      if (this.stopAfterConsoleReply && this.lines[this.lines.length - 1]!.startsWith('{"return"')) this.raw = true;
    }
    this.wake();
  };

  private finish(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  static async connect(path: string): Promise<ControlClient> {
    checkSocketPath(path, 'ctl');
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(s));
      s.once('error', (e: NodeJS.ErrnoException) => reject(connectError(path, e)));
    });
    sock.on('error', () => {});
    const c = new ControlClient(sock);
    const g = await c.nextLine(path);
    let parsed: unknown;
    try {
      parsed = JSON.parse(g);
    } catch {
      parsed = null;
    }
    const greeting = (parsed as { greeting?: Record<string, unknown> } | null)?.greeting;
    if (greeting === undefined || greeting['program'] !== 'cyclevisor') {
      sock.destroy();
      throw new UserError(`${path}: not a cyclevisor control socket`);
    }
    c.greeting = greeting;
    return c;
  }

  private async nextLine(path: string): Promise<string> {
    while (this.lines.length === 0) {
      if (this.ended) throw new UserError(`${path}: the host closed the connection`);
      await new Promise<void>((r) => (this.waiter = r));
    }
    return this.lines.shift()!;
  }

  /**
   * Sends one command and resolves to its reply (the parsed object and the raw line). Events that
   * arrive first are kept in `events`.
   */
  async request(execute: string, args?: Record<string, unknown>): Promise<{ reply: Reply; raw: string }> {
    const id = this.nextId++;
    const req: ControlRequest = { execute, id };
    if (args !== undefined && Object.keys(args).length > 0) req.arguments = args;
    this.socket.write(JSON.stringify(req) + '\n');
    for (;;) {
      const raw = await this.nextLine('the control socket');
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        throw new UserError(`the host sent a malformed line: ${raw.slice(0, 80)}`);
      }
      if ('event' in msg) {
        this.events.push(msg);
        continue;
      }
      if (msg['id'] !== id && ('return' in msg || 'error' in msg) && msg['id'] !== undefined) continue;
      return { reply: msg as Reply, raw };
    }
  }

  /** After a successful `console` reply: stop parsing lines; bytes already received are returned. */
  takeRaw(): Buffer {
    this.socket.off('data', this.onData);
    const rest = Buffer.concat([Buffer.from(this.lines.map((l) => l + '\n').join(''), 'utf8'), this.buf]);
    this.lines.length = 0;
    this.buf = Buffer.alloc(0);
    return rest;
  }

  /** Before sending `console`: the line after its successful reply is not split any more. */
  expectConsole(): void {
    this.stopAfterConsoleReply = true;
  }
  private stopAfterConsoleReply = false;
  private raw = false;

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}
