/* Data parallel on GPUs (engine/dist.h): the gradient all-reduce with NCCL, as llm.c does
 * it; MPI, in the engine, only hands rank 0's ncclUniqueId to the other ranks. Built with
 * NCCL where cuda.mk finds its header and library (NL_NCCL); without it the table's comm
 * entries stay NULL and the engine moves the gradients through host memory for MPI. */
#include <string.h>

#include "nlcuda.h"

#ifdef NL_NCCL
#include <nccl.h>

static int nccl_check(nl_kernels *k, ncclResult_t r, const char *what)
{
    if (r == ncclSuccess)
        return 0;
    cu_set_error(k, "%s: %s", what, ncclGetErrorString(r));
    return 1;
}

static int cu_comm_id(nl_kernels *k, void *id, int cap)
{
    ncclUniqueId u;
    if (cap < (int)sizeof u) {
        cu_set_error(k, "ncclUniqueId needs %d bytes, %d given", (int)sizeof u, cap);
        return 0;
    }
    if (nccl_check(k, ncclGetUniqueId(&u), "ncclGetUniqueId"))
        return 0;
    memcpy(id, &u, sizeof u);
    return (int)sizeof u;
}

static int cu_comm_init(nl_kernels *k, const void *id, int len, int rank, int nranks)
{
    ncclUniqueId u;
    if (len != (int)sizeof u) {
        cu_set_error(k, "communicator id of %d bytes, ncclUniqueId has %d", len, (int)sizeof u);
        return 1;
    }
    memcpy(&u, id, sizeof u);
    cu_comm_destroy(k); /* a race's next run starts a communicator of its own */
    if (cu_check(k, cudaSetDevice(cu_ctx(k)->device), "cudaSetDevice"))
        return 1;
    ncclComm_t c;
    if (nccl_check(k, ncclCommInitRank(&c, nranks, u, rank), "ncclCommInitRank"))
        return 1;
    cu_ctx(k)->comm = c;
    return 0;
}

/* In place on the backend's stream: the optimizer's kernels that follow see the mean. */
static int cu_allreduce_mean(nl_kernels *k, float *buf, int64_t n)
{
    ncclComm_t c = (ncclComm_t)cu_ctx(k)->comm;
    if (!c) {
        cu_set_error(k, "gradient all-reduce before the NCCL communicator started");
        return 1;
    }
    return nccl_check(k, ncclAllReduce(buf, buf, (size_t)n, ncclFloat, ncclAvg, c, cu_stream(k)),
                      "ncclAllReduce");
}

void cu_comm_destroy(nl_kernels *k)
{
    nl_cu_ctx *c = cu_ctx(k);
    if (c && c->comm) {
        ncclCommDestroy((ncclComm_t)c->comm);
        c->comm = NULL;
    }
}

void cu_fill_comm(nl_kernels *k)
{
    k->comm_id = cu_comm_id;
    k->comm_init = cu_comm_init;
    k->allreduce_mean = cu_allreduce_mean;
}
#else
void cu_comm_destroy(nl_kernels *k) {}
void cu_fill_comm(nl_kernels *k) {}
#endif
