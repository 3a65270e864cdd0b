/*
 * fuzz-rt.S - the runtime of the differential fuzzer (scripts/fuzz/).
 *
 * The driver appends a PT_LOAD segment at IN to a copy of bin/fuzz-rt.elf
 * (scripts/fp-diff/elf.ts appendSegment) holding
 *
 *     u64 magic = ".FUZZIN1", u64 count, u64 flags, u64 0, u64 offset[count]
 *     per program (at IN + offset): the descriptor below, its code, its data
 *
 * and runs the copy unchanged on QEMU and on cyclevisor. For each program
 * the runtime copies the code to CODE and the data image to DATA (= gp),
 * executes fence.i, sets mtvec, the FP registers, fcsr, the initialised CSRs
 * (fuzz-csrs.S, generated from scripts/fuzz/csrs.ts), mstatus and x1..x31
 * (all but gp) from the descriptor and jumps to CODE. The program ends by
 * jumping to 0x80000004 (j dump), which stores x0..x31, the dumped CSRs,
 * fcsr and f0..f31, then the runtime prints one line
 *
 *     P <hex words: x0..x31 f0..f31 fcsr csrs... traps aborted insns hash log...>
 *
 * (16 hex digits per word, no separators; `insns` = minstret delta of the
 * body, `hash` = FNV-1a-style hash of DATA over 64-bit words less the first
 * four PTEs of the page table at DATA + PT_OFF, those four PTEs, then
 * min(traps, LOG_MAX) log entries of mcause, mepc - CODE, mtval), and with
 * header flag 1 also "D <DATA as hex words>". At the end: "fuzz: end".
 *
 * Traps: an M-mode handler logs (mcause, mepc - CODE, mtval) and resumes
 * after the faulting instruction (2 or 4 bytes by its low bits). An
 * interrupt is logged and mstatus.MPIE cleared, so that the mret leaves
 * interrupts disabled. An ecall from S or U returns to M-mode (MPP = M), which
 * is how the generated sret items come back. More than TRAP_MAX traps abort the program (dumped
 * as it stands, aborted = 1).
 */
#define G          0x80030000
#define DATA_SIZE  0x4000
#define PT_OFF     0x3000		/* the programs' Sv39 root table (scripts/fuzz/gen.ts) */
#define CODE       0x80040000
#define IN         0x81000000
#define LOG_BASE   (G - 0x2000)
#define LOG_MAX    200
#define TRAP_MAX   1000
#define MAGIC      0x314e495a5a55462e

/* descriptor */
#define DESC_CODE_LEN 0
#define DESC_DATA_LEN 8
#define DESC_MSTATUS  16
#define DESC_FCSR     24
#define DESC_X        32
#define DESC_F        288
#define DESC_CSR      544
#define DESC_SIZE     (DESC_CSR + 8 * N_INIT_CSRS)

/* dump area and variables, gp-relative */
#define DUMP_X     -0x800
#define DUMP_F     -0x700
#define DUMP_FCSR  -0x600
#define DUMP_CSR   -0x5f8
#define V_T0       -0x100
#define V_T1       -0xf8
#define V_T2       -0xf0
#define V_LOGP     -0xe8
#define V_TRAPS    -0xe0
#define V_ABORTED  -0xd8
#define V_INSTRET  -0xd0
#define V_SP       -0xc8
#define V_RA       -0xc0
#define V_S0       -0xb8   /* s0..s11: -0xb8 .. -0x60 */

#include "fuzz-csrs.S"

#define UART       0x10000000
#define FINISHER   0x100000
#define MTIMECMP0  0x2004000

	.section .text.init, "ax", @progbits
	.option norvc
	.globl _start
_start:
	j	start
	j	dump		/* 0x80000004: where programs end */

start:
	csrr	t0, mhartid
	bnez	t0, park
	la	sp, rt_stack_top
	li	gp, G
	/* no timer interrupt: mtimecmp = all ones */
	li	t0, MTIMECMP0
	li	t1, -1
	sd	t1, 0(t0)
	li	s0, IN
	ld	t0, 0(s0)
	li	t1, MAGIC
	beq	t0, t1, 1f
	la	a0, msg_noinput
	call	puts
	li	a0, 2
	j	exit
1:	ld	s1, 8(s0)	/* count */
	ld	s3, 16(s0)	/* flags */
	la	a0, msg_start
	call	puts
	li	s2, 0
loop:	beq	s2, s1, done
	slli	t0, s2, 3
	add	t0, t0, s0
	ld	t0, 32(t0)
	add	a0, s0, t0
	call	run_one
	call	report
	addi	s2, s2, 1
	j	loop
done:	la	a0, msg_end
	call	puts
	li	a0, 0
	j	exit

/* exit(a0): SiFive test finisher */
exit:	li	t0, FINISHER
	li	t1, 0x5555
	beqz	a0, 1f
	slli	t1, a0, 16
	li	t2, 0x3333
	or	t1, t1, t2
1:	sw	t1, 0(t0)
park:	wfi
	j	park

/* run_one(a0 = descriptor): returns after dump */
run_one:
	sd	sp, V_SP(gp)
	sd	ra, V_RA(gp)
	sd	s0, V_S0 + 0(gp)
	sd	s1, V_S0 + 8(gp)
	sd	s2, V_S0 + 16(gp)
	sd	s3, V_S0 + 24(gp)
	/* code: DESC_SIZE.. (8-byte padded), then data */
	ld	t0, DESC_CODE_LEN(a0)
	addi	t1, a0, DESC_SIZE
	li	t2, CODE
	add	t3, t1, t0
1:	bgeu	t1, t3, 2f
	ld	t4, 0(t1)
	sd	t4, 0(t2)
	addi	t1, t1, 8
	addi	t2, t2, 8
	j	1b
2:	ld	t0, DESC_DATA_LEN(a0)
	mv	t2, gp
	add	t3, t1, t0
1:	bgeu	t1, t3, 2f
	ld	t4, 0(t1)
	sd	t4, 0(t2)
	addi	t1, t1, 8
	addi	t2, t2, 8
	j	1b
2:	fence.i
	li	t0, LOG_BASE
	sd	t0, V_LOGP(gp)
	sd	zero, V_TRAPS(gp)
	sd	zero, V_ABORTED(gp)
	la	t0, trap_entry
	csrw	mtvec, t0
	li	t0, 1 << 13	/* FS = Initial while the FP state is loaded */
	csrw	mstatus, t0
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	fld	f\n, DESC_F + 8 * \n(a0)
	.endr
	ld	t0, DESC_FCSR(a0)
	csrw	fcsr, t0
	INIT_CSRS a0
	ld	t0, DESC_MSTATUS(a0)
	csrw	mstatus, t0
	mv	t6, a0
	.irp n, 1,2,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
	ld	x\n, DESC_X + 8 * \n(t6)
	.endr
	csrr	t0, minstret
	sd	t0, V_INSTRET(gp)
	ld	t0, DESC_X + 8 * 5(t6)
	ld	t6, DESC_X + 8 * 31(t6)
	j	CODE

/* The end of every program (also reached from an aborting trap). */
dump:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\n, DUMP_X + 8 * \n(gp)
	.endr
	csrr	t0, minstret
	ld	t1, V_INSTRET(gp)
	sub	t0, t0, t1
	sd	t0, V_INSTRET(gp)
	DUMP_CSRS
	li	t0, 3 << 13	/* FS on to read the FP state (mstatus is already dumped) */
	csrs	mstatus, t0
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	fsd	f\n, DUMP_F + 8 * \n(gp)
	.endr
	csrr	t0, fcsr
	sd	t0, DUMP_FCSR(gp)
	ld	sp, V_SP(gp)
	ld	ra, V_RA(gp)
	ld	s0, V_S0 + 0(gp)
	ld	s1, V_S0 + 8(gp)
	ld	s2, V_S0 + 16(gp)
	ld	s3, V_S0 + 24(gp)
	ret

	.balign 4
trap_entry:
	sd	t0, V_T0(gp)
	sd	t1, V_T1(gp)
	sd	t2, V_T2(gp)
	ld	t0, V_TRAPS(gp)
	addi	t0, t0, 1
	sd	t0, V_TRAPS(gp)
	li	t1, TRAP_MAX
	bgtu	t0, t1, abort
	ld	t0, V_LOGP(gp)
	li	t1, LOG_BASE + 24 * LOG_MAX
	bgeu	t0, t1, 1f
	csrr	t1, mcause
	sd	t1, 0(t0)
	csrr	t1, mepc
	li	t2, CODE
	sub	t1, t1, t2
	sd	t1, 8(t0)
	csrr	t1, mtval
	sd	t1, 16(t0)
	addi	t0, t0, 24
	sd	t0, V_LOGP(gp)
1:	csrr	t1, mcause
	bltz	t1, irq
	/* ecall from U (8) or S (9): back to M-mode (the sret items' way home) */
	addi	t2, t1, -8
	li	t0, 1
	bgtu	t2, t0, 3f
	li	t0, 3 << 11
	csrs	mstatus, t0
3:
	/* skip the instruction: 4 bytes if its low bits are 11, else 2 */
	csrr	t1, mepc
	lhu	t2, 0(t1)
	andi	t2, t2, 3
	addi	t2, t2, -3
	bnez	t2, 2f
	addi	t1, t1, 2
2:	addi	t1, t1, 2
	csrw	mepc, t1
	j	resume
irq:	li	t1, 1 << 7	/* MPIE = 0: interrupts stay off after mret */
	csrc	mstatus, t1
resume:	ld	t0, V_T0(gp)
	ld	t1, V_T1(gp)
	ld	t2, V_T2(gp)
	mret
abort:	li	t0, 1
	sd	t0, V_ABORTED(gp)
	li	t0, 1 << 17	/* MPRV off: the dump's stores must not be translated */
	csrc	mstatus, t0
	ld	t0, V_T0(gp)
	ld	t1, V_T1(gp)
	ld	t2, V_T2(gp)
	j	dump

/* report: print the P line (and the D line with flag 1) of the last program */
report:
	addi	sp, sp, -32
	sd	ra, 0(sp)
	sd	s4, 8(sp)
	sd	s5, 16(sp)
	li	a0, 'P'
	call	putc
	li	a0, ' '
	call	putc
	/* x, f, fcsr, csrs: contiguous from DUMP_X */
	addi	s4, gp, DUMP_X
	li	s5, 32 + 32 + 1 + N_DUMP_CSRS
1:	ld	a0, 0(s4)
	call	puthex
	addi	s4, s4, 8
	addi	s5, s5, -1
	bnez	s5, 1b
	ld	a0, V_TRAPS(gp)
	call	puthex
	ld	a0, V_ABORTED(gp)
	call	puthex
	ld	a0, V_INSTRET(gp)
	call	puthex
	/* hash of DATA but the first four PTEs of the page table (printed on their own) */
	mv	t0, gp
	li	t1, G + DATA_SIZE
	li	t4, G + PT_OFF
	li	a0, 0xcbf29ce484222325
	li	t3, 0x100000001b3
2:	bne	t0, t4, 7f
	addi	t0, t0, 32
7:	ld	t2, 0(t0)
	xor	a0, a0, t2
	mul	a0, a0, t3
	addi	t0, t0, 8
	bltu	t0, t1, 2b
	call	puthex
	li	s4, G + PT_OFF
	li	s5, 4
8:	ld	a0, 0(s4)
	call	puthex
	addi	s4, s4, 8
	addi	s5, s5, -1
	bnez	s5, 8b
	/* log */
	li	s4, LOG_BASE
	ld	s5, V_LOGP(gp)
3:	bgeu	s4, s5, 4f
	ld	a0, 0(s4)
	call	puthex
	addi	s4, s4, 8
	j	3b
4:	li	a0, '\n'
	call	putc
	andi	t0, s3, 1
	beqz	t0, 6f
	li	a0, 'D'
	call	putc
	li	a0, ' '
	call	putc
	mv	s4, gp
	li	s5, G + DATA_SIZE
5:	ld	a0, 0(s4)
	call	puthex
	addi	s4, s4, 8
	bltu	s4, s5, 5b
	li	a0, '\n'
	call	putc
6:	ld	ra, 0(sp)
	ld	s4, 8(sp)
	ld	s5, 16(sp)
	addi	sp, sp, 32
	ret

/* puthex(a0): 16 hex digits */
puthex:
	addi	sp, sp, -16
	sd	ra, 0(sp)
	sd	s6, 8(sp)
	mv	s6, a0
	li	t5, 60
1:	srl	a0, s6, t5
	andi	a0, a0, 15
	la	t0, hexdigits
	add	t0, t0, a0
	lbu	a0, 0(t0)
	call	putc
	addi	t5, t5, -4
	bgez	t5, 1b
	ld	ra, 0(sp)
	ld	s6, 8(sp)
	addi	sp, sp, 16
	ret

/* putc(a0): poll LSR.THRE, write THR (keeps t5) */
putc:	li	t0, UART
1:	lbu	t1, 5(t0)
	andi	t1, t1, 0x20
	beqz	t1, 1b
	sb	a0, 0(t0)
	ret

/* puts(a0) */
puts:	addi	sp, sp, -16
	sd	ra, 0(sp)
	sd	s6, 8(sp)
	mv	s6, a0
1:	lbu	a0, 0(s6)
	beqz	a0, 2f
	call	putc
	addi	s6, s6, 1
	j	1b
2:	ld	ra, 0(sp)
	ld	s6, 8(sp)
	addi	sp, sp, 16
	ret

	.section .rodata
hexdigits:	.ascii "0123456789abcdef"
msg_noinput:	.asciz "fuzz: no programs at 0x81000000\n"
msg_start:	.asciz "fuzz: start\n"
msg_end:	.asciz "fuzz: end\n"

	.bss
	.balign 16
rt_stack:	.skip 4096
rt_stack_top:
