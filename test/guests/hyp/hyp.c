/*
 * hyp - bare-metal checks of the RISC-V hypervisor extension (H), riscv-tests
 * style: one "ok N name" / "FAIL N name" line per check, then a summary; the
 * exit code is the number of the first failing check (0 = all passed).
 *
 * The program starts in M-mode (crt0), sets PMP open, points mtvec, stvec
 * and vstvec at its own handlers (entry.S) and runs small functions in HS,
 * U, VS and VU mode through enter(). The G stage maps GPA 0..3 GiB to the
 * same SPA with Sv39x4 gigapages (U = 1), and GPA 0xC000_0000.. through 4 KiB
 * test pages:
 *   GPA 0xC000_0000  -> page_a    R W X U A D
 *   GPA 0xC000_1000  -> page_b    R U A (read-only: a store is a guest-page fault)
 *   GPA 0xC000_2000  -> invalid   (every access is a guest-page fault)
 *   GPA 0xC000_3000  -> page_c    R W A D, U = 0 (G-stage leaves need U)
 * VS-stage tables (Sv39, vsatp) map the program (GVA 0x8000_0000.., a gigapage)
 * to itself, GVA 0x4000_0000 -> GPA 0xC000_0000,
 * GVA 0x4000_1000 -> GPA 0xC000_0000 execute-only, and GVA 0x1_0000_0000 ->
 * through a level-1 table at GPA 0xC000_2000 (a G-stage fault on the
 * implicit PTE read), GVA 0x4020_2000 -> a leaf PTE with A = 0 that lives
 * in the read-only G page page_b (the A update is a G-stage write that
 * faults: htinst 0x3020).
 *
 * Everything is written to the ratified spec (Privileged spec, "Hypervisor
 * Extension"). Spec sentences are quoted where a check depends on them.
 */
#include "common/rt.h"

#include "hyp/hyp.h"

struct rec R;
uint64_t m_stack[512] __attribute__((aligned(16)));
uint64_t hs_stack[512] __attribute__((aligned(16)));
uint64_t vs_stack[512] __attribute__((aligned(16)));
/* Check 45: the HS handler emulates a store guest-page fault as a VMM emulates MMIO, from htinst. */
static volatile int emulate_mmio;
static volatile uint64_t mmio_value;

long trap_c(long level, uint64_t *f)
{
	uint64_t cause = level == 3 ? csr_read(mcause) : csr_read(scause);
	if ((long)cause >= 0 && cause >= 8 && cause <= 11 && f[17] == EXIT_ECALL) {
		if (level == 3)
			return 1;
		/* pass the exit up: an ecall from HS or VS (never delegated to HS or VS here) */
		register uint64_t a0 __asm__("a0") = f[10];
		register uint64_t a7 __asm__("a7") = EXIT_ECALL;
		__asm__ volatile("ecall" :: "r"(a0), "r"(a7));
		for (;;) ;
	}
	R.level = level;
	R.cause = cause;
	R.count++;
	if (level == 3) {
		R.tval = csr_read(mtval);
		R.epc = csr_read(mepc);
		R.tval2 = csrr_n(CSR_MTVAL2);
		R.tinst = csrr_n(CSR_MTINST);
		R.status = csr_read(mstatus);
	} else {
		R.tval = csr_read(stval);
		R.epc = csr_read(sepc);
		R.status = csr_read(sstatus);
		if (level == 1) {
			R.tval2 = csrr_n(CSR_HTVAL);
			R.tinst = csrr_n(CSR_HTINST);
			R.hstatus = csrr_n(CSR_HSTATUS);
		}
	}
	if ((long)cause < 0) {
		/* interrupt: disable it where it was taken */
		uint64_t bit = 1UL << (cause & 63);
		if (level == 3) csr_clear(mie, bit);
		else if (level == 1 && (bit & 0x444)) csrc_n(CSR_HIE, bit);
		else csr_clear(sie, bit);
		return 0;
	}
	/* exception: resume after the (always 4-byte) faulting instruction; a fetch fault (the
	 * tests jump with jalr ra) resumes at the return address */
	uint64_t next = (cause == 1 || cause == 12 || cause == 20) ? f[1] : R.epc + 4;
	if (emulate_mmio && level == 1 && cause == 23 && (R.tinst & 1)) {
		/* a transformed store: rs2 (bits 24:20) holds the data; bit 1 clear = a 2-byte original */
		mmio_value = f[(R.tinst >> 20) & 31];
		next = R.epc + ((R.tinst & 2) ? 4 : 2);
	}
	if (level == 3) csr_write(mepc, next);
	else csr_write(sepc, next);
	return 0;
}

/* ---- G-stage and VS-stage tables ---- */
#define PTE_V 1UL
#define PTE_R 2UL
#define PTE_W 4UL
#define PTE_X 8UL
#define PTE_U 16UL
#define PTE_A 64UL
#define PTE_D 128UL
#define PTE(pa, fl) ((((uint64_t)(pa)) >> 12 << 10) | (fl))

static uint64_t groot[2048] __attribute__((aligned(16384)));   /* Sv39x4 root: 16 KiB */
static uint64_t g_l1[512] __attribute__((aligned(4096)));
static uint64_t g_l0[512] __attribute__((aligned(4096)));
static uint8_t page_a[4096] __attribute__((aligned(4096)));
static uint64_t page_b[512] __attribute__((aligned(4096)));
static uint8_t page_c[4096] __attribute__((aligned(4096)));
static uint64_t vs_root[512] __attribute__((aligned(4096)));
static uint64_t g48_root[2048] __attribute__((aligned(16384)));  /* Sv48x4 root */
static uint64_t g48_l2[512] __attribute__((aligned(4096)));
static uint64_t vs_l1[512] __attribute__((aligned(4096)));
static uint64_t vs_l0[512] __attribute__((aligned(4096)));

#define GPA_A   0xC0000000UL
#define GPA_B   0xC0001000UL
#define GPA_BAD 0xC0002000UL
#define GPA_C   0xC0003000UL
#define GVA_A   0x40000000UL
#define GVA_AX  0x40001000UL
#define GVA_AD  0x40202000UL
#define GVA_WALK 0x100000000UL
#define GVA_NONE 0x40003000UL

static uint64_t hgatp_sv39x4(void) { return (8UL << 60) | ((uint64_t)groot >> 12); }
static uint64_t vsatp_sv39(void) { return (8UL << 60) | ((uint64_t)vs_root >> 12); }

static void build_tables(void)
{
	for (int i = 0; i < 3; i++)
		groot[i] = PTE((uint64_t)i << 30, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D);
	groot[3] = PTE(g_l1, PTE_V);
	g_l1[0] = PTE(g_l0, PTE_V);
	g_l0[0] = PTE(page_a, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D);
	g_l0[1] = PTE(page_b, PTE_V | PTE_R | PTE_U | PTE_A);
	g_l0[2] = 0;
	g_l0[3] = PTE(page_c, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
	/* VS stage (GPAs; vs_root etc. are identity-mapped RAM) */
	vs_root[2] = PTE(0x80000000UL, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);  /* the program itself, identity */
	vs_root[1] = PTE(vs_l1, PTE_V);         /* GVA 0x4000_0000.. */
	vs_l1[0] = PTE(vs_l0, PTE_V);
	vs_l0[0] = PTE(GPA_A, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
	vs_l0[1] = PTE(GPA_A, PTE_V | PTE_X | PTE_A);
	vs_l1[1] = PTE(GPA_B, PTE_V);           /* GVA 0x4020_0000..: level-0 table at GPA_B (page_b, read-only in G) */
	vs_root[4] = PTE(GPA_BAD, PTE_V);       /* GVA 0x1_0000_0000: level-1 table at an invalid GPA */
	/* in page_b, as the level-0 table of GVA 0x4020_0000..: entry 2 = a leaf with A = 0 */
	page_b[2] = PTE(GPA_A, PTE_V | PTE_R | PTE_W);
}

/* ---- guest functions (run in the mode enter() gives them) ---- */
#define EXIT(v) do { register uint64_t a0 __asm__("a0") = (v); register uint64_t a7 __asm__("a7") = EXIT_ECALL; \
	__asm__ volatile("ecall" :: "r"(a0), "r"(a7)); for (;;) ; } while (0)

static void g_read_csr_sstatus(long arg) { (void)arg; csr_write(sscratch, 0x1234); EXIT(csr_read(sstatus)); }
static void g_ecall(long arg) { (void)arg; __asm__ volatile(".option push\n.option norvc\nli a7, 0\necall\n.option pop" ::: "a7", "memory"); EXIT(0); }
static void g_illegal(long arg) { (void)arg; __asm__ volatile(".word 0xfe000033" ::: "memory"); EXIT(0); }
static void g_read_hstatus(long arg) { (void)arg; EXIT(csrr_n(CSR_HSTATUS)); }
static void g_sret(long arg) { (void)arg; __asm__ volatile("sret" ::: "memory"); EXIT(0); }
static void g_wfi(long arg) { (void)arg; __asm__ volatile("wfi" ::: "memory"); EXIT(0); }
static void g_satp(long arg) { (void)arg; EXIT(csr_read(satp)); }
static void g_spin(long arg) { for (volatile long i = 0; i < arg; i++) ; EXIT(0); }
static void g_load(long arg) { uint64_t v; __asm__ volatile(".option push\n.option norvc\nld %0, 0(%1)\n.option pop" : "=r"(v) : "r"(arg) : "memory"); EXIT(v); }
static void g_store(long arg) { __asm__ volatile(".option push\n.option norvc\nsd %0, 0(%0)\n.option pop" :: "r"(arg) : "memory"); EXIT(0); }
static void g_amo(long arg) { uint64_t v; __asm__ volatile(".option push\n.option norvc\namoadd.w %0, %0, 0(%1)\n.option pop" : "=&r"(v) : "r"(arg) : "memory"); EXIT(0); }
static void g_jump(long arg) { __asm__ volatile("jalr ra, 0(%0)" :: "r"(arg) : "ra", "memory"); EXIT(0); }
static void g_fmv(long arg) { (void)arg; __asm__ volatile(".word 0xf0000053" ::: "memory"); EXIT(0); }  /* fmv.w.x f0, x0 */
static void g_hfence_vvma(long arg) { (void)arg; __asm__ volatile(".word 0x22000073" ::: "memory"); EXIT(7); }
static void g_rdtime(long arg) { (void)arg; EXIT(csr_read(time)); }
static void g_write_remap(long arg) { *(volatile uint64_t *)GPA_A = (uint64_t)arg; EXIT(*(volatile uint64_t *)GPA_A); }
/* VS-mode: read GVA_A, point its VS PTE at GPA_B, sfence.vma, read again */
static void g_remap_self(long arg)
{
	(void)arg;
	uint64_t v1 = *(volatile uint64_t *)GVA_A;
	vs_l0[0] = PTE(GPA_B, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
	__asm__ volatile("sfence.vma" ::: "memory");
	EXIT(v1 + *(volatile uint64_t *)GVA_A);
}
/* VS guest of check 45: a store to an unmapped GPA (emulated by HS), then return its argument */
static void g_mmio_guest(long arg)
{
	__asm__ volatile(".option push\n.option norvc\nsd %0, 8(%1)\n.option pop" :: "r"(arg), "r"(GPA_BAD) : "memory");
	EXIT(arg + 1);
}
/* HS "hypervisor" of check 45: enter the guest as KVM does, with sret (SPV = 1, SPVP = 1, SPP = S) */
static void h_enter_guest(long arg)
{
	csrw_n(CSR_HSTATUS, VSXL64 | (1UL << 7) | (1UL << 8));
	csr_set(sstatus, 1UL << 8);
	csr_write(sepc, (uint64_t)g_mmio_guest);
	register uint64_t a0 __asm__("a0") = (uint64_t)arg;
	__asm__ volatile("sret" :: "r"(a0) : "memory");
	for (;;) ;
}
/* hsv.d a0 -> (a1); hlv.d a0 <- (a1); hlvx.wu a0 <- (a1); hlv.w */
static void h_hsv_hlv(long arg)
{
	register uint64_t a0 __asm__("a0") = (uint64_t)arg;
	register uint64_t a1 __asm__("a1") = GVA_A;
	__asm__ volatile(".insn r 0x73, 4, 0x37, x0, %1, %0" :: "r"(a0), "r"(a1) : "memory");   /* hsv.d a0, (a1) */
	uint64_t v;
	__asm__ volatile(".insn r 0x73, 4, 0x36, %0, %1, x0" : "=r"(v) : "r"(a1) : "memory");   /* hlv.d v, (a1) */
	EXIT(v);
}
static void h_hlv_w(long arg) { uint64_t v = 0x77; __asm__ volatile(".option push\n.option norvc\n.insn r 0x73, 4, 0x34, %0, %1, x0\n.option pop" : "+r"(v) : "r"(arg) : "memory"); EXIT(v); }
static void h_hlvx_wu(long arg) { uint64_t v = 0x77; __asm__ volatile(".option push\n.option norvc\n.insn r 0x73, 4, 0x34, %0, %1, x3\n.option pop" : "+r"(v) : "r"(arg) : "memory"); EXIT(v); }

/* mtinst/htinst of an explicit access's guest-page fault: zero, or the transformed instruction
 * (the faulting instruction with its immediate and rs1 fields zeroed; "Transformed Instruction or
 * Pseudoinstruction for mtinst or htinst"). The tests' faulting instructions are 32-bit. */
static int tinst_ok(uint64_t tinst, uint64_t epc)
{
	uint32_t insn = *(volatile uint32_t *)epc;
	uint32_t op = insn & 0x7f;
	uint32_t t = op == 0x03 ? (insn & 0x00007fff) : op == 0x23 ? (insn & 0x01f0707f) : (insn & ~(0x1fU << 15));
	return tinst == 0 || tinst == t;
}

/* ---- checks ---- */
static int n;
static void check(const char *name, int ok) { report(++n, name, ok); }
static void check_val(const char *name, int ok, uint64_t v) { report_val(++n, name, ok, "v", v, 16); }

static void reset_h(void)
{
	csr_write(medeleg, 0);
	csr_write(mideleg, 0);
	csrw_n(CSR_HEDELEG, 0);
	csrw_n(CSR_HIDELEG, 0);
	csrw_n(CSR_HSTATUS, VSXL64 | (0));
	csrw_n(CSR_HVIP, 0);
	csr_write(mie, 0);
	csrw_n(CSR_HGATP, hgatp_sv39x4());
	csrw_n(CSR_VSATP, 0);
	csrw_n(CSR_VSSTATUS, 0);
	csr_write(mstatus, 0);
	clear_rec();
}

int main(void)
{
	csr_write(mtvec, (uint64_t)m_trap);
	csr_write(stvec, (uint64_t)s_trap);
	csrw_n(CSR_VSTVEC, (uint64_t)vs_trap);
	/* PMP: everything RWX for S and U (pmpaddr0 = all ones, NAPOT) */
	csr_write(pmpaddr0, -1UL);
	csr_write(pmpcfg0, 0x1f);
	csr_write(mcounteren, 7);
	csr_write(scounteren, 7);
	build_tables();
	reset_h();

	/* 1. misa.H */
	check("misa-h", (csr_read(misa) >> 7) & 1);
	/* 2. "mideleg bits 10, 6, 2 are read-only one" (with H); bit 12 too when GEILEN > 0 (QEMU has
	 * guest external interrupts, cyclevisor GEILEN = 0): both are accepted. */
	csr_write(mideleg, 0);
	check("mideleg-vs-read-only-one", (csr_read(mideleg) & ~0x1000UL) == 0x444);
	/* 3. hideleg: only bits 10, 6, 2 writable */
	csrw_n(CSR_HIDELEG, -1UL);
	check_val("hideleg-warl", csrr_n(CSR_HIDELEG) == 0x444, csrr_n(CSR_HIDELEG));
	csrw_n(CSR_HIDELEG, 0);
	/* 4. hedeleg: 9, 10, 11, 16-23 read-only zero (16-19 are not implemented here) */
	csrw_n(CSR_HEDELEG, -1UL);
	check_val("hedeleg-warl", csrr_n(CSR_HEDELEG) == 0xb1ff, csrr_n(CSR_HEDELEG));
	csrw_n(CSR_HEDELEG, 0);
	/* 5. hstatus: VSXL = 2 read-only; GVA SPV SPVP HU VTVM VTW VTSR writable; VGEIN 0 (GEILEN = 0); VSBE 0 */
	csrw_n(CSR_HSTATUS, -1UL);
	uint64_t hs = csrr_n(CSR_HSTATUS);
	check_val("hstatus-warl", hs == 0x2007003c0UL, hs);
	csrw_n(CSR_HSTATUS, VSXL64 | (0));
	/* 6. hgatp: Sv39x4 reads back; "a write to hgatp with an unsupported MODE is not ignored as it
	 * is for satp" — MODE is WARL: Sv64x4 (11) is not a mode we implement and reads back as Bare. */
	csrw_n(CSR_HGATP, hgatp_sv39x4());
	int ok = csrr_n(CSR_HGATP) == hgatp_sv39x4();
	csrw_n(CSR_HGATP, (11UL << 60) | 0x1234);
	uint64_t hg = csrr_n(CSR_HGATP);
	ok = ok && (hg >> 60) != 11 && (hg & 0xfffffffffffUL) == 0x1234;
	check_val("hgatp-warl", ok, hg);
	/* 7. VMID: "the number of VMID bits is UNSPECIFIED and may be zero"; the implemented bits are
	 * the low ones, so writing all ones reads back 2^VMIDLEN - 1 (cyclevisor: VMIDLEN = 14). */
	csrw_n(CSR_HGATP, -1UL & ~(0xfUL << 60));
	uint64_t vmid = (csrr_n(CSR_HGATP) >> 44) & 0x3fff;
	check("hgatp-vmid-bits", (vmid & (vmid + 1)) == 0);
	reset_h();

	/* 8. in VS-mode, sscratch and sstatus are vsscratch and vsstatus */
	csrw_n(CSR_VSSTATUS, 1UL << 18);    /* SUM */
	long v = run(g_read_csr_sstatus, MODE_VS, 0);
	check("vs-csr-alias", csrr_n(CSR_VSSCRATCH) == 0x1234 && (v & (1UL << 18)) && !(csr_read(mstatus) & (1UL << 18)));
	reset_h();
	/* 9. "environment calls from VS-mode are assigned cause 10"; mstatus.MPV = 1, MPP = S */
	run(g_ecall, MODE_VS, 0);
	check("ecall-vs-cause-10", R.level == 3 && R.cause == 10 && (R.status & MPV) && ((R.status >> 11) & 3) == 1);
	clear_rec();
	/* 10. ecall from VU-mode: cause 8, MPV = 1, MPP = U */
	run(g_ecall, MODE_VU, 0);
	check("ecall-vu-cause-8", R.level == 3 && R.cause == 8 && (R.status & MPV) && ((R.status >> 11) & 3) == 0);
	clear_rec();
	/* 11. delegated to HS: hstatus.SPV = 1, SPVP = 1 (from VS), sstatus.SPP = 1, V = 0 in the handler */
	csr_write(medeleg, 1UL << 10);
	run(g_ecall, MODE_VS, 0);
	check("deleg-hs-spv", R.level == 1 && R.cause == 10 && (R.hstatus & (1UL << 7)) && (R.hstatus & (1UL << 8)) && (R.status & (1UL << 8)));
	reset_h();
	/* 12. delegated on to VS by hedeleg: an illegal instruction in VS lands at vstvec */
	csr_write(medeleg, 1UL << 2);
	csrw_n(CSR_HEDELEG, 1UL << 2);
	run(g_illegal, MODE_VS, 0);
	check_val("deleg-vs-illegal", R.level == 5 && R.cause == 2 && csrr_n(CSR_VSCAUSE) == 2 && (R.status & (1UL << 8)), R.level * 256 + R.cause);
	reset_h();
	/* 13. a hypervisor CSR from VS: virtual instruction (22), mtval = the instruction */
	run(g_read_hstatus, MODE_VS, 0);
	check_val("vs-hstatus-virtual-instruction", R.cause == 22 && R.tval == 0x60002573UL, R.tval);
	clear_rec();
	/* 14. hypervisor CSR from U (V = 0): illegal */
	run(g_read_hstatus, MODE_U, 0);
	check("u-hstatus-illegal", R.cause == 2);
	clear_rec();
	/* 15. VTSR: sret in VS -> 22 */
	csrw_n(CSR_HSTATUS, VSXL64 | (1UL << 22));
	run(g_sret, MODE_VS, 0);
	check("vtsr-sret", R.cause == 22);
	reset_h();
	/* 16. VTW: wfi in VS -> 22; 17. VTVM: satp in VS -> 22 */
	csrw_n(CSR_HSTATUS, VSXL64 | (1UL << 21));
	run(g_wfi, MODE_VS, 0);
	check("vtw-wfi", R.cause == 22);
	reset_h();
	csrw_n(CSR_HSTATUS, VSXL64 | (1UL << 20));
	run(g_satp, MODE_VS, 0);
	check("vtvm-satp", R.cause == 22);
	reset_h();
	/* 18. hfence.vvma: virtual instruction in VS, illegal in U, legal in HS */
	run(g_hfence_vvma, MODE_VS, 0);
	int c1 = (int)R.cause;
	clear_rec();
	run(g_hfence_vvma, MODE_U, 0);
	int c2 = (int)R.cause;
	clear_rec();
	long r3 = run(g_hfence_vvma, MODE_HS, 0);
	check("hfence-vvma-modes", c1 == 22 && c2 == 2 && r3 == 7 && R.count == 0);
	reset_h();
	/* 19. hcounteren.TM = 0 with mcounteren.TM = 1: rdtime in VS -> 22 */
	csrw_n(CSR_HCOUNTEREN, 0);
	run(g_rdtime, MODE_VS, 0);
	check("hcounteren-virtual-instruction", R.cause == 22);
	clear_rec();
	/* 20. htimedelta is added to time in VS */
	csrw_n(CSR_HCOUNTEREN, 7);
	csrw_n(CSR_HTIMEDELTA, 1UL << 40);
	v = run(g_rdtime, MODE_VS, 0);
	check("htimedelta", (uint64_t)v >= (1UL << 40) && R.count == 0);
	csrw_n(CSR_HTIMEDELTA, 0);
	reset_h();

	/* 21. VS software interrupt through hvip.VSSIP, delegated to VS by hideleg: vscause = 1 (SSI) */
	csrw_n(CSR_HIDELEG, 1UL << 2);
	csrw_n(CSR_VSSTATUS, 1UL << 1);    /* SIE */
	csrw_n(CSR_VSIE, 1UL << 1);        /* SSIE, i.e. hie.VSSIE */
	csrw_n(CSR_HVIP, 1UL << 2);
	run(g_spin, MODE_VS, 100);
	check("vssip-to-vs", R.level == 5 && R.cause == ((1UL << 63) | 1));
	reset_h();
	/* 22. not in hideleg: goes to HS as interrupt 2, even with sstatus.SIE = 0 (V = 1) */
	csrw_n(CSR_HIE, 1UL << 2);
	csrw_n(CSR_HVIP, 1UL << 2);
	run(g_spin, MODE_VS, 100);
	check("vssip-to-hs", R.level == 1 && R.cause == ((1UL << 63) | 2));
	reset_h();

	/* 23. G-stage remapping: GPA 0xC000_0000 is page_a */
	*(volatile uint64_t *)page_a = 0;
	v = run(g_write_remap, MODE_VS, 0x5a5a);
	check("gstage-remap", v == 0x5a5a && *(volatile uint64_t *)page_a == 0x5a5a && R.count == 0);
	/* 24.-28. guest-page faults on the final GPA: cause, mtval = GPA (vsatp Bare: GVA = GPA),
	 * mtval2 = GPA >> 2, mstatus.GVA = 1, mtinst = 0 (allowed for explicit accesses) */
	clear_rec();
	run(g_load, MODE_VS, GPA_BAD);
	check_val("gpf-load", R.cause == 21 && R.tval == GPA_BAD && R.tval2 == GPA_BAD >> 2 && (R.status & GVA_M) && (R.status & MPV) && tinst_ok(R.tinst, R.epc), R.tval2);
	clear_rec();
	run(g_store, MODE_VS, GPA_B);
	check_val("gpf-store-read-only", R.cause == 23 && R.tval == GPA_B && R.tval2 == GPA_B >> 2 && tinst_ok(R.tinst, R.epc), R.cause);
	clear_rec();
	run(g_amo, MODE_VS, GPA_B);
	check_val("gpf-amo", R.cause == 23 && R.tval == GPA_B && R.tval2 == GPA_B >> 2 && tinst_ok(R.tinst, R.epc), R.cause);
	clear_rec();
	run(g_jump, MODE_VS, GPA_BAD);
	check_val("gpf-fetch", R.cause == 20 && R.tval == GPA_BAD && R.tval2 == GPA_BAD >> 2, R.cause);
	clear_rec();
	run(g_load, MODE_VS, GPA_C);
	check_val("gpf-leaf-needs-u", R.cause == 21 && R.tval2 == GPA_C >> 2, R.cause);
	clear_rec();
	/* 29. delegated to HS: htval, hstatus.GVA */
	csr_write(medeleg, 1UL << 21);
	run(g_load, MODE_VS, GPA_BAD + 8);
	check("gpf-deleg-hs", R.level == 1 && R.cause == 21 && R.tval == GPA_BAD + 8 && R.tval2 == (GPA_BAD + 8) >> 2 && (R.hstatus & (1UL << 6)));
	reset_h();

	/* VS stage on */
	csrw_n(CSR_VSATP, vsatp_sv39());
	/* 30. two-stage load: GVA 0x4000_0000 -> GPA 0xC000_0000 -> page_a */
	*(volatile uint64_t *)page_a = 0xabcdef;
	v = run(g_load, MODE_VS, GVA_A);
	check("two-stage-load", v == 0xabcdef && R.count == 0);
	/* 31. the implicit read of a VS PTE at an invalid GPA: load guest-page fault, stval = GVA,
	 * htval = the PTE's GPA >> 2, htinst = 0x3000 (the pseudoinstruction of an implicit read) */
	clear_rec();
	run(g_load, MODE_VS, GVA_WALK);
	uint64_t pte_gpa = GPA_BAD + 8 * ((GVA_WALK >> 21) & 0x1ff);
	check_val("gpf-implicit-pte-read", R.cause == 21 && R.tval == GVA_WALK && R.tval2 == pte_gpa >> 2 && R.tinst == 0x3000, R.tinst);
	clear_rec();
	/* 32. the same walk for a store: store guest-page fault, still htinst 0x3000 (a read) */
	run(g_store, MODE_VS, GVA_WALK);
	check_val("gpf-implicit-pte-read-store", R.cause == 23 && R.tinst == 0x3000, R.tinst);
	clear_rec();
	/* 33. A-bit update of a VS PTE in a G-stage read-only page: implicit write, htinst 0x3020 */
	run(g_load, MODE_VS, GVA_AD);
	uint64_t ad_gpa = GPA_B + 8 * 2;
	check_val("gpf-implicit-ad-write", R.cause == 21 && R.tval == GVA_AD && R.tval2 == ad_gpa >> 2 && R.tinst == 0x3020, R.tinst);
	clear_rec();
	/* 34. a VS-stage page fault (no mapping): cause 13, htval/mtval2 = 0, GVA = 1 */
	run(g_load, MODE_VS, GVA_NONE);
	check("vs-page-fault", R.cause == 13 && R.tval == GVA_NONE && R.tval2 == 0 && (R.status & GVA_M));
	clear_rec();
	/* 35. HSV/HLV from HS with SPVP = 1 */
	csrw_n(CSR_HSTATUS, VSXL64 | (1UL << 8));
	v = run(h_hsv_hlv, MODE_HS, 0x1122334455667788L);
	check("hsv-hlv", (uint64_t)v == 0x1122334455667788UL && *(volatile uint64_t *)page_a == 0x1122334455667788UL);
	/* 36. HLV needs read permission; HLVX needs execute (GVA_AX is execute-only) */
	clear_rec();
	run(h_hlv_w, MODE_HS, GVA_AX);
	int hlv_faults = R.cause == 13 && R.level == 3 && (R.status & GVA_M);
	clear_rec();
	v = run(h_hlvx_wu, MODE_HS, GVA_AX);
	check("hlvx-execute", hlv_faults && (uint64_t)v == 0x55667788UL && R.count == 0);
	/* 37. HLV from U without hstatus.HU: illegal; with HU: works */
	clear_rec();
	csrw_n(CSR_HSTATUS, VSXL64 | (1UL << 8));
	run(h_hlv_w, MODE_U, GVA_A);
	int u0 = R.cause == 2;
	clear_rec();
	csrw_n(CSR_HSTATUS, VSXL64 | ((1UL << 8) | (1UL << 9)));
	v = run(h_hlv_w, MODE_U, GVA_A);
	check("hlv-hu", u0 && (uint64_t)v == 0x55667788UL && R.count == 0);
	/* 38. MPRV with MPV: an M-mode load through the guest's translation */
	csrw_n(CSR_HSTATUS, VSXL64 | (0));
	csr_write(mstatus, (1UL << 17) | MPP_S | MPV);
	uint64_t mv = *(volatile uint64_t *)GVA_A;
	csr_write(mstatus, 0);
	check_val("mprv-mpv", mv == 0x1122334455667788UL, mv);
	reset_h();

	/* 39. FP under V = 1: both sstatus.FS and vsstatus.FS become Dirty */
	csr_write(mstatus, 1UL << 13);
	csrw_n(CSR_VSSTATUS, 1UL << 13);
	run(g_fmv, MODE_VS, 0);
	check("fs-dirty-both", R.count == 0 && ((csr_read(mstatus) >> 13) & 3) == 3 && ((csrr_n(CSR_VSSTATUS) >> 13) & 3) == 3);
	/* 40. vsstatus.FS = Off: illegal instruction (never virtual instruction) */
	csrw_n(CSR_VSSTATUS, 0);
	csr_write(mstatus, 1UL << 13);
	run(g_fmv, MODE_VS, 0);
	check("fs-off-vs-illegal", R.cause == 2);
	reset_h();

	/* 41. hfence.gvma makes a changed G-stage PTE visible (any host TLB of the composed
	 * translation must go): GPA_A remapped from page_a to page_c */
	*(volatile uint64_t *)page_a = 0xaaaa;
	*(volatile uint64_t *)page_c = 0xcccc;
	long a1 = run(g_load, MODE_VS, GPA_A);
	g_l0[0] = PTE(page_c, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D);
	__asm__ volatile(".insn r 0x73, 0, 0x31, x0, x0, x0" ::: "memory");   /* hfence.gvma x0, x0 */
	long a2 = run(g_load, MODE_VS, GPA_A);
	g_l0[0] = PTE(page_a, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D);
	__asm__ volatile(".insn r 0x73, 0, 0x31, x0, x0, x0" ::: "memory");
	check("hfence-gvma-remap", a1 == 0xaaaa && a2 == 0xcccc && R.count == 0);
	/* 42. sfence.vma in VS after the guest changes its own PTE (GVA_A: GPA_A -> GPA_B) */
	csrw_n(CSR_VSATP, vsatp_sv39());
	page_b[0] = 0xbbbb;
	v = run(g_remap_self, MODE_VS, 0);
	check_val("vs-sfence-remap", v == 0xaaaa + 0xbbbb && R.count == 0, v);
	/* 43. hfence.vvma (from M) after the hypervisor changes a VS PTE back */
	vs_l0[0] = PTE(GPA_A, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
	__asm__ volatile(".insn r 0x73, 0, 0x11, x0, x0, x0" ::: "memory");   /* hfence.vvma x0, x0 */
	v = run(g_load, MODE_VS, GVA_A);
	check("hfence-vvma-remap", v == 0xaaaa && R.count == 0);
	/* 44. Sv48x4: a 4-level G stage with the same leaves */
	g48_root[0] = PTE(g48_l2, PTE_V);
	for (int i = 0; i < 4; i++) g48_l2[i] = groot[i];
	csrw_n(CSR_HGATP, (9UL << 60) | ((uint64_t)g48_root >> 12));
	int sv48 = (csrr_n(CSR_HGATP) >> 60) == 9;
	__asm__ volatile(".insn r 0x73, 0, 0x31, x0, x0, x0" ::: "memory");
	v = sv48 ? run(g_load, MODE_VS, GVA_A) : 0;
	check("sv48x4", !sv48 || (v == 0xaaaa && R.count == 0));
	reset_h();

	/* 45. A VMM's world switch and MMIO emulation: HS enters VS with sret (hstatus.SPV = 1); the
	 * guest's store to an unmapped GPA is a store guest-page fault delegated to HS (medeleg 23),
	 * which takes the data register from the transformed instruction in htinst (a VMM may also
	 * read the instruction with HLVX when htinst = 0: both are accepted), skips the store and
	 * srets back; the guest's exit ecall (cause 10, delegated) comes back through HS. */
	csr_write(medeleg, (1UL << 10) | (1UL << 23));
	emulate_mmio = 1;
	mmio_value = 0;
	v = run(h_enter_guest, MODE_HS, 0x4545);
	emulate_mmio = 0;
	int emulated = (R.tinst & 1) ? mmio_value == 0x4545 : R.tinst == 0;
	check("vmm-sret-entry-mmio-exit", v == 0x4546 && R.level == 1 && R.cause == 23 && R.tval == GPA_BAD + 8 &&
		R.tval2 == (GPA_BAD + 8) >> 2 && (R.hstatus & (1UL << 7)) && emulated);
	reset_h();

	int f = first_failure();
	print(f ? "hyp: FAILED\n" : "hyp: all passed\n");
	return f;
}
