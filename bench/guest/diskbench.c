/*
 * diskbench: the guest half of `npm run bench:disk` (bench/disk.ts). A static RV64 Linux program
 * without libc (raw syscalls), so it is a few KiB and needs no toolchain to rebuild the benchmark.
 *
 *   diskbench DEVICE MIB
 *
 * On DEVICE (opened O_RDWR | O_DIRECT: every request reaches virtio-blk, no page cache), over the
 * first MIB MiB: sequential 4 KiB writes, sequential 4 KiB reads, random 4 KiB writes, random
 * 4 KiB reads (a fixed LCG: the same offsets every run). Before each phase it prints
 * "bench: start NAME" and after it "bench: done NAME OPS NS", NS being CLOCK_MONOTONIC time in
 * the guest, i.e. virtual time on cyclevisor. The host stamps the lines with its wall clock.
 *
 * Build: make -C bench/guest (riscv64-linux-gnu-gcc); the binary is committed.
 */
typedef unsigned long u64;
typedef long s64;

static s64 sys6(s64 n, s64 a, s64 b, s64 c, s64 d) {
  register s64 a7 __asm__("a7") = n;
  register s64 a0 __asm__("a0") = a;
  register s64 a1 __asm__("a1") = b;
  register s64 a2 __asm__("a2") = c;
  register s64 a3 __asm__("a3") = d;
  __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2), "r"(a3) : "memory");
  return a0;
}
#define SYS_openat 56
#define SYS_write 64
#define SYS_pread64 67
#define SYS_pwrite64 68
#define SYS_exit 93
#define SYS_clock_gettime 113
#define AT_FDCWD (-100)
#define O_RDWR 2
#define O_DIRECT 040000
#define BS 4096

static unsigned char buf[BS] __attribute__((aligned(4096)));

static void out(const char *s) {
  u64 n = 0;
  while (s[n]) n++;
  sys6(SYS_write, 1, (s64)s, (s64)n, 0);
}
static void outnum(u64 v) {
  char t[24];
  int i = 23;
  t[i] = 0;
  do t[--i] = (char)('0' + v % 10); while ((v /= 10) != 0);
  out(t + i);
}
static u64 now(void) {
  s64 ts[2];
  sys6(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, (s64)ts, 0, 0);
  return (u64)ts[0] * 1000000000ul + (u64)ts[1];
}
static void fail(const char *what) {
  out("bench: error ");
  out(what);
  out("\n");
  sys6(SYS_exit, 1, 0, 0, 0);
}
static u64 atou(const char *s) {
  u64 v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (u64)(*s++ - '0');
  return v;
}

static void phase(int fd, const char *name, int write, int random, u64 blocks) {
  u64 x = 12345;
  out("bench: start ");
  out(name);
  out("\n");
  u64 t0 = now();
  for (u64 i = 0; i < blocks; i++) {
    u64 blk = i;
    if (random) {
      x = x * 6364136223846793005ul + 1442695040888963407ul;
      blk = (x >> 33) % blocks;
    }
    for (int k = 0; k < 8; k++) ((u64 *)buf)[k] = blk * 8 + (u64)k;
    s64 r = sys6(write ? SYS_pwrite64 : SYS_pread64, fd, (s64)buf, BS, (s64)(blk * BS));
    if (r != BS) fail(name);
  }
  u64 t1 = now();
  out("bench: done ");
  out(name);
  out(" ");
  outnum(blocks);
  out(" ");
  outnum(t1 - t0);
  out("\n");
}

static int run(int argc, char **argv) {
  if (argc < 3) fail("usage: diskbench DEVICE MIB");
  s64 fd = sys6(SYS_openat, AT_FDCWD, (s64)argv[1], O_RDWR | O_DIRECT, 0);
  if (fd < 0) fail("open");
  u64 blocks = atou(argv[2]) * (1024 * 1024 / BS);
  phase((int)fd, "seq-write", 1, 0, blocks);
  phase((int)fd, "seq-read", 0, 0, blocks);
  phase((int)fd, "rand-write", 1, 1, blocks);
  phase((int)fd, "rand-read", 0, 1, blocks);
  return 0;
}

/* The kernel enters with sp -> argc, argv[0], ... */
__attribute__((used)) static void start_c(s64 *sp) {
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  sys6(SYS_exit, run(argc, argv), 0, 0, 0);
}
__asm__(".global _start\n_start:\n  .option push\n  .option norelax\n  lla gp, __global_pointer$\n  .option pop\n  mv a0, sp\n  andi sp, sp, -16\n  call start_c\n");
