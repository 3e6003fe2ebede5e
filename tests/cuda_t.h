/* What the CUDA op tests share (test_cuda.c, test_cuda_attn.c): the CUDA backend loaded with
 * dlopen as the main binary does, deterministic inputs, host and backend memory freed per case,
 * and the comparison of a case's outputs run twice on CUDA (the same bits) and once on the
 * CPU. See test_cuda.c for the method. */
#ifndef NL_TESTS_CUDA_T_H
#define NL_TESTS_CUDA_T_H
#pragma GCC diagnostic ignored "-Wunused-function"
#include <dlfcn.h>
#include <stdint.h>
#include <time.h>

#include "../kernels/kernels.h"
#include "cuda_load.h"
#include "t.h"

static nl_kernels *GPU, *CPU;

/* ---- deterministic inputs ---- */

static uint64_t rng_state;
static void rng_seed(uint64_t s)
{
    rng_state = s * 0x9E3779B97F4A7C15ull + 1;
}
static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
/* uniform in [-scale, scale) */
static float rng_f(float scale)
{
    return scale * ((float)(rng_u32() & 0xffffff) / 8388608.0f - 1.0f);
}

/* ---- host memory of one case, freed together ---- */

static void *host_bufs[256];
static int n_host;
static void *hkeep(void *p)
{
    if (n_host < 256)
        host_bufs[n_host++] = p;
    return p;
}
static void hfree_all(void)
{
    for (int i = 0; i < n_host; i++)
        free(host_bufs[i]);
    n_host = 0;
}
static float *hrand(int64_t n, float scale)
{
    float *h = hkeep(malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)));
    for (int64_t i = 0; i < n; i++)
        h[i] = rng_f(scale);
    return h;
}
static int32_t *hrand_int(int64_t n, int limit)
{
    int32_t *h = hkeep(malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1)));
    for (int64_t i = 0; i < n; i++)
        h[i] = (int32_t)(rng_u32() % (uint32_t)limit);
    return h;
}

/* ---- backend memory of one run, freed together ---- */

static nl_kernels *cur;
static void *dev_bufs[64];
static int n_dev;
static void *dalloc(size_t bytes)
{
    void *p = cur->alloc(cur, bytes);
    if (p && n_dev < 64)
        dev_bufs[n_dev++] = p;
    return p;
}
static void dfree_all(void)
{
    for (int i = 0; i < n_dev; i++)
        cur->free(cur, dev_bufs[i]);
    n_dev = 0;
}
/* A copy of host data on the backend. `pad` floats before it shift its alignment. */
static void *up_pad(const void *host, size_t bytes, int pad)
{
    char *p = dalloc(bytes + 16 * sizeof(float));
    if (!p)
        return NULL;
    p += pad * sizeof(float);
    cur->to_device(cur, p, host, bytes);
    return p;
}
static float *upf(const float *h, int64_t n)
{
    return up_pad(h, sizeof(float) * (size_t)n, 0);
}
static int32_t *upi(const int32_t *h, int64_t n)
{
    return up_pad(h, sizeof(int32_t) * (size_t)n, 0);
}
/* A NaN-filled backend buffer of n floats. */
static float *poison_pad(int64_t n, int pad)
{
    float *h = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        h[i] = NAN;
    float *d = up_pad(h, sizeof(float) * (size_t)n, pad);
    free(h);
    return d;
}
static float *poison(int64_t n)
{
    return poison_pad(n, 0);
}
/* n int32 filled with INT32_MIN, which no op writes. */
static int32_t *poison_int(int64_t n)
{
    int32_t *h = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        h[i] = INT32_MIN;
    int32_t *d = up_pad(h, sizeof(int32_t) * (size_t)n, 0);
    free(h);
    return d;
}

/* ---- results ---- */

#define MAX_OUT 8
typedef struct res {
    int n;
    const char *name[MAX_OUT];
    void *h[MAX_OUT];
    int64_t len[MAX_OUT];
    int is_int[MAX_OUT];
} res;

static void keep(res *r, const char *name, const void *d, int64_t n, int is_int)
{
    if (r->n >= MAX_OUT)
        return;
    void *h = hkeep(malloc(4 * (size_t)(n > 0 ? n : 1)));
    cur->to_host(cur, h, d, 4 * (size_t)n);
    r->name[r->n] = name;
    r->h[r->n] = h;
    r->len[r->n] = n;
    r->is_int[r->n] = is_int;
    r->n++;
}
static void keepf(res *r, const char *name, const float *d, int64_t n)
{
    keep(r, name, d, n, 0);
}
static void keepi(res *r, const char *name, const int32_t *d, int64_t n)
{
    keep(r, name, d, n, 1);
}

typedef void (*case_fn)(res *r, int variant);

/* Run fn on k with the inputs of `seed`. */
static void run_on(nl_kernels *k, case_fn fn, int variant, uint64_t seed, res *r)
{
    cur = k;
    rng_seed(seed);
    memset(r, 0, sizeof *r);
    fn(r, variant);
    k->sync(k);
    dfree_all();
}

static int verbose;

/* Compare fn's outputs: CUDA twice (bitwise), CUDA against CPU (tol). */
static void compare_variant(const char *label, case_fn fn, int variant, double tol)
{
    res a, b, c;
    uint64_t seed = 1000 + (uint64_t)variant * 7919;
    run_on(GPU, fn, variant, seed, &a);
    run_on(GPU, fn, variant, seed, &b);
    run_on(CPU, fn, variant, seed, &c);
    const char *ge = GPU->last_error(GPU);
    T_CHECK(ge[0] == 0, "%s: CUDA error: %s", label, ge);
    T_CHECK(a.n == c.n && a.n > 0, "%s: %d outputs on CUDA, %d on CPU", label, a.n, c.n);
    for (int i = 0; i < a.n && i < c.n; i++) {
        int64_t n = a.len[i];
        T_CHECK(memcmp(a.h[i], b.h[i], 4 * (size_t)n) == 0,
                "%s/%s: two CUDA runs differ (not deterministic)", label, a.name[i]);
        if (a.is_int[i]) {
            const int32_t *x = a.h[i], *y = c.h[i];
            for (int64_t j = 0; j < n; j++)
                if (x[j] != y[j]) {
                    T_CHECK(0, "%s/%s[%lld]: CUDA %d, CPU %d", label, a.name[i], (long long)j, x[j],
                            y[j]);
                    break;
                }
            continue;
        }
        const float *x = a.h[i], *y = c.h[i];
        double ss = 0;
        for (int64_t j = 0; j < n; j++)
            ss += (double)y[j] * y[j];
        double rms = n ? sqrt(ss / (double)n) : 0, worst = 0;
        int64_t worst_at = -1, nan_at = -1;
        for (int64_t j = 0; j < n; j++) {
            if (isnan(x[j]) || isnan(y[j])) {
                if (nan_at < 0)
                    nan_at = j;
                continue;
            }
            double scale = fmax(fabs((double)y[j]), rms);
            double e = scale > 0 ? fabs((double)x[j] - y[j]) / scale : fabs((double)x[j]);
            if (e > worst) {
                worst = e;
                worst_at = j;
            }
        }
        T_CHECK(nan_at < 0, "%s/%s[%lld]: NaN (unwritten output?): CUDA %g, CPU %g", label,
                a.name[i], (long long)nan_at, nan_at >= 0 ? x[nan_at] : 0.0,
                nan_at >= 0 ? y[nan_at] : 0.0);
        T_CHECK(worst <= tol, "%s/%s[%lld]: CUDA %.9g, CPU %.9g (error %.3g > %.3g)", label,
                a.name[i], (long long)worst_at, worst_at >= 0 ? x[worst_at] : 0.0,
                worst_at >= 0 ? y[worst_at] : 0.0, worst, tol);
        if (verbose)
            fprintf(stderr, "  %-28s %-8s n=%-8lld max err %.3g\n", label, a.name[i], (long long)n,
                    worst);
    }
    hfree_all();
}

static void compare_all(const char *label, case_fn fn, int variants, double tol)
{
    char name[64];
    for (int v = 0; v < variants; v++) {
        snprintf(name, sizeof name, "%s/%d", label, v);
        compare_variant(name, fn, v, tol);
    }
}

static char skip_reason[512];
static void cuda_ops(void)
{
    t_skip(skip_reason);
}
static int skip(const char *reason)
{
    if (reason != skip_reason)
        snprintf(skip_reason, sizeof skip_reason, "%s", reason);
    T_RUN(cuda_ops);
    return 0;
}

/* NORMLAB_CUDA_ONLY=NAME runs only the cases whose name holds NAME. */
static const char *only;
#define RUN(fn)                                                                                    \
    do {                                                                                           \
        if (!only || strstr(#fn, only))                                                            \
            T_RUN(fn);                                                                             \
    } while (0)

static nl_kernels_cuda_create_fn create_cuda;

/* Loads the CUDA backend into GPU (and a 1-thread CPU backend into CPU). Returns -1 when both
 * are ready, else main's exit status (after a SKIP or FAIL line). */
static int cuda_t_open(void)
{
    int broken;
    GPU = cuda_load(&create_cuda, skip_reason, sizeof skip_reason, &broken);
    if (!GPU) {
        if (broken) {
            printf("FAIL cuda_ops: %s\n", skip_reason);
            return 1;
        }
        return skip(skip_reason);
    }
    CPU = nl_kernels_cpu_create(1);
    verbose = getenv("NORMLAB_CUDA_VERBOSE") != NULL;
    only = getenv("NORMLAB_CUDA_ONLY");
    return -1;
}

static void cuda_t_close(void)
{
    CPU->destroy(CPU);
    GPU->destroy(GPU);
    /* the object stays loaded: the CUDA runtime's exit handlers live in it */
}

#endif
