/* Presets: YAML (libyaml's document API) -> nl_config. Nested maps resolve to dotted keys, and
 * every scalar goes through nl_config_set, so a preset and --set share one parser and one set
 * of messages. Every error is "FILE:LINE:COL: message" at the key or value at fault. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"
#include "config_internal.h"

#define MAX_FILE_BYTES (16u << 20)
#define MAX_SETS 32 /* settings per race entry (nl_race_entry) */

typedef struct seen_key {
    char path[64];
    yaml_mark_t key_mark, value_mark;
} seen_key;

typedef struct loader {
    const char *file;
    yaml_document_t *doc;
    nl_config *c;
    nl_error *err;
    int n_seen;
    seen_key seen[192];
    yaml_mark_t root_mark;
    yaml_mark_t override_mark[NL_MAX_OVERRIDES];
    yaml_mark_t run_mark[NL_MAX_RACE];
    yaml_mark_t run_set_mark[NL_MAX_RACE][MAX_SETS];
} loader;

static int fail_at(loader *L, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(loader *L, yaml_mark_t m, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nl_fail(L->err, NL_ERR_USAGE, "%s:%zu:%zu: %s", L->file, m.line + 1, m.column + 1, msg);
}

static yaml_node_t *node_at(loader *L, int index)
{
    return yaml_document_get_node(L->doc, index);
}

static const char *scalar_text(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* An empty plain scalar, "~" or "null": a key written with nothing after it. */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar_text(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* "a map", "a list" or "'text'" for messages. */
static void describe(const yaml_node_t *n, char *buf, size_t len)
{
    if (n->type == YAML_MAPPING_NODE)
        snprintf(buf, len, "a map");
    else if (n->type == YAML_SEQUENCE_NODE)
        snprintf(buf, len, "a list");
    else if (strlen(scalar_text(n)) > 60)
        snprintf(buf, len, "'%.57s...'", scalar_text(n));
    else
        snprintf(buf, len, "'%s'", scalar_text(n));
}

static void mark_text(yaml_mark_t m, char *buf, size_t len)
{
    snprintf(buf, len, "%zu:%zu", m.line + 1, m.column + 1);
}

static void join(char *out, size_t len, const char *prefix, const char *key)
{
    if (prefix && *prefix)
        snprintf(out, len, "%s.%s", prefix, key);
    else
        snprintf(out, len, "%s", key);
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Every key of a map is a scalar with a name, and none appears twice. The keys seen go into
 * an open-addressed hash set (a map of 100k keys is checked in linear time, not quadratic). */
static int check_map_keys(loader *L, yaml_node_t *map, const char *prefix)
{
    yaml_node_pair_t *first = map->data.mapping.pairs.start;
    size_t n = (size_t)(map->data.mapping.pairs.top - first), cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    yaml_node_t **set = calloc(cap, sizeof *set);
    if (!set)
        return nl_fail(L->err, NL_ERR_IO, "%s: out of memory", L->file);
    int rc = 0;
    for (yaml_node_pair_t *p = first; rc == 0 && p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(L, p->key);
        char d[80], path[256];
        if (k->type != YAML_SCALAR_NODE) {
            describe(k, d, sizeof d);
            rc = fail_at(L, k->start_mark, "%s%sexpected a key name, got %s", prefix ? prefix : "",
                         prefix && *prefix ? ": " : "", d);
            break;
        }
        if (strlen(scalar_text(k)) != k->data.scalar.length || !*scalar_text(k)) {
            rc = fail_at(L, k->start_mark, "%s%sempty or invalid key name", prefix ? prefix : "",
                         prefix && *prefix ? ": " : "");
            break;
        }
        size_t i = (size_t)hash_text(scalar_text(k)) & (cap - 1);
        for (; set[i]; i = (i + 1) & (cap - 1)) {
            yaml_node_t *k2 = set[i];
            if (strcmp(scalar_text(k2), scalar_text(k)) == 0) {
                join(path, sizeof path, prefix, scalar_text(k));
                mark_text(k2->start_mark, d, sizeof d);
                rc = fail_at(L, k->start_mark, "duplicate key '%s' (first given at %s)", path, d);
                break;
            }
        }
        set[i] = k;
    }
    free(set);
    return rc;
}

static seen_key *find_seen(loader *L, const char *path)
{
    for (int i = 0; i < L->n_seen; i++)
        if (strcmp(L->seen[i].path, path) == 0)
            return &L->seen[i];
    return NULL;
}

/* Record that path was given; the same key given twice (model.layers and model: {layers}) is
 * a duplicate even though no one map holds it twice. */
static int note_key(loader *L, const char *path, yaml_node_t *k, yaml_node_t *v)
{
    seen_key *s = find_seen(L, path);
    if (s) {
        char m[32];
        mark_text(s->key_mark, m, sizeof m);
        return fail_at(L, k->start_mark, "duplicate key '%s' (first given at %s)", path, m);
    }
    if (L->n_seen < (int)(sizeof L->seen / sizeof L->seen[0]) && strlen(path) < sizeof s->path) {
        s = &L->seen[L->n_seen++];
        snprintf(s->path, sizeof s->path, "%s", path);
        s->key_mark = k->start_mark;
        s->value_mark = v->start_mark;
    }
    return 0;
}

static int expect_map(loader *L, yaml_node_t *v, const char *path, const char *what)
{
    if (v->type == YAML_MAPPING_NODE)
        return 0;
    char d[80];
    describe(v, d, sizeof d);
    return fail_at(L, v->start_mark, "%s: expected %s, got %s", path, what, d);
}

/* A key's value is a map or a list where the key wants a scalar. `where` prefixes the message
 * (e.g. "runs[0].set"), or is NULL. */
static int fail_not_scalar(loader *L, yaml_node_t *v, const char *where, const char *path)
{
    char want[160], d[80];
    nl_config_expected(path, want, sizeof want);
    describe(v, d, sizeof d);
    return fail_at(L, v->start_mark, "%s%s%s: expected %s, got %s", where ? where : "",
                   where ? ": " : "", path, want, d);
}

static int fail_unknown(loader *L, yaml_node_t *k, const char *where, const char *path)
{
    char msg[512];
    nl_config_unknown_key(path, msg, sizeof msg);
    return fail_at(L, k->start_mark, "%s%s%s", where ? where : "", where ? ": " : "", msg);
}

/* ---- model.custom.layers ----------------------------------------------------------------- */

static int load_flags(loader *L, yaml_node_t *v, const char *path, bool attn, nl_sublayer_flags *f)
{
    static const char *const attn_keys[] = {"pre", "peri", "post", "res_from_normed",
                                            "qk",  "v",    "alpha"};
    static const char *const ffn_keys[] = {"pre", "peri", "post", "res_from_normed", "alpha"};
    memset(f, 0, sizeof *f);
    if (is_null(v))
        return 0;
    if (expect_map(L, v, path, "a map of flags (pre, peri, post, ...)"))
        return NL_ERR_USAGE;
    if (check_map_keys(L, v, path))
        return NL_ERR_USAGE;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(L, p->key), *val = node_at(L, p->value);
        const char *name = scalar_text(k);
        char full[256], d[80];
        join(full, sizeof full, path, name);
        const char *const *keys = attn ? attn_keys : ffn_keys;
        int nk = attn ? 7 : 5, which = -1;
        for (int i = 0; i < nk; i++)
            if (strcmp(name, keys[i]) == 0)
                which = i;
        if (which < 0) {
            const char *s = nl_config_suggest(name, keys, nk);
            if (s)
                return fail_at(L, k->start_mark, "unknown key '%s' (did you mean '%s.%s'?)", full,
                               path, s);
            return fail_at(L, k->start_mark, "unknown key '%s' (expected %s)", full,
                           attn ? "pre, peri, post, res_from_normed, qk, v or alpha"
                                : "pre, peri, post, res_from_normed or alpha");
        }
        describe(val, d, sizeof d);
        if (strcmp(name, "alpha") == 0) {
            double a;
            if (val->type != YAML_SCALAR_NODE || nl_config_parse_number(scalar_text(val), &a) ||
                !(a >= 0 && a <= 1000))
                return fail_at(L, val->start_mark,
                               "%s: expected a number in [0, 1000] (0 = keep the base), got %s",
                               full, d);
            f->alpha = (float)a;
            continue;
        }
        bool b;
        if (val->type != YAML_SCALAR_NODE || nl_config_parse_bool(scalar_text(val), &b))
            return fail_at(L, val->start_mark, "%s: expected true or false, got %s", full, d);
        if (!strcmp(name, "pre"))
            f->pre = b;
        else if (!strcmp(name, "peri"))
            f->peri = b;
        else if (!strcmp(name, "post"))
            f->post = b;
        else if (!strcmp(name, "res_from_normed"))
            f->res_from_normed = b;
        else if (!strcmp(name, "qk"))
            f->qk = b;
        else
            f->v = b;
    }
    return 0;
}

static int load_overrides(loader *L, yaml_node_t *v)
{
    static const char *const item_keys[] = {"layer", "attn", "ffn"};
    nl_model_config *m = &L->c->model;
    char d[80];
    m->n_overrides = 0;
    if (is_null(v))
        return 0;
    if (v->type != YAML_SEQUENCE_NODE) {
        describe(v, d, sizeof d);
        return fail_at(L, v->start_mark,
                       "model.custom.layers: expected a list of {layer, attn, ffn} maps, got %s",
                       d);
    }
    int i = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *item = node_at(L, *it);
        char path[64];
        snprintf(path, sizeof path, "model.custom.layers[%d]", i);
        if (i >= NL_MAX_OVERRIDES)
            return fail_at(L, item->start_mark, "model.custom.layers: at most %d overrides",
                           NL_MAX_OVERRIDES);
        if (expect_map(L, item, path, "a map {layer: N, attn: {...}, ffn: {...}}"))
            return NL_ERR_USAGE;
        if (check_map_keys(L, item, path))
            return NL_ERR_USAGE;
        nl_layer_override *o = &m->overrides[i];
        memset(o, 0, sizeof *o);
        bool has_layer = false;
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = node_at(L, p->key), *val = node_at(L, p->value);
            const char *name = scalar_text(k);
            char full[128];
            join(full, sizeof full, path, name);
            if (strcmp(name, "layer") == 0) {
                char *end = NULL;
                long n = 0;
                if (val->type == YAML_SCALAR_NODE && *scalar_text(val))
                    n = strtol(scalar_text(val), &end, 10);
                if (!end || *end || n < 0 || n >= NL_MAX_LAYERS) {
                    describe(val, d, sizeof d);
                    return fail_at(L, val->start_mark, "%s: expected an integer in [0, %d], got %s",
                                   full, NL_MAX_LAYERS - 1, d);
                }
                o->layer = (int)n;
                has_layer = true;
                L->override_mark[i] = val->start_mark;
            } else if (strcmp(name, "attn") == 0) {
                if (load_flags(L, val, full, true, &o->attn))
                    return NL_ERR_USAGE;
                o->has_attn = true;
            } else if (strcmp(name, "ffn") == 0) {
                if (load_flags(L, val, full, false, &o->ffn))
                    return NL_ERR_USAGE;
                o->has_ffn = true;
            } else {
                const char *s = nl_config_suggest(name, item_keys, 3);
                if (s)
                    return fail_at(L, k->start_mark, "unknown key '%s' (did you mean '%s.%s'?)",
                                   full, path, s);
                return fail_at(L, k->start_mark, "unknown key '%s' (expected layer, attn or ffn)",
                               full);
            }
        }
        if (!has_layer)
            return fail_at(L, item->start_mark, "%s: missing 'layer' (the block index)", path);
        if (!o->has_attn && !o->has_ffn)
            return fail_at(L, item->start_mark, "%s: give attn and/or ffn flags", path);
        m->n_overrides = i + 1;
    }
    return 0;
}

/* ---- runs (a race) ----------------------------------------------------------------------- */

static int load_run_sets(loader *L, yaml_node_t *map, const char *prefix, int r, const char *where)
{
    nl_race_entry *e = &L->c->runs[r];
    if (check_map_keys(L, map, where))
        return NL_ERR_USAGE;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(L, p->key), *v = node_at(L, p->value);
        char path[256];
        join(path, sizeof path, prefix, scalar_text(k));
        switch (nl_config_path_class(path)) {
        case NL_PATH_KEY: {
            if (v->type != YAML_SCALAR_NODE)
                return fail_not_scalar(L, v, where, path);
            for (int j = 0; j < e->n_set; j++)
                if (strcmp(e->set_key[j], path) == 0)
                    return fail_at(L, k->start_mark, "%s: duplicate key '%s'", where, path);
            if (e->n_set >= MAX_SETS)
                return fail_at(L, k->start_mark, "%s: at most %d settings", where, MAX_SETS);
            if (strlen(scalar_text(v)) >= sizeof e->set_val[0])
                return fail_at(L, v->start_mark, "%s: %s: value too long (at most %zu characters)",
                               where, path, sizeof e->set_val[0] - 1);
            snprintf(e->set_key[e->n_set], sizeof e->set_key[0], "%.63s", path); /* a known key */
            snprintf(e->set_val[e->n_set], sizeof e->set_val[0], "%s", scalar_text(v));
            L->run_set_mark[r][e->n_set] = v->start_mark;
            e->n_set++;
            break;
        }
        case NL_PATH_SECTION:
            if (is_null(v))
                break;
            if (expect_map(L, v, path, "a map"))
                return NL_ERR_USAGE;
            if (load_run_sets(L, v, path, r, where))
                return NL_ERR_USAGE;
            break;
        case NL_PATH_OVERRIDES:
        case NL_PATH_RUNS:
        case NL_PATH_LESSON:
            return fail_at(L, k->start_mark, "%s: '%s' cannot be set in a race entry", where, path);
        case NL_PATH_UNKNOWN:
        default:
            return fail_unknown(L, k, where, path);
        }
    }
    return 0;
}

static int load_runs(loader *L, yaml_node_t *v)
{
    static const char *const item_keys[] = {"name", "set"};
    nl_config *c = L->c;
    char d[80];
    c->n_runs = 0;
    if (is_null(v))
        return 0;
    if (v->type != YAML_SEQUENCE_NODE) {
        describe(v, d, sizeof d);
        return fail_at(L, v->start_mark, "runs: expected a list of {name, set} maps, got %s", d);
    }
    nl_config *scratch = malloc(sizeof *scratch);
    if (!scratch)
        return nl_fail(L->err, NL_ERR_IO, "%s: out of memory", L->file);
    nl_config_defaults(scratch);
    int rc = 0, i = 0;
    yaml_mark_t name_mark[NL_MAX_RACE];
    for (yaml_node_item_t *it = v->data.sequence.items.start;
         rc == 0 && it < v->data.sequence.items.top; it++, i++) {
        yaml_node_t *item = node_at(L, *it);
        char where[32];
        snprintf(where, sizeof where, "runs[%d]", i);
        if (i >= NL_MAX_RACE) {
            rc = fail_at(L, item->start_mark, "runs: at most %d runs in a race", NL_MAX_RACE);
            break;
        }
        if ((rc = expect_map(L, item, where, "a map {name: N, set: {key: value, ...}}")))
            break;
        if ((rc = check_map_keys(L, item, where)))
            break;
        nl_race_entry *e = &c->runs[i];
        memset(e, 0, sizeof *e);
        L->run_mark[i] = item->start_mark;
        bool has_name = false;
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
             rc == 0 && p < item->data.mapping.pairs.top; p++) {
            yaml_node_t *k = node_at(L, p->key), *val = node_at(L, p->value);
            const char *name = scalar_text(k);
            if (strcmp(name, "name") == 0) {
                nl_error e2 = {0};
                if (val->type != YAML_SCALAR_NODE) {
                    describe(val, d, sizeof d);
                    rc = fail_at(L, val->start_mark, "%s.name: expected a name, got %s", where, d);
                } else if (nl_config_set(scratch, "name", scalar_text(val), &e2)) {
                    rc = fail_at(L, val->start_mark, "%s.%s", where, e2.msg);
                } else {
                    snprintf(e->name, sizeof e->name, "%s", scratch->name);
                    name_mark[i] = val->start_mark;
                    has_name = true;
                }
            } else if (strcmp(name, "set") == 0) {
                char set_where[40];
                snprintf(set_where, sizeof set_where, "%s.set", where);
                if (is_null(val))
                    continue;
                rc = expect_map(L, val, set_where, "a map of settings");
                if (rc == 0)
                    rc = load_run_sets(L, val, "", i, set_where);
            } else {
                const char *s = nl_config_suggest(name, item_keys, 2);
                if (s)
                    rc = fail_at(L, k->start_mark, "unknown key '%s.%s' (did you mean '%s.%s'?)",
                                 where, name, where, s);
                else
                    rc = fail_at(L, k->start_mark, "unknown key '%s.%s' (expected name or set)",
                                 where, name);
            }
        }
        if (rc)
            break;
        if (!has_name) {
            rc = fail_at(L, item->start_mark, "%s: missing 'name'", where);
            break;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(c->runs[j].name, e->name) == 0) {
                rc = fail_at(L, name_mark[i], "%s.name: '%s' is already the name of runs[%d]",
                             where, e->name, j);
                break;
            }
        }
        if (rc == 0)
            c->n_runs = i + 1;
    }
    free(scratch);
    return rc;
}

/* ---- the top-level walk ------------------------------------------------------------------ */

static int load_map(loader *L, yaml_node_t *map, const char *prefix)
{
    if (check_map_keys(L, map, prefix))
        return NL_ERR_USAGE;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(L, p->key), *v = node_at(L, p->value);
        char path[256];
        join(path, sizeof path, prefix, scalar_text(k));
        switch (nl_config_path_class(path)) {
        case NL_PATH_KEY: {
            if (note_key(L, path, k, v))
                return NL_ERR_USAGE;
            if (v->type != YAML_SCALAR_NODE)
                return fail_not_scalar(L, v, NULL, path);
            nl_error e = {0};
            if (nl_config_set(L->c, path, scalar_text(v), &e))
                return fail_at(L, v->start_mark, "%s", e.msg);
            break;
        }
        case NL_PATH_SECTION: {
            if (is_null(v))
                break;
            char what[300];
            snprintf(what, sizeof what, "a map of %s.* settings", path);
            if (expect_map(L, v, path, what))
                return NL_ERR_USAGE;
            if (load_map(L, v, path))
                return NL_ERR_USAGE;
            break;
        }
        case NL_PATH_OVERRIDES:
            if (note_key(L, path, k, v) || load_overrides(L, v))
                return NL_ERR_USAGE;
            break;
        case NL_PATH_RUNS:
            if (note_key(L, path, k, v) || load_runs(L, v))
                return NL_ERR_USAGE;
            break;
        case NL_PATH_LESSON:
            if (note_key(L, path, k, v) ||
                nl_lesson_from_yaml(L->doc, v, L->file, &L->c->lesson, L->err))
                return NL_ERR_USAGE;
            break;
        case NL_PATH_UNKNOWN:
        default:
            return fail_unknown(L, k, NULL, path);
        }
    }
    return 0;
}

/* Where a failed check points: the first of its keys that the file gave, else the override,
 * else the top of the document. */
static yaml_mark_t fault_mark(loader *L, const nl_config_fault *f)
{
    for (int i = 0; i < 2; i++) {
        seen_key *s = f->keys[i] ? find_seen(L, f->keys[i]) : NULL;
        if (s)
            return s->value_mark;
    }
    if (f->override_index >= 0 && f->override_index < L->c->model.n_overrides)
        return L->override_mark[f->override_index];
    return L->root_mark;
}

/* Every race entry applies and validates; a failure points at the setting or the entry. */
static int check_runs(loader *L)
{
    nl_config *tmp = malloc(sizeof *tmp);
    if (!tmp)
        return nl_fail(L->err, NL_ERR_IO, "%s: out of memory", L->file);
    int rc = 0;
    for (int i = 0; rc == 0 && i < L->c->n_runs; i++) {
        nl_error e = {0};
        int bad = -1;
        if (nl_config_apply_race_sets(L->c, i, tmp, &bad, &e)) {
            rc = fail_at(L, bad >= 0 ? L->run_set_mark[i][bad] : L->run_mark[i], "%s", e.msg);
            break;
        }
        nl_config_fault f;
        if (nl_config_check(tmp, &e, &f)) {
            yaml_mark_t m = L->run_mark[i];
            const nl_race_entry *r = &L->c->runs[i];
            for (int j = 0; j < r->n_set; j++)
                if ((f.keys[0] && !strcmp(r->set_key[j], f.keys[0])) ||
                    (f.keys[1] && !strcmp(r->set_key[j], f.keys[1])))
                    m = L->run_set_mark[i][j];
            rc = fail_at(L, m, "runs[%d] '%s': %s", i, r->name, e.msg);
        }
    }
    free(tmp);
    return rc;
}

static int parser_fail(const char *file, yaml_parser_t *p, const char *text, size_t len,
                       nl_error *err)
{
    size_t line = p->problem_mark.line, col = p->problem_mark.column;
    if (p->error == YAML_READER_ERROR) {
        /* reader errors carry a byte offset, not a mark */
        line = col = 0;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                col = 0;
            } else {
                col++;
            }
        }
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_MEMORY_ERROR)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory reading YAML", file);
    if (p->context)
        return nl_fail(err, NL_ERR_USAGE, "%s:%zu:%zu: %s (%s at %zu:%zu)", file, line + 1, col + 1,
                       problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    return nl_fail(err, NL_ERR_USAGE, "%s:%zu:%zu: %s", file, line + 1, col + 1, problem);
}

/* Nesting deeper than any preset needs (a race entry's settings sit 4 levels down) is refused
 * while the events stream in, before libyaml builds the document: it takes time quadratic in
 * the depth to parse 100k nested brackets. */
#define MAX_DEPTH 64

static int check_depth(const char *file, const char *text, size_t len, nl_error *err)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return nl_fail(err, NL_ERR_IO, "%s: cannot start the YAML parser", file);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int depth = 0, rc = 0;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e))
            break; /* the loader reports the syntax error, with its position */
        yaml_event_type_t t = e.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > MAX_DEPTH)
                rc = nl_fail(err, NL_ERR_USAGE,
                             "%s:%zu:%zu: nested more than %d levels deep; a preset needs at most "
                             "a few",
                             file, e.start_mark.line + 1, e.start_mark.column + 1, MAX_DEPTH);
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&e);
        if (rc || t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    return rc;
}

int nl_config_load_string(nl_config *c, const char *yaml, size_t len, const char *name_for_errors,
                          nl_error *err)
{
    const char *file = name_for_errors && *name_for_errors ? name_for_errors : "<string>";
    if (!yaml)
        len = 0;
    int drc = check_depth(file, yaml ? yaml : "", len, err);
    if (drc)
        return drc;
    yaml_parser_t parser;
    yaml_document_t doc, next;
    if (!yaml_parser_initialize(&parser))
        return nl_fail(err, NL_ERR_IO, "%s: cannot start the YAML parser", file);
    yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""), len);
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = parser_fail(file, &parser, yaml, len, err);
        yaml_parser_delete(&parser);
        return rc;
    }
    /* one document only; a second one (after "---") is most likely a mistake */
    if (!yaml_parser_load(&parser, &next)) {
        int rc = parser_fail(file, &parser, yaml, len, err);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_node_t *second = yaml_document_get_root_node(&next);
    yaml_mark_t second_mark = second ? second->start_mark : (yaml_mark_t){0};
    yaml_document_delete(&next);
    yaml_parser_delete(&parser);

    loader *L = calloc(1, sizeof *L);
    nl_config *out = malloc(sizeof *out);
    int rc = 0;
    if (!L || !out) {
        rc = nl_fail(err, NL_ERR_IO, "%s: out of memory", file);
        goto done;
    }
    nl_config_defaults(out);
    L->file = file;
    L->doc = &doc;
    L->c = out;
    L->err = err;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (second) {
        L->root_mark = second_mark;
        rc = fail_at(L, second_mark, "a preset is one YAML document; found a second one");
        goto done;
    }
    if (!root) {
        rc = fail_at(
            L, (yaml_mark_t){0},
            "empty file: expected a map of settings (name, model, train, data, runs, lesson)");
        goto done;
    }
    L->root_mark = root->start_mark;
    if (root->type != YAML_MAPPING_NODE) {
        char d[80];
        describe(root, d, sizeof d);
        rc = fail_at(
            L, root->start_mark,
            "expected a map of settings (name, model, train, data, runs, lesson) at the top "
            "level, got %s",
            d);
        goto done;
    }
    if ((rc = load_map(L, root, "")))
        goto done;
    if (out->lesson.title[0] && !out->lesson.name[0])
        snprintf(out->lesson.name, sizeof out->lesson.name, "%s", out->name);
    nl_config_fault f;
    nl_error e = {0};
    if (nl_config_check(out, &e, &f)) {
        rc = fail_at(L, fault_mark(L, &f), "%s", e.msg);
        goto done;
    }
    if ((rc = check_runs(L)))
        goto done;
    memcpy(c, out, sizeof *c);
done:
    yaml_document_delete(&doc);
    free(L);
    free(out);
    return rc;
}

int nl_config_load_file(nl_config *c, const char *path, nl_error *err)
{
    /* O_NONBLOCK: a FIFO is refused at once instead of waiting for a writer */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return nl_fail(err, NL_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return nl_fail(err, NL_ERR_IO, "%s: cannot read: not a regular file", path);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return nl_fail(err, NL_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    while (rc == 0) {
        if (len == cap) {
            char *b = cap < MAX_FILE_BYTES ? realloc(buf, cap * 2) : NULL;
            if (!b) {
                rc = cap < MAX_FILE_BYTES
                         ? nl_fail(err, NL_ERR_IO, "%s: out of memory", path)
                         : nl_fail(err, NL_ERR_USAGE, "%s: larger than %u bytes; not a preset",
                                   path, MAX_FILE_BYTES);
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                rc = nl_fail(err, NL_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc == 0)
        rc = nl_config_load_string(c, buf, len, path, err);
    free(buf);
    return rc;
}
