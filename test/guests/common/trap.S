/*
 * trap.S - trap entry points shared by the UART guest programs.
 *
 * Two ways in, both ending in the C function
 *     void trap_handler(long vector, struct trap_frame *frame)
 *
 *  - trap_entry: for mtvec in Direct mode (mode 0). vector = -1.
 *  - trap_vector_table: for mtvec in Vectored mode (mode 1). It is 256-byte
 *    aligned (the spec lets an implementation demand more than 4-byte
 *    alignment of a vectored base; 256 satisfies every known one) and holds
 *    16 uncompressed 4-byte jumps. Synchronous exceptions must arrive at
 *    entry 0 (base); interrupt with cause N at entry N (base + 4*N). The
 *    stub records which entry was used, so the C code can check that the
 *    machine vectored correctly.
 *
 * All 31 registers are saved: traps are asynchronous to the compiler's view
 * of the interrupted code, so nothing may be clobbered.
 */
#define FRAME 256

	.text
	.balign 4
	.globl trap_entry
trap_entry:
	addi	sp, sp, -FRAME
	sd	a0, 10*8(sp)
	li	a0, -1
	j	trap_common

	.balign 256
	.globl trap_vector_table
trap_vector_table:
	.option push
	.option norvc		/* every entry exactly 4 bytes */
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	j	vec_\n
	.endr
	.option pop

	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
vec_\n:
	addi	sp, sp, -FRAME
	sd	a0, 10*8(sp)
	li	a0, \n
	j	trap_common
	.endr

trap_common:
	sd	x1, 1*8(sp)
	/* x2 (sp) is saved as its value before the trap */
	sd	x3, 3*8(sp)
	sd	x4, 4*8(sp)
	sd	x5, 5*8(sp)
	sd	x6, 6*8(sp)
	sd	x7, 7*8(sp)
	sd	x8, 8*8(sp)
	sd	x9, 9*8(sp)
	/* x10 (a0) saved by the entry stub */
	sd	x11, 11*8(sp)
	sd	x12, 12*8(sp)
	sd	x13, 13*8(sp)
	sd	x14, 14*8(sp)
	sd	x15, 15*8(sp)
	sd	x16, 16*8(sp)
	sd	x17, 17*8(sp)
	sd	x18, 18*8(sp)
	sd	x19, 19*8(sp)
	sd	x20, 20*8(sp)
	sd	x21, 21*8(sp)
	sd	x22, 22*8(sp)
	sd	x23, 23*8(sp)
	sd	x24, 24*8(sp)
	sd	x25, 25*8(sp)
	sd	x26, 26*8(sp)
	sd	x27, 27*8(sp)
	sd	x28, 28*8(sp)
	sd	x29, 29*8(sp)
	sd	x30, 30*8(sp)
	sd	x31, 31*8(sp)
	addi	t0, sp, FRAME
	sd	t0, 2*8(sp)

	mv	a1, sp
	call	trap_handler	/* may change mepc (e.g. to skip an instruction) */

	ld	x1, 1*8(sp)
	ld	x3, 3*8(sp)
	ld	x4, 4*8(sp)
	ld	x5, 5*8(sp)
	ld	x6, 6*8(sp)
	ld	x7, 7*8(sp)
	ld	x8, 8*8(sp)
	ld	x9, 9*8(sp)
	ld	x10, 10*8(sp)
	ld	x11, 11*8(sp)
	ld	x12, 12*8(sp)
	ld	x13, 13*8(sp)
	ld	x14, 14*8(sp)
	ld	x15, 15*8(sp)
	ld	x16, 16*8(sp)
	ld	x17, 17*8(sp)
	ld	x18, 18*8(sp)
	ld	x19, 19*8(sp)
	ld	x20, 20*8(sp)
	ld	x21, 21*8(sp)
	ld	x22, 22*8(sp)
	ld	x23, 23*8(sp)
	ld	x24, 24*8(sp)
	ld	x25, 25*8(sp)
	ld	x26, 26*8(sp)
	ld	x27, 27*8(sp)
	ld	x28, 28*8(sp)
	ld	x29, 29*8(sp)
	ld	x30, 30*8(sp)
	ld	x31, 31*8(sp)
	addi	sp, sp, FRAME
	mret
