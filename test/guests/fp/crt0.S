/*
 * crt0.S - reset entry of the FP guest programs (fp-*.elf).
 *
 * The same as ../common/crt0.S, plus what a program that uses F/D needs
 * first: mstatus.FS is set to Initial (01), so that FP instructions and the
 * fcsr/frm/fflags CSRs do not trap as illegal instructions (Priv. spec
 * 3.1.6.6: with FS=Off they must), and fcsr is cleared (RNE, no flags).
 * Entered in M-mode at 0x8000_0000 with nothing set up.
 */
	.section .text.init, "ax", @progbits
	.globl _start
_start:
	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop

	/* Single-hart programs: any other hart parks forever. */
	csrr	t0, mhartid
	bnez	t0, park

	la	sp, __stack_top

	/* Interrupts off, nothing enabled, FS = Initial (bits 14:13 = 01). */
	li	t0, 1 << 13
	csrw	mstatus, t0
	csrw	mie, zero
	csrw	fcsr, zero

	la	t0, trap_entry
	csrw	mtvec, t0

	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:
	call	main
	call	exit
park:
	wfi
	j	park
