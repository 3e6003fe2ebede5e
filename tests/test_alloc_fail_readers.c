/* Every host allocation of the readers is checked: the allocator wrapper (engine/xalloc.h)
 * fails the n-th allocation, for every n that loading a preset, writing and reading a
 * checkpoint, reading a safetensors export, and opening text and token data make; each must
 * end in a clean error with a message (or, where the allocation was not needed, succeed),
 * never a crash, and the unfailed load must still succeed. Leaks show under the SAN build. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine/ckpt.h"
#include "../engine/config.h"
#include "../engine/data.h"
#include "../engine/safetensors.h"
#include "../engine/xalloc.h"
#include "t.h"

static char g_dir[64];

/* 0 succeeded, 1 a clean failure (with a message), -1 a failure without one. */
static int outcome(int rc, const nl_error *e)
{
    return rc == 0 ? 0 : e->msg[0] ? 1 : -1;
}

/* Run load once unfailed (it must succeed), then once per allocation it made with that
 * allocation failing (each must succeed or fail cleanly, and at least one must fail). */
static void sweep(const char *what, int (*load)(void))
{
    nl_alloc_fail_at(0);
    T_CHECK(load() == 0, "%s: does not succeed without failures", what);
    long n = nl_alloc_count();
    T_CHECK(n > 0, "%s: no allocation went through the wrapper", what);
    int clean = 0;
    for (long i = 1; i <= n; i++) {
        nl_alloc_fail_at(i);
        int rc = load();
        T_CHECK(rc >= 0, "%s: allocation %ld of %ld failed without a message", what, i, n);
        clean += rc == 1;
    }
    nl_alloc_fail_at(0);
    printf("# %s: %ld allocations, %d failures made the load fail\n", what, n, clean);
    T_CHECK(clean > 0, "%s: no failed allocation made the load fail", what);
}

static int load_preset(void)
{
    nl_config *c = malloc(sizeof *c);
    if (!c)
        return -1;
    nl_error e = {0};
    int rc = outcome(nl_config_load_file(c, "presets/race.yaml", &e), &e);
    free(c);
    return rc;
}

static void test_alloc_fail_preset(void)
{
    sweep("presets/race.yaml", load_preset);
}

static char g_ckpt[128];

static int write_read_ckpt(void)
{
    static float w[12], b[3];
    static char state[] = "state";
    nl_ckpt_tensor t[2] = {{"w", 2, {4, 3}, 12, w}, {"b", 1, {3}, 3, b}};
    nl_ckpt ck = {.step = 7,
                  .config_yaml = "name: t\n",
                  .state = state,
                  .state_len = sizeof state,
                  .n_tensors = 2,
                  .tensors = t};
    nl_error e = {0};
    int rc = nl_ckpt_write(g_ckpt, &ck, 3, 0, &e);
    if (rc)
        return outcome(rc, &e);
    nl_ckpt in;
    rc = nl_ckpt_read(g_ckpt, &in, 0, &e);
    if (rc == 0 && (in.n_tensors != 2 || in.step != 7))
        rc = nl_fail(&e, NL_ERR_USAGE, "read back wrong");
    nl_ckpt_free(&in);
    return outcome(rc, &e);
}

static void test_alloc_fail_ckpt(void)
{
    snprintf(g_ckpt, sizeof g_ckpt, "%s/ckpt-7.nlck", g_dir);
    sweep("checkpoint write and read", write_read_ckpt);
}

static char g_st[128];

static int read_st(void)
{
    nl_st_file f;
    nl_error e = {0};
    int rc = nl_st_read(g_st, &f, &e);
    if (rc == 0 && (f.n_tensors != 2 || !nl_st_meta(&f, "format")))
        rc = nl_fail(&e, NL_ERR_USAGE, "read back wrong");
    nl_st_free(&f);
    return outcome(rc, &e);
}

static void test_alloc_fail_safetensors(void)
{
    snprintf(g_st, sizeof g_st, "%s/model.safetensors", g_dir);
    static float w[6] = {1, 2, 3, 4, 5, 6};
    static int32_t ids[2] = {4, 5};
    nl_st_tensor t[2] = {{"tok \"emb\"", NL_ST_F32, 2, {2, 3}, 6, w},
                         {"ids", NL_ST_I32, 1, {2}, 2, ids}};
    const char *keys[] = {"format", "note"}, *vals[] = {"pt", "caf\xc3\xa9 \\u"};
    nl_error e = {0};
    T_CHECK(nl_st_write(g_st, t, 2, keys, vals, 2, &e) == 0, "%s", e.msg);
    sweep("safetensors read", read_st);
}

static char g_source[600];

static int open_data(void)
{
    nl_data_config dc = {.vocab = 0, .seed = 1, .val_fraction = 0.1f};
    snprintf(dc.source, sizeof dc.source, "%s", g_source);
    nl_error e = {0};
    nl_data *d = nl_data_open(&dc, 8, 3, &e);
    int32_t tok[2 * 8], tgt[2 * 8];
    int rc = d ? nl_data_next_batch(d, tok, tgt, 2, &e) : 1;
    nl_data_close(d);
    return outcome(rc, &e);
}

/* A new file called name in the test's directory: its path into path, and g_source set to
 * the data source kind:PATH. */
static FILE *create_source(const char *kind, const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    snprintf(g_source, sizeof g_source, "%s:%s", kind, path);
    FILE *f = fopen(path, "wb");
    T_CHECK(f != NULL, "cannot write %s", path);
    return f;
}

static void test_alloc_fail_text_data(void)
{
    char path[128];
    FILE *f = create_source("text", "text.txt", path, sizeof path);
    if (!f)
        return;
    for (int i = 0; i < 400; i++)
        fputs("the quick brown fox ", f);
    fclose(f);
    sweep("text data", open_data);
}

static void test_alloc_fail_token_data(void)
{
    char path[128];
    FILE *f = create_source("tokens", "tokens.bin", path, sizeof path);
    if (!f)
        return;
    int32_t header[256] = {20240520, 1, 1000};
    fwrite(header, sizeof header, 1, f);
    for (int i = 0; i < 1000; i++) {
        uint16_t t = (uint16_t)(i * 7 % 50);
        fwrite(&t, 2, 1, f);
    }
    fclose(f);
    sweep("token data", open_data);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/nl_allocfail_XXXXXX");
    if (!mkdtemp(g_dir)) {
        printf("FAIL main: cannot make a temporary directory\n");
        return 1;
    }
    T_RUN(test_alloc_fail_preset);
    T_RUN(test_alloc_fail_ckpt);
    T_RUN(test_alloc_fail_safetensors);
    T_RUN(test_alloc_fail_text_data);
    T_RUN(test_alloc_fail_token_data);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", g_dir);
    T_END();
}
