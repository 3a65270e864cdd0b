/**
 * Issue 9 scope 6, platform and firmware: `--cpu` (misa.H and what the device tree says), the builtin
 * SBI's RFENCE hypervisor fences (functions 3-6) and the delegations it sets with H present, as
 * OpenSBI 1.1 does.
 *
 * The H-on cases need a core.wasm that implements H (exports setHypervisor); on a core without it
 * they are skipped and the "h=on is refused" case runs instead.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as L from '../src/generated/layout.js';
import { VirtMachine } from '../src/board/virt.js';
import { bootLinux, virtDtConfig } from '../src/board/boot.js';
import { H_MEDELEG_BITS, H_MIDELEG_BITS } from '../src/board/firmware.js';
import { buildVirtDtb } from '../src/board/devicetree.js';
import { parseFdt } from '../src/board/fdt.js';
import { coreSupportsHypervisor, isaString, parseCpu, resolveCpu } from '../src/board/cpu.js';
import { parseArgs } from '../src/cli/args.js';
import { GATED_EXTS } from '../src/isa/table.js';
import { defaultTiming } from '../src/timing.js';
import {
  EXT_RFENCE,
  SBI_ERR_INVALID_PARAM,
  SBI_ERR_NOT_SUPPORTED,
  SBI_SUCCESS,
  handleSbiCall,
  type SbiHost,
} from '../src/board/sbi.js';
import { main } from '../src/cli/main.js';
import { fakeIo } from './helpers/cli-io.js';
import { errorOf } from './helpers/errors.js';
import { GUESTS } from './helpers/guests.js';

const HAVE_H = coreSupportsHypervisor();
const MISA_H = 1n << 7n;

const dir = mkdtempSync(join(tmpdir(), 'cyclevisor-cpu-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A minimal RISC-V Image header (Documentation/riscv/boot-image-header.rst). */
function fakeImage(): string {
  const img = new Uint8Array(4096);
  const dv = new DataView(img.buffer);
  dv.setBigUint64(0x10, 2n << 20n, true); // image_size
  dv.setUint32(0x38, 0x05435352, true); // "RSC\x05"
  const p = join(dir, 'Image');
  writeFileSync(p, img);
  return p;
}

function isaOf(dtb: Uint8Array): string {
  return parseFdt(dtb).root.find('/cpus/cpu@0')!.string('riscv,isa')!;
}

/** Issue 15: every selectable extension is on by default (`--cpu rv64`) but Shlcofideleg (cpu.ts DEFAULT_OFF). */
const ALL_EXT = Object.fromEntries(GATED_EXTS.map((e) => [e, e !== 'Shlcofideleg']));
const RVA22_ISA =
  'rv64imafdc_zicbom_zicbop_zicboz_zicond_zicsr_zifencei_zihintpause_zihpm_zfa_zfh_zfhmin_zba_zbb_zbc_zbkb_zbkc_zbkx_zbs_sscofpmf_sstc_svinval_svnapot_svpbmt';

describe('--cpu: misa.H and the device tree agree', () => {
  it('rv64,h=off: misa.H clear, riscv,isa without h', () => {
    const m = new VirtMachine({ ramBytes: 16 << 20, cpu: { h: false } });
    expect(m.cpu).toEqual({ h: false, ext: ALL_EXT });
    expect(m.core.getCsr(L.H_MISA) & MISA_H).toBe(0n);
    expect(isaOf(buildVirtDtb(virtDtConfig(m)))).toBe(RVA22_ISA);
  });

  it('rv64 alone = the defaults: H exactly when this core implements it', () => {
    const m = new VirtMachine({ ramBytes: 16 << 20 });
    expect(m.cpu.h).toBe(HAVE_H);
    expect((m.core.getCsr(L.H_MISA) & MISA_H) !== 0n).toBe(HAVE_H);
  });

  it.skipIf(!HAVE_H)('rv64,h=on: misa.H set on every hart; riscv,isa "rv64imafdch_..." (QEMU 7.2 order, our extensions)', () => {
    const m = new VirtMachine({ ramBytes: 16 << 20, harts: 2, cpu: { h: true } });
    expect(m.cpu).toEqual({ h: true, ext: ALL_EXT });
    for (const h of [1, 0]) {
      m.core.switchHart(h);
      expect(m.core.getCsr(L.H_MISA) & MISA_H).toBe(MISA_H);
    }
    const dtb = buildVirtDtb(virtDtConfig(m));
    for (const c of ['/cpus/cpu@0', '/cpus/cpu@1']) {
      expect(parseFdt(dtb).root.find(c)!.string('riscv,isa')).toBe(RVA22_ISA.replace('rv64imafdc_', 'rv64imafdch_'));
    }
  });

  it.skipIf(HAVE_H)('rv64,h=on on a core without the H extension: one clear error, not a lying device tree', () => {
    expect(errorOf(() => resolveCpu({ h: true }, false))).toBe(
      '--cpu rv64,h=on: this build of the core has no H extension (setHypervisor); use h=off',
    );
    expect(errorOf(() => new VirtMachine({ ramBytes: 16 << 20, cpu: { h: true } }))).toMatch(/no H extension/);
  });

  it('isaString: the letter h after c, nothing else changes', () => {
    expect(isaString({ h: true })).toBe('rv64imafdch_zicsr_zifencei_zihintpause_zihpm_sstc');
    expect(isaString({ h: false })).toBe('rv64imafdc_zicsr_zifencei_zihintpause_zihpm_sstc');
    const dt = (h: boolean) => isaOf(buildVirtDtb(virtDtConfig({ ramBytes: 64 << 20, timing: defaultTiming(), cpu: { h } })));
    expect(dt(true)).toBe(isaString({ h: true }));
    expect(dt(false)).toBe(isaString({ h: false }));
  });

  it('cyclevisor dtb --cpu: the blob says what boot would; bad --cpu exits 2 with one line', async () => {
    const io = fakeIo();
    expect(await main(['dtb', '--dts', '--cpu', 'rv64,h=off'], io)).toBe(0);
    expect(io.out()).toContain(`riscv,isa = "${RVA22_ISA}";`);
    const io2 = fakeIo();
    expect(await main(['dtb', '--dts', '--cpu', 'rv64'], io2)).toBe(0);
    expect(io2.out()).toContain(`riscv,isa = "${isaString({ h: HAVE_H, ext: ALL_EXT })}";`);
    // run takes it too (the program starts in M-mode either way).
    const run = fakeIo();
    expect(await main(['run', join(GUESTS, 'bin', 'hello.elf'), '--cpu', 'rv64,h=off'], run)).toBe(0);
    expect(run.out()).toContain('Hello');
    const bad = fakeIo();
    expect(await main(['boot', '--kernel', 'Image', '--cpu', 'rv64,h=sometimes'], bad)).toBe(2);
    expect(bad.err()).toBe("cyclevisor: --cpu rv64,h=sometimes: h expects 'on' or 'off', got 'sometimes'\n");
    expect(bad.out()).toBe('');
  });
});

describe('builtin SBI: delegation with and without H (OpenSBI 1.1 delegate_traps)', () => {
  const S_MEDELEG = 0xb109n; // misaligned fetch, breakpoint, U-ecall, the three page faults
  // SSIP, STIP, SEIP; and LCOFIP (13): OpenSBI delegates it when it finds Sscofpmf (scountovf
  // reads without a trap), which every --cpu rv64 hart has.
  const S_MIDELEG = 0x2222n;

  it('h=off: what OpenSBI 1.1 sets without H', () => {
    const m = new VirtMachine({ ramBytes: 16 << 20, cpu: { h: false } });
    bootLinux(m, { bios: 'builtin', kernel: fakeImage() });
    expect(m.core.getCsr(L.H_MEDELEG)).toBe(S_MEDELEG);
    expect(m.core.getCsr(L.H_MIDELEG)).toBe(S_MIDELEG);
  });

  it.skipIf(!HAVE_H)('h=on: also VS ecalls (10), guest-page faults (20, 21, 23), virtual instruction (22); VS interrupts read-only one', () => {
    const m = new VirtMachine({ ramBytes: 16 << 20, harts: 2, cpu: { h: true } });
    bootLinux(m, { bios: 'builtin', kernel: fakeImage() });
    for (const h of [1, 0]) {
      m.core.switchHart(h);
      // QEMU 7.2 -cpu rv64,h=true + OpenSBI 1.1 prints "Boot HART MEDELEG : 0x0000000000f0b509".
      expect(m.core.getCsr(L.H_MEDELEG)).toBe(0xf0b509n);
      // 0x2666; QEMU reads 0x1666 (no Sscofpmf by default) because its GEILEN > 0 makes SGEIP (12)
      // read-only one too.
      expect(m.core.getCsr(L.H_MIDELEG)).toBe(0x2666n);
    }
    expect(S_MEDELEG | H_MEDELEG_BITS).toBe(0xf0b509n);
    expect(S_MIDELEG | H_MIDELEG_BITS).toBe(0x2666n);
  });
});

describe('builtin SBI: RFENCE hypervisor fences (SBI v1.0 §8.4-8.7, functions 3-6)', () => {
  function host(hypervisor: boolean, harts = 4) {
    const regs = new Array<bigint>(32).fill(0n);
    const fences: number[] = [];
    const hfences: number[] = [];
    const h: SbiHost = {
      harts,
      reg: (r) => regs[r]!,
      setReg: (r, v) => {
        regs[r] = v;
      },
      setTimer: () => {},
      sendIpi: () => {},
      remoteFence: (x) => fences.push(x),
      hypervisor,
      remoteHfence: (x) => hfences.push(x),
      console: () => {},
      consoleRead: () => -1,
      hartStart: () => true,
      hartStop: () => {},
      hartStatus: () => 0,
      reset: () => {},
      mvendorid: 0n,
      marchid: 0n,
      mimpid: 0n,
    };
    const call = (fid: number, ...args: bigint[]) => {
      regs[17] = BigInt(EXT_RFENCE);
      regs[16] = BigInt(fid);
      args.forEach((v, i) => (regs[10 + i] = v));
      return handleSbiCall(h, 0);
    };
    return { call, fences, hfences };
  }

  it('with H: each of 3-6 hfences exactly the harts of (mask, base), not the sfence path', () => {
    for (const fid of [3, 4, 5, 6]) {
      const t = host(true);
      // mask 0b101 from base 1 = harts 1 and 3; a range (start 0x1000, size 0x2000) and a VMID/ASID.
      expect(t.call(fid, 0b101n, 1n, 0x1000n, 0x2000n, 7n)).toEqual([SBI_SUCCESS, 0n]);
      expect(t.hfences).toEqual([1, 3]);
      expect(t.fences).toEqual([]);
      const all = host(true);
      expect(all.call(fid, 0n, (1n << 64n) - 1n, 0n, 0n)).toEqual([SBI_SUCCESS, 0n]);
      expect(all.hfences).toEqual([0, 1, 2, 3]);
    }
  });

  it('without H: 3-6 are SBI_ERR_NOT_SUPPORTED and flush nothing; 0-2 still work', () => {
    for (const fid of [3, 4, 5, 6]) {
      const t = host(false);
      expect(t.call(fid, 1n, 0n)).toEqual([SBI_ERR_NOT_SUPPORTED, 0n]);
      expect(t.hfences).toEqual([]);
      expect(t.fences).toEqual([]);
    }
    const t = host(false);
    expect(t.call(1, 1n, 0n, 0n, 0n)).toEqual([SBI_SUCCESS, 0n]);
    expect(t.fences).toEqual([0]);
  });

  it('a hart outside the machine is SBI_ERR_INVALID_PARAM; function 7 does not exist', () => {
    const t = host(true, 2);
    expect(t.call(4, 0b100n, 0n)).toEqual([SBI_ERR_INVALID_PARAM, 0n]);
    expect(t.hfences).toEqual([]);
    expect(t.call(7, 1n, 0n)).toEqual([SBI_ERR_NOT_SUPPORTED, 0n]);
  });
});

describe('--cpu and the RVA22 extensions (issue 15)', () => {
  it('rva22u64 / rva22s64 select the profiles; keys after the model override; rva22s64 brings Svade', () => {
    const u = parseCpu('rva22u64');
    expect(u.ext).toMatchObject({ Zba: true, Zbb: true, Zbs: true, Zfhmin: true, Zicbom: true, Zicboz: true, Zfh: false, Zbc: false, Svpbmt: false });
    expect(u.svade).toBeUndefined();
    const s = parseCpu('rva22s64,zbc=on,h=off');
    expect(s).toMatchObject({ h: false, svade: true, ext: { Zbc: true, Svinval: true, Svpbmt: true, Svnapot: true, Zicond: false } });
    expect(parseCpu('rv64,zbb=off,svpbmt=no')).toEqual({ ext: { Zbb: false, Svpbmt: false } });
    expect(() => parseCpu('rva23u64')).toThrow(/unknown CPU model 'rva23u64'/);
  });

  it('--ad-bits defaults to fault with rva22s64 (Svade), hardware otherwise; an explicit --ad-bits wins', () => {
    const ad = (...a: string[]) => (parseArgs(['boot', '--kernel', 'Image', ...a]) as { ad: string }).ad;
    expect(ad('--cpu', 'rva22s64')).toBe('fault');
    expect(ad('--cpu', 'rva22u64')).toBe('hardware');
    expect(ad('--cpu', 'rva22s64', '--ad-bits', 'hardware')).toBe('hardware');
    expect(ad()).toBe('hardware');
  });

  it('the device tree: riscv,isa, riscv,isa-base, riscv,isa-extensions and the cache-block sizes follow --cpu', () => {
    const m = new VirtMachine({ ramBytes: 16 << 20, cpu: parseCpu('rva22s64,h=off') });
    const cpu0 = parseFdt(buildVirtDtb(virtDtConfig(m))).root.find('/cpus/cpu@0')!;
    expect(cpu0.string('riscv,isa')).toBe('rv64imafdc_zicbom_zicbop_zicboz_zicsr_zifencei_zihintpause_zihpm_zfhmin_zba_zbb_zbs_sscofpmf_sstc_svinval_svnapot_svpbmt');
    expect(cpu0.string('riscv,isa-base')).toBe('rv64i');
    expect(cpu0.strings('riscv,isa-extensions')).toEqual(['i', 'm', 'a', 'f', 'd', 'c', 'zicbom', 'zicbop', 'zicboz', 'zicsr', 'zifencei', 'zihintpause', 'zihpm', 'zfhmin', 'zba', 'zbb', 'zbs', 'sscofpmf', 'sstc', 'svinval', 'svnapot', 'svpbmt']);
    expect(cpu0.u32('riscv,cbom-block-size')).toBe(64);
    expect(cpu0.u32('riscv,cboz-block-size')).toBe(64);
    const off = new VirtMachine({ ramBytes: 16 << 20, cpu: parseCpu('rv64,zicbom=off,zicboz=off') });
    const c1 = parseFdt(buildVirtDtb(virtDtConfig(off))).root.find('/cpus/cpu@0')!;
    expect(() => c1.u32('riscv,cbom-block-size')).toThrow();
    expect(c1.string('riscv,isa')).not.toContain('zicbo');
  });
});
