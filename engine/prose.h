/* The built-in `prose` source: English-like text generated from a seed, so that lessons run
 * on data with the structure of real text (a Zipfian vocabulary spelt from syllables, a
 * grammar with number and tense agreement, paragraph topics and names that recur, quotes and
 * brackets that close, small code blocks) without a file to find. Byte-level, like `text:`. */
#ifndef NL_PROSE_H
#define NL_PROSE_H

#include <stddef.h>
#include <stdint.h>

/* Fill out[0..n) with the text of seed `seed`. The same (seed, n) gives the same bytes on
 * every machine; a shorter n gives a prefix of a longer one. Returns 0, or -1 when out of
 * memory. */
int nl_prose_generate(uint64_t seed, uint8_t *out, size_t n);

/* The entropy of the byte frequencies of p[0..n) in nats: the loss of a model that has
 * learned only which bytes are common ("the unigram level"). */
double nl_unigram_entropy(const uint8_t *p, size_t n);
/* The same from byte counts (count[b] of the n bytes are b), for a source read in pieces. */
double nl_unigram_entropy_counts(const uint64_t count[256], uint64_t n);

#endif
