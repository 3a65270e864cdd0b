/*
 * htif-hello - print one line through the HTIF syscall proxy, then pass.
 *
 * Output (exactly):  "Hello from HTIF!\n"
 * Exit code:         0 (tohost = 1)
 *
 * The host must implement the proxied write(2): magic_mem = {64 (SYS_write),
 * 1 (fd), buf address, length, 0...}; writing &magic_mem to tohost asks the
 * host to perform it; the host answers by making fromhost non-zero, which the
 * guest clears before going on (as riscv-tests' syscall() does).
 */
#include "htif.h"

	HTIF_MAILBOX

	.section .rodata
msg:	.ascii "Hello from HTIF!\n"
msg_end:

	HTIF_START

	/* magic_mem = {SYS_write, fd 1, buf, len} */
	la	a0, magic_mem
	li	t0, 64
	sd	t0, 0(a0)
	li	t0, 1
	sd	t0, 8(a0)
	la	t0, msg
	sd	t0, 16(a0)
	la	t2, msg_end
	sub	t2, t2, t0
	sd	t2, 24(a0)
	/* The host reads magic_mem from memory: order the stores above
	 * before the tohost write that hands the block over. */
	fence
	WRITE_TOHOST a0

	/* Wait for the host's acknowledgement, then clear it. */
	la	t1, fromhost
1:	ld	t0, 0(t1)
	beqz	t0, 1b
	sd	zero, 0(t1)

	HTIF_PASS

	.data
	.balign 64
magic_mem:
	.dword 0, 0, 0, 0, 0, 0, 0, 0
