/* Measures the fp32 matmul peak through the backend's own matmul op, so that the figure is
 * what the engine's products can reach with the same BLAS and the same threading. */
#include "peak.h"

#include <stdlib.h>
#include <time.h>

#include "cpu.h"

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
