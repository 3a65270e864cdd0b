/*
 * rt.c - console, exit, trap dispatch and reporting for the UART guests.
 */
#include "rt.h"

/*
 * Transmit by polling LSR.THRE, then writing THR. No UART initialisation is
 * done: a 16550 is usable at reset (QEMU ignores the baud divisor), and
 * touching FCR could discard input that already arrived (see echo.c).
 * Newlines are sent as a bare "\n" (no CR) so the output is byte-identical
 * to the strings in the source.
 */
void putchar_(int c)
{
	while (!(mmio_r8(UART_LSR) & UART_LSR_THRE))
		;
	mmio_w8(UART_THR, (uint8_t)c);
}

void print(const char *s)
{
	while (*s)
		putchar_(*s++);
}

void print_hex(uint64_t v, int digits)
{
	print("0x");
	for (int i = digits - 1; i >= 0; i--)
		putchar_("0123456789abcdef"[(v >> (4 * i)) & 0xf]);
}

void print_dec(uint64_t v)
{
	char buf[21];
	int i = 0;
	do {
		buf[i++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (i)
		putchar_(buf[--i]);
}

/* Receive by polling LSR.DR, then reading RBR. */
int getchar_(void)
{
	while (!(mmio_r8(UART_LSR) & UART_LSR_DR))
		;
	return mmio_r8(UART_RBR);
}

/*
 * The SiFive test finisher takes a 32-bit write. 0x5555 means pass; QEMU
 * then exits with status 0. (code << 16) | 0x3333 means fail; QEMU exits
 * with status `code` (so a fail with code 0 would look like a pass: exit(0)
 * therefore always writes 0x5555).
 */
void exit(int code)
{
	uint32_t v = code ? ((uint32_t)code << 16) | FINISHER_FAIL : FINISHER_PASS;
	mmio_w32(TEST_FINISHER, v);
	for (;;)   /* a finisher that did not stop the machine: hang visibly */
		__asm__ volatile("wfi");
}

struct trap_record last_trap;
volatile int trap_armed;
volatile int trap_fail_code = 255;
void (*volatile irq_hook)(long vector, uint64_t mcause);

/* Length of the instruction at addr: 16-bit unless the low 2 bits are 11. */
static uint64_t insn_len(uint64_t addr)
{
	uint16_t lo = *(volatile uint16_t *)addr;
	return (lo & 3) == 3 ? 4 : 2;
}

void trap_handler(long vector, struct trap_frame *frame)
{
	(void)frame;
	uint64_t mcause = csr_read(mcause);
	uint64_t mepc = csr_read(mepc);
	uint64_t mtval = csr_read(mtval);

	last_trap.vector = vector;
	last_trap.mcause = mcause;
	last_trap.mepc = mepc;
	last_trap.mtval = mtval;
	last_trap.mstatus = csr_read(mstatus);
	last_trap.count++;

	if (mcause & MCAUSE_INT) {
		if (irq_hook) {
			irq_hook(vector, mcause);
			return;
		}
	} else if (trap_armed) {
		trap_armed = 0;
		csr_write(mepc, mepc + insn_len(mepc));
		return;
	}
	print("unexpected trap: mcause=");
	print_hex(mcause, 16);
	print(" mepc=");
	print_hex(mepc, 16);
	print(" mtval=");
	print_hex(mtval, 16);
	print("\n");
	exit(trap_fail_code);
}

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	if (p < q) {
		while (n--)
			*p++ = *q++;
	} else {
		while (n--)
			p[n] = q[n];
	}
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

static int first_fail;

void report_val(int n, const char *name, int ok, const char *label,
		uint64_t val, int digits)
{
	print(ok ? "ok " : "FAIL ");
	print_dec(n);
	print(" ");
	print(name);
	if (label) {
		print(" ");
		print(label);
		print("=");
		print_hex(val, digits);
	}
	print("\n");
	if (!ok && !first_fail)
		first_fail = n;
}

void report(int n, const char *name, int ok)
{
	report_val(n, name, ok, 0, 0, 0);
}

int first_failure(void)
{
	return first_fail;
}
