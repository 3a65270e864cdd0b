/*
 * tlbwalk.c - the walk-cache and walk-reference experiments' bare-metal guest
 * (issue 11, experiments "walk-caches" and the sweep test). Random loads over
 * a working set of 4 KiB pages, either natively (S-mode under satp) or as a
 * guest (VS-mode under vsatp, with an hgatp G-stage of 4 KiB or 2 MiB
 * leaves), so that the modeled TLB's walk counters show what page-walk
 * caches, the nested TLB and G-stage superpages save.
 *
 * The host chooses the configuration by writing `tlbwalk_params` after
 * loading the ELF (src/experiments/tlbwalk.ts); the defaults below make the
 * program run on its own too. The results go to `tlbwalk_result` and one
 * console line:
 *
 *   tlbwalk: <native|nested> sv<39|48> g<4K|2M> ws=<pages> n=<loads> sum=<hex>
 *
 * `sum` depends only on (ws, n, seed): every paging configuration must print
 * the same value (the experiments check it).
 *
 * Memory (Priv 1.12 ch. 4 and 8):
 *   program image    identity-mapped in every stage (4 KiB VS/S leaves; the
 *                    G-stage maps the first 2 MiB of RAM with 4 KiB leaves or
 *                    one 2 MiB leaf, so the guest's own page tables sit
 *                    behind the chosen G-stage page size too)
 *   working set      VA/GVA 0x2000_0000 + i*4K -> GPA 0x4000_0000 + i*4K
 *                    (native: straight to PA) -> HPA 0x8100_0000 + i*4K
 *                    (2 MiB aligned, so 2 MiB G-stage leaves can map it)
 * A and D are preset in every leaf, so no walk writes a PTE.
 */
#include "../common/rt.h"

#define PG 4096UL
#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define LEAF (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

#define WS_VA   0x20000000UL
#define WS_GPA  0x40000000UL
#define WS_HPA  0x81000000UL
#define MAX_WS  16384UL         /* 64 MiB: up to 0x8500_0000 */
#define RAM_2M  0x80000000UL    /* the image's 2 MiB */

typedef uint64_t pte_t;

struct params {
	uint64_t magic;         /* 0x746c6277616c6b31 "tlbwalk1" */
	uint64_t nested;        /* 0: S-mode under satp; 1: VS-mode under vsatp + hgatp */
	uint64_t sv;            /* 39 or 48 (satp/vsatp Sv39/48, hgatp Sv39x4/48x4) */
	uint64_t gshift;        /* G-stage leaf size: 12 (4 KiB) or 21 (2 MiB) */
	uint64_t ws_pages;      /* working set in 4 KiB pages, power of two, <= MAX_WS */
	uint64_t loads;         /* random loads */
	uint64_t seed;          /* xorshift64 seed, non-zero */
};
struct result {
	uint64_t done;          /* 1 when the loop ran */
	uint64_t cycles;        /* cycle CSR around the guest's loop (entry and exit included) */
	uint64_t instret;       /* instret CSR likewise */
	uint64_t sum;
};

volatile struct params tlbwalk_params = {
	0x746c6277616c6b31UL, 1, 39, 12, 1024, 20000, 0x9e3779b97f4a7c15UL,
};
volatile struct result tlbwalk_result;

static pte_t g_pool[64][512] __attribute__((aligned(16384)));
static pte_t v_pool[48][512] __attribute__((aligned(4096)));
static uint64_t g_used, v_used;

extern uint64_t run_guest(uint64_t entry, uint64_t arg, uint64_t how);
extern volatile uint64_t guest_a0, guest_tval;
extern char guest_loop[];
extern char __text_start[], _end[];

static int levels;

static pte_t *alloc(pte_t (*pool)[512], uint64_t *used, uint64_t max, uint64_t n)
{
	if (*used + n > max) {
		print("tlbwalk: table pool exhausted\n");
		exit(3);
	}
	pte_t *t = pool[*used];
	*used += n;
	return t;
}

/* Map va -> pa with a leaf at level `leaf` (0: 4 KiB, 1: 2 MiB). x4: the
 * root index has 11 bits (a G-stage root, Priv 1.12 §8.5.1). Tables are
 * identity-mapped, so a table's address is its PA and its GPA. */
static void map(pte_t *root, int x4, pte_t (*pool)[512], uint64_t *used,
		uint64_t max, uint64_t va, uint64_t pa, uint64_t flags, int leaf)
{
	pte_t *t = root;
	for (int lvl = levels - 1; lvl > leaf; lvl--) {
		uint64_t mask = (x4 && lvl == levels - 1) ? 0x7ff : 0x1ff;
		pte_t *e = &t[(va >> (12 + 9 * lvl)) & mask];
		if (!(*e & PTE_V)) {
			pte_t *n = alloc(pool, used, max, 1);
			*e = (((uint64_t)n >> 12) << 10) | PTE_V;
		}
		t = (pte_t *)((*e >> 10) << 12);
	}
	t[(va >> (12 + 9 * leaf)) & 0x1ff] = ((pa >> 12) << 10) | flags;
}

/* The measured loop, run in S- or VS-mode (called by guest_loop in
 * guest.S, which ecalls with its result). Only identity-mapped image
 * memory and the working set are touched. */
uint64_t loop_c(void)
{
	uint64_t x = tlbwalk_params.seed, n = tlbwalk_params.loads;
	uint64_t mask = tlbwalk_params.ws_pages - 1, sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t page = (x >> 20) & mask;
		uint64_t off = (x >> 3) & 0xff8;
		sum += *(volatile uint64_t *)(WS_VA + page * PG + off) ^ i;
	}
	return sum;
}

static void fill_working_set(uint64_t ws)
{
	/* word j of page i holds (i << 32 | j): the loads read known values */
	for (uint64_t i = 0; i < ws; i++)
		for (uint64_t j = 0; j < 512; j += 1)
			((volatile uint64_t *)(WS_HPA + i * PG))[j] = (i << 32) | j;
}

int main(void)
{
	volatile struct params *p = &tlbwalk_params;
	uint64_t ws = p->ws_pages, mode;
	int nested = p->nested != 0;
	int gleaf = p->gshift == 21 ? 1 : 0;

	if (p->magic != 0x746c6277616c6b31UL || (p->sv != 39 && p->sv != 48) ||
	    (p->gshift != 12 && p->gshift != 21) || ws == 0 || ws > MAX_WS ||
	    (ws & (ws - 1)) || p->seed == 0) {
		print("tlbwalk: bad parameters\n");
		return 2;
	}
	levels = p->sv == 39 ? 3 : 4;
	mode = p->sv == 39 ? 8UL : 9UL;
	fill_working_set(ws);

	/* PMP entry 0: NAPOT over everything, RWX (S/U/VS/VU need a match);
	 * the counters readable below M. */
	csr_write(pmpaddr0, -1UL);
	csr_write(pmpcfg0, 0x1f);
	csr_write(mcounteren, 7);

	/* The guest's (or the native) tables: image identity, working set. */
	pte_t *vroot = alloc(v_pool, &v_used, 48, 1);
	for (uint64_t a = (uint64_t)__text_start; a < (uint64_t)_end; a += PG)
		map(vroot, 0, v_pool, &v_used, 48, a, a, LEAF, 0);
	for (uint64_t i = 0; i < ws; i++)
		map(vroot, 0, v_pool, &v_used, 48, WS_VA + i * PG,
		    (nested ? WS_GPA : WS_HPA) + i * PG, LEAF, 0);

	uint64_t c0, i0, c1, i1, cause;
	if (!nested) {
		csr_write(satp, (mode << 60) | ((uint64_t)vroot >> 12));
		__asm__ volatile("sfence.vma" ::: "memory");
		c0 = csr_read(cycle);
		i0 = csr_read(instret);
		cause = run_guest((uint64_t)guest_loop, 0, 0);
		c1 = csr_read(cycle);
		i1 = csr_read(instret);
		csr_write(satp, 0);
		if (cause != 9) {
			print("tlbwalk: unexpected trap from S\n");
			return 4;
		}
	} else {
		/* drop to HS-mode with the VS traps delegated to it */
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
			"csrc mstatus, t0\n\t"
			"mret\n"
			"1:" ::: "t0", "memory");
		pte_t *groot = alloc(g_pool, &g_used, 64, 4);
		if (gleaf) {
			map(groot, 1, g_pool, &g_used, 64, RAM_2M, RAM_2M, LEAF | PTE_U, 1);
			for (uint64_t i = 0; i < ws; i += 512)
				map(groot, 1, g_pool, &g_used, 64, WS_GPA + i * PG,
				    WS_HPA + i * PG, LEAF | PTE_U, 1);
		} else {
			for (uint64_t a = RAM_2M; a < RAM_2M + (2UL << 20); a += PG)
				map(groot, 1, g_pool, &g_used, 64, a, a, LEAF | PTE_U, 0);
			for (uint64_t i = 0; i < ws; i++)
				map(groot, 1, g_pool, &g_used, 64, WS_GPA + i * PG,
				    WS_HPA + i * PG, LEAF | PTE_U, 0);
		}
		csr_write(0x680, (mode << 60) | (1UL << 44) | ((uint64_t)groot >> 12));
		__asm__ volatile(".word 0x62000073" ::: "memory"); /* hfence.gvma */
		csr_write(0x280, (mode << 60) | ((uint64_t)vroot >> 12)); /* vsatp */
		__asm__ volatile(".word 0x22000073" ::: "memory"); /* hfence.vvma */
		c0 = csr_read(cycle);
		i0 = csr_read(instret);
		cause = run_guest((uint64_t)guest_loop, 0, 1);
		c1 = csr_read(cycle);
		i1 = csr_read(instret);
		if (cause != 10) {
			print("tlbwalk: unexpected trap from VS\n");
			return 4;
		}
	}
	tlbwalk_result.cycles = c1 - c0;
	tlbwalk_result.instret = i1 - i0;
	tlbwalk_result.sum = guest_a0;
	tlbwalk_result.done = 1;
	print("tlbwalk: ");
	print(nested ? "nested" : "native");
	print(" sv");
	print_dec(p->sv);
	print(gleaf ? " g2M" : " g4K");
	print(" ws=");
	print_dec(ws);
	print(" n=");
	print_dec(p->loads);
	print(" sum=");
	print_hex(guest_a0, 16);
	print("\n");
	return 0;
}
