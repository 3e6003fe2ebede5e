/* The plain build's data-parallel layer (dist.h): one process, nothing to exchange. The
 * Makefile compiles this file where mpicc is not found, dist_mpi.c where it is. */
#include "dist.h"

int nl_dist_init(int *argc, char ***argv, nl_error *err)
{
    return 0;
}
void nl_dist_finalize(void) {}
void nl_dist_abort(int code) {}
bool nl_dist_built(void)
{
    return false;
}
int nl_dist_rank(void)
{
    return 0;
}
int nl_dist_size(void)
{
    return 1;
}
int nl_dist_local_size(void)
{
    return 1;
}
int nl_dist_local_rank(void)
{
    return 0;
}
bool nl_dist_local_peer(int pid)
{
    return false;
}
int nl_dist_setup(nl_kernels *k, int64_t n, nl_error *err)
{
    return 0;
}
int nl_dist_grad_mean(nl_kernels *k, float *grad, int64_t n, nl_error *err)
{
    return 0;
}
void nl_dist_mean(float *v, int n) {}
bool nl_dist_any(bool flag)
{
    return flag;
}
bool nl_dist_root_true(bool flag)
{
    return flag;
}
void nl_dist_root_string(char *s, int cap) {}
void nl_dist_comm_stats(int64_t *bytes, double *seconds, int64_t *calls)
{
    *bytes = 0;
    *seconds = 0;
    *calls = 0;
}
