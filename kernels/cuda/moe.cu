/* Mixture of Experts: the router's softmax and top-k, the dispatch (a stable counting sort of
 * the routed slots by expert), the load-balancing and z losses, and the router's backward.
 *
 * E is small (experts), so a router row is one thread (top-k) or one warp (backward); the
 * losses are one block with fixed-order sums. Expert counts are integer sums, exact in any
 * order. */
#include "nlcuda.h"
#include "reduce.cuh"

#define MOE_MAX_EXPERTS 1024

/* ---- top-k ---- */

__global__ void router_topk_kernel(float *probs, int32_t *idx, float *gates, const float *logits,
                                   int N, int E, int K, int renorm)
{
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N)
        return;
    const float *l = logits + (int64_t)n * E;
    float *p = probs + (int64_t)n * E;
    int32_t *ix = idx + (int64_t)n * K;
    float *g = gates + (int64_t)n * K;
    float mx = -INFINITY;
    for (int e = 0; e < E; e++)
        mx = fmaxf(mx, l[e]);
    float s = 0.f;
    for (int e = 0; e < E; e++)
        s += expf(l[e] - mx);
    for (int e = 0; e < E; e++)
        p[e] = expf(l[e] - mx) / s;
    float gsum = 0.f;
    for (int j = 0; j < K; j++) {
        /* the largest not yet taken; strictly greater, so ties go to the lower index */
        int best = -1;
        float pb = 0.f;
        for (int e = 0; e < E; e++) {
            bool taken = false;
            for (int i = 0; i < j; i++)
                taken |= ix[i] == e;
            float pe = p[e];
            if (!taken && (best < 0 || pe > pb)) {
                best = e;
                pb = pe;
            }
        }
        ix[j] = best;
        g[j] = pb;
        gsum += pb;
    }
    if (renorm)
        for (int j = 0; j < K; j++)
            g[j] = g[j] / gsum;
}

static void cu_router_topk(nl_kernels *k, float *probs, int32_t *idx, float *gates,
                           const float *logits, int N, int E, int K, int renorm)
{
    if (N <= 0 || E <= 0)
        return;
    router_topk_kernel<<<(N + 127) / 128, 128, 0, cu_stream(k)>>>(probs, idx, gates, logits, N, E,
                                                                  K, renorm);
    cu_check_launch(k, "router_topk");
}

/* ---- dispatch ---- */

/* offsets[e] = first sorted position with key >= e (binary search); rows and slots from the
 * sort's order. */
__global__ void dispatch_kernel(int32_t *offsets, int32_t *rows, int32_t *slots,
                                const int32_t *sorted, const int32_t *order, int NK, int E, int K)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= E) {
        int lo = 0, hi = NK;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (sorted[mid] < i)
                lo = mid + 1;
            else
                hi = mid;
        }
        offsets[i] = lo;
    }
    if (i < NK) {
        int s = order[i];
        slots[i] = s;
        rows[i] = s / K;
    }
}

static void cu_moe_dispatch(nl_kernels *k, int32_t *offsets, int32_t *rows, int32_t *slots,
                            const int32_t *idx, int N, int E, int K)
{
    int NK = N * K;
    if (E <= 0)
        return;
    void *mem = cu_scratch(k, cu_sort_bytes(NK, E));
    int32_t *sorted, *order;
    if (!mem || cu_sort_keys(k, mem, idx, NK, E, &sorted, &order))
        return;
    int n = NK > E + 1 ? NK : E + 1;
    dispatch_kernel<<<(n + 255) / 256, 256, 0, cu_stream(k)>>>(offsets, rows, slots, sorted, order,
                                                               NK, E, K);
    cu_check_launch(k, "moe_dispatch");
}

/* ---- losses ---- */

/* counts[e] = routed slots that go to e, in shared memory of the calling block. */
__device__ void block_expert_counts(int *counts, const int32_t *idx, int NK, int E)
{
    for (int e = threadIdx.x; e < E; e += blockDim.x)
        counts[e] = 0;
    __syncthreads();
    for (int s = threadIdx.x; s < NK; s += blockDim.x) {
        int e = idx[s];
        if (e >= 0 && e < E)
            atomicAdd(&counts[e], 1);
    }
    __syncthreads();
}

/* logsumexp of one row of E logits (one thread). */
__device__ __forceinline__ float row_lse(const float *l, int E)
{
    float mx = -INFINITY;
    for (int e = 0; e < E; e++)
        mx = fmaxf(mx, l[e]);
    float s = 0.f;
    for (int e = 0; e < E; e++)
        s += expf(l[e] - mx);
    return mx + logf(s);
}

/* One block of 1024 threads. Thread t < P*E (P = 1024 / E parts) sums column e = t % E over
 * rows part, part + P, ...; thread e then adds the P parts in order. */
__global__ void router_losses_kernel(float *out, const float *probs, const float *logits,
                                     const int32_t *idx, int N, int E, int K)
{
    __shared__ int counts[MOE_MAX_EXPERTS];
    __shared__ float part[1024];
    __shared__ float shared[32];
    block_expert_counts(counts, idx, N * K, E);
    int P = blockDim.x / E, t = threadIdx.x;
    float acc = 0.f;
    if (t < P * E) {
        int e = t % E;
        for (int n = t / E; n < N; n += P)
            acc += probs[(int64_t)n * E + e];
    }
    part[t] = acc;
    float z = 0.f;
    for (int n = t; n < N; n += blockDim.x) {
        float lse = row_lse(logits + (int64_t)n * E, E);
        z += lse * lse;
    }
    __syncthreads();
    float term = 0.f;
    if (t < E) {
        float ps = 0.f;
        for (int q = 0; q < P; q++)
            ps += part[q * E + t];
        term = ((float)counts[t] / ((float)N * K)) * (ps / N);
    }
    float aux = block_sum(term, shared);
    z = block_sum(z, shared);
    if (t == 0) {
        out[0] = E * aux;
        out[1] = z / N;
    }
}

static void cu_router_losses(nl_kernels *k, float *out, const float *probs, const float *logits,
                             const int32_t *idx, int N, int E, int K)
{
    if (E > MOE_MAX_EXPERTS) {
        cu_set_error(k, "router_losses: %d experts, at most %d supported", E, MOE_MAX_EXPERTS);
        return;
    }
    if (N <= 0 || E <= 0)
        return;
    router_losses_kernel<<<1, 1024, 0, cu_stream(k)>>>(out, probs, logits, idx, N, E, K);
    cu_check_launch(k, "router_losses");
}

/* ---- backward ---- */

/* g_aux (E) = aux_coef * E * f_e / N, f_e = count_e / (N*K). */
__global__ void router_aux_grad_kernel(float *g_aux, const int32_t *idx, int N, int E, int K,
                                       float aux_coef)
{
    __shared__ int counts[MOE_MAX_EXPERTS];
    block_expert_counts(counts, idx, N * K, E);
    for (int e = threadIdx.x; e < E; e += blockDim.x)
        g_aux[e] = aux_coef * E * ((float)counts[e] / ((float)N * K)) / N;
}

/* One warp per row n; lanes own experts e = lane, lane + 32, ... With p = probs[n],
 * G = dL/dp (gates and aux terms), dlogits = p * (G - sum_e p_e G_e + 2 z_coef lse / N). */
__global__ void router_backward_kernel(float *dlogits, const float *dgates, const float *probs,
                                       const float *logits, const int32_t *idx, const float *g_aux,
                                       int N, int E, int K, int renorm, float z_coef)
{
    int n = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= N)
        return;
    const float *p = probs + (int64_t)n * E, *l = logits + (int64_t)n * E;
    const float *dg = dgates + (int64_t)n * K;
    const int32_t *ix = idx + (int64_t)n * K;
    float S = 0.f, dot = 0.f;
    if (renorm) {
        for (int j = 0; j < K; j++)
            S += p[ix[j]];
        for (int j = 0; j < K; j++)
            dot += dg[j] * (p[ix[j]] / S);
    }
    float pg = 0.f, mx = -INFINITY;
    for (int e = lane; e < E; e += 32) {
        float G = g_aux[e];
        for (int j = 0; j < K; j++)
            if (ix[j] == e)
                G += renorm ? (dg[j] - dot) / S : dg[j];
        pg += p[e] * G;
        mx = fmaxf(mx, l[e]);
    }
    pg = warp_sum(pg);
    mx = warp_max(mx);
    float se = 0.f;
    for (int e = lane; e < E; e += 32)
        se += expf(l[e] - mx);
    float lse = mx + logf(warp_sum(se));
    float zc = z_coef * 2.f * lse / N;
    for (int e = lane; e < E; e += 32) {
        float G = g_aux[e];
        for (int j = 0; j < K; j++)
            if (ix[j] == e)
                G += renorm ? (dg[j] - dot) / S : dg[j];
        dlogits[(int64_t)n * E + e] = p[e] * (G - pg + zc);
    }
}

static void cu_router_backward(nl_kernels *k, float *dlogits, const float *dgates,
                               const float *probs, const float *logits, const int32_t *idx,
                               const float *gates, int N, int E, int K, int renorm, float aux_coef,
                               float z_coef)
{
    if (E > MOE_MAX_EXPERTS) {
        cu_set_error(k, "router_backward: %d experts, at most %d supported", E, MOE_MAX_EXPERTS);
        return;
    }
    if (N <= 0 || E <= 0)
        return;
    float *g_aux = (float *)cu_scratch(k, sizeof(float) * (size_t)E);
    if (!g_aux)
        return;
    cudaStream_t s = cu_stream(k);
    router_aux_grad_kernel<<<1, 1024, 0, s>>>(g_aux, idx, N, E, K, aux_coef);
    router_backward_kernel<<<(N + 7) / 8, 256, 0, s>>>(dlogits, dgates, probs, logits, idx, g_aux,
                                                       N, E, K, renorm, z_coef);
    cu_check_launch(k, "router_backward");
}

void cu_fill_moe(nl_kernels *k)
{
    k->router_topk = cu_router_topk;
    k->moe_dispatch = cu_moe_dispatch;
    k->router_losses = cu_router_losses;
    k->router_backward = cu_router_backward;
}
