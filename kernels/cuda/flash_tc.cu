/* Fused causal attention, the tensor-core way (see flash.cu for the method): bf16 tiles in
 * shared memory, mma.sync m16n8k16 with fp32 accumulation, for head sizes 32, 64 and 128. */
#include <stdlib.h>
#include <string.h>

#include "flash.cuh"
#include "reduce.cuh"

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

void cu_flash_fwd_tc(nl_kernels *k, int nw, float *out, float *lse, const float *q,
                     const float *kk, const float *v, int BH, int T, int D, float scale)
{
    FA_TC_DISPATCH(fwd_tc, D, nw, k, out, lse, q, kk, v, BH, T, scale);
}

void cu_flash_bwd_tc(nl_kernels *k, int nwq, int nwkv, float *dq, float *dk, float *dv, float *Dg,
                     const float *dout, const float *q, const float *kk, const float *v,
                     const float *out, const float *lse, int BH, int T, int D, float scale)
{
    FA_TC_DISPATCH(bwd_dq_tc, D, nwq, k, dq, Dg, dout, q, kk, v, out, lse, BH, T, scale);
    FA_TC_DISPATCH(bwd_dkv_tc, D, nwkv, k, dk, dv, Dg, dout, q, kk, v, lse, BH, T, scale);
}
