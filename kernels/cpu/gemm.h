/* The CPU backend's own float matrix product, for the shapes of a transformer's linear layers
 * (one side a few hundred wide, the other thousands of tokens long), where a BLAS library's
 * packing of both operands on every call costs a large share of the product itself.
 *
 * Row-major, as cblas_sgemm with alpha 1:  C = A' B' + beta C,  beta 0 or 1,
 *   A'(m,k) = trans_a ? a[k*lda + m] : a[m*lda + k]      (M x K)
 *   B'(k,n) = trans_b ? b[n*ldb + k] : b[k*ldb + n]      (K x N)
 * Every element of C is summed over k in increasing order, in blocks of k fixed by K alone,
 * so the result depends neither on how the caller cuts C into slabs nor on the thread count. */
#ifndef NL_CPU_GEMM_H
#define NL_CPU_GEMM_H

#include <stdint.h>

/* 1 when this build has the kernel (the compiler targets AVX-512) and the environment does
 * not turn it off (NORMLAB_GEMM=blas); read once. */
int nl_gemm_f32_enabled(void);

/* Computes C and returns 1, or returns 0 without touching C when the product is not one it
 * takes (kernel not enabled, alpha other than 1, beta other than 0 or 1, or a dimension
 * below 16): the caller then uses BLAS. */
int nl_gemm_f32(float *c, const float *a, const float *b, int M, int N, int K, int trans_a,
                int trans_b, int lda, int ldb, int ldc, float alpha, float beta);

/* An elementwise step on C as the product writes it: fn(c, ldc, e, lde, rows, cols) on a
 * rows x cols block of C at c and the block at the same place of e (laid out as C, lde apart). */
typedef struct {
    void (*fn)(float *c, int64_t ldc, float *e, int64_t lde, int rows, int cols);
    float *e;
    int64_t lde;
    int e_streamed; /* 1: fn writes e by stores that bypass the cache (its lines not asked for) */
} nl_gemm_ep;

/* nl_gemm_f32, then ep->fn on each block of C (at most 12 x 32) as the last block of k
 * writes it, while the block is still in L1; the same return (0: C and e untouched). */
int nl_gemm_f32_ep(float *c, const float *a, const float *b, int M, int N, int K, int trans_a,
                   int trans_b, int lda, int ldb, int ldc, float alpha, float beta,
                   const nl_gemm_ep *ep);

#endif
