#include "driver.h"

#include <math.h>
#include <stdio.h>

#include "clock.h"

bool nl_run_state_active(nl_run_state st)
{
    return st == NL_RUN_READY || st == NL_RUN_RUNNING || st == NL_RUN_PAUSED;
}

void nl_driver_init(nl_driver *d, nl_run *r)
{
    d->run = r;
    d->best_loss = NAN;
    d->busy_s = 0;
    d->busy_steps = 0;
    d->mark = 0;
}

nl_run_state nl_driver_step(nl_driver *d, nl_error *err)
{
    int64_t before = nl_run_step_index(d->run);
    nl_run_state st = nl_run_step(d->run, err);
    if (nl_run_step_index(d->run) == before)
        return st; /* nothing stepped: a finished or stopped run */
    const nl_metrics_row *row = nl_run_last_row(d->run);
    if (row && isfinite(row->loss) && !(row->loss >= d->best_loss))
        d->best_loss = row->loss;
    double now = nl_clock_s();
    if (d->mark > 0) {
        d->busy_s += now - d->mark;
        d->busy_steps += nl_run_step_index(d->run) - before;
    }
    d->mark = now;
    return st;
}

void nl_driver_pause(nl_driver *d)
{
    d->mark = 0;
}

double nl_driver_eta(const nl_driver *d)
{
    int64_t step = nl_run_step_index(d->run), total = nl_run_total_steps(d->run);
    if (nl_run_get_state(d->run) == NL_RUN_FINISHED || step >= total)
        return 0.0;
    return nl_eta_s(d->busy_s, (double)d->busy_steps, (double)(total - step));
}

const nl_metrics_row *nl_driver_last(const nl_driver *d)
{
    return nl_run_last_row(d->run);
}

nl_run_state nl_driver_run(nl_driver *d, const nl_drive_opts *o, nl_error *err)
{
    nl_run_state st = nl_run_get_state(d->run);
    for (int64_t n = 0; st != NL_RUN_FINISHED && st != NL_RUN_DIVERGED && st != NL_RUN_FAILED;
         n++) {
        if ((o->stop && *o->stop) || (o->max_steps > 0 && n >= o->max_steps))
            return NL_RUN_RUNNING;
        st = nl_driver_step(d, err);
        if (o->progress)
            o->progress(o->ctx, d, st);
    }
    return st;
}

int nl_driver_stop(nl_driver *d, bool checkpoint, const char *why, char *path_out, int path_len,
                   nl_error *err)
{
    nl_run *r = d->run;
    nl_run_set_state(r, NL_RUN_STOPPED);
    nl_driver_pause(d);
    if (path_out && path_len > 0)
        path_out[0] = '\0';
    if (checkpoint && nl_run_dir(r) && nl_run_step_index(r) > 0) {
        nl_error serr = {0};
        if (nl_run_save(r, path_out, path_len, &serr)) {
            nl_run_set_state(r, NL_RUN_FAILED);
            nl_run_log_event(r, "failed: %s, but the checkpoint failed: %.700s", why, serr.msg);
            if (err)
                *err = serr;
            return serr.code ? serr.code : NL_ERR_IO;
        }
    }
    nl_run_log_event(r, "%s", why);
    return 0;
}
