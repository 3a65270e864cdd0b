/*
 * Shared definitions of the bare-metal H-extension checks (hyp.c, hyp2.c): mode bits for mret,
 * hstatus bits, hypervisor CSR numbers (GCC 12 has no H in -march, so the CSRs are named by
 * number) and CSR access macros by number.
 */
#ifndef HYP_H
#define HYP_H
#include "common/rt.h"

#define EXIT_ECALL 0x5a

#define MPP_S   (1UL << 11)
#define MPV     (1UL << 39)
#define GVA_M   (1UL << 38)
#define MPRV    (1UL << 17)
#define SUM     (1UL << 18)
#define MXR     (1UL << 19)
#define TW      (1UL << 21)
#define TVM     (1UL << 20)
#define MODE_U  0UL
#define MODE_HS MPP_S
#define MODE_VS (MPP_S | MPV)
#define MODE_VU MPV

#define HS_GVA  (1UL << 6)
#define HS_SPV  (1UL << 7)
#define HS_SPVP (1UL << 8)
#define HS_HU   (1UL << 9)
#define HS_VTVM (1UL << 20)
#define HS_VTW  (1UL << 21)
#define HS_VTSR (1UL << 22)

#define CSR_HSTATUS    0x600
#define CSR_HEDELEG    0x602
#define CSR_HIDELEG    0x603
#define CSR_HIE        0x604
#define CSR_HTIMEDELTA 0x605
#define CSR_HCOUNTEREN 0x606
#define CSR_HTVAL      0x643
#define CSR_HIP        0x644
#define CSR_HVIP       0x645
#define CSR_HTINST     0x64a
#define CSR_HGATP      0x680
#define CSR_VSSTATUS   0x200
#define CSR_VSIE       0x204
#define CSR_VSTVEC     0x205
#define CSR_VSSCRATCH  0x240
#define CSR_VSEPC      0x241
#define CSR_VSCAUSE    0x242
#define CSR_VSTVAL     0x243
#define CSR_VSIP       0x244
#define CSR_VSATP      0x280
#define CSR_MTINST     0x34a
#define CSR_MTVAL2     0x34b

/* hstatus.VSXL = 2 (64-bit VS-mode) in every write: the only value cyclevisor implements, and
 * QEMU 7.2 keeps whatever is written (VSXL = 0 there makes it complain and misbehave). */
#define VSXL64 (2UL << 32)

#define STR_(x) #x
#define STR(x) STR_(x)
#define csrr_n(n) ({ uint64_t __v; __asm__ volatile("csrr %0, " STR(n) : "=r"(__v) :: "memory"); __v; })
#define csrw_n(n, v) __asm__ volatile("csrw " STR(n) ", %0" :: "r"((uint64_t)(v)) : "memory")
#define csrs_n(n, v) __asm__ volatile("csrs " STR(n) ", %0" :: "r"((uint64_t)(v)) : "memory")
#define csrc_n(n, v) __asm__ volatile("csrc " STR(n) ", %0" :: "r"((uint64_t)(v)) : "memory")

/* ---- trap records (filled by each program's trap_c at whatever level takes the trap) ---- */
struct rec {
	volatile long level;            /* 3 M, 1 HS, 5 VS (of the last trap) */
	volatile uint64_t cause, tval, epc, tval2, tinst, status, hstatus;
	volatile long count;
	volatile uint64_t order[8];     /* causes of the traps, in order (hyp2) */
};
extern struct rec R;
static inline void clear_rec(void) { memset((void *)&R, 0, sizeof R); }

/* entry.S: run fn(arg) at the privilege/V given by the mret bits (MODE_*), return its exit value */
long enter(void (*fn)(long), uint64_t bits, long arg);
extern char m_trap[], s_trap[], vs_trap[];

/* Each level's trap stack (an exit from a lower handler abandons its frame); defined once per
 * program, set before every run. */
extern uint64_t m_stack[512], hs_stack[512], vs_stack[512];

static inline long run(void (*fn)(long), uint64_t mode, long arg)
{
	csr_write(mscratch, (uint64_t)&m_stack[512]);
	csr_write(sscratch, (uint64_t)&hs_stack[512]);
	csrw_n(CSR_VSSCRATCH, (uint64_t)&vs_stack[512]);
	return enter(fn, mode, arg);
}

#endif
