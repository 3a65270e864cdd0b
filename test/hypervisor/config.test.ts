/**
 * The VM definition file (issue 10: "a malformed file gets one line naming the field
 * (`vms[1].memory: expected a size like 256M`), exit 2"; unknown keys refused with one line;
 * reserved keys; paths relative to the file; host RAM <= 2G). Files are real files in a temp dir.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadHostConfig, vmConfigJsonSchema } from '../../src/hypervisor/config.js';
import { UserError } from '../../src/errors.js';
import { packageRoot } from '../../src/cli/main.js';
import { qcow2ImageBytes } from '../../src/block/qcow2-create.js';

const dir = mkdtempSync(join(tmpdir(), 'cv-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'images'));
writeFileSync(join(dir, 'images', 'Image'), Buffer.alloc(4096, 1));
writeFileSync(join(dir, 'images', 'initrd.cpio.gz'), Buffer.alloc(512, 2));
writeFileSync(join(dir, 'web.img'), Buffer.alloc(1 << 16));
writeFileSync(join(dir, 'ro.img'), Buffer.alloc(1 << 16));
chmodSync(join(dir, 'ro.img'), 0o444);

let n = 0;
function write(text: string, ext = 'yaml'): string {
  const p = join(dir, `f${n++}.${ext}`);
  writeFileSync(p, text);
  return p;
}

/** The one-line message (after "FILE: ") of loading `text`, or null if it loads. */
function errorOf(text: string, ext = 'yaml'): { line: string; code: number } | null {
  const p = write(text, ext);
  try {
    loadHostConfig(p);
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    const u = e as UserError;
    expect(u.message).not.toMatch(/\n/);
    expect(u.message.startsWith(`${p}`)).toBe(true);
    return { line: u.message.slice(p.length).replace(/^: /, ''), code: u.code };
  }
}

const VM = (extra = '') => `  - name: web\n    memory: 256M\n    kernel: images/Image\n${extra}`;
const FILE = (vms: string, host = 'host: { harts: 2, ram: 1G }') => `${host}\nvms:\n${vms}`;

describe('a valid file', () => {
  it("is the issue's example: defaults, sizes in bytes, paths absolute relative to the file", () => {
    const p = write(`host: { harts: 2, ram: 1G }
vms:
  - name: web
    vcpus: 2
    memory: 256M
    kernel: images/Image
    initrd: images/initrd.cpio.gz
    cmdline: console=ttyS0 autotest
    weight: 512          # share of host CPU, relative (default 256)
    cap: 50              # at most this % of one host hart (default: none)
    autostart: true
    disks: [ { file: web.img, readonly: false } ]
  - name: batch
    vcpus: 1
    memory: 128M
    kernel: ./images/Image
    cmdline: console=ttyS0
`);
    const cfg = loadHostConfig(p);
    expect(cfg.harts).toBe(2);
    expect(cfg.ramBytes).toBe(1 << 30);
    expect(cfg.vms.map((v) => v.name)).toEqual(['web', 'batch']);
    const [web, batch] = cfg.vms;
    expect(web).toMatchObject({
      vcpus: 2,
      memoryBytes: 256 << 20,
      kernel: join(dir, 'images', 'Image'),
      initrd: join(dir, 'images', 'initrd.cpio.gz'),
      cmdline: 'console=ttyS0 autotest',
      weight: 512,
      cap: 50,
      autostart: true,
      disks: [{ file: join(dir, 'web.img'), readonly: false }],
    });
    expect(batch).toMatchObject({ vcpus: 1, memoryBytes: 128 << 20, initrd: null, weight: 256, cap: null, autostart: true, disks: [], shutdownTimeout: 10, paging: 'nested' });
  });

  it('accepts JSON (JSON is YAML) and byte counts as numbers', () => {
    const p = write(JSON.stringify({ host: { harts: 1, ram: 268435456 }, vms: [{ name: 'a', memory: '64MiB', kernel: 'images/Image', autostart: false }] }), 'json');
    const cfg = loadHostConfig(p);
    expect(cfg.ramBytes).toBe(256 << 20);
    expect(cfg.vms[0]).toMatchObject({ memoryBytes: 64 << 20, autostart: false, vcpus: 1 });
  });

  it('paging: shadow with shadow_pages (issue 11), host mode and timing file', () => {
    writeFileSync(join(dir, 'costs.json'), '{}');
    const p = write(FILE(VM('    paging: shadow\n    shadow_pages: 512\n'), 'host: { harts: 1, ram: 1G, mode: timing, timing: costs.json }'));
    const cfg = loadHostConfig(p);
    expect(cfg.vms[0]).toMatchObject({ paging: 'shadow', shadowPages: 512 });
    expect(cfg.mode).toBe('timing');
    expect(cfg.timingFile).toBe(join(dir, 'costs.json'));
    const q = loadHostConfig(write(FILE(VM('    paging: shadow\n'))));
    expect(q.vms[0]).toMatchObject({ paging: 'shadow', shadowPages: null });
    expect([q.mode, q.timingFile]).toEqual(['fast', null]);
  });

  it('host.dedup (issue 12 scope 2) with its knobs', () => {
    const p = write(FILE(VM(), 'host: { harts: 1, ram: 1G, dedup: true, dedup_pages_per_scan: 500, dedup_scan_interval: 2000000, dedup_zero_pages: false }'));
    expect(loadHostConfig(p).dedup).toEqual({ pagesPerScan: 500, scanInterval: 2_000_000, zeroPages: false });
    expect(loadHostConfig(write(FILE(VM(), 'host: { harts: 1, ram: 1G, dedup: true }'))).dedup).toEqual({});
  });

  it('every VM has a balloon by default (issue 12), false removes it; a shadow VM has none', () => {
    expect(loadHostConfig(write(FILE(VM()))).vms[0]!.balloon).toBe(true);
    expect(loadHostConfig(write(FILE(VM('    balloon: false\n')))).vms[0]!.balloon).toBe(false);
    expect(loadHostConfig(write(FILE(VM('    paging: shadow\n')))).vms[0]!.balloon).toBe(false);
    // balloon: false gives its slot back: a sixth disk fits.
    expect(errorOf(FILE(VM(`    balloon: false\n    disks: [${Array(6).fill('{ file: ro.img, readonly: true }').join(', ')}]\n`)))).toBeNull();
  });

  it('accepts the reserved keys at their "off" values', () => {
    const p = write(FILE(VM('    paging: nested\n    nics: []\n    balloon: false\n'), 'host: { harts: 1, ram: 1G, dedup: false, overcommit: false }'));
    expect(loadHostConfig(p).vms[0]!.paging).toBe('nested');
  });

  it('accepts a readonly image without write permission, shared read-only by two VMs', () => {
    const vms = `${VM('    disks: [ { file: ro.img, readonly: true } ]\n')}  - name: b\n    memory: 64M\n    kernel: images/Image\n    disks: [ { file: ro.img, readonly: true } ]\n`;
    expect(errorOf(FILE(vms))).toBeNull();
  });

  it('a disk may name its format (raw or qcow2, as --drive format=); absent = probed; checked now', () => {
    writeFileSync(join(dir, 'web.qcow2'), qcow2ImageBytes({ size: 1 << 20 }));
    const p = write(FILE(VM('    disks: [ { file: web.qcow2, format: qcow2 }, { file: ro.img, readonly: true } ]\n')));
    const disks = loadHostConfig(p).vms[0]!.disks;
    expect(disks[0]).toMatchObject({ readonly: false, format: 'qcow2' });
    expect(disks[1]).not.toHaveProperty('format');
    // A qcow2 cut short, or format=qcow2 on a raw file: one line naming the disk.
    writeFileSync(join(dir, 'cut.qcow2'), qcow2ImageBytes({ size: 1 << 20 }).subarray(0, 512));
    expect(errorOf(FILE(VM('    disks: [ { file: cut.qcow2 } ]\n')))?.line).toBe(
      'vms[0].disks[0].file: cut.qcow2: qcow2 image is truncated: L1 table at offset 196608 is past the end of the file (512 bytes)',
    );
    expect(errorOf(FILE(VM('    disks: [ { file: web.img, format: qcow2 } ]\n')))?.line).toMatch(/^vms\[0\]\.disks\[0\]\.file: web\.img: format=qcow2 given, but the file is not a qcow2 image/);
  });
});

describe('one line naming the field, exit 2', () => {
  const cases: [string, string, string | RegExp][] = [
    // [what, file, expected line]
    ['a bad size (the issue\'s example)', FILE(`${VM()}  - name: b\n    memory: lots\n    kernel: images/Image\n`), 'vms[1].memory: expected a size like 256M'],
    ['a size of the wrong type', FILE(VM().replace('256M', 'true')), 'vms[0].memory: expected a size like 256M'],
    ['a negative size', FILE(VM().replace('256M', '-5')), 'vms[0].memory: expected a size like 256M'],
    ['an unknown key in a VM, with a suggestion', FILE(VM().replace('memory', 'memroy')), "vms[0].memroy: unknown key; did you mean 'memory'?"],
    ['an unknown key at the top', `${FILE(VM())}extra: 1\n`, /^extra: unknown key/],
    ['an unknown key in host', FILE(VM(), 'host: { harts: 2, ram: 1G, cpus: 4 }'), /^host\.cpus: unknown key/],
    ['an unknown key in a disk', FILE(VM('    disks: [ { file: web.img, ro: true } ]\n')), /^vms\[0\]\.disks\[0\]\.ro: unknown key/],
    // Issue 13: disks[].format is raw or qcow2 (as --drive format=), or absent (probed).
    ['a disk format other than raw/qcow2', FILE(VM('    disks: [ { file: web.img, format: vmdk } ]\n')), 'vms[0].disks[0].format: expected raw or qcow2'],
    ['a missing required key', FILE('  - name: web\n    memory: 256M\n'), 'vms[0].kernel: missing (required)'],
    ['host missing', 'vms:\n' + VM(), 'host: missing (required)'],
    ['host.ram missing', FILE(VM(), 'host: { harts: 2 }'), 'host.ram: missing (required)'],
    ['no VMs', FILE(' []').replace('vms:\n []', 'vms: []'), 'vms: expected at least one VM'],
    ['vms not a list', 'host: { harts: 1, ram: 1G }\nvms: web\n', 'vms: expected a list of VMs'],
    ['harts out of range', FILE(VM(), 'host: { harts: 9, ram: 1G }'), 'host.harts: expected a number of host harts from 1 to 8'],
    ['harts not whole', FILE(VM(), 'host: { harts: 1.5, ram: 1G }'), 'host.harts: expected a number of host harts from 1 to 8'],
    ['host.mode not fast or timing', FILE(VM(), 'host: { harts: 1, ram: 1G, mode: turbo }'), "host.mode: expected 'fast' or 'timing'"],
    ['vcpus out of range', FILE(VM('    vcpus: 0\n')), 'vms[0].vcpus: expected a number of vCPUs from 1 to 8'],
    ['weight out of range', FILE(VM('    weight: 70000\n')), 'vms[0].weight: expected a weight from 1 to 65535'],
    ['cap zero', FILE(VM('    cap: 0\n')), /^vms\[0\]\.cap: expected a percentage above 0/],
    ['cap above its vCPUs', FILE(VM('    cap: 150\n')), /^vms\[0\]\.cap: 150% is more than 1 vCPU\(s\) can use/],
    ['autostart not a boolean (YAML 1.2: "no" is a string)', FILE(VM('    autostart: no\n')), 'vms[0].autostart: expected true or false'],
    ['readonly not a boolean', FILE(VM('    disks: [ { file: web.img, readonly: yes } ]\n')), 'vms[0].disks[0].readonly: expected true or false'],
    ['host RAM above 2G, said so', FILE(VM(), 'host: { harts: 2, ram: 4G }'), /^host\.ram: 4 GiB is too large: .*at most 2G today/],
    ['host RAM not whole 2 MiB frames', FILE(VM(), 'host: { harts: 2, ram: 1025M }'), 'host.ram: 1025 MiB is not a multiple of 2M (memory is handed out in 2 MiB frames); try 1026 MiB'],
    ['VM memory above host RAM', FILE(VM().replace('256M', '2G')), /^vms\[0\]\.memory: 2 GiB is more than host\.ram \(1 GiB\)/],
    ['VM memory below 2M', FILE(VM().replace('256M', '2000000')), /^vms\[0\]\.memory: 1\.9 MiB is too small \(at least 2M\)/],
    ['VM memory not whole 2 MiB frames (2)', FILE(VM().replace('256M', '101M')), 'vms[0].memory: 101 MiB is not a multiple of 2M (memory is handed out in 2 MiB frames); try 102 MiB'],
    ['a fractional byte count', FILE(VM().replace('256M', '0.3K')), /^vms\[0\]\.memory: expected a size like 256M/],
    ['a duplicate name, ignoring case', FILE(`${VM()}  - name: WEB\n    memory: 64M\n    kernel: images/Image\n`), "vms[1].name: 'WEB' is already the name of vms[0] (names are unique, ignoring case)"],
    ['an invalid name', FILE(VM().replace('name: web', 'name: "web server"')), /^vms\[0\]\.name: 'web server' is not a valid name/],
    ['a name too long', FILE(VM().replace('name: web', `name: ${'a'.repeat(33)}`)), /^vms\[0\]\.name: 'a{33}' is not a valid name/],
    ['a name of the wrong type', FILE(VM().replace('name: web', 'name: 12')), /^vms\[0\]\.name: expected a name/],
    ['a missing kernel file, relative to the file', FILE(VM().replace('images/Image', 'images/nope')), 'vms[0].kernel: images/nope: no such file'],
    ['a directory as initrd', FILE(VM('    initrd: images\n')), 'vms[0].initrd: images: is a directory, not an initramfs'],
    ['a missing disk', FILE(VM('    disks: [ { file: gone.img } ]\n')), 'vms[0].disks[0].file: gone.img: no such file'],
    ['a disk listed twice read-write', FILE(`${VM('    disks: [ { file: web.img } ]\n')}  - name: b\n    memory: 64M\n    kernel: images/Image\n    disks: [ { file: ./web.img } ]\n`), /^vms\[1\]\.disks\[0\]\.file: \.\/web\.img is also vms\[0\]\.disks\[0\]\.file/],
    ['shutdown_timeout zero', FILE(VM('    shutdown_timeout: 0\n')), 'vms[0].shutdown_timeout: expected a number of seconds above 0, at most 3600'],
    ['shutdown_timeout not a number', FILE(VM('    shutdown_timeout: 10s\n')), 'vms[0].shutdown_timeout: expected a number of seconds above 0, at most 3600'],
    // Every VM has a balloon by default (issue 12): 8 slots less rng, console and balloon = 5.
    ['too many disks', FILE(VM(`    disks: [${Array(6).fill('{ file: ro.img, readonly: true }').join(', ')}]\n`)), 'vms[0].disks: 6 disks: a VM has room for 5 (6 with balloon: false)'],
    ['too many disks without a balloon', FILE(VM(`    balloon: false\n    disks: [${Array(7).fill('{ file: ro.img, readonly: true }').join(', ')}]\n`)), 'vms[0].disks: 7 disks: a VM has room for 6'],
    ['shadow_pages without paging: shadow', FILE(VM('    shadow_pages: 512\n')), 'vms[0].shadow_pages: only with paging: shadow'],
    ['balloon with paging: shadow', FILE(VM('    paging: shadow\n    balloon: true\n')), 'vms[0].balloon: not supported with paging: shadow yet'],
    ['overcommit with paging: shadow', FILE(VM('    paging: shadow\n'), 'host: { harts: 1, ram: 1G, overcommit: true }'), 'vms[0].paging: shadow is not supported with host.overcommit yet'],
    ['shadow_pages out of range', FILE(VM('    paging: shadow\n    shadow_pages: 10\n')), 'vms[0].shadow_pages: expected a number of 4 KiB shadow page-table pages from 16 to 16384'],
    ['host mode misspelt', FILE(VM(), 'host: { harts: 1, ram: 1G, mode: slow }'), "host.mode: expected 'fast' or 'timing'"],
    ['a missing timing file', FILE(VM(), 'host: { harts: 1, ram: 1G, timing: nope.json }'), 'host.timing: nope.json: no such file'],
    ['reserved: paging misspelt', FILE(VM('    paging: flat\n')), "vms[0].paging: expected 'nested' or 'shadow'"],
    // nics are supported since issue 13 (test/net-config.test.ts); a forward on a switch is not.
    ['nics: hostfwd on a switch', FILE(VM('    nics: [ { network: lan0, hostfwd: [ "tcp::8080-:80" ] } ]\n')), /^vms\[0\]\.nics\[0\]\.hostfwd: forwards need network: user/],
    ['dedup with paging: shadow', FILE(VM('    paging: shadow\n'), 'host: { harts: 1, ram: 1G, dedup: true }'), 'vms[0].paging: shadow is not supported with host.dedup yet'],
    ['a dedup knob without dedup', FILE(VM(), 'host: { harts: 1, ram: 1G, dedup_pages_per_scan: 100 }'), 'host.dedup_pages_per_scan: only with host.dedup: true'],
    ['dedup_pages_per_scan zero', FILE(VM(), 'host: { harts: 1, ram: 1G, dedup: true, dedup_pages_per_scan: 0 }'), /^host\.dedup_pages_per_scan: expected a number of pages from 1/],
    // Common field errors (issue 10 scope 9), each one line naming the field:
    ['a VM that is not a mapping', FILE('  - 5\n'), 'vms[0]: expected a VM like { name: web, memory: 256M, kernel: Image }'],
    ['host not a mapping', FILE(VM(), 'host: 5'), 'host: expected a mapping like { harts: 2, ram: 1G }'],
    ['a disk that is not a mapping', FILE(VM('    disks: [ 5 ]\n')), 'vms[0].disks[0]: expected a disk like { file: web.img }'],
    ['disks not a list', FILE(VM('    disks: web.img\n')), 'vms[0].disks: expected a list of disks like [ { file: web.img } ]'],
    ['a disk without a file', FILE(VM('    disks: [ { readonly: true } ]\n')), 'vms[0].disks[0].file: missing (required)'],
    ['host.ram not a size', FILE(VM(), 'host: { harts: 2, ram: lots }'), 'host.ram: expected a size like 256M'],
    ['host.harts not a number', FILE(VM(), 'host: { harts: two, ram: 1G }'), 'host.harts: expected a number of host harts from 1 to 8'],
    ['memory missing', FILE('  - name: web\n    kernel: images/Image\n'), 'vms[0].memory: missing (required)'],
    ['name missing', FILE('  - memory: 256M\n    kernel: images/Image\n'), 'vms[0].name: missing (required)'],
    ['a size with an unknown unit', FILE(VM().replace('256M', '256Q')), 'vms[0].memory: expected a size like 256M'],
    ['memory null', FILE(VM().replace('256M', 'null')), 'vms[0].memory: expected a size like 256M'],
    ['a size beyond any number', FILE(VM().replace('256M', '1e30')), 'vms[0].memory: expected a size like 256M'],
    ['vcpus not a number', FILE(VM('    vcpus: two\n')), 'vms[0].vcpus: expected a number of vCPUs from 1 to 8'],
    ['a fractional weight', FILE(VM('    weight: 1.5\n')), 'vms[0].weight: expected a weight from 1 to 65535'],
    ['cap not a number', FILE(VM('    cap: lots\n')), 'vms[0].cap: expected a percentage of one host hart (e.g. 50), or null for none'],
    ['kernel not a path', FILE(VM().replace('images/Image', '5')), 'vms[0].kernel: expected a kernel Image file'],
    ['initrd not a path', FILE(VM('    initrd: 5\n')), 'vms[0].initrd: expected an initramfs file'],
    ['cmdline not text', FILE(VM('    cmdline: [a, b]\n')), 'vms[0].cmdline: expected a kernel command line'],
    ['a field of the second VM in a JSON file', '{"host": {"harts": 1, "ram": "1G"}, "vms": [{"name": "a", "memory": "64M", "kernel": "images/Image"}, {"name": "b", "memory": "lots", "kernel": "images/Image"}]}', 'vms[1].memory: expected a size like 256M'],
    ['not a mapping', '- 1\n- 2\n', 'expected a mapping with keys host and vms (see docs/VM-CONFIG.md)'],
    ['an empty file', '', 'expected a mapping with keys host and vms (see docs/VM-CONFIG.md)'],
  ];
  for (const [what, text, want] of cases) {
    it(what, () => {
      const e = errorOf(text);
      expect(e, 'the file was accepted').not.toBeNull();
      if (typeof want === 'string') expect(e!.line).toBe(want);
      else expect(e!.line).toMatch(want);
      expect(e!.code).toBe(2);
    });
  }

  it('a YAML syntax error: file:line:col and the parser message', () => {
    const p = write('host: { harts: 2, ram: 1G\nvms: [\n');
    expect(() => loadHostConfig(p)).toThrow(new RegExp(`^${p}:\\d+:\\d+: `));
  });

  it('a duplicate key is refused (not the last one silently winning)', () => {
    const p = write('host: { harts: 2, ram: 1G }\nhost: { harts: 1, ram: 1G }\nvms: []\n');
    expect(() => loadHostConfig(p)).toThrow(`${p}:2:1: Map keys must be unique`);
  });

  it('a missing file is one line', () => {
    expect(() => loadHostConfig(join(dir, 'nope.yaml'))).toThrow(`${join(dir, 'nope.yaml')}: no such file`);
  });
});

describe('the published schema', () => {
  it('docs/vm-config.schema.json is the schema the loader uses (regenerate: npm run schema)', () => {
    const committed = JSON.parse(readFileSync(join(packageRoot(), 'docs', 'vm-config.schema.json'), 'utf8')) as unknown;
    expect(committed).toEqual(vmConfigJsonSchema());
  });

  it('refuses unknown keys and names every key of the issue', () => {
    const s = vmConfigJsonSchema() as { additionalProperties: boolean; properties: Record<string, { properties?: Record<string, unknown>; items?: { properties: Record<string, unknown>; additionalProperties: boolean } }> };
    expect(s.additionalProperties).toBe(false);
    expect(Object.keys(s.properties['host']!.properties!)).toEqual(['harts', 'ram', 'mode', 'dedup', 'dedup_pages_per_scan', 'dedup_scan_interval', 'dedup_zero_pages', 'overcommit', 'timing']);
    const vm = s.properties['vms']!.items!;
    expect(vm.additionalProperties).toBe(false);
    expect(Object.keys(vm.properties)).toEqual(['name', 'vcpus', 'memory', 'kernel', 'initrd', 'cmdline', 'weight', 'cap', 'autostart', 'disks', 'shutdown_timeout', 'paging', 'shadow_pages', 'nics', 'balloon']);
  });
});

describe('the committed example', () => {
  const example = join(packageRoot(), 'examples', 'three-vms.yaml');
  const shared = join(packageRoot(), '..', 'shared', 'guests', 'linux-6.1-rv64.Image');
  it.skipIf(!existsSync(shared))('examples/three-vms.yaml is valid: 3 VMs on a 2-hart host, busybox with 2 vCPUs', () => {
    const cfg = loadHostConfig(example);
    expect(cfg.harts).toBe(2);
    expect(cfg.vms.map((v) => [v.name, v.vcpus])).toEqual([
      ['web', 2],
      ['batch1', 1],
      ['batch2', 1],
    ]);
    expect(cfg.vms[0]!.initrd).toMatch(/initramfs-busybox\.cpio\.gz$/);
  });
  const agentCpio = join(packageRoot(), 'build', 'initramfs-agent.cpio');
  it.skipIf(!existsSync(shared) || !existsSync(agentCpio))('examples/agent-shell.yaml is valid: one VM with the agent initramfs (built by the global setup)', () => {
    const cfg = loadHostConfig(join(packageRoot(), 'examples', 'agent-shell.yaml'));
    expect(cfg.vms.map((v) => [v.name, v.initrd, v.shutdownTimeout])).toEqual([['shell', agentCpio, 10]]);
  });
});
