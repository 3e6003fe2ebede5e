/* The CUDA backend's ops against the CPU backend's, one case per op.
 *
 * The CUDA backend is loaded from build/libnormlab_cuda.so (or $NORMLAB_CUDA_LIB) with dlopen,
 * as the main binary does; with no object or no device every case is skipped. A case runs its
 * op on random inputs three times: twice on CUDA (the two results must be the same bits) and
 * once on the CPU. Outputs that an op overwrites are NaN-filled first on both backends, so an
 * element left unwritten fails; outputs it accumulates into start from random values. Each
 * output must match the CPU's within tol * max(|cpu|, rms(cpu)) per element (the rms floor
 * keeps elements that cancel to near zero from demanding more than fp32 gives).
 *
 * NORMLAB_CUDA_TIMING=1 also prints the time of the large ops at a GPT-2-small shape
 * (figures only). */
#include <dlfcn.h>
#include <stdint.h>
#include <time.h>

#include "../kernels/kernels.h"
#include "t.h"

static nl_kernels *GPU, *CPU;

/* ---- deterministic inputs ---- */

static uint64_t rng_state;
static void rng_seed(uint64_t s)
{
    rng_state = s * 0x9E3779B97F4A7C15ull + 1;
}
static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
/* uniform in [-scale, scale) */
static float rng_f(float scale)
{
    return scale * ((float)(rng_u32() & 0xffffff) / 8388608.0f - 1.0f);
}

/* ---- host memory of one case, freed together ---- */

static void *host_bufs[256];
static int n_host;
static void *hkeep(void *p)
{
    if (n_host < 256)
        host_bufs[n_host++] = p;
    return p;
}
static void hfree_all(void)
{
    for (int i = 0; i < n_host; i++)
        free(host_bufs[i]);
    n_host = 0;
}
static float *hrand(int64_t n, float scale)
{
    float *h = hkeep(malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)));
    for (int64_t i = 0; i < n; i++)
        h[i] = rng_f(scale);
    return h;
}
static int32_t *hrand_int(int64_t n, int limit)
{
    int32_t *h = hkeep(malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1)));
    for (int64_t i = 0; i < n; i++)
        h[i] = (int32_t)(rng_u32() % (uint32_t)limit);
    return h;
}

/* ---- backend memory of one run, freed together ---- */

static nl_kernels *cur;
static void *dev_bufs[64];
static int n_dev;
static void *dalloc(size_t bytes)
{
    void *p = cur->alloc(cur, bytes);
    if (p && n_dev < 64)
        dev_bufs[n_dev++] = p;
    return p;
}
static void dfree_all(void)
{
    for (int i = 0; i < n_dev; i++)
        cur->free(cur, dev_bufs[i]);
    n_dev = 0;
}
/* A copy of host data on the backend. `pad` floats before it shift its alignment. */
static void *up_pad(const void *host, size_t bytes, int pad)
{
    char *p = dalloc(bytes + 16 * sizeof(float));
    if (!p)
        return NULL;
    p += pad * sizeof(float);
    cur->to_device(cur, p, host, bytes);
    return p;
}
static float *upf(const float *h, int64_t n)
{
    return up_pad(h, sizeof(float) * (size_t)n, 0);
}
static int32_t *upi(const int32_t *h, int64_t n)
{
    return up_pad(h, sizeof(int32_t) * (size_t)n, 0);
}
/* A NaN-filled backend buffer of n floats. */
static float *poison_pad(int64_t n, int pad)
{
    float *h = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        h[i] = NAN;
    float *d = up_pad(h, sizeof(float) * (size_t)n, pad);
    free(h);
    return d;
}
static float *poison(int64_t n)
{
    return poison_pad(n, 0);
}
/* n int32 filled with INT32_MIN, which no op writes. */
static int32_t *poison_int(int64_t n)
{
    int32_t *h = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        h[i] = INT32_MIN;
    int32_t *d = up_pad(h, sizeof(int32_t) * (size_t)n, 0);
    free(h);
    return d;
}

/* ---- results ---- */

#define MAX_OUT 8
typedef struct res {
    int n;
    const char *name[MAX_OUT];
    void *h[MAX_OUT];
    int64_t len[MAX_OUT];
    int is_int[MAX_OUT];
} res;

static void keep(res *r, const char *name, const void *d, int64_t n, int is_int)
{
    if (r->n >= MAX_OUT)
        return;
    void *h = hkeep(malloc(4 * (size_t)(n > 0 ? n : 1)));
    cur->to_host(cur, h, d, 4 * (size_t)n);
    r->name[r->n] = name;
    r->h[r->n] = h;
    r->len[r->n] = n;
    r->is_int[r->n] = is_int;
    r->n++;
}
static void keepf(res *r, const char *name, const float *d, int64_t n)
{
    keep(r, name, d, n, 0);
}
static void keepi(res *r, const char *name, const int32_t *d, int64_t n)
{
    keep(r, name, d, n, 1);
}

typedef void (*case_fn)(res *r, int variant);

/* Run fn on k with the inputs of `seed`. */
static void run_on(nl_kernels *k, case_fn fn, int variant, uint64_t seed, res *r)
{
    cur = k;
    rng_seed(seed);
    memset(r, 0, sizeof *r);
    fn(r, variant);
    k->sync(k);
    dfree_all();
}

static int verbose;

/* Compare fn's outputs: CUDA twice (bitwise), CUDA against CPU (tol). */
static void compare_variant(const char *label, case_fn fn, int variant, double tol)
{
    res a, b, c;
    uint64_t seed = 1000 + (uint64_t)variant * 7919;
    run_on(GPU, fn, variant, seed, &a);
    run_on(GPU, fn, variant, seed, &b);
    run_on(CPU, fn, variant, seed, &c);
    const char *ge = GPU->last_error(GPU);
    T_CHECK(ge[0] == 0, "%s: CUDA error: %s", label, ge);
    T_CHECK(a.n == c.n && a.n > 0, "%s: %d outputs on CUDA, %d on CPU", label, a.n, c.n);
    for (int i = 0; i < a.n && i < c.n; i++) {
        int64_t n = a.len[i];
        T_CHECK(memcmp(a.h[i], b.h[i], 4 * (size_t)n) == 0,
                "%s/%s: two CUDA runs differ (not deterministic)", label, a.name[i]);
        if (a.is_int[i]) {
            const int32_t *x = a.h[i], *y = c.h[i];
            for (int64_t j = 0; j < n; j++)
                if (x[j] != y[j]) {
                    T_CHECK(0, "%s/%s[%lld]: CUDA %d, CPU %d", label, a.name[i], (long long)j, x[j],
                            y[j]);
                    break;
                }
            continue;
        }
        const float *x = a.h[i], *y = c.h[i];
        double ss = 0;
        for (int64_t j = 0; j < n; j++)
            ss += (double)y[j] * y[j];
        double rms = n ? sqrt(ss / (double)n) : 0, worst = 0;
        int64_t worst_at = -1, nan_at = -1;
        for (int64_t j = 0; j < n; j++) {
            if (isnan(x[j]) || isnan(y[j])) {
                if (nan_at < 0)
                    nan_at = j;
                continue;
            }
            double scale = fmax(fabs((double)y[j]), rms);
            double e = scale > 0 ? fabs((double)x[j] - y[j]) / scale : fabs((double)x[j]);
            if (e > worst) {
                worst = e;
                worst_at = j;
            }
        }
        T_CHECK(nan_at < 0, "%s/%s[%lld]: NaN (unwritten output?): CUDA %g, CPU %g", label,
                a.name[i], (long long)nan_at, nan_at >= 0 ? x[nan_at] : 0.0,
                nan_at >= 0 ? y[nan_at] : 0.0);
        T_CHECK(worst <= tol, "%s/%s[%lld]: CUDA %.9g, CPU %.9g (error %.3g > %.3g)", label,
                a.name[i], (long long)worst_at, worst_at >= 0 ? x[worst_at] : 0.0,
                worst_at >= 0 ? y[worst_at] : 0.0, worst, tol);
        if (verbose)
            fprintf(stderr, "  %-28s %-8s n=%-8lld max err %.3g\n", label, a.name[i], (long long)n,
                    worst);
    }
    hfree_all();
}

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

/* Fused causal attention against the CPU's pieces (matmul, causal softmax, matmul, and their
 * backward), with the log-sum-exp of each row computed on the host in double. Shapes: T = 1,
 * T not a multiple of the tiles, head sizes 64, 128 and 32 (the tensor-core way under bf16)
 * and 40, 18, 7, 200 (SIMT), and a misaligned q and dq (SIMT). */
static const int attention_shapes[][4] = {
    /* BH, T, D, pad */
    {3, 1, 64, 0},  {2, 77, 64, 0}, {2, 200, 64, 0}, {2, 70, 128, 0}, {2, 66, 32, 0},
    {3, 45, 40, 0}, {2, 33, 18, 0}, {1, 50, 7, 0},   {1, 37, 200, 0}, {2, 65, 64, 1},
};
#define ATTENTION_SHAPES (int)(sizeof attention_shapes / sizeof attention_shapes[0])

static double dot_d(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void c_attention(res *r, int v)
{
    int BH = attention_shapes[v][0], T = attention_shapes[v][1], D = attention_shapes[v][2],
        pad = attention_shapes[v][3];
    int64_t n = (int64_t)BH * T * D, sTD = (int64_t)T * D, sTT = (int64_t)T * T;
    float scale = 1.0f / sqrtf((float)D);
    /* q and k at +-2: scores of a few units, so rows have clear maxima to rescale to */
    float *hq = hrand(n, 2), *hk = hrand(n, 2);
    float *q = up_pad(hq, sizeof(float) * (size_t)n, pad), *k = upf(hk, n);
    float *vv = upf(hrand(n, 1), n), *dout = upf(hrand(n, 1), n);
    float *out = poison(n), *lse = poison((int64_t)BH * T);
    float *dq = poison_pad(n, pad), *dk = poison(n), *dv = poison(n);
    if (cur->attention_forward) {
        cur->attention_forward(cur, out, lse, q, k, vv, BH, T, D, scale);
        cur->attention_backward(cur, dq, dk, dv, dout, q, k, vv, out, lse, BH, T, D, scale);
    } else {
        float *att = dalloc(sizeof(float) * (size_t)(BH * sTT));
        float *datt = dalloc(sizeof(float) * (size_t)(BH * sTT));
        cur->matmul(cur, att, q, k, T, T, D, 0, 1, D, D, T, sTD, sTD, sTT, BH, scale, 0.0f);
        cur->softmax_causal_forward(cur, att, BH, T);
        cur->matmul(cur, out, att, vv, T, D, T, 0, 0, T, D, D, sTT, sTD, sTD, BH, 1.0f, 0.0f);
        float *hl = hkeep(malloc(sizeof(float) * (size_t)BH * T));
        for (int b = 0; b < BH; b++)
            for (int t = 0; t < T; t++) {
                const float *qt = hq + b * sTD + (int64_t)t * D, *kb = hk + b * sTD;
                double st = scale * dot_d(qt, kb + (int64_t)t * D, D), m = st;
                for (int j = 0; j < t; j++)
                    m = fmax(m, scale * dot_d(qt, kb + (int64_t)j * D, D));
                double sum = exp(st - m);
                for (int j = 0; j < t; j++)
                    sum += exp(scale * dot_d(qt, kb + (int64_t)j * D, D) - m);
                hl[b * T + t] = (float)(m + log(sum));
            }
        cur->to_device(cur, lse, hl, sizeof(float) * (size_t)BH * T);
        cur->matmul(cur, datt, dout, vv, T, T, D, 0, 1, D, D, T, sTD, sTD, sTT, BH, 1.0f, 0.0f);
        cur->matmul(cur, dv, att, dout, T, D, T, 1, 0, T, D, D, sTT, sTD, sTD, BH, 1.0f, 0.0f);
        cur->softmax_causal_backward(cur, datt, datt, att, BH, T);
        cur->matmul(cur, dq, datt, k, T, D, T, 0, 0, T, D, D, sTT, sTD, sTD, BH, scale, 0.0f);
        cur->matmul(cur, dk, datt, q, T, D, T, 1, 0, T, D, D, sTT, sTD, sTD, BH, scale, 0.0f);
    }
    keepf(r, "out", out, n);
    keepf(r, "lse", lse, (int64_t)BH * T);
    keepf(r, "dq", dq, n);
    keepf(r, "dk", dk, n);
    keepf(r, "dv", dv, n);
}

static void compare_all(const char *label, case_fn fn, int variants, double tol)
{
    char name[64];
    for (int v = 0; v < variants; v++) {
        snprintf(name, sizeof name, "%s/%d", label, v);
        compare_variant(name, fn, v, tol);
    }
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
static nl_kernels_cuda_create_fn create_cuda;
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
/* fp32: the SIMT way for every shape, within the matmul tolerance (its products sum in
 * another order than the CPU's). */
static void cuda_attention(void)
{
    if (!GPU->attention_forward) {
        t_skip("the backend has no fused attention");
        return;
    }
    compare_all("attention", c_attention, ATTENTION_SHAPES, 1e-4);
}
/* bf16: q, k, v and dout rounded to bf16 (8 significant bits), and the probabilities and score
 * gradients too before their products. Largest errors measured on an H100: out 1.7e-2, lse
 * 1.5e-3, dq 3.6e-2, dk 3.4e-2, dv 3.4e-2 (other random inputs of these shapes: up to 4.8e-2). */
static void cuda_attention_bf16(void)
{
    if (!GPU->attention_forward) {
        t_skip("the backend has no fused attention");
        return;
    }
    GPU->set_precision(GPU, NL_PREC_BF16);
    compare_all("attention_bf16", c_attention, ATTENTION_SHAPES, 8e-2);
    GPU->set_precision(GPU, NL_PREC_FP32);
}

/* The CUDA backend must not break when handed no work. */
static void cuda_empty_shapes(void)
{
    cur = GPU;
    float *x = dalloc(64);
    int64_t off[1] = {0};
    GPU->matmul(GPU, x, x, x, 0, 4, 4, 0, 0, 4, 4, 4, 0, 0, 0, 1, 1.f, 0.f);
    GPU->layernorm_forward(GPU, x, x, x, x, x, NULL, 0, 8, 1e-5f);
    GPU->softmax_causal_forward(GPU, x, 0, 4);
    GPU->gelu_forward(GPU, x, x, 0);
    GPU->sumsq_segments(GPU, x, x, off, 0);
    int32_t *rows = dalloc(64);
    GPU->scatter_add_rows(GPU, x, x, rows, NULL, 0, 4);
    if (GPU->attention_forward) {
        GPU->attention_forward(GPU, x, x, x, x, x, 0, 4, 8, 1.f);
        GPU->attention_forward(GPU, x, x, x, x, x, 2, 0, 8, 1.f);
        GPU->attention_backward(GPU, x, x, x, x, x, x, x, x, x, 0, 4, 8, 1.f);
    }
    GPU->sync(GPU);
    const char *e = GPU->last_error(GPU);
    T_CHECK(e[0] == 0, "CUDA error on empty shapes: %s", e);
    dfree_all();
}

/* ---- timing (NORMLAB_CUDA_TIMING=1): figures at the GPT-2-small shape ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define TIME_OP(label, bytes, flops, call)                                                         \
    do {                                                                                           \
        call;                                                                                      \
        GPU->sync(GPU);                                                                            \
        double t0_ = now_s();                                                                      \
        for (int it_ = 0; it_ < reps; it_++)                                                       \
            call;                                                                                  \
        GPU->sync(GPU);                                                                            \
        double dt_ = (now_s() - t0_) / reps;                                                       \
        printf("  %-34s %9.3f ms %8.0f GB/s %8.1f TFLOP/s\n", label, dt_ * 1e3,                    \
               (double)(bytes) / dt_ * 1e-9, (double)(flops) / dt_ * 1e-12);                       \
    } while (0)

/* The products, fused attention and matmuls, at each precision: x (BT,4C) inputs, y outputs,
 * wq (C,4C) weights, att (BH,T,T). */
static void timing_products(float *x, float *y, float *wq, float *att, int B, int T, int C, int H,
                            int D, int reps)
{
    const int64_t BT = (int64_t)B * T;
    if (GPU->attention_forward) {
        /* q, k, v, dout from x; out, dq, dk, dv in y; flops of the causal products only */
        int64_t n = BT * C;
        float *lse = poison(BT * H);
        for (int p = 0; p < 3; p += 2) {
            GPU->set_precision(GPU, (nl_precision)p);
            TIME_OP(p ? "attention_forward bf16" : "attention_forward fp32", 0,
                    2.0 * B * H * (double)T * T * D,
                    GPU->attention_forward(GPU, y, lse, x, x + n, x + 2 * n, B * H, T, D, 0.125f));
            TIME_OP(p ? "attention_backward bf16" : "attention_backward fp32", 0,
                    5.0 * B * H * (double)T * T * D,
                    GPU->attention_backward(GPU, y + n, y + 2 * n, y + 3 * n, x + 3 * n, x, x + n,
                                            x + 2 * n, y, lse, B * H, T, D, 0.125f));
        }
        GPU->set_precision(GPU, NL_PREC_FP32);
    }
    for (int p = 0; p < 3; p++) {
        static const char *names[] = {"fp32", "tf32", "bf16"};
        char label[64];
        GPU->set_precision(GPU, (nl_precision)p);
        snprintf(label, sizeof label, "matmul %s (BT,C)x(C,4C)", names[p]);
        TIME_OP(label, 0, 2.0 * BT * C * 4 * C,
                GPU->matmul(GPU, y, x, wq, (int)BT, 4 * C, C, 0, 0, C, 4 * C, 4 * C, 0, 0, 0, 1,
                            1.f, 0.f));
        snprintf(label, sizeof label, "matmul %s q@k^T (BH,T,T)", names[p]);
        TIME_OP(label, 0, 2.0 * B * H * T * T * D,
                GPU->matmul(GPU, att, x, x, T, T, D, 0, 1, D, D, T, (int64_t)T * D, (int64_t)T * D,
                            (int64_t)T * T, B * H, 0.125f, 0.f));
        snprintf(label, sizeof label, "matmul %s att@v (BH,T,D)", names[p]);
        TIME_OP(label, 0, 2.0 * B * H * T * T * D,
                GPU->matmul(GPU, y, att, x, T, D, T, 0, 0, T, D, D, (int64_t)T * T, (int64_t)T * D,
                            (int64_t)T * D, B * H, 1.f, 0.f));
        snprintf(label, sizeof label, "matmul %s att^T@dy (BH,T,D)", names[p]);
        TIME_OP(label, 0, 2.0 * B * H * T * T * D,
                GPU->matmul(GPU, y, att, x, T, D, T, 1, 0, T, D, D, (int64_t)T * T, (int64_t)T * D,
                            (int64_t)T * D, B * H, 1.f, 0.f));
    }
}

static void timing(void)
{
    const int B = 16, T = 1024, C = 768, H = 12, D = 64, V = 50257, reps = 20;
    const int64_t BT = (int64_t)B * T, att_n = (int64_t)B * H * T * T;
    cur = GPU;
    rng_seed(7);
    float *x = upf(hrand(BT * 4 * C, 1), BT * 4 * C); /* (BT,4C) */
    float *y = poison(BT * 4 * C), *w = upf(hrand(4 * C, 1), 4 * C);
    float *mean = poison(BT), *rstd = poison(BT);
    float *wq = upf(hrand((int64_t)4 * C * C, 0.05f), (int64_t)4 * C * C);
    float *att = dalloc(sizeof(float) * (size_t)att_n), *datt = dalloc(sizeof(float) * att_n);
    float *logits = dalloc(sizeof(float) * (size_t)(BT / 4) * V);
    int32_t *tg = upi(hrand_int(BT, V), BT);
    float *loss = poison(BT);
    if (!x || !y || !att || !datt || !logits) {
        printf("  timing: out of device memory\n");
        dfree_all();
        return;
    }
    GPU->add_scaled(GPU, att, 1.f, att, att, att_n);
    printf("timing at B=%d T=%d C=%d H=%d (per call, mean of %d)\n", B, T, C, H, reps);
    timing_products(x, y, wq, att, B, T, C, H, D, reps);
    GPU->set_precision(GPU, NL_PREC_FP32);
    TIME_OP("softmax_causal_forward", att_n * 4 * 1.5, 0,
            GPU->softmax_causal_forward(GPU, att, B * H, T));
    TIME_OP("softmax_causal_backward", att_n * 4 * 2, 0,
            GPU->softmax_causal_backward(GPU, datt, datt, att, B * H, T));
    TIME_OP("layernorm_forward (BT,C)", BT * C * 8, 0,
            GPU->layernorm_forward(GPU, y, mean, rstd, x, w, w, (int)BT, C, 1e-5f));
    TIME_OP("layernorm_backward (BT,C)", BT * C * 16, 0,
            GPU->layernorm_backward(GPU, y, w, w, x, x, w, mean, rstd, (int)BT, C));
    TIME_OP("gelu_forward (BT,4C)", BT * 4 * C * 8, 0, GPU->gelu_forward(GPU, y, x, BT * 4 * C));
    TIME_OP("gelu_backward (BT,4C)", BT * 4 * C * 12, 0,
            GPU->gelu_backward(GPU, y, x, x, BT * 4 * C));
    TIME_OP("adamw 100M params", 100e6 * 4 * 7, 0,
            GPU->adamw(GPU, att, att + 100000000, datt, datt + 100000000, 100000000, 1e-4f, 0.9f,
                       0.95f, 1e-8f, 0.1f, 0.5f, 0.5f, NULL));
    int64_t off[3] = {0, 38000000, 124000000};
    TIME_OP("sumsq_segments 124M", 124e6 * 4, 0, GPU->sumsq_segments(GPU, loss, att, off, 2));
    TIME_OP("cross_entropy fwd (BT/4,V)", (BT / 4) * V * 4.0, 0,
            GPU->cross_entropy_forward(GPU, loss, loss + BT / 4, logits, tg, (int)(BT / 4), V));
    TIME_OP("cross_entropy bwd (BT/4,V)", (BT / 4) * V * 12.0, 0,
            GPU->cross_entropy_backward(GPU, logits, logits, tg, 1e-4f, (int)(BT / 4), V));
    TIME_OP("embed_backward (BT,C) V=50257", BT * C * 8, 0,
            GPU->embed_backward(GPU, logits, att, x, tg, B, T, C));
    const char *e = GPU->last_error(GPU);
    if (e[0])
        printf("  timing: CUDA error: %s\n", e);
    dfree_all();
    hfree_all();
}

/* No object or no device: the one line "SKIP cuda_ops: reason", and success. */
static char skip_reason[512];
static void cuda_ops(void)
{
    t_skip(skip_reason);
}
static int skip(const char *reason)
{
    if (reason != skip_reason)
        snprintf(skip_reason, sizeof skip_reason, "%s", reason);
    T_RUN(cuda_ops);
    return 0;
}

/* NORMLAB_CUDA_ONLY=NAME runs only the cases whose name holds NAME. */
static const char *only;
#define RUN(fn)                                                                                    \
    do {                                                                                           \
        if (!only || strstr(#fn, only))                                                            \
            T_RUN(fn);                                                                             \
    } while (0)

int main(void)
{
    const char *path = getenv("NORMLAB_CUDA_LIB");
    if (!path)
        path = "build/libnormlab_cuda.so";
#if defined(__SANITIZE_ADDRESS__)
    const char *asan = getenv("ASAN_OPTIONS");
    if (!asan || !strstr(asan, "protect_shadow_gap=0")) {
        return skip("the CUDA driver needs ASAN_OPTIONS=protect_shadow_gap=0 under "
                    "AddressSanitizer");
    }
#endif
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        snprintf(skip_reason, sizeof skip_reason, "cannot load %s: %s", path, dlerror());
        return skip(skip_reason);
    }
    nl_kernels_cuda_create_fn create = (nl_kernels_cuda_create_fn)dlsym(so, NL_CUDA_ENTRY);
    create_cuda = create;
    if (!create) {
        printf("FAIL cuda_ops: %s has no %s\n", path, NL_CUDA_ENTRY);
        return 1;
    }
    char err[256];
    GPU = create(0, err, sizeof err);
    if (!GPU) {
        return skip(err);
    }
    CPU = nl_kernels_cpu_create(1);
    verbose = getenv("NORMLAB_CUDA_VERBOSE") != NULL;
    only = getenv("NORMLAB_CUDA_ONLY");
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
    RUN(cuda_attention);
    RUN(cuda_attention_bf16);
    RUN(cuda_empty_shapes);
    if (getenv("NORMLAB_CUDA_TIMING"))
        timing();
    CPU->destroy(CPU);
    GPU->destroy(GPU);
    /* the object stays loaded: the CUDA runtime's exit handlers live in it */
    T_END();
}
