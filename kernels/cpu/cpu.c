/* The CPU backend's table: host memory, thread settings and lifetime. The ops themselves are
 * in ops.inc (built as float by ops_f32.c). */
#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu.h"
#include "gemm.h"

static nl_cpu_ctx *cpu_ctx(nl_kernels *k)
{
    return (nl_cpu_ctx *)k->ctx;
}

/* 64-byte aligned (a cache line, a full AVX-512 vector), zero-filled; the size is rounded up
 * to a multiple of the alignment as aligned_alloc requires. */
static void *cpu_alloc(nl_kernels *k, size_t bytes)
{
    size_t n = (bytes + 63) / 64 * 64;
    if (n == 0)
        n = 64;
    if (n < bytes) {
        snprintf(cpu_ctx(k)->err, sizeof cpu_ctx(k)->err, "allocation of %zu bytes too large",
                 bytes);
        return NULL;
    }
    void *p = aligned_alloc(64, n);
    if (!p) {
        snprintf(cpu_ctx(k)->err, sizeof cpu_ctx(k)->err, "out of memory allocating %zu bytes",
                 bytes);
        return NULL;
    }
    memset(p, 0, n);
    return p;
}

static void cpu_free(nl_kernels *k, void *p)
{
    free(p);
}

static void cpu_copy(nl_kernels *k, void *dst, const void *src, size_t bytes)
{
    if (bytes)
        memcpy(dst, src, bytes);
}

static void cpu_zero(nl_kernels *k, void *p, size_t bytes)
{
    if (bytes)
        memset(p, 0, bytes);
}

static void cpu_sync(nl_kernels *k) {}

static const char *cpu_last_error(nl_kernels *k)
{
    return cpu_ctx(k)->err;
}

static void cpu_set_precision(nl_kernels *k, nl_precision p) {}

/* threads < 1 means one per core. OpenBLAS is kept single-threaded: the matmul op shares its
 * products out over OpenMP threads itself (ops.inc), so one pool of threads serves every op
 * and no BLAS threads spin on the cores between calls. */
static void cpu_set_threads(nl_kernels *k, int threads)
{
    if (threads < 1)
        threads = omp_get_num_procs();
    cpu_ctx(k)->threads = threads;
    omp_set_num_threads(threads);
    openblas_set_num_threads(1);
}

int nl_cpu_kernel_level(const char *corename)
{
    static const struct {
        const char *name;
        int level;
    } kernels[] = {{"sapphirerapids", 3}, {"cooperlake", 3}, {"skylakex", 3},
                   {"haswell", 2},        {"zen", 2},        {"excavator", 2},
                   {"sandybridge", 1},    {"bulldozer", 1},  {"piledriver", 1},
                   {"steamroller", 1},    {"nehalem", 0},    {"core2", 0},
                   {"penryn", 0},         {"dunnington", 0}, {"prescott", 0},
                   {"atom", 0},           {"barcelona", 0},  {"opteron", 0},
                   {"katmai", 0}};
    for (size_t i = 0; corename && i < sizeof kernels / sizeof kernels[0]; i++)
        if (!strcasecmp(corename, kernels[i].name))
            return kernels[i].level;
    return -1;
}

int nl_cpu_level(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return 3;
    if (__builtin_cpu_supports("avx2"))
        return 2;
    if (__builtin_cpu_supports("avx"))
        return 1;
    return 0;
}

static const char *level_coretype(int level)
{
    return level >= 3 ? "SkylakeX" : level == 2 ? "Haswell" : level == 1 ? "SandyBridge" : NULL;
}

const char *nl_cpu_native_coretype(const char **chose)
{
    const char *forced = getenv("OPENBLAS_CORETYPE"), *core = openblas_get_corename();
    *chose = core ? core : "?";
    if (forced && *forced)
        return NULL;
    int kl = nl_cpu_kernel_level(core), cl = nl_cpu_level();
    return kl >= 0 && kl < cl ? level_coretype(cl) : NULL;
}

/* The OpenBLAS kernel (a DYNAMIC_ARCH build picks one for the CPU at load, or takes
 * OPENBLAS_CORETYPE's), the threads and how they wait (libgomp read the environment when it
 * was loaded; see nl_backend_thread_env). */
static void cpu_describe(nl_kernels *k, const char **what, const char **warn)
{
    nl_cpu_ctx *c = cpu_ctx(k);
    const char *core = openblas_get_corename();
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    char wait[96];
    if (policy)
        snprintf(wait, sizeof wait, "OMP_WAIT_POLICY=%.40s", policy);
    else if (spin)
        snprintf(wait, sizeof wait, "GOMP_SPINCOUNT=%.40s", spin);
    else
        snprintf(wait, sizeof wait, "libgomp's default (spins at every barrier)");
    const char *gemm_env = getenv("NORMLAB_GEMM");
    int blas_asked = gemm_env && strcmp(gemm_env, "blas") == 0;
    snprintf(c->desc, sizeof c->desc,
             "OpenBLAS kernel %s (%s); %d OpenMP thread%s, waiting: %s; OpenBLAS threads %d; "
             "linear layers' products: %s",
             core, openblas_get_config(), c->threads, c->threads == 1 ? "" : "s", wait,
             openblas_get_num_threads(),
             nl_gemm_f32_enabled() ? "own AVX-512 kernel (NORMLAB_GEMM=blas: OpenBLAS)"
             : blas_asked             ? "OpenBLAS (NORMLAB_GEMM=blas)"
                                      : "OpenBLAS (this build has no AVX-512)");
    const char *chose = getenv("NORMLAB_OPENBLAS_CHOSE"), *forced = getenv("OPENBLAS_CORETYPE");
    if (chose && forced) {
        size_t used = strlen(c->desc);
        snprintf(c->desc + used, sizeof c->desc - used,
                 "; OPENBLAS_CORETYPE=%.32s set by normlab: OpenBLAS did not recognise this CPU "
                 "and chose %.32s",
                 forced, chose);
    }
    if (what)
        *what = c->desc;
    if (!warn)
        return;
    *warn = "";
    int kl = nl_cpu_kernel_level(core), cl = nl_cpu_level();
    static const char *const level_name[] = {"SSE", "AVX", "AVX2", "AVX-512"};
    if (kl < 0 || kl >= cl)
        return;
    if (forced && *forced)
        snprintf(c->warn, sizeof c->warn,
                 "OPENBLAS_CORETYPE=%.32s forces the %.32s kernel (%s) on a CPU with %s: "
                 "matmuls run slower than this machine allows (unset it for the native kernel)",
                 forced, core, level_name[kl], level_name[cl]);
    else
        /* a DYNAMIC_ARCH build older than the CPU does not know its model and falls back */
        snprintf(c->warn, sizeof c->warn,
                 "OpenBLAS did not recognise this CPU and runs its %.32s kernel (%s) on a CPU "
                 "with %s: its products run slower than this machine allows "
                 "(OPENBLAS_CORETYPE=%s selects its %s kernel)%s",
                 core, level_name[kl], level_name[cl], level_coretype(cl), level_name[cl],
                 nl_gemm_f32_enabled() ? "; the linear layers' products use normlab's own "
                                         "kernel either way"
                                       : "");
    *warn = c->warn;
}

static void cpu_destroy(nl_kernels *k)
{
    if (!k)
        return;
    free(k->ctx);
    free(k);
}

nl_kernels *nl_kernels_cpu_create(int threads)
{
    nl_kernels *k = calloc(1, sizeof *k);
    nl_cpu_ctx *ctx = calloc(1, sizeof *ctx);
    if (!k || !ctx) {
        free(k);
        free(ctx);
        return NULL;
    }
    k->name = "cpu";
    k->is_host = 1;
    /* 64-row blocks: at T = 256, 62% of the full products */
    k->attn_block_rows = 64;
    k->attn_block_from_T = 128;
    /* Flash attention (ops_attn_flash.inc) from T = 512 on, where the stored probabilities
     * (4 MB per layer at B 8, H 4, T 256) outgrow the caches: d128 L6, 1 thread, against the
     * stored probabilities, 0.98x at T 256, 1.07x at T 512, 1.17x at T 1024 (tokens/s). */
    k->attn_fused_from_T = 512;
    k->ctx = ctx;
    k->alloc = cpu_alloc;
    k->free = cpu_free;
    k->to_device = cpu_copy;
    k->to_host = cpu_copy;
    k->copy = cpu_copy;
    k->zero = cpu_zero;
    k->sync = cpu_sync;
    k->destroy = cpu_destroy;
    k->last_error = cpu_last_error;
    k->set_precision = cpu_set_precision;
    k->set_threads = cpu_set_threads;
    k->describe = cpu_describe;
    nl_cpu_fill_ops_f32(k);
    cpu_set_threads(k, threads);
    return k;
}

static __thread float *scratch_buf[NL_SCRATCH_SLOTS];
static __thread size_t scratch_cap[NL_SCRATCH_SLOTS];
static pthread_key_t scratch_key[NL_SCRATCH_SLOTS];
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_keys_make(void)
{
    for (int i = 0; i < NL_SCRATCH_SLOTS; i++)
        (void)pthread_key_create(&scratch_key[i], free);
}

float *nl_cpu_scratch(int slot, size_t n)
{
    if (scratch_cap[slot] >= n)
        return scratch_buf[slot];
    float *b = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!b)
        return NULL;
    pthread_once(&scratch_once, scratch_keys_make);
    free(scratch_buf[slot]);
    (void)pthread_setspecific(scratch_key[slot], b);
    scratch_buf[slot] = b;
    scratch_cap[slot] = n;
    return b;
}
