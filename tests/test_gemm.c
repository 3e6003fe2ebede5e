/* The CPU backend's own float matrix product (kernels/cpu/gemm.c) against a double-precision
 * product: every combination of transposes and beta, shapes with partial tiles, k longer than
 * one block, n wider than one block, padded leading dimensions (the padding must stay
 * untouched), the results of slabs equal to the whole, and the products it declines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/cpu/gemm.h"
#include "t.h"

static float urand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xFFFF) / 65536.0f - 0.5f;
}

typedef struct {
    int M, N, K, ta, tb, pad;
} shape;

static void fill(float *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = urand(&seed);
}

/* One product against the double reference, C's padding included. */
static void check_shape(shape s, float beta)
{
    int lda = (s.ta ? s.M : s.K) + s.pad, ldb = (s.tb ? s.K : s.N) + s.pad, ldc = s.N + s.pad;
    size_t na = (size_t)(s.ta ? s.K : s.M) * lda, nb = (size_t)(s.tb ? s.N : s.K) * ldb,
           nc = (size_t)s.M * ldc;
    float *a = malloc(sizeof(float) * na), *b = malloc(sizeof(float) * nb),
          *c = malloc(sizeof(float) * nc), *c0 = malloc(sizeof(float) * nc);
    fill(a, na, 1u + (uint32_t)s.M);
    fill(b, nb, 7u + (uint32_t)s.N);
    fill(c, nc, 13u + (uint32_t)s.K);
    memcpy(c0, c, sizeof(float) * nc);
    int took = nl_gemm_f32(c, a, b, s.M, s.N, s.K, s.ta, s.tb, lda, ldb, ldc, 1.0f, beta);
    T_CHECK(took == 1, "%dx%dx%d ta %d tb %d: declined", s.M, s.N, s.K, s.ta, s.tb);
    int bad = 0;
    for (int m = 0; m < s.M && took && bad < 3; m++) {
        for (int n = 0; n < ldc; n++) {
            float got = c[(size_t)m * ldc + n];
            if (n >= s.N) { /* padding: never written */
                if (got != c0[(size_t)m * ldc + n]) {
                    T_CHECK(0, "%dx%dx%d ta %d tb %d: padding (%d,%d) written", s.M, s.N, s.K,
                            s.ta, s.tb, m, n);
                    bad++;
                }
                continue;
            }
            double want = beta * (double)c0[(size_t)m * ldc + n], mag = fabs(want);
            for (int k = 0; k < s.K; k++) {
                double x = s.ta ? a[(size_t)k * lda + m] : a[(size_t)m * lda + k];
                double y = s.tb ? b[(size_t)n * ldb + k] : b[(size_t)k * ldb + n];
                want += x * y;
                mag += fabs(x * y);
            }
            /* float sums of K terms: error bounded by a few ulp of the sum of magnitudes */
            if (fabs(got - want) > 4e-7 * sqrt((double)s.K) * (mag + 1e-30) + 1e-30) {
                T_CHECK(0, "%dx%dx%d ta %d tb %d beta %g: C(%d,%d) = %.9g, want %.9g", s.M, s.N,
                        s.K, s.ta, s.tb, beta, m, n, got, want);
                bad++;
                break;
            }
        }
    }
    free(a);
    free(b);
    free(c);
    free(c0);
}

static const shape shapes[] = {
    {16, 16, 16, 0, 0, 0},     {37, 45, 300, 0, 0, 3},   {130, 530, 20, 0, 0, 1},
    {200, 96, 128, 0, 0, 0},   {25, 33, 517, 0, 0, 5},   {2048 / 16, 384, 128, 0, 1, 0},
    {12, 40, 16, 0, 0, 0},     {13, 17, 18, 0, 0, 0},    {100, 1100, 40, 0, 0, 2},
    {800, 48, 300, 0, 0, 1}, /* more rows than one run of strips (MC) */
};

static void test_all_forms(void)
{
    if (!nl_gemm_f32_enabled()) {
        t_skip(getenv("NORMLAB_GEMM") ? "NORMLAB_GEMM=blas is set"
                                       : "this build has no AVX-512: every product goes to BLAS");
        return;
    }
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bi = 0; bi < 2; bi++) {
                    shape s = shapes[i];
                    if (s.M < 16)
                        continue; /* declined below */
                    s.ta = ta;
                    s.tb = tb;
                    check_shape(s, (float)bi);
                }
}

/* The promise in gemm.h: each element's sum does not depend on how C is cut into slabs. */
static void test_slabs_equal_whole(void)
{
    if (!nl_gemm_f32_enabled()) {
        t_skip("the kernel is not in this build or is turned off");
        return;
    }
    enum { M = 100, N = 96, K = 700 };
    for (int ta = 0; ta < 2; ta++) {
        int lda = ta ? M : K;
        float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N),
              *whole = malloc(sizeof(float) * M * N), *parts = malloc(sizeof(float) * M * N);
        fill(a, (size_t)M * K, 3);
        fill(b, (size_t)K * N, 5);
        nl_gemm_f32(whole, a, b, M, N, K, ta, 0, lda, N, N, 1.0f, 0.0f);
        /* rows 0..48 and 48..100, then columns 0..32 and 32..96 of the first slab again */
        nl_gemm_f32(parts, a, b, 48, N, K, ta, 0, lda, N, N, 1.0f, 0.0f);
        nl_gemm_f32(parts + 48 * N, ta ? a + 48 : a + 48 * K, b, M - 48, N, K, ta, 0, lda, N, N,
                    1.0f, 0.0f);
        T_CHECK(memcmp(whole, parts, sizeof(float) * M * N) == 0, "ta %d: row slabs differ", ta);
        nl_gemm_f32(parts, a, b, 48, 32, K, ta, 0, lda, N, N, 1.0f, 0.0f);
        nl_gemm_f32(parts + 32, a, b + 32, 48, N - 32, K, ta, 0, lda, N, N, 1.0f, 0.0f);
        T_CHECK(memcmp(whole, parts, sizeof(float) * M * N) == 0, "ta %d: column slabs differ",
                ta);
        free(a);
        free(b);
        free(whole);
        free(parts);
    }
}

/* Declined products leave C alone and return 0, so the caller's BLAS call is the only one. */
static void test_declines(void)
{
    float a[64 * 64], b[64 * 64], c[64 * 64], c0[64 * 64];
    fill(a, 64 * 64, 1);
    fill(b, 64 * 64, 2);
    fill(c, 64 * 64, 3);
    memcpy(c0, c, sizeof c);
    T_CHECK(nl_gemm_f32(c, a, b, 32, 32, 32, 0, 0, 64, 64, 64, 2.0f, 0.0f) == 0, "alpha 2 taken");
    T_CHECK(nl_gemm_f32(c, a, b, 32, 32, 32, 0, 0, 64, 64, 64, 1.0f, 0.5f) == 0, "beta 0.5 taken");
    T_CHECK(nl_gemm_f32(c, a, b, 8, 32, 32, 0, 0, 64, 64, 64, 1.0f, 0.0f) == 0, "M 8 taken");
    T_CHECK(nl_gemm_f32(c, a, b, 32, 32, 8, 0, 0, 64, 64, 64, 1.0f, 0.0f) == 0, "K 8 taken");
    T_CHECK(memcmp(c, c0, sizeof c) == 0, "a declined product wrote C");
    float *big = calloc((size_t)32 * 1024, sizeof(float));
    T_CHECK(nl_gemm_f32(c, big, b, 32, 32, 32, 0, 0, 1024, 64, 64, 1.0f, 0.0f) == 0,
            "rows 4 KB apart taken");
    free(big);
}

/* NORMLAB_GEMM=blas turns the kernel off (checked in a child, as the setting is read once). */
static const char *self_path;

static void test_env_off(void)
{
    const char *self = self_path;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "NORMLAB_GEMM=blas '%s' --expect-off", self);
    T_CHECK(system(cmd) == 0, "with NORMLAB_GEMM=blas the kernel stayed on");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--expect-off") == 0)
        return nl_gemm_f32_enabled() ? 1 : 0;
    T_RUN(test_all_forms);
    T_RUN(test_slabs_equal_whole);
    T_RUN(test_declines);
    self_path = argv[0];
    T_RUN(test_env_off);
    T_END();
}
