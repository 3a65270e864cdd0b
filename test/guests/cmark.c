/*
 * cmark - integer compute benchmark with CoreMark-like kernels.
 *
 * Written for cyclevisor (not CoreMark code, not CoreMark-comparable).
 * Each iteration runs, on data derived from the iteration number:
 *   1. list:    a 64-node linked list on a static pool - build, find,
 *               reverse, merge-sort by value, merge-sort back by key;
 *   2. matrix:  12x12 int16 matrices - multiply into int32, add a
 *               constant, multiply by a constant, fold with bit extraction;
 *   3. state:   a state machine classifying comma-separated tokens
 *               ("123", "-4.5", "6e7", "0x1f", junk) with mutations;
 *   4. crc:     CRC-16/CCITT over every kernel's results.
 * The running CRC is the checksum, printed at the end:
 *
 *   cmark: iterations=N checksum=0xXXXX
 *
 * and the exit code is 0. The checksum depends only on N, so any correct
 * RV64IM machine prints the same line. Built twice from this file:
 *   cmark-small  -DITERATIONS=60     (tests, ~3.4 M instructions)
 *   cmark        -DITERATIONS=5000   (benchmark, ~287 M instructions)
 * Integer only (no F/D), no M-mode features beyond the UART and finisher.
 * With -DPRINT_INSTRET it also prints minstret and mcycle (for measuring;
 * those builds are not committed, see "make measure").
 */
#include "common/rt.h"

#ifndef ITERATIONS
#define ITERATIONS 100
#endif

/* ---------------- CRC-16/CCITT (poly 0x1021), bitwise ---------------- */

static uint16_t crc8(uint16_t crc, uint8_t b)
{
	crc ^= (uint16_t)b << 8;
	for (int i = 0; i < 8; i++)
		crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	return crc;
}

static uint16_t crc16(uint16_t crc, uint16_t v)
{
	return crc8(crc8(crc, (uint8_t)v), (uint8_t)(v >> 8));
}

static uint16_t crc32w(uint16_t crc, uint32_t v)
{
	return crc16(crc16(crc, (uint16_t)v), (uint16_t)(v >> 16));
}

/* ---------------- pseudo-random numbers (LCG) ---------------- */

static uint32_t rng;

static uint32_t rnd(void)
{
	rng = rng * 1664525u + 1013904223u;
	return rng >> 8;
}

/* ---------------- 1. linked list ---------------- */

#define NODES 64

struct node {
	struct node *next;
	int16_t value;
	uint16_t key;      /* original position: lets us restore the order */
};

static struct node pool[NODES];

static struct node *list_build(void)
{
	struct node *head = 0;
	/* link in reverse so the list starts with key 0 */
	for (int i = NODES - 1; i >= 0; i--) {
		pool[i].key = (uint16_t)i;
		pool[i].value = (int16_t)(rnd() & 0xffff);
		pool[i].next = head;
		head = &pool[i];
	}
	return head;
}

/* position of the first node with this value, or -1 */
static int list_find(const struct node *n, int16_t value)
{
	for (int pos = 0; n; n = n->next, pos++)
		if (n->value == value)
			return pos;
	return -1;
}

static struct node *list_reverse(struct node *n)
{
	struct node *prev = 0;
	while (n) {
		struct node *next = n->next;
		n->next = prev;
		prev = n;
		n = next;
	}
	return prev;
}

static int cmp_value(const struct node *a, const struct node *b)
{
	/* ties broken by key, so the sort result is fully determined */
	if (a->value != b->value)
		return a->value - b->value;
	return a->key - b->key;
}

static int cmp_key(const struct node *a, const struct node *b)
{
	return a->key - b->key;
}

/* Bottom-up merge sort of a singly linked list (no recursion, no heap). */
static struct node *list_sort(struct node *list,
			      int (*cmp)(const struct node *, const struct node *))
{
	for (int width = 1;; width *= 2) {
		struct node *p = list, *head = 0, *tail = 0;
		int merges = 0;
		while (p) {
			struct node *q = p;
			int psize = 0, qsize = width;
			merges++;
			while (psize < width && q) {
				psize++;
				q = q->next;
			}
			while (psize > 0 || (qsize > 0 && q)) {
				struct node *e;
				if (psize == 0) {
					e = q; q = q->next; qsize--;
				} else if (qsize == 0 || !q || cmp(p, q) <= 0) {
					e = p; p = p->next; psize--;
				} else {
					e = q; q = q->next; qsize--;
				}
				if (tail)
					tail->next = e;
				else
					head = e;
				tail = e;
			}
			p = q;
		}
		tail->next = 0;
		list = head;
		if (merges <= 1)
			return list;
	}
}

static uint16_t list_crc(uint16_t crc, const struct node *n)
{
	for (; n; n = n->next)
		crc = crc16(crc, (uint16_t)n->value);
	return crc;
}

static uint16_t bench_list(uint16_t crc)
{
	struct node *l = list_build();
	int found = 0;

	/* find present values (taken from the pool) and likely-absent ones */
	for (int i = 0; i < 8; i++) {
		found += list_find(l, pool[(i * 7 + 3) % NODES].value);
		found += list_find(l, (int16_t)(rnd() & 0xffff));
	}
	crc = crc16(crc, (uint16_t)found);

	l = list_reverse(l);
	crc = crc16(crc, l->key);
	l = list_sort(l, cmp_value);
	crc = list_crc(crc, l);
	l = list_sort(l, cmp_key);
	/* restored order: keys 0..NODES-1 again */
	crc = crc16(crc, l->key);
	crc = crc16(crc, (uint16_t)list_find(l, pool[NODES / 2].value));
	return crc;
}

/* ---------------- 2. matrix ---------------- */

#define MN 12

static int16_t ma[MN][MN], mb[MN][MN];
static int32_t mc[MN][MN];

static uint16_t bench_matrix(uint16_t crc)
{
	for (int i = 0; i < MN; i++)
		for (int j = 0; j < MN; j++) {
			uint32_t r = rnd();
			ma[i][j] = (int16_t)(r & 0xfff) - 0x800;
			mb[i][j] = (int16_t)((r >> 12) & 0xfff) - 0x800;
		}

	/* C = A * B */
	for (int i = 0; i < MN; i++)
		for (int j = 0; j < MN; j++) {
			int32_t s = 0;
			for (int k = 0; k < MN; k++)
				s += (int32_t)ma[i][k] * mb[k][j];
			mc[i][j] = s;
		}

	/* A += c; C = C * c + A (element-wise) */
	int16_t c = (int16_t)(rnd() & 0xff);
	for (int i = 0; i < MN; i++)
		for (int j = 0; j < MN; j++) {
			ma[i][j] = (int16_t)(ma[i][j] + c);
			/* in uint32: wraps instead of signed-overflow UB */
			mc[i][j] = (int32_t)((uint32_t)mc[i][j] * (uint32_t)c +
					     (uint32_t)ma[i][j]);
		}

	/* fold: sum of a bit-field of each element, and the max */
	int32_t sum = 0, max = mc[0][0];
	for (int i = 0; i < MN; i++)
		for (int j = 0; j < MN; j++) {
			int32_t v = mc[i][j];
			sum += (v >> 3) & 0x7ff;
			if (v > max)
				max = v;
		}
	crc = crc32w(crc, (uint32_t)sum);
	crc = crc32w(crc, (uint32_t)max);
	return crc;
}

/* ---------------- 3. state machine ---------------- */

static const char text_template[] =
	"5012,1.23,-874,+122,1.5e3,0x1F,abc,-0.5e-7,42,7e,,3.14159,0xBEEF,"
	"+-1,98765,-12e+4,.5,0x,9.,-,1e10,0xg1,123456,-3.0,77x,0x7ff,2e-2";

static char text[sizeof(text_template)];

enum state { S_START, S_SIGN, S_INT, S_ZERO, S_HEX0, S_HEX, S_DOT, S_FRAC,
	     S_EXP, S_EXPSIGN, S_EXPNUM, S_BAD, S_COUNT };

static enum state step(enum state s, char ch)
{
	int digit = ch >= '0' && ch <= '9';
	int hexl = (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
	switch (s) {
	case S_START:
		if (ch == '+' || ch == '-') return S_SIGN;
		if (ch == '0') return S_ZERO;
		if (digit) return S_INT;
		if (ch == '.') return S_DOT;
		return S_BAD;
	case S_SIGN:
		if (ch == '0') return S_ZERO;
		if (digit) return S_INT;
		if (ch == '.') return S_DOT;
		return S_BAD;
	case S_ZERO:
		if (ch == 'x' || ch == 'X') return S_HEX0;
		/* fall through */
	case S_INT:
		if (digit) return S_INT;
		if (ch == '.') return S_DOT;
		if (ch == 'e' || ch == 'E') return S_EXP;
		return S_BAD;
	case S_HEX0:
	case S_HEX:
		return (digit || hexl) ? S_HEX : S_BAD;
	case S_DOT:
	case S_FRAC:
		if (digit) return S_FRAC;
		if (ch == 'e' || ch == 'E') return S_EXP;
		return S_BAD;
	case S_EXP:
		if (ch == '+' || ch == '-') return S_EXPSIGN;
		/* fall through */
	case S_EXPSIGN:
	case S_EXPNUM:
		return digit ? S_EXPNUM : S_BAD;
	default:
		return S_BAD;
	}
}

static uint16_t bench_state(uint16_t crc)
{
	uint32_t final_count[S_COUNT] = { 0 };
	uint32_t transitions = 0;

	/* mutate a few characters so each iteration scans different text */
	memcpy(text, text_template, sizeof(text));
	for (int i = 0; i < 4; i++) {
		uint32_t r = rnd();
		text[r % (sizeof(text) - 1)] = "0123456789.,+-ex"[(r >> 16) & 15];
	}

	enum state s = S_START;
	for (const char *p = text;; p++) {
		if (*p == ',' || *p == 0) {
			final_count[s]++;
			s = S_START;
			if (*p == 0)
				break;
			continue;
		}
		enum state n = step(s, *p);
		transitions += n != s;
		s = n;
	}
	/* a token ending in S_INT, S_ZERO, S_HEX, S_FRAC or S_EXPNUM is a
	 * valid number; the counts of every final state go into the CRC */
	for (int i = 0; i < S_COUNT; i++)
		crc = crc16(crc, (uint16_t)final_count[i]);
	crc = crc16(crc, (uint16_t)transitions);
	return crc;
}

/* ---------------- driver ---------------- */

int main(void)
{
	uint16_t crc = 0xffff;
#ifdef PRINT_INSTRET
	uint64_t i0 = csr_read(minstret), c0 = csr_read(mcycle);
#endif

	for (uint32_t it = 0; it < ITERATIONS; it++) {
		rng = it * 2654435761u + 0x5eed;   /* every iteration re-seeded */
		crc = bench_list(crc);
		crc = bench_matrix(crc);
		crc = bench_state(crc);
	}

#ifdef PRINT_INSTRET
	uint64_t i1 = csr_read(minstret), c1 = csr_read(mcycle);
#endif
	print("cmark: iterations=");
	print_dec(ITERATIONS);
	print(" checksum=");
	print_hex(crc, 4);
	print("\n");
#ifdef PRINT_INSTRET
	print("minstret delta=");
	print_dec(i1 - i0);
	print(" mcycle delta=");
	print_dec(c1 - c0);
	print("\n");
#endif
	return 0;
}
