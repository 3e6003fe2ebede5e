/* Internals of the CPU backend shared by its files (not part of the kernels API). */
#ifndef NL_CPU_H
#define NL_CPU_H

#include <omp.h>
#include <stddef.h>

#include "../kernels.h"

/* The backend state behind nl_kernels.ctx. */
typedef struct nl_cpu_ctx {
    int threads;     /* OpenMP threads of every parallel op */
    char err[256];   /* last_error() text, "" when none */
    char desc[512];  /* describe() texts */
    char warn[256];
} nl_cpu_ctx;

/* An op runs its loop on several threads only when it touches more elements than this:
 * below it, waking the team costs more than it saves. */
#define NL_CPU_PAR_MIN 32768

/* The thread count of an op: the backend's setting, or OpenMP's default when an op is called
 * with no table (the double build used by the gradient checks). */
static inline int nl_cpu_threads(const nl_kernels *k)
{
    return k && k->ctx ? ((const nl_cpu_ctx *)k->ctx)->threads : omp_get_max_threads();
}

/* The SIMD level of an OpenBLAS kernel name (0 SSE, 1 AVX, 2 AVX2, 3 AVX-512; -1 unknown)
 * and of this CPU, so that a kernel older than the CPU can be named. */
int nl_cpu_kernel_level(const char *corename);
int nl_cpu_level(void);

/* The calling thread's float buffer `slot` (below), at least n floats, 64-byte aligned:
 * allocated the first time the thread needs one that large and kept, so that a training step
 * allocates nothing after its first; freed when the thread ends. NULL when memory runs out
 * (the caller then takes a path without it). */
enum { NL_SCRATCH_GEMM, NL_SCRATCH_ATTN, NL_SCRATCH_HEADT, NL_SCRATCH_SLOTS };
float *nl_cpu_scratch(int slot, size_t n);

/* Fill every op pointer of the table with the float ops (ops_f32.c). */
void nl_cpu_fill_ops_f32(nl_kernels *k);

#endif
