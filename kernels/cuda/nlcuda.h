/* Internals of the CUDA backend shared by its files (not part of the kernels API).
 *
 * Every op runs on the context's one stream and is stream-ordered, so the scratch buffer can
 * serve every op in turn: an op may use it for the length of its own launches. Errors of a
 * launch are recorded in the context (the first one is kept) and read with last_error(). */
#ifndef NL_CUDA_INTERNAL_H
#define NL_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "../kernels.h"

/* How bf16 matmuls are done: inputs rounded to bf16 into workspace buffers and multiplied with
 * fp32 accumulation (CONVERT), or cuBLAS's own fp32-in, bf16-compute mode (FAST); AUTO picks
 * per call (matmul.cu). All round the inputs to bf16 and accumulate in fp32. */
typedef enum { NL_CU_BF16_AUTO = 0, NL_CU_BF16_CONVERT, NL_CU_BF16_FAST } nl_cu_bf16_mode;

typedef struct nl_cu_ctx {
    int device;
    int sm_count;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws; /* cuBLAS workspace (fixed size, so its kernels choice is reproducible) */
    size_t blas_ws_bytes;
    nl_precision prec;
    nl_cu_bf16_mode bf16_mode;
    __nv_bfloat16 *bf16_ws; /* bf16 copies of matmul inputs (grows on first need) */
    size_t bf16_ws_elems;
    void *scratch; /* per-op temporaries: partial sums, sort buffers (grows on first need) */
    size_t scratch_bytes;
    int fa_warps_f, fa_warps_q, fa_warps_kv; /* warps per block of the fused attention (flash.cu) */
    void *comm; /* the NCCL communicator of a data-parallel run (comm.cu); NULL when none */
    /* Bumped when a buffer above is replaced: graphs recorded before hold stale pointers
     * (kernels.h graph_epoch). */
    uint64_t epoch;
    char err[512];
} nl_cu_ctx;

static inline nl_cu_ctx *cu_ctx(nl_kernels *k)
{
    return (nl_cu_ctx *)k->ctx;
}
static inline cudaStream_t cu_stream(nl_kernels *k)
{
    return cu_ctx(k)->stream;
}

/* Record a failure. The first one is kept (a later failure is usually its consequence), so
 * last_error() names the root cause. */
void cu_set_error(nl_kernels *k, const char *fmt, ...);
/* Check a runtime call's result; returns 0 when it succeeded. */
int cu_check(nl_kernels *k, cudaError_t e, const char *what);
/* Check the last launch (cudaGetLastError, host-side only: no synchronisation). */
void cu_check_launch(nl_kernels *k, const char *op);
/* At least `bytes` of scratch, or NULL (error recorded). Growing synchronises the stream,
 * which happens only the first time an op needs more than before; while the stream is being
 * captured into a graph it cannot, and the capture fails (graph.cu). */
void *cu_scratch(nl_kernels *k, size_t bytes);
/* At least `elems` bf16 elements of matmul workspace, or NULL. */
__nv_bfloat16 *cu_bf16_ws(nl_kernels *k, size_t elems);

/* Grid size for an elementwise loop over n items with `block` threads, each thread taking
 * `per_thread` items per pass (grid-stride loops cover the rest). */
static inline unsigned cu_grid(int64_t n, int block, int per_thread)
{
    int64_t g = (n + (int64_t)block * per_thread - 1) / ((int64_t)block * per_thread);
    if (g < 1)
        g = 1;
    if (g > 65535LL * 32)
        g = 65535LL * 32;
    return (unsigned)g;
}

/* Are all these pointers 16-byte aligned (float4 loads and stores)? NULL counts as aligned. */
static inline bool cu_aligned16(const void *a, const void *b = NULL, const void *c = NULL,
                                const void *d = NULL, const void *e = NULL)
{
    return (((uintptr_t)a | (uintptr_t)b | (uintptr_t)c | (uintptr_t)d | (uintptr_t)e) & 15) == 0;
}

/* The ops, by file. */
void cu_fill_matmul(nl_kernels *k);    /* matmul.cu */
void cu_fill_norms(nl_kernels *k);     /* norms.cu */
void cu_fill_attention(nl_kernels *k); /* attention.cu */
void cu_fill_pointwise(nl_kernels *k); /* pointwise.cu: embed_forward, gelu, swiglu, axpy */
void cu_fill_loss(nl_kernels *k);      /* loss.cu */
void cu_fill_optim(nl_kernels *k);     /* optim.cu */
void cu_fill_rows(nl_kernels *k);      /* rows.cu: gather, scatter_add, embed_backward, row_dot */
void cu_fill_moe(nl_kernels *k);       /* moe.cu: router and dispatch */
void cu_fill_flash(nl_kernels *k);     /* flash.cu: fused causal attention */
void cu_fill_comm(nl_kernels *k);      /* comm.cu: NCCL all-reduce (where NCCL was found) */
void cu_comm_destroy(nl_kernels *k);   /* comm.cu: ends the communicator, if any */
void cu_fill_graph(nl_kernels *k);     /* graph.cu: captured steps, pinned host memory */

/* Stable sort of n int32 keys in [0, key_limit) carrying their positions 0..n-1 (sort.cu, on
 * cub's radix sort, which is stable): sorted_keys (n) and order (n) = the original index of
 * each sorted position, both carved out of `mem`, which must hold cu_sort_bytes(n, key_limit)
 * bytes (the caller takes it from cu_scratch once, with whatever else the op needs). */
size_t cu_sort_bytes(int n, int key_limit);
int cu_sort_keys(nl_kernels *k, void *mem, const int32_t *keys, int n, int key_limit,
                 int32_t **sorted_keys, int32_t **order);

#endif
