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

/* One sample of that rate at a time, between other work (`normlab bench` takes one after
 * every timed step, so that each step's rate is set against the machine's speed of that
 * moment): buffers allocated once (NULL when they cannot be), each sample one product of n^3
 * and on the host one of (n - 24)^3, the better rate returned; no warm-up of its own. */
typedef struct nl_peak_sampler nl_peak_sampler;
nl_peak_sampler *nl_peak_sampler_create(nl_kernels *k, int n);
double nl_peak_sample(nl_peak_sampler *s);
void nl_peak_sampler_free(nl_peak_sampler *s);

/* The same through a CPU backend of its own on `threads` threads (< 1: one per core), at
 * n = 1024. Takes well under a second on a laptop core. */
double nl_cpu_sgemm_peak_gflops(int threads);

/* The cores' float multiply-add issue rate, in GFLOP/s: each of `threads` threads (< 1: one
 * per core) runs independent multiply-add chains held in registers, with the widest vectors
 * the CPU has (AVX-512, else AVX2 with FMA, else 4-wide vectors), nothing read from memory;
 * the best of a few samples of ~10 ms. No float product can run faster on these cores, so
 * it is the ceiling of any program's model FLOPs. *isa (when not NULL) is set to the kind of
 * vector used ("AVX-512", "AVX2+FMA", "4-wide"), *chains to the chains a thread runs. */
double nl_cpu_fma_peak_gflops(int threads, const char **isa, int *chains);

#endif
