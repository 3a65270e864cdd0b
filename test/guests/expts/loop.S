/* guest_loop: the S/VS-mode entry of tlbwalk.c's measured loop; returns to
 * the host side (run_guest in ../hyp-walk/guest.S) with an ecall, a0 = sum. */
	.text
	.balign 4096
	.globl guest_loop
guest_loop:
	call	loop_c
	ecall
