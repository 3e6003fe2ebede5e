/* The CUDA backend's ops against the CPU backend's, one case per op.
 *
 * The CUDA backend is loaded from build/libnormlab_cuda.so (or $NORMLAB_CUDA_LIB) with dlopen,
 * as the main binary does; with no object or no device every case is skipped. A case runs its
 * op on random inputs three times: twice on CUDA (the two results must be the same bits) and
 * once on the CPU. Outputs that an op overwrites are NaN-filled first on both backends, so an
 * element left unwritten fails; outputs it accumulates into start from random values. Each
 * output must match the CPU's within tol * max(|cpu|, rms(cpu)) per element (the rms floor
 * keeps elements that cancel to near zero from demanding more than fp32 gives).
 * Attention and the timing figures are in test_cuda_attn.c. */
#include "cuda_t.h"

/* ---- the cases; `variant` picks shapes, odd sizes and misaligned pointers ---- */

static void c_matmul(res *r, int v)
{
    /* v: bit 0 trans_a, bit 1 trans_b, bit 2 batched with padded leading dims; bit 3 every
     * side over 256 (bf16 takes its other path) */
    int ta = v & 1, tb = (v >> 1) & 1, batched = (v >> 2) & 1, big = (v >> 3) & 1;
    int M = big ? 260 : 37, N = big ? 270 : 45, K = big ? 300 : 70;
    int batch = batched ? 3 : 1, pad = batched ? 5 : 0;
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    int64_t sa = (int64_t)(ta ? K : M) * lda, sb = (int64_t)(tb ? N : K) * ldb,
            sc = (int64_t)M * ldc;
    float *a = upf(hrand(sa * batch, 1), sa * batch), *b = upf(hrand(sb * batch, 1), sb * batch);
    float *c = upf(hrand(sc * batch, 1), sc * batch);
    cur->matmul(cur, c, a, b, M, N, K, ta, tb, lda, ldb, ldc, sa, sb, sc, batch, 0.75f,
                batched ? 0.5f : 0.f);
    keepf(r, "c", c, sc * batch);
}

static void c_layernorm(res *r, int v)
{
    /* v 0: vector path; 1: C not a multiple of 4, no bias, misaligned */
    int N = 67, C = v ? 37 : 96;
    float *x = hrand((int64_t)N * C, 2), *w = hrand(C, 1), *bb = hrand(C, 1);
    for (int i = 0; i < N * C; i++)
        x[i] += 0.5f; /* a nonzero mean */
    float *dx = up_pad(x, sizeof(float) * N * C, v), *dw = upf(w, C), *db = v ? NULL : upf(bb, C);
    float *out = poison_pad((int64_t)N * C, v), *mean = poison(N), *rstd = poison(N);
    cur->layernorm_forward(cur, out, mean, rstd, dx, dw, db, N, C, 1e-5f);
    keepf(r, "out", out, (int64_t)N * C);
    keepf(r, "mean", mean, N);
    keepf(r, "rstd", rstd, N);
    float *dout = upf(hrand((int64_t)N * C, 1), (int64_t)N * C);
    float *dinp = upf(hrand((int64_t)N * C, 1), (int64_t)N * C);
    float *dwt = upf(hrand(C, 1), C), *dbs = upf(hrand(C, 1), C);
    cur->layernorm_backward(cur, dinp, dwt, v ? NULL : dbs, dout, dx, dw, mean, rstd, N, C);
    keepf(r, "dinp", dinp, (int64_t)N * C);
    keepf(r, "dweight", dwt, C);
    keepf(r, "dbias", dbs, C);
}

static void c_rmsnorm(res *r, int v)
{
    int N = 300, C = v ? 37 : 128;
    float *x = hrand((int64_t)N * C, 2), *w = hrand(C, 1);
    float *dx = up_pad(x, sizeof(float) * N * C, v), *dw = upf(w, C);
    float *out = poison((int64_t)N * C), *rstd = poison(N);
    cur->rmsnorm_forward(cur, out, rstd, dx, dw, N, C, 1e-5f);
    keepf(r, "out", out, (int64_t)N * C);
    keepf(r, "rstd", rstd, N);
    float *dout = upf(hrand((int64_t)N * C, 1), (int64_t)N * C);
    float *dinp = upf(hrand((int64_t)N * C, 1), (int64_t)N * C);
    float *dwt = upf(hrand(C, 1), C);
    cur->rmsnorm_backward(cur, dinp, dwt, dout, dx, dw, rstd, N, C);
    keepf(r, "dinp", dinp, (int64_t)N * C);
    keepf(r, "dweight", dwt, C);
}

static void c_embed(res *r, int v)
{
    /* v 1: no positions, C odd; many repeated tokens either way */
    int B = 3, T = 50, C = v ? 33 : 64, V = 40;
    int32_t *tok = upi(hrand_int(B * T, V), B * T);
    float *wte = upf(hrand((int64_t)V * C, 1), (int64_t)V * C);
    float *wpe = v ? NULL : upf(hrand((int64_t)T * C, 1), (int64_t)T * C);
    float *out = poison((int64_t)B * T * C);
    cur->embed_forward(cur, out, tok, wte, wpe, B, T, C);
    keepf(r, "out", out, (int64_t)B * T * C);
    float *dout = upf(hrand((int64_t)B * T * C, 1), (int64_t)B * T * C);
    float *dwte = upf(hrand((int64_t)V * C, 1), (int64_t)V * C);
    float *dwpe = v ? NULL : upf(hrand((int64_t)T * C, 1), (int64_t)T * C);
    cur->embed_backward(cur, dwte, dwpe, dout, tok, B, T, C);
    keepf(r, "dwte", dwte, (int64_t)V * C);
    if (dwpe)
        keepf(r, "dwpe", dwpe, (int64_t)T * C);
}

static void c_split_merge(res *r, int v)
{
    int B = 2, T = 9, H = 3, D = v ? 6 : 8, C = H * D;
    int64_t n = (int64_t)B * T * C;
    float *qkv = upf(hrand(3 * n, 1), 3 * n);
    float *q = poison(n), *k = poison(n), *vv = poison(n);
    cur->attn_split(cur, q, k, vv, qkv, B, T, H, D);
    keepf(r, "q", q, n);
    keepf(r, "k", k, n);
    keepf(r, "v", vv, n);
    float *dqkv = poison(3 * n);
    float *dq = upf(hrand(n, 1), n), *dk = upf(hrand(n, 1), n), *dv = upf(hrand(n, 1), n);
    cur->attn_split_backward(cur, dqkv, dq, dk, dv, B, T, H, D);
    keepf(r, "dqkv", dqkv, 3 * n);
    float *y = upf(hrand(n, 1), n), *out = poison(n), *dy = poison(n);
    cur->attn_merge(cur, out, y, B, T, H, D);
    keepf(r, "merged", out, n);
    float *dout = upf(hrand(n, 1), n);
    cur->attn_merge_backward(cur, dy, dout, B, T, H, D);
    keepf(r, "dy", dy, n);
}

static void c_rope(res *r, int v)
{
    /* v 1: in place */
    int BH = 6, T = 40, D = 16;
    int64_t n = (int64_t)BH * T * D;
    float *x = upf(hrand(n, 1), n), *out = v ? x : poison(n);
    cur->rope_forward(cur, out, x, BH, T, D, 10000.f);
    keepf(r, "out", out, n);
    float *g = upf(hrand(n, 1), n), *dx = v ? g : poison(n);
    cur->rope_backward(cur, dx, g, BH, T, D, 500.f);
    keepf(r, "dx", dx, n);
}

static void c_softmax(res *r, int v)
{
    /* T picks the kernel: 20 and 300 registers (float4 / float4 x 4 items), 37 scalar,
     * 1100 the streaming path; odd variants run the backward in place */
    static const int Ts[] = {20, 37, 300, 1100};
    int T = Ts[v / 2], BH = T > 500 ? 2 : 5;
    int64_t n = (int64_t)BH * T * T;
    float *att = upf(hrand(n, 4), n);
    cur->softmax_causal_forward(cur, att, BH, T);
    keepf(r, "att", att, n);
    float *datt = upf(hrand(n, 1), n), *dpre = (v & 1) ? datt : poison(n);
    cur->softmax_causal_backward(cur, dpre, datt, att, BH, T);
    keepf(r, "dpre", dpre, n);
}

static void c_activations(res *r, int v)
{
    /* v 1: odd length, misaligned */
    int64_t n = v ? 1001 : 4096;
    float *x = up_pad(hrand(n, 4), sizeof(float) * n, v), *out = poison_pad(n, v);
    cur->gelu_forward(cur, out, x, n);
    keepf(r, "gelu", out, n);
    float *dout = upf(hrand(n, 1), n), *dx = poison(n);
    cur->gelu_backward(cur, dx, x, dout, n);
    keepf(r, "dgelu", dx, n);
    float *up = upf(hrand(n, 2), n), *sw = poison(n);
    cur->swiglu_forward(cur, sw, x, up, n);
    keepf(r, "swiglu", sw, n);
    float *dg = poison(n), *du = poison_pad(n, v);
    cur->swiglu_backward(cur, dg, du, x, up, dout, n);
    keepf(r, "dgate", dg, n);
    keepf(r, "dup", du, n);
}

static void c_elementwise(res *r, int v)
{
    int64_t n = v ? 999 : 2048;
    float *y = up_pad(hrand(n, 1), sizeof(float) * n, v), *x = upf(hrand(n, 1), n);
    cur->axpy(cur, y, -0.3f, x, n);
    keepf(r, "axpy", y, n);
    float *out = poison(n);
    cur->add_scaled(cur, out, 1.7f, x, y, n);
    keepf(r, "add_scaled", out, n);
    cur->add_scaled(cur, x, 0.5f, x, y, n); /* aliasing a */
    keepf(r, "aliased", x, n);
}

static void c_cross_entropy(res *r, int v)
{
    /* v 1: a vocabulary too large for one pass of a block, odd */
    int N = v ? 24 : 70, V = v ? 50257 : 100;
    int64_t n = (int64_t)N * V;
    float *logits = upf(hrand(n, 5), n);
    int32_t *tg = upi(hrand_int(N, V), N);
    float *losses = poison(N), *sum = poison(1);
    cur->cross_entropy_forward(cur, losses, sum, logits, tg, N, V);
    keepf(r, "losses", losses, N);
    keepf(r, "loss_sum", sum, 1);
    float *dl = poison_pad(n, v); /* v 1: rows aligned unlike the logits' */
    cur->cross_entropy_backward(cur, dl, logits, tg, 1.0f / N, N, V);
    keepf(r, "dlogits", dl, n);
    cur->cross_entropy_backward(cur, logits, logits, tg, 0.5f, N, V); /* in place */
    keepf(r, "in_place", logits, n);
}

static void c_optim(res *r, int v)
{
    /* segments: empty ones, one over several chunks; v 1: more segments than one launch
     * holds, misaligned adamw */
    int nseg = v ? 300 : 7;
    int64_t *off = hkeep(malloc(sizeof(int64_t) * (size_t)(nseg + 1)));
    off[0] = 0;
    for (int s = 0; s < nseg; s++) {
        int64_t len = s % 3 == 1 ? 0 : s == 2 ? 40000 : 1 + (int64_t)(rng_u32() % 3000);
        off[s + 1] = off[s] + len;
    }
    int64_t n = off[nseg];
    float *x = upf(hrand(n, 1), n), *ss = poison(nseg);
    cur->sumsq_segments(cur, ss, x, off, nseg);
    keepf(r, "sumsq", ss, nseg);
    float *sc = poison(2), *sc2 = poison(2);
    cur->clip_scale(cur, sc, ss, nseg, 1.0f);
    cur->clip_scale(cur, sc2, ss, nseg, 0.f);
    keepf(r, "clip", sc, 2);
    keepf(r, "noclip", sc2, 2);
    int64_t m = v ? 1003 : 4096;
    float *p = up_pad(hrand(m, 1), sizeof(float) * m, v), *g = upf(hrand(m, 1), m);
    float *hv = hrand(m, 0.01f); /* the second moment is never negative */
    for (int64_t i = 0; i < m; i++)
        hv[i] = fabsf(hv[i]);
    float *mm = upf(hrand(m, 0.1f), m), *vv = upf(hv, m);
    /* v 1: the clipping scale read from backend memory */
    cur->adamw(cur, p, g, mm, vv, m, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.19f, 0.0975f,
               v ? sc + 1 : NULL);
    keepf(r, "p", p, m);
    keepf(r, "m", mm, m);
    keepf(r, "v", vv, m);
}

static void c_router(res *r, int v)
{
    /* v 0: E 8, K 2, renorm; v 1: E 37, K 3, no renorm, with tied logits */
    int N = 200, E = v ? 37 : 8, K = v ? 3 : 2, renorm = !v;
    float *hl = hrand((int64_t)N * E, 3);
    if (v)
        for (int i = 0; i < N; i += 2) /* ties: equal probabilities in one row */
            hl[(int64_t)i * E + 5] = hl[(int64_t)i * E + 9] = hl[(int64_t)i * E + 20] = 4.f;
    float *logits = upf(hl, (int64_t)N * E);
    float *probs = poison((int64_t)N * E), *gates = poison((int64_t)N * K);
    int32_t *idx = poison_int((int64_t)N * K);
    cur->router_topk(cur, probs, idx, gates, logits, N, E, K, renorm);
    keepf(r, "probs", probs, (int64_t)N * E);
    keepi(r, "idx", idx, (int64_t)N * K);
    keepf(r, "gates", gates, (int64_t)N * K);
    int32_t *offsets = poison_int(E + 1), *rows = poison_int((int64_t)N * K),
            *slots = poison_int((int64_t)N * K);
    cur->moe_dispatch(cur, offsets, rows, slots, idx, N, E, K);
    keepi(r, "offsets", offsets, E + 1);
    keepi(r, "rows", rows, (int64_t)N * K);
    keepi(r, "slots", slots, (int64_t)N * K);
    float *losses = poison(2);
    cur->router_losses(cur, losses, probs, logits, idx, N, E, K);
    keepf(r, "losses", losses, 2);
    float *dgates = upf(hrand((int64_t)N * K, 1), (int64_t)N * K), *dl = poison((int64_t)N * E);
    cur->router_backward(cur, dl, dgates, probs, logits, idx, gates, N, E, K, renorm, 0.01f,
                         0.001f);
    keepf(r, "dlogits", dl, (int64_t)N * E);
}

static void c_rows(res *r, int v)
{
    /* rows repeat (several sources per destination); v 1: odd C, no weights */
    int N = 50, M = 300, C = v ? 33 : 64;
    float *inp = upf(hrand((int64_t)N * C, 1), (int64_t)N * C);
    int32_t *rows = upi(hrand_int(M, N), M);
    float *g = poison((int64_t)M * C);
    cur->gather_rows(cur, g, inp, rows, M, C);
    keepf(r, "gather", g, (int64_t)M * C);
    float *src = upf(hrand((int64_t)M * C, 1), (int64_t)M * C), *w = v ? NULL : upf(hrand(M, 1), M);
    float *out = upf(hrand((int64_t)N * C, 1), (int64_t)N * C);
    cur->scatter_add_rows(cur, out, src, rows, w, M, C);
    keepf(r, "scatter", out, (int64_t)N * C);
    float *dots = poison(M);
    cur->row_dot(cur, dots, g, src, M, C);
    keepf(r, "row_dot", dots, M);
}

static void cuda_matmul_fp32(void)
{
    GPU->set_precision(GPU, NL_PREC_FP32);
    compare_all("matmul", c_matmul, 16, 1e-4);
}
/* tf32 keeps 10 mantissa bits, bf16 7: errors near 2^-11 and 2^-8 of the operands' scale */
static void cuda_matmul_tf32(void)
{
    GPU->set_precision(GPU, NL_PREC_TF32);
    compare_all("matmul_tf32", c_matmul, 16, 5e-3);
    GPU->set_precision(GPU, NL_PREC_FP32);
}
static void cuda_matmul_bf16(void)
{
    GPU->set_precision(GPU, NL_PREC_BF16);
    compare_all("matmul_bf16", c_matmul, 16, 3e-2);
    GPU->set_precision(GPU, NL_PREC_FP32);
}
/* Each bf16 way forced (NORMLAB_CUDA_BF16), on a second backend instance. */
static void matmul_bf16_mode(const char *mode)
{
    char err[256], label[64];
    setenv("NORMLAB_CUDA_BF16", mode, 1);
    nl_kernels *g = create_cuda(0, err, sizeof err);
    unsetenv("NORMLAB_CUDA_BF16");
    T_CHECK(g != NULL, "second CUDA backend: %s", err);
    if (!g)
        return;
    nl_kernels *keep_gpu = GPU;
    GPU = g;
    GPU->set_precision(GPU, NL_PREC_BF16);
    snprintf(label, sizeof label, "matmul_bf16_%s", mode);
    compare_all(label, c_matmul, 16, 3e-2);
    GPU = keep_gpu;
    g->destroy(g);
}
static void cuda_matmul_bf16_fast(void)
{
    matmul_bf16_mode("fast");
}
static void cuda_matmul_bf16_convert(void)
{
    matmul_bf16_mode("convert");
}
static void cuda_layernorm(void)
{
    compare_all("layernorm", c_layernorm, 2, 1e-5);
}
static void cuda_rmsnorm(void)
{
    compare_all("rmsnorm", c_rmsnorm, 2, 1e-5);
}
static void cuda_embed(void)
{
    compare_all("embed", c_embed, 2, 1e-5);
}
static void cuda_split_merge(void)
{
    compare_all("split_merge", c_split_merge, 2, 0);
}
static void cuda_rope(void)
{
    compare_all("rope", c_rope, 2, 1e-5);
}
static void cuda_softmax(void)
{
    compare_all("softmax", c_softmax, 8, 1e-5);
}
static void cuda_activations(void)
{
    compare_all("activations", c_activations, 2, 1e-5);
}
static void cuda_elementwise(void)
{
    compare_all("elementwise", c_elementwise, 2, 1e-6);
}
static void cuda_cross_entropy(void)
{
    compare_all("cross_entropy", c_cross_entropy, 2, 1e-5);
}
static void cuda_optim(void)
{
    compare_all("optim", c_optim, 2, 1e-5);
}
static void cuda_router(void)
{
    compare_all("router", c_router, 2, 1e-5);
}
static void cuda_rows(void)
{
    compare_all("rows", c_rows, 2, 1e-5);
}

int main(void)
{
    int rc = cuda_t_open();
    if (rc >= 0)
        return rc;
    RUN(cuda_matmul_fp32);
    RUN(cuda_matmul_tf32);
    RUN(cuda_matmul_bf16);
    RUN(cuda_matmul_bf16_fast);
    RUN(cuda_matmul_bf16_convert);
    RUN(cuda_layernorm);
    RUN(cuda_rmsnorm);
    RUN(cuda_embed);
    RUN(cuda_split_merge);
    RUN(cuda_rope);
    RUN(cuda_softmax);
    RUN(cuda_activations);
    RUN(cuda_elementwise);
    RUN(cuda_cross_entropy);
    RUN(cuda_optim);
    RUN(cuda_router);
    RUN(cuda_rows);
    cuda_t_close();
    T_END();
}
