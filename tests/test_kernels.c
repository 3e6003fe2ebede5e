/* The CPU kernels. The op bodies (kernels/cpu/ops.inc) are built here a second time in double
 * precision, and every backward is checked against central finite differences of its forward
 * in double; the forwards and the non-differentiable ops against direct computations written
 * out below. Large shapes then check that the parallel paths agree with the serial ones, that
 * the float backend (through the nl_kernels table) agrees with the double build, and that two
 * calls on the same inputs give identical bits. */
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

/* ---------------------------------------------------------------- backend basics ---- */

static void test_alloc_and_copies(void)
{
    T_CHECK(!strcmp(kf->name, "cpu"), "name is %s", kf->name);
    T_CHECK(!strcmp(kf->last_error(kf), ""), "last_error not empty: %s", kf->last_error(kf));
    size_t sizes[] = {1, 63, 64, 1000, 1 << 20};
    for (int s = 0; s < 5; s++) {
        unsigned char *p = kf->alloc(kf, sizes[s]);
        T_CHECK(p != NULL, "alloc(%zu) failed", sizes[s]);
        if (!p)
            continue;
        T_CHECK((uintptr_t)p % 64 == 0, "alloc(%zu) not 64-byte aligned", sizes[s]);
        size_t nz = 0;
        for (size_t i = 0; i < sizes[s]; i++)
            nz += p[i] != 0;
        T_CHECK(nz == 0, "alloc(%zu): %zu bytes not zero", sizes[s], nz);
        memset(p, 0xAB, sizes[s]);
        kf->free(kf, p);
    }
    float src[5] = {1, 2, 3, 4, 5}, back[5] = {0};
    float *d = kf->alloc(kf, sizeof src), *e = kf->alloc(kf, sizeof src);
    kf->to_device(kf, d, src, sizeof src);
    kf->copy(kf, e, d, sizeof src);
    kf->zero(kf, d, 2 * sizeof(float));
    kf->sync(kf);
    kf->to_host(kf, back, e, sizeof src);
    T_CHECK(!memcmp(back, src, sizeof src), "to_device/copy/to_host round trip differs");
    T_CHECK(d[0] == 0 && d[1] == 0 && d[2] == 3, "zero cleared the wrong bytes");
    kf->free(kf, d);
    kf->free(kf, e);
    kf->set_precision(kf, NL_PREC_TF32); /* a no-op on the CPU, must not crash */
}

static void test_peak_gflops(void)
{
    double g = nl_cpu_sgemm_peak_gflops(1);
    T_CHECK(isfinite(g) && g > 0.1, "peak %.3g GFLOP/s", g);
}

/* The backend names the OpenBLAS kernel it runs and its threads; it warns only when
 * OPENBLAS_CORETYPE forces a kernel older than the CPU. */
static void test_describe(void)
{
    T_CHECK(nl_cpu_kernel_level("Haswell") == 2 && nl_cpu_kernel_level("zen") == 2, "AVX2 kernels");
    T_CHECK(nl_cpu_kernel_level("SkylakeX") == 3 && nl_cpu_kernel_level("SAPPHIRERAPIDS") == 3 &&
                nl_cpu_kernel_level("cooperlake") == 3,
            "AVX-512 kernels");
    T_CHECK(nl_cpu_kernel_level("SandyBridge") == 1 && nl_cpu_kernel_level("Nehalem") == 0 &&
                nl_cpu_kernel_level("Prescott") == 0,
            "older kernels");
    T_CHECK(nl_cpu_kernel_level("Frobnicator") == -1 && nl_cpu_kernel_level(NULL) == -1,
            "unknown kernels have no level");
    int cl = nl_cpu_level();
    T_CHECK(cl >= 0 && cl <= 3, "cpu level %d", cl);
    T_CHECK(kf->describe, "no describe()");
    if (!kf->describe)
        return;
    const char *what = NULL, *warn = NULL;
    kf->describe(kf, &what, &warn);
    char want[128];
    snprintf(want, sizeof want, "OpenBLAS kernel %s (", openblas_get_corename());
    T_CHECK(what && strstr(what, want) && strstr(what, "3 OpenMP threads, waiting: "),
            "describe: '%s'", what ? what : "(null)");
    const char *forced = getenv("OPENBLAS_CORETYPE");
    int older = forced && *forced && nl_cpu_kernel_level(openblas_get_corename()) >= 0 &&
                nl_cpu_kernel_level(openblas_get_corename()) < cl;
    T_CHECK(warn && (*warn != 0) == older, "warning '%s' with OPENBLAS_CORETYPE=%s",
            warn ? warn : "(null)", forced ? forced : "(unset)");
    T_CHECK(!older || (strstr(warn, "forces the") && strstr(warn, forced)), "warning '%s'", warn);
}

/* ---------------------------------------------------------------- matmul ---- */

/* C_b = alpha op(A_b) op(B_b) + beta C_b, written out. */
static void naive_matmul(double *c, const double *a, const double *b, int M, int N, int K,
                         int ta, int tb, int lda, int ldb, int ldc, int64_t sa, int64_t sb,
                         int64_t sc, int batch, double alpha, double beta)
{
    for (int i = 0; i < batch; i++)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = 0;
                for (int kk = 0; kk < K; kk++) {
                    double av = ta ? a[i * sa + (int64_t)kk * lda + m] : a[i * sa + (int64_t)m * lda + kk];
                    double bv = tb ? b[i * sb + (int64_t)n * ldb + kk] : b[i * sb + (int64_t)kk * ldb + n];
                    s += av * bv;
                }
                double *cv = &c[i * sc + (int64_t)m * ldc + n];
                *cv = alpha * s + beta * *cv;
            }
}

/* One shape: the double build (serial and parallel) and the float table against the naive
 * loops, and the float table twice for identical bits. pad widens every leading dimension
 * and the batch strides, so that strides are really used. */
static void check_matmul_case(int M, int N, int K, int ta, int tb, int batch, int pad,
                              double alpha, double beta)
{
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    int64_t sa = (int64_t)(ta ? K : M) * lda + pad, sb = (int64_t)(tb ? N : K) * ldb + pad;
    int64_t sc = (int64_t)M * ldc + pad;
    int64_t na = sa * batch, nb = sb * batch, nc = sc * batch;
    double *a = dnew(na), *b = dnew(nb), *c0 = dnew(nc);
    fill(a, na, -1, 1);
    fill(b, nb, -1, 1);
    fill(c0, nc, -1, 1);
    double *want = dcopy(c0, nc), *got = dcopy(c0, nc), *got3 = dcopy(c0, nc);
    naive_matmul(want, a, b, M, N, K, ta, tb, lda, ldb, ldc, sa, sb, sc, batch, alpha, beta);
    char what[128];
    snprintf(what, sizeof what, "matmul %dx%dx%d ta%d tb%d batch %d", M, N, K, ta, tb, batch);
    dthreads(1);
    d_matmul(NULL, got, a, b, M, N, K, ta, tb, lda, ldb, ldc, sa, sb, sc, batch, alpha, beta);
    check_vec(what, got, want, nc, 1e-12);
    dthreads(3);
    d_matmul(NULL, got3, a, b, M, N, K, ta, tb, lda, ldb, ldc, sa, sb, sc, batch, alpha, beta);
    check_vec(what, got3, want, nc, 1e-12);
    float *fa = fcopy(a, na), *fb = fcopy(b, nb), *fc = fcopy(c0, nc), *fc2 = fcopy(c0, nc);
    kf->matmul(kf, fc, fa, fb, M, N, K, ta, tb, lda, ldb, ldc, sa, sb, sc, batch, (float)alpha,
               (float)beta);
    kf->matmul(kf, fc2, fa, fb, M, N, K, ta, tb, lda, ldb, ldc, sa, sb, sc, batch, (float)alpha,
               (float)beta);
    check_vecf(what, fc, want, nc, F32_TOL);
    check_same(what, fc, fc2, sizeof(float) * (size_t)nc);
    free(a), free(b), free(c0), free(want), free(got), free(got3);
    free(fa), free(fb), free(fc), free(fc2);
}

static void test_matmul_transposes(void)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_matmul_case(7, 5, 3, ta, tb, 1, 0, 1.0, 0.0);
            check_matmul_case(9, 6, 11, ta, tb, 1, 2, 0.7, 0.3);
            check_matmul_case(4, 3, 0, ta, tb, 2, 1, 0.7, 0.3); /* K = 0: C = beta C */
        }
}

static void test_matmul_batched_strided(void)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            check_matmul_case(6, 4, 5, ta, tb, 3, 3, -1.25, 0.5);
}

/* Shapes large enough for each parallel path: over the batch (attention), and one product
 * cut along M or along N. */
static void test_matmul_parallel_paths(void)
{
    check_matmul_case(64, 64, 24, 0, 1, 40, 0, 0.125, 0.0); /* scores q k^T */
    check_matmul_case(64, 24, 64, 0, 0, 40, 1, 1.0, 0.0);   /* att @ v */
    check_matmul_case(64, 24, 64, 1, 0, 40, 0, 1.0, 1.0);   /* att^T @ dy */
    check_matmul_case(300, 100, 72, 0, 1, 1, 0, 1.0, 0.0);  /* x W^T, cut along M */
    check_matmul_case(40, 330, 180, 1, 0, 1, 2, 1.0, 1.0);  /* dW, cut along N */
    check_matmul_case(37, 290, 200, 0, 1, 2, 1, 0.5, 0.5);  /* two products, cut along N */
    check_matmul_case(130, 90, 120, 1, 1, 5, 1, 0.5, 0.5);  /* 5 over 3 threads: cut each */
}

/* ---------------------------------------------------------------- norms ---- */

typedef struct {
    int N, C, rms;
    double *x, *w, *b, *wout, *out, *mean, *rstd;
} norm_ctx;

static double norm_loss(void *p)
{
    norm_ctx *c = p;
    if (c->rms)
        d_rmsnorm_forward(NULL, c->out, c->rstd, c->x, c->w, c->N, c->C, 1e-5);
    else
        d_layernorm_forward(NULL, c->out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C, 1e-5);
    return wsum(c->wout, c->out, (int64_t)c->N * c->C);
}

/* Forward against the textbook formula, backward against finite differences; the backward
 * starts from random gradients so that += is checked, not =. */
static void check_norm_grads(int rms, int with_bias)
{
    int N = 5, C = 37; /* C spans two 32-column blocks of the parameter gradients */
    int64_t NC = (int64_t)N * C;
    norm_ctx c = {N, C, rms, dnew(NC), dnew(C), with_bias ? dnew(C) : NULL, dnew(NC), dnew(NC),
                  dnew(N), dnew(N)};
    fill(c.x, NC, -2, 3);
    fill(c.w, C, 0.5, 1.5);
    if (c.b)
        fill(c.b, C, -0.5, 0.5);
    fill(c.wout, NC, -1, 1);
    dthreads(2);
    norm_loss(&c);

    double *want = dnew(NC);
    for (int n = 0; n < N; n++) {
        const double *x = c.x + n * C;
        double mu = 0, var = 0;
        for (int i = 0; i < C; i++)
            mu += x[i];
        mu = rms ? 0 : mu / C;
        for (int i = 0; i < C; i++)
            var += (x[i] - mu) * (x[i] - mu);
        double rs = 1 / sqrt(var / C + 1e-5);
        for (int i = 0; i < C; i++)
            want[n * C + i] = (x[i] - mu) * rs * c.w[i] + (c.b ? c.b[i] : 0);
        T_NEAR(c.rstd[n], rs, 1e-12, "rstd");
        if (!rms)
            T_NEAR(c.mean[n], mu, 1e-12, "mean");
    }
    check_vec("norm forward", c.out, want, NC, 1e-12);

    double *dx0 = dnew(NC), *dw0 = dnew(C), *db0 = dnew(C);
    fill(dx0, NC, -1, 1);
    fill(dw0, C, -1, 1);
    fill(db0, C, -1, 1);
    double *dx = dcopy(dx0, NC), *dw = dcopy(dw0, C), *db = c.b ? dcopy(db0, C) : NULL;
    if (rms)
        d_rmsnorm_backward(NULL, dx, dw, c.wout, c.x, c.w, c.rstd, N, C);
    else
        d_layernorm_backward(NULL, dx, dw, db, c.wout, c.x, c.w, c.mean, c.rstd, N, C);
    dsub(dx, dx0, NC);
    dsub(dw, dw0, C);
    double *g = dnew(NC);
    fd_grad(norm_loss, &c, c.x, NC, g);
    check_vec("dinp", dx, g, NC, GRAD_TOL);
    fd_grad(norm_loss, &c, c.w, C, g);
    check_vec("dweight", dw, g, C, GRAD_TOL);
    if (c.b) {
        dsub(db, db0, C);
        fd_grad(norm_loss, &c, c.b, C, g);
        check_vec("dbias", db, g, C, GRAD_TOL);
    }
    free(c.x), free(c.w), free(c.b), free(c.wout), free(c.out), free(c.mean), free(c.rstd);
    free(want), free(dx0), free(dw0), free(db0), free(dx), free(dw), free(db), free(g);
}

static void test_layernorm_grad(void)
{
    check_norm_grads(0, 1);
}

static void test_layernorm_nobias_grad(void)
{
    check_norm_grads(0, 0);
}

static void test_rmsnorm_grad(void)
{
    check_norm_grads(1, 0);
}

/* Large enough to run in parallel: serial vs parallel double, float vs double, float twice. */
static void check_norm_large(int rms, int with_bias)
{
    int N = 600, C = 112;
    int64_t NC = (int64_t)N * C;
    double *x = dnew(NC), *w = dnew(C), *b = dnew(C), *dout = dnew(NC);
    fill(x, NC, -2, 3);
    fill(w, C, 0.5, 1.5);
    fill(b, C, -0.5, 0.5);
    fill(dout, NC, -1, 1);
    const double *bias = with_bias ? b : NULL;
    double *out[2], *mean[2], *rstd[2], *dx[2], *dw[2], *db[2];
    for (int r = 0; r < 2; r++) { /* r = 0: one thread, r = 1: three threads */
        out[r] = dnew(NC), mean[r] = dnew(N), rstd[r] = dnew(N);
        dx[r] = dcopy(dout, NC), dw[r] = dcopy(w, C), db[r] = dcopy(b, C);
        dthreads(r ? 3 : 1);
        if (rms) {
            d_rmsnorm_forward(NULL, out[r], rstd[r], x, w, N, C, 1e-5);
            d_rmsnorm_backward(NULL, dx[r], dw[r], dout, x, w, rstd[r], N, C);
        } else {
            d_layernorm_forward(NULL, out[r], mean[r], rstd[r], x, w, bias, N, C, 1e-5);
            d_layernorm_backward(NULL, dx[r], dw[r], with_bias ? db[r] : NULL, dout, x, w,
                                 mean[r], rstd[r], N, C);
        }
    }
    check_vec("parallel out", out[1], out[0], NC, PAR_TOL);
    check_vec("parallel dinp", dx[1], dx[0], NC, PAR_TOL);
    check_vec("parallel dweight", dw[1], dw[0], C, PAR_TOL);
    check_vec("parallel dbias", db[1], db[0], C, PAR_TOL);

    float *fx = fcopy(x, NC), *fw = fcopy(w, C), *fb = fcopy(b, C), *fd = fcopy(dout, NC);
    float *fo[2], *fm[2], *fr[2], *fdx[2], *fdw[2], *fdb[2];
    for (int r = 0; r < 2; r++) {
        fo[r] = fnew(NC), fm[r] = fnew(N), fr[r] = fnew(N);
        fdx[r] = fcopy(dout, NC), fdw[r] = fcopy(w, C), fdb[r] = fcopy(b, C);
        if (rms) {
            kf->rmsnorm_forward(kf, fo[r], fr[r], fx, fw, N, C, 1e-5f);
            kf->rmsnorm_backward(kf, fdx[r], fdw[r], fd, fx, fw, fr[r], N, C);
        } else {
            kf->layernorm_forward(kf, fo[r], fm[r], fr[r], fx, fw, with_bias ? fb : NULL, N, C,
                                  1e-5f);
            kf->layernorm_backward(kf, fdx[r], fdw[r], with_bias ? fdb[r] : NULL, fd, fx, fw,
                                   fm[r], fr[r], N, C);
        }
    }
    check_vecf("f32 out", fo[0], out[0], NC, F32_TOL);
    check_vecf("f32 rstd", fr[0], rstd[0], N, F32_TOL);
    check_vecf("f32 dinp", fdx[0], dx[0], NC, F32_TOL);
    check_vecf("f32 dweight", fdw[0], dw[0], C, F32_TOL);
    check_vecf("f32 dbias", fdb[0], db[0], C, F32_TOL);
    check_same("f32 out", fo[0], fo[1], sizeof(float) * (size_t)NC);
    check_same("f32 dinp", fdx[0], fdx[1], sizeof(float) * (size_t)NC);
    check_same("f32 dweight", fdw[0], fdw[1], sizeof(float) * (size_t)C);
    check_same("f32 dbias", fdb[0], fdb[1], sizeof(float) * (size_t)C);
    for (int r = 0; r < 2; r++) {
        free(out[r]), free(mean[r]), free(rstd[r]), free(dx[r]), free(dw[r]), free(db[r]);
        free(fo[r]), free(fm[r]), free(fr[r]), free(fdx[r]), free(fdw[r]), free(fdb[r]);
    }
    free(x), free(w), free(b), free(dout), free(fx), free(fw), free(fb), free(fd);
}

static void test_norms_large(void)
{
    check_norm_large(0, 1);
    check_norm_large(0, 0);
    check_norm_large(1, 0);
}

/* ---------------------------------------------------------------- embeddings ---- */

typedef struct {
    int B, T, C;
    int32_t *tok;
    double *wte, *wpe, *wout, *out;
} embed_ctx;

static double embed_loss(void *p)
{
    embed_ctx *c = p;
    d_embed_forward(NULL, c->out, c->tok, c->wte, c->wpe, c->B, c->T, c->C);
    return wsum(c->wout, c->out, (int64_t)c->B * c->T * c->C);
}

static void test_embed_grad(void)
{
    int B = 2, T = 5, C = 9, V = 4; /* V < B*T: tokens repeat */
    int64_t n = (int64_t)B * T * C;
    int32_t tok[10] = {0, 3, 3, 1, 0, 3, 2, 0, 0, 3};
    embed_ctx c = {B, T, C, tok, dnew(V * C), dnew(T * C), dnew(n), dnew(n)};
    fill(c.wte, V * C, -1, 1);
    fill(c.wpe, T * C, -1, 1);
    fill(c.wout, n, -1, 1);
    for (int pos = 0; pos < 2; pos++) {
        double *wpe = c.wpe;
        if (!pos)
            c.wpe = NULL;
        embed_loss(&c);
        int bad = 0;
        for (int bt = 0; bt < B * T; bt++)
            for (int i = 0; i < C; i++)
                bad += c.out[bt * C + i] !=
                       c.wte[tok[bt] * C + i] + (c.wpe ? c.wpe[(bt % T) * C + i] : 0);
        T_CHECK(!bad, "embed_forward (wpe %s): %d wrong values", c.wpe ? "set" : "NULL", bad);

        double *dte0 = dnew(V * C), *dpe0 = dnew(T * C), *g = dnew(V * C + T * C);
        fill(dte0, V * C, -1, 1);
        fill(dpe0, T * C, -1, 1);
        double *dte = dcopy(dte0, V * C), *dpe = dcopy(dpe0, T * C);
        d_embed_backward(NULL, dte, c.wpe ? dpe : NULL, c.wout, tok, B, T, C);
        dsub(dte, dte0, V * C);
        fd_grad(embed_loss, &c, c.wte, V * C, g);
        check_vec("dwte", dte, g, V * C, GRAD_TOL);
        if (c.wpe) {
            dsub(dpe, dpe0, T * C);
            fd_grad(embed_loss, &c, c.wpe, T * C, g);
            check_vec("dwpe", dpe, g, T * C, GRAD_TOL);
        }
        c.wpe = wpe;
        free(dte0), free(dpe0), free(g), free(dte), free(dpe);
    }
    free(c.wte), free(c.wpe), free(c.wout), free(c.out);
}

static void test_embed_large(void)
{
    int B = 4, T = 64, C = 160, V = 50;
    int64_t n = (int64_t)B * T * C;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(B * T));
    for (int i = 0; i < B * T; i++)
        tok[i] = (int32_t)(urand() * V);
    double *wte = dnew(V * C), *wpe = dnew(T * C), *dout = dnew(n);
    fill(wte, V * C, -1, 1);
    fill(wpe, T * C, -1, 1);
    fill(dout, n, -1, 1);
    double *out[2], *dte[2], *dpe[2];
    for (int r = 0; r < 2; r++) {
        out[r] = dnew(n), dte[r] = dcopy(wte, V * C), dpe[r] = dcopy(wpe, T * C);
        dthreads(r ? 3 : 1);
        d_embed_forward(NULL, out[r], tok, wte, wpe, B, T, C);
        d_embed_backward(NULL, dte[r], dpe[r], dout, tok, B, T, C);
    }
    check_vec("parallel out", out[1], out[0], n, PAR_TOL);
    check_vec("parallel dwte", dte[1], dte[0], V * C, PAR_TOL);
    check_vec("parallel dwpe", dpe[1], dpe[0], T * C, PAR_TOL);
    float *fte = fcopy(wte, V * C), *fpe = fcopy(wpe, T * C), *fd = fcopy(dout, n);
    float *fo = fnew(n), *fdte[2], *fdpe[2];
    kf->embed_forward(kf, fo, tok, fte, fpe, B, T, C);
    check_vecf("f32 out", fo, out[0], n, F32_TOL);
    for (int r = 0; r < 2; r++) {
        fdte[r] = fcopy(wte, V * C), fdpe[r] = fcopy(wpe, T * C);
        kf->embed_backward(kf, fdte[r], fdpe[r], fd, tok, B, T, C);
    }
    check_vecf("f32 dwte", fdte[0], dte[0], V * C, F32_TOL);
    check_vecf("f32 dwpe", fdpe[0], dpe[0], T * C, F32_TOL);
    check_same("f32 dwte", fdte[0], fdte[1], sizeof(float) * (size_t)(V * C));
    check_same("f32 dwpe", fdpe[0], fdpe[1], sizeof(float) * (size_t)(T * C));
    for (int r = 0; r < 2; r++)
        free(out[r]), free(dte[r]), free(dpe[r]), free(fdte[r]), free(fdpe[r]);
    free(tok), free(wte), free(wpe), free(dout), free(fte), free(fpe), free(fd), free(fo);
}

/* ---------------------------------------------------------------- attention pieces ---- */

typedef struct {
    int B, T, H, D;
    double *qkv, *q, *k, *v, *wq, *wk, *wv; /* split */
    double *y, *out, *wo;                   /* merge */
} attn_ctx;

static double split_loss(void *p)
{
    attn_ctx *c = p;
    int64_t n = (int64_t)c->B * c->T * c->H * c->D;
    d_attn_split(NULL, c->q, c->k, c->v, c->qkv, c->B, c->T, c->H, c->D);
    return wsum(c->wq, c->q, n) + wsum(c->wk, c->k, n) + wsum(c->wv, c->v, n);
}

static double merge_loss(void *p)
{
    attn_ctx *c = p;
    d_attn_merge(NULL, c->out, c->y, c->B, c->T, c->H, c->D);
    return wsum(c->wo, c->out, (int64_t)c->B * c->T * c->H * c->D);
}

static void test_attn_split_merge_grad(void)
{
    int B = 2, T = 3, H = 2, D = 4, C = H * D;
    int64_t n = (int64_t)B * T * C;
    attn_ctx c = {B, T, H, D, dnew(3 * n), dnew(n), dnew(n), dnew(n), dnew(n), dnew(n),
                  dnew(n), dnew(n), dnew(n), dnew(n)};
    fill(c.qkv, 3 * n, -1, 1);
    fill(c.wq, n, -1, 1);
    fill(c.wk, n, -1, 1);
    fill(c.wv, n, -1, 1);
    fill(c.y, n, -1, 1);
    fill(c.wo, n, -1, 1);
    dthreads(2);
    split_loss(&c);
    merge_loss(&c);
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++) {
                    int64_t i = (((int64_t)b * H + h) * T + t) * D + d;
                    const double *row = c.qkv + ((int64_t)b * T + t) * 3 * C;
                    bad += c.q[i] != row[h * D + d] || c.k[i] != row[C + h * D + d] ||
                           c.v[i] != row[2 * C + h * D + d];
                    bad += c.out[((int64_t)b * T + t) * C + h * D + d] != c.y[i];
                }
    T_CHECK(!bad, "split/merge forward: %d wrong values", bad);

    double *dqkv = dnew(3 * n), *dy = dnew(n), *g = dnew(3 * n);
    fill_nan(dqkv, 3 * n); /* overwrites: no NaN may survive */
    fill_nan(dy, n);
    d_attn_split_backward(NULL, dqkv, c.wq, c.wk, c.wv, B, T, H, D);
    d_attn_merge_backward(NULL, dy, c.wo, B, T, H, D);
    fd_grad(split_loss, &c, c.qkv, 3 * n, g);
    check_vec("dqkv", dqkv, g, 3 * n, GRAD_TOL);
    fd_grad(merge_loss, &c, c.y, n, g);
    check_vec("dy", dy, g, n, GRAD_TOL);
    free(c.qkv), free(c.q), free(c.k), free(c.v), free(c.wq), free(c.wk), free(c.wv);
    free(c.y), free(c.out), free(c.wo), free(dqkv), free(dy), free(g);
}

typedef struct {
    int BH, T, D;
    double theta, *x, *out, *w;
} rope_ctx;

static double rope_loss(void *p)
{
    rope_ctx *c = p;
    d_rope_forward(NULL, c->out, c->x, c->BH, c->T, c->D, c->theta);
    return wsum(c->w, c->out, (int64_t)c->BH * c->T * c->D);
}

static void test_rope_grad(void)
{
    int BH = 3, T = 5, D = 8;
    int64_t n = (int64_t)BH * T * D;
    double thetas[2] = {10000, 7};
    for (int th = 0; th < 2; th++) {
        rope_ctx c = {BH, T, D, thetas[th], dnew(n), dnew(n), dnew(n)};
        fill(c.x, n, -1, 1);
        fill(c.w, n, -1, 1);
        dthreads(2);
        rope_loss(&c);
        double *want = dnew(n);
        for (int bh = 0; bh < BH; bh++)
            for (int t = 0; t < T; t++)
                for (int i = 0; i < D / 2; i++) {
                    double f = t * pow(c.theta, -2.0 * i / D);
                    const double *x = c.x + ((int64_t)bh * T + t) * D;
                    double *o = want + ((int64_t)bh * T + t) * D;
                    o[i] = x[i] * cos(f) - x[i + D / 2] * sin(f);
                    o[i + D / 2] = x[i + D / 2] * cos(f) + x[i] * sin(f);
                }
        check_vec("rope forward", c.out, want, n, 1e-12);
        double *inplace = dcopy(c.x, n);
        d_rope_forward(NULL, inplace, inplace, BH, T, D, c.theta);
        check_vec("rope forward in place", inplace, want, n, 1e-15);

        double *dx = dnew(n), *g = dnew(n);
        fill_nan(dx, n);
        d_rope_backward(NULL, dx, c.w, BH, T, D, c.theta);
        fd_grad(rope_loss, &c, c.x, n, g);
        check_vec("rope dx", dx, g, n, GRAD_TOL);
        double *dinplace = dcopy(c.w, n);
        d_rope_backward(NULL, dinplace, dinplace, BH, T, D, c.theta);
        check_vec("rope dx in place", dinplace, dx, n, 1e-15);
        free(c.x), free(c.out), free(c.w), free(want), free(inplace), free(dx), free(g);
        free(dinplace);
    }
}

static void test_attn_large(void)
{
    int B = 2, T = 64, H = 4, D = 32, C = H * D;
    int64_t n = (int64_t)B * T * C;
    double *qkv = dnew(3 * n), *y = dnew(n), *dq = dnew(n), *dk = dnew(n), *dv = dnew(n);
    fill(qkv, 3 * n, -1, 1);
    fill(y, n, -1, 1);
    fill(dq, n, -1, 1);
    fill(dk, n, -1, 1);
    fill(dv, n, -1, 1);
    /* The permutations move values without arithmetic: float and double agree exactly. */
    float *fqkv = fcopy(qkv, 3 * n), *fy = fcopy(y, n), *fq = fnew(n), *fk = fnew(n),
          *fv = fnew(n), *fo = fnew(n), *fdq = fcopy(dq, n), *fdk = fcopy(dk, n),
          *fdv = fcopy(dv, n), *fdqkv = fnew(3 * n), *fdy = fnew(n);
    double *q = dnew(n), *k = dnew(n), *v = dnew(n), *o = dnew(n), *dqkv = dnew(3 * n),
           *dy = dnew(n);
    dthreads(1);
    d_attn_split(NULL, q, k, v, qkv, B, T, H, D);
    d_attn_merge(NULL, o, y, B, T, H, D);
    d_attn_split_backward(NULL, dqkv, dq, dk, dv, B, T, H, D);
    d_attn_merge_backward(NULL, dy, y, B, T, H, D);
    kf->attn_split(kf, fq, fk, fv, fqkv, B, T, H, D);
    kf->attn_merge(kf, fo, fy, B, T, H, D);
    kf->attn_split_backward(kf, fdqkv, fdq, fdk, fdv, B, T, H, D);
    kf->attn_merge_backward(kf, fdy, fy, B, T, H, D);
    check_vecf("f32 q", fq, q, n, 1e-7);
    check_vecf("f32 k", fk, k, n, 1e-7);
    check_vecf("f32 v", fv, v, n, 1e-7);
    check_vecf("f32 merge", fo, o, n, 1e-7);
    check_vecf("f32 dqkv", fdqkv, dqkv, 3 * n, 1e-7);
    check_vecf("f32 dy", fdy, dy, n, 1e-7);

    /* RoPE on BH*T*D = 65536 values: parallel over positions. */
    int BH = B * H * 4;
    int64_t nr = (int64_t)BH * T * D;
    double *x = dnew(nr), *r1 = dnew(nr), *r3 = dnew(nr), *b1 = dnew(nr);
    fill(x, nr, -1, 1);
    dthreads(1);
    d_rope_forward(NULL, r1, x, BH, T, D, 10000);
    d_rope_backward(NULL, b1, x, BH, T, D, 10000);
    dthreads(3);
    d_rope_forward(NULL, r3, x, BH, T, D, 10000);
    check_vec("parallel rope", r3, r1, nr, PAR_TOL);
    double *rw = dnew(nr); /* the formula, position by position */
    for (int bh = 0; bh < BH; bh++)
        for (int t = 0; t < T; t++)
            for (int i = 0; i < D / 2; i++) {
                double f = t * pow(10000.0, -2.0 * i / D);
                const double *xr = x + ((int64_t)bh * T + t) * D;
                double *ro = rw + ((int64_t)bh * T + t) * D;
                ro[i] = xr[i] * cos(f) - xr[i + D / 2] * sin(f);
                ro[i + D / 2] = xr[i + D / 2] * cos(f) + xr[i] * sin(f);
            }
    check_vec("rope forward, many positions", r1, rw, nr, 1e-12);
    free(rw);
    float *fx = fcopy(x, nr), *fr = fnew(nr), *fr2 = fnew(nr), *fb = fnew(nr);
    kf->rope_forward(kf, fr, fx, BH, T, D, 10000.0f);
    kf->rope_forward(kf, fr2, fx, BH, T, D, 10000.0f);
    kf->rope_backward(kf, fb, fx, BH, T, D, 10000.0f);
    check_vecf("f32 rope", fr, r1, nr, F32_TOL);
    check_vecf("f32 rope backward", fb, b1, nr, F32_TOL);
    check_same("f32 rope", fr, fr2, sizeof(float) * (size_t)nr);
    free(qkv), free(y), free(dq), free(dk), free(dv), free(fqkv), free(fy), free(fq), free(fk);
    free(fv), free(fo), free(fdq), free(fdk), free(fdv), free(fdqkv), free(fdy), free(q), free(k);
    free(v), free(o), free(dqkv), free(dy), free(x), free(r1), free(r3), free(b1), free(fx);
    free(fr), free(fr2), free(fb);
}

/* ---------------------------------------------------------------- softmax ---- */

typedef struct {
    int BH, T;
    double *x, *att, *w;
} softmax_ctx;

static double softmax_loss(void *p)
{
    softmax_ctx *c = p;
    int64_t n = (int64_t)c->BH * c->T * c->T;
    memcpy(c->att, c->x, sizeof(double) * (size_t)n);
    d_softmax_causal_forward(NULL, c->att, c->BH, c->T);
    return wsum(c->w, c->att, n);
}

static void test_softmax_causal_grad(void)
{
    int BH = 2, T = 6;
    int64_t n = (int64_t)BH * T * T;
    softmax_ctx c = {BH, T, dnew(n), dnew(n), dnew(n)};
    fill(c.x, n, -3, 3);
    fill(c.w, n, -1, 1);
    dthreads(2);
    softmax_loss(&c);
    double *want = dnew(n);
    for (int r = 0; r < BH * T; r++) {
        int t = r % T;
        double mx = -INFINITY, s = 0;
        for (int j = 0; j <= t; j++)
            mx = fmax(mx, c.x[r * T + j]);
        for (int j = 0; j <= t; j++)
            s += exp(c.x[r * T + j] - mx);
        for (int j = 0; j < T; j++)
            want[r * T + j] = j <= t ? exp(c.x[r * T + j] - mx) / s : 0;
    }
    check_vec("softmax forward", c.att, want, n, 1e-12);

    double *dpre = dnew(n), *g = dnew(n);
    fill_nan(dpre, n);
    d_softmax_causal_backward(NULL, dpre, c.w, c.att, BH, T);
    fd_grad(softmax_loss, &c, c.x, n, g); /* the masked entries have gradient 0 */
    softmax_loss(&c);
    check_vec("softmax dpre", dpre, g, n, GRAD_TOL);
    double *inplace = dcopy(c.w, n);
    d_softmax_causal_backward(NULL, inplace, inplace, c.att, BH, T);
    check_vec("softmax dpre in place", inplace, dpre, n, 1e-15);
    free(c.x), free(c.att), free(c.w), free(want), free(dpre), free(g), free(inplace);
}

static void test_softmax_large(void)
{
    int BH = 8, T = 128;
    int64_t n = (int64_t)BH * T * T;
    double *x = dnew(n), *w = dnew(n);
    fill(x, n, -8, 8);
    /* the first slice, in [60, 180], would overflow float exp without the row maximum */
    fill(x, (int64_t)T * T, 60, 180);
    fill(w, n, -1, 1);
    double *a1 = dcopy(x, n), *a3 = dcopy(x, n), *d1 = dnew(n), *d3 = dnew(n);
    dthreads(1);
    d_softmax_causal_forward(NULL, a1, BH, T);
    d_softmax_causal_backward(NULL, d1, w, a1, BH, T);
    dthreads(3);
    d_softmax_causal_forward(NULL, a3, BH, T);
    d_softmax_causal_backward(NULL, d3, w, a3, BH, T);
    check_vec("parallel softmax", a3, a1, n, PAR_TOL);
    check_vec("parallel softmax backward", d3, d1, n, PAR_TOL);
    float *fa = fcopy(x, n), *fa2 = fcopy(x, n), *fw = fcopy(w, n), *fd = fnew(n);
    kf->softmax_causal_forward(kf, fa, BH, T);
    kf->softmax_causal_forward(kf, fa2, BH, T);
    kf->softmax_causal_backward(kf, fd, fw, fa, BH, T);
    check_vecf("f32 softmax", fa, a1, n, F32_TOL);
    check_vecf("f32 softmax backward", fd, d1, n, F32_TOL);
    check_same("f32 softmax", fa, fa2, sizeof(float) * (size_t)n);
    free(x), free(w), free(a1), free(a3), free(d1), free(d3), free(fa), free(fa2), free(fw);
    free(fd);
}

/* ------------------------------------------------- causal attention, head by head ---- */

/* The pieces the engine calls where a backend has no attn_probs ops (engine/model.c):
 * batched products by blocks of cs query rows, the softmax over the whole (BH,T,T). */
static void pieces_forward(double *att, double *yh, const double *q, const double *k,
                           const double *v, int BH, int T, int D, double scale, int cs)
{
    int64_t sTD = (int64_t)T * D, sTT = (int64_t)T * T;
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T;
        d_matmul(NULL, att + (int64_t)q0 * T, q + (int64_t)q0 * D, k, q1 - q0, q1, D, 0, 1, D, D,
                 T, sTD, sTD, sTT, BH, scale, 0);
    }
    d_softmax_causal_forward(NULL, att, BH, T);
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T;
        d_matmul(NULL, yh + (int64_t)q0 * D, att + (int64_t)q0 * T, v, q1 - q0, D, q1, 0, 0, T, D,
                 D, sTT, sTD, sTD, BH, 1, 0);
    }
}

static void pieces_backward(double *dq, double *dk, double *dv, double *datt, const double *dy,
                            const double *q, const double *k, const double *v,
                            const double *att, int BH, int T, int D, double scale, int cs)
{
    int64_t sTD = (int64_t)T * D, sTT = (int64_t)T * T, n = (int64_t)BH * sTD;
    memset(dv, 0, sizeof(double) * (size_t)n);
    memset(dk, 0, sizeof(double) * (size_t)n);
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T, rows = q1 - q0;
        d_matmul(NULL, datt + (int64_t)q0 * T, dy + (int64_t)q0 * D, v, rows, q1, D, 0, 1, D, D,
                 T, sTD, sTD, sTT, BH, 1, 0);
        d_matmul(NULL, dv, att + (int64_t)q0 * T, dy + (int64_t)q0 * D, q1, D, rows, 1, 0, T, D, D,
                 sTT, sTD, sTD, BH, 1, 1);
    }
    d_softmax_causal_backward(NULL, datt, datt, att, BH, T);
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T, rows = q1 - q0;
        d_matmul(NULL, dq + (int64_t)q0 * D, datt + (int64_t)q0 * T, k, rows, D, q1, 0, 0, T, D, D,
                 sTT, sTD, sTD, BH, scale, 0);
        d_matmul(NULL, dk, datt + (int64_t)q0 * T, q + (int64_t)q0 * D, q1, D, rows, 1, 0, T, D, D,
                 sTT, sTD, sTD, BH, scale, 1);
    }
}

/* The float pieces through the table k, as pieces_forward and pieces_backward. */
static void attn_probs_pieces_f32(nl_kernels *k, float *att, float *yh, float *dq, float *dk,
                                  float *dv, const float *dy, const float *q, const float *kk,
                                  const float *v, int BH, int T, int D, float scale, int cs)
{
    int64_t sTD = (int64_t)T * D, sTT = (int64_t)T * T, n = (int64_t)BH * sTD;
    float *datt = fnew((int64_t)BH * sTT);
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T;
        k->matmul(k, att + (int64_t)q0 * T, q + (int64_t)q0 * D, kk, q1 - q0, q1, D, 0, 1, D, D,
                  T, sTD, sTD, sTT, BH, scale, 0);
    }
    k->softmax_causal_forward(k, att, BH, T);
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T;
        k->matmul(k, yh + (int64_t)q0 * D, att + (int64_t)q0 * T, v, q1 - q0, D, q1, 0, 0, T, D,
                  D, sTT, sTD, sTD, BH, 1, 0);
    }
    memset(dv, 0, sizeof(float) * (size_t)n);
    memset(dk, 0, sizeof(float) * (size_t)n);
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T, rows = q1 - q0;
        k->matmul(k, datt + (int64_t)q0 * T, dy + (int64_t)q0 * D, v, rows, q1, D, 0, 1, D, D, T,
                  sTD, sTD, sTT, BH, 1, 0);
        k->matmul(k, dv, att + (int64_t)q0 * T, dy + (int64_t)q0 * D, q1, D, rows, 1, 0, T, D, D,
                  sTT, sTD, sTD, BH, 1, 1);
    }
    k->softmax_causal_backward(k, datt, datt, att, BH, T);
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T, rows = q1 - q0;
        k->matmul(k, dq + (int64_t)q0 * D, datt + (int64_t)q0 * T, kk, rows, D, q1, 0, 0, T, D, D,
                  sTT, sTD, sTD, BH, scale, 0);
        k->matmul(k, dk, datt + (int64_t)q0 * T, q + (int64_t)q0 * D, q1, D, rows, 1, 0, T, D, D,
                  sTT, sTD, sTD, BH, scale, 1);
    }
    free(datt);
}

/* attn_probs_forward/backward against the pieces: in double for block sizes that divide T,
 * that do not, and one block, with heads shared out over threads and heads one at a time;
 * then the float ops of the table against the float pieces, bit for bit. */
static void test_attn_probs(void)
{
    const int T = 40, D = 8;
    const int bhs[] = {6, 1}, css[] = {16, 7, 40};
    double scale = 1 / sqrt((double)D);
    for (int bi = 0; bi < 2; bi++) {
        int BH = bhs[bi];
        int64_t nq = (int64_t)BH * T * D, na = (int64_t)BH * T * T;
        double *q = dnew(nq), *k = dnew(nq), *v = dnew(nq), *dy = dnew(nq);
        fill(q, nq, -2, 2), fill(k, nq, -2, 2), fill(v, nq, -1, 1), fill(dy, nq, -1, 1);
        for (int ci = 0; ci < 3; ci++) {
            int cs = css[ci];
            double *a0 = dnew(na), *y0 = dnew(nq), *q0 = dnew(nq), *k0 = dnew(nq), *v0 = dnew(nq);
            double *da0 = dnew(na);
            dthreads(1);
            pieces_forward(a0, y0, q, k, v, BH, T, D, scale, cs);
            pieces_backward(q0, k0, v0, da0, dy, q, k, v, a0, BH, T, D, scale, cs);
            for (int th = 1; th <= 3; th += 2) {
                dthreads(th);
                double *a1 = dnew(na), *y1 = dnew(nq), *q1 = dnew(nq), *k1 = dnew(nq);
                double *v1 = dnew(nq), *da1 = dnew(na);
                fill_nan(a1, na), fill_nan(q1, nq), fill_nan(k1, nq), fill_nan(v1, nq);
                d_attn_probs_forward(NULL, a1, y1, q, k, v, BH, T, D, scale, cs);
                d_attn_probs_backward(NULL, q1, k1, v1, da1, dy, q, k, v, a1, BH, T, D, scale, cs);
                check_vec("attn_probs att", a1, a0, na, PAR_TOL);
                check_vec("attn_probs out", y1, y0, nq, PAR_TOL);
                check_vec("attn_probs dq", q1, q0, nq, PAR_TOL);
                check_vec("attn_probs dk", k1, k0, nq, PAR_TOL);
                check_vec("attn_probs dv", v1, v0, nq, PAR_TOL);
                free(a1), free(y1), free(q1), free(k1), free(v1), free(da1);
            }
            free(a0), free(y0), free(q0), free(k0), free(v0), free(da0);
        }
        /* the float table: the fused ops against its own pieces (the same sums, in another
         * order where the register-blocked products run: kernels/cpu/ops_attn_vec.inc) */
        float *fq = fcopy(q, nq), *fk = fcopy(k, nq), *fv = fcopy(v, nq), *fdy = fcopy(dy, nq);
        float *fa = fnew(na), *fy = fnew(nq), *fa2 = fnew(na), *fy2 = fnew(nq), *fda = fnew(na);
        float *g[6];
        for (int i = 0; i < 6; i++)
            g[i] = fnew(nq);
        int cs = 16;
        kf->attn_probs_forward(kf, fa, fy, fq, fk, fv, BH, T, D, (float)scale, cs);
        kf->attn_probs_backward(kf, g[0], g[1], g[2], fda, fdy, fq, fk, fv, fa, BH, T, D,
                                (float)scale, cs);
        attn_probs_pieces_f32(kf, fa2, fy2, g[3], g[4], g[5], fdy, fq, fk, fv, BH, T, D,
                              (float)scale, cs);
        check_closef("f32 attn_probs att", fa, fa2, na, 1e-5);
        check_closef("f32 attn_probs out", fy, fy2, nq, 1e-5);
        check_closef("f32 attn_probs dq", g[0], g[3], nq, 1e-5);
        check_closef("f32 attn_probs dk", g[1], g[4], nq, 1e-5);
        check_closef("f32 attn_probs dv", g[2], g[5], nq, 1e-5);
        for (int i = 0; i < 6; i++)
            free(g[i]);
        free(fq), free(fk), free(fv), free(fdy), free(fa), free(fy), free(fa2), free(fy2);
        free(fda), free(q), free(k), free(v), free(dy);
    }
}

/* The register-blocked attention products (kernels/cpu/ops_attn_vec.inc) run in the float
 * table where the head size is a multiple of the vector length: against the double pieces
 * for head sizes 16 to 128, lengths that are and are not multiples of the blocks, heads
 * shared out over three threads and one head at a time on one thread. */
static void test_attn_vec(void)
{
    const int Ds[] = {16, 32, 64, 128}, Ts[] = {40, 77}, css[] = {16, 64, 7};
    nl_kernels *k1 = nl_kernels_cpu_create(1);
    dthreads(1);
    for (int di = 0; di < 4; di++)
        for (int ti = 0; ti < 2; ti++)
            for (int ci = 0; ci < 3; ci++) {
                int D = Ds[di], T = Ts[ti], cs = css[ci] > T ? T : css[ci], BH = 3;
                double scale = 1 / sqrt((double)D);
                int64_t nq = (int64_t)BH * T * D, na = (int64_t)BH * T * T;
                double *q = dnew(nq), *k = dnew(nq), *v = dnew(nq), *dy = dnew(nq);
                fill(q, nq, -2, 2), fill(k, nq, -2, 2), fill(v, nq, -1, 1), fill(dy, nq, -1, 1);
                double *a0 = dnew(na), *y0 = dnew(nq), *g0[3], *da0 = dnew(na);
                for (int i = 0; i < 3; i++)
                    g0[i] = dnew(nq);
                pieces_forward(a0, y0, q, k, v, BH, T, D, scale, cs);
                pieces_backward(g0[0], g0[1], g0[2], da0, dy, q, k, v, a0, BH, T, D, scale, cs);
                float *fq = fcopy(q, nq), *fk = fcopy(k, nq), *fv = fcopy(v, nq);
                float *fdy = fcopy(dy, nq), *fa = fnew(na), *fy = fnew(nq), *fda = fnew(na);
                float *g[3] = {fnew(nq), fnew(nq), fnew(nq)};
                for (int w = 0; w < 2; w++) {
                    nl_kernels *kk = w ? k1 : kf;
                    int bh = w ? 1 : BH; /* one head on one thread: the matmul op's place */
                    kk->attn_probs_forward(kk, fa, fy, fq, fk, fv, bh, T, D, (float)scale, cs);
                    kk->attn_probs_backward(kk, g[0], g[1], g[2], fda, fdy, fq, fk, fv, fa, bh, T,
                                            D, (float)scale, cs);
                    int64_t mq = (int64_t)bh * T * D, ma = (int64_t)bh * T * T;
                    char what[96];
                    snprintf(what, sizeof what, "attn vec D %d T %d cs %d %s", D, T, cs,
                             w ? "1 thread" : "heads over 3 threads");
                    check_vecf(what, fa, a0, ma, 2e-6);
                    check_vecf(what, fy, y0, mq, 2e-6);
                    check_vecf(what, g[0], g0[0], mq, 1e-5);
                    check_vecf(what, g[1], g0[1], mq, 1e-5);
                    check_vecf(what, g[2], g0[2], mq, 1e-5);
                }
                free(q), free(k), free(v), free(dy), free(a0), free(y0), free(da0);
                free(fq), free(fk), free(fv), free(fdy), free(fa), free(fy), free(fda);
                for (int i = 0; i < 3; i++)
                    free(g0[i]), free(g[i]);
            }
    k1->destroy(k1);
}

/* ---------------------------------------------------------------- activations ---- */

typedef struct {
    int64_t n;
    double *x, *up, *w, *out;
    int swiglu;
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    if (c->swiglu)
        d_swiglu_forward(NULL, c->out, c->x, c->up, c->n);
    else
        d_gelu_forward(NULL, c->out, c->x, c->n);
    return wsum(c->w, c->out, c->n);
}

static void test_gelu_grad(void)
{
    int64_t n = 60;
    act_ctx c = {n, dnew(n), NULL, dnew(n), dnew(n), 0};
    fill(c.x, n, -5, 5);
    fill(c.w, n, -1, 1);
    dthreads(2);
    act_loss(&c);
    double *want = dnew(n);
    for (int64_t i = 0; i < n; i++) {
        double x = c.x[i];
        want[i] = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    }
    check_vec("gelu forward", c.out, want, n, 1e-14);
    double *dx = dnew(n), *g = dnew(n);
    fill_nan(dx, n);
    d_gelu_backward(NULL, dx, c.x, c.w, n);
    fd_grad(act_loss, &c, c.x, n, g);
    check_vec("gelu dx", dx, g, n, GRAD_TOL);
    free(c.x), free(c.w), free(c.out), free(want), free(dx), free(g);
}

static void test_swiglu_grad(void)
{
    int64_t n = 60;
    act_ctx c = {n, dnew(n), dnew(n), dnew(n), dnew(n), 1};
    fill(c.x, n, -6, 6);
    fill(c.up, n, -2, 2);
    fill(c.w, n, -1, 1);
    dthreads(2);
    act_loss(&c);
    double *want = dnew(n);
    for (int64_t i = 0; i < n; i++)
        want[i] = c.x[i] / (1 + exp(-c.x[i])) * c.up[i];
    check_vec("swiglu forward", c.out, want, n, 1e-14);
    double *dg = dnew(n), *du = dnew(n), *g = dnew(n);
    fill_nan(dg, n);
    fill_nan(du, n);
    d_swiglu_backward(NULL, dg, du, c.x, c.up, c.w, n);
    fd_grad(act_loss, &c, c.x, n, g);
    check_vec("swiglu dgate", dg, g, n, GRAD_TOL);
    fd_grad(act_loss, &c, c.up, n, g);
    check_vec("swiglu dup", du, g, n, GRAD_TOL);
    free(c.x), free(c.up), free(c.w), free(c.out), free(want), free(dg), free(du), free(g);
}

static void test_activations_large(void)
{
    int64_t n = 70001;
    double *x = dnew(n), *up = dnew(n), *d = dnew(n);
    fill(x, n, -10, 10);
    fill(up, n, -2, 2);
    fill(d, n, -1, 1);
    double *ge = dnew(n), *gd = dnew(n), *se = dnew(n), *sg = dnew(n), *su = dnew(n);
    dthreads(3);
    d_gelu_forward(NULL, ge, x, n);
    d_gelu_backward(NULL, gd, x, d, n);
    d_swiglu_forward(NULL, se, x, up, n);
    d_swiglu_backward(NULL, sg, su, x, up, d, n);
    float *fx = fcopy(x, n), *fu = fcopy(up, n), *fd = fcopy(d, n);
    float *fge = fnew(n), *fgd = fnew(n), *fse = fnew(n), *fsg = fnew(n), *fsu = fnew(n);
    kf->gelu_forward(kf, fge, fx, n);
    kf->gelu_backward(kf, fgd, fx, fd, n);
    kf->swiglu_forward(kf, fse, fx, fu, n);
    kf->swiglu_backward(kf, fsg, fsu, fx, fu, fd, n);
    check_vecf("f32 gelu", fge, ge, n, F32_TOL);
    check_vecf("f32 gelu backward", fgd, gd, n, F32_TOL);
    check_vecf("f32 swiglu", fse, se, n, F32_TOL);
    check_vecf("f32 swiglu dgate", fsg, sg, n, F32_TOL);
    check_vecf("f32 swiglu dup", fsu, su, n, F32_TOL);
    /* elementwise relative accuracy through the far negative tail (1e-4: exp(-2u) there
     * amplifies the float rounding of u, which grows like x^3) */
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += !(fabs(fge[i] - ge[i]) <= 1e-4 * fabs(ge[i]) + 1e-30);
    T_CHECK(bad == 0, "f32 gelu: %lld values off by more than 1e-4 relative", (long long)bad);
    free(x), free(up), free(d), free(ge), free(gd), free(se), free(sg), free(su), free(fx);
    free(fu), free(fd), free(fge), free(fgd), free(fse), free(fsg), free(fsu);
}

static void test_fast_exp(void)
{
    /* The float build's own exp over its whole useful range. */
    double worst = 0;
    for (double x = -87; x <= 88; x += 0.00731) {
        double e = exp((float)x);
        worst = fmax(worst, fabs(nl_expf((float)x) - e) / e);
    }
    T_CHECK(worst < 5e-7, "nl_expf relative error %.3g", worst);
    T_CHECK(nl_expf(-1000.0f) < 1e-37f && nl_expf(-1000.0f) >= 0, "nl_expf(-1000) = %g",
            nl_expf(-1000.0f));
    T_CHECK(nl_expf(1000.0f) > 1e38f, "nl_expf(1000) = %g", nl_expf(1000.0f));
    T_CHECK(isnan(nl_expf(NAN)), "nl_expf(NaN) is not NaN");
    T_CHECK(nl_expf(0.0f) == 1.0f, "nl_expf(0) = %.9g", nl_expf(0.0f));
}

/* ---------------------------------------------------------------- elementwise ---- */

static void test_axpy_add_scaled(void)
{
    const int64_t ns[2] = {13, 50000};
    for (int s = 0; s < 2; s++) {
        int64_t n = ns[s];
        double *x = dnew(n), *y = dnew(n), *want = dnew(n);
        fill(x, n, -1, 1);
        fill(y, n, -1, 1);
        for (int64_t i = 0; i < n; i++)
            want[i] = y[i] + 0.3 * x[i];
        float *fx = fcopy(x, n), *fy = fcopy(y, n), *fo = fnew(n);
        double *dy = dcopy(y, n);
        dthreads(3);
        d_axpy(NULL, dy, 0.3, x, n);
        check_vec("axpy", dy, want, n, 1e-15);
        kf->axpy(kf, fy, 0.3f, fx, n);
        check_vecf("f32 axpy", fy, want, n, F32_TOL);

        for (int64_t i = 0; i < n; i++)
            want[i] = -2 * x[i] + y[i];
        double *o = dnew(n), *ao = dcopy(x, n), *bo = dcopy(y, n);
        d_add_scaled(NULL, o, -2, x, y, n);
        d_add_scaled(NULL, ao, -2, ao, y, n); /* out aliasing a */
        d_add_scaled(NULL, bo, -2, x, bo, n); /* out aliasing b */
        check_vec("add_scaled", o, want, n, 1e-15);
        check_vec("add_scaled out=a", ao, want, n, 1e-15);
        check_vec("add_scaled out=b", bo, want, n, 1e-15);
        float *fyy = fcopy(y, n);
        kf->add_scaled(kf, fo, -2.0f, fx, fyy, n);
        check_vecf("f32 add_scaled", fo, want, n, F32_TOL);
        kf->add_scaled(kf, fyy, -2.0f, fx, fyy, n);
        check_vecf("f32 add_scaled out=b", fyy, want, n, F32_TOL);
        free(x), free(y), free(want), free(fx), free(fy), free(fo), free(dy), free(o), free(ao);
        free(bo), free(fyy);
    }
}

/* ---------------------------------------------------------------- cross-entropy ---- */

typedef struct {
    int N, V;
    double *logits, *losses, sum;
    const int32_t *targets;
} ce_ctx;

static double ce_loss(void *p)
{
    ce_ctx *c = p;
    d_cross_entropy_forward(NULL, c->losses, &c->sum, c->logits, c->targets, c->N, c->V);
    return c->sum;
}

static void test_cross_entropy_grad(void)
{
    int N = 4, V = 11;
    int32_t targets[4] = {3, 0, 10, 3};
    ce_ctx c = {N, V, dnew(N * V), dnew(N), 0, targets};
    fill(c.logits, N * V, -4, 4);
    c.logits[V + 5] = 30; /* a confident row */
    dthreads(2);
    ce_loss(&c);
    double total = 0;
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int v = 0; v < V; v++)
            s += exp(c.logits[n * V + v]);
        double want = log(s) - c.logits[n * V + targets[n]];
        T_NEAR(c.losses[n], want, 1e-13, "loss");
        total += want;
    }
    T_NEAR(c.sum, total, 1e-13, "loss_sum");

    double *dl = dnew(N * V), *g = dnew(N * V);
    fill_nan(dl, N * V);
    d_cross_entropy_backward(NULL, dl, c.logits, targets, 1, N, V);
    fd_grad(ce_loss, &c, c.logits, N * V, g);
    check_vec("dlogits", dl, g, N * V, GRAD_TOL);
    /* scaled, and written over the logits themselves */
    double *inplace = dcopy(c.logits, N * V);
    d_cross_entropy_backward(NULL, inplace, inplace, targets, 0.25, N, V);
    for (int i = 0; i < N * V; i++)
        g[i] *= 0.25;
    check_vec("dlogits scaled in place", inplace, g, N * V, GRAD_TOL);
    free(c.logits), free(c.losses), free(dl), free(g), free(inplace);
}

static void test_cross_entropy_large(void)
{
    int N = 96, V = 1000;
    int64_t n = (int64_t)N * V;
    int32_t *tg = malloc(sizeof(int32_t) * (size_t)N);
    for (int i = 0; i < N; i++)
        tg[i] = (int32_t)(urand() * V);
    double *lg = dnew(n), *l1 = dnew(N), *l3 = dnew(N), *d1 = dnew(n), *d3 = dnew(n), s1, s3;
    fill(lg, n, -6, 6);
    fill(lg, V, 50, 250); /* row 0 would overflow float exp without the row maximum */
    dthreads(1);
    d_cross_entropy_forward(NULL, l1, &s1, lg, tg, N, V);
    d_cross_entropy_backward(NULL, d1, lg, tg, 1.0 / N, N, V);
    dthreads(3);
    d_cross_entropy_forward(NULL, l3, &s3, lg, tg, N, V);
    d_cross_entropy_backward(NULL, d3, lg, tg, 1.0 / N, N, V);
    check_vec("parallel losses", l3, l1, N, PAR_TOL);
    T_NEAR(s3, s1, PAR_TOL, "parallel loss_sum");
    check_vec("parallel dlogits", d3, d1, n, PAR_TOL);
    float *fl = fcopy(lg, n), *fls = fnew(N), *fls2 = fnew(N), *fd = fnew(n), fs, fs2;
    kf->cross_entropy_forward(kf, fls, &fs, fl, tg, N, V);
    kf->cross_entropy_forward(kf, fls2, &fs2, fl, tg, N, V);
    kf->cross_entropy_backward(kf, fd, fl, tg, 1.0f / N, N, V);
    check_vecf("f32 losses", fls, l1, N, F32_TOL);
    T_NEAR(fs, s1, F32_TOL, "f32 loss_sum");
    T_CHECK(fs == fs2, "f32 loss_sum differs between two calls");
    check_vecf("f32 dlogits", fd, d1, n, F32_TOL);
    kf->cross_entropy_backward(kf, fl, fl, tg, 1.0f / N, N, V); /* in place */
    check_same("f32 dlogits in place", fl, fd, sizeof(float) * (size_t)n);
    free(tg), free(lg), free(l1), free(l3), free(d1), free(d3), free(fl), free(fls), free(fls2);
    free(fd);
}

/* ---------------------------------------------------------------- reductions, optimizer ---- */

static void test_sumsq_segments(void)
{
    int64_t off[6] = {0, 0, 5, 5 + 40000, 5 + 40000 + 3, 5 + 40000 + 3 + 100000};
    int nseg = 5;
    int64_t n = off[nseg];
    double *x = dnew(n), want[5], got1[5], got3[5];
    fill(x, n, -2, 2);
    for (int s = 0; s < nseg; s++) {
        long double acc = 0;
        for (int64_t i = off[s]; i < off[s + 1]; i++)
            acc += (long double)x[i] * x[i];
        want[s] = (double)acc;
    }
    dthreads(1);
    d_sumsq_segments(NULL, got1, x, off, nseg);
    dthreads(3);
    d_sumsq_segments(NULL, got3, x, off, nseg);
    for (int s = 0; s < nseg; s++) {
        T_NEAR(got1[s], want[s], 1e-12, "sumsq serial");
        T_NEAR(got3[s], want[s], 1e-12, "sumsq parallel");
    }
    T_CHECK(got1[0] == 0, "empty segment gives %g", got1[0]);
    float *fx = fcopy(x, n), f1[5], f2[5];
    kf->sumsq_segments(kf, f1, fx, off, nseg);
    kf->sumsq_segments(kf, f2, fx, off, nseg);
    check_vecf("f32 sumsq", f1, want, nseg, F32_TOL);
    check_same("f32 sumsq", f1, f2, sizeof f1);
    free(x), free(fx);
}

static void test_clip_scale(void)
{
    double sq[3] = {1, 4, 4}, out[2]; /* norm 3 */
    d_clip_scale(NULL, out, sq, 3, 1.5);
    T_NEAR(out[0], 3.0, 1e-15, "norm");
    T_NEAR(out[1], 1.5 / (3 + 1e-6), 1e-15, "scale when clipping");
    d_clip_scale(NULL, out, sq, 3, 5);
    T_CHECK(out[1] == 1, "scale %g when the norm is below max_norm", out[1]);
    d_clip_scale(NULL, out, sq, 3, 0);
    T_CHECK(out[1] == 1, "scale %g when max_norm is 0 (off)", out[1]);
    float fsq[3] = {1, 4, 4}, fo[2];
    kf->clip_scale(kf, fo, fsq, 3, 1.5f);
    T_NEAR(fo[0], 3.0, 1e-7, "f32 norm");
    T_NEAR(fo[1], 1.5 / (3 + 1e-6), 1e-7, "f32 scale");
}

static void test_adamw_steps(void)
{
    const int64_t ns[2] = {10, 40000};
    for (int s = 0; s < 2; s++) {
        int64_t n = ns[s];
        double lr = 0.01, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
        double *p = dnew(n), *m = dnew(n), *v = dnew(n), *gr = dnew(n);
        double *rp = dnew(n), *rm = dnew(n), *rv = dnew(n);
        fill(p, n, -1, 1);
        memcpy(rp, p, sizeof(double) * (size_t)n);
        float *fp = fcopy(p, n), *fm = fnew(n), *fv = fnew(n), *fg = fnew(n);
        double gs = 0.5;
        float fgs = 0.5f;
        for (int t = 1; t <= 3; t++) {
            fill(gr, n, -1, 1);
            for (int64_t i = 0; i < n; i++)
                fg[i] = (float)gr[i];
            double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
            const double *scale = t == 2 ? NULL : &gs; /* step 2 unscaled */
            for (int64_t i = 0; i < n; i++) {
                double g = gr[i] * (scale ? gs : 1);
                rm[i] = b1 * rm[i] + (1 - b1) * g;
                rv[i] = b2 * rv[i] + (1 - b2) * g * g;
                double mhat = rm[i] / bc1, vhat = rv[i] / bc2;
                rp[i] -= lr * (mhat / (sqrt(vhat) + eps) + wd * rp[i]);
            }
            dthreads(3);
            d_adamw(NULL, p, gr, m, v, n, lr, b1, b2, eps, wd, bc1, bc2, scale);
            kf->adamw(kf, fp, fg, fm, fv, n, (float)lr, (float)b1, (float)b2, (float)eps,
                      (float)wd, (float)bc1, (float)bc2, t == 2 ? NULL : &fgs);
        }
        check_vec("adamw p", p, rp, n, 1e-13);
        check_vec("adamw m", m, rm, n, 1e-13);
        check_vec("adamw v", v, rv, n, 1e-13);
        check_vecf("f32 adamw p", fp, rp, n, F32_TOL);
        check_vecf("f32 adamw m", fm, rm, n, F32_TOL);
        check_vecf("f32 adamw v", fv, rv, n, F32_TOL);
        free(p), free(m), free(v), free(gr), free(rp), free(rm), free(rv), free(fp), free(fm);
        free(fv), free(fg);
    }
}

/* ---------------------------------------------------------------- mixture of experts ---- */

static void test_router_topk(void)
{
    int N = 4, E = 6, K = 3;
    double lg[24];
    fill(lg, N * E, -2, 2);
    lg[1 * E + 2] = lg[1 * E + 4] = 5; /* a tie for the top: lower index first */
    lg[2 * E + 0] = lg[2 * E + 5] = -9; /* a tie at the bottom */
    for (int renorm = 0; renorm < 2; renorm++) {
        double probs[24], gates[12];
        int32_t idx[12];
        d_router_topk(NULL, probs, idx, gates, lg, N, E, K, renorm);
        for (int n = 0; n < N; n++) {
            double s = 0, p[6];
            for (int e = 0; e < E; e++)
                s += exp(lg[n * E + e]);
            for (int e = 0; e < E; e++) {
                p[e] = exp(lg[n * E + e]) / s;
                T_NEAR(probs[n * E + e], p[e], 1e-14, "probs");
            }
            int used[6] = {0}, want[3];
            double gsum = 0;
            for (int j = 0; j < K; j++) { /* selection written out: best unused, low index on ties */
                int b = 0;
                while (used[b])
                    b++;
                for (int e = b + 1; e < E; e++)
                    if (!used[e] && p[e] > p[b])
                        b = e;
                used[b] = 1;
                want[j] = b;
                gsum += p[b];
            }
            for (int j = 0; j < K; j++) {
                T_CHECK(idx[n * K + j] == want[j], "row %d slot %d: expert %d, expected %d", n,
                        j, idx[n * K + j], want[j]);
                T_NEAR(gates[n * K + j], p[want[j]] / (renorm ? gsum : 1), 1e-14, "gate");
            }
        }
        T_CHECK(idx[1 * K + 0] == 2 && idx[1 * K + 1] == 4, "tie broken as %d, %d", idx[K],
                idx[K + 1]);
    }
}

/* A direct transcription of the comment in kernels.h. */
static void router_losses_direct(double out[2], const double *probs, const double *logits,
                                 const int32_t *idx, int N, int E, int K)
{
    double aux = 0, z = 0;
    for (int e = 0; e < E; e++) {
        int cnt = 0;
        double P = 0;
        for (int s = 0; s < N * K; s++)
            cnt += idx[s] == e;
        for (int n = 0; n < N; n++)
            P += probs[n * E + e];
        aux += ((double)cnt / (N * K)) * (P / N);
    }
    for (int n = 0; n < N; n++) {
        double s = exp(logits[n * E]);
        for (int e = 1; e < E; e++)
            s += exp(logits[n * E + e]);
        z += log(s) * log(s);
    }
    out[0] = E * aux;
    out[1] = z / N;
}

static void test_router_losses(void)
{
    int N = 7, E = 5, K = 2;
    double lg[35], probs[35], gates[14], out[2], want[2];
    int32_t idx[14];
    fill(lg, N * E, -3, 3);
    d_router_topk(NULL, probs, idx, gates, lg, N, E, K, 0);
    d_router_losses(NULL, out, probs, lg, idx, N, E, K);
    router_losses_direct(want, probs, lg, idx, N, E, K);
    T_NEAR(out[0], want[0], 1e-13, "aux");
    T_NEAR(out[1], want[1], 1e-13, "z");
    float flg[35], fprobs[35], fgates[14], fout[2];
    int32_t fidx[14];
    for (int i = 0; i < N * E; i++)
        flg[i] = (float)lg[i];
    kf->router_topk(kf, fprobs, fidx, fgates, flg, N, E, K, 0);
    kf->router_losses(kf, fout, fprobs, flg, fidx, N, E, K);
    T_CHECK(!memcmp(fidx, idx, sizeof idx), "f32 router_topk chose other experts");
    T_NEAR(fout[0], want[0], F32_TOL, "f32 aux");
    T_NEAR(fout[1], want[1], F32_TOL, "f32 z");
}

typedef struct {
    int N, E, K, renorm, changed;
    double aux_coef, z_coef;
    double *logits, *dgates, *probs, *gates;
    int32_t *idx0, *idx;
} router_ctx;

/* sum dgates * gates + aux_coef * aux + z_coef * z, with f_e from the unperturbed routing. */
static double router_loss(void *p)
{
    router_ctx *c = p;
    double l[2];
    d_router_topk(NULL, c->probs, c->idx, c->gates, c->logits, c->N, c->E, c->K, c->renorm);
    c->changed |= memcmp(c->idx, c->idx0, sizeof(int32_t) * (size_t)(c->N * c->K)) != 0;
    d_router_losses(NULL, l, c->probs, c->logits, c->idx0, c->N, c->E, c->K);
    return wsum(c->dgates, c->gates, c->N * c->K) + c->aux_coef * l[0] + c->z_coef * l[1];
}

static void test_router_backward_grad(void)
{
    int N = 6, E = 5, K = 2;
    for (int renorm = 0; renorm < 2; renorm++) {
        router_ctx c = {N, E, K, renorm, 0, 0.7, 0.3, dnew(N * E), dnew(N * K), dnew(N * E),
                        dnew(N * K), calloc((size_t)(N * K), 4), calloc((size_t)(N * K), 4)};
        /* each row a shuffle of 0, 0.6, 1.2, ... plus noise: the top-k order has gaps far
         * wider than the finite-difference step */
        for (int n = 0; n < N; n++)
            for (int e = 0; e < E; e++)
                c.logits[n * E + (e * 3 + n) % E] = 0.6 * e + 0.1 * urand();
        fill(c.dgates, N * K, -1, 1);
        d_router_topk(NULL, c.probs, c.idx0, c.gates, c.logits, N, E, K, renorm);
        double *dl = dnew(N * E), *g = dnew(N * E);
        fill_nan(dl, N * E);
        d_router_backward(NULL, dl, c.dgates, c.probs, c.logits, c.idx0, c.gates, N, E, K,
                          renorm, c.aux_coef, c.z_coef);
        fd_grad(router_loss, &c, c.logits, N * E, g);
        T_CHECK(!c.changed, "the top-k choice moved under the perturbation");
        check_vec(renorm ? "dlogits (renorm)" : "dlogits", dl, g, N * E, GRAD_TOL);

        /* the float table on the same inputs */
        float *fl = fcopy(c.logits, N * E), *fdg = fcopy(c.dgates, N * K), *fp = fnew(N * E),
              *fg = fnew(N * K), *fdl = fnew(N * E);
        int32_t *fidx = calloc((size_t)(N * K), 4);
        kf->router_topk(kf, fp, fidx, fg, fl, N, E, K, renorm);
        kf->router_backward(kf, fdl, fdg, fp, fl, fidx, fg, N, E, K, renorm, 0.7f, 0.3f);
        check_vecf("f32 dlogits", fdl, dl, N * E, F32_TOL);
        free(c.logits), free(c.dgates), free(c.probs), free(c.gates), free(c.idx0), free(c.idx);
        free(dl), free(g), free(fl), free(fdg), free(fp), free(fg), free(fdl), free(fidx);
    }
}

static void test_router_large(void)
{
    int N = 4096, E = 16, K = 2;
    int64_t ne = (int64_t)N * E, nk = (int64_t)N * K;
    double *lg = dnew(ne), *dg = dnew(nk);
    fill(lg, ne, -4, 4);
    fill(dg, nk, -1, 1);
    double *p[2], *gt[2], *dl[2];
    int32_t *ix[2];
    for (int r = 0; r < 2; r++) {
        p[r] = dnew(ne), gt[r] = dnew(nk), dl[r] = dnew(ne), ix[r] = calloc((size_t)nk, 4);
        dthreads(r ? 3 : 1);
        d_router_topk(NULL, p[r], ix[r], gt[r], lg, N, E, K, 1);
        d_router_backward(NULL, dl[r], dg, p[r], lg, ix[r], gt[r], N, E, K, 1, 0.01, 0.001);
    }
    T_CHECK(!memcmp(ix[0], ix[1], sizeof(int32_t) * (size_t)nk), "parallel top-k differs");
    check_vec("parallel probs", p[1], p[0], ne, PAR_TOL);
    check_vec("parallel gates", gt[1], gt[0], nk, PAR_TOL);
    check_vec("parallel dlogits", dl[1], dl[0], ne, PAR_TOL);
    float *fl = fcopy(lg, ne), *fdg = fcopy(dg, nk), *fp = fnew(ne), *fg = fnew(nk),
          *fdl = fnew(ne), *fdl2 = fnew(ne), fo[2], fo2[2];
    int32_t *fix = calloc((size_t)nk, 4);
    double want[2];
    kf->router_topk(kf, fp, fix, fg, fl, N, E, K, 1);
    kf->router_backward(kf, fdl, fdg, fp, fl, fix, fg, N, E, K, 1, 0.01f, 0.001f);
    kf->router_backward(kf, fdl2, fdg, fp, fl, fix, fg, N, E, K, 1, 0.01f, 0.001f);
    kf->router_losses(kf, fo, fp, fl, fix, N, E, K);
    kf->router_losses(kf, fo2, fp, fl, fix, N, E, K);
    router_losses_direct(want, p[0], lg, ix[0], N, E, K);
    int moved = 0; /* float rounding may swap near-ties; compare only where it did not */
    for (int64_t i = 0; i < nk; i++)
        moved += fix[i] != ix[0][i];
    T_CHECK(moved < 8, "f32 top-k differs in %d of %lld slots", moved, (long long)nk);
    if (!moved) {
        check_vecf("f32 gates", fg, gt[0], nk, F32_TOL);
        check_vecf("f32 dlogits", fdl, dl[0], ne, F32_TOL);
        T_NEAR(fo[0], want[0], F32_TOL, "f32 aux");
    }
    check_vecf("f32 probs", fp, p[0], ne, F32_TOL);
    T_NEAR(fo[1], want[1], F32_TOL, "f32 z");
    check_same("f32 dlogits", fdl, fdl2, sizeof(float) * (size_t)ne);
    check_same("f32 router_losses", fo, fo2, sizeof fo);
    for (int r = 0; r < 2; r++)
        free(p[r]), free(gt[r]), free(dl[r]), free(ix[r]);
    free(lg), free(dg), free(fl), free(fdg), free(fp), free(fg), free(fdl), free(fdl2), free(fix);
}

static void test_moe_dispatch(void)
{
    int N = 9, E = 5, K = 2;
    int32_t idx[18], off[6], rows[18], slots[18];
    for (int n = 0; n < N; n++) { /* expert 3 gets nothing */
        idx[n * K] = (int32_t)((n * 7) % 3);
        idx[n * K + 1] = n % 2 ? 4 : (int32_t)((n * 7) % 3 + 1) % 3;
    }
    d_moe_dispatch(NULL, off, rows, slots, idx, N, E, K);
    int pos = 0;
    for (int e = 0; e < E; e++) {
        T_CHECK(off[e] == pos, "offsets[%d] = %d, expected %d", e, off[e], pos);
        for (int s = 0; s < N * K; s++)
            if (idx[s] == e) {
                T_CHECK(slots[pos] == s && rows[pos] == s / K,
                        "position %d: slot %d row %d, expected slot %d row %d", pos, slots[pos],
                        rows[pos], s, s / K);
                pos++;
            }
    }
    T_CHECK(off[E] == N * K && off[3] == off[4], "offsets[E] = %d, expert 3 [%d, %d)", off[E],
            off[3], off[4]);
    int32_t foff[6], frows[18], fslots[18];
    kf->moe_dispatch(kf, foff, frows, fslots, idx, N, E, K);
    T_CHECK(!memcmp(foff, off, sizeof off) && !memcmp(frows, rows, sizeof rows) &&
                !memcmp(fslots, slots, sizeof slots),
            "f32 table dispatch differs");
}

static void check_gather_scatter(int M, int N, int C)
{
    int32_t *rows = malloc(sizeof(int32_t) * (size_t)M);
    for (int m = 0; m < M; m++) /* repeated rows, and some rows never hit */
        rows[m] = (int32_t)((m * 5 + m / 3) % (N > 2 ? N - 2 : 1));
    double *inp = dnew((int64_t)N * C), *x = dnew((int64_t)M * C), *w = dnew(M);
    double *out0 = dnew((int64_t)N * C);
    fill(inp, (int64_t)N * C, -1, 1);
    fill(x, (int64_t)M * C, -1, 1);
    fill(w, M, -2, 2);
    fill(out0, (int64_t)N * C, -1, 1);

    double *g = dnew((int64_t)M * C), *want_g = dnew((int64_t)M * C), *dots = dnew(M);
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++)
            want_g[(int64_t)m * C + c] = inp[(int64_t)rows[m] * C + c];
    dthreads(3);
    d_gather_rows(NULL, g, inp, rows, M, C);
    check_vec("gather_rows", g, want_g, (int64_t)M * C, 0);

    for (int weighted = 0; weighted < 2; weighted++) {
        double *want = dcopy(out0, (int64_t)N * C), *got1 = dcopy(out0, (int64_t)N * C),
               *got3 = dcopy(out0, (int64_t)N * C);
        for (int r = 0; r < N; r++) /* explicit sums, in increasing m */
            for (int c = 0; c < C; c++)
                for (int m = 0; m < M; m++)
                    if (rows[m] == r)
                        want[(int64_t)r * C + c] += (weighted ? w[m] : 1) * x[(int64_t)m * C + c];
        dthreads(1);
        d_scatter_add_rows(NULL, got1, x, rows, weighted ? w : NULL, M, C);
        dthreads(3);
        d_scatter_add_rows(NULL, got3, x, rows, weighted ? w : NULL, M, C);
        check_vec("scatter_add_rows", got1, want, (int64_t)N * C, 1e-15);
        check_same("scatter_add_rows parallel", got3, got1, sizeof(double) * (size_t)N * C);
        float *fo = fcopy(out0, (int64_t)N * C), *fo2 = fcopy(out0, (int64_t)N * C),
              *fx = fcopy(x, (int64_t)M * C), *fw = fcopy(w, M);
        kf->scatter_add_rows(kf, fo, fx, rows, weighted ? fw : NULL, M, C);
        kf->scatter_add_rows(kf, fo2, fx, rows, weighted ? fw : NULL, M, C);
        check_vecf("f32 scatter_add_rows", fo, want, (int64_t)N * C, F32_TOL);
        check_same("f32 scatter_add_rows", fo, fo2, sizeof(float) * (size_t)N * C);
        free(want), free(got1), free(got3), free(fo), free(fo2), free(fx), free(fw);
    }

    d_row_dot(NULL, dots, x, g, M, C);
    for (int m = 0; m < M; m++) {
        double s = 0;
        for (int c = 0; c < C; c++)
            s += x[(int64_t)m * C + c] * g[(int64_t)m * C + c];
        T_NEAR(dots[m], s, 1e-13, "row_dot");
    }
    float *fx = fcopy(x, (int64_t)M * C), *finp = fcopy(inp, (int64_t)N * C),
          *fg = fnew((int64_t)M * C), *fdots = fnew(M);
    kf->gather_rows(kf, fg, finp, rows, M, C);
    check_vecf("f32 gather_rows", fg, want_g, (int64_t)M * C, 1e-7);
    kf->row_dot(kf, fdots, fx, fg, M, C);
    check_vecf("f32 row_dot", fdots, dots, M, F32_TOL);
    free(rows), free(inp), free(x), free(w), free(out0), free(g), free(want_g), free(dots);
    free(fx), free(finp), free(fg), free(fdots);
}

static void test_gather_scatter_rowdot(void)
{
    check_gather_scatter(11, 7, 5);      /* serial */
    check_gather_scatter(700, 300, 130); /* parallel, uneven column blocks */
}

int main(void)
{
    kf = nl_kernels_cpu_create(3); /* three threads: uneven splits on purpose */
    if (!kf) {
        printf("FAIL create: nl_kernels_cpu_create returned NULL\n");
        return 1;
    }
    T_RUN(test_alloc_and_copies);
    T_RUN(test_peak_gflops);
    T_RUN(test_describe);
    T_RUN(test_matmul_transposes);
    T_RUN(test_matmul_batched_strided);
    T_RUN(test_matmul_parallel_paths);
    T_RUN(test_layernorm_grad);
    T_RUN(test_layernorm_nobias_grad);
    T_RUN(test_rmsnorm_grad);
    T_RUN(test_norms_large);
    T_RUN(test_embed_grad);
    T_RUN(test_embed_large);
    T_RUN(test_attn_split_merge_grad);
    T_RUN(test_rope_grad);
    T_RUN(test_attn_large);
    T_RUN(test_softmax_causal_grad);
    T_RUN(test_softmax_large);
    T_RUN(test_attn_probs);
    T_RUN(test_attn_vec);
    T_RUN(test_gelu_grad);
    T_RUN(test_swiglu_grad);
    T_RUN(test_activations_large);
    T_RUN(test_fast_exp);
    T_RUN(test_axpy_add_scaled);
    T_RUN(test_cross_entropy_grad);
    T_RUN(test_cross_entropy_large);
    T_RUN(test_sumsq_segments);
    T_RUN(test_clip_scale);
    T_RUN(test_adamw_steps);
    T_RUN(test_router_topk);
    T_RUN(test_router_losses);
    T_RUN(test_router_backward_grad);
    T_RUN(test_router_large);
    T_RUN(test_moe_dispatch);
    T_RUN(test_gather_scatter_rowdot);
    kf->destroy(kf);
    T_END();
}
