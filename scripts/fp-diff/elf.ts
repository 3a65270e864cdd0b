/**
 * How the operand records reach the guest: the driver makes a copy of test/guests/bin/fp-diff.elf
 * with one more PT_LOAD segment (R, at FPD_INPUT) holding the records. Both QEMU's `-kernel` ELF
 * loader and cyclevisor's load every PT_LOAD segment, so the same file runs unchanged on both, and
 * the committed ELF stays small (its .data holds no buffer).
 *
 * The copy is: the original bytes, the payload (at a 4 KiB aligned file offset, so p_offset ≡
 * p_vaddr mod p_align), then a new program header table (the old entries plus the new one); e_phoff
 * and e_phnum are updated. Section headers are untouched (they still describe the original sections).
 */

const PT_LOAD = 1;
const PF_R = 4;
const PHDR_SIZE = 56;

export function appendSegment(elf: Uint8Array, addr: number, payload: Uint8Array): Uint8Array {
  const dv0 = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (dv0.getUint32(0, false) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error('not a little-endian ELF64 file');
  const phoff = Number(dv0.getBigUint64(32, true));
  const phentsize = dv0.getUint16(54, true);
  const phnum = dv0.getUint16(56, true);
  if (phentsize !== PHDR_SIZE) throw new Error(`unexpected e_phentsize ${phentsize}`);
  // The new segment must not overlap an existing one.
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * PHDR_SIZE;
    if (dv0.getUint32(o, true) !== PT_LOAD) continue;
    const pa = Number(dv0.getBigUint64(o + 24, true));
    const memsz = Number(dv0.getBigUint64(o + 40, true));
    if (pa < addr + payload.length && addr < pa + memsz) throw new Error(`segment at 0x${addr.toString(16)} overlaps program header ${i}`);
  }
  const align = 4096;
  const dataOff = Math.ceil(elf.length / align) * align;
  const newPhoff = Math.ceil((dataOff + payload.length) / 8) * 8;
  const out = new Uint8Array(newPhoff + (phnum + 1) * PHDR_SIZE);
  out.set(elf, 0);
  out.set(payload, dataOff);
  out.set(elf.subarray(phoff, phoff + phnum * PHDR_SIZE), newPhoff);
  const dv = new DataView(out.buffer);
  const o = newPhoff + phnum * PHDR_SIZE;
  dv.setUint32(o, PT_LOAD, true);
  dv.setUint32(o + 4, PF_R, true);
  dv.setBigUint64(o + 8, BigInt(dataOff), true); // p_offset
  dv.setBigUint64(o + 16, BigInt(addr), true); // p_vaddr
  dv.setBigUint64(o + 24, BigInt(addr), true); // p_paddr
  dv.setBigUint64(o + 32, BigInt(payload.length), true); // p_filesz
  dv.setBigUint64(o + 40, BigInt(payload.length), true); // p_memsz
  dv.setBigUint64(o + 48, BigInt(align), true); // p_align
  dv.setBigUint64(32, BigInt(newPhoff), true); // e_phoff
  dv.setUint16(56, phnum + 1, true); // e_phnum
  return out;
}
