/* The CPU backend's matrix product (kernels/cpu/gemm.c) against a variant of it, in one
 * process: on a shared or virtual machine whose speed drifts by tens of percent within
 * seconds, two whole-step benches rarely resolve a change of a few percent, while two kernels
 * timed in turns, shape by shape, under the same drift do.
 *
 * Built by `make gemm-ab VARIANT=file.c` from two copies of gemm.c, their entry points renamed
 * (base_*: the repository's, var_*: the variant's). For each product of a step of the shape
 * (D wide, N tokens: the forward's, dX's and dW's products of one layer and the head) it
 * first runs both on the same operands and compares C element by element; then it times
 * them in turns for ROUNDS rounds, the order alternating, each call on operands taken from a
 * pool far larger than the caches (as in a step, where a product's activations come from
 * memory). Prints each shape's GFLOP/s and the median of its rounds' speedups (base time
 * over variant time), then the median (min-max) over the rounds of the whole set's speedup.
 * Figures, not pass/fail; the exit status is 1 only when C differs.
 *
 *   build/bench/gemm_ab [--rounds R] [--d D] [--tokens N] [--vocab V]   (11, 128, 2048, 256) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../kernels/cpu/cpu.h"

typedef int (*gemm_fn)(float *c, const float *a, const float *b, int M, int N, int K,
                       int trans_a, int trans_b, int lda, int ldb, int ldc, float alpha,
                       float beta);
int base_gemm(float *, const float *, const float *, int, int, int, int, int, int, int, int,
              float, float);
int var_gemm(float *, const float *, const float *, int, int, int, int, int, int, int, int,
             float, float);

/* gemm.c's scratch (cpu.c keeps one per thread; here one thread) */
static float *scratch[NL_SCRATCH_SLOTS];
static size_t scratch_have[NL_SCRATCH_SLOTS];

float *nl_cpu_scratch(int slot, size_t n)
{
    if (slot < 0 || slot >= NL_SCRATCH_SLOTS)
        return NULL;
    if (scratch_have[slot] < n) {
        free(scratch[slot]);
        scratch[slot] = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
        scratch_have[slot] = scratch[slot] ? n : 0;
    }
    return scratch[slot];
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

typedef struct {
    const char *name;
    int M, N, K, ta, tb;
} shape;

/* The options, each a name and a whole number within its bounds; 2 (the message printed)
 * for anything else. */
static int parse_args(int argc, char **argv, int *R, int *D, int *T, int *V)
{
    static const char *names[] = {"--rounds", "--d", "--tokens", "--vocab"};
    static const long lo[] = {1, 16, 16, 16}, hi[] = {10000, 4096, 16384, 65536}; /* sizes: int */
    int *out[] = {R, D, T, V};
    for (int i = 1; i < argc; i += 2) {
        int o = 0;
        while (o < 4 && strcmp(argv[i], names[o]))
            o++;
        if (o == 4 || i + 1 >= argc) {
            fprintf(stderr, "gemm_ab: %s: %s\nusage: gemm_ab [--rounds R] [--d D] [--tokens N] "
                            "[--vocab V]\n",
                    argv[i], o == 4 ? "no such option" : "wants a number after it");
            return 2;
        }
        char *end;
        long v = strtol(argv[i + 1], &end, 10);
        if (end == argv[i + 1] || *end || v < lo[o] || v > hi[o]) {
            fprintf(stderr, "gemm_ab: %s %s: want a whole number from %ld to %ld\n", argv[i],
                    argv[i + 1], lo[o], hi[o]);
            return 2;
        }
        *out[o] = (int)v;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int R = 11, D = 128, T = 2048, V = 256;
    if (parse_args(argc, argv, &R, &D, &T, &V))
        return 2;
    const shape sh[] = {
        {"fwd qkv", T, 3 * D, D, 0, 0},  {"fwd proj", T, D, D, 0, 0},
        {"fwd up", T, 4 * D, D, 0, 0},   {"fwd down", T, D, 4 * D, 0, 0},
        {"fwd head", T, V, D, 0, 0},     {"dX qkv", T, D, 3 * D, 0, 1},
        {"dX up", T, D, 4 * D, 0, 1},    {"dX down", T, 4 * D, D, 0, 1},
        {"dW qkv", D, 3 * D, T, 1, 0},   {"dW up", D, 4 * D, T, 1, 0},
        {"dW down", 4 * D, D, T, 1, 0},  {"dW proj", D, D, T, 1, 0},
    };
    enum { NS = sizeof sh / sizeof sh[0], CALLS = 3 };
    size_t big = 0, cmax = 0;
    for (int s = 0; s < NS; s++) {
        size_t ab = (size_t)sh[s].M * sh[s].K + (size_t)sh[s].K * sh[s].N;
        size_t c = (size_t)sh[s].M * sh[s].N;
        big = ab > big ? ab : big;
        cmax = c > cmax ? c : cmax;
    }
    /* the pool: 64 MB or 8 of the largest operand pairs, whichever is more */
    size_t pool = (size_t)16 << 20;
    if (pool < 8 * big)
        pool = 8 * big;
    float *P = aligned_alloc(64, pool * sizeof(float));
    float *C0 = aligned_alloc(64, cmax * sizeof(float)), *C1 = aligned_alloc(64, cmax * sizeof(float));
    double *ratio = malloc(sizeof(double) * (size_t)NS * R), *tot = malloc(sizeof(double) * R);
    if (!P || !C0 || !C1 || !ratio || !tot) {
        fprintf(stderr, "gemm_ab: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < pool; i++)
        P[i] = (float)((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
    printf("gemm_ab: d %d, %d tokens, vocab %d; %d rounds, %d calls a shape and kernel a round, "
           "operands from a %zu MB pool\n",
           D, T, V, R, CALLS, pool * sizeof(float) >> 20);

    /* first the same operands through both: C must agree to the bit */
    int differ = 0;
    for (int s = 0; s < NS; s++) {
        const shape *q = &sh[s];
        int lda = q->ta ? q->M : q->K, ldb = q->tb ? q->K : q->N;
        const float *a = P, *b = P + (size_t)q->M * q->K;
        float beta = q->ta ? 1.0f : 0.0f; /* dW adds into the gradient */
        for (size_t i = 0; i < (size_t)q->M * q->N; i++)
            C0[i] = C1[i] = (float)(i % 7) * 0.25f;
        int t0 = base_gemm(C0, a, b, q->M, q->N, q->K, q->ta, q->tb, lda, ldb, q->N, 1, beta);
        int t1 = var_gemm(C1, a, b, q->M, q->N, q->K, q->ta, q->tb, lda, ldb, q->N, 1, beta);
        if (!t0 || !t1) {
            printf("gemm_ab: %s: the %s kernel does not take this product (a build without "
                   "AVX-512, NORMLAB_GEMM=blas, or a shape it leaves to BLAS): nothing to time\n",
                   q->name, !t0 ? "repository's" : "variant's");
            free(P), free(C0), free(C1), free(ratio), free(tot);
            return 2;
        }
        double worst = 0;
        size_t where = 0, n = 0;
        for (size_t i = 0; i < (size_t)q->M * q->N; i++)
            if (memcmp(&C0[i], &C1[i], sizeof(float))) {
                double d = C0[i] > C1[i] ? C0[i] - C1[i] : C1[i] - C0[i];
                if (n++ == 0 || d > worst)
                    worst = d, where = i;
            }
        if (n) {
            printf("%-9s C differs in %zu of %d elements, the most by %.3g at row %zu column "
                   "%zu\n",
                   q->name, n, q->M * q->N, worst, where / q->N, where % q->N);
            differ = 1;
        }
    }
    if (!differ)
        printf("C identical for every shape\n");

    double tb[NS], tv[NS];
    memset(tb, 0, sizeof tb);
    memset(tv, 0, sizeof tv);
    size_t off = 0;
    for (int r = 0; r < R; r++) {
        double sb = 0, sv = 0;
        for (int s = 0; s < NS; s++) {
            const shape *q = &sh[s];
            int lda = q->ta ? q->M : q->K, ldb = q->tb ? q->K : q->N;
            size_t need = (size_t)q->M * q->K + (size_t)q->K * q->N;
            double t[2];
            for (int v = 0; v < 2; v++) {
                int which = (r + s) & 1 ? 1 - v : v; /* the order alternates */
                gemm_fn f = which ? var_gemm : base_gemm;
                double t0 = now();
                for (int i = 0; i < CALLS; i++) {
                    if (off + need > pool)
                        off = 0;
                    const float *a = P + off, *b = P + off + (size_t)q->M * q->K;
                    off += need + 1024; /* each call on other operands */
                    f(C0, a, b, q->M, q->N, q->K, q->ta, q->tb, lda, ldb, q->N, 1,
                      q->ta ? 1.0f : 0.0f);
                }
                t[which] = now() - t0;
            }
            ratio[(size_t)s * R + r] = t[0] / t[1];
            tb[s] += t[0];
            tv[s] += t[1];
            sb += t[0];
            sv += t[1];
        }
        tot[r] = sb / sv;
    }
    printf("%-9s %5s %5s %5s  %12s %12s  %s\n", "product", "M", "N", "K", "base GFLOP/s",
           "var GFLOP/s", "speedup (median of rounds)");
    for (int s = 0; s < NS; s++) {
        const shape *q = &sh[s];
        double fl = 2.0 * q->M * q->N * (double)q->K * CALLS * R * 1e-9;
        qsort(ratio + (size_t)s * R, R, sizeof(double), cmp_double);
        printf("%-9s %5d %5d %5d  %12.1f %12.1f  %.3f\n", q->name, q->M, q->N, q->K, fl / tb[s],
               fl / tv[s], ratio[(size_t)s * R + R / 2]);
    }
    qsort(tot, R, sizeof(double), cmp_double);
    printf("all: speedup %.3f (%.3f-%.3f), median (min-max) of %d rounds\n", tot[R / 2], tot[0],
           tot[R - 1], R);
    free(P), free(C0), free(C1), free(ratio), free(tot);
    for (int i = 0; i < NL_SCRATCH_SLOTS; i++)
        free(scratch[i]);
    return differ;
}
