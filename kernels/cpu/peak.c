/* Measures the fp32 matmul peak through the backend's own matmul op, so that the figure is
 * what the engine's products can reach with the same BLAS and the same threading. */
#include "peak.h"

#include <stdlib.h>
#include <time.h>

#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The buffers of a peak measurement, allocated once: n x n operands on the backend's side. */
struct nl_peak_sampler {
    nl_kernels *k;
    int n;
    float *a, *b, *c;
};

nl_peak_sampler *nl_peak_sampler_create(nl_kernels *k, int n)
{
    nl_peak_sampler *s = calloc(1, sizeof *s);
    size_t count = (size_t)n * (size_t)n, bytes = sizeof(float) * count;
    float *h = malloc(bytes);
    if (!s || !h) {
        free(s);
        free(h);
        return NULL;
    }
    s->k = k;
    s->n = n;
    s->a = k->alloc(k, bytes);
    s->b = k->alloc(k, bytes);
    s->c = k->alloc(k, bytes);
    if (!s->a || !s->b || !s->c) {
        free(h);
        nl_peak_sampler_free(s);
        return NULL;
    }
    for (size_t i = 0; i < count; i++)
        h[i] = (float)(i % 13) * 0.01f - 0.06f;
    k->to_device(k, s->a, h, bytes);
    k->to_device(k, s->b, h, bytes);
    free(h);
    return s;
}

void nl_peak_sampler_free(nl_peak_sampler *s)
{
    if (!s)
        return;
    if (s->a)
        s->k->free(s->k, s->a);
    if (s->b)
        s->k->free(s->k, s->b);
    if (s->c)
        s->k->free(s->k, s->c);
    free(s);
}

/* The rate of m x m x m products (m <= n) on the sampler's buffers: one on the host, 20 on a
 * device, where one is too short to time. */
static double sample_at(nl_peak_sampler *s, int m)
{
    nl_kernels *k = s->k;
    int inner = k->is_host ? 1 : 20;
    double t0 = seconds_now();
    for (int i = 0; i < inner; i++)
        k->matmul(k, s->c, s->a, s->b, m, m, m, 0, 0, m, m, m, 0, 0, 0, 1, 1.0f, 0.0f);
    k->sync(k);
    double dt = seconds_now() - t0;
    return dt > 0 ? 2.0 * m * (double)m * m * inner / dt * 1e-9 : 0;
}

/* On the host, the better of n^3 and (n-24)^3: a product whose rows lie 4 KB apart goes to
 * BLAS, the other to the backend's own kernel (gemm.c) when it has one, so the peak is the
 * better of the two implementations the engine runs. */
double nl_peak_sample(nl_peak_sampler *s)
{
    double g = sample_at(s, s->n);
    if (s->k->is_host && s->n > 64) {
        double g2 = sample_at(s, s->n - 24);
        if (g2 > g)
            g = g2;
    }
    return g;
}

double nl_matmul_peak_gflops(nl_kernels *k, int n)
{
    enum { REPS = 5 };
    nl_peak_sampler *s = nl_peak_sampler_create(k, n);
    if (!s)
        return 0;
    double best = 0;
    nl_peak_sample(s); /* warm-up */
    for (int r = 0; r < REPS; r++) {
        double g = nl_peak_sample(s);
        if (g > best)
            best = g;
    }
    nl_peak_sampler_free(s);
    return best;
}

double nl_cpu_sgemm_peak_gflops(int threads)
{
    nl_kernels *k = nl_kernels_cpu_create(threads);
    if (!k)
        return 0;
    double g = nl_matmul_peak_gflops(k, 1024);
    k->destroy(k);
    return g;
}

/* The multiply-add issue rate. A chain is acc = acc * m + a, which stays finite (it tends to
 * a / (1 - m)); there are enough chains that each one's latency is hidden behind the others
 * (two FMA units of 4 cycles' latency need 8; 24 fit the 32 AVX-512 registers, 12 the 16 AVX2
 * ones), and each thread's sums are returned, added up and kept, so that the work is not
 * optimised away. */
enum { FMA_CHAINS_512 = 24, FMA_CHAINS_256 = 12, FMA_CHAINS_128 = 12 };
static volatile float fma_sink;

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) static float fma_chains_512(long n)
{
    __m512 acc[FMA_CHAINS_512];
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
#pragma GCC unroll 24
    for (int j = 0; j < FMA_CHAINS_512; j++)
        acc[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < n; i++) {
#pragma GCC unroll 24
        for (int j = 0; j < FMA_CHAINS_512; j++)
            acc[j] = _mm512_fmadd_ps(acc[j], m, a);
    }
#pragma GCC unroll 24
    for (int j = 1; j < FMA_CHAINS_512; j++)
        acc[0] = _mm512_add_ps(acc[0], acc[j]);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"))) static float fma_chains_256(long n)
{
    __m256 acc[FMA_CHAINS_256];
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
#pragma GCC unroll 12
    for (int j = 0; j < FMA_CHAINS_256; j++)
        acc[j] = _mm256_set1_ps((float)j);
    for (long i = 0; i < n; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < FMA_CHAINS_256; j++)
            acc[j] = _mm256_fmadd_ps(acc[j], m, a);
    }
    float out[8];
#pragma GCC unroll 12
    for (int j = 1; j < FMA_CHAINS_256; j++)
        acc[0] = _mm256_add_ps(acc[0], acc[j]);
    _mm256_storeu_ps(out, acc[0]);
    return out[0] + out[7];
}
#endif

/* 4-wide vectors of the compiler's own (SSE, NEON, ...): a multiply and an add, which the
 * compiler fuses where the target has FMA */
typedef float nl_v4 __attribute__((vector_size(16)));
static float fma_chains_128(long n)
{
    nl_v4 acc[FMA_CHAINS_128];
    const nl_v4 m = {0.999999f, 0.999999f, 0.999999f, 0.999999f}, a = {1e-6f, 1e-6f, 1e-6f, 1e-6f};
#pragma GCC unroll 12
    for (int j = 0; j < FMA_CHAINS_128; j++)
        acc[j] = (nl_v4){(float)j, (float)j, (float)j, (float)j};
    for (long i = 0; i < n; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < FMA_CHAINS_128; j++)
            acc[j] = acc[j] * m + a;
    }
#pragma GCC unroll 12
    for (int j = 1; j < FMA_CHAINS_128; j++)
        acc[0] += acc[j];
    return acc[0][0] + acc[0][3];
}

double nl_cpu_fma_peak_gflops(int threads, const char **isa, int *chains)
{
    float (*run)(long) = fma_chains_128;
    int lanes = 4, ch = FMA_CHAINS_128;
    const char *what = "4-wide";
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        run = fma_chains_512, lanes = 16, ch = FMA_CHAINS_512, what = "AVX-512";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        run = fma_chains_256, lanes = 8, ch = FMA_CHAINS_256, what = "AVX2+FMA";
#endif
    if (isa)
        *isa = what;
    if (chains)
        *chains = ch;
    if (threads < 1)
        threads = omp_get_num_procs();
    /* ~10 ms a sample at 100 GFLOP/s a thread */
    const long n = (long)(1e9 / (2.0 * lanes * ch));
    double best = 0;
    for (int r = 0; r < 6; r++) { /* the first a warm-up (threads started, clocks up) */
        float sum = 0;
        double t0 = seconds_now();
#pragma omp parallel num_threads(threads) reduction(+ : sum)
        sum += run(n);
        double dt = seconds_now() - t0;
        fma_sink = sum;
        double g = dt > 0 ? 2.0 * lanes * ch * (double)n * threads / dt * 1e-9 : 0;
        if (r > 0 && g > best)
            best = g;
    }
    return best;
}
