/*
 * kvm-vmm: a minimal KVM virtual machine monitor for RISC-V Linux 6.1 (one vCPU).
 *
 * It runs inside a Linux guest whose hart has the H extension, and drives that Linux's own KVM
 * (arch/riscv/kvm) through /dev/kvm, the way kvmtool and QEMU do, with nothing but ioctls:
 *
 *   KVM_CREATE_VM, KVM_SET_USER_MEMORY_REGION (guest RAM at GPA 0x80000000), KVM_CREATE_VCPU,
 *   KVM_GET_VCPU_MMAP_SIZE + mmap(struct kvm_run), KVM_GET_ONE_REG/KVM_SET_ONE_REG, KVM_RUN.
 *
 * Two kinds of guest:
 *   kvm-vmm --bin FILE                 a bare-metal VS-mode program, loaded and started at 0x80000000
 *   kvm-vmm --kernel IMAGE [--initrd FILE] [--append CMDLINE] [--vcpus N]
 *                                      a Linux Image at 0x80200000 with a device tree we generate
 *   common: [--mem MiB] (default 128) [--dump-every SECONDS] (debugging: every SECONDS, interrupt
 *           each vCPU with a signal and print its pc and S-level CSRs, then let it run on)
 *
 * Each vCPU has its own thread looping on KVM_RUN (as in kvmtool). vCPU 0 boots; the others are
 * created stopped (KVM_SET_MP_STATE: KVM_MP_STATE_STOPPED) and started by the guest through SBI
 * HSM hart_start, which KVM implements (vcpu_sbi_hsm.c); until then their KVM_RUN sleeps in KVM.
 *
 * The vCPU starts as Linux's RISC-V boot protocol asks (Documentation/riscv/boot.rst, and what
 * KVM 6.1's kvm_riscv_reset_vcpu() leaves: VS-mode, sstatus.SPP = S): pc = entry, a0 = hart id,
 * a1 = device-tree address. KVM itself answers the guest's SBI base/TIME/IPI/RFENCE/HSM/SRST calls;
 * it forwards the rest to us:
 *
 *   KVM_EXIT_RISCV_SBI     legacy console putchar (0x01) -> stdout, getchar (0x02) -> stdin or -1
 *                          (vcpu_sbi_v01.c forwards these); anything else -> SBI_ERR_NOT_SUPPORTED
 *   KVM_EXIT_SYSTEM_EVENT  SRST shutdown / reset, legacy shutdown (0x08): the run ends
 *   KVM_EXIT_MMIO          a load/store to a GPA outside the memory slot: our test device below
 *
 * The test device ("vmm-test", 4 KiB at 0x10000000, 8-byte registers):
 *   +0x0  SCRATCH  read/write
 *   +0x8  MAGIC    read: 0x6b766d2d766d6d21 ("kvm-vmm!" as a big-endian string); write ignored
 *   +0x10 XOR      read: SCRATCH ^ MAGIC (proves the VMM saw the earlier write)
 *   +0x18 ACCESSES read: MMIO exits served so far
 *
 * Exit status: 0 after a guest shutdown, 1 after a reset or any error (one line on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAM_BASE 0x80000000ULL
#define KERNEL_OFFSET 0x200000ULL /* rv64 Image: 2 MiB aligned */
#define TESTDEV_BASE 0x10000000ULL
#define TESTDEV_SIZE 0x1000ULL
#define TESTDEV_MAGIC 0x6b766d2d766d6d21ULL

#define SBI_EXT_0_1_CONSOLE_PUTCHAR 0x01
#define SBI_EXT_0_1_CONSOLE_GETCHAR 0x02
#define SBI_ERR_NOT_SUPPORTED (-2L)

/* One lock for everything the vCPU threads share: the console buffer, the test device, stdout. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fputs("kvm-vmm: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static void say(const char *fmt, ...) {
  va_list ap;
  printf("vmm: ");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* ---------------------------------------------------------------------------------------------
 * Guest console: the legacy SBI putchar bytes, line-buffered (one write per line, not per exit).
 * ------------------------------------------------------------------------------------------- */
static char conbuf[4096];
static size_t conlen;

static void con_flush(void) {
  size_t off = 0;
  while (off < conlen) {
    ssize_t n = write(1, conbuf + off, conlen - off);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    off += (size_t)n;
  }
  conlen = 0;
}

static void con_putc(unsigned char c) {
  conbuf[conlen++] = (char)c;
  if (c == '\n' || conlen == sizeof conbuf) con_flush();
}

/* ---------------------------------------------------------------------------------------------
 * A tiny flattened-device-tree writer (Devicetree Specification v0.4, chapter 5): structure block
 * of FDT_BEGIN_NODE / FDT_PROP / FDT_END_NODE tokens, then a strings block of property names.
 * ------------------------------------------------------------------------------------------- */
#define FDT_MAGIC 0xd00dfeed
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE 2
#define FDT_PROP 3
#define FDT_END 9

struct fdt {
  uint8_t st[16384];
  size_t stlen;
  char str[2048];
  size_t strlen_;
};

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void fdt_u32(struct fdt *f, uint32_t v) {
  if (f->stlen + 4 > sizeof f->st) die("device tree too large");
  put32(f->st + f->stlen, v);
  f->stlen += 4;
}

static void fdt_bytes(struct fdt *f, const void *data, size_t len) {
  if (f->stlen + len + 3 > sizeof f->st) die("device tree too large");
  memcpy(f->st + f->stlen, data, len);
  f->stlen += len;
  while (f->stlen & 3) f->st[f->stlen++] = 0;
}

static uint32_t fdt_name(struct fdt *f, const char *name) {
  for (size_t off = 0; off < f->strlen_; off += strlen(f->str + off) + 1)
    if (strcmp(f->str + off, name) == 0) return (uint32_t)off;
  size_t len = strlen(name) + 1;
  if (f->strlen_ + len > sizeof f->str) die("device tree strings too large");
  memcpy(f->str + f->strlen_, name, len);
  f->strlen_ += len;
  return (uint32_t)(f->strlen_ - len);
}

static void fdt_begin(struct fdt *f, const char *name) {
  fdt_u32(f, FDT_BEGIN_NODE);
  fdt_bytes(f, name, strlen(name) + 1);
}

static void fdt_end(struct fdt *f) { fdt_u32(f, FDT_END_NODE); }

static void fdt_prop(struct fdt *f, const char *name, const void *val, size_t len) {
  fdt_u32(f, FDT_PROP);
  fdt_u32(f, (uint32_t)len);
  fdt_u32(f, fdt_name(f, name));
  fdt_bytes(f, val, len);
}

static void fdt_prop_str(struct fdt *f, const char *name, const char *s) { fdt_prop(f, name, s, strlen(s) + 1); }

static void fdt_prop_empty(struct fdt *f, const char *name) { fdt_prop(f, name, "", 0); }

static void fdt_prop_u32(struct fdt *f, const char *name, uint32_t v) {
  uint8_t b[4];
  put32(b, v);
  fdt_prop(f, name, b, 4);
}

/* A list of 64-bit values as pairs of cells (reg with #address-cells = #size-cells = 2). */
static void fdt_prop_u64s(struct fdt *f, const char *name, const uint64_t *v, size_t n) {
  uint8_t b[64];
  if (n > 8) die("fdt_prop_u64s: too many values");
  for (size_t i = 0; i < n; i++) {
    put32(b + 8 * i, (uint32_t)(v[i] >> 32));
    put32(b + 8 * i + 4, (uint32_t)v[i]);
  }
  fdt_prop(f, name, b, 8 * n);
}

/* Writes the finished blob (header, empty memory-reservation map, structure, strings) to `out`. */
static size_t fdt_finish(struct fdt *f, uint8_t *out, size_t cap) {
  fdt_u32(f, FDT_END);
  const size_t hdr = 40, rsv = 16;
  size_t off_st = hdr + rsv, off_str = off_st + f->stlen, total = off_str + f->strlen_;
  if (total > cap) die("device tree does not fit");
  memset(out, 0, off_st);
  put32(out + 0, FDT_MAGIC);
  put32(out + 4, (uint32_t)total);
  put32(out + 8, (uint32_t)off_st);
  put32(out + 12, (uint32_t)off_str);
  put32(out + 16, (uint32_t)hdr); /* off_mem_rsvmap: one terminating all-zero entry */
  put32(out + 20, 17);            /* version */
  put32(out + 24, 16);            /* last_comp_version */
  put32(out + 28, 0);             /* boot_cpuid_phys */
  put32(out + 32, (uint32_t)f->strlen_);
  put32(out + 36, (uint32_t)f->stlen);
  memcpy(out + off_st, f->st, f->stlen);
  memcpy(out + off_str, f->str, f->strlen_);
  return total;
}

/* ---------------------------------------------------------------------------------------------
 * KVM plumbing
 * ------------------------------------------------------------------------------------------- */
#define MAX_VCPUS 8
static int vcpu_fds[MAX_VCPUS];
static int vcpu_fd; /* the vCPU the one-reg helpers below talk to */

#define CORE_REG(name) (KVM_REG_RISCV | KVM_REG_SIZE_U64 | KVM_REG_RISCV_CORE | KVM_REG_RISCV_CORE_REG(name))
#define CONFIG_REG(name) (KVM_REG_RISCV | KVM_REG_SIZE_U64 | KVM_REG_RISCV_CONFIG | KVM_REG_RISCV_CONFIG_REG(name))
#define TIMER_REG(name) (KVM_REG_RISCV | KVM_REG_SIZE_U64 | KVM_REG_RISCV_TIMER | KVM_REG_RISCV_TIMER_REG(name))
#define ISA_EXT_REG(id) (KVM_REG_RISCV | KVM_REG_SIZE_U64 | KVM_REG_RISCV_ISA_EXT | (id))

static void set_reg(uint64_t id, uint64_t value, const char *what) {
  struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)&value };
  if (ioctl(vcpu_fd, KVM_SET_ONE_REG, &r) < 0) die("KVM_SET_ONE_REG %s: %s", what, strerror(errno));
}

static int get_reg(uint64_t id, uint64_t *value) {
  struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)value };
  return ioctl(vcpu_fd, KVM_GET_ONE_REG, &r);
}

/* Reads a whole file into guest memory at `dst` (at most `cap` bytes); returns its size. */
static size_t load_file(const char *path, uint8_t *dst, size_t cap, const char *what) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) die("cannot open %s %s: %s", what, path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) die("cannot stat %s: %s", path, strerror(errno));
  if ((uint64_t)st.st_size > cap) die("%s %s (%lld bytes) does not fit in guest memory", what, path, (long long)st.st_size);
  size_t off = 0;
  while (off < (size_t)st.st_size) {
    ssize_t n = read(fd, dst + off, (size_t)st.st_size - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("cannot read %s: %s", path, n < 0 ? strerror(errno) : "short file");
    off += (size_t)n;
  }
  close(fd);
  return off;
}

/* The guest's riscv,isa string, from what KVM gives the vCPU (kvmtool's generate_cpu_nodes does
 * the same): single letters from the CONFIG isa bitmap in canonical order, then the multi-letter
 * extensions the ISA_EXT registers report enabled. */
static void guest_isa(char *out, size_t cap) {
  uint64_t isa = 0;
  if (get_reg(CONFIG_REG(isa), &isa) < 0) die("KVM_GET_ONE_REG config.isa: %s", strerror(errno));
  size_t n = (size_t)snprintf(out, cap, "rv64");
  for (const char *p = "imafdqc"; *p; p++)
    if (isa & (1ULL << (*p - 'a'))) out[n++] = *p;
  out[n] = 0;
  static const struct { int id; const char *name; } multi[] = {
    { KVM_RISCV_ISA_EXT_SSTC, "sstc" }, { KVM_RISCV_ISA_EXT_SVINVAL, "svinval" },
    { KVM_RISCV_ISA_EXT_SVPBMT, "svpbmt" }, { KVM_RISCV_ISA_EXT_ZICBOM, "zicbom" },
    { KVM_RISCV_ISA_EXT_ZIHINTPAUSE, "zihintpause" },
  };
  for (size_t i = 0; i < sizeof multi / sizeof multi[0]; i++) {
    uint64_t on = 0;
    /* zicbom would also need riscv,cbom-block-size: leave it out of the guest's view */
    if (multi[i].id == KVM_RISCV_ISA_EXT_ZICBOM) continue;
    if (get_reg(ISA_EXT_REG(multi[i].id), &on) == 0 && on)
      n += (size_t)snprintf(out + n, cap - n, "_%s", multi[i].name);
  }
}

/* The device tree for a one-hart Linux guest: memory, one cpu with its riscv,cpu-intc, /chosen
 * (bootargs, initrd) and the test device. No PLIC: the guest needs no external interrupts. */
static size_t build_dtb(uint8_t *out, size_t cap, uint64_t ram_size, const char *bootargs,
                        uint64_t initrd_start, uint64_t initrd_end, uint32_t timebase, const char *isa, int vcpus) {
  static struct fdt f;
  memset(&f, 0, sizeof f);
  uint64_t v[2];
  fdt_begin(&f, "");
  fdt_prop_u32(&f, "#address-cells", 2);
  fdt_prop_u32(&f, "#size-cells", 2);
  fdt_prop_str(&f, "compatible", "linux,dummy-virt");
  fdt_prop_str(&f, "model", "cyclevisor kvm-vmm");

  fdt_begin(&f, "chosen");
  fdt_prop_str(&f, "bootargs", bootargs);
  if (initrd_end > initrd_start) {
    v[0] = initrd_start;
    fdt_prop_u64s(&f, "linux,initrd-start", v, 1);
    v[0] = initrd_end;
    fdt_prop_u64s(&f, "linux,initrd-end", v, 1);
  }
  fdt_end(&f);

  fdt_begin(&f, "memory@80000000");
  fdt_prop_str(&f, "device_type", "memory");
  v[0] = RAM_BASE;
  v[1] = ram_size;
  fdt_prop_u64s(&f, "reg", v, 2);
  fdt_end(&f);

  fdt_begin(&f, "cpus");
  fdt_prop_u32(&f, "#address-cells", 1);
  fdt_prop_u32(&f, "#size-cells", 0);
  fdt_prop_u32(&f, "timebase-frequency", timebase);
  for (int i = 0; i < vcpus; i++) {
    char name[16];
    snprintf(name, sizeof name, "cpu@%d", i);
    fdt_begin(&f, name);
    fdt_prop_str(&f, "device_type", "cpu");
    fdt_prop_u32(&f, "reg", (uint32_t)i);
    fdt_prop_str(&f, "status", "okay");
    fdt_prop_str(&f, "compatible", "riscv");
    fdt_prop_str(&f, "riscv,isa", isa);
    fdt_prop_str(&f, "mmu-type", "riscv,sv39");
    fdt_begin(&f, "interrupt-controller");
    fdt_prop_u32(&f, "#interrupt-cells", 1);
    fdt_prop_empty(&f, "interrupt-controller");
    fdt_prop_str(&f, "compatible", "riscv,cpu-intc");
    fdt_prop_u32(&f, "phandle", (uint32_t)i + 1);
    fdt_end(&f);
    fdt_end(&f);
  }
  fdt_end(&f);

  fdt_begin(&f, "soc");
  fdt_prop_u32(&f, "#address-cells", 2);
  fdt_prop_u32(&f, "#size-cells", 2);
  fdt_prop_str(&f, "compatible", "simple-bus");
  fdt_prop_empty(&f, "ranges");
  fdt_begin(&f, "test@10000000");
  fdt_prop_str(&f, "compatible", "cyclevisor,vmm-test");
  v[0] = TESTDEV_BASE;
  v[1] = TESTDEV_SIZE;
  fdt_prop_u64s(&f, "reg", v, 2);
  fdt_end(&f);
  fdt_end(&f);

  fdt_end(&f);
  return fdt_finish(&f, out, cap);
}

/* ---------------------------------------------------------------------------------------------
 * The test device behind KVM_EXIT_MMIO
 * ------------------------------------------------------------------------------------------- */
static uint64_t test_scratch, test_accesses;

static void serve_mmio(struct kvm_run *run) {
  uint64_t addr = run->mmio.phys_addr;
  uint32_t len = run->mmio.len;
  test_accesses++;
  if (addr < TESTDEV_BASE || addr + len > TESTDEV_BASE + TESTDEV_SIZE || len > 8) {
    /* Nothing there: reads return zero, writes are dropped (as on a bus with no device). */
    say("unhandled MMIO %s at 0x%llx (%u bytes)", run->mmio.is_write ? "write" : "read", (unsigned long long)addr, len);
    if (!run->mmio.is_write) memset(run->mmio.data, 0, sizeof run->mmio.data);
    return;
  }
  uint64_t off = addr - TESTDEV_BASE, reg = off & ~7ULL, shift = (off & 7) * 8;
  if (run->mmio.is_write) {
    uint64_t val = 0;
    memcpy(&val, run->mmio.data, len); /* little-endian host and guest */
    if (reg == 0) {
      uint64_t mask = len == 8 ? ~0ULL : ((1ULL << (8 * len)) - 1) << shift;
      test_scratch = (test_scratch & ~mask) | ((val << shift) & mask);
    }
  } else {
    uint64_t val = 0;
    switch (reg) {
      case 0x0: val = test_scratch; break;
      case 0x8: val = TESTDEV_MAGIC; break;
      case 0x10: val = test_scratch ^ TESTDEV_MAGIC; break;
      case 0x18: val = test_accesses; break;
    }
    val >>= shift;
    memcpy(run->mmio.data, &val, len);
  }
}

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */
static void usage(void) {
  fputs("usage: kvm-vmm --bin FILE | --kernel IMAGE [--initrd FILE] [--append CMDLINE] [--vcpus N]  [--mem MiB]\n", stderr);
  exit(2);
}

struct vcpu {
  int id;
  int fd;
  struct kvm_run *run;
  pthread_t thread;
  volatile sig_atomic_t dump; /* set by the watchdog: print the registers at the next EINTR */
};

static int dump_every;
static int nvcpus;
static struct vcpu *vcpu_table;

static void on_sigusr1(int sig) { (void)sig; /* only interrupts KVM_RUN (EINTR) */ }

#define CSR_REG(name) (KVM_REG_RISCV | KVM_REG_SIZE_U64 | KVM_REG_RISCV_CSR | KVM_REG_RISCV_CSR_REG(name))

/* --dump-every: where each vCPU is (for a guest that hangs). Runs on the vCPU's own thread, the
 * only one allowed to use its fd while it is not in KVM_RUN. */
static void dump_vcpu(struct vcpu *v) {
  static const struct { const char *name; uint64_t id; } regs[] = {
    { "pc", CORE_REG(regs.pc) }, { "ra", CORE_REG(regs.ra) }, { "sp", CORE_REG(regs.sp) },
    { "a0", CORE_REG(regs.a0) }, { "a7", CORE_REG(regs.a7) }, { "mode", CORE_REG(mode) },
    { "sstatus", CSR_REG(sstatus) }, { "sie", CSR_REG(sie) }, { "sip", CSR_REG(sip) },
    { "stvec", CSR_REG(stvec) }, { "sepc", CSR_REG(sepc) }, { "scause", CSR_REG(scause) },
    { "stval", CSR_REG(stval) }, { "satp", CSR_REG(satp) }, { "timer.compare", TIMER_REG(compare) },
    { "timer.time", TIMER_REG(time) },
  };
  char line[1024];
  size_t n = (size_t)snprintf(line, sizeof line, "vmm: vCPU %d:", v->id);
  for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
    uint64_t val = 0;
    struct kvm_one_reg r = { .id = regs[i].id, .addr = (uint64_t)(uintptr_t)&val };
    if (ioctl(v->fd, KVM_GET_ONE_REG, &r) < 0) n += (size_t)snprintf(line + n, sizeof line - n, " %s=?", regs[i].name);
    else n += (size_t)snprintf(line + n, sizeof line - n, " %s=%llx", regs[i].name, (unsigned long long)val);
  }
  con_flush();
  printf("%s\n", line);
  fflush(stdout);
}

static void *watchdog(void *arg) {
  (void)arg;
  for (;;) {
    sleep((unsigned)dump_every);
    for (int i = 0; i < nvcpus; i++) {
      vcpu_table[i].dump = 1;
      pthread_kill(vcpu_table[i].thread, SIGUSR1);
    }
  }
  return NULL;
}

static unsigned long exits, sbi_exits, mmio_exits;

/* One vCPU's exit loop. Returns only by ending the process (guest shutdown or error). */
static void *vcpu_loop(void *arg) {
  struct vcpu *v = arg;
  struct kvm_run *run = v->run;
  for (;;) {
    if (ioctl(v->fd, KVM_RUN, 0) < 0) {
      if (errno == EINTR && v->dump) {
        v->dump = 0;
        pthread_mutex_lock(&lock);
        dump_vcpu(v);
        pthread_mutex_unlock(&lock);
        continue;
      }
      if (errno == EINTR || errno == EAGAIN) continue;
      die("vCPU %d: KVM_RUN: %s", v->id, strerror(errno));
    }
    pthread_mutex_lock(&lock);
    exits++;
    switch (run->exit_reason) {
      case KVM_EXIT_RISCV_SBI:
        sbi_exits++;
        run->riscv_sbi.ret[0] = 0;
        run->riscv_sbi.ret[1] = 0;
        switch (run->riscv_sbi.extension_id) {
          case SBI_EXT_0_1_CONSOLE_PUTCHAR:
            con_putc((unsigned char)run->riscv_sbi.args[0]);
            break;
          case SBI_EXT_0_1_CONSOLE_GETCHAR: {
            /* Non-blocking: the guest polls (hvc_sbi). Nothing typed -> -1. */
            con_flush();
            unsigned char c;
            int fl = fcntl(0, F_GETFL);
            fcntl(0, F_SETFL, fl | O_NONBLOCK);
            ssize_t n = read(0, &c, 1);
            fcntl(0, F_SETFL, fl);
            run->riscv_sbi.ret[0] = n == 1 ? c : (unsigned long)-1L;
            break;
          }
          default:
            run->riscv_sbi.ret[0] = (unsigned long)SBI_ERR_NOT_SUPPORTED;
        }
        break;
      case KVM_EXIT_MMIO:
        mmio_exits++;
        serve_mmio(run);
        break;
      case KVM_EXIT_SYSTEM_EVENT: {
        con_flush();
        uint32_t type = run->system_event.type;
        say("guest %s after %lu exits (%lu SBI, %lu MMIO)",
            type == KVM_SYSTEM_EVENT_SHUTDOWN ? "shut down" : type == KVM_SYSTEM_EVENT_RESET ? "asked for a reset" : "raised a system event",
            exits, sbi_exits, mmio_exits);
        /* exit() ends every vCPU thread with the process (KVM has already stopped the vCPUs). */
        exit(type == KVM_SYSTEM_EVENT_SHUTDOWN ? 0 : 1);
      }
      case KVM_EXIT_INTR:
        if (v->dump) {
          v->dump = 0;
          dump_vcpu(v);
        }
        break;
      default:
        con_flush();
        die("vCPU %d: unexpected exit reason %u after %lu exits", v->id, run->exit_reason, exits);
    }
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *bin = NULL, *kernel = NULL, *initrd = NULL, *append = "console=hvc0";
  uint64_t mem_mib = 128;
  int vcpus = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    if (!strcmp(a, "--bin")) bin = argv[++i];
    else if (!strcmp(a, "--kernel")) kernel = argv[++i];
    else if (!strcmp(a, "--initrd")) initrd = argv[++i];
    else if (!strcmp(a, "--append")) append = argv[++i];
    else if (!strcmp(a, "--mem")) mem_mib = strtoull(argv[++i], NULL, 0);
    else if (!strcmp(a, "--vcpus")) vcpus = atoi(argv[++i]);
    else if (!strcmp(a, "--dump-every")) dump_every = atoi(argv[++i]);
    else usage();
  }
  if ((bin == NULL) == (kernel == NULL) || mem_mib < 16 || mem_mib > 2048 || vcpus < 1 || vcpus > MAX_VCPUS || (bin && vcpus != 1))
    usage();
  const uint64_t ram_size = mem_mib << 20;

  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("cannot open /dev/kvm: %s", strerror(errno));
  int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION) die("KVM API version %d, expected %d", api, KVM_API_VERSION);

  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM: %s", strerror(errno));

  uint8_t *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (ram == MAP_FAILED) die("cannot allocate %llu MiB of guest memory: %s", (unsigned long long)mem_mib, strerror(errno));
  struct kvm_userspace_memory_region region = {
    .slot = 0, .flags = 0, .guest_phys_addr = RAM_BASE, .memory_size = ram_size, .userspace_addr = (uint64_t)(uintptr_t)ram,
  };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));

  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int)sizeof(struct kvm_run)) die("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
  static struct vcpu vc[MAX_VCPUS];
  for (int i = 0; i < vcpus; i++) {
    vcpu_fds[i] = ioctl(vm, KVM_CREATE_VCPU, i);
    if (vcpu_fds[i] < 0) die("KVM_CREATE_VCPU %d: %s", i, strerror(errno));
    vc[i].id = i;
    vc[i].fd = vcpu_fds[i];
    vc[i].run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fds[i], 0);
    if (vc[i].run == MAP_FAILED) die("cannot mmap struct kvm_run of vCPU %d: %s", i, strerror(errno));
    if (i > 0) {
      /* Secondary harts wait for SBI HSM hart_start (Linux's boot protocol: only the boot hart runs). */
      struct kvm_mp_state st = { .mp_state = KVM_MP_STATE_STOPPED };
      if (ioctl(vcpu_fds[i], KVM_SET_MP_STATE, &st) < 0) die("KVM_SET_MP_STATE vCPU %d: %s", i, strerror(errno));
    }
  }
  vcpu_fd = vcpu_fds[0];

  uint64_t entry, dtb_addr = 0;
  if (bin) {
    size_t n = load_file(bin, ram, ram_size, "program");
    entry = RAM_BASE;
    say("VS-mode program %s: %zu bytes at 0x%llx", bin, n, (unsigned long long)entry);
  } else {
    /* Image header (Documentation/riscv/boot-image-header.rst): image_size at offset 16. */
    uint8_t *kdst = ram + KERNEL_OFFSET;
    size_t ksize = load_file(kernel, kdst, ram_size - KERNEL_OFFSET, "kernel");
    if (ksize < 64 || memcmp(kdst + 56, "RSC\x05", 4) != 0) die("%s is not a RISC-V Linux Image", kernel);
    uint64_t image_size;
    memcpy(&image_size, kdst + 16, 8);
    if (image_size < ksize) image_size = ksize;
    entry = RAM_BASE + KERNEL_OFFSET;

    /* The device tree in the last 64 KiB of RAM, the initrd page-aligned just below it. */
    uint64_t dtb_off = ram_size - 0x10000, initrd_start = 0, initrd_end = 0;
    if (initrd) {
      struct stat st;
      if (stat(initrd, &st) < 0) die("cannot stat initrd %s: %s", initrd, strerror(errno));
      uint64_t ioff = (dtb_off - (uint64_t)st.st_size) & ~0xfffULL;
      if ((uint64_t)st.st_size > dtb_off || ioff < KERNEL_OFFSET + image_size)
        die("kernel (%llu bytes in memory) and initrd (%lld bytes) do not fit in %llu MiB",
            (unsigned long long)image_size, (long long)st.st_size, (unsigned long long)mem_mib);
      size_t isize = load_file(initrd, ram + ioff, dtb_off - ioff, "initrd");
      initrd_start = RAM_BASE + ioff;
      initrd_end = initrd_start + isize;
    } else if (KERNEL_OFFSET + image_size > dtb_off) {
      die("kernel (%llu bytes in memory) does not fit in %llu MiB", (unsigned long long)image_size, (unsigned long long)mem_mib);
    }
    uint64_t freq = 0;
    if (get_reg(TIMER_REG(frequency), &freq) < 0 || freq == 0 || freq > 0xffffffffULL)
      die("cannot read the vCPU timer frequency: %s", strerror(errno));
    char isa[128];
    guest_isa(isa, sizeof isa);
    size_t dtb_size = build_dtb(ram + dtb_off, 0x10000, ram_size, append, initrd_start, initrd_end, (uint32_t)freq, isa, vcpus);
    dtb_addr = RAM_BASE + dtb_off;
    say("Linux %s: %zu bytes at 0x%llx, initrd 0x%llx-0x%llx, dtb %zu bytes at 0x%llx, %d vCPU%s, isa %s, timebase %llu Hz",
        kernel, ksize, (unsigned long long)entry, (unsigned long long)initrd_start, (unsigned long long)initrd_end,
        dtb_size, (unsigned long long)dtb_addr, vcpus, vcpus == 1 ? "" : "s", isa, (unsigned long long)freq);
  }

  /* Linux RISC-V boot protocol: a0 = hart id, a1 = device tree; pc = entry; S-mode (VS). */
  set_reg(CORE_REG(regs.pc), entry, "pc");
  set_reg(CORE_REG(regs.a0), 0, "a0");
  set_reg(CORE_REG(regs.a1), dtb_addr, "a1");
  set_reg(CORE_REG(mode), KVM_RISCV_MODE_S, "mode");

  /* vCPU 0 runs on this thread, the others on their own. */
  nvcpus = vcpus;
  vcpu_table = vc;
  vc[0].thread = pthread_self();
  for (int i = 1; i < vcpus; i++) {
    if (pthread_create(&vc[i].thread, NULL, vcpu_loop, &vc[i]) != 0) die("cannot start the thread of vCPU %d", i);
  }
  if (dump_every > 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1; /* no SA_RESTART: KVM_RUN returns EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, watchdog, NULL) != 0) die("cannot start the watchdog thread");
  }
  vcpu_loop(&vc[0]);
  return 1;
}
