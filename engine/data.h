/* Data sources (DESIGN.md section 6): the built-in order-k Markov source, the bytes of any
 * file, and llm.c token shards. Every source gives training batches from a seeded, resumable
 * position, a held-out split for validation, and consecutive windows for `normlab eval`. */
#ifndef NL_DATA_H
#define NL_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

typedef struct nl_data nl_data;

/* Open the source of dc ("markov", "prose", "text:PATH", "tokens:PATH") for windows of seq_len+1
 * tokens. train_seed seeds the order in which training windows are drawn. Errors name the
 * file (missing, empty, shorter than a window, bad shard magic/version, token >= vocab). */
nl_data *nl_data_open(const nl_data_config *dc, int seq_len, uint64_t train_seed, nl_error *err);
void nl_data_close(nl_data *d);

int nl_data_vocab(const nl_data *d); /* markov: dc->vocab; text: 256; tokens: max token + 1 */
/* The exact entropy rate of the markov source in nats per token (the loss floor);
 * NAN for other sources. */
double nl_data_entropy_floor(const nl_data *d);
/* text and prose: the entropy of the byte frequencies of the training split in nats, the
 * loss of a model stuck at "which bytes are common"; NAN for markov and tokens. */
double nl_data_unigram_level(const nl_data *d);
const char *nl_data_describe(const nl_data *d); /* one line, e.g. "markov V=64 k=1 floor 2.93" */

/* Next training batch: tokens (B,T) and targets (B,T) = tokens shifted by one. Advances the
 * position. */
int nl_data_next_batch(nl_data *d, int32_t *tokens, int32_t *targets, int B, nl_error *err);
/* Validation batch `index` of the held-out split; deterministic, independent of the
 * training position. */
int nl_data_val_batch(nl_data *d, int index, int32_t *tokens, int32_t *targets, int B,
                      nl_error *err);
/* Batch `index` of consecutive, non-overlapping windows of seq_len+1 tokens read from the
 * start of the whole source (for `normlab eval`); markov: of the held-out stream. Returns
 * NL_ERR_USAGE when the source has too few windows. */
int nl_data_seq_batch(nl_data *d, int64_t index, int32_t *tokens, int32_t *targets, int B,
                      nl_error *err);

/* Position state for checkpoints (opaque, fixed size for a given source). */
size_t nl_data_state_size(const nl_data *d);
void nl_data_get_state(const nl_data *d, void *buf);
int nl_data_set_state(nl_data *d, const void *buf, size_t len, nl_error *err);

#endif
