/**
 * `npm run fpdiff -- [options]`: differential test of cyclevisor's F and D instructions against QEMU.
 *
 * Generates operand records (gen.ts), splits them into chunks, and for each chunk makes a copy of
 * test/guests/bin/fp-diff.elf carrying the records (elf.ts) and runs it, unchanged, on
 *   qemu-system-riscv64 -M virt -bios none -m 256M -nographic -monitor none -serial stdio -kernel X
 *   node bin/cyclevisor.js run X --ram 256M
 * at the same time. Each guest executes every record's instruction under every rounding mode and
 * prints the result bits and fflags; every (record, rounding mode) pair is compared.
 *
 * Options:
 *   --insns LIST     instructions: "all" (default), or names/globs: fadd.s,fmul.*,*.d,fcvt.*
 *   --count N        operand sets per instruction (default 1000)
 *   --seed S         generator seed (default 1)
 *   --chunk N        records per guest run (default 20000, at most 500000)
 *   --jobs N         chunks in flight at once, each running QEMU and cyclevisor (default 1)
 *   --show N         mismatches printed in full (default 20)
 *   --data FILE      run the records of FILE (written by gen.ts or --save-mismatches) instead
 *   --save-mismatches FILE   write the mismatching records to FILE (for --data)
 *   --write-asm      rewrite test/guests/fp/fpdiff-ops.S from ops.ts and exit
 *   --write-subset   rewrite test/guests/fp/expected/fpdiff-subset.txt from QEMU and exit
 * Environment: QEMU (default qemu-system-riscv64), CYCLEVISOR (command line; the ELF path and
 * "--ram 256M" are appended; default "node bin/cyclevisor.js run"), FPDIFF_TIMEOUT (s per run, 600).
 *
 * Before the random records it checks both machines against the spec anchors (anchors.ts: results
 * written down from the spec); an anchor QEMU fails is reported as a QEMU deviation.
 * Prints per-instruction counts (operand sets, executions, mismatches, known QEMU deviations), the
 * first mismatches in readable form, and the final line "N compared, M mismatches" (N = operand
 * sets). Exit status 1 on any mismatch or failed run, 2 on bad usage.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Usage, intOption, walkOptions } from '../options.js';
import { runTo, type RunResult } from './child.js';
import { anchorHolds, anchorRecords, ANCHORS } from './anchors.js';
import { appendSegment } from './elf.js';
import { generate, parseInsns } from './gen.js';
import { knownDeviation, KNOWN_QEMU_DEVIATIONS, type KnownDeviation } from './known.js';
import { OPS, renderOpsAsm, variantsOf } from './ops.js';
import {
  decodeRecords, encodeRecords, FPD_INPUT, FPD_MAX, operandsText, parseOutput, resultText, variantText,
  type FpRecord, type Outcome,
} from './records.js';
import { formatSubset, SUBSET_FILE, SUBSET_PER_INSN, SUBSET_SEED } from './subset.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GUEST = join(ROOT, 'test/guests/bin/fp-diff.elf');
const OPS_ASM = join(ROOT, 'test/guests/fp/fpdiff-ops.S');
const QEMU = process.env.QEMU ?? 'qemu-system-riscv64';
const QEMU_ARGS = ['-M', 'virt', '-bios', 'none', '-m', '256M', '-nographic', '-monitor', 'none', '-serial', 'stdio', '-kernel'];
const CYCLEVISOR = (process.env.CYCLEVISOR ?? `node ${join(ROOT, 'bin/cyclevisor.js')} run`).split(' ').filter(Boolean);

interface Options {
  insns: string;
  count: number;
  seed: string;
  chunk: number;
  jobs: number;
  show: number;
  data: string | null;
  saveMismatches: string | null;
  writeAsm: boolean;
  writeSubset: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { insns: 'all', count: 1000, seed: '1', chunk: 20_000, jobs: 1, show: 20, data: null, saveMismatches: null, writeAsm: false, writeSubset: false };
  const int = intOption;
  walkOptions(argv, import.meta.url, (a, val) => {
    switch (a) {
      case '--insns': o.insns = val(); break;
      case '--count': o.count = int(a, val(), 1, 1e9); break;
      case '--seed': o.seed = val(); break;
      case '--chunk': o.chunk = int(a, val(), 1, FPD_MAX); break;
      case '--jobs': o.jobs = int(a, val(), 1, 64); break;
      case '--show': o.show = int(a, val(), 0, 1e6); break;
      case '--data': o.data = val(); break;
      case '--save-mismatches': o.saveMismatches = val(); break;
      case '--write-asm': o.writeAsm = true; break;
      case '--write-subset': o.writeSubset = true; break;
      default:
        return false;
    }
    return true;
  });
  return o;
}

// ------------------------------------------------------------------------------------------------
// Running one chunk on a machine

const runQemu = (elf: string, dir: string): Promise<RunResult> => runTo(QEMU, [...QEMU_ARGS, elf], dir, 'qemu');
const runCyclevisor = (elf: string, dir: string): Promise<RunResult> =>
  runTo(CYCLEVISOR[0]!, [...CYCLEVISOR.slice(1), elf, '--ram', '256M'], dir, 'cyclevisor');

function outcomes(name: string, r: RunResult, recs: FpRecord[]): Outcome[][] {
  if (r.code !== 0) throw new Error(`${name} exited with ${r.code}: ${(r.err || r.out).trim().split('\n').slice(-3).join(' | ')}`);
  try {
    return parseOutput(r.out, recs);
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`);
  }
}

// ------------------------------------------------------------------------------------------------
// Comparing

interface InsnStats {
  records: number;
  executions: number;
  mismatchedRecords: number;
  mismatchedExecutions: number;
  known: number;
}

class Tally {
  readonly perInsn = OPS.map((): InsnStats => ({ records: 0, executions: 0, mismatchedRecords: 0, mismatchedExecutions: 0, known: 0 }));
  readonly knownCount = new Map<KnownDeviation, number>();
  readonly knownExamples = new Map<KnownDeviation, string>();
  readonly saved: FpRecord[] = [];
  shown = 0;
  constructor(readonly show: number) {}

  compare(recs: FpRecord[], q: Outcome[][], c: Outcome[][], where: string): void {
    recs.forEach((r, i) => {
      const op = OPS[r.op]!;
      const s = this.perInsn[r.op]!;
      const rms = variantsOf(op, r.flags);
      s.records++;
      s.executions += rms.length;
      let bad = 0;
      rms.forEach((rm, v) => {
        const qo = q[i]![v]!, co = c[i]![v]!;
        if (qo.bits === co.bits && qo.flags === co.flags) return;
        const k = knownDeviation(op, rm, r, qo, co);
        if (k) {
          s.known++;
          this.knownCount.set(k, (this.knownCount.get(k) ?? 0) + 1);
          if (!this.knownExamples.has(k)) this.knownExamples.set(k, describe(r, rm, qo, co, where, i));
          return;
        }
        bad++;
        if (this.shown < this.show) {
          this.shown++;
          console.log(`MISMATCH ${describe(r, rm, qo, co, where, i)}`);
        }
      });
      if (bad) {
        s.mismatchedRecords++;
        s.mismatchedExecutions += bad;
        this.saved.push(r);
      }
    });
  }
}

function describe(r: FpRecord, rm: number, q: Outcome, c: Outcome, where: string, i: number): string {
  const dst = OPS[r.op]!.dst;
  return [
    `${variantText(r, rm)}   [${where}, record ${i}]`,
    `  operands:   ${operandsText(r)}`,
    `  qemu:       ${resultText(q, dst)}`,
    `  cyclevisor: ${resultText(c, dst)}`,
  ].join('\n');
}

// ------------------------------------------------------------------------------------------------

function chunks<T>(it: Iterable<T>, size: number): Generator<T[]> {
  return (function* () {
    let cur: T[] = [];
    for (const x of it) {
      cur.push(x);
      if (cur.length === size) {
        yield cur;
        cur = [];
      }
    }
    if (cur.length) yield cur;
  })();
}

function checkTools(needCyclevisor: boolean): void {
  const q = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (q.status !== 0) throw new Usage(`${QEMU} not found (Debian: apt-get install qemu-system-misc; or set QEMU)`);
  if (needCyclevisor && !process.env.CYCLEVISOR) {
    try {
      readFileSync(join(ROOT, 'dist/src/cli/main.js'));
    } catch {
      throw new Usage('dist/ not built: run npm run build (or set CYCLEVISOR)');
    }
  }
}

function qemuVersion(): string {
  return spawnSync(QEMU, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]!.trim();
}

async function writeSubset(): Promise<void> {
  checkTools(false);
  const recs = [...generate(OPS.map((_, i) => i), SUBSET_PER_INSN, SUBSET_SEED)];
  const dir = mkdtempSync(join(tmpdir(), 'fpdiff-'));
  try {
    const elf = join(dir, 'chunk.elf');
    writeFileSync(elf, appendSegment(readFileSync(GUEST), FPD_INPUT, encodeRecords(recs)));
    const r = await runQemu(elf, dir);
    outcomes('qemu', r, recs); // validates the transcript
    const start = r.out.indexOf('fpdiff: records=');
    const lines = r.out.slice(start).split('\n').slice(1, 1 + recs.length);
    const header = [
      `fpdiff subset for npm test (test/fpdiff.test.ts): ${recs.length} records, ${SUBSET_PER_INSN} per instruction, seed '${SUBSET_SEED}'.`,
      `Written by \`npm run fpdiff -- --write-subset\`; results from ${qemuVersion()} (-M virt).`,
      'Columns: insn, frm, record flags, a, b, c, QEMU output line (per variant 16 hex result + 2 hex fflags;',
      'variants: rne rtz rdn rup rmm dyn [rm=5 rm=6], or one for instructions without an rm field).',
    ];
    writeFileSync(join(ROOT, SUBSET_FILE), formatSubset(recs, lines, header));
    console.log(`wrote ${SUBSET_FILE}: ${recs.length} records`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The spec anchors (anchors.ts) on both machines. Returns the number of anchors cyclevisor fails;
 * an anchor QEMU fails is reported as a QEMU deviation from the spec.
 */
async function checkAnchors(guest: Uint8Array): Promise<number> {
  const recs = anchorRecords();
  const dir = mkdtempSync(join(tmpdir(), 'fpdiff-'));
  try {
    const elf = join(dir, 'anchors.elf');
    writeFileSync(elf, appendSegment(guest, FPD_INPUT, encodeRecords(recs)));
    const [q, c] = await Promise.all([runQemu(elf, dir), runCyclevisor(elf, dir)]);
    const qo = outcomes('qemu', q, recs);
    const co = outcomes('cyclevisor', c, recs);
    let qFail = 0, cFail = 0;
    ANCHORS.forEach((x, i) => {
      const r = recs[i]!;
      const v = variantsOf(OPS[r.op]!, r.flags).indexOf(x.rm);
      const qOk = anchorHolds(x, qo[i]![v]!), cOk = anchorHolds(x, co[i]![v]!);
      if (qOk && cOk) return;
      const dst = OPS[r.op]!.dst;
      const want = x.flags === 'trap' ? `trap mcause=${x.bits}` : resultText({ bits: x.bits, flags: x.flags }, dst);
      console.log(`SPEC ANCHOR ${variantText(r, x.rm)}: ${x.ref}`);
      console.log(`  operands:   ${operandsText(r)}`);
      console.log(`  spec:       ${want}`);
      console.log(`  qemu:       ${resultText(qo[i]![v]!, dst)}${qOk ? '' : '   <- QEMU deviates from the spec'}`);
      console.log(`  cyclevisor: ${resultText(co[i]![v]!, dst)}${cOk ? '' : '   <- cyclevisor deviates from the spec'}`);
      if (!qOk) qFail++;
      if (!cOk) cFail++;
    });
    console.log(`  spec anchors (anchors.ts): ${ANCHORS.length - qFail}/${ANCHORS.length} hold on QEMU, ${ANCHORS.length - cFail}/${ANCHORS.length} on cyclevisor`);
    return cFail;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o.writeAsm) {
    writeFileSync(OPS_ASM, renderOpsAsm());
    console.log(`wrote ${OPS_ASM} (now: make -C test/guests/fp)`);
    return 0;
  }
  if (o.writeSubset) {
    await writeSubset();
    return 0;
  }
  checkTools(true);

  let source: Iterable<FpRecord>;
  let total: number;
  let what: string;
  if (o.data) {
    const recs = decodeRecords(readFileSync(o.data));
    source = recs;
    total = recs.length;
    what = `${total} records from ${o.data}`;
  } else {
    const insns = parseInsns(o.insns);
    source = generate(insns, o.count, o.seed);
    total = insns.length * o.count;
    what = `${insns.length} instructions x ${o.count} operand sets, seed ${o.seed}`;
  }
  const nChunks = Math.ceil(total / o.chunk);
  console.log(`fpdiff: ${what}; ${nChunks} chunk(s) of up to ${o.chunk} records; ${o.jobs} in flight`);
  console.log(`  oracle: ${qemuVersion()}: ${QEMU} ${QEMU_ARGS.join(' ')} X`);
  console.log(`  tested: ${CYCLEVISOR.join(' ')} X --ram 256M`);

  const guest = readFileSync(GUEST);
  const tally = new Tally(o.show);
  const failures: string[] = [];
  const anchorFailures = await checkAnchors(guest);
  if (anchorFailures) failures.push(`cyclevisor fails ${anchorFailures} spec anchor(s)`);
  const t0 = performance.now();
  let done = 0;
  let doneRecords = 0;
  const inFlight = new Set<Promise<void>>();

  let index = 0;
  const it = chunks(source, o.chunk);
  let next = it.next();
  while (!next.done) {
    const recs = next.value;
    const k = index++;
    const dir = mkdtempSync(join(tmpdir(), 'fpdiff-'));
    const elf = join(dir, 'chunk.elf');
    writeFileSync(elf, appendSegment(guest, FPD_INPUT, encodeRecords(recs)));
    const task = (async () => {
      try {
        const [q, c] = await Promise.all([runQemu(elf, dir), runCyclevisor(elf, dir)]);
        const where = `chunk ${k + 1}`;
        try {
          tally.compare(recs, outcomes('qemu', q, recs), outcomes('cyclevisor', c, recs), where);
        } catch (e) {
          failures.push(`${where}: ${(e as Error).message}`);
          console.log(`FAILED ${where}: ${(e as Error).message}`);
        }
        done++;
        doneRecords += recs.length;
        const mism = tally.perInsn.reduce((n, s) => n + s.mismatchedRecords, 0);
        const el = (performance.now() - t0) / 1000;
        process.stderr.write(
          `  chunk ${k + 1}/${nChunks}: ${doneRecords} of ${total} records, ${mism} mismatched so far ` +
            `(qemu ${(q.ms / 1000).toFixed(1)} s, cyclevisor ${(c.ms / 1000).toFixed(1)} s; elapsed ${el.toFixed(0)} s)\n`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    })();
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
    next = it.next(); // generate the next chunk while this one runs (the guests write to files)
    if (inFlight.size >= o.jobs) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - t0) / 1000;

  // Report
  console.log('');
  console.log('instruction   operand sets   executions   mismatched sets   mismatched executions   known QEMU deviations');
  let records = 0, execs = 0, badRecs = 0, badExecs = 0, known = 0;
  OPS.forEach((op, i) => {
    const s = tally.perInsn[i]!;
    if (s.records === 0) return;
    records += s.records;
    execs += s.executions;
    badRecs += s.mismatchedRecords;
    badExecs += s.mismatchedExecutions;
    known += s.known;
    console.log(
      `${op.name.padEnd(12)} ${String(s.records).padStart(13)} ${String(s.executions).padStart(12)} ` +
        `${String(s.mismatchedRecords).padStart(17)} ${String(s.mismatchedExecutions).padStart(23)} ${String(s.known).padStart(23)}`,
    );
  });
  console.log(
    `${'total'.padEnd(12)} ${String(records).padStart(13)} ${String(execs).padStart(12)} ` +
      `${String(badRecs).padStart(17)} ${String(badExecs).padStart(23)} ${String(known).padStart(23)}`,
  );
  if (known) {
    console.log('');
    console.log(`Known QEMU deviations from the RISC-V spec (not counted as mismatches; cyclevisor follows the spec):`);
    for (const k of KNOWN_QEMU_DEVIATIONS) {
      const n = tally.knownCount.get(k);
      if (!n) continue;
      console.log(`  [${k.id}] ${n} executions: ${k.summary}`);
      console.log(`    e.g. ${tally.knownExamples.get(k)!.replace(/\n/g, '\n    ')}`);
    }
  }
  if (badExecs > tally.shown) console.log(`(${tally.shown} of ${badExecs} mismatching executions shown; --show N for more)`);
  if (o.saveMismatches && tally.saved.length) {
    writeFileSync(o.saveMismatches, encodeRecords(tally.saved));
    console.log(`saved ${tally.saved.length} mismatching records to ${o.saveMismatches} (rerun: --data ${o.saveMismatches})`);
  }
  for (const f of failures) console.log(`FAILED ${f}`);
  console.log(`time: ${seconds.toFixed(1)} s (${(records / seconds).toFixed(0)} operand sets/s)`);
  if (failures.length) console.log(`${failures.length} chunk(s) failed to run or gave a damaged transcript`);
  console.log(`${records} compared, ${badRecs} mismatches`);
  return badRecs > 0 || failures.length > 0 || records !== total ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof Usage) {
      console.error(`fpdiff: ${e.message}`);
      process.exit(2);
    }
    console.error(e);
    process.exit(1);
  },
);
