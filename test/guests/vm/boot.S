/*
 * boot.S - reset, the M-mode and S-mode trap entries, the way into U-mode,
 * and the supervisor's probe functions.
 *
 * Linked with --no-relax, so nothing depends on gp: U-mode code can run
 * with any gp and the trap entries need not reload it.
 */
#include "vm.h"

#define MFRAME  256             /* x0..x31 */
#define SFRAME  288             /* x0..x31, sepc, sstatus, scause, stval */
#define F_SEPC    (32*8)
#define F_SSTATUS (33*8)
#define F_SCAUSE  (34*8)
#define F_STVAL   (35*8)

	.section .text.init, "ax", @progbits
	.globl _start
_start:
	csrr	t0, mhartid
	bnez	t0, park
	la	sp, m_stack_top
	csrw	mscratch, sp
	csrw	mstatus, zero
	csrw	mie, zero

	/* PMP: one NAPOT entry over the whole address space, R/W/X, so that
	 * S and U may access everything (with PMP implemented, an S/U access
	 * that matches no entry fails). pmpaddr0 = all ones (WARL: whatever
	 * the implementation keeps of it still means "everything").
	 * If the PMP CSRs trap (no PMP at all), mtvec lands on 1f. */
	la	t0, 1f
	csrw	mtvec, t0
	li	t0, -1
	srli	t0, t0, 10
	csrw	pmpaddr0, t0
	li	t0, 0x1f		/* A = NAPOT (0x18) | X | W | R */
	csrw	pmpcfg0, t0
	.balign 4
1:	la	t0, m_trap_entry
	csrw	mtvec, t0

	/* clear the kernel's .bss (page tables, frame pool, records) */
	la	t0, __kbss_start
	la	t1, __kbss_end
2:	bgeu	t0, t1, 3f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	2b
3:
	/* m_boot() sets up delegation, page tables and satp, and mrets
	 * to s_entry in S-mode. */
	call	m_boot
park:
	wfi
	j	park

/* ------------------------------------------------------------------ */
/* M-mode trap entry. mscratch holds the M stack top at all times; the
 * handler never traps itself (an M-mode trap is fatal). */
	.text
	.balign 4
	.globl m_trap_entry
m_trap_entry:
	csrrw	sp, mscratch, sp	/* sp = M stack, mscratch = old sp */
	addi	sp, sp, -MFRAME
	.irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\n, \n*8(sp)
	.endr
	csrr	t0, mscratch
	sd	t0, 2*8(sp)
	mv	a0, sp
	call	m_trap
	.irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	x\n, \n*8(sp)
	.endr
	addi	sp, sp, MFRAME
	csrrw	sp, mscratch, sp	/* sp = old sp, mscratch = M stack */
	mret

/*
 * m_mprv_ld(va, bits, out): called from m_trap (M-mode). Loads 8 bytes at
 * va with mstatus.MPRV/MPP = bits, so the access is translated and checked
 * as if made in MPP's mode. A trap (a page fault, taken in M-mode: traps
 * from M are never delegated) goes to the local vector below. Stores
 * out[0] = the value, out[1] = mcause (0: no trap), out[2] = mtval.
 * mtvec, mepc and mstatus are restored, so the trap being handled (the
 * S-mode ecall) is not disturbed.
 */
	.globl m_mprv_ld
m_mprv_ld:
	mv	t5, a2
	csrr	t2, mtvec
	csrr	t3, mstatus
	csrr	t4, mepc
	la	t0, 1f
	csrw	mtvec, t0
	li	t0, MSTATUS_MPP | MSTATUS_MPRV
	csrc	mstatus, t0
	csrs	mstatus, a1
	li	a1, 0
	li	a2, 0
	ld	a0, 0(a0)
	j	2f
	.balign 4
1:	csrr	a1, mcause
	csrr	a2, mtval
2:	csrw	mstatus, t3
	csrw	mepc, t4
	csrw	mtvec, t2
	sd	a0, 0(t5)
	sd	a1, 8(t5)
	sd	a2, 16(t5)
	ret

/* ------------------------------------------------------------------ */
/* S-mode entry, reached by m_boot's mret with translation on. */
	.globl s_entry
s_entry:
	la	sp, s_stack_top
	csrw	sscratch, zero		/* 0 = "we are in the kernel" */
	la	t0, s_trap_entry
	csrw	stvec, t0
	call	s_main
1:	j	1b

/*
 * S-mode trap entry. sscratch is 0 while the kernel runs and holds the
 * kernel stack top while U-mode runs, so a trap from U switches to the
 * kernel stack and a (nested) trap from S stays on the current one.
 */
	.balign 4
	.globl s_trap_entry
s_trap_entry:
	csrrw	sp, sscratch, sp
	beqz	sp, 1f
	/* from U: sp = kernel stack top, sscratch = user sp */
	addi	sp, sp, -SFRAME
	sd	t0, 5*8(sp)
	csrr	t0, sscratch
	sd	t0, 2*8(sp)
	csrw	sscratch, zero
	j	2f
1:	/* from S: undo the swap (sp = kernel sp, sscratch = 0) */
	csrrw	sp, sscratch, sp
	addi	sp, sp, -SFRAME
	sd	t0, 5*8(sp)
	addi	t0, sp, SFRAME
	sd	t0, 2*8(sp)
2:
	.irp n, 1,3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\n, \n*8(sp)
	.endr
	csrr	t0, sepc
	sd	t0, F_SEPC(sp)
	csrr	t0, sstatus
	sd	t0, F_SSTATUS(sp)
	csrr	t0, scause
	sd	t0, F_SCAUSE(sp)
	csrr	t0, stval
	sd	t0, F_STVAL(sp)
	mv	a0, sp
	call	s_trap
	/* fall through */
s_trap_return:
	ld	t0, F_SEPC(sp)
	csrw	sepc, t0
	ld	t0, F_SSTATUS(sp)
	csrw	sstatus, t0
	andi	t0, t0, SSTATUS_SPP
	bnez	t0, 3f
	addi	t0, sp, SFRAME		/* back to U: kernel stack top */
	csrw	sscratch, t0
3:
	.irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	x\n, \n*8(sp)
	.endr
	ld	sp, 2*8(sp)
	sret

/*
 * enter_user(pc, sp): start U-mode at pc with stack sp and every other
 * register zero. Builds a trap frame at the kernel stack top and returns
 * through it. Never returns: the user program ends with SYS_EXIT.
 */
	.globl enter_user
enter_user:
	la	sp, s_stack_top
	addi	sp, sp, -SFRAME
	mv	t0, sp
	addi	t1, sp, SFRAME
1:	sd	zero, 0(t0)
	addi	t0, t0, 8
	bltu	t0, t1, 1b
	sd	a0, F_SEPC(sp)
	sd	a1, 2*8(sp)
	csrr	t0, sstatus
	li	t1, SSTATUS_SPP | SSTATUS_SUM | SSTATUS_MXR | SSTATUS_SIE
	not	t1, t1
	and	t0, t0, t1		/* SPP = U, no SUM/MXR */
	sd	t0, F_SSTATUS(sp)
	j	s_trap_return

/* ------------------------------------------------------------------ */
/*
 * Probes of the supervisor tests. Each is a leaf whose first instruction
 * may trap; an expected trap resumes at ra (the caller), so the trap
 * handlers need not know instruction lengths. The faulting pc is the
 * probe's own address.
 */
	.globl k_ld, k_sd, k_exec, k_csrr_satp, k_csrw_satp, k_sfence
	.globl k_sret, k_wfi, k_sret_land
k_ld:	ld	a0, 0(a0)
	ret
k_sd:	sd	a1, 0(a0)
	ret
k_exec:	jr	a0			/* the code at a0 returns to our caller */
k_csrr_satp:
	csrr	a0, satp
	ret
k_csrw_satp:
	csrw	satp, a0
	ret
k_sfence:
	sfence.vma
	ret
k_sret:
	sret
k_sret_land:				/* where a (wrongly) executed sret goes */
	ret
k_wfi:	wfi
	ret

/* ------------------------------------------------------------------ */
	.section .stacks, "aw", @nobits
	.balign 16
	.space	4096
	.globl m_stack_top
m_stack_top:
	.space	16384
	.globl s_stack_top
s_stack_top:
