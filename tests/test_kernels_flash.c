/* The CPU's attention without stored probabilities (kernels/cpu/ops_attn_flash.inc): the
 * backward against finite differences in double, forward and backward against a plain
 * softmax in double, the float table against its attn_probs ops, and the float results the
 * same bit for bit on one thread and on three. */
#include "kernels_t.h"

/* q, k, v read out of qkv (B,T,3C), y and dy in (B,T,C), as the engine calls the ops. */
typedef struct {
    int B, T, H, D;
    double *qkv, *y, *lse, *w;
} flash_ctx;

static void layouts(const flash_ctx *c, nl_attn_layout *in, nl_attn_layout *out)
{
    int C = c->H * c->D;
    *in = (nl_attn_layout){(int64_t)c->T * 3 * C, c->D, 3 * C};
    *out = (nl_attn_layout){(int64_t)c->T * C, c->D, C};
}

static double flash_loss(void *p)
{
    flash_ctx *c = p;
    int C = c->H * c->D;
    nl_attn_layout in, out;
    layouts(c, &in, &out);
    d_attn_flash_forward(NULL, c->y, c->lse, c->qkv, c->qkv + C, c->qkv + 2 * C, c->B, c->H, c->T,
                         c->D, &in, &out, 1 / sqrt((double)c->D));
    return wsum(c->w, c->y, (int64_t)c->B * c->T * C);
}

/* y and lse of one head by the definition: rows of T keys, q, k, v, y (T, D) contiguous. */
static void plain_forward(double *y, double *lse, const double *q, const double *k, const double *v,
                          int T, int D, double scale)
{
    double *s = dnew(T);
    for (int t = 0; t < T; t++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j <= t; j++) {
            s[j] = 0;
            for (int d = 0; d < D; d++)
                s[j] += q[t * D + d] * k[j * D + d];
            s[j] *= scale;
            mx = fmax(mx, s[j]);
        }
        for (int j = 0; j <= t; j++)
            sum += exp(s[j] - mx);
        lse[t] = mx + log(sum);
        for (int d = 0; d < D; d++) {
            double acc = 0;
            for (int j = 0; j <= t; j++)
                acc += exp(s[j] - lse[t]) * v[j * D + d];
            y[t * D + d] = acc;
        }
    }
    free(s);
}

/* The backward in double against central differences of sum(w * y), over qkv, for a head
 * size on the register-blocked products (8) and one on gemm_one (4), T across a tile edge. */
static void test_flash_grad(void)
{
    const int Ds[] = {8, 4};
    for (int di = 0; di < 2; di++) {
        int B = 1, H = 2, T = 70, D = Ds[di], C = H * D;
        int64_t n = (int64_t)B * T * C;
        flash_ctx c = {B, T, H, D, dnew(3 * n), dnew(n), dnew((int64_t)B * H * T), dnew(n)};
        fill(c.qkv, 3 * n, -2, 2);
        fill(c.w, n, -1, 1);
        dthreads(2);
        flash_loss(&c);
        double *g = dnew(3 * n), *fd = dnew(3 * n);
        fill_nan(g, 3 * n); /* dq, dk, dv overwrite: no NaN may survive */
        nl_attn_layout in, out;
        layouts(&c, &in, &out);
        d_attn_flash_backward(NULL, g, g + C, g + 2 * C, c.w, c.qkv, c.qkv + C, c.qkv + 2 * C, c.y,
                              c.lse, B, H, T, D, &in, &out, 1 / sqrt((double)D));
        fd_grad(flash_loss, &c, c.qkv, 3 * n, fd);
        char what[64];
        snprintf(what, sizeof what, "flash dqkv D %d", D);
        check_vec(what, g, fd, 3 * n, GRAD_TOL);
        free(c.qkv), free(c.y), free(c.lse), free(c.w), free(g), free(fd);
    }
}

/* Forward (y, lse) in double against the definition, through the contiguous fused ops
 * (kernels.h attention_forward), for T shorter than a tile, a tile and over two tiles. */
static void test_flash_forward(void)
{
    const int Ts[] = {5, 64, 150}, Ds[] = {16, 6};
    for (int ti = 0; ti < 3; ti++)
        for (int di = 0; di < 2; di++) {
            int BH = 3, T = Ts[ti], D = Ds[di];
            int64_t nq = (int64_t)BH * T * D;
            double scale = 1 / sqrt((double)D);
            double *q = dnew(nq), *k = dnew(nq), *v = dnew(nq), *y = dnew(nq), *y0 = dnew(nq);
            double *lse = dnew((int64_t)BH * T), *lse0 = dnew((int64_t)BH * T);
            fill(q, nq, -3, 3), fill(k, nq, -3, 3), fill(v, nq, -1, 1);
            fill_nan(y, nq);
            dthreads(3);
            d_attention_forward(NULL, y, lse, q, k, v, BH, T, D, scale);
            for (int h = 0; h < BH; h++) {
                int64_t o = (int64_t)h * T * D;
                plain_forward(y0 + o, lse0 + (int64_t)h * T, q + o, k + o, v + o, T, D, scale);
            }
            char what[64];
            snprintf(what, sizeof what, "flash y T %d D %d", T, D);
            check_vec(what, y, y0, nq, 1e-12);
            snprintf(what, sizeof what, "flash lse T %d D %d", T, D);
            check_vec(what, lse, lse0, (int64_t)BH * T, 1e-12);
            free(q), free(k), free(v), free(y), free(y0), free(lse), free(lse0);
        }
}

/* One forward and backward of the float table on qkv, y (B,T,C), dqkv: through the flash
 * ops (flash 1) or the attn_probs ops (flash 0). */
static void run_f32(nl_kernels *k, int flash, float *y, float *lse, float *dqkv, const float *qkv,
                    const float *dy, int B, int H, int T, int D)
{
    int C = H * D;
    float scale = 1.0f / sqrtf((float)D);
    nl_attn_layout in = {(int64_t)T * 3 * C, D, 3 * C}, out = {(int64_t)T * C, D, C};
    const float *q = qkv, *kk = qkv + C, *v = qkv + 2 * C;
    if (flash) {
        k->attn_flash_forward(k, y, lse, q, kk, v, B, H, T, D, &in, &out, scale);
        k->attn_flash_backward(k, dqkv, dqkv + C, dqkv + 2 * C, dy, q, kk, v, y, lse, B, H, T, D,
                               &in, &out, scale);
        return;
    }
    int64_t na = (int64_t)B * H * T * T;
    float *att = fnew(na), *datt = fnew(na);
    k->attn_probs_forward(k, att, y, q, kk, v, B, H, T, D, &in, &out, scale, 64);
    k->attn_probs_backward(k, dqkv, dqkv + C, dqkv + 2 * C, datt, dy, q, kk, v, att, B, H, T, D,
                           &in, &out, scale, 64);
    free(att), free(datt);
}

/* The float flash ops against the attn_probs ops the engine used before them (the same sums
 * up to rounding), and on one thread against three, bit for bit; head sizes on the
 * register-blocked products and one off them. */
static void test_flash_f32(void)
{
    const int Ts[] = {256, 100}, Ds[] = {32, 16, 12};
    nl_kernels *k1 = nl_kernels_cpu_create(1);
    for (int ti = 0; ti < 2; ti++)
        for (int di = 0; di < 3; di++) {
            int B = 2, H = 3, T = Ts[ti], D = Ds[di], C = H * D;
            int64_t n = (int64_t)B * T * C, nl = (int64_t)B * H * T;
            double *qkv = dnew(3 * n), *dy = dnew(n);
            fill(qkv, 3 * n, -2, 2), fill(dy, n, -1, 1);
            float *fqkv = fcopy(qkv, 3 * n), *fdy = fcopy(dy, n), *y[3], *g[3], *lse[3];
            for (int r = 0; r < 3; r++) {
                y[r] = fnew(n), g[r] = fnew(3 * n), lse[r] = fnew(nl);
                for (int64_t i = 0; i < 3 * n; i++)
                    g[r][i] = NAN; /* overwritten */
                run_f32(r == 1 ? k1 : kf, r < 2, y[r], lse[r], g[r], fqkv, fdy, B, H, T, D);
            }
            char what[80];
            snprintf(what, sizeof what, "f32 flash vs probs T %d D %d", T, D);
            check_closef(what, y[0], y[2], n, 2e-6);
            check_closef(what, g[0], g[2], 3 * n, 1e-5);
            snprintf(what, sizeof what, "f32 flash 1 vs 3 threads T %d D %d", T, D);
            check_same(what, y[0], y[1], sizeof(float) * (size_t)n);
            check_same(what, lse[0], lse[1], sizeof(float) * (size_t)nl);
            check_same(what, g[0], g[1], sizeof(float) * (size_t)(3 * n));
            free(qkv), free(dy), free(fqkv), free(fdy);
            for (int r = 0; r < 3; r++)
                free(y[r]), free(g[r]), free(lse[r]);
        }
    k1->destroy(k1);
}

int main(void)
{
    kf = nl_kernels_cpu_create(3); /* three threads: uneven splits on purpose */
    if (!kf) {
        printf("FAIL create: nl_kernels_cpu_create returned NULL\n");
        return 1;
    }
    T_RUN(test_flash_grad);
    T_RUN(test_flash_forward);
    T_RUN(test_flash_f32);
    kf->destroy(kf);
    T_END();
}
