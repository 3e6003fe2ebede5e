/* The CPU kernels that work element by element or reduce: activations, the fast exp,
 * elementwise updates, cross-entropy, sums of squares, clipping and AdamW; checked as in
 * test_kernels.c. */
#include "kernels_t.h"

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
    /* the backward ops in place over dout (the engine writes dup over dact): the same bits */
    float *fio = fcopy(d, n);
    kf->gelu_backward(kf, fio, fx, fio, n);
    check_same("f32 gelu backward in place", fio, fgd, sizeof(float) * (size_t)n);
    memcpy(fio, fd, sizeof(float) * (size_t)n);
    kf->swiglu_backward(kf, fsg, fio, fx, fu, fio, n);
    check_same("f32 swiglu dup in place", fio, fsu, sizeof(float) * (size_t)n);
    /* gelu_forward_grad over x in place, then mul: gelu's value, and gelu_backward's bits */
    float *fgo = fnew(n), *fgr = fcopy(x, n);
    kf->gelu_forward_grad(kf, fgo, fgr, fgr, n);
    check_vecf("f32 gelu_forward_grad out", fgo, ge, n, F32_TOL);
    memcpy(fio, fd, sizeof(float) * (size_t)n);
    kf->mul(kf, fio, fgr, n);
    check_same("f32 gelu_forward_grad then mul", fio, fgd, sizeof(float) * (size_t)n);
    free(fgo), free(fgr);
    free(x), free(up), free(d), free(ge), free(gd), free(se), free(sg), free(su), free(fx);
    free(fu), free(fd), free(fge), free(fgd), free(fse), free(fsg), free(fsu), free(fio);
}

/* matmul_ep: the product and its step in one pass give the bits of matmul followed by
 * gelu_forward_grad (GELU) or mul (MUL), on the backend's own product (one block of k, and
 * several: the step must wait for the last), on BLAS (a side under 16), at 1 and 3 threads. */
static void test_matmul_ep(void)
{
    const int shapes[4][3] = {{200, 96, 128}, {100, 40, 300}, {8, 64, 32}, {2048, 512, 128}};
    T_CHECK(kf->matmul_ep != NULL, "the CPU backend has matmul_ep");
    if (!kf->matmul_ep)
        return;
    for (int th = 1; th <= 3; th += 2) {
        kf->set_threads(kf, th);
        for (int s = 0; s < 4; s++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            int64_t na = (int64_t)M * K, nb = (int64_t)N * K, nc = (int64_t)M * N;
            double *a = dnew(na), *b = dnew(nb), *e = dnew(nc);
            fill(a, na, -1, 1);
            fill(b, nb, -1, 1);
            fill(e, nc, -2, 2);
            float *fa = fcopy(a, na), *fb = fcopy(b, nb);
            float *want = fnew(nc), *wgrad = fnew(nc), *got = fnew(nc), *ggrad = fnew(nc);
            char what[96];
            /* GELU, as the FFN's up projection: b is W (N,K), trans_b */
            kf->matmul(kf, want, fa, fb, M, N, K, 0, 1, K, K, N, 0, 0, 0, 1, 1.0f, 0.0f);
            kf->gelu_forward_grad(kf, want, wgrad, want, nc);
            kf->matmul_ep(kf, got, fa, fb, M, N, K, 0, 1, K, K, N, NL_EP_GELU, ggrad, N);
            snprintf(what, sizeof what, "matmul_ep gelu %dx%dx%d, %d threads", M, N, K, th);
            check_same(what, got, want, sizeof(float) * (size_t)nc);
            snprintf(what, sizeof what, "matmul_ep gelu' %dx%dx%d, %d threads", M, N, K, th);
            check_same(what, ggrad, wgrad, sizeof(float) * (size_t)nc);
            /* MUL, as the FFN's backward into the activation: b is W (K,N) */
            float *fe = fcopy(e, nc);
            kf->matmul(kf, want, fa, fb, M, N, K, 0, 0, K, N, N, 0, 0, 0, 1, 1.0f, 0.0f);
            kf->mul(kf, want, fe, nc);
            kf->matmul_ep(kf, got, fa, fb, M, N, K, 0, 0, K, N, N, NL_EP_MUL, fe, N);
            snprintf(what, sizeof what, "matmul_ep mul %dx%dx%d, %d threads", M, N, K, th);
            check_same(what, got, want, sizeof(float) * (size_t)nc);
            /* ADD, as a sublayer's last product with its residual e: b is W (N,K) */
            kf->matmul(kf, want, fa, fb, M, N, K, 0, 1, K, K, N, 0, 0, 0, 1, 1.0f, 0.0f);
            kf->add_scaled(kf, want, 1.0f, fe, want, nc);
            kf->matmul_ep(kf, got, fa, fb, M, N, K, 0, 1, K, K, N, NL_EP_ADD, fe, N);
            snprintf(what, sizeof what, "matmul_ep add %dx%dx%d, %d threads", M, N, K, th);
            check_same(what, got, want, sizeof(float) * (size_t)nc);
            free(a), free(b), free(e), free(fa), free(fb), free(fe);
            free(want), free(wgrad), free(got), free(ggrad);
        }
    }
    kf->set_threads(kf, 3);
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

int main(void)
{
    kf = nl_kernels_cpu_create(3); /* three threads: uneven splits on purpose */
    if (!kf) {
        printf("FAIL create: nl_kernels_cpu_create returned NULL\n");
        return 1;
    }
    T_RUN(test_gelu_grad);
    T_RUN(test_swiglu_grad);
    T_RUN(test_activations_large);
    T_RUN(test_fast_exp);
    T_RUN(test_matmul_ep);
    T_RUN(test_axpy_add_scaled);
    T_RUN(test_cross_entropy_grad);
    T_RUN(test_cross_entropy_large);
    T_RUN(test_sumsq_segments);
    T_RUN(test_clip_scale);
    T_RUN(test_adamw_steps);
    kf->destroy(kf);
    T_END();
}
