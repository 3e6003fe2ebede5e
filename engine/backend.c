/* Backend selection. The CUDA backend is a shared object so that the main binary runs on
 * machines without a GPU or CUDA libraries; it is looked for, in order, at
 * $NORMLAB_CUDA_LIB, next to the executable, in build/ next to it, and in ../lib/normlab/. */
#include "backend.h"

#include <dlfcn.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"

static char exe_dir[PATH_MAX] = ".";

/* Why the program starts itself again. libgomp's default spins a waiting OpenMP thread for up
 * to 300,000 iterations (milliseconds) at every barrier and between parallel regions. When
 * another process wants the same core, the spinning thread burns its time slices and the next
 * parallel region waits a scheduler slice for it, hundreds of times a step: measured 616
 * tokens/s with 2 threads against 51,805 with one while one other process kept a core busy.
 * Passive waiting (sleep at once) cures that but pays a futex wake-up at every one of a
 * step's parallel regions: on an idle 2-core machine the bench shape ran 20,100 tokens/s at 2
 * threads passive against 23,600-24,200 with a spin of 1,000 to 10,000 iterations, and the
 * default preset 48,000 against 94,500. So a waiting thread spins GOMP_SPINCOUNT=3000
 * iterations (about 30 microseconds, by libgomp's own estimate of 100 a microsecond), which
 * covers the gap between two ops, then sleeps: with one or two CPU burners running,
 * bench/contention.sh still found auto within 0.8x of the best fixed thread count.
 * libgomp (and OpenBLAS) read their settings from the environment in constructors that run
 * before main, and glibc's own start-up resets the environment after any earlier hook
 * (.preinit_array) could change it; so the settings go into the environment and the program
 * is executed again (same process id, same arguments). OPENBLAS_NUM_THREADS=1: the matmul op
 * shares the products over the OpenMP threads itself, so OpenBLAS's own pool would only be
 * idle threads. OPENBLAS_CORETYPE: an OpenBLAS older than the CPU does not know its model and
 * runs its Prescott (SSE) kernel, which the products normlab leaves to OpenBLAS (rows 4 KB
 * apart, as at d_model 1024; NORMLAB_GEMM=blas) would feel: on an AVX-512 CPU it is told
 * SkylakeX, unless OPENBLAS_CORETYPE is set (NORMLAB_OPENBLAS_CHOSE keeps what it chose, for
 * `normlab bench` to name). Under valgrind (LD_PRELOAD holds its vgpreload
 * objects) nothing is done: it would not follow the exec. */
void nl_backend_thread_env(char **argv)
{
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload"))
        return;
    int spin = !getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT");
    const char *chose = NULL, *core = nl_cpu_native_coretype(&chose);
    if (!spin && !core)
        return;
    int blas_set = getenv("OPENBLAS_NUM_THREADS") != NULL;
    if ((!spin || (setenv("GOMP_SPINCOUNT", NL_SPINCOUNT, 1) == 0 &&
                   (blas_set || setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0))) &&
        (!core || (setenv("OPENBLAS_CORETYPE", core, 1) == 0 &&
                   setenv("NORMLAB_OPENBLAS_CHOSE", chose, 1) == 0)))
        execv("/proc/self/exe", argv);
    /* the exec failed: libgomp and OpenBLAS still run what they chose */
    if (spin) {
        unsetenv("GOMP_SPINCOUNT");
        if (!blas_set)
            unsetenv("OPENBLAS_NUM_THREADS");
    }
    if (core) {
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv("NORMLAB_OPENBLAS_CHOSE");
    }
}

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

int nl_backend_cores(void)
{
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int n = online > 0 ? (int)online : 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        n = CPU_COUNT(&set);
    /* the ranks of a data-parallel run on this machine share its cores, unless the launcher
     * bound each to cores of its own (a mask smaller than the machine) */
    int ranks = nl_dist_local_size();
    if (ranks > 1 && n >= online)
        n = n / ranks > 0 ? n / ranks : 1;
    return n;
}

int nl_backend_threads(int requested, char *notice, int notice_len)
{
    int cores = nl_backend_cores();
    if (requested < 1)
        return cores;
    if (requested > cores) {
        if (notice && notice_len > 0)
            snprintf(notice, (size_t)notice_len,
                     "%d threads are more than the %d core%s this process may use; using %d",
                     requested, cores, cores == 1 ? "" : "s", cores);
        return cores;
    }
    return requested;
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
        nl_kernels *k = fn(nl_dist_local_rank(), err, sizeof err); /* a GPU per rank */
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
    if (strcmp(device, "cpu") && strcmp(device, "cuda") && strcmp(device, "auto")) {
        nl_fail(err, NL_ERR_USAGE, "device '%s': expected auto, cpu or cuda", device);
        return NULL;
    }
    char capped[160] = "";
    threads = nl_backend_threads(threads, capped, sizeof capped);
    nl_kernels *k = NULL;
    char why[512] = "";
    if (strcmp(device, "cpu")) {
        k = open_cuda(threads, why, sizeof why);
        if (k)
            return k; /* the CPU's thread count does not matter there */
        if (!strcmp(device, "cuda")) {
            nl_fail(err, NL_ERR_USAGE, "device cuda unavailable: %s", why);
            return NULL;
        }
    }
    k = nl_kernels_cpu_create(threads);
    if (!k) {
        nl_fail(err, NL_ERR_RUN, "cannot create the CPU backend (out of memory)");
        return NULL;
    }
    if (notice && notice_len > 0) {
        if (why[0])
            snprintf(notice, (size_t)notice_len, "no CUDA backend (%s); using the CPU%s%s", why,
                     capped[0] ? "; " : "", capped);
        else
            snprintf(notice, (size_t)notice_len, "%s", capped);
    }
    return k;
}

void nl_backend_close(nl_kernels *k)
{
    if (k && k->destroy)
        k->destroy(k);
}
