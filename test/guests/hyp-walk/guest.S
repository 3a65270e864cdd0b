/*
 * guest.S - enter a less privileged mode and come back on its first trap.
 *
 *   uint64_t run_guest(uint64_t entry, uint64_t arg, uint64_t how)
 *
 *   how = 0: from M-mode to S-mode (mret with MPP = S, MPV = 0); the guest's
 *            trap comes back through mtvec.
 *   how = 1: from HS-mode to VS-mode (sret with hstatus.SPV = 1, SPP = 1,
 *            Priv 1.12 §8.2.2 / §8.6.4); the guest's trap (delegated by
 *            medeleg) comes back through stvec.
 *
 * The guest starts with a0 = arg; run_guest returns the trap cause (mcause
 * or scause) and leaves the guest's a0 in guest_a0 and the trap value in
 * guest_tval. Callee-saved registers, ra, sp, gp and tp are restored, and
 * mtvec (how = 0) is put back, so the C caller continues as after a call.
 *
 * The guest routines (s_touch, vs_load, vs_store) sit together in one
 * 256-byte aligned block, so they share one 4 KiB page: entering VS twice
 * fetches from one page (one instruction-side walk).
 */
	.text
	.globl run_guest
	.balign 4
run_guest:
	la	t0, saved
	sd	ra, 0(t0)
	sd	sp, 8(t0)
	sd	gp, 16(t0)
	sd	tp, 24(t0)
	sd	s0, 32(t0)
	sd	s1, 40(t0)
	sd	s2, 48(t0)
	sd	s3, 56(t0)
	sd	s4, 64(t0)
	sd	s5, 72(t0)
	sd	s6, 80(t0)
	sd	s7, 88(t0)
	sd	s8, 96(t0)
	sd	s9, 104(t0)
	sd	s10, 112(t0)
	sd	s11, 120(t0)
	bnez	a2, 1f
	/* M -> S */
	csrr	t1, mtvec
	sd	t1, 128(t0)
	la	t1, exit_m
	csrw	mtvec, t1
	csrw	mepc, a0
	li	t1, 3 << 11
	csrc	mstatus, t1
	li	t1, 1 << 11
	csrs	mstatus, t1		/* MPP = S */
	li	t1, 1
	slli	t1, t1, 39
	csrc	mstatus, t1		/* MPV = 0 */
	mv	a0, a1
	mret
1:	/* HS -> VS */
	la	t1, exit_s
	csrw	stvec, t1
	csrw	sepc, a0
	li	t1, 1 << 7
	csrs	0x600, t1		/* hstatus.SPV = 1 */
	li	t1, 1 << 8
	csrs	sstatus, t1		/* SPP = 1: VS-mode, not VU */
	mv	a0, a1
	sret

	.balign 4
exit_m:
	la	t0, guest_a0
	sd	a0, 0(t0)
	csrr	t1, mtval
	sd	t1, 8(t0)
	csrr	a0, mcause
	la	t0, saved
	ld	t1, 128(t0)
	csrw	mtvec, t1
	j	restore

	.balign 4
exit_s:
	la	t0, guest_a0
	sd	a0, 0(t0)
	csrr	t1, stval
	sd	t1, 8(t0)
	csrr	a0, scause
restore:
	la	t0, saved
	ld	ra, 0(t0)
	ld	sp, 8(t0)
	ld	gp, 16(t0)
	ld	tp, 24(t0)
	ld	s0, 32(t0)
	ld	s1, 40(t0)
	ld	s2, 48(t0)
	ld	s3, 56(t0)
	ld	s4, 64(t0)
	ld	s5, 72(t0)
	ld	s6, 80(t0)
	ld	s7, 88(t0)
	ld	s8, 96(t0)
	ld	s9, 104(t0)
	ld	s10, 112(t0)
	ld	s11, 120(t0)
	ret

/* The guest code: one access, then ecall. */
	.balign 256
	.globl s_touch, vs_load, vs_store
s_touch:
	ld	a0, 0(a0)
	ecall
vs_load:
	ld	a0, 0(a0)
	ecall
vs_store:
	not	t0, a0
	sd	t0, 0(a0)
	ecall

	.data
	.balign 8
	.globl guest_a0, guest_tval
guest_a0:	.dword 0
guest_tval:	.dword 0
saved:		.space 136
