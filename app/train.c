/* normlab train: headless training with progress on stderr. */
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../engine/backend.h"
#include "../engine/ckpt.h"
#include "../engine/clock.h"
#include "../engine/dist.h"
#include "../engine/driver.h"
#include "../engine/run.h"
#include "commands.h"
#include "train_race.h"

static volatile sig_atomic_t g_stop;
static bool g_ckpt_failed; /* interrupted, and the checkpoint could not be written */
/* Under mpirun: rank 0 alone writes the run directory and prints; the others print errors. */
static bool g_root = true;

static void on_signal(int sig)
{
    g_stop = sig;
}

static const char *TRAIN_USAGE =
    "usage: normlab train [PRESET] [options]\n"
    "\n"
    "Train headless. PRESET is a YAML file or a shipped preset name (see `normlab presets`);\n"
    "without one, the embedded default. A preset with a `runs:` list trains each run in turn.\n"
    "\n"
    "options:\n"
    "  --set KEY=VALUE     override any config key (repeatable), e.g. --set model.layers=24\n"
    "  --steps N           same as --set train.steps=N\n"
    "  --out DIR           run directory (default runs/NAME; a race puts each run in DIR/RUN)\n"
    "  --device D          auto | cpu | cuda (default: train.device)\n"
    "  --threads N         CPU threads (default: train.threads; 0 = one per core that other\n"
    "                      programs leave free; more are capped to the cores)\n"
    "  --run NAME[,NAME]   of a race, train only these runs (each into DIR/NAME)\n"
    "  --resume CKPT       continue from a checkpoint (its config, then --set on top; the run\n"
    "                      directory defaults to the checkpoint's); each key that differs from\n"
    "                      its config is named, old -> new, on stderr and in events.log\n"
    "  --fail-on-diverge   exit with status 1 when a run diverges\n"
    "  --quiet             no progress output\n"
    "\n"
    "Data parallel: `mpirun -np N normlab train ...` splits every batch of train.batch rows\n"
    "over N processes (train.batch must be a multiple of N) and averages their gradients, so\n"
    "the run matches one process's; rank 0 writes the run directory and prints (docs/SCALE.md).\n"
    "Ctrl-C on mpirun stops every rank after the same step and rank 0 writes the checkpoint;\n"
    "Open MPI kills ranks still running 1 s after the signal, `kill -USR1 MPIRUN_PID` does not.\n"
    "%s"
    "\n"
    "Writes DIR/config.yaml, metrics.csv, events.log and ckpt-STEP.nlck (docs/FORMATS.md).\n"
    "A DIR that holds another run's checkpoints is refused (continue that run with --resume).\n"
    "Ctrl-C (SIGINT) or SIGTERM: the current step finishes, a checkpoint is written, and\n"
    "normlab exits with status 130 (resume it with --resume).\n"
    "exit status: 0 finished (or diverged without --fail-on-diverge), 1 failed or diverged\n"
    "with --fail-on-diverge, 2 bad usage or input, 130 interrupted.\n";

/* What the progress line needs between two steps. */
typedef struct progress_ctx {
    bool tty, quiet;
    int log_every;
    int64_t start_step;
    double last_draw;
} progress_ctx;

/* The tty form: one line that never wraps; the bar takes what the terminal's width leaves,
 * and the text is cut to the width when even a bare line is too long. */
static void progress_bar_line(const char *text, int64_t step, int64_t total)
{
    int cols = nl_app_term_columns(STDERR_FILENO) - 1; /* the last column would wrap */
    int width = cols - (int)strlen(text) - 2;
    if (width > 24)
        width = 24;
    char bar[32] = "";
    if (width >= 4) {
        int fill = total > 0 ? (int)(width * step / total) : width;
        bar[0] = '[';
        for (int i = 0; i < width; i++)
            bar[1 + i] = i < fill ? '#' : '.';
        bar[width + 1] = ']';
        bar[width + 2] = '\0';
    }
    char line[300];
    snprintf(line, sizeof line, "%s%s", bar, bar[0] ? text : text + 1);
    if ((int)strlen(line) > cols && cols > 0)
        line[cols] = '\0';
    fprintf(stderr, "\r\033[K%s", line);
}

static void progress(const nl_driver *d, bool tty, bool final)
{
    nl_run *r = d->run;
    const nl_metrics_row *row = nl_driver_last(d);
    int64_t step = nl_run_step_index(r), total = nl_run_total_steps(r);
    char eta[32];
    nl_fmt_eta(nl_driver_eta(d), eta, sizeof eta);
    char val[32] = "";
    if (row && isfinite(row->val_loss))
        snprintf(val, sizeof val, " val %.4f", row->val_loss);
    if (tty) {
        char text[256];
        snprintf(text, sizeof text, " %lld/%lld loss %.4f%s lr %.2e gn %.3g %.0f tok/s ETA %s",
                 (long long)step, (long long)total, row ? row->loss : NAN, val, row ? row->lr : 0.0,
                 row ? row->grad_norm : NAN, row ? row->tok_s : 0.0, eta);
        progress_bar_line(text, step, total);
        if (final)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "step %lld/%lld loss %.4f%s lr %.3e grad_norm %.4g tok/s %.0f eta %s\n",
                (long long)step, (long long)total, row ? row->loss : NAN, val, row ? row->lr : 0.0,
                row ? row->grad_norm : NAN, row ? row->tok_s : 0.0, eta);
    }
    fflush(stderr);
}

/* The driver's hook after each step: a tty line at most ten times a second, else a line
 * every train.log_every steps, and one at the end. */
static void on_step(void *ctx, const nl_driver *d, nl_run_state st)
{
    progress_ctx *p = ctx;
    if (p->quiet || !nl_driver_last(d))
        return;
    double now = nl_clock_s();
    int64_t s = nl_run_step_index(d->run);
    if (p->tty) {
        if (now - p->last_draw > 0.1 || st != NL_RUN_RUNNING) {
            progress(d, true, false);
            p->last_draw = now;
        }
    } else if ((s - p->start_step) % p->log_every == 0 || st != NL_RUN_RUNNING) {
        progress(d, false, false);
    }
}

static int unique_dir(const char *base, char *out, size_t n)
{
    struct stat st;
    snprintf(out, n, "%s", base);
    for (int i = 2; stat(out, &st) == 0 && i < 10000; i++)
        snprintf(out, n, "%s-%d", base, i);
    return 0;
}

/* Ctrl-C or SIGTERM during a run: a checkpoint to continue from, and exit status 130 (1
 * when that checkpoint cannot be written). Frees the run. Under mpirun every rank stops at
 * the same step (the driver agrees on it) and rank 0 writes the checkpoint. */
static int stop_interrupted(nl_driver *d, bool newline, const char *race_hint)
{
    nl_run *r = d->run;
    nl_error err = {0};
    char why[96], path[600] = "";
    long long step = (long long)nl_run_step_index(r);
    if (g_stop)
        snprintf(why, sizeof why, "stopped by signal %d at step %lld", (int)g_stop, step);
    else
        snprintf(why, sizeof why, "stopped at step %lld (another rank was interrupted)", step);
    int code = 130;
    if (nl_driver_stop(d, true, why, path, sizeof path, &err)) {
        /* nothing to resume from at this step: that is a failure, not a clean stop */
        nl_app_error(1, "%sinterrupted at step %lld, but the checkpoint failed: %s",
                     newline ? "\n" : "", step, err.msg);
        g_ckpt_failed = true;
        code = 1;
    } else if (g_root) {
        fprintf(stderr, "%snormlab: interrupted at step %lld; checkpoint %s\n", newline ? "\n" : "",
                step, path);
        if (race_hint)
            fprintf(stderr, "normlab: continue the race with: %s\n", race_hint);
        else
            fprintf(stderr, "normlab: continue with: normlab train --resume %s\n", path);
    }
    nl_run_free(r);
    return code;
}

/* What --set, --steps (or a key they imply) changed of the checkpoint's config on --resume,
 * as "key old -> new, ..." ("" none): printed before the run starts and written to its
 * events.log, since the run then does not go on as it would have uninterrupted. */
static char g_resume_changes[1024];

/* The run of one config on every rank (rank 0's has the directory), or NULL when it could
 * not be created on some rank: each rank agrees, and the error is printed once (by rank 0,
 * or by the rank that alone failed). */
static nl_run *create_run(const nl_config *c, const char *dir, const char *resume, nl_kernels *k,
                          int *code)
{
    nl_error err = {0};
    nl_run_opts o = {.out_dir = g_root ? dir : NULL, .kernels = k, .resume = resume};
    nl_run *r = nl_run_create(c, &o, &err);
    if (r && resume && g_root && g_resume_changes[0])
        nl_run_log_event(r, "resumed with changes to the checkpoint's config: %s",
                         g_resume_changes);
    bool root_failed = nl_dist_root_true(!r), any_failed = nl_dist_any(!r);
    *code = r ? 2 : nl_app_exit_code(err.code);
    if (!r && (g_root || !root_failed))
        nl_app_error(*code, "%s", err.msg);
    if (r && any_failed) {
        nl_run_free(r);
        r = NULL;
    }
    return r;
}

static void say_start(nl_run *r, nl_kernels *k, const char *dir)
{
    const nl_config *rc = nl_run_config(r);
    double fl = nl_run_entropy_floor(r);
    char ranks[64] = "";
    int th = nl_backend_threads(rc->train.threads, NULL, 0); /* what the backend opened with */
    char each[32] = "";
    if (k->is_host)
        snprintf(each, sizeof each, ", %d thread%s", th, th == 1 ? "" : "s");
    if (nl_dist_size() > 1)
        snprintf(ranks, sizeof ranks, " x %d ranks (batch %d%s each)", nl_dist_size(),
                 rc->train.batch / nl_dist_size(), each);
    fprintf(stderr,
            "normlab: training %s: %s, %d layers, d_model %d, %lld parameters, %s backend%s -> "
            "%s\n",
            rc->name, nl_placement_name(rc->model.placement), rc->model.layers, rc->model.d_model,
            (long long)nl_model_num_params(nl_run_model(r)), k->name, ranks, dir);
    if (isfinite(fl))
        fprintf(stderr, "normlab: loss floor (markov entropy rate) %.4f nats, ln(V) = %.4f\n", fl,
                log((double)rc->model.vocab));
    if (nl_run_step_index(r) > 0)
        fprintf(stderr, "normlab: resumed at step %lld\n", (long long)nl_run_step_index(r));
}

/* The all-reduce totals when the run began (a race's runs each report their own). */
static int64_t g_comm_bytes, g_comm_calls;
static double g_comm_s;

/* Under mpirun: what the gradient all-reduce cost on this rank against the steps. */
static void say_comm(const nl_driver *d)
{
    int64_t bytes, calls;
    double sec;
    nl_dist_comm_stats(&bytes, &sec, &calls);
    bytes -= g_comm_bytes, calls -= g_comm_calls, sec -= g_comm_s;
    if (calls < 1 || d->busy_steps < 1)
        return;
    double step_ms = 1e3 * d->busy_s / (double)d->busy_steps, ar_ms = 1e3 * sec / (double)calls;
    fprintf(stderr,
            "normlab: all-reduce: %.2f MB of gradients a step, %.3f ms of a %.3f ms step "
            "(%.1f%%) over %lld steps\n",
            (double)bytes / (double)calls / 1e6, ar_ms, step_ms,
            step_ms > 0 ? 100.0 * ar_ms / step_ms : 0.0, (long long)calls);
}

/* How a run that was not interrupted ended: the exit code, and what rank 0 says. A failure
 * under mpirun ends every rank: one that failed alone leaves the others waiting for it. */
static int end_run(nl_driver *d, nl_run_state st, const nl_error *err, const char *where,
                   bool quiet, bool fail_on_diverge)
{
    nl_run *r = d->run;
    const nl_metrics_row *last = nl_driver_last(d);
    bool say = !quiet && g_root;
    int code = 0;
    if (say && isatty(2) && last)
        progress(d, true, true);
    if (say && nl_dist_size() > 1)
        say_comm(d);
    if (st == NL_RUN_FAILED) {
        code = nl_app_error(1, "run failed: %s", err->msg);
        if (nl_dist_size() > 1) {
            if (!g_root)
                sleep(1); /* rank 0's own message first, where it failed too */
            nl_dist_abort(1);
        }
    } else if (st == NL_RUN_DIVERGED) {
        if (g_root)
            fprintf(stderr, "normlab: %s\n", nl_run_message(r));
        code = fail_on_diverge ? 1 : 0;
    } else if (!last) {
        /* resumed at or past train.steps */
        if (say)
            fprintf(stderr,
                    "normlab: %s is at step %lld of %lld: nothing to train (raise --steps to go "
                    "on)\n",
                    where, (long long)nl_run_step_index(r), (long long)nl_run_total_steps(r));
    } else if (!quiet) {
        float val; /* every rank evaluates its slice */
        nl_error verr = {0};
        if (nl_run_eval(r, nl_run_config(r)->train.eval_batches, &val, &verr) == 0 && g_root)
            fprintf(stderr, "normlab: finished %lld steps: train loss %.4f, val loss %.4f\n",
                    (long long)nl_run_step_index(r), last->loss, val);
    }
    return code;
}

/* Train one config to the end (or until interrupted). Returns the exit code. race_hint: the
 * command that continues the whole race, printed instead of --resume when interrupted. */
static int train_one(const nl_config *c, const char *dir, const char *resume, nl_kernels *k,
                     bool quiet, bool fail_on_diverge, const char *race_hint)
{
    int code;
    nl_run *r = create_run(c, dir, resume, k, &code);
    if (!r)
        return code;
    bool say = !quiet && g_root, tty = isatty(2);
    if (say)
        say_start(r, k, dir);
    nl_dist_comm_stats(&g_comm_bytes, &g_comm_s, &g_comm_calls);
    nl_driver d;
    nl_driver_init(&d, r);
    int log_every = nl_run_config(r)->train.log_every;
    progress_ctx pc = {.tty = tty,
                       .quiet = !say,
                       .log_every = log_every > 0 ? log_every : 10,
                       .start_step = nl_run_step_index(r)};
    nl_drive_opts dopts = {.stop = &g_stop, .progress = on_step, .ctx = &pc};
    nl_error err = {0};
    nl_run_state st = nl_driver_run(&d, &dopts, &err);
    if (nl_run_state_active(st)) /* stopped by the flag: a signal here or on another rank */
        return stop_interrupted(&d, tty && say, race_hint);
    code = end_run(&d, st, &err, resume ? resume : dir, quiet, fail_on_diverge);
    nl_run_free(r);
    return code;
}

/* The command line of normlab train. */
typedef struct train_args {
    const char *preset, *out, *device, *resume, *only;
    bool quiet, fail_on_diverge;
    long threads, steps;
    const char **sets;
    int n_sets;
} train_args;

/* Returns -1 to go on, else the exit code (0 after --help). */
static int parse_args(int argc, char **argv, train_args *a)
{
    const char *kv;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            printf(TRAIN_USAGE, nl_dist_built() ? "This build has MPI.\n"
                                                : "This build has no MPI (make MPI=1 adds it).\n");
            return 0;
        } else if ((kv = nl_app_set_arg(argc, argv, &i))) {
            a->sets[a->n_sets++] = kv;
        } else if (!strcmp(s, "--out") && i + 1 < argc) {
            a->out = argv[++i];
            if (!*a->out)
                return nl_app_error(2, "train: --out: the run directory is an empty name");
        } else if (!strcmp(s, "--device") && i + 1 < argc) {
            a->device = argv[++i];
        } else if (!strcmp(s, "--resume") && i + 1 < argc) {
            a->resume = argv[++i];
        } else if (!strcmp(s, "--run") && i + 1 < argc) {
            a->only = argv[++i];
        } else if (!strcmp(s, "--steps") && i + 1 < argc) {
            if (nl_app_int("--steps", argv[++i], 1, 1000000000L, &a->steps))
                return 2;
        } else if (!strcmp(s, "--threads") && i + 1 < argc) {
            if (nl_app_int("--threads", argv[++i], 0, 1024, &a->threads))
                return 2;
        } else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
            a->quiet = true;
        } else if (!strcmp(s, "--fail-on-diverge")) {
            a->fail_on_diverge = true;
        } else if (s[0] == '-') {
            return nl_app_error(
                2, "train: unknown or incomplete option '%s' (see normlab train --help)", s);
        } else if (!a->preset) {
            a->preset = s;
        } else {
            return nl_app_error(2, "train: more than one preset given ('%s', '%s')", a->preset, s);
        }
    }
    return -1;
}

/* Keys that say how a run is executed, not what it computes: no word when they change. */
static bool resume_key_unremarkable(const char *key)
{
    return strcmp(key, "train.threads") == 0 || strcmp(key, "train.device") == 0 ||
           strcmp(key, "train.log_every") == 0;
}

/* Fills g_resume_changes from the checkpoint's config (was) and the one the run gets (now),
 * and says so on stderr; a longer train.steps or a shorter one moves the end of a decaying
 * learning-rate schedule, which the notice spells out. */
static void note_resume_changes(const char *ckpt, const nl_config *was, const nl_config *now)
{
    int changed = nl_config_diff(was, now, resume_key_unremarkable, g_resume_changes,
                                 sizeof g_resume_changes);
    if (!changed || !g_root)
        return;
    fprintf(stderr, "normlab: resuming %s with %d change%s to its config: %s\n", ckpt, changed,
            changed == 1 ? "" : "s", g_resume_changes);
    if (was->train.steps != now->train.steps && now->train.schedule != NL_SCHED_CONSTANT)
        fprintf(stderr,
                "normlab: the learning rate's %s decay now ends at step %d (the checkpoint's run "
                "had %d steps)\n",
                now->train.schedule == NL_SCHED_COSINE ? "cosine" : "linear", now->train.steps,
                was->train.steps);
}

/* The config a checkpoint was written with, into c. Returns 0 or an error code (err says
 * which file and why). */
static int ckpt_config(const char *path, nl_config *c, nl_error *err)
{
    nl_ckpt ck;
    int rc = nl_ckpt_read(path, &ck, 1, err);
    if (rc)
        return rc;
    nl_config_defaults(c);
    nl_error lerr = {0};
    rc = nl_config_load_string(c, ck.config_yaml, strlen(ck.config_yaml), path, &lerr);
    nl_ckpt_free(&ck);
    if (rc)
        return nl_fail(err, rc, "%s: its config does not load: %s", path, lerr.msg);
    return 0;
}

/* The config: the checkpoint's (--resume; the run directory defaults to the checkpoint's,
 * into dirbuf) or the preset's, then --set on top. Returns 0 or the exit code. */
static int load_config(train_args *a, nl_config *c, char *dirbuf, size_t dirlen)
{
    nl_error err = {0};
    nl_config *was = NULL;
    if (a->resume) {
        if (ckpt_config(a->resume, c, &err))
            return nl_app_error(2, "%s", err.msg);
        if (a->preset)
            return nl_app_error(2, "train: --resume takes the config from the checkpoint; "
                                   "use --set to change keys instead of a preset");
        if (!a->out) {
            snprintf(dirbuf, dirlen, "%s", a->resume);
            a->out = dirname(dirbuf);
        }
        was = malloc(sizeof *was);
        if (was)
            *was = *c;
    } else if (nl_app_load_preset(a->preset, c)) {
        return 2;
    }
    int bad = nl_app_configure(c, a->sets, a->n_sets, a->steps, a->threads, a->device);
    if (!bad && was)
        note_resume_changes(a->resume, was, c);
    free(was);
    if (bad)
        return bad;
    if (a->only && (bad = nl_train_check_run_names(c, a->only)))
        return bad;
    return 0;
}

/* Whether race run rc, in dir, finished before (its newest checkpoint is at its last step);
 * ck receives that checkpoint's path, "" when none. Rank 0 looks, every rank follows. */
static bool race_run_done(const nl_config *rc, const char *dir, char *ck, size_t cklen)
{
    char newest[64];
    int done = 0;
    ck[0] = '\0';
    if (nl_ckpt_newest(dir, newest, sizeof newest) > 0) {
        snprintf(ck, cklen, "%s/%s", dir, newest);
        nl_ckpt h;
        nl_error herr = {0};
        if (nl_ckpt_read(ck, &h, 1, &herr) == 0) {
            done = h.step >= rc->train.steps;
            nl_ckpt_free(&h);
        }
    }
    nl_dist_root_string(ck, (int)cklen);
    return nl_dist_root_true(done);
}

/* Every run of a race in turn, each into base/RUN; one trained into before goes on from its
 * newest checkpoint, one already finished is skipped. */
static int train_race(const train_args *a, const nl_config *c, const char *base, nl_kernels *k,
                      const char *hint)
{
    int code = 0, i = 0;
    bool say = !a->quiet && g_root, stopped = false;
    /* under mpirun the ranks agree on a signal, so all start the same runs */
    for (; i < c->n_runs && !(stopped = nl_dist_any(g_stop != 0)); i++) {
        nl_config rc;
        nl_error err = {0};
        if (nl_config_race_entry(c, i, &rc, &err))
            return nl_app_error(2, "race run %d: %s", i + 1, err.msg);
        if (a->only && !nl_train_in_list(a->only, rc.name))
            continue;
        char dir[PATH_MAX + 80], ck[PATH_MAX + 160];
        snprintf(dir, sizeof dir, "%s/%s", base, rc.name);
        if (race_run_done(&rc, dir, ck, sizeof ck)) {
            if (say)
                fprintf(stderr, "normlab: race run %d/%d: %s finished before (%s); skipped\n",
                        i + 1, c->n_runs, rc.name, ck);
            continue;
        }
        if (say)
            fprintf(stderr, "normlab: race run %d/%d: %s%s%s\n", i + 1, c->n_runs, rc.name,
                    ck[0] ? ", continued from " : "", ck);
        g_resume_changes[0] = '\0';
        nl_config *was = ck[0] && g_root ? malloc(sizeof *was) : NULL;
        if (was && ckpt_config(ck, was, &err) == 0) /* the preset edited since, say */
            note_resume_changes(ck, was, &rc);
        free(was);
        int rcode = train_one(&rc, dir, ck[0] ? ck : NULL, k, a->quiet, a->fail_on_diverge, hint);
        if (rcode == 130 || rcode == 2)
            return rcode;
        if (rcode > code)
            code = rcode;
    }
    /* a signal while a run was finishing: that run is complete, the rest never began */
    if (stopped && !g_ckpt_failed && i < c->n_runs) {
        if (g_root)
            fprintf(stderr,
                    "normlab: interrupted after race run %d/%d; runs %d..%d not trained\n"
                    "normlab: continue the race with: %s\n",
                    i, c->n_runs, i + 1, c->n_runs, hint);
        code = 130;
    }
    return code;
}

/* The backend, the signal handlers, and the run (or the race). */
static int train_config(const train_args *a, const nl_config *c, int argc, char **argv)
{
    char notice[512], base[PATH_MAX], dirbuf[PATH_MAX];
    nl_error err = {0};
    nl_kernels *k = nl_backend_open(nl_device_name(c->train.device), c->train.threads, notice,
                                    sizeof notice, &err);
    if (!k)
        nl_app_error(2, "%s", err.msg);
    if (nl_dist_any(!k)) { /* a rank without its backend: none goes on */
        nl_backend_close(k);
        return 2;
    }
    if (notice[0] && !a->quiet && g_root)
        fprintf(stderr, "normlab: %s\n", notice);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (nl_dist_size() > 1) /* mpirun hands SIGUSR1 on and, unlike SIGINT, kills no rank */
        sigaction(SIGUSR1, &sa, NULL);
    if (a->out)
        snprintf(base, sizeof base, "%s", a->out);
    else /* rank 0 picks a fresh runs/NAME-N; the other ranks write nothing there */
        unique_dir(c->name[0] ? (snprintf(dirbuf, sizeof dirbuf, "runs/%s", c->name), dirbuf)
                              : "runs/run",
                   base, sizeof base);
    nl_dist_root_string(base, (int)sizeof base); /* rank 0's choice (before it creates it) */
    int code;
    if (c->n_runs == 0 || a->resume) {
        code = train_one(c, base, a->resume, k, a->quiet, a->fail_on_diverge, NULL);
    } else {
        char *hint = nl_train_race_command(argc, argv, a->out ? NULL : base);
        code = hint ? train_race(a, c, base, k, hint) : nl_app_error(1, "out of memory");
        free(hint);
    }
    nl_backend_close(k);
    return code;
}

int nl_cmd_train(int argc, char **argv)
{
    nl_error err = {0};
    if (nl_dist_init(&argc, &argv, &err))
        return nl_app_error(1, "%s", err.msg);
    g_root = nl_dist_rank() == 0;
    train_args a = {.threads = -1, .steps = -1};
    a.sets = calloc((size_t)argc + 1, sizeof(char *));
    int code = a.sets ? parse_args(argc, argv, &a) : nl_app_error(1, "out of memory");
    nl_config c;
    char dirbuf[PATH_MAX];
    if (code < 0) {
        code = load_config(&a, &c, dirbuf, sizeof dirbuf);
        if (code == 0)
            code = train_config(&a, &c, argc, argv);
    }
    free(a.sets);
    nl_dist_finalize();
    return code;
}
