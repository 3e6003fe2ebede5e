/* Choosing a kernels backend at run time: "cpu", "cuda" (the shared object
 * libnormlab_cuda.so, loaded with dlopen from the directory of the executable, build/, or
 * $NORMLAB_CUDA_LIB), or "auto" (cuda when it loads and a device is present, else cpu with
 * a one-line notice). */
#ifndef NL_BACKEND_H
#define NL_BACKEND_H

#include "../kernels/kernels.h"
#include "error.h"

/* notice (may be NULL) receives a one-line message when auto fell back to the CPU. */
nl_kernels *nl_backend_open(const char *device, int threads, char *notice, int notice_len,
                            nl_error *err);
void nl_backend_close(nl_kernels *k);
/* Set once by main() from argv[0], so the CUDA object is found next to the binary. */
void nl_backend_set_exe_path(const char *argv0);

#endif
