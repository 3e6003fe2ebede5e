/* Data parallelism over processes: `mpirun -np N normlab train` runs N ranks, each with the
 * whole model and optimizer state, each stepping its slice of every global batch; the
 * gradients are averaged over the ranks before the optimizer step, so every rank takes the
 * same step (DESIGN.md section 6).
 *
 * One small interface, two implementations: dist_mpi.c (built where mpicc is found; MPI on
 * the CPU backend, the backend's collective (NCCL) on CUDA with MPI only to start it) and
 * dist_none.c (one process, every call a no-op). Outside mpirun, or with one rank, the MPI
 * build behaves as the plain one: nl_dist_size() is 1 and nothing is exchanged.
 *
 * Every call below but the accessors is collective: all ranks make it, in the same order. */
#ifndef NL_DIST_H
#define NL_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "../kernels/kernels.h"
#include "error.h"

/* Start the MPI world when this process was launched by mpirun (its environment says so);
 * a no-op otherwise and in the plain build. Returns nonzero with err set when MPI fails. */
int nl_dist_init(int *argc, char ***argv, nl_error *err);
void nl_dist_finalize(void);
/* End every rank at once (a failure one rank alone saw); returns only in the plain build. */
void nl_dist_abort(int code);

bool nl_dist_built(void);     /* this binary was built with MPI */
int nl_dist_rank(void);       /* 0 .. size-1; 0 without MPI */
int nl_dist_size(void);       /* ranks; 1 without MPI */
int nl_dist_local_size(void); /* ranks on this machine (sharing its cores); 1 without MPI */
int nl_dist_local_rank(void); /* this rank's index among them (its GPU); 0 without MPI */
/* Whether pid is another rank on this machine (its threads are not "other programs"). */
bool nl_dist_local_peer(int pid);

/* Prepare the gradient all-reduce for n floats of backend k: on a backend with a collective
 * of its own (CUDA with NCCL) rank 0 makes its id and MPI hands it to the others; otherwise
 * MPI reduces host memory (a staging buffer where k's memory is a device's). */
int nl_dist_setup(nl_kernels *k, int64_t n, nl_error *err);
/* grad (n backend floats) = its mean over the ranks, in place. */
int nl_dist_grad_mean(nl_kernels *k, float *grad, int64_t n, nl_error *err);
/* v (n host floats) = its mean over the ranks, in place. */
void nl_dist_mean(float *v, int n);
/* Whether any rank passes true (the agreement on a stop request). */
bool nl_dist_any(bool flag);
/* Whether rank 0 passes true. */
bool nl_dist_root_true(bool flag);
/* s (a string in cap bytes) = rank 0's s. */
void nl_dist_root_string(char *s, int cap);

/* Bytes and seconds spent in nl_dist_grad_mean since the start (for the docs' figures). */
void nl_dist_comm_stats(int64_t *bytes, double *seconds, int64_t *calls);

#endif
