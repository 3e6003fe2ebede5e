/* A sweep's results: the one encoding of a finished run (a sweep.csv row), written by
 * nl_sweep_csv_append, sent by a sweep's child process (nl_sweep_result_line) and read back
 * by one parser (nl_sweep_result_parse, nl_sweep_csv_read). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "fsutil.h"
#include "json_text.h"
#include "sweep.h"

/* the columns of sweep.csv after the varied keys */
static const char *const FIXED_COLS[] = {"seed",      "train_loss", "val_loss",
                                         "best_loss", "diverged",   "diverged_step",
                                         "steps",     "tok_s",      "run_dir"};
#define N_FIXED ((int)(sizeof FIXED_COLS / sizeof FIXED_COLS[0]))

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

char *nl_sweep_result_line(const nl_sweep_def *d, const nl_sweep_result *r)
{
    return csv_line(d, r);
}

static int csv_parse_row(const char *path, int ln, char *line, const nl_sweep_def *d,
                         nl_sweep_result *r, nl_error *err);

int nl_sweep_result_parse(const nl_sweep_def *d, const char *line, const char *where,
                          nl_sweep_result *r, nl_error *err)
{
    char *copy = strdup(line);
    if (!copy)
        return nl_fail(err, NL_ERR_RUN, "%s: out of memory", where);
    size_t n = strlen(copy);
    while (n > 0 && (copy[n - 1] == '\n' || copy[n - 1] == '\r'))
        copy[--n] = '\0';
    int rc = csv_parse_row(where, 1, copy, d, r, err);
    free(copy);
    return rc;
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
    if (rc == 0 && size == 0) /* a new file: make its directory entry durable too */
        nl_fsync_parent_dir(path, NULL);
    return rc;
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
    int n = nl_csv_split(line, f, want);
    if (n < 0)
        return nl_fail(err, NL_ERR_USAGE, "%s:%d: badly quoted field", path, ln);
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
