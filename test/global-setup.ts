/**
 * vitest globalSetup: make sure build/core.wasm and dist/ exist and are newer than their sources,
 * building them once (before any test file runs) when they are not.
 *
 *   build/core.wasm  <- assembly/**, src/isa/** (instruction table), scripts/gen.ts, asconfig.json
 *                       (npx tsx scripts/gen.ts && npx asc assembly/index.ts --target release)
 *   dist/            <- src/**, devices/**, tsconfig*.json   (tsc -p tsconfig.build.json)
 *   build/initramfs-agent.cpio <- test/guests/agent/*, ../shared/guests/initramfs-busybox.cpio.gz
 *                       (scripts/agent-initramfs.ts, ~50 ms; skipped without the shared images)
 *
 * core.wasm is compiled to a temporary name and renamed into place, so a test run in another
 * process never reads a half-written module.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_AGENT_INITRAMFS, writeAgentInitramfs } from '../scripts/agent-initramfs.js';
import { DEFAULT_IMAGES } from '../scripts/kvm-initramfs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (tool: string) => join(root, 'node_modules', '.bin', tool);

/** Newest mtime (ms) of the files under `paths` whose names end in one of `exts`; 0 if none. */
function newest(paths: string[], exts: string[]): number {
  let t = 0;
  const visit = (p: string): void => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) visit(join(p, e));
    } else if (exts.some((x) => p.endsWith(x))) {
      t = Math.max(t, st.mtimeMs);
    }
  };
  for (const p of paths) visit(join(root, p));
  return t;
}

function run(tool: string, args: string[], what: string): void {
  try {
    execFileSync(bin(tool), args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`global-setup: ${what} failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`);
  }
}

function buildCoreIfStale(): void {
  const wasm = join(root, 'build', 'core.wasm');
  const sources = newest(['assembly', 'src/isa', 'scripts/gen.ts', 'asconfig.json'], ['.ts', '.json']);
  if (existsSync(wasm) && statSync(wasm).mtimeMs >= sources) return;
  run('tsx', ['scripts/gen.ts'], 'code generation (scripts/gen.ts)');
  const tmp = join(root, 'build', `.core-${process.pid}`);
  try {
    run('asc', ['assembly/index.ts', '--target', 'release', '--outFile', `${tmp}.wasm`, '--textFile', `${tmp}.wat`], 'asc (build/core.wasm)');
    renameSync(`${tmp}.wat`, join(root, 'build', 'core.wat'));
    renameSync(`${tmp}.wasm`, wasm);
  } finally {
    rmSync(`${tmp}.wasm`, { force: true });
    rmSync(`${tmp}.wat`, { force: true });
  }
}

function buildDistIfStale(): void {
  const sources = newest(['src', 'devices', 'tsconfig.json', 'tsconfig.build.json'], ['.ts', '.json']);
  // tsc rewrites every output on each build, so one of them dates the whole tree.
  const marker = join(root, 'dist', 'src', 'cli', 'main.js');
  if (existsSync(marker) && statSync(marker).mtimeMs >= sources) return;
  run('tsc', ['-p', 'tsconfig.build.json'], 'tsc (dist/)');
}

function buildAgentInitramfsIfStale(): void {
  const busybox = join(DEFAULT_IMAGES, 'initramfs-busybox.cpio.gz');
  if (!existsSync(busybox)) return; // the tests that need it skip themselves
  const sources = Math.max(newest(['test/guests/agent', 'scripts/agent-initramfs.ts'], ['']), statSync(busybox).mtimeMs);
  if (existsSync(DEFAULT_AGENT_INITRAMFS) && statSync(DEFAULT_AGENT_INITRAMFS).mtimeMs >= sources) return;
  // Written under a temporary name and renamed, like core.wasm.
  const tmp = `${DEFAULT_AGENT_INITRAMFS}.${process.pid}`;
  writeAgentInitramfs(tmp);
  renameSync(tmp, DEFAULT_AGENT_INITRAMFS);
}

export default function setup(): void {
  buildCoreIfStale();
  buildDistIfStale();
  buildAgentInitramfsIfStale();
}
