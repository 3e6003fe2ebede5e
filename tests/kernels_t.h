/* What every CPU kernel test file shares: the op bodies (kernels/cpu/ops.inc) built a second
 * time in double precision as d_*, random fills, comparisons, central finite differences, and
 * kf, the float backend under test (three threads: uneven splits on purpose). Each test file
 * uses part of it. */
#ifndef NL_TESTS_KERNELS_T_H
#define NL_TESTS_KERNELS_T_H
#pragma GCC diagnostic ignored "-Wunused-function"
#include <cblas.h>
#include <omp.h>
#include <stdint.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/fastmath.h"
#include "kernels/cpu/peak.h"
#include "t.h"

typedef double real;
#define NL_REAL_FLOAT 0
#define NL_OP(name) d_##name
#include "kernels/cpu/ops.inc"

/* ---------------------------------------------------------------- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double urand(void) /* [0, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

static void fill(double *x, int64_t n, double lo, double hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * urand();
}

static void fill_nan(double *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = NAN;
}

static double *dnew(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

static float *fnew(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(float));
}

static double *dcopy(const double *x, int64_t n)
{
    double *y = dnew(n);
    memcpy(y, x, sizeof(double) * (size_t)n);
    return y;
}

static float *fcopy(const double *x, int64_t n)
{
    float *y = fnew(n);
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)x[i];
    return y;
}

/* x -= base, elementwise: what an accumulating op added. */
static void dsub(double *x, const double *base, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] -= base[i];
}

static double wsum(const double *w, const double *y, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += w[i] * y[i];
    return s;
}

/* max_i |got[i] - want[i]| <= tol * max_i |want[i]| (tol absolute when want is all zero). */
static void check_vec(const char *what, const double *got, const double *want, int64_t n,
                      double tol)
{
    double scale = 0, worst = 0;
    int64_t wi = -1;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    if (scale == 0)
        scale = 1;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]);
        if (!(e <= worst) && (wi < 0 || !isnan(worst))) {
            worst = e;
            wi = i;
        }
    }
    T_CHECK(wi < 0 || worst <= tol * scale,
            "%s[%lld]: got %.10g, expected %.10g (error %.3g, scale %.3g)", what, (long long)wi,
            got[wi < 0 ? 0 : wi], want[wi < 0 ? 0 : wi], worst, scale);
}

static void check_vecf(const char *what, const float *got, const double *want, int64_t n,
                       double tol)
{
    double *g = dnew(n);
    for (int64_t i = 0; i < n; i++)
        g[i] = got[i];
    check_vec(what, g, want, n, tol);
    free(g);
}

/* Two float results of the same sums in different orders: within tol of the larger's scale. */
static void check_closef(const char *what, const float *got, const float *want, int64_t n,
                         double tol)
{
    double *w = dnew(n);
    for (int64_t i = 0; i < n; i++)
        w[i] = want[i];
    check_vecf(what, got, w, n, tol);
    free(w);
}

static void check_same(const char *what, const void *a, const void *b, size_t bytes)
{
    T_CHECK(memcmp(a, b, bytes) == 0, "%s: two calls on the same inputs differ", what);
}

/* Central differences of loss() with respect to x[0..n), x restored after each probe. */
#define FD_H 1e-5
typedef double (*loss_fn)(void *ctx);
static void fd_grad(loss_fn loss, void *ctx, double *x, int64_t n, double *g)
{
    for (int64_t i = 0; i < n; i++) {
        double xi = x[i];
        x[i] = xi + FD_H;
        double lp = loss(ctx);
        x[i] = xi - FD_H;
        double lm = loss(ctx);
        x[i] = xi;
        g[i] = (lp - lm) / (2 * FD_H);
    }
}

#define GRAD_TOL 1e-6 /* double finite differences: truncation ~h^2, rounding ~eps/h */
#define F32_TOL 1e-5  /* float backend against the double build */
#define PAR_TOL 1e-12 /* double: parallel against serial (summation order only) */

/* The double build's thread count (it has no table; see nl_cpu_threads). */
static void dthreads(int n)
{
    omp_set_num_threads(n);
}

static nl_kernels *kf; /* the float backend under test */

#endif
