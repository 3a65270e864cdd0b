/*
 * hello - the smallest useful guest.
 *
 * Output (exactly):  "Hello from cyclevisor!\n"
 * Exit code:         0 (test finisher 0x5555)
 *
 * Needs: RV64IMAC fetch/execute, the polled 16550 transmit path (LSR.THRE
 * at 0x1000_0005, THR at 0x1000_0000) and the SiFive test finisher.
 */
#include "common/rt.h"

int main(void)
{
	print("Hello from cyclevisor!\n");
	return 0;
}
