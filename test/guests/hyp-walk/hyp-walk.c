/*
 * hyp-walk.c - the worst-case page-walk programs of issue 9 (item 5): one
 * native walk and one two-dimensional walk per touched page, with every page
 * of both stages a 4 KiB page, so that a modeled TLB without walk caches
 * makes exactly
 *
 *      SV=39:  3 references per native walk (Sv39),
 *             15 per nested walk (Sv39 on Sv39x4: 3 x (3 + 1) + 3),
 *      SV=48:  4 per native walk (Sv48),
 *             24 per nested walk (Sv48 on Sv48x4: 4 x (4 + 1) + 4).
 *
 * The program checks only what the architecture defines (the values it
 * reads and writes through both translations, the trap causes), so it runs
 * unchanged on QEMU 7.2 (-cpu rv64,h=true) and on cyclevisor; the walk
 * counts are read from cyclevisor's timing-mode statistics
 * (test/hyp-walk.test.ts).
 *
 * Flow (Priv 1.12 ch. 8, "Hypervisor Extension"):
 *   M-mode   PMP opens all memory to S/U; native part: Sv39/Sv48 tables,
 *            mret to S-mode code that loads one word and ecalls (cause 9).
 *            Then delegate the VS traps (medeleg: 10 = ecall from VS,
 *            20/21/23 guest-page faults, 12/13/15 page faults, 2, 22) and
 *            drop to HS-mode.
 *   HS-mode  builds the G-stage tables (hgatp, Sv39x4/Sv48x4: 16 KiB root,
 *            identity for the program image, and two guest data pages at
 *            GPA 0x4000_0000 mapped elsewhere) and the VS-stage tables
 *            (vsatp, GVA 0x2000_0000 -> GPA 0x4000_0000), then sret with
 *            hstatus.SPV = 1 into VS-mode code that loads (page A) or stores
 *            (page B) and ecalls (cause 10, taken in HS).
 *
 * Pages touched with translation on (each walked once, L1 TLB big enough):
 *   native: the guest-code page (fetch), native data (load)      -> 2 walks
 *   V = 1:  the guest-code page (fetch), page A (load), B (store) -> 3 walks
 * A and D are preset in every leaf, so no walk updates a PTE.
 */
#include "../common/rt.h"

#ifndef SV
#define SV 39
#endif
#if SV == 39
#define MODE 8UL        /* satp Sv39, vsatp Sv39, hgatp Sv39x4 */
#define LEVELS 3
#elif SV == 48
#define MODE 9UL        /* Sv48, Sv48x4 */
#define LEVELS 4
#else
#error "SV must be 39 or 48"
#endif

#define PG 4096UL
#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define LEAF (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

#define GVA_A 0x20000000UL      /* guest-virtual */
#define GVA_B (GVA_A + PG)
#define GPA_A 0x40000000UL      /* guest-physical, not identity */
#define GPA_B (GPA_A + PG)
#define NVA   0x30000000UL      /* native (S-mode) data VA */

#define MSTATUS_MPV (1UL << 39)
#define HSTATUS_SPV (1UL << 7)

typedef uint64_t pte_t;

/* Table pools in .bss (cleared by crt0). The G-stage root is 16 KiB and
 * 16 KiB aligned (Priv 1.12 §8.5.1); every other table is one page. */
static pte_t g_pool[16][512] __attribute__((aligned(16384)));
static pte_t vs_pool[8][512] __attribute__((aligned(4096)));
static pte_t n_pool[8][512] __attribute__((aligned(4096)));
static uint64_t g_used, vs_used, n_used;

/* The data pages: host memory behind the guest's GPA_A / GPA_B, and the
 * native page behind NVA. */
static volatile uint64_t data_a[512] __attribute__((aligned(4096)));
static volatile uint64_t data_b[512] __attribute__((aligned(4096)));
static volatile uint64_t data_n[512] __attribute__((aligned(4096)));

/* guest.S */
extern uint64_t run_guest(uint64_t entry, uint64_t arg, uint64_t how);
extern volatile uint64_t guest_a0, guest_tval;
extern char s_touch[], vs_load[], vs_store[];
extern char __text_start[], _end[];

static pte_t *alloc(pte_t (*pool)[512], uint64_t *used, uint64_t max, uint64_t n)
{
	if (*used + n > max) {
		print("hyp-walk: table pool exhausted\n");
		exit(3);
	}
	pte_t *t = pool[*used];
	*used += n;
	return t;
}

/*
 * Map va -> pa with a 4 KiB leaf in the tables at root (tables are
 * identity-mapped, so a table's address is also its physical and guest
 * physical address). x4: the root index has 11 bits (a G-stage root).
 */
static void map(pte_t *root, int x4, pte_t (*pool)[512], uint64_t *used,
		uint64_t max, uint64_t va, uint64_t pa, uint64_t flags)
{
	pte_t *t = root;
	for (int lvl = LEVELS - 1; lvl > 0; lvl--) {
		uint64_t mask = (x4 && lvl == LEVELS - 1) ? 0x7ff : 0x1ff;
		pte_t *e = &t[(va >> (12 + 9 * lvl)) & mask];
		if (!(*e & PTE_V)) {
			pte_t *n = alloc(pool, used, max, 1);
			*e = (((uint64_t)n >> 12) << 10) | PTE_V;
		}
		t = (pte_t *)((*e >> 10) << 12);
	}
	t[(va >> 12) & 0x1ff] = ((pa >> 12) << 10) | flags;
}

static int failed;
static void check(int n, const char *name, int ok, uint64_t got)
{
	if (ok) {
		print("ok ");
		print_dec(n);
		print(" ");
		print(name);
		print("\n");
	} else {
		print("FAIL ");
		print_dec(n);
		print(" ");
		print(name);
		print(" got=");
		print_hex(got, 16);
		print("\n");
		if (!failed)
			failed = n;
	}
}

int main(void)
{
	uint64_t cause;

	print("hyp-walk: Sv");
	print_dec(SV);
	print(" on Sv");
	print_dec(SV);
	print("x4\n");

	/* PMP entry 0: NAPOT over everything, RWX (S/U/VS/VU need a match). */
	csr_write(pmpaddr0, -1UL);
	csr_write(pmpcfg0, 0x1f);

	/* ---- native part: M-mode builds Sv39/48 tables, S-mode touches NVA. */
	pte_t *nroot = alloc(n_pool, &n_used, 8, 1);
	map(nroot, 0, n_pool, &n_used, 8, (uint64_t)s_touch & ~(PG - 1),
	    (uint64_t)s_touch & ~(PG - 1), LEAF);
	map(nroot, 0, n_pool, &n_used, 8, NVA, (uint64_t)data_n, LEAF);
	data_n[5] = 0x6e61746976650005UL;
	csr_write(satp, (MODE << 60) | ((uint64_t)nroot >> 12));
	__asm__ volatile("sfence.vma" ::: "memory");
	cause = run_guest((uint64_t)s_touch, NVA + 5 * 8, 0);
	check(1, "native ecall from S", cause == 9, cause);
	check(2, "native load through satp", guest_a0 == data_n[5], guest_a0);
	csr_write(satp, 0);
	__asm__ volatile("sfence.vma" ::: "memory");

	/* ---- drop to HS-mode with the VS traps delegated to it. */
	csr_write(medeleg, (1UL << 2) | (1UL << 10) | (1UL << 12) | (1UL << 13) |
			   (1UL << 15) | (1UL << 20) | (1UL << 21) | (1UL << 22) |
			   (1UL << 23));
	__asm__ volatile(
		"la t0, 1f\n\t"
		"csrw mepc, t0\n\t"
		"li t0, 3 << 11\n\t"
		"csrc mstatus, t0\n\t"
		"li t0, 1 << 11\n\t"
		"csrs mstatus, t0\n\t"
		"li t0, 1\n\t"
		"slli t0, t0, 39\n\t"
		"csrc mstatus, t0\n\t"   /* MPV = 0: HS, not VS */
		"mret\n"
		"1:" ::: "t0", "memory");

	/* ---- HS-mode: G-stage (identity for the image, GPA_A/B elsewhere). */
	pte_t *groot = alloc(g_pool, &g_used, 16, 4);
	/* every page from the start of the image to the end of the stack */
	for (uint64_t p = (uint64_t)__text_start; p < (uint64_t)_end; p += PG)
		map(groot, 1, g_pool, &g_used, 16, p, p, LEAF | PTE_U);
	map(groot, 1, g_pool, &g_used, 16, GPA_A, (uint64_t)data_a, LEAF | PTE_U);
	map(groot, 1, g_pool, &g_used, 16, GPA_B, (uint64_t)data_b, LEAF | PTE_U);
	/* hgatp.MODE is WARL: read it back (KVM probes modes the same way). */
	csr_write(0x680, (MODE << 60) | (1UL << 44) | ((uint64_t)groot >> 12));
	uint64_t hgatp = csr_read(0x680);
	check(3, "hgatp keeps the mode", (hgatp >> 60) == MODE, hgatp);
	__asm__ volatile(".word 0x62000073" ::: "memory"); /* hfence.gvma x0, x0 */

	/* VS-stage: guest code identity (GVA = GPA), GVA_A/B -> GPA_A/B.
	 * VS-level pages are S-level pages: U = 0. */
	pte_t *vroot = alloc(vs_pool, &vs_used, 8, 1);
	map(vroot, 0, vs_pool, &vs_used, 8, (uint64_t)vs_load & ~(PG - 1),
	    (uint64_t)vs_load & ~(PG - 1), LEAF);
	map(vroot, 0, vs_pool, &vs_used, 8, GVA_A, GPA_A, LEAF);
	map(vroot, 0, vs_pool, &vs_used, 8, GVA_B, GPA_B, LEAF);
	csr_write(0x280, (MODE << 60) | ((uint64_t)vroot >> 12)); /* vsatp */
	__asm__ volatile(".word 0x22000073" ::: "memory"); /* hfence.vvma x0, x0 */

	data_a[7] = 0x6775657374410007UL;
	cause = run_guest((uint64_t)vs_load, GVA_A + 7 * 8, 1);
	check(4, "ecall from VS is cause 10", cause == 10, cause);
	check(5, "VS load through vsatp and hgatp", guest_a0 == data_a[7], guest_a0);
	cause = run_guest((uint64_t)vs_store, GVA_B + 3 * 8, 1);
	check(6, "second ecall from VS", cause == 10, cause);
	check(7, "VS store through vsatp and hgatp", data_b[3] == ~(GVA_B + 3 * 8), data_b[3]);

	if (failed) {
		print("hyp-walk: FAILED\n");
		return failed;
	}
	print("hyp-walk: all passed\n");
	return 0;
}
