/* Presets: YAML (libyaml's document API) -> nl_config. Nested maps resolve to dotted keys, and
 * every scalar goes through nl_config_set, so a preset and --set share one parser and one set
 * of messages. Every error is "FILE:LINE:COL: message" at the key or value at fault. */
#include "config_yaml_internal.h"

/* ---- the top-level walk ------------------------------------------------------------------ */

static int load_map(loader *L, yaml_node_t *map, const char *prefix)
{
    if (nl_yaml_check_map_keys(L, map, prefix))
        return NL_ERR_USAGE;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = nl_yaml_node_at(L, p->key), *v = nl_yaml_node_at(L, p->value);
        char path[256];
        nl_yaml_join(path, sizeof path, prefix, nl_yaml_scalar_text(k));
        switch (nl_config_path_class(path)) {
        case NL_PATH_KEY: {
            if (nl_yaml_note_key(L, path, k, v))
                return NL_ERR_USAGE;
            if (v->type != YAML_SCALAR_NODE)
                return nl_yaml_fail_not_scalar(L, v, NULL, path);
            nl_error e = {0};
            if (nl_config_set(L->c, path, nl_yaml_scalar_text(v), &e))
                return nl_yaml_fail_at(L, v->start_mark, "%s", e.msg);
            break;
        }
        case NL_PATH_SECTION: {
            if (nl_yaml_is_null(v))
                break;
            char what[300];
            snprintf(what, sizeof what, "a map of %s.* settings", path);
            if (nl_yaml_expect_map(L, v, path, what))
                return NL_ERR_USAGE;
            if (load_map(L, v, path))
                return NL_ERR_USAGE;
            break;
        }
        case NL_PATH_OVERRIDES:
            if (nl_yaml_note_key(L, path, k, v) || nl_yaml_load_overrides(L, v))
                return NL_ERR_USAGE;
            break;
        case NL_PATH_RUNS:
            if (nl_yaml_note_key(L, path, k, v) || nl_yaml_load_runs(L, v))
                return NL_ERR_USAGE;
            break;
        case NL_PATH_LESSON:
            if (nl_yaml_note_key(L, path, k, v) ||
                nl_lesson_from_yaml(L->doc, v, L->file, &L->c->lesson, L->err))
                return NL_ERR_USAGE;
            break;
        case NL_PATH_UNKNOWN:
        default:
            return nl_yaml_fail_unknown(L, k, NULL, path);
        }
    }
    return 0;
}

/* Where a failed check points: the first of its keys that the file gave, else the override,
 * else the top of the document. */
static yaml_mark_t fault_mark(loader *L, const nl_config_fault *f)
{
    for (int i = 0; i < 2; i++) {
        seen_key *s = f->keys[i] ? nl_yaml_find_seen(L, f->keys[i]) : NULL;
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
    nl_config *tmp = nl_malloc(sizeof *tmp);
    if (!tmp)
        return nl_fail(L->err, NL_ERR_IO, "%s: out of memory", L->file);
    int rc = 0;
    for (int i = 0; rc == 0 && i < L->c->n_runs; i++) {
        nl_error e = {0};
        int bad = -1;
        if (nl_config_apply_race_sets(L->c, i, tmp, &bad, &e)) {
            rc = nl_yaml_fail_at(L, bad >= 0 ? L->run_set_mark[i][bad] : L->run_mark[i], "%s",
                                 e.msg);
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
            rc = nl_yaml_fail_at(L, m, "runs[%d] '%s': %s", i, r->name, e.msg);
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

/* Parse text (len bytes) into *doc, which the caller deletes on success. A preset is one
 * document: *has_second tells whether another one follows (after "---"), at *second_mark. */
static int load_document(const char *file, const char *yaml, size_t len, yaml_document_t *doc,
                         int *has_second, yaml_mark_t *second_mark, nl_error *err)
{
    int rc = check_depth(file, yaml, len, err);
    if (rc)
        return rc;
    yaml_parser_t parser;
    yaml_document_t next;
    if (!yaml_parser_initialize(&parser))
        return nl_fail(err, NL_ERR_IO, "%s: cannot start the YAML parser", file);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, doc)) {
        rc = parser_fail(file, &parser, yaml, len, err);
        yaml_parser_delete(&parser);
        return rc;
    }
    if (!yaml_parser_load(&parser, &next)) {
        rc = parser_fail(file, &parser, yaml, len, err);
        yaml_document_delete(doc);
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_node_t *second = yaml_document_get_root_node(&next);
    *has_second = second != NULL;
    *second_mark = second ? second->start_mark : (yaml_mark_t){0};
    yaml_document_delete(&next);
    yaml_parser_delete(&parser);
    return 0;
}

/* The settings of the document's root map into L->c, then every check over them. */
static int load_root(loader *L, int has_second, yaml_mark_t second_mark)
{
    yaml_node_t *root = yaml_document_get_root_node(L->doc);
    if (has_second) {
        L->root_mark = second_mark;
        return nl_yaml_fail_at(L, second_mark, "a preset is one YAML document; found a second one");
    }
    if (!root)
        return nl_yaml_fail_at(
            L, (yaml_mark_t){0},
            "empty file: expected a map of settings (name, model, train, data, runs, lesson)");
    L->root_mark = root->start_mark;
    if (root->type != YAML_MAPPING_NODE) {
        char d[80];
        nl_yaml_describe(root, d, sizeof d);
        return nl_yaml_fail_at(
            L, root->start_mark,
            "expected a map of settings (name, model, train, data, runs, lesson) at the top "
            "level, got %s",
            d);
    }
    int rc = load_map(L, root, "");
    if (rc)
        return rc;
    nl_config *out = L->c;
    if (out->lesson.title[0] && !out->lesson.name[0])
        snprintf(out->lesson.name, sizeof out->lesson.name, "%s", out->name);
    nl_config_fault f;
    nl_error e = {0};
    if (nl_config_check(out, &e, &f))
        return nl_yaml_fail_at(L, fault_mark(L, &f), "%s", e.msg);
    return check_runs(L);
}

int nl_config_load_string(nl_config *c, const char *yaml, size_t len, const char *name_for_errors,
                          nl_error *err)
{
    const char *file = name_for_errors && *name_for_errors ? name_for_errors : "<string>";
    if (!yaml) {
        yaml = "";
        len = 0;
    }
    yaml_document_t doc;
    int has_second = 0;
    yaml_mark_t second_mark;
    int rc = load_document(file, yaml, len, &doc, &has_second, &second_mark, err);
    if (rc)
        return rc;
    loader *L = nl_calloc(1, sizeof *L);
    nl_config *out = nl_malloc(sizeof *out);
    if (!L || !out) {
        rc = nl_fail(err, NL_ERR_IO, "%s: out of memory", file);
        goto done;
    }
    nl_config_defaults(out);
    L->file = file;
    L->doc = &doc;
    L->c = out;
    L->err = err;
    if ((rc = load_root(L, has_second, second_mark)))
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
    char *buf = nl_malloc(cap);
    int rc = buf ? 0 : nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    while (rc == 0) {
        if (len == cap) {
            char *b = cap < MAX_FILE_BYTES ? nl_realloc(buf, cap * 2) : NULL;
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
