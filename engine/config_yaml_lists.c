/* The preset loader's lists: model.custom.layers overrides and runs (a race)
 * (config_yaml_internal.h). */
#include "config_yaml_internal.h"

/* ---- model.custom.layers ----------------------------------------------------------------- */

static int load_flags(loader *L, yaml_node_t *v, const char *path, bool attn, nl_sublayer_flags *f)
{
    static const char *const attn_keys[] = {"pre", "peri", "post", "res_from_normed",
                                            "qk",  "v",    "alpha"};
    static const char *const ffn_keys[] = {"pre", "peri", "post", "res_from_normed", "alpha"};
    memset(f, 0, sizeof *f);
    if (nl_yaml_is_null(v))
        return 0;
    if (nl_yaml_expect_map(L, v, path, "a map of flags (pre, peri, post, ...)"))
        return NL_ERR_USAGE;
    if (nl_yaml_check_map_keys(L, v, path))
        return NL_ERR_USAGE;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = nl_yaml_node_at(L, p->key), *val = nl_yaml_node_at(L, p->value);
        const char *name = nl_yaml_scalar_text(k);
        char full[256], d[80];
        nl_yaml_join(full, sizeof full, path, name);
        const char *const *keys = attn ? attn_keys : ffn_keys;
        int nk = attn ? 7 : 5, which = -1;
        for (int i = 0; i < nk; i++)
            if (strcmp(name, keys[i]) == 0)
                which = i;
        if (which < 0) {
            const char *s = nl_config_suggest(name, keys, nk);
            if (s)
                return nl_yaml_fail_at(L, k->start_mark, "unknown key '%s' (did you mean '%s.%s'?)",
                                       full, path, s);
            return nl_yaml_fail_at(L, k->start_mark, "unknown key '%s' (expected %s)", full,
                                   attn ? "pre, peri, post, res_from_normed, qk, v or alpha"
                                        : "pre, peri, post, res_from_normed or alpha");
        }
        nl_yaml_describe(val, d, sizeof d);
        if (strcmp(name, "alpha") == 0) {
            double a;
            if (val->type != YAML_SCALAR_NODE ||
                nl_config_parse_number(nl_yaml_scalar_text(val), &a) || !(a >= 0 && a <= 1000))
                return nl_yaml_fail_at(
                    L, val->start_mark,
                    "%s: expected a number in [0, 1000] (0 = keep the base), got %s", full, d);
            f->alpha = (float)a;
            continue;
        }
        bool b;
        if (val->type != YAML_SCALAR_NODE || nl_config_parse_bool(nl_yaml_scalar_text(val), &b))
            return nl_yaml_fail_at(L, val->start_mark, "%s: expected true or false, got %s", full,
                                   d);
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

int nl_yaml_load_overrides(loader *L, yaml_node_t *v)
{
    static const char *const item_keys[] = {"layer", "attn", "ffn"};
    nl_model_config *m = &L->c->model;
    char d[80];
    m->n_overrides = 0;
    if (nl_yaml_is_null(v))
        return 0;
    if (v->type != YAML_SEQUENCE_NODE) {
        nl_yaml_describe(v, d, sizeof d);
        return nl_yaml_fail_at(
            L, v->start_mark,
            "model.custom.layers: expected a list of {layer, attn, ffn} maps, got %s", d);
    }
    int i = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *item = nl_yaml_node_at(L, *it);
        char path[64];
        snprintf(path, sizeof path, "model.custom.layers[%d]", i);
        if (i >= NL_MAX_OVERRIDES)
            return nl_yaml_fail_at(L, item->start_mark, "model.custom.layers: at most %d overrides",
                                   NL_MAX_OVERRIDES);
        if (nl_yaml_expect_map(L, item, path, "a map {layer: N, attn: {...}, ffn: {...}}"))
            return NL_ERR_USAGE;
        if (nl_yaml_check_map_keys(L, item, path))
            return NL_ERR_USAGE;
        nl_layer_override *o = &m->overrides[i];
        memset(o, 0, sizeof *o);
        bool has_layer = false;
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = nl_yaml_node_at(L, p->key), *val = nl_yaml_node_at(L, p->value);
            const char *name = nl_yaml_scalar_text(k);
            char full[128];
            nl_yaml_join(full, sizeof full, path, name);
            if (strcmp(name, "layer") == 0) {
                char *end = NULL;
                long n = 0;
                if (val->type == YAML_SCALAR_NODE && *nl_yaml_scalar_text(val))
                    n = strtol(nl_yaml_scalar_text(val), &end, 10);
                if (!end || *end || n < 0 || n >= NL_MAX_LAYERS) {
                    nl_yaml_describe(val, d, sizeof d);
                    return nl_yaml_fail_at(L, val->start_mark,
                                           "%s: expected an integer in [0, %d], got %s", full,
                                           NL_MAX_LAYERS - 1, d);
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
                    return nl_yaml_fail_at(L, k->start_mark,
                                           "unknown key '%s' (did you mean '%s.%s'?)", full, path,
                                           s);
                return nl_yaml_fail_at(L, k->start_mark,
                                       "unknown key '%s' (expected layer, attn or ffn)", full);
            }
        }
        if (!has_layer)
            return nl_yaml_fail_at(L, item->start_mark, "%s: missing 'layer' (the block index)",
                                   path);
        if (!o->has_attn && !o->has_ffn)
            return nl_yaml_fail_at(L, item->start_mark, "%s: give attn and/or ffn flags", path);
        m->n_overrides = i + 1;
    }
    return 0;
}

/* ---- runs (a race) ----------------------------------------------------------------------- */

static int load_run_sets(loader *L, yaml_node_t *map, const char *prefix, int r, const char *where)
{
    nl_race_entry *e = &L->c->runs[r];
    if (nl_yaml_check_map_keys(L, map, where))
        return NL_ERR_USAGE;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = nl_yaml_node_at(L, p->key), *v = nl_yaml_node_at(L, p->value);
        char path[256];
        nl_yaml_join(path, sizeof path, prefix, nl_yaml_scalar_text(k));
        switch (nl_config_path_class(path)) {
        case NL_PATH_KEY: {
            if (v->type != YAML_SCALAR_NODE)
                return nl_yaml_fail_not_scalar(L, v, where, path);
            for (int j = 0; j < e->n_set; j++)
                if (strcmp(e->set_key[j], path) == 0)
                    return nl_yaml_fail_at(L, k->start_mark, "%s: duplicate key '%s'", where, path);
            if (e->n_set >= MAX_SETS)
                return nl_yaml_fail_at(L, k->start_mark, "%s: at most %d settings", where,
                                       MAX_SETS);
            if (strlen(nl_yaml_scalar_text(v)) >= sizeof e->set_val[0])
                return nl_yaml_fail_at(L, v->start_mark,
                                       "%s: %s: value too long (at most %zu characters)", where,
                                       path, sizeof e->set_val[0] - 1);
            snprintf(e->set_key[e->n_set], sizeof e->set_key[0], "%.63s", path); /* a known key */
            snprintf(e->set_val[e->n_set], sizeof e->set_val[0], "%s", nl_yaml_scalar_text(v));
            L->run_set_mark[r][e->n_set] = v->start_mark;
            e->n_set++;
            break;
        }
        case NL_PATH_SECTION:
            if (nl_yaml_is_null(v))
                break;
            if (nl_yaml_expect_map(L, v, path, "a map"))
                return NL_ERR_USAGE;
            if (load_run_sets(L, v, path, r, where))
                return NL_ERR_USAGE;
            break;
        case NL_PATH_OVERRIDES:
        case NL_PATH_RUNS:
        case NL_PATH_LESSON:
            return nl_yaml_fail_at(L, k->start_mark, "%s: '%s' cannot be set in a race entry",
                                   where, path);
        case NL_PATH_UNKNOWN:
        default:
            return nl_yaml_fail_unknown(L, k, where, path);
        }
    }
    return 0;
}

/* One key k: val of race entry i (at where): its name (into e, via scratch to check it, its
 * mark into *name_mark) or its settings. */
static int load_run_field(loader *L, yaml_node_t *k, yaml_node_t *val, int i, const char *where,
                          nl_config *scratch, yaml_mark_t *name_mark, bool *has_name)
{
    static const char *const item_keys[] = {"name", "set"};
    nl_race_entry *e = &L->c->runs[i];
    const char *name = nl_yaml_scalar_text(k);
    char d[80];
    if (strcmp(name, "name") == 0) {
        nl_error e2 = {0};
        if (val->type != YAML_SCALAR_NODE) {
            nl_yaml_describe(val, d, sizeof d);
            return nl_yaml_fail_at(L, val->start_mark, "%s.name: expected a name, got %s", where,
                                   d);
        }
        if (nl_config_set(scratch, "name", nl_yaml_scalar_text(val), &e2))
            return nl_yaml_fail_at(L, val->start_mark, "%s.%s", where, e2.msg);
        snprintf(e->name, sizeof e->name, "%s", scratch->name);
        *name_mark = val->start_mark;
        *has_name = true;
        return 0;
    }
    if (strcmp(name, "set") == 0) {
        char set_where[40];
        snprintf(set_where, sizeof set_where, "%s.set", where);
        if (nl_yaml_is_null(val))
            return 0;
        int rc = nl_yaml_expect_map(L, val, set_where, "a map of settings");
        if (rc == 0)
            rc = load_run_sets(L, val, "", i, set_where);
        return rc;
    }
    const char *s = nl_config_suggest(name, item_keys, 2);
    if (s)
        return nl_yaml_fail_at(L, k->start_mark, "unknown key '%s.%s' (did you mean '%s.%s'?)",
                               where, name, where, s);
    return nl_yaml_fail_at(L, k->start_mark, "unknown key '%s.%s' (expected name or set)", where,
                           name);
}

/* Race entry i, the map item: a name unlike the entries before it and its settings. */
static int load_run_item(loader *L, yaml_node_t *item, int i, nl_config *scratch,
                         yaml_mark_t name_mark[])
{
    nl_config *c = L->c;
    char where[32];
    snprintf(where, sizeof where, "runs[%d]", i);
    if (i >= NL_MAX_RACE)
        return nl_yaml_fail_at(L, item->start_mark, "runs: at most %d runs in a race", NL_MAX_RACE);
    int rc = nl_yaml_expect_map(L, item, where, "a map {name: N, set: {key: value, ...}}");
    if (!rc)
        rc = nl_yaml_check_map_keys(L, item, where);
    if (rc)
        return rc;
    nl_race_entry *e = &c->runs[i];
    memset(e, 0, sizeof *e);
    L->run_mark[i] = item->start_mark;
    bool has_name = false;
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
         rc == 0 && p < item->data.mapping.pairs.top; p++)
        rc = load_run_field(L, nl_yaml_node_at(L, p->key), nl_yaml_node_at(L, p->value), i, where,
                            scratch, &name_mark[i], &has_name);
    if (rc)
        return rc;
    if (!has_name)
        return nl_yaml_fail_at(L, item->start_mark, "%s: missing 'name'", where);
    for (int j = 0; j < i; j++)
        if (strcmp(c->runs[j].name, e->name) == 0)
            return nl_yaml_fail_at(L, name_mark[i], "%s.name: '%s' is already the name of runs[%d]",
                                   where, e->name, j);
    c->n_runs = i + 1;
    return 0;
}

int nl_yaml_load_runs(loader *L, yaml_node_t *v)
{
    char d[80];
    L->c->n_runs = 0;
    if (nl_yaml_is_null(v))
        return 0;
    if (v->type != YAML_SEQUENCE_NODE) {
        nl_yaml_describe(v, d, sizeof d);
        return nl_yaml_fail_at(L, v->start_mark,
                               "runs: expected a list of {name, set} maps, got %s", d);
    }
    nl_config *scratch = nl_malloc(sizeof *scratch);
    if (!scratch)
        return nl_fail(L->err, NL_ERR_IO, "%s: out of memory", L->file);
    nl_config_defaults(scratch);
    int rc = 0, i = 0;
    yaml_mark_t name_mark[NL_MAX_RACE];
    for (yaml_node_item_t *it = v->data.sequence.items.start;
         rc == 0 && it < v->data.sequence.items.top; it++, i++)
        rc = load_run_item(L, nl_yaml_node_at(L, *it), i, scratch, name_mark);
    free(scratch);
    return rc;
}
