/*
 * vs-hello: a bare-metal program for a KVM guest (VS-mode, started by kvm-vmm at GPA 0x80000000
 * with a0 = hart id, a1 = 0). It talks to the world only through what the VMM and KVM provide:
 *
 *   - SBI legacy console putchar (EID 0x01): KVM 6.1 forwards it to the VMM as KVM_EXIT_RISCV_SBI;
 *   - SBI base probe (EID 0x10, FID 3) of SRST: answered by KVM itself, no VMM exit;
 *   - MMIO to the VMM's test device at 0x10000000: a G-stage fault outside every memory slot that
 *     KVM decodes (htinst or the trapped instruction) and forwards as KVM_EXIT_MMIO;
 *   - SBI SRST shutdown (EID 0x53525354): KVM_EXIT_SYSTEM_EVENT; legacy shutdown (0x08) if SRST is
 *     missing or returns.
 *
 * It prints "vs: hello from VS-mode", "vs: mmio ok" (or "vs: mmio FAIL <n>" with the number of the
 * failing check), "vs: sbi srst present" and then shuts down.
 */
	.section .text.start, "ax"
	.globl _start
_start:
	la	sp, stack_top
	la	a0, msg_hello
	call	puts

	/* Check 1: the magic register reads what the VMM defines. */
	li	s0, 0x10000000
	li	s1, 1
	ld	t0, 8(s0)
	li	t1, 0x6b766d2d766d6d21
	bne	t0, t1, fail
	/* Check 2: a 64-bit write to SCRATCH reads back. */
	li	s1, 2
	li	t2, 0x0123456789abcdef
	sd	t2, 0(s0)
	ld	t0, 0(s0)
	bne	t0, t2, fail
	/* Check 3: XOR = SCRATCH ^ MAGIC, computed by the VMM. */
	li	s1, 3
	ld	t0, 16(s0)
	xor	t3, t2, t1
	bne	t0, t3, fail
	/* Check 4: a 32-bit store into the upper half and a 16-bit load. */
	li	s1, 4
	li	t4, 0x55aa1234
	sw	t4, 4(s0)
	lhu	t0, 4(s0)
	li	t5, 0x1234
	bne	t0, t5, fail
	ld	t0, 0(s0)
	li	t5, 0x55aa123489abcdef
	bne	t0, t5, fail
	/* Check 5: a byte load (sign-extended) of the magic's top byte 0x6b. */
	li	s1, 5
	lb	t0, 15(s0)
	li	t5, 0x6b
	bne	t0, t5, fail
	/* Check 6: the VMM counted every access so far (this read is the 9th access). */
	li	s1, 6
	ld	t0, 24(s0)
	li	t5, 9
	bne	t0, t5, fail

	la	a0, msg_mmio_ok
	call	puts

	/* SBI base: probe_extension(SRST). KVM answers this itself. */
	li	a7, 0x10
	li	a6, 3
	li	a0, 0x53525354
	ecall
	bnez	a0, no_srst		/* a0 = SBI error: base extension failed */
	bnez	a1, have_srst		/* a1 = 1 when the extension is present */
no_srst:
	la	a0, msg_no_srst
	call	puts
	j	legacy_shutdown
have_srst:
	la	a0, msg_srst
	call	puts
	/* SRST system_reset(shutdown, no reason). */
	li	a7, 0x53525354
	li	a6, 0
	li	a0, 0
	li	a1, 0
	ecall
legacy_shutdown:
	li	a7, 0x08
	ecall
1:	wfi
	j	1b

fail:
	la	a0, msg_fail
	call	puts
	addi	a0, s1, '0'
	call	putc
	li	a0, '\n'
	call	putc
	j	legacy_shutdown

/* putc(a0): SBI v0.1 console_putchar. Clobbers a7. */
putc:
	li	a7, 0x01
	ecall
	ret

/* puts(a0): NUL-terminated string. */
puts:
	addi	sp, sp, -16
	sd	ra, 8(sp)
	sd	s2, 0(sp)
	mv	s2, a0
2:	lbu	a0, 0(s2)
	beqz	a0, 3f
	call	putc
	addi	s2, s2, 1
	j	2b
3:	ld	s2, 0(sp)
	ld	ra, 8(sp)
	addi	sp, sp, 16
	ret

	.section .rodata
msg_hello:	.asciz "vs: hello from VS-mode\n"
msg_mmio_ok:	.asciz "vs: mmio ok\n"
msg_fail:	.asciz "vs: mmio FAIL "
msg_srst:	.asciz "vs: sbi srst present, shutting down\n"
msg_no_srst:	.asciz "vs: no sbi srst, legacy shutdown\n"

	.bss
	.balign 16
	.space 4096
stack_top:
