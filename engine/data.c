/* Data sources. A window is seq_len+1 consecutive tokens w[0..T]; a batch row takes
 * tokens = w[0..T-1] and targets = w[1..T].
 *
 * markov: every training row is a fresh window: a context drawn from the stationary
 *   distribution pi (the k symbols before the window, not shown), then T+1 symbols of the
 *   chain. The window is therefore stationary, but the model sees no symbol before w[0]: the
 *   target at position t is predicted from t+1 symbols, so for order k the first k-1
 *   positions (targets w[1..k-1]) see less than the k symbols they depend on and cannot
 *   reach the entropy rate H. The mean loss floor over a window of T is thus slightly above
 *   H; the floor reported (nl_data_entropy_floor) is H itself.
 * text/tokens: the last val_fraction of the tokens is held out. Training windows start at
 *   uniform positions of the training split; validation windows sit at fixed consecutive
 *   positions of the held-out split.
 *
 * The training position is one nl_rng (seeded from train_seed) and nothing else, so the
 * state blob restores it exactly.
 *
 * Files are read with pread, window by window, not mapped: a file cut short while a run
 * reads it (another program rewriting it) is then an error naming the file, where a mapping
 * would kill the process with SIGBUS. */
#include "data.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_io.h"
#include "markov.h"
#include "prose.h"
#include "rng.h"
#include "xalloc.h"

typedef enum { SRC_MARKOV = 0, SRC_TEXT, SRC_TOKENS, SRC_PROSE } src_kind;

/* The prose source's length: about 700k words, far more than a lesson reads. */
#define PROSE_BYTES ((size_t)4 << 20)
#define UNIGRAM_SAMPLE ((int64_t)64 << 20)

#define SHARD_MAGIC 20240520
#define SHARD_VERSION 1
#define SHARD_HEADER_BYTES (256 * 4)

/* Salts that separate the generators drawn from one seed. */
#define SALT_TRAIN 0x747261696e000001ULL
#define SALT_VAL 0x76616c0000000002ULL
#define SALT_SEQ 0x7365710000000003ULL

#define STATE_MAGIC 0x53444c4eu /* "NLDS" */

typedef struct data_state {
    uint32_t magic, kind;
    uint64_t ident; /* which source: token count, or vocab/order/seed for markov */
    uint64_t rng[4];
} data_state;

struct nl_data {
    src_kind kind;
    int T; /* seq_len; a window is T+1 tokens */
    int vocab;
    nl_rng train; /* the training position */
    uint64_t ident;
    char path[512];
    char describe[640];

    /* markov */
    nl_markov *chain;
    uint64_t data_seed;
    nl_rng seq_rng; /* the held-out stream of nl_data_seq_batch, at window seq_next */
    int64_t seq_ctx, seq_next;
    int seq_valid;

    /* text / tokens: the open file; prose: the generated text (owned) */
    uint8_t *prose;
    double unigram;         /* text, prose: entropy of the byte frequencies of the training split */
    int fd;                 /* text, tokens: -1 otherwise */
    uint64_t file_len;      /* bytes of the file when opened */
    uint64_t first;         /* byte offset of token 0 in the file */
    uint8_t *win;           /* one window's bytes, read from the file: (T+1) * 2 */
    const uint8_t *bytes;   /* prose */
    int64_t n;              /* tokens in the source */
    int64_t n_train, n_val; /* the split: [0, n_train) and [n_train, n) */
};

static uint64_t mix64(uint64_t a, uint64_t b)
{
    uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static const char *kind_name(src_kind k)
{
    return k == SRC_MARKOV  ? "markov"
           : k == SRC_TEXT  ? "text"
           : k == SRC_PROSE ? "prose"
                            : "tokens";
}

/* Read n bytes at byte offset `at` of the file; a short read means the file was cut back
 * after it was opened. */
static int file_read(const nl_data *d, void *buf, size_t n, uint64_t at, nl_error *err)
{
    nl_error e = {0};
    if (nl_pread_all(d->fd, d->path, buf, n, at, &e) == 0)
        return 0;
    struct stat st;
    if (fstat(d->fd, &st) == 0 && (uint64_t)st.st_size < at + n)
        return nl_fail(err, NL_ERR_RUN,
                       "%s file '%s' was cut short while in use: %lld bytes now, %llu when "
                       "opened (restore it, then resume from the last checkpoint)",
                       kind_name(d->kind), d->path, (long long)st.st_size,
                       (unsigned long long)d->file_len);
    return nl_fail(err, NL_ERR_RUN, "%s file: %s", kind_name(d->kind), e.msg);
}

/* Window of the source starting at token `start` into one row. */
static int file_window(const nl_data *d, int64_t start, int32_t *tokens, int32_t *targets,
                       nl_error *err)
{
    const int T = d->T;
    if (d->kind == SRC_PROSE) {
        for (int t = 0; t < T; t++) {
            tokens[t] = d->bytes[start + t];
            targets[t] = d->bytes[start + t + 1];
        }
        return 0;
    }
    size_t es = d->kind == SRC_TOKENS ? 2 : 1;
    if (file_read(d, d->win, es * (size_t)(T + 1), d->first + es * (uint64_t)start, err))
        return err ? err->code : NL_ERR_RUN;
    for (int t = 0; t <= T; t++) {
        int32_t x =
            es == 2 ? (int32_t)(d->win[2 * t] | (d->win[2 * t + 1] << 8)) : (int32_t)d->win[t];
        if (t < T)
            tokens[t] = x;
        if (t > 0)
            targets[t - 1] = x;
    }
    return 0;
}

/* T+1 symbols of the chain from context *ctx (advanced) into one row. */
static void chain_window(const nl_data *d, nl_rng *r, int64_t *ctx, int32_t *tokens,
                         int32_t *targets)
{
    for (int t = 0; t <= d->T; t++) {
        int x = nl_markov_sample(d->chain, *ctx, r);
        *ctx = nl_markov_shift(d->chain, *ctx, x);
        if (t < d->T)
            tokens[t] = x;
        if (t > 0)
            targets[t - 1] = x;
    }
}

/* Open the file of a text: or tokens: source: a regular, non-empty file. */
static int open_file(nl_data *d, nl_error *err)
{
    const char *what = kind_name(d->kind);
    nl_error e = {0};
    if (nl_open_read(d->path, &d->fd, &d->file_len, &e)) {
        d->fd = -1;
        return nl_fail(
            err, e.code == NL_ERR_IO && strstr(e.msg, "not a regular") ? NL_ERR_USAGE : e.code,
            "%s file '%s': %s", what, d->path,
            strstr(e.msg, ": ") ? strstr(e.msg, ": ") + 2 : e.msg);
    }
    if (d->file_len == 0)
        return nl_fail(err, NL_ERR_USAGE, "%s file '%s': the file is empty", what, d->path);
    d->win = nl_malloc((size_t)(d->T + 1) * 2);
    if (!d->win)
        return nl_fail(err, NL_ERR_RUN, "data: out of memory");
    return 0;
}

static int open_shard(nl_data *d, nl_error *err)
{
    if (d->file_len < SHARD_HEADER_BYTES)
        return nl_fail(err, NL_ERR_USAGE,
                       "tokens file '%s': truncated header (%llu bytes, a shard header is %d)",
                       d->path, (unsigned long long)d->file_len, SHARD_HEADER_BYTES);
    unsigned char hb[12];
    if (file_read(d, hb, sizeof hb, 0, err))
        return err ? err->code : NL_ERR_RUN;
    int32_t header[3];
    for (int i = 0; i < 3; i++)
        header[i] = (int32_t)nl_get_u32le(hb + 4 * i);
    if (header[0] != SHARD_MAGIC)
        return nl_fail(err, NL_ERR_USAGE,
                       "tokens file '%s': bad magic %d (expected %d, an llm.c token shard)",
                       d->path, header[0], SHARD_MAGIC);
    if (header[1] != SHARD_VERSION)
        return nl_fail(err, NL_ERR_USAGE, "tokens file '%s': unsupported version %d (expected %d)",
                       d->path, header[1], SHARD_VERSION);
    if (header[2] <= 0)
        return nl_fail(err, NL_ERR_USAGE, "tokens file '%s': the header declares %d tokens",
                       d->path, header[2]);
    int64_t held = (int64_t)(d->file_len - SHARD_HEADER_BYTES) / 2;
    if (held < header[2])
        return nl_fail(err, NL_ERR_USAGE,
                       "tokens file '%s': truncated: the header declares %d tokens, the file "
                       "holds %lld",
                       d->path, header[2], (long long)held);
    d->n = header[2];
    d->first = SHARD_HEADER_BYTES;
    /* the vocabulary: the largest token, read in pieces */
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = nl_malloc(CHUNK);
    if (!buf)
        return nl_fail(err, NL_ERR_RUN, "data: out of memory");
    int32_t max = 0;
    for (uint64_t at = 0, total = 2 * (uint64_t)d->n; at < total;) {
        size_t k = total - at < CHUNK ? (size_t)(total - at) : CHUNK;
        if (file_read(d, buf, k, d->first + at, err)) {
            free(buf);
            return err ? err->code : NL_ERR_RUN;
        }
        for (size_t i = 0; i + 1 < k; i += 2) {
            int32_t x = buf[i] | (buf[i + 1] << 8);
            if (x > max)
                max = x;
        }
        at += k;
    }
    free(buf);
    d->vocab = max + 1;
    return 0;
}

/* The unigram level of a text file: byte counts over its first n bytes, read in pieces. */
static int file_unigram(nl_data *d, int64_t n, nl_error *err)
{
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = nl_malloc(CHUNK);
    if (!buf)
        return nl_fail(err, NL_ERR_RUN, "data: out of memory");
    uint64_t count[256] = {0};
    for (int64_t at = 0; at < n;) {
        size_t k = n - at < CHUNK ? (size_t)(n - at) : CHUNK;
        if (file_read(d, buf, k, d->first + (uint64_t)at, err)) {
            free(buf);
            return err ? err->code : NL_ERR_RUN;
        }
        for (size_t i = 0; i < k; i++)
            count[buf[i]]++;
        at += (int64_t)k;
    }
    free(buf);
    d->unigram = nl_unigram_entropy_counts(count, (uint64_t)n);
    return 0;
}

/* The held-out split of a file or prose source of d->n tokens, checked against a window. */
static int split_source(nl_data *d, const nl_data_config *dc, nl_error *err)
{
    const char *what = kind_name(d->kind);
    const int64_t w = (int64_t)d->T + 1;
    if (d->n < w)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s file '%s': too short for one window: %lld tokens, a window is "
                       "seq_len+1 = %lld",
                       what, d->path, (long long)d->n, (long long)w);
    double vf = dc->val_fraction;
    if (!(vf >= 0.0 && vf < 1.0))
        return nl_fail(err, NL_ERR_USAGE, "data.val_fraction: expected a value in [0, 1), got %g",
                       vf);
    d->n_val = (int64_t)floor((double)d->n * vf);
    d->n_train = d->n - d->n_val;
    if (d->n_val > 0 && d->n_val < w)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s file '%s': the held-out split (last %g of %lld tokens = %lld) is "
                       "shorter than one window of %lld; lower data.val_fraction or "
                       "model.seq_len",
                       what, d->path, vf, (long long)d->n, (long long)d->n_val, (long long)w);
    if (d->n_train < w)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s file '%s': the training split (%lld tokens) is shorter than one "
                       "window of %lld; lower data.val_fraction",
                       what, d->path, (long long)d->n_train, (long long)w);
    d->ident = (uint64_t)d->n;
    /* from the first 64 MiB of the split at most: opening a large text: file (and every
     * `normlab watch` of its runs) must not read all of it for a reference line */
    int64_t sample = d->n_train < UNIGRAM_SAMPLE ? d->n_train : UNIGRAM_SAMPLE;
    if (d->kind == SRC_PROSE)
        d->unigram = nl_unigram_entropy(d->bytes, (size_t)sample);
    else if (d->kind == SRC_TEXT && file_unigram(d, sample, err))
        return err ? err->code : NL_ERR_RUN;
    if (d->kind == SRC_PROSE)
        snprintf(d->describe, sizeof d->describe,
                 "prose (built in, seed %llu): %lld bytes (train %lld, held-out %lld), "
                 "unigram level %.3g",
                 (unsigned long long)dc->seed, (long long)d->n, (long long)d->n_train,
                 (long long)d->n_val, d->unigram);
    else if (d->kind == SRC_TEXT)
        snprintf(d->describe, sizeof d->describe, "text %s: %lld bytes (train %lld, held-out %lld)",
                 d->path, (long long)d->n, (long long)d->n_train, (long long)d->n_val);
    else
        snprintf(d->describe, sizeof d->describe,
                 "tokens %s: %lld tokens, vocab %d (train %lld, held-out %lld)", d->path,
                 (long long)d->n, d->vocab, (long long)d->n_train, (long long)d->n_val);
    return 0;
}

static int open_file_source(nl_data *d, const nl_data_config *dc, nl_error *err)
{
    if (open_file(d, err))
        return err ? err->code : NL_ERR_IO;
    if (d->kind == SRC_TEXT) {
        d->n = (int64_t)d->file_len;
        d->vocab = 256;
    } else if (open_shard(d, err)) {
        return err ? err->code : NL_ERR_USAGE;
    }
    return split_source(d, dc, err);
}

static int open_prose(nl_data *d, const nl_data_config *dc, nl_error *err)
{
    d->prose = nl_malloc(PROSE_BYTES);
    if (!d->prose || nl_prose_generate(dc->seed, d->prose, PROSE_BYTES))
        return nl_fail(err, NL_ERR_RUN, "data: out of memory for the prose source");
    d->bytes = d->prose;
    d->n = (int64_t)PROSE_BYTES;
    d->vocab = 256;
    snprintf(d->path, sizeof d->path, "(built in)");
    if (split_source(d, dc, err))
        return err ? err->code : NL_ERR_USAGE;
    d->ident = mix64((uint64_t)d->n, dc->seed);
    return 0;
}

nl_data *nl_data_open(const nl_data_config *dc, int seq_len, uint64_t train_seed, nl_error *err)
{
    if (seq_len < 1) {
        nl_fail(err, NL_ERR_USAGE, "model.seq_len: expected at least 1, got %d", seq_len);
        return NULL;
    }
    nl_data *d = nl_calloc(1, sizeof *d);
    if (!d) {
        nl_fail(err, NL_ERR_RUN, "data: out of memory");
        return NULL;
    }
    d->T = seq_len;
    d->fd = -1;
    nl_rng_seed(&d->train, mix64(train_seed, SALT_TRAIN));

    const char *src = dc->source;
    int rc = 0;
    if (strcmp(src, "markov") == 0) {
        d->kind = SRC_MARKOV;
        d->data_seed = dc->seed;
        d->chain = nl_markov_create(dc->vocab, dc->order, dc->alpha, dc->seed, err);
        if (!d->chain) {
            rc = 1;
        } else {
            d->vocab = dc->vocab;
            uint32_t alpha_bits;
            memcpy(&alpha_bits, &dc->alpha, sizeof alpha_bits);
            d->ident =
                mix64(mix64(mix64((uint64_t)dc->vocab, (uint64_t)dc->order), dc->seed), alpha_bits);
            snprintf(d->describe, sizeof d->describe, "markov V=%d k=%d floor %.3g", dc->vocab,
                     dc->order, nl_markov_entropy_rate(d->chain));
        }
    } else if (strcmp(src, "prose") == 0) {
        d->kind = SRC_PROSE;
        rc = open_prose(d, dc, err);
    } else if (strncmp(src, "text:", 5) == 0 || strncmp(src, "tokens:", 7) == 0) {
        d->kind = strncmp(src, "text:", 5) == 0 ? SRC_TEXT : SRC_TOKENS;
        const char *path = strchr(src, ':') + 1;
        if (!*path) {
            rc = nl_fail(err, NL_ERR_USAGE, "data.source: '%s' names no file", src);
        } else if (strlen(path) >= sizeof d->path) {
            rc = nl_fail(err, NL_ERR_USAGE, "data.source: the path is too long");
        } else {
            snprintf(d->path, sizeof d->path, "%s", path);
            rc = open_file_source(d, dc, err);
        }
    } else {
        rc =
            nl_fail(err, NL_ERR_USAGE,
                    "data.source: expected markov, prose, text:PATH or tokens:PATH, got '%s'", src);
    }
    if (rc) {
        nl_data_close(d);
        return NULL;
    }
    return d;
}

void nl_data_close(nl_data *d)
{
    if (!d)
        return;
    nl_markov_free(d->chain);
    if (d->fd >= 0)
        close(d->fd);
    free(d->win);
    free(d->prose);
    free(d);
}

int nl_data_vocab(const nl_data *d)
{
    return d->vocab;
}

double nl_data_entropy_floor(const nl_data *d)
{
    return d->kind == SRC_MARKOV ? nl_markov_entropy_rate(d->chain) : NAN;
}

double nl_data_unigram_level(const nl_data *d)
{
    return d->kind == SRC_TEXT || d->kind == SRC_PROSE ? d->unigram : NAN;
}

const char *nl_data_describe(const nl_data *d)
{
    return d->describe;
}

int nl_data_next_batch(nl_data *d, int32_t *tokens, int32_t *targets, int B, nl_error *err)
{
    if (B < 1)
        return nl_fail(err, NL_ERR_USAGE, "data: batch size must be at least 1, got %d", B);
    const int T = d->T;
    const nl_rng saved = d->train;
    for (int b = 0; b < B; b++) {
        int32_t *tok = tokens + (int64_t)b * T, *tgt = targets + (int64_t)b * T;
        if (d->kind == SRC_MARKOV) {
            int64_t ctx = nl_markov_start(d->chain, &d->train);
            chain_window(d, &d->train, &ctx, tok, tgt);
        } else {
            int64_t start = (int64_t)nl_rng_below(&d->train, (uint64_t)(d->n_train - T));
            if (file_window(d, start, tok, tgt, err)) {
                memcpy(d->train.s, saved.s, sizeof saved.s); /* the batch never happened */
                return err ? err->code : NL_ERR_RUN;
            }
        }
    }
    return 0;
}

int nl_data_val_batch(nl_data *d, int index, int32_t *tokens, int32_t *targets, int B,
                      nl_error *err)
{
    if (B < 1 || index < 0)
        return nl_fail(err, NL_ERR_USAGE, "data: bad validation batch %d of size %d", index, B);
    const int T = d->T;
    if (d->kind == SRC_MARKOV) {
        nl_rng r;
        nl_rng_seed(&r, mix64(mix64(d->data_seed, SALT_VAL), (uint64_t)index));
        for (int b = 0; b < B; b++) {
            int64_t ctx = nl_markov_start(d->chain, &r);
            chain_window(d, &r, &ctx, tokens + (int64_t)b * T, targets + (int64_t)b * T);
        }
        return 0;
    }
    if (d->n_val == 0)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s file '%s': no held-out split (data.val_fraction is 0)",
                       kind_name(d->kind), d->path);
    /* The held-out windows, in order, wrap around when index*B runs past them. */
    const int64_t w = (int64_t)T + 1, nwin = d->n_val / w;
    for (int b = 0; b < B; b++) {
        int64_t j = ((int64_t)index * B + b) % nwin;
        if (file_window(d, d->n_train + j * w, tokens + (int64_t)b * T, targets + (int64_t)b * T,
                        err))
            return err ? err->code : NL_ERR_RUN;
    }
    return 0;
}

int nl_data_seq_batch(nl_data *d, int64_t index, int32_t *tokens, int32_t *targets, int B,
                      nl_error *err)
{
    if (B < 1 || index < 0)
        return nl_fail(err, NL_ERR_USAGE, "data: bad batch %lld of size %d", (long long)index, B);
    const int T = d->T;
    const int64_t w = (int64_t)T + 1, first = index * B;
    if (d->kind == SRC_MARKOV) {
        /* One long held-out chain cut into consecutive windows. The cursor makes reading
         * batches in order O(1) each; going back replays the chain from its start. */
        if (!d->seq_valid || first < d->seq_next) {
            nl_rng_seed(&d->seq_rng, mix64(d->data_seed, SALT_SEQ));
            d->seq_ctx = nl_markov_start(d->chain, &d->seq_rng);
            d->seq_next = 0;
            d->seq_valid = 1;
        }
        for (; d->seq_next < first; d->seq_next++)
            for (int t = 0; t <= T; t++)
                d->seq_ctx = nl_markov_shift(d->chain, d->seq_ctx,
                                             nl_markov_sample(d->chain, d->seq_ctx, &d->seq_rng));
        for (int b = 0; b < B; b++, d->seq_next++)
            chain_window(d, &d->seq_rng, &d->seq_ctx, tokens + (int64_t)b * T,
                         targets + (int64_t)b * T);
        return 0;
    }
    const int64_t nwin = d->n / w;
    if (first + B > nwin)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s file '%s' has %lld windows of seq_len+1 = %lld tokens; batch %lld "
                       "of %d windows needs %lld",
                       kind_name(d->kind), d->path, (long long)nwin, (long long)w, (long long)index,
                       B, (long long)(first + B));
    for (int b = 0; b < B; b++)
        if (file_window(d, (first + b) * w, tokens + (int64_t)b * T, targets + (int64_t)b * T, err))
            return err ? err->code : NL_ERR_RUN;
    return 0;
}

size_t nl_data_state_size(const nl_data *d)
{
    return sizeof(data_state);
}

void nl_data_get_state(const nl_data *d, void *buf)
{
    data_state st = {.magic = STATE_MAGIC, .kind = (uint32_t)d->kind, .ident = d->ident};
    memcpy(st.rng, d->train.s, sizeof st.rng);
    memcpy(buf, &st, sizeof st);
}

int nl_data_set_state(nl_data *d, const void *buf, size_t len, nl_error *err)
{
    data_state st;
    if (len != sizeof st)
        return nl_fail(err, NL_ERR_USAGE, "data position: expected %zu bytes, got %zu", sizeof st,
                       len);
    memcpy(&st, buf, sizeof st);
    if (st.magic != STATE_MAGIC)
        return nl_fail(err, NL_ERR_USAGE, "data position: not a data position record");
    if (st.kind != (uint32_t)d->kind || st.ident != d->ident)
        return nl_fail(err, NL_ERR_USAGE,
                       "data position: saved for a different data source than %s", d->describe);
    if (!(st.rng[0] | st.rng[1] | st.rng[2] | st.rng[3]))
        return nl_fail(err, NL_ERR_USAGE, "data position: the generator state is all zero");
    memcpy(d->train.s, st.rng, sizeof st.rng);
    return 0;
}
