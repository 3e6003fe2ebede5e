#include "markov.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nl_markov {
    int vocab, order;
    int64_t contexts; /* V^k */
    double *cdf;      /* (V^k, V) cumulative transition rows; the last entry of a row is 1 */
    double *pi_cdf;   /* (V^k) cumulative stationary distribution */
    double entropy_rate;
};

/* Stop the power iteration when one step moves pi by less than this in L1 norm. */
#define STATIONARY_TOL 1e-12
/* Give up after this many table entries visited (seconds), or 10^6 iterations. */
#define STATIONARY_MAX_WORK (1LL << 31)
#define STATIONARY_MAX_ITERS 1000000
/* Each step is pi <- LAZY pi + (1 - LAZY) pi P: the same fixed point as P, and the
 * eigenvalues on the unit circle other than 1 (periodic chains) move inside it. */
#define LAZY 0.05

static nl_markov *markov_alloc(int vocab, int order, nl_error *err)
{
    if (vocab < 2) {
        nl_fail(err, NL_ERR_USAGE, "markov source: data.vocab must be at least 2, got %d", vocab);
        return NULL;
    }
    if (order < 0) {
        nl_fail(err, NL_ERR_USAGE, "markov source: data.order must be >= 0, got %d", order);
        return NULL;
    }
    int64_t n = 1;
    for (int i = 0; i < order; i++) {
        n *= vocab;
        if (n > NL_MARKOV_MAX_CONTEXTS) {
            nl_fail(err, NL_ERR_USAGE,
                    "markov source: data.vocab^data.order = %d^%d exceeds the limit of %d "
                    "contexts (2^20)",
                    vocab, order, NL_MARKOV_MAX_CONTEXTS);
            return NULL;
        }
    }
    if (n * vocab > NL_MARKOV_MAX_ENTRIES) {
        nl_fail(err, NL_ERR_USAGE,
                "markov source: the transition table (%d^%d contexts x %d symbols) exceeds "
                "the limit of %d entries (2^24)",
                vocab, order, vocab, NL_MARKOV_MAX_ENTRIES);
        return NULL;
    }
    nl_markov *m = calloc(1, sizeof *m);
    if (m) {
        m->vocab = vocab;
        m->order = order;
        m->contexts = n;
        m->cdf = malloc((size_t)(n * vocab) * sizeof *m->cdf);
        m->pi_cdf = malloc((size_t)n * sizeof *m->pi_cdf);
    }
    if (!m || !m->cdf || !m->pi_cdf) {
        nl_markov_free(m);
        nl_fail(err, NL_ERR_RUN, "markov source: out of memory for %lld contexts", (long long)n);
        return NULL;
    }
    return m;
}

/* m->cdf holds probabilities on entry. Finds pi, H, and turns both tables cumulative. */
static int markov_finish(nl_markov *m, nl_error *err)
{
    const int64_t n = m->contexts;
    const int V = m->vocab;
    double *pi = malloc((size_t)n * sizeof *pi);
    double *next = malloc((size_t)n * sizeof *next);
    if (!pi || !next) {
        free(pi);
        free(next);
        return nl_fail(err, NL_ERR_RUN, "markov source: out of memory");
    }
    for (int64_t c = 0; c < n; c++)
        pi[c] = 1.0 / (double)n;

    int64_t max_iters = STATIONARY_MAX_WORK / (n * V);
    if (max_iters > STATIONARY_MAX_ITERS)
        max_iters = STATIONARY_MAX_ITERS;
    if (max_iters < 100)
        max_iters = 100;
    int converged = 0;
    int64_t it = 0;
    for (; it < max_iters && !converged; it++) {
        memset(next, 0, (size_t)n * sizeof *next);
        for (int64_t c = 0; c < n; c++) {
            const double *row = m->cdf + c * V;
            const int64_t base = (c * V) % n;
            if (n == 1) {
                next[0] += pi[c];
                continue;
            }
            for (int x = 0; x < V; x++)
                next[base + x] += pi[c] * row[x];
        }
        double sum = 0.0;
        for (int64_t c = 0; c < n; c++) {
            next[c] = LAZY * pi[c] + (1.0 - LAZY) * next[c];
            sum += next[c];
        }
        double diff = 0.0;
        for (int64_t c = 0; c < n; c++) {
            next[c] /= sum;
            diff += fabs(next[c] - pi[c]);
        }
        double *t = pi;
        pi = next;
        next = t;
        converged = diff < STATIONARY_TOL;
    }
    free(next);
    if (!converged) {
        free(pi);
        return nl_fail(err, NL_ERR_USAGE,
                       "markov source: the chain (data.vocab %d, data.order %d) mixes too slowly "
                       "for its stationary distribution to converge to %g in %lld iterations; "
                       "raise data.alpha or lower data.order",
                       V, m->order, STATIONARY_TOL, (long long)it);
    }

    double h = 0.0, acc = 0.0;
    for (int64_t c = 0; c < n; c++) {
        double *row = m->cdf + c * V;
        double hc = 0.0, run = 0.0;
        for (int x = 0; x < V; x++) {
            if (row[x] > 0.0)
                hc -= row[x] * log(row[x]);
            run += row[x];
            row[x] = run;
        }
        row[V - 1] = 1.0;
        h += pi[c] * hc;
        acc += pi[c];
        m->pi_cdf[c] = acc;
    }
    m->pi_cdf[n - 1] = 1.0;
    m->entropy_rate = h;
    free(pi);
    return 0;
}

nl_markov *nl_markov_create(int vocab, int order, double alpha, uint64_t seed, nl_error *err)
{
    if (!(alpha > 0.0) || !isfinite(alpha)) {
        nl_fail(err, NL_ERR_USAGE, "markov source: data.alpha must be > 0, got %g", alpha);
        return NULL;
    }
    nl_markov *m = markov_alloc(vocab, order, err);
    if (!m)
        return NULL;
    nl_rng rng;
    nl_rng_seed(&rng, seed);
    for (int64_t c = 0; c < m->contexts; c++) {
        double *row = m->cdf + c * vocab;
        double sum = 0.0;
        for (int x = 0; x < vocab; x++) {
            row[x] = nl_rng_gamma(&rng, alpha);
            sum += row[x];
        }
        if (sum > 0.0 && isfinite(sum)) {
            for (int x = 0; x < vocab; x++)
                row[x] /= sum;
        } else {
            /* every gamma sample underflowed (tiny alpha): the row is a point mass */
            int hot = (int)nl_rng_below(&rng, (uint64_t)vocab);
            for (int x = 0; x < vocab; x++)
                row[x] = x == hot ? 1.0 : 0.0;
        }
    }
    if (markov_finish(m, err)) {
        nl_markov_free(m);
        return NULL;
    }
    return m;
}

nl_markov *nl_markov_from_table(int vocab, int order, const double *probs, nl_error *err)
{
    nl_markov *m = markov_alloc(vocab, order, err);
    if (!m)
        return NULL;
    for (int64_t c = 0; c < m->contexts; c++) {
        double sum = 0.0;
        for (int x = 0; x < vocab; x++) {
            double p = probs[c * vocab + x];
            if (!(p >= 0.0) || p > 1.0) {
                nl_fail(err, NL_ERR_USAGE, "markov table: row %lld has probability %g",
                        (long long)c, p);
                nl_markov_free(m);
                return NULL;
            }
            sum += p;
        }
        if (fabs(sum - 1.0) > 1e-9) {
            nl_fail(err, NL_ERR_USAGE, "markov table: row %lld sums to %.12g, not 1", (long long)c,
                    sum);
            nl_markov_free(m);
            return NULL;
        }
    }
    memcpy(m->cdf, probs, (size_t)(m->contexts * vocab) * sizeof *m->cdf);
    if (markov_finish(m, err)) {
        nl_markov_free(m);
        return NULL;
    }
    return m;
}

void nl_markov_free(nl_markov *m)
{
    if (!m)
        return;
    free(m->cdf);
    free(m->pi_cdf);
    free(m);
}

int nl_markov_vocab(const nl_markov *m)
{
    return m->vocab;
}
int nl_markov_order(const nl_markov *m)
{
    return m->order;
}
int64_t nl_markov_contexts(const nl_markov *m)
{
    return m->contexts;
}
double nl_markov_entropy_rate(const nl_markov *m)
{
    return m->entropy_rate;
}

double nl_markov_prob(const nl_markov *m, int64_t ctx, int x)
{
    const double *row = m->cdf + ctx * m->vocab;
    return x == 0 ? row[0] : row[x] - row[x - 1];
}

double nl_markov_stationary(const nl_markov *m, int64_t ctx)
{
    return ctx == 0 ? m->pi_cdf[0] : m->pi_cdf[ctx] - m->pi_cdf[ctx - 1];
}

/* The first index i in [0, n) with u < cdf[i]; cdf is nondecreasing and cdf[n-1] = 1 > u.
 * Entries of zero probability repeat their predecessor and are never chosen. */
static int64_t search_cdf(const double *cdf, int64_t n, double u)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (u < cdf[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int64_t nl_markov_start(const nl_markov *m, nl_rng *r)
{
    return search_cdf(m->pi_cdf, m->contexts, nl_rng_uniform(r));
}

int nl_markov_sample(const nl_markov *m, int64_t ctx, nl_rng *r)
{
    return (int)search_cdf(m->cdf + ctx * m->vocab, m->vocab, nl_rng_uniform(r));
}

int64_t nl_markov_shift(const nl_markov *m, int64_t ctx, int x)
{
    return (ctx * m->vocab + x) % m->contexts;
}
