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

/* x = n ln2 + r with |r| <= ln2/2; exp(r) by a degree-6 polynomial fitted for the least
 * largest relative error on that interval (1.9e-9); 2^n written into the exponent bits.
 * n is rounded by adding and subtracting 1.5 * 2^23, which leaves n in the low mantissa
 * bits of the sum (no conversion to an integer, so nothing undefined for a NaN). x is
 * clamped to [-87.3, 88.3] so 2^n stays a normal float: exp of a very negative x is ~1e-38
 * rather than 0, exp of a large x is ~2e38 rather than inf. NaN stays NaN (the comparisons
 * are false for it). */
static inline float nl_expf(float x)
{
    x = nl_selectf(x < -87.3f, -87.3f, x);
    x = nl_selectf(x > 88.3f, 88.3f, x);
    float t = x * 1.44269504f + 0x1.8p23f;
    float n = t - 0x1.8p23f;
    float r = x - n * 0.693145752f; /* ln2 split in a part exact in float and the rest */
    r = r - n * 1.42860677e-6f;
    float p = 0x1.6ab96ep-10f;
    p = 0x1.126d1ep-7f + r * p;
    p = 0x1.55589ap-5f + r * p;
    p = 0x1.55540ap-3f + r * p;
    p = 0x1.fffffap-2f + r * p;
    p = 1.0f + r * p;
    p = 1.0f + r * p;
    int32_t ti;
    memcpy(&ti, &t, sizeof ti);
    int32_t bits = (int32_t)(((uint32_t)ti << 23) + (127u << 23));
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#endif
