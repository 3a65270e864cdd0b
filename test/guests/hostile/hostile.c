/*
 * hostile.c - a hostile VS-mode guest for cyclevisor's VMM (issue 10 scope 9:
 * isolation). It runs in a VM (2 vCPUs, RAM at 0x8000_0000) next to other
 * VMs and tries to reach memory that is not its own, to crash the VMM or to
 * hang the host:
 *
 *  (a) probes the guest-physical space with loads, stores, fetches, AMOs,
 *      LR/SC, compressed and misaligned accesses: every page around its RAM,
 *      every MMIO window, every GiB up to the Sv39x4 limit (2^41) and beyond,
 *      sparse samples of the whole 2^41 space; each fault is taken by its own
 *      trap handler and counted by cause;
 *  (b) drives every virtio-mmio device of its VM (blk, rng, console) with
 *      descriptors outside its memory, into MMIO, wrapping, huge lengths,
 *      loops, chains longer than the queue, indirect tables, bad avail
 *      indices, queue rings outside RAM;
 *  (c) builds VS-stage (Sv39) page tables mapping every GiB of the
 *      guest-physical space (superpages over everything, PPNs up to 2^44),
 *      PTEs with reserved bits, non-leaf PTEs pointing at MMIO and outside
 *      RAM, its own page tables mapped writable; hypervisor instructions and
 *      CSRs from VS-mode;
 *  (d) floods exits: SBI calls with garbage EIDs and arguments (HSM, RFENCE,
 *      IPI, DBCN with pointers outside memory), WFI, MMIO and timer storms,
 *      from both vCPUs.
 *
 * Everything it reads successfully outside its own RAM is kept in `seen[]`
 * (its memory), so a test can scan its memory for another VM's or the host's
 * data; everything it writes carries the marker "HOSTILE!". Every line it
 * prints is deterministic. It ends with "hostile: done" and an SBI shutdown.
 */
#include "rt.h"

#define MARK 0x21454c4954534f48UL /* "HOSTILE!" little-endian */
#define PAGE 4096UL
#define GiB (1UL << 30)

#define UART 0x10000000UL
#define PLIC 0x0c000000UL
#define VIRTIO0 0x10001000UL

static uint64_t ram_end;
static uint64_t rng_state = 0x1234567887654321UL;
static uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

/*
 * Every access that did not trap: {guest-physical address it reached, size | op << 8 | store << 16,
 * value}. The test checks each one is inside its RAM or a device of its VM, and scans the whole
 * of its memory (this log included) for other VMs' and the host's data.
 */
#define SEEN_MAX 32768
uint64_t seen[SEEN_MAX][3]; /* global: kept, and found by the test through the symbol table */
unsigned seen_n;
static uint64_t seen_dropped;
/* The accesses below are virtual; gpa = va + gpa_delta (0 without VS-stage paging). */
static uint64_t gpa_delta;
static int in_ram(uint64_t a, uint64_t len) { return a >= RAM_BASE && a + len <= ram_end && a + len >= a; }

/* Per-section statistics. */
static struct {
  uint64_t accesses, ok, by_cause[24];
} st;

static void section_begin(void) {
  st.accesses = st.ok = 0;
  for (int i = 0; i < 24; i++) st.by_cause[i] = 0;
}
static void section_end(const char *name) {
  puts_(name);
  puts_(": accesses ");
  put_dec(st.accesses);
  puts_(" ok ");
  put_dec(st.ok);
  for (int i = 0; i < 24; i++)
    if (st.by_cause[i]) {
      puts_(" c");
      put_dec(i);
      putc_('=');
      put_dec(st.by_cause[i]);
    }
  putc_('\n');
}

enum { OP_LD, OP_LW, OP_LBU, OP_SD, OP_SW, OP_SB, OP_CLD, OP_CSD, OP_AMOADD, OP_AMOSWAP, OP_LR, OP_SC, OP_FETCH,
       OP_LD_MIS, OP_SD_MIS, OP_LHU_MIS, OP_COUNT };

/* One access; returns 1 if it did not trap. */
static int access1(uint64_t a, int op) {
  uint64_t v = 0, ea = a, size = 8;
  int store = 0;
  /* Never jump into its own RAM (it would run whatever is there). */
  if (op == OP_FETCH && a + gpa_delta >= RAM_BASE - 8 && a + gpa_delta < ram_end) return 0;
  trap_cause = -1;
  switch (op) {
    case OP_LD: v = probe_ld(a); break;
    case OP_LW: v = probe_lw(a); size = 4; break;
    case OP_LBU: v = probe_lbu(a); size = 1; break;
    case OP_SD: probe_sd(a, MARK); store = 1; break;
    case OP_SW: probe_sw(a, (uint32_t)MARK); size = 4; store = 1; break;
    case OP_SB: probe_sb(a, 'H'); size = 1; store = 1; break;
    case OP_CLD: ea = a & ~7UL; v = probe_cld(ea); break;
    case OP_CSD: ea = a & ~7UL; probe_csd(ea, MARK); store = 1; break;
    case OP_AMOADD: ea = a & ~7UL; v = probe_amoadd_d(ea, 1); store = 1; break;
    case OP_AMOSWAP: ea = a & ~3UL; v = probe_amoswap_w(ea, (uint32_t)MARK); size = 4; store = 1; break;
    case OP_LR: ea = a & ~7UL; v = probe_lr_d(ea); break;
    case OP_SC: ea = a & ~7UL; v = probe_sc_d(ea, MARK); store = 1; break; /* v != 0: failed, nothing stored */
    case OP_FETCH: probe_fetch(a); size = 2; break;
    case OP_LD_MIS: ea = a + 1; v = probe_ld(ea); break;
    case OP_SD_MIS: ea = a + 3; probe_sd(ea, MARK); store = 1; break;
    case OP_LHU_MIS: ea = a + 1; v = probe_lhu(ea); size = 2; break;
  }
  st.accesses++;
  if (trap_cause >= 0) {
    if (trap_cause < 24) st.by_cause[trap_cause]++;
    return 0;
  }
  st.ok++;
  if (seen_n < SEEN_MAX) {
    seen[seen_n][0] = ea + gpa_delta;
    seen[seen_n][1] = size | (uint64_t)op << 8 | (uint64_t)store << 16;
    seen[seen_n][2] = v;
    seen_n++;
  } else seen_dropped++;
  return 1;
}

/* Every op at a (never inside its own RAM: a store there would hit its own code or data). */
static void probe_all(uint64_t a, int ops) {
  if (in_ram(a & ~7UL, 16)) return;
  for (int op = 0; op < ops; op++) access1(a, op);
}

/* Find the end of RAM: the first page above the image that faults. */
static void find_ram_end(void) {
  extern char _end[];
  uint64_t a = ((uint64_t)_end + PAGE - 1) & ~(PAGE - 1);
  for (;; a += PAGE) {
    trap_cause = -1;
    probe_ld(a);
    if (trap_cause >= 0) break;
  }
  ram_end = a;
  puts_("ram: ");
  put_hex(RAM_BASE);
  puts_(" - ");
  put_hex(ram_end);
  putc_('\n');
}

/* ------------------------------------------------------------------ (a) guest-physical probes */

static void probe_gpa(void) {
  /* Every page below RAM (1 MiB) and above it (8 MiB: where a neighbour's frames would be if the
   * VMM mapped guest-physical = host-physical), all ops at the first pages, a few at the rest. */
  section_begin();
  for (uint64_t a = RAM_BASE - (1UL << 20); a < RAM_BASE; a += PAGE) probe_all(a, a >= RAM_BASE - 16 * PAGE ? OP_COUNT : 4);
  section_end("ram-below");
  section_begin();
  for (uint64_t a = ram_end, i = 0; a < ram_end + (8UL << 20); a += PAGE, i++) probe_all(a, i < 16 ? OP_COUNT : 4);
  probe_all(ram_end - 4, OP_COUNT); /* straddles the end */
  probe_all(ram_end - 1, OP_COUNT);
  section_end("ram-above");

  /* MMIO windows of QEMU virt: every page, the ops a device can take (loads, 4-byte stores); the
   * finisher only at registers other than 0 (a write there would power the VM off). */
  section_begin();
  static const struct { uint64_t base, size; } win[] = {
    {0x1000, 0x1000},        /* boot ROM on QEMU: nothing here */
    {0x101000, 0x1000},      /* goldfish RTC */
    {0x2000000, 0x10000},    /* CLINT: not in a VM */
    {0x3000000, 0x10000},    /* PCIe PIO */
    {0x0c000000, 0x600000},  /* PLIC */
    {0x10000000, 0x1000},    /* UART */
    {0x10001000, 0x8000},    /* virtio-mmio slots */
    {0x30000000, 0x100000},  /* PCIe ECAM (QEMU): first MiB */
    {0x40000000, 0x100000},  /* PCIe MMIO (QEMU): first MiB */
  };
  for (unsigned w = 0; w < sizeof win / sizeof win[0]; w++)
    for (uint64_t a = win[w].base; a < win[w].base + win[w].size; a += PAGE) {
      access1(a + 4, OP_LW);
      access1(a + 8, OP_LD);
      access1(a + 1, OP_LBU);
      access1(a + 0x7f8, OP_FETCH);
      access1(a + 0x7fc, OP_AMOSWAP);
      access1(a + 0x7f0, OP_LR);
      if (w != 6) access1(a + 0xffc, OP_SW); /* not the virtio registers (QueueNotify etc. at low offsets) */
    }
  /* The finisher page: reads only, and a write of a value that is no command. */
  access1(0x100000, OP_LW);
  access1(0x100004, OP_LD);
  access1(0x100008, OP_SW);
  /* UART: every register offset and beyond it, misaligned too. */
  for (uint64_t o = 0; o < 0x110; o++) {
    access1(UART + o, OP_LBU);
    access1(UART + o, OP_LHU_MIS);
    access1(UART + o, OP_LD_MIS);
  }
  section_end("mmio");

  /* The low 4 GiB, every MiB (outside RAM). */
  section_begin();
  for (uint64_t a = 0; a < (4UL << 30); a += 1UL << 20) probe_all(a + 0x40, 5);
  section_end("low-4g");

  /* Every GiB from 4 GiB to the Sv39x4 limit (2^41), at an offset that aliases RAM_BASE + 2 MiB
   * (a VMM that dropped high bits would land in RAM), then beyond the limit. */
  section_begin();
  for (uint64_t g = 4; g < 2048; g++) probe_all((g << 30) + 0x200000 + (g & 0xff8), 4);
  static const uint64_t beyond[] = {
    1UL << 41, (1UL << 41) + RAM_BASE, (1UL << 41) - 8, (1UL << 42) + RAM_BASE, (1UL << 44) + RAM_BASE,
    (1UL << 52) + RAM_BASE, (1UL << 53) + RAM_BASE, (1UL << 56), (1UL << 63), (1UL << 63) + RAM_BASE,
    0xfffffffffffff000UL, 0xfffffffffffffff8UL, 0xffffffff80000000UL, 0x100000000UL + RAM_BASE,
    0x200000000UL + RAM_BASE, 0x8000000000UL + RAM_BASE, 0x4000000000UL, 0x7ffffffff8UL,
  };
  for (unsigned i = 0; i < sizeof beyond / sizeof beyond[0]; i++) probe_all(beyond[i], OP_COUNT);
  section_end("gstage-space");

  /* Sparse random samples of the whole 2^41 space, 8-byte aligned. */
  section_begin();
  for (int i = 0; i < 4096; i++) probe_all(rnd() & ((1UL << 41) - 8), 3);
  section_end("sparse-2^41");
}

/* ------------------------------------------------------------------ (b) virtio */

#define QN 8
struct vdesc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vavail { uint16_t flags, idx, ring[QN], used_event; };
struct vused { uint16_t flags, idx; struct { uint32_t id, len; } ring[QN]; uint16_t avail_event; };
static struct vdesc desc[QN] __attribute__((aligned(4096)));
static struct vavail avail __attribute__((aligned(4096)));
static struct vused used __attribute__((aligned(4096)));
static struct vdesc itable[64] __attribute__((aligned(4096)));
static uint8_t hdr[16] __attribute__((aligned(16)));
static uint8_t sink[8192] __attribute__((aligned(4096)));
static uint8_t status_byte;
/* Huge-length requests point here: virtio-rng fills up to 64 KiB of it (its memory, as asked). */
static uint8_t big[128 * 1024] __attribute__((aligned(4096)));

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

static volatile uint32_t *vr(int slot, unsigned off) { return (volatile uint32_t *)(VIRTIO0 + 0x1000UL * slot + off); }

static void memset_(void *p, int c, uint64_t n) {
  uint8_t *b = p;
  while (n--) *b++ = (uint8_t)c;
}

/* Reset, negotiate every offered feature, set up queue 0 at (d, a, u) with QN entries. */
static void vsetup(int slot, uint64_t d, uint64_t a, uint64_t u) {
  *vr(slot, 0x70) = 0;
  *vr(slot, 0x70) = 1;
  *vr(slot, 0x70) = 3;
  for (int w = 0; w < 2; w++) {
    *vr(slot, 0x14) = w;
    uint32_t f = *vr(slot, 0x10);
    *vr(slot, 0x24) = w;
    *vr(slot, 0x20) = f;
  }
  *vr(slot, 0x70) = 0xb;
  *vr(slot, 0x30) = 0;
  *vr(slot, 0x38) = QN;
  *vr(slot, 0x80) = (uint32_t)d;
  *vr(slot, 0x84) = (uint32_t)(d >> 32);
  *vr(slot, 0x90) = (uint32_t)a;
  *vr(slot, 0x94) = (uint32_t)(a >> 32);
  *vr(slot, 0xa0) = (uint32_t)u;
  *vr(slot, 0xa4) = (uint32_t)(u >> 32);
  *vr(slot, 0x44) = 1;
  *vr(slot, 0x70) = 0xf;
}

static void vring_clear(void) {
  memset_(desc, 0, sizeof desc);
  memset_(&avail, 0, sizeof avail);
  memset_(&used, 0, sizeof used);
  memset_(itable, 0, sizeof itable);
  memset_(sink, 0xaa, sizeof sink);
  status_byte = 0xee;
}

static void vkick_report(int slot, int id, const char *name) {
  __asm__ volatile("fence" ::: "memory");
  *vr(slot, 0x50) = 0;
  /* Wait: virtio-blk completes ~1000 VM cycles after the kick. */
  for (int i = 0; i < 4000 && *(volatile uint16_t *)&used.idx == 0; i++) __asm__ volatile("");
  uint32_t s = *vr(slot, 0x70);
  uint32_t isr = *vr(slot, 0x60);
  *vr(slot, 0x64) = isr;
  int sink_changed = 0;
  for (unsigned i = 0; i < sizeof sink; i++) sink_changed += sink[i] != 0xaa;
  puts_("virtio slot ");
  put_dec(slot);
  puts_(" id ");
  put_dec(id);
  putc_(' ');
  puts_(name);
  puts_(": status ");
  put_hex(s);
  puts_(" used ");
  put_dec(*(volatile uint16_t *)&used.idx);
  puts_(" len ");
  put_dec(used.ring[0].len);
  puts_(" sink ");
  put_dec(sink_changed);
  puts_(" st ");
  put_hex(status_byte);
  putc_('\n');
}

/* A request whose data buffer is (addr, len): blk IN (the device writes it), rng/console the one buffer. */
static void make_req(int id, uint64_t addr, uint32_t len, int out) {
  if (id == 2) {
    hdr[0] = out ? 1 : 0;
    for (int i = 1; i < 16; i++) hdr[i] = 0;
    desc[0] = (struct vdesc){(uint64_t)hdr, 16, F_NEXT, 1};
    desc[1] = (struct vdesc){addr, len, (uint16_t)(F_NEXT | (out ? 0 : F_WRITE)), 2};
    desc[2] = (struct vdesc){(uint64_t)&status_byte, 1, F_WRITE, 0};
  } else {
    desc[0] = (struct vdesc){addr, len, (uint16_t)(id == 3 && out ? 0 : F_WRITE), 0};
  }
  avail.ring[0] = 0;
  avail.idx = 1;
}

static void virtio_case(int slot, int id, const char *name, uint64_t addr, uint32_t len, int out) {
  vring_clear();
  vsetup(slot, (uint64_t)desc, (uint64_t)&avail, (uint64_t)&used);
  make_req(id, addr, len, out);
  vkick_report(slot, id, name);
}

static void virtio_attacks(int slot, int id) {
  uint64_t S = (uint64_t)sink;
  /* Buffers outside the VM's memory: the device must not read or write them. */
  virtio_case(slot, id, "good", S, 512, 0);
  virtio_case(slot, id, "below-ram", RAM_BASE - 512, 512, 0);
  virtio_case(slot, id, "past-end", ram_end, 512, 0);
  virtio_case(slot, id, "straddle-end", ram_end - 256, 512, 0);
  virtio_case(slot, id, "uart", UART, 512, 0);
  virtio_case(slot, id, "plic", PLIC, 512, 0);
  virtio_case(slot, id, "zero", 0, 512, 0);
  virtio_case(slot, id, "alias-4g", S + (1UL << 32), 512, 0);
  virtio_case(slot, id, "alias-2^41", S + (1UL << 41), 512, 0);
  virtio_case(slot, id, "alias-2^53", S + (1UL << 53), 512, 0);
  virtio_case(slot, id, "alias-2^63", S + (1UL << 63), 512, 0);
  virtio_case(slot, id, "wrap-2^64", 0xfffffffffffffe00UL, 0x400, 0);
  virtio_case(slot, id, "wrap-2^53", (1UL << 53) - 256, 512, 0);
  virtio_case(slot, id, "huge-len", (uint64_t)big, 0xffffffffu, 0);
  virtio_case(slot, id, "huge-len-2", ram_end - 0x100000, 0xfff00000u, 0);
  virtio_case(slot, id, "out-past-end", ram_end, 512, 1);
  virtio_case(slot, id, "out-uart", UART, 512, 1);
  virtio_case(slot, id, "out-huge", (uint64_t)big, 0xfffff000u, 1);

  /* Descriptor loops and chains longer than the queue. */
  vring_clear();
  vsetup(slot, (uint64_t)desc, (uint64_t)&avail, (uint64_t)&used);
  desc[0] = (struct vdesc){S, 16, F_NEXT, 1};
  desc[1] = (struct vdesc){S + 16, 16, F_NEXT, 0};
  avail.idx = 1;
  vkick_report(slot, id, "loop-2");
  vring_clear();
  vsetup(slot, (uint64_t)desc, (uint64_t)&avail, (uint64_t)&used);
  for (int i = 0; i < QN; i++) desc[i] = (struct vdesc){S + 16 * i, 16, F_NEXT | F_WRITE, (uint16_t)((i + 1) % QN)};
  avail.idx = 1;
  vkick_report(slot, id, "chain-longer-than-queue");
  vring_clear();
  vsetup(slot, (uint64_t)desc, (uint64_t)&avail, (uint64_t)&used);
  desc[0] = (struct vdesc){S, 16, F_NEXT, 200};
  avail.idx = 1;
  vkick_report(slot, id, "next-out-of-range");
  vring_clear();
  vsetup(slot, (uint64_t)desc, (uint64_t)&avail, (uint64_t)&used);
  make_req(id, S, 512, 0);
  avail.ring[0] = 1000;
  vkick_report(slot, id, "head-out-of-range");
  vring_clear();
  vsetup(slot, (uint64_t)desc, (uint64_t)&avail, (uint64_t)&used);
  make_req(id, S, 512, 0);
  avail.idx = 100;
  vkick_report(slot, id, "avail-idx-ahead");
  vring_clear();
  vsetup(slot, (uint64_t)desc, (uint64_t)&avail, (uint64_t)&used);
  make_req(id, S, 512, 0);
  avail.idx = 0xffff;
  vkick_report(slot, id, "avail-idx-behind");

  /* Indirect tables outside RAM, in MMIO, huge, looping, nested. */
  const struct { const char *name; uint64_t addr; uint32_t len; int fill; } ind[] = {
    {"indirect-past-end", 0, 64, 0},
    {"indirect-uart", UART, 64, 0},
    {"indirect-huge", 0, 0xfffffff0u, 1},
    {"indirect-loop", 0, 64, 2},
    {"indirect-nested", 0, 64, 3},
    {"indirect-to-outside", 0, 64, 4},
    {"indirect-odd-len", 0, 17, 1},
  };
  for (unsigned k = 0; k < sizeof ind / sizeof ind[0]; k++) {
    vring_clear();
    vsetup(slot, (uint64_t)desc, (uint64_t)&avail, (uint64_t)&used);
    uint64_t ta = ind[k].addr ? ind[k].addr : (uint64_t)itable;
    if (k == 0) ta = ram_end;
    for (int i = 0; i < 4; i++) itable[i] = (struct vdesc){S + 64 * i, 64, F_NEXT | F_WRITE, (uint16_t)(i + 1)};
    itable[3].flags = F_WRITE;
    if (ind[k].fill == 2) itable[3] = (struct vdesc){S, 64, F_NEXT | F_WRITE, 0};
    if (ind[k].fill == 3) itable[1] = (struct vdesc){(uint64_t)itable, 64, F_INDIRECT, 0};
    if (ind[k].fill == 4) itable[2].addr = ram_end + 0x1000;
    desc[0] = (struct vdesc){ta, ind[k].len, F_INDIRECT, 0};
    avail.idx = 1;
    vkick_report(slot, id, ind[k].name);
  }

  /* Queue rings outside RAM, in MMIO, straddling the end, with high address bits. */
  const struct { const char *name; uint64_t d, a, u; } rings[] = {
    {"desc-past-end", 0, 0, 0},
    {"avail-plic", 1, PLIC, 0},
    {"used-straddle-end", 2, 0, 0},
    {"desc-hi-bits", 3, 0, 0},
    {"used-uart", 4, 0, UART},
  };
  for (unsigned k = 0; k < sizeof rings / sizeof rings[0]; k++) {
    vring_clear();
    uint64_t d = (uint64_t)desc, a = (uint64_t)&avail, u = (uint64_t)&used;
    if (k == 0) d = ram_end;
    if (k == 1) a = rings[k].a;
    if (k == 2) u = ram_end - 4;
    if (k == 3) d |= 0xffffffff00000000UL;
    if (k == 4) u = rings[k].u;
    make_req(id, S, 512, 0);
    vsetup(slot, d, a, u);
    vkick_report(slot, id, rings[k].name);
  }

  /* Register garbage: bad widths, huge QueueSel / QueueNum, status bits, notify storms. */
  vring_clear();
  vsetup(slot, (uint64_t)desc, (uint64_t)&avail, (uint64_t)&used);
  *vr(slot, 0x30) = 1000;
  *vr(slot, 0x38) = 0xffffffffu;
  *vr(slot, 0x44) = 1;
  *vr(slot, 0x30) = 0;
  *vr(slot, 0x70) = 0xff;
  for (int i = 0; i < 500; i++) *vr(slot, 0x50) = (uint32_t)rnd();
  *(volatile uint8_t *)(VIRTIO0 + 0x1000UL * slot + 0x50) = 0;
  *(volatile uint64_t *)(VIRTIO0 + 0x1000UL * slot + 0x80) = (uint64_t)desc;
  for (unsigned o = 0x100; o < 0x200; o += 4) *vr(slot, o) = 0xffffffffu;
  for (unsigned o = 0x100; o < 0x200; o += 1) (void)*(volatile uint8_t *)(VIRTIO0 + 0x1000UL * slot + o);
  vkick_report(slot, id, "register-garbage");

  /* Still a working device after a reset? */
  virtio_case(slot, id, "good-after", S, 512, 0);
}

static void probe_virtio(void) {
  int n = 0;
  for (int slot = 0; slot < 8; slot++) {
    if (*vr(slot, 0) != 0x74726976) continue;
    uint32_t id = *vr(slot, 8);
    if (id == 0) continue;
    n++;
    virtio_attacks(slot, (int)id);
    *vr(slot, 0x70) = 0;
  }
  puts_("virtio devices attacked: ");
  put_dec(n);
  putc_('\n');
}

/* ------------------------------------------------------------------ (c) VS-stage page tables */

static uint64_t root[512] __attribute__((aligned(4096)));
static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l0[512] __attribute__((aligned(4096)));
static uint64_t l1b[512] __attribute__((aligned(4096)));
static uint64_t l0b[512] __attribute__((aligned(4096)));

#define PTE_V 1UL
#define PTE_R 2UL
#define PTE_W 4UL
#define PTE_X 8UL
#define PTE_U 16UL
#define PTE_A 64UL
#define PTE_D 128UL
#define LEAF (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define PTE(pa, f) ((((pa) >> 12) << 10) | (f))
/* VA of root slot s (sign-extended Sv39). */
#define SLOT_VA(s) ((s) < 256 ? (uint64_t)(s) << 30 : 0xffffff8000000000UL | ((uint64_t)(s) << 30))

static void vs_probe(const char *name, uint64_t va, int ops) {
  (void)name;
  for (int op = 0; op < ops; op++) access1(va, op);
}

static void probe_vs_stage(void) {
  /* Every root slot a 1 GiB leaf: identity for the low 256 GiB (slot 2 holds its own RAM), the
   * upper half onto GPAs 256..511 GiB. */
  for (int s = 0; s < 512; s++) root[s] = PTE((uint64_t)s << 30, LEAF);
  sfence_all();
  csr_write(satp, (8UL << 60) | ((uint64_t)root >> 12));
  sfence_all();
  puts_("vs-stage on: satp ");
  put_hex(csr_read(satp));
  putc_('\n');

  section_begin();
  for (int s = 0; s < 512; s++) {
    if (s == 2) continue;
    gpa_delta = ((uint64_t)s << 30) - SLOT_VA(s);
    vs_probe("gig", SLOT_VA(s) + 0x200000 + 8 * s, 4);
  }
  gpa_delta = 0;
  /* Slot 2 past its RAM. */
  vs_probe("gig", SLOT_VA(2) + (ram_end - RAM_BASE), OP_COUNT);
  section_end("vs-gigapages");

  /* Slot 3 remapped onto every GiB of the whole 2^44 GPA space reachable by a PPN (sparse above 2^41). */
  section_begin();
  for (uint64_t g = 0; g < (1UL << 14); g += (g < 2048 ? 1 : 1 + (rnd() & 1023))) {
    if (g == 2) continue;
    root[3] = PTE(g << 30, LEAF);
    sfence_all();
    gpa_delta = (g << 30) - SLOT_VA(3);
    vs_probe("remap", SLOT_VA(3) + 0x100000, 3);
  }
  gpa_delta = 0;
  root[3] = PTE(3UL << 30, LEAF);
  sfence_all();
  section_end("vs-remap-2^44");

  /* Malformed PTEs (reserved bits, W without R, misaligned superpages, U pages, A/D clear), each
   * mapping its scratch page `sink` through root[4] -> l1b -> l0b[1] (4 KiB) or l1b[2] (2 MiB). */
  section_begin();
  const uint64_t S = (uint64_t)sink;
  const uint64_t bad[] = {
    PTE(S, LEAF) | (1UL << 54),    /* reserved */
    PTE(S, LEAF) | (1UL << 63),    /* N without Svnapot */
    PTE(S, LEAF) | (3UL << 61),    /* PBMT without Svpbmt */
    PTE(S, PTE_V | PTE_W | PTE_A | PTE_D), /* W without R */
    PTE(S, LEAF | PTE_U),          /* U page from VS (SUM = 0) */
    PTE(S, PTE_V | PTE_R | PTE_W), /* A and D clear */
    PTE(0xfffffffffff000UL, LEAF), /* PPN all ones */
  };
  root[4] = PTE((uint64_t)l1b, PTE_V);
  l1b[0] = PTE((uint64_t)l0b, PTE_V);
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    l0b[1] = bad[i];
    sfence_all();
    gpa_delta = S - (SLOT_VA(4) + PAGE);
    section_begin();
    vs_probe("bad", SLOT_VA(4) + PAGE + 0x10, 4);
    puts_("  bad pte ");
    put_dec(i);
    puts_(": ok ");
    put_dec(st.ok);
    putc_('\n');
  }
  l1b[2] = PTE(S, LEAF); /* misaligned megapage */
  sfence_all();
  gpa_delta = S - (SLOT_VA(4) + (2UL << 21));
  section_begin();
  vs_probe("bad", SLOT_VA(4) + (2UL << 21) + 0x10, 4);
  puts_("  bad pte misaligned megapage: ok ");
  put_dec(st.ok);
  putc_('\n');
  gpa_delta = 0;
  root[4] = 0;
  sfence_all();

  /* Non-leaf PTEs whose next table is outside RAM or in MMIO: the walk itself faults. */
  section_begin();
  static const uint64_t tables[] = {0x10000000UL, 0x0c000000UL, 0x10001000UL, 0x101000UL, 0, 0x7ffff000UL,
                                    1UL << 41, (1UL << 44) - 4096};
  for (unsigned i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    root[5] = PTE(tables[i], PTE_V);
    sfence_all();
    vs_probe("walk", SLOT_VA(5) + 0x1234 * 8, OP_COUNT);
  }
  root[5] = PTE(ram_end, PTE_V); /* just past RAM */
  sfence_all();
  vs_probe("walk", SLOT_VA(5), OP_COUNT);
  section_end("vs-walk-outside-ram");

  /* Its own page tables mapped writable (allowed: its memory), then used to build a level-0 table
   * that maps pages of MMIO and past RAM through a 4 KiB-page path. */
  section_begin();
  root[6] = PTE((uint64_t)l1, PTE_V);
  l1[0] = PTE((uint64_t)root, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D) & ~0UL; /* not a valid megapage (misaligned): faults */
  l1[1] = PTE((uint64_t)l0, PTE_V);
  for (int i = 0; i < 512; i++) l0[i] = 0;
  l0[0] = PTE((uint64_t)root, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);  /* its root table, writable */
  l0[1] = PTE(UART, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);           /* its UART */
  l0[2] = PTE(ram_end, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D); /* past RAM */
  l0[3] = PTE(0x100000000UL + RAM_BASE, LEAF);                        /* alias of RAM + 4 GiB */
  l0[4] = PTE((1UL << 41) + RAM_BASE, LEAF);                          /* beyond Sv39x4 */
  sfence_all();
  uint64_t va = SLOT_VA(6) + (1UL << 21);
  /* Through the alias, point root[7] at the gigapage past its RAM and use it. */
  gpa_delta = (uint64_t)root - va;
  access1(va + 8 * 7, OP_LD);
  trap_cause = -1;
  probe_sd(va + 8 * 7, PTE(4UL << 30, LEAF));
  sfence_all();
  gpa_delta = (4UL << 30) - SLOT_VA(7);
  vs_probe("alias", SLOT_VA(7) + 0x10, 4);
  gpa_delta = UART - (va + PAGE);
  access1(va + PAGE + 5, OP_LBU); /* UART LSR through a 4 KiB mapping: allowed, its device */
  gpa_delta = ram_end - (va + 2 * PAGE);
  vs_probe("page", va + 2 * PAGE, OP_COUNT);
  gpa_delta = 0x100000000UL + RAM_BASE - (va + 3 * PAGE);
  vs_probe("page", va + 3 * PAGE, OP_COUNT);
  gpa_delta = (1UL << 41) + RAM_BASE - (va + 4 * PAGE);
  vs_probe("page", va + 4 * PAGE, OP_COUNT);
  gpa_delta = (uint64_t)root - SLOT_VA(6);
  vs_probe("mega", SLOT_VA(6), 4);
  gpa_delta = 0;
  section_end("vs-own-tables");

  csr_write(satp, 0);
  sfence_all();

  /* Hypervisor instructions and CSRs from VS-mode. */
  section_begin();
#define TRYCSR(n)                                     \
  do {                                                \
    extern uint64_t probe_csrr_##n(void);             \
    extern uint64_t probe_csrw_##n(uint64_t, uint64_t); \
    trap_cause = -1;                                  \
    probe_csrr_##n();                                 \
    st.accesses++;                                    \
    if (trap_cause >= 0) st.by_cause[trap_cause]++;   \
    else st.ok++;                                     \
    trap_cause = -1;                                  \
    probe_csrw_##n(0, ~0UL);                          \
    st.accesses++;                                    \
    if (trap_cause >= 0) st.by_cause[trap_cause]++;   \
    else st.ok++;                                     \
  } while (0)
  TRYCSR(0x300); TRYCSR(0x305); TRYCSR(0x3b0); TRYCSR(0x3a0); TRYCSR(0x600); TRYCSR(0x602);
  TRYCSR(0x680); TRYCSR(0x645); TRYCSR(0x200); TRYCSR(0x280); TRYCSR(0xf14); TRYCSR(0x7b0);
  const uint64_t hl[] = {RAM_BASE, ram_end, 0x10000000UL, 1UL << 41};
  for (int i = 0; i < 4; i++) {
    trap_cause = -1;
    probe_hlv_d(hl[i]);
    st.accesses++;
    if (trap_cause >= 0) st.by_cause[trap_cause]++; else st.ok++;
    trap_cause = -1;
    probe_hsv_d(hl[i], MARK);
    st.accesses++;
    if (trap_cause >= 0) st.by_cause[trap_cause]++; else st.ok++;
  }
  trap_cause = -1;
  probe_hfence_gvma();
  st.accesses++;
  if (trap_cause >= 0) st.by_cause[trap_cause]++; else st.ok++;
  trap_cause = -1;
  probe_hfence_vvma();
  st.accesses++;
  if (trap_cause >= 0) st.by_cause[trap_cause]++; else st.ok++;
  section_end("hyp-insns-csrs");
  {
    /* vstimecmp (stimecmp in VS with henvcfg.STCE): legal; switched off again. */
    extern uint64_t probe_csrw_0x14d(uint64_t, uint64_t);
    trap_cause = -1;
    probe_csrw_0x14d(0, ~0UL);
    puts_("stimecmp write: ");
    puts_(trap_cause < 0 ? "ok\n" : "trapped\n");
  }
}

/* ------------------------------------------------------------------ (d) exit floods */

static volatile uint64_t timer_count;
static volatile uint64_t timer_target;
static void timer_rearm(void) {
  timer_count++;
  if (timer_count < timer_target) sbi_call(SBI_EXT_TIME, 0, csr_time() + 1, 0, 0, 0, 0, 0);
  else sbi_call(SBI_EXT_TIME, 0, -1L, 0, 0, 0, 0, 0);
}

static volatile int secondary_done;

void secondary_main(void) {
  /* The second vCPU floods MMIO and SBI while the first one works. */
  uint64_t x = 0;
  for (int i = 0; i < 20000; i++) x += *(volatile uint8_t *)(UART + 5);
  for (int i = 0; i < 2000; i++) {
    uint64_t r = rnd();
    long eid = (long)(r & 0xffffffffu);
    if (eid == SBI_EXT_SRST || eid == SBI_EXT_HSM || (eid >= 0 && eid <= 8)) eid = 0x12345678;
    sbi_call(eid, (long)(r >> 40), (long)rnd(), (long)rnd(), (long)rnd(), 0, 0, 0);
  }
  (void)x;
  secondary_done = 1;
  __asm__ volatile("fence" ::: "memory");
  sbi_call(SBI_EXT_HSM, 1, 0, 0, 0, 0, 0, 0); /* hart_stop */
  for (;;) __asm__ volatile("wfi");
}

static void report_sbi(const char *name, struct sbiret r) {
  puts_(name);
  puts_(": error ");
  put_dec((uint64_t)-r.error);
  puts_(" value ");
  put_hex((uint64_t)r.value);
  putc_('\n');
}

static void floods(void) {
  /* SBI: garbage EIDs and FIDs (not the ones that end the VM on purpose). */
  uint64_t errors = 0;
  for (int i = 0; i < 3000; i++) {
    uint64_t r = rnd();
    long eid = (long)(r & 0xffffffffu);
    if (i & 1) eid = (long)(0x10 + (r & 7)); /* BASE and friends, garbage FIDs */
    if (eid == SBI_EXT_SRST || eid == SBI_EXT_HSM || eid == 8) continue;
    if (eid == 0) continue; /* legacy set_timer: later */
    struct sbiret s = sbi_call(eid, (long)(r >> 33), (long)rnd(), (long)rnd(), (long)rnd(), (long)rnd(), 0, 0);
    errors += s.error != 0;
  }
  puts_("sbi garbage: calls 3000 errors ");
  put_dec(errors);
  putc_('\n');

  /* HSM with bogus harts and states. */
  report_sbi("hsm start hart 2", sbi_call(SBI_EXT_HSM, 0, 2, RAM_BASE, 0, 0, 0, 0));
  report_sbi("hsm start hart 2^32", sbi_call(SBI_EXT_HSM, 0, 1L << 32, RAM_BASE, 0, 0, 0, 0));
  report_sbi("hsm start hart -1", sbi_call(SBI_EXT_HSM, 0, -1L, 0xdeadbeef000L, 0, 0, 0, 0));
  report_sbi("hsm start self", sbi_call(SBI_EXT_HSM, 0, 0, 0, 0, 0, 0, 0));
  report_sbi("hsm status hart -1", sbi_call(SBI_EXT_HSM, 2, -1L, 0, 0, 0, 0, 0));
  report_sbi("hsm suspend", sbi_call(SBI_EXT_HSM, 3, 0, 0, 0, 0, 0, 0));
  report_sbi("hsm fid 99", sbi_call(SBI_EXT_HSM, 99, 0, 0, 0, 0, 0, 0));
  /* RFENCE / IPI with huge masks and bases. */
  report_sbi("rfence mask ~0", sbi_call(SBI_EXT_RFNC, 1, -1L, 0, 0, -1L, 0, 0));
  report_sbi("rfence base ~0", sbi_call(SBI_EXT_RFNC, 1, -1L, -1L, 0, -1L, 0, 0));
  report_sbi("rfence base 2^63", sbi_call(SBI_EXT_RFNC, 2, 1, 1L << 63, 0, -1L, 7, 0));
  report_sbi("rfence hfence", sbi_call(SBI_EXT_RFNC, 3, 1, 0, 0, -1L, 0, 0));
  report_sbi("ipi mask ~0", sbi_call(SBI_EXT_IPI, 0, -1L, 0, 0, 0, 0, 0));
  report_sbi("ipi base -2", sbi_call(SBI_EXT_IPI, 0, 1, -2L, 0, 0, 0, 0));
  /* DBCN with buffers outside its memory, wrapping, huge. */
  report_sbi("dbcn write past end", sbi_call(SBI_EXT_DBCN, 0, 16, (long)ram_end, 0, 0, 0, 0));
  report_sbi("dbcn write straddle", sbi_call(SBI_EXT_DBCN, 0, 4096, (long)(ram_end - 16), 0, 0, 0, 0));
  report_sbi("dbcn write huge", sbi_call(SBI_EXT_DBCN, 0, -1L, (long)(ram_end - 0x1000), 0, 0, 0, 0));
  report_sbi("dbcn write hi", sbi_call(SBI_EXT_DBCN, 0, 16, (long)RAM_BASE, 1, 0, 0, 0));
  report_sbi("dbcn write wrap", sbi_call(SBI_EXT_DBCN, 0, 64, -16L, -1L, 0, 0, 0));
  report_sbi("dbcn write uart", sbi_call(SBI_EXT_DBCN, 0, 8, (long)UART, 0, 0, 0, 0));
  report_sbi("dbcn read past end", sbi_call(SBI_EXT_DBCN, 1, 16, (long)ram_end, 0, 0, 0, 0));
  report_sbi("dbcn read huge", sbi_call(SBI_EXT_DBCN, 1, -1L, -1L, -1L, 0, 0, 0));
  report_sbi("legacy getchar", sbi_call(2, 0, 0, 0, 0, 0, 0, 0));
  report_sbi("legacy send_ipi", sbi_call(4, 0, (long)ram_end, 0, 0, 0, 0, 0));
  report_sbi("legacy rfence", sbi_call(6, 0, (long)ram_end, 0, -1L, 0, 0, 0));

  /* The second vCPU joins: MMIO and SBI storms beside this one. */
  report_sbi("hsm start hart 1", sbi_call(SBI_EXT_HSM, 0, 1, (long)secondary_entry, 0x5a5a, 0, 0, 0));
  report_sbi("hsm start hart 1 again", sbi_call(SBI_EXT_HSM, 0, 1, (long)secondary_entry, 0, 0, 0, 0));

  /* MMIO storm: UART LSR and PLIC claim. */
  uint64_t x = 0;
  for (int i = 0; i < 30000; i++) x += *(volatile uint8_t *)(UART + 5);
  for (int i = 0; i < 10000; i++) x += *(volatile uint32_t *)(PLIC + 0x201004);
  puts_("mmio storm: done\n");

  /* Timer storm: an interrupt every tick, 3000 times. */
  timer_count = 0;
  timer_target = 3000;
  timer_hook = timer_rearm;
  csr_set(sie, 1UL << 5);
  sbi_call(SBI_EXT_TIME, 0, csr_time() + 1, 0, 0, 0, 0, 0);
  csr_set(sstatus, 1UL << 1);
  while (timer_count < timer_target) __asm__ volatile("");
  csr_clear(sstatus, 1UL << 1);
  puts_("timer storm: interrupts ");
  put_dec(timer_count);
  putc_('\n');
  /* set_timer in the past and legacy set_timer, many times. */
  for (int i = 0; i < 2000; i++) sbi_call(i & 1 ? 0 : SBI_EXT_TIME, 0, (long)(rnd() & 0xff), 0, 0, 0, 0, 0);

  /* WFI storm: a timer interrupt is pending and enabled (sie.STIE) but masked (sstatus.SIE = 0),
   * so every WFI exits and resumes at once. */
  sbi_call(SBI_EXT_TIME, 0, 0, 0, 0, 0, 0, 0);
  for (int i = 0; i < 3000; i++) do_wfi();
  puts_("wfi storm: done\n");

  /* Wait for the second vCPU to stop. */
  sbi_call(SBI_EXT_TIME, 0, -1L, 0, 0, 0, 0, 0);
  for (int i = 0; i < 1000000 && sbi_call(SBI_EXT_HSM, 2, 1, 0, 0, 0, 0, 0).value != 1; i++) {
  }
  puts_("secondary: ");
  puts_(secondary_done ? "stopped\n" : "still running\n");
  (void)x;

  /* A timer far in the future (2^62 ticks: past 2^64 cycles) and an RTC alarm armed at 2^64-1 ns
   * then cleared; then WFI until a near RTC alarm (PLIC source 11, S context 0 = VSEIP) wakes it:
   * the far timer must neither hang the VMM nor wake the vCPU. */
  timer_hook = 0;
  sbi_call(SBI_EXT_TIME, 0, 1L << 62, 0, 0, 0, 0, 0);
  volatile uint32_t *rtc = (volatile uint32_t *)0x101000UL;
  rtc[3] = 0xffffffffu; /* ALARM_HIGH */
  rtc[2] = 0xffffffffu; /* ALARM_LOW: arms */
  for (int i = 0; i < 1000; i++) __asm__ volatile("");
  rtc[5] = 1; /* CLEAR_ALARM */
  *(volatile uint32_t *)(PLIC + 4 * 11) = 1;
  *(volatile uint32_t *)(PLIC + 0x2000) = 1u << 11;
  *(volatile uint32_t *)(PLIC + 0x200000) = 0;
  uint64_t lo = rtc[0], hi = rtc[1];
  uint64_t alarm = ((hi << 32) | lo) + 200000; /* 200 us */
  rtc[4] = 1; /* IRQ_ENABLED */
  rtc[3] = (uint32_t)(alarm >> 32);
  rtc[2] = (uint32_t)alarm;
  csr_set(sie, 1UL << 9);
  do_wfi();
  uint32_t claim = *(volatile uint32_t *)(PLIC + 0x200004);
  *(volatile uint32_t *)(PLIC + 0x200004) = claim;
  rtc[7] = 1; /* CLEAR_INTERRUPT */
  rtc[4] = 0;
  csr_clear(sie, (1UL << 9) | (1UL << 5));
  sbi_call(SBI_EXT_TIME, 0, -1L, 0, 0, 0, 0, 0);
  puts_("far timer: woke by the rtc, claim ");
  put_dec(claim);
  putc_('\n');
}

int main(void) {
  puts_("hostile: start\n");
  find_ram_end();
  probe_gpa();
  probe_virtio();
  probe_vs_stage();
  floods();
  puts_("seen: ");
  put_dec(seen_n);
  puts_(" dropped ");
  put_dec(seen_dropped);
  putc_('\n');
  puts_("traps: unexpected ");
  put_dec(unexpected_traps);
  puts_(" interrupts ");
  put_dec(interrupts_taken);
  putc_('\n');
  puts_("hostile: done\n");
  return 0;
}
