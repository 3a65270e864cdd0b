/*
 * interrupts - machine-mode interrupts: CLINT software interrupt, PLIC
 * external interrupt from the UART, WFI.
 *
 * Output on a correct machine (exactly), exit code 0:
 *
 *   ok 1 msip-pending-masked
 *   ok 2 msip-vectored
 *   ok 3 plic-uart-thre
 *   ok 4 plic-claim-empty
 *   ok 5 wfi-wakes-masked
 *   interrupts: all passed
 *
 * A failing test prints "FAIL N name" instead; the exit code is the number
 * of the first failing test. A lost interrupt is detected by a bounded
 * polling loop (SPIN iterations), not by hanging.
 *
 * mtvec is in Vectored mode for the whole program: interrupt cause N must
 * enter at base + 4*N. The trap stubs record the entry used (see trap.S).
 */
#include "common/rt.h"

/* How long to wait for an interrupt that should already be pending. An
 * interrupt must be taken "soon" once pending and enabled; a few thousand
 * instructions is generous for any simulator's interrupt-check interval. */
#define SPIN 100000

static volatile uint64_t irq_count;
static volatile long irq_vector;
static volatile uint64_t irq_cause;
static volatile uint64_t irq_mstatus;
static volatile uint32_t irq_claim;

static void hook(long vector, uint64_t mcause)
{
	irq_count++;
	irq_vector = vector;
	irq_cause = mcause;
	irq_mstatus = csr_read(mstatus);
	switch (mcause & ~MCAUSE_INT) {
	case 3:
		/* Machine software interrupt: mip.MSIP mirrors the CLINT msip
		 * register, so the source is quieted by writing 0 there. */
		mmio_w32(CLINT_MSIP0, 0);
		break;
	case 11: {
		/* Machine external interrupt: claim from the PLIC, quiet the
		 * device (the UART THRE interrupt is level: it stays up while
		 * IER.ETBEI = 1 and THR is empty), then complete. Completing
		 * before quieting would make the PLIC raise it again. */
		uint32_t id = mmio_r32(PLIC_CLAIM(0));
		irq_claim = id;
		if (id == UART_IRQ)
			mmio_w8(UART_IER, 0);
		mmio_w32(PLIC_CLAIM(0), id);
		break;
	}
	default:
		/* nothing else is enabled: make it visible and stop */
		print("unexpected interrupt\n");
		exit(255);
	}
}

static int wait_irq(uint64_t before)
{
	for (int i = 0; i < SPIN; i++)
		if (irq_count != before)
			return 1;
	return 0;
}

int main(void)
{
	uint64_t before;
	int ok;

	irq_hook = hook;
	csr_write(mtvec, (uint64_t)trap_vector_table | 1);

	/* 1: a pending, enabled (mie.MSIE) interrupt is NOT taken while
	 * mstatus.MIE = 0, but is visible in mip. */
	trap_fail_code = 1;
	before = irq_count;
	csr_write(mie, MIP_MSIP);
	mmio_w32(CLINT_MSIP0, 1);
	ok = !wait_irq(before);
	ok = ok && (csr_read(mip) & MIP_MSIP) && mmio_r32(CLINT_MSIP0) == 1;
	report(1, "msip-pending-masked", ok);

	/* 2: setting mstatus.MIE takes it: entry base + 4*3, mcause =
	 * interrupt bit | 3, and inside the handler MIE = 0, MPIE = 1.
	 * After the handler cleared msip, mip.MSIP reads 0. */
	trap_fail_code = 2;
	csr_set(mstatus, MSTATUS_MIE);
	ok = wait_irq(before);
	csr_clear(mstatus, MSTATUS_MIE);
	ok = ok && irq_count == before + 1 && irq_vector == 3 &&
	     irq_cause == (MCAUSE_INT | 3) &&
	     !(irq_mstatus & MSTATUS_MIE) && (irq_mstatus & MSTATUS_MPIE) &&
	     !(csr_read(mip) & MIP_MSIP) && mmio_r32(CLINT_MSIP0) == 0;
	report(2, "msip-vectored", ok);
	csr_write(mie, 0);

	/* 3: UART THR-empty interrupt through the PLIC: source 10 priority 1,
	 * enabled for context 0 (hart 0 M-mode), threshold 0. Enabling
	 * IER.ETBEI while THR is empty raises the interrupt at once. Entry
	 * base + 4*11, mcause = interrupt bit | 11, claim returns 10. */
	trap_fail_code = 3;
	mmio_w32(PLIC_PRIORITY(UART_IRQ), 1);
	mmio_w32(PLIC_ENABLE(0), 1U << UART_IRQ);
	mmio_w32(PLIC_THRESHOLD(0), 0);
	before = irq_count;
	irq_claim = 0;
	csr_write(mie, MIP_MEIP);
	mmio_w8(UART_IER, UART_IER_ETBEI);
	csr_set(mstatus, MSTATUS_MIE);
	ok = wait_irq(before);
	csr_clear(mstatus, MSTATUS_MIE);
	ok = ok && irq_count == before + 1 && irq_vector == 11 &&
	     irq_cause == (MCAUSE_INT | 11) && irq_claim == UART_IRQ;
	mmio_w8(UART_IER, 0);   /* in case the handler did not run */
	report(3, "plic-uart-thre", ok);

	/* 4: with the device quiet and the claim completed, nothing is
	 * pending: mip.MEIP = 0 and a claim returns 0 (no interrupt). */
	trap_fail_code = 4;
	ok = !(csr_read(mip) & MIP_MEIP);
	ok = ok && mmio_r32(PLIC_CLAIM(0)) == 0;
	report(4, "plic-claim-empty", ok);
	csr_write(mie, 0);
	mmio_w32(PLIC_ENABLE(0), 0);
	mmio_w32(PLIC_PRIORITY(UART_IRQ), 0);

	/* 5: WFI with mstatus.MIE = 0 still wakes up when an interrupt that
	 * is enabled in mie becomes pending (no trap is taken; execution
	 * continues after the wfi). Uses the timer, so the hart must really
	 * wait: mtimecmp = now + 1000 ticks, mie.MTIE = 1, one wfi, then
	 * mip.MTIP = 1 and mtime >= mtimecmp. (The spec lets WFI return
	 * early for no reason; neither QEMU nor cyclevisor does, and a
	 * machine that does will fail here.) */
	trap_fail_code = 5;
	{
		uint64_t cmp = mmio_r64(CLINT_MTIME) + 1000;
		before = irq_count;
		mmio_w64(CLINT_MTIMECMP0, cmp);
		csr_write(mie, MIP_MTIP);
		__asm__ volatile("wfi" ::: "memory");
		ok = (csr_read(mip) & MIP_MTIP) && mmio_r64(CLINT_MTIME) >= cmp &&
		     irq_count == before;
		/* mtimecmp in the far future drops MTIP again */
		mmio_w64(CLINT_MTIMECMP0, ~0UL);
		ok = ok && !(csr_read(mip) & MIP_MTIP);
		csr_write(mie, 0);
		report(5, "wfi-wakes-masked", ok);
	}

	trap_fail_code = 255;
	csr_write(mtvec, (uint64_t)trap_entry);
	if (first_failure()) {
		print("interrupts: first failure ");
		print_dec(first_failure());
		print("\n");
	} else {
		print("interrupts: all passed\n");
	}
	return first_failure();
}
