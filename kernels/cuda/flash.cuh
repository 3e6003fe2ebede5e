/* What the fused causal attention's files share (flash.cu, flash_tc.cu, flash_simt.cu): the
 * launch constants, the shared-memory request, the chunking of bh over the grid's y limit,
 * and each way's host entry points, which pick the kernel instance for the head size. */
#ifndef NL_CUDA_FLASH_CUH
#define NL_CUDA_FLASH_CUH

#include <cuda_bf16.h>
#include <stdint.h>

#include "nlcuda.h"

#define FA_LOG2E 1.4426950408889634f
#define FA_LN2 0.6931471805599453f
#define FA_THREADS 128
#define FA_MAX_GRID_Y 65535

typedef __nv_bfloat16 bf16;

#define FA_SIMT_MAX_D 256

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

/* The launches cover bh in chunks of at most 65535 (the grid's y limit). */
#define FA_CHUNKS(BH) for (int bh0 = 0, nbh = 0; bh0 < (BH); bh0 += nbh)
#define FA_NBH(BH) (nbh = (BH)-bh0 < FA_MAX_GRID_Y ? (BH)-bh0 : FA_MAX_GRID_Y)

/* Tensor-core way (flash_tc.cu): head size 32, 64 or 128, 16-byte aligned tensors; nw, nwq,
 * nwkv the warps per block (4 or 8) of the forward, the dq and the dk/dv kernels. */
void cu_flash_fwd_tc(nl_kernels *k, int nw, float *out, float *lse, const float *q,
                     const float *kk, const float *v, int BH, int T, int D, float scale);
void cu_flash_bwd_tc(nl_kernels *k, int nwq, int nwkv, float *dq, float *dk, float *dv, float *Dg,
                     const float *dout, const float *q, const float *kk, const float *v,
                     const float *out, const float *lse, int BH, int T, int D, float scale);
/* SIMT fp32 way (flash_simt.cu): any head size up to FA_SIMT_MAX_D. */
void cu_flash_fwd_simt(nl_kernels *k, float *out, float *lse, const float *q, const float *kk,
                       const float *v, int BH, int T, int D, float scale);
void cu_flash_bwd_simt(nl_kernels *k, float *dq, float *dk, float *dv, float *Dg,
                       const float *dout, const float *q, const float *kk, const float *v,
                       const float *out, const float *lse, int BH, int T, int D, float scale);

#endif
