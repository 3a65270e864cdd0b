/**
 * The fixed fuzz corpus that `npm test` runs without QEMU (test/fuzz.test.ts): CORPUS_COUNT
 * programs of seed CORPUS_SEED, with the P lines QEMU 7.2 printed for them committed in
 * test/guests/fuzz/expected/corpus.txt (written by `npm run fuzz -- --write-corpus`).
 *
 * The file's header records the SHA-256 of the input segment, so a change to the generator (which
 * changes the programs) is caught: the test then asks for the corpus to be rewritten from QEMU.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeBatch, type State } from './batch.js';
import { generate, type Program } from './gen.js';
import { QEMU_ARGS, qemuVersion, ROOT } from './run.js';

export const CORPUS_FILE = 'test/guests/fuzz/expected/corpus.txt';
export const CORPUS_SEED = 'corpus-1';
export const CORPUS_COUNT = 100;
export const CORPUS_ITEMS = 300;

export function corpusPrograms(): Program[] {
  return Array.from({ length: CORPUS_COUNT }, (_, i) => generate(CORPUS_SEED, i, { items: CORPUS_ITEMS }));
}

export function segmentHash(progs: readonly Program[]): string {
  return createHash('sha256').update(encodeBatch(progs)).digest('hex');
}

/** Parse the committed file: the segment hash and QEMU's transcript. */
export function parseCorpus(text: string): { hash: string; transcript: string } {
  const m = /^# segment sha256 ([0-9a-f]{64})$/m.exec(text);
  if (!m) throw new Error(`${CORPUS_FILE}: no segment hash line`);
  const transcript = text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
  return { hash: m[1]!, transcript };
}

type RunBoth = (progs: Program[]) => Promise<{ q: State[]; c: State[] }>;

/** Run the corpus on QEMU (and cyclevisor, via runBoth) and write QEMU's transcript. */
export async function writeCorpus(runBoth: RunBoth, qemuOut: (progs: Program[]) => Promise<string>): Promise<void> {
  const progs = corpusPrograms();
  await runBoth(progs); // both machines run it and parse
  const out = await qemuOut(progs);
  const lines = out.split('\n');
  const body = lines.slice(lines.indexOf('fuzz: start'), lines.indexOf('fuzz: end') + 1);
  const header = [
    `# fuzz corpus for npm test (test/fuzz.test.ts): ${CORPUS_COUNT} programs of ${CORPUS_ITEMS} items, seed '${CORPUS_SEED}'.`,
    `# Written by \`npm run fuzz -- --write-corpus\`; the P lines are ${qemuVersion()}'s output:`,
    `#   qemu-system-riscv64 ${QEMU_ARGS.join(' ')} X`,
    `# segment sha256 ${segmentHash(progs)}`,
  ];
  writeFileSync(join(ROOT, CORPUS_FILE), [...header, ...body, ''].join('\n'));
}
