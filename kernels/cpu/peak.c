/* Measures the fp32 matmul peak through the backend's own matmul op, so that the figure is
 * what the engine's products can reach with the same BLAS and the same threading. */
#include <time.h>

#include "cpu.h"
#include "peak.h"

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double nl_cpu_sgemm_peak_gflops(int threads)
{
    enum { S = 1024, REPS = 5 };
    nl_kernels *k = nl_kernels_cpu_create(threads);
    if (!k)
        return 0;
    size_t bytes = sizeof(float) * S * S;
    float *a = k->alloc(k, bytes), *b = k->alloc(k, bytes), *c = k->alloc(k, bytes);
    double best = 0;
    if (a && b && c) {
        for (int i = 0; i < S * S; i++) {
            a[i] = (float)(i % 13) * 0.01f;
            b[i] = (float)(i % 7) * 0.02f;
        }
        double flops = 2.0 * S * S * S;
        for (int r = 0; r <= REPS; r++) {
            double t0 = seconds_now();
            k->matmul(k, c, a, b, S, S, S, 0, 0, S, S, S, 0, 0, 0, 1, 1.0f, 0.0f);
            double dt = seconds_now() - t0;
            if (r > 0 && dt > 0 && flops / dt > best) /* r == 0 is the warm-up */
                best = flops / dt;
        }
    }
    k->free(k, a);
    k->free(k, b);
    k->free(k, c);
    k->destroy(k);
    return best * 1e-9;
}
