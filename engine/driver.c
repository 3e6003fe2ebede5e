#include "driver.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "dist.h"
#include "kernels/kernels.h"
#include "model.h"

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
    d->auto_cores = d->auto_threads = 0;
    d->auto_next = 0;
    nl_kernels *k = nl_model_kernels(nl_run_model(r));
    if (nl_run_config(r)->train.threads == 0 && k && k->is_host && k->set_threads) {
        d->auto_cores = d->auto_threads = nl_backend_cores(); /* what auto opened with */
        const nl_config *c = nl_run_config(r);
        double gflop = nl_model_flops_per_token(nl_run_model(r)) * c->train.batch *
                       c->model.seq_len * 1e-9;
        if (d->auto_cores > 1 && gflop < NL_AUTO_ONE_THREAD_GFLOP) {
            k->set_threads(k, 1);
            nl_run_log_event(r, "threads %d -> 1 (auto: a step of %.2f GFLOP runs fastest on "
                                "one thread)",
                             d->auto_cores, gflop);
            d->auto_threads = 1;
            d->auto_cores = 1;
        }
        if (d->auto_cores < 2)
            d->auto_cores = 0; /* nothing to choose */
    }
}

int nl_auto_threads(int cores, int others)
{
    int n = cores - (others > 0 ? others : 0);
    return n < 1 ? 1 : n;
}

/* Runnable threads of other processes that compete with this one: state R, and a nice value
 * under ours + 10 (a background job at nice 19 gets a few percent of a core beside a program
 * at nice 0, and does not count). -1 where /proc cannot be read. */
static int competing_threads(void)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return -1;
    int self = (int)getpid(), mine = getpriority(PRIO_PROCESS, 0), n = 0;
    struct dirent *p;
    while ((p = readdir(proc))) {
        int pid = atoi(p->d_name);
        if (pid <= 0 || pid == self || nl_dist_local_peer(pid))
            continue; /* the other ranks of this run are not other programs */
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task", pid);
        DIR *tasks = opendir(path);
        if (!tasks)
            continue;
        struct dirent *t;
        while ((t = readdir(tasks))) {
            if (atoi(t->d_name) <= 0)
                continue;
            char sp[96], buf[512];
            snprintf(sp, sizeof sp, "/proc/%d/task/%.16s/stat", pid, t->d_name);
            FILE *f = fopen(sp, "r");
            if (!f)
                continue;
            size_t len = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[len] = '\0';
            /* pid (comm) state ... : fields after the last ')' */
            char *c = strrchr(buf, ')');
            char state;
            int nice;
            if (c && sscanf(c + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                                   "%*d %d",
                            &state, &nice) == 2 &&
                state == 'R' && nice < mine + 10)
                n++;
        }
        closedir(tasks);
    }
    closedir(proc);
    return n;
}

int nl_others_running(void)
{
    int fewest = INT_MAX;
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen("/proc/stat", "r");
        if (!f)
            return -1;
        char line[512];
        int n = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "procs_running %d", &n) == 1)
                break;
        fclose(f);
        if (n >= 0 && n < fewest)
            fewest = n;
        if (i < 2)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    if (fewest == INT_MAX)
        return -1;
    int others = fewest - 1;
    /* who they are: only those that compete for a core count, the fewest of a few looks
     * again (a kernel worker or a starting process is runnable for an instant) */
    for (int i = 0; i < 3 && others > 0; i++) {
        if (i)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        int c = competing_threads();
        if (c >= 0 && c < others)
            others = c;
    }
    return others;
}

/* threads 0 (auto): threads that wait at a barrier for a thread the scheduler has given to
 * another program lose far more than one thread fewer costs, so auto runs one per free core
 * (bench/contention.sh measures it). A change is logged. */
static void auto_threads_look(nl_driver *d)
{
    double now = nl_clock_s();
    if (now < d->auto_next)
        return;
    d->auto_next = now + 1.0;
    /* one look a second for the thread that drives: the lab's worker drives every run of a
     * race, each with its driver, on one backend, and they all get the same answer */
    static _Thread_local double looked_at = -1;
    static _Thread_local int looked = -1;
    if (looked_at < 0 || now - looked_at >= 1.0) {
        looked = nl_others_running();
        looked_at = now;
    }
    int others = looked, ranks = nl_dist_local_size();
    if (others < 0)
        return;
    others = (others + ranks - 1) / ranks; /* the ranks on this machine share what is busy */
    int want = nl_auto_threads(d->auto_cores, others);
    if (want == d->auto_threads)
        return;
    nl_kernels *k = nl_model_kernels(nl_run_model(d->run));
    k->set_threads(k, want);
    nl_run_log_event(d->run, "threads %d -> %d (auto: %d other program%s running on %d cores)",
                     d->auto_threads, want, others, others == 1 ? "" : "s", d->auto_cores);
    d->auto_threads = want;
}

nl_run_state nl_driver_step(nl_driver *d, nl_error *err)
{
    int64_t before = nl_run_step_index(d->run);
    if (d->auto_cores)
        auto_threads_look(d);
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
        /* with several ranks, every rank stops at the same step when any was asked to */
        if (nl_dist_any(o->stop && *o->stop) || (o->max_steps > 0 && n >= o->max_steps))
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
