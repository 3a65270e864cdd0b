/*
 * htif-fail - checks that a host reports an HTIF failure code.
 *
 * Output:     none
 * Exit code:  3 (tohost = (3 << 1) | 1 = 7): test 2 passes, test 3 is
 *             deliberately wrong (claims 1 + 1 = 3), test 4 is never run.
 */
#include "htif.h"

	HTIF_MAILBOX
	HTIF_START

	TEST_RR 2, add, 2, 1, 1
	TEST_RR 3, add, 3, 1, 1     /* deliberately false */
	TEST_RR 4, add, 4, 2, 2

	HTIF_PASS

fail:
	HTIF_FAIL
