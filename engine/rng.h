/* A small, seedable, serialisable random generator (xoshiro256**), and the samplers the
 * engine needs. The state is four words so it can go into a checkpoint as it is. */
#ifndef NL_RNG_H
#define NL_RNG_H

#include <stdint.h>

typedef struct nl_rng {
    uint64_t s[4];
} nl_rng;

void nl_rng_seed(nl_rng *r, uint64_t seed); /* splitmix64 expansion of seed */
uint64_t nl_rng_u64(nl_rng *r);
double nl_rng_uniform(nl_rng *r);           /* [0, 1) with 53 random bits */
double nl_rng_normal(nl_rng *r);            /* standard normal (Box-Muller, no caching) */
double nl_rng_gamma(nl_rng *r, double shape); /* Marsaglia-Tsang; shape > 0 */
uint64_t nl_rng_below(nl_rng *r, uint64_t n); /* uniform in [0, n), unbiased */

#endif
