/*
 * traps - machine-mode synchronous traps.
 *
 * Prints one line per test, "ok N name" or "FAIL N name" (a FAIL line is
 * followed by a "  mcause=... mepc=... mtval=..." detail line), then a
 * summary, and exits with the number of the first failing test (0 if all
 * pass). Expected output on a correct machine:
 *
 *   ok 1 ecall
 *   ok 2 ebreak
 *   ok 3 illegal-instruction mtval=0xfe000033
 *   ok 4 illegal-c-zero
 *   ok 5 load-access-fault
 *   ok 6 store-access-fault
 *   ok 7 misaligned-amo
 *   ok 8 misaligned-lr
 *   ok 9 mret
 *   ok 10 mpp-m-only
 *   ok 11 nonexistent-csr
 *   ok 12 vectored-mtvec
 *   traps: all passed
 *
 * Each test "arms" the trap handler (see rt.c), runs one instruction that
 * must trap, and the handler records mcause/mepc/mtval and resumes after
 * the instruction. The instruction's address is taken from a local label, so
 * mepc can be checked exactly.
 *
 * Deliberately NOT tested, because correct implementations differ: ordinary
 * misaligned loads/stores to RAM (may be handled in hardware or trap), the
 * value of mtval on ebreak (0 or the pc). mtval on illegal instruction may
 * be 0 or the instruction bits: both are accepted, and test 3 prints it
 * (QEMU 7.2 reports the bits; a machine reporting 0 passes but prints
 * "mtval=0x00000000" there).
 */
#include "common/rt.h"

/*
 * An address with no device behind it, in both QEMU virt and cyclevisor:
 * the hole between the boot ROM (0x1000..0xffff in QEMU) and the test
 * finisher (0x10_0000). Note that 0x1000 itself is QEMU's boot ROM, hence
 * readable there, so it is not a portable "unmapped" address.
 */
#define UNMAPPED_ADDR 0x00080000UL

/* An encoding no ratified extension uses: major opcode OP (0110011) with
 * funct7 = 1111111. Must raise illegal instruction. */
#define ILLEGAL_INSN 0xfe000033U

/* csrr t0, 0x7ff (csrrs x5, 0x7ff, x0). 0x7ff is in the custom M-mode
 * range and unimplemented, so the access must raise illegal instruction. */
#define CSRR_7FF_T0 0x7ff022f3U

static uint64_t misa_has_u(void)
{
	uint64_t misa = csr_read(misa);
	return misa & (1UL << ('U' - 'A'));
}

/*
 * After mret (or any xRET), MPP becomes the least-privileged supported mode:
 * U if U-mode exists, else M. misa may legally read as 0 ("not
 * implemented"); then we cannot know and accept either.
 */
static int mpp_after_mret_ok(uint64_t mstatus)
{
	uint64_t mpp = mstatus & MSTATUS_MPP;
	uint64_t misa = csr_read(misa);
	if (misa == 0)
		return mpp == 0 || mpp == MSTATUS_MPP_M;
	return mpp == (misa_has_u() ? 0 : MSTATUS_MPP_M);
}

static uint64_t count_before;

static void arm(int n)
{
	trap_fail_code = n;        /* an unexpected trap fails test n */
	count_before = last_trap.count;
	trap_armed = 1;
}

/* Exactly one trap was taken since arm(), through the expected vector,
 * with the expected cause at the expected pc. */
static int took(long vector, uint64_t cause, uint64_t pc)
{
	return last_trap.count == count_before + 1 && !trap_armed &&
	       last_trap.vector == vector && last_trap.mcause == cause &&
	       last_trap.mepc == pc;
}

static void show_failure(int ok)
{
	trap_armed = 0;   /* a test whose instruction did not trap stays armed */
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

static void result(int n, const char *name, int ok)
{
	report(n, name, ok);
	show_failure(ok);
}

/* 8-byte aligned scratch word for the AMO/LR tests */
static volatile uint64_t amo_word[2] __attribute__((aligned(8)));

int main(void)
{
	uint64_t pc, tmp, ms;

	/* 1: ecall from M-mode: cause 11 (environment call from M), mepc =
	 * the ecall itself (the handler, not the hardware, skips it). */
	arm(1);
	__asm__ volatile("la %0, 1f\n1: ecall" : "=&r"(pc) :: "memory");
	result(1, "ecall", took(-1, CAUSE_ECALL_M, pc));

	/* 2: ebreak: cause 3, mepc = the ebreak. (It may be assembled as the
	 * 16-bit c.ebreak; the handler reads the length from memory.) */
	arm(2);
	__asm__ volatile("la %0, 1f\n1: ebreak" : "=&r"(pc) :: "memory");
	result(2, "ebreak", took(-1, CAUSE_BREAKPOINT, pc));

	/* 3: a reserved 32-bit encoding: cause 2; mtval is the instruction
	 * bits or 0 (both allowed by the spec). */
	arm(3);
	__asm__ volatile("la %0, 1f\n1: .4byte %1"
			 : "=&r"(pc) : "i"(ILLEGAL_INSN) : "memory");
	{
		int ok = took(-1, CAUSE_ILLEGAL_INSN, pc) &&
			 (last_trap.mtval == ILLEGAL_INSN || last_trap.mtval == 0);
		/* The brief's choice: show mtval (the only machine-dependent
		 * text in this program's output). QEMU and cyclevisor report the
		 * instruction bits, giving "mtval=0xfe000033". */
		report_val(3, "illegal-instruction", ok, "mtval",
			   last_trap.mtval, 8);
		show_failure(ok);
	}

	/* 4: the all-zero halfword is defined to be illegal (so that
	 * running into zeroed memory traps at once). It is a 16-bit
	 * instruction: mepc is its address and mtval must be 0 either way. */
	arm(4);
	__asm__ volatile("la %0, 1f\n1: .2byte 0" : "=&r"(pc) :: "memory");
	result(4, "illegal-c-zero",
	       took(-1, CAUSE_ILLEGAL_INSN, pc) && last_trap.mtval == 0);

	/* 5: load from an address with nothing behind it: load access fault
	 * (cause 5), mtval = the address. */
	arm(5);
	__asm__ volatile("la %0, 1f\n1: ld %1, 0(%2)"
			 : "=&r"(pc), "=&r"(tmp) : "r"(UNMAPPED_ADDR) : "memory");
	result(5, "load-access-fault",
	       took(-1, CAUSE_LOAD_ACCESS, pc) && last_trap.mtval == UNMAPPED_ADDR);

	/* 6: store to the same place: store/AMO access fault (cause 7). */
	arm(6);
	__asm__ volatile("la %0, 1f\n1: sd zero, 0(%1)"
			 : "=&r"(pc) : "r"(UNMAPPED_ADDR) : "memory");
	result(6, "store-access-fault",
	       took(-1, CAUSE_STORE_ACCESS, pc) && last_trap.mtval == UNMAPPED_ADDR);

	/* 7: amoadd.w on an address = 2 mod 4 in RAM: AMOs are never done
	 * misaligned (without Zam). The trap must be store/AMO address
	 * misaligned (cause 6; AMOs report store-type exceptions, as Spike and
	 * newer QEMU do), mtval = the address, and memory is left unchanged.
	 * QEMU 7.2 (Debian 12) wrongly reports cause 4 (load address
	 * misaligned); 4 is tolerated here only so that this program passes on
	 * that reference. cyclevisor must raise 6. */
	amo_word[0] = 0x1111111111111111UL;
	arm(7);
	{
		uint64_t a = (uint64_t)amo_word + 2;
		__asm__ volatile("la %0, 1f\n1: amoadd.w %1, %2, (%3)"
				 : "=&r"(pc), "=&r"(tmp) : "r"(1), "r"(a) : "memory");
		result(7, "misaligned-amo",
		       (took(-1, CAUSE_MISALIGNED_STORE, pc) ||
			took(-1, CAUSE_MISALIGNED_LOAD, pc)) && last_trap.mtval == a &&
		       amo_word[0] == 0x1111111111111111UL);
	}

	/* 8: lr.w on an address = 2 mod 4: LR is a load, so load address
	 * misaligned (cause 4), mtval = the address. */
	arm(8);
	{
		uint64_t a = (uint64_t)amo_word + 2;
		__asm__ volatile("la %0, 1f\n1: lr.w %1, (%2)"
				 : "=&r"(pc), "=&r"(tmp) : "r"(a) : "memory");
		result(8, "misaligned-lr",
		       took(-1, CAUSE_MISALIGNED_LOAD, pc) && last_trap.mtval == a);
	}

	/* 9: mret outside a trap: jumps to mepc, MIE := MPIE (1), MPIE := 1,
	 * and MPP := least-privileged mode. The instruction after mret must
	 * not run. mie is 0, so enabling MIE lets no interrupt in. */
	trap_fail_code = 9;
	{
		uint64_t skipped;
		__asm__ volatile(
			"la    t0, 1f\n"
			"csrw  mepc, t0\n"
			"li    t0, %2\n"          /* MPP = M, MPIE = 1 */
			"csrs  mstatus, t0\n"
			"csrci mstatus, 8\n"      /* MIE = 0 */
			"li    %1, 0\n"
			"mret\n"
			"li    %1, 1\n"           /* must be skipped */
			"1: csrr %0, mstatus\n"
			"csrci mstatus, 8\n"      /* back to MIE = 0 */
			: "=&r"(ms), "=&r"(skipped)
			: "i"(MSTATUS_MPP_M | MSTATUS_MPIE)
			: "t0", "memory");
		result(9, "mret",
		       skipped == 0 && (ms & MSTATUS_MIE) && (ms & MSTATUS_MPIE) &&
		       mpp_after_mret_ok(ms));
	}

	/* 10: MPP in M-only code. A trap from M sets MPP = M (whatever it was;
	 * after test 9 it is U or M), pushes MIE into MPIE and clears MIE; the
	 * handler's mret pops them back and sets MPP to least-privileged again.
	 * The handler's view is last_trap.mstatus. */
	trap_fail_code = 10;
	csr_set(mstatus, MSTATUS_MIE);   /* mie = 0: no interrupt can fire */
	arm(10);
	__asm__ volatile("la %0, 1f\n1: ecall" : "=&r"(pc) :: "memory");
	ms = csr_read(mstatus);
	csr_clear(mstatus, MSTATUS_MIE);
	result(10, "mpp-m-only",
	       took(-1, CAUSE_ECALL_M, pc) &&
	       (last_trap.mstatus & MSTATUS_MPP) == MSTATUS_MPP_M &&
	       (last_trap.mstatus & MSTATUS_MPIE) &&
	       !(last_trap.mstatus & MSTATUS_MIE) &&
	       (ms & MSTATUS_MIE) && mpp_after_mret_ok(ms));

	/* 11: reading a CSR that does not exist is illegal instruction. */
	arm(11);
	__asm__ volatile("la %0, 1f\n1: .4byte %1"
			 : "=&r"(pc) : "i"(CSRR_7FF_T0) : "t0", "memory");
	result(11, "nonexistent-csr",
	       took(-1, CAUSE_ILLEGAL_INSN, pc) &&
	       (last_trap.mtval == CSRR_7FF_T0 || last_trap.mtval == 0));

	/* 12: vectored mtvec (mode 1): mtvec reads back base | 1 and
	 * synchronous exceptions go to the base (entry 0), never to
	 * base + 4*cause. Checked with two causes (11 and 2). */
	{
		uint64_t want = (uint64_t)trap_vector_table | 1;
		int ok;
		csr_write(mtvec, want);
		ok = csr_read(mtvec) == want;
		arm(12);
		__asm__ volatile("la %0, 1f\n1: ecall" : "=&r"(pc) :: "memory");
		ok = ok && took(0, CAUSE_ECALL_M, pc);
		arm(12);
		__asm__ volatile("la %0, 1f\n1: .2byte 0" : "=&r"(pc) :: "memory");
		ok = ok && took(0, CAUSE_ILLEGAL_INSN, pc);
		csr_write(mtvec, (uint64_t)trap_entry);
		result(12, "vectored-mtvec", ok);
	}

	trap_fail_code = 255;
	if (first_failure()) {
		print("traps: first failure ");
		print_dec(first_failure());
		print("\n");
	} else {
		print("traps: all passed\n");
	}
	return first_failure();
}
