/*
 * victim.c - the VM beside the hostile one (test/hypervisor/hostile.test.ts).
 * It fills a 1 MiB area of its memory with a secret ("VICTIM-SECRET" records
 * with their index), then works on it: PASSES passes that verify every
 * record and fold it into a checksum, with a timer interrupt and a WFI
 * between passes and some UART MMIO. It prints its progress and the result
 * and powers off. Its output, instructions and cycles must be the same
 * whether or not a hostile VM runs beside it.
 */
#include "rt.h"

#ifndef PASSES
#define PASSES 64
#endif
#define AREA (1UL << 20)

static uint8_t area[AREA] __attribute__((aligned(4096)));

static void fill(void) {
  /* Built at run time: "VICTIM-SECRET" + 3 bytes of the record index. */
  static const char tag[] = {'V', 'I', 'C', 'T', 'I', 'M', '-', 'S', 'E', 'C', 'R', 'E', 'T'};
  for (uint64_t r = 0; r < AREA / 16; r++) {
    uint8_t *p = area + 16 * r;
    for (int i = 0; i < 13; i++) p[i] = (uint8_t)tag[i];
    p[13] = (uint8_t)r;
    p[14] = (uint8_t)(r >> 8);
    p[15] = (uint8_t)(r >> 16);
  }
}

static volatile uint64_t ticks;
static void on_timer(void) {
  ticks++;
  sbi_call(SBI_EXT_TIME, 0, -1L, 0, 0, 0, 0, 0);
}

int main(void) {
  puts_("victim: start\n");
  fill();
  timer_hook = on_timer;
  csr_set(sie, 1UL << 5);
  uint64_t sum = 0, bad = 0;
  for (int pass = 0; pass < PASSES; pass++) {
    const uint64_t *w = (const uint64_t *)area;
    for (uint64_t i = 0; i < AREA / 8; i += 2) {
      if (w[i] != 0x532d4d4954434956UL) bad++; /* "VICTIM-S" */
      sum = (sum ^ w[i + 1]) * 0x100000001b3UL;
    }
    /* Sleep ~200 ticks: the timer interrupt wakes it. */
    sbi_call(SBI_EXT_TIME, 0, csr_time() + 200, 0, 0, 0, 0, 0);
    csr_set(sstatus, 1UL << 1);
    while (ticks <= (uint64_t)pass) __asm__ volatile("wfi");
    csr_clear(sstatus, 1UL << 1);
    /* Some MMIO: the UART's LSR. */
    for (int i = 0; i < 16; i++) sum += *(volatile uint8_t *)(0x10000005UL);
    if (pass % 8 == 7) {
      puts_("victim: pass ");
      put_dec(pass + 1);
      putc_('\n');
    }
  }
  puts_("victim: checksum ");
  put_hex(sum);
  puts_(" bad ");
  put_dec(bad);
  puts_(" ticks ");
  put_dec(ticks);
  putc_('\n');
  puts_(bad == 0 ? "victim: secret intact\n" : "victim: SECRET CORRUPTED\n");
  return 0;
}

/* The victim has one vCPU; a second one would park. */
void secondary_main(void) {
  for (;;) __asm__ volatile("wfi");
}
