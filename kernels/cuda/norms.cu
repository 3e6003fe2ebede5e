/* LayerNorm and RMSNorm, forward and backward, over the last dimension.
 *
 * Forward and the input gradient: one warp per row, float4 loads when the row allows it; the
 * row (C floats) is read once from memory and re-read from L1. The parameter gradients are
 * sums over rows, done without atomics so the result is the same every run: blocks own a
 * 32-column slab and a fixed chunk of rows and write partial sums, which a second kernel adds
 * in chunk order. */
#include "nlcuda.h"
#include "reduce.cuh"

#define ROWS_PER_BLOCK 8 /* warps (rows) per block of the row kernels */

template <int V> struct vec;
template <> struct vec<4> {
    static __device__ __forceinline__ void load(float *r, const float *p)
    {
        float4 v = *(const float4 *)p;
        r[0] = v.x, r[1] = v.y, r[2] = v.z, r[3] = v.w;
    }
    static __device__ __forceinline__ void store(float *p, const float *r)
    {
        *(float4 *)p = make_float4(r[0], r[1], r[2], r[3]);
    }
};
template <> struct vec<1> {
    static __device__ __forceinline__ void load(float *r, const float *p) { r[0] = *p; }
    static __device__ __forceinline__ void store(float *p, const float *r) { *p = r[0]; }
};

/* out, inp (N,C); weight, bias (C), bias may be NULL; mean (N) NULL for RMSNorm. */
template <int V, bool RMS>
__global__ void norm_forward_kernel(float *out, float *mean, float *rstd, const float *inp,
                                    const float *weight, const float *bias, int N, int C, float eps)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N)
        return;
    const float *x = inp + (int64_t)row * C;
    float *o = out + (int64_t)row * C;
    float m = 0.f;
    if (!RMS) {
        float s = 0.f;
        for (int c = lane * V; c < C; c += 32 * V) {
            float r[V];
            vec<V>::load(r, x + c);
#pragma unroll
            for (int j = 0; j < V; j++)
                s += r[j];
        }
        m = warp_sum(s) / C;
    }
    float q = 0.f;
    for (int c = lane * V; c < C; c += 32 * V) {
        float r[V];
        vec<V>::load(r, x + c);
#pragma unroll
        for (int j = 0; j < V; j++) {
            float d = r[j] - m;
            q += d * d;
        }
    }
    float rs = 1.0f / sqrtf(warp_sum(q) / C + eps);
    for (int c = lane * V; c < C; c += 32 * V) {
        float r[V], w[V], b[V];
        vec<V>::load(r, x + c);
        vec<V>::load(w, weight + c);
        if (bias)
            vec<V>::load(b, bias + c);
#pragma unroll
        for (int j = 0; j < V; j++)
            r[j] = (r[j] - m) * rs * w[j] + (bias ? b[j] : 0.f);
        vec<V>::store(o + c, r);
    }
    if (lane == 0) {
        if (!RMS && mean)
            mean[row] = m;
        if (rstd)
            rstd[row] = rs;
    }
}

/* dinp (N,C) += rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dout * weight;
 * RMSNorm drops the mean(g) term and has xhat = x * rstd. */
template <int V, bool RMS>
__global__ void norm_backward_input_kernel(float *dinp, const float *dout, const float *inp,
                                           const float *weight, const float *mean,
                                           const float *rstd, int N, int C)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N)
        return;
    const float *x = inp + (int64_t)row * C, *d = dout + (int64_t)row * C;
    float *dx = dinp + (int64_t)row * C;
    float m = RMS ? 0.f : mean[row], rs = rstd[row];
    float sg = 0.f, sgx = 0.f;
    for (int c = lane * V; c < C; c += 32 * V) {
        float r[V], g[V], w[V];
        vec<V>::load(r, x + c);
        vec<V>::load(g, d + c);
        vec<V>::load(w, weight + c);
#pragma unroll
        for (int j = 0; j < V; j++) {
            float gw = g[j] * w[j];
            sg += gw;
            sgx += gw * (r[j] - m) * rs;
        }
    }
    float mg = RMS ? 0.f : warp_sum(sg) / C;
    float mgx = warp_sum(sgx) / C;
    for (int c = lane * V; c < C; c += 32 * V) {
        float r[V], g[V], w[V], o[V];
        vec<V>::load(r, x + c);
        vec<V>::load(g, d + c);
        vec<V>::load(w, weight + c);
        vec<V>::load(o, dx + c);
#pragma unroll
        for (int j = 0; j < V; j++) {
            float xh = (r[j] - m) * rs;
            o[j] += rs * (g[j] * w[j] - mg - xh * mgx);
        }
        vec<V>::store(dx + c, o);
    }
}

#define SLAB 32  /* columns per block of the parameter-gradient kernel */
#define SLAB_Y 8 /* rows handled at once by a block */

/* partial (2, chunks, C): [0] sum over the chunk's rows of dout * xhat, [1] of dout. */
template <bool RMS>
__global__ void norm_backward_param_partial_kernel(float *partial, const float *dout,
                                                   const float *inp, const float *mean,
                                                   const float *rstd, int N, int C,
                                                   int rows_per_chunk, int chunks)
{
    __shared__ float sw[SLAB_Y][SLAB], sb[SLAB_Y][SLAB];
    int c = blockIdx.x * SLAB + threadIdx.x, chunk = blockIdx.y;
    int r0 = chunk * rows_per_chunk, r1 = min(N, r0 + rows_per_chunk);
    float aw = 0.f, ab = 0.f;
    if (c < C) {
        for (int r = r0 + threadIdx.y; r < r1; r += SLAB_Y) {
            int64_t i = (int64_t)r * C + c;
            float g = dout[i];
            float xh = (inp[i] - (RMS ? 0.f : mean[r])) * rstd[r];
            aw += g * xh;
            ab += g;
        }
    }
    sw[threadIdx.y][threadIdx.x] = aw;
    sb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float tw = 0.f, tb = 0.f;
#pragma unroll
        for (int y = 0; y < SLAB_Y; y++) {
            tw += sw[y][threadIdx.x];
            tb += sb[y][threadIdx.x];
        }
        partial[(int64_t)chunk * C + c] = tw;
        partial[((int64_t)chunks + chunk) * C + c] = tb;
    }
}

__global__ void norm_backward_param_final_kernel(float *dweight, float *dbias, const float *partial,
                                                 int C, int chunks)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    float tw = 0.f, tb = 0.f;
    for (int j = 0; j < chunks; j++) {
        tw += partial[(int64_t)j * C + c];
        tb += partial[((int64_t)chunks + j) * C + c];
    }
    if (dweight)
        dweight[c] += tw;
    if (dbias)
        dbias[c] += tb;
}

template <bool RMS>
static void norm_forward(nl_kernels *k, float *out, float *mean, float *rstd, const float *inp,
                         const float *weight, const float *bias, int N, int C, float eps)
{
    if (N <= 0 || C <= 0)
        return;
    unsigned grid = (unsigned)((N + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
    if (C % 4 == 0 && cu_aligned16(out, inp, weight, bias))
        norm_forward_kernel<4, RMS><<<grid, 32 * ROWS_PER_BLOCK, 0, cu_stream(k)>>>(
            out, mean, rstd, inp, weight, bias, N, C, eps);
    else
        norm_forward_kernel<1, RMS><<<grid, 32 * ROWS_PER_BLOCK, 0, cu_stream(k)>>>(
            out, mean, rstd, inp, weight, bias, N, C, eps);
    cu_check_launch(k, RMS ? "rmsnorm_forward" : "layernorm_forward");
}

template <bool RMS>
static void norm_backward(nl_kernels *k, float *dinp, float *dweight, float *dbias,
                          const float *dout, const float *inp, const float *weight,
                          const float *mean, const float *rstd, int N, int C)
{
    if (N <= 0 || C <= 0)
        return;
    const char *name = RMS ? "rmsnorm_backward" : "layernorm_backward";
    cudaStream_t s = cu_stream(k);
    if (dinp) {
        unsigned grid = (unsigned)((N + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
        if (C % 4 == 0 && cu_aligned16(dinp, dout, inp, weight))
            norm_backward_input_kernel<4, RMS>
                <<<grid, 32 * ROWS_PER_BLOCK, 0, s>>>(dinp, dout, inp, weight, mean, rstd, N, C);
        else
            norm_backward_input_kernel<1, RMS>
                <<<grid, 32 * ROWS_PER_BLOCK, 0, s>>>(dinp, dout, inp, weight, mean, rstd, N, C);
        cu_check_launch(k, name);
    }
    if (!dweight && !dbias)
        return;
    /* the chunking depends on N and C only, so the sums are the same every run */
    int col_blocks = (C + SLAB - 1) / SLAB;
    int chunks = (N + 63) / 64, max_chunks = 1024 / col_blocks > 0 ? 1024 / col_blocks : 1;
    if (chunks > max_chunks)
        chunks = max_chunks;
    int rows_per_chunk = (N + chunks - 1) / chunks;
    chunks = (N + rows_per_chunk - 1) / rows_per_chunk;
    float *partial = (float *)cu_scratch(k, sizeof(float) * 2 * (size_t)chunks * C);
    if (!partial)
        return;
    dim3 grid(col_blocks, chunks), block(SLAB, SLAB_Y);
    norm_backward_param_partial_kernel<RMS>
        <<<grid, block, 0, s>>>(partial, dout, inp, mean, rstd, N, C, rows_per_chunk, chunks);
    norm_backward_param_final_kernel<<<(C + 255) / 256, 256, 0, s>>>(dweight, dbias, partial, C,
                                                                     chunks);
    cu_check_launch(k, name);
}

static void cu_layernorm_forward(nl_kernels *k, float *out, float *mean, float *rstd,
                                 const float *inp, const float *weight, const float *bias, int N,
                                 int C, float eps)
{
    norm_forward<false>(k, out, mean, rstd, inp, weight, bias, N, C, eps);
}

static void cu_layernorm_backward(nl_kernels *k, float *dinp, float *dweight, float *dbias,
                                  const float *dout, const float *inp, const float *weight,
                                  const float *mean, const float *rstd, int N, int C)
{
    norm_backward<false>(k, dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
}

static void cu_rmsnorm_forward(nl_kernels *k, float *out, float *rstd, const float *inp,
                               const float *weight, int N, int C, float eps)
{
    norm_forward<true>(k, out, NULL, rstd, inp, weight, NULL, N, C, eps);
}

static void cu_rmsnorm_backward(nl_kernels *k, float *dinp, float *dweight, const float *dout,
                                const float *inp, const float *weight, const float *rstd, int N,
                                int C)
{
    norm_backward<true>(k, dinp, dweight, NULL, dout, inp, weight, NULL, rstd, N, C);
}

void cu_fill_norms(nl_kernels *k)
{
    k->layernorm_forward = cu_layernorm_forward;
    k->layernorm_backward = cu_layernorm_backward;
    k->rmsnorm_forward = cu_rmsnorm_forward;
    k->rmsnorm_backward = cu_rmsnorm_backward;
}
