/* Configuration from YAML: the shipped presets and the embedded default, race entries, the
 * YAML forms a preset may take, broken presets, and presets of many keys or deep nesting.
 * Run from the repository root (or from build/tests, which finds it). */
#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/config.h"

/* Failure messages quote whole error messages into t.h's fixed buffer; cutting them short is
 * fine, and t_skip is not needed here. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#pragma GCC diagnostic ignored "-Wunused-function"
#include "tests/config_t.h"
#include "tests/t.h"

/* ---- presets ----------------------------------------------------------------------------- */

static void test_presets_load(void)
{
    glob_t g;
    T_CHECK(glob("presets/*.yaml", 0, NULL, &g) == 0, "no presets/*.yaml");
    T_CHECK(g.gl_pathc >= 12, "only %zu presets", g.gl_pathc);
    int placements_seen[NL_PLACE_COUNT] = {0};
    nl_config *c = new_config(), *r = new_config();
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        nl_error e = {0};
        T_CHECK(nl_config_load_file(c, path, &e) == 0, "%s", e.msg);
        if (e.code)
            continue;
        T_CHECK(nl_config_validate(c, &e) == 0, "%s: %s", path, e.msg);
        char *text = read_text(path);
        T_CHECK(text && text[0] == '#', "%s: no comment header", path);
        free(text);

        /* small enough for 2 cores */
        T_CHECK(c->model.d_model <= 128 && c->model.layers <= 24 && c->train.steps <= 1000 &&
                    c->train.batch * c->model.seq_len <= 1024,
                "%s is too big for a laptop", path);

        char base[256];
        snprintf(base, sizeof base, "%s", path);
        char *stem = basename(base);
        stem[strlen(stem) - 5] = '\0';
        T_CHECK(!strcmp(c->name, stem), "%s: name '%s'", path, c->name);
        int p = nl_placement_from_name(stem);
        if (p >= 0) {
            T_CHECK(c->model.placement == (nl_placement)p, "%s: placement %s", path,
                    nl_placement_name(c->model.placement));
            placements_seen[p] = 1;
        }
        for (int k = 0; k < c->n_runs; k++) {
            T_CHECK(nl_config_race_entry(c, k, r, &e) == 0, "%s: run %d: %s", path, k, e.msg);
        }
    }
    for (int p = 0; p < NL_PLACE_COUNT; p++)
        T_CHECK(placements_seen[p], "no preset for placement %s",
                nl_placement_name((nl_placement)p));
    globfree(&g);

    nl_error e = {0};
    T_CHECK(nl_config_load_file(c, "presets/default.yaml", &e) == 0, "%s", e.msg);
    T_CHECK(!strcmp(c->data.source, "markov") && c->data.vocab == 64 && c->data.order == 1 &&
                c->model.d_model == 64 && c->model.layers == 4 && c->model.heads == 4 &&
                c->model.seq_len == 64 && c->train.batch == 8 && c->train.warmup == 20 &&
                c->train.steps == 300 && c->train.schedule == NL_SCHED_COSINE &&
                c->model.placement == NL_PLACE_PRE,
            "default.yaml differs from the default model");
    T_NEAR(c->train.lr, 3e-3f, 0, "default lr");
    T_NEAR(c->data.alpha, 0.1f, 0, "default alpha");

    T_CHECK(nl_config_load_file(c, "presets/deepnorm.yaml", &e) == 0, "%s", e.msg);
    T_CHECK(c->model.init == NL_INIT_DEEPNORM, "deepnorm.yaml init %s",
            nl_init_name(c->model.init));

    T_CHECK(nl_config_load_file(c, "presets/custom.yaml", &e) == 0, "%s", e.msg);
    T_CHECK(c->model.n_overrides >= 1, "custom.yaml has no per-layer overrides");
    T_CHECK(c->model.overrides[0].layer == 0 && c->model.overrides[0].attn.post &&
                !c->model.overrides[0].attn.pre && c->model.overrides[0].has_ffn,
            "custom.yaml override 0");

    T_CHECK(nl_config_load_file(c, "presets/postnorm-deep.yaml", &e) == 0, "%s", e.msg);
    T_CHECK(c->model.placement == NL_PLACE_POST && c->model.layers >= 16 && c->train.warmup == 0 &&
                c->train.lr >= 1e-3f,
            "postnorm-deep.yaml is not a deep, unwarmed Post-Norm run");

    T_CHECK(nl_config_load_file(c, "presets/race.yaml", &e) == 0, "%s", e.msg);
    T_CHECK(c->n_runs == 3 && !strcmp(c->runs[0].name, "pre") && !strcmp(c->runs[1].name, "post") &&
                !strcmp(c->runs[2].name, "hybrid"),
            "race.yaml runs");
    free(c);
    free(r);
}

static void test_embedded_default(void)
{
    char *file = read_text("presets/default.yaml");
    T_CHECK(file != NULL, "cannot read presets/default.yaml");
    if (!file)
        return;
    T_CHECK(strlen(file) == nl_default_preset_yaml_len &&
                !memcmp(file, nl_default_preset_yaml, nl_default_preset_yaml_len),
            "the embedded default is not presets/default.yaml (rebuild?)");
    T_CHECK(nl_default_preset_yaml[nl_default_preset_yaml_len] == '\0', "not NUL-terminated");
    nl_config *a = new_config(), *b = new_config();
    nl_error e = {0};
    T_CHECK(nl_config_load_string(a, nl_default_preset_yaml, nl_default_preset_yaml_len,
                                  "<default>", &e) == 0,
            "%s", e.msg);
    T_CHECK(nl_config_load_file(b, "presets/default.yaml", &e) == 0, "%s", e.msg);
    T_CHECK(config_equal(a, b), "embedded vs file: %s", first_difference(a, b));
    free(a);
    free(b);
    free(file);
}

/* ---- races ------------------------------------------------------------------------------- */

static void test_race_entries(void)
{
    nl_config *base = new_config(), *r = new_config();
    nl_error e = {0};
    T_CHECK(nl_config_load_file(base, "presets/race.yaml", &e) == 0, "%s", e.msg);
    T_CHECK(base->n_runs == 3, "race has %d runs", base->n_runs);
    static const nl_placement want[] = {NL_PLACE_PRE, NL_PLACE_POST, NL_PLACE_HYBRID};
    for (int i = 0; i < 3 && i < base->n_runs; i++) {
        T_CHECK(nl_config_race_entry(base, i, r, &e) == 0, "entry %d: %s", i, e.msg);
        T_CHECK(r->model.placement == want[i], "entry %d placement %s", i,
                nl_placement_name(r->model.placement));
        T_CHECK(!strcmp(r->name, base->runs[i].name), "entry %d name %s", i, r->name);
        T_CHECK(r->n_runs == 0, "an entry is a single run");
        /* everything else is the base */
        r->model.placement = base->model.placement;
        memcpy(r->name, base->name, sizeof r->name);
        r->n_runs = base->n_runs;
        memcpy(r->runs, base->runs, sizeof r->runs);
        T_CHECK(config_equal(r, base), "entry %d changed %s", i, first_difference(r, base));
    }
    T_CHECK(nl_config_race_entry(base, 3, r, &e) == NL_ERR_USAGE && strstr(e.msg, "race entry 3"),
            "entry 3 of 3: %s", e.msg);
    T_CHECK(nl_config_race_entry(base, -1, r, &e) == NL_ERR_USAGE, "entry -1");

    /* an entry that sets a bad value or breaks a cross-field rule */
    static const char yaml[] = "runs:\n"
                               "  - name: wide\n"
                               "    set:\n"
                               "      model: {d_model: 256, layers: 2}\n"
                               "      train.lr: 1e-4\n"
                               "  - {name: deep, set: {model.layers: 12}}\n";
    T_CHECK(nl_config_load_string(base, yaml, strlen(yaml), "race", &e) == 0, "%s", e.msg);
    T_CHECK(base->n_runs == 2 && base->runs[0].n_set == 3, "nested set: %d runs, %d sets",
            base->n_runs, base->runs[0].n_set);
    T_CHECK(nl_config_race_entry(base, 0, r, &e) == 0 && r->model.d_model == 256 &&
                r->model.layers == 2 && !strcmp(r->name, "wide"),
            "entry 0: %s", e.msg);
    T_NEAR(r->train.lr, 1e-4f, 0, "entry 0 lr");
    T_CHECK(nl_config_race_entry(base, 1, r, &e) == 0 && r->model.layers == 12 &&
                r->model.d_model == 128,
            "entry 1: %s", e.msg);
    snprintf(base->runs[1].set_val[0], sizeof base->runs[1].set_val[0], "%s", "deep");
    T_CHECK(nl_config_race_entry(base, 1, r, &e) == NL_ERR_USAGE &&
                strstr(e.msg, "runs[1] 'deep': model.layers: expected an integer"),
            "bad entry value: %s", e.msg);
    snprintf(base->runs[1].set_key[0], sizeof base->runs[1].set_key[0], "%s", "model.heads");
    snprintf(base->runs[1].set_val[0], sizeof base->runs[1].set_val[0], "%s", "5");
    T_CHECK(nl_config_race_entry(base, 1, r, &e) == NL_ERR_USAGE &&
                strstr(e.msg, "runs[1] 'deep': model.d_model (128) must be divisible"),
            "entry failing validation: %s", e.msg);

    /* at most 8 runs */
    char big[2048] = "runs:\n";
    for (int i = 0; i < 9; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "  - name: r%d\n", i);
    T_CHECK(nl_config_load_string(base, big, strlen(big), "big", &e) == NL_ERR_USAGE &&
                strstr(e.msg, "big:10:5: runs: at most 8 runs"),
            "nine runs: %s", e.msg);
    free(base);
    free(r);
}

/* ---- YAML forms that load, and broken YAML ----------------------------------------------- */

static void test_yaml_forms(void)
{
    static const char yaml[] = "# comments and every way of nesting\n"
                               "model.layers: 6\n"
                               "model:\n"
                               "  heads: 2\n"
                               "  custom.attn: {qk: yes}\n"
                               "  moe:\n"
                               "train:\n"
                               "data: {source: 'text:/tmp/a b.txt', val_fraction: \"0.2\"}\n"
                               "name: &n forms\n";
    nl_config *c = new_config();
    nl_error e = {0};
    T_CHECK(nl_config_load_string(c, yaml, strlen(yaml), "forms", &e) == 0, "%s", e.msg);
    T_CHECK(c->model.layers == 6 && c->model.heads == 2 && c->model.custom_attn.qk &&
                !strcmp(c->data.source, "text:/tmp/a b.txt") && !strcmp(c->name, "forms"),
            "forms loaded wrong");
    T_NEAR(c->data.val_fraction, 0.2f, 0, "quoted number");

    /* on failure the config is left as it was */
    nl_config *before = malloc(sizeof *before);
    memcpy(before, c, sizeof *c);
    static const char bad[] = "model: {layers: 8}\ntrain: {lr: -1}\n";
    T_CHECK(nl_config_load_string(c, bad, strlen(bad), "bad", &e) == NL_ERR_USAGE, "bad loaded");
    T_CHECK(config_equal(c, before), "a failed load changed the config");
    free(before);

    T_CHECK(nl_config_load_string(c, "", 0, "mem.yaml", &e) == NL_ERR_USAGE &&
                !strncmp(e.msg, "mem.yaml:1:1: empty file", 24),
            "empty string: %s", e.msg);
    T_CHECK(nl_config_load_string(c, "model: [", 8, NULL, &e) == NL_ERR_USAGE &&
                !strncmp(e.msg, "<string>:", 9),
            "unnamed: %s", e.msg);
    T_CHECK(nl_config_load_file(c, "tests/yaml/no-such-file.yaml", &e) == NL_ERR_IO &&
                strstr(e.msg, "tests/yaml/no-such-file.yaml: cannot read"),
            "missing file: %s", e.msg);
    static const char nul[] = "name: a\xff\xfe\n";
    T_CHECK(nl_config_load_string(c, nul, strlen(nul), "bytes", &e) == NL_ERR_USAGE &&
                !strncmp(e.msg, "bytes:1:", 8),
            "invalid UTF-8: %s", e.msg);
    free(c);
}

static void test_broken_yaml(void)
{
    glob_t g;
    T_CHECK(glob("tests/yaml/*.yaml", 0, NULL, &g) == 0, "no tests/yaml/*.yaml");
    T_CHECK(g.gl_pathc >= 10, "only %zu broken files", g.gl_pathc);
    nl_config *c = new_config(), *before = new_config();
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        char *text = read_text(path);
        T_CHECK(text != NULL, "cannot read %s", path);
        if (!text)
            continue;
        /* "# expect: LINE:COL: message" */
        int line = 0, col = 0, off = 0;
        T_CHECK(sscanf(text, "# expect: %d:%d: %n", &line, &col, &off) == 2 && off > 0,
                "%s: no '# expect: LINE:COL: message' header", path);
        char want[512] = "";
        if (off > 0)
            snprintf(want, sizeof want, "%.*s", (int)strcspn(text + off, "\n"), text + off);
        free(text);
        if (!*want)
            continue;

        nl_error e = {0};
        int rc = nl_config_load_file(c, path, &e);
        T_CHECK(rc == NL_ERR_USAGE, "%s: loaded (rc %d)", path, rc);
        char prefix[300];
        snprintf(prefix, sizeof prefix, "%s:%d:%d: ", path, line, col);
        T_CHECK(!strncmp(e.msg, prefix, strlen(prefix)), "%s: got '%s', expected it to start '%s'",
                path, e.msg, prefix);
        T_CHECK(strstr(e.msg, want) != NULL, "%s: got '%s', expected '%s'", path, e.msg, want);
        T_CHECK(config_equal(c, before), "%s: the failed load changed the config", path);
    }
    globfree(&g);
    free(c);
    free(before);
}

/* A preset of 100k keys (D4): the duplicate check is linear, so the first unknown key is
 * reported at once (the quadratic check took minutes); a duplicate among them is found with
 * where it was first given. alarm() turns a hang into a failure. */
static void test_many_keys(void)
{
    enum { N = 100000 };
    char *y = malloc((size_t)N * 16 + 64);
    size_t n = 0;
    for (int i = 0; i < N; i++)
        n += (size_t)sprintf(y + n, "k%d: 1\n", i);
    nl_config *c = malloc(sizeof *c);
    nl_error e = {0};
    nl_config_defaults(c);
    alarm(60);
    int rc = nl_config_load_string(c, y, n, "keys.yaml", &e);
    T_CHECK(rc == NL_ERR_USAGE && strstr(e.msg, "keys.yaml:1:1: unknown key 'k0'"), "%s", e.msg);
    n += (size_t)sprintf(y + n, "k5: 2\n");
    rc = nl_config_load_string(c, y, n, "keys.yaml", &e);
    alarm(0);
    T_CHECK(rc == NL_ERR_USAGE && strstr(e.msg, "keys.yaml:100001:1: duplicate key 'k5' (first "
                                                "given at 6:1)"),
            "%s", e.msg);
    free(y);
    free(c);
}

/* Deep nesting (D5) is refused while parsing, at the level past the limit, before libyaml
 * builds a document (100k levels took a minute); 64 levels are still YAML the loader reads. */
static void test_deep_nesting(void)
{
    enum { N = 100000 };
    char *y = malloc(2 * N + 16);
    size_t n = (size_t)sprintf(y, "model: ");
    memset(y + n, '[', N);
    memset(y + n + N, ']', N);
    n += 2 * N;
    nl_config *c = malloc(sizeof *c);
    nl_error e = {0};
    nl_config_defaults(c);
    alarm(60);
    int rc = nl_config_load_string(c, y, n, "deep.yaml", &e);
    alarm(0);
    T_CHECK(rc == NL_ERR_USAGE && strstr(e.msg, "deep.yaml:1:71: nested more than 64 levels"), "%s",
            e.msg);
    n = (size_t)sprintf(y, "model: ");
    memset(y + n, '[', 63);
    memset(y + n + 63, ']', 63);
    n += 126;
    rc = nl_config_load_string(c, y, n, "deep.yaml", &e);
    T_CHECK(rc == NL_ERR_USAGE && strstr(e.msg, "model: expected"), "63 levels: %s", e.msg);
    free(y);
    free(c);
}

int main(int argc, char **argv)
{
    (void)argc;
    go_to_root(argv[0]);
    T_RUN(test_presets_load);
    T_RUN(test_embedded_default);
    T_RUN(test_race_entries);
    T_RUN(test_yaml_forms);
    T_RUN(test_broken_yaml);
    T_RUN(test_many_keys);
    T_RUN(test_deep_nesting);
    T_END();
}
