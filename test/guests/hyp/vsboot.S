/*
 * vsboot.S - runs a UART guest program (built with crt0 -DVS_GUEST) as a
 * VS-mode guest under G-stage translation: the benchmark pair "cmark bare"
 * vs "cmark-vs" (bench/index.ts) measures the cost of nested paging.
 *
 * In M-mode: open PMP for S/U, point hgatp at an Sv39x4 root whose first four
 * entries map GPA 0..4 GiB to the same SPA with 1 GiB leaves (R W X U A D:
 * G-stage leaves need U), vsatp = Bare, then mret with MPP = S, MPV = 1 into
 * vs_entry. The program's UART and finisher accesses reach the devices
 * through the same identity G stage. Any trap ends up at m_fail, which exits
 * through the test finisher with code 99.
 */
	.section .text.init, "ax", @progbits
	.globl _start
_start:
	csrr	t0, mhartid
	bnez	t0, 2f
	li	t0, -1
	csrw	pmpaddr0, t0
	li	t0, 0x1f
	csrw	pmpcfg0, t0
	la	t0, m_fail
	csrw	mtvec, t0
	/* G-stage root: 4 gigapage leaves */
	la	t0, g_root
	li	t1, 0xdf		/* V R W X U A D */
	li	t2, 1 << 28		/* 1 GiB >> 2: PPN step of one gigapage in PTE units */
	li	t3, 4
1:	sd	t1, 0(t0)
	add	t1, t1, t2
	addi	t0, t0, 8
	addi	t3, t3, -1
	bnez	t3, 1b
	la	t0, g_root
	srli	t0, t0, 12
	li	t1, 8
	slli	t1, t1, 60		/* MODE = Sv39x4 */
	or	t0, t0, t1
	csrw	0x680, t0		/* hgatp */
	csrw	0x280, zero		/* vsatp = Bare */
	/* mstatus: MPP = S, MPV = 1, everything else 0 */
	li	t0, 1
	slli	t0, t0, 39
	li	t1, 1 << 11
	or	t0, t0, t1
	csrw	mstatus, t0
	la	t0, vs_entry
	csrw	mepc, t0
	mret
2:	wfi
	j	2b

	.balign 4
m_fail:
	li	t0, 0x100000
	li	t1, (99 << 16) | 0x3333
	sw	t1, 0(t0)
3:	j	3b

	.data
	.balign 16384
g_root:
	.zero 16384
