/* Softmax cross-entropy over the vocabulary: one block per row. Each thread keeps online
 * softmax states (running max and sum of exponentials) over its strided columns, so the row is
 * read once for the logsumexp; the block merges the states with a fixed tree. The loss sum is
 * a second, single-block kernel with a fixed order, so it is the same bits every run. */
#include "nlcuda.h"
#include "reduce.cuh"

__device__ __forceinline__ void online_add(float &m, float &s, float v)
{
    if (v > m) {
        s = s * expf(m - v) + 1.f;
        m = v;
    } else {
        s += expf(v - m);
    }
}

/* Elements of a row before its first 16-byte boundary (rows of an odd V start anywhere). */
__device__ __forceinline__ int row_head(const float *x, int V)
{
    int h = (int)(((16 - ((uintptr_t)x & 15)) & 15) / 4);
    return h < V ? h : V;
}

/* The row's online softmax state over the block. The aligned middle of the row is read as
 * float4, with four independent states per thread so that the loads and exponentials of
 * consecutive elements overlap. */
__device__ __forceinline__ void row_softmax_state(const float *x, int V, float &m, float &s,
                                                  float *shared)
{
    float m0 = -INFINITY, m1 = -INFINITY, m2 = -INFINITY, m3 = -INFINITY;
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    int head = row_head(x, V), n4 = (V - head) / 4;
    for (int i = threadIdx.x; i < head; i += blockDim.x)
        online_add(m0, s0, x[i]);
    const float4 *x4 = (const float4 *)(x + head);
#pragma unroll 2
    for (int i = threadIdx.x; i < n4; i += blockDim.x) {
        float4 v = x4[i];
        online_add(m0, s0, v.x);
        online_add(m1, s1, v.y);
        online_add(m2, s2, v.z);
        online_add(m3, s3, v.w);
    }
    for (int i = head + 4 * n4 + threadIdx.x; i < V; i += blockDim.x)
        online_add(m0, s0, x[i]);
    softmax_merge(m0, s0, m1, s1);
    softmax_merge(m2, s2, m3, s3);
    softmax_merge(m0, s0, m2, s2);
    m = m0;
    s = s0;
    block_softmax_state(m, s, shared);
}

__global__ void ce_forward_kernel(float *losses, const float *logits, const int32_t *targets, int V)
{
    __shared__ float shared[64];
    int row = blockIdx.x;
    const float *x = logits + (int64_t)row * V;
    float m, s;
    row_softmax_state(x, V, m, s, shared);
    if (threadIdx.x == 0) {
        int t = targets[row];
        losses[row] = t >= 0 && t < V ? m + logf(s) - x[t] : NAN;
    }
}

/* loss_sum = losses[0] + ... in a fixed order: thread i takes i, i+1024, ...; then a tree. */
__global__ void sum_kernel(float *out, const float *x, int n)
{
    __shared__ float shared[32];
    float acc = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        acc += x[i];
    acc = block_sum(acc, shared);
    if (threadIdx.x == 0)
        *out = acc;
}

__global__ void ce_backward_kernel(float *dlogits, const float *logits, const int32_t *targets,
                                   float scale, int V)
{
    __shared__ float shared[64];
    int row = blockIdx.x;
    const float *x = logits + (int64_t)row * V;
    float *d = dlogits + (int64_t)row * V;
    float m, s;
    row_softmax_state(x, V, m, s, shared);
    /* every read of the row above is done before any write below (dlogits may be logits) */
    float inv = 1.f / s;
    int t = targets[row];
    int head = row_head(x, V), n4 = (V - head) / 4;
    if ((((uintptr_t)d ^ (uintptr_t)x) & 15) != 0) /* d's row not aligned as x's: scalar */
        head = n4 = 0;
    for (int i = threadIdx.x; i < head; i += blockDim.x)
        d[i] = scale * (expf(x[i] - m) * inv - (i == t ? 1.f : 0.f));
    const float4 *x4 = (const float4 *)(x + head);
    float4 *d4 = (float4 *)(d + head);
    for (int i = threadIdx.x; i < n4; i += blockDim.x) {
        float4 v = x4[i];
        int c = head + 4 * i;
        v.x = scale * (expf(v.x - m) * inv - (c == t ? 1.f : 0.f));
        v.y = scale * (expf(v.y - m) * inv - (c + 1 == t ? 1.f : 0.f));
        v.z = scale * (expf(v.z - m) * inv - (c + 2 == t ? 1.f : 0.f));
        v.w = scale * (expf(v.w - m) * inv - (c + 3 == t ? 1.f : 0.f));
        d4[i] = v;
    }
    for (int i = head + 4 * n4 + threadIdx.x; i < V; i += blockDim.x)
        d[i] = scale * (expf(x[i] - m) * inv - (i == t ? 1.f : 0.f));
}

static int ce_threads(int V)
{
    return V >= 8192 ? 512 : V >= 1024 ? 256 : 128;
}

static void cu_cross_entropy_forward(nl_kernels *k, float *losses, float *loss_sum,
                                     const float *logits, const int32_t *targets, int N, int V)
{
    if (N <= 0 || V <= 0)
        return;
    cudaStream_t s = cu_stream(k);
    ce_forward_kernel<<<N, ce_threads(V), 0, s>>>(losses, logits, targets, V);
    if (loss_sum)
        sum_kernel<<<1, 1024, 0, s>>>(loss_sum, losses, N);
    cu_check_launch(k, "cross_entropy_forward");
}

static void cu_cross_entropy_backward(nl_kernels *k, float *dlogits, const float *logits,
                                      const int32_t *targets, float scale, int N, int V)
{
    if (N <= 0 || V <= 0)
        return;
    ce_backward_kernel<<<N, ce_threads(V), 0, cu_stream(k)>>>(dlogits, logits, targets, scale, V);
    cu_check_launch(k, "cross_entropy_backward");
}

void cu_fill_loss(nl_kernels *k)
{
    k->cross_entropy_forward = cu_cross_entropy_forward;
    k->cross_entropy_backward = cu_cross_entropy_backward;
}
