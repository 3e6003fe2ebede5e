/* A sweep directory on disk: creating or continuing it (sweep.yaml, base.yaml), which runs
 * sweep.csv already holds, and training one run into it from the start. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "ckpt.h"
#include "driver.h"
#include "fsutil.h"
#include "sweep.h"
#include "xalloc.h"

static bool dir_is_empty(const char *path)
{
    DIR *dd = opendir(path);
    if (!dd)
        return true;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(dd)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(dd);
    return empty;
}

/* The first line where a and b differ, for the message. */
static void first_difference(const char *a, const char *b, char *buf, size_t len)
{
    int line = 1;
    const char *la = a, *lb = b;
    while (*a && *a == *b) {
        if (*a == '\n') {
            line++;
            la = a + 1;
            lb = b + 1;
        }
        a++;
        b++;
    }
    int na = (int)strcspn(la, "\n"), nb = (int)strcspn(lb, "\n");
    snprintf(buf, len, "line %d is '%.*s' there, '%.*s' now", line, na > 100 ? 100 : na, la,
             nb > 100 ? 100 : nb, lb);
}

/* How the base config of the sweep in DIR (its base.yaml, text `old`) differs from this one
 * (`now`, written as `now_text`): "key old -> new, ... (the sweep's -> this command's)" where
 * base.yaml loads as a config and the two differ in a key; else the first line that differs. */
static void describe_difference(const char *path, const char *old, const nl_config *now,
                                const char *now_text, char *buf, size_t len)
{
    nl_config *a = nl_malloc(sizeof *a);
    nl_error e = {0};
    int n = 0;
    const char *tail = " (the sweep's -> this command's)";
    size_t room = strlen(tail);
    if (a && len > room + 1) {
        nl_config_defaults(a);
        if (nl_config_load_string(a, old, strlen(old), path, &e) == 0 &&
            (n = nl_config_diff(a, now, NULL, buf, len - room)) > 0)
            strcat(buf, tail);
    }
    free(a);
    if (n == 0)
        first_difference(old, now_text, buf, len);
}

static int write_text(const char *path, const char *text, nl_error *err)
{
    if (!text)
        return nl_fail(err, NL_ERR_RUN, "%s: out of memory", path);
    return nl_write_file_atomic(path, text, strlen(text), err);
}

/* DIR holds sweep.yaml: it must be this sweep, and base.yaml this base config. */
static int check_existing(const char *dir, const char *sy, const char *by, const nl_sweep_def *d,
                          const nl_config *base, const char *base_text, nl_error *err)
{
    nl_sweep_def *there = nl_malloc(sizeof *there);
    if (!there)
        return nl_fail(err, NL_ERR_RUN, "%s: out of memory", sy);
    char why[1024];
    int rc = nl_sweep_def_load(sy, there, err);
    if (rc == 0 && !nl_sweep_def_same(there, d, why, sizeof why))
        rc = nl_fail(err, NL_ERR_USAGE,
                     "%s holds a different sweep (%s); run it with its own arguments to continue "
                     "it, or choose another --out",
                     dir, why);
    free(there);
    if (rc)
        return rc;
    char *old = nl_read_file(by, NULL);
    if (!old) {
        rc = write_text(by, base_text, err); /* sweep.yaml was written, base.yaml not yet */
    } else if (strcmp(old, base_text)) {
        describe_difference(by, old, base, base_text, why, sizeof why);
        rc = nl_fail(err, NL_ERR_USAGE,
                     "%s: the base config (preset, --set, --steps) differs from this sweep's: "
                     "%s; use the sweep's preset and options, or choose another --out",
                     by, why);
    }
    free(old);
    return rc;
}

int nl_sweep_dir_prepare(const char *dir, const nl_sweep_def *d, const nl_config *base,
                         nl_error *err)
{
    int rc = nl_mkdir_p(dir, err);
    if (rc)
        return NL_ERR_USAGE;
    char sy[4200], by[4200];
    snprintf(sy, sizeof sy, "%s/sweep.yaml", dir);
    snprintf(by, sizeof by, "%s/base.yaml", dir);
    char *base_text = nl_config_to_yaml(base);
    if (!base_text)
        return nl_fail(err, NL_ERR_RUN, "out of memory");
    if (access(sy, F_OK) == 0) {
        rc = check_existing(dir, sy, by, d, base, base_text, err);
    } else if (!dir_is_empty(dir)) {
        rc = nl_fail(err, NL_ERR_USAGE,
                     "%s exists and is not a sweep directory (no sweep.yaml); choose another "
                     "--out",
                     dir);
    } else {
        char *text = nl_sweep_def_yaml(d);
        rc = write_text(sy, text, err);
        if (rc == 0)
            rc = write_text(by, base_text, err);
        free(text);
    }
    free(base_text);
    return rc;
}

int nl_sweep_dir_done(const char *dir, const nl_sweep_def *d, bool *done, nl_error *err)
{
    char csv[4200];
    snprintf(csv, sizeof csv, "%s/sweep.csv", dir);
    nl_sweep_result *rows = NULL;
    int n = 0, cells = nl_sweep_cells(d);
    int rc = nl_sweep_csv_read(csv, d, &rows, &n, err);
    if (rc)
        return rc;
    memset(done, 0, sizeof(bool) * (size_t)nl_sweep_runs(d));
    for (int i = 0; i < n; i++)
        done[rows[i].seed * cells + rows[i].cell] = true;
    free(rows);
    return 0;
}

/* The config of run index, checked against the base.yaml the sweep started with (a preset
 * edited since must not slip in). */
static int child_config(const nl_sweep_def *d, const nl_config *base, const char *dir, int index,
                        nl_config *c, nl_error *err)
{
    int cells = nl_sweep_cells(d);
    if (index < 0 || index >= nl_sweep_runs(d))
        return nl_fail(err, NL_ERR_USAGE, "sweep: run %d is not in this sweep", index);
    int rc = nl_sweep_run_config(d, base, index % cells, index / cells, c, err);
    if (rc)
        return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/base.yaml", dir);
    char *there = nl_read_file(path, NULL), *now = nl_config_to_yaml(base);
    bool same = there && now && !strcmp(there, now);
    free(there);
    free(now);
    if (!same)
        return nl_fail(err, NL_ERR_USAGE, "%s: the preset or --set changed since the sweep started",
                       path);
    return 0;
}

/* Fill the result of a run that finished or diverged (the validation loss after the last
 * step, when it did not diverge). */
static int sweep_result(const nl_sweep_def *d, nl_driver *drv, nl_run_state st, int index,
                        const char *name, nl_sweep_result *r, nl_error *err)
{
    int cells = nl_sweep_cells(d);
    nl_run *run = drv->run;
    const nl_metrics_row *last = nl_driver_last(drv);
    memset(r, 0, sizeof *r);
    r->cell = index % cells;
    r->seed = index / cells;
    r->diverged = st == NL_RUN_DIVERGED;
    r->val_loss = NAN;
    if (!r->diverged) {
        nl_error verr = {0};
        if (nl_run_eval(run, nl_run_config(run)->train.eval_batches, &r->val_loss, &verr))
            return nl_fail(err, NL_ERR_RUN, "%s: validation failed: %s", name, verr.msg);
    }
    r->train_loss = last ? last->loss : NAN;
    r->best_loss = drv->best_loss;
    r->steps = nl_run_step_index(run);
    r->diverged_step = r->diverged ? r->steps : 0;
    r->tok_s = last && last->time_s > 0 ? (float)((double)last->tokens / last->time_s) : 0.0f;
    snprintf(r->run_dir, sizeof r->run_dir, "%s", name);
    return 0;
}

int nl_sweep_train_run(const nl_sweep_def *d, const nl_config *base, const char *dir, int index,
                       const nl_sweep_train_opts *o, nl_sweep_result *out, bool *stopped,
                       nl_error *err)
{
    *stopped = false;
    nl_config c;
    int rc = child_config(d, base, dir, index, &c, err);
    if (rc)
        return rc;
    c.train.threads = o->threads;
    int cells = nl_sweep_cells(d);
    char name[512], rdir[4800];
    nl_sweep_run_name(d, index % cells, index / cells, name, sizeof name);
    snprintf(rdir, sizeof rdir, "%s/%s", dir, name);
    /* an earlier, interrupted attempt at this run starts over */
    if ((rc = nl_ckpt_remove_all(rdir, err)))
        return rc;
    nl_kernels *k = nl_backend_open(nl_device_name(c.train.device), c.train.threads, NULL, 0, err);
    if (!k)
        return err ? err->code : NL_ERR_RUN;
    nl_run_opts ro = {.out_dir = rdir, .kernels = k, .metrics_capacity = -1};
    nl_error cerr = {0};
    nl_run *r = nl_run_create(&c, &ro, &cerr);
    if (!r) {
        nl_backend_close(k);
        return nl_fail(err, cerr.code, "%s: %s", name, cerr.msg);
    }
    nl_driver drv;
    nl_driver_init(&drv, r);
    nl_drive_opts dopts = {.stop = o->stop, .progress = o->progress, .ctx = o->ctx};
    nl_run_state st = nl_driver_run(&drv, &dopts, err);
    if (st == NL_RUN_FAILED) {
        rc = nl_fail(err, NL_ERR_RUN, "%s failed: %s", name, nl_run_message(r));
    } else if (nl_run_state_active(st)) {
        char why[160];
        snprintf(why, sizeof why,
                 "stopped by signal %d; the sweep trains this run again from the start",
                 o->stop ? (int)*o->stop : 0);
        nl_driver_stop(&drv, false, why, NULL, 0, NULL);
        *stopped = true;
    } else {
        rc = sweep_result(d, &drv, st, index, name, out, err);
    }
    nl_run_free(r);
    nl_backend_close(k);
    return rc;
}
