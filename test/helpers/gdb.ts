/**
 * gdb-multiarch against our stubs (test/debug/gdbstub.test.ts, host-gdbstub.test.ts): a batch
 * gdb session, and a CLI started with `--gdb tcp::0 -S` that resolves once it listens.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'cyclevisor.js');

/** Is gdb-multiarch installed (the gdb tests skip without it)? */
export const HAVE_GDB = ((): boolean => {
  try {
    execFileSync('gdb-multiarch', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** gdb-multiarch -batch with `elf` loaded, connected to the stub at `port`, running `cmds`; resolves to its output. */
export function gdbBatch(elf: string, port: number, cmds: string[], timeoutMs = 60_000): Promise<string> {
  const args = ['-nx', '-batch', '-ex', 'set pagination off', '-ex', `file ${elf}`, '-ex', `target remote 127.0.0.1:${port}`];
  for (const c of cmds) args.push('-ex', c);
  return new Promise((resolve, reject) => {
    execFile('gdb-multiarch', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err && (err as { killed?: boolean }).killed) reject(new Error(`gdb timed out:\n${stdout}${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

export interface GdbCli {
  port: number;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

/** `cyclevisor ARGS` (which must include `--gdb tcp::0 -S`); resolves when its gdb server listens. */
export async function startGdbCli(args: string[]): Promise<GdbCli> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  // Listen for the exit from the start: the child may end before gdb does.
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /^cyclevisor: gdb server on tcp::(\d+) \(waiting for gdb: -S\)$/m.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`exited early: ${err}`)));
  });
  return { port, out: () => out, err: () => err, exited };
}
