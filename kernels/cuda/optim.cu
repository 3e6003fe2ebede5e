/* Sums of squares per segment (per-layer gradient norms), the clipping scale, and AdamW.
 *
 * sumsq_segments cuts every segment into chunks of CHUNK elements that depend only on the
 * offsets; one block sums each chunk, and one warp per segment adds its chunks' partial sums
 * with a fixed tree. So the result is the same bits every run, and a large segment (the
 * embedding) is spread over the whole GPU rather than one block. The offsets (host memory)
 * travel as a kernel parameter, SEG_BATCH segments per launch: no copy, no synchronisation. */
#include "nlcuda.h"
#include "reduce.cuh"

#define CHUNK 8192
#define SEG_BATCH 256

struct seg_table {
    int64_t off[SEG_BATCH + 1];    /* element offsets of the batch's segments */
    int32_t cstart[SEG_BATCH + 1]; /* first chunk of each segment; cstart[nseg] = total */
    int nseg;
};

__global__ void sumsq_chunks_kernel(float *partial, const float *x, const seg_table tab)
{
    __shared__ float shared[32];
    int b = blockIdx.x;
    int lo = 0, hi = tab.nseg; /* the segment s with cstart[s] <= b < cstart[s+1] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (tab.cstart[mid] <= b)
            lo = mid;
        else
            hi = mid;
    }
    int64_t start = tab.off[lo] + (int64_t)(b - tab.cstart[lo]) * CHUNK;
    int64_t end = min(tab.off[lo + 1], start + CHUNK);
    float acc = 0.f;
    for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) {
        float v = x[i];
        acc += v * v;
    }
    acc = block_sum(acc, shared);
    if (threadIdx.x == 0)
        partial[b] = acc;
}

__global__ void sumsq_segments_kernel(float *out, const float *partial, const seg_table tab)
{
    int s = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (s >= tab.nseg)
        return;
    float acc = 0.f;
    for (int c = tab.cstart[s] + lane; c < tab.cstart[s + 1]; c += 32)
        acc += partial[c];
    acc = warp_sum(acc);
    if (lane == 0)
        out[s] = acc;
}

static void cu_sumsq_segments(nl_kernels *k, float *out, const float *x, const int64_t *offsets,
                              int nseg)
{
    cudaStream_t st = cu_stream(k);
    /* scratch for the largest batch, taken once (growing it drains the stream) */
    int64_t most = 1;
    for (int s0 = 0; s0 < nseg; s0 += SEG_BATCH) {
        int64_t chunks = 0;
        for (int s = s0; s < nseg && s < s0 + SEG_BATCH; s++)
            chunks += (offsets[s + 1] - offsets[s] + CHUNK - 1) / CHUNK;
        if (chunks > most)
            most = chunks;
    }
    if (most > INT32_MAX) {
        cu_set_error(k, "sumsq_segments: too many elements");
        return;
    }
    float *partial = (float *)cu_scratch(k, sizeof(float) * (size_t)most);
    if (!partial)
        return;
    for (int s0 = 0; s0 < nseg; s0 += SEG_BATCH) {
        seg_table tab;
        tab.nseg = nseg - s0 < SEG_BATCH ? nseg - s0 : SEG_BATCH;
        int32_t chunks = 0;
        for (int s = 0; s <= tab.nseg; s++) {
            tab.off[s] = offsets[s0 + s];
            tab.cstart[s] = chunks;
            if (s < tab.nseg)
                chunks += (int32_t)((offsets[s0 + s + 1] - offsets[s0 + s] + CHUNK - 1) / CHUNK);
        }
        if (chunks > 0)
            sumsq_chunks_kernel<<<chunks, 256, 0, st>>>(partial, x, tab);
        sumsq_segments_kernel<<<(tab.nseg + 7) / 8, 256, 0, st>>>(out + s0, partial, tab);
    }
    cu_check_launch(k, "sumsq_segments");
}

/* One warp: the n sums of squares added in double (lane-strided, then a fixed tree). */
__global__ void clip_scale_kernel(float *scale_out, const float *sumsq, int n, float max_norm)
{
    double acc = 0.0;
    for (int i = threadIdx.x; i < n; i += 32)
        acc += sumsq[i];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (threadIdx.x == 0) {
        double norm = sqrt(acc);
        scale_out[0] = (float)norm;
        scale_out[1] = max_norm > 0 && norm > max_norm ? (float)(max_norm / (norm + 1e-6)) : 1.f;
    }
}

static void cu_clip_scale(nl_kernels *k, float *scale_out, const float *sumsq, int n,
                          float max_norm)
{
    clip_scale_kernel<<<1, 32, 0, cu_stream(k)>>>(scale_out, sumsq, n, max_norm);
    cu_check_launch(k, "clip_scale");
}

struct adamw_args {
    float lr, b1, b2, eps, wd, ib1, ib2;
};

__device__ __forceinline__ void adamw_one(float &p, float g, float &m, float &v,
                                          const adamw_args &a)
{
    float mi = a.b1 * m + (1.f - a.b1) * g;
    float vi = a.b2 * v + (1.f - a.b2) * g * g;
    m = mi;
    v = vi;
    p -= a.lr * ((mi * a.ib1) / (sqrtf(vi * a.ib2) + a.eps) + a.wd * p);
}

/* The update of both entries, adamw (scalars as arguments) and adamw_dev (scalars read from
 * device memory): one body, so equal scalars give equal bits. */
template <int V>
__device__ __forceinline__ void adamw_body(float *p, const float *grad, float *m, float *v,
                                           int64_t n, const adamw_args &a,
                                           const float *grad_scale)
{
    float gs = grad_scale ? *grad_scale : 1.f;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (V == 4) {
        for (; i < n / 4; i += step) {
            float4 pp = ((float4 *)p)[i], g = ((const float4 *)grad)[i];
            float4 mm = ((float4 *)m)[i], vv = ((float4 *)v)[i];
            adamw_one(pp.x, g.x * gs, mm.x, vv.x, a);
            adamw_one(pp.y, g.y * gs, mm.y, vv.y, a);
            adamw_one(pp.z, g.z * gs, mm.z, vv.z, a);
            adamw_one(pp.w, g.w * gs, mm.w, vv.w, a);
            ((float4 *)p)[i] = pp;
            ((float4 *)m)[i] = mm;
            ((float4 *)v)[i] = vv;
        }
        /* the tail */
        i = n / 4 * 4 + (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    }
    for (; i < n; i += step)
        adamw_one(p[i], grad[i] * gs, m[i], v[i], a);
}

template <int V>
__global__ void adamw_kernel(float *p, const float *grad, float *m, float *v, int64_t n,
                             adamw_args a, const float *grad_scale)
{
    adamw_body<V>(p, grad, m, v, n, a, grad_scale);
}

/* hyper (4) = [lr, bc1, bc2, skip]; 1/bc as the host computes it for adamw (IEEE division) */
template <int V>
__global__ void adamw_dev_kernel(float *p, const float *grad, float *m, float *v, int64_t n,
                                 adamw_args a, const float *hyper, const float *grad_scale)
{
    if (hyper[3] != 0.f)
        return;
    a.lr = hyper[0];
    a.ib1 = 1.f / hyper[1];
    a.ib2 = 1.f / hyper[2];
    adamw_body<V>(p, grad, m, v, n, a, grad_scale);
}

static void cu_adamw(nl_kernels *k, float *p, const float *grad, float *m, float *v, int64_t n,
                     float lr, float b1, float b2, float eps, float wd, float bc1, float bc2,
                     const float *grad_scale)
{
    if (n <= 0)
        return;
    adamw_args a = {lr, b1, b2, eps, wd, 1.f / bc1, 1.f / bc2};
    if (cu_aligned16(p, grad, m, v))
        adamw_kernel<4><<<cu_grid((n + 3) / 4, 256, 4), 256, 0, cu_stream(k)>>>(p, grad, m, v, n, a,
                                                                                grad_scale);
    else
        adamw_kernel<1>
            <<<cu_grid(n, 256, 4), 256, 0, cu_stream(k)>>>(p, grad, m, v, n, a, grad_scale);
    cu_check_launch(k, "adamw");
}

static void cu_adamw_dev(nl_kernels *k, float *p, const float *grad, float *m, float *v,
                         int64_t n, float b1, float b2, float eps, float wd, const float *hyper,
                         const float *grad_scale)
{
    if (n <= 0)
        return;
    adamw_args a = {0.f, b1, b2, eps, wd, 1.f, 1.f};
    if (cu_aligned16(p, grad, m, v))
        adamw_dev_kernel<4><<<cu_grid((n + 3) / 4, 256, 4), 256, 0, cu_stream(k)>>>(
            p, grad, m, v, n, a, hyper, grad_scale);
    else
        adamw_dev_kernel<1><<<cu_grid(n, 256, 4), 256, 0, cu_stream(k)>>>(p, grad, m, v, n, a,
                                                                           hyper, grad_scale);
    cu_check_launch(k, "adamw_dev");
}

void cu_fill_optim(nl_kernels *k)
{
    k->adamw_dev = cu_adamw_dev;
    k->sumsq_segments = cu_sumsq_segments;
    k->clip_scale = cu_clip_scale;
    k->adamw = cu_adamw;
}
