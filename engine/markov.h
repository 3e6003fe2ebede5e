/* The order-k Markov chain behind the `markov` data source (data.h).
 *
 * V symbols; a context is the last k symbols as a base-V number (oldest symbol most
 * significant), so there are V^k contexts and emitting x moves context c to
 * (c*V + x) mod V^k. Each context has a transition row over the V symbols. The exact entropy
 * rate H = sum_c pi(c) * H(row_c) (nats per symbol, pi the stationary distribution of the
 * context chain) is the lowest mean cross-entropy any model can reach on the chain's
 * output once it sees k symbols of context. */
#ifndef NL_MARKOV_H
#define NL_MARKOV_H

#include <stdint.h>

#include "error.h"
#include "rng.h"

#define NL_MARKOV_MAX_CONTEXTS (1 << 20) /* V^k */
#define NL_MARKOV_MAX_ENTRIES (1 << 24)  /* V^(k+1): the transition table, 8 bytes each */

typedef struct nl_markov nl_markov;

/* Rows drawn from a symmetric Dirichlet(alpha) (normalised gamma samples) with an nl_rng
 * seeded from seed. Errors: vocab < 2, order < 0, alpha <= 0, too many contexts. */
nl_markov *nl_markov_create(int vocab, int order, double alpha, uint64_t seed, nl_error *err);
/* A chain with the given transition table probs (V^k, V); each row must sum to 1. */
nl_markov *nl_markov_from_table(int vocab, int order, const double *probs, nl_error *err);
void nl_markov_free(nl_markov *m);

int nl_markov_vocab(const nl_markov *m);
int nl_markov_order(const nl_markov *m);
int64_t nl_markov_contexts(const nl_markov *m);
double nl_markov_entropy_rate(const nl_markov *m); /* nats per symbol */
/* P(next = x | context ctx); recovered from the cumulative table, so exact to ~1e-16. */
double nl_markov_prob(const nl_markov *m, int64_t ctx, int x);
double nl_markov_stationary(const nl_markov *m, int64_t ctx); /* pi(ctx) */

/* A context drawn from pi. */
int64_t nl_markov_start(const nl_markov *m, nl_rng *r);
/* The next symbol after context ctx. */
int nl_markov_sample(const nl_markov *m, int64_t ctx, nl_rng *r);
/* The context after emitting x in context ctx. */
int64_t nl_markov_shift(const nl_markov *m, int64_t ctx, int x);

#endif
