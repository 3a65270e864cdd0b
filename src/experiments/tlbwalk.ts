/**
 * Runs the experiments' bare-metal guest `test/guests/bin/tlbwalk.elf` (source:
 * test/guests/expts/tlbwalk.c) with chosen parameters and modeled-TLB configuration, and returns
 * its measurements. Random loads over a working set of 4 KiB pages, natively (S-mode, satp) or as
 * a guest (VS-mode, vsatp + hgatp, G-stage leaves 4 KiB or 2 MiB).
 *
 * The parameters are written into the program's `tlbwalk_params` after loading; its
 * `tlbwalk_result` (cycle and instret CSRs around the guest's loop, the loads' checksum) and the
 * modeled TLB's counters are read at the end. Deterministic: same parameters, same numbers.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtMachine } from '../board/virt.js';
import { defaultTiming, type TimingConfig } from '../timing.js';
import type { TlbStats } from '../tlbmodel.js';
import { UserError } from '../errors.js';

/** The repository root, from src/experiments (tsx) or dist/src/experiments (compiled). */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'test', 'guests'))) return d;
    d = dirname(d);
  }
  throw new UserError('cannot find the cyclevisor repository root (test/guests/) from ' + fileURLToPath(import.meta.url));
}

export function guestElf(name: string): string {
  return join(repoRoot(), 'test', 'guests', 'bin', `${name}.elf`);
}

export interface TlbwalkParams {
  nested: boolean;
  sv: 39 | 48;
  /** G-stage leaf size in bytes' log2: 12 (4 KiB) or 21 (2 MiB). Ignored natively. */
  gshift: 12 | 21;
  /** Working set in 4 KiB pages (a power of two, at most 16384). */
  wsPages: number;
  loads: number;
  seed: bigint;
}

export interface TlbwalkResult {
  /** Cycles and instructions of the guest's loop (mode switches included), from the guest's CSRs. */
  loopCycles: number;
  loopInstret: number;
  /** Checksum of the loaded words: must not depend on the paging configuration. */
  sum: string;
  /** The whole run (setup included). */
  instret: number;
  cycles: number;
  tlb: TlbStats;
  console: string;
}

const MAGIC = 0x746c6277616c6b31n;

export function runTlbwalk(p: TlbwalkParams, timing: TimingConfig = defaultTiming()): TlbwalkResult {
  const m = new VirtMachine({ mode: 'timing', timing });
  const img = m.loadElfFile(guestElf('tlbwalk'));
  const at = (sym: string): number => {
    const a = img.symbols.get(sym);
    if (a === undefined) throw new Error(`tlbwalk.elf has no ${sym} symbol`);
    return Number(a);
  };
  const params = new DataView(new ArrayBuffer(56));
  const words = [MAGIC, p.nested ? 1n : 0n, BigInt(p.sv), BigInt(p.gshift), BigInt(p.wsPages), BigInt(p.loads), p.seed];
  words.forEach((w, i) => params.setBigUint64(8 * i, w, true));
  m.core.writePhys(at('tlbwalk_params'), new Uint8Array(params.buffer));
  const r = m.runSync({ maxInsns: 2_000_000_000 });
  const out = m.outputText();
  if (r.reason !== 'exit' || r.code !== 0) throw new Error(`tlbwalk did not finish: ${JSON.stringify(r)}: ${out.trim()}`);
  const res = m.core.readPhys(at('tlbwalk_result'), 32);
  const v = new DataView(res.buffer, res.byteOffset, 32);
  if (v.getBigUint64(0, true) !== 1n) throw new Error('tlbwalk: no result');
  return {
    loopCycles: Number(v.getBigUint64(8, true)),
    loopInstret: Number(v.getBigUint64(16, true)),
    sum: '0x' + v.getBigUint64(24, true).toString(16).padStart(16, '0'),
    instret: Number(m.core.instret),
    cycles: Number(m.core.cycles),
    tlb: m.tlbStats(),
    console: out,
  };
}
