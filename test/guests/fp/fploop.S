/*
 * fploop.S - tight loops for measuring the host cost of one guest
 * instruction (bench/fp.ts): LOOPS iterations of UNROLL copies of one
 * instruction, plus addi + bnez. Built once per instruction (Makefile,
 * LOOPS, -DINSN_<name>): fp-loop-add (the integer reference), fp-loop-ld
 * (an integer load, for the FP loads and stores), and one per F/D
 * instruction class: arithmetic, sqrt, FMA, min, sign injection, compare,
 * classify, conversions, moves, loads and stores.
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
#elif defined(INSN_LD)
#define OP(n)  ld x1##n, 8*n(t0)
#elif defined(INSN_FADD_D)
#define OP(n)  fadd.d f1##n, f1##n, f9
#elif defined(INSN_FADD_S)
#define OP(n)  fadd.s f1##n, f1##n, f9
#define SINGLE 1
#elif defined(INSN_FMUL_D)
#define OP(n)  fmul.d f1##n, f1##n, f9
#define NEAR_ONE 1
#elif defined(INSN_FMUL_S)
#define OP(n)  fmul.s f1##n, f1##n, f9
#define SINGLE 1
#define NEAR_ONE 1
#elif defined(INSN_FDIV_D)
#define OP(n)  fdiv.d f1##n, f1##n, f9
#define NEAR_ONE 1
#elif defined(INSN_FDIV_S)
#define OP(n)  fdiv.s f1##n, f1##n, f9
#define SINGLE 1
#define NEAR_ONE 1
#elif defined(INSN_FSQRT_D)
#define OP(n)  fsqrt.d f1##n, f9
#elif defined(INSN_FSQRT_S)
#define OP(n)  fsqrt.s f1##n, f9
#define SINGLE 1
#elif defined(INSN_FMADD_D)
#define OP(n)  fmadd.d f1##n, f1##n, f9, f8
#elif defined(INSN_FMSUB_D)
#define OP(n)  fmsub.d f1##n, f1##n, f9, f8
#elif defined(INSN_FNMADD_D)
#define OP(n)  fnmadd.d f1##n, f1##n, f9, f8
#elif defined(INSN_FMADD_S)
#define OP(n)  fmadd.s f1##n, f1##n, f9, f8
#define SINGLE 1
#elif defined(INSN_FMIN_D)
#define OP(n)  fmin.d f1##n, f1##n, f9
#elif defined(INSN_FSGNJ_D)
#define OP(n)  fsgnj.d f1##n, f1##n, f9
#elif defined(INSN_FLT_D)
#define OP(n)  flt.d x1##n, f1##n, f9
#elif defined(INSN_FCLASS_D)
#define OP(n)  fclass.d x1##n, f1##n
#elif defined(INSN_FCVT_L_D)
#define OP(n)  fcvt.l.d x1##n, f1##n
#elif defined(INSN_FCVT_D_L)
#define OP(n)  fcvt.d.l f1##n, x1##n
#elif defined(INSN_FCVT_S_D)
#define OP(n)  fcvt.s.d f1##n, f9
#elif defined(INSN_FCVT_D_S)
#define OP(n)  fcvt.d.s f1##n, f9
#define SINGLE 1
#elif defined(INSN_FMV_X_D)
#define OP(n)  fmv.x.d x1##n, f1##n
#elif defined(INSN_FLD)
#define OP(n)  fld f1##n, 8*n(t0)
#elif defined(INSN_FSD)
#define OP(n)  fsd f1##n, 8*n(t0)
#else
#error "define INSN_<name>: see the Makefile's LOOPS"
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

	/* x10..x17 = 1..8, x9 = 3; f10..f17 = 1.0 .. 8.0; f9 = 0.1, or
	 * 1.0000001 for the multiply/divide loops (a repeated product stays
	 * finite); f8 = 0.25. SINGLE loops hold binary32 values (NaN-boxed).
	 * t0 = a 64-byte buffer for the load/store loops. */
	li	x9, 3
	.irp n, 0,1,2,3,4,5,6,7
	li	x1\n, \n + 1
#if defined(SINGLE)
	fcvt.s.w f1\n, x1\n
#else
	fcvt.d.w f1\n, x1\n
#endif
	.endr
#if defined(SINGLE) && defined(NEAR_ONE)
	la	t0, c1ps
	flw	f9, 0(t0)
#elif defined(SINGLE)
	la	t0, c01s
	flw	f9, 0(t0)
#elif defined(NEAR_ONE)
	la	t0, c1p
	fld	f9, 0(t0)
#else
	la	t0, c01
	fld	f9, 0(t0)
#endif
#if defined(SINGLE)
	la	t0, cqs
	flw	f8, 0(t0)
#else
	la	t0, cq
	fld	f8, 0(t0)
#endif
	la	t0, buf

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
c1ps:	.float 1.0000001		/* 1 + 2^-23 */
cqs:	.float 0.25

	.section .bss
	.balign 64
buf:	.space 64
