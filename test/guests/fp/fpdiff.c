/*
 * fpdiff.c - the generic guest of the FP differential tool (scripts/fp-diff/).
 *
 * The program itself holds no operands. The driver appends a PT_LOAD
 * segment at FPD_INPUT to a copy of bin/fp-diff.elf (see
 * scripts/fp-diff/elf.ts) holding
 *
 *     struct fpd_hdr { u64 magic = FPD_MAGIC; u64 count; }
 *     struct fpd_rec records[count];          (32 bytes each, little endian)
 *
 * and runs the copy, unchanged, on QEMU and on cyclevisor. For each record
 * the guest writes frm = rec.frm, then runs the record's instruction once
 * per rounding-mode variant (instructions with an rm field: static rne,
 * rtz, rdn, rup, rmm, then dyn, and with FPD_FLAG_RESERVED_RM also the
 * reserved static encodings 5 and 6; others: once). Each run is a stub of
 * fpdiff-ops.S (generated from scripts/fp-diff/ops.ts): load the operands,
 * clear fflags, execute, store the destination's 64 bits and fflags. An
 * exception inside the stub (an illegal-instruction trap for a reserved rm
 * or an invalid frm under dyn) is recorded as result = mcause, flags = 0x80.
 *
 * All results go to the buffer at FPD_OUTPUT first; then the program prints
 *
 *     fpdiff: records=N
 *     one line per record: per variant 16 hex digits of the result and 2 of
 *     the flags, no separators
 *     fpdiff: checksum=<16 hex digits>
 *
 * where the checksum is FNV-1a (64-bit) over the record lines' characters,
 * newlines included, so the driver can tell a damaged transcript from a
 * wrong result. Exit 0 (SiFive test finisher 0x5555); 2 = no input segment,
 * 3 = bad record.
 */
#include "../common/rt.h"

#define FPD_INPUT   0x81000000UL
#define FPD_OUTPUT  0x82000000UL
#define FPD_MAGIC   0x314e49464450462eUL  /* ".FPDFIN1" little endian */
#define FPD_MAX     500000UL
#define FPD_FLAG_RESERVED_RM 1
#define FPD_TRAPPED 0x80

struct fpd_hdr {
	uint64_t magic;
	uint64_t count;
};

struct fpd_rec {
	uint16_t op;
	uint16_t flags;
	uint32_t frm;
	uint64_t a, b, c;
};

typedef void fpd_stub(const struct fpd_rec *rec, uint64_t out[2]);
extern fpd_stub *const fpd_stubs[];    /* [op * 8 + rm], fpdiff-ops.S */
extern const uint64_t fpd_nops;

static const uint8_t rm_plain[] = { 0, 1, 2, 3, 4, 7 };
static const uint8_t rm_reserved[] = { 0, 1, 2, 3, 4, 7, 5, 6 };

static uint64_t fnv = 0xcbf29ce484222325UL;

static void out_char(int c)
{
	fnv = (fnv ^ (uint8_t)c) * 0x100000001b3UL;
	putchar_(c);
}

static void out_hex(uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--)
		out_char("0123456789abcdef"[(v >> (4 * i)) & 0xf]);
}

/* Variants of one record: the rm list, or 0 if the op has no rm field. */
static int variants(const struct fpd_rec *r, const uint8_t **list)
{
	if (!fpd_stubs[r->op * 8 + 1]) {
		*list = rm_plain;   /* slot 0 only */
		return 1;
	}
	if (r->flags & FPD_FLAG_RESERVED_RM) {
		*list = rm_reserved;
		return 8;
	}
	*list = rm_plain;
	return 6;
}

int main(void)
{
	const struct fpd_hdr *hdr = (const struct fpd_hdr *)FPD_INPUT;
	const struct fpd_rec *rec = (const struct fpd_rec *)(hdr + 1);
	uint64_t *out = (uint64_t *)FPD_OUTPUT;

	if (hdr->magic != FPD_MAGIC) {
		print("fpdiff: no operand records at ");
		print_hex(FPD_INPUT, 8);
		print("\n");
		return 2;
	}
	uint64_t n = hdr->count;
	if (n > FPD_MAX) {
		print("fpdiff: too many records\n");
		return 3;
	}

	/* Run everything first. */
	uint64_t *o = out;
	for (uint64_t i = 0; i < n; i++) {
		const struct fpd_rec *r = &rec[i];
		if (r->op >= fpd_nops || r->frm > 7) {
			print("fpdiff: bad record ");
			print_dec(i);
			print("\n");
			return 3;
		}
		const uint8_t *list;
		int nv = variants(r, &list);
		csr_write(frm, r->frm);
		for (int v = 0; v < nv; v++) {
			uint64_t traps = last_trap.count;
			trap_armed = 1;
			fpd_stubs[r->op * 8 + list[v]](r, o);
			trap_armed = 0;
			if (last_trap.count != traps) {
				o[0] = last_trap.mcause;
				o[1] = FPD_TRAPPED;
			}
			o += 2;
		}
	}
	csr_write(fcsr, 0);

	/* Then print it. */
	print("fpdiff: records=");
	print_dec(n);
	print("\n");
	o = out;
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *list;
		int nv = variants(&rec[i], &list);
		for (int v = 0; v < nv; v++, o += 2) {
			out_hex(o[0], 16);
			out_hex(o[1], 2);
		}
		out_char('\n');
	}
	print("fpdiff: checksum=");
	print_hex(fnv, 16);
	print("\n");
	return 0;
}
