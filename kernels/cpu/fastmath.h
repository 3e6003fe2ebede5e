/* exp for float that the compiler can vectorise (glibc's expf is a call that stays scalar
 * without -ffast-math). Used by the float build of the CPU ops in the hot loops: softmax,
 * cross-entropy, GELU, SiLU. Relative error about 2 ulp over the clamped range. */
#ifndef NL_CPU_FASTMATH_H
#define NL_CPU_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* c ? a : b on the bits: a plain ?: on floats stays a branch (and blocks vectorisation) when
 * the compiler must assume comparisons can trap. */
static inline float nl_selectf(int c, float a, float b)
{
    int32_t ia, ib, m = -c, r;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    r = (ia & m) | (ib & ~m);
    float f;
    memcpy(&f, &r, sizeof f);
    return f;
}

/* x = n ln2 + r with |r| <= ln2/2; exp(r) by its Taylor series to degree 7 (truncation below
 * 5e-9 relative); 2^n written into the exponent bits. x is clamped to [-87.3, 88.3] so 2^n
 * stays a normal float: exp of a very negative x is ~1e-38 rather than 0, exp of a large x
 * is ~2e38 rather than inf. NaN stays NaN. */
static inline float nl_expf(float x)
{
    x = nl_selectf(x < -87.3f, -87.3f, x);
    x = nl_selectf(x > 88.3f, 88.3f, x);
    /* n = round(x / ln2), by truncation of a positive number (floorf would not vectorise);
     * from 0 in place of a NaN, whose conversion to an integer is undefined (r keeps the NaN) */
    float xn = nl_selectf(x != x, 0.0f, x);
    int32_t ni = (int32_t)(xn * 1.44269504f + 128.5f) - 128;
    float n = (float)ni;
    float r = x - n * 0.693145752f; /* ln2 split in a part exact in float and the rest */
    r = r - n * 1.42860677e-6f;
    float p = 1.0f / 5040.0f + r * (1.0f / 40320.0f);
    p = 1.0f / 720.0f + r * p;
    p = 1.0f / 120.0f + r * p;
    p = 1.0f / 24.0f + r * p;
    p = 1.0f / 6.0f + r * p;
    p = 0.5f + r * p;
    p = 1.0f + r * p;
    p = 1.0f + r * p;
    int32_t bits = (int32_t)((uint32_t)(ni + 127) << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#endif
