/**
 * Shadow paging, the VMM side (issue 11 scope 1; the hot half — fill, PT-write emulation, roots,
 * pool — is assembly/shadow.ts, beside the walker). docs/PAGING.md describes both.
 *
 * A VM with `paging: shadow` runs with hgatp = Bare and vsatp = a shadow root the VMM owns. This
 * file:
 *  - allocates the VM's shadow area from the host frame pool (its `shadow_pages` shadow tables,
 *    their metadata, one record per guest page, a descriptor) and writes the descriptor the core
 *    reads (the offsets of assembly/shadow.ts);
 *  - keeps each vCPU's virtual satp and sets the vCPU up for shadow paging at every load:
 *    hgatp = Bare, hstatus.VTVM (satp and sfence.vma trap), page faults 12/13/15 not delegated
 *    (hedeleg), vsatp = the shadow root of its satp (the core finds or builds it);
 *  - handles the exits shadow paging adds: satp reads/writes and sfence.vma (virtual-instruction
 *    exits), and the page faults the core's shadowFault left standing: the guest's own faults
 *    (injected, `injectVS`) and MMIO (emulated as a guest-page-fault exit would be);
 *  - reads the counters (docs/PAGING.md names them) for the VM's statistics.
 * Nested mode's counters (walks, references per stage) come from the modeled TLB: PagingCounters
 * below accumulates them per VM around each vCPU run, in both modes.
 */
import type { Core } from '../core.js';
import { RAM_BASE } from '../core.js';
import * as L from '../generated/layout.js';
import type { VmExit } from '../vcpu.js';
import { UserError, formatSize } from '../errors.js';
import { readTlbStats, tlbModelEnabled } from '../tlbmodel.js';
import { CHUNK, type FramePool, type VmMemory } from './memory.js';
import { handleExit, type ExitEnv, type ExitOutcome } from './exits.js';
import type { Vcpu } from './vcpu.js';
import type { ExitReasonName } from './types.js';

import { MAX_SHADOW_PAGES, MIN_SHADOW_PAGES } from './paging.js';
export { DEFAULT_SHADOW_PAGES, MAX_SHADOW_PAGES, MIN_SHADOW_PAGES } from './paging.js';

const PAGE = 4096;
const MAX_AREA_CHUNKS = 64;
// Descriptor offsets (assembly/shadow.ts SHD_*).
const SHD = {
  GBASE: 0x08, GBYTES: 0x10, NPAGES: 0x18, META: 0x1c, RECS: 0x20, SP0: 0x24, FREE: 0x28, INUSE: 0x2c, PEAK: 0x30,
  LIMIT: 0x34, CNT: 0x40, ACHUNKS: 0x100, REV: 0x300, GCHUNKS: 0x1000,
} as const;
/** The core's counters (assembly/shadow.ts SC_*), in order, with their statistics names. */
export const SHADOW_COUNTERS = [
  'misses', 'pt_writes', 'flushes', 'rebuilds', 'reclaims', 'guest_faults', 'mmio', 'cycles', 'walk_refs',
  'write_protects', 'activations', 'root_hits', 'ad_updates', 'pages_allocated', 'rebuilds_rmap', 'rebuilds_level',
  'stale_roots', 'remote_fences',
] as const;
export type ShadowCounter = (typeof SHADOW_COUNTERS)[number];
// assembly/shadow.ts SK_*: what the last shadow fault was sorted into.
const SK_GUEST_PAGE_FAULT = 1;
const SK_MMIO = 2;
const SK_GUEST_ACCESS_FAULT = 3;

const HSTATUS_VTVM = 1n << 20n;
const PAGE_FAULTS = (1n << 12n) | (1n << 13n) | (1n << 15n);
const SATP_CSR = 0x180;
const U64 = (1n << 64n) - 1n;
const NONE = U64;

interface ShadowExports {
  shadowInit(desc: bigint): void;
  shadowLoad(desc: bigint, satp: bigint, entryCycles: number): void;
  shadowSetSatp(satp: bigint): void;
  shadowZap(desc: bigint): void;
  shadowSfence(hasVa: number, va: bigint, hasAsid: number, asid: number): void;
  shadowCountFence(desc: bigint): void;
  shadowLastKind(): number;
  shadowLastGpa(): bigint;
  shadowPeekGpa(va: bigint): bigint;
}

/**
 * Geometry of a VM's shadow area, in 4 KiB pages: page 0 the descriptor, pages 1-2 the guest chunk
 * table (1024 chunks: VMs up to 2 GiB, the most host RAM can hold), then the metadata, the records
 * and the shadow pages.
 */
export function shadowAreaPages(guestBytes: number, shadowPages: number): { meta: number; recs: number; sp0: number; total: number } {
  const meta = 3;
  const recs = meta + Math.ceil(shadowPages / 128);
  const sp0 = recs + Math.ceil(guestBytes / PAGE / 256);
  return { meta, recs, sp0, total: sp0 + shadowPages };
}

/** Exit counts and cycles by what shadow paging made the VMM do (VM exits the core returned). */
export interface ShadowExitCounts {
  satp: number;
  sfence: number;
  guestFaults: number;
  mmio: number;
}

export class ShadowMmu {
  /** HPA of the descriptor (area page 0). */
  readonly desc: number;
  readonly chunks: number[];
  readonly limit: number;
  /** Each vCPU's satp as the guest sees it (virtual: the hardware's vsatp is the shadow root). */
  readonly satp: bigint[];
  readonly exits: ShadowExitCounts = { satp: 0, sfence: 0, guestFaults: 0, mmio: 0 };
  private readonly ex: ShadowExports;
  private savedHedeleg = 0n;

  constructor(
    private readonly core: Core,
    private readonly pool: FramePool,
    private readonly memory: VmMemory,
    vcpus: number,
    shadowPages: number,
    private readonly entryCycles: number,
    name: string,
  ) {
    if (!(Number.isInteger(shadowPages) && shadowPages >= MIN_SHADOW_PAGES && shadowPages <= MAX_SHADOW_PAGES)) {
      throw new UserError(`${name}: shadow_pages must be a whole number from ${MIN_SHADOW_PAGES} to ${MAX_SHADOW_PAGES}, got ${shadowPages}`);
    }
    const g = shadowAreaPages(memory.bytes, shadowPages);
    const nChunks = Math.ceil(g.total / (CHUNK / PAGE));
    if (nChunks > MAX_AREA_CHUNKS) throw new UserError(`${name}: shadow_pages ${shadowPages} with ${formatSize(memory.bytes)} of memory needs more than ${formatSize(MAX_AREA_CHUNKS * CHUNK)} of shadow area`);
    const chunks = pool.alloc(nChunks);
    if (!chunks) {
      throw new UserError(`${name}: shadow paging needs ${formatSize(nChunks * CHUNK)} more host RAM (shadow_pages ${shadowPages}), only ${formatSize(pool.freeChunks * CHUNK)} free`);
    }
    this.chunks = chunks;
    this.limit = shadowPages;
    this.desc = chunks[0]!;
    this.satp = new Array<bigint>(vcpus).fill(0n);
    this.ex = core.ex as unknown as ShadowExports;
    // The descriptor: header, area chunk table, host-chunk reverse table, guest chunk table.
    if (memory.chunks.length > 1024) throw new UserError(`${name}: shadow paging handles at most 2G of guest memory`);
    const d = new Uint8Array(3 * PAGE);
    const v = new DataView(d.buffer);
    v.setBigUint64(SHD.GBASE, BigInt(0x8000_0000), true);
    v.setBigUint64(SHD.GBYTES, BigInt(memory.bytes), true);
    v.setUint32(SHD.NPAGES, g.total, true);
    v.setUint32(SHD.META, g.meta, true);
    v.setUint32(SHD.RECS, g.recs, true);
    v.setUint32(SHD.SP0, g.sp0, true);
    v.setUint32(SHD.LIMIT, shadowPages, true);
    chunks.forEach((c, j) => {
      v.setBigUint64(SHD.ACHUNKS + 8 * j, BigInt(c), true);
      d[SHD.REV + ((c - RAM_BASE) / CHUNK)] = j + 1;
    });
    memory.chunks.forEach((c, i) => v.setBigUint64(SHD.GCHUNKS + 8 * i, BigInt(c), true));
    core.writePhys(this.desc, d);
    this.ex.shadowInit(BigInt(this.desc));
  }

  /** Before Core.loadVcpu: the context runs with hgatp Bare and satp/sfence.vma trapping. */
  prepare(v: Vcpu): void {
    v.ctx.hgatp = 0n;
    v.ctx.hstatus |= HSTATUS_VTVM;
  }

  /** After Core.loadVcpu: page faults come to the VMM, vsatp = the shadow of the vCPU's satp. */
  loaded(v: Vcpu): void {
    this.savedHedeleg = this.core.get64(L.H_HEDELEG);
    this.core.set64(L.H_HEDELEG, this.savedHedeleg & ~PAGE_FAULTS);
    this.ex.shadowLoad(BigInt(this.desc), this.satp[v.index]!, this.entryCycles);
  }

  /** After Core.saveVcpu: the hart is the host's again. */
  unloaded(v: Vcpu): void {
    this.ex.shadowLoad(0n, 0n, 0);
    this.core.set64(L.H_HEDELEG, this.savedHedeleg);
    v.ctx.vsatp = 0n; // the shadow root is the VMM's, not part of the guest's state
  }

  /** A vCPU (re)started (boot, HSM hart_start, reboot): its satp is Bare. */
  resetVcpu(index: number): void {
    this.satp[index] = 0n;
  }

  /** Drop every shadow (VM reboot: the guest's memory is reloaded behind the shadow's back). */
  reset(): void {
    this.satp.fill(0n);
    this.ex.shadowZap(BigInt(this.desc));
  }

  /** A remote fence (SBI RFENCE) reached this VM: the host-TLB flush is the caller's; count it. */
  countRemoteFence(): void {
    this.ex.shadowCountFence(BigInt(this.desc));
  }

  /**
   * The exits shadow paging adds. null: not one of them (the VMM's usual dispatch, exits.ts).
   * Page faults 12/13/15 reach here only when the core's shadowFault left them standing.
   */
  handleExit(core: Core, e: VmExit, env: ExitEnv, v: Vcpu): { reason: ExitReasonName; outcome: ExitOutcome } | null {
    if (e.interrupt) return null;
    if (e.cause === 12 || e.cause === 13 || e.cause === 15) return this.pageFault(core, e, env, v);
    if (e.cause !== 22 || core.priv !== 1) return null; // VU: the usual illegal-instruction injection
    const insn = e.insn >>> 0;
    if ((insn & 0xfe007fff) === 0x12000073) {
      // sfence.vma rs1, rs2 (Priv 1.12 §4.2.1)
      const rs1 = (insn >>> 15) & 31;
      const rs2 = (insn >>> 20) & 31;
      this.ex.shadowSfence(rs1 !== 0 ? 1 : 0, BigInt.asUintN(64, core.x(rs1)), rs2 !== 0 ? 1 : 0, Number(BigInt.asUintN(16, core.x(rs2))));
      core.pc += 4n;
      this.exits.sfence++;
      return { reason: 'virtual-instruction', outcome: { kind: 'resume' } };
    }
    const f3 = (insn >>> 12) & 7;
    if ((insn & 0x7f) === 0x73 && insn >>> 20 === SATP_CSR && f3 !== 0 && f3 !== 4) {
      this.emulateSatp(core, insn, v);
      this.exits.satp++;
      return { reason: 'virtual-instruction', outcome: { kind: 'resume' } };
    }
    return null;
  }

  /** csrrw/csrrs/csrrc(i) on satp from VS-mode (hstatus.VTVM): the virtual satp, WARL as the hart's. */
  private emulateSatp(core: Core, insn: number, v: Vcpu): void {
    const f3 = (insn >>> 12) & 7;
    const rd = (insn >>> 7) & 31;
    const rs1 = (insn >>> 15) & 31;
    const src = f3 >= 5 ? BigInt(rs1) : BigInt.asUintN(64, core.x(rs1));
    const old = this.satp[v.index]!;
    const op = f3 & 3;
    const writes = op === 1 || rs1 !== 0; // csrrs/csrrc with rs1 = x0 (or uimm 0) do not write
    if (rd !== 0) core.setX(rd, old);
    if (writes) {
      const nv = op === 1 ? src : op === 2 ? old | src : old & ~src & U64;
      // The hart's WARL satp (csr.ts writeAtp): a MODE the hart does not accept leaves satp as it
      // was; Bare clears the whole register.
      const mode = Number(nv >> 60n);
      const modes = core.get64(L.H_SATP_MODES);
      if (mode === 0 || ((modes >> BigInt(mode)) & 1n) !== 0n) {
        this.satp[v.index] = mode === 0 ? 0n : nv;
        this.ex.shadowSetSatp(this.satp[v.index]!);
      }
    }
    core.pc += 4n;
  }

  private pageFault(core: Core, e: VmExit, env: ExitEnv, v: Vcpu): { reason: ExitReasonName; outcome: ExitOutcome } {
    const kind = this.ex.shadowLastKind();
    if (kind === SK_GUEST_PAGE_FAULT || kind === SK_GUEST_ACCESS_FAULT) {
      // The guest's own tables fault: what the hardware would have raised in VS-mode (KVM's
      // kvm_riscv_vcpu_trap_redirect of a shadow-walk fault).
      const cause = kind === SK_GUEST_PAGE_FAULT ? e.cause : e.cause === 12 ? 1 : e.cause === 13 ? 5 : 7;
      core.injectVS(cause, e.stval);
      this.exits.guestFaults++;
      return { reason: 'fault', outcome: { kind: 'resume' } };
    }
    if (kind === SK_MMIO) {
      this.exits.mmio++;
      if (e.cause === 12) {
        core.injectVS(1, e.stval); // fetch from a device: instruction access fault
        return { reason: 'fault', outcome: { kind: 'resume' } };
      }
      const gpa = this.ex.shadowLastGpa();
      let insn = e.insn;
      let length = e.length;
      if (length === 0) ({ insn, length } = this.fetchInsn(e.pc));
      // The device access as a guest-page-fault exit would present it (exits.ts: GPA = htval << 2 | stval & 3).
      const asGpf: VmExit = { ...e, cause: e.cause === 15 ? 23 : 21, htval: gpa >> 2n, insn, length };
      return handleExit(core, asGpf, env, v.index);
    }
    return {
      reason: 'other',
      outcome: { kind: 'crash', message: `shadow paging: unresolved page fault (cause ${e.cause}, address 0x${e.stval.toString(16)}) at pc 0x${e.pc.toString(16)}` },
    };
  }

  /** The instruction at guest-virtual pc through the guest's own table (the shadow may not map it). */
  private fetchInsn(pc: bigint): { insn: number; length: number } {
    const parcel = (va: bigint): number | null => {
      const gpa = this.ex.shadowPeekGpa(va);
      if (gpa === NONE || gpa >= 1n << 53n || !this.memory.inRam(Number(gpa), 2)) return null;
      const b = this.memory.read(Number(gpa), 2);
      return b[0]! | (b[1]! << 8);
    };
    const lo = parcel(pc);
    if (lo === null) return { insn: 0, length: 0 };
    if ((lo & 3) !== 3) return { insn: lo, length: 2 };
    const hi = parcel(pc + 2n);
    return hi === null ? { insn: 0, length: 0 } : { insn: (lo | (hi << 16)) >>> 0, length: 4 };
  }

  /** The core's counters and the pool's state. */
  counters(): Record<ShadowCounter, number> & { pages: number; pages_peak: number; pages_limit: number } {
    const b = this.core.readPhys(this.desc, 0x40 + 8 * SHADOW_COUNTERS.length);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const out = {} as Record<ShadowCounter, number> & { pages: number; pages_peak: number; pages_limit: number };
    SHADOW_COUNTERS.forEach((k, i) => {
      out[k] = Number(v.getBigUint64(SHD.CNT + 8 * i, true));
    });
    out.pages = v.getUint32(SHD.INUSE, true);
    out.pages_peak = v.getUint32(SHD.PEAK, true);
    out.pages_limit = this.limit;
    return out;
  }

  release(): void {
    this.pool.release(this.chunks);
    this.chunks.length = 0;
  }
}

/**
 * Per-VM two-dimensional walk counters from the modeled TLB (timing mode only; zero otherwise):
 * the running hart's counters are read before and after each vCPU run and the differences summed.
 */
export class PagingCounters {
  walks = 0;
  vsRefs = 0;
  gRefs = 0;
  faultWalks = 0;
  private start: { walks: number; vs: number; g: number } | null = null;

  begin(core: Core): void {
    const view = new DataView(core.ex.memory.buffer);
    if (!tlbModelEnabled(view)) {
      this.start = null;
      return;
    }
    const s = readTlbStats(view).nested;
    this.start = { walks: s.walks, vs: s.vsRefs, g: s.gRefs };
  }
  end(core: Core): void {
    if (!this.start) return;
    const s = readTlbStats(new DataView(core.ex.memory.buffer)).nested;
    this.walks += s.walks - this.start.walks;
    this.vsRefs += s.vsRefs - this.start.vs;
    this.gRefs += s.gRefs - this.start.g;
    this.start = null;
  }
}

/** The `paging.*` statistics of a VM (docs/PAGING.md). */
export function pagingStats(mode: 'nested' | 'shadow', walks: PagingCounters, shadow: ShadowMmu | null): Record<string, number | string> {
  const per = (n: number): number => (walks.walks > 0 ? n / walks.walks : 0);
  const s: Record<string, number | string> = {
    'paging.mode': mode,
    'paging.walks': walks.walks,
    'paging.walk_refs.vs': walks.vsRefs,
    'paging.walk_refs.g': walks.gRefs,
    'paging.refs_per_walk.vs': per(walks.vsRefs),
    'paging.refs_per_walk.g': per(walks.gRefs),
    'paging.refs_per_walk.total': per(walks.vsRefs + walks.gRefs),
  };
  if (shadow) {
    const c = shadow.counters();
    for (const [k, v] of Object.entries(c)) s[`paging.shadow.${k}`] = v;
    s['paging.shadow.exits.satp'] = shadow.exits.satp;
    s['paging.shadow.exits.sfence'] = shadow.exits.sfence;
    s['paging.shadow.exits.guest_faults'] = shadow.exits.guestFaults;
    s['paging.shadow.exits.mmio'] = shadow.exits.mmio;
  }
  return s;
}
