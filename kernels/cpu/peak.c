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

static double peak_at(nl_kernels *k, int n)
{
    enum { REPS = 5 };
    size_t count = (size_t)n * (size_t)n, bytes = sizeof(float) * count;
    float *h = malloc(bytes);
    float *a = k->alloc(k, bytes), *b = k->alloc(k, bytes), *c = k->alloc(k, bytes);
    double best = 0;
    if (h && a && b && c) {
        for (size_t i = 0; i < count; i++)
            h[i] = (float)(i % 13) * 0.01f - 0.06f;
        k->to_device(k, a, h, bytes);
        k->to_device(k, b, h, bytes);
        k->matmul(k, c, a, b, n, n, n, 0, 0, n, n, n, 0, 0, 0, 1, 1.0f, 0.0f); /* warm-up */
        k->sync(k);
        int inner = k->is_host ? 1 : 20;
        double flops = 2.0 * n * (double)n * n * inner;
        for (int r = 0; r < REPS; r++) {
            double t0 = seconds_now();
            for (int i = 0; i < inner; i++)
                k->matmul(k, c, a, b, n, n, n, 0, 0, n, n, n, 0, 0, 0, 1, 1.0f, 0.0f);
            k->sync(k);
            double dt = seconds_now() - t0;
            if (dt > 0 && flops / dt > best)
                best = flops / dt;
        }
    }
    if (a)
        k->free(k, a);
    if (b)
        k->free(k, b);
    if (c)
        k->free(k, c);
    free(h);
    return best * 1e-9;
}

/* On the host, the best of n^3 and (n-24)^3: a product whose rows lie 4 KB apart goes to
 * BLAS, the other to the backend's own kernel (gemm.c) when it has one, so the peak is the
 * better of the two implementations the engine runs. */
double nl_matmul_peak_gflops(nl_kernels *k, int n)
{
    double g = peak_at(k, n);
    if (k->is_host && n > 64) {
        double g2 = peak_at(k, n - 24);
        if (g2 > g)
            g = g2;
    }
    return g;
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
