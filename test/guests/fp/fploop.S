/*
 * fploop.S - tight loops for measuring the host cost of one guest
 * instruction (bench/fp.ts): LOOPS iterations of UNROLL copies of one
 * instruction, plus addi + bnez. Built once per instruction (Makefile,
 * -DINSN_<name>): fp-loop-add (the integer reference), fp-loop-fadd-d,
 * fp-loop-fadd-s, fp-loop-fmul-d, fp-loop-fmadd-d, fp-loop-fdiv-d.
 *
 * The UNROLL copies rotate over 8 destination registers, each reading
 * itself and a constant register, so consecutive instructions are
 * independent (no long dependency chain) and the values stay ordinary
 * normal numbers: the FP results are inexact (0.1 is not representable),
 * the common case. Prints nothing; exits 0 through the SiFive test
 * finisher. Standalone (no crt0/rt): FS is enabled here.
 */
#define LOOPS  0x100000      /* 1,048,576: one lui */
#define UNROLL 32

#if defined(INSN_ADD)
#define OP(n)  add x1##n, x1##n, x9
#elif defined(INSN_FADD_D)
#define OP(n)  fadd.d f1##n, f1##n, f9
#elif defined(INSN_FADD_S)
#define OP(n)  fadd.s f1##n, f1##n, f9
#elif defined(INSN_FMUL_D)
#define OP(n)  fmul.d f1##n, f1##n, f9
#elif defined(INSN_FMADD_D)
#define OP(n)  fmadd.d f1##n, f1##n, f9, f8
#elif defined(INSN_FDIV_D)
#define OP(n)  fdiv.d f1##n, f1##n, f9
#else
#error "define INSN_ADD, INSN_FADD_D, INSN_FADD_S, INSN_FMUL_D, INSN_FMADD_D or INSN_FDIV_D"
#endif

	.section .text.init, "ax", @progbits
	.option norvc
	.globl _start
_start:
	csrr	t0, mhartid
	bnez	t0, park
	li	t0, 1 << 13		/* mstatus.FS = Initial */
	csrw	mstatus, t0
	csrw	fcsr, zero

	/* x10..x17 = 1..8, x9 = 3; f10..f17 = 1.0 .. 8.0 (also as f32,
	 * NaN-boxed by fcvt.s.w where single is used), f9 = 0.1 or 1.0000001,
	 * f8 = 0.25 */
	li	x9, 3
	.irp n, 0,1,2,3,4,5,6,7
	li	x1\n, \n + 1
#if defined(INSN_FADD_S)
	fcvt.s.w f1\n, x1\n
#else
	fcvt.d.w f1\n, x1\n
#endif
	.endr
#if defined(INSN_FADD_S)
	la	t0, c01s
	flw	f9, 0(t0)
#elif defined(INSN_FMUL_D) || defined(INSN_FDIV_D)
	la	t0, c1p
	fld	f9, 0(t0)
#else
	la	t0, c01
	fld	f9, 0(t0)
#endif
	la	t0, cq
	fld	f8, 0(t0)

	li	t1, LOOPS
	.balign 64
1:
	.rept UNROLL / 8
	OP(0)
	OP(1)
	OP(2)
	OP(3)
	OP(4)
	OP(5)
	OP(6)
	OP(7)
	.endr
	addi	t1, t1, -1
	bnez	t1, 1b

	li	t0, 0x100000		/* SiFive test finisher: pass */
	li	t1, 0x5555
	sw	t1, 0(t0)
park:
	wfi
	j	park

	.section .rodata
	.balign 8
c01:	.double 0.1
c1p:	.double 1.0000001		/* x * 1.0000001^(2^20*4) stays finite */
cq:	.double 0.25
c01s:	.float 0.1
