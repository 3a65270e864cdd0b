/**
 * The per-VM statistics `cyclevisor host` prints when every VM has shut off (issue 10 scope 8), and
 * the `virsh domstats` text `ctl domstats` prints. The numbers are the Host's (`HostControl.domstats`,
 * keys in libvirt domstats names where they exist; see control-api.ts and docs/VM-CONFIG.md); this
 * module only lays them out:
 *
 *   --stats text: one row per VM (name, state, vCPUs, instructions, cycles, host share, exits,
 *                 memory, resident, disk requests, console bytes), then each VM's exits by reason,
 *                 its guest-page faults and disk requests/bytes (ioLine), and in timing mode its
 *                 modeled-TLB line (tlbLine);
 *   --stats json: { "host": {...}, "vms": [ { "name": ..., "<domstats key>": value, ... } ] }.
 */
import { DOMAIN_STATE_NUMBER, type DomainState, type DomainStats, type StatValue } from './control-api.js';
import { groupDigits } from '../stats.js';
import { formatSize } from '../errors.js';

/** What the whole host did, for the header of the table (absent fields are not printed). */
export interface HostTotals {
  harts: number;
  ramBytes: number;
  /** Host cycles (the host's clock) and instructions retired by all vCPUs. */
  cycles?: number;
  instructions?: number;
  /** Why the run ended: 'done' (every VM shut off), 'max-insns', 'max-cycles', 'interrupted'. */
  end?: string;
}

const STATE_NAME: ReadonlyMap<number, DomainState> = new Map(
  (Object.entries(DOMAIN_STATE_NUMBER) as [DomainState, number][]).map(([k, v]) => [v, k]),
);

/** A numeric statistic (0 when absent or not a number). */
export function num(s: DomainStats, key: string): number {
  const v = s.stats[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** Sum of every `prefix<something>suffix` key, e.g. vcpu.*.instructions. */
export function sumOf(s: DomainStats, prefix: string, suffix: string): number {
  let t = 0;
  for (const [k, v] of Object.entries(s.stats)) {
    if (k.startsWith(prefix) && k.endsWith(suffix) && k.length > prefix.length + suffix.length && typeof v === 'number') t += v;
  }
  return t;
}

export function stateName(s: DomainStats): string {
  const v = s.stats['state.state'];
  if (typeof v === 'string') return v;
  return (typeof v === 'number' ? STATE_NAME.get(v) : undefined) ?? 'unknown';
}

/** Exit reasons in the order first seen: reason -> {count, cycles}. */
export function exitsByReason(s: DomainStats): Map<string, { count: number; cycles: number }> {
  const out = new Map<string, { count: number; cycles: number }>();
  for (const [k, v] of Object.entries(s.stats)) {
    const m = /^exit\.(.+)\.(count|cycles)$/.exec(k);
    if (!m || typeof v !== 'number') continue;
    const e = out.get(m[1]!) ?? { count: 0, cycles: 0 };
    e[m[2] as 'count' | 'cycles'] = v;
    out.set(m[1]!, e);
  }
  return out;
}

/** 1234567 -> "1.23M" for narrow table cells; exact below 100,000. */
export function compact(n: number): string {
  const a = Math.abs(n);
  if (a < 100_000) return groupDigits(n);
  for (const [div, unit] of [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'K'],
  ] as const) {
    if (a >= div) return `${(n / div).toFixed(n / div >= 100 ? 0 : n / div >= 10 ? 1 : 2)}${unit}`;
  }
  return String(n);
}

const HEAD = ['VM', 'State', 'vCPUs', 'Instructions', 'Cycles', 'Host share', 'Exits', 'Memory', 'Resident', 'Disk reqs', 'Console'];
const RIGHT = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10]);

const kib = (k: number): string => (k === 0 ? '0' : formatSize(k * 1024).replace(' ', ''));

/** The row of one VM. balloon.* are KiB, as libvirt's. */
export function vmRow(s: DomainStats): string[] {
  const share = s.stats['cpu.host_share'];
  return [
    s.name,
    stateName(s),
    String(num(s, 'vcpu.maximum') || num(s, 'vcpu.current')),
    compact(sumOf(s, 'vcpu.', '.instructions')),
    compact(sumOf(s, 'vcpu.', '.cycles')),
    typeof share === 'number' ? `${share.toFixed(1)}%` : '-',
    compact(sumOf(s, 'exit.', '.count')),
    kib(num(s, 'balloon.maximum')),
    kib(num(s, 'balloon.rss')),
    compact(sumOf(s, 'block.', '.rd.reqs') + sumOf(s, 'block.', '.wr.reqs')),
    `${compact(num(s, 'console.bytes'))} B`,
  ];
}

/**
 * The VM's guest-page faults and, per disk, requests and bytes (the point-8 statistics the table's
 * columns do not show): `web io: guest-page faults 14,911; vda 3 reads (1,536 B), 0 writes (0 B),
 * 0 flushes`. null when the host gives no `mem.guest_page_faults`.
 */
export function ioLine(s: DomainStats): string | null {
  if (!('mem.guest_page_faults' in s.stats)) return null;
  const parts = [`guest-page faults ${groupDigits(num(s, 'mem.guest_page_faults'))}`];
  for (let i = 0; i < num(s, 'block.count'); i++) {
    const k = (x: string) => groupDigits(num(s, `block.${i}.${x}`));
    const name = s.stats[`block.${i}.name`] ?? `disk ${i}`;
    parts.push(`${name} ${k('rd.reqs')} reads (${k('rd.bytes')} B), ${k('wr.reqs')} writes (${k('wr.bytes')} B), ${k('fl.reqs')} flushes`);
  }
  return `${s.name} io: ${parts.join('; ')}`;
}

/**
 * Timing mode (host.mode: timing): the VM's modeled-TLB line — L1 TLB accesses and misses, page
 * walks, and the two-dimensional walks' memory references (VS-stage + G-stage). null without tlb.* keys.
 */
export function tlbLine(s: DomainStats): string | null {
  if (!('tlb.walks' in s.stats)) return null;
  const c = (k: string) => compact(num(s, k));
  const l2 = 'tlb.l2.accesses' in s.stats ? `, L2 ${c('tlb.l2.accesses')} (${c('tlb.l2.misses')} misses)` : '';
  return (
    `${s.name} tlb: iTLB ${c('tlb.itlb.accesses')} (${c('tlb.itlb.misses')} misses), dTLB ${c('tlb.dtlb.accesses')} (${c('tlb.dtlb.misses')} misses)${l2}, ` +
    `walks ${c('tlb.walks')} (${c('tlb.walk_refs')} refs, ${c('tlb.walk_cycles')} cycles), ` +
    `two-dimensional ${c('tlb.nested.walks')} (${c('tlb.nested.vs_refs')} VS + ${c('tlb.nested.g_refs')} G-stage refs)`
  );
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, j) => (RIGHT.has(j) ? c.padStart(widths[j]!) : c.padEnd(widths[j]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The text table: a header line, one row per VM, then each VM's exits by reason. */
export function formatHostStatsText(vms: readonly DomainStats[], host: HostTotals): string {
  const head = [`cyclevisor host: ${vms.length} VM${vms.length === 1 ? '' : 's'} on ${host.harts} hart${host.harts === 1 ? '' : 's'}, ${formatSize(host.ramBytes)} host RAM`];
  if (host.cycles !== undefined) head.push(`${groupDigits(host.cycles)} host cycles`);
  if (host.instructions !== undefined) head.push(`${groupDigits(host.instructions)} instructions`);
  if (host.end !== undefined && host.end !== 'done') head.push(`stopped: ${host.end}`);
  const lines = [head.join(', '), table([HEAD, ...vms.map(vmRow)])];
  for (const s of vms) {
    const exits = exitsByReason(s);
    if (exits.size === 0) continue;
    const parts = [...exits].map(([r, e]) => `${r} ${compact(e.count)} (${compact(e.cycles)} cycles)`);
    lines.push(`${s.name} exits: ${parts.join(', ')}`);
  }
  for (const s of vms) {
    const io = ioLine(s);
    if (io !== null) lines.push(io);
    const t = tlbLine(s);
    if (t !== null) lines.push(t);
  }
  // NICs (libvirt's net.<n>.rx/tx.pkts/bytes/drop): one line per NIC.
  for (const s of vms) {
    const count = num(s, 'net.count');
    for (let i = 0; i < count; i++) {
      const dir = (d: 'rx' | 'tx'): string =>
        `${d} ${compact(num(s, `net.${i}.${d}.pkts`))} pkts ${compact(num(s, `net.${i}.${d}.bytes`))} B ${compact(num(s, `net.${i}.${d}.drop`))} drops`;
      lines.push(`${s.name} net.${i}: ${dir('rx')}, ${dir('tx')}`);
    }
  }
  for (const s of vms) {
    if (s.stats['paging.mode'] !== 'shadow') continue;
    const n = (k: string): string => compact(num(s, `paging.shadow.${k}`));
    lines.push(
      `${s.name} shadow paging: ${n('misses')} misses, ${n('pt_writes')} PT writes (${n('cycles')} cycles), ` +
        `${n('flushes')} flushes, ${n('rebuilds')} rebuilds, pages ${n('pages_peak')}/${n('pages_limit')} peak`,
    );
  }
  // Page deduplication (host.dedup): the host's totals (the same in every VM's ksm.* keys), KSM's names.
  const k = vms.find((s) => 'ksm.pages_sharing' in s.stats);
  if (k) lines.push(ksmLine(k, vms));
  return lines.join('\n') + '\n';
}

/**
 * `dedup: pages_shared 1, pages_sharing 30, pages_unshared 2, ksm_zero_pages 4,061, full_scans 40,
 * saved 16.0 MiB (zero pages 15.9 MiB), scanner 8.5M cycles`: saved = (pages_sharing + ksm_zero_pages) × 4 KiB.
 */
export function ksmLine(s: DomainStats, vms: readonly DomainStats[] = [s]): string {
  const n = (x: string) => groupDigits(num(s, `ksm.${x}`));
  const saved = (num(s, 'ksm.pages_sharing') + num(s, 'ksm.ksm_zero_pages')) * 4096;
  const ram = vms.reduce((a, v) => a + num(v, 'balloon.maximum') * 1024, 0);
  const pct = ram > 0 ? ` (${((100 * saved) / ram).toFixed(1)}% of guest RAM)` : '';
  return (
    `dedup: pages_shared ${n('pages_shared')}, pages_sharing ${n('pages_sharing')}, pages_unshared ${n('pages_unshared')}, ` +
    `ksm_zero_pages ${n('ksm_zero_pages')}, full_scans ${n('full_scans')}, saved ${formatSize(saved)}${pct}, ` +
    `zero pages ${formatSize(num(s, 'ksm.ksm_zero_pages') * 4096)}, scanner ${compact(num(s, 'ksm.scan_cycles'))} cycles`
  );
}

/** `--stats json`: one entry per VM under `vms`, its domstats keys flattened beside `name`. */
export function formatHostStatsJson(vms: readonly DomainStats[], host: HostTotals): string {
  const out = {
    host,
    vms: vms.map((s) => ({ name: s.name, ...s.stats })),
  };
  return JSON.stringify(out, null, 2) + '\n';
}

/** `virsh domstats` text: `Domain: 'web'` then `  key=value` lines, a blank line after each. */
export function formatDomstats(vms: readonly DomainStats[]): string {
  return vms.map((s) => `Domain: '${s.name}'\n${Object.entries(s.stats).map(([k, v]) => `  ${k}=${formatValue(v)}`).join('\n')}\n\n`).join('');
}

function formatValue(v: StatValue): string {
  return typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : String(v);
}
