/* The data-parallel layer over MPI (dist.h), compiled where mpicc is found. The state is
 * one per process, as MPI's world is. */
#include "dist.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "xalloc.h"

static struct {
    bool on; /* MPI_Init was called here */
    int rank, size, local_rank, local_size;
    int *local_pids;   /* (local_size) */
    bool backend_comm; /* the backend's collective carries the gradients (NCCL) */
    float *stage;      /* (n) host staging for a device backend without a collective */
    int64_t bytes, calls;
    double seconds;
} g = {.size = 1, .local_size = 1};

/* mpirun (Open MPI, MPICH/Hydra, Slurm's PMI/PMIx) says so in the environment; a process
 * started any other way never calls MPI_Init and runs as the plain build does. */
static bool launched_by_mpi(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

static int mpi_fail(nl_error *err, const char *what, int code)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, msg, &len);
    return nl_fail(err, NL_ERR_RUN, "MPI: %s failed: %s", what, msg);
}

int nl_dist_init(int *argc, char ***argv, nl_error *err)
{
    if (g.on || !launched_by_mpi())
        return 0;
    int provided, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        return nl_fail(err, NL_ERR_RUN, "MPI: MPI_Init failed (error %d)", rc);
    g.on = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g.size);
    MPI_Comm local;
    if ((rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
                                  &local)) != MPI_SUCCESS)
        return mpi_fail(err, "splitting the ranks by machine", rc);
    MPI_Comm_rank(local, &g.local_rank);
    MPI_Comm_size(local, &g.local_size);
    g.local_pids = nl_calloc((size_t)g.local_size, sizeof(int));
    if (!g.local_pids)
        return nl_fail(err, NL_ERR_RUN, "out of memory");
    int pid = (int)getpid();
    rc = MPI_Allgather(&pid, 1, MPI_INT, g.local_pids, 1, MPI_INT, local);
    MPI_Comm_free(&local);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, "exchanging process ids", rc);
}

void nl_dist_finalize(void)
{
    if (!g.on)
        return;
    free(g.stage);
    free(g.local_pids);
    g.stage = NULL;
    g.local_pids = NULL;
    MPI_Finalize();
    g.on = false;
}

void nl_dist_abort(int code)
{
    if (g.on && g.size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
}

bool nl_dist_built(void)
{
    return true;
}
int nl_dist_rank(void)
{
    return g.rank;
}
int nl_dist_size(void)
{
    return g.size;
}
int nl_dist_local_size(void)
{
    return g.local_size;
}
int nl_dist_local_rank(void)
{
    return g.local_rank;
}
bool nl_dist_local_peer(int pid)
{
    for (int i = 0; g.local_pids && i < g.local_size; i++)
        if (g.local_pids[i] == pid && i != g.local_rank)
            return true;
    return false;
}

/* The backend's collective: rank 0 makes the id, MPI_Bcast hands it out, every rank joins.
 * Whether all joined is agreed on, so that either all use it or none does. */
static int setup_backend_comm(nl_kernels *k, nl_error *err)
{
    unsigned char id[256];
    int len = g.rank == 0 ? k->comm_id(k, id, (int)sizeof id) : 0;
    MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (len <= 0 || len > (int)sizeof id)
        return nl_fail(err, NL_ERR_RUN, "the %s backend could not make a communicator id: %s",
                       k->name, k->last_error ? k->last_error(k) : "?");
    MPI_Bcast(id, len, MPI_BYTE, 0, MPI_COMM_WORLD);
    int bad = k->comm_init(k, id, len, g.rank, g.size) != 0, any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any)
        return nl_fail(err, NL_ERR_RUN, "the %s backend's communicator did not start%s%s", k->name,
                       bad && k->last_error ? ": " : " on another rank",
                       bad && k->last_error ? k->last_error(k) : "");
    g.backend_comm = true;
    return 0;
}

/* Under mpirun the gradients go through the all-reduce even with one rank (a mean over one
 * is the gradient itself): `mpirun -np 1` checks the path against a plain run. */
int nl_dist_setup(nl_kernels *k, int64_t n, nl_error *err)
{
    if (!g.on)
        return 0;
    g.backend_comm = false;
    if (!k->is_host && k->comm_id && k->comm_init && k->allreduce_mean)
        return setup_backend_comm(k, err);
    if (!k->is_host) {
        free(g.stage);
        g.stage = nl_malloc(sizeof(float) * (size_t)n);
        if (!g.stage)
            return nl_fail(err, NL_ERR_RUN, "out of memory for the gradient staging buffer");
    }
    return 0;
}

/* MPI counts are ints: a larger buffer goes in pieces. */
static int allreduce_sum(float *v, int64_t n)
{
    const int64_t piece = 1 << 30;
    for (int64_t o = 0; o < n; o += piece) {
        int c = (int)(n - o < piece ? n - o : piece);
        int rc = MPI_Allreduce(MPI_IN_PLACE, v + o, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return rc;
    }
    return MPI_SUCCESS;
}

int nl_dist_grad_mean(nl_kernels *k, float *grad, int64_t n, nl_error *err)
{
    if (!g.on)
        return 0;
    double t0 = nl_clock_s();
    if (g.backend_comm) {
        if (k->allreduce_mean(k, grad, n))
            return nl_fail(err, NL_ERR_RUN, "gradient all-reduce on %s failed: %s", k->name,
                           k->last_error ? k->last_error(k) : "?");
    } else {
        float *h = k->is_host ? grad : g.stage;
        if (!k->is_host)
            k->to_host(k, h, grad, sizeof(float) * (size_t)n);
        int rc = allreduce_sum(h, n);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, "the gradient all-reduce", rc);
        float s = 1.0f / (float)g.size;
        for (int64_t i = 0; i < n; i++)
            h[i] *= s;
        if (!k->is_host)
            k->to_device(k, grad, h, sizeof(float) * (size_t)n);
    }
    g.seconds += nl_clock_s() - t0;
    g.bytes += (int64_t)sizeof(float) * n;
    g.calls++;
    return 0;
}

void nl_dist_mean(float *v, int n)
{
    if (g.size < 2 || n <= 0)
        return;
    MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    float s = 1.0f / (float)g.size;
    for (int i = 0; i < n; i++)
        v[i] *= s;
}

bool nl_dist_any(bool flag)
{
    if (g.size < 2)
        return flag;
    int in = flag, out = 0;
    MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return out != 0;
}

bool nl_dist_root_true(bool flag)
{
    if (g.size < 2)
        return flag;
    int v = flag;
    MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return v != 0;
}

void nl_dist_root_string(char *s, int cap)
{
    if (g.size < 2 || cap <= 0)
        return;
    MPI_Bcast(s, cap, MPI_CHAR, 0, MPI_COMM_WORLD);
    s[cap - 1] = '\0';
}

void nl_dist_comm_stats(int64_t *bytes, double *seconds, int64_t *calls)
{
    *bytes = g.bytes;
    *seconds = g.seconds;
    *calls = g.calls;
}
