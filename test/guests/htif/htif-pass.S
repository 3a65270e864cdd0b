/*
 * htif-pass - self-checking RV64 tests, riscv-tests "p" style; all pass.
 *
 * Output:     none
 * Exit code:  0 (tohost = 1). A failing test n would give exit code n
 *             (tohost = (n << 1) | 1); an unexpected trap gives 255.
 *
 * Runs in M-mode only, no stack, no UART: the only device is the HTIF
 * mailbox. Covers integer arithmetic (including the M extension's
 * division corner cases), W-suffixed sign extension, shifts, compares,
 * branches, jumps, loads/stores with sign/zero extension, and LR/SC/AMO.
 */
#include "htif.h"

	HTIF_MAILBOX
	HTIF_START

	TEST_RR  2, add,   3, 1, 2
	TEST_RR  3, sub,   -1, 1, 2
	TEST_RI  4, addi,  -2047, 1, -2048
	TEST_RR  5, mul,   -6, 2, -3
	TEST_RR  6, mulhu, 1, 0x8000000000000000, 2
	TEST_RR  7, div,   -3, -7, 2          /* rounds toward zero */
	TEST_RR  8, rem,   -1, -7, 2          /* sign of the dividend */
	TEST_RR  9, divu,  -1, 5, 0           /* x/0 = all ones, no trap */
	TEST_RR 10, rem,   5, 5, 0            /* x%0 = x */
	TEST_RR 11, div,   0x8000000000000000, 0x8000000000000000, -1 /* overflow */
	TEST_RR 12, addw,  0xffffffff80000000, 0x7fffffff, 1  /* sign-extends */
	TEST_RR 13, sllw,  0xffffffff80000000, 1, 31
	TEST_RR 14, sra,   -1, 0x8000000000000000, 63
	TEST_RR 15, srl,   1, 0x8000000000000000, 63
	TEST_RR 16, slt,   1, -1, 0
	TEST_RR 17, sltu,  0, -1, 0

	/* 18: branches, taken and not taken, signed and unsigned */
	li	TESTNUM, 18
	li	x11, -1
	li	x12, 1
	beq	x11, x12, fail
	bne	x11, x11, fail
	bge	x11, x12, fail      /* signed: -1 < 1 */
	bltu	x11, x12, fail      /* unsigned: 0xff..ff > 1 */
	blt	x11, x12, 1f
	j	fail
1:	bgeu	x11, x12, 2f
	j	fail
2:
	/* 19: jal/jalr link values */
	li	TESTNUM, 19
	la	x11, 3f
	jal	x1, 3f
3:	bne	x1, x11, fail
	la	x12, 4f
	jalr	x5, 0(x12)
4:	bne	x5, x12, fail

	/* 20: loads sign/zero extend */
	li	TESTNUM, 20
	la	x11, data
	li	x12, -128
	lb	x14, 0(x11)
	bne	x14, x12, fail
	li	x12, 0x80
	lbu	x14, 0(x11)
	bne	x14, x12, fail
	li	x12, 0xffffffff80008080
	lw	x14, 0(x11)
	bne	x14, x12, fail
	li	x12, 0x80008080
	lwu	x14, 0(x11)
	bne	x14, x12, fail

	/* 21: store then load back (aligned doubleword) */
	li	TESTNUM, 21
	la	x11, scratch
	li	x12, 0x0123456789abcdef
	sd	x12, 0(x11)
	ld	x14, 0(x11)
	bne	x14, x12, fail
	lhu	x14, 6(x11)
	li	x12, 0x0123
	bne	x14, x12, fail

	/* 22: LR/SC succeeds without interference (retry: SC may fail
	 * spuriously by the spec, but a constrained loop must succeed) */
	li	TESTNUM, 22
	la	x11, scratch
5:	lr.d	x14, (x11)
	addi	x14, x14, 1
	sc.d	x13, x14, (x11)
	bnez	x13, 5b
	ld	x14, 0(x11)
	li	x12, 0x0123456789abcdf0
	bne	x14, x12, fail

	/* 23: AMO returns the old value and stores the new one */
	li	TESTNUM, 23
	li	x12, 5
	sw	x12, 8(x11)
	li	x13, 7
	addi	x15, x11, 8
	amoadd.w x14, x13, (x15)
	bne	x14, x12, fail
	lw	x14, 8(x11)
	li	x12, 12
	bne	x14, x12, fail

	HTIF_PASS

fail:
	HTIF_FAIL

	.section .rodata
	.balign 8
data:	.word 0x80008080

	.data
	.balign 8
scratch: .dword 0, 0
