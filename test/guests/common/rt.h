/*
 * rt.h - the tiny runtime of the UART guest programs (no libc).
 *
 * Board contract these programs rely on (QEMU "virt" memory map):
 *   RAM             0x8000_0000
 *   SiFive test     0x0010_0000  32-bit write: 0x5555 = pass (exit 0),
 *                                (code << 16) | 0x3333 = fail with exit code
 *   CLINT           0x0200_0000  msip hart 0 at +0, mtimecmp hart 0 at
 *                                +0x4000, mtime at +0xBFF8 (64-bit)
 *   PLIC            0x0c00_0000  context 0 = hart 0 M-mode
 *   ns16550a UART   0x1000_0000  reg-shift 0 (byte registers), PLIC IRQ 10
 */
#ifndef GUEST_RT_H
#define GUEST_RT_H

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;
typedef signed char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long int64_t;
typedef unsigned long uintptr_t;
typedef unsigned long size_t;

/* ---- board addresses ---- */
#define TEST_FINISHER   0x00100000UL
#define FINISHER_PASS   0x5555
#define FINISHER_FAIL   0x3333

#define CLINT_BASE      0x02000000UL
#define CLINT_MSIP0     (CLINT_BASE + 0x0000)
#define CLINT_MTIMECMP0 (CLINT_BASE + 0x4000)
#define CLINT_MTIME     (CLINT_BASE + 0xBFF8)

#define PLIC_BASE       0x0c000000UL
#define PLIC_PRIORITY(id)       (PLIC_BASE + 4 * (id))
#define PLIC_PENDING            (PLIC_BASE + 0x1000)
#define PLIC_ENABLE(ctx)        (PLIC_BASE + 0x2000 + 0x80 * (ctx))
#define PLIC_THRESHOLD(ctx)     (PLIC_BASE + 0x200000 + 0x1000 * (ctx))
#define PLIC_CLAIM(ctx)         (PLIC_BASE + 0x200004 + 0x1000 * (ctx))

#define UART_BASE       0x10000000UL
#define UART_RBR        (UART_BASE + 0)  /* read, DLAB=0 */
#define UART_THR        (UART_BASE + 0)  /* write, DLAB=0 */
#define UART_IER        (UART_BASE + 1)
#define UART_IIR        (UART_BASE + 2)  /* read */
#define UART_LSR        (UART_BASE + 5)
#define UART_LSR_DR     0x01             /* receive data ready */
#define UART_LSR_THRE   0x20             /* transmit holding register empty */
#define UART_IER_ERBFI  0x01             /* rx data available interrupt */
#define UART_IER_ETBEI  0x02             /* THR empty interrupt */
#define UART_IRQ        10

/* ---- CSR bits ---- */
#define MSTATUS_MIE     (1UL << 3)
#define MSTATUS_MPIE    (1UL << 7)
#define MSTATUS_MPP     (3UL << 11)
#define MSTATUS_MPP_M   (3UL << 11)
#define MIP_MSIP        (1UL << 3)
#define MIP_MTIP        (1UL << 7)
#define MIP_MEIP        (1UL << 11)
#define MCAUSE_INT      (1UL << 63)

#define CAUSE_MISALIGNED_FETCH  0
#define CAUSE_FETCH_ACCESS      1
#define CAUSE_ILLEGAL_INSN      2
#define CAUSE_BREAKPOINT        3
#define CAUSE_MISALIGNED_LOAD   4
#define CAUSE_LOAD_ACCESS       5
#define CAUSE_MISALIGNED_STORE  6   /* store/AMO address misaligned */
#define CAUSE_STORE_ACCESS      7   /* store/AMO access fault */
#define CAUSE_ECALL_M           11

#define csr_read(csr) ({ uint64_t __v; \
	__asm__ volatile("csrr %0, " #csr : "=r"(__v) :: "memory"); __v; })
#define csr_write(csr, val) \
	__asm__ volatile("csrw " #csr ", %0" :: "rK"(val) : "memory")
#define csr_set(csr, val) \
	__asm__ volatile("csrs " #csr ", %0" :: "rK"(val) : "memory")
#define csr_clear(csr, val) \
	__asm__ volatile("csrc " #csr ", %0" :: "rK"(val) : "memory")

static inline void mmio_w8(uintptr_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline uint8_t mmio_r8(uintptr_t a) { return *(volatile uint8_t *)a; }
static inline void mmio_w32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint32_t mmio_r32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_w64(uintptr_t a, uint64_t v) { *(volatile uint64_t *)a = v; }
static inline uint64_t mmio_r64(uintptr_t a) { return *(volatile uint64_t *)a; }

/* ---- console (polled 16550) ---- */
void putchar_(int c);
void print(const char *s);
void print_hex(uint64_t v, int digits);   /* "0x" + exactly `digits` digits */
void print_dec(uint64_t v);
int getchar_(void);                       /* blocks until a byte arrives */

/* ---- exit through the SiFive test finisher; never returns ---- */
void exit(int code) __attribute__((noreturn));

/* ---- traps (see trap.S and rt.c) ---- */
struct trap_frame { uint64_t x[32]; };

extern char trap_entry[];          /* Direct-mode handler address */
extern char trap_vector_table[];   /* Vectored-mode base (256-aligned) */

/* What the last trap looked like, filled in by trap_handler(). */
struct trap_record {
	volatile long vector;          /* -1 direct, else table entry used */
	volatile uint64_t mcause, mepc, mtval, mstatus;
	volatile uint64_t count;       /* number of traps taken so far */
};
extern struct trap_record last_trap;

/*
 * An exception is "expected" while trap_armed is set: trap_handler() records
 * it, disarms, and resumes after the faulting instruction (2 or 4 bytes, read
 * from memory at mepc). Any other exception prints its details and exits
 * with code trap_fail_code.
 */
extern volatile int trap_armed;
extern volatile int trap_fail_code;

/* Interrupts go to this hook (if set); it must quiet the source. */
extern void (*volatile irq_hook)(long vector, uint64_t mcause);

/* Memory routines GCC may emit calls to even with -ffreestanding. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* ---- "ok N name" / "FAIL N name" reporting for traps and interrupts ---- */
void report(int n, const char *name, int ok);
/* same, with " label=0x<val>" appended to the line */
void report_val(int n, const char *name, int ok, const char *label,
		uint64_t val, int digits);
int first_failure(void);               /* 0 if every report() was ok */

#endif
