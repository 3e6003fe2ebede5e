/* Choosing a kernels backend at run time: "cpu", "cuda" (the shared object
 * libnormlab_cuda.so, loaded with dlopen from the directory of the executable, build/, or
 * $NORMLAB_CUDA_LIB), or "auto" (cuda when it loads and a device is present, else cpu with
 * a one-line notice). */
#ifndef NL_BACKEND_H
#define NL_BACKEND_H

#include "../kernels/kernels.h"
#include "error.h"

/* notice (may be NULL) receives a one-line message when auto fell back to the CPU, or when
 * threads was more than the cores (see nl_backend_threads). */
nl_kernels *nl_backend_open(const char *device, int threads, char *notice, int notice_len,
                            nl_error *err);
void nl_backend_close(nl_kernels *k);

/* The cores this process may run on (its CPU affinity mask), at least 1; the ranks of a
 * data-parallel run on one machine (dist.h) share them, unless each was bound to its own. */
int nl_backend_cores(void);
/* The CPU threads a backend runs for a requested count: 0 (auto) is one per core; a count
 * above the cores is capped to them, and notice (may be NULL) then says so. normlab never runs
 * more busy threads than cores: one more than a core has only waits for a time slice. */
int nl_backend_threads(int requested, char *notice, int notice_len);
/* How long a waiting OpenMP thread spins before it sleeps (libgomp iterations; backend.c
 * says why). */
#define NL_SPINCOUNT "3000"
/* Called first in main(): puts GOMP_SPINCOUNT=NL_SPINCOUNT (and OPENBLAS_NUM_THREADS=1) in the
 * environment and starts the program again with the same arguments, unless the user set
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT. Returns only when nothing was to be done or the exec
 * failed (the settings are then left as they were). See backend.c for why. */
void nl_backend_thread_env(char **argv);
/* Set once by main() from argv[0], so the CUDA object is found next to the binary. */
void nl_backend_set_exe_path(const char *argv0);

#endif
