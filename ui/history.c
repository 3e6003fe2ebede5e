#include "history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct bucket_stat {
    float min, max, sum;
    uint32_t cnt; /* values that were not NAN */
} bucket_stat;

typedef struct bucket {
    double step0, step1, tok0, tok1;
    int n;
} bucket;

struct history {
    int channels;
    /* recent steps: a ring of `recent` rows */
    int recent, r_head, r_len;
    double *r_step, *r_tok; /* (recent) */
    float *r_val;           /* (recent, channels) */
    /* older steps */
    int cap, nb;     /* bucket capacity (even), buckets in use */
    int width;       /* steps a full bucket covers */
    bucket *b;       /* (cap) */
    bucket_stat *bs; /* (cap, channels) */
    float *last;     /* (channels) latest non-NAN values */
    int64_t pushed;
};

history *history_create(int channels, int recent, int buckets)
{
    if (channels < 1)
        channels = 1;
    if (recent < 1)
        recent = 1;
    if (buckets < 2)
        buckets = 2;
    buckets += buckets & 1;
    history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->channels = channels;
    h->recent = recent;
    h->cap = buckets;
    h->r_step = malloc((size_t)recent * sizeof *h->r_step);
    h->r_tok = malloc((size_t)recent * sizeof *h->r_tok);
    h->r_val = malloc((size_t)recent * (size_t)channels * sizeof *h->r_val);
    h->b = malloc((size_t)buckets * sizeof *h->b);
    h->bs = malloc((size_t)buckets * (size_t)channels * sizeof *h->bs);
    h->last = malloc((size_t)channels * sizeof *h->last);
    if (!h->r_step || !h->r_tok || !h->r_val || !h->b || !h->bs || !h->last) {
        history_free(h);
        return NULL;
    }
    history_reset(h);
    return h;
}

history *history_create_budget(int channels, size_t bytes)
{
    if (channels < 1)
        channels = 1;
    /* a recent row costs 16 + 4C bytes, a bucket 40 + 16C; give them equal shares */
    size_t row = 16 + 4 * (size_t)channels, bk = 40 + 16 * (size_t)channels;
    long recent = (long)(bytes / 2 / row), buckets = (long)(bytes / 2 / bk);
    if (recent > 4096)
        recent = 4096;
    if (recent < 64)
        recent = 64;
    if (buckets > 2048)
        buckets = 2048;
    if (buckets < 32)
        buckets = 32;
    return history_create(channels, (int)recent, (int)buckets);
}

void history_free(history *h)
{
    if (!h)
        return;
    free(h->r_step);
    free(h->r_tok);
    free(h->r_val);
    free(h->b);
    free(h->bs);
    free(h->last);
    free(h);
}

void history_reset(history *h)
{
    h->r_head = h->r_len = 0;
    h->nb = 0;
    h->width = 1;
    h->pushed = 0;
    for (int c = 0; c < h->channels; c++)
        h->last[c] = NAN;
}

int history_channels(const history *h)
{
    return h->channels;
}
int history_len(const history *h)
{
    return h->nb + h->r_len;
}
int64_t history_pushed(const history *h)
{
    return h->pushed;
}

size_t history_bytes(const history *h)
{
    return sizeof *h + (size_t)h->recent * (16 + 4 * (size_t)h->channels) +
           (size_t)h->cap * (sizeof(bucket) + (size_t)h->channels * sizeof(bucket_stat)) +
           (size_t)h->channels * sizeof(float);
}

static void stat_add(bucket_stat *s, float v)
{
    if (isnan(v))
        return;
    if (s->cnt == 0 || v < s->min)
        s->min = v;
    if (s->cnt == 0 || v > s->max)
        s->max = v;
    s->sum += v;
    s->cnt++;
}

static void stat_merge(bucket_stat *a, const bucket_stat *b)
{
    if (b->cnt == 0)
        return;
    if (a->cnt == 0) {
        *a = *b;
        return;
    }
    if (b->min < a->min)
        a->min = b->min;
    if (b->max > a->max)
        a->max = b->max;
    a->sum += b->sum;
    a->cnt += b->cnt;
}

/* Halve the number of buckets by merging neighbours. */
static void compact(history *h)
{
    int C = h->channels, k = 0;
    for (int i = 0; i + 1 < h->nb; i += 2, k++) {
        bucket *a = &h->b[i], *b = &h->b[i + 1];
        h->b[k] = (bucket){a->step0, b->step1, a->tok0, b->tok1, a->n + b->n};
        bucket_stat *dst = &h->bs[(size_t)k * C];
        memmove(dst, &h->bs[(size_t)i * C], (size_t)C * sizeof *dst);
        for (int c = 0; c < C; c++)
            stat_merge(&dst[c], &h->bs[(size_t)(i + 1) * C + c]);
    }
    if (h->nb & 1) {
        int i = h->nb - 1;
        h->b[k] = h->b[i];
        memmove(&h->bs[(size_t)k * C], &h->bs[(size_t)i * C], (size_t)C * sizeof *h->bs);
        k++;
    }
    h->nb = k;
    h->width *= 2;
}

/* Move the oldest recent row into the buckets. */
static void retire_oldest(history *h)
{
    int C = h->channels;
    int tail = (h->r_head - h->r_len + h->recent) % h->recent;
    const float *v = &h->r_val[(size_t)tail * C];
    double step = h->r_step[tail], tok = h->r_tok[tail];
    h->r_len--;
    if (h->nb > 0 && h->b[h->nb - 1].n < h->width) {
        bucket *b = &h->b[h->nb - 1];
        b->step1 = step;
        b->tok1 = tok;
        b->n++;
        for (int c = 0; c < C; c++)
            stat_add(&h->bs[(size_t)(h->nb - 1) * C + c], v[c]);
        return;
    }
    if (h->nb == h->cap)
        compact(h);
    bucket *b = &h->b[h->nb];
    *b = (bucket){step, step, tok, tok, 1};
    bucket_stat *s = &h->bs[(size_t)h->nb * C];
    for (int c = 0; c < C; c++) {
        s[c] = (bucket_stat){0, 0, 0, 0};
        stat_add(&s[c], v[c]);
    }
    h->nb++;
}

void history_push(history *h, double step, double tokens, const float *values)
{
    int C = h->channels;
    if (h->r_len == h->recent)
        retire_oldest(h);
    int i = h->r_head;
    h->r_step[i] = step;
    h->r_tok[i] = tokens;
    memcpy(&h->r_val[(size_t)i * C], values, (size_t)C * sizeof *values);
    for (int c = 0; c < C; c++)
        if (!isnan(values[c]))
            h->last[c] = values[c];
    h->r_head = (i + 1) % h->recent;
    h->r_len++;
    h->pushed++;
}

/* Index into the recent ring of entry i (i >= nb). */
static int recent_slot(const history *h, int i)
{
    int k = i - h->nb; /* 0 = oldest recent row */
    return (h->r_head - h->r_len + k + 2 * h->recent) % h->recent;
}

void history_entry(const history *h, int i, hist_entry *e)
{
    if (i < 0 || i >= history_len(h)) {
        *e = (hist_entry){0, 0, 0, 0, 0};
        return;
    }
    if (i < h->nb) {
        const bucket *b = &h->b[i];
        *e = (hist_entry){b->step0, b->step1, b->tok0, b->tok1, b->n};
        return;
    }
    int s = recent_slot(h, i);
    *e = (hist_entry){h->r_step[s], h->r_step[s], h->r_tok[s], h->r_tok[s], 1};
}

static const bucket_stat *stat_of(const history *h, int i, int ch)
{
    return &h->bs[(size_t)i * h->channels + ch];
}

static float recent_val(const history *h, int i, int ch)
{
    return h->r_val[(size_t)recent_slot(h, i) * h->channels + ch];
}

float history_min(const history *h, int i, int ch)
{
    if (i < 0 || i >= history_len(h) || ch < 0 || ch >= h->channels)
        return NAN;
    if (i >= h->nb)
        return recent_val(h, i, ch);
    const bucket_stat *s = stat_of(h, i, ch);
    return s->cnt ? s->min : NAN;
}

float history_max(const history *h, int i, int ch)
{
    if (i < 0 || i >= history_len(h) || ch < 0 || ch >= h->channels)
        return NAN;
    if (i >= h->nb)
        return recent_val(h, i, ch);
    const bucket_stat *s = stat_of(h, i, ch);
    return s->cnt ? s->max : NAN;
}

float history_mean(const history *h, int i, int ch)
{
    if (i < 0 || i >= history_len(h) || ch < 0 || ch >= h->channels)
        return NAN;
    if (i >= h->nb)
        return recent_val(h, i, ch);
    const bucket_stat *s = stat_of(h, i, ch);
    return s->cnt ? s->sum / (float)s->cnt : NAN;
}

float history_last(const history *h, int ch)
{
    return ch >= 0 && ch < h->channels ? h->last[ch] : NAN;
}
