/*
 * crt0.S - reset entry shared by the UART guest programs (and, with
 * -DFP_ENABLE, by the FP programs of ../fp).
 *
 * The program is entered in M-mode at 0x8000_0000 (the ELF entry, which the
 * linker script puts at the start of RAM) with nothing set up: QEMU's reset
 * ROM passes a0 = hartid and a1 = device-tree address, which we ignore. A
 * machine must therefore only provide: pc = entry, M-mode, a readable mhartid.
 */
#ifdef VS_GUEST
	/* -DVS_GUEST (hyp/vsboot.S): entered in VS-mode by a small M/HS-mode
	 * prologue, which owns _start; no machine CSR may be touched here. */
	.text
	.globl vs_entry
vs_entry:
#else
	.section .text.init, "ax", @progbits
	.globl _start
_start:
#endif
	/* gp must be set with relaxation off, or the assembler would try to
	 * compute gp relative to gp itself. */
	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop

#ifndef VS_GUEST
	/* Single-hart programs: any other hart parks forever. */
	csrr	t0, mhartid
	bnez	t0, park
#endif

	la	sp, __stack_top

	/* Known state: interrupts globally off, no interrupt enabled. Writing
	 * mstatus = 0 also leaves MPP = U (or M if U is not implemented);
	 * only the trap tests mret outside a handler and they set MPP first.
	 * FP programs (built with -DFP_ENABLE, ../fp/Makefile) start with
	 * mstatus.FS = Initial (bits 14:13 = 01), so that F/D instructions and
	 * the fcsr CSRs do not trap (Priv 3.1.6.6: with FS = Off they must),
	 * and fcsr = 0 (RNE, no flags). */
#ifndef VS_GUEST
#ifdef FP_ENABLE
	li	t0, 1 << 13
	csrw	mstatus, t0
#else
	csrw	mstatus, zero
#endif
	csrw	mie, zero
#ifdef FP_ENABLE
	csrw	fcsr, zero
#endif

	/* Direct-mode mtvec: any trap before a program installs its own
	 * expectations is reported by trap_handler() and ends the run. */
	la	t0, trap_entry
	csrw	mtvec, t0
#endif

	/* Zero .sbss/.bss (8-byte stores; the linker script aligns both ends).
	 * The ELF loader should already have done it; this makes the programs
	 * independent of that. */
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:
	call	main
	/* main's return value is the exit code */
	call	exit
park:
	wfi
	j	park
