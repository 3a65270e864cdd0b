/*
 * xover.c - the crossover experiment's Linux user workloads (issue 11): one
 * static program, one workload per subcommand, each timing itself with the
 * VM's clock (clock_gettime, see rdcycle below) and printing
 *
 *   xover: <workload> ops=<n> ns=<t> per_op=<t/n>
 *
 * PT-update-heavy (every operation makes the kernel write page-table entries):
 *   fork N          fork(); the child _exit(0)s; waitpid  (copy + tear down an
 *                   address space, copy-on-write protection of every page)
 *   exec N          fork(); the child execve()s "/xover nop"; waitpid
 *   mmap N P        mmap P anonymous pages, write one byte in each (P page
 *                   faults installing PTEs), munmap (P PTEs cleared, TLB shot down)
 * TLB-miss-heavy (page tables stay put; most loads miss in the TLB):
 *   tlb N MB        touch MB MiB once, then N loads at xorshift64-random
 *                   pages and offsets (seed fixed) and print their checksum
 *   nop             exit 0 (the exec target)
 *
 * Built with Debian's gcc-riscv64-linux-gnu (glibc, static); see Makefile.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The guest's clock in ns through the clock_gettime system call, not the vDSO
 * and not rdcycle: both read a counter CSR from U-mode, which needs the
 * guest's scounteren, and cyclevisor's VMM does not set it for a VM yet
 * (SIGILL). The kernel reads `time` in VS-mode (hcounteren.TM); at the 10 MHz
 * timebase that is 100 ns steps, fine over many operations. At the default
 * 1 GHz core clock 1 ns = 1 cycle. */
#include <sys/syscall.h>
#include <time.h>
static uint64_t rdcycle(void)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void report(const char *what, uint64_t ops, uint64_t cycles)
{
	printf("xover: %s ops=%llu ns=%llu per_op=%llu\n", what,
	       (unsigned long long)ops, (unsigned long long)cycles,
	       (unsigned long long)(cycles / (ops ? ops : 1)));
	fflush(stdout);
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: xover fork N | exec N | mmap N PAGES | tlb N MB | nop\n");
		return 2;
	}
	const char *w = argv[1];
	uint64_t n = argc > 2 ? strtoull(argv[2], 0, 0) : 0;
	if (!strcmp(w, "nop"))
		return 0;
	if (!strcmp(w, "fork") || !strcmp(w, "exec")) {
		int ex = w[0] == 'e';
		uint64_t t0 = rdcycle();
		for (uint64_t i = 0; i < n; i++) {
			pid_t p = fork();
			if (p < 0)
				die("fork");
			if (p == 0) {
				if (ex) {
					execl("/xover", "xover", "nop", (char *)0);
					_exit(127);
				}
				_exit(0);
			}
			int st;
			if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				die("waitpid");
		}
		report(w, n, rdcycle() - t0);
		return 0;
	}
	if (!strcmp(w, "mmap")) {
		uint64_t pages = argc > 3 ? strtoull(argv[3], 0, 0) : 16;
		long pg = sysconf(_SC_PAGESIZE);
		uint64_t t0 = rdcycle();
		for (uint64_t i = 0; i < n; i++) {
			volatile char *m = mmap(0, pages * pg, PROT_READ | PROT_WRITE,
						MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED)
				die("mmap");
			for (uint64_t j = 0; j < pages; j++)
				m[j * pg] = (char)j;
			if (munmap((void *)m, pages * pg))
				die("munmap");
		}
		report(w, n, rdcycle() - t0);
		return 0;
	}
	if (!strcmp(w, "tlb")) {
		uint64_t mb = argc > 3 ? strtoull(argv[3], 0, 0) : 64;
		uint64_t bytes = mb << 20, pages = bytes >> 12;
		volatile uint64_t *m = mmap(0, bytes, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			die("mmap");
		for (uint64_t j = 0; j < bytes / 8; j += 512)
			m[j] = j;
		uint64_t x = 0x9e3779b97f4a7c15ULL, sum = 0;
		uint64_t t0 = rdcycle();
		for (uint64_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint64_t page = (x >> 20) % pages;
			sum += m[page * 512 + ((x >> 3) & 511)];
		}
		uint64_t c = rdcycle() - t0;
		report(w, n, c);
		printf("xover: tlb sum=%llx\n", (unsigned long long)sum);
		return 0;
	}
	fprintf(stderr, "xover: unknown workload %s\n", w);
	return 2;
}
