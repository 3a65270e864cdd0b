/**
 * Decoded frames: the decode-once cache (GUIDE: decode once per block, page-local fetch).
 *
 * A frame holds the decoded slots of one 4 KiB physical page of code, one 16-byte slot per 2-byte
 * parcel (layout.ts "Decoded slot fields"), decoded lazily the first time the parcel executes.
 * Frames are direct-mapped by physical page number. Two sentinel slots after the last parcel have
 * op PAGE_END, so sequential execution that runs off the page leaves the block and re-translates.
 *
 * Self-modifying code: a page with a frame is marked in CODEMAP; the host TLB never maps such a
 * page for writes, so every store to it takes the slow path, which clears the slots the store
 * overlaps (invalidateCode). Host writes to guest RAM (loaders, DMA) call invalidatePhys.
 */
import {
  FRAME_BASE, FRAME_BITS, FRAME_COUNT, FRAME_SIZE, FRAME_SLOTS, FTAG_BASE, CODEMAP_BASE, SLOT_SIZE, RAM_GPA,
  PAGE_SHIFT, S_OP, S_CLS, S_LAT, S_LEN, LAT_BASE, SCRATCH_SLOT, C_FRAME_FILLS, C_SMC_INVAL,
} from './layout';
import { decodeInto } from './generated/decode';
import { tlbDropWritePage } from './mmu';

import { OP_PAGE_END } from './generated/ops';
import { jitClearFrame, jitFlush } from './jit';
import { J_FRAME_FLAG } from './layout';
export { OP_PAGE_END };

function initSentinels(frame: u32): void {
  for (let i: u32 = FRAME_SLOTS; i < FRAME_SLOTS + 4; i++) {
    store<u16>(frame + i * SLOT_SIZE, OP_PAGE_END, S_OP);
  }
}

/**
 * The frame index of physical page `ppn` (direct-mapped). The index mixes in the page number's high
 * bits: VMs place the same guest layout (a kernel's text) at the same offsets of different host
 * chunks (2 MiB, hypervisor/FramePool), and with the low bits alone their hot pages fought for the
 * same frames at every vCPU switch (three Linux VMs: 304 JIT invalidations, 307 modules).
 */
@inline function frameIndex(ppn: u64): u32 {
  return <u32>(ppn ^ (ppn >> FRAME_BITS) ^ (ppn >> (2 * FRAME_BITS))) & (FRAME_COUNT - 1);
}

/** The frame holding physical page `ppage` now, or 0 when none does (nothing is filled). */
@inline export function frameHeld(ppage: u64): u32 {
  const ppn = ppage >> PAGE_SHIFT;
  const idx = frameIndex(ppn);
  return load<u64>(FTAG_BASE + idx * 8) == ppn + 1 ? FRAME_BASE + idx * FRAME_SIZE : 0;
}

/** Base address of the frame caching physical page `ppage` (page-aligned pa), creating it. */
export function frameFor(ppage: u64): u32 {
  const held = frameHeld(ppage);
  if (held != 0) return held;
  const ppn = ppage >> PAGE_SHIFT;
  const idx = frameIndex(ppn);
  const frame = FRAME_BASE + idx * FRAME_SIZE;
  const tagAddr = FTAG_BASE + idx * 8;
  const tag = load<u64>(tagAddr);
  if (tag != 0) store<u8>(CODEMAP_BASE + <u32>((tag - 1) - (<u64>RAM_GPA >> PAGE_SHIFT)), 0);
  memory.fill(frame, 0, FRAME_SLOTS * SLOT_SIZE);
  initSentinels(frame);
  jitClearFrame(idx); // compiled blocks of the page this frame held (jit.ts)
  store<u64>(tagAddr, ppn + 1);
  store<u8>(CODEMAP_BASE + <u32>(ppn - (<u64>RAM_GPA >> PAGE_SHIFT)), 1);
  store<u64>(C_FRAME_FILLS, load<u64>(C_FRAME_FILLS) + 1);
  // Writes to this page must now take the slow path: drop any write mapping of it.
  tlbDropWritePage(ppage);
  return frame;
}

/** Decode `insn` into `slot` and set its class and latency bytes. */
export function fillSlot(slot: u32, insn: u32): void {
  decodeInto(insn, slot);
  const op = load<u16>(slot, S_OP);
  if (op == 1) {
    store<u8>(slot, 0, S_CLS);
    store<u8>(slot, 0, S_LAT);
  } else {
    const cls = load<u8>(slot, S_CLS);
    store<u8>(slot, cls + 1, S_CLS);
    store<u8>(slot, load<u8>(LAT_BASE + cls), S_LAT);
  }
}

/** Clear the decoded slots overlapping physical [pa, pa+size) (a store hit a code page). */
export function invalidateCode(pa: u64, size: u32): void {
  // A 4-byte instruction starting 2 bytes before pa overlaps too.
  let first = pa - 2;
  const end = pa + <u64>size;
  for (let a = first & ~(<u64>1); a < end; a += 2) {
    const ppn = a >> PAGE_SHIFT;
    const idx = frameIndex(ppn);
    if (load<u64>(FTAG_BASE + idx * 8) != ppn + 1) continue;
    const slot = FRAME_BASE + idx * FRAME_SIZE + (<u32>(a & 0xfff) >> 1) * SLOT_SIZE;
    if (load<u16>(slot, S_OP) != 0) {
      store<u16>(slot, 0, S_OP);
      store<u8>(slot, 0, S_CLS);
      store<u8>(slot, 0, S_LAT);
      store<u64>(C_SMC_INVAL, load<u64>(C_SMC_INVAL) + 1);
      // Compiled blocks were built from the decoded slots: drop the page's (jit.ts).
      if (load<u8>(J_FRAME_FLAG + idx) != 0) jitClearFrame(idx);
    }
  }
}

/** Host wrote guest RAM directly: drop the frames of every page in [pa, pa+len). */
export function invalidatePhys(pa: u64, len: u64): void {
  if (len == 0) return;
  const firstPage = pa >> PAGE_SHIFT;
  const lastPage = (pa + len - 1) >> PAGE_SHIFT;
  for (let p = firstPage; p <= lastPage; p++) {
    const idx = frameIndex(p);
    if (load<u64>(FTAG_BASE + idx * 8) == p + 1) {
      store<u64>(FTAG_BASE + idx * 8, 0);
      store<u8>(CODEMAP_BASE + <u32>(p - (<u64>RAM_GPA >> PAGE_SHIFT)), 0);
    }
  }
}

/** Drop every frame (timing table changed, reset). */
export function invalidateAllFrames(): void {
  for (let i: u32 = 0; i < FRAME_COUNT; i++) {
    const tag = load<u64>(FTAG_BASE + i * 8);
    if (tag != 0) store<u8>(CODEMAP_BASE + <u32>((tag - 1) - (<u64>RAM_GPA >> PAGE_SHIFT)), 0);
    store<u64>(FTAG_BASE + i * 8, 0);
  }
  jitFlush();
  // The scratch area: a slot for straddling instructions, then sentinels.
  memory.fill(SCRATCH_SLOT, 0, 4 * SLOT_SIZE);
  store<u16>(SCRATCH_SLOT + 2 * SLOT_SIZE, OP_PAGE_END, S_OP);
  store<u16>(SCRATCH_SLOT + 3 * SLOT_SIZE, OP_PAGE_END, S_OP);
}

