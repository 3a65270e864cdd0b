/*
 * cyclevisor-c: a non-JavaScript host for core.wasm (docs/ABI.md), proof that the ABI is complete.
 *
 * core.wasm is turned into C by wasm2c (wabt); this file is the host a board would be: it
 * implements the module's imports (env.mmio_read / env.mmio_write; env.jit_compile is never called
 * here: no JIT is attached), loads a bare-metal RISC-V
 * ELF into guest RAM through the exported memory, drives run() with the control block of
 * include/cyclevisor_layout.h (generated from assembly/layout.ts: no offset is copied by hand), and
 * prints the guest's console output and the instruction and cycle counts.
 *
 * The board is the smallest useful subset of QEMU virt that test/guests/ programs need:
 *   0x0010_0000  SiFive test finisher   write 0x5555 = exit 0, (code << 16) | 0x3333 = exit code
 *   0x1000_0000  ns16550a UART (tx)     THR writes go to stdout; LSR reads 0x60 (THR empty)
 * Everything else outside RAM is an access fault for the guest (status 1), as on the JS board.
 *
 * Usage: cyclevisor-c PROGRAM.elf [MAX_INSNS]
 * stdout: the guest's output. stderr: "instret N", "cycles N", "exit N" lines.
 * Exit status: the guest's exit code; 124 when MAX_INSNS ran out; 3 stuck; 1 other errors; 2 bad input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "cyclevisor_layout.h"
#include "wasm-rt-impl.h"

#define UART_BASE 0x10000000u
#define UART_SIZE 0x100u
#define FINISHER_BASE 0x100000u

/* wasm2c passes this to every import call: the host's state. */
struct Z_env_instance_t {
  Z_core_instance_t* core;
  int exited;
  int exit_code;
};

static uint8_t* mem(Z_core_instance_t* c) { return Z_coreZ_memory(c)->data; }
static uint64_t ld64(Z_core_instance_t* c, uint32_t off) {
  uint64_t v;
  memcpy(&v, mem(c) + off, 8);
  return v;
}
static void st64(Z_core_instance_t* c, uint32_t off, uint64_t v) { memcpy(mem(c) + off, &v, 8); }
static void st32(Z_core_instance_t* c, uint32_t off, uint32_t v) { memcpy(mem(c) + off, &v, 4); }

/* env.mmio_read(addrLo, addrHi, size) -> status; the value goes to the C_MMIO_LO/HI mailbox. */
u32 Z_envZ_mmio_read(struct Z_env_instance_t* env, u32 lo, u32 hi, u32 size) {
  uint64_t addr = ((uint64_t)hi << 32) | lo;
  uint64_t v = 0;
  (void)size;
  if (addr >= UART_BASE && addr < UART_BASE + UART_SIZE) {
    if (addr - UART_BASE == 5) v = 0x60; /* LSR: THR empty, transmitter idle */
  } else {
    return CV_MMIO_ACCESS_FAULT;
  }
  st32(env->core, CV_C_MMIO_LO, (uint32_t)v);
  st32(env->core, CV_C_MMIO_HI, (uint32_t)(v >> 32));
  return CV_MMIO_OK;
}

/*
 * env.jit_compile(slot): the JIT tier's compile request (docs/JIT.md). The core calls it only after a
 * host attached a compiler with jitConfigure(1, thresh); this host never does, so it is never called.
 */
void Z_envZ_jit_compile(struct Z_env_instance_t* env, u32 slot) {
  (void)env;
  (void)slot;
}

/* env.mmio_write(addrLo, addrHi, size, valueLo, valueHi) -> status. */
u32 Z_envZ_mmio_write(struct Z_env_instance_t* env, u32 lo, u32 hi, u32 size, u32 vlo, u32 vhi) {
  uint64_t addr = ((uint64_t)hi << 32) | lo;
  (void)size;
  (void)vhi;
  if (addr >= UART_BASE && addr < UART_BASE + UART_SIZE) {
    if (addr == UART_BASE) putchar((int)(vlo & 0xff));
    return CV_MMIO_OK;
  }
  if (addr == FINISHER_BASE) {
    uint32_t kind = vlo & 0xffff;
    if (kind == 0x5555 || kind == 0x3333) {
      env->exited = 1;
      env->exit_code = kind == 0x5555 ? 0 : (int)(vlo >> 16);
      st32(env->core, CV_C_STOP, 1); /* run() returns RUN_STOP at the next block boundary */
    }
    return CV_MMIO_OK;
  }
  return CV_MMIO_ACCESS_FAULT;
}

static uint8_t* read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t* buf = n > 0 ? malloc((size_t)n) : NULL;
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static uint64_t rd(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* Copy the PT_LOAD segments of an ELF64 little-endian RISC-V executable into guest RAM; returns the
 * entry point, or 0 with a message on stderr. */
static uint64_t load_elf(Z_core_instance_t* c, const char* path, uint64_t ram_bytes) {
  size_t len;
  uint8_t* b = read_file(path, &len);
  if (!b) {
    fprintf(stderr, "cyclevisor-c: cannot read %s\n", path);
    return 0;
  }
  if (len < 64 || memcmp(b, "\177ELF", 4) != 0 || b[4] != 2 || b[5] != 1 || rd(b + 18, 2) != 243) {
    fprintf(stderr, "cyclevisor-c: %s is not an ELF64 little-endian RISC-V file\n", path);
    free(b);
    return 0;
  }
  uint64_t entry = rd(b + 24, 8), phoff = rd(b + 32, 8);
  uint64_t phentsize = rd(b + 54, 2), phnum = rd(b + 56, 2);
  for (uint64_t i = 0; i < phnum; i++) {
    const uint8_t* ph = b + phoff + i * phentsize;
    if (phoff + (i + 1) * phentsize > len) break;
    if (rd(ph, 4) != 1 /* PT_LOAD */) continue;
    uint64_t off = rd(ph + 8, 8), paddr = rd(ph + 24, 8), filesz = rd(ph + 32, 8), memsz = rd(ph + 40, 8);
    if (memsz == 0) continue;
    if (paddr < CV_RAM_GPA || paddr - CV_RAM_GPA + memsz > ram_bytes || off + filesz > len || filesz > memsz) {
      fprintf(stderr, "cyclevisor-c: %s: segment %llu does not fit in RAM\n", path, (unsigned long long)i);
      free(b);
      return 0;
    }
    uint8_t* dst = mem(c) + CV_RAM_OFFSET + (paddr - CV_RAM_GPA);
    memcpy(dst, b + off, filesz);
    memset(dst + filesz, 0, memsz - filesz);
    Z_coreZ_invalidatePhys(c, paddr, memsz); /* the host wrote RAM: forget decoded code there */
  }
  free(b);
  return entry;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: cyclevisor-c PROGRAM.elf [MAX_INSNS]\n");
    return 2;
  }
  uint64_t max_insns = argc == 3 ? strtoull(argv[2], NULL, 0) : UINT64_MAX;
  const uint32_t ram_bytes = 16u << 20;

  static Z_core_instance_t core;
  static struct Z_env_instance_t env;
  env.core = &core;
  wasm_rt_init();
  Z_core_init_module();
  Z_core_instantiate(&core, &env);

  int status = 1;
  wasm_rt_trap_t trap = wasm_rt_impl_try();
  if (trap != 0) {
    fprintf(stderr, "cyclevisor-c: core.wasm trapped: %s\n", wasm_rt_strerror(trap));
    return 70;
  }
  Z_coreZ__initialize(&core);
  if (Z_coreZ_init(&core, ram_bytes) != 0) {
    fprintf(stderr, "cyclevisor-c: cannot allocate guest RAM\n");
    return 1;
  }
  static const uint8_t lat[] = CV_DEFAULT_LATENCY;
  for (uint32_t i = 0; i < CV_TIMING_CLASS_COUNT; i++) Z_coreZ_setLatency(&core, i, lat[i]);
  uint64_t entry = load_elf(&core, argv[1], ram_bytes);
  if (entry == 0) return 2;
  st64(&core, CV_H_PC, entry);

  for (;;) {
    st64(&core, CV_C_DEADLINE, UINT64_MAX); /* no events on this board: no deadline */
    st64(&core, CV_C_INSN_LIMIT, max_insns);
    u32 st = Z_coreZ_run(&core);
    if (st == CV_RUN_STOP && env.exited) {
      status = env.exit_code;
      break;
    }
    if (st == CV_RUN_INSN_LIMIT) {
      fprintf(stderr, "cyclevisor-c: stopped after %llu instructions\n", (unsigned long long)max_insns);
      status = 124;
      break;
    }
    if (st == CV_RUN_STUCK) {
      fprintf(stderr, "cyclevisor-c: the hart is stuck in a trap loop at pc 0x%llx\n", (unsigned long long)ld64(&core, CV_C_STUCK_PC));
      status = 3;
      break;
    }
    if (st == CV_RUN_WFI) {
      fprintf(stderr, "cyclevisor-c: the guest waits for an interrupt this board does not have\n");
      status = 1;
      break;
    }
    /* CV_RUN_DEADLINE or a stop without exit: run on. */
  }
  fflush(stdout);
  fprintf(stderr, "instret %llu\ncycles %llu\nexit %d\n", (unsigned long long)ld64(&core, CV_H_INSTRET),
          (unsigned long long)ld64(&core, CV_H_CYCLES), status);
  Z_core_free(&core);
  wasm_rt_free();
  return status;
}
