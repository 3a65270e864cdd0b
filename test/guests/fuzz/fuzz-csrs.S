/* Generated from scripts/fuzz/csrs.ts by `npm run fuzz -- --write-asm`: do not edit. */

/* INIT_CSRS base: write each initialised CSR from the program descriptor (t0 scratch). */
.macro INIT_CSRS base
	ld	t0, DESC_CSR + 0(\base)
	csrw	0x105, t0	/* stvec */
	ld	t0, DESC_CSR + 8(\base)
	csrw	0x106, t0	/* scounteren */
	ld	t0, DESC_CSR + 16(\base)
	csrw	0x10a, t0	/* senvcfg */
	ld	t0, DESC_CSR + 24(\base)
	csrw	0x140, t0	/* sscratch */
	ld	t0, DESC_CSR + 32(\base)
	csrw	0x141, t0	/* sepc */
	ld	t0, DESC_CSR + 40(\base)
	csrw	0x142, t0	/* scause */
	ld	t0, DESC_CSR + 48(\base)
	csrw	0x143, t0	/* stval */
	ld	t0, DESC_CSR + 56(\base)
	csrw	0x180, t0	/* satp */
	ld	t0, DESC_CSR + 64(\base)
	csrw	0x302, t0	/* medeleg */
	ld	t0, DESC_CSR + 72(\base)
	csrw	0x303, t0	/* mideleg */
	ld	t0, DESC_CSR + 80(\base)
	csrw	0x304, t0	/* mie */
	ld	t0, DESC_CSR + 88(\base)
	csrw	0x306, t0	/* mcounteren */
	ld	t0, DESC_CSR + 96(\base)
	csrw	0x30a, t0	/* menvcfg */
	ld	t0, DESC_CSR + 104(\base)
	csrw	0x340, t0	/* mscratch */
	ld	t0, DESC_CSR + 112(\base)
	csrw	0x341, t0	/* mepc */
	ld	t0, DESC_CSR + 120(\base)
	csrw	0x342, t0	/* mcause */
	ld	t0, DESC_CSR + 128(\base)
	csrw	0x343, t0	/* mtval */
	ld	t0, DESC_CSR + 136(\base)
	csrw	0x344, t0	/* mip */
	ld	t0, DESC_CSR + 144(\base)
	csrw	0x3a0, t0	/* pmpcfg0 */
	ld	t0, DESC_CSR + 152(\base)
	csrw	0x3a2, t0	/* pmpcfg2 */
	ld	t0, DESC_CSR + 160(\base)
	csrw	0x3b0, t0	/* pmpaddr0 */
	ld	t0, DESC_CSR + 168(\base)
	csrw	0x3b1, t0	/* pmpaddr1 */
	ld	t0, DESC_CSR + 176(\base)
	csrw	0x3b2, t0	/* pmpaddr2 */
	ld	t0, DESC_CSR + 184(\base)
	csrw	0x3b3, t0	/* pmpaddr3 */
	ld	t0, DESC_CSR + 192(\base)
	csrw	0x3b4, t0	/* pmpaddr4 */
	ld	t0, DESC_CSR + 200(\base)
	csrw	0x3b5, t0	/* pmpaddr5 */
	ld	t0, DESC_CSR + 208(\base)
	csrw	0x3b6, t0	/* pmpaddr6 */
	ld	t0, DESC_CSR + 216(\base)
	csrw	0x3b7, t0	/* pmpaddr7 */
	ld	t0, DESC_CSR + 224(\base)
	csrw	0x3b8, t0	/* pmpaddr8 */
	ld	t0, DESC_CSR + 232(\base)
	csrw	0x3b9, t0	/* pmpaddr9 */
	ld	t0, DESC_CSR + 240(\base)
	csrw	0x3ba, t0	/* pmpaddr10 */
	ld	t0, DESC_CSR + 248(\base)
	csrw	0x3bb, t0	/* pmpaddr11 */
	ld	t0, DESC_CSR + 256(\base)
	csrw	0x3bc, t0	/* pmpaddr12 */
	ld	t0, DESC_CSR + 264(\base)
	csrw	0x3bd, t0	/* pmpaddr13 */
	ld	t0, DESC_CSR + 272(\base)
	csrw	0x3be, t0	/* pmpaddr14 */
	ld	t0, DESC_CSR + 280(\base)
	csrw	0x3bf, t0	/* pmpaddr15 */
.endm

/* DUMP_CSRS: store each dumped CSR at DUMP_CSR(gp) onwards (t0 scratch). */
.macro DUMP_CSRS
	csrr	t0, 0x100	/* sstatus */
	sd	t0, DUMP_CSR + 0(gp)
	csrr	t0, 0x104	/* sie */
	sd	t0, DUMP_CSR + 8(gp)
	csrr	t0, 0x105	/* stvec */
	sd	t0, DUMP_CSR + 16(gp)
	csrr	t0, 0x106	/* scounteren */
	sd	t0, DUMP_CSR + 24(gp)
	csrr	t0, 0x10a	/* senvcfg */
	sd	t0, DUMP_CSR + 32(gp)
	csrr	t0, 0x140	/* sscratch */
	sd	t0, DUMP_CSR + 40(gp)
	csrr	t0, 0x141	/* sepc */
	sd	t0, DUMP_CSR + 48(gp)
	csrr	t0, 0x142	/* scause */
	sd	t0, DUMP_CSR + 56(gp)
	csrr	t0, 0x143	/* stval */
	sd	t0, DUMP_CSR + 64(gp)
	csrr	t0, 0x144	/* sip */
	sd	t0, DUMP_CSR + 72(gp)
	csrr	t0, 0x180	/* satp */
	sd	t0, DUMP_CSR + 80(gp)
	csrr	t0, 0x300	/* mstatus */
	sd	t0, DUMP_CSR + 88(gp)
	csrr	t0, 0x301	/* misa */
	sd	t0, DUMP_CSR + 96(gp)
	csrr	t0, 0x302	/* medeleg */
	sd	t0, DUMP_CSR + 104(gp)
	csrr	t0, 0x303	/* mideleg */
	sd	t0, DUMP_CSR + 112(gp)
	csrr	t0, 0x304	/* mie */
	sd	t0, DUMP_CSR + 120(gp)
	csrr	t0, 0x305	/* mtvec */
	sd	t0, DUMP_CSR + 128(gp)
	csrr	t0, 0x306	/* mcounteren */
	sd	t0, DUMP_CSR + 136(gp)
	csrr	t0, 0x30a	/* menvcfg */
	sd	t0, DUMP_CSR + 144(gp)
	csrr	t0, 0x340	/* mscratch */
	sd	t0, DUMP_CSR + 152(gp)
	csrr	t0, 0x341	/* mepc */
	sd	t0, DUMP_CSR + 160(gp)
	csrr	t0, 0x342	/* mcause */
	sd	t0, DUMP_CSR + 168(gp)
	csrr	t0, 0x343	/* mtval */
	sd	t0, DUMP_CSR + 176(gp)
	csrr	t0, 0x344	/* mip */
	sd	t0, DUMP_CSR + 184(gp)
	csrr	t0, 0x3a0	/* pmpcfg0 */
	sd	t0, DUMP_CSR + 192(gp)
	csrr	t0, 0x3a2	/* pmpcfg2 */
	sd	t0, DUMP_CSR + 200(gp)
	csrr	t0, 0x3b0	/* pmpaddr0 */
	sd	t0, DUMP_CSR + 208(gp)
	csrr	t0, 0x3b1	/* pmpaddr1 */
	sd	t0, DUMP_CSR + 216(gp)
	csrr	t0, 0x3b2	/* pmpaddr2 */
	sd	t0, DUMP_CSR + 224(gp)
	csrr	t0, 0x3b3	/* pmpaddr3 */
	sd	t0, DUMP_CSR + 232(gp)
	csrr	t0, 0x3b4	/* pmpaddr4 */
	sd	t0, DUMP_CSR + 240(gp)
	csrr	t0, 0x3b5	/* pmpaddr5 */
	sd	t0, DUMP_CSR + 248(gp)
	csrr	t0, 0x3b6	/* pmpaddr6 */
	sd	t0, DUMP_CSR + 256(gp)
	csrr	t0, 0x3b7	/* pmpaddr7 */
	sd	t0, DUMP_CSR + 264(gp)
	csrr	t0, 0x3b8	/* pmpaddr8 */
	sd	t0, DUMP_CSR + 272(gp)
	csrr	t0, 0x3b9	/* pmpaddr9 */
	sd	t0, DUMP_CSR + 280(gp)
	csrr	t0, 0x3ba	/* pmpaddr10 */
	sd	t0, DUMP_CSR + 288(gp)
	csrr	t0, 0x3bb	/* pmpaddr11 */
	sd	t0, DUMP_CSR + 296(gp)
	csrr	t0, 0x3bc	/* pmpaddr12 */
	sd	t0, DUMP_CSR + 304(gp)
	csrr	t0, 0x3bd	/* pmpaddr13 */
	sd	t0, DUMP_CSR + 312(gp)
	csrr	t0, 0x3be	/* pmpaddr14 */
	sd	t0, DUMP_CSR + 320(gp)
	csrr	t0, 0x3bf	/* pmpaddr15 */
	sd	t0, DUMP_CSR + 328(gp)
	csrr	t0, 0xf11	/* mvendorid */
	sd	t0, DUMP_CSR + 336(gp)
	csrr	t0, 0xf12	/* marchid */
	sd	t0, DUMP_CSR + 344(gp)
	csrr	t0, 0xf13	/* mimpid */
	sd	t0, DUMP_CSR + 352(gp)
	csrr	t0, 0xf14	/* mhartid */
	sd	t0, DUMP_CSR + 360(gp)
.endm

#define N_INIT_CSRS 36
#define N_DUMP_CSRS 46
