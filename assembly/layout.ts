/**
 * The linear-memory datasheet of core.wasm. Every fixed address the core uses is defined here, once,
 * as a chain of BASE/SIZE constants; scripts/gen.ts turns this file into src/generated/layout.ts so
 * the TypeScript side reads the same numbers (never copy an offset by hand).
 *
 *   0x0000_0000 ┌──────────────────────────────┐
 *               │ null guard (4 KiB)           │
 *   HART_BASE   ├──────────────────────────────┤ architectural state of the running hart:
 *               │ x0..x31, sink x32, pc, priv, │ integer registers, CSRs, counters, LR/SC
 *               │ CSRs, counters, reservation, │ reservation, f0..f31 and fcsr. One hart
 *               │ f0..f31, fcsr                │ runs at a time; SMP
 *               │                              │ harts are swapped in and out of this block.
 *   CTL_BASE    ├──────────────────────────────┤ run control shared with the host: deadline,
 *               │ run control, MMIO mailbox    │ instruction limit, stop reason, MMIO data
 *   LAT_BASE    ├──────────────────────────────┤ cycles charged per timing class (u8 each)
 *   CLS_BASE    ├──────────────────────────────┤ retired-instruction count per class (u64)
 *   HART_SAVE   ├──────────────────────────────┤ saved state of every hart (8 × 4 KiB)
 *   CODEMAP_BASE├──────────────────────────────┤ one byte per RAM page: has decoded code
 *   WATCH_BASE  ├──────────────────────────────┤ watched physical ranges (HTIF tohost...)
 *   FTAG_BASE   ├──────────────────────────────┤ decoded-frame tags (physical page per frame)
 *   TM_BASE     ├──────────────────────────────┤ modeled TLB (timing mode) of the running hart
 *   FRAME_BASE  ├──────────────────────────────┤ decoded frames: FRAME_COUNT (1,024) × 2048 slots × 16 B
 *   TLB_BASE    ├──────────────────────────────┤ host TLB per hart: per regime (M, S, U, VS, VU) read /
 *               │                              │ write / fetch arrays of {tag, addend}
 *   TM_SAVE_BASE├──────────────────────────────┤ modeled TLB of each hart that is not running
 *   TRACE_BASE  ├──────────────────────────────┤ trap trace ring (--trace-out), drained by the host
 *   JIT_BASE    ├──────────────────────────────┤ JIT tier: control words, block map (u16 per slot)
 *   DATA_BASE   ├──────────────────────────────┤ AssemblyScript static data (asconfig memoryBase)
 *   RAM_OFFSET  ├──────────────────────────────┤ guest RAM (guest-physical RAM_GPA upward),
 *               │            ...               │ grown at init to the configured size
 *               └──────────────────────────────┘
 */

// ---------------------------------------------------------------------------------------------
// Hart state. Each field is 8 bytes. x32 is the sink the decoder redirects rd = 0 to.
export const HART_BASE: u32 = 0x1000;
export const H_X: u32 = HART_BASE; // x0..x32
export const H_PC: u32 = H_X + 33 * 8;
export const H_PRIV: u32 = H_PC + 8; // 3 = M, 1 = S, 0 = U
// Machine-level CSRs (Priv 1.12 ch. 3)
export const H_MSTATUS: u32 = H_PRIV + 8;
export const H_MISA: u32 = H_MSTATUS + 8;
export const H_MEDELEG: u32 = H_MISA + 8;
export const H_MIDELEG: u32 = H_MEDELEG + 8;
export const H_MIE: u32 = H_MIDELEG + 8;
export const H_MIP: u32 = H_MIE + 8;
export const H_MTVEC: u32 = H_MIP + 8;
export const H_MSCRATCH: u32 = H_MTVEC + 8;
export const H_MEPC: u32 = H_MSCRATCH + 8;
export const H_MCAUSE: u32 = H_MEPC + 8;
export const H_MTVAL: u32 = H_MCAUSE + 8;
export const H_MCOUNTEREN: u32 = H_MTVAL + 8;
export const H_MCOUNTINHIBIT: u32 = H_MCOUNTEREN + 8;
export const H_MENVCFG: u32 = H_MCOUNTINHIBIT + 8;
export const H_MHARTID: u32 = H_MENVCFG + 8;
// Supervisor-level CSRs (Priv 1.12 ch. 4), laid out now for the supervisor issue.
export const H_STVEC: u32 = H_MHARTID + 8;
export const H_SSCRATCH: u32 = H_STVEC + 8;
export const H_SEPC: u32 = H_SSCRATCH + 8;
export const H_SCAUSE: u32 = H_SEPC + 8;
export const H_STVAL: u32 = H_SCAUSE + 8;
export const H_SATP: u32 = H_STVAL + 8;
export const H_SCOUNTEREN: u32 = H_SATP + 8;
export const H_SENVCFG: u32 = H_SCOUNTEREN + 8;
export const H_STIMECMP: u32 = H_SENVCFG + 8;
// Hypervisor state (H extension): two-stage translation roots, laid out now.
export const H_HGATP: u32 = H_STIMECMP + 8;
export const H_VSATP: u32 = H_HGATP + 8;
export const H_VIRT: u32 = H_VSATP + 8; // V bit: 1 while running VS/VU
// Counters. mcycle/minstret writes are kept as offsets against the live counts.
export const H_CYCLES: u32 = H_VIRT + 8; // cycles since reset (live; written back at run exit)
export const H_INSTRET: u32 = H_CYCLES + 8; // instructions retired since reset
export const H_MCYCLE_OFS: u32 = H_INSTRET + 8;
export const H_MINSTRET_OFS: u32 = H_MCYCLE_OFS + 8;
// Time: mtime = cycles / TIME_DIV + TIME_OFS (the CLINT owns the offset; the core mirrors it).
export const H_TIME_DIV: u32 = H_MINSTRET_OFS + 8;
export const H_TIME_OFS: u32 = H_TIME_DIV + 8;
// LR/SC reservation (Unpriv 8.2): physical address, or all ones when none.
export const H_RESV: u32 = H_TIME_OFS + 8;
// Trap counters for the stats.
// PMP (Priv 1.12 §3.7): 16 entries; cfg bytes packed as pmpcfg0/pmpcfg2 (RV64), addresses.
export const H_PMPCFG: u32 = H_RESV + 8; // 16 bytes: cfg of entry i at H_PMPCFG + i
export const H_PMPADDR: u32 = H_PMPCFG + 16; // 16 × u64
export const H_PMP_ACTIVE: u32 = H_PMPADDR + 16 * 8; // u64: 1 when any entry is enabled
// Behaviour switches (set by the host from the board config).
export const H_AD_UPDATE: u32 = H_PMP_ACTIVE + 8; // 1 = hardware sets PTE A/D (Svadu); 0 = page fault (Svade)
export const H_SATP_MODES: u32 = H_AD_UPDATE + 8; // bitmask of accepted satp MODE values (bit 8 Sv39, 9 Sv48, 10 Sv57)
export const H_STIMECMP_CYCLE: u32 = H_SATP_MODES + 8; // cycle at which time >= stimecmp (Sstc), or all ones
// mip.SEIP is the OR of a software-writable bit and the PLIC's line (Priv 1.12 §3.1.9); H_MIP
// holds the OR, these hold the two sources.
export const H_SEIP_SW: u32 = H_STIMECMP_CYCLE + 8;
export const H_SEIP_LINE: u32 = H_SEIP_SW + 8;
export const H_EXCEPTIONS: u32 = H_SEIP_LINE + 8;
export const H_INTERRUPTS: u32 = H_EXCEPTIONS + 8;
// Runaway-guest detector (trap.ts noteTrap, called by run.ts after each trap entry): traps taken
// in a row without an instruction retiring between them, and the instret value at the last trap
// (a trap that finds instret unchanged since the previous one extends the streak; any retirement
// starts a new one).
export const H_TRAP_STREAK: u32 = H_INTERRUPTS + 8;
export const H_TRAP_INSTRET: u32 = H_TRAP_STREAK + 8;
// F/D state (Unpriv ch. 11, 12): f0..f31, 64 bits each (a single is NaN-boxed: upper 32 bits all
// ones), and fcsr (bits 4:0 fflags, bits 7:5 frm; the CSRs fflags/frm/fcsr are views of it).
export const H_F: u32 = H_TRAP_INSTRET + 8;
export const H_FCSR: u32 = H_F + 32 * 8;
// Hypervisor extension (Priv spec ch. "Hypervisor Extension"). H_HGATP, H_VSATP and H_VIRT above
// hold hgatp, vsatp (raw CSR values) and V; the rest of the H state follows. hip/hie live in
// mip/mie (bits 2 VSSIP, 6 VSTIP, 10 VSEIP); hvip holds the software-written VS bits.
export const H_HSTATUS: u32 = H_FCSR + 8;
export const H_HEDELEG: u32 = H_HSTATUS + 8;
export const H_HIDELEG: u32 = H_HEDELEG + 8;
export const H_HVIP: u32 = H_HIDELEG + 8;
export const H_HCOUNTEREN: u32 = H_HVIP + 8;
export const H_HTIMEDELTA: u32 = H_HCOUNTEREN + 8;
export const H_HTVAL: u32 = H_HTIMEDELTA + 8;
export const H_HTINST: u32 = H_HTVAL + 8;
export const H_HENVCFG: u32 = H_HTINST + 8;
export const H_MTVAL2: u32 = H_HENVCFG + 8;
export const H_MTINST: u32 = H_MTVAL2 + 8;
// The VS CSRs (they substitute for the S CSRs while V = 1).
export const H_VSSTATUS: u32 = H_MTINST + 8;
export const H_VSTVEC: u32 = H_VSSTATUS + 8;
export const H_VSSCRATCH: u32 = H_VSTVEC + 8;
export const H_VSEPC: u32 = H_VSSCRATCH + 8;
export const H_VSCAUSE: u32 = H_VSEPC + 8;
export const H_VSTVAL: u32 = H_VSCAUSE + 8;
export const H_VSTIMECMP: u32 = H_VSTVAL + 8;
export const H_VSTIMECMP_CYCLE: u32 = H_VSTIMECMP + 8; // cycle at which time + htimedelta >= vstimecmp, or all ones
export const H_HYP: u32 = H_VSTIMECMP_CYCLE + 8; // 1 = misa.H is set (setHypervisor), 0 = no H extension
// Sdtrig debug triggers (Debug spec 1.0 ch. 5; assembly/trigger.ts): tselect, tdata1/tdata2 of
// each trigger (tdata1 = 0 stands for a disabled trigger, read as type 15), and a summary of what
// is armed (TRIG_ARMED_* bits) that the run loop and the memory slow paths test.
export const TRIG_COUNT: u32 = 4;
export const H_TSELECT: u32 = H_HYP + 8;
export const H_TRIG_ARMED: u32 = H_TSELECT + 8;
export const H_TDATA1: u32 = H_TRIG_ARMED + 8; // TRIG_COUNT × u64
export const H_TDATA2: u32 = H_TDATA1 + TRIG_COUNT * 8; // TRIG_COUNT × u64
// Zihpm (assembly/hpm.ts): mhpmevent3..31 and the offset that turns each counter's event source
// into its value (counters are derived at read time: nothing counts per instruction).
export const H_HPM_EVENT: u32 = H_TDATA2 + TRIG_COUNT * 8; // 29 × u64, mhpmevent3..31
export const H_HPM_OFS: u32 = H_HPM_EVENT + 29 * 8; // 29 × u64
// Bit n set: mhpmeventN has a mode-inhibit bit (Sscofpmf xINH), so privilege changes rebase it.
export const H_HPM_FILTER: u32 = H_HPM_OFS + 29 * 8;
// Sscofpmf overflow (hpm.ts hpmOvfUpdate): bit n set = counter n is armed (counting, OF = 0, its
// next wrap reachable); the cycle count and the instret at which the first armed cycles /
// instructions counter wraps (all ones = none), which the run loop treats as deadlines.
export const H_HPM_ARMED: u32 = H_HPM_FILTER + 8;
export const H_HPM_OVF_CYCLE: u32 = H_HPM_ARMED + 8;
export const H_HPM_OVF_INSTRET: u32 = H_HPM_OVF_CYCLE + 8;
export const HART_END: u32 = H_HPM_OVF_INSTRET + 8;
export const HART_SIZE: u32 = 0x1000;
// Saved state of every hart (the running one's copy is stale until saveHart()).
export const HART_SAVE_BASE: u32 = 0x8000;

// ---------------------------------------------------------------------------------------------
// Run control, shared with the host between and during run() calls.
export const CTL_BASE: u32 = HART_BASE + HART_SIZE;
export const C_DEADLINE: u32 = CTL_BASE; // u64: run() returns at the first block boundary with cycles >= this
export const C_INSN_LIMIT: u32 = C_DEADLINE + 8; // u64: ... or instret >= this
export const C_STOP: u32 = C_INSN_LIMIT + 8; // u32: set by the host (from an MMIO callback) to end the run early
export const C_MMIO_LO: u32 = C_STOP + 8; // u32 data mailbox of the MMIO import
export const C_MMIO_HI: u32 = C_MMIO_LO + 4;
export const C_RAM_SIZE: u32 = C_MMIO_HI + 4; // u64 bytes of guest RAM
export const C_TRACE_LEFT: u32 = C_RAM_SIZE + 8; // u64: instructions left to report through the trace import
export const C_UNMAPPED: u32 = C_TRACE_LEFT + 8; // u64: accesses that hit neither RAM nor a device
export const C_WATCH_COUNT: u32 = C_UNMAPPED + 8; // u32: live entries in the watch table
export const C_FRAME_FILLS: u32 = C_WATCH_COUNT + 8; // u64: decoded-frame allocations (stats)
export const C_SMC_INVAL: u32 = C_FRAME_FILLS + 8; // u64: decoded slots invalidated by stores (stats)
export const C_SBI_HOST: u32 = C_SMC_INVAL + 8; // u32: 1 = an S-mode ecall returns RUN_SBI to the host (--bios builtin)
export const C_HART: u32 = C_SBI_HOST + 4; // u32: id of the hart in the active block
export const C_HARTS: u32 = C_HART + 4; // u32: number of harts
// Host M-mode (--bios builtin): with C_MTRAP_HOST = 1 a trap that would enter M-mode does not; run()
// returns RUN_MTRAP with pc still at the trapping instruction (or the interrupted one), the trap's
// cause and tval here, and the host firmware emulates, redirects to S-mode or ends the run.
export const C_MTRAP_HOST: u32 = C_HARTS + 4; // u32: 1 = traps into M-mode go to the host
export const C_MTRAP_CAUSE: u32 = C_MTRAP_HOST + 4; // u64: mcause the trap would have written
export const C_MTRAP_TVAL: u32 = C_MTRAP_CAUSE + 8; // u64: mtval the trap would have written
// A hart that takes C_STUCK_LIMIT traps in a row without retiring an instruction is stuck: run()
// returns RUN_STUCK with the last trap's cause, pc (xepc) and the xtvec it went through here.
export const C_STUCK_LIMIT: u32 = C_MTRAP_TVAL + 8; // u32: 0 = never stuck (kept across reset)
export const C_STUCK_CAUSE: u32 = C_STUCK_LIMIT + 4; // u64 xcause of the last trap
export const C_STUCK_PC: u32 = C_STUCK_CAUSE + 8; // u64 pc of the trapping instruction (xepc)
export const C_STUCK_TVEC: u32 = C_STUCK_PC + 8; // u64 xtvec of the mode the trap went to
// Host-VMM mode (vmexit.ts): a V=1 trap that is not delegated to VS ends run() with RUN_VMEXIT and
// this exit record instead of entering HS/M (there is no firmware; the host is the hypervisor).
export const C_VMM: u32 = C_STUCK_TVEC + 8; // u32: 1 = host-VMM mode on
export const C_VMX_PENDING: u32 = C_VMM + 4; // u32: an exit was recorded; run() returns RUN_VMEXIT
export const C_VMX_CAUSE: u32 = C_VMX_PENDING + 8; // u64 (8-aligned): cause (bit 63: interrupt)
export const C_VMX_TVAL: u32 = C_VMX_CAUSE + 8; // u64: what stval would hold
export const C_VMX_HTVAL: u32 = C_VMX_TVAL + 8; // u64: what htval would hold (guest-page fault: GPA >> 2)
export const C_VMX_HTINST: u32 = C_VMX_HTVAL + 8; // u64: what htinst would hold
export const C_VMX_GVA: u32 = C_VMX_HTINST + 8; // u64: 1 = tval is a guest virtual address (hstatus.GVA)
export const C_VMX_PC: u32 = C_VMX_GVA + 8; // u64: pc of the trapping instruction (V and pc unchanged)
export const C_VMX_INSN: u32 = C_VMX_PC + 8; // u64: raw bits of the instruction at pc (0 if unreadable / interrupt)
export const C_VMX_LEN: u32 = C_VMX_INSN + 8; // u32: its length, 2 or 4 (0 when INSN is 0)
export const C_VMX_EXIT_CYCLES: u32 = C_VMX_LEN + 4; // u32: cycles charged per VM exit (timing file vmm.exitCycles)
export const C_VMX_EXITS: u32 = C_VMX_EXIT_CYCLES + 4; // u64: VM exits taken (stats)
// A VMM retry that must not be a block boundary (dedup.ts: a write to a merged page, resolved in
// host time): the exception's VM exit saves the block's deadline; with C_VMX_RESUME != 0 the next
// run() continues that block (no deadline / timer / interrupt check at the retried instruction).
export const C_VMX_DEADLINE: u32 = C_VMX_EXITS + 8; // u64: the cut block's deadline
export const C_VMX_RESUME: u32 = C_VMX_DEADLINE + 8; // u64: 1 = continue the cut block (one-shot)
export const C_VMX_RESV: u32 = C_VMX_RESUME + 8; // u64: the LR/SC reservation the last trap dropped (the VMM may give it back)
export const CTL_SIZE: u32 = 0x100;

// Per-class cycle cost (u8) and retired count (u64), indexed by src/isa/classes.ts ids.
export const LAT_BASE: u32 = CTL_BASE + CTL_SIZE;
export const LAT_SIZE: u32 = 32;
// CLS_BASE holds a dummy counter (index 0) then one u64 per class: a slot's S_CLS byte is class id + 1,
// so never-retired slots (not yet decoded, illegal, page-end sentinels) count into the dummy.
export const CLS_BASE: u32 = LAT_BASE + LAT_SIZE;
export const CLS_SIZE: u32 = 33 * 8;
export const TIMING_CLASS_BRANCH_TAKEN: u32 = 16;
export const TIMING_CLASS_TRAP: u32 = 17;

// ---------------------------------------------------------------------------------------------
// Host debugger (assembly/debug.ts; gdb stub and Unicorn-style hooks, src/debug/): breakpoints and
// code-hook ranges (execute points), watchpoints and memory-hook ranges, single-step, trap stops,
// checked by the core at instruction boundaries. The guest's own debugger is Sdtrig (trigger.ts).
// D_FLAGS = 0 (nothing armed) costs the run loop one load and compare per block boundary.
export const DBG_BASE: u32 = CLS_BASE + CLS_SIZE;
export const D_FLAGS: u32 = DBG_BASE; // u32: DBG_* bits (debug.ts) of what is armed
export const D_STEP_HART: u32 = D_FLAGS + 4; // u32: hart a single-step (DBG_STEP) applies to
export const D_N_EXEC: u32 = D_STEP_HART + 4; // u32: live entries in D_EXEC
export const D_N_WATCH: u32 = D_N_EXEC + 4; // u32: live entries in D_WATCH
export const D_MID: u32 = D_N_WATCH + 4; // u32: 1 = the stop cut a block: the next run() goes on with it
export const D_SKIP: u32 = D_MID + 4; // u32: 1 = do not stop at the execute point at D_SKIP_PC once
export const D_SKIP_PC: u32 = D_SKIP + 8; // u64 (8-aligned)
export const D_DEADLINE: u32 = D_SKIP_PC + 8; // u64: the deadline of the cut block (D_MID)
// The stop record: why run() returned RUN_DEBUG.
export const D_REASON: u32 = D_DEADLINE + 8; // u32: STOP_* (debug.ts)
export const D_INDEX: u32 = D_REASON + 4; // u32: D_EXEC entry that matched (STOP_EXEC)
export const D_PC: u32 = D_INDEX + 4; // u64: pc at the stop
export const D_CAUSE: u32 = D_PC + 8; // u64: STOP_TRAP: xcause of the trap taken
export const D_TVAL: u32 = D_CAUSE + 8; // u64: STOP_TRAP: its tval
export const D_EPC: u32 = D_TVAL + 8; // u64: STOP_TRAP: pc of the trapping instruction
export const D_N_HITS: u32 = D_EPC + 8; // u32: watch hits recorded since the last stop (at most D_HITS_MAX)
export const D_HITS_MAX: u32 = 4;
export const D_HITS: u32 = D_N_HITS + 8; // D_HITS_MAX × {va u64, value u64, size u32, kind u32, entry u32, pad}
export const D_HIT_SIZE: u32 = 32;
export const D_EXEC_MAX: u32 = 64;
export const D_EXEC: u32 = D_HITS + D_HITS_MAX * D_HIT_SIZE; // D_EXEC_MAX × {lo u64, hi u64} (pc in [lo, hi))
export const D_WATCH_MAX: u32 = 32;
export const D_WATCH: u32 = D_EXEC + D_EXEC_MAX * 16; // D_WATCH_MAX × {lo u64, hi u64, kinds u64} (va in [lo, hi))
export const DBG_END: u32 = D_WATCH + D_WATCH_MAX * 24;

export const FRAME_BITS: u32 = 10;
export const FRAME_COUNT: u32 = 1 << FRAME_BITS;
// Code map and decoded frames (frames.ts); see "Decoded frames" below for the frame tags.
export const CODEMAP_BASE: u32 = 0x20000;
export const CODEMAP_SIZE: u32 = 0x80000; // 2 GiB / 4 KiB pages, one byte each
export const FRAME_BASE: u32 = 0x100000;
export const SLOT_SIZE: u32 = 16;
export const FRAME_SLOTS: u32 = 2048; // one per 2-byte parcel of a 4 KiB page
export const FRAME_SIZE: u32 = (FRAME_SLOTS + 16) * SLOT_SIZE; // + sentinel slots that end the page
export const FRAME_END: u32 = FRAME_BASE + FRAME_COUNT * FRAME_SIZE;
// Scratch slots: an instruction straddling two pages is decoded here each time it runs; the slot two
// places on is a page-end sentinel, so falling through it leaves the block.
export const SCRATCH_SLOT: u32 = FRAME_END;
export const SCRATCH_SIZE: u32 = 4 * SLOT_SIZE;

// ---------------------------------------------------------------------------------------------
// Host TLB (GUIDE §5): direct-mapped, one array per access type and one set of arrays per
// translation regime (0: M-mode/bare, 1: S/HS-mode, 2: U-mode, 3: VS-mode, 4: VU-mode), so traps
// and returns between modes need no flush. The VS/VU sets cache the composed GVA -> HPA translation
// of both stages (a hit costs what a native hit costs). An entry is {tag, addend}:
// a hit is `tag == (vaddr & ~PAGE_MASK | alignment bits)` and the host address is vaddr + addend.
// A tag with TLB_INVALID set never matches, so MMIO, watched and code pages take the slow path.
export const TLB_BITS: u32 = 10;
export const TLB_ENTRIES: u32 = 1 << TLB_BITS;
export const TLB_ENTRY: u32 = 16;
// Each hart has its own region of TLB_HART_SIZE bytes (harts run one at a time; see HART_SAVE).
export const TLB_BASE: u32 = ((SCRATCH_SLOT + SCRATCH_SIZE + 0xffff) >> 16) << 16; // after the frames, 64 KiB-aligned
export const TLB_READ: u32 = TLB_BASE; // offsets inside a set
export const TLB_WRITE: u32 = TLB_READ + TLB_ENTRIES * TLB_ENTRY;
export const TLB_FETCH: u32 = TLB_WRITE + TLB_ENTRIES * TLB_ENTRY;
export const TLB_SET_SIZE: u32 = 3 * TLB_ENTRIES * TLB_ENTRY;
export const TLB_SETS: u32 = 5;
export const TLB_HART_SIZE: u32 = TLB_SETS * TLB_SET_SIZE;
export const MAX_HARTS: u32 = 8;
export const TLB_END: u32 = TLB_BASE + MAX_HARTS * TLB_HART_SIZE;
// The modeled TLB of harts that are not running (timing mode): TM_BASE..TM_END saved per hart.
export const TM_SAVE_BASE: u32 = TLB_END; // 0xb00000 with 5 TLB sets
export const TM_SAVE_SIZE: u32 = 0x36000;
export const TM_SAVE_END: u32 = TM_SAVE_BASE + MAX_HARTS * TM_SAVE_SIZE;

// Trap trace ring (--trace-out, src/trace/): while TR_ON != 0, trap.ts traceTrap() appends one
// TRACE_REC-byte record per trap entry (exception or interrupt, into a mode, to the host firmware
// or as a VM exit) at TRACE_RING + (TR_HEAD mod TRACE_CAP) * TRACE_REC and bumps TR_HEAD; the host
// drains it after every run() (src/trace/ring.ts), so a slice that takes more than TRACE_CAP traps
// loses its oldest ones (counted by the host as head - read - TRACE_CAP). Record:
//   +0 u64 cycles (the hart's clock at trap entry)  +8 u64 cause (bit 63: interrupt)
//  +16 u64 epc   +24 u64 tval   +32 u8 hart, u8 mode before, u8 mode after (priv | V << 2),
//  u8 kind (0 = trap entry, 1 = to the host firmware (--bios builtin), 2 = VM exit (host VMM)).
export const TRACE_BASE: u32 = TM_SAVE_END;
export const TR_ON: u32 = TRACE_BASE; // u32: 1 = record traps (cost when 0: one load per trap)
export const TR_HEAD: u32 = TRACE_BASE + 8; // u64: records written since TR_ON was set (monotonic)
export const TRACE_RING: u32 = TRACE_BASE + 64;
export const TRACE_REC: u32 = 40;
export const TRACE_CAP: u32 = 16384; // a power of two
export const TRACE_END: u32 = TRACE_RING + TRACE_CAP * TRACE_REC;

// Watched physical ranges: accesses inside go to the MMIO import even though they are in RAM.
export const WATCH_BASE: u32 = 0xa0000;
export const WATCH_MAX: u32 = 16;
export const WATCH_SIZE: u32 = WATCH_MAX * 16; // {base u64, end u64}

// ---------------------------------------------------------------------------------------------
// Decoded frames: one frame caches the decoded form of one 4 KiB physical page of code, a slot
// per 2-byte parcel (GUIDE: decode once, page-local fetch). Frames are direct-mapped by page.
export const FTAG_BASE: u32 = WATCH_BASE + WATCH_SIZE;
export const FTAG_SIZE: u32 = FRAME_COUNT * 8; // u64 physical page number + 1 (0 = empty)
// ---------------------------------------------------------------------------------------------
// Modeled TLB (timing mode, tlbmodel.ts): configuration, exact counters, and the entry arrays of
// the L1 instruction/data (or unified) TLBs, the L2 TLB and the page-walk cache.
export const TM_BASE: u32 = 0xc8000;
export const TM_CFG: u32 = TM_BASE; // 32 × u32 configuration words (TMC_* indices in tlbmodel.ts)
export const TM_CNT: u32 = TM_CFG + 128; // 128 × u64 counters (TMS_* indices in tlbmodel.ts)
// Model state that is per hart but not a counter: the vsatp / hgatp values the last two-dimensional
// walk saw (a change empties the walk caches that are not tagged with them), and whether any V=1
// entry was inserted since the last full flush. 8 × u64.
export const TM_STATE: u32 = TM_CNT + 1024;
export const TM_PLRU: u32 = TM_STATE + 64; // tree-PLRU bits: u16 per set: L1 I 1024, L1 D 1024, L2 4096 sets
export const TM_ENTRY: u32 = 32; // {tag u64, stamp u64, asid u16, vmid u16, level u8, global u8, virt u8}
export const TM_L1I: u32 = TM_PLRU + 6144 * 2;
export const TM_L1D: u32 = TM_L1I + 1024 * TM_ENTRY;
export const TM_L2: u32 = TM_L1D + 1024 * TM_ENTRY;
export const TM_PWC: u32 = TM_L2 + 4096 * TM_ENTRY;
// Nested TLB (H extension, timing mode): G-stage translations of guest page-table pages, 64 entries
// of {tag u64 = (GPA page << 1) | valid, stamp u64, vmid u16}.
export const TM_NTLB: u32 = TM_PWC + 64 * TM_ENTRY;
export const TM_END: u32 = TM_NTLB + 64 * TM_ENTRY;

// Decoded slot fields (byte offsets inside a slot).
export const S_OP: u32 = 0; // u16 semantic op id (0 = not decoded)
export const S_RD: u32 = 2; // u8 (0 redirected to 32)
export const S_RS1: u32 = 3; // u8
export const S_RS2: u32 = 4; // u8
export const S_CLS: u32 = 5; // u8 timing class id + 1 (0 = not an instruction)
export const S_LEN: u32 = 6; // u8 instruction length, 2 or 4
export const S_LAT: u32 = 7; // u8 cycles charged at retirement
export const S_IMM: u32 = 8; // i32 immediate
// Formats without an immediate may carry rs3 and rm in its bytes (F/D: R4 and OP-FP rows).
export const S_RS3: u32 = 8; // u8 third source register (R4)
export const S_RM: u32 = 9; // u8 rounding mode field (0..4, 7 = dyn)
export const S_RAW: u32 = 12; // u32 instruction bits

// ---------------------------------------------------------------------------------------------
// AssemblyScript's own static data goes at DATA_BASE (asconfig.json memoryBase must equal it).
export const DATA_BASE: u32 = 0x3000000;
// Guest RAM: guest-physical RAM_GPA maps to linear address RAM_OFFSET.
export const RAM_OFFSET: u32 = 0x3100000;
export const RAM_GPA: u32 = 0x80000000;
export const RAM_MAX: u32 = 0x80000000; // 2 GiB
export const PAGE_SHIFT: u32 = 12;
export const PAGE_SIZE: u32 = 4096;

// ---------------------------------------------------------------------------------------------
// JIT tier (issue 14; docs/JIT.md, assembly/jit.ts, src/jit/). Between the trap trace ring and
// AssemblyScript's data: the control words the run loop and the compiled blocks share, then the
// block map: one u16 per decoded slot (frames and scratch), indexed by (slot - FRAME_BASE) >> 3.
// An entry below JE_COMPILED is the slot's heat (interpreted executions, capped); JE_NEVER = do
// not compile here; JE_COMPILED | n = compiled block at function-table index n.
export const JIT_BASE: u32 = ((TRACE_END + 0xfff) >> 12) << 12; // after the trap trace ring, page-aligned
export const J_PC: u32 = JIT_BASE; // u64: pc after a compiled block returned
export const J_CYCLES: u32 = J_PC + 8; // u64: cycles after it
export const J_LEFT: u32 = J_CYCLES + 8; // u64: instruction budget left after it
export const J_INSNS: u32 = J_LEFT + 8; // u64 (stats): instructions retired in compiled code
export const J_ENTERS: u32 = J_INSNS + 8; // u64 (stats): compiled-block calls
// Non-zero: the run loop never enters compiled code (a bit per feature that needs every
// instruction interpreted: debugger, hooks, tracing). Zero and J_ON = 1: the JIT tier runs.
export const JIT_INHIBIT: u32 = J_ENTERS + 8; // u32 bit mask
export const J_ON: u32 = JIT_INHIBIT + 4; // u32: 1 = tier jit (the host compiler is attached)
export const J_THRESH: u32 = J_ON + 4; // u32: heat at which a slot is sent to the compiler
export const J_INVAL: u32 = J_THRESH + 4; // u32 (stats): frames whose compiled blocks were dropped
// u32: the block-map address of page offset 0 of the frame compiled code runs in (run.ts sets it
// at each entry), so compiled code names no frame and one module serves its page in any frame.
export const J_MAPBASE: u32 = J_INVAL + 4;
// u32: executions of blocks waiting in the compile batch (src/jit/jit.ts: their stub counts and
// asks the host to build the batch when it reaches the limit).
export const J_PEND: u32 = J_MAPBASE + 4;
// u64 (stats): transfers out of a page that compiled code made into compiled code itself
// (jit.ts jitChain), without returning to the run loop.
export const J_CHAINS: u32 = J_PEND + 4;
// u32: written by every jitFp call (assembly/jitfp.ts): 1 when the FP instruction compiled code
// asked for is illegal now (FS = Off, or a dynamic rm with an invalid frm) and had no effect —
// compiled code then leaves to the interpreter before it, which raises the exception — else 0.
export const J_FPX: u32 = J_CHAINS + 8;
export const J_FRAME_FLAG: u32 = JIT_BASE + 0x100; // u8 per frame: 1 = has compiled blocks
export const JMAP_BASE: u32 = J_FRAME_FLAG + FRAME_COUNT;
export const JMAP_SIZE: u32 = (FRAME_END + SCRATCH_SIZE - FRAME_BASE) >> 3;
export const JMAP_FRAME: u32 = FRAME_SIZE >> 3; // bytes of block map per frame
// Exit counters of compiled code (src/jit/jit.ts ExitCounters): one u64 per exit of a compiled
// block, counting how often it was taken; the host folds them into the class counters (CLS_BASE)
// when those are read, so compiled code stores no per-class counts.
export const JCNT_BASE: u32 = ((JMAP_BASE + JMAP_SIZE + 0xfff) >> 12) << 12;
export const JCNT_SIZE: u32 = 0x200000; // 262,144 counters
export const JIT_END: u32 = JCNT_BASE + JCNT_SIZE; // must stay below DATA_BASE
export const JE_COMPILED: u32 = 0x8000;
export const JE_NEVER: u32 = 0x7fff;
