/**
 * `import { Machine, Core } from 'cyclevisor'` from another project (issue 16): the package as
 * `npm pack` makes it (package.json "files" / "exports" / "types"), unpacked into a fresh project's
 * node_modules, imported by a plain ESM script, and a TypeScript consumer type-checked against the
 * generated .d.ts. Packed once (about 2 s); the dependencies are linked from this repository's
 * node_modules (no registry is reachable here, and npm would fetch the same versions).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, GUESTS } from '../helpers/guests.js';

let dir = '';
let pkgDir = '';
let files: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cyclevisor-consumer-'));
  // --ignore-scripts: `prepare` would rebuild; the global setup already built dist/ and build/.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const info = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  files = info[0]!.files.map((f) => f.path);
  pkgDir = join(dir, 'node_modules', 'cyclevisor');
  mkdirSync(pkgDir, { recursive: true });
  execFileSync('tar', ['xzf', join(dir, info[0]!.filename), '-C', pkgDir, '--strip-components=1']);
  symlinkSync(join(ROOT, 'node_modules'), join(pkgDir, 'node_modules'));
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds the built entry, its .d.ts, core.wasm and the C layout header, and no sources or tests', () => {
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/api/machine.d.ts', 'build/core.wasm', 'include/cyclevisor_layout.h', 'docs/API.md', 'docs/ABI.md', 'package.json']) {
      expect(files, f).toContain(f);
    }
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('assembly/') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false);
  });

  it('an ESM script in another project imports Machine and Core and runs a guest', () => {
    writeFileSync(
      join(dir, 'main.mjs'),
      `import { Machine, Core, VERSION } from 'cyclevisor';
import { createRequire } from 'node:module';
const elf = process.argv[2];
const m = new Machine({ ram: '16M' });
m.loadElf(elf);
const r = await m.run();
let out = '';
const core = new Core({ mmio: {
  read: (a) => (a === 0x10000005 ? 0x60 : a >= 0x10000000 && a < 0x10000100 ? 0 : null),
  write: (a, s, v) => { if (a === 0x10000000) out += String.fromCharCode(Number(v & 0xffn)); else if (a === 0x100000) core.stop(); },
} });
core.loadElf(elf);
const reason = core.run();
// Internals are not part of the package's exports.
let deep = 'reachable';
try { await import('cyclevisor/dist/src/core.js'); } catch (e) { deep = e.code; }
const wasm = createRequire(import.meta.url).resolve('cyclevisor/core.wasm');
console.log(JSON.stringify({ VERSION, reason: r.reason, code: r.code, text: m.consoleText(), instret: r.instret, core: { reason, out, instret: core.instret }, deep, wasm: wasm.endsWith('core.wasm') }));
`,
    );
    const res = spawnSync(process.execPath, ['main.mjs', join(GUESTS, 'bin', 'hello.elf')], { cwd: dir, encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const o = JSON.parse(res.stdout) as Record<string, unknown>;
    expect(o).toMatchObject({ reason: 'exit', code: 0, text: 'Hello from cyclevisor!\n', deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED', wasm: true });
    expect(o.core).toEqual({ reason: 'stopped', out: 'Hello from cyclevisor!\n', instret: o.instret });
    expect(o.VERSION).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('CommonJS require() gets the same names (Node with require(esm)), and the packed CLI runs', () => {
    if ((process.features as { require_module?: boolean }).require_module === true) {
      writeFileSync(join(dir, 'cjs.cjs'), "const c = require('cyclevisor'); console.log(Object.keys(c).sort().join(' '));\n");
      const cjs = spawnSync(process.execPath, ['cjs.cjs'], { cwd: dir, encoding: 'utf8' });
      expect(cjs.stderr).toBe('');
      expect(cjs.stdout.trim()).toBe('Core Hypervisor Machine UserError VERSION coreWasmPath');
    }
    const cli = spawnSync(process.execPath, [join(pkgDir, 'bin', 'cyclevisor.js'), 'run', join(GUESTS, 'bin', 'hello.elf')], { cwd: dir, encoding: 'utf8' });
    expect(cli.stdout).toBe('Hello from cyclevisor!\n');
    expect(cli.status).toBe(0);
  });

  it('a TypeScript consumer type-checks against the generated .d.ts, and a wrong use does not', () => {
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['good.ts'] }),
    );
    writeFileSync(
      join(dir, 'good.ts'),
      `import { Machine, Core, UserError, type MachineRunResult, type CoreStopReason, type MmioHandler, type MachineStats } from 'cyclevisor';
const mmio: MmioHandler = { read: (addr: number) => (addr === 0 ? 1n : null), write: () => true };
const core = new Core({ ram: '1M', mmio });
const why: CoreStopReason = core.run({ maxInsns: 10 });
const pc: bigint = core.pc;
const m = new Machine({ ram: 16 * 1024 * 1024, harts: 1, mode: 'timing' });
async function go(): Promise<number> {
  const r: MachineRunResult = await m.run({ until: /login/, maxInsns: 1000 });
  const s: MachineStats = m.stats();
  return r.instret + s.cycles + Number(pc) + why.length;
}
void go().catch((e: unknown) => (e instanceof UserError ? 2 : 1));
`,
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const good = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
    expect(good.stdout + good.stderr).toBe('');
    expect(good.status).toBe(0);

    // The types are real (not `any`): a reason the API does not have, a missing argument, and a
    // private member are errors.
    writeFileSync(
      join(dir, 'bad.ts'),
      `import { Core, Machine } from 'cyclevisor';
const r: 'exploded' = new Core().run();
new Machine().boot({});
new Machine().m;
`,
    );
    writeFileSync(join(dir, 'tsconfig.bad.json'), JSON.stringify({ extends: './tsconfig.json', files: ['bad.ts'] }));
    const bad = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.bad.json'], { cwd: dir, encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    const errs = bad.stdout.split('\n').filter((l) => l.includes('error TS'));
    expect(errs.length).toBe(3);
    expect(existsSync(join(pkgDir, 'dist', 'src', 'index.d.ts'))).toBe(true);
  });
});
