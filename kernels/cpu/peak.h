/* The machine's measured single-precision matmul rate, the denominator of model-FLOP
 * utilisation in `normlab bench`. */
#ifndef NL_CPU_PEAK_H
#define NL_CPU_PEAK_H

#include "../kernels.h"

/* Best rate, in GFLOP/s, of a few n x n x n fp32 matmuls run through backend k's matmul op
 * (host data copied in with to_device), after one warm-up; a device backend times 20
 * products a sample, as one is too short to time. On the host the better of n and n - 24
 * (peak.c says why). Returns 0 when the buffers cannot be allocated. */
double nl_matmul_peak_gflops(nl_kernels *k, int n);

/* The same through a CPU backend of its own on `threads` threads (< 1: one per core), at
 * n = 1024. Takes well under a second on a laptop core. */
double nl_cpu_sgemm_peak_gflops(int threads);

#endif
