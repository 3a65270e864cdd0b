/**
 * `npm run fuzz -- [options]`: differential fuzzing of cyclevisor against QEMU 7.2.
 *
 * Generates random RV64GC programs (gen.ts: every row of src/isa/table.ts, traps, page crossings,
 * compressed forms, CSR accesses, FP in every rounding mode, MPRV through Sv39 and PMP,
 * self-modifying code), runs each batch on QEMU and on
 * cyclevisor (run.ts) inside the fuzz runtime (test/guests/fuzz/fuzz-rt.S), and compares the whole
 * architectural state every program leaves (compare.ts) less the allowed differences (allowed.ts).
 * Each mismatching program is shrunk (items dropped while the mismatch persists) and written to
 * fuzz-out/<seed>-<index>/ as prog.elf (runs on both machines as is), prog.S (listing), diff.txt.
 *
 * Options:
 *   --count N      programs (default 100)
 *   --seed S       generator seed (default 1); program i is generated from (S, i)
 *   --items N      items per program (default 400)
 *   --batch N      programs per machine run (default 50)
 *   --jobs N       batches in flight (default 1)
 *   --out DIR      reproducer directory (default fuzz-out)
 *   --no-shrink    write reproducers unshrunk
 *   --only I       run only program I of the seed (with its data region dumped)
 *   --write-asm    rewrite test/guests/fuzz/fuzz-csrs.S from csrs.ts and exit
 *   --write-corpus rewrite test/guests/fuzz/expected/corpus.txt from QEMU and exit
 * Environment: QEMU (default qemu-system-riscv64), FUZZ_QEMU_CPU (see run.ts).
 *
 * Prints progress, the allowed differences seen (per rule), the executed instruction count, and
 * the final line "N compared, M mismatches". Exit status 1 on any mismatch or failed run, 2 on bad
 * usage.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Usage, intOption, walkOptions } from '../options.js';
import { parseStates, type State } from './batch.js';
import { compareStates, diffText, logText, type Comparison } from './compare.js';
import { INIT_CSRS, renderCsrAsm } from './csrs.js';
import { generate, layout, type Program } from './gen.js';
import { ALLOWED, type AllowedRule } from './allowed.js';
import { buildElf, qemuVersion, QEMU, QEMU_ARGS, ROOT, runCyclevisor, runQemu } from './run.js';
import { CORPUS_FILE, writeCorpus } from './corpus.js';
import { INSTRET_OVERHEAD } from './batch.js';
import { FLAG_DUMP_DATA } from './layout.js';

interface Options {
  count: number;
  seed: string;
  items: number;
  batch: number;
  jobs: number;
  out: string;
  shrink: boolean;
  only: number | null;
  writeAsm: boolean;
  writeCorpus: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { count: 100, seed: '1', items: 400, batch: 50, jobs: 1, out: 'fuzz-out', shrink: true, only: null, writeAsm: false, writeCorpus: false };
  const int = intOption;
  walkOptions(argv, import.meta.url, (a, val) => {
    switch (a) {
      case '--count': o.count = int(a, val(), 1, 1e9); break;
      case '--seed': o.seed = val(); if (!o.seed) throw new Usage('--seed needs a value'); break;
      case '--items': o.items = int(a, val(), 1, 2000); break;
      case '--batch': o.batch = int(a, val(), 1, 500); break;
      case '--jobs': o.jobs = int(a, val(), 1, 64); break;
      case '--out': o.out = val(); break;
      case '--no-shrink': o.shrink = false; break;
      case '--only': o.only = int(a, val(), 0, 1e9); break;
      case '--write-asm': o.writeAsm = true; break;
      case '--write-corpus': o.writeCorpus = true; break;
      default:
        return false;
    }
    return true;
  });
  return o;
}

// ------------------------------------------------------------------------------------------------

/** Run programs on both machines; the states, or an error per machine. */
async function runBoth(progs: Program[], flags = 0n): Promise<{ q: State[]; c: State[]; qOut: string }> {
  const elf = buildElf(progs, flags);
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
  try {
    const elfPath = join(dir, 'batch.elf');
    writeFileSync(elfPath, elf);
    const qp = runQemu(elfPath, dir);
    const c = runCyclevisor(elf);
    const q = await qp;
    if (!q.ok) throw new Error(q.error);
    if (!c.ok) throw new Error(`cyclevisor: ${c.error}`);
    return { q: parseStates(q.out, progs.length), c: parseStates(c.out, progs.length), qOut: q.out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The kind of a mismatch: its first differing field, trap index dropped. */
const mismatchKey = (r: Comparison): string => r.diffs[0]!.field.replace(/\[\d+\]/, '[]');

async function mismatches(p: Program, key: string): Promise<Comparison | null> {
  try {
    const { q, c } = await runBoth([p]);
    const r = compareStates(q[0]!, c[0]!, p);
    return r.diffs.some((d) => d.field.replace(/\[\d+\]/, '[]') === key) ? r : null;
  } catch {
    return null; // a run that fails is not "the same mismatch"
  }
}

/**
 * Drop items while the program still mismatches in the same field (chunks first, then single
 * items).
 */
async function shrink(p: Program, key: string): Promise<Program> {
  let cur = p;
  for (let chunk = Math.max(1, Math.floor(cur.items.length / 4)); chunk >= 1; chunk = Math.floor(chunk / 2)) {
    for (let i = 0; i < cur.items.length; ) {
      const cand: Program = { ...cur, items: [...cur.items.slice(0, i), ...cur.items.slice(i + chunk)] };
      if (await mismatches(cand, key)) cur = cand;
      else i += chunk;
    }
  }
  return cur;
}

async function writeReproducer(o: Options, p: Program, index: number): Promise<string> {
  const dir = join(o.out, `${o.seed}-${index}`.replace(/[^\w.-]/g, '_'));
  mkdirSync(dir, { recursive: true });
  const { q, c } = await runBoth([p], FLAG_DUMP_DATA);
  const r = compareStates(q[0]!, c[0]!, p);
  const elf = buildElf([p], FLAG_DUMP_DATA);
  writeFileSync(join(dir, 'prog.elf'), elf);
  const lay = layout(p);
  const lines = [
    `# fuzz reproducer: seed '${o.seed}', program ${index}, ${p.items.length} items after shrinking`,
    `# run: ${QEMU} ${QEMU_ARGS.join(' ')} prog.elf`,
    `#      node bin/cyclevisor.js run prog.elf --ram 256M`,
    '# initial state (the runtime sets it before jumping to CODE):',
    `#   mstatus 0x${p.mstatus.toString(16)}  fcsr 0x${p.fcsr.toString(16)}`,
    ...INIT_CSRS.map((c, i) => `#   ${c.name} = 0x${p.csrs[i]!.toString(16)}`),
    ...p.x.map((v, i) => `#   x${i} = 0x${v.toString(16)}`),
    ...p.f.map((v, i) => `#   f${i} = 0x${v.toString(16)}`),
    ...lay.listing,
  ];
  writeFileSync(join(dir, 'prog.S'), lines.join('\n') + '\n');
  const dataDiff: string[] = [];
  const qd = q[0]!.data ?? [], cd = c[0]!.data ?? [];
  for (let i = 0; i < Math.max(qd.length, cd.length); i++) {
    if (qd[i] !== cd[i]) dataDiff.push(`  DATA+0x${(i * 8).toString(16)}: qemu 0x${qd[i]?.toString(16)} cyclevisor 0x${cd[i]?.toString(16)}`);
  }
  writeFileSync(
    join(dir, 'diff.txt'),
    [
      'differences (not allowed):',
      ...r.diffs.map((d) => '  ' + diffText(d)),
      ...(dataDiff.length ? ['DATA words that differ:', ...dataDiff] : []),
      'trap log (qemu):',
      ...logText(q[0]!),
      'trap log (cyclevisor):',
      ...logText(c[0]!),
    ].join('\n') + '\n',
  );
  return dir;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o.writeAsm) {
    const path = join(ROOT, 'test/guests/fuzz/fuzz-csrs.S');
    writeFileSync(path, renderCsrAsm());
    console.log(`wrote ${relative(process.cwd(), path)} (now: make -C test/guests/fuzz)`);
    return 0;
  }
  const version = qemuVersion();
  if (!version) throw new Usage(`${QEMU} not found (Debian: apt-get install qemu-system-misc; or set QEMU)`);
  if (o.writeCorpus) {
    await writeCorpus(runBoth, async (progs) => (await runBoth(progs)).qOut);
    console.log(`wrote ${CORPUS_FILE}`);
    return 0;
  }
  const indices = o.only !== null ? [o.only] : Array.from({ length: o.count }, (_, i) => i);
  console.log(`fuzz: ${indices.length} programs of ${o.items} items, seed '${o.seed}', ${o.batch} per run, ${o.jobs} in flight`);
  console.log(`  oracle: ${version}: ${QEMU} ${QEMU_ARGS.join(' ')} X`);
  console.log('  tested: cyclevisor virt board (in process), 256 MiB');

  const t0 = performance.now();
  let compared = 0;
  let executed = 0n;
  const bad: Array<{ index: number; p: Program; r: Comparison }> = [];
  const failures: string[] = [];
  const allowedSeen = new Map<AllowedRule, number>();
  const inFlight = new Set<Promise<void>>();
  for (let b = 0; b < indices.length; b += o.batch) {
    const idx = indices.slice(b, b + o.batch);
    const progs = idx.map((i) => generate(o.seed, i, { items: o.items }));
    const task = (async () => {
      try {
        const { q, c } = await runBoth(progs, o.only !== null ? FLAG_DUMP_DATA : 0n);
        progs.forEach((p, k) => {
          const r = compareStates(q[k]!, c[k]!, p);
          compared++;
          executed += c[k]!.insns > INSTRET_OVERHEAD ? c[k]!.insns - INSTRET_OVERHEAD : 0n;
          for (const a of r.allowed) allowedSeen.set(a.rule, (allowedSeen.get(a.rule) ?? 0) + 1);
          if (r.diffs.length) {
            bad.push({ index: idx[k]!, p, r });
            console.log(`MISMATCH program ${idx[k]}: ${r.diffs.length} field(s), first: ${diffText(r.diffs[0]!)}`);
          }
        });
      } catch (e) {
        failures.push(`programs ${idx[0]}..${idx[idx.length - 1]}: ${(e as Error).message}`);
        console.log(`FAILED programs ${idx[0]}..${idx[idx.length - 1]}: ${(e as Error).message}`);
      }
      const el = (performance.now() - t0) / 1000;
      process.stderr.write(`  ${compared} of ${indices.length} programs compared, ${bad.length} mismatching, ${executed} instructions (${el.toFixed(0)} s)\n`);
    })();
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
    if (inFlight.size >= o.jobs) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);

  if (allowedSeen.size) {
    console.log('');
    console.log('Allowed differences seen (scripts/fuzz/allowed.ts; not counted as mismatches):');
    for (const rule of ALLOWED) {
      const n = allowedSeen.get(rule);
      if (n) console.log(`  [${rule.id}] ${rule.kind === 'qemu' ? 'QEMU-side discrepancy' : 'allowed'}: ${n} field(s): ${rule.summary}`);
    }
  }
  for (const m of bad) {
    const p = o.shrink ? await shrink(m.p, mismatchKey(m.r)) : m.p;
    const dir = await writeReproducer(o, p, m.index);
    console.log(`reproducer: ${dir} (${p.items.length} items)`);
  }
  for (const f of failures) console.log(`FAILED ${f}`);
  const seconds = (performance.now() - t0) / 1000;
  console.log(`executed: ${executed} instructions in the program bodies (cyclevisor's minstret), ${seconds.toFixed(1)} s`);
  console.log(`${compared} compared, ${bad.length} mismatches`);
  return bad.length || failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof Usage) {
      console.error(`fuzz: ${e.message}`);
      process.exit(2);
    }
    console.error(e);
    process.exit(1);
  },
);
