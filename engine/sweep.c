/* Sweeps: definition, cell names, sweep.yaml, sweep.csv, per-cell statistics and the table. */
#include "sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "json_text.h"

/* the columns of sweep.csv after the varied keys */
static const char *const FIXED_COLS[] = {"seed",      "train_loss", "val_loss",
                                         "best_loss", "diverged",   "diverged_step",
                                         "steps",     "tok_s",      "run_dir"};
#define N_FIXED ((int)(sizeof FIXED_COLS / sizeof FIXED_COLS[0]))

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

/* ---- sweep.csv ---- */

static void sb_float(nl_jbuf *b, float v)
{
    if (isnan(v))
        nl_jbuf_printf(b, ",");
    else
        nl_jbuf_printf(b, ",%.6g", (double)v);
}

static char *csv_header(const nl_sweep_def *d)
{
    nl_jbuf b = {0};
    for (int a = 0; a < d->n_axes; a++)
        nl_jbuf_printf(&b, "%s,", d->axes[a].key);
    for (int i = 0; i < N_FIXED; i++)
        nl_jbuf_printf(&b, "%s%s", i ? "," : "", FIXED_COLS[i]);
    nl_jbuf_printf(&b, "\n");
    return nl_jbuf_take(&b);
}

static char *csv_line(const nl_sweep_def *d, const nl_sweep_result *r)
{
    int idx[NL_SWEEP_MAX_AXES];
    nl_sweep_cell_index(d, r->cell, idx);
    nl_jbuf b = {0};
    for (int a = 0; a < d->n_axes; a++)
        nl_jbuf_printf(&b, "%s,", d->axes[a].values[idx[a]]);
    nl_jbuf_printf(&b, "%d", r->seed);
    sb_float(&b, r->train_loss);
    sb_float(&b, r->val_loss);
    sb_float(&b, r->best_loss);
    nl_jbuf_printf(&b, ",%s,", r->diverged ? "yes" : "no");
    if (r->diverged)
        nl_jbuf_printf(&b, "%lld", (long long)r->diverged_step);
    nl_jbuf_printf(&b, ",%lld", (long long)r->steps);
    sb_float(&b, r->tok_s);
    nl_jbuf_printf(&b, ",%s\n", r->run_dir);
    return nl_jbuf_take(&b);
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Cut a torn last line (no newline) off fd's file; returns the resulting size or -1. */
static off_t cut_torn_tail(int fd)
{
    struct stat st;
    if (fstat(fd, &st))
        return -1;
    off_t end = st.st_size;
    char c;
    while (end > 0) {
        if (pread(fd, &c, 1, end - 1) != 1)
            return -1;
        if (c == '\n')
            break;
        end--;
    }
    if (end != st.st_size && ftruncate(fd, end))
        return -1;
    return end;
}

int nl_sweep_csv_append(const char *path, const nl_sweep_def *d, const nl_sweep_result *r,
                        nl_error *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return nl_fail(err, NL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    off_t size = cut_torn_tail(fd);
    char *head = size == 0 ? csv_header(d) : NULL;
    char *line = csv_line(d, r);
    int rc = 0;
    if (size < 0 || !line || (size == 0 && !head))
        rc = nl_fail(err, NL_ERR_IO, "%s: cannot prepare the row: %s", path, strerror(errno));
    else if ((head && write_all(fd, head, strlen(head))) || write_all(fd, line, strlen(line)) ||
             fsync(fd))
        rc = nl_fail(err, NL_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    free(head);
    free(line);
    close(fd);
    if (rc == 0 && size == 0) {
        /* a new file: make its directory entry durable too */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return rc;
}

/* Split line (modified in place) at commas into f[]. Returns the number of fields, or max + 1
 * when there are more than max. */
static int split_csv(char *line, char **f, int max)
{
    int n = 1;
    for (const char *c = line; *c; c++)
        n += *c == ',';
    if (n > max)
        return max + 1;
    f[0] = line;
    for (int i = 1; i < n; i++) {
        char *c = strchr(f[i - 1], ',');
        *c = '\0';
        f[i] = c + 1;
    }
    return n;
}

static int parse_float(const char *s, float *v)
{
    if (!*s) {
        *v = NAN;
        return 0;
    }
    char *end;
    double x = strtod(s, &end);
    if (*end)
        return -1;
    *v = (float)x;
    return 0;
}

static int parse_int(const char *s, int64_t lo, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno || x < lo)
        return -1;
    *v = x;
    return 0;
}

static int csv_parse_row(const char *path, int ln, char *line, const nl_sweep_def *d,
                         nl_sweep_result *r, nl_error *err)
{
    char *f[NL_SWEEP_MAX_AXES + N_FIXED + 1];
    int want = d->n_axes + N_FIXED;
    int n = split_csv(line, f, want);
    if (n != want)
        return nl_fail(err, NL_ERR_USAGE, "%s:%d: expected %d fields, got %s", path, ln, want,
                       n > want ? "more" : "fewer");
    memset(r, 0, sizeof *r);
    int idx[NL_SWEEP_MAX_AXES];
    for (int a = 0; a < d->n_axes; a++) {
        idx[a] = -1;
        for (int i = 0; i < d->axes[a].n; i++)
            if (!strcmp(f[a], d->axes[a].values[i]))
                idx[a] = i;
        if (idx[a] < 0)
            return nl_fail(err, NL_ERR_USAGE, "%s:%d: '%s' is not a value of %s in this sweep",
                           path, ln, f[a], d->axes[a].key);
    }
    r->cell = nl_sweep_cell_of(d, idx);
    char **g = f + d->n_axes;
    int64_t seed, dstep = 0, steps;
    if (parse_int(g[0], 0, &seed) || seed >= d->seeds)
        return nl_fail(err, NL_ERR_USAGE, "%s:%d: seed: expected an integer in [0, %d], got '%s'",
                       path, ln, d->seeds - 1, g[0]);
    r->seed = (int)seed;
    const char *fname[3] = {"train_loss", "val_loss", "best_loss"};
    float *fv[3] = {&r->train_loss, &r->val_loss, &r->best_loss};
    for (int i = 0; i < 3; i++)
        if (parse_float(g[1 + i], fv[i]))
            return nl_fail(err, NL_ERR_USAGE, "%s:%d: %s: expected a number, got '%s'", path, ln,
                           fname[i], g[1 + i]);
    if (strcmp(g[4], "yes") && strcmp(g[4], "no"))
        return nl_fail(err, NL_ERR_USAGE, "%s:%d: diverged: expected yes or no, got '%s'", path, ln,
                       g[4]);
    r->diverged = !strcmp(g[4], "yes");
    if ((r->diverged && parse_int(g[5], 1, &dstep)) || (!r->diverged && *g[5]))
        return nl_fail(err, NL_ERR_USAGE,
                       "%s:%d: diverged_step: expected a step when diverged, nothing when not, "
                       "got '%s'",
                       path, ln, g[5]);
    r->diverged_step = dstep;
    if (parse_int(g[6], 0, &steps))
        return nl_fail(err, NL_ERR_USAGE, "%s:%d: steps: expected an integer, got '%s'", path, ln,
                       g[6]);
    r->steps = steps;
    if (parse_float(g[7], &r->tok_s))
        return nl_fail(err, NL_ERR_USAGE, "%s:%d: tok_s: expected a number, got '%s'", path, ln,
                       g[7]);
    snprintf(r->run_dir, sizeof r->run_dir, "%s", g[8]);
    return 0;
}

int nl_sweep_csv_read(const char *path, const nl_sweep_def *d, nl_sweep_result **rows, int *n,
                      nl_error *err)
{
    *rows = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT
                   ? 0
                   : nl_fail(err, NL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *want = csv_header(d);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int ln = 0, rc = 0, have = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        ln++;
        if (line[len - 1] != '\n')
            break; /* torn last line */
        if (ln == 1) {
            if (!want || strcmp(line, want)) {
                if (want)
                    want[strlen(want) - 1] = '\0';
                rc = nl_fail(err, NL_ERR_USAGE,
                             "%s:1: the header does not match this sweep (expected '%s')", path,
                             want ? want : "?");
            }
            continue;
        }
        line[len - 1] = '\0';
        if (len > 1 && line[len - 2] == '\r')
            line[len - 2] = '\0';
        if (*n == have) {
            have = have ? 2 * have : 64;
            nl_sweep_result *g = realloc(*rows, sizeof **rows * (size_t)have);
            if (!g) {
                rc = nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
                break;
            }
            *rows = g;
        }
        rc = csv_parse_row(path, ln, line, d, &(*rows)[*n], err);
        if (rc == 0)
            (*n)++;
    }
    free(line);
    free(want);
    fclose(f);
    if (rc) {
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return rc;
}

int nl_sweep_load_dir(const char *dir, nl_sweep_def *d, nl_sweep_result **rows, int *n,
                      nl_error *err)
{
    char path[4096];
    *rows = NULL;
    *n = 0;
    snprintf(path, sizeof path, "%s/sweep.yaml", dir);
    int rc = nl_sweep_def_load(path, d, err);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/sweep.csv", dir);
    return nl_sweep_csv_read(path, d, rows, n, err);
}

/* ---- statistics and the table ---- */

void nl_sweep_summarise(const nl_sweep_def *d, const nl_sweep_result *rows, int n,
                        nl_sweep_cell_stats *stats)
{
    int cells = nl_sweep_cells(d), runs = cells * d->seeds;
    int *last = malloc(sizeof(int) * (size_t)runs);
    for (int i = 0; i < runs; i++)
        last[i] = -1;
    for (int i = 0; i < n; i++)
        if (rows[i].cell >= 0 && rows[i].cell < cells && rows[i].seed >= 0 &&
            rows[i].seed < d->seeds)
            last[rows[i].cell * d->seeds + rows[i].seed] = i;
    for (int c = 0; c < cells; c++) {
        nl_sweep_cell_stats *s = &stats[c];
        memset(s, 0, sizeof *s);
        double sum = 0;
        for (int k = 0; k < d->seeds; k++) {
            int i = last[c * d->seeds + k];
            if (i < 0)
                continue;
            s->runs++;
            if (rows[i].diverged)
                s->diverged++;
            else if (isfinite(rows[i].val_loss)) {
                s->ok++;
                sum += rows[i].val_loss;
            }
        }
        s->mean = s->ok ? sum / s->ok : NAN;
        double ss = 0;
        for (int k = 0; k < d->seeds && s->ok > 1; k++) {
            int i = last[c * d->seeds + k];
            if (i >= 0 && !rows[i].diverged && isfinite(rows[i].val_loss))
                ss += (rows[i].val_loss - s->mean) * (rows[i].val_loss - s->mean);
        }
        s->sd = s->ok > 1 ? sqrt(ss / (s->ok - 1)) : 0.0;
    }
    free(last);
}

/* a before b: fewer diverged (as a fraction of runs), then a lower mean */
static bool better(const nl_sweep_cell_stats *a, const nl_sweep_cell_stats *b)
{
    double fa = (double)a->diverged / a->runs, fb = (double)b->diverged / b->runs;
    if (fa != fb)
        return fa < fb;
    return a->mean < b->mean;
}

bool nl_sweep_is_best(const nl_sweep_def *d, const nl_sweep_cell_stats *stats, int cell)
{
    if (!isfinite(stats[cell].mean))
        return false;
    int idx[NL_SWEEP_MAX_AXES];
    nl_sweep_cell_index(d, cell, idx);
    int rows = d->n_axes ? d->axes[0].n : 1;
    for (int r = 0; r < rows; r++) {
        if (d->n_axes)
            idx[0] = r;
        int c = nl_sweep_cell_of(d, idx);
        if (c == cell || !isfinite(stats[c].mean))
            continue;
        /* an earlier row wins a tie */
        if (better(&stats[c], &stats[cell]) || (c < cell && !better(&stats[cell], &stats[c])))
            return false;
    }
    return true;
}

static void cell_text(const nl_sweep_def *d, const nl_sweep_cell_stats *stats, int cell, bool utf8,
                      char *buf, size_t len)
{
    const nl_sweep_cell_stats *s = &stats[cell];
    if (s->runs == 0) {
        snprintf(buf, len, "not run");
        return;
    }
    size_t n;
    if (!isfinite(s->mean))
        n = (size_t)snprintf(buf, len, "-");
    else if (s->ok == 1)
        n = (size_t)snprintf(buf, len, "%.3f", s->mean);
    else
        n = (size_t)snprintf(buf, len, "%.3f%s%.3f", s->mean, utf8 ? "\xc2\xb1" : "+-", s->sd);
    if (s->diverged && n < len)
        n += (size_t)snprintf(buf + n, len - n, " (%d div)", s->diverged);
    if (s->runs < d->seeds && n < len)
        n += (size_t)snprintf(buf + n, len - n, " [%d/%d]", s->runs, d->seeds);
    if (nl_sweep_is_best(d, stats, cell) && n < len)
        snprintf(buf + n, len - n, "*");
}

/* display width of UTF-8 text: bytes that do not continue a character */
static int text_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void sb_padded(nl_jbuf *b, const char *s, int width)
{
    nl_jbuf_printf(b, "%s%*s", s, width - text_width(s), "");
}

char *nl_sweep_table(const nl_sweep_def *d, const nl_sweep_cell_stats *stats, bool utf8)
{
    int rows = d->n_axes >= 1 ? d->axes[0].n : 1;
    int cols = d->n_axes >= 2 ? d->axes[1].n : 1;
    int blocks = nl_sweep_cells(d) / (rows * cols);
    nl_jbuf b = {0};
    nl_jbuf_printf(&b,
                   "final validation loss, mean %s sd over %d seed%s; (k div): k seeds diverged, "
                   "left out of the mean; * best in its column\n",
                   utf8 ? "\xc2\xb1" : "+-", d->seeds, d->seeds == 1 ? "" : "s");
    char(*text)[96] = calloc((size_t)(rows * cols), sizeof *text);
    char(*head)[NL_SWEEP_MAX_VALUE_LEN + 72] = calloc((size_t)cols, sizeof *head);
    int *width = calloc((size_t)cols + 1, sizeof(int));
    if (!text || !head || !width) {
        free(text);
        free(head);
        free(width);
        nl_jbuf_free(&b);
        return NULL;
    }
    for (int blk = 0; blk < blocks; blk++) {
        int idx[NL_SWEEP_MAX_AXES] = {0};
        /* the block's values of axes 2.. : blk in mixed radix */
        for (int a = d->n_axes - 1, rest = blk; a >= 2; a--) {
            idx[a] = rest % d->axes[a].n;
            rest /= d->axes[a].n;
        }
        nl_jbuf_printf(&b, "\n");
        if (d->n_axes >= 3) {
            for (int a = 2; a < d->n_axes; a++)
                nl_jbuf_printf(&b, "%s%s=%s", a > 2 ? " " : "", d->axes[a].label,
                               d->axes[a].values[idx[a]]);
            nl_jbuf_printf(&b, "\n");
        }
        const char *corner = d->n_axes ? d->axes[0].label : "";
        width[0] = text_width(corner);
        for (int r = 0; r < rows; r++) {
            const char *label = d->n_axes ? d->axes[0].values[r] : "base";
            if (text_width(label) > width[0])
                width[0] = text_width(label);
        }
        for (int c = 0; c < cols; c++) {
            if (d->n_axes >= 2)
                snprintf(head[c], sizeof head[c], "%s=%s", d->axes[1].label, d->axes[1].values[c]);
            else
                snprintf(head[c], sizeof head[c], "val loss");
            width[c + 1] = text_width(head[c]);
            for (int r = 0; r < rows; r++) {
                if (d->n_axes >= 1)
                    idx[0] = r;
                if (d->n_axes >= 2)
                    idx[1] = c;
                char *t = text[r * cols + c];
                cell_text(d, stats, nl_sweep_cell_of(d, idx), utf8, t, sizeof text[0]);
                if (text_width(t) > width[c + 1])
                    width[c + 1] = text_width(t);
            }
        }
        sb_padded(&b, corner, width[0]);
        for (int c = 0; c < cols; c++) {
            nl_jbuf_printf(&b, "  ");
            if (c == cols - 1)
                nl_jbuf_printf(&b, "%s", head[c]);
            else
                sb_padded(&b, head[c], width[c + 1]);
        }
        nl_jbuf_printf(&b, "\n");
        for (int r = 0; r < rows; r++) {
            sb_padded(&b, d->n_axes ? d->axes[0].values[r] : "base", width[0]);
            for (int c = 0; c < cols; c++) {
                nl_jbuf_printf(&b, "  ");
                if (c == cols - 1)
                    nl_jbuf_printf(&b, "%s", text[r * cols + c]);
                else
                    sb_padded(&b, text[r * cols + c], width[c + 1]);
            }
            nl_jbuf_printf(&b, "\n");
        }
    }
    free(text);
    free(head);
    free(width);
    return nl_jbuf_take(&b);
}
