/* The machine's measured single-precision matmul rate, the denominator of model-FLOP
 * utilisation in `normlab bench`. */
#ifndef NL_CPU_PEAK_H
#define NL_CPU_PEAK_H

/* Best rate, in GFLOP/s, of a few 1024x1024x1024 fp32 matmuls run through the CPU backend's
 * matmul op on `threads` threads (< 1: one per core), after one warm-up. Takes well under a
 * second on a laptop core. Returns 0 when the buffers cannot be allocated. */
double nl_cpu_sgemm_peak_gflops(int threads);

#endif
