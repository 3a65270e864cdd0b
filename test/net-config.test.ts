/**
 * `nics:` in a VM definition file (issue 13, docs/VM-CONFIG.md): user networks with QEMU hostfwd
 * rules, named switches, MACs given or derived from the VM name, and the one-line refusals.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHostConfig } from '../src/hypervisor/config.js';
import { UserError } from '../src/errors.js';
import { macFromName } from '../src/net/link.js';
import { ipFromString } from '../src/net/packet.js';

const dir = mkdtempSync(join(tmpdir(), 'cv-netcfg-'));
mkdirSync(join(dir, 'images'));
writeFileSync(join(dir, 'images', 'Image'), new Uint8Array(64));
let n = 0;
function load(vms: string) {
  const p = join(dir, `f${n++}.yaml`);
  writeFileSync(p, `host: { harts: 2, ram: 1G }\nvms:\n${vms}`);
  return loadHostConfig(p);
}
function refusal(vms: string): string {
  try {
    load(vms);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message.replace(/^.*?\.yaml: /, '');
  }
  throw new Error('accepted');
}
const VM = (name: string, nics: string) => `  - name: ${name}\n    memory: 256M\n    kernel: images/Image\n    nics: ${nics}\n`;

describe('nics in the VM definition file', () => {
  it('user with hostfwd, a switch, and a given MAC', () => {
    const cfg = load(
      VM('web', '[ { network: user, hostfwd: [ "tcp:127.0.0.1:8080-:80", "udp::5353-:53" ] }, { network: lan0 } ]') +
        VM('db', '[ { network: lan0, mac: "52:54:00:aa:bb:cc" } ]'),
    );
    const [web, db] = cfg.vms;
    expect(web.nics!.map((x) => x.network)).toEqual(['user', 'lan0']);
    expect(web.nics![0].hostfwd).toEqual([
      { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 8080, guestAddr: ipFromString('10.0.2.15'), guestPort: 80 },
      { proto: 'udp', hostAddr: '', hostPort: 5353, guestAddr: ipFromString('10.0.2.15'), guestPort: 53 },
    ]);
    expect(web.nics![0].mac).toEqual(macFromName('web', 0));
    expect(web.nics![1].mac).toEqual(macFromName('web', 1));
    expect(Array.from(db.nics![0].mac)).toEqual([0x52, 0x54, 0, 0xaa, 0xbb, 0xcc]);
    expect(load(VM('x', '[]')).vms[0].nics).toEqual([]);
  });

  it.each([
    [VM('a', '[ { network: "bad name!" } ]'), "vms[0].nics[0].network: 'bad name!' is not 'user' or a switch name (letters, digits, '.', '_', '-')"],
    [VM('a', '[ { network: user, hostfwd: [ "tcp:1.2.3.4:80" ] } ]'), "vms[0].nics[0].hostfwd[0]: 'tcp:1.2.3.4:80' is not [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport"],
    [VM('a', '[ { network: user, mac: "01:00:5e:00:00:01" } ]'), 'vms[0].nics[0].mac: 01:00:5e:00:00:01 is a multicast address (the first byte must be even)'],
    [VM('a', '[ { network: user, mac: "52:54:00:zz:00:01" } ]'), 'vms[0].nics[0].mac: expected a MAC address like 52:54:00:12:34:56'],
    [VM('a', '[ { network: lan0, mac: "52:54:00:00:00:01" } ]') + VM('b', '[ { network: lan0, mac: "52:54:00:00:00:01" } ]'), 'vms[1].nics[0].mac: 52:54:00:00:00:01 is also the MAC of vms[0].nics[0]'],
    [VM('a', '[ { network: user, hostfwd: [ "tcp::8080-:80" ] } ]') + VM('b', '[ { network: user, hostfwd: [ "tcp::8080-:22" ] } ]'), 'vms[1].nics[0].hostfwd: tcp port 8080 is also forwarded by vms[0].nics[0]'],
    [VM('a', '[ { network: user, speed: 10 } ]'), "vms[0].nics[0].speed: unknown key (known keys: network, hostfwd, mac)"],
  ])('refuses %#', (vms, line) => {
    expect(refusal(vms)).toBe(line);
  });
});
