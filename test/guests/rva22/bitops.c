/*
 * RVA22 proof in the guest (issue 15 scope 5): a static Linux user program built with
 * -march=rv64gc_zba_zbb_zbs (and Zbc through inline assembly) so that GCC itself emits the
 * bit-manipulation instructions. It prints the results; the expected output was recorded on
 * QEMU 7.2 (-cpu rv64,zba=true,zbb=true,zbc=true,zbs=true) and test/rva22-guest.test.ts compares
 * cyclevisor's console with it. No libc: raw write/exit system calls, so the binary stays small.
 */
typedef unsigned long u64;
typedef unsigned int u32;

static long sys(long n, long a, long b, long c) {
  register long a0 asm("a0") = a, a1 asm("a1") = b, a2 asm("a2") = c, a7 asm("a7") = n;
  asm volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
  return a0;
}
static void out(const char *s, long n) { sys(64, 1, (long)s, n); }
static void puts_(const char *s) { long n = 0; while (s[n]) n++; out(s, n); }
static void hex(const char *label, u64 v) {
  char b[20];
  puts_(label);
  for (int i = 0; i < 16; i++) b[i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
  b[16] = '\n';
  out(b, 17);
}

/* Values the optimiser cannot fold (read through a volatile pointer). */
static volatile u64 seed[8] = {
  0x0123456789abcdefUL, 0x8000000000000000UL, 0, 1, 0xffffffffffffffffUL, 0x00000000ffff0000UL,
  0x0020000000000000UL, 0xfedcba9876543210UL,
};

__attribute__((noinline)) static u64 rotl(u64 x, unsigned s) { return (x << (s & 63)) | (x >> (-s & 63)); }
__attribute__((noinline)) static u64 rotr(u64 x, unsigned s) { return (x >> (s & 63)) | (x << (-s & 63)); }
__attribute__((noinline)) static long smax(long a, long b) { return a > b ? a : b; }
__attribute__((noinline)) static u64 umin(u64 a, u64 b) { return a < b ? a : b; }
__attribute__((noinline)) static u64 andn(u64 a, u64 b) { return a & ~b; }
__attribute__((noinline)) static u64 bset(u64 a, unsigned i) { return a | (1UL << (i & 63)); }
__attribute__((noinline)) static u64 bclr(u64 a, unsigned i) { return a & ~(1UL << (i & 63)); }
__attribute__((noinline)) static u64 bext(u64 a, unsigned i) { return (a >> (i & 63)) & 1; }
__attribute__((noinline)) static u64 index3(const u64 *p, u32 i) { return p[i]; } /* sh3add.uw */
__attribute__((noinline)) static u64 zextw(u64 a) { return a & 0xffffffffUL; }      /* zext.w = add.uw */
static u64 clmul(u64 a, u64 b) { u64 r; asm("clmul %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); return r; }
static u64 clmulh(u64 a, u64 b) { u64 r; asm("clmulh %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); return r; }
static u64 orcb(u64 a) { u64 r; asm("orc.b %0, %1" : "=r"(r) : "r"(a)); return r; }

void _start(void) {
  u64 acc = 0;
  puts_("rva22: bitops start\n");
  for (int i = 0; i < 8; i++) {
    u64 v = seed[i], w = seed[(i + 3) & 7];
    u64 r[16];
    r[0] = v ? (u64)__builtin_clzl(v) : 64;
    r[1] = v ? (u64)__builtin_ctzl(v) : 64;
    r[2] = (u64)__builtin_popcountl(v);
    r[3] = __builtin_bswap64(v);
    r[4] = rotl(v, (unsigned)w) ^ rotr(v, 13);
    r[5] = (u64)smax((long)v, (long)w) + umin(v, w);
    r[6] = andn(v, w) | bset(w, (unsigned)v) ;
    r[7] = bclr(v, (unsigned)w) + bext(v, (unsigned)(w >> 3));
    r[8] = index3((const u64 *)seed, (u32)i) + zextw(v);
    r[9] = clmul(v, w);
    r[10] = clmulh(v, w);
    r[11] = orcb(v);
    r[12] = (u64)(long)(signed char)v + (u64)(unsigned short)w;
    r[13] = (u32)v ? (u64)__builtin_ctz((u32)v) : 32;
    r[14] = (u64)__builtin_popcount((u32)w);
    r[15] = (v << 2) + w; /* sh2add */
    for (int k = 0; k < 16; k++) acc = rotl(acc, 7) ^ r[k];
    hex("rva22: ", acc);
  }
  hex("rva22: checksum ", acc);
  puts_("rva22: bitops done\n");
  sys(93, 0, 0, 0);
  for (;;) {}
}
