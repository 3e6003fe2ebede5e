/* The preset loader's helpers over libyaml nodes: errors at a mark, scalars, duplicate and
 * unknown keys (config_yaml_internal.h). */
#include "config_yaml_internal.h"

int nl_yaml_fail_at(loader *L, yaml_mark_t m, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nl_fail(L->err, NL_ERR_USAGE, "%s:%zu:%zu: %s", L->file, m.line + 1, m.column + 1, msg);
}

yaml_node_t *nl_yaml_node_at(loader *L, int index)
{
    return yaml_document_get_node(L->doc, index);
}

const char *nl_yaml_scalar_text(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* An empty plain scalar, "~" or "null": a key written with nothing after it. */
bool nl_yaml_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = nl_yaml_scalar_text(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* "a map", "a list" or "'text'" for messages. */
void nl_yaml_describe(const yaml_node_t *n, char *buf, size_t len)
{
    if (n->type == YAML_MAPPING_NODE)
        snprintf(buf, len, "a map");
    else if (n->type == YAML_SEQUENCE_NODE)
        snprintf(buf, len, "a list");
    else if (strlen(nl_yaml_scalar_text(n)) > 60)
        snprintf(buf, len, "'%.57s...'", nl_yaml_scalar_text(n));
    else
        snprintf(buf, len, "'%s'", nl_yaml_scalar_text(n));
}

static void mark_text(yaml_mark_t m, char *buf, size_t len)
{
    snprintf(buf, len, "%zu:%zu", m.line + 1, m.column + 1);
}

void nl_yaml_join(char *out, size_t len, const char *prefix, const char *key)
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
int nl_yaml_check_map_keys(loader *L, yaml_node_t *map, const char *prefix)
{
    yaml_node_pair_t *first = map->data.mapping.pairs.start;
    size_t n = (size_t)(map->data.mapping.pairs.top - first), cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    yaml_node_t **set = nl_calloc(cap, sizeof *set);
    if (!set)
        return nl_fail(L->err, NL_ERR_IO, "%s: out of memory", L->file);
    int rc = 0;
    for (yaml_node_pair_t *p = first; rc == 0 && p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = nl_yaml_node_at(L, p->key);
        char d[80], path[256];
        if (k->type != YAML_SCALAR_NODE) {
            nl_yaml_describe(k, d, sizeof d);
            rc = nl_yaml_fail_at(L, k->start_mark, "%s%sexpected a key name, got %s",
                                 prefix ? prefix : "", prefix && *prefix ? ": " : "", d);
            break;
        }
        if (strlen(nl_yaml_scalar_text(k)) != k->data.scalar.length || !*nl_yaml_scalar_text(k)) {
            rc = nl_yaml_fail_at(L, k->start_mark, "%s%sempty or invalid key name",
                                 prefix ? prefix : "", prefix && *prefix ? ": " : "");
            break;
        }
        size_t i = (size_t)hash_text(nl_yaml_scalar_text(k)) & (cap - 1);
        for (; set[i]; i = (i + 1) & (cap - 1)) {
            yaml_node_t *k2 = set[i];
            if (strcmp(nl_yaml_scalar_text(k2), nl_yaml_scalar_text(k)) == 0) {
                nl_yaml_join(path, sizeof path, prefix, nl_yaml_scalar_text(k));
                mark_text(k2->start_mark, d, sizeof d);
                rc = nl_yaml_fail_at(L, k->start_mark, "duplicate key '%s' (first given at %s)",
                                     path, d);
                break;
            }
        }
        set[i] = k;
    }
    free(set);
    return rc;
}

seen_key *nl_yaml_find_seen(loader *L, const char *path)
{
    for (int i = 0; i < L->n_seen; i++)
        if (strcmp(L->seen[i].path, path) == 0)
            return &L->seen[i];
    return NULL;
}

/* Record that path was given; the same key given twice (model.layers and model: {layers}) is
 * a duplicate even though no one map holds it twice. */
int nl_yaml_note_key(loader *L, const char *path, yaml_node_t *k, yaml_node_t *v)
{
    seen_key *s = nl_yaml_find_seen(L, path);
    if (s) {
        char m[32];
        mark_text(s->key_mark, m, sizeof m);
        return nl_yaml_fail_at(L, k->start_mark, "duplicate key '%s' (first given at %s)", path, m);
    }
    if (L->n_seen < (int)(sizeof L->seen / sizeof L->seen[0]) && strlen(path) < sizeof s->path) {
        s = &L->seen[L->n_seen++];
        snprintf(s->path, sizeof s->path, "%s", path);
        s->key_mark = k->start_mark;
        s->value_mark = v->start_mark;
    }
    return 0;
}

int nl_yaml_expect_map(loader *L, yaml_node_t *v, const char *path, const char *what)
{
    if (v->type == YAML_MAPPING_NODE)
        return 0;
    char d[80];
    nl_yaml_describe(v, d, sizeof d);
    return nl_yaml_fail_at(L, v->start_mark, "%s: expected %s, got %s", path, what, d);
}

/* A key's value is a map or a list where the key wants a scalar. `where` prefixes the message
 * (e.g. "runs[0].set"), or is NULL. */
int nl_yaml_fail_not_scalar(loader *L, yaml_node_t *v, const char *where, const char *path)
{
    char want[160], d[80];
    nl_config_expected(path, want, sizeof want);
    nl_yaml_describe(v, d, sizeof d);
    return nl_yaml_fail_at(L, v->start_mark, "%s%s%s: expected %s, got %s", where ? where : "",
                           where ? ": " : "", path, want, d);
}

int nl_yaml_fail_unknown(loader *L, yaml_node_t *k, const char *where, const char *path)
{
    char msg[512];
    nl_config_unknown_key(path, msg, sizeof msg);
    return nl_yaml_fail_at(L, k->start_mark, "%s%s%s", where ? where : "", where ? ": " : "", msg);
}
