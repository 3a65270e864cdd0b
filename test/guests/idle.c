/*
 * idle - a guest that is idle: it sleeps in WFI between timer deadlines
 * 100 ms of guest time apart (1,000,000 ticks of the virt board's 10 MHz
 * mtime) and says when each one passed.
 *
 * Output on a correct machine (exactly), exit code 0:
 *
 *   idle: start
 *   idle: tick 1
 *   ...
 *   idle: tick 8
 *   idle ok
 *
 * Tick n is printed once mtime >= start + n * 1,000,000 (n * 100 ms of guest
 * time after `idle: start`). The host-side pacing test (cyclevisor --pace on,
 * test/pacing.test.ts) times these lines against the wall clock: the guest
 * idles throughout, so a paced host must take about 0.8 s of wall time and
 * almost no CPU, and an unpaced one skips the waits. On QEMU (no -icount) the
 * program takes 0.8 s of wall time too. On a failed check it prints
 * "idle FAIL <what>" and exits with 1 (woken before the deadline).
 */
#include "common/rt.h"

#define TICKS    8
#define INTERVAL 1000000UL   /* mtime ticks: 100 ms at 10 MHz */

int main(void)
{
	/* Sleep with MIE = 0: WFI still wakes on the pending, enabled MTIP
	 * (Priv 1.12 section 3.3.3), and no interrupt is ever taken. */
	csr_write(mie, MIP_MTIP);
	uint64_t start = mmio_r64(CLINT_MTIME);
	print("idle: start\n");
	for (int n = 1; n <= TICKS; n++) {
		uint64_t deadline = start + (uint64_t)n * INTERVAL;
		mmio_w64(CLINT_MTIMECMP0, deadline);
		while (!(csr_read(mip) & MIP_MTIP))
			__asm__ volatile("wfi" ::: "memory");
		if (mmio_r64(CLINT_MTIME) < deadline) {
			print("idle FAIL woken before the deadline\n");
			exit(1);
		}
		print("idle: tick ");
		print_dec(n);
		print("\n");
	}
	mmio_w64(CLINT_MTIMECMP0, ~0UL);
	csr_write(mie, 0);
	print("idle ok\n");
	return 0;
}
