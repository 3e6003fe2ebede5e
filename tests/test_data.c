/* Data sources: the markov chain's exact entropy rate, determinism and resumable position,
 * text and token-shard splits and windows, and the errors for bad files. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/data.h"
#include "engine/markov.h"
#include "t.h"

static char tmpdir[256];

static void tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static nl_data_config markov_config(int vocab, int order, float alpha, uint64_t seed)
{
    nl_data_config dc;
    memset(&dc, 0, sizeof dc);
    snprintf(dc.source, sizeof dc.source, "markov");
    dc.vocab = vocab;
    dc.order = order;
    dc.alpha = alpha;
    dc.seed = seed;
    dc.val_fraction = 0.1f;
    return dc;
}

static nl_data_config file_config(const char *kind, const char *path, float val_fraction)
{
    nl_data_config dc = markov_config(64, 1, 1.0f, 1);
    snprintf(dc.source, sizeof dc.source, "%s:%s", kind, path);
    dc.val_fraction = val_fraction;
    return dc;
}

static void test_markov_rows_sum_to_one(void)
{
    nl_error err = {0};
    nl_markov *m = nl_markov_create(7, 2, 0.3, 42, &err);
    T_CHECK(m != NULL, "create: %s", err.msg);
    if (!m)
        return;
    T_CHECK(nl_markov_contexts(m) == 49, "contexts %lld", (long long)nl_markov_contexts(m));
    double pi_sum = 0.0;
    for (int64_t c = 0; c < nl_markov_contexts(m); c++) {
        double sum = 0.0;
        for (int x = 0; x < 7; x++) {
            double p = nl_markov_prob(m, c, x);
            T_CHECK(p >= 0.0 && p <= 1.0, "p(%d|%lld) = %g", x, (long long)c, p);
            sum += p;
        }
        T_NEAR(sum, 1.0, 1e-12, "row sum");
        pi_sum += nl_markov_stationary(m, c);
    }
    T_NEAR(pi_sum, 1.0, 1e-12, "stationary sum");
    /* pi is stationary: pi(c') = sum over (c, x) reaching c' of pi(c) p(x|c) */
    for (int64_t c2 = 0; c2 < 49; c2++) {
        double in = 0.0;
        for (int64_t c = 0; c < 49; c++)
            for (int x = 0; x < 7; x++)
                if (nl_markov_shift(m, c, x) == c2)
                    in += nl_markov_stationary(m, c) * nl_markov_prob(m, c, x);
        T_NEAR(in, nl_markov_stationary(m, c2), 1e-10, "pi P = pi");
    }
    double H = nl_markov_entropy_rate(m);
    T_CHECK(H > 0.0 && H < log(7.0), "entropy rate %g outside (0, log 7)", H);
    nl_markov_free(m);
}

static double h2(double p)
{
    return -p * log(p) - (1 - p) * log(1 - p);
}

static void test_markov_two_state_closed_form(void)
{
    const double a = 0.1, b = 0.35; /* P(0->1) = a, P(1->0) = b */
    const double P[4] = {1 - a, a, b, 1 - b};
    nl_error err = {0};
    nl_markov *m = nl_markov_from_table(2, 1, P, &err);
    T_CHECK(m != NULL, "from_table: %s", err.msg);
    if (!m)
        return;
    double pi0 = b / (a + b), pi1 = a / (a + b);
    T_NEAR(nl_markov_stationary(m, 0), pi0, 1e-11, "pi0");
    T_NEAR(nl_markov_stationary(m, 1), pi1, 1e-11, "pi1");
    T_NEAR(nl_markov_entropy_rate(m), pi0 * h2(a) + pi1 * h2(b), 1e-11, "entropy rate");
    nl_markov_free(m);

    /* periodic chain 0 -> 1 -> 0: pi = (1/2, 1/2), H = 0 */
    const double flip[4] = {0, 1, 1, 0};
    m = nl_markov_from_table(2, 1, flip, &err);
    T_CHECK(m != NULL, "periodic: %s", err.msg);
    if (m) {
        T_NEAR(nl_markov_stationary(m, 0), 0.5, 1e-11, "periodic pi0");
        T_NEAR(nl_markov_entropy_rate(m), 0.0, 1e-12, "periodic H");
        nl_markov_free(m);
    }
    const double bad[4] = {0.5, 0.6, 0.5, 0.5};
    T_CHECK(nl_markov_from_table(2, 1, bad, &err) == NULL, "a row summing to 1.1 was accepted");
}

static void test_markov_limits(void)
{
    nl_error err = {0};
    nl_data_config dc = markov_config(64, 4, 1.0f, 1); /* 64^4 = 2^24 contexts */
    nl_data *d = nl_data_open(&dc, 16, 1, &err);
    T_CHECK(d == NULL, "64^4 contexts accepted");
    T_CHECK(strstr(err.msg, "limit") != NULL, "message: %s", err.msg);
    nl_data_close(d);
    dc = markov_config(64, 1, 0.0f, 1);
    T_CHECK(nl_data_open(&dc, 16, 1, &err) == NULL, "alpha 0 accepted");
    T_CHECK(strstr(err.msg, "alpha") != NULL, "message: %s", err.msg);
}

/* The data windows are the chain's output: the cross-entropy of the chain's own transition
 * probabilities on the positions that see k symbols of context is close to H. */
static void test_markov_empirical_cross_entropy(void)
{
    const int V = 8, k = 2, T = 64, B = 32, batches = 200;
    nl_error err = {0};
    nl_data_config dc = markov_config(V, k, 0.5f, 7);
    nl_data *d = nl_data_open(&dc, T, 123, &err);
    nl_markov *m = nl_markov_create(V, k, 0.5, 7, &err);
    T_CHECK(d && m, "open: %s", err.msg);
    if (!d || !m) {
        nl_data_close(d);
        nl_markov_free(m);
        return;
    }
    T_CHECK(nl_data_vocab(d) == V, "vocab %d", nl_data_vocab(d));
    T_NEAR(nl_data_entropy_floor(d), nl_markov_entropy_rate(m), 1e-15, "floor is H");
    T_CHECK(strncmp(nl_data_describe(d), "markov V=8 k=2 floor ", 21) == 0, "describe '%s'",
            nl_data_describe(d));
    int32_t *tok = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    double nll = 0.0;
    int64_t count = 0;
    int shifted = 1;
    for (int it = 0; it < batches; it++) {
        T_CHECK(nl_data_next_batch(d, tok, tgt, B, &err) == 0, "batch: %s", err.msg);
        for (int b = 0; b < B; b++) {
            const int32_t *x = tok + b * T, *y = tgt + b * T;
            for (int t = 0; t + 1 < T; t++)
                shifted &= x[t + 1] == y[t];
            for (int t = k - 1; t < T; t++) {
                int64_t ctx = 0;
                for (int j = t - k + 1; j <= t; j++)
                    ctx = nl_markov_shift(m, ctx, x[j]);
                nll -= log(nl_markov_prob(m, ctx, y[t]));
                count++;
            }
        }
    }
    T_CHECK(shifted, "targets are not tokens shifted by one");
    double ce = nll / (double)count, H = nl_markov_entropy_rate(m);
    /* ~400k symbols: the standard error is about 0.002 nats */
    T_CHECK(fabs(ce - H) < 0.015, "cross-entropy %.5f vs entropy rate %.5f", ce, H);
    free(tok);
    free(tgt);
    nl_data_close(d);
    nl_markov_free(m);
}

static int batches_equal(nl_data *a, nl_data *b, int B, int T, int n)
{
    int32_t *t1 = malloc(sizeof(int32_t) * B * T), *y1 = malloc(sizeof(int32_t) * B * T);
    int32_t *t2 = malloc(sizeof(int32_t) * B * T), *y2 = malloc(sizeof(int32_t) * B * T);
    int same = 1;
    for (int i = 0; i < n; i++) {
        nl_data_next_batch(a, t1, y1, B, NULL);
        nl_data_next_batch(b, t2, y2, B, NULL);
        same &= memcmp(t1, t2, sizeof(int32_t) * B * T) == 0 &&
                memcmp(y1, y2, sizeof(int32_t) * B * T) == 0;
    }
    free(t1);
    free(y1);
    free(t2);
    free(y2);
    return same;
}

static void test_markov_determinism_and_state(void)
{
    const int T = 16, B = 4;
    nl_error err = {0};
    nl_data_config dc = markov_config(16, 1, 1.0f, 3);
    nl_data *a = nl_data_open(&dc, T, 99, &err), *b = nl_data_open(&dc, T, 99, &err);
    nl_data *c = nl_data_open(&dc, T, 100, &err);
    T_CHECK(a && b && c, "open: %s", err.msg);
    if (!a || !b || !c)
        goto out;
    T_CHECK(batches_equal(a, b, B, T, 5), "same seeds gave different batches");
    T_CHECK(!batches_equal(a, c, B, T, 1), "different train seeds gave the same batch");

    /* save after a few batches, restore into a fresh source: the next batches match */
    size_t n = nl_data_state_size(a);
    unsigned char *st = malloc(n);
    nl_data_get_state(a, st);
    nl_data *r = nl_data_open(&dc, T, 5, &err);
    T_CHECK(r && nl_data_set_state(r, st, n, &err) == 0, "set_state: %s", err.msg);
    if (r)
        T_CHECK(batches_equal(a, r, B, T, 5), "restored position diverged");
    T_CHECK(nl_data_set_state(c, st, n - 1, &err) != 0, "short state accepted");
    nl_data_close(r);

    /* a state from another chain is refused */
    nl_data_config other = markov_config(16, 1, 1.0f, 4);
    r = nl_data_open(&other, T, 99, &err);
    T_CHECK(r && nl_data_set_state(r, st, n, &err) != 0, "state of another chain accepted");
    nl_data_close(r);
    free(st);

    /* validation batches: deterministic, independent of the training position */
    int32_t v1[4 * 16], y1[4 * 16], v2[4 * 16], y2[4 * 16];
    T_CHECK(nl_data_val_batch(a, 3, v1, y1, B, &err) == 0, "val: %s", err.msg);
    T_CHECK(nl_data_val_batch(c, 3, v2, y2, B, &err) == 0, "val: %s", err.msg);
    T_CHECK(memcmp(v1, v2, sizeof v1) == 0 && memcmp(y1, y2, sizeof y1) == 0,
            "val batch depends on the training seed or position");
    nl_data_val_batch(a, 4, v2, y2, B, &err);
    T_CHECK(memcmp(v1, v2, sizeof v1) != 0, "val batches 3 and 4 are equal");

    /* seq batches are consecutive windows of one stream: batch 1 of size 2 is windows 2,3
     * of batch 0 of size 4, whichever order they are read in */
    int32_t s4[4 * 16], z4[4 * 16], s2[2 * 16], z2[2 * 16];
    T_CHECK(nl_data_seq_batch(a, 1, s2, z2, 2, &err) == 0, "seq: %s", err.msg);
    T_CHECK(nl_data_seq_batch(a, 0, s4, z4, 4, &err) == 0, "seq: %s", err.msg);
    T_CHECK(memcmp(s4 + 2 * T, s2, sizeof s2) == 0 && memcmp(z4 + 2 * T, z2, sizeof z2) == 0,
            "seq batch windows are not consecutive");
    /* the held-out stream depends on the data seed only */
    T_CHECK(nl_data_seq_batch(c, 0, v2, y2, 4, &err) == 0 && memcmp(v2, s4, sizeof s4) == 0,
            "seq batches depend on the training seed");
out:
    nl_data_close(a);
    nl_data_close(b);
    nl_data_close(c);
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    fclose(f);
    return w == len ? 0 : -1;
}

static void test_text_windows_and_splits(void)
{
    enum { N = 1000, T = 9 }; /* windows of 10 bytes */
    unsigned char bytes[N];
    for (int i = 0; i < N; i++)
        bytes[i] = (unsigned char)((i * 7 + 3) % 256);
    char path[512];
    tmp_path(path, sizeof path, "text.txt");
    T_CHECK(write_file(path, bytes, N) == 0, "write %s", path);
    nl_error err = {0};
    nl_data_config dc = file_config("text", path, 0.25f); /* held out: the last 250 bytes */
    nl_data *d = nl_data_open(&dc, T, 5, &err);
    T_CHECK(d != NULL, "open: %s", err.msg);
    if (!d)
        return;
    T_CHECK(nl_data_vocab(d) == 256, "vocab %d", nl_data_vocab(d));
    T_CHECK(isnan(nl_data_entropy_floor(d)), "text has a floor");
    T_CHECK(strstr(nl_data_describe(d), path) != NULL, "describe '%s'", nl_data_describe(d));

    /* training windows are slices of the training split [0, 750); positions are checked
     * exactly in test_text_train_split_boundary, whose bytes equal their offsets */
    int32_t tok[4 * T], tgt[4 * T];
    T_CHECK(nl_data_next_batch(d, tok, tgt, 4, &err) == 0, "batch: %s", err.msg);
    for (int b = 0; b < 4; b++) {
        int found = 0;
        for (int s = 0; s + T + 1 <= 750 && !found; s++) {
            int ok = 1;
            for (int t = 0; t < T && ok; t++)
                ok = tok[b * T + t] == bytes[s + t] && tgt[b * T + t] == bytes[s + t + 1];
            found = ok;
        }
        T_CHECK(found, "training window %d is not a slice of the training split", b);
    }

    /* validation windows: consecutive, from byte 750 on, 25 of them, wrapping */
    int32_t vt[3 * T], vy[3 * T];
    T_CHECK(nl_data_val_batch(d, 0, vt, vy, 3, &err) == 0, "val: %s", err.msg);
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < T; t++) {
            T_CHECK(vt[b * T + t] == bytes[750 + b * 10 + t], "val window %d token %d", b, t);
            T_CHECK(vy[b * T + t] == bytes[750 + b * 10 + t + 1], "val window %d target %d", b, t);
        }
    T_CHECK(nl_data_val_batch(d, 8, vt, vy, 3, &err) == 0, "val: %s", err.msg);
    /* batch 8 of 3: windows 24, 25 -> 0, 26 -> 1 */
    T_CHECK(vt[0] == bytes[750 + 240] && vt[T] == bytes[750] && vt[2 * T] == bytes[760],
            "val windows do not wrap around the held-out split");

    /* seq batches: window i at i*(T+1) from the start of the file, B per batch */
    int32_t st[4 * T], sy[4 * T];
    T_CHECK(nl_data_seq_batch(d, 2, st, sy, 4, &err) == 0, "seq: %s", err.msg);
    for (int b = 0; b < 4; b++)
        for (int t = 0; t < T; t++) {
            int s = (2 * 4 + b) * (T + 1);
            T_CHECK(st[b * T + t] == bytes[s + t] && sy[b * T + t] == bytes[s + t + 1],
                    "seq window %d at %d", b, s);
        }
    /* 100 windows: batch 24 of 4 is the last, batch 25 is past the end */
    T_CHECK(nl_data_seq_batch(d, 24, st, sy, 4, &err) == 0, "last seq batch: %s", err.msg);
    T_CHECK(nl_data_seq_batch(d, 25, st, sy, 4, &err) == NL_ERR_USAGE, "past the end accepted");
    T_CHECK(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    nl_data_close(d);
}

/* Training windows of a file whose bytes identify their position: every window lies in the
 * training split, and starts cover it. */
static void test_text_train_split_boundary(void)
{
    enum { N = 200, T = 4 };
    unsigned char bytes[N];
    for (int i = 0; i < N; i++)
        bytes[i] = (unsigned char)i; /* position = value */
    char path[512];
    tmp_path(path, sizeof path, "ramp.txt");
    write_file(path, bytes, N);
    nl_error err = {0};
    nl_data_config dc = file_config("text", path, 0.1f); /* train [0,180), held out [180,200) */
    nl_data *d = nl_data_open(&dc, T, 11, &err);
    T_CHECK(d != NULL, "open: %s", err.msg);
    if (!d)
        return;
    int seen[N] = {0};
    int32_t tok[16 * T], tgt[16 * T];
    for (int it = 0; it < 200; it++) {
        nl_data_next_batch(d, tok, tgt, 16, &err);
        for (int b = 0; b < 16; b++) {
            int s = tok[b * T];
            for (int t = 0; t < T; t++)
                T_CHECK(tok[b * T + t] == s + t && tgt[b * T + t] == s + t + 1,
                        "window at %d is not contiguous", s);
            T_CHECK(s >= 0 && s + T + 1 <= 180, "window [%d, %d) crosses into the held-out split",
                    s, s + T + 1);
            if (s >= 0 && s < N)
                seen[s]++;
        }
    }
    T_CHECK(seen[0] > 0 && seen[180 - T - 1] > 0, "the first or last start was never drawn");
    int32_t v[T], y[T];
    nl_data_val_batch(d, 0, v, y, 1, &err);
    T_CHECK(v[0] == 180, "first validation window starts at %d, not 180", v[0]);
    nl_data_close(d);

    /* too short for a held-out window, and for any window */
    dc = file_config("text", path, 0.01f);
    d = nl_data_open(&dc, T, 11, &err);
    T_CHECK(d == NULL && strstr(err.msg, path) && strstr(err.msg, "held-out"),
            "2-byte held-out split accepted: %s", err.msg);
    nl_data_close(d);
    dc = file_config("text", path, 0.0f);
    d = nl_data_open(&dc, 300, 11, &err);
    T_CHECK(d == NULL && strstr(err.msg, path) && strstr(err.msg, "too short"),
            "file shorter than a window accepted: %s", err.msg);
    nl_data_close(d);
    d = nl_data_open(&dc, T, 11, &err);
    T_CHECK(d && nl_data_val_batch(d, 0, v, y, 1, &err) == NL_ERR_USAGE,
            "val batch without a held-out split");
    nl_data_close(d);
}

static void test_text_missing_file(void)
{
    char path[512];
    tmp_path(path, sizeof path, "does-not-exist.txt");
    nl_error err = {0};
    nl_data_config dc = file_config("text", path, 0.1f);
    T_CHECK(nl_data_open(&dc, 8, 1, &err) == NULL, "missing file opened");
    T_CHECK(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    tmp_path(path, sizeof path, "empty.txt");
    write_file(path, "", 0);
    dc = file_config("text", path, 0.1f);
    T_CHECK(nl_data_open(&dc, 8, 1, &err) == NULL && strstr(err.msg, path) &&
                strstr(err.msg, "empty"),
            "empty file: %s", err.msg);
    snprintf(dc.source, sizeof dc.source, "bytes:%s", path);
    T_CHECK(nl_data_open(&dc, 8, 1, &err) == NULL && strstr(err.msg, "data.source"),
            "unknown source: %s", err.msg);
}

/* A text or tokens file cut short after it was opened (D6): the next batch is an error that
 * names the file (a mapped file would raise SIGBUS and kill the process), and the training
 * position stays where it was. */
static void test_file_truncated_while_open(void)
{
    char path[512];
    tmp_path(path, sizeof path, "shrinks.txt");
    char text[4096];
    for (int i = 0; i < (int)sizeof text; i++)
        text[i] = (char)('a' + i % 26);
    write_file(path, text, sizeof text);
    nl_error err = {0};
    nl_data_config dc = file_config("text", path, 0.1f);
    nl_data *d = nl_data_open(&dc, 16, 1, &err);
    T_CHECK(d != NULL, "open: %s", err.msg);
    if (!d)
        return;
    int32_t tok[4 * 16], tgt[4 * 16], tok2[4 * 16];
    unsigned char before[256], after[256];
    nl_data_get_state(d, before);
    T_CHECK(truncate(path, 10) == 0, "truncate");
    T_CHECK(nl_data_next_batch(d, tok, tgt, 4, &err) != 0, "a batch was read from a cut file");
    T_CHECK(strstr(err.msg, path) != NULL, "the error does not name the file: %s", err.msg);
    T_CHECK(nl_data_val_batch(d, 0, tok, tgt, 4, &err) != 0, "a validation batch was read");
    nl_data_get_state(d, after);
    T_CHECK(memcmp(before, after, nl_data_state_size(d)) == 0,
            "the failed batch moved the training position");
    write_file(path, text, sizeof text);
    T_CHECK(nl_data_next_batch(d, tok, tgt, 4, &err) == 0, "restored file: %s", err.msg);
    nl_data_set_state(d, before, nl_data_state_size(d), &err);
    nl_data_next_batch(d, tok2, tgt, 4, &err);
    T_CHECK(memcmp(tok, tok2, sizeof tok) == 0, "batches differ after the restore");
    nl_data_close(d);
}

/* A FIFO as a text: or tokens: source is refused at once (D3), not waited on. */
static void test_fifo_refused(void)
{
    char path[512];
    tmp_path(path, sizeof path, "fifo");
    unlink(path);
    T_CHECK(mkfifo(path, 0600) == 0, "mkfifo");
    for (int k = 0; k < 2; k++) {
        nl_error err = {0};
        nl_data_config dc = file_config(k ? "tokens" : "text", path, 0.1f);
        alarm(20); /* a hang fails the test instead of blocking make test */
        nl_data *d = nl_data_open(&dc, 8, 1, &err);
        alarm(0);
        T_CHECK(d == NULL && strstr(err.msg, path) && strstr(err.msg, "not a regular file"),
                "%s FIFO: %s", k ? "tokens" : "text", err.msg);
        nl_data_close(d);
    }
    unlink(path);
}

static int write_shard(const char *path, int32_t magic, int32_t version, int32_t declared,
                       const uint16_t *toks, int n)
{
    int32_t header[256] = {0};
    header[0] = magic;
    header[1] = version;
    header[2] = declared;
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fwrite(header, sizeof header, 1, f);
    fwrite(toks, sizeof *toks, (size_t)n, f);
    return fclose(f);
}

static void test_tokens_shard(void)
{
    enum { N = 500, T = 7 };
    uint16_t toks[N];
    for (int i = 0; i < N; i++)
        toks[i] = (uint16_t)(i * 131 % 50021);
    int max = 0;
    for (int i = 0; i < N; i++)
        max = toks[i] > max ? toks[i] : max;
    char path[512];
    tmp_path(path, sizeof path, "shard.bin");
    T_CHECK(write_shard(path, 20240520, 1, N, toks, N) == 0, "write shard");
    nl_error err = {0};
    nl_data_config dc = file_config("tokens", path, 0.2f);
    nl_data *d = nl_data_open(&dc, T, 3, &err);
    T_CHECK(d != NULL, "open: %s", err.msg);
    if (d) {
        T_CHECK(nl_data_vocab(d) == max + 1, "vocab %d, expected %d", nl_data_vocab(d), max + 1);
        int32_t st[2 * T], sy[2 * T];
        T_CHECK(nl_data_seq_batch(d, 3, st, sy, 2, &err) == 0, "seq: %s", err.msg);
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < T; t++) {
                int s = (6 + b) * (T + 1);
                T_CHECK(st[b * T + t] == toks[s + t] && sy[b * T + t] == toks[s + t + 1],
                        "seq window %d token %d", b, t);
            }
        nl_data_val_batch(d, 0, st, sy, 1, &err);
        T_CHECK(st[0] == toks[400], "first validation token %d, expected %d", st[0], toks[400]);
        /* token values are distinct, so a window's first token gives its position */
        for (int it = 0; it < 50; it++) {
            nl_data_next_batch(d, st, sy, 2, &err);
            for (int b = 0; b < 2; b++) {
                int s = 0;
                while (s < N && toks[s] != st[b * T])
                    s++;
                T_CHECK(s + T + 1 <= 400, "training window at %d leaves the training split", s);
                for (int t = 0; t < T && s + T + 1 <= N; t++)
                    T_CHECK(st[b * T + t] == toks[s + t] && sy[b * T + t] == toks[s + t + 1],
                            "training window at %d is not contiguous", s);
            }
        }
        nl_data_close(d);
    }

    /* trailing bytes beyond the declared count are ignored */
    T_CHECK(write_shard(path, 20240520, 1, N - 100, toks, N) == 0, "write shard");
    d = nl_data_open(&dc, T, 3, &err);
    T_CHECK(d != NULL && strstr(nl_data_describe(d), "400 tokens"), "declared count: %s",
            d ? nl_data_describe(d) : err.msg);
    nl_data_close(d);

    struct {
        int32_t magic, version, declared;
        int n;
        const char *want;
    } bad[] = {
        {20240521, 1, N, N, "magic"},
        {20240520, 2, N, N, "version"},
        {20240520, 1, N, N - 1, "truncated"},
        {20240520, 1, 0, 0, "declares 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_shard(path, bad[i].magic, bad[i].version, bad[i].declared, toks, bad[i].n);
        d = nl_data_open(&dc, T, 3, &err);
        T_CHECK(d == NULL, "bad shard %zu (%s) accepted", i, bad[i].want);
        T_CHECK(strstr(err.msg, path) && strstr(err.msg, bad[i].want), "message: %s", err.msg);
        nl_data_close(d);
    }
    /* shorter than a header */
    write_file(path, "abc", 3);
    T_CHECK(nl_data_open(&dc, T, 3, &err) == NULL && strstr(err.msg, path) &&
                strstr(err.msg, "truncated"),
            "3-byte shard: %s", err.msg);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/normlab-test-data-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_markov_rows_sum_to_one);
    T_RUN(test_markov_two_state_closed_form);
    T_RUN(test_markov_limits);
    T_RUN(test_markov_empirical_cross_entropy);
    T_RUN(test_markov_determinism_and_state);
    T_RUN(test_text_windows_and_splits);
    T_RUN(test_text_train_split_boundary);
    T_RUN(test_text_missing_file);
    T_RUN(test_file_truncated_while_open);
    T_RUN(test_fifo_refused);
    T_RUN(test_tokens_shard);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    T_END();
}
