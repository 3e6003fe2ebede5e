/* Sweep definitions: axes, cell and run names, each run's config, and sweep.yaml. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "json_text.h"
#include "sweep.h"

void nl_sweep_def_init(nl_sweep_def *d)
{
    memset(d, 0, sizeof *d);
    d->seeds = 1;
}

/* ---- axes and names ---- */

static bool key_is_enum(const char *key)
{
    int n;
    const nl_config_key_info *keys = nl_config_keys(&n);
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i].key, key))
            return keys[i].kind && !strcmp(keys[i].kind, "enum");
    return false;
}

static const char *last_component(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

static void set_labels(nl_sweep_def *d)
{
    for (int a = 0; a < d->n_axes; a++) {
        nl_sweep_axis *ax = &d->axes[a];
        const char *leaf = last_component(ax->key);
        bool shared = false;
        for (int b = 0; b < d->n_axes; b++)
            if (b != a && !strcmp(leaf, last_component(d->axes[b].key)))
                shared = true;
        snprintf(ax->label, sizeof ax->label, "%s", shared ? ax->key : leaf);
    }
}

/* A value as it appears in a directory name: [A-Za-z0-9._+-] kept, anything else '-'. */
static void safe_copy(const char *s, char *out, size_t len)
{
    size_t j = 0;
    for (; *s && j + 1 < len; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '+' || c == '-';
        out[j++] = ok ? c : '-';
    }
    out[j] = '\0';
}

static void trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    memmove(s, s + i, n - i + 1);
}

int nl_sweep_add_axis(nl_sweep_def *d, const char *spec, nl_error *err)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return nl_fail(err, NL_ERR_USAGE,
                       "--vary: expected KEY=V1,V2,... (e.g. model.layers=2,6,12), got '%.200s'",
                       spec);
    if (d->n_axes >= NL_SWEEP_MAX_AXES)
        return nl_fail(err, NL_ERR_USAGE, "--vary: at most %d varied keys", NL_SWEEP_MAX_AXES);
    nl_sweep_axis ax;
    memset(&ax, 0, sizeof ax);
    size_t klen = (size_t)(eq - spec);
    if (klen >= sizeof ax.key)
        return nl_fail(err, NL_ERR_USAGE, "--vary: key too long: '%.*s'", (int)klen, spec);
    memcpy(ax.key, spec, klen);
    trim(ax.key);
    for (int a = 0; a < d->n_axes; a++)
        if (!strcmp(d->axes[a].key, ax.key))
            return nl_fail(err, NL_ERR_USAGE, "--vary %s: this key is already varied", ax.key);
    nl_config scratch;
    const char *p = eq + 1;
    while (1) {
        const char *comma = strchr(p, ',');
        size_t vlen = comma ? (size_t)(comma - p) : strlen(p);
        if (ax.n >= NL_SWEEP_MAX_VALUES)
            return nl_fail(err, NL_ERR_USAGE, "--vary %s: at most %d values", ax.key,
                           NL_SWEEP_MAX_VALUES);
        if (vlen >= NL_SWEEP_MAX_VALUE_LEN)
            return nl_fail(err, NL_ERR_USAGE, "--vary %s: value too long: '%.*s'", ax.key,
                           (int)vlen, p);
        char *v = ax.values[ax.n];
        memcpy(v, p, vlen);
        v[vlen] = '\0';
        trim(v);
        if (!v[0])
            return nl_fail(err, NL_ERR_USAGE, "--vary %s: empty value in '%.200s'", ax.key, eq + 1);
        for (const char *c = v; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\')
                return nl_fail(err, NL_ERR_USAGE,
                               "--vary %s: value '%s' has a quote, backslash or control character",
                               ax.key, v);
        for (int i = 0; i < ax.n; i++)
            if (!strcmp(ax.values[i], v))
                return nl_fail(err, NL_ERR_USAGE, "--vary %s: value '%s' is listed twice", ax.key,
                               v);
        nl_config_defaults(&scratch);
        nl_error e = {0};
        if (nl_config_set(&scratch, ax.key, v, &e))
            return nl_fail(err, NL_ERR_USAGE, "--vary %s", e.msg);
        ax.n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    /* every value must give its own directory name */
    for (int i = 0; i < ax.n; i++)
        for (int j = 0; j < i; j++) {
            char a[NL_SWEEP_MAX_VALUE_LEN], b[NL_SWEEP_MAX_VALUE_LEN];
            safe_copy(ax.values[i], a, sizeof a);
            safe_copy(ax.values[j], b, sizeof b);
            if (!strcmp(a, b))
                return nl_fail(err, NL_ERR_USAGE,
                               "--vary %s: values '%s' and '%s' give the same directory name",
                               ax.key, ax.values[j], ax.values[i]);
        }
    ax.bare = key_is_enum(ax.key);
    long runs = (long)nl_sweep_runs(d) * ax.n;
    if (runs > NL_SWEEP_MAX_RUNS)
        return nl_fail(err, NL_ERR_USAGE, "--vary %s: the sweep would have %ld runs (at most %d)",
                       ax.key, runs, NL_SWEEP_MAX_RUNS);
    d->axes[d->n_axes++] = ax;
    set_labels(d);
    return 0;
}

int nl_sweep_cells(const nl_sweep_def *d)
{
    int n = 1;
    for (int a = 0; a < d->n_axes; a++)
        n *= d->axes[a].n;
    return n;
}

int nl_sweep_runs(const nl_sweep_def *d)
{
    return nl_sweep_cells(d) * d->seeds;
}

void nl_sweep_cell_index(const nl_sweep_def *d, int cell, int *idx)
{
    for (int a = d->n_axes - 1; a >= 0; a--) {
        idx[a] = cell % d->axes[a].n;
        cell /= d->axes[a].n;
    }
}

int nl_sweep_cell_of(const nl_sweep_def *d, const int *idx)
{
    int cell = 0;
    for (int a = 0; a < d->n_axes; a++)
        cell = cell * d->axes[a].n + idx[a];
    return cell;
}

void nl_sweep_cell_name(const nl_sweep_def *d, int cell, char *buf, int len)
{
    if (d->n_axes == 0) {
        snprintf(buf, (size_t)len, "base");
        return;
    }
    int idx[NL_SWEEP_MAX_AXES];
    nl_sweep_cell_index(d, cell, idx);
    nl_jbuf b = {0};
    for (int a = 0; a < d->n_axes; a++) {
        const nl_sweep_axis *ax = &d->axes[a];
        char part[NL_SWEEP_MAX_VALUE_LEN + 64], safe[sizeof part];
        snprintf(part, sizeof part, "%s%s", ax->bare ? "" : ax->label, ax->values[idx[a]]);
        safe_copy(part, safe, sizeof safe);
        nl_jbuf_printf(&b, "%s%s", a ? "_" : "", safe);
    }
    snprintf(buf, (size_t)len, "%s", b.p && !b.oom ? b.p : "cell");
    nl_jbuf_free(&b);
}

void nl_sweep_run_name(const nl_sweep_def *d, int cell, int seed, char *buf, int len)
{
    char name[512];
    nl_sweep_cell_name(d, cell, name, sizeof name);
    snprintf(buf, (size_t)len, "%s-s%d", name, seed);
}

int nl_sweep_run_config(const nl_sweep_def *d, const nl_config *base, int cell, int seed,
                        nl_config *out, nl_error *err)
{
    char name[600];
    nl_sweep_run_name(d, cell, seed, name, sizeof name);
    *out = *base;
    out->n_runs = 0;
    int idx[NL_SWEEP_MAX_AXES];
    nl_sweep_cell_index(d, cell, idx);
    nl_error e = {0};
    for (int a = 0; a < d->n_axes; a++)
        if (nl_config_set(out, d->axes[a].key, d->axes[a].values[idx[a]], &e))
            return nl_fail(err, NL_ERR_USAGE, "sweep run %s: %s", name, e.msg);
    out->train.seed = base->train.seed + (uint64_t)seed;
    snprintf(out->name, sizeof out->name, "%s", name);
    if (nl_config_validate(out, &e))
        return nl_fail(err, NL_ERR_USAGE, "sweep run %s: %s", name, e.msg);
    return 0;
}

/* ---- sweep.yaml ---- */

/* s between double quotes; values never hold quotes, backslashes or control characters */
static void sb_quoted(nl_jbuf *b, const char *s)
{
    nl_jbuf_printf(b, "\"");
    for (; *s; s++)
        nl_jbuf_printf(b, (*s == '"' || *s == '\\') ? "\\%c" : "%c", *s);
    nl_jbuf_printf(b, "\"");
}

char *nl_sweep_def_yaml(const nl_sweep_def *d)
{
    nl_jbuf b = {0};
    nl_jbuf_printf(
        &b, "# A normlab sweep. `normlab sweep` continues in this directory only with the same\n"
            "# seeds, varied keys and values, and base config (base.yaml).\n");
    nl_jbuf_printf(&b, "preset: ");
    sb_quoted(&b, d->preset);
    nl_jbuf_printf(&b, "\nseeds: %d\nvary:\n", d->seeds);
    for (int a = 0; a < d->n_axes; a++) {
        nl_jbuf_printf(&b, "  %s: [", d->axes[a].key);
        for (int i = 0; i < d->axes[a].n; i++) {
            if (i)
                nl_jbuf_printf(&b, ", ");
            sb_quoted(&b, d->axes[a].values[i]);
        }
        nl_jbuf_printf(&b, "]\n");
    }
    nl_jbuf_printf(&b, "base: base.yaml\n");
    return nl_jbuf_take(&b);
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int load_doc(const char *path, yaml_document_t *doc, nl_sweep_def *d, nl_error *err)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return nl_fail(err, NL_ERR_USAGE, "%s: expected a mapping (preset, seeds, vary)", path);
    bool have_seeds = false;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        const char *k = scalar(kn);
        int line = (int)vn->start_mark.line + 1, col = (int)vn->start_mark.column + 1;
        if (!k)
            return nl_fail(err, NL_ERR_USAGE, "%s:%d:%d: expected a plain key", path, line, col);
        if (!strcmp(k, "preset")) {
            snprintf(d->preset, sizeof d->preset, "%s", scalar(vn) ? scalar(vn) : "");
        } else if (!strcmp(k, "base")) {
            /* always base.yaml beside sweep.yaml */
        } else if (!strcmp(k, "seeds")) {
            const char *s = scalar(vn);
            char *end = NULL;
            long v = s ? strtol(s, &end, 10) : 0;
            if (!s || *end || v < 1 || v > NL_SWEEP_MAX_SEEDS)
                return nl_fail(err, NL_ERR_USAGE, "%s:%d:%d: seeds: expected an integer in [1, %d]",
                               path, line, col, NL_SWEEP_MAX_SEEDS);
            d->seeds = (int)v;
            have_seeds = true;
        } else if (!strcmp(k, "vary")) {
            if (vn->type == YAML_SCALAR_NODE && !*scalar(vn))
                continue; /* "vary:" with nothing under it */
            if (vn->type != YAML_MAPPING_NODE)
                return nl_fail(err, NL_ERR_USAGE, "%s:%d:%d: vary: expected KEY: [values]", path,
                               line, col);
            for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top;
                 q++) {
                yaml_node_t *ak = yaml_document_get_node(doc, q->key);
                yaml_node_t *av = yaml_document_get_node(doc, q->value);
                int l2 = (int)av->start_mark.line + 1, c2 = (int)av->start_mark.column + 1;
                if (!scalar(ak) || av->type != YAML_SEQUENCE_NODE)
                    return nl_fail(err, NL_ERR_USAGE, "%s:%d:%d: vary: expected KEY: [values]",
                                   path, l2, c2);
                nl_jbuf spec = {0};
                nl_jbuf_printf(&spec, "%s=", scalar(ak));
                for (yaml_node_item_t *it = av->data.sequence.items.start;
                     it < av->data.sequence.items.top; it++) {
                    const char *v = scalar(yaml_document_get_node(doc, *it));
                    if (!v || strchr(v, ',')) {
                        nl_jbuf_free(&spec);
                        return nl_fail(err, NL_ERR_USAGE,
                                       "%s:%d:%d: vary %s: values are plain scalars without commas",
                                       path, l2, c2, scalar(ak));
                    }
                    nl_jbuf_printf(&spec, "%s%s", it > av->data.sequence.items.start ? "," : "", v);
                }
                nl_error e = {0};
                int rc = spec.oom ? nl_fail(&e, NL_ERR_USAGE, "out of memory")
                                  : nl_sweep_add_axis(d, spec.p, &e);
                nl_jbuf_free(&spec);
                if (rc)
                    return nl_fail(err, NL_ERR_USAGE, "%s:%d:%d: %s", path, l2, c2, e.msg);
            }
        } else {
            return nl_fail(err, NL_ERR_USAGE,
                           "%s:%d:%d: unknown key '%s' (preset, seeds, vary, base)", path,
                           (int)kn->start_mark.line + 1, (int)kn->start_mark.column + 1, k);
        }
    }
    if (!have_seeds)
        return nl_fail(err, NL_ERR_USAGE, "%s: seeds: missing", path);
    return 0;
}

int nl_sweep_def_load(const char *path, nl_sweep_def *d, nl_error *err)
{
    nl_sweep_def_init(d);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nl_fail(err, NL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int rc;
    if (!yaml_parser_load(&p, &doc)) {
        rc = nl_fail(err, NL_ERR_USAGE, "%s:%d:%d: %s", path, (int)p.problem_mark.line + 1,
                     (int)p.problem_mark.column + 1, p.problem ? p.problem : "YAML error");
    } else {
        rc = load_doc(path, &doc, d, err);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

static void join_values(const nl_sweep_axis *ax, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ax->n && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? "," : "", ax->values[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

bool nl_sweep_def_same(const nl_sweep_def *there, const nl_sweep_def *now, char *why, int len)
{
    char a[512], b[512];
    if (there->seeds != now->seeds) {
        if (why)
            snprintf(why, (size_t)len, "seeds: %d there, %d now", there->seeds, now->seeds);
        return false;
    }
    int n = there->n_axes > now->n_axes ? there->n_axes : now->n_axes;
    for (int i = 0; i < n; i++) {
        const nl_sweep_axis *x = i < there->n_axes ? &there->axes[i] : NULL;
        const nl_sweep_axis *y = i < now->n_axes ? &now->axes[i] : NULL;
        bool same = x && y && !strcmp(x->key, y->key) && x->n == y->n;
        for (int j = 0; same && j < x->n; j++)
            same = !strcmp(x->values[j], y->values[j]);
        if (same)
            continue;
        if (why) {
            if (x)
                join_values(x, a, sizeof a);
            if (y)
                join_values(y, b, sizeof b);
            if (x && y && !strcmp(x->key, y->key))
                snprintf(why, (size_t)len, "vary %s: %s there, %s now", x->key, a, b);
            else
                snprintf(why, (size_t)len, "varied key %d: %s%s%s there, %s%s%s now", i + 1,
                         x ? x->key : "(none)", x ? "=" : "", x ? a : "", y ? y->key : "(none)",
                         y ? "=" : "", y ? b : "");
        }
        return false;
    }
    return true;
}
