/* The CPU kernels of attention: split and merge, RoPE, the causal softmax, and attention head
 * by head (with the register-blocked products of kernels/cpu/ops_attn_vec.inc), checked as in
 * test_kernels.c: double finite differences, parallel against serial, float against double. */
#include "kernels_t.h"

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

/* The contiguous (BH,T,D) layout of the attn_probs ops' operands (kernels.h), as one head
 * per sequence. */
static nl_attn_layout heads_layout(int T, int D)
{
    return (nl_attn_layout){(int64_t)T * D, (int64_t)T * D, D};
}

/* att of attn_probs_forward is specified left of the end of each row's block only (beyond
 * it the op writes nothing): those entries are set to 0 before a comparison. */
#define MASK_PAST_BLOCK(att, BH, T, cs)                                                        \
    for (int64_t r_ = 0; r_ < (int64_t)(BH) * (T); r_++) {                                     \
        int t_ = (int)(r_ % (T)), e_ = (t_ / (cs) + 1) * (cs);                                  \
        for (int j_ = e_; j_ < (T); j_++)                                                      \
            (att)[r_ * (T) + j_] = 0;                                                          \
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
                nl_attn_layout l = heads_layout(T, D);
                d_attn_probs_forward(NULL, a1, y1, q, k, v, BH, 1, T, D, &l, &l, scale, cs);
                d_attn_probs_backward(NULL, q1, k1, v1, da1, dy, q, k, v, a1, BH, 1, T, D, &l, &l,
                                      scale, cs);
                MASK_PAST_BLOCK(a1, BH, T, cs);
                MASK_PAST_BLOCK(a0, BH, T, cs);
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
        for (int64_t i = 0; i < na; i++)
            fa[i] = NAN; /* what the op leaves unwritten is masked below */
        nl_attn_layout l = heads_layout(T, D);
        kf->attn_probs_forward(kf, fa, fy, fq, fk, fv, BH, 1, T, D, &l, &l, (float)scale, cs);
        kf->attn_probs_backward(kf, g[0], g[1], g[2], fda, fdy, fq, fk, fv, fa, BH, 1, T, D, &l,
                                &l, (float)scale, cs);
        attn_probs_pieces_f32(kf, fa2, fy2, g[3], g[4], g[5], fdy, fq, fk, fv, BH, T, D,
                              (float)scale, cs);
        MASK_PAST_BLOCK(fa, BH, T, cs);
        MASK_PAST_BLOCK(fa2, BH, T, cs);
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
 * shared out over three threads and one head at a time on one thread. att is 64-byte aligned
 * so that at T 64 (a multiple of 16) the forward takes its path through a block buffer
 * streamed out to att (ops_attn.inc); the other lengths write att in place. */
static void test_attn_vec(void)
{
    const int Ds[] = {16, 32, 64, 128}, Ts[] = {40, 77, 64}, css[] = {16, 64, 7};
    nl_kernels *k1 = nl_kernels_cpu_create(1);
    dthreads(1);
    for (int di = 0; di < 4; di++)
        for (int ti = 0; ti < 3; ti++)
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
                float *fdy = fcopy(dy, nq), *fy = fnew(nq), *fda = fnew(na);
                float *fa = aligned_alloc(64, ((size_t)na * sizeof(float) + 63) / 64 * 64);
                float *g[3] = {fnew(nq), fnew(nq), fnew(nq)};
                for (int w = 0; w < 2; w++) {
                    nl_kernels *kk = w ? k1 : kf;
                    int bh = w ? 1 : BH; /* one head on one thread: the matmul op's place */
                    for (int64_t i = 0; i < na; i++)
                        fa[i] = NAN;
                    for (int i = 0; i < 3; i++) /* overwritten by the backward, not added to */
                        for (int64_t j = 0; j < nq; j++)
                            g[i][j] = NAN;
                    nl_attn_layout l = heads_layout(T, D);
                    kk->attn_probs_forward(kk, fa, fy, fq, fk, fv, bh, 1, T, D, &l, &l,
                                           (float)scale, cs);
                    kk->attn_probs_backward(kk, g[0], g[1], g[2], fda, fdy, fq, fk, fv, fa, bh, 1,
                                            T, D, &l, &l, (float)scale, cs);
                    int64_t mq = (int64_t)bh * T * D, ma = (int64_t)bh * T * T;
                    MASK_PAST_BLOCK(fa, bh, T, cs);
                    MASK_PAST_BLOCK(a0, bh, T, cs);
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

#define D_OP(name) d_##name /* an op of the double build */
#define F_OP(name) kf->name  /* the float table's */

/* One attention forward and backward from qkv (B,T,3C) to y (B,T,C) and back to dqkv:
 * through split, the contiguous per-head layout and merge (direct 0), or with the ops reading
 * and writing the (B,T,*) activations in place (direct 1). */
#define ATTN_LAYOUT_RUN(OP, k, real_t, direct, y, dqkv, qkv, dy, B, T, H, D, cs)                \
    do {                                                                                       \
        int C_ = (H) * (D), BH_ = (B) * (H);                                                   \
        int64_t n_ = (int64_t)(B) * (T) * C_, na_ = (int64_t)BH_ * (T) * (T);                  \
        real_t *att_ = calloc((size_t)na_, sizeof(real_t));                                    \
        real_t *datt_ = calloc((size_t)na_, sizeof(real_t));                                   \
        real_t scale_ = (real_t)(1 / sqrt((double)(D)));                                       \
        nl_attn_layout io_ = {(int64_t)(T) * 3 * C_, (D), 3 * C_}, o_ = {(int64_t)(T) * C_, (D), C_}; \
        if (direct) {                                                                          \
            OP(attn_probs_forward)(k, att_, y, qkv, qkv + C_, qkv + 2 * C_, B, H, T, D, &io_,   \
                                    &o_, scale_, cs);                                          \
            OP(attn_probs_backward)(k, dqkv, dqkv + C_, dqkv + 2 * C_, datt_, dy, qkv,           \
                                     qkv + C_, qkv + 2 * C_, att_, B, H, T, D, &io_, &o_,       \
                                     scale_, cs);                                              \
        } else {                                                                               \
            real_t *h_[8];                                                                     \
            for (int i_ = 0; i_ < 8; i_++)                                                     \
                h_[i_] = calloc((size_t)n_, sizeof(real_t));                                   \
            nl_attn_layout hl_ = {(int64_t)(H) * (T) * (D), (int64_t)(T) * (D), (D)};          \
            OP(attn_split)(k, h_[0], h_[1], h_[2], qkv, B, T, H, D);                          \
            OP(attn_probs_forward)(k, att_, h_[3], h_[0], h_[1], h_[2], B, H, T, D, &hl_, &hl_, \
                                    scale_, cs);                                               \
            OP(attn_merge)(k, y, h_[3], B, T, H, D);                                          \
            OP(attn_merge_backward)(k, h_[4], dy, B, T, H, D);                                \
            OP(attn_probs_backward)(k, h_[5], h_[6], h_[7], datt_, h_[4], h_[0], h_[1], h_[2],  \
                                     att_, B, H, T, D, &hl_, &hl_, scale_, cs);                \
            OP(attn_split_backward)(k, dqkv, h_[5], h_[6], h_[7], B, T, H, D);                \
            for (int i_ = 0; i_ < 8; i_++)                                                     \
                free(h_[i_]);                                                                  \
        }                                                                                      \
        free(att_), free(datt_);                                                               \
    } while (0)

/* The attn_probs ops on q, k, v read straight out of qkv and y written straight into the
 * (B,T,C) activation, as the engine calls them without q/k/v norms or RoPE: the same values
 * as through split and merge. In float with the register-blocked products (heads over three
 * threads), bit for bit; in double with two heads on three threads (the matmul op's place)
 * within rounding. */
static void test_attn_probs_layouts(void)
{
    for (int w = 0; w < 2; w++) {
        int B = w ? 1 : 2, H = w ? 2 : 3, T = 40, D = 16, cs = 16, C = H * D;
        int64_t n = (int64_t)B * T * C;
        double *qkv = dnew(3 * n), *dy = dnew(n);
        fill(qkv, 3 * n, -2, 2), fill(dy, n, -1, 1);
        double *y[2] = {dnew(n), dnew(n)}, *g[2] = {dnew(3 * n), dnew(3 * n)};
        float *fqkv = fcopy(qkv, 3 * n), *fdy = fcopy(dy, n), *fy[2] = {fnew(n), fnew(n)};
        float *fg[2] = {fnew(3 * n), fnew(3 * n)};
        for (int d = 0; d < 2; d++) {
            fill_nan(y[d], n), fill_nan(g[d], 3 * n);
            for (int64_t i = 0; i < n; i++)
                fy[d][i] = NAN;
            for (int64_t i = 0; i < 3 * n; i++)
                fg[d][i] = NAN;
            dthreads(3);
            ATTN_LAYOUT_RUN(D_OP, NULL, double, d, y[d], g[d], qkv, dy, B, T, H, D, cs);
            if (!w)
                ATTN_LAYOUT_RUN(F_OP, kf, float, d, fy[d], fg[d], fqkv, fdy, B, T, H, D, cs);
        }
        check_vec("attn direct y", y[1], y[0], n, PAR_TOL);
        check_vec("attn direct dqkv", g[1], g[0], 3 * n, PAR_TOL);
        if (!w) {
            check_same("f32 attn direct y", fy[1], fy[0], sizeof(float) * (size_t)n);
            check_same("f32 attn direct dqkv", fg[1], fg[0], sizeof(float) * (size_t)(3 * n));
        }
        free(qkv), free(dy), free(fqkv), free(fdy);
        for (int d = 0; d < 2; d++)
            free(y[d]), free(g[d]), free(fy[d]), free(fg[d]);
    }
}

int main(void)
{
    kf = nl_kernels_cpu_create(3); /* three threads: uneven splits on purpose */
    if (!kf) {
        printf("FAIL create: nl_kernels_cpu_create returned NULL\n");
        return 1;
    }
    T_RUN(test_attn_split_merge_grad);
    T_RUN(test_rope_grad);
    T_RUN(test_attn_large);
    T_RUN(test_softmax_causal_grad);
    T_RUN(test_softmax_large);
    T_RUN(test_attn_probs);
    T_RUN(test_attn_vec);
    T_RUN(test_attn_probs_layouts);
    kf->destroy(kf);
    T_END();
}
