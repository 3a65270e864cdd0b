/** `boot --netdev` parsing (QEMU's -nic user option string) and its one-line refusals. */
import { describe, expect, it } from 'vitest';
import { parseArgs, type BootCommand } from '../src/cli/args.js';
import { ipFromString } from '../src/net/packet.js';

const boot = (...extra: string[]) => parseArgs(['boot', '--kernel', 'Image', ...extra]) as BootCommand;
const refusal = (...extra: string[]) => {
  try {
    boot(...extra);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('boot --netdev', () => {
  it('user, hostfwd rules (repeatable), mac; several --netdev give several NICs', () => {
    expect(boot().netdevs).toBeUndefined();
    const c = boot('--netdev', 'user,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::5353-10.0.2.15:53,mac=52:54:00:00:00:07', '--netdev', 'user,id=n1,model=virtio');
    expect(c.netdevs).toHaveLength(2);
    expect(c.netdevs![0].hostfwd).toEqual([
      { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 8080, guestAddr: ipFromString('10.0.2.15'), guestPort: 80 },
      { proto: 'udp', hostAddr: '', hostPort: 5353, guestAddr: ipFromString('10.0.2.15'), guestPort: 53 },
    ]);
    expect(Array.from(c.netdevs![0].mac!)).toEqual([0x52, 0x54, 0, 0, 0, 7]);
    expect(c.netdevs![1]).toEqual({ type: 'user', hostfwd: [], mac: null });
  });

  it.each([
    [['--netdev', 'tap'], '--netdev tap: only user networking is supported on boot (--netdev user); switches connect VMs of cyclevisor host (nics: in the VM file)'],
    [['--netdev', 'user,hostfwd=tcp:127.0.0.1:8080'], "--netdev user,hostfwd=tcp:127.0.0.1:8080: hostfwd 'tcp:127.0.0.1:8080' is not [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport"],
    [['--netdev', 'user,mac=01:02:03:04:05:06'], '--netdev user,mac=01:02:03:04:05:06: mac=01:02:03:04:05:06 is a multicast address (the first byte must be even)'],
    [['--netdev', 'user,restrict=on'], "--netdev user,restrict=on: unknown item 'restrict=on' (expected user[,hostfwd=tcp:HOSTADDR:PORT-:PORT][,mac=52:54:00:..])"],
    [['--netdev', ',hostfwd=tcp::1-:2'], '--netdev ,hostfwd=tcp::1-:2: no network type (expected user[,hostfwd=tcp:HOSTADDR:PORT-:PORT][,mac=52:54:00:..])'],
    [[...Array.from({ length: 4 }, (_, i) => ['--drive', `file=d${i}.img`]).flat(), ...Array.from({ length: 4 }, () => ['--netdev', 'user']).flat()], '4 --drive and 4 --netdev options: the board has room for 7 devices (8 virtio-mmio slots, one holds virtio-rng)'],
  ])('refuses %j', (args, line) => {
    expect(refusal(...args)).toBe(line);
  });

  it('is a boot option only', () => {
    expect(() => parseArgs(['run', 'x.elf', '--netdev', 'user'])).toThrow("option --netdev is for 'boot', not 'run'");
  });
});
