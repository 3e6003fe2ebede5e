/* Collecting a sweep whose runs were trained elsewhere (`normlab train` in Slurm array tasks):
 * each run directory's events.log says whether the run finished, its metrics.csv gives the
 * numbers, and a finished run's row is appended to sweep.csv as the local sweep would have
 * written it (sweep.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "metrics.h"
#include "run.h"
#include "sweep.h"

/* What events.log says: the last of its lifecycle events. */
typedef struct run_events {
    nl_sweep_run_status status; /* MISSING without events.log */
    bool finished, diverged;
    long long diverged_step;
} run_events;

static void read_events(const char *rdir, run_events *ev)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/events.log", rdir);
    memset(ev, 0, sizeof *ev);
    ev->status = NL_SWEEP_RUN_MISSING;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    ev->status = NL_SWEEP_RUN_STARTED;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break; /* a line still being written */
        long long step;
        const char *msg = nl_event_message(line, &step);
        long long at = 0;
        nl_event_kind kind = nl_event_kind_of(msg, &at);
        if (kind == NL_EVENT_FINISHED || kind == NL_EVENT_DIVERGED) {
            ev->finished = kind == NL_EVENT_FINISHED;
            ev->diverged = kind == NL_EVENT_DIVERGED;
            ev->diverged_step = ev->diverged ? at : 0;
            ev->status = NL_SWEEP_RUN_STARTED; /* finished; the caller collects it */
        } else if (kind == NL_EVENT_CREATED || kind == NL_EVENT_RESUMED) {
            ev->finished = ev->diverged = false;
            ev->status = NL_SWEEP_RUN_STARTED;
        } else if (kind == NL_EVENT_STOPPED) {
            ev->finished = ev->diverged = false;
            ev->status = NL_SWEEP_RUN_STOPPED;
        } else if (kind == NL_EVENT_FAILED) {
            ev->finished = ev->diverged = false;
            ev->status = NL_SWEEP_RUN_FAILED;
        }
    }
    free(line);
    fclose(f);
}

/* The last row of metrics.csv (scalars only) and the lowest finite loss, as the run driver
 * keeps them (driver.c). */
typedef struct run_tail {
    nl_metrics_row last;
    float best;
    bool have;
} run_tail;

static int read_metrics(const char *rdir, const char *name, run_tail *t, nl_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.csv", rdir);
    memset(t, 0, sizeof *t);
    t->best = NAN;
    FILE *f = fopen(path, "r");
    if (!f)
        return nl_fail(err, NL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int L = 0, M = 0, E = 0, rc = 0;
    float *arr = NULL;
    for (int ln = 1; rc == 0 && (len = getline(&line, &cap, f)) > 0; ln++) {
        if (line[len - 1] != '\n')
            break; /* a row still being written */
        line[len - 1] = '\0';
        if (ln == 1) {
            rc = nl_metrics_csv_parse_header(line, &L, &M, &E, err);
            size_t per = (size_t)3 * (size_t)L + (size_t)M * ((size_t)E + 3) + 1;
            if (rc == 0 && !(arr = calloc(per, sizeof *arr)))
                rc = nl_fail(err, NL_ERR_RUN, "%s: out of memory", path);
            continue;
        }
        nl_metrics_row row = {.gn_attn = arr, .gn_ffn = arr + L, .rms = arr + 2 * L};
        if (M > 0) {
            row.expert_frac = arr + 3 * L;
            row.router_entropy = row.expert_frac + M * E;
            row.gn_router = row.router_entropy + M;
            row.gn_experts = row.gn_router + M;
        }
        rc = nl_metrics_csv_parse(line, &row, L, M, E, err);
        if (rc) {
            char why[900];
            snprintf(why, sizeof why, "%s", err ? err->msg : "");
            rc = nl_fail(err, NL_ERR_USAGE, "%s line %d: %s", path, ln, why);
            break;
        }
        t->last = row;
        t->have = true;
        if (isfinite(row.loss) && !(row.loss >= t->best))
            t->best = row.loss;
    }
    free(arr);
    free(line);
    fclose(f);
    if (rc == 0 && !t->have)
        rc = nl_fail(err, NL_ERR_USAGE, "%s: %s finished, but metrics.csv has no rows", path, name);
    return rc;
}

/* The validation loss after the last step of a run whose metrics.csv does not have it
 * (train.eval_every 0): its final checkpoint, evaluated as the local sweep does
 * (nl_run_eval over train.eval_batches), with nothing written. */
static int final_val(const char *rdir, int64_t step, float *val, nl_error *err)
{
    char cfg_path[4200], ckpt[4300];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.yaml", rdir);
    snprintf(ckpt, sizeof ckpt, "%s/ckpt-%lld.nlck", rdir, (long long)step);
    if (access(ckpt, R_OK) != 0)
        return nl_fail(err, NL_ERR_IO,
                       "%s: no validation loss in metrics.csv and no final checkpoint %s to "
                       "evaluate",
                       rdir, ckpt);
    nl_config c;
    nl_config_defaults(&c);
    int rc = nl_config_load_file(&c, cfg_path, err);
    if (rc)
        return rc;
    nl_kernels *k = nl_backend_open(nl_device_name(c.train.device), c.train.threads, NULL, 0, err);
    if (!k)
        return err ? err->code : NL_ERR_RUN;
    nl_run_opts ro = {.kernels = k, .metrics_capacity = -1};
    nl_run *r = nl_run_create(&c, &ro, err);
    rc = r ? nl_run_resume(r, ckpt, err) : (err ? err->code : NL_ERR_RUN);
    if (rc == 0)
        rc = nl_run_eval(r, c.train.eval_batches, val, err);
    nl_run_free(r);
    nl_backend_close(k);
    return rc;
}

/* The sweep.csv row of run `index`, finished or diverged in rdir. */
static int run_result(const nl_sweep_def *d, int index, const char *rdir, const char *name,
                      const run_events *ev, nl_sweep_result *res, nl_error *err)
{
    int cells = nl_sweep_cells(d);
    run_tail t;
    int rc = read_metrics(rdir, name, &t, err);
    if (rc)
        return rc;
    memset(res, 0, sizeof *res);
    res->cell = index % cells;
    res->seed = index / cells;
    res->diverged = ev->diverged;
    res->diverged_step = ev->diverged ? ev->diverged_step : 0;
    res->train_loss = t.last.loss;
    res->best_loss = t.best;
    res->steps = t.last.step;
    res->tok_s = t.last.time_s > 0 ? (float)((double)t.last.tokens / t.last.time_s) : 0.0f;
    res->val_loss = NAN;
    if (!ev->diverged) {
        res->val_loss = t.last.val_loss;
        if (!isfinite(res->val_loss) && (rc = final_val(rdir, t.last.step, &res->val_loss, err)))
            return rc;
    }
    snprintf(res->run_dir, sizeof res->run_dir, "%s", name);
    return 0;
}

/* One collector at a time: tasks finishing together each collect (a POSIX record lock on
 * DIR/collect.lock, held until the file is closed; it works over NFS with a lock manager). */
static int lock_dir(const char *dir, nl_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/collect.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -nl_fail(err, NL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    while (fcntl(fd, F_SETLKW, &fl) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return -nl_fail(err, NL_ERR_IO, "%s: cannot lock: %s", path, strerror(e));
        }
    }
    return fd;
}

int nl_sweep_collect(const char *dir, const nl_sweep_def *d, nl_sweep_run_status *status,
                     int *unreadable, nl_error *err)
{
    int runs = nl_sweep_runs(d), cells = nl_sweep_cells(d);
    int fd = lock_dir(dir, err);
    if (fd < 0)
        return -fd;
    bool *done = calloc((size_t)runs, sizeof *done);
    int rc = done ? nl_sweep_dir_done(dir, d, done, err)
                  : nl_fail(err, NL_ERR_RUN, "%s: out of memory", dir);
    char csv[4200];
    snprintf(csv, sizeof csv, "%s/sweep.csv", dir);
    *unreadable = 0;
    for (int i = 0; rc == 0 && i < runs; i++) {
        if (done[i]) {
            status[i] = NL_SWEEP_RUN_IN_CSV;
            continue;
        }
        char name[512], rdir[4800];
        nl_sweep_run_name(d, i % cells, i / cells, name, sizeof name);
        snprintf(rdir, sizeof rdir, "%s/%s", dir, name);
        run_events ev;
        read_events(rdir, &ev);
        status[i] = ev.status;
        if (!ev.finished && !ev.diverged)
            continue;
        nl_sweep_result res;
        nl_error rerr = {0};
        if (run_result(d, i, rdir, name, &ev, &res, &rerr)) {
            status[i] = NL_SWEEP_RUN_FAILED; /* the other runs are still collected */
            if (!(*unreadable)++ && err)
                *err = rerr;
            continue;
        }
        rc = nl_sweep_csv_append(csv, d, &res, err);
        if (rc == 0)
            status[i] = NL_SWEEP_RUN_COLLECTED;
    }
    free(done);
    close(fd);
    return rc;
}
