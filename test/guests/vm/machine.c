/*
 * machine.c - the M-mode part: boot, the M trap handler (the "SBI" calls
 * of the supervisor, and the illegal-instruction traps that are
 * deliberately not delegated), exit, and the console.
 */
#include "vm.h"

/*
 * HTIF mailbox, so that an HTIF host can take the exit code from tohost
 * (1 = pass, (n << 1) | 1 = fail n). On QEMU virt these are ordinary RAM;
 * there the SiFive test finisher ends the run. See m_exit().
 */
__attribute__((section(".tohost"), aligned(64))) volatile uint64_t tohost;
__attribute__((section(".tohost"), aligned(64))) volatile uint64_t fromhost;

struct mrec mrec;
volatile uint64_t cur_test;

/* ---- console: polled ns16550a, usable at reset ---- */
void putc_(int c)
{
	while (!(*(volatile uint8_t *)UART_LSR & UART_LSR_THRE))
		;
	*(volatile uint8_t *)UART_BASE = (uint8_t)c;
}

void puts_(const char *s)
{
	while (*s)
		putc_(*s++);
}

void puthex(uint64_t v)
{
	puts_("0x");
	for (int i = 60; i >= 0; i -= 4)
		putc_("0123456789abcdef"[(v >> i) & 0xf]);
}

void putdec(uint64_t v)
{
	char buf[21];
	int i = 0;
	do {
		buf[i++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (i)
		putc_(buf[--i]);
}

/*
 * Exit: first the HTIF way (tohost, two 32-bit stores, low word first, as
 * riscv-tests' write_tohost does), then the SiFive test finisher (0x5555 =
 * pass, (code << 16) | 0x3333 = fail). A host that implements either one
 * stops here with the same status. Runs in M-mode (physical addresses).
 */
void m_exit(uint64_t code)
{
	uint64_t v = (code << 1) | 1;
	volatile uint32_t *t = (volatile uint32_t *)&tohost;
	__asm__ volatile("fence" ::: "memory");
	t[0] = (uint32_t)v;
	t[1] = (uint32_t)(v >> 32);
	*(volatile uint32_t *)TEST_FINISHER =
		code ? ((uint32_t)code << 16) | 0x3333 : 0x5555;
	for (;;) {
		t[0] = (uint32_t)v;
		t[1] = (uint32_t)(v >> 32);
		__asm__ volatile("wfi");
	}
}

static void m_fatal(const char *what)
{
	puts_(what);
	puts_(": mcause=");
	puthex(csr_read(mcause));
	puts_(" mepc=");
	puthex(csr_read(mepc));
	puts_(" mtval=");
	puthex(csr_read(mtval));
	puts_("\n");
	m_exit(cur_test ? cur_test : 255);
}

extern char s_entry[];
/* boot.S: out[0] = value, out[1] = mcause (0: no trap), out[2] = mtval */
extern void m_mprv_ld(uint64_t va, uint64_t bits, uint64_t *out);

/* Exceptions handled by the supervisor. Illegal instruction (2) and the
 * ecall from S (9) stay in M on purpose. */
#define MEDELEG_WANTED ((1UL << CAUSE_MISALIGNED_FETCH) | \
	(1UL << CAUSE_FETCH_ACCESS) | (1UL << CAUSE_BREAKPOINT) | \
	(1UL << CAUSE_MISALIGNED_LOAD) | (1UL << CAUSE_LOAD_ACCESS) | \
	(1UL << CAUSE_MISALIGNED_STORE) | (1UL << CAUSE_STORE_ACCESS) | \
	(1UL << CAUSE_ECALL_U) | (1UL << CAUSE_FETCH_PAGE_FAULT) | \
	(1UL << CAUSE_LOAD_PAGE_FAULT) | (1UL << CAUSE_STORE_PAGE_FAULT))
/* ... of which the environment cannot work without these */
#define MEDELEG_NEEDED ((1UL << CAUSE_ECALL_U) | \
	(1UL << CAUSE_FETCH_PAGE_FAULT) | (1UL << CAUSE_LOAD_PAGE_FAULT) | \
	(1UL << CAUSE_STORE_PAGE_FAULT))

void m_boot(void)
{
	csr_write(medeleg, MEDELEG_WANTED);
	csr_write(mideleg, 0);
	if ((csr_read(medeleg) & MEDELEG_NEEDED) != MEDELEG_NEEDED) {
		puts_("medeleg cannot delegate page faults and U ecalls\n");
		m_exit(1);
	}

	build_page_tables();
	uint64_t satp = make_satp(kroot, 0);
	csr_write(satp, satp);
	if (csr_read(satp) != satp) {
		/* the test of satp-mode would fail: report it the same way */
		puts_("FAIL 1 satp-mode\n");
		m_exit(1);
	}
	__asm__ volatile("sfence.vma" ::: "memory");

	/* mret to s_entry in S-mode, no SUM/MXR, interrupts off */
	uint64_t ms = csr_read(mstatus);
	ms &= ~(MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR |
		SSTATUS_SUM | SSTATUS_MXR | (1UL << 7) /* MPIE */ |
		(1UL << 17) /* MPRV */);
	ms |= MSTATUS_MPP_S;
	csr_write(mstatus, ms);
	csr_write(mepc, (uint64_t)s_entry);
	__asm__ volatile("mret");
	__builtin_unreachable();
}

/* x[] of the interrupted context, saved by m_trap_entry */
struct mframe { uint64_t x[32]; };
#define REG_RA 1
#define REG_A0 10
#define REG_A7 17

void m_trap(struct mframe *f)
{
	uint64_t cause = csr_read(mcause);
	uint64_t mpp = (csr_read(mstatus) & MSTATUS_MPP) >> 11;

	if (cause == CAUSE_ECALL_S) {
		uint64_t allowed = MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR;
		switch (f->x[REG_A7]) {
		case SBI_EXIT:
			m_exit(f->x[REG_A0]);
		case SBI_SET_MSTATUS:
			csr_set(mstatus, f->x[REG_A0] & allowed);
			break;
		case SBI_CLR_MSTATUS:
			csr_clear(mstatus, f->x[REG_A0] & allowed);
			break;
		case SBI_MPRV_LD:
			m_mprv_ld(f->x[REG_A0], MSTATUS_MPRV |
				  ((f->x[REG_A0 + 1] & 1) << 11), &f->x[REG_A0]);
			break;
		default:
			m_fatal("unknown SBI call");
		}
		csr_write(mepc, csr_read(mepc) + 4);
		return;
	}
	if (cause == CAUSE_ILLEGAL_INSN && mrec.armed && mpp != 3) {
		/* An expected illegal instruction in S or U (a probe): record
		 * it and resume at the probe's return address. */
		mrec.armed = 0;
		mrec.cause = cause;
		mrec.tval = csr_read(mtval);
		mrec.epc = csr_read(mepc);
		mrec.mode = mpp;
		csr_write(mepc, f->x[REG_RA]);
		return;
	}
	m_fatal("unexpected M-mode trap");
}
