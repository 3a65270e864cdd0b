/*
 * user-asm.S - U-mode code that must be written in assembly: the entry
 * point, the probes, the register-preservation test of ecall, and the
 * code on pages of their own (called across pages, a straddling
 * instruction, an execute-only page).
 *
 * Everything here is linked at its user virtual address (== the physical
 * address of its copy in the image) and is mapped only on demand.
 */
#include "vm.h"

/* The entry: the supervisor srets here with nothing mapped, so the very
 * first fetch is a demand fault. sp = USER_TOP (empty, demand-zero
 * stack at the top of the user half of the address space). */
	.section .text.ustart, "ax", @progbits
	.globl _ustart
_ustart:
	li	sp, USER_TOP
	call	umain
	li	a7, SYS_EXIT
	ecall
1:	j	1b

	.text
/*
 * Probes: leaf functions whose first instruction may trap. An expected
 * trap resumes at ra (the caller), so its pc is the probe's address.
 */
	.globl u_ld, u_sd, u_exec, u_amoadd, u_sret, u_wfi
	.globl u_csrr_sstatus, u_csrr_satp, u_sfence
u_ld:	ld	a0, 0(a0)
	ret
u_sd:	sd	a1, 0(a0)
	ret
u_exec:	jr	a0
u_amoadd:
	amoadd.d a0, a1, (a0)
	ret
u_sret:	sret
	ret
u_wfi:	wfi
	ret
u_csrr_sstatus:
	csrr	a0, sstatus
	ret
u_csrr_satp:
	csrr	a0, satp
	ret
u_sfence:
	sfence.vma
	ret

/*
 * u_ecall_regs: returns 0 if an ecall (SYS_ADD3 1 2 3) changes no register
 * but a0 (= 6), else 1. Every other register holds a distinct value.
 */
#define VAL(n) ((n << 40) | (n << 20) | 0x5a5 | n)
	.globl u_ecall_regs
u_ecall_regs:
	addi	sp, sp, -128
	sd	ra, 0(sp)
	sd	gp, 8(sp)
	sd	tp, 16(sp)
	sd	s0, 24(sp)
	sd	s1, 32(sp)
	sd	s2, 40(sp)
	sd	s3, 48(sp)
	sd	s4, 56(sp)
	sd	s5, 64(sp)
	sd	s6, 72(sp)
	sd	s7, 80(sp)
	sd	s8, 88(sp)
	sd	s9, 96(sp)
	sd	s10, 104(sp)
	sd	s11, 112(sp)
	.irp n, 3,4,5,6,7,8,9,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	li	x\n, VAL(\n)
	.endr
	li	a0, 1
	li	a1, 2
	li	a2, 3
	li	a7, SYS_ADD3
	ecall
	li	ra, 6
	bne	a0, ra, 1f
	li	ra, 2
	bne	a1, ra, 1f
	li	ra, 3
	bne	a2, ra, 1f
	li	ra, SYS_ADD3
	bne	a7, ra, 1f
	.irp n, 3,4,5,6,7,8,9,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	li	ra, VAL(\n)
	bne	x\n, ra, 1f
	.endr
	li	a0, 0
	j	2f
1:	li	a0, 1
2:	ld	ra, 0(sp)
	ld	gp, 8(sp)
	ld	tp, 16(sp)
	ld	s0, 24(sp)
	ld	s1, 32(sp)
	ld	s2, 40(sp)
	ld	s3, 48(sp)
	ld	s4, 56(sp)
	ld	s5, 64(sp)
	ld	s6, 72(sp)
	ld	s7, 80(sp)
	ld	s8, 88(sp)
	ld	s9, 96(sp)
	ld	s10, 104(sp)
	ld	s11, 112(sp)
	addi	sp, sp, 128
	ret

/*
 * far1 (its own page): far1(x) = far2(3 * x) + 1.
 */
	.section .upage.far1, "ax", @progbits
	.balign 4096
	.globl far1
far1:
	addi	sp, sp, -16
	sd	ra, 8(sp)
	slli	t0, a0, 1
	add	a0, a0, t0
	call	far2
	addi	a0, a0, 1
	ld	ra, 8(sp)
	addi	sp, sp, 16
	ret
	.balign 4096

/*
 * Two pages, P and P + 1. far2 is at the start of P: far2(x) = x + 100.
 * straddle_fn (no arguments, returns 15) starts 8 bytes before the end of
 * P; the 32-bit addi at P + 4094 has its second half on P + 1, which is
 * not mapped before the fetch of that half: the instruction page fault
 * must report stval = P + 4096 (the part that faulted) and sepc = P + 4094.
 */
	.section .upage.str, "ax", @progbits
	.balign 4096
	.globl straddle_page, far2, straddle_fn, straddle_insn
straddle_page:
far2:
	addi	a0, a0, 100
	ret
	.org	straddle_page + 4088
straddle_fn:
	.option push
	.option rvc
	c.li	a0, 0			/* P + 4088 */
	c.addi	a0, 1			/* P + 4090 */
	c.addi	a0, 2			/* P + 4092 */
	.option norvc
straddle_insn:
	addi	a0, a0, 4		/* P + 4094 .. P + 4097 */
	.option rvc
	c.addi	a0, 8			/* P + 4098 */
	c.jr	ra
	.option pop
	.balign 4096

/*
 * An execute-only page (PTE X, no R): xonly_fn returns 0x123. Its first
 * 8 bytes read (with MXR) as 0x0000806712300513.
 */
	.section .upage.xonly, "ax", @progbits
	.balign 4096
	.globl xonly_fn
xonly_fn:
	.option push
	.option norvc
	li	a0, 0x123
	ret
	.option pop
	.balign 4096
