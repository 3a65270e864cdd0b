/**
 * The guest programs of test/guests (programs.tsv): names, machines, expected exit codes, stdin;
 * and where the Linux/firmware images of /work/shared/guests are found.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const GUESTS = join(ROOT, 'test', 'guests');

/** The Linux, initramfs and firmware images (shared/guests/README.md); CI keeps them next to the repository. */
export const IMAGES = join(ROOT, '..', 'shared', 'guests');
/** Path of one image in IMAGES. */
export const image = (name: string): string => join(IMAGES, name);
/** Whether every named image is there (the Linux tests skip, and say so, when one is not). */
export const haveImages = (...names: string[]): boolean => names.every((n) => existsSync(image(n)));

export interface GuestProgram {
  name: string;
  /** virt-h: the virt board with the H extension (cyclevisor's default; QEMU needs -cpu rv64,h=true). */
  machine: 'virt' | 'virt-h' | 'spike';
  exit: number;
  /** Bytes for the console input (decoded from the printf(1) format), or null for none. */
  stdin: Uint8Array | null;
  elf: string;
  expected: string;
}

/** Decodes the printf(1) escapes programs.tsv uses (\n \r \t \\ \xHH \NNN octal, %% ). */
export function printfBytes(format: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === '%' && format[i + 1] === '%') {
      out.push(0x25);
      i++;
      continue;
    }
    if (c !== '\\') {
      out.push(...new TextEncoder().encode(c));
      continue;
    }
    const n = format[++i];
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, a: 7, b: 8, f: 12, v: 11, '"': 34 };
    if (n !== undefined && n in simple) out.push(simple[n]!);
    else if (n === 'x') {
      const m = /^[0-9a-fA-F]{1,2}/.exec(format.slice(i + 1))![0];
      out.push(parseInt(m, 16));
      i += m.length;
    } else if (n !== undefined && /[0-7]/.test(n)) {
      const m = /^[0-7]{1,3}/.exec(format.slice(i))![0];
      out.push(parseInt(m, 8) & 0xff);
      i += m.length - 1;
    } else {
      throw new Error(`programs.tsv: unsupported escape \\${n}`);
    }
  }
  return Uint8Array.from(out);
}

/** The programs of test/guests/programs.tsv and of the S/U paging suite test/guests/vm/programs.tsv. */
export function guestPrograms(): GuestProgram[] {
  return [...programsIn(GUESTS), ...programsIn(join(GUESTS, 'vm'))];
}

function programsIn(dir: string): GuestProgram[] {
  const text = readFileSync(join(dir, 'programs.tsv'), 'utf8');
  const out: GuestProgram[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name, machine, exit, stdin] = line.split('\t');
    if (!name || (machine !== 'virt' && machine !== 'virt-h' && machine !== 'spike') || exit === undefined || stdin === undefined) {
      throw new Error(`programs.tsv: bad line '${line}'`);
    }
    out.push({
      name,
      machine,
      exit: Number(exit),
      stdin: stdin === '-' ? null : printfBytes(stdin),
      elf: join(GUESTS, 'bin', `${name}.elf`),
      expected: join(dir, 'expected', `${name}.out`),
    });
  }
  return out;
}
