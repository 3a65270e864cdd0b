/**
 * The JIT tier's async compile mode (issue 14 scope 3: "in a browser, modules over 4 KB must
 * compile asynchronously"; docs/JIT.md "Browser and async compile"; src/jit/async.ts).
 *
 * Tiers are exact, so async mode may change host time only: a block waiting for its module is
 * interpreted, and whenever the module arrives the guest's results (instret, cycles, class counts,
 * output, registers) are the interpreter's. A module whose frame was invalidated while it was in
 * flight (SMC, a host write) must never be installed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Core } from '../../src/core.js';
import * as L from '../../src/generated/layout.js';
import { encode } from '../../src/isa/encode.js';
import { VirtMachine } from '../../src/board/virt.js';
import { defaultAsyncCompile } from '../../src/jit/async.js';
import { host, setHost, type HostAdapter } from '../../src/host/host.js';
import type { Tier } from '../../src/jit/jit.js';
import { genProgram, runTier, runTierSlices } from '../../scripts/jit/difftest.js';
import { coreWith as coreAt, snapshot, LOOP, noMmio, smcProgram, slices } from './harness.js';

const ROOT = join(import.meta.dirname, '..', '..');
/** One turn of the event loop (what VirtMachine.runAsync's yields give the promises). */
const turn = () => new Promise<void>((r) => setImmediate(r));

/** A core of `tier` in async compile mode (harness.ts coreWith). */
function coreWith(tier: Tier, words: number[], threshold = 2): Core {
  return coreAt(tier, words, threshold, { async: true });
}

/** Block map entries of the first page (frame of 0x80000000) that hold a compiled block or a pending stub. */
function compiledEntries(core: Core): number {
  const dv = new DataView(core.ex.memory.buffer);
  // The frame holding page 0x80000 (frames.ts frameIndex hashes the page number: find its tag).
  let frame = 0;
  while (frame < L.FRAME_COUNT && dv.getBigUint64(L.FTAG_BASE + frame * 8, true) !== 0x80001n) frame++;
  let n = 0;
  for (let s = 0; s < L.FRAME_SIZE / 8; s++) if (dv.getUint16(L.JMAP_BASE + frame * (L.FRAME_SIZE >>> 3) + s * 2, true) >= L.JE_COMPILED) n++;
  return n;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('JIT async compile mode', () => {
  it('the default: async on a browser main thread only (no process, a document), sync in Node and in Workers', () => {
    expect(defaultAsyncCompile({ document: {} })).toBe(process.env.JIT_ASYNC !== '0');
    expect(defaultAsyncCompile({})).toBe(process.env.JIT_ASYNC === '1'); // a Worker: no document
    expect(defaultAsyncCompile({ process: {}, document: {} })).toBe(process.env.JIT_ASYNC === '1');
    const c = new Core({ ramBytes: 1 << 20, mmio: noMmio, tier: 'jit' });
    expect(c.jit!.async !== undefined).toBe(process.env.JIT_ASYNC === '1');
    const a = new Core({ ramBytes: 1 << 20, mmio: noMmio, tier: 'jit', jit: { async: true } });
    expect(a.jit!.async).toBeDefined();
  });

  // A counted loop with a load, a store, a multiply and a call/return (as test/jit/jit.test.ts).
  const loop = LOOP;

  /** The interpreter's 9,000 instructions of the loop, and a JIT core 300 in: its requests in flight. */
  function pendingLoop(): { interp: Core; core: Core; a: NonNullable<NonNullable<Core['jit']>['async']> } {
    const interp = coreWith('interp', loop);
    interp.insnLimit = 9000;
    interp.run();
    const core = coreWith('jit', loop);
    core.insnLimit = 300;
    core.run();
    return { interp, core, a: core.jit!.async! };
  }

  it('blocks are interpreted while their module is in flight and run compiled once the event loop installed it', async () => {
    const { interp, core, a } = pendingLoop();
    // Requested and pending: the stubs decline, nothing ran compiled, nothing installed yet.
    expect(a.stats().submitted).toBeGreaterThan(0);
    expect(a.stats().inFlight).toBe(a.stats().submitted);
    expect(a.stats().installed).toBe(0);
    expect(compiledEntries(core)).toBeGreaterThan(0);
    expect(core.jit!.stats().insns).toBe(0);
    await a.idle();
    expect(a.stats()).toMatchObject({ inFlight: 0, dropped: 0, failed: 0 });
    expect(a.stats().installed).toBe(a.stats().submitted);
    core.insnLimit = 9000;
    core.run();
    expect(core.jit!.stats().insns).toBeGreaterThan(8000);
    expect(snapshot(core)).toEqual(snapshot(interp));
  });

  it('every instruction limit and odd run slices, yielding to the event loop between slices: the interpreter\'s state and counters', async () => {
    for (const limit of [1, 7, 100, 1001, 5003, 8000]) {
      const s: unknown[] = [];
      for (const tier of ['interp', 'jit'] as const) {
        const core = coreWith(tier, loop);
        let n = 0;
        for (const _ of slices(core, limit)) if (n++ % 5 === 0) await turn();
        s.push(snapshot(core));
      }
      expect(s[1], `limit ${limit}`).toEqual(s[0]);
    }
  });

  it('the differential tester\'s random programs (traps, page crossings, SMC) with modules arriving between slices: the interpreter\'s state and counters', async () => {
    let jitInsns = 0;
    let installed = 0;
    let dropped = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const prog = genProgram(seed, 400);
      const a = runTier('interp', prog, seed, 20000);
      const g = runTierSlices('jit', prog, seed, 20000, true);
      let n = g.next();
      let core: Core | undefined;
      for (let k = 0; !n.done; k++) {
        core = n.value;
        // Between slices: wait until no module is in flight, but every third time only turn the
        // event loop once (modules still compiling stay pending). Many programs end within a slice
        // or two, so the waits are what lets their later slices run compiled code.
        if (k % 3 !== 2) await n.value.jit!.async!.idle();
        else await turn();
        n = g.next();
      }
      const b = n.value;
      expect(b.state, `seed ${seed}`).toEqual(a.state);
      await core!.jit!.async!.idle();
      dropped += core!.jit!.async!.stats().dropped;
      expect(b.status, `seed ${seed}`).toEqual(a.status);
      jitInsns += b.jitInsns;
      installed += b.jitInsns > 0 ? 1 : 0;
    }
    console.log(`async difftest: ${installed} of 20 programs ran compiled code, ${jitInsns} instructions, ${dropped} modules dropped (SMC)`);
    expect(installed).toBeGreaterThanOrEqual(6);
    // Some programs store over their own code while its modules are in flight.
    expect(dropped).toBeGreaterThan(0);
    expect(jitInsns).toBeGreaterThan(0.1 * 20 * 20000);
  });

  it('a flush of the code cache while modules are in flight: they are dropped, and compilation starts over', async () => {
    const { interp, core, a } = pendingLoop();
    const first = a.stats().submitted;
    expect(a.stats().inFlight).toBe(first);
    core.jit!.flush(); // what a full cache does
    expect(compiledEntries(core)).toBe(0);
    await a.idle();
    expect(a.stats()).toMatchObject({ installed: 0, dropped: first });
    core.insnLimit = 1000;
    core.run(); // hot again: new requests
    expect(a.stats().submitted).toBeGreaterThan(first);
    await a.idle();
    expect(a.stats().installed).toBe(a.stats().submitted - first);
    core.insnLimit = 9000;
    core.run();
    expect(core.jit!.stats().insns).toBeGreaterThan(7000);
    expect(snapshot(core)).toEqual(snapshot(interp));
  });

  it('cmark-small under VirtMachine.runAsync: same output, instructions, cycles and class counts as the interpreter; blocks installed during the run', async () => {
    const elf = readFileSync(join(ROOT, 'test/guests/bin/cmark-small.elf'));
    const run = async (tier: Tier) => {
      const m = new VirtMachine({ ramBytes: 16 << 20, tier, jit: { async: true, threshold: 200 } });
      m.loadElf(elf, 'cmark-small.elf');
      // Small slices and a yield after each: the board's async run path, as the page's worker runs
      // it. The run is shorter than a compile on a loaded machine, so each yield also waits until
      // no module is in flight (the host's yield, wrapped): where modules arrive is then fixed.
      const base = host();
      setHost(Object.assign(Object.create(base) as HostAdapter, {
        yieldToHost: async () => {
          await m.core.jit?.async?.idle();
          return base.yieldToHost();
        },
      }));
      try {
        const r = await m.runAsync({ yieldMs: 0, sliceCycles: 20_000 });
        const j = m.core.jit?.stats();
        await m.core.jit?.async?.idle();
        return { r, out: m.outputText(), instret: m.core.instret, cycles: m.core.cycles, cls: m.core.classCounts(), j };
      } finally {
        setHost(base);
      }
    };
    const i = await run('interp');
    const j = await run('jit');
    expect(i.r).toEqual({ reason: 'exit', code: 0 });
    expect(i.out.length).toBeGreaterThan(0);
    expect({ ...j, j: undefined }).toEqual({ ...i, j: undefined });
    // Compiled while the guest ran: installed at the yields, and most instructions ran compiled.
    expect(j.j!.async!.installed).toBeGreaterThan(0);
    expect(j.j!.insns).toBeGreaterThan(0.5 * j.instret);
  });

  it('runSync never yields: nothing is installed during the run, and the results are the interpreter\'s', async () => {
    const elf = readFileSync(join(ROOT, 'test/guests/bin/cmark-small.elf'));
    const res = (['interp', 'jit'] as const).map((tier) => {
      const m = new VirtMachine({ ramBytes: 16 << 20, tier, jit: { async: true, threshold: 200 } });
      m.loadElf(elf, 'cmark-small.elf');
      const r = m.runSync();
      return { m, v: { r, out: m.outputText(), instret: m.core.instret, cycles: m.core.cycles, cls: m.core.classCounts() } };
    });
    expect(res[1]!.v).toEqual(res[0]!.v);
    const a = res[1]!.m.core.jit!;
    expect(a.stats().insns).toBe(0);
    expect(a.async!.stats().installed).toBe(0);
    expect(a.async!.stats().submitted).toBeGreaterThan(0);
    await a.async!.idle();
    expect(a.async!.stats().installed).toBe(a.async!.stats().submitted);
  });

  /**
   * Make WebAssembly.instantiate settle in reverse order for its first two calls: the first waits
   * until the second has settled and been handled (or 2 s). Then a stale module arrives last, when
   * its table slots may already belong to newer blocks: the harshest order for the liveness check.
   */
  function reverseFirstTwoInstantiations(): void {
    const orig = WebAssembly.instantiate.bind(WebAssembly) as (m: WebAssembly.Module, i?: WebAssembly.Imports) => Promise<WebAssembly.Instance>;
    let calls = 0;
    let openGate!: () => void;
    const gate = new Promise<void>((r) => {
      openGate = r;
      setTimeout(r, 2000).unref();
    });
    vi.spyOn(WebAssembly, 'instantiate').mockImplementation(((m: WebAssembly.Module, i?: WebAssembly.Imports) => {
      const n = ++calls;
      if (n === 1) return gate.then(() => orig(m, i));
      const p = orig(m, i);
      if (n === 2) p.finally(() => setImmediate(openGate));
      return p;
    }) as never);
  }

  it('SMC: a module whose code was overwritten while it was in flight is dropped, never installed (even when it arrives last)', async () => {
    // loop: a0 += 1 (patched to a0 += 100 by a store when a1 reaches 10), a1 from 200 down to 0;
    // then `j .` spins. Threshold 50: the loop is requested long before the patch; after it, the
    // loop runs 10 more rounds (no new request) and the spin gets hot: a second request for the
    // frame, whose new blocks may reuse the table slots freed from the first.
    const prog = smcProgram(200, 10);
    reverseFirstTwoInstantiations();
    const s: unknown[] = [];
    for (const tier of ['interp', 'jit'] as const) {
      const core = coreWith(tier, prog, 50);
      core.insnLimit = 3000;
      core.run();
      expect(core.x(10)).toBe(190n + 10n * 100n);
      if (tier === 'jit') {
        const a = core.jit!.async!;
        expect(a.stats().submitted).toBe(2);
        expect(core.jit!.stats().invalidations).toBeGreaterThan(0);
        await a.idle();
        // The first module (pre-patch loop) is dropped; the second (the spin's) installed.
        expect(a.stats()).toMatchObject({ submitted: 2, installed: 1, dropped: 1, failed: 0, inFlight: 0 });
      }
      // Run the patched loop again from its head, 9 rounds (under the threshold: no new request;
      // a1 never meets 10: no new patch), then spin in compiled code: it must be the spin's.
      core.pc = 0x8000_0010n;
      core.setX(11, 9n);
      core.insnLimit = 6000;
      core.run();
      expect(core.x(10)).toBe(190n + 10n * 100n + 9n * 100n);
      if (tier === 'jit') expect(core.jit!.stats().insns).toBeGreaterThan(2000);
      s.push(snapshot(core));
    }
    expect(s[1]).toEqual(s[0]);
  });

  it('a host write (loader, DMA) over a page whose module is in flight: dropped, and the new code runs', async () => {
    const prog = [encode('addi', { rd: 10, rs1: 10, imm: 1 }), encode('jal', { rd: 0, imm: -4 })];
    const core = coreWith('jit', prog, 20);
    core.insnLimit = 1000;
    core.run();
    expect(core.x(10)).toBe(500n);
    const a = core.jit!.async!;
    expect(a.stats().inFlight).toBe(1);
    core.writePhys(0x8000_0000, new Uint8Array(new Uint32Array([encode('addi', { rd: 10, rs1: 10, imm: 3 })]).buffer));
    await a.idle();
    expect(a.stats()).toMatchObject({ submitted: 1, installed: 0, dropped: 1 });
    core.insnLimit = 2000;
    core.run(); // the new code gets hot: a second request
    expect(core.x(10)).toBe(500n + 3n * 500n);
    await a.idle();
    expect(a.stats()).toMatchObject({ submitted: 2, installed: 1, dropped: 1 });
    core.insnLimit = 4000;
    core.run();
    expect(core.x(10)).toBe(500n + 3n * 1500n);
    expect(core.jit!.stats().insns).toBeGreaterThan(1500);
  });
});
