/*
 * vm.h - shared definitions of the "v environment" guests (vm-sv39,
 * vm-sv48, vm-sv57). Included by C and by assembly (only the #defines are
 * visible to assembly).
 *
 * SV is the translation scheme of the build: 39, 48 or 57 (-DSV=...).
 */
#ifndef VM_H
#define VM_H

#ifndef SV
#error "build with -DSV=39, -DSV=48 or -DSV=57"
#endif

#if SV == 39
#define SATP_MODE_VAL   8
#define PROG_NAME       "vm-sv39"
#elif SV == 48
#define SATP_MODE_VAL   9
#define PROG_NAME       "vm-sv48"
#elif SV == 57
#define SATP_MODE_VAL   10
#define PROG_NAME       "vm-sv57"
#else
#error "SV must be 39, 48 or 57"
#endif

/* constants usable from C and assembly */
#ifdef __ASSEMBLER__
#define _UL(x)          x
#else
#define _UL(x)          x##UL
#endif

#define LEVELS          ((SV - 12) / 9)     /* 3, 4 or 5 */
#define PGSIZE          4096

/* ---- board (QEMU virt) ---- */
#define DRAM_BASE       0x80000000
#define TEST_FINISHER   0x00100000
#define UART_BASE       0x10000000
#define UART_LSR        (UART_BASE + 5)
#define UART_LSR_THRE   0x20

/* ---- virtual address map (see README.md) ----
 *
 * 0x0000_0000 ... 1 GiB   identity gigapage over the MMIO (S only, RW)
 * 0x4020_0000             megapage test mapping (S only)
 * 0x4040_0000             misaligned megapage leaf (must fault)
 * 0x4060_0000 + n*4 KiB   4 KiB test pages of the supervisor tests
 * 4 << (12 + 9*L)         misaligned level-L leaf, L >= 2 (must fault)
 * 0x8000_0000 ... 2 MiB   identity megapage: M code, supervisor kernel,
 *                         its data, page tables, frame pool, stacks
 *                         (S only, RWX)
 * 0x8020_0000 ...         the user program, at its link address, mapped
 *                         page by page on demand (U)
 * USER_TOP - 64 KiB       user stack, demand-zero (U)
 * PHYSMAP                 all of RAM 0x8000_0000..0xBFFF_FFFF as one
 *                         gigapage in the top 1 GiB of the address space
 *                         (S only, RW): the kernel's view of physical memory
 */
#define USER_TOP        (_UL(1) << (SV - 1))   /* first non-canonical address */
#define USTACK_PAGES    16
#define USTACK_BOTTOM   (USER_TOP - USTACK_PAGES * PGSIZE)
#define PHYSMAP         _UL(0xffffffffc0000000)
#define KERNEL_MEGA     _UL(0x80000000)
#define USER_BASE       _UL(0x80200000)

#define MEGA_VA         _UL(0x40200000)
#define MEGA_BAD_VA     _UL(0x40400000)
#define TPAGE(n)        (_UL(0x40600000) + (n) * PGSIZE)
#define UNMAPPED_VA     _UL(0x50000000)        /* nothing is ever mapped here */

/* ---- PTE bits ---- */
#define PTE_V           0x001
#define PTE_R           0x002
#define PTE_W           0x004
#define PTE_X           0x008
#define PTE_U           0x010
#define PTE_G           0x020
#define PTE_A           0x040
#define PTE_D           0x080
#define PTE_PPN_SHIFT   10

/* ---- CSR bits ---- */
#define SSTATUS_SIE     (_UL(1) << 1)
#define SSTATUS_SPIE    (_UL(1) << 5)
#define SSTATUS_SPP     (_UL(1) << 8)
#define SSTATUS_SUM     (_UL(1) << 18)
#define SSTATUS_MXR     (_UL(1) << 19)
#define MSTATUS_MPP     (_UL(3) << 11)
#define MSTATUS_MPP_S   (_UL(1) << 11)
#define MSTATUS_MPRV    (_UL(1) << 17)
#define MSTATUS_TVM     (_UL(1) << 20)
#define MSTATUS_TW      (_UL(1) << 21)
#define MSTATUS_TSR     (_UL(1) << 22)

#define CAUSE_MISALIGNED_FETCH  0
#define CAUSE_FETCH_ACCESS      1
#define CAUSE_ILLEGAL_INSN      2
#define CAUSE_BREAKPOINT        3
#define CAUSE_MISALIGNED_LOAD   4
#define CAUSE_LOAD_ACCESS       5
#define CAUSE_MISALIGNED_STORE  6
#define CAUSE_STORE_ACCESS      7
#define CAUSE_ECALL_U           8
#define CAUSE_ECALL_S           9
#define CAUSE_FETCH_PAGE_FAULT  12
#define CAUSE_LOAD_PAGE_FAULT   13
#define CAUSE_STORE_PAGE_FAULT  15

/* ---- encodings of the instructions the tests expect to trap ---- */
#define INSN_SRET               0x10200073
#define INSN_WFI                0x10500073
#define INSN_SFENCE_VMA         0x12000073  /* sfence.vma zero, zero */
#define INSN_CSRR_A0_SATP       0x18002573  /* csrrs a0, satp, zero */
#define INSN_CSRW_SATP_A0       0x18051073  /* csrrw zero, satp, a0 */
#define INSN_CSRR_A0_SSTATUS    0x10002573  /* csrrs a0, sstatus, zero */

/* ---- S -> M calls (ecall from S, a7 = function) ---- */
#define SBI_EXIT        0   /* a0 = exit code (0 = pass) */
#define SBI_SET_MSTATUS 1   /* a0 = bits to set (only TVM, TW, TSR) */
#define SBI_CLR_MSTATUS 2   /* a0 = bits to clear (only TVM, TW, TSR) */
#define SBI_MPRV_LD     3   /* a0 = va, a1 = MPP (0 = U, 1 = S): M-mode
                               loads 8 bytes at va with MPRV = 1 ->
                               a0 = value, a1 = mcause of the trap it
                               took (0: none), a2 = mtval */

/* ---- U -> S system calls (ecall from U, a7 = number) ---- */
#define SYS_EXIT        0   /* end of the user tests */
#define SYS_REPORT      1   /* a0 = name (user string), a1 = ok, a2 = detail */
#define SYS_EXPECT      2   /* arm: the next non-demand fault is expected */
#define SYS_FAULT       3   /* -> a0 = scause (0: none), a1 = stval, a2 = sepc */
#define SYS_DEMAND      4   /* a0 = i (-1 = last) -> a0 = scause, a1 = stval,
                               a2 = sepc of demand fault i, a3 = count */
#define SYS_MXR         5   /* a0 = 0/1: sstatus.MXR of the user context */
#define SYS_PTE         6   /* a0 = va -> a0 = leaf PTE (0 if none) */
#define SYS_PEEK_IMAGE  7   /* a0 = va -> a0 = the 8 bytes at va in the
                               loaded program image (physical memory) */
#define SYS_M_EXPECT    8   /* arm M-mode: the next illegal instruction
                               is expected */
#define SYS_M_FAULT     9   /* -> a0 = mcause (0: none), a1 = mtval,
                               a2 = mepc, a3 = mode it came from */
#define SYS_ADD3        10  /* -> a0 = a0 + a1 + a2 */

#ifndef __ASSEMBLER__
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned long uintptr_t;
typedef unsigned long size_t;
typedef uint64_t pte_t;

#define csr_read(csr) ({ uint64_t __v; \
	__asm__ volatile("csrr %0, " #csr : "=r"(__v) :: "memory"); __v; })
#define csr_write(csr, val) \
	__asm__ volatile("csrw " #csr ", %0" :: "rK"(val) : "memory")
#define csr_set(csr, val) \
	__asm__ volatile("csrs " #csr ", %0" :: "rK"(val) : "memory")
#define csr_clear(csr, val) \
	__asm__ volatile("csrc " #csr ", %0" :: "rK"(val) : "memory")

/* Illegal-instruction record kept by the M-mode trap handler. Shared by
 * M (physical addresses) and S (identity-mapped kernel data). */
struct mrec {
	volatile uint64_t armed;
	volatile uint64_t cause, tval, epc, mode;
};
extern struct mrec mrec;
extern volatile uint64_t cur_test;      /* exit code for an unexpected trap */

/* console (kernel text; usable from M with physical addressing and from S
 * through the identity-mapped MMIO gigapage) */
void putc_(int c);
void puts_(const char *s);
void puthex(uint64_t v);
void putdec(uint64_t v);

/* page tables, built by M-mode and extended by S-mode */
extern pte_t *kroot;
pte_t *walk(pte_t *root, uint64_t va, int level, int create);
void map(pte_t *root, uint64_t va, uint64_t pa, int level, uint64_t flags);
void build_page_tables(void);
uint64_t make_satp(pte_t *root, uint64_t asid);

void m_exit(uint64_t code) __attribute__((noreturn));
#endif

#endif
