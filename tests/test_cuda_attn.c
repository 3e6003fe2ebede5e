/* The CUDA backend's fused causal attention against the CPU's pieces, and empty shapes, as in
 * test_cuda.c (tests/cuda_t.h). NORMLAB_CUDA_TIMING=1 also prints the time of the large ops at
 * a GPT-2-small shape (figures only). */
#include "cuda_t.h"

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

int main(void)
{
    int rc = cuda_t_open();
    if (rc >= 0)
        return rc;
    RUN(cuda_attention);
    RUN(cuda_attention_bf16);
    RUN(cuda_empty_shapes);
    if (getenv("NORMLAB_CUDA_TIMING"))
        timing();
    cuda_t_close();
    T_END();
}
