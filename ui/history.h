/* The history of one run at bounded memory: the most recent `recent` steps at full
 * resolution, and everything older in at most `buckets` buckets that keep, per channel, the
 * minimum, maximum and mean of the steps they cover. When the buckets fill up, neighbours
 * are merged pairwise (each bucket then covers twice as many steps), so memory never grows
 * and a spike a million steps ago still shows as a bucket's maximum.
 *
 * A row is a step: its step number, tokens so far, and `channels` floats (NAN = no value,
 * e.g. val_loss between evaluations). Entries are read oldest first: the buckets, then the
 * recent steps, each as a range of steps with min/max/mean per channel. */
#ifndef UI_HISTORY_H
#define UI_HISTORY_H

#include <stddef.h>
#include <stdint.h>

typedef struct history history;

typedef struct hist_entry {
    double step0, step1; /* first and last step covered */
    double tok0, tok1;   /* tokens at those steps */
    int n;               /* steps covered */
} hist_entry;

/* recent >= 1, buckets >= 2 (rounded up to even). NULL when out of memory. */
history *history_create(int channels, int recent, int buckets);
/* Sizes recent and buckets so that the history takes about `bytes`. */
history *history_create_budget(int channels, size_t bytes);
void history_free(history *h);
void history_reset(history *h);

void history_push(history *h, double step, double tokens, const float *values);

int history_channels(const history *h);
int history_len(const history *h);        /* entries: buckets then recent steps */
int64_t history_pushed(const history *h); /* rows pushed since create/reset */
size_t history_bytes(const history *h);   /* memory held */

/* Entry i (0 = oldest). Out of range entries come back with n = 0. */
void history_entry(const history *h, int i, hist_entry *e);
/* Per channel statistics of entry i; NAN when the entry has no value for the channel. */
float history_min(const history *h, int i, int ch);
float history_max(const history *h, int i, int ch);
float history_mean(const history *h, int i, int ch);
/* The most recent value of channel ch that is not NAN (NAN when none). */
float history_last(const history *h, int ch);

#endif
