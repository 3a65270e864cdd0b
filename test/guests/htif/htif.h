/*
 * htif.h - macros for the HTIF guest programs (riscv-tests "p" style).
 *
 * HTIF (Berkeley Host-Target Interface) is the Spike way for a guest to talk
 * to the host: two 64-bit words in guest RAM, `tohost` and `fromhost`, found
 * by the host through the ELF symbol table (so these ELFs keep their
 * symbols). Each lives in the 64-byte aligned .tohost section.
 *
 * A tohost value is  device[63:56] | command[55:48] | payload[47:0].
 *   device 0, command 0, payload odd:  exit; code = payload >> 1
 *                                      (1 = pass, (n << 1) | 1 = fail n)
 *   device 0, command 0, payload even: syscall proxy; payload is the
 *                                      address of a 64-byte aligned block
 *                                      of 8 u64: {syscall number, args...};
 *                                      the host writes the return value to
 *                                      block[0] and then sets fromhost != 0.
 *
 * Like riscv-tests' write_tohost, values are stored as two 32-bit words,
 * low word first, then the high word. Hosts that model tohost as a 32-bit
 * register pair (QEMU) act on the high-word write, so that order matters.
 *
 * Test numbering follows riscv-tests: TESTNUM (gp) holds the number of the
 * test being run; a failure reports TESTNUM, so the exit code names the
 * first failing test. Tests start at 2.
 */
#ifndef GUEST_HTIF_H
#define GUEST_HTIF_H

#define TESTNUM gp

/* Store \reg to tohost as low word then high word; uses t5, t6. */
.macro WRITE_TOHOST reg
	la	t5, tohost
	sw	\reg, 0(t5)
	srli	t6, \reg, 32
	sw	t6, 4(t5)
.endm

/* Exit with pass: tohost = 1, repeated forever as riscv-tests does (a host
 * may poll tohost and miss nothing; QEMU exits on the first write). */
.macro HTIF_PASS
	fence
	li	t0, 1
1:	WRITE_TOHOST t0
	j	1b
.endm

/* Exit with failure code TESTNUM: tohost = (TESTNUM << 1) | 1. */
.macro HTIF_FAIL
	fence
	slli	t0, TESTNUM, 1
	ori	t0, t0, 1
1:	WRITE_TOHOST t0
	j	1b
.endm

/* The mailbox, 64-byte aligned as in riscv-tests. The symbols carry type
 * and size: QEMU's loader insists that tohost/fromhost are 8 bytes. */
.macro HTIF_MAILBOX
	.pushsection .tohost, "aw", @progbits
	.balign 64
	.globl tohost
	.type tohost, @object
	.size tohost, 8
tohost:	.dword 0
	.balign 64
	.globl fromhost
	.type fromhost, @object
	.size fromhost, 8
fromhost: .dword 0
	.popsection
.endm

/*
 * Start-up: hart 0 only, unexpected traps fail with code 255, gp = 0.
 * No stack and no .bss: the tests only use registers.
 */
.macro HTIF_START
	.section .text.init, "ax", @progbits
	.globl _start
_start:
	csrr	t0, mhartid
	bnez	t0, 9f
	la	t0, 8f
	csrw	mtvec, t0
	li	TESTNUM, 0
	j	10f
	.balign 4
8:	/* trap vector: no test expects a trap. */
	li	TESTNUM, 255
	HTIF_FAIL
9:	wfi
	j	9b
10:
.endm

/*
 * TEST_RR code, inst, expected, a, b:  result of "inst x14, x11, x12" with
 * x11 = a, x12 = b must equal expected.
 */
.macro TEST_RR n, inst, exp, a, b
	li	TESTNUM, \n
	li	x11, \a
	li	x12, \b
	\inst	x14, x11, x12
	li	x7, \exp
	bne	x14, x7, fail
.endm

/* TEST_RI n, inst, expected, a, imm */
.macro TEST_RI n, inst, exp, a, imm
	li	TESTNUM, \n
	li	x11, \a
	\inst	x14, x11, \imm
	li	x7, \exp
	bne	x14, x7, fail
.endm

#endif
