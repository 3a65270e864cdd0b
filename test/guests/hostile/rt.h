/*
 * rt.h - runtime of the VS-mode guests in this folder: SBI calls, console
 * output through SBI DBCN, the probe primitives of start.S and the trap
 * record the trap handler fills.
 */
#ifndef HOSTILE_RT_H
#define HOSTILE_RT_H

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned long size_t;

#define RAM_BASE 0x80000000UL

/* SBI extension IDs (SBI 2.0). */
#define SBI_EXT_BASE  0x10
#define SBI_EXT_TIME  0x54494D45
#define SBI_EXT_IPI   0x735049
#define SBI_EXT_RFNC  0x52464E43
#define SBI_EXT_HSM   0x48534D
#define SBI_EXT_SRST  0x53525354
#define SBI_EXT_DBCN  0x4442434E

struct sbiret { long error; long value; };
struct sbiret sbi_call(long eid, long fid, long a0, long a1, long a2, long a3, long a4, long a5);

void putc_(char c);
void puts_(const char *s);
void put_hex(uint64_t v);
void put_dec(uint64_t v);
void flush(void);
void power_off(void);
void fail_off(void);

static inline uint64_t csr_time(void) { uint64_t v; __asm__ volatile("rdtime %0" : "=r"(v)); return v; }
static inline uint64_t csr_instret(void) { uint64_t v; __asm__ volatile("rdinstret %0" : "=r"(v)); return v; }
static inline uint64_t csr_cycle(void) { uint64_t v; __asm__ volatile("rdcycle %0" : "=r"(v)); return v; }
#define csr_read(csr) ({ uint64_t __v; __asm__ volatile("csrr %0, " #csr : "=r"(__v)); __v; })
#define csr_write(csr, val) __asm__ volatile("csrw " #csr ", %0" ::"r"((uint64_t)(val)))
#define csr_set(csr, val) __asm__ volatile("csrs " #csr ", %0" ::"r"((uint64_t)(val)))
#define csr_clear(csr, val) __asm__ volatile("csrc " #csr ", %0" ::"r"((uint64_t)(val)))

/* The trap record (rt.c trap_c). */
extern volatile uint64_t trap_recover;  /* resume address of the current probe (0: none) */
extern volatile int64_t trap_cause;     /* scause of the last trap during a probe, -1: none */
extern volatile uint64_t trap_tval;
extern volatile uint64_t traps_by_cause[24];
extern volatile uint64_t interrupts_taken;
extern volatile uint64_t unexpected_traps;
/* Called on a timer interrupt (NULL: the timer is switched off). */
extern void (*volatile timer_hook)(void);

/* start.S probes. */
uint64_t probe_ld(uint64_t a);
uint64_t probe_lw(uint64_t a);
uint64_t probe_lhu(uint64_t a);
uint64_t probe_lbu(uint64_t a);
uint64_t probe_sd(uint64_t a, uint64_t v);
uint64_t probe_sw(uint64_t a, uint64_t v);
uint64_t probe_sh(uint64_t a, uint64_t v);
uint64_t probe_sb(uint64_t a, uint64_t v);
uint64_t probe_cld(uint64_t a);
uint64_t probe_csd(uint64_t a, uint64_t v);
uint64_t probe_amoadd_d(uint64_t a, uint64_t v);
uint64_t probe_amoswap_w(uint64_t a, uint64_t v);
uint64_t probe_lr_d(uint64_t a);
uint64_t probe_sc_d(uint64_t a, uint64_t v);
uint64_t probe_fetch(uint64_t a);
uint64_t probe_hlv_d(uint64_t a);
uint64_t probe_hsv_d(uint64_t a, uint64_t v);
uint64_t probe_hfence_gvma(void);
uint64_t probe_hfence_vvma(void);
uint64_t probe_ld_x15(uint64_t a);
void do_wfi(void);
void sfence_all(void);
void secondary_entry(void);

#endif
