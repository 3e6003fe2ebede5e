/* Fused causal attention, the SIMT fp32 way (see flash.cu for the method): tiles of 32 x 32,
 * 4 warps of 8 rows, a lane per key (or per query in the dk/dv kernel), every product an fp32
 * FMA; head sizes up to FA_SIMT_MAX_D. */
#include <stdlib.h>
#include <string.h>

#include "flash.cuh"
#include "reduce.cuh"

/* ======================================================================================== */
/* SIMT fp32 way                                                                            */

/* Rows of 32 x D floats: Xs row stride D (read as broadcasts, float4 when D % 4 == 0), Ys row
 * stride D + 1 (read a row per lane: the pad spreads the lanes over the banks). */
__device__ __forceinline__ void simt_load(float *s, int ld, const float *g, int row0, int T, int D)
{
    for (int i = threadIdx.x; i < 32 * D; i += FA_THREADS) {
        int r = i / D, d = i - r * D;
        s[r * ld + d] = row0 + r < T ? g[(size_t)(row0 + r) * D + d] : 0.f;
    }
}

/* acc[r] += x_r . y, for the 8 rows x_r = X + r*D (broadcast) and y (this lane's row). */
template <bool V4>
__device__ __forceinline__ void dots8(float *acc, const float *X, const float *y, int D)
{
    if (V4) {
        for (int d = 0; d < D; d += 4) {
            float y0 = y[d], y1 = y[d + 1], y2 = y[d + 2], y3 = y[d + 3];
#pragma unroll
            for (int r = 0; r < 8; r++) {
                float4 x = *reinterpret_cast<const float4 *>(X + r * D + d);
                acc[r] = fmaf(x.x, y0, acc[r]);
                acc[r] = fmaf(x.y, y1, acc[r]);
                acc[r] = fmaf(x.z, y2, acc[r]);
                acc[r] = fmaf(x.w, y3, acc[r]);
            }
        }
    } else {
        for (int d = 0; d < D; d++) {
            float yd = y[d];
#pragma unroll
            for (int r = 0; r < 8; r++)
                acc[r] = fmaf(X[r * D + d], yd, acc[r]);
        }
    }
}

/* acc[r][c] += sum_j P[r][j] Y[j][lane + 32c] over the 32 j of a tile; P (8,32) this warp's
 * weights, Y rows of stride ld. */
template <int NC>
__device__ __forceinline__ void wsum8(float (*acc)[NC], const float *P, const float *Y, int ld,
                                      int D, int lane)
{
    for (int j = 0; j < 32; j++) {
        float y[NC];
#pragma unroll
        for (int cc = 0; cc < NC; cc++) {
            int d = lane + 32 * cc;
            y[cc] = d < D ? Y[j * ld + d] : 0.f;
        }
#pragma unroll
        for (int r = 0; r < 8; r++) {
            float p = P[r * 32 + j];
#pragma unroll
            for (int cc = 0; cc < NC; cc++)
                acc[r][cc] = fmaf(p, y[cc], acc[r][cc]);
        }
    }
}

/* One block per (query tile of 32, bh); warp w owns rows w*8..w*8+7; lane j takes key k0+j. */
template <int NC, bool V4>
__global__ void __launch_bounds__(FA_THREADS)
    fwd_simt_kernel(float *out, float *lse, const float *q, const float *kk, const float *v, int T,
                    int D, float scale)
{
    extern __shared__ __align__(16) float fs[];
    float *Qs = fs, *Ks = Qs + 32 * D, *Vs = Ks + 32 * (D + 1), *Ps = Vs + 32 * D;
    const int qt = gridDim.x - 1 - blockIdx.x, q0 = qt * 32;
    const size_t base = (size_t)blockIdx.y * T * D;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, r0 = q0 + w * 8;
    float *P = Ps + w * 8 * 32;

    simt_load(Qs, D, q + base, q0, T, D);
    float o[8][NC], m[8], l[8];
#pragma unroll
    for (int r = 0; r < 8; r++) {
        m[r] = -INFINITY;
        l[r] = 0.f;
#pragma unroll
        for (int cc = 0; cc < NC; cc++)
            o[r][cc] = 0.f;
    }
    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * 32, key = k0 + lane;
        __syncthreads();
        simt_load(Ks, D + 1, kk + base, k0, T, D);
        simt_load(Vs, D, v + base, k0, T, D);
        __syncthreads();
        float s[8];
#pragma unroll
        for (int r = 0; r < 8; r++)
            s[r] = 0.f;
        dots8<V4>(s, Qs + w * 8 * D, Ks + lane * (D + 1), D);
#pragma unroll
        for (int r = 0; r < 8; r++) {
            float x = key <= r0 + r ? s[r] * scale : -INFINITY;
            float mx = fmaxf(m[r], warp_max(x));
            float b = mx == -INFINITY ? 0.f : mx;
            float alpha = expf(m[r] - b), p = expf(x - b);
            l[r] = l[r] * alpha + warp_sum(p);
            m[r] = mx;
#pragma unroll
            for (int cc = 0; cc < NC; cc++)
                o[r][cc] *= alpha;
            P[r * 32 + lane] = p;
        }
        __syncwarp();
        wsum8<NC>(o, P, Vs, D, D, lane);
        __syncwarp();
    }
#pragma unroll
    for (int r = 0; r < 8; r++) {
        int row = r0 + r;
        if (row >= T)
            continue;
        float inv = 1.f / l[r];
#pragma unroll
        for (int cc = 0; cc < NC; cc++) {
            int d = lane + 32 * cc;
            if (d < D)
                out[base + (size_t)row * D + d] = o[r][cc] * inv;
        }
        if (lane == 0)
            lse[(size_t)blockIdx.y * T + row] = m[r] + logf(l[r]);
    }
}

/* Backward, first kernel: one block per (query tile, bh): Di (to Dg) and dq. */
template <int NC, bool V4>
__global__ void __launch_bounds__(FA_THREADS)
    bwd_dq_simt_kernel(float *dq, float *Dg, const float *dout, const float *q, const float *kk,
                       const float *v, const float *out, const float *lse, int T, int D,
                       float scale)
{
    extern __shared__ __align__(16) float fs[];
    float *Qs = fs, *dOs = Qs + 32 * D, *Ks = dOs + 32 * D, *Vs = Ks + 32 * (D + 1),
          *Ss = Vs + 32 * (D + 1);
    const int qt = gridDim.x - 1 - blockIdx.x, q0 = qt * 32;
    const size_t base = (size_t)blockIdx.y * T * D, rbase = (size_t)blockIdx.y * T;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, r0 = q0 + w * 8;
    float *S = Ss + w * 8 * 32;

    simt_load(Qs, D, q + base, q0, T, D);
    simt_load(dOs, D, dout + base, q0, T, D);
    float Di[8], Li[8], acc[8][NC];
#pragma unroll
    for (int r = 0; r < 8; r++) {
        int row = r0 + r;
        float a = 0.f;
        if (row < T)
            for (int d = lane; d < D; d += 32)
                a += dout[base + (size_t)row * D + d] * out[base + (size_t)row * D + d];
        Di[r] = warp_sum(a);
        if (lane == 0 && row < T)
            Dg[rbase + row] = Di[r];
        Li[r] = row < T ? lse[rbase + row] : 0.f;
#pragma unroll
        for (int cc = 0; cc < NC; cc++)
            acc[r][cc] = 0.f;
    }
    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * 32, key = k0 + lane;
        __syncthreads();
        simt_load(Ks, D + 1, kk + base, k0, T, D);
        simt_load(Vs, D + 1, v + base, k0, T, D);
        __syncthreads();
        float s[8], dp[8];
#pragma unroll
        for (int r = 0; r < 8; r++)
            s[r] = dp[r] = 0.f;
        dots8<V4>(s, Qs + w * 8 * D, Ks + lane * (D + 1), D);
        dots8<V4>(dp, dOs + w * 8 * D, Vs + lane * (D + 1), D);
#pragma unroll
        for (int r = 0; r < 8; r++) {
            int row = r0 + r;
            float p = key <= row && row < T ? expf(s[r] * scale - Li[r]) : 0.f;
            S[r * 32 + lane] = p * (dp[r] - Di[r]);
        }
        __syncwarp();
        wsum8<NC>(acc, S, Ks, D + 1, D, lane);
        __syncwarp();
    }
#pragma unroll
    for (int r = 0; r < 8; r++) {
        int row = r0 + r;
        if (row >= T)
            continue;
#pragma unroll
        for (int cc = 0; cc < NC; cc++) {
            int d = lane + 32 * cc;
            if (d < D)
                dq[base + (size_t)row * D + d] = acc[r][cc] * scale;
        }
    }
}

/* Backward, second kernel: one block per (key tile of 32, bh); warp w owns keys w*8..w*8+7, lane
 * j takes query q0+j: dv and dk. */
template <int NC, bool V4>
__global__ void __launch_bounds__(FA_THREADS)
    bwd_dkv_simt_kernel(float *dk, float *dv, const float *dout, const float *q, const float *kk,
                        const float *v, const float *lse, const float *Dg, int T, int D,
                        float scale)
{
    extern __shared__ __align__(16) float fs[];
    float *Ks = fs, *Vs = Ks + 32 * D, *Qs = Vs + 32 * D, *dOs = Qs + 32 * (D + 1),
          *Ps = dOs + 32 * (D + 1), *Ss = Ps + 32 * 32, *Ls = Ss + 32 * 32, *Ds = Ls + 32;
    const int kt = blockIdx.x, nq = gridDim.x, k0 = kt * 32;
    const size_t base = (size_t)blockIdx.y * T * D, rbase = (size_t)blockIdx.y * T;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, r0 = k0 + w * 8;
    float *P = Ps + w * 8 * 32, *S = Ss + w * 8 * 32;

    simt_load(Ks, D, kk + base, k0, T, D);
    simt_load(Vs, D, v + base, k0, T, D);
    float dka[8][NC], dva[8][NC];
#pragma unroll
    for (int r = 0; r < 8; r++)
#pragma unroll
        for (int cc = 0; cc < NC; cc++)
            dka[r][cc] = dva[r][cc] = 0.f;
    for (int qt = kt; qt < nq; qt++) {
        const int q0 = qt * 32, row = q0 + lane;
        __syncthreads();
        simt_load(Qs, D + 1, q + base, q0, T, D);
        simt_load(dOs, D + 1, dout + base, q0, T, D);
        if (threadIdx.x < 32) {
            Ls[lane] = row < T ? lse[rbase + row] : 0.f;
            Ds[lane] = row < T ? Dg[rbase + row] : 0.f;
        }
        __syncthreads();
        float s[8], dp[8];
#pragma unroll
        for (int r = 0; r < 8; r++)
            s[r] = dp[r] = 0.f;
        dots8<V4>(s, Ks + w * 8 * D, Qs + lane * (D + 1), D);
        dots8<V4>(dp, Vs + w * 8 * D, dOs + lane * (D + 1), D);
        const float L = Ls[lane], Di = Ds[lane];
#pragma unroll
        for (int r = 0; r < 8; r++) {
            float p = row >= r0 + r && row < T ? expf(s[r] * scale - L) : 0.f;
            P[r * 32 + lane] = p;
            S[r * 32 + lane] = p * (dp[r] - Di);
        }
        __syncwarp();
        wsum8<NC>(dva, P, dOs, D + 1, D, lane);
        wsum8<NC>(dka, S, Qs, D + 1, D, lane);
        __syncwarp();
    }
#pragma unroll
    for (int r = 0; r < 8; r++) {
        int key = r0 + r;
        if (key >= T)
            continue;
#pragma unroll
        for (int cc = 0; cc < NC; cc++) {
            int d = lane + 32 * cc;
            if (d < D) {
                dk[base + (size_t)key * D + d] = dka[r][cc] * scale;
                dv[base + (size_t)key * D + d] = dva[r][cc];
            }
        }
    }
}

static size_t simt_fwd_smem(int D)
{
    return sizeof(float) * (size_t)(32 * D + 32 * (D + 1) + 32 * D + 32 * 32);
}
static size_t simt_dq_smem(int D)
{
    return sizeof(float) * (size_t)(64 * D + 64 * (D + 1) + 32 * 32);
}
static size_t simt_dkv_smem(int D)
{
    return sizeof(float) * (size_t)(64 * D + 64 * (D + 1) + 2 * 32 * 32 + 64);
}

template <int NC, bool V4>
static void fwd_simt(nl_kernels *k, float *out, float *lse, const float *q, const float *kk,
                     const float *v, int BH, int T, int D, float scale)
{
    size_t smem = simt_fwd_smem(D);
    if (smem_limit(k, fwd_simt_kernel<NC, V4>, smem))
        return;
    int nq = (T + 31) / 32;
    FA_CHUNKS(BH)
    {
        FA_NBH(BH);
        size_t o = (size_t)bh0 * T * D, r = (size_t)bh0 * T;
        fwd_simt_kernel<NC, V4><<<dim3(nq, nbh), FA_THREADS, smem, cu_stream(k)>>>(
            out + o, lse + r, q + o, kk + o, v + o, T, D, scale);
    }
}

template <int NC, bool V4>
static void bwd_simt(nl_kernels *k, float *dq, float *dk, float *dv, float *Dg, const float *dout,
                     const float *q, const float *kk, const float *v, const float *out,
                     const float *lse, int BH, int T, int D, float scale)
{
    size_t s1 = simt_dq_smem(D), s2 = simt_dkv_smem(D);
    if (smem_limit(k, bwd_dq_simt_kernel<NC, V4>, s1) ||
        smem_limit(k, bwd_dkv_simt_kernel<NC, V4>, s2))
        return;
    int nt = (T + 31) / 32;
    FA_CHUNKS(BH)
    {
        FA_NBH(BH);
        size_t o = (size_t)bh0 * T * D, r = (size_t)bh0 * T;
        bwd_dq_simt_kernel<NC, V4><<<dim3(nt, nbh), FA_THREADS, s1, cu_stream(k)>>>(
            dq + o, Dg + r, dout + o, q + o, kk + o, v + o, out + o, lse + r, T, D, scale);
        bwd_dkv_simt_kernel<NC, V4><<<dim3(nt, nbh), FA_THREADS, s2, cu_stream(k)>>>(
            dk + o, dv + o, dout + o, q + o, kk + o, v + o, lse + r, Dg + r, T, D, scale);
    }
}

/* NC = lanes' columns per row (D <= 32 NC), V4 = float4 broadcasts (D % 4 == 0). */
#define FA_SIMT_DISPATCH(FN, D, ...)                                                               \
    do {                                                                                           \
        bool v4_ = (D) % 4 == 0;                                                                   \
        if ((D) <= 32)                                                                             \
            v4_ ? FN<1, true>(__VA_ARGS__) : FN<1, false>(__VA_ARGS__);                            \
        else if ((D) <= 64)                                                                        \
            v4_ ? FN<2, true>(__VA_ARGS__) : FN<2, false>(__VA_ARGS__);                            \
        else if ((D) <= 128)                                                                       \
            v4_ ? FN<4, true>(__VA_ARGS__) : FN<4, false>(__VA_ARGS__);                            \
        else                                                                                       \
            v4_ ? FN<8, true>(__VA_ARGS__) : FN<8, false>(__VA_ARGS__);                            \
    } while (0)

void cu_flash_fwd_simt(nl_kernels *k, float *out, float *lse, const float *q, const float *kk,
                       const float *v, int BH, int T, int D, float scale)
{
    FA_SIMT_DISPATCH(fwd_simt, D, k, out, lse, q, kk, v, BH, T, D, scale);
}

void cu_flash_bwd_simt(nl_kernels *k, float *dq, float *dk, float *dv, float *Dg,
                       const float *dout, const float *q, const float *kk, const float *v,
                       const float *out, const float *lse, int BH, int T, int D, float scale)
{
    FA_SIMT_DISPATCH(bwd_simt, D, k, dq, dk, dv, Dg, dout, q, kk, v, out, lse, BH, T, D, scale);
}
