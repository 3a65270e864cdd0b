/*
 * timer - CLINT timer interrupts, time CSR and counters.
 *
 * Output on a correct machine (exactly), exit code 0:
 *
 *   tick 1
 *   tick 2
 *   ...
 *   tick 10
 *   timer ok
 *
 * (No time values are printed: they differ between machines.) On a failed
 * check it prints "timer FAIL <what>" and exits with:
 *   1 mtime not monotonic          4 mcycle did not advance
 *   2 rdtime outside MMIO window   5 minstret did not advance enough
 *   3 interrupt before mtimecmp    6 wrong trap (cause/vector/count)
 *
 * The timer interrupt is taken through mtvec in Direct mode (interrupts.c
 * covers Vectored mode). Between interrupts the hart sleeps in WFI (with
 * mstatus.MIE = 0, see below) until mip.MTIP, then enables MIE to take
 * the interrupt.
 */
#include "common/rt.h"

#define TICKS    10
#define INTERVAL 10000   /* mtime ticks between interrupts (1 ms in QEMU) */

static volatile uint64_t irq_count;
static volatile uint64_t irq_cause;
static volatile uint64_t irq_time;       /* mtime read in the handler */
static volatile long irq_vector;

static void fail(int code, const char *what) __attribute__((noreturn));
static void fail(int code, const char *what)
{
	print("timer FAIL ");
	print(what);
	print("\n");
	exit(code);
}

static void hook(long vector, uint64_t mcause)
{
	irq_vector = vector;
	irq_cause = mcause;
	irq_time = mmio_r64(CLINT_MTIME);
	irq_count++;
	/* Quiet the source: MTIP stays pending while mtime >= mtimecmp, so
	 * push mtimecmp out of reach; main() arms the next deadline. */
	mmio_w64(CLINT_MTIMECMP0, ~0UL);
}

static uint64_t last_mtime;

/* Every read of mtime must be >= the previous one. */
static uint64_t mtime(void)
{
	uint64_t t = mmio_r64(CLINT_MTIME);
	if (t < last_mtime)
		fail(1, "mtime went backwards");
	last_mtime = t;
	return t;
}

int main(void)
{
	/* rdtime must read the same clock as the CLINT mtime register:
	 * a = mtime, t = time CSR, b = mtime (in program order) must give
	 * a <= t <= b. */
	for (int i = 0; i < 100; i++) {
		uint64_t a = mtime();
		uint64_t t = csr_read(time);
		uint64_t b = mtime();
		if (t < a || t > b)
			fail(2, "rdtime outside [mtime before, mtime after]");
	}

	/* Counters: mcycle and minstret count up in M-mode (mcountinhibit is
	 * 0 at reset). minstret must advance by at least the instructions of
	 * this loop (>= 2 per iteration). */
	{
		uint64_t c0 = csr_read(mcycle), i0 = csr_read(minstret);
		for (volatile int i = 0; i < 10000; i++)
			;
		uint64_t c1 = csr_read(mcycle), i1 = csr_read(minstret);
		if (c1 <= c0)
			fail(4, "mcycle did not advance");
		if (i1 - i0 < 20000)
			fail(5, "minstret advanced less than the loop's instructions");
	}

	irq_hook = hook;
	csr_write(mie, MIP_MTIP);
	uint64_t start = mtime();
	for (int n = 1; n <= TICKS; n++) {
		uint64_t deadline = start + (uint64_t)n * INTERVAL;
		uint64_t before = irq_count;
		mmio_w64(CLINT_MTIMECMP0, deadline);
		/* Sleep with MIE = 0: WFI wakes on the pending, mie-enabled
		 * interrupt anyway, and there is no window in which the
		 * interrupt could be taken between the check and the wfi
		 * (which would then sleep forever). A simulator should make
		 * WFI skip ahead to the next timer deadline. */
		while (!(csr_read(mip) & MIP_MTIP))
			__asm__ volatile("wfi" ::: "memory");
		if (mtime() < deadline)
			fail(3, "mip.MTIP set before mtime reached mtimecmp");
		/* Now take it: pending and enabled, so it is taken as soon as
		 * MIE is set (the bounded wait tolerates a machine that
		 * recognises interrupts a few instructions late). */
		csr_set(mstatus, MSTATUS_MIE);
		for (int i = 0; i < 100000 && irq_count == before; i++)
			;
		csr_clear(mstatus, MSTATUS_MIE);
		if (irq_count != before + 1 || irq_vector != -1 ||
		    irq_cause != (MCAUSE_INT | 7))
			fail(6, "expected one machine timer interrupt (cause 7)");
		if (irq_time < deadline)
			fail(3, "interrupt taken before mtime reached mtimecmp");
		if (mtime() < deadline)
			fail(1, "mtime behind the deadline after the interrupt");
		print("tick ");
		print_dec(n);
		print("\n");
	}
	csr_write(mie, 0);
	irq_hook = 0;
	print("timer ok\n");
	return 0;
}
