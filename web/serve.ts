/**
 * `npm run web [-- --port N] [--host ADDR]`: bundle the page and the machine's Worker with esbuild
 * (into build/web/) and serve them, core.wasm and the guest images (../shared/guests) from a small
 * Node http server. Prints the URL; Ctrl-C stops it.
 */
import { createServer, type Server } from 'node:http';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_OUT = join(ROOT, 'build', 'web');
/** The shared guest images (see ../shared/guests/README.md). */
export const DEFAULT_GUESTS = join(ROOT, '..', 'shared', 'guests');

/** A `node:` module imported by a file of the bundle, replaced by a stub that throws when used. */
export interface StubbedImport {
  module: string;
  /** The importing file, relative to the repository root. */
  importer: string;
}

/**
 * Node built-ins in the bundle: the Node-only back ends (disk images, image locks, host sockets)
 * are reachable from the board's device list but never built in the browser (the page attaches no
 * drives and no networks); their imports become stubs that throw "not available in the browser".
 * The board, the core and the host adapter import none (the web test checks the list).
 */
export function nodeStubs(found: StubbedImport[]): Plugin {
  return {
    name: 'node-stubs',
    setup(b) {
      b.onResolve({ filter: /^node:/ }, (args) => {
        found.push({ module: args.path, importer: relative(ROOT, args.importer).split(sep).join('/') });
        // One stub per importer, exporting exactly the names that file uses.
        return { path: `${args.path}|${args.importer}`, namespace: 'node-stub' };
      });
      b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (args) => {
        const bar = args.path.indexOf('|');
        const mod = args.path.slice(0, bar);
        const src = readFileSync(args.path.slice(bar + 1), 'utf8');
        const names = new Set<string>();
        const q = mod.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        for (const m of src.matchAll(new RegExp(`import\\s*(?:type\\s+)?(?:(\\w+)\\s*,\\s*)?\\{([^}]*)\\}\\s*from\\s*'${q}'`, 'g'))) {
          for (const part of m[2]!.split(',')) {
            const name = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!.trim();
            if (name) names.add(name);
          }
        }
        for (const m of src.matchAll(new RegExp(`import\\s*\\*\\s*as\\s+(\\w+)\\s+from\\s*'${q}'`, 'g'))) {
          for (const u of src.matchAll(new RegExp(`\\b${m[1]}\\.(\\w+)`, 'g'))) names.add(u[1]!);
        }
        const lines = [
          `const fail = (what) => function () { throw new Error(${JSON.stringify(mod)} + '.' + what + ': not available in the browser (a Node-only back end)'); };`,
          `export default new Proxy({}, { get: (_, k) => fail(String(k)) });`,
          ...[...names].filter((n) => n !== 'default').map((n) => `export const ${n} = fail(${JSON.stringify(n)});`),
        ];
        return { loader: 'js', contents: lines.join('\n') };
      });
    },
  };
}

export interface WebBundle {
  outDir: string;
  stubbed: StubbedImport[];
}

/** Bundle web/main.ts and web/worker.ts (ESM, for current browsers) and copy the page's assets. */
export async function buildWebBundle(outDir = WEB_OUT): Promise<WebBundle> {
  mkdirSync(outDir, { recursive: true });
  const stubbed: StubbedImport[] = [];
  await build({
    entryPoints: [join(ROOT, 'web', 'main.ts'), join(ROOT, 'web', 'worker.ts')],
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome110',
    sourcemap: true,
    logLevel: 'warning',
    plugins: [nodeStubs(stubbed)],
  });
  copyFileSync(join(ROOT, 'web', 'index.html'), join(outDir, 'index.html'));
  copyFileSync(join(ROOT, 'node_modules', '@xterm', 'xterm', 'css', 'xterm.css'), join(outDir, 'xterm.css'));
  const wasm = join(ROOT, 'build', 'core.wasm');
  if (!existsSync(wasm)) throw new Error('build/core.wasm not found: run `npm run build`');
  return { outDir, stubbed };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
};

/** A plain file name (no directories, no dot files): what /guests/ serves. */
const GUEST_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;

export interface WebServerOptions {
  port?: number;
  host?: string;
  outDir?: string;
  guestsDir?: string;
}

/** Serve the bundle, core.wasm and /guests/<file>; resolves once listening. */
export function startWebServer(opts: WebServerOptions = {}): Promise<{ server: Server; url: string }> {
  const outDir = opts.outDir ?? WEB_OUT;
  const guests = opts.guestsDir ?? DEFAULT_GUESTS;
  const server = createServer((req, res) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('bad request\n');
      return;
    }
    let file: string | null = null;
    if (path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (path === '/') file = join(outDir, 'index.html');
    else if (path === '/core.wasm') file = join(ROOT, 'build', 'core.wasm');
    else if (path.startsWith('/guests/') && GUEST_NAME.test(path.slice(8))) file = join(guests, path.slice(8));
    else if (/^\/[A-Za-z0-9_.-]+$/.test(path) && !path.startsWith('/.')) file = join(outDir, path.slice(1));
    if (file === null || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`not found: ${path}\n`);
      return;
    }
    const ext = file.slice(file.lastIndexOf('.'));
    res.writeHead(200, { 'content-type': TYPES[ext] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : opts.port;
      resolve({ server, url: `http://${opts.host ?? '127.0.0.1'}:${port}/` });
    });
  });
}

const USAGE = 'usage: npm run web [-- --port N] [--host ADDR] [--guests DIR]';

async function main(argv: string[]): Promise<number> {
  let port = 8080;
  let host = '127.0.0.1';
  let guestsDir = DEFAULT_GUESTS;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if ((a === '--port' || a === '--host' || a === '--guests') && v === undefined) {
      process.stderr.write(`cyclevisor web: ${a} needs a value\n${USAGE}\n`);
      return 2;
    }
    if (a === '--port') {
      port = Number(v);
      if (!/^\d+$/.test(v!) || port > 65535) {
        process.stderr.write(`cyclevisor web: --port ${v}: not a port number (0-65535)\n`);
        return 2;
      }
      i++;
    } else if (a === '--host') {
      host = v!;
      i++;
    } else if (a === '--guests') {
      guestsDir = v!;
      i++;
    } else {
      process.stderr.write(`cyclevisor web: unknown option ${a}\n${USAGE}\n`);
      return 2;
    }
  }
  if (!existsSync(join(guestsDir, 'linux-6.1-rv64.Image'))) {
    process.stderr.write(`cyclevisor web: warning: ${guestsDir}: no linux-6.1-rv64.Image (the page's default guest)\n`);
  }
  await buildWebBundle();
  let started;
  try {
    started = await startWebServer({ port, host, guestsDir });
  } catch (e) {
    process.stderr.write(`cyclevisor web: cannot listen on ${host}:${port} (${(e as NodeJS.ErrnoException).code ?? String(e)})\n`);
    return 1;
  }
  process.stdout.write(`cyclevisor web: serving on ${started.url}\n`);
  return new Promise<number>(() => {});
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`cyclevisor web: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
