/* Suggestions for unknown keys and values: the closest name by edit distance (config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "config_keys.h"
#include "fsutil.h"
#include "json_text.h"

/* ---- suggestions ------------------------------------------------------------------------- */

/* Paths that are not scalar keys but are valid YAML keys. */
static const char *const LIST_PATHS[] = {"model.custom.layers", "runs", "lesson"};

/* Edit distance with adjacent transpositions (optimal string alignment), three rows. */
static int edit_distance(const char *a, const char *b)
{
    enum { MAXN = 128 };
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n >= MAXN || m >= MAXN)
        return INT_MAX / 2;
    int rows[3][MAXN];
    int *pp = rows[0], *p = rows[1], *cur = rows[2]; /* rows i-2, i-1, i */
    for (int j = 0; j <= m; j++)
        p[j] = j;
    for (int i = 1; i <= n; i++) {
        cur[0] = i;
        for (int j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = p[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (p[j - 1] + cost < v)
                v = p[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cur[j] = v;
        }
        int *t = pp;
        pp = p;
        p = cur;
        cur = t;
    }
    return p[m];
}

const char *nl_config_suggest(const char *word, const char *const *candidates, int n)
{
    int len = (int)strlen(word);
    int limit = len <= 3 ? 1 : len <= 8 ? 2 : 3;
    const char *best = NULL;
    int best_d = limit + 1;
    for (int i = 0; i < n; i++) {
        int dist = edit_distance(word, candidates[i]);
        if (dist < best_d) {
            best_d = dist;
            best = candidates[i];
        }
    }
    return best;
}

/* Every valid path and every section, each once, into out (a fixed pool). */
enum { MAX_PATHS = 160, PATH_LEN = 64 };
typedef struct path_pool {
    int n;
    char path[MAX_PATHS][PATH_LEN];
} path_pool;

static void pool_add(path_pool *p, const char *s, size_t len)
{
    if (len >= PATH_LEN || p->n >= MAX_PATHS)
        return;
    for (int i = 0; i < p->n; i++)
        if (strlen(p->path[i]) == len && strncmp(p->path[i], s, len) == 0)
            return;
    memcpy(p->path[p->n], s, len);
    p->path[p->n][len] = '\0';
    p->n++;
}

static void pool_add_with_sections(path_pool *p, const char *s)
{
    for (const char *dot = strchr(s, '.'); dot; dot = strchr(dot + 1, '.'))
        pool_add(p, s, (size_t)(dot - s));
    pool_add(p, s, strlen(s));
}

static void all_paths(path_pool *p)
{
    p->n = 0;
    for (int i = 0; i < nl_config_key_count; i++)
        pool_add_with_sections(p, nl_config_key_table[i].key);
    for (size_t i = 0; i < sizeof LIST_PATHS / sizeof LIST_PATHS[0]; i++)
        pool_add_with_sections(p, LIST_PATHS[i]);
}

/* A known path close to `path`: a near name in the same section, a near full path, or the
 * same last name in another section ("train.d_model" -> "model.d_model"). */
static const char *suggest_path(const char *path, path_pool *pool)
{
    all_paths(pool);
    const char *dot = strrchr(path, '.');
    size_t sec_len = dot ? (size_t)(dot - path) : 0;
    const char *last = dot ? dot + 1 : path;
    char section[PATH_LEN];
    if (sec_len >= sizeof section)
        return NULL;
    memcpy(section, path, sec_len);
    section[sec_len] = '\0';

    const char *cands[MAX_PATHS];
    int n = 0;
    if (sec_len == 0 || nl_config_path_class(section) == NL_PATH_SECTION) {
        /* children of the section, compared by their last name */
        const char *lasts[MAX_PATHS];
        for (int i = 0; i < pool->n; i++) {
            const char *q = pool->path[i];
            const char *qdot = strrchr(q, '.');
            size_t qsec = qdot ? (size_t)(qdot - q) : 0;
            if (qsec == sec_len && strncmp(q, path, sec_len) == 0) {
                cands[n] = q;
                lasts[n++] = qdot ? qdot + 1 : q;
            }
        }
        const char *best = nl_config_suggest(last, lasts, n);
        for (int i = 0; best && i < n; i++)
            if (lasts[i] == best)
                return cands[i];
    } else {
        for (int i = 0; i < pool->n; i++)
            cands[n++] = pool->path[i];
        const char *best = nl_config_suggest(path, cands, n);
        if (best)
            return best;
    }
    for (int i = 0; i < nl_config_key_count; i++) {
        const char *kdot = strrchr(nl_config_key_table[i].key, '.');
        if (kdot && strcmp(kdot + 1, last) == 0)
            return nl_config_key_table[i].key;
    }
    return NULL;
}

void nl_config_unknown_key(const char *path, char *buf, size_t len)
{
    path_pool *pool = malloc(sizeof *pool);
    const char *s = pool ? suggest_path(path, pool) : NULL;
    if (s)
        snprintf(buf, len, "unknown key '%s' (did you mean '%s'?)", path, s);
    else
        snprintf(buf, len, "unknown key '%s'", path);
    free(pool);
}
