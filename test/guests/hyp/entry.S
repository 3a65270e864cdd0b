/*
 * entry.S - mode switching for the hypervisor test program (hyp.c).
 *
 *   long enter(void (*fn)(long), uint64_t mstatus_bits, long arg)
 *       M-mode: save the callee-saved registers, set mstatus.MPP/MPV from
 *       mstatus_bits, mret into fn(arg) in that mode (U, HS, VS or VU). The
 *       call returns when the code in that mode makes an "exit" ecall
 *       (a7 = EXIT_ECALL): the M-mode handler then resumes here with
 *       a0 = the a0 of the ecall. fn returning is the same exit.
 *
 *   m_trap, s_trap, vs_trap: the trap vectors of M, HS and VS. Each swaps
 *   sp with its level's scratch CSR (mscratch, sscratch = the HS one when a
 *   trap enters HS, sscratch = vsscratch in VS), saves all registers in a
 *   frame and calls trap_c(level, frame); a non-zero return from the M level
 *   means "exit": return from enter(). Otherwise the registers are restored
 *   and the handler returns with mret / sret.
 */
#define FRAME 256
#define EXIT_ECALL 0x5a

	.option norvc
	.text
	.balign 4
	.globl enter
enter:
	addi	sp, sp, -112
	sd	ra, 0(sp)
	sd	s0, 8(sp)
	sd	s1, 16(sp)
	sd	s2, 24(sp)
	sd	s3, 32(sp)
	sd	s4, 40(sp)
	sd	s5, 48(sp)
	sd	s6, 56(sp)
	sd	s7, 64(sp)
	sd	s8, 72(sp)
	sd	s9, 80(sp)
	sd	s10, 88(sp)
	sd	s11, 96(sp)
	la	t0, enter_sp
	sd	sp, 0(t0)
	csrw	mepc, a0
	/* clear MPP (12:11) and MPV (39), then set the requested bits */
	li	t0, 3 << 11
	li	t1, 1
	slli	t1, t1, 39
	or	t0, t0, t1
	csrc	mstatus, t0
	csrs	mstatus, a1
	mv	a0, a2
	/* the guest function may leave via ret: it lands on the exit ecall */
	la	ra, exit_ecall
	/* a stack for the guest code below this frame */
	addi	sp, sp, -64
	mret

	.globl exit_ecall
exit_ecall:
	li	a7, EXIT_ECALL
	ecall
1:	j	1b

/* Resume after enter()'s mret with a0 = the value the guest passed. */
	.globl enter_return
enter_return:
	la	t0, enter_sp
	ld	sp, 0(t0)
	ld	ra, 0(sp)
	ld	s0, 8(sp)
	ld	s1, 16(sp)
	ld	s2, 24(sp)
	ld	s3, 32(sp)
	ld	s4, 40(sp)
	ld	s5, 48(sp)
	ld	s6, 56(sp)
	ld	s7, 64(sp)
	ld	s8, 72(sp)
	ld	s9, 80(sp)
	ld	s10, 88(sp)
	ld	s11, 96(sp)
	addi	sp, sp, 112
	ret

.macro SAVE scratch
	csrrw	sp, \scratch, sp
	addi	sp, sp, -FRAME
	.irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\n, \n*8(sp)
	.endr
	csrr	t0, \scratch		/* the interrupted sp */
	sd	t0, 2*8(sp)
.endm
.macro RESTORE scratch
	addi	t0, sp, FRAME
	csrw	\scratch, t0		/* the trap stack top back into the scratch CSR */
	.irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	x\n, \n*8(sp)
	.endr
	ld	sp, 2*8(sp)		/* the interrupted sp, last */
.endm

	.balign 4
	.globl m_trap
m_trap:
	SAVE	mscratch
	li	a0, 3
	mv	a1, sp
	call	trap_c
	bnez	a0, 1f
	RESTORE	mscratch
	mret
1:	/* exit: the guest's a0 is the result; the M trap stack is reset */
	ld	a0, 10*8(sp)
	addi	t0, sp, FRAME
	csrw	mscratch, t0
	/* back in M-mode for good: MPP = M so nothing below depends on it */
	li	t0, 3 << 11
	csrs	mstatus, t0
	j	enter_return

	.balign 4
	.globl s_trap
s_trap:
	SAVE	sscratch
	li	a0, 1
	mv	a1, sp
	call	trap_c
	RESTORE	sscratch
	sret

	.balign 4
	.globl vs_trap
vs_trap:
	SAVE	sscratch
	li	a0, 5
	mv	a1, sp
	call	trap_c
	RESTORE	sscratch
	sret

	.bss
	.balign 8
enter_sp:
	.dword 0
