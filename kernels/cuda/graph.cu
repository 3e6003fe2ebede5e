/* Captured steps: a whole training step recorded once with stream capture and replayed as one
 * CUDA graph (kernels.h graph_*), the pinned host memory its results come back to, and the
 * backend-side test for a bad step (step_guard).
 *
 * Capture mode is thread-local: only calls from the thread that records (the one that steps
 * the run) are checked, and a call that cannot be recorded there (a synchronisation, an
 * allocation: cu_grow refuses before it tries) fails the capture rather than running. */
#include <stdio.h>
#include <string.h>

#include "nlcuda.h"

static int cu_graph_begin(nl_kernels *k)
{
    nl_cu_ctx *c = cu_ctx(k);
    if (c->err[0])
        return -1; /* an earlier failure: nothing new should be queued */
    return cu_check(k, cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal),
                    "begin capture");
}

/* The capture is over either way; on failure nothing recorded ran, so the errors met while
 * recording are the capture's, not the context's: they go to why and the context's error is
 * cleared (it was empty at graph_begin). */
static void *cu_graph_end(nl_kernels *k, char *why, size_t why_len)
{
    nl_cu_ctx *c = cu_ctx(k);
    cudaGraph_t g = NULL;
    cudaGraphExec_t exec = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    const char *fail = NULL;
    char buf[sizeof c->err];
    if (c->err[0]) {
        snprintf(buf, sizeof buf, "%s", c->err);
        fail = buf;
    } else if (e != cudaSuccess || !g) {
        fail = e != cudaSuccess ? cudaGetErrorString(e) : "empty capture";
    } else if ((e = cudaGraphInstantiate(&exec, g, 0)) != cudaSuccess) {
        fail = cudaGetErrorString(e);
        exec = NULL;
    }
    if (g)
        cudaGraphDestroy(g);
    if (fail) {
        if (why && why_len)
            snprintf(why, why_len, "%s", fail);
        if (exec)
            cudaGraphExecDestroy(exec);
        cudaGetLastError(); /* a refused call inside the capture is not a sticky error */
        c->err[0] = '\0';
        return NULL;
    }
    /* the upload is queued on the stream like the launches that follow it */
    cu_check(k, cudaGraphUpload(exec, c->stream), "graph upload");
    return (void *)exec;
}

static int cu_graph_launch(nl_kernels *k, void *graph)
{
    return cu_check(k, cudaGraphLaunch((cudaGraphExec_t)graph, cu_stream(k)), "graph launch");
}

static void cu_graph_free(nl_kernels *k, void *graph)
{
    if (!graph)
        return;
    /* a queued launch may still be running it */
    cudaStreamSynchronize(cu_stream(k));
    cu_check(k, cudaGraphExecDestroy((cudaGraphExec_t)graph), "graph free");
}

static uint64_t cu_graph_epoch(nl_kernels *k)
{
    return cu_ctx(k)->epoch;
}

static void *cu_host_alloc(nl_kernels *k, size_t bytes)
{
    void *p = NULL;
    if (cu_check(k, cudaMallocHost(&p, bytes ? bytes : 16), "pinned host memory"))
        return NULL;
    memset(p, 0, bytes ? bytes : 16);
    return p;
}

static void cu_host_free(nl_kernels *k, void *p)
{
    if (!p)
        return;
    cudaStreamSynchronize(cu_stream(k)); /* a queued copy may still write it */
    cu_check(k, cudaFreeHost(p), "free pinned host memory");
}

/* Only into pinned memory (host_alloc): from there the copy is a plain DMA, capturable, and
 * the caller reads it after sync(). */
static void cu_to_host_async(nl_kernels *k, void *host_dst, const void *src, size_t bytes)
{
    if (bytes)
        cu_check(k, cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, cu_stream(k)),
                 "to_host_async");
}

/* One thread: the same additions in the same order as the host's test (run_step), in double,
 * so the flag is the host's decision to the bit. */
__global__ void step_guard_kernel(float *flag, const float *loss_sum, float loss_div,
                                  const float *sumsq, int n)
{
    double tot = 0.0;
    for (int i = 0; i < n; i++)
        tot += (double)sumsq[i];
    float loss = loss_sum[0] / loss_div;
    float norm = (float)sqrt(tot);
    flag[0] = isfinite(loss) && isfinite(norm) ? 0.f : 1.f;
}

static void cu_step_guard(nl_kernels *k, float *flag, const float *loss_sum, float loss_div,
                          const float *sumsq, int n)
{
    step_guard_kernel<<<1, 1, 0, cu_stream(k)>>>(flag, loss_sum, loss_div, sumsq, n);
    cu_check_launch(k, "step_guard");
}

void cu_fill_graph(nl_kernels *k)
{
    k->graph_begin = cu_graph_begin;
    k->graph_end = cu_graph_end;
    k->graph_launch = cu_graph_launch;
    k->graph_free = cu_graph_free;
    k->graph_epoch = cu_graph_epoch;
    k->host_alloc = cu_host_alloc;
    k->host_free = cu_host_free;
    k->to_host_async = cu_to_host_async;
    k->step_guard = cu_step_guard;
}
