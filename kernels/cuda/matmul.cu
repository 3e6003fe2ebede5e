/* Matrix products through cuBLAS.
 *
 * The kernels API is row-major; cuBLAS is column-major. A row-major (r,c) matrix with row
 * stride ld is, read column-major, its transpose (c,r) with the same ld. So the row-major
 * C(M,N) = op(A) op(B) is the column-major C^T(N,M) = op(B)^T op(A)^T: cuBLAS is called with
 * the operands swapped, m = N, n = M, and each operand keeps its own transpose flag.
 *
 * Precision: fp32 is strict (CUBLAS_COMPUTE_32F, no TF32); tf32 lets cuBLAS round the inputs
 * to TF32 on the tensor cores; bf16 accumulates in fp32 with inputs rounded to bf16 or, for
 * thin products, to TF32. C is always fp32. Measured on an H100 (docs/CUDA.md): bf16 copies of
 * the inputs and a bf16 product run the (16K,768)x(768,3072) linear layer at 400 TFLOP/s,
 * where cuBLAS's fp32-input mode CUBLAS_COMPUTE_32F_FAST_16BF gives 310 (it picked the TF32
 * kernels: its results matched tf32's to the bit). For the attention products, whose thin side
 * is head_dim, the copies cost more than the product (att@v: 0.61 ms with copies, 0.33 ms
 * without). So a product with a side of at most BF16_THIN goes through cuBLAS's mode, the rest
 * through bf16 copies; NORMLAB_CUDA_BF16=convert|fast forces one way for every product. */
#include "nlcuda.h"

/* The floats an operand spans: batch matrices of `rows` rows of `cols` elements, row stride
 * ld, matrix stride `stride`. */
static size_t span_elems(int rows, int cols, int ld, int64_t stride, int batch)
{
    if (rows <= 0 || cols <= 0 || batch <= 0)
        return 0;
    return (size_t)(batch - 1) * (size_t)stride + (size_t)(rows - 1) * (size_t)ld + (size_t)cols;
}

__global__ void to_bf16_kernel(__nv_bfloat16 *out, const float *in, int64_t n)
{
    int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 4;
    int64_t step = (int64_t)gridDim.x * blockDim.x * 4;
    if (((uintptr_t)in & 15) == 0) {
        for (; i + 3 < n; i += step) {
            float4 v = *(const float4 *)(in + i);
            __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y);
            __nv_bfloat162 hi = __floats2bfloat162_rn(v.z, v.w);
            *(__nv_bfloat162 *)(out + i) = lo;
            *(__nv_bfloat162 *)(out + i + 2) = hi;
        }
        for (; i < n; i += step)
            for (int64_t j = i; j < n && j < i + 4; j++)
                out[j] = __float2bfloat16_rn(in[j]);
    } else {
        for (; i < n; i += step)
            for (int64_t j = i; j < n && j < i + 4; j++)
                out[j] = __float2bfloat16_rn(in[j]);
    }
}

static void to_bf16(nl_kernels *k, __nv_bfloat16 *out, const float *in, size_t n)
{
    if (!n)
        return;
    to_bf16_kernel<<<cu_grid((int64_t)n, 256, 16), 256, 0, cu_stream(k)>>>(out, in, (int64_t)n);
    cu_check_launch(k, "matmul bf16 conversion");
}

#define BF16_THIN 256

static void cu_matmul(nl_kernels *k, float *c, const float *a, const float *b, int M, int N, int K,
                      int trans_a, int trans_b, int lda, int ldb, int ldc, int64_t stride_a,
                      int64_t stride_b, int64_t stride_c, int batch, float alpha, float beta)
{
    if (M <= 0 || N <= 0 || batch <= 0)
        return;
    nl_cu_ctx *ctx = cu_ctx(k);
    /* cuBLAS operand 1 is our B, operand 2 our A */
    cublasOperation_t op1 = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op2 = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const void *p1 = b, *p2 = a;
    cudaDataType_t in_type = CUDA_R_32F;
    cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
    if (ctx->prec == NL_PREC_TF32) {
        compute = CUBLAS_COMPUTE_32F_FAST_TF32;
    } else if (ctx->prec == NL_PREC_BF16 &&
               (ctx->bf16_mode == NL_CU_BF16_FAST ||
                (ctx->bf16_mode == NL_CU_BF16_AUTO &&
                 (M <= BF16_THIN || N <= BF16_THIN || K <= BF16_THIN)))) {
        compute = CUBLAS_COMPUTE_32F_FAST_16BF;
    } else if (ctx->prec == NL_PREC_BF16 && K > 0) {
        /* row-major extents: A is (M,K) or (K,M), B is (K,N) or (N,K) */
        size_t na = trans_a ? span_elems(K, M, lda, stride_a, batch)
                            : span_elems(M, K, lda, stride_a, batch);
        size_t nb = trans_b ? span_elems(N, K, ldb, stride_b, batch)
                            : span_elems(K, N, ldb, stride_b, batch);
        /* the second copy starts 256-byte aligned, as cuBLAS prefers */
        size_t na_pad = (na + 127) / 128 * 128;
        __nv_bfloat16 *ws = cu_bf16_ws(k, na_pad + nb);
        if (!ws)
            return;
        to_bf16(k, ws, a, na);
        to_bf16(k, ws + na_pad, b, nb);
        p2 = ws;
        p1 = ws + na_pad;
        in_type = CUDA_R_16BF;
    }
    cublasStatus_t s;
    if (batch == 1)
        s = cublasGemmEx(ctx->blas, op1, op2, N, M, K, &alpha, p1, in_type, ldb, p2, in_type, lda,
                         &beta, c, CUDA_R_32F, ldc, compute, CUBLAS_GEMM_DEFAULT);
    else
        s = cublasGemmStridedBatchedEx(ctx->blas, op1, op2, N, M, K, &alpha, p1, in_type, ldb,
                                       stride_b, p2, in_type, lda, stride_a, &beta, c, CUDA_R_32F,
                                       ldc, stride_c, batch, compute, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        cu_set_error(k,
                     "cublas: matmul M=%d N=%d K=%d ta=%d tb=%d lda=%d ldb=%d ldc=%d batch=%d: %s",
                     M, N, K, trans_a, trans_b, lda, ldb, ldc, batch, cublasGetStatusString(s));
}

/* The bf16 tensor-core rate that model-FLOP utilisation is measured against: n x n x n
 * products of bf16 inputs (already in device memory, no conversion) with fp32 accumulation and
 * an fp32 result, as the engine's bf16 products run them; 20 products a sample timed with
 * events, best of 5 after a warm-up. Buffers are the backend's own and freed before return. */
static double cu_bf16_peak_gflops(nl_kernels *k, int n)
{
    nl_cu_ctx *ctx = cu_ctx(k);
    enum { REPS = 5, INNER = 20 };
    size_t count = (size_t)n * (size_t)n;
    __nv_bfloat16 *ab = NULL;
    float *c = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    double best = 0;
    if (n <= 0 || cudaMalloc(&ab, 2 * count * sizeof *ab) != cudaSuccess ||
        cudaMalloc(&c, count * sizeof *c) != cudaSuccess || cudaEventCreate(&e0) != cudaSuccess ||
        cudaEventCreate(&e1) != cudaSuccess)
        goto out;
    /* every bf16 0x3c3c (about 0.0115): not zeros, which draw less power than real data */
    cudaMemsetAsync(ab, 0x3c, 2 * count * sizeof *ab, ctx->stream);
    for (int r = 0; r <= REPS; r++) {
        float alpha = 1.f, beta = 0.f, ms = 0.f;
        cudaEventRecord(e0, ctx->stream);
        for (int i = 0; i < INNER; i++)
            if (cublasGemmEx(ctx->blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, ab, CUDA_R_16BF,
                             n, ab + count, CUDA_R_16BF, n, &beta, c, CUDA_R_32F, n,
                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS)
                goto out;
        cudaEventRecord(e1, ctx->stream);
        if (cudaEventSynchronize(e1) != cudaSuccess || cudaEventElapsedTime(&ms, e0, e1))
            goto out;
        double g = 2.0 * n * (double)n * n * INNER / (ms * 1e-3) * 1e-9;
        if (r > 0 && ms > 0 && g > best) /* r = 0 is the warm-up */
            best = g;
    }
out:
    cudaStreamSynchronize(ctx->stream);
    cudaGetLastError(); /* a failed measurement is a 0, not a backend error */
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    cudaFree(ab);
    cudaFree(c);
    return best;
}

void cu_fill_matmul(nl_kernels *k)
{
    k->matmul = cu_matmul;
    k->bf16_peak_gflops = cu_bf16_peak_gflops;
}
