/*
 * gdbtest - a guest for the gdb stub and hook tests (test/debug/): named
 * functions to break at, a global to watch, a loop to step through.
 *
 * Output (exactly):  "gdbtest 220\n"
 * Exit code:         0 (test finisher 0x5555)
 *
 * bump(i) adds i to `counter` for i = 1..10 (counter ends at 55) and main
 * sums the running totals (1+3+6+...+55 = 220) into `watched`, written once.
 */
#include "common/rt.h"

volatile unsigned long counter;
volatile unsigned long watched;

__attribute__((noinline)) unsigned long bump(unsigned long x)
{
	counter += x;
	return counter;
}

__attribute__((noinline)) void finish(unsigned long sum)
{
	watched = sum;
}

int main(void)
{
	unsigned long sum = 0;
	for (unsigned long i = 1; i <= 10; i++)
		sum += bump(i);
	finish(sum);
	print("gdbtest ");
	print_dec(sum);
	print("\n");
	return 0;
}
