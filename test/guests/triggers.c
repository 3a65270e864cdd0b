/*
 * triggers - Sdtrig debug triggers (RISC-V Debug Specification 1.0, ch. 5),
 * used natively from M-mode: action 0 = breakpoint exception (cause 3).
 *
 * Prints one line per check, "ok N name" or "FAIL N name" (a FAIL line is
 * followed by "  mcause=... mepc=... mtval=..."), then a summary, and exits
 * with the number of the first failing check (0 if all pass). Expected on a
 * machine with mcontrol6 (type 6) and icount (type 3) triggers, such as
 * cyclevisor (see expected/triggers.out):
 *
 *   ok 1 enumerate count=0x04
 *   ok 2 tinfo-mcontrol6 tinfo=0x01008048
 *   ...
 *   ok 17 icount
 *   triggers: all passed
 *
 * QEMU 7.2 implements the older type 2 (mcontrol) triggers only (2 of
 * them), so from check 2 on it fails: its tinfo reads 0x44 (types 2 and 6,
 * version 0, i.e. before the ratified 1.0), a tdata1 write of type 6 does
 * not read back, a write of 0 is ignored ("trigger type: 0 does not exit"
 * with -d guest_errors) although 1.0 §5.5 says it "must result in a trigger
 * that is disabled", and its breakpoints report mtval = 0; a trigger left
 * armed then stops it at check 11 with an unexpected trap. The spec (1.0 §5.5: type 2 "is deprecated
 * ... new implementations will not support [it]") decides, so the committed
 * expected/triggers.out is the reference for this program, not QEMU 7.2's
 * output; scripts/qemu-compare.sh says so for it.
 *
 * Re-entrancy (spec §5.4): a trigger with action 0 must not fire again in
 * the M-mode trap handler. cyclevisor implements the first option: triggers
 * do not match in M-mode while mstatus.MIE = 0. Each check therefore runs
 * its one trigger-matching access with MIE = 1 (mie = 0: no interrupt can be
 * taken) inside a single asm block, so that no compiler-generated memory
 * access runs while a trigger is armed; the trap handler (rt.c) runs with
 * MIE = 0 and skips the instruction at mepc.
 */
#include "common/rt.h"

/* tdata1 fields (Debug spec 1.0 §5.5) */
#define TYPE(t)        ((uint64_t)(t) << 60)
#define DMODE          (1UL << 59)
#define MC6_HIT0       (1UL << 22)
#define MC6_SELECT     (1UL << 21)
#define MC6_SIZE(s)    ((uint64_t)(s) << 16)
#define MC6_ACTION(a)  ((uint64_t)(a) << 12)
#define MC6_CHAIN      (1UL << 11)
#define MC6_MATCH(m)   ((uint64_t)(m) << 7)
#define MC6_M          (1UL << 6)
#define MC6_S          (1UL << 4)
#define MC6_U          (1UL << 3)
#define MC6_EXECUTE    (1UL << 2)
#define MC6_STORE      (1UL << 1)
#define MC6_LOAD       (1UL << 0)
#define IC_HIT         (1UL << 24)
#define IC_COUNT(n)    ((uint64_t)(n) << 10)
#define IC_M           (1UL << 9)
#define IC_PENDING     (1UL << 8)

#define MATCH_EQUAL 0
#define MATCH_NAPOT 1
#define MATCH_GE    2
#define MATCH_LT    3

/* Nothing answers at these addresses (see traps.c): a load there is an
 * access fault, unless a trigger outranks it. */
#define UNMAPPED_LOW  0x00000800UL
#define UNMAPPED_ADDR 0x00080000UL

static uint64_t count_before;

static void arm(int n)
{
	trap_fail_code = n;
	count_before = last_trap.count;
	trap_armed = 1;
}

/* Exactly one trap since arm(): a breakpoint at pc with tval. */
static int took_bp(uint64_t pc, uint64_t tval)
{
	return last_trap.count == count_before + 1 && !trap_armed &&
	       last_trap.mcause == CAUSE_BREAKPOINT && last_trap.mepc == pc &&
	       last_trap.mtval == tval;
}

static int no_trap(void)
{
	return last_trap.count == count_before && trap_armed;
}

/* Report check n (n < 0: already reported with report_val) and show the
 * last trap if it failed. */
static void result(int n, const char *name, int ok)
{
	if (n > 0)
		report(n, name, ok);
	trap_armed = 0;
	if (!ok) {
		print("  mcause=");
		print_hex(last_trap.mcause, 16);
		print(" mepc=");
		print_hex(last_trap.mepc, 16);
		print(" mtval=");
		print_hex(last_trap.mtval, 16);
		print("\n");
	}
}

/* Select trigger i and disable it (spec §5.5: write 0 to tdata1 first). */
static void trig_select(uint64_t i)
{
	csr_write(tselect, i);
	csr_write(tdata1, 0);
}

/*
 * One load `insn` at addr with the selected trigger set to cfg/value and
 * MIE = 1; the trigger is disabled again before any other memory access.
 * dest keeps its value if the load did not execute; pc gets the load's
 * address; tdata1_after the trigger's tdata1 just before it was disabled.
 */
static uint64_t tdata1_after;
#define ARMED_LOAD(insn, cfg, value, addr, pc, dest) \
	__asm__ volatile( \
		"csrw  tdata1, zero\n" \
		"csrw  tdata2, %[v]\n" \
		"csrw  tdata1, %[c]\n" \
		"la    %[p], 1f\n" \
		"csrsi mstatus, 8\n" \
		"1: " insn " %[d], 0(%[a])\n" \
		"csrci mstatus, 8\n" \
		"csrr  %[t], tdata1\n" \
		"csrw  tdata1, zero\n" \
		: [p] "=&r"(pc), [d] "+r"(dest), [t] "=&r"(tdata1_after) \
		: [c] "r"(cfg), [v] "r"(value), [a] "r"(addr) : "memory")

#define ARMED_STORE(insn, cfg, value, addr, pc, src) \
	__asm__ volatile( \
		"csrw  tdata1, zero\n" \
		"csrw  tdata2, %[v]\n" \
		"csrw  tdata1, %[c]\n" \
		"la    %[p], 1f\n" \
		"csrsi mstatus, 8\n" \
		"1: " insn " %[s], 0(%[a])\n" \
		"csrci mstatus, 8\n" \
		"csrw  tdata1, zero\n" \
		: [p] "=&r"(pc) \
		: [c] "r"(cfg), [v] "r"(value), [a] "r"(addr), [s] "r"(src) : "memory")

#define POISON 0x5a5a5a5a5a5a5a5aUL

static volatile uint64_t word __attribute__((aligned(16)));
static volatile uint64_t buf[4] __attribute__((aligned(32)));

int main(void)
{
	uint64_t pc, v, t;
	uint64_t n = 0;
	int ok;
	const uint64_t mc6_load_m = TYPE(6) | MC6_M | MC6_LOAD;

	/* 1: enumeration (spec §5.1): write i to tselect, read it back, read
	 * tinfo (1 = no trigger here). At least one trigger must exist, and
	 * the first must not be type 0. */
	trap_fail_code = 1;
	for (uint64_t i = 0; i < 64; i++) {
		csr_write(tselect, i);
		if (csr_read(tselect) != i)
			break;
		if (csr_read(tinfo) == 1)
			break;
		n++;
	}
	csr_write(tselect, 0);
	t = csr_read(tdata1);
	ok = n >= 1 && (t >> 60) != 0;
	report_val(1, "enumerate", ok, "count", n, 2);
	result(-1, 0, ok);

	/* 2: tinfo (version 1, §5.5): type 6 (mcontrol6) is supported and the
	 * version field (bits 31:24) is 1, the ratified spec. */
	trap_fail_code = 2;
	t = csr_read(tinfo);
	ok = (t & (1UL << 6)) && ((t >> 24) & 0xff) == 1;
	report_val(2, "tinfo-mcontrol6", ok, "tinfo", t, 8);
	result(-1, 0, ok);

	/* 3: writing 0 to tdata1 disables the trigger; a trigger that supports
	 * several types reads back type 15 ("disabled", §5.5 tdata1). */
	trig_select(0);
	t = csr_read(tdata1);
	result(3, "tdata1-zero-disables", (t >> 60) == 15);

	/* 4: a type this trigger does not implement (5, etrigger, not in tinfo)
	 * is WARL: it reads back as a disabled trigger (15) or none (0). */
	trap_fail_code = 4;
	v = csr_read(tinfo);
	if (v & (1UL << 5)) {
		result(4, "unimplemented-type", 1); /* implemented: nothing to test */
	} else {
		csr_write(tdata1, TYPE(5) | 0x3ff);
		t = csr_read(tdata1) >> 60;
		result(4, "unimplemented-type", t == 15 || t == 0);
	}
	csr_write(tdata1, 0);

	/* 5: an mcontrol6 value with fields every implementation of this
	 * program's checks needs reads back as written. */
	trap_fail_code = 5;
	v = TYPE(6) | MC6_M | MC6_S | MC6_U | MC6_LOAD | MC6_STORE | MC6_MATCH(MATCH_NAPOT);
	csr_write(tdata1, v);
	t = csr_read(tdata1);
	csr_write(tdata1, 0);
	result(5, "mcontrol6-readback", t == v);

	/* 6: WARL fields: no Debug Mode, so dmode stays 0 and action 1 (enter
	 * Debug Mode, legal only with dmode = 1) is not kept; the type stays 6. */
	trap_fail_code = 6;
	csr_write(tdata1, TYPE(6) | DMODE | MC6_ACTION(1) | MC6_M | MC6_LOAD);
	t = csr_read(tdata1);
	csr_write(tdata1, 0);
	result(6, "mcontrol6-warl", (t >> 60) == 6 && !(t & DMODE) &&
	       ((t >> 12) & 0xf) != 1);

	/* 7: load address trigger, match = equal, timing "before": breakpoint
	 * with mepc = the load, mtval = the address; the load does not execute
	 * (its destination keeps its value) and hit0 is set. */
	word = 1234;
	v = POISON;
	arm(7);
	ARMED_LOAD("ld", mc6_load_m, (uint64_t)&word, &word, pc, v);
	result(7, "load-before", took_bp(pc, (uint64_t)&word) && v == POISON &&
	       (tdata1_after & MC6_HIT0));

	/* 8: the same load trigger ignores a store to that address, which
	 * happens. */
	arm(8);
	ARMED_STORE("sd", mc6_load_m, (uint64_t)&word, &word, pc, 77UL);
	result(8, "load-ignores-store", no_trap() && word == 77);

	/* 9: store address trigger: breakpoint before the store, memory
	 * unchanged, mtval = the address. */
	arm(9);
	ARMED_STORE("sd", TYPE(6) | MC6_M | MC6_STORE, (uint64_t)&word, &word, pc, 99UL);
	result(9, "store-before", took_bp(pc, (uint64_t)&word) && word == 77);

	/* 10: every byte an access touches is a compare value (§5.5 select=0,
	 * "recommended"): an 8-byte load at word matches tdata2 = word + 4.
	 * mtval is the access's lowest address. */
	v = POISON;
	arm(10);
	ARMED_LOAD("ld", mc6_load_m, (uint64_t)&word + 4, &word, pc, v);
	result(10, "load-covers-byte", took_bp(pc, (uint64_t)&word) && v == POISON);

	/* 11: size = 3 (32-bit accesses only): a byte load does not match, a
	 * word load does. */
	v = POISON;
	arm(11);
	ARMED_LOAD("lb", mc6_load_m | MC6_SIZE(3), (uint64_t)&word, &word, pc, v);
	ok = no_trap() && v == 77;
	v = POISON;
	ARMED_LOAD("lw", mc6_load_m | MC6_SIZE(3), (uint64_t)&word, &word, pc, v);
	result(11, "size-filter", ok && took_bp(pc, (uint64_t)&word) && v == POISON);

	/* 12: match = napot: tdata2 = base | 0xf covers the 32 bytes from base
	 * (the lowest 0 bit is bit 4: M = 63 - 4 top bits compared). */
	v = POISON;
	arm(12);
	ARMED_LOAD("ld", mc6_load_m | MC6_MATCH(MATCH_NAPOT), (uint64_t)buf | 0xf,
		   &buf[3], pc, v);
	ok = took_bp(pc, (uint64_t)&buf[3]) && v == POISON;
	arm(12);
	ARMED_LOAD("ld", mc6_load_m | MC6_MATCH(MATCH_NAPOT), (uint64_t)buf | 0x7,
		   &buf[3], pc, v);
	result(12, "napot", ok && no_trap() && v == 0);

	/* 13: match = ge and lt. A load trigger outranks the access fault of
	 * the load (priority table of §5.3), so loads from unmapped addresses
	 * give a breakpoint and are never performed. */
	arm(13);
	ARMED_LOAD("ld", mc6_load_m | MC6_MATCH(MATCH_GE), UNMAPPED_ADDR,
		   UNMAPPED_ADDR, pc, v);
	ok = took_bp(pc, UNMAPPED_ADDR);
	arm(13);
	ARMED_LOAD("ld", mc6_load_m | MC6_MATCH(MATCH_LT), 0x1000UL,
		   UNMAPPED_LOW, pc, v);
	result(13, "ge-lt-outrank-access-fault", ok && took_bp(pc, UNMAPPED_LOW));

	/* 14: execute address trigger: breakpoint before the instruction at
	 * the address (mepc = mtval = it); the handler skips it. */
	arm(14);
	v = 0;
	__asm__ volatile(
		"la    %[p], 1f\n"
		"csrw  tdata1, zero\n"
		"csrw  tdata2, %[p]\n"
		"csrw  tdata1, %[c]\n"
		"csrsi mstatus, 8\n"
		"nop\n"
		"1: addi %[d], %[d], 1\n"
		"csrci mstatus, 8\n"
		"csrw  tdata1, zero\n"
		: [p] "=&r"(pc), [d] "+r"(v)
		: [c] "r"(TYPE(6) | MC6_M | MC6_EXECUTE) : "memory");
	result(14, "execute-before", took_bp(pc, pc) && v == 0);

	/* 15: mode filter: a trigger enabled only in S and U does not match an
	 * M-mode load. */
	v = POISON;
	arm(15);
	ARMED_LOAD("ld", TYPE(6) | MC6_S | MC6_U | MC6_LOAD, (uint64_t)&word,
		   &word, pc, v);
	result(15, "mode-filter", no_trap() && v == 77);

	/* 16: re-entrancy (§5.4, option 1): no M-mode match while MIE = 0, so
	 * this load (MIE stays 0) runs. On a machine with tcontrol (option 2)
	 * mte is 0 out of reset, which gives the same result. */
	v = POISON;
	arm(16);
	__asm__ volatile(
		"csrw  tdata1, zero\n"
		"csrw  tdata2, %[a]\n"
		"csrw  tdata1, %[c]\n"
		"1: ld %[d], 0(%[a])\n"
		"csrw  tdata1, zero\n"
		: [d] "+r"(v) : [c] "r"(mc6_load_m), [a] "r"(&word) : "memory");
	result(16, "no-match-with-mie-0", no_trap() && v == 77);

	/* 17: icount (type 3), count = 1, M-mode: the first instruction that
	 * retires after the write (the addi) takes count to 0 and sets pending;
	 * the trigger fires before the next instruction: mepc = that
	 * instruction (the nop), mtval = 0. Afterwards count = 0 and pending is
	 * clear. (The spec lets the write to tdata1 itself count; then the
	 * breakpoint comes before the addi, which this check also accepts.) */
	trap_fail_code = 17;
	csr_write(tselect, 1);
	csr_write(tdata1, 0);
	v = 0;
	{
		uint64_t pc_addi, pc_nop;
		arm(17);
		__asm__ volatile(
			"la    %[pa], 1f\n"
			"la    %[pn], 2f\n"
			"csrsi mstatus, 8\n"
			"csrw  tdata1, %[c]\n"
			"1: addi %[d], %[d], 1\n"
			"2: nop\n"
			"csrci mstatus, 8\n"
			: [pa] "=&r"(pc_addi), [pn] "=&r"(pc_nop), [d] "+r"(v)
			: [c] "r"(TYPE(3) | IC_COUNT(1) | IC_M) : "memory");
		t = csr_read(tdata1);
		csr_write(tdata1, 0);
		ok = (took_bp(pc_nop, 0) && v == 1) || (took_bp(pc_addi, 0) && v == 0);
		ok = ok && ((t >> 60) == 3 || (t >> 60) == 15 || (t >> 60) == 0) &&
		     !(t & IC_PENDING) && ((t >> 10) & 0x3fff) == 0;
		result(17, "icount", ok);
	}
	csr_write(tselect, 0);

	trap_fail_code = 255;
	if (first_failure()) {
		print("triggers: first failure ");
		print_dec(first_failure());
		print("\n");
	} else {
		print("triggers: all passed\n");
	}
	return first_failure();
}
