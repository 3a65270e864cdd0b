/*
 * RVA22 proof in the guest, Zfh part (issue 15 scope 5): binary16 arithmetic through inline
 * assembly (GCC 12 has no _Float16 for RISC-V), built with -march=rv64gc_zfh. For a set of
 * operand pairs and every static rounding mode it prints the result bits and fflags of fadd.h,
 * fmul.h, fdiv.h, fsqrt.h, fmadd.h, fcvt.h.w and fcvt.w.h; the expected lines come from QEMU 7.2
 * (-cpu rv64,Zfh=true). No libc.
 */
typedef unsigned long u64;

static long sys(long n, long a, long b, long c) {
  register long a0 asm("a0") = a, a1 asm("a1") = b, a2 asm("a2") = c, a7 asm("a7") = n;
  asm volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
  return a0;
}
static void out(const char *s, long n) { sys(64, 1, (long)s, n); }
static void puts_(const char *s) { long n = 0; while (s[n]) n++; out(s, n); }
static char *hexn(char *p, u64 v, int digits) {
  for (int i = digits - 1; i >= 0; i--) *p++ = "0123456789abcdef"[(v >> (4 * i)) & 15];
  return p;
}

static volatile unsigned short pairs[][2] = {
  {0x3c00, 0x4000}, {0x3555, 0x3c01}, {0x7bff, 0x7bff}, {0x0001, 0x3800}, {0x8400, 0x0400},
  {0x4248, 0xc000}, {0x0000, 0x8000}, {0x7c00, 0xfc00}, {0x7e00, 0x3c00}, {0x3bff, 0x0c01},
};

#define OP2(insn, rm, a, b, r, fl)                                                                  \
  asm volatile("fsflags x0\n fmv.h.x ft0, %2\n fmv.h.x ft1, %3\n " insn " ft2, ft0, ft1, " rm     \
               "\n fmv.x.h %0, ft2\n frflags %1"                                                    \
               : "=r"(r), "=r"(fl) : "r"(a), "r"(b) : "ft0", "ft1", "ft2")

static void line(const char *name, int rm, u64 r, u64 fl) {
  char b[64], *p = b;
  const char *q = "rva22h: ";
  while (*q) *p++ = *q++;
  while (*name) *p++ = *name++;
  *p++ = ' ';
  *p++ = (char)('0' + rm);
  *p++ = ' ';
  p = hexn(p, r & 0xffff, 4);
  *p++ = ' ';
  p = hexn(p, fl, 2);
  *p++ = '\n';
  out(b, p - b);
}

#define ALLRM(body) \
  body("rne", 0) body("rtz", 1) body("rdn", 2) body("rup", 3) body("rmm", 4)

void _start(void) {
  puts_("rva22h: halfops start\n");
  for (unsigned i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    u64 a = pairs[i][0], b = pairs[i][1], r, fl;
#define ADD(rm, n) OP2("fadd.h", rm, a, b, r, fl); line("fadd", n, r, fl);
#define MUL(rm, n) OP2("fmul.h", rm, a, b, r, fl); line("fmul", n, r, fl);
#define DIV(rm, n) OP2("fdiv.h", rm, a, b, r, fl); line("fdiv", n, r, fl);
#define SQRT(rm, n)                                                                                 \
  asm volatile("fsflags x0\n fmv.h.x ft0, %2\n fsqrt.h ft2, ft0, " rm "\n fmv.x.h %0, ft2\n frflags %1" \
               : "=r"(r), "=r"(fl) : "r"(a) : "ft0", "ft2");                                        \
  line("fsqrt", n, r, fl);
#define FMA(rm, n)                                                                                  \
  asm volatile("fsflags x0\n fmv.h.x ft0, %2\n fmv.h.x ft1, %3\n fmadd.h ft2, ft0, ft1, ft0, " rm  \
               "\n fmv.x.h %0, ft2\n frflags %1" : "=r"(r), "=r"(fl) : "r"(a), "r"(b) : "ft0", "ft1", "ft2"); \
  line("fmadd", n, r, fl);
#define CVTW(rm, n)                                                                                 \
  asm volatile("fsflags x0\n fmv.h.x ft0, %2\n fcvt.w.h %0, ft0, " rm "\n frflags %1"              \
               : "=r"(r), "=r"(fl) : "r"(a) : "ft0");                                               \
  line("fcvt.w.h", n, r, fl);
#define CVTHW(rm, n)                                                                                \
  asm volatile("fsflags x0\n fcvt.h.w ft2, %2, " rm "\n fmv.x.h %0, ft2\n frflags %1"              \
               : "=r"(r), "=r"(fl) : "r"((long)(a * 7 + b)) : "ft2");                               \
  line("fcvt.h.w", n, r, fl);
    ALLRM(ADD) ALLRM(MUL) ALLRM(DIV) ALLRM(SQRT) ALLRM(FMA) ALLRM(CVTW) ALLRM(CVTHW)
  }
  puts_("rva22h: halfops done\n");
  sys(93, 0, 0, 0);
  for (;;) {}
}
