/* rt.c - see rt.h. */
#include "rt.h"

volatile uint64_t trap_recover;
volatile int64_t trap_cause = -1;
volatile uint64_t trap_tval;
volatile uint64_t traps_by_cause[24];
volatile uint64_t interrupts_taken;
volatile uint64_t unexpected_traps;
void (*volatile timer_hook)(void);

struct sbiret sbi_call(long eid, long fid, long a0, long a1, long a2, long a3, long a4, long a5) {
  register long r0 __asm__("a0") = a0;
  register long r1 __asm__("a1") = a1;
  register long r2 __asm__("a2") = a2;
  register long r3 __asm__("a3") = a3;
  register long r4 __asm__("a4") = a4;
  register long r5 __asm__("a5") = a5;
  register long r6 __asm__("a6") = fid;
  register long r7 __asm__("a7") = eid;
  __asm__ volatile("ecall" : "+r"(r0), "+r"(r1) : "r"(r2), "r"(r3), "r"(r4), "r"(r5), "r"(r6), "r"(r7) : "memory");
  struct sbiret r = {r0, r1};
  return r;
}

/* Console: a line buffer written with one DBCN console_write per line. */
static char line[256];
static unsigned line_len;

void flush(void) {
  if (line_len) sbi_call(SBI_EXT_DBCN, 0, line_len, (long)line, 0, 0, 0, 0);
  line_len = 0;
}
void putc_(char c) {
  line[line_len++] = c;
  if (c == '\n' || line_len == sizeof line) flush();
}
void puts_(const char *s) {
  while (*s) putc_(*s++);
}
void put_hex(uint64_t v) {
  putc_('0');
  putc_('x');
  int started = 0;
  for (int i = 60; i >= 0; i -= 4) {
    int d = (v >> i) & 15;
    if (d || started || i == 0) {
      putc_("0123456789abcdef"[d]);
      started = 1;
    }
  }
}
void put_dec(uint64_t v) {
  char b[24];
  int n = 0;
  do b[n++] = '0' + v % 10; while ((v /= 10) != 0);
  while (n) putc_(b[--n]);
}

void power_off(void) {
  flush();
  sbi_call(SBI_EXT_SRST, 0, 0, 0, 0, 0, 0, 0);
  for (;;) __asm__ volatile("wfi");
}
void fail_off(void) {
  flush();
  sbi_call(SBI_EXT_SRST, 0, 0, 1, 0, 0, 0, 0); /* reason: system failure */
  for (;;) __asm__ volatile("wfi");
}

struct frame { uint64_t x[32]; };

void trap_c(struct frame *f) {
  (void)f;
  uint64_t cause = csr_read(scause);
  if ((int64_t)cause < 0) {
    interrupts_taken++;
    if ((cause & 63) == 5) {
      if (timer_hook) timer_hook();
      else sbi_call(SBI_EXT_TIME, 0, -1L, 0, 0, 0, 0, 0);
    } else {
      /* Software / external: not used; mask them. */
      csr_clear(sie, 1UL << (cause & 63));
    }
    return;
  }
  if (cause < 24) traps_by_cause[cause]++;
  if (trap_recover) {
    trap_cause = (int64_t)cause;
    trap_tval = csr_read(stval);
    csr_write(sepc, trap_recover);
    trap_recover = 0;
    return;
  }
  unexpected_traps++;
  puts_("FATAL: unexpected trap cause ");
  put_dec(cause);
  puts_(" pc ");
  put_hex(csr_read(sepc));
  puts_(" tval ");
  put_hex(csr_read(stval));
  putc_('\n');
  fail_off();
}
