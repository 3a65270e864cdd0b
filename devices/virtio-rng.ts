/**
 * virtio-entropy (virtio 1.1 §5.4, device id 4): one request queue of device-writable buffers that
 * the device fills with random bytes.
 *
 * Deliberately NOT random: the bytes come from a seeded xoshiro128** generator (Blackman & Vigna),
 * seeded through splitmix64, so two runs with the same seed give the guest the same "entropy" and
 * stay cycle-for-cycle reproducible (the simulator's determinism guarantee). Change `seed` (a
 * constructor option; the CLI may pass one) to get a different stream. Never use this for anything
 * that needs real entropy inside the guest.
 *
 * Requests complete synchronously inside the kick (no latency model): the guest sees the used
 * buffer as soon as its QueueNotify store retires. At most MAX_REQUEST bytes go into one buffer
 * (the device may write less than offered, §5.4.6.1), which bounds host allocation.
 */
import { configReadLE, type VirtioDevice, type VirtQueue } from './virtio-mmio.js';

export const VIRTIO_ID_ENTROPY = 4;
/** Default seed: any fixed value works; this one spells "cyclevis". */
export const DEFAULT_RNG_SEED = 0x6379636c_65766973n;
/** Bytes written into one chain at most. */
const MAX_REQUEST = 64 * 1024;
const EMPTY_CONFIG = new Uint8Array(0);

export interface VirtioRngOptions {
  /** PRNG seed (default DEFAULT_RNG_SEED). */
  seed?: bigint | number;
  /** QueueNumMax (default 64). */
  queueSize?: number;
  name?: string;
}

export interface VirtioRngState {
  /** xoshiro128** state words (unsigned 32-bit). */
  s: [number, number, number, number];
  bytes: number;
  requests: number;
}

/** xoshiro128** state from a 64-bit seed via splitmix64 (the seeding its authors recommend). */
export function seedXoshiro128(seed: bigint): [number, number, number, number] {
  let x = BigInt.asUintN(64, seed);
  const M = (1n << 64n) - 1n;
  const next = (): bigint => {
    x = (x + 0x9e3779b97f4a7c15n) & M;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    return z ^ (z >> 31n);
  };
  const a = next();
  const b = next();
  const s: [number, number, number, number] = [
    Number(a & 0xffff_ffffn),
    Number(a >> 32n),
    Number(b & 0xffff_ffffn),
    Number(b >> 32n),
  ];
  // The all-zero state is the one xoshiro cannot leave; splitmix64 practically never gives it.
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  return s;
}

export class VirtioRng implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_ENTROPY;
  readonly features = 0n;
  readonly queueCount = 1;
  readonly queueMax: number;
  readonly name: string;
  readonly seed: bigint;
  /** Bytes handed to the guest. */
  bytes = 0;
  requests = 0;

  private s: [number, number, number, number];

  constructor(opts: VirtioRngOptions = {}) {
    this.name = opts.name ?? 'virtio-rng';
    this.seed = BigInt(opts.seed ?? DEFAULT_RNG_SEED);
    this.queueMax = opts.queueSize ?? 64;
    this.s = seedXoshiro128(this.seed);
  }

  /** No config space (§5.4.4). */
  configRead(offset: number, size: 1 | 2 | 4): number {
    return configReadLE(EMPTY_CONFIG, offset, size);
  }

  configWrite(): void {}

  onNotify(_queue: number, q: VirtQueue): void {
    let chain;
    while ((chain = q.pop()) !== null) {
      const data = this.fill(Math.min(chain.writableLen, MAX_REQUEST));
      const n = q.write(chain, 0, data);
      if (n < 0) return;
      this.bytes += n;
      this.requests++;
      q.push(chain, n);
    }
  }

  /**
   * Device reset does not rewind the generator: a guest that resets the device must not see the
   * same bytes again. Reseed with `reseed()` (machine-level decision).
   */
  reset(): void {}

  /** Restart the stream from `seed` (e.g. on machine reset, to replay a run from power-on). */
  reseed(seed: bigint | number = this.seed): void {
    this.s = seedXoshiro128(BigInt(seed));
  }

  /** Next 32 bits of xoshiro128** (reference: prng.di.unimi.it/xoshiro128starstar.c). */
  next32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** `n` bytes, little-endian from successive 32-bit outputs (a trailing partial word is dropped). */
  fill(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const w = this.next32();
      for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (w >>> (8 * k)) & 0xff;
    }
    return out;
  }

  getState(): VirtioRngState {
    const s = this.s;
    return { s: [s[0] >>> 0, s[1] >>> 0, s[2] >>> 0, s[3] >>> 0], bytes: this.bytes, requests: this.requests };
  }

  setState(state: unknown): void {
    const st = state as VirtioRngState;
    this.s = [st.s[0] | 0, st.s[1] | 0, st.s[2] | 0, st.s[3] | 0];
    this.bytes = st.bytes;
    this.requests = st.requests;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
