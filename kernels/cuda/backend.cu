/* The CUDA backend's table: device memory, the stream and cuBLAS handle, errors, lifetime.
 * Built into build/libnormlab_cuda.so, which the main binary loads with dlopen and enters
 * through nl_kernels_cuda_create (NL_CUDA_ENTRY). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nlcuda.h"

/* cuBLAS's recommended workspace on Hopper. */
#define NL_CU_BLAS_WS_BYTES (32u << 20)

void cu_set_error(nl_kernels *k, const char *fmt, ...)
{
    nl_cu_ctx *c = cu_ctx(k);
    if (c->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

int cu_check(nl_kernels *k, cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return 0;
    cu_set_error(k, "cuda: %s: %s", what, cudaGetErrorString(e));
    return -1;
}

void cu_check_launch(nl_kernels *k, const char *op)
{
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        cu_set_error(k, "cuda: %s: %s", op, cudaGetErrorString(e));
}

/* Replace a buffer by a larger one; the stream is drained first, since queued launches may
 * still read the old buffer. */
static void *cu_grow(nl_kernels *k, void **buf, size_t *have, size_t need, const char *what)
{
    if (*have >= need && *buf)
        return *buf;
    nl_cu_ctx *c = cu_ctx(k);
    /* a capture records launches, it does not run them: draining and freeing here would
     * invalidate it, and the recording would keep the old pointer */
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    if (cu_check(k, cudaStreamIsCapturing(c->stream, &cs), what))
        return NULL;
    if (cs != cudaStreamCaptureStatusNone) {
        cu_set_error(k, "cuda: %s must grow to %zu bytes while a step is being captured", what,
                     need);
        return NULL;
    }
    if (cu_check(k, cudaStreamSynchronize(c->stream), what))
        return NULL;
    c->epoch++;
    if (*buf)
        cudaFree(*buf);
    *buf = NULL;
    *have = 0;
    /* round up generously so that a slowly growing size does not reallocate every call */
    size_t bytes = need + need / 4 + 4096;
    if (cu_check(k, cudaMalloc(buf, bytes), what)) {
        *buf = NULL;
        return NULL;
    }
    *have = bytes;
    return *buf;
}

void *cu_scratch(nl_kernels *k, size_t bytes)
{
    nl_cu_ctx *c = cu_ctx(k);
    return cu_grow(k, &c->scratch, &c->scratch_bytes, bytes ? bytes : 1, "scratch");
}

__nv_bfloat16 *cu_bf16_ws(nl_kernels *k, size_t elems)
{
    nl_cu_ctx *c = cu_ctx(k);
    size_t have = c->bf16_ws_elems * sizeof(__nv_bfloat16);
    void *p = c->bf16_ws;
    void *r = cu_grow(k, &p, &have, elems * sizeof(__nv_bfloat16), "bf16 workspace");
    c->bf16_ws = (__nv_bfloat16 *)p;
    c->bf16_ws_elems = have / sizeof(__nv_bfloat16);
    return (__nv_bfloat16 *)r;
}

/* ---- memory ---- */

static void *cu_alloc(nl_kernels *k, size_t bytes)
{
    nl_cu_ctx *c = cu_ctx(k);
    void *p = NULL;
    if (cu_check(k, cudaSetDevice(c->device), "set device"))
        return NULL;
    /* never NULL for a valid request: NULL means failure to the caller */
    size_t n = bytes ? bytes : 256;
    cudaError_t e = cudaMalloc(&p, n);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* an out-of-memory result is not sticky: clear it */
        cu_set_error(k, "cuda: out of device memory allocating %zu bytes (%s)", bytes,
                     cudaGetErrorString(e));
        return NULL;
    }
    /* on the stream, then drained: the buffer is zero before any op can see it */
    if (cu_check(k, cudaMemsetAsync(p, 0, n, c->stream), "alloc memset") ||
        cu_check(k, cudaStreamSynchronize(c->stream), "alloc memset")) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void cu_free(nl_kernels *k, void *p)
{
    if (!p)
        return;
    /* queued ops may still use p: drain first */
    cudaStreamSynchronize(cu_stream(k));
    cu_check(k, cudaFree(p), "free");
}

/* From pageable host memory cudaMemcpyAsync stages the source before it returns, so the caller
 * may reuse host_src at once; no device synchronisation is needed. */
static void cu_to_device(nl_kernels *k, void *dst, const void *host_src, size_t bytes)
{
    if (bytes)
        cu_check(k, cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, cu_stream(k)),
                 "to_device");
}

static void cu_to_host(nl_kernels *k, void *host_dst, const void *src, size_t bytes)
{
    if (!bytes)
        return;
    if (cu_check(k, cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, cu_stream(k)),
                 "to_host") == 0)
        cu_check(k, cudaStreamSynchronize(cu_stream(k)), "to_host");
}

static void cu_copy(nl_kernels *k, void *dst, const void *src, size_t bytes)
{
    if (bytes && dst != src)
        cu_check(k, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cu_stream(k)),
                 "copy");
}

static void cu_zero(nl_kernels *k, void *p, size_t bytes)
{
    if (bytes)
        cu_check(k, cudaMemsetAsync(p, 0, bytes, cu_stream(k)), "zero");
}

static void cu_sync(nl_kernels *k)
{
    cu_check(k, cudaStreamSynchronize(cu_stream(k)), "sync");
}

static const char *cu_last_error(nl_kernels *k)
{
    return cu_ctx(k)->err;
}

static void cu_set_precision(nl_kernels *k, nl_precision p)
{
    /* a graph keeps the products' compute type of its recording, so this does not change
     * the epoch: each run sets its own precision before its steps (engine/step.c) */
    cu_ctx(k)->prec = p;
}

static void cu_set_threads(nl_kernels *k, int threads) {}

static void cu_destroy(nl_kernels *k)
{
    if (!k)
        return;
    nl_cu_ctx *c = cu_ctx(k);
    if (c) {
        if (c->stream)
            cudaStreamSynchronize(c->stream);
        cu_comm_destroy(k);
        if (c->blas)
            cublasDestroy(c->blas);
        cudaFree(c->blas_ws);
        cudaFree(c->bf16_ws);
        cudaFree(c->scratch);
        if (c->stream)
            cudaStreamDestroy(c->stream);
        free(c);
    }
    free(k);
}

static void fill_table(nl_kernels *k)
{
    k->name = "cuda";
    k->is_host = 0;
    /* 256-row blocks from T = 512 (GPT-2 small on an H100, bf16: 185k tok/s with 256, 179k
     * unblocked, 164k with 64: small blocks leave the GPU underfed) */
    k->attn_block_rows = 256;
    k->attn_block_from_T = 512;
    k->alloc = cu_alloc;
    k->free = cu_free;
    k->to_device = cu_to_device;
    k->to_host = cu_to_host;
    k->copy = cu_copy;
    k->zero = cu_zero;
    k->sync = cu_sync;
    k->destroy = cu_destroy;
    k->last_error = cu_last_error;
    k->set_precision = cu_set_precision;
    k->set_threads = cu_set_threads;
    cu_fill_matmul(k);
    cu_fill_norms(k);
    cu_fill_attention(k);
    cu_fill_pointwise(k);
    cu_fill_loss(k);
    cu_fill_optim(k);
    cu_fill_rows(k);
    cu_fill_moe(k);
    cu_fill_flash(k);
    cu_fill_comm(k);
    cu_fill_graph(k);
}

/* device: the CUDA device index. On failure returns NULL with the reason in errbuf (no
 * driver, no device, out of memory), so the caller can fall back to the CPU. */
extern "C" __attribute__((visibility("default"))) nl_kernels *
nl_kernels_cuda_create(int device, char *errbuf, size_t errlen)
{
    char dummy[8];
    if (!errbuf || !errlen) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    errbuf[0] = 0;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorInsufficientDriver) {
        /* also what a machine with no driver at all reports */
        snprintf(errbuf, errlen, "no CUDA driver for CUDA %d.%d or newer", CUDART_VERSION / 1000,
                 CUDART_VERSION % 1000 / 10);
        return NULL;
    }
    if (e != cudaSuccess || count == 0) {
        snprintf(errbuf, errlen, "no CUDA device (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0");
        return NULL;
    }
    if (device < 0 || device >= count) {
        snprintf(errbuf, errlen, "CUDA device %d does not exist (%d present)", device, count);
        return NULL;
    }
    nl_kernels *k = (nl_kernels *)calloc(1, sizeof *k);
    nl_cu_ctx *c = (nl_cu_ctx *)calloc(1, sizeof *c);
    if (!k || !c) {
        free(k);
        free(c);
        snprintf(errbuf, errlen, "out of host memory");
        return NULL;
    }
    k->ctx = c;
    fill_table(k);
    c->device = device;
    c->prec = NL_PREC_FP32;
    const char *mode = getenv("NORMLAB_CUDA_BF16");
    c->bf16_mode = !mode                          ? NL_CU_BF16_AUTO
                   : strcmp(mode, "fast") == 0    ? NL_CU_BF16_FAST
                   : strcmp(mode, "convert") == 0 ? NL_CU_BF16_CONVERT
                                                  : NL_CU_BF16_AUTO;

    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    cudaDeviceProp prop;
    if ((e = cudaSetDevice(device)) != cudaSuccess ||
        (e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess ||
        (e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaMalloc(&c->blas_ws, NL_CU_BLAS_WS_BYTES)) != cudaSuccess) {
        snprintf(errbuf, errlen, "CUDA device %d: %s", device, cudaGetErrorString(e));
        cu_destroy(k);
        return NULL;
    }
    c->sm_count = prop.multiProcessorCount;
    c->blas_ws_bytes = NL_CU_BLAS_WS_BYTES;
    if ((bs = cublasCreate(&c->blas)) != CUBLAS_STATUS_SUCCESS ||
        (bs = cublasSetStream(c->blas, c->stream)) != CUBLAS_STATUS_SUCCESS ||
        (bs = cublasSetWorkspace(c->blas, c->blas_ws, c->blas_ws_bytes)) != CUBLAS_STATUS_SUCCESS ||
        (bs = cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
        snprintf(errbuf, errlen, "cuBLAS on device %d: %s", device, cublasGetStatusString(bs));
        cu_destroy(k);
        return NULL;
    }
    return k;
}
