/*
 * fpbench.c - a double-precision benchmark: matrix multiply and n-body.
 *
 * Our own code (not a standard benchmark). Two kernels, both in binary64:
 *
 *  - mm: C = A x B for MM_N x MM_N matrices filled from an LCG with values
 *    in [-1, 1), repeated MM_REPS times; before each repetition one element
 *    of A is changed, and the sum of C is accumulated. i-k-j loop order, so
 *    the inner loop is a streaming fmadd.d (GCC contracts a*b+c: its
 *    default -ffp-contract=fast in GNU C mode).
 *  - nbody: NB_N bodies (masses in [1, 2), positions in [-1, 1)^3, small
 *    velocities), NB_STEPS leapfrog-free Euler steps of dt = 1/128 with a
 *    softened 1/r^2 force: per pair a fsqrt.d and a fdiv.d. The total
 *    energy is computed at the start and the end.
 *
 * Every value is a deterministic IEEE result (no libm: sqrt is fsqrt.d via
 * __builtin_sqrt with -fno-math-errno), so the printed bits must be equal
 * on every correct RV64D machine running this binary:
 *
 *   fpbench: mm=<sum bits> nbody=<energy bits> e0=<bits> checksum=<fnv>
 *            fflags=<the accrued flags of the whole run>
 *
 * where checksum is FNV-1a over the bits of the final C, the positions and
 * velocities, and the three values printed. Exit 0.
 *
 * Builds (Makefile): fp-bench-small (tests) and fp-bench (bench/fp.ts);
 * instruction counts are in README.md.
 */
#include "../common/rt.h"

#ifndef MM_N
#define MM_N 64
#endif
#ifndef MM_REPS
#define MM_REPS 60
#endif
#ifndef NB_N
#define NB_N 32
#endif
#ifndef NB_STEPS
#define NB_STEPS 4000
#endif

static double A[MM_N][MM_N], B[MM_N][MM_N], C[MM_N][MM_N];

static uint64_t lcg_state = 0x853c49e6748fea9bUL;

/* A double in [-1, 1) with 53 random bits: exact integer-to-double work. */
static double rnd(void)
{
	lcg_state = lcg_state * 6364136223846793005UL + 1442695040888963407UL;
	int64_t m = (int64_t)(lcg_state >> 11);              /* 53 bits */
	return (double)(m - (1L << 52)) / (double)(1L << 52);
}

static uint64_t bits(double d)
{
	union { double d; uint64_t u; } x = { .d = d };
	return x.u;
}

static uint64_t fnv = 0xcbf29ce484222325UL;

static void mix(uint64_t v)
{
	for (int i = 0; i < 8; i++)
		fnv = (fnv ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3UL;
}

static double mm(void)
{
	for (int i = 0; i < MM_N; i++)
		for (int j = 0; j < MM_N; j++) {
			A[i][j] = rnd();
			B[i][j] = rnd();
		}
	double total = 0.0;
	for (int rep = 0; rep < MM_REPS; rep++) {
		A[rep % MM_N][(rep * 7) % MM_N] += 0.5;
		for (int i = 0; i < MM_N; i++) {
			for (int j = 0; j < MM_N; j++)
				C[i][j] = 0.0;
			for (int k = 0; k < MM_N; k++) {
				double a = A[i][k];
				for (int j = 0; j < MM_N; j++)
					C[i][j] += a * B[k][j];
			}
		}
		double s = 0.0;
		for (int i = 0; i < MM_N; i++)
			for (int j = 0; j < MM_N; j++)
				s += C[i][j];
		total += s;
	}
	for (int i = 0; i < MM_N; i++)
		for (int j = 0; j < MM_N; j++)
			mix(bits(C[i][j]));
	return total;
}

static double px[NB_N], py[NB_N], pz[NB_N];
static double vx[NB_N], vy[NB_N], vz[NB_N];
static double mass[NB_N];

#define EPS2 0.01
#define DT (1.0 / 128)

static double energy(void)
{
	double e = 0.0;
	for (int i = 0; i < NB_N; i++) {
		e += 0.5 * mass[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]);
		for (int j = i + 1; j < NB_N; j++) {
			double dx = px[i] - px[j], dy = py[i] - py[j], dz = pz[i] - pz[j];
			e -= mass[i] * mass[j] /
			     __builtin_sqrt(dx * dx + dy * dy + dz * dz + EPS2);
		}
	}
	return e;
}

static void nbody_step(void)
{
	for (int i = 0; i < NB_N; i++) {
		for (int j = i + 1; j < NB_N; j++) {
			double dx = px[i] - px[j], dy = py[i] - py[j], dz = pz[i] - pz[j];
			double r2 = dx * dx + dy * dy + dz * dz + EPS2;
			double inv = DT / (r2 * __builtin_sqrt(r2));
			double mi = mass[i] * inv, mj = mass[j] * inv;
			vx[i] -= dx * mj;
			vy[i] -= dy * mj;
			vz[i] -= dz * mj;
			vx[j] += dx * mi;
			vy[j] += dy * mi;
			vz[j] += dz * mi;
		}
	}
	for (int i = 0; i < NB_N; i++) {
		px[i] += DT * vx[i];
		py[i] += DT * vy[i];
		pz[i] += DT * vz[i];
	}
}

static double nbody(double *e0)
{
	for (int i = 0; i < NB_N; i++) {
		mass[i] = 1.5 + 0.5 * rnd();
		px[i] = rnd();
		py[i] = rnd();
		pz[i] = rnd();
		vx[i] = 0.1 * rnd();
		vy[i] = 0.1 * rnd();
		vz[i] = 0.1 * rnd();
	}
	*e0 = energy();
	for (int s = 0; s < NB_STEPS; s++)
		nbody_step();
	for (int i = 0; i < NB_N; i++) {
		mix(bits(px[i]));
		mix(bits(py[i]));
		mix(bits(pz[i]));
		mix(bits(vx[i]));
		mix(bits(vy[i]));
		mix(bits(vz[i]));
	}
	return energy();
}

int main(void)
{
#ifdef PRINT_INSTRET
	uint64_t t0 = csr_read(minstret);
#endif
	double s = mm();
	double e0;
	double e = nbody(&e0);
#ifdef PRINT_INSTRET
	uint64_t t1 = csr_read(minstret);
#endif
	mix(bits(s));
	mix(bits(e));
	mix(bits(e0));
	print("fpbench: mm=");
	print_hex(bits(s), 16);
	print(" nbody=");
	print_hex(bits(e), 16);
	print(" e0=");
	print_hex(bits(e0), 16);
	print(" checksum=");
	print_hex(fnv, 16);
	print(" fflags=");
	print_hex(csr_read(fflags), 2);
	print("\n");
#ifdef PRINT_INSTRET
	print("minstret delta=");
	print_dec(t1 - t0);
	print("\n");
#endif
	return 0;
}
