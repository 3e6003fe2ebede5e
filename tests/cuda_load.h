/* The CUDA backend as the main binary finds it: build/libnormlab_cuda.so (or $NORMLAB_CUDA_LIB)
 * loaded with dlopen, and a backend on device 0 from its entry point. Shared by the CUDA
 * tests (test_cuda*.c). */
#ifndef NL_TESTS_CUDA_LOAD_H
#define NL_TESTS_CUDA_LOAD_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/kernels.h"

/* The backend, or NULL with the reason in why: a reason to skip (no object, no device, the
 * sanitizer build without the option the driver needs) or, with *broken set, a failure (the
 * object has no entry point). *create (when not NULL) gets the entry point. The object stays
 * loaded: the CUDA runtime's exit handlers live in it. */
static nl_kernels *cuda_load(nl_kernels_cuda_create_fn *create, char *why, size_t n, int *broken)
{
    *broken = 0;
    const char *path = getenv("NORMLAB_CUDA_LIB");
    if (!path)
        path = "build/libnormlab_cuda.so";
#if defined(__SANITIZE_ADDRESS__)
    const char *asan = getenv("ASAN_OPTIONS");
    if (!asan || !strstr(asan, "protect_shadow_gap=0")) {
        snprintf(why, n, "the CUDA driver needs ASAN_OPTIONS=protect_shadow_gap=0 under "
                         "AddressSanitizer");
        return NULL;
    }
#endif
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        snprintf(why, n, "cannot load %s: %s", path, dlerror());
        return NULL;
    }
    nl_kernels_cuda_create_fn fn = (nl_kernels_cuda_create_fn)dlsym(so, NL_CUDA_ENTRY);
    if (create)
        *create = fn;
    if (!fn) {
        *broken = 1;
        snprintf(why, n, "%s has no %s", path, NL_CUDA_ENTRY);
        return NULL;
    }
    char err[256];
    nl_kernels *k = fn(0, err, sizeof err);
    if (!k)
        snprintf(why, n, "%s", err);
    return k;
}

#endif
