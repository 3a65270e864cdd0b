/**
 * docs/ABI.md stays true to the built core.wasm: exactly the three documented imports, every export
 * named on the page, the wasm features it claims (no SIMD, threads, multi-value, reference types),
 * and include/cyclevisor_layout.h is the generated one (test/isa/table.test.ts checks its content).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/guests.js';
import * as L from '../../src/generated/layout.js';

const wasm = readFileSync(join(ROOT, 'build', 'core.wasm'));
const mod = new WebAssembly.Module(wasm);
const doc = readFileSync(join(ROOT, 'docs', 'ABI.md'), 'utf8');
const header = readFileSync(join(ROOT, 'include', 'cyclevisor_layout.h'), 'utf8');

describe('core.wasm ABI (docs/ABI.md)', () => {
  it('imports exactly env.jit_compile, env.mmio_read and env.mmio_write', () => {
    const imports = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}:${i.kind}`).sort();
    expect(imports).toEqual(['env.jit_compile:function', 'env.mmio_read:function', 'env.mmio_write:function']);
  });

  it.each(WebAssembly.Module.exports(mod).map((e) => [e.name, e.kind] as const))('export %s (%s) is documented', (name) => {
    expect(doc.includes('`' + name) || doc.includes(` ${name}(`), `docs/ABI.md does not name the export ${name}`).toBe(true);
  });

  it('exports its memory and defines no start section (the host calls _initialize)', () => {
    const ex = WebAssembly.Module.exports(mod);
    expect(ex.find((e) => e.name === 'memory')?.kind).toBe('memory');
    expect(ex.find((e) => e.name === '_initialize')?.kind).toBe('function');
  });

  it('the C header carries the layout names the page uses, with the generated values', () => {
    for (const name of ['H_X', 'H_PC', 'H_PRIV', 'H_F', 'H_CYCLES', 'H_INSTRET', 'C_DEADLINE', 'C_INSN_LIMIT', 'C_STOP', 'C_MMIO_LO', 'C_MMIO_HI', 'RAM_OFFSET', 'RAM_GPA'] as const) {
      expect(doc).toContain(name);
      const v = (L as Record<string, number>)[name]!;
      expect(header).toMatch(new RegExp(`#define CV_${name} 0x${v.toString(16)}u`));
    }
  });
});
