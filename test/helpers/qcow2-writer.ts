/**
 * Child process for the kill -9 test (test/qcow2.test.ts): writes to a qcow2 image through
 * Qcow2Image as fast as it can, each write allocating (new L2 tables too), and prints the index of
 * every write that returned. The parent kills it with SIGKILL at an arbitrary moment.
 *
 *   node --import tsx qcow2-writer.ts IMAGE SEED
 */
import { openImage } from '../../src/block/open-image.js';

export function pattern(i: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = (i * 2654435761 + 12345) >>> 0;
  for (let k = 0; k < len; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[k] = x >>> 24;
  }
  return b;
}

/**
 * Offset and length of write `i`: inside its own 64 KiB cluster (so no write overwrites another),
 * one cluster every 8 MiB of an 8 GiB disk (so an L2 table is allocated every 64 writes).
 */
export function placement(i: number, seed: number): { offset: number; len: number } {
  const slot = (i * 7919 + seed * 104729) % 900; // 7919 is prime: distinct slots for i < 900
  return { offset: slot * 8 * 2 ** 20 + ((i * 512) % 4096), len: 512 * (1 + ((i * 37) % 112)) };
}

if (process.argv[1]?.endsWith('qcow2-writer.ts')) {
  const [path, seedText] = process.argv.slice(2);
  const seed = Number(seedText);
  const d = openImage(path!, { readOnly: false });
  for (let i = 0; i < 900; i++) {
    const { offset, len } = placement(i, seed);
    d.write(offset, pattern(i, len));
    process.stdout.write(`${i}\n`);
  }
  d.close();
}
