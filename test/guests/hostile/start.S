/*
 * start.S - entry, trap entry and probe primitives of the VS-mode guests
 * in this folder (hostile.c, victim.c). They run directly in a VM of
 * cyclevisor's VMM: VS-mode at 0x8000_0000, a0 = hart id, a1 = opaque
 * (HSM hart_start), no firmware; console and power off through SBI.
 *
 * Probes: each probe_* primitive stores the address of its recovery label
 * in `trap_recover` and performs one access. If the access traps, the trap
 * handler (trap_c in rt.c) records scause/stval and resumes at the
 * recovery label; the caller reads `trap_cause` (-1 = no trap).
 */
	.section .text.init, "ax", @progbits
	.globl _start
_start:
	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop
	bnez	a0, 2f
	la	sp, __stack_top
	la	t0, trap_stack0_top
	csrw	sscratch, t0
	la	t0, trap_entry
	csrw	stvec, t0
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 3f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
3:	call	main
	call	power_off
	j	.

/* A secondary vCPU (HSM hart_start(hart, secondary_entry, opaque)). */
	.globl secondary_entry
secondary_entry:
2:	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop
	la	sp, sec_stack_top
	la	t0, trap_stack1_top
	csrw	sscratch, t0
	la	t0, trap_entry
	csrw	stvec, t0
	call	secondary_main
	j	.

/* Trap entry: all registers saved on the per-hart trap stack (sscratch). */
	.align 4
	.globl trap_entry
trap_entry:
	csrrw	sp, sscratch, sp
	addi	sp, sp, -256
	sd	x1, 8(sp)
	sd	x3, 24(sp)
	sd	x4, 32(sp)
	sd	x5, 40(sp)
	sd	x6, 48(sp)
	sd	x7, 56(sp)
	sd	x8, 64(sp)
	sd	x9, 72(sp)
	sd	x10, 80(sp)
	sd	x11, 88(sp)
	sd	x12, 96(sp)
	sd	x13, 104(sp)
	sd	x14, 112(sp)
	sd	x15, 120(sp)
	sd	x16, 128(sp)
	sd	x17, 136(sp)
	sd	x18, 144(sp)
	sd	x19, 152(sp)
	sd	x20, 160(sp)
	sd	x21, 168(sp)
	sd	x22, 176(sp)
	sd	x23, 184(sp)
	sd	x24, 192(sp)
	sd	x25, 200(sp)
	sd	x26, 208(sp)
	sd	x27, 216(sp)
	sd	x28, 224(sp)
	sd	x29, 232(sp)
	sd	x30, 240(sp)
	sd	x31, 248(sp)
	csrr	t0, sscratch
	sd	t0, 16(sp)
	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop
	mv	a0, sp
	call	trap_c
	addi	t0, sp, 256
	csrw	sscratch, t0
	ld	x1, 8(sp)
	ld	x3, 24(sp)
	ld	x4, 32(sp)
	ld	x5, 40(sp)
	ld	x6, 48(sp)
	ld	x7, 56(sp)
	ld	x8, 64(sp)
	ld	x9, 72(sp)
	ld	x10, 80(sp)
	ld	x11, 88(sp)
	ld	x12, 96(sp)
	ld	x13, 104(sp)
	ld	x14, 112(sp)
	ld	x15, 120(sp)
	ld	x16, 128(sp)
	ld	x17, 136(sp)
	ld	x18, 144(sp)
	ld	x19, 152(sp)
	ld	x20, 160(sp)
	ld	x21, 168(sp)
	ld	x22, 176(sp)
	ld	x23, 184(sp)
	ld	x24, 192(sp)
	ld	x25, 200(sp)
	ld	x26, 208(sp)
	ld	x27, 216(sp)
	ld	x28, 224(sp)
	ld	x29, 232(sp)
	ld	x30, 240(sp)
	ld	x31, 248(sp)
	ld	x2, 16(sp)
	sret

/* PROBE name, access: a0 = address (a1 = value for stores); returns a0. */
.macro PROBE name, body:vararg
	.globl \name
\name:
	la	t0, 9f
	la	t1, trap_recover
	sd	t0, 0(t1)
	\body
9:	la	t1, trap_recover
	sd	zero, 0(t1)
	ret
.endm

	.text
PROBE probe_ld,  ld a0, 0(a0)
PROBE probe_lw,  lw a0, 0(a0)
PROBE probe_lhu, lhu a0, 0(a0)
PROBE probe_lbu, lbu a0, 0(a0)
PROBE probe_sd,  sd a1, 0(a0)
PROBE probe_sw,  sw a1, 0(a0)
PROBE probe_sh,  sh a1, 0(a0)
PROBE probe_sb,  sb a1, 0(a0)
PROBE probe_cld, c.ld a0, 0(a0)
PROBE probe_csd, c.sd a1, 0(a0)
PROBE probe_amoadd_d, amoadd.d a0, a1, (a0)
PROBE probe_amoswap_w, amoswap.w a0, a1, (a0)
PROBE probe_lr_d, lr.d a0, (a0)
PROBE probe_sc_d, sc.d a0, a1, (a0)
/* Fetch: jump to a0 (link in t3, ra kept for the probe's own return); a
 * fetch fault resumes at the recovery label. */
PROBE probe_fetch, jalr t3, 0(a0)
/* HLV.D / HSV.D from VS-mode (virtual-instruction for the guest). */
PROBE probe_hlv_d, .insn r 0x73, 4, 0x36, a0, a0, x0
PROBE probe_hsv_d, .insn r 0x73, 4, 0x37, x0, a0, a1
/* HFENCE.GVMA and HFENCE.VVMA from VS-mode. */
PROBE probe_hfence_gvma, .insn r 0x73, 0, 0x31, x0, x0, x0
PROBE probe_hfence_vvma, .insn r 0x73, 0, 0x11, x0, x0, x0
/* A load whose address register holds a0, with a different rd (x15). */
PROBE probe_ld_x15, ld a5, 0(a0); mv a0, a5

/* CSR probes: a0 = CSR value read / written. One per CSR number. */
.macro CSRPROBE csr
PROBE probe_csrr_\csr, csrr a0, \csr
PROBE probe_csrw_\csr, csrw \csr, a1
.endm
CSRPROBE 0x300	/* mstatus */
CSRPROBE 0x305	/* mtvec */
CSRPROBE 0x3b0	/* pmpaddr0 */
CSRPROBE 0x3a0	/* pmpcfg0 */
CSRPROBE 0x600	/* hstatus */
CSRPROBE 0x602	/* hedeleg */
CSRPROBE 0x680	/* hgatp */
CSRPROBE 0x645	/* hvip */
CSRPROBE 0x200	/* vsstatus */
CSRPROBE 0x280	/* vsatp */
CSRPROBE 0xf14	/* mhartid */
CSRPROBE 0x7b0	/* dcsr */
CSRPROBE 0x14d	/* stimecmp (vstimecmp in VS) */

	.globl	do_wfi
do_wfi:
	wfi
	ret

	.globl	sfence_all
sfence_all:
	sfence.vma
	ret

	.bss
	.align	4
	.space	4096
trap_stack0_top:
	.space	4096
trap_stack1_top:
	.space	8192
sec_stack_top:
