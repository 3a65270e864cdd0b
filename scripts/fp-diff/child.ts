/**
 * Running a guest ELF as a child process with its output in files (shared by the FP differential
 * tool and the fuzzer, scripts/fuzz/): stdout goes to a file, not a pipe, so the driver may be busy
 * generating the next chunk while the guest runs.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TIMEOUT_S = Number(process.env.FPDIFF_TIMEOUT ?? 600);

export interface RunResult {
  out: string;
  err: string;
  code: number | null;
  ms: number;
}

export function runTo(cmd: string, args: string[], dir: string, tag: string, timeoutS = TIMEOUT_S): Promise<RunResult> {
  const outPath = join(dir, `${tag}.out`);
  const errPath = join(dir, `${tag}.err`);
  const out = openSync(outPath, 'w');
  const err = openSync(errPath, 'w');
  const t0 = performance.now();
  return new Promise((resolve) => {
    // stdout goes to a file, not a pipe: the driver may be busy generating the next chunk.
    const child = spawn(cmd, args, { stdio: ['ignore', out, err] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    const done = (code: number | null): void => {
      clearTimeout(timer);
      closeSync(out);
      closeSync(err);
      resolve({ out: readFileSync(outPath, 'latin1'), err: readFileSync(errPath, 'utf8'), code, ms: performance.now() - t0 });
    };
    child.on('error', (e) => {
      writeFileSync(errPath, String(e));
      done(-1);
    });
    child.on('close', (code) => done(code));
  });
}

