/* Checkpoint files: round trips, and refusal of truncated, corrupted, foreign and
 * newer-version files. */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ckpt.h"
#include "engine/ckpt_io.h"
#include "t.h"

static char tmpdir[256];

static uint64_t rng_state = 0x1234abcd5678ef01ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static void write_all(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(buf, 1, len, f);
    fclose(f);
}

/* A checkpoint with tensors of assorted shapes and random bit patterns (NaNs included),
 * a state blob and a config with newlines, quotes and non-ASCII text. */
typedef struct sample {
    nl_ckpt ck;
    nl_ckpt_tensor t[6];
    unsigned char state[77];
} sample;

static void fill_tensor(nl_ckpt_tensor *t, const char *name, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->numel *= shape[d];
    }
    t->data = t->numel ? malloc(4 * (size_t)t->numel) : NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        if (i % 3 == 0) {
            uint32_t bits = (uint32_t)rnd();
            memcpy(&t->data[i], &bits, 4);
        } else {
            t->data[i] = (float)(i % 17) * 0.25f; /* compressible runs */
        }
    }
}

static void make_sample(sample *s, int scale)
{
    memset(s, 0, sizeof *s);
    fill_tensor(&s->t[0], "wte.weight", 2, (int64_t[]){50 * scale, 16});
    fill_tensor(&s->t[1], "blocks.0.attn.qkv.weight", 2, (int64_t[]){48, 16});
    fill_tensor(&s->t[2], "final_norm.weight", 1, (int64_t[]){16});
    fill_tensor(&s->t[3], "scalar", 0, NULL);
    fill_tensor(&s->t[4], "empty", 2, (int64_t[]){0, 7});
    fill_tensor(&s->t[5], "four.d", 4, (int64_t[]){2, 3, 4, 5});
    for (size_t i = 0; i < sizeof s->state; i++)
        s->state[i] = (unsigned char)rnd();
    s->ck.step = 1234567890123ll;
    s->ck.config_yaml = "model:\n  d: 16\n  name: \"q\\\"uote\" # caf\xc3\xa9\n\ttab: 'x'\n";
    s->ck.state = s->state;
    s->ck.state_len = sizeof s->state;
    s->ck.n_tensors = 6;
    s->ck.tensors = s->t;
}

static void free_sample(sample *s)
{
    for (int i = 0; i < 6; i++)
        free(s->t[i].data);
}

static void check_same(const nl_ckpt *got, const nl_ckpt *want, int with_data)
{
    T_CHECK(got->version == NL_CKPT_VERSION, "version %d", got->version);
    T_CHECK(got->step == want->step, "step %lld", (long long)got->step);
    T_CHECK(got->config_yaml && strcmp(got->config_yaml, want->config_yaml) == 0,
            "config text differs");
    T_CHECK(got->state_len == want->state_len && got->state &&
                memcmp(got->state, want->state, want->state_len) == 0,
            "state blob differs");
    T_CHECK(got->n_tensors == want->n_tensors, "n_tensors %d", got->n_tensors);
    for (int i = 0; i < want->n_tensors && i < got->n_tensors; i++) {
        const nl_ckpt_tensor *g = &got->tensors[i], *w = &want->tensors[i];
        T_CHECK(strcmp(g->name, w->name) == 0, "tensor %d name %s", i, g->name);
        T_CHECK(g->ndim == w->ndim && g->numel == w->numel, "tensor %s ndim/numel", w->name);
        for (int d = 0; d < w->ndim; d++)
            T_CHECK(g->shape[d] == w->shape[d], "tensor %s dim %d", w->name, d);
        if (with_data) {
            T_CHECK(g->data != NULL, "tensor %s has no data", w->name);
            if (g->data && w->numel)
                T_CHECK(memcmp(g->data, w->data, 4 * (size_t)w->numel) == 0,
                        "tensor %s data differs", w->name);
        } else {
            T_CHECK(g->data == NULL, "header-only read returned data for %s", w->name);
        }
    }
}

static void test_roundtrip(void)
{
    sample s;
    make_sample(&s, 1);
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "ckpt-1.nlck");
    nl_error err = {0};
    int rc = nl_ckpt_write(path, &s.ck, 3, 0, &err);
    T_CHECK(rc == 0, "write: %s", err.msg);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    T_CHECK(!file_exists(tmp), "temp file left behind");
    nl_ckpt got;
    rc = nl_ckpt_read(path, &got, 0, &err);
    T_CHECK(rc == 0, "read: %s", err.msg);
    if (rc == 0) {
        check_same(&got, &s.ck, 1);
        const nl_ckpt_tensor *t = nl_ckpt_find(&got, "final_norm.weight");
        T_CHECK(t && t->numel == 16, "find final_norm.weight");
        T_CHECK(nl_ckpt_find(&got, "final_norm") == NULL, "find of an absent name");
    }
    nl_ckpt_free(&got);
    T_CHECK(got.tensors == NULL && got.config_yaml == NULL, "free leaves a zeroed struct");
    free_sample(&s);
}

/* No tensors, no state, no config: still a valid file (an empty zstd frame). */
static void test_empty(void)
{
    nl_ckpt ck = {.step = -3};
    char path[512];
    tmp_path(path, sizeof path, "empty.nlck");
    nl_error err = {0};
    T_CHECK(nl_ckpt_write(path, &ck, 1, 0, &err) == 0, "write: %s", err.msg);
    nl_ckpt got;
    int rc = nl_ckpt_read(path, &got, 0, &err);
    T_CHECK(rc == 0, "read: %s", err.msg);
    if (rc == 0)
        T_CHECK(got.step == -3 && got.n_tensors == 0 && got.state_len == 0 && got.config_yaml &&
                    got.config_yaml[0] == '\0',
                "fields of the empty checkpoint");
    nl_ckpt_free(&got);
}

static void test_header_only(void)
{
    sample s;
    make_sample(&s, 1);
    char path[512];
    tmp_path(path, sizeof path, "header.nlck");
    nl_error err = {0};
    T_CHECK(nl_ckpt_write(path, &s.ck, 3, 0, &err) == 0, "write: %s", err.msg);
    nl_ckpt got;
    int rc = nl_ckpt_read(path, &got, 1, &err);
    T_CHECK(rc == 0, "read: %s", err.msg);
    if (rc == 0)
        check_same(&got, &s.ck, 0);
    nl_ckpt_free(&got);
    free_sample(&s);
}

static void test_overwrite_replaces(void)
{
    sample a, b;
    make_sample(&a, 1);
    make_sample(&b, 2);
    b.ck.step = 7;
    b.ck.config_yaml = "other: 1\n";
    char path[512];
    tmp_path(path, sizeof path, "over.nlck");
    nl_error err = {0};
    T_CHECK(nl_ckpt_write(path, &a.ck, 3, 0, &err) == 0, "write a: %s", err.msg);
    T_CHECK(nl_ckpt_write(path, &b.ck, 3, 0, &err) == 0, "write b: %s", err.msg);
    nl_ckpt got;
    int rc = nl_ckpt_read(path, &got, 0, &err);
    T_CHECK(rc == 0, "read: %s", err.msg);
    if (rc == 0)
        check_same(&got, &b.ck, 1);
    nl_ckpt_free(&got);
    free_sample(&a);
    free_sample(&b);
}

/* Writes a small checkpoint and returns its bytes. */
static unsigned char *small_file(const char *name, size_t *len, sample *s)
{
    char path[512];
    tmp_path(path, sizeof path, name);
    make_sample(s, 4);
    nl_error err = {0};
    if (nl_ckpt_write(path, &s->ck, 3, 0, &err) != 0)
        return NULL;
    return read_all(path, len);
}

/* Reads path, expecting a refusal whose message names the file and contains want. */
static void expect_refused(const char *path, const char *want, const char *what)
{
    nl_ckpt got;
    nl_error err = {0};
    int rc = nl_ckpt_read(path, &got, 0, &err);
    T_CHECK(rc != 0, "%s: accepted", what);
    T_CHECK(rc == 0 || strstr(err.msg, path) != NULL, "%s: message does not name the file: %s",
            what, err.msg);
    T_CHECK(rc == 0 || !want || strstr(err.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"",
            what, err.msg, want);
    T_CHECK(got.tensors == NULL && got.config_yaml == NULL && got.state == NULL,
            "%s: refused read left allocations", what);
    if (rc == 0)
        nl_ckpt_free(&got);
}

static void test_truncated(void)
{
    sample s;
    size_t len = 0;
    unsigned char *bytes = small_file("full.nlck", &len, &s);
    T_CHECK(bytes && len > 200, "could not write the sample");
    if (!bytes)
        return;
    char path[512];
    tmp_path(path, sizeof path, "trunc.nlck");
    for (int k = 0; k <= 20; k++) {
        size_t n = k < 20 ? len * (size_t)k / 20 : len - 1;
        write_all(path, bytes, n);
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu", n, len);
        expect_refused(path, "truncated (expected ", what);
    }
    /* the full length of the stated size is named */
    write_all(path, bytes, len / 2);
    nl_ckpt got;
    nl_error err = {0};
    char want[128];
    snprintf(want, sizeof want, "truncated (expected %zu bytes, file has %zu)", len, len / 2);
    T_CHECK(nl_ckpt_read(path, &got, 1, &err) != 0 && strstr(err.msg, want),
            "header-only read of a truncated file: %s", err.msg);
    free(bytes);
    free_sample(&s);
}

/* Every byte of a small checkpoint (header and payload), one bit each: all refused. zstd's
 * bitstreams have bits that decode the same either way, which only the checksum of the
 * compressed bytes notices. */
static void test_bit_flips(void)
{
    float a[3000], b[5] = {1, 2, 3, 4, 5};
    for (int i = 0; i < 3000; i++)
        a[i] = (float)(i % 37) * 0.5f + (i % 5 ? 0.0f : (float)(rnd() % 1000) * 1e-3f);
    nl_ckpt_tensor t[2] = {{.name = "a", .ndim = 2, .shape = {30, 100}, .numel = 3000, .data = a},
                           {.name = "b", .ndim = 1, .shape = {5}, .numel = 5, .data = b}};
    unsigned char state[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    nl_ckpt ck = {.step = 5,
                  .config_yaml = "x: 1\n",
                  .state = state,
                  .state_len = 16,
                  .n_tensors = 2,
                  .tensors = t};
    char path[512];
    tmp_path(path, sizeof path, "flip.nlck");
    nl_error err = {0};
    T_CHECK(nl_ckpt_write(path, &ck, 3, 0, &err) == 0, "write: %s", err.msg);
    size_t len = 0;
    unsigned char *bytes = read_all(path, &len);
    T_CHECK(bytes && len > 1000, "sample file of %zu bytes", len);
    if (!bytes)
        return;
    uint64_t header_len = nl_get_u64le(bytes + 16);
    T_CHECK(header_len > 96 && header_len + 500 < len, "header_len %llu of %zu",
            (unsigned long long)header_len, len);
    for (size_t pos = 0; pos < len; pos++) {
        unsigned bit = (unsigned)(pos * 5 % 8);
        bytes[pos] ^= (unsigned char)(1u << bit);
        write_all(path, bytes, len);
        bytes[pos] ^= (unsigned char)(1u << bit);
        char what[64];
        snprintf(what, sizeof what, "bit %u of byte %zu flipped", bit, pos);
        expect_refused(path, NULL, what);
    }
    /* and the untouched bytes still read */
    write_all(path, bytes, len);
    nl_ckpt got;
    T_CHECK(nl_ckpt_read(path, &got, 0, &err) == 0, "unflipped file: %s", err.msg);
    nl_ckpt_free(&got);
    free(bytes);
}

/* Rewrite a field and refresh both header checksums, as a careless writer would. */
static void patch_u64(unsigned char *bytes, size_t off, uint64_t v)
{
    uint64_t header_len = nl_get_u64le(bytes + 16);
    nl_put_u64le(bytes + off, v);
    nl_put_u64le(bytes + 88, nl_hash64(bytes, 88));
    nl_put_u64le(bytes + header_len - 8, nl_hash64(bytes, header_len - 8));
}

static void test_payload_checksum_checked(void)
{
    sample s;
    size_t len = 0;
    unsigned char *bytes = small_file("hash-src.nlck", &len, &s);
    T_CHECK(bytes != NULL, "could not write the sample");
    if (!bytes)
        return;
    char path[512];
    tmp_path(path, sizeof path, "hash.nlck");
    patch_u64(bytes, 72, nl_get_u64le(bytes + 72) ^ 1);
    write_all(path, bytes, len);
    expect_refused(path, "payload checksum mismatch (corrupted)", "payload hash altered");
    nl_ckpt got;
    nl_error err = {0};
    T_CHECK(nl_ckpt_read(path, &got, 1, &err) == 0, "header-only read: %s", err.msg);
    nl_ckpt_free(&got);
    patch_u64(bytes, 72, nl_get_u64le(bytes + 72) ^ 1);
    patch_u64(bytes, 80, nl_get_u64le(bytes + 80) ^ 0x8000);
    write_all(path, bytes, len);
    expect_refused(path, "payload checksum mismatch (corrupted)", "compressed hash altered");
    patch_u64(bytes, 80, nl_get_u64le(bytes + 80) ^ 0x8000);
    write_all(path, bytes, len);
    T_CHECK(nl_ckpt_read(path, &got, 0, &err) == 0, "both checksums restored: %s", err.msg);
    nl_ckpt_free(&got);
    /* a compressed length that disagrees with the file */
    patch_u64(bytes, 64, nl_get_u64le(bytes + 64) + 8);
    write_all(path, bytes, len);
    expect_refused(path, "truncated (expected", "compressed length too large");
    free(bytes);
    free_sample(&s);
}

static void test_checksum_function(void)
{
    unsigned char buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)rnd();
    uint64_t whole = nl_hash64(buf, sizeof buf);
    /* the streaming form agrees with the one-shot form for any chunking */
    for (size_t chunk = 1; chunk < 70; chunk += 3) {
        nl_hash64_state h;
        nl_hash64_init(&h);
        for (size_t at = 0; at < sizeof buf; at += chunk)
            nl_hash64_update(&h, buf + at, at + chunk < sizeof buf ? chunk : sizeof buf - at);
        T_CHECK(nl_hash64_final(&h) == whole, "chunk %zu gives another checksum", chunk);
    }
    /* every single-bit change is seen, and so is a trailing zero byte */
    for (size_t bit = 0; bit < 8 * sizeof buf; bit += 7) {
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        T_CHECK(nl_hash64(buf, sizeof buf) != whole, "flip of bit %zu unseen", bit);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    unsigned char z[9] = {0};
    T_CHECK(nl_hash64(z, 8) != nl_hash64(z, 9), "length not part of the checksum");
    T_CHECK(nl_hash64(buf, 0) != nl_hash64(z, 1), "empty input vs one zero byte");
}

static void test_foreign(void)
{
    char path[512];
    tmp_path(path, sizeof path, "foreign.nlck");
    const char *text = "step,loss\n1,2.5\n2,2.4\n3,2.3\n4,2.2\n5,2.1\n6,2.0\n7,1.9\n8,1.8\n9,1.7\n";
    write_all(path, text, strlen(text));
    expect_refused(path, "not a normlab checkpoint", "a csv file");
    unsigned char st[96] = {80, 0, 0, 0, 0, 0, 0, 0, '{', '"'};
    write_all(path, st, sizeof st);
    expect_refused(path, "not a normlab checkpoint", "a safetensors-like file");
    write_all(path, "NL", 2);
    expect_refused(path, "truncated", "the first bytes of the magic");
    write_all(path, "NX", 2);
    expect_refused(path, "not a normlab checkpoint", "two foreign bytes");
    expect_refused(tmpdir, "not a regular file", "a directory");
    tmp_path(path, sizeof path, "does-not-exist.nlck");
    nl_ckpt got;
    nl_error err = {0};
    int rc = nl_ckpt_read(path, &got, 0, &err);
    T_CHECK(rc == NL_ERR_IO && strstr(err.msg, path), "missing file: rc %d %s", rc, err.msg);
}

static void test_newer_version(void)
{
    sample s;
    size_t len = 0;
    unsigned char *bytes = small_file("ver-src.nlck", &len, &s);
    T_CHECK(bytes != NULL, "could not write the sample");
    if (!bytes)
        return;
    char path[512];
    tmp_path(path, sizeof path, "ver.nlck");
    /* a future writer would produce valid checksums, so refresh them */
    nl_put_u32le(bytes + 8, NL_CKPT_VERSION + 1);
    patch_u64(bytes, 24, nl_get_u64le(bytes + 24));
    write_all(path, bytes, len);
    char want[96];
    snprintf(want, sizeof want, "checkpoint version %d is newer than this normlab (%d)",
             NL_CKPT_VERSION + 1, NL_CKPT_VERSION);
    expect_refused(path, want, "version + 1");
    free(bytes);
    free_sample(&s);
}

static void test_trailing_bytes(void)
{
    sample s;
    size_t len = 0;
    unsigned char *bytes = small_file("trail-src.nlck", &len, &s);
    T_CHECK(bytes != NULL, "could not write the sample");
    if (!bytes)
        return;
    char path[512];
    tmp_path(path, sizeof path, "trail.nlck");
    unsigned char *more = malloc(len + 3);
    memcpy(more, bytes, len);
    memset(more + len, 0, 3);
    write_all(path, more, len + 3);
    expect_refused(path, "3 unexpected bytes", "three bytes appended");
    free(more);
    free(bytes);
    free_sample(&s);
}

static void test_write_failures(void)
{
    sample s;
    make_sample(&s, 1);
    nl_error err = {0};
    char path[512], tmp[600];
    /* a directory where the file should go: the rename fails and the temp file goes */
    tmp_path(path, sizeof path, "is-a-dir.nlck");
    mkdir(path, 0755);
    int rc = nl_ckpt_write(path, &s.ck, 3, 0, &err);
    T_CHECK(rc == NL_ERR_IO && strstr(err.msg, path), "write over a directory: rc %d %s", rc,
            err.msg);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    T_CHECK(!file_exists(tmp), "temp file left after a failed write");
    rmdir(path);
    /* a directory that does not exist */
    tmp_path(path, sizeof path, "no/such/dir/c.nlck");
    rc = nl_ckpt_write(path, &s.ck, 3, 0, &err);
    T_CHECK(rc == NL_ERR_IO && strstr(err.msg, path), "write into a missing dir: rc %d %s", rc,
            err.msg);
    /* a tensor whose numel disagrees with its shape is refused before anything is written */
    tmp_path(path, sizeof path, "bad.nlck");
    s.t[1].numel += 1;
    rc = nl_ckpt_write(path, &s.ck, 3, 0, &err);
    T_CHECK(rc == NL_ERR_USAGE && strstr(err.msg, "blocks.0.attn.qkv.weight"),
            "numel mismatch: rc %d %s", rc, err.msg);
    s.t[1].numel -= 1;
    s.t[2].ndim = 5;
    rc = nl_ckpt_write(path, &s.ck, 3, 0, &err);
    T_CHECK(rc == NL_ERR_USAGE, "ndim 5: rc %d %s", rc, err.msg);
    s.t[2].ndim = 1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    T_CHECK(!file_exists(path) && !file_exists(tmp), "a refused write left a file");
    free_sample(&s);
}

static void test_prune(void)
{
    char dir[512], path[600];
    tmp_path(dir, sizeof dir, "prune");
    mkdir(dir, 0755);
    const char *files[] = {"ckpt-1.nlck",     "ckpt-20.nlck",    "ckpt-3.nlck",   "ckpt-100.nlck",
                           "ckpt-0050.nlck",  "ckpt-7.nlck.tmp", "notes.txt",     "ckpt-x.nlck",
                           "ckpt-9.nlck.bak", "ckpt-.nlck",      "ckpt-12a.nlck", "xckpt-2.nlck"};
    int n = (int)(sizeof files / sizeof files[0]);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        write_all(path, "x", 1);
    }
    snprintf(path, sizeof path, "%s/ckpt-999.nlck", dir); /* a directory: never removed */
    mkdir(path, 0755);
    nl_error err = {0};
    T_CHECK(nl_ckpt_prune(dir, 2, &err) == 0, "prune: %s", err.msg);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        int removed = i <= 2; /* steps 1, 20, 3 go; 100 and 50 stay */
        T_CHECK(file_exists(path) == !removed, "%s: %s", files[i],
                removed ? "should have been removed" : "should have been kept");
    }
    snprintf(path, sizeof path, "%s/ckpt-999.nlck", dir);
    T_CHECK(file_exists(path), "a directory was removed");
    T_CHECK(nl_ckpt_prune(dir, 5, &err) == 0, "prune keep 5: %s", err.msg);
    snprintf(path, sizeof path, "%s/ckpt-0050.nlck", dir);
    T_CHECK(file_exists(path), "keep 5 removed ckpt-0050");
    T_CHECK(nl_ckpt_prune(dir, 1, &err) == 0, "prune keep 1: %s", err.msg);
    T_CHECK(!file_exists(path), "keep 1 kept ckpt-0050");
    T_CHECK(nl_ckpt_prune(dir, 0, &err) == NL_ERR_USAGE, "keep 0 accepted");
    tmp_path(path, sizeof path, "no-such-dir");
    T_CHECK(nl_ckpt_prune(path, 1, &err) == NL_ERR_IO && strstr(err.msg, path), "missing dir: %s",
            err.msg);
}

static void test_large_threaded(void)
{
    const int64_t n = 4 * 1024 * 1024;
    nl_ckpt_tensor t[2];
    memset(t, 0, sizeof t);
    snprintf(t[0].name, sizeof t[0].name, "big");
    t[0].ndim = 2;
    t[0].shape[0] = 2048;
    t[0].shape[1] = n / 2048;
    t[0].numel = n;
    t[0].data = malloc(4 * (size_t)n);
    for (int64_t i = 0; i < n; i++) /* smooth values with noisy low mantissa bits */
        t[0].data[i] = (float)((i % 4099) * 1e-3) + (float)(rnd() % 64) * 1e-7f;
    snprintf(t[1].name, sizeof t[1].name, "tail");
    t[1].ndim = 1;
    t[1].shape[0] = 3;
    t[1].numel = 3;
    t[1].data = (float[]){1.0f, -2.0f, 3.5f};
    nl_ckpt ck = {.step = 42, .config_yaml = "big: true\n", .n_tensors = 2, .tensors = t};
    char path[512];
    tmp_path(path, sizeof path, "big.nlck");
    nl_error err = {0};
    int rc = nl_ckpt_write(path, &ck, 3, 2, &err);
    T_CHECK(rc == 0, "write: %s", err.msg);
    nl_ckpt got;
    rc = nl_ckpt_read(path, &got, 0, &err);
    T_CHECK(rc == 0, "read: %s", err.msg);
    if (rc == 0) {
        T_CHECK(got.n_tensors == 2 && got.tensors[0].numel == n, "table");
        T_CHECK(got.n_tensors == 2 && memcmp(got.tensors[0].data, t[0].data, 4 * (size_t)n) == 0,
                "big tensor differs");
        T_CHECK(got.n_tensors == 2 && memcmp(got.tensors[1].data, t[1].data, 12) == 0,
                "tail tensor differs");
    }
    nl_ckpt_free(&got);
    free(t[0].data);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

int main(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/nl-test-ckpt-XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        printf("FAIL setup: mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    T_RUN(test_checksum_function);
    T_RUN(test_roundtrip);
    T_RUN(test_empty);
    T_RUN(test_header_only);
    T_RUN(test_overwrite_replaces);
    T_RUN(test_truncated);
    T_RUN(test_bit_flips);
    T_RUN(test_payload_checksum_checked);
    T_RUN(test_foreign);
    T_RUN(test_newer_version);
    T_RUN(test_trailing_bytes);
    T_RUN(test_write_failures);
    T_RUN(test_prune);
    T_RUN(test_large_threaded);
    nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    T_END();
}
