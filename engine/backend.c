/* Backend selection. The CUDA backend is a shared object so that the main binary runs on
 * machines without a GPU or CUDA libraries; it is looked for, in order, at
 * $NORMLAB_CUDA_LIB, next to the executable, in build/ next to it, and in ../lib/normlab/. */
#include "backend.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char exe_dir[PATH_MAX] = ".";

void nl_backend_set_exe_path(const char *argv0)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
    } else if (argv0) {
        snprintf(buf, sizeof buf, "%s", argv0);
    } else {
        return;
    }
    char *slash = strrchr(buf, '/');
    if (slash) {
        *slash = '\0';
        snprintf(exe_dir, sizeof exe_dir, "%s", buf[0] ? buf : "/");
    }
}

static int resolve_threads(int threads)
{
    if (threads > 0)
        return threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static nl_kernels *open_cuda(int threads, char *why, size_t why_len)
{
    char paths[4][PATH_MAX + 64];
    int np = 0;
    const char *envp = getenv("NORMLAB_CUDA_LIB");
    if (envp && *envp)
        snprintf(paths[np++], sizeof paths[0], "%s", envp);
    snprintf(paths[np++], sizeof paths[0], "%s/libnormlab_cuda.so", exe_dir);
    snprintf(paths[np++], sizeof paths[0], "%s/build/libnormlab_cuda.so", exe_dir);
    snprintf(paths[np++], sizeof paths[0], "%s/../lib/normlab/libnormlab_cuda.so", exe_dir);
    snprintf(why, why_len, "libnormlab_cuda.so not found (built only where nvcc is present)");
    for (int i = 0; i < np; i++) {
        if (access(paths[i], R_OK) != 0)
            continue;
        void *h = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            snprintf(why, why_len, "%s", dlerror());
            continue;
        }
        nl_kernels_cuda_create_fn fn = (nl_kernels_cuda_create_fn)dlsym(h, NL_CUDA_ENTRY);
        if (!fn) {
            snprintf(why, why_len, "%s: no symbol %s", paths[i], NL_CUDA_ENTRY);
            dlclose(h);
            continue;
        }
        char err[256] = "";
        nl_kernels *k = fn(0, err, sizeof err);
        if (k) {
            if (k->set_threads)
                k->set_threads(k, threads);
            return k;
        }
        snprintf(why, why_len, "%s", err[0] ? err : "no CUDA device");
        /* keep the object loaded: unloading CUDA runtimes is not reliably safe */
        return NULL;
    }
    return NULL;
}

nl_kernels *nl_backend_open(const char *device, int threads, char *notice, int notice_len,
                            nl_error *err)
{
    if (notice && notice_len > 0)
        notice[0] = '\0';
    if (!device || !*device)
        device = "auto";
    threads = resolve_threads(threads);
    if (!strcmp(device, "cpu"))
        return nl_kernels_cpu_create(threads);
    if (strcmp(device, "cuda") && strcmp(device, "auto")) {
        nl_fail(err, NL_ERR_USAGE, "device '%s': expected auto, cpu or cuda", device);
        return NULL;
    }
    char why[512];
    nl_kernels *k = open_cuda(threads, why, sizeof why);
    if (k)
        return k;
    if (!strcmp(device, "cuda")) {
        nl_fail(err, NL_ERR_USAGE, "device cuda unavailable: %s", why);
        return NULL;
    }
    if (notice && notice_len > 0)
        snprintf(notice, (size_t)notice_len, "no CUDA backend (%s); using the CPU", why);
    return nl_kernels_cpu_create(threads);
}

void nl_backend_close(nl_kernels *k)
{
    if (k && k->destroy)
        k->destroy(k);
}
