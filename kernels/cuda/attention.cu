/* Attention pieces: the head split and merge permutes, RoPE, and the fused causal softmax.
 *
 * The softmax takes one warp per row of att (BH,T,T). Row t reads only its t+1 live columns and
 * writes the whole row (zeros past t). For T <= 1024 (float4) the live part of the row is held
 * in registers, so it is read from memory once; longer rows stream through L1 three times. */
#include "nlcuda.h"
#include "reduce.cuh"

/* ---- split / merge ---- */

/* One thread moves V consecutive d of one (b,h,t) for q, k and v. dir 0: split (qkv -> q,k,v);
 * dir 1: its backward (dq,dk,dv -> dqkv). */
template <int V, int DIR>
__global__ void split_kernel(float *qkv, float *q, float *kk, float *v, int B, int T, int H, int D)
{
    int dv = D / V;
    int64_t n = (int64_t)B * H * T * dv;
    int C = H * D;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int d = (int)(i % dv) * V;
        int64_t r = i / dv;
        int t = (int)(r % T);
        r /= T;
        int h = (int)(r % H);
        int b = (int)(r / H);
        int64_t o = (((int64_t)b * H + h) * T + t) * D + d;
        int64_t s = ((int64_t)b * T + t) * 3 * C + (int64_t)h * D + d;
        if (V == 4) {
            if (DIR == 0) {
                *(float4 *)(q + o) = *(const float4 *)(qkv + s);
                *(float4 *)(kk + o) = *(const float4 *)(qkv + s + C);
                *(float4 *)(v + o) = *(const float4 *)(qkv + s + 2 * C);
            } else {
                *(float4 *)(qkv + s) = *(const float4 *)(q + o);
                *(float4 *)(qkv + s + C) = *(const float4 *)(kk + o);
                *(float4 *)(qkv + s + 2 * C) = *(const float4 *)(v + o);
            }
        } else {
            if (DIR == 0) {
                q[o] = qkv[s];
                kk[o] = qkv[s + C];
                v[o] = qkv[s + 2 * C];
            } else {
                qkv[s] = q[o];
                qkv[s + C] = kk[o];
                qkv[s + 2 * C] = v[o];
            }
        }
    }
}

static void cu_attn_split(nl_kernels *k, float *q, float *kk, float *v, const float *qkv, int B,
                          int T, int H, int D)
{
    int64_t n = (int64_t)B * H * T * D;
    if (n <= 0)
        return;
    float *src = (float *)qkv;
    if (D % 4 == 0 && cu_aligned16(q, kk, v, qkv))
        split_kernel<4, 0>
            <<<cu_grid(n / 4, 256, 1), 256, 0, cu_stream(k)>>>(src, q, kk, v, B, T, H, D);
    else
        split_kernel<1, 0><<<cu_grid(n, 256, 1), 256, 0, cu_stream(k)>>>(src, q, kk, v, B, T, H, D);
    cu_check_launch(k, "attn_split");
}

static void cu_attn_split_backward(nl_kernels *k, float *dqkv, const float *dq, const float *dk,
                                   const float *dv, int B, int T, int H, int D)
{
    int64_t n = (int64_t)B * H * T * D;
    if (n <= 0)
        return;
    float *q = (float *)dq, *kk = (float *)dk, *v = (float *)dv;
    if (D % 4 == 0 && cu_aligned16(dqkv, dq, dk, dv))
        split_kernel<4, 1>
            <<<cu_grid(n / 4, 256, 1), 256, 0, cu_stream(k)>>>(dqkv, q, kk, v, B, T, H, D);
    else
        split_kernel<1, 1>
            <<<cu_grid(n, 256, 1), 256, 0, cu_stream(k)>>>(dqkv, q, kk, v, B, T, H, D);
    cu_check_launch(k, "attn_split_backward");
}

/* dir 0: merge, y (B,H,T,D) -> out (B,T,C); dir 1: its backward, dout (B,T,C) -> dy. */
template <int V, int DIR>
__global__ void merge_kernel(float *btc, float *bhtd, int B, int T, int H, int D)
{
    int dv = D / V;
    int64_t n = (int64_t)B * H * T * dv;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        /* i walks btc in order, so the (B,T,C) side is the coalesced one for both directions */
        int d = (int)(i % dv) * V;
        int64_t r = i / dv;
        int h = (int)(r % H);
        r /= H;
        int t = (int)(r % T);
        int b = (int)(r / T);
        int64_t o = (((int64_t)b * T + t) * H + h) * D + d;
        int64_t s = (((int64_t)b * H + h) * T + t) * D + d;
        if (V == 4) {
            if (DIR == 0)
                *(float4 *)(btc + o) = *(const float4 *)(bhtd + s);
            else
                *(float4 *)(bhtd + s) = *(const float4 *)(btc + o);
        } else {
            if (DIR == 0)
                btc[o] = bhtd[s];
            else
                bhtd[s] = btc[o];
        }
    }
}

static void cu_attn_merge(nl_kernels *k, float *out, const float *y, int B, int T, int H, int D)
{
    int64_t n = (int64_t)B * H * T * D;
    if (n <= 0)
        return;
    if (D % 4 == 0 && cu_aligned16(out, y))
        merge_kernel<4, 0>
            <<<cu_grid(n / 4, 256, 1), 256, 0, cu_stream(k)>>>(out, (float *)y, B, T, H, D);
    else
        merge_kernel<1, 0>
            <<<cu_grid(n, 256, 1), 256, 0, cu_stream(k)>>>(out, (float *)y, B, T, H, D);
    cu_check_launch(k, "attn_merge");
}

static void cu_attn_merge_backward(nl_kernels *k, float *dy, const float *dout, int B, int T, int H,
                                   int D)
{
    int64_t n = (int64_t)B * H * T * D;
    if (n <= 0)
        return;
    if (D % 4 == 0 && cu_aligned16(dy, dout))
        merge_kernel<4, 1>
            <<<cu_grid(n / 4, 256, 1), 256, 0, cu_stream(k)>>>((float *)dout, dy, B, T, H, D);
    else
        merge_kernel<1, 1>
            <<<cu_grid(n, 256, 1), 256, 0, cu_stream(k)>>>((float *)dout, dy, B, T, H, D);
    cu_check_launch(k, "attn_merge_backward");
}

/* ---- RoPE ---- */

/* One thread per (t, i < D/2): the angle t * theta^(-2i/D) in double (as the CPU backend does),
 * then the pair rotated in every row bh of its stripe. sign = +1 forward, -1 backward (R^T). */
__global__ void rope_kernel(float *out, const float *x, int BH, int T, int D, float theta,
                            float sign)
{
    int half = D / 2;
    int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= (int64_t)T * half)
        return;
    int t = (int)(p / half), i = (int)(p % half);
    double f = t * pow((double)theta, -2.0 * i / D);
    double sd, cd;
    sincos(f, &sd, &cd);
    float cs = (float)cd, sn = sign * (float)sd;
    for (int bh = blockIdx.y; bh < BH; bh += gridDim.y) {
        int64_t row = ((int64_t)bh * T + t) * D;
        float x1 = x[row + i], x2 = x[row + i + half];
        out[row + i] = x1 * cs - x2 * sn;
        out[row + i + half] = x2 * cs + x1 * sn;
    }
}

static void rope(nl_kernels *k, float *out, const float *x, int BH, int T, int D, float theta,
                 float sign, const char *name)
{
    int64_t pairs = (int64_t)T * (D / 2);
    if (pairs <= 0 || BH <= 0)
        return;
    dim3 grid((unsigned)((pairs + 255) / 256), (unsigned)(BH < 64 ? BH : 64));
    rope_kernel<<<grid, 256, 0, cu_stream(k)>>>(out, x, BH, T, D, theta, sign);
    cu_check_launch(k, name);
}

static void cu_rope_forward(nl_kernels *k, float *out, const float *x, int BH, int T, int D,
                            float theta)
{
    rope(k, out, x, BH, T, D, theta, 1.f, "rope_forward");
}

static void cu_rope_backward(nl_kernels *k, float *dx, const float *dout, int BH, int T, int D,
                             float theta)
{
    rope(k, dx, dout, BH, T, D, theta, -1.f, "rope_backward");
}

/* ---- causal softmax ---- */

#define SM_WARPS 8 /* rows per block */

__device__ __forceinline__ void load_v(float *r, const float *p, int V)
{
    if (V == 4) {
        float4 v = *(const float4 *)p;
        r[0] = v.x, r[1] = v.y, r[2] = v.z, r[3] = v.w;
    } else {
        r[0] = *p;
    }
}

__device__ __forceinline__ void store_v(float *p, const float *r, int V)
{
    if (V == 4)
        *(float4 *)p = make_float4(r[0], r[1], r[2], r[3]);
    else
        *p = r[0];
}

/* Row held in registers: lane owns columns (it*32 + lane)*V .. +V-1 for it < ITEMS, with
 * ITEMS*32*V >= T. */
template <int V, int ITEMS> __global__ void softmax_forward_reg_kernel(float *att, int rows, int T)
{
    int row = blockIdx.x * SM_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows)
        return;
    int t = row % T;
    float *a = att + (int64_t)row * T;
    float x[ITEMS][V];
    float m = -INFINITY;
#pragma unroll
    for (int it = 0; it < ITEMS; it++) {
        int c = (it * 32 + lane) * V;
        if (c <= t) {
            load_v(x[it], a + c, V);
#pragma unroll
            for (int j = 0; j < V; j++)
                if (c + j <= t)
                    m = fmaxf(m, x[it][j]);
        }
    }
    m = warp_max(m);
    float s = 0.f;
#pragma unroll
    for (int it = 0; it < ITEMS; it++) {
        int c = (it * 32 + lane) * V;
#pragma unroll
        for (int j = 0; j < V; j++) {
            float e = c + j <= t ? expf(x[it][j] - m) : 0.f;
            x[it][j] = e;
            s += e;
        }
    }
    float inv = 1.0f / warp_sum(s);
#pragma unroll
    for (int it = 0; it < ITEMS; it++) {
        int c = (it * 32 + lane) * V;
        if (c < T) {
#pragma unroll
            for (int j = 0; j < V; j++)
                x[it][j] *= inv;
            store_v(a + c, x[it], V);
        }
    }
}

/* Any T: three passes over the live columns (max, sum, write). */
template <int V> __global__ void softmax_forward_stream_kernel(float *att, int rows, int T)
{
    int row = blockIdx.x * SM_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows)
        return;
    int t = row % T;
    float *a = att + (int64_t)row * T;
    float m = -INFINITY, s = 0.f, r[V];
    for (int c = lane * V; c <= t; c += 32 * V) {
        load_v(r, a + c, V);
        for (int j = 0; j < V; j++)
            if (c + j <= t)
                m = fmaxf(m, r[j]);
    }
    m = warp_max(m);
    for (int c = lane * V; c <= t; c += 32 * V) {
        load_v(r, a + c, V);
        for (int j = 0; j < V; j++)
            if (c + j <= t)
                s += expf(r[j] - m);
    }
    float inv = 1.0f / warp_sum(s);
    for (int c = lane * V; c < T; c += 32 * V) {
        if (c <= t)
            load_v(r, a + c, V);
        for (int j = 0; j < V; j++)
            r[j] = c + j <= t ? expf(r[j] - m) * inv : 0.f;
        store_v(a + c, r, V);
    }
}

template <int V, int ITEMS>
__global__ void softmax_backward_reg_kernel(float *dpre, const float *datt, const float *att,
                                            int rows, int T)
{
    int row = blockIdx.x * SM_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows)
        return;
    int t = row % T;
    const float *a = att + (int64_t)row * T, *g = datt + (int64_t)row * T;
    float *o = dpre + (int64_t)row * T;
    float pa[ITEMS][V], pg[ITEMS][V];
    float dot = 0.f;
#pragma unroll
    for (int it = 0; it < ITEMS; it++) {
        int c = (it * 32 + lane) * V;
        if (c <= t) {
            load_v(pa[it], a + c, V);
            load_v(pg[it], g + c, V);
#pragma unroll
            for (int j = 0; j < V; j++)
                if (c + j <= t)
                    dot += pa[it][j] * pg[it][j];
        }
    }
    dot = warp_sum(dot);
#pragma unroll
    for (int it = 0; it < ITEMS; it++) {
        int c = (it * 32 + lane) * V;
        if (c < T) {
#pragma unroll
            for (int j = 0; j < V; j++)
                pa[it][j] = c + j <= t ? pa[it][j] * (pg[it][j] - dot) : 0.f;
            store_v(o + c, pa[it], V);
        }
    }
}

template <int V>
__global__ void softmax_backward_stream_kernel(float *dpre, const float *datt, const float *att,
                                               int rows, int T)
{
    int row = blockIdx.x * SM_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows)
        return;
    int t = row % T;
    const float *a = att + (int64_t)row * T, *g = datt + (int64_t)row * T;
    float *o = dpre + (int64_t)row * T;
    float dot = 0.f, ra[V], rg[V];
    for (int c = lane * V; c <= t; c += 32 * V) {
        load_v(ra, a + c, V);
        load_v(rg, g + c, V);
        for (int j = 0; j < V; j++)
            if (c + j <= t)
                dot += ra[j] * rg[j];
    }
    dot = warp_sum(dot);
    for (int c = lane * V; c < T; c += 32 * V) {
        if (c <= t) {
            load_v(ra, a + c, V);
            load_v(rg, g + c, V);
        }
        for (int j = 0; j < V; j++)
            ra[j] = c + j <= t ? ra[j] * (rg[j] - dot) : 0.f;
        store_v(o + c, ra, V);
    }
}

/* Smallest register tiling (1, 2, 4 or 8 items per lane) that covers T, or 0 for none. */
static int reg_items(int T, int V)
{
    for (int it = 1; it <= 8; it *= 2)
        if (T <= it * 32 * V)
            return it;
    return 0;
}

#define SOFTMAX_DISPATCH(KERNEL_REG, KERNEL_STREAM, V, ...)                                        \
    switch (reg_items(T, V)) {                                                                     \
    case 1:                                                                                        \
        KERNEL_REG<V, 1><<<grid, 32 * SM_WARPS, 0, s>>>(__VA_ARGS__);                              \
        break;                                                                                     \
    case 2:                                                                                        \
        KERNEL_REG<V, 2><<<grid, 32 * SM_WARPS, 0, s>>>(__VA_ARGS__);                              \
        break;                                                                                     \
    case 4:                                                                                        \
        KERNEL_REG<V, 4><<<grid, 32 * SM_WARPS, 0, s>>>(__VA_ARGS__);                              \
        break;                                                                                     \
    case 8:                                                                                        \
        KERNEL_REG<V, 8><<<grid, 32 * SM_WARPS, 0, s>>>(__VA_ARGS__);                              \
        break;                                                                                     \
    default:                                                                                       \
        KERNEL_STREAM<V><<<grid, 32 * SM_WARPS, 0, s>>>(__VA_ARGS__);                              \
        break;                                                                                     \
    }

static void cu_softmax_causal_forward(nl_kernels *k, float *att, int BH, int T)
{
    int rows = BH * T;
    if (rows <= 0)
        return;
    unsigned grid = (unsigned)((rows + SM_WARPS - 1) / SM_WARPS);
    cudaStream_t s = cu_stream(k);
    if (T % 4 == 0 && cu_aligned16(att)) {
        SOFTMAX_DISPATCH(softmax_forward_reg_kernel, softmax_forward_stream_kernel, 4, att, rows,
                         T);
    } else {
        SOFTMAX_DISPATCH(softmax_forward_reg_kernel, softmax_forward_stream_kernel, 1, att, rows,
                         T);
    }
    cu_check_launch(k, "softmax_causal_forward");
}

static void cu_softmax_causal_backward(nl_kernels *k, float *dpre, const float *datt,
                                       const float *att, int BH, int T)
{
    int rows = BH * T;
    if (rows <= 0)
        return;
    unsigned grid = (unsigned)((rows + SM_WARPS - 1) / SM_WARPS);
    cudaStream_t s = cu_stream(k);
    if (T % 4 == 0 && cu_aligned16(dpre, datt, att)) {
        SOFTMAX_DISPATCH(softmax_backward_reg_kernel, softmax_backward_stream_kernel, 4, dpre, datt,
                         att, rows, T);
    } else {
        SOFTMAX_DISPATCH(softmax_backward_reg_kernel, softmax_backward_stream_kernel, 1, dpre, datt,
                         att, rows, T);
    }
    cu_check_launch(k, "softmax_causal_backward");
}

void cu_fill_attention(nl_kernels *k)
{
    k->attn_split = cu_attn_split;
    k->attn_split_backward = cu_attn_split_backward;
    k->attn_merge = cu_attn_merge;
    k->attn_merge_backward = cu_attn_merge_backward;
    k->rope_forward = cu_rope_forward;
    k->rope_backward = cu_rope_backward;
    k->softmax_causal_forward = cu_softmax_causal_forward;
    k->softmax_causal_backward = cu_softmax_causal_backward;
}
