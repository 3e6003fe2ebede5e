/* The CPU kernels: backend basics, matrix products, norms and embeddings. The op bodies
 * (kernels/cpu/ops.inc) are built a second time in double precision (tests/kernels_t.h), and
 * every backward is checked against central finite differences of its forward in double; the
 * forwards against direct computations written out below. Large shapes then check that the
 * parallel paths agree with the serial ones, that the float backend (through the nl_kernels
 * table) agrees with the double build, and that two calls on the same inputs give identical
 * bits. The other ops: test_kernels_attn.c, test_kernels_pointwise.c, test_kernels_moe.c. */
#include "kernels_t.h"

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
 * it runs a kernel older than the CPU, forced by OPENBLAS_CORETYPE or chosen by a build that does
 * not know the CPU (and then it names the setting that gives the native kernel). */
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
    int kl = nl_cpu_kernel_level(openblas_get_corename());
    int older = kl >= 0 && kl < cl, was_forced = forced && *forced;
    T_CHECK(warn && (*warn != 0) == older, "warning '%s' with OPENBLAS_CORETYPE=%s",
            warn ? warn : "(null)", forced ? forced : "(unset)");
    if (older && was_forced)
        T_CHECK(strstr(warn, "forces the") && strstr(warn, forced), "warning '%s'", warn);
    if (older && !was_forced)
        T_CHECK(strstr(warn, "did not recognise") && strstr(warn, openblas_get_corename()) &&
                    strstr(warn, "OPENBLAS_CORETYPE="),
                "warning '%s'", warn);
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
    nl_kernels *k1 = nl_kernels_cpu_create(1); /* r = 0: one thread, r = 1: kf's three */
    for (int r = 0; r < 2; r++) {
        nl_kernels *kr = r ? kf : k1;
        fo[r] = fnew(NC), fm[r] = fnew(N), fr[r] = fnew(N);
        fdx[r] = fcopy(dout, NC), fdw[r] = fcopy(w, C), fdb[r] = fcopy(b, C);
        if (rms) {
            kr->rmsnorm_forward(kr, fo[r], fr[r], fx, fw, N, C, 1e-5f);
            kr->rmsnorm_backward(kr, fdx[r], fdw[r], fd, fx, fw, fr[r], N, C);
        } else {
            kr->layernorm_forward(kr, fo[r], fm[r], fr[r], fx, fw, with_bias ? fb : NULL, N, C,
                                  1e-5f);
            kr->layernorm_backward(kr, fdx[r], fdw[r], with_bias ? fdb[r] : NULL, fd, fx, fw,
                                   fm[r], fr[r], N, C);
        }
    }
    k1->destroy(k1);
    check_vecf("f32 out", fo[0], out[0], NC, F32_TOL);
    check_vecf("f32 rstd", fr[0], rstd[0], N, F32_TOL);
    check_vecf("f32 dinp", fdx[0], dx[0], NC, F32_TOL);
    check_vecf("f32 dweight", fdw[0], dw[0], C, F32_TOL);
    check_vecf("f32 dbias", fdb[0], db[0], C, F32_TOL);
    check_same("f32 out, 1 and 3 threads", fo[0], fo[1], sizeof(float) * (size_t)NC);
    check_same("f32 dinp, 1 and 3 threads", fdx[0], fdx[1], sizeof(float) * (size_t)NC);
    check_same("f32 dweight, 1 and 3 threads", fdw[0], fdw[1], sizeof(float) * (size_t)C);
    check_same("f32 dbias, 1 and 3 threads", fdb[0], fdb[1], sizeof(float) * (size_t)C);
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
    kf->destroy(kf);
    T_END();
}
