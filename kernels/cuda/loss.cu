/* Softmax cross-entropy over the vocabulary: one block per row. Each thread keeps an online
 * softmax state (running max and sum of exponentials) over its strided columns, so the row is
 * read once for the logsumexp; the block merges the states with a fixed tree. The loss sum is
 * a second, single-block kernel with a fixed order, so it is the same bits every run. */
#include "nlcuda.h"
#include "reduce.cuh"

__device__ __forceinline__ void row_softmax_state(const float *x, int V, float &m, float &s,
                                                  float *shared)
{
    m = -INFINITY;
    s = 0.f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float v = x[i];
        if (v > m) {
            s = s * expf(m - v) + 1.f;
            m = v;
        } else {
            s += expf(v - m);
        }
    }
    block_softmax_state(m, s, shared);
}

__global__ void ce_forward_kernel(float *losses, const float *logits, const int32_t *targets,
                                  int V)
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
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float p = expf(x[i] - m) * inv;
        d[i] = scale * (p - (i == t ? 1.f : 0.f));
    }
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
