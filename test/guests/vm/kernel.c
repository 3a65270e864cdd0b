/*
 * kernel.c - the supervisor: page tables, demand paging, the S-mode trap
 * handler and system calls, and the supervisor-mode tests.
 *
 * Runs in S-mode with translation on. Its own code and data are in the
 * identity-mapped kernel megapage, so a pointer to kernel data is also its
 * physical address (this is how M-mode, with translation off, can build
 * the page tables with the same code). Other physical memory, such as the
 * loaded image of the user program, is reached through PHYSMAP.
 */
#include "vm.h"

#define NTABLES 32
#define NFRAMES 64
#define PPN_MASK ((1UL << 44) - 1)

/* In .bss.pool, which crt code does not clear (link.ld): every page is
 * zeroed when it is handed out. */
static pte_t tables[NTABLES][512]
	__attribute__((aligned(PGSIZE), section(".bss.pool")));
static uint8_t frames[NFRAMES][PGSIZE]
	__attribute__((aligned(PGSIZE), section(".bss.pool")));
static uint64_t ntables, nframes;
pte_t *kroot;
static pte_t *cur_root;         /* the tables the fault handler walks */

/* trap frame built by s_trap_entry (boot.S) */
struct sframe {
	uint64_t x[32];
	uint64_t sepc, sstatus, scause, stval;
};
#define REG_RA 1
#define REG_A0 10

/* linker-script symbols: the user program's regions (see link.ld) */
extern char __utext_start[], __utext_end[];
extern char __uxonly_start[], __uxonly_end[];
extern char __udata_start[], __udata_end[];
extern char __ubss_start[], __ubss_end[];
extern char mega_target[];
extern char _ustart[];

/* probes (boot.S): the first instruction may trap; resume is at ra */
extern uint64_t k_ld(uint64_t addr);
extern void k_sd(uint64_t addr, uint64_t val);
extern uint64_t k_exec(uint64_t addr);
extern uint64_t k_csrr_satp(void);
extern void k_csrw_satp(uint64_t v);
extern void k_sfence(void);
extern void k_sret(void);
extern char k_sret_land[];
extern void k_wfi(void);
extern void enter_user(uint64_t pc, uint64_t sp) __attribute__((noreturn));

static void fatal(const char *what, uint64_t v);

/* ------------------------------------------------------------------ */
/* page tables */

static void zero_page(void *p)
{
	volatile uint64_t *q = p;
	for (int i = 0; i < 512; i++)
		q[i] = 0;
}

static pte_t *alloc_table(void)
{
	if (ntables == NTABLES)
		fatal("out of page-table pages", ntables);
	pte_t *t = tables[ntables++];
	zero_page(t);
	return t;
}

static uint8_t *alloc_frame(void)
{
	if (nframes == NFRAMES)
		fatal("out of frames", nframes);
	uint8_t *f = frames[nframes++];
	zero_page(f);
	return f;
}

static pte_t pte_for(uint64_t pa, uint64_t flags)
{
	return ((pa >> 12) << PTE_PPN_SHIFT) | flags | PTE_V;
}

static pte_t *pte_table(pte_t e)
{
	return (pte_t *)(((e >> PTE_PPN_SHIFT) & PPN_MASK) << 12);
}

/* The PTE for va at `level` (0 = 4 KiB leaf), creating the intermediate
 * tables if asked. 0 if there is none, or a leaf is in the way. */
pte_t *walk(pte_t *root, uint64_t va, int level, int create)
{
	pte_t *t = root;
	for (int l = LEVELS - 1; l > level; l--) {
		pte_t *e = &t[(va >> (12 + 9 * l)) & 511];
		if (!(*e & PTE_V)) {
			if (!create)
				return 0;
			*e = pte_for((uint64_t)alloc_table(), 0);
		} else if (*e & (PTE_R | PTE_W | PTE_X)) {
			return 0;
		}
		t = pte_table(*e);
	}
	return &t[(va >> (12 + 9 * level)) & 511];
}

void map(pte_t *root, uint64_t va, uint64_t pa, int level, uint64_t flags)
{
	*walk(root, va, level, 1) = pte_for(pa, flags);
}

uint64_t make_satp(pte_t *root, uint64_t asid)
{
	return ((uint64_t)SATP_MODE_VAL << 60) | (asid << 44) |
	       ((uint64_t)root >> 12);
}

/* Called by M-mode (translation off) before entering S-mode. */
void build_page_tables(void)
{
	kroot = alloc_table();
	cur_root = kroot;
	/* MMIO (UART, finisher): gigapage, S only */
	map(kroot, 0, 0, 2, PTE_R | PTE_W | PTE_A | PTE_D | PTE_G);
	/* this program's kernel part: identity megapage, S only */
	map(kroot, KERNEL_MEGA, KERNEL_MEGA, 1,
	    PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | PTE_G);
	/* physical memory: gigapage at the top of the address space */
	map(kroot, PHYSMAP, DRAM_BASE, 2,
	    PTE_R | PTE_W | PTE_A | PTE_D | PTE_G);
}

static void *phys(uint64_t pa)
{
	return (void *)(pa - DRAM_BASE + PHYSMAP);
}

static void sfence_va(uint64_t va)
{
	__asm__ volatile("sfence.vma %0, zero" :: "r"(va) : "memory");
}

static void sfence_all(void)
{
	__asm__ volatile("sfence.vma" ::: "memory");
}

static uint64_t sbi(uint64_t fn, uint64_t arg)
{
	register uint64_t a0 __asm__("a0") = arg;
	register uint64_t a7 __asm__("a7") = fn;
	__asm__ volatile("ecall" : "+r"(a0) : "r"(a7) : "memory");
	return a0;
}

/* ------------------------------------------------------------------ */
/* reporting */

static uint64_t ntest, first_fail;

/* The record of the last expected fault (S-mode handler). */
static struct {
	volatile uint64_t armed, cause, tval, epc;
} expect;

static void report_end(int ok, uint64_t step)
{
	putc_('\n');
	if (!ok) {
		if (!first_fail)
			first_fail = ntest;
		puts_("  step=");
		putdec(step);
		puts_(" last fault: scause=");
		puthex(expect.cause);
		puts_(" stval=");
		puthex(expect.tval);
		puts_(" sepc=");
		puthex(expect.epc);
		puts_("\n");
	}
	cur_test = ntest + 1;
}

/* step = 0: ok; else the number of the check that failed */
static void report(const char *name, uint64_t step)
{
	ntest++;
	puts_(step ? "FAIL " : "ok ");
	putdec(ntest);
	putc_(' ');
	puts_(name);
	report_end(!step, step);
}

/* The same for a U-mode caller: name is a user pointer, read with SUM set
 * (the page may not be mapped yet: that is a nested demand fault). */
static void report_user(uint64_t uname, uint64_t step)
{
	ntest++;
	puts_(step ? "FAIL " : "ok ");
	putdec(ntest);
	putc_(' ');
	csr_set(sstatus, SSTATUS_SUM);
	for (const volatile char *p = (const char *)uname; *p; p++)
		putc_(*p);
	csr_clear(sstatus, SSTATUS_SUM);
	report_end(!step, step);
}

static void fatal(const char *what, uint64_t v)
{
	puts_(what);
	puts_(" ");
	puthex(v);
	puts_("\n");
	sbi(SBI_EXIT, cur_test ? cur_test : 255);
	for (;;)
		;
}

/* ------------------------------------------------------------------ */
/* demand paging */

#define DLOG 64
static struct {
	uint64_t cause, tval, epc;
} dlog[DLOG];
static uint64_t dcount;          /* demand faults (new mappings) */
static uint64_t ad_faults;       /* faults taken only to set A/D */

/* Permissions of a user page, or 0 if va is not in a demand region.
 * *copy: whether the page starts as a copy of the program image. */
static uint64_t user_region(uint64_t va, int *copy)
{
	*copy = 1;
	if (va >= (uint64_t)__utext_start && va < (uint64_t)__utext_end)
		return PTE_R | PTE_X;
	if (va >= (uint64_t)__uxonly_start && va < (uint64_t)__uxonly_end)
		return PTE_X;
	if (va >= (uint64_t)__udata_start && va < (uint64_t)__udata_end)
		return PTE_R | PTE_W;
	*copy = 0;
	if (va >= (uint64_t)__ubss_start && va < (uint64_t)__ubss_end)
		return PTE_R | PTE_W;
	if (va >= USTACK_BOTTOM && va < USER_TOP)
		return PTE_R | PTE_W;
	return 0;
}

/* Would the access be allowed by this leaf (ignoring A/D)? */
static int permitted(pte_t pte, uint64_t cause, int from_u, uint64_t sstatus)
{
	if ((pte & PTE_W) && !(pte & PTE_R))
		return 0;                       /* reserved encoding */
	if (pte & PTE_U) {
		if (!from_u && (cause == CAUSE_FETCH_PAGE_FAULT ||
				!(sstatus & SSTATUS_SUM)))
			return 0;
	} else if (from_u) {
		return 0;
	}
	switch (cause) {
	case CAUSE_FETCH_PAGE_FAULT:
		return !!(pte & PTE_X);
	case CAUSE_LOAD_PAGE_FAULT:
		return (pte & PTE_R) || ((sstatus & SSTATUS_MXR) && (pte & PTE_X));
	default:
		return !!(pte & PTE_W);
	}
}

/* 1 if the fault was resolved (map a page, or set A/D), 0 if it is a real
 * fault. */
static int page_fault(struct sframe *f)
{
	uint64_t va = f->stval, cause = f->scause;
	int from_u = !(f->sstatus & SSTATUS_SPP);
	uint64_t page = va & ~(uint64_t)(PGSIZE - 1);
	int64_t top = (int64_t)va >> (SV - 1);

	if (top != 0 && top != -1)
		return 0;                       /* not canonical */
	volatile pte_t *pte = walk(cur_root, page, 0, 0);
	if (!pte || !(*pte & PTE_V)) {
		int copy;
		uint64_t perm;
		if (!from_u && !(f->sstatus & SSTATUS_SUM))
			return 0;
		perm = user_region(page, &copy);
		if (!perm)
			return 0;
		uint8_t *fr = alloc_frame();
		if (copy) {
			/* user VA == the image's physical address */
			const volatile uint64_t *src = phys(page);
			volatile uint64_t *dst = (volatile uint64_t *)fr;
			for (int i = 0; i < 512; i++)
				dst[i] = src[i];
		}
		/* A and D left clear: hardware sets them, or we take
		 * another fault below and set them then. */
		*walk(cur_root, page, 0, 1) =
			pte_for((uint64_t)fr, perm | PTE_U);
		if (perm & PTE_X)
			__asm__ volatile("fence.i" ::: "memory");
		sfence_va(page);
		if (dcount < DLOG) {
			dlog[dcount].cause = cause;
			dlog[dcount].tval = va;
			dlog[dcount].epc = f->sepc;
		}
		dcount++;
		return 1;
	}
	if (!permitted(*pte, cause, from_u, f->sstatus))
		return 0;
	uint64_t need = PTE_A | (cause == CAUSE_STORE_PAGE_FAULT ? PTE_D : 0);
	if ((*pte & need) == need)
		return 0;
	*pte |= need;
	ad_faults++;
	sfence_va(page);
	return 1;
}

/* ------------------------------------------------------------------ */
/* system calls and the trap handler */

static void finish(void) __attribute__((noreturn));

static void syscall(struct sframe *f)
{
	uint64_t *a = &f->x[REG_A0];       /* a0..a7 */
	uint64_t i;
	pte_t *pte;

	switch (a[7]) {
	case SYS_EXIT:
		finish();
	case SYS_REPORT:
		report_user(a[0], a[1] ? 0 : (a[2] ? a[2] : 1));
		break;
	case SYS_EXPECT:
		expect.cause = expect.tval = expect.epc = 0;
		expect.armed = 1;
		break;
	case SYS_FAULT:
		expect.armed = 0;
		a[0] = expect.cause;
		a[1] = expect.tval;
		a[2] = expect.epc;
		break;
	case SYS_DEMAND:
		i = (int64_t)a[0] < 0 ? dcount - 1 : a[0];
		a[3] = dcount;
		if (i < dcount && i < DLOG) {
			a[0] = dlog[i].cause;
			a[1] = dlog[i].tval;
			a[2] = dlog[i].epc;
		} else {
			a[0] = a[1] = a[2] = 0;
		}
		break;
	case SYS_MXR:
		if (a[0])
			f->sstatus |= SSTATUS_MXR;
		else
			f->sstatus &= ~SSTATUS_MXR;
		break;
	case SYS_PTE:
		pte = walk(cur_root, a[0], 0, 0);
		a[0] = pte ? *pte : 0;
		break;
	case SYS_PEEK_IMAGE:
		if (a[0] >= USER_BASE && a[0] < (uint64_t)__ubss_start &&
		    !(a[0] & 7))
			a[0] = *(volatile uint64_t *)phys(a[0]);
		else
			a[0] = 0;
		break;
	case SYS_M_EXPECT:
		mrec.cause = mrec.tval = mrec.epc = 0;
		mrec.mode = -1UL;
		mrec.armed = 1;
		break;
	case SYS_M_FAULT:
		mrec.armed = 0;
		a[0] = mrec.cause;
		a[1] = mrec.tval;
		a[2] = mrec.epc;
		a[3] = mrec.mode;
		break;
	case SYS_ADD3:
		a[0] = a[0] + a[1] + a[2];
		break;
	default:
		fatal("unknown system call", a[7]);
	}
}

void s_trap(struct sframe *f)
{
	uint64_t cause = f->scause;

	if (cause == CAUSE_ECALL_U) {
		f->sepc += 4;
		syscall(f);
		return;
	}
	if ((cause == CAUSE_FETCH_PAGE_FAULT || cause == CAUSE_LOAD_PAGE_FAULT ||
	     cause == CAUSE_STORE_PAGE_FAULT) && page_fault(f))
		return;
	if (expect.armed && !(cause >> 63)) {
		/* an expected fault in a probe: record, resume at ra */
		expect.armed = 0;
		expect.cause = cause;
		expect.tval = f->stval;
		expect.epc = f->sepc;
		f->sepc = f->x[REG_RA];
		return;
	}
	puts_("unexpected trap: scause=");
	puthex(cause);
	puts_(" sepc=");
	puthex(f->sepc);
	puts_(" stval=");
	puthex(f->stval);
	puts_(f->sstatus & SSTATUS_SPP ? " from S\n" : " from U\n");
	sbi(SBI_EXIT, cur_test ? cur_test : 255);
}

/* ------------------------------------------------------------------ */
/* supervisor tests */

struct fault {
	uint64_t cause, tval, epc;
};

static void arm(void)
{
	expect.cause = expect.tval = expect.epc = 0;
	expect.armed = 1;
}

static void disarm(struct fault *fl)
{
	expect.armed = 0;
	fl->cause = expect.cause;
	fl->tval = expect.tval;
	fl->epc = expect.epc;
}

static uint64_t probe_ld(uint64_t addr, struct fault *fl)
{
	arm();
	uint64_t v = k_ld(addr);
	disarm(fl);
	return v;
}

static void probe_sd(uint64_t addr, uint64_t v, struct fault *fl)
{
	arm();
	k_sd(addr, v);
	disarm(fl);
}

static uint64_t probe_exec(uint64_t addr, struct fault *fl)
{
	arm();
	uint64_t v = k_exec(addr);
	disarm(fl);
	return v;
}

static int is_fault(const struct fault *fl, uint64_t cause, uint64_t tval,
		    uint64_t epc)
{
	return fl->cause == cause && fl->tval == tval && fl->epc == epc;
}

/* Illegal-instruction record of M-mode */
static void m_arm(void)
{
	mrec.cause = mrec.tval = mrec.epc = 0;
	mrec.mode = -1UL;
	mrec.armed = 1;
}

/* the trap M-mode saw: illegal instruction from S at epc, mtval = the
 * instruction bits or 0 (both allowed) */
static int m_trapped(void *epc, uint32_t insn)
{
	mrec.armed = 0;
	return mrec.cause == CAUSE_ILLEGAL_INSN && mrec.mode == 1 &&
	       mrec.epc == (uint64_t)epc &&
	       (mrec.tval == insn || mrec.tval == 0);
}

static uint64_t asid_max;        /* largest ASID that satp keeps */
static uint64_t kasid;           /* the kernel's ASID */

static uint64_t t_satp_mode(void)
{
	uint64_t s = csr_read(satp);
	if (s >> 60 != SATP_MODE_VAL)
		return 1;
	if ((s & PPN_MASK) != (uint64_t)kroot >> 12)
		return 2;
	if (((s >> 44) & 0xffff) != 0)
		return 3;
	return 0;
}

static uint64_t t_satp_warl(void)
{
	uint64_t s = csr_read(satp);
	/* an unsupported MODE: the whole write has no effect (no field of
	 * satp changes, not even ASID or PPN) */
	static const uint64_t bad_modes[] = { 15, 1, 7 };
	for (int i = 0; i < 3; i++) {
		csr_write(satp, (bad_modes[i] << 60) | (1UL << 44) |
			  ((s + 0x123) & PPN_MASK));
		if (csr_read(satp) != s) {
			csr_write(satp, s);
			return 1 + i;
		}
	}
	/* ASID is WARL: find how many bits are kept (not printed) */
	csr_write(satp, s | (0xffffUL << 44));
	asid_max = (csr_read(satp) >> 44) & 0xffff;
	csr_write(satp, s);
	sfence_all();
	if (csr_read(satp) != s)
		return 4;
	if (asid_max & (asid_max + 1))
		return 5;                /* not of the form 2^n - 1 */
	/* the kernel runs with ASID 1 from here on (0 if there are none) */
	kasid = asid_max ? 1 : 0;
	csr_write(satp, make_satp(kroot, kasid));
	sfence_all();
	if (csr_read(satp) != make_satp(kroot, kasid))
		return 6;
	return 0;
}

static volatile uint64_t kvar;   /* in .bss: no .data page in the file */

static uint64_t t_physmap(void)
{
	volatile uint64_t *alias = phys((uint64_t)&kvar);
	kvar = 0x0123456789abcdefUL;
	if (*alias != 0x0123456789abcdefUL)
		return 1;
	*alias = 0xfeedfacecafef00dUL;
	if (kvar != 0xfeedfacecafef00dUL)
		return 2;
	return 0;
}

static uint64_t t_megapage(void)
{
	uint64_t pa = (uint64_t)mega_target;
	map(kroot, MEGA_VA, pa, 1, PTE_R | PTE_W | PTE_A | PTE_D);
	sfence_va(MEGA_VA);
	static const uint64_t offs[] = { 0, 0x12340, 0x1ff000, 0x1ffff8 };
	for (int i = 0; i < 4; i++) {
		volatile uint64_t *v = (volatile uint64_t *)(MEGA_VA + offs[i]);
		volatile uint64_t *p = phys(pa + offs[i]);
		*v = 0x1111111111111111UL * (i + 1);
		if (*p != 0x1111111111111111UL * (i + 1))
			return 1 + 2 * i;
		*p = ~*p;
		if (*v != ~(0x1111111111111111UL * (i + 1)))
			return 2 + 2 * i;
	}
	return 0;
}

/* A leaf at `level` (>= 1) whose PPN is not aligned to its size must
 * raise a page fault of the access type, stval = the address. */
static uint64_t t_misaligned_leaf(int level)
{
	uint64_t va = level == 1 ? MEGA_BAD_VA : 4UL << (12 + 9 * level);
	struct fault fl;
	map(kroot, va, DRAM_BASE + PGSIZE, level,
	    PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
	sfence_va(va);
	probe_ld(va + 0x18, &fl);
	if (!is_fault(&fl, CAUSE_LOAD_PAGE_FAULT, va + 0x18, (uint64_t)k_ld))
		return 1;
	probe_sd(va + 0x20, 1, &fl);
	if (!is_fault(&fl, CAUSE_STORE_PAGE_FAULT, va + 0x20, (uint64_t)k_sd))
		return 2;
	probe_exec(va + 0x40, &fl);
	if (!is_fault(&fl, CAUSE_FETCH_PAGE_FAULT, va + 0x40, va + 0x40))
		return 3;
	return 0;
}

static uint64_t t_invalid_pte(void)
{
	struct fault fl;
	uint64_t va = TPAGE(6);
	map(kroot, TPAGE(7), (uint64_t)alloc_frame(), 0, PTE_R | PTE_A);
	*walk(kroot, va, 0, 0) = 0;         /* same table, V = 0 */
	sfence_all();
	probe_ld(va + 8, &fl);
	if (!is_fault(&fl, CAUSE_LOAD_PAGE_FAULT, va + 8, (uint64_t)k_ld))
		return 1;
	probe_sd(va + 0x10, 1, &fl);
	if (!is_fault(&fl, CAUSE_STORE_PAGE_FAULT, va + 0x10, (uint64_t)k_sd))
		return 2;
	probe_exec(va + 0x40, &fl);
	if (!is_fault(&fl, CAUSE_FETCH_PAGE_FAULT, va + 0x40, va + 0x40))
		return 3;
	/* no table at all on the way */
	probe_ld(UNMAPPED_VA + 0x10, &fl);
	if (!is_fault(&fl, CAUSE_LOAD_PAGE_FAULT, UNMAPPED_VA + 0x10,
		      (uint64_t)k_ld))
		return 4;
	return 0;
}

static uint64_t t_w_without_r(void)
{
	struct fault fl;
	uint64_t va = TPAGE(4);
	map(kroot, va, (uint64_t)alloc_frame(), 0, PTE_W | PTE_A | PTE_D);
	sfence_va(va);
	probe_ld(va + 8, &fl);
	if (!is_fault(&fl, CAUSE_LOAD_PAGE_FAULT, va + 8, (uint64_t)k_ld))
		return 1;
	probe_sd(va + 16, 5, &fl);
	if (!is_fault(&fl, CAUSE_STORE_PAGE_FAULT, va + 16, (uint64_t)k_sd))
		return 2;
	return 0;
}

/*
 * Leaves with bits the implementation must not accept: a reserved bit
 * (54), PBMT = 3 (reserved with or without Svpbmt), N = 1 with
 * PPN[3:0] = 0 (reserved with or without Svnapot); and a pointer PTE
 * (R = W = X = 0) at level 0. Each must raise a page fault.
 */
static uint64_t t_pte_reserved(void)
{
	static const uint64_t bits[] = { 1UL << 54, 3UL << 61, 1UL << 63 };
	struct fault fl;
	uint64_t va = TPAGE(8);
	uint8_t *fr = alloc_frame();
	for (int i = 0; i < 3; i++) {
		*walk(kroot, va, 0, 1) =
			pte_for((uint64_t)fr, PTE_R | PTE_W | PTE_A | PTE_D) |
			bits[i];
		sfence_va(va);
		probe_ld(va + 8 * i, &fl);
		if (!is_fault(&fl, CAUSE_LOAD_PAGE_FAULT, va + 8 * i,
			      (uint64_t)k_ld))
			return 1 + i;
	}
	*walk(kroot, va, 0, 1) = pte_for((uint64_t)fr, 0);
	sfence_va(va);
	probe_sd(va + 0x30, 1, &fl);
	if (!is_fault(&fl, CAUSE_STORE_PAGE_FAULT, va + 0x30, (uint64_t)k_sd))
		return 4;
	return 0;
}

static uint64_t t_store_readonly(void)
{
	struct fault fl;
	uint64_t va = TPAGE(5);
	uint8_t *fr = alloc_frame();
	((uint64_t *)fr)[3] = 0x5151515151515151UL;
	map(kroot, va, (uint64_t)fr, 0, PTE_R | PTE_A | PTE_D);
	sfence_va(va);
	if (probe_ld(va + 24, &fl) != 0x5151515151515151UL || fl.cause)
		return 1;
	probe_sd(va + 24, 5, &fl);
	if (!is_fault(&fl, CAUSE_STORE_PAGE_FAULT, va + 24, (uint64_t)k_sd))
		return 2;
	if (((uint64_t *)fr)[3] != 0x5151515151515151UL)
		return 3;
	return 0;
}

static uint64_t t_noncanonical(void)
{
	struct fault fl;
	uint64_t lo = USER_TOP + 0x18;              /* bit SV-1 set, above 0 */
	uint64_t hi = (-1UL << SV) | 0x40;          /* bit SV-1 clear, top 1s */
	probe_ld(lo, &fl);
	if (!is_fault(&fl, CAUSE_LOAD_PAGE_FAULT, lo, (uint64_t)k_ld))
		return 1;
	probe_sd(hi, 1, &fl);
	if (!is_fault(&fl, CAUSE_STORE_PAGE_FAULT, hi, (uint64_t)k_sd))
		return 2;
	probe_exec(lo + 0x28, &fl);
	if (!is_fault(&fl, CAUSE_FETCH_PAGE_FAULT, lo + 0x28, lo + 0x28))
		return 3;
	return 0;
}

/* li a0, imm12 ; ret */
static void put_code(uint8_t *fr, uint32_t imm)
{
	volatile uint32_t *w = (volatile uint32_t *)fr;
	w[0] = (imm << 20) | (10 << 7) | 0x13;  /* addi a0, zero, imm */
	w[1] = 0x00008067;                      /* jalr zero, 0(ra) */
	__asm__ volatile("fence.i" ::: "memory");
}

static uint8_t *sum_frame;

static uint64_t t_sum(void)
{
	struct fault fl;
	uint64_t va = TPAGE(0);
	sum_frame = alloc_frame();
	put_code(sum_frame, 0x77);
	((uint64_t *)sum_frame)[2] = 0x5a5a5a5a5a5a5a5aUL;
	map(kroot, va, (uint64_t)sum_frame, 0,
	    PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D);
	sfence_va(va);

	csr_clear(sstatus, SSTATUS_SUM);
	probe_ld(va + 16, &fl);
	if (!is_fault(&fl, CAUSE_LOAD_PAGE_FAULT, va + 16, (uint64_t)k_ld))
		return 1;
	probe_sd(va + 24, 9, &fl);
	if (!is_fault(&fl, CAUSE_STORE_PAGE_FAULT, va + 24, (uint64_t)k_sd))
		return 2;
	csr_set(sstatus, SSTATUS_SUM);
	uint64_t v = probe_ld(va + 16, &fl);
	if (fl.cause || v != 0x5a5a5a5a5a5a5a5aUL)
		return 3;
	probe_sd(va + 24, 9, &fl);
	if (fl.cause || ((uint64_t *)sum_frame)[3] != 9)
		return 4;
	csr_clear(sstatus, SSTATUS_SUM);
	return 0;
}

/* S-mode may never execute from a U page, SUM or not */
static uint64_t t_s_exec_user(void)
{
	struct fault fl;
	uint64_t va = TPAGE(0);
	for (int sum = 0; sum < 2; sum++) {
		if (sum)
			csr_set(sstatus, SSTATUS_SUM);
		probe_exec(va, &fl);
		csr_clear(sstatus, SSTATUS_SUM);
		if (!is_fault(&fl, CAUSE_FETCH_PAGE_FAULT, va, va))
			return 1 + sum;
	}
	return 0;
}

static uint64_t t_mxr(void)
{
	struct fault fl;
	uint64_t va = TPAGE(1);
	uint8_t *fr = alloc_frame();
	put_code(fr, 0x123);
	map(kroot, va, (uint64_t)fr, 0, PTE_X | PTE_A);   /* execute-only */
	sfence_va(va);

	probe_ld(va, &fl);
	if (!is_fault(&fl, CAUSE_LOAD_PAGE_FAULT, va, (uint64_t)k_ld))
		return 1;
	if (probe_exec(va, &fl) != 0x123 || fl.cause)
		return 2;
	csr_set(sstatus, SSTATUS_MXR);
	uint64_t v = probe_ld(va, &fl);
	csr_clear(sstatus, SSTATUS_MXR);
	if (fl.cause || v != 0x0000806712300513UL)
		return 3;
	/* MXR does not make a page writable */
	csr_set(sstatus, SSTATUS_MXR);
	probe_sd(va + 8, 1, &fl);
	csr_clear(sstatus, SSTATUS_MXR);
	if (!is_fault(&fl, CAUSE_STORE_PAGE_FAULT, va + 8, (uint64_t)k_sd))
		return 4;
	return 0;
}

static uint64_t mprv_ld(uint64_t va, uint64_t mpp, uint64_t *cause,
			uint64_t *tval)
{
	register uint64_t a0 __asm__("a0") = va;
	register uint64_t a1 __asm__("a1") = mpp;
	register uint64_t a2 __asm__("a2");
	register uint64_t a7 __asm__("a7") = SBI_MPRV_LD;
	__asm__ volatile("ecall" : "+r"(a0), "+r"(a1), "=r"(a2) : "r"(a7)
			 : "memory");
	*cause = a1;
	*tval = a2;
	return a0;
}

/*
 * M-mode loads with mstatus.MPRV = 1 are translated and checked as if made
 * in mstatus.MPP's mode (with this satp, SUM and MXR). A page fault is
 * taken in M-mode (mcause 13, mtval = va).
 */
static uint64_t t_mprv(void)
{
	uint64_t cause, tval, v;
	uint64_t s_page = TPAGE(5) + 24, u_page = TPAGE(0) + 16;

	v = mprv_ld(s_page, 1, &cause, &tval);         /* as S: S page */
	if (cause || v != 0x5151515151515151UL)
		return 1;
	v = mprv_ld(u_page, 0, &cause, &tval);         /* as U: U page */
	if (cause || v != 0x5a5a5a5a5a5a5a5aUL)
		return 2;
	mprv_ld(s_page, 0, &cause, &tval);             /* as U: S page */
	if (cause != CAUSE_LOAD_PAGE_FAULT || tval != s_page)
		return 3;
	mprv_ld(u_page, 1, &cause, &tval);             /* as S, SUM = 0 */
	if (cause != CAUSE_LOAD_PAGE_FAULT || tval != u_page)
		return 4;
	csr_set(sstatus, SSTATUS_SUM);
	v = mprv_ld(u_page, 1, &cause, &tval);         /* as S, SUM = 1 */
	csr_clear(sstatus, SSTATUS_SUM);
	if (cause || v != 0x5a5a5a5a5a5a5a5aUL)
		return 5;
	mprv_ld(UNMAPPED_VA + 0x48, 1, &cause, &tval);
	if (cause != CAUSE_LOAD_PAGE_FAULT || tval != UNMAPPED_VA + 0x48)
		return 6;
	return 0;
}

/*
 * A and D. Both schemes of the spec are accepted: the hardware sets them
 * (QEMU), or the access page-faults and the handler (page_fault above)
 * sets them. Which one is printed; a mix of the two is a failure.
 */
static uint64_t t_ad(void)
{
	uint64_t va = TPAGE(2);
	volatile uint64_t *p = (volatile uint64_t *)va;
	volatile pte_t *pte;            /* the hardware may write it */
	uint8_t *fr = alloc_frame();
	int hw = 0, n = 0;
	uint64_t before;

	map(kroot, va, (uint64_t)fr, 0, PTE_R | PTE_W);   /* A = D = 0 */
	sfence_va(va);
	pte = walk(kroot, va, 0, 0);

	/* a load sets A only */
	before = ad_faults;
	(void)*p;
	hw += ad_faults == before;
	n++;
	if ((*pte & (PTE_A | PTE_D)) != PTE_A)
		return 1;
	/* a store to an accessed, clean page sets D */
	before = ad_faults;
	*p = 1;
	hw += ad_faults == before;
	n++;
	if ((*pte & (PTE_A | PTE_D)) != (PTE_A | PTE_D))
		return 2;
	/* a store to a page with neither sets both */
	map(kroot, va, (uint64_t)fr, 0, PTE_R | PTE_W);
	sfence_va(va);
	before = ad_faults;
	*p = 2;
	hw += ad_faults == before;
	n++;
	if ((*pte & (PTE_A | PTE_D)) != (PTE_A | PTE_D))
		return 3;
	/* an instruction fetch sets A only */
	put_code(fr, 0x55);
	map(kroot, va, (uint64_t)fr, 0, PTE_R | PTE_X);
	sfence_va(va);
	before = ad_faults;
	if (k_exec(va) != 0x55)
		return 4;
	hw += ad_faults == before;
	n++;
	if ((*pte & (PTE_A | PTE_D)) != PTE_A)
		return 5;

	if (hw == n)
		puts_("ad: hardware\n");
	else if (hw == 0)
		puts_("ad: fault\n");
	else
		return 6;
	return 0;
}

static uint8_t *sf_a, *sf_b;

static uint64_t read_sf(void)
{
	return *(volatile uint64_t *)TPAGE(3);
}

static uint64_t t_sfence_addr(void)
{
	sf_a = alloc_frame();
	sf_b = alloc_frame();
	*(uint64_t *)sf_a = 0xaaaaaaaaaaaaaaaaUL;
	*(uint64_t *)sf_b = 0xbbbbbbbbbbbbbbbbUL;
	map(kroot, TPAGE(3), (uint64_t)sf_a, 0, PTE_R | PTE_A);
	sfence_va(TPAGE(3));
	if (read_sf() != 0xaaaaaaaaaaaaaaaaUL)
		return 1;
	map(kroot, TPAGE(3), (uint64_t)sf_b, 0, PTE_R | PTE_A);
	__asm__ volatile("sfence.vma %0, zero" :: "r"(TPAGE(3)) : "memory");
	if (read_sf() != 0xbbbbbbbbbbbbbbbbUL)
		return 2;
	return 0;
}

static uint64_t t_sfence_asid(void)
{
	map(kroot, TPAGE(3), (uint64_t)sf_a, 0, PTE_R | PTE_A);
	__asm__ volatile("sfence.vma zero, %0" :: "r"(kasid) : "memory");
	if (read_sf() != 0xaaaaaaaaaaaaaaaaUL)
		return 1;
	map(kroot, TPAGE(3), (uint64_t)sf_b, 0, PTE_R | PTE_A);
	__asm__ volatile("sfence.vma %0, %1" :: "r"(TPAGE(3)), "r"(kasid)
			 : "memory");
	if (read_sf() != 0xbbbbbbbbbbbbbbbbUL)
		return 2;
	return 0;
}

/* a second root that shares everything but the path to va */
static pte_t *clone_path(pte_t *root, uint64_t va)
{
	pte_t *nr = alloc_table(), *t = nr;
	for (int i = 0; i < 512; i++)
		nr[i] = root[i];
	for (int l = LEVELS - 1; l > 0; l--) {
		pte_t *e = &t[(va >> (12 + 9 * l)) & 511];
		pte_t *old = pte_table(*e), *c = alloc_table();
		for (int i = 0; i < 512; i++)
			c[i] = old[i];
		*e = pte_for((uint64_t)c, 0);
		t = c;
	}
	return nr;
}

/*
 * Two address spaces with different ASIDs map TPAGE(3) differently.
 * Switching satp between them needs no sfence.vma: translations cached
 * for one ASID are not used for the other. Without at least two usable
 * ASIDs (asid_max < 2) the test fences after each switch instead.
 */
static uint64_t t_asid_switch(void)
{
	pte_t *r2 = clone_path(kroot, TPAGE(3));
	map(kroot, TPAGE(3), (uint64_t)sf_a, 0, PTE_R | PTE_A);
	map(r2, TPAGE(3), (uint64_t)sf_b, 0, PTE_R | PTE_A);
	sfence_all();
	uint64_t s1 = make_satp(kroot, kasid);
	uint64_t s2 = make_satp(r2, asid_max >= 2 ? 2 : kasid);
	uint64_t r[3];
	csr_write(satp, s1);
	r[0] = read_sf();
	csr_write(satp, s2);
	if (asid_max < 2)
		sfence_all();
	r[1] = read_sf();
	csr_write(satp, s1);
	if (asid_max < 2)
		sfence_all();
	r[2] = read_sf();
	if (r[0] != 0xaaaaaaaaaaaaaaaaUL)
		return 1;
	if (r[1] != 0xbbbbbbbbbbbbbbbbUL)
		return 2;
	if (r[2] != 0xaaaaaaaaaaaaaaaaUL)
		return 3;
	return 0;
}

static uint64_t t_tvm(void)
{
	uint64_t s = csr_read(satp);
	sbi(SBI_SET_MSTATUS, MSTATUS_TVM);
	m_arm();
	k_csrr_satp();
	if (!m_trapped(k_csrr_satp, INSN_CSRR_A0_SATP))
		return 1;
	m_arm();
	k_csrw_satp(s);
	if (!m_trapped(k_csrw_satp, INSN_CSRW_SATP_A0))
		return 2;
	m_arm();
	k_sfence();
	if (!m_trapped(k_sfence, INSN_SFENCE_VMA))
		return 3;
	sbi(SBI_CLR_MSTATUS, MSTATUS_TVM);
	m_arm();
	uint64_t v = k_csrr_satp();
	mrec.armed = 0;
	if (mrec.cause || v != s)
		return 4;
	return 0;
}

static void set_sret_target(void)
{
	/* if sret does run, it goes to k_sret_land in S-mode */
	csr_write(sepc, (uint64_t)k_sret_land);
	csr_set(sstatus, SSTATUS_SPP);
	csr_clear(sstatus, SSTATUS_SPIE);
}

static uint64_t t_tsr(void)
{
	sbi(SBI_SET_MSTATUS, MSTATUS_TSR);
	set_sret_target();
	m_arm();
	k_sret();
	if (!m_trapped(k_sret, INSN_SRET))
		return 1;
	sbi(SBI_CLR_MSTATUS, MSTATUS_TSR);
	/* and without TSR, sret works in S-mode */
	set_sret_target();
	m_arm();
	k_sret();
	mrec.armed = 0;
	if (mrec.cause)
		return 2;
	return 0;
}

static uint64_t t_tw(void)
{
	sbi(SBI_SET_MSTATUS, MSTATUS_TW);
	m_arm();
	k_wfi();
	sbi(SBI_CLR_MSTATUS, MSTATUS_TW);
	if (!m_trapped(k_wfi, INSN_WFI))
		return 1;
	return 0;
}

static const char *const leaf_names[] = {
	0, "misaligned-megapage", "misaligned-gigapage",
	"misaligned-terapage", "misaligned-petapage",
};

void s_main(void)
{
	cur_test = 1;
	report("satp-mode", t_satp_mode());
	report("satp-warl", t_satp_warl());
	report("physmap-gigapage", t_physmap());
	report("megapage", t_megapage());
	for (int l = 1; l < LEVELS; l++)
		report(leaf_names[l], t_misaligned_leaf(l));
	report("invalid-pte", t_invalid_pte());
	report("pte-w-without-r", t_w_without_r());
	report("pte-reserved", t_pte_reserved());
	report("store-readonly", t_store_readonly());
	report("non-canonical", t_noncanonical());
	report("sum", t_sum());
	report("s-exec-user-page", t_s_exec_user());
	report("mxr", t_mxr());
	report("mprv", t_mprv());
	report("ad-bits", t_ad());
	report("sfence-vma-addr", t_sfence_addr());
	report("sfence-vma-asid", t_sfence_asid());
	report("asid-switch", t_asid_switch());
	report("tvm", t_tvm());
	report("tsr", t_tsr());
	report("tw", t_tw());

	/* Now the user program, from its entry point, with the stack at
	 * the top of the user half of the address space. Nothing of it is
	 * mapped yet. It reports through SYS_REPORT and ends with SYS_EXIT,
	 * which lands in finish(). */
	enter_user((uint64_t)_ustart, USER_TOP);
}

static void finish(void)
{
	puts_(PROG_NAME);
	if (first_fail) {
		puts_(": first failure ");
		putdec(first_fail);
		puts_("\n");
	} else {
		puts_(": all passed\n");
	}
	sbi(SBI_EXIT, first_fail);
	for (;;)
		;
}
