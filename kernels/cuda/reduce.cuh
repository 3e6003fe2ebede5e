/* Warp and block reductions. Each is a fixed tree of shuffles, so the same inputs in the same
 * threads give the same bits every run. */
#ifndef NL_CUDA_REDUCE_CUH
#define NL_CUDA_REDUCE_CUH

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Combine two online-softmax states (max m, sum of exp(x - m) s). */
__device__ __forceinline__ void softmax_merge(float &m, float &s, float m2, float s2)
{
    float mm = fmaxf(m, m2);
    if (mm == -INFINITY) {
        s = 0.f;
    } else {
        s = s * expf(m - mm) + s2 * expf(m2 - mm);
    }
    m = mm;
}

__device__ __forceinline__ void warp_softmax_state(float &m, float &s)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o);
        float s2 = __shfl_xor_sync(0xffffffffu, s, o);
        softmax_merge(m, s, m2, s2);
    }
}

/* Sum over a block of up to 1024 threads (blockDim.x a multiple of 32); every thread gets the
 * result. `shared` holds 32 floats. */
__device__ __forceinline__ float block_sum(float v, float *shared)
{
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads(); /* shared may still be read by a previous call */
    if (lane == 0)
        shared[warp] = v;
    __syncthreads();
    v = lane < nw ? shared[lane] : 0.f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float *shared)
{
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0)
        shared[warp] = v;
    __syncthreads();
    v = lane < nw ? shared[lane] : -INFINITY;
    return warp_max(v);
}

/* Online-softmax state over a block; `shared` holds 64 floats. */
__device__ __forceinline__ void block_softmax_state(float &m, float &s, float *shared)
{
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    warp_softmax_state(m, s);
    __syncthreads();
    if (lane == 0) {
        shared[warp] = m;
        shared[32 + warp] = s;
    }
    __syncthreads();
    m = lane < nw ? shared[lane] : -INFINITY;
    s = lane < nw ? shared[32 + lane] : 0.f;
    warp_softmax_state(m, s);
}

#endif
