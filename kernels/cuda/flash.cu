/* Fused causal attention (kernels.h attention_forward / attention_backward).
 *
 * Tiles of queries meet tiles of keys and values in shared memory and the softmax is taken
 * online (a running row max m and sum l, the output rescaled when m grows), so the (T,T)
 * scores never reach device memory. The forward saves each row's log-sum-exp; the backward
 * recomputes the probabilities from q, k and it:
 *   p = exp(scale q.k - lse),  dv += p dout,  ds = p (dout.v - Di),  dq += scale ds k,
 *   dk += scale ds q,  with Di = dout_i . out_i.
 * The backward is two kernels and no atomics, so it is deterministic: one block per query
 * tile computes Di and dq, then one block per key tile computes dk and dv. Each recomputes
 * the probabilities it needs (7 tile products per tile pair instead of 5).
 *
 * Two ways, picked per call:
 * - Tensor cores, when the precision is bf16 or tf32, head_dim is 32, 64 or 128 and the tensors
 *   are 16-byte aligned: blocks of 4 or 8 warps (NORMLAB_CUDA_FA_WARPS), each warp 16 query
 *   rows (or 16 keys) against tiles of 64 keys (or queries), mma.sync m16n8k16 with bf16
 *   operands and fp32 accumulation. q, k, v and dout are rounded to bf16 as a tile is loaded;
 *   probabilities and score gradients are rounded before their products; the softmax
 *   statistics, Di and every accumulator stay fp32.
 * - SIMT fp32 otherwise (fp32 precision, other head sizes up to 256): tiles of 32 x 32, 4 warps
 *   of 8 rows, a lane per key (or per query in the dk/dv kernel), every product an fp32 FMA.
 *
 * Causality by tiles: a query tile needs the key tiles up to its last row, and only tiles that
 * cross the diagonal are masked inside (a warp skips a tile wholly past its rows). Blocks with
 * the most tiles are launched first. */
#include <stdlib.h>
#include <string.h>

#include "nlcuda.h"
#include "reduce.cuh"

#define FA_LOG2E 1.4426950408889634f
#define FA_LN2 0.6931471805599453f
#define FA_THREADS 128
#define FA_MAX_GRID_Y 65535

typedef __nv_bfloat16 bf16;

/* ======================================================================================== */
/* tensor-core way                                                                          */

/* Two floats as a bf16 pair: lo in the low half (the element with the smaller index). */
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

__device__ __forceinline__ uint32_t lds32(const bf16 *p)
{
    return *reinterpret_cast<const uint32_t *>(p);
}

/* c (16x8, fp32) += a (16x16, bf16, row) b (16x8, bf16, col). Fragments as in the PTX ISA: with
 * g = lane/4, t = lane%4, a = {A[g][2t..], A[g+8][2t..], A[g][2t+8..], A[g+8][2t+8..]},
 * b = {B[2t..][g], B[2t+8..][g]}, c = {C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1]}. */
__device__ __forceinline__ void mma_bf16(float *c, const uint32_t *a, uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Four 8x8 bf16 matrices, transposed: lanes 8i..8i+7 give the row addresses of matrix i. */
__device__ __forceinline__ void ldsm_x4_trans(uint32_t *r, const bf16 *p)
{
    uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a)
                 : "memory");
}

/* ROWS rows x D of an fp32 (T,D) tensor, from row row0, into shared memory as bf16 with row
 * stride D + 8 (the pad puts the 8 rows a fragment load touches in distinct banks), by NT
 * threads. Rows past T are zeros. */
template <int D, int ROWS, int NT>
__device__ __forceinline__ void tile_load(bf16 *s, const float *g, int row0, int T)
{
    constexpr int LD = D + 8, V4 = D / 4;
#pragma unroll 4
    for (int i = threadIdx.x; i < ROWS * V4; i += NT) {
        int r = i / V4, c = (i % V4) * 4;
        float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
        if (row0 + r < T)
            x = __ldg(reinterpret_cast<const float4 *>(g + (size_t)(row0 + r) * D + c));
        uint2 w;
        w.x = pack_bf16(x.x, x.y);
        w.y = pack_bf16(x.z, x.w);
        *reinterpret_cast<uint2 *>(s + r * LD + c) = w;
    }
}

/* A fragment: rows r0..r0+15, columns c0..c0+15 of a row-major tile. */
template <int LD>
__device__ __forceinline__ void frag_a(uint32_t *a, const bf16 *s, int r0, int c0, int g, int t)
{
    a[0] = lds32(s + (r0 + g) * LD + c0 + 2 * t);
    a[1] = lds32(s + (r0 + g + 8) * LD + c0 + 2 * t);
    a[2] = lds32(s + (r0 + g) * LD + c0 + 8 + 2 * t);
    a[3] = lds32(s + (r0 + g + 8) * LD + c0 + 8 + 2 * t);
}

/* B fragment (16x8) of B[k][n] = tile[n0 + n][k0 + k]: the tile holds B transposed (q.k^T reads
 * the key tile this way). */
template <int LD>
__device__ __forceinline__ void frag_bt(uint32_t *b, const bf16 *s, int n0, int k0, int g, int t)
{
    b[0] = lds32(s + (n0 + g) * LD + k0 + 2 * t);
    b[1] = lds32(s + (n0 + g) * LD + k0 + 8 + 2 * t);
}

/* B fragments of two n-tiles of B[k][n] = tile[k0 + k][n0 + n] (p.v reads the value tile this
 * way): b[0..1] for columns n0..n0+7, b[2..3] for n0+8..n0+15. */
template <int LD>
__device__ __forceinline__ void frag_b2(uint32_t *b, const bf16 *s, int k0, int n0, int lane)
{
    ldsm_x4_trans(b, s + (k0 + ((lane >> 3) & 1) * 8 + (lane & 7)) * LD + n0 + (lane >> 4) * 8);
}

/* Two accumulator n-tiles (16 rows x 16 columns) as the A fragment of the next product. */
__device__ __forceinline__ void acc_to_a(uint32_t *a, const float *c0, const float *c1)
{
    a[0] = pack_bf16(c0[0], c0[1]);
    a[1] = pack_bf16(c0[2], c0[3]);
    a[2] = pack_bf16(c1[0], c1[1]);
    a[3] = pack_bf16(c1[2], c1[3]);
}

/* Bytes of shared memory for bf16 tiles of `rows` rows in all. */
template <int D> constexpr size_t tc_smem(int rows)
{
    return (size_t)rows * (D + 8) * sizeof(bf16);
}

/* One block per (query tile of 16*NW rows, bh); warp w owns rows w*16..w*16+15 of the tile,
 * and lane (g, t) rows g and g+8 of those (ra, rb below). Key tiles of 64. */
template <int D, int NW>
__global__ void __launch_bounds__(32 * NW)
    fwd_tc_kernel(float *out, float *lse, const float *q, const float *kk, const float *v, int T,
                  float scale)
{
    constexpr int LD = D + 8, BQ = 16 * NW, NT = 32 * NW;
    extern __shared__ __align__(16) unsigned char fa_smem[];
    bf16 *Qs = reinterpret_cast<bf16 *>(fa_smem), *Ks = Qs + BQ * LD, *Vs = Ks + 64 * LD;
    const int q0 = (gridDim.x - 1 - blockIdx.x) * BQ;
    const size_t base = (size_t)blockIdx.y * T * D;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int wr0 = q0 + w * 16, ra = wr0 + g, rb = ra + 8;
    const int kt_last = ((q0 + BQ < T ? q0 + BQ : T) - 1) / 64;
    const float c = scale * FA_LOG2E; /* scores in log2 units */

    tile_load<D, BQ, NT>(Qs, q + base, q0, T);
    __syncthreads();
    uint32_t qf[D / 16][4];
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++)
        frag_a<LD>(qf[kc], Qs, w * 16, kc * 16, g, t);

    float o[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; i++)
        o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float ma = -INFINITY, mb = -INFINITY, la = 0.f, lb = 0.f;

    for (int kt = 0; kt <= kt_last; kt++) {
        const int k0 = kt * 64;
        __syncthreads(); /* every warp is done with the previous tiles */
        tile_load<D, 64, NT>(Ks, kk + base, k0, T);
        tile_load<D, 64, NT>(Vs, v + base, k0, T);
        __syncthreads();
        /* keys all after this warp's rows, or rows all past T: nothing to add */
        if (k0 > wr0 + 15 || wr0 >= T)
            continue;

        float s[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++)
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                uint32_t b[2];
                frag_bt<LD>(b, Ks, nt * 8, kc * 16, g, t);
                mma_bf16(s[nt], qf[kc], b[0], b[1]);
            }

        const bool diag = k0 + 63 > wr0;
        float mxa = ma, mxb = mb;
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                int key = k0 + nt * 8 + 2 * t + e;
                float xa = s[nt][e] * c, xb = s[nt][2 + e] * c;
                if (diag) {
                    xa = key <= ra ? xa : -INFINITY;
                    xb = key <= rb ? xb : -INFINITY;
                }
                s[nt][e] = xa;
                s[nt][2 + e] = xb;
                mxa = fmaxf(mxa, xa);
                mxb = fmaxf(mxb, xb);
            }
        /* the four lanes of a quad share rows */
        mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 1));
        mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 2));
        mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 1));
        mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 2));
        /* a row with nothing seen yet keeps m = -inf; subtract 0 then, not -inf */
        float ba = mxa == -INFINITY ? 0.f : mxa, bb = mxb == -INFINITY ? 0.f : mxb;
        float aa = exp2f(ma - ba), ab = exp2f(mb - bb);
        ma = mxa;
        mb = mxb;
        float sa = 0.f, sb = 0.f;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            s[nt][0] = exp2f(s[nt][0] - ba);
            s[nt][1] = exp2f(s[nt][1] - ba);
            s[nt][2] = exp2f(s[nt][2] - bb);
            s[nt][3] = exp2f(s[nt][3] - bb);
            sa += s[nt][0] + s[nt][1];
            sb += s[nt][2] + s[nt][3];
        }
        /* per-lane partial sums: the quad's lanes are added once, at the end */
        la = la * aa + sa;
        lb = lb * ab + sb;
#pragma unroll
        for (int i = 0; i < D / 8; i++) {
            o[i][0] *= aa;
            o[i][1] *= aa;
            o[i][2] *= ab;
            o[i][3] *= ab;
        }
        /* o += p v, p as bf16 */
#pragma unroll
        for (int kc = 0; kc < 4; kc++) {
            uint32_t a[4];
            acc_to_a(a, s[2 * kc], s[2 * kc + 1]);
#pragma unroll
            for (int nd = 0; nd < D / 8; nd += 2) {
                uint32_t b[4];
                frag_b2<LD>(b, Vs, kc * 16, nd * 8, lane);
                mma_bf16(o[nd], a, b[0], b[1]);
                mma_bf16(o[nd + 1], a, b[2], b[3]);
            }
        }
    }

    la += __shfl_xor_sync(0xffffffffu, la, 1);
    la += __shfl_xor_sync(0xffffffffu, la, 2);
    lb += __shfl_xor_sync(0xffffffffu, lb, 1);
    lb += __shfl_xor_sync(0xffffffffu, lb, 2);
    float ia = 1.f / la, ib = 1.f / lb;
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
        int col = i * 8 + 2 * t;
        if (ra < T)
            *reinterpret_cast<float2 *>(out + base + (size_t)ra * D + col) =
                make_float2(o[i][0] * ia, o[i][1] * ia);
        if (rb < T)
            *reinterpret_cast<float2 *>(out + base + (size_t)rb * D + col) =
                make_float2(o[i][2] * ib, o[i][3] * ib);
    }
    if (t == 0) {
        float *L = lse + (size_t)blockIdx.y * T;
        if (ra < T)
            L[ra] = (ma + log2f(la)) * FA_LN2;
        if (rb < T)
            L[rb] = (mb + log2f(lb)) * FA_LN2;
    }
}

/* Backward, first kernel: one block per (query tile of 16*NW rows, bh). Di = dout_i . out_i
 * (fp32, written to Dg for the second kernel), then dq = scale sum_j ds_ij k_j over the key
 * tiles (of 64) up to the diagonal. */
template <int D, int NW>
__global__ void __launch_bounds__(32 * NW)
    bwd_dq_tc_kernel(float *dq, float *Dg, const float *dout, const float *q, const float *kk,
                     const float *v, const float *out, const float *lse, int T, float scale)
{
    constexpr int LD = D + 8, BQ = 16 * NW, NT = 32 * NW;
    extern __shared__ __align__(16) unsigned char fa_smem[];
    bf16 *Qs = reinterpret_cast<bf16 *>(fa_smem), *dOs = Qs + BQ * LD, *Ks = dOs + BQ * LD,
         *Vs = Ks + 64 * LD;
    const int q0 = (gridDim.x - 1 - blockIdx.x) * BQ;
    const size_t base = (size_t)blockIdx.y * T * D, rbase = (size_t)blockIdx.y * T;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int wr0 = q0 + w * 16, ra = wr0 + g, rb = ra + 8;
    const int kt_last = ((q0 + BQ < T ? q0 + BQ : T) - 1) / 64;
    const float c = scale * FA_LOG2E;

    tile_load<D, BQ, NT>(Qs, q + base, q0, T);
    tile_load<D, BQ, NT>(dOs, dout + base, q0, T);
    /* Di of this warp's 16 rows, in fp32 from the fp32 tensors */
    float da = 0.f, db = 0.f;
    for (int r = 0; r < 16; r++) {
        int row = wr0 + r;
        float acc = 0.f;
        if (row < T)
            for (int d = lane; d < D; d += 32)
                acc += dout[base + (size_t)row * D + d] * out[base + (size_t)row * D + d];
        acc = warp_sum(acc);
        da = r == g ? acc : da;
        db = r == g + 8 ? acc : db;
        if (lane == 0 && row < T)
            Dg[rbase + row] = acc;
    }
    const float La = ra < T ? lse[rbase + ra] * FA_LOG2E : 0.f;
    const float Lb = rb < T ? lse[rbase + rb] * FA_LOG2E : 0.f;
    __syncthreads();
    uint32_t qf[D / 16][4], df[D / 16][4];
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++) {
        frag_a<LD>(qf[kc], Qs, w * 16, kc * 16, g, t);
        frag_a<LD>(df[kc], dOs, w * 16, kc * 16, g, t);
    }
    float acc[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; i++)
        acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;

    for (int kt = 0; kt <= kt_last; kt++) {
        const int k0 = kt * 64;
        __syncthreads();
        tile_load<D, 64, NT>(Ks, kk + base, k0, T);
        tile_load<D, 64, NT>(Vs, v + base, k0, T);
        __syncthreads();
        if (k0 > wr0 + 15 || wr0 >= T)
            continue;
        float s[8][4], dp[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = dp[nt][0] = dp[nt][1] = dp[nt][2] =
                dp[nt][3] = 0.f;
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++)
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                uint32_t b[2];
                frag_bt<LD>(b, Ks, nt * 8, kc * 16, g, t);
                mma_bf16(s[nt], qf[kc], b[0], b[1]);
                frag_bt<LD>(b, Vs, nt * 8, kc * 16, g, t);
                mma_bf16(dp[nt], df[kc], b[0], b[1]);
            }
            /* ds = p (dp - Di), in place of s */
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = k0 + nt * 8 + 2 * t + (e & 1), row = e < 2 ? ra : rb;
                float p = key <= row && row < T ? exp2f(s[nt][e] * c - (e < 2 ? La : Lb)) : 0.f;
                s[nt][e] = p * (dp[nt][e] - (e < 2 ? da : db));
            }
#pragma unroll
        for (int kc = 0; kc < 4; kc++) {
            uint32_t a[4];
            acc_to_a(a, s[2 * kc], s[2 * kc + 1]);
#pragma unroll
            for (int nd = 0; nd < D / 8; nd += 2) {
                uint32_t b[4];
                frag_b2<LD>(b, Ks, kc * 16, nd * 8, lane);
                mma_bf16(acc[nd], a, b[0], b[1]);
                mma_bf16(acc[nd + 1], a, b[2], b[3]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
        int col = i * 8 + 2 * t;
        if (ra < T)
            *reinterpret_cast<float2 *>(dq + base + (size_t)ra * D + col) =
                make_float2(acc[i][0] * scale, acc[i][1] * scale);
        if (rb < T)
            *reinterpret_cast<float2 *>(dq + base + (size_t)rb * D + col) =
                make_float2(acc[i][2] * scale, acc[i][3] * scale);
    }
}

/* Backward, second kernel: one block per (key tile of 16*NW keys, bh); warp w owns keys
 * w*16..w*16+15 of the tile and computes the transposed products (keys x queries) over the
 * query tiles (of 64) from the diagonal on: dv = sum_i p_ij dout_i, dk = scale sum_i ds_ij q_i. */
template <int D, int NW>
__global__ void __launch_bounds__(32 * NW)
    bwd_dkv_tc_kernel(float *dk, float *dv, const float *dout, const float *q, const float *kk,
                      const float *v, const float *lse, const float *Dg, int T, float scale)
{
    constexpr int LD = D + 8, BK = 16 * NW, NT = 32 * NW;
    extern __shared__ __align__(16) unsigned char fa_smem[];
    bf16 *Ks = reinterpret_cast<bf16 *>(fa_smem), *Vs = Ks + BK * LD, *Qs = Vs + BK * LD,
         *dOs = Qs + 64 * LD;
    __shared__ float Ls[64], Ds[64];
    const int k0 = blockIdx.x * BK, nq = (T + 63) / 64;
    const size_t base = (size_t)blockIdx.y * T * D, rbase = (size_t)blockIdx.y * T;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int wk0 = k0 + w * 16, ka = wk0 + g, kb = ka + 8;
    const float c = scale * FA_LOG2E;

    tile_load<D, BK, NT>(Ks, kk + base, k0, T);
    tile_load<D, BK, NT>(Vs, v + base, k0, T);
    float dka[D / 8][4], dva[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; i++)
        dka[i][0] = dka[i][1] = dka[i][2] = dka[i][3] = dva[i][0] = dva[i][1] = dva[i][2] =
            dva[i][3] = 0.f;

    for (int qt = k0 / 64; qt < nq; qt++) {
        const int q0 = qt * 64;
        __syncthreads();
        tile_load<D, 64, NT>(Qs, q + base, q0, T);
        tile_load<D, 64, NT>(dOs, dout + base, q0, T);
        if (threadIdx.x < 64) {
            int r = q0 + threadIdx.x;
            Ls[threadIdx.x] = r < T ? lse[rbase + r] * FA_LOG2E : 0.f;
            Ds[threadIdx.x] = r < T ? Dg[rbase + r] : 0.f;
        }
        __syncthreads();
        /* queries all before this warp's keys, or keys all past T: nothing to add */
        if (q0 + 63 < wk0 || wk0 >= T)
            continue;
        float s[8][4], dp[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = dp[nt][0] = dp[nt][1] = dp[nt][2] =
                dp[nt][3] = 0.f;
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++) {
            uint32_t ak[4], av[4];
            frag_a<LD>(ak, Ks, w * 16, kc * 16, g, t);
            frag_a<LD>(av, Vs, w * 16, kc * 16, g, t);
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                uint32_t b[2];
                frag_bt<LD>(b, Qs, nt * 8, kc * 16, g, t);
                mma_bf16(s[nt], ak, b[0], b[1]);
                frag_bt<LD>(b, dOs, nt * 8, kc * 16, g, t);
                mma_bf16(dp[nt], av, b[0], b[1]);
            }
        }
        /* s -> p, dp -> ds; element (key, query) */
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int qc = nt * 8 + 2 * t + (e & 1), row = q0 + qc, key = e < 2 ? ka : kb;
                float p = row >= key && row < T ? exp2f(s[nt][e] * c - Ls[qc]) : 0.f;
                s[nt][e] = p;
                dp[nt][e] = p * (dp[nt][e] - Ds[qc]);
            }
#pragma unroll
        for (int kc = 0; kc < 4; kc++) {
            uint32_t ap[4], as[4];
            acc_to_a(ap, s[2 * kc], s[2 * kc + 1]);
            acc_to_a(as, dp[2 * kc], dp[2 * kc + 1]);
#pragma unroll
            for (int nd = 0; nd < D / 8; nd += 2) {
                uint32_t b[4];
                frag_b2<LD>(b, dOs, kc * 16, nd * 8, lane);
                mma_bf16(dva[nd], ap, b[0], b[1]);
                mma_bf16(dva[nd + 1], ap, b[2], b[3]);
                frag_b2<LD>(b, Qs, kc * 16, nd * 8, lane);
                mma_bf16(dka[nd], as, b[0], b[1]);
                mma_bf16(dka[nd + 1], as, b[2], b[3]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
        int col = i * 8 + 2 * t;
        if (ka < T) {
            *reinterpret_cast<float2 *>(dk + base + (size_t)ka * D + col) =
                make_float2(dka[i][0] * scale, dka[i][1] * scale);
            *reinterpret_cast<float2 *>(dv + base + (size_t)ka * D + col) =
                make_float2(dva[i][0], dva[i][1]);
        }
        if (kb < T) {
            *reinterpret_cast<float2 *>(dk + base + (size_t)kb * D + col) =
                make_float2(dka[i][2] * scale, dka[i][3] * scale);
            *reinterpret_cast<float2 *>(dv + base + (size_t)kb * D + col) =
                make_float2(dva[i][2], dva[i][3]);
        }
    }
}

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

/* ======================================================================================== */
/* host side                                                                                */

#define FA_SIMT_MAX_D 256

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

/* Kernels past the default 48 KB of dynamic shared memory must ask for more first, once per
 * kernel and size: a step being captured into a graph (graph.cu) then makes no such call. */
template <typename F> static int smem_limit(nl_kernels *k, F *fn, size_t bytes)
{
    static struct {
        const void *fn;
        size_t bytes;
    } asked[32];
    static int n_asked;
    if (bytes <= 48 * 1024)
        return 0;
    for (int i = 0; i < n_asked; i++)
        if (asked[i].fn == (const void *)fn && asked[i].bytes >= bytes)
            return 0;
    int rc = cu_check(
        k, cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes),
        "fused attention shared memory");
    if (rc == 0 && n_asked < 32) {
        asked[n_asked].fn = (const void *)fn;
        asked[n_asked].bytes = bytes;
        n_asked++;
    }
    return rc;
}

static bool use_tensor_cores(nl_kernels *k, int D, bool aligned)
{
    return cu_ctx(k)->prec != NL_PREC_FP32 && (D == 32 || D == 64 || D == 128) && aligned;
}

/* The launches cover bh in chunks of at most 65535 (the grid's y limit). */
#define FA_CHUNKS(BH) for (int bh0 = 0, nbh = 0; bh0 < (BH); bh0 += nbh)
#define FA_NBH(BH) (nbh = (BH)-bh0 < FA_MAX_GRID_Y ? (BH)-bh0 : FA_MAX_GRID_Y)

template <int D, int NW>
static void fwd_tc(nl_kernels *k, float *out, float *lse, const float *q, const float *kk,
                   const float *v, int BH, int T, float scale)
{
    size_t smem = tc_smem<D>(16 * NW + 128);
    if (smem_limit(k, fwd_tc_kernel<D, NW>, smem))
        return;
    int nq = (T + 16 * NW - 1) / (16 * NW);
    FA_CHUNKS(BH)
    {
        FA_NBH(BH);
        size_t o = (size_t)bh0 * T * D, r = (size_t)bh0 * T;
        fwd_tc_kernel<D, NW><<<dim3(nq, nbh), 32 * NW, smem, cu_stream(k)>>>(
            out + o, lse + r, q + o, kk + o, v + o, T, scale);
    }
}

template <int D, int NW>
static void bwd_dq_tc(nl_kernels *k, float *dq, float *Dg, const float *dout, const float *q,
                      const float *kk, const float *v, const float *out, const float *lse, int BH,
                      int T, float scale)
{
    size_t smem = tc_smem<D>(32 * NW + 128);
    if (smem_limit(k, bwd_dq_tc_kernel<D, NW>, smem))
        return;
    int nq = (T + 16 * NW - 1) / (16 * NW);
    FA_CHUNKS(BH)
    {
        FA_NBH(BH);
        size_t o = (size_t)bh0 * T * D, r = (size_t)bh0 * T;
        bwd_dq_tc_kernel<D, NW><<<dim3(nq, nbh), 32 * NW, smem, cu_stream(k)>>>(
            dq + o, Dg + r, dout + o, q + o, kk + o, v + o, out + o, lse + r, T, scale);
    }
}

template <int D, int NW>
static void bwd_dkv_tc(nl_kernels *k, float *dk, float *dv, const float *Dg, const float *dout,
                       const float *q, const float *kk, const float *v, const float *lse, int BH,
                       int T, float scale)
{
    size_t smem = tc_smem<D>(32 * NW + 128);
    if (smem_limit(k, bwd_dkv_tc_kernel<D, NW>, smem))
        return;
    int nk = (T + 16 * NW - 1) / (16 * NW);
    FA_CHUNKS(BH)
    {
        FA_NBH(BH);
        size_t o = (size_t)bh0 * T * D, r = (size_t)bh0 * T;
        bwd_dkv_tc_kernel<D, NW><<<dim3(nk, nbh), 32 * NW, smem, cu_stream(k)>>>(
            dk + o, dv + o, dout + o, q + o, kk + o, v + o, lse + r, Dg + r, T, scale);
    }
}

/* FN<D, NW>(...) for head size D in {32, 64, 128} and NW in {4, 8} warps per block. */
#define FA_TC_DISPATCH(FN, D, NW, ...)                                                             \
    do {                                                                                           \
        bool w8_ = (NW) == 8;                                                                      \
        if ((D) == 32)                                                                             \
            w8_ ? FN<32, 8>(__VA_ARGS__) : FN<32, 4>(__VA_ARGS__);                                 \
        else if ((D) == 64)                                                                        \
            w8_ ? FN<64, 8>(__VA_ARGS__) : FN<64, 4>(__VA_ARGS__);                                 \
        else                                                                                       \
            w8_ ? FN<128, 8>(__VA_ARGS__) : FN<128, 4>(__VA_ARGS__);                               \
    } while (0)

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

static void cu_attention_forward(nl_kernels *k, float *out, float *lse, const float *q,
                                 const float *kk, const float *v, int BH, int T, int D, float scale)
{
    if (BH <= 0 || T <= 0 || D <= 0)
        return;
    if (D > FA_SIMT_MAX_D) {
        cu_set_error(k, "cuda: attention_forward: head_dim %d > %d", D, FA_SIMT_MAX_D);
        return;
    }
    if (use_tensor_cores(k, D, cu_aligned16(out, q, kk, v))) {
        FA_TC_DISPATCH(fwd_tc, D, cu_ctx(k)->fa_warps_f, k, out, lse, q, kk, v, BH, T, scale);
    } else {
        FA_SIMT_DISPATCH(fwd_simt, D, k, out, lse, q, kk, v, BH, T, D, scale);
    }
    cu_check_launch(k, "attention_forward");
}

static void cu_attention_backward(nl_kernels *k, float *dq, float *dk, float *dv, const float *dout,
                                  const float *q, const float *kk, const float *v, const float *out,
                                  const float *lse, int BH, int T, int D, float scale)
{
    if (BH <= 0 || T <= 0 || D <= 0)
        return;
    if (D > FA_SIMT_MAX_D) {
        cu_set_error(k, "cuda: attention_backward: head_dim %d > %d", D, FA_SIMT_MAX_D);
        return;
    }
    /* Di (BH,T), from the first kernel to the second */
    float *Dg = (float *)cu_scratch(k, sizeof(float) * (size_t)BH * (size_t)T);
    if (!Dg)
        return;
    bool aligned = cu_aligned16(dq, dk, dv, dout, q) && cu_aligned16(kk, v, out);
    if (use_tensor_cores(k, D, aligned)) {
        nl_cu_ctx *c = cu_ctx(k);
        FA_TC_DISPATCH(bwd_dq_tc, D, c->fa_warps_q, k, dq, Dg, dout, q, kk, v, out, lse, BH, T,
                       scale);
        FA_TC_DISPATCH(bwd_dkv_tc, D, c->fa_warps_kv, k, dk, dv, Dg, dout, q, kk, v, lse, BH, T,
                       scale);
    } else {
        FA_SIMT_DISPATCH(bwd_simt, D, k, dq, dk, dv, Dg, dout, q, kk, v, out, lse, BH, T, D, scale);
    }
    cu_check_launch(k, "attention_backward");
}

void cu_fill_flash(nl_kernels *k)
{
    k->attention_forward = cu_attention_forward;
    k->attention_backward = cu_attention_backward;
    /* Warps per block of the tensor-core kernels, 4 or 8: NORMLAB_CUDA_FA_WARPS=F,Q,KV for the
     * forward, the dq kernel and the dk/dv kernel. Default 8,4,4: at the GPT-2-small shape the
     * forward took 0.220 ms with 8 (0.253 with 4), the backward 0.785 ms with 4,4 (0.999 with
     * 8,8). */
    nl_cu_ctx *c = cu_ctx(k);
    int w[3] = {8, 4, 4};
    const char *e = getenv("NORMLAB_CUDA_FA_WARPS");
    for (int i = 0; e && *e && i < 3; i++) {
        char *end;
        long n = strtol(e, &end, 10);
        w[i] = n == 8 ? 8 : 4;
        e = *end == ',' ? end + 1 : NULL;
    }
    c->fa_warps_f = w[0];
    c->fa_warps_q = w[1];
    c->fa_warps_kv = w[2];
}
